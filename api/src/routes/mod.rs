//! Route modules; each owns its router, DTOs and handlers.

pub mod accounts;
pub mod admin;
pub mod deliveries;
pub mod health;
pub mod messages;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every documented route (they all appear in `/openapi.json`).
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .merge(messages::router())
        .merge(accounts::router())
        .merge(admin::router())
        .merge(deliveries::router())
}
