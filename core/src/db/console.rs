//! Read models of the admin console (`/admin`): paginated, filtered lists over the tables the API
//! already owns. Every function runs in the caller's transaction, so row-level security decides
//! which tenants' rows exist (a merchant's context, or the platform admin context), and every list
//! of account-owned rows also applies the caller's [`AccountScope`] (a key's allow-list, sandbox
//! only for a test key) in SQL, the same rule `find_account_in_scope` applies to one account.
//!
//! Cursors are `(timestamp, id)` pairs of the last row shown, newest first, as in the REST API.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::AccountScope;
use super::listing::Filtered;

/// An account as the console lists it: status, token, endpoint and circuit, last inbound.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountSummary {
    pub account_id: Uuid,
    pub merchant_id: Uuid,
    pub merchant_name: String,
    pub instagram_account_id: String,
    pub username: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub sandbox: bool,
    pub token_expires_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub crm_webhook_url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub endpoint_status: Option<String>,
    pub disabled_reason: Option<String>,
    pub circuit_open_until: Option<OffsetDateTime>,
    pub consecutive_failures: Option<i32>,
    /// Latest customer message of any conversation.
    pub last_inbound_at: Option<OffsetDateTime>,
    /// Conversations whose 24 h messaging window is open now.
    pub open_windows: i64,
}

/// Filters of the accounts page.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub merchant_id: Option<Uuid>,
    /// `active`, `inactive`, `error`, `deleted`.
    pub status: Option<String>,
    /// Part of the username or Instagram id.
    pub search: Option<String>,
}

const ACCOUNT_SUMMARY: &str = r"
    select a.account_id, a.merchant_id, m.name as merchant_name, a.instagram_account_id, a.username, a.status,
           a.status_reason, a.sandbox, a.token_expires_at, a.deleted_at, a.created_at,
           e.url as crm_webhook_url, e.event_types, e.status as endpoint_status, e.disabled_reason,
           e.circuit_open_until, e.consecutive_failures,
           c.last_inbound_at, coalesce(c.open_windows, 0) as open_windows
      from accounts a
      join merchants m on m.merchant_id = a.merchant_id
      left join webhook_endpoints e on e.account_id = a.account_id and e.is_primary
      left join lateral (
          select max(last_inbound_at) as last_inbound_at,
                 count(*) filter (where last_inbound_at > now() - interval '24 hours') as open_windows
            from conversations where account_id = a.account_id
      ) c on true";

/// A page of accounts inside `scope`, newest first, before the `(created_at, account_id)` cursor.
///
/// # Errors
/// Postgres errors.
pub async fn list_accounts(
    conn: &mut PgConnection,
    scope: AccountScope<'_>,
    f: &AccountFilter,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<AccountSummary>, sqlx::Error> {
    // Without a status filter, live accounts only.
    Filtered::new(ACCOUNT_SUMMARY, if f.status.is_some() { "true" } else { "a.deleted_at is null" })
        .scope("a.account_id", "a.sandbox", scope)
        .eq("a.merchant_id", f.merchant_id)
        .eq("a.status", f.status.as_deref())
        .when(f.search.as_deref(), |qb, s| {
            qb.push("(strpos(lower(a.username), lower(").push_bind(s).push(")) > 0 or strpos(a.instagram_account_id, ");
            qb.push_bind(s).push(") > 0)");
        })
        .fetch_page(conn, ("a.created_at", "a.account_id"), before, limit)
        .await
}

/// One account's summary inside `scope` (deleted ones included).
///
/// # Errors
/// Postgres errors.
pub async fn find_account(
    conn: &mut PgConnection,
    scope: AccountScope<'_>,
    account_id: Uuid,
) -> Result<Option<AccountSummary>, sqlx::Error> {
    Filtered::new(ACCOUNT_SUMMARY, "true")
        .eq("a.account_id", Some(account_id))
        .scope("a.account_id", "a.sandbox", scope)
        .fetch_optional(conn)
        .await
}

/// A conversation as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub conversation_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub account_username: String,
    pub contact_igsid: String,
    pub contact_username: Option<String>,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const CONVERSATION: &str = r"
    select c.conversation_id, c.merchant_id, c.account_id, a.username as account_username, c.contact_igsid,
           c.contact_username, c.last_inbound_at, c.created_at, c.updated_at
      from conversations c
      join accounts a on a.account_id = c.account_id";

/// A page of conversations inside `scope` (optionally one account's), most recently active first,
/// before the `(updated_at, conversation_id)` cursor.
///
/// # Errors
/// Postgres errors.
pub async fn list_conversations(
    conn: &mut PgConnection,
    scope: AccountScope<'_>,
    account_id: Option<Uuid>,
    contact: Option<&str>,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    Filtered::new(CONVERSATION, "true")
        .scope("c.account_id", "a.sandbox", scope)
        .eq("c.account_id", account_id)
        .when(contact, |qb, k| {
            qb.push("(strpos(c.contact_igsid, ").push_bind(k);
            qb.push(") > 0 or strpos(lower(coalesce(c.contact_username, '')), lower(").push_bind(k).push(")) > 0)");
        })
        .fetch_page(conn, ("c.updated_at", "c.conversation_id"), before, limit)
        .await
}

/// One conversation inside `scope`.
///
/// # Errors
/// Postgres errors.
pub async fn find_conversation(
    conn: &mut PgConnection,
    scope: AccountScope<'_>,
    conversation_id: Uuid,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    Filtered::new(CONVERSATION, "true")
        .eq("c.conversation_id", Some(conversation_id))
        .scope("c.account_id", "a.sandbox", scope)
        .fetch_optional(conn)
        .await
}

/// A delivery in short, attached to the message (outbound id or inbound event id) that caused it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CausedDelivery {
    pub cause_id: Uuid,
    pub delivery_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub created_at: OffsetDateTime,
}

/// The CRM deliveries caused by these messages: status events of outbound messages
/// (`msg:{id}:{status}`) and the forwarded inbound events (same `event_id`). Uses the
/// `(merchant_id, event_id)` unique index.
///
/// # Errors
/// Postgres errors.
pub async fn deliveries_caused_by(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    outbound: &[Uuid],
    inbound: &[Uuid],
) -> Result<Vec<CausedDelivery>, sqlx::Error> {
    sqlx::query_as(
        r"select o.id as cause_id, d.delivery_id, d.event_type, d.status, d.attempts, d.created_at
            from unnest($2::uuid[]) o(id)
            cross join unnest(array['sent', 'delivered', 'read', 'failed']) s(status)
            join webhook_deliveries d on d.merchant_id = $1 and d.event_id = 'msg:' || o.id || ':' || s.status
          union all
          select i.inbound_event_id, d.delivery_id, d.event_type, d.status, d.attempts, d.created_at
            from inbound_events i
            join webhook_deliveries d on d.merchant_id = i.merchant_id and d.event_id = i.event_id
           where i.inbound_event_id = any($3) and i.merchant_id = $1
          order by created_at",
    )
    .bind(merchant_id)
    .bind(outbound)
    .bind(inbound)
    .fetch_all(&mut *conn)
    .await
}

/// An outbound message's error, for the thread view.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageError {
    pub message_id: Uuid,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: i32,
}

/// Errors and attempt counts of outbound messages.
///
/// # Errors
/// Postgres errors.
pub async fn message_errors(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<MessageError>, sqlx::Error> {
    sqlx::query_as(
        "select message_id, error_code, error_message, attempts from outbound_messages where message_id = any($1)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
}

/// A status transition of one of several messages.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageEvent {
    pub message_id: Uuid,
    pub status: String,
    pub occurred_at: OffsetDateTime,
}

/// Status histories of several messages, oldest first.
///
/// # Errors
/// Postgres errors.
pub async fn histories(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<MessageEvent>, sqlx::Error> {
    sqlx::query_as(
        "select message_id, status, occurred_at from message_events where message_id = any($1) order by message_event_id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
}

/// A merchant for pickers and the keys page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MerchantBrief {
    pub merchant_id: Uuid,
    pub name: String,
}

/// The merchants visible in the context (every one for the platform admin), by name; at most
/// `limit`.
///
/// # Errors
/// Postgres errors.
pub async fn list_merchants(conn: &mut PgConnection, limit: i64) -> Result<Vec<MerchantBrief>, sqlx::Error> {
    sqlx::query_as("select merchant_id, name from merchants order by lower(name), merchant_id limit $1")
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
}

/// A page of API keys visible in the context (optionally one merchant's), newest first, before
/// the `(created_at, api_key_id)` cursor. Never the key or its hash.
///
/// # Errors
/// Postgres errors.
pub async fn list_keys(
    conn: &mut PgConnection,
    merchant_id: Option<Uuid>,
    include_revoked: bool,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<super::api_keys::ApiKeyRow>, sqlx::Error> {
    Filtered::new(
        r"select api_key_id, merchant_id, name, key_prefix, environment, scopes, account_ids, expires_at, revoked_at,
                 last_used_at, created_at
            from api_keys",
        if include_revoked { "true" } else { "revoked_at is null" },
    )
    .eq("merchant_id", merchant_id)
    .fetch_page(conn, ("created_at", "api_key_id"), before, limit)
    .await
}

/// What the overview shows, read with the same statements as the scheduler's gauges
/// (`router_queue_depth`, `router_queue_oldest_job_age_seconds`, `router_dlq_size`,
/// `router_webhook_circuits_open`, `router_accounts`), plus throughput over the last five minutes
/// and tokens about to expire. Under a merchant's context every number is that merchant's.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub queue: Vec<crate::queue::KindStats>,
    pub dlq_size: i64,
    pub circuits_open: i64,
    /// `(status, count)` for active, inactive, error, deleted.
    pub accounts: Vec<(String, i64)>,
    /// Messages accepted by Instagram in the last five minutes, per second.
    pub sends_per_sec: f64,
    /// CRM deliveries that succeeded in the last five minutes, per second.
    pub deliveries_per_sec: f64,
    /// Live accounts whose token expires within 10 days.
    pub tokens_expiring: i64,
}

/// The gauges' counts (shared with `router-scheduler`'s gauge refresh).
///
/// # Errors
/// Postgres errors.
pub async fn gauge_counts(conn: &mut PgConnection) -> Result<(i64, i64, Vec<(String, i64)>), sqlx::Error> {
    let dlq: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries where status = 'dlq'")
        .fetch_one(&mut *conn)
        .await?;
    let open: i64 = sqlx::query_scalar("select count(*) from webhook_endpoints where circuit_open_until > now()")
        .fetch_one(&mut *conn)
        .await?;
    let accounts: Vec<(String, i64)> =
        sqlx::query_as("select status, count(*) from accounts group by status").fetch_all(&mut *conn).await?;
    let accounts = ["active", "inactive", "error", "deleted"]
        .into_iter()
        .map(|s| (s.to_owned(), accounts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n)))
        .collect();
    Ok((dlq, open, accounts))
}

/// Reads the [`Overview`].
///
/// # Errors
/// Postgres errors.
pub async fn overview(conn: &mut PgConnection) -> Result<Overview, sqlx::Error> {
    let queue = crate::queue::stats(&mut *conn).await?;
    let (dlq_size, circuits_open, accounts) = gauge_counts(conn).await?;
    let (sent, delivered, expiring): (i64, i64, i64) = sqlx::query_as(
        r"select (select count(*) from outbound_messages where sent_at > now() - interval '5 minutes'),
                 (select count(*) from webhook_deliveries where delivered_at > now() - interval '5 minutes'),
                 (select count(*) from accounts where deleted_at is null and token_expires_at < now() + interval '10 days')",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Overview {
        queue,
        dlq_size,
        circuits_open,
        accounts,
        sends_per_sec: sent as f64 / 300.0,
        deliveries_per_sec: delivered as f64 / 300.0,
        tokens_expiring: expiring,
    })
}
