//! Data lifecycle statements: encryption key rotation, contact erasure (GDPR) and retention. The
//! workflows that also tell the CRM are [`crate::lifecycle`]'s.

use std::collections::BTreeMap;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::crypto::Keyring;

/// Every column holding ciphertext: `(table, key column, value column)`.
pub const SECRET_COLUMNS: &[(&str, &str, &str)] = &[
    ("accounts", "account_id", "access_token_enc"),
    ("accounts", "account_id", "app_secret_enc"),
    ("webhook_endpoints", "endpoint_id", "secret_enc"),
    ("webhook_endpoints", "endpoint_id", "previous_secret_enc"),
];

/// Outcome of a rotation run, per `table.column`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Values re-encrypted with the current key.
    pub rotated: BTreeMap<String, u64>,
    /// Values that could not be decrypted (unknown key version or corrupt): `(column, row id, why)`.
    pub failed: Vec<(String, Uuid, String)>,
    /// Values already under the current key (untouched).
    pub current: BTreeMap<String, u64>,
    /// True when the run stopped because of `max_batches` (run again to continue).
    pub incomplete: bool,
}

/// Re-encrypts every secret not under the current key, `batch` rows per transaction, so a crash
/// loses at most one uncommitted batch and a second run continues where the first stopped.
/// Rows that fail to decrypt are reported and skipped, never overwritten.
///
/// # Errors
/// Postgres errors.
pub async fn rotate_keys(
    pool: &PgPool,
    keyring: &Keyring,
    batch: i64,
    max_batches: Option<u64>,
) -> Result<RotationReport, sqlx::Error> {
    let prefix = format!("{}:%", keyring.current_kver());
    let mut report = RotationReport::default();
    let mut batches = 0u64;
    for &(table, key, col) in SECRET_COLUMNS {
        let name = format!("{table}.{col}");
        let mut skip: Vec<Uuid> = Vec::new();
        loop {
            if max_batches.is_some_and(|m| batches >= m) {
                report.incomplete = true;
                return Ok(report);
            }
            let mut tx = pool.begin().await?;
            let rows: Vec<(Uuid, String)> = sqlx::query_as(&format!(
                "select {key}, {col} from {table} where {col} is not null and {col} not like $1 and {key} <> all($2)
                  order by {key} limit $3 for update skip locked"
            ))
            .bind(&prefix)
            .bind(&skip)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                tx.commit().await?;
                break;
            }
            batches += 1;
            for (id, value) in rows {
                match keyring.decrypt(&value) {
                    Ok(plain) => {
                        let sealed = keyring.encrypt(secrecy::ExposeSecret::expose_secret(&plain));
                        sqlx::query(&format!("update {table} set {col} = $2 where {key} = $1"))
                            .bind(id)
                            .bind(sealed)
                            .execute(&mut *tx)
                            .await?;
                        *report.rotated.entry(name.clone()).or_default() += 1;
                    }
                    Err(e) => {
                        report.failed.push((name.clone(), id, e.to_string()));
                        skip.push(id);
                    }
                }
            }
            tx.commit().await?;
        }
        let current: i64 = sqlx::query_scalar(&format!("select count(*) from {table} where {col} like $1"))
            .bind(&prefix)
            .fetch_one(pool)
            .await?;
        report.current.insert(name, current as u64);
    }
    Ok(report)
}

/// What an erasure touched.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ErasureReport {
    /// Outbound messages whose text, attachment, quick replies and metadata were erased.
    pub outbound_messages: u64,
    /// Pending outbound messages that were failed (`contact_erased`) instead of being sent.
    pub cancelled_messages: u64,
    /// Inbound events whose content and raw payload were erased.
    pub inbound_events: u64,
    /// CRM webhook bodies whose message content was redacted.
    pub webhook_deliveries: u64,
}

const REDACT_PAYLOAD: &str = "((payload::jsonb - 'message' - 'text' - 'attachments' - 'raw' - 'reply_to' \
     - 'quick_reply_payload' - 'referral' - 'metadata' - 'title' - 'payload') || jsonb_build_object('content_erased', true))::text";

/// Fails the pending sends to one contact (`contact_erased`) and returns their status rows (for
/// the `message.failed` events). Runs in the caller's (merchant) transaction.
///
/// # Errors
/// Postgres errors.
pub async fn cancel_pending_to(
    conn: &mut PgConnection,
    account_id: Uuid,
    igsid: &crate::domain::Igsid,
) -> Result<Vec<crate::db::messages::StatusRow>, sqlx::Error> {
    let igsid = igsid.as_str();
    let cancelled: Vec<crate::db::messages::StatusRow> = sqlx::query_as(
        r"with upd as (
              update outbound_messages set status = 'failed', failed_at = now(), error_code = 'contact_erased',
                     error_message = 'the contact''s data was erased before the message was sent', error_retryable = false
               where account_id = $1 and recipient_id = $2 and status = 'pending'
              returning message_id, merchant_id, account_id, recipient_id, status, instagram_message_id, error_code,
                        error_message, error_retryable, attempts, null::jsonb as metadata, template_id, created_at,
                        updated_at
          ), ev as (insert into message_events (merchant_id, message_id, status, detail)
                    select merchant_id, message_id, 'failed', jsonb_build_object('code', 'contact_erased') from upd)
          select * from upd",
    )
    .bind(account_id)
    .bind(igsid)
    .fetch_all(&mut *conn)
    .await?;
    Ok(cancelled)
}

/// Erases one contact's message content for an account (GDPR): ids, timestamps and statuses stay
/// so delivery history and counts remain consistent. Runs in the caller's (merchant) transaction;
/// `cancelled` is how many pending sends [`cancel_pending_to`] failed first.
///
/// # Errors
/// Postgres errors.
pub async fn erase_contact_content(
    conn: &mut PgConnection,
    account_id: Uuid,
    igsid: &crate::domain::Igsid,
    cancelled: u64,
) -> Result<ErasureReport, sqlx::Error> {
    let igsid = igsid.as_str();
    let outbound = sqlx::query(
        r"update outbound_messages
             set message_text = null, attachment = null, quick_replies = null, metadata = null, content_erased_at = now()
           where account_id = $1 and recipient_id = $2 and content_erased_at is null",
    )
    .bind(account_id)
    .bind(igsid)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let inbound = sqlx::query(
        r"update inbound_events set content = '{}'::jsonb, raw = jsonb_build_object('erased', true), content_erased_at = now()
           where account_id = $1 and sender_id = $2 and content_erased_at is null",
    )
    .bind(account_id)
    .bind(igsid)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let deliveries = sqlx::query(&format!(
        r"update webhook_deliveries set payload = {REDACT_PAYLOAD}, content_erased_at = now()
           where account_id = $1 and ordering_key like '%:' || $2 and not (payload::jsonb ? 'content_erased')"
    ))
    .bind(account_id)
    .bind(igsid)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("update conversations set contact_username = null where account_id = $1 and contact_igsid = $2")
        .bind(account_id)
        .bind(igsid)
        .execute(&mut *conn)
        .await?;
    // Jobs of cancelled messages finish as no-ops (the message is no longer pending).
    Ok(ErasureReport {
        outbound_messages: outbound,
        cancelled_messages: cancelled,
        inbound_events: inbound,
        webhook_deliveries: deliveries,
    })
}

/// The retention purge's statements, one per table (`$1` days, `$2` batch size). Each walks a
/// partial index of the rows still to erase, oldest first (`order by created_at limit`), and
/// updates them by primary key (`= any(array(…))`; with `in (…)` the planner may hash-join the
/// batch against a sequential scan of the whole table): plans that need no statistics and read
/// only what they erase, however old the table.
pub static PURGE_STATEMENTS: std::sync::LazyLock<[(&str, String); 5]> = std::sync::LazyLock::new(|| {
    [
        (
            "outbound_messages",
            r"update outbound_messages set message_text = null, attachment = null, quick_replies = null, metadata = null,
                     content_erased_at = now()
               where message_id = any(array(select message_id from outbound_messages
                                     where content_erased_at is null and status <> 'pending'
                                       and created_at < now() - make_interval(days => $1)
                                     order by created_at limit $2 for update skip locked))"
                .to_owned(),
        ),
        (
            "inbound_events",
            r"update inbound_events set content = '{}'::jsonb, raw = jsonb_build_object('erased', true), content_erased_at = now()
               where inbound_event_id = any(array(select inbound_event_id from inbound_events
                                           where content_erased_at is null and created_at < now() - make_interval(days => $1)
                                           order by created_at limit $2 for update skip locked))"
                .to_owned(),
        ),
        (
            "webhook_deliveries",
            format!(
                r"update webhook_deliveries set payload = {REDACT_PAYLOAD}, content_erased_at = now()
                   where delivery_id = any(array(select delivery_id from webhook_deliveries
                                          where content_erased_at is null and status <> 'pending'
                                            and created_at < now() - make_interval(days => $1)
                                          order by created_at limit $2 for update skip locked))"
            ),
        ),
        (
            "delivery_attempts",
            r"update delivery_attempts set response_body = null
               where attempt_id = any(array(select attempt_id from delivery_attempts
                                     where response_body is not null and created_at < now() - make_interval(days => $1)
                                     order by created_at limit $2 for update skip locked))"
                .to_owned(),
        ),
        (
            "unrouted_inbound_events",
            r"delete from unrouted_inbound_events
               where unrouted_event_id = any(array(select unrouted_event_id from unrouted_inbound_events
                                            where created_at < now() - make_interval(days => $1)
                                            order by created_at limit $2 for update skip locked))"
                .to_owned(),
        ),
    ]
});

/// Retention: erases message content older than `days` (finished messages only), in batches.
/// Returns rows touched per table.
///
/// # Errors
/// Postgres errors.
pub async fn purge_old_content(
    pool: &PgPool,
    days: u32,
    batch: i64,
) -> Result<BTreeMap<&'static str, u64>, sqlx::Error> {
    let mut out = BTreeMap::new();
    for (table, sql) in PURGE_STATEMENTS.iter() {
        let mut total = 0;
        loop {
            // Not a prepared statement kept on the connection: an hourly statement is planned
            // each run for the table as it is then, never from a plan cached while it was empty.
            let n =
                sqlx::query(sql).persistent(false).bind(days as i32).bind(batch).execute(pool).await?.rows_affected();
            total += n;
            if n < batch as u64 {
                break;
            }
        }
        out.insert(*table, total);
    }
    Ok(out)
}

/// Marks an account `error` after Meta rejected its token (190), once per transition: the time
/// of the transition, or `None` when the account was not active.
///
/// # Errors
/// Postgres errors.
pub async fn set_token_invalid(
    conn: &mut PgConnection,
    account_id: Uuid,
) -> Result<Option<time::OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar(
        r"update accounts set status = 'error', status_reason = $2
           where account_id = $1 and status = 'active' returning updated_at",
    )
    .bind(account_id)
    .bind("Instagram rejected the access token (code 190); re-authenticate the account")
    .fetch_optional(&mut *conn)
    .await
}
