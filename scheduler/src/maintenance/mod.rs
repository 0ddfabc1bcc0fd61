//! `maintenance` jobs: periodic housekeeping, enqueued by the scheduler once per time slot
//! (`cron:{task}:{slot}`), so it runs once however many scheduler replicas tick, and run by the
//! scheduler's own runner.
//!
//! Every task is set-based SQL (`router_core::db`) that is safe to run twice (`SKIP LOCKED`,
//! idempotent updates) and works in bounded batches, looping while batches come back full.

use router_core::db::{deliveries, housekeeping};
use router_core::jobs::{JobContext, JobHandler, Maintenance, MaintenanceTask, Outcome, Registry};
use router_core::queue::{self, ClaimedJob};

mod token_refresh;

/// Rows per statement.
const BATCH: i64 = 1000;

/// The kinds the scheduler runs.
#[must_use]
pub fn registry() -> Registry {
    Registry::new().with(MaintenanceHandler)
}

/// Runs [`Maintenance`] jobs.
pub struct MaintenanceHandler;

impl JobHandler for MaintenanceHandler {
    type Job = Maintenance;

    async fn run(&self, ctx: &JobContext, claimed: &ClaimedJob, job: Maintenance) -> anyhow::Result<Outcome> {
        let rows = match job.task {
            MaintenanceTask::DlqPromotion => promote_to_dlq(ctx).await?,
            MaintenanceTask::IdempotencyCleanup => clean_up_idempotency_keys(ctx).await?,
            MaintenanceTask::TokenRefresh => token_refresh::run(ctx).await?,
            MaintenanceTask::Retention => {
                let done = router_core::lifecycle::purge_old_content(&ctx.db, ctx.config.retention_days, BATCH).await?;
                tracing::info!(?done, "retention purge finished");
                done.values().sum()
            }
            MaintenanceTask::AnalyticsRollup => {
                let rows = router_core::analytics::roll_up_recent(&ctx.db, time::OffsetDateTime::now_utc()).await?;
                u64::try_from(rows).unwrap_or(u64::MAX)
            }
        };
        tracing::debug!(task = job.task.as_str(), rows, "maintenance task finished");
        queue::complete(&mut *ctx.db.acquire().await?, claimed.job_id, claimed.lock_token).await?;
        Ok(Outcome::Done)
    }
}

/// Pending CRM deliveries past the retry horizon → DLQ (stragglers whose job is stuck).
async fn promote_to_dlq(ctx: &JobContext) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let horizon = ctx.config.webhook_retry_horizon.as_secs_f64();
        let n = deliveries::promote_expired(&mut *ctx.db.acquire().await?, horizon, BATCH).await?;
        total += n;
        if n < BATCH as u64 {
            break;
        }
    }
    if total > 0 {
        metrics::counter!("router_webhook_deliveries_total", "result" => "dlq").increment(total);
        tracing::warn!(moved = total, "deliveries past the retry horizon moved to the DLQ");
    }
    Ok(total)
}

/// Expired idempotency keys and week-old cron slots → deleted.
async fn clean_up_idempotency_keys(ctx: &JobContext) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let n = housekeeping::delete_expired_keys_and_slots(&ctx.db, BATCH).await?;
        total += n as u64;
        if n < BATCH {
            break;
        }
    }
    Ok(total)
}
