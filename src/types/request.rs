//! Request side of the OpenAI chat format: messages, content parts, tools and parameters.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Who wrote a message.
// Declared in the order an error message lists them (`function` is deprecated: last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
    Developer,
    Function,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }
}

/// A message's content: a plain string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a string or a list of content parts")]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text of the message: the string itself, or the text parts joined.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(s) => s.clone(),
            MessageContent::Parts(parts) => {
                let mut out = String::new();
                for part in parts {
                    if let Some(t) = &part.text {
                        out.push_str(t);
                    }
                }
                out
            }
        }
    }
}

/// One content part (`text`, `image_url`, `input_audio`, `file`, ...). Fields other than
/// `text` and `image_url` (for example `cache_control`) are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrl>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image reference. Accepts OpenAI's `{"url": ..., "detail": ...}` and, as LiteLLM
/// does, a bare URL string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ImageUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object {
            url: String,
            #[serde(default)]
            detail: Option<String>,
            #[serde(flatten)]
            extra: Map<String, Value>,
        }
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a URL string or {\"url\": ...}")]
        enum Either {
            Url(String),
            Object(Object),
        }
        Ok(match Either::deserialize(d)? {
            Either::Url(url) => ImageUrl {
                url,
                detail: None,
                extra: Map::new(),
            },
            Either::Object(o) => ImageUrl {
                url: o.url,
                detail: o.detail,
                extra: o.extra,
            },
        })
    }
}

/// A function call made by the assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// Name and JSON-encoded arguments of a function call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// Always a JSON string on the wire; callers that pass an object get it encoded.
    #[serde(deserialize_with = "arguments_as_string")]
    pub arguments: String,
}

fn arguments_as_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    })
}

/// A chat message in OpenAI format. Unknown fields (`cache_control`, `reasoning_content`,
/// `thinking_blocks`, ...) are kept in `extra` and passed to providers that understand them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a message like {\"role\": \"user\", \"content\": \"hi\"}")]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn is_none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(|v| v.is_empty())
}

impl Message {
    /// A user message with plain text content.
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// The message's text content (text parts joined), or empty.
    pub fn text(&self) -> String {
        self.content
            .as_ref()
            .map(MessageContent::text)
            .unwrap_or_default()
    }

    /// Whether any content part is an image.
    pub fn has_image(&self) -> bool {
        matches!(&self.content, Some(MessageContent::Parts(parts)) if parts.iter().any(|p| p.image_url.is_some() || p.kind == "image_url"))
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a tool like {\"type\": \"function\", \"function\": {\"name\": ...}}")]
pub struct Tool {
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionDef,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A function's name, description and JSON-schema parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: `"auto" | "none" | "required"` or `{"type": "function", "function": {"name": ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named(Value),
}

impl ToolChoice {
    /// The forced function's name for a named choice.
    pub fn function_name(&self) -> Option<&str> {
        match self {
            ToolChoice::Named(v) => v.pointer("/function/name").and_then(Value::as_str),
            ToolChoice::Mode(_) => None,
        }
    }
}

/// `response_format`: `text`, `json_object` or `json_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a response format like {\"type\": \"json_object\"}")]
pub struct ResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaFormat>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `json_schema` member of a `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `stop`: one string or a list, normalised to a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct StopSequences(pub Vec<String>);

impl<'de> Deserialize<'de> for StopSequences {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a string or a list of strings")]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        Ok(StopSequences(match Either::deserialize(d)? {
            Either::One(s) => vec![s],
            Either::Many(v) => v,
        }))
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Reads one parameter's value into its type: the front door's reader
/// ([`crate::call::args`]), which explains a bad value in words.
pub trait ParamReader {
    type Error;
    /// The value as `T`; `None` for null.
    fn read<T: serde::de::DeserializeOwned>(self) -> Result<Option<T>, Self::Error>;
}

/// Declares [`ChatParams`] once, and derives from the same list the names of the
/// parameters that are set and a by-name clear (used by `drop_params`).
macro_rules! chat_params {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty ),* $(,)?) => {
        /// The OpenAI chat parameters llmswitch understands and translates. Everything
        /// else a caller passes travels in [`ChatRequest::extra`].
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct ChatParams {
            $( $(#[$doc])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
        }

        /// The names of every parameter in [`ChatParams`], in declaration order.
        pub const OPENAI_PARAMS: &[&str] = &[$(stringify!($field)),*];

        impl ChatParams {
            /// Names of the parameters that are set.
            pub fn set_names(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$field.is_some() { out.push(stringify!($field)); } )*
                out
            }

            /// Set every parameter that is unset here to its value in `defaults`.
            pub fn fill_from(&mut self, defaults: &ChatParams) {
                $( if self.$field.is_none() { self.$field.clone_from(&defaults.$field); } )*
            }

            /// Set the parameter `name` from `reader`, typed. `None` when `name` is not a
            /// parameter.
            pub fn set_with<R: ParamReader>(
                &mut self,
                name: &str,
                reader: R,
            ) -> Option<Result<(), R::Error>> {
                match name {
                    $( stringify!($field) => Some(reader.read::<$ty>().map(|v| self.$field = v)), )*
                    _ => None,
                }
            }

            /// Unset a parameter by name. Returns whether the name is a known parameter.
            pub fn clear(&mut self, name: &str) -> bool {
                match name {
                    $( stringify!($field) => { self.$field = None; true } )*
                    _ => false,
                }
            }
        }
    };
}

chat_params! {
    temperature: f64,
    top_p: f64,
    n: u32,
    stop: StopSequences,
    max_tokens: u32,
    max_completion_tokens: u32,
    presence_penalty: f64,
    frequency_penalty: f64,
    logit_bias: Map<String, Value>,
    logprobs: bool,
    top_logprobs: u32,
    user: String,
    seed: i64,
    tools: Vec<Tool>,
    tool_choice: ToolChoice,
    parallel_tool_calls: bool,
    response_format: ResponseFormat,
    stream_options: StreamOptions,
    reasoning_effort: String,
    modalities: Vec<String>,
    audio: Value,
    prediction: Value,
    service_tier: String,
    store: bool,
    web_search_options: Value,
}

/// A chat request in OpenAI format, with the provider prefix already removed from `model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(flatten)]
    pub params: ChatParams,
    /// Provider-specific parameters passed through to the provider's body unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            params: ChatParams::default(),
            extra: Map::new(),
        }
    }

    /// `max_completion_tokens`, else `max_tokens`.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.params.max_completion_tokens.or(self.params.max_tokens)
    }

    /// Whether any message carries an image part.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(Message::has_image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_round_trips_unknown_fields() {
        let v = json!({"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}], "custom": 1});
        let m: Message = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(m.extra["custom"], json!(1));
        assert_eq!(serde_json::to_value(&m).unwrap(), v);
    }

    #[test]
    fn image_url_accepts_bare_string() {
        let p: ContentPart =
            serde_json::from_value(json!({"type": "image_url", "image_url": "https://x/y.png"}))
                .unwrap();
        assert_eq!(p.image_url.unwrap().url, "https://x/y.png");
    }

    #[test]
    fn tool_call_arguments_object_is_encoded() {
        let c: ToolCall = serde_json::from_value(
            json!({"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}),
        )
        .unwrap();
        assert_eq!(c.function.arguments, r#"{"a":1}"#);
        assert_eq!(c.kind, "function");
    }

    #[test]
    fn params_names_and_clear() {
        let mut p = ChatParams {
            temperature: Some(0.1),
            seed: Some(3),
            ..Default::default()
        };
        assert_eq!(p.set_names(), vec!["temperature", "seed"]);
        assert!(p.clear("seed"));
        assert!(!p.clear("nope"));
        assert_eq!(p.set_names(), vec!["temperature"]);
        assert!(OPENAI_PARAMS.contains(&"tool_choice"));
    }

    #[test]
    fn stop_accepts_string_or_list() {
        let p: ChatParams = serde_json::from_value(json!({"stop": "END"})).unwrap();
        assert_eq!(p.stop.unwrap().0, vec!["END"]);
        let p: ChatParams = serde_json::from_value(json!({"stop": ["a", "b"]})).unwrap();
        assert_eq!(p.stop.unwrap().0, vec!["a", "b"]);
    }

    #[test]
    fn empty_tool_calls_are_not_sent() {
        let m: Message =
            serde_json::from_value(json!({"role": "assistant", "content": "x", "tool_calls": []}))
                .unwrap();
        assert!(serde_json::to_value(&m)
            .unwrap()
            .get("tool_calls")
            .is_none());
    }
}
