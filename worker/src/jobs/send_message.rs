//! `message.send`: one outbound message to the Graph Send API.
//!
//! Order of checks, and why:
//! 1. The message is no longer `pending` → done (a re-run after a crash between the Graph call and
//!    the commit of a previous run; nothing is sent twice by the queue's doing).
//! 2. The account is deleted → fail `account_deleted`. Inactive or in `error` (token invalid) →
//!    wait without counting an attempt: the message is kept and resumes when the account is
//!    re-authenticated (`PUT /accounts/{id}` wakes the jobs).
//! 3. The per-account Redis sliding window (text / media lanes) admits the call, or the job is
//!    rescheduled for when it will (not an attempt). Redis unreachable → defer: never send
//!    unthrottled.
//! 4. Before the first part, every attachment is probed against Meta's limits
//!    (`router_core::media`: bounded HEAD / ranged GET, SSRF-guarded): too large, wrong type, 4xx
//!    or a forbidden address fails the message with its `media_*` code; a failing media host
//!    (5xx, timeout) is retried with backoff (`media_unreachable`).
//! 5. Call Meta, part by part (long text and attachment+text are several calls); each accepted
//!    part is recorded at once so a retry resumes after it. The job's lease is renewed right
//!    before every call after the first, so it only has to outlast one call (`JOB_LEASE_SECS` > HTTP timeout,
//!    validated), however many parts a message has. When the renewal finds the lease gone
//!    (this worker stalled past it and another claimed the job), the send stops before the
//!    next call: the new owner sends the remaining parts, and a part is never sent by both.
//! 6. Classify the outcome (`GraphError::class`): retry with exponential backoff + full jitter
//!    (honouring Meta's usage headers), fail for good with a clear `error.code`, or on 190 mark the
//!    account `error` and emit `account.disabled`.
//!
//! 7. No blind resend: right before each call the intent is recorded, and an ambiguous answer
//!    (timeout, lost connection, 1/1357046…) holds the send until Meta's echo settles it or the
//!    reconciliation window ends (`send_reconcile`, `router_core::reconcile`).
//!
//! Success, failure and the CRM webhooks they cause (`message.sent` + `message.delivered`, or
//! `message.failed`) commit in one transaction with the job's completion, and only if this run
//! still holds the lease: a run that lost it commits no outcome (the owner does), so the message
//! completes, and its webhooks are emitted, once.

use std::time::Duration;

use router_core::db::messages::{self, SendRow};
use router_core::domain::{AccountStatus, MessageStatus, events};
use router_core::graph::{ErrorClass, GraphError, Usage};
use router_core::jobs::{JobContext, JobHandler, Outcome, SendMessage, after, full_jitter};
use router_core::queue::{self, ClaimedJob};
use router_core::redis::{Admission, Lane};
use router_core::webhooks::{self, status_event};
use uuid::Uuid;

use super::send_reconcile::{self, Before};

/// How long an account in `error`/`inactive` parks its sends before checking again.
const PARKED_RECHECK: Duration = Duration::from_secs(300);

/// Runs [`SendMessage`] jobs.
pub struct SendMessageHandler;

impl JobHandler for SendMessageHandler {
    type Job = SendMessage;

    async fn run(&self, ctx: &JobContext, claimed: &ClaimedJob, job: SendMessage) -> anyhow::Result<Outcome> {
        run(ctx, claimed, job.message_id).await
    }

    /// Unexpected errors on the last attempt: fail the message visibly instead of leaving it
    /// pending with its job dead-lettered.
    async fn give_up(
        &self,
        ctx: &JobContext,
        claimed: &ClaimedJob,
        job: SendMessage,
        error: anyhow::Error,
    ) -> anyhow::Result<Outcome> {
        give_up(ctx, claimed, job.message_id, &error).await
    }
}

/// Runs one send job.
///
/// # Errors
/// Database failures (the runner retries).
pub async fn run(ctx: &JobContext, job: &ClaimedJob, message_id: Uuid) -> anyhow::Result<Outcome> {
    let Some(msg) = messages::load_for_send(&mut *ctx.db.acquire().await?, message_id).await? else {
        return Ok(Outcome::Dead { error: format!("message {message_id} not found") });
    };
    if let Some(outcome) = check_state(ctx, job, &msg).await? {
        return Ok(outcome);
    }

    // An earlier call may have reached Instagram without a definite answer: settle it first.
    let msg = match send_reconcile::before_send(ctx, job, msg).await? {
        Before::Send(m) => *m,
        Before::Stop(outcome) => return Ok(outcome),
        Before::GiveUp(m) => {
            let why = "no echo from Instagram within the reconciliation window after an ambiguous answer on the \
                       last attempt: the message may or may not have been delivered";
            return fail(ctx, job, &m, "instagram_ambiguous_result", why, true).await;
        }
    };

    let outbound = msg.outbound();
    let parts = outbound.parts();
    let done = msg.instagram_message_ids.len();
    // The media goes first (part 0): once Instagram accepted it there is nothing left to check.
    if done == 0
        && let Some(outcome) = check_media(ctx, job, &msg).await?
    {
        return Ok(outcome);
    }
    let Some(graph) = ctx.graphs.for_account(msg.sandbox) else {
        return fail(ctx, job, &msg, "sandbox_not_configured", "SANDBOX_GRAPH_API_BASE_URL is not set", false).await;
    };
    let token = ctx.config.keyring.decrypt(&msg.access_token_enc)?;

    // The last part's mid is recorded in the final transaction (one commit per send); earlier
    // parts are recorded as soon as Instagram accepts them, so a retry resumes after them.
    let mut last_mid: Option<String> = None;
    for (i, part) in parts.iter().enumerate().skip(done) {
        if let Some(outcome) = admit(ctx, &msg, part.lane()).await {
            return Ok(outcome);
        }
        // The intent is written only while the lease covers the call (renewed first when it
        // would not: no extra write on the one-part hot path).
        if !send_reconcile::before_call(ctx, job, &msg, i, part).await? {
            let of = parts.len();
            tracing::warn!(part = i + 1, of, "lease lost before a Graph call; stopping (the new owner sends it)");
            return Ok(Outcome::LeaseLost);
        }
        match graph.send_part(&msg.instagram_account_id, &token, outbound.recipient_id, part, outbound.tag).await {
            Ok(sent) => {
                slow_down_if_near_limit(ctx, &msg, sent.usage).await;
                if i + 1 == parts.len() {
                    last_mid = Some(sent.message_id);
                } else {
                    messages::record_part(&mut *ctx.db.acquire().await?, msg.message_id, &sent.message_id).await?;
                }
                tracing::debug!(part = i + 1, of = parts.len(), "part accepted by Instagram");
            }
            Err(e) => {
                if let Some(held) = send_reconcile::on_error(ctx, job, &msg, i, &e).await? {
                    return Ok(held);
                }
                return handle_error(ctx, job, &msg, &e).await;
            }
        }
    }
    complete_sent(ctx, job, &msg, last_mid.as_deref()).await
}

/// The message's and its account's state before any call: a message no longer `pending` is done
/// (a re-run), a deleted account fails it, an inactive one parks it. `None`: go on.
async fn check_state(ctx: &JobContext, job: &ClaimedJob, msg: &SendRow) -> anyhow::Result<Option<Outcome>> {
    if msg.status != MessageStatus::Pending {
        queue::complete(&mut *ctx.db.acquire().await?, job.job_id, job.lock_token).await?;
        return Ok(Some(Outcome::Done));
    }
    if msg.account_deleted_at.is_some() {
        let why = "the account was disconnected before the message was sent";
        return fail(ctx, job, msg, "account_deleted", why, false).await.map(Some);
    }
    if msg.account_status != AccountStatus::Active {
        let why = format!("account is {}; waiting for re-authentication", msg.account_status);
        return Ok(Some(Outcome::defer(PARKED_RECHECK, why)));
    }
    Ok(None)
}

/// The per-account Redis sliding window of `lane`: `None` when the call may go now, else the
/// deferral (throttled: when the window frees; Redis down: 2 s, never unthrottled). Neither
/// counts as an attempt.
async fn admit(ctx: &JobContext, msg: &SendRow, lane: Lane) -> Option<Outcome> {
    let limit = match lane {
        Lane::Text => ctx.config.rate_limit_text_per_sec,
        Lane::Media => ctx.config.rate_limit_media_per_sec,
    };
    match ctx.limiter.admit(&msg.account_id.to_string(), lane, limit, Duration::from_secs(1)).await {
        Ok(Admission::Allowed) => None,
        Ok(Admission::Throttled(wait)) => {
            metrics::counter!("router_rate_limit_throttled_total", "lane" => lane.as_str()).increment(1);
            let jitter = Duration::from_millis(rand::random::<u64>() % 50);
            Some(Outcome::defer(wait + jitter, "throttled by the per-account limit"))
        }
        Err(e) => {
            metrics::counter!("router_redis_unavailable_total", "op" => "rate_limit").increment(1);
            tracing::warn!(error = %e, "rate limiter unavailable; send deferred (never sent unthrottled)");
            Some(Outcome::defer(Duration::from_secs(2), "Redis unavailable; deferred"))
        }
    }
}

/// Every part accepted: sent (+ delivered), webhooks, job done — one transaction. The last part
/// is recorded even when the lease was lost meanwhile (Instagram accepted it: the new owner must
/// not send it again); the outcome only by the lease holder.
async fn complete_sent(
    ctx: &JobContext,
    job: &ClaimedJob,
    msg: &SendRow,
    last_mid: Option<&str>,
) -> anyhow::Result<Outcome> {
    let mut tx = ctx.db.begin().await?;
    router_core::reconcile::settle_answered(&mut tx, msg.message_id, last_mid).await?;
    if !queue::complete(&mut tx, job.job_id, job.lock_token).await? {
        tx.commit().await?;
        return Ok(Outcome::LeaseLost);
    }
    if let Some(row) = messages::mark_sent(&mut tx, msg.message_id, job.attempts).await? {
        let sent = [
            status_event(&row, events::MESSAGE_SENT, "sent"),
            status_event(&row, events::MESSAGE_DELIVERED, "delivered"),
        ];
        webhooks::enqueue_events(&mut tx, &sent).await?;
    }
    tx.commit().await?;
    metrics::counter!("router_messages_sent_total").increment(1);
    Ok(Outcome::Done)
}

/// Probes every attachment (`router_core::media`) before the first Graph call. A file Instagram
/// would refuse fails the message now with its `media_*` code; a media host failing (5xx,
/// timeout) is retried like a Graph outage. `None`: all acceptable, go on.
async fn check_media(ctx: &JobContext, job: &ClaimedJob, msg: &SendRow) -> anyhow::Result<Option<Outcome>> {
    let outbound = msg.outbound();
    let items = outbound.attachment.map_or(&[][..], |a| a.items());
    for (i, item) in items.iter().enumerate() {
        let e = match ctx.media.check(item.kind.as_str(), &item.url).await {
            Ok(info) => {
                tracing::debug!(item = i, via_range_get = info.via_range_get, size = ?info.size, "media acceptable");
                continue;
            }
            Err(e) => e,
        };
        metrics::counter!("router_media_checks_failed_total", "code" => e.code).increment(1);
        if !e.retryable {
            tracing::info!(error.code = e.code, item = i, "attachment refused before sending");
            return fail(ctx, job, msg, e.code, &e.message, false).await.map(Some);
        }
        if job.attempts >= job.max_attempts {
            let message = format!("gave up after {} attempts: {}", job.attempts, e.message);
            return fail(ctx, job, msg, e.code, &message, true).await.map(Some);
        }
        let wait =
            full_jitter(job.attempts, Duration::from_secs(1), Duration::from_secs(600), Duration::from_millis(500));
        let mut conn = ctx.db.acquire().await?;
        messages::note_retry(&mut conn, msg.message_id, job.attempts, e.code, &e.message).await?;
        tracing::info!(error.code = e.code, retry_in_ms = wait.as_millis() as u64, "media host failed; retrying");
        return Ok(Some(Outcome::Retry { at: after(wait), error: e.code.to_owned(), count_attempt: true }));
    }
    Ok(None)
}

/// Meta reports usage ≥ 90 %: hold this account's sends for a moment (all workers, via Redis).
async fn slow_down_if_near_limit(ctx: &JobContext, msg: &SendRow, usage: Usage) {
    if usage.max_percent >= 90 {
        let pause = usage.regain_after.unwrap_or(Duration::from_secs(if usage.max_percent >= 100 { 60 } else { 5 }));
        if let Err(e) = ctx.limiter.cool_down(&msg.account_id.to_string(), pause).await {
            tracing::warn!(error = %e, "could not record Meta usage cool-down");
        }
    }
}

async fn handle_error(ctx: &JobContext, job: &ClaimedJob, msg: &SendRow, e: &GraphError) -> anyhow::Result<Outcome> {
    let code = e.error_code();
    match e.class() {
        ErrorClass::Permanent => {
            tracing::info!(error.code = %code, meta = ?e.meta_code(), "Instagram refused the message for good");
            fail(ctx, job, msg, &code, &e.to_string(), false).await
        }
        ErrorClass::TokenInvalid => {
            tracing::warn!(meta = ?e.meta_code(), "Instagram rejected the account's token; account marked error");
            disable_account(ctx, msg, &code).await?;
            let mut conn = ctx.db.acquire().await?;
            messages::note_retry(
                &mut conn,
                msg.message_id,
                job.attempts,
                &code,
                "waiting for the account to be re-authenticated",
            )
            .await?;
            Ok(Outcome::Retry { at: after(PARKED_RECHECK), error: code, count_attempt: false })
        }
        class @ (ErrorClass::Retryable | ErrorClass::Throttled { .. }) => {
            if job.attempts >= job.max_attempts {
                return fail(ctx, job, msg, &code, &format!("gave up after {} attempts: {e}", job.attempts), true)
                    .await;
            }
            let floor = match class {
                ErrorClass::Throttled { min_wait } => min_wait.unwrap_or(Duration::from_secs(5)),
                _ => Duration::from_millis(500),
            };
            let wait = full_jitter(job.attempts, Duration::from_secs(1), Duration::from_secs(600), floor);
            if let ErrorClass::Throttled { .. } = class {
                let _ = ctx.limiter.cool_down(&msg.account_id.to_string(), floor).await;
            }
            let mut conn = ctx.db.acquire().await?;
            messages::note_retry(&mut conn, msg.message_id, job.attempts, &code, &e.to_string()).await?;
            tracing::info!(error.code = %code, retry_in_ms = wait.as_millis() as u64, "send failed; retrying");
            Ok(Outcome::Retry { at: after(wait), error: code, count_attempt: true })
        }
    }
}

async fn fail(
    ctx: &JobContext,
    job: &ClaimedJob,
    msg: &SendRow,
    code: &str,
    message: &str,
    retryable: bool,
) -> anyhow::Result<Outcome> {
    let mut tx = ctx.db.begin().await?;
    if !queue::complete(&mut tx, job.job_id, job.lock_token).await? {
        return Ok(Outcome::LeaseLost); // dropped: rolled back; the lease holder decides
    }
    router_core::reconcile::clear(&mut tx, msg.message_id).await?;
    if let Some(row) = messages::mark_failed(&mut tx, msg.message_id, job.attempts, code, message, retryable).await? {
        webhooks::enqueue_events(&mut tx, &[status_event(&row, events::MESSAGE_FAILED, "failed")]).await?;
    }
    tx.commit().await?;
    let reason = router_core::graph::failure_reason_label(code).to_owned();
    metrics::counter!("router_messages_failed_total", "reason" => reason).increment(1);
    Ok(Outcome::Done)
}

/// Marks the account `error` and tells the CRM (`account.disabled`), once.
async fn disable_account(ctx: &JobContext, msg: &SendRow, code: &str) -> anyhow::Result<()> {
    let mut tx = ctx.db.begin().await?;
    router_core::lifecycle::mark_token_invalid(
        &mut tx,
        msg.merchant_id,
        msg.account_id,
        &msg.instagram_account_id,
        code,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The last attempt ended in an unexpected error (database, decryption…): the message fails with
/// `internal_error` (retryable) so the CRM hears `message.failed` rather than nothing.
///
/// # Errors
/// Database failures.
pub async fn give_up(
    ctx: &JobContext,
    job: &ClaimedJob,
    message_id: Uuid,
    e: &anyhow::Error,
) -> anyhow::Result<Outcome> {
    tracing::error!(error = %format_args!("{e:#}"), "send failed on its last attempt");
    let mut tx = ctx.db.begin().await?;
    if !queue::complete(&mut tx, job.job_id, job.lock_token).await? {
        return Ok(Outcome::LeaseLost);
    }
    router_core::reconcile::clear(&mut tx, message_id).await?;
    if let Some(row) = messages::mark_failed(
        &mut tx,
        message_id,
        job.attempts,
        "internal_error",
        "the router could not complete the send; retry with a new request",
        true,
    )
    .await?
    {
        webhooks::enqueue_events(&mut tx, &[status_event(&row, events::MESSAGE_FAILED, "failed")]).await?;
    }
    tx.commit().await?;
    metrics::counter!("router_messages_failed_total", "reason" => "internal_error").increment(1);
    Ok(Outcome::Done)
}
