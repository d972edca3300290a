//! Bedrock's Converse API: OpenAI messages and parameters → a Converse request body, and a
//! Converse response → `chat.completion`.
//!
//! Request (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>):
//! - `system` and `developer` messages → `system: [{text}]`; consecutive messages of one role
//!   are merged into one turn; tool results are `toolResult` blocks of a user turn.
//! - Content: text → `{text}`; images (`data:` URLs) → `{image: {format, source: {bytes}}}`
//!   (`s3://` URIs → `source.s3Location`); files → `{document: {format, name, source}}`;
//!   tool calls → `{toolUse: {toolUseId, name, input}}`; Anthropic-style `thinking_blocks` on
//!   an assistant message → `{reasoningContent}` first, as Claude needs them back.
//! - `cache_control` on a message, part or tool → a `{cachePoint: {type: "default"}}` after it.
//! - `max_tokens` / `max_completion_tokens`, `temperature`, `top_p`, `stop` →
//!   `inferenceConfig`; `tools` → `toolConfig.tools[].toolSpec`, `tool_choice` →
//!   `toolConfig.toolChoice` (`auto`, `any`, `tool`).
//! - Claude's `thinking` (or `reasoning_effort`, mapped to a budget as for `anthropic/`),
//!   `top_k` and any other keyword a model takes → `additionalModelRequestFields`; Converse's
//!   own `guardrailConfig`, `performanceConfig`, `promptVariables`, `requestMetadata`,
//!   `additionalModelResponseFieldPaths`, `serviceTier` and `outputConfig` → top level.
//! - `response_format` `json_schema` / `json_object` → a forced tool (`json_tool_call`)
//!   whose input comes back as the message content, as LiteLLM does.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::Family;
use crate::error::LlmError;
use crate::providers::anthropic::{self, JSON_TOOL_NAME};
use crate::providers::{parse_json, Target};
use crate::types::{
    ChatRequest, ChatResponse, Choice, CompletionTokensDetails, ContentPart, FunctionCall, Message,
    MessageContent, PromptTokensDetails, ResponseMessage, Role, ToolCall, ToolChoice, Usage,
};

/// Keywords that are top-level Converse fields rather than model fields.
const TOP_LEVEL_FIELDS: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
    "additionalModelResponseFieldPaths",
    "serviceTier",
    "outputConfig",
];

/// `max_tokens` added to a thinking budget when the caller gave no `max_tokens` (LiteLLM's
/// `DEFAULT_MAX_TOKENS` for Bedrock thinking).
const THINKING_HEADROOM: u32 = 4096;

fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// Converse's image formats.
fn image_format(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return None,
    })
}

/// Converse's document formats.
fn document_format(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "application/pdf" => "pdf",
        "text/csv" => "csv",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "text/html" => "html",
        "text/plain" => "txt",
        "text/markdown" => "md",
        _ => return None,
    })
}

/// A document name Converse accepts (letters, digits, single spaces, `-`, `(`, `)`, `[`,
/// `]`), unique within the request.
fn document_name(given: Option<&str>, index: usize) -> String {
    let cleaned: String = given
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if cleaned.is_empty() {
        format!("document-{}", index + 1)
    } else {
        format!("{cleaned}-{}", index + 1)
    }
}

/// Bedrock's `toolUseId` pattern is `[a-zA-Z0-9_-]+`: ids from other providers are made to fit.
pub fn tool_use_id(id: &str) -> Cow<'_, str> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Cow::Borrowed(id)
    } else if id.is_empty() {
        Cow::Owned("tooluse_missing".to_owned())
    } else {
        Cow::Owned(
            id.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect(),
        )
    }
}

struct Converter {
    documents: usize,
}

impl Converter {
    /// Content parts → Converse content blocks.
    fn parts(
        &mut self,
        parts: &[ContentPart],
        at: &dyn Fn(&str) -> LlmError,
    ) -> Result<Vec<Value>, LlmError> {
        let mut blocks = Vec::with_capacity(parts.len());
        for (j, part) in parts.iter().enumerate() {
            let at_part = |w: &str| at(&format!("content[{j}]: {w}"));
            match part.kind.as_str() {
                "text" => {
                    let text = part.text.as_deref().unwrap_or_default();
                    if !text.is_empty() {
                        blocks.push(json!({ "text": text }));
                    }
                }
                "image_url" => {
                    let url = part
                        .image_url
                        .as_ref()
                        .map(|i| i.url.as_str())
                        .ok_or_else(|| at_part("an image_url part needs image_url.url"))?;
                    blocks.push(self.media(url, None, &at_part)?);
                }
                "file" => {
                    let file = part
                        .extra
                        .get("file")
                        .ok_or_else(|| at_part("a file part needs \"file\""))?;
                    let data = file
                        .get("file_data")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            at_part(
                                "Bedrock needs a file's bytes: pass file.file_data as a data: URL",
                            )
                        })?;
                    let name = file.get("filename").and_then(Value::as_str);
                    blocks.push(self.media(data, name, &at_part)?);
                }
                "input_audio" => {
                    return Err(at_part("Bedrock Converse does not accept audio input"))
                }
                // Parts already in Converse's shape (`{"type": "document", "document": {...}}`,
                // `reasoningContent`, ...): the member named by the type.
                other => match part.extra.get(other) {
                    Some(native) => blocks.push(json!({ other: native })),
                    None => {
                        return Err(at_part(&format!(
                            "content part type {other:?} is not supported on Bedrock"
                        )))
                    }
                },
            }
            if part.extra.contains_key("cache_control") {
                blocks.push(cache_point());
            }
        }
        Ok(blocks)
    }

    /// An image or document from a `data:` URL (or an `s3://` URI).
    fn media(
        &mut self,
        url: &str,
        name: Option<&str>,
        at: &dyn Fn(&str) -> LlmError,
    ) -> Result<Value, LlmError> {
        if let Some(uri) = url.strip_prefix("s3://").map(|_| url) {
            let ext = uri
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let source = json!({"s3Location": {"uri": uri}});
            if let Some(format) = image_format(&format!("image/{ext}")) {
                return Ok(json!({"image": {"format": format, "source": source}}));
            }
            let format = if ext == "md" { "md" } else { ext.as_str() };
            let doc = self.documents;
            self.documents += 1;
            return Ok(
                json!({"document": {"format": format, "name": document_name(name, doc), "source": source}}),
            );
        }
        let (media_type, data) = parse_data_url(url).ok_or_else(|| {
            at(&format!(
                "Bedrock takes images and documents as bytes: pass a data: URL (data:image/png;base64,...) or an s3:// URI, not {:.60}",
                url
            ))
        })?;
        if let Some(format) = image_format(media_type) {
            return Ok(json!({"image": {"format": format, "source": {"bytes": data}}}));
        }
        if let Some(format) = document_format(media_type) {
            let doc = self.documents;
            self.documents += 1;
            return Ok(
                json!({"document": {"format": format, "name": document_name(name, doc), "source": {"bytes": data}}}),
            );
        }
        Err(at(&format!(
            "media type {media_type:?} is not an image (png, jpeg, gif, webp) or document (pdf, csv, doc, docx, xls, xlsx, html, txt, md) Bedrock accepts"
        )))
    }
}

/// A turn being built; consecutive messages of the same role are merged.
struct Turn {
    role: &'static str,
    content: Vec<Value>,
}

fn push_turn(turns: &mut Vec<Turn>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn {
            role,
            content: blocks,
        }),
    }
}

/// A tool call's JSON arguments as a `toolUse.input` object.
fn tool_input(arguments: &str) -> Result<Value, String> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(format!("must be a JSON object, got {trimmed:.100}")),
        Err(e) => Err(format!("is not valid JSON ({e}): {trimmed:.100}")),
    }
}

/// Anthropic-style thinking blocks → `reasoningContent` blocks.
fn reasoning_blocks(thinking: &[Value]) -> Vec<Value> {
    thinking
        .iter()
        .filter_map(|b| match b.get("type").and_then(Value::as_str) {
            Some("thinking") => {
                let mut text =
                    json!({"text": b.get("thinking").and_then(Value::as_str).unwrap_or_default()});
                if let Some(sig) = b
                    .get("signature")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    text["signature"] = json!(sig);
                }
                Some(json!({"reasoningContent": {"reasoningText": text}}))
            }
            Some("redacted_thinking") => b
                .get("data")
                .map(|d| json!({"reasoningContent": {"redactedContent": d}})),
            _ => None,
        })
        .collect()
}

/// OpenAI messages → Converse `system` blocks and turns.
fn convert_messages(messages: &[Message]) -> Result<(Vec<Value>, Vec<Turn>), LlmError> {
    let mut converter = Converter { documents: 0 };
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = |what: &str| {
            LlmError::bad_request(format!("messages[{i}] ({}): {what}", m.role.as_str()))
        };
        let cached = m.extra.contains_key("cache_control");
        match m.role {
            Role::System | Role::Developer => {
                match &m.content {
                    Some(MessageContent::Text(t)) if !t.is_empty() => {
                        system.push(json!({ "text": t }))
                    }
                    Some(MessageContent::Parts(parts)) => {
                        for part in parts {
                            if part.kind != "text" {
                                return Err(at("Bedrock system prompts take only text parts"));
                            }
                            if let Some(t) = part.text.as_deref().filter(|t| !t.is_empty()) {
                                system.push(json!({ "text": t }));
                            }
                            if part.extra.contains_key("cache_control") {
                                system.push(cache_point());
                            }
                        }
                    }
                    _ => {}
                }
                if cached {
                    system.push(cache_point());
                }
            }
            Role::User => {
                let mut blocks = match &m.content {
                    Some(MessageContent::Text(t)) if !t.is_empty() => vec![json!({ "text": t })],
                    Some(MessageContent::Parts(parts)) => converter.parts(parts, &at)?,
                    _ => Vec::new(),
                };
                if cached && !blocks.is_empty() {
                    blocks.push(cache_point());
                }
                push_turn(&mut turns, "user", blocks);
            }
            Role::Tool | Role::Function => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let content = match &m.content {
                    Some(MessageContent::Parts(parts)) => converter.parts(parts, &at)?,
                    Some(MessageContent::Text(t)) => vec![json!({ "text": t })],
                    None => vec![json!({ "text": "" })],
                };
                let mut blocks =
                    vec![json!({"toolResult": {"toolUseId": tool_use_id(id), "content": content}})];
                if cached {
                    blocks.push(cache_point());
                }
                push_turn(&mut turns, "user", blocks);
            }
            Role::Assistant => {
                let mut blocks = match m.extra.get("thinking_blocks") {
                    Some(Value::Array(thinking)) => reasoning_blocks(thinking),
                    _ => Vec::new(),
                };
                match &m.content {
                    Some(MessageContent::Text(t)) if !t.is_empty() => {
                        blocks.push(json!({ "text": t }))
                    }
                    Some(MessageContent::Parts(parts)) => {
                        blocks.extend(converter.parts(parts, &at)?)
                    }
                    _ => {}
                }
                for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                    let input = tool_input(&call.function.arguments)
                        .map_err(|why| at(&format!("tool_calls[{j}].function.arguments {why}")))?;
                    blocks.push(json!({"toolUse": {
                        "toolUseId": tool_use_id(&call.id), "name": call.function.name, "input": input}}));
                }
                if cached && !blocks.is_empty() {
                    blocks.push(cache_point());
                }
                push_turn(&mut turns, "assistant", blocks);
            }
        }
    }
    if turns.is_empty() {
        return Err(LlmError::bad_request(
            "messages has no user or assistant message: Bedrock Converse needs at least one",
        ));
    }
    Ok((system, turns))
}

/// Converse's `toolChoice` for an OpenAI `tool_choice` (`None` for `none`, which Converse
/// cannot express; `check_params` has dealt with it).
fn tool_choice(choice: &ToolChoice) -> Result<Option<Value>, LlmError> {
    match choice {
        ToolChoice::Mode(mode) => match mode.as_str() {
            "auto" => Ok(Some(json!({"auto": {}}))),
            "required" | "any" => Ok(Some(json!({"any": {}}))),
            "none" => Ok(None),
            other => Err(LlmError::bad_request(format!(
                "tool_choice {other:?} is not one of auto, none, required, or a function"
            ))),
        },
        ToolChoice::Named(v) => match choice.function_name() {
            Some(name) => Ok(Some(json!({"tool": {"name": name}}))),
            // Already in Converse's form.
            None if v.get("auto").is_some()
                || v.get("any").is_some()
                || v.get("tool").is_some() =>
            {
                Ok(Some(v.clone()))
            }
            None => Err(LlmError::bad_request(format!(
                "tool_choice {v} is not {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
            ))),
        },
    }
}

/// A Converse request body for `req` on a model of `family`.
pub fn encode_body(req: &ChatRequest, family: Family) -> Result<Bytes, LlmError> {
    let body = build_body(req, family)?;
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

fn build_body(req: &ChatRequest, family: Family) -> Result<Value, LlmError> {
    let (system, turns) = convert_messages(&req.messages)?;
    let p = &req.params;
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        Value::Array(
            turns
                .into_iter()
                .map(|t| json!({"role": t.role, "content": t.content}))
                .collect(),
        ),
    );
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    let mut fields = Map::new(); // additionalModelRequestFields
                                 // Extended thinking (Claude): a native `thinking`, or `reasoning_effort` as a budget.
    let mut budget = None;
    match family {
        Family::Anthropic => {
            if let Some(thinking) = anthropic::thinking_config(req)? {
                budget = thinking
                    .get("budget_tokens")
                    .and_then(Value::as_u64)
                    .filter(|_| thinking.get("type").and_then(Value::as_str) == Some("enabled"))
                    .map(|b| u32::try_from(b).unwrap_or(u32::MAX));
                fields.insert("thinking".into(), thinking.into_owned());
            }
        }
        Family::AmazonNova => {
            if let Some(effort) = p.reasoning_effort.as_deref().filter(|e| *e != "none") {
                fields.insert(
                    "reasoningConfig".into(),
                    json!({"type": "enabled", "maxReasoningEffort": effort}),
                );
            }
        }
        _ => {
            if let Some(effort) = &p.reasoning_effort {
                fields.insert("reasoning_effort".into(), json!(effort));
            }
        }
    }

    let mut inference = Map::new();
    let max_tokens = req
        .max_output_tokens()
        .or_else(|| budget.map(|b| b.saturating_add(THINKING_HEADROOM)));
    if let Some(n) = max_tokens {
        inference.insert("maxTokens".into(), json!(n));
    }
    if let Some(t) = p.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(t) = p.top_p {
        inference.insert("topP".into(), json!(t));
    }
    if let Some(stop) = &p.stop {
        let stop: Vec<&String> = stop.0.iter().filter(|s| !s.is_empty()).collect();
        if !stop.is_empty() {
            inference.insert("stopSequences".into(), json!(stop));
        }
    }

    // Tools, and response_format as a forced tool.
    let mut tools: Vec<Value> = Vec::new();
    for tool in p.tools.iter().flatten() {
        let f = &tool.function;
        let mut spec = json!({"name": f.name, "inputSchema": {"json": f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}))}});
        if let Some(d) = f.description.as_deref().filter(|d| !d.is_empty()) {
            spec["description"] = json!(d);
        }
        tools.push(json!({ "toolSpec": spec }));
        if tool.extra.contains_key("cache_control") {
            tools.push(cache_point());
        }
    }
    let mut choice = match &p.tool_choice {
        Some(c) if !tools.is_empty() => tool_choice(c)?,
        _ => None,
    };
    if let Some(format) = &p.response_format {
        let schema = match format.kind.as_str() {
            "json_object" => Some(Cow::Owned(json!({"type": "object"}))),
            "json_schema" => Some(
                format
                    .json_schema
                    .as_ref()
                    .and_then(|s| s.schema.as_ref())
                    .map(Cow::Borrowed)
                    .ok_or_else(|| {
                        LlmError::bad_request(
                            "response_format json_schema needs json_schema.schema",
                        )
                    })?,
            ),
            _ => None,
        };
        if let Some(schema) = schema {
            let mut spec = json!({"name": JSON_TOOL_NAME, "inputSchema": {"json": schema}});
            if let Some(d) = format
                .json_schema
                .as_ref()
                .and_then(|s| s.description.as_deref())
            {
                spec["description"] = json!(d);
            }
            tools.push(json!({ "toolSpec": spec }));
            if family.forced_tool_choice() {
                choice = Some(json!({"tool": {"name": JSON_TOOL_NAME}}));
            }
        }
    }
    if !tools.is_empty() {
        let mut config = json!({ "tools": tools });
        if let Some(c) = choice.take() {
            config["toolChoice"] = c;
        }
        body.insert("toolConfig".into(), config);
        // Claude: parallel tool use can be turned off; Converse takes the choice's type
        // from toolChoice, so only the flag goes here.
        if p.parallel_tool_calls == Some(false) && family == Family::Anthropic {
            let mut tc = json!({"disable_parallel_tool_use": true});
            if body["toolConfig"].get("toolChoice").is_none() {
                tc["type"] = json!("auto");
            }
            fields.insert("tool_choice".into(), tc);
        }
    }

    // Other keywords: Converse's own fields at the top level, `top_k`, the rest for the model.
    for (key, value) in &req.extra {
        match key.as_str() {
            // Handled above (thinking_config reads it).
            "thinking" => {}
            "inferenceConfig" => {
                if let Value::Object(o) = value {
                    for (k, v) in o {
                        inference.insert(k.clone(), v.clone());
                    }
                }
            }
            "additionalModelRequestFields" => {
                if let Value::Object(o) = value {
                    for (k, v) in o {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
            "top_k" | "topK" if family == Family::AmazonNova => {
                fields
                    .entry("inferenceConfig")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .map(|o| o.insert("topK".into(), value.clone()));
            }
            k if TOP_LEVEL_FIELDS.contains(&k) => {
                body.insert(key.clone(), value.clone());
            }
            _ => {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if fields.contains_key("thinking") && !body.contains_key("additionalModelResponseFieldPaths") {
        // Converse leaves thinking tokens out of its usage; this path brings them back.
        body.insert(
            "additionalModelResponseFieldPaths".into(),
            json!(["/usage/output_tokens_details"]),
        );
    }
    if !fields.is_empty() {
        body.insert("additionalModelRequestFields".into(), Value::Object(fields));
    }
    Ok(Value::Object(body))
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// Converse `stopReason` → OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        // end_turn, stop_sequence and anything new.
        _ => "stop",
    }
}

/// Converse `usage` (+ thinking tokens from `additionalModelResponseFields`) → OpenAI usage:
/// `prompt_tokens` counts cache reads and writes, as LiteLLM's does.
pub fn usage(usage: &Value, additional: Option<&Value>) -> Usage {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64);
    let read = n("cacheReadInputTokens")
        .or(n("cacheReadInputTokenCount"))
        .unwrap_or(0);
    let written = n("cacheWriteInputTokens")
        .or(n("cacheWriteInputTokenCount"))
        .unwrap_or(0);
    let input = n("inputTokens").unwrap_or(0);
    let output = n("outputTokens").unwrap_or(0);
    let mut u = Usage::new(input + read + written, output);
    if let Some(total) = n("totalTokens") {
        u.total_tokens = total.max(u.total_tokens);
    }
    u.prompt_tokens_details = Some(PromptTokensDetails {
        cached_tokens: Some(read),
        ..Default::default()
    });
    u.cache_read_input_tokens = Some(read);
    u.cache_creation_input_tokens = Some(written);
    let thinking = additional
        .and_then(|a| a.pointer("/usage/output_tokens_details/thinking_tokens"))
        .and_then(Value::as_u64);
    if let Some(t) = thinking {
        u.completion_tokens_details = Some(CompletionTokensDetails {
            reasoning_tokens: Some(t.min(output)),
            ..Default::default()
        });
    }
    u
}

/// A Converse response → `chat.completion`.
pub fn parse_response(body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
    let value: Value =
        parse_json(body, "Bedrock Converse response").map_err(|e| target.annotate(e))?;
    let content = value
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            target.annotate(LlmError::new(
                crate::ErrorKind::Api,
                format!(
                    "Bedrock Converse response has no output.message.content: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ),
            ))
        })?;
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut thinking_blocks: Vec<Value> = Vec::new();
    let mut tool_calls: Vec<ToolCall> = Vec::new();
    let mut json_output = false;
    for block in content {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.get_or_insert_with(String::new).push_str(t);
        } else if let Some(tool) = block.get("toolUse") {
            let s = |k: &str| tool.get(k).and_then(Value::as_str).unwrap_or_default();
            let arguments = tool
                .get("input")
                .map(Value::to_string)
                .unwrap_or_else(|| "{}".to_owned());
            if s("name") == JSON_TOOL_NAME {
                json_output = true;
                text.get_or_insert_with(String::new).push_str(&arguments);
            } else {
                tool_calls.push(ToolCall {
                    id: s("toolUseId").to_owned(),
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: s("name").to_owned(),
                        arguments,
                    },
                });
            }
        } else if let Some(r) = block.get("reasoningContent") {
            if let Some(rt) = r.get("reasoningText") {
                let t = rt.get("text").and_then(Value::as_str).unwrap_or_default();
                reasoning.get_or_insert_with(String::new).push_str(t);
                let mut b = json!({"type": "thinking", "thinking": t});
                if let Some(sig) = rt.get("signature").and_then(Value::as_str) {
                    b["signature"] = json!(sig);
                }
                thinking_blocks.push(b);
            } else if let Some(data) = r.get("redactedContent") {
                thinking_blocks.push(json!({"type": "redacted_thinking", "data": data}));
            }
        }
        // citationsContent, guardContent and future block types.
    }
    let stop = value.get("stopReason").and_then(Value::as_str);
    let finish = stop.map(|r| {
        if r == "tool_use" && json_output && tool_calls.is_empty() {
            "stop"
        } else {
            finish_reason(r)
        }
    });
    let mut response = ChatResponse::new(target.model.clone());
    let mut message = ResponseMessage {
        content: text,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        reasoning_content: reasoning,
        thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
        ..Default::default()
    };
    if let Some(trace) = value.get("trace") {
        message
            .extra
            .insert("provider_specific_fields".into(), json!({ "trace": trace }));
    }
    response.choices.push(Choice {
        index: 0,
        message,
        finish_reason: finish.map(str::to_owned),
        logprobs: None,
        extra: Map::new(),
    });
    if let Some(u) = value.get("usage") {
        response.usage = Some(usage(u, value.get("additionalModelResponseFields")));
    }
    Ok(response)
}

#[cfg(test)]
pub(super) fn body_for_test(req: &ChatRequest, family: Family) -> Value {
    match build_body(req, family) {
        Ok(v) => v,
        Err(e) => Value::String(e.to_string()),
    }
}
