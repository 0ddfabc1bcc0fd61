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
//! * P — the three binaries as separate processes (`router-api`, `router-worker`,
//!   `router-scheduler` from `--bin-dir`, default `target/release`), fakes and load generator in
//!   this process: (1) saturated delivery, `--process-clients` connections POSTing single-event
//!   Meta webhooks as fast as they are answered, deliveries/s counted at the fake CRM; (2) the
//!   same at a steady 200 events/s, latency Meta POST → CRM receipt; (3) the 32-client send run
//!   (`POST /messages/send`, the worker sending to the fake Graph API). Peak RSS of every process
//!   in each run, sampled every 100 ms.
//!
//! Usage: `cargo run --release -p router-bench --bin router-bench-flows -- [--events N]
//! [--endpoints E] [--clients C] [--duration T] [--steady-rates R1,R2] [--steady-duration S]
//! [--only d|e|f|p] [--max-in-flight N] [--process-clients N] [--bin-dir DIR] [--settle 0|1]`. With
//! `BENCH_LATENCY_DUMP=FILE` set, each steady run (F, P2) writes one line per measured event:
//! start offset, POST → CRM receipt and POST alone, in ms (to tell a stall from a spread tail),
//! after a `#` line giving offset 0 on the wall clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use router_bench::procs;
use router_core::domain::events;
use router_core::webhooks::{CrmEvent, enqueue_events};
use router_tests::TestApp;
use router_tests::router_fakes::crm::{FakeCrm, Reply};
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
    process_clients: usize,
    bin_dir: std::path::PathBuf,
    /// Phase P's binaries (`--p-roles api,worker`: leave one out to see what it costs).
    p_roles: Vec<String>,
    /// Flush the OS's dirty pages (`sync`) before each steady run (`--settle 0` to skip).
    settle: bool,
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
        process_clients: 32,
        bin_dir: procs::default_bin_dir(),
        p_roles: vec!["api".into(), "worker".into(), "scheduler".into()],
        settle: true,
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
            "--process-clients" => a.process_clients = n.clamp(1, 1024) as usize,
            "--bin-dir" => a.bin_dir = v[i + 1].clone().into(),
            "--p-roles" => a.p_roles = v[i + 1].split(',').map(|r| r.trim().to_owned()).collect(),
            "--settle" => a.settle = n != 0,
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

/// Writes the OS's dirty pages out (`sync`) and waits for it, so that a steady run measures the
/// router at that rate and not the kernel flushing what the set-up and the phase before wrote:
/// Linux writes a dirty page back 30 s after it was dirtied (`vm.dirty_expire_centisecs`), which
/// is when a steady run that follows a saturated one is measuring; the flush of a burst's
/// ~100 MB stalls every `fdatasync`, the commit's among them, for 50–300 ms (docs/PERFORMANCE.md).
/// Returns how long the flush took. A steady run longer than 30 s still meets its own writeback.
fn settle() -> Duration {
    let t = Instant::now();
    match std::process::Command::new("sync").status() {
        Ok(s) if s.success() => {}
        other => eprintln!("settle: `sync` did not run cleanly: {other:?}"),
    }
    t.elapsed()
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
        // The production default (the test harness turns the route cache off).
        v.insert("ROUTE_CACHE_SECS".into(), "5".into());
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
    let deadline = Instant::now() + Duration::from_secs(30);
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
    /// Sorted latencies of Meta's 200 (the POST alone) in ms, after the warm-up.
    post_ms: Vec<f64>,
}

/// Phase F. Meta webhooks with one event each at `rate`/s for `warmup` + `duration`, one
/// in-process worker running all job kinds, the fake CRM answering 200 at once; see
/// [`open_loop`].
async fn steady(rate: f64, warmup: Duration, duration: Duration) -> anyhow::Result<Steady> {
    let app = spawn_app().await;
    let (_, key) = app.merchant_with_key("Bench").await;
    let ig = "17841400000000077";
    app.connect_account(&key, ig, "steady", SECRET).await;
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(app.worker().run(cancel.clone()));
    let url = format!("{}/webhooks/instagram", app.base);
    let r = open_loop(&url, &app.crm, ig, "steady", rate, warmup, duration).await;
    cancel.cancel();
    let _ = worker.await;
    r
}

/// Meta webhooks with one event each, for account `ig` whose CRM endpoint is `path` on `crm`, at
/// `rate`/s for `warmup` + `duration` (open loop: a POST is started on schedule whatever the
/// previous ones do). Latency: POST start → the CRM's receipt of that event, for the events
/// started after the warm-up (the first second of a fresh process pays for opening pool
/// connections and preparing statements: 200–900 ms then, measured).
async fn open_loop(
    url: &str,
    crm: &FakeCrm,
    ig: &'static str,
    path: &str,
    rate: f64,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Steady> {
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let tag = Uuid::new_v4().simple().to_string();
    let before = crm.received_on(path).len();
    let warm = (rate * warmup.as_secs_f64()).round() as usize;
    let total = warm + (rate * duration.as_secs_f64()).round() as usize;
    let period = Duration::from_secs_f64(1.0 / rate);
    let started_at: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let failures = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let mut posts = Vec::with_capacity(total);
    for n in 0..total {
        tokio::time::sleep_until(start + period.mul_f64(n as f64)).await;
        let mid = format!("mid-steady-{tag}-{n}");
        let ev = meta::text_message(
            ig,
            &format!("{}", 6_000_000 + (n % 5000)),
            &mid,
            "Hi! Do you ship to Lisbon?",
            OffsetDateTime::now_utc(),
        );
        let (client, url, started_at, failures) =
            (client.clone(), url.to_owned(), started_at.clone(), failures.clone());
        posts.push(tokio::spawn(async move {
            let t0 = Instant::now();
            started_at.lock().expect("lock").insert(mid.clone(), t0);
            if !post_meta(&client, &url, ig, vec![ev]).await {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            (mid, t0, t0.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let measured_from = start.into_std() + warmup;
    let mut post_ms = Vec::with_capacity(total);
    let mut post_ms_of = HashMap::with_capacity(total);
    for p in posts {
        if let Ok((mid, t0, ms)) = p.await
            && t0 >= measured_from
        {
            post_ms.push(ms);
            post_ms_of.insert(mid, ms);
        }
    }
    post_ms.sort_by(f64::total_cmp);
    let achieved_rate = total as f64 / start.elapsed().as_secs_f64();
    let got = crm.wait_for(path, before + total, Duration::from_secs(60)).await;
    let started_at = started_at.lock().expect("lock").clone();
    let mut latencies = Vec::with_capacity(got.len());
    let mut timeline = Vec::with_capacity(got.len());
    let mut signatures_valid = 0;
    let mut delivered = 0;
    for r in &got {
        let mid = r.json["instagram_message_id"].as_str().unwrap_or_default();
        let Some(t0) = started_at.get(mid) else { continue };
        if r.event() != events::MESSAGE_RECEIVED {
            continue;
        }
        delivered += 1;
        if r.hub_signature_valid && r.standard_signature_valid {
            signatures_valid += 1;
        }
        if *t0 >= measured_from {
            let ms = r.at.saturating_duration_since(*t0).as_secs_f64() * 1000.0;
            latencies.push(ms);
            timeline.push((
                t0.saturating_duration_since(measured_from).as_secs_f64() * 1000.0,
                ms,
                post_ms_of.get(mid),
            ));
        }
    }
    latencies.sort_by(f64::total_cmp);
    if let Some(path) = std::env::var_os("BENCH_LATENCY_DUMP") {
        // One line per measured event, in start order: start offset, POST → CRM, POST alone (ms).
        timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Offset 0 on the wall clock, to line a stall up with logs and system samples.
        let zero = std::time::SystemTime::now() - measured_from.elapsed();
        let zero = zero.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let header = format!("# offset 0 = unix {zero:.3}; columns: offset ms, POST -> CRM ms, POST alone ms\n");
        let lines: String = std::iter::once(header)
            .chain(timeline.iter().map(|(at, ms, post)| {
                format!("{at:.1} {ms:.2} {}\n", post.map_or_else(|| "-".to_owned(), |p| format!("{p:.2}")))
            }))
            .collect();
        std::fs::write(path, lines)?;
    }
    Ok(Steady {
        measured: started_at.values().filter(|t0| **t0 >= measured_from).count(),
        posts: total,
        post_failures: failures.load(Ordering::Relaxed) as usize,
        delivered,
        signatures_valid,
        latencies,
        achieved_rate,
        post_ms,
    })
}

/// What the saturated run of phase P measured.
struct Saturated {
    /// POSTs answered 2xx in the measured window, per second.
    accepted_rate: f64,
    /// CRM receipts in the measured window, per second.
    delivered_rate: f64,
    post_p50: f64,
    post_p99: f64,
    /// POSTs answered 2xx in total (warm-up included) and not.
    accepted_total: usize,
    failed_total: usize,
    /// CRM receipts of this run's events once the backlog drained (or 60 s passed).
    delivered_total: usize,
    /// From the end of the load to the last receipt.
    drain: Duration,
}

/// Phase P (1): `clients` connections POST single-event Meta webhooks, each as soon as its last
/// one was answered (closed loop, as wrk does), spread over `igs` (one CRM endpoint each) and
/// 20 000 conversations, for `warmup` + `duration`.
async fn saturate(
    url: &str,
    crm: &FakeCrm,
    igs: &[String],
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> Saturated {
    let tag = Uuid::new_v4().simple().to_string();
    let before = crm.received_count();
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let (url, igs) = (Arc::new(url.to_owned()), Arc::new(igs.to_vec()));
    let (lat, accepted_total, failed_total) = closed_loop(clients, warmup, duration, move |client, n| {
        let (url, igs, tag) = (url.clone(), igs.clone(), tag.clone());
        async move {
            let ig = &igs[n as usize % igs.len()];
            let ev = meta::text_message(
                ig,
                &format!("{}", 7_000_000 + (n % 20_000)),
                &format!("mid-sat-{tag}-{n}"),
                "Hi! Is the blue one in stock in size M?",
                OffsetDateTime::now_utc(),
            );
            post_meta(&client, &url, ig, vec![ev]).await
        }
    })
    .await;
    let load_end = Instant::now();
    let delivered_total = crm.wait_for_count(before + accepted_total, Duration::from_secs(60)).await - before;
    let got = crm.received();
    let last = got.iter().skip(before).map(|r| r.at).max().unwrap_or(load_end);
    let in_window = got.iter().skip(before).filter(|r| r.at >= measure_from && r.at < end).count();
    let secs = duration.as_secs_f64();
    Saturated {
        accepted_rate: lat.len() as f64 / secs,
        delivered_rate: in_window as f64 / secs,
        post_p50: pct(&lat, 50.0),
        post_p99: pct(&lat, 99.0),
        accepted_total,
        failed_total,
        delivered_total,
        drain: last.saturating_duration_since(load_end),
    }
}

/// `clients` tasks (one HTTP client each), each starting its next request as soon as the last was
/// answered (closed loop, as wrk does), for `warmup` + `duration`; `request(client, n)` makes the
/// `n`-th request and says whether it was accepted. Returns the sorted latencies (ms) of accepted
/// requests started after the warm-up, the accepted count in total and the others.
async fn closed_loop<F, Fut>(
    clients: usize,
    warmup: Duration,
    duration: Duration,
    request: F,
) -> (Vec<f64>, usize, usize)
where
    F: Fn(reqwest::Client, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let seq = Arc::new(AtomicU64::new(0));
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let client = reqwest::Client::builder().tcp_nodelay(true).build().expect("client");
        let (seq, request) = (seq.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut ok, mut other) = (Vec::new(), 0usize, 0usize);
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                if request(client.clone(), seq.fetch_add(1, Ordering::Relaxed)).await {
                    ok += 1;
                    if t >= measure_from {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                } else {
                    other += 1;
                }
            }
            (lat, ok, other)
        }));
    }
    let (mut lat, mut ok, mut other) = (Vec::new(), 0, 0);
    for t in tasks {
        if let Ok((l, o, x)) = t.await {
            lat.extend(l);
            ok += o;
            other += x;
        }
    }
    lat.sort_by(f64::total_cmp);
    (lat, ok, other)
}

/// Phase P (3): `clients` connections `POST /api/v1/messages/send` (closed loop) for `warmup` +
/// `duration`, over `accounts`, 1 000 recipients with open windows each. Returns (accepted/s in the window, p50 ms,
/// p99 ms, accepted in total, other answers).
async fn send_run(
    api: &str,
    key: &str,
    accounts: &[String],
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> (f64, f64, f64, usize, usize) {
    let tag = Uuid::new_v4().simple().to_string();
    let (url, key, accounts) =
        (Arc::new(format!("{api}/api/v1/messages/send")), Arc::new(key.to_owned()), Arc::new(accounts.to_vec()));
    let (lat, ok, other) = closed_loop(clients, warmup, duration, move |client, n| {
        let (url, key, accounts, tag) = (url.clone(), key.clone(), accounts.clone(), tag.clone());
        async move {
            let body = json!({
                "account_id": accounts[n as usize % accounts.len()],
                "recipient_id": (17_841_400_000_000u64 + n % 1000).to_string(),
                "message": "Hi! Your order #48213 has shipped and should arrive on Tuesday.",
                "idempotency_key": format!("p-{tag}-{n}"),
            });
            let r = client.post(url.as_str()).bearer_auth(key.as_str()).json(&body).send().await;
            r.is_ok_and(|r| r.status().as_u16() == 202)
        }
    })
    .await;
    (lat.len() as f64 / duration.as_secs_f64(), pct(&lat, 50.0), pct(&lat, 99.0), ok, other)
}

/// The environment of the binaries in phase P: the test harness's variables (same database,
/// secrets and fakes as the setup app), with the production defaults for every tuning knob.
fn process_env(app: &TestApp) -> HashMap<String, String> {
    let mut env = router_tests::test_vars(&app.test_db.url, &app.graph.url());
    env.insert("ENCRYPTION_KEY".into(), app.key_spec.clone());
    for k in [
        "WORKER_POLL_INTERVAL_MS",
        "DATABASE_MAX_CONNECTIONS",
        "GRAPH_TIMEOUT_SECS",
        "WEBHOOK_TIMEOUT_SECS",
        "JOB_LEASE_SECS",
        "SEND_RECONCILE_WINDOW_SECS",
        "API_KEY_CACHE_SECS",
        "ROUTE_CACHE_SECS",
        "PORT",
        "WORKER_METRICS_PORT",
        "SCHEDULER_METRICS_PORT",
    ] {
        env.remove(k);
    }
    // One bench key sends tens of thousands of requests a minute.
    env.insert("API_RATE_LIMIT_PER_MINUTE".into(), "10000000".into());
    env.insert("LOG_FORMAT".into(), "json".into());
    env
}

/// The cells every steady-rate row shares: achieved rate, POSTs (failed), delivered, signatures
/// valid, measured events, latency p50, p95, p99, max.
fn steady_cells(r: &Steady) -> String {
    let l = &r.latencies;
    format!(
        "{:.1}/s | {} ({}) | {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms",
        r.achieved_rate,
        r.posts,
        r.post_failures,
        r.delivered,
        r.signatures_valid,
        l.len(),
        pct(l, 50.0),
        pct(l, 95.0),
        pct(l, 99.0),
        pct(l, 100.0)
    )
}

fn rss_cells(peaks: &HashMap<&'static str, u64>) -> String {
    ["api", "worker", "scheduler"]
        .iter()
        .map(|r| peaks.get(r).map_or_else(|| "?".to_owned(), |k| procs::mb(*k)))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Phase P: see the module docs.
async fn processes(a: &Args) -> anyhow::Result<()> {
    let app = spawn_app().await;
    let (_, key) = app.merchant_with_key("Bench").await;
    let mut igs = Vec::new();
    let mut account_ids = Vec::new();
    for e in 0..a.endpoints {
        let ig = format!("1784150000{e:07}");
        let (acct, _) = app.connect_account(&key, &ig, &format!("p{e}"), SECRET).await;
        account_ids.push(acct["account_id"].as_str().unwrap_or_default().to_owned());
        igs.push(ig);
    }
    const STEADY_IG: &str = "17841500009999999";
    app.connect_account(&key, STEADY_IG, "steady", SECRET).await;
    sqlx::query(
        r"insert into conversations (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
          select gen_random_uuid(), merchant_id, account_id, (17841400000000 + g)::text, now()
            from accounts, generate_series(0, 999) g where account_id::text = any($1)",
    )
    .bind(&account_ids)
    .execute(&app.db)
    .await?;
    // The in-process API only served the set-up; the binaries serve everything from here on.
    app.cancel.cancel();

    let run_dir = std::env::temp_dir().join(format!("router-bench-flows-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir)?;
    let env = process_env(&app);
    let http = reqwest::Client::new();
    let mut roles = Vec::new();
    for role in ["api", "worker", "scheduler"] {
        if !a.p_roles.iter().any(|r| r == role) {
            continue;
        }
        let mut p = procs::RouterProcess::start(&a.bin_dir, &run_dir, role, &env)?;
        p.wait_ready(&http).await?;
        roles.push(p);
    }
    let pids: Vec<(&'static str, u32)> = roles.iter().filter_map(|p| Some((p.role, p.pid()?))).collect();
    let api = roles[0].base();
    let webhook_url = format!("{api}/webhooks/instagram");
    println!(
        "Binaries from `{}`, production defaults (WORKER_CONCURRENCY 32, DATABASE_MAX_CONNECTIONS 20, \
         WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT 8, JSON logs at info); logs in `{}`. {} CRM endpoints.\n",
        a.bin_dir.display(),
        run_dir.display(),
        a.endpoints
    );
    let warmup = Duration::from_secs(3);

    let rss = procs::PeakRss::start(pids.clone());
    let sat = saturate(&webhook_url, &app.crm, &igs, a.process_clients, warmup, a.duration).await;
    let sat_rss = rss.finish().await;
    println!(
        "### P1. Saturated: {} connections of single-event Meta POSTs, {} s measured after {} s\n",
        a.process_clients,
        a.duration.as_secs(),
        warmup.as_secs()
    );
    println!(
        "| POSTs accepted/s | deliveries/s (CRM receipts in the window) | POST p50 | POST p99 | accepted (failed) in total | delivered in total | drain after load | peak RSS api | worker | scheduler |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {:.0} | {:.0} | {:.1} ms | {:.1} ms | {} ({}) | {} | {:.1} s | {} |\n",
        sat.accepted_rate,
        sat.delivered_rate,
        sat.post_p50,
        sat.post_p99,
        sat.accepted_total,
        sat.failed_total,
        sat.delivered_total,
        sat.drain.as_secs_f64(),
        rss_cells(&sat_rss)
    );

    println!("### P2. Steady: single-event Meta POSTs at a fixed rate, latency POST start → CRM receipt\n");
    println!(
        "| offered | achieved | POSTs (failed) | delivered | signatures valid | measured | p50 | p95 | p99 | max | POST alone p50 / p99 | peak RSS api | worker | scheduler |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut flushes = Vec::new();
    for &rate in &a.steady_rates {
        if a.settle {
            flushes.push(format!("{:.1} s", settle().as_secs_f64()));
        }
        let rss = procs::PeakRss::start(pids.clone());
        let r = open_loop(&webhook_url, &app.crm, STEADY_IG, "steady", rate, warmup, a.steady_duration).await?;
        let peaks = rss.finish().await;
        println!(
            "| {rate:.0}/s | {} | {:.1} / {:.1} ms | {} |",
            steady_cells(&r),
            pct(&r.post_ms, 50.0),
            pct(&r.post_ms, 99.0),
            rss_cells(&peaks)
        );
    }

    if a.settle {
        println!(
            "\nBefore each steady run the OS's dirty pages were flushed (`sync`: {}; `--settle 0` skips it).",
            flushes.join(", ")
        );
    } else {
        println!(
            "\nNo flush before the steady runs (`--settle 0`): they meet the kernel's writeback of what came before."
        );
    }

    let rss = procs::PeakRss::start(pids.clone());
    let (rate, p50, p99, ok, other) = send_run(&api, &key, &account_ids, 32, warmup, a.duration).await;
    // Let the worker send the backlog (its memory counts too).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pending = i64::MAX;
    while Instant::now() < deadline {
        pending =
            sqlx::query_scalar("select count(*) from jobs where kind = 'message.send'").fetch_one(&app.db).await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let send_rss = rss.finish().await;
    println!(
        "\n### P3. Send run: 32 connections `POST /api/v1/messages/send`, {} s measured, then the worker drains\n",
        a.duration.as_secs()
    );
    println!(
        "| accepted/s | p50 | p99 | accepted (other answers) | send jobs left after drain | peak RSS api | worker | scheduler |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!("| {rate:.0} | {p50:.1} ms | {p99:.1} ms | {ok} ({other}) | {pending} | {} |", rss_cells(&send_rss));

    let life: HashMap<&'static str, u64> =
        pids.iter().filter_map(|(role, pid)| Some((*role, procs::hwm_kib(*pid)?))).collect();
    println!("\nLifetime peak RSS (VmHWM) of each binary over phase P: {}\n", rss_cells(&life));
    for p in roles {
        p.stop().await;
    }
    Ok(())
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
            let p95 = pct(&r.latencies, 95.0);
            let met = r.delivered == r.posts && r.latencies.len() == r.measured && r.post_failures == 0 && p95 < 2000.0;
            println!("| {rate:.0}/s | {} | {} |", steady_cells(&r), if met { "met" } else { "NOT met" });
        }
    }
    if run("p") {
        println!("\n## P. The three binaries as separate processes\n");
        processes(&a).await?;
    }
    if let Some(kib) = procs::own_hwm_kib() {
        println!(
            "\nPeak RSS of this bench process (phases D, E and F run the API, the worker, the fakes and the load generator in it; phase P only the fakes and the load generator): {}",
            procs::mb(kib)
        );
    }
    Ok(())
}
