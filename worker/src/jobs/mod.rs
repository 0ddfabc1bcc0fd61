//! The worker's job handlers: the policy of each kind it runs. The transport lives in core
//! (`router_core::graph`, `router_core::crm`), the queue mechanics in `router_core::jobs`.
//!
//! A handler's success path commits its domain changes *and* the job's completion in one
//! transaction (so a crash between them re-runs the job rather than losing the change); retries
//! and dead-lettering are the runner's.

use router_core::jobs::Registry;

pub mod deliver_webhook;
pub mod send_message;
mod send_reconcile;

/// The kinds the worker binary runs: Instagram sends and CRM deliveries (`maintenance` jobs are
/// the scheduler's).
#[must_use]
pub fn registry() -> Registry {
    Registry::new().with(send_message::SendMessageHandler).with(deliver_webhook::DeliverWebhookHandler)
}
