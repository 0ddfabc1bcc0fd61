//! Hostile-input tests: delivery (see docs/SECURITY.md). The CRM is the attacker here: it answers
//! with bodies too large to hold or not storable as text, or its DNS name turns into an internal
//! address between the check and the connection. The worker must stay up, keep its retry rules
//! and never connect where it checked it must not.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use router_core::domain::events;
use router_core::ssrf::{GuardedResolver, Lookup};
use router_core::webhooks::{CrmEvent, enqueue_events};
use router_tests::router_fakes::crm::{FakeCrm, Reply};
use router_tests::{Resp, TestApp};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Setup {
    app: TestApp,
    key: String,
    merchant: Uuid,
    account_id: Uuid,
}

async fn setup(path: &str, adjust: impl FnOnce(&mut HashMap<String, String>)) -> Setup {
    let app = TestApp::spawn_with(|v| {
        v.insert("WEBHOOK_RETRY_SCHEDULE".into(), "0.1".into());
        v.insert("WEBHOOK_TIMEOUT_SECS".into(), "2".into());
        v.insert("WEBHOOK_CIRCUIT_THRESHOLD".into(), "1000".into());
        adjust(v);
    })
    .await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, "17841400000000077", path, SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().parse().unwrap();
    Setup { app, key, merchant, account_id }
}

impl Setup {
    async fn event(&self) -> Uuid {
        let mut tx = self.app.db.begin().await.unwrap();
        let ids = enqueue_events(
            &mut tx,
            &[CrmEvent {
                merchant_id: self.merchant,
                account_id: self.account_id,
                event_type: events::MESSAGE_RECEIVED,
                event_id: format!("hostile:{}", Uuid::new_v4()),
                data: json!({"account_id": self.account_id, "sender_id": "1234", "message": "hi"}),
                conversation: Some("1234".to_owned()),
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

    async fn wait_status(&self, id: Uuid, status: &str, timeout: Duration) -> Resp {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.delivery(id).await;
            if r.json["status"] == status || Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A delivery worker whose CRM client resolves through `guard`.
    fn run_worker_with(&self, guard: Option<GuardedResolver>) -> CancellationToken {
        let mut ctx = self.app.job_context();
        if let Some(g) = guard {
            ctx = ctx.with_crm_resolver(g);
        }
        let runner = router_worker::runner(Arc::new(ctx)).with_kinds(&[router_core::jobs::kinds::DELIVER_WEBHOOK]);
        let cancel = CancellationToken::new();
        tokio::spawn(runner.run(cancel.clone()));
        cancel
    }

    async fn point_endpoint_at(&self, url: &str) {
        sqlx::query("update webhook_endpoints set url = $1 where account_id = $2")
            .bind(url)
            .bind(self.account_id)
            .execute(&self.app.db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_crm_answering_hundreds_of_megabytes_is_read_only_as_far_as_the_kept_four_kib() {
    let s = setup("huge", |v| {
        v.insert("WEBHOOK_TIMEOUT_SECS".into(), "20".into());
        v.insert("JOB_LEASE_SECS".into(), "30".into());
    })
    .await;
    const HUGE: u64 = 256 * 1024 * 1024;
    s.app.crm.push_replies("huge", Reply::status(200).endless(HUGE), 1);
    let id = s.event().await;
    let stop = s.run_worker_with(None);
    let r = s.wait_status(id, "delivered", Duration::from_secs(30)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "delivered", "{}", r.text);
    let log = r.json["attempts_log"].as_array().unwrap();
    assert_eq!(log.len(), 1);
    let kept = log[0]["response_body"].as_str().unwrap();
    assert_eq!(kept.len(), 4096, "exactly the kept prefix is stored");
    assert!(kept.bytes().all(|b| b == b'x'));
    // The worker hung up after its 4 KiB: the CRM could push only what fits in socket buffers.
    let streamed = s.app.crm.streamed_bytes();
    assert!(streamed < 32 * 1024 * 1024, "the CRM streamed {streamed} bytes of {HUGE} before the router hung up");
    assert!(log[0]["latency_ms"].as_i64().unwrap() < 5_000, "{}", log[0]);
}

#[tokio::test]
async fn a_crm_body_with_nul_and_invalid_utf8_is_stored_sanitised_and_the_retry_rules_hold() {
    let s = setup("nul", |_| {}).await;
    // NUL and invalid UTF-8 in the body, invalid UTF-8 in headers (Retry-After included).
    let hostile = Reply::status(503)
        .body(b"bad\0gateway \xff\xfe end".to_vec())
        .header("x-crm-note", b"\xff\xfe")
        .header("retry-after", b"\xff1");
    s.app.crm.push_replies("nul", hostile, 1);
    s.app.crm.push_replies("nul", Reply::status(200).body(b"ok\0".to_vec()), 1);
    let id = s.event().await;
    let stop = s.run_worker_with(None);
    let r = s.wait_status(id, "delivered", Duration::from_secs(10)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "delivered", "{}", r.text);
    assert_eq!(r.json["attempts"], 2, "{}", r.text);
    let log = r.json["attempts_log"].as_array().unwrap();
    let bodies: Vec<Option<&str>> = log.iter().map(|a| a["response_body"].as_str()).collect();
    assert_eq!(
        bodies,
        [Some("bad\u{FFFD}gateway \u{FFFD}\u{FFFD} end"), Some("ok\u{FFFD}")],
        "NUL and invalid UTF-8 are stored as U+FFFD"
    );
    assert_eq!(s.app.crm.received_on("nul").len(), 2);
}

/// Makes the attempt log refuse rows: every row, or only rows carrying a response body.
async fn break_attempt_log(app: &TestApp, only_with_body: bool) {
    let cond = if only_with_body { "new.response_body is not null" } else { "true" };
    sqlx::raw_sql(&format!(
        "create function refuse_attempt() returns trigger language plpgsql as $$
         begin if {cond} then raise exception 'attempt log refuses this row'; end if; return new; end $$;
         create trigger refuse_attempt before insert on delivery_attempts
            for each row execute function refuse_attempt();"
    ))
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn when_the_attempt_log_refuses_every_row_the_delivery_still_reaches_the_dlq_at_its_horizon() {
    let s = setup("down", |v| {
        v.insert("WEBHOOK_RETRY_HORIZON_SECS".into(), "2".into());
    })
    .await;
    break_attempt_log(&s.app, false).await;
    s.app.crm.set_default("down", Reply::status(503));
    let id = s.event().await;
    let started = Instant::now();
    let stop = s.run_worker_with(None);
    let r = s.wait_status(id, "dlq", Duration::from_secs(15)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "dlq", "{}", r.text);
    assert_eq!(r.json["dlq_reason"], "retries_exhausted");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(elapsed < 8.0, "dead-lettered after {elapsed} s; horizon is 2 s");
    let attempts = r.json["attempts"].as_i64().unwrap();
    let received = s.app.crm.received_on("down").len() as i64;
    assert!(attempts >= 3, "{attempts} attempts counted");
    assert_eq!(attempts, received, "every attempt the CRM saw is counted");
    assert!(r.json["attempts_log"].as_array().unwrap().is_empty(), "the log refused every row");
    let job: i64 = sqlx::query_scalar("select count(*) from jobs").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(job, 0, "no job keeps retrying");
}

#[tokio::test]
async fn when_the_attempt_log_refuses_a_body_the_attempt_is_recorded_without_it() {
    let s = setup("down", |v| {
        v.insert("WEBHOOK_RETRY_HORIZON_SECS".into(), "1".into());
    })
    .await;
    break_attempt_log(&s.app, true).await;
    s.app.crm.set_default("down", Reply::status(500));
    let id = s.event().await;
    let stop = s.run_worker_with(None);
    let r = s.wait_status(id, "dlq", Duration::from_secs(15)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "dlq", "{}", r.text);
    let log = r.json["attempts_log"].as_array().unwrap();
    assert_eq!(log.len() as i64, r.json["attempts"].as_i64().unwrap(), "one row per attempt");
    assert!(log.iter().all(|a| a["status_code"] == 500 && a["response_body"].is_null()), "{log:?}");
}

#[tokio::test]
async fn when_the_attempt_log_refuses_a_body_a_success_is_still_recorded_once_without_it() {
    // A success is recorded in one statement; when that fails, nothing of it may stay half
    // written and the step-by-step path must record it (without the body).
    let s = setup("ok", |_| {}).await;
    break_attempt_log(&s.app, true).await;
    s.app.crm.set_default("ok", Reply::status(200).body("accepted, thanks"));
    let id = s.event().await;
    let stop = s.run_worker_with(None);
    let r = s.wait_status(id, "delivered", Duration::from_secs(10)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "delivered", "{}", r.text);
    assert_eq!(r.json["attempts"], 1, "{}", r.text);
    let log = r.json["attempts_log"].as_array().unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0]["status_code"] == 200 && log[0]["response_body"].is_null(), "{log:?}");
    assert_eq!(s.app.crm.received_on("ok").len(), 1, "delivered once");
    let jobs: i64 = sqlx::query_scalar("select count(*) from jobs").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(jobs, 0, "the job is done");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_crm_host_resolving_to_a_forbidden_address_is_never_connected_to() {
    let s = setup("internal", |_| {}).await;
    let port = s.app.crm.addr().port();
    s.point_endpoint_at(&format!("http://internal.crm.test:{port}/internal")).await;
    // Private-address blocking as in production, with the real range table.
    let lookup = Lookup::table(&[("internal.crm.test", vec![vec![ip("127.0.0.1"), ip("93.184.216.34")]])]);
    let id = s.event().await;
    let stop = s.run_worker_with(Some(GuardedResolver::new(lookup, true)));
    let r = s.wait_status(id, "dlq", Duration::from_secs(10)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "dlq", "{}", r.text);
    assert_eq!(r.json["dlq_reason"], "blocked_url");
    assert!(r.json["last_error"].as_str().unwrap().contains("private"), "{}", r.text);
    assert!(s.app.crm.received().is_empty(), "the internal address received a request");
}

#[tokio::test]
async fn dns_rebinding_between_check_and_connection_never_reaches_the_internal_address() {
    let s = setup("hook", |_| {}).await;
    // 127.0.0.1 plays the internal service (the router's fake CRM); 127.0.0.2, on the same port,
    // plays the merchant's public CRM. The policy forbids only the internal one.
    let internal = &s.app.crm;
    let public = FakeCrm::start_on(SocketAddr::new(ip("127.0.0.2"), internal.addr().port())).await;
    public.set_secrets("hook", &[SECRET]);
    s.point_endpoint_at(&format!("http://rebind.crm.test:{}/hook", internal.addr().port())).await;
    // The name answers the public address once, then the internal one (a 0-TTL rebinding server).
    let lookup = Lookup::table(&[("rebind.crm.test", vec![vec![ip("127.0.0.2")], vec![ip("127.0.0.1")]])]);
    let guard = GuardedResolver::with_policy(lookup, |a| a == IpAddr::from([127, 0, 0, 1]));
    let id = s.event().await;
    let stop = s.run_worker_with(Some(guard));
    let r = s.wait_status(id, "delivered", Duration::from_secs(10)).await;
    stop.cancel();
    assert_eq!(r.json["status"], "delivered", "{}", r.text);
    assert_eq!(public.received_on("hook").len(), 1, "delivered to the address that was checked");
    assert!(internal.received().is_empty(), "the internal address received a request");
}
