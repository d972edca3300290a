//! The built-in `mock/` provider: answers with no network, streaming too, and can raise a
//! chosen error. `mock_response=` on any model routes here as well (as in LiteLLM), which
//! powers offline quickstarts and users' own tests.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::error::{ErrorKind, LlmError};
use crate::providers::{HttpRequest, Provider, StreamParser, Target, TargetOptions};
use crate::stream::{Frame, StreamControl};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, Delta, FunctionDelta, ResponseMessage, ToolCall,
    ToolCallDelta, Usage, OPENAI_PARAMS,
};

/// The text a mock call answers with when no `mock_response` text is given.
pub const DEFAULT_MOCK_TEXT: &str = "This is a mock response from llmswitch.";

/// What a mock call should do.
#[derive(Debug, Clone, Default)]
pub struct MockSpec {
    /// The reply text (default [`DEFAULT_MOCK_TEXT`]).
    pub content: Option<String>,
    /// Tool calls to answer with (`mock_tool_calls=`).
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Raise this error instead of answering.
    pub error: Option<LlmError>,
    /// Wait this long before answering (`mock_delay=` seconds).
    pub delay: Option<Duration>,
}

impl MockSpec {
    /// Interpret a `mock_response` string: an exception name such as
    /// `"litellm.RateLimitError"` or `"llmswitch.Timeout"` raises that error; anything
    /// else is the reply text.
    pub fn from_text(text: &str) -> MockSpec {
        if let Some(kind) = ErrorKind::from_class_name(text.trim()) {
            if text.contains('.') {
                return MockSpec {
                    error: Some(LlmError::new(
                        kind,
                        format!("Mock {} raised by mock_response", kind.class_name()),
                    )),
                    ..Default::default()
                };
            }
        }
        MockSpec {
            content: Some(text.to_owned()),
            ..Default::default()
        }
    }
}

/// The mock provider's registry entry.
pub struct MockProvider;

impl Provider for MockProvider {
    fn name(&self) -> &str {
        "mock"
    }

    fn supported_params(&self, _model: &str) -> Vec<&'static str> {
        let mut all = OPENAI_PARAMS.to_vec();
        all.push("stream");
        all
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        Ok(mock_target(self, model, opts))
    }

    fn build_request(
        &self,
        _req: &ChatRequest,
        target: &Target,
        _stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        Err(
            LlmError::new(ErrorKind::Api, "The mock provider makes no HTTP requests")
                .context("mock", &target.model),
        )
    }

    fn parse_response(&self, _body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        Err(
            LlmError::new(ErrorKind::Api, "The mock provider parses no HTTP responses")
                .context("mock", &target.model),
        )
    }

    fn stream_parser(&self, _target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(NoFrames)
    }

    fn parse_error(
        &self,
        status: u16,
        _headers: &HeaderMap,
        body: &[u8],
        target: &Target,
    ) -> LlmError {
        LlmError::new(
            ErrorKind::from_status(status),
            String::from_utf8_lossy(body).into_owned(),
        )
        .context("mock", &target.model)
    }
}

struct NoFrames;

impl StreamParser for NoFrames {
    fn on_frame(
        &mut self,
        _frame: Frame<'_>,
        _out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        Ok(StreamControl::Done)
    }
}

/// A target for a mock answer on behalf of `provider` (no key, no URL).
pub fn mock_target(provider: Arc<dyn Provider>, model: &str, opts: &TargetOptions) -> Target {
    Target {
        provider,
        model: model.to_owned(),
        api_base: "mock://".to_owned(),
        api_key: None,
        api_version: None,
        extra_headers: opts.extra_headers.clone(),
        provider_options: opts.provider_options.clone(),
    }
}

/// A rough token estimate (about four characters per token) used for mock usage.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

fn mock_usage(req: &ChatRequest, completion_text: &str) -> Usage {
    let prompt: u64 = req
        .messages
        .iter()
        .map(|m| 4 + estimate_tokens(&m.text()))
        .sum::<u64>()
        + 3;
    Usage::new(prompt, estimate_tokens(completion_text).max(1))
}

/// The mock's full answer to `req`.
pub fn respond(req: &ChatRequest, spec: &MockSpec) -> Result<ChatResponse, LlmError> {
    if let Some(err) = &spec.error {
        return Err(err.clone());
    }
    let mut resp = ChatResponse::new(req.model.clone());
    let n = req.params.n.unwrap_or(1).max(1);
    let (content, finish) = match &spec.tool_calls {
        Some(_) => (spec.content.clone(), "tool_calls"),
        None => (
            Some(
                spec.content
                    .clone()
                    .unwrap_or_else(|| DEFAULT_MOCK_TEXT.to_owned()),
            ),
            "stop",
        ),
    };
    for index in 0..n {
        resp.choices.push(Choice {
            index,
            message: ResponseMessage {
                content: content.clone(),
                tool_calls: spec.tool_calls.clone(),
                ..Default::default()
            },
            finish_reason: Some(finish.to_owned()),
            logprobs: None,
            extra: Default::default(),
        });
    }
    let completion_text = content.unwrap_or_default()
        + &spec
            .tool_calls
            .iter()
            .flatten()
            .map(|t| t.function.arguments.as_str())
            .collect::<String>();
    let mut usage = mock_usage(req, &completion_text);
    usage.completion_tokens *= u64::from(n);
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    resp.usage = Some(usage);
    Ok(resp)
}

/// The mock's answer as a stream of chunks: a role chunk, the text in small pieces, tool
/// calls, a finish chunk, and a usage chunk.
pub fn chunks(req: &ChatRequest, spec: &MockSpec) -> Result<Vec<ChatChunk>, LlmError> {
    let full = respond(req, spec)?;
    let base = ChatChunk::new(&full.id, full.created, &full.model);
    let mut out = Vec::new();
    for choice in &full.choices {
        let i = choice.index;
        out.push(base.clone().with_delta(
            i,
            Delta {
                role: Some("assistant".to_owned()),
                content: Some(String::new()),
                ..Default::default()
            },
            None,
        ));
        if let Some(text) = &choice.message.content {
            for piece in split_words(text) {
                out.push(base.clone().with_delta(i, Delta::text(piece), None));
            }
        }
        for (ti, call) in choice.message.tool_calls.iter().flatten().enumerate() {
            let index = u32::try_from(ti).unwrap_or(u32::MAX);
            out.push(base.clone().with_delta(
                i,
                Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index,
                        id: Some(call.id.clone()),
                        kind: Some("function".to_owned()),
                        function: Some(FunctionDelta {
                            name: Some(call.function.name.clone()),
                            arguments: Some(String::new()),
                        }),
                    }]),
                    ..Default::default()
                },
                None,
            ));
            out.push(base.clone().with_delta(
                i,
                Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index,
                        id: None,
                        kind: None,
                        function: Some(FunctionDelta {
                            name: None,
                            arguments: Some(call.function.arguments.clone()),
                        }),
                    }]),
                    ..Default::default()
                },
                None,
            ));
        }
        out.push(
            base.clone()
                .with_delta(i, Delta::default(), choice.finish_reason.clone()),
        );
    }
    let mut usage_chunk = base;
    usage_chunk.usage = full.usage;
    out.push(usage_chunk);
    Ok(out)
}

/// Split text after each space, keeping the spaces, so the pieces join back exactly.
fn split_words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' {
            out.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::StreamAccumulator;
    use crate::types::Message;

    #[test]
    fn mock_text_and_error() {
        let req = ChatRequest::new("x", vec![Message::user("hi")]);
        let r = respond(&req, &MockSpec::from_text("hello there")).unwrap();
        assert_eq!(r.text(), Some("hello there"));
        assert!(r.usage.unwrap().prompt_tokens > 0);
        let e = respond(&req, &MockSpec::from_text("litellm.RateLimitError")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        // A bare class name without a module is just text.
        assert_eq!(
            respond(&req, &MockSpec::from_text("Timeout"))
                .unwrap()
                .text(),
            Some("Timeout")
        );
    }

    #[test]
    fn chunks_rebuild_the_response() {
        let req = ChatRequest::new("x", vec![Message::user("hi")]);
        let spec = MockSpec::from_text("one two three");
        let mut acc = StreamAccumulator::new();
        for c in chunks(&req, &spec).unwrap() {
            acc.push(&c);
        }
        let r = acc.finish();
        assert_eq!(r.text(), Some("one two three"));
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(r.usage.is_some());
    }
}
