//! Process-wide call defaults: LiteLLM's module-level settings (`litellm.api_key`,
//! `litellm.api_base`, `litellm.openai_key`, ..., `litellm.num_retries`,
//! `litellm.request_timeout`, `litellm.drop_params`, `litellm.model_alias_map`,
//! `litellm.model_fallbacks`), and llmswitch's `max_response_bytes` (kept by
//! [`crate::http`], which reads it for every body).
//!
//! A front end sets them when the user does (the Python package when a module attribute is
//! assigned); every call reads them here, so no front end copies their meaning. What a
//! call gives itself always wins.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use super::words::ArgError;
use crate::providers::TargetOptions;

/// The settings in force.
#[derive(Default, Clone)]
pub struct Defaults {
    /// `api_key`: any provider's key when the call gives none.
    pub api_key: Option<SecretString>,
    /// `api_base`: any provider's base URL when the call gives none.
    pub api_base: Option<String>,
    /// `openai_key`, `anthropic_key`, ...: a provider's key, by provider name.
    pub provider_keys: HashMap<&'static str, SecretString>,
    pub num_retries: Option<u32>,
    pub timeout: Option<Duration>,
    pub drop_params: bool,
    /// `model_alias_map`: a model name a call (not routed) asks for → the model it sends to.
    pub model_alias_map: HashMap<String, String>,
    /// `model_fallbacks`: the fallbacks of a call (not routed) that gives none: model names,
    /// or mappings of a `model` and arguments (see [`super::CallArgs::into_attempts`]).
    pub model_fallbacks: Option<Vec<Value>>,
}

/// LiteLLM's per-provider key variables and the provider each one serves.
pub const PROVIDER_KEY_SETTINGS: &[(&str, &str)] = &[
    ("openai_key", "openai"),
    ("azure_key", "azure"),
    ("anthropic_key", "anthropic"),
    ("groq_key", "groq"),
    ("xai_key", "xai"),
    ("databricks_key", "databricks"),
    ("openai_like_key", "openai_compatible"),
    ("cohere_key", "cohere"),
    ("replicate_key", "replicate"),
    ("ollama_key", "ollama"),
    ("openrouter_key", "openrouter"),
    ("huggingface_key", "huggingface"),
    ("togetherai_api_key", "together_ai"),
    ("cloudflare_api_key", "cloudflare"),
    ("baseten_key", "baseten"),
    ("llama_api_key", "meta_llama"),
    ("novita_api_key", "novita"),
    ("nebius_key", "nebius"),
    ("clarifai_key", "clarifai"),
    ("predibase_key", "predibase"),
    ("maritalk_key", "maritalk"),
    ("ai21_key", "ai21"),
    ("aleph_alpha_key", "aleph_alpha"),
    ("nlp_cloud_key", "nlp_cloud"),
    ("snowflake_key", "snowflake"),
    ("wandb_key", "wandb"),
    ("heroku_key", "heroku"),
    ("cometapi_key", "cometapi"),
    ("ovhcloud_key", "ovhcloud"),
    ("lemonade_key", "lemonade"),
    ("infinity_key", "infinity"),
    ("datarobot_key", "datarobot"),
    ("gradient_ai_api_key", "gradient_ai"),
    ("vercel_ai_gateway_key", "vercel_ai_gateway"),
];

/// Every setting name [`set`] accepts.
pub fn names() -> impl Iterator<Item = &'static str> {
    [
        "api_key",
        "api_base",
        "num_retries",
        "request_timeout",
        "drop_params",
        "max_response_bytes",
        "model_alias_map",
        "model_fallbacks",
    ]
    .into_iter()
    .chain(PROVIDER_KEY_SETTINGS.iter().map(|(name, _)| *name))
}

static DEFAULTS: RwLock<Option<Arc<Defaults>>> = RwLock::new(None);

/// The settings in force (a snapshot).
pub fn current() -> Option<Arc<Defaults>> {
    DEFAULTS.read().map(|d| d.clone()).unwrap_or_default()
}

fn text(name: &str, value: &Value) -> Result<Option<String>, ArgError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ArgError::Invalid(format!(
            "{name} must be a string or None"
        ))),
    }
}

/// Set the module-level setting `name` (None / null unsets it; `max_response_bytes` has
/// no unset value, and 0 leaves it as it is).
pub fn set(name: &str, value: &Value) -> Result<(), ArgError> {
    if name == "max_response_bytes" {
        let limit = value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                ArgError::Invalid("max_response_bytes must be a whole number of bytes".to_owned())
            })?;
        crate::http::set_max_response_bytes(limit);
        return Ok(());
    }
    let mut guard = DEFAULTS
        .write()
        .map_err(|_| ArgError::Invalid("the settings lock is poisoned".to_owned()))?;
    let mut d: Defaults = guard.as_deref().cloned().unwrap_or_default();
    match name {
        "api_key" => d.api_key = text(name, value)?.map(SecretString::from),
        "api_base" => d.api_base = text(name, value)?,
        "num_retries" => {
            d.num_retries = match value {
                Value::Null => None,
                v => Some(
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            ArgError::Invalid("num_retries must be a whole number".to_owned())
                        })?,
                ),
            }
        }
        "request_timeout" => {
            d.timeout = match value {
                Value::Null => None,
                v => {
                    let secs = v.as_f64().ok_or_else(|| {
                        ArgError::Invalid("request_timeout must be a number of seconds".to_owned())
                    })?;
                    Some(Duration::try_from_secs_f64(secs).map_err(|_| {
                        ArgError::Invalid(format!(
                            "request_timeout must be a non-negative number of seconds, got {secs}"
                        ))
                    })?)
                }
            }
        }
        "drop_params" => {
            d.drop_params = match value {
                Value::Null => false,
                Value::Bool(b) => *b,
                _ => {
                    return Err(ArgError::Invalid(
                        "drop_params must be True or False".to_owned(),
                    ))
                }
            }
        }
        "model_alias_map" => {
            d.model_alias_map = match value {
                Value::Null => HashMap::new(),
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(to) => Ok((k.clone(), to.clone())),
                        _ => Err(ArgError::Invalid(format!(
                            "model_alias_map must map model names to model names; {k:?} maps to something else"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(ArgError::Invalid(
                        "model_alias_map must be a dict of model names".to_owned(),
                    ))
                }
            }
        }
        "model_fallbacks" => {
            d.model_fallbacks = match value {
                Value::Null => None,
                Value::Array(list) => {
                    if let Some(bad) = list.iter().find(|v| !(v.is_string() || v.is_object())) {
                        return Err(ArgError::Invalid(format!(
                            "model_fallbacks must be a list of model names or of {{\"model\": ...}} mappings, got an entry {bad}"
                        )));
                    }
                    (!list.is_empty()).then(|| list.clone())
                }
                _ => {
                    return Err(ArgError::Invalid(
                        "model_fallbacks must be a list of model names or None".to_owned(),
                    ))
                }
            }
        }
        other => {
            let Some((name, provider)) = PROVIDER_KEY_SETTINGS.iter().find(|(n, _)| *n == other)
            else {
                return Err(ArgError::Invalid(format!("unknown setting {other}")));
            };
            match text(name, value)? {
                Some(k) => {
                    d.provider_keys.insert(provider, SecretString::from(k));
                }
                None => {
                    d.provider_keys.remove(provider);
                }
            }
        }
    }
    *guard = Some(Arc::new(d));
    Ok(())
}

/// `opts` with the key and base URL the settings give `provider` where the call gave
/// none, or None when they add nothing. A provider's own key variable wins over
/// `api_key`.
pub fn fill_target(provider: &str, opts: &TargetOptions) -> Option<TargetOptions> {
    let d = current()?;
    let key = opts
        .api_key
        .is_none()
        .then(|| d.provider_keys.get(provider).or(d.api_key.as_ref()))
        .flatten();
    let base = opts
        .api_base
        .is_none()
        .then_some(d.api_base.as_ref())
        .flatten();
    if key.is_none() && base.is_none() {
        return None;
    }
    let mut filled = opts.clone();
    if let Some(k) = key {
        filled.api_key = Some(k.clone());
    }
    if let Some(b) = base {
        filled.api_base = Some(b.clone());
    }
    Some(filled)
}
