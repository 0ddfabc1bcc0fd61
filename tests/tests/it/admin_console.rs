//! The admin console (`/admin`) over HTTP: sessions, permissions shared with the REST API, and
//! every page's actions reaching the same rows and peers as the API. The browser tests
//! (`admin_browser`) drive the same flows through real Chromium.

use std::time::Duration;

use router_tests::TestApp;
use router_tests::console::{Console, input_value, set_cookie};
use router_tests::router_fakes::crm::Reply;
use router_tests::router_fakes::webhooks;
use serde_json::json;
use sha2::Digest;
use time::OffsetDateTime;
use uuid::Uuid;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A merchant with a key and one connected account whose CRM path is `path`.
pub async fn merchant_with_account(app: &TestApp, name: &str, ig: &str, path: &str) -> (Uuid, String, String) {
    let (m, key) = app.merchant_with_key(name).await;
    let (account, _) = app.connect_account(&key, ig, path, SECRET).await;
    (m, key, account["account_id"].as_str().unwrap().to_owned())
}

/// A customer DM to `ig` from `sender`, delivered by a worker run; returns the delivery id.
pub async fn customer_dm(app: &TestApp, ig: &str, sender: &str, text: &str) -> Uuid {
    let mid = format!("m_{}", Uuid::new_v4().simple());
    let body = webhooks::envelope(ig, vec![webhooks::text_message(ig, sender, &mid, text, OffsetDateTime::now_utc())]);
    assert_eq!(app.post_meta(&body).await.status, 200);
    app.deliverer().run_until_idle().await.unwrap();
    sqlx::query_scalar("select delivery_id from webhook_deliveries where event_id = $1")
        .bind(format!("mid:{mid}"))
        .fetch_one(&app.db)
        .await
        .expect("a delivery for the DM")
}

async fn delivery_status(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("select status from webhook_deliveries where delivery_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn signing_in_opens_a_server_side_session_and_signing_out_ends_it() {
    let app = TestApp::spawn().await;
    // No session: the console sends the browser to the sign-in page, remembering where it was.
    let anon = Console::anonymous(&app);
    let r = anon.get("/admin/accounts?status=error").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/admin/login?next=%2Fadmin%2Faccounts%3Fstatus%3Derror"));

    let mut c = Console::anonymous(&app);
    let signed = c.try_sign_in(&app.admin_key).await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.header("location"), Some("/admin"));
    let cookie = set_cookie(&signed, "router_admin_session").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=28800"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain-http development keeps the cookie usable");
    // Only a hash of the token is stored, for the admin key, with an expiry.
    let token = c.cookie.as_ref().unwrap().split_once('=').unwrap().1.to_owned();
    let (hash, key_id, ttl): (Vec<u8>, Uuid, f64) = sqlx::query_as(
        "select token_hash, api_key_id, extract(epoch from expires_at - now())::float8 from admin_sessions",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(hash, sha2::Sha256::digest(token.as_bytes()).to_vec());
    assert_eq!(key_id, app.key_id(&app.admin_key).await);
    assert!((28_700.0..=28_800.0).contains(&ttl), "8 h session, got {ttl}");

    let home = c.get("/admin").await;
    assert_eq!(home.status, 200);
    assert!(home.text.contains("<h1>Overview</h1>") && home.text.contains("platform admin"));
    let csp = home.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    // Forms post here; Re-connect's redirect may go on to Instagram's login, and nowhere else.
    let graph_origin = app.graph.url();
    assert!(csp.contains(&format!("form-action 'self' {graph_origin};")), "{csp}");
    assert_eq!(home.header("x-frame-options"), Some("DENY"));
    assert_eq!(home.header("cache-control"), Some("no-store"));

    let out = c.post("/admin/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(set_cookie(&out, "router_admin_session").unwrap().contains("Max-Age=0"));
    let n: i64 = sqlx::query_scalar("select count(*) from admin_sessions").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0, "sign-out deletes the session");
    // The old cookie no longer opens anything.
    assert_eq!(c.get("/admin").await.status, 303);
}

#[tokio::test]
async fn a_bad_key_is_refused_and_failed_sign_ins_are_rate_limited_and_counted() {
    let app = TestApp::spawn().await;
    let metrics = app.get("/metrics", "").await.text;
    for result in ["success", "failure", "throttled"] {
        assert!(
            metrics.contains(&format!("router_admin_sign_ins_total{{result=\"{result}\"}}")),
            "{result} exported at zero"
        );
    }
    let mut c = Console::anonymous(&app);
    for n in 0..10 {
        let r = c.try_sign_in(&format!("router_live_{}", "x".repeat(40 + n))).await;
        assert_eq!(r.status, 401, "attempt {n}: {}", r.text);
        assert!(c.cookie.is_none());
    }
    // The 11th attempt from the same address is refused before the key is looked at, even a good one.
    let r = c.try_sign_in(&app.admin_key).await;
    assert_eq!(r.status, 429, "{}", r.text);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait));
    assert!(c.cookie.is_none());
    let metrics = app.get("/metrics", "").await.text;
    assert!(metrics.contains("router_admin_sign_ins_total{result=\"throttled\"}"));
    // A missing or wrong login token (login CSRF) is refused before anything else.
    let r = c.post_raw("/admin/login", format!("key={}", app.admin_key)).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn revoking_the_key_ends_its_console_sessions_at_once() {
    let app = TestApp::spawn().await;
    let (_, key, _) = merchant_with_account(&app, "Acme", "17841400000000001", "acme").await;
    let c = Console::sign_in(&app, &key).await;
    assert_eq!(c.get("/admin/accounts").await.status, 200);
    let id = app.key_id(&key).await;
    let r = app.delete(&format!("/api/v1/admin/api-keys/{id}"), &app.admin_key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.get("/admin/accounts").await.status, 303, "the session ended with its key");
    let left: i64 = sqlx::query_scalar("select count(*) from admin_sessions where api_key_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    // A session whose key expires ends too (no revocation needed).
    let (_, key2, _) = merchant_with_account(&app, "Beta", "17841400000000002", "beta").await;
    let c2 = Console::sign_in(&app, &key2).await;
    sqlx::query("update api_keys set expires_at = now() - interval '1 second' where api_key_id = $1")
        .bind(app.key_id(&key2).await)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(c2.get("/admin").await.status, 303);
}

#[tokio::test]
async fn a_merchant_sees_only_its_own_pages_and_another_merchants_ids_are_404() {
    let app = TestApp::spawn().await;
    let (_, key_a, acct_a) = merchant_with_account(&app, "Acme", "17841400000000001", "a").await;
    let (_, _key_b, acct_b) = merchant_with_account(&app, "Bravo", "17841400000000002", "b").await;
    let dm_b = customer_dm(&app, "17841400000000002", "5550001", "hello B").await;
    let conv_b: Uuid = sqlx::query_scalar("select conversation_id from conversations where account_id = $1::uuid")
        .bind(&acct_b)
        .fetch_one(&app.db)
        .await
        .unwrap();

    let a = Console::sign_in(&app, &key_a).await;
    let list = a.get("/admin/accounts").await;
    assert!(list.text.contains("shop_17841400000000001") && !list.text.contains("shop_17841400000000002"));
    assert_eq!(a.get(&format!("/admin/accounts/{acct_a}")).await.status, 200);
    for path in [
        format!("/admin/accounts/{acct_b}"),
        format!("/admin/deliveries/{dm_b}"),
        format!("/admin/conversations/{conv_b}"),
        "/admin/accounts/not-a-uuid".to_owned(),
    ] {
        let r = a.get(&path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert!(!r.text.contains("hello B") && !r.text.contains("17841400000000002"), "{path} leaks");
    }
    // Lists filtered to B's account show nothing of B's.
    let d = a.get(&format!("/admin/deliveries?account_id={acct_b}")).await;
    assert_eq!(d.status, 200);
    assert!(!d.text.contains(&dm_b.to_string()) && d.text.contains("No deliveries match."));
    let c = a.get(&format!("/admin/conversations?account_id={acct_b}")).await;
    assert!(!c.text.contains("5550001"));
    // Acting on B's account is 404 too, and changes nothing.
    for action in ["test-event", "status"] {
        let r = a.post(&format!("/admin/accounts/{acct_b}/{action}"), &[("status", "inactive")]).await;
        assert_eq!(r.status, 404, "{action}");
    }
    let st: String = sqlx::query_scalar("select status from accounts where account_id = $1::uuid")
        .bind(&acct_b)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(st, "active");
    // Platform pages are platform-only, as their REST endpoints.
    for path in ["/admin/dead-letters", "/admin/keys"] {
        assert_eq!(a.get(path).await.status, 403, "{path}");
    }
    assert_eq!(a.post("/admin/merchants", &[("name", "Evil")]).await.status, 403);
    assert!(!a.get("/admin").await.text.contains("/admin/keys"), "no platform links for merchants");
}

#[tokio::test]
async fn scopes_allow_lists_and_test_keys_apply_exactly_as_in_the_rest_api() {
    let app = TestApp::spawn().await;
    let (m, key, acct1) = merchant_with_account(&app, "Acme", "17841400000000001", "a").await;
    let (acct2, _) = app.connect_account(&key, "17841400000000003", "a2", SECRET).await;
    let acct2 = acct2["account_id"].as_str().unwrap().to_owned();

    // Only messages:send: no account pages (the REST API answers 403 for GET /accounts too).
    let send_only = app.create_key(m, &["messages:send"]).await;
    assert_eq!(app.get("/api/v1/accounts", &send_only).await.status, 403);
    let c = Console::sign_in(&app, &send_only).await;
    assert!(c.get("/admin").await.text.contains("no <code>accounts:read</code> scope"));
    assert_eq!(c.get("/admin/accounts").await.status, 403);
    assert_eq!(c.get("/admin/conversations").await.status, 403);

    // An allow-list of one account: the other is invisible (404), as on the API.
    let r = app
        .post(
            &format!("/api/v1/admin/merchants/{m}/api-keys"),
            &app.admin_key,
            &json!({"name": "one", "scopes": ["accounts:read", "messages:read"], "account_ids": [acct1]}),
        )
        .await;
    let limited = r.json["key"].as_str().unwrap().to_owned();
    let c = Console::sign_in(&app, &limited).await;
    let list = c.get("/admin/accounts").await;
    assert!(list.text.contains(&acct1) && !list.text.contains(&acct2));
    assert_eq!(c.get(&format!("/admin/accounts/{acct2}")).await.status, 404);
    assert_eq!(app.get(&format!("/api/v1/accounts/{acct2}"), &limited).await.status, 404);
    // accounts:read without accounts:write: no actions offered, and POSTs are refused.
    let page = c.get(&format!("/admin/accounts/{acct1}")).await;
    assert!(!page.text.contains("Send test event"));
    assert_eq!(c.post(&format!("/admin/accounts/{acct1}/status"), &[("status", "inactive")]).await.status, 403);

    // A test key sees sandbox accounts only: these live accounts are 404.
    let r = app
        .post(
            &format!("/api/v1/admin/merchants/{m}/api-keys"),
            &app.admin_key,
            &json!({"name": "t", "environment": "test", "scopes": ["accounts:read"]}),
        )
        .await;
    let test_key = r.json["key"].as_str().unwrap().to_owned();
    let c = Console::sign_in(&app, &test_key).await;
    assert!(!c.get("/admin/accounts").await.text.contains(&acct1));
    assert_eq!(c.get(&format!("/admin/accounts/{acct1}")).await.status, 404);
}

#[tokio::test]
async fn dead_letters_redriven_from_the_console_reach_the_crm_with_the_same_webhook_id() {
    let app = TestApp::spawn().await;
    merchant_with_account(&app, "Acme", "17841400000000001", "acme").await;
    app.crm.push_replies("acme", Reply::status(401), 3);
    let d1 = customer_dm(&app, "17841400000000001", "5550001", "one").await;
    let d2 = customer_dm(&app, "17841400000000001", "5550002", "two").await;
    let d3 = customer_dm(&app, "17841400000000001", "5550003", "three").await;
    for d in [d1, d2, d3] {
        assert_eq!(delivery_status(&app, d).await, "dlq");
    }
    let c = Console::sign_in(&app, &app.admin_key).await;
    let page = c.get("/admin/dead-letters?reason=auth_error").await;
    assert_eq!(page.status, 200);
    for d in [d1, d2, d3] {
        assert!(page.text.contains(&d.to_string()), "{d} listed");
    }
    // One, through the row's own button.
    let r = c.post("/admin/dead-letters/redrive?mode=one", &[("id", &d1.to_string())]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/admin/dead-letters?done=redrive&n=1"));
    assert!(c.get(r.header("location").unwrap()).await.text.contains("1 delivery(ies) re-enqueued"));
    // Selected.
    let r = c.post("/admin/dead-letters/redrive", &[("mode", "selected"), ("ids", &d2.to_string())]).await;
    assert_eq!(r.header("location"), Some("/admin/dead-letters?done=redrive&n=1"));
    // All matching a filter (here: what is left).
    let r = c.post("/admin/dead-letters/redrive", &[("mode", "filter"), ("reason", "auth_error")]).await;
    assert_eq!(r.header("location"), Some("/admin/dead-letters?reason=auth_error&done=redrive&n=1"));
    let r = c.post("/admin/dead-letters/redrive", &[("mode", "filter"), ("reason", "auth_error")]).await;
    assert_eq!(r.header("location"), Some("/admin/dead-letters?reason=auth_error&done=none"));

    app.deliverer().run_until_idle().await.unwrap();
    let got = app.crm.wait_for("acme", 6, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 6, "3 refused + 3 redriven");
    for d in [d1, d2, d3] {
        assert_eq!(delivery_status(&app, d).await, "delivered");
        let wid = format!("msg_{}", d.simple());
        let same: Vec<_> = got.iter().filter(|r| r.header("webhook-id") == Some(wid.as_str())).collect();
        assert_eq!(same.len(), 2, "the redrive keeps the webhook-id");
        assert_eq!(same[0].body, same[1].body, "and the body");
        assert!(same[1].hub_signature_valid && same[1].standard_signature_valid);
    }
}

#[tokio::test]
async fn a_key_created_in_the_console_is_shown_once_and_works_against_the_api() {
    let app = TestApp::spawn().await;
    let c = Console::sign_in(&app, &app.admin_key).await;
    let r = c.post("/admin/merchants", &[("name", "Acme")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let m: Uuid =
        sqlx::query_scalar("select merchant_id from merchants where name = 'Acme'").fetch_one(&app.db).await.unwrap();
    let r = c
        .post(
            "/admin/keys",
            &[
                ("merchant_id", &m.to_string()),
                ("name", "crm"),
                ("scopes", "accounts:read"),
                ("scopes", "accounts:write"),
                ("environment", "test"),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = input_value(&r.text, "key").unwrap();
    assert!(key.starts_with("router_test_"), "{key}");
    assert_eq!(app.get("/api/v1/accounts", &key).await.status, 200);
    assert_eq!(
        app.get("/api/v1/messages?account_id=00000000-0000-0000-0000-000000000000&recipient_id=1", &key).await.status,
        403,
        "scopes as chosen"
    );
    let (env, scopes): (String, Vec<String>) =
        sqlx::query_as("select environment, scopes from api_keys where name = 'crm'").fetch_one(&app.db).await.unwrap();
    assert_eq!((env.as_str(), scopes), ("test", vec!["accounts:read".to_owned(), "accounts:write".to_owned()]));
    // The list never shows it again.
    let list = c.get("/admin/keys").await;
    assert!(!list.text.contains(&key));
    // Invalid input is a 422 from the API's own validation.
    let r = c.post("/admin/keys", &[("merchant_id", &m.to_string()), ("name", "x")]).await;
    assert_eq!(r.status, 422, "no scopes: {}", r.text);
    let r = c
        .post(
            "/admin/keys",
            &[
                ("merchant_id", &m.to_string()),
                ("name", "x"),
                ("scopes", "accounts:read"),
                ("account_ids", &Uuid::new_v4().to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "foreign allow-list: {}", r.text);
    // Revoked from the console: the API refuses it at once.
    let id = app.key_id(&key).await;
    let r = c.post(&format!("/admin/keys/{id}/revoke"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.get("/api/v1/accounts", &key).await.status, 401);
}

#[tokio::test]
async fn account_actions_send_a_signed_test_event_and_disable_and_enable() {
    let app = TestApp::spawn().await;
    let (_, key, acct) = merchant_with_account(&app, "Acme", "17841400000000001", "acme").await;
    // An event filter that excludes everything but sent: the test event still goes out.
    let r = app.put(&format!("/api/v1/accounts/{acct}"), &key, &json!({"event_types": ["message.sent"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = Console::sign_in(&app, &key).await;
    let page = c.get(&format!("/admin/accounts/{acct}")).await;
    assert!(page.text.contains("Send test event") && page.text.contains("message.sent"));
    let r = c.post(&format!("/admin/accounts/{acct}/test-event"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(r.header("location").unwrap().contains("done=test_event&delivery="));
    app.deliverer().run_until_idle().await.unwrap();
    let got = app.crm.wait_for("acme", 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event(), "endpoint.test");
    assert!(got[0].hub_signature_valid && got[0].standard_signature_valid && got[0].reference_library_valid);

    let r = c.post(&format!("/admin/accounts/{acct}/status"), &[("status", "inactive")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.get(&format!("/api/v1/accounts/{acct}"), &key).await.json["status"], "inactive");
    let r = c.post(&format!("/admin/accounts/{acct}/status"), &[("status", "active")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.get(&format!("/api/v1/accounts/{acct}"), &key).await.json["status"], "active");
    assert_eq!(c.post(&format!("/admin/accounts/{acct}/status"), &[("status", "deleted")]).await.status, 422);
}

#[tokio::test]
async fn the_thread_view_shows_both_directions_with_history_errors_and_deliveries() {
    let app = TestApp::spawn().await;
    let (_, key, acct) = merchant_with_account(&app, "Acme", "17841400000000001", "acme").await;
    let dm = customer_dm(&app, "17841400000000001", "5550001", "Is the <b>red</b> one in stock?").await;
    let r = app.send_text(&key, &acct, "5550001", "Yes, size M").await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.drain_until(Duration::from_secs(5), async || app.crm.received_on("acme").len() >= 3).await;
    let c = Console::sign_in(&app, &key).await;
    let list = c.get(&format!("/admin/conversations?account_id={acct}")).await;
    assert!(list.text.contains("5550001") && list.text.contains("open window"));
    let conv: Uuid = sqlx::query_scalar("select conversation_id from conversations").fetch_one(&app.db).await.unwrap();
    let t = c.get(&format!("/admin/conversations/{conv}")).await;
    assert_eq!(t.status, 200);
    assert!(t.text.contains("Is the &lt;b&gt;red&lt;/b&gt; one in stock?"), "customer text, escaped");
    assert!(t.text.contains("Yes, size M"));
    assert!(t.text.contains("pending") && t.text.contains("sent"), "status history");
    assert!(t.text.contains(&format!("/admin/deliveries/{dm}")), "the DM's delivery is linked");
    assert!(t.text.contains("message.sent"), "the reply's status deliveries are linked");
    // The delivery page shows the attempt log without secrets.
    let d = c.get(&format!("/admin/deliveries/{dm}")).await;
    assert!(d.text.contains("HTTP 200") && d.text.contains(&format!("msg_{}", dm.simple())));
    assert!(!d.text.contains(SECRET) && !d.text.contains("MfKQ9r8"));
}

/// A link or redirect from another site arrives without the SameSite=Strict cookie: the console
/// reopens the same address from its own origin (a page that shows nothing else), once; any other
/// request without a session goes to the sign-in page as before.
#[tokio::test]
async fn a_cross_site_arrival_without_the_cookie_is_reopened_from_this_origin_once() {
    let app = TestApp::spawn().await;
    let path = "/admin/deliveries?status=dead";
    let get = |site: &'static str| app.client.get(format!("{}{path}", app.base)).header("sec-fetch-site", site).send();
    let r = get("cross-site").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = r.text().await.unwrap();
    assert!(body.contains(r#"<meta http-equiv="refresh" content="0;url=/admin/deliveries?status=dead">"#), "{body}");
    assert!(!body.contains("<nav"), "nothing of the console is shown");
    // The reopened request is same-origin: without a session it is the sign-in page as usual.
    for site in ["same-origin", "none"] {
        let r = get(site).await.unwrap();
        assert_eq!(r.status(), 303, "{site}");
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/admin/login?next="));
    }
    // Not for state-changing requests: a cross-site POST is 401 (and would need CSRF anyway).
    let r = app
        .client
        .post(format!("{}/admin/logout", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
