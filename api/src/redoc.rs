//! ReDoc at `/redoc`: the OpenAPI document (`/openapi.json`) rendered by a vendored ReDoc bundle
//! (api/assets/redoc, README there), embedded in the binary so the page works offline. The page
//! loads nothing from another origin, and its Content-Security-Policy forbids it.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::IntoResponse;
use axum::routing::get;

const PAGE: &str = include_str!("../assets/redoc/index.html");
const INIT_JS: &str = include_str!("../assets/redoc/init.js");
const BUNDLE_JS: &str = include_str!("../assets/redoc/redoc.standalone.js");

/// Same origin only. ReDoc injects its styles at run time (`'unsafe-inline'` styles, no inline
/// scripts), draws logos and icons as data: URIs, and runs its search index in a blob: worker.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /redoc`, `GET /redoc/init.js`, `GET /redoc/redoc.standalone.js`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/redoc", get(|| async { asset("text/html; charset=utf-8", PAGE, "no-cache") }))
        .route("/redoc/init.js", get(|| async { asset("text/javascript; charset=utf-8", INIT_JS, "no-cache") }))
        .route(
            "/redoc/redoc.standalone.js",
            get(|| async { asset("text/javascript; charset=utf-8", BUNDLE_JS, "public, max-age=86400") }),
        )
}

fn asset(content_type: &'static str, body: &'static str, cache: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, cache),
        ],
        body,
    )
}
