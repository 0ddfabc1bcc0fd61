//! Integration tests: one binary, one module per area (real Postgres, real Redis, loopback fakes).

mod admin_browser;
mod admin_console;
mod analytics;
mod api_accounts;
mod api_foundation;
mod endpoints;
mod hostile;
mod inbound;
mod lifecycle;
mod media;
mod ops;
mod outbound;
mod plans;
mod reconcile;
mod rich;
mod route_cache;
mod sandbox_tour;
mod templates;
mod webhooks;
