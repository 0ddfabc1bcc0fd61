//! The console's static files, embedded in the binary (api/assets/admin, README there): works
//! offline, served from this origin only.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const HTMX: &str = include_str!("../../assets/admin/htmx.min.js");
const CSS: &str = include_str!("../../assets/admin/admin.css");

/// `GET /admin/assets/{file}`: `htmx.min.js` or `admin.css`; anything else 404.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (ct, body) = match file.as_str() {
        "htmx.min.js" => ("text/javascript; charset=utf-8", HTMX),
        "admin.css" => ("text/css; charset=utf-8", CSS),
        _ => {
            return (StatusCode::NOT_FOUND, [(CONTENT_TYPE, "text/plain; charset=utf-8")], "not found").into_response();
        }
    };
    ([(CONTENT_TYPE, ct), (CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
