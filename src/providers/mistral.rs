//! Mistral's chat-completions and embeddings APIs (`mistral/…`, bare `mistral-*`,
//! `open-mistral-*`, `codestral-*`, `magistral-*`): POST `{api_base}/v1/chat/completions`
//! and `/v1/embeddings`.
//!
//! The wire format is OpenAI's, but Mistral rejects fields it does not define (422
//! `extra_forbidden`), so bodies are built field by field from its API reference: `seed` →
//! `random_seed`, `max_completion_tokens` → `max_tokens`, `tool_choice` `required` → `any`;
//! never `user`, `stream_options` (Mistral reports usage in its last chunk by itself) or
//! output-only message fields (`reasoning_content`, `thinking_blocks`, `name` outside tool
//! messages). Mistral's own parameters (`safe_prompt`, `prompt_mode`, `top_k`, …) are sent as
//! given; `extra_body={...}` is merged into the body.
//!
//! Tool-call ids: Mistral accepts only nine letters and digits. Other ids (a conversation
//! begun on OpenAI, `call_…`) are replaced by [`derived_id`], a hash of the id, so the same id
//! becomes the same Mistral id in the assistant's call and in the tool result, in this call
//! and the next. The provider remembers what it replaced, and a response naming one of those
//! ids gets the caller's id back.
//!
//! Magistral answers with content as a list of chunks; `thinking` chunks become
//! `reasoning_content`, text chunks `content` (also in streams).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};

use crate::error::{is_content_policy_message, is_context_window_message, ErrorKind, LlmError};
use crate::http::retry_after_seconds;
use crate::providers::openai::{json_headers, redact_value, AuthStyle};
use crate::providers::{
    encode_json, error_message, parse_json, ApiEnv, HttpRequest, Provider, StreamParser, Target,
    TargetOptions,
};
use crate::stream::{Frame, StreamControl};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, EmbeddingInput, EmbeddingRequest, EmbeddingResponse,
    Message, MessageContent, Role, ToolChoice,
};

/// Where requests go without `api_base=` or an env override.
pub const DEFAULT_API_BASE: &str = "https://api.mistral.ai/v1";
/// LiteLLM's order: the Azure AI deployment of Mistral first.
const API_KEY_ENV: &[&str] = &["MISTRAL_AZURE_API_KEY", "MISTRAL_API_KEY"];
const API_BASE_ENV: &[&str] = &["MISTRAL_AZURE_API_BASE", "MISTRAL_API_BASE"];
/// Where the key and base URL come from when the call gives none.
const ENV: ApiEnv = ApiEnv {
    name: "mistral",
    key: API_KEY_ENV,
    base: API_BASE_ENV,
    default_base: DEFAULT_API_BASE,
    key_required: true,
};
/// How many replaced tool-call ids the provider remembers to restore in responses.
const REMEMBERED_IDS: usize = 4096;

/// The OpenAI parameters Mistral's chat API defines (`reasoning_effort` only for reasoning
/// models, see [`Provider::supported_params`]).
pub const SUPPORTED_PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "prediction",
    "stream_options",
    "stream",
];

/// Magistral models reason with Mistral's reasoning system prompt (`prompt_mode`).
fn is_magistral(model: &str) -> bool {
    model.to_ascii_lowercase().contains("magistral")
}

/// Tool-call ids the provider replaced, Mistral's → the caller's, shared with its stream
/// parsers. Bounded: forgotten wholesale when full (an old conversation's ids then simply
/// stay Mistral's).
#[derive(Clone, Default)]
pub struct ReplacedIds(Arc<Mutex<HashMap<String, String>>>);

impl ReplacedIds {
    fn remember(&self, map: &HashMap<String, String>) {
        if map.is_empty() {
            return;
        }
        if let Ok(mut known) = self.0.lock() {
            if known.len() + map.len() > REMEMBERED_IDS {
                known.clear();
            }
            for (original, mistral) in map {
                known.insert(mistral.clone(), original.clone());
            }
        }
    }

    /// The caller's id for an id Mistral sent, when the provider replaced it.
    pub fn restore(&self, id: &str) -> Option<String> {
        if !is_mistral_id(id) {
            return None;
        }
        self.0.lock().ok()?.get(id).cloned()
    }
}

/// The Mistral provider's registry entry.
#[derive(Default)]
pub struct Mistral {
    replaced_ids: ReplacedIds,
}

impl Mistral {
    pub fn new() -> Self {
        Mistral::default()
    }
}

impl Provider for Mistral {
    fn name(&self) -> &str {
        "mistral"
    }

    fn supported_params(&self, model: &str) -> Vec<&'static str> {
        let mut params = SUPPORTED_PARAMS.to_vec();
        let reasons = is_magistral(model)
            || crate::catalog::model_info("mistral", model).is_some_and(|i| i.supports_reasoning);
        if reasons {
            params.push("reasoning_effort");
        }
        params
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        ENV.target(self, model, opts)
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        let ids = tool_call_ids(&req.messages);
        let body = encode_body(req, &target.model, stream, &ids)?;
        self.replaced_ids.remember(&ids);
        Ok(HttpRequest {
            url: endpoint_url(&target.api_base, "/chat/completions"),
            headers: json_headers(target, AuthStyle::Bearer)?,
            body,
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        parse_response(body, target, &|id| self.replaced_ids.restore(id))
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(MistralStreamParser::new(target, self.replaced_ids.clone()))
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

    /// `mistral-embed` has one vector size; `codestral-embed` takes `output_dimension`.
    /// `encoding_format` (`float` or `base64`) is Mistral's own field.
    fn embedding_params(&self, model: &str) -> Vec<&'static str> {
        if model.to_ascii_lowercase().starts_with("codestral-embed") {
            vec!["dimensions", "encoding_format"]
        } else {
            vec!["encoding_format"]
        }
    }

    fn build_embedding_request(
        &self,
        req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: endpoint_url(&target.api_base, "/embeddings"),
            headers: json_headers(target, AuthStyle::Bearer)?,
            body: encode_embedding_body(req, &target.model)?,
        })
    }

    fn parse_embedding_response(
        &self,
        body: &[u8],
        target: &Target,
    ) -> Result<EmbeddingResponse, LlmError> {
        crate::providers::openai::parse_embedding_response(body, target)
    }
}

/// `{api_base}{path}`, with `/v1` added to a base without it (as LiteLLM does: "Mistral
/// always needs a /v1 at the end"); a base that is already a full endpoint URL is used for
/// the other endpoint too.
pub fn endpoint_url(api_base: &str, path: &str) -> String {
    let mut base = api_base.trim_end_matches('/');
    for known in ["/chat/completions", "/embeddings"] {
        if let Some(stem) = base.strip_suffix(known) {
            base = stem;
        }
    }
    if base.ends_with("/v1") {
        format!("{base}{path}")
    } else {
        format!("{base}/v1{path}")
    }
}

// ---------------------------------------------------------------------------------------
// Tool-call ids
// ---------------------------------------------------------------------------------------

/// Whether `id` is an id Mistral accepts: exactly nine ASCII letters and digits.
pub fn is_mistral_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A Mistral id for a foreign id: nine base-62 digits of the id's 64-bit FNV-1a hash (with
/// `salt` mixed in after a collision). Stable across calls and processes.
pub fn derived_id(id: &str, salt: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let salt_bytes = salt.to_le_bytes();
    let extra: &[u8] = if salt == 0 { &[] } else { &salt_bytes };
    for b in id.as_bytes().iter().chain(extra) {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = [0u8; 9];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(hash % 62) as usize];
        hash /= 62;
    }
    out.iter().map(|b| char::from(*b)).collect()
}

/// The replacement for every tool-call id in `messages` that Mistral would reject, in order
/// of appearance; a replacement never equals an id of the conversation or another
/// replacement.
pub fn tool_call_ids(messages: &[Message]) -> HashMap<String, String> {
    let mut seen: Vec<&str> = Vec::new();
    for m in messages {
        for call in m.tool_calls.iter().flatten() {
            seen.push(&call.id);
        }
        if let Some(id) = &m.tool_call_id {
            seen.push(id);
        }
    }
    let mut taken: HashSet<String> = seen
        .iter()
        .filter(|id| is_mistral_id(id))
        .map(|id| (*id).to_owned())
        .collect();
    let mut map = HashMap::new();
    for id in seen {
        if is_mistral_id(id) || map.contains_key(id) {
            continue;
        }
        let mut salt = 0;
        let mut candidate = derived_id(id, salt);
        while taken.contains(&candidate) {
            salt += 1;
            candidate = derived_id(id, salt);
        }
        taken.insert(candidate.clone());
        map.insert(id.to_owned(), candidate);
    }
    map
}

fn mapped<'a>(ids: &'a HashMap<String, String>, id: &'a str) -> &'a str {
    ids.get(id).map_or(id, String::as_str)
}

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

/// Serialize `req` as a Mistral chat body, tool-call ids replaced per `ids`.
pub fn encode_body(
    req: &ChatRequest,
    model: &str,
    stream: bool,
    ids: &HashMap<String, String>,
) -> Result<Bytes, LlmError> {
    encode_json(&Value::Object(build_body(req, model, stream, ids)?))
}

/// The Mistral chat body for `req`, as a JSON object: only fields Mistral defines.
pub fn build_body(
    req: &ChatRequest,
    model: &str,
    stream: bool,
    ids: &HashMap<String, String>,
) -> Result<Map<String, Value>, LlmError> {
    let p = &req.params;
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert(
        "messages".into(),
        Value::Array(convert_messages(&req.messages, ids)?),
    );
    if let Some(v) = p.temperature {
        body.insert("temperature".into(), v.into());
    }
    if let Some(v) = p.top_p {
        body.insert("top_p".into(), v.into());
    }
    if let Some(v) = req.max_output_tokens() {
        body.insert("max_tokens".into(), v.into());
    }
    if stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    if let Some(stop) = &p.stop {
        body.insert("stop".into(), json!(stop.0));
    }
    if let Some(v) = p.seed {
        body.insert("random_seed".into(), v.into());
    }
    if let Some(format) = &p.response_format {
        body.insert("response_format".into(), json!(format));
    }
    if let Some(tools) = &p.tools {
        let defs: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), t.function.name.clone().into());
                if let Some(d) = &t.function.description {
                    function.insert("description".into(), d.clone().into());
                }
                function.insert(
                    "parameters".into(),
                    t.function
                        .parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                );
                if let Some(strict) = t.function.strict {
                    function.insert("strict".into(), strict.into());
                }
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(defs));
    }
    match &p.tool_choice {
        Some(ToolChoice::Mode(m)) => {
            let mode = match m.as_str() {
                "required" => "any",
                "auto" | "none" | "any" => m.as_str(),
                other => {
                    return Err(LlmError::bad_request(format!(
                    "tool_choice '{other}' is not one of auto, none, required or a named function"
                )))
                }
            };
            body.insert("tool_choice".into(), mode.into());
        }
        Some(choice @ ToolChoice::Named(_)) => {
            let name = choice.function_name().ok_or_else(|| {
                LlmError::bad_request(
                    "tool_choice must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                )
            })?;
            body.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": name}}),
            );
        }
        None => {}
    }
    if let Some(v) = p.presence_penalty {
        body.insert("presence_penalty".into(), v.into());
    }
    if let Some(v) = p.frequency_penalty {
        body.insert("frequency_penalty".into(), v.into());
    }
    if let Some(v) = p.n {
        body.insert("n".into(), v.into());
    }
    if let Some(v) = &p.prediction {
        body.insert("prediction".into(), v.clone());
    }
    if let Some(v) = p.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), v.into());
    }
    if let Some(effort) = &p.reasoning_effort {
        if is_magistral(model) {
            // Magistral reasons under its reasoning system prompt; it has no effort levels.
            if effort != "none" {
                body.insert("prompt_mode".into(), "reasoning".into());
            }
        } else {
            body.insert("reasoning_effort".into(), effort.clone().into());
        }
    }
    for (key, value) in &req.extra {
        if key == "extra_body" {
            if let Value::Object(o) = value {
                body.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        } else {
            body.insert(key.clone(), value.clone());
        }
    }
    Ok(body)
}

fn convert_messages(
    messages: &[Message],
    ids: &HashMap<String, String>,
) -> Result<Vec<Value>, LlmError> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let mut turn = Map::new();
        match m.role {
            Role::System | Role::Developer => {
                turn.insert("role".into(), "system".into());
                turn.insert("content".into(), content(m, i)?);
            }
            Role::User => {
                turn.insert("role".into(), "user".into());
                turn.insert("content".into(), content(m, i)?);
            }
            Role::Assistant => {
                let calls = m.tool_calls.as_deref().unwrap_or_default();
                let text = content(m, i)?;
                let empty_text = matches!(&text, Value::String(s) if s.is_empty());
                let prefix = m.extra.get("prefix").and_then(Value::as_bool);
                // Mistral rejects an assistant turn with neither content nor tool calls.
                if calls.is_empty() && empty_text && prefix != Some(true) {
                    continue;
                }
                turn.insert("role".into(), "assistant".into());
                if !empty_text {
                    turn.insert("content".into(), text);
                }
                if !calls.is_empty() {
                    let calls: Vec<Value> = calls
                        .iter()
                        .map(|c| {
                            json!({"id": mapped(ids, &c.id), "type": "function",
                                   "function": {"name": c.function.name, "arguments": c.function.arguments}})
                        })
                        .collect();
                    turn.insert("tool_calls".into(), Value::Array(calls));
                }
                if prefix == Some(true) {
                    turn.insert("prefix".into(), Value::Bool(true));
                }
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    LlmError::bad_request(format!(
                        "messages[{i}]: a tool message needs tool_call_id"
                    ))
                })?;
                turn.insert("role".into(), "tool".into());
                turn.insert("content".into(), content(m, i)?);
                turn.insert("tool_call_id".into(), mapped(ids, id).into());
                if let Some(name) = m.name.as_deref().filter(|n| !n.trim().is_empty()) {
                    turn.insert("name".into(), name.into());
                }
            }
            Role::Function => {
                return Err(LlmError::bad_request(format!(
                    "messages[{i}]: role 'function' (the deprecated function-calling format) is not supported by Mistral; use tool_calls and role 'tool'"
                )))
            }
        }
        out.push(Value::Object(turn));
    }
    Ok(out)
}

/// A message's content as Mistral takes it: text-only content as one string (as LiteLLM
/// sends it); with images, files or audio, a list of Mistral chunks.
fn content(m: &Message, i: usize) -> Result<Value, LlmError> {
    let parts = match &m.content {
        None => return Ok(Value::String(String::new())),
        Some(MessageContent::Text(s)) => return Ok(Value::String(s.clone())),
        Some(MessageContent::Parts(parts)) => parts,
    };
    if parts.iter().all(|p| p.kind == "text") {
        return Ok(Value::String(m.text()));
    }
    parts
        .iter()
        .map(|p| match p.kind.as_str() {
            "text" => Ok(json!({"type": "text", "text": p.text.clone().unwrap_or_default()})),
            "image_url" => {
                let image = p.image_url.as_ref().ok_or_else(|| {
                    LlmError::bad_request(format!("messages[{i}]: image_url part without a url"))
                })?;
                let mut url = json!({"url": image.url});
                if let Some(d) = &image.detail {
                    url["detail"] = d.clone().into();
                }
                Ok(json!({"type": "image_url", "image_url": url}))
            }
            "file" => {
                let file = p.extra.get("file");
                let field = |k: &str| file.and_then(|f| f.get(k)).and_then(Value::as_str);
                if let Some(id) = field("file_id") {
                    Ok(json!({"type": "file", "file_id": id}))
                } else if let Some(url) = field("file_data").or_else(|| field("url")) {
                    let mut chunk = json!({"type": "document_url", "document_url": url});
                    if let Some(name) = field("filename") {
                        chunk["document_name"] = name.into();
                    }
                    Ok(chunk)
                } else {
                    Err(LlmError::bad_request(format!(
                        "messages[{i}]: a file part needs file.file_id or file.file_data"
                    )))
                }
            }
            "input_audio" => {
                let data = p
                    .extra
                    .get("input_audio")
                    .and_then(|a| a.get("data"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        LlmError::bad_request(format!(
                            "messages[{i}]: input_audio part without data"
                        ))
                    })?;
                Ok(json!({"type": "input_audio", "input_audio": data}))
            }
            // Mistral's own chunk types (document_url, reference, thinking) as given, minus
            // what only other providers understand.
            _ => {
                let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.remove("cache_control");
                }
                Ok(v)
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

/// An embeddings body: `model`, `input`, `dimensions` → `output_dimension`,
/// `encoding_format`; provider fields (`output_dtype`) as given. No `user`.
pub fn encode_embedding_body(req: &EmbeddingRequest, model: &str) -> Result<Bytes, LlmError> {
    if matches!(
        req.input,
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_)
    ) {
        return Err(LlmError::bad_request(
            "Mistral embeds text: pass input as a string or a list of strings, not token ids",
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("input".into(), json!(req.input));
    if let Some(d) = req.dimensions {
        body.insert("output_dimension".into(), d.into());
    }
    if let Some(f) = req.encoding_format {
        body.insert("encoding_format".into(), json!(f));
    }
    for (k, v) in &req.extra {
        body.insert(k.clone(), v.clone());
    }
    encode_json(&Value::Object(body))
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// Mistral's `finish_reason` → OpenAI's; `error` means the generation failed.
fn finish_reason(reason: &str) -> Result<&str, LlmError> {
    match reason {
        "model_length" => Ok("length"),
        "error" => Err(LlmError::new(
            ErrorKind::InternalServer,
            "Mistral stopped the generation with finish_reason \"error\"",
        )),
        other => Ok(other),
    }
}

/// Normalise one message or delta in place: a list `content` (Magistral) becomes `content`
/// (text chunks) and `reasoning_content` (thinking chunks); `""` with tool calls becomes
/// null; tool-call arguments given as objects become JSON strings; replaced ids are
/// restored.
fn normalize_message(
    message: &mut Map<String, Value>,
    restore: &dyn Fn(&str) -> Option<String>,
    is_delta: bool,
) {
    if let Some(Value::Array(chunks)) = message.get("content") {
        let mut text = String::new();
        let mut thinking = String::new();
        for chunk in chunks {
            match chunk.get("type").and_then(Value::as_str) {
                Some("text") => {
                    text.push_str(chunk.get("text").and_then(Value::as_str).unwrap_or(""))
                }
                Some("thinking") => {
                    for t in chunk
                        .get("thinking")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        thinking.push_str(t.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                }
                _ => {}
            }
        }
        let text = if text.is_empty() && (is_delta || !thinking.is_empty()) {
            Value::Null
        } else {
            Value::String(text)
        };
        message.insert("content".into(), text);
        if !thinking.is_empty() {
            message.insert("reasoning_content".into(), Value::String(thinking));
        }
    }
    let has_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if !is_delta && has_calls && message.get("content").and_then(Value::as_str) == Some("") {
        message.insert("content".into(), Value::Null);
    }
    if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
        for call in calls.iter_mut() {
            let Some(call) = call.as_object_mut() else {
                continue;
            };
            if let Some(original) = call.get("id").and_then(Value::as_str).and_then(restore) {
                call.insert("id".into(), Value::String(original));
            }
            if !is_delta {
                call.remove("index");
            }
            call.entry("type").or_insert_with(|| "function".into());
            if let Some(Value::Object(f)) = call.get_mut("function") {
                if let Some(args @ (Value::Object(_) | Value::Array(_))) = f.get("arguments") {
                    let text = args.to_string();
                    f.insert("arguments".into(), Value::String(text));
                }
            }
        }
    }
}

/// A chat-completion response → OpenAI's, normalised (see [`normalize_message`]).
pub fn parse_response(
    body: &[u8],
    target: &Target,
    restore: &dyn Fn(&str) -> Option<String>,
) -> Result<ChatResponse, LlmError> {
    let mut value: Value =
        parse_json(body, "Mistral chat response").map_err(|e| target.annotate(e))?;
    if value.get("choices").is_none()
        && (value.get("object").and_then(Value::as_str) == Some("error")
            || value.get("message").is_some()
            || value.get("detail").is_some())
    {
        return Err(error_from_body(500, &HeaderMap::new(), body, target));
    }
    for choice in value
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(Value::Object(m)) = choice.get_mut("message") {
            normalize_message(m, restore, false);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            let mapped = finish_reason(reason).map_err(|e| target.annotate(e))?;
            let mapped = mapped.to_owned();
            choice["finish_reason"] = Value::String(mapped);
        }
    }
    serde_json::from_value(value).map_err(|e| {
        target.annotate(LlmError::new(
            ErrorKind::Api,
            format!("Could not parse the Mistral chat response: {e}"),
        ))
    })
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Map a Mistral error as LiteLLM's OpenAI mapper does (LiteLLM maps Mistral with it):
/// rate-limit wording (including Mistral's "Service tier capacity exceeded") →
/// `RateLimitError`; then 400 and 422 → `BadRequestError`, 401, 404, 408, 429, 500, 503 as
/// usual, 504 → `Timeout`, any other status → `APIError`. Context-length errors ("Prompt
/// contains … tokens … too large for model with … maximum context length") →
/// `ContextWindowExceededError`.
pub fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = error_message(
        parsed.as_ref(),
        body,
        status,
        &["message", "error", "detail"],
    );
    let lower = message.to_ascii_lowercase();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("type").or_else(|| v.get("code")))
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = if lower.contains("rate limit")
        || lower.contains("rate_limit")
        || lower.contains("service tier capacity exceeded")
    {
        ErrorKind::RateLimit
    } else if is_context_window_message(&message)
        || (lower.contains("too large for model") && lower.contains("context"))
    {
        ErrorKind::ContextWindowExceeded
    } else if is_content_policy_message(&message) {
        ErrorKind::ContentPolicyViolation
    } else if code == "invalid_request_error" && lower.contains("model_not_found") {
        ErrorKind::NotFound
    } else {
        match status {
            400 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Authentication,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimit,
            500 => ErrorKind::InternalServer,
            502 | 503 => ErrorKind::ServiceUnavailable,
            _ => ErrorKind::Api,
        }
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

/// Parses Mistral's SSE chunks: OpenAI's shape, with Magistral's chunk lists turned into
/// `content` / `reasoning_content`, tool calls (sent whole, one per delta) numbered in
/// order, replaced ids restored, and the usage Mistral puts on its last chunk moved into
/// a usage chunk of its own (as OpenAI sends it).
pub struct MistralStreamParser {
    target: Target,
    replaced_ids: ReplacedIds,
    tool_calls: u32,
}

impl MistralStreamParser {
    pub fn new(target: &Target, replaced_ids: ReplacedIds) -> Self {
        MistralStreamParser {
            target: target.clone(),
            replaced_ids,
            tool_calls: 0,
        }
    }
}

impl StreamParser for MistralStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(StreamControl::Continue);
        }
        if data == "[DONE]" {
            return Ok(StreamControl::Done);
        }
        let bad = |why: String| {
            self.target.annotate(LlmError::new(
                ErrorKind::Api,
                format!(
                    "Could not parse a Mistral stream chunk ({why}): {}",
                    data.chars().take(300).collect::<String>()
                ),
            ))
        };
        let mut value: Value = serde_json::from_str(data).map_err(|e| bad(e.to_string()))?;
        if value.get("choices").is_none()
            && (value.get("object").and_then(Value::as_str) == Some("error")
                || value.get("error").is_some()
                || value.get("message").is_some())
        {
            let status = value
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500);
            return Err(error_from_body(
                status,
                &HeaderMap::new(),
                data.as_bytes(),
                &self.target,
            ));
        }
        let replaced = self.replaced_ids.clone();
        let restore = move |id: &str| replaced.restore(id);
        for choice in value
            .get_mut("choices")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(Value::Object(delta)) = choice.get_mut("delta") {
                normalize_message(delta, &restore, true);
                if let Some(Value::Array(calls)) = delta.get_mut("tool_calls") {
                    for call in calls.iter_mut().filter_map(Value::as_object_mut) {
                        // A call with an id starts a new call; continuations keep the last index.
                        let starts = call
                            .get("id")
                            .and_then(Value::as_str)
                            .is_some_and(|s| !s.is_empty() && s != "null");
                        let index = if starts || self.tool_calls == 0 {
                            self.tool_calls += 1;
                            self.tool_calls - 1
                        } else {
                            self.tool_calls - 1
                        };
                        call.insert("index".into(), index.into());
                        if !starts {
                            call.remove("id");
                            call.remove("type");
                        }
                    }
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                let mapped = finish_reason(reason)
                    .map_err(|e| self.target.annotate(e))?
                    .to_owned();
                choice["finish_reason"] = Value::String(mapped);
            }
        }
        let mut chunk: ChatChunk = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        match chunk.usage.take() {
            Some(usage) if !chunk.choices.is_empty() => {
                let mut usage_chunk = ChatChunk::new(&chunk.id, chunk.created, &chunk.model);
                usage_chunk.usage = Some(usage);
                out.push(chunk);
                out.push(usage_chunk);
            }
            usage => {
                chunk.usage = usage;
                out.push(chunk);
            }
        }
        Ok(StreamControl::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn target(model: &str) -> Target {
        Arc::new(Mistral::new())
            .resolve_target(
                model,
                &TargetOptions {
                    api_key: Some(SecretString::from("mistral-test-key-123456")),
                    api_base: Some("http://127.0.0.1:9".into()),
                    ..Default::default()
                },
            )
            .unwrap()
    }

    fn request(messages: Value, params: Value) -> ChatRequest {
        crate::providers::test_request("mistral-small-latest", messages, params)
    }

    fn body(messages: Value, params: Value, model: &str) -> Value {
        let req = request(messages, params);
        let ids = tool_call_ids(&req.messages);
        Value::Object(build_body(&req, model, false, &ids).unwrap())
    }

    fn no_restore(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn minimal_body_matches_the_docs_example() {
        // https://docs.mistral.ai/api/#tag/chat: the request example.
        let b = body(
            json!([{"role": "user", "content": "Who is the best French painter? Answer in one short sentence."}]),
            json!({}),
            "mistral-small-latest",
        );
        assert_eq!(
            b,
            json!({"model": "mistral-small-latest", "messages": [
            {"role": "user", "content": "Who is the best French painter? Answer in one short sentence."}]})
        );
    }

    #[test]
    fn only_documented_fields_are_sent() {
        let b = body(
            json!([{"role": "developer", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
                   {"role": "user", "content": "hi", "name": "bob", "cache_control": {"type": "ephemeral"}},
                   {"role": "assistant", "content": "Hello", "reasoning_content": "thought", "thinking_blocks": [], "refusal": null, "function_call": null},
                   {"role": "assistant", "content": ""},
                   {"role": "user", "content": "again"}]),
            json!({"temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 64, "max_tokens": 10, "stop": "END",
                   "seed": 42, "presence_penalty": 0.1, "frequency_penalty": 0.2, "n": 2, "parallel_tool_calls": false,
                   "prediction": {"type": "content", "content": "x"}, "response_format": {"type": "json_object"},
                   "stream_options": {"include_usage": true}, "safe_prompt": true, "extra_body": {"prompt_mode": "reasoning"}}),
            "mistral-small-latest",
        );
        assert_eq!(
            b,
            json!({
            "model": "mistral-small-latest",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "again"}],
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 64, "stop": ["END"], "random_seed": 42,
            "response_format": {"type": "json_object"}, "presence_penalty": 0.1, "frequency_penalty": 0.2, "n": 2,
            "prediction": {"type": "content", "content": "x"}, "parallel_tool_calls": false,
            "safe_prompt": true, "prompt_mode": "reasoning"})
        );
        // Streams: "stream": true, never stream_options.
        let req = request(
            json!([{"role": "user", "content": "hi"}]),
            json!({"stream_options": {"include_usage": true}}),
        );
        let b: Value =
            serde_json::from_slice(&encode_body(&req, "m", true, &HashMap::new()).unwrap())
                .unwrap();
        assert_eq!(
            b,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true})
        );
    }

    #[test]
    fn tools_and_tool_choice() {
        // https://docs.mistral.ai/capabilities/function_calling: tools, tool_choice "any".
        let tools = json!([{"type": "function", "function": {"name": "retrieve_payment_status",
            "description": "Get payment status of a transaction",
            "parameters": {"type": "object", "properties": {"transaction_id": {"type": "string", "description": "The transaction id."}}, "required": ["transaction_id"]}}}]);
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"tools": tools, "tool_choice": "required"}),
            "mistral-large-latest",
        );
        assert_eq!(b["tools"], tools);
        assert_eq!(b["tool_choice"], json!("any"));
        for mode in ["auto", "none"] {
            let b = body(
                json!([{"role": "user", "content": "x"}]),
                json!({"tools": tools, "tool_choice": mode}),
                "m",
            );
            assert_eq!(b["tool_choice"], json!(mode));
        }
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "retrieve_payment_status"}}}),
            "m",
        );
        assert_eq!(
            b["tool_choice"],
            json!({"type": "function", "function": {"name": "retrieve_payment_status"}})
        );
        // A function without parameters still gets Mistral's required schema.
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"tools": [{"type": "function", "function": {"name": "now", "strict": true}}]}),
            "m",
        );
        assert_eq!(
            b["tools"][0]["function"],
            json!({"name": "now", "parameters": {"type": "object", "properties": {}}, "strict": true})
        );
    }

    #[test]
    fn foreign_tool_call_ids_are_rewritten_consistently() {
        let messages = json!([
            {"role": "user", "content": "What's the status of T1001 and T1002?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_Vxq8cGaYXHkGmqM4DKYLdvS1", "type": "function", "function": {"name": "retrieve_payment_status", "arguments": "{\"transaction_id\": \"T1001\"}"}},
                {"id": "D681PevKs", "type": "function", "function": {"name": "retrieve_payment_status", "arguments": "{\"transaction_id\": \"T1002\"}"}}]},
            {"role": "tool", "name": "retrieve_payment_status", "content": "{\"status\": \"Paid\"}", "tool_call_id": "call_Vxq8cGaYXHkGmqM4DKYLdvS1"},
            {"role": "tool", "name": "retrieve_payment_status", "content": "{\"status\": \"Unpaid\"}", "tool_call_id": "D681PevKs"}
        ]);
        let b = body(messages.clone(), json!({}), "mistral-large-latest");
        let new_id = b["messages"][1]["tool_calls"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(is_mistral_id(&new_id), "{new_id}");
        assert_eq!(new_id, derived_id("call_Vxq8cGaYXHkGmqM4DKYLdvS1", 0));
        assert_eq!(
            b["messages"][2],
            json!({"role": "tool", "content": "{\"status\": \"Paid\"}", "tool_call_id": new_id, "name": "retrieve_payment_status"})
        );
        // Valid Mistral ids are kept.
        assert_eq!(b["messages"][1]["tool_calls"][1]["id"], json!("D681PevKs"));
        assert_eq!(b["messages"][3]["tool_call_id"], json!("D681PevKs"));
        // The same id maps the same way in the next call, and ids are stable values.
        assert_eq!(
            body(messages, json!({}), "m")["messages"][2]["tool_call_id"],
            json!(new_id)
        );
        assert_eq!(derived_id("call_abc", 0), derived_id("call_abc", 0));
        assert_ne!(derived_id("call_abc", 0), derived_id("call_abc", 1));
        assert!(is_mistral_id(&derived_id("", 0)));
        assert!(
            !is_mistral_id("call_abc12")
                && !is_mistral_id("abcdefgh")
                && !is_mistral_id("abc-efghi")
        );
    }

    #[test]
    fn id_collisions_are_salted_away() {
        // A foreign id whose hash equals an id already in the conversation gets another one.
        let foreign = "toolu_01A09q90qw90lq917835lq9";
        let clash = derived_id(foreign, 0);
        let messages: Vec<Message> = serde_json::from_value(json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": clash, "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": foreign, "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
        ]))
        .unwrap();
        let ids = tool_call_ids(&messages);
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[foreign], derived_id(foreign, 1));
        assert_ne!(ids[foreign], clash);
    }

    #[test]
    fn multimodal_content_becomes_mistral_chunks() {
        let b = body(
            json!([{"role": "user", "content": [
            {"type": "text", "text": "What's in this image?"},
            {"type": "image_url", "image_url": {"url": "https://tripfixers.com/eiffel.jpg", "detail": "high"}},
            {"type": "file", "file": {"file_id": "f-123"}},
            {"type": "file", "file": {"file_data": "https://arxiv.org/pdf/1805.04770", "filename": "paper.pdf"}},
            {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}]}]),
            json!({}),
            "mistral-small-latest",
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([
            {"type": "text", "text": "What's in this image?"},
            {"type": "image_url", "image_url": {"url": "https://tripfixers.com/eiffel.jpg", "detail": "high"}},
            {"type": "file", "file_id": "f-123"},
            {"type": "document_url", "document_url": "https://arxiv.org/pdf/1805.04770", "document_name": "paper.pdf"},
            {"type": "input_audio", "input_audio": "UklGR"}])
        );
    }

    #[test]
    fn reasoning_effort_by_model() {
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "high"}),
            "magistral-medium-latest",
        );
        assert_eq!(b["prompt_mode"], json!("reasoning"));
        assert!(b.get("reasoning_effort").is_none());
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "none"}),
            "magistral-small-latest",
        );
        assert!(b.get("prompt_mode").is_none());
        let b = body(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "low"}),
            "mistral-medium-latest",
        );
        assert_eq!(b["reasoning_effort"], json!("low"));
        let p = Mistral::new();
        assert!(p
            .supported_params("magistral-medium-latest")
            .contains(&"reasoning_effort"));
        assert!(!p
            .supported_params("open-mistral-nemo")
            .contains(&"reasoning_effort"));
        assert!(!p.supported_params("open-mistral-nemo").contains(&"user"));
    }

    #[test]
    fn urls_and_env() {
        assert_eq!(
            endpoint_url("https://api.mistral.ai/v1", "/chat/completions"),
            "https://api.mistral.ai/v1/chat/completions"
        );
        assert_eq!(
            endpoint_url("https://api.mistral.ai", "/chat/completions"),
            "https://api.mistral.ai/v1/chat/completions"
        );
        assert_eq!(
            endpoint_url("https://x.models.ai.azure.com/", "/embeddings"),
            "https://x.models.ai.azure.com/v1/embeddings"
        );
        assert_eq!(
            endpoint_url("http://h/v1/chat/completions", "/embeddings"),
            "http://h/v1/embeddings"
        );
    }

    #[test]
    fn parses_responses_thinking_and_restores_ids() {
        let t = target("mistral-small-latest");
        // https://docs.mistral.ai/capabilities/function_calling: a tool-call response.
        let body = json!({"id": "cmpl-e5cc70bb28c444948073e77776eb30ef", "object": "chat.completion", "created": 1702256327,
            "model": "mistral-large-latest",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "", "prefix": false,
                "tool_calls": [{"id": "D681PevKs", "function": {"name": "retrieve_payment_status", "arguments": "{\"transaction_id\": \"T1001\"}"}, "index": 0},
                               {"id": "Xy12Zw34a", "function": {"name": "retrieve_payment_status", "arguments": {"transaction_id": "T1002"}}, "index": 1}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 16, "completion_tokens": 34, "total_tokens": 50}});
        let restore = |id: &str| (id == "Xy12Zw34a").then(|| "call_original".to_owned());
        let r = parse_response(body.to_string().as_bytes(), &t, &restore).unwrap();
        assert_eq!(r.id, "cmpl-e5cc70bb28c444948073e77776eb30ef");
        let m = &r.choices[0].message;
        assert_eq!(m.content, None);
        let calls = m.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "D681PevKs");
        assert_eq!(calls[0].kind, "function");
        assert_eq!(calls[1].id, "call_original");
        assert_eq!(
            calls[1].function.arguments,
            "{\"transaction_id\":\"T1002\"}"
        );
        assert!(serde_json::to_value(m).unwrap()["tool_calls"][0]
            .get("index")
            .is_none());
        assert_eq!(r.usage.as_ref().unwrap().total_tokens, 50);

        // Magistral: content as thinking and text chunks.
        let body = json!({"id": "x", "object": "chat.completion", "created": 1, "model": "magistral-medium-2509",
            "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": null, "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "Okay, 6*7"}, {"type": "text", "text": " is 42."}]},
                {"type": "text", "text": "The answer is 42."}]}, "finish_reason": "model_length"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}});
        let r = parse_response(body.to_string().as_bytes(), &t, &no_restore).unwrap();
        assert_eq!(r.text(), Some("The answer is 42."));
        assert_eq!(
            r.choices[0].message.reasoning_content.as_deref(),
            Some("Okay, 6*7 is 42.")
        );
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));

        let failed = json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "error"}]});
        assert_eq!(
            parse_response(failed.to_string().as_bytes(), &t, &no_restore)
                .unwrap_err()
                .kind,
            ErrorKind::InternalServer
        );
    }

    #[test]
    fn provider_remembers_and_restores_replaced_ids() {
        let p = Arc::new(Mistral::new());
        let t = p
            .clone()
            .resolve_target(
                "mistral-small-latest",
                &TargetOptions {
                    api_key: Some(SecretString::from("k")),
                    ..Default::default()
                },
            )
            .unwrap();
        let req = request(
            json!([
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_abc", "content": "1"}]),
            json!({}),
        );
        let http = p.build_request(&req, &t, false).unwrap();
        let sent: Value = serde_json::from_slice(&http.body).unwrap();
        let mistral_id = sent["messages"][0]["tool_calls"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(sent["messages"][1]["tool_call_id"], json!(mistral_id));
        assert_eq!(http.url, "https://api.mistral.ai/v1/chat/completions");
        let reply = json!({"id": "r", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "", "tool_calls": [{"id": mistral_id, "function": {"name": "f", "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}]});
        let r = p.parse_response(reply.to_string().as_bytes(), &t).unwrap();
        assert_eq!(
            r.choices[0].message.tool_calls.as_ref().unwrap()[0].id,
            "call_abc"
        );
    }

    #[test]
    fn errors_map_as_litellm_does() {
        let t = target("mistral-small-latest");
        let e = |status: u16, body: Value| {
            error_from_body(status, &HeaderMap::new(), body.to_string().as_bytes(), &t)
        };
        let ctx = e(
            400,
            json!({"object": "error", "message": "Prompt contains 33001 tokens and 0 draft tokens, too large for model with 32768 maximum context length", "type": "invalid_request_error", "param": null, "code": null}),
        );
        assert_eq!(
            (ctx.kind, ctx.status_code),
            (ErrorKind::ContextWindowExceeded, 400)
        );
        let forbidden = e(
            422,
            json!({"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "user"], "msg": "Extra inputs are not permitted", "input": "u"}]}, "type": "invalid_request_message_error", "param": null, "code": null}),
        );
        assert_eq!(forbidden.kind, ErrorKind::BadRequest);
        assert!(
            forbidden.message.contains("extra_forbidden"),
            "{}",
            forbidden.message
        );
        assert_eq!(
            e(401, json!({"message": "Unauthorized", "request_id": "abc"})).kind,
            ErrorKind::Authentication
        );
        assert_eq!(
            e(429, json!({"message": "Requests rate limit exceeded"})).kind,
            ErrorKind::RateLimit
        );
        assert_eq!(e(429, json!({"object": "error", "message": "Service tier capacity exceeded for this model.", "type": "service_tier_capacity_exceeded", "param": null, "code": "3505"})).kind, ErrorKind::RateLimit);
        assert_eq!(e(404, json!({"object": "error", "message": "Invalid model: mistral-nope", "type": "invalid_model", "param": null, "code": "1500"})).kind, ErrorKind::NotFound);
        assert_eq!(
            e(500, json!({"object": "error", "message": "Internal error"})).kind,
            ErrorKind::InternalServer
        );
        assert_eq!(
            e(503, json!({"message": "Service unavailable"})).kind,
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(
            e(504, json!({"message": "Gateway timeout"})).kind,
            ErrorKind::Timeout
        );
        assert_eq!(e(403, json!({"message": "Forbidden"})).kind, ErrorKind::Api);
        assert_eq!(e(400, json!({"object": "error", "message": "Tool call id was call_abc but must be a-z, A-Z, 0-9, with a length of 9.", "type": "invalid_request_message_error"})).kind, ErrorKind::BadRequest);
    }

    fn run_stream(frames: &[&str]) -> (Vec<ChatChunk>, Result<(), LlmError>) {
        let ids = ReplacedIds::default();
        ids.remember(&HashMap::from([(
            "call_original".to_owned(),
            "Xy12Zw34a".to_owned(),
        )]));
        let mut p = MistralStreamParser::new(&target("mistral-small-latest"), ids);
        let mut out = Vec::new();
        for f in frames {
            match p.on_frame(
                Frame {
                    event: None,
                    data: f,
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
    fn stream_text_tool_calls_and_usage() {
        let frames = [
            r#"{"id":"4b2c6d3e","object":"chat.completion.chunk","created":1718884327,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"id":"4b2c6d3e","object":"chat.completion.chunk","created":1718884327,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":"Checking"},"finish_reason":null}]}"#,
            r#"{"id":"4b2c6d3e","object":"chat.completion.chunk","created":1718884327,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"tool_calls":[{"id":"nEaRF5V6z","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"},"index":0}]},"finish_reason":null}]}"#,
            r#"{"id":"4b2c6d3e","object":"chat.completion.chunk","created":1718884327,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":"","tool_calls":[{"id":"Xy12Zw34a","function":{"name":"get_weather","arguments":"{\"city\": \"Lyon\"}"},"index":0}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":8,"total_tokens":14,"completion_tokens":6}}"#,
            "[DONE]",
        ];
        let (chunks, end) = run_stream(&frames);
        end.unwrap();
        assert_eq!(chunks.len(), 5);
        let call = |i: usize| chunks[i].choices[0].delta.tool_calls.as_ref().unwrap()[0].clone();
        assert_eq!(
            (call(2).index, call(2).id.as_deref()),
            (0, Some("nEaRF5V6z"))
        );
        assert_eq!(
            (call(3).index, call(3).id.as_deref()),
            (1, Some("call_original"))
        );
        assert_eq!(
            chunks[3].choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
        assert!(chunks[3].usage.is_none());
        let usage = chunks[4].usage.as_ref().unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (8, 6));
        assert!(chunks[4].choices.is_empty());
        assert_eq!(chunks[4].id, "4b2c6d3e");
    }

    #[test]
    fn stream_magistral_thinking_and_errors() {
        let frames = [
            r#"{"id":"m","object":"chat.completion.chunk","created":1,"model":"magistral-medium-2509","choices":[{"index":0,"delta":{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"Let me"}]}]},"finish_reason":null}]}"#,
            r#"{"id":"m","object":"chat.completion.chunk","created":1,"model":"magistral-medium-2509","choices":[{"index":0,"delta":{"content":[{"type":"text","text":"42"}]},"finish_reason":"stop"}]}"#,
        ];
        let (chunks, end) = run_stream(&frames);
        end.unwrap();
        assert_eq!(
            chunks[0].choices[0].delta.reasoning_content.as_deref(),
            Some("Let me")
        );
        assert_eq!(chunks[0].choices[0].delta.content, None);
        assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("42"));

        let (_, end) = run_stream(&[
            r#"{"object":"error","message":"Service tier capacity exceeded for this model.","type":"service_tier_capacity_exceeded","code":"3505"}"#,
        ]);
        assert_eq!(end.unwrap_err().kind, ErrorKind::RateLimit);
        let (_, end) = run_stream(&["{not json"]);
        assert_eq!(end.unwrap_err().kind, ErrorKind::Api);
    }

    #[test]
    fn embeddings_body() {
        let mut req = EmbeddingRequest::new("codestral-embed", vec!["a", "b"]);
        req.dimensions = Some(256);
        req.encoding_format = Some(crate::types::EncodingFormat::Base64);
        req.extra.insert("output_dtype".into(), json!("int8"));
        let b: Value =
            serde_json::from_slice(&encode_embedding_body(&req, "codestral-embed").unwrap())
                .unwrap();
        assert_eq!(
            b,
            json!({"model": "codestral-embed", "input": ["a", "b"], "output_dimension": 256,
                             "encoding_format": "base64", "output_dtype": "int8"})
        );
        let p = Mistral::new();
        assert_eq!(p.embedding_params("mistral-embed"), vec!["encoding_format"]);
        assert!(p
            .embedding_params("codestral-embed-2505")
            .contains(&"dimensions"));
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
