//! Helpers for the binaries' own process-level tests (start, config errors, SIGTERM). Not used
//! by production code.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound and released).
///
/// # Panics
/// If loopback cannot be bound.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A complete development environment pointing at `database_url` and the local Redis.
#[must_use]
pub fn dev_env(database_url: &str) -> HashMap<&'static str, String> {
    HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        (
            "REDIS_URL",
            std::env::var("TEST_REDIS_URL")
                .or_else(|_| std::env::var("REDIS_URL"))
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        ),
        ("ENCRYPTION_KEY", format!("1:{}", crate::crypto::b64(&[9u8; 32]))),
        ("API_KEY_SALT", "process-test-salt-0123456789".into()),
        ("META_APP_ID", "1".into()),
        ("IG_APP_SECRET", "process-test-app-secret".into()),
        ("META_VERIFY_TOKEN", "process-test-verify".into()),
        ("API_BASE_URL", "http://127.0.0.1:10000".into()),
        ("LOG_FORMAT", "json".into()),
    ])
}

/// The database URL tests may use (`TEST_DATABASE_URL`, `DATABASE_URL`, or the local default).
#[must_use]
pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Starts `bin` with exactly `env` (plus PATH), capturing output.
///
/// # Panics
/// If the binary cannot be spawned.
#[must_use]
pub fn spawn(bin: &str, args: &[&str], env: &HashMap<&'static str, String>) -> Child {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // No `.env` file may leak into the test: run from an empty directory.
    cmd.current_dir(std::env::temp_dir());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn binary")
}

/// Polls `http://127.0.0.1:{port}{path}` until it answers 200 or `timeout` passes.
#[must_use]
pub fn wait_http_ok(port: u16, path: &str, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Sends SIGTERM and waits up to `timeout`; returns the exit status if it exited.
///
/// # Panics
/// If `kill` cannot run.
pub fn terminate(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

/// Creates and migrates a database `rt_<unix>_<random>` (the integration harness removes such
/// databases after two hours) and returns its URL.
///
/// # Panics
/// When Postgres is unreachable.
pub async fn create_test_database() -> String {
    use sqlx::Connection;
    let admin = test_database_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect TEST_DATABASE_URL");
    let name = format!(
        "rt_{}_{}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    sqlx::query(&format!("create database \"{name}\"")).execute(&mut conn).await.expect("create database");
    let mut url = url::Url::parse(&admin).expect("valid url");
    url.set_path(&format!("/{name}"));
    let pool = sqlx::PgPool::connect(url.as_str()).await.expect("connect");
    crate::MIGRATOR.run(&pool).await.expect("migrate");
    pool.close().await;
    url.to_string()
}
