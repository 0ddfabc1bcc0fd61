//! Hot paths on a new install (issue 12): the statements that run on cached generic plans have
//! index plans on a migrated, empty, never-analysed database and keep them as the tables grow;
//! the claim loop wakes for what can make a job claimable and for nothing else.

use std::time::{Duration, Instant};

use router_core::db::{deliveries, inbound};
use router_core::queue;
use router_tests::TestApp;
use router_tests::router_fakes::webhooks as meta;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000042";

/// The generic plan Postgres caches for `sql` (prepared with `types`, executed with `args`), as
/// `EXPLAIN` text.
async fn generic_plan(db: &PgPool, types: &str, sql: &str, args: &str) -> String {
    let mut c = db.acquire().await.unwrap();
    sqlx::raw_sql("set plan_cache_mode = force_generic_plan").execute(&mut *c).await.unwrap();
    sqlx::raw_sql(&format!("prepare plan_check({types}) as {sql}")).execute(&mut *c).await.unwrap();
    let rows: Vec<String> =
        sqlx::query_scalar(&format!("explain execute plan_check({args})")).fetch_all(&mut *c).await.unwrap();
    sqlx::raw_sql("deallocate plan_check; reset plan_cache_mode").execute(&mut *c).await.unwrap();
    rows.join("\n")
}

/// The three statements an event's way to the CRM repeats: the conversation touch, the delivery
/// fan-out and the claim.
async fn hot_plans(db: &PgPool) -> [(&'static str, String); 3] {
    let conv = generic_plan(
        db,
        "uuid[], uuid, uuid[], text[], timestamptz[]",
        &inbound::TOUCH_CONVERSATIONS_SQL,
        "'{00000000-0000-7000-8000-000000000001}', '00000000-0000-7000-8000-000000000002', \
         '{00000000-0000-7000-8000-000000000003}', '{123}', '{2026-12-07 00:00:00+00}'",
    )
    .await;
    let fan_out = generic_plan(
        db,
        "uuid[], uuid[], uuid[], text[], text[], text[], text[], jsonb[], text, int, text",
        deliveries::INSERT_WITH_JOBS_SQL,
        "'{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', 'webhook.deliver', 10, 'endpoint.test'",
    )
    .await;
    let claim =
        generic_plan(db, "text[], bigint, float8, text", queue::CLAIM_SQL, "'{webhook.deliver}', 32, 30, 'w'").await;
    [("conversations", conv), ("webhook_endpoints", fan_out), ("jobs", claim)]
}

fn assert_index_plans(plans: &[(&'static str, String)], when: &str) {
    for (table, plan) in plans {
        assert!(!plan.contains(&format!("Seq Scan on {table}")), "{when}: a sequential scan of {table}:\n{plan}");
        assert!(plan.contains("Index Scan using"), "{when}: no index scan:\n{plan}");
    }
    assert!(plans[0].1.contains("conversations_account_contact_key"), "{when}:\n{}", plans[0].1);
    assert!(plans[1].1.contains("webhook_endpoints_account_idx"), "{when}:\n{}", plans[1].1);
    assert!(plans[2].1.contains("jobs_available_kind_idx") && plans[2].1.contains("jobs_ordering_idx"));
}

#[tokio::test]
async fn hot_statements_have_index_plans_on_a_new_database_and_as_it_grows_unanalysed() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    app.connect_account(&key, IG, "acme", SECRET).await;
    assert_index_plans(&hot_plans(&app.db).await, "empty, never analysed");

    // Tens of thousands of rows later, still never analysed (this machine kind runs without
    // autovacuum): the plan a connection caches stays the index plan.
    sqlx::query(
        r"insert into conversations (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
          select gen_random_uuid(), merchant_id, account_id, (9000000 + g)::text, now()
            from accounts, generate_series(1, 30000) g",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        r"insert into jobs (kind, payload, ordering_key, run_at)
          select 'webhook.deliver', '{}', 'wh:x:' || (g % 500), now() + interval '1 hour' from generate_series(1, 20000) g",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let analysed: Option<OffsetDateTime> = sqlx::query_scalar(
        "select greatest(last_analyze, last_autoanalyze) from pg_stat_user_tables where relname = 'conversations'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(analysed, None, "the table must not have been analysed for this check");
    assert_index_plans(&hot_plans(&app.db).await, "30 000 conversations, 20 000 jobs, never analysed");
}

#[tokio::test]
async fn maintenance_jobs_are_announced_on_their_own_channel() {
    let app = TestApp::spawn().await;
    let mut listener = PgListener::connect_with(&app.db).await.unwrap();
    listener.listen_all([queue::CHANNEL, queue::MAINTENANCE_CHANNEL]).await.unwrap();
    let enqueue = |kind: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query("select enqueue_jobs(array[$1], array['{}'::jsonb], '{}', '{}', '{}', '{}', '{}', array[3])")
                .bind(kind)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    enqueue("maintenance").await;
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await.unwrap().unwrap();
    assert_eq!(n.channel(), queue::MAINTENANCE_CHANNEL);
    enqueue("webhook.deliver").await;
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await.unwrap().unwrap();
    assert_eq!(n.channel(), queue::CHANNEL);
    // Nothing else arrived: one notification per enqueue, on its kind's channel only.
    assert!(tokio::time::timeout(Duration::from_millis(300), listener.recv()).await.is_err());
    assert_eq!(queue::channels_for(&["maintenance"]), [queue::MAINTENANCE_CHANNEL]);
    assert_eq!(queue::channels_for(&["webhook.deliver", "message.send"]), [queue::CHANNEL]);
}

/// With the poll a minute away, the CRM still gets a conversation's events one after another at
/// once: a delivery whose conversation has a next event wakes the claim loop for it (a delivery
/// with none does not, `Outcome::DoneAlone`), and events of other conversations come by NOTIFY.
#[tokio::test]
async fn a_conversations_next_event_is_claimed_when_the_one_before_is_delivered_not_at_the_next_poll() {
    let app = TestApp::spawn_with(|v| {
        v.insert("WORKER_POLL_INTERVAL_MS".into(), "60000".into());
    })
    .await;
    let (_, key) = app.merchant_with_key("Acme").await;
    app.connect_account(&key, IG, "acme", SECRET).await;
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(app.worker().run(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let at = OffsetDateTime::now_utc();
    let same: Vec<_> =
        (0..6).map(|i| meta::text_message(IG, "5550001", &format!("mid-follow-{i}"), &format!("#{i}"), at)).collect();
    assert_eq!(app.post_meta(&meta::envelope(IG, same)).await.status, 200);
    for c in 0..4 {
        let ev = meta::text_message(IG, &format!("555010{c}"), &format!("mid-other-{c}"), "hi", at);
        assert_eq!(app.post_meta(&meta::envelope(IG, vec![ev])).await.status, 200);
    }
    let got = app.crm.wait_for("acme", 10, Duration::from_secs(10)).await;
    let took = started.elapsed();
    cancel.cancel();
    let _ = worker.await;

    assert_eq!(got.len(), 10, "every event delivered");
    assert!(took < Duration::from_secs(5), "delivered in {took:?}: something waited for the minute-long poll");
    let order: Vec<String> = got
        .iter()
        .filter_map(|r| r.json["instagram_message_id"].as_str())
        .filter(|m| m.starts_with("mid-follow-"))
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (0..6).map(|i| format!("mid-follow-{i}")).collect();
    assert_eq!(order, expected, "one conversation's events arrive in order");
}

/// The statements that erase content (the retention purge, an unsend) read only what they erase,
/// through an index, on a table that grew without ever being analysed: their cost does not grow
/// with the table's age.
#[tokio::test]
async fn erasing_statements_use_indexes_as_the_tables_grow_unanalysed() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    app.connect_account(&key, IG, "acme", SECRET).await;
    sqlx::raw_sql(
        r"insert into inbound_events (inbound_event_id, merchant_id, account_id, event_id, kind, sender_id,
                                      instagram_message_id, content, raw, result, created_at)
          select gen_random_uuid(), merchant_id, account_id, 'mid:m' || g, 'message', '42', 'm' || g,
                 jsonb_build_object('text', 'hello'), '{}', 'stored', now() - make_interval(days => g % 60)
            from accounts, generate_series(1, 20000) g;
          insert into outbound_messages (message_id, merchant_id, account_id, recipient_id, status, message_text, created_at)
          select gen_random_uuid(), merchant_id, account_id, '42', 'sent', 'hello', now() - make_interval(days => g % 60)
            from accounts, generate_series(1, 20000) g;
          insert into unrouted_inbound_events (unrouted_event_id, reason, raw, created_at)
          select gen_random_uuid(), 'unknown_account', '{}', now() - make_interval(days => g % 60)
            from generate_series(1, 20000) g;
          insert into webhook_deliveries (delivery_id, merchant_id, account_id, event_type, event_id, payload, status, created_at)
          select gen_random_uuid(), merchant_id, account_id, 'message.received', 'mid:m' || g,
                 jsonb_build_object('message', 'hello')::text, 'delivered', now() - make_interval(days => g % 60)
            from accounts, generate_series(1, 20000) g;
          insert into delivery_attempts (merchant_id, delivery_id, attempt_no, status_code, latency_ms, response_body, created_at)
          select merchant_id, delivery_id, 1, 500, 3, case when random() < 0.05 then 'oops' end, created_at
            from webhook_deliveries;",
    )
    .execute(&app.db)
    .await
    .unwrap();
    for (table, sql) in router_core::db::lifecycle::PURGE_STATEMENTS.iter() {
        let plan = generic_plan(&app.db, "int, bigint", sql, "30, 500").await;
        assert!(!plan.contains(&format!("Seq Scan on {table}")), "retention of {table} scans it:\n{plan}");
        assert!(plan.contains("Index Scan using"), "retention of {table}:\n{plan}");
        if matches!(*table, "webhook_deliveries" | "delivery_attempts") {
            assert!(plan.contains(&format!("{table}_erasable_idx")), "retention of {table}:\n{plan}");
        }
    }
    let args = "'00000000-0000-7000-8000-000000000001', 'mid:m77', '00000000-0000-7000-8000-000000000002'";
    for (table, sql, index) in [
        ("inbound_events", inbound::ERASE_INBOUND_MESSAGE_SQL, "inbound_events_merchant_event_key"),
        ("webhook_deliveries", inbound::ERASE_MESSAGE_DELIVERIES_SQL, "webhook_deliveries_merchant_event_endpoint_key"),
    ] {
        let plan = generic_plan(&app.db, "uuid, text, uuid", sql, args).await;
        assert!(plan.contains(index), "an unsend's erase of {table}:\n{plan}");
    }
}
