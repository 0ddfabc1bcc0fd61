//! How a job run ended.

use std::time::Duration;

use time::OffsetDateTime;

use super::backoff::{after, full_jitter};

/// What happened to a job. The runner applies it: it is the only place that reschedules or
/// dead-letters a job.
#[derive(Debug)]
pub enum Outcome {
    /// Finished: the job completed itself (`queue::complete`) in the transaction that recorded
    /// its result, so a crash between the two re-runs the job instead of losing the result.
    Done,
    /// [`Outcome::Done`], and no other job of its ordering key is waiting: its end makes nothing
    /// claimable, so the runner does not claim again for it (at a steady trickle, such claims
    /// were one in three and found nothing).
    DoneAlone,
    /// Run again at `at`. `count_attempt = false` for throttling and pauses (the claim is not an
    /// attempt). A counted retry on the last attempt dead-letters the job instead.
    Retry { at: OffsetDateTime, error: String, count_attempt: bool },
    /// Give up: move to `dead_jobs`.
    Dead { error: String },
    /// Another worker took the job over (our lease expired and it claimed it): stop without
    /// touching the job; the new owner finishes it.
    LeaseLost,
}

impl Outcome {
    /// A counted retry after exponential backoff with full jitter from 1 s, capped at 10 min
    /// (at least 200 ms).
    #[must_use]
    pub fn retry_backoff(attempts: i32, error: &str) -> Self {
        let d = full_jitter(attempts, Duration::from_secs(1), Duration::from_secs(600), Duration::from_millis(200));
        Self::Retry { at: after(d), error: error.to_owned(), count_attempt: true }
    }

    /// A counted retry at `at`.
    #[must_use]
    pub fn retry_at(at: OffsetDateTime, error: impl Into<String>) -> Self {
        Self::Retry { at, error: error.into(), count_attempt: true }
    }

    /// A retry after `wait` that does not count as an attempt (throttled, paused, deferred).
    #[must_use]
    pub fn defer(wait: Duration, error: impl Into<String>) -> Self {
        Self::Retry { at: after(wait), error: error.into(), count_attempt: false }
    }

    /// Metric label.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Done | Self::DoneAlone => "done",
            Self::Retry { count_attempt: true, .. } => "retry",
            Self::Retry { count_attempt: false, .. } => "deferred",
            Self::Dead { .. } => "dead",
            Self::LeaseLost => "lease_lost",
        }
    }
}
