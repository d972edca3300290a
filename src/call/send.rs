//! Send a prepared call: one `exchange` (authorize, POST under the call's timeout, map
//! error bodies) and one retry loop for chat, streams and embeddings; cost the answer; and
//! record every execution in the spend ledger.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::error::LlmError;
use crate::http::{self, HttpClient, HttpRequest};
use crate::providers::Target;
use crate::stream::{ChunkStream, PromptTokens};
use crate::types::ChatRequest;

use super::track::CallTracker;
use super::{cached, Done, PreparedCall, Request, ResponseMeta};

/// Send a prepared call and return the full answer (from the response cache, when its
/// plan reads and the answer is there; stored in it after, when its plan writes). The call
/// is recorded in the spend ledger and its budget reservation settled, whatever the outcome
/// (also when the future is dropped before it finishes).
pub async fn execute<R: Request>(
    client: &HttpClient,
    call: &PreparedCall<R>,
) -> Result<Done<R::Response>, LlmError> {
    let tracker = CallTracker::start(call);
    let (sent, cached) = match cached::lookup_prepared(call).await {
        cached::Found::Hit(hit) => {
            tracker.cache_hit(R::usage(&hit.response));
            return Ok(hit);
        }
        cached::Found::Part { narrowed, cached } => (Some(narrowed), Some(cached)),
        cached::Found::Miss => (None, None),
    };
    // Part in the cache: only the rest is sent (and costed, and recorded).
    let to_send = sent.as_deref().unwrap_or(call);
    let mut result = execute_untracked(client, to_send).await;
    match &mut result {
        Ok(done) => {
            tracker.succeeded(&done.meta, R::usage(&done.response));
            cached::store(to_send, &mut done.meta, &done.response);
        }
        Err(e) => tracker.failed(e),
    }
    match (result, cached) {
        (Ok(done), Some(cached)) => {
            let Done { response, mut meta } = done;
            meta.cache_key = call.cache.as_ref().map(|p| p.key().to_owned());
            match call.request.merged(cached, response) {
                Some(response) => Ok(Done { response, meta }),
                None => Err(LlmError::new(
                    crate::error::ErrorKind::Api,
                    "The provider answered a different number of embeddings than inputs sent",
                )),
            }
        }
        (result, _) => result,
    }
}

async fn execute_untracked<R: Request>(
    client: &HttpClient,
    call: &PreparedCall<R>,
) -> Result<Done<R::Response>, LlmError> {
    let started = Instant::now();
    let ((mut response, headers), retries) =
        with_retries(call.options.num_retries, || send_once(client, call)).await?;
    let mut meta = meta(call, headers, started, retries);
    R::finish(call, &mut response, &mut meta);
    Ok(Done { response, meta })
}

/// Send a prepared streaming call; returns once the response headers arrived (or at once,
/// replaying the chunks of a stream the response cache kept). The stream is recorded in the
/// spend ledger (and its budget reservation settled) when it is dropped, and stored in the
/// cache if its plan writes and it was read to the end.
pub async fn execute_stream(
    client: &HttpClient,
    call: &PreparedCall<ChatRequest>,
) -> Result<(ChunkStream, ResponseMeta), LlmError> {
    let tracker = CallTracker::start(call);
    if let Some(plan) = &call.cache {
        if let Some((stream, mut meta)) = cached::lookup_stream(plan, call.include_usage).await {
            meta.api_base = crate::redact::url_for_display(&call.target.api_base).into_owned();
            tracker.cache_hit(stream.pending_usage());
            return Ok((stream, meta));
        }
    }
    match execute_stream_untracked(client, call).await {
        Ok((mut stream, mut meta)) => {
            count_stream_usage(call, &mut stream);
            tracker.follow_stream(&mut stream, &meta);
            cached::record_stream(call, &mut stream, &mut meta);
            Ok((stream, meta))
        }
        Err(e) => {
            tracker.failed(&e);
            Err(e)
        }
    }
}

/// Let `stream` estimate its usage should the provider's never arrive: the prompt is
/// counted only then.
fn count_stream_usage(call: &PreparedCall<ChatRequest>, stream: &mut ChunkStream) {
    let (provider, model) = (call.provider().to_owned(), call.target.model.clone());
    let request = call.request.clone();
    let prompt = PromptTokens::Later(Box::new(move || {
        crate::tokens::count_request_tokens(&provider, &model, &request)
    }));
    stream.count_usage(call.provider(), &call.target.model, prompt);
}

async fn execute_stream_untracked(
    client: &HttpClient,
    call: &PreparedCall<ChatRequest>,
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
pub fn prompt_estimate(call: &PreparedCall<ChatRequest>) -> Option<u64> {
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

fn meta<R>(
    call: &PreparedCall<R>,
    headers: Vec<(String, String)>,
    started: Instant,
    retries: u32,
) -> ResponseMeta {
    let target = &call.target;
    ResponseMeta {
        provider: target.provider_name().to_owned(),
        model: target.model.clone(),
        api_base: crate::redact::url_for_display(&target.api_base).into_owned(),
        headers,
        latency: started.elapsed(),
        retries,
        cost: None,
        custom_pricing: call.options.custom_pricing,
        downgraded_from: call.downgraded_from.clone(),
        ..Default::default()
    }
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
        if (300..400).contains(&status) {
            return Err(target.annotate(http::redirect_error(status, response.headers(), host)));
        }
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
    http::read_body_capped(response, host)
        .await
        .map_err(|e| target.annotate(e))
}

/// One attempt: the mock's answer, or one exchange whose body the request kind parses.
async fn send_once<R: Request>(
    client: &HttpClient,
    call: &PreparedCall<R>,
) -> Result<(R::Response, Vec<(String, String)>), LlmError> {
    let target = &call.target;
    let Some(http) = &call.http else {
        let spec = call.options.mock.clone().unwrap_or_default();
        if let Some(d) = spec.delay {
            tokio::time::sleep(d).await;
        }
        let resp = R::mock_answer(call, &spec).map_err(|e| target.annotate(e))?;
        return Ok((resp, Vec::new()));
    };
    let host = http::host_of(&http.url);
    exchange(
        client,
        target,
        http,
        call.timeout(),
        host,
        |response| async {
            let body = read_body(response, target, host).await?;
            R::parse(target, &body).map_err(|e| target.annotate(e))
        },
    )
    .await
}

async fn open_stream(
    client: &HttpClient,
    call: &PreparedCall<ChatRequest>,
) -> Result<(ChunkStream, Vec<(String, String)>), LlmError> {
    let Some(http) = &call.http else {
        let spec = call.options.mock.clone().unwrap_or_default();
        let chunks = crate::providers::mock::chunks(&call.request, &spec)
            .map_err(|e| call.target.annotate(e))?;
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
        let scope = target.clone();
        Ok(ChunkStream::from_http(
            response,
            target.provider.stream_format(),
            parser,
            Box::new(move |e| scope.annotate(e)),
            call.include_usage,
            timeout,
        ))
    })
    .await
}
