//! Console sign-in, sessions and CSRF.
//!
//! - **Sign-in** (`POST /admin/login`): the key is checked by [`crate::auth::check_key`], the
//!   bearer extractor's own check (format, hash lookup, revocation, expiry, the same
//!   `router_auth_failures_total` reasons). A valid key opens a server-side session
//!   (`admin_sessions`, only SHA-256 of the token stored) for [`SESSION_TTL`]; the browser gets the
//!   token in a cookie that is HttpOnly, SameSite=Strict, limited to `/admin`, and `Secure` when
//!   `ROUTER_ENV=production`. The sign-in form itself carries a one-time token matched against a
//!   short-lived cookie (login CSRF: nobody can sign a victim's browser into their own session).
//! - **Failed sign-ins** are limited per client address: [`SIGN_IN_MAX_FAILURES`] failures in
//!   [`SIGN_IN_WINDOW`] (a sliding window in Redis, like the API's rate limits) and further
//!   attempts get 429 with `Retry-After` before the key is even looked up. Every attempt is counted
//!   in `router_admin_sign_ins_total{result}` (`success`, `failure`, `throttled`; exported at zero).
//! - **Sessions** are looked up on every request (no cache) joined with their key, so a revoked or
//!   expired key ends them at once. Sign-out deletes the row and clears the cookie.
//! - **CSRF**: each session's token is `HMAC-SHA256(API_KEY_SALT, "admin-csrf:" ‖ session token)`,
//!   rendered into every form and compared in constant time on every POST ([`CsrfForm`]); nothing
//!   to store, and it dies with the session.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use router_core::crypto::{hmac_sha256, random_token, sha256};
use router_core::db;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::{ConsoleError, bare_page};
use super::forms::{FormBody, Pairs, Query};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie.
pub const SESSION_COOKIE: &str = "router_admin_session";
/// The sign-in form's one-time cookie.
pub const LOGIN_COOKIE: &str = "router_admin_login";
/// How long a session lasts (absolute; sign in again after).
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Failed sign-ins allowed per client address within [`SIGN_IN_WINDOW`].
pub const SIGN_IN_MAX_FAILURES: u32 = 10;
/// The failed sign-in window.
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A signed-in console user: the key's rights (the same [`Auth`] the REST API builds) and what the
/// pages need to render forms.
#[derive(Debug, Clone)]
pub struct Session {
    pub auth: Auth,
    /// The token every form must carry back.
    pub csrf: String,
    /// Label and prefix of the key signed in with (shown in the header).
    pub key_name: String,
    pub key_prefix: String,
    pub expires_at: OffsetDateTime,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn csrf_for(state: &AppState, token: &str) -> String {
    let mac = hmac_sha256(
        state.config.api().api_key_salt.expose_secret().as_bytes(),
        format!("admin-csrf:{token}").as_bytes(),
    );
    hex::encode(mac)
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if state.config.is_production() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    ))
    .expect("cookie is ASCII")
}

fn clear_cookie(state: &AppState, name: &str) -> HeaderValue {
    set_cookie(state, name, "", Duration::ZERO)
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(s) = parts.extensions.get::<Session>() {
            return Ok(s.clone());
        }
        let get = parts.method == Method::GET || parts.method == Method::HEAD;
        let sign_in = || ConsoleError::SignIn {
            next: Some(parts.uri.path_and_query().map_or("/admin", |p| p.as_str()).to_owned()),
            get,
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            // A link or redirect from another site (Instagram's login coming back, a link in the
            // CRM) arrives without the SameSite=Strict cookie even when signed in: open the same
            // address again from this origin, which carries it. The second arrival is same-origin,
            // so this happens at most once per navigation.
            let cross_site = parts.headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
            if get && cross_site {
                let to = parts.uri.path_and_query().map_or("/admin", |p| p.as_str()).to_owned();
                return Err(ConsoleError::Reopen { to });
            }
            return Err(sign_in());
        };
        let row = db::admin_sessions::find(&state.db, &sha256(token.as_bytes())).await.map_err(ApiError::from)?;
        let Some(row) = row else {
            return Err(sign_in());
        };
        let auth = Auth::from_key_row(&row.key);
        state.key_usage.record(auth.key_id);
        tracing::Span::current().record("api_key_id", tracing::field::display(auth.key_id));
        let session = Session {
            auth,
            csrf: csrf_for(state, &token),
            key_name: row.key_name,
            key_prefix: row.key_prefix,
            expires_at: row.session_expires_at,
        };
        parts.extensions.insert(session.clone());
        Ok(session)
    }
}

/// A POST form from a signed-in session whose `csrf` field is that session's token. Every
/// state-changing console route takes one, so none acts on a forged cross-site request.
#[derive(Debug, Clone)]
pub struct CsrfForm {
    pub session: Session,
    pub form: Pairs,
}

impl FromRequest<AppState> for CsrfForm {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let FormBody(form) = FormBody::from_request(Request::from_parts(parts, body), state).await?;
        let given = form.get("csrf").unwrap_or("");
        if given.is_empty() || !bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())) {
            return Err(ConsoleError::Csrf);
        }
        Ok(Self { session, form })
    }
}

/// Only a local console path may be a `next` target (no open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if (n == "/admin" || n.starts_with("/admin/") || n.starts_with("/admin?"))
                && !n.contains("//")
                && !n.contains('\\')
                && n.len() <= 512 =>
        {
            n
        }
        _ => "/admin",
    }
}

/// `GET /admin/login`: the sign-in form (with a fresh one-time login token).
pub async fn login_page(State(s): State<AppState>, Query(q): Query) -> Response {
    let one_time = random_token();
    let next = safe_next(q.get("next")).to_owned();
    let body = bare_page(
        "Sign in",
        html! {
            h1 { "Message Router admin" }
            p.muted { "Sign in with a platform admin key (" code { "router-api create-admin-key" } ") or a merchant's API key. "
                "A merchant key sees only its merchant's data, within its scopes and account allow-list." }
            form.stack method="post" action="/admin/login" {
                input type="hidden" name="login_token" value=(one_time);
                input type="hidden" name="next" value=(next);
                label { "API key"
                    input type="password" name="key" autocomplete="off" required autofocus
                        placeholder="router_live_… or router_test_…" maxlength="200";
                }
                button type="submit" { "Sign in" }
            }
        },
    );
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body.into_string()).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&s, LOGIN_COOKIE, &one_time, Duration::from_secs(1800)));
    r
}

/// `POST /admin/login`: checks the login token, the failed sign-in limit, then the key.
pub async fn login(
    State(s): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    FormBody(form): FormBody,
) -> Result<Response, ConsoleError> {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let given = form.get("login_token").unwrap_or("");
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ConsoleError::Csrf);
    }
    let addr = peer.map_or_else(|| "unknown".to_owned(), |Extension(ConnectInfo(a))| a.ip().to_string());
    let limiter = SignInLimiter::new(&s);
    if let Some(wait) = limiter.blocked(&addr).await {
        metrics::counter!("router_admin_sign_ins_total", "result" => "throttled").increment(1);
        return Err(ConsoleError::RateLimited { retry_after_secs: wait.as_secs().max(1) });
    }
    let key = form.get("key").unwrap_or("");
    let auth = match crate::auth::check_key(&s, key).await {
        Ok(a) => a,
        Err(ApiError::Unauthorized(_)) => {
            limiter.record_failure(&addr).await;
            metrics::counter!("router_admin_sign_ins_total", "result" => "failure").increment(1);
            tracing::info!("admin console sign-in refused");
            let body = bare_page(
                "Sign in",
                html! {
                    h1 { "Sign-in failed" }
                    p { "That key is not valid (unknown, revoked or expired)." }
                    p { a href="/admin/login" { "Try again" } }
                },
            );
            return Ok((
                axum::http::StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body.into_string(),
            )
                .into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let token = random_token();
    let opened = db::admin_sessions::open(
        &s.db,
        Uuid::now_v7(),
        &sha256(token.as_bytes()),
        auth.key_id,
        SESSION_TTL.as_secs_f64(),
    )
    .await
    .map_err(ApiError::from)?;
    if opened.is_none() {
        // Revoked between the check and the insert.
        metrics::counter!("router_admin_sign_ins_total", "result" => "failure").increment(1);
        return Err(ConsoleError::SignIn { next: None, get: false });
    }
    metrics::counter!("router_admin_sign_ins_total", "result" => "success").increment(1);
    tracing::info!(api_key.id = %auth.key_id, "admin console sign-in");
    let mut r = Redirect::to(safe_next(form.get("next"))).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&s, SESSION_COOKIE, &token, SESSION_TTL));
    r.headers_mut().append(header::SET_COOKIE, clear_cookie(&s, LOGIN_COOKIE));
    Ok(r)
}

/// `POST /admin/logout`: ends the session (CSRF-checked: a forged sign-out is refused too).
pub async fn logout(State(s): State<AppState>, headers: HeaderMap, form: CsrfForm) -> Result<Response, ConsoleError> {
    let _ = form;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        db::admin_sessions::close(&s.db, &sha256(token.as_bytes())).await.map_err(ApiError::from)?;
    }
    let mut r = Redirect::to("/admin/login").into_response();
    r.headers_mut().append(header::SET_COOKIE, clear_cookie(&s, SESSION_COOKIE));
    r.headers_mut().insert("hx-redirect", HeaderValue::from_static("/admin/login"));
    Ok(r)
}

/// Failed sign-ins per client address: a sliding window (sorted set of failure times) in Redis,
/// using the server's clock, so every replica shares the count. Fails open (with a warning and
/// `router_redis_unavailable_total{op="admin_sign_in"}`) when Redis is down, like the API's rate
/// limit: keys are 256-bit random, so the limit guards against noise and load, not guessing.
struct SignInLimiter<'a> {
    s: &'a AppState,
}

const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + tonumber(ARGV[2]) - now)";

const RECORD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[2]) / 1000))
return 0";

impl<'a> SignInLimiter<'a> {
    fn new(s: &'a AppState) -> Self {
        Self { s }
    }

    fn key(&self, addr: &str) -> String {
        format!("{}admin:signin:{addr}", self.s.config.redis_key_prefix)
    }

    /// How long this address must wait, when over the limit.
    async fn blocked(&self, addr: &str) -> Option<Duration> {
        let mut conn = self.s.redis.clone();
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            redis::Script::new(CHECK)
                .key(self.key(addr))
                .arg(SIGN_IN_MAX_FAILURES)
                .arg(SIGN_IN_WINDOW.as_micros() as u64)
                .invoke_async::<i64>(&mut conn),
        )
        .await;
        match r {
            Ok(Ok(wait_us)) if wait_us > 0 => Some(Duration::from_micros(wait_us as u64)),
            Ok(Ok(_)) => None,
            _ => {
                metrics::counter!("router_redis_unavailable_total", "op" => "admin_sign_in").increment(1);
                tracing::warn!("admin sign-in limit skipped: Redis unavailable");
                None
            }
        }
    }

    async fn record_failure(&self, addr: &str) {
        let mut conn = self.s.redis.clone();
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            redis::Script::new(RECORD)
                .key(self.key(addr))
                .arg(Uuid::new_v4().to_string())
                .arg(SIGN_IN_WINDOW.as_micros() as u64)
                .invoke_async::<i64>(&mut conn),
        )
        .await;
        if !matches!(r, Ok(Ok(_))) {
            metrics::counter!("router_redis_unavailable_total", "op" => "admin_sign_in").increment(1);
            tracing::warn!("admin sign-in failure not recorded: Redis unavailable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_targets_stay_inside_the_console() {
        assert_eq!(safe_next(Some("/admin/accounts?status=error")), "/admin/accounts?status=error");
        assert_eq!(safe_next(Some("/admin")), "/admin");
        for bad in
            ["https://evil.example/admin", "//evil.example", "/admin//evil", "/adminx", "/admin/\\evil", "/api/v1"]
        {
            assert_eq!(safe_next(Some(bad)), "/admin", "{bad}");
        }
        assert_eq!(safe_next(None), "/admin");
    }
}
