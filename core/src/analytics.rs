//! Analytics: hourly rollups per account and the reports read from them (issue 16, seed phase 4).
//!
//! Why rollups: a report over 90 days must not scan 90 days of messages. The scheduler's
//! `analytics_rollup` task ([`roll_up_recent`]) turns the source tables into one
//! `analytics_hourly` row per active account-hour; a report ([`report`]) sums at most 24 × days
//! rows per account, whatever the volume behind them (docs/PERFORMANCE.md has the 10 M-message
//! figure).
//!
//! What is counted, each at the time it happened:
//! - `received`: customer messages stored (`inbound_events` of kind `message`);
//! - `sent` / `failed` (and `failures` by error code): messages whose status became `sent` or
//!   `failed` (`message_events`);
//! - reply time: for each of our messages that answers customer messages not yet answered, the
//!   time since the first of them (accepted time of ours minus stored time of theirs);
//! - deliveries: CRM delivery attempts, 2xx or not, and the latency of the successful ones;
//! - window expiries: the 24 h window of a conversation closing (24 h after a customer action with
//!   no other action since).
//!
//! Medians and p95 come from bucket counts ([`REPLY_BOUNDS_SECS`], [`DELIVERY_BOUNDS_MS`]) summed
//! over the range and interpolated inside the bucket (as Prometheus' `histogram_quantile`): exact
//! to the bucket, which is what a dashboard needs, and mergeable across hours and accounts.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::db::accounts::AccountScope;
use crate::db::analytics::{self as store, BucketRow, Count, HourRow};

/// Upper edges of the reply-time buckets, in seconds (one more bucket holds the rest).
pub const REPLY_BOUNDS_SECS: [f64; 17] = [
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 28_800.0, 43_200.0, 86_400.0,
    172_800.0, 604_800.0,
];
/// Upper edges of the CRM delivery latency buckets, in milliseconds.
pub const DELIVERY_BOUNDS_MS: [f64; 15] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10_000.0, 15_000.0, 30_000.0, 60_000.0,
    120_000.0,
];
/// The lengths of the two histograms (one bucket more than bounds: the overflow).
const WIDTHS: (usize, usize) = (REPLY_BOUNDS_SECS.len() + 1, DELIVERY_BOUNDS_MS.len() + 1);
/// How far back a first rollup reaches.
pub const BACKFILL: Duration = Duration::days(90);
/// The most hours one rollup run covers (a backfill continues on the next run).
const MAX_HOURS_PER_RUN: i64 = 24 * 7;
/// Hours rolled up per transaction.
const CHUNK_HOURS: i64 = 24;

/// `t` rounded down to its hour.
#[must_use]
pub fn hour_of(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_minute(0).and_then(|t| t.replace_second(0)).and_then(|t| t.replace_nanosecond(0)).unwrap_or(t)
}

/// The `q`-quantile (0–1) of a bucketed distribution: the bucket holding the rank, interpolated
/// linearly inside it (from 0 for the first); in the overflow bucket, its lower edge. `None`
/// without samples.
#[must_use]
pub fn quantile(hist: &[i64], bounds: &[f64], q: f64) -> Option<f64> {
    let total: i64 = hist.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut before = 0.0;
    for (i, &n) in hist.iter().enumerate() {
        let n = n as f64;
        if n > 0.0 && before + n >= rank {
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let Some(&upper) = bounds.get(i) else { return Some(lower) };
            return Some(lower + (upper - lower) * ((rank - before) / n));
        }
        before += n;
    }
    bounds.last().copied()
}

fn add_into(sum: &mut Vec<i64>, more: &[i64]) {
    if sum.len() < more.len() {
        sum.resize(more.len(), 0);
    }
    for (s, m) in sum.iter_mut().zip(more) {
        *s += m;
    }
}

/// The rows of the hours in `[from, to)`, computed from the source tables.
async fn compute(
    conn: &mut sqlx::PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<HourRow>, sqlx::Error> {
    let mut rows: BTreeMap<(Uuid, OffsetDateTime), HourRow> = BTreeMap::new();
    let mut put = |c: &Count, f: &mut dyn FnMut(&mut HourRow, i32)| {
        let r = rows.entry((c.account_id, c.hour)).or_insert_with(|| HourRow {
            merchant_id: c.merchant_id,
            account_id: c.account_id,
            hour: Some(c.hour),
            reply_hist: vec![0; REPLY_BOUNDS_SECS.len() + 1],
            delivery_hist: vec![0; DELIVERY_BOUNDS_MS.len() + 1],
            ..HourRow::default()
        });
        f(r, i32::try_from(c.n).unwrap_or(i32::MAX));
    };
    for c in store::received(conn, from, to).await? {
        put(&c, &mut |r, n| r.received += n);
    }
    for c in store::outcomes(conn, from, to).await? {
        put(&c, &mut |r, n| match &c.label {
            None => r.sent += n,
            Some(code) => {
                r.failed += n;
                let before = r.failures.0.get(code).and_then(Value::as_i64).unwrap_or(0);
                r.failures.0.insert(code.clone(), Value::from(before + i64::from(n)));
            }
        });
    }
    for c in store::replies(conn, from, to, &REPLY_BOUNDS_SECS).await? {
        let b = usize::try_from(c.bucket.unwrap_or(0)).unwrap_or(0).min(REPLY_BOUNDS_SECS.len());
        put(&c, &mut |r, n| {
            r.replies += n;
            r.reply_hist[b] += i64::from(n);
        });
    }
    for c in store::attempts(conn, from, to, &DELIVERY_BOUNDS_MS).await? {
        let ok = c.label.as_deref() == Some("ok");
        let b = usize::try_from(c.bucket.unwrap_or(0)).unwrap_or(0).min(DELIVERY_BOUNDS_MS.len());
        put(&c, &mut |r, n| {
            if ok {
                r.deliveries_ok += n;
                r.delivery_hist[b] += i64::from(n);
            } else {
                r.deliveries_failed += n;
            }
        });
    }
    for c in store::window_expiries(conn, from, to).await? {
        put(&c, &mut |r, n| r.window_expiries += n);
    }
    Ok(rows.into_values().collect())
}

/// Recomputes the hours in `[from, to)` (rounded to hours), a day per transaction. Returns the
/// account-hour rows written.
///
/// # Errors
/// Postgres errors (the hours of the failed day keep their previous rows).
pub async fn roll_up(pool: &PgPool, from: OffsetDateTime, to: OffsetDateTime) -> Result<usize, sqlx::Error> {
    let (mut at, to) = (hour_of(from), hour_of(to));
    let mut written = 0;
    while at < to {
        let end = (at + Duration::hours(CHUNK_HOURS)).min(to);
        let mut tx = crate::db::begin_admin_tx(pool).await?;
        let rows = compute(&mut tx, at, end).await?;
        store::replace_hours(&mut tx, at, end, &rows).await?;
        store::rebuild_days(&mut tx, at, end, WIDTHS).await?;
        tx.commit().await?;
        written += rows.len();
        at = end;
    }
    Ok(written)
}

/// The scheduler's periodic run: recomputes from where the last run got to (or [`BACKFILL`] ago
/// on a new install), always including the previous and the current hour (late rows), at most a
/// week per run. Returns the account-hour rows written.
///
/// # Errors
/// Postgres errors.
pub async fn roll_up_recent(pool: &PgPool, now: OffsetDateTime) -> Result<usize, sqlx::Error> {
    let current = hour_of(now);
    let cursor = store::rolled_until(&mut *pool.acquire().await?).await?.unwrap_or(current - BACKFILL);
    let from = cursor.min(current - Duration::hours(1));
    let to = (from + Duration::hours(MAX_HOURS_PER_RUN)).min(current + Duration::hours(1));
    let written = roll_up(pool, from, to).await?;
    // Hours before the current one are complete; the current one is recomputed next time.
    store::set_rolled_until(&mut *pool.acquire().await?, to.min(current)).await?;
    Ok(written)
}

/// One bucket of a report, with its quantiles computed (the API's `AnalyticsBucket`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AnalyticsBucket)]
pub struct Bucket {
    /// The bucket's first hour or day (UTC); for the totals, the start of the range.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// Customer messages received.
    pub received: i64,
    /// Our messages Instagram accepted.
    pub sent: i64,
    /// Our messages that failed for good.
    pub failed: i64,
    /// `failed` by error code.
    #[schema(value_type = Object)]
    pub failures: Map<String, Value>,
    /// Our messages that answered customer messages not yet answered.
    pub replies: i64,
    /// Median time from a customer's message to our first reply, in seconds (bucket-interpolated).
    pub reply_p50_secs: Option<f64>,
    pub reply_p95_secs: Option<f64>,
    /// CRM delivery attempts answered 2xx.
    pub deliveries_ok: i64,
    /// CRM delivery attempts that failed (non-2xx, timeout, refused).
    pub deliveries_failed: i64,
    /// `deliveries_ok / (ok + failed)`; null without attempts.
    pub delivery_success_rate: Option<f64>,
    /// Median latency of successful CRM deliveries, in milliseconds.
    pub delivery_p50_ms: Option<f64>,
    pub delivery_p95_ms: Option<f64>,
    /// Conversations whose 24 h messaging window closed.
    pub window_expiries: i64,
}

fn bucket(start: OffsetDateTime, r: &BucketRow) -> Bucket {
    let attempts = r.deliveries_ok + r.deliveries_failed;
    Bucket {
        start,
        received: r.received,
        sent: r.sent,
        failed: r.failed,
        failures: r.failures.0.clone(),
        replies: r.replies,
        reply_p50_secs: quantile(&r.reply_hist, &REPLY_BOUNDS_SECS, 0.5),
        reply_p95_secs: quantile(&r.reply_hist, &REPLY_BOUNDS_SECS, 0.95),
        deliveries_ok: r.deliveries_ok,
        deliveries_failed: r.deliveries_failed,
        delivery_success_rate: (attempts > 0).then(|| r.deliveries_ok as f64 / attempts as f64),
        delivery_p50_ms: quantile(&r.delivery_hist, &DELIVERY_BOUNDS_MS, 0.5),
        delivery_p95_ms: quantile(&r.delivery_hist, &DELIVERY_BOUNDS_MS, 0.95),
        window_expiries: r.window_expiries,
    }
}

/// Hourly or daily buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    fn unit(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// A report: the buckets with activity, oldest first, and the whole range's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub buckets: Vec<Bucket>,
    pub totals: Bucket,
}

/// The report of `[from, to)` for the merchant (within `scope`, or one account), from the rollups.
///
/// # Errors
/// Postgres errors.
pub async fn report(
    conn: &mut sqlx::PgConnection,
    merchant_id: Uuid,
    scope: AccountScope<'_>,
    account_id: Option<Uuid>,
    range: (OffsetDateTime, OffsetDateTime),
    granularity: Granularity,
) -> Result<Report, sqlx::Error> {
    let rows = store::report(conn, merchant_id, scope, account_id, range, granularity.unit(), WIDTHS).await?;
    let mut total = BucketRow {
        start: range.0,
        received: 0,
        sent: 0,
        failed: 0,
        failures: sqlx::types::Json(Map::new()),
        replies: 0,
        reply_hist: Vec::new(),
        deliveries_ok: 0,
        deliveries_failed: 0,
        delivery_hist: Vec::new(),
        window_expiries: 0,
    };
    for r in &rows {
        total.received += r.received;
        total.sent += r.sent;
        total.failed += r.failed;
        for (code, n) in &r.failures.0 {
            let before = total.failures.0.get(code).and_then(Value::as_i64).unwrap_or(0);
            total.failures.0.insert(code.clone(), Value::from(before + n.as_i64().unwrap_or(0)));
        }
        total.replies += r.replies;
        add_into(&mut total.reply_hist, &r.reply_hist);
        total.deliveries_ok += r.deliveries_ok;
        total.deliveries_failed += r.deliveries_failed;
        add_into(&mut total.delivery_hist, &r.delivery_hist);
        total.window_expiries += r.window_expiries;
    }
    Ok(Report { buckets: rows.iter().map(|r| bucket(r.start, r)).collect(), totals: bucket(range.0, &total) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket_and_stop_at_the_overflow_edge() {
        let bounds = [10.0, 20.0, 40.0];
        assert_eq!(quantile(&[0, 0, 0, 0], &bounds, 0.5), None);
        // 4 samples in [10, 20): the median is halfway.
        assert_eq!(quantile(&[0, 4, 0, 0], &bounds, 0.5), Some(15.0));
        // 1 in [0, 10), 1 in [20, 40): p50 is the first's top, p95 near the second's top.
        assert_eq!(quantile(&[1, 0, 1, 0], &bounds, 0.5), Some(10.0));
        assert_eq!(quantile(&[1, 0, 1, 0], &bounds, 0.95), Some(38.0));
        // Everything beyond the last edge: the edge.
        assert_eq!(quantile(&[0, 0, 0, 3], &bounds, 0.5), Some(40.0));
    }

    #[test]
    fn hours_round_down() {
        let t = time::macros::datetime!(2026-12-07 04:59:59.999 UTC);
        assert_eq!(hour_of(t), time::macros::datetime!(2026-12-07 04:00 UTC));
    }
}
