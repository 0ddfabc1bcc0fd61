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

/// The process-wide recorder, with the counters and histograms `component` owns already exported
/// (at zero) — what each binary calls at start-up. Without this a counter appears on its first
/// increment only: dashboards show "No data" and a `rate()`/`increase()` alert misses that first
/// event. Calling it twice is harmless.
///
/// # Panics
/// As [`metrics_handle`].
pub fn metrics_handle_for(component: Component) -> PrometheusHandle {
    let handle = metrics_handle();
    register_at_zero(component);
    handle
}

/// A binary that exports metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// `router-api`: HTTP, authentication, inbound Meta webhooks, OAuth's Graph API calls.
    Api,
    /// `router-worker`: sends, CRM webhook deliveries, token refresh, the job runner.
    Worker,
    /// `router-scheduler`: the maintenance jobs (token refresh, DLQ sweep). Its gauges are set
    /// from Postgres by `router_scheduler::gauges::refresh`, which runs at start-up.
    Scheduler,
}

/// The runner's outcomes (`router_jobs_total{outcome}`, `Outcome::label` in router-worker).
const JOB_OUTCOMES: &[&str] = &["done", "retry", "deferred", "dead", "lease_lost"];

/// Registers, at zero, every series of `component` whose label values are known in advance. A
/// series whose labels come from the traffic (HTTP route × status, Graph error codes, message
/// failure codes) appears on its first event; its family is still listed through one zero series.
/// Touches the current recorder (the global one, or a local one in tests).
pub fn register_at_zero(component: Component) {
    use metrics::{counter, histogram};

    use crate::jobs::kinds;
    match component {
        Component::Api => {
            // The first scrape is counted after it is answered: list the family from the start.
            counter!("router_http_requests_total", "route" => "/metrics", "method" => "GET", "status" => "200")
                .absolute(0);
            let _ = histogram!("router_http_request_duration_seconds", "route" => "/metrics");
            for reason in ["missing", "malformed", "unknown", "revoked", "expired"] {
                counter!("router_auth_failures_total", "reason" => reason).absolute(0);
            }
            counter!("router_redis_unavailable_total", "op" => "api_rate_limit").absolute(0);
            // The admin console (`/admin`).
            for result in ["success", "failure", "throttled"] {
                counter!("router_admin_sign_ins_total", "result" => result).absolute(0);
            }
            counter!("router_admin_csrf_failures_total").absolute(0);
            counter!("router_redis_unavailable_total", "op" => "admin_sign_in").absolute(0);
            counter!("router_messages_accepted_total").absolute(0);
            counter!("router_inbound_signature_failures_total").absolute(0);
            use crate::inbound::{Kind, Rejected};
            let kinds = [
                Kind::Message,
                Kind::Echo,
                Kind::Reaction,
                Kind::Read,
                Kind::Postback,
                Kind::Referral,
                Kind::Edit,
                Kind::Deleted,
                Kind::Unknown,
            ];
            for kind in kinds {
                for result in ["stored", "duplicate", "unrouted"] {
                    counter!("router_inbound_events_total", "kind" => kind.as_str(), "result" => result).absolute(0);
                }
            }
            counter!("router_inbound_events_total", "kind" => "malformed", "result" => "unrouted").absolute(0);
            for reason in [Rejected::UnverifiedEntry, Rejected::TooManyEntries, Rejected::TooManyEvents] {
                counter!("router_inbound_rejected_total", "reason" => reason.as_str()).absolute(0);
            }
            let _ = histogram!("router_inbound_ingest_duration_seconds");
            counter!("router_send_reconciliations_total", "result" => "echo").absolute(0);
            graph_ops(&["me", "subscribe", "exchange_code", "exchange_token", "sender_action", "messenger_profile"]);
        }
        Component::Worker => {
            counter!("router_messages_sent_total").absolute(0);
            counter!("router_messages_failed_total", "reason" => "internal_error").absolute(0);
            for lane in [crate::redis::Lane::Text, crate::redis::Lane::Media] {
                counter!("router_rate_limit_throttled_total", "lane" => lane.as_str()).absolute(0);
            }
            counter!("router_redis_unavailable_total", "op" => "rate_limit").absolute(0);
            for result in ["success", "failure", "dlq"] {
                counter!("router_webhook_deliveries_total", "result" => result).absolute(0);
            }
            let _ = histogram!("router_webhook_delivery_duration_seconds");
            counter!("router_webhook_endpoints_disabled_total").absolute(0);
            for result in ["held", "resent", "gave_up"] {
                counter!("router_send_reconciliations_total", "result" => result).absolute(0);
            }
            jobs(&[kinds::SEND_MESSAGE, kinds::DELIVER_WEBHOOK]);
            graph_ops(&["send"]);
        }
        Component::Scheduler => {
            // Its maintenance runner: token refresh and the DLQ sweep.
            for result in ["success", "failure"] {
                counter!("router_token_refresh_total", "result" => result).absolute(0);
            }
            counter!("router_webhook_deliveries_total", "result" => "dlq").absolute(0);
            jobs(&[kinds::MAINTENANCE]);
            graph_ops(&["refresh_token"]);
        }
    }
}

fn jobs(kinds: &[&'static str]) {
    for kind in kinds {
        for outcome in JOB_OUTCOMES {
            metrics::counter!("router_jobs_total", "kind" => *kind, "outcome" => *outcome).absolute(0);
        }
    }
}

/// `router_instagram_api_calls_total{op, code="ok"}` and the latency histogram of each `op`.
fn graph_ops(ops: &[&'static str]) {
    for op in ops {
        metrics::counter!("router_instagram_api_calls_total", "op" => *op, "code" => "ok").absolute(0);
        let _ = metrics::histogram!("router_instagram_api_duration_seconds", "op" => *op);
    }
}

/// What a metric is.
#[derive(Debug, Clone, Copy)]
enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the binaries export, with its help text (`# HELP` on `/metrics`). One table, so
/// a new metric is described in one line.
const METRICS: &[(MetricKind, &str, &str)] = {
    use MetricKind::{Counter, Gauge, Histogram};
    &[
        (Counter, "router_http_requests_total", "HTTP requests by route, method and status."),
        (Histogram, "router_http_request_duration_seconds", "HTTP request latency by route."),
        (Counter, "router_messages_accepted_total", "Outbound messages accepted by the API."),
        (Counter, "router_messages_sent_total", "Outbound messages accepted by Instagram."),
        (Counter, "router_messages_failed_total", "Outbound messages failed for good, by reason."),
        (Counter, "router_instagram_api_calls_total", "Graph API calls by operation and result code."),
        (Histogram, "router_instagram_api_duration_seconds", "Graph API call latency."),
        (Counter, "router_rate_limit_throttled_total", "Sends deferred by the per-account limiter, by lane."),
        (Counter, "router_redis_unavailable_total", "Operations deferred because Redis was unreachable."),
        (Counter, "router_webhook_deliveries_total", "CRM webhook delivery attempts by result."),
        (Histogram, "router_webhook_delivery_duration_seconds", "CRM webhook attempt latency."),
        (Gauge, "router_queue_depth", "Jobs in the queue by kind and state."),
        (Gauge, "router_queue_oldest_job_age_seconds", "Age of the oldest runnable job by kind."),
        (Gauge, "router_dlq_size", "Webhook deliveries in the DLQ."),
        (Gauge, "router_webhook_circuits_open", "CRM endpoints whose circuit is open."),
        (Counter, "router_webhook_endpoints_disabled_total", "CRM endpoints disabled after answering 410 Gone."),
        (Gauge, "router_dead_jobs", "Jobs in dead_jobs (exhausted attempts or unknown kinds), by kind."),
        (Counter, "router_jobs_total", "Jobs run by kind and outcome."),
        (Counter, "router_inbound_events_total", "Instagram webhook events by kind and result."),
        (
            Counter,
            "router_inbound_deadlock_retries_total",
            "Ingest transactions run again after Postgres aborted them to break a deadlock.",
        ),
        (Counter, "router_inbound_signature_failures_total", "Instagram webhook POSTs with a bad signature."),
        (
            Counter,
            "router_inbound_rejected_total",
            "Instagram webhook events or POSTs refused: unverified_entry, too_many_entries, too_many_events.",
        ),
        (Histogram, "router_inbound_ingest_duration_seconds", "Time to store an Instagram webhook POST."),
        (Counter, "router_token_refresh_total", "Token refresh attempts by result."),
        (
            Counter,
            "router_send_reconciliations_total",
            "Ambiguous sends: held for the echo, settled by the echo, resent after the window, given up.",
        ),
        (Counter, "router_auth_failures_total", "API authentication failures by reason."),
        (
            Counter,
            "router_admin_sign_ins_total",
            "Admin console sign-ins by result: success, failure (bad key), throttled (too many failures from one address).",
        ),
        (Counter, "router_admin_csrf_failures_total", "Admin console POSTs refused for a missing or wrong CSRF token."),
        (
            Gauge,
            "router_accounts",
            "Instagram accounts by status; status=\"error\" means Meta rejected the token (code 190).",
        ),
    ]
};

fn describe() {
    for &(kind, name, help) in METRICS {
        match kind {
            MetricKind::Counter => metrics::describe_counter!(name, help),
            MetricKind::Gauge => metrics::describe_gauge!(name, help),
            MetricKind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}
