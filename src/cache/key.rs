//! Cache keys: the SHA-256 (in hex) of what determines an answer.
//!
//! A chat key covers the model string, the messages, every OpenAI parameter (except
//! `stream_options`, which only decides whether the caller sees the usage chunk; a stream
//! is always stored with it) and every provider-specific parameter, plus whether the call
//! streams (a stream is stored as its chunks). An embeddings key covers one input with the
//! model and the parameters. Credentials, timeouts, retries, metadata and the mock are not
//! in keys. Provider-specific parameters are hashed in key order, so keyword order does not
//! change a key.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::types::{ChatParams, ChatRequest, EmbeddingRequest, InputItem, Message};

/// Bumped when what a key covers, or the stored format, changes.
const KEY_VERSION: &str = "llmswitch-cache-v1";

/// Feeds serde_json's output straight into the hash (no JSON text is allocated).
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hash_of(value: &impl Serialize) -> String {
    let mut w = HashWriter(Sha256::new());
    // Serializing plain data into a hash cannot fail; if it did, the key would still be
    // the hash of what was written.
    let _ = serde_json::to_writer(&mut w, value);
    let digest = w.0.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

fn sorted(extra: &Map<String, Value>) -> BTreeMap<&str, &Value> {
    extra.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

#[derive(Serialize)]
struct ChatKey<'a> {
    v: &'static str,
    model: &'a str,
    messages: &'a [Message],
    params: &'a ChatParams,
    extra: BTreeMap<&'a str, &'a Value>,
    stream: bool,
}

/// The key of a chat call of `model` (the caller's model string, or a router's model group).
pub fn chat_key(model: &str, request: &ChatRequest, stream: bool) -> String {
    let without_stream_options;
    let params = if request.params.stream_options.is_some() {
        without_stream_options = ChatParams {
            stream_options: None,
            ..request.params.clone()
        };
        &without_stream_options
    } else {
        &request.params
    };
    hash_of(&ChatKey {
        v: KEY_VERSION,
        model,
        messages: &request.messages,
        params,
        extra: sorted(&request.extra),
        stream,
    })
}

#[derive(Serialize)]
#[serde(untagged)]
enum ItemKey<'a> {
    Text(&'a str),
    Tokens(&'a [u32]),
}

#[derive(Serialize)]
struct EmbeddingKey<'a> {
    v: &'static str,
    model: &'a str,
    input: ItemKey<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<crate::types::EncodingFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    extra: BTreeMap<&'a str, &'a Value>,
}

/// The key of one input of an embeddings call of `model`.
pub fn embedding_item_key(model: &str, request: &EmbeddingRequest, item: InputItem<'_>) -> String {
    hash_of(&EmbeddingKey {
        v: KEY_VERSION,
        model,
        input: match item {
            InputItem::Text(t) => ItemKey::Text(t),
            InputItem::Tokens(t) => ItemKey::Tokens(t),
        },
        dimensions: request.dimensions,
        encoding_format: request.encoding_format,
        user: request.user.as_deref(),
        extra: sorted(&request.extra),
    })
}
