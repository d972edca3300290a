//! The seams the state plane (virtual keys, limits, budgets, spend logs) plugs into.
//!
//! Per model call the gateway does, in order:
//! 1. [`super::auth::Authenticator::authenticate`] → a [`Principal`];
//! 2. checks the model against [`Principal::allows_model`] (403);
//! 3. [`Admission::admit`] with a [`CallInfo`] → a [`Ticket`] (or a 429 / budget error);
//! 4. runs the call; then [`Ticket::settle`] with the finished [`RequestRecord`] (exactly
//!    once: success, failure or cancellation; a ticket dropped unsettled was cancelled
//!    before any outcome was known) and [`SpendSink::record`] with the same record.
//!
//! At shutdown the gateway waits for in-flight requests, then calls [`SpendSink::flush`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::error::ProxyError;
use super::principal::{Principal, RouteKind};
use crate::spend::clock::Micros;

/// What a model call asks for, as admission sees it (before it is sent).
#[derive(Debug)]
pub struct CallInfo<'a> {
    pub route: RouteKind,
    /// The gateway's id of the request (`x-litellm-call-id`).
    pub request_id: &'a str,
    /// The model group asked for.
    pub model_group: &'a str,
    /// The end user: the request's `user` field (LiteLLM's customer).
    pub end_user: Option<&'a str>,
    /// The request's tags (`metadata.tags`, `tags`), not yet merged with the key's.
    pub tags: &'a [String],
    pub stream: bool,
    /// The prompt's tokens as counted locally (for tpm limits before the call); counted
    /// on the first [`LazyTokens::get`], since counting costs microseconds.
    pub prompt_tokens: LazyTokens<'a>,
    /// The most the call may output (`max_tokens`), when it says.
    pub max_output_tokens: Option<u64>,
}

/// A token count computed on first use.
pub struct LazyTokens<'a> {
    count: Box<dyn Fn() -> u64 + Send + Sync + 'a>,
    value: std::sync::OnceLock<u64>,
}

impl<'a> LazyTokens<'a> {
    pub fn new(count: impl Fn() -> u64 + Send + Sync + 'a) -> Self {
        LazyTokens {
            count: Box::new(count),
            value: std::sync::OnceLock::new(),
        }
    }

    /// A count known already.
    pub fn known(n: u64) -> Self {
        let value = std::sync::OnceLock::new();
        let _ = value.set(n);
        LazyTokens {
            count: Box::new(move || n),
            value,
        }
    }

    pub fn get(&self) -> u64 {
        *self.value.get_or_init(|| (self.count)())
    }
}

impl std::fmt::Debug for LazyTokens<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LazyTokens")
            .field(&self.value.get())
            .finish()
    }
}

/// Decides whether a call may run now, and holds what it took (a parallel-request slot,
/// rpm/tpm counts, a budget reservation) until settled.
pub trait Admission: Send + Sync + 'static {
    /// A ticket, or the refusal: [`ProxyError::RateLimited`] (429 with `retry-after`),
    /// [`ProxyError::ModelAccessDenied`], or [`ProxyError::Other`] with LiteLLM's status
    /// and type (a budget: 422 `budget_exceeded`).
    fn admit<'a>(
        &'a self,
        principal: &'a Principal,
        call: &'a CallInfo<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Ticket>, ProxyError>>;
}

/// What an admitted call holds. Dropped without [`Ticket::settle`], it must release what it
/// holds (the request was cancelled before its outcome was known).
pub trait Ticket: Send + 'static {
    /// The call is over: book its real tokens and cost, release its slot.
    fn settle(self: Box<Self>, record: &RequestRecord);
}

/// Admits every call and holds nothing: the gateway without a state plane.
pub struct AdmitAll;

struct NoTicket;

impl Ticket for NoTicket {
    fn settle(self: Box<Self>, _record: &RequestRecord) {}
}

impl Admission for AdmitAll {
    fn admit<'a>(
        &'a self,
        _principal: &'a Principal,
        _call: &'a CallInfo<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Ticket>, ProxyError>> {
        Box::pin(std::future::ready(
            Ok(Box::new(NoTicket) as Box<dyn Ticket>),
        ))
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Success,
    Failure,
    /// The client went away first (a stream closed mid-way); tokens are those seen so far.
    Cancelled,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Success => "success",
            RequestStatus::Failure => "failure",
            RequestStatus::Cancelled => "cancelled",
        }
    }
}

/// One finished model request through the gateway: a row of the spend log.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// `x-litellm-call-id`.
    pub request_id: String,
    pub route: RouteKind,
    /// When the request arrived.
    pub started_at: Micros,
    pub principal: Arc<Principal>,
    /// The request's `user` field.
    pub end_user: Option<String>,
    /// The model group asked for.
    pub model_group: String,
    /// The deployment that answered (`model_info.id`), if any did.
    pub deployment: Option<String>,
    /// The provider's model (`gpt-4o`) and provider (`openai`) that answered.
    pub model: Option<String>,
    pub provider: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// USD; `None` when the model has no known price.
    pub cost: Option<f64>,
    /// From arrival to the last byte sent.
    pub latency: Duration,
    /// Streams: from arrival to the first chunk.
    pub time_to_first_token: Option<Duration>,
    pub status: RequestStatus,
    /// The exception class of a failure (`RateLimitError`, ...).
    pub error: Option<&'static str>,
    /// The HTTP status answered.
    pub http_status: u16,
    /// The request's tags merged with the key's.
    pub tags: Vec<String>,
    pub stream: bool,
    /// Attempts the router made (retries, fallbacks), when more than one.
    pub attempts: u32,
}

/// Where finished requests go (the spend log). `record` must not block or wait on I/O:
/// queue and write behind, bounded, counting what had to be dropped. Every model request
/// is handed over, also with `general_settings.disable_spend_logs` (then write no log
/// row, but still book the spend).
pub trait SpendSink: Send + Sync + 'static {
    fn record(&self, record: RequestRecord);
    /// Write out everything queued, within `grace` (graceful shutdown).
    fn flush(&self, grace: Duration) -> BoxFuture<'_, ()>;
    /// Records dropped because the queue was full (exported in `/metrics`).
    fn dropped(&self) -> u64 {
        0
    }
    /// Records accepted and not written yet (exported in `/metrics`).
    fn pending(&self) -> u64 {
        0
    }
    /// Requests admitted against one replica's own limits because the shared counters'
    /// Redis failed (exported in `/metrics`).
    fn degraded_admissions(&self) -> u64 {
        0
    }
}

/// Records nothing: the gateway without a state plane.
pub struct NoSpendLog;

impl SpendSink for NoSpendLog {
    fn record(&self, _record: RequestRecord) {}
    fn flush(&self, _grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// `GET /health/readiness`: whether the state plane's storage is reachable.
pub trait Readiness: Send + Sync + 'static {
    /// `Err(reason)` when not ready.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
    /// What to show as `db` in the readiness body (`"connected"`, `"Not connected"`).
    fn describe(&self) -> &'static str {
        "connected"
    }
}

/// Everything the state plane provides, with the gateway's defaults (master key only,
/// admit everything, record nothing, no storage, no admin routes).
#[derive(Clone)]
pub struct Hooks {
    pub authenticator: Arc<dyn super::auth::Authenticator>,
    pub admission: Arc<dyn Admission>,
    pub spend: Arc<dyn SpendSink>,
    pub readiness: Option<Arc<dyn Readiness>>,
    /// The admin plane's routes (`/key/*`, ...) by [`RouteKind`] (normally
    /// [`RouteKind::Admin`]): the gateway wraps each group with [`super::protect`] for its
    /// kind and merges it into the app. Handlers get `Extension<Arc<Principal>>`.
    pub admin_routes: Vec<(RouteKind, axum::Router)>,
}

impl Hooks {
    /// Master-key auth (or none, without a master key) and nothing else.
    pub fn master_key_only(master_key: Option<secrecy::SecretString>) -> Self {
        Hooks {
            authenticator: Arc::new(super::auth::MasterKeyAuth::new(master_key)),
            admission: Arc::new(AdmitAll),
            spend: Arc::new(NoSpendLog),
            readiness: None,
            admin_routes: Vec::new(),
        }
    }
}
