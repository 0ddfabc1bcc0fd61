//! CRM webhook delivery: signatures, retries, DLQ, redrive, ordering, isolation, rotation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use router_core::domain::events;
use router_core::webhooks::{CrmEvent, enqueue_events};
use router_tests::router_fakes::crm::Reply;
use router_tests::{Resp, TestApp};
use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CUSTOMER: &str = "1234567890123456";

struct Setup {
    app: TestApp,
    key: String,
    merchant: Uuid,
    account_id: Uuid,
}

fn fast(v: &mut HashMap<String, String>) {
    v.insert("WEBHOOK_RETRY_SCHEDULE".into(), "0.2,0.4,0.8,1.6,3.2".into());
    v.insert("WEBHOOK_TIMEOUT_SECS".into(), "1".into());
}

async fn setup_with(path: &str, adjust: impl FnOnce(&mut HashMap<String, String>)) -> Setup {
    let app = TestApp::spawn_with(|v| {
        fast(v);
        adjust(v);
    })
    .await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, "17841400000000042", path, SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().parse().unwrap();
    Setup { app, key, merchant, account_id }
}

impl Setup {
    /// Enqueues a test event for `conversation` directly (as the send path or inbound would).
    async fn event(&self, conversation: &str, n: u32) -> Uuid {
        self.event_for(self.account_id, conversation, n).await
    }

    async fn event_for(&self, account_id: Uuid, conversation: &str, n: u32) -> Uuid {
        let mut tx = self.app.db.begin().await.unwrap();
        let ids = enqueue_events(
            &mut tx,
            &[CrmEvent {
                merchant_id: self.merchant,
                account_id,
                event_type: events::MESSAGE_RECEIVED,
                event_id: format!("test:{account_id}:{conversation}:{n}"),
                data: json!({"account_id": account_id, "sender_id": conversation, "message": format!("n{n}")}),
                conversation: Some(conversation.to_owned()),
            }],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        ids[0]
    }

    async fn delivery(&self, id: Uuid) -> Resp {
        let r = self.app.get(&format!("/api/v1/webhook-deliveries/{id}"), &self.key).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r
    }

    /// Runs a real worker in the background until the returned token is cancelled.
    fn run_worker(&self) -> CancellationToken {
        let cancel = CancellationToken::new();
        tokio::spawn(self.app.deliverer().run(cancel.clone()));
        cancel
    }
}

async fn wait_status(s: &Setup, id: Uuid, status: &str, timeout: Duration) -> Resp {
    let deadline = Instant::now() + timeout;
    loop {
        let r = s.delivery(id).await;
        if r.json["status"] == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn status_webhooks_carry_both_signature_schemes_verified_by_independent_code_and_the_reference_library() {
    let s = setup_with("acme", |_| {}).await;
    s.app.open_window(&s.account_id.to_string(), CUSTOMER, OffsetDateTime::now_utc()).await;
    let r = s.app.send_text(&s.key, &s.account_id.to_string(), CUSTOMER, "hello").await;
    let mid = r.json["message_id"].as_str().unwrap().to_owned();
    s.app.sender().run_until_idle().await.unwrap();
    s.app.deliverer().run_until_idle().await.unwrap();

    let got = s.app.crm.received_on("acme");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].event(), "message.sent", "sent arrives before delivered");
    assert_eq!(got[1].event(), "message.delivered");
    for d in &got {
        assert!(d.hub_signature_valid, "X-Hub-Signature-256");
        assert!(d.standard_signature_valid, "webhook-signature (our verifier)");
        assert!(d.reference_library_valid, "webhook-signature (standardwebhooks reference library)");
        assert_eq!(d.json["message_id"], mid.as_str());
        assert_eq!(d.json["account_id"], s.account_id.to_string());
        assert_eq!(d.json["recipient_id"], CUSTOMER);
        assert!(d.json["instagram_message_id"].is_string());
        assert!(d.json["event_id"].is_string() && d.json["timestamp"].is_string());
        assert!(d.header("webhook-id").unwrap().starts_with("msg_"));
        let ts: i64 = d.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!((OffsetDateTime::now_utc().unix_timestamp() - ts).abs() < 60);
        assert_eq!(d.header("content-type"), Some("application/json"));
    }
    assert_ne!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    let id: Uuid = sqlx::query_scalar("select delivery_id from webhook_deliveries where event_type = 'message.sent'")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(got[0].header("webhook-id").unwrap(), format!("msg_{}", id.simple()));
    // A receiver with the wrong secret rejects it.
    s.app.crm.set_secrets("acme", &["whsec_c29tZXRoaW5nIGVsc2UgZW50aXJlbHk="]);
    let e = s.event("x", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let last = s.app.crm.received_on("acme").pop().unwrap();
    assert!(!last.hub_signature_valid && !last.standard_signature_valid && !last.reference_library_valid);
    let _ = e;
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_with_a_stable_webhook_id_and_every_attempt_logged() {
    let s = setup_with("acme", |_| {}).await;
    s.app.crm.push_replies("acme", Reply::status(500), 2);
    s.app.crm.push_replies("acme", Reply::status(302), 1);
    let id = s.event("c1", 1).await;
    let stop = s.run_worker();
    let r = wait_status(&s, id, "delivered", Duration::from_secs(10)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "delivered", "{}", r.text);
    assert_eq!(r.json["attempts"], 4);

    let got = s.app.crm.received_on("acme");
    assert_eq!(got.len(), 4);
    let ids: std::collections::HashSet<_> = got.iter().map(|d| d.header("webhook-id").unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "webhook-id is stable across retries");
    assert!(got.iter().all(|d| d.body == got[0].body), "the same bytes every time");
    assert!(got.iter().all(|d| d.standard_signature_valid && d.hub_signature_valid));
    // Gaps follow the schedule 0.2, 0.4, 0.8 s (lower bounds; the worker may be a little late).
    for (i, min) in [0.2, 0.4, 0.8].iter().enumerate() {
        let gap = (got[i + 1].at - got[i].at).as_secs_f64();
        assert!(gap >= min - 0.02, "gap {i} = {gap}, expected ≥ {min}");
        assert!(gap < min + 1.0, "gap {i} = {gap}, expected ≈ {min}");
    }
    let log = r.json["attempts_log"].as_array().unwrap();
    let codes: Vec<i64> = log.iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [500, 500, 302, 200]);
    assert_eq!(log[2]["error_class"], "redirect", "3xx is a failure, not followed");
    assert!(log[0]["response_body"].as_str().unwrap().contains("500"));
    assert!(log.iter().all(|a| a["latency_ms"].as_i64().unwrap() >= 0));
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_goes_to_the_dlq_at_the_horizon() {
    let s = setup_with("down", |v| {
        v.insert("WEBHOOK_RETRY_SCHEDULE".into(), "0.1".into());
        v.insert("WEBHOOK_RETRY_HORIZON_SECS".into(), "2".into());
        v.insert("WEBHOOK_CIRCUIT_THRESHOLD".into(), "1000".into());
    })
    .await;
    s.app.crm.set_default("down", Reply::status(503));
    let id = s.event("c1", 1).await;
    let started = Instant::now();
    let stop = s.run_worker();
    let r = wait_status(&s, id, "dlq", Duration::from_secs(10)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "dlq", "{}", r.text);
    assert_eq!(r.json["dlq_reason"], "retries_exhausted");
    let elapsed = started.elapsed().as_secs_f64();
    assert!((1.9..6.0).contains(&elapsed), "dead-lettered after {elapsed} s; horizon is 2 s");
    // Extended retries with growing spacing: 0.1, then 0.2, 0.4, 0.8 (±20 %), then one at the horizon.
    let n = r.json["attempts"].as_i64().unwrap();
    assert!((4..=7).contains(&n), "{n} attempts");
    let got = s.app.crm.received_on("down");
    let last_gap = (got[got.len() - 1].at - got[0].at).as_secs_f64();
    assert!(last_gap >= 1.9, "the last attempt is at the horizon, got {last_gap}");
    let dlq = s.app.get("/api/v1/admin/dlq/webhooks", &s.app.admin_key).await;
    assert_eq!(dlq.json["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_scheduler_promotes_deliveries_stuck_past_the_horizon() {
    let s = setup_with("acme", |_| {}).await;
    let id = s.event("c1", 1).await;
    // A delivery whose first attempt was 25 h ago and that is waiting (e.g. behind an open circuit).
    sqlx::query("update webhook_deliveries set first_attempt_at = now() - interval '25 hours', attempts = 9 where delivery_id = $1")
        .bind(id)
        .execute(&s.app.db)
        .await
        .unwrap();
    sqlx::query("update jobs set run_at = now() + interval '1 hour'").execute(&s.app.db).await.unwrap();
    let mut conn = s.app.db.acquire().await.unwrap();
    let moved = router_core::db::deliveries::promote_expired(&mut conn, 86_400.0, 100).await.unwrap();
    assert_eq!(moved, 1);
    let r = s.delivery(id).await;
    assert_eq!(r.json["status"], "dlq");
    assert_eq!(r.json["dlq_reason"], "retries_exhausted");
    let jobs: i64 = sqlx::query_scalar("select count(*) from jobs").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(jobs, 0, "its job is gone");
}

#[tokio::test]
async fn auth_errors_go_straight_to_the_dlq_and_410_disables_the_endpoint() {
    let s = setup_with("acme", |_| {}).await;
    s.app.crm.push_replies("acme", Reply::status(401), 1);
    let id = s.event("c1", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let r = s.delivery(id).await;
    assert_eq!(r.json["status"], "dlq");
    assert_eq!(r.json["dlq_reason"], "auth_error");
    assert_eq!(r.json["attempts"], 1);
    assert_eq!(s.app.crm.received_on("acme").len(), 1, "no retry after 401");

    s.app.crm.push_replies("acme", Reply::status(410), 1);
    let gone = s.event("c2", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    assert_eq!(s.delivery(gone).await.json["dlq_reason"], "endpoint_gone");
    let acct = s.app.get(&format!("/api/v1/accounts/{}", s.account_id), &s.key).await;
    assert_eq!(acct.json["webhook_status"], "disabled");
    assert!(s.app.state.metrics.render().contains("router_webhook_endpoints_disabled_total"));
    // Later events are not sent to a disabled endpoint.
    let later = s.event("c3", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    assert_eq!(s.delivery(later).await.json["dlq_reason"], "endpoint_disabled");
    assert_eq!(s.app.crm.received_on("acme").len(), 2);
    // Pointing the account at a (new) URL re-enables it.
    let r = s
        .app
        .put(&format!("/api/v1/accounts/{}", s.account_id), &s.key, &json!({"crm_webhook_url": s.app.crm.url("acme")}))
        .await;
    assert_eq!(r.json["webhook_status"], "active");
}

#[tokio::test]
async fn retry_after_is_honoured_on_429_and_503() {
    let s = setup_with("busy", |_| {}).await;
    s.app.crm.push_replies("busy", Reply::status(429).retry_after("2"), 1);
    let id = s.event("c1", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let r = s.delivery(id).await;
    assert_eq!(r.json["status"], "pending");
    let next = OffsetDateTime::parse(
        r.json["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = (next - OffsetDateTime::now_utc()).as_seconds_f64();
    assert!(wait > 1.5 && wait <= 2.1, "Retry-After 2 s honoured over the 0.2 s schedule: {wait}");
    // An absurd Retry-After is clamped to an hour.
    s.app.crm.push_replies("busy", Reply::status(503).retry_after("999999"), 1);
    let id2 = s.event("c2", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let r = s.delivery(id2).await;
    let next = OffsetDateTime::parse(
        r.json["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = (next - OffsetDateTime::now_utc()).as_seconds_f64();
    assert!(wait > 3500.0 && wait <= 3600.5, "{wait}");
}

#[tokio::test]
async fn a_retrying_event_holds_back_its_conversation_only() {
    let s = setup_with("acme", |_| {}).await;
    s.app.crm.push_replies("acme", Reply::status(500), 2);
    let a1 = s.event("conv-a", 1).await;
    let a2 = s.event("conv-a", 2).await;
    let b1 = s.event("conv-b", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    // a1 failed (retry pending), a2 waits behind it, b1 (other conversation) went through… but the
    // second scripted 500 may have hit b1: accept either order of the first two attempts.
    let first_round: Vec<String> =
        s.app.crm.received_on("acme").iter().map(|d| d.json["sender_id"].as_str().unwrap().to_owned()).collect();
    assert!(!first_round.iter().any(|c| c == "conv-a" && first_round.iter().filter(|x| *x == "conv-a").count() > 1));
    assert_eq!(s.delivery(a2).await.json["attempts"], 0, "a2 is not attempted while a1 retries");

    let stop = s.run_worker();
    wait_status(&s, a2, "delivered", Duration::from_secs(10)).await;
    wait_status(&s, b1, "delivered", Duration::from_secs(10)).await;
    stop.cancel();
    let order: Vec<(String, String)> = s
        .app
        .crm
        .received_on("acme")
        .iter()
        .filter(|d| d.status_returned == 200)
        .map(|d| (d.json["sender_id"].as_str().unwrap().to_owned(), d.json["message"].as_str().unwrap().to_owned()))
        .collect();
    let a_order: Vec<&str> = order.iter().filter(|(c, _)| c == "conv-a").map(|(_, m)| m.as_str()).collect();
    assert_eq!(a_order, ["n1", "n2"], "conversation order kept");
    assert_eq!(s.delivery(a1).await.json["status"], "delivered");
}

#[tokio::test]
async fn a_dead_or_slow_crm_does_not_delay_another_and_its_circuit_opens() {
    let s = setup_with("dead", |v| {
        v.insert("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT".into(), "2".into());
        v.insert("WEBHOOK_CIRCUIT_THRESHOLD".into(), "3".into());
        v.insert("WEBHOOK_CIRCUIT_OPEN_SECS".into(), "30".into());
        v.insert("WORKER_CONCURRENCY".into(), "8".into());
    })
    .await;
    // A second account of the same merchant, with a healthy CRM.
    let (healthy, _) = s.app.connect_account(&s.key, "17841400000000043", "healthy", SECRET).await;
    let healthy: Uuid = healthy["account_id"].as_str().unwrap().parse().unwrap();
    s.app.crm.set_default("dead", Reply::status(200).delayed(Duration::from_secs(3))); // times out (1 s)

    for i in 0..20 {
        s.event(&format!("dead-{i}"), 1).await;
    }
    let mut good = Vec::new();
    for i in 0..10 {
        good.push(s.event_for(healthy, &format!("ok-{i}"), 1).await);
    }
    let started = Instant::now();
    let stop = s.run_worker();
    for id in &good {
        let r = wait_status(&s, *id, "delivered", Duration::from_secs(10)).await;
        assert_eq!(r.json["status"], "delivered");
    }
    let healthy_time = started.elapsed();
    assert!(healthy_time < Duration::from_millis(1500), "healthy CRM delayed: {healthy_time:?}");

    // The dead endpoint's circuit opened after 3 failures; further deliveries wait without calls.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls_then = s.app.crm.received_on("dead").len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.cancel();
    let calls_later = s.app.crm.received_on("dead").len();
    assert!(calls_then <= 6, "at most the in-flight cap per round before the circuit opened: {calls_then}");
    assert_eq!(calls_then, calls_later, "no calls while the circuit is open");
    let open: Option<OffsetDateTime> =
        sqlx::query_scalar("select circuit_open_until from webhook_endpoints where account_id = $1")
            .bind(s.account_id)
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert!(open.unwrap() > OffsetDateTime::now_utc());
}

#[tokio::test]
async fn an_open_circuit_probes_once_and_closes_on_success() {
    let s = setup_with("flaky", |v| {
        v.insert("WEBHOOK_CIRCUIT_THRESHOLD".into(), "2".into());
        v.insert("WEBHOOK_CIRCUIT_OPEN_SECS".into(), "0.5".into());
    })
    .await;
    s.app.crm.push_replies("flaky", Reply::status(500), 2);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s.event(&format!("c{i}"), 1).await);
    }
    let stop = s.run_worker();
    for id in &ids {
        assert_eq!(wait_status(&s, *id, "delivered", Duration::from_secs(10)).await.json["status"], "delivered");
    }
    stop.cancel();
    let (failures, open): (i32, Option<OffsetDateTime>) =
        sqlx::query_as("select consecutive_failures, circuit_open_until from webhook_endpoints where account_id = $1")
            .bind(s.account_id)
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(failures, 0);
    assert!(open.is_none(), "closed after a successful probe");
}

#[tokio::test]
async fn dead_letters_are_listed_filtered_and_redriven_with_the_same_webhook_id_and_body() {
    let s = setup_with("acme", |_| {}).await;
    s.app.crm.push_replies("acme", Reply::status(403), 3);
    let ids = [s.event("c1", 1).await, s.event("c2", 1).await, s.event("c3", 1).await];
    s.app.deliverer().run_until_idle().await.unwrap();
    let first_bodies: Vec<Vec<u8>> = s.app.crm.received_on("acme").iter().map(|d| d.body.clone()).collect();
    let first_ids: Vec<String> =
        s.app.crm.received_on("acme").iter().map(|d| d.header("webhook-id").unwrap().to_owned()).collect();

    let admin = &s.app.admin_key;
    let list = s
        .app
        .get(&format!("/api/v1/admin/dlq/webhooks?merchant_id={}&reason=auth_error&limit=2", s.merchant), admin)
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json["data"].as_array().unwrap().len(), 2);
    let cursor = list.json["next_cursor"].as_str().unwrap();
    let rest = s.app.get(&format!("/api/v1/admin/dlq/webhooks?limit=2&cursor={cursor}"), admin).await;
    assert_eq!(rest.json["data"].as_array().unwrap().len(), 1);
    assert!(rest.json["next_cursor"].is_null());
    let none = s.app.get("/api/v1/admin/dlq/webhooks?reason=retries_exhausted", admin).await;
    assert!(none.json["data"].as_array().unwrap().is_empty());
    let by_type = s.app.get("/api/v1/admin/dlq/webhooks?event_type=message.received", admin).await;
    assert_eq!(by_type.json["data"].as_array().unwrap().len(), 3);
    // Merchant keys cannot see the platform DLQ.
    s.app.get("/api/v1/admin/dlq/webhooks", &s.key).await.assert_error(403, "forbidden");

    // One redrive, then the rest in bulk.
    let r = s.app.post(&format!("/api/v1/admin/dlq/webhooks/{}/retry", ids[0]), admin, &json!({})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["requeued"], 1);
    s.app
        .post(&format!("/api/v1/admin/dlq/webhooks/{}/retry", ids[0]), admin, &json!({}))
        .await
        .assert_error(404, "not_found");
    let bulk = s
        .app
        .post("/api/v1/admin/dlq/webhooks/retry", admin, &json!({"merchant_id": s.merchant, "reason": "auth_error"}))
        .await;
    assert_eq!(bulk.json["requeued"], 2, "{}", bulk.text);

    s.app.deliverer().run_until_idle().await.unwrap();
    let all = s.app.crm.received_on("acme");
    assert_eq!(all.len(), 6);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(s.delivery(*id).await.json["status"], "delivered");
        let again = all[3..].iter().find(|d| d.header("webhook-id") == Some(first_ids[i].as_str())).expect("redriven");
        assert_eq!(again.body, first_bodies[i], "payload unchanged");
        assert!(again.standard_signature_valid);
    }
}

#[tokio::test]
async fn a_dead_letter_is_redriven_by_the_webhook_id_the_crm_saw_as_well_as_by_its_uuid() {
    let s = setup_with("acme", |_| {}).await;
    s.app.crm.push_replies("acme", Reply::status(403), 2);
    let ids = [s.event("c1", 1).await, s.event("c2", 1).await];
    s.app.deliverer().run_until_idle().await.unwrap();
    let seen: Vec<String> =
        s.app.crm.received_on("acme").iter().map(|d| d.header("webhook-id").unwrap().to_owned()).collect();
    let admin = &s.app.admin_key;

    // The list says which id is which: `delivery_id` is the UUID, `webhook_id` the header's value.
    let list = s.app.get("/api/v1/admin/dlq/webhooks", admin).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let entries = list.json["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        let uuid: uuid::Uuid = e["delivery_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(e["webhook_id"], format!("msg_{}", uuid.simple()));
        assert!(seen.contains(&e["webhook_id"].as_str().unwrap().to_owned()), "the CRM saw this webhook-id");
    }

    // By the webhook-id the CRM logged…
    let by_header = seen.iter().find(|w| **w == format!("msg_{}", ids[0].simple())).unwrap();
    let r = s.app.post(&format!("/api/v1/admin/dlq/webhooks/{by_header}/retry"), admin, &json!({})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["delivery_ids"], json!([ids[0]]));
    // …and by the UUID (the second one; the first is no longer dead).
    let r = s.app.post(&format!("/api/v1/admin/dlq/webhooks/{}/retry", ids[1]), admin, &json!({})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["delivery_ids"], json!([ids[1]]));
    s.app
        .post(&format!("/api/v1/admin/dlq/webhooks/{by_header}/retry"), admin, &json!({}))
        .await
        .assert_error(404, "not_found");
    // Neither form: a 400 naming the parameter.
    for bad in ["msg_123", "msg_zz", "0190"] {
        let r = s.app.post(&format!("/api/v1/admin/dlq/webhooks/{bad}/retry"), admin, &json!({})).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(r.json["details"]["field"], "id", "{}", r.text);
    }
    s.app.deliverer().run_until_idle().await.unwrap();
    for id in ids {
        assert_eq!(s.delivery(id).await.json["status"], "delivered");
    }
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_old_one_during_the_overlap() {
    let s = setup_with("acme", |_| {}).await;
    let new_secret = "whsec_bmV3IHNlY3JldCBmb3IgdGhlIGNybSBlbmRwb2ludA==";
    let r =
        s.app.put(&format!("/api/v1/accounts/{}", s.account_id), &s.key, &json!({"webhook_secret": new_secret})).await;
    assert_eq!(r.status, 200);

    // A CRM still on the old secret verifies both schemes…
    s.app.crm.set_secrets("acme", &[SECRET]);
    s.event("c1", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let d = s.app.crm.received_on("acme").pop().unwrap();
    assert!(d.standard_signature_valid && d.reference_library_valid && d.hub_signature_valid);
    assert_eq!(d.header("webhook-signature").unwrap().split(' ').count(), 2);
    // …and one already on the new secret verifies Standard Webhooks and X-Hub-Signature-256-Next.
    let next = d.header("x-hub-signature-256-next").unwrap().to_owned();
    assert!(router_tests::router_fakes::crm::verify_hub(&[new_secret.to_owned()], &d.body, Some(&next)));
    s.app.crm.set_secrets("acme", &[new_secret]);
    s.event("c2", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let d = s.app.crm.received_on("acme").pop().unwrap();
    assert!(d.standard_signature_valid && d.reference_library_valid);

    // After the overlap only the new secret signs.
    sqlx::query("update webhook_endpoints set previous_secret_expires_at = now() - interval '1 second'")
        .execute(&s.app.db)
        .await
        .unwrap();
    s.event("c3", 1).await;
    s.app.deliverer().run_until_idle().await.unwrap();
    let d = s.app.crm.received_on("acme").pop().unwrap();
    assert_eq!(d.header("webhook-signature").unwrap().split(' ').count(), 1);
    assert!(d.hub_signature_valid && d.standard_signature_valid);
    assert!(d.header("x-hub-signature-256-next").is_none());
}

#[tokio::test]
async fn the_event_filter_limits_what_is_delivered_and_merchants_see_only_their_deliveries() {
    let s = setup_with("acme", |_| {}).await;
    s.app.put(&format!("/api/v1/accounts/{}", s.account_id), &s.key, &json!({"event_types": ["message.failed"]})).await;
    s.app.open_window(&s.account_id.to_string(), CUSTOMER, OffsetDateTime::now_utc()).await;
    s.app.send_text(&s.key, &s.account_id.to_string(), CUSTOMER, "hello").await;
    s.app.sender().run_until_idle().await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 0, "message.sent / delivered are filtered out");

    s.app.put(&format!("/api/v1/accounts/{}", s.account_id), &s.key, &json!({"event_types": []})).await;
    let id = s.event("c1", 1).await;
    let list = s.app.get(&format!("/api/v1/webhook-deliveries?account_id={}", s.account_id), &s.key).await;
    assert_eq!(list.json["data"][0]["delivery_id"], id.to_string());
    let (_, other) = s.app.merchant_with_key("Other").await;
    s.app.get(&format!("/api/v1/webhook-deliveries/{id}"), &other).await.assert_error(404, "not_found");
}
