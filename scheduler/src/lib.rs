//! `router-scheduler`: periodic work.
//!
//! tokio-cron-scheduler fires on every replica, so a tick never does work itself when the work
//! must happen once: it enqueues a `maintenance` job keyed by its time slot
//! (`cron:{task}:{slot}`, unique), and N replicas produce one job. Gauges (queue depth, oldest job
//! age, DLQ size, open circuits, dead jobs) are cheap reads that every replica refreshes for its
//! own `/metrics` (dashboards take the max over replicas). Expired job leases need no task: the
//! claim query itself takes over a job whose lease ran out.
//!
//! # Layout
//! - [`schedule`]: the task table and the tick → enqueue logic.
//! - [`maintenance`]: the `maintenance` job handler (DLQ promotion, idempotency cleanup, token
//!   refresh, retention) that this process's runner runs.
//! - [`gauges`]: queue, DLQ and circuit gauges.
//! - [`leader`]: advisory-lock leadership (one active replica, hot standbys).

pub mod gauges;
pub mod leader;
pub mod maintenance;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use router_core::config::Config;
use router_core::jobs::{JobContext, Runner};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Runs one scheduler replica until `cancel`: leadership contention, the cron ticks, the gauges
/// and a runner for `maintenance` jobs. Returns the leadership handle right away (tests watch it)
/// and a future that completes on shutdown.
pub fn start(
    config: Arc<Config>,
    db: PgPool,
    redis: ConnectionManager,
    cancel: CancellationToken,
) -> (leader::Leadership, impl std::future::Future<Output = anyhow::Result<()>>) {
    let leadership = leader::Leadership::default();
    let l = leadership.clone();
    let fut = async move {
        let lead = tokio::spawn(l.clone().run(config.database_url.clone(), Duration::from_secs(5), cancel.clone()));
        let limiter = router_core::redis::RateLimiter::new(redis, &config.redis_key_prefix);
        let ctx = Arc::new(JobContext::new(db.clone(), config.clone(), limiter));
        let runner = Runner::new(ctx, maintenance::registry());
        let work = tokio::spawn(runner.run(cancel.clone()));
        let result = schedule::run(schedule::SchedulerContext { db, config, leadership: l }, cancel.clone()).await;
        cancel.cancel();
        let _ = work.await;
        let _ = lead.await;
        result
    };
    (leadership, fut)
}
