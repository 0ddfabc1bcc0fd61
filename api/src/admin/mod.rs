//! The admin console at `/admin`: server-rendered HTML over the same data, permissions and code
//! paths as the REST API.
//!
//! Why this shape: pages are rendered on the server with [maud] (templates are Rust expressions,
//! checked by the compiler and HTML-escaped by default) and enhanced by a vendored copy of htmx
//! (`hx-boost`: links and forms swap the page body without a full reload; everything works without
//! JavaScript). There is no Node build step; `cargo build` builds the console.
//!
//! Security model (docs/ADMIN.md, docs/SECURITY.md):
//! - Sign-in exchanges an API key (platform admin or merchant) for a server-side session
//!   ([`session`]); the browser holds only a random token in an HttpOnly, SameSite=Strict cookie
//!   (`Secure` in production). The session acts with exactly its key's rights: the same
//!   [`crate::auth::Auth`] value the bearer extractor builds, checked by the same methods
//!   (`merchant(scope)`, `platform_admin()`, `account_scope()`), so there is no second permission
//!   model. Revoking the key ends the session.
//! - Every state-changing request is a POST carrying the session's CSRF token ([`forms`]).
//! - Every page answers with a strict Content-Security-Policy: scripts and styles from this origin
//!   only, no inline script, no `eval`, no framing.
//! - Inputs are bounded like the API's: 16 KiB form bodies, 4 KiB query strings, NUL refused, ids
//!   parsed before any query, lists capped.
//!
//! # Layout
//! - [`session`]: sign-in/out, the session extractor, CSRF tokens, the failed sign-in limiter.
//! - [`forms`]: bounded, NUL-safe form and query parsing.
//! - [`error`]: console errors as HTML pages.
//! - [`view`]: the page layout and shared fragments.
//! - [`assets`]: the vendored htmx and the stylesheet.
//! - [`overview`], [`accounts`], [`conversations`], [`deliveries`], [`dlq`], [`keys`]: the pages.

pub mod accounts;
pub mod assets;
pub mod conversations;
pub mod deliveries;
pub mod dlq;
pub mod error;
pub mod forms;
pub mod keys;
pub mod overview;
pub mod session;
pub mod view;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Redirect;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// Largest console form body (a key creation with a long allow-list fits easily).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// The console's Content-Security-Policy: same-origin scripts and styles, no inline script, no
/// `eval`, never framed, forms only to this origin — and to Instagram's login page, because
/// browsers apply `form-action` to the redirect that follows a form: the Accounts page's
/// **Re-connect** posts here and is redirected to `INSTAGRAM_AUTHORIZE_URL` (or the sandbox's).
#[must_use]
pub fn csp(config: &router_core::config::Config) -> String {
    let mut form_action = vec!["'self'".to_owned()];
    let login =
        std::iter::once(&config.api().instagram_authorize_url).chain(config.sandbox_graph_api_base_url.as_ref());
    for url in login {
        let origin = url.origin().ascii_serialization();
        if url.origin().is_tuple() && !form_action.contains(&origin) {
            form_action.push(origin);
        }
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action {}; base-uri 'none'; frame-ancestors 'none'",
        form_action.join(" ")
    )
}

/// Every `/admin` route. Only the sign-in page and the static assets answer without a session.
///
/// # Panics
/// Never: the CSP is built from parsed URLs' origins, which are valid header text.
pub fn router(config: &router_core::config::Config) -> Router<AppState> {
    let csp = HeaderValue::from_str(&csp(config)).expect("a CSP of URL origins is a valid header");
    Router::new()
        .route("/admin", get(overview::show))
        .route("/admin/", get(|| async { Redirect::to("/admin") }))
        .route("/admin/login", get(session::login_page).post(session::login))
        .route("/admin/logout", post(session::logout))
        .route("/admin/assets/{file}", get(assets::serve))
        .route("/admin/accounts", get(accounts::list))
        .route("/admin/accounts/{id}", get(accounts::show))
        .route("/admin/accounts/{id}/test-event", post(accounts::send_test_event))
        .route("/admin/accounts/{id}/status", post(accounts::set_status))
        .route("/admin/accounts/{id}/reconnect", post(accounts::reconnect))
        .route("/admin/conversations", get(conversations::list))
        .route("/admin/conversations/{id}", get(conversations::show))
        .route("/admin/deliveries", get(deliveries::list))
        .route("/admin/deliveries/{id}", get(deliveries::show))
        .route("/admin/dead-letters", get(dlq::list))
        .route("/admin/dead-letters/redrive", post(dlq::redrive))
        .route("/admin/keys", get(keys::list).post(keys::create))
        .route("/admin/keys/{id}/revoke", post(keys::revoke))
        .route("/admin/merchants", post(keys::create_merchant))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, csp))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

/// A transaction with the session's view of the data: a platform admin sees every tenant (the
/// admin endpoints' context); a merchant key sees its merchant only and needs `scope`, exactly as
/// `Auth::merchant` demands on the REST routes.
///
/// # Errors
/// 403 for a missing scope, Postgres errors.
pub async fn read_tx(
    s: &AppState,
    session: &session::Session,
    scope: router_core::domain::Scope,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, error::ConsoleError> {
    if session.auth.is_platform_admin() {
        Ok(router_core::db::begin_admin_tx(&s.db).await?)
    } else {
        let merchant_id = session.auth.merchant(scope)?;
        Ok(router_core::db::begin_merchant_tx(&s.db, merchant_id).await?)
    }
}
