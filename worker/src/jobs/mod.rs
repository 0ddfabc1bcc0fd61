//! Job kinds and the context they run with.
//!
//! A job returns an [`Outcome`]. Success paths commit their domain changes *and* the job's
//! completion in one transaction (so a crash between them re-runs the job rather than losing the
//! change); failure outcomes are applied by the runner.

use std::sync::Arc;
use std::time::Duration;

use router_core::config::Config;
use router_core::graph::GraphClient;
use router_core::media;
use router_core::queue::{self, ClaimedJob};
use router_core::redis::RateLimiter;
use router_core::ssrf;
use sqlx::PgPool;
use time::OffsetDateTime;

pub mod deliver_webhook;
pub mod maintenance;
pub mod send_message;
mod send_reconcile;

/// Every kind the worker binary runs (`maintenance` jobs are run by the scheduler process).
pub const KINDS: &[&str] = &[queue::kinds::SEND_MESSAGE, queue::kinds::DELIVER_WEBHOOK];

/// Shared by every job.
pub struct JobContext {
    /// Owner pool: workers act across tenants.
    pub db: PgPool,
    pub config: Arc<Config>,
    /// Graph client for live accounts.
    pub graph: GraphClient,
    /// Graph client for sandbox accounts, when configured.
    pub sandbox_graph: Option<GraphClient>,
    /// Per-account Instagram limiter (Redis).
    pub limiter: RateLimiter,
    /// HTTP client for CRM webhooks (no redirects, configured timeout).
    pub http: reqwest::Client,
    /// Outbound attachments' pre-send check (same SSRF resolver rules as the CRM client).
    pub media: media::MediaProbe,
    /// In-flight cap per CRM endpoint in this process.
    endpoint_slots: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Arc<tokio::sync::Semaphore>>>,
}

impl JobContext {
    /// Builds the context; see [`crm_client`] for the CRM client.
    ///
    /// # Panics
    /// If the TLS backend cannot initialise.
    #[must_use]
    pub fn new(db: PgPool, config: Arc<Config>, limiter: RateLimiter) -> Self {
        let graph = GraphClient::new(
            config.graph_api_base_url.clone(),
            config.instagram_oauth_base_url.clone(),
            &config.graph_api_version,
            config.graph_timeout,
        );
        let sandbox_graph = config.sandbox_graph_api_base_url.clone().map(|u| graph.with_base_url(u));
        let guard = ssrf::GuardedResolver::new(ssrf::Lookup::System, config.is_production());
        let http = crm_client(&config, guard.clone());
        let media = media::MediaProbe::new(guard, config.is_production(), MEDIA_PROBE_TIMEOUT);
        Self { db, config, graph, sandbox_graph, limiter, http, media, endpoint_slots: Default::default() }
    }

    /// Replaces the media probe's resolver (tests: a loopback media host playing a public one, or
    /// an internal one).
    #[must_use]
    pub fn with_media_resolver(mut self, guard: ssrf::GuardedResolver, timeout: Duration) -> Self {
        self.media = media::MediaProbe::new(guard, self.config.is_production(), timeout);
        self
    }

    /// Replaces the CRM client's resolver: tests use it to switch private-address blocking on
    /// while their fakes listen on loopback, and to play a rebinding DNS server.
    #[must_use]
    pub fn with_crm_resolver(mut self, guard: ssrf::GuardedResolver) -> Self {
        self.http = crm_client(&self.config, guard);
        self
    }

    /// The in-flight semaphore of a CRM endpoint (`WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT` permits).
    #[must_use]
    pub fn endpoint_slots(&self, endpoint_id: uuid::Uuid) -> Arc<tokio::sync::Semaphore> {
        let mut map = self.endpoint_slots.lock().expect("endpoint slots lock");
        map.entry(endpoint_id)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Semaphore::new(self.config.webhook_max_in_flight_per_endpoint as usize))
            })
            .clone()
    }
}

/// The CRM client: no redirects (3xx is a failed delivery), no proxy (the resolver must see the
/// CRM's own host), a total timeout covering the response body, and `guard` as its only resolver
/// (DESIGN §5; `core/src/ssrf.rs` explains the rebinding defence).
///
/// # Panics
/// If the TLS backend cannot initialise.
fn crm_client(config: &Config, guard: ssrf::GuardedResolver) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(config.webhook_timeout)
        .connect_timeout(config.webhook_timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(guard))
        .user_agent(concat!("message-router-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("reqwest client")
}

/// Bound on each media probe request (HEAD, or the ranged GET after a refused HEAD).
const MEDIA_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened to a job.
#[derive(Debug)]
pub enum Outcome {
    /// Finished; the job already deleted itself in its final transaction.
    Done,
    /// Run again at `at`. `count_attempt = false` for throttling and pauses.
    Retry { at: OffsetDateTime, error: String, count_attempt: bool },
    /// Give up: move to `dead_jobs`.
    Dead { error: String },
    /// Another worker took the job over (our lease expired and it claimed it): stop without
    /// touching the job; the new owner finishes it.
    LeaseLost,
}

impl Outcome {
    /// Exponential backoff with full jitter from 1 s, capped at 10 min.
    #[must_use]
    pub fn retry_backoff(attempts: i32, error: &str) -> Self {
        let d = crate::runner::full_jitter(
            attempts,
            Duration::from_secs(1),
            Duration::from_secs(600),
            Duration::from_millis(200),
        );
        Self::Retry { at: crate::runner::after(d), error: error.to_owned(), count_attempt: true }
    }

    /// Metric label.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry { count_attempt: true, .. } => "retry",
            Self::Retry { count_attempt: false, .. } => "deferred",
            Self::Dead { .. } => "dead",
            Self::LeaseLost => "lease_lost",
        }
    }
}

/// Dispatches a claimed job to its kind.
///
/// # Errors
/// Unexpected failures (database down…): the runner retries with backoff.
pub async fn run(ctx: &JobContext, job: ClaimedJob) -> anyhow::Result<Outcome> {
    match job.kind.as_str() {
        queue::kinds::SEND_MESSAGE => match send_message::run(ctx, &job).await {
            // Unexpected errors on the last attempt: fail the message visibly instead of leaving
            // it pending with its job dead-lettered.
            Err(e) if job.attempts >= job.max_attempts => send_message::give_up(ctx, &job, &e).await,
            other => other,
        },
        queue::kinds::DELIVER_WEBHOOK => deliver_webhook::run(ctx, &job).await,
        queue::kinds::MAINTENANCE => maintenance::run(ctx, &job).await,
        other => Ok(Outcome::Dead { error: format!("unknown job kind {other:?}") }),
    }
}
