//! `outbound_messages`, their status history (`message_events`), `idempotency_keys` and the
//! conversation queries of the send path.

use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{AccountStatus, MessageStatus};
use crate::jobs::{Job, SendMessage};
use crate::outbound::{Attachment, OutboundMessage, QuickReply};
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

/// A message accepted by the API.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub recipient_id: String,
    pub text: Option<String>,
    /// One `{type, url}`, or an array of images (several images in one Graph call).
    pub attachment: Option<Attachment>,
    pub quick_replies: Option<Vec<QuickReply>>,
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
    /// The template version the text was rendered from (`message_templates.template_id`).
    pub template_id: Option<Uuid>,
}

/// The rules [`accept_batch`] applies, passed to `send_accept_batch` as parameters (the SQL holds
/// none of them). Meta's rules are [`AcceptRules::META`]; ARCHITECTURE.md says how to change one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptRules {
    /// How long after the contact's last inbound message the account may still write (Meta's
    /// standard messaging window).
    pub window: std::time::Duration,
    /// The window for messages tagged `HUMAN_AGENT` (Meta's human-agent extension).
    pub human_agent_window: std::time::Duration,
    /// `router_test_` keys may only send through sandbox accounts (`test_key_on_live` otherwise).
    pub test_keys_sandbox_only: bool,
}

impl AcceptRules {
    /// Meta's rules (research/meta-instagram-api.md §3.4): 24 h, 7 days with `HUMAN_AGENT`; test
    /// keys never reach Instagram.
    pub const META: Self = Self {
        window: std::time::Duration::from_secs(24 * 3600),
        human_agent_window: std::time::Duration::from_secs(7 * 24 * 3600),
        test_keys_sandbox_only: true,
    };

    /// The window a message with `tag` gets.
    #[must_use]
    pub fn window_for(&self, tag: Option<&str>) -> std::time::Duration {
        if tag == Some("HUMAN_AGENT") { self.human_agent_window } else { self.window }
    }
}

/// What [`accept_batch`] decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum AcceptOutcome {
    /// Accepted: message, `pending` history row, send job and idempotency record written.
    Accepted,
    /// The idempotency key is already stored: the stored response and request hash (the caller
    /// replays or answers 409).
    Stored { request_hash: Vec<u8>, response_status: i32, response_body: Value },
    /// No such account for this merchant, or deleted.
    AccountNotFound,
    /// A `router_test_` key and a non-sandbox account.
    TestKeyOnLive,
    /// The account is not `active`; its status and why.
    AccountNotActive { status: AccountStatus, reason: Option<String> },
    /// No inbound message within the window.
    OutsideWindow { last_inbound_at: Option<OffsetDateTime> },
    /// Another transaction committed the same key first (the caller reads it).
    ClaimedElsewhere,
}

/// A row of `send_accept_batch`, as the statement returns it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct AcceptRow {
    n: i32,
    outcome: String,
    account_status: Option<AccountStatus>,
    status_reason: Option<String>,
    last_inbound_at: Option<OffsetDateTime>,
    response_status: Option<i32>,
    response_body: Option<Value>,
    request_hash: Option<Vec<u8>>,
}

impl AcceptRow {
    fn decode(self) -> Result<(usize, AcceptOutcome), sqlx::Error> {
        let unexpected = |what: String| sqlx::Error::Protocol(format!("send_accept_batch: {what}"));
        let n = usize::try_from(self.n).map_err(|_| unexpected(format!("row index {}", self.n)))?;
        let outcome = match self.outcome.as_str() {
            "ok" => AcceptOutcome::Accepted,
            "stored" => match (self.request_hash, self.response_status, self.response_body) {
                (Some(request_hash), Some(response_status), Some(response_body)) => {
                    AcceptOutcome::Stored { request_hash, response_status, response_body }
                }
                _ => return Err(unexpected("a stored key without its response".into())),
            },
            "account_not_found" => AcceptOutcome::AccountNotFound,
            "test_key_on_live" => AcceptOutcome::TestKeyOnLive,
            "account_not_active" => AcceptOutcome::AccountNotActive {
                status: self.account_status.ok_or_else(|| unexpected("an inactive account without status".into()))?,
                reason: self.status_reason,
            },
            "outside_window" => AcceptOutcome::OutsideWindow { last_inbound_at: self.last_inbound_at },
            "claimed_elsewhere" => AcceptOutcome::ClaimedElsewhere,
            other => return Err(unexpected(format!("unknown outcome {other:?}"))),
        };
        Ok((n, outcome))
    }
}

/// Checks and writes a batch of send requests in one statement (`send_accept_batch`, see its
/// migrations): idempotency lookup, account and messaging-window checks under `rules`,
/// idempotency claim, and for the accepted ones the outbox rows (message, `pending` history
/// entry, the [`SendMessage`] job ordered per conversation) plus one queue wake-up. Every
/// request's merchant context is set inside, so RLS applies. Run it outside an explicit
/// transaction and Postgres commits it on its own: one round trip, one WAL flush. Idempotency
/// keys must be unique per merchant within `msgs`. Returns `(index in msgs, outcome)` per request.
///
/// # Errors
/// Postgres errors (then nothing of the batch was written), or a row the statement should never
/// return.
#[tracing::instrument(skip_all, fields(batch = msgs.len()))]
pub async fn accept_batch(
    conn: &mut PgConnection,
    msgs: &[&NewMessage],
    rules: &AcceptRules,
    ttl_secs: f64,
) -> Result<Vec<(usize, AcceptOutcome)>, sqlx::Error> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    let n: Vec<i32> = (0..msgs.len()).map(|i| i32::try_from(i).unwrap_or(i32::MAX)).collect();
    let merchants: Vec<Uuid> = msgs.iter().map(|m| m.merchant_id).collect();
    let accounts: Vec<Uuid> = msgs.iter().map(|m| m.account_id).collect();
    let recipients: Vec<&str> = msgs.iter().map(|m| m.recipient_id.as_str()).collect();
    let keys: Vec<Option<&str>> = msgs.iter().map(|m| m.idempotency_key.as_deref()).collect();
    let hashes: Vec<&[u8]> = msgs.iter().map(|m| m.request_hash.as_slice()).collect();
    let sandbox_only: Vec<bool> = msgs.iter().map(|m| m.test_key && rules.test_keys_sandbox_only).collect();
    let windows: Vec<f64> = msgs.iter().map(|m| rules.window_for(m.tag.as_deref()).as_secs_f64()).collect();
    let ids: Vec<Uuid> = msgs.iter().map(|m| m.message_id).collect();
    let texts: Vec<Option<&str>> = msgs.iter().map(|m| m.text.as_deref()).collect();
    let attachments: Vec<Option<Value>> = msgs.iter().map(|m| m.attachment.as_ref().map(typed_json)).collect();
    let quick: Vec<Option<Value>> = msgs.iter().map(|m| m.quick_replies.as_ref().map(typed_json)).collect();
    let tags: Vec<Option<&str>> = msgs.iter().map(|m| m.tag.as_deref()).collect();
    let metas: Vec<Option<&Value>> = msgs.iter().map(|m| m.metadata.as_ref()).collect();
    let key_ids: Vec<Uuid> = msgs.iter().map(|m| m.api_key_id).collect();
    let created: Vec<OffsetDateTime> = msgs.iter().map(|m| m.created_at).collect();
    let parts: Vec<i32> = msgs.iter().map(|m| m.parts_total).collect();
    let bodies: Vec<&Value> = msgs.iter().map(|m| &m.response_body).collect();
    let jobs: Vec<queue::NewJob> = msgs
        .iter()
        .map(|m| SendMessage { message_id: m.message_id }.for_message(m.merchant_id, m.account_id, &m.recipient_id))
        .collect();
    let job_payloads: Vec<&Value> = jobs.iter().map(|j| &j.payload).collect();
    let job_orderings: Vec<Option<&str>> = jobs.iter().map(|j| j.ordering_key.as_deref()).collect();
    let templates: Vec<Option<Uuid>> = msgs.iter().map(|m| m.template_id).collect();
    sqlx::query_as::<_, AcceptRow>(
        r"select n, outcome, account_status, status_reason, last_inbound_at, response_status, response_body, request_hash
            from send_accept_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                                   $19, $20, $21, $22, $23, $24)",
    )
    .bind(&n)
    .bind(&merchants)
    .bind(&accounts)
    .bind(&recipients)
    .bind(&keys)
    .bind(&hashes)
    .bind(&sandbox_only)
    .bind(&windows)
    .bind(&ids)
    .bind(&texts)
    .bind(&attachments)
    .bind(&quick)
    .bind(&tags)
    .bind(&metas)
    .bind(&key_ids)
    .bind(&created)
    .bind(&parts)
    .bind(&bodies)
    .bind(&job_payloads)
    .bind(&job_orderings)
    .bind(ttl_secs)
    .bind(SendMessage::KIND)
    .bind(SendMessage::MAX_ATTEMPTS)
    .bind(&templates)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(AcceptRow::decode)
    .collect()
}

/// The stored JSON of a typed value (attachments, quick replies).
fn typed_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("attachments and quick replies are plain data and always serialise")
}

/// A message as the worker sends it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SendRow {
    pub message_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub recipient_id: String,
    pub message_text: Option<String>,
    pub attachment: Option<Json<Attachment>>,
    pub quick_replies: Option<Json<Vec<QuickReply>>>,
    pub tag: Option<String>,
    pub status: MessageStatus,
    pub instagram_message_ids: Vec<String>,
    pub parts_total: i32,
    pub instagram_account_id: String,
    pub access_token_enc: String,
    pub account_status: AccountStatus,
    pub account_deleted_at: Option<OffsetDateTime>,
    pub sandbox: bool,
}

impl SendRow {
    /// The message as the Send API takes it.
    #[must_use]
    pub fn outbound(&self) -> OutboundMessage<'_> {
        OutboundMessage {
            recipient_id: &self.recipient_id,
            text: self.message_text.as_deref(),
            attachment: self.attachment.as_deref(),
            quick_replies: self.quick_replies.as_deref().map_or(&[][..], Vec::as_slice),
            tag: self.tag.as_deref(),
        }
    }
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

/// Records one part Meta accepted (so a retry resumes after it). Idempotent: a mid already
/// recorded (the part's echo was adopted first, `crate::reconcile`) is not appended again.
///
/// # Errors
/// Postgres errors.
pub async fn record_part(conn: &mut PgConnection, message_id: Uuid, mid: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"update outbound_messages
             set instagram_message_ids = array_append(instagram_message_ids, $2),
                 instagram_message_id = coalesce(instagram_message_id, $2)
           where message_id = $1 and not (instagram_message_ids @> array[$2])",
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
    pub status: MessageStatus,
    pub instagram_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_retryable: Option<bool>,
    pub attempts: i32,
    pub metadata: Option<Value>,
    /// The template version the text was rendered from.
    pub template_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const STATUS_COLS: &str = "message_id, merchant_id, account_id, recipient_id, status, instagram_message_id, error_code, \
                           error_message, error_retryable, attempts, metadata, template_id, created_at, updated_at";

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
    pub status: MessageStatus,
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
                     jsonb_strip_nulls(jsonb_build_object(
                         -- `attachment` holds one object, or the array of `attachments` (images)
                         'attachment', case when jsonb_typeof(attachment) = 'array' then null else attachment end,
                         'attachments', case when jsonb_typeof(attachment) = 'array' then attachment end,
                         'quick_replies', quick_replies, 'metadata', metadata)) as content,
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
