//! `webhook.deliver`: one attempt at delivering one CRM webhook.
//!
//! Semantics (DESIGN §5, docs/CRM_INTEGRATION.md):
//! * at-least-once, in order per conversation (the job's ordering key), 2xx = success, anything
//!   else (3xx included: redirects are not followed) = failure, timeout `WEBHOOK_TIMEOUT_SECS`;
//! * every attempt is re-signed with a fresh timestamp; `webhook-id` and the body never change;
//! * retries after 1, 2, 4, 8, 16 s (`WEBHOOK_RETRY_SCHEDULE`), then growing spacing (doubling
//!   from twice the last fast delay, at most 1 h, ±20 % jitter) until `WEBHOOK_RETRY_HORIZON_SECS`
//!   after the first attempt, with a last attempt at the horizon; then the DLQ;
//! * 401/403 → DLQ at once (`auth_error`); 410 → endpoint disabled, DLQ (`endpoint_gone`);
//!   429/503 → `Retry-After` honoured, clamped to 1 s–1 h;
//! * isolation: at most `WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT` deliveries per endpoint in flight in
//!   a worker process (a saturated endpoint's jobs step aside instead of occupying slots), and a
//!   circuit breaker shared through Postgres: after `WEBHOOK_CIRCUIT_THRESHOLD` consecutive
//!   failures the endpoint rests, then one probe decides;
//! * hostile CRMs: at most 4 KiB of an answer are read and kept (NUL and invalid UTF-8 stored as
//!   U+FFFD), an attempt the log cannot store still counts towards the horizon, and the client's
//!   resolver refuses private addresses in production at connection time (docs/SECURITY.md).
//!
//! The transport (signing, the bounded answer, timing) is `router_core::crm::CrmClient`; this
//! module is the policy. Terminal results (delivered, DLQ) commit with the job's completion in one
//! transaction. A retry commits the delivery's attempt count and next time, then hands the job's
//! reschedule to the runner (`Outcome::Retry`); a crash in between re-runs the job when its lease
//! expires, one attempt early, which at-least-once delivery allows.

use std::time::Duration;

use rand::Rng;
use router_core::crm::{CrmAnswer, CrmAttempt, CrmRequest};
use router_core::db::deliveries::{self, Attempt, Attempted, DeliveryRow};
use router_core::domain::{DeliveryStatus, EndpointStatus};
use router_core::jobs::{DeliverWebhook, JobContext, JobHandler, Outcome};
use router_core::queue::{self, ClaimedJob};
use router_core::ssrf;
use time::OffsetDateTime;
use uuid::Uuid;

/// Longest `Retry-After` honoured, and the shortest.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);

/// Runs [`DeliverWebhook`] jobs.
pub struct DeliverWebhookHandler;

impl JobHandler for DeliverWebhookHandler {
    type Job = DeliverWebhook;

    async fn run(&self, ctx: &JobContext, claimed: &ClaimedJob, job: DeliverWebhook) -> anyhow::Result<Outcome> {
        run(ctx, claimed, job.delivery_id).await
    }
}

/// The endpoint a delivery goes to, once it is known to have one.
struct Target<'a> {
    endpoint_id: Uuid,
    url: &'a str,
    secret_enc: &'a str,
}

/// Runs one delivery attempt.
///
/// # Errors
/// Database failures (the runner retries).
pub async fn run(ctx: &JobContext, job: &ClaimedJob, delivery_id: Uuid) -> anyhow::Result<Outcome> {
    let Some(d) = deliveries::load(&mut *ctx.db.acquire().await?, delivery_id).await? else {
        return Ok(Outcome::Dead { error: format!("delivery {delivery_id} not found") });
    };
    if d.status != DeliveryStatus::Pending {
        queue::complete(&mut *ctx.db.acquire().await?, job.job_id, job.lock_token).await?;
        return Ok(Outcome::Done);
    }
    let now = OffsetDateTime::now_utc();
    let horizon_end = d.first_attempt_at.map(|f| f + ctx.config.webhook_retry_horizon);
    if horizon_end.is_some_and(|h| now > h + time::Duration::seconds(1)) {
        return dlq(ctx, job, &d, None, "retries_exhausted", None).await;
    }
    let (Some(endpoint_id), Some(url), Some(secret_enc)) = (d.endpoint_id, d.url.as_deref(), d.secret_enc.as_deref())
    else {
        return dlq(ctx, job, &d, None, "no_endpoint", Some("the account has no CRM endpoint")).await;
    };
    if d.endpoint_status == Some(EndpointStatus::Disabled) {
        return dlq(
            ctx,
            job,
            &d,
            None,
            "endpoint_disabled",
            Some("the endpoint is disabled (the CRM answered 410) or was removed"),
        )
        .await;
    }
    if let Some(wait) = circuit_hold(ctx, &d, endpoint_id, now).await? {
        return Ok(wait);
    }
    if let Some(wait) = rate_hold(ctx, &d, endpoint_id).await {
        return Ok(wait);
    }
    // In-flight cap per endpoint (this process).
    let Ok(_permit) = ctx.endpoint_slots(endpoint_id).try_acquire_owned() else {
        let jitter = Duration::from_millis(rand::thread_rng().gen_range(50..250));
        return Ok(Outcome::defer(jitter, "endpoint at its in-flight cap"));
    };
    attempt(ctx, job, &d, &Target { endpoint_id, url, secret_enc }, now).await
}

/// The endpoint's own rate (`rate_limit` attempts per second, across all workers, on the Redis
/// sliding window of the Instagram sends): `Some` (a deferral, not an attempt) while it is used
/// up, and while Redis cannot tell (a limited endpoint is not called blind).
async fn rate_hold(ctx: &JobContext, d: &DeliveryRow, endpoint_id: Uuid) -> Option<Outcome> {
    let limit = u32::try_from(d.rate_limit?).ok()?;
    let scope = format!("endpoint:{endpoint_id}");
    match ctx.limiter.admit(&scope, router_core::redis::Lane::Text, limit, Duration::from_secs(1)).await {
        Ok(router_core::redis::Admission::Allowed) => None,
        Ok(router_core::redis::Admission::Throttled(wait)) => Some(Outcome::defer(wait, "endpoint rate limit")),
        Err(e) => {
            metrics::counter!("router_redis_unavailable_total").increment(1);
            tracing::warn!(error = %e, "rate-limited endpoint held: Redis unavailable");
            Some(Outcome::defer(Duration::from_secs(1), "Redis unavailable (endpoint rate limit)"))
        }
    }
}

/// The circuit breaker: `Some` (a deferral) while the endpoint rests or another worker's probe is
/// in flight; `None` when this run may call (closed, or this run is the half-open probe).
async fn circuit_hold(
    ctx: &JobContext,
    d: &DeliveryRow,
    endpoint_id: Uuid,
    now: OffsetDateTime,
) -> anyhow::Result<Option<Outcome>> {
    let Some(open_until) = d.circuit_open_until else { return Ok(None) };
    if open_until > now {
        let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..250));
        let wait = Duration::try_from(open_until - now).unwrap_or_default() + jitter;
        return Ok(Some(Outcome::defer(wait, "circuit open")));
    }
    let hold = (ctx.config.webhook_timeout + Duration::from_secs(5)).as_secs_f64();
    if !deliveries::acquire_probe(&mut *ctx.db.acquire().await?, endpoint_id, hold).await? {
        return Ok(Some(Outcome::defer(Duration::from_millis(500), "circuit half-open: probe in flight")));
    }
    tracing::info!(endpoint.id = %endpoint_id, "circuit half-open: probing the endpoint");
    Ok(None)
}

/// Makes the attempt through the CRM client and records it.
async fn attempt(
    ctx: &JobContext,
    job: &ClaimedJob,
    d: &DeliveryRow,
    target: &Target<'_>,
    now: OffsetDateTime,
) -> anyhow::Result<Outcome> {
    let attempt_no = d.attempts + 1;
    // The address check itself runs in the CRM client's resolver, on the very answer it connects
    // to (ssrf.rs); here only the form (https, no credentials, no forbidden IP literal).
    if ctx.config.is_production()
        && let Err(e) = ssrf::check_form(target.url, true)
    {
        return dlq(ctx, job, d, Some(attempt_no), "blocked_url", Some(&format!("CRM URL refused: {e}"))).await;
    }
    let secret = ctx.config.keyring.decrypt(target.secret_enc)?;
    let previous = match (&d.previous_secret_enc, d.previous_secret_expires_at) {
        (Some(p), Some(until)) if until > now => Some(ctx.config.keyring.decrypt(p)?),
        _ => None,
    };
    let request = CrmRequest {
        url: target.url,
        delivery_id: d.delivery_id,
        event_type: &d.event_type,
        attempt_no,
        body: &d.payload,
        secret: &secret,
        previous_secret: previous.as_ref(),
    };
    let result = ctx.crm.deliver(&request).await;
    if result.answer == CrmAnswer::Refused {
        let why = format!("CRM URL refused: {}", ssrf::UrlError::PrivateAddress);
        return dlq(ctx, job, d, Some(attempt_no), "blocked_url", Some(&why)).await;
    }
    metrics::histogram!("router_webhook_delivery_duration_seconds").record(result.latency.as_secs_f64());
    record(ctx, job, d, target.endpoint_id, attempt_no, &result).await
}

/// Logs the attempt and decides: delivered, DLQ (401/403, 410, horizon) or a retry.
async fn record(
    ctx: &JobContext,
    job: &ClaimedJob,
    d: &DeliveryRow,
    endpoint_id: Uuid,
    attempt_no: i32,
    result: &CrmAttempt,
) -> anyhow::Result<Outcome> {
    let status = result.status();
    let kept_body = match &result.answer {
        CrmAnswer::Status { body, .. } => Some(body.as_str()),
        _ => None,
    };
    let log = Attempt {
        delivery_id: d.delivery_id,
        merchant_id: d.merchant_id,
        attempt_no,
        status_code: status.map(i32::from),
        latency_ms: result.latency.as_millis().min(i32::MAX as u128) as i32,
        error_class: result.error_class(),
        response_body: kept_body,
    };
    if result.error_class().is_none() {
        // The common case in one round trip; should it fail (the attempt log refusing the body),
        // nothing was written and the transaction below stores the attempt without it.
        match deliveries::record_delivered(&mut *ctx.db.acquire().await?, &log, endpoint_id, job.job_id, job.lock_token)
            .await
        {
            Ok((_, follower)) => {
                metrics::counter!("router_webhook_deliveries_total", "result" => "success").increment(1);
                return Ok(if follower { Outcome::Done } else { Outcome::DoneAlone });
            }
            Err(e) if e.as_database_error().is_some() => {
                let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned());
                tracing::warn!(delivery.id = %d.delivery_id, sqlstate = ?code, "recording a delivery in one statement failed; recording it step by step");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut tx = ctx.db.begin().await?;
    deliveries::record_attempt_or_less(&mut tx, &log).await?;
    if result.error_class().is_none() {
        deliveries::record_result(&mut tx, d.delivery_id, attempt_no, Attempted::Delivered).await?;
        deliveries::endpoint_success(&mut tx, endpoint_id).await?;
        queue::complete(&mut tx, job.job_id, job.lock_token).await?;
        tx.commit().await?;
        metrics::counter!("router_webhook_deliveries_total", "result" => "success").increment(1);
        return Ok(Outcome::Done);
    }
    let describe = describe(result, ctx.config.webhook_timeout);
    // Permanent answers.
    if matches!(status, Some(401 | 403)) {
        let moved =
            deliveries::move_to_dlq(&mut tx, d.delivery_id, Some(attempt_no), "auth_error", Some(&describe)).await?;
        finish(tx, job, moved).await?;
        tracing::warn!(endpoint.id = %endpoint_id, status, "CRM rejected our signature or credentials; delivery dead-lettered");
        return Ok(Outcome::Done);
    }
    if status == Some(410) {
        deliveries::disable_endpoint(&mut tx, endpoint_id, "the CRM answered 410 Gone").await?;
        deliveries::move_to_dlq(&mut tx, d.delivery_id, Some(attempt_no), "endpoint_gone", Some(&describe)).await?;
        finish(tx, job, true).await?;
        metrics::counter!("router_webhook_endpoints_disabled_total").increment(1);
        tracing::warn!(endpoint.id = %endpoint_id, "CRM answered 410 Gone: endpoint disabled");
        return Ok(Outcome::Done);
    }
    retry_or_dlq(ctx, tx, job, d, endpoint_id, attempt_no, result, &describe).await
}

/// A retryable failure: counts towards the circuit, then schedules the next attempt within the
/// horizon (one last attempt exactly at it), or dead-letters the delivery past it.
#[allow(clippy::too_many_arguments)]
async fn retry_or_dlq(
    ctx: &JobContext,
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    job: &ClaimedJob,
    d: &DeliveryRow,
    endpoint_id: Uuid,
    attempt_no: i32,
    result: &CrmAttempt,
    describe: &str,
) -> anyhow::Result<Outcome> {
    let threshold = ctx.config.webhook_circuit_threshold as i32;
    if deliveries::endpoint_failure(&mut tx, endpoint_id, threshold, ctx.config.webhook_circuit_open.as_secs_f64())
        .await?
    {
        tracing::warn!(endpoint.id = %endpoint_id, "circuit opened after consecutive failures");
    }
    let honoured = match result.answer {
        CrmAnswer::Status { status: 429 | 503, retry_after, .. } => retry_after,
        _ => None,
    };
    let delay = next_delay(attempt_no, &ctx.config.webhook_retry_schedule, honoured);
    let now = OffsetDateTime::now_utc();
    let horizon = d.first_attempt_at.unwrap_or(now) + ctx.config.webhook_retry_horizon;
    let mut next_at = now + delay;
    if next_at > horizon {
        if horizon <= now {
            deliveries::move_to_dlq(&mut tx, d.delivery_id, Some(attempt_no), "retries_exhausted", Some(describe))
                .await?;
            finish(tx, job, true).await?;
            return Ok(Outcome::Done);
        }
        next_at = horizon; // one last attempt exactly at the horizon
    }
    let retry = Attempted::Retry { next_at, error: describe };
    deliveries::record_result(&mut tx, d.delivery_id, attempt_no, retry).await?;
    tx.commit().await?;
    metrics::counter!("router_webhook_deliveries_total", "result" => "failure").increment(1);
    tracing::info!(endpoint.id = %endpoint_id, attempt = attempt_no, status = result.status(), "delivery failed; retry scheduled");
    Ok(Outcome::retry_at(next_at, describe))
}

/// What the attempt log and the DLQ say about a failed attempt.
fn describe(result: &CrmAttempt, timeout: Duration) -> String {
    match result.answer {
        CrmAnswer::Status { status, .. } => format!("CRM answered HTTP {status}"),
        CrmAnswer::Timeout => format!("no answer within {} s", timeout.as_secs()),
        CrmAnswer::Connect => "could not connect to the CRM".to_owned(),
        CrmAnswer::Refused | CrmAnswer::Transport => "transport error".to_owned(),
    }
}

/// Completes the job in the transaction that dead-lettered its delivery, and counts it.
async fn finish(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    job: &ClaimedJob,
    moved: bool,
) -> anyhow::Result<()> {
    queue::complete(&mut tx, job.job_id, job.lock_token).await?;
    tx.commit().await?;
    if moved {
        metrics::counter!("router_webhook_deliveries_total", "result" => "dlq").increment(1);
    }
    Ok(())
}

/// Delay before the attempt after `attempt_no` failed.
#[must_use]
pub fn next_delay(attempt_no: i32, schedule: &[Duration], retry_after: Option<Duration>) -> Duration {
    let n = attempt_no.max(1) as usize;
    let base = if n <= schedule.len() {
        schedule[n - 1]
    } else {
        let last = schedule.last().copied().unwrap_or(Duration::from_secs(16)).max(Duration::from_millis(1));
        let exp = (n - schedule.len()).min(20) as u32;
        let d = last.saturating_mul(2u32.saturating_pow(exp)).min(Duration::from_secs(3600));
        let jitter: f64 = rand::thread_rng().gen_range(0.8..=1.2);
        d.mul_f64(jitter)
    };
    match retry_after {
        Some(ra) => base.max(ra.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX)),
        None => base,
    }
}

async fn dlq(
    ctx: &JobContext,
    job: &ClaimedJob,
    d: &DeliveryRow,
    attempts: Option<i32>,
    reason: &str,
    error: Option<&str>,
) -> anyhow::Result<Outcome> {
    let mut tx = ctx.db.begin().await?;
    let moved = deliveries::move_to_dlq(&mut tx, d.delivery_id, attempts, reason, error).await?;
    finish(tx, job, moved).await?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn the_fast_schedule_then_growing_jittered_spacing_capped_at_an_hour() {
        let s = secs(&[1, 2, 4, 8, 16]);
        assert_eq!(next_delay(1, &s, None), Duration::from_secs(1));
        assert_eq!(next_delay(5, &s, None), Duration::from_secs(16));
        let d6 = next_delay(6, &s, None).as_secs_f64();
        assert!((25.6..=38.4).contains(&d6), "{d6}");
        let d7 = next_delay(7, &s, None).as_secs_f64();
        assert!((51.2..=76.8).contains(&d7), "{d7}");
        assert!(next_delay(30, &s, None) <= Duration::from_secs(4320));
        // Retry-After wins when longer, clamped to an hour.
        assert_eq!(next_delay(1, &s, Some(Duration::from_secs(30))), Duration::from_secs(30));
        assert_eq!(next_delay(1, &s, Some(Duration::from_secs(86_400))), Duration::from_secs(3600));
    }
}
