//! `router-worker`: claims jobs from the Postgres queue and runs them.
//!
//! # Layout
//! - [`jobs`]: the handlers of the kinds it runs (Instagram sends, CRM webhook deliveries) and
//!   their [`registry`](jobs::registry). The claim loop itself is `router_core::jobs::Runner`.

use std::sync::Arc;

use router_core::jobs::{JobContext, Runner};

pub mod jobs;

/// The worker's runner: every kind of [`jobs::registry`].
#[must_use]
pub fn runner(ctx: Arc<JobContext>) -> Runner {
    Runner::new(ctx, jobs::registry())
}
