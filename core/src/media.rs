//! Outbound media checked before Instagram sees it.
//!
//! Instagram downloads an attachment from the merchant's URL and refuses it (a Graph error, after
//! a round trip and a rate-limit slot) when it is too large or of the wrong type. The worker asks
//! the media host first, with a bounded probe:
//! * `HEAD url`; when the host refuses HEAD (any non-2xx answer: many signed CDN URLs are valid
//!   for GET only), a `GET` with `Range: bytes=0-0`, whose `Content-Range` (206) or
//!   `Content-Length` (200) gives the size. No body is read: the response is dropped, which closes
//!   the connection.
//! * Meta's limits ([`limit`], research §3.6): image png/jpeg ≤ 8 MB; video mp4/ogg/avi/mov/webm
//!   ≤ 25 MB; audio aac/m4a/wav/mp4 ≤ 25 MB; file pdf ≤ 25 MB (MB = 2^20 bytes). A size the host
//!   does not tell (chunked answer) is not held against the file; a `Content-Type` it does not
//!   send is (Instagram would have to guess).
//! * The merchant's URL is an attacker's: the probe client resolves through the same
//!   [`GuardedResolver`](crate::ssrf::GuardedResolver) as CRM deliveries (rebinding-safe), takes no
//!   proxy, has a short total timeout, and follows at most [`MAX_REDIRECTS`] redirects, each target
//!   checked again ([`crate::ssrf::check_form`]; its host goes through the resolver again).
//!
//! Outcomes ([`MediaError::code`]): `media_too_large`, `media_type_unsupported`,
//! `media_not_found` (the host answers 4xx) and `media_url_forbidden` (SSRF rules) fail the message
//! for good; `media_unreachable` (5xx, timeout, connection or DNS failure) is retryable.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};

use crate::ssrf::{self, GuardedResolver};

/// Redirects a probe follows (each target re-checked).
pub const MAX_REDIRECTS: usize = 3;

/// One mebibyte; Meta's "MB".
const MB: u64 = 1024 * 1024;

/// Largest image Instagram accepts.
pub const IMAGE_MAX_BYTES: u64 = 8 * MB;
/// Largest video, audio or file Instagram accepts.
pub const OTHER_MAX_BYTES: u64 = 25 * MB;

/// Size limit of an attachment `type` (`image`, `video`, `audio`, `file`); `None` for others.
#[must_use]
pub fn limit(kind: &str) -> Option<u64> {
    match kind {
        "image" => Some(IMAGE_MAX_BYTES),
        "video" | "audio" | "file" => Some(OTHER_MAX_BYTES),
        _ => None,
    }
}

/// The media types (`type/subtype`, lower case, no parameters) Instagram takes for an attachment
/// `type`, with the usual aliases of each format.
#[must_use]
pub fn accepted_types(kind: &str) -> &'static [&'static str] {
    match kind {
        "image" => &["image/png", "image/jpeg", "image/jpg", "image/pjpeg"],
        "video" => &[
            "video/mp4",
            "video/ogg",
            "video/x-msvideo",
            "video/avi",
            "video/msvideo",
            "video/quicktime",
            "video/webm",
        ],
        "audio" => &[
            "audio/aac",
            "audio/x-aac",
            "audio/aacp",
            "audio/mp4",
            "audio/m4a",
            "audio/x-m4a",
            "audio/wav",
            "audio/x-wav",
            "audio/wave",
            "audio/vnd.wave",
        ],
        "file" => &["application/pdf"],
        _ => &[],
    }
}

/// A media URL that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MediaError {
    /// `media_too_large`, `media_type_unsupported`, `media_not_found`, `media_url_forbidden` or
    /// `media_unreachable`.
    pub code: &'static str,
    /// For the CRM (no URL in it: URLs may carry signatures).
    pub message: String,
    /// Worth trying again later (the host failed, not the file).
    pub retryable: bool,
}

impl MediaError {
    fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retryable: false }
    }

    fn unreachable(message: impl Into<String>) -> Self {
        Self { code: "media_unreachable", message: message.into(), retryable: true }
    }
}

/// What the probe learned of an acceptable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    pub content_type: String,
    /// `None` when the host did not say.
    pub size: Option<u64>,
    /// True when HEAD was refused and the ranged GET answered.
    pub via_range_get: bool,
}

/// The bounded, SSRF-guarded media probe.
#[derive(Clone)]
pub struct MediaProbe {
    client: reqwest::Client,
    production: bool,
}

impl MediaProbe {
    /// A probe resolving through `guard`; `production` applies the https and IP-literal rules of
    /// [`ssrf::check_form`] to the URL and to every redirect target; `timeout` bounds each request
    /// (headers only: no body is read).
    ///
    /// # Panics
    /// If the TLS backend cannot initialise.
    #[must_use]
    pub fn new(guard: GuardedResolver, production: bool, timeout: Duration) -> Self {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match ssrf::check_form(attempt.url().as_str(), production) {
                Ok(_) => attempt.follow(),
                Err(e) => attempt.error(RedirectRefused(e)),
            }
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(policy)
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(guard))
            .user_agent(concat!("message-router-media-check/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client");
        Self { client, production }
    }

    /// Checks one attachment of `kind` at `url` against Meta's limits.
    ///
    /// # Errors
    /// [`MediaError`] saying why it cannot be sent (or, `retryable`, not now).
    pub async fn check(&self, kind: &str, url: &str) -> Result<MediaInfo, MediaError> {
        let Some(max) = limit(kind) else {
            return Err(MediaError::fatal(
                "media_type_unsupported",
                format!("attachment type {kind:?} is not sendable"),
            ));
        };
        let parsed = ssrf::check_form(url, self.production)
            .map_err(|e| MediaError::fatal("media_url_forbidden", format!("the attachment URL is refused: {e}")))?;
        let (resp, via_range_get) = match self.client.head(parsed.clone()).send().await {
            Ok(r) if r.status().is_success() => (r, false),
            Ok(_) => (self.ranged_get(parsed).await?, true),
            Err(e) => return Err(classify(&e)),
        };
        let status = resp.status();
        if status.is_server_error() {
            return Err(MediaError::unreachable(format!("the media host answered {}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(MediaError::fatal(
                "media_not_found",
                format!("the media host answered {} for the attachment URL", status.as_u16()),
            ));
        }
        let headers = resp.headers();
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        let size = if status == StatusCode::PARTIAL_CONTENT {
            headers.get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).and_then(range_total)
        } else {
            headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
        };
        drop(resp); // no body read: the connection closes
        let accepted = accepted_types(kind);
        if !accepted.contains(&content_type.as_str()) {
            let got = if content_type.is_empty() { "no Content-Type".to_owned() } else { content_type };
            return Err(MediaError::fatal(
                "media_type_unsupported",
                format!("a {kind} attachment must be one of {}; the media host says {got}", accepted.join(", ")),
            ));
        }
        if let Some(n) = size
            && n > max
        {
            return Err(MediaError::fatal(
                "media_too_large",
                format!("a {kind} attachment may be at most {} MB; this one is {n} bytes", max / MB),
            ));
        }
        Ok(MediaInfo { content_type, size, via_range_get })
    }

    async fn ranged_get(&self, url: url::Url) -> Result<reqwest::Response, MediaError> {
        self.client.get(url).header(RANGE, "bytes=0-0").send().await.map_err(|e| classify(&e))
    }
}

/// A redirect target refused by the SSRF rules.
#[derive(Debug, thiserror::Error)]
#[error("redirect target refused: {0}")]
struct RedirectRefused(ssrf::UrlError);

fn find<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

fn classify(e: &reqwest::Error) -> MediaError {
    if ssrf::blocked_by_guard(e).is_some() || find::<RedirectRefused>(e).is_some() {
        return MediaError::fatal(
            "media_url_forbidden",
            "the attachment URL (or a redirect from it) leads to a private, loopback or link-local address",
        );
    }
    if e.is_redirect() {
        return MediaError::fatal(
            "media_not_found",
            format!("the attachment URL redirects more than {MAX_REDIRECTS} times"),
        );
    }
    if e.is_timeout() {
        return MediaError::unreachable("the media host did not answer in time");
    }
    MediaError::unreachable("the media host could not be reached")
}

/// The total of `bytes 0-0/12345`; `None` for `*` or garbage.
fn range_total(v: &str) -> Option<u64> {
    v.trim().strip_prefix("bytes")?.rsplit_once('/')?.1.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_types_follow_metas_table() {
        assert_eq!(limit("image"), Some(8 * 1024 * 1024));
        assert_eq!(limit("video"), Some(25 * 1024 * 1024));
        assert_eq!(limit("sticker"), None);
        assert!(accepted_types("image").contains(&"image/png"));
        assert!(!accepted_types("image").contains(&"image/gif"));
        assert!(accepted_types("video").contains(&"video/quicktime"));
        assert!(accepted_types("audio").contains(&"audio/x-m4a"));
        assert_eq!(accepted_types("file"), ["application/pdf"]);
    }

    #[test]
    fn content_range_totals() {
        assert_eq!(range_total("bytes 0-0/12345"), Some(12345));
        assert_eq!(range_total("bytes 0-0/*"), None);
        assert_eq!(range_total("junk"), None);
    }
}
