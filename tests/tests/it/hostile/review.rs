//! Hostile-input review: "others like them" found after the 14 items of issue 11 were fixed.
//!
//! * A `router_test_` key shares no idempotency records with live keys: repeating a live key's
//!   idempotency key replays nothing and confirms nothing.
//! * Sandbox onboarding through OAuth does not confirm that a live account exists.
//! * A forged cursor outside Postgres's date range is a 422, not a 500.
//! * A client's `X-Request-Id` is echoed (and logged) only when it is a short plain token.
//! * Odd bodies, parameters and headers answer documented 4xx errors, never a 500.

use reqwest::Method;
use router_tests::router_fakes::graph::FakeGraph;
use router_tests::{Resp, SANDBOX_APP_SECRET, TestApp};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LIVE_IG: &str = "17841400000000701";
const SANDBOX_IG: &str = "17841400000000702";
const CUSTOMER: &str = "1234567890123456";
const ALL_SCOPES: [&str; 4] = ["messages:send", "messages:read", "accounts:read", "accounts:write"];

async fn resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Resp { status, headers, json: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

async fn test_key(app: &TestApp, merchant: Uuid) -> String {
    let r = app
        .post(
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            &app.admin_key,
            &json!({"name": "sandbox", "scopes": ALL_SCOPES, "environment": "test"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["key"].as_str().unwrap().to_owned()
}

async fn send_with_key(app: &TestApp, key: &str, account: &str, idem: &str) -> Resp {
    let body = json!({"account_id": account, "recipient_id": CUSTOMER, "message": "your order shipped"});
    let r = app
        .client
        .post(format!("{}/api/v1/messages/send", app.base))
        .bearer_auth(key)
        .header("idempotency-key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    resp(r).await
}

/// A test key that repeats a live key's idempotency key (same body, so the same request hash)
/// must neither get the live message's 202 replayed (its `message_id`, which the status API then
/// refuses, but the replay alone confirms the live send) nor a 409 that confirms the key was
/// used; on its own sandbox account it gets a new message of its own.
#[tokio::test]
async fn a_test_key_shares_no_idempotency_records_with_live_keys() {
    let app = TestApp::spawn().await;
    let merchant = app.create_merchant("Acme").await;
    let live_key = app.create_key(merchant, &ALL_SCOPES).await;
    let test_key = test_key(&app, merchant).await;
    let (live, _) = app.connect_account(&live_key, LIVE_IG, "live", SECRET).await;
    let (sandbox, _) = app.connect_account(&test_key, SANDBOX_IG, "sandbox", SECRET).await;
    let (live, sandbox) = (live["account_id"].as_str().unwrap(), sandbox["account_id"].as_str().unwrap());
    app.open_window(live, CUSTOMER, OffsetDateTime::now_utc()).await;
    app.open_window(sandbox, CUSTOMER, OffsetDateTime::now_utc()).await;

    let original = send_with_key(&app, &live_key, live, "order-42").await;
    assert_eq!(original.status, 202, "{}", original.text);

    // Same key, same body, test key: the live account does not exist for it.
    let probe = send_with_key(&app, &test_key, live, "order-42").await;
    assert_eq!(probe.status, 404, "a test key got the live message replayed: {}", probe.text);
    assert_eq!(probe.json["error"], "not_found", "{}", probe.text);
    assert!(!probe.text.contains(original.json["message_id"].as_str().unwrap()), "{}", probe.text);
    assert!(probe.header("idempotent-replayed").is_none());

    // Same key on its own sandbox account: a new message, not a 409 about the live key's use.
    let own = send_with_key(&app, &test_key, sandbox, "order-42").await;
    assert_eq!(own.status, 202, "{}", own.text);
    assert!(own.header("idempotent-replayed").is_none(), "{}", own.text);
    assert_ne!(own.json["message_id"], original.json["message_id"]);
    // Each environment still deduplicates its own retries.
    let again = send_with_key(&app, &test_key, sandbox, "order-42").await;
    assert_eq!((again.status, again.json["message_id"].clone()), (202, own.json["message_id"].clone()));
    let live_again = send_with_key(&app, &live_key, live, "order-42").await;
    assert_eq!(live_again.json["message_id"], original.json["message_id"]);
    assert_eq!(live_again.header("idempotent-replayed"), Some("true"));
    let n: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 2, "one live and one sandbox message");
}

/// The same two keys in one group-commit batch: the in-batch deduplication must not hand the
/// test key the live key's fresh 202 either.
#[tokio::test]
async fn a_test_key_racing_a_live_key_with_the_same_idempotency_key_gets_no_replay() {
    let app = TestApp::spawn().await;
    let merchant = app.create_merchant("Acme").await;
    let live_key = app.create_key(merchant, &ALL_SCOPES).await;
    let test_key = test_key(&app, merchant).await;
    let (live, _) = app.connect_account(&live_key, LIVE_IG, "live", SECRET).await;
    let live = live["account_id"].as_str().unwrap().to_owned();
    app.open_window(&live, CUSTOMER, OffsetDateTime::now_utc()).await;
    for round in 0..20 {
        let idem = format!("race-{round}");
        let (a, b) =
            tokio::join!(send_with_key(&app, &live_key, &live, &idem), send_with_key(&app, &test_key, &live, &idem));
        assert_eq!(a.status, 202, "{}", a.text);
        assert_eq!(b.status, 404, "round {round}: the test key got {} {}", b.status, b.text);
    }
}

/// Sandbox onboarding (a test key's OAuth) for an Instagram id that the merchant has connected
/// live: the answer must not confirm the live account (it was 400 `environment_mismatch`, "this
/// Instagram account is connected in the other environment"), and the live account is untouched.
#[tokio::test]
async fn sandbox_oauth_does_not_confirm_a_live_account() {
    let sandbox = FakeGraph::start(SANDBOX_APP_SECRET).await;
    let url = sandbox.url();
    let app = TestApp::spawn_with(move |v| {
        v.insert("SANDBOX_GRAPH_API_BASE_URL".into(), url);
    })
    .await;
    let merchant = app.create_merchant("Acme").await;
    let live_key = app.create_key(merchant, &ALL_SCOPES).await;
    let test_key = test_key(&app, merchant).await;
    let (live, live_token) = app.connect_account(&live_key, LIVE_IG, "live", SECRET).await;

    // The sandbox authorizes the live account's Instagram id.
    sandbox.set_sandbox_account(LIVE_IG, "guess");
    let start = app.get("/api/v1/oauth/instagram/start", &test_key).await;
    assert_eq!(start.status, 200, "{}", start.text);
    let r = app.client.get(start.json["authorize_url"].as_str().unwrap()).send().await.unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let callback = format!("{}{}?{}", app.base, loc.path(), loc.query().unwrap());
    let r = app.client.get(&callback).header("accept", "application/json").send().await.unwrap();
    let r = resp(r).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["error"], "oauth_exchange_failed", "{}", r.text);
    for tell in ["environment", "live", "already", "connected"] {
        assert!(!r.json["message"].as_str().unwrap().contains(tell), "{}", r.text);
    }

    // The live account kept its token, username and environment.
    let (sandboxed, username, token_enc): (bool, String, String) =
        sqlx::query_as("select sandbox, username, access_token_enc from accounts where account_id = $1")
            .bind(live["account_id"].as_str().unwrap().parse::<Uuid>().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!sandboxed);
    assert_eq!(username, format!("shop_{LIVE_IG}"));
    let token = app.config.keyring.decrypt(&token_enc).unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&token), live_token);
}

/// A cursor is opaque but client-supplied: one decoding to a date Postgres cannot store (year
/// −9999) must be the documented 422 naming `cursor`, not a 500 from the database.
#[tokio::test]
async fn a_cursor_outside_the_databases_date_range_is_a_422() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (acct, _) = app.connect_account(&key, LIVE_IG, "acme", SECRET).await;
    let id = acct["account_id"].as_str().unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let min = OffsetDateTime::from_unix_timestamp(-377_705_116_800).unwrap(); // -9999-01-01
    let cursors = [
        b64(&format!("{}|{}", min.unix_timestamp_nanos(), Uuid::nil())),
        b64(&format!("{}|{}", i128::from(-200_000_000_000i64) * 1_000_000_000, Uuid::nil())), // 4368 BC
    ];
    for cursor in &cursors {
        for path in [
            format!("/api/v1/messages?account_id={id}&recipient_id={CUSTOMER}&cursor={cursor}"),
            format!("/api/v1/webhook-deliveries?account_id={id}&cursor={cursor}"),
        ] {
            let r = app.get(&path, &key).await;
            r.assert_error(422, "validation_failed");
            assert!(r.text.contains("cursor"), "{path}: {}", r.text);
        }
        let r = app.get(&format!("/api/v1/admin/dlq/webhooks?cursor={cursor}"), &app.admin_key).await;
        r.assert_error(422, "validation_failed");
    }
}

/// `X-Request-Id` is the client's to choose (it correlates their logs with ours), but it is
/// echoed in the response, in the error body's `correlation_id` and in every log line of the
/// request: a 16 KB or multi-line value is replaced by a fresh id, a short token is kept.
#[tokio::test]
async fn an_oversized_or_odd_request_id_is_replaced() {
    let app = TestApp::spawn().await;
    let huge = "A".repeat(16 * 1024);
    for (bad, what) in [(huge.as_str(), "16 KiB"), ("abc def\"}{", "spaces and quotes"), ("", "empty")] {
        let r = app.client.get(format!("{}/api/v1/accounts", app.base)).header("x-request-id", bad).send().await;
        let r = resp(r.unwrap()).await;
        r.assert_error(401, "unauthorized");
        let echoed = r.header("x-request-id").unwrap_or_default().to_owned();
        assert!(Uuid::parse_str(&echoed).is_ok(), "{what}: echoed {} bytes", echoed.len());
        assert_eq!(r.json["correlation_id"], echoed.as_str(), "{what}");
    }
    let r = app
        .client
        .get(format!("{}/api/v1/accounts", app.base))
        .header("x-request-id", "crm-req_2024.11:42")
        .send()
        .await
        .unwrap();
    let r = resp(r).await;
    assert_eq!(r.header("x-request-id"), Some("crm-req_2024.11:42"));
    assert_eq!(r.json["correlation_id"], "crm-req_2024.11:42");
}

async fn raw(app: &TestApp, method: Method, path: &str, key: &str, ct: &str, body: Vec<u8>) -> Resp {
    let r = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(key)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    resp(r).await
}

/// Probes that hold: every odd body, parameter and header is a documented 4xx JSON error and
/// nothing is stored.
#[tokio::test]
async fn odd_bodies_parameters_and_headers_answer_documented_errors() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (acct, _) = app.connect_account(&key, LIVE_IG, "acme", SECRET).await;
    let id = acct["account_id"].as_str().unwrap().to_owned();
    app.open_window(&id, CUSTOMER, OffsetDateTime::now_utc()).await;
    let send = "/api/v1/messages/send";
    let ok = format!(r#""account_id":"{id}","recipient_id":"{CUSTOMER}","message":"hi""#);
    let deep = format!(r#"{{{ok},"metadata":{}1{}}}"#, "[".repeat(5000), "]".repeat(5000));
    let wide = format!(r#"{{{ok},"metadata":[{}0]}}"#, "0,".repeat(9_000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("application/json", format!(r#"{{{ok},"metadata":{{"n":1e400}}}}"#).into_bytes(), 400),
        ("application/json", format!(r#"{{{ok},"message":"again"}}"#).into_bytes(), 400),
        ("application/json", deep.into_bytes(), 400),
        ("application/json", wide.into_bytes(), 422),
        ("application/json", [b"{\"message\":\"\xff\xfe\"}".as_slice()].concat(), 400),
        ("application/json", format!(r#"{{{ok},"metadata":"\ud800"}}"#).into_bytes(), 400),
        ("text/plain", format!("{{{ok}}}").into_bytes(), 400),
        ("application/x-www-form-urlencoded", b"account_id=x".to_vec(), 400),
    ];
    for (ct, body, want) in cases {
        let r = raw(&app, Method::POST, send, &key, ct, body).await;
        assert_eq!(r.status, want, "{ct}: {}", r.text);
        assert!(r.json["error"].is_string() && r.json["correlation_id"].is_string(), "{}", r.text);
    }
    for q in ["limit=-1", "limit=0", "limit=101", "limit=99999999999999999999999", "limit=1e3", "cursor=%FF%FE"] {
        let r = app.get(&format!("/api/v1/messages?account_id={id}&recipient_id={CUSTOMER}&{q}"), &key).await;
        assert!(matches!(r.status, 400 | 422), "{q}: {}", r.text);
        assert!(r.json["error"].is_string(), "{q}: {}", r.text);
    }
    let body = json!({"account_id": id, "recipient_id": CUSTOMER, "message": "hi"});
    for idem in ["k".repeat(256), "é".to_owned(), "a b".to_owned()] {
        let r = app
            .client
            .post(format!("{}{send}", app.base))
            .bearer_auth(&key)
            .header("idempotency-key", reqwest::header::HeaderValue::from_bytes(idem.as_bytes()).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        resp(r).await.assert_error(422, "validation_failed");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0, "nothing odd was stored");
}
