//! Authentication and authorisation extractors.
//!
//! `Authorization: Bearer router_live_…` → HMAC-SHA256(API_KEY_SALT, key) → one indexed lookup
//! through a SECURITY DEFINER function (the only cross-tenant read authentication needs). Missing,
//! unknown, expired and revoked keys all answer 401; a missing scope answers 403; another
//! merchant's ids answer 404 (handlers look rows up under RLS, so they simply do not exist), and
//! so do accounts outside the key's scope ([`Auth::find_account`]: allow-list, and sandbox only
//! for `router_test_` keys).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use router_core::crypto::{KeyEnvironment, hash_api_key};
use router_core::db::accounts::{self, AccountRow, AccountScope};
use router_core::domain::Scope;
use router_core::redis::Admission;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated API key.
#[derive(Debug, Clone)]
pub struct Auth {
    pub key_id: Uuid,
    /// None for platform admin keys.
    pub merchant_id: Option<Uuid>,
    pub scopes: Vec<Scope>,
    /// When set, the key may only touch these accounts.
    pub account_ids: Option<Vec<Uuid>>,
    pub environment: KeyEnvironment,
}

impl Auth {
    /// 403 unless the key has `scope`.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`].
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this API key lacks the `{}` scope", scope.as_str())))
        }
    }

    /// The merchant this key acts for, with `scope` checked.
    ///
    /// # Errors
    /// 403 for a missing scope or a platform admin key.
    pub fn merchant(&self, scope: Scope) -> Result<Uuid, ApiError> {
        // Platform key first: "lacks the `messages:send` scope" would send an operator looking for
        // a scope that no platform key can be given.
        let merchant_id = self.merchant_id.ok_or_else(|| {
            ApiError::Forbidden("platform admin keys cannot act for a merchant; use a merchant key".into())
        })?;
        self.require(scope)?;
        Ok(merchant_id)
    }

    /// Platform admin (an `admin`-scoped key without a merchant).
    ///
    /// # Errors
    /// 403.
    pub fn platform_admin(&self) -> Result<(), ApiError> {
        self.require(Scope::Admin)?;
        if self.merchant_id.is_some() {
            return Err(ApiError::Forbidden("this endpoint needs a platform admin key".into()));
        }
        Ok(())
    }

    /// The accounts this key may see: its allow-list, and only sandbox accounts for a
    /// `router_test_` key (a test key must never read, repoint or delete a live account).
    #[must_use]
    pub fn account_scope(&self) -> AccountScope<'_> {
        AccountScope { only: self.account_ids.as_deref(), sandbox_only: self.environment == KeyEnvironment::Test }
    }

    /// Whether the key's allow-list (if any) includes `account_id` (no query; the environment is
    /// checked by [`Auth::find_account`] or, on the send path, by the outbox's own lookup).
    #[must_use]
    pub fn may_use_account(&self, account_id: Uuid) -> bool {
        self.account_scope().allows_id(account_id)
    }

    /// The account, when this key may see it: the merchant (RLS on `conn`), the allow-list and
    /// the key's environment. Every route that touches an account, or a row under one (messages,
    /// deliveries, contacts), goes through here and answers 404 on `None`.
    ///
    /// # Errors
    /// Postgres errors.
    pub async fn find_account(
        &self,
        conn: &mut PgConnection,
        account_id: Uuid,
    ) -> Result<Option<AccountRow>, ApiError> {
        let scope = self.account_scope();
        if !scope.allows_id(account_id) {
            return Ok(None);
        }
        Ok(accounts::find_account_in_scope(conn, account_id, scope).await?)
    }

    /// [`Auth::find_account`] as a check: 404 naming `what` (the `account` of a parameter, or the
    /// `delivery` or `message` read by id) when this key may not see the account.
    ///
    /// # Errors
    /// 404, Postgres errors.
    pub async fn require_account(
        &self,
        conn: &mut PgConnection,
        account_id: Uuid,
        what: &'static str,
    ) -> Result<(), ApiError> {
        match self.find_account(conn, account_id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(what)),
        }
    }
}

fn unauthorized(reason: &'static str, message: &'static str) -> ApiError {
    metrics::counter!("router_auth_failures_total", "reason" => reason).increment(1);
    ApiError::Unauthorized(message)
}

impl Auth {
    /// The rights of a key row, as every route sees them.
    #[must_use]
    pub fn from_key_row(row: &router_core::db::api_keys::AuthKeyRow) -> Self {
        Self {
            key_id: row.api_key_id,
            merchant_id: row.merchant_id,
            scopes: row.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            account_ids: row.account_ids.clone(),
            environment: if row.environment == "test" { KeyEnvironment::Test } else { KeyEnvironment::Live },
        }
    }

    /// Whether this is a platform admin key (an `admin`-scoped key without a merchant).
    #[must_use]
    pub fn is_platform_admin(&self) -> bool {
        self.merchant_id.is_none() && self.scopes.contains(&Scope::Admin)
    }
}

/// Checks a presented key: format, hash lookup (through the key cache), revocation and expiry,
/// each failure counted in `router_auth_failures_total{reason}` and answered 401. The bearer
/// extractor and the admin console's sign-in both use it, so a key means the same thing to both.
///
/// # Errors
/// [`ApiError::Unauthorized`], or Postgres errors.
pub async fn check_key(state: &AppState, key: &str) -> Result<Auth, ApiError> {
    let key = key.trim();
    if !(key.starts_with("router_live_") || key.starts_with("router_test_")) || key.len() > 200 {
        return Err(unauthorized("malformed", "expected Authorization: Bearer router_live_… or router_test_…"));
    }
    let hash = hash_api_key(&state.config.api().api_key_salt, key);
    let row = state
        .key_cache
        .get_or_fetch(hash, router_core::db::api_keys::find_key_by_hash(&state.db, &hash))
        .await?
        .ok_or_else(|| unauthorized("unknown", "invalid API key"))?;
    if row.revoked_at.is_some() {
        return Err(unauthorized("revoked", "this API key has been revoked"));
    }
    if row.expires_at.is_some_and(|e| e <= OffsetDateTime::now_utc()) {
        return Err(unauthorized("expired", "this API key has expired"));
    }
    Ok(Auth::from_key_row(&row))
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(a) = parts.extensions.get::<Auth>() {
            return Ok(a.clone());
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("missing", "missing Authorization: Bearer <api key> header"))?;
        let key = header.strip_prefix("Bearer ").ok_or_else(|| {
            unauthorized("malformed", "expected Authorization: Bearer router_live_… or router_test_…")
        })?;
        let auth = check_key(state, key).await?;
        state.key_usage.record(auth.key_id);

        // Per-key rate limit. Fails open when Redis is down: the API keeps accepting (the
        // Instagram side, which must never run unthrottled, fails closed instead).
        let limit = state.config.api().api_rate_limit_per_minute;
        match state.limiter.admit_api_key(&auth.key_id.to_string(), limit).await {
            Ok(Admission::Allowed) => {}
            Ok(Admission::Throttled(wait)) => {
                return Err(ApiError::RateLimited { retry_after_secs: wait.as_secs().max(1) });
            }
            Err(e) => {
                metrics::counter!("router_redis_unavailable_total", "op" => "api_rate_limit").increment(1);
                tracing::warn!(error = %e, "API rate limit skipped: Redis unavailable");
            }
        }

        tracing::Span::current().record("api_key_id", tracing::field::display(auth.key_id));
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}
