//! Several CRM endpoints per account (fan-out): every endpoint gets its own signed delivery, its
//! filter applies, and a dead endpoint delays no other.

use std::time::{Duration, Instant};

use router_tests::TestApp;
use router_tests::router_fakes::crm::Reply;
use router_tests::router_fakes::webhooks as meta;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000111";
const CUSTOMER: &str = "1234567890123111";

struct Setup {
    app: TestApp,
    key: String,
    account_id: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn_with(|v| {
        v.insert("WEBHOOK_RETRY_SCHEDULE".into(), "0.2,0.4,0.8,1.6,3.2".into());
        v.insert("WEBHOOK_TIMEOUT_SECS".into(), "1".into());
        v.insert("WEBHOOK_CIRCUIT_THRESHOLD".into(), "2".into());
        v.insert("WEBHOOK_CIRCUIT_OPEN_SECS".into(), "30".into());
        v.insert("WORKER_CONCURRENCY".into(), "8".into());
    })
    .await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "primary", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    Setup { app, key, account_id }
}

impl Setup {
    async fn add(&self, path: &str, secret: &str, events: Option<Value>) -> Value {
        self.add_with(path, secret, events, None).await
    }

    async fn add_with(&self, path: &str, secret: &str, events: Option<Value>, rate: Option<u32>) -> Value {
        self.app.crm.set_secrets(path, &[secret]);
        let mut body = json!({"url": self.app.crm.url(path), "secret": secret});
        if let Some(e) = events {
            body["event_types"] = e;
        }
        if let Some(r) = rate {
            // As a JSON float with no fraction: still a whole number.
            body["rate_limit"] = json!(f64::from(r));
        }
        let r = self.app.post(&format!("/api/v1/accounts/{}/endpoints", self.account_id), &self.key, &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    }

    async fn customer_writes(&self, mid: &str) {
        let r = self
            .app
            .post_meta(&meta::envelope(
                IG,
                vec![meta::text_message(IG, CUSTOMER, mid, "hello", OffsetDateTime::now_utc())],
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

#[tokio::test]
async fn every_endpoint_gets_its_own_signed_delivery_and_its_filter_applies() {
    let s = setup().await;
    let second = s.add("second", "whsec_c2Vjb25kLXNlY3JldC0wMTIzNDU2Nzg5", None).await;
    assert_eq!(second["is_primary"], false);
    s.add("statuses", "whsec_c3RhdHVzZXMtc2VjcmV0LTAxMjM0NTY3OA==", Some(json!(["message.sent"]))).await;

    s.customer_writes("m-1").await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let got = |path: &str| s.app.crm.received_on(path);
    for path in ["primary", "second"] {
        let r = got(path);
        assert_eq!(r.len(), 1, "{path}: {r:?}");
        assert_eq!(r[0].event(), "message.received");
        assert!(r[0].standard_signature_valid && r[0].hub_signature_valid, "{path}: signed with its own secret");
    }
    assert!(got("statuses").is_empty(), "its filter takes only message.sent");
    // One event id, one webhook-id per endpoint (each endpoint deduplicates on its own).
    let (a, b) = (&got("primary")[0], &got("second")[0]);
    assert_eq!(a.json["event_id"], b.json["event_id"]);
    assert_ne!(a.header("webhook-id"), b.header("webhook-id"));

    // The account API still shows the primary endpoint; the list shows all three.
    let account = s.app.get(&format!("/api/v1/accounts/{}", s.account_id), &s.key).await;
    assert_eq!(account.json["crm_webhook_url"], s.app.crm.url("primary"));
    let list = s.app.get(&format!("/api/v1/accounts/{}/endpoints", s.account_id), &s.key).await;
    let urls: Vec<&str> = list.json["data"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [s.app.crm.url("primary"), s.app.crm.url("second"), s.app.crm.url("statuses")]);

    // A removed endpoint receives nothing new; the primary cannot be removed here.
    let second_id = second["endpoint_id"].as_str().unwrap();
    let path = format!("/api/v1/accounts/{}/endpoints/{second_id}", s.account_id);
    assert_eq!(s.app.delete(&path, &s.key).await.status, 204);
    s.customer_writes("m-2").await;
    s.app.deliverer().run_until_idle().await.unwrap();
    assert_eq!((got("primary").len(), got("second").len()), (2, 1));
    let primary_id = list.json["data"][0]["endpoint_id"].as_str().unwrap();
    let r = s.app.delete(&format!("/api/v1/accounts/{}/endpoints/{primary_id}", s.account_id), &s.key).await;
    r.assert_error(409, "primary_endpoint");

    // Another merchant cannot see or add endpoints on the account.
    let (_, other) = s.app.merchant_with_key("Globex").await;
    let url = format!("/api/v1/accounts/{}/endpoints", s.account_id);
    s.app.get(&url, &other).await.assert_error(404, "not_found");
    let body = json!({"url": s.app.crm.url("x"), "secret": "whsec_other_secret_0123456789"});
    s.app.post(&url, &other, &body).await.assert_error(404, "not_found");
}

/// One of three endpoints dead (times out): the two others receive every event at once, in
/// order, and the dead one's circuit opens without holding them.
#[tokio::test]
async fn a_dead_endpoint_delays_neither_of_the_two_others() {
    let s = setup().await;
    s.add("second", "whsec_c2Vjb25kLXNlY3JldC0wMTIzNDU2Nzg5", None).await;
    s.add("dead", "whsec_ZGVhZC1zZWNyZXQtMDEyMzQ1Njc4OTAxMg==", None).await;
    s.app.crm.set_default("dead", Reply::status(200).delayed(Duration::from_secs(3)));
    for i in 0..10 {
        s.customer_writes(&format!("m-{i}")).await;
    }
    let cancel = CancellationToken::new();
    tokio::spawn(s.app.deliverer().run(cancel.clone()));
    let started = Instant::now();
    let app = &s.app;
    let both = app
        .drain_until(Duration::from_secs(10), async || {
            app.crm.received_on("primary").len() == 10 && app.crm.received_on("second").len() == 10
        })
        .await;
    let took = started.elapsed();
    assert!(both, "primary {} second {}", app.crm.received_on("primary").len(), app.crm.received_on("second").len());
    assert!(took < Duration::from_millis(2500), "the healthy endpoints were held up: {took:?}");
    for path in ["primary", "second"] {
        let mids: Vec<String> = app
            .crm
            .received_on(path)
            .iter()
            .map(|r| r.json["instagram_message_id"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("m-{i}")).collect();
        assert_eq!(mids, expected, "{path}: one conversation, in order");
    }
    // Two timeouts (1 s each, 0.2 s apart) open the dead endpoint's circuit.
    let app = &s.app;
    let opened = app
        .drain_until(Duration::from_secs(10), async || {
            sqlx::query_scalar::<_, bool>(
                "select count(*) = 1 from webhook_endpoints where account_id = $1::uuid and circuit_open_until > now()",
            )
            .bind(&s.account_id)
            .fetch_one(&app.db)
            .await
            .unwrap()
        })
        .await;
    cancel.cancel();
    assert!(opened, "the dead endpoint's circuit opened");
    let open: Vec<(String, bool)> = sqlx::query_as(
        "select url, coalesce(circuit_open_until > now(), false) from webhook_endpoints where account_id = $1::uuid order by url",
    )
    .bind(&s.account_id)
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    let dead_open = open.iter().find(|(u, _)| u.ends_with("/dead")).map(|(_, o)| *o);
    assert_eq!(dead_open, Some(true), "{open:?}");
    assert!(open.iter().filter(|(u, _)| !u.ends_with("/dead")).all(|(_, o)| !o), "{open:?}");
}

/// An endpoint's own rate: at most 2 attempts a second reach it, across the worker's parallel
/// runs, while the primary endpoint gets everything at once.
#[tokio::test]
async fn an_endpoint_with_a_rate_limit_is_paced_and_the_others_are_not() {
    let s = setup().await;
    let slow = s.add_with("paced", "whsec_c2Vjb25kLXNlY3JldC0wMTIzNDU2Nzg5", None, Some(2)).await;
    assert_eq!(slow["rate_limit"], 2);
    // Six conversations, so ordering does not serialise them: only the rate does.
    for i in 0..6 {
        let r = s
            .app
            .post_meta(&meta::envelope(
                IG,
                vec![meta::text_message(
                    IG,
                    &format!("12345678901231{i:02}"),
                    &format!("m-{i}"),
                    "hi",
                    OffsetDateTime::now_utc(),
                )],
            ))
            .await;
        assert_eq!(r.status, 200);
    }
    let cancel = CancellationToken::new();
    tokio::spawn(s.app.deliverer().run(cancel.clone()));
    let app = &s.app;
    assert!(app.drain_until(Duration::from_secs(10), async || app.crm.received_on("paced").len() == 6).await);
    cancel.cancel();
    let primary: Vec<Instant> = app.crm.received_on("primary").iter().map(|r| r.at).collect();
    let paced: Vec<Instant> = app.crm.received_on("paced").iter().map(|r| r.at).collect();
    assert_eq!(primary.len(), 6);
    let spread = |t: &[Instant]| t.iter().max().unwrap().duration_since(*t.iter().min().unwrap());
    assert!(spread(&primary) < Duration::from_millis(800), "primary {:?}", spread(&primary));
    // 6 attempts at 2 per sliding second: the last is at least 2 s after the first.
    assert!(spread(&paced) >= Duration::from_millis(1900), "paced {:?}", spread(&paced));
    let r = app
        .put(
            &format!("/api/v1/accounts/{}/endpoints/{}", s.account_id, slow["endpoint_id"].as_str().unwrap()),
            &s.key,
            &json!({"rate_limit": 0}),
        )
        .await;
    assert_eq!((r.status, r.json["rate_limit"].clone()), (200, Value::Null));
    let r = app
        .post(
            &format!("/api/v1/accounts/{}/endpoints", s.account_id),
            &s.key,
            &json!({"url": app.crm.url("x"), "secret": "whsec_c2Vjb25kLXNlY3JldC0wMTIzNDU2Nzg5", "rate_limit": 0}),
        )
        .await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("rate_limit")));
}
