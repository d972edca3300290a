//! Providers: one [`Provider`] trait, one file per API family, and a registry by name.
//!
//! A provider is pure translation: it turns an OpenAI-format [`ChatRequest`] (or
//! [`EmbeddingRequest`]) into the bytes of its native HTTP request, and its native responses,
//! stream frames and error bodies back into OpenAI format. Sending, timeouts, retries and stream decoding live in
//! [`crate::call`], [`crate::http`] and [`crate::stream`], shared by all providers.

pub mod anthropic;
pub mod aws;
pub mod azure;
pub mod bedrock;
pub mod cached;
pub mod cohere;
pub mod gemini;
pub mod mistral;
pub mod mock;
pub mod ollama;
pub mod openai;
pub mod openai_compatible;
pub mod vertex;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::error::LlmError;
// The seam types live with the transport that uses them; providers name them from here.
pub use crate::http::HttpRequest;
pub use crate::stream::StreamParser;

use crate::stream::FrameFormat;
use crate::types::{ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Message};

/// Per-call settings that pick where and how a request goes: the caller's `api_key`,
/// `api_base`, `api_version`, `extra_headers`, and provider-specific settings such as
/// `vertex_project` (in `provider_options`).
#[derive(Clone, Default)]
pub struct TargetOptions {
    pub api_key: Option<SecretString>,
    pub api_base: Option<String>,
    pub api_version: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub provider_options: Map<String, Value>,
    /// A caller-supplied source of bearer tokens (Azure's `azure_ad_token_provider`).
    pub token_provider: Option<Arc<dyn TokenProvider>>,
}

/// Something that hands out bearer tokens on demand, asked once per request (LiteLLM's
/// `azure_ad_token_provider`: a callable returning an Entra ID token). It caches as it
/// sees fit; the provider does not.
pub trait TokenProvider: Send + Sync {
    /// The token (without `Bearer `).
    fn token(&self) -> BoxFuture<'_, Result<SecretString, LlmError>>;
}

impl std::fmt::Debug for TargetOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetOptions")
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| crate::redact::MASK),
            )
            .field(
                "api_base",
                &self.api_base.as_deref().map(crate::redact::url_for_display),
            )
            .field("api_version", &self.api_version)
            .field(
                "extra_headers",
                &self
                    .extra_headers
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .field("token_provider", &self.token_provider.is_some())
            .finish_non_exhaustive()
    }
}

/// Where one call goes: the provider, the model name it knows, its base URL and credentials.
/// Built by [`Provider::resolve_target`] before any network I/O, so a missing key fails fast.
#[derive(Clone)]
pub struct Target {
    pub provider: Arc<dyn Provider>,
    /// The model name as the provider expects it (prefix removed, host rules applied).
    pub model: String,
    pub api_base: String,
    pub api_key: Option<SecretString>,
    pub api_version: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub provider_options: Map<String, Value>,
}

impl Target {
    pub fn provider_name(&self) -> &str {
        self.provider.name()
    }

    /// Secrets of this target, for redaction of anything we show: its key, the credentials
    /// its provider resolved for the call (AWS's secret key and session token), and the
    /// password (or token) in its `api_base`'s user-info.
    pub fn secrets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .api_key
            .as_ref()
            .map(|k| vec![k.expose_secret()])
            .unwrap_or_default();
        out.extend(self.provider.secrets());
        // Credentials in api_base's user-info: a provider, or a proxy in front of it, may
        // echo them (or the URL) in an error.
        out.extend(crate::redact::url_user_info_secret(&self.api_base));
        out
    }

    /// Add provider and model to an error that lacks them, and redact this target's keys.
    pub fn annotate(&self, mut err: LlmError) -> LlmError {
        let secrets = self.secrets();
        err.message = crate::redact::redact(&err.message, &secrets);
        err.context(self.provider_name(), &self.model)
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider.name())
            .field("model", &self.model)
            .field("api_base", &crate::redact::url_for_display(&self.api_base))
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| crate::redact::MASK),
            )
            .finish_non_exhaustive()
    }
}

/// One LLM API family. Implementations are stateless translators (plus caches such as
/// OAuth tokens) shared by every call.
pub trait Provider: Send + Sync + 'static {
    /// The name used in model strings: `groq` in `groq/llama-3.3-70b-versatile`.
    fn name(&self) -> &str;

    /// OpenAI parameters this provider accepts for `model`.
    fn supported_params(&self, model: &str) -> Vec<&'static str>;

    /// Resolve the base URL and credentials (from `opts`, then the environment). Fails
    /// with an `AuthenticationError` naming the env var when a required key is missing.
    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError>;

    /// Prepare a conversation that may have begun on another API for this one. By
    /// default, cut Gemini's thought signatures off tool-call ids, which other APIs
    /// reject; APIs that take them back (Gemini) keep them.
    fn adapt_history(&self, messages: &mut [Message], _model: &str) {
        gemini::strip_thought_signatures(messages);
    }

    /// Model-specific rewrites after the supported-params check (e.g. `max_tokens` →
    /// `max_completion_tokens` for OpenAI reasoning models).
    fn adapt_request(&self, _req: &mut ChatRequest, _target: &Target) {}

    /// Checks that depend on parameter values or combinations rather than names (e.g.
    /// Anthropic's extended thinking allows no `temperature` other than 1). Runs after the
    /// supported-params check; drops what conflicts when `drop_params` is set and returns
    /// the names dropped, else fails with `UnsupportedParamsError`.
    fn check_params(
        &self,
        _req: &mut ChatRequest,
        _target: &Target,
        _drop_params: bool,
    ) -> Result<Vec<&'static str>, LlmError> {
        Ok(Vec::new())
    }

    /// The native HTTP request for `req`.
    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError>;

    /// Headers that need I/O or the final request to produce (OAuth tokens, AWS SigV4
    /// signatures over the URL and body). Called right before each send, retries included.
    fn authorize<'a>(
        &'a self,
        _target: &'a Target,
        _request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<HeaderMap, LlmError>> {
        Box::pin(async { Ok(HeaderMap::new()) })
    }

    /// A native success body → OpenAI `chat.completion`.
    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError>;

    /// Secrets a per-call copy of the provider holds (credentials resolved for the call,
    /// outside `Target::api_key`), so that errors and bodies shown to the caller redact them.
    fn secrets(&self) -> Vec<&str> {
        Vec::new()
    }

    /// How the native stream is framed.
    fn stream_format(&self) -> FrameFormat {
        FrameFormat::Sse
    }

    /// A fresh parser for one stream.
    fn stream_parser(&self, target: &Target, include_usage: bool) -> Box<dyn StreamParser>;

    /// A native error response → the right error kind, with message and body. Used for
    /// chat and embedding calls alike.
    fn parse_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        target: &Target,
    ) -> LlmError;

    /// Whether this provider has an embeddings API. A call to one without fails fast with a
    /// `BadRequestError` naming it (before any key lookup or network call).
    fn supports_embeddings(&self) -> bool {
        false
    }

    /// Embedding parameters (of [`crate::types::EMBEDDING_PARAMS`]) this provider accepts
    /// for `model`.
    fn embedding_params(&self, _model: &str) -> Vec<&'static str> {
        Vec::new()
    }

    /// The native HTTP request for an embeddings call.
    fn build_embedding_request(
        &self,
        _req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        Err(no_embeddings_error(self.name(), &target.model))
    }

    /// A native embeddings success body → OpenAI's `list` of embeddings.
    fn parse_embedding_response(
        &self,
        _body: &[u8],
        target: &Target,
    ) -> Result<EmbeddingResponse, LlmError> {
        Err(no_embeddings_error(self.name(), &target.model))
    }
}

/// The registry of providers by name, built once.
fn registry() -> &'static HashMap<String, Arc<dyn Provider>> {
    static REGISTRY: OnceLock<HashMap<String, Arc<dyn Provider>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut map: HashMap<String, Arc<dyn Provider>> = HashMap::new();
        map.insert("mock".to_owned(), Arc::new(mock::MockProvider));
        map.insert("anthropic".to_owned(), Arc::new(anthropic::Anthropic));
        map.insert("gemini".to_owned(), Arc::new(gemini::Gemini));
        map.insert("vertex_ai".to_owned(), Arc::new(vertex::VertexAi::new()));
        map.insert(
            "azure".to_owned(),
            Arc::new(azure::Azure::new(azure::Flavor::OpenAi)),
        );
        map.insert(
            "azure_ai".to_owned(),
            Arc::new(azure::Azure::new(azure::Flavor::AiFoundry)),
        );
        map.insert("bedrock".to_owned(), Arc::new(bedrock::Bedrock::new()));
        map.insert("cohere".to_owned(), Arc::new(cohere::Cohere));
        map.insert("mistral".to_owned(), Arc::new(mistral::Mistral::new()));
        for name in ["ollama", "ollama_chat"] {
            map.insert(name.to_owned(), Arc::new(ollama::Ollama::new(name)));
        }
        for host in openai_compatible::hosts() {
            let provider: Arc<dyn Provider> =
                Arc::new(openai_compatible::OpenAiCompatible::new(host.clone()));
            map.entry(host.name.clone()).or_insert(provider);
        }
        map
    })
}

/// The provider registered under `name`.
pub fn get(name: &str) -> Option<Arc<dyn Provider>> {
    registry().get(name).cloned()
}

/// Every provider name, sorted.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = registry().keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// The first of `vars` that is set to a non-empty value in the environment.
pub fn env_first(vars: &[String]) -> Option<String> {
    vars.iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
}

/// Where a native API finds its key and base URL when the call gives none: the first of
/// its environment variables that is set, else (the base URL) its default.
pub struct ApiEnv {
    /// The provider's name, for the missing-key error.
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub base: &'static [&'static str],
    pub default_base: &'static str,
    /// Whether a call without a key fails (`AuthenticationError`) before any request.
    pub key_required: bool,
}

impl ApiEnv {
    /// The call's target: its model, key and base URL (the call's, else the environment's).
    pub fn target(
        &self,
        provider: Arc<dyn Provider>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        let names = |vars: &[&str]| vars.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
        let api_key = opts
            .api_key
            .clone()
            .or_else(|| env_first(&names(self.key)).map(SecretString::from));
        if api_key.is_none() && self.key_required {
            return Err(missing_key_error(self.name, model, &names(self.key)));
        }
        let api_base = opts
            .api_base
            .clone()
            .or_else(|| env_first(&names(self.base)))
            .unwrap_or_else(|| self.default_base.to_owned());
        Ok(Target {
            provider,
            model: model.to_owned(),
            api_base,
            api_key,
            api_version: opts.api_version.clone(),
            extra_headers: opts.extra_headers.clone(),
            provider_options: opts.provider_options.clone(),
        })
    }
}

/// The error for a missing key.
pub fn missing_key_error(provider: &str, model: &str, env_vars: &[String]) -> LlmError {
    let vars = env_vars.join(" or ");
    LlmError::new(
        crate::ErrorKind::Authentication,
        format!("Missing API key for provider '{provider}'. Set the {vars} environment variable or pass api_key=..."),
    )
    .with_provider(provider)
    .with_model(model)
    // For `validate_environment`: the variables that would provide the key.
    .with_body(serde_json::json!({ "missing_keys": env_vars }))
}

/// The error for an embeddings call to a provider that has no embeddings API.
pub fn no_embeddings_error(provider: &str, model: &str) -> LlmError {
    let with: Vec<&str> = names()
        .into_iter()
        .filter(|n| get(n).is_some_and(|p| p.supports_embeddings()))
        .collect();
    LlmError::bad_request(format!(
        "Provider '{provider}' has no embeddings API in llmswitch. Providers with embeddings: {}",
        with.join(", ")
    ))
    .with_provider(provider)
    .with_model(model)
}

/// Parse a response body as JSON, with an error a person can act on.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, LlmError> {
    // Plain serde first: tracking the path of every field costs ~10 µs per response. Only
    // a body that fails is parsed again, with paths, for the message.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let snippet = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        LlmError::new(
            crate::ErrorKind::Api,
            format!("Could not parse the {what}: {e}. Body starts with: {snippet}"),
        )
    })
}

/// Serialize a request body, with an error a person can act on.
pub fn encode_json<T: serde::Serialize>(body: &T) -> Result<Bytes, LlmError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| LlmError::bad_request(format!("Could not encode the request: {e}")))
}

/// The message of a provider's error body: the first of `keys` that holds a string (looked
/// up at the top level and under `error`), else the body's text (or a note that it was
/// empty).
pub fn error_message(parsed: Option<&Value>, body: &[u8], status: u16, keys: &[&str]) -> String {
    let lookup = |v: &Value| -> Option<String> {
        keys.iter().find_map(|k| match v.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) if *k == "error" => {
                o.get("message").and_then(Value::as_str).map(str::to_owned)
            }
            Some(other @ (Value::Object(_) | Value::Array(_))) if *k != "error" => {
                Some(other.to_string())
            }
            _ => None,
        })
    };
    if let Some(m) = parsed.and_then(lookup) {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        text.chars().take(1000).collect()
    }
}

/// A chat request for a provider's unit tests: `params` (a JSON object) split as a caller's
/// would be, OpenAI parameters into `params` and the rest into `extra`.
#[cfg(test)]
pub(crate) fn test_request(model: &str, messages: Value, params: Value) -> ChatRequest {
    let mut body = params;
    body["model"] = Value::from(model);
    body["messages"] = messages;
    serde_json::from_value(body).expect("a test request")
}
