//! Process-level tests of the binaries: start one with an exact environment, wait for its ops
//! endpoints, stop it with SIGTERM.

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
        ("REDIS_URL", crate::test_redis_url()),
        ("ENCRYPTION_KEY", format!("1:{}", router_core::crypto::b64(&[9u8; 32]))),
        ("API_KEY_SALT", "process-test-salt-0123456789".into()),
        ("META_APP_ID", "1".into()),
        ("IG_APP_SECRET", "process-test-app-secret".into()),
        ("META_VERIFY_TOKEN", "process-test-verify".into()),
        ("API_BASE_URL", "http://127.0.0.1:10000".into()),
        ("LOG_FORMAT", "json".into()),
    ])
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

/// The start-up behaviour every non-API binary shares (DESIGN §2), as one parametrised test
/// each: the worker's and the scheduler's `tests/bin.rs` call these with their binary and ops port
/// variable.
pub struct OpsBinary {
    /// The binary (`env!("CARGO_BIN_EXE_…")`).
    pub bin: &'static str,
    /// Its ops port variable (`WORKER_METRICS_PORT`, `SCHEDULER_METRICS_PORT`).
    pub port_var: &'static str,
}

impl OpsBinary {
    /// Without `DATABASE_URL` the binary exits non-zero and names the variable.
    ///
    /// # Panics
    /// When it does not.
    pub fn exits_naming_a_missing_database_url(&self) {
        let mut env = dev_env(&crate::test_database_url());
        env.remove("DATABASE_URL");
        let out = spawn(self.bin, &[], &env).wait_with_output().expect("binary ran");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("DATABASE_URL: is required"), "{err}");
    }

    /// With Redis unreachable the binary exits non-zero within 15 s, naming Redis.
    ///
    /// # Panics
    /// When it does not.
    pub fn fails_fast_without_redis(&self) {
        let db = database();
        let mut env = dev_env(&db);
        env.insert("REDIS_URL", format!("redis://127.0.0.1:{}", free_port()));
        env.insert(self.port_var, free_port().to_string());
        let started = Instant::now();
        let out = spawn(self.bin, &[], &env).wait_with_output().expect("binary ran");
        assert!(!out.status.success());
        assert!(started.elapsed() < Duration::from_secs(15));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Redis"), "{err}");
    }

    /// The binary serves `/healthz`, `/readyz` and `/metrics` on its port and exits 0 on SIGTERM.
    ///
    /// # Panics
    /// When it does not.
    pub fn serves_ops_endpoints_and_stops_on_sigterm(&self) {
        let db = database();
        let mut env = dev_env(&db);
        let port = free_port();
        env.insert(self.port_var, port.to_string());
        let mut child = spawn(self.bin, &[], &env);
        assert!(wait_http_ok(port, "/healthz", Duration::from_secs(20)), "did not come up");
        assert!(wait_http_ok(port, "/readyz", Duration::from_secs(5)));
        assert!(wait_http_ok(port, "/metrics", Duration::from_secs(5)));
        let status = terminate(&mut child, Duration::from_secs(15)).expect("exited after SIGTERM");
        assert!(status.success(), "{status:?}");
    }
}

/// The variables only `router-api` reads (its configuration section).
pub const API_ONLY_VARS: &[&str] =
    &["API_KEY_SALT", "META_APP_ID", "IG_APP_SECRET", "META_VERIFY_TOKEN", "API_BASE_URL"];

impl OpsBinary {
    /// The binary reads only the configuration sections it uses: without any of the API's
    /// variables (`META_VERIFY_TOKEN`, `API_KEY_SALT`…) it starts, gets ready and stops cleanly.
    ///
    /// # Panics
    /// When it does not.
    pub fn starts_without_the_api_variables(&self) {
        let db = database();
        let mut env = dev_env(&db);
        for var in API_ONLY_VARS {
            env.remove(var);
        }
        let port = free_port();
        env.insert(self.port_var, port.to_string());
        let mut child = spawn(self.bin, &[], &env);
        let ready = wait_http_ok(port, "/readyz", Duration::from_secs(20));
        let status = terminate(&mut child, Duration::from_secs(15));
        let out = child.wait_with_output().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
        assert!(ready, "did not come up without the API's variables: {out}");
        assert!(status.expect("exited after SIGTERM").success(), "{out}");
    }
}

/// A fresh database for a process test (from a synchronous test).
///
/// # Panics
/// When Postgres is unreachable.
#[must_use]
pub fn database() -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(crate::create_database()).1
}
