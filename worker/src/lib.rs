//! `router-worker`: claims jobs from the Postgres queue and runs them.
//!
//! # Layout
//! - [`runner`]: the claim loop (LISTEN/NOTIFY wake-ups, polling fallback, leases, graceful
//!   shutdown that releases claimed-but-unstarted jobs).
//! - [`jobs`]: what each job kind does (Instagram sends, CRM webhook deliveries).

pub mod jobs;
pub mod runner;
