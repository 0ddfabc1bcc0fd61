//! The small HTTP server every non-API binary runs: `/healthz`, `/readyz`, `/metrics`.
//!
//! `/healthz` answers while the process lives; `/readyz` checks Postgres and Redis (503 with the
//! failing dependency named otherwise); `/metrics` renders the Prometheus registry.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// What the readiness probe checks.
#[derive(Clone)]
pub struct Probes {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub metrics: PrometheusHandle,
}

/// Checks Postgres and Redis; `(ready, body)`.
pub async fn readiness(db: &PgPool, redis: &ConnectionManager) -> (bool, serde_json::Value) {
    let pg =
        tokio::time::timeout(std::time::Duration::from_secs(2), crate::db::ping(db)).await.is_ok_and(|r| r.is_ok());
    let mut r = redis.clone();
    let rd = crate::redis::ping(&mut r).await.is_ok();
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    (pg && rd, serde_json::json!({"status": status(pg && rd), "postgres": status(pg), "redis": status(rd)}))
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(p): State<Probes>) -> impl IntoResponse {
    let (ok, body) = readiness(&p.db, &p.redis).await;
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

async fn render_metrics(State(p): State<Probes>) -> impl IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], p.metrics.render())
}

/// The ops router.
pub fn router(probes: Probes) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(probes)
}

/// Binds `addr` and serves the ops router until `cancel`. Returns the bound address.
///
/// # Errors
/// The port cannot be bound.
pub async fn serve(addr: SocketAddr, probes: Probes, cancel: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        let r = axum::serve(listener, router(probes)).with_graceful_shutdown(cancel.cancelled_owned()).await;
        if let Err(e) = r {
            tracing::error!(error = ?e, "ops server stopped with an error");
        }
    });
    Ok(local)
}

/// Resolves when SIGTERM or Ctrl-C arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
