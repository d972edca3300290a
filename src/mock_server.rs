//! A loopback HTTP server that speaks providers' wire formats, for tests and benchmarks.
//!
//! Without a script it answers each provider's endpoint with a canned success in that
//! provider's format (JSON, or SSE when the request asks to stream). Tests script exact
//! replies (status, headers, JSON or raw body, SSE frames, delays, a broken stream, a
//! dropped connection) and read back every request it received.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::serve::ListenerExt;
use futures_util::stream;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// A scripted reply, used by the next request (first in, first out).
#[derive(Debug, Clone, Default)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ScriptedBody,
    /// Wait before sending the response headers.
    pub delay: Option<Duration>,
}

/// The body of a scripted reply.
#[derive(Debug, Clone, Default)]
pub enum ScriptedBody {
    /// The canned success for the endpoint.
    #[default]
    Default,
    Json(Value),
    Raw(String),
    /// SSE frames (each the full text of one frame, e.g. `"data: {...}"`), sent with
    /// `chunk_delay` between them; with `drop_after`, the connection breaks after that many.
    Sse {
        frames: Vec<String>,
        chunk_delay: Option<Duration>,
        drop_after: Option<usize>,
    },
    /// Close the connection without any response.
    Disconnect,
}

pub mod azure;
pub mod bedrock;

/// The request a default reply answers, as received.
struct MockRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    json: &'a Value,
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

#[derive(Default)]
struct MockState {
    script: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<RecordedRequest>>,
    record: AtomicBool,
    hits: AtomicU64,
    /// SSE responses whose body has not been dropped yet (the client still holds the
    /// connection open).
    open_streams: AtomicI64,
}

/// Counts an SSE body as open until hyper drops it (on completion or client disconnect).
struct OpenStream(Arc<MockState>);

impl OpenStream {
    fn new(state: &Arc<MockState>) -> Self {
        state.open_streams.fetch_add(1, Ordering::SeqCst);
        OpenStream(state.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running mock server. Stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl MockServer {
    /// Bind `127.0.0.1:port` (0 for any free port) and serve on the current tokio runtime.
    pub async fn start(port: u16) -> std::io::Result<MockServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        // Without TCP_NODELAY, Nagle's algorithm holds each small SSE frame until the
        // client's delayed ACK (40 ms), which no real provider does.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let state = Arc::new(MockState {
            record: AtomicBool::new(true),
            ..Default::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(MockServer {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queue a scripted reply.
    pub fn enqueue(&self, reply: Scripted) {
        if let Ok(mut q) = self.state.script.lock() {
            q.push_back(reply);
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Number of requests received.
    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::Relaxed)
    }

    /// SSE responses still being sent or held open by a client.
    pub fn open_streams(&self) -> i64 {
        self.state.open_streams.load(Ordering::SeqCst)
    }

    /// Forget recorded requests and pending scripts.
    pub fn reset(&self) {
        if let Ok(mut r) = self.state.requests.lock() {
            r.clear();
        }
        if let Ok(mut q) = self.state.script.lock() {
            q.clear();
        }
        self.state.hits.store(0, Ordering::Relaxed);
    }

    /// Turn request recording on or off (off for long benchmarks).
    pub fn set_recording(&self, on: bool) {
        self.state.record.store(on, Ordering::Relaxed);
    }

    /// Stop accepting connections.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(
    State(state): State<Arc<MockState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    // JSON bodies are parsed; any other body (an OAuth form) is kept as text.
    let body_json: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
        if body.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(&body).into_owned())
        }
    });
    if state.record.load(Ordering::Relaxed) {
        let rec = RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: body_json.clone(),
        };
        if let Ok(mut r) = state.requests.lock() {
            r.push(rec);
        }
    }
    let request = MockRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
        json: &body_json,
    };
    // AWS refuses what it cannot authenticate before anything else happens.
    if bedrock::handles(&request) {
        if let Some(refusal) = bedrock::refuse(&request) {
            return refusal(Response::builder()).unwrap_or_else(|_| Response::new(Body::empty()));
        }
    }
    let scripted = state.script.lock().ok().and_then(|mut q| q.pop_front());
    let reply = scripted.unwrap_or(Scripted {
        status: 200,
        ..Default::default()
    });
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut builder = Response::builder().status(status);
    for (k, v) in &reply.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let result = match reply.body {
        ScriptedBody::Default => {
            let chunks = headers
                .get("x-mock-chunks")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(6);
            match azure::default_reply(&state, &request, chunks)
                .or_else(|| bedrock::default_reply(&state, &request, chunks))
            {
                Some(reply) => reply(builder),
                None => default_reply(&state, builder, uri.path(), &body_json, chunks),
            }
        }
        ScriptedBody::Json(v) => builder
            .header("content-type", "application/json")
            .body(Body::from(v.to_string())),
        ScriptedBody::Raw(s) => builder.body(Body::from(s)),
        ScriptedBody::Sse {
            frames, drop_after, ..
        } if bedrock::is_stream_path(uri.path()) => builder
            .header("content-type", "application/vnd.amazon.eventstream")
            .body(bedrock::scripted_stream(&state, frames, drop_after)),
        ScriptedBody::Sse {
            frames,
            chunk_delay,
            drop_after,
        } => builder
            .header("content-type", "text/event-stream")
            .body(sse_body(&state, frames, chunk_delay, drop_after)),
        ScriptedBody::Disconnect => {
            let broken = stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("mock disconnect"))
            });
            Response::builder()
                .status(200)
                .body(Body::from_stream(broken))
        }
    };
    result.unwrap_or_else(|_| {
        let mut r = Response::new(Body::from("mock server could not build the response"));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn sse_body(
    state: &Arc<MockState>,
    frames: Vec<String>,
    chunk_delay: Option<Duration>,
    drop_after: Option<usize>,
) -> Body {
    stream_body(state, frames, chunk_delay, drop_after, "\n\n")
}

/// An NDJSON body (Ollama): each line sent as its own write, no blank lines between.
fn ndjson_body(state: &Arc<MockState>, lines: Vec<String>) -> Body {
    stream_body(state, lines, None, None, "\n")
}

fn stream_body(
    state: &Arc<MockState>,
    frames: Vec<String>,
    chunk_delay: Option<Duration>,
    drop_after: Option<usize>,
    terminator: &'static str,
) -> Body {
    let items = frames.into_iter().enumerate();
    let guard = OpenStream::new(state);
    // hyper only flushes written frames when the body stream is pending; pace a stream that
    // will break so the frames before the break reach the client, as from a real server.
    let chunk_delay = chunk_delay.or(drop_after.map(|_| Duration::from_millis(5)));
    let s = stream::unfold((items, guard), move |(mut items, guard)| async move {
        let (i, frame) = items.next()?;
        if let Some(d) = chunk_delay {
            if i > 0 {
                tokio::time::sleep(d).await;
            }
        }
        if drop_after.is_some_and(|n| i >= n) {
            return Some((
                Err(std::io::Error::other("mock stream dropped")),
                (items, guard),
            ));
        }
        let mut text = frame;
        if !text.ends_with(terminator) {
            text.push_str(terminator);
        }
        Some((
            Ok::<Bytes, std::io::Error>(Bytes::from(text)),
            (items, guard),
        ))
    });
    Body::from_stream(s)
}

/// The text of default replies.
pub const DEFAULT_REPLY: &str = "Hello from the mock server.";

fn default_reply(
    state: &Arc<MockState>,
    builder: axum::http::response::Builder,
    path: &str,
    request: &Value,
    chunks: usize,
) -> Result<Response, axum::http::Error> {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model");
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if path.ends_with("/chat/completions") {
        if stream {
            let include_usage = request
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            // Mistral sends no stream_options and puts usage on its last chunk by itself.
            let frames = if is_mistral_model(model) && request.get("stream_options").is_none() {
                mistral_stream_frames(model, chunks)
            } else {
                openai_stream_frames(model, chunks, include_usage)
            };
            return builder
                .header("content-type", "text/event-stream")
                .body(sse_body(state, frames, None, None));
        }
        let body = json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": DEFAULT_REPLY, "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
            "system_fingerprint": "fp_mock"
        });
        return builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()));
    }
    if path.ends_with("/embeddings") {
        let (status, body) = match embeddings_reply(request) {
            Ok(body) => (StatusCode::OK, body),
            Err(error) => (StatusCode::BAD_REQUEST, error),
        };
        return builder
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()));
    }
    if path.ends_with(":batchEmbedContents") {
        return builder
            .header("content-type", "application/json")
            .body(Body::from(gemini_embeddings_reply(request).to_string()));
    }
    if path.ends_with("/v1/messages") {
        if stream {
            return builder
                .header("content-type", "text/event-stream")
                .body(sse_body(
                    state,
                    anthropic_stream_frames(model, chunks),
                    None,
                    None,
                ));
        }
        return builder
            .header("content-type", "application/json")
            .body(Body::from(anthropic_message(model).to_string()));
    }
    if path.ends_with("/api/chat") {
        // Ollama streams unless the request says "stream": false.
        let stream = request
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if stream {
            return builder
                .header("content-type", "application/x-ndjson")
                .body(ndjson_body(state, ollama_stream_lines(model, chunks)));
        }
        return builder
            .header("content-type", "application/json")
            .body(Body::from(ollama_chat_reply(model).to_string()));
    }
    if path.ends_with("/api/embed") {
        return builder
            .header("content-type", "application/json")
            .body(Body::from(ollama_embed_reply(request).to_string()));
    }
    if path.ends_with("/v2/chat") {
        if stream {
            return builder
                .header("content-type", "text/event-stream")
                .body(sse_body(state, cohere_stream_frames(chunks), None, None));
        }
        return builder
            .header("content-type", "application/json")
            .body(Body::from(cohere_chat_reply().to_string()));
    }
    if path.ends_with("/v2/embed") {
        return builder
            .header("content-type", "application/json")
            .body(Body::from(cohere_embed_reply(request).to_string()));
    }
    if let Some(reply) = google_default(state, path, chunks) {
        return reply(builder);
    }
    builder
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"error": {"message": format!("mock server: no route for {path}"), "type": "invalid_request_error", "code": "not_found"}})
                .to_string(),
        ))
}

/// Vector size of the default embeddings reply when the request sets no `dimensions`.
pub const DEFAULT_EMBEDDING_DIMENSIONS: u32 = 8;

/// OpenAI's embeddings reply to `request`: one deterministic unit vector per input (the
/// mock provider's, so equal inputs get equal vectors), `dimensions` long, base64 when
/// asked. A request OpenAI would reject gets (as `Err`) OpenAI's 400 error body.
pub fn embeddings_reply(request: &Value) -> Result<Value, Value> {
    use crate::providers::mock::{embed, MockSpec};
    // Mistral names the vector size `output_dimension`.
    let mut request = request.clone();
    if let (Some(d), Value::Object(o)) = (request.get("output_dimension").cloned(), &mut request) {
        o.insert("dimensions".into(), d);
    }
    let parsed = serde_json::from_value::<crate::types::EmbeddingRequest>(request)
        .map_err(|e| e.to_string())
        .and_then(|r| match r.input.problem() {
            Some(problem) => Err(problem),
            None => Ok(r),
        })
        .and_then(|r| {
            embed(&r, &MockSpec::default(), DEFAULT_EMBEDDING_DIMENSIONS)
                .map_err(|e| e.message.clone())
        });
    match parsed {
        Ok(response) => Ok(serde_json::to_value(response).unwrap_or(Value::Null)),
        Err(message) => Err(
            json!({"error": {"message": format!("mock server: {message}"),
                                             "type": "invalid_request_error", "param": "input", "code": null}}),
        ),
    }
}

/// Gemini's `batchEmbedContents` reply: one `{"values": [...]}` per request, the mock
/// provider's vectors, `outputDimensionality` long (default
/// [`DEFAULT_EMBEDDING_DIMENSIONS`]).
pub fn gemini_embeddings_reply(request: &Value) -> Value {
    use crate::providers::mock::{embed, MockSpec};
    use crate::types::{EmbeddingRequest, EmbeddingVector};
    let embeddings: Vec<Value> = request
        .get("requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let text = r
                .pointer("/content/parts/0/text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut one = EmbeddingRequest::new("m", text);
            one.dimensions = r
                .get("outputDimensionality")
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok());
            let values = embed(&one, &MockSpec::default(), DEFAULT_EMBEDDING_DIMENSIONS)
                .ok()
                .and_then(|e| e.data.into_iter().next())
                .map(|e| match e.embedding {
                    EmbeddingVector::Float(v) => v,
                    EmbeddingVector::Base64(_) => Vec::new(),
                })
                .unwrap_or_default();
            json!({ "values": values })
        })
        .collect();
    json!({ "embeddings": embeddings })
}

/// An OpenAI SSE stream of `chunks` content pieces (plus role, finish and usage frames).
pub fn openai_stream_frames(model: &str, chunks: usize, include_usage: bool) -> Vec<String> {
    let frame = |choices: Value, usage: Option<Value>| {
        let mut v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
                           "model": model, "system_fingerprint": "fp_mock", "choices": choices});
        if let Some(u) = usage {
            v["usage"] = u;
        }
        format!("data: {v}\n\n")
    };
    let mut out = Vec::with_capacity(chunks + 4);
    out.push(frame(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    ));
    for i in 0..chunks {
        let piece = if i == 0 {
            "Hello".to_owned()
        } else {
            format!(" w{i}")
        };
        out.push(frame(
            json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
            None,
        ));
    }
    out.push(frame(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        None,
    ));
    if include_usage {
        out.push(frame(
            json!([]),
            Some(json!({"prompt_tokens": 9, "completion_tokens": chunks, "total_tokens": 9 + chunks})),
        ));
    }
    out.push("data: [DONE]\n\n".to_owned());
    out
}

/// Whether `model` is one of Mistral's (the mock answers its streams as Mistral does).
fn is_mistral_model(model: &str) -> bool {
    crate::model_id::infer_provider(model) == Some("mistral")
}

/// A Mistral SSE stream of `chunks` content pieces: OpenAI's chunks, with the usage on the
/// last one (the one with the finish reason), and `[DONE]`.
pub fn mistral_stream_frames(model: &str, chunks: usize) -> Vec<String> {
    let frame = |delta: Value, finish: Option<&str>, usage: Option<Value>| {
        let mut v = json!({"id": "mock-mistral-response", "object": "chat.completion.chunk", "created": 1_700_000_000,
                           "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if let Some(u) = usage {
            v["usage"] = u;
        }
        format!("data: {v}\n\n")
    };
    let mut out = Vec::with_capacity(chunks + 3);
    out.push(frame(
        json!({"role": "assistant", "content": ""}),
        None,
        None,
    ));
    for i in 0..chunks {
        let piece = if i == 0 {
            "Hello".to_owned()
        } else {
            format!(" w{i}")
        };
        out.push(frame(json!({"content": piece}), None, None));
    }
    out.push(frame(
        json!({"content": ""}),
        Some("stop"),
        Some(json!({"prompt_tokens": 9, "total_tokens": 9 + chunks, "completion_tokens": chunks})),
    ));
    out.push("data: [DONE]\n\n".to_owned());
    out
}

type Reply = Box<dyn FnOnce(axum::http::response::Builder) -> Result<Response, axum::http::Error>>;

/// Google's endpoints: Gemini `…/models/{model}:generateContent` and
/// `:streamGenerateContent` (AI Studio and Vertex AI paths alike), Claude on Vertex AI
/// (`:rawPredict`, `:streamRawPredict`), and an OAuth2 token endpoint (`…/token`) for
/// Vertex AI's service-account exchange.
fn google_default(state: &Arc<MockState>, path: &str, chunks: usize) -> Option<Reply> {
    if path.ends_with("/token") {
        let body = json!({"access_token": "ya29.mock-access-token", "expires_in": 3599, "token_type": "Bearer"});
        return Some(Box::new(move |b: axum::http::response::Builder| {
            b.header("content-type", "application/json")
                .body(Body::from(body.to_string()))
        }));
    }
    let (prefix, method) = path.rsplit_once(':')?;
    let model = prefix
        .rsplit('/')
        .next()
        .unwrap_or("gemini-mock")
        .to_owned();
    match method {
        "generateContent" => {
            let body = json!({
                "candidates": [{"content": {"parts": [{"text": DEFAULT_REPLY}], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 6, "totalTokenCount": 15,
                                  "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}]},
                "modelVersion": model, "responseId": "mock-gemini-response"
            });
            Some(Box::new(move |b: axum::http::response::Builder| {
                b.header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
            }))
        }
        "streamGenerateContent" => {
            let frames = gemini_stream_frames(&model, chunks);
            let body = sse_body(state, frames, None, None);
            Some(Box::new(move |b: axum::http::response::Builder| {
                b.header("content-type", "text/event-stream").body(body)
            }))
        }
        // Claude on Vertex AI: the Messages API's replies.
        "rawPredict" => {
            let body = anthropic_message(&model);
            Some(Box::new(move |b: axum::http::response::Builder| {
                b.header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
            }))
        }
        "streamRawPredict" => {
            let body = sse_body(state, anthropic_stream_frames(&model, chunks), None, None);
            Some(Box::new(move |b: axum::http::response::Builder| {
                b.header("content-type", "text/event-stream").body(body)
            }))
        }
        _ => None,
    }
}

/// A Gemini SSE stream of `chunks` text pieces (at least one); the last frame carries the
/// finish reason and the usage totals, as Gemini's does.
pub fn gemini_stream_frames(model: &str, chunks: usize) -> Vec<String> {
    let chunks = chunks.max(1);
    (0..chunks)
        .map(|i| {
            let piece = if i == 0 {
                "Hello".to_owned()
            } else {
                format!(" w{i}")
            };
            let last = i + 1 == chunks;
            let mut candidate = json!({"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0});
            let mut usage = json!({"promptTokenCount": 9, "totalTokenCount": 9});
            if last {
                candidate["finishReason"] = json!("STOP");
                usage = json!({"promptTokenCount": 9, "candidatesTokenCount": chunks, "totalTokenCount": 9 + chunks});
            }
            let frame = json!({"candidates": [candidate], "usageMetadata": usage,
                               "modelVersion": model, "responseId": "mock-gemini-response"});
            format!("data: {frame}\r\n\r\n")
        })
        .collect()
}

/// Anthropic's canned Messages API reply (the shape of the docs' example).
pub fn anthropic_message(model: &str) -> Value {
    json!({
        "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": DEFAULT_REPLY}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 9, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    })
}

/// An Anthropic SSE stream of `chunks` text deltas, with every event type of a text reply
/// (`message_start`, block start/stop, `ping`, `message_delta`, `message_stop`).
pub fn anthropic_stream_frames(model: &str, chunks: usize) -> Vec<String> {
    let frame = |v: Value| {
        let event = v["type"].as_str().unwrap_or("message").to_owned();
        format!("event: {event}\ndata: {v}\n\n")
    };
    let mut out = Vec::with_capacity(chunks + 6);
    out.push(frame(json!({"type": "message_start", "message": {
        "id": "msg_mock", "type": "message", "role": "assistant", "content": [], "model": model,
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 9, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})));
    out.push(frame(
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    out.push(frame(json!({"type": "ping"})));
    for i in 0..chunks {
        let piece = if i == 0 {
            "Hello".to_owned()
        } else {
            format!(" w{i}")
        };
        out.push(frame(json!({"type": "content_block_delta", "index": 0,
                              "delta": {"type": "text_delta", "text": piece}})));
    }
    out.push(frame(json!({"type": "content_block_stop", "index": 0})));
    out.push(frame(json!({"type": "message_delta",
                          "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                          "usage": {"output_tokens": chunks}})));
    out.push(frame(json!({"type": "message_stop"})));
    out
}

/// Cohere's v2 Chat reply (the shape of the API reference's example).
pub fn cohere_chat_reply() -> Value {
    json!({
        "id": "mock-cohere-response", "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": DEFAULT_REPLY}]},
        "usage": {"billed_units": {"input_tokens": 9, "output_tokens": 6}, "tokens": {"input_tokens": 9, "output_tokens": 6}}
    })
}

/// A Cohere v2 Chat SSE stream of `chunks` text deltas, with the events of a text reply
/// (`message-start`, `content-start`/`-delta`/`-end`, `message-end` with usage).
pub fn cohere_stream_frames(chunks: usize) -> Vec<String> {
    let frame = |v: Value| {
        let event = v["type"].as_str().unwrap_or("message").to_owned();
        format!("event: {event}\ndata: {v}\n\n")
    };
    let mut out = Vec::with_capacity(chunks + 5);
    out.push(frame(json!({"type": "message-start", "id": "mock-cohere-response",
        "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})));
    out.push(frame(json!({"type": "content-start", "index": 0,
        "delta": {"message": {"content": {"type": "text", "text": ""}}}})));
    for i in 0..chunks {
        let piece = if i == 0 {
            "Hello".to_owned()
        } else {
            format!(" w{i}")
        };
        out.push(frame(json!({"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": piece}}}})));
    }
    out.push(frame(json!({"type": "content-end", "index": 0})));
    out.push(frame(
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE",
        "usage": {"billed_units": {"input_tokens": 9, "output_tokens": chunks},
                  "tokens": {"input_tokens": 9, "output_tokens": chunks}}}}),
    ));
    out
}

/// Cohere's v2 Embed reply to `request`: the mock provider's vectors for each of `texts`
/// (`output_dimension` long, default [`DEFAULT_EMBEDDING_DIMENSIONS`]) as `float` embeddings.
pub fn cohere_embed_reply(request: &Value) -> Value {
    let texts: Vec<String> = request
        .get("texts")
        .or_else(|| request.get("images"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let dims = request.get("output_dimension").and_then(Value::as_u64);
    let floats = mock_vectors(&texts, dims);
    let tokens: usize = texts
        .iter()
        .map(|t| t.split_whitespace().count().max(1))
        .sum();
    json!({"id": "mock-cohere-embed", "embeddings": {"float": floats}, "texts": texts,
           "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
           "response_type": "embeddings_by_type"})
}

/// The mock provider's deterministic unit vectors for `texts`, `dims` long (default
/// [`DEFAULT_EMBEDDING_DIMENSIONS`]).
fn mock_vectors(texts: &[String], dims: Option<u64>) -> Vec<Vec<f64>> {
    use crate::providers::mock::{embed, MockSpec};
    use crate::types::{EmbeddingRequest, EmbeddingVector};
    texts
        .iter()
        .map(|text| {
            let mut one = EmbeddingRequest::new("m", text.as_str());
            one.dimensions = dims.and_then(|d| u32::try_from(d).ok());
            embed(&one, &MockSpec::default(), DEFAULT_EMBEDDING_DIMENSIONS)
                .ok()
                .and_then(|e| e.data.into_iter().next())
                .map(|e| match e.embedding {
                    EmbeddingVector::Float(v) => v,
                    EmbeddingVector::Base64(_) => Vec::new(),
                })
                .unwrap_or_default()
        })
        .collect()
}

/// Ollama's `/api/chat` reply with `"stream": false` (the shape of its API reference's
/// example).
pub fn ollama_chat_reply(model: &str) -> Value {
    json!({
        "model": model, "created_at": "2023-12-12T14:13:43.416799Z",
        "message": {"role": "assistant", "content": DEFAULT_REPLY},
        "done_reason": "stop", "done": true,
        "total_duration": 5_191_566_416_u64, "load_duration": 2_154_458, "prompt_eval_count": 9,
        "prompt_eval_duration": 383_809_000, "eval_count": 6, "eval_duration": 4_799_921_000_u64
    })
}

/// Ollama's NDJSON stream: `chunks` content pieces, then the `done` line with the counts.
pub fn ollama_stream_lines(model: &str, chunks: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(chunks + 1);
    for i in 0..chunks {
        let piece = if i == 0 {
            "Hello".to_owned()
        } else {
            format!(" w{i}")
        };
        out.push(
            json!({"model": model, "created_at": "2023-08-04T08:52:19.385406455-07:00",
                   "message": {"role": "assistant", "content": piece}, "done": false})
            .to_string(),
        );
    }
    out.push(
        json!({"model": model, "created_at": "2023-08-04T19:22:45.499127Z",
               "message": {"role": "assistant", "content": ""}, "done_reason": "stop", "done": true,
               "total_duration": 4_883_583_458_u64, "load_duration": 1_334_875, "prompt_eval_count": 9,
               "prompt_eval_duration": 342_546_000, "eval_count": chunks, "eval_duration": 4_535_599_000_u64})
        .to_string(),
    );
    out
}

/// Ollama's `/api/embed` reply: the mock provider's vectors for `input` (a string or a list),
/// `dimensions` long (default [`DEFAULT_EMBEDDING_DIMENSIONS`]).
pub fn ollama_embed_reply(request: &Value) -> Value {
    let texts: Vec<String> = match request.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-embed");
    let dims = request.get("dimensions").and_then(Value::as_u64);
    let tokens: usize = texts
        .iter()
        .map(|t| t.split_whitespace().count().max(1))
        .sum();
    json!({"model": model, "embeddings": mock_vectors(&texts, dims),
           "total_duration": 14_143_917, "load_duration": 1_019_500, "prompt_eval_count": tokens})
}
