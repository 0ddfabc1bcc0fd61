//! The CRM webhook client: one signed delivery attempt in, a typed result out.
//!
//! Symmetric with [`crate::graph::GraphClient`]: the transport (signing headers, bounded answer,
//! timing, error classes) lives here, and the worker's `webhook.deliver` job keeps only the
//! policy (circuit, DLQ, retry schedule).
//!
//! The client follows no redirects (3xx is a failed delivery), uses no proxy (the resolver must
//! see the CRM's own host), has a total timeout that covers the answer's body, and resolves only
//! through a [`GuardedResolver`] (DESIGN §5; [`crate::ssrf`] explains the rebinding defence). At
//! most [`BODY_KEEP`] bytes of an answer are read and kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto;
use crate::ssrf::{self, GuardedResolver};

/// Bytes of the CRM's answer kept in the attempt log.
pub const BODY_KEEP: usize = 4096;

/// One attempt to deliver.
pub struct CrmRequest<'a> {
    /// The endpoint URL.
    pub url: &'a str,
    /// The delivery (its `webhook-id` is derived from it, stable across attempts).
    pub delivery_id: Uuid,
    /// `X-Message-Router-Event`.
    pub event_type: &'a str,
    /// `X-Message-Router-Attempt` (1-based).
    pub attempt_no: i32,
    /// The stored body, sent byte for byte.
    pub body: &'a str,
    /// The endpoint's current signing secret.
    pub secret: &'a SecretString,
    /// The previous secret while its overlap lasts (both sign).
    pub previous_secret: Option<&'a SecretString>,
}

/// How the attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmAnswer {
    /// The CRM answered with `status`. `retry_after` is its `Retry-After` (seconds or an HTTP
    /// date); `body` the first [`BODY_KEEP`] bytes, made storable (NUL and invalid UTF-8 as
    /// U+FFFD).
    Status { status: u16, retry_after: Option<Duration>, body: String },
    /// The resolver refused the CRM's address (private or internal): nothing was sent.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// No connection.
    Connect,
    /// Any other transport failure.
    Transport,
}

/// A finished attempt.
#[derive(Debug, Clone)]
pub struct CrmAttempt {
    pub answer: CrmAnswer,
    /// From sending to the end of the kept body.
    pub latency: Duration,
}

impl CrmAttempt {
    /// The HTTP status, when the CRM answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self.answer {
            CrmAnswer::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The attempt log's `error_class`: `None` for a 2xx, else `redirect`, `http_4xx`, `http_5xx`,
    /// `timeout`, `connect`, `transport` or `blocked_url`.
    #[must_use]
    pub fn error_class(&self) -> Option<&'static str> {
        match self.answer {
            CrmAnswer::Status { status: 200..=299, .. } => None,
            CrmAnswer::Status { status: 300..=399, .. } => Some("redirect"),
            CrmAnswer::Status { status: 400..=499, .. } => Some("http_4xx"),
            CrmAnswer::Status { .. } => Some("http_5xx"),
            CrmAnswer::Refused => Some("blocked_url"),
            CrmAnswer::Timeout => Some("timeout"),
            CrmAnswer::Connect => Some("connect"),
            CrmAnswer::Transport => Some("transport"),
        }
    }
}

/// The client every delivery goes through.
#[derive(Clone)]
pub struct CrmClient {
    http: reqwest::Client,
}

impl CrmClient {
    /// A client with the given total timeout, resolving through `guard` only.
    ///
    /// # Panics
    /// If the TLS backend cannot initialise.
    #[must_use]
    pub fn new(timeout: Duration, guard: GuardedResolver) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(guard))
            .user_agent(concat!("message-router-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client");
        Self { http }
    }

    /// Signs `req` with a fresh timestamp and POSTs it once.
    pub async fn deliver(&self, req: &CrmRequest<'_>) -> CrmAttempt {
        let sig = sign(
            req.secret.expose_secret(),
            req.previous_secret.map(ExposeSecret::expose_secret),
            &webhook_id(req.delivery_id),
            OffsetDateTime::now_utc().unix_timestamp(),
            req.body.as_bytes(),
        );
        let mut builder = self
            .http
            .post(req.url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &sig.hub)
            .header("webhook-id", &sig.id)
            .header("webhook-timestamp", sig.timestamp.to_string())
            .header("webhook-signature", &sig.signature)
            .header("x-message-router-event", req.event_type)
            .header("x-message-router-attempt", req.attempt_no.to_string())
            .body(req.body.to_owned());
        if let Some(next) = &sig.hub_next {
            builder = builder.header("x-hub-signature-256-next", next);
        }
        let started = Instant::now();
        let answer = match builder.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after =
                    resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                CrmAnswer::Status { status, retry_after, body: read_kept_body(resp).await }
            }
            Err(e) if ssrf::blocked_by_guard(&e).is_some() => CrmAnswer::Refused,
            Err(e) if e.is_timeout() => CrmAnswer::Timeout,
            Err(e) if e.is_connect() => CrmAnswer::Connect,
            Err(_) => CrmAnswer::Transport,
        };
        CrmAttempt { answer, latency: started.elapsed() }
    }
}

/// Reads at most [`BODY_KEEP`] bytes of the CRM's answer, chunk by chunk, and drops the rest
/// with the connection: a CRM answering with gigabytes costs one chunk of memory, not the body.
/// The client's total timeout bounds the time; a body cut short by it or by a transport error
/// keeps what arrived (the status already decided the outcome).
async fn read_kept_body(mut resp: reqwest::Response) -> String {
    let mut kept = Vec::with_capacity(BODY_KEEP.min(resp.content_length().unwrap_or(0) as usize));
    while kept.len() < BODY_KEEP {
        match resp.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(BODY_KEEP - kept.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    drop(resp);
    stored_text(&kept)
}

/// The text kept of a CRM's response body: invalid UTF-8 and NUL (which Postgres `text` refuses)
/// both become U+FFFD; everything else is kept as sent. The caller bounds the length.
#[must_use]
pub fn stored_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// The signing headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `X-Hub-Signature-256`: `sha256=<hex>` with the current secret (the previous one during an
    /// overlap, so receivers that have not switched keep verifying; see `hub_next`).
    pub hub: String,
    /// `X-Hub-Signature-256-Next`: during an overlap, the same signature with the new secret.
    pub hub_next: Option<String>,
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` (unix seconds of this attempt).
    pub timestamp: i64,
    /// `webhook-signature`: `v1,<b64>` for each active secret, space-separated.
    pub signature: String,
}

/// Signs a body for one attempt. `previous` is the old secret while its overlap lasts.
#[must_use]
pub fn sign(current: &str, previous: Option<&str>, webhook_id: &str, timestamp: i64, body: &[u8]) -> SignatureHeaders {
    let mut sigs = vec![crypto::standard_webhooks_signature(current, webhook_id, timestamp, body)];
    let (hub, hub_next) = match previous {
        Some(prev) => {
            sigs.push(crypto::standard_webhooks_signature(prev, webhook_id, timestamp, body));
            (crypto::hub_signature(prev.as_bytes(), body), Some(crypto::hub_signature(current.as_bytes(), body)))
        }
        None => (crypto::hub_signature(current.as_bytes(), body), None),
    };
    SignatureHeaders { hub, hub_next, id: webhook_id.to_owned(), timestamp, signature: sigs.join(" ") }
}

/// The `webhook-id` of a delivery: `msg_<uuid without dashes>` (no `.`, per the spec).
#[must_use]
pub fn webhook_id(delivery_id: Uuid) -> String {
    format!("msg_{}", delivery_id.simple())
}

/// `Retry-After`: delta-seconds or an HTTP date.
#[must_use]
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = OffsetDateTime::parse(v.trim(), &format).ok()?;
    Duration::try_from(at - OffsetDateTime::now_utc()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let soon = (OffsetDateTime::now_utc() + time::Duration::seconds(90))
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let d = parse_retry_after(&soon).unwrap();
        assert!(d > Duration::from_secs(80) && d <= Duration::from_secs(90));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn error_classes_follow_the_status() {
        let at = |answer| CrmAttempt { answer, latency: Duration::ZERO };
        let status = |s| at(CrmAnswer::Status { status: s, retry_after: None, body: String::new() });
        assert_eq!(status(204).error_class(), None);
        assert_eq!(status(302).error_class(), Some("redirect"));
        assert_eq!(status(429).error_class(), Some("http_4xx"));
        assert_eq!(status(503).error_class(), Some("http_5xx"));
        assert_eq!(at(CrmAnswer::Timeout).error_class(), Some("timeout"));
        assert_eq!(at(CrmAnswer::Refused).status(), None);
    }
}
