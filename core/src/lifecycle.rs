//! Data lifecycle workflows: key rotation, contact erasure (GDPR), retention, and an account
//! whose token Meta rejected. The statements are in [`crate::db::lifecycle`]; this module adds
//! the CRM events the changes cause, in the same transaction.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{Igsid, events};
use crate::webhooks::{self, CrmEvent};

pub use crate::db::lifecycle::{ErasureReport, RotationReport, SECRET_COLUMNS, purge_old_content, rotate_keys};

/// Erases one contact's message content for an account (GDPR): its pending sends are failed
/// (`contact_erased`, and the CRM told with `message.failed` as for any failure), then the content
/// of every message, event and delivery body is erased. Runs in the caller's (merchant)
/// transaction. Jobs of cancelled messages finish as no-ops (the message is no longer pending).
///
/// # Errors
/// Postgres errors.
pub async fn erase_contact(
    conn: &mut PgConnection,
    account_id: Uuid,
    igsid: &Igsid,
) -> Result<ErasureReport, sqlx::Error> {
    let cancelled = crate::db::lifecycle::cancel_pending_to(conn, account_id, igsid).await?;
    let events: Vec<_> =
        cancelled.iter().map(|r| webhooks::status_event(r, events::MESSAGE_FAILED, "failed")).collect();
    webhooks::enqueue_events(conn, &events).await?;
    crate::db::lifecycle::erase_contact_content(conn, account_id, igsid, cancelled.len() as u64).await
}

/// Marks an account `error` after Meta rejected its token (190) and tells the CRM
/// (`account.disabled`) — once per transition. Its pending sends stay queued and resume after
/// re-authentication. Returns true when this call made the transition.
///
/// # Errors
/// Postgres errors.
pub async fn mark_token_invalid(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    account_id: Uuid,
    instagram_account_id: &str,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let Some(at) = crate::db::lifecycle::set_token_invalid(conn, account_id).await? else {
        return Ok(false);
    };
    let event = CrmEvent {
        merchant_id,
        account_id,
        event_type: events::ACCOUNT_DISABLED,
        event_id: format!("acct:{account_id}:disabled:{}", at.unix_timestamp()),
        data: serde_json::json!({
            "account_id": account_id,
            "instagram_account_id": instagram_account_id,
            "status": "error",
            "reason": reason,
            "timestamp": webhooks::rfc3339(at),
        }),
        conversation: None,
    };
    webhooks::enqueue_events(conn, &[event]).await?;
    Ok(true)
}
