//! Onboarding (OAuth + PKCE), token refresh, scheduler leadership, key rotation, RLS, erasure.

use std::sync::Arc;
use std::time::Duration;

use router_core::jobs::MaintenanceTask;
use router_core::jobs::kinds;
use router_core::queue::{self, NewJob};
use router_tests::router_fakes::graph::{Endpoint, Scripted};
use router_tests::{Resp, TestApp};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000042";

async fn get_json(app: &TestApp, url: &str) -> Resp {
    let r = app.client.get(url).header("accept", "application/json").send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Resp { status, headers, json: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

/// Follows Instagram's authorize page (the fake auto-approves) and returns the callback URL it
/// redirects to, rewritten to this test app's address.
async fn authorize(app: &TestApp, authorize_url: &str) -> String {
    let r = app.client.get(authorize_url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let u = url::Url::parse(&loc).unwrap();
    format!("{}{}?{}", app.base, u.path(), u.query().unwrap())
}

#[tokio::test]
async fn oauth_with_pkce_connects_the_account_once_per_state() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    app.graph.set_sandbox_account(IG, "acme_shop");
    let start = app.get(&format!("/api/v1/oauth/instagram/start?crm_webhook_url={}", app.crm.url("acme")), &key).await;
    assert_eq!(start.status, 200, "{}", start.text);
    let auth_url = url::Url::parse(start.json["authorize_url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = auth_url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "1234567890");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(q["state"], start.json["state"].as_str().unwrap());
    assert!(q["redirect_uri"].ends_with("/oauth/instagram/callback"));
    let secret = start.json["webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let callback = authorize(&app, auth_url.as_str()).await;
    let r = get_json(&app, &callback).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "connected");
    assert_eq!(r.json["instagram_account_id"], IG);
    let account_id = r.json["account_id"].as_str().unwrap();

    // PKCE: the verifier went to the token exchange and matched the challenge (the fake checks).
    let exchange = app.graph.requests().into_iter().find(|r| r.path == "/oauth/access_token").unwrap();
    assert_eq!(exchange.body["code_verifier"].as_str().unwrap().len(), 64);
    assert!(exchange.body.get("client_secret").is_none(), "the fake does not log secrets either");
    assert!(app.graph.subscription(IG).unwrap().contains("messages"));

    // The account holds an encrypted long-lived token and the CRM endpoint with the secret.
    let acct = app.get(&format!("/api/v1/accounts/{account_id}"), &key).await;
    assert_eq!(acct.json["crm_webhook_url"], app.crm.url("acme"));
    assert!(acct.json["token_expires_at"].is_string());
    let (tok, sec): (String, String) = sqlx::query_as(
        "select a.access_token_enc, e.secret_enc from accounts a join webhook_endpoints e using (account_id) where a.merchant_id = $1",
    )
    .bind(merchant)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let token = app.config.keyring.decrypt(&tok).unwrap();
    assert!(app.graph.token_valid(token.expose_secret()));
    assert!(token.expose_secret().starts_with("IGAA"), "long-lived");
    assert_eq!(app.config.keyring.decrypt(&sec).unwrap().expose_secret(), secret);

    // The state is single use.
    let again = get_json(&app, &callback).await;
    again.assert_error(400, "invalid_oauth_state");
}

#[tokio::test]
async fn expired_tampered_and_denied_authorizations_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (other, other_key) = app.merchant_with_key("Other").await;
    let _ = other_key;
    let start = app.get("/api/v1/oauth/instagram/start", &key).await;
    let state = start.json["state"].as_str().unwrap().to_owned();
    let callback = authorize(&app, start.json["authorize_url"].as_str().unwrap()).await;

    // Another merchant's id in the state: no such pending authorization.
    let nonce = state.split_once('.').unwrap().1;
    let forged = callback.replace(&state, &format!("{other}.{nonce}"));
    get_json(&app, &forged).await.assert_error(400, "invalid_oauth_state");

    // Expired (the Redis entry is gone after 10 minutes; here we expire it now).
    let mut redis = app.state.redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}oauth:*", app.config.redis_key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query_async(&mut redis).await.unwrap();
    assert!(ttl > 590_000 && ttl <= 600_000, "10 minute TTL, got {ttl} ms");
    let _: () = redis::cmd("PEXPIRE").arg(&keys[0]).arg(1).query_async(&mut redis).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    get_json(&app, &callback).await.assert_error(400, "invalid_oauth_state");

    // The merchant declined on Instagram: an HTML page for the browser.
    let start = app.get("/api/v1/oauth/instagram/start", &key).await;
    let state = start.json["state"].as_str().unwrap();
    let denied = app
        .client
        .get(format!(
            "{}/oauth/instagram/callback?error=access_denied&error_reason=user_denied&state={state}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 400);
    assert!(denied.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(denied.text().await.unwrap().contains("not granted"));
    // A missing state.
    get_json(&app, &format!("{}/oauth/instagram/callback?code=x", app.base))
        .await
        .assert_error(400, "invalid_oauth_state");
    let n: i64 = sqlx::query_scalar("select count(*) from accounts").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);
}

async fn run_maintenance(app: &TestApp, task: &str) {
    let mut conn = app.db.acquire().await.unwrap();
    queue::enqueue(&mut conn, NewJob::new(kinds::MAINTENANCE, json!({"task": task}))).await.unwrap();
    drop(conn);
    app.worker().with_kinds(&[kinds::MAINTENANCE]).run_until_idle().await.unwrap();
}

async fn refresh_calls(app: &TestApp) -> usize {
    app.graph.requests().iter().filter(|r| r.path == "/refresh_access_token").count()
}

#[tokio::test]
async fn tokens_are_refreshed_when_old_enough_and_close_to_expiry_and_failures_back_off_and_alert() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (account, token) = app.connect_account(&key, IG, "acme", SECRET).await;
    let id: Uuid = account["account_id"].as_str().unwrap().parse().unwrap();
    let now = OffsetDateTime::now_utc();

    // Fresh (refreshed just now): not due.
    run_maintenance(&app, "token_refresh").await;
    assert_eq!(refresh_calls(&app).await, 0);

    // Two days old and expiring in 5 days: due. (The fake enforces Meta's 24 h rule too.)
    app.graph.set_token_times(&token, now - time::Duration::days(2), now + time::Duration::days(5));
    sqlx::query("update accounts set token_refreshed_at = now() - interval '2 days', token_expires_at = now() + interval '5 days'")
        .execute(&app.db)
        .await
        .unwrap();
    run_maintenance(&app, "token_refresh").await;
    assert_eq!(refresh_calls(&app).await, 1);
    let (enc, expires): (String, OffsetDateTime) =
        sqlx::query_as("select access_token_enc, token_expires_at from accounts where account_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let new_token = app.config.keyring.decrypt(&enc).unwrap();
    assert_ne!(new_token.expose_secret(), token);
    assert!(app.graph.token_valid(new_token.expose_secret()));
    assert!(expires - now > time::Duration::days(59));
    assert!(app.state.metrics.render().contains("router_token_refresh_total{result=\"success\"}"));

    // A failed refresh backs off and tells the CRM once.
    app.graph.set_token_times(new_token.expose_secret(), now - time::Duration::days(2), now + time::Duration::days(3));
    sqlx::query("update accounts set token_refreshed_at = now() - interval '2 days', token_expires_at = now() + interval '3 days'")
        .execute(&app.db)
        .await
        .unwrap();
    app.graph.script(Endpoint::RefreshToken, Scripted::code(2, None), 1);
    run_maintenance(&app, "token_refresh").await;
    let (failures, after): (i32, OffsetDateTime) =
        sqlx::query_as("select token_refresh_failures, token_refresh_after from accounts")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(failures, 1);
    let wait = (after - OffsetDateTime::now_utc()).as_seconds_f64();
    assert!(wait > 290.0 && wait <= 300.0, "{wait}");
    run_maintenance(&app, "token_refresh").await; // still backing off: no call
    assert_eq!(refresh_calls(&app).await, 2);
    let expiring: Vec<String> =
        sqlx::query_scalar("select payload from webhook_deliveries where event_type = 'account.token_expiring'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(expiring.len(), 1);
    let payload: Value = serde_json::from_str(&expiring[0]).unwrap();
    assert_eq!(payload["account_id"], id.to_string());
    assert!(app.state.metrics.render().contains("router_token_refresh_total{result=\"failure\"}"));

    // Meta says the token is dead (190): the account goes to error, the CRM hears account.disabled.
    sqlx::query("update accounts set token_refresh_after = null").execute(&app.db).await.unwrap();
    app.graph.revoke_token(new_token.expose_secret());
    run_maintenance(&app, "token_refresh").await;
    let status: String = sqlx::query_scalar("select status from accounts").fetch_one(&app.db).await.unwrap();
    assert_eq!(status, "error");
    let disabled: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where event_type = 'account.disabled'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(disabled, 1);
    let _ = merchant;
}

#[tokio::test]
async fn two_scheduler_replicas_elect_one_leader_and_refresh_once() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (_, token) = app.connect_account(&key, IG, "acme", SECRET).await;
    let now = OffsetDateTime::now_utc();
    app.graph.set_token_times(&token, now - time::Duration::days(2), now + time::Duration::days(5));
    sqlx::query("update accounts set token_refreshed_at = now() - interval '2 days', token_expires_at = now() + interval '5 days'")
        .execute(&app.db)
        .await
        .unwrap();

    let config = Arc::new(app.config.clone());
    let (c1, c2) = (tokio_util::sync::CancellationToken::new(), tokio_util::sync::CancellationToken::new());
    let (l1, f1) = router_scheduler::start(config.clone(), app.db.clone(), app.state.redis.clone(), c1.clone());
    let (l2, f2) = router_scheduler::start(config.clone(), app.db.clone(), app.state.redis.clone(), c2.clone());
    let h1 = tokio::spawn(f1);
    let h2 = tokio::spawn(f2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(l1.is_leader() || l2.is_leader()) {
        assert!(tokio::time::Instant::now() < deadline, "no leader elected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(l1.is_leader() ^ l2.is_leader(), "exactly one leader");

    // Both replicas tick the same slot: one job, one refresh.
    let ctx = |l: &router_scheduler::leader::Leadership| router_scheduler::schedule::SchedulerContext {
        db: app.db.clone(),
        config: config.clone(),
        leadership: l.clone(),
    };
    let period = Duration::from_secs(3600);
    let j1 = router_scheduler::schedule::tick(&ctx(&l1), MaintenanceTask::TokenRefresh, period).await.unwrap();
    let j2 = router_scheduler::schedule::tick(&ctx(&l2), MaintenanceTask::TokenRefresh, period).await.unwrap();
    assert_eq!(j1.is_some() as u8 + j2.is_some() as u8, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while refresh_calls(&app).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the maintenance runner did not run the refresh");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(refresh_calls(&app).await, 1);

    // The leader stops: the standby takes over.
    let (leader, standby, lc) = if l1.is_leader() { (h1, l2.clone(), c1) } else { (h2, l1.clone(), c2) };
    lc.cancel();
    leader.await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while !standby.is_leader() {
        assert!(tokio::time::Instant::now() < deadline, "the standby did not take over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn rotate_keys_re_encrypts_everything_resumably_and_reports_unknown_versions() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    for i in 0..3 {
        app.connect_account(&key, &format!("1784140000000004{i}"), "acme", SECRET).await;
    }
    let key2 = format!("2:{}", router_core::crypto::b64(&[42u8; 32]));
    let prev = app.key_spec.clone();
    let new_ring = router_core::crypto::Keyring::parse(&key2, &prev).unwrap();

    // A value under a version nobody configured is reported, never overwritten.
    let stray = router_core::crypto::Keyring::parse(&format!("9:{}", router_core::crypto::b64(&[9u8; 32])), "")
        .unwrap()
        .encrypt("x");
    sqlx::query("update accounts set app_secret_enc = $1 where instagram_account_id = '17841400000000040'")
        .bind(&stray)
        .execute(&app.db)
        .await
        .unwrap();

    // "Crash" after one batch of one row, then resume.
    let first = router_core::lifecycle::rotate_keys(&app.db, &new_ring, 1, Some(1)).await.unwrap();
    assert!(first.incomplete);
    assert_eq!(first.rotated.values().sum::<u64>(), 1);
    let second = router_core::lifecycle::rotate_keys(&app.db, &new_ring, 1, None).await.unwrap();
    assert!(!second.incomplete);
    assert_eq!(second.rotated.values().sum::<u64>(), 5, "3 tokens + 3 endpoint secrets, minus the one done before");
    assert_eq!(second.failed.len(), 1);
    assert!(second.failed[0].2.contains("key version 9"), "{:?}", second.failed);
    let still: String =
        sqlx::query_scalar("select app_secret_enc from accounts where instagram_account_id = '17841400000000040'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(still, stray);

    // Everything else is under version 2 and readable with version 2 alone.
    let only_new = router_core::crypto::Keyring::parse(&key2, "").unwrap();
    let values: Vec<String> =
        sqlx::query_scalar("select access_token_enc from accounts union all select secret_enc from webhook_endpoints")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(values.len(), 6);
    for v in values {
        assert!(v.starts_with("2:"), "{v}");
        only_new.decrypt(&v).unwrap();
    }
}

#[tokio::test]
async fn row_level_security_isolates_every_tenant_table() {
    let app = TestApp::spawn().await;
    let mut tenants = Vec::new();
    for name in ["A", "B"] {
        let (merchant, key) = app.merchant_with_key(name).await;
        let ig = if name == "A" { "17841400000000001" } else { "17841400000000002" };
        let (account, _) = app.connect_account(&key, ig, name, SECRET).await;
        let account_id = account["account_id"].as_str().unwrap().to_owned();
        // Rows in every tenant table: inbound events, conversations, messages, history, jobs,
        // deliveries, attempts, idempotency keys, dead jobs.
        let body = router_tests::router_fakes::webhooks::envelope(
            ig,
            vec![router_tests::router_fakes::webhooks::text_message(
                ig,
                "1234567890",
                &format!("mid-{name}"),
                "hi",
                OffsetDateTime::now_utc(),
            )],
        );
        assert_eq!(app.post_meta(&body).await.status, 200);
        let r = app
            .post("/api/v1/messages/send", &key, &json!({"account_id": account_id, "recipient_id": "1234567890", "message": "x", "idempotency_key": "k"}))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        app.deliverer().run_until_idle().await.unwrap();
        tenants.push((merchant, account_id));
    }
    sqlx::query("insert into dead_jobs (job_id, kind, payload, merchant_id, attempts) select job_id, kind, payload, merchant_id, attempts from jobs")
        .execute(&app.db)
        .await
        .unwrap();
    let tables = [
        "merchants",
        "api_keys",
        "accounts",
        "webhook_endpoints",
        "conversations",
        "outbound_messages",
        "message_events",
        "inbound_events",
        "webhook_deliveries",
        "delivery_attempts",
        "idempotency_keys",
        "jobs",
        "dead_jobs",
    ];
    let (a, b) = (tenants[0].0, tenants[1].0);
    for t in tables {
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from {t} where merchant_id = $1"))
            .bind(b)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert!(total > 0, "fixture: {t} has no row of B");
        // The API's role, merchant A's context, no WHERE clause.
        let mut tx = app.state.db.begin().await.unwrap();
        router_core::db::set_merchant_context(&mut tx, a).await.unwrap();
        let foreign: i64 = sqlx::query_scalar(&format!("select count(*) from {t} where merchant_id <> $1"))
            .bind(a)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(foreign, 0, "{t}: B's rows visible under A's context");
        let own: i64 = sqlx::query_scalar(&format!("select count(*) from {t}")).fetch_one(&mut *tx).await.unwrap();
        assert!(own > 0, "{t}: A sees its own rows");
        let upd = sqlx::query(&format!("update {t} set merchant_id = merchant_id where merchant_id = $1"))
            .bind(b)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(upd.rows_affected(), 0, "{t}: B's rows updatable under A's context");
        let del = sqlx::query(&format!("delete from {t} where merchant_id = $1")).bind(b).execute(&mut *tx).await;
        assert!(del.map(|r| r.rows_affected() == 0).unwrap_or(true), "{t}: B's rows deletable under A's context");
        tx.rollback().await.unwrap();
        // No context at all: nothing.
        let mut tx = app.state.db.begin().await.unwrap();
        let none: i64 = sqlx::query_scalar(&format!("select count(*) from {t}")).fetch_one(&mut *tx).await.unwrap();
        assert_eq!(none, 0, "{t}: rows visible without a merchant context");
        tx.rollback().await.unwrap();
    }
    // Writing a row for B under A's context is refused by the policy's WITH CHECK.
    let mut tx = app.state.db.begin().await.unwrap();
    router_core::db::set_merchant_context(&mut tx, a).await.unwrap();
    let err = sqlx::query(
        "insert into conversations (conversation_id, merchant_id, account_id, contact_igsid) values ($1, $2, $3, '9')",
    )
    .bind(Uuid::now_v7())
    .bind(b)
    .bind(tenants[1].1.parse::<Uuid>().unwrap())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    // The API role cannot switch RLS off.
    let role: (String, bool) =
        sqlx::query_as("select current_user::text, rolbypassrls from pg_roles where rolname = current_user")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(role, ("router_app".to_owned(), false));
}

#[tokio::test]
async fn erasing_a_contact_removes_message_content_but_keeps_ids_and_statuses() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap();
    let contact = "1234567890";
    let body = router_tests::router_fakes::webhooks::envelope(
        IG,
        vec![router_tests::router_fakes::webhooks::text_message(
            IG,
            contact,
            "m1",
            "my phone is 555-0100",
            OffsetDateTime::now_utc(),
        )],
    );
    assert_eq!(app.post_meta(&body).await.status, 200);
    let sent = app.send_text(&key, account_id, contact, "we will call 555-0100").await.json["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.sender().run_until_idle().await.unwrap();
    let pending = app.send_text(&key, account_id, contact, "not sent yet 555-0100").await.json["message_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app.delete(&format!("/api/v1/accounts/{account_id}/contacts/{contact}"), &key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["cancelled_messages"], 1);
    assert_eq!(r.json["outbound_messages"], 2);
    assert_eq!(r.json["inbound_events"], 1);

    let dump: String = sqlx::query_scalar(
        "select concat_ws(' ', (select string_agg(t::text, ' ') from outbound_messages t), (select string_agg(t::text, ' ') from inbound_events t),
                          (select string_agg(payload, ' ') from webhook_deliveries))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!dump.contains("555-0100"), "{dump}");
    assert_eq!(app.status_of(&key, &sent).await["status"], "delivered", "statuses are kept");
    let st = app.status_of(&key, &pending).await;
    assert_eq!((st["status"].as_str(), st["error"]["code"].as_str()), (Some("failed"), Some("contact_erased")));
    let failed: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries where event_type = 'message.failed'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failed, 1, "the CRM hears about the cancelled message");
    // The cancelled message's job ends without sending.
    app.sender().run_until_idle().await.unwrap();
    assert_eq!(app.graph.sent().len(), 1);
}

#[tokio::test]
async fn the_retention_job_erases_content_older_than_the_configured_days() {
    let app = TestApp::spawn_with(|v| {
        v.insert("RETENTION_DAYS".into(), "30".into());
    })
    .await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap();
    for (mid, text) in [("old", "old secret text"), ("new", "fresh text")] {
        let body = router_tests::router_fakes::webhooks::envelope(
            IG,
            vec![router_tests::router_fakes::webhooks::text_message(
                IG,
                "1234567890",
                mid,
                text,
                OffsetDateTime::now_utc(),
            )],
        );
        app.post_meta(&body).await;
    }
    app.send_text(&key, account_id, "1234567890", "old outbound text").await;
    app.sender().run_until_idle().await.unwrap();
    app.deliverer().run_until_idle().await.unwrap();
    sqlx::query("update inbound_events set created_at = now() - interval '31 days' where instagram_message_id = 'old'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update outbound_messages set created_at = now() - interval '31 days'").execute(&app.db).await.unwrap();
    sqlx::query(
        "update webhook_deliveries set created_at = now() - interval '31 days' where payload like '%old secret text%'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    // A delivery redacted before deliveries recorded when (migration 000061): taken once more
    // and stamped.
    sqlx::query(
        r"update webhook_deliveries set payload = (payload::jsonb || jsonb_build_object('content_erased', true))::text
           where payload like '%fresh text%'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "update webhook_deliveries set created_at = now() - interval '40 days' where payload like '%fresh text%'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    run_maintenance(&app, "retention").await;
    let unstamped: Vec<(String, String)> = sqlx::query_as(
        "select event_type, status from webhook_deliveries where created_at < now() - interval '30 days' and content_erased_at is null",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(unstamped.is_empty(), "every old finished delivery is stamped: {unstamped:?}");
    let dump: String = sqlx::query_scalar(
        "select concat_ws(' ', (select string_agg(t::text, ' ') from outbound_messages t), (select string_agg(t::text, ' ') from inbound_events t),
                          (select string_agg(payload, ' ') from webhook_deliveries))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!dump.contains("old secret text") && !dump.contains("old outbound text"), "{dump}");
    assert!(dump.contains("fresh text"), "recent content is kept");
}

#[tokio::test]
async fn a_periodic_task_runs_once_per_slot_even_after_its_job_finished() {
    let app = TestApp::spawn().await;
    let leadership = router_scheduler::leader::Leadership::default();
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(leadership.clone().run(app.config.database_url.clone(), Duration::from_millis(100), cancel.clone()));
    while !leadership.is_leader() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ctx = router_scheduler::schedule::SchedulerContext {
        db: app.db.clone(),
        config: Arc::new(app.config.clone()),
        leadership,
    };
    let period = Duration::from_secs(3600);
    assert!(router_scheduler::schedule::tick(&ctx, MaintenanceTask::Retention, period).await.unwrap().is_some());
    app.worker().with_kinds(&[kinds::MAINTENANCE]).run_until_idle().await.unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from jobs").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0, "the job ran and was deleted");
    // Later ticks of the same hour do nothing.
    assert!(router_scheduler::schedule::tick(&ctx, MaintenanceTask::Retention, period).await.unwrap().is_none());
    cancel.cancel();
}

#[tokio::test]
async fn an_account_connected_without_an_endpoint_gets_one_with_put_and_reconnecting_rotates_the_secret() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    app.graph.set_sandbox_account(IG, "acme_shop");
    let start = app.get("/api/v1/oauth/instagram/start", &key).await;
    let r = get_json(&app, &authorize(&app, start.json["authorize_url"].as_str().unwrap()).await).await;
    let id = r.json["account_id"].as_str().unwrap().to_owned();
    let acct = app.get(&format!("/api/v1/accounts/{id}"), &key).await;
    assert!(acct.json["crm_webhook_url"].is_null());
    app.put(&format!("/api/v1/accounts/{id}"), &key, &json!({"crm_webhook_url": app.crm.url("late")}))
        .await
        .assert_error(422, "validation_failed");
    let r = app
        .put(
            &format!("/api/v1/accounts/{id}"),
            &key,
            &json!({"crm_webhook_url": app.crm.url("late"), "webhook_secret": SECRET}),
        )
        .await;
    assert_eq!(r.json["webhook_status"], "active", "{}", r.text);
    assert_eq!(r.json["crm_webhook_url"], app.crm.url("late"));

    // Re-running OAuth with a URL keeps the old secret signing during the overlap.
    let start = app.get(&format!("/api/v1/oauth/instagram/start?crm_webhook_url={}", app.crm.url("late")), &key).await;
    let r = get_json(&app, &authorize(&app, start.json["authorize_url"].as_str().unwrap()).await).await;
    assert_eq!(r.json["account_id"], id.as_str(), "the same account, re-authenticated");
    let prev: Option<String> =
        sqlx::query_scalar("select previous_secret_enc from webhook_endpoints").fetch_one(&app.db).await.unwrap();
    assert_eq!(app.config.keyring.decrypt(&prev.unwrap()).unwrap().expose_secret(), SECRET);
}
