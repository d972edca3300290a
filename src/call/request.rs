//! What differs between a chat call and an embeddings call. The pipeline ([`super::prepare`],
//! [`super::execute`]) is one for both; a [`Request`] supplies the checks, the translation,
//! the cost projection, the mock answer, the parsing and the costing of its kind.

use crate::budget;
use crate::cache::{self, CachedAnswer, CachedEmbedding, CallType, Entry};
use crate::cost;
use crate::error::LlmError;
use crate::http::HttpRequest;
use crate::model_id::ModelId;
use crate::params::{
    enforce_supported, enforce_supported_embedding, normalize_messages, validate_messages,
};
use crate::providers::{mock, Provider, Target};
use crate::types::{
    ChatRequest, ChatResponse, Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse,
    EmbeddingVector, EncodingFormat, InputItem, StreamOptions, Usage,
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

    /// The call type `supported_call_types` names (`completion`, `aembedding`, ...).
    fn call_type(asynchronous: bool) -> CallType;

    /// Messages in the request, for the cache's `max_messages`.
    fn message_count(&self) -> usize;

    /// The cache keys of the request sent to `model` (one per answer stored).
    fn cache_keys(&self, model: &str, stream: bool) -> Vec<String>;

    /// The answer from its cache entries (one per key), or `None` if they do not make one.
    fn answer_from_cache(&self, entries: Vec<Entry>) -> Option<(Self::Response, String, String)>;

    /// What to store of an answer (one per key), or `None` when it is not worth keeping.
    fn cacheable(&self, response: &Self::Response) -> Option<Vec<CachedAnswer>>;

    /// The request for the answers the cache lacks (`missing[i]`: key `i` missed), when a
    /// request can be split (embeddings: its inputs); `None` otherwise.
    fn narrowed(&self, _missing: &[bool]) -> Option<Self> {
        None
    }

    /// A narrowed request's answer completed with the entries the cache had (`cached[i]`,
    /// `None` where the narrowed answer fills in), in the original order.
    fn merged(
        &self,
        _cached: Vec<Option<Entry>>,
        _fresh: Self::Response,
    ) -> Option<Self::Response> {
        None
    }
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

    fn call_type(asynchronous: bool) -> CallType {
        if asynchronous {
            CallType::ACompletion
        } else {
            CallType::Completion
        }
    }

    fn message_count(&self) -> usize {
        self.messages.len()
    }

    fn cache_keys(&self, model: &str, stream: bool) -> Vec<String> {
        vec![cache::chat_key(model, self, stream)]
    }

    fn answer_from_cache(&self, entries: Vec<Entry>) -> Option<(ChatResponse, String, String)> {
        let [entry] = <[Entry; 1]>::try_from(entries).ok()?;
        match entry.answer {
            CachedAnswer::Chat(response) => Some((*response, entry.provider, entry.model)),
            _ => None,
        }
    }

    fn cacheable(&self, response: &ChatResponse) -> Option<Vec<CachedAnswer>> {
        // As LiteLLM's: an answer without output is not kept.
        let has_output = response.choices.iter().any(|c| {
            let m = &c.message;
            m.content.as_deref().is_some_and(|t| !t.is_empty())
                || m.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
                || m.function_call.is_some()
                || m.reasoning_content.is_some()
                || m.refusal.is_some()
        });
        has_output.then(|| vec![CachedAnswer::Chat(Box::new(response.clone()))])
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

    fn call_type(asynchronous: bool) -> CallType {
        if asynchronous {
            CallType::AEmbedding
        } else {
            CallType::Embedding
        }
    }

    fn message_count(&self) -> usize {
        0
    }

    /// One key per input: each input's vector is its own entry, as LiteLLM stores them.
    fn cache_keys(&self, model: &str, _stream: bool) -> Vec<String> {
        self.input
            .items()
            .into_iter()
            .map(|item| cache::embedding_item_key(model, self, item))
            .collect()
    }

    fn answer_from_cache(
        &self,
        entries: Vec<Entry>,
    ) -> Option<(EmbeddingResponse, String, String)> {
        let (provider, model) = entries
            .first()
            .map(|e| (e.provider.clone(), e.model.clone()))?;
        let mut prompt_tokens = 0;
        let mut data = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            let CachedAnswer::Embedding(e) = entry.answer else {
                return None;
            };
            prompt_tokens += e.prompt_tokens;
            data.push(Embedding::new(u32::try_from(index).ok()?, e.embedding));
        }
        let response = EmbeddingResponse {
            object: "list".to_owned(),
            data,
            model: model.clone(),
            usage: Some(Usage::new(prompt_tokens, 0)),
            extra: serde_json::Map::new(),
        };
        Some((response, provider, model))
    }

    fn narrowed(&self, missing: &[bool]) -> Option<Self> {
        let input = match &self.input {
            EmbeddingInput::Texts(t) if t.len() == missing.len() => EmbeddingInput::Texts(
                t.iter()
                    .zip(missing)
                    .filter(|(_, m)| **m)
                    .map(|(x, _)| x.clone())
                    .collect(),
            ),
            EmbeddingInput::TokenLists(t) if t.len() == missing.len() => {
                EmbeddingInput::TokenLists(
                    t.iter()
                        .zip(missing)
                        .filter(|(_, m)| **m)
                        .map(|(x, _)| x.clone())
                        .collect(),
                )
            }
            _ => return None,
        };
        Some(EmbeddingRequest {
            input,
            ..self.clone()
        })
    }

    /// The cached vectors and the fresh ones, in input order; the usage counts both (as
    /// LiteLLM's), while the call's cost is the fresh part's.
    fn merged(
        &self,
        cached: Vec<Option<Entry>>,
        fresh: EmbeddingResponse,
    ) -> Option<EmbeddingResponse> {
        let mut fresh_data: Vec<Embedding> = fresh.data;
        fresh_data.sort_by_key(|e| e.index);
        let mut fresh_data = fresh_data.into_iter();
        let mut prompt_tokens = fresh.usage.as_ref().map_or(0, |u| u.prompt_tokens);
        let mut data = Vec::with_capacity(cached.len());
        for (index, entry) in cached.into_iter().enumerate() {
            let embedding = match entry {
                Some(Entry {
                    answer: CachedAnswer::Embedding(e),
                    ..
                }) => {
                    prompt_tokens += e.prompt_tokens;
                    e.embedding
                }
                Some(_) => return None,
                None => fresh_data.next()?.embedding,
            };
            data.push(Embedding::new(u32::try_from(index).ok()?, embedding));
        }
        Some(EmbeddingResponse {
            data,
            usage: Some(Usage::new(prompt_tokens, 0)),
            ..fresh
        })
    }

    /// Each vector with its share of the prompt tokens (spread evenly, so that the shares
    /// of a call add up to its usage).
    fn cacheable(&self, response: &EmbeddingResponse) -> Option<Vec<CachedAnswer>> {
        let n = response.data.len();
        if n == 0 || n != self.input.items().len() {
            return None;
        }
        let total = response.usage.as_ref().map_or(0, |u| u.prompt_tokens);
        let (share, rest) = (total / n as u64, total % n as u64);
        let mut data: Vec<&Embedding> = response.data.iter().collect();
        data.sort_by_key(|e| e.index);
        Some(
            data.into_iter()
                .enumerate()
                .map(|(i, e)| {
                    CachedAnswer::Embedding(CachedEmbedding {
                        embedding: e.embedding.clone(),
                        prompt_tokens: share + u64::from((i as u64) < rest),
                    })
                })
                .collect(),
        )
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
