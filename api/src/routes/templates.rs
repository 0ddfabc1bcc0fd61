//! Message templates (seed phase 4): per merchant, named, versioned, with typed variables.
//!
//! A template is merchant-wide (every account of the merchant may send it) and is never edited in
//! place: `PUT` writes the next version and the message records the version it used, so what a
//! customer received can always be traced. Writing needs `messages:send` and a key that is not
//! limited to some accounts (a template changes what every account sends); reading needs
//! `messages:read`. Live and `router_test_` keys share a merchant's templates: a template sends
//! nothing by itself. The rules of a body and of its variables are in `router_core::templates`.

use axum::extract::State;
use axum::http::StatusCode;
use router_core::db::{self, templates as store};
use router_core::domain::Scope;
use router_core::outbound::Attachment as StoredAttachment;
use router_core::outbound::Button;
use router_core::templates::{Definition, VarType, Variable, is_template_name, text_limit};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::messages::{
    Attachment, QuickReply, check_media, check_quick_replies, stored_attachment, stored_quick_replies,
};
use super::rich::check_buttons;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppPath, AppQuery, ErrorBody, ErrorCode};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_template, list_templates))
        .routes(routes!(get_template, update_template, delete_template))
        .routes(routes!(list_versions))
}

/// A declared variable.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateVariable {
    /// 1–64 of a-z, 0-9 and `_`, not starting with a digit; used in the body as `{{name}}`.
    pub name: String,
    /// `string` (a JSON string) or `integer` (a JSON integer).
    #[serde(rename = "type")]
    pub kind: String,
    /// Strings only: the most characters a value may have (1–1000; default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::error::integral")]
    pub max_length: Option<u32>,
}

/// Body of `POST /templates`: a name and the first version's definition.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateRequest {
    /// 1–64 of a-z, 0-9 and `_`, starting with a letter or digit; unique among the merchant's
    /// live templates.
    pub name: String,
    /// As in [`TemplateRequest`].
    pub body: String,
    #[serde(default)]
    pub variables: Vec<TemplateVariable>,
    #[serde(default)]
    pub quick_replies: Option<Vec<QuickReply>>,
    #[serde(default)]
    pub attachment: Option<Attachment>,
    #[serde(default)]
    #[schema(min_items = 1, max_items = 10)]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default)]
    pub buttons: Option<Vec<Button>>,
}

impl CreateTemplateRequest {
    fn split(self) -> (String, TemplateRequest) {
        let Self { name, body, variables, quick_replies, attachment, attachments, buttons } = self;
        (name, TemplateRequest { body, variables, quick_replies, attachment, attachments, buttons })
    }
}

/// Body of `PUT /templates/{name}`: the next version's full definition.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// The text, with `{{variable}}` placeholders (at most 4 KB). Every placeholder must be
    /// declared in `variables` and every variable used; the fixed text alone must fit a message
    /// (1 000 characters, 2 KB).
    pub body: String,
    /// The variables the body uses (at most 20).
    #[serde(default)]
    pub variables: Vec<TemplateVariable>,
    /// Sent with every message of this template, as in `POST /messages/send`.
    #[serde(default)]
    pub quick_replies: Option<Vec<QuickReply>>,
    #[serde(default)]
    pub attachment: Option<Attachment>,
    /// Up to ten images; instead of `attachment`.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 10)]
    pub attachments: Option<Vec<Attachment>>,
    /// One to three buttons: the message is then sent as a button template, its rendered text
    /// (at most 640 characters) above the buttons. Not with quick replies or attachments.
    #[serde(default)]
    pub buttons: Option<Vec<Button>>,
}

/// One template version.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateResponse {
    /// This version's id.
    pub template_id: Uuid,
    pub name: String,
    /// 1 for a new template; each `PUT` adds one.
    pub version: i32,
    pub body: String,
    pub variables: Vec<TemplateVariable>,
    pub quick_replies: Option<Vec<QuickReply>>,
    pub attachment: Option<Attachment>,
    pub attachments: Option<Vec<Attachment>>,
    pub buttons: Option<Vec<Button>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<store::TemplateRow> for TemplateResponse {
    fn from(t: store::TemplateRow) -> Self {
        let media = |m: &router_core::outbound::Media| Attachment { kind: m.kind.as_str().into(), url: m.url.clone() };
        let (attachment, attachments) = match t.attachment.map(|a| a.0) {
            Some(StoredAttachment::One(m)) => (Some(media(&m)), None),
            Some(StoredAttachment::Images(list)) => (None, Some(list.iter().map(media).collect())),
            // A template's content is text with media; structured kinds are not stored in one.
            Some(StoredAttachment::Template(_) | StoredAttachment::Sticker(_)) | None => (None, None),
        };
        Self {
            template_id: t.template_id,
            name: t.name,
            version: t.version,
            body: t.body,
            variables: t
                .variables
                .0
                .into_iter()
                .map(|v| TemplateVariable {
                    name: v.name,
                    kind: match v.kind {
                        VarType::String => "string".into(),
                        VarType::Integer => "integer".into(),
                    },
                    max_length: v.max_length,
                })
                .collect(),
            quick_replies: t
                .quick_replies
                .map(|q| q.0.into_iter().map(|b| QuickReply { title: b.title, payload: b.payload }).collect()),
            attachment,
            attachments,
            buttons: t.buttons.map(|b| b.0),
            created_at: t.created_at,
        }
    }
}

/// A page of templates (or of one template's versions).
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    pub data: Vec<TemplateResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /templates`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTemplatesQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
}

/// Query of `GET /templates/{name}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetTemplateQuery {
    /// A version (default: the latest).
    pub version: Option<i32>,
}

/// The checked, typed content of a create or update request.
struct Checked {
    variables: Vec<Variable>,
    quick_replies: Option<Vec<router_core::outbound::QuickReply>>,
    attachment: Option<StoredAttachment>,
}

fn check(req: &TemplateRequest) -> Result<Checked, ApiError> {
    let mut variables = Vec::with_capacity(req.variables.len());
    for (i, v) in req.variables.iter().enumerate() {
        let kind = match v.kind.as_str() {
            "string" => VarType::String,
            "integer" => VarType::Integer,
            _ => return Err(ApiError::invalid(&format!("variables[{i}].type"), "must be string or integer")),
        };
        variables.push(Variable { name: v.name.clone(), kind, max_length: v.max_length });
    }
    Definition { body: &req.body, variables: &variables, max_chars: text_limit(req.buttons.is_some()) }
        .check()
        .map_err(|e| ApiError::invalid(&e.field, e.message))?;
    if let Some(buttons) = &req.buttons {
        check_buttons("buttons", buttons, 1, 3)?;
        let with = [
            ("quick_replies", req.quick_replies.is_some()),
            ("attachment", req.attachment.is_some()),
            ("attachments", req.attachments.is_some()),
        ];
        if let Some((field, _)) = with.iter().find(|(_, given)| *given) {
            return Err(ApiError::invalid(field, "not with buttons (a button template carries text and buttons only)"));
        }
    }
    check_media(req.attachment.as_ref(), req.attachments.as_deref())?;
    check_quick_replies(req.quick_replies.as_deref(), true)?;
    Ok(Checked {
        variables,
        quick_replies: stored_quick_replies(req.quick_replies.as_deref()),
        attachment: stored_attachment(req.attachment.as_ref(), req.attachments.as_deref())?,
    })
}

/// A name from a path: one that can't exist is a 404 like an unknown one.
fn path_name(name: &str) -> Result<&str, ApiError> {
    if is_template_name(name) { Ok(name) } else { Err(ApiError::NotFound("template")) }
}

/// The merchant a template write acts for.
fn writer(auth: &Auth) -> Result<Uuid, ApiError> {
    let merchant_id = auth.merchant(Scope::MessagesSend)?;
    if auth.account_ids.is_some() {
        return Err(ApiError::Forbidden(
            "keys limited to specific accounts cannot change templates (they are shared by every account)".into(),
        ));
    }
    Ok(merchant_id)
}

async fn write(
    s: &AppState,
    merchant_id: Uuid,
    name: &str,
    req: &TemplateRequest,
    mode: store::Write,
) -> ApiResult<store::TemplateRow> {
    let c = check(req)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let version = store::NewVersion {
        merchant_id,
        name,
        body: &req.body,
        variables: &c.variables,
        quick_replies: c.quick_replies.as_deref(),
        attachment: c.attachment.as_ref(),
        buttons: req.buttons.as_deref(),
    };
    let row = store::write_version(&mut tx, &version, mode).await?;
    tx.commit().await?;
    row.ok_or_else(|| match mode {
        store::Write::Create => ApiError::Conflict {
            code: ErrorCode::TemplateExists,
            message: format!("a template named {name:?} exists; write a new version with PUT /api/v1/templates/{name}"),
        },
        store::Write::Update => ApiError::NotFound("template"),
    })
}

/// Creates a template (version 1, or the next number after a deleted template of that name).
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", operation_id = "v1.templates.create",
    request_body = CreateTemplateRequest,
    responses((status = 201, body = TemplateResponse), (status = 409, body = ErrorBody, description = "template_exists"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn create_template(
    State(s): State<AppState>,
    auth: Auth,
    AppJson(req): AppJson<CreateTemplateRequest>,
) -> ApiResult<(StatusCode, AppJson<TemplateResponse>)> {
    let merchant_id = writer(&auth)?;
    let (name, req) = req.split();
    if !is_template_name(&name) {
        return Err(ApiError::invalid("name", "must be 1–64 of a-z, 0-9 and _, starting with a letter or digit"));
    }
    let row = write(&s, merchant_id, &name, &req, store::Write::Create).await?;
    Ok((StatusCode::CREATED, AppJson(row.into())))
}

/// Writes the next version of a template; the previous versions stay readable and sendable.
#[utoipa::path(put, path = "/api/v1/templates/{name}", tag = "templates", operation_id = "v1.templates.update",
    params(("name" = String, Path, description = "Template name")),
    request_body = TemplateRequest,
    responses((status = 200, body = TemplateResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn update_template(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(name): AppPath<String>,
    AppJson(req): AppJson<TemplateRequest>,
) -> ApiResult<AppJson<TemplateResponse>> {
    let merchant_id = writer(&auth)?;
    let name = path_name(&name)?;
    Ok(AppJson(write(&s, merchant_id, name, &req, store::Write::Update).await?.into()))
}

/// Reads a template: its latest version, or `version`.
#[utoipa::path(get, path = "/api/v1/templates/{name}", tag = "templates", operation_id = "v1.templates.get",
    params(("name" = String, Path, description = "Template name"), GetTemplateQuery),
    responses((status = 200, body = TemplateResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn get_template(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<GetTemplateQuery>,
) -> ApiResult<AppJson<TemplateResponse>> {
    let merchant_id = auth.merchant(Scope::MessagesRead)?;
    let name = path_name(&name)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let row = store::find(&mut tx, merchant_id, name, q.version).await?;
    tx.commit().await?;
    Ok(AppJson(row.ok_or(ApiError::NotFound("template"))?.into()))
}

/// Deletes a template (every version). Messages already accepted are sent as rendered; their
/// status still names the version.
#[utoipa::path(delete, path = "/api/v1/templates/{name}", tag = "templates", operation_id = "v1.templates.delete",
    params(("name" = String, Path, description = "Template name")),
    responses((status = 204), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn delete_template(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(name): AppPath<String>,
) -> ApiResult<StatusCode> {
    let merchant_id = writer(&auth)?;
    let name = path_name(&name)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let deleted = store::delete(&mut tx, merchant_id, name).await?;
    tx.commit().await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("template")) }
}

/// Lists the merchant's templates (latest version of each), by name.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", operation_id = "v1.templates.list",
    params(ListTemplatesQuery),
    responses((status = 200, body = TemplateList), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn list_templates(
    State(s): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListTemplatesQuery>,
) -> ApiResult<AppJson<TemplateList>> {
    let merchant_id = auth.merchant(Scope::MessagesRead)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1–100"));
    }
    // The cursor is the last name of the previous page (names are plain ASCII).
    let after = q.cursor.as_deref();
    if after.is_some_and(|c| !is_template_name(c)) {
        return Err(ApiError::invalid("cursor", "is not a cursor from this API"));
    }
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let mut rows = store::list_latest(&mut tx, merchant_id, after, limit + 1).await?;
    tx.commit().await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.name.clone())
    } else {
        None
    };
    Ok(AppJson(TemplateList { data: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// The live versions of a template, newest first (the newest 100).
#[utoipa::path(get, path = "/api/v1/templates/{name}/versions", tag = "templates", operation_id = "v1.templates.versions",
    params(("name" = String, Path, description = "Template name")),
    responses((status = 200, body = TemplateList), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn list_versions(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(name): AppPath<String>,
) -> ApiResult<AppJson<TemplateList>> {
    let merchant_id = auth.merchant(Scope::MessagesRead)?;
    let name = path_name(&name)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let rows = store::versions(&mut tx, merchant_id, name).await?;
    tx.commit().await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("template"));
    }
    Ok(AppJson(TemplateList { data: rows.into_iter().map(Into::into).collect(), next_cursor: None }))
}
