//! Route modules; each owns its router, DTOs and handlers.

pub mod accounts;
pub mod admin;
pub mod deliveries;
pub mod health;
pub mod instagram;
pub mod messages;
pub mod oauth;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Meta batches up to 1 000 events per POST: its endpoint accepts more than the API's
/// `MAX_BODY_BYTES`.
pub const INBOUND_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Every documented route (they all appear in `/openapi.json`).
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .merge(messages::router())
        .merge(accounts::router())
        .merge(oauth::router())
        .merge(admin::router())
        .merge(deliveries::router())
        .merge(instagram::router().layer(axum::extract::DefaultBodyLimit::max(INBOUND_MAX_BODY_BYTES)))
}
