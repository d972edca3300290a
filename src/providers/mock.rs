//! The built-in `mock/` provider: answers with no network, streaming and embeddings too, and
//! can raise a chosen error. `mock_response=` on any model routes here as well (as in LiteLLM), which
//! powers offline quickstarts and users' own tests.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::error::{ErrorKind, LlmError};
use crate::providers::{HttpRequest, Provider, StreamParser, Target, TargetOptions};
use crate::stream::{Frame, StreamControl};
use crate::types::{
    float32_base64, ChatChunk, ChatRequest, ChatResponse, Choice, Delta, Embedding,
    EmbeddingRequest, EmbeddingResponse, EmbeddingVector, EncodingFormat, FunctionDelta, InputItem,
    ResponseMessage, ToolCall, ToolCallDelta, Usage, EMBEDDING_PARAMS, OPENAI_PARAMS,
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
    /// Embeddings: answer every input with this vector (LiteLLM's `mock_response=[0.1, ...]`)
    /// instead of a pseudo-random one.
    pub vector: Option<Vec<f64>>,
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
    fn supports_embeddings(&self) -> bool {
        true
    }

    fn embedding_params(&self, _model: &str) -> Vec<&'static str> {
        EMBEDDING_PARAMS.to_vec()
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
    usage_chunk.usage = full.usage.map(Box::new);
    out.push(usage_chunk);
    Ok(out)
}

/// Vector size of mock embeddings when neither the call (`dimensions=`) nor the catalogue
/// (for `mock_response=` on a real model) says otherwise.
pub const DEFAULT_MOCK_DIMENSIONS: u32 = 8;

/// The mock's embeddings of `req`: for each input, a unit vector drawn from a generator
/// seeded by a hash of the input, so equal inputs get equal vectors in every run and
/// process. `default_dims` is the size when `req.dimensions` is not set.
pub fn embed(
    req: &EmbeddingRequest,
    spec: &MockSpec,
    default_dims: u32,
) -> Result<EmbeddingResponse, LlmError> {
    if let Some(err) = &spec.error {
        return Err(err.clone());
    }
    let dims = req.dimensions.unwrap_or(default_dims).max(1);
    let items = req.input.items();
    let mut prompt_tokens = 0;
    let mut data = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        prompt_tokens += match item {
            InputItem::Text(t) => estimate_tokens(t).max(1),
            InputItem::Tokens(ids) => ids.len() as u64,
        };
        let vector = match &spec.vector {
            Some(v) => v.clone(),
            None => pseudo_vector(item, dims),
        };
        let vector = match req.encoding_format {
            Some(EncodingFormat::Base64) => EmbeddingVector::Base64(float32_base64(&vector)),
            _ => EmbeddingVector::Float(vector),
        };
        data.push(Embedding::new(
            u32::try_from(index).unwrap_or(u32::MAX),
            vector,
        ));
    }
    Ok(EmbeddingResponse::new(
        req.model.clone(),
        data,
        Some(Usage::new(prompt_tokens, 0)),
    ))
}

/// A unit vector of `dims` values, determined by `item`.
fn pseudo_vector(item: &InputItem<'_>, dims: u32) -> Vec<f64> {
    // FNV-1a over the input (a tag byte keeps text and token ids apart), then SplitMix64.
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            seed ^= u64::from(*b);
            seed = seed.wrapping_mul(0x0100_0000_01b3);
        }
    };
    match item {
        InputItem::Text(t) => {
            feed(b"t");
            feed(t.as_bytes());
        }
        InputItem::Tokens(ids) => {
            feed(b"i");
            for id in *ids {
                feed(&id.to_le_bytes());
            }
        }
    }
    let mut state = seed;
    let mut v: Vec<f64> = (0..dims)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // 53 random bits → [-1, 1), rounded to float32 as real embeddings are.
            f64::from(((z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32)
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x = f64::from((*x / norm) as f32);
        }
    }
    v
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
    fn mock_embeddings_are_deterministic_unit_vectors() {
        let mut req = EmbeddingRequest::new("m", vec!["a", "b", "a"]);
        let r = embed(&req, &MockSpec::default(), DEFAULT_MOCK_DIMENSIONS).unwrap();
        assert_eq!(r.data.len(), 3);
        let vec_of = |i: usize| match &r.data[i].embedding {
            EmbeddingVector::Float(v) => v.clone(),
            EmbeddingVector::Base64(_) => panic!("floats expected"),
        };
        assert_eq!(vec_of(0).len(), 8);
        assert_eq!(vec_of(0), vec_of(2));
        assert_ne!(vec_of(0), vec_of(1));
        let norm: f64 = vec_of(1).iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "{norm}");
        assert_eq!(r.data[2].index, 2);
        let usage = r.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (3, 0));
        req.dimensions = Some(3);
        req.encoding_format = Some(EncodingFormat::Base64);
        let r = embed(&req, &MockSpec::default(), 8).unwrap();
        match &r.data[0].embedding {
            // 3 float32 = 12 bytes = 16 base64 characters.
            EmbeddingVector::Base64(s) => assert_eq!(s.len(), 16),
            EmbeddingVector::Float(_) => panic!("base64 expected"),
        }
        let err = embed(
            &req,
            &MockSpec::from_text("litellm.RateLimitError"),
            DEFAULT_MOCK_DIMENSIONS,
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::RateLimit);
        let fixed = MockSpec {
            vector: Some(vec![0.5, 0.25]),
            ..Default::default()
        };
        let tokens = EmbeddingRequest::new(
            "m",
            crate::types::EmbeddingInput::TokenLists(vec![vec![1, 2, 3]]),
        );
        let r = embed(&tokens, &fixed, 8).unwrap();
        assert_eq!(r.data[0].embedding, EmbeddingVector::Float(vec![0.5, 0.25]));
        assert_eq!(r.usage.unwrap().prompt_tokens, 3);
    }

    #[test]
    fn mock_vectors_are_pinned() {
        // Tests and users may store mock vectors: they must not change between versions.
        let v = pseudo_vector(&InputItem::Text("hello"), 3);
        assert_eq!(float32_base64(&v), "C1kYvx3Vwb6/eTU/");
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
