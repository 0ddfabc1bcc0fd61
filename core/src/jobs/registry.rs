//! Which code runs which kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::context::JobContext;
use super::outcome::Outcome;
use super::payloads::Job;
use crate::queue::ClaimedJob;

/// What a binary does with one job kind. Implemented by each binary for its kinds.
pub trait JobHandler: Send + Sync + 'static {
    /// The payload this handler runs.
    type Job: Job;

    /// Runs one claimed job.
    ///
    /// # Errors
    /// Unexpected failures (database down…): the runner retries with backoff, and dead-letters
    /// the job after its last attempt (after [`JobHandler::give_up`]).
    fn run(
        &self,
        ctx: &JobContext,
        claimed: &ClaimedJob,
        job: Self::Job,
    ) -> impl Future<Output = anyhow::Result<Outcome>> + Send;

    /// `run` failed with an unexpected error on the job's last attempt. The default hands the
    /// error to the runner (which dead-letters the job); a job with domain state overrides it to
    /// record a visible failure first.
    ///
    /// # Errors
    /// As `run`.
    fn give_up(
        &self,
        ctx: &JobContext,
        claimed: &ClaimedJob,
        job: Self::Job,
        error: anyhow::Error,
    ) -> impl Future<Output = anyhow::Result<Outcome>> + Send {
        let _ = (ctx, claimed, job);
        async move { Err(error) }
    }
}

/// A handler with its payload type erased, so one map holds every kind.
trait Erased: Send + Sync {
    fn call<'a>(&'a self, ctx: &'a JobContext, claimed: &'a ClaimedJob) -> BoxFuture<'a, anyhow::Result<Outcome>>;
}

impl<H: JobHandler> Erased for H {
    fn call<'a>(&'a self, ctx: &'a JobContext, claimed: &'a ClaimedJob) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(async move {
            let job: H::Job = match serde_json::from_value(claimed.payload.clone()) {
                Ok(job) => job,
                Err(e) => {
                    return Ok(Outcome::Dead { error: format!("unreadable {} payload: {e}", H::Job::KIND) });
                }
            };
            match self.run(ctx, claimed, job.clone()).await {
                Err(e) if claimed.attempts >= claimed.max_attempts => self.give_up(ctx, claimed, job, e).await,
                other => other,
            }
        })
    }
}

/// The handlers a runner dispatches to, by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<&'static str, Arc<dyn Erased>>,
}

impl Registry {
    /// No handlers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the handler of `H::Job::KIND`.
    ///
    /// # Panics
    /// When the kind already has a handler (two binaries' registries merged wrongly).
    #[must_use]
    pub fn with<H: JobHandler>(mut self, handler: H) -> Self {
        let previous = self.handlers.insert(H::Job::KIND, Arc::new(handler));
        assert!(previous.is_none(), "two handlers for job kind {:?}", H::Job::KIND);
        self
    }

    /// Adds every handler of `other` (tests run the worker's and the scheduler's kinds together).
    ///
    /// # Panics
    /// When both have a handler for the same kind.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        for (kind, handler) in other.handlers {
            assert!(self.handlers.insert(kind, handler).is_none(), "two handlers for job kind {kind:?}");
        }
        self
    }

    /// The kinds this registry runs.
    #[must_use]
    pub fn kinds(&self) -> Vec<&'static str> {
        self.handlers.keys().copied().collect()
    }

    /// Runs a claimed job with its kind's handler; a kind without one is dead-lettered. The
    /// outcome is returned, not applied (the runner applies it; tests that stop a run mid-way,
    /// as a killed worker would, call this directly).
    ///
    /// # Errors
    /// As [`JobHandler::run`].
    pub async fn run(&self, ctx: &JobContext, claimed: &ClaimedJob) -> anyhow::Result<Outcome> {
        match self.handlers.get(claimed.kind.as_str()) {
            Some(handler) => handler.call(ctx, claimed).await,
            None => Ok(Outcome::Dead { error: format!("unknown job kind {:?}", claimed.kind) }),
        }
    }
}
