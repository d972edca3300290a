//! Bedrock's errors → LiteLLM's classes. The error type comes from the
//! `x-amzn-errortype` header (`ValidationException:http://internal.amazon.com/...`), else
//! the body's `__type`, else the HTTP status; the message from the body's `message`.
//! Exceptions inside a stream (`:exception-type` frames) map the same way.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::error::{is_content_policy_message, is_context_window_message, ErrorKind, LlmError};
use crate::http::retry_after_seconds;
use crate::providers::openai::redact_value;
use crate::providers::Target;

/// Phrases with which Bedrock's models say the prompt is too long (LiteLLM's list, plus
/// the shared ones).
const CONTEXT_PHRASES: &[&str] = &[
    "expected maxlength:",
    "input is too long",
    "prompt is too long",
    "prompt: length: 1..",
    "too many input tokens",
    "exceed context limit",
];

fn is_context_window(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    is_context_window_message(message) || CONTEXT_PHRASES.iter().any(|p| lower.contains(p))
}

/// The kind and usual status of a Bedrock error type (case-insensitive: streams send
/// `throttlingException`).
fn kind_of(error_type: &str, message: &str) -> Option<(ErrorKind, u16)> {
    let t = error_type.to_ascii_lowercase();
    Some(match t.as_str() {
        "throttlingexception" | "toomanyrequestsexception" => (ErrorKind::RateLimit, 429),
        "servicequotaexceededexception" => (ErrorKind::RateLimit, 429),
        "validationexception" => {
            if is_context_window(message) {
                (ErrorKind::ContextWindowExceeded, 400)
            } else if is_content_policy_message(message) {
                (ErrorKind::ContentPolicyViolation, 400)
            } else {
                (ErrorKind::BadRequest, 400)
            }
        }
        "accessdeniedexception" => (ErrorKind::PermissionDenied, 403),
        "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "incompletesignatureexception"
        | "missingauthenticationtokenexception"
        | "expiredtokenexception"
        | "invalidclienttokenid" => (ErrorKind::Authentication, 401),
        "resourcenotfoundexception" => (ErrorKind::NotFound, 404),
        "modelnotreadyexception" => (ErrorKind::ServiceUnavailable, 503),
        "serviceunavailableexception" => (ErrorKind::ServiceUnavailable, 503),
        "modeltimeoutexception" => (ErrorKind::Timeout, 408),
        "internalserverexception" => (ErrorKind::InternalServer, 500),
        "modelerrorexception" | "modelstreamerrorexception" => (ErrorKind::Api, 424),
        "conflictexception" => (ErrorKind::BadRequest, 409),
        _ => return None,
    })
}

/// The error type: `Name:namespace` or `namespace#Name` → `Name`.
fn short_type(raw: &str) -> &str {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw).trim()
}

fn message_of(body: Option<&Value>, raw: &[u8], status: u16) -> String {
    body.and_then(|b| b.get("message").or_else(|| b.get("Message")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(raw);
            if text.trim().is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                text.chars().take(1000).collect()
            }
        })
}

fn build(
    kind: ErrorKind,
    status: u16,
    error_type: &str,
    message: String,
    body: Value,
    target: &Target,
) -> LlmError {
    let shown = if error_type.is_empty() {
        message
    } else {
        format!("{error_type}: {message}")
    };
    target.annotate(
        LlmError::new(kind, shown)
            .with_status(status)
            .with_body(redact_value(body, &target.secrets())),
    )
}

/// An HTTP error response from Bedrock.
pub fn from_http(status: u16, headers: &HeaderMap, body: &[u8], target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error_type = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(short_type)
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|b| b.get("__type"))
                .and_then(Value::as_str)
                .map(short_type)
        })
        .unwrap_or_default()
        .to_owned();
    let message = message_of(parsed.as_ref(), body, status);
    let mut kind = kind_of(&error_type, &message)
        .map(|(k, _)| k)
        .unwrap_or_else(|| ErrorKind::from_status(status));
    if kind == ErrorKind::BadRequest && is_context_window(&message) {
        kind = ErrorKind::ContextWindowExceeded;
    }
    if message.contains("security token included in the request is invalid") {
        kind = ErrorKind::Authentication;
    }
    let body_value =
        parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
    build(kind, status, &error_type, message, body_value, target)
        .with_retry_after(retry_after_seconds(headers))
}

/// An exception (or error) frame inside a stream: `kind` is its `:exception-type`
/// (or `:error-code`), `data` its payload (or `:error-message`).
pub fn from_stream(kind: &str, data: &str, target: &Target) -> LlmError {
    let parsed: Option<Value> = serde_json::from_str(data).ok();
    let message = parsed
        .as_ref()
        .and_then(|b| b.get("message").or_else(|| b.get("Message")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| data.chars().take(1000).collect());
    let (k, status) = kind_of(kind, &message).unwrap_or((ErrorKind::Api, 500));
    let body = parsed.unwrap_or_else(|| json!({ "message": message }));
    build(k, status, kind, message, body, target)
}
