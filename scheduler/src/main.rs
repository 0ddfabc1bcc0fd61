//! `router-scheduler` binary: the shared start-up (`router_core::bootstrap`), then the schedule
//! and the maintenance runner until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use router_core::bootstrap::{self, Background};
use router_core::config::Config;
use router_core::telemetry::Component;

/// The scheduler's pool: leadership has its own session; ticks, gauges and maintenance share these.
const POOL_SIZE: u32 = 5;

#[tokio::main]
async fn main() -> ExitCode {
    bootstrap::run(Component::Scheduler, run).await
}

async fn run(config: Config) -> anyhow::Result<()> {
    let ports = (config.scheduler_metrics_port, "SCHEDULER_METRICS_PORT");
    let Background { db, redis, cancel } =
        bootstrap::connect_background(&config, Component::Scheduler, POOL_SIZE, ports).await?;
    let (_leadership, fut) = router_scheduler::start(Arc::new(config), db, redis, cancel);
    fut.await?;
    tracing::info!("router-scheduler stopped cleanly");
    Ok(())
}
