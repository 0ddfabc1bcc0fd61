//! Console errors, answered as small HTML pages with the status a REST client would get for the
//! same failure (404 for another merchant's ids, 403 for a missing scope, 422 for invalid input…).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::error::ApiError;

/// What went wrong while serving a console page.
#[derive(Debug)]
pub enum ConsoleError {
    /// No valid session: GET goes to the sign-in page (coming back to `next`), anything else 401.
    SignIn { next: Option<String>, get: bool },
    /// A GET from another site without the session cookie: reopened from this origin (the path
    /// and query, same origin by construction).
    Reopen { to: String },
    /// 404 (unknown, malformed, or another merchant's id).
    NotFound,
    /// 403 with the reason (a missing scope, a platform-only page).
    Forbidden(String),
    /// 422 with the field and the reason.
    Invalid(String),
    /// 403: the form's CSRF token is missing or not this session's.
    Csrf,
    /// 413: the form is larger than [`super::MAX_FORM_BYTES`] (or a query larger than 4 KiB).
    TooLarge,
    /// 415: a form that is not `application/x-www-form-urlencoded`.
    UnsupportedMedia,
    /// 429: too many failed sign-ins from this address.
    RateLimited { retry_after_secs: u64 },
    /// Anything the shared API code answered.
    Api(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<sqlx::Error> for ConsoleError {
    fn from(e: sqlx::Error) -> Self {
        Self::Api(ApiError::Db(e))
    }
}

/// A minimal standalone page (errors and sign-in have no navigation).
#[must_use]
pub fn bare_page(title: &str, body: Markup) -> Markup {
    bare_page_then(title, None, body)
}

/// [`bare_page`] that moves on to `next` (a same-origin path) by itself, as a navigation this
/// origin starts: `SameSite=Strict` cookies go with it, which they do not on a redirect chain
/// that came from another site.
#[must_use]
pub fn bare_page_then(title: &str, next: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Message Router admin" }
                @if let Some(next) = next { meta http-equiv="refresh" content=(format!("0;url={next}")); }
                link rel="stylesheet" href="/admin/assets/admin.css";
            }
            body {
                main.login { (body) }
            }
        }
    }
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = bare_page(
        title,
        html! {
            h1 { (title) }
            p { (message) }
            p { a href="/admin" { "Back to the console" } }
        },
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body.into_string()).into_response()
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next, get: true } => {
                let target = match next {
                    Some(n) => format!(
                        "/admin/login?next={}",
                        url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
                    ),
                    None => "/admin/login".to_owned(),
                };
                let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, target.clone())]).into_response();
                // htmx follows a redirect inside the page; this makes it load the sign-in page whole.
                if let Ok(v) = HeaderValue::from_str(&target) {
                    r.headers_mut().insert("hx-redirect", v);
                }
                r
            }
            Self::Reopen { to } => {
                let body = bare_page_then(
                    "Opening the console",
                    Some(&to),
                    html! {
                        h1 { "Opening the console" }
                        p { a href=(to) { "Continue" } }
                    },
                );
                let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body.into_string())
                    .into_response();
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
            Self::SignIn { get: false, .. } => page(
                StatusCode::UNAUTHORIZED,
                "Signed out",
                "Your session has ended (signed out, expired, or its API key was revoked). Sign in again.",
            ),
            Self::NotFound => page(StatusCode::NOT_FOUND, "Not found", "There is nothing here, or you may not see it."),
            Self::Forbidden(m) => page(StatusCode::FORBIDDEN, "Not allowed", &m),
            Self::Invalid(m) => page(StatusCode::UNPROCESSABLE_ENTITY, "Check the form", &m),
            Self::Csrf => {
                metrics::counter!("router_admin_csrf_failures_total").increment(1);
                page(
                    StatusCode::FORBIDDEN,
                    "Form expired",
                    "This form did not carry this session's security token (CSRF check). Reload the page and try again.",
                )
            }
            Self::TooLarge => page(StatusCode::PAYLOAD_TOO_LARGE, "Too large", "The form or query is too large."),
            Self::UnsupportedMedia => {
                page(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported form", "Forms must be URL-encoded.")
            }
            Self::RateLimited { retry_after_secs } => {
                let mut r = page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts",
                    &format!("Too many failed sign-ins from your address. Try again in {retry_after_secs} s."),
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                r
            }
            Self::Api(e) => api_page(e),
        }
    }
}

fn api_page(e: ApiError) -> Response {
    match e {
        ApiError::NotFound(_) => ConsoleError::NotFound.into_response(),
        ApiError::Forbidden(m) => page(StatusCode::FORBIDDEN, "Not allowed", &m),
        ApiError::Unauthorized(m) => page(StatusCode::UNAUTHORIZED, "Not signed in", m),
        ApiError::BadRequest { message, .. } => page(StatusCode::BAD_REQUEST, "Request refused", &message),
        ApiError::Validation { message, .. } => page(StatusCode::UNPROCESSABLE_ENTITY, "Check the form", &message),
        ApiError::Conflict { message, .. } => page(StatusCode::CONFLICT, "Conflict", &message),
        ApiError::PayloadTooLarge => ConsoleError::TooLarge.into_response(),
        ApiError::RateLimited { retry_after_secs } => ConsoleError::RateLimited { retry_after_secs }.into_response(),
        ApiError::Unavailable(m) => page(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", m),
        ApiError::Upstream { message, .. } => page(StatusCode::BAD_GATEWAY, "Instagram refused", &message),
        ApiError::Db(e) if router_core::db::is_unavailable(&e) => {
            page(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "The database is unavailable; try again shortly.")
        }
        ApiError::Db(e) => {
            let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned());
            tracing::error!(sqlstate = ?code, "admin console: database error");
            page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "Something failed on our side; it was logged.")
        }
        ApiError::Internal(e) => {
            tracing::error!(error = %e, "admin console: internal error");
            page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "Something failed on our side; it was logged.")
        }
    }
}
