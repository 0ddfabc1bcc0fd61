//! `maintenance`: periodic housekeeping, enqueued by the scheduler once per time slot
//! (`cron:{task}:{slot}`), so it runs once however many scheduler replicas tick.
//!
//! Every task is set-based SQL that is safe to run twice (`SKIP LOCKED`, idempotent updates) and
//! works in bounded batches, looping while batches come back full.

use router_core::db::deliveries;
use router_core::queue::{self, ClaimedJob};

use super::{JobContext, Outcome};

/// Task names (payload `task`).
pub mod tasks {
    /// Pending CRM deliveries past the retry horizon → DLQ.
    pub const DLQ_PROMOTION: &str = "dlq_promotion";
    /// Expired idempotency keys → deleted.
    pub const IDEMPOTENCY_CLEANUP: &str = "idempotency_cleanup";
    /// Long-lived Instagram tokens close to expiry → refreshed.
    pub const TOKEN_REFRESH: &str = "token_refresh";
    /// Message content older than `RETENTION_DAYS` → erased.
    pub const RETENTION: &str = "retention";
}

const BATCH: i64 = 1000;

/// Runs one maintenance task.
///
/// # Errors
/// Database failures (the runner retries).
pub async fn run(ctx: &JobContext, job: &ClaimedJob) -> anyhow::Result<Outcome> {
    let task = job.payload.get("task").and_then(|t| t.as_str()).unwrap_or_default().to_owned();
    let done = match task.as_str() {
        tasks::DLQ_PROMOTION => {
            let mut total = 0;
            loop {
                let n = deliveries::promote_expired(
                    &mut *ctx.db.acquire().await?,
                    ctx.config.webhook_retry_horizon.as_secs_f64(),
                    BATCH,
                )
                .await?;
                total += n;
                if n < BATCH as u64 {
                    break;
                }
            }
            if total > 0 {
                metrics::counter!("router_webhook_deliveries_total", "result" => "dlq").increment(total);
                tracing::warn!(moved = total, "deliveries past the retry horizon moved to the DLQ");
            }
            total
        }
        tasks::IDEMPOTENCY_CLEANUP => {
            let mut total = 0;
            loop {
                let n: i64 = sqlx::query_scalar(
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
                .bind(BATCH)
                .fetch_one(&ctx.db)
                .await?;
                total += n as u64;
                if n < BATCH {
                    break;
                }
            }
            total
        }
        tasks::TOKEN_REFRESH => refresh_tokens(ctx).await?,
        tasks::RETENTION => {
            let done = router_core::lifecycle::purge_old_content(&ctx.db, ctx.config.retention_days, BATCH).await?;
            tracing::info!(?done, "retention purge finished");
            done.values().sum()
        }
        other => return Ok(Outcome::Dead { error: format!("unknown maintenance task {other:?}") }),
    };
    tracing::debug!(task, rows = done, "maintenance task finished");
    queue::complete(&mut *ctx.db.acquire().await?, job.job_id, job.lock_token).await?;
    Ok(Outcome::Done)
}

#[derive(sqlx::FromRow)]
struct DueToken {
    account_id: uuid::Uuid,
    merchant_id: uuid::Uuid,
    instagram_account_id: String,
    access_token_enc: String,
    sandbox: bool,
    token_refresh_failures: i32,
    token_expires_at: Option<time::OffsetDateTime>,
}

/// Refreshes long-lived tokens that are at least 24 h old and expire within
/// `TOKEN_REFRESH_WINDOW_DAYS` (Meta's rule and Chatwoot's policy, research §6.1). A token whose
/// expiry is unknown is assumed to live 60 days from its last refresh. Failures back off
/// exponentially (5 min doubling, at most 6 h), count in `router_token_refresh_total{result="failure"}`
/// and tell the CRM once a day (`account.token_expiring`); Meta answering 190 marks the account
/// `error` (`account.disabled`).
///
/// One account's trouble is that account's: a token that cannot be decrypted (corrupted row, key
/// version no longer configured) or a sandbox account without a sandbox Graph API is recorded and
/// backed off like any failed refresh, and the run goes on with the others. Before, it aborted
/// the whole run and, sorting first, aborted every later run too, so no token of the fleet was
/// refreshed. Only database errors (the run cannot record anything) end the run.
async fn refresh_tokens(ctx: &JobContext) -> anyhow::Result<u64> {
    let due: Vec<DueToken> = sqlx::query_as(
        r"select account_id, merchant_id, instagram_account_id, access_token_enc, sandbox, token_refresh_failures, token_expires_at
            from accounts
           where deleted_at is null and status = 'active'
             and coalesce(token_expires_at, coalesce(token_refreshed_at, created_at) + interval '60 days')
                 < now() + make_interval(days => $1)
             and coalesce(token_refreshed_at, created_at) < now() - interval '24 hours'
             and (token_refresh_after is null or token_refresh_after <= now())
           order by token_expires_at nulls first
           limit 200",
    )
    .bind(ctx.config.token_refresh_window_days as i32)
    .fetch_all(&ctx.db)
    .await?;
    let mut refreshed = 0;
    for a in due {
        if refresh_one(ctx, &a).await? {
            refreshed += 1;
        }
    }
    Ok(refreshed)
}

/// Refreshes one account's token; true when refreshed. Every failure specific to the account is
/// recorded on its row; only database errors are returned.
async fn refresh_one(ctx: &JobContext, a: &DueToken) -> anyhow::Result<bool> {
    use router_core::crypto::DecryptError;
    use router_core::graph::ErrorClass;
    use secrecy::ExposeSecret;

    let graph = if a.sandbox { ctx.sandbox_graph.as_ref() } else { Some(&ctx.graph) };
    let Some(graph) = graph else {
        metrics::counter!("router_token_refresh_total", "result" => "failure").increment(1);
        tracing::warn!(account.id = %a.account_id, "token refresh: sandbox account but no sandbox Graph API; backing off");
        back_off(ctx, a, "sandbox_not_configured").await?;
        return Ok(false);
    };
    let token = match ctx.config.keyring.decrypt(&a.access_token_enc) {
        Ok(t) => t,
        Err(e) => {
            // The kind only: neither the ciphertext nor anything decrypted reaches the log.
            let kind = match e {
                DecryptError::Malformed => "malformed",
                DecryptError::UnknownKeyVersion(_) => "unknown_key_version",
                DecryptError::Authentication(_) => "authentication_failed",
            };
            metrics::counter!("router_token_refresh_total", "result" => "failure").increment(1);
            tracing::error!(account.id = %a.account_id, kind,
                "token refresh: the stored token cannot be decrypted; account backed off, others continue");
            back_off(ctx, a, "token_undecryptable").await?;
            return Ok(false);
        }
    };
    match graph.refresh_token(&token).await {
        Ok(grant) => {
            let expires =
                time::OffsetDateTime::now_utc() + time::Duration::seconds(grant.expires_in.unwrap_or(5_184_000));
            sqlx::query(
                r"update accounts
                     set access_token_enc = $3, token_expires_at = $4, token_refreshed_at = now(),
                         token_refresh_failures = 0, token_refresh_after = null, token_expiring_notified_at = null
                   where account_id = $1 and access_token_enc = $2",
            )
            .bind(a.account_id)
            .bind(&a.access_token_enc)
            .bind(ctx.config.keyring.encrypt(grant.access_token.expose_secret()))
            .bind(expires)
            .execute(&ctx.db)
            .await?;
            metrics::counter!("router_token_refresh_total", "result" => "success").increment(1);
            Ok(true)
        }
        Err(e) if e.class() == ErrorClass::TokenInvalid => {
            metrics::counter!("router_token_refresh_total", "result" => "failure").increment(1);
            tracing::warn!(account.id = %a.account_id, "token refresh: Meta rejected the token; account marked error");
            let mut tx = ctx.db.begin().await?;
            router_core::lifecycle::mark_token_invalid(
                &mut tx,
                a.merchant_id,
                a.account_id,
                &a.instagram_account_id,
                &e.error_code(),
            )
            .await?;
            tx.commit().await?;
            Ok(false)
        }
        Err(e) => {
            metrics::counter!("router_token_refresh_total", "result" => "failure").increment(1);
            tracing::warn!(account.id = %a.account_id, error = %e, "token refresh failed; will retry with backoff");
            back_off(ctx, a, &e.error_code()).await?;
            Ok(false)
        }
    }
}

/// Records a failed refresh on the account: the failure count, the next attempt after an
/// exponential backoff (so the row stops sorting first), and `account.token_expiring` to the CRM
/// at most once a day (`reason` says why; a new token through `PUT /accounts/{id}` fixes them all).
async fn back_off(ctx: &JobContext, a: &DueToken, reason: &str) -> anyhow::Result<()> {
    let backoff_secs = (300.0 * 2f64.powi(a.token_refresh_failures.min(10))).min(21_600.0);
    let mut tx = ctx.db.begin().await?;
    let notify: Option<time::OffsetDateTime> = sqlx::query_scalar(
        r"update accounts
             set token_refresh_failures = token_refresh_failures + 1,
                 token_refresh_after = now() + make_interval(secs => $2),
                 token_expiring_notified_at = case
                     when token_expiring_notified_at is null or token_expiring_notified_at < now() - interval '1 day'
                     then now() else token_expiring_notified_at end
           where account_id = $1
          returning case when token_expiring_notified_at = now() then now() end",
    )
    .bind(a.account_id)
    .bind(backoff_secs)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(at) = notify {
        router_core::webhooks::enqueue_events(
            &mut tx,
            &[router_core::webhooks::CrmEvent {
                merchant_id: a.merchant_id,
                account_id: a.account_id,
                event_type: router_core::domain::events::ACCOUNT_TOKEN_EXPIRING,
                event_id: format!("acct:{}:token_expiring:{}", a.account_id, at.date()),
                data: serde_json::json!({
                    "account_id": a.account_id,
                    "instagram_account_id": a.instagram_account_id,
                    "token_expires_at": a.token_expires_at.map(router_core::webhooks::rfc3339),
                    "reason": reason,
                    "failed_attempts": a.token_refresh_failures + 1,
                    "timestamp": router_core::webhooks::rfc3339(at),
                }),
                conversation: None,
            }],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
