//! Group commit for `POST /messages/send`.
//!
//! Every accepted message must be durable (message row + `pending` history + send job, and its
//! idempotency record) before the 202 goes out. One transaction per request caps the API at the
//! database's commit rate (one WAL flush each). Instead, handlers hand validated requests to a few
//! committer tasks; each takes whatever has queued up (up to `MAX_BATCH`), checks and writes the
//! whole batch in one transaction, commits once, then answers every request. Under light load a
//! batch is one request, so latency is a single transaction; under heavy load many requests share
//! one flush. RLS still applies: the batch switches `app.merchant_id` per merchant group inside
//! the transaction.
//!
//! Failure isolation: if a batch transaction fails, each request is retried alone, so one bad
//! request (say, an account deleted a moment ago) cannot fail its neighbours.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use router_core::db::messages::NewMessage;
use router_core::db::{self, messages};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Largest batch one transaction takes.
const MAX_BATCH: usize = 256;

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
    AccountNotActive { status: String, reason: Option<String> },
    /// Instagram's messaging window is closed for this conversation.
    OutsideWindow { last_inbound_at: Option<OffsetDateTime>, human_agent: bool },
    /// The database failed.
    Failed(sqlx::Error),
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
                    commit_batch(&db, idempotency_ttl_secs, batch).await;
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

async fn commit_batch(db: &PgPool, ttl: f64, batch: Vec<SendCommand>) {
    let (msgs, replies): (Vec<NewMessage>, Vec<oneshot::Sender<SendReply>>) =
        batch.into_iter().map(|c| (c.message, c.reply)).unzip();
    match try_batch(db, ttl, &msgs).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        Err(e) if msgs.len() == 1 => {
            let _ = replies.into_iter().next().map(|r| r.send(SendReply::Failed(e)));
        }
        Err(e) => {
            tracing::warn!(error = %e, batch = msgs.len(), "batch commit failed; retrying requests one by one");
            for (msg, reply) in msgs.into_iter().zip(replies) {
                let outcome = match try_batch(db, ttl, std::slice::from_ref(&msg)).await {
                    Ok(mut o) => o.pop().unwrap_or(SendReply::Failed(sqlx::Error::RowNotFound)),
                    Err(e) => SendReply::Failed(e),
                };
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Checks and writes a batch in one transaction; returns one outcome per input, in order.
async fn try_batch(db: &PgPool, ttl: f64, msgs: &[NewMessage]) -> Result<Vec<SendReply>, sqlx::Error> {
    let mut outcomes: Vec<Option<SendReply>> = msgs.iter().map(|_| None).collect();
    let mut by_merchant: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (i, m) in msgs.iter().enumerate() {
        by_merchant.entry(m.merchant_id).or_default().push(i);
    }
    let mut tx = db.begin().await?;
    for (merchant_id, idx) in &by_merchant {
        db::set_merchant_context(&mut tx, *merchant_id).await?;

        // 1. Replays: keys already stored, and repeats of a key within this batch.
        let keys: Vec<String> = idx.iter().filter_map(|&i| msgs[i].idempotency_key.clone()).collect();
        let stored: HashMap<String, messages::IdempotencyRow> = if keys.is_empty() {
            HashMap::new()
        } else {
            messages::find_idempotency(&mut tx, *merchant_id, &keys)
                .await?
                .into_iter()
                .map(|r| (r.idempotency_key.clone(), r))
                .collect()
        };
        let mut first_with_key: HashMap<&str, usize> = HashMap::new();
        let mut deferred: Vec<(usize, usize)> = Vec::new(); // (repeat, first)
        let mut candidates: Vec<usize> = Vec::new();
        for &i in idx {
            match msgs[i].idempotency_key.as_deref() {
                Some(k) => {
                    if let Some(row) = stored.get(k) {
                        outcomes[i] = Some(replay_or_conflict(row, &msgs[i].request_hash));
                    } else if let Some(&first) = first_with_key.get(k) {
                        deferred.push((i, first));
                    } else {
                        first_with_key.insert(k, i);
                        candidates.push(i);
                    }
                }
                None => candidates.push(i),
            }
        }

        // 2. Accounts.
        let account_ids: Vec<Uuid> =
            candidates.iter().map(|&i| msgs[i].account_id).collect::<HashSet<_>>().into_iter().collect();
        let accounts: HashMap<Uuid, messages::SendAccountRow> =
            messages::find_send_accounts(&mut tx, &account_ids).await?.into_iter().map(|a| (a.account_id, a)).collect();
        candidates.retain(|&i| match accounts.get(&msgs[i].account_id) {
            None => {
                outcomes[i] = Some(SendReply::AccountNotFound);
                false
            }
            Some(a) if a.deleted_at.is_some() => {
                outcomes[i] = Some(SendReply::AccountNotFound);
                false
            }
            Some(a) if msgs[i].test_key && !a.sandbox => {
                outcomes[i] = Some(SendReply::TestKeyOnLiveAccount);
                false
            }
            Some(a) if a.status != "active" => {
                outcomes[i] =
                    Some(SendReply::AccountNotActive { status: a.status.clone(), reason: a.status_reason.clone() });
                false
            }
            Some(_) => true,
        });

        // 3. The messaging window (24 h; 7 days with the HUMAN_AGENT tag).
        let (wa, wc): (Vec<Uuid>, Vec<String>) =
            candidates.iter().map(|&i| (msgs[i].account_id, msgs[i].recipient_id.clone())).unzip();
        let windows: HashMap<(Uuid, String), messages::WindowRow> = messages::find_windows(&mut tx, &wa, &wc)
            .await?
            .into_iter()
            .map(|w| ((w.account_id, w.contact_igsid.clone()), w))
            .collect();
        let now = OffsetDateTime::now_utc();
        let mut accepted: Vec<NewMessage> = Vec::new();
        let mut accepted_idx: Vec<usize> = Vec::new();
        for &i in &candidates {
            let m = &msgs[i];
            let w = windows.get(&(m.account_id, m.recipient_id.clone()));
            let last = w.and_then(|w| w.last_inbound_at);
            let human_agent = m.tag.as_deref() == Some("HUMAN_AGENT");
            let open = last.is_some_and(|l| {
                let age = now - l;
                age <= time::Duration::hours(24) || (human_agent && age <= time::Duration::days(7))
            });
            match (open, w) {
                (true, Some(w)) => {
                    let mut m = m.clone();
                    m.conversation_id = w.conversation_id;
                    accepted.push(m);
                    accepted_idx.push(i);
                }
                _ => outcomes[i] = Some(SendReply::OutsideWindow { last_inbound_at: last, human_agent }),
            }
        }

        // 4. Claim idempotency keys; a key another transaction committed meanwhile is replayed.
        let refs: Vec<&NewMessage> = accepted.iter().collect();
        let owned: HashSet<String> = messages::insert_idempotency(&mut tx, &refs, ttl).await?.into_iter().collect();
        let lost: Vec<String> =
            accepted.iter().filter_map(|m| m.idempotency_key.clone()).filter(|k| !owned.contains(k)).collect();
        let lost_rows: HashMap<String, messages::IdempotencyRow> = if lost.is_empty() {
            HashMap::new()
        } else {
            messages::find_idempotency(&mut tx, *merchant_id, &lost)
                .await?
                .into_iter()
                .map(|r| (r.idempotency_key.clone(), r))
                .collect()
        };
        let mut to_insert: Vec<&NewMessage> = Vec::new();
        for (m, &i) in accepted.iter().zip(&accepted_idx) {
            match m.idempotency_key.as_deref() {
                Some(k) if !owned.contains(k) => {
                    outcomes[i] = Some(match lost_rows.get(k) {
                        Some(row) => replay_or_conflict(row, &m.request_hash),
                        None => SendReply::Failed(sqlx::Error::RowNotFound),
                    });
                }
                _ => {
                    outcomes[i] = Some(SendReply::Created(m.response_body.clone()));
                    to_insert.push(m);
                }
            }
        }

        // 5. The outbox: messages, history, jobs.
        messages::insert_messages(&mut tx, &to_insert, SEND_MAX_ATTEMPTS).await?;

        // Repeats of a key inside the batch follow their first occurrence.
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
                None => SendReply::Failed(sqlx::Error::RowNotFound),
            });
        }
    }
    tx.commit().await?;
    metrics::counter!("router_messages_accepted_total")
        .increment(outcomes.iter().filter(|o| matches!(o, Some(SendReply::Created(_)))).count() as u64);
    Ok(outcomes.into_iter().map(|o| o.unwrap_or(SendReply::Failed(sqlx::Error::RowNotFound))).collect())
}

/// Attempts a send job gets; after the last retryable failure the message fails with that
/// failure's code (`retryable: true`).
pub const SEND_MAX_ATTEMPTS: i32 = 15;

fn replay_or_conflict(row: &messages::IdempotencyRow, hash: &[u8]) -> SendReply {
    if row.request_hash == hash {
        SendReply::Replayed { status: row.response_status as u16, body: row.response_body.clone() }
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
            SendReply::AccountNotActive { status: status.clone(), reason: reason.clone() }
        }
        SendReply::OutsideWindow { last_inbound_at, human_agent } => {
            SendReply::OutsideWindow { last_inbound_at: *last_inbound_at, human_agent: *human_agent }
        }
        _ => SendReply::Failed(sqlx::Error::RowNotFound),
    }
}
