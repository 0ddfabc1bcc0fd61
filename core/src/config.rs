//! Typed configuration, read from the environment once at start and validated as a whole.
//!
//! Why one validator for every binary: an operator who forgets three variables should learn about
//! all three from one start attempt, each on its own line, and never from a panic backtrace. The
//! same [`Config`] is built by tests in code ([`Config::from_lookup`]) with port 0 and the fakes'
//! URLs. Secrets are [`SecretString`]s: their `Debug` is redacted and they are exposed only at the
//! point of use.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::crypto::Keyring;

/// Every environment variable the router reads. `.env.example` lists each one, and a test fails
/// when the code reads a variable this list (and so the example file) does not name.
pub const ENV_VARS: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_APP_URL",
    "DATABASE_MAX_CONNECTIONS",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEYS_PREVIOUS",
    "API_KEY_SALT",
    "META_APP_ID",
    "IG_APP_SECRET",
    "SANDBOX_IG_APP_SECRET",
    "META_VERIFY_TOKEN",
    "GRAPH_API_VERSION",
    "GRAPH_API_BASE_URL",
    "SANDBOX_GRAPH_API_BASE_URL",
    "INSTAGRAM_OAUTH_BASE_URL",
    "INSTAGRAM_AUTHORIZE_URL",
    "API_BASE_URL",
    "PORT",
    "BIND_ADDRESS",
    "WORKER_METRICS_PORT",
    "SCHEDULER_METRICS_PORT",
    "ROUTER_ENV",
    "CORS_ALLOWED_ORIGINS",
    "OAUTH_REDIRECT_ALLOWED_ORIGINS",
    "RUST_LOG",
    "LOG_FORMAT",
    "SENTRY_DSN",
    "MAX_BODY_BYTES",
    "GRAPH_TIMEOUT_SECS",
    "SEND_RECONCILE_WINDOW_SECS",
    "WEBHOOK_TIMEOUT_SECS",
    "WEBHOOK_RETRY_SCHEDULE",
    "WEBHOOK_RETRY_HORIZON_SECS",
    "WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT",
    "WEBHOOK_SECRET_OVERLAP_SECS",
    "WEBHOOK_CIRCUIT_THRESHOLD",
    "WEBHOOK_CIRCUIT_OPEN_SECS",
    "JOB_LEASE_SECS",
    "WORKER_CONCURRENCY",
    "WORKER_POLL_INTERVAL_MS",
    "RATE_LIMIT_TEXT_PER_SEC",
    "RATE_LIMIT_MEDIA_PER_SEC",
    "API_RATE_LIMIT_PER_MINUTE",
    "API_KEY_CACHE_SECS",
    "ROUTE_CACHE_SECS",
    "IDEMPOTENCY_TTL_HOURS",
    "RETENTION_DAYS",
    "TOKEN_REFRESH_WINDOW_DAYS",
];

/// `development` (default) or `production` (strict checks: TLS Redis with a password, an https
/// public URL, no placeholder or weak secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterEnv {
    Development,
    Production,
}

/// `json` (default in production) or `pretty` (default in development).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The configuration of a binary, read in sections: the shared sections (database, Redis, keys,
/// Graph API, logging, queue and delivery tunables) that every binary needs, and the API's own
/// section ([`ApiConfig`]), required only by `router-api`. The worker and the scheduler do not
/// read the API's variables at all, so they start without `META_VERIFY_TOKEN`, `API_KEY_SALT`
/// and the like. Fields are documented with their env var.
#[derive(Clone)]
pub struct Config {
    /// `ROUTER_ENV`.
    pub env: RouterEnv,
    /// `DATABASE_URL`: the owner role. Migrations, worker and scheduler use it.
    pub database_url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS` (default 20) per pool.
    pub database_max_connections: u32,
    /// `REDIS_URL`: mandatory, no in-memory fallback.
    pub redis_url: SecretString,
    /// `REDIS_KEY_PREFIX` (default `router:`): every Redis key starts with it, so several
    /// deployments (or parallel tests) can share one Redis.
    pub redis_key_prefix: String,
    /// `ENCRYPTION_KEY` + `ENCRYPTION_KEYS_PREVIOUS`.
    pub keyring: Keyring,
    /// `GRAPH_API_VERSION` (default `v24.0`).
    pub graph_api_version: String,
    /// `GRAPH_API_BASE_URL` (default `https://graph.instagram.com`).
    pub graph_api_base_url: Url,
    /// `SANDBOX_GRAPH_API_BASE_URL`: where accounts created with `router_test_` keys are served
    /// (the fake Graph API). Unset: test keys cannot connect accounts.
    pub sandbox_graph_api_base_url: Option<Url>,
    /// `INSTAGRAM_OAUTH_BASE_URL` (default `https://api.instagram.com`): code exchange host.
    pub instagram_oauth_base_url: Url,
    /// `BIND_ADDRESS` (default `0.0.0.0`, every interface, as containers need): the address the
    /// API and the worker's and scheduler's metrics servers listen on. `scripts/dev-up.sh` sets
    /// `127.0.0.1`, so a development machine exposes nothing to its network.
    pub bind_address: std::net::IpAddr,
    /// `WORKER_METRICS_PORT` (default 10001).
    pub worker_metrics_port: u16,
    /// `SCHEDULER_METRICS_PORT` (default 10002).
    pub scheduler_metrics_port: u16,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `SENTRY_DSN`: when set, error-level log events are reported to Sentry.
    pub sentry_dsn: Option<SecretString>,
    /// `GRAPH_TIMEOUT_SECS` (default 10).
    pub graph_timeout: Duration,
    /// `SEND_RECONCILE_WINDOW_SECS` (default 30): after an ambiguous Send API answer (timeout,
    /// lost connection, 5xx without a Graph error, code 1 such as 1/1357046) the send is held this
    /// long for Meta's echo webhook before the part is sent again (`reconcile`).
    pub send_reconcile_window: Duration,
    /// `WEBHOOK_TIMEOUT_SECS` (default 15).
    pub webhook_timeout: Duration,
    /// `WEBHOOK_RETRY_SCHEDULE` (default `1,2,4,8,16` seconds): the fast retries.
    pub webhook_retry_schedule: Vec<Duration>,
    /// `WEBHOOK_RETRY_HORIZON_SECS` (default 86400): extended retries stop this long after the
    /// first attempt; the delivery then goes to the DLQ.
    pub webhook_retry_horizon: Duration,
    /// `WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT` (default 8).
    pub webhook_max_in_flight_per_endpoint: u32,
    /// `WEBHOOK_SECRET_OVERLAP_SECS` (default 86400): how long an old secret keeps signing.
    pub webhook_secret_overlap: Duration,
    /// `WEBHOOK_CIRCUIT_THRESHOLD` (default 5): consecutive failures that open an endpoint's circuit.
    pub webhook_circuit_threshold: u32,
    /// `WEBHOOK_CIRCUIT_OPEN_SECS` (default 30): first open period; doubles per re-open, max 10 min.
    pub webhook_circuit_open: Duration,
    /// `JOB_LEASE_SECS` (default 60): must exceed the slowest job (validated).
    pub job_lease: Duration,
    /// `WORKER_CONCURRENCY` (default 32): jobs in flight per worker process.
    pub worker_concurrency: usize,
    /// `WORKER_POLL_INTERVAL_MS` (default 500): the fallback when no NOTIFY arrives.
    pub worker_poll_interval: Duration,
    /// `RATE_LIMIT_TEXT_PER_SEC` (default 90): per account, below Meta's 100/s.
    pub rate_limit_text_per_sec: u32,
    /// `RATE_LIMIT_MEDIA_PER_SEC` (default 9): per account, below Meta's 10/s.
    pub rate_limit_media_per_sec: u32,
    /// `RETENTION_DAYS` (default 90): message content older than this is purged.
    pub retention_days: u32,
    /// `TOKEN_REFRESH_WINDOW_DAYS` (default 10): refresh tokens expiring within this window.
    pub token_refresh_window_days: u32,
    /// The API's section: `Some` when read for `router-api` ([`Config::from_lookup`],
    /// [`Section::Api`]), `None` in the worker and the scheduler.
    pub api: Option<ApiConfig>,
}

/// The variables only `router-api` reads: its listener, its public URL, Meta's app credentials
/// and webhook handshake, API keys, CORS and OAuth redirects, request limits.
#[derive(Clone)]
pub struct ApiConfig {
    /// `DATABASE_APP_URL`: what the API connects with (defaults to `DATABASE_URL`). Whatever it
    /// names, every API connection switches to the RLS-bound `router_app` role on connect.
    pub database_app_url: SecretString,
    /// `API_KEY_SALT`: pepper of HMAC-SHA256 API key hashes.
    pub api_key_salt: SecretString,
    /// `META_APP_ID`: the Instagram app id (OAuth `client_id`).
    pub meta_app_id: String,
    /// `IG_APP_SECRET`: verifies Meta's webhook signatures and signs OAuth exchanges of live
    /// accounts. It is only ever sent to `INSTAGRAM_OAUTH_BASE_URL` / `GRAPH_API_BASE_URL`.
    pub ig_app_secret: SecretString,
    /// `SANDBOX_IG_APP_SECRET`: the sandbox's own app secret, required when
    /// `SANDBOX_GRAPH_API_BASE_URL` is set. Sandbox OAuth exchanges send it (never the live one) to
    /// the sandbox host, and the sandbox Graph API signs its simulated webhooks with it, so a
    /// signature made with it vouches only for sandbox accounts. Production refuses it equal to
    /// `IG_APP_SECRET`.
    pub sandbox_ig_app_secret: Option<SecretString>,
    /// `META_VERIFY_TOKEN`: the answer to Meta's webhook handshake.
    pub meta_verify_token: SecretString,
    /// `INSTAGRAM_AUTHORIZE_URL` (default `https://www.instagram.com/oauth/authorize`).
    pub instagram_authorize_url: Url,
    /// `API_BASE_URL`: public URL of the router; the OAuth redirect URI derives from it.
    pub api_base_url: Url,
    /// `PORT` (default 10000).
    pub port: u16,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated allow-list; empty means no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
    /// `OAUTH_REDIRECT_ALLOWED_ORIGINS`: origins (`https://crm.example.com`) an OAuth
    /// `redirect_after` may point to, comma-separated. `API_BASE_URL`'s own origin is always
    /// allowed; empty means only that one. See [`Config::redirect_allowed`].
    pub oauth_redirect_allowed_origins: Vec<url::Origin>,
    /// `MAX_BODY_BYTES` (default 262144): larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `API_RATE_LIMIT_PER_MINUTE` (default 6000): per API key.
    pub api_rate_limit_per_minute: u32,
    /// `API_KEY_CACHE_SECS` (default 2): how long an API-key lookup is reused; revocation through
    /// another replica (or SQL) takes effect within this time. 0 disables the cache.
    pub api_key_cache_ttl: Duration,
    /// `ROUTE_CACHE_SECS` (default 5): how long the ingest committer may reuse an Instagram id's
    /// routes. A change to `accounts` empties the cache through NOTIFY at once; this bounds how
    /// long a silently dead LISTEN connection could keep a stale route. 0 disables the cache
    /// (`router_core::route_cache`).
    pub route_cache_ttl: Duration,
    /// `IDEMPOTENCY_TTL_HOURS` (default 24, at least 24).
    pub idempotency_ttl: Duration,
}

/// Which sections a binary reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Shared sections plus [`ApiConfig`] (`router-api`).
    Api,
    /// Shared sections only (`router-worker`, `router-scheduler`).
    Shared,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are SecretString (redacted) already; keep the output short anyway.
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("api_base_url", &self.api.as_ref().map(|a| a.api_base_url.as_str()))
            .field("port", &self.api.as_ref().map(|a| a.port))
            .field("graph_api_base_url", &self.graph_api_base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// All problems found in the environment, one per variable.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// `(variable, problem)` pairs, in the order of [`ENV_VARS`].
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.problems.len())?;
        for (var, problem) in &self.problems {
            writeln!(f, "  {var}: {problem}")?;
        }
        Ok(())
    }
}

/// Reads variables and records problems without stopping at the first.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: BTreeMap<usize, Vec<(String, String)>>,
}

impl Reader<'_> {
    fn raw(&self, var: &str) -> Option<String> {
        debug_assert!(ENV_VARS.contains(&var), "{var} missing from ENV_VARS");
        (self.lookup)(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn problem(&mut self, var: &str, msg: impl Into<String>) {
        // One line per variable: a second problem with the same variable joins the first.
        let order = ENV_VARS.iter().position(|v| *v == var).unwrap_or(usize::MAX);
        let entry = self.problems.entry(order).or_default();
        match entry.first_mut() {
            Some((_, existing)) => {
                existing.push_str("; ");
                existing.push_str(&msg.into());
            }
            None => entry.push((var.to_owned(), msg.into())),
        }
    }

    fn required(&mut self, var: &str) -> Option<String> {
        let v = self.raw(var);
        if v.is_none() {
            self.problem(var, "is required but not set");
        }
        v
    }

    fn secret(&mut self, var: &str) -> SecretString {
        SecretString::from(self.required(var).unwrap_or_default())
    }

    fn url(&mut self, var: &str, default: Option<&str>) -> Url {
        let fallback = Url::parse("http://invalid.invalid/").expect("static url");
        let value = match (self.raw(var), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => {
                self.problem(var, "is required but not set");
                return fallback;
            }
        };
        match Url::parse(&value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            Ok(_) => {
                self.problem(var, "must be an http(s) URL with a host");
                fallback
            }
            Err(e) => {
                self.problem(var, format!("is not a valid URL ({e})"));
                fallback
            }
        }
    }

    fn optional_url(&mut self, var: &str) -> Option<Url> {
        self.raw(var)?;
        Some(self.url(var, None))
    }

    fn number<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
        &mut self,
        var: &str,
        default: T,
        min: T,
        max: T,
    ) -> T {
        let Some(v) = self.raw(var) else {
            return default;
        };
        match v.parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            _ => {
                self.problem(var, format!("must be a number from {min} to {max}, got {v:?}"));
                default
            }
        }
    }
}

impl Config {
    /// Reads the sections `section` names from the process environment (after `.env`, which the
    /// binaries load in development).
    ///
    /// # Errors
    /// Every missing or malformed variable, one line each.
    pub fn from_env(section: Section) -> Result<Self, ConfigError> {
        Self::read(section, &|k| std::env::var(k).ok())
    }

    /// Builds the whole configuration, API section included, from any key lookup (tests pass a
    /// map).
    ///
    /// # Errors
    /// Every missing or malformed variable, one line each.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(Section::Api, lookup)
    }

    /// Reads the shared sections, and the API's when `section` is [`Section::Api`], collecting
    /// every problem before failing.
    ///
    /// # Errors
    /// Every missing or malformed variable, one line each.
    pub fn read(section: Section, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader { lookup, problems: BTreeMap::new() };
        let env = read_router_env(&mut r);
        let prod = env == RouterEnv::Production;
        let (database_url, database_max_connections) = read_database(&mut r);
        let (redis_url, redis_key_prefix) = read_redis(&mut r, prod);
        let keyring = read_keyring(&mut r, prod);
        let graph = read_graph(&mut r);
        let (log_format, sentry_dsn) = read_logging(&mut r, prod);
        let t = read_tunables(&mut r);
        let api = (section == Section::Api).then(|| read_api(&mut r, prod, &database_url, &graph));
        if !r.problems.is_empty() {
            return Err(ConfigError { problems: r.problems.into_values().flatten().collect() });
        }
        Ok(Self {
            env,
            database_url,
            database_max_connections,
            redis_url,
            redis_key_prefix,
            keyring,
            graph_api_version: graph.version,
            graph_api_base_url: graph.base_url,
            sandbox_graph_api_base_url: graph.sandbox_base_url,
            instagram_oauth_base_url: graph.oauth_base_url,
            bind_address: t.bind_address,
            worker_metrics_port: t.worker_metrics_port,
            scheduler_metrics_port: t.scheduler_metrics_port,
            log_format,
            sentry_dsn,
            graph_timeout: t.graph_timeout,
            send_reconcile_window: t.send_reconcile_window,
            webhook_timeout: t.webhook_timeout,
            webhook_retry_schedule: t.webhook_retry_schedule,
            webhook_retry_horizon: t.webhook_retry_horizon,
            webhook_max_in_flight_per_endpoint: t.webhook_max_in_flight_per_endpoint,
            webhook_secret_overlap: t.webhook_secret_overlap,
            webhook_circuit_threshold: t.webhook_circuit_threshold,
            webhook_circuit_open: t.webhook_circuit_open,
            job_lease: t.job_lease,
            worker_concurrency: t.worker_concurrency,
            worker_poll_interval: t.worker_poll_interval,
            rate_limit_text_per_sec: t.rate_limit_text_per_sec,
            rate_limit_media_per_sec: t.rate_limit_media_per_sec,
            retention_days: t.retention_days,
            token_refresh_window_days: t.token_refresh_window_days,
            api,
        })
    }

    /// The API's section.
    ///
    /// # Panics
    /// When the configuration was read without it ([`Section::Shared`]): only `router-api` code
    /// calls this, and `router-api` always reads [`Section::Api`].
    #[must_use]
    pub fn api(&self) -> &ApiConfig {
        self.api.as_ref().expect("the API section is read by router-api (Section::Api)")
    }

    /// True when `ROUTER_ENV=production`.
    #[must_use]
    pub fn is_production(&self) -> bool {
        self.env == RouterEnv::Production
    }
}

impl ApiConfig {
    /// Whether an OAuth `redirect_after` may send the merchant's browser to `url`: its origin
    /// (scheme, host, port) is `API_BASE_URL`'s or one listed in `OAUTH_REDIRECT_ALLOWED_ORIGINS`.
    /// Comparing parsed origins (not string prefixes) defeats `https://ok.com@evil.com`,
    /// `https://ok.com.evil.com` and the like.
    #[must_use]
    pub fn redirect_allowed(&self, url: &Url) -> bool {
        let origin = url.origin();
        origin.is_tuple()
            && (origin == self.api_base_url.origin() || self.oauth_redirect_allowed_origins.contains(&origin))
    }

    /// The OAuth redirect URI registered with Meta: `{API_BASE_URL}/oauth/instagram/callback`.
    #[must_use]
    pub fn oauth_redirect_uri(&self) -> String {
        format!("{}/oauth/instagram/callback", self.api_base_url.as_str().trim_end_matches('/'))
    }
}

/// `ROUTER_ENV`.
fn read_router_env(r: &mut Reader<'_>) -> RouterEnv {
    match r.raw("ROUTER_ENV").as_deref() {
        None | Some("development") => RouterEnv::Development,
        Some("production") => RouterEnv::Production,
        Some(other) => {
            r.problem("ROUTER_ENV", format!("must be development or production, got {other:?}"));
            RouterEnv::Development
        }
    }
}

/// `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`.
fn read_database(r: &mut Reader<'_>) -> (SecretString, u32) {
    let database_url = r.secret("DATABASE_URL");
    check_scheme(r, "DATABASE_URL", &database_url, &["postgres", "postgresql"]);
    (database_url, r.number("DATABASE_MAX_CONNECTIONS", 20u32, 2, 1000))
}

/// `REDIS_URL` (TLS and a password in production), `REDIS_KEY_PREFIX`.
fn read_redis(r: &mut Reader<'_>, prod: bool) -> (SecretString, String) {
    let redis_url = r.secret("REDIS_URL");
    if !redis_url.expose_secret().is_empty() {
        match Url::parse(redis_url.expose_secret()) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss") => {
                if prod && u.scheme() != "rediss" {
                    r.problem("REDIS_URL", "must use rediss:// (TLS) when ROUTER_ENV=production");
                }
                if prod && u.password().is_none_or(str::is_empty) {
                    r.problem("REDIS_URL", "must carry a password when ROUTER_ENV=production");
                }
            }
            _ => r.problem("REDIS_URL", "must be a redis:// or rediss:// URL"),
        }
    }
    (redis_url, r.raw("REDIS_KEY_PREFIX").unwrap_or_else(|| "router:".to_owned()))
}

/// `ENCRYPTION_KEY`, `ENCRYPTION_KEYS_PREVIOUS`.
fn read_keyring(r: &mut Reader<'_>, prod: bool) -> Keyring {
    let Some(current) = r.required("ENCRYPTION_KEY") else { return Keyring::placeholder() };
    let previous = r.raw("ENCRYPTION_KEYS_PREVIOUS").unwrap_or_default();
    match Keyring::parse(&current, &previous) {
        Ok(k) => {
            if prod && k.current_is_example() {
                r.problem("ENCRYPTION_KEY", "is the example key; generate one (see README)");
            }
            k
        }
        Err(e) => {
            let var = if e.in_previous { "ENCRYPTION_KEYS_PREVIOUS" } else { "ENCRYPTION_KEY" };
            r.problem(var, e.message);
            Keyring::placeholder()
        }
    }
}

/// The Graph API section (every binary builds the Graph clients).
struct GraphSection {
    version: String,
    base_url: Url,
    sandbox_base_url: Option<Url>,
    oauth_base_url: Url,
}

/// `GRAPH_API_VERSION`, `GRAPH_API_BASE_URL`, `SANDBOX_GRAPH_API_BASE_URL`,
/// `INSTAGRAM_OAUTH_BASE_URL`.
fn read_graph(r: &mut Reader<'_>) -> GraphSection {
    let version = r.raw("GRAPH_API_VERSION").unwrap_or_else(|| "v24.0".to_owned());
    if !is_graph_version(&version) {
        r.problem("GRAPH_API_VERSION", format!("must look like v24.0, got {version:?}"));
    }
    GraphSection {
        version,
        base_url: r.url("GRAPH_API_BASE_URL", Some("https://graph.instagram.com")),
        sandbox_base_url: r.optional_url("SANDBOX_GRAPH_API_BASE_URL"),
        oauth_base_url: r.url("INSTAGRAM_OAUTH_BASE_URL", Some("https://api.instagram.com")),
    }
}

/// `LOG_FORMAT` (json in production, pretty otherwise), `SENTRY_DSN`.
fn read_logging(r: &mut Reader<'_>, prod: bool) -> (LogFormat, Option<SecretString>) {
    let log_format = match r.raw("LOG_FORMAT").as_deref() {
        None if prod => LogFormat::Json,
        None => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some("pretty") => LogFormat::Pretty,
        Some(other) => {
            r.problem("LOG_FORMAT", format!("must be json or pretty, got {other:?}"));
            LogFormat::Json
        }
    };
    let sentry_dsn = r.raw("SENTRY_DSN").map(SecretString::from);
    if let Some(dsn) = &sentry_dsn {
        let ok = Url::parse(dsn.expose_secret())
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && !u.username().is_empty() && u.host().is_some());
        if !ok {
            r.problem("SENTRY_DSN", "must be a Sentry DSN like https://<key>@<host>/<project>");
        }
    }
    (log_format, sentry_dsn)
}

/// The tunables every binary shares (documented defaults, env overrides).
struct Tunables {
    bind_address: std::net::IpAddr,
    worker_metrics_port: u16,
    scheduler_metrics_port: u16,
    graph_timeout: Duration,
    send_reconcile_window: Duration,
    webhook_timeout: Duration,
    webhook_retry_schedule: Vec<Duration>,
    webhook_retry_horizon: Duration,
    webhook_max_in_flight_per_endpoint: u32,
    webhook_secret_overlap: Duration,
    webhook_circuit_threshold: u32,
    webhook_circuit_open: Duration,
    job_lease: Duration,
    worker_concurrency: usize,
    worker_poll_interval: Duration,
    rate_limit_text_per_sec: u32,
    rate_limit_media_per_sec: u32,
    retention_days: u32,
    token_refresh_window_days: u32,
}

/// Ports of the ops servers, timeouts, delivery and queue tunables, rate limits, retention.
fn read_tunables(r: &mut Reader<'_>) -> Tunables {
    let graph_timeout = Duration::from_secs(r.number("GRAPH_TIMEOUT_SECS", 10u64, 1, 120));
    let webhook_timeout = Duration::from_secs(r.number("WEBHOOK_TIMEOUT_SECS", 15u64, 1, 120));
    let job_lease = Duration::from_secs(r.number("JOB_LEASE_SECS", 60u64, 1, 3600));
    // A lease shorter than the slowest job re-runs jobs that are still running.
    let slowest = graph_timeout.max(webhook_timeout) + Duration::from_secs(5);
    if job_lease < slowest {
        let why = format!(
            "must exceed the slowest job (HTTP timeout + 5 s = {} s), or running jobs are re-claimed",
            slowest.as_secs()
        );
        r.problem("JOB_LEASE_SECS", why);
    }
    let bind_address = match r.raw("BIND_ADDRESS") {
        None => std::net::IpAddr::from([0, 0, 0, 0]),
        Some(v) => v.parse().unwrap_or_else(|_| {
            r.problem("BIND_ADDRESS", format!("must be an IP address such as 127.0.0.1 or 0.0.0.0, got {v:?}"));
            std::net::IpAddr::from([0, 0, 0, 0])
        }),
    };
    Tunables {
        bind_address,
        worker_metrics_port: r.number("WORKER_METRICS_PORT", 10001u16, 0, u16::MAX),
        scheduler_metrics_port: r.number("SCHEDULER_METRICS_PORT", 10002u16, 0, u16::MAX),
        graph_timeout,
        send_reconcile_window: Duration::from_secs(r.number("SEND_RECONCILE_WINDOW_SECS", 30u64, 1, 3600)),
        webhook_timeout,
        webhook_retry_schedule: read_retry_schedule(r),
        webhook_retry_horizon: Duration::from_secs(r.number("WEBHOOK_RETRY_HORIZON_SECS", 86_400u64, 1, 30 * 86_400)),
        webhook_max_in_flight_per_endpoint: r.number("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT", 8u32, 1, 1000),
        webhook_secret_overlap: Duration::from_secs(r.number("WEBHOOK_SECRET_OVERLAP_SECS", 86_400u64, 0, 30 * 86_400)),
        webhook_circuit_threshold: r.number("WEBHOOK_CIRCUIT_THRESHOLD", 5u32, 1, 1000),
        webhook_circuit_open: Duration::from_secs_f64(r.number("WEBHOOK_CIRCUIT_OPEN_SECS", 30.0f64, 0.1, 600.0)),
        job_lease,
        worker_concurrency: r.number("WORKER_CONCURRENCY", 32usize, 1, 4096),
        worker_poll_interval: Duration::from_millis(r.number("WORKER_POLL_INTERVAL_MS", 500u64, 10, 60_000)),
        rate_limit_text_per_sec: r.number("RATE_LIMIT_TEXT_PER_SEC", 90u32, 1, 10_000),
        rate_limit_media_per_sec: r.number("RATE_LIMIT_MEDIA_PER_SEC", 9u32, 1, 10_000),
        retention_days: r.number("RETENTION_DAYS", 90u32, 1, 36_500),
        token_refresh_window_days: r.number("TOKEN_REFRESH_WINDOW_DAYS", 10u32, 1, 59),
    }
}

/// `WEBHOOK_RETRY_SCHEDULE` (default `1,2,4,8,16` seconds).
fn read_retry_schedule(r: &mut Reader<'_>) -> Vec<Duration> {
    let Some(v) = r.raw("WEBHOOK_RETRY_SCHEDULE") else {
        return [1, 2, 4, 8, 16].into_iter().map(Duration::from_secs).collect();
    };
    parse_schedule(&v).unwrap_or_else(|| {
        r.problem("WEBHOOK_RETRY_SCHEDULE", "must be comma-separated seconds (decimals allowed), e.g. 1,2,4,8,16");
        Vec::new()
    })
}

/// The API's section; `graph` is the shared Graph section (the sandbox separation check compares
/// the sandbox with the live hosts).
fn read_api(r: &mut Reader<'_>, prod: bool, database_url: &SecretString, graph: &GraphSection) -> ApiConfig {
    let database_app_url = match r.raw("DATABASE_APP_URL") {
        Some(v) => {
            let s = SecretString::from(v);
            check_scheme(r, "DATABASE_APP_URL", &s, &["postgres", "postgresql"]);
            s
        }
        None => database_url.clone(),
    };
    let (api_key_salt, meta_app_id, ig_app_secret, sandbox_ig_app_secret, meta_verify_token) = read_meta(r, prod);
    let instagram_authorize_url = r.url("INSTAGRAM_AUTHORIZE_URL", Some("https://www.instagram.com/oauth/authorize"));
    let sandbox = Sandbox {
        live_secret: &ig_app_secret,
        secret: sandbox_ig_app_secret.as_ref(),
        base_url: graph.sandbox_base_url.as_ref(),
        live_hosts: [
            ("GRAPH_API_BASE_URL", &graph.base_url),
            ("INSTAGRAM_OAUTH_BASE_URL", &graph.oauth_base_url),
            ("INSTAGRAM_AUTHORIZE_URL", &instagram_authorize_url),
        ],
    };
    check_sandbox_separation(r, prod, &sandbox);
    let api_base_url = r.url("API_BASE_URL", None);
    if prod && api_base_url.scheme() != "https" && api_base_url.host_str() != Some("invalid.invalid") {
        r.problem("API_BASE_URL", "must be an https:// URL when ROUTER_ENV=production");
    }
    ApiConfig {
        database_app_url,
        api_key_salt,
        meta_app_id,
        ig_app_secret,
        sandbox_ig_app_secret,
        meta_verify_token,
        instagram_authorize_url,
        api_base_url,
        port: r.number("PORT", 10000u16, 0, u16::MAX),
        cors_allowed_origins: read_cors(r),
        oauth_redirect_allowed_origins: redirect_origins(r, prod),
        max_body_bytes: r.number("MAX_BODY_BYTES", 262_144usize, 1024, 64 * 1024 * 1024),
        api_rate_limit_per_minute: r.number("API_RATE_LIMIT_PER_MINUTE", 6000u32, 1, 10_000_000),
        api_key_cache_ttl: Duration::from_secs(r.number("API_KEY_CACHE_SECS", 2u64, 0, 60)),
        route_cache_ttl: Duration::from_secs(r.number("ROUTE_CACHE_SECS", 5u64, 0, 60)),
        idempotency_ttl: Duration::from_secs(3600 * r.number("IDEMPOTENCY_TTL_HOURS", 24u64, 24, 24 * 365)),
    }
}

/// Meta's app credentials and the API key pepper: `API_KEY_SALT`, `META_APP_ID`,
/// `IG_APP_SECRET`, `SANDBOX_IG_APP_SECRET`, `META_VERIFY_TOKEN` (no weak values in production).
fn read_meta(
    r: &mut Reader<'_>,
    prod: bool,
) -> (SecretString, String, SecretString, Option<SecretString>, SecretString) {
    let api_key_salt = r.secret("API_KEY_SALT");
    let meta_app_id = r.required("META_APP_ID").unwrap_or_default();
    let ig_app_secret = r.secret("IG_APP_SECRET");
    let sandbox_ig_app_secret = r.raw("SANDBOX_IG_APP_SECRET").map(SecretString::from);
    let meta_verify_token = r.secret("META_VERIFY_TOKEN");
    if prod {
        for (var, value, min_len) in [
            ("API_KEY_SALT", &api_key_salt, 32),
            ("IG_APP_SECRET", &ig_app_secret, 16),
            ("META_VERIFY_TOKEN", &meta_verify_token, 16),
        ] {
            let v = value.expose_secret();
            if !v.is_empty() && is_weak_secret(v, min_len) {
                let why = format!("looks like a default or weak value; use at least {min_len} random characters");
                r.problem(var, why);
            }
        }
    }
    (api_key_salt, meta_app_id, ig_app_secret, sandbox_ig_app_secret, meta_verify_token)
}

/// `CORS_ALLOWED_ORIGINS`: origins only, never `*`.
fn read_cors(r: &mut Reader<'_>) -> Vec<String> {
    let origins: Vec<String> = r
        .raw("CORS_ALLOWED_ORIGINS")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for origin in &origins {
        if origin == "*" {
            r.problem("CORS_ALLOWED_ORIGINS", "must list origins; `*` is not allowed");
        } else if Url::parse(origin).map(|u| u.host().is_none()).unwrap_or(true) {
            r.problem("CORS_ALLOWED_ORIGINS", format!("{origin:?} is not an origin like https://crm.example.com"));
        }
    }
    origins
}

/// What [`check_sandbox_separation`] compares.
struct Sandbox<'a> {
    live_secret: &'a SecretString,
    secret: Option<&'a SecretString>,
    base_url: Option<&'a Url>,
    live_hosts: [(&'static str, &'a Url); 3],
}

/// The sandbox must never hold or receive the live app secret: whoever reaches the sandbox Graph
/// API (its inbound simulator signs arbitrary webhooks, unauthenticated) would otherwise forge
/// Meta traffic for every live account. A sandbox host needs its own secret (every environment);
/// production also refuses the two secrets being equal and the sandbox host being one of the live
/// hosts (live tokens and the live secret would go to the sandbox, or sandbox traffic to Meta).
fn check_sandbox_separation(r: &mut Reader<'_>, prod: bool, sandbox: &Sandbox<'_>) {
    if sandbox.base_url.is_some() && sandbox.secret.is_none() {
        r.problem(
            "SANDBOX_IG_APP_SECRET",
            "is required when SANDBOX_GRAPH_API_BASE_URL is set (the sandbox never gets IG_APP_SECRET)",
        );
    }
    if !prod {
        return;
    }
    if let Some(secret) = sandbox.secret
        && secret.expose_secret() == sandbox.live_secret.expose_secret()
    {
        r.problem("SANDBOX_IG_APP_SECRET", "must differ from IG_APP_SECRET when ROUTER_ENV=production");
    }
    let Some(base) = sandbox.base_url else {
        return;
    };
    for (var, live) in sandbox.live_hosts {
        if live.origin() == base.origin() {
            r.problem(
                "SANDBOX_GRAPH_API_BASE_URL",
                format!("must not be the same host as {var} when ROUTER_ENV=production"),
            );
        }
    }
}

/// `OAUTH_REDIRECT_ALLOWED_ORIGINS`: bare origins only (no path, query or credentials), https in
/// production.
fn redirect_origins(r: &mut Reader<'_>, prod: bool) -> Vec<url::Origin> {
    let var = "OAUTH_REDIRECT_ALLOWED_ORIGINS";
    let mut out = Vec::new();
    for entry in r.raw(var).unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parsed = Url::parse(entry).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none()
        });
        match parsed {
            Some(u) if prod && u.scheme() != "https" => {
                r.problem(var, format!("{entry:?} must be https when ROUTER_ENV=production"));
            }
            Some(u) => out.push(u.origin()),
            None => r.problem(var, format!("{entry:?} is not an origin like https://crm.example.com")),
        }
    }
    out
}

fn check_scheme(r: &mut Reader<'_>, var: &str, value: &SecretString, schemes: &[&str]) {
    let v = value.expose_secret();
    if v.is_empty() {
        return;
    }
    match Url::parse(v) {
        Ok(u) if schemes.contains(&u.scheme()) => {}
        _ => r.problem(var, format!("must be a {}:// URL", schemes[0])),
    }
}

fn is_graph_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
        if !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()))
}

fn parse_schedule(v: &str) -> Option<Vec<Duration>> {
    let out: Option<Vec<Duration>> = v
        .split(',')
        .map(|s| s.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0 && *n <= 86_400.0))
        .map(|n| n.map(Duration::from_secs_f64))
        .collect();
    out.filter(|s| !s.is_empty())
}

/// Placeholder-looking or short secrets are refused in production.
fn is_weak_secret(v: &str, min_len: usize) -> bool {
    let lower = v.to_ascii_lowercase();
    let placeholders = ["change", "example", "placeholder", "secret", "password", "dev-", "test", "xxxx", "default"];
    v.len() < min_len
        || placeholders.iter().any(|p| lower.contains(p))
        || v.chars().collect::<std::collections::HashSet<_>>().len() < 8
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/router".to_owned()),
            ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
            ("ENCRYPTION_KEY", format!("1:{}", crate::crypto::b64(&[7u8; 32]))),
            ("API_KEY_SALT", "salt".to_owned()),
            ("META_APP_ID", "123".to_owned()),
            ("IG_APP_SECRET", "s".to_owned()),
            ("META_VERIFY_TOKEN", "v".to_owned()),
            ("API_BASE_URL", "http://localhost:10000".to_owned()),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(&|k| vars.get(k).cloned())
    }

    #[test]
    fn a_complete_development_environment_loads_with_defaults() {
        let c = load(&base()).expect("valid");
        assert_eq!(c.api().port, 10000);
        assert_eq!(c.graph_api_version, "v24.0");
        assert_eq!(c.webhook_retry_schedule.len(), 5);
        assert_eq!(c.api().oauth_redirect_uri(), "http://localhost:10000/oauth/instagram/callback");
    }

    #[test]
    fn every_missing_variable_is_named_once() {
        let mut vars = base();
        vars.remove("DATABASE_URL");
        vars.remove("REDIS_URL");
        vars.insert("PORT", "ten".to_owned());
        let err = load(&vars).unwrap_err();
        let names: Vec<_> = err.problems.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(names, ["DATABASE_URL", "REDIS_URL", "PORT"]);
        let text = err.to_string();
        assert!(text.contains("DATABASE_URL: is required but not set"), "{text}");
    }

    #[test]
    fn production_refuses_weak_secrets_plain_redis_and_http_base_url() {
        let mut vars = base();
        vars.insert("ROUTER_ENV", "production".to_owned());
        vars.insert("API_KEY_SALT", "change-me-please-change-me-please-123".to_owned());
        let err = load(&vars).unwrap_err();
        let names: Vec<_> = err.problems.iter().map(|(v, _)| v.as_str()).collect();
        for var in ["REDIS_URL", "API_KEY_SALT", "IG_APP_SECRET", "META_VERIFY_TOKEN", "API_BASE_URL"] {
            assert!(names.contains(&var), "{var} not reported in {names:?}");
        }
        // Secrets are never echoed back.
        assert!(!err.to_string().contains("change-me-please"));
    }

    /// A production environment that passes every check, so each test below changes one thing.
    fn production() -> HashMap<&'static str, String> {
        let mut vars = base();
        vars.extend([
            ("ROUTER_ENV", "production".to_owned()),
            ("REDIS_URL", "rediss://:Kp3v9QzX7mW2rT8y@redis.internal:6380".to_owned()),
            ("API_KEY_SALT", "Zq8Xk2Lm9Np4Rs7Tv1Wy3Ab6Cd0Ef5Gh".to_owned()),
            ("IG_APP_SECRET", "Hj4Kl7Mn0Pq3Rs6Tv9".to_owned()),
            ("META_VERIFY_TOKEN", "Wx2Yz5Ab8Cd1Ef4Gh7".to_owned()),
            ("API_BASE_URL", "https://router.example.org".to_owned()),
            ("SANDBOX_GRAPH_API_BASE_URL", "http://fake-graph:10010".to_owned()),
            ("SANDBOX_IG_APP_SECRET", "Sb9Nd2Bx5Ks8Qe1Zr4".to_owned()),
        ]);
        vars
    }

    fn problems(vars: &HashMap<&'static str, String>) -> Vec<(String, String)> {
        load(vars).err().map(|e| e.problems).unwrap_or_default()
    }

    #[test]
    fn a_separated_sandbox_passes_production_checks() {
        let c = load(&production()).expect("valid production configuration");
        assert!(c.api().sandbox_ig_app_secret.is_some());
    }

    #[test]
    fn production_refuses_a_sandbox_mixed_with_live_secrets_or_hosts() {
        let live = production()["IG_APP_SECRET"].clone();
        let mut same_secret = production();
        same_secret.insert("SANDBOX_IG_APP_SECRET", live.clone());
        let p = problems(&same_secret);
        assert!(p.iter().any(|(v, m)| v == "SANDBOX_IG_APP_SECRET" && m.contains("differ")), "{p:?}");
        assert!(!format!("{p:?}").contains(&live), "secrets are never echoed");

        for host_var in ["GRAPH_API_BASE_URL", "INSTAGRAM_OAUTH_BASE_URL"] {
            let mut same_host = production();
            same_host.insert(host_var, "http://fake-graph:10010/".to_owned());
            let p = problems(&same_host);
            assert!(p.iter().any(|(v, m)| v == "SANDBOX_GRAPH_API_BASE_URL" && m.contains(host_var)), "{p:?}");
        }
        // Development tolerates both (local setups and tests run one fake for everything).
        let mut dev = same_secret;
        dev.insert("ROUTER_ENV", "development".to_owned());
        dev.insert("GRAPH_API_BASE_URL", "http://fake-graph:10010".to_owned());
        assert!(problems(&dev).is_empty(), "{:?}", problems(&dev));
    }

    #[test]
    fn a_sandbox_host_needs_its_own_secret_in_every_environment() {
        let mut vars = base();
        vars.insert("SANDBOX_GRAPH_API_BASE_URL", "http://127.0.0.1:10010".to_owned());
        let p = problems(&vars);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "SANDBOX_IG_APP_SECRET");
        vars.insert("SANDBOX_IG_APP_SECRET", "sandbox".to_owned());
        assert!(load(&vars).is_ok());
        vars.remove("SANDBOX_GRAPH_API_BASE_URL");
        assert!(load(&vars).is_ok(), "a sandbox removed by unsetting its URL leaves a harmless secret");
    }

    #[test]
    fn redirect_origins_are_bare_origins_and_compared_as_origins() {
        let mut vars = base();
        vars.insert("OAUTH_REDIRECT_ALLOWED_ORIGINS", "https://crm.example.com, http://localhost:3000".to_owned());
        let c = load(&vars).expect("valid");
        let allowed = |u: &str| c.api().redirect_allowed(&Url::parse(u).unwrap());
        assert!(allowed("https://crm.example.com/done?x=1"));
        assert!(allowed("https://CRM.example.com:443/"), "the same origin, spelled differently");
        assert!(allowed("http://localhost:3000/cb"));
        assert!(allowed("http://localhost:10000/cb"), "API_BASE_URL's origin");
        for refused in [
            "https://crm.example.com.evil.example/",
            "https://crm.example.com@evil.example/",
            "http://crm.example.com/",
            "https://crm.example.com:8443/",
            "data:text/html,hi",
        ] {
            assert!(!allowed(refused), "{refused}");
        }
        for bad in ["https://crm.example.com/path", "*", "crm.example.com", "https://u:p@crm.example.com"] {
            vars.insert("OAUTH_REDIRECT_ALLOWED_ORIGINS", bad.to_owned());
            assert_eq!(problems(&vars)[0].0, "OAUTH_REDIRECT_ALLOWED_ORIGINS", "{bad}");
        }
        let mut prod = production();
        prod.insert("OAUTH_REDIRECT_ALLOWED_ORIGINS", "http://crm.example.com".to_owned());
        assert!(problems(&prod).iter().any(|(v, m)| v == "OAUTH_REDIRECT_ALLOWED_ORIGINS" && m.contains("https")));
    }

    #[test]
    fn the_shared_sections_need_none_of_the_api_variables() {
        let mut vars = base();
        let api_only = ["API_KEY_SALT", "META_APP_ID", "IG_APP_SECRET", "META_VERIFY_TOKEN", "API_BASE_URL"];
        for var in api_only {
            vars.remove(var);
        }
        let shared = Config::read(Section::Shared, &|k| vars.get(k).cloned()).expect("the worker's sections");
        assert!(shared.api.is_none());
        // The API still requires each of them, one line each.
        let named: Vec<String> = load(&vars).unwrap_err().problems.into_iter().map(|(v, _)| v).collect();
        assert_eq!(named, api_only);
    }

    #[test]
    fn a_lease_shorter_than_the_http_timeout_is_refused() {
        let mut vars = base();
        vars.insert("JOB_LEASE_SECS", "10".to_owned());
        let err = load(&vars).unwrap_err();
        assert_eq!(err.problems[0].0, "JOB_LEASE_SECS");
    }
}
