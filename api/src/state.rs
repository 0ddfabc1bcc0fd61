//! Shared state of the API and the batched `last_used_at` recorder.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::ConnectionManager;
use router_core::config::Config;
use router_core::graph::{GraphClient, Graphs};
use router_core::redis::RateLimiter;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// RLS-bound pool (`router_app`); tenant transactions via `db::begin_merchant_tx`.
    pub db: PgPool,
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Graph API clients for live and sandbox (`router_test_` keys) accounts.
    pub graphs: Graphs,
    /// Redis (mandatory): OAuth state, API rate limits.
    pub redis: ConnectionManager,
    /// Redis-backed limiter (per-key API limit).
    pub limiter: RateLimiter,
    /// `last_used_at` batching.
    pub key_usage: Arc<KeyUsage>,
    /// Prometheus registry of this process.
    pub metrics: PrometheusHandle,
    /// Group-commit writer of accepted messages.
    pub outbox: crate::outbox::Outbox,
    /// Group-commit writer of Meta webhook POSTs.
    pub ingest: crate::ingest::Ingest,
    /// Short-lived API-key lookup cache (`API_KEY_CACHE_SECS`).
    pub key_cache: Arc<KeyCache>,
}

impl AppState {
    /// The Graph client serving an account (sandbox or live).
    #[must_use]
    pub fn graph_for(&self, sandbox: bool) -> Option<&GraphClient> {
        self.graphs.for_account(sandbox)
    }
}

/// Remembers when each key was last used and writes the batch every few seconds, so an
/// authenticated request costs no database write.
#[derive(Default)]
pub struct KeyUsage {
    pending: Mutex<HashMap<Uuid, OffsetDateTime>>,
}

impl KeyUsage {
    /// Notes a use of `key_id` now.
    pub fn record(&self, key_id: Uuid) {
        let mut map = self.pending.lock().expect("key usage lock");
        map.insert(key_id, OffsetDateTime::now_utc());
    }

    /// Writes and clears the batch.
    ///
    /// # Errors
    /// Postgres errors (the batch is put back).
    pub async fn flush(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let batch: Vec<(Uuid, OffsetDateTime)> =
            std::mem::take(&mut *self.pending.lock().expect("key usage lock")).into_iter().collect();
        if batch.is_empty() {
            return Ok(());
        }
        let (ids, used): (Vec<Uuid>, Vec<OffsetDateTime>) = batch.iter().copied().unzip();
        if let Err(e) = router_core::db::api_keys::touch_keys(db, &ids, &used).await {
            let mut map = self.pending.lock().expect("key usage lock");
            for (id, at) in batch {
                map.entry(id).or_insert(at);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Flushes every `every` until cancelled, then once more.
    pub async fn run_flusher(self: Arc<Self>, db: PgPool, every: Duration, cancel: CancellationToken) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.flush(&db).await {
                tracing::warn!(error = ?e, "writing api key last_used_at failed; will retry");
            }
        }
        if let Err(e) = self.flush(&db).await {
            tracing::warn!(error = ?e, "final last_used_at flush failed");
        }
    }
}

/// A short-lived cache of API-key lookups: a burst of requests with the same key costs one
/// database read per `ttl` instead of one per request (the lookup was a third of all
/// transactions on the send path). Revocation through this process's API takes effect at once
/// (`forget`); revocation or expiry changed elsewhere (another replica, SQL) within `ttl`.
/// Unknown keys are never cached, so guessing keys always costs a lookup.
///
/// The race this guards against: a request reads a key's row just before its revocation commits,
/// the revoke purges the cache, and then the request caches the live row it read, so the revoked
/// key works for another `ttl`. So the revoke purges only after its commit, and a lookup caches
/// its row only if no purge happened while it was reading ([`KeyCache::get_or_fetch`]): a lookup
/// that began after the purge reads the committed revocation.
pub struct KeyCache {
    ttl: std::time::Duration,
    entries: Mutex<KeyCacheEntries>,
}

#[derive(Default)]
struct KeyCacheEntries {
    rows: HashMap<[u8; 32], (router_core::db::api_keys::AuthKeyRow, std::time::Instant)>,
    /// Purges so far; a lookup remembers the count it started under.
    purges: u64,
}

impl KeyCache {
    /// A cache keeping entries for `ttl` (zero disables it).
    #[must_use]
    pub fn new(ttl: std::time::Duration) -> Self {
        Self { ttl, entries: Mutex::default() }
    }

    /// The cached row of a key hash, if fresh.
    #[must_use]
    pub fn get(&self, hash: &[u8; 32]) -> Option<router_core::db::api_keys::AuthKeyRow> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.entries.lock().expect("key cache lock");
        map.rows.get(hash).filter(|(_, at)| at.elapsed() < self.ttl).map(|(row, _)| row.clone())
    }

    /// The cached row, or the row `fetch` reads, cached unless a key was purged meanwhile
    /// (then the row may predate a revocation; the next request reads again).
    ///
    /// # Errors
    /// Whatever `fetch` fails with.
    pub async fn get_or_fetch<E>(
        &self,
        hash: [u8; 32],
        fetch: impl Future<Output = Result<Option<router_core::db::api_keys::AuthKeyRow>, E>>,
    ) -> Result<Option<router_core::db::api_keys::AuthKeyRow>, E> {
        if let Some(row) = self.get(&hash) {
            return Ok(Some(row));
        }
        let started = self.entries.lock().expect("key cache lock").purges;
        let row = fetch.await?;
        if let Some(row) = &row {
            self.put(hash, row.clone(), started);
        }
        Ok(row)
    }

    /// Remembers a found key, unless a purge happened since `started` (see the type's docs).
    fn put(&self, hash: [u8; 32], row: router_core::db::api_keys::AuthKeyRow, started: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.entries.lock().expect("key cache lock");
        if map.purges != started {
            return;
        }
        if map.rows.len() > 10_000 {
            let ttl = self.ttl;
            map.rows.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        map.rows.insert(hash, (row, std::time::Instant::now()));
    }

    /// Drops a key (revoked through this process). Call after the revocation committed.
    pub fn forget(&self, api_key_id: Uuid) {
        let mut map = self.entries.lock().expect("key cache lock");
        map.purges += 1;
        map.rows.retain(|_, (row, _)| row.api_key_id != api_key_id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use router_core::db::api_keys::AuthKeyRow;
    use uuid::Uuid;

    use super::KeyCache;

    fn live_row(id: Uuid) -> AuthKeyRow {
        AuthKeyRow {
            api_key_id: id,
            merchant_id: Some(Uuid::now_v7()),
            scopes: vec!["accounts:read".into()],
            account_ids: None,
            environment: "live".into(),
            expires_at: None,
            revoked_at: None,
        }
    }

    /// The revocation race, replayed in order: a lookup reads the still-live row, the revoke
    /// commits and purges, then the lookup finishes. The stale row must not be cached.
    #[tokio::test]
    async fn a_lookup_that_straddles_a_revocation_does_not_cache_the_live_row() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let (id, hash) = (Uuid::now_v7(), [7u8; 32]);
        let read = cache
            .get_or_fetch(hash, async {
                let row = live_row(id); // read before the revocation committed
                cache.forget(id); // the revoke commits and purges meanwhile
                Ok::<_, ()>(Some(row))
            })
            .await
            .unwrap();
        assert!(read.is_some(), "the request itself still saw the row it read");
        assert!(cache.get(&hash).is_none(), "a row read before a purge must not be cached");

        // A lookup with no purge in between is cached as before.
        cache.get_or_fetch(hash, async { Ok::<_, ()>(Some(live_row(id))) }).await.unwrap();
        assert!(cache.get(&hash).is_some());
    }
}
