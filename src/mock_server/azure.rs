//! Azure's endpoints on the mock server: Azure OpenAI's deployment routes (chat, streams,
//! embeddings) answered the way Azure answers them, and Entra ID's client-credentials
//! token endpoint.
//!
//! Like Azure, the deployment routes refuse a request without `api-key` or a bearer token
//! (401) and without `api-version` (404); replies carry the content-filter annotations
//! Azure adds, and a stream opens with the event that has only `prompt_filter_results`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{embeddings_reply, sse_body, MockRequest, MockState, Reply, DEFAULT_REPLY};

/// The model Azure reports for the mock's deployments.
pub const AZURE_MODEL: &str = "gpt-4o-2024-11-20";
/// The access token the mock's Entra ID issues (followed by `.` and the client id).
pub const ENTRA_TOKEN_PREFIX: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.mock-entra";

fn json_reply(status: StatusCode, body: Value) -> Reply {
    Box::new(move |b: axum::http::response::Builder| {
        b.status(status)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
    })
}

/// The reply to an Azure request, or `None` for other providers' paths.
pub(super) fn default_reply(
    state: &Arc<MockState>,
    req: &MockRequest<'_>,
    chunks: usize,
) -> Option<Reply> {
    let path = req.uri.path();
    if path.ends_with("/oauth2/v2.0/token") {
        return Some(entra_token(req));
    }
    let deployments = path.contains("/openai/deployments/");
    // Groq (and other hosts) serve OpenAI's API under `/openai/v1/` too: that path is Azure's
    // only with Azure's `api-key` header.
    let v1 = path.contains("/openai/v1/") && req.headers.contains_key("api-key");
    if !deployments && !v1 {
        return None;
    }
    let has_key = req.headers.contains_key("api-key")
        || req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
    if !has_key {
        return Some(json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}),
        ));
    }
    let has_version = req
        .uri
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "api-version"));
    if deployments && !has_version {
        return Some(json_reply(
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "404", "message": "Resource not found"}}),
        ));
    }
    if path.ends_with("/embeddings") {
        return Some(match embeddings_reply(req.json) {
            Ok(mut body) => {
                body["model"] = json!("text-embedding-3-small");
                json_reply(StatusCode::OK, body)
            }
            Err(error) => json_reply(StatusCode::BAD_REQUEST, error),
        });
    }
    if !path.ends_with("/chat/completions") {
        return None;
    }
    let stream = req
        .json
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if stream {
        let include_usage = req
            .json
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let body = sse_body(state, stream_frames(chunks, include_usage), None, None);
        return Some(Box::new(move |b: axum::http::response::Builder| {
            b.header("content-type", "text/event-stream").body(body)
        }));
    }
    Some(json_reply(StatusCode::OK, chat_completion()))
}

/// Azure's per-category filter verdicts for content that passed.
pub fn filter_results() -> Value {
    json!({
        "hate": {"filtered": false, "severity": "safe"},
        "self_harm": {"filtered": false, "severity": "safe"},
        "sexual": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"}
    })
}

/// Azure's chat completion: OpenAI's, plus the filter annotations.
pub fn chat_completion() -> Value {
    json!({
        "id": "chatcmpl-azure-mock", "object": "chat.completion", "created": 1_700_000_000,
        "model": AZURE_MODEL, "system_fingerprint": "fp_azure",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filter_results()}],
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                     "content_filter_results": filter_results(),
                     "message": {"role": "assistant", "content": DEFAULT_REPLY, "refusal": null}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    })
}

/// An Azure stream: the filter-results event (no choices, empty id and model), a role
/// chunk, `chunks` content pieces each with its filter verdict, the finish chunk, the
/// usage chunk when asked for, and `[DONE]`.
pub fn stream_frames(chunks: usize, include_usage: bool) -> Vec<String> {
    let data = |v: Value| format!("data: {v}\n\n");
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut v = json!({"id": "chatcmpl-azure-mock", "object": "chat.completion.chunk",
                           "created": 1_700_000_000, "model": AZURE_MODEL,
                           "system_fingerprint": "fp_azure", "choices": choices});
        if let Some(u) = usage {
            v["usage"] = u;
        }
        v
    };
    let mut out = vec![data(json!({
        "choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filter_results()}]
    }))];
    out.push(data(chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                 "finish_reason": null, "logprobs": null, "content_filter_results": {}}]),
        None,
    )));
    for i in 0..chunks {
        let piece = if i == 0 {
            "Hello".to_owned()
        } else {
            format!(" w{i}")
        };
        out.push(data(chunk(
            json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null, "logprobs": null,
                     "content_filter_results": filter_results()}]),
            None,
        )));
    }
    out.push(data(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": null,
                 "content_filter_results": {}}]),
        None,
    )));
    if include_usage {
        out.push(data(chunk(
            json!([]),
            Some(json!({"prompt_tokens": 9, "completion_tokens": chunks, "total_tokens": 9 + chunks})),
        )));
    }
    out.push("data: [DONE]\n\n".to_owned());
    out
}

/// Entra ID's `/{tenant}/oauth2/v2.0/token` for the client-credentials grant. A client
/// secret of `wrong-secret` is refused as Entra ID refuses a bad one.
fn entra_token(req: &MockRequest<'_>) -> Reply {
    let form: Vec<(String, String)> = req
        .json
        .as_str()
        .map(|f| form_urlencoded::parse(f.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let field = |k: &str| {
        form.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    let error = |status: StatusCode, code: &str, description: &str| {
        json_reply(
            status,
            json!({"error": code, "error_description": description, "error_codes": [7000215],
                   "timestamp": "2025-01-01 00:00:00Z", "trace_id": "mock", "correlation_id": "mock"}),
        )
    };
    if field("grant_type") != Some("client_credentials") {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    let (Some(client_id), Some(secret), Some(_scope)) =
        (field("client_id"), field("client_secret"), field("scope"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter.",
        );
    };
    if secret == "wrong-secret" {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    json_reply(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
               "access_token": format!("{ENTRA_TOKEN_PREFIX}.{client_id}")}),
    )
}
