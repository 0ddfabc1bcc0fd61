//! Hot paths on a new install (issue 12): the statements that run on cached generic plans have
//! index plans on a migrated, empty, never-analysed database and keep them as the tables grow;
//! the claim loop wakes for what can make a job claimable and for nothing else.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use router_core::db::{deliveries, inbound};
use router_core::queue;
use router_tests::TestApp;
use router_tests::router_fakes::webhooks as meta;
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

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

/// Collects the notices Postgres sends (sqlx logs each as a `sqlx::postgres::notice` event).
#[derive(Clone, Default)]
struct Notices(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Notices {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.0.push_str(value);
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0.push_str(&format!("{value:?}"));
                }
            }
        }
        if event.metadata().target() == "sqlx::postgres::notice" {
            let mut text = String::new();
            event.record(&mut Message(&mut text));
            self.0.lock().unwrap().push(text);
        }
    }
}

/// The plans of the statements PL/pgSQL runs inside the functions that `run` calls on the
/// connection it is given, as `auto_explain` reports them (one notice per statement), with the
/// generic plans Postgres caches. The connection is closed after (the module stays loaded in it).
async fn nested_plans<F>(db: &PgPool, run: F) -> String
where
    F: AsyncFnOnce(&mut PgConnection),
{
    let notices = Notices::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(notices.clone()));
    let mut c = db.acquire().await.unwrap().detach();
    sqlx::raw_sql(
        "load 'auto_explain'; set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on; \
         set auto_explain.log_level = notice; set plan_cache_mode = force_generic_plan",
    )
    .execute(&mut c)
    .await
    .unwrap();
    run(&mut c).await;
    c.close().await.unwrap();
    let plans = notices.0.lock().unwrap().join("\n----\n");
    assert!(plans.contains("Query Text"), "auto_explain reported no plan");
    plans
}

/// The statements an event's way to the CRM repeats: the conversation touch and the delivery
/// fan-out (SQL functions, as the Rust transaction calls them), the one-statement batch that
/// calls both, and the claim.
async fn hot_plans(db: &PgPool, account: (Uuid, Uuid)) -> [(&'static str, String); 4] {
    let (merchant_id, account_id) = account;
    let conv = nested_plans(db, async |c| {
        inbound::touch_conversations(c, merchant_id, &[(account_id, "123", Some(OffsetDateTime::now_utc()))])
            .await
            .unwrap();
    })
    .await;
    let fan_out = nested_plans(db, async |c| {
        deliveries::insert_with_jobs(c, &[]).await.unwrap();
    })
    .await;
    let batch = nested_plans(db, async |c| {
        let (content, raw) = (serde_json::json!({"text": "hi"}), serde_json::json!({}));
        let event_id = format!("plan-check-{}", Uuid::now_v7());
        let event = inbound::NewInboundEvent {
            inbound_event_id: Uuid::now_v7(),
            account_id,
            conversation_id: None,
            event_id: &event_id,
            kind: "message",
            instagram_account_id: IG,
            sender_id: "456",
            instagram_message_id: None,
            content: &content,
            raw: &raw,
            is_test: false,
            occurred_at: None,
        };
        let delivery = inbound::SplitDelivery {
            delivery_id: Uuid::now_v7(),
            event_type: "message.received",
            head: "{\"conversation_id\":".into(),
            tail: Some("}".into()),
        };
        let batch = [inbound::SelfContainedEvent {
            merchant_id,
            event,
            window_at: Some(OffsetDateTime::now_utc()),
            delivery: Some(delivery),
        }];
        assert_eq!(inbound::store_self_contained(c, &batch).await.unwrap().len(), 1);
    })
    .await;
    let claim =
        generic_plan(db, "text[], bigint, float8, text", queue::CLAIM_SQL, "'{webhook.deliver}', 32, 30, 'w'").await;
    [("conversations", conv), ("webhook_endpoints", fan_out), ("jobs", claim), ("inbound_events", batch)]
}

fn assert_index_plans(plans: &[(&'static str, String)], when: &str) {
    for (table, plan) in plans {
        assert!(!plan.contains(&format!("Seq Scan on {table}")), "{when}: a sequential scan of {table}:\n{plan}");
        assert!(plan.contains("Index Scan using"), "{when}: no index scan:\n{plan}");
    }
    assert!(plans[0].1.contains("conversations_account_contact_key"), "{when}:\n{}", plans[0].1);
    assert!(plans[1].1.contains("webhook_endpoints_account_idx"), "{when}:\n{}", plans[1].1);
    assert!(plans[2].1.contains("jobs_available_kind_idx") && plans[2].1.contains("jobs_ordering_idx"));
    // The one-statement batch runs the touch and the fan-out with the same plans.
    for table in ["conversations", "webhook_endpoints"] {
        assert!(!plans[3].1.contains(&format!("Seq Scan on {table}")), "{when}: batch scans {table}:\n{}", plans[3].1);
    }
    assert!(plans[3].1.contains("conversations_account_contact_key"), "{when}:\n{}", plans[3].1);
    assert!(plans[3].1.contains("webhook_endpoints_account_idx"), "{when}:\n{}", plans[3].1);
}

#[tokio::test]
async fn hot_statements_have_index_plans_on_a_new_database_and_as_it_grows_unanalysed() {
    let app = TestApp::spawn().await;
    let (merchant_id, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id: Uuid = account["account_id"].as_str().unwrap().parse().unwrap();
    assert_index_plans(&hot_plans(&app.db, (merchant_id, account_id)).await, "empty, never analysed");

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
    assert_index_plans(
        &hot_plans(&app.db, (merchant_id, account_id)).await,
        "30 000 conversations, 20 000 jobs, never analysed",
    );
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
