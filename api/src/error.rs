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

use axum::body::Body;
use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The error body, as documented in the OpenAPI spec.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation_failed`, `idempotency_key_reused`.
    #[schema(example = "validation_failed")]
    pub error: String,
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

/// Marker placed in response extensions; [`finalize_errors`] renders it.
#[derive(Debug, Clone)]
struct PendingError {
    code: String,
    message: String,
    details: Option<Value>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, wrong types, missing fields.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String, details: Option<Value> },
    /// 422: well-formed but invalid values.
    #[error("{message}")]
    Validation { code: &'static str, message: String, details: Option<Value> },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// 404, also for another merchant's resources (never 403, which would leak existence).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("upstream error: {message}")]
    Upstream { code: &'static str, message: String, details: Option<Value> },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// 422 `validation_failed` on one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            code: "validation_failed",
            details: Some(serde_json::json!({ "field": field, "reason": message })),
            message: format!("{field}: {message}"),
        }
    }

    fn parts(&self) -> (StatusCode, String, String, Option<Value>) {
        match self {
            Self::BadRequest { code, message, details } => {
                (StatusCode::BAD_REQUEST, (*code).into(), message.clone(), details.clone())
            }
            Self::Validation { code, message, details } => {
                (StatusCode::UNPROCESSABLE_ENTITY, (*code).into(), message.clone(), details.clone())
            }
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized".into(), (*m).into(), None),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden".into(), m.clone(), None),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, "not_found".into(), format!("{what} not found"), None),
            Self::Conflict { code, message } => (StatusCode::CONFLICT, (*code).into(), message.clone(), None),
            Self::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into(), "request body is too large".into(), None)
            }
            Self::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited".into(),
                format!("too many requests; retry after {retry_after_secs} s"),
                None,
            ),
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable".into(), (*m).into(), None),
            Self::Upstream { code, message, details } => {
                (StatusCode::BAD_REQUEST, (*code).into(), message.clone(), details.clone())
            }
            Self::Db(e) if router_core::db::is_unavailable(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable".into(),
                "the database is unavailable; retry later".into(),
                None,
            ),
            Self::Db(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error".into(), "internal error".into(), None)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = self.parts();
        match &self {
            Self::Db(e) => tracing::error!(error = ?e, "database error"),
            Self::Internal(e) => tracing::error!(error = ?e, "internal error"),
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
        let code = match r {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ => "invalid_request",
        };
        Self::BadRequest { code, message: r.body_text(), details: None }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::BadRequest { code: "invalid_request", message: r.body_text(), details: None }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::BadRequest { code: "invalid_request", message: r.body_text(), details: None }
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
                StatusCode::NOT_FOUND => ("not_found", "no such route"),
                StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this route"),
                StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send application/json"),
                StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
                s if s.is_server_error() => ("internal_error", "internal error"),
                _ => ("invalid_request", "invalid request"),
            };
            PendingError { code: code.into(), message: message.into(), details: None }
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

/// `axum::Json` with our rejection.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with our rejection.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// `axum::extract::Path` with our rejection.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);
