//! The API's inbound route cache (`router_core::route_cache`): single-event POSTs are routed
//! without a query while nothing changed, and every change to an account (through the API or
//! behind its back in SQL) is seen by the next POST after its notification, never after the TTL.

use std::time::{Duration, Instant};

use router_core::route_cache::RouteCache;
use router_tests::TestApp;
use router_tests::router_fakes::webhooks as meta;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000077";
const CUSTOMER: &str = "1234567890123456";

/// Polls `cond` every 5 ms for at most `within`.
async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// An app whose cache keeps routes for a minute, so only a notification can empty it in a test.
async fn app_with_cache() -> TestApp {
    let app = TestApp::spawn_with(|v| {
        v.insert("ROUTE_CACHE_SECS".into(), "60".into());
    })
    .await;
    let cache = app.state.ingest.route_cache();
    assert!(eventually(Duration::from_secs(5), || cache.is_live()).await, "the route cache never started listening");
    app
}

/// Waits until the notifications of the account changes made so far have reached the cache: its
/// generation moved past `before` and then stayed put for 300 ms (a change through the API can
/// be several statements, each notifying; under a loaded test run they can arrive late).
async fn settled(cache: &RouteCache, before: u64) {
    assert!(eventually(Duration::from_secs(5), || cache.generation() > before).await, "no notification arrived");
    let mut seen = cache.generation();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if cache.generation() != seen {
            seen = cache.generation();
            since = Instant::now();
        }
    }
}

async fn post_message(app: &TestApp, mid: &str) -> Value {
    let body = meta::envelope(IG, vec![meta::text_message(IG, CUSTOMER, mid, "hi", OffsetDateTime::now_utc())]);
    let r = app.post_meta(&body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

/// Merchants the event with `mid` was stored for.
async fn stored_for(app: &TestApp, mid: &str) -> Vec<Uuid> {
    sqlx::query_scalar("select merchant_id from inbound_events where event_id = 'mid:' || $1 order by merchant_id")
        .bind(mid)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn connect(app: &TestApp, key: &str, crm_path: &str) -> String {
    let token = app.graph.add_account(IG, "shop");
    app.crm.set_secrets(crm_path, &[SECRET]);
    let r = app
        .post(
            "/api/v1/accounts",
            key,
            &json!({"instagram_account_id": IG, "username": "shop", "access_token": token,
                    "crm_webhook_url": app.crm.url(crm_path), "webhook_secret": SECRET}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["account_id"].as_str().unwrap().to_owned()
}

/// [`connect`], then waits until the connect's notifications have reached `cache`.
async fn connect_settled(app: &TestApp, cache: &RouteCache, key: &str, crm_path: &str) -> String {
    let before = cache.generation();
    let account = connect(app, key, crm_path).await;
    settled(cache, before).await;
    account
}

#[tokio::test]
async fn cached_routes_follow_every_account_change_at_once() {
    let app = app_with_cache().await;
    let cache = app.state.ingest.route_cache();
    let (a, key_a) = app.merchant_with_key("A").await;
    let account_a = connect_settled(&app, &cache, &key_a, "a").await;

    // The first POST reads the route, the next ones are answered from the cache.
    assert_eq!(post_message(&app, "m1").await["stored"], 1);
    let (hits, misses) = cache.counts();
    assert_eq!(post_message(&app, "m2").await["stored"], 1);
    assert_eq!(cache.counts(), (hits + 1, misses), "the second POST should be routed from the cache");
    assert_eq!(cache.len(), 1);

    // A second merchant connects the same Instagram account: the cache empties at once (the TTL
    // is a minute), and the next event reaches both merchants.
    let (b, key_b) = app.merchant_with_key("B").await;
    let before = cache.generation();
    connect(&app, &key_b, "b").await;
    assert!(eventually(Duration::from_secs(2), || cache.is_empty()).await, "connecting did not empty the cache");
    settled(&cache, before).await;
    post_message(&app, "m3").await;
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(stored_for(&app, "m3").await, both);

    // Removed through the API: only B receives the next event.
    post_message(&app, "m4").await;
    assert_eq!(cache.len(), 1);
    let before = cache.generation();
    let r = app.delete(&format!("/api/v1/accounts/{account_a}"), &key_a).await;
    assert!(r.status == 204 || r.status == 200, "{} {}", r.status, r.text);
    assert!(eventually(Duration::from_secs(2), || cache.is_empty()).await, "removing did not empty the cache");
    settled(&cache, before).await;
    post_message(&app, "m5").await; // fills the cache again, with B only
    assert_eq!(stored_for(&app, "m5").await, vec![b]);

    // Removed behind the API's back (SQL, another tool): the trigger notifies all the same.
    assert_eq!(cache.len(), 1);
    sqlx::query("update accounts set deleted_at = now(), status = 'deleted' where merchant_id = $1")
        .bind(b)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(2), || cache.is_empty()).await, "an SQL change did not empty the cache");
    let r = post_message(&app, "m6").await;
    assert_eq!(r["stored"], 0);
    assert_eq!(r["unrouted"], 1);
    assert!(stored_for(&app, "m6").await.is_empty());
    // An id that routes nowhere is never kept (a new connect needs no notification to be seen).
    assert!(cache.is_empty());
}

#[tokio::test]
async fn a_token_refresh_keeps_the_cache_and_a_lost_listen_connection_empties_it() {
    let app = app_with_cache().await;
    let cache = app.state.ingest.route_cache();
    let (_, key) = app.merchant_with_key("A").await;
    let account = connect_settled(&app, &cache, &key, "a").await;
    post_message(&app, "m1").await;
    assert_eq!(cache.len(), 1);

    // The scheduler's token refresh writes `accounts` without touching a routing column.
    sqlx::query("update accounts set access_token_enc = access_token_enc, token_refreshed_at = now() where account_id = $1::uuid")
        .bind(&account)
        .execute(&app.db)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cache.len(), 1, "a token refresh emptied the cache");

    // The LISTEN connection dies (a Postgres restart, a proxy): the cache empties, keeps nothing
    // while it is down (a notification could be missed), and fills again once it is back.
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and query ilike 'listen%account_routes%'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "expected exactly one LISTEN connection");
    assert!(eventually(Duration::from_secs(2), || cache.is_empty()).await, "a lost LISTEN did not empty the cache");
    assert!(eventually(Duration::from_secs(10), || cache.is_live()).await, "the LISTEN connection never came back");
    post_message(&app, "m2").await;
    let (hits, _) = cache.counts();
    post_message(&app, "m3").await;
    assert_eq!(cache.counts().0, hits + 1);
}

#[tokio::test]
async fn without_its_listener_the_cache_keeps_nothing_and_entries_age_out() {
    let app = TestApp::spawn().await; // the API's own cache is off (ROUTE_CACHE_SECS=0)
    assert!(!app.state.ingest.route_cache().is_live());
    let (merchant, key) = app.merchant_with_key("A").await;
    connect(&app, &key, "a").await;
    let ids = vec![IG.to_owned()];

    // Not listening: every lookup reads Postgres, nothing is kept.
    let cache = RouteCache::new(Duration::from_secs(1));
    for _ in 0..2 {
        let routes = cache.find_routes(&app.db, &ids).await.unwrap();
        assert_eq!(routes[IG][0].merchant_id, merchant);
    }
    assert_eq!(cache.counts(), (0, 2));
    assert!(cache.is_empty());

    // Listening: kept, then read again once older than the TTL.
    let cancel = CancellationToken::new();
    let listener = tokio::spawn(router_core::route_cache::listen(app.db.clone(), cache.clone(), cancel.clone()));
    assert!(eventually(Duration::from_secs(5), || cache.is_live()).await);
    cache.find_routes(&app.db, &ids).await.unwrap();
    cache.find_routes(&app.db, &ids).await.unwrap();
    assert_eq!(cache.counts(), (1, 3));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    cache.find_routes(&app.db, &ids).await.unwrap();
    assert_eq!(cache.counts(), (1, 4), "an entry older than the TTL was used");

    // Stopped: the cache is out of use again.
    cancel.cancel();
    listener.await.unwrap();
    assert!(!cache.is_live());
    assert!(cache.is_empty());
}
