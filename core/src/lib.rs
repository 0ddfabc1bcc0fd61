//! Message Router's core library: everything the three binaries share.
//!
//! The API, worker and scheduler only wire and translate; the domain lives here so that one
//! definition of a table, a job or a signature serves all of them.
//!
//! # Layout
//! - [`accounts`]: the connect / re-authenticate workflow of an Instagram account.
//! - [`bootstrap`]: the start-up the three binaries share (configuration sections, telemetry,
//!   Sentry, exit codes; the worker's and scheduler's connections and ops endpoints).
//! - [`config`]: the typed, validated environment (DESIGN §3), read in sections.
//! - [`crypto`]: AES-256-GCM secrets with key versions, API key hashing, HMAC signatures.
//! - [`db`]: pools (RLS-bound app role vs owner), tenant transactions, one function per statement:
//!   every SQL statement of the crate lives here.
//! - [`jobs`]: the typed job layer: payloads and kinds, handlers, the runner, outcomes, backoff.
//! - [`queue`] (`db::queue`): the Postgres job queue underneath (outbox, SKIP LOCKED claims,
//!   leases, ordering keys).
//! - [`crm`]: the CRM webhook client (one signed attempt, a typed result).
//! - [`inbound`]: Instagram webhook events: classification and idempotent storage.
//! - [`lifecycle`]: key rotation, contact erasure and retention, and the CRM events they cause
//!   (statements in `db::lifecycle`).
//! - [`media`]: the bounded, SSRF-guarded probe of outbound attachments against Meta's limits.
//! - [`graph`]: the Instagram Graph API client (live and sandbox) and its error classification.
//! - [`reconcile`]: no duplicate DM after an ambiguous send (intents, holds, echo adoption).
//! - [`redis`]: the mandatory Redis connection and the sliding-window rate limiter.
//! - [`route_cache`]: the API's cache of inbound routes, emptied by NOTIFY.
//! - [`domain`]: scopes, statuses and CRM event names.
//! - [`telemetry`]: logging and the Prometheus recorder.
//! - [`oauth`]: Instagram Business Login with PKCE (state and verifier in Redis).
//! - [`outbound`]: the typed outbound message (attachments, quick replies) and its Send API calls.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics` for the worker and scheduler.
//! - [`ssrf`]: CRM URL checks against private and internal addresses.
//! - [`webhooks`]: CRM event enqueueing (outbox); the delivery signatures are [`crm`]'s.

pub mod accounts;
pub mod analytics;
pub mod bootstrap;
pub mod config;
pub mod crm;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod graph;
pub mod inbound;
pub mod jobs;
pub mod lifecycle;
pub mod media;
pub mod oauth;
pub mod ops;
pub mod outbound;
pub mod reconcile;
pub mod redis;
pub mod route_cache;
pub mod ssrf;
pub mod telemetry;
pub mod templates;
pub mod webhooks;

pub use db::{MIGRATOR, queue};
