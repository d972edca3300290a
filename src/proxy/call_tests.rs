//! Model routes against the loopback mock provider, without a gateway socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::hooks::{Hooks, RequestRecord, RequestStatus, SpendSink};
use super::tests::{call, config, MASTER};
use super::*;
use crate::mock_server::{MockServer, Scripted, ScriptedBody};

#[derive(Default)]
pub(crate) struct Collect(pub Mutex<Vec<RequestRecord>>);

impl SpendSink for Collect {
    fn record(&self, record: RequestRecord) {
        if let Ok(mut v) = self.0.lock() {
            v.push(record);
        }
    }
    fn flush(&self, _grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

impl Collect {
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

pub(crate) fn yaml(mock: &MockServer) -> String {
    format!(
        r#"
model_list:
  - model_name: gpt
    litellm_params: {{model: openai/gpt-4o, api_key: sk-provider, api_base: "{base}/v1"}}
    model_info: {{id: gpt-1}}
  - model_name: backup
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-provider, api_base: "{base}/v1"}}
    model_info: {{id: backup-1}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-4-20250514, api_key: sk-ant, api_base: "{base}"}}
    model_info: {{id: claude-1}}
  - model_name: embed
    litellm_params: {{model: openai/text-embedding-3-small, api_key: sk-provider, api_base: "{base}/v1"}}
router_settings:
  num_retries: 0
  disable_cooldowns: true
litellm_settings:
  fallbacks: [{{backup: [gpt]}}]
general_settings:
  master_key: {MASTER}
"#,
        base = mock.url()
    )
}

pub(crate) fn gateway(mock: &MockServer) -> (axum::Router, AppState, Arc<Collect>) {
    let c = config(&yaml(mock));
    let sink = Arc::new(Collect::default());
    let mut hooks = Hooks::master_key_only(c.master_key.clone());
    hooks.spend = sink.clone();
    let state = ProxyState::new(&c, hooks).unwrap_or_else(|e| panic!("{e}"));
    (app(state.clone()), state, sink)
}

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test-master-key");

fn chat_body(model: &str, stream: bool) -> String {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": stream})
        .to_string()
}

async fn post_raw(app: &axum::Router, path: &str, body: String) -> axum::response::Response {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", "Bearer sk-test-master-key")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_default();
    app.clone().oneshot(req).await.unwrap_or_default()
}

#[tokio::test]
async fn chat_completions_answers_with_the_group_as_model_and_litellms_headers() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let r = post_raw(&app, "/v1/chat/completions", chat_body("gpt", false)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        crate::mock_server::DEFAULT_REPLY
    );
    assert_eq!(h["x-litellm-model-id"], "gpt-1");
    assert_eq!(h["x-llmswitch-model-id"], "gpt-1");
    assert_eq!(h["x-litellm-model-group"], "gpt");
    assert_eq!(h["x-llmswitch-attempts"], "1");
    assert_eq!(h["x-litellm-call-id"].len(), 36);
    let cost: f64 = h["x-litellm-response-cost"]
        .to_str()
        .unwrap_or("")
        .parse()
        .unwrap_or(-1.0);
    assert!(cost > 0.0, "{cost}");
    assert_eq!(h["x-llmswitch-response-cost"], h["x-litellm-response-cost"]);
    // The upstream got the deployment's key, not the gateway's.
    let upstream = mock.requests();
    assert!(upstream[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer sk-provider"));
    let records = sink.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.status, r.http_status), (RequestStatus::Success, 200));
    assert_eq!((r.prompt_tokens, r.completion_tokens), (9, 6));
    assert_eq!(r.deployment.as_deref(), Some("gpt-1"));
    assert_eq!(r.model_group, "gpt");
    assert_eq!(r.request_id, h["x-litellm-call-id"].to_str().unwrap_or(""));
}

#[tokio::test]
async fn streams_pass_through_chunk_by_chunk_and_end_with_done() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let r = post_raw(&app, "/chat/completions", chat_body("gpt", true)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.last(), Some(&"data: [DONE]"));
    let mut content = String::new();
    for f in &frames[..frames.len() - 1] {
        let chunk: Value = serde_json::from_str(f.trim_start_matches("data: ")).unwrap_or_default();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt");
        // The client did not ask for usage: no usage chunk.
        assert!(chunk.get("usage").is_none_or(Value::is_null), "{chunk}");
        content.push_str(
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
    }
    assert_eq!(content, "Hello w1 w2 w3 w4 w5");
    let records = sink.records();
    assert_eq!(records[0].status, RequestStatus::Success);
    assert!(records[0].stream);
    assert!(records[0].completion_tokens > 0);
    assert!(records[0].time_to_first_token.is_some());
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_upstream_and_is_recorded() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let frames = crate::mock_server::openai_stream_frames("gpt-4o", 50, false);
    mock.enqueue(Scripted {
        status: 200,
        body: ScriptedBody::Sse {
            frames,
            chunk_delay: Some(Duration::from_millis(20)),
            drop_after: None,
        },
        ..Default::default()
    });
    let (app, _state, sink) = gateway(&mock);
    let r = post_raw(&app, "/v1/chat/completions", chat_body("gpt", true)).await;
    let mut body = r.into_body().into_data_stream();
    let mut seen = 0;
    while let Some(Ok(_)) = body.next().await {
        seen += 1;
        if seen == 3 {
            break;
        }
    }
    drop(body);
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, RequestStatus::Cancelled);
    assert!(records[0].completion_tokens > 0, "usage seen so far");
    assert!(records[0].prompt_tokens > 0);
    // The upstream stream was closed.
    for _ in 0..100 {
        if mock.open_streams() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mock.open_streams(), 0);
}

#[tokio::test]
async fn embeddings_pass_through() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let (status, body) = call(
        &app,
        "POST",
        "/v1/embeddings",
        &[AUTH],
        Some(r#"{"model": "embed", "input": ["a", "b"]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "embed");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(sink.records()[0].route, principal::RouteKind::Embeddings);
}

#[tokio::test]
async fn provider_errors_keep_their_status_and_class() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    for (status, expected_type) in [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "invalid_request_error"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "internal_server_error"),
        (503, "internal_server_error"),
    ] {
        mock.enqueue(Scripted {
            status,
            body: ScriptedBody::Json(
                json!({"error": {"message": format!("upstream {status}"), "type": "x"}}),
            ),
            ..Default::default()
        });
        let (got, body) = call(
            &app,
            "POST",
            "/v1/chat/completions",
            &[AUTH],
            Some(&chat_body("gpt", false)),
        )
        .await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert_eq!(body["error"]["type"], expected_type, "{status}: {body}");
        assert_eq!(body["error"]["code"], status.to_string());
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("upstream {status}")),
            "{body}"
        );
    }
    let records = sink.records();
    assert!(records.iter().all(|r| r.status == RequestStatus::Failure));
    assert_eq!(records[5].error, Some("RateLimitError"));
}

#[tokio::test]
async fn fallbacks_run_through_the_gateway() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, _sink) = gateway(&mock);
    mock.enqueue(Scripted {
        status: 500,
        body: ScriptedBody::Json(json!({"error": {"message": "backup is down"}})),
        ..Default::default()
    });
    let r = post_raw(&app, "/v1/chat/completions", chat_body("backup", false)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-litellm-model-id"], "gpt-1");
    assert_eq!(r.headers()["x-litellm-attempted-fallbacks"], "1");
    assert_eq!(r.headers()["x-llmswitch-attempts"], "2");
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    // A fallback answered: the model shown is the one that answered (LiteLLM's rule).
    assert_eq!(body["model"], "gpt-4o");
}

#[tokio::test]
async fn bad_bodies_are_400_or_413_in_the_openai_shape() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, _sink) = gateway(&mock);
    for (body, expected) in [
        ("{not json", "Invalid JSON"),
        ("[1, 2]", "Invalid request body"),
        (
            r#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}]} trailing"#,
            "Invalid JSON",
        ),
        (
            r#"{"messages": [{"role": "user", "content": "x"}]}"#,
            "model is required",
        ),
        (
            r#"{"model": "nope", "messages": [{"role": "user", "content": "x"}]}"#,
            "Invalid model name",
        ),
        (
            r#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}"#,
            "temperature",
        ),
        (
            r#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "api_base": "https://evil.example"}"#,
            "api_base is not allowed",
        ),
        (
            r#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "api_key": "sk-mine"}"#,
            "api_key is not allowed",
        ),
        (
            r#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "extra_headers": {"x": "y"}}"#,
            "extra_headers is not allowed",
        ),
        (
            r#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "fallbacks": ["nope"]}"#,
            "Invalid model name",
        ),
    ] {
        let (status, json) = call(&app, "POST", "/v1/chat/completions", &[AUTH], Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert_eq!(json["error"]["type"], "invalid_request_error");
        let message = json["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
    assert_eq!(mock.hits(), 0, "no bad request reached the provider");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let y = yaml(&mock).replace(
        "general_settings:\n",
        "general_settings:\n  max_request_size_mb: 0.001\n",
    );
    let c = config(&y);
    let state = ProxyState::new(&c, Hooks::master_key_only(c.master_key.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(state);
    let big = json!({"model": "gpt", "messages": [{"role": "user", "content": "x".repeat(5000)}]})
        .to_string();
    let (status, json) = call(&app, "POST", "/v1/chat/completions", &[AUTH], Some(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(json["error"]["code"], "413");
    // Without a key the body is not even read: 401.
    let (status, _) = call(&app, "POST", "/v1/chat/completions", &[], Some(&big)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_limited_to_some_models_gets_403_for_others() {
    struct Limited;
    impl auth::Authenticator for Limited {
        fn authenticate<'a>(
            &'a self,
            _key: Option<&'a str>,
            _route: principal::RouteKind,
        ) -> BoxFuture<'a, Result<principal::Principal, error::ProxyError>> {
            Box::pin(async {
                Ok(principal::Principal {
                    models: Some(Arc::from(vec!["gpt".to_owned()])),
                    key_alias: Some(Arc::from("team-a-key")),
                    ..Default::default()
                })
            })
        }
    }
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let c = config(&yaml(&mock));
    let mut hooks = Hooks::master_key_only(None);
    hooks.authenticator = Arc::new(Limited);
    let app = app(ProxyState::new(&c, hooks).unwrap_or_else(|e| panic!("{e}")));
    let (status, body) = call(
        &app,
        "POST",
        "/v1/chat/completions",
        &[AUTH],
        Some(&chat_body("claude", false)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // LiteLLM 1.106.2's shape for a model outside the key's list.
    assert_eq!(body["error"]["type"], "key_model_access_denied", "{body}");
    assert_eq!(body["error"]["param"], "model");
    assert_eq!(body["error"]["code"], "403");
    let (status, _) = call(
        &app,
        "POST",
        "/v1/chat/completions",
        &[AUTH],
        Some(&chat_body("gpt", false)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Fallbacks the key may not use are refused too.
    let b = json!({"model": "gpt", "messages": [{"role": "user", "content": "x"}], "fallbacks": ["claude"]}).to_string();
    let (status, _) = call(&app, "POST", "/v1/chat/completions", &[AUTH], Some(&b)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, models) = call(&app, "GET", "/v1/models", &[AUTH], None).await;
    assert_eq!(models["data"].as_array().map(Vec::len), Some(1));
    // A virtual key cannot read the metrics.
    let (status, _) = call(&app, "GET", "/metrics", &[AUTH], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .filter_map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            Some((name, serde_json::from_str(&data).ok()?))
        })
        .collect()
}

async fn post_messages(
    app: &axum::Router,
    path: &str,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("x-api-key", MASTER)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .body(Body::from(body.to_string()))
        .unwrap_or_default();
    let r = app.clone().oneshot(req).await.unwrap_or_default();
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn messages_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 64, "stream": stream,
           "system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]})
}

#[tokio::test]
async fn messages_in_front_of_an_openai_model_translate_both_ways() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let (status, h, text) = post_messages(&app, "/v1/messages", messages_body("gpt", false)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let m: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "gpt");
    assert_eq!(
        m["content"][0],
        json!({"type": "text", "text": crate::mock_server::DEFAULT_REPLY})
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["usage"]["input_tokens"], 9);
    assert_eq!(h["x-litellm-model-id"], "gpt-1");
    // What reached the provider was an OpenAI chat body.
    let sent = &mock.requests()[0];
    assert!(sent.path.ends_with("/chat/completions"));
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent.body["max_tokens"], 64);
    assert_eq!(sink.records()[0].route, principal::RouteKind::Messages);
}

#[tokio::test]
async fn messages_stream_as_anthropic_events_from_an_openai_stream() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let (status, h, text) = post_messages(&app, "/v1/messages", messages_body("gpt", true)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(h["content-type"], "text/event-stream");
    let ev = sse_events(&text);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text_out: String = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text_out, "Hello w1 w2 w3 w4 w5");
    let delta = &ev[ev.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap_or(0) > 0);
    assert_eq!(sink.records()[0].status, RequestStatus::Success);
}

#[tokio::test]
async fn messages_for_an_anthropic_group_pass_through_unchanged_but_the_key() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let body = json!({"model": "claude", "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Hi"}]});
    let (status, h, text) = post_messages(&app, "/v1/messages", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let m: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(m["type"], "message");
    assert_eq!(h["x-litellm-model-id"], "claude-1");
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    let mut expected = body;
    expected["model"] = json!("claude-sonnet-4-20250514");
    assert_eq!(sent.body, expected, "the body is passed as is");
    let header = |n: &str| {
        sent.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-api-key").as_deref(), Some("sk-ant"));
    assert_eq!(
        header("anthropic-beta").as_deref(),
        Some("interleaved-thinking-2025-05-14")
    );
    assert!(header("authorization").is_none());
    let r = &sink.records()[0];
    assert_eq!(r.status, RequestStatus::Success);
    assert!(r.prompt_tokens > 0 && r.completion_tokens > 0);
    assert!(r.cost.is_some());
}

#[tokio::test]
async fn anthropic_streams_pass_through_and_their_usage_is_recorded() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let (status, _h, text) =
        post_messages(&app, "/v1/messages", messages_body("claude", true)).await;
    assert_eq!(status, StatusCode::OK);
    let expected: String =
        crate::mock_server::anthropic_stream_frames("claude-sonnet-4-20250514", 6)
            .into_iter()
            .map(|f| if f.ends_with("\n\n") { f } else { f + "\n\n" })
            .collect();
    assert_eq!(text, expected, "the stream is Anthropic's, byte for byte");
    let r = &sink.records()[0];
    assert_eq!(r.status, RequestStatus::Success);
    assert!(r.completion_tokens > 0);
}

#[tokio::test]
async fn anthropic_errors_pass_through_with_their_status() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let err =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    mock.enqueue(Scripted {
        status: 529,
        body: ScriptedBody::Json(err.clone()),
        ..Default::default()
    });
    let (status, _h, text) =
        post_messages(&app, "/v1/messages", messages_body("claude", false)).await;
    assert_eq!(status.as_u16(), 529);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap_or_default(),
        err
    );
    assert_eq!(sink.records()[0].status, RequestStatus::Failure);
}

#[tokio::test]
async fn count_tokens_counts_locally_or_asks_anthropic() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "Hello there, how are you?"}]});
    let (status, _h, text) = post_messages(&app, "/v1/messages/count_tokens", body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let n = serde_json::from_str::<Value>(&text).unwrap_or_default()["input_tokens"]
        .as_u64()
        .unwrap_or(0);
    assert!((5..30).contains(&n), "{n}");
    assert_eq!(mock.hits(), 0);
    mock.enqueue(Scripted {
        status: 200,
        body: ScriptedBody::Json(json!({"input_tokens": 42})),
        ..Default::default()
    });
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": "Hi"}]});
    let (status, _h, text) = post_messages(&app, "/v1/messages/count_tokens", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap_or_default(),
        json!({"input_tokens": 42})
    );
    assert_eq!(mock.requests()[0].path, "/v1/messages/count_tokens");
    assert!(sink.records().is_empty(), "counting is not a model call");
}

/// A spend sink that counts flushes.
#[derive(Default)]
struct Flushing {
    records: Mutex<Vec<RequestRecord>>,
    flushed_with: Mutex<Option<usize>>,
}

impl SpendSink for Flushing {
    fn record(&self, record: RequestRecord) {
        if let Ok(mut v) = self.records.lock() {
            v.push(record);
        }
    }
    fn flush(&self, _grace: Duration) -> BoxFuture<'_, ()> {
        let n = self.records.lock().map(|v| v.len()).unwrap_or(0);
        if let Ok(mut f) = self.flushed_with.lock() {
            *f = Some(n);
        }
        Box::pin(async {})
    }
}

/// The gateway on a socket with two serving threads.
async fn served(mock: &MockServer, extra_general: &str) -> (serve::RunningServer, Arc<Flushing>) {
    let y = yaml(mock).replace(
        "general_settings:\n",
        &format!("general_settings:\n{extra_general}"),
    );
    let c = config(&y);
    let sink = Arc::new(Flushing::default());
    let mut hooks = Hooks::master_key_only(c.master_key.clone());
    hooks.spend = sink.clone();
    let state = ProxyState::new(&c, hooks).unwrap_or_else(|e| panic!("{e}"));
    let server = serve::RunningServer::start_with_threads("127.0.0.1", 0, state, 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (server, sink)
}

async fn stream_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(MASTER)
        .body(chat_body("gpt", true))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let text = r.text().await.map_err(|e| e.to_string())?;
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_nothing() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let n = 40;
    for _ in 0..n {
        mock.enqueue(Scripted {
            status: 200,
            body: ScriptedBody::Sse {
                frames: crate::mock_server::openai_stream_frames("gpt-4o", 10, false),
                chunk_delay: Some(Duration::from_millis(15)),
                drop_after: None,
            },
            ..Default::default()
        });
    }
    let (server, sink) = served(&mock, "").await;
    let url = server.url();
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { stream_text(&client, &url).await })
        })
        .collect();
    // Let every request reach the gateway, then shut down while they stream.
    while mock.hits() < n as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Open connections go to the thread with the fewest: both threads hold streams now,
    // so the drain below runs across both.
    let per_thread = server.connections_per_thread();
    assert_eq!(per_thread.iter().sum::<u64>(), n as u64, "{per_thread:?}");
    assert!(per_thread.iter().all(|&c| c >= 10), "{per_thread:?}");
    let report = server.stop().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.drained);
    for t in tasks {
        let text = t
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    }
    let records = sink.records.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(records.len(), n);
    assert!(records.iter().all(|r| r.status == RequestStatus::Success));
    // The flush came after the last record.
    assert_eq!(
        sink.flushed_with.lock().map(|f| *f).unwrap_or(None),
        Some(n)
    );
    // Stopped: no new connections.
    assert!(client
        .get(format!("{url}/health/liveliness"))
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_still_open_after_the_grace_period_are_cut_and_recorded() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    mock.enqueue(Scripted {
        status: 200,
        body: ScriptedBody::Sse {
            frames: crate::mock_server::openai_stream_frames("gpt-4o", 200, false),
            chunk_delay: Some(Duration::from_millis(20)),
            drop_after: None,
        },
        ..Default::default()
    });
    let (server, sink) = served(&mock, "  shutdown_grace_seconds: 0.2\n").await;
    let url = server.url();
    let client = reqwest::Client::new();
    let task = tokio::spawn(async move { stream_text(&client, &url).await });
    while mock.hits() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = server.stop().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.drained);
    let _ = task.await;
    let records = sink.records.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, RequestStatus::Cancelled);
    assert!(records[0].completion_tokens > 0);
    assert_eq!(
        sink.flushed_with.lock().map(|f| *f).unwrap_or(None),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_waiting_after_the_grace_period_is_dropped_and_recorded() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    mock.enqueue(Scripted {
        status: 200,
        delay: Some(Duration::from_secs(30)),
        ..Default::default()
    });
    let (server, sink) = served(&mock, "  shutdown_grace_seconds: 0.2\n").await;
    let url = server.url();
    let client = reqwest::Client::new();
    let task = tokio::spawn(async move {
        client
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(MASTER)
            .body(chat_body("gpt", false))
            .send()
            .await
    });
    while mock.hits() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Not a stream, so the end of the grace period does not end it: after a further
    // moment, the serving threads drop what is left.
    let report = server.stop().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.drained);
    assert!(report.took < Duration::from_secs(20), "{report:?}");
    assert!(task.await.map(|r| r.is_err()).unwrap_or(true));
    let records = sink.records.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, RequestStatus::Cancelled);
    assert_eq!(
        sink.flushed_with.lock().map(|f| *f).unwrap_or(None),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_serving_thread_serves_keep_alive_connections_to_the_end() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (server, sink) = served(&mock, "").await;
    let url = server.url();
    // Two clients, each with one keep-alive connection, used in turn: the second
    // connection goes to the other thread, and each serves all its requests.
    let clients = [reqwest::Client::new(), reqwest::Client::new()];
    for round in 0..5 {
        for client in &clients {
            let r = client
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(MASTER)
                .body(chat_body("gpt", round % 2 == 1))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.status(), StatusCode::OK);
            let _ = r.bytes().await;
        }
    }
    assert_eq!(server.connections_per_thread(), vec![1, 1]);
    let report = server.stop().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.drained);
    let records = sink.records.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(records.len(), 10);
    assert!(records.iter().all(|r| r.status == RequestStatus::Success));
}

#[tokio::test]
async fn health_calls_deployments_only_when_asked_and_minimally() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = gateway(&mock);
    let (status, body) = call(&app, "GET", "/health", &[AUTH], None).await;
    assert_eq!(
        (status, body["healthy_count"].as_u64()),
        (StatusCode::OK, Some(4))
    );
    assert_eq!(mock.hits(), 0, "no call without ?probe=true");
    let (status, body) = call(&app, "GET", "/health?probe=true", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["healthy_count"], 4, "{body}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        if r.path.ends_with("/embeddings") {
            assert_eq!(r.body["input"], json!("ping"));
        } else {
            assert_eq!(r.body["max_tokens"], 1, "{:?}", r.body);
            assert!(r.body.get("tools").is_none());
        }
    }
    mock.enqueue(Scripted {
        status: 401,
        body: ScriptedBody::Json(json!({"error": {"message": "bad key"}})),
        ..Default::default()
    });
    let (status, body) = call(
        &app,
        "GET",
        "/health?probe=true&model_id=gpt-1",
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["unhealthy_count"], 1);
    assert!(body["unhealthy_endpoints"][0]["error"]
        .as_str()
        .unwrap_or("")
        .contains("AuthenticationError"));
    assert!(sink.records().is_empty(), "probes are not client requests");
}

#[tokio::test]
async fn the_configured_cache_answers_repeated_calls_without_the_provider() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let yaml = yaml(&mock).replace(
        "litellm_settings:\n",
        "litellm_settings:\n  cache: true\n  cache_params: {type: local, ttl: 600}\n",
    );
    let c = config(&yaml);
    let sink = Arc::new(Collect::default());
    let mut hooks = Hooks::master_key_only(c.master_key.clone());
    hooks.spend = sink.clone();
    let state = ProxyState::new(&c, hooks).unwrap_or_else(|e| panic!("{e}"));
    assert!(state.cache.is_some());
    let app = app(state);
    let ask = |body: String| {
        let app = app.clone();
        async move {
            let r = post_raw(&app, "/v1/chat/completions", body).await;
            let status = r.status();
            let h = r.headers().clone();
            let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            (status, h, body)
        }
    };
    let (status, first_headers, first) = ask(chat_body("gpt", false)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(mock.hits(), 1);
    let (status, h, again) = ask(chat_body("gpt", false)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        mock.hits(),
        1,
        "the second call was answered from the cache"
    );
    assert_eq!(
        again["choices"][0]["message"]["content"],
        first["choices"][0]["message"]["content"]
    );
    assert_eq!(again["model"], "gpt");
    assert!(h.contains_key("x-litellm-cache-key"), "{h:?}");
    assert_eq!(
        h["x-litellm-cache-key"], first_headers["x-litellm-cache-key"],
        "the miss stored under the key the hit read"
    );
    assert_eq!(h["x-litellm-response-cost"], "0");
    // The request's own controls: `cache: {"no-cache": true}` and `caching: false` go to
    // the provider; another prompt is another key.
    let no_cache = json!({"model": "gpt", "messages": [{"role": "user", "content": "Hi"}],
        "cache": {"no-cache": true}})
    .to_string();
    assert_eq!(ask(no_cache).await.0, StatusCode::OK);
    assert_eq!(mock.hits(), 2);
    let off = json!({"model": "gpt", "messages": [{"role": "user", "content": "Hi"}],
        "caching": false})
    .to_string();
    assert_eq!(ask(off).await.0, StatusCode::OK);
    assert_eq!(mock.hits(), 3);
    let other =
        json!({"model": "gpt", "messages": [{"role": "user", "content": "Other"}]}).to_string();
    assert_eq!(ask(other).await.0, StatusCode::OK);
    assert_eq!(mock.hits(), 4);
    // A streamed call is cached as a stream, replayed from the cache the second time.
    for _ in 0..2 {
        let r = post_raw(&app, "/v1/chat/completions", chat_body("gpt", true)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        assert!(text.contains("chat.completion.chunk"), "{text}");
    }
    assert_eq!(mock.hits(), 5);
    // Every request is recorded; the hits cost nothing.
    let records = sink.records();
    assert_eq!(records.len(), 7);
    assert_eq!(records[1].cost, Some(0.0));
    assert!(records[0].cost.is_some_and(|c| c > 0.0));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (server, _sink) = served(&mock, "  header_read_timeout_seconds: 0.2\n").await;
    // A slowloris client: a request line and one header, then nothing.
    let mut slow = tokio::net::TcpStream::connect(server.addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The gateway closes the connection (the bound only keeps a broken build from hanging).
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the connection was still open"
    );
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    // A client that sends its request in time is served as usual.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url()))
        .bearer_auth(MASTER)
        .body(chat_body("gpt", false))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    assert!(
        server
            .stop()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .drained
    );
}

fn anthropic_yaml(mock: &MockServer, fallbacks: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-4-20250514, api_key: sk-ant-1, api_base: "{base}"}}
    model_info: {{id: claude-1}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-4-20250514, api_key: sk-ant-2, api_base: "{base}"}}
    model_info: {{id: claude-2}}
  - model_name: haiku
    litellm_params: {{model: anthropic/claude-3-5-haiku-20241022, api_key: sk-ant-3, api_base: "{base}"}}
    model_info: {{id: haiku-1}}
  - model_name: gpt
    litellm_params: {{model: openai/gpt-4o, api_key: sk-provider, api_base: "{base}/v1"}}
    model_info: {{id: gpt-1}}
router_settings:
  num_retries: 1
  allowed_fails: 0
  cooldown_time: 600
litellm_settings:
  fallbacks: {fallbacks}
general_settings:
  master_key: {MASTER}
"#,
        base = mock.url()
    )
}

fn anthropic_gateway(mock: &MockServer, fallbacks: &str) -> (axum::Router, AppState, Arc<Collect>) {
    let c = config(&anthropic_yaml(mock, fallbacks));
    let sink = Arc::new(Collect::default());
    let mut hooks = Hooks::master_key_only(c.master_key.clone());
    hooks.spend = sink.clone();
    let state = ProxyState::new(&c, hooks).unwrap_or_else(|e| panic!("{e}"));
    (app(state.clone()), state, sink)
}

fn overloaded(mock: &MockServer, times: usize) {
    for _ in 0..times {
        mock.enqueue(Scripted {
            status: 529,
            body: ScriptedBody::Json(
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ),
            ..Default::default()
        });
    }
}

fn sent_key(r: &crate::mock_server::RecordedRequest) -> Option<String> {
    r.headers
        .iter()
        .find(|(k, _)| k == "x-api-key")
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn a_passed_through_anthropic_request_is_retried_on_another_deployment() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, state, sink) = anthropic_gateway(&mock, "[]");
    overloaded(&mock, 1);
    let (status, h, text) =
        post_messages(&app, "/v1/messages", messages_body("claude", false)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(h["x-llmswitch-attempts"], "2");
    assert_eq!(h["x-litellm-attempted-retries"], "1");
    let sent = mock.requests();
    assert_eq!(sent.len(), 2);
    assert_ne!(
        sent_key(&sent[0]),
        sent_key(&sent[1]),
        "the retry went to the other deployment"
    );
    // The deployment that failed cools down: the next requests all go to the other one.
    let failed = sent_key(&sent[0]);
    let stats = state.router.stats();
    assert_eq!(
        stats.iter().map(|s| s.cooldowns).sum::<u64>(),
        1,
        "{stats:?}"
    );
    for _ in 0..4 {
        let (status, _, _) =
            post_messages(&app, "/v1/messages", messages_body("claude", true)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(mock.requests()[2..].iter().all(|r| sent_key(r) != failed));
    let records = sink.records();
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r.status == RequestStatus::Success));
    assert_eq!(records[0].attempts, 2);
}

#[tokio::test]
async fn a_passed_through_anthropic_group_falls_back_to_another_anthropic_group() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = anthropic_gateway(&mock, "[{claude: [haiku]}]");
    overloaded(&mock, 2);
    let (status, h, text) =
        post_messages(&app, "/v1/messages", messages_body("claude", false)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(h["x-llmswitch-attempts"], "3");
    assert_eq!(h["x-litellm-attempted-fallbacks"], "1");
    assert_eq!(h["x-litellm-model-id"], "haiku-1");
    let sent = mock.requests();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].path, "/v1/messages");
    assert_eq!(sent[2].body["model"], "claude-3-5-haiku-20241022");
    assert_eq!(sent_key(&sent[2]).as_deref(), Some("sk-ant-3"));
    let r = &sink.records()[0];
    assert_eq!(
        (r.status, r.model_group.as_str()),
        (RequestStatus::Success, "claude")
    );
    assert_eq!(r.deployment.as_deref(), Some("haiku-1"));
}

#[tokio::test]
async fn a_passed_through_anthropic_group_falls_back_to_an_openai_group_translated() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    for stream in [false, true] {
        // A fresh gateway each time: the first one's deployments are cooling down.
        let (app, _state, sink) = anthropic_gateway(&mock, "[{claude: [gpt]}]");
        mock.reset();
        overloaded(&mock, 2);
        let (status, h, text) =
            post_messages(&app, "/v1/messages", messages_body("claude", stream)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(h["x-llmswitch-attempts"], "3", "{h:?}");
        assert_eq!(h["x-litellm-model-id"], "gpt-1");
        let sent = mock.requests();
        assert_eq!(sent[2].path, "/v1/chat/completions");
        if stream {
            let events = sse_events(&text);
            assert_eq!(events.first().map(|e| e.0.as_str()), Some("message_start"));
            assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
        } else {
            let m: Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(m["type"], "message");
            assert_eq!(m["role"], "assistant");
        }
        let records = sink.records();
        assert_eq!(records.len(), 1);
        assert_eq!(
            (records[0].status, records[0].model_group.as_str()),
            (RequestStatus::Success, "claude")
        );
    }
}

#[tokio::test]
async fn when_every_attempt_fails_the_client_gets_anthropics_last_error() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, _state, sink) = anthropic_gateway(&mock, "[]");
    overloaded(&mock, 2);
    let (status, h, text) =
        post_messages(&app, "/v1/messages", messages_body("claude", false)).await;
    assert_eq!(status.as_u16(), 529);
    let body: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(h["x-llmswitch-attempts"], "2");
    assert_eq!(mock.requests().len(), 2);
    // Both deployments cool down: the next request finds none (LiteLLM's 429).
    let (status, h, _) = post_messages(&app, "/v1/messages", messages_body("claude", false)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    assert_eq!(mock.requests().len(), 2);
    let records = sink.records();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.status == RequestStatus::Failure));
}

#[tokio::test]
async fn aliases_and_deployment_ids_route_but_wildcard_names_are_refused() {
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let c = config(&format!(
        r#"
model_list:
  - model_name: gpt
    litellm_params: {{model: openai/gpt-4o, api_key: sk-provider, api_base: "{base}/v1"}}
    model_info: {{id: gpt-1}}
  - model_name: "openai/*"
    litellm_params: {{model: "openai/*", api_key: sk-provider, api_base: "{base}/v1"}}
router_settings:
  num_retries: 0
  model_group_alias: {{gpt-4: gpt}}
general_settings:
  master_key: {MASTER}
"#,
        base = mock.url()
    ));
    let hooks = Hooks::master_key_only(c.master_key.clone());
    let state = ProxyState::new(&c, hooks).unwrap_or_else(|e| panic!("{e}"));
    let app = app(state);
    for name in ["gpt-4", "gpt-1"] {
        let r = post_raw(&app, "/v1/chat/completions", chat_body(name, false)).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(r.headers()["x-litellm-model-id"], "gpt-1", "{name}");
    }
    // Open-ended names would each become a metrics label and a key permission.
    let r = post_raw(&app, "/v1/chat/completions", chat_body("openai/o3", false)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passed_through_anthropic_tokens_count_in_the_shared_deployment_counters() {
    use crate::router::redis_usage::RedisUsage;
    use crate::router::UsageCounters;
    let Some(redis) = crate::test_redis::RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(0).await.unwrap_or_else(|e| panic!("{e}"));
    let (app, state, sink) = gateway(&mock);
    let shared = |router: &crate::router::Router| {
        RedisUsage::with_minutes(
            &redis.config(),
            "test:",
            router.deployments(),
            tokio::runtime::Handle::current(),
            Arc::new(|_: &str| {}),
            Arc::new(|| 42),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let here = Arc::new(shared(&state.router));
    assert!(state.router.share_usage(here.clone()));
    // Another replica's view of the same Redis.
    let other = shared(&state.router);
    let claude = state
        .router
        .deployments()
        .iter()
        .find(|d| d.id == "claude-1")
        .cloned()
        .unwrap_or_else(|| panic!("no claude-1"));
    let mut expected = 0;
    for stream in [false, true] {
        let (status, _h, text) =
            post_messages(&app, "/v1/messages", messages_body("claude", stream)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let records = sink.records();
        let r = records.last().unwrap_or_else(|| panic!("no record"));
        assert_eq!(r.deployment.as_deref(), Some("claude-1"));
        assert!(r.completion_tokens > 0);
        expected += r.prompt_tokens + r.completion_tokens;
        here.sync_now().await.unwrap_or_else(|e| panic!("{e}"));
        other.sync_now().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            other.others(&claude).tokens,
            expected,
            "the passthrough's tokens (stream: {stream}) in the shared counters"
        );
    }
    let stats = state.router.stats();
    let local = stats
        .iter()
        .find(|s| s.model_id == "claude-1")
        .unwrap_or_else(|| panic!("no stats"));
    // (The router's own count is per minute of its clock: a minute may have begun since.)
    assert!(local.tokens_this_minute > 0, "and in the router's own");
    assert!(local.spend > 0.0);
}
