//! The call pipeline shared by `completion`, `acompletion`, streaming, embeddings, the router
//! and the proxy. One path for chat and embeddings alike:
//!
//! - [`args`]: the front door. A call's arguments (Python keywords or gateway JSON), key by
//!   key, classified (OpenAI parameter, call option, credential, provider option, routing
//!   option) and read into typed slots, then turned into a [`Call`].
//! - [`prepare`] (`prepare.rs`): every check that needs no network (provider, key, messages
//!   or input, params), the translation into request bytes, and budget admission.
//! - [`execute`] / [`execute_stream`] (`send.rs`): send with timeouts and retries (one
//!   `exchange` and one retry loop), translate and cost the answer.
//! - [`track`]: the ledger's record of each execution, and budget settlement.
//! - [`cached`]: the response cache around `execute` (look up, store, replay streams).
//!
//! What differs between chat and embeddings is the [`Request`] trait (`request.rs`).

pub mod args;
pub mod cached;
pub mod defaults;
mod fallback;
mod prepare;
mod request;
mod send;
pub mod track;
pub mod words;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::cost::{self, CustomPricing};
use crate::error::LlmError;
use crate::http::HttpClient;
use crate::providers::{mock, TargetOptions};
use crate::spend::CallMetadata;
use crate::types::{ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Usage};

pub use args::{ArgError, ArgKind, Call, CallArgs, FromArgs, RoutingArgs};
pub use fallback::{execute_attempts, execute_stream_attempts};
pub use prepare::{prepare, PreparedCall, PreparedEmbedding};
pub use request::{Request, Translated};
pub use send::{backoff, execute, execute_stream, prompt_estimate};

/// How to run a call (as opposed to what to ask, which is the request).
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub stream: bool,
    /// Total time for a non-streaming call; for a stream, the wait for the response and
    /// for each chunk. Default [`crate::http::DEFAULT_TIMEOUT`].
    pub timeout: Option<Duration>,
    /// Retries of retryable failures (rate limits, timeouts, connection errors, 5xx).
    pub num_retries: u32,
    /// Drop unsupported parameters instead of failing.
    pub drop_params: bool,
    /// Answer from the mock provider instead of the network.
    pub mock: Option<mock::MockSpec>,
    /// Prices that override the catalogue's for this call's cost.
    pub custom_pricing: Option<CustomPricing>,
    /// Who the call is for (`metadata=`: user, project, key, tags): recorded in the spend
    /// ledger and matched by budgets.
    pub metadata: Option<Arc<CallMetadata>>,
    /// Router: the deployment serving the call, recorded in the spend ledger.
    pub deployment: Option<String>,
    /// The response cache, if the call may use one (`llmswitch.cache`, the gateway's), with
    /// the call's `caching=` / `cache={...}`.
    pub cache: crate::cache::CacheUse,
}

/// What came back besides the response: where it went and what it took.
#[derive(Debug, Clone, Default)]
pub struct ResponseMeta {
    pub provider: String,
    pub model: String,
    /// The base URL, with any user-info credentials masked (for display only).
    pub api_base: String,
    /// Rate-limit and request-id headers of the provider's response.
    pub headers: Vec<(String, String)>,
    /// Time until the full response (or, for streams, until the response headers).
    pub latency: Duration,
    /// Retries made before the answer.
    pub retries: u32,
    /// Router: the id of the deployment that answered.
    pub model_id: Option<String>,
    /// Router: the model group (`model_name`) the call asked for.
    pub model_group: Option<String>,
    /// Router: every attempt made (retries, fallbacks, hedges), in order.
    pub attempts: Vec<String>,
    /// What the call cost in USD; `None` when the model has no known price (or, for a
    /// stream, until it ends: see [`ResponseMeta::cost_of`]).
    pub cost: Option<f64>,
    /// The call's `custom_cost_per_token`, kept to cost a stream when it ends.
    pub custom_pricing: Option<CustomPricing>,
    /// Set when a budget downgraded the call: the model string asked for.
    pub downgraded_from: Option<String>,
    /// The answer came from the response cache (it cost nothing).
    pub cache_hit: bool,
    /// The cache key the answer is stored under, when the call used the cache.
    pub cache_key: Option<String>,
}

impl ResponseMeta {
    /// The cost of `usage` for this call's provider and model (custom prices win); zero
    /// for an answer from the cache.
    pub fn cost_of(&self, usage: &Usage) -> Option<f64> {
        if self.cache_hit {
            return Some(0.0);
        }
        cost::call_cost(
            &self.provider,
            &self.model,
            usage,
            self.custom_pricing.as_ref(),
        )
    }
}

/// A finished non-streaming call: the answer and what it took.
#[derive(Debug, Clone)]
pub struct Done<T> {
    pub response: T,
    pub meta: ResponseMeta,
}

/// A finished chat call.
pub type Completion = Done<ChatResponse>;
/// A finished embeddings call.
pub type EmbeddingCompletion = Done<EmbeddingResponse>;

/// Convenience for Rust callers and tests: prepare and execute a chat call in one go.
pub async fn completion(
    client: &HttpClient,
    model: &str,
    request: ChatRequest,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<Completion, LlmError> {
    let call = prepare(model, None, request, target_opts, options)?;
    execute(client, &call).await
}

/// Convenience for Rust callers and tests: prepare and execute an embeddings call.
pub async fn embedding(
    client: &HttpClient,
    model: &str,
    request: EmbeddingRequest,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<EmbeddingCompletion, LlmError> {
    let call = prepare(model, None, request, target_opts, options)?;
    execute(client, &call).await
}
