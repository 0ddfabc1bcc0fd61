//! The router's release binaries as child processes, for the benchmark programs: start one with
//! an environment and a port, wait for its `/readyz`, read its memory from `/proc`.
//!
//! Why separate processes: an in-process bench shares one allocator and one runtime between the
//! API, the worker, the fakes and the load generator, so it cannot say how much memory each binary
//! needs, and a busy load generator steals the API's threads. The figures of issue 12 (peak RSS
//! per binary, deliveries/s with the three binaries apart) come from children started here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory now, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// The highest resident memory since the process started (the kernel's high-water mark), KiB.
pub fn hwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// A free loopback port (bound, read, released: good enough for a bench on one machine).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// One running router binary.
pub struct RouterProcess {
    /// `api`, `worker` or `scheduler`.
    pub role: &'static str,
    /// The port of its HTTP server (`PORT`, `WORKER_METRICS_PORT`, `SCHEDULER_METRICS_PORT`).
    pub port: u16,
    child: Child,
}

impl RouterProcess {
    /// Starts `router-<role>` from `bin_dir` with `env` (and nothing inherited that could change
    /// its configuration: the working directory is `run_dir`, which has no `.env`), logging to
    /// `run_dir/<role>.log`.
    ///
    /// # Errors
    /// The binary is missing or cannot start.
    pub fn start(
        bin_dir: &Path,
        run_dir: &Path,
        role: &'static str,
        env: &HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let exe = bin_dir.join(format!("router-{role}"));
        anyhow::ensure!(
            exe.exists(),
            "{} is missing: build it first with `cargo build --release -p router-api -p router-worker -p router-scheduler`",
            exe.display()
        );
        let port = free_port()?;
        let port_var = match role {
            "api" => "PORT",
            "worker" => "WORKER_METRICS_PORT",
            _ => "SCHEDULER_METRICS_PORT",
        };
        let log = std::fs::File::create(run_dir.join(format!("{role}.log")))?;
        let child = Command::new(&exe)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env)
            .env(port_var, port.to_string())
            .current_dir(run_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        Ok(Self { role, port, child })
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The OS process id (None once it exited).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits (up to 60 s) until `/readyz` answers 2xx.
    ///
    /// # Errors
    /// Not ready in time, or exited.
    pub async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!("{}/readyz", self.base());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait()? {
                bail!("router-{} exited during start-up: {st}", self.role);
            }
            if let Ok(r) = http.get(&url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("router-{} not ready after 60 s", self.role);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM and a wait of up to 10 s, then SIGKILL: a graceful stop as an orchestrator does.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // A positive pid: this one process only.
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Peak RSS per process, sampled every 100 ms between [`PeakRss::start`] and
/// [`PeakRss::finish`]: the peak of one phase (the kernel's `VmHWM` only knows the whole life).
pub struct PeakRss {
    peaks: Arc<Mutex<HashMap<&'static str, u64>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    /// Starts sampling `procs` (role, pid).
    #[must_use]
    pub fn start(procs: Vec<(&'static str, u32)>) -> Self {
        let peaks: Arc<Mutex<HashMap<&'static str, u64>>> = Arc::default();
        let stop = CancellationToken::new();
        let (p, s) = (peaks.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !s.is_cancelled() {
                for (role, pid) in &procs {
                    if let Some(kib) = rss_kib(*pid) {
                        let mut g = p.lock().expect("peaks");
                        let e = g.entry(role).or_default();
                        *e = (*e).max(kib);
                    }
                }
                tokio::select! {
                    () = s.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
        Self { peaks, stop, task }
    }

    /// Stops sampling; peak KiB per role.
    pub async fn finish(self) -> HashMap<&'static str, u64> {
        self.stop.cancel();
        let _ = self.task.await;
        std::mem::take(&mut *self.peaks.lock().expect("peaks"))
    }
}

/// `12.3 MB` from KiB (MB = 10^6 bytes, as the bars are written).
#[must_use]
pub fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

/// The default directory of the release binaries: `target/release` next to this bench binary
/// when it runs from there, else `./target/release`.
#[must_use]
pub fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|d| d.join("router-api").exists())
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

/// This process's own peak RSS so far (the in-process phases run API, worker, fakes and the load
/// generator in one process: this is their sum).
#[must_use]
pub fn own_hwm_kib() -> Option<u64> {
    hwm_kib(std::process::id())
}
