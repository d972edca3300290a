//! The OpenAI embeddings wire format (`POST /embeddings`): request and `list` response.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::response::Usage;

/// What to embed, in one of OpenAI's four forms. A list embeds each item separately, and the
/// response has one vector per item, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    /// One input given as token ids.
    Tokens(Vec<u32>),
    /// Several inputs given as token ids.
    TokenLists(Vec<Vec<u32>>),
}

/// The accepted forms, for error messages.
const INPUT_FORMS: &str =
    "a string, a list of strings, a list of token ids, or a list of token-id lists";

impl EmbeddingInput {
    /// Read the input from JSON, with an error that names the forms accepted.
    pub fn from_value(value: Value) -> Result<EmbeddingInput, String> {
        let token = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        match value {
            Value::String(s) => Ok(EmbeddingInput::Text(s)),
            Value::Array(items) => {
                let Some(first) = items.first() else {
                    return Ok(EmbeddingInput::Texts(Vec::new()));
                };
                let mismatch = |i: usize| {
                    format!("input[{i}] does not match input[0]: input must be {INPUT_FORMS}")
                };
                match first {
                    Value::String(_) => items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| match v {
                            Value::String(s) => Ok(s),
                            _ => Err(mismatch(i)),
                        })
                        .collect::<Result<_, _>>()
                        .map(EmbeddingInput::Texts),
                    Value::Number(_) => items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            token(v).ok_or_else(|| {
                                format!("input[{i}] is not a token id (a non-negative integer)")
                            })
                        })
                        .collect::<Result<_, _>>()
                        .map(EmbeddingInput::Tokens),
                    Value::Array(_) => items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| match v {
                            Value::Array(ids) => ids
                                .iter()
                                .enumerate()
                                .map(|(j, id)| {
                                    token(id).ok_or_else(|| {
                                        format!("input[{i}][{j}] is not a token id (a non-negative integer)")
                                    })
                                })
                                .collect::<Result<Vec<u32>, _>>(),
                            _ => Err(mismatch(i)),
                        })
                        .collect::<Result<_, _>>()
                        .map(EmbeddingInput::TokenLists),
                    _ => Err(format!("input must be {INPUT_FORMS}")),
                }
            }
            _ => Err(format!("input must be {INPUT_FORMS}")),
        }
    }

    /// The number of inputs, i.e. of vectors the response will have.
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Texts(t) => t.len(),
            EmbeddingInput::TokenLists(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Why this input cannot be sent: no inputs, or an empty one (OpenAI rejects both).
    pub fn problem(&self) -> Option<String> {
        match self {
            EmbeddingInput::Text(s) if s.is_empty() => Some("input is an empty string".into()),
            EmbeddingInput::Tokens(t) if t.is_empty() => Some("input is an empty list".into()),
            EmbeddingInput::Texts(t) if t.is_empty() => Some("input is an empty list".into()),
            EmbeddingInput::TokenLists(t) if t.is_empty() => Some("input is an empty list".into()),
            EmbeddingInput::Texts(t) => t
                .iter()
                .position(String::is_empty)
                .map(|i| format!("input[{i}] is an empty string")),
            EmbeddingInput::TokenLists(t) => t
                .iter()
                .position(Vec::is_empty)
                .map(|i| format!("input[{i}] is an empty list of token ids")),
            _ => None,
        }
    }

    /// Each input, as text or as token ids.
    pub fn items(&self) -> Vec<InputItem<'_>> {
        match self {
            EmbeddingInput::Text(s) => vec![InputItem::Text(s)],
            EmbeddingInput::Texts(t) => t.iter().map(|s| InputItem::Text(s)).collect(),
            EmbeddingInput::Tokens(ids) => vec![InputItem::Tokens(ids)],
            EmbeddingInput::TokenLists(t) => t.iter().map(|ids| InputItem::Tokens(ids)).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for EmbeddingInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        EmbeddingInput::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl From<&str> for EmbeddingInput {
    fn from(s: &str) -> Self {
        EmbeddingInput::Text(s.to_owned())
    }
}

impl From<Vec<&str>> for EmbeddingInput {
    fn from(v: Vec<&str>) -> Self {
        EmbeddingInput::Texts(v.into_iter().map(str::to_owned).collect())
    }
}

/// One input of an [`EmbeddingInput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputItem<'a> {
    Text(&'a str),
    Tokens(&'a [u32]),
}

/// `encoding_format`: how vectors come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// A list of floats (the default).
    Float,
    /// The little-endian float32 bytes of the vector, base64-encoded.
    Base64,
}

/// An embeddings request in OpenAI's format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: EmbeddingInput,
    /// Output vector size, for models that can shorten their vectors (OpenAI's
    /// `text-embedding-3-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<EncodingFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Provider-specific fields (`input_type`, `truncate`, ...), passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Embedding parameters as OpenAI names them, in the order of its API reference.
pub const EMBEDDING_PARAMS: &[&str] = &["dimensions", "encoding_format", "user"];

impl EmbeddingRequest {
    pub fn new(model: impl Into<String>, input: impl Into<EmbeddingInput>) -> Self {
        EmbeddingRequest {
            model: model.into(),
            input: input.into(),
            dimensions: None,
            encoding_format: None,
            user: None,
            extra: Map::new(),
        }
    }

    /// Names of the OpenAI embedding parameters that are set.
    pub fn set_params(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.dimensions.is_some() {
            out.push("dimensions");
        }
        if self.encoding_format.is_some() {
            out.push("encoding_format");
        }
        if self.user.is_some() {
            out.push("user");
        }
        out
    }

    /// Unset a parameter by name. Returns whether the name is an embedding parameter.
    pub fn clear(&mut self, name: &str) -> bool {
        match name {
            "dimensions" => self.dimensions = None,
            "encoding_format" => self.encoding_format = None,
            "user" => self.user = None,
            _ => return false,
        }
        true
    }
}

/// A vector: floats, or (with `encoding_format="base64"`) the base64 of its float32 bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f64>),
    Base64(String),
}

impl EmbeddingVector {
    /// The vector as `encoding_format="base64"` asks for it (floats are converted).
    pub fn into_base64(self) -> EmbeddingVector {
        match self {
            EmbeddingVector::Float(v) => EmbeddingVector::Base64(float32_base64(&v)),
            b @ EmbeddingVector::Base64(_) => b,
        }
    }
}

/// A vector as OpenAI's `encoding_format="base64"` sends it: the base64 of its little-endian
/// float32 bytes.
pub fn float32_base64(vector: &[f64]) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = vector
        .iter()
        .flat_map(|x| (*x as f32).to_le_bytes())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One vector of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    #[serde(default = "embedding_object")]
    pub object: String,
    #[serde(default)]
    pub index: u32,
    pub embedding: EmbeddingVector,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn embedding_object() -> String {
    "embedding".to_owned()
}

impl Embedding {
    pub fn new(index: u32, embedding: EmbeddingVector) -> Self {
        Embedding {
            object: embedding_object(),
            index,
            embedding,
            extra: Map::new(),
        }
    }
}

/// An embeddings response (`"object": "list"`). `usage` has `prompt_tokens` and
/// `total_tokens` as OpenAI sends them, and `completion_tokens: 0` as LiteLLM reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<Embedding>,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn list_object() -> String {
    "list".to_owned()
}

impl EmbeddingResponse {
    pub fn new(model: impl Into<String>, data: Vec<Embedding>, usage: Option<Usage>) -> Self {
        EmbeddingResponse {
            object: list_object(),
            data,
            model: model.into(),
            usage,
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_forms_round_trip() {
        for v in [
            json!("hello"),
            json!(["a", "b"]),
            json!([1, 2, 3]),
            json!([[1, 2], [3]]),
        ] {
            let input: EmbeddingInput = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&input).unwrap(), v);
        }
        let tokens: EmbeddingInput = serde_json::from_value(json!([[1, 2], [3]])).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.items()[1], InputItem::Tokens(&[3]));
    }

    #[test]
    fn bad_inputs_say_what_is_accepted() {
        let err = EmbeddingInput::from_value(json!(["a", 1])).unwrap_err();
        assert!(err.contains("input[1]"), "{err}");
        let err = EmbeddingInput::from_value(json!([1, -2])).unwrap_err();
        assert!(err.contains("input[1] is not a token id"), "{err}");
        let err = EmbeddingInput::from_value(json!({"text": "x"})).unwrap_err();
        assert!(err.contains("a list of token-id lists"), "{err}");
        assert!(EmbeddingInput::from_value(json!([true])).is_err());
        assert_eq!(
            EmbeddingInput::from_value(json!([])).unwrap().problem(),
            Some("input is an empty list".into())
        );
        assert_eq!(
            EmbeddingInput::from_value(json!(["a", ""]))
                .unwrap()
                .problem(),
            Some("input[1] is an empty string".into())
        );
        assert_eq!(EmbeddingInput::from("x").problem(), None);
    }

    #[test]
    fn request_body_has_only_what_is_set() {
        let mut req = EmbeddingRequest::new("text-embedding-3-small", vec!["a", "b"]);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]})
        );
        req.dimensions = Some(256);
        req.encoding_format = Some(EncodingFormat::Base64);
        req.extra.insert("input_type".into(), json!("query"));
        assert_eq!(req.set_params(), vec!["dimensions", "encoding_format"]);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256,
                   "encoding_format": "base64", "input_type": "query"})
        );
    }

    #[test]
    fn float32_base64_is_little_endian() {
        // 0.5f32 = 0x3f000000 → bytes 00 00 00 3f.
        assert_eq!(float32_base64(&[0.5]), "AAAAPw==");
        assert_eq!(
            EmbeddingVector::Float(vec![0.5]).into_base64(),
            EmbeddingVector::Base64("AAAAPw==".into())
        );
    }

    #[test]
    fn response_parses_floats_and_base64() {
        let r: EmbeddingResponse = serde_json::from_value(json!({
            "object": "list", "model": "m",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1]},
                     {"object": "embedding", "index": 1, "embedding": "AAAAPw=="}],
            "usage": {"prompt_tokens": 3, "total_tokens": 3}
        }))
        .unwrap();
        assert_eq!(r.data[0].embedding, EmbeddingVector::Float(vec![0.5, -1.0]));
        assert_eq!(
            r.data[1].embedding,
            EmbeddingVector::Base64("AAAAPw==".into())
        );
        assert_eq!(r.usage.unwrap().prompt_tokens, 3);
    }
}
