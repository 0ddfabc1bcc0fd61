//! No duplicate DM after an ambiguous send: the echo reconciliation (issue 17).
//!
//! Meta's Send API has no idempotency key. Some answers leave us not knowing whether Instagram
//! delivered the message ([`is_ambiguous`]): a timeout, a connection lost after the request was
//! written, a 5xx without a Graph error body (a proxy in front of Meta), and Graph code 1 — above
//! all 1/1357046, which Meta documents as "messages may have been sent anyway"
//! (`research/meta-instagram-api.md` §4). Resending at once would show the customer the message
//! twice. But Meta does tell us: every message the account sends comes back as an `is_echo`
//! webhook ("a few seconds later", with the `mid` the Send API would have returned).
//!
//! The protocol, one `send_intents` row per message ([`crate::db::send_intents`]):
//! 1. **Intent.** Right before each Graph call the worker records which part it is about to send
//!    and what its echo will carry (the text, or the attachment type), committed before the call,
//!    and only while its lease on the job still covers the call (timeout plus a margin): a worker
//!    whose lease ran out (stalled, or the job re-claimed) makes no call, so two workers never
//!    send the same part side by side.
//!    Whatever happens next — an ambiguous answer, `kill -9` of the worker, Postgres gone before
//!    the outcome is written — a later run knows a call may have landed.
//! 2. **Definite answers clear it**: success (in the completion transaction), or an error that
//!    proves nothing was sent (4xx Graph errors, connection refused).
//! 3. **Ambiguous answers hold it**: `hold_until = now + SEND_RECONCILE_WINDOW_SECS` (default
//!    30 s), and the job is re-run at once to settle it.
//! 4. **Echo adoption** ([`adopt_echo`], in the ingest transaction of the echo): an echo whose mid
//!    no message of ours carries, from the account to the intent's recipient, with the intent's
//!    text (or attachment type), started before the echo was stored, *is* that part: its mid is
//!    recorded as the part's, the intent deleted, the job woken. The echo is stored as `echo_own`
//!    and not forwarded as `message.echo`; the send completes from it (`message.sent` carries the
//!    echo's mid). This also closes the old "echo race" for sends in flight: an echo that arrives
//!    before the worker commits its answer is matched to the intent.
//! 5. **Settling** ([`settle_previous`], at the start of every run of the message's job): no
//!    intent → send. The intent's part is already recorded (adopted, or the answer was recorded)
//!    → drop it and go on. Otherwise wait (not an attempt) until `hold_until`, or for an intent
//!    left by a run that died mid-call, until `started_at + GRAPH_TIMEOUT_SECS + window`. After
//!    that, with no echo, the part is sent again: the **only** resend, and only after the window.
//!    A run on the last attempt gives up instead, visibly (`instagram_ambiguous_result`).
//!
//! So the router sends a part twice only when Instagram delivered it and its echo came later than
//! the window (counted as "duplicated by Meta's ambiguity" in docs/RELIABILITY.md, never 0 by
//! construction, 0 in every measured run). Matching is by exact text of the part; attachment parts
//! match by attachment type only (Meta echoes a CDN URL, not ours). An identical text typed by
//! the merchant in the Instagram app to the same customer while a send of ours is unsettled would
//! be taken for ours: that send then completes without a second call, which errs on the side of
//! no duplicate. Counted in `router_send_reconciliations_total{result}`.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::send_intents::{self, NewIntent};
use crate::graph::GraphError;
use crate::outbound::SendPart;

/// Whether a Graph error leaves it unknown if Instagram delivered the message.
#[must_use]
pub fn is_ambiguous(e: &GraphError) -> bool {
    match e {
        // No answer: the request may have been processed.
        GraphError::Timeout | GraphError::Transport(_) => true,
        // Nothing left this host.
        GraphError::Connect(_) => false,
        // A gateway error without Meta's error body can come after Meta processed the call.
        GraphError::Decode { status } => *status >= 500,
        // Code 1 (unknown error; 1/1357046 says "may have been sent anyway"). Other Graph errors
        // are Meta refusing the call: nothing was sent.
        GraphError::Api { body, .. } => body.code == 1,
    }
}

/// What an echo carries (its stored content `{text, attachments}`), in the form of
/// [`SendPart::echo_signature`].
#[must_use]
pub fn echo_signature(content: &Value) -> Option<(String, Option<String>)> {
    if let Some(t) = content.get("text").and_then(Value::as_str) {
        return Some(("text".to_owned(), Some(t.to_owned())));
    }
    let kind = content
        .pointer("/attachments/0/type")
        .and_then(Value::as_str)
        .filter(|k| matches!(*k, "image" | "video" | "audio" | "file" | "template" | "like_heart"))?;
    Some((kind.to_owned(), None))
}

/// Records the intent of the call about to be made (step 1), committed on its own, only while the
/// worker's lease on the job covers the call (see [`send_intents::upsert`]): false means the
/// call must not be made.
///
/// # Errors
/// Postgres errors.
#[allow(clippy::too_many_arguments)]
pub async fn record_intent(
    conn: &mut PgConnection,
    message_id: Uuid,
    merchant_id: Uuid,
    account_id: Uuid,
    recipient_id: &str,
    part_index: usize,
    part: &SendPart<'_>,
    lease: send_intents::Lease,
) -> Result<bool, sqlx::Error> {
    let (kind, text) = part.echo_signature();
    send_intents::upsert(
        conn,
        &NewIntent {
            message_id,
            merchant_id,
            account_id,
            recipient_id,
            part: i32::try_from(part_index).unwrap_or(i32::MAX),
            match_kind: &kind,
            match_text: text.as_deref(),
        },
        lease,
    )
    .await
}

/// Holds the message's intent until `now + window` after an ambiguous answer (step 3).
///
/// # Errors
/// Postgres errors.
pub async fn hold(
    conn: &mut PgConnection,
    message_id: Uuid,
    part: usize,
    window: Duration,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let until = OffsetDateTime::now_utc() + window;
    let held = send_intents::hold(conn, message_id, i32::try_from(part).unwrap_or(i32::MAX), until, reason).await?;
    if held {
        metrics::counter!("router_send_reconciliations_total", "result" => "held").increment(1);
    }
    Ok(held)
}

/// A definite answer: forget the intent (step 2).
///
/// # Errors
/// Postgres errors.
pub async fn clear(conn: &mut PgConnection, message_id: Uuid) -> Result<(), sqlx::Error> {
    send_intents::delete(conn, message_id).await.map(|_| ())
}

/// Success (step 2), in the completion transaction: forgets the intent, then records the last
/// part's mid. **Lock order: intent, then message** — the order of [`adopt_echo`] in an ingest
/// transaction. The other order (message first) made a cycle with an echo adopted at the same
/// moment: the worker held the message row and waited for the intent, the ingest held the
/// intent and waited for the message, and Postgres broke it only after `deadlock_timeout`
/// (1 s stalls, an ingest batch answered 500). In this order the worker waits for the ingest
/// (whose echo recorded the same mid: `record_part` is then a no-op), or the ingest waits for
/// the worker: its commit settles the send, its death (rollback) leaves the intent to the echo.
///
/// # Errors
/// Postgres errors.
pub async fn settle_answered(
    conn: &mut PgConnection,
    message_id: Uuid,
    last_mid: Option<&str>,
) -> Result<(), sqlx::Error> {
    clear(conn, message_id).await?;
    if let Some(mid) = last_mid {
        crate::db::messages::record_part(conn, message_id, mid).await?;
    }
    Ok(())
}

/// What a run does about an earlier call (step 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Send the parts not yet recorded. `reload`: the recorded parts may have changed since the
    /// message was loaded (re-read it).
    Go { reload: bool },
    /// An earlier call may have been delivered and its echo may still come: wait (not an attempt).
    Wait { until: OffsetDateTime },
    /// The window ended without an echo and this was the last attempt: fail visibly.
    GiveUp,
}

/// Settles an earlier call of `message_id` before this run sends anything (step 5).
///
/// `recorded` is the number of parts already recorded when the message was loaded.
///
/// # Errors
/// Postgres errors.
pub async fn settle_previous(
    conn: &mut PgConnection,
    message_id: Uuid,
    recorded: usize,
    last_attempt: bool,
    graph_timeout: Duration,
    window: Duration,
) -> Result<Settle, sqlx::Error> {
    let Some(intent) = send_intents::find(conn, message_id).await? else {
        return Ok(Settle::Go { reload: false });
    };
    let part = usize::try_from(intent.part).unwrap_or(usize::MAX);
    if recorded > part {
        // Its answer (or its echo) was recorded after all.
        send_intents::delete(conn, message_id).await?;
        return Ok(Settle::Go { reload: false });
    }
    let deadline = intent.hold_until.unwrap_or(intent.started_at + graph_timeout + window);
    if OffsetDateTime::now_utc() < deadline {
        return Ok(Settle::Wait { until: deadline });
    }
    if last_attempt {
        send_intents::delete(conn, message_id).await?;
        metrics::counter!("router_send_reconciliations_total", "result" => "gave_up").increment(1);
        return Ok(Settle::GiveUp);
    }
    if send_intents::expire(conn, message_id, intent.part, intent.started_at).await? {
        metrics::counter!("router_send_reconciliations_total", "result" => "resent").increment(1);
        tracing::info!(part, "no echo within the reconciliation window; sending the part again");
        Ok(Settle::Go { reload: false })
    } else {
        // An echo was adopted between our read and our delete.
        Ok(Settle::Go { reload: true })
    }
}

/// Step 4, in the echo's ingest transaction (RLS context set): adopts an echo that no message
/// claims by mid into the unsettled send it matches. Returns the message, if adopted.
///
/// # Errors
/// Postgres errors.
pub async fn adopt_echo(
    conn: &mut PgConnection,
    account_id: Uuid,
    recipient_id: &str,
    content: &Value,
    mid: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some((kind, text)) = echo_signature(content) else { return Ok(None) };
    let adopted = send_intents::adopt_echo(conn, account_id, recipient_id, &kind, text.as_deref(), mid).await?;
    if adopted.is_some() {
        metrics::counter!("router_send_reconciliations_total", "result" => "echo").increment(1);
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::graph::GraphErrorBody;

    fn api(code: i64, subcode: Option<i64>, http_status: u16) -> GraphError {
        GraphError::Api {
            http_status,
            body: Box::new(GraphErrorBody {
                message: "x".into(),
                kind: None,
                code,
                error_subcode: subcode,
                fbtrace_id: None,
                is_transient: None,
            }),
            usage: crate::graph::Usage::default(),
        }
    }

    #[test]
    fn only_answers_that_may_hide_a_delivery_are_ambiguous() {
        assert!(is_ambiguous(&GraphError::Timeout));
        assert!(is_ambiguous(&GraphError::Transport("reset".into())));
        assert!(is_ambiguous(&GraphError::Decode { status: 502 }));
        assert!(is_ambiguous(&api(1, Some(1_357_046), 500)));
        assert!(is_ambiguous(&api(1, None, 500)));
        assert!(!is_ambiguous(&GraphError::Connect("refused".into())));
        assert!(!is_ambiguous(&GraphError::Decode { status: 400 }));
        for (code, sub) in [(2, None), (4, None), (10, Some(2_534_022)), (100, None), (190, None), (613, None)] {
            assert!(!is_ambiguous(&api(code, sub, 400)), "{code}");
        }
    }

    #[test]
    fn parts_and_echoes_match_on_text_or_attachment_type() {
        use crate::outbound::{Media, MediaKind, SendPart};
        let text = SendPart::Text { text: "héllo", quick_replies: &[] };
        assert_eq!(echo_signature(&json!({"text": "héllo", "attachments": null})), Some(text.echo_signature()));
        let video = Media { kind: MediaKind::Video, url: "https://x/v.mp4".into() };
        let images = [Media { kind: MediaKind::Image, url: "u".into() }];
        assert_eq!(SendPart::Images(&images).echo_signature(), ("image".into(), None));
        let echoed = json!({"text": null, "attachments": [{"type": "video", "payload": {"url": "https://cdn/1"}}]});
        assert_eq!(echo_signature(&echoed), Some(SendPart::Media(&video).echo_signature()));
        assert_eq!(echo_signature(&json!({"text": null, "attachments": [{"type": "share"}]})), None);
    }
}
