//! The scheduler's own statements: time-slot claims, idempotency cleanup, token-refresh
//! bookkeeping and the operational counts behind its gauges. Set-based, bounded, safe to run
//! twice.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Takes the session-level advisory lock `name` (scheduler leadership) if free; true when this
/// session holds it.
///
/// # Errors
/// Postgres errors (the session is gone).
pub async fn try_advisory_lock(conn: &mut PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select pg_try_advisory_lock(hashtext($1))").bind(name).fetch_one(&mut *conn).await
}

/// True while the session answers (a session-level lock lives as long as its session).
///
/// # Errors
/// Postgres errors (the session is gone).
pub async fn session_alive(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select true").fetch_one(&mut *conn).await
}

/// Releases the advisory lock `name` held by this session.
///
/// # Errors
/// Postgres errors.
pub async fn advisory_unlock(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_unlock(hashtext($1))").bind(name).execute(&mut *conn).await.map(|_| ())
}

/// Claims the time slot of a periodic task; false when the slot is already claimed (its job
/// exists or already ran). Run in the transaction that enqueues the slot's job.
///
/// # Errors
/// Postgres errors.
pub async fn claim_cron_slot(conn: &mut PgConnection, task: &str, slot: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("insert into cron_slots (task, slot) values ($1, $2) on conflict do nothing")
        .bind(task)
        .bind(slot)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes up to `batch` expired idempotency keys and up to `batch` week-old cron slots; returns
/// how many rows went.
///
/// # Errors
/// Postgres errors.
pub async fn delete_expired_keys_and_slots(pool: &PgPool, batch: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        r"with k as (
              delete from idempotency_keys where ctid in (
                  select ctid from idempotency_keys where expires_at < now() limit $1 for update skip locked)
              returning 1),
          c as (
              delete from cron_slots where ctid in (
                  select ctid from cron_slots where created_at < now() - interval '7 days' limit $1)
              returning 1)
          select (select count(*) from k) + (select count(*) from c)",
    )
    .bind(batch)
    .fetch_one(pool)
    .await
}

/// An account whose long-lived token is due for a refresh.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueToken {
    pub account_id: Uuid,
    pub merchant_id: Uuid,
    pub instagram_account_id: String,
    pub access_token_enc: String,
    pub sandbox: bool,
    pub token_refresh_failures: i32,
    pub token_expires_at: Option<OffsetDateTime>,
}

/// Active accounts whose token is at least 24 h old, expires within `window_days` (unknown
/// expiry: 60 days after the last refresh) and is not backing off; soonest expiry first, at most
/// `limit`.
///
/// # Errors
/// Postgres errors.
pub async fn tokens_due(pool: &PgPool, window_days: i32, limit: i64) -> Result<Vec<DueToken>, sqlx::Error> {
    sqlx::query_as(
        r"select account_id, merchant_id, instagram_account_id, access_token_enc, sandbox, token_refresh_failures, token_expires_at
            from accounts
           where deleted_at is null and status = 'active'
             and coalesce(token_expires_at, coalesce(token_refreshed_at, created_at) + interval '60 days')
                 < now() + make_interval(days => $1)
             and coalesce(token_refreshed_at, created_at) < now() - interval '24 hours'
             and (token_refresh_after is null or token_refresh_after <= now())
           order by token_expires_at nulls first
           limit $2",
    )
    .bind(window_days)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Stores a refreshed token (only if the row still holds `old_enc`: a token set meanwhile through
/// the API wins) and clears the failure bookkeeping.
///
/// # Errors
/// Postgres errors.
pub async fn store_refreshed_token(
    pool: &PgPool,
    account_id: Uuid,
    old_enc: &str,
    new_enc: &str,
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"update accounts
             set access_token_enc = $3, token_expires_at = $4, token_refreshed_at = now(),
                 token_refresh_failures = 0, token_refresh_after = null, token_expiring_notified_at = null
           where account_id = $1 and access_token_enc = $2",
    )
    .bind(account_id)
    .bind(old_enc)
    .bind(new_enc)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed refresh: one more failure, the next try after `backoff_secs`. Returns the
/// time to announce `account.token_expiring` at when the CRM was not told within the last day
/// (the notice time is recorded), else `None`.
///
/// # Errors
/// Postgres errors.
pub async fn back_off_token_refresh(
    conn: &mut PgConnection,
    account_id: Uuid,
    backoff_secs: f64,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar(
        r"update accounts
             set token_refresh_failures = token_refresh_failures + 1,
                 token_refresh_after = now() + make_interval(secs => $2),
                 token_expiring_notified_at = case
                     when token_expiring_notified_at is null or token_expiring_notified_at < now() - interval '1 day'
                     then now() else token_expiring_notified_at end
           where account_id = $1
          returning case when token_expiring_notified_at = now() then now() end",
    )
    .bind(account_id)
    .bind(backoff_secs)
    .fetch_one(&mut *conn)
    .await
}

/// The counts behind the scheduler's operational gauges.
#[derive(Debug, Clone, Default)]
pub struct OpsCounts {
    /// Deliveries in the DLQ.
    pub dlq: i64,
    /// Endpoints whose circuit is open now.
    pub circuits_open: i64,
    /// Dead jobs per kind.
    pub dead_jobs: Vec<(String, i64)>,
    /// Accounts per status.
    pub accounts: Vec<(String, i64)>,
}

/// Reads [`OpsCounts`].
///
/// # Errors
/// Postgres errors.
pub async fn ops_counts(db: &PgPool) -> Result<OpsCounts, sqlx::Error> {
    // The admin console's overview reads the same counts (`db::console::gauge_counts`).
    let (dlq, circuits_open, accounts) = super::console::gauge_counts(&mut *db.acquire().await?).await?;
    let dead_jobs = sqlx::query_as("select kind, count(*) from dead_jobs group by kind").fetch_all(db).await?;
    Ok(OpsCounts { dlq, circuits_open, dead_jobs, accounts })
}
