//! `router-worker` binary: validates configuration, connects Postgres and Redis (both mandatory),
//! serves `/healthz` `/readyz` `/metrics` on `WORKER_METRICS_PORT`, runs the claim loop, and
//! stops cleanly on SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use router_core::config::Config;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprint!("router-worker: {e}");
            return ExitCode::from(2);
        }
    };
    let _sentry = router_core::telemetry::init_sentry(&config, "router-worker");
    router_core::telemetry::init_tracing(config.log_format, "info,router_worker=info,router_core=info,sqlx=warn");
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "router-worker failed");
            eprintln!("router-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let db = router_core::db::connect_owner_pool(&config.database_url, config.database_max_connections)
        .await
        .context("cannot connect to Postgres (DATABASE_URL)")?;
    let redis = router_core::redis::connect(&config.redis_url).await.context("Redis is required (REDIS_URL)")?;
    let cancel = CancellationToken::new();
    let probes = router_core::ops::Probes {
        db: db.clone(),
        redis: redis.clone(),
        metrics: router_core::telemetry::metrics_handle_for(router_core::telemetry::Component::Worker),
    };
    let addr = router_core::ops::serve(
        SocketAddr::from((config.bind_address, config.worker_metrics_port)),
        probes,
        cancel.clone(),
    )
    .await
    .context("cannot bind WORKER_METRICS_PORT")?;
    tracing::info!(%addr, "worker ops endpoints listening");
    let limiter = router_core::redis::RateLimiter::new(redis, &config.redis_key_prefix);
    let ctx = Arc::new(router_worker::jobs::JobContext::new(db, Arc::new(config), limiter));
    let runner = router_worker::runner::Runner::new(ctx);
    let c = cancel.clone();
    tokio::spawn(async move {
        router_core::ops::shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing running jobs");
        c.cancel();
    });
    runner.run(cancel).await;
    Ok(())
}
