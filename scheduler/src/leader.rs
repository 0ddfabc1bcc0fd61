//! Leadership among scheduler replicas: a session-level Postgres advisory lock held on a
//! dedicated connection (not a pooled one: the lock belongs to the session). Only the leader
//! enqueues periodic work; other replicas are hot standbys that take over within one check
//! interval when the leader's session ends (crash, network loss, shutdown).
//!
//! Correctness never rests on the lock alone: every periodic job is also deduplicated by its time
//! slot and every task is idempotent; the lock just avoids doing the work N times.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use router_core::db::housekeeping;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;

/// The advisory lock key (per database).
pub const LOCK_NAME: &str = "message-router:scheduler";

/// Shared leadership flag.
#[derive(Clone, Default)]
pub struct Leadership {
    flag: Arc<AtomicBool>,
}

impl Leadership {
    /// True while this replica holds the lock.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Contends for the lock every `every` until cancelled; releases it on the way out.
    pub async fn run(self, url: SecretString, every: Duration, cancel: CancellationToken) {
        let mut conn: Option<PgConnection> = None;
        loop {
            let held = match conn.as_mut() {
                None => match PgConnection::connect(url.expose_secret()).await {
                    Ok(c) => {
                        conn = Some(c);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "leadership: cannot connect to Postgres");
                        false
                    }
                },
                Some(c) => {
                    let r: Result<bool, sqlx::Error> = if self.is_leader() {
                        // Still ours as long as the session lives.
                        housekeeping::session_alive(c).await
                    } else {
                        housekeeping::try_advisory_lock(c, LOCK_NAME).await
                    };
                    match r {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::warn!(error = %e, "leadership: session lost");
                            conn = None;
                            false
                        }
                    }
                }
            };
            let was = self.flag.swap(held, Ordering::SeqCst);
            if held != was {
                tracing::info!(leader = held, "scheduler leadership changed");
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        if let Some(mut c) = conn
            && self.is_leader()
        {
            let _ = housekeeping::advisory_unlock(&mut c, LOCK_NAME).await;
        }
        self.flag.store(false, Ordering::SeqCst);
    }
}
