//! The OpenAPI document (utoipa). Routes register themselves through `OpenApiRouter`, so every
//! routed handler is in the spec; this file adds the metadata and the bearer security scheme.

use utoipa::Modify;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Message Router API",
        description = "Bridge between Instagram Direct Messages and e-commerce CRMs. Send messages, read their status, \
                       manage connected accounts. Authenticate with `Authorization: Bearer router_live_…`. \
                       Errors use one body: `{error, message, details?, correlation_id, timestamp}`.",
        version = "1.0.0",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "messages", description = "Outbound messages and their status"),
        (name = "accounts", description = "Connected Instagram accounts and their CRM endpoint"),
        (name = "webhooks", description = "CRM webhook deliveries and their attempt log"),
        (name = "instagram", description = "Meta's webhook endpoints (called by Meta, signed with the app secret)"),
        (name = "admin", description = "Platform administration (platform admin keys)"),
    )
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::from(Http::new(HttpAuthScheme::Bearer))
                    .bearer_format("router_live_… / router_test_… API key")
                    .build(),
            ),
        );
    }
}

/// The full document, without needing a running app (the `openapi` subcommand, tests).
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    crate::routes::api_router().into_openapi()
}
