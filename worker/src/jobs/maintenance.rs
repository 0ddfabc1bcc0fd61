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
                let n = sqlx::query(
                    r"delete from idempotency_keys where ctid in (
                          select ctid from idempotency_keys where expires_at < now() limit $1 for update skip locked)",
                )
                .bind(BATCH)
                .execute(&ctx.db)
                .await?
                .rows_affected();
                total += n;
                if n < BATCH as u64 {
                    break;
                }
            }
            total
        }
        other => return Ok(Outcome::Dead { error: format!("unknown maintenance task {other:?}") }),
    };
    tracing::debug!(task, rows = done, "maintenance task finished");
    queue::complete(&mut *ctx.db.acquire().await?, job.job_id, job.lock_token).await?;
    Ok(Outcome::Done)
}
