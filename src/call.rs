//! The call pipeline shared by `completion`, `acompletion`, streaming, the router and the
//! proxy: [`prepare`] does every check that needs no network (provider, key, messages,
//! params) and builds the request bytes; [`execute`] / [`execute_stream`] send it, with
//! timeouts and retries, and translate the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::budget::{self, Admission, ModelNames, Reservation};
use crate::cost::{self, CustomPricing};
use crate::error::LlmError;
use crate::http::{self, HttpClient, DEFAULT_TIMEOUT};
use crate::model_id;
use crate::params::{enforce_supported, normalize_messages, validate_messages};
use crate::providers::{self, mock, HttpRequest, Target, TargetOptions};
use crate::spend::track::{record_unsent, CallTracker};
use crate::spend::{clock, CallMetadata};
use crate::stream::ChunkStream;
use crate::types::{ChatRequest, ChatResponse, StreamOptions, Usage};

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
    let id = model_id::resolve(model, custom_llm_provider)?;
    let provider = providers::get(&id.provider)
        .ok_or_else(|| LlmError::bad_request(format!("Unknown provider '{}'", id.provider)))?;
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
    let mut retries = 0;
    loop {
        match send_once(client, call).await {
            Ok((response, headers)) => {
                let mut meta = meta(call, headers, started, retries);
                meta.cost = response_cost(call, &meta, &response);
                return Ok(Completion { response, meta });
            }
            Err(e) if retries < call.options.num_retries && e.is_retryable() => {
                tokio::time::sleep(backoff(retries, e.retry_after)).await;
                retries += 1;
            }
            Err(e) => return Err(e),
        }
    }
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
    let mut retries = 0;
    loop {
        match open_stream(client, call).await {
            Ok((stream, headers)) => return Ok((stream, meta(call, headers, started, retries))),
            Err(e) if retries < call.options.num_retries && e.is_retryable() => {
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
        provider: call.provider().to_owned(),
        model: call.target.model.clone(),
        api_base: call.target.api_base.clone(),
        headers,
        latency: started.elapsed(),
        retries,
        cost: None,
        custom_pricing: call.options.custom_pricing,
        downgraded_from: call.downgraded_from.clone(),
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

async fn authorized_request(
    call: &PreparedCall,
    http: &HttpRequest,
) -> Result<HttpRequest, LlmError> {
    let mut req = http.clone();
    let auth = call
        .target
        .provider
        .authorize(&call.target)
        .await
        .map_err(|e| call.target.annotate(e))?;
    req.headers.extend(auth);
    Ok(req)
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
    let timeout = call.timeout();
    let host = http::host_of(&http.url);
    let exchange = async {
        let req = authorized_request(call, http).await?;
        let response = client.post(req).await.map_err(|e| target.annotate(e))?;
        let status = response.status().as_u16();
        let headers = kept_headers(response.headers());
        let response_headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| target.annotate(http::transport_error(&e, host)))?;
        if !(200..300).contains(&status) {
            return Err(target
                .provider
                .parse_error(status, &response_headers, &body, target));
        }
        let parsed = target
            .provider
            .parse_response(&body, target)
            .map_err(|e| target.annotate(e))?;
        Ok((parsed, headers))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(target.annotate(http::timeout_error(timeout, host))),
    }
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
    let exchange = async {
        let req = authorized_request(call, http).await?;
        let response = client.post(req).await.map_err(|e| target.annotate(e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| target.annotate(http::transport_error(&e, host)))?;
            return Err(target.provider.parse_error(status, &headers, &body, target));
        }
        let headers = kept_headers(response.headers());
        let parser = target.provider.stream_parser(target, call.include_usage);
        let stream = ChunkStream::from_http(
            response,
            target.provider.stream_format(),
            parser,
            target,
            call.include_usage,
            timeout,
        );
        Ok((stream, headers))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(target.annotate(http::timeout_error(timeout, host))),
    }
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
