//! The send job's side of the echo reconciliation (`router_core::reconcile`, issue 17): no
//! duplicate DM after an ambiguous Send API answer.
//!
//! Three hooks, called by `send_message`:
//! * [`before_send`] at the start of a run: an earlier call of this message whose answer is unknown
//!   (ambiguous, or its worker died mid-call) is settled first — its echo recorded the part, or the
//!   run waits (not an attempt) until the reconciliation window ends, and only then sends again;
//! * [`before_call`] right before each Graph call: records the intent, committed before the call,
//!   only while the job's lease covers the call (renewed first when it would not);
//! * [`on_error`] after a failed call: an ambiguous answer holds the send for
//!   `SEND_RECONCILE_WINDOW_SECS`; any other error proves nothing was sent and clears the intent.
//!
//! Success clears the intent in the completion transaction (`send_message`).

use router_core::db::messages::{self, SendRow};
use router_core::db::send_intents::Lease;
use router_core::graph::GraphError;
use router_core::outbound::SendPart;
use router_core::queue::{self, ClaimedJob};
use router_core::reconcile::{self, Settle};
use time::OffsetDateTime;

use router_core::jobs::{JobContext, Outcome};

/// What a run does before sending anything.
pub(super) enum Before {
    /// Send the parts not yet recorded (of this, possibly re-read, message).
    Send(Box<SendRow>),
    /// Stop here with this outcome (waiting for an echo).
    Stop(Outcome),
    /// The window ended without an echo on the last attempt: fail the message visibly.
    GiveUp(Box<SendRow>),
}

/// Settles an earlier call of the message (see the module docs).
///
/// # Errors
/// Database failures.
pub(super) async fn before_send(ctx: &JobContext, job: &ClaimedJob, msg: SendRow) -> anyhow::Result<Before> {
    let mut conn = ctx.db.acquire().await?;
    let settle = reconcile::settle_previous(
        &mut conn,
        msg.message_id,
        msg.instagram_message_ids.len(),
        job.attempts >= job.max_attempts,
        ctx.config.graph_timeout,
        ctx.config.send_reconcile_window,
    )
    .await?;
    Ok(match settle {
        Settle::Go { reload: false } => Before::Send(Box::new(msg)),
        Settle::Go { reload: true } => match messages::load_for_send(&mut conn, msg.message_id).await? {
            Some(fresh) => Before::Send(Box::new(fresh)),
            None => Before::Stop(Outcome::Dead { error: format!("message {} not found", msg.message_id) }),
        },
        Settle::Wait { until } => Before::Stop(Outcome::Retry {
            at: until,
            error: "waiting for the echo of an ambiguous send".into(),
            count_attempt: false,
        }),
        Settle::GiveUp => Before::GiveUp(Box::new(msg)),
    })
}

/// Records the intent of the call about to be made, committed before it, while the job's lease
/// covers the call; a lease too short for it is renewed first. False: the lease is lost (the job
/// was re-claimed), and the call must not be made (the new owner makes it).
///
/// # Errors
/// Database failures (nothing is sent then).
pub(super) async fn before_call(
    ctx: &JobContext,
    job: &ClaimedJob,
    msg: &SendRow,
    index: usize,
    part: &SendPart<'_>,
) -> anyhow::Result<bool> {
    let mut conn = ctx.db.acquire().await?;
    // Validation keeps `JOB_LEASE_SECS` above the call's timeout plus 5 s, so this is the
    // timeout plus the margin; the cap only keeps a lease shortened by hand (tests) usable.
    let must_cover = (ctx.config.graph_timeout + LEASE_MARGIN).min(ctx.config.job_lease / 2);
    let lease = Lease { job_id: job.job_id, lock_token: job.lock_token, must_cover };
    let record = async |conn: &mut sqlx::PgConnection| {
        reconcile::record_intent(
            conn,
            msg.message_id,
            msg.merchant_id,
            msg.account_id,
            &msg.recipient_id,
            index,
            part,
            lease,
        )
        .await
    };
    if record(&mut conn).await? {
        return Ok(true);
    }
    // The lease is this worker's but ends too soon (a slow run), or it is lost: renewing tells.
    if !queue::renew(&mut conn, job.job_id, job.lock_token, ctx.config.job_lease).await? {
        return Ok(false);
    }
    Ok(record(&mut conn).await?)
}

/// What the lease must cover beyond the call's timeout before the call is made.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// After a failed call: `Some(outcome)` when the answer was ambiguous (the send is now held and
/// re-run at once to settle), `None` when it proves nothing was sent (the intent is cleared and
/// the usual classification applies).
///
/// # Errors
/// Database failures.
pub(super) async fn on_error(
    ctx: &JobContext,
    job: &ClaimedJob,
    msg: &SendRow,
    part: usize,
    e: &GraphError,
) -> anyhow::Result<Option<Outcome>> {
    let mut conn = ctx.db.acquire().await?;
    if !reconcile::is_ambiguous(e) {
        reconcile::clear(&mut conn, msg.message_id).await?;
        return Ok(None);
    }
    let code = e.error_code();
    let held = reconcile::hold(&mut conn, msg.message_id, part, ctx.config.send_reconcile_window, &code).await?;
    messages::note_retry(
        &mut conn,
        msg.message_id,
        job.attempts,
        &code,
        "Instagram's answer was ambiguous: waiting for its echo before sending again",
    )
    .await?;
    tracing::info!(error.code = %code, meta = ?e.meta_code(), part, held, "ambiguous answer; send held for its echo");
    // The last attempt must not be dead-lettered while the message may be delivered: the hold
    // settles it (its echo, or a visible failure after the window).
    Ok(Some(Outcome::Retry {
        at: OffsetDateTime::now_utc(),
        error: code,
        count_attempt: job.attempts < job.max_attempts,
    }))
}
