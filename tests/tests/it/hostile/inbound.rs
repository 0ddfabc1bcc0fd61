//! Hostile-input tests: inbound Meta webhooks (see docs/SECURITY.md).
//!
//! The attacker is a merchant with its own (bring-your-own-app) Meta app secret, anyone on the
//! internet with a forged body, or a customer whose message carries bytes Postgres refuses. The
//! victim is another merchant: what its CRM receives and what is stored for its accounts must not
//! change, and its events must not be lost because a neighbour's event in the same batch is odd.

use std::time::{Duration, Instant};

use router_tests::router_fakes::webhooks as meta;
use router_tests::router_fakes::{crm::Received, sign_sha256};
use router_tests::{APP_SECRET, Resp, TestApp};
use serde_json::{Value, json};
use time::OffsetDateTime;

const ATTACKER_IG: &str = "17841400000000001";
const VICTIM_IG: &str = "17841400000000002";
const ATTACKER_SECRET: &str = "attacker-own-meta-app-secret-0001";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CUSTOMER: &str = "1234567890123456";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// POSTs `body` as Meta would, but signed with `secret`.
async fn post_signed(app: &TestApp, body: &Value, secret: &str) -> Resp {
    let bytes = meta::to_meta_bytes(body);
    let sig = sign_sha256(secret.as_bytes(), &bytes);
    app.post_meta_raw(bytes, Some(&sig)).await
}

/// Sets the account's own Meta app secret the way a merchant can (`PUT /api/v1/accounts/{id}`).
async fn set_app_secret(app: &TestApp, key: &str, account: &Value, secret: &str) {
    let id = account["account_id"].as_str().unwrap();
    let r = app.put(&format!("/api/v1/accounts/{id}"), key, &json!({"app_secret": secret})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// An attacker merchant whose account carries its own app secret, and a victim merchant.
struct TwoTenants {
    app: TestApp,
    victim_account: String,
}

async fn two_tenants() -> TwoTenants {
    let app = TestApp::spawn().await;
    let (_, attacker_key) = app.merchant_with_key("Attacker").await;
    let (attacker, _) = app.connect_account(&attacker_key, ATTACKER_IG, "attacker", WEBHOOK_SECRET).await;
    set_app_secret(&app, &attacker_key, &attacker, ATTACKER_SECRET).await;
    let (_, victim_key) = app.merchant_with_key("Victim").await;
    let (victim, _) = app.connect_account(&victim_key, VICTIM_IG, "victim", WEBHOOK_SECRET).await;
    TwoTenants { app, victim_account: victim["account_id"].as_str().unwrap().to_owned() }
}

async fn delivered(app: &TestApp, crm_path: &str) -> Vec<Received> {
    app.deliverer().run_until_idle().await.unwrap();
    app.crm.received_on(crm_path)
}

fn rejected_metric(app: &TestApp, reason: &str) -> bool {
    app.state.metrics.render().lines().any(|l| {
        l.starts_with("router_inbound_rejected_total")
            && l.contains(&format!("reason=\"{reason}\""))
            && !l.ends_with(" 0")
    })
}

#[tokio::test]
async fn a_merchant_secret_cannot_forge_events_for_another_merchants_account() {
    let t = two_tenants().await;
    let app = &t.app;
    // The victim's customer writes; Meta delivers it (platform secret).
    let r = app
        .post_meta(&meta::envelope(
            VICTIM_IG,
            vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-real", "my order 42", now())],
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(delivered(app, "victim").await.len(), 1);

    // The attacker signs one body with its own app secret: an event for itself, plus events for
    // the victim (a forged message held open for a year, an unsend of the real message, and a
    // forged message hidden under the attacker's own entry id).
    let year = now() + time::Duration::days(365);
    let body = meta::multi_entry(vec![
        (
            ATTACKER_IG.to_owned(),
            vec![
                meta::text_message(ATTACKER_IG, CUSTOMER, "m-own", "own event", now()),
                meta::text_message(VICTIM_IG, CUSTOMER, "m-hidden", "FORGED-UNDER-OWN-ENTRY", now()),
            ],
        ),
        (
            VICTIM_IG.to_owned(),
            vec![
                meta::text_message(VICTIM_IG, CUSTOMER, "m-forged", "FORGED-PAY-HERE", year),
                meta::deleted(VICTIM_IG, CUSTOMER, "m-real", now()),
            ],
        ),
    ]);
    let r = post_signed(app, &body, ATTACKER_SECRET).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json["stored"].as_i64(), r.json["rejected"].as_i64()), (Some(1), Some(3)), "{}", r.text);

    // The victim's CRM got nothing new; its stored message is intact; its window did not move.
    let got = delivered(app, "victim").await;
    assert_eq!(got.len(), 1, "forged events reached the victim: {got:?}");
    assert_eq!(got[0].json["message"], "my order 42");
    let victim_rows: Vec<(String, Value)> =
        sqlx::query_as("select event_id, content from inbound_events where account_id = $1::uuid order by created_at")
            .bind(&t.victim_account)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(victim_rows.len(), 1, "{victim_rows:?}");
    assert_eq!(victim_rows[0].1["text"], "my order 42", "the real message was not erased");
    let last: OffsetDateTime =
        sqlx::query_scalar("select last_inbound_at from conversations where account_id = $1::uuid")
            .bind(&t.victim_account)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(last <= now(), "the victim's window was held open until {last}");
    // The attacker's own event went through, to the attacker only.
    let own = delivered(app, "attacker").await;
    assert_eq!(own.iter().map(|d| d.json["message"].as_str().unwrap()).collect::<Vec<_>>(), ["own event"]);
    // Dropped, counted, and logged without content.
    assert!(rejected_metric(app, "unverified_entry"));
    let logs = router_tests::captured_logs();
    assert!(logs.contains("do not hold it"), "the drop is logged");
    assert!(!logs.contains("FORGED-PAY-HERE") && !logs.contains("FORGED-UNDER-OWN-ENTRY"));

    // A body that only addresses the victim is not vouched for at all: 401, nothing stored.
    let only_victim =
        meta::envelope(VICTIM_IG, vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-forged-2", "FORGED", now())]);
    post_signed(app, &only_victim, ATTACKER_SECRET).await.assert_error(401, "unauthorized");
    let n: i64 = sqlx::query_scalar("select count(*) from inbound_events where event_id = 'mid:m-forged-2'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_merchant_secret_vouches_for_its_own_row_not_for_other_rows_of_the_same_instagram_id() {
    let t = two_tenants().await;
    let app = &t.app;
    // The attacker also connects the victim's Instagram id (a second row for the same id).
    let (_, key) = app.merchant_with_key("Attacker 2").await;
    let (row, _) = app.connect_account(&key, VICTIM_IG, "attacker2", WEBHOOK_SECRET).await;
    set_app_secret(app, &key, &row, "attacker-two-meta-app-secret-0002").await;
    let body = meta::envelope(VICTIM_IG, vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-x", "FORGED-ROW", now())]);
    let r = post_signed(app, &body, "attacker-two-meta-app-secret-0002").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json["stored"].as_i64(), r.json["rejected"].as_i64()), (Some(1), Some(1)), "{}", r.text);
    assert_eq!(delivered(app, "attacker2").await.len(), 1, "the signer's own row receives it");
    assert!(delivered(app, "victim").await.is_empty(), "the victim's row of the same id does not");
    // Meta's own delivery of the same event still reaches both rows.
    let r = app.post_meta(&body).await;
    assert_eq!((r.json["stored"].as_i64(), r.json["duplicates"].as_i64()), (Some(1), Some(1)), "{}", r.text);
}

#[tokio::test]
async fn a_future_timestamp_does_not_hold_the_messaging_window_open() {
    let t = two_tenants().await;
    let app = &t.app;
    // Even from Meta: the window is measured from now at most.
    let later = now() + time::Duration::days(30);
    let r = app
        .post_meta(&meta::envelope(VICTIM_IG, vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-f", "hi", later)]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let last: OffsetDateTime =
        sqlx::query_scalar("select last_inbound_at from conversations where account_id = $1::uuid")
            .bind(&t.victim_account)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(last <= now() && now() - last < time::Duration::minutes(1), "window anchored at {last}");
}

fn forged_entries(n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            let ig = format!("1784{i:013}");
            json!({"id": ig, "time": 1, "messaging": [meta::text_message(&ig, CUSTOMER, &format!("m{i}"), "x", now())]})
        })
        .collect();
    json!({"object": "instagram", "entry": entries})
}

#[tokio::test]
async fn a_forged_20000_entry_body_is_refused_before_any_database_work() {
    let (app, proxy) = TestApp::spawn_with_pg_proxy().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (acct, _) = app.connect_account(&key, ATTACKER_IG, "acme", WEBHOOK_SECRET).await;
    set_app_secret(&app, &key, &acct, ATTACKER_SECRET).await;
    let bytes = meta::to_meta_bytes(&forged_entries(20_000));
    assert!(bytes.len() < router_api::routes::INBOUND_MAX_BODY_BYTES);
    let wrong = sign_sha256(b"not-the-secret", &bytes);
    // The API has no database now: a refusal that needed one would be a 503.
    proxy.stop();
    let started = Instant::now();
    app.post_meta_raw(bytes, Some(&wrong)).await.assert_error(400, "too_many_entries");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    // One entry with more events than a Meta batch: refused the same way.
    let many: Vec<Value> = (0..=router_core::inbound::MAX_EVENTS)
        .map(|i| meta::text_message(ATTACKER_IG, CUSTOMER, &format!("e{i}"), "x", now()))
        .collect();
    let bytes = meta::to_meta_bytes(&meta::envelope(ATTACKER_IG, many));
    let wrong = sign_sha256(b"not-the-secret", &bytes);
    app.post_meta_raw(bytes, Some(&wrong)).await.assert_error(400, "too_many_events");
    assert!(rejected_metric(&app, "too_many_entries") && rejected_metric(&app, "too_many_events"));
    // Beyond the byte limit: 413 in the JSON error format, whatever the signature.
    let huge = vec![b' '; router_api::routes::INBOUND_MAX_BODY_BYTES + 1];
    app.post_meta_raw(huge, Some(&wrong)).await.assert_error(413, "payload_too_large");
    proxy.resume().await;
}

#[tokio::test]
async fn a_forged_batch_sized_body_is_refused_quickly_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (acct, _) = app.connect_account(&key, ATTACKER_IG, "acme", WEBHOOK_SECRET).await;
    set_app_secret(&app, &key, &acct, ATTACKER_SECRET).await;
    let mut body = forged_entries(router_core::inbound::MAX_ENTRIES - 1);
    body["entry"].as_array_mut().unwrap().push(json!({"id": ATTACKER_IG, "time": 1,
        "messaging": [meta::text_message(ATTACKER_IG, CUSTOMER, "m-a", "x", now())]}));
    let bytes = meta::to_meta_bytes(&body);
    let wrong = sign_sha256(b"not-the-secret", &bytes);
    let started = Instant::now();
    app.post_meta_raw(bytes, Some(&wrong)).await.assert_error(401, "unauthorized");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    let n: i64 = sqlx::query_scalar(
        "select (select count(*) from inbound_events) + (select count(*) from unrouted_inbound_events)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn at_most_a_few_distinct_account_secrets_are_tried_per_post() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let n = router_core::inbound::MAX_CANDIDATE_SECRETS + 1;
    let mut ids = Vec::new();
    for i in 0..n {
        let ig = format!("178414000000001{i:02}");
        let (acct, _) = app.connect_account(&key, &ig, "acme", WEBHOOK_SECRET).await;
        set_app_secret(&app, &key, &acct, &format!("account-own-app-secret-{i:04}")).await;
        ids.push(ig);
    }
    let entries: Vec<(String, Vec<Value>)> = ids
        .iter()
        .map(|ig| (ig.clone(), vec![meta::text_message(ig, CUSTOMER, &format!("m-{ig}"), "x", now())]))
        .collect();
    let body = meta::multi_entry(entries);
    // Signed with the secret of the last account named: beyond the cap, never tried.
    let last = format!("account-own-app-secret-{:04}", n - 1);
    post_signed(&app, &body, &last).await.assert_error(401, "unauthorized");
    // Signed with the first one's: verified, and only that account's event is stored.
    let r = post_signed(&app, &body, "account-own-app-secret-0000").await;
    assert_eq!((r.status, r.json["stored"].as_i64(), r.json["rejected"].as_i64()), (200, Some(1), Some(n as i64 - 1)));
}

/// A random alphanumeric string Postgres cannot compress below its btree entry limit.
fn noise(len: usize) -> String {
    use rand::Rng;
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(len).map(char::from).collect()
}

#[tokio::test]
async fn hostile_event_content_never_fails_its_batch_mates() {
    let t = two_tenants().await;
    let app = &t.app;
    let at = now();
    let nul = meta::message_with(
        ATTACKER_IG,
        CUSTOMER,
        json!({"mid": "m-nul", "text": "a\u{0}b", "quick_reply": {"payload": "Q\u{0}R"},
               "reply_to": {"k\u{0}ey": ["v\u{0}"]},
               "attachments": [{"type": "image", "payload": {"url": "https://x/\u{0}"}}]}),
        at,
    );
    let nul_sender = meta::text_message(ATTACKER_IG, "12\u{0}34", "m-nul-sender", "hi", at);
    let odd: Vec<Value> = vec![
        meta::text_message(ATTACKER_IG, CUSTOMER, &noise(10_000), "long mid", at),
        meta::text_message(ATTACKER_IG, &noise(10_000), "m-long-sender", "long sender", at),
        meta::edit(ATTACKER_IG, CUSTOMER, "m-edit", "e", 1, at),
        json!({"sender": {"id": CUSTOMER}, "recipient": {"id": ATTACKER_IG}, "timestamp": 1e300,
               "message_edit": {"mid": "m-edit2", "text": "t", "num_edit": (0..200).map(|_| noise(64)).collect::<Vec<_>>()}}),
        json!({"sender": {"id": CUSTOMER}, "recipient": {"id": ATTACKER_IG}, "timestamp": -5,
               "message": {"mid": "m-num", "text": 1.7e308, "attachments": {"not": "an array"}}}),
        json!({"sender": [CUSTOMER], "recipient": {"id": ATTACKER_IG}, "message": []}),
        json!({"sender": {"id": CUSTOMER}, "recipient": {"id": ATTACKER_IG}, "message": ["m-arr"], "timestamp": "soon"}),
        json!({"sender": {"id": 12_345_678_901_234_567_890_u128 as f64}, "recipient": {"id": ATTACKER_IG}, "message": {"mid": "m-bignum", "text": "\u{202e}\u{fffd}\u{1f600}\u{10ffff}"}}),
    ];
    let mut attacker_events = vec![nul, nul_sender];
    attacker_events.extend(odd);
    let body = meta::multi_entry(vec![
        (ATTACKER_IG.to_owned(), attacker_events),
        (VICTIM_IG.to_owned(), vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-neighbour", "neighbour", at)]),
    ]);
    let r = app.post_meta(&body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The neighbour's event arrives.
    let got = delivered(app, "victim").await;
    assert_eq!(got.iter().map(|d| d.json["message"].as_str().unwrap()).collect::<Vec<_>>(), ["neighbour"]);
    // The NUL-bearing event is stored and delivered with NUL replaced by U+FFFD everywhere.
    let got = delivered(app, "attacker").await;
    let by_mid = |mid: &str| {
        got.iter()
            .find(|d| d.json["instagram_message_id"] == mid)
            .unwrap_or_else(|| panic!("{mid} not delivered: {got:?}"))
    };
    let d = &by_mid("m-nul").json;
    assert_eq!(d["message"], "a\u{fffd}b");
    assert_eq!(d["quick_reply_payload"], "Q\u{fffd}R");
    assert_eq!(d["reply_to"]["k\u{fffd}ey"][0], "v\u{fffd}");
    assert_eq!(d["attachments"][0]["payload"]["url"], "https://x/\u{fffd}");
    let s = &by_mid("m-nul-sender").json;
    assert_eq!(s["sender_id"], "12\u{fffd}34");
    let raw: Value = sqlx::query_scalar("select raw from inbound_events where event_id = 'mid:m-nul'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(raw["message"]["text"], "a\u{fffd}b");
    // Every well-formed event is stored; over-long ids are recorded as malformed, not stored.
    let stored: Vec<String> =
        sqlx::query_scalar("select instagram_message_id from inbound_events where instagram_message_id is not null")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for mid in ["m-nul", "m-nul-sender", "m-edit", "m-edit2", "m-num", "m-bignum", "m-neighbour"] {
        assert!(stored.iter().any(|m| m == mid), "{mid} not stored: {stored:?}");
    }
    let reasons: Vec<String> = sqlx::query_scalar("select reason from unrouted_inbound_events order by reason")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(reasons, ["id too long", "mid too long", "missing sender.id"], "{reasons:?}");
    // Meta redelivering the same batch changes nothing (idempotent ids, even hashed ones).
    let again = app.post_meta(&body).await;
    assert_eq!((again.status, again.json["stored"].as_i64()), (200, Some(0)), "{}", again.text);
}

#[tokio::test]
async fn a_lone_surrogate_in_one_event_does_not_refuse_the_whole_batch() {
    let t = two_tenants().await;
    let app = &t.app;
    let body = meta::multi_entry(vec![
        (ATTACKER_IG.to_owned(), vec![meta::text_message(ATTACKER_IG, CUSTOMER, "m-cut", "cut LONE-SURROGATE", now())]),
        (VICTIM_IG.to_owned(), vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-next", "neighbour", now())]),
    ]);
    // An emoji cut in half: a high surrogate escape with no low one after it.
    let text = String::from_utf8(meta::to_meta_bytes(&body)).unwrap().replace("LONE-SURROGATE", "\\ud83d");
    let sig = sign_sha256(APP_SECRET.as_bytes(), text.as_bytes());
    let r = app.post_meta_raw(text.into_bytes(), Some(&sig)).await;
    assert_eq!((r.status, r.json["stored"].as_i64()), (200, Some(2)), "{}", r.text);
    assert_eq!(delivered(app, "victim").await[0].json["message"], "neighbour");
    assert_eq!(delivered(app, "attacker").await[0].json["message"], "cut \u{fffd}");
}

mod generated {
    //! Generated Meta payloads: valid-shaped events for two tenants mixed with mangled ones and
    //! hostile strings, signed with the platform secret or with one tenant's own secret. Never a
    //! 5xx; every valid event the signature vouches for is stored and its CRM webhook enqueued;
    //! nothing the signature does not vouch for is stored.

    use std::sync::atomic::{AtomicU64, Ordering};

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;

    /// A string with the characters that broke things: NUL, surrogate-pair emoji, RTL marks,
    /// quotes and backslashes, plus a long tail now and then.
    fn hostile_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{0,12}",
            proptest::collection::vec(
                prop_oneof![
                    Just('\u{0}'),
                    Just('"'),
                    Just('\\'),
                    Just('\u{202e}'),
                    Just('\u{1f600}'),
                    Just('\u{fffd}'),
                    any::<char>()
                ],
                0..16
            )
            .prop_map(|v| v.into_iter().collect()),
            (1usize..4).prop_map(|n| "\u{0}".repeat(n)),
            "[A-Za-z0-9]{600,700}",
        ]
    }

    /// Any JSON value (bounded depth), including hostile strings and extreme numbers.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            prop_oneof![Just(1.7e308), Just(-0.0), Just(5e-324), any::<f64>().prop_filter("finite", |f| f.is_finite())]
                .prop_map(|f| json!(f)),
            hostile_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(hostile_string(), inner, 0..4).prop_map(|m| json!(m)),
            ]
        })
    }

    /// One event: either valid-shaped (a unique mid is filled in when posting) or mangled.
    #[derive(Debug, Clone)]
    enum Ev {
        Valid {
            attacker: bool,
            text: String,
            extra: Value,
            future: bool,
        },
        Mangled(Value),
        /// A valid shape with one field replaced by something hostile.
        Broken {
            field: &'static str,
            value: Value,
        },
    }

    fn event() -> impl Strategy<Value = Ev> {
        prop_oneof![
            4 => (any::<bool>(), hostile_string(), any_json(), any::<bool>())
                .prop_map(|(attacker, text, extra, future)| Ev::Valid { attacker, text, extra, future }),
            1 => any_json().prop_map(Ev::Mangled),
            2 => (prop_oneof![Just("sender"), Just("recipient"), Just("timestamp"), Just("message"), Just("reaction"), Just("read")], any_json())
                .prop_map(|(field, value)| Ev::Broken { field, value }),
        ]
    }

    #[derive(Debug, Clone)]
    struct Case {
        events: Vec<Ev>,
        /// Signed with the attacker's own secret instead of the platform's.
        own_secret: bool,
        /// Put an extra junk key at the top level / in entries.
        junk: Option<Value>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (proptest::collection::vec(event(), 1..24), proptest::bool::weighted(0.25), proptest::option::of(any_json()))
            .prop_map(|(events, own_secret, junk)| Case { events, own_secret, junk })
    }

    static SEQ: AtomicU64 = AtomicU64::new(0);

    /// The POST body and the mids of its valid events, by tenant (attacker, victim).
    fn render(c: &Case) -> (Value, Vec<String>, Vec<String>) {
        let (mut attacker_events, mut victim_events) = (Vec::new(), Vec::new());
        let (mut attacker_mids, mut victim_mids) = (Vec::new(), Vec::new());
        for ev in &c.events {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            match ev {
                Ev::Valid { attacker, text, extra, future } => {
                    let (ig, events, mids) = if *attacker {
                        (ATTACKER_IG, &mut attacker_events, &mut attacker_mids)
                    } else {
                        (VICTIM_IG, &mut victim_events, &mut victim_mids)
                    };
                    let mid = format!("gen-{n}");
                    let at = if *future { now() + time::Duration::days(400) } else { now() };
                    let mut e = meta::text_message(ig, CUSTOMER, &mid, text, at);
                    e["message"]["metadata_extra"] = extra.clone();
                    events.push(e);
                    mids.push(mid);
                }
                Ev::Mangled(v) => attacker_events.push(v.clone()),
                Ev::Broken { field, value } => {
                    let mut e = meta::text_message(VICTIM_IG, CUSTOMER, &format!("broken-{n}"), "b", now());
                    e[*field] = value.clone();
                    victim_events.push(e);
                }
            }
        }
        let mut body =
            meta::multi_entry(vec![(ATTACKER_IG.to_owned(), attacker_events), (VICTIM_IG.to_owned(), victim_events)]);
        if let Some(j) = &c.junk {
            body["junk"] = j.clone();
            body["entry"][0]["junk"] = j.clone();
        }
        (body, attacker_mids, victim_mids)
    }

    async fn stored(app: &TestApp, mids: &[String]) -> (i64, i64) {
        let ids: Vec<String> = mids.iter().map(|m| format!("mid:{m}")).collect();
        sqlx::query_as(
            r"select (select count(*) from inbound_events where event_id = any($1)),
                     (select count(*) from webhook_deliveries where event_id = any($1))",
        )
        .bind(&ids)
        .fetch_one(&app.db)
        .await
        .unwrap()
    }

    async fn check(app: &TestApp, c: &Case) -> Result<(), TestCaseError> {
        let (body, attacker_mids, victim_mids) = render(c);
        let secret = if c.own_secret { ATTACKER_SECRET } else { APP_SECRET };
        let r = post_signed(app, &body, secret).await;
        prop_assert!(r.status < 500, "status {}: {}", r.status, r.text);
        let vouched_victim = !c.own_secret;
        if c.own_secret && attacker_mids.is_empty() {
            // Nothing in the body is the signer's: refused as a whole, or nothing stored.
            prop_assert!(r.status == 401 || r.status == 200, "status {}: {}", r.status, r.text);
        } else {
            prop_assert_eq!(r.status, 200, "{}", r.text);
        }
        let n = attacker_mids.len() as i64;
        prop_assert_eq!(stored(app, &attacker_mids).await, (n, n), "attacker's valid events");
        let n = if vouched_victim { victim_mids.len() as i64 } else { 0 };
        prop_assert_eq!(stored(app, &victim_mids).await, (n, n), "victim's valid events");
        Ok(())
    }

    #[test]
    fn generated_meta_payloads_never_fail_and_never_lose_a_valid_sibling() {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let t = rt.block_on(two_tenants());
        let mut runner = TestRunner::new(Config {
            cases: 1000,
            max_shrink_iters: 64,
            failure_persistence: None,
            ..Config::default()
        });
        runner.run(&case(), |c| rt.block_on(check(&t.app, &c))).unwrap_or_else(|e| panic!("{e}"));
        // The server stayed up and well throughout.
        let r = rt.block_on(t.app.post_meta(&meta::envelope(
            VICTIM_IG,
            vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-after", "after", now())],
        )));
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

/// The sandbox's own secret (`SANDBOX_IG_APP_SECRET`, which the local simulator signs with)
/// speaks for sandbox accounts only, never for a live account in the same body.
#[tokio::test]
async fn the_sandbox_secret_vouches_only_for_sandbox_accounts() {
    let t = two_tenants().await;
    let app = &t.app;
    let merchant = app.create_merchant("Sandboxer").await;
    let r = app
        .post(
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            &app.admin_key,
            &json!({"name": "sandbox", "scopes": ["accounts:read", "accounts:write"], "environment": "test"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let test_key = r.json["key"].as_str().unwrap().to_owned();
    const SANDBOX_IG: &str = "17841400000000003";
    app.connect_account(&test_key, SANDBOX_IG, "sandbox", WEBHOOK_SECRET).await;

    let body = meta::multi_entry(vec![
        (SANDBOX_IG.to_owned(), vec![meta::text_message(SANDBOX_IG, CUSTOMER, "m-sb", "simulated", now())]),
        (VICTIM_IG.to_owned(), vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-live", "FORGED-BY-SANDBOX", now())]),
    ]);
    let r = post_signed(app, &body, router_tests::SANDBOX_APP_SECRET).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json["stored"].as_i64(), r.json["rejected"].as_i64()), (Some(1), Some(1)), "{}", r.text);
    let got = delivered(app, "sandbox").await;
    assert_eq!(got.iter().map(|d| d.json["message"].as_str().unwrap()).collect::<Vec<_>>(), ["simulated"]);
    assert!(delivered(app, "victim").await.is_empty(), "the sandbox secret reached a live account");

    // A body addressing only live accounts is not vouched for at all.
    let only_live =
        meta::envelope(VICTIM_IG, vec![meta::text_message(VICTIM_IG, CUSTOMER, "m-live-2", "FORGED", now())]);
    post_signed(app, &only_live, router_tests::SANDBOX_APP_SECRET).await.assert_error(401, "unauthorized");
}
