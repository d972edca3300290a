//! Embeddings on Bedrock with InvokeModel (`POST /model/{id}/invoke`):
//!
//! - Amazon Titan Text Embeddings (`amazon.titan-embed-text-v2:0`, `-v1`):
//!   `{"inputText", "dimensions", "normalize"}` → `{"embedding", "inputTextTokenCount"}`.
//!   Titan embeds one text per request: a call with several inputs is refused before any
//!   request (send one per call, or use Cohere Embed, which takes a list).
//! - Cohere Embed (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`,
//!   `cohere.embed-v4:0`): `{"texts", "input_type"}` (default `search_document`, as
//!   LiteLLM; `input_type=` / `truncate=` / `embedding_types=` pass through; `dimensions` →
//!   v4's `output_dimension`) → `{"embeddings": [[...]]}` or `{"embeddings": {"float": ...}}`.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::{ErrorKind, LlmError};
use crate::providers::{parse_json, Target};
use crate::types::{
    Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, InputItem, Usage,
};

/// Which embeddings API a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedModel {
    Titan { v2: bool },
    Cohere { v4: bool },
}

impl EmbedModel {
    /// The API of `base` (a model id without region prefix or ARN), if it embeds.
    pub fn of(base: &str) -> Option<EmbedModel> {
        let b = base.to_ascii_lowercase();
        if b.starts_with("amazon.titan-embed-text") {
            Some(EmbedModel::Titan {
                v2: b.contains("-v2"),
            })
        } else if b.starts_with("cohere.embed") {
            Some(EmbedModel::Cohere {
                v4: b.contains("v4"),
            })
        } else {
            None
        }
    }

    /// The OpenAI embedding parameters the model accepts.
    pub fn params(self) -> Vec<&'static str> {
        match self {
            EmbedModel::Titan { v2: true } | EmbedModel::Cohere { v4: true } => {
                vec!["dimensions", "encoding_format"]
            }
            _ => vec!["encoding_format"],
        }
    }
}

fn texts(req: &EmbeddingRequest) -> Result<Vec<&str>, LlmError> {
    req.input
        .items()
        .into_iter()
        .map(|item| match item {
            InputItem::Text(t) => Ok(t),
            InputItem::Tokens(_) => Err(LlmError::bad_request(
                "Bedrock embeddings take text input, not token ids",
            )),
        })
        .collect()
}

/// The InvokeModel body for an embeddings request.
pub fn encode_body(req: &EmbeddingRequest, model: EmbedModel) -> Result<Bytes, LlmError> {
    let texts = texts(req)?;
    let mut body = Map::new();
    match model {
        EmbedModel::Titan { v2 } => {
            let [text] = texts.as_slice() else {
                return Err(LlmError::bad_request(format!(
                    "Amazon Titan embeds one text per request and {} were given: call embedding() once per text, or use a Cohere Embed model on Bedrock, which takes a list",
                    texts.len()
                )));
            };
            body.insert("inputText".into(), json!(text));
            if let Some(d) = req.dimensions.filter(|_| v2) {
                body.insert("dimensions".into(), json!(d));
            }
        }
        EmbedModel::Cohere { v4 } => {
            body.insert("texts".into(), json!(texts));
            body.insert("input_type".into(), json!("search_document"));
            if let Some(d) = req.dimensions.filter(|_| v4) {
                body.insert("output_dimension".into(), json!(d));
            }
        }
    }
    for (k, v) in &req.extra {
        body.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&Value::Object(body))
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

fn floats(value: &Value) -> Option<Vec<f64>> {
    value
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<Vec<f64>>>()
}

/// An InvokeModel embeddings answer → OpenAI's `list`.
pub fn parse_response(
    body: &[u8],
    model: EmbedModel,
    target: &Target,
) -> Result<EmbeddingResponse, LlmError> {
    let value: Value =
        parse_json(body, "Bedrock embeddings response").map_err(|e| target.annotate(e))?;
    let bad = || {
        target.annotate(LlmError::new(
            ErrorKind::Api,
            format!(
                "Unexpected Bedrock embeddings response: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
        ))
    };
    let (vectors, usage) = match model {
        EmbedModel::Titan { .. } => {
            let v = value.get("embedding").and_then(floats).ok_or_else(bad)?;
            let tokens = value.get("inputTextTokenCount").and_then(Value::as_u64);
            (vec![v], tokens.map(|t| Usage::new(t, 0)))
        }
        EmbedModel::Cohere { .. } => {
            let embeddings = value.get("embeddings").ok_or_else(bad)?;
            let list = match embeddings {
                Value::Object(by_type) => by_type.get("float").ok_or_else(bad)?,
                other => other,
            };
            let vectors = list
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(floats)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?;
            (vectors, None)
        }
    };
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            Embedding::new(
                u32::try_from(i).unwrap_or(u32::MAX),
                EmbeddingVector::Float(v),
            )
        })
        .collect();
    Ok(EmbeddingResponse::new(target.model.clone(), data, usage))
}
