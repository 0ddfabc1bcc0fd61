//! Analytics end to end: real traffic through the API, the worker and the fakes, the scheduler's
//! rollup, then `GET /api/v1/analytics`, with tenant isolation.

use router_tests::TestApp;
use router_tests::router_fakes::graph::{Endpoint, Scripted};
use router_tests::router_fakes::webhooks as meta;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000099";
const CUSTOMER: &str = "1234567890123499";
const QUIET: &str = "1234567890123400";

fn at(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

async fn report(app: &TestApp, key: &str, query: &str) -> Value {
    let r = app.get(&format!("/api/v1/analytics?{query}"), key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

#[tokio::test]
async fn traffic_becomes_hourly_figures_that_only_their_merchant_reads() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    let now = OffsetDateTime::now_utc();

    // A customer writes; we answer twice (one reply, one follow-up), and a third send fails.
    assert_eq!(
        app.post_meta(&meta::envelope(
            IG,
            vec![meta::text_message(IG, CUSTOMER, "m-in-1", "Where is my parcel?", now)]
        ))
        .await
        .status,
        200
    );
    for text in ["It left today", "Tracking: 42"] {
        assert_eq!(app.send_text(&key, &account_id, CUSTOMER, text).await.status, 202);
    }
    assert_eq!(app.sender().run_until_idle().await.unwrap(), 2);
    app.graph.script(Endpoint::Send, Scripted::code(551, None), 1);
    assert_eq!(app.send_text(&key, &account_id, CUSTOMER, "Anything else?").await.status, 202);
    assert_eq!(app.sender().run_until_idle().await.unwrap(), 1);
    app.deliverer().run_until_idle().await.unwrap();
    // Another customer wrote 25 h ago and never again: that window closed an hour ago.
    sqlx::query(
        r"insert into inbound_events (inbound_event_id, merchant_id, account_id, event_id, kind, sender_id, raw, result,
                                      occurred_at, created_at)
          select gen_random_uuid(), merchant_id, account_id, 'old-1', 'message', $2, '{}', 'delivered', $3, $3
            from accounts where account_id = $1::uuid",
    )
    .bind(&account_id)
    .bind(QUIET)
    .bind(now - Duration::hours(25))
    .execute(&app.db)
    .await
    .unwrap();

    let range = (now - Duration::days(2), now + Duration::hours(1));
    let written = router_core::analytics::roll_up(&app.db, range.0, range.1).await.unwrap();
    assert!(written >= 2, "{written} account-hours");
    // A second run recomputes the same hours: nothing counted twice.
    router_core::analytics::roll_up(&app.db, range.0, range.1).await.unwrap();

    let query = format!("from={}&granularity=hour", at(now - Duration::days(2)).replace('+', "%2B"));
    let r = report(&app, &key, &query).await;
    let t = &r["totals"];
    assert_eq!(t["received"], 2, "{t}");
    assert_eq!((t["sent"].as_i64(), t["failed"].as_i64()), (Some(2), Some(1)), "{t}");
    assert_eq!(t["failures"], json!({"recipient_unavailable": 1}));
    assert_eq!(t["replies"], 1, "only the first answer replies to an unanswered message");
    let p50 = t["reply_p50_secs"].as_f64().unwrap();
    assert!((0.0..=5.0).contains(&p50), "answered within seconds: {p50}");
    assert!(t["deliveries_ok"].as_i64().unwrap() >= 4, "message.received, sent, delivered, failed: {t}");
    assert_eq!((t["deliveries_failed"].as_i64(), t["delivery_success_rate"].as_f64()), (Some(0), Some(1.0)));
    assert!(t["delivery_p50_ms"].as_f64().is_some());
    assert_eq!(t["window_expiries"], 1);
    let buckets = r["buckets"].as_array().unwrap();
    assert!(buckets.len() >= 2, "the old message's hour and this hour: {buckets:?}");
    let summed: i64 = buckets.iter().map(|b| b["received"].as_i64().unwrap()).sum();
    assert_eq!(summed, 2);

    // Daily buckets and one account give the same totals.
    let daily = report(
        &app,
        &key,
        &format!("from={}&account_id={account_id}", at(now - Duration::days(2)).replace('+', "%2B")),
    )
    .await;
    assert_eq!(daily["granularity"], "day");
    assert_eq!((daily["totals"]["sent"].as_i64(), daily["totals"]["received"].as_i64()), (Some(2), Some(2)));

    // Another merchant sees nothing of it, and cannot name the account.
    let (_, other) = app.merchant_with_key("Globex").await;
    let theirs = report(&app, &other, &query).await;
    assert_eq!((theirs["totals"]["received"].as_i64(), theirs["buckets"].as_array().map(Vec::len)), (Some(0), Some(0)));
    app.get(&format!("/api/v1/analytics?{query}&account_id={account_id}"), &other).await.assert_error(404, "not_found");

    // Ranges are bounded.
    let week = at(now - Duration::days(40)).replace('+', "%2B");
    let r = app.get(&format!("/api/v1/analytics?from={week}&granularity=hour"), &key).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("to")));
    let r = app.get(&format!("/api/v1/analytics?from={week}&granularity=week"), &key).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("granularity")));
    let r = app.get("/api/v1/analytics?from=yesterday", &key).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("from")));
}

#[tokio::test]
async fn the_scheduled_rollup_backfills_then_keeps_to_recent_hours() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-in-1", "hi", now)])).await.status,
        200
    );

    // First run: from 90 days back, a week at a time; the cursor says how far it got.
    router_core::analytics::roll_up_recent(&app.db, now).await.unwrap();
    let cursor: OffsetDateTime =
        sqlx::query_scalar("select rolled_until from analytics_progress").fetch_one(&app.db).await.unwrap();
    let expected = router_core::analytics::hour_of(now) - router_core::analytics::BACKFILL + Duration::days(7);
    assert_eq!(cursor, expected);
    // Caught up after enough runs; the current hour is then recomputed every time.
    for _ in 0..13 {
        router_core::analytics::roll_up_recent(&app.db, now).await.unwrap();
    }
    let cursor: OffsetDateTime =
        sqlx::query_scalar("select rolled_until from analytics_progress").fetch_one(&app.db).await.unwrap();
    assert_eq!(cursor, router_core::analytics::hour_of(now));
    let received: i32 =
        sqlx::query_scalar("select coalesce(sum(received), 0)::int from analytics_hourly where account_id = $1::uuid")
            .bind(&account_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(received, 1);
    assert_eq!(
        app.post_meta(&meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, "m-in-2", "again", now)])).await.status,
        200
    );
    router_core::analytics::roll_up_recent(&app.db, now).await.unwrap();
    let received: i32 =
        sqlx::query_scalar("select coalesce(sum(received), 0)::int from analytics_hourly where account_id = $1::uuid")
            .bind(&account_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(received, 2, "the current hour is recomputed");
}
