//! A deployment: one entry of `model_list`, read once into what each call needs (model,
//! credentials, call defaults, routing limits, costs and capabilities), plus its live state
//! in atomics (in flight, latency, failures, cooldown, per-minute usage).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::clock::{micros, MinuteCounter};
use crate::call::CallArgs;
use crate::call::CallOptions;
use crate::cost::CustomPricing;
use crate::error::LlmError;
use crate::model_id;
use crate::providers::mock::MockSpec;
use crate::providers::TargetOptions;
use crate::types::{ChatParams, ChatRequest, EmbeddingRequest, EncodingFormat};

/// One entry of `model_list`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentConfig {
    /// The model group this deployment serves (what callers pass as `model`).
    pub model_name: String,
    /// `model`, credentials, `rpm`/`tpm`/`weight`/`order`, call defaults, and parameters
    /// sent with every request. `llmswitch_params` is accepted as an alias.
    #[serde(alias = "llmswitch_params")]
    pub litellm_params: Map<String, Value>,
    /// `id`, costs and capabilities (overriding the catalogue).
    #[serde(default)]
    pub model_info: Map<String, Value>,
    /// `litellm_params` whose value is an error, which JSON cannot hold (Python's
    /// `"mock_response": RateLimitError(...)`): a front end puts them here.
    #[serde(skip)]
    pub errors: BTreeMap<String, LlmError>,
}

impl DeploymentConfig {
    /// Whether two entries configure the same deployment (LiteLLM's `upsert_deployment`
    /// test: same `model_name`, `litellm_params` and `model_info`).
    pub fn same_as(&self, other: &DeploymentConfig) -> bool {
        self.model_name == other.model_name
            && self.litellm_params == other.litellm_params
            && self.model_info == other.model_info
            && self.errors.len() == other.errors.len()
            && self
                .errors
                .iter()
                .zip(&other.errors)
                .all(|((ka, a), (kb, b))| ka == kb && a.kind == b.kind && a.message == b.message)
    }

    /// `model_info.id`, if the entry gives one.
    pub fn given_id(&self) -> Option<String> {
        match self.model_info.get("id") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// What the router knows about a deployment's model: prices and limits for cost-based
/// routing and pre-call checks. `None` is unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFacts {
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub supports_vision: Option<bool>,
    pub supports_function_calling: Option<bool>,
    pub supports_response_schema: Option<bool>,
}

impl ModelFacts {
    /// Fill what is unknown here from `other`.
    fn fill_from(&mut self, other: &ModelFacts) {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = other.$f; } )* };
        }
        fill!(
            input_cost_per_token,
            output_cost_per_token,
            max_input_tokens,
            max_output_tokens,
            supports_vision,
            supports_function_calling,
            supports_response_schema
        );
    }

    /// Facts set explicitly in a `model_info` or `litellm_params` map.
    fn from_map(m: &Map<String, Value>) -> ModelFacts {
        let f = |k: &str| m.get(k).and_then(Value::as_f64);
        let u = |k: &str| m.get(k).and_then(Value::as_f64).map(|v| v as u64);
        let b = |k: &str| m.get(k).and_then(Value::as_bool);
        ModelFacts {
            input_cost_per_token: f("input_cost_per_token"),
            output_cost_per_token: f("output_cost_per_token"),
            max_input_tokens: u("max_input_tokens"),
            max_output_tokens: u("max_output_tokens").or_else(|| u("max_tokens")),
            supports_vision: b("supports_vision"),
            supports_function_calling: b("supports_function_calling"),
            supports_response_schema: b("supports_response_schema"),
        }
    }

    /// Price of one input plus one output token, for ordering by cost (unknown is last).
    pub fn unit_cost(&self) -> f64 {
        match (self.input_cost_per_token, self.output_cost_per_token) {
            (None, None) => f64::INFINITY,
            (i, o) => i.unwrap_or(0.0) + o.unwrap_or(0.0),
        }
    }
}

/// A finished call's cost in dollars, when prices are known.
pub fn cost_of(facts: &ModelFacts, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
    if facts.input_cost_per_token.is_none() && facts.output_cost_per_token.is_none() {
        return None;
    }
    Some(
        facts.input_cost_per_token.unwrap_or(0.0) * prompt_tokens as f64
            + facts.output_cost_per_token.unwrap_or(0.0) * completion_tokens as f64,
    )
}

/// Request parameters a deployment sends with every call (unless the call sets them).
#[derive(Debug, Clone, Default)]
pub struct RequestDefaults {
    pub params: ChatParams,
    pub extra: Map<String, Value>,
}

/// One deployment of a model group.
pub struct Deployment {
    /// Position in the router's list.
    pub index: usize,
    /// `model_info.id`, else a stable hash of the entry.
    pub id: String,
    pub model_group: String,
    /// `litellm_params.model`, e.g. `anthropic/claude-sonnet-4-20250514`.
    pub model: String,
    pub provider: String,
    /// The model name as the provider knows it (`claude-sonnet-4-20250514`).
    pub provider_model: String,
    pub custom_llm_provider: Option<String>,
    pub target: TargetOptions,
    pub timeout: Option<Duration>,
    pub drop_params: bool,
    pub mock: Option<MockSpec>,
    pub defaults: Option<RequestDefaults>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub weight: Option<f64>,
    pub order: Option<u32>,
    pub max_parallel_requests: Option<u32>,
    pub facts: ModelFacts,
    /// Prices set on the deployment (`model_info` or `litellm_params`), which cost its
    /// calls instead of the catalogue's, as in LiteLLM.
    pub pricing: Option<CustomPricing>,
    /// Shared with the deployment of the same id in a router rebuilt from this one
    /// ([`super::Router::with_model_list`]), so cooldowns and averages survive an edit.
    pub state: Arc<DeploymentState>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("id", &self.id)
            .field("model_group", &self.model_group)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

fn as_u64(v: &Value, what: &str) -> Result<u64, LlmError> {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .ok_or_else(|| LlmError::bad_request(format!("{what} must be a non-negative number")))
}

fn as_secs(v: &Value, what: &str) -> Result<Duration, LlmError> {
    v.as_f64()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            LlmError::bad_request(format!("{what} must be a non-negative number of seconds"))
        })
}

/// FNV-1a, for ids of deployments that have none: stable across runs and processes.
fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Deployment {
    /// Read one `model_list` entry. `defaults` are the router's `default_litellm_params`;
    /// `catalogue` looks up what is known about `(provider, model)`.
    pub fn from_config(
        index: usize,
        config: &DeploymentConfig,
        defaults: &Map<String, Value>,
        catalogue: &dyn Fn(&str, &str) -> ModelFacts,
    ) -> Result<Deployment, LlmError> {
        let at = |key: &str| format!("model_list[{index}].litellm_params.{key}");
        let mut params = defaults.clone();
        params.extend(config.litellm_params.clone());
        let model = match params.get("model") {
            Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
            _ => {
                return Err(LlmError::bad_request(format!(
                    "model_list[{index}] (model_name {:?}): litellm_params.model is required, e.g. \"openai/gpt-4o\"",
                    config.model_name
                )))
            }
        };
        let custom_llm_provider = params
            .get("custom_llm_provider")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // A wildcard deployment (`"openai/*"`, `"*"`) takes its model from each request;
        // a bare `*` has no provider until then.
        let id_parts = if model.trim() == "*" && custom_llm_provider.is_none() {
            model_id::ModelId {
                provider: String::new(),
                model: model.clone(),
            }
        } else {
            model_id::resolve(&model, custom_llm_provider.as_deref())
                .map_err(|e| LlmError::bad_request(format!("model_list[{index}]: {}", e.message)))?
        };

        let mut dep = Deployment {
            index,
            id: String::new(),
            model_group: config.model_name.clone(),
            model: model.clone(),
            provider: id_parts.provider.clone(),
            provider_model: id_parts.model.clone(),
            custom_llm_provider,
            target: TargetOptions::default(),
            timeout: None,
            drop_params: false,
            mock: None,
            defaults: None,
            rpm: None,
            tpm: None,
            weight: None,
            order: None,
            max_parallel_requests: None,
            facts: ModelFacts::default(),
            pricing: None,
            state: Arc::default(),
        };
        // The deployment's own keys; everything else is a call argument, read by the
        // front door as a call's would be, and sent with every call on this deployment.
        let mut args = CallArgs::new();
        let mut stream_timeout = None;
        for (key, value) in &params {
            if value.is_null() {
                continue;
            }
            let k = key.as_str();
            match k {
                "rpm" => dep.rpm = Some(as_u64(value, &at(k))?),
                "tpm" => dep.tpm = Some(as_u64(value, &at(k))?),
                "weight" => {
                    dep.weight = Some(value.as_f64().filter(|w| *w >= 0.0).ok_or_else(|| {
                        LlmError::bad_request(format!("{} must be a non-negative number", at(k)))
                    })?)
                }
                "order" => {
                    dep.order = Some(u32::try_from(as_u64(value, &at(k))?).unwrap_or(u32::MAX))
                }
                "max_parallel_requests" => {
                    dep.max_parallel_requests =
                        Some(u32::try_from(as_u64(value, &at(k))?).unwrap_or(u32::MAX))
                }
                // LiteLLM's timeout for streams; one timeout here.
                "stream_timeout" => stream_timeout = Some(as_secs(value, &at(k))?),
                // Retries are the router's; the deployment's own count is not used.
                "num_retries"
                | "input_cost_per_token"
                | "output_cost_per_token"
                | "max_input_tokens"
                | "max_output_tokens"
                | "supports_vision"
                | "supports_function_calling"
                | "supports_response_schema"
                | "tags"
                | "region_name" => {}
                _ => args.set(k, value).map_err(|e| {
                    let mut e = LlmError::from(e);
                    e.message = format!("model_list[{index}].litellm_params.{}", e.message);
                    e
                })?,
            }
        }
        for (key, error) in &config.errors {
            args.set_exception(key, error.clone()).map_err(|e| {
                let mut e = LlmError::from(e);
                e.message = format!("model_list[{index}].litellm_params.{}", e.message);
                e
            })?;
        }
        let call = args.into_call::<ChatRequest>().map_err(|mut e| {
            e.message = format!("model_list[{index}].litellm_params: {}", e.message);
            e
        })?;
        dep.target = call.target;
        dep.timeout = call.options.timeout.or(stream_timeout);
        dep.drop_params = call.options.drop_params;
        dep.mock = call.options.mock;
        let request = call.request;
        if request.params != ChatParams::default() || !request.extra.is_empty() {
            dep.defaults = Some(RequestDefaults {
                params: request.params,
                extra: request.extra,
            });
        }
        // Explicit facts: model_info first, then litellm_params, then the catalogue.
        let mut facts = ModelFacts::from_map(&config.model_info);
        facts.fill_from(&ModelFacts::from_map(&params));
        if facts.input_cost_per_token.is_some() || facts.output_cost_per_token.is_some() {
            dep.pricing = Some(CustomPricing {
                input_cost_per_token: facts.input_cost_per_token,
                output_cost_per_token: facts.output_cost_per_token,
            });
        }
        // An Azure deployment's model_info.base_model names the model it serves.
        let base_model = config
            .model_info
            .get("base_model")
            .and_then(Value::as_str)
            .filter(|b| !b.trim().is_empty());
        if let Some(base) = base_model {
            dep.target
                .provider_options
                .entry("base_model")
                .or_insert_with(|| Value::from(base));
        }
        let catalogue_model = dep
            .target
            .provider_options
            .get("base_model")
            .and_then(Value::as_str)
            .map(|b| b.rsplit_once('/').map_or(b, |(_, m)| m).to_owned())
            .unwrap_or_else(|| id_parts.model.clone());
        facts.fill_from(&catalogue(&id_parts.provider, &catalogue_model));
        dep.facts = facts;
        dep.id = match config.given_id() {
            Some(id) => id,
            None => {
                // Keys must not end up in ids: hash without them.
                let mut hashed = config.litellm_params.clone();
                hashed.remove("api_key");
                format!(
                    "{:016x}",
                    stable_hash(&format!(
                        "{}\u{0}{}\u{0}{index}",
                        config.model_name,
                        Value::Object(hashed)
                    ))
                )
            }
        };
        Ok(dep)
    }

    /// The model an attempt sends for a request of `requested`: `litellm_params.model`, or
    /// for a wildcard deployment that model with each `*` replaced by what the request's
    /// `*`s matched ([`super::wildcard`]).
    pub fn model_for<'a>(&'a self, matched: Option<&super::wildcard::Match>) -> Cow<'a, str> {
        match matched {
            Some(m) if self.model.contains('*') => Cow::Owned(m.fill(&self.model)),
            _ => Cow::Borrowed(&self.model),
        }
    }

    /// The call options of an attempt on this deployment: the call's own settings win over
    /// the deployment's, which win over the router's.
    pub fn call_options(
        &self,
        call: &CallOptions,
        router_timeout: Option<Duration>,
    ) -> CallOptions {
        CallOptions {
            stream: call.stream,
            timeout: call.timeout.or(self.timeout).or(router_timeout),
            // The router retries, across deployments; each attempt is one request.
            num_retries: 0,
            drop_params: call.drop_params || self.drop_params,
            mock: call.mock.clone().or_else(|| self.mock.clone()),
            custom_pricing: call.custom_pricing.or(self.pricing),
            metadata: call.metadata.clone(),
            deployment: Some(self.id.clone()),
            // The router looked the call up already; its attempts store under its key.
            cache: call.cache.clone(),
        }
    }

    /// The target of an attempt: the deployment's credentials and base, overridden by the
    /// call's where it set them.
    pub fn target_options(&self, call: &TargetOptions) -> TargetOptions {
        let mut t = self.target.clone();
        if call.api_key.is_some() {
            t.api_key.clone_from(&call.api_key);
        }
        if call.api_base.is_some() {
            t.api_base.clone_from(&call.api_base);
        }
        if call.api_version.is_some() {
            t.api_version.clone_from(&call.api_version);
        }
        t.extra_headers.extend(call.extra_headers.iter().cloned());
        if call.token_provider.is_some() {
            t.token_provider.clone_from(&call.token_provider);
        }
        for (k, v) in &call.provider_options {
            t.provider_options.insert(k.clone(), v.clone());
        }
        t
    }

    /// The request of an attempt: the call's, with the deployment's default parameters
    /// where the call set none.
    pub fn request(&self, call: &ChatRequest) -> ChatRequest {
        let mut req = call.clone();
        if let Some(d) = &self.defaults {
            req.params.fill_from(&d.params);
            for (k, v) in &d.extra {
                req.extra.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        req
    }

    /// The embeddings request of an attempt: the call's, with the deployment's `dimensions`,
    /// `encoding_format`, `user` and provider-specific fields (`input_type`, ...) where the
    /// call set none. Its chat parameters (`temperature`, ...) do not apply.
    pub fn embedding_request(&self, call: &EmbeddingRequest) -> EmbeddingRequest {
        let mut req = call.clone();
        let Some(d) = &self.defaults else {
            return req;
        };
        if req.user.is_none() {
            req.user.clone_from(&d.params.user);
        }
        for (k, v) in &d.extra {
            match k.as_str() {
                "dimensions" if req.dimensions.is_none() => {
                    req.dimensions = v.as_u64().and_then(|n| u32::try_from(n).ok());
                }
                "encoding_format" if req.encoding_format.is_none() => {
                    req.encoding_format = serde_json::from_value::<EncodingFormat>(v.clone()).ok();
                }
                "dimensions" | "encoding_format" => {}
                _ => {
                    req.extra.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        req
    }

    /// The deployment's configured `api_base`, or the provider's default.
    pub fn api_base(&self) -> &str {
        self.target.api_base.as_deref().unwrap_or("")
    }
}

/// An exponentially weighted moving average in an atomic (f64 bits), in milliseconds.
#[derive(Debug, Default)]
pub struct Ewma(AtomicU64);

/// Weight of a new sample.
const EWMA_ALPHA: f64 = 0.3;

impl Ewma {
    pub fn record(&self, sample_ms: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |bits| {
                let old = f64::from_bits(bits);
                let new = if bits == 0 {
                    sample_ms
                } else {
                    old + EWMA_ALPHA * (sample_ms - old)
                };
                // 0 means "no sample yet": keep a measured 0 distinguishable.
                Some(new.max(f64::MIN_POSITIVE).to_bits())
            });
    }

    /// The average, or None before the first sample.
    pub fn get(&self) -> Option<f64> {
        let bits = self.0.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }
}

/// A sum of f64 in an atomic (bits), for money.
#[derive(Debug, Default)]
pub struct AtomicSum(AtomicU64);

impl AtomicSum {
    pub fn add(&self, v: f64) {
        if v == 0.0 || !v.is_finite() {
            return;
        }
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Live state of a deployment, shared by every call; atomics only.
#[derive(Debug, Default)]
pub struct DeploymentState {
    pub in_flight: AtomicU32,
    pub successes: AtomicU64,
    pub failures: AtomicU64,
    pub fails_this_minute: MinuteCounter,
    pub requests_this_minute: MinuteCounter,
    pub tokens_this_minute: MinuteCounter,
    /// Clock microseconds until which the deployment is skipped (0: never cooled down).
    pub cooldown_until_us: AtomicU64,
    pub cooldowns: AtomicU64,
    pub latency: Ewma,
    pub ttft: Ewma,
    /// Hedge attempts sent here, and attempts here cancelled because another won.
    pub hedges: AtomicU64,
    pub cancelled: AtomicU64,
    /// USD spent here: answered calls, plus the estimated prompt cost of hedge attempts
    /// cancelled after they were sent.
    pub spend: AtomicSum,
}

impl DeploymentState {
    pub fn cooling_down(&self, now: Duration) -> bool {
        micros(now) < self.cooldown_until_us.load(Ordering::Acquire)
    }

    /// Time left in cooldown.
    pub fn cooldown_left(&self, now: Duration) -> Option<Duration> {
        let until = self.cooldown_until_us.load(Ordering::Acquire);
        let now = micros(now);
        (now < until).then(|| Duration::from_micros(until - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> DeploymentConfig {
        serde_json::from_value(v).unwrap()
    }

    fn no_catalogue(_: &str, _: &str) -> ModelFacts {
        ModelFacts::default()
    }

    #[test]
    fn reads_params_into_parts() {
        let c = config(json!({"model_name": "smart", "litellm_params": {
            "model": "openai/gpt-4o", "api_key": "sk-1", "api_base": "http://h/v1", "rpm": 500,
            "tpm": 400000, "weight": 2, "order": 1, "timeout": 3, "temperature": 0.2, "top_k": 5,
            "mock_response": "hi", "mock_delay": 0.5},
            "model_info": {"id": "sonnet-1", "input_cost_per_token": 0.000003}}));
        let d = Deployment::from_config(0, &c, &Map::new(), &no_catalogue).unwrap();
        assert_eq!(d.id, "sonnet-1");
        assert_eq!(d.provider, "openai");
        assert_eq!(d.rpm, Some(500));
        assert_eq!(d.tpm, Some(400000));
        assert_eq!(d.weight, Some(2.0));
        assert_eq!(d.order, Some(1));
        assert_eq!(d.timeout, Some(Duration::from_secs(3)));
        assert_eq!(d.api_base(), "http://h/v1");
        let defaults = d.defaults.as_ref().unwrap();
        assert_eq!(defaults.params.temperature, Some(0.2));
        assert_eq!(defaults.extra["top_k"], json!(5));
        let mock = d.mock.as_ref().unwrap();
        assert_eq!(mock.content.as_deref(), Some("hi"));
        assert_eq!(mock.delay, Some(Duration::from_millis(500)));
        assert_eq!(d.facts.input_cost_per_token, Some(0.000003));

        let mut req = ChatRequest::new("smart", vec![]);
        req.params.temperature = Some(0.9);
        let r = d.request(&req);
        assert_eq!(r.params.temperature, Some(0.9), "the call wins");
        assert_eq!(r.extra["top_k"], json!(5));
    }

    #[test]
    fn ids_are_stable_and_keyless() {
        let c = config(
            json!({"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-secret"}}),
        );
        let a = Deployment::from_config(0, &c, &Map::new(), &no_catalogue).unwrap();
        let b = Deployment::from_config(0, &c, &Map::new(), &no_catalogue).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.id.len(), 16);
        let other = Deployment::from_config(1, &c, &Map::new(), &no_catalogue).unwrap();
        assert_ne!(a.id, other.id);
    }

    #[test]
    fn bad_entries_fail_with_their_position() {
        let c = config(json!({"model_name": "m", "litellm_params": {"api_key": "x"}}));
        let e = Deployment::from_config(3, &c, &Map::new(), &no_catalogue).unwrap_err();
        assert!(e.message.contains("model_list[3]"), "{}", e.message);
        let c = config(json!({"model_name": "m", "litellm_params": {"model": "nosuch/x"}}));
        let e = Deployment::from_config(0, &c, &Map::new(), &no_catalogue).unwrap_err();
        assert!(e.message.contains("nosuch"), "{}", e.message);
        let c =
            config(json!({"model_name": "m", "litellm_params": {"model": "openai/x", "rpm": -3}}));
        assert!(Deployment::from_config(0, &c, &Map::new(), &no_catalogue).is_err());
    }

    #[test]
    fn catalogue_fills_what_is_not_overridden() {
        let c = config(
            json!({"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "output_cost_per_token": 2.0}}),
        );
        let cat = |_: &str, _: &str| ModelFacts {
            input_cost_per_token: Some(1.0),
            output_cost_per_token: Some(9.0),
            max_input_tokens: Some(128_000),
            ..Default::default()
        };
        let d = Deployment::from_config(0, &c, &Map::new(), &cat).unwrap();
        assert_eq!(d.facts.input_cost_per_token, Some(1.0));
        assert_eq!(d.facts.output_cost_per_token, Some(2.0));
        assert_eq!(d.facts.max_input_tokens, Some(128_000));
        assert_eq!(d.facts.unit_cost(), 3.0);
    }

    #[test]
    fn deployment_prices_cost_its_calls() {
        let c = config(
            json!({"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "input_cost_per_token": 1.0}}),
        );
        let d = Deployment::from_config(0, &c, &Map::new(), &no_catalogue).unwrap();
        let opts = d.call_options(&CallOptions::default(), None);
        assert_eq!(opts.custom_pricing.unwrap().input_cost_per_token, Some(1.0));
        let s = AtomicSum::default();
        s.add(0.25);
        s.add(0.5);
        assert_eq!(s.get(), 0.75);
    }

    #[test]
    fn ewma_moves_towards_samples() {
        let e = Ewma::default();
        assert_eq!(e.get(), None);
        e.record(100.0);
        assert_eq!(e.get(), Some(100.0));
        e.record(0.0);
        assert!((e.get().unwrap() - 70.0).abs() < 1e-9);
    }
}
