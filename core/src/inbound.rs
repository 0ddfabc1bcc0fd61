//! Instagram webhook events: parsing, classification and idempotent storage (DESIGN §6).
//!
//! A Meta POST is `{object, entry: [{id, time, messaging?: [...], standby?: [...], changes?: [...]}]}`
//! with up to 1 000 events (`research/meta-instagram-api.md` §1.3, §2). This module turns each event
//! into a [`Classified`] value (pure, unit-tested) and stores a whole POST in one transaction
//! ([`ingest`]): every event once per merchant (`UNIQUE (merchant_id, event_id)`), its conversation
//! window, its side effects (read receipts, deletions, echo matching) and its CRM webhook — so
//! Meta's 200 means "durably stored", and a redelivered event changes nothing.
//!
//! Event ids: `mid`-based where the event has its own mid (`mid:…`, `echo:…`, `edit:…:n`,
//! `deleted:…`, `postback:…`), else `h:` + sha256(merchant id ‖ the event's canonical JSON) —
//! reactions and reads refer to another message's mid, so they hash.
//!
//! Hostile input (issue 11, docs/SECURITY.md). Who may speak for which account: a POST signed
//! with the platform `IG_APP_SECRET` is Meta's and vouches for every event ([`Trust::Platform`]);
//! a POST signed with a merchant's own (bring-your-own-app) secret vouches only for the account
//! rows that hold that same secret ([`Routed::vouched_by`], [`Trust::Accounts`]) — every other
//! event or row is dropped and counted as `router_inbound_rejected_total{reason="unverified_entry"}`,
//! so one merchant's secret can never forge events for another. The sandbox's own secret
//! (`SANDBOX_IG_APP_SECRET`, which the local simulator signs with) likewise vouches only for
//! sandbox account rows. Before any lookup, a body not signed by the platform must fit Meta's
//! batch size ([`check_limits`]), and routing costs one query for all ids
//! ([`db::inbound::find_routes`]), or none where the API's [`RouteCache`] holds them. What one
//! event carries never fails its batch-mates: NUL
//! (which Postgres text/jsonb reject) becomes U+FFFD in every string and key ([`sanitize`]),
//! over-long ids make the event malformed (recorded, not stored), over-long event ids are hashed,
//! and a future timestamp cannot hold a conversation's 24 h window open.

use std::collections::{BTreeMap, HashMap, HashSet};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto::{Keyring, verify_hub_signature};
use crate::db;
use crate::domain::events;
use crate::route_cache::RouteCache;
use crate::webhooks::{self, CrmEvent};

/// Meta batches at most 1 000 updates per POST (`research/meta-instagram-api.md` §1.3). A body
/// not signed with the platform secret that holds more events (or entries) is refused before any
/// lookup; Meta's own bodies are bounded by the route's byte limit only.
pub const MAX_EVENTS: usize = 1000;
/// See [`MAX_EVENTS`]: every entry carries at least one update.
pub const MAX_ENTRIES: usize = 1000;
/// Distinct per-account app secrets tried on one POST not signed by the platform. A genuine
/// bring-your-own-app POST concerns that app's accounts, which share one secret; the cap bounds
/// the HMACs a forged body can cost.
pub const MAX_CANDIDATE_SECRETS: usize = 4;
/// Longest sender, recipient or mid kept (Meta's are under 200 bytes). Longer ones would exceed
/// Postgres's btree entry size in the unique indexes and fail the whole transaction.
pub const MAX_ID_BYTES: usize = 512;
/// Longer event ids (e.g. an edit with a huge `num_edit`) are replaced by their hash.
const MAX_EVENT_ID_BYTES: usize = 1024;

/// Why part or all of a POST was refused (`router_inbound_rejected_total{reason}`: a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// An event (or one of its account rows) the signature does not vouch for.
    UnverifiedEntry,
    /// More than [`MAX_ENTRIES`] entries in a POST not signed by the platform.
    TooManyEntries,
    /// More than [`MAX_EVENTS`] events in a POST not signed by the platform.
    TooManyEvents,
}

impl Rejected {
    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnverifiedEntry => "unverified_entry",
            Self::TooManyEntries => "too_many_entries",
            Self::TooManyEvents => "too_many_events",
        }
    }

    /// Counts `n` rejections.
    pub fn count(self, n: usize) {
        metrics::counter!("router_inbound_rejected_total", "reason" => self.as_str()).increment(n as u64);
    }
}

/// Refuses a body larger than a Meta batch (before any database work).
///
/// # Errors
/// [`Rejected::TooManyEntries`] or [`Rejected::TooManyEvents`].
pub fn check_limits(body: &Value) -> Result<(), Rejected> {
    let entries = body.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if entries.len() > MAX_ENTRIES {
        return Err(Rejected::TooManyEntries);
    }
    if event_count(body) > MAX_EVENTS {
        return Err(Rejected::TooManyEvents);
    }
    Ok(())
}

/// The updates a POST carries (`messaging`, `standby` and `changes` of every entry).
#[must_use]
pub fn event_count(body: &Value) -> usize {
    let entries = body.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            ["messaging", "standby", "changes"]
                .iter()
                .map(|l| e.get(*l).and_then(Value::as_array).map_or(0, Vec::len))
                .sum::<usize>()
        })
        .sum()
}

/// Replaces NUL (which Postgres text and jsonb reject) by U+FFFD in every string and key, so one
/// event's bytes can never fail the transaction its batch-mates share. Recursion is bounded by
/// serde_json's nesting limit (128).
pub fn sanitize(v: &mut Value) {
    match v {
        Value::String(s) => scrub(s),
        Value::Array(items) => items.iter_mut().for_each(sanitize),
        Value::Object(map) if map.keys().any(|k| k.contains('\0')) => {
            for (mut k, mut item) in std::mem::take(map) {
                scrub(&mut k);
                sanitize(&mut item);
                map.insert(k, item);
            }
        }
        Value::Object(map) => map.values_mut().for_each(sanitize),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn scrub(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

/// Parses a POST. A lone UTF-16 surrogate escape (`\ud83d` cut from its pair) makes serde_json
/// refuse the whole body, so Meta would redeliver it, and its batch-mates, forever: it is read
/// as U+FFFD instead (see [`replace_lone_surrogates`]).
///
/// # Errors
/// The body is not JSON even then.
pub fn parse_body(body: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(body).or_else(|e| match replace_lone_surrogates(body) {
        Some(fixed) => serde_json::from_slice(&fixed),
        None => Err(e),
    })
}

/// `body` with every lone surrogate escape replaced by `\ufffd` (same length), or `None` when it
/// has none. Backslashes only occur inside JSON strings, so every `\` starts an escape.
#[must_use]
pub fn replace_lone_surrogates(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = body.to_vec();
    let mut changed = false;
    let mut i = 0;
    while i < out.len() {
        if out[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escaped_unit(&out, i) else {
            i += 2; // `\"`, `\\`, `\n`…: skip the escaped character.
            continue;
        };
        let high = (0xD800..0xDC00).contains(&unit);
        if high && escaped_unit(&out, i + 6).is_some_and(|low| (0xDC00..0xE000).contains(&low)) {
            i += 12;
            continue;
        }
        if (0xD800..0xE000).contains(&unit) {
            out[i..i + 6].copy_from_slice(b"\\ufffd");
            changed = true;
        }
        i += 6;
    }
    changed.then_some(out)
}

/// The code unit of a `\uXXXX` escape starting at `i`.
fn escaped_unit(b: &[u8], i: usize) -> Option<u16> {
    let esc = b.get(i..i + 6)?;
    if &esc[..2] != b"\\u" || !esc[2..].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(&esc[2..]).ok()?, 16).ok()
}

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A customer message (text, attachments, story reply, quick reply…).
    Message,
    /// A message sent by the business (from any tool): matched to ours or forwarded as `message.echo`.
    Echo,
    Reaction,
    Read,
    Postback,
    Referral,
    Edit,
    Deleted,
    /// A kind we do not model (optins, handover…): recorded, counted, not forwarded.
    Unknown,
}

impl Kind {
    /// Whether storing this kind runs only statements with one reasonable plan whatever the
    /// tables hold (conversations, events, deliveries; the mid lookup of a reaction is a SQL
    /// function, planned per call anyway): a batch of such kinds runs on cached generic plans
    /// ([`db::Planning`]). Echoes (send adoption), unsends and read receipts touch earlier rows
    /// through statements that are planned for their parameters.
    #[must_use]
    pub fn plan_stable(self) -> bool {
        !matches!(self, Self::Echo | Self::Deleted | Self::Read)
    }

    /// Whether storing this kind changes no earlier row and its CRM event needs only the event
    /// and its conversation: a batch of such kinds (the common one: customers' messages) is
    /// written by one statement ([`db::inbound::store_self_contained`]).
    #[must_use]
    pub fn self_contained(self) -> bool {
        matches!(self, Self::Message | Self::Postback | Self::Referral | Self::Edit | Self::Unknown)
    }

    /// Stored and metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Echo => "echo",
            Self::Reaction => "reaction",
            Self::Read => "read",
            Self::Postback => "postback",
            Self::Referral => "referral",
            Self::Edit => "edit",
            Self::Deleted => "deleted",
            Self::Unknown => "unknown",
        }
    }

    /// Whether the event is a customer action that (re)opens the messaging window.
    #[must_use]
    pub fn opens_window(self) -> bool {
        matches!(self, Self::Message | Self::Postback | Self::Referral)
    }
}

/// One event, classified.
#[derive(Debug, Clone)]
pub struct Classified {
    pub kind: Kind,
    /// The Instagram business account the event belongs to.
    pub business_id: String,
    /// The customer (IGSID).
    pub contact_id: String,
    /// The event's own mid, or the referenced one (reactions, reads).
    pub mid: Option<String>,
    pub occurred_at: Option<OffsetDateTime>,
    /// Came through `standby[]` (another app owns the thread).
    pub standby: bool,
    /// The dashboard's test form (`changes[]`).
    pub is_test: bool,
    /// What the CRM payload and the conversation history show.
    pub content: Value,
    pub raw: Value,
}

/// Why an event could not be classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Parses a number or numeric string timestamp in seconds or milliseconds (Meta uses both).
#[must_use]
pub fn parse_timestamp(v: &Value) -> Option<OffsetDateTime> {
    let n = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    if n <= 0 {
        return None;
    }
    let nanos = if n < 100_000_000_000 { i128::from(n) * 1_000_000_000 } else { i128::from(n) * 1_000_000 };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

fn id_of(v: &Value, key: &str, missing: &'static str) -> Result<String, Malformed> {
    let id = match v.get(key).and_then(|x| x.get("id")) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(Malformed(missing)),
    };
    if id.len() > MAX_ID_BYTES {
        return Err(Malformed("id too long"));
    }
    Ok(id)
}

fn str_of(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr).and_then(Value::as_str).map(str::to_owned)
}

/// The type the CRM sees for a customer message (`message_type`).
fn message_type(m: &Value) -> String {
    if m.pointer("/reply_to/story").is_some() {
        return "story_reply".into();
    }
    if m.get("is_unsupported").and_then(Value::as_bool) == Some(true) {
        return "unsupported".into();
    }
    if let Some(t) = m.pointer("/attachments/0/type").and_then(Value::as_str) {
        return t.to_owned();
    }
    if m.get("quick_reply").is_some() {
        return "quick_reply".into();
    }
    "text".into()
}

/// Classifies one `messaging[]` / `standby[]` item (or a `changes[].value`).
///
/// # Errors
/// The event lacks the fields every event has.
pub fn classify(event: &Value, standby: bool, is_test: bool) -> Result<Classified, Malformed> {
    let c = classify_kind(event, standby, is_test)?;
    if c.mid.as_ref().is_some_and(|m| m.len() > MAX_ID_BYTES) {
        return Err(Malformed("mid too long"));
    }
    Ok(c)
}

fn classify_kind(event: &Value, standby: bool, is_test: bool) -> Result<Classified, Malformed> {
    if !event.is_object() {
        return Err(Malformed("event is not an object"));
    }
    let sender = id_of(event, "sender", "missing sender.id")?;
    let recipient = id_of(event, "recipient", "missing recipient.id")?;
    let occurred_at = event.get("timestamp").and_then(parse_timestamp);
    let base = |kind: Kind, business: &str, contact: &str, mid: Option<String>, content: Value| Classified {
        kind,
        business_id: business.to_owned(),
        contact_id: contact.to_owned(),
        mid,
        occurred_at,
        standby,
        is_test,
        content,
        raw: event.clone(),
    };
    if let Some(m) = event.get("message") {
        let mid = str_of(m, "/mid");
        if m.get("is_echo").and_then(Value::as_bool) == Some(true) {
            // Sent by the business: the business is the sender.
            let content = json!({"text": m.get("text"), "attachments": m.get("attachments")});
            return Ok(base(Kind::Echo, &sender, &recipient, mid, content));
        }
        if m.get("is_deleted").and_then(Value::as_bool) == Some(true) {
            return Ok(base(Kind::Deleted, &recipient, &sender, mid, json!({})));
        }
        let attachments: Vec<Value> = m
            .get("attachments")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| json!({"type": x.get("type"), "payload": x.get("payload")})).collect())
            .unwrap_or_default();
        let content = json!({
            "text": m.get("text"),
            "message_type": message_type(m),
            "attachments": attachments,
            "reply_to": m.get("reply_to"),
            "quick_reply_payload": m.pointer("/quick_reply/payload"),
            "referral": m.get("referral"),
        });
        return Ok(base(Kind::Message, &recipient, &sender, mid, content));
    }
    if let Some(r) = event.get("reaction") {
        let content = json!({"action": r.get("action"), "reaction": r.get("reaction"), "emoji": r.get("emoji")});
        return Ok(base(Kind::Reaction, &recipient, &sender, str_of(r, "/mid"), content));
    }
    if let Some(r) = event.get("read") {
        return Ok(base(Kind::Read, &recipient, &sender, str_of(r, "/mid"), json!({})));
    }
    if let Some(p) = event.get("postback") {
        let content = json!({"title": p.get("title"), "payload": p.get("payload"), "message_type": "postback"});
        return Ok(base(Kind::Postback, &recipient, &sender, str_of(p, "/mid"), content));
    }
    if let Some(r) = event.get("referral") {
        let content = json!({"referral": r, "message_type": "referral"});
        return Ok(base(Kind::Referral, &recipient, &sender, None, content));
    }
    if let Some(e) = event.get("message_edit") {
        let content = json!({"text": e.get("text"), "num_edit": e.get("num_edit")});
        return Ok(base(Kind::Edit, &recipient, &sender, str_of(e, "/mid"), content));
    }
    Ok(base(Kind::Unknown, &recipient, &sender, None, json!({})))
}

/// The idempotency id of an event for one merchant.
#[must_use]
pub fn event_id(merchant_id: Uuid, c: &Classified) -> String {
    let by_mid = |prefix: &str| c.mid.as_ref().map(|m| format!("{prefix}:{m}"));
    let own = match c.kind {
        Kind::Message => by_mid("mid"),
        Kind::Echo => by_mid("echo"),
        Kind::Deleted => by_mid("deleted"),
        Kind::Postback => by_mid("postback"),
        Kind::Edit => {
            c.mid.as_ref().map(|m| format!("edit:{m}:{}", c.content.get("num_edit").cloned().unwrap_or(Value::Null)))
        }
        _ => None,
    };
    match own {
        Some(id) => capped_event_id(merchant_id, id),
        None => hashed_event_id(merchant_id, &serde_json::to_vec(&c.raw).unwrap_or_default()),
    }
}

/// The event id of the message `mid` as [`event_id`] stored it: how an unsend finds the message
/// it erases through the `(merchant_id, event_id)` keys instead of scanning by mid.
#[must_use]
pub fn message_event_id(merchant_id: Uuid, mid: &str) -> String {
    capped_event_id(merchant_id, format!("mid:{mid}"))
}

fn capped_event_id(merchant_id: Uuid, id: String) -> String {
    if id.len() > MAX_EVENT_ID_BYTES { hashed_event_id(merchant_id, id.as_bytes()) } else { id }
}

fn hashed_event_id(merchant_id: Uuid, data: &[u8]) -> String {
    let mut bytes = merchant_id.as_bytes().to_vec();
    bytes.extend_from_slice(data);
    format!("h:{}", hex::encode(crate::crypto::sha256(&bytes)))
}

/// What happened to a POST.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// Events in the POST.
    pub events: usize,
    /// Newly stored (per merchant; an event for an account two merchants connected counts twice).
    pub stored: usize,
    /// Already stored before (redeliveries).
    pub duplicates: usize,
    /// For accounts nobody connected, dashboard tests, or malformed.
    pub unrouted: usize,
    /// Events (or account rows of an event) the signature does not vouch for: dropped.
    pub rejected: usize,
    /// CRM events raised (an endpoint's event filter may still drop some at enqueue time).
    pub webhooks: usize,
}

pub use crate::db::inbound::RouteRow;

/// Splits a POST into classified events (or the reason each could not be). Each event is
/// [`sanitize`]d first, so its ids, content and raw JSON are all storable.
#[must_use]
pub fn events_of(body: &Value) -> Vec<(Result<Classified, Malformed>, Value)> {
    let mut out = Vec::new();
    let Some(entries) = body.get("entry").and_then(Value::as_array) else {
        let mut raw = body.clone();
        sanitize(&mut raw);
        out.push((Err(Malformed("no entry array")), raw));
        return out;
    };
    let clean = |v: &Value| {
        let mut v = v.clone();
        sanitize(&mut v);
        v
    };
    for entry in entries {
        for (list, standby) in [("messaging", false), ("standby", true)] {
            for ev in entry.get(list).and_then(Value::as_array).into_iter().flatten() {
                let ev = clean(ev);
                out.push((classify(&ev, standby, false), ev));
            }
        }
        for ch in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let ch = clean(ch);
            let value = ch.get("value").cloned().unwrap_or(Value::Null);
            if ch.get("field").and_then(Value::as_str) == Some("messages") {
                out.push((classify(&value, false, true), ch));
            } else {
                out.push((Err(Malformed("unsupported changes field")), ch));
            }
        }
    }
    out
}

/// Who vouched for a POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Signed with the platform `IG_APP_SECRET`: Meta itself, for every event.
    Platform,
    /// Signed with a per-account app secret: only these account rows (those holding it).
    Accounts(HashSet<Uuid>),
}

impl Trust {
    fn vouches_for(&self, account_id: Uuid) -> bool {
        match self {
            Self::Platform => true,
            Self::Accounts(rows) => rows.contains(&account_id),
        }
    }
}

/// A POST split into events and routed (one lookup), not yet stored.
#[derive(Debug, Clone)]
pub struct Routed {
    items: Vec<(Result<Classified, Malformed>, Value)>,
    routes: HashMap<String, Vec<RouteRow>>,
}

/// Classifies a POST and looks up every account its events address, in one query.
///
/// # Errors
/// Postgres errors.
pub async fn route(pool: &PgPool, body: &Value) -> Result<Routed, sqlx::Error> {
    let mut routed = route_many(pool, None, &[body]).await?;
    Ok(routed.pop().unwrap_or(Routed { items: Vec::new(), routes: HashMap::new() }))
}

/// [`route`] for several POSTs with one query for all the accounts they address (the ingest
/// committer's batch), or none when `cache` holds them all.
///
/// # Errors
/// Postgres errors.
pub async fn route_many(
    pool: &PgPool,
    cache: Option<&RouteCache>,
    bodies: &[&Value],
) -> Result<Vec<Routed>, sqlx::Error> {
    let items: Vec<Vec<(Result<Classified, Malformed>, Value)>> = bodies.iter().map(|b| events_of(b)).collect();
    let mut ids: Vec<String> =
        items.iter().flatten().filter_map(|(c, _)| c.as_ref().ok().map(|c| c.business_id.clone())).collect();
    ids.sort();
    ids.dedup();
    let all = match cache {
        Some(cache) => cache.find_routes(pool, &ids).await?,
        None => db::inbound::find_routes(pool, &ids).await?,
    };
    Ok(items
        .into_iter()
        .map(|items| {
            let routes = items
                .iter()
                .filter_map(|(c, _)| c.as_ref().ok())
                .filter_map(|c| all.get(&c.business_id).map(|rows| (c.business_id.clone(), rows.clone())))
                .collect();
            Routed { items, routes }
        })
        .collect())
}

impl Routed {
    /// How many events the POST holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the POST holds no event.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The account rows a signature not made with the platform secret vouches for: rows this POST
    /// addresses whose own decrypted app secret verifies `sig` over `body`, and — when
    /// `sandbox_secret` (`SANDBOX_IG_APP_SECRET`) verifies it — every sandbox row it addresses (the
    /// sandbox's simulator signs with that secret, which must never speak for a live account). At
    /// most [`MAX_CANDIDATE_SECRETS`] distinct per-account secrets are tried (one HMAC each), in
    /// event order. Empty when none verifies.
    #[must_use]
    pub fn vouched_by(
        &self,
        keyring: &Keyring,
        sandbox_secret: Option<&SecretString>,
        body: &[u8],
        sig: &str,
    ) -> HashSet<Uuid> {
        let mut vouched = HashSet::new();
        let sandbox_rows: Vec<&RouteRow> = self.candidate_rows().filter(|r| r.sandbox).collect();
        if let Some(secret) = sandbox_secret
            && !sandbox_rows.is_empty()
            && verify_hub_signature(secret.expose_secret().as_bytes(), body, sig)
        {
            vouched.extend(sandbox_rows.iter().map(|r| r.account_id));
        }
        let mut tried: Vec<(SecretString, bool)> = Vec::new();
        for row in self.candidate_rows() {
            let Some(secret) = row.app_secret_enc.as_deref().and_then(|enc| keyring.decrypt(enc).ok()) else {
                continue;
            };
            let known = tried.iter().find(|(s, _)| s.expose_secret() == secret.expose_secret()).map(|t| t.1);
            let ok = match known {
                Some(ok) => ok,
                None if tried.len() < MAX_CANDIDATE_SECRETS => {
                    let ok = verify_hub_signature(secret.expose_secret().as_bytes(), body, sig);
                    tried.push((secret, ok));
                    ok
                }
                None => false,
            };
            if ok {
                vouched.insert(row.account_id);
            }
        }
        vouched
    }

    /// Rows addressed by the events, each once, in the order the events name them.
    fn candidate_rows(&self) -> impl Iterator<Item = &RouteRow> {
        let mut seen = HashSet::new();
        self.items
            .iter()
            .filter_map(|(c, _)| c.as_ref().ok())
            .filter(move |c| seen.insert(c.business_id.clone()))
            .flat_map(|c| self.routes.get(&c.business_id).into_iter().flatten())
    }
}

struct Pending {
    /// Which POST of the batch the event came from (its report).
    post: usize,
    merchant_id: Uuid,
    account_id: Uuid,
    c: Classified,
    event_id: String,
    inbound_event_id: Uuid,
}

/// Stores a POST signed with the platform secret (see the module docs).
///
/// # Errors
/// Postgres errors: nothing is stored, and Meta will redeliver.
pub async fn ingest(pool: &PgPool, body: &Value) -> Result<IngestReport, sqlx::Error> {
    store(pool, route(pool, body).await?, &Trust::Platform).await
}

/// Stores the events of a routed POST that `trust` vouches for, in one transaction. `pool` is
/// the API's RLS-bound pool; each merchant's events are written under its own context. Events
/// and rows `trust` does not cover are dropped and counted (never stored, never forwarded).
///
/// # Errors
/// Postgres errors: nothing is stored, and Meta will redeliver.
pub async fn store(pool: &PgPool, routed: Routed, trust: &Trust) -> Result<IngestReport, sqlx::Error> {
    let mut reports = store_batch(pool, vec![(routed, trust.clone())]).await?;
    Ok(reports.pop().unwrap_or_default())
}

/// [`store`] for several POSTs in **one** transaction (group commit): their events are planned
/// each under its own POST's trust, then written together, per merchant, with the same set-based
/// statements as one POST's (a redelivery of an event inside the batch is a duplicate, as it would
/// be across transactions). One report per POST, in order.
///
/// # Errors
/// Postgres errors: nothing of the batch is stored (the caller retries each POST alone).
pub async fn store_batch(pool: &PgPool, posts: Vec<(Routed, Trust)>) -> Result<Vec<IngestReport>, sqlx::Error> {
    let mut reports: Vec<IngestReport> =
        posts.iter().map(|(r, _)| IngestReport { events: r.items.len(), ..IngestReport::default() }).collect();
    let mut unrouted = Vec::new();
    // Merchants in id order: every ingest transaction (a batch, a large POST, another replica's)
    // takes its row locks merchant by merchant in the same order, so they cannot deadlock on one
    // another; within a merchant, conversations are upserted in (account, contact) order.
    let mut by_merchant: BTreeMap<Uuid, Vec<Pending>> = BTreeMap::new();
    for (post, (routed, trust)) in posts.into_iter().enumerate() {
        let report = &mut reports[post];
        let Plan { unrouted: u, by_merchant: b } = plan(post, routed, &trust, report);
        if report.rejected > 0 {
            Rejected::UnverifiedEntry.count(report.rejected);
        }
        report.unrouted = u.len();
        unrouted.extend(u);
        for (merchant_id, pending) in b {
            by_merchant.entry(merchant_id).or_default().extend(pending);
        }
    }

    if unrouted.is_empty() && by_merchant.values().flatten().all(|p| p.c.kind.self_contained()) {
        let pending: Vec<Pending> = by_merchant.into_values().flatten().collect();
        if !pending.is_empty() {
            store_self_contained(pool, &pending, &mut reports).await?;
        }
        return Ok(reports);
    }

    // The first merchant's context rides in the BEGIN (one round trip less); unrouted records
    // are written before any context.
    let planning = if by_merchant.values().flatten().all(|p| p.c.kind.plan_stable()) {
        db::Planning::Generic
    } else {
        db::Planning::Custom
    };
    let mut merchants = by_merchant.into_iter().peekable();
    let mut tx = match merchants.peek() {
        Some((merchant_id, _)) if unrouted.is_empty() => {
            db::begin_merchant_tx_planned(pool, *merchant_id, planning).await?
        }
        _ => pool.begin().await?,
    };
    let mut context_set = unrouted.is_empty();
    if !unrouted.is_empty() {
        db::inbound::insert_unrouted(&mut tx, &unrouted).await?;
    }
    for (merchant_id, pending) in merchants {
        if !std::mem::take(&mut context_set) {
            db::set_merchant_context_planned(&mut tx, merchant_id, planning).await?;
        }
        store_merchant(&mut tx, &pending, &mut reports).await?;
    }
    tx.commit().await?;
    Ok(reports)
}

/// [`store_batch`] for a batch whose every event is [`Kind::self_contained`]: one statement, which
/// Postgres commits on its own ([`db::inbound::store_self_contained`]).
async fn store_self_contained(
    pool: &PgPool,
    pending: &[Pending],
    reports: &mut [IngestReport],
) -> Result<(), sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    // The conversation id is known only inside the statement. Each body is rendered with a
    // marker no sender can predict (a random UUID per batch) as its `conversation_id`, and split
    // there; the statement writes the id (or `null`) between the two parts. A body without the
    // marker (a content field of that name took its place) is sent whole.
    let marker = Uuid::new_v4().to_string();
    let quoted = format!("\"{marker}\"");
    let rows: Vec<db::inbound::SelfContainedEvent<'_>> = pending
        .iter()
        .map(|p| {
            let delivery = self_contained_event(p, json!(marker)).map(|e| {
                let body = webhooks::render_body(e.event_type, &e.event_id, &e.data);
                let (head, tail) = match body.find(&quoted) {
                    Some(at) => (body[..at].to_owned(), Some(body[at + quoted.len()..].to_owned())),
                    None => (body, None),
                };
                db::inbound::SplitDelivery { delivery_id: Uuid::now_v7(), event_type: e.event_type, head, tail }
            });
            db::inbound::SelfContainedEvent {
                merchant_id: p.merchant_id,
                event: new_event(p, None),
                window_at: window_at(p, now),
                delivery,
            }
        })
        .collect();
    let stored = db::inbound::store_self_contained(&mut *pool.acquire().await?, &rows).await?;
    for (p, row) in pending.iter().zip(&rows) {
        let report = &mut reports[p.post];
        if count_stored(p, &stored, report) && row.delivery.is_some() {
            report.webhooks += 1;
        }
    }
    Ok(())
}

/// Counts an event of a batch as stored or duplicate (report and metric); true if stored.
fn count_stored(p: &Pending, stored: &HashSet<Uuid>, report: &mut IngestReport) -> bool {
    let is_new = stored.contains(&p.inbound_event_id);
    if is_new {
        report.stored += 1;
    } else {
        report.duplicates += 1;
    }
    let result = if is_new { "stored" } else { "duplicate" };
    metrics::counter!("router_inbound_events_total", "kind" => p.c.kind.as_str(), "result" => result).increment(1);
    is_new
}

/// The row of a pending event.
fn new_event(p: &Pending, conversation_id: Option<Uuid>) -> db::inbound::NewInboundEvent<'_> {
    db::inbound::NewInboundEvent {
        inbound_event_id: p.inbound_event_id,
        account_id: p.account_id,
        conversation_id,
        event_id: &p.event_id,
        kind: p.c.kind.as_str(),
        instagram_account_id: &p.c.business_id,
        sender_id: &p.c.contact_id,
        instagram_message_id: p.c.mid.as_deref(),
        content: &p.c.content,
        raw: &p.c.raw,
        is_test: p.c.is_test,
        occurred_at: p.c.occurred_at,
    }
}

/// The time a pending event moves its conversation's messaging window to, if it is a customer
/// action. A timestamp from the future counts as now: it must not hold the 24 h window open.
fn window_at(p: &Pending, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let moves = p.c.kind.opens_window() && !p.c.is_test;
    moves.then(|| p.c.occurred_at.map_or(now, |t| t.min(now)))
}

/// What a POST will write: unrouted records and, per merchant, the events it gets.
struct Plan {
    unrouted: Vec<(Option<String>, &'static str, Value)>,
    by_merchant: BTreeMap<Uuid, Vec<Pending>>,
}

/// Routes each event to the account rows `trust` vouches for. Under [`Trust::Accounts`], events
/// no vouched row receives (including malformed ones and those for unknown accounts) are
/// dropped, and so are the unvouched rows of the others: all counted in `report.rejected`.
fn plan(post: usize, routed: Routed, trust: &Trust, report: &mut IngestReport) -> Plan {
    let Routed { items, routes } = routed;
    let platform = *trust == Trust::Platform;
    let mut out = Plan { unrouted: Vec::new(), by_merchant: BTreeMap::new() };
    for (c, raw) in items {
        let c = match c {
            Ok(c) => c,
            Err(_) if !platform => {
                report.rejected += 1;
                continue;
            }
            Err(Malformed(why)) => {
                metrics::counter!("router_inbound_events_total", "kind" => "malformed", "result" => "unrouted")
                    .increment(1);
                out.unrouted.push((None, why, raw));
                continue;
            }
        };
        let all = routes.get(&c.business_id).map(Vec::as_slice).unwrap_or_default();
        let accounts: Vec<&RouteRow> = all.iter().filter(|a| trust.vouches_for(a.account_id)).collect();
        if accounts.is_empty() && !platform {
            report.rejected += 1;
            continue;
        }
        report.rejected += all.len() - accounts.len();
        if accounts.is_empty() {
            let reason = if c.is_test { "dashboard_test" } else { "unknown_account" };
            let kind = if c.is_test { "test" } else { c.kind.as_str() };
            metrics::counter!("router_inbound_events_total", "kind" => kind, "result" => "unrouted").increment(1);
            out.unrouted.push((Some(c.business_id.clone()), reason, raw));
            continue;
        }
        for a in accounts {
            out.by_merchant.entry(a.merchant_id).or_default().push(Pending {
                post,
                merchant_id: a.merchant_id,
                account_id: a.account_id,
                event_id: event_id(a.merchant_id, &c),
                c: c.clone(),
                inbound_event_id: Uuid::now_v7(),
            });
        }
    }
    out
}

async fn store_merchant(
    conn: &mut PgConnection,
    pending: &[Pending],
    reports: &mut [IngestReport],
) -> Result<(), sqlx::Error> {
    // 1. Conversations: every event belongs to one; customer actions move the window.
    let merchant_id = pending[0].merchant_id;
    let convs = conversations_of(conn, merchant_id, pending).await?;

    // 2. Store the events; only newly stored ones have effects.
    let rows: Vec<db::inbound::NewInboundEvent<'_>> =
        pending.iter().zip(&convs).map(|(p, conversation_id)| new_event(p, *conversation_id)).collect();
    let inserted = db::inbound::insert_events(conn, merchant_id, &rows).await?;

    // Our own messages the batch's echoes and reactions name: one lookup for all of them (an
    // echo batch from Meta would otherwise cost a round trip per event, inside the transaction).
    let named: Vec<(Uuid, &str)> = pending
        .iter()
        .filter(|p| matches!(p.c.kind, Kind::Echo | Kind::Reaction) && inserted.contains(&p.inbound_event_id))
        .filter_map(|p| p.c.mid.as_deref().map(|m| (p.account_id, m)))
        .collect();
    let mut ours: HashMap<(Uuid, String), Uuid> = if named.is_empty() {
        HashMap::new()
    } else {
        db::inbound::outbound_by_mids(conn, &named).await?.into_iter().map(|(a, m, id)| ((a, m), id)).collect()
    };
    let mut own_echoes: Vec<Uuid> = Vec::new();

    let mut crm: Vec<CrmEvent> = Vec::new();
    for (p, conv_id) in pending.iter().zip(&convs) {
        let report = &mut reports[p.post];
        if !count_stored(p, &inserted, report) {
            continue;
        }
        let before = crm.len();
        effects(conn, p, *conv_id, &mut Effects { crm: &mut crm, ours: &mut ours, own_echoes: &mut own_echoes })
            .await?;
        report.webhooks += crm.len() - before;
    }
    if !own_echoes.is_empty() {
        db::inbound::mark_echo_own(conn, &own_echoes).await?;
    }
    webhooks::enqueue_events(conn, &crm).await?;
    Ok(())
}

/// The conversation of each pending event (in order), created or moved forward as needed
/// ([`db::inbound::touch_conversations`], [`window_at`]).
async fn conversations_of(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    pending: &[Pending],
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    let keys: Vec<db::inbound::ConversationKey<'_>> =
        pending.iter().map(|p| (p.account_id, p.c.contact_id.as_str(), window_at(p, now))).collect();
    let rows = db::inbound::touch_conversations(conn, merchant_id, &keys).await?;
    let conv: HashMap<(Uuid, String), Uuid> = rows.into_iter().map(|(a, k, c)| ((a, k), c)).collect();
    Ok(pending.iter().map(|p| conv.get(&(p.account_id, p.c.contact_id.clone())).copied()).collect())
}

/// What the events of a merchant's batch produce, collected for set-based writes.
struct Effects<'a> {
    /// CRM events to enqueue.
    crm: &'a mut Vec<CrmEvent>,
    /// `(account, mid)` → our outbound message carrying that mid (looked up once per batch;
    /// echoes adopted by an unsettled send are added as they are matched).
    ours: &'a mut HashMap<(Uuid, String), Uuid>,
    /// Stored echoes that are our own sends (marked `echo_own` in one statement).
    own_echoes: &'a mut Vec<Uuid>,
}

/// The CRM payload of an inbound event; `conv` is the conversation id's JSON value.
fn inbound_payload(p: &Pending, conv: Value) -> Value {
    let ts = p.c.occurred_at.map(webhooks::rfc3339);
    let mut data = json!({
        "message_id": p.inbound_event_id,
        "account_id": p.account_id,
        "sender_id": p.c.contact_id,
        "sender_username": Value::Null,
        "timestamp": ts,
        "instagram_message_id": p.c.mid,
        "conversation_id": conv,
        "standby": p.c.standby,
        "raw": p.c.raw,
    });
    if let (Value::Object(d), Value::Object(c)) = (&mut data, &p.c.content) {
        for (k, v) in c {
            d.insert(k.clone(), v.clone());
        }
    }
    if data.get("message").is_none() {
        data["message"] = p.c.content.get("text").cloned().filter(|t| !t.is_null()).unwrap_or(json!(""));
    }
    data
}

async fn effects(
    conn: &mut PgConnection,
    p: &Pending,
    conv_id: Option<Uuid>,
    fx: &mut Effects<'_>,
) -> Result<(), sqlx::Error> {
    let crm = &mut *fx.crm;
    let event = |event_type: &'static str, data: Value| pending_event(p, event_type, data);
    match p.c.kind {
        Kind::Message | Kind::Postback | Kind::Referral | Kind::Edit | Kind::Unknown => {
            crm.extend(self_contained_event(p, json!(conv_id)));
        }
        Kind::Echo => {
            // Our own send? Then it only confirms what we already recorded.
            let key = p.c.mid.clone().map(|m| (p.account_id, m));
            let ours = key.as_ref().and_then(|k| fx.ours.get(k).copied());
            // Not recorded as ours yet: is it the echo of a send whose answer we do not know
            // (in flight, or held after a timeout / 1/1357046)? Then it settles that send.
            let adopted = match (&ours, &p.c.mid) {
                (None, Some(mid)) => {
                    crate::reconcile::adopt_echo(conn, p.account_id, &p.c.contact_id, &p.c.content, mid).await?
                }
                _ => None,
            };
            if let (Some(k), Some(id)) = (key, adopted) {
                fx.ours.insert(k, id);
            }
            if ours.is_some() || adopted.is_some() {
                fx.own_echoes.push(p.inbound_event_id);
            } else {
                let mut data = inbound_payload(p, json!(conv_id));
                data["recipient_id"] = json!(p.c.contact_id);
                data.as_object_mut().map(|o| o.remove("sender_id"));
                data["sender_id"] = json!(p.c.business_id);
                crm.push(event(events::MESSAGE_ECHO, data));
            }
        }
        Kind::Reaction => {
            let ours = p.c.mid.clone().and_then(|m| fx.ours.get(&(p.account_id, m)).copied());
            let mut data = inbound_payload(p, json!(conv_id));
            data["reacted_message_id"] = json!(ours);
            crm.push(event(events::MESSAGE_REACTION, data));
        }
        Kind::Deleted => {
            if let Some(mid) = &p.c.mid {
                db::inbound::erase_inbound_message(
                    conn,
                    p.merchant_id,
                    p.account_id,
                    &message_event_id(p.merchant_id, mid),
                )
                .await?;
            }
            let mut data = inbound_payload(p, json!(conv_id));
            data["message"] = json!("");
            crm.push(event(events::MESSAGE_DELETED, data));
        }
        Kind::Read => {
            if p.c.mid.is_some() {
                mark_read_up_to(conn, p, crm).await?;
            }
        }
    }
    Ok(())
}

/// The CRM event of a [`Kind::self_contained`] event (none for an unknown kind); `conv` is the
/// conversation id's JSON value.
fn self_contained_event(p: &Pending, conv: Value) -> Option<CrmEvent> {
    let (event_type, data) = match p.c.kind {
        Kind::Message | Kind::Postback | Kind::Referral => (events::MESSAGE_RECEIVED, inbound_payload(p, conv)),
        Kind::Edit => {
            let mut data = inbound_payload(p, conv);
            data["message"] = p.c.content.get("text").cloned().unwrap_or(json!(""));
            (events::MESSAGE_EDITED, data)
        }
        _ => return None,
    };
    Some(pending_event(p, event_type, data))
}

/// A CRM event caused by a pending event (its id, ordered in the contact's conversation).
fn pending_event(p: &Pending, event_type: &'static str, data: Value) -> CrmEvent {
    CrmEvent {
        merchant_id: p.merchant_id,
        account_id: p.account_id,
        event_type,
        event_id: p.event_id.clone(),
        data,
        conversation: Some(p.c.contact_id.clone()),
    }
}

/// Our outbound message the event's mid names (an echo of our send, the target of a reaction).
/// Instagram read receipts carry the mid of the last message seen: every earlier outbound
/// message of the conversation is read too.
async fn mark_read_up_to(conn: &mut PgConnection, p: &Pending, crm: &mut Vec<CrmEvent>) -> Result<(), sqlx::Error> {
    let Some(mid) = &p.c.mid else { return Ok(()) };
    let rows = db::inbound::mark_read_up_to(conn, p.account_id, &p.c.contact_id, mid).await?;
    for row in rows {
        crm.push(CrmEvent {
            merchant_id: row.merchant_id,
            account_id: row.account_id,
            event_type: events::MESSAGE_READ,
            event_id: format!("msg:{}:read", row.message_id),
            data: json!({
                "message_id": row.message_id,
                "account_id": row.account_id,
                "recipient_id": row.recipient_id,
                "status": "read",
                "timestamp": p.c.occurred_at.map(webhooks::rfc3339),
                "instagram_message_id": row.instagram_message_id,
                "error": Value::Null,
                "metadata": row.metadata,
            }),
            conversation: Some(row.recipient_id.clone()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_seconds_milliseconds_and_strings_parse() {
        let ms = parse_timestamp(&json!(1_569_262_485_349i64)).unwrap();
        let s = parse_timestamp(&json!("1527459824")).unwrap();
        assert_eq!(ms.unix_timestamp(), 1_569_262_485);
        assert_eq!(s.unix_timestamp(), 1_527_459_824);
        assert!(parse_timestamp(&json!("soon")).is_none());
    }

    #[test]
    fn events_are_classified_and_routed_by_the_right_side() {
        let inbound = json!({"sender": {"id": "111"}, "recipient": {"id": "999"}, "timestamp": 1, "message": {"mid": "m1", "text": "hi"}});
        let c = classify(&inbound, false, false).unwrap();
        assert_eq!((c.kind, c.business_id.as_str(), c.contact_id.as_str()), (Kind::Message, "999", "111"));
        let echo =
            json!({"sender": {"id": "999"}, "recipient": {"id": "111"}, "message": {"mid": "m2", "is_echo": true}});
        let c = classify(&echo, false, false).unwrap();
        assert_eq!((c.kind, c.business_id.as_str(), c.contact_id.as_str()), (Kind::Echo, "999", "111"));
        let story = json!({"sender": {"id": "1"}, "recipient": {"id": "9"}, "message": {"mid": "m", "text": "wow", "reply_to": {"story": {"url": "u", "id": "s"}}}});
        assert_eq!(classify(&story, false, false).unwrap().content["message_type"], "story_reply");
        let optin = json!({"sender": {"id": "1"}, "recipient": {"id": "9"}, "optin": {"ref": "x"}});
        assert_eq!(classify(&optin, false, false).unwrap().kind, Kind::Unknown);
        assert!(classify(&json!({"recipient": {"id": "9"}}), false, false).is_err());
        assert!(classify(&json!("nope"), false, false).is_err());
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let body = br#"{"a":"x\ud83d","b":"\ud83d\ude00","c":"\\ud83d","d":"\udc00\u0041"}"#;
        assert!(serde_json::from_slice::<Value>(body).is_err());
        let v = parse_body(body).unwrap();
        assert_eq!((v["a"].as_str(), v["b"].as_str()), (Some("x\u{fffd}"), Some("\u{1f600}")));
        assert_eq!((v["c"].as_str(), v["d"].as_str()), (Some("\\ud83d"), Some("\u{fffd}A")));
        assert!(replace_lone_surrogates(br#"{"ok":"\ud83d\ude00"}"#).is_none());
    }

    #[test]
    fn nul_becomes_a_replacement_character_in_strings_and_keys() {
        let mut v = json!({"k\u{0}": ["a\u{0}b", {"x": "\u{0}"}], "n": 1});
        sanitize(&mut v);
        assert_eq!(v, json!({"k\u{fffd}": ["a\u{fffd}b", {"x": "\u{fffd}"}], "n": 1}));
    }

    #[test]
    fn event_ids_use_the_mid_or_a_per_merchant_hash() {
        let m = Uuid::now_v7();
        let msg = classify(
            &json!({"sender": {"id": "1"}, "recipient": {"id": "9"}, "message": {"mid": "abc", "text": "x"}}),
            false,
            false,
        )
        .unwrap();
        assert_eq!(event_id(m, &msg), "mid:abc");
        let react = classify(&json!({"sender": {"id": "1"}, "recipient": {"id": "9"}, "timestamp": 5, "reaction": {"mid": "abc", "action": "react"}}), false, false).unwrap();
        let a = event_id(m, &react);
        assert!(a.starts_with("h:"));
        assert_eq!(a, event_id(m, &react.clone()));
        assert_ne!(a, event_id(Uuid::now_v7(), &react), "hash includes the merchant");
    }
}
