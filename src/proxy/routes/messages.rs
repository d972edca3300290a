//! `POST /v1/messages` and `/v1/messages/count_tokens`: the Anthropic Messages API in front
//! of any model group.
//!
//! A group served only by Anthropic's own API gets the request unchanged apart from the
//! model name and the key (so thinking signatures, cache control, server tools and beta
//! features all work), and the client gets Anthropic's answer unchanged. Any other group
//! gets it translated to the OpenAI format, routed like a chat completion, and the answer
//! translated back ([`crate::proxy::anthropic_api`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use super::sse::{self, Format};
use super::JsonBody;
use crate::call::ResponseMeta;
use crate::error::LlmError;
use crate::http::{HttpRequest, DEFAULT_TIMEOUT};
use crate::providers::anthropic::{self, AnthropicUsage};
use crate::proxy::anthropic_api::{self as translate, EventWriter, Thinking};
use crate::proxy::calls::{CallContext, Ending};
use crate::proxy::error::ProxyError;
use crate::proxy::hooks::RequestStatus;
use crate::proxy::principal::{Principal, RouteKind};
use crate::proxy::AppState;
use crate::router::{Answer, Deployment, Lease, OwnAnswer, Payload, RouterRequest};
use crate::types::ChatRequest;

type Body_ = Result<JsonBody<Map<String, Value>>, ProxyError>;

/// Client headers passed to Anthropic with the body.
const FORWARDED_HEADERS: &[&str] = &["anthropic-version", "anthropic-beta"];

fn group_of(body: &Map<String, Value>) -> Result<String, ProxyError> {
    match body.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => Ok(m.to_owned()),
        _ => Err(ProxyError::BadRequest {
            message: "model: field required (one of the model groups GET /v1/models lists)"
                .to_owned(),
            param: Some("model".to_owned()),
        }),
    }
}

fn members<'a>(state: &'a AppState, group: &'a str) -> impl Iterator<Item = &'a Arc<Deployment>> {
    state
        .router
        .deployments()
        .iter()
        .filter(move |d| d.model_group == group)
}

/// Whether every deployment of `group` is Anthropic's own API (then requests pass through).
fn native_anthropic(state: &AppState, group: &str) -> bool {
    let mut any = false;
    for d in members(state, group) {
        if d.provider != "anthropic" || d.mock.is_some() {
            return false;
        }
        any = true;
    }
    any
}

/// What to do with `thinking` for the group's models.
fn thinking_mode(state: &AppState, group: &str) -> Thinking {
    let Some(d) = members(state, group).next() else {
        return Thinking::Drop;
    };
    if d.provider_model.contains("claude") {
        return Thinking::Keep;
    }
    match crate::catalog::model_info(&d.provider, &d.provider_model) {
        Some(info) if info.supports_reasoning => Thinking::ReasoningEffort,
        _ => Thinking::Drop,
    }
}

fn end_user(body: &Map<String, Value>) -> Option<String> {
    body.get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub(super) async fn messages(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: Body_,
) -> Response {
    Box::pin(handle(state, principal, headers, body, Endpoint::Messages)).await
}

pub(super) async fn count_tokens(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: Body_,
) -> Response {
    Box::pin(handle(
        state,
        principal,
        headers,
        body,
        Endpoint::CountTokens,
    ))
    .await
}

/// Both routes: a group of Anthropic's own API gets the body passed through, any other
/// group a translation.
async fn handle(
    state: AppState,
    principal: Arc<Principal>,
    headers: HeaderMap,
    body: Body_,
    endpoint: Endpoint,
) -> Response {
    let mut ctx = CallContext::new(&state, principal, endpoint.route_kind());
    let body = match body {
        Ok(JsonBody(b)) => b,
        Err(e) => return ctx.fail(e),
    };
    let group = match group_of(&body) {
        Ok(g) => g,
        Err(e) => return ctx.fail(e),
    };
    if endpoint == Endpoint::CountTokens {
        if let Err(e) = ctx.check_model(&group) {
            return ctx.fail(e);
        }
    }
    if native_anthropic(&state, &group) {
        return Box::pin(passthrough(ctx, &state, &headers, body, group, endpoint)).await;
    }
    match endpoint {
        Endpoint::Messages => Box::pin(translated(ctx, &state, body, &group)).await,
        Endpoint::CountTokens => translated_count(ctx, &state, body, &group),
    }
}

/// A message translated to a chat completion and routed as one; the answer translated back.
async fn translated(
    mut ctx: CallContext,
    state: &AppState,
    body: Map<String, Value>,
    group: &str,
) -> Response {
    let openai = match translate::to_openai(body, thinking_mode(state, group)) {
        Ok(o) => o,
        Err(e) => return ctx.fail(e),
    };
    let req = match ctx.admit::<ChatRequest>(&openai).await {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    drop(openai);
    let answer = Box::pin(state.router.route(&state.client, &req)).await;
    translated_response(ctx, req, group, answer)
}

/// A translated call's answer in the Anthropic format (`group` is the model shown).
fn translated_response(
    ctx: CallContext,
    req: RouterRequest,
    group: &str,
    answer: Result<Answer, LlmError>,
) -> Response {
    let mut ctx = ctx;
    match answer {
        Ok(Answer::Full(done)) => {
            let message = translate::to_anthropic(&done.response, group);
            let usage = done.response.usage.clone();
            super::chat::json_response(ctx, &done, &message, usage.as_ref())
        }
        Ok(Answer::Stream(stream, meta, prompt)) => {
            let request = match req.payload {
                Payload::Chat(c) => Some(c),
                Payload::Embedding(_) => None,
            };
            let estimate = prompt.unwrap_or_else(|| {
                request.as_ref().map_or(0, |r| {
                    crate::tokens::count_request_tokens(&meta.provider, &meta.model, r)
                })
            });
            let writer = Box::new(EventWriter::new(group, estimate));
            sse::response(
                ctx,
                stream,
                meta,
                Format::Anthropic(writer),
                request,
                prompt,
            )
        }
        Ok(Answer::Embedding(_)) => ctx.fail(ProxyError::Internal(
            "the router answered a messages call with embeddings".into(),
        )),
        Err(e) => ctx.fail(e.into()),
    }
}

/// The translated request's tokens, counted for the group's first deployment. Counting
/// calls no model: the context is only for the check and the failure shape.
fn translated_count(
    mut ctx: CallContext,
    state: &AppState,
    body: Map<String, Value>,
    group: &str,
) -> Response {
    let counted = translate::to_openai(body, Thinking::Drop).and_then(|openai| {
        let req: ChatRequest = super::parse_json(&serde_json::to_vec(&openai).unwrap_or_default())?;
        let d = members(state, group).next().ok_or_else(|| {
            ProxyError::Internal(format!("model group '{group}' has no deployment"))
        })?;
        Ok(crate::tokens::count_request_tokens(
            &d.provider,
            &d.provider_model,
            &req,
        ))
    });
    ctx.quiet();
    match counted {
        Ok(n) => Json(json!({"input_tokens": n})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Messages,
    CountTokens,
}

impl Endpoint {
    fn route_kind(self) -> RouteKind {
        match self {
            Endpoint::Messages => RouteKind::Messages,
            Endpoint::CountTokens => RouteKind::CountTokens,
        }
    }
}

/// What the client gets of Anthropic's answer besides its body.
struct Head {
    status: StatusCode,
    content_type: HeaderValue,
    /// The upstream headers a client sees.
    headers: HeaderMap,
}

impl Head {
    fn of(upstream: &reqwest::Response) -> Head {
        let mut headers = HeaderMap::new();
        for name in ["request-id", "retry-after"] {
            if let Some(v) = upstream.headers().get(name) {
                headers.insert(HeaderName::from_static(name), v.clone());
            }
        }
        Head {
            status: upstream.status(),
            content_type: upstream
                .headers()
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("application/json")),
            headers,
        }
    }

    fn respond(self, body: Body) -> Response {
        let mut r = Response::new(body);
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.extend(self.headers);
        h.insert(header::CONTENT_TYPE, self.content_type);
        r
    }
}

/// Anthropic's answer to the last failed attempt, handed back to the client unchanged when
/// every attempt failed.
type LastError = Arc<Mutex<Option<(Head, Bytes)>>>;

/// A passthrough attempt Anthropic answered with a success status.
struct Sent {
    upstream: reqwest::Response,
    lease: Lease,
    meta: ResponseMeta,
    host: String,
}

/// What every attempt of one passthrough request shares.
struct Forward<'a> {
    state: &'a AppState,
    body: &'a Map<String, Value>,
    headers: &'a HeaderMap,
    endpoint: Endpoint,
    last_error: &'a LastError,
}

impl Forward<'_> {
    /// One attempt on the deployment of `lease`: the body with that deployment's model, its
    /// key and base. An error status is read, kept in `last_error` and mapped to an
    /// [`LlmError`] (so the router retries, cools down and falls back as for any call).
    async fn send(&self, lease: Lease, group: &str) -> Result<Sent, LlmError> {
        if let Ok(mut last) = self.last_error.lock() {
            *last = None;
        }
        let d = lease.deployment.clone();
        let target = crate::providers::get("anthropic")
            .ok_or_else(|| LlmError::bad_request("the anthropic provider is not registered"))?
            .resolve_target(&d.provider_model, &d.target)?;
        let mut body = self.body.clone();
        body.insert("model".into(), json!(d.provider_model));
        let mut headers = anthropic::headers(&target)?;
        for (name, value) in self.headers {
            headers.insert(name.clone(), value.clone());
        }
        let mut url = anthropic::messages_url(&target.api_base);
        if self.endpoint == Endpoint::CountTokens {
            url.push_str("/count_tokens");
        }
        let timeout = d
            .timeout
            .or_else(|| self.state.router.settings().timeout())
            .unwrap_or(DEFAULT_TIMEOUT);
        let request = HttpRequest {
            url,
            headers,
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        };
        let host = crate::http::host_of(&target.api_base).to_owned();
        let upstream = match tokio::time::timeout(timeout, self.state.client.post(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(target.annotate(e)),
            Err(_) => return Err(crate::http::timeout_error(timeout, &host)),
        };
        let status = upstream.status();
        if !status.is_success() {
            let upstream_headers = upstream.headers().clone();
            let head = Head::of(&upstream);
            let bytes = crate::http::read_body_capped(upstream, &host)
                .await
                .unwrap_or_default();
            let e = anthropic::error_from_body(status.as_u16(), &upstream_headers, &bytes, &target);
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some((head, bytes));
            }
            return Err(e);
        }
        let meta = ResponseMeta {
            provider: "anthropic".to_owned(),
            model: d.provider_model.clone(),
            api_base: target.api_base.clone(),
            model_id: Some(d.id.clone()),
            model_group: Some(group.to_owned()),
            custom_pricing: d.pricing,
            ..Default::default()
        };
        Ok(Sent {
            upstream,
            lease,
            meta,
            host,
        })
    }

    /// The attempts on one group, with the router's retries and cooldowns.
    async fn run(
        &self,
        group: &str,
        request: &ChatRequest,
        stream: bool,
        fallback: bool,
    ) -> Result<OwnAnswer<Sent>, LlmError> {
        self.state
            .router
            .run_own(group, request, stream, fallback, |lease| {
                self.send(lease, group)
            })
            .await
    }
}

/// Send the body to one of the group's Anthropic deployments as is (model name and key
/// replaced) and hand back Anthropic's answer as is, recording its usage. The Router picks
/// the deployment, retries another one, cools failing ones down, and falls back to the
/// group's fallbacks: passed through to another Anthropic group, translated for any other.
async fn passthrough(
    mut ctx: CallContext,
    state: &AppState,
    client_headers: &HeaderMap,
    body: Map<String, Value>,
    group: String,
    endpoint: Endpoint,
) -> Response {
    ctx.group.clone_from(&group);
    ctx.stream = endpoint == Endpoint::Messages
        && body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    ctx.end_user = end_user(&body);
    ctx.tags = ctx.principal.tags.to_vec();
    if let Err(e) = ctx.check_model(&group) {
        return ctx.fail(e);
    }
    // Admission counts the prompt from the translated request only if it asks.
    let for_count = translate::to_openai(body.clone(), Thinking::Drop)
        .ok()
        .and_then(|o| serde_json::from_value::<ChatRequest>(Value::Object(o)).ok());
    if endpoint == Endpoint::Messages {
        if let Err(e) = ctx.admit_checked(for_count.as_ref()).await {
            return ctx.fail(e);
        }
    }
    let probe = ChatRequest::new(group.clone(), Vec::new());
    let request = for_count.as_ref().unwrap_or(&probe);
    let mut forwarded = HeaderMap::new();
    for name in FORWARDED_HEADERS {
        if let Some(v) = client_headers.get(*name) {
            forwarded.insert(HeaderName::from_static(name), v.clone());
        }
    }
    let last_error = LastError::default();
    let forward = Forward {
        state,
        body: &body,
        headers: &forwarded,
        endpoint,
        last_error: &last_error,
    };
    let mut outcome = match endpoint {
        Endpoint::Messages => forward.run(&group, request, ctx.stream, false).await,
        // Counting is not a model call: one deployment, no retries, no routing statistics.
        Endpoint::CountTokens => match state.router.pick(&group, request, false) {
            Ok(lease) => forward.send(lease, &group).await.map(|answer| OwnAnswer {
                answer,
                attempts: Vec::new(),
                retries: 0,
            }),
            Err(e) => Err(e),
        },
    };
    let mut attempts: Vec<String> = Vec::new();
    if let (Err(e), Endpoint::Messages) = (&outcome, endpoint) {
        for fallback in state.router.fallback_groups(&group, None, e.kind) {
            if ctx.principal.model_denial(&fallback).is_some() {
                continue;
            }
            if let Err(e) = &outcome {
                attempts.extend(e.attempts.iter().cloned());
            }
            if !native_anthropic(state, &fallback) {
                return Box::pin(translated_fallback(ctx, state, body, fallback, attempts)).await;
            }
            outcome = forward.run(&fallback, request, ctx.stream, true).await;
            if outcome.is_ok() {
                break;
            }
        }
    }
    let own = match outcome {
        Ok(own) => own,
        Err(e) => return failed(ctx, endpoint, e, attempts, &last_error),
    };
    attempts.extend(own.attempts);
    let Sent {
        upstream,
        lease,
        mut meta,
        host,
    } = own.answer;
    meta.attempts = attempts;
    meta.retries = own.retries;
    let mut head = Head::of(&upstream);
    if endpoint == Endpoint::CountTokens {
        ctx.quiet();
        let bytes = crate::http::read_body_capped(upstream, &host)
            .await
            .unwrap_or_default();
        return head.respond(Body::from(bytes));
    }
    ctx.headers(&meta, None, &mut head.headers);
    if ctx.stream {
        streamed(ctx, state, meta, lease, upstream, head)
    } else {
        whole(ctx, state, meta, lease, upstream, &host, head).await
    }
}

/// Every attempt failed: Anthropic's own answer to the last one, as it sent it, else the
/// error.
fn failed(
    mut ctx: CallContext,
    endpoint: Endpoint,
    mut e: LlmError,
    mut attempts: Vec<String>,
    last_error: &LastError,
) -> Response {
    attempts.append(&mut e.attempts);
    let upstream = last_error.lock().ok().and_then(|mut l| l.take());
    let Some((mut head, bytes)) = upstream else {
        e.attempts = attempts;
        return ctx.fail(e.into());
    };
    if endpoint == Endpoint::CountTokens {
        ctx.quiet();
    } else {
        ctx.finish(Ending {
            status: RequestStatus::Failure,
            meta: None,
            usage: None,
            cost: None,
            error: Some(e.kind.class_name()),
            http_status: head.status.as_u16(),
            time_to_first_token: None,
        });
    }
    if let Ok(v) = HeaderValue::from_str(&attempts.len().to_string()) {
        head.headers
            .insert(HeaderName::from_static("x-llmswitch-attempts"), v);
    }
    head.respond(Body::from(bytes))
}

/// A whole message: read under `max_response_bytes`, as every body llmswitch reads, and
/// recorded with the usage in it (also in the deployment's counters: tpm, usage-based
/// routing, shared with other replicas when they share them).
async fn whole(
    mut ctx: CallContext,
    state: &AppState,
    meta: ResponseMeta,
    lease: Lease,
    upstream: reqwest::Response,
    host: &str,
    mut head: Head,
) -> Response {
    let bytes = match crate::http::read_body_capped(upstream, host).await {
        Ok(b) => b,
        Err(e) => return ctx.fail(e.into()),
    };
    let usage = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("usage").cloned())
        .and_then(|u| serde_json::from_value::<AnthropicUsage>(u).ok())
        .map(|u| u.to_openai());
    let cost = usage.as_ref().and_then(|u| meta.cost_of(u));
    if let Some(c) = cost {
        let c = c.to_string();
        for name in ["x-llmswitch-response-cost", "x-litellm-response-cost"] {
            if let Ok(v) = HeaderValue::from_str(&c) {
                head.headers.insert(HeaderName::from_static(name), v);
            }
        }
    }
    ctx.finish(Ending {
        status: RequestStatus::Success,
        meta: Some(&meta),
        usage: usage.as_ref(),
        cost,
        error: None,
        http_status: 200,
        time_to_first_token: None,
    });
    state.router.record_usage(
        &lease.deployment,
        usage.as_ref().map_or(0, |u| u.total_tokens),
        cost,
    );
    drop(lease);
    head.respond(Body::from(bytes))
}

/// A stream: its bytes passed on as they come, recorded when it ends or the client goes
/// away (its usage so far also in the deployment's counters, as [`whole`]).
fn streamed(
    ctx: CallContext,
    state: &AppState,
    meta: ResponseMeta,
    lease: Lease,
    upstream: reqwest::Response,
    head: Head,
) -> Response {
    let stream = PassthroughStream {
        ctx,
        meta,
        scanner: UsageScanner::default(),
        first: None,
        done: false,
        state: state.clone(),
        lease,
    };
    let body = futures_util::stream::unfold(
        (upstream.bytes_stream().boxed(), stream),
        |(mut bytes, mut st)| async move {
            match bytes.next().await {
                Some(Ok(b)) => {
                    if st.first.is_none() {
                        st.first = Some(st.ctx.started.elapsed());
                    }
                    st.scanner.push(&b);
                    Some((Ok::<Bytes, std::io::Error>(b), (bytes, st)))
                }
                Some(Err(e)) => {
                    st.end(RequestStatus::Failure, Some("APIConnectionError"));
                    Some((Err(std::io::Error::other(e)), (bytes, st)))
                }
                None => {
                    st.end(RequestStatus::Success, None);
                    None
                }
            }
        },
    );
    head.respond(Body::from_stream(body))
}

/// A passthrough group failed and its fallback is not Anthropic's API: the request is
/// translated and routed there (with that group's retries, no further fallbacks), and the
/// answer translated back, as for any non-Anthropic group.
async fn translated_fallback(
    mut ctx: CallContext,
    state: &AppState,
    body: Map<String, Value>,
    fallback: String,
    mut attempts: Vec<String>,
) -> Response {
    let mut openai = match translate::to_openai(body, thinking_mode(state, &fallback)) {
        Ok(o) => o,
        Err(e) => return ctx.fail(e),
    };
    openai.insert("model".into(), json!(fallback));
    // The request is recorded under the group asked for, as a chat fallback is.
    let asked = ctx.group.clone();
    let prepared = ctx.prepare::<ChatRequest>(&openai);
    ctx.group = asked;
    let mut req = match prepared {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    req.fallbacks = Some(Vec::new());
    drop(openai);
    let mut answer = Box::pin(state.router.route(&state.client, &req)).await;
    match &mut answer {
        Ok(Answer::Full(done)) => mark_fallback(&mut done.meta, &mut attempts),
        Ok(Answer::Stream(_, meta, _)) => mark_fallback(meta, &mut attempts),
        Ok(Answer::Embedding(_)) => {}
        Err(e) => {
            attempts.extend(
                e.attempts
                    .iter()
                    .map(|a| a.replacen("first ", "fallback ", 1)),
            );
            e.attempts = attempts;
        }
    }
    translated_response(ctx, req, &fallback, answer)
}

/// The fallback group's attempts, after the ones before it, named as a fallback's.
fn mark_fallback(meta: &mut ResponseMeta, before: &mut Vec<String>) {
    let mut all = std::mem::take(before);
    all.extend(
        meta.attempts
            .iter()
            .map(|a| a.replacen("first ", "fallback ", 1)),
    );
    meta.attempts = all;
}

/// A passed-through stream: records its usage when it ends or the client goes away.
struct PassthroughStream {
    ctx: CallContext,
    meta: ResponseMeta,
    scanner: UsageScanner,
    first: Option<Duration>,
    done: bool,
    state: AppState,
    lease: crate::router::Lease,
}

impl PassthroughStream {
    fn end(&mut self, status: RequestStatus, error: Option<&'static str>) {
        if self.done {
            return;
        }
        self.done = true;
        let usage = self.scanner.usage.to_openai();
        let cost = self.meta.cost_of(&usage);
        self.state
            .router
            .record_usage(&self.lease.deployment, usage.total_tokens, cost);
        self.ctx.finish(Ending {
            status,
            meta: Some(&self.meta),
            usage: Some(&usage),
            cost,
            error,
            http_status: match status {
                RequestStatus::Success => 200,
                RequestStatus::Cancelled => 499,
                RequestStatus::Failure => 502,
            },
            time_to_first_token: self.first,
        });
    }
}

impl Drop for PassthroughStream {
    fn drop(&mut self) {
        self.end(RequestStatus::Cancelled, None);
    }
}

/// Reads the usage out of Anthropic's SSE events as they pass (`message_start` and the
/// cumulative `message_delta`), without touching the bytes sent on.
#[derive(Default)]
struct UsageScanner {
    partial: Vec<u8>,
    usage: AnthropicUsage,
}

impl UsageScanner {
    fn push(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let line = &rest[..nl];
            if self.partial.is_empty() {
                self.line(line);
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                self.line(&joined);
            }
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    fn line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        // Only the two event types that carry usage are parsed.
        let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
        if !(has(b"\"message_start\"") || has(b"\"message_delta\"")) {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let usage = v
            .get("usage")
            .or_else(|| v.get("message").and_then(|m| m.get("usage")));
        if let Some(u) =
            usage.and_then(|u| serde_json::from_value::<AnthropicUsage>(u.clone()).ok())
        {
            self.usage.update(u);
        }
    }
}

/// The usage a scanner saw in `bytes` (tests).
#[cfg(test)]
fn scanned(bytes: &[&[u8]]) -> crate::types::Usage {
    let mut s = UsageScanner::default();
    for b in bytes {
        s.push(b);
    }
    s.usage.to_openai()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_from_events_split_anywhere() {
        let text = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1,\"cache_read_input_tokens\":5}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"usage\"}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n",
        )
        .as_bytes();
        for split in [1, 7, 50, 100, text.len() - 3] {
            let u = scanned(&[&text[..split], &text[split..]]);
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens),
                (30, 15),
                "split at {split}"
            );
            assert_eq!(u.cached_tokens(), 5);
        }
    }
}
