//! Connected Instagram accounts (seed §5) and their CRM endpoint.
//!
//! Create validates the token with the Graph API (`GET /me`) before anything is stored; tokens and
//! secrets are sealed with the current data key and never returned. Delete is soft: history stays,
//! sending stops.

use axum::extract::State;
use axum::http::StatusCode;
use router_core::accounts::{EndpointChange, connect_account, reauthenticate};
use router_core::crypto::KeyEnvironment;
use router_core::db::{self, accounts};
use router_core::domain::{IgAccountId, Igsid, Scope, events};
use router_core::graph::{ErrorClass, GraphClient, GraphError};
use router_core::ssrf;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppPath, ErrorBody, ErrorCode};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_account, update_account, delete_account))
        .routes(routes!(erase_contact))
}

/// Body of `POST /accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// The Instagram professional account id (`user_id` of `GET /me`; `recipient.id` in webhooks).
    pub instagram_account_id: String,
    /// Instagram username (display).
    pub username: String,
    /// A long-lived Instagram User access token.
    pub access_token: String,
    /// The app secret that signs this account's webhooks, when it differs from the platform's.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// Where the router delivers this account's CRM webhooks.
    pub crm_webhook_url: String,
    /// Shared signing secret (16–256 characters; `whsec_<base64>` recommended).
    pub webhook_secret: String,
    /// Only deliver these event types (omit for all).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// When the token expires, if known (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub token_expires_at: Option<OffsetDateTime>,
}

/// Body of `PUT /accounts/{id}`: every field optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    #[serde(default)]
    pub crm_webhook_url: Option<String>,
    /// A new signing secret; the old one keeps signing alongside for the overlap period.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// A new token (validated with Meta); re-activates an account in `error`.
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub app_secret: Option<String>,
    /// `active` or `inactive`.
    #[serde(default)]
    pub status: Option<String>,
    /// Replace the event filter (`[]` or null for all events).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
}

/// An account. Tokens and secrets are never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountResponse {
    pub account_id: Uuid,
    pub instagram_account_id: String,
    pub username: String,
    /// `active`, `inactive`, `error` (e.g. token invalid: re-authenticate) or `deleted`.
    pub status: String,
    pub status_reason: Option<String>,
    pub crm_webhook_url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `active` or `disabled` (the CRM answered 410).
    pub webhook_status: Option<String>,
    /// Created with a `router_test_` key: served by the sandbox Graph API.
    pub sandbox: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub token_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<accounts::AccountRow> for AccountResponse {
    fn from(a: accounts::AccountRow) -> Self {
        Self {
            account_id: a.account_id,
            instagram_account_id: a.instagram_account_id,
            username: a.username,
            status: a.status.to_string(),
            status_reason: a.status_reason,
            crm_webhook_url: a.crm_webhook_url,
            event_types: a.event_types,
            webhook_status: a.endpoint_status.map(|s| s.to_string()),
            sandbox: a.sandbox,
            token_expires_at: a.token_expires_at,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    pub data: Vec<AccountResponse>,
}

const TOKEN_RULE: &str = "must be 1–4096 printable ASCII characters (an Instagram access token)";

/// Meta's tokens are printable ASCII; anything else cannot even travel in the `Authorization`
/// header to Meta (and used to surface as a 503 "Instagram could not be reached").
fn is_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| (0x21..0x7f).contains(&b))
}

pub(crate) fn validate_secret(field: &str, v: &str) -> Result<(), ApiError> {
    let n = v.chars().count();
    if !(16..=256).contains(&n) {
        return Err(ApiError::invalid(field, "must be 16–256 characters"));
    }
    Ok(())
}

pub(crate) fn validate_events(v: Option<&Vec<String>>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = v else { return Ok(None) };
    for e in list {
        if !events::ALL.contains(&e.as_str()) {
            return Err(ApiError::invalid("event_types", format!("unknown event type {e:?}")));
        }
    }
    Ok(if list.is_empty() { None } else { Some(list.clone()) })
}

pub(crate) async fn validate_url(s: &AppState, field: &str, url: &str) -> Result<(), ApiError> {
    ssrf::check(url, s.config.is_production()).await.map(|_| ()).map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn graph_for(s: &AppState, sandbox: bool) -> Result<&GraphClient, ApiError> {
    s.graph_for(sandbox).ok_or(ApiError::Validation {
        code: ErrorCode::SandboxNotConfigured,
        message: "router_test_ keys use the sandbox Graph API, and SANDBOX_GRAPH_API_BASE_URL is not set".into(),
        details: None,
    })
}

/// Asks Meta who the token belongs to. Meta saying no → 400 `invalid_instagram_token`.
async fn check_token(graph: &GraphClient, token: &SecretString) -> Result<router_core::graph::Me, ApiError> {
    match graph.me(token).await {
        Ok(me) => Ok(me),
        Err(e @ GraphError::Api { .. })
            if !matches!(e.class(), ErrorClass::Retryable | ErrorClass::Throttled { .. }) =>
        {
            let (code, subcode) = e.meta_code().unwrap_or_default();
            Err(ApiError::Upstream {
                code: ErrorCode::InvalidInstagramToken,
                message: "Instagram rejected the access token".into(),
                details: Some(serde_json::json!({ "instagram_error_code": code, "instagram_error_subcode": subcode })),
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "token validation could not reach Instagram");
            Err(ApiError::Unavailable("Instagram could not be reached to validate the token; retry later"))
        }
    }
}

/// The checks of a create request that need no I/O; returns the parsed Instagram id and the
/// event filter.
fn validate_create(req: &CreateAccountRequest) -> Result<(IgAccountId, Option<Vec<String>>), ApiError> {
    let Ok(ig_id) = IgAccountId::parse(req.instagram_account_id.trim()) else {
        return Err(ApiError::invalid("instagram_account_id", "must be Instagram's numeric account id"));
    };
    let username = req.username.trim();
    if username.is_empty() || username.chars().count() > 100 {
        return Err(ApiError::invalid("username", "must be 1–100 characters"));
    }
    if !is_token(req.access_token.trim()) {
        return Err(ApiError::invalid("access_token", TOKEN_RULE));
    }
    validate_secret("webhook_secret", &req.webhook_secret)?;
    if let Some(a) = &req.app_secret {
        validate_secret("app_secret", a)?;
    }
    Ok((ig_id, validate_events(req.event_types.as_ref())?))
}

/// Connects an Instagram account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", operation_id = "v1.accounts.create",
    request_body = CreateAccountRequest,
    responses((status = 201, body = AccountResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn create_account(
    State(s): State<AppState>,
    auth: Auth,
    AppJson(req): AppJson<CreateAccountRequest>,
) -> ApiResult<(StatusCode, AppJson<AccountResponse>)> {
    let merchant_id = auth.merchant(Scope::AccountsWrite)?;
    if auth.account_ids.is_some() {
        return Err(ApiError::Forbidden("keys limited to specific accounts cannot connect new accounts".into()));
    }
    let (ig_id, event_types) = validate_create(&req)?;
    let ig_id = ig_id.as_str();
    let username = req.username.trim();
    validate_url(&s, "crm_webhook_url", &req.crm_webhook_url).await?;

    let sandbox = auth.environment == KeyEnvironment::Test;
    let token = SecretString::from(req.access_token.trim().to_owned());
    let graph = graph_for(&s, sandbox)?;
    let me = check_token(graph, &token).await?;
    if let Some(uid) = &me.user_id
        && uid != ig_id
    {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InstagramAccountMismatch,
            message: "the access token belongs to a different Instagram account".into(),
            details: None,
        });
    }

    let keyring = &s.config.keyring;
    let token_enc = keyring.encrypt(secrecy::ExposeSecret::expose_secret(&token));
    let app_secret_enc = req.app_secret.as_deref().map(|a| keyring.encrypt(a));
    let secret_enc = keyring.encrypt(&req.webhook_secret);

    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let account = accounts::NewAccount {
        account_id: Uuid::now_v7(),
        merchant_id,
        instagram_account_id: ig_id,
        username,
        access_token_enc: &token_enc,
        app_secret_enc: app_secret_enc.as_deref(),
        sandbox,
        token_expires_at: req.token_expires_at,
    };
    let endpoint = EndpointChange::Replace {
        url: &req.crm_webhook_url,
        secret_enc: &secret_enc,
        event_types: event_types.as_deref(),
    };
    let account_id = connect_account(&mut tx, &account, false, Some(endpoint)).await?.ok_or(ApiError::Conflict {
        code: ErrorCode::AccountExists,
        message: "this Instagram account is already connected; update it with PUT /api/v1/accounts/{id}".into(),
    })?;
    let row = accounts::find_account(&mut tx, account_id).await?.ok_or(ApiError::NotFound("account"))?;
    tx.commit().await?;
    tracing::info!(account.id = %account_id, "account connected");
    // Ask Meta to deliver this account's messaging webhooks to the app (as OAuth does). A failure
    // does not undo the connection: the token is valid, and the subscription can be repeated.
    if let Err(e) = graph.subscribe_app(&token, crate::routes::oauth::SUBSCRIBED_FIELDS).await {
        tracing::warn!(error = %e, account.id = %account_id, "subscribing the app to the account's webhooks failed");
    }
    Ok((StatusCode::CREATED, AppJson(row.into())))
}

/// Lists the merchant's accounts (those the key may use).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", operation_id = "v1.accounts.list",
    responses((status = 200, body = AccountList), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn list_accounts(State(s): State<AppState>, auth: Auth) -> ApiResult<AppJson<AccountList>> {
    let merchant_id = auth.merchant(Scope::AccountsRead)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let rows = accounts::list_accounts(&mut tx, auth.account_scope()).await?;
    tx.commit().await?;
    Ok(AppJson(AccountList { data: rows.into_iter().map(Into::into).collect() }))
}

async fn load(s: &AppState, auth: &Auth, scope: Scope, account_id: Uuid) -> ApiResult<(Uuid, accounts::AccountRow)> {
    let merchant_id = auth.merchant(scope)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let row = auth.find_account(&mut tx, account_id).await?.ok_or(ApiError::NotFound("account"))?;
    tx.commit().await?;
    Ok((merchant_id, row))
}

/// Reads one account.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}", tag = "accounts", operation_id = "v1.accounts.get",
    params(("account_id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = AccountResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn get_account(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
) -> ApiResult<AppJson<AccountResponse>> {
    let (_, row) = load(&s, &auth, Scope::AccountsRead, account_id).await?;
    Ok(AppJson(row.into()))
}

/// Updates an account: CRM URL, signing secret (rotated with overlap), token, status, filter.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}", tag = "accounts", operation_id = "v1.accounts.update",
    params(("account_id" = Uuid, Path, description = "Account id")),
    request_body = UpdateAccountRequest,
    responses((status = 200, body = AccountResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn update_account(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateAccountRequest>,
) -> ApiResult<AppJson<AccountResponse>> {
    let (merchant_id, current) = load(&s, &auth, Scope::AccountsWrite, account_id).await?;
    if current.deleted_at.is_some() {
        return Err(ApiError::NotFound("account"));
    }
    if let Some(st) = req.status.as_deref()
        && !matches!(st, "active" | "inactive")
    {
        return Err(ApiError::invalid("status", "must be active or inactive"));
    }
    if let Some(w) = &req.webhook_secret {
        validate_secret("webhook_secret", w)?;
    }
    if let Some(a) = &req.app_secret {
        validate_secret("app_secret", a)?;
    }
    if let Some(u) = &req.crm_webhook_url {
        validate_url(&s, "crm_webhook_url", u).await?;
    }
    let event_types = validate_events(req.event_types.as_ref())?;
    let keyring = &s.config.keyring;
    let token_enc = match req.access_token.as_deref().map(str::trim) {
        Some(t) => Some(checked_new_token(&s, &current, t).await?),
        None => None,
    };
    let app_secret_enc = req.app_secret.as_deref().map(|a| keyring.encrypt(a));

    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let patch = accounts::AccountPatch {
        access_token_enc: token_enc.as_deref(),
        app_secret_enc: app_secret_enc.as_deref(),
        status: req.status.as_deref(),
        username: None,
    };
    reauthenticate(&mut tx, account_id, &patch).await?;
    update_endpoint(&s, &mut tx, (merchant_id, &current), &req, event_types.as_deref()).await?;
    let row = accounts::find_account(&mut tx, account_id).await?.ok_or(ApiError::NotFound("account"))?;
    tx.commit().await?;
    Ok(AppJson(row.into()))
}

/// A replacement access token: well-formed, accepted by Meta, and for this account's Instagram
/// id. Returns it encrypted.
async fn checked_new_token(s: &AppState, current: &accounts::AccountRow, token: &str) -> ApiResult<String> {
    if !is_token(token) {
        return Err(ApiError::invalid("access_token", TOKEN_RULE));
    }
    let secret = SecretString::from(token.to_owned());
    let me = check_token(graph_for(s, current.sandbox)?, &secret).await?;
    if me.user_id.as_deref().is_some_and(|u| u != current.instagram_account_id) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InstagramAccountMismatch,
            message: "the access token belongs to a different Instagram account".into(),
            details: None,
        });
    }
    Ok(s.config.keyring.encrypt(token))
}

/// The CRM endpoint part of an update: created when the account has none (URL and secret
/// together), else a rotated secret (with its overlap), a new URL or event filter.
async fn update_endpoint(
    s: &AppState,
    tx: &mut sqlx::PgConnection,
    (merchant_id, current): (Uuid, &accounts::AccountRow),
    req: &UpdateAccountRequest,
    event_types: Option<&[String]>,
) -> ApiResult<()> {
    let keyring = &s.config.keyring;
    let account_id = current.account_id;
    if current.endpoint_id.is_none() {
        // No CRM endpoint yet (e.g. connected through OAuth without one): URL and secret create it.
        match (&req.crm_webhook_url, &req.webhook_secret) {
            (Some(url), Some(secret)) => {
                accounts::upsert_endpoint(tx, merchant_id, account_id, url, &keyring.encrypt(secret), event_types)
                    .await?;
            }
            (None, None) if req.event_types.is_none() => {}
            _ => {
                return Err(ApiError::invalid(
                    "crm_webhook_url",
                    "this account has no CRM endpoint yet: give crm_webhook_url and webhook_secret together",
                ));
            }
        }
    } else if let Some(secret) = &req.webhook_secret {
        let until = OffsetDateTime::now_utc() + s.config.webhook_secret_overlap;
        accounts::rotate_endpoint_secret(tx, account_id, &keyring.encrypt(secret), until).await?;
    }
    if current.endpoint_id.is_some() && (req.crm_webhook_url.is_some() || req.event_types.is_some()) {
        let events = req.event_types.as_ref().map(|_| event_types);
        accounts::update_endpoint(tx, account_id, req.crm_webhook_url.as_deref(), events).await?;
    }
    Ok(())
}

/// Disconnects an account: sending stops, history is kept.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}", tag = "accounts", operation_id = "v1.accounts.delete",
    params(("account_id" = Uuid, Path, description = "Account id")),
    responses((status = 204, description = "Deleted"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn delete_account(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
) -> ApiResult<StatusCode> {
    let merchant_id = auth.merchant(Scope::AccountsWrite)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    if auth.find_account(&mut tx, account_id).await?.is_none()
        || !accounts::soft_delete_account(&mut tx, account_id).await?
    {
        return Err(ApiError::NotFound("account"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Erases one contact's message content (GDPR): message text, attachments, metadata and raw
/// events of that customer on this account, and the content inside their CRM webhook bodies.
/// Ids, timestamps and statuses are kept; pending sends to the contact are cancelled.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/contacts/{igsid}", tag = "accounts", operation_id = "v1.accounts.contacts.erase",
    params(("account_id" = Uuid, Path, description = "Account id"), ("igsid" = String, Path, description = "The contact's Instagram-scoped id")),
    responses((status = 200, body = router_core::lifecycle::ErasureReport), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn erase_contact(
    State(s): State<AppState>,
    auth: Auth,
    AppPath((account_id, igsid)): AppPath<(Uuid, String)>,
) -> ApiResult<AppJson<router_core::lifecycle::ErasureReport>> {
    let merchant_id = auth.merchant(Scope::AccountsWrite)?;
    let Ok(igsid) = Igsid::parse(&igsid) else {
        return Err(ApiError::invalid("igsid", "must be a numeric Instagram-scoped id"));
    };
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    auth.require_account(&mut tx, account_id, "account").await?;
    let report = router_core::lifecycle::erase_contact(&mut tx, account_id, &igsid).await?;
    tx.commit().await?;
    tracing::info!(outbound = report.outbound_messages, inbound = report.inbound_events, "contact data erased");
    Ok(AppJson(report))
}
