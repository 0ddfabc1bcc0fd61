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

use std::time::{Duration, Instant};

use rand::Rng;
use router_core::db::deliveries::{self, Attempt, DeliveryRow};
use router_core::queue::{self, ClaimedJob};
use router_core::{ssrf, webhooks};
use secrecy::ExposeSecret;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{JobContext, Outcome};
use crate::runner::after;

/// Longest `Retry-After` honoured, and the shortest.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
/// Bytes of the CRM's response kept in the attempt log.
const BODY_KEEP: usize = 4096;

/// Runs one delivery attempt.
///
/// # Errors
/// Database failures (the runner retries).
pub async fn run(ctx: &JobContext, job: &ClaimedJob) -> anyhow::Result<Outcome> {
    let delivery_id: Uuid = serde_json::from_value(job.payload.get("delivery_id").cloned().unwrap_or(Value::Null))?;
    let Some(d) = deliveries::load(&mut *ctx.db.acquire().await?, delivery_id).await? else {
        return Ok(Outcome::Dead { error: format!("delivery {delivery_id} not found") });
    };
    if d.status != "pending" {
        queue::complete(&mut *ctx.db.acquire().await?, job.job_id, job.lock_token).await?;
        return Ok(Outcome::Done);
    }
    let now = OffsetDateTime::now_utc();
    let horizon_end = d.first_attempt_at.map(|f| f + ctx.config.webhook_retry_horizon);
    if horizon_end.is_some_and(|h| now > h + time::Duration::seconds(1)) {
        return dlq(ctx, job, &d, None, "retries_exhausted", None).await;
    }
    let (Some(endpoint_id), Some(url), Some(secret_enc)) = (d.endpoint_id, d.url.clone(), d.secret_enc.clone()) else {
        return dlq(ctx, job, &d, None, "no_endpoint", Some("the account has no CRM endpoint")).await;
    };
    if d.endpoint_status.as_deref() == Some("disabled") {
        return dlq(ctx, job, &d, None, "endpoint_disabled", Some("the endpoint is disabled (the CRM answered 410)"))
            .await;
    }

    // Circuit breaker: rest while open; after the timer, one probe at a time.
    if let Some(open_until) = d.circuit_open_until {
        if open_until > now {
            let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..250));
            let wait = Duration::try_from(open_until - now).unwrap_or_default() + jitter;
            return Ok(Outcome::Retry { at: after(wait), error: "circuit open".into(), count_attempt: false });
        }
        let hold = (ctx.config.webhook_timeout + Duration::from_secs(5)).as_secs_f64();
        if !deliveries::acquire_probe(&mut *ctx.db.acquire().await?, endpoint_id, hold).await? {
            return Ok(Outcome::Retry {
                at: after(Duration::from_millis(500)),
                error: "circuit half-open: probe in flight".into(),
                count_attempt: false,
            });
        }
        tracing::info!(endpoint.id = %endpoint_id, "circuit half-open: probing the endpoint");
    }

    // In-flight cap per endpoint (this process).
    let Ok(_permit) = ctx.endpoint_slots(endpoint_id).try_acquire_owned() else {
        let jitter = Duration::from_millis(rand::thread_rng().gen_range(50..250));
        return Ok(Outcome::Retry {
            at: after(jitter),
            error: "endpoint at its in-flight cap".into(),
            count_attempt: false,
        });
    };

    let attempt_no = d.attempts + 1;
    // The address check itself runs in the CRM client's resolver, on the very answer it connects
    // to (ssrf.rs); here only the form (https, no credentials, no forbidden IP literal).
    if ctx.config.is_production()
        && let Err(e) = ssrf::check_form(&url, true)
    {
        return dlq(ctx, job, &d, Some(attempt_no), "blocked_url", Some(&format!("CRM URL refused: {e}"))).await;
    }

    let secret = ctx.config.keyring.decrypt(&secret_enc)?;
    let previous = match (&d.previous_secret_enc, d.previous_secret_expires_at) {
        (Some(p), Some(until)) if until > now => Some(ctx.config.keyring.decrypt(p)?),
        _ => None,
    };
    let body = d.payload.as_bytes();
    let sig = webhooks::sign(
        secret.expose_secret(),
        previous.as_ref().map(ExposeSecret::expose_secret),
        &webhooks::webhook_id(d.delivery_id),
        now.unix_timestamp(),
        body,
    );
    let mut req = ctx
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", &sig.hub)
        .header("webhook-id", &sig.id)
        .header("webhook-timestamp", sig.timestamp.to_string())
        .header("webhook-signature", &sig.signature)
        .header("x-message-router-event", &d.event_type)
        .header("x-message-router-attempt", attempt_no.to_string())
        .body(d.payload.clone());
    if let Some(next) = &sig.hub_next {
        req = req.header("x-hub-signature-256-next", next);
    }

    let started = Instant::now();
    let result = req.send().await;
    let (status, retry_after, resp_body, error_class) = match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after =
                resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
            let text = read_kept_body(resp).await;
            let class = match status {
                200..=299 => None,
                300..=399 => Some("redirect"),
                400..=499 => Some("http_4xx"),
                _ => Some("http_5xx"),
            };
            (Some(status), retry_after, Some(text), class)
        }
        Err(e) if ssrf::blocked_by_guard(&e).is_some() => {
            let why = format!("CRM URL refused: {}", ssrf::UrlError::PrivateAddress);
            return dlq(ctx, job, &d, Some(attempt_no), "blocked_url", Some(&why)).await;
        }
        Err(e) if e.is_timeout() => (None, None, None, Some("timeout")),
        Err(e) if e.is_connect() => (None, None, None, Some("connect")),
        Err(_) => (None, None, None, Some("transport")),
    };
    let latency = started.elapsed();
    metrics::histogram!("router_webhook_delivery_duration_seconds").record(latency.as_secs_f64());

    let mut tx = ctx.db.begin().await?;
    let attempt = Attempt {
        delivery_id: d.delivery_id,
        merchant_id: d.merchant_id,
        attempt_no,
        status_code: status.map(i32::from),
        latency_ms: latency.as_millis().min(i32::MAX as u128) as i32,
        error_class,
        response_body: resp_body.as_deref(),
    };
    deliveries::record_attempt_or_less(&mut tx, &attempt).await?;

    if error_class.is_none() {
        deliveries::mark_delivered(&mut tx, d.delivery_id, attempt_no).await?;
        deliveries::endpoint_success(&mut tx, endpoint_id).await?;
        queue::complete(&mut tx, job.job_id, job.lock_token).await?;
        tx.commit().await?;
        metrics::counter!("router_webhook_deliveries_total", "result" => "success").increment(1);
        return Ok(Outcome::Done);
    }

    let describe = match (status, error_class) {
        (Some(s), _) => format!("CRM answered HTTP {s}"),
        (None, Some("timeout")) => format!("no answer within {} s", ctx.config.webhook_timeout.as_secs()),
        (None, Some("connect")) => "could not connect to the CRM".to_owned(),
        _ => "transport error".to_owned(),
    };
    // Permanent answers.
    if matches!(status, Some(401 | 403)) {
        let moved =
            deliveries::move_to_dlq(&mut tx, d.delivery_id, Some(attempt_no), "auth_error", Some(&describe)).await?;
        queue::complete(&mut tx, job.job_id, job.lock_token).await?;
        tx.commit().await?;
        if moved {
            metrics::counter!("router_webhook_deliveries_total", "result" => "dlq").increment(1);
        }
        tracing::warn!(endpoint.id = %endpoint_id, status, "CRM rejected our signature or credentials; delivery dead-lettered");
        return Ok(Outcome::Done);
    }
    if status == Some(410) {
        deliveries::disable_endpoint(&mut tx, endpoint_id, "the CRM answered 410 Gone").await?;
        deliveries::move_to_dlq(&mut tx, d.delivery_id, Some(attempt_no), "endpoint_gone", Some(&describe)).await?;
        queue::complete(&mut tx, job.job_id, job.lock_token).await?;
        tx.commit().await?;
        metrics::counter!("router_webhook_deliveries_total", "result" => "dlq").increment(1);
        metrics::counter!("router_webhook_endpoints_disabled_total").increment(1);
        tracing::warn!(endpoint.id = %endpoint_id, "CRM answered 410 Gone: endpoint disabled");
        return Ok(Outcome::Done);
    }

    // Retryable: count towards the circuit, then schedule the next attempt within the horizon.
    let threshold = ctx.config.webhook_circuit_threshold as i32;
    if deliveries::endpoint_failure(&mut tx, endpoint_id, threshold, ctx.config.webhook_circuit_open.as_secs_f64())
        .await?
    {
        tracing::warn!(endpoint.id = %endpoint_id, "circuit opened after consecutive failures");
    }
    let honoured = if matches!(status, Some(429 | 503)) { retry_after } else { None };
    let delay = next_delay(attempt_no, &ctx.config.webhook_retry_schedule, honoured);
    let first = d.first_attempt_at.unwrap_or(now);
    let horizon = first + ctx.config.webhook_retry_horizon;
    let mut next_at = OffsetDateTime::now_utc() + delay;
    if next_at > horizon {
        if horizon <= OffsetDateTime::now_utc() {
            deliveries::move_to_dlq(&mut tx, d.delivery_id, Some(attempt_no), "retries_exhausted", Some(&describe))
                .await?;
            queue::complete(&mut tx, job.job_id, job.lock_token).await?;
            tx.commit().await?;
            metrics::counter!("router_webhook_deliveries_total", "result" => "dlq").increment(1);
            return Ok(Outcome::Done);
        }
        next_at = horizon; // one last attempt exactly at the horizon
    }
    deliveries::mark_retry(&mut tx, d.delivery_id, attempt_no, next_at, &describe).await?;
    queue::retry(&mut tx, job.job_id, job.lock_token, next_at, Some(&describe), true).await?;
    tx.commit().await?;
    metrics::counter!("router_webhook_deliveries_total", "result" => "failure").increment(1);
    tracing::info!(endpoint.id = %endpoint_id, attempt = attempt_no, status, "delivery failed; retry scheduled");
    Ok(Outcome::Done)
}

/// Reads at most [`BODY_KEEP`] bytes of the CRM's answer, chunk by chunk, and drops the rest
/// with the connection: a CRM answering with gigabytes costs one chunk of memory, not the body.
/// The client's total timeout bounds the time; a body cut short by it or by a transport error
/// keeps what arrived (the status already decided the outcome).
async fn read_kept_body(mut resp: reqwest::Response) -> String {
    let mut kept = Vec::with_capacity(BODY_KEEP.min(resp.content_length().unwrap_or(0) as usize));
    while kept.len() < BODY_KEEP {
        match resp.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(BODY_KEEP - kept.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    drop(resp);
    deliveries::stored_text(&kept)
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

/// `Retry-After`: delta-seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = OffsetDateTime::parse(v.trim(), &format).ok()?;
    Duration::try_from(at - OffsetDateTime::now_utc()).ok()
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
    queue::complete(&mut tx, job.job_id, job.lock_token).await?;
    tx.commit().await?;
    if moved {
        metrics::counter!("router_webhook_deliveries_total", "result" => "dlq").increment(1);
    }
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

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let soon = (OffsetDateTime::now_utc() + time::Duration::seconds(90))
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let d = parse_retry_after(&soon).unwrap();
        assert!(d > Duration::from_secs(80) && d <= Duration::from_secs(90));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
