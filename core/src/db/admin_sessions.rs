//! `admin_sessions`: browser sessions of the admin console (`/admin`).
//!
//! Only SHA-256 of the session token is stored. Opening, finding and closing go through SECURITY
//! DEFINER functions (migration `20261201000020_admin_sessions.sql`) because they run before the
//! tenant is known; each checks the key the session was opened with, so a revoked or expired key
//! ends its sessions at once.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A live session with the rights of its key (the same fields authentication reads for a bearer
/// key, so the console builds the very same `Auth` value).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub admin_session_id: Uuid,
    /// The key part, as [`super::api_keys::find_key_by_hash`] returns it.
    #[sqlx(flatten)]
    pub key: super::api_keys::AuthKeyRow,
    pub session_expires_at: OffsetDateTime,
    pub key_name: String,
    pub key_prefix: String,
}

/// Opens a session for `api_key_id` lasting `ttl_secs`; `None` when the key is no longer valid
/// (revoked or expired between the sign-in check and this insert).
///
/// # Errors
/// Postgres errors.
#[tracing::instrument(skip_all, fields(api_key.id = %api_key_id))]
pub async fn open(
    pool: &PgPool,
    session_id: Uuid,
    token_hash: &[u8; 32],
    api_key_id: Uuid,
    ttl_secs: f64,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar("select admin_session_open($1, $2, $3, $4)")
        .bind(session_id)
        .bind(&token_hash[..])
        .bind(api_key_id)
        .bind(ttl_secs)
        .fetch_one(pool)
        .await
}

/// The live session of a token hash, if any.
///
/// # Errors
/// Postgres errors.
pub async fn find(pool: &PgPool, token_hash: &[u8; 32]) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as("select * from admin_session_find($1)").bind(&token_hash[..]).fetch_optional(pool).await
}

/// Signs a session out.
///
/// # Errors
/// Postgres errors.
pub async fn close(pool: &PgPool, token_hash: &[u8; 32]) -> Result<(), sqlx::Error> {
    sqlx::query("select admin_session_close($1)").bind(&token_hash[..]).execute(pool).await?;
    Ok(())
}

/// Deletes every session opened with a key (on revocation; the caller's context must see the
/// key's rows: the platform admin context).
///
/// # Errors
/// Postgres errors.
pub async fn close_for_key(conn: &mut PgConnection, api_key_id: Uuid) -> Result<u64, sqlx::Error> {
    let r =
        sqlx::query("delete from admin_sessions where api_key_id = $1").bind(api_key_id).execute(&mut *conn).await?;
    Ok(r.rows_affected())
}
