//! `webhook_deliveries`, `delivery_attempts` and the endpoint circuit state.

use std::sync::LazyLock;

use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::AccountScope;
use super::listing::Filtered;
use crate::domain::{DeliveryStatus, EndpointStatus};
use crate::jobs::{DeliverWebhook, Job};
use crate::queue::{self, NewJob};

/// A CRM delivery to create (see `webhooks::enqueue_events`, which renders the body).
pub struct NewDelivery<'a> {
    pub delivery_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub event_type: &'a str,
    pub event_id: &'a str,
    /// The body, rendered once and stored as text (every attempt sends these bytes).
    pub body: String,
    /// The ordering scope under the endpoint: the contact, or `account`.
    pub conversation: &'a str,
}

/// Creates, for each event, one delivery per endpoint of its account (not removed) whose filter
/// takes the event (the console's `endpoint.test` goes to every endpoint; a duplicate
/// `(merchant_id, event_id, endpoint_id)` is skipped), and their [`DeliverWebhook`] jobs through
/// `enqueue_jobs`, ordered `wh:{endpoint}:{conversation}`, all in one statement in the caller's
/// transaction (SQL function `insert_deliveries_with_jobs`, migration 000063, which
/// `ingest_store_batch` calls too). Returns the delivery ids created.
///
/// The first endpoint of an event gets the delivery id and job payload made here; further
/// endpoints (fan-out) get a fresh id, substituted into a copy of that payload, so the job's
/// shape still comes from [`DeliverWebhook`].
///
/// The endpoints of each event are read in a `LATERAL` subquery (`offset 0` keeps the planner from
/// flattening it into a join) on `webhook_endpoints_account_idx`: the one plan, whatever the
/// table's size or statistics, so ingest can run it on its cached generic plan (a join's plan made
/// on an empty table would scan every merchant's endpoints per event once they are many).
/// `tests/it/plans.rs` checks the plan.
///
/// # Errors
/// Postgres errors.
pub async fn insert_with_jobs(conn: &mut PgConnection, rows: &[NewDelivery<'_>]) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.delivery_id).collect();
    let merchants: Vec<Uuid> = rows.iter().map(|r| r.merchant_id).collect();
    let accounts: Vec<Uuid> = rows.iter().map(|r| r.account_id).collect();
    let types: Vec<&str> = rows.iter().map(|r| r.event_type).collect();
    let event_ids: Vec<&str> = rows.iter().map(|r| r.event_id).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    let convs: Vec<&str> = rows.iter().map(|r| r.conversation).collect();
    let jobs: Vec<Value> = ids.iter().map(|&delivery_id| DeliverWebhook { delivery_id }.new_job().payload).collect();
    sqlx::query_scalar("select * from insert_deliveries_with_jobs($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(&ids)
        .bind(&merchants)
        .bind(&accounts)
        .bind(&types)
        .bind(&event_ids)
        .bind(&bodies)
        .bind(&convs)
        .bind(&jobs)
        .bind(DeliverWebhook::KIND)
        .bind(DeliverWebhook::MAX_ATTEMPTS)
        .bind(crate::domain::events::ENDPOINT_TEST)
        .fetch_all(&mut *conn)
        .await
}

/// A delivery with its endpoint, as the worker needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub delivery_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub endpoint_id: Option<Uuid>,
    pub event_type: String,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub first_attempt_at: Option<OffsetDateTime>,
    pub url: Option<String>,
    pub secret_enc: Option<String>,
    pub previous_secret_enc: Option<String>,
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    pub endpoint_status: Option<EndpointStatus>,
    pub circuit_open_until: Option<OffsetDateTime>,
    /// The endpoint's attempts-per-second limit, if it has one.
    pub rate_limit: Option<i32>,
}

/// Loads a delivery and its endpoint.
///
/// # Errors
/// Postgres errors.
pub async fn load(conn: &mut PgConnection, delivery_id: Uuid) -> Result<Option<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        r"select d.delivery_id, d.merchant_id, d.account_id, d.endpoint_id, d.event_type, d.payload, d.status, d.attempts,
                 d.first_attempt_at, e.url, e.secret_enc, e.previous_secret_enc, e.previous_secret_expires_at,
                 case when e.deleted_at is not null then 'disabled' else e.status end as endpoint_status,
                 e.circuit_open_until, e.rate_limit
            from webhook_deliveries d
            left join webhook_endpoints e on e.endpoint_id = d.endpoint_id
           where d.delivery_id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Takes the half-open probe of an endpoint whose circuit timer ran out: pushes the timer forward
/// by `hold` so no other worker probes meanwhile. False when someone else holds it.
///
/// # Errors
/// Postgres errors.
pub async fn acquire_probe(conn: &mut PgConnection, endpoint_id: Uuid, hold_secs: f64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        r"update webhook_endpoints set circuit_open_until = now() + make_interval(secs => $2)
           where endpoint_id = $1 and circuit_open_until is not null and circuit_open_until <= now()",
    )
    .bind(endpoint_id)
    .bind(hold_secs)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// One attempt's record.
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub delivery_id: Uuid,
    pub merchant_id: Uuid,
    pub attempt_no: i32,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error_class: Option<&'a str>,
    pub response_body: Option<&'a str>,
}

/// The attempt log's insert, parameters `$1`–`$7` bound by [`bind_attempt`].
const INSERT_ATTEMPT: &str = r"insert into delivery_attempts (merchant_id, delivery_id, attempt_no, status_code, latency_ms, error_class, response_body)
          values ($1, $2, $3, $4, $5, $6, $7)";

fn bind_attempt<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    a: &Attempt<'q>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(a.merchant_id)
        .bind(a.delivery_id)
        .bind(a.attempt_no)
        .bind(a.status_code)
        .bind(a.latency_ms)
        .bind(a.error_class)
        .bind(a.response_body)
}

/// Appends to the attempt log (`response_body` made storable by [`crate::crm::stored_text`]).
///
/// # Errors
/// Postgres errors.
pub async fn record_attempt(conn: &mut PgConnection, a: &Attempt<'_>) -> Result<(), sqlx::Error> {
    bind_attempt(sqlx::query(INSERT_ATTEMPT), a).execute(&mut *conn).await?;
    Ok(())
}

/// Appends to the attempt log without failing the caller's transaction: when the full row cannot
/// be stored, a row without the response body is; when that fails too, the attempt is only
/// logged (by SQLSTATE, never the body). The delivery's own `attempts` and `first_attempt_at`,
/// which the retry horizon and the DLQ rules read, are updated by the caller either way, so a
/// row the log refuses can no longer keep a delivery retrying forever. Returns whether the full
/// row was stored.
///
/// # Errors
/// Postgres errors of the surrounding transaction (savepoints that cannot be opened).
pub async fn record_attempt_or_less(conn: &mut PgConnection, a: &Attempt<'_>) -> Result<bool, sqlx::Error> {
    let without_body = Attempt { response_body: None, ..*a };
    for (n, attempt) in [a, &without_body].into_iter().enumerate() {
        let mut sp = sqlx::Connection::begin(&mut *conn).await?;
        match record_attempt(&mut sp, attempt).await {
            Ok(()) => {
                sp.commit().await?;
                return Ok(n == 0);
            }
            Err(e) => {
                sp.rollback().await?;
                let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned());
                tracing::warn!(delivery.id = %a.delivery_id, attempt = a.attempt_no, sqlstate = ?code,
                    with_body = n == 0, "could not record a delivery attempt");
            }
        }
    }
    Ok(false)
}

/// A successful attempt, recorded in one statement (one round trip instead of a transaction of
/// six, same writes): the attempt logged, the delivery `delivered`, the endpoint's circuit closed
/// (only when something changes, as [`endpoint_success`]), the job deleted under its lease.
/// Returns whether the job was deleted (false: the lease was lost; the rest is written anyway,
/// the CRM did get this attempt) and whether another job of its ordering key is waiting (the
/// next delivery of the conversation, now the head: the runner claims again only then).
///
/// # Errors
/// Postgres errors; on one (e.g. a body the attempt log refuses) nothing was written, and the
/// caller falls back to the step-by-step transaction that stores the attempt without its body.
pub async fn record_delivered(
    conn: &mut PgConnection,
    a: &Attempt<'_>,
    endpoint_id: Uuid,
    job_id: i64,
    lock_token: Uuid,
) -> Result<(bool, bool), sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            r"with j as (delete from jobs where job_id = $8 and lock_token = $9 returning job_id, ordering_key),
               a as ({}),
               d as (update webhook_deliveries
                        set status = 'delivered', delivered_at = now(), attempts = $3, last_attempt_at = now(),
                            first_attempt_at = coalesce(first_attempt_at, now()), next_attempt_at = null, last_error = null
                      where delivery_id = $2),
               e as ({})
          select exists (select 1 from j),
                 exists (select 1 from j join jobs f on f.ordering_key = j.ordering_key and f.job_id <> j.job_id)",
            INSERT_ATTEMPT,
            close_circuit("$10")
        )
    });
    let row = bind_attempt(sqlx::query(SQL.as_str()), a)
        .bind(job_id)
        .bind(lock_token)
        .bind(endpoint_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok((sqlx::Row::try_get(&row, 0)?, sqlx::Row::try_get(&row, 1)?))
}

/// What an attempt that did not end in the DLQ leaves on its delivery.
#[derive(Debug, Clone, Copy)]
pub enum Attempted<'a> {
    /// `pending → delivered`.
    Delivered,
    /// Still `pending`: failed with `error`, next attempt due at `next_at`.
    Retry { next_at: OffsetDateTime, error: &'a str },
}

/// Records an attempt on its delivery: the count, the attempt times, and either the delivery
/// (status `delivered`) or the next attempt's time and the error.
///
/// # Errors
/// Postgres errors.
pub async fn record_result(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    attempts: i32,
    result: Attempted<'_>,
) -> Result<(), sqlx::Error> {
    let (delivered, next_at, error) = match result {
        Attempted::Delivered => (true, None, None),
        Attempted::Retry { next_at, error } => (false, Some(next_at), Some(error)),
    };
    sqlx::query(
        r"update webhook_deliveries
             set status = case when $3 then 'delivered' else status end,
                 delivered_at = case when $3 then now() else delivered_at end,
                 attempts = $2, last_attempt_at = now(), first_attempt_at = coalesce(first_attempt_at, now()),
                 next_attempt_at = $4, last_error = $5
           where delivery_id = $1",
    )
    .bind(delivery_id)
    .bind(attempts)
    .bind(delivered)
    .bind(next_at)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `pending → dlq` with a reason (`auth_error`, `retries_exhausted`, `endpoint_gone`,
/// `endpoint_disabled`, `no_endpoint`).
///
/// # Errors
/// Postgres errors.
pub async fn move_to_dlq(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    attempts: Option<i32>,
    reason: &str,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        r"update webhook_deliveries
             set status = 'dlq', dead_at = now(), dlq_reason = $3, attempts = coalesce($2, attempts),
                 last_error = coalesce($4, last_error), next_attempt_at = null,
                 last_attempt_at = case when $2::int is not null then now() else last_attempt_at end,
                 first_attempt_at = case when $2::int is not null then coalesce(first_attempt_at, now()) else first_attempt_at end
           where delivery_id = $1 and status = 'pending'",
    )
    .bind(delivery_id)
    .bind(attempts)
    .bind(reason)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The statement that closes an endpoint's circuit after a success, the endpoint's id being
/// parameter `param`. It writes only when something changes (a failure count, an open circuit,
/// or a `last_success_at` older than a second), so a stream of successes does not update, and
/// lock, the endpoint's row on every delivery.
fn close_circuit(param: &str) -> String {
    format!(
        r"update webhook_endpoints
             set consecutive_failures = 0, circuit_open_until = null, circuit_trips = 0, last_success_at = now()
           where endpoint_id = {param} and (consecutive_failures <> 0 or circuit_open_until is not null or circuit_trips <> 0
                                       or last_success_at is null or last_success_at < now() - interval '1 second')"
    )
}

/// A success closes the endpoint's circuit.
///
/// # Errors
/// Postgres errors.
pub async fn endpoint_success(conn: &mut PgConnection, endpoint_id: Uuid) -> Result<(), sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| close_circuit("$1"));
    sqlx::query(SQL.as_str()).bind(endpoint_id).execute(&mut *conn).await?;
    Ok(())
}

/// A failure counts towards opening the circuit; at `threshold` consecutive failures it opens for
/// `base_secs · 2^trips` (capped at 10 minutes). Returns true when this failure opened it.
///
/// # Errors
/// Postgres errors.
pub async fn endpoint_failure(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    threshold: i32,
    base_secs: f64,
) -> Result<bool, sqlx::Error> {
    let opened: Option<bool> = sqlx::query_scalar(
        r"update webhook_endpoints
             set consecutive_failures = consecutive_failures + 1,
                 last_failure_at = now(),
                 circuit_open_until = case when consecutive_failures + 1 >= $2
                     then now() + make_interval(secs => least($3 * power(2, least(circuit_trips, 10)), 600))
                     else circuit_open_until end,
                 circuit_trips = case when consecutive_failures + 1 >= $2 then circuit_trips + 1 else circuit_trips end
           where endpoint_id = $1
          returning consecutive_failures >= $2",
    )
    .bind(endpoint_id)
    .bind(threshold)
    .bind(base_secs)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(opened.unwrap_or(false))
}

/// Disables an endpoint (the CRM answered 410 Gone).
///
/// # Errors
/// Postgres errors.
pub async fn disable_endpoint(conn: &mut PgConnection, endpoint_id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update webhook_endpoints set status = 'disabled', disabled_reason = $2 where endpoint_id = $1")
        .bind(endpoint_id)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A delivery as listed by the API.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryListRow {
    pub delivery_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    /// The CRM endpoint it goes to (an account may have several).
    pub endpoint_id: Option<Uuid>,
    pub event_type: String,
    pub event_id: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub dlq_reason: Option<String>,
    pub last_error: Option<String>,
    pub first_attempt_at: Option<OffsetDateTime>,
    pub last_attempt_at: Option<OffsetDateTime>,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub delivered_at: Option<OffsetDateTime>,
    pub dead_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub payload: String,
}

const LIST_COLS: &str = "d.delivery_id, d.merchant_id, d.account_id, d.endpoint_id, d.event_type, d.event_id, d.status, \
                         d.attempts, \
                         d.dlq_reason, d.last_error, d.first_attempt_at, d.last_attempt_at, d.next_attempt_at, \
                         d.delivered_at, d.dead_at, d.created_at, d.payload";

/// Filters of the delivery lists (the console's deliveries and dead letters, the REST API's
/// deliveries and DLQ) and of the DLQ redrive. Each one that is set narrows; none set matches all.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub merchant_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    /// `pending`, `delivered`, `dlq` (the DLQ's statements are `dlq` already).
    pub status: Option<String>,
    pub event_type: Option<String>,
    /// Why it was dead-lettered (`dlq_reason`).
    pub reason: Option<String>,
    /// At or after: created, in the lists of deliveries; dead-lettered, in the DLQ's.
    pub since: Option<OffsetDateTime>,
    /// Before: created, or dead-lettered, as `since`.
    pub until: Option<OffsetDateTime>,
}

impl DeliveryFilter {
    /// The predicates of the filters that are set (`since` and `until` on `time`), on
    /// `webhook_deliveries d`.
    fn apply<'a>(&'a self, q: Filtered<'a>, time: &str) -> Filtered<'a> {
        q.eq("d.merchant_id", self.merchant_id)
            .eq("d.account_id", self.account_id)
            .eq("d.status", self.status.as_deref())
            .eq("d.event_type", self.event_type.as_deref())
            .eq("d.dlq_reason", self.reason.as_deref())
            .within(time, self.since, self.until)
    }
}

/// A page of deliveries inside `scope` (current RLS context), newest first, strictly before the
/// `(created_at, delivery_id)` cursor. With an account filter it reads the
/// `(account_id, created_at)` index.
///
/// # Errors
/// Postgres errors.
pub async fn list(
    conn: &mut PgConnection,
    scope: AccountScope<'_>,
    f: &DeliveryFilter,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<DeliveryListRow>, sqlx::Error> {
    let q = Filtered::new(&format!("select {LIST_COLS} from webhook_deliveries d"), "true").scope(
        "d.account_id",
        "exists (select 1 from accounts a where a.account_id = d.account_id and a.sandbox)",
        scope,
    );
    f.apply(q, "d.created_at").fetch_page(conn, ("d.created_at", "d.delivery_id"), before, limit).await
}

/// A DLQ page, newest first, strictly before the `(dead_at, delivery_id)` cursor (the
/// `webhook_deliveries_dlq_idx` partial index).
///
/// # Errors
/// Postgres errors.
pub async fn list_dlq(
    conn: &mut PgConnection,
    f: &DeliveryFilter,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<DeliveryListRow>, sqlx::Error> {
    let q = Filtered::new(&format!("select {LIST_COLS} from webhook_deliveries d"), "d.status = 'dlq'");
    f.apply(q, "d.dead_at").fetch_page(conn, ("d.dead_at", "d.delivery_id"), before, limit).await
}

/// Re-enqueues DLQ'd deliveries matching the filter (or exactly `only`): status back to pending
/// with a fresh retry horizon, same `delivery_id` (= `webhook-id`) and payload, a new job with
/// the same ordering key. Returns the delivery ids re-enqueued.
///
/// # Errors
/// Postgres errors.
pub async fn redrive(
    conn: &mut PgConnection,
    f: &DeliveryFilter,
    only: Option<Uuid>,
    max: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let q = Filtered::new("with picked as (select d.delivery_id from webhook_deliveries d", "d.status = 'dlq'");
    let mut qb = f.apply(q, "d.dead_at").eq("d.delivery_id", only).into_builder();
    qb.push(" order by d.created_at, d.delivery_id limit ").push_bind(max).push(
        r" for update skip locked
          ),
          upd as (
              update webhook_deliveries d
                 set status = 'pending', dead_at = null, dlq_reason = null, first_attempt_at = null, next_attempt_at = null
                from picked p where d.delivery_id = p.delivery_id
              returning d.delivery_id, d.merchant_id, d.account_id, d.ordering_key, d.created_at
          )
          select delivery_id, merchant_id, account_id, ordering_key from upd order by created_at, delivery_id",
    );
    let rows: Vec<(Uuid, Uuid, Uuid, Option<String>)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    // The jobs go in through the one enqueue path, in the deliveries' order, in the caller's
    // transaction (with the status change above).
    let jobs: Vec<NewJob> = rows
        .iter()
        .map(|(delivery_id, merchant_id, account_id, ordering_key)| {
            let mut job = DeliverWebhook { delivery_id: *delivery_id }.new_job();
            job.merchant_id = Some(*merchant_id);
            job.account_id = Some(*account_id);
            job.ordering_key.clone_from(ordering_key);
            job
        })
        .collect();
    queue::enqueue_many(&mut *conn, &jobs).await?;
    Ok(rows.into_iter().map(|(id, ..)| id).collect())
}

/// One delivery (current RLS context).
///
/// # Errors
/// Postgres errors.
pub async fn find(conn: &mut PgConnection, delivery_id: Uuid) -> Result<Option<DeliveryListRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {LIST_COLS} from webhook_deliveries d where d.delivery_id = $1"))
        .bind(delivery_id)
        .fetch_optional(&mut *conn)
        .await
}

/// An attempt as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt_no: i32,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error_class: Option<String>,
    pub response_body: Option<String>,
    pub attempted_at: OffsetDateTime,
}

/// The attempt log of a delivery, oldest first.
///
/// # Errors
/// Postgres errors.
pub async fn attempts(conn: &mut PgConnection, delivery_id: Uuid) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        r"select attempt_no, status_code, latency_ms, error_class, response_body, attempted_at
            from delivery_attempts where delivery_id = $1 order by attempt_id",
    )
    .bind(delivery_id)
    .fetch_all(&mut *conn)
    .await
}

/// Scheduler sweep: pending deliveries whose first attempt is older than the horizon (stuck
/// behind an open circuit or an ordering head) go to the DLQ with their jobs removed, unless a
/// worker is running them right now. Returns how many moved.
///
/// # Errors
/// Postgres errors.
pub async fn promote_expired(conn: &mut PgConnection, horizon_secs: f64, limit: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        r"with expired as (
              select d.delivery_id from webhook_deliveries d
               where d.status = 'pending' and d.first_attempt_at < now() - make_interval(secs => $1)
                 and not exists (select 1 from jobs j where j.kind = $3 and j.payload->>'delivery_id' = d.delivery_id::text
                                                     and j.state = 'running' and j.locked_until > now())
               limit $2
               for update skip locked
          ),
          gone as (
              delete from jobs j using expired e
               where j.kind = $3 and j.payload->>'delivery_id' = e.delivery_id::text
          )
          update webhook_deliveries d
             set status = 'dlq', dead_at = now(), dlq_reason = 'retries_exhausted', next_attempt_at = null
            from expired e where d.delivery_id = e.delivery_id",
    )
    .bind(horizon_secs)
    .bind(limit)
    .bind(crate::jobs::kinds::DELIVER_WEBHOOK)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Body of a delivery parsed back to JSON (for API listings).
#[must_use]
pub fn payload_json(row: &DeliveryListRow) -> Value {
    serde_json::from_str(&row.payload).unwrap_or(Value::Null)
}
