//! The claim loop.
//!
//! Shape (crates.io's worker, translated to leases): register interest in NOTIFY *before*
//! claiming, so a notification that lands during the claim query is not lost; claim at most as
//! many jobs as there are free slots; run each on its own task. Retries are reschedules
//! (`run_at`) written here, from the job's [`Outcome`]; no task ever sleeps on a job.
//!
//! One claim per burst, not one per event: a claim is a query, and at a thousand jobs a second
//! claiming on every NOTIFY and every finished job cost Postgres as much as the jobs did.
//! - Claims are at least [`CLAIM_SPACING`] apart: the NOTIFYs and finished jobs of a burst share
//!   one claim. At a steady trickle (events further apart than that) no wait is added.
//! - When the claim filled every free slot (a backlog), wait until a quarter of the slots are free
//!   again, or [`CLAIM_SPACING`] after the first one freed, and claim for all of them at once.
//! - When the claim came back short (nothing else was claimable), wait for whatever can make a
//!   job claimable: a NOTIFY (a new job, an echo waking a held send), a finished job (the next
//!   job of its ordering key is now the head; not a delivery that reported no follower,
//!   [`Outcome::DoneAlone`]), the earliest reschedule this runner wrote coming
//!   due (throttled sends, holds: no NOTIFY announces those), the poll interval (another
//!   worker's reschedules, expired leases), or shutdown. Each of these was measured: a loop
//!   that skipped the finished jobs and the reschedules ran `router-proof`'s steady load 5–10×
//!   slower (docs/PERFORMANCE.md).
//!
//! Shutdown: stop claiming, let running jobs finish within `drain` (shorter than the lease), then
//! release whatever is still running so another worker can take it at once instead of waiting for
//! the lease to expire. A job that panics counts as a failed attempt and is retried with backoff.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::context::JobContext;
use super::outcome::Outcome;
use super::registry::Registry;
use crate::queue::{self, ClaimedJob};

/// The shortest time between two claims of one runner (see the module docs).
pub const CLAIM_SPACING: Duration = Duration::from_millis(2);

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
        let channels = queue::channels_for(&self.kinds);
        let listener = tokio::spawn(listen(self.ctx.db.clone(), channels, notify.clone(), cancel.clone()));
        let state = LoopState::new(self.concurrency, queue::claim_pool(&self.ctx.db));
        tracing::info!(worker = %self.name, concurrency = self.concurrency, "worker started");

        let low_water = (self.concurrency / 4).max(1);
        let mut last_claim: Option<Instant> = None;
        while !cancel.is_cancelled() {
            let woken = notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(wait) = last_claim.and_then(|t| CLAIM_SPACING.checked_sub(t.elapsed())) {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }

            let free = state.slots.available_permits();
            // No free slot: the last claim filled them all, so the backlog is still there.
            let mut backlog = free == 0;
            if free > 0 {
                last_claim = Some(Instant::now());
                match self.claim(&state, free).await {
                    Ok(claimed) => backlog = claimed == free,
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
            if backlog {
                wait_for_slots(&state.slots, &state.freed, low_water, self.poll_interval, &cancel).await;
            } else {
                let due = *state.next_due.lock().expect("next due");
                let until = due.map_or(self.poll_interval, |d| d.saturating_duration_since(Instant::now()));
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = &mut woken => {}
                    () = state.finished.notified() => {}
                    () = tokio::time::sleep(until.min(self.poll_interval)) => {}
                }
            }
        }
        self.drain(&state).await;
        listener.abort();
        tracing::info!(worker = %self.name, "worker stopped");
    }

    /// Claims up to `free` jobs and starts each on its own task; returns how many it claimed.
    async fn claim(&self, state: &LoopState, free: usize) -> Result<usize, sqlx::Error> {
        // Reschedules already due are this claim's to find.
        {
            let mut due = state.next_due.lock().expect("next due");
            if due.is_some_and(|d| d <= Instant::now()) {
                *due = None;
            }
        }
        let batch =
            queue::claim(&state.claim_db, &self.kinds, free as i64, self.ctx.config.job_lease, &self.name).await?;
        let claimed = batch.len();
        for job in batch {
            let permit = state.slots.clone().acquire_owned().await.expect("semaphore never closed");
            state.running.lock().expect("running set").insert(job.lock_token);
            state.tracker.spawn(self.run_job(job, permit, state));
        }
        Ok(claimed)
    }

    /// Shutdown: running jobs get `drain` to finish; whatever still runs is released.
    async fn drain(&self, state: &LoopState) {
        state.tracker.close();
        tracing::info!(worker = %self.name, "draining running jobs");
        if tokio::time::timeout(self.drain, state.tracker.wait()).await.is_err() {
            let tokens: Vec<Uuid> = state.running.lock().expect("running set").iter().copied().collect();
            match queue::release(&self.ctx.db, &tokens).await {
                Ok(n) => {
                    tracing::warn!(released = n, "jobs still running at shutdown were released")
                }
                Err(e) => {
                    tracing::error!(error = ?e, "releasing jobs failed; their leases will expire")
                }
            }
        }
    }

    /// One claimed job on its own task: it holds its slot until its outcome is recorded.
    fn run_job(
        &self,
        job: ClaimedJob,
        permit: tokio::sync::OwnedSemaphorePermit,
        state: &LoopState,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (ctx, registry, poll_interval) = (self.ctx.clone(), self.registry.clone(), self.poll_interval);
        let (running, finished, freed, next_due) =
            (state.running.clone(), state.finished.clone(), state.freed.clone(), state.next_due.clone());
        async move {
            let token = job.lock_token;
            let ended = execute(ctx, registry, job).await;
            if let Some(at) = ended.rescheduled {
                // Due before the next poll: this runner claims it then (no NOTIFY announces it).
                let wait = Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or_default();
                if wait < poll_interval {
                    let due = Instant::now() + wait;
                    let mut next = next_due.lock().expect("next due");
                    *next = Some(next.map_or(due, |d| d.min(due)));
                }
            }
            running.lock().expect("running set").remove(&token);
            drop(permit);
            freed.notify_one();
            if ended.unblocks {
                finished.notify_one();
            }
        }
    }
}

/// What the claim loop shares with its job tasks.
struct LoopState {
    /// One permit per job that may run at once.
    slots: Arc<Semaphore>,
    tracker: TaskTracker,
    /// Lock tokens of the running jobs (released at shutdown if they outlive the drain).
    running: Arc<Mutex<HashSet<Uuid>>>,
    /// A job ended in a way that may make another claimable (the next job of its ordering key is
    /// the head now); not a delivery that had no follower ([`Outcome::DoneAlone`]).
    finished: Arc<Notify>,
    /// A job ended: its slot is free (a backlog's claim waits for slots).
    freed: Arc<Notify>,
    /// The earliest reschedule this runner wrote that comes due before the next poll.
    next_due: Arc<Mutex<Option<Instant>>>,
    /// The claim's own connection ([`queue::claim_pool`]).
    claim_db: sqlx::PgPool,
}

impl LoopState {
    fn new(concurrency: usize, claim_db: sqlx::PgPool) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency)),
            tracker: TaskTracker::new(),
            running: Arc::default(),
            finished: Arc::new(Notify::new()),
            freed: Arc::new(Notify::new()),
            next_due: Arc::default(),
            claim_db,
        }
    }
}

/// With a backlog: returns once `low_water` slots are free, or [`CLAIM_SPACING`] after the first
/// slot freed (a slow job must not hold back the claim for the others), or on the poll interval
/// or shutdown.
async fn wait_for_slots(
    slots: &Semaphore,
    freed: &Notify,
    low_water: usize,
    poll_interval: Duration,
    cancel: &CancellationToken,
) {
    let mut first_free: Option<Instant> = None;
    loop {
        let done = freed.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        let free = slots.available_permits();
        if free >= low_water {
            return;
        }
        let wait = if free > 0 {
            let since = first_free.get_or_insert_with(Instant::now).elapsed();
            match CLAIM_SPACING.checked_sub(since) {
                Some(w) if !w.is_zero() => w,
                _ => return,
            }
        } else {
            poll_interval
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = &mut done => {}
            () = tokio::time::sleep(wait) => if free == 0 { return },
        }
    }
}

/// LISTEN on the queue channels of the runner's kinds; reconnects with backoff. Polling covers
/// any gap.
async fn listen(db: sqlx::PgPool, channels: Vec<&'static str>, notify: Arc<Notify>, cancel: CancellationToken) {
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
        if let Err(e) = listener.listen_all(channels.iter().copied()).await {
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

/// How a job's run ended, for the claim loop.
struct Ended {
    /// The time the job was rescheduled to, if it was.
    rescheduled: Option<OffsetDateTime>,
    /// Whether its end may have made another job claimable (everything but
    /// [`Outcome::DoneAlone`]).
    unblocks: bool,
}

/// Runs one job and applies its outcome: the one place that reschedules or dead-letters a job.
///
/// The job's span is attached with `Instrument`, never held entered across an `.await`: an entered
/// guard that outlives a suspension leaves a stale span on the thread's stack, and tracing's
/// registry panics when a later `Span::current()` clones it ("tried to clone a span that already
/// closed", tokio-rs/tracing#3514; seen in the delivery benchmark).
async fn execute(ctx: Arc<JobContext>, registry: Arc<Registry>, job: ClaimedJob) -> Ended {
    let span = tracing::info_span!("job", job.id = job.job_id, job.kind = %job.kind, job.attempt = job.attempts);
    tracing::Instrument::instrument(execute_in_span(ctx, registry, job), span).await
}

async fn execute_in_span(ctx: Arc<JobContext>, registry: Arc<Registry>, job: ClaimedJob) -> Ended {
    let kind = job.kind.clone();
    let (job_id, token, attempts, max_attempts) = (job.job_id, job.lock_token, job.attempts, job.max_attempts);
    let ctx2 = ctx.clone();
    let span = tracing::Span::current();
    let result =
        tokio::spawn(tracing::Instrument::instrument(async move { registry.run(&ctx2, &job).await }, span)).await;
    let outcome = match result {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            // The cause chain, never `?e`: with RUST_BACKTRACE set, anyhow's Debug resolves the
            // captured backtrace, which loaded the binary's debug info into every worker at the
            // first failed job (150 MB RSS in `router-proof --scenario pg-restart`) and wrote
            // 40-line traces into the logs at the moment an outage makes every job fail.
            tracing::warn!(error = %format_args!("{e:#}"), "job failed");
            Outcome::retry_backoff(attempts, &format!("{e:#}"))
        }
        Err(join) => {
            tracing::error!(panic = join.is_panic(), "job panicked");
            Outcome::retry_backoff(attempts, "job panicked")
        }
    };
    let label = outcome.label();
    let unblocks = !matches!(outcome, Outcome::DoneAlone);
    metrics::counter!("router_jobs_total", "kind" => kind, "outcome" => label).increment(1);
    let rescheduled = match &outcome {
        Outcome::Retry { at, count_attempt, .. } if !*count_attempt || attempts < max_attempts => Some(*at),
        _ => None,
    };
    let applied = match outcome {
        Outcome::Done | Outcome::DoneAlone => Ok(true),
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
    let rescheduled = match applied {
        Ok(true) => rescheduled,
        Ok(false) => {
            tracing::warn!("lease lost before the outcome was recorded; another worker owns the job");
            None
        }
        Err(e) => {
            tracing::error!(error = ?e, "recording the job outcome failed; the lease will expire and the job re-run");
            None
        }
    };
    Ended { rescheduled, unblocks }
}
