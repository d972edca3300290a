//! Deployment counters several routers can share ([`UsageCounters`]): requests and tokens
//! per minute (usage-based routing and its rpm/tpm limits), calls in flight (least-busy,
//! and `max_parallel_requests`), and the failures that lead to a cooldown
//! (`allowed_fails`).
//!
//! The router always counts in its own atomics ([`super::deployment::DeploymentState`]):
//! they decide alone with [`InProcess`] (the default) and are the fallback when a shared
//! store does not answer. A shared implementation ([`super::redis_usage::RedisUsage`])
//! adds what the other routers did and decides the limits across all of them. Both are
//! interchangeable behind this trait; nothing here waits without a bound.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::deployment::Deployment;

/// A boxed future, as the trait's async methods return.
pub type UsageFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the other routers sharing the counters did with a deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests this minute.
    pub requests: u64,
    /// Tokens this minute.
    pub tokens: u64,
    /// Calls in flight now.
    pub in_flight: u64,
}

/// One of a deployment's `max_parallel_requests` slots held across routers (see
/// [`UsageCounters::take_parallel`]); given back when dropped.
pub struct ParallelSlot(Option<Box<dyn Send + Sync>>);

impl ParallelSlot {
    /// A slot only this router's own counters hold (nothing shared to give back).
    pub fn local() -> ParallelSlot {
        ParallelSlot(None)
    }

    /// A slot held in a shared store: `release` gives it back when dropped.
    pub fn shared(release: Box<dyn Send + Sync>) -> ParallelSlot {
        ParallelSlot(Some(release))
    }

    /// Whether the slot is held in a shared store (not only in this router's counters).
    pub fn is_shared(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for ParallelSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_shared() {
            "ParallelSlot(shared)"
        } else {
            "ParallelSlot(local)"
        })
    }
}

/// Starts a deployment's cooldown, once the failures of every router reached the limit.
pub type StartCooldown = Box<dyn FnOnce() + Send>;

/// Deployment counters shared by routers (processes). See the module's documentation.
pub trait UsageCounters: Send + Sync + 'static {
    /// Whether an attempt on `d` may go ahead under its `rpm`/`tpm` across every router
    /// (asked only when usage-based routing enforces a limit `d` has, after this router's
    /// own counters admitted it). Counts the request when it may. Answers `true` when the
    /// shared store does not answer in time (this router's own counters decided).
    fn admit<'a>(&'a self, d: &'a Deployment) -> UsageFuture<'a, bool>;

    /// One of `d`'s `max_parallel_requests` (`max`) across every router, asked after this
    /// router's own count admitted the call: `None` when every slot is taken; else a slot
    /// held until dropped (when the call ends or is cancelled). Answers a
    /// [`ParallelSlot::local`] when the shared store does not answer in time (this
    /// router's own count decided).
    fn take_parallel<'a>(
        &'a self,
        _d: &'a Deployment,
        _max: u32,
    ) -> UsageFuture<'a, Option<ParallelSlot>> {
        Box::pin(std::future::ready(Some(ParallelSlot::local())))
    }

    /// A request on `d` that [`UsageCounters::admit`] was not asked about.
    fn count_request(&self, d: &Deployment);

    /// Tokens a finished call on `d` used.
    fn add_tokens(&self, d: &Deployment, tokens: u64);

    /// A failure of `d` that counts towards its cooldown and did not reach `allowed_fails`
    /// on this router alone: `start` is called if, with every router's failures this
    /// minute, it does (never waits; `start` may run later, on another thread).
    fn add_failure(&self, d: &Deployment, allowed_fails: u32, start: StartCooldown);

    /// What the other routers did with `d` (a recent view; zero when unknown).
    fn others(&self, d: &Deployment) -> Usage;

    /// Decisions this router made on its own counters because the shared store did not
    /// answer.
    fn degraded(&self) -> u64 {
        0
    }

    /// The counters of a router an edit builds from this one ([`super::Router::with_model_list`]),
    /// whose deployments are `deployments` (in its order): shared with the same routers as
    /// these, a deployment kept (same id) keeping its counts.
    fn for_deployments(&self, deployments: &[Arc<Deployment>]) -> Arc<dyn UsageCounters>;
}

/// Nothing shared: the router's own counters decide.
#[derive(Debug, Default, Clone, Copy)]
pub struct InProcess;

impl UsageCounters for InProcess {
    fn admit<'a>(&'a self, _d: &'a Deployment) -> UsageFuture<'a, bool> {
        Box::pin(std::future::ready(true))
    }

    fn count_request(&self, _d: &Deployment) {}

    fn add_tokens(&self, _d: &Deployment, _tokens: u64) {}

    fn add_failure(&self, _d: &Deployment, _allowed_fails: u32, _start: StartCooldown) {}

    fn others(&self, _d: &Deployment) -> Usage {
        Usage::default()
    }

    fn for_deployments(&self, _deployments: &[Arc<Deployment>]) -> Arc<dyn UsageCounters> {
        Arc::new(InProcess)
    }
}
