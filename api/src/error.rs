//! The API's one error type and the JSON error body.
//!
//! Body (seed "Error Response Format"): `{error, message, details?, correlation_id, timestamp}`.
//! `error` is a stable snake_case code from [`ApiError::code`]; `correlation_id` equals the
//! `X-Request-Id` response header and appears in every log line of the request. Handlers return
//! [`ApiError`]; [`finalize_errors`] (a middleware that knows the request id) writes the body, and
//! also turns the framework's own plain-text rejections (unknown route, 405, 413 from the body
//! limit) into the same JSON shape so clients parse one format only.
//!
//! Database and internal errors become a generic 500 (or 503 when Postgres is unreachable); their
//! details go only to the log, inside the request span.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, MissingJsonContentType, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The error body, as documented in the OpenAPI spec.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation_failed`, `idempotency_key_reused`: one of
    /// [`ErrorCode`]'s, listed in the OpenAPI document so clients can branch on them.
    pub error: ErrorCode,
    /// Human-readable explanation (safe to show; never contains secrets).
    pub message: String,
    /// Structured context, e.g. the offending field or Instagram's error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Equals the `X-Request-Id` response header; quote it in support requests.
    pub correlation_id: String,
    /// When the error happened (RFC 3339, UTC).
    pub timestamp: String,
}

/// Every `error` code the API answers with (the `error` field of [`ErrorBody`]; the codes are
/// stable: clients branch on them). CRM_INTEGRATION.md documents each; the OpenAPI document lists
/// them as the `ErrorCode` enum (serde's snake_case names equal [`ErrorCode::as_str`], tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(example = "validation_failed")]
pub enum ErrorCode {
    InvalidRequest,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Timeout,
    IdempotencyKeyReused,
    AccountExists,
    TemplateExists,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    ServiceUnavailable,
    InternalError,
    AccountNotActive,
    OutsideMessagingWindow,
    SandboxNotConfigured,
    InstagramAccountMismatch,
    InvalidInstagramToken,
    RedirectNotAllowed,
    TooManyEntries,
    TooManyEvents,
    InvalidOauthState,
    InvalidOauthCode,
    OauthDenied,
    OauthExchangeFailed,
    SubscriptionFailed,
    EnvironmentMismatch,
    InstagramRefused,
    EndpointLimitReached,
    PrimaryEndpoint,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: &'static [Self] = &[
        Self::InvalidRequest,
        Self::ValidationFailed,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Timeout,
        Self::IdempotencyKeyReused,
        Self::AccountExists,
        Self::TemplateExists,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::ServiceUnavailable,
        Self::InternalError,
        Self::AccountNotActive,
        Self::OutsideMessagingWindow,
        Self::SandboxNotConfigured,
        Self::InstagramAccountMismatch,
        Self::InvalidInstagramToken,
        Self::RedirectNotAllowed,
        Self::TooManyEntries,
        Self::TooManyEvents,
        Self::InvalidOauthState,
        Self::InvalidOauthCode,
        Self::OauthDenied,
        Self::OauthExchangeFailed,
        Self::SubscriptionFailed,
        Self::EnvironmentMismatch,
        Self::InstagramRefused,
        Self::EndpointLimitReached,
        Self::PrimaryEndpoint,
    ];

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "timeout",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::AccountExists => "account_exists",
            Self::TemplateExists => "template_exists",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InternalError => "internal_error",
            Self::AccountNotActive => "account_not_active",
            Self::OutsideMessagingWindow => "outside_messaging_window",
            Self::SandboxNotConfigured => "sandbox_not_configured",
            Self::InstagramAccountMismatch => "instagram_account_mismatch",
            Self::InvalidInstagramToken => "invalid_instagram_token",
            Self::RedirectNotAllowed => "redirect_not_allowed",
            Self::TooManyEntries => "too_many_entries",
            Self::TooManyEvents => "too_many_events",
            Self::InvalidOauthState => "invalid_oauth_state",
            Self::InvalidOauthCode => "invalid_oauth_code",
            Self::OauthDenied => "oauth_denied",
            Self::OauthExchangeFailed => "oauth_exchange_failed",
            Self::SubscriptionFailed => "subscription_failed",
            Self::EnvironmentMismatch => "environment_mismatch",
            Self::InstagramRefused => "instagram_refused",
            Self::EndpointLimitReached => "endpoint_limit_reached",
            Self::PrimaryEndpoint => "primary_endpoint",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Marker placed in response extensions; [`finalize_errors`] renders it.
#[derive(Debug, Clone)]
struct PendingError {
    code: ErrorCode,
    message: String,
    details: Option<Value>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, wrong types, missing fields.
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String, details: Option<Value> },
    /// 422: well-formed but invalid values.
    #[error("{message}")]
    Validation { code: ErrorCode, message: String, details: Option<Value> },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// 404, also for another merchant's resources (never 403, which would leak existence).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("upstream error: {message}")]
    Upstream { code: ErrorCode, message: String, details: Option<Value> },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// 422 `validation_failed` on one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let (details, message) = field_error(field, None, message.into());
        Self::Validation { code: ErrorCode::ValidationFailed, details, message }
    }

    /// 400 `invalid_request` on one field of the body or the query, in the 422's shape.
    pub fn bad_field(field: &str, reason: impl Into<String>) -> Self {
        let (details, message) = field_error(field, None, reason.into());
        Self::BadRequest { code: ErrorCode::InvalidRequest, details, message }
    }

    /// 400 `invalid_request` on a path parameter (`details.in` is `path`).
    pub fn bad_path(field: &str, reason: impl Into<String>) -> Self {
        let (details, message) = field_error(field, Some("path"), reason.into());
        Self::BadRequest { code: ErrorCode::InvalidRequest, details, message }
    }

    fn parts(&self) -> (StatusCode, ErrorCode, String, Option<Value>) {
        match self {
            Self::BadRequest { code, message, details } => {
                (StatusCode::BAD_REQUEST, *code, message.clone(), details.clone())
            }
            Self::Validation { code, message, details } => {
                (StatusCode::UNPROCESSABLE_ENTITY, *code, message.clone(), details.clone())
            }
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, (*m).into(), None),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden, m.clone(), None),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("{what} not found"), None),
            Self::Conflict { code, message } => (StatusCode::CONFLICT, *code, message.clone(), None),
            Self::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, "request body is too large".into(), None)
            }
            Self::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("too many requests; retry after {retry_after_secs} s"),
                None,
            ),
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServiceUnavailable, (*m).into(), None),
            Self::Upstream { code, message, details } => {
                (StatusCode::BAD_REQUEST, *code, message.clone(), details.clone())
            }
            Self::Db(e) if router_core::db::is_unavailable(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
                "the database is unavailable; retry later".into(),
                None,
            ),
            Self::Db(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, "internal error".into(), None)
            }
        }
    }
}

/// The `details` of an error on one field (`{"field", "reason"}`, and `"in"` when `place` is given)
/// and its message (`field: reason`).
fn field_error(field: &str, place: Option<&str>, reason: String) -> (Option<Value>, String) {
    let message = format!("{field}: {reason}");
    let mut details = serde_json::json!({ "field": field, "reason": reason });
    if let Some(place) = place {
        details["in"] = place.into();
    }
    (Some(details), message)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = self.parts();
        match &self {
            Self::Db(e) => tracing::error!(error = ?e, "database error"),
            Self::Internal(e) => tracing::error!(error = %format_args!("{e:#}"), "internal error"),
            _ => {}
        }
        let mut resp = status.into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE && !resp.headers().contains_key(header::RETRY_AFTER) {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp.extensions_mut().insert(PendingError { code, message, details });
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::PayloadTooLarge;
        }
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::BadRequest {
                code: ErrorCode::UnsupportedMediaType,
                message: "send the body as JSON with `Content-Type: application/json`".into(),
                details: Some(serde_json::json!({ "field": "content-type", "in": "header",
                    "reason": "must be application/json" })),
            },
            _ => Self::bad_field("body", "could not be read"),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        // The text is "Failed to deserialize query string: [<field>: ]<serde message>".
        let text = r.body_text();
        let rest = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
        let (field, reason) = match rest.split_once(": ") {
            Some((f, m)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b"._[]".contains(&b)) => {
                (Some(f), m)
            }
            _ => (None, rest),
        };
        let named = backticked(reason);
        if reason.starts_with("missing field") {
            return Self::bad_field(named.or(field).unwrap_or("query"), "is required");
        }
        if reason.starts_with("duplicate field") {
            return Self::bad_field(named.or(field).unwrap_or("query"), "is given more than once");
        }
        if reason.starts_with("unknown field") {
            return Self::bad_field(named.or(field).unwrap_or("query"), "is not a known parameter");
        }
        let reason = if reason.contains("UUID parsing failed") { "must be a UUID" } else { reason };
        Self::bad_field(field.unwrap_or("query"), reason.to_owned())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        path_error(&r, None)
    }
}

/// Our words for a path parameter that does not parse; `single` names the parameter when the
/// route has exactly one (axum's error does not name it for a bare `Path<Uuid>`).
fn path_error(r: &PathRejection, single: Option<&str>) -> ApiError {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(e) = r else {
        return ApiError::bad_path(single.unwrap_or("path"), "is missing");
    };
    let reason_for = |expected: &str| -> String {
        if expected.contains("Uuid") {
            "must be a UUID (e.g. 0190a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b)".into()
        } else if expected.starts_with('i') || expected.starts_with('u') {
            "must be an integer".into()
        } else {
            "has an invalid value".into()
        }
    };
    let (field, reason) = match e.kind() {
        ErrorKind::ParseErrorAtKey { key, expected_type, .. } => (key.clone(), reason_for(expected_type)),
        ErrorKind::DeserializeError { key, message, .. } => {
            (key.clone(), if message.contains("UUID") { reason_for("Uuid") } else { "has an invalid value".into() })
        }
        ErrorKind::InvalidUtf8InPathParam { key } => (key.clone(), "must be valid UTF-8".into()),
        ErrorKind::ParseError { expected_type, .. } | ErrorKind::ParseErrorAtIndex { expected_type, .. } => {
            (single.unwrap_or("path").to_owned(), reason_for(expected_type))
        }
        ErrorKind::Message(m) => (
            single.unwrap_or("path").to_owned(),
            if m.contains("UUID") { reason_for("Uuid") } else { "has an invalid value".into() },
        ),
        _ => (single.unwrap_or("path").to_owned(), "has an invalid value".into()),
    };
    ApiError::bad_path(&field, reason)
}

/// The first `` `name` `` in a serde message.
fn backticked(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(&s[start..start + len])
}

/// Our words for a JSON body that does not parse or does not fit the type, naming the field
/// (`quick_replies[1].title`; `body` for the document itself) like the 422s do.
fn json_error(err: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let inner = err.inner();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let text = inner.to_string();
    let text = text.strip_suffix(&position).unwrap_or(&text);
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_field("body", format!("is not valid JSON ({text}{position})"))
        }
        Category::Data => {
            let path = err.path().to_string();
            let join = |name: &str| if path == "." { name.to_owned() } else { format!("{path}.{name}") };
            let here = if path == "." { "body".to_owned() } else { path.clone() };
            if text.starts_with("missing field") {
                let name = backticked(text).unwrap_or_default();
                ApiError::bad_field(&join(name), "is required")
            } else if text.starts_with("unknown field") {
                // The path already ends with the unknown key.
                let expected = text.split_once(", expected ").map(|(_, e)| e).unwrap_or("none");
                ApiError::bad_field(&here, format!("is not a known field (expected {expected})"))
            } else {
                ApiError::bad_field(&here, text.to_owned())
            }
        }
    }
}

/// The request id of the current request (set by `SetRequestIdLayer`).
pub fn request_id(req: &Request) -> String {
    req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("unknown").to_owned()
}

/// Renders [`ApiError`]s and framework rejections as the documented JSON body.
pub async fn finalize_errors(req: Request, next: Next) -> Response {
    let correlation_id = request_id(&req);
    let resp = next.run(req).await;
    let status = resp.status();
    if !status.is_client_error() && !status.is_server_error() {
        return resp;
    }
    let pending = resp.extensions().get::<PendingError>().cloned();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let pending = match pending {
        Some(p) => p,
        // Our own JSON bodies and deliberate HTML pages (the OAuth callback) pass through.
        None if is_json || is_html => return resp,
        None => {
            let (code, message) = match status {
                StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route"),
                StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "method not allowed on this route"),
                StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, "request body is too large"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => (ErrorCode::UnsupportedMediaType, "send application/json"),
                StatusCode::REQUEST_TIMEOUT => (ErrorCode::Timeout, "the request took too long"),
                s if s.is_server_error() => (ErrorCode::InternalError, "internal error"),
                _ => (ErrorCode::InvalidRequest, "invalid request"),
            };
            PendingError { code, message: message.into(), details: None }
        }
    };
    let body = ErrorBody {
        error: pending.code,
        message: pending.message,
        details: pending.details,
        correlation_id,
        timestamp: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

/// An optional integer field that also takes JSON's integral floats (`7.0`): JSON Schema counts
/// them as integers, so a client (or a generator) may send them. Fractions and values out of the
/// field's range stay a 400 naming the field. Use with `#[serde(default, deserialize_with)]`.
///
/// # Errors
/// Not a number, a fraction, or out of range.
pub fn integral<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::Deserialize as _;
    use serde::de::Error as _;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    #[allow(clippy::cast_possible_truncation)]
    let whole = n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64));
    whole
        .and_then(|i| T::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number in range, got {n}")))
}

/// `axum::Json` with our rejection, refusing NUL characters anywhere in the document.
///
/// Why here: Postgres `text` cannot hold U+0000, so a NUL that reaches a query fails it with a
/// 500 (and, in the send path, fails the whole group-commit batch). Checking once in the extractor
/// covers every endpoint and every field (message, metadata, quick replies, username, URLs…). The
/// check costs one scan of the raw bytes for the escape `\u0000` (a raw NUL byte is not valid JSON
/// and is already a 400); only a body holding that escape is parsed a second time to name the
/// field.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(JsonRejection::from(MissingJsonContentType::default()).into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
        if may_hold_nul(&bytes)
            && let Ok(doc) = serde_json::from_slice::<Value>(&bytes)
            && let Some(field) = nul_path(&doc, "")
        {
            return Err(nul_error(&field));
        }
        // Every request body of this API is an object. serde would also fill a struct from a JSON
        // array (`[null, null]` as positional fields), which the document does not allow.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| json_error(&e))?;
        de.end()
            .map_err(|e| ApiError::bad_field("body", format!("has trailing characters after the JSON value ({e})")))?;
        Ok(Self(value))
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with our rejection; a NUL (`%00`) in a name or value is a 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(query) = parts.uri.query().filter(|q| q.contains("%00")) {
            let bad = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, v)| k.contains('\0') || v.contains('\0'))
                .map(|(k, _)| k.replace('\0', "\\u0000"));
            if let Some(field) = bad {
                return Err(nul_error(&field));
            }
        }
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Path` with our rejection; a NUL (`%00`) in a segment is a 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.path().contains("%00")
            && let Ok(params) = RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = params.iter().find(|(_, v)| v.contains('\0'))
        {
            return Err(nul_error(name));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(r) => {
                let params = RawPathParams::from_request_parts(parts, state).await.ok();
                let single = params.as_ref().filter(|p| p.iter().count() == 1).and_then(|p| p.iter().next());
                Err(path_error(&r, single.map(|(name, _)| name)))
            }
        }
    }
}

fn nul_error(field: &str) -> ApiError {
    ApiError::invalid(field, "must not contain the NUL character (\\u0000)")
}

/// Same test as `axum::Json`: `application/json` or `application/*+json`, parameters allowed.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.strip_prefix("application/").is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// Cheap pre-check on the hot path: can this JSON text contain a NUL at all? (`\\u0000` is a false
/// positive, sorted out by [`nul_path`].)
fn may_hold_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == br"\u0000")
}

/// The path (`metadata.note`, `quick_replies[2].title`) of the first string or key holding NUL.
/// Keys are named with the NUL written as `\u0000`; the document root is `body`.
fn nul_path(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then(|| if path.is_empty() { "body".to_owned() } else { path.to_owned() }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            let p = if path.is_empty() { format!("body[{i}]") } else { format!("{path}[{i}]") };
            nul_path(v, &p)
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let key = k.replace('\0', "\\u0000");
            let p = if path.is_empty() { key } else { format!("{path}.{key}") };
            if k.contains('\0') { Some(p) } else { nul_path(v, &p) }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_codes_are_distinct_snake_case_names() {
        use super::ErrorCode;
        let names: std::collections::BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        // The wire name (serde, and so the OpenAPI enum) is `as_str`'s.
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
    }

    use serde_json::json;

    use super::{may_hold_nul, nul_path};

    #[test]
    fn nul_is_found_in_nested_values_and_keys_with_its_path() {
        let doc = json!({"message": "ok", "quick_replies": [{"title": "a"}, {"title": "b\u{0}"}]});
        assert_eq!(nul_path(&doc, "").as_deref(), Some("quick_replies[1].title"));
        let doc = json!({"metadata": {"k\u{0}": "v"}});
        assert_eq!(nul_path(&doc, "").as_deref(), Some("metadata.k\\u0000"));
        assert_eq!(nul_path(&json!({"message": "a\\u0000b"}), ""), None, "an escaped backslash is not NUL");
    }

    #[test]
    fn the_pre_check_only_fires_on_the_escape() {
        assert!(may_hold_nul(br#"{"message":"a\u0000b"}"#));
        assert!(!may_hold_nul(br#"{"message":"a\u0001b"}"#));
    }
}
