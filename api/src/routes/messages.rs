//! Outbound messages: send (202 + outbox), status with history, conversation history.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use router_core::db::{self, messages};
use router_core::domain::{Igsid, MESSAGE_TEXT_MAX_BYTES, MESSAGE_TEXT_MAX_CHARS, Scope};
use router_core::outbound::{
    Attachment as StoredAttachment, ButtonTemplate, GenericTemplate, Media, MediaKind, OutboundMessage,
    QuickReply as StoredQuickReply, Sticker, Template,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppPath, AppQuery, ErrorBody, ErrorCode};
use crate::outbox::SendReply;
use crate::pagination::{decode_cursor, next_page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_message)).routes(routes!(message_status)).routes(routes!(list_messages))
}

/// A media attachment (sent before the text when both are given).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// `image`, `video`, `audio` or `file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Public http(s) URL Instagram downloads the media from.
    pub url: String,
}

/// A quick-reply button (at most 13; needs `message` text).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickReply {
    /// Button label, 1–20 characters.
    pub title: String,
    /// Returned to you in the customer's reply (`quick_reply_payload`), 1–1000 characters.
    pub payload: String,
}

/// Body of `POST /messages/send`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// The sending account (`account_id` from `/accounts`).
    pub account_id: Uuid,
    /// The customer's Instagram-scoped id (IGSID), the `sender_id` of their messages.
    pub recipient_id: String,
    /// Text, 1–1000 characters and at most 2 KB of UTF-8. Longer than Instagram's 1000 bytes, it
    /// is sent as consecutive messages.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub attachment: Option<Attachment>,
    /// Up to ten images sent as one Instagram message (each `type` must be `image`); instead of
    /// `attachment`, not with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 10)]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default)]
    pub quick_replies: Option<Vec<QuickReply>>,
    /// `HUMAN_AGENT` allows replies 24 h–7 days after the customer's last message.
    #[serde(default)]
    pub tag: Option<String>,
    /// Yours, returned in status webhooks; JSON up to 16 KB.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Deduplicates retries of this request for 24 h (or use the `Idempotency-Key` header).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// A card, or a carousel of up to ten (Meta's generic template), sent like an attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_template: Option<GenericTemplate>,
    /// A text with one to three buttons (Meta's button template), sent like an attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_template: Option<ButtonTemplate>,
    /// `true`: send Instagram's heart sticker (instead of an attachment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like_heart: Option<bool>,
    /// Send a stored template (`/templates`) instead of `message`: its rendered text, quick
    /// replies and attachment. Not with `message`, `attachment(s)` or `quick_replies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The template version to use (default: the latest).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::error::integral")]
    #[schema(minimum = 1)]
    pub template_version: Option<i32>,
    /// The template's variables by name: exactly those it declares, each of its declared type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<serde_json::Map<String, Value>>,
}

/// 202 response of `POST /messages/send`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SendMessageResponse {
    pub message_id: Uuid,
    /// Always `pending` here; follow `message.sent` / `message.failed` webhooks or the status API.
    pub status: String,
    /// Null until Instagram accepts the message.
    pub instagram_message_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The typed attachment to store: one `{type, url}` item, or (`attachments`) the images of one
/// Graph call. The input was checked by [`check_media`].
pub(crate) fn stored_attachment(
    attachment: Option<&Attachment>,
    attachments: Option<&[Attachment]>,
) -> Result<Option<StoredAttachment>, ApiError> {
    let media = |field: &str, a: &Attachment| match MediaKind::parse(&a.kind) {
        Some(kind) => Ok(Media { kind, url: a.url.clone() }),
        None => Err(ApiError::invalid(field, "must be image, video, audio or file")),
    };
    Ok(match (attachment, attachments) {
        (Some(a), _) => Some(StoredAttachment::One(media("attachment.type", a)?)),
        (None, Some(list)) => Some(StoredAttachment::Images(
            list.iter()
                .enumerate()
                .map(|(i, a)| media(&format!("attachments[{i}].type"), a))
                .collect::<Result<_, _>>()?,
        )),
        (None, None) => None,
    })
}

/// A request's own attachment-like content as stored (one of them, checked by [`validate`]).
fn stored_content(req: &SendMessageRequest) -> Result<Option<StoredAttachment>, ApiError> {
    Ok(if let Some(g) = &req.generic_template {
        Some(StoredAttachment::Template(Template::Generic(g.clone())))
    } else if let Some(b) = &req.button_template {
        Some(StoredAttachment::Template(Template::Button(b.clone())))
    } else if req.like_heart == Some(true) {
        Some(StoredAttachment::Sticker(Sticker::LikeHeart))
    } else {
        stored_attachment(req.attachment.as_ref(), req.attachments.as_deref())?
    })
}

/// Quick replies as stored.
pub(crate) fn stored_quick_replies(q: Option<&[QuickReply]>) -> Option<Vec<StoredQuickReply>> {
    q.map(|q| q.iter().map(|b| StoredQuickReply { title: b.title.clone(), payload: b.payload.clone() }).collect())
}

fn validate(req: &SendMessageRequest) -> Result<(), ApiError> {
    recipient(&req.recipient_id)?;
    if req.template.is_some() {
        validate_template_use(req)?;
    } else {
        if req.variables.is_some() || req.template_version.is_some() {
            let field = if req.variables.is_some() { "variables" } else { "template_version" };
            return Err(ApiError::invalid(field, "needs template"));
        }
        validate_text(req)?;
        check_media(req.attachment.as_ref(), req.attachments.as_deref())?;
        check_structured(req)?;
        if req.message.is_none() && structured_kinds(req).next().is_none() {
            return Err(ApiError::invalid(
                "message",
                "give message text, an attachment (or attachments, a generic_template, a button_template or \
                 like_heart), both, or a template",
            ));
        }
        check_quick_replies(req.quick_replies.as_deref(), req.message.is_some())?;
    }
    validate_extras(req)
}

/// The attachment-like fields a request gives (at most one is allowed).
fn structured_kinds(req: &SendMessageRequest) -> impl Iterator<Item = &'static str> {
    [
        ("attachment", req.attachment.is_some()),
        ("attachments", req.attachments.is_some()),
        ("generic_template", req.generic_template.is_some()),
        ("button_template", req.button_template.is_some()),
        ("like_heart", req.like_heart == Some(true)),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
}

/// At most one attachment-like field, and the structured ones within Meta's limits.
fn check_structured(req: &SendMessageRequest) -> Result<(), ApiError> {
    let given: Vec<&str> = structured_kinds(req).collect();
    if let [first, second, ..] = given[..] {
        return Err(ApiError::invalid(second, format!("give one of {first} and {second}, not both")));
    }
    if let Some(g) = &req.generic_template {
        super::rich::check_generic(g)?;
    }
    if let Some(b) = &req.button_template {
        super::rich::check_button_template(b)?;
    }
    Ok(())
}

/// A send by template: the template carries the content, so the request names only it.
fn validate_template_use(req: &SendMessageRequest) -> Result<(), ApiError> {
    let name = req.template.as_deref().unwrap_or_default();
    if !router_core::templates::is_template_name(name) {
        return Err(ApiError::invalid("template", "must be a template name: 1–64 of a-z, 0-9 and _"));
    }
    let given = [("message", req.message.is_some()), ("quick_replies", req.quick_replies.is_some())];
    let field = given.iter().find(|(_, present)| *present).map(|(f, _)| *f).or_else(|| structured_kinds(req).next());
    if let Some(field) = field {
        return Err(ApiError::invalid(field, "not with template (the template carries the content)"));
    }
    if req.template_version.is_some_and(|v| v < 1) {
        return Err(ApiError::invalid("template_version", "must be at least 1"));
    }
    Ok(())
}

/// The customer's IGSID as sent and listed: 1–64 ASCII digits (surrounding whitespace trimmed).
fn recipient(raw: &str) -> Result<&str, ApiError> {
    let r = raw.trim();
    if Igsid::parse(r).is_err() {
        return Err(ApiError::invalid("recipient_id", "must be the customer's numeric Instagram-scoped id"));
    }
    Ok(r)
}

/// The text.
fn validate_text(req: &SendMessageRequest) -> Result<(), ApiError> {
    if let Some(m) = &req.message {
        let chars = m.chars().count();
        if chars == 0 || m.trim().is_empty() {
            return Err(ApiError::invalid("message", "must not be empty"));
        }
        if chars > MESSAGE_TEXT_MAX_CHARS {
            return Err(ApiError::invalid(
                "message",
                format!("must be at most {MESSAGE_TEXT_MAX_CHARS} characters, got {chars}"),
            ));
        }
        if m.len() > MESSAGE_TEXT_MAX_BYTES {
            return Err(ApiError::invalid(
                "message",
                format!("must be at most {MESSAGE_TEXT_MAX_BYTES} bytes of UTF-8, got {}", m.len()),
            ));
        }
    }
    Ok(())
}

/// `attachment`, or `attachments` (1–10 images).
pub(crate) fn check_media(attachment: Option<&Attachment>, attachments: Option<&[Attachment]>) -> Result<(), ApiError> {
    let url_ok = super::rich::is_http_url;
    const URL_RULE: &str = "must be an http(s) URL of at most 2048 characters";
    if let Some(a) = attachment {
        if MediaKind::parse(&a.kind).is_none() {
            return Err(ApiError::invalid("attachment.type", "must be image, video, audio or file"));
        }
        if !url_ok(&a.url) {
            return Err(ApiError::invalid("attachment.url", URL_RULE));
        }
    }
    if let Some(list) = attachments {
        if attachment.is_some() {
            return Err(ApiError::invalid("attachments", "give attachment or attachments, not both"));
        }
        if list.is_empty() || list.len() > 10 {
            return Err(ApiError::invalid(
                "attachments",
                format!("must have 1–10 images (Instagram's limit per message), got {}", list.len()),
            ));
        }
        for (i, a) in list.iter().enumerate() {
            if a.kind != "image" {
                return Err(ApiError::invalid(
                    &format!("attachments[{i}].type"),
                    "must be image (only images can be sent several at once)",
                ));
            }
            if !url_ok(&a.url) {
                return Err(ApiError::invalid(&format!("attachments[{i}].url"), URL_RULE));
            }
        }
    }
    Ok(())
}

/// Quick replies (1–13, only with text).
pub(crate) fn check_quick_replies(quick_replies: Option<&[QuickReply]>, has_text: bool) -> Result<(), ApiError> {
    if let Some(q) = quick_replies {
        if !has_text {
            return Err(ApiError::invalid("quick_replies", "need message text"));
        }
        if q.is_empty() || q.len() > 13 {
            return Err(ApiError::invalid("quick_replies", "must have 1–13 entries"));
        }
        for (i, b) in q.iter().enumerate() {
            let t = b.title.chars().count();
            if t == 0 || t > 20 {
                return Err(ApiError::invalid(&format!("quick_replies[{i}].title"), "must be 1–20 characters"));
            }
            let p = b.payload.chars().count();
            if p == 0 || p > 1000 {
                return Err(ApiError::invalid(&format!("quick_replies[{i}].payload"), "must be 1–1000 characters"));
            }
        }
    }
    Ok(())
}

/// The tag and the metadata.
fn validate_extras(req: &SendMessageRequest) -> Result<(), ApiError> {
    if let Some(t) = &req.tag
        && t != "HUMAN_AGENT"
    {
        return Err(ApiError::invalid("tag", "the only supported tag is HUMAN_AGENT"));
    }
    if let Some(m) = &req.metadata {
        let n = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
        if n > 16 * 1024 {
            return Err(ApiError::invalid("metadata", format!("must be at most 16 KB of JSON, got {n} bytes")));
        }
    }
    Ok(())
}

fn idempotency_key(req: &SendMessageRequest, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let header = headers.get("idempotency-key").map(|v| v.to_str().map(str::to_owned));
    let header = match header {
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => return Err(ApiError::invalid("Idempotency-Key", "must be printable ASCII")),
        None => None,
    };
    let key = match (req.idempotency_key.clone(), header) {
        (Some(b), Some(h)) if b != h => {
            return Err(ApiError::invalid("idempotency_key", "differs from the Idempotency-Key header"));
        }
        (Some(b), _) => Some(b),
        (None, h) => h,
    };
    if let Some(k) = &key
        && (k.is_empty() || k.len() > 255 || !k.bytes().all(|b| (0x21..0x7f).contains(&b)))
    {
        return Err(ApiError::invalid("idempotency_key", "must be 1–255 printable ASCII characters without spaces"));
    }
    Ok(key)
}

/// Prefix of the idempotency keys of `router_test_` keys as stored (a space: never in a client's key).
const TEST_KEY_SCOPE: &str = "test ";

/// Queues a message to an Instagram user. Answers 202 once the message is durably stored; the
/// send happens in the background (`message.sent` / `message.failed` webhooks follow).
#[utoipa::path(post, path = "/api/v1/messages/send", tag = "messages", operation_id = "v1.messages.send",
    request_body = SendMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Alternative to the body's idempotency_key")),
    responses(
        (status = 202, body = SendMessageResponse, description = "Accepted; `Idempotent-Replayed: true` on a replay"),
        (status = 409, body = ErrorBody, description = "idempotency_key_reused"),
        (status = 422, body = ErrorBody, description = "validation_failed, outside_messaging_window, account_not_active"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %req.account_id))]
async fn send_message(
    State(s): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    AppJson(req): AppJson<SendMessageRequest>,
) -> ApiResult<Response> {
    let merchant_id = auth.merchant(Scope::MessagesSend)?;
    if !auth.may_use_account(req.account_id) {
        return Err(ApiError::NotFound("account"));
    }
    validate(&req)?;
    let test_key = auth.environment == router_core::crypto::KeyEnvironment::Test;
    // Idempotency keys are scoped by key environment: a `router_test_` key shares no records with
    // live keys, so repeating a live key's idempotency key can neither replay the live message's
    // 202 nor get a 409 confirming the key was used. The test scope is a prefix no client key can
    // carry (keys are printable ASCII without spaces).
    let key = idempotency_key(&req, &headers)?.map(|k| if test_key { format!("{TEST_KEY_SCOPE}{k}") } else { k });

    // The fingerprint of the request for idempotency: the body without the key itself. serde_json
    // maps are sorted, so equal bodies hash equally whatever their key order.
    let mut canonical = req.clone();
    canonical.idempotency_key = None;
    let request_hash = router_core::crypto::sha256(&serde_json::to_vec(&canonical).unwrap_or_default()).to_vec();

    let recipient_id = req.recipient_id.trim().to_owned();
    let content = match &req.template {
        Some(name) => render_template(&s, merchant_id, name, &req).await?,
        None => Content {
            text: req.message.clone(),
            attachment: stored_content(&req)?,
            quick_replies: stored_quick_replies(req.quick_replies.as_deref()),
            template_id: None,
        },
    };
    let Content { text, attachment, quick_replies, template_id } = content;
    let outbound = OutboundMessage {
        recipient_id: &recipient_id,
        text: text.as_deref(),
        attachment: attachment.as_ref(),
        quick_replies: quick_replies.as_deref().unwrap_or_default(),
        tag: req.tag.as_deref(),
    };
    let parts_total = i32::try_from(outbound.parts_total()).unwrap_or(i32::MAX);
    let message_id = Uuid::now_v7();
    let created_at = OffsetDateTime::now_utc();
    let response = SendMessageResponse { message_id, status: "pending".into(), instagram_message_id: None, created_at };
    let new = messages::NewMessage {
        message_id,
        merchant_id,
        account_id: req.account_id,
        conversation_id: Uuid::nil(),
        recipient_id,
        text,
        attachment,
        quick_replies,
        tag: req.tag.clone(),
        metadata: req.metadata.clone(),
        idempotency_key: key,
        request_hash,
        api_key_id: auth.key_id,
        created_at,
        parts_total,
        test_key,
        response_body: serde_json::to_value(&response).unwrap_or_default(),
        template_id,
    };
    answer(s.outbox.submit(new).await)
}

/// What a message sends: the request's own content, or a template's rendered.
struct Content {
    text: Option<String>,
    attachment: Option<StoredAttachment>,
    quick_replies: Option<Vec<StoredQuickReply>>,
    template_id: Option<Uuid>,
}

/// Loads the template a send names (its latest version unless one is given) and renders it with
/// the request's variables. Every mismatch is a 422 naming the variables.
async fn render_template(s: &AppState, merchant_id: Uuid, name: &str, req: &SendMessageRequest) -> ApiResult<Content> {
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let found = router_core::db::templates::find(&mut tx, merchant_id, name, req.template_version).await?;
    tx.commit().await?;
    let Some(t) = found else {
        let which = req.template_version.map_or_else(String::new, |v| format!(" with version {v}"));
        return Err(ApiError::invalid("template", format!("no template {name:?}{which}")));
    };
    let values = req.variables.clone().unwrap_or_default();
    let limit = router_core::templates::text_limit(t.buttons.is_some());
    let text =
        router_core::templates::render(&t.body, &t.variables, &values, limit).map_err(|e| render_error(e, limit))?;
    // With buttons, the text goes out inside Meta's button template.
    let (text, attachment) = match t.buttons {
        Some(buttons) => {
            (None, Some(StoredAttachment::Template(Template::Button(ButtonTemplate { text, buttons: buttons.0 }))))
        }
        None => (Some(text), t.attachment.map(|a| a.0)),
    };
    Ok(Content { text, attachment, quick_replies: t.quick_replies.map(|q| q.0), template_id: Some(t.template_id) })
}

fn render_error(e: router_core::templates::RenderError, limit: usize) -> ApiError {
    use router_core::templates::RenderError;
    match e {
        RenderError::Mismatch { missing, unexpected, more } => {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing {}", missing.join(", ")));
            }
            if !unexpected.is_empty() {
                let rest = if more > 0 { format!(" and {more} more") } else { String::new() };
                parts.push(format!("not in the template: {}{rest}", unexpected.join(", ")));
            }
            let reason = parts.join("; ");
            ApiError::Validation {
                code: ErrorCode::ValidationFailed,
                message: format!("variables: {reason}"),
                details: Some(json!({
                    "field": "variables", "reason": reason, "missing": missing, "unexpected": unexpected,
                })),
            }
        }
        RenderError::Value(e) => ApiError::invalid(&e.field, e.message),
        RenderError::TooLong { chars, bytes } => ApiError::invalid(
            "variables",
            format!(
                "the rendered message is {chars} characters and {bytes} bytes; this template's text is 1–{limit} \
                 characters and at most {MESSAGE_TEXT_MAX_BYTES} bytes"
            ),
        ),
    }
}

/// The HTTP answer to the outbox's reply.
fn answer(reply: SendReply) -> ApiResult<Response> {
    match reply {
        SendReply::Created(body) => Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response()),
        SendReply::Replayed { status, body } => {
            let mut resp =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED), axum::Json(body)).into_response();
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
        SendReply::KeyReused => Err(ApiError::Conflict {
            code: ErrorCode::IdempotencyKeyReused,
            message: "this idempotency key was used with a different request body".into(),
        }),
        SendReply::AccountNotFound => Err(ApiError::NotFound("account")),
        // A test key does not see live accounts at all (`Auth::account_scope`): same 404 as an
        // account that does not exist, so a test key cannot even probe for live account ids.
        SendReply::TestKeyOnLiveAccount => Err(ApiError::NotFound("account")),
        SendReply::AccountNotActive { status, reason } => Err(ApiError::Validation {
            code: ErrorCode::AccountNotActive,
            message: format!("the account is {status}; it cannot send until it is active again"),
            details: Some(json!({"account_status": status, "reason": reason})),
        }),
        SendReply::OutsideWindow { last_inbound_at, human_agent } => Err(ApiError::Validation {
            code: ErrorCode::OutsideMessagingWindow,
            message: if human_agent {
                "the customer's last message is more than 7 days old (or there is none); Instagram allows no reply"
                    .into()
            } else {
                "the customer's last message is more than 24 hours old (or there is none); within 7 days a human agent may reply with tag HUMAN_AGENT".into()
            },
            details: Some(json!({"last_inbound_at": last_inbound_at.map(router_core::webhooks::rfc3339)})),
        }),
        SendReply::Failed(e) => Err(ApiError::Db(e)),
        SendReply::Internal(why) => Err(ApiError::Internal(anyhow::anyhow!(why))),
    }
}

/// One status transition.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusTransition {
    /// `pending`, `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
}

/// Why a message failed (or the last retryable error while it is still pending).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `outside_messaging_window`, `recipient_unavailable`, `instagram_token_invalid`.
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// Seed schema `MessageStatusResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageStatusResponse {
    pub message_id: Uuid,
    /// `pending`, `sent`, `delivered`, `read` or `failed`. Instagram sends no delivery receipts:
    /// `delivered` is recorded together with `sent`.
    pub status: String,
    pub account_id: Uuid,
    pub recipient_id: String,
    pub instagram_message_id: Option<String>,
    pub status_history: Vec<StatusTransition>,
    pub error: Option<ErrorDetail>,
    /// Send attempts so far.
    pub attempts: i32,
    /// The template version the text was rendered from (null: the request's own text).
    pub template: Option<TemplateUsed>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Which template version a message used.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateUsed {
    pub name: String,
    pub version: i32,
}

/// Status and history of one message.
#[utoipa::path(get, path = "/api/v1/messages/{message_id}/status", tag = "messages", operation_id = "v1.messages.status",
    params(("message_id" = Uuid, Path, description = "Message id from the send response")),
    responses((status = 200, body = MessageStatusResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(message.id = %message_id))]
async fn message_status(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(message_id): AppPath<Uuid>,
) -> ApiResult<AppJson<MessageStatusResponse>> {
    let merchant_id = auth.merchant(Scope::MessagesRead)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let row = messages::find_status(&mut tx, message_id).await?.ok_or(ApiError::NotFound("message"))?;
    auth.require_account(&mut tx, row.account_id, "message").await?;
    let history = messages::history(&mut tx, message_id).await?;
    let template = match row.template_id {
        Some(id) => router_core::db::templates::find_by_id(&mut tx, id).await?,
        None => None,
    };
    tx.commit().await?;
    let error = row.error_code.map(|code| ErrorDetail {
        code,
        message: row.error_message.unwrap_or_default(),
        retryable: row.error_retryable.unwrap_or(false),
    });
    Ok(AppJson(MessageStatusResponse {
        message_id: row.message_id,
        status: row.status.to_string(),
        account_id: row.account_id,
        recipient_id: row.recipient_id,
        instagram_message_id: row.instagram_message_id,
        status_history: history
            .into_iter()
            .map(|h| StatusTransition { status: h.status.to_string(), timestamp: h.occurred_at })
            .collect(),
        error,
        attempts: row.attempts,
        template: template.map(|t| TemplateUsed { name: t.name, version: t.version }),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }))
}

/// Query of `GET /messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    pub account_id: Uuid,
    /// The customer's IGSID.
    pub recipient_id: String,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
}

/// One entry of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Outbound message id, or the inbound event's id.
    pub id: Uuid,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// `message` for outbound; the inbound event kind (`message`, `reaction`, `postback`…).
    pub kind: String,
    /// Outbound status.
    pub status: Option<String>,
    pub text: Option<String>,
    pub content: Option<Value>,
    pub instagram_message_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
}

/// A page of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    pub data: Vec<HistoryEntry>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A conversation's history, both directions, newest first.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages", operation_id = "v1.messages.list",
    params(ListMessagesQuery),
    responses((status = 200, body = MessageList), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %q.account_id))]
async fn list_messages(
    State(s): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListMessagesQuery>,
) -> ApiResult<AppJson<MessageList>> {
    let merchant_id = auth.merchant(Scope::MessagesRead)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1–100"));
    }
    let recipient_id = recipient(&q.recipient_id)?;
    let before = decode_cursor(q.cursor.as_deref())?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    auth.require_account(&mut tx, q.account_id, "account").await?;
    let mut rows = messages::conversation_page(&mut tx, q.account_id, recipient_id, before, limit + 1).await?;
    tx.commit().await?;
    let next_cursor = next_page(&mut rows, limit, |r| Some((r.at, r.id)));
    Ok(AppJson(MessageList {
        data: rows
            .into_iter()
            .map(|r| HistoryEntry {
                id: r.id,
                direction: r.direction,
                kind: r.kind,
                status: r.status,
                text: r.text,
                content: r.content,
                instagram_message_id: r.instagram_message_id,
                timestamp: r.at,
            })
            .collect(),
        next_cursor,
    }))
}
