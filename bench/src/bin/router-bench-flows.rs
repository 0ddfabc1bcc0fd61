//! `router-bench-flows`: figures for the CRM delivery path and the Instagram ingest path
//! (docs/PERFORMANCE.md). Everything runs against real Postgres and Redis on loopback, with the
//! fake CRM and the real router code in process; every load is bounded in count and time.
//!
//! Phases:
//! * D — CRM delivery: N events spread over E endpoints and many conversations, drained by one
//!   worker process; deliveries/s and created→delivered latency. Then the same with 10 % of the
//!   endpoints dead (answering 503): the healthy endpoints' rate and latency.
//! * E — Instagram ingest: C concurrent clients POST signed Meta webhooks (1 event, then 100
//!   events per POST) for T seconds; events/s and 200-OK latency; next to a pgbench run of the
//!   same per-event insert transaction on the same database (the ceiling).
//! * F — steady state, end to end: signed Meta webhooks (one event per POST) arrive at a fixed
//!   rate (open loop) while a worker runs; latency from the moment a POST starts to the moment the
//!   fake CRM receives that event's `message.received` webhook. The seed asks for p95 < 2 s at
//!   1 000 webhooks/minute (17/s).
//!
//! Usage: `cargo run --release -p router-bench --bin router-bench-flows -- [--events N]
//! [--endpoints E] [--clients C] [--duration T] [--steady-rates R1,R2] [--steady-duration S]
//! [--only d|e|f] [--max-in-flight N]`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use router_core::domain::events;
use router_core::webhooks::{CrmEvent, enqueue_events};
use router_tests::TestApp;
use router_tests::router_fakes::crm::Reply;
use router_tests::router_fakes::webhooks as meta;
use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Args {
    events: usize,
    endpoints: usize,
    clients: usize,
    duration: Duration,
    steady_rates: Vec<f64>,
    steady_duration: Duration,
    only: Option<String>,
    max_in_flight: u64,
}

fn args() -> Args {
    let mut a = Args {
        events: 5000,
        endpoints: 20,
        clients: 16,
        duration: Duration::from_secs(10),
        steady_rates: vec![17.0, 200.0],
        steady_duration: Duration::from_secs(20),
        only: None,
        max_in_flight: 16,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i + 1 < v.len() {
        let n: u64 = v[i + 1].parse().unwrap_or(0);
        match v[i].as_str() {
            "--events" => a.events = n as usize,
            "--endpoints" => a.endpoints = n.max(10) as usize,
            "--clients" => a.clients = n.max(1) as usize,
            "--duration" => a.duration = Duration::from_secs(n.max(1)),
            "--steady-rates" => {
                a.steady_rates =
                    v[i + 1].split(',').filter_map(|r| r.trim().parse::<f64>().ok()).filter(|r| *r > 0.0).collect();
            }
            "--steady-duration" => a.steady_duration = Duration::from_secs(n.clamp(1, 300)),
            "--only" => a.only = Some(v[i + 1].to_ascii_lowercase()),
            "--max-in-flight" => a.max_in_flight = n.max(1),
            _ => {}
        }
        i += 2;
    }
    a
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// `WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT` of every phase (`--max-in-flight`, default 16).
static MAX_IN_FLIGHT: AtomicU64 = AtomicU64::new(16);

async fn spawn_app() -> TestApp {
    let max_in_flight = MAX_IN_FLIGHT.load(Ordering::Relaxed);
    TestApp::spawn_with(move |v| {
        v.insert("DATABASE_MAX_CONNECTIONS".into(), "40".into());
        v.insert("API_RATE_LIMIT_PER_MINUTE".into(), "10000000".into());
        v.insert("WORKER_CONCURRENCY".into(), "64".into());
        v.insert("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT".into(), max_in_flight.to_string());
        v.insert("WEBHOOK_RETRY_SCHEDULE".into(), "1,2,4,8,16".into());
        v.insert("WEBHOOK_TIMEOUT_SECS".into(), "2".into());
    })
    .await
}

/// Phase D. Returns (deliveries/s, p50 ms, p99 ms, delivered) for the healthy endpoints.
async fn deliveries(n: usize, endpoints: usize, dead_share: f64) -> anyhow::Result<(f64, f64, f64, usize)> {
    let app = spawn_app().await;
    let (merchant, key) = app.merchant_with_key("Bench").await;
    let dead = ((endpoints as f64) * dead_share).round() as usize;
    let mut accounts = Vec::new();
    for e in 0..endpoints {
        let path = format!("ep{e}");
        let (acct, _) = app.connect_account(&key, &format!("1784140000{e:07}"), &path, SECRET).await;
        if e < dead {
            app.crm.set_default(&path, Reply::status(503));
        }
        accounts.push((acct["account_id"].as_str().unwrap_or_default().parse::<Uuid>()?, e < dead));
    }
    // N events, 10 per conversation, spread round-robin over the endpoints.
    let mut evs = Vec::with_capacity(n);
    for i in 0..n {
        let (account_id, _) = accounts[i % endpoints];
        let conv = format!("{}", 9_000_000 + (i / endpoints) / 10);
        evs.push(CrmEvent {
            merchant_id: merchant,
            account_id,
            event_type: events::MESSAGE_RECEIVED,
            event_id: format!("bench:{i}"),
            data: json!({"account_id": account_id, "sender_id": conv, "message": "Is the blue one in stock in size M?"}),
            conversation: Some(conv),
        });
    }
    for chunk in evs.chunks(1000) {
        let mut tx = app.db.begin().await?;
        enqueue_events(&mut tx, chunk).await?;
        tx.commit().await?;
    }
    let healthy_ids: Vec<Uuid> = accounts.iter().filter(|a| !a.1).map(|a| a.0).collect();
    let healthy_total: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries where account_id = any($1)")
        .bind(&healthy_ids)
        .fetch_one(&app.db)
        .await?;
    sqlx::query("update webhook_deliveries set created_at = now()").execute(&app.db).await?;
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(app.deliverer().run(cancel.clone()));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: i64 = sqlx::query_scalar(
            "select count(*) from webhook_deliveries where status = 'delivered' and account_id = any($1)",
        )
        .bind(&healthy_ids)
        .fetch_one(&app.db)
        .await?;
        if done >= healthy_total || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    cancel.cancel();
    let _ = worker.await;
    let mut lat: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from delivered_at - created_at)::float8 * 1000 from webhook_deliveries
          where status = 'delivered' and account_id = any($1)",
    )
    .bind(&healthy_ids)
    .fetch_all(&app.db)
    .await?;
    lat.sort_by(f64::total_cmp);
    Ok((lat.len() as f64 / elapsed, pct(&lat, 50.0), pct(&lat, 99.0), lat.len()))
}

/// POSTs Meta webhook `events` of account `ig`, signed with the app secret as Meta does; true on
/// a 2xx.
async fn post_meta(client: &reqwest::Client, url: &str, ig: &str, events: Vec<serde_json::Value>) -> bool {
    let body = meta::to_meta_bytes(&meta::envelope(ig, events));
    let sig = router_tests::router_fakes::sign_sha256(router_tests::APP_SECRET.as_bytes(), &body);
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await;
    r.is_ok_and(|r| r.status().is_success())
}

/// Phase E. Returns (events/s, p50 ms, p99 ms, posts) for `per_post` events per POST.
async fn ingest(app: &TestApp, ig: &str, clients: usize, duration: Duration, per_post: usize) -> (f64, f64, f64, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = reqwest::Client::new();
        let url = format!("{}/webhooks/instagram", app.base);
        let ig = ig.to_owned();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut k = 0u64;
            while Instant::now() < stop {
                let now = OffsetDateTime::now_utc();
                let evs = (0..per_post)
                    .map(|j| {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        meta::text_message(
                            &ig,
                            &format!("{}", 5_000_000 + (n % 5000)),
                            &format!("mid-{c}-{k}-{j}-{n}"),
                            "Hello, is this available?",
                            now,
                        )
                    })
                    .collect();
                k += 1;
                let t = Instant::now();
                if post_meta(&client, &url, &ig, evs).await {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let posts = all.len() as u64;
    ((posts as usize * per_post) as f64 / elapsed, pct(&all, 50.0), pct(&all, 99.0), posts)
}

/// pgbench of one event's ingest transaction (conversation upsert, event insert, delivery insert,
/// job insert) on the same database. Returns transactions (= events) per second.
async fn pgbench(
    app: &TestApp,
    account: Uuid,
    merchant: Uuid,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let endpoint: Uuid = sqlx::query_scalar("select endpoint_id from webhook_endpoints where account_id = $1")
        .bind(account)
        .fetch_one(&app.db)
        .await?;
    let script = format!(
        r"\set c random(1, 5000)
BEGIN;
SET LOCAL ROLE router_app;
SELECT set_config('app.merchant_id', '{merchant}', true);
INSERT INTO conversations AS c (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
  VALUES (gen_random_uuid(), '{merchant}', '{account}', (5000000 + :c)::text, now())
  ON CONFLICT ON CONSTRAINT conversations_account_contact_key DO UPDATE SET last_inbound_at = greatest(c.last_inbound_at, excluded.last_inbound_at);
INSERT INTO inbound_events (inbound_event_id, merchant_id, account_id, event_id, kind, instagram_account_id, sender_id, instagram_message_id, content, raw, result, occurred_at)
  VALUES (gen_random_uuid(), '{merchant}', '{account}', 'pgb:' || gen_random_uuid(), 'message', '1784', (5000000 + :c)::text, 'm', '{{}}', '{{}}', 'stored', now())
  ON CONFLICT ON CONSTRAINT inbound_events_merchant_event_key DO NOTHING;
INSERT INTO webhook_deliveries (delivery_id, merchant_id, account_id, endpoint_id, event_type, event_id, payload, ordering_key)
  VALUES (gen_random_uuid(), '{merchant}', '{account}', '{endpoint}', 'message.received', 'pgbd:' || gen_random_uuid(), '{{}}', 'wh:{endpoint}:' || :c);
INSERT INTO jobs (kind, payload, merchant_id, account_id, ordering_key) VALUES ('pgbench.noop', '{{}}', '{merchant}', '{account}', 'wh:x:' || :c);
COMMIT;
"
    );
    let path = std::env::temp_dir().join(format!("router-ingest-{}.sql", Uuid::new_v4().simple()));
    std::fs::write(&path, script)?;
    let out = tokio::process::Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T", &duration.as_secs().to_string(), "-f"])
        .arg(&path)
        .arg(&app.test_db.url)
        .output()
        .await?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("pgbench failed: {}{}", text, String::from_utf8_lossy(&out.stderr)))?;
    Ok(tps)
}

/// What phase F measured at one rate.
struct Steady {
    /// POSTs started after the warm-up (the latencies are theirs).
    measured: usize,
    posts: usize,
    post_failures: usize,
    delivered: usize,
    signatures_valid: usize,
    /// Sorted end-to-end latencies in ms.
    latencies: Vec<f64>,
    achieved_rate: f64,
}

/// Phase F. Meta webhooks with one event each at `rate`/s for `warmup` + `duration` (open loop: a
/// POST is started on schedule whatever the previous ones do), one worker running all job kinds,
/// the fake CRM answering 200 at once. Latency: POST start → the CRM's receipt of that event, for
/// the events started after the warm-up (the first second of a fresh process pays for opening
/// pool connections and preparing statements: 200–900 ms then, measured).
async fn steady(rate: f64, warmup: Duration, duration: Duration) -> anyhow::Result<Steady> {
    let app = spawn_app().await;
    let (_, key) = app.merchant_with_key("Bench").await;
    let ig = "17841400000000077";
    app.connect_account(&key, ig, "steady", SECRET).await;
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(app.worker().run(cancel.clone()));
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let url = format!("{}/webhooks/instagram", app.base);
    let warm = (rate * warmup.as_secs_f64()).round() as usize;
    let total = warm + (rate * duration.as_secs_f64()).round() as usize;
    let period = Duration::from_secs_f64(1.0 / rate);
    let started_at: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let failures = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let mut posts = Vec::with_capacity(total);
    for n in 0..total {
        tokio::time::sleep_until(start + period.mul_f64(n as f64)).await;
        let mid = format!("mid-steady-{n}");
        let ev = meta::text_message(
            ig,
            &format!("{}", 6_000_000 + (n % 5000)),
            &mid,
            "Hi! Do you ship to Lisbon?",
            OffsetDateTime::now_utc(),
        );
        let (client, url, started_at, failures) = (client.clone(), url.clone(), started_at.clone(), failures.clone());
        posts.push(tokio::spawn(async move {
            started_at.lock().expect("lock").insert(mid, Instant::now());
            if !post_meta(&client, &url, ig, vec![ev]).await {
                failures.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for p in posts {
        let _ = p.await;
    }
    let achieved_rate = total as f64 / start.elapsed().as_secs_f64();
    let measured_from = start.into_std() + warmup;
    let got = app.crm.wait_for("steady", total, Duration::from_secs(60)).await;
    cancel.cancel();
    let _ = worker.await;
    let started_at = started_at.lock().expect("lock").clone();
    let mut latencies = Vec::with_capacity(got.len());
    let mut signatures_valid = 0;
    let mut delivered = 0;
    for r in &got {
        if r.event() != events::MESSAGE_RECEIVED {
            continue;
        }
        delivered += 1;
        if r.hub_signature_valid && r.standard_signature_valid {
            signatures_valid += 1;
        }
        let mid = r.json["instagram_message_id"].as_str().unwrap_or_default();
        if let Some(t0) = started_at.get(mid).filter(|t0| **t0 >= measured_from) {
            latencies.push(r.at.saturating_duration_since(*t0).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Steady {
        measured: started_at.values().filter(|t0| **t0 >= measured_from).count(),
        posts: total,
        post_failures: failures.load(Ordering::Relaxed) as usize,
        delivered,
        signatures_valid,
        latencies,
        achieved_rate,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    MAX_IN_FLIGHT.store(a.max_in_flight, Ordering::Relaxed);
    println!(
        "# router-bench-flows: {} events, {} endpoints, {} clients, {} s per run, WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT {}\n",
        a.events,
        a.endpoints,
        a.clients,
        a.duration.as_secs(),
        a.max_in_flight
    );

    let run = |p: &str| a.only.as_deref().is_none_or(|o| o == p);
    if run("d") {
        println!("## D. CRM webhook delivery (one worker process, WORKER_CONCURRENCY 64)\n");
        println!("| scenario | deliveries/s (healthy endpoints) | latency p50 | latency p99 | delivered |");
        println!("| --- | --- | --- | --- | --- |");
        for (label, share) in [("all endpoints healthy", 0.0), ("10 % of endpoints dead (503)", 0.1)] {
            let (rate, p50, p99, n) = deliveries(a.events, a.endpoints, share).await?;
            println!("| {label} | {rate:.0} | {p50:.0} ms | {p99:.0} ms | {n} |");
        }
    }
    if run("e") {
        println!("\n## E. Instagram webhook ingest ({} concurrent clients)\n", a.clients);
        let app = spawn_app().await;
        let (merchant, key) = app.merchant_with_key("Bench").await;
        let ig = "17841400000000042";
        let (acct, _) = app.connect_account(&key, ig, "crm", SECRET).await;
        let account: Uuid = acct["account_id"].as_str().unwrap_or_default().parse()?;
        let mut rows: HashMap<usize, (f64, f64, f64, u64)> = HashMap::new();
        for per_post in [1usize, 100] {
            rows.insert(per_post, ingest(&app, ig, a.clients, a.duration, per_post).await);
        }
        let ceiling = pgbench(&app, account, merchant, a.clients, a.duration).await?;
        println!("| POST size | events/s | 200-OK p50 | 200-OK p99 | POSTs | events/s ÷ pgbench ceiling |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for per_post in [1usize, 100] {
            let (rate, p50, p99, posts) = rows[&per_post];
            println!(
                "| {per_post} event(s) | {rate:.0} | {p50:.1} ms | {p99:.1} ms | {posts} | {:.2} |",
                rate / ceiling
            );
        }
        println!("| pgbench, same per-event transaction, {} clients | {ceiling:.0} tx/s | | | | 1.00 |", a.clients);
    }
    if run("f") {
        println!(
            "\n## F. Steady state end to end: Meta webhook POST → ingest → worker → CRM receipt (3 s warm-up, then {} s measured per rate)\n",
            a.steady_duration.as_secs()
        );
        println!(
            "| offered rate | achieved | POSTs incl. warm-up (failed) | delivered | signatures valid | measured events | latency p50 | p95 | p99 | max | seed bar p95 < 2 s |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for &rate in &a.steady_rates {
            let r = steady(rate, Duration::from_secs(3), a.steady_duration).await?;
            let l = &r.latencies;
            let p95 = pct(l, 95.0);
            println!(
                "| {rate:.0}/s | {:.1}/s | {} ({}) | {} | {} | {} | {:.1} ms | {p95:.1} ms | {:.1} ms | {:.1} ms | {} |",
                r.achieved_rate,
                r.posts,
                r.post_failures,
                r.delivered,
                r.signatures_valid,
                l.len(),
                pct(l, 50.0),
                pct(l, 99.0),
                pct(l, 100.0),
                if r.delivered == r.posts && l.len() == r.measured && r.post_failures == 0 && p95 < 2000.0 {
                    "met"
                } else {
                    "NOT met"
                }
            );
        }
    }
    Ok(())
}
