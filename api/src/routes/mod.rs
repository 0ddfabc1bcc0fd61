//! Route modules; each owns its router, DTOs and handlers.

pub mod accounts;
pub mod actions;
pub mod admin;
pub mod analytics;
pub mod deliveries;
pub mod endpoints;
pub mod health;
pub mod instagram;
pub mod messages;
pub mod oauth;
pub mod rich;
pub mod templates;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The Meta webhook's body limit (413 `payload_too_large` beyond it, before the signature is
/// checked): a full Meta batch (`inbound::MAX_EVENTS`, 1 000 events) at 5 KiB per event, the
/// worst case of a genuine one (1 000 UTF-8 bytes of text escaped as `\uXXXX`, ~3 KB, plus
/// ids, attachment URLs and reply context). It bounds what a forged POST makes us hash and parse.
pub const INBOUND_MAX_BODY_BYTES: usize = router_core::inbound::MAX_EVENTS * 5 * 1024;

/// Every documented route on top of `base` (the document's metadata, `openapi::ApiDoc`), so they
/// all appear in `/openapi.json`. Taking the base as an argument keeps this module free of the
/// OpenAPI module, which calls it.
pub fn api_router(base: utoipa::openapi::OpenApi) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(base)
        .merge(messages::router())
        .merge(accounts::router())
        .merge(oauth::router())
        .merge(admin::router())
        .merge(deliveries::router())
        .merge(templates::router())
        .merge(actions::router())
        .merge(analytics::router())
        .merge(endpoints::router())
        .merge(instagram::router().layer(axum::extract::DefaultBodyLimit::max(INBOUND_MAX_BODY_BYTES)))
}
