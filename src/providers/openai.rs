//! The OpenAI chat-completions and embeddings wire formats: request bodies, responses, stream
//! chunks and error bodies. Used by every OpenAI-compatible host (see `openai_compatible.rs`) and reusable by
//! any provider that speaks this dialect.

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{is_content_policy_message, is_context_window_message, ErrorKind, LlmError};
use crate::http::retry_after_seconds;
use crate::providers::{parse_json, HttpRequest, StreamParser, Target};
use crate::stream::{Frame, StreamControl};
use crate::types::{
    openai_service_tier, ChatChunk, ChatParams, ChatRequest, ChatResponse, EmbeddingInput,
    EmbeddingRequest, EmbeddingResponse, EncodingFormat, Message,
};

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(flatten)]
    params: &'a ChatParams,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Serialize `req` as an OpenAI chat-completions body.
pub fn encode_body(req: &ChatRequest, model: &str, stream: bool) -> Result<Bytes, LlmError> {
    let body = Body {
        model,
        messages: &req.messages,
        params: &req.params,
        stream,
        extra: &req.extra,
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

/// Headers for a bearer-token JSON request, plus the caller's extra headers.
pub fn json_headers(target: &Target, auth: AuthStyle) -> Result<HeaderMap, LlmError> {
    let mut headers = HeaderMap::with_capacity(2 + target.extra_headers.len());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(key) = &target.api_key {
        let (name, value) = match auth {
            AuthStyle::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose_secret())),
            AuthStyle::Header(name) => (
                HeaderName::from_static(name),
                key.expose_secret().to_owned(),
            ),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            LlmError::new(
                ErrorKind::Authentication,
                "The API key contains characters that cannot be sent in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    add_extra_headers(&mut headers, &target.extra_headers)?;
    Ok(headers)
}

/// How a key is sent.
#[derive(Debug, Clone, Copy)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key as the value of a named header (lowercase), e.g. `api-key`.
    Header(&'static str),
}

/// Append caller-supplied headers, with a clear error for invalid names or values.
pub fn add_extra_headers(
    headers: &mut HeaderMap,
    extra: &[(String, String)],
) -> Result<(), LlmError> {
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            LlmError::bad_request(format!("extra_headers: invalid header name {name:?}"))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            LlmError::bad_request(format!("extra_headers: invalid value for header {name}"))
        })?;
        headers.insert(name, value);
    }
    Ok(())
}

/// Join `api_base` and `path` the way LiteLLM (and the openai SDK's `base_url`) do: the
/// path is appended to the base, unless the base already ends with it.
pub fn endpoint(api_base: &str, path: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base.ends_with(path) {
        base.to_owned()
    } else {
        format!("{base}{path}")
    }
}

/// Build the POST `{api_base}/chat/completions` request.
pub fn build_request(
    req: &ChatRequest,
    target: &Target,
    stream: bool,
    auth: AuthStyle,
) -> Result<HttpRequest, LlmError> {
    Ok(HttpRequest {
        url: endpoint(&target.api_base, "/chat/completions"),
        headers: json_headers(target, auth)?,
        body: encode_body(req, &target.model, stream)?,
    })
}

/// Parse a `chat.completion` body. Some hosts answer errors with status 200 and an
/// `{"error": ...}` body; those become errors here.
pub fn parse_response(body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
    match parse_json::<ChatResponse>(body, "chat.completion response") {
        Ok(mut r) => {
            r.normalize_service_tier();
            Ok(r)
        }
        Err(parse_err) => match serde_json::from_slice::<Value>(body) {
            Ok(v) if v.get("error").is_some() => {
                Err(error_from_body(500, &HeaderMap::new(), body, target))
            }
            _ => Err(target.annotate(parse_err)),
        },
    }
}

#[derive(Serialize)]
struct EmbeddingBody<'a> {
    model: &'a str,
    input: &'a EmbeddingInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<EncodingFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Serialize `req` as an OpenAI embeddings body for `model`.
pub fn encode_embedding_body(req: &EmbeddingRequest, model: &str) -> Result<Bytes, LlmError> {
    let body = EmbeddingBody {
        model,
        input: &req.input,
        dimensions: req.dimensions,
        encoding_format: req.encoding_format,
        user: req.user.as_deref(),
        extra: &req.extra,
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

/// Build the POST `{api_base}/embeddings` request.
pub fn build_embedding_request(
    req: &EmbeddingRequest,
    target: &Target,
    auth: AuthStyle,
) -> Result<HttpRequest, LlmError> {
    Ok(HttpRequest {
        url: endpoint(&target.api_base, "/embeddings"),
        headers: json_headers(target, auth)?,
        body: encode_embedding_body(req, &target.model)?,
    })
}

/// Parse an embeddings `list` body, vectors in input order. As for chat, an `{"error": ...}`
/// body with status 200 is an error.
pub fn parse_embedding_response(
    body: &[u8],
    target: &Target,
) -> Result<EmbeddingResponse, LlmError> {
    match parse_json::<EmbeddingResponse>(body, "embeddings response") {
        Ok(mut r) => {
            if !r.data.is_sorted_by_key(|e| e.index) {
                r.data.sort_by_key(|e| e.index);
            }
            Ok(r)
        }
        Err(parse_err) => match serde_json::from_slice::<Value>(body) {
            Ok(v) if v.get("error").is_some() => {
                Err(error_from_body(500, &HeaderMap::new(), body, target))
            }
            _ => Err(target.annotate(parse_err)),
        },
    }
}

/// Map an OpenAI-style error response (`{"error": {"message", "type", "code", "param"}}`).
pub fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error_obj = parsed.as_ref().and_then(|v| v.get("error"));
    let message = match error_obj {
        Some(Value::Object(o)) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        Some(Value::String(s)) => s.clone(),
        _ => parsed
            .as_ref()
            .and_then(|v| v.get("message").or_else(|| v.get("detail")))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                if text.trim().is_empty() {
                    format!("HTTP {status} with an empty body")
                } else {
                    text.chars().take(1000).collect()
                }
            }),
    };
    let code = error_obj
        .and_then(|e| e.get("code").or_else(|| e.get("type")))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut kind = ErrorKind::from_status(status);
    if matches!(
        kind,
        ErrorKind::BadRequest | ErrorKind::Api | ErrorKind::UnprocessableEntity
    ) || status == 413
    {
        if code == "context_length_exceeded" || is_context_window_message(&message) {
            kind = ErrorKind::ContextWindowExceeded;
        } else if code == "content_policy_violation"
            || code == "content_filter"
            || is_content_policy_message(&message)
        {
            kind = ErrorKind::ContentPolicyViolation;
        }
    }
    let body_value =
        parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
    target.annotate(
        LlmError::new(kind, message)
            .with_status(status)
            .with_body(redact_value(body_value, &target.secrets()))
            .with_retry_after(retry_after_seconds(headers)),
    )
}

/// Redact secrets inside every string of a JSON value.
pub fn redact_value(value: Value, secrets: &[&str]) -> Value {
    match value {
        Value::String(s) => Value::String(crate::redact::redact(&s, secrets)),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| redact_value(v, secrets)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, redact_value(v, secrets)))
                .collect(),
        ),
        other => other,
    }
}

/// Parses OpenAI SSE frames: each `data:` is a chunk, `[DONE]` ends the stream, and an
/// `{"error": ...}` frame becomes the mapped error.
pub struct OpenAiStreamParser {
    target: Target,
}

impl OpenAiStreamParser {
    pub fn new(target: &Target) -> Self {
        OpenAiStreamParser {
            target: target.clone(),
        }
    }
}

impl OpenAiStreamParser {
    /// An `{"error": ...}` frame: the status comes from a numeric `code` when there is one.
    fn stream_error(&self, err: &Value, data: &str) -> LlmError {
        let status = err
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .unwrap_or(500);
        error_from_body(status, &HeaderMap::new(), data.as_bytes(), &self.target)
    }
}

impl StreamParser for OpenAiStreamParser {
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
        match serde_json::from_str::<ChatChunk>(data) {
            Ok(mut chunk) => match chunk.extra.get("error") {
                Some(err) if !err.is_null() => Err(self.stream_error(err, data)),
                _ => {
                    if let Some(Value::String(tier)) = chunk.extra.get_mut("service_tier") {
                        if let Some(openai) = openai_service_tier(tier) {
                            *tier = openai.to_owned();
                        }
                    }
                    out.push(chunk);
                    Ok(StreamControl::Continue)
                }
            },
            Err(parse_err) => {
                if let Ok(v) = serde_json::from_str::<Value>(data) {
                    if let Some(err) = v.get("error") {
                        return Err(self.stream_error(err, data));
                    }
                }
                Err(self.target.annotate(LlmError::new(
                    ErrorKind::Api,
                    format!(
                        "Could not parse a stream chunk: {parse_err}. Chunk: {}",
                        data.chars().take(300).collect::<String>()
                    ),
                )))
            }
        }
    }
}
