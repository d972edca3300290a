//! Ollama's native API (`ollama/…` and `ollama_chat/…`): POST `{api_base}/api/chat` and
//! `/api/embed`, `api_base` from `OLLAMA_API_BASE`, default `http://localhost:11434`.
//!
//! Both prefixes send the messages to `/api/chat`, so the model's own chat template
//! applies. OpenAI parameters go into `options` (`max_tokens` → `num_predict`; `temperature`,
//! `top_p`, `stop`, `seed`, `frequency_penalty`, `presence_penalty` by Ollama's names for
//! them, which are the same: `frequency_penalty` is never turned into `repeat_penalty`,
//! whose scale differs), `response_format` → `format` (`"json"` or the JSON schema),
//! `reasoning_effort` → `think`. Ollama's own top-level fields (`keep_alive`, `think`,
//! `format`) are sent as given; any other keyword (`num_ctx`, `top_k`, `repeat_penalty`,
//! `mirostat`, …) goes into `options`, as LiteLLM does.
//!
//! Responses: `thinking` → `reasoning_content` (and, as LiteLLM does for models without
//! Ollama's thinking support, a leading `<think>…</think>` in the content); tool calls get
//! generated ids (`call_` + 24 characters); `done_reason` → `finish_reason`;
//! `prompt_eval_count` / `eval_count` → usage. Streams are NDJSON, one id for the whole
//! stream. A key is optional (`OLLAMA_API_KEY`, sent as a bearer token, for hosted Ollama).

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{is_context_window_message, ErrorKind, LlmError};
use crate::http::retry_after_seconds;
use crate::providers::openai::{json_headers, redact_value, AuthStyle};
use crate::providers::{
    encode_json, error_message, parse_json, ApiEnv, HttpRequest, Provider, StreamParser, Target,
    TargetOptions,
};
use crate::stream::{Frame, FrameFormat, StreamControl};
use crate::types::{
    new_id, unix_now, ChatChunk, ChatRequest, ChatResponse, Choice, Delta, Embedding,
    EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, FunctionCall,
    FunctionDelta, Message, MessageContent, ResponseMessage, Role, ToolCall, ToolCallDelta,
    ToolChoice, Usage,
};

/// Where requests go without `api_base=` or `OLLAMA_API_BASE`.
pub const DEFAULT_API_BASE: &str = "http://localhost:11434";
const API_KEY_ENV: &[&str] = &["OLLAMA_API_KEY"];
const API_BASE_ENV: &[&str] = &["OLLAMA_API_BASE"];
/// Where the key and base URL come from when the call gives none.
const ENV: ApiEnv = ApiEnv {
    name: "ollama",
    key: API_KEY_ENV,
    base: API_BASE_ENV,
    default_base: DEFAULT_API_BASE,
    key_required: false,
};
/// Top-level fields of Ollama's chat request that callers may pass as keywords; any other
/// keyword is a model option.
const TOP_LEVEL: &[&str] = &["keep_alive", "think", "format", "logprobs", "top_logprobs"];
/// The endpoint paths an `api_base` may already end with.
const ENDPOINTS: &[&str] = &[
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
];

/// The OpenAI parameters Ollama's chat API can express.
pub const SUPPORTED_PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
    "stream_options",
    "stream",
];

/// An Ollama provider, registered as `ollama` and as `ollama_chat` (the same API).
pub struct Ollama {
    name: &'static str,
}

impl Ollama {
    pub fn new(name: &'static str) -> Self {
        Ollama { name }
    }
}

impl Provider for Ollama {
    fn name(&self) -> &str {
        self.name
    }

    fn supported_params(&self, _model: &str) -> Vec<&'static str> {
        SUPPORTED_PARAMS.to_vec()
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        ENV.target(self, model, opts)
    }

    /// Ollama has no way to force a tool call: `tool_choice` `"required"` or a named
    /// function is an `UnsupportedParamsError` (dropped with `drop_params`); `"auto"` is
    /// Ollama's behaviour and `"none"` leaves the tools out.
    fn check_params(
        &self,
        req: &mut ChatRequest,
        _target: &Target,
        drop_params: bool,
    ) -> Result<Vec<&'static str>, LlmError> {
        let forcing = match &req.params.tool_choice {
            Some(ToolChoice::Mode(m)) => m != "auto" && m != "none",
            Some(ToolChoice::Named(_)) => true,
            None => false,
        };
        if !forcing {
            return Ok(Vec::new());
        }
        if drop_params {
            req.params.tool_choice = None;
            return Ok(vec!["tool_choice"]);
        }
        Err(LlmError::new(
            ErrorKind::UnsupportedParams,
            "Ollama cannot force a tool call: tool_choice may be \"auto\" or \"none\". Leave it out, or pass drop_params=True.",
        ))
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: endpoint_url(&target.api_base, "/api/chat"),
            headers: json_headers(target, AuthStyle::Bearer)?,
            body: encode_body(req, &target.model, stream)?,
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        parse_response(body, target)
    }

    fn stream_format(&self) -> FrameFormat {
        FrameFormat::Ndjson
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(OllamaStreamParser::new(target))
    }

    fn parse_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        target: &Target,
    ) -> LlmError {
        error_from_body(status, headers, body, target)
    }

    fn supports_embeddings(&self) -> bool {
        true
    }

    /// `dimensions` is Ollama's own field; `encoding_format="base64"` is produced by the
    /// call pipeline from the floats Ollama returns.
    fn embedding_params(&self, _model: &str) -> Vec<&'static str> {
        vec!["dimensions", "encoding_format"]
    }

    fn build_embedding_request(
        &self,
        req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: endpoint_url(&target.api_base, "/api/embed"),
            headers: json_headers(target, AuthStyle::Bearer)?,
            body: encode_embedding_body(req, &target.model)?,
        })
    }

    fn parse_embedding_response(
        &self,
        body: &[u8],
        target: &Target,
    ) -> Result<EmbeddingResponse, LlmError> {
        parse_embedding_response(body, target)
    }
}

/// `{api_base}{path}`; a base that already ends with one of Ollama's endpoint paths (as
/// LiteLLM accepts `…/api/chat`) is used without it.
pub fn endpoint_url(api_base: &str, path: &str) -> String {
    let mut base = api_base.trim_end_matches('/');
    for known in ENDPOINTS {
        if let Some(stem) = base.strip_suffix(known) {
            base = stem;
            break;
        }
    }
    format!("{base}{path}")
}

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

/// Serialize `req` as an `/api/chat` body for `model`.
pub fn encode_body(req: &ChatRequest, model: &str, stream: bool) -> Result<Bytes, LlmError> {
    encode_json(&Value::Object(build_body(req, model, stream)?))
}

/// `think` for `reasoning_effort`, as LiteLLM sends it: gpt-oss takes the level itself,
/// other models a switch (on for low, medium and high).
fn think_value(effort: &str, model: &str) -> Value {
    if model.to_ascii_lowercase().starts_with("gpt-oss") {
        Value::String(effort.to_owned())
    } else {
        Value::Bool(matches!(effort, "low" | "medium" | "high"))
    }
}

/// The `/api/chat` body for `req`, as a JSON object.
pub fn build_body(
    req: &ChatRequest,
    model: &str,
    stream: bool,
) -> Result<Map<String, Value>, LlmError> {
    let p = &req.params;
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert(
        "messages".into(),
        Value::Array(convert_messages(&req.messages)?),
    );
    let tools_off = matches!(&p.tool_choice, Some(ToolChoice::Mode(m)) if m == "none");
    if let (Some(tools), false) = (&p.tools, tools_off) {
        let defs: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), t.function.name.clone().into());
                if let Some(d) = &t.function.description {
                    function.insert("description".into(), d.clone().into());
                }
                if let Some(params) = &t.function.parameters {
                    function.insert("parameters".into(), params.clone());
                }
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(defs));
    }
    // Ollama streams unless told otherwise.
    body.insert("stream".into(), Value::Bool(stream));
    if let Some(format) = &p.response_format {
        match format.kind.as_str() {
            "json_object" => {
                body.insert("format".into(), "json".into());
            }
            "json_schema" => {
                let schema = format
                    .json_schema
                    .as_ref()
                    .and_then(|s| s.schema.clone())
                    .unwrap_or_else(|| Value::String("json".into()));
                body.insert("format".into(), schema);
            }
            "text" => {}
            other => {
                return Err(LlmError::bad_request(format!(
                    "response_format type '{other}' is not one of text, json_object, json_schema"
                )))
            }
        }
    }
    if let Some(effort) = &p.reasoning_effort {
        body.insert("think".into(), think_value(effort, model));
    }
    let mut options = Map::new();
    if let Some(v) = p.temperature {
        options.insert("temperature".into(), v.into());
    }
    if let Some(v) = p.top_p {
        options.insert("top_p".into(), v.into());
    }
    if let Some(v) = req.max_output_tokens() {
        options.insert("num_predict".into(), v.into());
    }
    if let Some(stop) = &p.stop {
        options.insert("stop".into(), json!(stop.0));
    }
    if let Some(v) = p.seed {
        options.insert("seed".into(), v.into());
    }
    if let Some(v) = p.frequency_penalty {
        options.insert("frequency_penalty".into(), v.into());
    }
    if let Some(v) = p.presence_penalty {
        options.insert("presence_penalty".into(), v.into());
    }
    for (key, value) in &req.extra {
        match key.as_str() {
            "options" => {
                if let Value::Object(o) = value {
                    options.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            "extra_body" => {
                if let Value::Object(o) = value {
                    body.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            k if TOP_LEVEL.contains(&k) => {
                body.insert(key.clone(), value.clone());
            }
            _ => {
                options.insert(key.clone(), value.clone());
            }
        }
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    Ok(body)
}

fn convert_messages(messages: &[Message]) -> Result<Vec<Value>, LlmError> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let mut turn = Map::new();
        let (text, images) = content(m, i)?;
        match m.role {
            Role::System | Role::Developer => {
                turn.insert("role".into(), "system".into());
                turn.insert("content".into(), text.into());
            }
            Role::User => {
                turn.insert("role".into(), "user".into());
                turn.insert("content".into(), text.into());
            }
            Role::Assistant => {
                turn.insert("role".into(), "assistant".into());
                // A tool-calling turn without text has no content (as the ollama SDK sends it).
                if !text.is_empty() || m.tool_calls.as_ref().is_none_or(Vec::is_empty) {
                    turn.insert("content".into(), text.into());
                }
                if let Some(thinking) = m
                    .extra
                    .get("reasoning_content")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    turn.insert("thinking".into(), thinking.into());
                }
                let calls = m.tool_calls.as_deref().unwrap_or_default();
                if !calls.is_empty() {
                    let calls = calls
                        .iter()
                        .map(|c| {
                            let args = if c.function.arguments.trim().is_empty() {
                                json!({})
                            } else {
                                serde_json::from_str::<Value>(&c.function.arguments).map_err(|e| {
                                    LlmError::bad_request(format!(
                                        "messages[{i}]: tool call {} has arguments that are not JSON ({e}); Ollama takes them as an object",
                                        c.id
                                    ))
                                })?
                            };
                            Ok(json!({"function": {"name": c.function.name, "arguments": args}}))
                        })
                        .collect::<Result<Vec<_>, LlmError>>()?;
                    turn.insert("tool_calls".into(), Value::Array(calls));
                }
            }
            Role::Tool | Role::Function => {
                turn.insert("role".into(), "tool".into());
                turn.insert("content".into(), text.into());
                let name = m.name.clone().or_else(|| {
                    let id = m.tool_call_id.as_deref()?;
                    messages[..i]
                        .iter()
                        .rev()
                        .flat_map(|p| p.tool_calls.iter().flatten())
                        .find(|c| c.id == id)
                        .map(|c| c.function.name.clone())
                });
                if let Some(name) = name {
                    turn.insert("tool_name".into(), name.into());
                }
            }
        }
        if !images.is_empty() {
            turn.insert("images".into(), json!(images));
        }
        out.push(Value::Object(turn));
    }
    Ok(out)
}

/// A message's text (parts joined) and its images as base64 (Ollama takes no URLs).
fn content(m: &Message, i: usize) -> Result<(String, Vec<String>), LlmError> {
    let Some(MessageContent::Parts(parts)) = &m.content else {
        return Ok((m.text(), Vec::new()));
    };
    let mut text = String::new();
    let mut images = Vec::new();
    for p in parts {
        match p.kind.as_str() {
            "text" => text.push_str(p.text.as_deref().unwrap_or_default()),
            "image_url" => {
                let url = p
                    .image_url
                    .as_ref()
                    .map(|u| u.url.as_str())
                    .unwrap_or_default();
                images.push(image_base64(url).ok_or_else(|| {
                    LlmError::bad_request(format!(
                        "messages[{i}]: Ollama takes images as base64 data (a data: URL or the base64 text), not a link: fetch the image and pass it as data:image/...;base64,..."
                    ))
                })?);
            }
            other => {
                return Err(LlmError::bad_request(format!(
                    "messages[{i}]: Ollama's chat takes text and image_url parts, not '{other}'"
                )))
            }
        }
    }
    Ok((text, images))
}

/// The base64 payload of a `data:` URL, or the text itself when it is already bare base64.
fn image_base64(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("data:") {
        return rest.split_once(',').map(|(_, data)| data.to_owned());
    }
    if url.contains("://") || url.is_empty() {
        return None;
    }
    Some(url.to_owned())
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

/// An `/api/embed` body: `model`, `input`, `dimensions`; `truncate`, `keep_alive` and
/// `options` as given, any other keyword into `options`.
pub fn encode_embedding_body(req: &EmbeddingRequest, model: &str) -> Result<Bytes, LlmError> {
    if matches!(
        req.input,
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_)
    ) {
        return Err(LlmError::bad_request(
            "Ollama embeds text: pass input as a string or a list of strings, not token ids",
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("input".into(), json!(req.input));
    if let Some(d) = req.dimensions {
        body.insert("dimensions".into(), d.into());
    }
    let mut options = Map::new();
    for (k, v) in &req.extra {
        match k.as_str() {
            "truncate" | "keep_alive" => {
                body.insert(k.clone(), v.clone());
            }
            "options" => {
                if let Value::Object(o) = v {
                    options.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            _ => {
                options.insert(k.clone(), v.clone());
            }
        }
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    encode_json(&Value::Object(body))
}

#[derive(Deserialize)]
struct EmbedBody {
    #[serde(default)]
    model: Option<String>,
    /// Required: a body without it is not an answer (an empty list would pass for one).
    embeddings: Vec<Vec<f64>>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
}

/// An `/api/embed` response → OpenAI's list; usage from `prompt_eval_count`.
pub fn parse_embedding_response(
    body: &[u8],
    target: &Target,
) -> Result<EmbeddingResponse, LlmError> {
    let r: EmbedBody = parse_json(body, "Ollama embed response").map_err(|e| target.annotate(e))?;
    let data = r
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            Embedding::new(
                u32::try_from(i).unwrap_or(u32::MAX),
                EmbeddingVector::Float(v),
            )
        })
        .collect();
    let usage = r.prompt_eval_count.map(|n| Usage::new(n, 0));
    Ok(EmbeddingResponse::new(
        r.model.unwrap_or_else(|| target.model.clone()),
        data,
        usage,
    ))
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ChatBody {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    message: Option<OllamaMessage>,
    /// `false` on every stream line but the last; `true` on a non-streaming reply.
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
struct OllamaMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<OllamaToolCall>>,
}

#[derive(Deserialize)]
struct OllamaToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<OllamaFunction>,
}

#[derive(Deserialize, Default)]
struct OllamaFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

impl OllamaToolCall {
    /// The call in OpenAI's shape: Ollama's id if it sent one, else a fresh `call_…` id;
    /// arguments (an object) as a JSON string.
    fn into_openai(self) -> ToolCall {
        let f = self.function.unwrap_or_default();
        let arguments = match f.arguments {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        ToolCall {
            id: self
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| new_id("call_")),
            kind: "function".to_owned(),
            function: FunctionCall {
                name: f.name,
                arguments,
            },
        }
    }
}

fn usage(prompt: Option<u64>, completion: Option<u64>) -> Option<Usage> {
    (prompt.is_some() || completion.is_some())
        .then(|| Usage::new(prompt.unwrap_or(0), completion.unwrap_or(0)))
}

/// `done_reason` → OpenAI's (`load`, `unload` and unknown reasons are `stop`).
fn finish_reason(done_reason: Option<&str>, called_tools: bool) -> &'static str {
    if called_tools {
        return "tool_calls";
    }
    match done_reason {
        Some("length") => "length",
        _ => "stop",
    }
}

/// A leading `<think>…</think>` in `content` (models that think in their text) →
/// (reasoning, the rest).
fn split_think_tags(content: &str) -> Option<(String, String)> {
    let rest = content.trim_start().strip_prefix("<think>")?;
    let (thinking, answer) = rest.split_once("</think>")?;
    Some((thinking.trim().to_owned(), answer.trim_start().to_owned()))
}

/// An `/api/chat` response (`"stream": false`) → `chat.completion`.
pub fn parse_response(body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
    let r: ChatBody = parse_json(body, "Ollama chat response").map_err(|e| target.annotate(e))?;
    if r.error.is_some() {
        return Err(error_from_body(500, &HeaderMap::new(), body, target));
    }
    // serde reads a struct from a JSON array too, and every field is optional: a reply
    // with neither a message nor `done` is not an answer.
    if r.message.is_none() && !r.done {
        let snippet = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(target.annotate(LlmError::new(
            ErrorKind::Api,
            format!(
                "Could not parse the Ollama chat response: it has no message. Body starts \
                 with: {snippet}"
            ),
        )));
    }
    let message = r.message.unwrap_or_default();
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .into_iter()
        .flatten()
        .map(OllamaToolCall::into_openai)
        .collect();
    let mut content = message
        .content
        .filter(|c| !c.is_empty() || tool_calls.is_empty());
    let mut reasoning = message.thinking.filter(|t| !t.is_empty());
    if reasoning.is_none() {
        if let Some((thinking, answer)) = content.as_deref().and_then(split_think_tags) {
            reasoning = Some(thinking);
            content = Some(answer);
        }
    }
    let finish = finish_reason(r.done_reason.as_deref(), !tool_calls.is_empty());
    let mut response = ChatResponse::new(r.model.unwrap_or_else(|| target.model.clone()));
    response.choices.push(Choice {
        index: 0,
        message: ResponseMessage {
            content,
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            reasoning_content: reasoning,
            ..Default::default()
        },
        finish_reason: Some(finish.to_owned()),
        logprobs: None,
        extra: Map::new(),
    });
    response.usage = usage(r.prompt_eval_count, r.eval_count);
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Map an Ollama error (`{"error": "…"}`) as LiteLLM does: "no such file or directory" (a
/// model that is not loaded) → `BadRequestError`; otherwise by status
/// ([`ErrorKind::from_status_generic`]: 404 for a model not pulled is a `NotFoundError`).
/// Context-length wording → `ContextWindowExceededError`.
pub fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = error_message(
        parsed.as_ref(),
        body,
        status,
        &["error", "message", "detail"],
    );
    let kind = if message.contains("no such file or directory") {
        ErrorKind::BadRequest
    } else if is_context_window_message(&message) {
        ErrorKind::ContextWindowExceeded
    } else {
        ErrorKind::from_status_generic(status)
    };
    let body_value =
        parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
    target.annotate(
        LlmError::new(kind, message)
            .with_status(status)
            .with_body(redact_value(body_value, &target.secrets()))
            .with_retry_after(retry_after_seconds(headers)),
    )
}

// ---------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------

/// Turns Ollama's NDJSON lines into OpenAI chunks under one id: `message.content` →
/// content (a `<think>` section → `reasoning_content`), `message.thinking` →
/// `reasoning_content`, each tool call → a whole tool-call delta with a generated id and
/// its own index, the `done` line → the finish chunk and a usage chunk.
pub struct OllamaStreamParser {
    target: Target,
    id: String,
    created: i64,
    model: String,
    started: bool,
    tool_calls: u32,
    in_think_tags: bool,
    done: bool,
}

impl OllamaStreamParser {
    pub fn new(target: &Target) -> Self {
        OllamaStreamParser {
            target: target.clone(),
            id: new_id("chatcmpl-"),
            created: unix_now(),
            model: target.model.clone(),
            started: false,
            tool_calls: 0,
            in_think_tags: false,
            done: false,
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk::new(&self.id, self.created, &self.model).with_delta(0, delta, finish_reason)
    }

    /// Split a content piece into (content, reasoning) by `<think>` tags seen so far.
    fn split_content(&mut self, piece: &str) -> (Option<String>, Option<String>) {
        let mut text = piece.to_owned();
        if let Some(after) = text.strip_prefix("<think>").map(str::to_owned) {
            self.in_think_tags = true;
            text = after;
        }
        if self.in_think_tags {
            if let Some((thinking, answer)) = text.split_once("</think>") {
                self.in_think_tags = false;
                let answer = answer.trim_start();
                return (
                    (!answer.is_empty()).then(|| answer.to_owned()),
                    (!thinking.is_empty()).then(|| thinking.to_owned()),
                );
            }
            return (None, (!text.is_empty()).then_some(text));
        }
        ((!text.is_empty()).then_some(text), None)
    }
}

impl StreamParser for OllamaStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(StreamControl::Continue);
        }
        let line: ChatBody = serde_json::from_str(data).map_err(|e| {
            self.target.annotate(LlmError::new(
                ErrorKind::Api,
                format!(
                    "Could not parse an Ollama stream line ({e}): {}",
                    data.chars().take(300).collect::<String>()
                ),
            ))
        })?;
        if line.error.is_some() {
            return Err(error_from_body(
                500,
                &HeaderMap::new(),
                data.as_bytes(),
                &self.target,
            ));
        }
        if let Some(model) = line.model.as_deref().filter(|m| !m.is_empty()) {
            model.clone_into(&mut self.model);
        }
        let message = line.message.unwrap_or_default();
        let mut delta = Delta::default();
        if !self.started {
            self.started = true;
            delta.role = Some("assistant".to_owned());
        }
        let (content, tagged_thinking) =
            self.split_content(message.content.as_deref().unwrap_or_default());
        delta.content = content;
        delta.reasoning_content = message
            .thinking
            .filter(|t| !t.is_empty())
            .or(tagged_thinking);
        let calls: Vec<ToolCallDelta> = message
            .tool_calls
            .into_iter()
            .flatten()
            .map(|c| {
                let call = c.into_openai();
                let index = self.tool_calls;
                self.tool_calls += 1;
                ToolCallDelta {
                    index,
                    id: Some(call.id),
                    kind: Some("function".to_owned()),
                    function: Some(FunctionDelta {
                        name: Some(call.function.name),
                        arguments: Some(call.function.arguments),
                    }),
                }
            })
            .collect();
        if !calls.is_empty() {
            delta.tool_calls = Some(calls);
        }
        let has_delta = delta.role.is_some()
            || delta.content.is_some()
            || delta.reasoning_content.is_some()
            || delta.tool_calls.is_some();
        if line.done {
            self.done = true;
            let finish = finish_reason(line.done_reason.as_deref(), self.tool_calls > 0);
            out.push(self.chunk(delta, Some(finish.to_owned())));
            if let Some(u) = usage(line.prompt_eval_count, line.eval_count) {
                let mut usage_chunk = ChatChunk::new(&self.id, self.created, &self.model);
                usage_chunk.usage = Some(Box::new(u));
                out.push(usage_chunk);
            }
            return Ok(StreamControl::Done);
        }
        if has_delta {
            out.push(self.chunk(delta, None));
        }
        Ok(StreamControl::Continue)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        if self.done {
            return Ok(());
        }
        Err(self.target.annotate(LlmError::new(
            ErrorKind::ApiConnection,
            "The Ollama stream ended before its \"done\" line",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(model: &str) -> Target {
        Arc::new(Ollama::new("ollama_chat"))
            .resolve_target(
                model,
                &TargetOptions {
                    api_base: Some("http://127.0.0.1:9".into()),
                    ..Default::default()
                },
            )
            .unwrap()
    }

    fn request(messages: Value, params: Value) -> ChatRequest {
        crate::providers::test_request("llama3.2", messages, params)
    }

    fn body(messages: Value, params: Value, model: &str) -> Value {
        Value::Object(build_body(&request(messages, params), model, false).unwrap())
    }

    #[test]
    fn bodies_match_the_docs_examples() {
        // https://github.com/ollama/ollama/blob/main/docs/api.md: "Chat request (No streaming)".
        let b = body(
            json!([{"role": "user", "content": "why is the sky blue?"}]),
            json!({}),
            "llama3.2",
        );
        assert_eq!(
            b,
            json!({"model": "llama3.2", "messages": [{"role": "user", "content": "why is the sky blue?"}], "stream": false})
        );
        // "Chat request (Reproducible outputs)": options.seed and options.temperature.
        let b = body(
            json!([{"role": "user", "content": "Hello!"}]),
            json!({"seed": 101, "temperature": 0}),
            "llama3.2",
        );
        assert_eq!(b["options"], json!({"temperature": 0.0, "seed": 101}));
        // "Chat request (Structured outputs)": format is the JSON schema.
        let schema = json!({"type": "object", "properties": {"age": {"type": "integer"}, "available": {"type": "boolean"}}, "required": ["age", "available"]});
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}}),
            "llama3.1",
        );
        assert_eq!(b["format"], schema);
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"response_format": {"type": "json_object"}}),
            "llama3.1",
        );
        assert_eq!(b["format"], json!("json"));
        // Streams say so.
        let b: Value = serde_json::from_slice(
            &encode_body(
                &request(json!([{"role": "user", "content": "x"}]), json!({})),
                "m",
                true,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(b["stream"], json!(true));
    }

    #[test]
    fn options_keep_ollamas_names_and_penalties_are_not_repeat_penalty() {
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"temperature": 0.7, "top_p": 0.9, "max_tokens": 5, "max_completion_tokens": 42, "stop": ["\n", "user:"],
                   "seed": 42, "frequency_penalty": 1.0, "presence_penalty": 1.5, "num_ctx": 8192, "top_k": 20,
                   "repeat_penalty": 1.2, "keep_alive": "10m", "think": true, "options": {"min_p": 0.05}}),
            "llama3.2",
        );
        assert_eq!(
            b["options"],
            json!({"temperature": 0.7, "top_p": 0.9, "num_predict": 42, "stop": ["\n", "user:"],
            "seed": 42, "frequency_penalty": 1.0, "presence_penalty": 1.5, "num_ctx": 8192, "top_k": 20,
            "repeat_penalty": 1.2, "min_p": 0.05})
        );
        assert_eq!(b["keep_alive"], json!("10m"));
        assert_eq!(b["think"], json!(true));
        for absent in ["temperature", "max_tokens", "num_ctx", "options.options"] {
            assert!(b.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn reasoning_effort_is_think() {
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "high"}),
            "gpt-oss:20b",
        );
        assert_eq!(b["think"], json!("high"));
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "low"}),
            "qwen3",
        );
        assert_eq!(b["think"], json!(true));
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "none"}),
            "qwen3",
        );
        assert_eq!(b["think"], json!(false));
    }

    #[test]
    fn tools_calls_results_and_images() {
        // docs/api.md "Chat request (with tools)".
        let tool = json!({"type": "function", "function": {"name": "get_current_weather", "description": "Get the current weather for a location",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "format": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location", "format"]}}});
        let b = body(
            json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is in this image? "},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                                          {"type": "text", "text": "And the weather?"}]},
            {"role": "assistant", "content": null, "reasoning_content": "Need weather.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Paris, FR\", \"format\": \"celsius\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees"}]),
            json!({"tools": [tool], "tool_choice": "auto"}),
            "llama3.2",
        );
        assert_eq!(b["tools"], json!([tool]));
        assert_eq!(
            b["messages"],
            json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is in this image? And the weather?", "images": ["iVBORw0KGgo="]},
            {"role": "assistant", "thinking": "Need weather.", "tool_calls": [
                {"function": {"name": "get_current_weather", "arguments": {"location": "Paris, FR", "format": "celsius"}}}]},
            {"role": "tool", "content": "22 degrees", "tool_name": "get_current_weather"}])
        );
        // tool_choice "none" leaves the tools out.
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"tools": [tool], "tool_choice": "none"}),
            "m",
        );
        assert!(b.get("tools").is_none());
        // Links and bad arguments fail before any request.
        let err = build_body(&request(json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]), json!({})), "m", false).unwrap_err();
        assert!(err.message.contains("base64"), "{}", err.message);
        let err = build_body(
            &request(
                json!([{"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]),
                json!({}),
            ),
            "m",
            false,
        )
        .unwrap_err();
        assert!(err.message.contains("not JSON"), "{}", err.message);
    }

    #[test]
    fn tool_choice_that_forces_a_call_is_unsupported() {
        let p = Ollama::new("ollama");
        let t = target("llama3.2");
        let mut req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"tool_choice": "required"}),
        );
        assert_eq!(
            p.check_params(&mut req, &t, false).unwrap_err().kind,
            ErrorKind::UnsupportedParams
        );
        assert_eq!(
            p.check_params(&mut req, &t, true).unwrap(),
            vec!["tool_choice"]
        );
        assert!(req.params.tool_choice.is_none());
        let mut req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"tool_choice": "auto"}),
        );
        assert!(p.check_params(&mut req, &t, false).unwrap().is_empty());
    }

    #[test]
    fn urls_and_optional_key() {
        assert_eq!(
            endpoint_url("http://localhost:11434", "/api/chat"),
            "http://localhost:11434/api/chat"
        );
        assert_eq!(
            endpoint_url("http://localhost:11434/api/chat/", "/api/embed"),
            "http://localhost:11434/api/embed"
        );
        assert_eq!(
            endpoint_url("https://ollama.com/", "/api/chat"),
            "https://ollama.com/api/chat"
        );
        if std::env::var("OLLAMA_API_BASE").is_err() {
            let t = Arc::new(Ollama::new("ollama"))
                .resolve_target("llama3.2", &TargetOptions::default())
                .unwrap();
            assert_eq!(t.api_base, "http://localhost:11434");
        }
        let t = target("llama3.2");
        assert_eq!(t.provider_name(), "ollama_chat");
        let h = json_headers(&t, AuthStyle::Bearer).unwrap();
        if std::env::var("OLLAMA_API_KEY").is_err() {
            assert!(h.get("authorization").is_none());
        }
    }

    #[test]
    fn parses_the_documented_responses() {
        let t = target("llama3.2");
        // docs/api.md "Chat request (with tools)" response.
        let body = json!({"model": "llama3.2", "created_at": "2024-07-22T20:33:28.123648Z",
            "message": {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "get_current_weather", "arguments": {"format": "celsius", "location": "Paris, FR"}}},
                {"function": {"name": "get_current_weather", "arguments": {"format": "celsius", "location": "Lyon, FR"}}}]},
            "done_reason": "stop", "done": true, "total_duration": 885095291, "load_duration": 3753500,
            "prompt_eval_count": 122, "prompt_eval_duration": 328493000, "eval_count": 33, "eval_duration": 552222000});
        let r = parse_response(body.to_string().as_bytes(), &t).unwrap();
        assert!(r.id.starts_with("chatcmpl-"));
        assert_eq!(r.model, "llama3.2");
        let m = &r.choices[0].message;
        assert_eq!(m.content, None);
        let calls = m.tool_calls.as_ref().unwrap();
        assert!(calls[0].id.starts_with("call_") && calls[0].id != calls[1].id);
        assert_eq!(
            serde_json::from_str::<Value>(&calls[0].function.arguments).unwrap(),
            json!({"format": "celsius", "location": "Paris, FR"})
        );
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let u = r.usage.as_ref().unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (122, 33, 155)
        );

        let thinking = json!({"model": "qwen3", "message": {"role": "assistant", "content": "42", "thinking": "6*7"},
                              "done": true, "done_reason": "length", "prompt_eval_count": 3, "eval_count": 4});
        let r = parse_response(thinking.to_string().as_bytes(), &t).unwrap();
        assert_eq!(
            (r.text(), r.choices[0].message.reasoning_content.as_deref()),
            (Some("42"), Some("6*7"))
        );
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
        let tagged = json!({"model": "deepseek-r1", "message": {"role": "assistant", "content": "<think>\nHmm.\n</think>\n\nHi!"}, "done": true});
        let r = parse_response(tagged.to_string().as_bytes(), &t).unwrap();
        assert_eq!(
            (r.text(), r.choices[0].message.reasoning_content.as_deref()),
            (Some("Hi!"), Some("Hmm."))
        );
        assert!(r.usage.is_none());
    }

    #[test]
    fn errors_map_as_litellm_does() {
        let t = target("llama3.2");
        let e = |status: u16, msg: &str| {
            error_from_body(
                status,
                &HeaderMap::new(),
                json!({"error": msg}).to_string().as_bytes(),
                &t,
            )
        };
        let nf = e(404, "model \"llama3\" not found, try pulling it first");
        assert_eq!(
            (nf.kind, nf.message.as_str()),
            (
                ErrorKind::NotFound,
                "model \"llama3\" not found, try pulling it first"
            )
        );
        assert_eq!(nf.provider.as_deref(), Some("ollama_chat"));
        assert_eq!(
            e(
                500,
                "open /root/.ollama/models/blobs/sha256-x: no such file or directory"
            )
            .kind,
            ErrorKind::BadRequest
        );
        assert_eq!(e(400, "invalid options: foo").kind, ErrorKind::BadRequest);
        assert_eq!(
            e(400, "input length exceeds the context length").kind,
            ErrorKind::ContextWindowExceeded
        );
        assert_eq!(
            e(500, "llama runner process has terminated: signal: killed").kind,
            ErrorKind::InternalServer
        );
        assert_eq!(
            e(
                503,
                "server busy, please try again.  maximum pending requests exceeded"
            )
            .kind,
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(e(401, "unauthorized").kind, ErrorKind::Authentication);
        assert_eq!(e(429, "too many requests").kind, ErrorKind::RateLimit);
    }

    fn run_stream(lines: &[Value]) -> (Vec<ChatChunk>, Result<(), LlmError>) {
        let mut p = OllamaStreamParser::new(&target("llama3.2"));
        let mut out = Vec::new();
        for l in lines {
            let data = l.to_string();
            match p.on_frame(
                Frame {
                    event: None,
                    data: &data,
                },
                &mut out,
            ) {
                Ok(StreamControl::Done) => break,
                Ok(StreamControl::Continue) => {}
                Err(err) => return (out, Err(err)),
            }
        }
        let end = p.on_end(&mut out);
        (out, end)
    }

    #[test]
    fn stream_text_thinking_tools_and_usage_under_one_id() {
        let lines = [
            json!({"model": "qwen3", "created_at": "2025-05-29T09:35:56.836222Z", "message": {"role": "assistant", "content": "", "thinking": "Let me"}, "done": false}),
            json!({"model": "qwen3", "created_at": "2025-05-29T09:35:56.9Z", "message": {"role": "assistant", "content": "", "thinking": " think."}, "done": false}),
            json!({"model": "qwen3", "created_at": "2025-05-29T09:35:57Z", "message": {"role": "assistant", "content": "Sure."}, "done": false}),
            json!({"model": "qwen3", "created_at": "2025-05-29T09:35:58Z", "message": {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Toronto"}}}, {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}, "done": false}),
            json!({"model": "qwen3", "created_at": "2025-05-29T09:35:59Z", "message": {"role": "assistant", "content": ""}, "done_reason": "stop", "done": true,
                   "total_duration": 1, "prompt_eval_count": 26, "eval_count": 282}),
        ];
        let (chunks, end) = run_stream(&lines);
        end.unwrap();
        let id = &chunks[0].id;
        assert!(chunks.iter().all(|c| &c.id == id && c.model == "qwen3"));
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.reasoning_content.clone())
            .collect();
        assert_eq!(reasoning, "Let me think.");
        let calls = chunks[3].choices[0].delta.tool_calls.clone().unwrap();
        assert_eq!((calls[0].index, calls[1].index), (0, 1));
        assert_ne!(calls[0].id, calls[1].id);
        assert_eq!(
            calls[1].function.as_ref().unwrap().arguments.as_deref(),
            Some("{\"city\":\"Paris\"}")
        );
        assert_eq!(
            chunks[4].choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
        let usage = chunks[5].usage.as_ref().unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (26, 282));
    }

    #[test]
    fn stream_think_tags_errors_and_truncation() {
        let line = |content: &str| json!({"model": "deepseek-r1", "message": {"role": "assistant", "content": content}, "done": false});
        let lines = [
            line("<think>"),
            line("Hmm"),
            line("</think>"),
            line("Answer"),
            json!({"model": "deepseek-r1", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "length"}),
        ];
        let (chunks, end) = run_stream(&lines);
        end.unwrap();
        let text: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.reasoning_content.clone())
            .collect();
        assert_eq!((text.as_str(), reasoning.as_str()), ("Answer", "Hmm"));
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason.as_deref(),
            Some("length")
        );

        let (_, end) = run_stream(&[
            line("a"),
            json!({"error": "an error was encountered while running the model"}),
        ]);
        assert_eq!(end.unwrap_err().kind, ErrorKind::InternalServer);
        let (chunks, end) = run_stream(&[line("a")]);
        assert_eq!(chunks.len(), 1);
        assert_eq!(end.unwrap_err().kind, ErrorKind::ApiConnection);
    }

    #[test]
    fn embeddings_body_and_response() {
        let t = target("all-minilm");
        let mut req = EmbeddingRequest::new(
            "all-minilm",
            vec!["Why is the sky blue?", "Why is the grass green?"],
        );
        req.dimensions = Some(384);
        req.extra.insert("keep_alive".into(), json!("5m"));
        req.extra.insert("truncate".into(), json!(false));
        req.extra.insert("num_ctx".into(), json!(512));
        let b: Value =
            serde_json::from_slice(&encode_embedding_body(&req, "all-minilm").unwrap()).unwrap();
        // docs/api.md "Generate Embeddings" (multiple input).
        assert_eq!(
            b,
            json!({"model": "all-minilm", "input": ["Why is the sky blue?", "Why is the grass green?"], "dimensions": 384,
                             "keep_alive": "5m", "truncate": false, "options": {"num_ctx": 512}})
        );
        let resp = json!({"model": "all-minilm", "embeddings": [[0.010071029, -0.0017594862], [-0.0098027075, 0.06042469]],
                          "total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8});
        let r = parse_embedding_response(resp.to_string().as_bytes(), &t).unwrap();
        assert_eq!(r.data.len(), 2);
        assert_eq!(
            r.data[1].embedding,
            EmbeddingVector::Float(vec![-0.0098027075, 0.06042469])
        );
        assert_eq!(r.usage.unwrap().prompt_tokens, 8);
        assert!(encode_embedding_body(
            &EmbeddingRequest {
                input: EmbeddingInput::Tokens(vec![1]),
                ..req
            },
            "m"
        )
        .is_err());
    }
}
