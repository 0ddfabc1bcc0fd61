//! Logging and metrics setup shared by every binary.
//!
//! Logs: JSON in production, pretty in development, filtered by `RUST_LOG`. Nothing in this
//! codebase logs message text, tokens, secrets or API keys: spans use `skip_all` and opt fields
//! in; secrets are `SecretString`s. Metrics: one process-wide Prometheus recorder (`router_`
//! prefix, bounded label sets: never a message, user or account id as a label).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global tracing subscriber (once; later calls are ignored).
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Errors also go to Sentry when SENTRY_DSN is set (no-op otherwise); warnings become breadcrumbs.
    let registry = tracing_subscriber::registry().with(filter).with(sentry::integrations::tracing::layer());
    let _ = match format {
        LogFormat::Json => registry.with(json_layer(std::io::stdout)).try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer().compact()).try_init(),
    };
}

/// The production JSON log format: one object per line, the event's fields flattened, and the
/// whole span list (so every line of a request carries the `http` span's `request_id`).
pub fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(writer)
}

/// Starts Sentry error reporting when `SENTRY_DSN` is set. Keep the guard alive for the process's
/// lifetime: dropping it flushes pending events. Only what the logs hold is sent (no request
/// bodies, no PII): error events with their fields and span context.
#[must_use]
pub fn init_sentry(config: &crate::config::Config, binary: &'static str) -> Option<sentry::ClientInitGuard> {
    use secrecy::ExposeSecret;
    let dsn = config.sentry_dsn.as_ref()?;
    let guard = sentry::init((
        dsn.expose_secret(),
        sentry::ClientOptions {
            release: Some(concat!("message-router@", env!("CARGO_PKG_VERSION")).into()),
            environment: Some(if config.is_production() { "production" } else { "development" }.into()),
            server_name: Some(binary.into()),
            send_default_pii: false,
            ..Default::default()
        },
    ));
    Some(guard)
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use; tests share it).
///
/// # Panics
/// If another metrics recorder was installed first (a programming error).
pub fn metrics_handle() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let latency = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), latency)
                .expect("valid buckets")
                .install_recorder()
                .expect("metrics recorder installed once");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("router_http_requests_total", "HTTP requests by route, method and status.");
    describe_histogram!("router_http_request_duration_seconds", "HTTP request latency by route.");
    describe_counter!("router_messages_accepted_total", "Outbound messages accepted by the API.");
    describe_counter!("router_messages_sent_total", "Outbound messages accepted by Instagram.");
    describe_counter!("router_messages_failed_total", "Outbound messages failed for good, by reason.");
    describe_counter!("router_instagram_api_calls_total", "Graph API calls by operation and result code.");
    describe_histogram!("router_instagram_api_duration_seconds", "Graph API call latency.");
    describe_counter!("router_rate_limit_throttled_total", "Sends deferred by the per-account limiter, by lane.");
    describe_counter!("router_redis_unavailable_total", "Operations deferred because Redis was unreachable.");
    describe_counter!("router_webhook_deliveries_total", "CRM webhook delivery attempts by result.");
    describe_histogram!("router_webhook_delivery_duration_seconds", "CRM webhook attempt latency.");
    describe_gauge!("router_queue_depth", "Jobs in the queue by kind and state.");
    describe_gauge!("router_queue_oldest_job_age_seconds", "Age of the oldest runnable job by kind.");
    describe_gauge!("router_dlq_size", "Webhook deliveries in the DLQ.");
    describe_gauge!("router_webhook_circuits_open", "CRM endpoints whose circuit is open.");
    describe_counter!("router_webhook_endpoints_disabled_total", "CRM endpoints disabled after answering 410 Gone.");
    describe_gauge!("router_dead_jobs", "Jobs in dead_jobs (exhausted attempts or unknown kinds), by kind.");
    describe_counter!("router_jobs_total", "Jobs run by kind and outcome.");
    describe_counter!("router_inbound_events_total", "Instagram webhook events by kind and result.");
    describe_counter!("router_inbound_signature_failures_total", "Instagram webhook POSTs with a bad signature.");
    describe_counter!(
        "router_inbound_rejected_total",
        "Instagram webhook events or POSTs refused: unverified_entry, too_many_entries, too_many_events."
    );
    describe_histogram!("router_inbound_ingest_duration_seconds", "Time to store an Instagram webhook POST.");
    describe_counter!("router_token_refresh_total", "Token refresh attempts by result.");
    describe_counter!("router_auth_failures_total", "API authentication failures by reason.");
}
