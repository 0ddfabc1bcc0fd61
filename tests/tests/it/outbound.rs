//! Outbound messages end to end: API → outbox → worker → fake Graph API → status and webhooks.

use std::time::Duration;

use router_tests::router_fakes::graph::{Endpoint, Scripted};
use router_tests::{Resp, TestApp};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000042";
const CUSTOMER: &str = "1234567890123456";

struct Setup {
    app: TestApp,
    key: String,
    account_id: String,
    token: String,
}

async fn setup_with(adjust: impl FnOnce(&mut std::collections::HashMap<String, String>)) -> Setup {
    let app = TestApp::spawn_with(adjust).await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, token) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    Setup { app, key, account_id, token }
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

fn id(r: &Resp) -> String {
    assert_eq!(r.status, 202, "{}", r.text);
    r.json["message_id"].as_str().unwrap().to_owned()
}

async fn deliveries(app: &TestApp, message_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select event_type from webhook_deliveries where event_id like $1 order by created_at, event_type",
    )
    .bind(format!("msg:{message_id}:%"))
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_sent_message_reaches_the_graph_api_and_its_status_history_and_webhooks_follow() {
    let s = setup().await;
    let r = s.app.send_text(&s.key, &s.account_id, CUSTOMER, "Your order shipped 📦").await;
    let mid = id(&r);
    assert_eq!(r.json["status"], "pending");
    assert!(r.json["instagram_message_id"].is_null());
    assert!(r.json["created_at"].is_string());

    // The outbox: message, pending history and job committed together.
    let (jobs, key): (i64, Option<String>) =
        sqlx::query_as("select count(*), max(ordering_key) from jobs where kind = 'message.send'")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(jobs, 1);
    assert_eq!(key.unwrap(), format!("send:{}:{CUSTOMER}", s.account_id));
    assert_eq!(s.app.status_of(&s.key, &mid).await["status"], "pending");

    assert_eq!(s.app.sender().run_until_idle().await.unwrap(), 1);

    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].recipient_id, CUSTOMER);
    assert_eq!(sent[0].body["message"]["text"], "Your order shipped 📦");
    let call = s.app.graph.requests().into_iter().find(|r| r.path == format!("/{IG}/messages")).unwrap();
    assert_eq!(call.token.as_deref(), Some(s.token.as_str()));

    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["status"], "delivered");
    assert_eq!(st["instagram_message_id"], sent[0].message_id.as_str());
    let hist: Vec<&str> =
        st["status_history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(hist, ["pending", "sent", "delivered"]);
    assert!(st["error"].is_null());
    assert_eq!(st["attempts"], 1);

    let mut events = deliveries(&s.app, &mid).await;
    events.sort();
    assert_eq!(events, ["message.delivered", "message.sent"]);
    let left: i64 =
        sqlx::query_scalar("select count(*) from jobs where kind = 'message.send'").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn idempotency_replays_conflicts_and_concurrent_duplicates() {
    let s = setup().await;
    let body =
        json!({"account_id": s.account_id, "recipient_id": CUSTOMER, "message": "hi", "idempotency_key": "order-1"});
    let first = s.app.post("/api/v1/messages/send", &s.key, &body).await;
    let mid = id(&first);
    assert!(first.header("idempotent-replayed").is_none());

    let again = s.app.post("/api/v1/messages/send", &s.key, &body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json, first.json);

    // Same key in the header form, same body: replay too.
    let mut no_key = body.clone();
    no_key.as_object_mut().unwrap().remove("idempotency_key");
    let r = s
        .app
        .client
        .post(format!("{}/api/v1/messages/send", s.app.base))
        .bearer_auth(&s.key)
        .header("idempotency-key", "order-1")
        .json(&no_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");

    let mut other = body.clone();
    other["message"] = json!("something else");
    s.app.post("/api/v1/messages/send", &s.key, &other).await.assert_error(409, "idempotency_key_reused");

    // Ten concurrent first requests with a new key: exactly one message.
    let mut c = body.clone();
    c["idempotency_key"] = json!("order-2");
    let reqs = (0..10).map(|_| s.app.post("/api/v1/messages/send", &s.key, &c));
    let results = futures::future::join_all(reqs).await;
    let ids: std::collections::HashSet<String> = results.iter().map(id).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let replayed = results.iter().filter(|r| r.header("idempotent-replayed") == Some("true")).count();
    assert_eq!(replayed, 9);
    let n: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 2);
    let _ = mid;
}

/// Another API replica commits the same key while our batch is already running: our claim waits
/// for it, sees it committed, and the request is answered from its record (here a different body:
/// 409). Nothing of ours is written.
#[tokio::test]
async fn a_key_committed_by_another_replica_during_our_batch_is_not_sent_twice() {
    let s = setup().await;
    let merchant: uuid::Uuid = sqlx::query_scalar("select merchant_id from accounts where account_id = $1::uuid")
        .bind(&s.account_id)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    let mut other = s.app.db.begin().await.unwrap();
    sqlx::query(
        "insert into idempotency_keys (merchant_id, idempotency_key, request_hash, response_status, response_body, expires_at)
         values ($1, 'race-1', '\\x00', 202, '{\"message_id\": \"0190b5e1-0000-7000-8000-000000000001\"}', now() + interval '1 day')",
    )
    .bind(merchant)
    .execute(&mut *other)
    .await
    .unwrap();
    let body =
        json!({"account_id": s.account_id, "recipient_id": CUSTOMER, "message": "hi", "idempotency_key": "race-1"});
    let send = s.app.post("/api/v1/messages/send", &s.key, &body);
    let commit = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.commit().await.unwrap();
    };
    let (r, ()) = tokio::join!(send, commit);
    r.assert_error(409, "idempotency_key_reused");
    let n: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 0);
    let jobs: i64 = sqlx::query_scalar("select count(*) from jobs").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn invalid_requests_are_refused_with_the_field_named() {
    let s = setup().await;
    let base = json!({"account_id": s.account_id, "recipient_id": CUSTOMER, "message": "hi"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("message", json!("x".repeat(1001)), "message"),
        ("message", json!("é".repeat(1000) + &"€".repeat(0)), "ok"),
        ("message", json!("€".repeat(700)), "message"), // 700 chars but 2100 bytes
        ("message", json!("   "), "message"),
        ("recipient_id", json!("abc"), "recipient_id"),
        ("tag", json!("CONFIRMED_EVENT_UPDATE"), "tag"),
        ("attachment", json!({"type": "sticker", "url": "https://cdn.example.com/a.png"}), "attachment.type"),
        ("attachment", json!({"type": "image", "url": "ftp://cdn.example.com/a.png"}), "attachment.url"),
        (
            "quick_replies",
            json!((0..14).map(|i| json!({"title": format!("b{i}"), "payload": "p"})).collect::<Vec<_>>()),
            "quick_replies",
        ),
        ("quick_replies", json!([{"title": "a title longer than twenty", "payload": "p"}]), "quick_replies[0].title"),
        ("metadata", json!({"blob": "x".repeat(17 * 1024)}), "metadata"),
    ];
    for (field, value, expect) in cases {
        let mut body = base.clone();
        body[field] = value;
        let r = s.app.post("/api/v1/messages/send", &s.key, &body).await;
        if expect == "ok" {
            assert_eq!(r.status, 202, "{field}: {}", r.text);
        } else {
            r.assert_error(422, "validation_failed");
            assert_eq!(r.json["details"]["field"], expect, "{}", r.text);
        }
    }
    let r = s
        .app
        .post("/api/v1/messages/send", &s.key, &json!({"account_id": s.account_id, "recipient_id": CUSTOMER}))
        .await;
    r.assert_error(422, "validation_failed");
    // An account of another merchant is not found.
    let (_, other_key) = s.app.merchant_with_key("Other").await;
    s.app.send_text(&other_key, &s.account_id, CUSTOMER, "hi").await.assert_error(404, "not_found");
    // An inactive account cannot send.
    s.app.put(&format!("/api/v1/accounts/{}", s.account_id), &s.key, &json!({"status": "inactive"})).await;
    let r = s.app.send_text(&s.key, &s.account_id, CUSTOMER, "hi").await;
    r.assert_error(422, "account_not_active");
    assert_eq!(r.json["details"]["account_status"], "inactive");
}

#[tokio::test]
async fn the_messaging_window_is_enforced_before_calling_meta() {
    let s = setup().await;
    let stranger = "5555555555";
    let r = s.app.send_text(&s.key, &s.account_id, stranger, "hello?").await;
    r.assert_error(422, "outside_messaging_window");

    let old = "6666666666";
    s.app.open_window(&s.account_id, old, OffsetDateTime::now_utc() - time::Duration::hours(30)).await;
    s.app.send_text(&s.key, &s.account_id, old, "late").await.assert_error(422, "outside_messaging_window");
    let r = s
        .app
        .post(
            "/api/v1/messages/send",
            &s.key,
            &json!({"account_id": s.account_id, "recipient_id": old, "message": "late", "tag": "HUMAN_AGENT"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);

    let ancient = "7777777777";
    s.app.open_window(&s.account_id, ancient, OffsetDateTime::now_utc() - time::Duration::days(8)).await;
    let r = s
        .app
        .post(
            "/api/v1/messages/send",
            &s.key,
            &json!({"account_id": s.account_id, "recipient_id": ancient, "message": "x", "tag": "HUMAN_AGENT"}),
        )
        .await;
    r.assert_error(422, "outside_messaging_window");
    assert!(s.app.graph.sent().is_empty());

    // The HUMAN_AGENT message goes out with Meta's tag fields.
    s.app.sender().run_until_idle().await.unwrap();
    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["tag"], "HUMAN_AGENT");
    assert_eq!(sent[0].body["messaging_type"], "MESSAGE_TAG");
}

#[tokio::test]
async fn permanent_instagram_errors_fail_at_once_with_a_clear_code() {
    let s = setup().await;
    for (code, sub, expect) in [
        (10, Some(2_534_022), "outside_messaging_window"),
        (100, None, "instagram_invalid_parameter"),
        (551, None, "recipient_unavailable"),
        (100, Some(2_534_014), "invalid_recipient"),
    ] {
        s.app.graph.script(Endpoint::Send, Scripted::code(code, sub), 1);
        let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "x").await);
        s.app.sender().run_until_idle().await.unwrap();
        let st = s.app.status_of(&s.key, &mid).await;
        assert_eq!(st["status"], "failed", "{code}");
        assert_eq!(st["error"]["code"], expect);
        assert_eq!(st["error"]["retryable"], false);
        assert_eq!(st["attempts"], 1, "no retry for a permanent error");
        assert_eq!(deliveries(&s.app, &mid).await, ["message.failed"]);
    }
    assert!(s.app.graph.sent().is_empty());
}

#[tokio::test]
async fn temporary_errors_throttles_timeouts_and_5xx_are_retried_until_sent() {
    let s = setup_with(|v| {
        v.insert("GRAPH_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    for scripted in [
        Scripted::code(2, None),
        Scripted::code(1, None),
        Scripted::Raw { status: 503, body: "<html>Service Unavailable</html>".into() },
        Scripted::Raw { status: 429, body: "Too Many Requests".into() },
        Scripted::Delay { millis: 1500 },
        Scripted::code(613, None),
    ] {
        s.app.graph.script(Endpoint::Send, scripted.clone(), 1);
        let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "x").await);
        s.app.sender().run_until_idle().await.unwrap();
        let st = s.app.status_of(&s.key, &mid).await;
        assert_eq!(st["status"], "pending", "{scripted:?}: {st}");
        assert_eq!(st["error"]["retryable"], true, "{st}");
        // Make the retry due now instead of waiting out the backoff.
        sqlx::query("update jobs set run_at = now()").execute(&s.app.db).await.unwrap();
        let app = &s.app;
        assert!(
            app.drain_until(Duration::from_secs(15), async || {
                sqlx::query("update jobs set run_at = now()").execute(&app.db).await.unwrap();
                app.status_of(&s.key, &mid).await["status"] == "delivered"
            })
            .await,
            "{scripted:?} never recovered"
        );
        let st = s.app.status_of(&s.key, &mid).await;
        assert!(st["attempts"].as_i64().unwrap() >= 2);
        assert!(st["error"].is_null());
    }
}

#[tokio::test]
async fn an_invalid_token_parks_the_account_keeps_its_messages_and_resumes_after_reauth() {
    let s = setup().await;
    s.app.graph.revoke_token(&s.token);
    let m1 = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "one").await);
    let m2 = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "two").await);
    s.app.sender().run_until_idle().await.unwrap();

    let acct = s.app.get(&format!("/api/v1/accounts/{}", s.account_id), &s.key).await.json;
    assert_eq!(acct["status"], "error");
    assert!(acct["status_reason"].as_str().unwrap().contains("190"));
    let disabled: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where event_type = 'account.disabled'")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(disabled, 1);
    for m in [&m1, &m2] {
        let st = s.app.status_of(&s.key, m).await;
        assert_eq!(st["status"], "pending");
    }
    assert_eq!(st_code(&s, &m1).await, "instagram_token_invalid");
    // Only one call reached Meta: the second message waited without trying.
    let calls = s.app.graph.requests().into_iter().filter(|r| r.path.ends_with("/messages")).count();
    assert_eq!(calls, 1);
    // New sends are refused while the account is in error.
    s.app.send_text(&s.key, &s.account_id, CUSTOMER, "three").await.assert_error(422, "account_not_active");

    // Re-authentication wakes the parked jobs; both go out, in order.
    let fresh = s.app.graph.add_account(IG, "shop");
    let r = s.app.put(&format!("/api/v1/accounts/{}", s.account_id), &s.key, &json!({"access_token": fresh})).await;
    assert_eq!(r.json["status"], "active", "{}", r.text);
    s.app.sender().run_until_idle().await.unwrap();
    let texts: Vec<String> =
        s.app.graph.sent().iter().map(|m| m.body["message"]["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(s.app.status_of(&s.key, &m2).await["status"], "delivered");
}

async fn st_code(s: &Setup, m: &str) -> String {
    s.app.status_of(&s.key, m).await["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_retried_first_message_keeps_its_conversation_in_order_without_holding_up_others() {
    let s = setup().await;
    let other = "2222222222";
    s.app.open_window(&s.account_id, other, OffsetDateTime::now_utc()).await;
    s.app.graph.script(Endpoint::Send, Scripted::code(2, None), 1);
    let first = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "first").await);
    s.app.sender().run_until_idle().await.unwrap(); // fails once; its retry is scheduled
    let second = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "second").await);
    let third = id(&s.app.send_text(&s.key, &s.account_id, other, "other conversation").await);

    s.app.sender().run_until_idle().await.unwrap();
    // The first failed and waits for its retry; the second waits behind it; the other went out.
    assert_eq!(s.app.status_of(&s.key, &first).await["status"], "pending");
    assert_eq!(s.app.status_of(&s.key, &second).await["status"], "pending");
    assert_eq!(s.app.status_of(&s.key, &third).await["status"], "delivered");
    let second_attempts: i32 = sqlx::query_scalar("select attempts from jobs where payload->>'message_id' = $1")
        .bind(&second)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(second_attempts, 0, "the second message must not even be tried");

    sqlx::query("update jobs set run_at = now()").execute(&s.app.db).await.unwrap();
    s.app.sender().run_until_idle().await.unwrap();
    let texts: Vec<String> =
        s.app.graph.sent().iter().map(|m| m.body["message"]["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, ["other conversation", "first", "second"]);
}

#[tokio::test]
async fn the_per_account_limit_defers_sends_without_counting_attempts() {
    let s = setup_with(|v| {
        v.insert("RATE_LIMIT_TEXT_PER_SEC".into(), "2".into());
    })
    .await;
    for i in 0..5 {
        s.app.open_window(&s.account_id, &format!("10000000{i}"), OffsetDateTime::now_utc()).await;
    }
    for i in 0..5 {
        id(&s.app.send_text(&s.key, &s.account_id, &format!("10000000{i}"), "x").await);
    }
    s.app.sender().run_until_idle().await.unwrap();
    assert_eq!(s.app.graph.sent().len(), 2, "only the window's allowance goes out at once");
    let deferred: Vec<(i32, Option<String>)> =
        sqlx::query_as("select attempts, last_error from jobs where kind = 'message.send'")
            .fetch_all(&s.app.db)
            .await
            .unwrap();
    assert_eq!(deferred.len(), 3);
    assert!(deferred.iter().all(|(a, e)| *a == 0 && e.as_deref().unwrap_or("").contains("throttled")), "{deferred:?}");
    let metrics = s.app.state.metrics.render();
    assert!(metrics.contains("router_rate_limit_throttled_total"));

    let app = &s.app;
    assert!(app.drain_until(Duration::from_secs(10), async || app.graph.sent().len() == 5).await);
    let spread = {
        let sent = s.app.graph.sent();
        (sent[4].at - sent[0].at).as_seconds_f64()
    };
    assert!(spread >= 0.9, "5 sends at 2/s must span at least ~1 s, took {spread}");
}

#[tokio::test]
async fn messages_longer_than_1000_bytes_go_out_in_parts_and_resume_after_a_failed_part() {
    let s = setup().await;
    let text = "привет ".repeat(142) + "конец"; // ~1000 chars, ~1900 bytes
    assert!(text.chars().count() <= 1000);
    let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, &text).await);
    // The first part passes, the second fails once.
    s.app.graph.script(Endpoint::Send, Scripted::Delay { millis: 0 }, 1);
    s.app.graph.script(Endpoint::Send, Scripted::code(2, None), 1);
    s.app.sender().run_until_idle().await.unwrap();
    assert_eq!(s.app.graph.sent().len(), 1);
    assert_eq!(s.app.status_of(&s.key, &mid).await["status"], "pending");
    sqlx::query("update jobs set run_at = now()").execute(&s.app.db).await.unwrap();
    s.app.sender().run_until_idle().await.unwrap();
    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 2, "the first part is not sent again");
    let joined: String = sent.iter().map(|m| m.body["message"]["text"].as_str().unwrap()).collect();
    assert_eq!(joined, text);
    assert!(sent.iter().all(|m| m.body["message"]["text"].as_str().unwrap().len() <= 1000));
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["status"], "delivered");
    assert_eq!(st["instagram_message_id"], sent[0].message_id.as_str());
}

#[tokio::test]
async fn attachments_and_quick_replies_use_metas_shapes() {
    let s = setup().await;
    // The worker checks the file first (media.rs): a real host serving a real PNG header.
    let media = router_tests::router_fakes::media::FakeMedia::start().await;
    let url = media.serve("/p.png", router_tests::router_fakes::media::MediaFile::new("image/png", 2048));
    let r = s
        .app
        .post(
            "/api/v1/messages/send",
            &s.key,
            &json!({"account_id": s.account_id, "recipient_id": CUSTOMER, "message": "Pick one",
                    "attachment": {"type": "image", "url": url},
                    "quick_replies": [{"title": "Yes", "payload": "YES"}, {"title": "No", "payload": "NO"}]}),
        )
        .await;
    id(&r);
    s.app.sender().run_until_idle().await.unwrap();
    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body["message"]["attachment"], json!({"type": "image", "payload": {"url": url}}));
    assert_eq!(sent[1].body["message"]["text"], "Pick one");
    assert_eq!(
        sent[1].body["message"]["quick_replies"][0],
        json!({"content_type": "text", "title": "Yes", "payload": "YES"})
    );
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_its_lease_and_another_worker_sends_once() {
    let s = setup().await;
    let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "survives a crash").await);
    // Worker A claims with a 1 s lease and dies before calling Instagram.
    let claimed =
        router_core::queue::claim(&s.app.db, &["message.send"], 10, Duration::from_secs(1), "worker-a").await.unwrap();
    assert_eq!(claimed.len(), 1);
    // While the lease holds, nobody else can take it.
    assert_eq!(s.app.sender().run_until_idle().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Lease expired: worker B rescues and sends it.
    assert_eq!(s.app.sender().run_until_idle().await.unwrap(), 1);
    assert_eq!(s.app.graph.sent().len(), 1);
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["status"], "delivered");
    assert_eq!(st["attempts"], 2, "the crashed claim counts as an attempt");
    // A's late completion is refused: the lease moved on.
    let mut conn = s.app.db.acquire().await.unwrap();
    assert!(!router_core::queue::complete(&mut conn, claimed[0].job_id, claimed[0].lock_token).await.unwrap());
}

/// Expired leases are taken before new work, so a queue that always has due jobs cannot starve a
/// job whose worker died.
#[tokio::test]
async fn an_expired_lease_is_rescued_before_due_jobs_even_when_they_fill_the_claim() {
    let s = setup().await;
    let first = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "claimed by a dying worker").await);
    let claimed =
        router_core::queue::claim(&s.app.db, &["message.send"], 1, Duration::from_secs(1), "worker-a").await.unwrap();
    assert_eq!(claimed.len(), 1);
    // The dead job's run_at is later than the new jobs' (as after a retry was rescheduled).
    sqlx::query("update jobs set run_at = now() + interval '1 hour' where job_id = $1")
        .bind(claimed[0].job_id)
        .execute(&s.app.db)
        .await
        .unwrap();
    for i in 0..3 {
        let other = format!("20000000{i}");
        s.app.open_window(&s.account_id, &other, OffsetDateTime::now_utc()).await;
        id(&s.app.send_text(&s.key, &s.account_id, &other, "new work").await);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let next =
        router_core::queue::claim(&s.app.db, &["message.send"], 1, Duration::from_secs(30), "worker-b").await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].job_id, claimed[0].job_id, "the expired lease comes first");
    assert_eq!(next[0].payload["message_id"], first.as_str());
    assert_eq!(next[0].attempts, 2);
    // Then the due jobs, oldest first, up to the limit.
    let rest =
        router_core::queue::claim(&s.app.db, &["message.send"], 10, Duration::from_secs(30), "worker-b").await.unwrap();
    assert_eq!(rest.len(), 3);
}

/// A claim is a lease: its connection commits without waiting for the WAL flush, with the generic
/// plan. Every other connection keeps `synchronous_commit = on`, so what a claim leads to (a send
/// intent, a completion, a reschedule) is flushed before it counts, and that flush carries the
/// claim with it. A claim forgotten in a Postgres crash makes the job claimable again, as an
/// expired lease does (the crash itself: `router-proof --scenario pg-restart`).
#[tokio::test]
async fn only_the_claim_connection_commits_without_waiting_for_the_flush() {
    let app = TestApp::spawn().await;
    let claim_db = router_core::queue::claim_pool(&app.db);
    let show = async |db: &sqlx::PgPool, setting: &str| -> String {
        sqlx::query_scalar("select current_setting($1)").bind(setting).fetch_one(db).await.unwrap()
    };
    assert_eq!(show(&claim_db, "synchronous_commit").await, "off");
    assert_eq!(show(&claim_db, "plan_cache_mode").await, "force_generic_plan");
    assert_eq!(show(&app.db, "synchronous_commit").await, "on", "the shared pool commits durably");
    // And the claim still takes and leases a job through it.
    let mut conn = app.db.acquire().await.unwrap();
    let id = router_core::queue::enqueue_many(
        &mut conn,
        &[router_core::queue::NewJob::new("test.lease", serde_json::json!({}))],
    )
    .await
    .unwrap()[0];
    let got = router_core::queue::claim(&claim_db, &["test.lease"], 5, Duration::from_secs(30), "w").await.unwrap();
    assert_eq!(got.iter().map(|j| j.job_id).collect::<Vec<_>>(), [id]);
    let state: String =
        sqlx::query_scalar("select state::text from jobs where job_id = $1").bind(id).fetch_one(&app.db).await.unwrap();
    assert_eq!(state, "running");
}

/// Each kind is walked on its own index range and the walks are merged in claim order: a runner
/// of several kinds gets the oldest due jobs across them, and a runner of one kind never reads
/// (nor takes) another's.
#[tokio::test]
async fn a_claim_takes_the_oldest_due_jobs_across_its_kinds_and_only_its_kinds() {
    use router_core::queue::{self, NewJob};
    let app = TestApp::spawn().await;
    let mut conn = app.db.acquire().await.unwrap();
    let mut ids = Vec::new();
    for (i, kind) in ["test.a", "test.b", "test.c", "test.a", "test.b", "test.c"].into_iter().enumerate() {
        let mut j = NewJob::new(kind, serde_json::json!({ "i": i }));
        j.run_at = Some(OffsetDateTime::now_utc() - time::Duration::seconds(60 - i as i64));
        ids.push(queue::enqueue_many(&mut conn, &[j]).await.unwrap()[0]);
    }
    let got = queue::claim(&app.db, &["test.b", "test.a"], 3, Duration::from_secs(30), "w").await.unwrap();
    let mut got: Vec<i64> = got.iter().map(|j| j.job_id).collect();
    got.sort_unstable();
    assert_eq!(got, [ids[0], ids[1], ids[3]], "the three oldest of a and b, not c's in between");
    let c = queue::claim(&app.db, &["test.c"], 10, Duration::from_secs(30), "w").await.unwrap();
    assert_eq!(c.iter().map(|j| j.job_id).collect::<Vec<_>>(), [ids[2], ids[5]]);
    let rest = queue::claim(&app.db, &["test.a", "test.b"], 10, Duration::from_secs(30), "w").await.unwrap();
    assert_eq!(rest.iter().map(|j| j.job_id).collect::<Vec<_>>(), [ids[4]]);
}

/// The worker's sessions enqueue without NOTIFY (its own next claim finds what it enqueued), so
/// its commits do not queue on Postgres's notify lock; every other session still wakes the
/// workers, and a worker still delivers the webhooks of the sends it completes.
#[tokio::test]
async fn the_workers_enqueues_wake_nobody_and_everyone_elses_do() {
    use router_core::queue::{self, NewJob};
    let app = TestApp::spawn().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.db).await.unwrap();
    listener.listen(queue::CHANNEL).await.unwrap();
    let worker_pool = router_core::db::connect_worker_pool(&app.config.database_url, 5).await.unwrap();

    let mut conn = worker_pool.acquire().await.unwrap();
    queue::enqueue_many(&mut conn, &[NewJob::new("test.quiet", serde_json::json!({}))]).await.unwrap();
    drop(conn);
    let heard = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(heard.is_err(), "a worker session's enqueue sends no NOTIFY");

    let mut conn = app.db.acquire().await.unwrap();
    queue::enqueue_many(&mut conn, &[NewJob::new("test.loud", serde_json::json!({}))]).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
    assert!(heard.is_ok_and(|n| n.is_ok()), "any other session's enqueue wakes the workers");
    assert_eq!(
        sqlx::query_scalar::<_, i64>("select count(*) from jobs where kind like 'test.%'")
            .fetch_one(&app.db)
            .await
            .unwrap(),
        2,
        "both were enqueued"
    );
    sqlx::query("delete from jobs where kind like 'test.%'").execute(&app.db).await.unwrap();

    // A worker on such a pool sends, and delivers the webhooks its completion enqueued unheard,
    // at once rather than at its next poll (60 s here).
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    let mut config = app.config.clone();
    config.worker_poll_interval = Duration::from_secs(60);
    let ctx = router_core::jobs::JobContext::new(worker_pool, std::sync::Arc::new(config), app.state.limiter.clone());
    let cancel = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(router_worker::runner(std::sync::Arc::new(ctx)).run(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await; // listening
    let mid = id(&app.send_text(&key, &account_id, CUSTOMER, "Your order has shipped").await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<String> = app.crm.received_on("acme").iter().map(|r| r.event().to_owned()).collect();
        if events.iter().any(|e| e == "message.sent") && events.iter().any(|e| e == "message.delivered") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "webhooks of {mid} not delivered: {events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_stops_claiming_and_loses_no_job() {
    let s = setup().await;
    let runner = s.app.worker();
    let cancel = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(runner.run(cancel.clone()));
    let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "via NOTIFY").await);
    // Picked up through LISTEN/NOTIFY (the poll interval alone would also do; both are fast).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.app.status_of(&s.key, &mid).await["status"] != "delivered" {
        assert!(tokio::time::Instant::now() < deadline, "not delivered by the running worker");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), handle).await.expect("worker stops").unwrap();
    // After shutdown, new work waits in the queue (nothing claims it, nothing is lost).
    let later = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "after shutdown").await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.app.status_of(&s.key, &later).await["status"], "pending");
    let locked: i64 =
        sqlx::query_scalar("select count(*) from jobs where state = 'running'").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(locked, 0);
}

#[tokio::test]
async fn conversation_history_pages_newest_first_with_a_cursor() {
    let s = setup().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, &format!("m{i}")).await));
    }
    let path = format!("/api/v1/messages?account_id={}&recipient_id={CUSTOMER}&limit=2", s.account_id);
    let p1 = s.app.get(&path, &s.key).await;
    assert_eq!(p1.status, 200, "{}", p1.text);
    let texts = |r: &Resp| {
        r.json["data"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(texts(&p1), ["m4", "m3"]);
    let c = p1.json["next_cursor"].as_str().unwrap();
    let p2 = s.app.get(&format!("{path}&cursor={c}"), &s.key).await;
    assert_eq!(texts(&p2), ["m2", "m1"]);
    let c = p2.json["next_cursor"].as_str().unwrap();
    let p3 = s.app.get(&format!("{path}&cursor={c}"), &s.key).await;
    assert_eq!(texts(&p3), ["m0"]);
    assert!(p3.json["next_cursor"].is_null());
    s.app.get(&format!("{path}&cursor=garbage"), &s.key).await.assert_error(422, "validation_failed");
}

#[tokio::test]
async fn no_message_text_token_secret_or_api_key_reaches_the_logs() {
    let s = setup().await;
    let text = "SECRET-CUSTOMER-TEXT-4711";
    s.app.graph.script(Endpoint::Send, Scripted::code(2, None), 1);
    let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, text).await);
    s.app.sender().run_until_idle().await.unwrap();
    sqlx::query("update jobs set run_at = now()").execute(&s.app.db).await.unwrap();
    s.app.sender().run_until_idle().await.unwrap();
    assert_eq!(s.app.status_of(&s.key, &mid).await["status"], "delivered");
    s.app.graph.script(Endpoint::Send, Scripted::code(190, Some(463)), 1);
    id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, text).await);
    s.app.sender().run_until_idle().await.unwrap();

    let logs = router_tests::captured_logs();
    assert!(logs.len() > 1000, "the scenario must have logged something");
    for needle in [text, s.token.as_str(), s.key.as_str(), SECRET, &s.app.admin_key] {
        assert!(!logs.contains(needle), "{needle} leaked into the logs");
    }
}

/// A Redis server of this test's own, so the test can stop and restart it.
struct OwnRedis {
    port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn redis_down_pauses_instagram_calls_while_the_api_keeps_accepting_and_sends_resume_when_it_is_back() {
    let port = router_testing::process::free_port();
    let mut redis = OwnRedis::start(port);
    let s = setup_with(|v| {
        v.insert("REDIS_URL".into(), format!("redis://127.0.0.1:{port}"));
    })
    .await;

    redis.kill();
    // The API still accepts (its per-key limit fails open; the message is in Postgres).
    let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "while redis is down").await);
    // The worker never calls Instagram unthrottled: it defers, without counting an attempt.
    s.app.sender().run_until_idle().await.unwrap();
    assert!(s.app.graph.sent().is_empty());
    let (attempts, err): (i32, Option<String>) =
        sqlx::query_as("select attempts, last_error from jobs").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(attempts, 0);
    assert!(err.unwrap().contains("Redis"));
    assert!(s.app.state.metrics.render().contains("router_redis_unavailable_total"));
    let ready = s.app.req(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json["redis"], "unavailable");

    let _redis = OwnRedis::start(redis.port);
    let app = &s.app;
    assert!(
        app.drain_until(Duration::from_secs(15), async || {
            sqlx::query("update jobs set run_at = now()").execute(&app.db).await.unwrap();
            app.graph.sent().len() == 1
        })
        .await,
        "sending did not resume after Redis came back"
    );
    assert_eq!(s.app.status_of(&s.key, &mid).await["status"], "delivered");
}

#[tokio::test]
async fn postgres_going_away_turns_into_503_with_retry_after_and_the_api_recovers_when_it_returns() {
    let (app, proxy) = TestApp::spawn_with_pg_proxy().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    assert_eq!(app.send_text(&key, &account_id, CUSTOMER, "before").await.status, 202);

    proxy.stop();
    let r = app.send_text(&key, &account_id, CUSTOMER, "during").await;
    r.assert_error(503, "service_unavailable");
    assert!(r.header("retry-after").is_some());
    let ready = app.req(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json["postgres"], "unavailable");
    assert_eq!(app.req(reqwest::Method::GET, "/healthz", None, None).await.status, 200, "the process is alive");

    proxy.resume().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.send_text(&key, &account_id, CUSTOMER, "after").await;
        if r.status == 202 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "did not recover: {}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing accepted before the outage was lost.
    let texts: Vec<String> = sqlx::query_scalar("select message_text from outbound_messages order by created_at")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(texts, ["before", "after"]);
}

/// Pools skip sqlx's ping on every acquire (a round trip per transaction) and ping only
/// connections idle for `PING_IDLE_AFTER`: connections Postgres dropped while idle (a restart, an
/// operator's `pg_terminate_backend`) are found dead and replaced before a request uses them.
#[tokio::test]
async fn connections_postgres_dropped_while_idle_are_replaced_before_a_request_uses_them() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    assert_eq!(app.send_text(&key, &account_id, CUSTOMER, "before").await.status, 202);

    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the API's pooled connections were open");
    tokio::time::sleep(router_core::db::PING_IDLE_AFTER + Duration::from_millis(300)).await;

    let r = app.send_text(&key, &account_id, CUSTOMER, "after").await;
    assert_eq!(r.status, 202, "answered on a fresh connection at the first try: {}", r.text);
    let texts: Vec<String> = sqlx::query_scalar("select message_text from outbound_messages order by created_at")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(texts, ["before", "after"]);
}

#[tokio::test]
async fn a_worker_rides_out_a_postgres_outage_and_sends_once_it_is_back() {
    let (app, proxy) = TestApp::spawn_with_pg_proxy().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    // A worker whose database connections go through the proxy too.
    let url = app.config.api().database_app_url.clone();
    let pool = router_core::db::connect_owner_pool(&url, 5).await.unwrap();
    let ctx =
        router_core::jobs::JobContext::new(pool, std::sync::Arc::new(app.config.clone()), app.state.limiter.clone());
    let cancel = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(router_worker::runner(std::sync::Arc::new(ctx)).run(cancel.clone()));

    proxy.stop();
    // Written while the worker cannot reach Postgres (directly, as the API would after failover).
    let mid = {
        let r = app.send_text(&key, &account_id, CUSTOMER, "queued during the outage").await;
        assert_eq!(r.status, 503, "the API is cut off too: {}", r.text);
        proxy.resume().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let r = app.send_text(&key, &account_id, CUSTOMER, "after the outage").await;
            if r.status == 202 {
                break id(&r);
            }
            assert!(tokio::time::Instant::now() < deadline, "API did not recover");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.status_of(&key, &mid).await["status"] != "delivered" {
        assert!(tokio::time::Instant::now() < deadline, "the worker did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!worker.is_finished(), "the worker survived the outage");
    cancel.cancel();
    worker.await.unwrap();
    assert_eq!(app.graph.sent().len(), 1);
}

#[tokio::test]
async fn test_keys_never_send_through_live_accounts_and_api_keys_are_rate_limited() {
    let s = setup_with(|v| {
        v.insert("API_RATE_LIMIT_PER_MINUTE".into(), "8".into());
    })
    .await;
    let merchant: uuid::Uuid =
        sqlx::query_scalar("select merchant_id from accounts").fetch_one(&s.app.db).await.unwrap();
    let r = s
        .app
        .post(
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            &s.app.admin_key,
            &json!({"name": "sandbox", "scopes": ["messages:send"], "environment": "test"}),
        )
        .await;
    let test_key = r.json["key"].as_str().unwrap().to_owned();
    let r = s.app.send_text(&test_key, &s.account_id, CUSTOMER, "from a test key").await;
    r.assert_error(404, "not_found"); // a test key does not see live accounts (hostile::tenancy)

    // The live key has 8 requests a minute; it already used some in setup.
    let mut last = None;
    for _ in 0..10 {
        let r = s.app.get("/api/v1/accounts", &s.key).await;
        if r.status == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the key was never limited");
    r.assert_error(429, "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another key of the same merchant has its own budget.
    assert_eq!(s.app.post("/api/v1/messages/send", &test_key, &json!({})).await.status, 400);
}
