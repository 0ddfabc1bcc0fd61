//! A media host on loopback: serves "files" by path with a chosen `Content-Type` and size, the
//! way a merchant's CDN would, for the worker's pre-send media check.
//!
//! Per file: the `Content-Type` (or none), the size announced in `Content-Length` (a 200 GET
//! streams that many bytes lazily; `Range: bytes=0-0` gets 206, one byte and `Content-Range`),
//! and what goes wrong: HEAD refused with 405, a fixed status (404, 500…), a delay before the
//! headers, or a redirect. Every request is recorded (method, path, `Range`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

/// One served file and its misbehaviour.
#[derive(Debug, Clone)]
pub struct MediaFile {
    pub content_type: Option<String>,
    pub size: u64,
    pub refuse_head: bool,
    pub status: Option<u16>,
    pub delay: Option<Duration>,
    pub redirect_to: Option<String>,
}

impl MediaFile {
    /// A well-behaved file of `size` bytes.
    #[must_use]
    pub fn new(content_type: &str, size: u64) -> Self {
        Self {
            content_type: Some(content_type.to_owned()),
            size,
            refuse_head: false,
            status: None,
            delay: None,
            redirect_to: None,
        }
    }

    /// HEAD answers 405 Method Not Allowed (GET still works).
    #[must_use]
    pub fn refuse_head(mut self) -> Self {
        self.refuse_head = true;
        self
    }

    /// Every request answers `status` with no file.
    #[must_use]
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Headers only after `d`.
    #[must_use]
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }

    /// 302 to `url`.
    #[must_use]
    pub fn redirect(mut self, url: &str) -> Self {
        self.redirect_to = Some(url.to_owned());
        self
    }

    /// No `Content-Type` header.
    #[must_use]
    pub fn untyped(mut self) -> Self {
        self.content_type = None;
        self
    }
}

/// A request the media host received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRequest {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
struct Inner {
    files: HashMap<String, MediaFile>,
    requests: Vec<MediaRequest>,
}

/// The fake media host.
#[derive(Clone)]
pub struct FakeMedia {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeMedia {
    /// Starts on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If loopback cannot be bound.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr")).await
    }

    /// Starts on `addr` (e.g. another loopback address, to play a second host).
    ///
    /// # Panics
    /// If `addr` cannot be bound.
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind fake media");
        let addr = listener.local_addr().expect("addr");
        let media = Self { addr, inner: Arc::default() };
        let app = Router::new().fallback(serve).with_state(media.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        media
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>{path}`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `file` at `path` (e.g. `/a.png`); returns its URL.
    pub fn serve(&self, path: &str, file: MediaFile) -> String {
        self.lock().files.insert(path.to_owned(), file);
        self.url(path)
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<MediaRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn serve(State(m): State<FakeMedia>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_owned();
    let range = req.headers().get(RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let method = req.method().clone();
    let file = {
        let mut g = m.lock();
        g.requests.push(MediaRequest { method: method.to_string(), path: path.clone(), range: range.clone() });
        g.files.get(&path).cloned()
    };
    let Some(file) = file else { return StatusCode::NOT_FOUND.into_response() };
    if let Some(d) = file.delay {
        tokio::time::sleep(d).await;
    }
    if let Some(to) = &file.redirect_to {
        let mut r = StatusCode::FOUND.into_response();
        r.headers_mut().insert(LOCATION, HeaderValue::from_str(to).expect("location"));
        return r;
    }
    if let Some(s) = file.status {
        return StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    }
    let mut resp = if method == Method::HEAD {
        if file.refuse_head {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let mut r = Response::new(Body::empty());
        r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(file.size));
        r
    } else if method == Method::GET {
        if range.as_deref() == Some("bytes=0-0") && file.size > 0 {
            let mut r = Response::new(Body::from(Bytes::from_static(b"x")));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let cr = format!("bytes 0-0/{}", file.size);
            r.headers_mut().insert(CONTENT_RANGE, HeaderValue::from_str(&cr).expect("range"));
            r
        } else {
            let mut r = Response::new(lazy_body(file.size));
            r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(file.size));
            r
        }
    } else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    if let Some(ct) = &file.content_type {
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("content type"));
    }
    resp
}

/// `len` bytes produced 64 KiB at a time, only as fast as the client reads.
fn lazy_body(len: u64) -> Body {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let stream = futures::stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        async move {
            let n = (len - sent).min(CHUNK as u64);
            (n > 0).then(|| (Ok::<_, std::io::Error>(chunk.slice(..n as usize)), sent + n))
        }
    });
    Body::from_stream(stream)
}
