//! CRM webhooks: enqueueing events (in the caller's transaction). Signing is the CRM client's
//! ([`crate::crm`]).
//!
//! An event becomes a `webhook_deliveries` row plus a `webhook.deliver` job in the same statement,
//! inside the transaction that caused it (a status change, an inbound event). The body is
//! serialised once, here, and stored as text: every attempt and every redrive sends exactly the
//! same bytes under the same `webhook-id` (= `delivery_id`), so a CRM can deduplicate on it.
//!
//! Ordering: the job's `ordering_key` is `wh:{endpoint}:{conversation}`, so a later event of a
//! conversation waits while an earlier one is retried, and other conversations and endpoints carry
//! on. Events outside a conversation (account events) use `wh:{endpoint}:account`.
//!
//! The event filter of the endpoint is applied at enqueue time: filtered events create no row.
//! `event_id` is deterministic per cause (`msg:{id}:sent`, the inbound event id…), and
//! `UNIQUE (merchant_id, event_id)` makes enqueueing idempotent when a job re-runs.

use serde_json::{Value, json};
use sqlx::PgConnection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::db::deliveries::{self, NewDelivery};

/// One event for a merchant's CRM.
#[derive(Debug, Clone)]
pub struct CrmEvent {
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    /// One of [`crate::domain::events`].
    pub event_type: &'static str,
    /// Deterministic id of the cause; also in the body as `event_id`.
    pub event_id: String,
    /// Event fields (without `event`, `event_id`, `created_at`, which are added).
    pub data: Value,
    /// The conversation (contact IGSID) for ordering; `None` for account events.
    pub conversation: Option<String>,
}

/// RFC 3339 text of a timestamp.
#[must_use]
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The exact body sent to the CRM: `{"event", "event_id", "created_at", ...data}`.
#[must_use]
pub fn render_body(event_type: &str, event_id: &str, data: &Value) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("event".into(), Value::String(event_type.to_owned()));
    obj.insert("event_id".into(), Value::String(event_id.to_owned()));
    obj.insert("created_at".into(), Value::String(rfc3339(OffsetDateTime::now_utc())));
    if let Value::Object(d) = data {
        for (k, v) in d {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    serde_json::to_string(&Value::Object(obj)).expect("serialisable")
}

/// Enqueues events (deliveries + jobs) in the caller's transaction. Returns the delivery ids
/// created (events filtered out, for accounts without an endpoint, or already enqueued create
/// none).
///
/// # Errors
/// Postgres errors.
pub async fn enqueue_events(conn: &mut PgConnection, events: &[CrmEvent]) -> Result<Vec<Uuid>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<NewDelivery<'_>> = events
        .iter()
        .map(|e| NewDelivery {
            delivery_id: Uuid::now_v7(),
            merchant_id: e.merchant_id,
            account_id: e.account_id,
            event_type: e.event_type,
            event_id: &e.event_id,
            body: render_body(e.event_type, &e.event_id, &e.data),
            conversation: e.conversation.as_deref().unwrap_or("account"),
        })
        .collect();
    deliveries::insert_with_jobs(conn, &rows).await
}

/// The event an operator sends from the admin console ("Send test event") to check that a CRM
/// endpoint receives and verifies deliveries. Not one of the business events
/// ([`crate::domain::events::ALL`]): an endpoint's event filter never drops it, and it cannot be
/// subscribed to.
pub use crate::domain::events::ENDPOINT_TEST;

/// A test event for an account's endpoint (unique `event_id` per press).
#[must_use]
pub fn test_event(merchant_id: Uuid, account_id: Uuid) -> CrmEvent {
    let now = OffsetDateTime::now_utc();
    CrmEvent {
        merchant_id,
        account_id,
        event_type: ENDPOINT_TEST,
        event_id: format!("test:{}", Uuid::now_v7()),
        data: json!({
            "account_id": account_id,
            "timestamp": rfc3339(now),
            "message": "A test event sent from the Message Router admin console. Reply 2xx; no action is needed.",
        }),
        conversation: None,
    }
}

/// Signing lives with the CRM client that sends the deliveries; re-exported for readers of
/// deliveries (the REST API and the console show each one's `webhook-id`).
pub use crate::crm::{SignatureHeaders, sign, webhook_id};

/// A `DeliveryStatusWebhook` (seed §4) for a status row.
#[must_use]
pub fn status_event(row: &crate::db::messages::StatusRow, event_type: &'static str, status: &str) -> CrmEvent {
    let error = row
        .error_code
        .as_ref()
        .map(|c| json!({"code": c, "message": row.error_message, "retryable": row.error_retryable.unwrap_or(false)}));
    CrmEvent {
        merchant_id: row.merchant_id,
        account_id: row.account_id,
        event_type,
        event_id: format!("msg:{}:{status}", row.message_id),
        data: json!({
            "message_id": row.message_id,
            "account_id": row.account_id,
            "recipient_id": row.recipient_id,
            "status": status,
            "timestamp": rfc3339(row.updated_at),
            "instagram_message_id": row.instagram_message_id,
            "error": error,
            "metadata": row.metadata,
        }),
        conversation: Some(row.recipient_id.clone()),
    }
}
