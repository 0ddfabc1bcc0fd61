//! An account's CRM endpoints beyond the primary one (fan-out, issue 16): each with its own URL,
//! secret, event filter, circuit and status. See `migrations/20261207000058_endpoint_fan_out.sql`.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::EndpointStatus;

/// Most endpoints (removed ones not counted) an account may have.
pub const MAX_PER_ACCOUNT: i64 = 10;

/// An endpoint as the API shows it (never its secrets).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub endpoint_id: Uuid,
    pub account_id: Uuid,
    pub url: String,
    pub event_types: Option<Vec<String>>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub is_primary: bool,
    pub circuit_open_until: Option<OffsetDateTime>,
    /// Attempts per second at most (null: no limit).
    pub rate_limit: Option<i32>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const COLS: &str = "endpoint_id, account_id, url, event_types, status, disabled_reason, is_primary, circuit_open_until, \
                    rate_limit, created_at, updated_at";

/// The account's endpoints (not removed), the primary first, then oldest first.
///
/// # Errors
/// Postgres errors.
pub async fn list(conn: &mut PgConnection, account_id: Uuid) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLS} from webhook_endpoints where account_id = $1 and deleted_at is null
          order by is_primary desc, created_at, endpoint_id"
    ))
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await
}

/// One endpoint of the account (not removed).
///
/// # Errors
/// Postgres errors.
pub async fn find(
    conn: &mut PgConnection,
    account_id: Uuid,
    endpoint_id: Uuid,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLS} from webhook_endpoints where account_id = $1 and endpoint_id = $2 and deleted_at is null"
    ))
    .bind(account_id)
    .bind(endpoint_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Adds an endpoint (the primary one when the account has none). `None` when the account already
/// has [`MAX_PER_ACCOUNT`]. Serialised per account by locking the account row.
///
/// # Errors
/// Postgres errors.
pub async fn create(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    account_id: Uuid,
    url: &str,
    secret_enc: &str,
    event_types: Option<&[String]>,
    rate_limit: Option<i32>,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query("select 1 from accounts where account_id = $1 for update").bind(account_id).execute(&mut *conn).await?;
    sqlx::query_as(&format!(
        r"insert into webhook_endpoints (endpoint_id, merchant_id, account_id, url, secret_enc, event_types, is_primary,
                                         rate_limit)
          select $1, $2, $3, $4, $5, $6,
                 not exists (select 1 from webhook_endpoints where account_id = $3 and is_primary), $8
           where (select count(*) from webhook_endpoints where account_id = $3 and deleted_at is null) < $7
          returning {COLS}"
    ))
    .bind(Uuid::now_v7())
    .bind(merchant_id)
    .bind(account_id)
    .bind(url)
    .bind(secret_enc)
    .bind(event_types)
    .bind(MAX_PER_ACCOUNT)
    .bind(rate_limit)
    .fetch_optional(&mut *conn)
    .await
}

/// What an update changes (`None`: unchanged).
#[derive(Debug, Clone, Copy, Default)]
pub struct Change<'a> {
    /// A new URL (re-enables a disabled endpoint).
    pub url: Option<&'a str>,
    /// A new secret; the old one keeps signing until `overlap_until`.
    pub secret: Option<(&'a str, OffsetDateTime)>,
    /// A new filter (`Some(None)`: every event).
    pub event_types: Option<Option<&'a [String]>>,
    /// A new rate limit (`Some(None)`: none).
    pub rate_limit: Option<Option<i32>>,
}

/// Updates one endpoint of the account; `None` if there is no such endpoint.
///
/// # Errors
/// Postgres errors.
pub async fn update(
    conn: &mut PgConnection,
    account_id: Uuid,
    endpoint_id: Uuid,
    c: Change<'_>,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        r"update webhook_endpoints
             set url = coalesce($3, url),
                 status = case when $3::text is not null then 'active' else status end,
                 disabled_reason = case when $3::text is not null then null else disabled_reason end,
                 previous_secret_enc = case when $4::text is not null then secret_enc else previous_secret_enc end,
                 previous_secret_expires_at = case when $4::text is not null then $5 else previous_secret_expires_at end,
                 secret_enc = coalesce($4, secret_enc),
                 event_types = case when $6 then $7 else event_types end,
                 rate_limit = case when $8 then $9 else rate_limit end
           where account_id = $1 and endpoint_id = $2 and deleted_at is null
          returning {COLS}"
    ))
    .bind(account_id)
    .bind(endpoint_id)
    .bind(c.url)
    .bind(c.secret.map(|s| s.0))
    .bind(c.secret.map(|s| s.1))
    .bind(c.event_types.is_some())
    .bind(c.event_types.flatten())
    .bind(c.rate_limit.is_some())
    .bind(c.rate_limit.flatten())
    .fetch_optional(&mut *conn)
    .await
}

/// Removes a non-primary endpoint: it receives nothing new, and its pending deliveries go to the
/// DLQ as `endpoint_disabled` when their job runs. Returns false if there was no such endpoint.
///
/// # Errors
/// Postgres errors.
pub async fn remove(conn: &mut PgConnection, account_id: Uuid, endpoint_id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        r"update webhook_endpoints set deleted_at = now()
           where account_id = $1 and endpoint_id = $2 and deleted_at is null and not is_primary",
    )
    .bind(account_id)
    .bind(endpoint_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}
