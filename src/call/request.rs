//! What differs between a chat call and an embeddings call. The pipeline ([`super::prepare`],
//! [`super::execute`]) is one for both; a [`Request`] supplies the checks, the translation,
//! the cost projection, the mock answer, the parsing and the costing of its kind.

use crate::budget;
use crate::cost;
use crate::error::LlmError;
use crate::http::HttpRequest;
use crate::model_id::ModelId;
use crate::params::{
    enforce_supported, enforce_supported_embedding, normalize_messages, validate_messages,
};
use crate::providers::{mock, Provider, Target};
use crate::types::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, EmbeddingVector,
    EncodingFormat, InputItem, StreamOptions, Usage,
};

use super::{CallOptions, PreparedCall, ResponseMeta};

/// A request translated for its target.
#[derive(Debug)]
pub struct Translated {
    /// The native HTTP request; `None` when the mock answers.
    pub http: Option<HttpRequest>,
    /// Parameters removed by `drop_params`.
    pub dropped: Vec<&'static str>,
    /// Whether the caller asked for a stream's final usage chunk.
    pub include_usage: bool,
}

/// The request of a call: [`ChatRequest`] or [`EmbeddingRequest`].
pub trait Request: Clone + Send + Sync + Sized + 'static {
    /// The OpenAI-format answer.
    type Response: Send + 'static;

    /// Whether a budget may switch the call to a cheaper model (a budget's downgrade
    /// target is a chat model, so embeddings are never downgraded).
    const DOWNGRADES: bool;

    /// Checks of the request alone, made before the target (and its key) is resolved.
    fn check(
        &mut self,
        id: &ModelId,
        provider: &dyn Provider,
        options: &CallOptions,
    ) -> Result<(), LlmError>;

    /// Enforce the target's supported parameters, let the provider adapt the request, and
    /// build the native request (none when `is_mock`).
    fn translate(
        &mut self,
        target: &Target,
        options: &CallOptions,
        is_mock: bool,
    ) -> Result<Translated, LlmError>;

    /// What the call may cost, to reserve against budgets.
    fn projected_cost(call: &PreparedCall<Self>) -> f64;

    /// The mock provider's answer.
    fn mock_answer(
        call: &PreparedCall<Self>,
        spec: &mock::MockSpec,
    ) -> Result<Self::Response, LlmError>;

    /// A native success body → the OpenAI-format answer.
    fn parse(target: &Target, body: &[u8]) -> Result<Self::Response, LlmError>;

    /// After a successful exchange: fill in what the provider left out and cost the answer
    /// into `meta.cost`.
    fn finish(call: &PreparedCall<Self>, response: &mut Self::Response, meta: &mut ResponseMeta);

    /// The answer's usage, for the ledger.
    fn usage(response: &Self::Response) -> Option<&Usage>;
}

impl Request for ChatRequest {
    type Response = ChatResponse;
    const DOWNGRADES: bool = true;

    fn check(
        &mut self,
        id: &ModelId,
        _provider: &dyn Provider,
        _options: &CallOptions,
    ) -> Result<(), LlmError> {
        validate_messages(&self.messages).map_err(|e| e.context(&id.provider, &id.model))?;
        normalize_messages(&mut self.messages);
        Ok(())
    }

    fn translate(
        &mut self,
        target: &Target,
        options: &CallOptions,
        is_mock: bool,
    ) -> Result<Translated, LlmError> {
        let provider = &target.provider;
        provider.adapt_history(&mut self.messages, &target.model);
        let supported = provider.supported_params(&target.model);
        let include_usage = self
            .params
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        // stream_options is only meaningful (and only accepted by OpenAI) on streams.
        if !options.stream {
            self.params.stream_options = None;
        }
        let mut dropped = enforce_supported(
            &mut self.params,
            &supported,
            options.drop_params,
            target.provider_name(),
            &target.model,
        )?;
        dropped.extend(
            provider
                .check_params(self, target, options.drop_params)
                .map_err(|e| target.annotate(e))?,
        );
        if options.stream && supported.contains(&"stream_options") {
            // Always ask for usage so every stream can be costed; the chunk is hidden from
            // the caller unless they asked for it.
            self.params
                .stream_options
                .get_or_insert_with(StreamOptions::default)
                .include_usage = Some(true);
        }
        provider.adapt_request(self, target);
        self.model.clone_from(&target.model);
        let http = if is_mock {
            None
        } else {
            Some(
                provider
                    .build_request(self, target, options.stream)
                    .map_err(|e| target.annotate(e))?,
            )
        };
        Ok(Translated {
            http,
            dropped,
            include_usage,
        })
    }

    fn projected_cost(call: &PreparedCall<Self>) -> f64 {
        budget::projected_cost(
            call.provider(),
            &call.target.model,
            &call.request,
            call.options.custom_pricing.as_ref(),
        )
    }

    fn mock_answer(
        call: &PreparedCall<Self>,
        spec: &mock::MockSpec,
    ) -> Result<ChatResponse, LlmError> {
        mock::respond(&call.request, spec)
    }

    fn parse(target: &Target, body: &[u8]) -> Result<ChatResponse, LlmError> {
        target.provider.parse_response(body, target)
    }

    fn finish(call: &PreparedCall<Self>, response: &mut ChatResponse, meta: &mut ResponseMeta) {
        meta.cost = chat_cost(call, meta, response);
    }

    fn usage(response: &ChatResponse) -> Option<&Usage> {
        response.usage.as_ref()
    }
}

/// The cost of a chat response, from its usage or, when the provider sent none, from
/// counted tokens (prompt from the request, completion from the reply text).
fn chat_cost(
    call: &PreparedCall<ChatRequest>,
    meta: &ResponseMeta,
    response: &ChatResponse,
) -> Option<f64> {
    if let Some(usage) = &response.usage {
        return meta.cost_of(usage);
    }
    let (provider, model) = (meta.provider.as_str(), meta.model.as_str());
    let prompt = crate::tokens::count_request_tokens(provider, model, &call.request);
    let completion: u64 = response
        .choices
        .iter()
        .map(|c| {
            let text = c.message.content.as_deref().unwrap_or_default();
            let calls: u64 = c
                .message
                .tool_calls
                .iter()
                .flatten()
                .map(|t| crate::tokens::count_text_tokens(provider, model, &t.function.arguments))
                .sum();
            crate::tokens::count_text_tokens(provider, model, text) + calls
        })
        .sum();
    meta.cost_of(&Usage::new(prompt, completion))
}

impl Request for EmbeddingRequest {
    type Response = EmbeddingResponse;
    const DOWNGRADES: bool = false;

    fn check(
        &mut self,
        id: &ModelId,
        provider: &dyn Provider,
        options: &CallOptions,
    ) -> Result<(), LlmError> {
        if !provider.supports_embeddings() {
            return Err(crate::providers::no_embeddings_error(
                &id.provider,
                &id.model,
            ));
        }
        let local_error =
            |message: String| LlmError::bad_request(message).context(&id.provider, &id.model);
        if let Some(problem) = self.input.problem() {
            return Err(local_error(format!(
                "{problem}: embeddings need at least one non-empty input"
            )));
        }
        if options.stream {
            return Err(local_error(
                "Embeddings do not stream: remove stream=True".to_owned(),
            ));
        }
        if self.dimensions == Some(0) {
            return Err(local_error(
                "dimensions must be a positive integer".to_owned(),
            ));
        }
        Ok(())
    }

    fn translate(
        &mut self,
        target: &Target,
        options: &CallOptions,
        is_mock: bool,
    ) -> Result<Translated, LlmError> {
        let provider = &target.provider;
        let supported = provider.embedding_params(&target.model);
        let dropped = enforce_supported_embedding(
            self,
            &supported,
            options.drop_params,
            target.provider_name(),
            &target.model,
        )?;
        self.model.clone_from(&target.model);
        let http = if is_mock {
            None
        } else {
            Some(
                provider
                    .build_embedding_request(self, target)
                    .map_err(|e| target.annotate(e))?,
            )
        };
        Ok(Translated {
            http,
            dropped,
            include_usage: false,
        })
    }

    fn projected_cost(call: &PreparedCall<Self>) -> f64 {
        // The input is all an embedding bills.
        cost::call_cost(
            call.provider(),
            &call.target.model,
            &counted_embedding_usage(call),
            call.options.custom_pricing.as_ref(),
        )
        .unwrap_or(0.0)
    }

    fn mock_answer(
        call: &PreparedCall<Self>,
        spec: &mock::MockSpec,
    ) -> Result<EmbeddingResponse, LlmError> {
        let target = &call.target;
        // `mock_response=` on a real model answers with that model's vector size.
        let dims = crate::catalog::model_info(target.provider_name(), &target.model)
            .and_then(|i| i.output_vector_size)
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(mock::DEFAULT_MOCK_DIMENSIONS);
        mock::embed(&call.request, spec, dims)
    }

    fn parse(target: &Target, body: &[u8]) -> Result<EmbeddingResponse, LlmError> {
        target.provider.parse_embedding_response(body, target)
    }

    /// A response without `usage` gets counted tokens, so that it is always OpenAI's shape
    /// and always costed.
    fn finish(
        call: &PreparedCall<Self>,
        response: &mut EmbeddingResponse,
        meta: &mut ResponseMeta,
    ) {
        if response.model.is_empty() {
            response.model.clone_from(&call.target.model);
        }
        // Hosts without base64 (Gemini) answer floats: convert them, as the caller asked.
        if call.request.encoding_format == Some(EncodingFormat::Base64) {
            for e in &mut response.data {
                let vector =
                    std::mem::replace(&mut e.embedding, EmbeddingVector::Float(Vec::new()));
                e.embedding = vector.into_base64();
            }
        }
        let usage = response
            .usage
            .get_or_insert_with(|| counted_embedding_usage(call));
        meta.cost = meta.cost_of(usage);
    }

    fn usage(response: &EmbeddingResponse) -> Option<&Usage> {
        response.usage.as_ref()
    }
}

/// The input's tokens as [`crate::tokens`] counts them (token ids count as themselves).
fn counted_embedding_usage(call: &PreparedCall<EmbeddingRequest>) -> Usage {
    let (provider, model) = (call.provider(), call.target.model.as_str());
    let prompt = call
        .request
        .input
        .items()
        .iter()
        .map(|item| match item {
            InputItem::Text(t) => crate::tokens::count_text_tokens(provider, model, t),
            InputItem::Tokens(ids) => ids.len() as u64,
        })
        .sum();
    Usage::new(prompt, 0)
}
