//! Anthropic's Messages API (`anthropic/…`, bare `claude-*`): POST `{api_base}/v1/messages`.
//!
//! The translation is split into public building blocks ([`encode_body`], [`parse_response`],
//! [`AnthropicStreamParser`], [`error_from_body`], [`check_params`]) so that other hosts of
//! Claude (Vertex AI's `rawPredict`, which takes the same body without `model` and with
//! `anthropic_version`) reuse it with their own URL and auth.
//!
//! Choices documented here and in docs/providers/anthropic.md:
//! - `max_tokens` is required by Anthropic. Without `max_tokens`/`max_completion_tokens` we
//!   send [`DEFAULT_MAX_TOKENS`] (4096, LiteLLM's default) plus the thinking budget when
//!   thinking is on, not the model's output limit: Anthropic counts output-token rate
//!   limits from `max_tokens` as the request arrives (64,000 per request would spend a
//!   tier-1 organisation's 8,000 a minute at once), and its own SDK refuses non-streaming
//!   requests whose `max_tokens` implies more than ten minutes.
//! - `reasoning_effort` maps to extended thinking with the budgets in [`THINKING_BUDGETS`];
//!   a native `thinking={...}` argument is sent as given and wins over `reasoning_effort`.
//! - With thinking on, Anthropic accepts only `temperature` 1, `top_p` in [0.95, 1], no
//!   `top_k` and no forced `tool_choice`; other values raise `UnsupportedParamsError` (or are
//!   dropped with `drop_params`).
//! - `response_format` `json_schema`/`json_object` forces a tool named [`JSON_TOOL_NAME`]
//!   whose input is returned as the message content (works on every Claude model with
//!   tools). With thinking on, where forced tool use is not allowed, `json_schema` uses the
//!   native structured outputs (`output_config.format`) instead.
//! - A tool's `strict` flag is not forwarded: Anthropic honours it only on some models.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::error::{is_content_policy_message, is_context_window_message, ErrorKind, LlmError};
use crate::http::retry_after_seconds;
use crate::providers::openai::{endpoint, json_headers, redact_value, AuthStyle};
use crate::providers::{
    parse_json, ApiEnv, HttpRequest, Provider, StreamParser, Target, TargetOptions,
};
use crate::stream::{Frame, StreamControl};
use crate::types::{
    unix_now, ChatChunk, ChatRequest, ChatResponse, Choice, CompletionTokensDetails, ContentPart,
    Delta, FunctionCall, FunctionDelta, ImageUrl, Message, MessageContent, PromptTokensDetails,
    ResponseFormat, ResponseMessage, Role, Tool, ToolCall, ToolCallDelta, ToolChoice, Usage,
};

/// Where requests go without `api_base=` or an env override.
pub const DEFAULT_API_BASE: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent unless the caller passes `api_version=` or the header.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the caller gives none (Anthropic requires the field), plus the
/// thinking budget when thinking is on; LiteLLM 1.106.2 sends the same.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The forced tool that carries `response_format` output.
pub const JSON_TOOL_NAME: &str = "json_tool_call";
/// `reasoning_effort` → `thinking.budget_tokens` (Anthropic's minimum budget is 1024).
/// `"none"` turns thinking off.
pub const THINKING_BUDGETS: &[(&str, u32)] = &[
    ("minimal", 1024),
    ("low", 1024),
    ("medium", 2048),
    ("high", 4096),
];

const API_KEY_ENV: &[&str] = &["ANTHROPIC_API_KEY"];
const API_BASE_ENV: &[&str] = &["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"];
/// Where the key and base URL come from when the call gives none.
const ENV: ApiEnv = ApiEnv {
    name: "anthropic",
    key: API_KEY_ENV,
    base: API_BASE_ENV,
    default_base: DEFAULT_API_BASE,
    key_required: true,
};

/// The OpenAI parameters Anthropic's API can express. `n` is accepted only as 1.
pub const SUPPORTED_PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "stream_options",
    "reasoning_effort",
    "stream",
];

/// The Anthropic provider's registry entry.
pub struct Anthropic;

impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
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

    fn check_params(
        &self,
        req: &mut ChatRequest,
        target: &Target,
        drop_params: bool,
    ) -> Result<Vec<&'static str>, LlmError> {
        check_params(req, drop_params)
            .map_err(|e| e.with_provider("anthropic").with_model(&target.model))
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: messages_url(&target.api_base),
            headers: headers(target)?,
            body: encode_body(
                req,
                &BodyOptions {
                    model: Some(&target.model),
                    anthropic_version: None,
                    stream,
                },
            )?,
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        parse_response(body, target)
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(AnthropicStreamParser::new(target))
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
}

/// `{api_base}/v1/messages`, accepting a base that already ends in `/v1` or `/v1/messages`.
pub fn messages_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base.ends_with("/v1") {
        endpoint(base, "/messages")
    } else {
        endpoint(base, "/v1/messages")
    }
}

/// `content-type`, `x-api-key`, `anthropic-version` (unless the caller set it) and the
/// caller's extra headers (`anthropic-beta`, ...).
pub fn headers(target: &Target) -> Result<HeaderMap, LlmError> {
    let mut headers = json_headers(target, AuthStyle::Header("x-api-key"))?;
    let version = HeaderName::from_static("anthropic-version");
    if !headers.contains_key(&version) {
        let value = target.api_version.as_deref().unwrap_or(API_VERSION);
        let value = HeaderValue::from_str(value).map_err(|_| {
            LlmError::bad_request(format!("api_version {value:?} is not a valid header value"))
        })?;
        headers.insert(version, value);
    }
    Ok(headers)
}

// ---------------------------------------------------------------------------------------
// Parameter checks
// ---------------------------------------------------------------------------------------

/// The extended-thinking config a request asks for: a native `thinking` argument, else
/// the one `reasoning_effort` maps to. `Ok(None)` when thinking is off.
pub fn thinking_config(req: &ChatRequest) -> Result<Option<Cow<'_, Value>>, LlmError> {
    if let Some(native) = req.extra.get("thinking") {
        return Ok(Some(Cow::Borrowed(native)));
    }
    let Some(effort) = req.params.reasoning_effort.as_deref() else {
        return Ok(None);
    };
    if effort == "none" {
        return Ok(None);
    }
    match THINKING_BUDGETS.iter().find(|(name, _)| *name == effort) {
        Some((_, budget)) => Ok(Some(Cow::Owned(
            json!({"type": "enabled", "budget_tokens": budget}),
        ))),
        None => Err(LlmError::bad_request(format!(
            "reasoning_effort={effort:?} is not one of none, minimal, low, medium, high"
        ))),
    }
}

/// Whether a thinking config turns thinking on (`enabled` or `adaptive`).
fn thinking_is_on(config: Option<&Value>) -> bool {
    config
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t != "disabled")
}

fn forces_tool_use(choice: &ToolChoice) -> bool {
    match choice {
        ToolChoice::Mode(m) => m == "required" || m == "any",
        ToolChoice::Named(v) => {
            choice.function_name().is_some()
                || matches!(v.get("type").and_then(Value::as_str), Some("any" | "tool"))
        }
    }
}

/// Value checks Anthropic needs beyond the supported-params list: `n` must be 1, and with
/// extended thinking on, `temperature` must be 1, `top_p` within [0.95, 1], and there must
/// be no `top_k`, forced `tool_choice` or `json_object` response format (both need a forced
/// tool). Conflicts are dropped with `drop_params`
/// (returned by name), else raise `UnsupportedParamsError`.
pub fn check_params(req: &mut ChatRequest, drop: bool) -> Result<Vec<&'static str>, LlmError> {
    let thinking_on = thinking_is_on(thinking_config(req)?.as_deref());
    let p = &req.params;
    let mut conflicts: Vec<(&'static str, String)> = Vec::new();
    if let Some(n) = p.n.filter(|n| *n > 1) {
        conflicts.push(("n", format!("n={n} (Anthropic returns one choice)")));
    }
    if thinking_on {
        if let Some(t) = p.temperature.filter(|t| *t != 1.0) {
            conflicts.push((
                "temperature",
                format!("temperature={t} with extended thinking (only 1 is allowed)"),
            ));
        }
        if let Some(t) = p.top_p.filter(|t| *t < 0.95) {
            conflicts.push((
                "top_p",
                format!("top_p={t} with extended thinking (0.95 to 1 is allowed)"),
            ));
        }
        if req.extra.contains_key("top_k") {
            conflicts.push(("top_k", "top_k with extended thinking".to_owned()));
        }
        if p.response_format
            .as_ref()
            .is_some_and(|f| f.kind == "json_object")
        {
            conflicts.push((
                "response_format",
                "response_format json_object with extended thinking (use json_schema)".to_owned(),
            ));
        }
        if p.tool_choice.as_ref().is_some_and(forces_tool_use) {
            conflicts.push((
                "tool_choice",
                "a forced tool_choice with extended thinking (only auto or none)".to_owned(),
            ));
        }
    }
    if conflicts.is_empty() {
        return Ok(Vec::new());
    }
    if drop {
        let names: Vec<&'static str> = conflicts.iter().map(|(n, _)| *n).collect();
        for name in &names {
            if !req.params.clear(name) {
                req.extra.remove(*name);
            }
        }
        return Ok(names);
    }
    let what: Vec<String> = conflicts.into_iter().map(|(_, w)| w).collect();
    Err(LlmError::new(
        ErrorKind::UnsupportedParams,
        format!(
            "anthropic does not support {}. To drop these, pass drop_params=True (per call) or set llmswitch.drop_params = True.",
            what.join("; ")
        ),
    ))
}

// ---------------------------------------------------------------------------------------
// Request body
// ---------------------------------------------------------------------------------------

/// What differs between hosts of the Messages API.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyOptions<'a> {
    /// The `model` field (`None` on Vertex AI, where the model is in the URL).
    pub model: Option<&'a str>,
    /// An `anthropic_version` body field (Vertex AI: `vertex-2023-10-16`).
    pub anthropic_version: Option<&'a str>,
    pub stream: bool,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    anthropic_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<TextOrBlocks<'a>>,
    messages: Vec<Turn<'a>>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<ToolDef<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Cow<'a, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: TextOrBlocks<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum TextOrBlocks<'a> {
    Text(&'a str),
    Blocks(Vec<Block<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Image {
        source: Source<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Document {
        source: Source<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Box<RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: TextOrBlocks<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    /// A block already in Anthropic's format (thinking blocks sent back, native parts).
    #[serde(untagged)]
    Native(Cow<'a, Value>),
}

impl<'a> Block<'a> {
    fn set_cache_control(&mut self, value: &'a Value) {
        match self {
            Block::Text { cache_control, .. }
            | Block::Image { cache_control, .. }
            | Block::Document { cache_control, .. }
            | Block::ToolUse { cache_control, .. }
            | Block::ToolResult { cache_control, .. } => *cache_control = Some(value),
            Block::Native(v) => {
                if let Value::Object(o) = v.to_mut() {
                    o.insert("cache_control".to_owned(), value.clone());
                }
            }
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
    File { file_id: &'a str },
}

#[derive(Serialize)]
struct ToolDef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Cow<'a, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
}

/// Serialize `req` as a Messages API body.
pub fn encode_body(req: &ChatRequest, opts: &BodyOptions<'_>) -> Result<Bytes, LlmError> {
    let body = build_body(req, opts)?;
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

fn build_body<'a>(req: &'a ChatRequest, opts: &BodyOptions<'a>) -> Result<Body<'a>, LlmError> {
    let (system, messages) = convert_messages(&req.messages)?;
    let p = &req.params;
    let thinking = thinking_config(req)?;
    let thinking_on = thinking_is_on(thinking.as_deref());
    let budget = thinking
        .as_deref()
        .filter(|_| thinking_on)
        .and_then(|t| t.get("budget_tokens"))
        .and_then(Value::as_u64)
        .map(|b| u32::try_from(b).unwrap_or(u32::MAX));
    // Thinking tokens count against max_tokens, which must exceed the budget.
    let max_tokens = req
        .max_output_tokens()
        .unwrap_or(budget.map_or(DEFAULT_MAX_TOKENS, |b| b.saturating_add(DEFAULT_MAX_TOKENS)));

    let mut tools: Vec<ToolDef<'a>> = Vec::new();
    for tool in p.tools.iter().flatten() {
        tools.push(tool_def(tool)?);
    }
    let mut tool_choice = match &p.tool_choice {
        Some(c) => Some(tool_choice_value(c)?),
        None => None,
    };
    let mut output_config = None;
    if let Some(format) = &p.response_format {
        match response_format_plan(format, thinking_on)? {
            FormatPlan::None => {}
            FormatPlan::ForcedTool(schema) => {
                tools.push(ToolDef {
                    name: JSON_TOOL_NAME,
                    description: format
                        .json_schema
                        .as_ref()
                        .and_then(|s| s.description.as_deref()),
                    input_schema: schema,
                    cache_control: None,
                });
                tool_choice = Some(json!({"type": "tool", "name": JSON_TOOL_NAME}));
            }
            FormatPlan::Native(schema) => {
                output_config = Some(json!({"format": {"type": "json_schema", "schema": schema}}));
            }
        }
    }
    if p.parallel_tool_calls == Some(false) && !tools.is_empty() {
        let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice.get("type").and_then(Value::as_str) != Some("none") {
            choice["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }

    let mut body = Body {
        anthropic_version: opts.anthropic_version,
        model: opts.model,
        system,
        messages,
        max_tokens,
        temperature: p.temperature,
        top_p: p.top_p,
        stop_sequences: p.stop.as_ref().map(|s| s.0.as_slice()),
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        metadata: p.user.as_ref().map(|u| json!({ "user_id": u })),
        thinking,
        output_config,
        stream: opts.stream,
        extra: Map::new(),
    };
    for (key, value) in &req.extra {
        match key.as_str() {
            // Already in `body.thinking` (see `thinking_config`).
            "thinking" => {}
            // Objects we may also fill are merged, the caller's keys winning.
            "metadata" => merge_object(&mut body.metadata, value),
            "output_config" => merge_object(&mut body.output_config, value),
            // A native field replaces what we derived from the OpenAI one.
            "system" => {
                body.system = None;
                body.extra.insert(key.clone(), value.clone());
            }
            "stop_sequences" => {
                body.stop_sequences = None;
                body.extra.insert(key.clone(), value.clone());
            }
            _ => {
                body.extra.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(body)
}

fn merge_object(slot: &mut Option<Value>, value: &Value) {
    match (slot.as_mut(), value) {
        (Some(Value::Object(ours)), Value::Object(theirs)) => {
            for (k, v) in theirs {
                ours.insert(k.clone(), v.clone());
            }
        }
        _ => *slot = Some(value.clone()),
    }
}

enum FormatPlan<'a> {
    None,
    ForcedTool(Cow<'a, Value>),
    Native(Value),
}

fn response_format_plan(
    format: &ResponseFormat,
    thinking_on: bool,
) -> Result<FormatPlan<'_>, LlmError> {
    match format.kind.as_str() {
        "text" => Ok(FormatPlan::None),
        "json_object" => {
            if thinking_on {
                return Err(LlmError::bad_request(
                    "response_format json_object cannot be combined with extended thinking on Anthropic: pass a json_schema response_format (sent as structured outputs) instead",
                ));
            }
            Ok(FormatPlan::ForcedTool(Cow::Owned(
                json!({"type": "object"}),
            )))
        }
        "json_schema" => {
            let schema = format
                .json_schema
                .as_ref()
                .and_then(|s| s.schema.as_ref())
                .ok_or_else(|| {
                    LlmError::bad_request("response_format json_schema needs json_schema.schema")
                })?;
            if thinking_on {
                Ok(FormatPlan::Native(schema.clone()))
            } else {
                Ok(FormatPlan::ForcedTool(Cow::Borrowed(schema)))
            }
        }
        other => Err(LlmError::bad_request(format!(
            "response_format type {other:?} is not one of text, json_object, json_schema"
        ))),
    }
}

fn tool_def(tool: &Tool) -> Result<ToolDef<'_>, LlmError> {
    if tool.kind != "function" {
        return Err(LlmError::bad_request(format!(
            "tools: type {:?} is not supported for Anthropic (only \"function\")",
            tool.kind
        )));
    }
    let f = &tool.function;
    if f.name == JSON_TOOL_NAME {
        return Err(LlmError::bad_request(format!(
            "tools: the name {JSON_TOOL_NAME:?} is reserved for response_format on Anthropic"
        )));
    }
    Ok(ToolDef {
        name: &f.name,
        description: f.description.as_deref(),
        input_schema: match &f.parameters {
            Some(schema) => Cow::Borrowed(schema),
            None => Cow::Owned(json!({"type": "object", "properties": {}})),
        },
        cache_control: tool.extra.get("cache_control"),
    })
}

fn tool_choice_value(choice: &ToolChoice) -> Result<Value, LlmError> {
    match choice {
        ToolChoice::Mode(mode) => match mode.as_str() {
            "auto" => Ok(json!({"type": "auto"})),
            "none" => Ok(json!({"type": "none"})),
            "required" | "any" => Ok(json!({"type": "any"})),
            other => Err(LlmError::bad_request(format!(
                "tool_choice {other:?} is not one of auto, none, required, or a function"
            ))),
        },
        ToolChoice::Named(v) => {
            if let Some(name) = choice.function_name() {
                return Ok(json!({"type": "tool", "name": name}));
            }
            // Already in Anthropic's form.
            match v.get("type").and_then(Value::as_str) {
                Some("auto" | "any" | "none") => Ok(v.clone()),
                Some("tool") if v.get("name").is_some_and(Value::is_string) => Ok(v.clone()),
                _ => Err(LlmError::bad_request(format!(
                    "tool_choice {v} is not {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
                ))),
            }
        }
    }
}

/// A turn being built; consecutive messages of the same role are merged into one.
struct PendingTurn<'a> {
    role: &'static str,
    /// A lone plain-string message is sent as a string, as Anthropic's examples do.
    text: Option<&'a str>,
    blocks: Vec<Block<'a>>,
}

impl<'a> PendingTurn<'a> {
    fn into_turn(self) -> Turn<'a> {
        Turn {
            role: self.role,
            content: match self.text {
                Some(t) => TextOrBlocks::Text(t),
                None => TextOrBlocks::Blocks(self.blocks),
            },
        }
    }

    fn text_to_blocks(&mut self) {
        if let Some(t) = self.text.take() {
            if !t.is_empty() {
                self.blocks.push(Block::Text {
                    text: t,
                    cache_control: None,
                });
            }
        }
    }
}

fn push_turn<'a>(
    turns: &mut Vec<PendingTurn<'a>>,
    role: &'static str,
    text: Option<&'a str>,
    blocks: Vec<Block<'a>>,
) {
    match turns.last_mut() {
        Some(last) if last.role == role => {
            last.text_to_blocks();
            match text {
                Some(t) if !t.is_empty() => last.blocks.push(Block::Text {
                    text: t,
                    cache_control: None,
                }),
                _ => {}
            }
            last.blocks.extend(blocks);
        }
        _ => turns.push(PendingTurn { role, text, blocks }),
    }
}

/// OpenAI messages → Anthropic's top-level `system` and alternating turns.
fn convert_messages(
    messages: &[Message],
) -> Result<(Option<TextOrBlocks<'_>>, Vec<Turn<'_>>), LlmError> {
    let mut system: Vec<Block<'_>> = Vec::new();
    let mut system_count = 0usize;
    let mut system_text: Option<&str> = None;
    let mut turns: Vec<PendingTurn<'_>> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = |what: &str| {
            LlmError::bad_request(format!("messages[{i}] ({}): {what}", m.role.as_str()))
        };
        let message_cache = m.extra.get("cache_control");
        match m.role {
            Role::System | Role::Developer => {
                system_count += 1;
                match &m.content {
                    Some(MessageContent::Text(t)) => {
                        if message_cache.is_none() {
                            system_text = Some(t);
                        }
                        if !t.is_empty() {
                            system.push(Block::Text {
                                text: t,
                                cache_control: message_cache,
                            });
                        }
                    }
                    Some(MessageContent::Parts(parts)) => {
                        for part in parts {
                            match (part.kind.as_str(), &part.text) {
                                ("text", Some(t)) => system.push(Block::Text {
                                    text: t,
                                    cache_control: part.extra.get("cache_control"),
                                }),
                                _ => {
                                    return Err(at(&format!(
                                        "Anthropic system prompts take only text parts, not {:?}",
                                        part.kind
                                    )))
                                }
                            }
                        }
                        if let (Some(cc), Some(last)) = (message_cache, system.last_mut()) {
                            last.set_cache_control(cc);
                        }
                    }
                    None => {}
                }
            }
            Role::User => {
                let (text, mut blocks) = match &m.content {
                    Some(MessageContent::Text(t)) if message_cache.is_none() => (Some(t.as_str()), Vec::new()),
                    Some(MessageContent::Text(t)) => (
                        None,
                        vec![Block::Text {
                            text: t,
                            cache_control: None,
                        }],
                    ),
                    Some(MessageContent::Parts(parts)) => (None, parts_to_blocks(parts, &at)?),
                    None => (None, Vec::new()),
                };
                if let (Some(cc), Some(last)) = (message_cache, blocks.last_mut()) {
                    last.set_cache_control(cc);
                }
                push_turn(&mut turns, "user", text, blocks);
            }
            Role::Tool => {
                let tool_use_id = m.tool_call_id.as_deref().unwrap_or_default();
                let content = match &m.content {
                    Some(MessageContent::Text(t)) => TextOrBlocks::Text(t),
                    Some(MessageContent::Parts(parts)) => {
                        TextOrBlocks::Blocks(parts_to_blocks(parts, &at)?)
                    }
                    None => TextOrBlocks::Text(""),
                };
                let block = Block::ToolResult {
                    tool_use_id,
                    content,
                    cache_control: message_cache,
                };
                push_turn(&mut turns, "user", None, vec![block]);
            }
            Role::Assistant => {
                let mut blocks: Vec<Block<'_>> = Vec::new();
                // Thinking blocks must come first, exactly as received (with signatures).
                if let Some(Value::Array(thinking)) = m.extra.get("thinking_blocks") {
                    for b in thinking {
                        if matches!(
                            b.get("type").and_then(Value::as_str),
                            Some("thinking" | "redacted_thinking")
                        ) {
                            blocks.push(Block::Native(Cow::Borrowed(b)));
                        }
                    }
                }
                let mut text = None;
                match &m.content {
                    Some(MessageContent::Text(t)) => {
                        if blocks.is_empty()
                            && m.tool_calls.as_ref().is_none_or(Vec::is_empty)
                            && message_cache.is_none()
                        {
                            text = Some(t.as_str());
                        } else if !t.is_empty() {
                            blocks.push(Block::Text {
                                text: t,
                                cache_control: None,
                            });
                        }
                    }
                    Some(MessageContent::Parts(parts)) => {
                        blocks.extend(parts_to_blocks(parts, &at)?);
                    }
                    None => {}
                }
                for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                    blocks.push(Block::ToolUse {
                        id: &call.id,
                        name: &call.function.name,
                        input: tool_input(&call.function.arguments).map_err(|why| {
                            at(&format!("tool_calls[{j}].function.arguments {why}"))
                        })?,
                        cache_control: None,
                    });
                }
                if let (Some(cc), Some(last)) = (message_cache, blocks.last_mut()) {
                    last.set_cache_control(cc);
                }
                push_turn(&mut turns, "assistant", text, blocks);
            }
            Role::Function => {
                return Err(at(
                    "legacy function messages are not supported for Anthropic; use tools and tool messages",
                ))
            }
        }
    }
    if turns.is_empty() {
        return Err(LlmError::bad_request(
            "messages has only system messages: Anthropic needs at least one user message",
        ));
    }
    let system = if system_count == 1 && system_text.is_some() {
        system_text
            .filter(|t| !t.is_empty())
            .map(TextOrBlocks::Text)
    } else if system.is_empty() {
        None
    } else {
        Some(TextOrBlocks::Blocks(system))
    };
    Ok((
        system,
        turns.into_iter().map(PendingTurn::into_turn).collect(),
    ))
}

/// A tool call's JSON arguments as the `input` object of a `tool_use` block.
fn tool_input(arguments: &str) -> Result<Box<RawValue>, String> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return RawValue::from_string("{}".to_owned()).map_err(|e| e.to_string());
    }
    let raw: Box<RawValue> = serde_json::from_str(trimmed)
        .map_err(|e| format!("is not valid JSON ({e}): {trimmed:.100}"))?;
    if !raw.get().starts_with('{') {
        return Err(format!("must be a JSON object, got {trimmed:.100}"));
    }
    Ok(raw)
}

fn parts_to_blocks<'a>(
    parts: &'a [ContentPart],
    at: &dyn Fn(&str) -> LlmError,
) -> Result<Vec<Block<'a>>, LlmError> {
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let cache_control = part.extra.get("cache_control");
        match part.kind.as_str() {
            "text" => {
                let text = part.text.as_deref().unwrap_or_default();
                if !text.is_empty() {
                    blocks.push(Block::Text {
                        text,
                        cache_control,
                    });
                }
            }
            "image_url" => {
                let image = part
                    .image_url
                    .as_ref()
                    .ok_or_else(|| at(&format!("content[{j}] has no image_url")))?;
                blocks.push(Block::Image {
                    source: image_source(image, &|w: &str| at(&format!("content[{j}]: {w}")))?,
                    cache_control,
                });
            }
            "file" => blocks.push(file_block(part, cache_control, &|w: &str| {
                at(&format!("content[{j}]: {w}"))
            })?),
            "refusal" => {
                if let Some(text) = part.extra.get("refusal").and_then(Value::as_str) {
                    blocks.push(Block::Text {
                        text,
                        cache_control,
                    });
                }
            }
            "input_audio" => {
                return Err(at(&format!(
                    "content[{j}]: Anthropic does not accept audio input"
                )))
            }
            // Parts already in Anthropic's format (document, thinking, redacted_thinking).
            _ => {
                let value = serde_json::to_value(part).map_err(|e| at(&e.to_string()))?;
                blocks.push(Block::Native(Cow::Owned(value)));
            }
        }
    }
    Ok(blocks)
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

fn image_source<'a>(
    image: &'a ImageUrl,
    at: &dyn Fn(&str) -> LlmError,
) -> Result<Source<'a>, LlmError> {
    let url = image.url.as_str();
    if url.starts_with("data:") {
        let (media_type, data) = parse_data_url(url)
            .ok_or_else(|| at("an image data URL must look like data:image/png;base64,<data>"))?;
        return Ok(Source::Base64 { media_type, data });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Source::Url { url });
    }
    Err(at(&format!(
        "image URL {:.60} is neither a data: URL nor http(s)",
        url
    )))
}

fn file_block<'a>(
    part: &'a ContentPart,
    cache_control: Option<&'a Value>,
    at: &dyn Fn(&str) -> LlmError,
) -> Result<Block<'a>, LlmError> {
    let file = part
        .extra
        .get("file")
        .ok_or_else(|| at("a file part needs \"file\""))?;
    if let Some(file_id) = file.get("file_id").and_then(Value::as_str) {
        return Ok(Block::Document {
            source: Source::File { file_id },
            cache_control,
        });
    }
    let data = file
        .get("file_data")
        .and_then(Value::as_str)
        .ok_or_else(|| at("a file part needs file.file_data or file.file_id"))?;
    let (media_type, data) = parse_data_url(data)
        .ok_or_else(|| at("file.file_data must look like data:application/pdf;base64,<data>"))?;
    let source = Source::Base64 { media_type, data };
    if media_type.starts_with("image/") {
        Ok(Block::Image {
            source,
            cache_control,
        })
    } else if media_type == "application/pdf" {
        Ok(Block::Document {
            source,
            cache_control,
        })
    } else {
        Err(at(&format!(
            "file type {media_type:?} is not supported by Anthropic (PDF or images)"
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// Anthropic's `usage` (message, or the cumulative counts of `message_delta`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens_details: Option<OutputTokensDetails>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutputTokensDetails {
    #[serde(default)]
    pub thinking_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Take the counts `newer` has (message_delta counts are cumulative).
    pub fn update(&mut self, newer: AnthropicUsage) {
        if newer.input_tokens.is_some() {
            self.input_tokens = newer.input_tokens;
        }
        if newer.output_tokens.is_some() {
            self.output_tokens = newer.output_tokens;
        }
        if newer.cache_creation_input_tokens.is_some() {
            self.cache_creation_input_tokens = newer.cache_creation_input_tokens;
        }
        if newer.cache_read_input_tokens.is_some() {
            self.cache_read_input_tokens = newer.cache_read_input_tokens;
        }
        if newer.output_tokens_details.is_some() {
            self.output_tokens_details = newer.output_tokens_details;
        }
    }

    /// OpenAI usage: `prompt_tokens` counts cache reads and writes too (Anthropic's
    /// `input_tokens` does not); `cached_tokens` is the cache reads.
    pub fn to_openai(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let created = self.cache_creation_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + read + created;
        let mut usage = Usage::new(prompt, self.output_tokens.unwrap_or(0));
        usage.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(read),
            ..Default::default()
        });
        usage.cache_read_input_tokens = Some(read);
        usage.cache_creation_input_tokens = Some(created);
        if let Some(thinking) = self
            .output_tokens_details
            .as_ref()
            .and_then(|d| d.thinking_tokens)
        {
            usage.completion_tokens_details = Some(CompletionTokensDetails {
                reasoning_tokens: Some(thinking),
                ..Default::default()
            });
        }
        usage
    }
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything new.
        _ => "stop",
    }
}

#[derive(Deserialize)]
struct MessageBody {
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: AnthropicUsage,
}

/// Parse a Messages API response into a `chat.completion`.
pub fn parse_response(body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
    let message: MessageBody = match parse_json(body, "Anthropic message") {
        Ok(m) => m,
        Err(parse_err) => {
            return match serde_json::from_slice::<Value>(body) {
                Ok(v) if v.get("type").and_then(Value::as_str) == Some("error") => {
                    Err(error_from_body(500, &HeaderMap::new(), body, target))
                }
                _ => Err(target.annotate(parse_err)),
            }
        }
    };
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut thinking_blocks: Vec<Value> = Vec::new();
    let mut tool_calls: Vec<ToolCall> = Vec::new();
    let mut json_output = false;
    for block in message.content {
        let s = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
        match s("type") {
            "text" => text.get_or_insert_with(String::new).push_str(s("text")),
            "thinking" => {
                reasoning
                    .get_or_insert_with(String::new)
                    .push_str(s("thinking"));
                thinking_blocks.push(block);
            }
            "redacted_thinking" => thinking_blocks.push(block),
            "tool_use" => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                let arguments = serde_json::to_string(&input).unwrap_or_else(|_| "{}".into());
                if s("name") == JSON_TOOL_NAME {
                    json_output = true;
                    text.get_or_insert_with(String::new).push_str(&arguments);
                } else {
                    tool_calls.push(ToolCall {
                        id: s("id").to_owned(),
                        kind: "function".to_owned(),
                        function: FunctionCall {
                            name: s("name").to_owned(),
                            arguments,
                        },
                    });
                }
            }
            // Server tool blocks, citations-only blocks and future types.
            _ => {}
        }
    }
    let finish = message.stop_reason.as_deref().map(|r| {
        if r == "tool_use" && json_output && tool_calls.is_empty() {
            "stop"
        } else {
            finish_reason(r)
        }
    });
    let mut response = ChatResponse::new(message.model);
    response.id = message.id;
    response.choices.push(Choice {
        index: 0,
        message: ResponseMessage {
            content: text,
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            reasoning_content: reasoning,
            thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
            ..Default::default()
        },
        finish_reason: finish.map(str::to_owned),
        logprobs: None,
        extra: Map::new(),
    });
    let mut usage = message.usage.to_openai();
    if let Some(thinking) = &response.choices[0].message.reasoning_content {
        let counted = crate::tokens::count_text_tokens("anthropic", &target.model, thinking);
        set_reasoning_tokens(&mut usage, counted);
    }
    response.usage = Some(usage);
    Ok(response)
}

/// `completion_tokens_details.reasoning_tokens` from the thinking text's counted tokens
/// (at most the completion tokens), as LiteLLM does: Anthropic bills thinking as output
/// but does not report it separately. A count the API did report is kept.
fn set_reasoning_tokens(usage: &mut Usage, counted: u64) {
    if counted == 0 || usage.reasoning_tokens() > 0 {
        return;
    }
    let details = usage
        .completion_tokens_details
        .get_or_insert_with(Default::default);
    details.reasoning_tokens = Some(counted.min(usage.completion_tokens));
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// The error kind and the status Anthropic uses for an `error.type`.
fn kind_of(error_type: &str) -> Option<(ErrorKind, u16)> {
    Some(match error_type {
        "invalid_request_error" => (ErrorKind::BadRequest, 400),
        "authentication_error" => (ErrorKind::Authentication, 401),
        "billing_error" => (ErrorKind::BadRequest, 402),
        "permission_error" => (ErrorKind::PermissionDenied, 403),
        "not_found_error" => (ErrorKind::NotFound, 404),
        "request_too_large" => (ErrorKind::BadRequest, 413),
        "rate_limit_error" => (ErrorKind::RateLimit, 429),
        "api_error" => (ErrorKind::InternalServer, 500),
        "timeout_error" => (ErrorKind::Timeout, 504),
        "overloaded_error" => (ErrorKind::ServiceUnavailable, 529),
        _ => return None,
    })
}

/// Map an Anthropic error (`{"type": "error", "error": {"type", "message"}}`) to the
/// right kind: the error type decides, the status is the fallback. `status` is `None` for
/// an `error` event inside a stream (the type's usual status is reported).
fn map_error(status: Option<u16>, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let error_type = error
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            if text.trim().is_empty() {
                format!("HTTP {} with an empty body", status.unwrap_or(500))
            } else {
                text.chars().take(1000).collect()
            }
        });
    let (mut kind, type_status) = match kind_of(error_type) {
        Some(k) => k,
        None => {
            let s = status.unwrap_or(500);
            (ErrorKind::from_status(s), s)
        }
    };
    if kind == ErrorKind::BadRequest {
        kind = if is_context_window_message(&message) {
            ErrorKind::ContextWindowExceeded
        } else if is_content_policy_message(&message) {
            ErrorKind::ContentPolicyViolation
        } else {
            ErrorKind::BadRequest
        };
    }
    let body_value =
        parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
    target.annotate(
        LlmError::new(kind, message)
            .with_status(status.unwrap_or(type_status))
            .with_body(redact_value(body_value, &target.secrets()))
            .with_retry_after(retry_after_seconds(headers)),
    )
}

/// Map an Anthropic error response.
pub fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    map_error(Some(status), headers, body, target)
}

/// Map an `error` event received inside a stream (the HTTP status was 200).
pub fn error_from_event(data: &str, target: &Target) -> LlmError {
    map_error(None, &HeaderMap::new(), data.as_bytes(), target)
}

// ---------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum BlockState {
    Text,
    /// A tool call, with its OpenAI index (its position among the tool calls).
    Tool(u32),
    /// The forced `response_format` tool: its input streams as content.
    JsonTool,
    Thinking {
        thinking: String,
        signature: String,
    },
    Other,
}

#[derive(Deserialize)]
struct StreamEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    delta: Option<Value>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

/// Turns Anthropic's SSE events into OpenAI chunks: a role chunk on `message_start`, text
/// and reasoning deltas, tool calls (a first delta with id, name and index, then argument
/// deltas with the same index), the whole thinking block with its signature when it ends,
/// a finish chunk on `message_delta`, and a usage-only chunk on `message_stop`.
pub struct AnthropicStreamParser {
    target: Target,
    id: String,
    model: String,
    created: i64,
    blocks: Vec<BlockState>,
    tool_calls: u32,
    json_output: bool,
    usage: AnthropicUsage,
    /// Tokens of the thinking blocks seen so far (counted: Anthropic reports none).
    thinking_tokens: u64,
    stopped: bool,
}

impl AnthropicStreamParser {
    pub fn new(target: &Target) -> Self {
        AnthropicStreamParser {
            target: target.clone(),
            id: String::new(),
            model: target.model.clone(),
            created: unix_now(),
            blocks: Vec::new(),
            tool_calls: 0,
            json_output: false,
            usage: AnthropicUsage::default(),
            thinking_tokens: 0,
            stopped: false,
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk::new(&self.id, self.created, &self.model).with_delta(0, delta, finish_reason)
    }

    fn tool_delta(
        &self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        args: String,
    ) -> ChatChunk {
        let first = id.is_some();
        self.chunk(
            Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index,
                    id,
                    kind: first.then(|| "function".to_owned()),
                    function: Some(FunctionDelta {
                        name,
                        arguments: Some(args),
                    }),
                }]),
                ..Default::default()
            },
            None,
        )
    }

    fn block_start(&mut self, index: usize, block: &Value, out: &mut Vec<ChatChunk>) {
        let s = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
        let state = match s("type") {
            "text" => {
                if !s("text").is_empty() {
                    out.push(self.chunk(Delta::text(s("text")), None));
                }
                BlockState::Text
            }
            "tool_use" if s("name") == JSON_TOOL_NAME => {
                self.json_output = true;
                BlockState::JsonTool
            }
            "tool_use" => {
                let tool_index = self.tool_calls;
                self.tool_calls += 1;
                let initial = match block.get("input") {
                    Some(Value::Object(o)) if !o.is_empty() => block["input"].to_string(),
                    _ => String::new(),
                };
                out.push(self.tool_delta(
                    tool_index,
                    Some(s("id").to_owned()),
                    Some(s("name").to_owned()),
                    initial,
                ));
                BlockState::Tool(tool_index)
            }
            "thinking" => {
                if !s("thinking").is_empty() {
                    out.push(self.chunk(
                        Delta {
                            reasoning_content: Some(s("thinking").to_owned()),
                            ..Default::default()
                        },
                        None,
                    ));
                }
                BlockState::Thinking {
                    thinking: s("thinking").to_owned(),
                    signature: s("signature").to_owned(),
                }
            }
            "redacted_thinking" => {
                out.push(self.chunk(
                    Delta {
                        thinking_blocks: Some(vec![block.clone()]),
                        ..Default::default()
                    },
                    None,
                ));
                BlockState::Other
            }
            _ => BlockState::Other,
        };
        if self.blocks.len() <= index {
            self.blocks.resize_with(index + 1, || BlockState::Other);
        }
        self.blocks[index] = state;
    }

    fn block_delta(&mut self, index: usize, delta: &Value, out: &mut Vec<ChatChunk>) {
        let s = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or_default();
        let Some(state) = self.blocks.get_mut(index) else {
            return;
        };
        let kind = s("type");
        // Keep the thinking text and signature for the block emitted at content_block_stop.
        if let BlockState::Thinking {
            thinking,
            signature,
        } = state
        {
            match kind {
                "thinking_delta" => thinking.push_str(s("thinking")),
                "signature_delta" => signature.push_str(s("signature")),
                _ => {}
            }
        }
        let tool_index = match state {
            BlockState::Tool(i) => Some(*i),
            _ => None,
        };
        let is_json_tool = matches!(state, BlockState::JsonTool);
        match kind {
            "text_delta" if !s("text").is_empty() => {
                out.push(self.chunk(Delta::text(s("text")), None));
            }
            "input_json_delta" if !s("partial_json").is_empty() => {
                let partial = s("partial_json").to_owned();
                if let Some(i) = tool_index {
                    out.push(self.tool_delta(i, None, None, partial));
                } else if is_json_tool {
                    out.push(self.chunk(Delta::text(partial), None));
                }
            }
            "thinking_delta" => out.push(self.chunk(
                Delta {
                    reasoning_content: Some(s("thinking").to_owned()),
                    ..Default::default()
                },
                None,
            )),
            // signature_delta (kept above), citations_delta and future delta types.
            _ => {}
        }
    }

    fn block_stop(&mut self, index: usize, out: &mut Vec<ChatChunk>) {
        let Some(state) = self.blocks.get_mut(index) else {
            return;
        };
        if let BlockState::Thinking {
            thinking,
            signature,
        } = std::mem::replace(state, BlockState::Other)
        {
            self.thinking_tokens +=
                crate::tokens::count_text_tokens("anthropic", &self.target.model, &thinking);
            let block = json!({"type": "thinking", "thinking": thinking, "signature": signature});
            out.push(self.chunk(
                Delta {
                    thinking_blocks: Some(vec![block]),
                    ..Default::default()
                },
                None,
            ));
        }
    }

    fn bad_event(&self, why: &str, data: &str) -> LlmError {
        self.target.annotate(LlmError::new(
            ErrorKind::Api,
            format!(
                "Could not parse an Anthropic stream event: {why}. Event: {}",
                data.chars().take(300).collect::<String>()
            ),
        ))
    }
}

impl StreamParser for AnthropicStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(StreamControl::Continue);
        }
        let event: StreamEvent =
            serde_json::from_str(data).map_err(|e| self.bad_event(&e.to_string(), data))?;
        match event.kind.as_str() {
            "message_start" => {
                let message = event
                    .message
                    .ok_or_else(|| self.bad_event("message_start without message", data))?;
                self.id = message.id;
                if !message.model.is_empty() {
                    self.model = message.model;
                }
                if let Some(u) = message.usage {
                    self.usage.update(u);
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
            "content_block_start" => {
                if let (Some(index), Some(block)) = (event.index, &event.content_block) {
                    self.block_start(index, block, out);
                }
            }
            "content_block_delta" => {
                if let (Some(index), Some(delta)) = (event.index, &event.delta) {
                    self.block_delta(index, delta, out);
                }
            }
            "content_block_stop" => {
                if let Some(index) = event.index {
                    self.block_stop(index, out);
                }
            }
            "message_delta" => {
                if let Some(u) = event.usage {
                    self.usage.update(u);
                }
                let stop_reason = event
                    .delta
                    .as_ref()
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str);
                if let Some(reason) = stop_reason {
                    let finish = if reason == "tool_use" && self.json_output && self.tool_calls == 0
                    {
                        "stop"
                    } else {
                        finish_reason(reason)
                    };
                    out.push(self.chunk(Delta::default(), Some(finish.to_owned())));
                }
            }
            "message_stop" => {
                let mut usage_chunk = ChatChunk::new(&self.id, self.created, &self.model);
                let mut usage = self.usage.to_openai();
                set_reasoning_tokens(&mut usage, self.thinking_tokens);
                usage_chunk.usage = Some(Box::new(usage));
                out.push(usage_chunk);
                self.stopped = true;
                return Ok(StreamControl::Done);
            }
            "error" => return Err(error_from_event(data, &self.target)),
            // ping, and event types added later.
            _ => {}
        }
        Ok(StreamControl::Continue)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        if self.stopped {
            return Ok(());
        }
        Err(self.target.annotate(LlmError::new(
            ErrorKind::ApiConnection,
            "The Anthropic stream ended before message_stop",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn target() -> Target {
        Arc::new(Anthropic)
            .resolve_target(
                "claude-sonnet-4-20250514",
                &TargetOptions {
                    api_key: Some(SecretString::from("sk-ant-test-123456".to_owned())),
                    api_base: Some("http://127.0.0.1:1".to_owned()),
                    ..Default::default()
                },
            )
            .unwrap()
    }

    fn request(messages: Value, params: Value) -> ChatRequest {
        crate::providers::test_request("claude-sonnet-4-20250514", messages, params)
    }

    fn body(req: &ChatRequest) -> Value {
        let bytes = encode_body(
            req,
            &BodyOptions {
                model: Some("claude-sonnet-4-20250514"),
                anthropic_version: None,
                stream: false,
            },
        )
        .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn minimal_body_matches_the_docs_example() {
        let req = request(
            json!([{"role": "user", "content": "Hello, world"}]),
            json!({}),
        );
        assert_eq!(
            body(&req),
            json!({"model": "claude-sonnet-4-20250514", "max_tokens": 4096,
                   "messages": [{"role": "user", "content": "Hello, world"}]})
        );
    }

    #[test]
    fn system_hoisted_and_same_roles_merged() {
        let req = request(
            json!([
                {"role": "system", "content": "one"},
                {"role": "user", "content": "a"},
                {"role": "developer", "content": [{"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "c"},
                {"role": "assistant", "content": "d"},
            ]),
            json!({}),
        );
        let b = body(&req);
        assert_eq!(
            b["system"],
            json!([{"type": "text", "text": "one"},
                   {"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}}])
        );
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
            ])
        );
    }

    #[test]
    fn only_system_messages_is_an_error() {
        let req = request(json!([{"role": "system", "content": "x"}]), json!({}));
        let e = encode_body(&req, &BodyOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
    }

    #[test]
    fn tool_calls_and_results() {
        let req = request(
            json!([
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "get", "arguments": "{\"city\": \"Paris\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "get", "arguments": ""}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "rain"}]},
                {"role": "user", "content": "thanks"},
            ]),
            json!({}),
        );
        let b = body(&req);
        assert_eq!(
            b["messages"][1],
            json!({"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get", "input": {}}]})
        );
        assert_eq!(
            b["messages"][2],
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "rain"}]},
                {"type": "text", "text": "thanks"}]})
        );
    }

    #[test]
    fn bad_tool_arguments_fail_fast() {
        for args in ["{not json", "[1, 2]"] {
            let req = request(
                json!([{"role": "user", "content": "x"},
                       {"role": "assistant", "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": args}}]}]),
                json!({}),
            );
            let e = encode_body(&req, &BodyOptions::default()).unwrap_err();
            assert!(
                e.message.contains("messages[1] (assistant)"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn images_and_files() {
        let req = request(
            json!([{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"}},
                {"type": "image_url", "image_url": "https://example.com/a.png", "cache_control": {"type": "ephemeral"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}},
                {"type": "file", "file": {"file_id": "file_011"}},
            ]}]),
            json!({}),
        );
        assert_eq!(
            body(&req)["messages"][0]["content"],
            json!([
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}, "cache_control": {"type": "ephemeral"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
                {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
            ])
        );
        for url in ["ftp://x/y.png", "data:image/png,abc"] {
            let req = request(
                json!([{"role": "user", "content": [{"type": "image_url", "image_url": url}]}]),
                json!({}),
            );
            assert!(encode_body(&req, &BodyOptions::default()).is_err(), "{url}");
        }
    }

    #[test]
    fn message_level_cache_control_goes_on_the_last_block() {
        let req = request(
            json!([
                {"role": "system", "content": "sys", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "long doc", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            ]),
            json!({}),
        );
        let b = body(&req);
        assert_eq!(
            b["system"],
            json!([{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}])
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([{"type": "text", "text": "long doc", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
        );
    }

    #[test]
    fn thinking_blocks_are_sent_back_first() {
        let req = request(
            json!([
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "let me check", "reasoning_content": "hmm",
                 "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}],
                 "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "ok"},
            ]),
            json!({"reasoning_effort": "low"}),
        );
        let b = body(&req);
        assert_eq!(
            b["messages"][1]["content"],
            json!([
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "let me check"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
            ])
        );
        assert_eq!(
            b["thinking"],
            json!({"type": "enabled", "budget_tokens": 1024})
        );
        assert_eq!(b["max_tokens"], json!(1024 + DEFAULT_MAX_TOKENS));
    }

    #[test]
    fn params_map() {
        let req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({
                "temperature": 0.5, "top_p": 0.9, "stop": "END", "max_completion_tokens": 77, "user": "u-1",
                "parallel_tool_calls": false, "tool_choice": "required", "top_k": 5,
                "tools": [{"type": "function", "function": {"name": "f", "description": "d",
                           "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}, "strict": true}},
                          {"type": "function", "function": {"name": "g"}, "cache_control": {"type": "ephemeral"}}]
            }),
        );
        let b = body(&req);
        assert_eq!(b["temperature"], json!(0.5));
        assert_eq!(b["top_p"], json!(0.9));
        assert_eq!(b["top_k"], json!(5));
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["max_tokens"], json!(77));
        assert_eq!(b["metadata"], json!({"user_id": "u-1"}));
        assert_eq!(
            b["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(
            b["tools"],
            json!([
                {"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
                {"name": "g", "input_schema": {"type": "object", "properties": {}}, "cache_control": {"type": "ephemeral"}},
            ])
        );
    }

    #[test]
    fn tool_choice_forms() {
        let cases = [
            (json!("auto"), json!({"type": "auto"})),
            (json!("none"), json!({"type": "none"})),
            (json!("required"), json!({"type": "any"})),
            (
                json!({"type": "function", "function": {"name": "f"}}),
                json!({"type": "tool", "name": "f"}),
            ),
            (
                json!({"type": "tool", "name": "f"}),
                json!({"type": "tool", "name": "f"}),
            ),
        ];
        for (given, expected) in cases {
            let c: ToolChoice = serde_json::from_value(given).unwrap();
            assert_eq!(tool_choice_value(&c).unwrap(), expected);
        }
        let c: ToolChoice = serde_json::from_value(json!("sometimes")).unwrap();
        assert!(tool_choice_value(&c).is_err());
    }

    #[test]
    fn response_format_uses_a_forced_tool_or_native_format_with_thinking() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let rf = json!({"type": "json_schema", "json_schema": {"name": "out", "schema": schema}});
        let req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"response_format": rf}),
        );
        let b = body(&req);
        assert_eq!(b["tools"][0]["name"], json!(JSON_TOOL_NAME));
        assert_eq!(b["tools"][0]["input_schema"], schema);
        assert_eq!(
            b["tool_choice"],
            json!({"type": "tool", "name": JSON_TOOL_NAME})
        );
        let req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"response_format": rf, "reasoning_effort": "medium"}),
        );
        let b = body(&req);
        assert!(b.get("tools").is_none());
        assert_eq!(
            b["output_config"],
            json!({"format": {"type": "json_schema", "schema": schema}})
        );
        assert_eq!(
            b["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
    }

    #[test]
    fn thinking_conflicts_raise_or_drop() {
        let mut req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"temperature": 0.2, "top_p": 0.5, "top_k": 3, "reasoning_effort": "high",
                   "tool_choice": "required"}),
        );
        let e = check_params(&mut req.clone(), false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedParams);
        for needle in ["temperature=0.2", "top_p=0.5", "top_k", "tool_choice"] {
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
        let dropped = check_params(&mut req, true).unwrap();
        assert_eq!(
            dropped,
            vec!["temperature", "top_p", "top_k", "tool_choice"]
        );
        assert_eq!(req.params.temperature, None);
        assert!(!req.extra.contains_key("top_k"));
        // temperature 1 is fine with thinking; anything goes without it.
        let mut ok = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"temperature": 1.0, "thinking": {"type": "enabled", "budget_tokens": 2000}}),
        );
        assert!(check_params(&mut ok, false).unwrap().is_empty());
        let mut ok = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"temperature": 0.1, "top_k": 3}),
        );
        assert!(check_params(&mut ok, false).unwrap().is_empty());
        let mut json_object = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "low", "response_format": {"type": "json_object"}}),
        );
        assert_eq!(
            check_params(&mut json_object, true).unwrap(),
            vec!["response_format"]
        );
        let mut n = request(json!([{"role": "user", "content": "x"}]), json!({"n": 2}));
        assert!(check_params(&mut n, false).is_err());
        let mut bad = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "extreme"}),
        );
        assert_eq!(
            check_params(&mut bad, false).unwrap_err().kind,
            ErrorKind::BadRequest
        );
    }

    #[test]
    fn native_thinking_wins_and_extras_merge() {
        let req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "low", "thinking": {"type": "adaptive"},
                   "output_config": {"effort": "low"}, "user": "u"}),
        );
        let b = body(&req);
        assert_eq!(b["thinking"], json!({"type": "adaptive"}));
        assert_eq!(b["output_config"], json!({"effort": "low"}));
        assert_eq!(b["max_tokens"], json!(DEFAULT_MAX_TOKENS));
        let req = request(
            json!([{"role": "user", "content": "x"}]),
            json!({"reasoning_effort": "none"}),
        );
        assert!(body(&req).get("thinking").is_none());
    }

    #[test]
    fn vertex_body_has_version_and_no_model() {
        let req = request(json!([{"role": "user", "content": "x"}]), json!({}));
        let bytes = encode_body(
            &req,
            &BodyOptions {
                model: None,
                anthropic_version: Some("vertex-2023-10-16"),
                stream: true,
            },
        )
        .unwrap();
        let b: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(b["anthropic_version"], json!("vertex-2023-10-16"));
        assert!(b.get("model").is_none());
        assert_eq!(b["stream"], json!(true));
    }

    #[test]
    fn reasoning_tokens_are_counted_from_the_thinking_text() {
        let reply = |thinking: &str, output_tokens: u64| {
            let body = json!({"id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-20250514", "stop_reason": "end_turn",
                "content": [{"type": "thinking", "thinking": thinking, "signature": "s"},
                            {"type": "text", "text": "Hello there"}],
                "usage": {"input_tokens": 10, "output_tokens": output_tokens}});
            parse_response(body.to_string().as_bytes(), &target())
                .unwrap()
                .usage
                .unwrap()
        };
        // 12 tokens (cl100k), as LiteLLM 1.106.2 counts this reply.
        let text = "Let me think about this carefully. The user says hi.";
        assert_eq!(reply(text, 30).reasoning_tokens(), 12);
        // Never more than the completion tokens.
        assert_eq!(reply(text, 5).reasoning_tokens(), 5);
        // No thinking, no details.
        let plain = json!({"id": "m", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "text", "text": "x"}], "usage": {"input_tokens": 1, "output_tokens": 1}});
        let u = parse_response(plain.to_string().as_bytes(), &target())
            .unwrap()
            .usage
            .unwrap();
        assert!(u.completion_tokens_details.is_none());
    }

    #[test]
    fn default_max_tokens_is_4096_plus_the_thinking_budget() {
        let max_tokens = |effort: Option<&str>| {
            let mut req = request(json!([{"role": "user", "content": "x"}]), json!({}));
            req.params.reasoning_effort = effort.map(str::to_owned);
            let opts = BodyOptions::default();
            let b: Value = serde_json::from_slice(&encode_body(&req, &opts).unwrap()).unwrap();
            b["max_tokens"].as_u64().unwrap()
        };
        assert_eq!(max_tokens(None), 4096);
        assert_eq!(max_tokens(Some("high")), 4096 + 4096);
        assert_eq!(max_tokens(Some("medium")), 2048 + 4096);
    }

    #[test]
    fn urls() {
        assert_eq!(
            messages_url("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(messages_url("http://h/v1/"), "http://h/v1/messages");
        assert_eq!(messages_url("http://h/v1/messages"), "http://h/v1/messages");
    }

    #[test]
    fn response_with_thinking_tools_and_cache_usage() {
        let body = json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
            "content": [
                {"type": "thinking", "thinking": "Let me think", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "I'll check. "},
                {"type": "text", "text": "One moment."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "SF"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 20, "cache_creation_input_tokens": 5,
                      "cache_read_input_tokens": 100, "output_tokens_details": {"thinking_tokens": 7}}
        });
        let r = parse_response(body.to_string().as_bytes(), &target()).unwrap();
        assert_eq!(r.id, "msg_01");
        let m = &r.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("I'll check. One moment."));
        assert_eq!(m.reasoning_content.as_deref(), Some("Let me think"));
        assert_eq!(m.thinking_blocks.as_ref().unwrap().len(), 2);
        let call = &m.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.id, "toolu_01");
        assert_eq!(call.function.arguments, r#"{"location":"SF"}"#);
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (115, 20, 135)
        );
        assert_eq!(u.cached_tokens(), 100);
        assert_eq!(u.cache_creation_input_tokens, Some(5));
        assert_eq!(u.reasoning_tokens(), 7);
    }

    #[test]
    fn stop_reasons() {
        for (given, expected) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("pause_turn", "stop"),
            ("model_context_window_exceeded", "length"),
        ] {
            assert_eq!(finish_reason(given), expected);
        }
    }

    #[test]
    fn json_tool_response_becomes_content() {
        let body = json!({"id": "msg_1", "model": "m", "content": [
            {"type": "tool_use", "id": "t", "name": JSON_TOOL_NAME, "input": {"a": 1}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}});
        let r = parse_response(body.to_string().as_bytes(), &target()).unwrap();
        assert_eq!(r.text(), Some(r#"{"a":1}"#));
        assert!(r.choices[0].message.tool_calls.is_none());
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn errors_map_by_type() {
        let t = target();
        let cases = [
            (
                400,
                "invalid_request_error",
                "max_tokens: field required",
                ErrorKind::BadRequest,
            ),
            (
                400,
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
                ErrorKind::ContextWindowExceeded,
            ),
            (
                401,
                "authentication_error",
                "invalid x-api-key",
                ErrorKind::Authentication,
            ),
            (403, "permission_error", "no", ErrorKind::PermissionDenied),
            (404, "not_found_error", "model: x", ErrorKind::NotFound),
            (429, "rate_limit_error", "slow", ErrorKind::RateLimit),
            (500, "api_error", "oops", ErrorKind::InternalServer),
            (
                529,
                "overloaded_error",
                "Overloaded",
                ErrorKind::ServiceUnavailable,
            ),
        ];
        for (status, ty, msg, kind) in cases {
            let body = json!({"type": "error", "error": {"type": ty, "message": msg}, "request_id": "req_1"});
            let e = error_from_body(status, &HeaderMap::new(), body.to_string().as_bytes(), &t);
            assert_eq!(e.kind, kind, "{ty}");
            assert_eq!(e.status_code, status);
            assert_eq!(e.message, msg);
            assert_eq!(e.provider.as_deref(), Some("anthropic"));
        }
        let e = error_from_body(502, &HeaderMap::new(), b"<html>bad gateway</html>", &t);
        assert_eq!(e.kind, ErrorKind::ServiceUnavailable);
        let e = error_from_event(
            r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
            &t,
        );
        assert_eq!(
            (e.kind, e.status_code),
            (ErrorKind::ServiceUnavailable, 529)
        );
        assert!(e.is_retryable());
    }

    fn run_stream(events: &[Value]) -> (Vec<ChatChunk>, Result<(), LlmError>) {
        let mut p = AnthropicStreamParser::new(&target());
        let mut out = Vec::new();
        for e in events {
            let data = e.to_string();
            let ty = e["type"].as_str().unwrap();
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
    fn stream_text_thinking_and_tools() {
        let events = [
            json!({"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant", "content": [],
                   "model": "claude-sonnet-4-20250514", "stop_reason": null, "stop_sequence": null,
                   "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"x\":"}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": " 1}"}}),
            json!({"type": "content_block_stop", "index": 2}),
            json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "g", "input": {}}}),
            json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
            json!({"type": "content_block_stop", "index": 3}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 42}}),
            json!({"type": "message_stop"}),
        ];
        let (chunks, end) = run_stream(&events);
        end.unwrap();
        let mut acc = crate::stream::StreamAccumulator::new();
        for c in &chunks {
            acc.push(c);
        }
        let r = acc.finish();
        assert_eq!(r.id, "msg_s");
        let m = &r.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("Hi"));
        assert_eq!(m.reasoning_content.as_deref(), Some("Hmm"));
        assert_eq!(
            m.thinking_blocks.as_ref().unwrap(),
            &vec![json!({"type": "thinking", "thinking": "Hmm", "signature": "EqQB"})]
        );
        let calls = m.tool_calls.as_ref().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (
                calls[0].id.as_str(),
                calls[0].function.name.as_str(),
                calls[0].function.arguments.as_str()
            ),
            ("toolu_a", "f", "{\"x\": 1}")
        );
        assert_eq!(calls[1].function.arguments, "{}");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let u = r.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (29, 42));
        // Anthropic reports no thinking tokens: counted from the thinking text ("Hmm").
        assert_eq!(u.reasoning_tokens(), 1);
        // The last chunk carries only usage.
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty() && last.usage.is_some());
        // Tool-call deltas: index 0 then 1, the first with id and name.
        let tool_indexes: Vec<(u32, bool)> = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.tool_calls.as_ref())
            .map(|t| (t[0].index, t[0].id.is_some()))
            .collect();
        assert_eq!(
            tool_indexes,
            vec![(0, true), (0, false), (0, false), (1, true), (1, false)]
        );
    }

    #[test]
    fn stream_error_event_and_truncation() {
        let start = json!({"type": "message_start", "message": {"id": "m", "model": "x", "usage": {"input_tokens": 1, "output_tokens": 1}}});
        let (_, end) = run_stream(&[
            start.clone(),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ]);
        let e = end.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ServiceUnavailable);
        let (_, end) = run_stream(&[start]);
        assert_eq!(end.unwrap_err().kind, ErrorKind::ApiConnection);
    }

    #[test]
    fn stream_json_tool_is_content() {
        let events = [
            json!({"type": "message_start", "message": {"id": "m", "model": "x", "usage": {"input_tokens": 1, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": JSON_TOOL_NAME, "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\": 1}"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}),
            json!({"type": "message_stop"}),
        ];
        let (chunks, end) = run_stream(&events);
        end.unwrap();
        let mut acc = crate::stream::StreamAccumulator::new();
        for c in &chunks {
            acc.push(c);
        }
        let r = acc.finish();
        assert_eq!(r.text(), Some("{\"a\": 1}"));
        assert!(r.choices[0].message.tool_calls.is_none());
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    }
}
