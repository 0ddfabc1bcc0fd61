//! Platform administration: merchants and their API keys (admin-scoped platform keys only).

use axum::extract::State;
use axum::http::StatusCode;
use router_core::crypto::{KeyEnvironment, generate_api_key};
use router_core::db::{self, api_keys, merchants};
use router_core::domain::Scope;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppPath, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_merchant))
        .routes(routes!(create_api_key))
        .routes(routes!(revoke_api_key))
}

/// Body of `POST /admin/merchants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantRequest {
    /// Display name, 1–200 characters.
    pub name: String,
}

/// A merchant (tenant).
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantResponse {
    pub merchant_id: Uuid,
    pub name: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Creates a merchant.
#[utoipa::path(post, path = "/api/v1/admin/merchants", tag = "admin", operation_id = "v1.admin.merchants.create",
    request_body = CreateMerchantRequest,
    responses((status = 201, body = MerchantResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn create_merchant(
    State(s): State<AppState>,
    auth: Auth,
    AppJson(req): AppJson<CreateMerchantRequest>,
) -> ApiResult<(StatusCode, AppJson<MerchantResponse>)> {
    Ok((StatusCode::CREATED, AppJson(create_merchant_as(&s, &auth, &req).await?)))
}

/// Creates a merchant for `auth` (a platform admin): the REST API's and the admin console's one
/// code path.
///
/// # Errors
/// 403 for other keys, 422 for a bad name, Postgres errors.
pub async fn create_merchant_as(s: &AppState, auth: &Auth, req: &CreateMerchantRequest) -> ApiResult<MerchantResponse> {
    auth.platform_admin()?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "must be 1–200 characters"));
    }
    let mut tx = db::begin_admin_tx(&s.db).await?;
    let m = merchants::insert_merchant(&mut tx, Uuid::now_v7(), name).await?;
    tx.commit().await?;
    Ok(MerchantResponse { merchant_id: m.merchant_id, name: m.name, status: m.status, created_at: m.created_at })
}

/// Body of `POST /admin/merchants/{id}/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// Label for humans.
    pub name: String,
    /// Any of `messages:send`, `messages:read`, `accounts:read`, `accounts:write`.
    pub scopes: Vec<Scope>,
    /// Restrict the key to these accounts (omit for all of the merchant's accounts).
    #[serde(default)]
    pub account_ids: Option<Vec<Uuid>>,
    /// Expiry (RFC 3339); omit for none.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// `live` (default) or `test` (sandbox Graph API only).
    #[serde(default)]
    pub environment: Option<String>,
}

/// A key. `key` is present only in the creation response: store it now, it is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub api_key_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub key_prefix: String,
    pub merchant_id: Option<Uuid>,
    pub name: String,
    pub environment: String,
    pub scopes: Vec<String>,
    pub account_ids: Option<Vec<Uuid>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl ApiKeyResponse {
    fn from_row(r: api_keys::ApiKeyRow, key: Option<String>) -> Self {
        Self {
            api_key_id: r.api_key_id,
            key,
            key_prefix: r.key_prefix,
            merchant_id: r.merchant_id,
            name: r.name,
            environment: r.environment,
            scopes: r.scopes,
            account_ids: r.account_ids,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
        }
    }
}

/// Creates an API key for a merchant and returns it once.
#[utoipa::path(post, path = "/api/v1/admin/merchants/{merchant_id}/api-keys", tag = "admin",
    operation_id = "v1.admin.api_keys.create",
    params(("merchant_id" = Uuid, Path, description = "Merchant id")),
    request_body = CreateApiKeyRequest,
    responses((status = 201, body = ApiKeyResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(merchant.id = %merchant_id))]
async fn create_api_key(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(merchant_id): AppPath<Uuid>,
    AppJson(req): AppJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, AppJson<ApiKeyResponse>)> {
    Ok((StatusCode::CREATED, AppJson(create_api_key_as(&s, &auth, merchant_id, req).await?)))
}

/// Creates a merchant key for `auth` (a platform admin) and returns it once: the REST API's and
/// the admin console's one code path (validation, allow-list check, hashing).
///
/// # Errors
/// 403 for other keys, 404 for an unknown merchant, 422 for invalid fields, Postgres errors.
pub async fn create_api_key_as(
    s: &AppState,
    auth: &Auth,
    merchant_id: Uuid,
    mut req: CreateApiKeyRequest,
) -> ApiResult<ApiKeyResponse> {
    auth.platform_admin()?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "must be 1–200 characters"));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::invalid("scopes", "must name at least one scope"));
    }
    if req.scopes.contains(&Scope::Admin) {
        return Err(ApiError::invalid("scopes", "`admin` is a platform scope; merchant keys cannot have it"));
    }
    if req.expires_at.is_some_and(|e| e <= OffsetDateTime::now_utc()) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let env = match req.environment.as_deref() {
        None | Some("live") => KeyEnvironment::Live,
        Some("test") => KeyEnvironment::Test,
        Some(_) => return Err(ApiError::invalid("environment", "must be live or test")),
    };
    let mut scopes: Vec<String> = req.scopes.iter().map(|s| s.as_str().to_owned()).collect();
    scopes.sort();
    scopes.dedup();

    let mut tx = db::begin_admin_tx(&s.db).await?;
    if merchants::find_merchant(&mut tx, merchant_id).await?.is_none() {
        return Err(ApiError::NotFound("merchant"));
    }
    if let Some(ids) = &mut req.account_ids {
        // The admin transaction sees every tenant's accounts: the check names the merchant itself.
        ids.sort_unstable();
        ids.dedup();
        let sandbox_only = env == KeyEnvironment::Test;
        let owned = db::accounts::count_merchant_accounts(&mut tx, merchant_id, ids, sandbox_only).await?;
        if owned != ids.len() as i64 {
            return Err(ApiError::invalid(
                "account_ids",
                if sandbox_only {
                    "every account must be a connected sandbox account of this merchant (test keys see only sandbox accounts)"
                } else {
                    "every account must be a connected account of this merchant"
                },
            ));
        }
    }
    let new = generate_api_key(env, &s.config.api().api_key_salt);
    let row = api_keys::insert_api_key(
        &mut tx,
        &api_keys::NewKey {
            api_key_id: Uuid::now_v7(),
            merchant_id: Some(merchant_id),
            name,
            key_hash: &new.hash,
            key_prefix: &new.prefix,
            environment: env.as_str(),
            scopes: &scopes,
            account_ids: req.account_ids.as_deref(),
            expires_at: req.expires_at,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ApiKeyResponse::from_row(row, Some(new.key.expose_secret().to_owned())))
}

/// Revokes a key (effective immediately).
#[utoipa::path(delete, path = "/api/v1/admin/api-keys/{api_key_id}", tag = "admin", operation_id = "v1.admin.api_keys.revoke",
    params(("api_key_id" = Uuid, Path, description = "Key id")),
    responses((status = 200, body = ApiKeyResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(api_key.id = %api_key_id))]
async fn revoke_api_key(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(api_key_id): AppPath<Uuid>,
) -> ApiResult<AppJson<ApiKeyResponse>> {
    Ok(AppJson(revoke_api_key_as(&s, &auth, api_key_id).await?))
}

/// Revokes a key for `auth` (a platform admin), ends the console sessions opened with it, and
/// purges it from this process's key cache: the REST API's and the admin console's one code path.
///
/// # Errors
/// 403 for other keys, 404 for an unknown key, Postgres errors.
pub async fn revoke_api_key_as(s: &AppState, auth: &Auth, api_key_id: Uuid) -> ApiResult<ApiKeyResponse> {
    auth.platform_admin()?;
    let mut tx = db::begin_admin_tx(&s.db).await?;
    let row = api_keys::revoke_api_key(&mut tx, api_key_id).await?.ok_or(ApiError::NotFound("api key"))?;
    // Sessions already stop at their next request (their lookup joins the key); deleting them
    // keeps no dead sessions around.
    db::admin_sessions::close_for_key(&mut tx, api_key_id).await?;
    // Commit first, then purge: purged before the commit, a request in between would read the
    // still-live row and cache it again (`KeyCache` also refuses lookups that straddle a purge).
    tx.commit().await?;
    s.key_cache.forget(api_key_id);
    Ok(ApiKeyResponse::from_row(row, None))
}
