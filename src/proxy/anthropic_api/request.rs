//! Anthropic Messages request → OpenAI chat request (as JSON, for the call front door).

use serde_json::{json, Map, Value};

use crate::proxy::error::ProxyError;

/// What to do with the request's `thinking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    /// Keep `thinking` as is (Claude behind another host: Vertex AI, Bedrock).
    Keep,
    /// Turn it into `reasoning_effort` (a reasoning model of another family).
    ReasoningEffort,
    /// Leave it out (a model without reasoning).
    Drop,
}

/// Anthropic `thinking.budget_tokens` → OpenAI `reasoning_effort`, with LiteLLM's
/// thresholds.
fn effort_for_budget(budget: u64) -> &'static str {
    match budget {
        b if b >= 4096 => "high",
        b if b >= 2048 => "medium",
        b if b >= 1024 => "low",
        _ => "minimal",
    }
}

fn bad(message: impl Into<String>) -> ProxyError {
    ProxyError::bad_request(message)
}

/// Translate a Messages API body into an OpenAI chat body. Parameters the OpenAI format
/// shares (`temperature`, `top_p`, `top_k`, `stream`, ...) pass through; Anthropic's own
/// (`system`, `stop_sequences`, `tools`, `tool_choice`, `metadata`, `thinking`) are mapped.
pub fn to_openai(
    mut body: Map<String, Value>,
    thinking: Thinking,
) -> Result<Map<String, Value>, ProxyError> {
    let mut out = Map::new();
    let mut messages: Vec<Value> = Vec::new();
    if let Some(system) = body.remove("system") {
        match system {
            Value::Null => {}
            Value::String(s) => messages.push(json!({"role": "system", "content": s})),
            Value::Array(blocks) => {
                let parts: Vec<Value> = blocks
                    .into_iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .map(text_part)
                    .collect();
                if !parts.is_empty() {
                    messages.push(json!({"role": "system", "content": parts}));
                }
            }
            _ => return Err(bad("system: expected a string or a list of text blocks")),
        }
    }
    let Some(Value::Array(turns)) = body.remove("messages") else {
        return Err(bad("messages: field required (a list of messages)"));
    };
    for (i, turn) in turns.into_iter().enumerate() {
        translate_turn(turn, i, &mut messages)?;
    }
    out.insert("model".into(), body.remove("model").unwrap_or(Value::Null));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(stop) = body.remove("stop_sequences") {
        if !stop.is_null() {
            out.insert("stop".into(), stop);
        }
    }
    if let Some(tools) = body.remove("tools") {
        if let Value::Array(tools) = tools {
            let tools = tools
                .into_iter()
                .enumerate()
                .map(|(i, t)| tool(t, i))
                .collect::<Result<Vec<_>, _>>()?;
            if !tools.is_empty() {
                out.insert("tools".into(), Value::Array(tools));
            }
        } else if !tools.is_null() {
            return Err(bad("tools: expected a list"));
        }
    }
    if let Some(choice) = body.remove("tool_choice") {
        if let Some((choice, parallel)) = tool_choice(&choice)? {
            out.insert("tool_choice".into(), choice);
            if let Some(p) = parallel {
                out.insert("parallel_tool_calls".into(), json!(p));
            }
        }
    }
    if let Some(Value::Object(meta)) = body.remove("metadata") {
        if let Some(user) = meta.get("user_id").filter(|u| !u.is_null()) {
            out.insert("user".into(), user.clone());
        }
    }
    if let Some(t) = body.remove("thinking") {
        let enabled = t.get("type").and_then(Value::as_str) == Some("enabled");
        match thinking {
            Thinking::Keep => {
                out.insert("thinking".into(), t);
            }
            Thinking::ReasoningEffort if enabled => {
                let budget = t.get("budget_tokens").and_then(Value::as_u64).unwrap_or(0);
                out.insert("reasoning_effort".into(), json!(effort_for_budget(budget)));
            }
            _ => {}
        }
    }
    // Anthropic-only request fields with no meaning elsewhere.
    for name in [
        "container",
        "mcp_servers",
        "service_tier",
        "context_management",
    ] {
        body.remove(name);
    }
    // The rest (max_tokens, temperature, top_p, top_k, stream, and gateway options) as given.
    for (k, v) in body {
        out.entry(k).or_insert(v);
    }
    Ok(out)
}

/// A text block as an OpenAI text part (keeping `cache_control`).
fn text_part(block: Value) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), json!("text"));
    part.insert(
        "text".into(),
        block.get("text").cloned().unwrap_or_else(|| json!("")),
    );
    if let Some(cc) = block.get("cache_control").filter(|c| !c.is_null()) {
        part.insert("cache_control".into(), cc.clone());
    }
    Value::Object(part)
}

/// An image or document source as a URL (a `data:` URL for base64 data).
fn source_url(block: &Value, at: &str) -> Result<String, ProxyError> {
    let source = block
        .get("source")
        .ok_or_else(|| bad(format!("{at}.source: field required")))?;
    let s = |k: &str| source.get(k).and_then(Value::as_str);
    match s("type") {
        Some("base64") => Ok(format!(
            "data:{};base64,{}",
            s("media_type").unwrap_or("application/octet-stream"),
            s("data").unwrap_or_default()
        )),
        Some("url") => Ok(s("url").unwrap_or_default().to_owned()),
        Some("text") => Ok(format!(
            "data:text/plain;base64,{}",
            base64_text(s("data").unwrap_or_default())
        )),
        other => Err(bad(format!(
            "{at}.source.type: {other:?} is not supported when translating to another model (base64, url or text)"
        ))),
    }
}

fn base64_text(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A user-side content block (not `tool_result`) as an OpenAI content part.
fn user_part(block: Value, at: &str) -> Result<Option<Value>, ProxyError> {
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cache = block.get("cache_control").filter(|c| !c.is_null()).cloned();
    let mut part = match kind {
        "text" => return Ok(Some(text_part(block))),
        "image" => json!({"type": "image_url", "image_url": {"url": source_url(&block, at)?}}),
        "document" => {
            let url = source_url(&block, at)?;
            if url.starts_with("data:") {
                json!({"type": "file", "file": {"file_data": url}})
            } else {
                json!({"type": "file", "file": {"file_id": url}})
            }
        }
        // Search results and other server-side blocks carry nothing a model of another
        // family reads; thinking blocks never appear in user turns.
        "search_result" | "thinking" | "redacted_thinking" => return Ok(None),
        other => {
            return Err(bad(format!(
                "{at}.type: content block '{other}' cannot be sent to a non-Anthropic model"
            )))
        }
    };
    if let (Some(cc), Value::Object(m)) = (cache, &mut part) {
        m.insert("cache_control".into(), cc);
    }
    Ok(Some(part))
}

/// The content of a `tool_result` block as OpenAI tool-message content (text), plus any
/// images it carried (sent in a user message after the tool results).
fn tool_result_content(
    content: Option<Value>,
    at: &str,
) -> Result<(Value, Vec<Value>), ProxyError> {
    match content {
        None | Some(Value::Null) => Ok((json!(""), Vec::new())),
        Some(Value::String(s)) => Ok((Value::String(s), Vec::new())),
        Some(Value::Array(blocks)) => {
            let mut text = Vec::new();
            let mut images = Vec::new();
            for (j, b) in blocks.into_iter().enumerate() {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => text.push(text_part(b)),
                    Some(_) => {
                        if let Some(p) = user_part(b, &format!("{at}.content[{j}]"))? {
                            images.push(p);
                        }
                    }
                    None => {}
                }
            }
            Ok((Value::Array(text), images))
        }
        Some(_) => Err(bad(format!(
            "{at}.content: expected a string or a list of blocks"
        ))),
    }
}

fn translate_turn(turn: Value, i: usize, out: &mut Vec<Value>) -> Result<(), ProxyError> {
    let at = format!("messages[{i}]");
    let Value::Object(mut turn) = turn else {
        return Err(bad(format!("{at}: expected an object")));
    };
    let role = turn
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let content = turn.remove("content").unwrap_or(Value::Null);
    match role.as_str() {
        "user" => match content {
            Value::String(s) => out.push(json!({"role": "user", "content": s})),
            Value::Array(blocks) => {
                let mut tool_messages = Vec::new();
                let mut parts = Vec::new();
                for (j, mut block) in blocks.into_iter().enumerate() {
                    let bat = format!("{at}.content[{j}]");
                    if block.get("type").and_then(Value::as_str) == Some("tool_result") {
                        let id = block
                            .get("tool_use_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let (content, images) = tool_result_content(
                            block.as_object_mut().and_then(|b| b.remove("content")),
                            &bat,
                        )?;
                        tool_messages
                            .push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                        parts.extend(images);
                    } else if let Some(p) = user_part(block, &bat)? {
                        parts.push(p);
                    }
                }
                out.extend(tool_messages);
                if !parts.is_empty() {
                    out.push(json!({"role": "user", "content": parts}));
                }
            }
            _ => {
                return Err(bad(format!(
                    "{at}.content: expected a string or a list of blocks"
                )))
            }
        },
        "assistant" => {
            let mut text = String::new();
            let mut tool_calls = Vec::new();
            let mut thinking_blocks = Vec::new();
            let mut reasoning = String::new();
            match content {
                Value::String(s) => text = s,
                Value::Array(blocks) => {
                    for block in blocks {
                        let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or_default();
                        match s("type") {
                            "text" => text.push_str(s("text")),
                            "tool_use" => {
                                let input =
                                    block.get("input").cloned().unwrap_or_else(|| json!({}));
                                tool_calls.push(json!({
                                    "id": s("id"),
                                    "type": "function",
                                    "function": {"name": s("name"), "arguments": input.to_string()},
                                }));
                            }
                            "thinking" => {
                                reasoning.push_str(s("thinking"));
                                thinking_blocks.push(json!({
                                    "type": "thinking",
                                    "thinking": s("thinking"),
                                    "signature": s("signature"),
                                }));
                            }
                            "redacted_thinking" => thinking_blocks
                                .push(json!({"type": "redacted_thinking", "data": s("data")})),
                            _ => {}
                        }
                    }
                }
                Value::Null => {}
                _ => {
                    return Err(bad(format!(
                        "{at}.content: expected a string or a list of blocks"
                    )))
                }
            }
            let mut m = Map::new();
            m.insert("role".into(), json!("assistant"));
            m.insert(
                "content".into(),
                if text.is_empty() && !tool_calls.is_empty() {
                    Value::Null
                } else {
                    Value::String(text)
                },
            );
            if !tool_calls.is_empty() {
                m.insert("tool_calls".into(), Value::Array(tool_calls));
            }
            if !thinking_blocks.is_empty() {
                m.insert("thinking_blocks".into(), Value::Array(thinking_blocks));
                m.insert("reasoning_content".into(), Value::String(reasoning));
            }
            out.push(Value::Object(m));
        }
        other => {
            return Err(bad(format!(
                "{at}.role: expected 'user' or 'assistant', got {other:?}"
            )))
        }
    }
    Ok(())
}

fn tool(t: Value, i: usize) -> Result<Value, ProxyError> {
    let at = format!("tools[{i}]");
    let s = |k: &str| t.get(k).and_then(Value::as_str);
    let kind = s("type").unwrap_or("custom");
    if kind != "custom" && t.get("input_schema").is_none() {
        return Err(bad(format!(
            "{at}: the server tool '{kind}' only runs on Anthropic's API; this model is not an Anthropic deployment"
        )));
    }
    let name = s("name").ok_or_else(|| bad(format!("{at}.name: field required")))?;
    let mut function = Map::new();
    function.insert("name".into(), json!(name));
    if let Some(d) = s("description") {
        function.insert("description".into(), json!(d));
    }
    function.insert(
        "parameters".into(),
        t.get("input_schema")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    );
    let mut out = json!({"type": "function", "function": function});
    if let (Some(cc), Value::Object(m)) =
        (t.get("cache_control").filter(|c| !c.is_null()), &mut out)
    {
        m.insert("cache_control".into(), cc.clone());
    }
    Ok(out)
}

/// `tool_choice` and, from `disable_parallel_tool_use`, `parallel_tool_calls`.
fn tool_choice(choice: &Value) -> Result<Option<(Value, Option<bool>)>, ProxyError> {
    if choice.is_null() {
        return Ok(None);
    }
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|d| !d);
    let c = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice.name: field required for type 'tool'"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        other => {
            return Err(bad(format!(
                "tool_choice.type: expected auto, any, tool or none, got {other:?}"
            )))
        }
    };
    Ok(Some((c, parallel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(v: Value, t: Thinking) -> Map<String, Value> {
        match v {
            Value::Object(m) => to_openai(m, t).unwrap_or_else(|e| panic!("{e}")),
            _ => Map::new(),
        }
    }

    #[test]
    fn a_full_conversation_translates() {
        let body = json!({
            "model": "gpt", "max_tokens": 100, "temperature": 0.2, "stream": true,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Use the tool.", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
                    {"type": "text", "text": "And tomorrow?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]}
            ]
        });
        let out = translate(body, Thinking::Keep);
        assert_eq!(out["model"], "gpt");
        assert_eq!(out["max_tokens"], 100);
        assert_eq!(out["stream"], true);
        assert_eq!(out["stop"], json!(["END"]));
        assert_eq!(out["user"], "u-1");
        assert_eq!(out["tool_choice"], "required");
        assert_eq!(out["parallel_tool_calls"], false);
        assert_eq!(out["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(
            out["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
            "string"
        );
        let m = out["messages"].as_array().cloned().unwrap_or_default();
        assert_eq!(m[0]["role"], "system");
        assert_eq!(m[0]["content"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(
            m[1],
            json!({"role": "user", "content": "Weather in Paris?"})
        );
        assert_eq!(m[2]["content"], "Checking.");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(m[2]["thinking_blocks"][0]["signature"], "sig");
        assert_eq!(
            m[3],
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]})
        );
        assert_eq!(m[4]["content"][0]["text"], "And tomorrow?");
        assert_eq!(
            m[4]["content"][1]["image_url"]["url"],
            "data:image/png;base64,iVBOR"
        );
        // The result parses as the core's request type.
        let parsed: Result<crate::types::ChatRequest, _> =
            serde_json::from_value(Value::Object(out));
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn thinking_becomes_reasoning_effort_or_goes() {
        let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}],
                          "thinking": {"type": "enabled", "budget_tokens": 2048}});
        let out = translate(body.clone(), Thinking::ReasoningEffort);
        assert_eq!(out["reasoning_effort"], "medium");
        assert!(out.get("thinking").is_none());
        let out = translate(body.clone(), Thinking::Drop);
        assert!(out.get("thinking").is_none() && out.get("reasoning_effort").is_none());
        let out = translate(body, Thinking::Keep);
        assert_eq!(out["thinking"]["budget_tokens"], 2048);
    }

    #[test]
    fn bad_requests_name_the_field() {
        for (body, expected) in [
            (json!({"model": "m"}), "messages: field required"),
            (
                json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "tools[0]",
            ),
            (
                json!({"model": "m", "messages": [], "tool_choice": {"type": "tool"}}),
                "tool_choice.name",
            ),
        ] {
            let Value::Object(m) = body else { continue };
            let e = to_openai(m, Thinking::Keep)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(expected), "{expected:?} not in {e:?}");
        }
    }
}
