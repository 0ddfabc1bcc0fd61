//! The statements of the inbound path (the `inbound` module): routing lookups, conversations, stored
//! events and the effects of an event on earlier rows (echo, unsend, read receipts).

use std::collections::HashSet;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::messages::StatusRow;

/// An account events can be routed to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RouteRow {
    pub instagram_account_id: String,
    pub account_id: Uuid,
    pub merchant_id: Uuid,
    pub app_secret_enc: Option<String>,
    pub status: String,
    /// Connected with a `router_test_` key through the sandbox Graph API.
    pub sandbox: bool,
}

/// The accounts connected for `ig_ids`, across merchants: one query for all ids (SECURITY
/// DEFINER `ingest_find_accounts_many`).
///
/// # Errors
/// Postgres errors.
pub async fn find_routes(pool: &PgPool, ig_ids: &[String]) -> Result<Vec<RouteRow>, sqlx::Error> {
    sqlx::query_as("select * from ingest_find_accounts_many($1)").bind(ig_ids).fetch_all(pool).await
}

/// An event nobody's account receives: `(instagram account id, reason, raw event)`.
pub type Unrouted = (Option<String>, &'static str, Value);

/// Records events no account receives.
///
/// # Errors
/// Postgres errors.
pub async fn insert_unrouted(conn: &mut PgConnection, unrouted: &[Unrouted]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = unrouted.iter().map(|_| Uuid::now_v7()).collect();
    let igs: Vec<Option<&str>> = unrouted.iter().map(|u| u.0.as_deref()).collect();
    let reasons: Vec<&str> = unrouted.iter().map(|u| u.1).collect();
    let raws: Vec<&Value> = unrouted.iter().map(|u| &u.2).collect();
    sqlx::query(
        r"insert into unrouted_inbound_events (unrouted_event_id, instagram_account_id, reason, raw)
          select * from unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[])",
    )
    .bind(&ids)
    .bind(&igs)
    .bind(&reasons)
    .bind(&raws)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One conversation touched by a batch: `(account, contact, customer activity time)`; the time
/// moves the messaging window (`None` for events that do not open it).
pub type ConversationKey<'a> = (Uuid, &'a str, Option<OffsetDateTime>);

/// Conversation keys as the column arrays the conversation statements unnest, with a fresh id for
/// each key that creates a conversation.
struct KeyColumns<'a> {
    conv_ids: Vec<Uuid>,
    accounts: Vec<Uuid>,
    contacts: Vec<&'a str>,
    ats: Vec<Option<OffsetDateTime>>,
}

impl<'a> KeyColumns<'a> {
    fn of(keys: &[ConversationKey<'a>]) -> Self {
        Self {
            conv_ids: keys.iter().map(|_| Uuid::now_v7()).collect(),
            accounts: keys.iter().map(|k| k.0).collect(),
            contacts: keys.iter().map(|k| k.1).collect(),
            ats: keys.iter().map(|k| k.2).collect(),
        }
    }

    /// Runs one of the conversation statements, which read the keys from [`KEY_ROWS`] and the
    /// merchant from `$2`; returns `(account, contact, conversation id)` rows.
    async fn fetch(
        &self,
        conn: &mut PgConnection,
        merchant_id: Uuid,
        sql: &str,
    ) -> Result<Vec<(Uuid, String, Uuid)>, sqlx::Error> {
        sqlx::query_as(sql)
            .bind(&self.conv_ids)
            .bind(merchant_id)
            .bind(&self.accounts)
            .bind(&self.contacts)
            .bind(&self.ats)
            .fetch_all(&mut *conn)
            .await
    }
}

/// The rows `(i, a, k, t)` (fresh id, account, contact, time) of the keys [`KeyColumns::fetch`]
/// binds.
const KEY_ROWS: &str = "unnest($1::uuid[], $3::uuid[], $4::text[], $5::timestamptz[]) as u (i, a, k, t)";

/// The statement of [`touch_conversations`] (parameters as [`KeyColumns::fetch`] binds them).
/// Public for the plan test (`tests/it/plans.rs`).
pub static TOUCH_CONVERSATIONS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        r"with k as (
              select distinct on (a, k) i, a, k, max(t) over (partition by a, k) as t
                from {KEY_ROWS}
               order by a, k
          ),
          found as (
              select k.i, k.a, k.k, k.t, c.conversation_id, c.last_inbound_at
                from k
                left join lateral (
                      select c.conversation_id, c.last_inbound_at from conversations c
                       where c.account_id = k.a and c.contact_igsid = k.k
                       limit 1
                     ) c on true
          ),
          ins as (
              insert into conversations (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
              select i, $2, a, k, t from found
               where conversation_id is null
               order by a, k
              on conflict on constraint conversations_account_contact_key do nothing
              returning account_id, contact_igsid, conversation_id
          ),
          moved as (
              select l.conversation_id, f.t
                from (select conversation_id, t, a, k from found
                       where conversation_id is not null and t is not null
                         and (last_inbound_at is null or last_inbound_at < t)
                       order by a, k
                      offset 0) f
               cross join lateral (
                     select c.conversation_id from conversations c where c.conversation_id = f.conversation_id
                        for update
                   ) l
          ),
          upd as (
              update conversations c set last_inbound_at = greatest(c.last_inbound_at, m.t)
                from moved m where c.conversation_id = m.conversation_id
          )
          select account_id, contact_igsid, conversation_id from ins
          union all
          select a, k, conversation_id from found where conversation_id is not null"
    )
});

/// Creates or updates the conversations of a merchant's batch (the window only moves forward);
/// returns `(account, contact, conversation id)` for each.
///
/// Lock-light, because the ingest transaction that runs it lives as long as its batch: existing
/// conversations are only read, except those whose window this batch moves forward (a
/// customer's message), which are updated; only keys with no row yet are inserted (`on conflict
/// do nothing`; a unique check on an existing key would wait for whoever holds that row). So
/// echoes, reads and reactions lock no conversation, and a batch never waits on another's
/// conversations unless both carry a message from the same customer. Rows are locked in
/// `(account, contact)` order, the same in every transaction, so ingests cannot deadlock on them.
/// A conversation another transaction inserted concurrently (invisible to this statement's
/// snapshot) is picked up by [`upsert_conversations`], the locking form, for those keys only.
///
/// One plan whatever the table holds (issue 12): every key probes `conversations` through its
/// unique `(account_id, contact_igsid)` index in a `LATERAL` subquery that the planner cannot
/// flatten into a join (`limit`, `for update`). Written as joins, the plan cached while the table
/// was empty and never analysed hashed a sequential scan of the whole table, and kept doing so as
/// it grew: 20 ms per POST after the first minutes of a new install, measured. So the statement
/// runs on its cached generic plan, without planning per call.
///
/// # Errors
/// Postgres errors.
pub async fn touch_conversations(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    keys: &[ConversationKey<'_>],
) -> Result<Vec<(Uuid, String, Uuid)>, sqlx::Error> {
    let mut rows = KeyColumns::of(keys).fetch(conn, merchant_id, &TOUCH_CONVERSATIONS_SQL).await?;
    let found: std::collections::HashSet<(Uuid, &str)> = rows.iter().map(|(a, k, _)| (*a, k.as_str())).collect();
    let missing: Vec<ConversationKey<'_>> = keys.iter().filter(|k| !found.contains(&(k.0, k.1))).copied().collect();
    if !missing.is_empty() {
        rows.extend(upsert_conversations(conn, merchant_id, &missing).await?);
    }
    Ok(rows)
}

/// Creates or updates conversations, locking every row it touches (the window only moves forward);
/// returns `(account, contact, conversation id)` for each. Rows are taken in `(account, contact)`
/// order, the same in every transaction, so concurrent ingests cannot deadlock on them.
///
/// # Errors
/// Postgres errors.
pub async fn upsert_conversations(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    keys: &[ConversationKey<'_>],
) -> Result<Vec<(Uuid, String, Uuid)>, sqlx::Error> {
    let sql = format!(
        r"insert into conversations as c (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
          select distinct on (a, k) i, $2, a, k, max(t) over (partition by a, k)
            from {KEY_ROWS}
           order by a, k
          on conflict on constraint conversations_account_contact_key do update
             set last_inbound_at = greatest(c.last_inbound_at, excluded.last_inbound_at)
          returning account_id, contact_igsid, conversation_id"
    );
    KeyColumns::of(keys).fetch(conn, merchant_id, &sql).await
}

/// An inbound event to store.
pub struct NewInboundEvent<'a> {
    pub inbound_event_id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Option<Uuid>,
    pub event_id: &'a str,
    pub kind: &'a str,
    pub instagram_account_id: &'a str,
    pub sender_id: &'a str,
    pub instagram_message_id: Option<&'a str>,
    pub content: &'a Value,
    pub raw: &'a Value,
    pub is_test: bool,
    pub occurred_at: Option<OffsetDateTime>,
}

/// Stores a merchant's events, skipping those already stored (`(merchant_id, event_id)`);
/// returns the ids of the newly stored ones.
///
/// # Errors
/// Postgres errors.
pub async fn insert_events(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    events: &[NewInboundEvent<'_>],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.inbound_event_id).collect();
    let accs: Vec<Uuid> = events.iter().map(|e| e.account_id).collect();
    let convs: Vec<Option<Uuid>> = events.iter().map(|e| e.conversation_id).collect();
    let evids: Vec<&str> = events.iter().map(|e| e.event_id).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
    let igs: Vec<&str> = events.iter().map(|e| e.instagram_account_id).collect();
    let senders: Vec<&str> = events.iter().map(|e| e.sender_id).collect();
    let mids: Vec<Option<&str>> = events.iter().map(|e| e.instagram_message_id).collect();
    let contents: Vec<&Value> = events.iter().map(|e| e.content).collect();
    let raws: Vec<&Value> = events.iter().map(|e| e.raw).collect();
    let tests: Vec<bool> = events.iter().map(|e| e.is_test).collect();
    let ats: Vec<Option<OffsetDateTime>> = events.iter().map(|e| e.occurred_at).collect();
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        r"insert into inbound_events (inbound_event_id, merchant_id, account_id, conversation_id, event_id, kind,
                                      instagram_account_id, sender_id, instagram_message_id, content, raw, is_test, result,
                                      occurred_at)
          select i, $2, a, c, e, k, g, s, m, ct, r, t, 'stored', o
            from unnest($1::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                        $10::jsonb[], $11::jsonb[], $12::bool[], $13::timestamptz[])
                 as u (i, a, c, e, k, g, s, m, ct, r, t, o)
          on conflict on constraint inbound_events_merchant_event_key do nothing
          returning inbound_event_id",
    )
    .bind(&ids)
    .bind(merchant_id)
    .bind(&accs)
    .bind(&convs)
    .bind(&evids)
    .bind(&kinds)
    .bind(&igs)
    .bind(&senders)
    .bind(&mids)
    .bind(&contents)
    .bind(&raws)
    .bind(&tests)
    .bind(&ats)
    .fetch_all(&mut *conn)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// Our outbound messages carrying these mids (`(account, mid)` pairs): `(account, mid, message
/// id)` for each found. One statement for a batch's echoes and reactions.
///
/// # Errors
/// Postgres errors.
pub async fn outbound_by_mids(
    conn: &mut PgConnection,
    named: &[(Uuid, &str)],
) -> Result<Vec<(Uuid, String, Uuid)>, sqlx::Error> {
    let accounts: Vec<Uuid> = named.iter().map(|n| n.0).collect();
    let mids: Vec<&str> = named.iter().map(|n| n.1).collect();
    // Most echoes are of a message's last (or only) part, whose mid is `instagram_message_id`:
    // the unique btree `(account_id, instagram_message_id)` finds those. Only the others probe
    // the GIN index of every part's mid, once per mid. SQL function `echo_targets`
    // (migration 000051) runs both as the table owner with the tenant rule written out: under
    // row-level security the GIN index is unusable (`@>` is not leakproof) and the probe read the
    // whole table (3.6–78 s per batch at 1 M messages, measured).
    sqlx::query_as("select account_id, mid, message_id from echo_targets($1, $2)")
        .bind(&accounts)
        .bind(&mids)
        .fetch_all(&mut *conn)
        .await
}

/// Marks stored echoes as the echoes of our own sends (never forwarded).
///
/// # Errors
/// Postgres errors.
pub async fn mark_echo_own(conn: &mut PgConnection, inbound_event_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("update inbound_events set kind = 'echo_own' where inbound_event_id = any($1)")
        .bind(inbound_event_ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// An unsend's erase of the stored event (`$1` merchant, `$2` event id, `$3` account).
pub const ERASE_INBOUND_MESSAGE_SQL: &str = r"update inbound_events
       set content = '{}'::jsonb, raw = jsonb_build_object('erased', true), content_erased_at = now()
     where merchant_id = $1 and event_id = $2 and account_id = $3 and kind = 'message'";

/// An unsend's redaction of the message's CRM deliveries (same parameters).
pub const ERASE_MESSAGE_DELIVERIES_SQL: &str = r"update webhook_deliveries
       set payload = ((payload::jsonb - 'message' - 'text' - 'attachments' - 'raw' - 'reply_to' - 'quick_reply_payload' - 'referral')
                      || jsonb_build_object('message', '', 'content_erased', true))::text,
           content_erased_at = now()
     where merchant_id = $1 and event_id = $2 and account_id = $3";

/// The customer unsent a message: erase its stored content and the text in its CRM deliveries.
/// `event_id` is the message's event id ([`crate::inbound::message_event_id`]), so both updates
/// go through the `(merchant_id, event_id …)` unique keys: an unsend costs the same on the
/// hundredth day as on the first (a mid alone is not indexed).
///
/// # Errors
/// Postgres errors.
pub async fn erase_inbound_message(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    account_id: Uuid,
    event_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(ERASE_INBOUND_MESSAGE_SQL)
        .bind(merchant_id)
        .bind(event_id)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(ERASE_MESSAGE_DELIVERIES_SQL)
        .bind(merchant_id)
        .bind(event_id)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Instagram read receipts carry the mid of the last message seen: every earlier sent outbound
/// message of the conversation becomes `read` (with its history row); returns them, oldest first.
///
/// # Errors
/// Postgres errors.
pub async fn mark_read_up_to(
    conn: &mut PgConnection,
    account_id: Uuid,
    contact: &str,
    mid: &str,
) -> Result<Vec<StatusRow>, sqlx::Error> {
    sqlx::query_as(
        r"with target as (
              select sent_at from outbound_messages
               where account_id = $1 and recipient_id = $2 and instagram_message_ids @> array[$3]
          ),
          upd as (
              update outbound_messages m set status = 'read', read_at = now()
                from target t
               where m.account_id = $1 and m.recipient_id = $2 and m.status in ('sent', 'delivered')
                 and m.sent_at <= t.sent_at
              returning m.message_id, m.merchant_id, m.account_id, m.recipient_id, m.status, m.instagram_message_id,
                        m.error_code, m.error_message, m.error_retryable, m.attempts, m.metadata, m.template_id, m.created_at,
                        m.updated_at
          ),
          ev as (insert into message_events (merchant_id, message_id, status) select merchant_id, message_id, 'read' from upd)
          select * from upd order by created_at",
    )
    .bind(account_id)
    .bind(contact)
    .bind(mid)
    .fetch_all(&mut *conn)
    .await
}
