//! `api_keys`: hashed keys, scopes, allow-lists, expiry and revocation.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// What authentication needs to know about a key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthKeyRow {
    pub api_key_id: Uuid,
    pub merchant_id: Option<Uuid>,
    pub scopes: Vec<String>,
    pub account_ids: Option<Vec<Uuid>>,
    pub environment: String,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A key as listed to its owner (never the key or its hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub api_key_id: Uuid,
    pub merchant_id: Option<Uuid>,
    pub name: String,
    pub key_prefix: String,
    pub environment: String,
    pub scopes: Vec<String>,
    pub account_ids: Option<Vec<Uuid>>,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// Fields of a new key.
pub struct NewKey<'a> {
    pub api_key_id: Uuid,
    pub merchant_id: Option<Uuid>,
    pub name: &'a str,
    pub key_hash: &'a [u8],
    pub key_prefix: &'a str,
    pub environment: &'a str,
    pub scopes: &'a [String],
    pub account_ids: Option<&'a [Uuid]>,
    pub expires_at: Option<OffsetDateTime>,
}

const COLUMNS: &str = "api_key_id, merchant_id, name, key_prefix, environment, scopes, account_ids, expires_at, revoked_at, last_used_at, created_at";

/// Inserts a key.
///
/// # Errors
/// Postgres errors.
#[tracing::instrument(skip_all, fields(api_key.id = %k.api_key_id))]
pub async fn insert_api_key(conn: &mut PgConnection, k: &NewKey<'_>) -> Result<ApiKeyRow, sqlx::Error> {
    sqlx::query_as(&format!(
        r"insert into api_keys (api_key_id, merchant_id, name, key_hash, key_prefix, environment, scopes, account_ids, expires_at)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
          returning {COLUMNS}"
    ))
    .bind(k.api_key_id)
    .bind(k.merchant_id)
    .bind(k.name)
    .bind(k.key_hash)
    .bind(k.key_prefix)
    .bind(k.environment)
    .bind(k.scopes)
    .bind(k.account_ids)
    .bind(k.expires_at)
    .fetch_one(&mut *conn)
    .await
}

/// Looks a key up by its hash, across tenants (SECURITY DEFINER function; see the migration).
///
/// # Errors
/// Postgres errors.
pub async fn find_key_by_hash(pool: &PgPool, hash: &[u8]) -> Result<Option<AuthKeyRow>, sqlx::Error> {
    sqlx::query_as("select * from auth_find_api_key($1)").bind(hash).fetch_optional(pool).await
}

/// Records `last_used_at` for a batch of keys at once.
///
/// # Errors
/// Postgres errors.
pub async fn touch_keys(pool: &PgPool, ids: &[Uuid], used: &[OffsetDateTime]) -> Result<(), sqlx::Error> {
    sqlx::query("select auth_touch_api_keys($1, $2)").bind(ids).bind(used).execute(pool).await?;
    Ok(())
}

/// Revokes a key visible in the current context. Returns the row, if found.
///
/// # Errors
/// Postgres errors.
#[tracing::instrument(skip_all, fields(api_key.id = %api_key_id))]
pub async fn revoke_api_key(conn: &mut PgConnection, api_key_id: Uuid) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "update api_keys set revoked_at = coalesce(revoked_at, now()) where api_key_id = $1 returning {COLUMNS}"
    ))
    .bind(api_key_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Reads one key visible in the current context.
///
/// # Errors
/// Postgres errors.
pub async fn find_api_key(conn: &mut PgConnection, api_key_id: Uuid) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from api_keys where api_key_id = $1"))
        .bind(api_key_id)
        .fetch_optional(&mut *conn)
        .await
}
