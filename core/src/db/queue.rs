//! The durable job queue: a `jobs` table we own, written in the caller's transaction (outbox).
//!
//! # Why our own module and not apalis
//! The design card named apalis. apalis-postgres 1.0.0 was measured first
//! (`research/pg-job-queues.md` §1.5–1.9): transactional enqueue works, but failed jobs re-run at
//! once with no backoff, `RetryAfterError` hot-loops (1 438 runs in 4 s, ignoring `max_attempts`),
//! a worker restarted under the same name strands its jobs in `Running`, there is no per-key
//! ordering, and its workers ran 3–5× slower than a plain claim loop on the same database. Per-
//! conversation order and durable backoff are the two things this product cannot do without, so
//! the queue is this small module (the River / crates.io approach). Revisit when apalis has
//! ordering keys and durable `run_at` backoff.
//!
//! # Semantics
//! * [`enqueue`] runs on the caller's connection: the job commits or rolls back with the domain
//!   row. One `pg_notify` rides in the same statement; Postgres folds identical notifications of a
//!   transaction into one, so a transaction wakes workers once.
//! * [`claim`] takes a batch with `FOR UPDATE SKIP LOCKED` and gives each job a lease
//!   (`locked_until`) plus a fresh `lock_token`; no transaction stays open while the job calls
//!   Instagram or a CRM. A job whose lease expired (worker killed) is claimable again: delivery is
//!   **at-least-once**; the window for a duplicate is "the external call succeeded, the worker died
//!   before [`complete`] committed". The claim commits without waiting for its WAL flush
//!   ([`claim_pool`]); a Postgres crash can forget it, which only makes a job whose run has not
//!   yet committed anything claimable again: the same window.
//! * `ordering_key`: only the oldest unfinished job of a key is claimable. Jobs are deleted on
//!   success, so "no older row with my key" means "I am the head". A retrying head keeps its row
//!   (and its `job_id`), so later jobs of the same conversation wait behind it; other keys do not.
//! * Retries reschedule (`run_at`); workers never sleep on a job. [`retry`] can leave `attempts`
//!   unchanged (throttling is not a failed attempt).
//! * [`kill`] moves a job to `dead_jobs` (the job-level DLQ) in one statement.
//! * Every state change checks the `lock_token`, so a worker whose lease was taken over cannot
//!   complete or reschedule the new owner's run.
//! * A job that makes several external calls renews its lease ([`renew`]) before each one and
//!   stops when the renewal finds the lease gone, so the lease only has to cover one call.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// The LISTEN/NOTIFY channel of every job kind but `maintenance`.
pub const CHANNEL: &str = "router_jobs";

/// The channel of `maintenance` jobs (migration 000060): the scheduler's runner, which claims
/// only those, is not woken by every event and send.
pub const MAINTENANCE_CHANNEL: &str = "router_maintenance";

/// The channels a runner claiming `kinds` listens on.
#[must_use]
pub fn channels_for(kinds: &[&str]) -> Vec<&'static str> {
    let mut channels = Vec::new();
    if kinds.iter().any(|k| *k != "maintenance") {
        channels.push(CHANNEL);
    }
    if kinds.contains(&"maintenance") {
        channels.push(MAINTENANCE_CHANNEL);
    }
    channels
}

/// A job to insert, built from a typed payload by `jobs::Job::new_job` (the storage layer knows
/// no payload types).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: Value,
    pub merchant_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub ordering_key: Option<String>,
    pub unique_key: Option<String>,
    pub run_at: Option<OffsetDateTime>,
    pub max_attempts: i32,
}

impl NewJob {
    /// A job of `kind` with defaults (runs now, 25 attempts, no key).
    #[must_use]
    pub fn new(kind: &'static str, payload: Value) -> Self {
        Self {
            kind,
            payload,
            merchant_id: None,
            account_id: None,
            ordering_key: None,
            unique_key: None,
            run_at: None,
            max_attempts: 25,
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub job_id: i64,
    pub kind: String,
    pub payload: Value,
    pub merchant_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub ordering_key: Option<String>,
    /// Attempts including this one.
    pub attempts: i32,
    pub max_attempts: i32,
    pub lock_token: Uuid,
    pub first_run_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

/// Inserts jobs in the caller's transaction (through `enqueue_jobs`). Jobs whose `unique_key`
/// exists are skipped. Returns the ids inserted.
///
/// # Errors
/// Postgres errors.
pub async fn enqueue_many(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<Vec<i64>, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind).collect();
    let payloads: Vec<&Value> = jobs.iter().map(|j| &j.payload).collect();
    let merchants: Vec<Option<Uuid>> = jobs.iter().map(|j| j.merchant_id).collect();
    let accounts: Vec<Option<Uuid>> = jobs.iter().map(|j| j.account_id).collect();
    let orderings: Vec<Option<&str>> = jobs.iter().map(|j| j.ordering_key.as_deref()).collect();
    let uniques: Vec<Option<&str>> = jobs.iter().map(|j| j.unique_key.as_deref()).collect();
    let run_ats: Vec<Option<OffsetDateTime>> = jobs.iter().map(|j| j.run_at).collect();
    let maxes: Vec<i32> = jobs.iter().map(|j| j.max_attempts).collect();
    // `enqueue_jobs` (migration 20261201000040) is the one insert of the queue; it keeps array
    // order as job_id order, which ordering keys rely on, and wakes workers once.
    sqlx::query_scalar("select job_id from enqueue_jobs($1, $2, $3, $4, $5, $6, $7, $8) as e (job_id)")
        .bind(&kinds)
        .bind(&payloads)
        .bind(&merchants)
        .bind(&accounts)
        .bind(&orderings)
        .bind(&uniques)
        .bind(&run_ats)
        .bind(&maxes)
        .fetch_all(&mut *conn)
        .await
}

/// Inserts one job (see [`enqueue_many`]). `None` when its `unique_key` already exists.
///
/// # Errors
/// Postgres errors.
pub async fn enqueue(conn: &mut PgConnection, job: NewJob) -> Result<Option<i64>, sqlx::Error> {
    Ok(enqueue_many(conn, std::slice::from_ref(&job)).await?.into_iter().next())
}

/// A one-connection pool beside `pool` (same server, role and options) for a runner's claim,
/// whose statement is planned once per connection (`plan_cache_mode = force_generic_plan`).
///
/// The claim has one reasonable plan whatever the tables hold: index walks of
/// `jobs_running_idx` and `jobs_available_kind_idx`, each row probed on `jobs_ordering_idx`, the
/// update by primary key (the generic plan on a migrated, empty, never-analysed database is that
/// plan: `EXPLAIN` in docs/PERFORMANCE.md). Planning it for each call's parameters (what
/// Postgres's default chose here) cost 0.45 ms of the claim's 0.6 ms; the generic plan runs the
/// same claim in 0.13 ms. A runner claims one batch at a time, so one connection is enough, and
/// the job tasks never wait behind a claim for a connection of the shared pool.
///
/// The connection commits with `synchronous_commit = off`: a claim does not wait for its WAL
/// flush (0.2–1 ms here, and 20–300 ms when the disk is flushing), which sat between every
/// inbound event's commit and its CRM delivery. A claim is a lease, not an outcome. If a
/// Postgres crash loses it, the job is claimable again, exactly as when a worker dies holding it
/// (the at-least-once window above). Nothing a claim leads to counts before a synchronous
/// commit of the job's own: the send intent written before every Graph call, the completion, the
/// reschedule. Flushing that commit flushes all the WAL before it, the claim's included.
/// Measured in docs/PERFORMANCE.md ("Claims commit without waiting for the flush").
#[must_use]
pub fn claim_pool(pool: &PgPool) -> PgPool {
    let opts = (*pool.connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan"), ("synchronous_commit", "off")]);
    super::pool_options(1).connect_lazy_with(opts)
}

/// The claim statement ([`claim`]; `$1` kinds, `$2` limit, `$3` lease in seconds, `$4` worker).
/// Public for the plan test (`tests/it/plans.rs`).
pub const CLAIM_SQL: &str = r"with expired as (
              select j.job_id from jobs j
               where j.state = 'running' and j.locked_until < now() and j.kind = any($1)
                 and (j.ordering_key is null or not exists (
                        select 1 from jobs p where p.ordering_key = j.ordering_key and p.job_id < j.job_id))
               order by j.locked_until
               limit $2
               for update skip locked
          ),
          due as (
              select d.job_id
                from unnest($1::text[]) as k (kind)
               cross join lateral (
                     select j.job_id, j.run_at from jobs j
                      where j.kind = k.kind and j.state = 'available' and j.run_at <= now()
                        and (j.ordering_key is null or not exists (
                               select 1 from jobs p where p.ordering_key = j.ordering_key and p.job_id < j.job_id))
                      order by j.run_at, j.job_id
                      limit $2
                        for update skip locked
                   ) d
               order by d.run_at, d.job_id
               limit $2
          ),
          candidates as (
              select job_id from expired
              union all
              select job_id from due
              limit $2
          )
          update jobs j
             set state = 'running', attempts = j.attempts + 1,
                 locked_until = now() + make_interval(secs => $3), lock_token = gen_random_uuid(),
                 locked_by = $4, first_run_at = coalesce(j.first_run_at, now()), updated_at = now()
            from candidates c
           where j.job_id = c.job_id
          returning j.job_id, j.kind, j.payload, j.merchant_id, j.account_id, j.ordering_key, j.attempts,
                    j.max_attempts, j.lock_token, j.first_run_at, j.created_at";

/// Claims up to `limit` runnable jobs of the given kinds, leasing them for `lease`.
///
/// # Errors
/// Postgres errors.
#[tracing::instrument(skip_all, fields(limit))]
pub async fn claim(
    pool: &PgPool,
    kinds: &[&str],
    limit: i64,
    lease: Duration,
    worker: &str,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    // Index walks, each stopping at the limit: expired leases first (the rescue; rare, and
    // taken before new work so a busy queue cannot starve them) on `jobs_running_idx`, then due
    // jobs in claim order (`run_at`, then `job_id`), one walk per kind on its own range of
    // `jobs_available_kind_idx (kind, run_at, job_id)`, merged (migration 000052: the scheduler
    // claiming `maintenance` used to walk every due send and delivery). A single
    // `available OR expired` filter cannot use either index and read the whole table per claim.
    // Rows a kind's walk locked beyond the merged limit are unlocked when the claim's statement
    // (its own transaction) ends.
    // The not-exists probe (only the oldest job of an ordering key runs) is an index lookup on
    // `jobs_ordering_idx (ordering_key, job_id)`.
    sqlx::query_as(CLAIM_SQL).bind(kinds).bind(limit).bind(lease.as_secs_f64()).bind(worker).fetch_all(pool).await
}

/// Marks a job done (deletes it). False when the lease was lost to another worker.
///
/// # Errors
/// Postgres errors.
pub async fn complete(conn: &mut PgConnection, job_id: i64, lock_token: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("delete from jobs where job_id = $1 and lock_token = $2")
        .bind(job_id)
        .bind(lock_token)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Extends a running job's lease to `lease` from now. False when the lease was lost (expired and
/// claimed by another worker, or released): the caller must stop before its next external call,
/// because the new owner will make it.
///
/// # Errors
/// Postgres errors.
pub async fn renew(
    conn: &mut PgConnection,
    job_id: i64,
    lock_token: Uuid,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        r"update jobs set locked_until = now() + make_interval(secs => $3), updated_at = now()
           where job_id = $1 and lock_token = $2 and state = 'running'",
    )
    .bind(job_id)
    .bind(lock_token)
    .bind(lease.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Reschedules a job for `run_at`. With `count_attempt = false` the claim does not count (rate
/// limiting, paused accounts, Redis outages). False when the lease was lost.
///
/// # Errors
/// Postgres errors.
pub async fn retry(
    conn: &mut PgConnection,
    job_id: i64,
    lock_token: Uuid,
    run_at: OffsetDateTime,
    error: Option<&str>,
    count_attempt: bool,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        r"update jobs
             set state = 'available', run_at = $3, last_error = coalesce($4, last_error),
                 attempts = case when $5 then attempts else greatest(attempts - 1, 0) end,
                 locked_until = null, lock_token = null, locked_by = null, updated_at = now()
           where job_id = $1 and lock_token = $2",
    )
    .bind(job_id)
    .bind(lock_token)
    .bind(run_at)
    .bind(error)
    .bind(count_attempt)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Moves a job to `dead_jobs`. False when the lease was lost.
///
/// # Errors
/// Postgres errors.
pub async fn kill(conn: &mut PgConnection, job_id: i64, lock_token: Uuid, error: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        r"with dead as (
              delete from jobs where job_id = $1 and lock_token = $2
              returning job_id, kind, payload, merchant_id, account_id, ordering_key, attempts
          )
          insert into dead_jobs (job_id, kind, payload, merchant_id, account_id, ordering_key, attempts, last_error)
          select job_id, kind, payload, merchant_id, account_id, ordering_key, attempts, $3 from dead",
    )
    .bind(job_id)
    .bind(lock_token)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives claimed-but-unstarted jobs back (graceful shutdown): runnable at once, the claim not
/// counted as an attempt.
///
/// # Errors
/// Postgres errors.
pub async fn release(pool: &PgPool, lock_tokens: &[Uuid]) -> Result<u64, sqlx::Error> {
    // The other workers hear of them at once (a NOTIFY), not at their next poll.
    let released: i64 = sqlx::query_scalar(
        r"with released as (
              update jobs
                 set state = 'available', attempts = greatest(attempts - 1, 0), locked_until = null,
                     lock_token = null, locked_by = null, updated_at = now()
               where lock_token = any($1)
              returning 1
          )
          select count(*) from released, (select pg_notify($2, ''), pg_notify($3, '')) n",
    )
    .bind(lock_tokens)
    .bind(CHANNEL)
    .bind(MAINTENANCE_CHANNEL)
    .fetch_one(pool)
    .await?;
    Ok(released.unsigned_abs())
}

/// Makes an account's waiting sends runnable now (after re-authentication).
///
/// # Errors
/// Postgres errors.
pub async fn wake_account_jobs(conn: &mut PgConnection, account_id: Uuid) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        r"with woken as (
              update jobs set run_at = now(), updated_at = now()
               where account_id = $1 and kind = 'message.send' and state = 'available' and run_at > now()
              returning 1
          )
          select count(*) from woken, (select pg_notify($2, '')) n",
    )
    .bind(account_id)
    .bind(CHANNEL)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Queue depth and age of the oldest runnable job, per kind (for gauges).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KindStats {
    pub kind: String,
    pub depth: i64,
    pub runnable: i64,
    pub running: i64,
    pub oldest_runnable_secs: f64,
}

/// Reads [`KindStats`] for every kind present.
///
/// # Errors
/// Postgres errors.
pub async fn stats<'e>(db: impl sqlx::PgExecutor<'e>) -> Result<Vec<KindStats>, sqlx::Error> {
    // "Runnable" counts only jobs a worker could claim now: due, and first of their ordering key
    // (a job waiting behind a retrying conversation head is scheduled work, not a stalled queue).
    sqlx::query_as(
        r"select j.kind, count(*) as depth,
                 count(*) filter (where j.state = 'available' and j.run_at <= now() and h.head) as runnable,
                 count(*) filter (where j.state = 'running') as running,
                 coalesce(extract(epoch from now() - min(j.run_at) filter (where j.state = 'available' and j.run_at <= now() and h.head)), 0)::float8
                     as oldest_runnable_secs
            from jobs j
            cross join lateral (
                select j.ordering_key is null
                       or not exists (select 1 from jobs p where p.ordering_key = j.ordering_key and p.job_id < j.job_id) as head
            ) h
           group by j.kind",
    )
    .fetch_all(db)
    .await
}
