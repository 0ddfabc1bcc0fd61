//! The API's cache of inbound routes: which accounts receive an Instagram business id's events.
//!
//! Why: routing a platform-signed batch ([`crate::inbound::route_many`]) was a query of its own
//! before the batch's one storing statement, in the ingest committer's loop: a round trip (and two
//! process wake-ups) on every single-event POST Meta sends, for rows that change only when a
//! merchant connects, re-authenticates, re-keys or removes an account. Measured in phase P of
//! `router-bench-flows` (docs/PERFORMANCE.md, "Routes cached between batches"): POST p50 2.4 →
//! 2.0 ms at 200 events/s, saturated deliveries +5–10 %.
//!
//! How it stays right:
//! * **Invalidation by NOTIFY.** Every statement that inserts, deletes or changes a routing column
//!   of `accounts` notifies `account_routes` (a statement trigger, migration 000064), from the API,
//!   the scheduler or hand-written SQL alike. [`listen`] holds a LISTEN connection and empties the
//!   cache on each notification, so a change is seen as soon as its notification reaches this
//!   process (normally well under a millisecond after the commit; longer while the process is
//!   saturated, and a POST routed in that gap is stored as just before the change).
//! * **No cache without the listener.** Until the LISTEN connection is up, and from the moment it
//!   is lost until it is back, every lookup goes to Postgres and nothing is kept; a reconnect
//!   starts empty (notifications sent while it was down are lost).
//! * **No stale fill.** A lookup keeps what it read only if no notification (and no listener
//!   loss) happened while it was reading: it remembers the cache's generation and compares.
//! * **A bound in time.** An entry is used for at most `ROUTE_CACHE_SECS` (default 5), in case the
//!   LISTEN connection dies without the socket noticing; `0` disables the cache.
//! * **A bound in memory.** Only ids that route somewhere are kept (an unknown id is looked up
//!   every time, so a connect needs no invalidation to be seen), at most [`MAX_IDS`]; when full
//!   the cache starts over.
//!
//! Only the committer's platform-signed POSTs use it. Bring-your-own-app POSTs are routed by their
//! handler straight from Postgres, since the rows they read decide whose signature is accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::db::inbound::RouteRow;

/// The channel the `accounts` trigger notifies (migration 000064).
pub const CHANNEL: &str = "account_routes";
/// Most Instagram business ids kept; past it the cache starts over.
pub const MAX_IDS: usize = 50_000;

/// Routes by Instagram business id, shared by the ingest committer and [`listen`].
pub struct RouteCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The LISTEN connection is up and listening: only then may anything be kept.
    live: bool,
    /// Bumped by every notification and by the listener's loss or return.
    generation: u64,
    routes: HashMap<String, (Vec<RouteRow>, Instant)>,
    hits: u64,
    misses: u64,
}

impl RouteCache {
    /// A cache keeping routes for `ttl` (zero disables it). Nothing is kept until [`listen`] is
    /// listening.
    #[must_use]
    pub fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Self { ttl, state: Mutex::default() })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Empties the cache and says whether it may fill again (`live`).
    fn reset(&self, live: bool) {
        let mut s = self.state();
        s.live = live;
        s.generation += 1;
        s.routes.clear();
    }

    /// Whether the cache is in use (enabled, and its LISTEN connection up).
    #[must_use]
    pub fn is_live(&self) -> bool {
        !self.ttl.is_zero() && self.state().live
    }

    /// How many times the cache was emptied so far (notifications, and the listener's loss or
    /// return): a change to `accounts` has been seen once this has moved past its value before
    /// the change.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Ids kept now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.state().routes.len()
    }

    /// Whether nothing is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids answered from the cache and ids read from Postgres, since start.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        let s = self.state();
        (s.hits, s.misses)
    }

    /// The accounts connected for each of `ig_ids` (sorted, distinct), from the cache where it
    /// holds them and with one query for the rest.
    ///
    /// # Errors
    /// Postgres errors.
    pub async fn find_routes(
        &self,
        pool: &PgPool,
        ig_ids: &[String],
    ) -> Result<HashMap<String, Vec<RouteRow>>, sqlx::Error> {
        let mut out: HashMap<String, Vec<RouteRow>> = HashMap::new();
        if ig_ids.is_empty() {
            return Ok(out);
        }
        let (missing, generation) = {
            let mut s = self.state();
            let mut missing = Vec::new();
            for id in ig_ids {
                match s.routes.get(id) {
                    Some((rows, at)) if s.live && at.elapsed() < self.ttl => {
                        out.insert(id.clone(), rows.clone());
                    }
                    _ => missing.push(id.clone()),
                }
            }
            s.hits += (ig_ids.len() - missing.len()) as u64;
            s.misses += missing.len() as u64;
            (missing, s.generation)
        };
        metrics::counter!("router_inbound_route_cache_total", "result" => "hit")
            .increment((ig_ids.len() - missing.len()) as u64);
        metrics::counter!("router_inbound_route_cache_total", "result" => "miss").increment(missing.len() as u64);
        if missing.is_empty() {
            return Ok(out);
        }
        let read = db::inbound::find_routes(pool, &missing).await?;
        {
            let mut s = self.state();
            if s.live && !self.ttl.is_zero() && s.generation == generation {
                if s.routes.len() + read.len() > MAX_IDS {
                    s.routes.clear();
                }
                let now = Instant::now();
                for (id, rows) in &read {
                    s.routes.insert(id.clone(), (rows.clone(), now));
                }
            }
        }
        out.extend(read);
        Ok(out)
    }
}

/// Holds the LISTEN connection of `cache` until `cancel`: empties the cache on every notification
/// of [`CHANNEL`], and keeps it out of use while the connection is down (reconnecting with
/// backoff). Does nothing when the cache is disabled.
pub async fn listen(db: PgPool, cache: Arc<RouteCache>, cancel: CancellationToken) {
    if cache.ttl.is_zero() {
        return;
    }
    let mut backoff = Duration::from_millis(200);
    while !cancel.is_cancelled() {
        match PgListener::connect_with(&db).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    cache.reset(true);
                    let lost = loop {
                        tokio::select! {
                            () = cancel.cancelled() => break None,
                            // `try_recv` (not `recv`) so that a lost connection is seen: `Ok(None)`.
                            n = listener.try_recv() => match n {
                                Ok(Some(_)) => cache.reset(true),
                                Ok(None) => break Some("connection closed".to_owned()),
                                Err(e) => break Some(e.to_string()),
                            }
                        }
                    };
                    cache.reset(false);
                    let Some(why) = lost else { return };
                    tracing::warn!(error = %why, "route cache: LISTEN connection lost; routing from Postgres until it is back");
                }
                Err(e) => {
                    cache.reset(false);
                    tracing::warn!(error = %e, "route cache: LISTEN failed; routing from Postgres meanwhile");
                }
            },
            Err(e) => {
                cache.reset(false);
                tracing::warn!(error = %e, "route cache: LISTEN connection failed; routing from Postgres meanwhile");
            }
        }
        tokio::select! { () = cancel.cancelled() => return, () = tokio::time::sleep(backoff) => {} }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
