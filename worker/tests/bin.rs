//! Process-level tests of the `router-worker` binary.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use router_testing::process::{OpsBinary, dev_env, free_port, spawn, terminate, wait_http_ok};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_router-worker");
const WORKER: OpsBinary = OpsBinary { bin: BIN, port_var: "WORKER_METRICS_PORT" };

#[test]
fn a_missing_database_url_exits_non_zero_naming_it() {
    WORKER.exits_naming_a_missing_database_url();
}

#[test]
fn redis_unreachable_at_start_fails_fast() {
    WORKER.fails_fast_without_redis();
}

#[test]
fn starts_serves_health_ready_metrics_and_stops_cleanly_on_sigterm() {
    WORKER.serves_ops_endpoints_and_stops_on_sigterm();
}

/// Configuration is read in sections: `META_VERIFY_TOKEN` and the other API variables are not
/// this binary's to require.
#[test]
fn starts_without_the_api_only_variables() {
    WORKER.starts_without_the_api_variables();
}

/// A CRM that answers every request with `len` bytes, written 64 KiB at a time from one buffer
/// (nothing is allocated per byte), until the router hangs up. Returns its address and a counter
/// of the bytes it managed to write.
fn huge_crm(len: u64) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || answer_hugely(stream, len, &counter));
        }
    });
    (addr, sent)
}

fn answer_hugely(mut s: std::net::TcpStream, len: u64, sent: &AtomicU64) {
    let mut req = [0u8; 16 * 1024];
    let _ = s.read(&mut req);
    let chunk = vec![b'x'; 64 * 1024];
    if write!(s, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\n\r\n").is_err() {
        return;
    }
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if s.write_all(&chunk[..n]).is_err() {
            return;
        }
        sent.fetch_add(n as u64, Ordering::Relaxed);
        left -= n as u64;
    }
}

/// `VmHWM` / `VmRSS` of a process, in KiB.
fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in {status}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A merchant, an account and its CRM endpoint at `url`, plus one event for it.
async fn one_delivery_to(db: &str, env: &HashMap<&'static str, String>, url: &str) -> Uuid {
    use router_core::webhooks::{CrmEvent, enqueue_events};
    let config = router_core::config::Config::from_lookup(&|k| env.get(k).cloned()).unwrap();
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let (merchant, account) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query("insert into merchants (merchant_id, name) values ($1, 'Huge')")
        .bind(merchant)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into accounts (account_id, merchant_id, instagram_account_id, username, access_token_enc)
         values ($1, $2, '17841400000000099', 'huge', $3)",
    )
    .bind(account)
    .bind(merchant)
    .bind(config.keyring.encrypt("token"))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into webhook_endpoints (endpoint_id, merchant_id, account_id, url, secret_enc) values ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(merchant)
    .bind(account)
    .bind(url)
    .bind(config.keyring.encrypt("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    .execute(&pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let event = CrmEvent {
        merchant_id: merchant,
        account_id: account,
        event_type: router_core::domain::events::MESSAGE_RECEIVED,
        event_id: "huge:1".into(),
        data: serde_json::json!({"account_id": account, "message": "hi"}),
        conversation: Some("1".into()),
    };
    let ids = enqueue_events(&mut tx, &[event]).await.unwrap();
    tx.commit().await.unwrap();
    ids[0]
}

/// The delivery's status and the length of the body its last attempt stored, once it left
/// `pending` (or after `timeout`).
async fn settled(db: &str, id: Uuid, timeout: Duration) -> (String, Option<i32>) {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let status: String = sqlx::query_scalar("select status from webhook_deliveries where delivery_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        if status != "pending" || std::time::Instant::now() > deadline {
            let kept: Option<i32> = sqlx::query_scalar(
                "select octet_length(response_body) from delivery_attempts where delivery_id = $1 order by attempt_id desc limit 1",
            )
            .bind(id)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten();
            return (status, kept);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_crm_answering_a_huge_body_leaves_the_worker_memory_flat() {
    const HUGE: u64 = 256 * 1024 * 1024;
    const FLAT_KIB: u64 = 48 * 1024;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(router_testing::create_database()).1;
    let (crm, sent) = huge_crm(HUGE);
    let mut env = dev_env(&db);
    let port = free_port();
    env.insert("WORKER_METRICS_PORT", port.to_string());
    env.insert("WEBHOOK_TIMEOUT_SECS", "30".into());
    let mut child = spawn(BIN, &[], &env);
    if !wait_http_ok(port, "/readyz", Duration::from_secs(20)) {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("did not come up: {}", String::from_utf8_lossy(&out.stderr));
    }
    let peak_before = vm_kib(child.id(), "VmHWM");

    let id = rt.block_on(one_delivery_to(&db, &env, &format!("http://{crm}/hook")));
    let (status, kept) = rt.block_on(settled(&db, id, Duration::from_secs(60)));
    let (peak_after, rss_after) = (vm_kib(child.id(), "VmHWM"), vm_kib(child.id(), "VmRSS"));
    let _ = terminate(&mut child, Duration::from_secs(15));

    assert_eq!(status, "delivered");
    assert_eq!(kept, Some(4096), "the first 4 KiB are kept");
    let grown = peak_after.saturating_sub(peak_before);
    assert!(grown < FLAT_KIB, "peak RSS grew by {grown} KiB ({peak_before} → {peak_after}) for a {HUGE}-byte answer");
    assert!(rss_after < peak_before + FLAT_KIB, "RSS {rss_after} KiB");
    let streamed = sent.load(Ordering::Relaxed);
    assert!(streamed < HUGE / 4, "the worker let the CRM send {streamed} bytes");
}

/// A job that fails with an error, with `RUST_BACKTRACE=1` in the worker's environment (a common
/// debugging setting, and the default of some shells): the log line carries the cause chain, not
/// a resolved backtrace. Formatting the error with `?` resolved anyhow's captured backtrace,
/// which loaded the binary's debug info into the worker at the first failure: 150 MB of RSS in
/// `router-proof --scenario pg-restart`, where every running job fails at once.
#[test]
fn a_failing_job_logs_its_cause_chain_without_a_backtrace_and_memory_stays_flat() {
    const FLAT_KIB: u64 = 48 * 1024;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(router_testing::create_database()).1;
    let mut env = dev_env(&db);
    let port = free_port();
    env.insert("WORKER_METRICS_PORT", port.to_string());
    env.insert("RUST_BACKTRACE", "1".into());
    // A delivery whose endpoint secret no longer decrypts, waiting before the worker starts: its
    // job ends in an error.
    let id = rt.block_on(async {
        let id = one_delivery_to(&db, &env, "http://127.0.0.1:9/hook").await;
        let pool = sqlx::PgPool::connect(&db).await.unwrap();
        sqlx::query("update webhook_endpoints set secret_enc = secret_enc || 'x'").execute(&pool).await.unwrap();
        id
    });
    let mut child = spawn(BIN, &[], &env);
    if !wait_http_ok(port, "/readyz", Duration::from_secs(20)) {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("did not come up: {}", String::from_utf8_lossy(&out.stderr));
    }
    let error = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let e: Option<String> = sqlx::query_scalar(
                "select last_error from jobs where kind = 'webhook.deliver' and payload->>'delivery_id' = $1::text",
            )
            .bind(id)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten();
            if e.is_some() || std::time::Instant::now() > deadline {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let peak = vm_kib(child.id(), "VmHWM");
    let _ = terminate(&mut child, Duration::from_secs(15));
    let mut logs = String::new();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();

    assert!(error.is_some(), "the job failed and was rescheduled with its error");
    let failed: Vec<&str> = logs.lines().filter(|l| l.contains("\"job failed\"")).collect();
    assert!(!failed.is_empty(), "a `job failed` line in {logs}");
    for line in &failed {
        assert!(!line.contains("backtrace") && !line.contains(" at /"), "a backtrace in the log: {line}");
    }
    // Idle, the worker is about 11 MB; resolving one backtrace took it to 150 MB.
    assert!(peak < FLAT_KIB, "peak RSS {peak} KiB after a failed job");
}
