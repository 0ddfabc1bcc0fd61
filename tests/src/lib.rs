//! Test harness shared by every integration test.
//!
//! Each [`TestApp`] gets its own Postgres database (created from the real migrations, dropped when
//! the test passes, kept for debugging when it fails), its own Redis key prefix, a fake Graph API
//! and a fake CRM on loopback, and the real `router-api` router served on port 0. Tests drive it
//! over HTTP with [`TestApp::req`] and drain the queue with a real worker ([`TestApp::worker`]).
//!
//! Environment: `TEST_DATABASE_URL` (or `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) must allow `CREATE DATABASE` and `CREATE ROLE`;
//! `TEST_REDIS_URL` (or `REDIS_URL`, default `redis://127.0.0.1:6379`). `TEST_LOG=1` also prints
//! logs to stderr.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use router_api::state::AppState;
use router_core::config::Config;
use router_core::crypto::{KeyEnvironment, b64, generate_api_key};
use router_core::jobs::{JobContext, Registry, Runner};
use router_fakes::crm::FakeCrm;
use router_fakes::graph::FakeGraph;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use router_fakes;

pub mod browser;
pub mod console;

/// Every job kind of every binary: the worker's (sends, deliveries) and the scheduler's
/// (maintenance), so one runner can drain whatever a test enqueued.
#[must_use]
pub fn every_handler() -> Registry {
    router_worker::jobs::registry().merge(router_scheduler::maintenance::registry())
}

/// The platform app secret the fakes sign with.
pub const APP_SECRET: &str = "test-app-secret-0123456789abcdef";
/// The sandbox's own app secret (`SANDBOX_IG_APP_SECRET`), distinct from [`APP_SECRET`].
pub const SANDBOX_APP_SECRET: &str = "test-sandbox-app-secret-fedcba9876543210";
/// The webhook handshake token.
pub const VERIFY_TOKEN: &str = "test-verify-token-0123456789";

/// Everything logged by this test process (the subscriber is global).
pub static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(Arc::default);

#[derive(Clone)]
struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().expect("logs").extend_from_slice(buf);
        if std::env::var("TEST_LOG").is_ok() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::new(
        "info,router_api=debug,router_core=debug,router_worker=debug,router_scheduler=debug,sqlx=warn",
    );
    let _ = tracing_subscriber::registry().with(filter).with(router_core::telemetry::json_layer(|| LogSink)).try_init();
});

/// The captured logs as text.
#[must_use]
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().expect("logs")).into_owned()
}

pub use router_testing::TestDb;

/// Environment for a test configuration (override entries before building).
#[must_use]
pub fn test_vars(db_url: &str, graph_url: &str) -> HashMap<String, String> {
    let prefix = format!("t:{}:", Uuid::new_v4().simple());
    HashMap::from([
        ("DATABASE_URL".into(), db_url.to_owned()),
        ("REDIS_URL".into(), router_testing::test_redis_url()),
        ("REDIS_KEY_PREFIX".into(), prefix),
        ("ENCRYPTION_KEY".into(), format!("1:{}", b64(&rand_bytes()))),
        ("API_KEY_SALT".into(), "test-api-key-salt-0123456789abcdef".into()),
        ("META_APP_ID".into(), "1234567890".into()),
        ("IG_APP_SECRET".into(), APP_SECRET.into()),
        ("SANDBOX_IG_APP_SECRET".into(), SANDBOX_APP_SECRET.into()),
        ("META_VERIFY_TOKEN".into(), VERIFY_TOKEN.into()),
        ("GRAPH_API_BASE_URL".into(), graph_url.to_owned()),
        ("SANDBOX_GRAPH_API_BASE_URL".into(), graph_url.to_owned()),
        ("INSTAGRAM_OAUTH_BASE_URL".into(), graph_url.to_owned()),
        ("INSTAGRAM_AUTHORIZE_URL".into(), format!("{graph_url}/oauth/authorize")),
        ("API_BASE_URL".into(), "http://127.0.0.1:10000".into()),
        ("PORT".into(), "0".into()),
        ("WORKER_METRICS_PORT".into(), "0".into()),
        ("SCHEDULER_METRICS_PORT".into(), "0".into()),
        ("GRAPH_TIMEOUT_SECS".into(), "2".into()),
        // Ambiguous sends wait this long for their echo (tests that need the window set their own).
        ("SEND_RECONCILE_WINDOW_SECS".into(), "1".into()),
        ("WEBHOOK_TIMEOUT_SECS".into(), "2".into()),
        ("JOB_LEASE_SECS".into(), "10".into()),
        ("WORKER_POLL_INTERVAL_MS".into(), "50".into()),
        ("DATABASE_MAX_CONNECTIONS".into(), "10".into()),
        // Tests change keys behind the API's back (SQL); the cache has its own test.
        ("API_KEY_CACHE_SECS".into(), "0".into()),
        // Tests change accounts through SQL and post at once; the route cache has its own tests.
        ("ROUTE_CACHE_SECS".into(), "0".into()),
    ])
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for chunk in b.chunks_mut(16) {
        chunk.copy_from_slice(Uuid::new_v4().as_bytes());
    }
    b
}

/// Builds a [`Config`] from test variables.
///
/// # Panics
/// On an invalid test configuration.
#[must_use]
pub fn config_from(vars: &HashMap<String, String>) -> Config {
    Config::from_lookup(&|k| vars.get(k).cloned()).unwrap_or_else(|e| panic!("test config: {e}"))
}

/// A running router API against its own database, Redis prefix and fakes.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub client: reqwest::Client,
    /// Owner pool on the test database (bypasses RLS: for assertions and the worker).
    pub db: PgPool,
    pub config: Config,
    pub state: AppState,
    pub graph: FakeGraph,
    pub crm: FakeCrm,
    /// A platform admin key.
    pub admin_key: String,
    /// The `ENCRYPTION_KEY` this app runs with (`1:<base64>`).
    pub key_spec: String,
    pub cancel: CancellationToken,
    pub test_db: TestDb,
}

impl TestApp {
    /// Spawns with the default test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with the API's Postgres connections going through a [`PgProxy`] the test controls.
    pub async fn spawn_with_pg_proxy() -> (Self, Arc<PgProxy>) {
        let admin = url::Url::parse(&router_testing::test_database_url()).expect("url");
        let host = admin.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = admin.port().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host.as_str(), port)).await.expect("resolve").next().expect("addr");
        let proxy = PgProxy::start(upstream).await;
        let p = proxy.port;
        let app = Self::spawn_with(move |v| {
            let mut u = url::Url::parse(&v["DATABASE_URL"]).expect("url");
            u.set_host(Some("127.0.0.1")).expect("host");
            u.set_port(Some(p)).expect("port");
            v.insert("DATABASE_APP_URL".into(), u.to_string());
        })
        .await;
        (app, proxy)
    }

    /// Spawns after letting the test adjust the environment.
    ///
    /// # Panics
    /// When Postgres, Redis or loopback are unavailable.
    pub async fn spawn_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        Self::spawn_at(|vars, _| adjust(vars)).await
    }

    /// Spawns with `API_BASE_URL` set to the router's own address, so links and redirects the
    /// router builds from it (OAuth's `redirect_uri`, the console's way back) reach this router.
    pub async fn spawn_serving_own_base(adjust: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        Self::spawn_at(|vars, base| {
            vars.insert("API_BASE_URL".into(), base.to_owned());
            adjust(vars);
        })
        .await
    }

    async fn spawn_at(adjust: impl FnOnce(&mut HashMap<String, String>, &str)) -> Self {
        LazyLock::force(&TRACING);
        let test_db = TestDb::create().await;
        let graph = FakeGraph::start(APP_SECRET).await;
        let crm = FakeCrm::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut vars = test_vars(&test_db.url, &graph.url());
        adjust(&mut vars, &base);
        let config = config_from(&vars);
        let key_spec = vars["ENCRYPTION_KEY"].clone();
        let state = router_api::build_state(config.clone()).await.expect("build state");
        let cancel = CancellationToken::new();
        tokio::spawn(router_api::serve(state.clone(), listener, cancel.clone()));
        let admin_key = insert_admin_key(&test_db.pool, &config).await;
        Self {
            base,
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
            db: test_db.pool.clone(),
            config,
            state,
            graph,
            crm,
            admin_key,
            key_spec,
            cancel,
            test_db,
        }
    }

    /// Sends a request; `key` becomes the bearer token.
    pub async fn req(&self, method: reqwest::Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Resp {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        Resp::from(r.send().await.expect("request sent")).await
    }

    /// GET.
    pub async fn get(&self, path: &str, key: &str) -> Resp {
        self.req(reqwest::Method::GET, path, Some(key), None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.req(reqwest::Method::POST, path, Some(key), Some(body)).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.req(reqwest::Method::PUT, path, Some(key), Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, key: &str) -> Resp {
        self.req(reqwest::Method::DELETE, path, Some(key), None).await
    }

    /// Creates a merchant through the admin API.
    pub async fn create_merchant(&self, name: &str) -> Uuid {
        let r = self.post("/api/v1/admin/merchants", &self.admin_key, &json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["merchant_id"].as_str().expect("id").parse().expect("uuid")
    }

    /// Creates a merchant key with `scopes` through the admin API; returns the key.
    pub async fn create_key(&self, merchant: Uuid, scopes: &[&str]) -> String {
        let r = self
            .post(
                &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
                &self.admin_key,
                &json!({"name": "test", "scopes": scopes}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["key"].as_str().expect("key").to_owned()
    }

    /// A merchant and a key with every merchant scope.
    pub async fn merchant_with_key(&self, name: &str) -> (Uuid, String) {
        let m = self.create_merchant(name).await;
        let k = self.create_key(m, &["messages:send", "messages:read", "accounts:read", "accounts:write"]).await;
        (m, k)
    }

    /// Registers `ig_id` with the fake Graph API and connects it through the API; the CRM endpoint
    /// is `crm.url(crm_path)` with secret `webhook_secret`. Returns the account JSON and the token.
    pub async fn connect_account(
        &self,
        key: &str,
        ig_id: &str,
        crm_path: &str,
        webhook_secret: &str,
    ) -> (Value, String) {
        let token = self.graph.add_account(ig_id, &format!("shop_{ig_id}"));
        self.crm.set_secrets(crm_path, &[webhook_secret]);
        let r = self
            .post(
                "/api/v1/accounts",
                key,
                &json!({
                    "instagram_account_id": ig_id,
                    "username": format!("shop_{ig_id}"),
                    "access_token": token,
                    "crm_webhook_url": self.crm.url(crm_path),
                    "webhook_secret": webhook_secret,
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        (r.json, token)
    }

    /// The id of an API key (looked up by its hash, as authentication does).
    pub async fn key_id(&self, key: &str) -> Uuid {
        let hash = router_core::crypto::hash_api_key(&self.config.api().api_key_salt, key);
        sqlx::query_scalar("select api_key_id from api_keys where key_hash = $1")
            .bind(&hash[..])
            .fetch_one(&self.db)
            .await
            .expect("key exists")
    }

    /// Records that `igsid` last wrote to the account at `at` (opens Instagram's messaging window),
    /// as an inbound webhook would.
    pub async fn open_window(&self, account_id: &str, igsid: &str, at: time::OffsetDateTime) {
        let account_id: Uuid = account_id.parse().expect("uuid");
        sqlx::query(
            r"insert into conversations (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
              select $1, merchant_id, account_id, $3, $4 from accounts where account_id = $2
              on conflict on constraint conversations_account_contact_key do update set last_inbound_at = excluded.last_inbound_at",
        )
        .bind(Uuid::now_v7())
        .bind(account_id)
        .bind(igsid)
        .bind(at)
        .execute(&self.db)
        .await
        .expect("open window");
    }

    /// Sends a text message through the API; returns the response.
    pub async fn send_text(&self, key: &str, account_id: &str, recipient: &str, text: &str) -> Resp {
        self.post(
            "/api/v1/messages/send",
            key,
            &json!({"account_id": account_id, "recipient_id": recipient, "message": text}),
        )
        .await
    }

    /// The status API's view of a message.
    pub async fn status_of(&self, key: &str, message_id: &str) -> Value {
        let r = self.get(&format!("/api/v1/messages/{message_id}/status"), key).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json
    }

    /// POSTs a Meta webhook body as Meta does: escaped-unicode bytes, signed with the app secret.
    pub async fn post_meta(&self, body: &Value) -> Resp {
        let bytes = router_fakes::webhooks::to_meta_bytes(body);
        let sig = router_fakes::sign_sha256(APP_SECRET.as_bytes(), &bytes);
        self.post_meta_raw(bytes, Some(&sig)).await
    }

    /// POSTs raw bytes to the Instagram webhook with an optional signature header.
    pub async fn post_meta_raw(&self, bytes: Vec<u8>, sig: Option<&str>) -> Resp {
        let mut r =
            self.client.post(format!("{}/webhooks/instagram", self.base)).header("content-type", "application/json");
        if let Some(s) = sig {
            r = r.header("x-hub-signature-256", s);
        }
        Resp::from(r.body(bytes).send().await.expect("request sent")).await
    }

    /// A worker runner over this app's database and configuration.
    #[must_use]
    pub fn worker(&self) -> Runner {
        Runner::new(Arc::new(self.job_context()), every_handler())
    }

    /// A runner that only sends to Instagram.
    #[must_use]
    pub fn sender(&self) -> Runner {
        self.worker().with_kinds(&[router_core::jobs::kinds::SEND_MESSAGE])
    }

    /// A runner that only delivers CRM webhooks.
    #[must_use]
    pub fn deliverer(&self) -> Runner {
        self.worker().with_kinds(&[router_core::jobs::kinds::DELIVER_WEBHOOK])
    }

    /// The job context a worker would use.
    #[must_use]
    pub fn job_context(&self) -> JobContext {
        JobContext::new(self.db.clone(), Arc::new(self.config.clone()), self.state.limiter.clone())
    }

    /// Runs a worker until the queue has nothing runnable, repeatedly, until `pred` holds or
    /// `timeout` passes (for jobs rescheduled a little into the future).
    pub async fn drain_until(&self, timeout: Duration, mut pred: impl AsyncFnMut() -> bool) -> bool {
        let worker = self.worker();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            worker.run_until_idle().await.expect("worker runs");
            if pred().await {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn insert_admin_key(pool: &PgPool, config: &Config) -> String {
    let key = generate_api_key(KeyEnvironment::Live, &config.api().api_key_salt);
    let mut conn = pool.acquire().await.expect("conn");
    router_core::db::api_keys::insert_api_key(
        &mut conn,
        &router_core::db::api_keys::NewKey {
            api_key_id: Uuid::now_v7(),
            merchant_id: None,
            name: "test admin",
            key_hash: &key.hash,
            key_prefix: &key.prefix,
            environment: "live",
            scopes: &["admin".to_owned()],
            account_ids: None,
            expires_at: None,
        },
    )
    .await
    .expect("insert admin key");
    key.key.expose_secret().to_owned()
}

/// A response, read eagerly.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, headers, text, json }
    }

    /// A header value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the documented error body: `{error, message, correlation_id = X-Request-Id, timestamp}`.
    ///
    /// # Panics
    /// When the body does not match.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.json["error"], code, "body: {}", self.text);
        assert!(self.json["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {}", self.text);
        let cid = self.json["correlation_id"].as_str().expect("correlation_id");
        assert_eq!(Some(cid), self.header("x-request-id"), "correlation_id must equal X-Request-Id");
        assert!(self.json["timestamp"].as_str().is_some(), "timestamp");
    }
}

/// A loopback TCP proxy in front of Postgres, so a test can take the database away from the
/// router (as a restart or failover would) and give it back.
pub struct PgProxy {
    pub port: u16,
    upstream: std::net::SocketAddr,
    run: std::sync::Mutex<Option<CancellationToken>>,
}

impl PgProxy {
    /// Listens on a free port, forwarding to `upstream`.
    pub async fn start(upstream: std::net::SocketAddr) -> Arc<Self> {
        let port = router_testing::process::free_port();
        let p = Arc::new(Self { port, upstream, run: std::sync::Mutex::new(None) });
        p.resume().await;
        p
    }

    /// Accepts and forwards connections again.
    pub async fn resume(&self) {
        let cancel = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("bind proxy port");
        let upstream = self.upstream;
        let c = cancel.clone();
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    () = c.cancelled() => return,
                    r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                };
                let c2 = c.clone();
                tokio::spawn(async move {
                    let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        () = c2.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                    }
                });
            }
        });
        *self.run.lock().expect("proxy") = Some(cancel);
    }

    /// Closes the listener and cuts every open connection.
    pub fn stop(&self) {
        if let Some(c) = self.run.lock().expect("proxy").take() {
            c.cancel();
        }
    }
}
