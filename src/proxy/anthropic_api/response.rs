//! OpenAI chat response → Anthropic message.

use serde_json::{json, Map, Value};

use crate::types::{ChatResponse, Usage};

/// OpenAI `finish_reason` → Anthropic `stop_reason` (the inverse of
/// [`crate::providers::anthropic::finish_reason`]).
pub fn stop_reason(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter" | "refusal") => "refusal",
        _ => "end_turn",
    }
}

/// OpenAI usage → Anthropic usage: `input_tokens` excludes cache reads and writes, which
/// Anthropic counts apart (the inverse of `AnthropicUsage::to_openai`).
pub fn usage_to_anthropic(u: &Usage) -> Value {
    let read = u.cached_tokens();
    let created = u.cache_creation_input_tokens.unwrap_or(0);
    let input = u.prompt_tokens.saturating_sub(read + created);
    let mut m = Map::new();
    m.insert("input_tokens".into(), json!(input));
    m.insert("output_tokens".into(), json!(u.completion_tokens));
    m.insert("cache_creation_input_tokens".into(), json!(created));
    m.insert("cache_read_input_tokens".into(), json!(read));
    Value::Object(m)
}

/// The message id: Anthropic's form (`msg_...`) for ids that are not.
pub(super) fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_owned()
    } else if id.is_empty() {
        format!("msg_{}", crate::proxy::new_request_id().replace('-', ""))
    } else {
        format!("msg_{id}")
    }
}

/// An `id`, `name`, parsed `input` tool_use block from an OpenAI tool call's parts.
pub(super) fn tool_use_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
}

/// A `chat.completion` as an Anthropic `message`. `model` is the model the client asked
/// for (the model group).
pub fn to_anthropic(response: &ChatResponse, model: &str) -> Value {
    let choice = response.choices.first();
    let mut content = Vec::new();
    if let Some(c) = choice {
        let m = &c.message;
        if let Some(blocks) = &m.thinking_blocks {
            content.extend(blocks.iter().cloned());
        } else if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
            content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
        }
        if let Some(t) = m.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "text", "text": t}));
        } else if let Some(r) = m.refusal.as_deref().filter(|r| !r.is_empty()) {
            content.push(json!({"type": "text", "text": r}));
        }
        for call in m.tool_calls.iter().flatten() {
            content.push(json!({
                "type": "tool_use",
                "id": call.id,
                "name": call.function.name,
                "input": tool_use_input(&call.function.arguments),
            }));
        }
    }
    let usage = response.usage.clone().unwrap_or_default();
    json!({
        "id": message_id(&response.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.and_then(|c| c.finish_reason.as_deref())),
        "stop_sequence": null,
        "usage": usage_to_anthropic(&usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_response_translates() {
        let r: ChatResponse = serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
                "content": "Let me check.", "reasoning_content": "think",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
                      "prompt_tokens_details": {"cached_tokens": 10}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let m = to_anthropic(&r, "gpt");
        assert_eq!(m["id"], "msg_chatcmpl-1");
        assert_eq!(m["model"], "gpt");
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(
            m["content"][0],
            json!({"type": "thinking", "thinking": "think", "signature": ""})
        );
        assert_eq!(
            m["content"][1],
            json!({"type": "text", "text": "Let me check."})
        );
        assert_eq!(m["content"][2]["input"], json!({"city": "Paris"}));
        assert_eq!(m["usage"]["input_tokens"], 20);
        assert_eq!(m["usage"]["cache_read_input_tokens"], 10);
        assert_eq!(m["usage"]["output_tokens"], 7);
    }

    #[test]
    fn stop_reasons_map_back() {
        assert_eq!(stop_reason(Some("stop")), "end_turn");
        assert_eq!(stop_reason(Some("length")), "max_tokens");
        assert_eq!(stop_reason(Some("content_filter")), "refusal");
        assert_eq!(stop_reason(None), "end_turn");
    }
}
