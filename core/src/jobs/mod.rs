//! The typed job layer: what a job is, how it is enqueued, and how it runs.
//!
//! The storage underneath (the `jobs` table, claims, leases, ordering keys) is [`crate::queue`];
//! this module is what the rest of the code talks to:
//!
//! * [`Job`]: a serde payload type with its stable `KIND` (rows on disk name it forever) and its
//!   queue defaults. One per job: [`SendMessage`], [`DeliverWebhook`], [`Maintenance`] (whose
//!   [`MaintenanceTask`] names each periodic task). [`Job::new_job`] turns a payload into the row
//!   to insert, and every insert of a job, from Rust or from the send path's SQL function, goes
//!   through the one SQL function `enqueue_jobs` (`queue::enqueue_many` calls it; so do
//!   `send_accept_batch`, CRM event enqueueing and the DLQ redrive, with payloads built here).
//! * [`JobHandler`]: what a binary does with a kind. The handlers live with their binary
//!   (`router-worker`: sends and deliveries; `router-scheduler`: maintenance); a [`Registry`]
//!   collects them, and the [`Runner`] claims only the kinds its registry knows.
//! * [`Outcome`]: how a run ended. The runner is the only place that reschedules (`Retry`) or
//!   dead-letters (`Dead`) a job; `Done` means the job completed itself in its final transaction
//!   (with the domain change that finished it), `LeaseLost` that another worker owns it now.
//! * [`JobContext`]: the clients and settings every handler runs with.
//!
//! Design reference: crates.io's `BackgroundJob` (a payload type with a `JOB_NAME`, a runner that
//! deserialises and dispatches), split in two because the payloads are enqueued by core (the API
//! and the inbound path) while the handlers are each binary's policy.

mod backoff;
mod context;
mod outcome;
mod payloads;
mod registry;
mod runner;

pub use backoff::{after, full_jitter};
pub use context::JobContext;
pub use outcome::Outcome;
pub use payloads::{DeliverWebhook, Job, Maintenance, MaintenanceTask, SendMessage};
pub use registry::{JobHandler, Registry};
pub use runner::Runner;

/// Job kinds by name (stable forever: rows on disk name them), for SQL filters, metrics and
/// runners restricted to some kinds. Each is its payload type's [`Job::KIND`].
pub mod kinds {
    use super::payloads::{DeliverWebhook, Job, Maintenance, SendMessage};

    /// Send one outbound message to Instagram.
    pub const SEND_MESSAGE: &str = SendMessage::KIND;
    /// Deliver one CRM webhook.
    pub const DELIVER_WEBHOOK: &str = DeliverWebhook::KIND;
    /// Scheduler maintenance task (`payload.task` names it).
    pub const MAINTENANCE: &str = Maintenance::KIND;
    /// Every kind.
    pub const ALL: [&str; 3] = [SEND_MESSAGE, DELIVER_WEBHOOK, MAINTENANCE];
}
