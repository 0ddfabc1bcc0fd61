//! Group commit for `POST /webhooks/instagram`.
//!
//! Meta mostly sends one event per POST, and must get its 200 only once the event is durable
//! (otherwise it redelivers). One transaction per POST caps ingest at the database's commit rate,
//! as it did the send path ([`crate::outbox`]). Handlers hand their verified POST to a committer
//! task (POSTs of [`ALONE_FROM_EVENTS`] events or more, whose commit is already shared, are stored
//! by their own request, in parallel); it takes whatever has queued up (up to [`MAX_POSTS`] POSTs and [`MAX_EVENTS`] events),
//! routes the platform-signed ones ([`inbound::route_many`]: from the [`RouteCache`], else one
//! query), stores the whole batch
//! in one transaction ([`inbound::store_batch`]: per-merchant RLS context, per-merchant
//! idempotency, each stored event's CRM delivery job in the same transaction), commits, and only
//! then answers each POST with its own counts. Under light load a batch is one POST, so latency is
//! that POST's transaction; under load many POSTs share one commit.
//!
//! Failure isolation: when a batch fails, each POST is retried alone, so one POST whose events the
//! database refuses gets its 5xx (Meta redelivers it) and never fails its batch-mates.

use std::sync::Arc;

use router_core::inbound::{self, IngestReport, Routed, Trust};
use router_core::route_cache::RouteCache;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

/// Most POSTs one transaction takes.
const MAX_POSTS: usize = 128;
/// Most events one transaction takes (a POST larger than this still goes alone).
const MAX_EVENTS: usize = 1000;
/// POSTs with at least this many events are stored by their own request, not the committer.
const ALONE_FROM_EVENTS: usize = 32;

/// A verified POST, ready to store.
pub enum Post {
    /// Signed with the platform secret: routed by the committer, with its batch-mates.
    Platform(Value),
    /// Signed with a per-account secret: routed (and vouched for) by the handler.
    Routed(Routed, Trust),
}

impl Post {
    fn events(&self) -> usize {
        match self {
            Self::Platform(v) => inbound::event_count(v),
            Self::Routed(r, _) => r.len(),
        }
    }
}

struct Command {
    post: Post,
    reply: oneshot::Sender<Result<IngestReport, sqlx::Error>>,
}

/// Handle used by the webhook handler.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Command>,
    db: PgPool,
    routes: Arc<RouteCache>,
}

impl Ingest {
    /// Starts the committer task, routing through `routes` (whose LISTEN connection
    /// [`crate::serve`] holds).
    #[must_use]
    pub fn start(db: PgPool, routes: Arc<RouteCache>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Command>(4096);
        let pool = db.clone();
        let cache = routes.clone();
        tokio::spawn(async move {
            let mut held: Option<Command> = None;
            loop {
                let first = match held.take() {
                    Some(c) => c,
                    None => match rx.recv().await {
                        Some(c) => c,
                        None => return,
                    },
                };
                let mut events = first.post.events();
                let mut batch = vec![first];
                while batch.len() < MAX_POSTS {
                    match rx.try_recv() {
                        Ok(c) if events + c.post.events() > MAX_EVENTS => {
                            held = Some(c);
                            break;
                        }
                        Ok(c) => {
                            events += c.post.events();
                            batch.push(c);
                        }
                        Err(_) => break,
                    }
                }
                commit(&pool, &cache, batch).await;
            }
        });
        Self { tx, db, routes }
    }

    /// The committer's route cache.
    #[must_use]
    pub fn route_cache(&self) -> Arc<RouteCache> {
        self.routes.clone()
    }

    /// Submits a verified POST and waits until its events are committed (or refused).
    ///
    /// # Errors
    /// Postgres errors of the transaction that held the POST (alone, after a failed batch).
    pub async fn submit(&self, post: Post) -> Result<IngestReport, sqlx::Error> {
        // A large POST already shares its commit among its events; storing it here, in parallel
        // with other requests, keeps the committer for the small ones (measured: 100-event POSTs
        // through the single committer ran at half their parallel rate).
        if post.events() >= ALONE_FROM_EVENTS {
            return store(&self.db, &self.routes, std::slice::from_ref(&post))
                .await
                .map(|mut r| r.pop().unwrap_or_default());
        }
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command { post, reply }).await.map_err(|_| sqlx::Error::PoolClosed)?;
        rx.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

async fn commit(db: &PgPool, routes: &RouteCache, batch: Vec<Command>) {
    metrics::histogram!("router_inbound_batch_posts").record(batch.len() as f64);
    let (posts, replies): (Vec<Post>, Vec<_>) = batch.into_iter().map(|c| (c.post, c.reply)).unzip();
    match store(db, routes, &posts).await {
        Ok(reports) => {
            for (reply, report) in replies.into_iter().zip(reports) {
                let _ = reply.send(Ok(report));
            }
        }
        Err(e) if posts.len() == 1 => {
            let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
        }
        Err(e) => {
            tracing::warn!(error = %e, batch = posts.len(), "ingest batch failed; storing its POSTs one by one");
            for (post, reply) in posts.iter().zip(replies) {
                let result =
                    store(db, routes, std::slice::from_ref(post)).await.map(|mut r| r.pop().unwrap_or_default());
                let _ = reply.send(result);
            }
        }
    }
}

/// Attempts of one store when Postgres reports a deadlock.
const DEADLOCK_ATTEMPTS: u32 = 3;

/// [`store_once`], again (after a short, growing pause) when Postgres broke a deadlock by
/// aborting it. Two API replicas' transactions can lock the same sends in opposite orders when
/// both carry echoes of them (reconciliation, `send_intents`): measured in `router-proof`'s
/// steady scenario as 3–5 answers of 500 per run, each a Meta retry. The transaction was rolled
/// back whole, so running it again is safe; anything else fails at once.
async fn store(db: &PgPool, routes: &RouteCache, posts: &[Post]) -> Result<Vec<IngestReport>, sqlx::Error> {
    let mut attempt = 1;
    loop {
        match store_once(db, routes, posts).await {
            Err(e) if attempt < DEADLOCK_ATTEMPTS && is_deadlock(&e) => {
                metrics::counter!("router_inbound_deadlock_retries_total").increment(1);
                tracing::info!(attempt, "ingest transaction chosen as a deadlock victim; running it again");
                tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn is_deadlock(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "40P01")
}

/// Routes the platform-signed POSTs together (the cache, else one query), then stores every POST in one
/// transaction. Takes the POSTs by reference so that a failed batch can be retried POST by POST.
async fn store_once(db: &PgPool, routes: &RouteCache, posts: &[Post]) -> Result<Vec<IngestReport>, sqlx::Error> {
    let bodies: Vec<&Value> =
        posts.iter().filter_map(|p| if let Post::Platform(v) = p { Some(v) } else { None }).collect();
    let mut routed = inbound::route_many(db, Some(routes), &bodies).await?.into_iter();
    let mut ready = Vec::with_capacity(posts.len());
    for p in posts {
        match p {
            Post::Platform(_) => {
                let r =
                    routed.next().ok_or(sqlx::Error::Protocol("route_many returned fewer POSTs than given".into()))?;
                ready.push((r, Trust::Platform));
            }
            // Rare (bring-your-own-app accounts): cloned so the batch can be retried.
            Post::Routed(r, t) => ready.push((r.clone(), t.clone())),
        }
    }
    inbound::store_batch(db, ready).await
}
