//! Checks done before any network call: messages are well formed, and every parameter the
//! caller set is supported by the target (or dropped, with `drop_params`).

use crate::error::{ErrorKind, LlmError};
use crate::types::{ChatParams, EmbeddingRequest, Message, MessageContent, Role};

/// Content-part types OpenAI defines. Unknown types are rejected here rather than by the
/// provider, with a message naming the message and part.
const PART_TYPES: &[&str] = &[
    "text",
    "image_url",
    "input_audio",
    "file",
    "document",
    "refusal",
    "thinking",
    "redacted_thinking",
];

/// Remove (with `drop`) or reject the parameters in `params` that are not in `supported`.
/// Returns the names dropped.
pub fn enforce_supported(
    params: &mut ChatParams,
    supported: &[&str],
    drop: bool,
    provider: &str,
    model: &str,
) -> Result<Vec<&'static str>, LlmError> {
    let set = params.set_names();
    enforce(set, supported, drop, provider, model, |p| {
        params.clear(p);
    })
}

/// [`enforce_supported`] for the parameters of an embeddings request.
pub fn enforce_supported_embedding(
    request: &mut EmbeddingRequest,
    supported: &[&str],
    drop: bool,
    provider: &str,
    model: &str,
) -> Result<Vec<&'static str>, LlmError> {
    let set = request.set_params();
    enforce(set, supported, drop, provider, model, |p| {
        request.clear(p);
    })
}

fn enforce(
    set: Vec<&'static str>,
    supported: &[&str],
    drop: bool,
    provider: &str,
    model: &str,
    mut clear: impl FnMut(&str),
) -> Result<Vec<&'static str>, LlmError> {
    let unsupported: Vec<&'static str> =
        set.into_iter().filter(|p| !supported.contains(p)).collect();
    if unsupported.is_empty() {
        return Ok(unsupported);
    }
    if drop {
        for p in &unsupported {
            clear(p);
        }
        return Ok(unsupported);
    }
    Err(LlmError::new(
        ErrorKind::UnsupportedParams,
        format!(
            "{provider} does not support parameters: {}, for model={model}. To drop these, pass drop_params=True (per call) or set llmswitch.drop_params = True. Supported: {}",
            unsupported.join(", "),
            supported.join(", ")
        ),
    )
    .with_provider(provider)
    .with_model(model))
}

/// Drop null-valued unknown fields (a previous response's `function_call: null`, say) so
/// they are not sent to providers that reject them.
pub fn normalize_messages(messages: &mut [Message]) {
    for m in messages {
        if !m.extra.is_empty() {
            m.extra.retain(|_, v| !v.is_null());
        }
    }
}

/// Validate the shape of `messages`: non-empty, content where each role needs it, tool
/// results tied to a call, content parts of known types with their payloads.
pub fn validate_messages(messages: &[Message]) -> Result<(), LlmError> {
    if messages.is_empty() {
        return Err(LlmError::bad_request(
            "messages is empty: pass at least one message, e.g. [{\"role\": \"user\", \"content\": \"hi\"}]",
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        let at = |what: &str| {
            LlmError::bad_request(format!("messages[{i}] ({}): {what}", m.role.as_str()))
        };
        match m.role {
            Role::Tool => {
                if m.tool_call_id.as_deref().is_none_or(str::is_empty) {
                    return Err(at(
                        "a tool message needs \"tool_call_id\", the id of the tool call it answers",
                    ));
                }
            }
            Role::Assistant => {
                if m.content.is_none()
                    && m.tool_calls.as_ref().is_none_or(Vec::is_empty)
                    && !m.extra.contains_key("function_call")
                {
                    return Err(at(
                        "an assistant message needs \"content\" or \"tool_calls\"",
                    ));
                }
            }
            Role::Function => {
                if m.name.is_none() {
                    return Err(at("a function message needs \"name\""));
                }
            }
            Role::System | Role::Developer | Role::User => {
                if m.content.is_none() {
                    return Err(at("\"content\" is missing or null"));
                }
            }
        }
        if let Some(calls) = &m.tool_calls {
            for (j, c) in calls.iter().enumerate() {
                if c.function.name.is_empty() {
                    return Err(at(&format!("tool_calls[{j}].function.name is empty")));
                }
            }
        }
        if let Some(MessageContent::Parts(parts)) = &m.content {
            for (j, p) in parts.iter().enumerate() {
                if !PART_TYPES.contains(&p.kind.as_str()) {
                    return Err(at(&format!(
                        "content[{j}] has unknown type {:?}; expected one of {}",
                        p.kind,
                        PART_TYPES.join(", ")
                    )));
                }
                if p.kind == "text" && p.text.is_none() {
                    return Err(at(&format!("content[{j}] is a text part without \"text\"")));
                }
                if p.kind == "image_url" && p.image_url.is_none() {
                    return Err(at(&format!(
                        "content[{j}] is an image_url part without \"image_url\""
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(v: serde_json::Value) -> Vec<Message> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn rejects_or_drops_unsupported() {
        let mut p = ChatParams {
            logit_bias: Some(Default::default()),
            temperature: Some(0.5),
            ..Default::default()
        };
        let e = enforce_supported(&mut p, &["temperature"], false, "groq", "m").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedParams);
        assert!(e.message.contains("logit_bias") && e.message.contains("drop_params=True"));
        let dropped = enforce_supported(&mut p, &["temperature"], true, "groq", "m").unwrap();
        assert_eq!(dropped, vec!["logit_bias"]);
        assert!(p.logit_bias.is_none() && p.temperature.is_some());
    }

    #[test]
    fn message_shapes() {
        assert!(validate_messages(&[]).is_err());
        assert!(validate_messages(&msgs(json!([{"role": "user", "content": "hi"}]))).is_ok());
        let e = validate_messages(&msgs(json!([{"role": "tool", "content": "x"}]))).unwrap_err();
        assert!(e.message.contains("messages[0] (tool)") && e.message.contains("tool_call_id"));
        let e = validate_messages(&msgs(
            json!([{"role": "user", "content": [{"type": "video", "url": "x"}]}]),
        ))
        .unwrap_err();
        assert!(e.message.contains("unknown type"));
        assert!(validate_messages(&msgs(json!([{"role": "assistant", "content": null}]))).is_err());
        assert!(validate_messages(&msgs(json!([{"role": "assistant", "content": null,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]))).is_ok());
    }
}
