//! Ambiguous sends (issue 17): when Instagram's answer leaves it unknown whether a DM was
//! delivered (timeout, 1/1357046), the router holds the send and settles it from the echo webhook
//! Meta sends for every delivered message; it sends again only when no echo came within
//! `SEND_RECONCILE_WINDOW_SECS`. The fake Graph API plays Meta: "deliver then time out" really
//! delivers (and posts the signed echo to the router's webhook), then answers too late.

use std::time::{Duration, Instant};

use router_tests::router_fakes::graph::{Endpoint, Scripted};
use router_tests::{Resp, TestApp};
use serde_json::Value;
use time::OffsetDateTime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000077";
const CUSTOMER: &str = "7234567890123456";

struct Setup {
    app: TestApp,
    key: String,
    account_id: String,
}

/// One account whose echoes the fake Graph API posts to the router, 1 s Graph timeout.
async fn setup(window_secs: u64) -> Setup {
    let app = TestApp::spawn_with(|v| {
        v.insert("GRAPH_TIMEOUT_SECS".into(), "1".into());
        v.insert("JOB_LEASE_SECS".into(), "8".into());
        v.insert("SEND_RECONCILE_WINDOW_SECS".into(), window_secs.to_string());
    })
    .await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _token) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    app.graph.emit_echoes_to(Some(format!("{}/webhooks/instagram", app.base)), Duration::ZERO);
    Setup { app, key, account_id }
}

fn id(r: &Resp) -> String {
    assert_eq!(r.status, 202, "{}", r.text);
    r.json["message_id"].as_str().unwrap().to_owned()
}

fn send_calls(app: &TestApp) -> Vec<router_tests::router_fakes::graph::Recorded> {
    app.graph.requests().into_iter().filter(|r| r.path == format!("/{IG}/messages")).collect()
}

/// The CRM webhooks of one message (event types, in order).
async fn status_events(app: &TestApp, message_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select event_type from webhook_deliveries where event_id like $1 order by created_at, event_type",
    )
    .bind(format!("msg:{message_id}:%"))
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn echo_kinds(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select kind from inbound_events where kind like 'echo%' order by created_at")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn wait_delivered(s: &Setup, mid: &str, within: Duration) {
    let app = &s.app;
    assert!(
        app.drain_until(within, async || app.status_of(&s.key, mid).await["status"] == "delivered").await,
        "not delivered within {within:?}: {}",
        app.status_of(&s.key, mid).await
    );
}

/// Delivered, then the call timed out (echo during the call or during the hold), or delivered
/// and answered 1/1357046: one DM at Instagram, `message.sent` with the echo's mid, no
/// `message.echo`, and well before the 30 s window ends.
#[tokio::test]
async fn an_echo_within_the_window_settles_an_ambiguous_send_without_a_second_dm() {
    let s = setup(30).await;
    let cases = [
        ("echo during the call", Scripted::DeliverThenTimeout { millis: 2500 }, Duration::ZERO),
        ("echo during the hold", Scripted::DeliverThenTimeout { millis: 2500 }, Duration::from_millis(1800)),
        ("1/1357046", Scripted::deliver_then_code(1, Some(1_357_046)), Duration::from_millis(500)),
    ];
    for (n, (case, scripted, echo_delay)) in cases.into_iter().enumerate() {
        s.app.graph.emit_echoes_to(Some(format!("{}/webhooks/instagram", s.app.base)), echo_delay);
        s.app.graph.script(Endpoint::Send, scripted, 1);
        let text = format!("Your parcel left the warehouse 📦 ({case})");
        let started = Instant::now();
        let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, &text).await);
        wait_delivered(&s, &mid, Duration::from_secs(20)).await;
        assert!(started.elapsed() < Duration::from_secs(20), "{case}: settled by the echo, not the 30 s window");

        let sent = s.app.graph.sent();
        assert_eq!(sent.len(), n + 1, "{case}: exactly one DM per message at Instagram");
        assert_eq!(sent[n].body["message"]["text"], text.as_str());
        assert_eq!(send_calls(&s.app).len(), n + 1, "{case}: no second call");
        let st = s.app.status_of(&s.key, &mid).await;
        assert_eq!(st["instagram_message_id"], sent[n].message_id.as_str(), "{case}: the echo's mid is recorded");
        assert!(st["error"].is_null(), "{case}: {st}");
        assert_eq!(status_events(&s.app, &mid).await, ["message.delivered", "message.sent"], "{case}");
        assert_eq!(echo_kinds(&s.app).await.last().map(String::as_str), Some("echo_own"), "{case}");
    }
    // The CRM hears message.sent (with the mid) for each, and never a message.echo.
    let app = &s.app;
    assert!(
        app.drain_until(Duration::from_secs(10), async || {
            app.crm.received_on("acme").iter().filter(|r| r.event() == "message.sent").count() == 3
        })
        .await
    );
    let got = s.app.crm.received_on("acme");
    assert!(got.iter().all(|r| r.event() != "message.echo"), "our own echoes are not forwarded");
    let sent_mids: Vec<&str> = got
        .iter()
        .filter(|r| r.event() == "message.sent")
        .filter_map(|r| r.json["instagram_message_id"].as_str())
        .collect();
    for m in s.app.graph.sent() {
        assert!(sent_mids.contains(&m.message_id.as_str()), "message.sent carries {}", m.message_id);
    }
}

/// The call timed out and Instagram did *not* deliver (no echo): the router waits out the window,
/// then sends once more — one DM in the end, the second call no earlier than the window.
#[tokio::test]
async fn without_an_echo_the_part_is_sent_again_exactly_once_after_the_window() {
    let s = setup(3).await;
    s.app.graph.script(Endpoint::Send, Scripted::Hang { millis: 2000 }, 1);
    let mid = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "lost on the way").await);
    s.app.sender().run_until_idle().await.unwrap();
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["status"], "pending");
    assert_eq!(st["error"]["code"], "instagram_timeout");
    assert_eq!(send_calls(&s.app).len(), 1, "held: no resend inside the window");

    wait_delivered(&s, &mid, Duration::from_secs(15)).await;
    let calls = send_calls(&s.app);
    assert_eq!(calls.len(), 2, "exactly one resend");
    let gap = calls[1].at - calls[0].at;
    // 1 s Graph timeout, then the 3 s window.
    assert!(gap >= time::Duration::milliseconds(3900), "resent after {gap}, before the window ended");
    assert_eq!(s.app.graph.sent().len(), 1, "one DM");
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["instagram_message_id"], s.app.graph.sent()[0].message_id.as_str());
    assert_eq!(status_events(&s.app, &mid).await, ["message.delivered", "message.sent"]);
}

/// A worker dies (its job future is dropped mid-call, as `kill -9` would: no outcome recorded)
/// after Instagram delivered; the echo comes after the crash. The next worker rescues the job
/// and completes it from the echo: one DM. Then the same with the crash during the hold.
#[tokio::test]
async fn a_worker_killed_while_its_send_is_unsettled_does_not_send_twice() {
    let s = setup(30).await;

    // 1. Killed during the call.
    s.app.graph.emit_echoes_to(Some(format!("{}/webhooks/instagram", s.app.base)), Duration::from_millis(1500));
    s.app.graph.script(Endpoint::Send, Scripted::DeliverThenTimeout { millis: 5000 }, 1);
    let m1 = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "first, through a crash").await);
    let claimed =
        router_core::queue::claim(&s.app.db, &["message.send"], 1, Duration::from_secs(2), "worker-a").await.unwrap();
    assert_eq!(claimed.len(), 1);
    let ctx = std::sync::Arc::new(s.app.job_context());
    let job = claimed.into_iter().next().unwrap();
    let a = tokio::spawn({
        let ctx = ctx.clone();
        async move { router_worker::jobs::registry().run(&ctx, &job).await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.app.graph.sent().is_empty() {
        assert!(Instant::now() < deadline, "worker A never reached Instagram");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.abort();
    assert!(a.await.unwrap_err().is_cancelled());
    wait_delivered(&s, &m1, Duration::from_secs(20)).await;
    assert_eq!(s.app.graph.sent().len(), 1, "the rescuing worker did not send again");
    assert_eq!(send_calls(&s.app).len(), 1);

    // 2. The call timed out and the send is held; that worker is gone before the echo comes
    //    (4 s later); another one finishes from the echo.
    s.app.graph.emit_echoes_to(Some(format!("{}/webhooks/instagram", s.app.base)), Duration::from_secs(4));
    s.app.graph.script(Endpoint::Send, Scripted::DeliverThenTimeout { millis: 2500 }, 1);
    let m2 = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "second, held across workers").await);
    s.app.sender().run_until_idle().await.unwrap();
    let held: Option<OffsetDateTime> =
        sqlx::query_scalar("select hold_until from send_intents where message_id = $1::uuid")
            .bind(&m2)
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert!(held.is_some(), "the hold is in Postgres, not in the worker");
    assert_eq!(s.app.status_of(&s.key, &m2).await["status"], "pending");
    wait_delivered(&s, &m2, Duration::from_secs(20)).await;
    assert_eq!(s.app.graph.sent().len(), 2);
    assert_eq!(send_calls(&s.app).len(), 2, "one call per message");
    for m in [&m1, &m2] {
        assert_eq!(status_events(&s.app, m).await, ["message.delivered", "message.sent"]);
    }
    let left: i64 = sqlx::query_scalar("select count(*) from send_intents").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(left, 0);
    let _: Option<Value> = None;
}

/// The lease guard on the intent: a worker that stalled past its lease while another claimed the
/// job makes no call (the new owner sends, once); a lease too short to cover the call is renewed
/// before the call instead of being risked.
#[tokio::test]
async fn a_worker_whose_lease_was_taken_over_makes_no_call_and_a_short_lease_is_renewed_first() {
    let s = setup(30).await;
    let ctx = s.app.job_context();
    let registry = router_worker::jobs::registry();
    let claim = async |lease_ms: u64, who: &str| {
        router_core::queue::claim(&s.app.db, &["message.send"], 1, Duration::from_millis(lease_ms), who).await.unwrap()
    };

    // 1. Worker A claims with a 1 s lease and stalls; B claims the expired job; A wakes up.
    let m1 = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "only once, whoever sends it").await);
    let a = claim(1000, "worker-a").await;
    assert_eq!(a.len(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let b = claim(8000, "worker-b").await;
    assert_eq!(b.len(), 1, "the expired lease is claimed again");
    assert_eq!(b[0].job_id, a[0].job_id);
    let out = registry.run(&ctx, &a[0]).await.unwrap();
    assert!(matches!(out, router_core::jobs::Outcome::LeaseLost), "{out:?}");
    assert!(send_calls(&s.app).is_empty(), "the worker that lost its lease made no call");
    registry.run(&ctx, &b[0]).await.unwrap();
    assert_eq!(send_calls(&s.app).len(), 1);
    wait_delivered(&s, &m1, Duration::from_secs(10)).await;

    // 2. A lease shorter than the call's timeout plus margin (1 s + 2 s) is renewed, then used.
    let m2 = id(&s.app.send_text(&s.key, &s.account_id, CUSTOMER, "sent on a renewed lease").await);
    let c = claim(1000, "worker-c").await;
    registry.run(&ctx, &c[0]).await.unwrap();
    assert_eq!(send_calls(&s.app).len(), 2);
    wait_delivered(&s, &m2, Duration::from_secs(10)).await;
    assert_eq!(s.app.graph.sent().len(), 2, "each message reached Instagram once");
}

/// A send's completion and the adoption of its echo in an ingest transaction take the same two
/// rows (the intent, then the message) in the same order, so neither waits for a deadlock to be
/// detected: the ingest holds the intent, the worker's completion starts and waits, the ingest
/// records the echo's mid and commits at once, then the completion records nothing twice.
#[tokio::test]
async fn a_completion_racing_the_adoption_of_its_echo_waits_instead_of_deadlocking() {
    let s = setup(30).await;
    let app = &s.app;
    let text = "Your order is on its way";
    let (message_id, account_id) = sent_with_intent(&s, text).await;

    // The ingest transaction has locked the intent (as adopt_echo's `for update` does)…
    let mut ingest = app.db.begin().await.unwrap();
    sqlx::query("set local lock_timeout = '5s'").execute(&mut *ingest).await.unwrap();
    sqlx::query("select 1 from send_intents where message_id = $1 for update")
        .bind(message_id)
        .execute(&mut *ingest)
        .await
        .unwrap();
    // …when the worker's completion transaction starts with the same mid.
    let db = app.db.clone();
    let completion = tokio::spawn(async move {
        let mut tx = db.begin().await.unwrap();
        sqlx::query("set local lock_timeout = '5s'").execute(&mut *tx).await.unwrap();
        router_core::reconcile::settle_answered(&mut tx, message_id, Some("mid.race")).await?;
        tx.commit().await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let adopted =
        router_core::db::send_intents::adopt_echo(&mut ingest, account_id, CUSTOMER, "text", Some(text), "mid.race")
            .await
            .expect("the ingest never waits for the completion (no lock cycle)");
    assert_eq!(adopted, Some(message_id));
    assert!(started.elapsed() < Duration::from_millis(500), "adopted at once, not after deadlock_timeout");
    ingest.commit().await.unwrap();
    completion.await.unwrap().expect("the completion went on after the ingest committed");

    let (mids, intents) = recorded_mids_and_intents(app, message_id).await;
    assert_eq!(mids, ["mid.race"], "the part is recorded once");
    assert_eq!(intents, 0);
}

/// A worker killed while its completion transaction is open (the intent deleted, not yet
/// committed) rolls back; an echo of that send arriving in the meantime waits for the outcome
/// and, when the completion never commits, adopts the intent: the next run finds the part
/// recorded and sends nothing again.
#[tokio::test]
async fn an_echo_arriving_while_a_worker_dies_in_its_completion_still_settles_the_send() {
    let s = setup(30).await;
    let app = &s.app;
    let text = "Your refund was issued";
    let (message_id, account_id) = sent_with_intent(&s, text).await;

    // The completion has begun: intent deleted, part being recorded, not committed.
    let mut completion = app.db.begin().await.unwrap();
    router_core::reconcile::settle_answered(&mut completion, message_id, Some("mid.dying")).await.unwrap();
    // The echo arrives and waits for it…
    let db = app.db.clone();
    let echo = tokio::spawn(async move {
        let mut ingest = db.begin().await.unwrap();
        sqlx::query("set local lock_timeout = '10s'").execute(&mut *ingest).await.unwrap();
        let adopted = router_core::db::send_intents::adopt_echo(
            &mut ingest,
            account_id,
            CUSTOMER,
            "text",
            Some("Your refund was issued"),
            "mid.dying",
        )
        .await?;
        ingest.commit().await?;
        Ok::<_, sqlx::Error>(adopted)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!echo.is_finished(), "the echo waits for the completion's outcome");
    // …and the worker dies: its transaction rolls back.
    drop(completion);
    let adopted = echo.await.unwrap().expect("the echo's transaction");
    assert_eq!(adopted, Some(message_id), "the echo settles the send the dead worker left");

    let (mids, intents) = recorded_mids_and_intents(app, message_id).await;
    assert_eq!(mids, ["mid.dying"]);
    assert_eq!(intents, 0, "nothing is left to hold or resend");
}

/// A text send accepted, with the intent a worker records right before its Graph call (part 0,
/// started a second ago). Returns (message, account).
async fn sent_with_intent(s: &Setup, text: &str) -> (uuid::Uuid, uuid::Uuid) {
    let app = &s.app;
    let message_id: uuid::Uuid = id(&app.send_text(&s.key, &s.account_id, CUSTOMER, text).await).parse().unwrap();
    sqlx::query(
        "insert into send_intents (message_id, merchant_id, account_id, recipient_id, part, match_kind, match_text, started_at)
         select message_id, merchant_id, account_id, recipient_id, 0, 'text', $2, now() - interval '1 second'
           from outbound_messages where message_id = $1",
    )
    .bind(message_id)
    .bind(text)
    .execute(&app.db)
    .await
    .unwrap();
    (message_id, s.account_id.parse().unwrap())
}

/// The message's recorded mids and how many intents it still has.
async fn recorded_mids_and_intents(app: &TestApp, message_id: uuid::Uuid) -> (Vec<String>, i64) {
    sqlx::query_as(
        "select instagram_message_ids, (select count(*) from send_intents where message_id = $1)
           from outbound_messages where message_id = $1",
    )
    .bind(message_id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}
