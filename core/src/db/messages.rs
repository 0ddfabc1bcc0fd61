//! `outbound_messages`, their status history (`message_events`), `idempotency_keys` and the
//! conversation queries of the send path.

use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::queue;

/// A stored idempotency record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub idempotency_key: String,
    pub request_hash: Vec<u8>,
    pub response_status: i32,
    pub response_body: Value,
}

/// Idempotency records of `keys` for the merchant of the current context.
///
/// # Errors
/// Postgres errors.
pub async fn find_idempotency(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    keys: &[String],
) -> Result<Vec<IdempotencyRow>, sqlx::Error> {
    sqlx::query_as(
        r"select idempotency_key, request_hash, response_status, response_body
            from idempotency_keys
           where merchant_id = $1 and idempotency_key = any($2) and expires_at > now()",
    )
    .bind(merchant_id)
    .bind(keys)
    .fetch_all(&mut *conn)
    .await
}

/// What the send path needs to know about an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SendAccountRow {
    pub account_id: Uuid,
    pub status: String,
    pub status_reason: Option<String>,
    pub deleted_at: Option<OffsetDateTime>,
    pub sandbox: bool,
}

/// Accounts visible in the current context among `ids`.
///
/// # Errors
/// Postgres errors.
pub async fn find_send_accounts(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<SendAccountRow>, sqlx::Error> {
    sqlx::query_as(
        "select account_id, status, status_reason, deleted_at, sandbox from accounts where account_id = any($1)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
}

/// A conversation's messaging window.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WindowRow {
    pub account_id: Uuid,
    pub contact_igsid: String,
    pub conversation_id: Uuid,
    pub last_inbound_at: Option<OffsetDateTime>,
}

/// Conversations of the given (account, contact) pairs.
///
/// # Errors
/// Postgres errors.
pub async fn find_windows(
    conn: &mut PgConnection,
    accounts: &[Uuid],
    contacts: &[String],
) -> Result<Vec<WindowRow>, sqlx::Error> {
    sqlx::query_as(
        r"select c.account_id, c.contact_igsid, c.conversation_id, c.last_inbound_at
            from conversations c
            join unnest($1::uuid[], $2::text[]) as p (account_id, contact) on p.account_id = c.account_id and p.contact = c.contact_igsid",
    )
    .bind(accounts)
    .bind(contacts)
    .fetch_all(&mut *conn)
    .await
}

/// A message accepted by the API.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub recipient_id: String,
    pub text: Option<String>,
    pub attachment: Option<Value>,
    pub quick_replies: Option<Value>,
    pub tag: Option<String>,
    pub metadata: Option<Value>,
    pub idempotency_key: Option<String>,
    pub request_hash: Vec<u8>,
    pub api_key_id: Uuid,
    pub created_at: OffsetDateTime,
    pub parts_total: i32,
    /// Sent with a `router_test_` key (may only use sandbox accounts). Not stored.
    pub test_key: bool,
    /// The 202 body, stored for idempotent replays.
    pub response_body: Value,
}

/// Claims idempotency keys for `msgs` (those with a key). Returns the keys this transaction now
/// owns; a key another transaction committed first is not returned (the caller replays it).
///
/// # Errors
/// Postgres errors.
pub async fn insert_idempotency(
    conn: &mut PgConnection,
    msgs: &[&NewMessage],
    ttl_secs: f64,
) -> Result<Vec<String>, sqlx::Error> {
    let with_key: Vec<&&NewMessage> = msgs.iter().filter(|m| m.idempotency_key.is_some()).collect();
    if with_key.is_empty() {
        return Ok(Vec::new());
    }
    let merchants: Vec<Uuid> = with_key.iter().map(|m| m.merchant_id).collect();
    let keys: Vec<&str> = with_key.iter().map(|m| m.idempotency_key.as_deref().unwrap_or_default()).collect();
    let hashes: Vec<&[u8]> = with_key.iter().map(|m| m.request_hash.as_slice()).collect();
    let bodies: Vec<&Value> = with_key.iter().map(|m| &m.response_body).collect();
    let ids: Vec<Uuid> = with_key.iter().map(|m| m.message_id).collect();
    sqlx::query_scalar(
        r"insert into idempotency_keys (merchant_id, idempotency_key, request_hash, response_status, response_body, message_id, expires_at)
          select m, k, h, 202, b, i, now() + make_interval(secs => $6)
            from unnest($1::uuid[], $2::text[], $3::bytea[], $4::jsonb[], $5::uuid[]) as t (m, k, h, b, i)
          on conflict on constraint idempotency_keys_pkey do update
             set request_hash = excluded.request_hash, response_body = excluded.response_body,
                 message_id = excluded.message_id, expires_at = excluded.expires_at
           where idempotency_keys.expires_at <= now()
          returning idempotency_key",
    )
    .bind(&merchants)
    .bind(&keys)
    .bind(&hashes)
    .bind(&bodies)
    .bind(&ids)
    .bind(ttl_secs)
    .fetch_all(&mut *conn)
    .await
}

/// Inserts messages, their `pending` history entry and their send jobs (the outbox), in one
/// statement. Jobs are ordered per conversation (`send:{account}:{recipient}`).
///
/// # Errors
/// Postgres errors.
pub async fn insert_messages(
    conn: &mut PgConnection,
    msgs: &[&NewMessage],
    max_attempts: i32,
) -> Result<u64, sqlx::Error> {
    if msgs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = msgs.iter().map(|m| m.message_id).collect();
    let merchants: Vec<Uuid> = msgs.iter().map(|m| m.merchant_id).collect();
    let accounts: Vec<Uuid> = msgs.iter().map(|m| m.account_id).collect();
    let convs: Vec<Uuid> = msgs.iter().map(|m| m.conversation_id).collect();
    let recipients: Vec<&str> = msgs.iter().map(|m| m.recipient_id.as_str()).collect();
    let texts: Vec<Option<&str>> = msgs.iter().map(|m| m.text.as_deref()).collect();
    let attachments: Vec<Option<&Value>> = msgs.iter().map(|m| m.attachment.as_ref()).collect();
    let quick: Vec<Option<&Value>> = msgs.iter().map(|m| m.quick_replies.as_ref()).collect();
    let tags: Vec<Option<&str>> = msgs.iter().map(|m| m.tag.as_deref()).collect();
    let metas: Vec<Option<&Value>> = msgs.iter().map(|m| m.metadata.as_ref()).collect();
    let keys: Vec<Option<&str>> = msgs.iter().map(|m| m.idempotency_key.as_deref()).collect();
    let key_ids: Vec<Uuid> = msgs.iter().map(|m| m.api_key_id).collect();
    let created: Vec<OffsetDateTime> = msgs.iter().map(|m| m.created_at).collect();
    let parts: Vec<i32> = msgs.iter().map(|m| m.parts_total).collect();
    let r = sqlx::query(
        r"with input as (
              select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::jsonb[],
                                   $8::jsonb[], $9::text[], $10::jsonb[], $11::text[], $12::uuid[], $13::timestamptz[], $14::int[])
                       with ordinality as t (message_id, merchant_id, account_id, conversation_id, recipient_id, message_text,
                                             attachment, quick_replies, tag, metadata, idempotency_key, api_key_id, created_at,
                                             parts_total, n)
          ),
          msg as (
              insert into outbound_messages (message_id, merchant_id, account_id, conversation_id, recipient_id, message_text,
                                             attachment, quick_replies, tag, metadata, idempotency_key, api_key_id, created_at,
                                             updated_at, parts_total)
              select message_id, merchant_id, account_id, conversation_id, recipient_id, message_text, attachment, quick_replies,
                     tag, metadata, idempotency_key, api_key_id, created_at, created_at, parts_total
                from input order by n
              returning message_id
          ),
          ev as (
              insert into message_events (merchant_id, message_id, status, occurred_at)
              select i.merchant_id, i.message_id, 'pending', i.created_at from input i join msg using (message_id)
          ),
          jb as (
              insert into jobs (kind, payload, merchant_id, account_id, ordering_key, max_attempts)
              select $15, jsonb_build_object('message_id', i.message_id), i.merchant_id, i.account_id,
                     'send:' || i.account_id || ':' || i.recipient_id, $16
                from input i join msg using (message_id)
               order by i.n
              returning 1
          )
          select pg_notify($17, '') from (select count(*) from jb) j",
    )
    .bind(&ids)
    .bind(&merchants)
    .bind(&accounts)
    .bind(&convs)
    .bind(&recipients)
    .bind(&texts)
    .bind(&attachments)
    .bind(&quick)
    .bind(&tags)
    .bind(&metas)
    .bind(&keys)
    .bind(&key_ids)
    .bind(&created)
    .bind(&parts)
    .bind(queue::kinds::SEND_MESSAGE)
    .bind(max_attempts)
    .bind(queue::CHANNEL)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// A message as the worker sends it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SendRow {
    pub message_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub recipient_id: String,
    pub message_text: Option<String>,
    pub attachment: Option<Value>,
    pub quick_replies: Option<Value>,
    pub tag: Option<String>,
    pub status: String,
    pub instagram_message_ids: Vec<String>,
    pub parts_total: i32,
    pub instagram_account_id: String,
    pub access_token_enc: String,
    pub account_status: String,
    pub account_deleted_at: Option<OffsetDateTime>,
    pub sandbox: bool,
}

/// Loads a message with its account (owner pool; the worker works across tenants).
///
/// # Errors
/// Postgres errors.
pub async fn load_for_send(conn: &mut PgConnection, message_id: Uuid) -> Result<Option<SendRow>, sqlx::Error> {
    sqlx::query_as(
        r"select m.message_id, m.merchant_id, m.account_id, m.recipient_id, m.message_text, m.attachment, m.quick_replies,
                 m.tag, m.status, m.instagram_message_ids, m.parts_total, a.instagram_account_id, a.access_token_enc,
                 a.status as account_status, a.deleted_at as account_deleted_at, a.sandbox
            from outbound_messages m join accounts a using (account_id)
           where m.message_id = $1",
    )
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Records one part Meta accepted (so a retry resumes after it).
///
/// # Errors
/// Postgres errors.
pub async fn record_part(conn: &mut PgConnection, message_id: Uuid, mid: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"update outbound_messages
             set instagram_message_ids = array_append(instagram_message_ids, $2),
                 instagram_message_id = coalesce(instagram_message_id, $2)
           where message_id = $1",
    )
    .bind(message_id)
    .bind(mid)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The fields of a status webhook.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusRow {
    pub message_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub recipient_id: String,
    pub status: String,
    pub instagram_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_retryable: Option<bool>,
    pub attempts: i32,
    pub metadata: Option<Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const STATUS_COLS: &str = "message_id, merchant_id, account_id, recipient_id, status, instagram_message_id, error_code, \
                           error_message, error_retryable, attempts, metadata, created_at, updated_at";

/// `pending → sent → delivered` (Instagram has no delivery receipts: both at once), with history.
///
/// # Errors
/// Postgres errors.
pub async fn mark_sent(
    conn: &mut PgConnection,
    message_id: Uuid,
    attempts: i32,
) -> Result<Option<StatusRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        r"with upd as (
              update outbound_messages
                 set status = 'delivered', sent_at = now(), delivered_at = now(), attempts = $2,
                     error_code = null, error_message = null, error_retryable = null
               where message_id = $1 and status = 'pending'
              returning {STATUS_COLS}
          ),
          ev as (
              insert into message_events (merchant_id, message_id, status)
              select merchant_id, message_id, s from upd, unnest(array['sent', 'delivered']) as s
          )
          select {STATUS_COLS} from upd"
    ))
    .bind(message_id)
    .bind(attempts)
    .fetch_optional(&mut *conn)
    .await
}

/// `pending → failed` with the error, and history.
///
/// # Errors
/// Postgres errors.
pub async fn mark_failed(
    conn: &mut PgConnection,
    message_id: Uuid,
    attempts: i32,
    code: &str,
    message: &str,
    retryable: bool,
) -> Result<Option<StatusRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        r"with upd as (
              update outbound_messages
                 set status = 'failed', failed_at = now(), attempts = $2, error_code = $3, error_message = $4,
                     error_retryable = $5
               where message_id = $1 and status = 'pending'
              returning {STATUS_COLS}
          ),
          ev as (
              insert into message_events (merchant_id, message_id, status, detail)
              select merchant_id, message_id, 'failed', jsonb_build_object('code', $3::text) from upd
          )
          select {STATUS_COLS} from upd"
    ))
    .bind(message_id)
    .bind(attempts)
    .bind(code)
    .bind(message)
    .bind(retryable)
    .fetch_optional(&mut *conn)
    .await
}

/// Records the last retryable error on a pending message (visible in the status API).
///
/// # Errors
/// Postgres errors.
pub async fn note_retry(
    conn: &mut PgConnection,
    message_id: Uuid,
    attempts: i32,
    code: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"update outbound_messages set attempts = $2, error_code = $3, error_message = $4, error_retryable = true
           where message_id = $1 and status = 'pending'",
    )
    .bind(message_id)
    .bind(attempts)
    .bind(code)
    .bind(message)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One message with everything the status API shows (current RLS context).
///
/// # Errors
/// Postgres errors.
pub async fn find_status(conn: &mut PgConnection, message_id: Uuid) -> Result<Option<StatusRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {STATUS_COLS} from outbound_messages where message_id = $1"))
        .bind(message_id)
        .fetch_optional(&mut *conn)
        .await
}

/// A status transition.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub status: String,
    pub occurred_at: OffsetDateTime,
    pub detail: Option<Value>,
}

/// The status history of a message, oldest first.
///
/// # Errors
/// Postgres errors.
pub async fn history(conn: &mut PgConnection, message_id: Uuid) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "select status, occurred_at, detail from message_events where message_id = $1 order by message_event_id",
    )
    .bind(message_id)
    .fetch_all(&mut *conn)
    .await
}

/// One entry of a conversation's history (either direction).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub id: Uuid,
    pub direction: String,
    pub kind: String,
    pub status: Option<String>,
    pub text: Option<String>,
    pub content: Option<Value>,
    pub instagram_message_id: Option<String>,
    pub at: OffsetDateTime,
}

/// A page of a conversation, newest first, strictly before the cursor `(at, id)`.
///
/// # Errors
/// Postgres errors.
pub async fn conversation_page(
    conn: &mut PgConnection,
    account_id: Uuid,
    contact: &str,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    let (bt, bid) = before.map_or((None, None), |(t, i)| (Some(t), Some(i)));
    sqlx::query_as(
        r"select * from (
              select message_id as id, 'outbound' as direction, 'message' as kind, status, message_text as text,
                     jsonb_strip_nulls(jsonb_build_object('attachment', attachment, 'quick_replies', quick_replies,
                                                          'metadata', metadata)) as content,
                     instagram_message_id, created_at as at
                from outbound_messages
               where account_id = $1 and recipient_id = $2
                 and ($3::timestamptz is null or (created_at, message_id) < ($3, $4))
              union all
              select inbound_event_id, 'inbound', kind, null, content->>'text', content, instagram_message_id,
                     coalesce(occurred_at, created_at)
                from inbound_events
               where account_id = $1 and sender_id = $2 and kind not in ('read', 'echo_own')
                 and ($3::timestamptz is null or (coalesce(occurred_at, created_at), inbound_event_id) < ($3, $4))
          ) h
          order by at desc, id desc
          limit $5",
    )
    .bind(account_id)
    .bind(contact)
    .bind(bt)
    .bind(bid)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}
