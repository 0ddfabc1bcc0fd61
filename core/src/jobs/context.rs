//! What every job runs with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::Config;
use crate::crm::CrmClient;
use crate::graph::Graphs;
use crate::media::MediaProbe;
use crate::redis::RateLimiter;
use crate::ssrf::{GuardedResolver, Lookup};

/// Bound on each media probe request (HEAD, or the ranged GET after a refused HEAD).
const MEDIA_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared by every job of a process.
pub struct JobContext {
    /// Owner pool: workers act across tenants.
    pub db: PgPool,
    pub config: Arc<Config>,
    /// The live and sandbox Graph clients.
    pub graphs: Graphs,
    /// Per-account Instagram limiter (Redis).
    pub limiter: RateLimiter,
    /// CRM webhook client (no redirects, configured timeout, guarded resolver).
    pub crm: CrmClient,
    /// Outbound attachments' pre-send check (same SSRF resolver rules as the CRM client).
    pub media: MediaProbe,
    /// In-flight cap per CRM endpoint in this process.
    endpoint_slots: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

impl JobContext {
    /// Builds the context; the CRM client and the media probe resolve through the system
    /// resolver, refusing private addresses in production.
    ///
    /// # Panics
    /// If the TLS backend cannot initialise.
    #[must_use]
    pub fn new(db: PgPool, config: Arc<Config>, limiter: RateLimiter) -> Self {
        let graphs = Graphs::from_config(&config);
        let guard = GuardedResolver::new(Lookup::System, config.is_production());
        let crm = CrmClient::new(config.webhook_timeout, guard.clone());
        let media = MediaProbe::new(guard, config.is_production(), MEDIA_PROBE_TIMEOUT);
        Self { db, config, graphs, limiter, crm, media, endpoint_slots: Mutex::default() }
    }

    /// Replaces the media probe's resolver (tests: a loopback media host playing a public one, or
    /// an internal one).
    #[must_use]
    pub fn with_media_resolver(mut self, guard: GuardedResolver, timeout: Duration) -> Self {
        self.media = MediaProbe::new(guard, self.config.is_production(), timeout);
        self
    }

    /// Replaces the CRM client's resolver: tests use it to switch private-address blocking on
    /// while their fakes listen on loopback, and to play a rebinding DNS server.
    #[must_use]
    pub fn with_crm_resolver(mut self, guard: GuardedResolver) -> Self {
        self.crm = CrmClient::new(self.config.webhook_timeout, guard);
        self
    }

    /// The in-flight semaphore of a CRM endpoint (`WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT` permits).
    ///
    /// # Panics
    /// If another thread panicked while holding the map's lock.
    #[must_use]
    pub fn endpoint_slots(&self, endpoint_id: Uuid) -> Arc<Semaphore> {
        let mut map = self.endpoint_slots.lock().expect("endpoint slots lock");
        map.entry(endpoint_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.webhook_max_in_flight_per_endpoint as usize)))
            .clone()
    }
}
