//! Hostile-input tests: tenancy, keys and the send path (see docs/SECURITY.md).
//!
//! * A `router_test_` key sees and touches only sandbox accounts: every endpoint family answers
//!   404 for a live account of its own merchant, and nothing changes.
//! * Key creation checks `account_ids` against the target merchant only.
//! * A revoked key stops working the moment the revoke returns, even while requests race it.
//! * A send whose worker outlives one lease is not duplicated by a second worker.
//! * One account's undecryptable token does not stop token refresh for the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use router_core::jobs::kinds;
use router_core::queue::{self, NewJob};
use router_tests::TestApp;
use router_tests::router_fakes::graph::{Endpoint, Scripted};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LIVE_IG: &str = "17841400000000101";
const SANDBOX_IG: &str = "17841400000000202";
const OTHER_IG: &str = "17841400000000303";
const CUSTOMER: &str = "1234567890123456";
const ALL_SCOPES: [&str; 4] = ["messages:send", "messages:read", "accounts:read", "accounts:write"];

/// Creates a key through the admin API with extra fields (`environment`, `account_ids`).
async fn create_key(app: &TestApp, merchant: Uuid, extra: Value) -> router_tests::Resp {
    let mut body = json!({"name": "k", "scopes": ALL_SCOPES});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.post(&format!("/api/v1/admin/merchants/{merchant}/api-keys"), &app.admin_key, &body).await
}

/// Sends one text through `account` with `key`, runs the sender, returns the message id.
async fn sent_message(app: &TestApp, key: &str, account: &str) -> String {
    app.open_window(account, CUSTOMER, OffsetDateTime::now_utc()).await;
    let r = app.send_text(key, account, CUSTOMER, "order 42 shipped").await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.sender().run_until_idle().await.unwrap();
    r.json["message_id"].as_str().unwrap().to_owned()
}

async fn delivery_of(app: &TestApp, account: &str) -> Uuid {
    sqlx::query_scalar("select delivery_id from webhook_deliveries where account_id = $1 limit 1")
        .bind(account.parse::<Uuid>().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// A test key, given a live account's id, finds nothing there: not by listing, reading,
/// updating (repointing its CRM to steal DMs), deleting, erasing, sending, reading messages or
/// deliveries. The same calls on a sandbox account work, so the 404s are the scope and not a
/// broken key; and a live key may still use the sandbox account (documented).
#[tokio::test]
async fn a_test_key_sees_and_touches_only_sandbox_accounts() {
    // Arrange: one merchant, a live key with a live account, a test key with a sandbox account,
    // a sent message (and its CRM deliveries) on each.
    let app = TestApp::spawn().await;
    let merchant = app.create_merchant("Acme").await;
    let live_key = app.create_key(merchant, &ALL_SCOPES).await;
    let r = create_key(&app, merchant, json!({"environment": "test"})).await;
    let test_key = r.json["key"].as_str().unwrap().to_owned();
    let (live, _) = app.connect_account(&live_key, LIVE_IG, "live", SECRET).await;
    let (sandbox, _) = app.connect_account(&test_key, SANDBOX_IG, "sandbox", SECRET).await;
    assert_eq!((live["sandbox"].as_bool(), sandbox["sandbox"].as_bool()), (Some(false), Some(true)));
    let (live, sandbox) = (live["account_id"].as_str().unwrap(), sandbox["account_id"].as_str().unwrap());
    let live_msg = sent_message(&app, &live_key, live).await;
    let sandbox_msg = sent_message(&app, &test_key, sandbox).await;
    let (live_delivery, sandbox_delivery) = (delivery_of(&app, live).await, delivery_of(&app, sandbox).await);

    // Act + assert, endpoint family by endpoint family.
    let list = app.get("/api/v1/accounts", &test_key).await;
    let ids: Vec<&str> =
        list.json["data"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [sandbox], "the test key lists only the sandbox account");

    let stolen = json!({"crm_webhook_url": app.crm.url("attacker")});
    let refused = [
        app.get(&format!("/api/v1/accounts/{live}"), &test_key).await,
        app.put(&format!("/api/v1/accounts/{live}"), &test_key, &stolen).await,
        app.delete(&format!("/api/v1/accounts/{live}"), &test_key).await,
        app.delete(&format!("/api/v1/accounts/{live}/contacts/{CUSTOMER}"), &test_key).await,
        app.send_text(&test_key, live, CUSTOMER, "sent with a test key").await,
        app.get(&format!("/api/v1/messages/{live_msg}/status"), &test_key).await,
        app.get(&format!("/api/v1/messages?account_id={live}&recipient_id={CUSTOMER}"), &test_key).await,
        app.get(&format!("/api/v1/webhook-deliveries?account_id={live}"), &test_key).await,
        app.get(&format!("/api/v1/webhook-deliveries/{live_delivery}"), &test_key).await,
    ];
    for r in &refused {
        r.assert_error(404, "not_found");
    }

    // Nothing about the live account changed.
    let (url, deleted, text, messages): (String, bool, Option<String>, i64) = sqlx::query_as(
        r"select e.url, a.deleted_at is not null,
                 (select message_text from outbound_messages where message_id = $2),
                 (select count(*) from outbound_messages where account_id = a.account_id)
            from accounts a join webhook_endpoints e using (account_id) where a.account_id = $1",
    )
    .bind(live.parse::<Uuid>().unwrap())
    .bind(live_msg.parse::<Uuid>().unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(url, app.crm.url("live"));
    assert!(!deleted);
    assert_eq!(text.as_deref(), Some("order 42 shipped"), "the contact's content was not erased");
    assert_eq!(messages, 1, "no message was queued through the live account");

    // The same calls on the sandbox account answer normally.
    let allowed = [
        app.get(&format!("/api/v1/accounts/{sandbox}"), &test_key).await,
        app.put(&format!("/api/v1/accounts/{sandbox}"), &test_key, &json!({"status": "active"})).await,
        app.get(&format!("/api/v1/messages/{sandbox_msg}/status"), &test_key).await,
        app.get(&format!("/api/v1/messages?account_id={sandbox}&recipient_id={CUSTOMER}"), &test_key).await,
        app.get(&format!("/api/v1/webhook-deliveries?account_id={sandbox}"), &test_key).await,
        app.get(&format!("/api/v1/webhook-deliveries/{sandbox_delivery}"), &test_key).await,
        app.delete(&format!("/api/v1/accounts/{sandbox}/contacts/{CUSTOMER}"), &test_key).await,
        // A live key may use a sandbox account (CRM_INTEGRATION.md, "Live and test keys").
        app.get(&format!("/api/v1/accounts/{sandbox}"), &live_key).await,
    ];
    for r in &allowed {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(app.delete(&format!("/api/v1/accounts/{sandbox}"), &test_key).await.status, 204);
}

/// An admin creating a key for merchant A must not be able to name merchant B's account in
/// `account_ids` (the admin transaction sees every tenant, so the check must name the merchant).
#[tokio::test]
async fn key_creation_accepts_only_the_target_merchants_own_accounts() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.merchant_with_key("A").await;
    let merchant_b = app.create_merchant("B").await;
    let (a_account, _) = app.connect_account(&key_a, LIVE_IG, "a", SECRET).await;
    let a_account = a_account["account_id"].as_str().unwrap();

    let r = create_key(&app, merchant_b, json!({"account_ids": [a_account]})).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["field"], "account_ids");
    let keys: i64 = sqlx::query_scalar("select count(*) from api_keys where merchant_id = $1")
        .bind(merchant_b)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(keys, 0, "no key was stored for merchant B");

    // A test key cannot be pinned to a live account either (it could never see it).
    let merchant_a: Uuid = sqlx::query_scalar("select merchant_id from accounts").fetch_one(&app.db).await.unwrap();
    create_key(&app, merchant_a, json!({"account_ids": [a_account], "environment": "test"}))
        .await
        .assert_error(422, "validation_failed");
    // The owner's own live key with its own account is fine.
    let r = create_key(&app, merchant_a, json!({"account_ids": [a_account, a_account]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["account_ids"], json!([a_account]));
}

/// With a 60 s key cache, requests hammer a key while an admin revokes it. Every request sent
/// after the revoke answered must get 401: no request that raced the revoke may have put the
/// still-live row back into the cache. Several keys in a row, to give the race many chances.
/// (The interleaving itself is replayed deterministically by
/// `state::tests::a_lookup_that_straddles_a_revocation_does_not_cache_the_live_row`.)
#[tokio::test]
async fn a_revoked_key_is_refused_at_once_even_while_requests_race_the_revocation() {
    let app = Arc::new(
        TestApp::spawn_with(|v| {
            v.insert("API_KEY_CACHE_SECS".into(), "60".into());
            v.insert("API_RATE_LIMIT_PER_MINUTE".into(), "10000000".into());
        })
        .await,
    );
    let merchant = app.create_merchant("Acme").await;
    for round in 0..5 {
        let key = app.create_key(merchant, &["accounts:read"]).await;
        let key_id = app.key_id(&key).await;
        assert_eq!(app.get("/api/v1/accounts", &key).await.status, 200); // cached now

        let stop = Arc::new(AtomicBool::new(false));
        let hammers: Vec<_> = (0..6)
            .map(|_| {
                let (app, key, stop) = (app.clone(), key.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let status = app.get("/api/v1/accounts", &key).await.status;
                        seen.push((sent, status));
                    }
                    seen
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = app.delete(&format!("/api/v1/admin/api-keys/{key_id}"), &app.admin_key).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let revoked = Instant::now();
        tokio::time::sleep(Duration::from_millis(150)).await;
        stop.store(true, Ordering::Relaxed);

        let mut after = 0;
        for h in hammers {
            for (sent, status) in h.await.unwrap() {
                assert!(status == 200 || status == 401, "unexpected {status}");
                if sent > revoked {
                    after += 1;
                    assert_eq!(status, 401, "round {round}: a request sent after the revoke returned was served");
                }
            }
        }
        assert!(after > 0, "the hammering continued after the revoke");
        app.get("/api/v1/accounts", &key).await.assert_error(401, "unauthorized");
    }
}

/// A message of four Graph calls (attachment + three text pieces), a Graph API answering each
/// call after 400 ms, a 1 s lease and two workers: the whole send (1.6 s) outlives the lease
/// the claim gave it. The first worker renews the lease whenever it would not cover the next call, so the second never
/// takes the job over; Instagram receives every part exactly once and the message completes
/// (one `message.sent`) once.
///
/// The lease is set on the `Config` directly: validation wants `JOB_LEASE_SECS` > HTTP timeout +
/// 5 s, i.e. a lease longer than any *one* call, which still holds here (1 s > 400 ms); only the
/// scale is shrunk so the test takes seconds.
#[tokio::test]
async fn a_send_longer_than_its_lease_reaches_instagram_once_per_part_with_two_workers() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, LIVE_IG, "acme", SECRET).await;
    let account = account["account_id"].as_str().unwrap();
    app.open_window(account, CUSTOMER, OffsetDateTime::now_utc()).await;
    let text = "€".repeat(682); // 2 046 bytes of UTF-8: three pieces of ≤ 1 000 bytes
    let media = router_tests::router_fakes::media::FakeMedia::start().await;
    let url = media.serve("/p.png", router_tests::router_fakes::media::MediaFile::new("image/png", 2048));
    let r = app
        .post(
            "/api/v1/messages/send",
            &key,
            &json!({"account_id": account, "recipient_id": CUSTOMER, "message": text,
                    "attachment": {"type": "image", "url": url}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let message_id = r.json["message_id"].as_str().unwrap().to_owned();
    app.graph.script(Endpoint::Send, Scripted::Delay { millis: 400 }, 100);

    let mut config = app.config.clone();
    config.job_lease = Duration::from_secs(1);
    let config = Arc::new(config);
    let cancel = tokio_util::sync::CancellationToken::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let ctx = router_core::jobs::JobContext::new(app.db.clone(), config.clone(), app.state.limiter.clone());
            let runner = router_worker::runner(Arc::new(ctx)).with_kinds(&[router_core::jobs::kinds::SEND_MESSAGE]);
            tokio::spawn(runner.run(cancel.clone()))
        })
        .collect();

    // Until the message is sent and no send job is left (a second owner would still hold one).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, jobs): (String, i64) = sqlx::query_as(
            "select status, (select count(*) from jobs where kind = 'message.send') from outbound_messages",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if status != "pending" && jobs == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the send did not finish (status {status}, {jobs} jobs)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    for w in workers {
        w.await.unwrap();
    }

    let sent = app.graph.sent();
    let bodies: Vec<&Value> = sent.iter().map(|s| &s.body["message"]).collect();
    assert_eq!(sent.len(), 4, "each part once, in order: {bodies:#?}");
    assert_eq!(bodies[0]["attachment"]["payload"]["url"], url.as_str());
    let rejoined: String = bodies[1..].iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert_eq!(rejoined, text);
    let st = app.status_of(&key, &message_id).await;
    assert_eq!(st["status"], "delivered");
    let sent_events: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where event_type = 'message.sent'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(sent_events, 1);
}

async fn run_token_refresh(app: &TestApp) {
    let mut conn = app.db.acquire().await.unwrap();
    queue::enqueue(&mut conn, NewJob::new(kinds::MAINTENANCE, json!({"task": "token_refresh"}))).await.unwrap();
    drop(conn);
    app.worker().with_kinds(&[kinds::MAINTENANCE]).run_until_idle().await.unwrap();
}

/// One account's stored token is corrupted and sorts first (it expires soonest). The refresh
/// run records the failure on that row, backs it off and tells its CRM, and still refreshes the
/// healthy account after it; the task itself completes. Nothing secret reaches the logs.
#[tokio::test]
async fn one_undecryptable_token_does_not_stop_token_refresh_for_the_others() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (bad, _) = app.connect_account(&key, LIVE_IG, "bad", SECRET).await;
    let (good, good_token) = app.connect_account(&key, OTHER_IG, "good", SECRET).await;
    let (bad, good) = (bad["account_id"].as_str().unwrap(), good["account_id"].as_str().unwrap());
    let now = OffsetDateTime::now_utc();
    app.graph.set_token_times(&good_token, now - time::Duration::days(2), now + time::Duration::days(5));
    let garbage = format!("1:{}", router_core::crypto::b64(&[7u8; 48])); // right form, wrong bytes
    sqlx::query(
        r"update accounts set token_refreshed_at = now() - interval '2 days',
                 token_expires_at = now() + case when account_id = $1 then interval '1 day' else interval '5 days' end,
                 access_token_enc = case when account_id = $1 then $2 else access_token_enc end",
    )
    .bind(bad.parse::<Uuid>().unwrap())
    .bind(&garbage)
    .execute(&app.db)
    .await
    .unwrap();

    run_token_refresh(&app).await;

    // The task finished (not rescheduled or dead-lettered), the healthy token was refreshed.
    let left: i64 =
        sqlx::query_scalar("select count(*) from jobs where kind = 'maintenance'").fetch_one(&app.db).await.unwrap();
    let dead: i64 = sqlx::query_scalar("select count(*) from dead_jobs").fetch_one(&app.db).await.unwrap();
    assert_eq!((left, dead), (0, 0), "the refresh task completed");
    let enc: String = sqlx::query_scalar("select access_token_enc from accounts where account_id = $1")
        .bind(good.parse::<Uuid>().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    let refreshed = app.config.keyring.decrypt(&enc).unwrap();
    assert_ne!(refreshed.expose_secret(), good_token, "the healthy account behind the bad one was refreshed");

    // The bad row: failure recorded, backed off (no longer due), its CRM told why.
    let (failures, after): (i32, OffsetDateTime) =
        sqlx::query_as("select token_refresh_failures, token_refresh_after from accounts where account_id = $1")
            .bind(bad.parse::<Uuid>().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(failures, 1);
    assert!(after > OffsetDateTime::now_utc() + time::Duration::minutes(4));
    let reason: String = sqlx::query_scalar(
        "select payload::jsonb ->> 'reason' from webhook_deliveries where event_type = 'account.token_expiring'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(reason, "token_undecryptable");
    assert!(app.state.metrics.render().contains("router_token_refresh_total{result=\"failure\"}"));
    let logs = router_tests::captured_logs();
    assert!(logs.contains("cannot be decrypted"));
    assert!(!logs.contains(&garbage[2..]), "the ciphertext is not logged");

    // The next run skips the backed-off row and completes again.
    run_token_refresh(&app).await;
    let left: i64 =
        sqlx::query_scalar("select count(*) from jobs where kind = 'maintenance'").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    assert_eq!(app.graph.requests().iter().filter(|r| r.path == "/refresh_access_token").count(), 1);
}
