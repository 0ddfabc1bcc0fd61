//! The statements of the inbound path (the `inbound` module): routing lookups, conversations, stored
//! events and the effects of an event on earlier rows (echo, unsend, read receipts).

use std::collections::{HashMap, HashSet};

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

/// The accounts connected for `ig_ids`, across merchants, by Instagram business id (ids no
/// account has are absent): one query for all ids (SECURITY DEFINER `ingest_find_accounts_many`).
///
/// # Errors
/// Postgres errors.
pub async fn find_routes(pool: &PgPool, ig_ids: &[String]) -> Result<HashMap<String, Vec<RouteRow>>, sqlx::Error> {
    let mut out: HashMap<String, Vec<RouteRow>> = HashMap::new();
    if ig_ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<RouteRow> =
        sqlx::query_as("select * from ingest_find_accounts_many($1)").bind(ig_ids).fetch_all(pool).await?;
    for r in rows {
        out.entry(r.instagram_account_id.clone()).or_default().push(r);
    }
    Ok(out)
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

/// Creates or updates the conversations of a merchant's batch (the window only moves forward);
/// returns `(account, contact, conversation id)`, one row per distinct key.
///
/// SQL function `touch_conversations` (migration 000063), lock-light because the ingest
/// transaction that runs it lives as long as its batch: existing conversations are only read,
/// except those whose window this batch moves forward (a customer's message), which are updated;
/// only keys with no row yet are inserted (`on conflict do nothing`; a unique check on an existing
/// key would wait for whoever holds that row). So echoes, reads and reactions lock no
/// conversation, and a batch never waits on another's conversations unless both carry a message
/// from the same customer. Rows are locked in `(account, contact)` order, the same in every
/// transaction, so ingests cannot deadlock on them. A conversation another transaction inserted
/// concurrently (invisible to the first statement's snapshot) is upserted by a second, locking
/// statement, for those keys only.
///
/// One plan whatever the table holds (issue 12): every key probes `conversations` through its
/// unique `(account_id, contact_igsid)` index in a `LATERAL` subquery that the planner cannot
/// flatten into a join (`limit`, `for update`). Written as joins, the plan cached while the table
/// was empty and never analysed hashed a sequential scan of the whole table, and kept doing so as
/// it grew: 20 ms per POST after the first minutes of a new install, measured. `tests/it/plans.rs`
/// checks the plan.
///
/// # Errors
/// Postgres errors.
pub async fn touch_conversations(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    keys: &[ConversationKey<'_>],
) -> Result<Vec<(Uuid, String, Uuid)>, sqlx::Error> {
    let conv_ids: Vec<Uuid> = keys.iter().map(|_| Uuid::now_v7()).collect();
    let accounts: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let contacts: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let ats: Vec<Option<OffsetDateTime>> = keys.iter().map(|k| k.2).collect();
    sqlx::query_as("select * from touch_conversations($1, $2, $3, $4, $5)")
        .bind(merchant_id)
        .bind(&conv_ids)
        .bind(&accounts)
        .bind(&contacts)
        .bind(&ats)
        .fetch_all(&mut *conn)
        .await
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

/// Events as the column arrays the statements unnest.
struct EventColumns<'a> {
    ids: Vec<Uuid>,
    accounts: Vec<Uuid>,
    convs: Vec<Option<Uuid>>,
    event_ids: Vec<&'a str>,
    kinds: Vec<&'a str>,
    igs: Vec<&'a str>,
    senders: Vec<&'a str>,
    mids: Vec<Option<&'a str>>,
    contents: Vec<&'a Value>,
    raws: Vec<&'a Value>,
    tests: Vec<bool>,
    occurred: Vec<Option<OffsetDateTime>>,
}

impl<'a> EventColumns<'a> {
    /// Binds the columns both event statements take in this order, from `event_ids` to
    /// `occurred` (`insert_inbound_events` and `ingest_store_batch`).
    fn bind_event_fields<'q>(
        &'q self,
        q: sqlx::query::QueryScalar<'q, sqlx::Postgres, Uuid, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, Uuid, sqlx::postgres::PgArguments> {
        q.bind(&self.event_ids)
            .bind(&self.kinds)
            .bind(&self.igs)
            .bind(&self.senders)
            .bind(&self.mids)
            .bind(&self.contents)
            .bind(&self.raws)
            .bind(&self.tests)
            .bind(&self.occurred)
    }

    fn of<'b>(events: impl Iterator<Item = &'b NewInboundEvent<'a>> + Clone) -> Self
    where
        'a: 'b,
    {
        Self {
            ids: events.clone().map(|e| e.inbound_event_id).collect(),
            accounts: events.clone().map(|e| e.account_id).collect(),
            convs: events.clone().map(|e| e.conversation_id).collect(),
            event_ids: events.clone().map(|e| e.event_id).collect(),
            kinds: events.clone().map(|e| e.kind).collect(),
            igs: events.clone().map(|e| e.instagram_account_id).collect(),
            senders: events.clone().map(|e| e.sender_id).collect(),
            mids: events.clone().map(|e| e.instagram_message_id).collect(),
            contents: events.clone().map(|e| e.content).collect(),
            raws: events.clone().map(|e| e.raw).collect(),
            tests: events.clone().map(|e| e.is_test).collect(),
            occurred: events.map(|e| e.occurred_at).collect(),
        }
    }
}

/// Stores a merchant's events, skipping those already stored (`(merchant_id, event_id)`);
/// returns the ids of the newly stored ones (SQL function `insert_inbound_events`).
///
/// # Errors
/// Postgres errors.
pub async fn insert_events(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    events: &[NewInboundEvent<'_>],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let c = EventColumns::of(events.iter());
    let q = sqlx::query_scalar(
        "select * from insert_inbound_events($2, $1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&c.ids)
    .bind(merchant_id)
    .bind(&c.accounts)
    .bind(&c.convs);
    let inserted: Vec<Uuid> = c.bind_event_fields(q).fetch_all(&mut *conn).await?;
    Ok(inserted.into_iter().collect())
}

/// The CRM delivery of an event [`store_self_contained`] writes, its body split around the
/// `conversation_id` value (known only inside the statement).
pub struct SplitDelivery {
    pub delivery_id: Uuid,
    /// One of [`crate::domain::events`].
    pub event_type: &'static str,
    /// The body up to the conversation id's JSON value; the whole body when `tail` is `None`.
    pub head: String,
    /// The body after the conversation id's JSON value.
    pub tail: Option<String>,
}

/// An event of a batch [`store_self_contained`] writes.
pub struct SelfContainedEvent<'a> {
    pub merchant_id: Uuid,
    /// The row (its `conversation_id` is ignored: the statement finds or creates it).
    pub event: NewInboundEvent<'a>,
    /// The customer activity time that moves the conversation's window, if it does.
    pub window_at: Option<OffsetDateTime>,
    /// Its CRM delivery, if it has one (sent only if the event is newly stored).
    pub delivery: Option<SplitDelivery>,
}

/// Stores a batch of events whose effects touch no earlier row (any number of merchants) in
/// **one** statement, `ingest_store_batch` (migration 000063): per merchant in id order, under its
/// context, the conversations ([`touch_conversations`]), the events ([`insert_events`]) and the
/// deliveries and jobs of the newly stored ones (`deliveries::insert_with_jobs`). Run outside an
/// explicit transaction, Postgres commits it on its own: one round trip where the transaction
/// took five. Its statements run on their cached generic plans (one reasonable plan each). Returns the ids of the newly stored events.
///
/// # Errors
/// Postgres errors (then nothing of the batch was written).
pub async fn store_self_contained(
    conn: &mut PgConnection,
    events: &[SelfContainedEvent<'_>],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    use crate::jobs::{DeliverWebhook, Job};
    let merchants: Vec<Uuid> = events.iter().map(|e| e.merchant_id).collect();
    let c = EventColumns::of(events.iter().map(|e| &e.event));
    let conv_ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let windows: Vec<Option<OffsetDateTime>> = events.iter().map(|e| e.window_at).collect();
    let deliveries: Vec<Option<&SplitDelivery>> = events.iter().map(|e| e.delivery.as_ref()).collect();
    let delivery_ids: Vec<Option<Uuid>> = deliveries.iter().map(|d| d.map(|d| d.delivery_id)).collect();
    let types: Vec<Option<&str>> = deliveries.iter().map(|d| d.map(|d| d.event_type)).collect();
    let heads: Vec<Option<&str>> = deliveries.iter().map(|d| d.map(|d| d.head.as_str())).collect();
    let tails: Vec<Option<&str>> = deliveries.iter().map(|d| d.and_then(|d| d.tail.as_deref())).collect();
    let jobs: Vec<Option<Value>> =
        delivery_ids.iter().map(|d| d.map(|delivery_id| DeliverWebhook { delivery_id }.new_job().payload)).collect();
    let q = sqlx::query_scalar(
        "select * from ingest_store_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22)",
    )
    .bind(&merchants)
    .bind(&c.ids)
    .bind(&c.accounts);
    let stored: Vec<Uuid> = c
        .bind_event_fields(q)
        .bind(&conv_ids)
        .bind(&windows)
        .bind(&delivery_ids)
        .bind(&types)
        .bind(&heads)
        .bind(&tails)
        .bind(&jobs)
        .bind(DeliverWebhook::KIND)
        .bind(DeliverWebhook::MAX_ATTEMPTS)
        .bind(crate::domain::events::ENDPOINT_TEST)
        .fetch_all(&mut *conn)
        .await?;
    Ok(stored.into_iter().collect())
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
