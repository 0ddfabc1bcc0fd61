//! Inbound Instagram webhooks: handshake, signatures, every event kind, idempotency, side effects.

use std::time::Duration;

use router_tests::router_fakes::webhooks as meta;
use router_tests::{Resp, TestApp};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000042";
const CUSTOMER: &str = "1234567890123456";

struct Setup {
    app: TestApp,
    key: String,
    account_id: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    Setup { app, key, account_id: account["account_id"].as_str().unwrap().to_owned() }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
}

impl Setup {
    /// Posts events, delivers the resulting webhooks, returns what the CRM got from this POST.
    async fn deliver(&self, events: Vec<Value>) -> Vec<router_tests::router_fakes::crm::Received> {
        let before = self.app.crm.received_on("acme").len();
        ok(&self.app.post_meta(&meta::envelope(IG, events)).await);
        self.app.deliverer().run_until_idle().await.unwrap();
        self.app.crm.received_on("acme")[before..].to_vec()
    }

    async fn stored_kinds(&self) -> Vec<String> {
        sqlx::query_scalar("select kind from inbound_events order by created_at, inbound_event_id")
            .fetch_all(&self.app.db)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_the_right_token() {
    let s = setup().await;
    let q = |token: &str| {
        format!("/webhooks/instagram?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}")
    };
    let r = s.app.req(reqwest::Method::GET, &q(router_tests::VERIFY_TOKEN), None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "1158201444");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    s.app.req(reqwest::Method::GET, &q("wrong"), None, None).await.assert_error(403, "forbidden");
    let r = s.app.req(reqwest::Method::GET, "/webhooks/instagram?hub.challenge=1", None, None).await;
    r.assert_error(403, "forbidden");
    let xss = format!(
        "/webhooks/instagram?hub.mode=subscribe&hub.verify_token={}&hub.challenge=%3Cscript%3E",
        router_tests::VERIFY_TOKEN
    );
    s.app.req(reqwest::Method::GET, &xss, None, None).await.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn bad_or_missing_signatures_are_401_and_store_nothing() {
    let s = setup().await;
    let body = meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m1", "hi", now())]);
    let bytes = meta::to_meta_bytes(&body);
    s.app.post_meta_raw(bytes.clone(), None).await.assert_error(401, "unauthorized");
    let wrong = router_tests::router_fakes::sign_sha256(b"another-secret", &bytes);
    s.app.post_meta_raw(bytes.clone(), Some(&wrong)).await.assert_error(401, "unauthorized");
    s.app.post_meta_raw(bytes.clone(), Some("sha256=zz")).await.assert_error(401, "unauthorized");
    let n: i64 = sqlx::query_scalar(
        "select (select count(*) from inbound_events) + (select count(*) from unrouted_inbound_events)",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(n, 0);
    assert!(s.app.state.metrics.render().contains("router_inbound_signature_failures_total"));
}

#[tokio::test]
async fn the_signature_is_checked_over_the_raw_escaped_unicode_bytes() {
    let s = setup().await;
    let text = "Привет 😀 äöå";
    let body = meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-uni", text, now())]);
    let bytes = meta::to_meta_bytes(&body);
    let raw = String::from_utf8(bytes.clone()).unwrap();
    assert!(raw.contains("\\u041f") && raw.contains("\\ud83d\\ude00") && raw.is_ascii());
    // The same JSON re-serialised with real UTF-8 has a different signature: refused.
    let sig = router_tests::router_fakes::sign_sha256(router_tests::APP_SECRET.as_bytes(), &bytes);
    let reencoded = serde_json::to_vec(&body).unwrap();
    s.app.post_meta_raw(reencoded, Some(&sig)).await.assert_error(401, "unauthorized");
    ok(&s.app.post_meta_raw(bytes, Some(&sig)).await);
    s.app.deliverer().run_until_idle().await.unwrap();
    let got = s.app.crm.received_on("acme");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["message"], text);
    assert!(got[0].hub_signature_valid && got[0].standard_signature_valid);
}

#[tokio::test]
async fn every_event_kind_is_stored_and_forwarded_as_the_documented_event() {
    let s = setup().await;
    let t = now();
    // A text message: message.received with the seed's InboundMessageWebhook fields.
    let got = s.deliver(vec![meta::text_message(IG, CUSTOMER, "m-text", "Is it in stock?", t)]).await;
    assert_eq!(got.len(), 1);
    let p = &got[0].json;
    assert_eq!(p["event"], "message.received");
    assert_eq!(p["account_id"], s.account_id.as_str());
    assert_eq!(p["sender_id"], CUSTOMER);
    assert!(p["sender_username"].is_null());
    assert_eq!(p["message"], "Is it in stock?");
    assert_eq!(p["message_type"], "text");
    assert_eq!(p["instagram_message_id"], "m-text");
    assert!(p["conversation_id"].is_string() && p["message_id"].is_string() && p["event_id"] == "mid:m-text");
    // The conversation id is written into the body by the statement that creates the row: it is
    // the row's, and the signature covers the body as sent.
    let conv: Uuid = sqlx::query_scalar("select conversation_id from conversations where contact_igsid = $1")
        .bind(CUSTOMER)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(p["conversation_id"], conv.to_string());
    assert!(got[0].hub_signature_valid && got[0].standard_signature_valid);
    assert!(p["timestamp"].as_str().unwrap().starts_with(&t.year().to_string()));

    // Attachments of every type.
    for kind in ["image", "video", "audio", "file", "share", "story_mention", "ig_reel", "reel"] {
        let got = s
            .deliver(vec![meta::attachment_message(
                IG,
                CUSTOMER,
                &format!("m-{kind}"),
                kind,
                "https://lookaside.example/x",
                t,
            )])
            .await;
        assert_eq!(got[0].json["message_type"], kind, "{kind}");
        assert_eq!(got[0].json["attachments"][0]["type"], kind);
        assert_eq!(got[0].json["attachments"][0]["payload"]["url"], "https://lookaside.example/x");
        assert_eq!(got[0].json["message"], "");
    }
    // Unsupported media, story replies, replies, quick replies.
    let got =
        s.deliver(vec![meta::message_with(IG, CUSTOMER, json!({"mid": "m-uns", "is_unsupported": true}), t)]).await;
    assert_eq!(got[0].json["message_type"], "unsupported");
    let got = s
        .deliver(vec![meta::message_with(
            IG,
            CUSTOMER,
            json!({"mid": "m-story", "text": "love it", "reply_to": {"story": {"url": "https://s", "id": "1790"}}}),
            t,
        )])
        .await;
    assert_eq!(got[0].json["message_type"], "story_reply");
    assert_eq!(got[0].json["reply_to"]["story"]["id"], "1790");
    let got = s
        .deliver(vec![meta::message_with(
            IG,
            CUSTOMER,
            json!({"mid": "m-reply", "text": "this one", "reply_to": {"mid": "m-text"}}),
            t,
        )])
        .await;
    assert_eq!(got[0].json["reply_to"]["mid"], "m-text");
    let got = s
        .deliver(vec![meta::message_with(
            IG,
            CUSTOMER,
            json!({"mid": "m-qr", "text": "Yes", "quick_reply": {"payload": "YES"}}),
            t,
        )])
        .await;
    assert_eq!(got[0].json["message_type"], "quick_reply");
    assert_eq!(got[0].json["quick_reply_payload"], "YES");
    // Referrals and postbacks.
    let got = s.deliver(vec![meta::referral(IG, CUSTOMER, "summer-sale", t)]).await;
    assert_eq!((got[0].event(), got[0].json["message_type"].as_str()), ("message.received", Some("referral")));
    assert_eq!(got[0].json["referral"]["ref"], "summer-sale");
    let got = s.deliver(vec![meta::postback(IG, CUSTOMER, "m-pb", "Get started", "GET_STARTED", t)]).await;
    assert_eq!(got[0].json["message_type"], "postback");
    assert_eq!(got[0].json["payload"], "GET_STARTED");
    // Reactions.
    let got = s.deliver(vec![meta::reaction(IG, CUSTOMER, "m-text", "react", Some("❤️"), t)]).await;
    assert_eq!(got[0].event(), "message.reaction");
    assert_eq!((got[0].json["action"].as_str(), got[0].json["emoji"].as_str()), (Some("react"), Some("❤️")));
    assert_eq!(got[0].json["instagram_message_id"], "m-text");
    let got = s.deliver(vec![meta::reaction(IG, CUSTOMER, "m-text", "unreact", None, t)]).await;
    assert_eq!(got[0].json["action"], "unreact");
    // Edits and deletions.
    let got = s.deliver(vec![meta::edit(IG, CUSTOMER, "m-text", "Is it in stock now?", 1, t)]).await;
    assert_eq!(got[0].event(), "message.edited");
    assert_eq!(got[0].json["message"], "Is it in stock now?");
    let got = s.deliver(vec![meta::deleted(IG, CUSTOMER, "m-reply", t)]).await;
    assert_eq!(got[0].event(), "message.deleted");
    assert_eq!(got[0].json["instagram_message_id"], "m-reply");
    // An echo of a message sent from the Instagram app.
    let got = s.deliver(vec![meta::echo(IG, CUSTOMER, "m-app", "sent from the phone", t)]).await;
    assert_eq!(got[0].event(), "message.echo");
    assert_eq!(got[0].json["sender_id"], IG);
    assert_eq!(got[0].json["recipient_id"], CUSTOMER);
    assert_eq!(got[0].json["message"], "sent from the phone");
    // standby[]: same events, flagged.
    let mut body = meta::envelope(IG, vec![]);
    body["entry"][0]["standby"] =
        json!([meta::text_message(IG, CUSTOMER, "m-standby", "other app owns the thread", t)]);
    ok(&s.app.post_meta(&body).await);
    s.app.deliverer().run_until_idle().await.unwrap();
    let last = s.app.crm.received_on("acme").pop().unwrap();
    assert_eq!(last.json["standby"], true);
    // The dashboard's test form is accepted and recorded, labelled as a test.
    ok(&s.app.post_meta(&meta::dashboard_test()).await);
    let reason: String =
        sqlx::query_scalar("select reason from unrouted_inbound_events").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(reason, "dashboard_test");
    // Unknown kinds are recorded and counted, not forwarded.
    let before = s.app.crm.received_on("acme").len();
    ok(&s
        .app
        .post_meta(&meta::envelope(
            IG,
            vec![json!({"sender": {"id": CUSTOMER}, "recipient": {"id": IG}, "timestamp": 1, "optin": {"ref": "x"}})],
        ))
        .await);
    s.app.deliverer().run_until_idle().await.unwrap();
    assert_eq!(s.app.crm.received_on("acme").len(), before);
    assert!(s.stored_kinds().await.contains(&"unknown".to_owned()));
    assert!(s.app.state.metrics.render().contains("router_inbound_events_total"));
}

#[tokio::test]
async fn a_batch_of_1000_events_is_stored_once_and_a_replay_adds_nothing() {
    let s = setup().await;
    let t = now();
    let events: Vec<Value> = (0..1000)
        .map(|i| meta::text_message(IG, &format!("{}", 5_000_000 + i), &format!("m{i}"), &format!("hello {i}"), t))
        .collect();
    let body = meta::envelope(IG, events);
    let r = s.app.post_meta(&body).await;
    ok(&r);
    assert_eq!((r.json["events"].as_i64(), r.json["stored"].as_i64()), (Some(1000), Some(1000)));
    let r = s.app.post_meta(&body).await;
    ok(&r);
    assert_eq!((r.json["stored"].as_i64(), r.json["duplicates"].as_i64()), (Some(0), Some(1000)));
    let (events, deliveries): (i64, i64) =
        sqlx::query_as("select (select count(*) from inbound_events), (select count(*) from webhook_deliveries)")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!((events, deliveries), (1000, 1000), "one CRM webhook per event, even after the replay");
    let convs: i64 = sqlx::query_scalar("select count(*) from conversations where last_inbound_at is not null")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(convs, 1000);
}

#[tokio::test]
async fn unknown_accounts_and_malformed_items_are_recorded_without_failing_the_batch() {
    let s = setup().await;
    let t = now();
    let body = meta::multi_entry(vec![
        (
            IG.to_owned(),
            vec![
                meta::text_message(IG, CUSTOMER, "good-1", "hi", t),
                json!("garbage"),
                json!({"recipient": {"id": IG}}),
            ],
        ),
        ("17849999999999999".to_owned(), vec![meta::text_message("17849999999999999", CUSTOMER, "stranger", "hi", t)]),
    ]);
    let r = s.app.post_meta(&body).await;
    ok(&r);
    assert_eq!((r.json["stored"].as_i64(), r.json["unrouted"].as_i64()), (Some(1), Some(3)));
    let reasons: Vec<String> = sqlx::query_scalar("select reason from unrouted_inbound_events order by reason")
        .fetch_all(&s.app.db)
        .await
        .unwrap();
    assert_eq!(reasons, ["event is not an object", "missing sender.id", "unknown_account"]);
}

#[tokio::test]
async fn an_echo_of_our_own_send_updates_nothing_and_is_not_forwarded() {
    let s = setup().await;
    ok(&s.app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-in", "hi", now())])).await);
    // The inbound message opened the window: the reply is accepted without any other setup.
    let r = s.app.send_text(&s.key, &s.account_id, CUSTOMER, "Hello from the CRM").await;
    assert_eq!(r.status, 202, "{}", r.text);
    s.app.sender().run_until_idle().await.unwrap();
    let mid = s.app.graph.sent()[0].message_id.clone();
    s.app.deliverer().run_until_idle().await.unwrap();
    let before = s.app.crm.received_on("acme").len();
    ok(&s.app.post_meta(&meta::envelope(IG, vec![meta::echo(IG, CUSTOMER, &mid, "Hello from the CRM", now())])).await);
    s.app.deliverer().run_until_idle().await.unwrap();
    assert_eq!(s.app.crm.received_on("acme").len(), before, "our own echo is not a customer message");
    assert!(s.stored_kinds().await.contains(&"echo_own".to_owned()));
}

#[tokio::test]
async fn a_read_receipt_marks_our_messages_read_up_to_its_mid() {
    let s = setup().await;
    ok(&s.app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-in", "hi", now())])).await);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            s.app.send_text(&s.key, &s.account_id, CUSTOMER, &format!("r{i}")).await.json["message_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        s.app.sender().run_until_idle().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mids: Vec<String> = s.app.graph.sent().iter().map(|m| m.message_id.clone()).collect();
    s.app.deliverer().run_until_idle().await.unwrap();
    let got = s.deliver(vec![meta::read(IG, CUSTOMER, &mids[1], now())]).await;
    let read: Vec<&str> = got.iter().map(|d| d.json["message_id"].as_str().unwrap()).collect();
    assert_eq!(got.iter().filter(|d| d.event() == "message.read").count(), 2);
    assert_eq!(read, [ids[0].as_str(), ids[1].as_str()]);
    let st = s.app.status_of(&s.key, &ids[1]).await;
    assert_eq!(st["status"], "read");
    assert_eq!(st["status_history"].as_array().unwrap().last().unwrap()["status"], "read");
    assert_eq!(s.app.status_of(&s.key, &ids[2]).await["status"], "delivered");
    // A replayed read receipt marks nothing again.
    let again = s.deliver(vec![meta::read(IG, CUSTOMER, &mids[1], now())]).await;
    assert!(again.is_empty() || again.iter().all(|d| d.event() != "message.read"));
}

#[tokio::test]
async fn the_window_opens_with_inbound_messages_and_closes_after_24_hours() {
    let s = setup().await;
    let old = now() - time::Duration::hours(30);
    ok(&s.app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-old", "old", old)])).await);
    s.app.send_text(&s.key, &s.account_id, CUSTOMER, "too late").await.assert_error(422, "outside_messaging_window");
    let r = s
        .app
        .post(
            "/api/v1/messages/send",
            &s.key,
            &json!({"account_id": s.account_id, "recipient_id": CUSTOMER, "message": "agent", "tag": "HUMAN_AGENT"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    ok(&s.app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-new", "new", now())])).await);
    assert_eq!(s.app.send_text(&s.key, &s.account_id, CUSTOMER, "in time").await.status, 202);
    // An older redelivered event does not move the window back.
    let last: OffsetDateTime =
        sqlx::query_scalar("select last_inbound_at from conversations").fetch_one(&s.app.db).await.unwrap();
    assert!(now() - last < time::Duration::minutes(1));
}

#[tokio::test]
async fn a_deleted_message_erases_its_stored_content() {
    let s = setup().await;
    let got = s.deliver(vec![meta::text_message(IG, CUSTOMER, "m-secret", "my address is 1 Main St", now())]).await;
    assert_eq!(got.len(), 1);
    s.deliver(vec![meta::deleted(IG, CUSTOMER, "m-secret", now())]).await;
    let dump: String =
        sqlx::query_scalar("select string_agg(t::text, ' ') from inbound_events t").fetch_one(&s.app.db).await.unwrap();
    assert!(!dump.contains("1 Main St"), "{dump}");
    let payloads: String = sqlx::query_scalar("select string_agg(payload, ' ') from webhook_deliveries")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert!(!payloads.contains("1 Main St"));
    assert!(payloads.contains("content_erased"));
    let stamped: i64 = sqlx::query_scalar(
        "select count(*) from webhook_deliveries where event_id = 'mid:m-secret' and content_erased_at is not null",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(stamped, 1, "the redacted delivery leaves the retention purge's index");
}

#[tokio::test]
async fn accounts_with_their_own_app_secret_are_verified_with_it() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let token = app.graph.add_account(IG, "shop");
    app.crm.set_secrets("acme", &[SECRET]);
    let r = app
        .post(
            "/api/v1/accounts",
            &key,
            &json!({"instagram_account_id": IG, "username": "shop", "access_token": token, "app_secret": "own-app-secret-0123456789",
                    "crm_webhook_url": app.crm.url("acme"), "webhook_secret": SECRET}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bytes = meta::to_meta_bytes(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m1", "hi", now())]));
    let sig = router_tests::router_fakes::sign_sha256(b"own-app-secret-0123456789", &bytes);
    ok(&app.post_meta_raw(bytes, Some(&sig)).await);
}

#[tokio::test]
async fn idempotency_is_per_merchant() {
    let s = setup().await;
    // A second merchant connects the same Instagram account to its own CRM.
    let (_, key_b) = s.app.merchant_with_key("B").await;
    let token = s.app.graph.add_account(IG, "shop");
    s.app.crm.set_secrets("b", &[SECRET]);
    let r = s
        .app
        .post(
            "/api/v1/accounts",
            &key_b,
            &json!({"instagram_account_id": IG, "username": "shop", "access_token": token,
            "crm_webhook_url": s.app.crm.url("b"), "webhook_secret": SECRET}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let body = meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "shared", "hi", now())]);
    let r = s.app.post_meta(&body).await;
    assert_eq!(r.json["stored"], 2);
    s.app.post_meta(&body).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    assert_eq!(s.app.crm.received_on("acme").len(), 1);
    assert_eq!(s.app.crm.received_on("b").len(), 1);
    let ids: Vec<Uuid> =
        sqlx::query_scalar("select distinct merchant_id from inbound_events").fetch_all(&s.app.db).await.unwrap();
    assert_eq!(ids.len(), 2);
}

/// Concurrent POSTs share transactions (group commit): each gets its 200, with its own counts,
/// only once its event is stored; each event is stored and forwarded once (the same event in two
/// concurrent POSTs: one stored, one duplicate); and a POST whose event the database refuses fails
/// alone (5xx, so Meta redelivers it) without failing the POSTs it was batched with.
#[tokio::test]
async fn concurrent_posts_are_committed_together_and_a_refused_one_fails_alone() {
    let s = setup().await;
    // The database refuses one sender's events, as it would a row it cannot store.
    for ddl in [
        "create function refuse_sender() returns trigger language plpgsql as $$
         begin if new.sender_id = '999000' then raise exception 'refused for the test'; end if; return new; end $$",
        "create trigger refuse_sender before insert on inbound_events for each row execute function refuse_sender()",
    ] {
        sqlx::query(ddl).execute(&s.app.db).await.unwrap();
    }
    let mut bodies: Vec<Value> = (0..60)
        .map(|i| {
            meta::envelope(IG, vec![meta::text_message(IG, &format!("555{i:03}"), &format!("m_g{i}"), "hi", now())])
        })
        .collect();
    bodies.push(bodies[7].clone());
    bodies.push(meta::envelope(IG, vec![meta::text_message(IG, "999000", "m_refused", "hi", now())]));
    let answers = futures::future::join_all(bodies.iter().map(|b| s.app.post_meta(b))).await;

    let refused = answers.last().unwrap();
    assert!(refused.status >= 500, "{}: {}", refused.status, refused.text);
    let (mut stored, mut duplicates) = (0, 0);
    for r in &answers[..61] {
        ok(r);
        assert_eq!(r.json["events"], 1, "{}", r.text);
        stored += r.json["stored"].as_u64().unwrap();
        duplicates += r.json["duplicates"].as_u64().unwrap();
    }
    assert_eq!((stored, duplicates), (60, 1), "each POST's own counts");
    let rows: i64 = sqlx::query_scalar("select count(*) from inbound_events").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(rows, 60);
    let (deliveries, events, jobs): (i64, i64, i64) = sqlx::query_as(
        "select count(*), count(distinct event_id),
                (select count(*) from jobs where kind = 'webhook.deliver')
           from webhook_deliveries where event_type = 'message.received'",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(
        (deliveries, events, jobs),
        (60, 60, 60),
        "one message.received delivery (and its job) per stored event"
    );
    // Meta's redelivery of the refused POST is stored once the database takes it.
    sqlx::query("drop trigger refuse_sender on inbound_events").execute(&s.app.db).await.unwrap();
    let again = s.app.post_meta(bodies.last().unwrap()).await;
    ok(&again);
    assert_eq!(again.json["stored"], 1);
}

/// The conversations step of an ingest transaction is lock-light: while one transaction holds a
/// conversation (its customer's message moved the window), another batch's echo or read for the
/// same conversation neither waits for it nor moves the window; a message from that customer
/// waits (the window must only move forward); a conversation another transaction is creating is
/// found once that one commits.
#[tokio::test]
async fn ingest_does_not_lock_conversations_it_only_reads() {
    use router_core::db::inbound::touch_conversations;
    let s = setup().await;
    let account: Uuid = s.account_id.parse().unwrap();
    let merchant: Uuid = sqlx::query_scalar("select merchant_id from accounts where account_id = $1")
        .bind(account)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    let t1 = now() - time::Duration::minutes(5);
    let mut a = s.app.db.begin().await.unwrap();
    let first = touch_conversations(&mut a, merchant, &[(account, CUSTOMER, Some(t1))]).await.unwrap();
    assert_eq!(first.len(), 1);
    a.commit().await.unwrap();

    // Transaction A moves the window (holds the row); B only reads it for an echo: no wait.
    let mut a = s.app.db.begin().await.unwrap();
    touch_conversations(&mut a, merchant, &[(account, CUSTOMER, Some(now()))]).await.unwrap();
    let mut b = s.app.db.begin().await.unwrap();
    let echo = tokio::time::timeout(
        Duration::from_secs(2),
        touch_conversations(&mut b, merchant, &[(account, CUSTOMER, None)]),
    )
    .await
    .expect("an echo does not wait for the conversation's lock")
    .unwrap();
    assert_eq!(echo[0].2, first[0].2);
    b.commit().await.unwrap();
    // A message from the same customer does wait for A (and then keeps the later time).
    let later = now() + time::Duration::seconds(1);
    let c = tokio::spawn({
        let db = s.app.db.clone();
        async move {
            let mut c = db.begin().await.unwrap();
            let r = touch_conversations(&mut c, merchant, &[(account, CUSTOMER, Some(later))]).await.unwrap();
            c.commit().await.unwrap();
            r
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!c.is_finished(), "a window move waits for the transaction that holds the conversation");
    a.commit().await.unwrap();
    assert_eq!(c.await.unwrap()[0].2, first[0].2);
    let at: OffsetDateTime = sqlx::query_scalar("select last_inbound_at from conversations where conversation_id = $1")
        .bind(first[0].2)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(at.unix_timestamp(), later.unix_timestamp());

    // A new conversation being inserted by another transaction is found after it commits.
    let mut d = s.app.db.begin().await.unwrap();
    let created = touch_conversations(&mut d, merchant, &[(account, "4242", Some(now()))]).await.unwrap();
    let e = tokio::spawn({
        let db = s.app.db.clone();
        async move {
            let mut e = db.begin().await.unwrap();
            let r = touch_conversations(&mut e, merchant, &[(account, "4242", None)]).await.unwrap();
            e.commit().await.unwrap();
            r
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.commit().await.unwrap();
    let found = e.await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].2, created[0].2, "the concurrently created conversation, not a second one");
}

/// A batch of echoes (Meta batches them) is matched to our sends with one lookup: our own are
/// stored as `echo_own` and not forwarded, a reaction in the same POST names our message, and an
/// echo of a message typed in the Instagram app is forwarded as `message.echo`.
#[tokio::test]
async fn a_batch_of_echoes_is_matched_to_our_sends_together() {
    let s = setup().await;
    ok(&s.app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-in", "hi", now())])).await);
    for text in ["one", "two", "three"] {
        assert_eq!(s.app.send_text(&s.key, &s.account_id, CUSTOMER, text).await.status, 202);
    }
    s.app.sender().run_until_idle().await.unwrap();
    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 3);
    s.app.deliverer().run_until_idle().await.unwrap();
    let before = s.app.crm.received_on("acme").len();
    let mut events: Vec<Value> = sent
        .iter()
        .map(|m| meta::echo(IG, CUSTOMER, &m.message_id, m.body["message"]["text"].as_str().unwrap(), now()))
        .collect();
    events.push(meta::echo(IG, CUSTOMER, "m-typed-in-the-app", "typed by hand", now()));
    events.push(meta::reaction(IG, CUSTOMER, &sent[1].message_id, "react", Some("love"), now()));
    let r = s.app.post_meta(&meta::envelope(IG, events)).await;
    ok(&r);
    assert_eq!(r.json["stored"], 5);
    let own: i64 = sqlx::query_scalar("select count(*) from inbound_events where kind = 'echo_own'")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(own, 3);
    s.app.deliverer().run_until_idle().await.unwrap();
    let got = &s.app.crm.received_on("acme")[before..];
    let types: Vec<&str> = got.iter().map(|d| d.json["event"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 2, "{types:?}");
    assert!(types.contains(&"message.echo") && types.contains(&"message.reaction"), "{types:?}");
    let reaction = got.iter().find(|d| d.json["event"] == "message.reaction").unwrap();
    let second: String = sqlx::query_scalar("select message_id::text from outbound_messages where message_text = $1")
        .bind(sent[1].body["message"]["text"].as_str().unwrap())
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(reaction.json["reacted_message_id"], second, "{}", reaction.json);
}

#[tokio::test]
async fn an_echo_of_any_part_of_a_long_send_is_ours_and_another_tenants_echo_never_matches_it() {
    let s = setup().await;
    ok(&s.app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-in-2", "hi", now())])).await);
    // ~1 900 bytes: two parts. The message row keeps the first part's mid in
    // `instagram_message_id` (the btree); the second is only in `instagram_message_ids` (the GIN
    // index, probed by `echo_targets` as the table owner, with the tenant rule written out).
    let text = "привет ".repeat(142) + "конец";
    assert_eq!(s.app.send_text(&s.key, &s.account_id, CUSTOMER, &text).await.status, 202);
    s.app.sender().run_until_idle().await.unwrap();
    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 2, "two parts");
    s.app.deliverer().run_until_idle().await.unwrap();

    // Another merchant's account names the second part's mid in an echo of its own.
    const OTHER_IG: &str = "17841400000000099";
    let (_, other_key) = s.app.merchant_with_key("Globex").await;
    s.app.connect_account(&other_key, OTHER_IG, "globex", SECRET).await;
    let foreign = meta::echo(OTHER_IG, CUSTOMER, &sent[1].message_id, "not yours", now());
    ok(&s.app.post_meta(&meta::envelope(OTHER_IG, vec![foreign])).await);

    let before = s.app.crm.received_on("acme").len();
    let events = sent
        .iter()
        .map(|m| meta::echo(IG, CUSTOMER, &m.message_id, m.body["message"]["text"].as_str().unwrap(), now()))
        .collect();
    let r = s.app.post_meta(&meta::envelope(IG, events)).await;
    ok(&r);
    assert_eq!(r.json["stored"], 2);
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "select instagram_account_id, kind from inbound_events where kind like 'echo%' order by created_at",
    )
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            (OTHER_IG.to_owned(), "echo".to_owned()),
            (IG.to_owned(), "echo_own".to_owned()),
            (IG.to_owned(), "echo_own".to_owned())
        ],
        "both parts are ours; the other tenant's echo is not"
    );
    s.app.deliverer().run_until_idle().await.unwrap();
    assert_eq!(s.app.crm.received_on("acme").len(), before, "our own echoes are not forwarded");
    let globex = s.app.crm.received_on("globex");
    assert!(globex.iter().any(|d| d.json["event"] == "message.echo"), "the other tenant gets its echo");
}
