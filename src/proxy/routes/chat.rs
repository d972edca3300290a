//! `POST /chat/completions` and `POST /embeddings`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value};

use super::sse::{self, Format};
use super::JsonBody;
use crate::call::Done;
use crate::proxy::calls::{CallContext, Ending};
use crate::proxy::error::ProxyError;
use crate::proxy::hooks::RequestStatus;
use crate::proxy::principal::{Principal, RouteKind};
use crate::proxy::AppState;
use crate::router::{Answer, Payload};
use crate::types::{ChatRequest, EmbeddingRequest};

type Body = Result<JsonBody<Map<String, Value>>, ProxyError>;

/// The model the response shows: the group asked for, unless a fallback group answered
/// (then the model that did, as LiteLLM).
fn shown_model(ctx: &CallContext, meta: &crate::call::ResponseMeta) -> Option<String> {
    (!CallContext::fell_back(meta)).then(|| ctx.group.clone())
}

/// A finished call as JSON, with the gateway's headers, recorded.
pub(crate) fn json_response<T: serde::Serialize>(
    mut ctx: CallContext,
    done: &Done<T>,
    body: &impl serde::Serialize,
    usage: Option<&crate::types::Usage>,
) -> Response {
    let mut response = Json(body).into_response();
    ctx.headers(&done.meta, done.meta.cost, response.headers_mut());
    ctx.finish(Ending {
        status: RequestStatus::Success,
        meta: Some(&done.meta),
        usage,
        cost: done.meta.cost,
        error: None,
        http_status: 200,
        time_to_first_token: None,
    });
    response
}

// The handlers box their call: axum moves a handler's future several times before and
// while it first runs (callgrind: 11 copies of it per request, 8% of a request's
// instructions), and a pointer is cheaper to move than the whole call's state.

pub(super) async fn chat_completions(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    body: Body,
) -> Response {
    Box::pin(chat_call(state, principal, body)).await
}

pub(super) async fn embeddings(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    body: Body,
) -> Response {
    Box::pin(embeddings_call(state, principal, body)).await
}

async fn chat_call(state: AppState, principal: Arc<Principal>, body: Body) -> Response {
    let mut ctx = CallContext::new(&state, principal, RouteKind::ChatCompletions);
    let body = match body {
        Ok(JsonBody(b)) => b,
        Err(e) => return ctx.fail(e),
    };
    let req = match ctx.admit::<ChatRequest>(&body).await {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    drop(body);
    // Boxed: the routed call's state machine is large, and the layers above the handler
    // move its future (measured: most of the request's memcpy).
    match Box::pin(state.router.route(&state.client, &req)).await {
        Ok(Answer::Full(mut done)) => {
            if let Some(m) = shown_model(&ctx, &done.meta) {
                done.response.model = m;
            }
            let usage = done.response.usage.clone();
            json_response(ctx, &done, &done.response, usage.as_ref())
        }
        Ok(Answer::Stream(stream, meta, prompt)) => {
            let model = shown_model(&ctx, &meta);
            let request = match req.payload {
                Payload::Chat(c) => Some(c),
                Payload::Embedding(_) => None,
            };
            sse::response(ctx, stream, meta, Format::OpenAi { model }, request, prompt)
        }
        Ok(Answer::Embedding(_)) => ctx.fail(ProxyError::Internal(
            "the router answered a chat call with embeddings".into(),
        )),
        Err(e) => ctx.fail(e.into()),
    }
}

async fn embeddings_call(state: AppState, principal: Arc<Principal>, body: Body) -> Response {
    let mut ctx = CallContext::new(&state, principal, RouteKind::Embeddings);
    let body = match body {
        Ok(JsonBody(b)) => b,
        Err(e) => return ctx.fail(e),
    };
    let req = match ctx.admit::<EmbeddingRequest>(&body).await {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    drop(body);
    // Boxed: the routed call's state machine is large, and the layers above the handler
    // move its future (measured: most of the request's memcpy).
    match Box::pin(state.router.route(&state.client, &req)).await {
        Ok(Answer::Embedding(mut done)) => {
            if let Some(m) = shown_model(&ctx, &done.meta) {
                done.response.model = m;
            }
            let usage = done.response.usage.clone();
            json_response(ctx, &done, &done.response, usage.as_ref())
        }
        Ok(_) => ctx.fail(ProxyError::Internal(
            "the router answered an embeddings call with a chat answer".into(),
        )),
        Err(e) => ctx.fail(e.into()),
    }
}
