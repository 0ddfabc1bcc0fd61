//! The scheduler's task table and tick → enqueue logic.
//!
//! tokio-cron-scheduler fires on every replica; a tick does nothing unless this replica leads,
//! and then only enqueues a `maintenance` job whose `unique_key` is `cron:{task}:{slot}` (the
//! period-aligned start of the slot), so even two leaders for a moment produce one job. The
//! scheduler process also runs a runner for `maintenance` jobs ([`crate::maintenance`]), which
//! does the work.

use std::sync::Arc;
use std::time::Duration;

use router_core::config::Config;
use router_core::db::housekeeping;
use router_core::jobs::{Maintenance, MaintenanceTask};
use router_core::queue;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::leader::Leadership;

/// Periodic tasks and their period.
pub const TASKS: &[(MaintenanceTask, Duration)] = &[
    (MaintenanceTask::DlqPromotion, Duration::from_secs(60)),
    (MaintenanceTask::IdempotencyCleanup, Duration::from_secs(3600)),
    (MaintenanceTask::TokenRefresh, Duration::from_secs(3600)),
    (MaintenanceTask::Retention, Duration::from_secs(3600)),
    // Reports lag by at most this plus the run time; each run recomputes the last two hours.
    (MaintenanceTask::AnalyticsRollup, Duration::from_secs(300)),
];

/// Everything a tick needs.
#[derive(Clone)]
pub struct SchedulerContext {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub leadership: Leadership,
}

/// The slot a tick at `now` belongs to.
#[must_use]
pub fn slot(now: OffsetDateTime, period: Duration) -> i64 {
    let p = period.as_secs().max(1) as i64;
    now.unix_timestamp().div_euclid(p) * p
}

/// Enqueues `task` for the current slot if this replica leads. Returns the job id when a job was
/// created (None: not leader, or the slot already has its job).
///
/// # Errors
/// Postgres errors.
pub async fn tick(ctx: &SchedulerContext, task: MaintenanceTask, period: Duration) -> Result<Option<i64>, sqlx::Error> {
    if !ctx.leadership.is_leader() {
        return Ok(None);
    }
    let slot = slot(OffsetDateTime::now_utc(), period);
    let mut tx = ctx.db.begin().await?;
    // The slot is claimed in the same transaction as the job: a slot whose job already ran (and
    // was deleted) is not enqueued again by a later tick or another replica.
    if !housekeeping::claim_cron_slot(&mut tx, task.as_str(), slot).await? {
        return Ok(None);
    }
    let id = queue::enqueue(&mut tx, Maintenance::for_slot(task, slot)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Starts the cron scheduler (ticks + gauges) and runs until `cancel`.
///
/// # Errors
/// The scheduler cannot start.
pub async fn run(ctx: SchedulerContext, cancel: CancellationToken) -> anyhow::Result<()> {
    let mut sched = JobScheduler::new().await?;
    for &(task, period) in TASKS {
        let c = ctx.clone();
        sched
            .add(Job::new_repeated_async(period.min(Duration::from_secs(30)), move |_id, _l| {
                let c = c.clone();
                Box::pin(async move {
                    match tick(&c, task, period).await {
                        Ok(Some(id)) => tracing::debug!(task = task.as_str(), job.id = id, "periodic task enqueued"),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %format_args!("{e:#}"), task = task.as_str(), "enqueueing a periodic task failed"),
                    }
                })
            })?)
            .await?;
    }
    let c = ctx.clone();
    sched
        .add(Job::new_repeated_async(Duration::from_secs(15), move |_id, _l| {
            let c = c.clone();
            Box::pin(async move {
                if let Err(e) = crate::gauges::refresh(&c.db).await {
                    tracing::warn!(error = ?e, "refreshing queue gauges failed");
                }
            })
        })?)
        .await?;
    if let Err(e) = crate::gauges::refresh(&ctx.db).await {
        tracing::warn!(error = ?e, "refreshing queue gauges failed");
    }
    sched.start().await?;
    cancel.cancelled().await;
    sched.shutdown().await?;
    Ok(())
}
