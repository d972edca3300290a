//! Response side of the OpenAI chat format (`chat.completion`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::request::ToolCall;

/// A `chat.completion` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    #[serde(default = "completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The host's own `service_tier` when it was outside OpenAI's set and replaced
    /// ([`ChatResponse::normalize_service_tier`]); shown in `_hidden_params`.
    #[serde(skip)]
    pub provider_service_tier: Option<String>,
}

/// The `service_tier` values of OpenAI's API (and its SDK's types).
pub const OPENAI_SERVICE_TIERS: &[&str] = &["auto", "default", "flex", "scale", "priority"];

/// A host's `service_tier` value in OpenAI's set: unknown ones (Groq's `on_demand`) become
/// `auto`, as LiteLLM does for Groq, so responses validate as OpenAI's types. `None` when
/// the value is already OpenAI's.
pub fn openai_service_tier(tier: &str) -> Option<&'static str> {
    (!OPENAI_SERVICE_TIERS.contains(&tier)).then_some("auto")
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

impl ChatResponse {
    /// An empty response shell with a fresh id and the current time.
    pub fn new(model: impl Into<String>) -> Self {
        ChatResponse {
            id: super::new_id("chatcmpl-"),
            object: completion_object(),
            created: super::unix_now(),
            model: model.into(),
            choices: Vec::new(),
            usage: None,
            system_fingerprint: None,
            service_tier: None,
            extra: Map::new(),
            provider_service_tier: None,
        }
    }

    /// Replace a `service_tier` outside OpenAI's set, keeping the host's value in
    /// `provider_service_tier`.
    pub fn normalize_service_tier(&mut self) {
        let Some(tier) = self.service_tier.as_deref() else {
            return;
        };
        if let Some(openai) = openai_service_tier(tier) {
            self.provider_service_tier = self.service_tier.replace(openai.to_owned());
        }
    }

    /// The first choice's text content, if any.
    pub fn text(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }
}

/// One choice of a `chat.completion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ResponseMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The assistant message of a choice. `content`, `tool_calls` and `function_call` are always
/// present (possibly null), as LiteLLM's `Message` has them, so attribute access never fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    #[serde(default = "assistant_role")]
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    pub function_call: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text from providers that expose it (Anthropic thinking, DeepSeek, Gemini).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Provider-native reasoning blocks (Anthropic `thinking` with signatures), kept so they
    /// can be sent back in multi-turn tool use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

impl Default for ResponseMessage {
    fn default() -> Self {
        ResponseMessage {
            role: assistant_role(),
            content: None,
            tool_calls: None,
            function_call: None,
            refusal: None,
            reasoning_content: None,
            thinking_blocks: None,
            extra: Map::new(),
        }
    }
}

/// Token usage. `prompt_tokens` includes cached tokens; Anthropic-style cache write/read
/// counts are kept alongside (as LiteLLM reports them) for cost accounting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Default::default()
        }
    }

    /// Cached prompt tokens (read from cache), from whichever field the provider filled.
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .or(self.cache_read_input_tokens)
            .unwrap_or(0)
    }

    /// Reasoning tokens inside `completion_tokens`.
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
    }
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_openai_response_and_keeps_nulls() {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": null, "annotations": []},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                      "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 0}},
            "system_fingerprint": "fp"
        });
        let r: ChatResponse = serde_json::from_value(body).unwrap();
        assert_eq!(r.text(), Some("hi"));
        assert_eq!(r.usage.as_ref().unwrap().cached_tokens(), 2);
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(out["choices"][0]["message"]["tool_calls"], Value::Null);
        assert_eq!(out["choices"][0]["message"]["annotations"], json!([]));
    }
}
