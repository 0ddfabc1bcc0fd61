//! A fake merchant CRM: receives the router's webhooks over real HTTP, verifies both signature
//! schemes with code written independently of `router-core` (so a bug there cannot hide itself),
//! and answers with scripted statuses, delays and `Retry-After` headers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

/// How the CRM answers one delivery.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub retry_after: Option<String>,
    pub body: ReplyBody,
    /// Extra response headers, raw bytes allowed (hostile CRMs).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// The body of a reply.
#[derive(Debug, Clone)]
pub enum ReplyBody {
    /// These bytes (any bytes: NUL, invalid UTF-8…).
    Bytes(Bytes),
    /// `len` bytes of `x`, generated lazily chunk by chunk, with a `Content-Length`: a hostile
    /// CRM answering gigabytes without the fake holding them.
    Endless { len: u64 },
}

impl Reply {
    /// Answer `status` at once.
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            retry_after: None,
            body: ReplyBody::Bytes(Bytes::from(format!("{{\"status\":{status}}}"))),
            headers: Vec::new(),
        }
    }

    /// With this body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = ReplyBody::Bytes(body.into());
        self
    }

    /// With a body of `len` bytes streamed lazily.
    #[must_use]
    pub fn endless(mut self, len: u64) -> Self {
        self.body = ReplyBody::Endless { len };
        self
    }

    /// With an extra header (raw value bytes).
    #[must_use]
    pub fn header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// Same, after `delay`.
    #[must_use]
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// With a `Retry-After` header.
    #[must_use]
    pub fn retry_after(mut self, v: &str) -> Self {
        self.retry_after = Some(v.to_owned());
        self
    }
}

/// One delivery the CRM received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub json: Value,
    /// `X-Hub-Signature-256` verified with one of the path's secrets.
    pub hub_signature_valid: bool,
    /// Standard Webhooks signature verified (timestamp within 5 minutes) by this file's code.
    pub standard_signature_valid: bool,
    /// Verified by the Standard Webhooks reference library (`standardwebhooks` crate).
    pub reference_library_valid: bool,
    pub status_returned: u16,
    pub at: Instant,
}

impl Received {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The event type of the body.
    #[must_use]
    pub fn event(&self) -> &str {
        self.json.get("event").and_then(Value::as_str).unwrap_or("")
    }
}

#[derive(Default)]
struct Inner {
    secrets: HashMap<String, Vec<String>>,
    scripted: HashMap<String, VecDeque<Reply>>,
    default_reply: HashMap<String, Reply>,
    received: Vec<Received>,
}

/// Handle to a running fake CRM.
#[derive(Clone)]
pub struct FakeCrm {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
    /// Bytes of endless bodies handed to the connection so far.
    streamed: Arc<AtomicU64>,
}

impl FakeCrm {
    /// Starts on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If loopback cannot be bound.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr")).await
    }

    /// Starts on `addr` (e.g. `127.0.0.2:<port of another fake>`, to play a second host).
    ///
    /// # Panics
    /// If `addr` cannot be bound.
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind fake crm");
        let addr = listener.local_addr().expect("addr");
        let crm = Self {
            addr,
            inner: Arc::default(),
            arrived: Arc::new(Notify::new()),
            streamed: Arc::new(AtomicU64::new(0)),
        };
        let app = Router::new().route("/{*path}", post(receive)).with_state(crm.clone());
        tokio::spawn(async move {
            // As a production server does: answers are never held back by Nagle's algorithm.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app).await;
        });
        crm
    }

    /// The address this CRM listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes of [`ReplyBody::Endless`] bodies produced so far (what the router let us send).
    #[must_use]
    pub fn streamed_bytes(&self) -> u64 {
        self.streamed.load(Ordering::Relaxed)
    }

    /// URL of an endpoint on this CRM, e.g. `url("shop-a")`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake crm lock")
    }

    /// Secrets the CRM accepts on `path` (several during a rotation).
    pub fn set_secrets(&self, path: &str, secrets: &[&str]) {
        self.lock().secrets.insert(path.to_owned(), secrets.iter().map(|s| (*s).to_owned()).collect());
    }

    /// The next `n` deliveries to `path` get `reply`.
    pub fn push_replies(&self, path: &str, reply: Reply, n: usize) {
        let mut g = self.lock();
        let q = g.scripted.entry(path.to_owned()).or_default();
        for _ in 0..n {
            q.push_back(reply.clone());
        }
    }

    /// Deliveries to `path` get `reply` once scripted replies run out (default 200).
    pub fn set_default(&self, path: &str, reply: Reply) {
        self.lock().default_reply.insert(path.to_owned(), reply);
    }

    /// Everything received, in arrival order.
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many deliveries arrived so far, on every path (cheap: nothing is cloned).
    #[must_use]
    pub fn received_count(&self) -> usize {
        self.lock().received.len()
    }

    /// Waits until at least `n` deliveries arrived on any path (or `timeout`); returns the count.
    pub async fn wait_for_count(&self, n: usize, timeout: Duration) -> usize {
        self.wait_until(timeout, |c| c.received_count(), |got| *got >= n).await
    }

    /// Reads `read` after every arrival until `done` holds for it or `timeout` passes; returns the
    /// last reading.
    async fn wait_until<T>(&self, timeout: Duration, read: impl Fn(&Self) -> T, done: impl Fn(&T) -> bool) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let got = read(self);
            if done(&got) || Instant::now() >= deadline {
                return got;
            }
            let _ = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), notified).await;
        }
    }

    /// Deliveries to one path.
    #[must_use]
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.lock().received.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits until at least `n` deliveries arrived on `path` (or `timeout`), returns them.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(timeout, |c| c.received_on(path), |got| got.len() >= n).await
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Verifies `sha256=<hex>` against any secret, in constant time.
#[must_use]
pub fn verify_hub(secrets: &[String], body: &[u8], header: Option<&str>) -> bool {
    let Some(sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(given) = hex::decode(sig) else {
        return false;
    };
    secrets.iter().any(|s| {
        let mut m = <HmacSha256 as Mac>::new_from_slice(s.as_bytes()).expect("any key length");
        m.update(body);
        m.verify_slice(&given).is_ok()
    })
}

/// Verifies Standard Webhooks headers as the reference libraries do: key is the base64 part of a
/// `whsec_` secret; content `id.timestamp.body`; any `v1,` signature in the space-separated list;
/// timestamp within ±5 minutes.
#[must_use]
pub fn verify_standard(
    secrets: &[String],
    body: &[u8],
    id: Option<&str>,
    ts: Option<&str>,
    sigs: Option<&str>,
) -> bool {
    let (Some(id), Some(ts), Some(sigs)) = (id, ts, sigs) else {
        return false;
    };
    let Ok(ts_num) = ts.parse::<i64>() else {
        return false;
    };
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    if (now - ts_num).abs() > 300 {
        return false;
    }
    secrets.iter().any(|secret| {
        let key = match secret.strip_prefix("whsec_") {
            Some(b) => match STANDARD.decode(b) {
                Ok(k) => k,
                Err(_) => return false,
            },
            None => secret.as_bytes().to_vec(),
        };
        let expected = STANDARD.encode(hmac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]));
        sigs.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|s| constant_eq(s.as_bytes(), expected.as_bytes()))
    })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn receive(State(crm): State<FakeCrm>, Path(path): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let hdrs: HashMap<String, String> =
        headers.iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_owned())).collect();
    let (reply, secrets) = {
        let mut g = crm.lock();
        let reply = g
            .scripted
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .or_else(|| g.default_reply.get(&path).cloned())
            .unwrap_or_else(|| Reply::status(200));
        (reply, g.secrets.get(&path).cloned().unwrap_or_default())
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let hub = verify_hub(&secrets, &body, hdrs.get("x-hub-signature-256").map(String::as_str));
    let std = verify_standard(
        &secrets,
        &body,
        hdrs.get("webhook-id").map(String::as_str),
        hdrs.get("webhook-timestamp").map(String::as_str),
        hdrs.get("webhook-signature").map(String::as_str),
    );
    let reference = secrets.iter().any(|secret| {
        let hook = match secret.strip_prefix("whsec_") {
            Some(_) => standardwebhooks::Webhook::new(secret),
            None => standardwebhooks::Webhook::from_bytes(secret.as_bytes().to_vec()),
        };
        hook.is_ok_and(|h| h.verify(&body, &headers).is_ok())
    });
    crm.lock().received.push(Received {
        path,
        headers: hdrs,
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body: body.to_vec(),
        hub_signature_valid: hub,
        standard_signature_valid: std,
        reference_library_valid: reference,
        status_returned: reply.status,
        at: Instant::now(),
    });
    crm.arrived.notify_waiters();
    let mut resp = (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK), body_of(&reply.body, &crm.streamed))
        .into_response();
    if let ReplyBody::Endless { len } = reply.body {
        resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(ra) = reply.retry_after {
        resp.headers_mut().insert("retry-after", ra.parse().expect("header"));
    }
    for (name, value) in reply.headers {
        let name = HeaderName::try_from(name).expect("header name");
        resp.headers_mut().append(name, HeaderValue::from_bytes(&value).expect("header value"));
    }
    resp
}

/// A streamed body; an endless one repeats one shared 64 KiB chunk, so serving it costs no memory
/// and stops when the router hangs up.
fn body_of(body: &ReplyBody, streamed: &Arc<AtomicU64>) -> Body {
    const CHUNK: usize = 64 * 1024;
    match body {
        ReplyBody::Bytes(b) => Body::from(b.clone()),
        ReplyBody::Endless { len } => {
            let chunk = Bytes::from(vec![b'x'; CHUNK]);
            let (len, streamed) = (*len, streamed.clone());
            let stream = futures::stream::unfold(0u64, move |sent| {
                let (chunk, streamed) = (chunk.clone(), streamed.clone());
                async move {
                    let n = (len - sent).min(CHUNK as u64);
                    streamed.fetch_add(n, Ordering::Relaxed);
                    (n > 0).then(|| (Ok::<_, std::io::Error>(chunk.slice(..n as usize)), sent + n))
                }
            });
            Body::from_stream(stream)
        }
    }
}
