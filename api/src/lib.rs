//! `router-api`: the REST API, the Instagram webhook receiver and the OAuth callback.
//!
//! The binary is a thin `main.rs` over this library so tests (and the benchmark) start the very
//! same router on port 0: [`build_state`] connects everything (failing fast when Postgres or Redis
//! is missing), [`build_router`] assembles routes and middleware, [`serve`] runs until cancelled.
//!
//! # Layout
//! - `routes/`: one module per resource (messages, accounts, admin, health).
//! - [`admin`]: the admin console at `/admin` (server-rendered HTML, sessions, CSRF).
//! - [`outbox`]: group commit of accepted messages (message + history + job, one transaction).
//! - [`ingest`]: group commit of Meta webhook POSTs (events + CRM delivery jobs, one transaction).
//! - [`auth`]: API key authentication and scope checks (extractors).
//! - [`error`]: `ApiError` and the JSON error body with `correlation_id`.
//! - [`openapi`]: the utoipa document and the bearer scheme; Swagger UI is served at `/docs`.
//! - [`redoc`]: ReDoc at `/redoc`, from a vendored bundle (works offline).
//! - [`state`]: `AppState` and the batched `last_used_at` recorder.
//! - [`cli`]: `migrate`, `create-admin-key`, `openapi`.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod error;
pub mod ingest;
pub mod openapi;
pub mod outbox;
pub mod pagination;
pub mod redoc;
pub mod routes;
pub mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use router_core::config::Config;
use router_core::graph::Graphs;
use router_core::redis::RateLimiter;
use router_core::route_cache::{self, RouteCache};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::{AppState, KeyUsage};

/// Connects Postgres (as the RLS-bound role) and Redis, both mandatory.
///
/// # Errors
/// A dependency is unreachable; the message names it.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let db = router_core::db::connect_app_pool(&config.api().database_app_url, config.database_max_connections)
        .await
        .context("cannot connect to Postgres (DATABASE_APP_URL / DATABASE_URL)")?;
    check_login_role(&db, config.is_production()).await?;
    let redis = router_core::redis::connect(&config.redis_url).await.context("Redis is required (REDIS_URL)")?;
    let graphs = Graphs::from_config(&config);
    let limiter = RateLimiter::new(redis.clone(), &config.redis_key_prefix);
    // One committer batches best (docs/PERFORMANCE.md, committer experiment).
    let outbox = outbox::Outbox::start(db.clone(), config.api().idempotency_ttl.as_secs_f64(), 1);
    let ingest = ingest::Ingest::start(db.clone(), RouteCache::new(config.api().route_cache_ttl));
    let key_cache = Arc::new(state::KeyCache::new(config.api().api_key_cache_ttl));
    Ok(AppState {
        db,
        config: Arc::new(config),
        graphs,
        redis,
        limiter,
        key_usage: Arc::new(KeyUsage::default()),
        metrics: router_core::telemetry::metrics_handle_for(router_core::telemetry::Component::Api),
        outbox,
        ingest,
        key_cache,
    })
}

/// Production refuses an API login role that could escape row-level security (a superuser, a
/// BYPASSRLS role, a table owner, or a member of one): one SQL injection would otherwise read
/// every tenant. Development only warns, because local setups log in as `postgres`.
async fn check_login_role(db: &sqlx::PgPool, production: bool) -> anyhow::Result<()> {
    let problems = router_core::db::app_role_problems(db).await.context("cannot inspect the API's login role")?;
    let Some(first) = problems.first() else {
        return Ok(());
    };
    let hint = "use a dedicated login role that is only a member of router_app (deploy/postgres/app-role.sql)";
    if production {
        anyhow::bail!("DATABASE_APP_URL: {first} ({} problem(s)); {hint}", problems.len());
    }
    tracing::warn!(problem = %first, count = problems.len(), "the API's database login role can bypass row-level security; {hint}");
    Ok(())
}

/// Request metrics. Every label comes from a fixed set, so no request (authenticated or not) can
/// add label values: `route` is a matched route template or `unmatched`, `method` one of the
/// standard methods or `other`, `status` a three-digit code. An attacker inventing methods or
/// paths would otherwise grow `/metrics` and Prometheus without bound.
async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("router_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("router_http_request_duration_seconds", "route" => route).record(start.elapsed().as_secs_f64());
    resp
}

/// The `method` label: a standard method's name, or `other` for anything invented.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Swagger UI's options, as the seed asks: authorization kept across reloads, each request's
/// duration shown, a filter box over the operations; no call to the public validator (offline).
fn swagger_config() -> utoipa_swagger_ui::Config<'static> {
    utoipa_swagger_ui::Config::default()
        .persist_authorization(true)
        .display_request_duration(true)
        .filter(true)
        .validator_url("none")
}

/// Routes and middleware. Outermost first: request id (a client's checked, else a fresh one) → trace span → error rendering → CORS →
/// body limit → timeout → routes.
pub fn build_router(state: AppState) -> Router {
    let (api, openapi) = routes::api_router(<openapi::ApiDoc as utoipa::OpenApi>::openapi()).split_for_parts();
    let x_request_id = HeaderName::from_static("x-request-id");

    let cors = {
        let origins: Vec<HeaderValue> =
            state.config.api().cors_allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                x_request_id.clone(),
            ])
            .expose_headers([x_request_id.clone(), HeaderName::from_static("idempotent-replayed")])
            .max_age(Duration::from_secs(600))
    };
    let max_body = state.config.api().max_body_bytes;

    Router::new()
        .merge(api)
        .merge(
            SwaggerUi::new("/docs")
                .external_url_unchecked("/openapi.json", crate::openapi::finished(&openapi))
                .config(swagger_config()),
        )
        .merge(redoc::router())
        .merge(admin::router(&state.config))
        .merge(routes::health::router())
        .route_layer(middleware::from_fn(track_metrics))
        .with_state(state)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(DefaultBodyLimit::max(max_body))
        // Hard cap for any body (the route-level DefaultBodyLimit decides the real limit: the API's
        // MAX_BODY_BYTES, or more for Meta's batched webhooks).
        .layer(RequestBodyLimitLayer::new(max_body.max(routes::INBOUND_MAX_BODY_BYTES)))
        .layer(cors)
        .layer(middleware::from_fn(error::finalize_errors))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    // Path only: query strings can carry OAuth codes and state.
                    tracing::info_span!("http", request_id, method = %req.method(), path = %req.uri().path(),
                        api_key_id = tracing::field::Empty)
                })
                .on_request(())
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(middleware::from_fn(drop_odd_request_id))
}

/// A client's `X-Request-Id` is kept only when it is a short plain token (1–128 of
/// `A–Z a–z 0–9 . _ : -`); anything else is dropped and replaced by a fresh UUID. The id is
/// echoed in the response and the error body and written to every log line of the request, so
/// an unchecked one lets anyone put 16 KB or quotes and braces into each of them.
async fn drop_odd_request_id(mut req: Request, next: Next) -> Response {
    let plain = |v: &HeaderValue| {
        let b = v.as_bytes();
        (1..=128).contains(&b.len()) && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c))
    };
    let headers = req.headers_mut();
    if headers.get_all("x-request-id").iter().count() > 1 || headers.get("x-request-id").is_some_and(|v| !plain(v)) {
        headers.remove("x-request-id");
    }
    next.run(req).await
}

/// Serves `router` on `listener` until `cancel`, flushing key usage on the way out; holds the route
/// cache's LISTEN connection meanwhile.
///
/// # Errors
/// The server fails.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let flusher =
        tokio::spawn(state.key_usage.clone().run_flusher(state.db.clone(), Duration::from_secs(5), cancel.clone()));
    let routes = tokio::spawn(route_cache::listen(state.db.clone(), state.ingest.route_cache(), cancel.clone()));
    let app = build_router(state);
    // TCP_NODELAY: a response is written as soon as it is ready, never held for the ACK of the
    // previous segment (with the client's delayed ACK that stall is 40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    // The peer address feeds the console's failed sign-in limit (per client address).
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .await?;
    cancel.cancel();
    let _ = flusher.await;
    let _ = routes.await;
    Ok(())
}
