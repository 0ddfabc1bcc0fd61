//! The claim loop.
//!
//! Shape (crates.io's worker, translated to leases): register interest in NOTIFY *before*
//! claiming, so a notification that lands during the claim query is not lost; claim at most as
//! many jobs as there are free slots; run each on its own task; when the claim came back short
//! (nothing more was claimable) or no slot is free, wait for a NOTIFY, the poll interval, a
//! finished job or shutdown. Retries are reschedules (`run_at`)
//! written here, from the job's [`Outcome`]; no task ever sleeps on a job.
//!
//! Shutdown: stop claiming, let running jobs finish within `drain` (shorter than the lease), then
//! release whatever is still running so another worker can take it at once instead of waiting for
//! the lease to expire. A job that panics counts as a failed attempt and is retried with backoff.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::context::JobContext;
use super::outcome::Outcome;
use super::registry::Registry;
use crate::queue::{self, ClaimedJob};

/// A worker process's loop.
pub struct Runner {
    ctx: Arc<JobContext>,
    registry: Arc<Registry>,
    name: String,
    kinds: Vec<&'static str>,
    concurrency: usize,
    poll_interval: Duration,
    drain: Duration,
}

impl Runner {
    /// A runner for every job kind `registry` knows.
    #[must_use]
    pub fn new(ctx: Arc<JobContext>, registry: Registry) -> Self {
        let name = format!("worker-{}-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..8]);
        let concurrency = ctx.config.worker_concurrency;
        let poll_interval = ctx.config.worker_poll_interval;
        let drain = ctx.config.job_lease.saturating_sub(Duration::from_secs(5)).max(Duration::from_secs(1));
        let kinds = registry.kinds();
        Self { ctx, registry: Arc::new(registry), name, kinds, concurrency, poll_interval, drain }
    }

    /// Only claim these kinds (tests run senders and deliverers separately).
    #[must_use]
    pub fn with_kinds(mut self, kinds: &[&'static str]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// The worker's name as stored in `jobs.locked_by`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Claims and runs everything runnable now, until nothing is left; returns how many jobs ran.
    /// Tests use this as the "drain the queue" step.
    ///
    /// # Errors
    /// A claim query failed.
    pub async fn run_until_idle(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let batch =
                queue::claim(&self.ctx.db, &self.kinds, self.concurrency as i64, self.ctx.config.job_lease, &self.name)
                    .await?;
            if batch.is_empty() {
                return Ok(total);
            }
            total += batch.len();
            let handles: Vec<_> = batch
                .into_iter()
                .map(|job| {
                    let (ctx, registry) = (self.ctx.clone(), self.registry.clone());
                    tokio::spawn(async move { execute(ctx, registry, job).await })
                })
                .collect();
            for h in handles {
                let _ = h.await;
            }
        }
    }

    /// Runs until `cancel`; see the module docs.
    pub async fn run(self, cancel: CancellationToken) {
        let notify = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(self.ctx.db.clone(), notify.clone(), cancel.clone()));
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let tracker = TaskTracker::new();
        let running: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
        let finished = Arc::new(Notify::new());
        tracing::info!(worker = %self.name, concurrency = self.concurrency, "worker started");

        while !cancel.is_cancelled() {
            let woken = notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();

            let free = slots.available_permits();
            let mut idle = free == 0;
            if free > 0 {
                match queue::claim(&self.ctx.db, &self.kinds, free as i64, self.ctx.config.job_lease, &self.name).await
                {
                    Ok(batch) => {
                        // Fewer jobs than free slots: nothing else was claimable just now, so wait
                        // for a wake-up instead of claiming again at once (that second claim
                        // almost always came back empty). Wake-ups during the claim are kept.
                        idle = batch.len() < free;
                        for job in batch {
                            let permit = slots.clone().acquire_owned().await.expect("semaphore never closed");
                            running.lock().expect("running set").insert(job.lock_token);
                            let (ctx, registry) = (self.ctx.clone(), self.registry.clone());
                            let (running, finished) = (running.clone(), finished.clone());
                            tracker.spawn(async move {
                                let token = job.lock_token;
                                execute(ctx, registry, job).await;
                                running.lock().expect("running set").remove(&token);
                                drop(permit);
                                finished.notify_one();
                            });
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = ?e, "claiming jobs failed; backing off");
                        tokio::select! {
                            () = cancel.cancelled() => break,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                        continue;
                    }
                }
            }
            if idle {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = &mut woken => {}
                    () = finished.notified() => {}
                    () = tokio::time::sleep(self.poll_interval) => {}
                }
            }
        }

        tracker.close();
        tracing::info!(worker = %self.name, "draining running jobs");
        if tokio::time::timeout(self.drain, tracker.wait()).await.is_err() {
            let tokens: Vec<Uuid> = running.lock().expect("running set").iter().copied().collect();
            match queue::release(&self.ctx.db, &tokens).await {
                Ok(n) => {
                    tracing::warn!(released = n, "jobs still running at shutdown were released")
                }
                Err(e) => {
                    tracing::error!(error = ?e, "releasing jobs failed; their leases will expire")
                }
            }
        }
        listener.abort();
        tracing::info!(worker = %self.name, "worker stopped");
    }
}

/// LISTEN on the queue channel; reconnects with backoff. Polling covers any gap.
async fn listen(db: sqlx::PgPool, notify: Arc<Notify>, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    while !cancel.is_cancelled() {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; polling meanwhile");
                tokio::select! { () = cancel.cancelled() => return, () = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener.listen(queue::CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed");
            continue;
        }
        backoff = Duration::from_millis(200);
        // A reconnect may have missed notifications: wake once.
        notify.notify_one();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                n = listener.recv() => match n {
                    Ok(_) => notify.notify_one(),
                    Err(e) => { tracing::warn!(error = %e, "LISTEN connection lost"); break; }
                }
            }
        }
    }
}

/// Runs one job and applies its outcome: the one place that reschedules or dead-letters a job.
///
/// The job's span is attached with `Instrument`, never held entered across an `.await`: an entered
/// guard that outlives a suspension leaves a stale span on the thread's stack, and tracing's
/// registry panics when a later `Span::current()` clones it ("tried to clone a span that already
/// closed", tokio-rs/tracing#3514; seen in the delivery benchmark).
async fn execute(ctx: Arc<JobContext>, registry: Arc<Registry>, job: ClaimedJob) {
    let span = tracing::info_span!("job", job.id = job.job_id, job.kind = %job.kind, job.attempt = job.attempts);
    tracing::Instrument::instrument(execute_in_span(ctx, registry, job), span).await;
}

async fn execute_in_span(ctx: Arc<JobContext>, registry: Arc<Registry>, job: ClaimedJob) {
    let kind = job.kind.clone();
    let (job_id, token, attempts, max_attempts) = (job.job_id, job.lock_token, job.attempts, job.max_attempts);
    let ctx2 = ctx.clone();
    let span = tracing::Span::current();
    let result =
        tokio::spawn(tracing::Instrument::instrument(async move { registry.run(&ctx2, &job).await }, span)).await;
    let outcome = match result {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            tracing::warn!(error = ?e, "job failed");
            Outcome::retry_backoff(attempts, &format!("{e:#}"))
        }
        Err(join) => {
            tracing::error!(panic = join.is_panic(), "job panicked");
            Outcome::retry_backoff(attempts, "job panicked")
        }
    };
    let label = outcome.label();
    metrics::counter!("router_jobs_total", "kind" => kind, "outcome" => label).increment(1);
    let applied = match outcome {
        Outcome::Done => Ok(true),
        Outcome::LeaseLost => Ok(false),
        // Out of attempts: dead-letter the job (jobs with domain state, such as sends, record
        // their own final failure before this point).
        Outcome::Retry { error, count_attempt: true, .. } if attempts >= max_attempts => match ctx.db.acquire().await {
            Ok(mut c) => queue::kill(&mut c, job_id, token, &format!("attempts exhausted: {error}")).await,
            Err(e) => Err(e),
        },
        Outcome::Retry { at, error, count_attempt } => match ctx.db.acquire().await {
            Ok(mut c) => queue::retry(&mut c, job_id, token, at, Some(&error), count_attempt).await,
            Err(e) => Err(e),
        },
        Outcome::Dead { error } => match ctx.db.acquire().await {
            Ok(mut c) => queue::kill(&mut c, job_id, token, &error).await,
            Err(e) => Err(e),
        },
    };
    match applied {
        Ok(true) => {}
        Ok(false) => tracing::warn!("lease lost before the outcome was recorded; another worker owns the job"),
        Err(e) => {
            tracing::error!(error = ?e, "recording the job outcome failed; the lease will expire and the job re-run")
        }
    }
}
