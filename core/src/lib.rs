//! Message Router's core library: everything the three binaries share.
//!
//! The API, worker and scheduler only wire and translate; the domain lives here so that one
//! definition of a table, a job or a signature serves all of them.
//!
//! # Layout
//! - [`config`]: the typed, validated environment (DESIGN §3).
//! - [`crypto`]: AES-256-GCM secrets with key versions, API key hashing, HMAC signatures.
//! - [`db`]: pools (RLS-bound app role vs owner), tenant transactions, one function per statement.
//! - [`queue`]: the Postgres job queue (outbox, SKIP LOCKED claims, leases, ordering keys).
//! - [`inbound`]: Instagram webhook events: classification and idempotent storage.
//! - [`lifecycle`]: key rotation, contact erasure and retention.
//! - [`media`]: the bounded, SSRF-guarded probe of outbound attachments against Meta's limits.
//! - [`graph`]: the Instagram Graph API client and its error classification.
//! - [`reconcile`]: no duplicate DM after an ambiguous send (intents, holds, echo adoption).
//! - [`redis`]: the mandatory Redis connection and the sliding-window rate limiter.
//! - [`domain`]: scopes, statuses and CRM event names.
//! - [`telemetry`]: logging and the Prometheus recorder.
//! - [`oauth`]: Instagram Business Login with PKCE (state and verifier in Redis).
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics` for the worker and scheduler.
//! - [`ssrf`]: CRM URL checks against private and internal addresses.
//! - [`webhooks`]: CRM event enqueueing (outbox) and delivery signatures.

pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod graph;
pub mod inbound;
pub mod lifecycle;
pub mod media;
pub mod oauth;
pub mod ops;
pub mod queue;
pub mod reconcile;
pub mod redis;
pub mod ssrf;
pub mod telemetry;
pub mod testing;
pub mod webhooks;

pub use db::MIGRATOR;
