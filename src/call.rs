//! The call pipeline shared by `completion`, `acompletion`, streaming, embeddings, the router
//! and the proxy: [`prepare`] (or [`prepare_embedding`]) does every check that needs no
//! network (provider, key, messages or input, params) and builds the request bytes;
//! [`execute`] / [`execute_stream`] / [`execute_embedding`] send it, with timeouts and
//! retries (one `exchange` and one retry loop for all of them), and translate the answer.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::budget::{self, Admission, ModelNames, Reservation};
use crate::cost::{self, CustomPricing};
use crate::error::LlmError;
use crate::http::{self, HttpClient, DEFAULT_TIMEOUT};
use crate::model_id::{self, ModelId};
use crate::params::{
    enforce_supported, enforce_supported_embedding, normalize_messages, validate_messages,
};
use crate::providers::{self, mock, HttpRequest, Provider, Target, TargetOptions};
use crate::spend::track::{record_unsent, CallTracker};
use crate::spend::{clock, CallMetadata};
use crate::stream::ChunkStream;
use crate::types::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, InputItem,
    StreamOptions, Usage,
};

/// How to run a call (as opposed to what to ask, which is the [`ChatRequest`]).
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub stream: bool,
    /// Total time for a non-streaming call; for a stream, the wait for the response and
    /// for each chunk. Default [`DEFAULT_TIMEOUT`].
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
}

/// A call that passed every local check, ready to send (any number of times).
#[derive(Debug, Clone)]
pub struct PreparedCall {
    pub target: Target,
    pub request: ChatRequest,
    /// `None` when the mock answers.
    pub http: Option<HttpRequest>,
    pub options: CallOptions,
    /// Whether the caller asked for the final usage chunk.
    pub include_usage: bool,
    /// Parameters removed by `drop_params`.
    pub dropped_params: Vec<&'static str>,
    /// The call's projected cost, held against the budgets that apply to it until the
    /// call settles (shared by clones; released when the last one is dropped).
    pub reservation: Option<Arc<Reservation>>,
    /// Set when a budget downgraded the call: the model string asked for.
    pub downgraded_from: Option<String>,
}

impl PreparedCall {
    pub fn provider(&self) -> &str {
        self.target.provider_name()
    }

    fn timeout(&self) -> Duration {
        self.options.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// What came back besides the response: where it went and what it took.
#[derive(Debug, Clone, Default)]
pub struct ResponseMeta {
    pub provider: String,
    pub model: String,
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
}

impl ResponseMeta {
    /// The cost of `usage` for this call's provider and model (custom prices win).
    pub fn cost_of(&self, usage: &Usage) -> Option<f64> {
        cost::call_cost(
            &self.provider,
            &self.model,
            usage,
            self.custom_pricing.as_ref(),
        )
    }
}

/// A finished non-streaming call.
#[derive(Debug, Clone)]
pub struct Completion {
    pub response: ChatResponse,
    pub meta: ResponseMeta,
}

/// The provider of a model string, or a `BadRequestError` for an unknown one.
fn resolve_provider(
    model: &str,
    custom_llm_provider: Option<&str>,
) -> Result<(ModelId, Arc<dyn Provider>), LlmError> {
    let id = model_id::resolve(model, custom_llm_provider)?;
    let provider = providers::get(&id.provider)
        .ok_or_else(|| LlmError::bad_request(format!("Unknown provider '{}'", id.provider)))?;
    Ok((id, provider))
}

/// Check and translate a call without touching the network, and admit it against the
/// budgets that apply to it (which may refuse it, or switch it to a cheaper model).
///
/// `model` is the caller's model string (`provider/model` or a bare name). Fails fast with
/// `BadRequestError` (unknown provider, malformed messages), `AuthenticationError` (missing
/// key), `UnsupportedParamsError` or `BudgetExceededError`. A failure is recorded in the
/// spend ledger.
pub fn prepare(
    model: &str,
    custom_llm_provider: Option<&str>,
    request: ChatRequest,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<PreparedCall, LlmError> {
    let budgets = budget::global();
    let (stream, metadata) = (options.stream, options.metadata.clone());
    let deployment = options.deployment.clone();
    let unsent = |e: &LlmError| {
        record_unsent(
            e.model.as_deref().unwrap_or(model),
            e.provider.as_deref().unwrap_or_default(),
            stream,
            metadata.clone(),
            deployment.clone(),
            e,
        )
    };
    let Some(may_downgrade) = budgets.applies_to(metadata.as_deref()) else {
        return prepare_checked(model, custom_llm_provider, request, target_opts, options)
            .inspect_err(unsent);
    };
    // Kept for a downgrade, which prepares the call again on another model.
    let retry = may_downgrade.then(|| (request.clone(), options.clone()));
    let call = prepare_checked(model, custom_llm_provider, request, target_opts, options)
        .inspect_err(unsent)?;
    let admitted = match (admit(budgets, model, call, retry.is_some()), retry) {
        (Ok(Ok(call)), _) => Ok(call),
        (Ok(Err(to)), Some((request, options))) => {
            prepare_checked(&to, None, request, target_opts, options).and_then(|mut call| {
                call.downgraded_from = Some(model.to_owned());
                match admit(budgets, &to, call, false)? {
                    Ok(call) => Ok(call),
                    Err(again) => Err(LlmError::bad_request(format!(
                        "Budget downgrade from '{model}' to '{to}' asked for another downgrade, to '{again}'"
                    ))),
                }
            })
        }
        (Ok(Err(to)), None) => Err(LlmError::bad_request(format!(
            "A budget asked to downgrade '{model}' to '{to}' after the call was prepared without one"
        ))),
        (Err(e), _) => Err(e),
    };
    admitted.inspect_err(unsent)
}

/// Reserve `call`'s projected cost against its budgets: the call (with its reservation),
/// or the model a budget wants it downgraded to.
fn admit(
    budgets: &Arc<budget::BudgetRegistry>,
    requested: &str,
    mut call: PreparedCall,
    allow_downgrade: bool,
) -> Result<Result<PreparedCall, String>, LlmError> {
    let projected = budget::projected_cost(
        call.provider(),
        &call.target.model,
        &call.request,
        call.options.custom_pricing.as_ref(),
    );
    let names = ModelNames {
        requested,
        provider: call.target.provider_name(),
        model: &call.target.model,
    };
    match budgets.admit(
        clock::now(),
        call.options.metadata.as_deref(),
        names,
        projected,
        allow_downgrade,
    )? {
        Admission::Admitted(reservation) => {
            call.reservation = reservation.map(Arc::new);
            Ok(Ok(call))
        }
        Admission::Downgrade { to, .. } => Ok(Err(to)),
    }
}

/// [`prepare`] without budgets.
fn prepare_checked(
    model: &str,
    custom_llm_provider: Option<&str>,
    mut request: ChatRequest,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<PreparedCall, LlmError> {
    let (id, provider) = resolve_provider(model, custom_llm_provider)?;
    validate_messages(&request.messages).map_err(|e| e.context(&id.provider, &id.model))?;
    normalize_messages(&mut request.messages);

    let is_mock = options.mock.is_some() || id.provider == "mock";
    let target = if is_mock {
        mock::mock_target(provider.clone(), &id.model, target_opts)
    } else {
        provider.clone().resolve_target(&id.model, target_opts)?
    };
    // Gemini's thought signatures ride in tool-call ids; other APIs reject such ids.
    if !providers::gemini::takes_thought_signatures(target.provider_name(), &target.model) {
        providers::gemini::strip_thought_signatures(&mut request.messages);
    }

    let supported = provider.supported_params(&target.model);
    let include_usage = request
        .params
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    // stream_options is only meaningful (and only accepted by OpenAI) on streams.
    if !options.stream {
        request.params.stream_options = None;
    }
    let mut dropped = enforce_supported(
        &mut request.params,
        &supported,
        options.drop_params,
        &id.provider,
        &target.model,
    )?;
    dropped.extend(
        provider
            .check_params(&mut request, &target, options.drop_params)
            .map_err(|e| target.annotate(e))?,
    );
    if options.stream && supported.contains(&"stream_options") {
        // Always ask for usage so every stream can be costed; the chunk is hidden from the
        // caller unless they asked for it.
        request
            .params
            .stream_options
            .get_or_insert_with(StreamOptions::default)
            .include_usage = Some(true);
    }
    provider.adapt_request(&mut request, &target);
    request.model = target.model.clone();

    let http = if is_mock {
        None
    } else {
        Some(
            provider
                .build_request(&request, &target, options.stream)
                .map_err(|e| target.annotate(e))?,
        )
    };
    Ok(PreparedCall {
        target,
        request,
        http,
        options,
        include_usage,
        dropped_params: dropped,
        reservation: None,
        downgraded_from: None,
    })
}

/// Send a prepared call and return the full response. The call is recorded in the spend
/// ledger and its budget reservation settled, whatever the outcome (also when the future
/// is dropped before it finishes).
pub async fn execute(client: &HttpClient, call: &PreparedCall) -> Result<Completion, LlmError> {
    let tracker = CallTracker::start(call);
    let result = execute_untracked(client, call).await;
    match &result {
        Ok(done) => tracker.succeeded(&done.meta, done.response.usage.as_ref()),
        Err(e) => tracker.failed(e),
    }
    result
}

async fn execute_untracked(
    client: &HttpClient,
    call: &PreparedCall,
) -> Result<Completion, LlmError> {
    let started = Instant::now();
    let ((response, headers), retries) =
        with_retries(call.options.num_retries, || send_once(client, call)).await?;
    let mut meta = meta(call, headers, started, retries);
    meta.cost = response_cost(call, &meta, &response);
    Ok(Completion { response, meta })
}

/// Send a prepared streaming call; returns once the response headers arrived. The stream
/// is recorded in the spend ledger (and its budget reservation settled) when it is dropped.
pub async fn execute_stream(
    client: &HttpClient,
    call: &PreparedCall,
) -> Result<(ChunkStream, ResponseMeta), LlmError> {
    let tracker = CallTracker::start(call);
    match execute_stream_untracked(client, call).await {
        Ok((mut stream, meta)) => {
            tracker.follow_stream(&mut stream, &meta);
            Ok((stream, meta))
        }
        Err(e) => {
            tracker.failed(&e);
            Err(e)
        }
    }
}

async fn execute_stream_untracked(
    client: &HttpClient,
    call: &PreparedCall,
) -> Result<(ChunkStream, ResponseMeta), LlmError> {
    let started = Instant::now();
    let ((stream, headers), retries) =
        with_retries(call.options.num_retries, || open_stream(client, call)).await?;
    Ok((stream, meta(call, headers, started, retries)))
}

/// Run `attempt` until it succeeds, fails with an error that is not retryable, or
/// `num_retries` retries are spent, backing off in between. Returns the answer and the
/// number of retries made.
async fn with_retries<T, F, Fut>(num_retries: u32, mut attempt: F) -> Result<(T, u32), LlmError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Ok(answer) => return Ok((answer, retries)),
            Err(e) if retries < num_retries && e.is_retryable() => {
                tokio::time::sleep(backoff(retries, e.retry_after)).await;
                retries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The prompt's counted tokens when the stream will carry no usage (the provider does not
/// take `stream_options`), to estimate its cost at the end; `None` otherwise.
pub fn prompt_estimate(call: &PreparedCall) -> Option<u64> {
    let usage_requested = call.http.is_none()
        || call
            .request
            .params
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            == Some(true);
    if usage_requested {
        return None;
    }
    Some(crate::tokens::count_request_tokens(
        call.provider(),
        &call.target.model,
        &call.request,
    ))
}

/// Exponential backoff with jitter (0.5 s doubling to 8 s), or the provider's
/// `retry-after` (capped at 60 s) when it gave one.
pub fn backoff(attempt: u32, retry_after: Option<f64>) -> Duration {
    if let Some(secs) = retry_after {
        return Duration::from_secs_f64(secs.clamp(0.0, 60.0));
    }
    let base = (0.5 * 2f64.powi(attempt.min(4) as i32)).min(8.0);
    Duration::from_secs_f64(base * (0.75 + fastrand::f64() * 0.5))
}

fn meta(
    call: &PreparedCall,
    headers: Vec<(String, String)>,
    started: Instant,
    retries: u32,
) -> ResponseMeta {
    ResponseMeta {
        downgraded_from: call.downgraded_from.clone(),
        ..base_meta(&call.target, &call.options, headers, started, retries)
    }
}

fn base_meta(
    target: &Target,
    options: &CallOptions,
    headers: Vec<(String, String)>,
    started: Instant,
    retries: u32,
) -> ResponseMeta {
    ResponseMeta {
        provider: target.provider_name().to_owned(),
        model: target.model.clone(),
        api_base: target.api_base.clone(),
        headers,
        latency: started.elapsed(),
        retries,
        cost: None,
        custom_pricing: options.custom_pricing,
        ..Default::default()
    }
}

/// The cost of a response, from its usage or, when the provider sent none, from counted
/// tokens (prompt from the request, completion from the reply text).
fn response_cost(call: &PreparedCall, meta: &ResponseMeta, response: &ChatResponse) -> Option<f64> {
    if let Some(usage) = &response.usage {
        return meta.cost_of(usage);
    }
    let (provider, model) = (meta.provider.as_str(), meta.model.as_str());
    let prompt = crate::tokens::count_request_tokens(provider, model, &call.request);
    let completion: u64 = response
        .choices
        .iter()
        .map(|c| {
            let text = c.message.content.as_deref().unwrap_or_default();
            let calls: u64 = c
                .message
                .tool_calls
                .iter()
                .flatten()
                .map(|t| crate::tokens::count_text_tokens(provider, model, &t.function.arguments))
                .sum();
            crate::tokens::count_text_tokens(provider, model, text) + calls
        })
        .sum();
    meta.cost_of(&Usage::new(prompt, completion))
}

/// The response headers worth keeping: rate limits and request ids.
fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n.contains("ratelimit")
                || n == "retry-after"
                || n.ends_with("request-id")
                || n == "openai-processing-ms"
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

async fn authorized_request(target: &Target, http: &HttpRequest) -> Result<HttpRequest, LlmError> {
    let mut req = http.clone();
    let auth = target
        .provider
        .authorize(target, http)
        .await
        .map_err(|e| target.annotate(e))?;
    req.headers.extend(auth);
    Ok(req)
}

/// One request of any kind under the call's timeout: authorize, POST, map a non-2xx answer
/// with the provider's `parse_error`, and hand a success to `on_success` (which reads and
/// parses the body, or keeps the response open as a stream). Returns what `on_success`
/// made and the response headers worth keeping.
async fn exchange<T, F, Fut>(
    client: &HttpClient,
    target: &Target,
    http: &HttpRequest,
    timeout: Duration,
    host: &str,
    on_success: F,
) -> Result<(T, Vec<(String, String)>), LlmError>
where
    F: FnOnce(reqwest::Response) -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let exchange = async {
        let req = authorized_request(target, http).await?;
        let response = client.post(req).await.map_err(|e| target.annotate(e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let headers = response.headers().clone();
            let body = read_body(response, target, host).await?;
            return Err(target.provider.parse_error(status, &headers, &body, target));
        }
        let headers = kept_headers(response.headers());
        Ok((on_success(response).await?, headers))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(target.annotate(http::timeout_error(timeout, host))),
    }
}

async fn read_body(
    response: reqwest::Response,
    target: &Target,
    host: &str,
) -> Result<bytes::Bytes, LlmError> {
    response
        .bytes()
        .await
        .map_err(|e| target.annotate(http::transport_error(&e, host)))
}

async fn send_once(
    client: &HttpClient,
    call: &PreparedCall,
) -> Result<(ChatResponse, Vec<(String, String)>), LlmError> {
    let Some(http) = &call.http else {
        let spec = call.options.mock.clone().unwrap_or_default();
        if let Some(d) = spec.delay {
            tokio::time::sleep(d).await;
        }
        let resp = mock::respond(&call.request, &spec).map_err(|e| call.target.annotate(e))?;
        return Ok((resp, Vec::new()));
    };
    let target = &call.target;
    let host = http::host_of(&http.url);
    exchange(
        client,
        target,
        http,
        call.timeout(),
        host,
        |response| async {
            let body = read_body(response, target, host).await?;
            target
                .provider
                .parse_response(&body, target)
                .map_err(|e| target.annotate(e))
        },
    )
    .await
}

async fn open_stream(
    client: &HttpClient,
    call: &PreparedCall,
) -> Result<(ChunkStream, Vec<(String, String)>), LlmError> {
    let Some(http) = &call.http else {
        let spec = call.options.mock.clone().unwrap_or_default();
        let chunks = mock::chunks(&call.request, &spec).map_err(|e| call.target.annotate(e))?;
        return Ok((
            ChunkStream::from_chunks(chunks, call.include_usage, spec.delay),
            Vec::new(),
        ));
    };
    let target = &call.target;
    let timeout = call.timeout();
    let host = http::host_of(&http.url);
    exchange(client, target, http, timeout, host, |response| async move {
        let parser = target.provider.stream_parser(target, call.include_usage);
        Ok(ChunkStream::from_http(
            response,
            target.provider.stream_format(),
            parser,
            target,
            call.include_usage,
            timeout,
        ))
    })
    .await
}

/// Convenience for Rust callers and tests: prepare and execute in one go.
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

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

/// An embeddings call that passed every local check, ready to send (any number of times).
#[derive(Debug, Clone)]
pub struct PreparedEmbedding {
    pub target: Target,
    pub request: EmbeddingRequest,
    /// `None` when the mock answers.
    pub http: Option<HttpRequest>,
    pub options: CallOptions,
    /// Parameters removed by `drop_params`.
    pub dropped_params: Vec<&'static str>,
    /// The call's projected cost, held against the budgets that apply to it until the
    /// call settles.
    pub reservation: Option<Arc<Reservation>>,
}

impl PreparedEmbedding {
    pub fn provider(&self) -> &str {
        self.target.provider_name()
    }
}

/// A finished embeddings call.
#[derive(Debug, Clone)]
pub struct EmbeddingCompletion {
    pub response: EmbeddingResponse,
    pub meta: ResponseMeta,
}

/// Check and translate an embeddings call without touching the network, and admit it
/// against the budgets that apply to it (an embedding is never downgraded: a budget's
/// downgrade target is a chat model).
///
/// Fails fast with `BadRequestError` (unknown provider, a provider without embeddings, no or
/// empty input, `stream=True`), `AuthenticationError` (missing key),
/// `UnsupportedParamsError` (`dimensions` where the host or model rejects it, unless
/// `drop_params`) or `BudgetExceededError`. A failure is recorded in the spend ledger.
pub fn prepare_embedding(
    model: &str,
    custom_llm_provider: Option<&str>,
    request: EmbeddingRequest,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<PreparedEmbedding, LlmError> {
    let (metadata, deployment) = (options.metadata.clone(), options.deployment.clone());
    let unsent = |e: &LlmError| {
        record_unsent(
            e.model.as_deref().unwrap_or(model),
            e.provider.as_deref().unwrap_or_default(),
            false,
            metadata.clone(),
            deployment.clone(),
            e,
        )
    };
    let mut call =
        prepare_embedding_checked(model, custom_llm_provider, request, target_opts, options)
            .inspect_err(unsent)?;
    let budgets = budget::global();
    if budgets.applies_to(metadata.as_deref()).is_none() {
        return Ok(call);
    }
    // The input is all an embedding bills.
    let projected = cost::call_cost(
        call.provider(),
        &call.target.model,
        &counted_embedding_usage(&call),
        call.options.custom_pricing.as_ref(),
    )
    .unwrap_or(0.0);
    let names = ModelNames {
        requested: model,
        provider: call.provider(),
        model: &call.target.model,
    };
    match budgets
        .admit(clock::now(), metadata.as_deref(), names, projected, false)
        .inspect_err(unsent)?
    {
        Admission::Admitted(reservation) => {
            call.reservation = reservation.map(Arc::new);
            Ok(call)
        }
        Admission::Downgrade { to, .. } => {
            let e = LlmError::bad_request(format!(
                "A budget asked to downgrade the embedding model '{model}' to '{to}'; embeddings are not downgraded"
            ));
            unsent(&e);
            Err(e)
        }
    }
}

/// [`prepare_embedding`] without budgets.
fn prepare_embedding_checked(
    model: &str,
    custom_llm_provider: Option<&str>,
    mut request: EmbeddingRequest,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<PreparedEmbedding, LlmError> {
    let (id, provider) = resolve_provider(model, custom_llm_provider)?;
    if !provider.supports_embeddings() {
        return Err(providers::no_embeddings_error(&id.provider, &id.model));
    }
    let local_error =
        |message: String| LlmError::bad_request(message).context(&id.provider, &id.model);
    if let Some(problem) = request.input.problem() {
        return Err(local_error(format!(
            "{problem}: embeddings need at least one non-empty input"
        )));
    }
    if options.stream {
        return Err(local_error(
            "Embeddings do not stream: remove stream=True".to_owned(),
        ));
    }
    if request.dimensions == Some(0) {
        return Err(local_error(
            "dimensions must be a positive integer".to_owned(),
        ));
    }
    let is_mock = options.mock.is_some() || id.provider == "mock";
    let target = if is_mock {
        mock::mock_target(provider.clone(), &id.model, target_opts)
    } else {
        provider.clone().resolve_target(&id.model, target_opts)?
    };
    let supported = provider.embedding_params(&target.model);
    let dropped = enforce_supported_embedding(
        &mut request,
        &supported,
        options.drop_params,
        &id.provider,
        &target.model,
    )?;
    request.model = target.model.clone();
    let http = if is_mock {
        None
    } else {
        Some(
            provider
                .build_embedding_request(&request, &target)
                .map_err(|e| target.annotate(e))?,
        )
    };
    Ok(PreparedEmbedding {
        target,
        request,
        http,
        options,
        dropped_params: dropped,
        reservation: None,
    })
}

/// Send a prepared embeddings call (with the same timeout, retries and error mapping as a
/// chat call) and cost it. A response without `usage` gets counted tokens, so that it is
/// always OpenAI's shape and always costed. The call is recorded in the spend ledger and
/// its budget reservation settled, whatever the outcome.
pub async fn execute_embedding(
    client: &HttpClient,
    call: &PreparedEmbedding,
) -> Result<EmbeddingCompletion, LlmError> {
    let tracker = CallTracker::start_embedding(call);
    let result = execute_embedding_untracked(client, call).await;
    match &result {
        Ok(done) => tracker.succeeded(&done.meta, done.response.usage.as_ref()),
        Err(e) => tracker.failed(e),
    }
    result
}

async fn execute_embedding_untracked(
    client: &HttpClient,
    call: &PreparedEmbedding,
) -> Result<EmbeddingCompletion, LlmError> {
    let started = Instant::now();
    let ((mut response, headers), retries) = with_retries(call.options.num_retries, || {
        send_embedding_once(client, call)
    })
    .await?;
    let mut meta = base_meta(&call.target, &call.options, headers, started, retries);
    if response.model.is_empty() {
        response.model.clone_from(&call.target.model);
    }
    // Hosts without base64 (Gemini) answer floats: convert them, as the caller asked.
    if call.request.encoding_format == Some(crate::types::EncodingFormat::Base64) {
        for e in &mut response.data {
            let vector = std::mem::replace(&mut e.embedding, EmbeddingVector::Float(Vec::new()));
            e.embedding = vector.into_base64();
        }
    }
    let usage = response
        .usage
        .get_or_insert_with(|| counted_embedding_usage(call));
    meta.cost = meta.cost_of(usage);
    Ok(EmbeddingCompletion { response, meta })
}

/// The input's tokens as [`crate::tokens`] counts them (token ids count as themselves).
fn counted_embedding_usage(call: &PreparedEmbedding) -> Usage {
    let (provider, model) = (call.provider(), call.target.model.as_str());
    let prompt = call
        .request
        .input
        .items()
        .iter()
        .map(|item| match item {
            InputItem::Text(t) => crate::tokens::count_text_tokens(provider, model, t),
            InputItem::Tokens(ids) => ids.len() as u64,
        })
        .sum();
    Usage::new(prompt, 0)
}

async fn send_embedding_once(
    client: &HttpClient,
    call: &PreparedEmbedding,
) -> Result<(EmbeddingResponse, Vec<(String, String)>), LlmError> {
    let target = &call.target;
    let Some(http) = &call.http else {
        let spec = call.options.mock.clone().unwrap_or_default();
        if let Some(d) = spec.delay {
            tokio::time::sleep(d).await;
        }
        // `mock_response=` on a real model answers with that model's vector size.
        let dims = crate::catalog::model_info(target.provider_name(), &target.model)
            .and_then(|i| i.output_vector_size)
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(mock::DEFAULT_MOCK_DIMENSIONS);
        let resp = mock::embed(&call.request, &spec, dims).map_err(|e| target.annotate(e))?;
        return Ok((resp, Vec::new()));
    };
    let timeout = call.options.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let host = http::host_of(&http.url);
    exchange(client, target, http, timeout, host, |response| async {
        let body = read_body(response, target, host).await?;
        target
            .provider
            .parse_embedding_response(&body, target)
            .map_err(|e| target.annotate(e))
    })
    .await
}

/// Convenience for Rust callers and tests: prepare and execute an embeddings call.
pub async fn embedding(
    client: &HttpClient,
    model: &str,
    request: EmbeddingRequest,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<EmbeddingCompletion, LlmError> {
    let call = prepare_embedding(model, None, request, target_opts, options)?;
    execute_embedding(client, &call).await
}

#[cfg(test)]
mod embedding_tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::mock_server::{MockServer, Scripted, ScriptedBody};
    use crate::types::{EmbeddingInput, EmbeddingVector, EncodingFormat};
    use secrecy::SecretString;
    use serde_json::json;

    fn opts(server: &MockServer) -> TargetOptions {
        TargetOptions {
            api_key: Some(SecretString::from("sk-test")),
            api_base: Some(format!("{}/v1", server.url())),
            ..Default::default()
        }
    }

    fn floats(v: &EmbeddingVector) -> &[f64] {
        match v {
            EmbeddingVector::Float(f) => f,
            EmbeddingVector::Base64(_) => panic!("floats expected"),
        }
    }

    #[tokio::test]
    async fn openai_wire_format_and_cost() {
        let server = MockServer::start(0).await.unwrap();
        let client = HttpClient::new().unwrap();
        let mut req = EmbeddingRequest::new("x", vec!["hello world", "bye"]);
        req.dimensions = Some(4);
        req.extra.insert("input_type".into(), json!("query"));
        let done = embedding(
            &client,
            "openai/text-embedding-3-small",
            req,
            &opts(&server),
            CallOptions::default(),
        )
        .await
        .unwrap();
        let sent = &server.requests()[0];
        assert_eq!(sent.path, "/v1/embeddings");
        assert_eq!(
            sent.body,
            json!({"model": "text-embedding-3-small", "input": ["hello world", "bye"],
                   "dimensions": 4, "input_type": "query"})
        );
        assert!(sent
            .headers
            .contains(&("authorization".into(), "Bearer sk-test".into())));
        let r = &done.response;
        assert_eq!(r.data.len(), 2);
        assert_eq!(floats(&r.data[1].embedding).len(), 4);
        let usage = r.usage.as_ref().unwrap();
        assert!(usage.prompt_tokens > 0);
        let price = crate::catalog::model_info("openai", "text-embedding-3-small")
            .unwrap()
            .input_cost_per_token
            .unwrap();
        let cost = done.meta.cost.unwrap();
        assert!(
            (cost - usage.prompt_tokens as f64 * price).abs() < 1e-15,
            "{cost}"
        );
        assert_eq!(done.meta.provider, "openai");
    }

    #[tokio::test]
    async fn local_checks_fail_before_any_request() {
        let server = MockServer::start(0).await.unwrap();
        let prep = |model: &str, req: EmbeddingRequest, options: CallOptions| {
            prepare_embedding(model, None, req, &opts(&server), options)
        };
        // A provider without embeddings, named, even without a key.
        let e = prepare_embedding(
            "groq/llama-3.3-70b-versatile",
            None,
            EmbeddingRequest::new("x", "hi"),
            &TargetOptions::default(),
            CallOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(
            e.message.contains("'groq' has no embeddings"),
            "{}",
            e.message
        );
        assert!(e.message.contains("openai"), "{}", e.message);
        let e = prep(
            "openai/text-embedding-3-small",
            EmbeddingRequest::new("x", EmbeddingInput::Texts(vec![])),
            CallOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(e.message.contains("empty list"), "{}", e.message);
        // ada-002 cannot shorten its vectors; drop_params drops the parameter.
        let mut req = EmbeddingRequest::new("x", "hi");
        req.dimensions = Some(64);
        let e = prep(
            "openai/text-embedding-ada-002",
            req.clone(),
            CallOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedParams);
        assert!(e.message.contains("dimensions"), "{}", e.message);
        let call = prep(
            "openai/text-embedding-ada-002",
            req.clone(),
            CallOptions {
                drop_params: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(call.dropped_params, vec!["dimensions"]);
        assert_eq!(call.request.dimensions, None);
        // Mistral takes no dimensions at all.
        assert_eq!(
            prep("mistral/mistral-embed", req.clone(), CallOptions::default())
                .unwrap_err()
                .kind,
            ErrorKind::UnsupportedParams
        );
        assert!(prep("openai/text-embedding-3-large", req, CallOptions::default()).is_ok());
        let e = prep(
            "openai/text-embedding-3-large",
            EmbeddingRequest::new("x", "hi"),
            CallOptions {
                stream: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.message.contains("do not stream"), "{}", e.message);
        assert_eq!(server.hits(), 0);
    }

    #[tokio::test]
    async fn errors_map_and_retryable_ones_retry() {
        let server = MockServer::start(0).await.unwrap();
        let client = HttpClient::new().unwrap();
        server.enqueue(Scripted {
            status: 429,
            headers: vec![("retry-after".into(), "0".into())],
            body: ScriptedBody::Json(
                json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}),
            ),
            delay: None,
        });
        let call = prepare_embedding(
            "openai/text-embedding-3-small",
            None,
            EmbeddingRequest::new("x", "hi"),
            &opts(&server),
            CallOptions {
                num_retries: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let done = execute_embedding(&client, &call).await.unwrap();
        assert_eq!(done.meta.retries, 1);
        assert_eq!(server.hits(), 2);

        server.enqueue(Scripted {
            status: 401,
            body: ScriptedBody::Json(
                json!({"error": {"message": "Incorrect API key provided: sk-test", "type": "invalid_request_error", "code": "invalid_api_key"}}),
            ),
            ..Default::default()
        });
        let e = execute_embedding(&client, &call).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(e.status_code, 401);
        assert!(!e.message.contains("sk-test"), "{}", e.message);
        assert_eq!(e.provider.as_deref(), Some("openai"));
    }

    #[tokio::test]
    async fn missing_usage_is_counted_and_base64_kept() {
        let server = MockServer::start(0).await.unwrap();
        let client = HttpClient::new().unwrap();
        server.enqueue(Scripted {
            status: 200,
            body: ScriptedBody::Json(json!({"object": "list", "data": [
                {"object": "embedding", "index": 1, "embedding": "AAAAPw=="},
                {"object": "embedding", "index": 0, "embedding": "AACAPw=="}]})),
            ..Default::default()
        });
        let mut req = EmbeddingRequest::new("x", vec!["hello", "world"]);
        req.encoding_format = Some(EncodingFormat::Base64);
        let done = embedding(
            &client,
            "openai/text-embedding-3-small",
            req,
            &opts(&server),
            CallOptions::default(),
        )
        .await
        .unwrap();
        let r = &done.response;
        assert_eq!(r.model, "text-embedding-3-small");
        // Back in input order.
        assert_eq!(
            r.data[0].embedding,
            EmbeddingVector::Base64("AACAPw==".into())
        );
        assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, 2);
        assert!(done.meta.cost.unwrap() > 0.0);
    }

    #[tokio::test]
    async fn mock_answers_offline_with_the_models_vector_size() {
        let client = HttpClient::new().unwrap();
        let mock_opts = CallOptions {
            mock: Some(mock::MockSpec::default()),
            ..Default::default()
        };
        let done = embedding(
            &client,
            "openai/text-embedding-3-small",
            EmbeddingRequest::new("x", "hi"),
            &TargetOptions::default(),
            mock_opts,
        )
        .await
        .unwrap();
        assert_eq!(floats(&done.response.data[0].embedding).len(), 1536);
        assert!(done.meta.cost.unwrap() > 0.0);
        let done = embedding(
            &client,
            "mock/any",
            EmbeddingRequest::new("x", "hi"),
            &TargetOptions::default(),
            CallOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            floats(&done.response.data[0].embedding).len(),
            mock::DEFAULT_MOCK_DIMENSIONS as usize
        );
        assert_eq!(done.meta.cost, Some(0.0));
    }
}
