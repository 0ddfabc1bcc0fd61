//! The start-up the three binaries share (DESIGN §2): `.env` in development, the configuration
//! sections the binary uses (exit code 2 and one line per problem otherwise), Sentry, tracing,
//! and the exit code of the run (1, with the error chain on stderr and in the log). The worker
//! and the scheduler also share [`connect_background`]: the owner pool, Redis (both mandatory),
//! the ops endpoints and the SIGTERM handler.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Section};
use crate::telemetry::{self, Component};

impl Component {
    /// The binary's name (log lines, Sentry's `server_name`, stderr prefix).
    #[must_use]
    pub fn binary(self) -> &'static str {
        match self {
            Self::Api => "router-api",
            Self::Worker => "router-worker",
            Self::Scheduler => "router-scheduler",
        }
    }

    /// The configuration sections it reads.
    #[must_use]
    pub fn section(self) -> Section {
        match self {
            Self::Api => Section::Api,
            Self::Worker | Self::Scheduler => Section::Shared,
        }
    }

    /// Its log filter when `RUST_LOG` is unset.
    #[must_use]
    pub fn default_log_filter(self) -> &'static str {
        match self {
            Self::Api => "info,router_api=info,router_core=info,sqlx=warn",
            Self::Worker => "info,router_worker=info,router_core=info,sqlx=warn",
            Self::Scheduler => "info,router_scheduler=info,router_core=info,sqlx=warn",
        }
    }
}

/// Runs a binary: reads its configuration (exit 2 on problems), starts Sentry and tracing, runs
/// `body` and turns its result into the exit code.
pub async fn run<F, Fut>(component: Component, body: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let name = component.binary();
    let _ = dotenvy::dotenv();
    let config = match Config::from_env(component.section()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let _sentry = telemetry::init_sentry(&config, name);
    telemetry::init_tracing(config.log_format, component.default_log_filter());
    match body(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format_args!("{e:#}"), "{name} failed");
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a background binary (worker, scheduler) runs on.
pub struct Background {
    /// Owner pool (bypasses RLS: these processes work across tenants).
    pub db: PgPool,
    /// Redis (mandatory).
    pub redis: ConnectionManager,
    /// Cancelled on SIGTERM / Ctrl-C.
    pub cancel: CancellationToken,
}

/// Connects Postgres (`pool_size` connections as the owner) and Redis, failing fast when either
/// is unreachable; serves `/healthz`, `/readyz`, `/metrics` on `port` (named `port_var` in
/// errors); and cancels [`Background::cancel`] on SIGTERM.
///
/// # Errors
/// A dependency is unreachable or the port cannot be bound; the message names it.
pub async fn connect_background(
    config: &Config,
    component: Component,
    pool_size: u32,
    (port, port_var): (u16, &str),
) -> anyhow::Result<Background> {
    let db = match component {
        Component::Worker => crate::db::connect_worker_pool(&config.database_url, pool_size).await,
        _ => crate::db::connect_owner_pool(&config.database_url, pool_size).await,
    }
    .context("cannot connect to Postgres (DATABASE_URL)")?;
    let redis = crate::redis::connect(&config.redis_url).await.context("Redis is required (REDIS_URL)")?;
    let cancel = CancellationToken::new();
    let probes =
        crate::ops::Probes { db: db.clone(), redis: redis.clone(), metrics: telemetry::metrics_handle_for(component) };
    let addr = crate::ops::serve(SocketAddr::from((config.bind_address, port)), probes, cancel.clone())
        .await
        .with_context(|| format!("cannot bind {port_var}"))?;
    tracing::info!(%addr, "{} ops endpoints listening", component.binary());
    let c = cancel.clone();
    tokio::spawn(async move {
        crate::ops::shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing running jobs");
        c.cancel();
    });
    Ok(Background { db, redis, cancel })
}
