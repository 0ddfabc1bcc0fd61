//! A faithful fake of Meta's Instagram Graph API (Instagram Login flavour), served over real HTTP.
//!
//! Written from `research/meta-instagram-api.md` (§3 Send API, §4 errors, §5 usage headers, §6
//! OAuth, §10 the checklist for this fake). What it does:
//! * `GET /{ver}/me?fields=…` → `{user_id, username, id}`; unknown/revoked tokens → 190.
//! * `POST /{ver}/{ig_id|me}/messages` (JSON, or form fields holding JSON; token as Bearer or
//!   `?access_token=`) validates `recipient.id`, exactly one of `message`/`sender_action`, text ≤
//!   1000 UTF-8 bytes, ≤ 13 quick replies, attachment types, `attachments` of 1–10 images; optionally enforces the 24 h window
//!   (10/2534022 unless `HUMAN_AGENT` within 7 days); returns `{recipient_id, message_id}` and
//!   emits `X-App-Usage` / `X-Business-Use-Case-Usage` on every response.
//! * `POST /oauth/access_token` (single-use 1 h codes, `redirect_uri` must match, PKCE verifier
//!   checked when the code was issued with a challenge; `{error_type, code, error_message}` errors;
//!   both the `data[]` and the flat success shape), `GET /access_token` (`ig_exchange_token`),
//!   `GET /refresh_access_token` (`ig_refresh_token`: refuses tokens under 24 h old or expired),
//!   `POST /{ver}/me/subscribed_apps`, and `GET /oauth/authorize` (auto-approves, for the sandbox).
//! * Failure injection ([`Scripted`]): HTTP statuses, any Graph error code, slow responses,
//!   dropped connections; and a record of every request ([`FakeGraph::requests`]).
//! * A control plane under `/_fake/…` so the `fake-graph` binary is usable as a local sandbox.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Which endpoint a scripted failure applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Me,
    Send,
    OauthToken,
    ExchangeToken,
    RefreshToken,
    SubscribedApps,
    MessengerProfile,
}

/// A scripted response for the next call(s) to an endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scripted {
    /// A Graph error body with this HTTP status.
    GraphError { http_status: u16, code: i64, subcode: Option<i64>, message: String, transient: bool },
    /// A raw status and body (e.g. a 502 HTML page from a proxy).
    Raw { status: u16, body: String },
    /// Answer normally, but only after this delay (timeouts).
    Delay { millis: u64 },
    /// Close the connection without answering.
    Drop,
    /// Deliver the message (recorded in [`FakeGraph::sent`], its echo posted when
    /// [`FakeGraph::emit_echoes_to`] is set), then answer normally only after `millis` — later
    /// than the caller's timeout. Meta's Send API has no idempotency key, so this is the case
    /// where a retry would send the customer the same DM twice.
    DeliverThenTimeout { millis: u64 },
    /// Deliver the message (and echo it), then answer with this Graph error (Meta's 1/1357046:
    /// "messages may have been sent anyway").
    DeliverThenError { http_status: u16, code: i64, subcode: Option<i64>, message: String },
    /// Do not deliver; answer 504 only after `millis` (a request lost on the way).
    Hang { millis: u64 },
}

impl Scripted {
    /// [`Scripted::DeliverThenError`] with Meta's status and message for `code`.
    #[must_use]
    pub fn deliver_then_code(code: i64, subcode: Option<i64>) -> Self {
        match Self::code(code, subcode) {
            Self::GraphError { http_status, code, subcode, message, .. } => {
                Self::DeliverThenError { http_status, code, subcode, message }
            }
            other => other,
        }
    }

    /// Meta's error for `code` (and optional subcode) with a realistic message.
    #[must_use]
    pub fn code(code: i64, subcode: Option<i64>) -> Self {
        let (http_status, message, transient) = match (code, subcode) {
            (1, _) => (500, "An unknown error occurred", true),
            (2, _) => (503, "An unexpected error has occurred. Please retry your request later.", true),
            (4, _) => (400, "Application request limit reached", true),
            (10, Some(2_534_022)) => (
                400,
                "This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
                false,
            ),
            (10, _) => (400, "Application does not have permission for this action", false),
            (17, _) => (400, "User request limit reached", true),
            (32, _) => (400, "Page request limit reached", true),
            (100, Some(2_534_014)) => (400, "No matching Instagram user", false),
            (100, _) => (400, "Invalid parameter", false),
            (190, _) => {
                (400, "Error validating access token: Session has expired on Friday, 20-Nov-26 10:00:00 PST.", false)
            }
            (551, _) => (400, "This person isn't available right now.", false),
            (613, _) => (400, "Calls to this api have exceeded the rate limit.", true),
            (80002, _) => {
                (400, "There have been too many calls to this Instagram account. Wait a bit and try again.", true)
            }
            (80006, _) => (
                400,
                "There have been too many messenger api calls to this Page account. Wait a bit and try again.",
                true,
            ),
            _ => (400, "An error occurred", false),
        };
        Self::GraphError { http_status, code, subcode, message: message.to_owned(), transient }
    }
}

/// Faults applied at random to Send API calls that have no scripted response (a chaos run's
/// "Meta storm"). Each share is a probability in 0–1, checked in this order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SendFaults {
    /// Delivered and echoed, then answered after `slow_millis` ([`Scripted::DeliverThenTimeout`]).
    pub deliver_then_timeout: f64,
    /// Delivered and echoed, then answered 1/1357046.
    pub deliver_then_ambiguous: f64,
    /// Not delivered, answered 504 after `slow_millis` ([`Scripted::Hang`]).
    pub hang: f64,
    /// HTTP 429, code 4, with usage headers at 100 %.
    pub throttle_429: f64,
    /// Code 613.
    pub code_613: f64,
    /// HTTP 500 code 2 / 502 HTML, half each.
    pub server_error: f64,
    /// How long slow answers take (longer than the router's `GRAPH_TIMEOUT_SECS`).
    pub slow_millis: u64,
}

impl SendFaults {
    fn pick(&self) -> Option<Scripted> {
        use rand::Rng;
        let mut r: f64 = rand::thread_rng().r#gen();
        let mut hit = |share: f64| {
            if r < share {
                true
            } else {
                r -= share;
                false
            }
        };
        if hit(self.deliver_then_timeout) {
            return Some(Scripted::DeliverThenTimeout { millis: self.slow_millis });
        }
        if hit(self.deliver_then_ambiguous) {
            return Some(Scripted::deliver_then_code(1, Some(1_357_046)));
        }
        if hit(self.hang) {
            return Some(Scripted::Hang { millis: self.slow_millis });
        }
        if hit(self.throttle_429) {
            return Some(Scripted::GraphError {
                http_status: 429,
                code: 4,
                subcode: None,
                message: "Application request limit reached".into(),
                transient: true,
            });
        }
        if hit(self.code_613) {
            return Some(Scripted::code(613, None));
        }
        if hit(self.server_error) {
            return Some(if rand::random::<bool>() {
                Scripted::code(2, None)
            } else {
                Scripted::Raw { status: 502, body: "<html><body>502 Bad Gateway</body></html>".into() }
            });
        }
        None
    }
}

/// Most echo events the fake puts in one webhook POST (Meta batches too).
const ECHO_BATCH: usize = 100;

/// Where and how the fake posts Meta's echo webhooks.
#[derive(Debug, Clone, Default)]
struct EchoTargets {
    /// The router's `POST /webhooks/instagram` URLs (attempts rotate over them).
    urls: Vec<String>,
    /// Delay between the delivery and the first attempt (Meta: "a few seconds").
    delay: Duration,
}

/// A request the fake received.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    /// The token used (Bearer or query), if any.
    pub token: Option<String>,
    pub body: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A message the fake accepted.
#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub ig_id: String,
    pub recipient_id: String,
    pub message_id: String,
    pub body: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Delivered by a call whose answer did not confirm it (deliver-then-timeout, 1/1357046).
    pub ambiguous: bool,
}

#[derive(Debug, Clone)]
struct TokenInfo {
    ig_id: String,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    long_lived: bool,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct CodeInfo {
    ig_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    issued_at: OffsetDateTime,
    used: bool,
}

#[derive(Default)]
struct Inner {
    accounts: HashMap<String, String>, // ig_id → username
    tokens: HashMap<String, TokenInfo>,
    codes: HashMap<String, CodeInfo>,
    scripted: HashMap<Endpoint, VecDeque<Scripted>>,
    requests: Vec<Recorded>,
    sent: Vec<SentMessage>,
    usage_percent: u32,
    enforce_window: bool,
    /// (ig_id, igsid) → last customer message time.
    last_inbound: HashMap<(String, String), OffsetDateTime>,
    wrap_oauth_in_data: bool,
    subscriptions: HashMap<String, String>,
    /// ig_id → the account's messenger profile fields (`ice_breakers`, `persistent_menu`).
    profiles: HashMap<String, serde_json::Map<String, Value>>,
    counter: u64,
    sandbox_ig_id: Option<String>,
    /// Random faults for unscripted Send API calls.
    send_faults: SendFaults,
    /// Echo webhooks of delivered messages.
    echo: EchoTargets,
    /// mid → when the router first acknowledged its echo.
    echo_acks: HashMap<String, OffsetDateTime>,
    /// `/oauth/authorize` shows a consent page with an "Allow" link instead of redirecting at once.
    consent_page: bool,
    /// Echo events waiting for the next batch: (Instagram account, event, mid).
    echo_pending: Vec<(String, Value, String)>,
    /// Whether a batcher task is collecting [`Inner::echo_pending`].
    echo_batching: bool,
    /// Skip [`FakeGraph::requests`] bookkeeping (long chaos runs).
    no_request_log: bool,
}

/// Handle to a running fake (cheap to clone).
#[derive(Clone)]
pub struct FakeGraph {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    app_secret: Arc<String>,
}

impl FakeGraph {
    /// Starts on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If loopback cannot be bound.
    pub async fn start(app_secret: &str) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), app_secret).await.expect("bind fake graph")
    }

    /// Starts on `addr`.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start_on(addr: SocketAddr, app_secret: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let fake = Self {
            addr,
            inner: Arc::new(Mutex::new(Inner { wrap_oauth_in_data: true, ..Inner::default() })),
            app_secret: Arc::new(app_secret.to_owned()),
        };
        let app = fake.router();
        tokio::spawn(async move {
            // As a production server does: answers are never held back by Nagle's algorithm.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app).await;
        });
        Ok(fake)
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake graph lock")
    }

    /// Registers an Instagram professional account and returns a fresh long-lived token for it.
    pub fn add_account(&self, ig_id: &str, username: &str) -> String {
        let mut g = self.lock();
        g.accounts.insert(ig_id.to_owned(), username.to_owned());
        g.issue_token("IGAA", ig_id, time::Duration::days(60), true)
    }

    /// Invalidates a token: every call with it answers 190/460.
    pub fn revoke_token(&self, token: &str) {
        if let Some(t) = self.lock().tokens.get_mut(token) {
            t.revoked = true;
        }
    }

    /// Moves a token's issue and expiry times (to test refresh rules without waiting).
    pub fn set_token_times(&self, token: &str, issued_at: OffsetDateTime, expires_at: OffsetDateTime) {
        if let Some(t) = self.lock().tokens.get_mut(token) {
            t.issued_at = issued_at;
            t.expires_at = expires_at;
        }
    }

    /// Whether a token is currently valid.
    #[must_use]
    pub fn token_valid(&self, token: &str) -> bool {
        self.lock().tokens.get(token).is_some_and(|t| !t.revoked && t.expires_at > OffsetDateTime::now_utc())
    }

    /// Queues `response` for the next `times` calls to `endpoint`.
    pub fn script(&self, endpoint: Endpoint, response: Scripted, times: usize) {
        let mut g = self.lock();
        let q = g.scripted.entry(endpoint).or_default();
        for _ in 0..times {
            q.push_back(response.clone());
        }
    }

    /// Removes every scripted response.
    pub fn clear_scripts(&self) {
        self.lock().scripted.clear();
    }

    /// Random faults for Send API calls that have no scripted response (defaults: none).
    pub fn set_send_faults(&self, faults: SendFaults) {
        self.lock().send_faults = faults;
    }

    /// Whether every request is kept for [`FakeGraph::requests`] (default on; a long chaos run
    /// turns it off to bound memory; [`FakeGraph::sent`] is always kept).
    pub fn record_requests(&self, on: bool) {
        self.lock().no_request_log = !on;
    }

    /// The newest valid token of an account, if any.
    #[must_use]
    pub fn token_of(&self, ig_id: &str) -> Option<String> {
        let g = self.lock();
        g.tokens
            .iter()
            .filter(|(_, t)| t.ig_id == ig_id && !t.revoked && t.expires_at > OffsetDateTime::now_utc())
            .max_by_key(|(_, t)| t.issued_at)
            .map(|(k, _)| k.clone())
    }

    /// Posts Meta's echo webhook (the `is_echo` message, signed with the app secret) for every
    /// message this fake delivers, to `url` (the router's `/webhooks/instagram`) after `delay`,
    /// retried with backoff for up to 10 minutes while the router does not answer 2xx, as Meta
    /// retries. `None` stops it.
    pub fn emit_echoes_to(&self, url: Option<String>, delay: Duration) {
        self.emit_echoes_to_many(url.into_iter().collect(), delay);
    }

    /// [`FakeGraph::emit_echoes_to`] over several router replicas (attempts rotate over them).
    pub fn emit_echoes_to_many(&self, urls: Vec<String>, delay: Duration) {
        self.lock().echo = EchoTargets { urls, delay };
    }

    /// When the router first acknowledged (2xx) the echo of each delivered mid.
    #[must_use]
    pub fn echo_acks(&self) -> HashMap<String, OffsetDateTime> {
        self.lock().echo_acks.clone()
    }

    fn emit_echo(&self, ig_id: &str, recipient: &str, mid: &str, message: &Value) {
        let targets = self.lock().echo.clone();
        if targets.urls.is_empty() {
            return;
        }
        let mut m = json!({"mid": mid, "is_echo": true});
        if let Some(t) = message.get("text") {
            m["text"] = t.clone();
        }
        let items: Vec<Value> = match (message.get("attachment"), message.get("attachments")) {
            (Some(a), _) => vec![a.clone()],
            (None, Some(Value::Array(v))) => v.clone(),
            _ => Vec::new(),
        };
        if !items.is_empty() {
            // Meta echoes its own CDN copy, not the URL it was given.
            m["attachments"] = items
                .iter()
                .enumerate()
                .map(|(i, a)| json!({"type": a["type"], "payload": {"url": format!("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={mid}{i}")}}))
                .collect();
        }
        let event = json!({"sender": {"id": ig_id}, "recipient": {"id": recipient},
            "timestamp": OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000, "message": m});
        let mut g = self.lock();
        g.echo_pending.push((ig_id.to_owned(), event, mid.to_owned()));
        if !g.echo_batching {
            g.echo_batching = true;
            let fake = self.clone();
            tokio::spawn(async move { fake.batch_echoes(targets).await });
        }
    }

    /// Like Meta, batches the echoes that became due together into one POST (at most
    /// [`ECHO_BATCH`] events, one entry per account): waits `delay` (at least 20 ms), takes what
    /// is pending, posts it (retrying on its own), and goes on while more is pending.
    async fn batch_echoes(&self, targets: EchoTargets) {
        loop {
            tokio::time::sleep(targets.delay.max(Duration::from_millis(20))).await;
            let (batch, more): (Vec<(String, Value, String)>, bool) = {
                let mut g = self.lock();
                let n = g.echo_pending.len().min(ECHO_BATCH);
                let batch: Vec<_> = g.echo_pending.drain(..n).collect();
                let more = !g.echo_pending.is_empty();
                g.echo_batching = more;
                (batch, more)
            };
            if batch.is_empty() {
                return;
            }
            let fake = self.clone();
            let urls = targets.urls.clone();
            tokio::spawn(async move { fake.post_echoes(urls, batch).await });
            if !more {
                return;
            }
        }
    }

    /// Posts one batch of echoes, retried with backoff for up to 10 minutes until a 2xx, and
    /// records when each was acknowledged.
    async fn post_echoes(&self, urls: Vec<String>, batch: Vec<(String, Value, String)>) {
        let mut entries: Vec<(String, Vec<Value>)> = Vec::new();
        for (ig, event, _) in &batch {
            match entries.iter_mut().find(|(id, _)| id == ig) {
                Some((_, events)) => events.push(event.clone()),
                None => entries.push((ig.clone(), vec![event.clone()])),
            }
        }
        let body = crate::webhooks::to_meta_bytes(&crate::webhooks::multi_entry(entries));
        let sig = self.sign(&body);
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        let mut attempt = 0usize;
        loop {
            let url = &urls[attempt % urls.len()];
            let ok = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", &sig)
                .body(body.clone())
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                let now = OffsetDateTime::now_utc();
                let mut g = self.lock();
                for (_, _, mid) in batch {
                    g.echo_acks.entry(mid).or_insert(now);
                }
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis((250u64 << attempt.min(6)).min(8000))).await;
        }
    }

    /// Usage percentage reported in the usage headers (≥ 100 also answers 80002).
    pub fn set_usage_percent(&self, pct: u32) {
        self.lock().usage_percent = pct;
    }

    /// Turns 24 h window enforcement on (off by default).
    pub fn enforce_window(&self, on: bool) {
        self.lock().enforce_window = on;
    }

    /// Records that `igsid` messaged `ig_id` at `at` (opens the window).
    pub fn customer_messaged(&self, ig_id: &str, igsid: &str, at: OffsetDateTime) {
        self.lock().last_inbound.insert((ig_id.to_owned(), igsid.to_owned()), at);
    }

    /// Whether OAuth code exchange answers with the `{"data":[…]}` wrapper (default) or flat.
    pub fn wrap_oauth_in_data(&self, on: bool) {
        self.lock().wrap_oauth_in_data = on;
    }

    /// Issues an authorization code for `ig_id` as Instagram's authorize page would.
    pub fn issue_code(&self, ig_id: &str, redirect_uri: &str, code_challenge: Option<&str>) -> String {
        let mut g = self.lock();
        let code = format!("{}#_", mint_token(&mut g.counter, "AQ"));
        g.codes.insert(
            code.trim_end_matches("#_").to_owned(),
            CodeInfo {
                ig_id: ig_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                challenge: code_challenge.map(str::to_owned),
                issued_at: OffsetDateTime::now_utc(),
                used: false,
            },
        );
        code
    }

    /// Makes `/oauth/authorize` show a consent page whose "Allow" link goes back to the app, as
    /// Instagram's does (by default it redirects at once).
    pub fn show_consent_page(&self, on: bool) {
        self.lock().consent_page = on;
    }

    /// The account the sandbox authorize page logs in as (created on first use).
    pub fn set_sandbox_account(&self, ig_id: &str, username: &str) {
        let mut g = self.lock();
        g.accounts.insert(ig_id.to_owned(), username.to_owned());
        g.sandbox_ig_id = Some(ig_id.to_owned());
    }

    /// The account `set_sandbox_account` registered (the sandbox's own), if any.
    #[must_use]
    pub fn sandbox_account(&self) -> Option<String> {
        self.lock().sandbox_ig_id.clone()
    }

    /// Every request received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Every message accepted so far, in order.
    #[must_use]
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// An account's messenger profile as set through the API (ice breakers, persistent menu).
    #[must_use]
    pub fn profile(&self, ig_id: &str) -> serde_json::Map<String, Value> {
        self.lock().profiles.get(ig_id).cloned().unwrap_or_default()
    }

    /// The fields an account subscribed to, if any.
    #[must_use]
    pub fn subscription(&self, ig_id: &str) -> Option<String> {
        self.lock().subscriptions.get(ig_id).cloned()
    }

    /// Signs a webhook body as Meta does: `sha256=<hex HMAC-SHA256(app secret, raw bytes)>`.
    #[must_use]
    pub fn sign(&self, body: &[u8]) -> String {
        crate::sign_sha256(self.app_secret.as_bytes(), body)
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/{ver}/me", get(me))
            .route("/{ver}/{node}/messages", post(send))
            .route("/{ver}/me/subscribed_apps", post(subscribe))
            .route("/{ver}/me/messenger_profile", get(profile_get).post(profile_set).delete(profile_delete))
            .route("/oauth/access_token", post(oauth_token))
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/authorize/allow", get(authorize_allow))
            .route("/access_token", get(exchange))
            .route("/refresh_access_token", get(refresh))
            .route("/_fake/accounts", post(ctl_add_account))
            .route("/_fake/requests", get(ctl_requests))
            .route("/_fake/sent", get(ctl_sent))
            .route("/_fake/script", post(ctl_script))
            .route("/_fake/inbound", post(ctl_inbound))
            .route("/", get(crate::simulator::page))
            .route("/_fake/simulate", post(crate::simulator::submit))
            .with_state(self.clone())
    }

    fn record(&self, method: &str, path: &str, query: &HashMap<String, String>, token: Option<String>, body: Value) {
        let mut g = self.lock();
        if g.no_request_log {
            return;
        }
        g.requests.push(Recorded {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.clone(),
            token,
            body,
            at: OffsetDateTime::now_utc(),
        });
    }

    fn next_script(&self, ep: Endpoint) -> Option<Scripted> {
        self.lock().scripted.get_mut(&ep).and_then(VecDeque::pop_front)
    }

    fn usage_headers(&self, resp: &mut Response, ig_id: Option<&str>) {
        let pct = self.lock().usage_percent;
        self.usage_headers_at(resp, ig_id, pct);
    }

    fn usage_headers_at(&self, resp: &mut Response, ig_id: Option<&str>, pct: u32) {
        let app = json!({"call_count": pct, "total_cputime": pct / 2, "total_time": pct / 2}).to_string();
        let regain = if pct >= 100 { 1 } else { 0 };
        let buc = json!({ ig_id.unwrap_or("0"): [{"type": "instagram", "call_count": pct, "total_cputime": pct / 2,
            "total_time": pct / 2, "estimated_time_to_regain_access": regain}]})
        .to_string();
        let h = resp.headers_mut();
        h.insert("x-app-usage", HeaderValue::from_str(&app).expect("ascii"));
        h.insert("x-business-use-case-usage", HeaderValue::from_str(&buc).expect("ascii"));
        h.insert("x-fb-trace-id", HeaderValue::from_static("AbCdEfGhIjK"));
    }

    /// The scripted answer to a call of `ep`, if one is queued (a dropped connection is answered as
    /// [`drop_connection`] does); `None` = proceed normally.
    async fn scripted_answer(&self, ep: Endpoint) -> Option<Response> {
        self.apply(self.next_script(ep)).await.unwrap_or_else(|()| Some(drop_connection()))
    }

    /// The start of a call authenticated by its token alone (`/me`, `/me/subscribed_apps`): records
    /// it, answers a script if one is queued, then checks the token.
    #[allow(clippy::result_large_err)] // a handler helper: the error *is* the response
    async fn begin_token_call(
        &self,
        method: &str,
        path: &str,
        ep: Endpoint,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
    ) -> Result<TokenInfo, Response> {
        let token = bearer(headers, query);
        self.record(method, path, query, token.clone(), Value::Null);
        if let Some(r) = self.scripted_answer(ep).await {
            return Err(r);
        }
        self.check_token(token.as_deref())
    }

    /// See [`FakeGraph::scripted_answer`]. Outside the Send API, "deliver then…" scripts have nothing
    /// to deliver: they act as a delay or an error.
    async fn apply(&self, scripted: Option<Scripted>) -> Result<Option<Response>, ()> {
        match scripted {
            None => Ok(None),
            Some(Scripted::Delay { millis } | Scripted::DeliverThenTimeout { millis }) => {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                Ok(None)
            }
            Some(Scripted::Hang { millis }) => {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                Ok(Some(
                    (StatusCode::GATEWAY_TIMEOUT, "<html><body>504 Gateway Time-out</body></html>").into_response(),
                ))
            }
            Some(Scripted::DeliverThenError { http_status, code, subcode, message }) => {
                Ok(Some(graph_error(http_status, code, subcode, &message, true)))
            }
            Some(Scripted::Drop) => Err(()),
            Some(Scripted::Raw { status, body }) => {
                Ok(Some((StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), body).into_response()))
            }
            Some(Scripted::GraphError { http_status, code, subcode, message, transient }) => {
                Ok(Some(graph_error(http_status, code, subcode, &message, transient)))
            }
        }
    }

    #[allow(clippy::result_large_err)] // a handler helper: the error *is* the response
    fn check_token(&self, token: Option<&str>) -> Result<TokenInfo, Response> {
        let Some(token) = token else {
            return Err(graph_error(
                400,
                2500,
                None,
                "An active access token must be used to query information about the current user.",
                false,
            ));
        };
        let g = self.lock();
        match g.tokens.get(token) {
            None => Err(graph_error(400, 190, None, "Invalid OAuth access token - Cannot parse access token", false)),
            Some(t) if t.revoked => Err(graph_error(
                400,
                190,
                Some(460),
                "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
                false,
            )),
            Some(t) if t.expires_at <= OffsetDateTime::now_utc() => {
                Err(graph_error(400, 190, Some(463), "Error validating access token: Session has expired.", false))
            }
            Some(t) => Ok(t.clone()),
        }
    }
}

impl Inner {
    /// Mints a token for `ig_id`, valid for `ttl` from now, and keeps it.
    fn issue_token(&mut self, prefix: &str, ig_id: &str, ttl: time::Duration, long_lived: bool) -> String {
        let token = mint_token(&mut self.counter, prefix);
        let issued_at = OffsetDateTime::now_utc();
        let info =
            TokenInfo { ig_id: ig_id.to_owned(), issued_at, expires_at: issued_at + ttl, long_lived, revoked: false };
        self.tokens.insert(token.clone(), info);
        token
    }
}

fn mint_token(counter: &mut u64, prefix: &str) -> String {
    use rand::Rng;
    *counter += 1;
    let tail: String =
        rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(40).map(char::from).collect();
    format!("{prefix}{}{tail}", *counter)
}

fn fbtrace() -> String {
    use rand::Rng;
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(11).map(char::from).collect()
}

/// A Graph API error response, shaped as Meta sends it.
#[must_use]
pub fn graph_error(http_status: u16, code: i64, subcode: Option<i64>, message: &str, transient: bool) -> Response {
    let kind = if code == 190 || code == 102 { "OAuthException" } else { "IGApiException" };
    let mut err =
        json!({"message": message, "type": kind, "code": code, "fbtrace_id": fbtrace(), "is_transient": transient});
    if let Some(s) = subcode {
        err["error_subcode"] = json!(s);
    }
    let mut resp =
        (StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST), axum::Json(json!({"error": err})))
            .into_response();
    resp.headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("OAuth \"Facebook Platform\" \"invalid_request\""));
    resp
}

fn bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| query.get("access_token").cloned())
}

async fn me(
    State(f): State<FakeGraph>,
    Path(_ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let t = match f.begin_token_call("GET", "/me", Endpoint::Me, &headers, &q).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let username = f.lock().accounts.get(&t.ig_id).cloned().unwrap_or_default();
    let mut resp =
        axum::Json(json!({"user_id": t.ig_id, "username": username, "id": format!("9{}", t.ig_id)})).into_response();
    f.usage_headers(&mut resp, Some(&t.ig_id));
    resp
}

/// Parses a JSON body, or a form body whose values are JSON strings (Messenger docs' style).
fn parse_send_body(headers: &HeaderMap, body: &Bytes) -> Option<Value> {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = url_decode_pairs(body);
        let mut obj = serde_json::Map::new();
        for (k, v) in pairs {
            let val = serde_json::from_str(&v).unwrap_or(Value::String(v));
            obj.insert(k, val);
        }
        return Some(Value::Object(obj));
    }
    serde_json::from_slice(body).ok()
}

fn url_decode_pairs(body: &[u8]) -> Vec<(String, String)> {
    let s = String::from_utf8_lossy(body);
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn invalid_param(message: &str, subcode: Option<i64>) -> Response {
    graph_error(400, 100, subcode, message, false)
}

/// Meta's checks of a `message`: text length, quick replies, attachment shapes; `Some` is the
/// refusal.
fn check_message(m: &Value) -> Option<Response> {
    if let Some(text) = m.get("text") {
        let Some(text) = text.as_str() else {
            return Some(invalid_param("(#100) Param message[text] must be a string", None));
        };
        if text.is_empty() || text.len() > 1000 {
            return Some(invalid_param(
                "(#100) Length of param message[text] must be less than or equal to 1000",
                None,
            ));
        }
    }
    if let Some(qr) = m.get("quick_replies").and_then(Value::as_array)
        && qr.len() > 13
    {
        return Some(invalid_param("(#100) param message[quick_replies] must have at most 13 elements", None));
    }
    if m.get("attachment").is_some() && m.get("attachments").is_some() {
        return Some(invalid_param("(#100) Only one of attachment or attachments may be set", None));
    }
    let att = m.get("attachment").or_else(|| m.get("attachments"));
    if let Some(a) = att {
        // `attachments` is an array of up to ten images (each a url or an attachment_id); the
        // single-image doc sample also puts one object under `attachments` (research §3.2).
        let items: Vec<&Value> = match a {
            Value::Array(v) => {
                if v.is_empty() || v.len() > 10 {
                    return Some(invalid_param("(#100) param message[attachments] must have 1 to 10 elements", None));
                }
                if v.iter().any(|it| it.get("type").and_then(Value::as_str) != Some("image")) {
                    return Some(invalid_param("(#100) Only images can be sent as multiple attachments", None));
                }
                v.iter().collect()
            }
            other => vec![other],
        };
        for it in items {
            let ty = it.get("type").and_then(Value::as_str).unwrap_or("");
            if !matches!(ty, "image" | "video" | "audio" | "file" | "like_heart" | "MEDIA_SHARE" | "template") {
                return Some(invalid_param("(#100) Invalid attachment type", None));
            }
            if ty == "template"
                && let Some(r) = check_template(it.get("payload").unwrap_or(&Value::Null))
            {
                return Some(r);
            }
            let media = matches!(ty, "image" | "video" | "audio" | "file");
            let has_source = it.pointer("/payload/url").and_then(Value::as_str).is_some_and(|u| !u.is_empty())
                || it.pointer("/payload/attachment_id").is_some();
            if media && !has_source {
                return Some(invalid_param("(#100) Attachment payload needs a url or an attachment_id", None));
            }
        }
    }
    if m.get("text").is_none() && att.is_none() {
        return Some(invalid_param("(#100) Message must contain text or attachment", None));
    }
    None
}

/// A sender action (research §3.4): typing and read marks carry nothing else; a reaction names
/// the customer's message and (to react) the reaction.
fn check_sender_action(b: &Value) -> Option<Response> {
    let action = b["sender_action"].as_str().unwrap_or("");
    let mid = b.pointer("/payload/message_id").and_then(Value::as_str).is_some_and(|m| !m.is_empty());
    let reaction = b.pointer("/payload/reaction").and_then(Value::as_str).is_some_and(|r| !r.is_empty());
    let ok = match action {
        "typing_on" | "typing_off" | "mark_seen" => b.get("payload").is_none(),
        "react" => mid && reaction,
        "unreact" => mid,
        _ => false,
    };
    (!ok).then(|| invalid_param("(#100) Invalid sender_action or payload", None))
}

/// `GET /me/messenger_profile?platform=instagram&fields=…`: `{"data": [{field: value}]}`.
async fn profile_get(
    State(f): State<FakeGraph>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let t = match f.begin_token_call("GET", "/me/messenger_profile", Endpoint::MessengerProfile, &headers, &q).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if q.get("platform").map(String::as_str) != Some("instagram") {
        return invalid_param("(#100) platform must be instagram", None);
    }
    let stored = f.profile(&t.ig_id);
    let fields = q.get("fields").map(String::as_str).unwrap_or("");
    let wanted: serde_json::Map<String, Value> =
        fields.split(',').filter_map(|k| stored.get(k).map(|v| (k.to_owned(), v.clone()))).collect();
    let data = if wanted.is_empty() { vec![] } else { vec![Value::Object(wanted)] };
    axum::Json(json!({ "data": data })).into_response()
}

/// `POST /me/messenger_profile`: sets `ice_breakers` and/or `persistent_menu` (Meta's limits:
/// at most 4 ice breaker questions, each a question and a payload; a menu of at most 20 web_url
/// or postback items).
async fn profile_set(
    State(f): State<FakeGraph>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = match f.begin_token_call("POST", "/me/messenger_profile", Endpoint::MessengerProfile, &headers, &q).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return invalid_param("(#100) Invalid JSON for postbody", None);
    };
    if b["platform"] != "instagram" {
        return invalid_param("(#100) platform must be instagram", None);
    }
    let mut set = serde_json::Map::new();
    for field in ["ice_breakers", "persistent_menu"] {
        let Some(v) = b.get(field) else { continue };
        let max = if field == "ice_breakers" { 4 } else { 20 };
        let ok = v.as_array().is_some_and(|locales| {
            !locales.is_empty()
                && locales
                    .iter()
                    .all(|l| l["call_to_actions"].as_array().is_some_and(|c| !c.is_empty() && c.len() <= max))
        });
        if !ok {
            return invalid_param(&format!("(#100) param {field} is invalid"), None);
        }
        set.insert(field.to_owned(), v.clone());
    }
    if set.is_empty() {
        return invalid_param("(#100) No profile field to set", None);
    }
    f.lock().profiles.entry(t.ig_id).or_default().extend(set);
    axum::Json(json!({"result": "success"})).into_response()
}

/// `DELETE /me/messenger_profile` with `{"fields": [...]}`.
async fn profile_delete(
    State(f): State<FakeGraph>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = match f.begin_token_call("DELETE", "/me/messenger_profile", Endpoint::MessengerProfile, &headers, &q).await
    {
        Ok(t) => t,
        Err(r) => return r,
    };
    let fields: Vec<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| serde_json::from_value(b["fields"].clone()).ok())
        .unwrap_or_default();
    if fields.is_empty() {
        return invalid_param("(#100) param fields is required", None);
    }
    if let Some(p) = f.lock().profiles.get_mut(&t.ig_id) {
        for k in &fields {
            p.remove(k);
        }
    }
    axum::Json(json!({"result": "success"})).into_response()
}

/// A template attachment's payload, with the limits of Meta's generic and button template pages:
/// 1–10 cards with a title of at most 80 characters and at most 3 buttons; a button template's
/// text of at most 640 characters with 1–3 buttons; buttons `web_url` (with a url) or `postback`
/// (with a payload), titles of at most 20 characters.
fn check_template(p: &Value) -> Option<Response> {
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
    let bad = |what: &str| Some(invalid_param(&format!("(#100) {what}"), None));
    let check_buttons = |buttons: Option<&Value>, min: usize| -> Option<Response> {
        let list = buttons.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if list.len() < min || list.len() > 3 {
            return bad("param buttons must have at most 3 elements");
        }
        for b in list {
            if !chars(&b["title"]).is_some_and(|n| (1..=20).contains(&n)) {
                return bad("Button title is required and must be at most 20 characters");
            }
            let ok = match b["type"].as_str() {
                Some("web_url") => b["url"].as_str().is_some_and(|u| u.starts_with("http")),
                Some("postback") => chars(&b["payload"]).is_some_and(|n| (1..=1000).contains(&n)),
                _ => false,
            };
            if !ok {
                return bad("Invalid button: web_url needs url, postback needs payload");
            }
        }
        None
    };
    match p["template_type"].as_str() {
        Some("generic") => {
            let cards = p["elements"].as_array().map(Vec::as_slice).unwrap_or_default();
            if cards.is_empty() || cards.len() > 10 {
                return bad("param elements must have 1 to 10 elements");
            }
            for c in cards {
                if !chars(&c["title"]).is_some_and(|n| (1..=80).contains(&n)) {
                    return bad("Element title is required and must be at most 80 characters");
                }
                if let Some(r) = check_buttons(c.get("buttons"), 0) {
                    return Some(r);
                }
            }
            None
        }
        Some("button") => {
            if !chars(&p["text"]).is_some_and(|n| (1..=640).contains(&n)) {
                return bad("param text must be 1 to 640 characters");
            }
            check_buttons(p.get("buttons"), 1)
        }
        _ => bad("Invalid template_type"),
    }
}

/// The 24 h standard window, extended to 7 days with the HUMAN_AGENT tag (when enforced); `Some`
/// is the refusal.
fn check_window(f: &FakeGraph, ig_id: &str, recipient: &str, b: &Value) -> Option<Response> {
    // The 24 h standard window, extended to 7 days with the HUMAN_AGENT tag.
    let enforce = f.lock().enforce_window;
    if enforce {
        let last = f.lock().last_inbound.get(&(ig_id.to_owned(), recipient.to_owned())).copied();
        let age = last.map(|l| OffsetDateTime::now_utc() - l);
        let human_agent = b.get("tag").and_then(Value::as_str) == Some("HUMAN_AGENT");
        let allowed = match age {
            None => false,
            Some(a) if a <= time::Duration::hours(24) => true,
            Some(a) => human_agent && a <= time::Duration::days(7),
        };
        if !allowed {
            return Some(graph_error(
                400,
                10,
                Some(2_534_022),
                "This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
                false,
            ));
        }
    }
    None
}

async fn send(
    State(f): State<FakeGraph>,
    Path((_ver, node)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = bearer(&headers, &q);
    let parsed = parse_send_body(&headers, &body);
    f.record("POST", &format!("/{node}/messages"), &q, token.clone(), parsed.clone().unwrap_or(Value::Null));
    // A script, else a random fault (chaos runs), decides the answer; "deliver then…" ones act
    // after the delivery below.
    let scripted = f.next_script(Endpoint::Send).or_else(|| f.lock().send_faults.pick());
    let after = match scripted {
        Some(s @ (Scripted::DeliverThenTimeout { .. } | Scripted::DeliverThenError { .. })) => Some(s),
        other => {
            match f.apply(other).await {
                Err(()) => return drop_connection(),
                Ok(Some(mut r)) => {
                    if r.status() == StatusCode::TOO_MANY_REQUESTS {
                        // Meta throttling: the usage headers say 100 %.
                        f.usage_headers_at(&mut r, Some(&node), 100);
                    }
                    return r;
                }
                Ok(None) => {}
            }
            None
        }
    };
    let t = match f.check_token(token.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if node != "me" && node != t.ig_id {
        return graph_error(400, 10, None, "Application does not have permission for this action", false);
    }
    if f.lock().usage_percent >= 100 {
        let mut r = graph_error(
            400,
            80002,
            None,
            "There have been too many calls to this Instagram account. Wait a bit and try again.",
            true,
        );
        f.usage_headers(&mut r, Some(&t.ig_id));
        return r;
    }
    let Some(b) = parsed else {
        return invalid_param("(#100) Invalid JSON for postbody", None);
    };
    let Some(recipient) = b.pointer("/recipient/id").and_then(Value::as_str).map(str::to_owned) else {
        return invalid_param("(#100) The parameter recipient is required", None);
    };
    let has_msg = b.get("message").is_some();
    let has_action = b.get("sender_action").is_some();
    if has_msg == has_action {
        return invalid_param("(#100) Must send either message or sender_action", None);
    }
    if recipient.is_empty() || !recipient.bytes().all(|c| c.is_ascii_digit()) {
        return invalid_param("(#100) No matching Instagram user", Some(2_534_014));
    }
    if has_action && let Some(r) = check_sender_action(&b) {
        return r;
    }
    if let Some(m) = b.get("message") {
        if let Some(r) = check_message(m) {
            return r;
        }
        if let Some(r) = check_window(&f, &t.ig_id, &recipient, &b) {
            return r;
        }
    }
    let message_id = {
        let mut g = f.lock();
        let mid = format!("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx{}", mint_token(&mut g.counter, "Q"));
        if has_msg {
            g.sent.push(SentMessage {
                ig_id: t.ig_id.clone(),
                recipient_id: recipient.clone(),
                message_id: mid.clone(),
                body: b.clone(),
                at: OffsetDateTime::now_utc(),
                ambiguous: after.is_some(),
            });
        }
        mid
    };
    if has_msg {
        f.emit_echo(&t.ig_id, &recipient, &message_id, &b["message"]);
    }
    match after {
        Some(Scripted::DeliverThenTimeout { millis }) => tokio::time::sleep(Duration::from_millis(millis)).await,
        Some(Scripted::DeliverThenError { http_status, code, subcode, message }) => {
            return graph_error(http_status, code, subcode, &message, true);
        }
        _ => {}
    }
    let mut resp = if has_msg {
        axum::Json(json!({"recipient_id": recipient, "message_id": message_id})).into_response()
    } else {
        axum::Json(json!({"recipient_id": recipient})).into_response()
    };
    f.usage_headers(&mut resp, Some(&t.ig_id));
    resp
}

async fn subscribe(
    State(f): State<FakeGraph>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let t = match f.begin_token_call("POST", "/me/subscribed_apps", Endpoint::SubscribedApps, &headers, &q).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(fields) = q.get("subscribed_fields") else {
        return invalid_param("(#100) The parameter subscribed_fields is required", None);
    };
    f.lock().subscriptions.insert(t.ig_id, fields.clone());
    axum::Json(json!({"success": true})).into_response()
}

fn oauth_error(code: u16, message: &str) -> Response {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(json!({"error_type": "OAuthException", "code": code, "error_message": message})),
    )
        .into_response()
}

fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

async fn oauth_token(State(f): State<FakeGraph>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url_decode_pairs(&body).into_iter().collect();
    let mut logged = form.clone();
    logged.remove("client_secret");
    f.record("POST", "/oauth/access_token", &HashMap::new(), None, serde_json::to_value(&logged).unwrap_or_default());
    if let Some(r) = f.scripted_answer(Endpoint::OauthToken).await {
        return r;
    }
    if form.get("client_secret").map(String::as_str) != Some(f.app_secret.as_str()) {
        return oauth_error(400, "Error validating client secret.");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(400, "Unsupported grant_type");
    }
    let code = form.get("code").map(|c| c.trim_end_matches("#_").to_owned()).unwrap_or_default();
    let mut g = f.lock();
    let Some(info) = g.codes.get_mut(&code) else {
        return oauth_error(400, "Matching code was not found or was already used");
    };
    if info.used || OffsetDateTime::now_utc() - info.issued_at > time::Duration::hours(1) {
        return oauth_error(400, "Matching code was not found or was already used");
    }
    if form.get("redirect_uri") != Some(&info.redirect_uri) {
        return oauth_error(
            400,
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        );
    }
    if let Some(ch) = &info.challenge {
        let ok = form.get("code_verifier").is_some_and(|v| &s256(v) == ch);
        if !ok {
            return oauth_error(400, "Invalid code_verifier");
        }
    }
    info.used = true;
    let ig_id = info.ig_id.clone();
    let token = g.issue_token("IGQV", &ig_id, time::Duration::hours(1), false);
    let item = json!({"access_token": token, "user_id": ig_id.parse::<u64>().map_or(json!(ig_id), |n| json!(n)),
        "permissions": "instagram_business_basic,instagram_business_manage_messages"});
    let body = if g.wrap_oauth_in_data { json!({"data": [item]}) } else { item };
    axum::Json(body).into_response()
}

async fn authorize(State(f): State<FakeGraph>, Query(q): Query<HashMap<String, String>>) -> Response {
    f.record("GET", "/oauth/authorize", &q, None, Value::Null);
    if f.lock().consent_page {
        // Like Instagram: a page on which the person allows access; the way back to the app starts
        // from this page (another site), not from the app's own redirect.
        let query: String = q.iter().map(|(k, v)| format!("{}={}&", urlencode(k), urlencode(v))).collect();
        let html = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in with Instagram (sandbox)</title></head>\
             <body><h1>Allow access?</h1><p><a id=\"allow\" href=\"/oauth/authorize/allow?{}\">Allow</a></p></body></html>",
            query.trim_end_matches('&').replace('&', "&amp;")
        );
        return ([("content-type", "text/html; charset=utf-8")], html).into_response();
    }
    authorize_redirect(&f, &q)
}

/// The consent page's "Allow": back to the app with a code.
async fn authorize_allow(State(f): State<FakeGraph>, Query(q): Query<HashMap<String, String>>) -> Response {
    authorize_redirect(&f, &q)
}

fn authorize_redirect(f: &FakeGraph, q: &HashMap<String, String>) -> Response {
    let Some(redirect) = q.get("redirect_uri") else {
        return oauth_error(400, "Missing redirect_uri");
    };
    let ig_id = {
        let mut g = f.lock();
        match g.sandbox_ig_id.clone() {
            Some(id) => id,
            None => {
                let id = "17841400000000001".to_owned();
                g.accounts.insert(id.clone(), "sandbox_shop".to_owned());
                g.sandbox_ig_id = Some(id.clone());
                id
            }
        }
    };
    let code = f.issue_code(&ig_id, redirect, q.get("code_challenge").map(String::as_str));
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let state = q.get("state").cloned().unwrap_or_default();
    let loc = format!("{redirect}{sep}code={}&state={}", urlencode(&code), urlencode(&state));
    (StatusCode::FOUND, [("location", loc)]).into_response()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn exchange(State(f): State<FakeGraph>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut logged = q.clone();
    logged.remove("client_secret");
    let token = logged.remove("access_token");
    f.record("GET", "/access_token", &logged, token.clone(), Value::Null);
    if let Some(r) = f.scripted_answer(Endpoint::ExchangeToken).await {
        return r;
    }
    if q.get("grant_type").map(String::as_str) != Some("ig_exchange_token") {
        return graph_error(400, 100, None, "Unsupported grant type", false);
    }
    if q.get("client_secret").map(String::as_str) != Some(f.app_secret.as_str()) {
        return graph_error(400, 101, None, "Error validating client secret.", false);
    }
    let t = match f.check_token(token.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if t.long_lived {
        return graph_error(400, 100, None, "Only short-lived tokens can be exchanged", false);
    }
    issue_long(&f, &t.ig_id)
}

fn issue_long(f: &FakeGraph, ig_id: &str) -> Response {
    let token = f.lock().issue_token("IGAA", ig_id, time::Duration::seconds(5_183_944), true);
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 5_183_944})).into_response()
}

async fn refresh(State(f): State<FakeGraph>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut logged = q.clone();
    let token = logged.remove("access_token");
    f.record("GET", "/refresh_access_token", &logged, token.clone(), Value::Null);
    if let Some(r) = f.scripted_answer(Endpoint::RefreshToken).await {
        return r;
    }
    if q.get("grant_type").map(String::as_str) != Some("ig_refresh_token") {
        return graph_error(400, 100, None, "Unsupported grant type", false);
    }
    let t = match f.check_token(token.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !t.long_lived || OffsetDateTime::now_utc() - t.issued_at < time::Duration::hours(24) {
        return graph_error(
            400,
            190,
            None,
            "Error validating access token: the token must be at least 24 hours old to refresh",
            false,
        );
    }
    issue_long(&f, &t.ig_id)
}

fn drop_connection() -> Response {
    // axum cannot abort a connection from a handler; a 502 with an HTML body is what a proxy in
    // front of Meta answers when the upstream drops, and exercises the same non-JSON path.
    (StatusCode::BAD_GATEWAY, "<html><body>502 Bad Gateway</body></html>").into_response()
}

// ---- control plane (for the fake-graph binary used as a local sandbox) ----

#[derive(Deserialize)]
struct AddAccount {
    ig_id: String,
    username: String,
}

async fn ctl_add_account(State(f): State<FakeGraph>, axum::Json(a): axum::Json<AddAccount>) -> Response {
    let token = f.add_account(&a.ig_id, &a.username);
    axum::Json(json!({"ig_id": a.ig_id, "access_token": token})).into_response()
}

async fn ctl_requests(State(f): State<FakeGraph>) -> Response {
    axum::Json(f.requests()).into_response()
}

async fn ctl_sent(State(f): State<FakeGraph>) -> Response {
    axum::Json(f.sent()).into_response()
}

#[derive(Deserialize)]
struct ScriptReq {
    endpoint: Endpoint,
    response: Scripted,
    #[serde(default = "one")]
    times: usize,
}

fn one() -> usize {
    1
}

async fn ctl_script(State(f): State<FakeGraph>, axum::Json(s): axum::Json<ScriptReq>) -> Response {
    f.script(s.endpoint, s.response, s.times);
    StatusCode::NO_CONTENT.into_response()
}

/// Sends a customer event (a DM, a read receipt, a reaction or a postback) to the router as Meta
/// would: signed with the sandbox secret, escaped unicode. Body: `{target, ig_id, sender_id,
/// kind?, text?, emoji?, payload?, mid?}` (see [`crate::simulator::Simulate`]).
async fn ctl_inbound(State(f): State<FakeGraph>, axum::Json(r): axum::Json<crate::simulator::Simulate>) -> Response {
    match crate::simulator::simulate(&f, &r).await {
        Ok(sent) => axum::Json(json!({"router_status": sent.router_status, "mid": sent.mid})).into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"error": e}))).into_response(),
    }
}
