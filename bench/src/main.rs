//! `router-bench`: load benchmark of the send path, in one run, on one database.
//!
//! ```text
//! cargo run --release -p router-bench -- --clients 32 --duration 15
//! ```
//!
//! * **Phase A, API**: the real `router-api` router (in process, via the `router-tests` harness,
//!   real Postgres and Redis) takes `POST /api/v1/messages/send` from `--clients` closed-loop HTTP
//!   clients (keep-alive, one request in flight each, a unique idempotency key per request) for
//!   `--warmup` + `--duration` seconds. Requests started during the measured window count:
//!   accepted/s (202s), latency percentiles, errors. No worker runs (jobs accumulate).
//! * **Phase B, the ceiling**: `pgbench -M prepared -c clients -j threads -T duration` of the
//!   same single-message transaction (`bench/sql/send_one_message.pgbench`) on the same database,
//!   as the same RLS role: what one transaction per message can reach here. It runs before phase
//!   A (so its connections fit under `max_connections`) and is reported after it.
//! * **Phase C, worker**: queue tables emptied; `--messages` messages enqueued through the API;
//!   then `--runners` worker runners (the real claim loop, `WORKER_CONCURRENCY`) send them to the
//!   fake Graph API; sends/s until every message is `delivered`. Then a paced live run
//!   (`--live-rate` msg/s for `--live-duration` s, workers running) gives end-to-end latency
//!   (`created_at` → `sent_at`).
//!
//! Everything is loopback and bounded in time and count. The database is dropped at the end.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use router_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The pgbench script of one message (phase B).
const PGBENCH_SCRIPT: &str = include_str!("../sql/send_one_message.pgbench");

/// Recipients are numeric IGSIDs `RECIPIENT_BASE + i`.
const RECIPIENT_BASE: u64 = 17_841_400_000_000;

/// Realistic CRM texts (a shipped order, a question answered, a reminder).
const TEXTS: &[&str] = &[
    "Hi! Your order #48213 has shipped and should arrive on Tuesday. Track it here: https://shop.example/t/8KQ2ZP",
    "Thanks for reaching out! Yes, the linen shirt is back in stock in sizes S to XL. Want me to reserve one for you?",
    "Reminder: your appointment is tomorrow at 3:30 pm. Reply YES to confirm or NO to reschedule.",
    "We're sorry for the delay. A refund of 24.90 EUR was issued today; it can take 3-5 business days to show up.",
];

#[derive(Parser, Debug, Clone)]
#[command(
    name = "router-bench",
    about = "Send-path benchmark: API accept rate and latency, pgbench ceiling, worker sends/s"
)]
struct Args {
    /// Concurrent HTTP clients (phase A) and pgbench clients (phase B).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Measured seconds of phase A and of the pgbench run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Warm-up seconds before phase A and phase B measure.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Messages of the worker drain (phase C).
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Distinct recipients (conversations with an open window) messages are spread over.
    #[arg(long, default_value_t = 1000)]
    recipients: u64,
    /// `DATABASE_MAX_CONNECTIONS` of the API pool and of the worker pool.
    #[arg(long, default_value_t = 40)]
    db_connections: u32,
    /// `WORKER_CONCURRENCY` per runner.
    #[arg(long, default_value_t = 64)]
    worker_concurrency: usize,
    /// Worker runners (claim loops) in the process, sharing one pool.
    #[arg(long, default_value_t = 1)]
    runners: usize,
    /// pgbench threads (`-j`).
    #[arg(long, default_value_t = 2)]
    pgbench_threads: usize,
    /// Offered rate (msg/s) of the live end-to-end latency run; 0 skips it.
    #[arg(long, default_value_t = 200)]
    live_rate: u32,
    /// Seconds of the live run.
    #[arg(long, default_value_t = 5)]
    live_duration: u64,
    /// Experiment: serve phase A-C from a second in-process API whose group-commit outbox runs
    /// this many committer tasks (the API's built-in value is used when absent).
    #[arg(long)]
    committers: Option<usize>,
    /// `API_KEY_CACHE_SECS` of the API under test: the production default (2 s) unless given; 0
    /// looks every request's key up in Postgres (the integration tests' setting).
    #[arg(long, default_value_t = 2)]
    key_cache_secs: u64,
    /// Seeded mode: `--seed-messages` historical messages first and `ANALYZE` before each phase
    /// (the planner sees realistic, analysed tables). Without it (the default, "fresh"), the
    /// tables start empty, grow during the run and are never analysed by the bench: what a new
    /// install or a new merchant meets before autovacuum's first pass.
    #[arg(long)]
    seeded: bool,
    /// Historical messages (delivered, with history and idempotency records) written before the
    /// run in `--seeded` mode.
    #[arg(long, default_value_t = 100_000)]
    seed_messages: u64,
    /// Logging inside the process: `prod` = the API's production filter (info) formatted as JSON
    /// into a discarding writer (formatting cost included, no I/O); `off`; or any RUST_LOG filter
    /// printed to stderr.
    #[arg(long, default_value = "prod")]
    log: String,
    /// Skip phase A.
    #[arg(long)]
    skip_api: bool,
    /// Skip phase B.
    #[arg(long)]
    skip_pgbench: bool,
    /// Skip phase C.
    #[arg(long)]
    skip_worker: bool,
    /// Phase C runs the worker's full job set (sends and CRM webhook deliveries to the fake CRM)
    /// and also reports webhook deliveries/s; by default only sends are run and measured.
    #[arg(long)]
    with_webhooks: bool,
    /// Also run pgbench without the NOTIFY statement (a second ceiling; NOTIFY serialises commits).
    #[arg(long)]
    pgbench_without_notify: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.duration == 0 || args.recipients == 0 {
        bail!("--clients, --duration and --recipients must be positive");
    }
    init_logging(&args.log);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(args))
}

fn init_logging(spec: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Installed before the harness's own (test) subscriber, which then stays inactive.
    match spec {
        "off" => {
            let _ = tracing_subscriber::registry().with(tracing_subscriber::EnvFilter::new("off")).try_init();
        }
        "prod" => {
            let filter = tracing_subscriber::EnvFilter::new("info,router_api=info,router_core=info,sqlx=warn");
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(true)
                        .with_span_list(false)
                        .with_writer(std::io::sink),
                )
                .try_init();
        }
        other => {
            let _ = tracing_subscriber::registry()
                .with(tracing_subscriber::EnvFilter::new(other))
                .with(tracing_subscriber::fmt::layer().compact().with_writer(std::io::stderr))
                .try_init();
        }
    }
}

/// What a load run needs to send requests.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    url: String,
    key: String,
    account_id: String,
    recipients: u64,
    run_id: String,
}

impl Target {
    /// One send; returns the HTTP status (0 for a transport error).
    async fn send(&self, client_no: usize, seq: u64) -> u16 {
        let r = (seq.wrapping_mul(7919) + client_no as u64 * 104_729) % self.recipients;
        let body = json!({
            "account_id": self.account_id,
            "recipient_id": (RECIPIENT_BASE + r).to_string(),
            "message": TEXTS[(seq as usize + client_no) % TEXTS.len()],
            "metadata": {"ticket_id": format!("T-{r}")},
            "idempotency_key": format!("bench-{}-{client_no}-{seq}", self.run_id),
        });
        let resp = self.client.post(&self.url).bearer_auth(&self.key).json(&body).send().await;
        match resp {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let _ = resp.bytes().await;
                status
            }
            Err(_) => 0,
        }
    }
}

/// Results of a load run.
#[derive(Default)]
struct Load {
    /// Latencies of accepted (202) requests started in the measured window.
    latencies: Vec<Duration>,
    /// Non-202 outcomes in the window by status (0 = transport error).
    errors: BTreeMap<u16, u64>,
    /// Accepted requests per second of the window (by completion time).
    per_second: Vec<u64>,
    /// From the window's start to the last measured completion.
    elapsed: Duration,
    /// 202s in total, warm-up included.
    accepted_total: u64,
}

impl Load {
    fn merge(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        if self.per_second.len() < other.per_second.len() {
            self.per_second.resize(other.per_second.len(), 0);
        }
        for (i, v) in other.per_second.into_iter().enumerate() {
            self.per_second[i] += v;
        }
        self.elapsed = self.elapsed.max(other.elapsed);
        self.accepted_total += other.accepted_total;
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Closed loop: `clients` tasks, one request in flight each, until `end`; requests started
/// before `measure_from` are warm-up.
async fn closed_loop(target: &Target, clients: usize, measure_from: Instant, end: Instant) -> Load {
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let t = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut load = Load::default();
            let mut seq = 0u64;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let status = t.send(c, seq).await;
                seq += 1;
                let done = Instant::now();
                if status == 202 {
                    load.accepted_total += 1;
                }
                if started < measure_from {
                    continue;
                }
                if status == 202 {
                    load.latencies.push(done - started);
                    let sec = (done - measure_from).as_secs() as usize;
                    if load.per_second.len() <= sec {
                        load.per_second.resize(sec + 1, 0);
                    }
                    load.per_second[sec] += 1;
                } else {
                    *load.errors.entry(status).or_default() += 1;
                }
                load.elapsed = load.elapsed.max(done - measure_from);
            }
            load
        }));
    }
    let mut total = Load::default();
    for t in tasks {
        if let Ok(l) = t.await {
            total.merge(l);
        }
    }
    total
}

/// Sends until `n` messages are accepted, with `clients` tasks (bounded: at most 2 × `n`
/// attempts; a few more than `n` may be accepted). Returns (accepted, errors).
async fn send_count(target: &Target, clients: usize, n: usize, tag: &str) -> (usize, BTreeMap<u16, u64>) {
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (next, accepted) = (next.clone(), accepted.clone());
        let t = Target { run_id: format!("{}-{tag}", target.run_id), ..target.clone() };
        tasks.push(tokio::spawn(async move {
            let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
            while accepted.load(Ordering::Relaxed) < n {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= 2 * n {
                    break;
                }
                match t.send(c, seq as u64).await {
                    202 => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    status => *errors.entry(status).or_default() += 1,
                }
            }
            errors
        }));
    }
    let mut errors = BTreeMap::new();
    for t in tasks {
        if let Ok(e) = t.await {
            for (k, v) in e {
                *errors.entry(k).or_insert(0) += v;
            }
        }
    }
    (accepted.load(Ordering::Relaxed), errors)
}

/// Open loop at `rate` msg/s for `secs` (at most `max_in_flight` outstanding).
async fn paced(target: &Target, rate: u32, secs: u64, max_in_flight: usize) -> Load {
    let sem = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let start = Instant::now();
    let total = u64::from(rate) * secs;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let at = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(at.into()).await;
        let Ok(permit) = sem.clone().acquire_owned().await else { break };
        let t = Target { run_id: format!("{}-live", target.run_id), ..target.clone() };
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let status = t.send(0, i).await;
            drop(permit);
            (status, started.elapsed(), Instant::now())
        }));
    }
    let mut load = Load::default();
    for t in tasks {
        if let Ok((status, lat, done)) = t.await {
            if status == 202 {
                load.latencies.push(lat);
                load.accepted_total += 1;
            } else {
                *load.errors.entry(status).or_default() += 1;
            }
            load.elapsed = load.elapsed.max(done - start);
        }
    }
    load
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Machine-wide busy and total CPU ticks (USER_HZ, all CPUs) from `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Every process's (category, utime + stime ticks).
fn process_ticks(own_pid: u32, db_name: &str) -> HashMap<u32, (&'static str, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = &stat[open + 1..close];
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the command: state is field 3; utime and stime are fields 14 and 15.
        let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let cat = if pid == own_pid {
            "bench process (API + clients + fakes + worker)"
        } else if comm == "postgres" {
            // The process title names the database of a backend.
            let title = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&title).contains(db_name) {
                "postgres (bench db backends)"
            } else {
                "postgres (other: wal writer, checkpointer, other databases)"
            }
        } else if comm == "pgbench" {
            "pgbench"
        } else if comm.starts_with("redis-server") {
            "redis"
        } else {
            "other processes"
        };
        out.insert(pid, (cat, ticks));
    }
    out
}

/// Share of the machine (%) other processes may use before a phase is flagged as disturbed.
const OTHER_LOAD_LIMIT: f64 = 8.0;

/// Samples CPU use per process category while a phase runs (processes started during the phase
/// count in full; those that exit lose at most one sampling interval).
struct CpuSampler {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<(String, f64)>,
}

impl CpuSampler {
    fn start(db_name: &str) -> Self {
        let stop = CancellationToken::new();
        let s = stop.clone();
        let db_name = db_name.to_owned();
        let task = tokio::task::spawn_blocking(move || {
            let own = std::process::id();
            let m0 = machine_ticks();
            let mut last = process_ticks(own, &db_name);
            let mut used: BTreeMap<&'static str, u64> = BTreeMap::new();
            loop {
                let stopped = s.is_cancelled();
                if !stopped {
                    std::thread::sleep(Duration::from_millis(200));
                }
                let now = process_ticks(own, &db_name);
                for (pid, (cat, t)) in &now {
                    let before = last.get(pid).map_or(0, |(_, b)| *b);
                    *used.entry(cat).or_default() += t.saturating_sub(before);
                }
                last = now;
                if stopped {
                    break;
                }
            }
            let (Some((b0, t0)), Some((b1, t1))) = (m0, machine_ticks()) else { return ("n/a".to_owned(), 0.0) };
            let total = (t1 - t0).max(1) as f64;
            let mut s = format!("machine {:.0} % busy", 100.0 * (b1 - b0) as f64 / total);
            let other = 100.0 * used.get("other processes").copied().unwrap_or(0) as f64 / total;
            let mut parts: Vec<(&str, u64)> = used.into_iter().filter(|(_, v)| *v > 0).collect();
            parts.sort_by_key(|p| std::cmp::Reverse(p.1));
            for (i, (cat, v)) in parts.into_iter().enumerate() {
                let _ = write!(s, "{} {cat} {:.0} %", if i == 0 { ":" } else { "," }, 100.0 * v as f64 / total);
            }
            if other > OTHER_LOAD_LIMIT {
                let _ = write!(s, " — DISTURBED: unrelated processes used {other:.0} % of the machine");
            }
            (s, other)
        });
        Self { stop, task }
    }

    async fn finish(self) -> String {
        self.stop.cancel();
        let (s, other) = self.task.await.unwrap_or_else(|_| ("n/a".into(), 0.0));
        if other > OTHER_LOAD_LIMIT {
            eprintln!("warning: unrelated processes used {other:.0} % of the machine during this phase");
        }
        s
    }
}

/// Cluster-wide WAL counters (pg_stat_wal) and this database's commits.
#[derive(Clone, Copy, Default)]
struct PgCounters {
    wal_syncs: i64,
    wal_records: i64,
    xact_commit: i64,
}

async fn pg_counters(db: &PgPool) -> PgCounters {
    let r: Result<(i64, i64, i64), _> = sqlx::query_as(
        "select w.wal_sync, w.wal_records, d.xact_commit from pg_stat_wal w, pg_stat_database d where d.datname = current_database()",
    )
    .fetch_one(db)
    .await;
    r.map(|(wal_syncs, wal_records, xact_commit)| PgCounters { wal_syncs, wal_records, xact_commit })
        .unwrap_or_default()
}

/// Commit batches of messages created in `[from, to)`: rows per inserting transaction (xmin).
async fn batch_stats(db: &PgPool, from: OffsetDateTime, to: OffsetDateTime) -> (i64, f64, i64, i64) {
    sqlx::query_as(
        r"select count(*)::int8, coalesce(avg(n), 0)::float8,
                 coalesce(percentile_disc(0.5) within group (order by n), 0)::int8, coalesce(max(n), 0)::int8
            from (select count(*) as n from outbound_messages
                   where created_at >= $1 and created_at < $2 group by xmin::text) b",
    )
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
    .unwrap_or((0, 0.0, 0, 0))
}

struct PgbenchResult {
    tps: f64,
    latency_ms: f64,
    transactions: u64,
    failed: u64,
    wal_syncs: i64,
    cpu: String,
}

fn parse_pgbench(out: &str) -> Option<(f64, f64, u64, u64)> {
    let mut tps = None;
    let mut lat = None;
    let mut tx = None;
    let mut failed = 0;
    for line in out.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("tps = ") {
            tps = rest.split_whitespace().next().and_then(|x| x.parse().ok());
        } else if let Some(rest) = l.strip_prefix("latency average = ") {
            lat = rest.split_whitespace().next().and_then(|x| x.parse().ok());
        } else if let Some(rest) = l.strip_prefix("number of transactions actually processed: ") {
            tx = rest.split_whitespace().next().and_then(|x| x.parse().ok());
        } else if let Some(rest) = l.strip_prefix("number of failed transactions: ") {
            failed = rest.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0);
        }
    }
    Some((tps?, lat?, tx?, failed))
}

/// A pgbench invocation against the bench database.
struct Pgbench<'a> {
    db: &'a PgPool,
    url: &'a str,
    clients: usize,
    threads: usize,
    ids: &'a Ids,
    recipients: u64,
}

async fn run_pgbench(pb: &Pgbench<'_>, script: &str, secs: u64) -> anyhow::Result<PgbenchResult> {
    let Pgbench { db, url: db_url, clients, threads, ids, recipients } = *pb;
    let path = std::env::temp_dir().join(format!("router-bench-{}-{}.pgbench", std::process::id(), Uuid::new_v4()));
    std::fs::write(&path, script)?;
    let before = pg_counters(db).await;
    let db_name = db_url.rsplit('/').next().unwrap_or_default().to_owned();
    let cpu = CpuSampler::start(&db_name);
    let out = tokio::process::Command::new("pgbench")
        .env("PGOPTIONS", "-c role=router_app")
        .args(["-n", "-M", "prepared", "--no-vacuum"])
        .args(["-c", &clients.to_string(), "-j", &threads.min(clients).to_string(), "-T", &secs.to_string()])
        .arg("-f")
        .arg(&path)
        .args(["-D", &format!("merchant={}", ids.merchant)])
        .args(["-D", &format!("account={}", ids.account)])
        .args(["-D", &format!("api_key={}", ids.api_key)])
        .args(["-D", &format!("recipients={recipients}")])
        .args(["-D", &format!("recipient_base={RECIPIENT_BASE}")])
        .args(["-D", &format!("message_text={}", TEXTS[0])])
        .arg(db_url)
        .kill_on_drop(true)
        .output()
        .await
        .context("running pgbench (is it installed? apt-get install postgresql-client)")?;
    let cpu = cpu.finish().await;
    let after = pg_counters(db).await;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let Some((tps, latency_ms, transactions, failed)) = parse_pgbench(&stdout) else {
        bail!("pgbench failed ({}):\n{stdout}\n{stderr}", out.status);
    };

    if !stderr.trim().is_empty() && failed > 0 {
        eprintln!("pgbench stderr (first lines):");
        for l in stderr.lines().take(5) {
            eprintln!("  {l}");
        }
    }
    Ok(PgbenchResult { tps, latency_ms, transactions, failed, wal_syncs: after.wal_syncs - before.wal_syncs, cpu })
}

/// Writes `n` delivered messages of the last hour with their history and idempotency records.
async fn seed(db: &PgPool, ids: &Ids, n: u64, recipients: u64) -> anyhow::Result<()> {
    sqlx::query(
        r"with m as (
              insert into outbound_messages (message_id, merchant_id, account_id, recipient_id, message_text, metadata,
                                             status, instagram_message_id, instagram_message_ids, idempotency_key,
                                             api_key_id, created_at, updated_at, sent_at, delivered_at, parts_total)
              select gen_random_uuid(), $1, $2, ($4::int8 + g % $5::int8)::text, $6,
                     jsonb_build_object('ticket_id', 'T-' || g), 'delivered', 'seed-mid-' || g, array['seed-mid-' || g],
                     'seed-' || g, $3, t, t, t + interval '20 ms', t + interval '20 ms', 1
                from generate_series(1, $7::int8) g,
                     lateral (select now() - interval '1 hour' + g * (interval '1 hour' / $7::int8)) as ts (t)
              returning message_id, merchant_id, idempotency_key, created_at
          ),
          e as (
              insert into message_events (merchant_id, message_id, status, occurred_at)
              select merchant_id, message_id, s, created_at from m, unnest(array['pending', 'sent', 'delivered']) as s
          )
          insert into idempotency_keys (merchant_id, idempotency_key, request_hash, response_status, response_body,
                                        message_id, expires_at)
          select merchant_id, idempotency_key, sha256(convert_to(idempotency_key, 'UTF8')), 202,
                 jsonb_build_object('message_id', message_id, 'status', 'pending'), message_id,
                 created_at + interval '24 hours'
            from m",
    )
    .bind(ids.merchant)
    .bind(ids.account)
    .bind(ids.api_key)
    .bind(RECIPIENT_BASE as i64)
    .bind(recipients as i64)
    .bind(TEXTS[0])
    .bind(n as i64)
    .execute(db)
    .await?;
    Ok(())
}

struct Ids {
    merchant: Uuid,
    account: Uuid,
    api_key: Uuid,
}

async fn scalar_i64(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap_or(-1)
}

/// Reads of the `jobs` table: (seq scans, rows they read, index scans, rows they fetched).
async fn jobs_scans(db: &PgPool) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "select seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0)
           from pg_stat_user_tables where relname = 'jobs'",
    )
    .fetch_one(db)
    .await
    .unwrap_or((0, 0, 0, 0))
}

fn scans_line(a: (i64, i64, i64, i64), b: (i64, i64, i64, i64), secs: f64) -> String {
    let per_s = |x: i64| x as f64 / secs.max(1e-9);
    format!(
        "{:.0} seq scans/s reading {:.0} rows/s; {:.0} index scans/s fetching {:.0} rows/s",
        per_s(b.0 - a.0),
        per_s(b.1 - a.1),
        per_s(b.2 - a.2),
        per_s(b.3 - a.3)
    )
}

async fn scalar_bool(db: &PgPool, sql: &str) -> bool {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap_or(false)
}

async fn setting(db: &PgPool, name: &str) -> String {
    sqlx::query_scalar("select current_setting($1)").bind(name).fetch_one(db).await.unwrap_or_else(|_| "?".into())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut report = String::new();
    let clients = args.clients;
    eprintln!("router-bench: starting the API (fresh database, fake Graph API, fake CRM)…");
    let a = args.clone();
    let app = TestApp::spawn_with(move |v| {
        v.insert("DATABASE_MAX_CONNECTIONS".into(), a.db_connections.to_string());
        v.insert("API_RATE_LIMIT_PER_MINUTE".into(), "10000000".into());
        v.insert("RATE_LIMIT_TEXT_PER_SEC".into(), "10000".into());
        v.insert("RATE_LIMIT_MEDIA_PER_SEC".into(), "10000".into());
        v.insert("WORKER_CONCURRENCY".into(), a.worker_concurrency.to_string());
        v.insert("WORKER_POLL_INTERVAL_MS".into(), "500".into());
        v.insert("API_KEY_CACHE_SECS".into(), a.key_cache_secs.to_string());
        v.insert("JOB_LEASE_SECS".into(), "60".into());
        v.insert("GRAPH_TIMEOUT_SECS".into(), "10".into());
    })
    .await;

    let (merchant, key) = app.merchant_with_key("bench merchant").await;
    let (account, _token) =
        app.connect_account(&key, "17841400000001", "/crm/bench", "whsec_benchbenchbenchbench").await;
    let account_id: Uuid = account["account_id"].as_str().context("account_id")?.parse()?;
    let api_key_id = app.key_id(&key).await;
    sqlx::query(
        r"insert into conversations (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
          select gen_random_uuid(), a.merchant_id, a.account_id, ($2::int8 + g)::text, now()
            from accounts a, generate_series(0, $3::int8 - 1) g
           where a.account_id = $1",
    )
    .bind(account_id)
    .bind(RECIPIENT_BASE as i64)
    .bind(args.recipients as i64)
    .execute(&app.db)
    .await
    .context("opening the messaging windows")?;
    let ids = Ids { merchant, account: account_id, api_key: api_key_id };
    if args.seeded && args.seed_messages > 0 {
        eprintln!("seeding {} historical messages…", args.seed_messages);
        seed(&app.db, &ids, args.seed_messages, args.recipients).await.context("seeding")?;
    }
    analyze(&app.db, &args, "vacuum analyze").await?;

    let base = match args.committers {
        None => app.base.clone(),
        Some(n) => {
            let mut state = app.state.clone();
            state.outbox = router_api::outbox::Outbox::start(
                state.db.clone(),
                state.config.api().idempotency_ttl.as_secs_f64(),
                n,
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let base = format!("http://{}", listener.local_addr()?);
            tokio::spawn(router_api::serve(state, listener, app.cancel.clone()));
            base
        }
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients.max(64))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let target = Target {
        client,
        url: format!("{base}/api/v1/messages/send"),
        key,
        account_id: account_id.to_string(),
        recipients: args.recipients,
        run_id: Uuid::new_v4().simple().to_string()[..8].to_owned(),
    };

    // Machine facts.
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let pg_version = setting(&app.db, "server_version").await;
    let sync_commit = setting(&app.db, "synchronous_commit").await;
    let fsync = setting(&app.db, "fsync").await;
    let wal_sync_method = setting(&app.db, "wal_sync_method").await;
    let shared_buffers = setting(&app.db, "shared_buffers").await;
    let commit_delay = setting(&app.db, "commit_delay").await;

    let background = {
        let m0 = machine_ticks();
        tokio::time::sleep(Duration::from_secs(1)).await;
        match (m0, machine_ticks()) {
            (Some((b0, t0)), Some((b1, t1))) => 100.0 * (b1 - b0) as f64 / (t1 - t0).max(1) as f64,
            _ => 0.0,
        }
    };
    if background > 15.0 {
        eprintln!("warning: the machine was {background:.0} % busy before the run; figures will be low");
    }
    let _ = writeln!(report, "## router-bench results\n");
    let _ = writeln!(
        report,
        "Machine: {nproc} CPUs ({cpu_model}); PostgreSQL {pg_version} (synchronous_commit={sync_commit}, fsync={fsync}, \
         wal_sync_method={wal_sync_method}, shared_buffers={shared_buffers}, commit_delay={commit_delay}); load generator, \
         API, fakes, Postgres and Redis share these CPUs. Background load before the run: {background:.0} %.\n"
    );
    let _ = writeln!(
        report,
        "Mode: {}\n\nSettings: --clients {clients} --duration {} --warmup {} --messages {} --recipients {} --db-connections {} \
         --worker-concurrency {} --runners {} --live-rate {} --live-duration {} --log {} {} --key-cache-secs {}{}\n",
        if args.seeded {
            "**seeded** (historical messages written first, ANALYZE before each phase)"
        } else {
            "**fresh** (empty tables growing during the run, never analysed by the bench: a new install)"
        },
        args.duration,
        args.warmup,
        args.messages,
        args.recipients,
        args.db_connections,
        args.worker_concurrency,
        args.runners,
        args.live_rate,
        args.live_duration,
        args.log,
        if args.seeded { format!("--seeded --seed-messages {}", args.seed_messages) } else { "(fresh)".to_owned() },
        args.key_cache_secs,
        args.committers.map_or_else(String::new, |n| format!(" --committers {n}"))
    );

    // ---------------------------------------------------------------- Phase B: pgbench ceiling.
    // Runs first (reported second): pgbench needs `--clients` connections of its own, and the API
    // pool only grows to DATABASE_MAX_CONNECTIONS once phase A has run.
    let mut report_b = String::new();
    let mut ceiling = None;
    if !args.skip_pgbench {
        analyze(&app.db, &args, "analyze").await?;
        let db_url = app.test_db.url.clone();
        let mut variants = vec![("same transaction (with NOTIFY)", PGBENCH_SCRIPT.to_owned())];
        if args.pgbench_without_notify {
            let without: String =
                PGBENCH_SCRIPT.lines().filter(|l| !l.contains("pg_notify")).map(|l| format!("{l}\n")).collect();
            variants.push(("same transaction without NOTIFY", without));
        }
        let _ = writeln!(
            report_b,
            "### Phase B: pgbench, one transaction per message (bench/sql/send_one_message.pgbench)\n"
        );
        let _ = writeln!(
            report_b,
            "| variant | clients | tps | avg latency | transactions | failed | WAL flushes/s | CPU |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        let pb = Pgbench {
            db: &app.db,
            url: &db_url,
            clients,
            threads: args.pgbench_threads,
            ids: &ids,
            recipients: args.recipients,
        };
        let headroom = scalar_i64(
            &app.db,
            "select current_setting('max_connections')::int8 - (select count(*) from pg_stat_activity)",
        )
        .await;
        if headroom < clients as i64 + 3 {
            bail!(
                "pgbench needs {clients} connections but Postgres has {headroom} free (max_connections); \
                 lower --clients or raise max_connections"
            );
        }
        let jobs_before = scalar_i64(&app.db, "select count(*) from jobs").await;
        let mut pgbench_tx = 0;
        for (i, (name, script)) in variants.iter().enumerate() {
            if args.warmup > 0 {
                eprintln!("phase B: pgbench warm-up {} s ({name})…", args.warmup);
                pgbench_tx += run_pgbench(&pb, script, args.warmup).await?.transactions;
            }
            eprintln!("phase B: pgbench {} s, {clients} clients ({name})…", args.duration);
            let r = run_pgbench(&pb, script, args.duration).await?;
            pgbench_tx += r.transactions;
            if i == 0 {
                ceiling = Some(r.tps);
            }
            let _ = writeln!(
                report_b,
                "| {name} | {clients} | **{:.0}** | {:.2} ms | {} | {} | {:.0} | {} |",
                r.tps,
                r.latency_ms,
                r.transactions,
                r.failed,
                r.wal_syncs as f64 / args.duration as f64,
                r.cpu
            );
        }
        let rows =
            scalar_i64(&app.db, "select count(*) from outbound_messages where idempotency_key like 'pgbench-%'").await;
        let events = scalar_i64(
            &app.db,
            "select count(*) from message_events e join outbound_messages m using (message_id) \
             where m.idempotency_key like 'pgbench-%'",
        )
        .await;
        let jobs = scalar_i64(&app.db, "select count(*) from jobs").await - jobs_before;
        let ok = rows == pgbench_tx as i64 && events == rows && jobs == rows;
        let _ = writeln!(
            report_b,
            "\nCheck: {pgbench_tx} pgbench transactions (warm-up included) wrote {rows} messages, {events} history rows, \
             {jobs} jobs: {}\n",
            if ok { "OK" } else { "MISMATCH" }
        );
    }

    // ---------------------------------------------------------------- Phase A: the API.
    let mut api_rate = None;
    let mut api_latency = None;
    if !args.skip_api {
        if !args.seeded {
            // Fresh: phase A starts from empty tables, as a new install does (pgbench, which ran
            // first, wrote into them). TRUNCATE also forgets any statistics autovacuum took.
            sqlx::query(
                "truncate outbound_messages, message_events, idempotency_keys, jobs, dead_jobs, webhook_deliveries, \
                 delivery_attempts, send_intents",
            )
            .execute(&app.db)
            .await
            .context("emptying the tables pgbench wrote")?;
        }
        eprintln!("phase A: {clients} clients, {} s warm-up + {} s measured…", args.warmup, args.duration);
        let rows_before = scalar_i64(&app.db, "select count(*) from outbound_messages").await;
        let now = Instant::now();
        let measure_from = now + Duration::from_secs(args.warmup);
        let end = measure_from + Duration::from_secs(args.duration);
        let wall_from = OffsetDateTime::now_utc() + Duration::from_secs(args.warmup);
        let stats = {
            let db = app.db.clone();
            let db_name = app.test_db.name.clone();
            let warm = Duration::from_secs(args.warmup);
            // Counters sampled at the window's start, concurrently with the load.
            tokio::spawn(async move {
                tokio::time::sleep(warm).await;
                (pg_counters(&db).await, CpuSampler::start(&db_name))
            })
        };
        let mut load = closed_loop(&target, clients, measure_from, end).await;
        let (pg0, cpu) = stats.await.context("sampler")?;
        let pg1 = pg_counters(&app.db).await;
        let cpu = cpu.finish().await;
        let wall_to = OffsetDateTime::now_utc();
        let rows_after = scalar_i64(&app.db, "select count(*) from outbound_messages").await;
        let (batches, avg_batch, p50_batch, max_batch) = batch_stats(&app.db, wall_from, wall_to).await;
        load.latencies.sort_unstable();
        let l = &load.latencies;
        let rate = load.rate();
        api_rate = Some(rate);
        api_latency = Some((pct(l, 0.5), pct(l, 0.95), pct(l, 0.99)));
        let secs = load.elapsed.as_secs_f64();
        let full: Vec<u64> = load.per_second.iter().take(args.duration as usize).copied().collect();
        let (min_s, max_s) = (full.iter().min().copied().unwrap_or(0), full.iter().max().copied().unwrap_or(0));
        let stored = rows_after - rows_before;
        let _ = writeln!(report, "### Phase A: POST /api/v1/messages/send, {clients} concurrent clients\n");
        let _ = writeln!(report, "| metric | value |\n| --- | --- |");
        let _ = writeln!(report, "| accepted (202) in the window | {} in {secs:.2} s |", l.len());
        let _ = writeln!(report, "| **accept rate** | **{rate:.0} msg/s** (1-s buckets: min {min_s}, max {max_s}) |");
        let _ = writeln!(
            report,
            "| latency p50 / p95 / p99 / max | {} / {} / {} / {} ms |",
            ms(pct(l, 0.50)),
            ms(pct(l, 0.95)),
            ms(pct(l, 0.99)),
            ms(pct(l, 1.0))
        );
        let _ = writeln!(report, "| errors | {} {:?} |", load.error_count(), load.errors);
        let _ = writeln!(
            report,
            "| durability check | {} 202s (warm-up included), {stored} rows stored: {} |",
            load.accepted_total,
            if stored == load.accepted_total as i64 { "OK" } else { "MISMATCH" }
        );
        let _ = writeln!(
            report,
            "| commits (group-commit batches) | {batches} ({:.0}/s), messages per commit avg {avg_batch:.1}, p50 {p50_batch}, max {max_batch} |",
            batches as f64 / secs.max(1e-9)
        );
        let _ = writeln!(
            report,
            "| WAL flushes (pg_stat_wal.wal_sync, cluster-wide) | {} ({:.0}/s) |",
            pg1.wal_syncs - pg0.wal_syncs,
            (pg1.wal_syncs - pg0.wal_syncs) as f64 / secs.max(1e-9)
        );
        let _ = writeln!(
            report,
            "| DB transactions (xact_commit, incl. auth lookups) | {:.0}/s; WAL records {:.0}/s |",
            (pg1.xact_commit - pg0.xact_commit) as f64 / secs.max(1e-9),
            (pg1.wal_records - pg0.wal_records) as f64 / secs.max(1e-9)
        );
        let _ = writeln!(report, "| CPU during the window | {cpu} |\n");
    }

    report.push_str(&report_b);

    // ---------------------------------------------------------------- Phase C: the worker.
    let mut worker_rate = None;
    let mut e2e: Option<(Vec<Duration>, Load)> = None;
    let mut live_cpu = String::new();
    let mut live_scans = String::new();
    if !args.skip_worker {
        sqlx::query(
            "truncate outbound_messages, message_events, idempotency_keys, jobs, dead_jobs, webhook_deliveries, delivery_attempts, send_intents",
        )
        .execute(&app.db)
        .await
        .context("emptying the queue tables")?;
        let n = args.messages;
        eprintln!("phase C: enqueueing {n} messages through the API…");
        let (accepted, errors) = send_count(&target, clients, n, "drain").await;
        if accepted < n {
            bail!("only {accepted} of {n} messages accepted: {errors:?}");
        }
        let queued = scalar_i64(&app.db, "select count(*) from outbound_messages where status = 'pending'").await;
        analyze(&app.db, &args, "analyze").await?;
        let worker_db =
            router_core::db::connect_owner_pool(&app.config.database_url, app.config.database_max_connections)
                .await
                .context("worker pool")?;
        let ctx = Arc::new(router_core::jobs::JobContext::new(
            worker_db.clone(),
            Arc::new(app.config.clone()),
            app.state.limiter.clone(),
        ));
        let cancel = CancellationToken::new();
        eprintln!("phase C: draining {queued} messages with {} runner(s)…", args.runners);
        let scans0 = jobs_scans(&app.db).await;
        let cpu = CpuSampler::start(&app.test_db.name);
        let started_wall = OffsetDateTime::now_utc();
        let started = Instant::now();
        let mut runners = Vec::new();
        for _ in 0..args.runners {
            let mut r = router_worker::runner(ctx.clone());
            if !args.with_webhooks {
                r = r.with_kinds(&[router_core::jobs::kinds::SEND_MESSAGE]);
            }
            runners.push(tokio::spawn(r.run(cancel.clone())));
        }
        // Sends are done when their jobs are gone (a send deletes its job in its final
        // transaction); the drain time comes from the last `sent_at`. Polling is cheap (exists).
        let deadline = started + Duration::from_secs(60 + queued.max(0) as u64 / 20);
        let pending_sends = "select exists (select 1 from jobs where kind = 'message.send')";
        while Instant::now() < deadline && scalar_bool(&app.db, pending_sends).await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (delivered, last_sent): (i64, Option<OffsetDateTime>) =
            sqlx::query_as("select count(*), max(sent_at) from outbound_messages where status = 'delivered'")
                .fetch_one(&app.db)
                .await?;
        let drain = last_sent.map_or_else(|| started.elapsed(), |t| (t - started_wall).unsigned_abs());
        let mut webhooks_line = String::new();
        if args.with_webhooks {
            let all_jobs = "select exists (select 1 from jobs)";
            while Instant::now() < deadline && scalar_bool(&app.db, all_jobs).await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let (ok, total, last): (i64, i64, Option<OffsetDateTime>) = sqlx::query_as(
                "select count(*) filter (where status = 'delivered'), count(*), max(delivered_at) from webhook_deliveries",
            )
            .fetch_one(&app.db)
            .await?;
            let secs = last.map_or(0.0, |t| (t - started_wall).as_seconds_f64());
            webhooks_line = format!(
                "| CRM webhooks (message.sent + message.delivered) | {ok} of {total} delivered to the fake CRM, \
                 {:.0}/s (WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT {}) |\n",
                ok as f64 / secs.max(1e-9),
                app.config.webhook_max_in_flight_per_endpoint
            );
        }
        let cpu = cpu.finish().await;
        let drain_scans = scans_line(scans0, jobs_scans(&app.db).await, started.elapsed().as_secs_f64());
        let failed = scalar_i64(&app.db, "select count(*) from outbound_messages where status = 'failed'").await;
        let rate = delivered as f64 / drain.as_secs_f64().max(1e-9);
        worker_rate = Some(rate);
        let graph_sent = app.graph.sent().len();

        let _ = writeln!(report, "### Phase C: worker → fake Graph API\n");
        let _ = writeln!(report, "| metric | value |\n| --- | --- |");
        let _ = writeln!(
            report,
            "| backlog drain | {delivered} of {queued} delivered in {:.2} s{} |",
            drain.as_secs_f64(),
            if delivered < queued { " (TIMED OUT)" } else { "" }
        );
        let _ = writeln!(
            report,
            "| **worker sends/s** | **{rate:.0}** ({} runner(s) × WORKER_CONCURRENCY {}, pool {}) |",
            args.runners, args.worker_concurrency, args.db_connections
        );
        let _ = writeln!(report, "| failed / Graph API calls seen by the fake | {failed} / {graph_sent} |");
        let _ = write!(report, "{webhooks_line}");
        let _ = writeln!(
            report,
            "| reads of the `jobs` table during the drain (claims, ordering probes, completions) | {drain_scans} |"
        );
        let _ = writeln!(report, "| CPU during the drain | {cpu} |");

        // Live: API and workers together at a fixed offered rate.
        if args.live_rate > 0 {
            if !args.with_webhooks {
                // The drain left two CRM webhook jobs per message that a sends-only runner never
                // takes; every claim scans them (see docs/PERFORMANCE.md), so start clean.
                sqlx::query("delete from jobs where kind = 'webhook.deliver'").execute(&app.db).await?;
                sqlx::query("truncate webhook_deliveries, delivery_attempts").execute(&app.db).await?;
            }
            analyze(&app.db, &args, "vacuum analyze jobs").await?;
            eprintln!("phase C: live run, {} msg/s for {} s with workers running…", args.live_rate, args.live_duration);
            let live_from = OffsetDateTime::now_utc();
            let scans0 = jobs_scans(&app.db).await;
            let live_started = Instant::now();
            let cpu = CpuSampler::start(&app.test_db.name);
            let load = paced(&target, args.live_rate, args.live_duration, clients.max(64)).await;
            live_cpu = cpu.finish().await;
            live_scans = scans_line(scans0, jobs_scans(&app.db).await, live_started.elapsed().as_secs_f64());
            let deadline = Instant::now() + Duration::from_secs(60);
            let pending_sends = "select exists (select 1 from jobs where kind = 'message.send')";
            while Instant::now() < deadline && scalar_bool(&app.db, pending_sends).await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let lat: Vec<f64> = sqlx::query_scalar(
                r"select extract(epoch from sent_at - created_at)::float8 from outbound_messages
                   where created_at >= $1 and sent_at is not null order by 1",
            )
            .bind(live_from)
            .fetch_all(&app.db)
            .await?;
            let lat: Vec<Duration> = lat.into_iter().map(|s| Duration::from_secs_f64(s.max(0.0))).collect();
            e2e = Some((lat, load));
        }
        cancel.cancel();
        for r in runners {
            let _ = r.await;
        }
        worker_db.close().await;
        if let Some((lat, load)) = &mut e2e {
            load.latencies.sort_unstable();
            let _ = writeln!(
                report,
                "| live run | {} msg/s offered for {} s: {} accepted, {} errors {:?} |",
                args.live_rate,
                args.live_duration,
                load.latencies.len(),
                load.error_count(),
                load.errors
            );
            let _ = writeln!(
                report,
                "| live: API latency p50 / p95 / p99 / max | {} / {} / {} / {} ms |",
                ms(pct(&load.latencies, 0.5)),
                ms(pct(&load.latencies, 0.95)),
                ms(pct(&load.latencies, 0.99)),
                ms(pct(&load.latencies, 1.0))
            );
            let _ = writeln!(
                report,
                "| live: end-to-end created_at → sent_at p50 / p95 / p99 / max ({} messages) | {} / {} / {} / {} ms |",
                lat.len(),
                ms(pct(lat, 0.5)),
                ms(pct(lat, 0.95)),
                ms(pct(lat, 0.99)),
                ms(pct(lat, 1.0))
            );
            let _ = writeln!(report, "| live: CPU | {live_cpu} |");
            let _ = writeln!(report, "| live: reads of the `jobs` table | {live_scans} |");
        }
        let _ = writeln!(report);
    }

    // ---------------------------------------------------------------- Summary.
    let _ = writeln!(report, "### Summary against the bar\n");
    let _ = writeln!(report, "| check | measured | bar | met |\n| --- | --- | --- | --- |");
    if let (Some(api), Some(ceil)) = (api_rate, ceiling) {
        let _ = writeln!(
            report,
            "| accept rate / pgbench ceiling | {api:.0} / {ceil:.0} = **{:.2}×** | ≥ 1.00× | {} |",
            api / ceil,
            yes(api >= ceil)
        );
    }
    if let Some(api) = api_rate {
        let _ = writeln!(report, "| accept rate | {api:.0} msg/s | ≥ 100 msg/s | {} |", yes(api >= 100.0));
    }
    if let Some((_, p95, p99)) = api_latency {
        let _ = writeln!(
            report,
            "| API p99 latency | {} ms | ≤ 25 ms | {} |",
            ms(p99),
            yes(p99 <= Duration::from_millis(25))
        );
        let _ = writeln!(
            report,
            "| API p95 latency | {} ms | < 200 ms | {} |",
            ms(p95),
            yes(p95 < Duration::from_millis(200))
        );
    }
    if let Some(w) = worker_rate {
        let _ = writeln!(report, "| worker sends/s | {w:.0} | ≥ 100 msg/s | {} |", yes(w >= 100.0));
    }
    if let Some(kib) = router_bench::procs::own_hwm_kib() {
        let _ = writeln!(
            report,
            "\nPeak RSS of this process (API, worker, fake Graph API and load generator share it; \
             per-binary figures: `router-bench-flows --only p`): {}",
            router_bench::procs::mb(kib)
        );
    }
    println!("{report}");
    let name = app.test_db.name.clone();
    drop(app);
    eprintln!("router-bench: done (database {name} dropped)");
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "**no**" }
}

/// Runs `statement` (a `VACUUM`/`ANALYZE`) in `--seeded` mode only: fresh runs never analyse, so
/// they measure the plans a never-analysed database gets.
async fn analyze(db: &sqlx::PgPool, args: &Args, statement: &str) -> anyhow::Result<()> {
    if args.seeded {
        sqlx::query(statement).execute(db).await?;
    }
    Ok(())
}
