//! `router-worker` binary: the shared start-up (`router_core::bootstrap`), then the claim loop
//! over the worker's job kinds until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use router_core::bootstrap::{self, Background};
use router_core::config::Config;
use router_core::jobs::JobContext;
use router_core::redis::RateLimiter;
use router_core::telemetry::Component;

#[tokio::main]
async fn main() -> ExitCode {
    bootstrap::run(Component::Worker, run).await
}

async fn run(config: Config) -> anyhow::Result<()> {
    let ports = (config.worker_metrics_port, "WORKER_METRICS_PORT");
    let Background { db, redis, cancel } =
        bootstrap::connect_background(&config, Component::Worker, config.database_max_connections, ports).await?;
    let limiter = RateLimiter::new(redis, &config.redis_key_prefix);
    let ctx = Arc::new(JobContext::new(db, Arc::new(config), limiter));
    router_worker::runner(ctx).run(cancel).await;
    Ok(())
}
