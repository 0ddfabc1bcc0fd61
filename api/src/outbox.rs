//! Group commit for `POST /messages/send`.
//!
//! Every accepted message must be durable (message row + `pending` history + send job, and its
//! idempotency record) before the 202 goes out. One transaction per request caps the API at the
//! database's commit rate (one WAL flush each). Instead, handlers hand validated requests to a
//! committer task; it takes whatever has queued up (up to `MAX_BATCH`), checks and writes the whole
//! batch with one statement (`send_accept_batch`, a SQL function: the checks, the idempotency
//! claim and the outbox inserts, set-based, committed implicitly), then answers every request.
//! One round trip and one WAL flush per batch: under light load a batch is one request, so latency
//! is a single round trip; under heavy load many requests share it. RLS still applies: the
//! function runs as the API's role and switches `app.merchant_id` per merchant of the batch.
//!
//! One committer is the default (`Outbox::start`'s `committers`): measured, a second one splits
//! the batches without adding throughput (docs/PERFORMANCE.md).
//!
//! Failure isolation: if a batch fails, each request is retried alone, so one bad request (say, an
//! account deleted a moment ago) cannot fail its neighbours.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use router_core::db::messages::{AcceptOutcome, AcceptRules, NewMessage};
use router_core::db::{self, messages};
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Largest batch one transaction takes.
const MAX_BATCH: usize = 256;

/// How often the committer's connection forgets its cached plans (see [`replan`]).
const REPLAN_EVERY: Duration = Duration::from_secs(1);

/// `DISCARD PLANS` on the committer's long-lived connection: PL/pgSQL caches each statement of
/// `send_accept_batch` per session and settles on a generic plan after five calls. On a new
/// install those plans are made while the tables are empty (sequential scans are cheapest then)
/// and would be kept as the tables grow, until an `ANALYZE` — measured with `router-bench` in
/// fresh mode: 437 msg/s, p99 106 ms. Re-planning every few seconds lets the planner see the
/// tables' current size (for never-analysed tables it reads their physical size); it costs one
/// round trip per interval, where forcing custom plans on every call cost a quarter of the
/// seeded throughput. A failure is ignored: the batch that follows reports a broken connection.
async fn replan(conn: Option<&mut PgConnection>) {
    if let Some(c) = conn
        && let Err(e) = sqlx::query("discard plans").execute(&mut *c).await
    {
        tracing::debug!(error = %e, "discard plans failed");
    }
}

/// A validated send request.
pub struct SendCommand {
    pub message: NewMessage,
    pub reply: oneshot::Sender<SendReply>,
}

/// The answer to one request.
#[derive(Debug)]
pub enum SendReply {
    /// Accepted now: 202 with this body.
    Created(Value),
    /// Same idempotency key and body as an earlier request: its original response.
    Replayed { status: u16, body: Value },
    /// Same key, different body.
    KeyReused,
    /// No such account for this merchant (or deleted).
    AccountNotFound,
    /// A `router_test_` key tried to send through a live (non-sandbox) account.
    TestKeyOnLiveAccount,
    /// The account cannot send (inactive, or in `error` until re-authenticated).
    AccountNotActive { status: router_core::domain::AccountStatus, reason: Option<String> },
    /// Instagram's messaging window is closed for this conversation.
    OutsideWindow { last_inbound_at: Option<OffsetDateTime>, human_agent: bool },
    /// The database failed.
    Failed(sqlx::Error),
    /// The outbox could not account for the request (a bug, never a client's doing): 500.
    Internal(&'static str),
}

/// Handle used by handlers.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<SendCommand>,
}

impl Outbox {
    /// Starts `committers` committer tasks.
    #[must_use]
    pub fn start(db: PgPool, idempotency_ttl_secs: f64, committers: usize) -> Self {
        let (tx, rx) = mpsc::channel::<SendCommand>(8192);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..committers.max(1) {
            let (db, rx) = (db.clone(), rx.clone());
            tokio::spawn(async move {
                // The committer keeps one connection between batches. A batch that fails drops it
                // (a broken connection is not reused) and its requests are retried one by one on
                // pool connections. Like the pools (`db::PING_IDLE_AFTER`), it pings the
                // connection only after it sat idle: one Postgres dropped meanwhile is replaced
                // before a request meets it.
                let mut conn: Option<PoolConnection<Postgres>> = None;
                let mut planned_at = Instant::now();
                let mut used_at = Instant::now();
                loop {
                    let batch = {
                        let mut guard = rx.lock().await;
                        let Some(first) = guard.recv().await else { return };
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match guard.try_recv() {
                                Ok(c) => batch.push(c),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    if planned_at.elapsed() >= REPLAN_EVERY {
                        replan(conn.as_deref_mut()).await;
                        planned_at = Instant::now();
                    }
                    if used_at.elapsed() >= db::PING_IDLE_AFTER
                        && let Some(c) = conn.as_mut()
                        && sqlx::Connection::ping(&mut **c).await.is_err()
                        && let Some(mut dead) = conn.take()
                    {
                        dead.close_on_drop();
                    }
                    commit_batch(&db, &mut conn, idempotency_ttl_secs, batch).await;
                    used_at = Instant::now();
                }
            });
        }
        Self { tx }
    }

    /// Submits a request and waits for its outcome.
    pub async fn submit(&self, message: NewMessage) -> SendReply {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(SendCommand { message, reply }).await.is_err() {
            return SendReply::Failed(sqlx::Error::PoolClosed);
        }
        rx.await.unwrap_or(SendReply::Failed(sqlx::Error::PoolClosed))
    }
}

async fn commit_batch(db: &PgPool, conn: &mut Option<PoolConnection<Postgres>>, ttl: f64, batch: Vec<SendCommand>) {
    let (msgs, replies): (Vec<NewMessage>, Vec<oneshot::Sender<SendReply>>) =
        batch.into_iter().map(|c| (c.message, c.reply)).unzip();
    let result = match conn {
        Some(c) => try_batch(db, c, ttl, &msgs).await,
        None => match db.acquire().await {
            Ok(c) => try_batch(db, conn.insert(c), ttl, &msgs).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            if let Some(mut c) = conn.take() {
                c.close_on_drop();
            }
            if msgs.len() == 1 {
                let _ = replies.into_iter().next().map(|r| r.send(SendReply::Failed(e)));
                return;
            }
            tracing::warn!(error = %e, batch = msgs.len(), "batch commit failed; retrying requests one by one");
            for (msg, reply) in msgs.into_iter().zip(replies) {
                let outcome = match db.acquire().await {
                    Ok(mut c) => match try_batch(db, &mut c, ttl, std::slice::from_ref(&msg)).await {
                        Ok(mut o) => o.pop().unwrap_or(SendReply::Internal("the retried request had no outcome")),
                        Err(e) => SendReply::Failed(e),
                    },
                    Err(e) => SendReply::Failed(e),
                };
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Checks and writes a batch with one statement ([`messages::accept_batch`], committed on its
/// own); returns one outcome per input, in order.
async fn try_batch(
    db: &PgPool,
    conn: &mut PgConnection,
    ttl: f64,
    msgs: &[NewMessage],
) -> Result<Vec<SendReply>, sqlx::Error> {
    let mut outcomes: Vec<Option<SendReply>> = msgs.iter().map(|_| None).collect();

    // A key repeated inside the batch: only its first occurrence goes to the database; the
    // repeats follow it (replay with the same body, 409 with another).
    let mut first_with_key: HashMap<(Uuid, &str), usize> = HashMap::new();
    let mut deferred: Vec<(usize, usize)> = Vec::new(); // (repeat, first)
    let mut candidates: Vec<usize> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        match m.idempotency_key.as_deref() {
            Some(k) => match first_with_key.get(&(m.merchant_id, k)) {
                Some(&first) => deferred.push((i, first)),
                None => {
                    first_with_key.insert((m.merchant_id, k), i);
                    candidates.push(i);
                }
            },
            None => candidates.push(i),
        }
    }

    let refs: Vec<&NewMessage> = candidates.iter().map(|&i| &msgs[i]).collect();
    let rows = messages::accept_batch(conn, &refs, &AcceptRules::META, ttl).await?;
    let mut accepted = 0u64;
    let mut elsewhere: Vec<usize> = Vec::new();
    for (n, outcome) in rows {
        let Some(&i) = candidates.get(n) else { continue };
        let m = &msgs[i];
        outcomes[i] = Some(match outcome {
            AcceptOutcome::Accepted => {
                accepted += 1;
                SendReply::Created(m.response_body.clone())
            }
            AcceptOutcome::Stored { request_hash, response_status, response_body } => {
                replay_or_conflict(&request_hash, response_status, &response_body, &m.request_hash)
            }
            AcceptOutcome::AccountNotFound => SendReply::AccountNotFound,
            AcceptOutcome::TestKeyOnLive => SendReply::TestKeyOnLiveAccount,
            AcceptOutcome::AccountNotActive { status, reason } => SendReply::AccountNotActive { status, reason },
            AcceptOutcome::OutsideWindow { last_inbound_at } => {
                SendReply::OutsideWindow { last_inbound_at, human_agent: m.tag.as_deref() == Some("HUMAN_AGENT") }
            }
            AcceptOutcome::ClaimedElsewhere => {
                // Another transaction committed this key first; read its record below.
                elsewhere.push(i);
                continue;
            }
        });
    }
    metrics::counter!("router_messages_accepted_total").increment(accepted);

    // Rare: a concurrent transaction (another API replica, or the one-by-one retry) committed the
    // same key between our lookup and our claim. Its response is committed now; replay it.
    if !elsewhere.is_empty() {
        replay_claimed_elsewhere(db, msgs, &elsewhere, &mut outcomes).await?;
    }

    for (i, first) in deferred {
        outcomes[i] = Some(match &outcomes[first] {
            Some(SendReply::Created(body)) | Some(SendReply::Replayed { body, .. }) => {
                if msgs[i].request_hash == msgs[first].request_hash {
                    SendReply::Replayed { status: 202, body: body.clone() }
                } else {
                    SendReply::KeyReused
                }
            }
            Some(other) => clone_rejection(other),
            None => SendReply::Internal("a repeated key's first request has no outcome"),
        });
    }
    Ok(outcomes.into_iter().map(|o| o.unwrap_or(SendReply::Internal("send_accept_batch returned no row"))).collect())
}

/// Requests whose key another transaction committed first: answered from the stored record
/// (replay or 409), read per merchant under its RLS context.
async fn replay_claimed_elsewhere(
    db: &PgPool,
    msgs: &[NewMessage],
    elsewhere: &[usize],
    outcomes: &mut [Option<SendReply>],
) -> Result<(), sqlx::Error> {
    let mut by_merchant: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for &i in elsewhere {
        by_merchant.entry(msgs[i].merchant_id).or_default().push(i);
    }
    for (merchant_id, idx) in by_merchant {
        let keys: Vec<String> = idx.iter().filter_map(|&i| msgs[i].idempotency_key.clone()).collect();
        let mut tx = db::begin_merchant_tx(db, merchant_id).await?;
        let stored: HashMap<String, messages::IdempotencyRow> = messages::find_idempotency(&mut tx, merchant_id, &keys)
            .await?
            .into_iter()
            .map(|r| (r.idempotency_key.clone(), r))
            .collect();
        // Read only; dropping the transaction rolls it back.
        drop(tx);
        for i in idx {
            outcomes[i] = Some(match msgs[i].idempotency_key.as_deref().and_then(|k| stored.get(k)) {
                Some(row) => replay_or_conflict(
                    &row.request_hash,
                    row.response_status,
                    &row.response_body,
                    &msgs[i].request_hash,
                ),
                None => SendReply::Internal("a key claimed elsewhere has no stored record"),
            });
        }
    }
    Ok(())
}

/// A stored idempotency record answers a request with the same key: the original response when
/// the bodies match (same hash), 409 otherwise.
fn replay_or_conflict(stored_hash: &[u8], status: i32, body: &Value, hash: &[u8]) -> SendReply {
    if stored_hash == hash {
        SendReply::Replayed { status: u16::try_from(status).unwrap_or(202), body: body.clone() }
    } else {
        SendReply::KeyReused
    }
}

fn clone_rejection(r: &SendReply) -> SendReply {
    match r {
        SendReply::KeyReused => SendReply::KeyReused,
        SendReply::AccountNotFound => SendReply::AccountNotFound,
        SendReply::TestKeyOnLiveAccount => SendReply::TestKeyOnLiveAccount,
        SendReply::AccountNotActive { status, reason } => {
            SendReply::AccountNotActive { status: *status, reason: reason.clone() }
        }
        SendReply::OutsideWindow { last_inbound_at, human_agent } => {
            SendReply::OutsideWindow { last_inbound_at: *last_inbound_at, human_agent: *human_agent }
        }
        SendReply::Created(_) | SendReply::Replayed { .. } | SendReply::Failed(_) | SendReply::Internal(_) => {
            SendReply::Internal("a repeated key followed a request that was not rejected")
        }
    }
}
