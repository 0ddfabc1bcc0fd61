//! The scheduler's task table.

use std::sync::Arc;
use std::time::Duration;

use router_core::config::Config;
use sqlx::PgPool;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

/// Everything a tick needs.
#[derive(Clone)]
pub struct SchedulerContext {
    pub db: PgPool,
    pub config: Arc<Config>,
}

/// Starts the cron scheduler and runs until `cancel`.
///
/// # Errors
/// The scheduler cannot start.
pub async fn run(ctx: SchedulerContext, cancel: CancellationToken) -> anyhow::Result<()> {
    let mut sched = JobScheduler::new().await?;
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
    // Once at start, so gauges exist before the first tick.
    if let Err(e) = crate::gauges::refresh(&ctx.db).await {
        tracing::warn!(error = ?e, "refreshing queue gauges failed");
    }
    sched.start().await?;
    cancel.cancelled().await;
    sched.shutdown().await?;
    Ok(())
}
