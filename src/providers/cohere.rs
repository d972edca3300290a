//! Cohere's v2 API (`cohere/…`, bare `command-*`): Chat (`POST /v2/chat`) and Embed
//! (`POST /v2/embed`), with `Authorization: Bearer` from `COHERE_API_KEY` / `CO_API_KEY`.
//!
//! Request: messages keep their roles (`developer` becomes `system`); an assistant's
//! `tool_calls` and a tool result's `tool_call_id` are Cohere's own fields; an assistant
//! turn's `reasoning_content` (or Cohere's `tool_plan`) goes back as `tool_plan`.
//! Parameters: `top_p` → `p`, `top_k` → `k`, `stop` → `stop_sequences`,
//! `max_completion_tokens` → `max_tokens`, `tool_choice` `required`/`none` →
//! `REQUIRED`/`NONE` (a named function: only that tool, `REQUIRED`), `response_format`
//! `json_schema` → `{"type": "json_object", "json_schema": …}`. Cohere's own parameters
//! (`safety_mode`, `documents`, `citation_options`, `thinking`, `strict_tools`, …) are sent
//! as given.
//!
//! Response: text content → `content`, `thinking` content and the `tool_plan` →
//! `reasoning_content`, tool calls as they are, citations → `annotations` (as LiteLLM
//! shapes them), `usage.tokens` → usage (`billed_units` when `tokens` is absent), finish
//! reasons mapped; `ERROR` and `TIMEOUT` are raised as errors, since the generation failed.
//!
//! `api_base` is, as in LiteLLM, the full chat URL (`https://api.cohere.com/v2/chat`); a
//! URL ending in `/chat` or `/embed` is used for the other endpoint with that last segment
//! swapped, and a bare host gets `/v2/chat` / `/v2/embed` appended.

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
use crate::stream::{Frame, StreamControl};
use crate::types::{
    unix_now, ChatChunk, ChatRequest, ChatResponse, Choice, ContentPart, Delta, Embedding,
    EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, FunctionCall,
    FunctionDelta, Message, MessageContent, PromptTokensDetails, ResponseMessage, Role, ToolCall,
    ToolCallDelta, ToolChoice, Usage,
};

/// Where requests go without `api_base=` or `COHERE_API_BASE`.
pub const DEFAULT_API_BASE: &str = "https://api.cohere.com";
const API_KEY_ENV: &[&str] = &["COHERE_API_KEY", "CO_API_KEY"];
const API_BASE_ENV: &[&str] = &["COHERE_API_BASE"];
/// Where the key and base URL come from when the call gives none.
const ENV: ApiEnv = ApiEnv {
    name: "cohere",
    key: API_KEY_ENV,
    base: API_BASE_ENV,
    default_base: DEFAULT_API_BASE,
    key_required: true,
};
/// `input_type` sent to `/v2/embed` when the caller gives none (LiteLLM's default; v3 and
/// later models require one).
pub const DEFAULT_EMBEDDING_INPUT_TYPE: &str = "search_document";

/// The OpenAI parameters Cohere's v2 Chat API can express. Cohere v2 has no `n`, `user`,
/// `logit_bias` or parallel-tool-call switch.
pub const SUPPORTED_PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "stream_options",
    "stream",
];

/// The Cohere provider's registry entry.
pub struct Cohere;

impl Provider for Cohere {
    fn name(&self) -> &str {
        "cohere"
    }

    fn supported_params(&self, _model: &str) -> Vec<&'static str> {
        SUPPORTED_PARAMS.to_vec()
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        // LiteLLM's `cohere_chat/v2/<model>` route prefix; v1 is another API.
        let model = model.strip_prefix("v2/").unwrap_or(model);
        if let Some(rest) = model.strip_prefix("v1/") {
            return Err(LlmError::bad_request(format!(
                "Cohere's v1 Chat API is not supported; llmswitch speaks v2. Use model=\"cohere/{rest}\""
            ))
            .with_provider("cohere")
            .with_model(model));
        }
        ENV.target(self, model, opts)
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: endpoint_url(&target.api_base, "chat"),
            headers: json_headers(target, AuthStyle::Bearer)?,
            body: encode_body(req, &target.model, stream)?,
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        parse_response(body, target)
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(CohereStreamParser::new(target))
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

    /// `dimensions` → `output_dimension` (embed-v4 and later); `encoding_format="base64"` is
    /// honoured by the call pipeline, which encodes the floats asked for here.
    fn embedding_params(&self, _model: &str) -> Vec<&'static str> {
        vec!["dimensions", "encoding_format"]
    }

    fn build_embedding_request(
        &self,
        req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: endpoint_url(&target.api_base, "embed"),
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

/// The URL of `endpoint` (`chat` or `embed`) for `api_base`: a full Cohere URL (ending in
/// `/chat` or `/embed`) with its last segment swapped, else `{api_base}/v2/{endpoint}`
/// (`{api_base}/{endpoint}` when the base already ends in `/v2`).
pub fn endpoint_url(api_base: &str, endpoint: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if let Some(stem) = base
        .strip_suffix("/chat")
        .or_else(|| base.strip_suffix("/embed"))
    {
        return format!("{stem}/{endpoint}");
    }
    if base.ends_with("/v2") {
        format!("{base}/{endpoint}")
    } else {
        format!("{base}/v2/{endpoint}")
    }
}

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

/// Serialize `req` as a v2 Chat body for `model`.
pub fn encode_body(req: &ChatRequest, model: &str, stream: bool) -> Result<Bytes, LlmError> {
    encode_json(&Value::Object(build_body(req, model, stream)?))
}

/// The v2 Chat body for `req`, as a JSON object (fields in the order of Cohere's reference).
pub fn build_body(
    req: &ChatRequest,
    model: &str,
    stream: bool,
) -> Result<Map<String, Value>, LlmError> {
    let p = &req.params;
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_owned()));
    body.insert(
        "messages".into(),
        Value::Array(convert_messages(&req.messages)?),
    );
    if let Some(tools) = &p.tools {
        let forced = p.tool_choice.as_ref().and_then(ToolChoice::function_name);
        if let Some(name) = forced {
            if !tools.iter().any(|t| t.function.name == name) {
                return Err(LlmError::bad_request(format!(
                    "tool_choice names function '{name}', which is not in tools"
                )));
            }
        }
        let defs: Vec<Value> = tools
            .iter()
            .filter(|t| forced.is_none_or(|name| t.function.name == name))
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), Value::String(t.function.name.clone()));
                if let Some(d) = &t.function.description {
                    function.insert("description".into(), Value::String(d.clone()));
                }
                if let Some(params) = &t.function.parameters {
                    function.insert("parameters".into(), params.clone());
                }
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(defs));
        if tools.iter().any(|t| t.function.strict == Some(true)) {
            body.insert("strict_tools".into(), Value::Bool(true));
        }
    }
    if let Some(format) = &p.response_format {
        let value = match format.kind.as_str() {
            "text" => json!({"type": "text"}),
            "json_object" => json!({"type": "json_object"}),
            "json_schema" => {
                let mut v = json!({"type": "json_object"});
                if let Some(schema) = format.json_schema.as_ref().and_then(|s| s.schema.clone()) {
                    v["json_schema"] = schema;
                }
                v
            }
            other => {
                return Err(LlmError::bad_request(format!(
                    "response_format type '{other}' is not one of text, json_object, json_schema"
                )))
            }
        };
        body.insert("response_format".into(), value);
    }
    if let Some(v) = req.max_output_tokens() {
        body.insert("max_tokens".into(), v.into());
    }
    if let Some(stop) = &p.stop {
        body.insert("stop_sequences".into(), json!(stop.0));
    }
    if let Some(v) = p.temperature {
        body.insert("temperature".into(), v.into());
    }
    if let Some(v) = p.seed {
        body.insert("seed".into(), v.into());
    }
    if let Some(v) = p.frequency_penalty {
        body.insert("frequency_penalty".into(), v.into());
    }
    if let Some(v) = p.presence_penalty {
        body.insert("presence_penalty".into(), v.into());
    }
    if let Some(v) = p.top_p {
        body.insert("p".into(), v.into());
    }
    match &p.tool_choice {
        Some(ToolChoice::Mode(m)) if m == "required" => {
            body.insert("tool_choice".into(), "REQUIRED".into());
        }
        Some(ToolChoice::Mode(m)) if m == "none" => {
            body.insert("tool_choice".into(), "NONE".into());
        }
        Some(ToolChoice::Mode(m)) if m == "auto" => {}
        Some(ToolChoice::Mode(m)) => {
            return Err(LlmError::bad_request(format!(
                "tool_choice '{m}' is not one of auto, none, required or a named function"
            )))
        }
        Some(choice @ ToolChoice::Named(_)) => {
            if choice.function_name().is_none() {
                return Err(LlmError::bad_request(
                    "tool_choice must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                ));
            }
            body.insert("tool_choice".into(), "REQUIRED".into());
        }
        None => {}
    }
    for (key, value) in &req.extra {
        match key.as_str() {
            "top_k" => {
                body.insert("k".into(), value.clone());
            }
            "extra_body" => {
                if let Value::Object(o) = value {
                    body.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            _ => {
                body.insert(key.clone(), value.clone());
            }
        }
    }
    body.insert("stream".into(), Value::Bool(stream));
    Ok(body)
}

fn convert_messages(messages: &[Message]) -> Result<Vec<Value>, LlmError> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let mut turn = Map::new();
        match m.role {
            Role::System | Role::Developer => {
                turn.insert("role".into(), "system".into());
                turn.insert("content".into(), text_content(m, i)?);
            }
            Role::User => {
                turn.insert("role".into(), "user".into());
                turn.insert("content".into(), user_content(m, i)?);
            }
            Role::Assistant => {
                turn.insert("role".into(), "assistant".into());
                let calls = m.tool_calls.as_deref().unwrap_or_default();
                if !calls.is_empty() {
                    let plan = m
                        .extra
                        .get("tool_plan")
                        .or_else(|| m.extra.get("reasoning_content"))
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty());
                    if let Some(plan) = plan {
                        turn.insert("tool_plan".into(), plan.into());
                    }
                    let calls: Vec<Value> = calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                   "function": {"name": c.function.name, "arguments": c.function.arguments}})
                        })
                        .collect();
                    turn.insert("tool_calls".into(), Value::Array(calls));
                    let text = m.text();
                    if !text.is_empty() {
                        turn.insert("content".into(), text.into());
                    }
                } else {
                    turn.insert("content".into(), text_content(m, i)?);
                }
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    LlmError::bad_request(format!("messages[{i}]: a tool message needs tool_call_id"))
                })?;
                turn.insert("role".into(), "tool".into());
                turn.insert("tool_call_id".into(), id.into());
                turn.insert("content".into(), text_content(m, i)?);
            }
            Role::Function => {
                return Err(LlmError::bad_request(format!(
                    "messages[{i}]: role 'function' (the deprecated function-calling format) is not supported by Cohere; use tool_calls and role 'tool'"
                )))
            }
        }
        out.push(Value::Object(turn));
    }
    Ok(out)
}

/// A text-only content: a string stays a string; parts become Cohere text blocks.
fn text_content(m: &Message, i: usize) -> Result<Value, LlmError> {
    match &m.content {
        None => Ok(Value::String(String::new())),
        Some(MessageContent::Text(s)) => Ok(Value::String(s.clone())),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .map(|p| match (p.kind.as_str(), &p.text) {
                ("text", Some(t)) => Ok(json!({"type": "text", "text": t})),
                (kind, _) => Err(unsupported_part(m.role, kind, i)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

/// A user's content: text and `image_url` blocks (vision models).
fn user_content(m: &Message, i: usize) -> Result<Value, LlmError> {
    let Some(MessageContent::Parts(parts)) = &m.content else {
        return text_content(m, i);
    };
    parts
        .iter()
        .map(
            |p: &ContentPart| match (p.kind.as_str(), &p.text, &p.image_url) {
                ("text", Some(t), _) => Ok(json!({"type": "text", "text": t})),
                ("image_url", _, Some(image)) => {
                    let mut url = json!({"url": image.url});
                    if let Some(d) = &image.detail {
                        url["detail"] = Value::String(d.clone());
                    }
                    Ok(json!({"type": "image_url", "image_url": url}))
                }
                (kind, _, _) => Err(unsupported_part(m.role, kind, i)),
            },
        )
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn unsupported_part(role: Role, kind: &str, i: usize) -> LlmError {
    LlmError::bad_request(format!(
        "messages[{i}]: Cohere's chat takes text{} in {} messages, not '{kind}' parts",
        if role == Role::User {
            " and image_url parts"
        } else {
            ""
        },
        role.as_str()
    ))
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

/// A v2 Embed body: `texts` (or `images`, when every input is an image data URL), the
/// `input_type` (default [`DEFAULT_EMBEDDING_INPUT_TYPE`]), `embedding_types: ["float"]`,
/// `dimensions` → `output_dimension`; other provider fields (`truncate`, `max_tokens`, …)
/// as given.
pub fn encode_embedding_body(req: &EmbeddingRequest, model: &str) -> Result<Bytes, LlmError> {
    let texts: Vec<&str> = match &req.input {
        EmbeddingInput::Text(t) => vec![t.as_str()],
        EmbeddingInput::Texts(t) => t.iter().map(String::as_str).collect(),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_) => {
            return Err(LlmError::bad_request(
                "Cohere embeds text (or image data URLs): pass input as a string or a list of strings, not token ids",
            ))
        }
    };
    let images = texts.iter().all(|t| t.starts_with("data:image/"));
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    if images {
        body.insert("images".into(), json!(texts));
        body.insert("input_type".into(), "image".into());
    } else {
        body.insert("texts".into(), json!(texts));
        body.insert("input_type".into(), DEFAULT_EMBEDDING_INPUT_TYPE.into());
    }
    body.insert("embedding_types".into(), json!(["float"]));
    if let Some(d) = req.dimensions {
        body.insert("output_dimension".into(), d.into());
    }
    for (k, v) in &req.extra {
        body.insert(k.clone(), v.clone());
    }
    encode_json(&Value::Object(body))
}

#[derive(Deserialize)]
struct EmbedBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    embeddings: Map<String, Value>,
    #[serde(default)]
    meta: Option<EmbedMeta>,
}

#[derive(Deserialize)]
struct EmbedMeta {
    #[serde(default)]
    billed_units: Option<Units>,
}

/// An `embeddings_by_type` response → OpenAI's list: the `float` vectors (or, when the
/// caller asked for other `embedding_types`, the first kind present), usage from
/// `meta.billed_units` (input tokens plus image tokens).
pub fn parse_embedding_response(
    body: &[u8],
    target: &Target,
) -> Result<EmbeddingResponse, LlmError> {
    let r: EmbedBody = parse_json(body, "Cohere embed response").map_err(|e| target.annotate(e))?;
    let vectors = r
        .embeddings
        .get("float")
        .or_else(|| r.embeddings.values().next())
        .and_then(Value::as_array)
        .ok_or_else(|| {
            target.annotate(LlmError::new(
                ErrorKind::Api,
                "Cohere's embed response has no embeddings",
            ))
        })?;
    let data = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let floats = v
                .as_array()
                .map(|xs| xs.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            Embedding::new(
                u32::try_from(i).unwrap_or(u32::MAX),
                EmbeddingVector::Float(floats),
            )
        })
        .collect();
    let usage = r.meta.and_then(|m| m.billed_units).and_then(|b| {
        let tokens = b.input_tokens.unwrap_or(0.0) + b.image_tokens.unwrap_or(0.0);
        (b.input_tokens.is_some() || b.image_tokens.is_some()).then(|| Usage::new(count(tokens), 0))
    });
    let mut response = EmbeddingResponse::new(target.model.clone(), data, usage);
    if let Some(id) = r.id {
        response.extra.insert("id".into(), Value::String(id));
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ChatBody {
    id: String,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    message: Option<AssistantOut>,
    #[serde(default)]
    usage: Option<CohereUsage>,
}

#[derive(Deserialize, Default)]
struct AssistantOut {
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallOut>>,
    #[serde(default)]
    tool_plan: Option<String>,
    #[serde(default)]
    content: Option<Vec<ContentOut>>,
    #[serde(default)]
    citations: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ContentOut {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
}

#[derive(Deserialize, Default)]
struct ToolCallOut {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionOut>,
}

#[derive(Deserialize, Default)]
struct FunctionOut {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// `usage` of a chat response (and of a stream's `message-end`). Counts are numbers that
/// Cohere's schema types as floats.
#[derive(Deserialize, Default, Clone)]
pub struct CohereUsage {
    #[serde(default)]
    billed_units: Option<Units>,
    #[serde(default)]
    tokens: Option<Units>,
    #[serde(default)]
    cached_tokens: Option<f64>,
}

#[derive(Deserialize, Default, Clone)]
struct Units {
    #[serde(default)]
    input_tokens: Option<f64>,
    #[serde(default)]
    output_tokens: Option<f64>,
    #[serde(default)]
    image_tokens: Option<f64>,
}

fn count(n: f64) -> u64 {
    if n.is_finite() && n > 0.0 {
        n.round() as u64
    } else {
        0
    }
}

impl CohereUsage {
    /// OpenAI usage: `tokens` (what the model read and wrote, as LiteLLM reports it), else
    /// `billed_units`; `cached_tokens` as cached prompt tokens.
    pub fn to_openai(&self) -> Usage {
        let units = self
            .tokens
            .as_ref()
            .filter(|t| t.input_tokens.is_some() || t.output_tokens.is_some())
            .or(self.billed_units.as_ref());
        let (input, output) = units
            .map(|u| {
                (
                    count(u.input_tokens.unwrap_or(0.0)),
                    count(u.output_tokens.unwrap_or(0.0)),
                )
            })
            .unwrap_or((0, 0));
        let mut usage = Usage::new(input, output);
        if let Some(cached) = self.cached_tokens.map(count).filter(|c| *c > 0) {
            usage.prompt_tokens_details = Some(PromptTokensDetails {
                cached_tokens: Some(cached),
                ..Default::default()
            });
        }
        usage
    }
}

/// A Cohere `finish_reason` → OpenAI's. `ERROR` and `TIMEOUT` mean the generation failed:
/// they are errors, not finish reasons.
pub fn finish_reason(reason: &str, message: Option<&str>) -> Result<&'static str, LlmError> {
    Ok(match reason {
        "COMPLETE" | "STOP_SEQUENCE" => "stop",
        "MAX_TOKENS" => "length",
        "TOOL_CALL" => "tool_calls",
        "ERROR" => {
            return Err(LlmError::new(
                ErrorKind::InternalServer,
                format!(
                    "Cohere stopped the generation with finish_reason ERROR: {}",
                    message.unwrap_or("the model failed to complete the response")
                ),
            ))
        }
        "TIMEOUT" => {
            return Err(LlmError::new(
                ErrorKind::Timeout,
                "Cohere stopped the generation with finish_reason TIMEOUT",
            ))
        }
        // ERROR_TOXIC (v1) and reasons added later.
        "ERROR_TOXIC" => "content_filter",
        _ => "stop",
    })
}

/// Citations → OpenAI `url_citation` annotations, one per document source (LiteLLM's shape:
/// the source's `url`, else `source:<id>`).
fn annotations(citations: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for c in citations {
        let start = c.get("start").and_then(Value::as_u64).unwrap_or(0);
        let end = c.get("end").and_then(Value::as_u64).unwrap_or(0);
        for source in c
            .get("sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if source.get("type").and_then(Value::as_str) != Some("document") {
                continue;
            }
            let Some(document) = source.get("document") else {
                continue;
            };
            let title = document.get("title").and_then(Value::as_str).unwrap_or("");
            let url = source
                .get("url")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!(
                        "source:{}",
                        source
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown")
                    )
                });
            out.push(json!({"type": "url_citation", "url_citation": {
                "start_index": start, "end_index": end, "title": title, "url": url}}));
        }
    }
    out
}

/// A v2 Chat response → `chat.completion`.
pub fn parse_response(body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
    let r: ChatBody = match parse_json(body, "Cohere chat response") {
        Ok(r) => r,
        Err(parse_err) => {
            return match serde_json::from_slice::<Value>(body) {
                Ok(v) if v.get("message").is_some_and(Value::is_string) => {
                    Err(error_from_body(500, &HeaderMap::new(), body, target))
                }
                _ => Err(target.annotate(parse_err)),
            }
        }
    };
    let message = r.message.unwrap_or_default();
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    for part in message.content.into_iter().flatten() {
        match part.kind.as_str() {
            "text" => text
                .get_or_insert_with(String::new)
                .push_str(part.text.as_deref().unwrap_or_default()),
            "thinking" => reasoning
                .get_or_insert_with(String::new)
                .push_str(part.thinking.as_deref().unwrap_or_default()),
            _ => {}
        }
    }
    if let Some(plan) = message.tool_plan.filter(|p| !p.is_empty()) {
        let r = reasoning.get_or_insert_with(String::new);
        if !r.is_empty() {
            r.push('\n');
        }
        r.push_str(&plan);
    }
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .into_iter()
        .flatten()
        .map(|c| {
            let f = c.function.unwrap_or_default();
            ToolCall {
                id: c.id.unwrap_or_else(|| crate::types::new_id("call_")),
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: f.name.unwrap_or_default(),
                    arguments: f.arguments.unwrap_or_else(|| "{}".to_owned()),
                },
            }
        })
        .collect();
    let mut finish = match r.finish_reason.as_deref() {
        Some(reason) => finish_reason(reason, None).map_err(|e| target.annotate(e))?,
        None => "stop",
    };
    if !tool_calls.is_empty() {
        finish = "tool_calls";
    }
    let mut extra = Map::new();
    let notes = annotations(message.citations.as_deref().unwrap_or_default());
    if !notes.is_empty() {
        extra.insert("annotations".into(), Value::Array(notes));
    }
    let mut response = ChatResponse::new(target.model.clone());
    response.id = r.id;
    response.choices.push(Choice {
        index: 0,
        message: ResponseMessage {
            content: text,
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            reasoning_content: reasoning,
            extra,
            ..Default::default()
        },
        finish_reason: Some(finish.to_owned()),
        logprobs: None,
        extra: Map::new(),
    });
    response.usage = Some(r.usage.unwrap_or_default().to_openai());
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Map a Cohere error (`{"id": …, "message": …}`) as LiteLLM does: a rejected key is an
/// `AuthenticationError`, "too many tokens" a `ContextWindowExceededError`, anything else
/// by status ([`ErrorKind::from_status_generic`]: 498, Cohere's invalid token, and 422 are
/// `BadRequestError`s).
pub fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = error_message(
        parsed.as_ref(),
        body,
        status,
        &["message", "error", "detail"],
    );
    let lower = message.to_ascii_lowercase();
    let kind = if lower.contains("invalid api token") || message.contains("No API key provided.") {
        ErrorKind::Authentication
    } else if is_context_window_message(&message) {
        ErrorKind::ContextWindowExceeded
    } else if lower.contains("internal server error") || lower.contains("unexpected server error") {
        ErrorKind::InternalServer
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

#[derive(Deserialize)]
struct StreamEvent {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    delta: Option<EventDelta>,
}

#[derive(Deserialize, Default)]
struct EventDelta {
    #[serde(default)]
    message: Option<DeltaMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    usage: Option<CohereUsage>,
    #[serde(default)]
    error: Option<String>,
}

/// `delta.message` of an event. `message-start` carries empty lists where later events
/// carry objects (`"content": []` vs `"content": {"text": …}`), so these stay values.
#[derive(Deserialize, Default)]
struct DeltaMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_plan: Option<String>,
    #[serde(default)]
    tool_calls: Option<Value>,
}

fn str_at(v: Option<&Value>, pointer: &str) -> Option<String> {
    v.and_then(|v| v.pointer(pointer))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Turns Cohere's typed SSE events into OpenAI chunks: `message-start` (id, role),
/// `content-delta` (text or thinking), `tool-plan-delta` (→ `reasoning_content`),
/// `tool-call-start` / `tool-call-delta` (→ `tool_calls` deltas, numbered in order),
/// `message-end` (finish reason, then a usage chunk). Citation and debug events carry
/// nothing for the OpenAI shape.
pub struct CohereStreamParser {
    target: Target,
    id: String,
    created: i64,
    tool_calls: u32,
    ended: bool,
}

impl CohereStreamParser {
    pub fn new(target: &Target) -> Self {
        CohereStreamParser {
            target: target.clone(),
            id: crate::types::new_id("chatcmpl-"),
            created: unix_now(),
            tool_calls: 0,
            ended: false,
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk::new(&self.id, self.created, &self.target.model).with_delta(
            0,
            delta,
            finish_reason,
        )
    }

    fn bad_event(&self, why: &str, data: &str) -> LlmError {
        self.target.annotate(LlmError::new(
            ErrorKind::Api,
            format!(
                "Could not parse a Cohere stream event ({why}): {}",
                data.chars().take(300).collect::<String>()
            ),
        ))
    }

    fn tool_delta(&self, delta: ToolCallDelta) -> ChatChunk {
        self.chunk(
            Delta {
                tool_calls: Some(vec![delta]),
                ..Default::default()
            },
            None,
        )
    }
}

impl StreamParser for CohereStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let data = frame.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(StreamControl::Continue);
        }
        let event: StreamEvent =
            serde_json::from_str(data).map_err(|e| self.bad_event(&e.to_string(), data))?;
        let kind = event.kind.as_deref().or(frame.event).unwrap_or_default();
        let delta = event.delta.unwrap_or_default();
        let message = delta.message.unwrap_or_default();
        match kind {
            "message-start" => {
                if let Some(id) = event.id.filter(|id| !id.is_empty()) {
                    self.id = id;
                }
                out.push(self.chunk(
                    Delta {
                        role: Some("assistant".to_owned()),
                        content: Some(String::new()),
                        ..Default::default()
                    },
                    None,
                ));
            }
            "content-start" | "content-delta" => {
                let text = str_at(message.content.as_ref(), "/text");
                let thinking = str_at(message.content.as_ref(), "/thinking");
                if text.is_some() || thinking.is_some() {
                    out.push(self.chunk(
                        Delta {
                            content: text,
                            reasoning_content: thinking,
                            ..Default::default()
                        },
                        None,
                    ));
                }
            }
            "tool-plan-delta" => {
                if let Some(plan) = message.tool_plan.filter(|p| !p.is_empty()) {
                    out.push(self.chunk(
                        Delta {
                            reasoning_content: Some(plan),
                            ..Default::default()
                        },
                        None,
                    ));
                }
            }
            "tool-call-start" => {
                let call = message
                    .tool_calls
                    .filter(Value::is_object)
                    .ok_or_else(|| self.bad_event("tool-call-start without tool_calls", data))?;
                let index = self.tool_calls;
                self.tool_calls += 1;
                out.push(self.tool_delta(ToolCallDelta {
                    index,
                    id: Some(
                        str_at(Some(&call), "/id").unwrap_or_else(|| crate::types::new_id("call_")),
                    ),
                    kind: Some("function".to_owned()),
                    function: Some(FunctionDelta {
                        name: str_at(Some(&call), "/function/name"),
                        arguments: Some(
                            str_at(Some(&call), "/function/arguments").unwrap_or_default(),
                        ),
                    }),
                }));
            }
            "tool-call-delta" => {
                let args =
                    str_at(message.tool_calls.as_ref(), "/function/arguments").unwrap_or_default();
                if !args.is_empty() && self.tool_calls > 0 {
                    out.push(self.tool_delta(ToolCallDelta {
                        index: self.tool_calls - 1,
                        id: None,
                        kind: None,
                        function: Some(FunctionDelta {
                            name: None,
                            arguments: Some(args),
                        }),
                    }));
                }
            }
            "message-end" => {
                self.ended = true;
                if let Some(reason) = delta.finish_reason.as_deref() {
                    let mut finish = finish_reason(reason, delta.error.as_deref())
                        .map_err(|e| self.target.annotate(e))?;
                    if self.tool_calls > 0 {
                        finish = "tool_calls";
                    }
                    out.push(self.chunk(Delta::default(), Some(finish.to_owned())));
                } else if let Some(error) = delta.error {
                    return Err(self.target.annotate(LlmError::new(
                        ErrorKind::InternalServer,
                        format!("Cohere stream failed: {error}"),
                    )));
                }
                let mut usage_chunk = ChatChunk::new(&self.id, self.created, &self.target.model);
                usage_chunk.usage = Some(Box::new(delta.usage.unwrap_or_default().to_openai()));
                out.push(usage_chunk);
                return Ok(StreamControl::Done);
            }
            // An error body sent as an event.
            "" | "error" if data.contains("\"message\"") => {
                return Err(error_from_body(
                    500,
                    &HeaderMap::new(),
                    data.as_bytes(),
                    &self.target,
                ));
            }
            // tool-call-end, content-end, citation-start/-end, debug, and later types.
            _ => {}
        }
        Ok(StreamControl::Continue)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        if self.ended {
            return Ok(());
        }
        Err(self.target.annotate(LlmError::new(
            ErrorKind::ApiConnection,
            "The Cohere stream ended before message-end",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn target(model: &str) -> Target {
        Arc::new(Cohere)
            .resolve_target(
                model,
                &TargetOptions {
                    api_key: Some(SecretString::from("co-test-key-123456")),
                    api_base: Some("http://127.0.0.1:9".into()),
                    ..Default::default()
                },
            )
            .unwrap()
    }

    fn request(messages: Value, params: Value) -> ChatRequest {
        crate::providers::test_request("command-a-03-2025", messages, params)
    }

    fn body(messages: Value, params: Value, stream: bool) -> Value {
        Value::Object(build_body(&request(messages, params), "command-a-03-2025", stream).unwrap())
    }

    #[test]
    fn minimal_body_matches_the_docs_example() {
        // https://docs.cohere.com/reference/chat: the request example.
        let b = body(
            json!([{"role": "user", "content": "Hello world!"}]),
            json!({}),
            false,
        );
        assert_eq!(
            b,
            json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Hello world!"}], "stream": false})
        );
        let text = String::from_utf8(
            encode_body(
                &request(json!([{"role": "user", "content": "hi"}]), json!({})),
                "m",
                true,
            )
            .unwrap()
            .to_vec(),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#
        );
    }

    #[test]
    fn params_map_to_cohere_names() {
        let b = body(
            json!([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]),
            json!({"temperature": 0.3, "top_p": 0.75, "top_k": 40, "max_completion_tokens": 100, "max_tokens": 5,
                   "stop": "END", "seed": 7, "frequency_penalty": 0.1, "presence_penalty": 0.2,
                   "safety_mode": "STRICT", "extra_body": {"priority": 1}}),
            false,
        );
        assert_eq!(
            b["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(b["max_tokens"], json!(100));
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["p"], json!(0.75));
        assert_eq!(b["k"], json!(40));
        assert_eq!(b["seed"], json!(7));
        assert_eq!(b["temperature"], json!(0.3));
        assert_eq!(b["frequency_penalty"], json!(0.1));
        assert_eq!(b["presence_penalty"], json!(0.2));
        assert_eq!(b["safety_mode"], json!("STRICT"));
        assert_eq!(b["priority"], json!(1));
        for absent in [
            "top_p",
            "top_k",
            "stop",
            "max_completion_tokens",
            "extra_body",
        ] {
            assert!(b.get(absent).is_none(), "{absent} leaked: {b}");
        }
    }

    #[test]
    fn tools_calls_results_and_tool_plan() {
        // https://docs.cohere.com/docs/tool-use-overview: the tool-use conversation shape.
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "gets the weather of a given location",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]);
        let messages = json!([
            {"role": "user", "content": "What's the weather in Toronto?"},
            {"role": "assistant", "content": null, "reasoning_content": "I will look up the weather in Toronto.",
             "tool_calls": [{"id": "get_weather_1byjy32y4hvq", "type": "function",
                             "function": {"name": "get_weather", "arguments": "{\"location\":\"Toronto\"}"}}]},
            {"role": "tool", "tool_call_id": "get_weather_1byjy32y4hvq", "content": "[{\"temperature\": 20}]"}
        ]);
        let b = body(
            messages,
            json!({"tools": tools, "tool_choice": "required"}),
            false,
        );
        assert_eq!(
            b["messages"][1],
            json!({"role": "assistant", "tool_plan": "I will look up the weather in Toronto.",
            "tool_calls": [{"id": "get_weather_1byjy32y4hvq", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"location\":\"Toronto\"}"}}]})
        );
        assert_eq!(
            b["messages"][2],
            json!({"role": "tool", "tool_call_id": "get_weather_1byjy32y4hvq", "content": "[{\"temperature\": 20}]"})
        );
        assert_eq!(b["tools"], tools);
        assert_eq!(b["tool_choice"], json!("REQUIRED"));

        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"tools": tools, "tool_choice": "none"}),
            false,
        );
        assert_eq!(b["tool_choice"], json!("NONE"));
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"tools": tools, "tool_choice": "auto"}),
            false,
        );
        assert!(b.get("tool_choice").is_none());

        // A named function: only that tool, and REQUIRED; strict tools switch strict_tools on.
        let two = json!([
            {"type": "function", "function": {"name": "a", "strict": true}},
            {"type": "function", "function": {"name": "b"}}]);
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"tools": two, "tool_choice": {"type": "function", "function": {"name": "b"}}}),
            false,
        );
        assert_eq!(
            b["tools"],
            json!([{"type": "function", "function": {"name": "b"}}])
        );
        assert_eq!(b["tool_choice"], json!("REQUIRED"));
        assert_eq!(b["strict_tools"], json!(true));
        let err = build_body(&request(json!([{"role": "user", "content": "x"}]),
            json!({"tools": two, "tool_choice": {"type": "function", "function": {"name": "zz"}}})), "m", false).unwrap_err();
        assert!(err.message.contains("zz"), "{}", err.message);
    }

    #[test]
    fn response_format_and_content_parts() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let b = body(
            json!([{"role": "user", "content": [{"type": "text", "text": "Describe"},
                                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}}]}]),
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}),
            false,
        );
        assert_eq!(
            b["response_format"],
            json!({"type": "json_object", "json_schema": schema})
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([{"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}}])
        );
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"response_format": {"type": "json_object"}}),
            false,
        );
        assert_eq!(b["response_format"], json!({"type": "json_object"}));
        let err = build_body(
            &request(
                json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
                json!({}),
            ),
            "m",
            false,
        )
        .unwrap_err();
        assert!(err.message.contains("input_audio"), "{}", err.message);
    }

    #[test]
    fn urls_follow_litellm_api_base() {
        assert_eq!(
            endpoint_url("https://api.cohere.com", "chat"),
            "https://api.cohere.com/v2/chat"
        );
        assert_eq!(
            endpoint_url("https://api.cohere.com/v2/chat", "chat"),
            "https://api.cohere.com/v2/chat"
        );
        assert_eq!(
            endpoint_url("https://api.cohere.com/v2/chat/", "embed"),
            "https://api.cohere.com/v2/embed"
        );
        assert_eq!(
            endpoint_url("https://api.cohere.ai/v2/embed", "chat"),
            "https://api.cohere.ai/v2/chat"
        );
        assert_eq!(
            endpoint_url("http://proxy/v2", "embed"),
            "http://proxy/v2/embed"
        );
        assert_eq!(target("v2/command-r-08-2024").model, "command-r-08-2024");
        assert!(Arc::new(Cohere)
            .resolve_target(
                "v1/command-r",
                &TargetOptions {
                    api_key: Some(SecretString::from("k")),
                    ..Default::default()
                }
            )
            .is_err());
    }

    #[test]
    fn parses_the_documented_responses() {
        let t = target("command-a-03-2025");
        // https://docs.cohere.com/reference/chat: the response example.
        let body = json!({"id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "LLMs stand for Large Language Models."}]},
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 418}, "tokens": {"input_tokens": 71, "output_tokens": 418}, "cached_tokens": 64}});
        let r = parse_response(body.to_string().as_bytes(), &t).unwrap();
        assert_eq!(r.id, "c14c80c3-18eb-4519-9460-6c92edd8cfb4");
        assert_eq!(r.model, "command-a-03-2025");
        assert_eq!(r.text(), Some("LLMs stand for Large Language Models."));
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        let u = r.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.cached_tokens()
            ),
            (71, 418, 489, 64)
        );

        // Tool use (docs' tool-use example), with thinking content and citations.
        let body = json!({"id": "r2", "finish_reason": "TOOL_CALL",
            "message": {"role": "assistant", "tool_plan": "I will use the get_weather tool.",
                        "content": [{"type": "thinking", "thinking": "Need weather."}],
                        "tool_calls": [{"id": "get_weather_1byjy32y4hvq", "type": "function",
                                        "function": {"name": "get_weather", "arguments": "{\"location\":\"Toronto\"}"}}],
                        "citations": [{"start": 0, "end": 5, "text": "Sunny", "type": "TEXT_CONTENT",
                                       "sources": [{"type": "document", "id": "doc:0", "document": {"title": "Forecast", "snippet": "x"}}]}]},
            "usage": {"billed_units": {"input_tokens": 37, "output_tokens": 28}}});
        let r = parse_response(body.to_string().as_bytes(), &t).unwrap();
        let m = &r.choices[0].message;
        assert_eq!(m.content, None);
        assert_eq!(
            m.reasoning_content.as_deref(),
            Some("Need weather.\nI will use the get_weather tool.")
        );
        let calls = m.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "get_weather_1byjy32y4hvq");
        assert_eq!(calls[0].function.arguments, "{\"location\":\"Toronto\"}");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            m.extra["annotations"],
            json!([{"type": "url_citation", "url_citation":
            {"start_index": 0, "end_index": 5, "title": "Forecast", "url": "source:doc:0"}}])
        );
        // billed_units when tokens is absent.
        assert_eq!(r.usage.unwrap().prompt_tokens, 37);

        for (reason, finish) in [
            ("MAX_TOKENS", "length"),
            ("STOP_SEQUENCE", "stop"),
            ("SOMETHING_NEW", "stop"),
        ] {
            let body = json!({"id": "x", "finish_reason": reason, "message": {"role": "assistant", "content": [{"type": "text", "text": "a"}]}});
            let r = parse_response(body.to_string().as_bytes(), &t).unwrap();
            assert_eq!(r.choices[0].finish_reason.as_deref(), Some(finish));
        }
        let failed = json!({"id": "x", "finish_reason": "ERROR", "message": {"role": "assistant", "content": []}});
        let err = parse_response(failed.to_string().as_bytes(), &t).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InternalServer);
        let timeout =
            json!({"id": "x", "finish_reason": "TIMEOUT", "message": {"role": "assistant"}});
        assert_eq!(
            parse_response(timeout.to_string().as_bytes(), &t)
                .unwrap_err()
                .kind,
            ErrorKind::Timeout
        );
    }

    #[test]
    fn errors_map_as_litellm_does() {
        let t = target("command-a-03-2025");
        let e = |status: u16, body: Value| {
            error_from_body(status, &HeaderMap::new(), body.to_string().as_bytes(), &t)
        };
        let auth = e(401, json!({"id": "a", "message": "invalid api token"}));
        assert_eq!(
            (auth.kind, auth.status_code),
            (ErrorKind::Authentication, 401)
        );
        assert_eq!(auth.provider.as_deref(), Some("cohere"));
        let ctx = e(
            400,
            json!({"message": "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4765. Try using a shorter prompt, or enabling prompt truncating."}),
        );
        assert_eq!(ctx.kind, ErrorKind::ContextWindowExceeded);
        assert_eq!(
            e(
                400,
                json!({"message": "invalid request: message must not be empty"})
            )
            .kind,
            ErrorKind::BadRequest
        );
        assert_eq!(
            e(498, json!({"message": "blocked"})).kind,
            ErrorKind::BadRequest
        );
        assert_eq!(
            e(404, json!({"message": "model 'nope' not found"})).kind,
            ErrorKind::NotFound
        );
        assert_eq!(e(429, json!({"message": "You are using a Trial key, which is limited to 10 API calls / minute."})).kind, ErrorKind::RateLimit);
        assert_eq!(e(500, json!({"message": "internal server error, this has been reported to our developers"})).kind, ErrorKind::InternalServer);
        assert_eq!(
            e(503, json!({"message": "service unavailable"})).kind,
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(
            e(408, json!({"message": "timeout"})).kind,
            ErrorKind::Timeout
        );
        assert_eq!(
            e(422, json!({"message": "unprocessable"})).kind,
            ErrorKind::BadRequest
        );
        assert_eq!(
            e(504, json!({"message": "gateway timeout"})).kind,
            ErrorKind::Timeout
        );
        let raw = error_from_body(502, &HeaderMap::new(), b"<html>bad gateway</html>", &t);
        assert_eq!(
            (raw.kind, raw.message.as_str()),
            (ErrorKind::ServiceUnavailable, "<html>bad gateway</html>")
        );
    }

    fn run_stream(events: &[Value]) -> (Vec<ChatChunk>, Result<(), LlmError>) {
        let mut p = CohereStreamParser::new(&target("command-a-03-2025"));
        let mut out = Vec::new();
        for e in events {
            let data = e.to_string();
            let ty = e["type"].as_str().unwrap_or("");
            match p.on_frame(
                Frame {
                    event: Some(ty),
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
    fn stream_with_tool_plan_and_tool_calls() {
        // https://docs.cohere.com/docs/tool-use-streaming: the events of a tool-calling step.
        let events = [
            json!({"type": "message-start", "id": "3f0a0e5d-2f1c-4a7e-9c3e-6f4d1f1b7a52",
                   "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
            json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will"}}}),
            json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": " check."}}}),
            json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls":
                   {"id": "get_weather_nsz5zm3w56q3", "type": "function", "function": {"name": "get_weather", "arguments": ""}}}}}),
            json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "{\"location\""}}}}}),
            json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": ":\"Toronto\"}"}}}}}),
            json!({"type": "tool-call-end", "index": 0}),
            json!({"type": "tool-call-start", "index": 1, "delta": {"message": {"tool_calls":
                   {"id": "get_weather_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}}}}),
            json!({"type": "tool-call-end", "index": 1}),
            json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL",
                   "usage": {"billed_units": {"input_tokens": 37, "output_tokens": 28}, "tokens": {"input_tokens": 913, "output_tokens": 83}}}}),
        ];
        let (chunks, end) = run_stream(&events);
        end.unwrap();
        assert!(chunks
            .iter()
            .all(|c| c.id == "3f0a0e5d-2f1c-4a7e-9c3e-6f4d1f1b7a52"
                && c.model == "command-a-03-2025"));
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        let plan: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.reasoning_content.clone())
            .collect();
        assert_eq!(plan, "I will check.");
        let tc = |i: usize| chunks[i].choices[0].delta.tool_calls.as_ref().unwrap()[0].clone();
        assert_eq!(tc(3).id.as_deref(), Some("get_weather_nsz5zm3w56q3"));
        assert_eq!(tc(3).function.unwrap().name.as_deref(), Some("get_weather"));
        assert_eq!(
            (tc(4).index, tc(4).function.unwrap().arguments.as_deref()),
            (0, Some("{\"location\""))
        );
        assert_eq!(
            (tc(6).index, tc(6).id.as_deref()),
            (1, Some("get_weather_2"))
        );
        let finish = &chunks[chunks.len() - 2];
        assert_eq!(
            finish.choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
        let usage = chunks.last().unwrap().usage.as_ref().unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (913, 83));
        assert!(chunks.last().unwrap().choices.is_empty());
    }

    #[test]
    fn stream_text_thinking_errors_and_truncation() {
        let events = [
            json!({"type": "message-start", "id": "m1", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
            json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}}),
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "Hmm"}}}}),
            json!({"type": "content-end", "index": 0}),
            json!({"type": "content-start", "index": 1, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
            json!({"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "Hello"}}}}),
            json!({"type": "citation-start", "index": 0, "delta": {"message": {"citations": {"start": 0, "end": 5, "text": "Hello", "sources": []}}}}),
            json!({"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": " there"}}}}),
            json!({"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS", "usage": {"tokens": {"input_tokens": 3, "output_tokens": 2}}}}),
        ];
        let (chunks, end) = run_stream(&events);
        end.unwrap();
        let text: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(text, "Hello there");
        assert_eq!(
            chunks[1].choices[0].delta.reasoning_content.as_deref(),
            Some("Hmm")
        );
        assert_eq!(
            chunks[chunks.len() - 2].choices[0].finish_reason.as_deref(),
            Some("length")
        );

        let failed = [
            json!({"type": "message-start", "id": "m2"}),
            json!({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "model overloaded"}}),
        ];
        let (_, end) = run_stream(&failed);
        let err = end.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InternalServer);
        assert!(err.message.contains("model overloaded"), "{}", err.message);

        let (_, end) = run_stream(&[json!({"message": "internal server error"})]);
        assert_eq!(end.unwrap_err().kind, ErrorKind::InternalServer);

        let cut = [
            json!({"type": "message-start", "id": "m3"}),
            json!({"type": "content-delta", "delta": {"message": {"content": {"text": "a"}}}}),
        ];
        let (chunks, end) = run_stream(&cut);
        assert_eq!(chunks.len(), 2);
        assert_eq!(end.unwrap_err().kind, ErrorKind::ApiConnection);
    }

    #[test]
    fn embeddings_body_and_response() {
        let t = target("embed-v4.0");
        let mut req = EmbeddingRequest::new("embed-v4.0", vec!["hello", "goodbye"]);
        req.dimensions = Some(256);
        let b: Value =
            serde_json::from_slice(&encode_embedding_body(&req, "embed-v4.0").unwrap()).unwrap();
        // https://docs.cohere.com/reference/embed: texts, input_type, embedding_types.
        assert_eq!(
            b,
            json!({"model": "embed-v4.0", "texts": ["hello", "goodbye"], "input_type": "search_document",
                             "embedding_types": ["float"], "output_dimension": 256})
        );
        req.extra.insert("input_type".into(), json!("search_query"));
        req.extra.insert("truncate".into(), json!("END"));
        let b: Value =
            serde_json::from_slice(&encode_embedding_body(&req, "embed-v4.0").unwrap()).unwrap();
        assert_eq!(
            (b["input_type"].clone(), b["truncate"].clone()),
            (json!("search_query"), json!("END"))
        );
        let images = EmbeddingRequest::new("embed-v4.0", vec!["data:image/png;base64,iVBOR"]);
        let b: Value =
            serde_json::from_slice(&encode_embedding_body(&images, "embed-v4.0").unwrap()).unwrap();
        assert_eq!(
            (b["images"].clone(), b["input_type"].clone()),
            (json!(["data:image/png;base64,iVBOR"]), json!("image"))
        );
        assert!(encode_embedding_body(
            &EmbeddingRequest {
                input: EmbeddingInput::Tokens(vec![1]),
                ..req
            },
            "m"
        )
        .is_err());

        let resp = json!({"id": "da6e531f", "embeddings": {"float": [[0.016296387, -0.008354187], [0.5, 0.25]]},
                          "texts": ["hello", "goodbye"], "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}},
                          "response_type": "embeddings_by_type"});
        let r = parse_embedding_response(resp.to_string().as_bytes(), &t).unwrap();
        assert_eq!(r.data.len(), 2);
        assert_eq!(r.data[1].index, 1);
        assert_eq!(
            r.data[0].embedding,
            EmbeddingVector::Float(vec![0.016296387, -0.008354187])
        );
        assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, 2);
        assert_eq!(r.model, "embed-v4.0");
        let no_meta = json!({"id": "x", "embeddings": {"int8": [[1, 2]]}});
        let r = parse_embedding_response(no_meta.to_string().as_bytes(), &t).unwrap();
        assert_eq!(r.data[0].embedding, EmbeddingVector::Float(vec![1.0, 2.0]));
        assert!(r.usage.is_none());
    }

    #[test]
    fn missing_key_names_both_variables() {
        let e = Arc::new(Cohere).resolve_target("command-a-03-2025", &TargetOptions::default());
        if std::env::var("COHERE_API_KEY").is_err() && std::env::var("CO_API_KEY").is_err() {
            let e = e.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Authentication);
            assert!(e.message.contains("COHERE_API_KEY") && e.message.contains("CO_API_KEY"));
        }
    }
}
