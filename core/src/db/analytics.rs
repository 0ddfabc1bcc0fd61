//! `analytics_hourly`: the statements of the rollup (read the source tables for a range of hours,
//! replace those hours' rows) and of the report (sum rows over a range). See
//! `migrations/20261207000056_analytics.sql` and [`crate::analytics`].

use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::listing::AccountScope;

/// One grouped count of a source table: (merchant, account, hour, a label, a bucket, count).
/// `label` and `bucket` mean what the statement says (status and error code; success; none).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Count {
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub hour: OffsetDateTime,
    pub label: Option<String>,
    pub bucket: Option<i32>,
    pub n: i64,
}

/// Runs one grouped count over `[from, to)`. Every statement takes the bucket bounds as `$3`
/// (used by the latency ones, ignored by the others), so one helper binds them all.
async fn counts(
    conn: &mut PgConnection,
    sql: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    bounds: &[f64],
) -> Result<Vec<Count>, sqlx::Error> {
    sqlx::query_as(sql).bind(from).bind(to).bind(bounds).fetch_all(&mut *conn).await
}

/// Customer messages stored in `[from, to)`, per account and hour.
///
/// # Errors
/// Postgres errors.
pub async fn received(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Count>, sqlx::Error> {
    counts(
        conn,
        r"select merchant_id, account_id, date_trunc('hour', created_at) as hour, null::text as label,
                 null::int as bucket, count(*) as n
            from inbound_events
           where kind = 'message' and account_id is not null and created_at >= $1 and created_at < $2
             and $3::float8[] is not null
           group by 1, 2, 3",
        from,
        to,
        &[],
    )
    .await
}

/// Messages that became `sent` (label null) or `failed` (label: the error code) in `[from, to)`.
///
/// # Errors
/// Postgres errors.
pub async fn outcomes(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Count>, sqlx::Error> {
    counts(
        conn,
        r"select o.merchant_id, o.account_id, date_trunc('hour', e.occurred_at) as hour,
                 case when e.status = 'failed' then coalesce(o.error_code, 'unknown') end as label,
                 null::int as bucket, count(*) as n
            from message_events e
            join outbound_messages o on o.message_id = e.message_id
           where e.status in ('sent', 'failed') and e.occurred_at >= $1 and e.occurred_at < $2
             and $3::float8[] is not null
           group by 1, 2, 3, 4",
        from,
        to,
        &[],
    )
    .await
}

/// Replies accepted in `[from, to)`: for each of our messages that follows customer messages not
/// yet answered, the seconds since the first of them, bucketed by `bounds` (`width_bucket`).
///
/// # Errors
/// Postgres errors.
pub async fn replies(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
    bounds: &[f64],
) -> Result<Vec<Count>, sqlx::Error> {
    counts(
        conn,
        r"select o.merchant_id, o.account_id, date_trunc('hour', o.created_at) as hour, null::text as label,
                 width_bucket(extract(epoch from o.created_at - fi.first_in)::float8, $3::float8[]) as bucket,
                 count(*) as n
            from outbound_messages o
            left join lateral (
                     select p.created_at as prev from outbound_messages p
                      where p.account_id = o.account_id and p.recipient_id = o.recipient_id
                        and p.created_at < o.created_at
                      order by p.created_at desc
                      limit 1
                 ) po on true
            cross join lateral (
                     select min(i.created_at) as first_in from inbound_events i
                      where i.account_id = o.account_id and i.sender_id = o.recipient_id and i.kind = 'message'
                        and i.created_at < o.created_at and (po.prev is null or i.created_at > po.prev)
                 ) fi
           where o.created_at >= $1 and o.created_at < $2 and fi.first_in is not null
           group by 1, 2, 3, 5",
        from,
        to,
        bounds,
    )
    .await
}

/// CRM delivery attempts made in `[from, to)`: label `ok` (2xx) or `failed`; successful ones
/// bucketed by latency (ms) by `bounds`.
///
/// # Errors
/// Postgres errors.
pub async fn attempts(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
    bounds: &[f64],
) -> Result<Vec<Count>, sqlx::Error> {
    counts(
        conn,
        r"select d.merchant_id, d.account_id, date_trunc('hour', a.attempted_at) as hour,
                 case when a.status_code between 200 and 299 then 'ok' else 'failed' end as label,
                 case when a.status_code between 200 and 299
                      then width_bucket(a.latency_ms::float8, $3::float8[]) end as bucket,
                 count(*) as n
            from delivery_attempts a
            join webhook_deliveries d on d.delivery_id = a.delivery_id
           where a.attempted_at >= $1 and a.attempted_at < $2
           group by 1, 2, 3, 4, 5",
        from,
        to,
        bounds,
    )
    .await
}

/// Messaging windows that closed in `[from, to)` (and before now): a customer action (message,
/// postback, referral) with no other within the next 24 h.
///
/// # Errors
/// Postgres errors.
pub async fn window_expiries(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Count>, sqlx::Error> {
    counts(
        conn,
        r"select i.merchant_id, i.account_id, date_trunc('hour', i.created_at + interval '24 hours') as hour,
                 null::text as label, null::int as bucket, count(*) as n
            from inbound_events i
           where i.kind in ('message', 'postback', 'referral') and i.account_id is not null
             and i.created_at >= $1 - interval '24 hours' and i.created_at < $2 - interval '24 hours'
             and i.created_at + interval '24 hours' <= now() and $3::float8[] is not null
             and not exists (
                     select 1 from inbound_events j
                      where j.account_id = i.account_id and j.sender_id = i.sender_id
                        and j.kind in ('message', 'postback', 'referral')
                        and j.created_at > i.created_at and j.created_at <= i.created_at + interval '24 hours')
           group by 1, 2, 3",
        from,
        to,
        &[],
    )
    .await
}

/// One account-hour of the rollup.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct HourRow {
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub hour: Option<OffsetDateTime>,
    pub received: i32,
    pub sent: i32,
    pub failed: i32,
    pub failures: sqlx::types::Json<serde_json::Map<String, Value>>,
    pub replies: i32,
    pub reply_hist: Vec<i64>,
    pub deliveries_ok: i32,
    pub deliveries_failed: i32,
    pub delivery_hist: Vec<i64>,
    pub window_expiries: i32,
}

/// Replaces the rows of the hours in `[from, to)` with `rows` (the caller's transaction).
///
/// # Errors
/// Postgres errors.
pub async fn replace_hours(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
    rows: &[HourRow],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from analytics_hourly where hour >= $1 and hour < $2")
        .bind(from)
        .bind(to)
        .execute(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&HourRow) -> i32| rows.iter().map(f).collect::<Vec<i32>>();
    // Postgres arrays of arrays must be rectangular and sqlx binds none: histograms go as text.
    let hist = |f: fn(&HourRow) -> &Vec<i64>| {
        rows.iter()
            .map(|r| format!("{{{}}}", f(r).iter().map(i64::to_string).collect::<Vec<_>>().join(",")))
            .collect::<Vec<String>>()
    };
    sqlx::query(
        r"insert into analytics_hourly (merchant_id, account_id, hour, received, sent, failed, failures, replies,
                                        reply_hist, deliveries_ok, deliveries_failed, delivery_hist, window_expiries)
          select m, a, h, r, s, f, fc, rp, rh::bigint[], dok, dfail, dh::bigint[], we
            from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int[], $5::int[], $6::int[], $7::jsonb[],
                        $8::int[], $9::text[], $10::int[], $11::int[], $12::text[], $13::int[])
                 as t (m, a, h, r, s, f, fc, rp, rh, dok, dfail, dh, we)",
    )
    .bind(rows.iter().map(|r| r.merchant_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.account_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.hour).collect::<Vec<_>>())
    .bind(col(|r| r.received))
    .bind(col(|r| r.sent))
    .bind(col(|r| r.failed))
    .bind(rows.iter().map(|r| Value::Object(r.failures.0.clone())).collect::<Vec<_>>())
    .bind(col(|r| r.replies))
    .bind(hist(|r| &r.reply_hist))
    .bind(col(|r| r.deliveries_ok))
    .bind(col(|r| r.deliveries_failed))
    .bind(hist(|r| &r.delivery_hist))
    .bind(col(|r| r.window_expiries))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rebuilds the `analytics_daily` rows of the UTC days that `[from, to)` touches from their
/// hours (the caller's transaction, after [`replace_hours`]). `widths`: the lengths of the reply
/// and delivery histograms.
///
/// # Errors
/// Postgres errors.
pub async fn rebuild_days(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
    widths: (usize, usize),
) -> Result<(), sqlx::Error> {
    let sql = format!(
        r"with days as (
              select date_trunc('day', $1::timestamptz, 'UTC') as lo,
                     date_trunc('day', $2::timestamptz - interval '1 microsecond', 'UTC') + interval '1 day' as hi
          ),
          r as (
              select date_trunc('day', h.hour, 'UTC') as b, h.*
                from analytics_hourly h, days where h.hour >= days.lo and h.hour < days.hi
          ),
          fc as (
              select account_id, b, jsonb_object_agg(k, n) as failures
                from (select account_id, b, k, sum(v::int8) as n
                        from r, jsonb_each_text(r.failures) e (k, v) where r.failed > 0 group by 1, 2, 3) x
               group by 1, 2
          )
          insert into analytics_daily (merchant_id, account_id, day, received, sent, failed, failures, replies,
                                       reply_hist, deliveries_ok, deliveries_failed, delivery_hist, window_expiries)
          select r.merchant_id, r.account_id, r.b, sum(received), sum(sent), sum(failed),
                 coalesce(max(fc.failures::text)::jsonb, '{{}}'), sum(replies), {reply}, sum(deliveries_ok),
                 sum(deliveries_failed), {delivery}, sum(window_expiries)
            from r left join fc using (account_id, b)
           group by r.merchant_id, r.account_id, r.b",
        reply = sum_each("reply_hist", widths.0),
        delivery = sum_each("delivery_hist", widths.1),
    );
    // Two statements: a delete and an insert of the same keys in one statement may collide.
    sqlx::query(
        r"delete from analytics_daily
           where day >= date_trunc('day', $1::timestamptz, 'UTC')
             and day < date_trunc('day', $2::timestamptz - interval '1 microsecond', 'UTC') + interval '1 day'",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&sql).bind(from).bind(to).execute(&mut *conn).await?;
    Ok(())
}

/// `array[sum(col[1]), …, sum(col[n])]`: a histogram column summed element by element (the
/// bucket counts are constants; unnesting every row's array was ten times slower).
fn sum_each(col: &str, n: usize) -> String {
    let parts: Vec<String> = (1..=n).map(|i| format!("sum({col}[{i}])::int8")).collect();
    format!("array[{}]", parts.join(", "))
}

/// Where the last rollup run got to (hours before it are complete), if it ever ran.
///
/// # Errors
/// Postgres errors.
pub async fn rolled_until(conn: &mut PgConnection) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar("select rolled_until from analytics_progress").fetch_optional(&mut *conn).await
}

/// Records where the rollup got to.
///
/// # Errors
/// Postgres errors.
pub async fn set_rolled_until(conn: &mut PgConnection, at: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"insert into analytics_progress (singleton, rolled_until) values (true, $1)
          on conflict (singleton) do update set rolled_until = excluded.rolled_until",
    )
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One bucket of a report: the sums of its account-hours.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BucketRow {
    pub start: OffsetDateTime,
    pub received: i64,
    pub sent: i64,
    pub failed: i64,
    pub failures: sqlx::types::Json<serde_json::Map<String, Value>>,
    pub replies: i64,
    pub reply_hist: Vec<i64>,
    pub deliveries_ok: i64,
    pub deliveries_failed: i64,
    pub delivery_hist: Vec<i64>,
    pub window_expiries: i64,
}

/// The account-hours of `[from, to)` within `scope` (and of `account_id` when given), summed per
/// bucket (`unit` is `hour` or `day`, in UTC), oldest first: counters summed, histograms summed
/// element-wise, failure codes summed per code. Reads only `analytics_hourly` (its
/// `(merchant_id, hour)` index, RLS as the merchant).
///
/// # Errors
/// Postgres errors.
pub async fn report(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    scope: AccountScope<'_>,
    account_id: Option<Uuid>,
    (from, to): (OffsetDateTime, OffsetDateTime),
    unit: &str,
    widths: (usize, usize),
) -> Result<Vec<BucketRow>, sqlx::Error> {
    // Day buckets read the daily rows, hour buckets the hourly ones.
    let (table, col) = if unit == "day" { ("analytics_daily", "day") } else { ("analytics_hourly", "hour") };
    let sql = format!(
        r"with r as (
              select date_trunc($6, h.{col}, 'UTC') as b, h.*
                from {table} h
                join accounts a on a.account_id = h.account_id
               where h.merchant_id = $7 and h.{col} >= $1 and h.{col} < $2
                 and ($3::uuid is null or h.account_id = $3)
                 and ($4::uuid[] is null or h.account_id = any($4))
                 and (not $5 or a.sandbox)
          ),
          sums as (
              select b, sum(received)::int8 as received, sum(sent)::int8 as sent, sum(failed)::int8 as failed,
                     sum(replies)::int8 as replies, sum(deliveries_ok)::int8 as deliveries_ok,
                     sum(deliveries_failed)::int8 as deliveries_failed, sum(window_expiries)::int8 as window_expiries,
                     {reply} as reply_hist, {delivery} as delivery_hist
                from r group by b
          ),
          fc as (
              select b, jsonb_object_agg(k, n) as failures
                from (select b, k, sum(v::int8) as n
                        from r, jsonb_each_text(r.failures) e (k, v)
                       where r.failed > 0
                       group by b, k) x
               group by b
          )
          select s.b as start, s.received, s.sent, s.failed, coalesce(fc.failures, '{{}}') as failures, s.replies,
                 s.reply_hist, s.deliveries_ok, s.deliveries_failed, s.delivery_hist, s.window_expiries
            from sums s
            left join fc using (b)
           order by s.b",
        reply = sum_each("reply_hist", widths.0),
        delivery = sum_each("delivery_hist", widths.1),
    );
    sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .bind(account_id)
        .bind(scope.only)
        .bind(scope.sandbox_only)
        .bind(unit)
        .bind(merchant_id)
        .fetch_all(&mut *conn)
        .await
}
