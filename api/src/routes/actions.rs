//! Calls the CRM makes on Instagram directly, outside the message queue: sender actions (typing
//! indicators, read marks), reactions to a customer's message, and an account's ice breakers and
//! persistent menu (Meta's messenger profile).
//!
//! Why synchronous, when messages go through the outbox: none of these is a message that must
//! arrive exactly once. A typing indicator is stale a few seconds later, a reaction or a menu is
//! idempotent (setting it twice leaves the same state), and the caller wants Meta's answer now
//! (a refused reaction, a menu Meta rejected). So the handler makes the Graph call within the
//! request and answers with its outcome: 204/200, 400 `instagram_refused` with Meta's code, or
//! 503 when Instagram is unreachable or throttling (retry later). The token is read and decrypted
//! for the call and never leaves the process.

use axum::extract::State;
use axum::http::StatusCode;
use router_core::db::{self, accounts::AccountRow};
use router_core::domain::{AccountStatus, Igsid, Scope};
use router_core::graph::{ErrorClass, GraphClient, GraphError, SenderAction};
use router_core::outbound::Button;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::rich::check_buttons;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppPath, ErrorBody, ErrorCode};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sender_action))
        .routes(routes!(get_ice_breakers, set_ice_breakers, delete_ice_breakers))
        .routes(routes!(get_persistent_menu, set_persistent_menu, delete_persistent_menu))
}

/// An account the key may use, with its Graph client and token.
struct Target {
    account: AccountRow,
    graph: GraphClient,
    token: SecretString,
}

/// `active_only`: sender actions need an `active` account (as sends do); the messenger profile
/// may be managed while an account is `inactive` (paused) or in `error`, as Meta lets it.
async fn target(s: &AppState, auth: &Auth, scope: Scope, account_id: Uuid, active_only: bool) -> ApiResult<Target> {
    let merchant_id = auth.merchant(scope)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let account = auth.find_account(&mut tx, account_id).await?.ok_or(ApiError::NotFound("account"))?;
    tx.commit().await?;
    if account.deleted_at.is_some() {
        return Err(ApiError::NotFound("account"));
    }
    if active_only && account.status != AccountStatus::Active {
        return Err(ApiError::Validation {
            code: ErrorCode::AccountNotActive,
            message: format!("the account is {}; Instagram calls need an active account", account.status),
            details: None,
        });
    }
    let graph = s.graph_for(account.sandbox).cloned().ok_or(ApiError::Validation {
        code: ErrorCode::SandboxNotConfigured,
        message: "router_test_ keys use the sandbox Graph API, and SANDBOX_GRAPH_API_BASE_URL is not set".into(),
        details: None,
    })?;
    let token = s.config.keyring.decrypt(&account.access_token_enc).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Target { account, graph, token })
}

/// Meta's answer as ours: a refusal is 400 `instagram_refused` with Meta's codes; no answer, a
/// 5xx or throttling is 503 (retry later).
fn instagram_error(e: &GraphError) -> ApiError {
    match (e, e.class()) {
        (_, ErrorClass::Retryable | ErrorClass::Throttled { .. })
        | (GraphError::Decode { .. } | GraphError::Timeout, _) => {
            tracing::warn!(error = %e, "Instagram call failed");
            ApiError::Unavailable("Instagram did not answer or is throttling this account; retry later")
        }
        _ => {
            let (code, subcode) = e.meta_code().unwrap_or_default();
            ApiError::Upstream {
                code: ErrorCode::InstagramRefused,
                message: format!("Instagram refused the call (code {code})"),
                details: Some(json!({ "instagram_error_code": code, "instagram_error_subcode": subcode })),
            }
        }
    }
}

/// Body of `POST /messages/actions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderActionRequest {
    pub account_id: Uuid,
    /// The customer's IGSID.
    pub recipient_id: String,
    /// `typing_on`, `typing_off`, `mark_seen`, `react` or `unreact`.
    pub action: String,
    /// `react` and `unreact`: the customer's message (its `instagram_message_id`).
    #[serde(default)]
    pub instagram_message_id: Option<String>,
    /// `react`: `love` or an emoji (at most 16 characters).
    #[serde(default)]
    pub reaction: Option<String>,
}

fn parse_action(req: &SenderActionRequest) -> Result<SenderAction<'_>, ApiError> {
    let mid = || {
        req.instagram_message_id
            .as_deref()
            .filter(|m| !m.is_empty() && m.len() <= 512 && m.bytes().all(|b| (0x21..0x7f).contains(&b)))
            .ok_or_else(|| {
                ApiError::invalid("instagram_message_id", "is required for react and unreact (the customer's mid)")
            })
    };
    let action = match req.action.as_str() {
        "typing_on" => SenderAction::TypingOn,
        "typing_off" => SenderAction::TypingOff,
        "mark_seen" => SenderAction::MarkSeen,
        "react" => {
            let reaction = req.reaction.as_deref().unwrap_or_default();
            if reaction.trim().is_empty() || reaction.chars().count() > 16 {
                return Err(ApiError::invalid("reaction", "is required for react: love or an emoji (1–16 characters)"));
            }
            SenderAction::React { mid: mid()?, reaction }
        }
        "unreact" => SenderAction::Unreact { mid: mid()? },
        _ => return Err(ApiError::invalid("action", "must be typing_on, typing_off, mark_seen, react or unreact")),
    };
    let needs_mid = matches!(action, SenderAction::React { .. } | SenderAction::Unreact { .. });
    if !needs_mid && req.instagram_message_id.is_some() {
        return Err(ApiError::invalid("instagram_message_id", "only with react and unreact"));
    }
    if !matches!(action, SenderAction::React { .. }) && req.reaction.is_some() {
        return Err(ApiError::invalid("reaction", "only with react"));
    }
    Ok(action)
}

/// Shows a typing indicator, marks the conversation seen, or reacts to a customer's message (or
/// removes the reaction). Made at once, not queued: 204 once Instagram accepted it.
#[utoipa::path(post, path = "/api/v1/messages/actions", tag = "messages", operation_id = "v1.messages.actions",
    request_body = SenderActionRequest,
    responses((status = 204, description = "Instagram accepted the action"),
        (status = 400, body = ErrorBody, description = "instagram_refused (Meta's code in details)"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %req.account_id, action = %req.action))]
async fn sender_action(
    State(s): State<AppState>,
    auth: Auth,
    AppJson(req): AppJson<SenderActionRequest>,
) -> ApiResult<StatusCode> {
    let recipient = Igsid::parse(req.recipient_id.trim())
        .map_err(|_| ApiError::invalid("recipient_id", "must be the customer's numeric Instagram-scoped id"))?;
    let action = parse_action(&req)?;
    let t = target(&s, &auth, Scope::MessagesSend, req.account_id, true).await?;
    t.graph
        .sender_action(&t.account.instagram_account_id, &t.token, recipient.as_str(), &action)
        .await
        .map_err(|e| instagram_error(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// One ice breaker: a question the customer can tap to start a conversation; its payload comes
/// back as a `postback` message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IceBreaker {
    /// 1–80 characters.
    pub question: String,
    /// 1–1000 characters.
    pub payload: String,
}

/// An account's ice breakers (at most 4).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IceBreakers {
    pub ice_breakers: Vec<IceBreaker>,
}

/// An account's persistent menu: 1–20 `web_url` or `postback` buttons.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersistentMenu {
    pub items: Vec<Button>,
}

/// The `call_to_actions` of Meta's default locale (or of its first one).
fn call_to_actions(profile: &Value, field: &str) -> Value {
    let locales = profile[field].as_array().cloned().unwrap_or_default();
    let chosen = locales.iter().find(|l| l["locale"] == "default").or_else(|| locales.first());
    chosen.map_or_else(|| json!([]), |l| l["call_to_actions"].clone())
}

async fn read_profile(s: &AppState, auth: &Auth, account_id: Uuid, field: &str) -> ApiResult<Value> {
    let t = target(s, auth, Scope::AccountsRead, account_id, false).await?;
    let profile = t.graph.messenger_profile(&t.token, &[field]).await.map_err(|e| instagram_error(&e))?;
    Ok(call_to_actions(&profile, field))
}

async fn write_profile(s: &AppState, auth: &Auth, account_id: Uuid, field: &str, actions: Value) -> ApiResult<()> {
    let t = target(s, auth, Scope::AccountsWrite, account_id, false).await?;
    let value = json!([{ "locale": "default", "call_to_actions": actions }]);
    t.graph.set_messenger_profile(&t.token, field, &value).await.map_err(|e| instagram_error(&e))
}

async fn delete_profile(s: &AppState, auth: &Auth, account_id: Uuid, field: &str) -> ApiResult<StatusCode> {
    let t = target(s, auth, Scope::AccountsWrite, account_id, false).await?;
    t.graph.delete_messenger_profile(&t.token, field).await.map_err(|e| instagram_error(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads an account's ice breakers from Instagram.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/ice-breakers", tag = "accounts",
    operation_id = "v1.accounts.ice_breakers.get",
    params(("account_id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = IceBreakers), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn get_ice_breakers(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
) -> ApiResult<AppJson<IceBreakers>> {
    let actions = read_profile(&s, &auth, account_id, "ice_breakers").await?;
    Ok(AppJson(IceBreakers { ice_breakers: serde_json::from_value(actions).unwrap_or_default() }))
}

/// Sets an account's ice breakers on Instagram (replacing them): 1–4 questions.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/ice-breakers", tag = "accounts",
    operation_id = "v1.accounts.ice_breakers.set",
    params(("account_id" = Uuid, Path, description = "Account id")),
    request_body = IceBreakers,
    responses((status = 200, body = IceBreakers), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn set_ice_breakers(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
    AppJson(req): AppJson<IceBreakers>,
) -> ApiResult<AppJson<IceBreakers>> {
    let n = req.ice_breakers.len();
    if n == 0 || n > 4 {
        return Err(ApiError::invalid("ice_breakers", format!("must have 1–4 questions, got {n}")));
    }
    for (i, b) in req.ice_breakers.iter().enumerate() {
        let q = b.question.chars().count();
        if q == 0 || q > 80 || b.question.trim().is_empty() {
            return Err(ApiError::invalid(&format!("ice_breakers[{i}].question"), "must be 1–80 characters"));
        }
        let p = b.payload.chars().count();
        if p == 0 || p > 1000 || b.payload.trim().is_empty() {
            return Err(ApiError::invalid(&format!("ice_breakers[{i}].payload"), "must be 1–1000 characters"));
        }
    }
    write_profile(&s, &auth, account_id, "ice_breakers", json!(req.ice_breakers)).await?;
    Ok(AppJson(req))
}

/// Removes an account's ice breakers from Instagram.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/ice-breakers", tag = "accounts",
    operation_id = "v1.accounts.ice_breakers.delete",
    params(("account_id" = Uuid, Path, description = "Account id")),
    responses((status = 204), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn delete_ice_breakers(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_profile(&s, &auth, account_id, "ice_breakers").await
}

/// Reads an account's persistent menu from Instagram.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/persistent-menu", tag = "accounts",
    operation_id = "v1.accounts.persistent_menu.get",
    params(("account_id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = PersistentMenu), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn get_persistent_menu(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
) -> ApiResult<AppJson<PersistentMenu>> {
    let actions = read_profile(&s, &auth, account_id, "persistent_menu").await?;
    Ok(AppJson(PersistentMenu { items: serde_json::from_value(actions).unwrap_or_default() }))
}

/// Sets an account's persistent menu on Instagram (replacing it): 1–20 buttons.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/persistent-menu", tag = "accounts",
    operation_id = "v1.accounts.persistent_menu.set",
    params(("account_id" = Uuid, Path, description = "Account id")),
    request_body = PersistentMenu,
    responses((status = 200, body = PersistentMenu), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn set_persistent_menu(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
    AppJson(req): AppJson<PersistentMenu>,
) -> ApiResult<AppJson<PersistentMenu>> {
    check_buttons("items", &req.items, 1, 20)?;
    write_profile(&s, &auth, account_id, "persistent_menu", json!(req.items)).await?;
    Ok(AppJson(req))
}

/// Removes an account's persistent menu from Instagram.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/persistent-menu", tag = "accounts",
    operation_id = "v1.accounts.persistent_menu.delete",
    params(("account_id" = Uuid, Path, description = "Account id")),
    responses((status = 204), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn delete_persistent_menu(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_profile(&s, &auth, account_id, "persistent_menu").await
}
