//! Google Gemini's `generateContent` API: Google AI Studio (`gemini/…`, bare `gemini-…`)
//! here, and the same body on Vertex AI (see `vertex.rs`).
//!
//! Request: messages → `contents` (roles `user` / `model`, consecutive same-role turns
//! merged) and `systemInstruction`; OpenAI parameters → `generationConfig`; tools →
//! `functionDeclarations` with their JSON schemas converted by [`schema`].
//!
//! Embeddings: every input in one `:batchEmbedContents` request (`dimensions` →
//! `outputDimensionality`, `task_type` → `taskType`); `embeddings[i].values` → `data[i]`.
//!
//! Response: candidates → choices; `functionCall` parts → `tool_calls` with generated ids;
//! `thought` parts → `reasoning_content`; `usageMetadata` → usage. Streams are SSE frames
//! each holding a whole `GenerateContentResponse`; there is no terminator, the stream
//! simply ends.
//!
//! Two conventions make Gemini fit the OpenAI shape without losing anything:
//!
//! - Tool-call ids. Gemini's function calls carry no id, so ids are generated
//!   (`call_<24 chars>`). A call's `thoughtSignature` (Gemini 2.5+/3 must get it back with
//!   the call in the next turn) is appended to the id as `__thought__<signature>`, the
//!   encoding LiteLLM uses, so any OpenAI client that echoes ids back keeps it.
//! - Tool results. A `functionResponse` needs the function's name, taken from the
//!   preceding assistant `tool_calls` by `tool_call_id`. Its `response` must be a JSON
//!   object: a result that parses as one is sent as it is, anything else as
//!   `{"output": "<the result text>"}` (Google's documented key for a function's output).

mod schema;

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{is_content_policy_message, is_context_window_message, ErrorKind, LlmError};
use crate::http::retry_after_seconds;
use crate::providers::openai::{self, AuthStyle};
use crate::providers::{
    missing_key_error, parse_json, HttpRequest, Provider, StreamParser, Target, TargetOptions,
};
use crate::stream::{Frame, StreamControl};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, CompletionTokensDetails, ContentPart, Delta,
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, FunctionCall,
    FunctionDelta, Message, MessageContent, PromptTokensDetails, ResponseMessage, Role, ToolCall,
    ToolCallDelta, ToolChoice, Usage,
};

pub use schema::to_gemini as json_schema_to_gemini;

/// Google AI Studio's host.
pub const DEFAULT_API_BASE: &str = "https://generativelanguage.googleapis.com";
const API_KEY_ENV: &[&str] = &["GEMINI_API_KEY", "GOOGLE_API_KEY"];
const API_BASE_ENV: &[&str] = &["GEMINI_API_BASE"];
/// Between a generated tool-call id and the call's thought signature.
pub const THOUGHT_SIGNATURE_SEPARATOR: &str = "__thought__";
/// The signature Google documents for function calls that did not come from Gemini (a
/// history started on another model); Gemini 3 rejects unsigned calls otherwise.
const DUMMY_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// OpenAI parameters Gemini's `generateContent` takes for `model`.
pub fn supported_params(model: &str) -> Vec<&'static str> {
    let mut params = vec![
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "stream_options",
        "web_search_options",
    ];
    // Gemini 3 rejects the penalties.
    if !is_gemini_3(model) {
        params.extend(["presence_penalty", "frequency_penalty"]);
    }
    if supports_thinking(model) {
        params.push("reasoning_effort");
    }
    params.push("stream");
    params
}

/// Gemini has no switch for parallel function calls: `parallel_tool_calls=False` is only
/// honoured trivially (one tool); with several it is an `UnsupportedParamsError`, or dropped
/// with `drop_params`. `True` is Gemini's behaviour anyway.
pub fn check_params(
    req: &mut ChatRequest,
    drop_params: bool,
) -> Result<Vec<&'static str>, LlmError> {
    let several_tools = req.params.tools.as_ref().is_some_and(|t| t.len() > 1);
    if req.params.parallel_tool_calls != Some(false) || !several_tools {
        return Ok(Vec::new());
    }
    if drop_params {
        req.params.parallel_tool_calls = None;
        return Ok(vec!["parallel_tool_calls"]);
    }
    Err(LlmError::new(
        ErrorKind::UnsupportedParams,
        "parallel_tool_calls=False is not supported by Gemini with more than one tool (Gemini has no such switch). Pass a single tool, leave parallel_tool_calls out, or pass drop_params=True.",
    ))
}

fn is_gemini_3(model: &str) -> bool {
    model.to_ascii_lowercase().contains("gemini-3")
}

/// Thinking models: Gemini 2.5 and later (1.x, 2.0 and non-Gemini models such as Gemma
/// have no `thinkingConfig`).
fn supports_thinking(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    let name = m.rsplit('/').next().unwrap_or(&m);
    name.starts_with("gemini-")
        && !name.starts_with("gemini-1")
        && !name.starts_with("gemini-2.0")
        && !name.starts_with("gemini-pro")
}

fn env_any(vars: &[&str]) -> Option<String> {
    vars.iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
}

/// Cut `__thought__<signature>` off tool-call ids (assistant `tool_calls[].id` and tool
/// `tool_call_id`) so a conversation begun on Gemini continues on any other API, which
/// would reject such ids (OpenAI caps ids at 40 characters; Anthropic's allow no `+/=`).
pub fn strip_thought_signatures(messages: &mut [Message]) {
    let strip = |id: &mut String| {
        if let Some(at) = id.find(THOUGHT_SIGNATURE_SEPARATOR) {
            id.truncate(at);
        }
    };
    for m in messages {
        if let Some(calls) = &mut m.tool_calls {
            calls.iter_mut().for_each(|c| strip(&mut c.id));
        }
        if let Some(id) = &mut m.tool_call_id {
            strip(id);
        }
    }
}

/// Model names go into the URL path: refuse anything that would change its meaning.
pub fn check_model_name(provider: &str, model: &str) -> Result<(), LlmError> {
    if model
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._/@".contains(c))
    {
        Ok(())
    } else {
        Err(LlmError::bad_request(format!(
            "Model name {model:?} has characters that cannot go in the {provider} URL"
        ))
        .with_provider(provider)
        .with_model(model))
    }
}

/// The Google AI Studio provider.
pub struct Gemini;

impl Provider for Gemini {
    fn name(&self) -> &str {
        "gemini"
    }

    /// Gemini takes its thought signatures back in tool-call ids: keep them.
    fn adapt_history(&self, _messages: &mut [Message], _model: &str) {}

    fn supported_params(&self, model: &str) -> Vec<&'static str> {
        supported_params(model)
    }

    fn check_params(
        &self,
        req: &mut ChatRequest,
        _target: &Target,
        drop_params: bool,
    ) -> Result<Vec<&'static str>, LlmError> {
        check_params(req, drop_params)
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        check_model_name("gemini", model)?;
        let api_key = match &opts.api_key {
            Some(k) => k.clone(),
            None => match env_any(API_KEY_ENV) {
                Some(k) => SecretString::from(k),
                None => {
                    let vars: Vec<String> = API_KEY_ENV.iter().map(|v| (*v).to_owned()).collect();
                    return Err(missing_key_error("gemini", model, &vars));
                }
            },
        };
        let api_base = opts
            .api_base
            .clone()
            .or_else(|| env_any(API_BASE_ENV))
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        Ok(Target {
            provider: self,
            model: model.to_owned(),
            api_base,
            api_key: Some(api_key),
            api_version: opts.api_version.clone(),
            extra_headers: opts.extra_headers.clone(),
            provider_options: opts.provider_options.clone(),
        })
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: studio_url(
                &target.api_base,
                target.api_version.as_deref(),
                &target.model,
                stream,
            ),
            // The key goes in a header, never in the URL (where logs and errors would show it).
            headers: openai::json_headers(target, AuthStyle::Header("x-goog-api-key"))?,
            body: encode_body(req, &target.model)?,
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        parse_response(body, target)
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(GeminiStreamParser::new(target))
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

    /// `encoding_format="base64"` is honoured by the call pipeline, which encodes the floats
    /// Gemini returns; `user` has no Gemini equivalent.
    fn embedding_params(&self, _model: &str) -> Vec<&'static str> {
        vec!["dimensions", "encoding_format"]
    }

    fn build_embedding_request(
        &self,
        req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        let mut url = model_url(
            &target.api_base,
            target.api_version.as_deref(),
            &target.model,
        );
        url.push_str(":batchEmbedContents");
        Ok(HttpRequest {
            url,
            headers: openai::json_headers(target, AuthStyle::Header("x-goog-api-key"))?,
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

/// `{api_base}/v1beta/models/{model}:generateContent` (or `:streamGenerateContent?alt=sse`).
/// A base that already ends in an API version keeps it; `api_version` picks another.
fn studio_url(api_base: &str, api_version: Option<&str>, model: &str, stream: bool) -> String {
    let mut url = model_url(api_base, api_version, model);
    url.push_str(method_suffix(stream));
    url
}

/// `{api_base}/v1beta/models/{model}`, the resource the methods are called on.
fn model_url(api_base: &str, api_version: Option<&str>, model: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let last = base.rsplit('/').next().unwrap_or("");
    let has_version = last.starts_with('v') && last[1..].starts_with(|c: char| c.is_ascii_digit());
    let mut url = String::with_capacity(base.len() + model.len() + 48);
    url.push_str(base);
    if !has_version {
        url.push('/');
        url.push_str(api_version.unwrap_or("v1beta"));
    }
    // Tuned models live under their own collection.
    if !model.starts_with("tunedModels/") {
        url.push_str("/models");
    }
    url.push('/');
    url.push_str(model);
    url
}

/// `:generateContent` or `:streamGenerateContent?alt=sse`.
pub fn method_suffix(stream: bool) -> &'static str {
    if stream {
        ":streamGenerateContent?alt=sse"
    } else {
        ":generateContent"
    }
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

/// A `BatchEmbedContentsRequest`: one `EmbedContentRequest` per input, each with the
/// call's `outputDimensionality` and provider fields (`task_type` / `taskType`, `title`).
pub fn encode_embedding_body(req: &EmbeddingRequest, model: &str) -> Result<Bytes, LlmError> {
    let texts: Vec<&str> = match &req.input {
        EmbeddingInput::Text(t) => vec![t.as_str()],
        EmbeddingInput::Texts(t) => t.iter().map(String::as_str).collect(),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_) => {
            return Err(LlmError::bad_request(
                "Gemini embeds text only: pass input as a string or a list of strings, not token ids",
            ))
        }
    };
    let resource = if model.starts_with("tunedModels/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    };
    let mut common = Map::new();
    if let Some(d) = req.dimensions {
        common.insert("outputDimensionality".to_owned(), Value::from(d));
    }
    for (k, v) in &req.extra {
        let key = match k.as_str() {
            "task_type" => "taskType",
            "output_dimensionality" => "outputDimensionality",
            other => other,
        };
        common.insert(key.to_owned(), v.clone());
    }
    let requests: Vec<Value> = texts
        .into_iter()
        .map(|text| {
            let mut r = Map::with_capacity(2 + common.len());
            r.insert("model".to_owned(), Value::String(resource.clone()));
            r.insert(
                "content".to_owned(),
                serde_json::json!({"parts": [{"text": text}]}),
            );
            r.extend(common.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::Object(r)
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "requests": requests }))
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

#[derive(Deserialize)]
struct BatchEmbedResponse {
    /// Required: a body without it is not an answer (an empty list would pass for one).
    embeddings: Vec<ContentEmbedding>,
    #[serde(default, rename = "usageMetadata")]
    usage_metadata: Option<EmbedUsage>,
}

#[derive(Deserialize)]
struct ContentEmbedding {
    #[serde(default)]
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct EmbedUsage {
    #[serde(default, rename = "promptTokenCount")]
    prompt_token_count: Option<u64>,
}

/// A `BatchEmbedContentsResponse` → OpenAI's list, vectors in input order. Gemini reports
/// no token counts for embeddings (the pipeline counts them) unless `usageMetadata` says.
pub fn parse_embedding_response(
    body: &[u8],
    target: &Target,
) -> Result<EmbeddingResponse, LlmError> {
    let r: BatchEmbedResponse =
        parse_json(body, "batchEmbedContents response").map_err(|e| target.annotate(e))?;
    let data = r
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            Embedding::new(
                u32::try_from(i).unwrap_or(u32::MAX),
                EmbeddingVector::Float(e.values),
            )
        })
        .collect();
    let usage = r
        .usage_metadata
        .and_then(|u| u.prompt_token_count)
        .map(|n| Usage::new(n, 0));
    Ok(EmbeddingResponse::new(target.model.clone(), data, usage))
}

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

/// Serialize `req` as a `GenerateContentRequest` for `model`.
pub fn encode_body(req: &ChatRequest, model: &str) -> Result<Bytes, LlmError> {
    let body = build_body(req, model)?;
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

/// The `GenerateContentRequest` for `req`, as a JSON object.
pub fn build_body(req: &ChatRequest, model: &str) -> Result<Map<String, Value>, LlmError> {
    let (system, contents) = convert_messages(&req.messages, model)?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = system {
        body.insert("systemInstruction".into(), system);
    }
    let p = &req.params;

    let mut tools = Vec::new();
    if let Some(list) = &p.tools {
        let mut declarations = Vec::with_capacity(list.len());
        for tool in list {
            if tool.kind != "function" {
                return Err(LlmError::bad_request(format!(
                    "tools: type {:?} is not supported by Gemini; use function tools",
                    tool.kind
                )));
            }
            declarations.push(function_declaration(tool));
        }
        if !declarations.is_empty() {
            let mut tool = Map::new();
            tool.insert("functionDeclarations".into(), Value::Array(declarations));
            tools.push(Value::Object(tool));
        }
    }
    if p.web_search_options.is_some() {
        let mut tool = Map::new();
        tool.insert("googleSearch".into(), Value::Object(Map::new()));
        tools.push(Value::Object(tool));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &p.tool_choice {
        body.insert("toolConfig".into(), tool_config(choice)?);
    }

    let mut generation = Map::new();
    if let Some(stop) = &p.stop {
        if !stop.0.is_empty() {
            generation.insert("stopSequences".into(), Value::from(stop.0.clone()));
        }
    }
    if let Some(format) = &p.response_format {
        response_format(format, &req.extra, &mut generation)?;
    }
    if let Some(n) = p.n {
        generation.insert("candidateCount".into(), Value::from(n));
    }
    if let Some(max) = req.max_output_tokens() {
        generation.insert("maxOutputTokens".into(), Value::from(max));
    }
    if let Some(t) = p.temperature {
        generation.insert("temperature".into(), Value::from(t));
    }
    if let Some(t) = p.top_p {
        generation.insert("topP".into(), Value::from(t));
    }
    if let Some(k) = req.extra.get("top_k").or_else(|| req.extra.get("topK")) {
        generation.insert("topK".into(), k.clone());
    }
    if let Some(seed) = p.seed {
        generation.insert("seed".into(), Value::from(seed));
    }
    if let Some(v) = p.presence_penalty {
        generation.insert("presencePenalty".into(), Value::from(v));
    }
    if let Some(v) = p.frequency_penalty {
        generation.insert("frequencyPenalty".into(), Value::from(v));
    }
    if let Some(effort) = &p.reasoning_effort {
        generation.insert(
            "thinkingConfig".into(),
            thinking_from_effort(effort, model)?,
        );
    }
    if let Some(thinking) = req.extra.get("thinking") {
        generation.insert(
            "thinkingConfig".into(),
            thinking_from_anthropic(thinking, model),
        );
    }

    // Provider-specific keyword arguments: the snake_case names LiteLLM accepts are mapped,
    // anything else goes into the body as given (so any Gemini field can be reached).
    for (key, value) in &req.extra {
        match key.as_str() {
            "top_k" | "topK" | "thinking" | "response_schema" => {}
            "safety_settings" | "safetySettings" => {
                body.insert("safetySettings".into(), value.clone());
            }
            "cached_content" | "cachedContent" => {
                body.insert("cachedContent".into(), value.clone());
            }
            "generation_config" | "generationConfig" => merge_object(&mut generation, value),
            // The openai SDK's way to add body fields.
            "extra_body" => merge_object(&mut body, value),
            other => match body.get_mut(other) {
                Some(Value::Object(ours)) => merge_object(ours, value),
                _ => {
                    body.insert(other.to_owned(), value.clone());
                }
            },
        }
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    Ok(body)
}

/// Copy `value`'s keys into `into` (the caller's keys win).
fn merge_object(into: &mut Map<String, Value>, value: &Value) {
    if let Value::Object(extra) = value {
        for (k, v) in extra {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn function_declaration(tool: &crate::types::Tool) -> Value {
    let f = &tool.function;
    let mut decl = Map::new();
    decl.insert("name".into(), Value::from(f.name.clone()));
    if let Some(d) = &f.description {
        decl.insert("description".into(), Value::from(d.clone()));
    }
    if let Some(params) = &f.parameters {
        let converted = schema::to_gemini(params, false);
        // A function without arguments: Gemini rejects an OBJECT with no properties.
        let empty_object = converted.get("type").and_then(Value::as_str) == Some("OBJECT")
            && converted
                .get("properties")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
        if !empty_object && converted.as_object().is_some_and(|o| !o.is_empty()) {
            decl.insert("parameters".into(), converted);
        }
    }
    Value::Object(decl)
}

fn tool_config(choice: &ToolChoice) -> Result<Value, LlmError> {
    let mut config = Map::new();
    match choice {
        ToolChoice::Mode(mode) => {
            let gemini = match mode.as_str() {
                "auto" => "AUTO",
                "none" => "NONE",
                "required" => "ANY",
                other => {
                    return Err(LlmError::bad_request(format!(
                        "tool_choice {other:?} is not one of \"auto\", \"none\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
                    )))
                }
            };
            config.insert("mode".into(), Value::from(gemini));
        }
        ToolChoice::Named(_) => {
            let name = choice.function_name().ok_or_else(|| {
                LlmError::bad_request(
                    "tool_choice: expected {\"type\": \"function\", \"function\": {\"name\": ...}}",
                )
            })?;
            config.insert("mode".into(), Value::from("ANY"));
            config.insert(
                "allowedFunctionNames".into(),
                Value::Array(vec![Value::from(name)]),
            );
        }
    }
    let mut tool_config = Map::new();
    tool_config.insert("functionCallingConfig".into(), Value::Object(config));
    Ok(Value::Object(tool_config))
}

fn response_format(
    format: &crate::types::ResponseFormat,
    extra: &Map<String, Value>,
    generation: &mut Map<String, Value>,
) -> Result<(), LlmError> {
    let schema = match format.kind.as_str() {
        "text" => {
            generation.insert("responseMimeType".into(), Value::from("text/plain"));
            return Ok(());
        }
        "json_object" => format
            .extra
            .get("response_schema")
            .or_else(|| extra.get("response_schema")),
        "json_schema" => format.json_schema.as_ref().and_then(|s| s.schema.as_ref()),
        other => {
            return Err(LlmError::bad_request(format!(
                "response_format type {other:?} is not one of \"text\", \"json_object\", \"json_schema\""
            )))
        }
    };
    generation.insert("responseMimeType".into(), Value::from("application/json"));
    if let Some(schema) = schema {
        generation.insert("responseSchema".into(), schema::to_gemini(schema, true));
    }
    Ok(())
}

/// `reasoning_effort` → `thinkingConfig`, as LiteLLM maps it. Gemini 2.5 takes a token
/// budget: minimal = the model's smallest (128 Pro, 512 Flash-Lite, 1 Flash), low = 1024,
/// medium = 2048, high = 4096; none/disable = 0 without thoughts. Gemini 3 takes a level:
/// minimal (Flash; Pro: low), low, medium (Flash and 3.1 Pro; else high), high; none/disable
/// = the lowest level without thoughts. Thoughts are included in the reply otherwise.
fn thinking_from_effort(effort: &str, model: &str) -> Result<Value, LlmError> {
    let m = model.to_ascii_lowercase();
    let invalid = || {
        LlmError::bad_request(format!(
            "reasoning_effort {effort:?} is not one of \"none\", \"disable\", \"minimal\", \"low\", \"medium\", \"high\""
        ))
    };
    let mut config = Map::new();
    let include_thoughts = !matches!(effort, "none" | "disable");
    if is_gemini_3(&m) {
        let flash = m.contains("gemini-3-flash") || m.contains("gemini-3.1-flash");
        let level = match effort {
            "minimal" | "none" | "disable" if flash => "minimal",
            "minimal" | "none" | "disable" | "low" => "low",
            "medium" if flash || m.contains("gemini-3.1-pro") => "medium",
            "medium" | "high" => "high",
            _ => return Err(invalid()),
        };
        config.insert("thinkingLevel".into(), Value::from(level));
    } else {
        let budget: u32 = match effort {
            "minimal" if m.contains("gemini-2.5-flash-lite") => 512,
            "minimal" if m.contains("gemini-2.5-flash") => 1,
            "minimal" => 128,
            "low" => 1024,
            "medium" => 2048,
            "high" => 4096,
            "none" | "disable" => 0,
            _ => return Err(invalid()),
        };
        config.insert("thinkingBudget".into(), Value::from(budget));
    }
    config.insert("includeThoughts".into(), Value::Bool(include_thoughts));
    Ok(Value::Object(config))
}

/// Anthropic-style `thinking={"type": "enabled", "budget_tokens": N}` → `thinkingConfig`.
fn thinking_from_anthropic(thinking: &Value, model: &str) -> Value {
    let enabled = thinking.get("type").and_then(Value::as_str) == Some("enabled");
    let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
    let mut config = Map::new();
    if is_gemini_3(model) {
        config.insert("includeThoughts".into(), Value::Bool(enabled));
    } else if enabled {
        if let Some(b) = budget {
            config.insert("thinkingBudget".into(), Value::from(b));
        }
        config.insert("includeThoughts".into(), Value::Bool(budget != Some(0)));
    } else {
        config.insert("thinkingBudget".into(), Value::from(0));
    }
    Value::Object(config)
}

/// Messages → (`systemInstruction`, `contents`).
fn convert_messages(
    messages: &[Message],
    model: &str,
) -> Result<(Option<Value>, Vec<Value>), LlmError> {
    let mut system_parts: Vec<Value> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::with_capacity(messages.len());
    // Function names by tool-call id, for the results that answer them.
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    let needs_signature = is_gemini_3(model);

    for (i, m) in messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                system_parts.extend(text_only_parts(m, i)?);
                continue;
            }
            Role::User => ("user", user_parts(m, i)?),
            Role::Assistant => {
                let mut parts = match &m.content {
                    Some(content) => content_parts(content, i, m.role)?,
                    None => Vec::new(),
                };
                let first_call = parts.len();
                if let Some(calls) = &m.tool_calls {
                    for call in calls {
                        call_names.push((call.id.as_str(), call.function.name.as_str()));
                        parts.push(function_call_part(
                            &call.function.name,
                            &call.function.arguments,
                            signature_of(&call.id),
                            i,
                        )?);
                    }
                }
                if let Some(Value::Object(fc)) = m.extra.get("function_call") {
                    let name = fc.get("name").and_then(Value::as_str).unwrap_or_default();
                    let args = match fc.get("arguments") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    parts.push(function_call_part(name, &args, None, i)?);
                }
                // Gemini 3 validates the signature of the first call of each step; calls
                // from another model get the documented placeholder.
                if needs_signature && parts.len() > first_call {
                    let signed = parts[first_call..]
                        .iter()
                        .any(|p| p.get("thoughtSignature").is_some());
                    if !signed {
                        if let Value::Object(p) = &mut parts[first_call] {
                            p.insert(
                                "thoughtSignature".into(),
                                Value::from(DUMMY_THOUGHT_SIGNATURE),
                            );
                        }
                    }
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = call_names
                    .iter()
                    .rev()
                    .find(|(call_id, _)| *call_id == id)
                    .map(|(_, name)| *name)
                    .or(m.name.as_deref())
                    .ok_or_else(|| {
                        LlmError::bad_request(format!(
                            "messages[{i}] (tool): tool_call_id {id:?} does not match a tool call of an earlier assistant message; Gemini needs the function's name"
                        ))
                    })?;
                ("user", vec![function_response_part(name, &m.text())])
            }
            Role::Function => {
                let name = m.name.as_deref().unwrap_or_default();
                ("user", vec![function_response_part(name, &m.text())])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.extend(parts),
            _ => turns.push((role, parts)),
        }
    }

    // Only system messages: Gemini needs at least one turn, so they become the user's.
    if turns.is_empty() && !system_parts.is_empty() {
        turns.push(("user", std::mem::take(&mut system_parts)));
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| content(Some(role), parts))
        .collect();
    let system = (!system_parts.is_empty()).then(|| content(None, system_parts));
    Ok((system, contents))
}

fn content(role: Option<&str>, parts: Vec<Value>) -> Value {
    let mut c = Map::new();
    if let Some(role) = role {
        c.insert("role".into(), Value::from(role));
    }
    c.insert("parts".into(), Value::Array(parts));
    Value::Object(c)
}

fn text_part(text: &str) -> Value {
    let mut p = Map::new();
    p.insert("text".into(), Value::from(text));
    Value::Object(p)
}

/// The thought signature encoded in a tool-call id, if any.
fn signature_of(id: &str) -> Option<&str> {
    id.split_once(THOUGHT_SIGNATURE_SEPARATOR)
        .map(|(_, sig)| sig)
        .filter(|sig| !sig.is_empty())
}

fn function_call_part(
    name: &str,
    arguments: &str,
    signature: Option<&str>,
    i: usize,
) -> Result<Value, LlmError> {
    let args = if arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_str::<Value>(arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(LlmError::bad_request(format!(
                    "messages[{i}] (assistant): the arguments of tool call {name:?} are not a JSON object; Gemini needs one"
                )))
            }
        }
    };
    let mut call = Map::new();
    call.insert("name".into(), Value::from(name));
    call.insert("args".into(), args);
    let mut part = Map::new();
    part.insert("functionCall".into(), Value::Object(call));
    if let Some(sig) = signature {
        part.insert("thoughtSignature".into(), Value::from(sig));
    }
    Ok(Value::Object(part))
}

fn function_response_part(name: &str, result: &str) -> Value {
    let response = match serde_json::from_str::<Value>(result) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let mut wrapped = Map::new();
            wrapped.insert("output".into(), Value::from(result));
            Value::Object(wrapped)
        }
    };
    let mut fr = Map::new();
    fr.insert("name".into(), Value::from(name));
    fr.insert("response".into(), response);
    let mut part = Map::new();
    part.insert("functionResponse".into(), Value::Object(fr));
    Value::Object(part)
}

/// System messages: Gemini's `systemInstruction` takes text.
fn text_only_parts(m: &Message, i: usize) -> Result<Vec<Value>, LlmError> {
    let Some(content) = &m.content else {
        return Ok(Vec::new());
    };
    match content {
        MessageContent::Text(t) => Ok(non_empty_text(t)),
        MessageContent::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                match (p.kind.as_str(), &p.text) {
                    ("text", Some(t)) => out.extend(non_empty_text(t)),
                    (kind, _) => {
                        return Err(LlmError::bad_request(format!(
                            "messages[{i}] ({}): Gemini's system instruction takes text only, got a {kind:?} part",
                            m.role.as_str()
                        )))
                    }
                }
            }
            Ok(out)
        }
    }
}

fn non_empty_text(t: &str) -> Vec<Value> {
    if t.is_empty() {
        Vec::new()
    } else {
        vec![text_part(t)]
    }
}

fn user_parts(m: &Message, i: usize) -> Result<Vec<Value>, LlmError> {
    match &m.content {
        Some(content) => content_parts(content, i, m.role),
        None => Ok(Vec::new()),
    }
}

fn content_parts(content: &MessageContent, i: usize, role: Role) -> Result<Vec<Value>, LlmError> {
    match content {
        MessageContent::Text(t) => Ok(non_empty_text(t)),
        MessageContent::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                if let Some(part) = content_part(p, i, j, role)? {
                    out.push(part);
                }
            }
            Ok(out)
        }
    }
}

fn content_part(
    p: &ContentPart,
    i: usize,
    j: usize,
    role: Role,
) -> Result<Option<Value>, LlmError> {
    let at = |what: String| {
        LlmError::bad_request(format!(
            "messages[{i}] ({}): content[{j}] {what}",
            role.as_str()
        ))
    };
    match p.kind.as_str() {
        "text" => Ok(p.text.as_deref().filter(|t| !t.is_empty()).map(text_part)),
        "image_url" => {
            let image = p
                .image_url
                .as_ref()
                .ok_or_else(|| at("is an image_url part without \"image_url\"".into()))?;
            let hint = image
                .extra
                .get("format")
                .and_then(Value::as_str)
                .map(str::to_owned);
            media_part(&image.url, hint).map(Some).map_err(at)
        }
        "input_audio" => {
            let audio = p.extra.get("input_audio");
            let data = audio.and_then(|a| a.get("data")).and_then(Value::as_str);
            let format = audio.and_then(|a| a.get("format")).and_then(Value::as_str);
            match (data, format) {
                (Some(data), Some(format)) => {
                    Ok(Some(inline_data(&format!("audio/{format}"), data)))
                }
                _ => Err(at(
                    "is an input_audio part without input_audio.data and input_audio.format".into(),
                )),
            }
        }
        "file" => {
            let file = p.extra.get("file");
            let get = |k: &str| file.and_then(|f| f.get(k)).and_then(Value::as_str);
            let hint = get("format").map(str::to_owned);
            let source = get("file_data").or_else(|| get("file_id"));
            match source {
                Some(src) => media_part(src, hint).map(Some).map_err(at),
                None => Err(at(
                    "is a file part without file.file_data or file.file_id".into()
                )),
            }
        }
        // Reasoning sent back from an earlier reply: Gemini does not take it as input.
        "thinking" | "redacted_thinking" => Ok(None),
        "refusal" => Ok(p
            .extra
            .get("refusal")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(text_part)),
        other => Err(at(format!(
            "has type {other:?}, which Gemini does not take"
        ))),
    }
}

fn inline_data(mime: &str, data: &str) -> Value {
    let mut blob = Map::new();
    blob.insert("mimeType".into(), Value::from(mime));
    blob.insert("data".into(), Value::from(data));
    let mut part = Map::new();
    part.insert("inlineData".into(), Value::Object(blob));
    Value::Object(part)
}

/// A data URL → `inlineData`; any other URL (`gs://`, `https://`, a Files API URI) →
/// `fileData`, its MIME type from `format` or the file extension.
fn media_part(url: &str, mime_hint: Option<String>) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| "has a data URL without a ',' before the data".to_owned())?;
        let mime = meta.strip_suffix(";base64").ok_or_else(|| {
            "has a data URL that is not base64 (expected data:<mime>;base64,<data>)".to_owned()
        })?;
        let mime = mime_hint.as_deref().unwrap_or(mime);
        return Ok(inline_data(mime, data));
    }
    let mut file = Map::new();
    if let Some(mime) = mime_hint.or_else(|| mime_from_extension(url).map(str::to_owned)) {
        file.insert("mimeType".into(), Value::from(mime));
    }
    file.insert("fileUri".into(), Value::from(url));
    let mut part = Map::new();
    part.insert("fileData".into(), Value::Object(file));
    Ok(Value::Object(part))
}

/// The MIME type Gemini expects for a file, from its extension.
fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "md" => "text/md",
        "xml" => "text/xml",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "aiff" => "audio/aiff",
        "mp4" => "video/mp4",
        "mpeg" | "mpg" => "video/mpeg",
        "mov" => "video/mov",
        "avi" => "video/avi",
        "flv" => "video/x-flv",
        "webm" => "video/webm",
        "wmv" => "video/wmv",
        "3gp" | "3gpp" => "video/3gpp",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    response_id: Option<String>,
    /// Google's error object, sometimes sent with a 200 (a proxy in between, a batch).
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<CandidateContent>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    index: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<ResponsePart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponsePart {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    thought_signature: Option<String>,
    #[serde(default)]
    function_call: Option<ResponseFunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
struct ResponseFunctionCall {
    #[serde(default)]
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
    #[serde(default)]
    block_reason_message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    total_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Vec<ModalityTokenCount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModalityTokenCount {
    #[serde(default)]
    modality: String,
    #[serde(default)]
    token_count: u64,
}

/// What one candidate's parts say, in OpenAI terms.
#[derive(Default)]
struct Translated {
    content: Option<String>,
    reasoning: Option<String>,
    thinking_blocks: Vec<Value>,
    tool_calls: Vec<ToolCall>,
}

fn translate_parts(parts: &[ResponsePart]) -> Translated {
    let mut t = Translated::default();
    for part in parts {
        if let Some(call) = &part.function_call {
            let mut id = crate::types::new_id("call_");
            if let Some(sig) = &part.thought_signature {
                id.push_str(THOUGHT_SIGNATURE_SEPARATOR);
                id.push_str(sig);
            }
            let arguments = match &call.args {
                Some(args) if !args.is_null() => args.to_string(),
                _ => "{}".to_owned(),
            };
            t.tool_calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: call.name.clone(),
                    arguments,
                },
            });
            continue;
        }
        let Some(text) = &part.text else { continue };
        if part.thought == Some(true) {
            t.reasoning.get_or_insert_with(String::new).push_str(text);
            let mut block = Map::new();
            block.insert("type".into(), Value::from("thinking"));
            block.insert("thinking".into(), Value::from(text.clone()));
            if let Some(sig) = &part.thought_signature {
                block.insert("signature".into(), Value::from(sig.clone()));
            }
            t.thinking_blocks.push(Value::Object(block));
        } else if !text.is_empty() {
            t.content.get_or_insert_with(String::new).push_str(text);
        }
    }
    t
}

/// Gemini's `finishReason` → OpenAI's. A normal stop after a function call is `tool_calls`.
fn finish_reason(reason: Option<&str>, called_tools: bool) -> String {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT",
        ) => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
    .to_owned()
}

fn usage_from(meta: &UsageMetadata) -> Usage {
    let prompt = meta.prompt_token_count.unwrap_or(0);
    let candidates = meta.candidates_token_count.unwrap_or(0);
    let thoughts = meta.thoughts_token_count.unwrap_or(0);
    let total = meta.total_token_count.unwrap_or(0);
    // Thinking tokens are billed as output; Gemini counts them apart from the candidates
    // (unless its total shows they are already inside).
    let completion = if total != 0 && prompt + candidates == total {
        candidates
    } else {
        candidates + thoughts
    };
    let mut usage = Usage::new(prompt, completion);
    if total != 0 {
        usage.total_tokens = total;
    }
    let audio: u64 = meta
        .prompt_tokens_details
        .iter()
        .filter(|d| d.modality.eq_ignore_ascii_case("AUDIO"))
        .map(|d| d.token_count)
        .sum();
    if meta.cached_content_token_count.is_some() || audio > 0 {
        usage.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: meta.cached_content_token_count,
            audio_tokens: (audio > 0).then_some(audio),
            ..Default::default()
        });
    }
    if let Some(thoughts) = meta.thoughts_token_count {
        usage.completion_tokens_details = Some(CompletionTokensDetails {
            reasoning_tokens: Some(thoughts),
            ..Default::default()
        });
    }
    usage
}

/// The error for a prompt Gemini refused to answer (`promptFeedback.blockReason`).
fn blocked_prompt_error(
    feedback: &PromptFeedback,
    body: Value,
    target: &Target,
) -> Option<LlmError> {
    let reason = feedback.block_reason.as_deref()?;
    let mut message = format!("Gemini blocked the prompt (blockReason: {reason})");
    if let Some(detail) = &feedback.block_reason_message {
        message.push_str(": ");
        message.push_str(detail);
    }
    Some(
        target.annotate(
            LlmError::new(ErrorKind::ContentPolicyViolation, message)
                .with_body(openai::redact_value(body, &target.secrets())),
        ),
    )
}

/// A `GenerateContentResponse` → `chat.completion`.
pub fn parse_response(body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
    let resp: GenerateContentResponse =
        parse_json(body, "Gemini generateContent response").map_err(|e| target.annotate(e))?;
    if let Some(error) = &resp.error {
        let status = error
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c >= 400)
            .unwrap_or(500);
        return Err(error_from_body(status, &HeaderMap::new(), body, target));
    }
    // serde reads a struct from a JSON array too, and every field is optional: a body
    // with none of Gemini's fields is not an answer (an empty one would pass for success).
    if resp.candidates.is_empty()
        && resp.prompt_feedback.is_none()
        && resp.usage_metadata.is_none()
        && resp.response_id.is_none()
    {
        let snippet = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(target.annotate(LlmError::new(
            ErrorKind::Api,
            format!(
                "Could not parse the Gemini generateContent response: it has no candidates, \
                 promptFeedback or usageMetadata. Body starts with: {snippet}"
            ),
        )));
    }
    if let Some(feedback) = &resp.prompt_feedback {
        let raw = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let Some(err) = blocked_prompt_error(feedback, raw, target) {
            return Err(err);
        }
    }
    let mut out = ChatResponse::new(target.model.clone());
    if let Some(id) = resp.response_id.filter(|id| !id.is_empty()) {
        out.id = id;
    }
    for (position, candidate) in resp.candidates.iter().enumerate() {
        let parts = candidate
            .content
            .as_ref()
            .map(|c| c.parts.as_slice())
            .unwrap_or_default();
        let t = translate_parts(parts);
        let finish = finish_reason(candidate.finish_reason.as_deref(), !t.tool_calls.is_empty());
        out.choices.push(Choice {
            index: candidate.index.unwrap_or(position as u32),
            message: ResponseMessage {
                content: t.content,
                reasoning_content: t.reasoning,
                thinking_blocks: (!t.thinking_blocks.is_empty()).then_some(t.thinking_blocks),
                tool_calls: (!t.tool_calls.is_empty()).then_some(t.tool_calls),
                ..Default::default()
            },
            finish_reason: Some(finish),
            logprobs: None,
            extra: Map::new(),
        });
    }
    if out.choices.is_empty() {
        // No candidate and no block reason: an empty answer, as OpenAI would give it.
        out.choices.push(Choice {
            index: 0,
            message: ResponseMessage::default(),
            finish_reason: Some("stop".to_owned()),
            logprobs: None,
            extra: Map::new(),
        });
    }
    out.usage = resp.usage_metadata.as_ref().map(usage_from);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------

/// Turns `streamGenerateContent?alt=sse` frames into OpenAI chunks: a role chunk per
/// candidate, content / reasoning / tool-call deltas (each function call whole, in one
/// delta), a finish chunk, and at the end of the stream a usage-only chunk.
pub struct GeminiStreamParser {
    target: Target,
    id: Option<String>,
    created: i64,
    /// Per candidate index: tool calls emitted so far.
    candidates: Vec<(u32, u32)>,
    usage: Option<Usage>,
}

impl GeminiStreamParser {
    pub fn new(target: &Target) -> Self {
        GeminiStreamParser {
            target: target.clone(),
            id: None,
            created: crate::types::unix_now(),
            candidates: Vec::new(),
            usage: None,
        }
    }

    fn chunk(&self) -> ChatChunk {
        ChatChunk::new(
            self.id.as_deref().unwrap_or_default(),
            self.created,
            &self.target.model,
        )
    }
}

impl StreamParser for GeminiStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(StreamControl::Continue);
        }
        let value: Value = serde_json::from_str(data).map_err(|e| {
            self.target.annotate(LlmError::new(
                ErrorKind::Api,
                format!(
                    "Could not parse a Gemini stream frame: {e}. Frame: {}",
                    data.chars().take(300).collect::<String>()
                ),
            ))
        })?;
        if value.get("error").is_some() {
            let status = value
                .pointer("/error/code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            return Err(error_from_body(
                status,
                &HeaderMap::new(),
                data.as_bytes(),
                &self.target,
            ));
        }
        let resp = GenerateContentResponse::deserialize(&value).map_err(|e| {
            self.target.annotate(LlmError::new(
                ErrorKind::Api,
                format!("Unexpected Gemini stream frame: {e}"),
            ))
        })?;
        if let Some(feedback) = &resp.prompt_feedback {
            if let Some(err) = blocked_prompt_error(feedback, value.clone(), &self.target) {
                return Err(err);
            }
        }
        if self.id.is_none() {
            self.id = Some(
                resp.response_id
                    .clone()
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| crate::types::new_id("chatcmpl-")),
            );
        }
        for (position, candidate) in resp.candidates.iter().enumerate() {
            let index = candidate.index.unwrap_or(position as u32);
            let slot = match self.candidates.iter().position(|(i, _)| *i == index) {
                Some(slot) => slot,
                None => {
                    self.candidates.push((index, 0));
                    out.push(self.chunk().with_delta(
                        index,
                        Delta {
                            role: Some("assistant".to_owned()),
                            content: Some(String::new()),
                            ..Default::default()
                        },
                        None,
                    ));
                    self.candidates.len() - 1
                }
            };
            let parts = candidate
                .content
                .as_ref()
                .map(|c| c.parts.as_slice())
                .unwrap_or_default();
            let t = translate_parts(parts);
            let first_call = self.candidates[slot].1;
            self.candidates[slot].1 += t.tool_calls.len() as u32;
            let tool_calls: Vec<ToolCallDelta> = t
                .tool_calls
                .into_iter()
                .zip(first_call..)
                .map(|(call, n)| ToolCallDelta {
                    index: n,
                    id: Some(call.id),
                    kind: Some(call.kind),
                    function: Some(FunctionDelta {
                        name: Some(call.function.name),
                        arguments: Some(call.function.arguments),
                    }),
                })
                .collect();
            if t.content.is_some() || t.reasoning.is_some() || !tool_calls.is_empty() {
                let delta = Delta {
                    content: t.content,
                    reasoning_content: t.reasoning,
                    thinking_blocks: (!t.thinking_blocks.is_empty()).then_some(t.thinking_blocks),
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    ..Default::default()
                };
                out.push(self.chunk().with_delta(index, delta, None));
            }
            if candidate.finish_reason.is_some() {
                let reason = finish_reason(
                    candidate.finish_reason.as_deref(),
                    self.candidates[slot].1 > 0,
                );
                out.push(
                    self.chunk()
                        .with_delta(index, Delta::default(), Some(reason)),
                );
            }
        }
        // Every frame repeats the usage so far; the last one with counts is the total.
        if let Some(meta) = &resp.usage_metadata {
            if meta.total_token_count.is_some() || meta.prompt_token_count.is_some() {
                self.usage = Some(usage_from(meta));
            }
        }
        Ok(StreamControl::Continue)
    }

    fn on_end(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        if let Some(usage) = self.usage.take() {
            let mut chunk = self.chunk();
            chunk.usage = Some(Box::new(usage));
            out.push(chunk);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Map Google's error body, `{"error": {"code", "message", "status", "details"}}` (a
/// one-element array of it from some streaming endpoints), to the right error kind.
pub fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| match v {
        Value::Array(items) => items.first().and_then(|i| i.get("error")),
        other => other.get("error"),
    });
    let message = match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => {
            let text = String::from_utf8_lossy(body);
            if text.trim().is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                text.chars().take(1000).collect()
            }
        }
    };
    let google_status = error
        .and_then(|e| e.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let details = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array);
    let reason_is = |wanted: &str| {
        details.is_some_and(|ds| {
            ds.iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some(wanted))
        })
    };
    let kind = match google_status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
            if reason_is("API_KEY_INVALID") || message.contains("API key not valid") {
                ErrorKind::Authentication
            } else if is_context_window_message(&message) {
                ErrorKind::ContextWindowExceeded
            } else if is_content_policy_message(&message) {
                ErrorKind::ContentPolicyViolation
            } else {
                ErrorKind::BadRequest
            }
        }
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorKind::InternalServer,
        "UNAVAILABLE" => ErrorKind::ServiceUnavailable,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => {
            let kind = ErrorKind::from_status(status);
            if kind == ErrorKind::BadRequest && is_context_window_message(&message) {
                ErrorKind::ContextWindowExceeded
            } else {
                kind
            }
        }
    };
    // Google says when to retry in a RetryInfo detail ("retryDelay": "37s").
    let retry_delay = details.and_then(|ds| {
        ds.iter().find_map(|d| {
            let delay = d.get("retryDelay")?.as_str()?;
            delay.strip_suffix('s')?.parse::<f64>().ok()
        })
    });
    let body_value =
        parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
    // Google answers a bad key with 400 INVALID_ARGUMENT; the class says 401 (as LiteLLM's).
    let status = if kind == ErrorKind::Authentication {
        401
    } else {
        status
    };
    target.annotate(
        LlmError::new(kind, message)
            .with_status(status)
            .with_body(openai::redact_value(body_value, &target.secrets()))
            .with_retry_after(retry_after_seconds(headers).or(retry_delay)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(model: &str) -> Target {
        Arc::new(Gemini)
            .resolve_target(
                model,
                &TargetOptions {
                    api_key: Some(SecretString::from("test-key-123456")),
                    api_base: Some("http://127.0.0.1:9".into()),
                    ..Default::default()
                },
            )
            .unwrap()
    }

    fn request(messages: Value, params: Value) -> ChatRequest {
        crate::providers::test_request("gemini-2.5-pro", messages, params)
    }

    fn body(messages: Value, params: Value, model: &str) -> Value {
        Value::Object(build_body(&request(messages, params), model).unwrap())
    }

    #[test]
    fn embeddings_batch_body_and_response() {
        let t = target("gemini-embedding-001");
        let mut req = EmbeddingRequest::new("x", vec!["a", "b"]);
        req.dimensions = Some(256);
        req.extra
            .insert("task_type".into(), json!("RETRIEVAL_QUERY"));
        let http = Gemini.build_embedding_request(&req, &t).unwrap();
        assert_eq!(
            http.url,
            "http://127.0.0.1:9/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        let one = |text: &str| {
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": text}]},
                   "outputDimensionality": 256, "taskType": "RETRIEVAL_QUERY"})
        };
        assert_eq!(body, json!({"requests": [one("a"), one("b")]}));
        assert_eq!(http.headers["x-goog-api-key"], "test-key-123456");
        let tokens = EmbeddingRequest::new("x", EmbeddingInput::Tokens(vec![1, 2]));
        let e = Gemini.build_embedding_request(&tokens, &t).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);

        let r = parse_embedding_response(
            br#"{"embeddings": [{"values": [0.5, -0.5]}, {"values": [1.0, 0.0]}]}"#,
            &t,
        )
        .unwrap();
        assert_eq!(r.data[1].index, 1);
        assert_eq!(r.data[1].embedding, EmbeddingVector::Float(vec![1.0, 0.0]));
        assert_eq!(r.model, "gemini-embedding-001");
        assert!(r.usage.is_none());
    }

    #[test]
    fn urls() {
        assert_eq!(
            studio_url("https://generativelanguage.googleapis.com", None, "gemini-2.5-pro", false),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"
        );
        assert_eq!(
            studio_url("http://h/v1beta/", None, "gemini-2.5-pro", true),
            "http://h/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            studio_url("http://h", Some("v1alpha"), "tunedModels/my-model", false),
            "http://h/v1alpha/tunedModels/my-model:generateContent"
        );
        assert!(check_model_name("gemini", "gemini-2.5-pro?key=x").is_err());
        assert_eq!(target("models/gemini-2.5-pro").model, "gemini-2.5-pro");
    }

    #[test]
    fn messages_roles_system_and_merging() {
        let b = body(
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
                {"role": "user", "content": "hi"},
                {"role": "user", "content": [{"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "bye"}
            ]),
            json!({}),
            "gemini-2.5-pro",
        );
        assert_eq!(
            b,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "hi"}, {"text": "there"}]},
                    {"role": "model", "parts": [{"text": "hello"}]},
                    {"role": "user", "parts": [{"text": "bye"}]}
                ],
                "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "and kind"}]}
            })
        );
        // Only a system message: it becomes the user turn.
        let b = body(
            json!([{"role": "system", "content": "s"}]),
            json!({}),
            "gemini-2.5-pro",
        );
        assert_eq!(
            b,
            json!({"contents": [{"role": "user", "parts": [{"text": "s"}]}]})
        );
    }

    #[test]
    fn media_parts() {
        let b = body(
            json!([{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": "gs://bucket/cat.JPG"},
                {"type": "image_url", "image_url": {"url": "https://x.test/img?id=1", "format": "image/webp"}},
                {"type": "image_url", "image_url": "https://x.test/no-extension"},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
                {"type": "file", "file": {"file_id": "https://generativelanguage.googleapis.com/v1beta/files/abc", "format": "video/mp4"}}
            ]}]),
            json!({}),
            "gemini-2.5-pro",
        );
        assert_eq!(
            b["contents"][0]["parts"],
            json!([
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.JPG"}},
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/img?id=1"}},
                {"fileData": {"fileUri": "https://x.test/no-extension"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                {"fileData": {"mimeType": "video/mp4", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}
            ])
        );
        let err = build_body(
            &request(
                json!([{"role": "user", "content": [{"type": "image_url", "image_url": "data:text/plain,hi"}]}]),
                json!({}),
            ),
            "gemini-2.5-pro",
        )
        .unwrap_err();
        assert!(
            err.message.contains("messages[0] (user): content[0]"),
            "{}",
            err.message
        );
    }

    #[test]
    fn tool_calls_and_results() {
        let b = body(
            json!([
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a__thought__c2lnMQ==", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_a__thought__c2lnMQ==", "content": "{\"temp\": 21}"},
                {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
                {"role": "user", "content": "thanks"}
            ]),
            json!({}),
            "gemini-2.5-pro",
        );
        assert_eq!(
            b["contents"],
            json!([
                {"role": "user", "parts": [{"text": "weather in Paris and Rome?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnMQ=="},
                    {"functionCall": {"name": "get_time", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                    {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
                    {"text": "thanks"}
                ]}
            ])
        );
        // A tool result with no matching call cannot be named.
        let err = build_body(
            &request(
                json!([{"role": "tool", "tool_call_id": "nope", "content": "x"}]),
                json!({}),
            ),
            "gemini-2.5-pro",
        )
        .unwrap_err();
        assert!(err.message.contains("\"nope\""));
        // Gemini 3: an unsigned call (from another model's history) gets the placeholder.
        let b = body(
            json!([
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "1"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "2"}
            ]),
            json!({}),
            "gemini-3-pro-preview",
        );
        assert_eq!(
            b["contents"][1]["parts"][0]["thoughtSignature"],
            DUMMY_THOUGHT_SIGNATURE
        );
        assert!(b["contents"][1]["parts"][1]
            .get("thoughtSignature")
            .is_none());
    }

    #[test]
    fn generation_config_and_tools() {
        let b = body(
            json!([{"role": "user", "content": "hi"}]),
            json!({
                "temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_tokens": 100, "n": 2,
                "stop": ["END"], "seed": 7, "presence_penalty": 0.5, "frequency_penalty": -0.5,
                "reasoning_effort": "low",
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false},
                        "strict": true}},
                    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
                ],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
                "cached_content": "cachedContents/abc"
            }),
            "gemini-2.5-pro",
        );
        assert_eq!(
            b["generationConfig"],
            json!({
                "stopSequences": ["END"], "candidateCount": 2, "maxOutputTokens": 100,
                "temperature": 0.2, "topP": 0.9, "topK": 40, "seed": 7,
                "presencePenalty": 0.5, "frequencyPenalty": -0.5,
                "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}
            })
        );
        assert_eq!(
            b["tools"],
            json!([{"functionDeclarations": [
                {"name": "get_weather", "description": "Weather",
                 "parameters": {"type": "OBJECT", "required": ["city"], "properties": {"city": {"type": "STRING"}}}},
                {"name": "now"}
            ]}])
        );
        assert_eq!(
            b["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
        assert_eq!(
            b["safetySettings"],
            json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}])
        );
        assert_eq!(b["cachedContent"], "cachedContents/abc");
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"extra_body": {"labels": {"team": "a"}}, "generation_config": {"responseModalities": ["TEXT"]}, "top_p": 0.5}),
            "gemini-2.5-pro",
        );
        assert_eq!(b["labels"], json!({"team": "a"}));
        assert_eq!(
            b["generationConfig"],
            json!({"topP": 0.5, "responseModalities": ["TEXT"]})
        );
        for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
            let b = body(
                json!([{"role": "user", "content": "x"}]),
                json!({"tool_choice": choice}),
                "gemini-2.5-pro",
            );
            assert_eq!(
                b["toolConfig"]["functionCallingConfig"],
                json!({"mode": mode})
            );
        }
    }

    #[test]
    fn response_format_and_thinking() {
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true,
                "schema": {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}, "required": ["b", "a"], "additionalProperties": false}}}}),
            "gemini-2.5-flash",
        );
        assert_eq!(
            b["generationConfig"],
            json!({"responseMimeType": "application/json", "responseSchema": {
                "type": "OBJECT", "required": ["b", "a"], "propertyOrdering": ["b", "a"],
                "properties": {"b": {"type": "STRING"}, "a": {"type": "INTEGER"}}}})
        );
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"response_format": {"type": "json_object"}}),
            "gemini-2.5-flash",
        );
        assert_eq!(
            b["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );

        let effort = |e: &str, m: &str| thinking_from_effort(e, m).unwrap();
        assert_eq!(
            effort("minimal", "gemini-2.5-flash-lite"),
            json!({"thinkingBudget": 512, "includeThoughts": true})
        );
        assert_eq!(
            effort("minimal", "gemini-2.5-pro"),
            json!({"thinkingBudget": 128, "includeThoughts": true})
        );
        assert_eq!(
            effort("medium", "gemini-2.5-pro"),
            json!({"thinkingBudget": 2048, "includeThoughts": true})
        );
        assert_eq!(
            effort("high", "gemini-2.5-pro"),
            json!({"thinkingBudget": 4096, "includeThoughts": true})
        );
        assert_eq!(
            effort("none", "gemini-2.5-flash"),
            json!({"thinkingBudget": 0, "includeThoughts": false})
        );
        assert_eq!(
            effort("medium", "gemini-3-pro-preview"),
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
        assert_eq!(
            effort("minimal", "gemini-3-flash-preview"),
            json!({"thinkingLevel": "minimal", "includeThoughts": true})
        );
        assert_eq!(
            effort("disable", "gemini-3-pro-preview"),
            json!({"thinkingLevel": "low", "includeThoughts": false})
        );
        assert!(thinking_from_effort("max", "gemini-2.5-pro").is_err());
        assert_eq!(
            thinking_from_anthropic(
                &json!({"type": "enabled", "budget_tokens": 2000}),
                "gemini-2.5-pro"
            ),
            json!({"thinkingBudget": 2000, "includeThoughts": true})
        );
        assert!(supports_thinking("gemini-2.5-pro") && supports_thinking("gemini-3-flash-preview"));
        assert!(!supports_thinking("gemini-2.0-flash") && !supports_thinking("gemma-3-27b-it"));
        assert!(!supported_params("gemini-3-pro-preview").contains(&"presence_penalty"));
    }

    #[test]
    fn parses_response_with_thoughts_calls_and_usage() {
        let t = target("gemini-2.5-pro");
        let body = json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "Let me think.", "thought": true},
                    {"text": "It is "},
                    {"text": "sunny."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}
                ]},
                "finishReason": "STOP", "index": 0
            }],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7,
                              "cachedContentTokenCount": 4, "totalTokenCount": 22},
            "modelVersion": "gemini-2.5-pro",
            "responseId": "resp-1"
        });
        let r = parse_response(body.to_string().as_bytes(), &t).unwrap();
        assert_eq!(r.id, "resp-1");
        assert_eq!(r.model, "gemini-2.5-pro");
        let m = &r.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("It is sunny."));
        assert_eq!(m.reasoning_content.as_deref(), Some("Let me think."));
        let call = &m.tool_calls.as_ref().unwrap()[0];
        assert!(call.id.starts_with("call_") && call.id.ends_with("__thought__c2ln"));
        assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (10, 12, 22)
        );
        assert_eq!(u.cached_tokens(), 4);
        assert_eq!(u.reasoning_tokens(), 7);
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(Some("STOP"), false), "stop");
        assert_eq!(finish_reason(Some("MAX_TOKENS"), true), "length");
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(finish_reason(Some(r), false), "content_filter");
        }
        assert_eq!(finish_reason(Some("OTHER"), false), "stop");
    }

    #[test]
    fn blocked_prompt_is_content_policy_error() {
        let t = target("gemini-2.5-pro");
        let body = json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                          "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}});
        let e = parse_response(body.to_string().as_bytes(), &t).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ContentPolicyViolation);
        assert!(e.message.contains("SAFETY"));
    }

    #[test]
    fn stream_frames_become_chunks() {
        let t = target("gemini-2.5-flash");
        let mut p = GeminiStreamParser::new(&t);
        let mut out = Vec::new();
        let frames = [
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
                   "usageMetadata": {"trafficType": "ON_DEMAND"}, "responseId": "r1"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"},
                    {"functionCall": {"name": "f", "args": {"a": 1}}}, {"functionCall": {"name": "g", "args": {}}}]},
                   "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}, "responseId": "r1"}),
        ];
        for f in &frames {
            let text = f.to_string();
            let control = p
                .on_frame(
                    Frame {
                        event: None,
                        data: &text,
                    },
                    &mut out,
                )
                .unwrap();
            assert_eq!(control, StreamControl::Continue);
        }
        p.on_end(&mut out).unwrap();
        assert!(out.iter().all(|c| c.id == "r1"));
        assert_eq!(out[0].choices[0].delta.role.as_deref(), Some("assistant"));
        assert_eq!(out[1].choices[0].delta.content.as_deref(), Some("Hel"));
        let calls = out[2].choices[0].delta.tool_calls.as_ref().unwrap();
        assert_eq!(
            calls.iter().map(|c| c.index).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(
            calls[0].function.as_ref().unwrap().arguments.as_deref(),
            Some(r#"{"a":1}"#)
        );
        assert_eq!(
            out[3].choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
        assert!(out[4].choices.is_empty());
        assert_eq!(out[4].usage.as_ref().unwrap().total_tokens, 7);
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn errors_map_by_google_status() {
        let t = target("gemini-2.5-pro");
        let err = |status: u16, google: &str, message: &str| {
            let body = json!({"error": {"code": status, "message": message, "status": google}});
            error_from_body(status, &HeaderMap::new(), body.to_string().as_bytes(), &t)
        };
        assert_eq!(
            err(400, "INVALID_ARGUMENT", "bad").kind,
            ErrorKind::BadRequest
        );
        assert_eq!(
            err(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).").kind,
            ErrorKind::ContextWindowExceeded
        );
        assert_eq!(
            err(401, "UNAUTHENTICATED", "x").kind,
            ErrorKind::Authentication
        );
        assert_eq!(
            err(403, "PERMISSION_DENIED", "x").kind,
            ErrorKind::PermissionDenied
        );
        assert_eq!(err(404, "NOT_FOUND", "x").kind, ErrorKind::NotFound);
        assert_eq!(
            err(429, "RESOURCE_EXHAUSTED", "x").kind,
            ErrorKind::RateLimit
        );
        assert_eq!(err(500, "INTERNAL", "x").kind, ErrorKind::InternalServer);
        assert_eq!(
            err(503, "UNAVAILABLE", "x").kind,
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(err(504, "DEADLINE_EXCEEDED", "x").kind, ErrorKind::Timeout);
        let key = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}});
        let e = error_from_body(400, &HeaderMap::new(), key.to_string().as_bytes(), &t);
        assert_eq!((e.kind, e.status_code), (ErrorKind::Authentication, 401));
        let bare = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}});
        let e = error_from_body(400, &HeaderMap::new(), bare.to_string().as_bytes(), &t);
        assert_eq!((e.kind, e.status_code), (ErrorKind::Authentication, 401));
        let quota = json!([{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}]);
        let e = error_from_body(429, &HeaderMap::new(), quota.to_string().as_bytes(), &t);
        assert_eq!((e.kind, e.retry_after), (ErrorKind::RateLimit, Some(37.0)));
        assert_eq!(e.provider.as_deref(), Some("gemini"));
    }
}
