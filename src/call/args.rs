//! The front door of every call: its arguments, key by key, whether they come as Python
//! keywords or as the gateway's JSON body.
//!
//! [`classify`] says what a key is (the one table of it: [`ArgKind`]); [`CallArgs::set`]
//! reads the key's value, through any serde `Deserializer`, into the typed slot the key
//! names, and explains a bad value in words (`temperature must be a number, got the string
//! 'hot'`); a key that is one edit away from a known keyword fails instead of going to the
//! provider. [`CallArgs::prepare`] then builds the [`PreparedCall`] (through [`Call`], which
//! the router takes instead).
//!
//! Python feeds each keyword as a `&serde_json::Value` it builds straight from the Python
//! object (no JSON text); the gateway feeds the body's values (`&Value` or `&RawValue`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cache::{CacheControl, CacheUse, ResponseCache};
use crate::cost::CustomPricing;
use crate::error::{ErrorKind, LlmError};
use crate::providers::mock::MockSpec;
use crate::providers::{TargetOptions, TokenProvider};
use crate::spend::CallMetadata;
use crate::types::{
    ChatParams, ChatRequest, EmbeddingInput, EmbeddingRequest, EncodingFormat, Message,
    ParamReader, ToolCall, OPENAI_PARAMS,
};

pub use super::words::{from_python_value, from_value, ArgError, Spelling};
use super::words::{read_as, with_article};
use super::{prepare, CallOptions, PreparedCall, Request};

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

/// What a call argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// `model`, `messages`, `input`: what the call is about.
    Subject,
    /// An OpenAI chat parameter ([`OPENAI_PARAMS`]), typed, checked and translated per
    /// provider.
    OpenAi,
    /// An embeddings parameter (`dimensions`, `encoding_format`).
    Embedding,
    /// How to run the call: streaming, timeout, retries, `drop_params`, the mock, prices,
    /// `metadata` and `tags`.
    CallOption,
    /// Where the call goes and with what: key, base URL, API version, headers, provider.
    Credential,
    /// A provider setting kept out of the body (`vertex_project`, `aws_region_name`, ...).
    ProviderOption,
    /// The router's per-call settings (`hedge`, `min_capabilities`, `fallbacks`).
    Routing,
    /// LiteLLM machinery llmswitch accepts and does not use (caching, logging objects).
    Ignored,
    /// Anything else: a provider-specific parameter, sent in the provider's body.
    PassThrough,
}

/// Declares the named keys of each kind once: [`classify`] matches them, and the typo
/// check compares unknown keys against them.
macro_rules! arg_table {
    ($( $kind:ident: [$($key:literal),* $(,)?] ),* $(,)?) => {
        /// What `key` is. The one classification of call arguments: Python keywords and
        /// gateway JSON alike.
        pub fn classify(key: &str) -> ArgKind {
            match key {
                $( $($key)|* => ArgKind::$kind, )*
                k if NOT_FORWARDED.contains(&k) => ArgKind::Ignored,
                k if is_provider_option(k) => ArgKind::ProviderOption,
                k if OPENAI_PARAMS.contains(&k) => ArgKind::OpenAi,
                _ => ArgKind::PassThrough,
            }
        }

        /// The keywords a mistyped key is compared against.
        const NAMED_KEYS: &[&str] = &[$($($key,)*)*];
    };
}

arg_table! {
    Subject: ["model", "messages", "input"],
    Embedding: ["dimensions", "encoding_format"],
    CallOption: [
        "stream", "timeout", "request_timeout", "num_retries", "drop_params",
        "mock_response", "mock_tool_calls", "mock_delay",
        "custom_cost_per_token", "input_cost_per_token", "output_cost_per_token",
        "metadata", "litellm_metadata", "tags", "model_info", "caching", "cache",
    ],
    Credential: [
        "api_key", "api_base", "base_url", "api_version", "extra_headers", "headers",
        "custom_llm_provider",
    ],
    Routing: [
        "hedge", "min_capabilities", "fallbacks", "mock_testing_fallbacks",
        "mock_testing_context_fallbacks", "mock_testing_content_policy_fallbacks",
    ],
}

/// Keys LiteLLM accepts that configure its own machinery rather than the provider request.
/// They are accepted and not forwarded.
pub const NOT_FORWARDED: &[&str] = &[
    "litellm_call_id",
    "litellm_logging_obj",
    "logger_fn",
    "no-log",
    "proxy_server_request",
    "preset_cache_key",
    "input_cost_per_second",
    "output_cost_per_second",
    "acompletion",
    "client",
    "context_window_fallback_dict",
    "model_list",
    "max_parallel_requests",
    "hf_model_name",
    "supports_system_message",
    "mock_timeout",
    "litellm_trace_id",
    "litellm_session_id",
    "deployment_id",
    "max_retries",
];

/// Prefixes of provider settings (credentials, project, region) kept out of the body.
pub const PROVIDER_OPTION_PREFIXES: &[&str] = &["vertex_", "aws_", "azure_", "watsonx_"];

/// Provider settings LiteLLM names without a prefix: Azure's service principal
/// (`tenant_id`, `client_id`, `client_secret`), the model a deployment serves (`base_model`,
/// for pricing and model rules) and Bedrock's `model_id`.
pub const PROVIDER_OPTION_NAMES: &[&str] = &[
    "base_model",
    "tenant_id",
    "client_id",
    "client_secret",
    "model_id",
];

/// Whether a call argument is a provider setting (kept in `provider_options`, out of the
/// request body).
pub fn is_provider_option(key: &str) -> bool {
    PROVIDER_OPTION_PREFIXES.iter().any(|p| key.starts_with(p))
        || PROVIDER_OPTION_NAMES.contains(&key)
}

/// `model_info={"base_model": ...}`: the base model, if the map names one.
pub fn base_model_of(model_info: &Value) -> Option<&str> {
    model_info
        .get("base_model")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// Provider-specific parameters that are one edit away from a keyword above and are not
/// typos of it (`top_k` is not a mistyped `top_p`).
const PROVIDER_PARAMS_NEAR_KEYWORDS: &[&str] = &["top_k", "top_n", "min_tokens", "tag"];

/// Keywords shorter than this are not suggested: every short key is one edit from `n`.
const SUGGEST_MIN_LEN: usize = 4;

/// The keyword `key` is probably a typo of: one edit away from an OpenAI parameter or a
/// named key of [`classify`]'s table, and not a provider parameter known to be near one.
pub fn likely_typo(key: &str) -> Option<&'static str> {
    if PROVIDER_PARAMS_NEAR_KEYWORDS.contains(&key) || key.len() + 1 < SUGGEST_MIN_LEN {
        return None;
    }
    crate::suggest::closest(
        key,
        OPENAI_PARAMS
            .iter()
            .chain(NAMED_KEYS)
            .copied()
            .filter(|k| k.len() >= SUGGEST_MIN_LEN),
        1,
    )
}

/// How a front end should turn a key's value into something [`CallArgs::set`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueShape {
    /// Not read at all (an [`ArgKind::Ignored`] key): skip converting it.
    Skip,
    /// Any JSON value; a value JSON cannot represent is an error.
    Json,
    /// Any JSON value; a value JSON cannot represent is kept as its text (`metadata`,
    /// where callers put all sorts of objects).
    JsonOrText,
}

/// How to convert the value of `key` (see [`ValueShape`]).
pub fn value_shape(key: &str) -> ValueShape {
    match (key, classify(key)) {
        (_, ArgKind::Ignored) => ValueShape::Skip,
        ("metadata" | "litellm_metadata", _) => ValueShape::JsonOrText,
        _ => ValueShape::Json,
    }
}

/// Reads one OpenAI parameter for [`ChatParams::set_with`].
struct Reader<'k, D> {
    key: &'k str,
    value: D,
    spelling: Spelling,
}

impl<'de, D: Deserializer<'de> + Clone> ParamReader for Reader<'_, D> {
    type Error = ArgError;

    fn read<T: DeserializeOwned>(self) -> Result<Option<T>, ArgError> {
        read_as::<Option<T>, D>(self.key, self.value, self.spelling)
    }
}

// ---------------------------------------------------------------------------------------
// The arguments
// ---------------------------------------------------------------------------------------

/// `mock_response`: a reply (or an exception name), an error, or an embedding vector.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a string (the reply, or an exception name such as \"litellm.RateLimitError\"), an exception, or for embeddings a list of numbers"
)]
enum MockReply {
    Text(String),
    Vector(Vec<f64>),
    #[serde(skip)]
    Error(LlmError),
}

/// `tags`: one string or a list.
#[derive(Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
enum Tags {
    One(String),
    Many(Vec<String>),
}

/// `cache={...}`: LiteLLM's per-call cache controls (other keys are LiteLLM's own and are
/// ignored, as LiteLLM ignores them).
#[derive(Deserialize)]
struct CacheArg {
    #[serde(rename = "no-cache", default)]
    no_cache: Option<bool>,
    #[serde(rename = "no-store", default)]
    no_store: Option<bool>,
    #[serde(rename = "use-cache", default)]
    use_cache: Option<bool>,
    #[serde(default)]
    ttl: Option<f64>,
    #[serde(rename = "s-maxage", alias = "s-max-age", default)]
    max_age: Option<f64>,
    #[serde(default)]
    namespace: Option<String>,
}

/// A router call's own settings, read by the front door and typed by the router.
#[derive(Debug, Clone, Default)]
pub struct RoutingArgs {
    /// `hedge`: a policy (`{"after_ms": 800}`), or a false value for none.
    pub hedge: Option<Value>,
    /// `min_capabilities`: `{group: ["vision", ...]}`.
    pub min_capabilities: Option<Value>,
    /// `fallbacks`: model groups to try after this one.
    pub fallbacks: Option<Vec<String>>,
    /// `num_retries` given on the call (instead of the router's).
    pub num_retries: Option<u32>,
    /// `mock_testing_fallbacks=True` (`InternalServerError`),
    /// `mock_testing_context_fallbacks=True` (`ContextWindowExceededError`),
    /// `mock_testing_content_policy_fallbacks=True` (`ContentPolicyViolationError`): the
    /// error the requested group fails with at once, as in LiteLLM's Router.
    pub mock_testing: Option<ErrorKind>,
}

/// A call's arguments, read key by key. Build with [`CallArgs::new`] (or
/// [`CallArgs::for_python`]), [`CallArgs::set`] each argument, then
/// [`CallArgs::prepare`], or [`CallArgs::into_call`] for the router.
#[derive(Debug, Clone, Default)]
pub struct CallArgs {
    spelling: Spelling,
    model: Option<String>,
    messages: Option<Vec<Message>>,
    input: Option<Value>,
    params: ChatParams,
    /// Provider-specific parameters, sent in the provider's body.
    extra: Map<String, Value>,
    dimensions: Option<Value>,
    encoding_format: Option<Value>,
    target: TargetOptions,
    custom_llm_provider: Option<String>,
    stream: bool,
    timeout: Option<Duration>,
    num_retries: Option<u32>,
    drop_params: Option<bool>,
    default_drop_params: bool,
    mock_reply: Option<MockReply>,
    mock_tool_calls: Option<Vec<ToolCall>>,
    mock_delay: Option<Duration>,
    custom_pricing: Option<CustomPricing>,
    metadata: Map<String, Value>,
    tags: Vec<String>,
    user: Option<String>,
    hedge: Option<Value>,
    min_capabilities: Option<Value>,
    /// Typed by [`CallArgs::take_routing`] for the router, by [`CallArgs::into_attempts`]
    /// for a call that is not routed.
    fallbacks: Option<Value>,
    mock_testing: Option<ErrorKind>,
    /// `caching=` and `cache={...}`.
    cache_control: CacheControl,
    /// The response cache the call may use (set by the front end: `llmswitch.cache`, the
    /// gateway's).
    cache: Option<Arc<ResponseCache>>,
    /// `acompletion`/`aembedding` rather than `completion`/`embedding`.
    asynchronous: bool,
}

/// A call read from its arguments, for [`prepare`] (or the router).
#[derive(Debug, Clone)]
pub struct Call<R> {
    /// The model string as given (`provider/model`, a bare name, or a router group).
    pub model: String,
    pub custom_llm_provider: Option<String>,
    pub request: R,
    pub target: TargetOptions,
    pub options: CallOptions,
}

impl<R: Request> Call<R> {
    /// Check, translate and admit the call (see [`prepare`]).
    pub fn prepare(self) -> Result<PreparedCall<R>, LlmError> {
        prepare(
            &self.model,
            self.custom_llm_provider.as_deref(),
            self.request,
            &self.target,
            self.options,
        )
    }
}

fn seconds(secs: f64, what: &str) -> Result<Duration, ArgError> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        ArgError::Invalid(format!(
            "{what} must be a non-negative number of seconds, got {secs}"
        ))
    })
}

impl CallArgs {
    /// Arguments whose error messages speak JSON (`null`, array, object): the gateway's.
    pub fn new() -> Self {
        CallArgs::default()
    }

    /// Arguments whose error messages speak Python (`None`, list, dict).
    pub fn for_python() -> Self {
        CallArgs {
            spelling: Spelling::Python,
            ..Default::default()
        }
    }

    /// The `drop_params` to use when the call gives none (`llmswitch.drop_params`, or the
    /// gateway's `litellm_settings.drop_params`).
    pub fn default_drop_params(&mut self, drop: bool) {
        self.default_drop_params = drop;
    }

    /// Arguments from a JSON object (a gateway request body): every member is [`set`](Self::set).
    pub fn from_json_map(map: &Map<String, Value>) -> Result<Self, ArgError> {
        let mut args = CallArgs::new();
        for (key, value) in map {
            args.set(key, value)?;
        }
        Ok(args)
    }

    /// The response cache this call may use (LiteLLM's `litellm.cache`; the gateway's
    /// `litellm_settings.cache`). Whether it does is decided by the cache's settings and
    /// the call's `caching=` / `cache={...}`.
    pub fn use_cache(&mut self, cache: Option<Arc<ResponseCache>>) {
        self.cache = cache;
    }

    /// Mark the call as async (`acompletion`, `aembedding`), for the cache's
    /// `supported_call_types`.
    pub fn set_async(&mut self, asynchronous: bool) {
        self.asynchronous = asynchronous;
    }

    /// The model string given, if any.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Whether the call asked for a stream.
    pub fn stream(&self) -> bool {
        self.stream
    }

    /// The value of `key` as `T`; `None` for null.
    fn read<'de, T, D>(&self, key: &str, value: D) -> Result<Option<T>, ArgError>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de> + Clone,
    {
        read_as::<Option<T>, D>(key, value, self.spelling)
    }

    /// Read the argument `key` from `value` into the slot its kind names ([`classify`]).
    /// A null value leaves the argument unset (LiteLLM callers pass `None` for defaults),
    /// except for `model`. Pass values by reference (`&Value`, `&RawValue`): a failure is
    /// read a second time, to name the offending field.
    pub fn set<'de, D>(&mut self, key: &str, value: D) -> Result<(), ArgError>
    where
        D: Deserializer<'de> + Clone,
    {
        match classify(key) {
            ArgKind::Subject => self.set_subject(key, value),
            ArgKind::OpenAi => {
                let reader = Reader {
                    key,
                    value,
                    spelling: self.spelling,
                };
                if let Some(set) = self.params.set_with(key, reader) {
                    set?;
                }
                if key == "user" {
                    // The OpenAI `user` is also who the call is for, in the ledger.
                    self.user.clone_from(&self.params.user);
                }
                Ok(())
            }
            ArgKind::Embedding => {
                let v = self.read::<Value, _>(key, value)?;
                if key == "dimensions" {
                    self.dimensions = v;
                } else {
                    self.encoding_format = v;
                }
                Ok(())
            }
            ArgKind::CallOption => self.set_call_option(key, value),
            ArgKind::Credential => self.set_credential(key, value),
            ArgKind::Routing => self.set_routing(key, value),
            ArgKind::ProviderOption => {
                if let Some(v) = self.read::<Value, _>(key, value)? {
                    self.target.provider_options.insert(key.to_owned(), v);
                }
                Ok(())
            }
            ArgKind::Ignored => Ok(()),
            ArgKind::PassThrough => {
                let Some(v) = self.read::<Value, _>(key, value)? else {
                    return Ok(());
                };
                if let Some(meant) = likely_typo(key) {
                    return Err(ArgError::Misspelt {
                        key: key.to_owned(),
                        meant,
                    });
                }
                self.extra.insert(key.to_owned(), v);
                Ok(())
            }
        }
    }

    /// `azure_ad_token_provider=`: a caller's source of bearer tokens (a Python callable has
    /// no JSON form, so front ends hand it over already wrapped).
    pub fn set_token_provider(&mut self, provider: Arc<dyn TokenProvider>) {
        self.target.token_provider = Some(provider);
    }

    /// An argument whose value is an exception (Python's `mock_response=RateLimitError(...)`).
    pub fn set_exception(&mut self, key: &str, error: LlmError) -> Result<(), ArgError> {
        if key == "mock_response" {
            self.mock_reply = Some(MockReply::Error(error));
            return Ok(());
        }
        Err(ArgError::Invalid(format!(
            "{key} cannot be an exception (only mock_response can)"
        )))
    }

    fn set_subject<'de, D>(&mut self, key: &str, value: D) -> Result<(), ArgError>
    where
        D: Deserializer<'de> + Clone,
    {
        match key {
            "model" => {
                let model_words = |got: &str| {
                    ArgError::Invalid(format!(
                        "model must be a string like \"openai/gpt-4o\", got {got}"
                    ))
                };
                match self.read::<String, _>(key, value) {
                    Ok(Some(m)) => self.model = Some(m),
                    Ok(None) => return Err(model_words(self.spelling.null())),
                    Err(ArgError::Invalid(m)) => {
                        let got = m.rsplit_once(", got ").map_or("", |(_, g)| g);
                        return Err(model_words(got));
                    }
                    Err(e) => return Err(e),
                }
            }
            "messages" => {
                let messages = self.read::<Vec<Message>, _>(key, value).map_err(|e| match e {
                    // The whole value of the wrong shape: show the shape.
                    ArgError::Invalid(m) if m.starts_with("messages must be") => {
                        ArgError::Invalid(format!(
                            "messages must be {} of message {}s, e.g. [{{\"role\": \"user\", \"content\": \"hi\"}}], got {}",
                            with_article(self.spelling.list()),
                            self.spelling.map(),
                            m.rsplit_once(", got ").map_or("", |(_, g)| g)
                        ))
                    }
                    e => e,
                })?;
                if messages.is_some() {
                    self.messages = messages;
                }
            }
            _ => self.input = self.read::<Value, _>(key, value)?,
        }
        Ok(())
    }

    fn set_call_option<'de, D>(&mut self, key: &str, value: D) -> Result<(), ArgError>
    where
        D: Deserializer<'de> + Clone,
    {
        match key {
            "stream" => {
                if let Some(s) = self.read(key, value)? {
                    self.stream = s;
                }
            }
            "timeout" | "request_timeout" => {
                let secs = self.read::<f64, _>(key, value).map_err(|_| {
                    ArgError::Invalid(format!(
                        "{key} must be a number of seconds or an httpx.Timeout"
                    ))
                })?;
                if let Some(secs) = secs {
                    self.timeout = Some(seconds(secs, key)?);
                }
            }
            "num_retries" => {
                if let Some(n) = self.read(key, value)? {
                    self.num_retries = Some(n);
                }
            }
            "drop_params" => {
                if let Some(d) = self.read(key, value)? {
                    self.drop_params = Some(d);
                }
            }
            "mock_response" => {
                if let Some(m) = self.read(key, value)? {
                    self.mock_reply = Some(m);
                }
            }
            "mock_tool_calls" => {
                if let Some(calls) = self.read(key, value)? {
                    self.mock_tool_calls = Some(calls);
                }
            }
            "mock_delay" => {
                if let Some(secs) = self.read::<f64, _>(key, value)? {
                    self.mock_delay = Some(seconds(secs, key)?);
                }
            }
            "custom_cost_per_token" => {
                if let Some(p) = self.read(key, value)? {
                    self.custom_pricing = Some(p);
                }
            }
            "input_cost_per_token" => {
                if let Some(p) = self.read(key, value)? {
                    self.custom_pricing
                        .get_or_insert_with(Default::default)
                        .input_cost_per_token = Some(p);
                }
            }
            "output_cost_per_token" => {
                if let Some(p) = self.read(key, value)? {
                    self.custom_pricing
                        .get_or_insert_with(Default::default)
                        .output_cost_per_token = Some(p);
                }
            }
            "metadata" | "litellm_metadata" => {
                let map = self.read::<Map<String, Value>, _>(key, value).map_err(|_| {
                    ArgError::Invalid(format!(
                        "{key} must be {}, e.g. {{\"user\": \"alice\", \"project\": \"search\", \"tags\": [\"summarize\"]}}",
                        with_article(self.spelling.map())
                    ))
                })?;
                self.metadata.extend(map.unwrap_or_default());
            }
            "model_info" => {
                // Only `base_model` matters to a call (LiteLLM's way to name the model behind
                // an Azure deployment); the rest of the map is LiteLLM's bookkeeping.
                let info = self.read::<Value, _>(key, value).ok().flatten();
                if let Some(base) = info.as_ref().and_then(base_model_of) {
                    self.target
                        .provider_options
                        .entry("base_model")
                        .or_insert_with(|| Value::from(base));
                }
            }
            "caching" => {
                self.cache_control.caching = self.read(key, value)?;
            }
            "cache" => {
                if let Some(c) = self.read::<CacheArg, _>(key, value)? {
                    let secs = |v: Option<f64>, what: &str| v.map(|s| seconds(s, what)).transpose();
                    let control = &mut self.cache_control;
                    control.no_cache = c.no_cache.unwrap_or(false);
                    control.no_store = c.no_store.unwrap_or(false);
                    control.use_cache = c.use_cache.unwrap_or(false);
                    control.ttl = secs(c.ttl, "cache['ttl']")?;
                    control.max_age = secs(c.max_age, "cache['s-maxage']")?;
                    control.namespace = c.namespace;
                }
            }
            _tags => match self.read::<Tags, _>(key, value)? {
                Some(Tags::One(t)) => self.tags.push(t),
                Some(Tags::Many(ts)) => self.tags.extend(ts),
                None => {}
            },
        }
        Ok(())
    }

    fn set_credential<'de, D>(&mut self, key: &str, value: D) -> Result<(), ArgError>
    where
        D: Deserializer<'de> + Clone,
    {
        match key {
            "api_key" => {
                if let Some(k) = self.read::<String, _>(key, value)? {
                    self.target.api_key = Some(SecretString::from(k));
                }
            }
            "api_base" | "base_url" => {
                if let Some(b) = self.read(key, value)? {
                    self.target.api_base = Some(b);
                }
            }
            "api_version" => {
                if let Some(v) = self.read(key, value)? {
                    self.target.api_version = Some(v);
                }
            }
            "extra_headers" | "headers" => {
                if let Some(h) = self.read::<BTreeMap<String, String>, _>(key, value)? {
                    self.target.extra_headers.extend(h);
                }
            }
            _custom_llm_provider => {
                if let Some(p) = self.read(key, value)? {
                    self.custom_llm_provider = Some(p);
                }
            }
        }
        Ok(())
    }

    fn set_routing<'de, D>(&mut self, key: &str, value: D) -> Result<(), ArgError>
    where
        D: Deserializer<'de> + Clone,
    {
        let Some(v) = self.read::<Value, _>(key, value)? else {
            return Ok(());
        };
        let kind = match key {
            "hedge" => {
                self.hedge = Some(v);
                return Ok(());
            }
            "min_capabilities" => {
                self.min_capabilities = Some(v);
                return Ok(());
            }
            "fallbacks" => {
                self.fallbacks = Some(v);
                return Ok(());
            }
            "mock_testing_fallbacks" => ErrorKind::InternalServer,
            "mock_testing_context_fallbacks" => ErrorKind::ContextWindowExceeded,
            _content_policy => ErrorKind::ContentPolicyViolation,
        };
        // LiteLLM reads these as flags: only `True` (or "true") turns one on.
        let on = match &v {
            Value::Bool(b) => *b,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        if on && self.mock_testing.is_none() {
            self.mock_testing = Some(kind);
        }
        Ok(())
    }

    /// Take out the router's per-call settings.
    pub fn take_routing(&mut self) -> Result<RoutingArgs, ArgError> {
        let fallbacks = match self.fallbacks.take() {
            None => None,
            Some(v) => {
                // LiteLLM also takes per-call fallbacks as {"model": name} dicts; only
                // group names route here.
                let not_a_group =
                    || ArgError::Invalid("fallbacks: each entry must be a model group name".into());
                let Value::Array(chain) = v else {
                    return Err(not_a_group());
                };
                let groups = chain
                    .into_iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s),
                        Value::Object(m) => m
                            .get("model")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(not_a_group),
                        _ => Err(not_a_group()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(groups)
            }
        };
        Ok(RoutingArgs {
            hedge: self.hedge.take(),
            min_capabilities: self.min_capabilities.take(),
            fallbacks,
            num_retries: self.num_retries,
            mock_testing: self.mock_testing.take(),
        })
    }

    /// A call that is not routed, as the attempts to make in order (LiteLLM's
    /// `completion`): this call, then one per entry of its `fallbacks` (else of the module
    /// setting `model_fallbacks`, see [`super::defaults`]): a model name, or a mapping of a
    /// `model` and arguments that replace this call's. Each attempt's model is renamed by
    /// the module setting `model_alias_map` when it is a key there.
    pub fn into_attempts(mut self) -> Result<Vec<CallArgs>, LlmError> {
        let mut attempts = self.take_fallbacks()?;
        attempts.insert(0, self);
        Ok(attempts)
    }

    /// [`CallArgs::into_attempts`] without moving this call (a call without fallbacks, the
    /// usual case, is prepared where it is): its model renamed by `model_alias_map`, and
    /// the fallback attempts (none, usually).
    pub fn take_fallbacks(&mut self) -> Result<Vec<CallArgs>, LlmError> {
        let defaults = super::defaults::current();
        // LiteLLM: `fallbacks or litellm.model_fallbacks`.
        let fallbacks = match self.fallbacks.take() {
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(Value::Null | Value::Array(_)) | None => defaults
                .as_deref()
                .and_then(|d| d.model_fallbacks.clone())
                .unwrap_or_default(),
            Some(_) => {
                return Err(LlmError::bad_request(
                    "fallbacks must be a list of model names or of {\"model\": ..., other arguments} mappings",
                ))
            }
        };
        self.mock_testing = None;
        let alias = |args: &mut CallArgs| {
            if let (Some(d), Some(m)) = (defaults.as_deref(), args.model.as_ref()) {
                if let Some(to) = d.model_alias_map.get(m) {
                    args.model = Some(to.clone());
                }
            }
        };
        let mut attempts = Vec::with_capacity(fallbacks.len());
        for entry in fallbacks {
            let mut next = self.clone();
            match entry {
                Value::String(model) => next.model = Some(model),
                Value::Object(overrides) => {
                    for (key, value) in &overrides {
                        next.set(key, value).map_err(|e| {
                            let mut e = LlmError::from(e);
                            e.message = format!("fallbacks: {}", e.message);
                            e
                        })?;
                    }
                }
                _ => {
                    return Err(LlmError::bad_request(
                        "fallbacks must be a list of model names or of {\"model\": ..., other arguments} mappings",
                    ))
                }
            }
            alias(&mut next);
            attempts.push(next);
        }
        alias(self);
        Ok(attempts)
    }

    /// The call options, with the mock and metadata assembled.
    fn take_options(&mut self, embedding: bool) -> Result<CallOptions, LlmError> {
        let mut mock = match self.mock_reply.take() {
            None => None,
            Some(MockReply::Text(t)) => Some(MockSpec::from_text(&t)),
            Some(MockReply::Error(e)) => Some(MockSpec {
                error: Some(e),
                ..Default::default()
            }),
            Some(MockReply::Vector(v)) if embedding => Some(MockSpec {
                vector: Some(v),
                ..Default::default()
            }),
            Some(MockReply::Vector(_)) => {
                return Err(LlmError::bad_request(
                    "mock_response must be a string (the reply, or an exception name such as \"litellm.RateLimitError\") or an exception; a list of numbers answers embedding calls",
                ))
            }
        };
        if self.mock_tool_calls.is_some() || self.mock_delay.is_some() {
            let spec = mock.get_or_insert_with(MockSpec::default);
            if self.mock_tool_calls.is_some() {
                spec.tool_calls = self.mock_tool_calls.take();
            }
            spec.delay = self.mock_delay;
        }
        let metadata = if self.metadata.is_empty() && self.tags.is_empty() && self.user.is_none() {
            None
        } else {
            let mut m = CallMetadata::from_map(std::mem::take(&mut self.metadata));
            if m.user.is_none() {
                m.user = self.user.take();
            }
            for t in self.tags.drain(..) {
                if !m.tags.contains(&t) {
                    m.tags.push(t);
                }
            }
            Some(Arc::new(m))
        };
        let cache = match self.cache.take() {
            Some(cache) => CacheUse::Decide {
                cache,
                control: std::mem::take(&mut self.cache_control),
                asynchronous: self.asynchronous,
            },
            None => CacheUse::Off,
        };
        let defaults = super::defaults::current();
        let defaults = defaults.as_deref();
        Ok(CallOptions {
            stream: self.stream,
            timeout: self.timeout.or(defaults.and_then(|d| d.timeout)),
            num_retries: self
                .num_retries
                .or(defaults.and_then(|d| d.num_retries))
                .unwrap_or(0),
            drop_params: self
                .drop_params
                .unwrap_or(self.default_drop_params || defaults.is_some_and(|d| d.drop_params)),
            mock,
            custom_pricing: self.custom_pricing,
            metadata,
            deployment: None,
            cache,
        })
    }

    /// Whether the call asks for a stream (`stream=True`).
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The call, for a request of kind `R` (chat or embeddings).
    pub fn into_call<R: FromArgs>(self) -> Result<Call<R>, LlmError> {
        R::from_args(self)
    }

    /// The front door: the call's arguments, checked, translated and admitted (see
    /// [`prepare`]), ready to send with [`super::execute`] / [`super::execute_stream`].
    pub fn prepare<R: FromArgs + Request>(self) -> Result<PreparedCall<R>, LlmError> {
        self.into_call::<R>()?.prepare()
    }
}

/// A request kind built from [`CallArgs`].
pub trait FromArgs: Sized {
    fn from_args(args: CallArgs) -> Result<Call<Self>, LlmError>;
}

impl FromArgs for ChatRequest {
    fn from_args(mut args: CallArgs) -> Result<Call<ChatRequest>, LlmError> {
        let options = args.take_options(false)?;
        // Embedding arguments on a chat call are provider-specific there: sent as given.
        for (key, value) in [
            ("input", args.input.take()),
            ("dimensions", args.dimensions.take()),
            ("encoding_format", args.encoding_format.take()),
        ] {
            if let Some(v) = value {
                args.extra.insert(key.to_owned(), v);
            }
        }
        let model = args.model.unwrap_or_default();
        Ok(Call {
            request: ChatRequest {
                model: model.clone(),
                messages: args.messages.unwrap_or_default(),
                params: args.params,
                extra: args.extra,
            },
            model,
            custom_llm_provider: args.custom_llm_provider,
            target: args.target,
            options,
        })
    }
}

impl FromArgs for EmbeddingRequest {
    /// `dimensions`, `encoding_format` and `user` are the embedding parameters; any other
    /// chat parameter fails (or, with `drop_params`, is dropped). Other keys pass through
    /// to the provider's body.
    fn from_args(mut args: CallArgs) -> Result<Call<EmbeddingRequest>, LlmError> {
        let options = args.take_options(true)?;
        if args.messages.is_some() {
            return Err(LlmError::bad_request(
                "messages is an argument of chat calls; embeddings take input=",
            ));
        }
        let input = match args.input.take() {
            Some(v) => EmbeddingInput::from_value(v).map_err(LlmError::bad_request)?,
            None => {
                return Err(LlmError::bad_request(
                    "input is required: a string, a list of strings, a list of token ids, or a list of token-id lists",
                ))
            }
        };
        let model = args.model.unwrap_or_default();
        let mut req = EmbeddingRequest::new(model.clone(), input);
        req.user = args.params.user.take();
        let others: Vec<&'static str> = args.params.set_names();
        if !others.is_empty() && !options.drop_params {
            return Err(LlmError::new(
                ErrorKind::UnsupportedParams,
                format!(
                    "Not embedding parameters: {}. Embeddings take dimensions, encoding_format and user (and provider-specific fields); pass drop_params=True to drop the others",
                    others.join(", ")
                ),
            ));
        }
        if let Some(v) = args.dimensions.take() {
            let n = v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    LlmError::bad_request(format!("dimensions must be a positive integer, got {v}"))
                })?;
            req.dimensions = Some(n);
        }
        if let Some(v) = args.encoding_format.take() {
            req.encoding_format = Some(
                serde_json::from_value::<EncodingFormat>(v.clone()).map_err(|_| {
                    LlmError::bad_request(format!(
                        "encoding_format must be \"float\" or \"base64\", got {v}"
                    ))
                })?,
            );
        }
        req.extra = args.extra;
        Ok(Call {
            request: req,
            model,
            custom_llm_provider: args.custom_llm_provider,
            target: args.target,
            options,
        })
    }
}

#[cfg(test)]
mod tests;
