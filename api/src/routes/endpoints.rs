//! `/api/v1/accounts/{account_id}/endpoints`: several CRM endpoints per account (fan-out).
//!
//! Every event of the account goes to each endpoint whose filter takes it, as its own delivery:
//! own signature secret, retries, circuit, per-conversation order and DLQ entry, so a slow or dead
//! endpoint never delays another. The account's first endpoint is its primary, the one the
//! account API's `crm_webhook_url` / `webhook_secret` / `event_types` show and change; it is
//! removed only with the account.

use axum::extract::State;
use axum::http::StatusCode;
use router_core::db::{self, endpoints};
use router_core::domain::Scope;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{validate_events, validate_secret, validate_url};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppPath, ErrorBody, ErrorCode};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_endpoint, list_endpoints)).routes(routes!(
        get_endpoint,
        update_endpoint,
        delete_endpoint
    ))
}

/// Body of `POST /accounts/{id}/endpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    /// Where this endpoint's deliveries go (https in production; no private addresses).
    pub url: String,
    /// Its signing secret (16–256 characters).
    pub secret: String,
    /// Only these event types (omit for all).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// At most this many delivery attempts per second (1–10 000; omit for no limit).
    #[serde(default, deserialize_with = "crate::error::integral")]
    pub rate_limit: Option<u32>,
}

/// Body of `PUT /accounts/{id}/endpoints/{endpoint_id}`: every field optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    /// A new URL (re-enables an endpoint disabled by a 410).
    #[serde(default)]
    pub url: Option<String>,
    /// A new secret; the old one keeps signing alongside for the overlap period.
    #[serde(default)]
    pub secret: Option<String>,
    /// Replace the filter (`[]` for all events).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// A new rate limit, attempts per second (1–10 000); `0` removes it.
    #[serde(default, deserialize_with = "crate::error::integral")]
    pub rate_limit: Option<u32>,
}

/// An endpoint (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointResponse {
    pub endpoint_id: Uuid,
    pub account_id: Uuid,
    pub url: String,
    pub event_types: Option<Vec<String>>,
    /// `active` or `disabled` (the CRM answered 410 Gone).
    pub status: String,
    pub disabled_reason: Option<String>,
    /// The account's primary endpoint (its `crm_webhook_url`).
    pub is_primary: bool,
    /// While set and in the future, the circuit is open: deliveries wait.
    #[serde(with = "time::serde::rfc3339::option")]
    pub circuit_open_until: Option<OffsetDateTime>,
    /// Delivery attempts per second at most; null: no limit.
    pub rate_limit: Option<i32>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<endpoints::EndpointRow> for EndpointResponse {
    fn from(e: endpoints::EndpointRow) -> Self {
        Self {
            endpoint_id: e.endpoint_id,
            account_id: e.account_id,
            url: e.url,
            event_types: e.event_types,
            status: e.status.to_string(),
            disabled_reason: e.disabled_reason,
            is_primary: e.is_primary,
            circuit_open_until: e.circuit_open_until,
            rate_limit: e.rate_limit,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An account's endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<EndpointResponse>,
}

/// A rate limit from a body: 1–10 000 per second; `0` means none where `zero_clears`.
fn rate(field: &str, n: u32, zero_clears: bool) -> Result<Option<i32>, ApiError> {
    match n {
        0 if zero_clears => Ok(None),
        1..=10_000 => Ok(Some(i32::try_from(n).unwrap_or(10_000))),
        _ => Err(ApiError::invalid(
            field,
            if zero_clears { "must be 0 (no limit) or 1–10000" } else { "must be 1–10000" },
        )),
    }
}

/// A transaction as the merchant, with the account checked (visible to the key, not deleted).
async fn account_tx(
    s: &AppState,
    auth: &Auth,
    scope: Scope,
    account_id: Uuid,
) -> ApiResult<(Uuid, sqlx::Transaction<'static, sqlx::Postgres>)> {
    let merchant_id = auth.merchant(scope)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let account = auth.find_account(&mut tx, account_id).await?.ok_or(ApiError::NotFound("account"))?;
    if account.deleted_at.is_some() {
        return Err(ApiError::NotFound("account"));
    }
    Ok((merchant_id, tx))
}

/// Adds a CRM endpoint to an account (at most 10).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/endpoints", tag = "accounts",
    operation_id = "v1.accounts.endpoints.create",
    params(("account_id" = Uuid, Path, description = "Account id")),
    request_body = CreateEndpointRequest,
    responses((status = 201, body = EndpointResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn create_endpoint(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
    AppJson(req): AppJson<CreateEndpointRequest>,
) -> ApiResult<(StatusCode, AppJson<EndpointResponse>)> {
    validate_secret("secret", &req.secret)?;
    let event_types = validate_events(req.event_types.as_ref())?;
    let rate_limit = req.rate_limit.map(|n| rate("rate_limit", n, false)).transpose()?.flatten();
    validate_url(&s, "url", &req.url).await?;
    let (merchant_id, mut tx) = account_tx(&s, &auth, Scope::AccountsWrite, account_id).await?;
    let secret_enc = s.config.keyring.encrypt(&req.secret);
    let row =
        endpoints::create(&mut tx, merchant_id, account_id, &req.url, &secret_enc, event_types.as_deref(), rate_limit)
            .await?
            .ok_or_else(|| ApiError::Conflict {
                code: ErrorCode::EndpointLimitReached,
                message: format!("an account has at most {} endpoints", endpoints::MAX_PER_ACCOUNT),
            })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(row.into())))
}

/// Lists an account's endpoints, the primary first.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/endpoints", tag = "accounts",
    operation_id = "v1.accounts.endpoints.list",
    params(("account_id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = EndpointList), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn list_endpoints(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(account_id): AppPath<Uuid>,
) -> ApiResult<AppJson<EndpointList>> {
    let (_, mut tx) = account_tx(&s, &auth, Scope::AccountsRead, account_id).await?;
    let rows = endpoints::list(&mut tx, account_id).await?;
    tx.commit().await?;
    Ok(AppJson(EndpointList { data: rows.into_iter().map(Into::into).collect() }))
}

/// Reads one endpoint.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/endpoints/{endpoint_id}", tag = "accounts",
    operation_id = "v1.accounts.endpoints.get",
    params(("account_id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, body = EndpointResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn get_endpoint(
    State(s): State<AppState>,
    auth: Auth,
    AppPath((account_id, endpoint_id)): AppPath<(Uuid, Uuid)>,
) -> ApiResult<AppJson<EndpointResponse>> {
    let (_, mut tx) = account_tx(&s, &auth, Scope::AccountsRead, account_id).await?;
    let row = endpoints::find(&mut tx, account_id, endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    tx.commit().await?;
    Ok(AppJson(row.into()))
}

/// Changes an endpoint's URL, secret (rotated with overlap) or filter.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/endpoints/{endpoint_id}", tag = "accounts",
    operation_id = "v1.accounts.endpoints.update",
    params(("account_id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    request_body = UpdateEndpointRequest,
    responses((status = 200, body = EndpointResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn update_endpoint(
    State(s): State<AppState>,
    auth: Auth,
    AppPath((account_id, endpoint_id)): AppPath<(Uuid, Uuid)>,
    AppJson(req): AppJson<UpdateEndpointRequest>,
) -> ApiResult<AppJson<EndpointResponse>> {
    if let Some(secret) = &req.secret {
        validate_secret("secret", secret)?;
    }
    let event_types = req.event_types.as_ref().map(|_| validate_events(req.event_types.as_ref())).transpose()?;
    let rate_limit = req.rate_limit.map(|n| rate("rate_limit", n, true)).transpose()?;
    if let Some(url) = &req.url {
        validate_url(&s, "url", url).await?;
    }
    let (_, mut tx) = account_tx(&s, &auth, Scope::AccountsWrite, account_id).await?;
    let secret_enc = req.secret.as_deref().map(|secret| s.config.keyring.encrypt(secret));
    let until = OffsetDateTime::now_utc() + s.config.webhook_secret_overlap;
    let change = endpoints::Change {
        url: req.url.as_deref(),
        secret: secret_enc.as_deref().map(|e| (e, until)),
        event_types: event_types.as_ref().map(Option::as_deref),
        rate_limit,
    };
    let row =
        endpoints::update(&mut tx, account_id, endpoint_id, change).await?.ok_or(ApiError::NotFound("endpoint"))?;
    tx.commit().await?;
    Ok(AppJson(row.into()))
}

/// Removes an endpoint (not the primary one: that is the account's `crm_webhook_url`). It
/// receives nothing new; its pending deliveries go to the DLQ.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/endpoints/{endpoint_id}", tag = "accounts",
    operation_id = "v1.accounts.endpoints.delete",
    params(("account_id" = Uuid, Path, description = "Account id"), ("endpoint_id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 204), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(account.id = %account_id))]
async fn delete_endpoint(
    State(s): State<AppState>,
    auth: Auth,
    AppPath((account_id, endpoint_id)): AppPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let (_, mut tx) = account_tx(&s, &auth, Scope::AccountsWrite, account_id).await?;
    let existing = endpoints::find(&mut tx, account_id, endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    if existing.is_primary {
        return Err(ApiError::Conflict {
            code: ErrorCode::PrimaryEndpoint,
            message: "the primary endpoint is the account's crm_webhook_url: change it with PUT /api/v1/accounts/{id}"
                .into(),
        });
    }
    endpoints::remove(&mut tx, account_id, endpoint_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
