//! Router configuration: the `model_list` and router settings, read from JSON-like values
//! (the Python constructor's arguments) or from the proxy's YAML config, with LiteLLM's
//! names and defaults. `os.environ/NAME` values resolve from the environment.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

pub use super::deployment::DeploymentConfig;
use super::hedge::HedgePolicy;
use super::retry::RetryPolicy;
use super::strategy::{Capabilities, Strategy};
use crate::cache::config::RedisConfig;
use crate::cache::{CacheConfig, CacheType};
use crate::environ::{environment_variables, resolve_env};
use crate::error::LlmError;

/// Fallback chains by model group: `[{"smart": ["fast", "cheap"]}]` (LiteLLM's list of
/// one-key dicts) or `{"smart": ["fast", "cheap"]}`. `"*"` applies to every group.
#[derive(Debug, Clone, Default)]
pub struct FallbackMap(pub HashMap<String, Vec<String>>);

impl FallbackMap {
    /// The chain for `group`, else the `"*"` chain.
    pub fn chain(&self, group: &str) -> Option<&[String]> {
        self.0
            .get(group)
            .or_else(|| self.0.get("*"))
            .map(Vec::as_slice)
    }

    pub fn get(&self, group: &str) -> Option<&[String]> {
        self.0.get(group).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for FallbackMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<HashMap<String, OneOrMany>>),
            Map(HashMap<String, OneOrMany>),
        }
        let maps = match Option::<Form>::deserialize(d)? {
            None => Vec::new(),
            Some(Form::List(l)) => l,
            Some(Form::Map(m)) => vec![m],
        };
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for m in maps {
            for (group, chain) in m {
                out.entry(group).or_default().extend(chain.into_vec());
            }
        }
        Ok(FallbackMap(out))
    }
}

/// The target of a `model_group_alias` entry: `"group"` or `{"model": "group", "hidden":
/// true}` (a hidden alias routes, but is not listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    pub model: String,
    pub hidden: bool,
}

impl<'de> Deserialize<'de> for AliasTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a model group name, or {\"model\": name, \"hidden\": bool}"
        )]
        enum Form {
            Name(String),
            Item {
                model: String,
                #[serde(default)]
                hidden: Option<bool>,
            },
        }
        Ok(match Form::deserialize(d)? {
            Form::Name(model) => AliasTarget {
                model,
                hidden: false,
            },
            Form::Item { model, hidden } => AliasTarget {
                model,
                hidden: hidden.unwrap_or(false),
            },
        })
    }
}

/// Router settings, with LiteLLM's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RouterSettings {
    #[serde(deserialize_with = "strategy_from_name")]
    pub routing_strategy: Strategy,
    pub routing_strategy_args: StrategyArgs,
    /// Retries of a failed call within its model group (another deployment preferred).
    pub num_retries: u32,
    /// Minimum seconds to wait before a retry.
    pub retry_after: f64,
    /// Default timeout of each attempt, seconds.
    #[serde(alias = "request_timeout")]
    pub timeout: Option<f64>,
    /// Failures in a minute a deployment may have before it cools down.
    pub allowed_fails: u32,
    /// Seconds a deployment is skipped after too many failures.
    pub cooldown_time: f64,
    pub disable_cooldowns: bool,
    pub fallbacks: FallbackMap,
    pub context_window_fallbacks: FallbackMap,
    pub content_policy_fallbacks: FallbackMap,
    #[serde(deserialize_with = "null_as_default")]
    pub default_fallbacks: Vec<String>,
    /// How many fallback groups one call may try.
    pub max_fallbacks: usize,
    pub retry_policy: Option<RetryPolicy>,
    #[serde(deserialize_with = "null_as_default")]
    pub model_group_retry_policy: HashMap<String, RetryPolicy>,
    /// Skip deployments whose context window is too small or that lack a capability the
    /// request needs.
    pub enable_pre_call_checks: bool,
    pub hedge: Option<HedgePolicy>,
    /// Capabilities every deployment chosen for a group must have.
    #[serde(deserialize_with = "null_as_default")]
    pub min_capabilities: HashMap<String, Capabilities>,
    /// Parameters added to every deployment's `litellm_params` (the deployment wins).
    #[serde(deserialize_with = "null_as_default")]
    pub default_litellm_params: Map<String, Value>,
    /// Seed of the router's random choices (weighted shuffle, ties), for reproducible runs.
    pub seed: Option<u64>,
    /// Use the response cache for calls that do not say (`caching=`): LiteLLM's
    /// `cache_responses` (off by default, as there: a router's calls are cached only when
    /// asked).
    pub cache_responses: bool,
    /// Model groups that share cache entries (`[["gpt-4o-azure", "gpt-4o-openai"]]`): a
    /// call to one is answered by an entry stored by any of them.
    #[serde(deserialize_with = "null_as_default")]
    pub caching_groups: Vec<Vec<String>>,
    /// Other names of model groups: `{"gpt-4": "smart"}` sends calls of `gpt-4` to the
    /// group `smart`.
    #[serde(deserialize_with = "null_as_default")]
    pub model_group_alias: HashMap<String, AliasTarget>,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            routing_strategy: Strategy::SimpleShuffle,
            routing_strategy_args: StrategyArgs::default(),
            num_retries: 2,
            retry_after: 0.0,
            timeout: None,
            allowed_fails: 3,
            cooldown_time: 5.0,
            disable_cooldowns: false,
            fallbacks: FallbackMap::default(),
            context_window_fallbacks: FallbackMap::default(),
            content_policy_fallbacks: FallbackMap::default(),
            default_fallbacks: Vec::new(),
            max_fallbacks: 5,
            retry_policy: None,
            model_group_retry_policy: HashMap::new(),
            enable_pre_call_checks: false,
            hedge: None,
            min_capabilities: HashMap::new(),
            default_litellm_params: Map::new(),
            seed: None,
            cache_responses: false,
            caching_groups: Vec::new(),
            model_group_alias: HashMap::new(),
        }
    }
}

impl RouterSettings {
    pub fn cooldown(&self) -> Duration {
        Duration::try_from_secs_f64(self.cooldown_time).unwrap_or(Duration::ZERO)
    }

    pub fn min_retry_wait(&self) -> Duration {
        Duration::try_from_secs_f64(self.retry_after).unwrap_or(Duration::ZERO)
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
    }

    /// Settings from a map of LiteLLM names; unknown names are errors, so a typo does
    /// not silently change nothing.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, LlmError> {
        if let Some(unknown) = map.keys().find(|k| !SETTING_NAMES.contains(&k.as_str())) {
            return Err(LlmError::bad_request(format!(
                "Unknown router setting '{unknown}'. Known: {}",
                SETTING_NAMES.join(", ")
            )));
        }
        from_value(Value::Object(map), "router settings")
    }
}

/// Names [`RouterSettings::from_map`] accepts.
pub const SETTING_NAMES: &[&str] = &[
    "routing_strategy",
    "routing_strategy_args",
    "num_retries",
    "retry_after",
    "timeout",
    "request_timeout",
    "allowed_fails",
    "cooldown_time",
    "disable_cooldowns",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "retry_policy",
    "model_group_retry_policy",
    "enable_pre_call_checks",
    "hedge",
    "min_capabilities",
    "default_litellm_params",
    "seed",
    "cache_responses",
    "caching_groups",
    "model_group_alias",
];

/// `routing_strategy_args`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StrategyArgs {
    /// Latency routing: deployments within this fraction of the fastest are chosen at
    /// random among, so near-ties share the load.
    pub lowest_latency_buffer: f64,
}

impl Default for StrategyArgs {
    fn default() -> Self {
        StrategyArgs {
            lowest_latency_buffer: 0.1,
        }
    }
}

fn strategy_from_name<'de, D: Deserializer<'de>>(d: D) -> Result<Strategy, D::Error> {
    let name = Option::<String>::deserialize(d)?;
    match name {
        None => Ok(Strategy::SimpleShuffle),
        Some(n) => Strategy::from_name(&n).map_err(|e| D::Error::custom(e.message.clone())),
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Deserialize `value`, explaining a bad value in words with its path (the front door's
/// policy for argument errors).
fn from_value<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, LlmError> {
    Ok(crate::call::words::from_value(&value, what)?)
}

/// A whole router configuration.
#[derive(Debug, Clone, Default)]
pub struct RouterConfig {
    pub model_list: Vec<DeploymentConfig>,
    pub settings: RouterSettings,
}

/// Keys of the proxy's `litellm_settings` that configure the router (the proxy hands them
/// to its Router); `router_settings` wins over them.
pub const LITELLM_SETTINGS_FOR_ROUTER: &[&str] = &[
    "num_retries",
    "request_timeout",
    "timeout",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "allowed_fails",
    "cooldown_time",
    "retry_policy",
    "retry_after",
    "max_fallbacks",
];

/// A proxy config's router part, with what a Router outside the gateway also takes from
/// it ([`RouterConfig::from_proxy_config_shared`]).
#[derive(Debug)]
pub struct ProxyRouterConfig {
    pub router: RouterConfig,
    /// The Redis the router's state is shared through ([`shared_redis`]).
    pub redis: Option<RedisConfig>,
    /// The response cache its calls use: `litellm_settings.cache` (with `cache_params`)
    /// or, for `router_settings.cache_responses` alone, LiteLLM's Router's: in the shared
    /// Redis if there is one, else in memory. `None`: calls are cached only when they ask.
    pub cache: Option<CacheConfig>,
}

impl RouterConfig {
    /// A model list (a JSON array of `model_list` entries) with settings.
    pub fn new(model_list: Value, settings: RouterSettings) -> Result<Self, LlmError> {
        let model_list = parse_model_list(model_list, &HashMap::new())?;
        Ok(RouterConfig {
            model_list,
            settings,
        })
    }

    /// The router part of a proxy config (`model_list`, `router_settings`, and the
    /// router-related `litellm_settings`), as parsed YAML/JSON. `environment_variables`
    /// of the config are consulted first when resolving `os.environ/NAME`.
    pub fn from_proxy_config(config: Value) -> Result<Self, LlmError> {
        Self::from_proxy_config_shared(config).map(|shared| shared.router)
    }

    /// [`RouterConfig::from_proxy_config`], with the Redis its state is shared through and
    /// the response cache its calls use, as a Router outside the gateway needs them.
    pub fn from_proxy_config_shared(config: Value) -> Result<ProxyRouterConfig, LlmError> {
        let Value::Object(mut root) = config else {
            return Err(LlmError::bad_request(
                "config: expected a mapping with model_list, router_settings, litellm_settings",
            ));
        };
        let env = environment_variables(root.get("environment_variables"));
        let redis = shared_redis(&root, &env).map_err(LlmError::bad_request)?;
        let mut cache = match root.get("litellm_settings") {
            Some(Value::Object(ls)) => CacheConfig::from_proxy_litellm_settings(ls, &env)?,
            _ => None,
        };
        let (router, _) = Self::take_from_proxy_config(&mut root, &env)?;
        if cache.is_none() && router.settings.cache_responses {
            // LiteLLM's Router(cache_responses=True) caches in its redis_* Redis if given.
            cache = Some(match &redis {
                Some(r) => CacheConfig {
                    cache_type: CacheType::Redis,
                    redis: r.clone(),
                    ..CacheConfig::default()
                },
                None => CacheConfig::default(),
            });
        }
        Ok(ProxyRouterConfig {
            router,
            redis,
            cache,
        })
    }

    /// Take the router's part out of a proxy config's top-level mapping: `model_list`,
    /// `router_settings` (removed) and the router-related keys of `litellm_settings` (only
    /// read: the gateway reads the rest). Also returns the `router_settings` keys the router
    /// does not use (as `router_settings.NAME`), for the gateway's one warning.
    pub fn take_from_proxy_config(
        root: &mut Map<String, Value>,
        env: &HashMap<String, String>,
    ) -> Result<(Self, Vec<String>), LlmError> {
        let model_list = parse_model_list(
            match root.remove("model_list") {
                None | Some(Value::Null) => Value::Array(Vec::new()),
                Some(v) => v,
            },
            env,
        )?;
        let mut from_litellm = Map::new();
        match root.get("litellm_settings") {
            Some(Value::Object(ls)) => {
                // The proxy's cache caches its router's calls (LiteLLM's
                // `switch_on_llm_response_caching`).
                if ls.get("cache") == Some(&Value::Bool(true)) {
                    from_litellm.insert("cache_responses".to_owned(), Value::Bool(true));
                }
                for (k, v) in ls {
                    if LITELLM_SETTINGS_FOR_ROUTER.contains(&k.as_str()) && !v.is_null() {
                        from_litellm.insert(k.clone(), v.clone());
                    }
                }
            }
            None | Some(Value::Null) => {}
            Some(other) => return Err(not_a_mapping("litellm_settings", other)),
        }
        normalize_timeout(&mut from_litellm);
        // Checked on their own, so a wrong value is reported under the section it is in.
        from_value::<RouterSettings>(Value::Object(from_litellm.clone()), "litellm_settings")?;
        let mut settings = from_litellm;
        let mut unused = Vec::new();
        match root.remove("router_settings") {
            Some(Value::Object(rs)) => {
                let mut own = Map::new();
                for (k, mut v) in rs {
                    if SETTING_NAMES.contains(&k.as_str()) {
                        resolve_env(&mut v, env, &format!("router_settings.{k}"))?;
                        if !v.is_null() {
                            own.insert(k, v);
                        }
                    } else {
                        // Machinery llmswitch does not have (redis, alerting, ...): it does
                        // not change which deployment answers.
                        unused.push(format!("router_settings.{k}"));
                    }
                }
                normalize_timeout(&mut own);
                settings.extend(own);
            }
            None | Some(Value::Null) => {}
            Some(other) => return Err(not_a_mapping("router_settings", &other)),
        }
        let settings = from_value(Value::Object(settings), "router_settings")?;
        Ok((
            RouterConfig {
                model_list,
                settings,
            },
            unused,
        ))
    }

    /// [`RouterConfig::from_proxy_config`] from YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, LlmError> {
        Self::from_proxy_config(Self::parse_yaml(text)?)
    }

    fn parse_yaml(text: &str) -> Result<Value, LlmError> {
        serde_yaml_ng::from_str(text)
            .map_err(|e| LlmError::bad_request(format!("config: invalid YAML: {e}")))
    }

    /// [`RouterConfig::from_yaml`] from a file.
    pub fn from_yaml_file(path: &std::path::Path) -> Result<Self, LlmError> {
        Self::from_yaml_file_shared(path).map(|shared| shared.router)
    }

    /// [`RouterConfig::from_proxy_config_shared`] from a YAML file.
    pub fn from_yaml_file_shared(path: &std::path::Path) -> Result<ProxyRouterConfig, LlmError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LlmError::bad_request(format!("config: could not read {}: {e}", path.display()))
        })?;
        Self::from_proxy_config_shared(Self::parse_yaml(&text)?)
    }
}

/// `router_settings` keys naming the Redis shared by replicas (LiteLLM's names).
pub const REDIS_SETTINGS: &[&str] = &["redis_host", "redis_port", "redis_password", "redis_url"];

/// The Redis the router's state is shared through, from a proxy config's `router_settings`
/// (`os.environ/NAME` resolved, `env` first), if any of its keys is set. LiteLLM's
/// `REDIS_SOCKET_TIMEOUT` (seconds) bounds each wait for it.
pub fn shared_redis(
    root: &Map<String, Value>,
    environment: &HashMap<String, String>,
) -> Result<Option<RedisConfig>, String> {
    let Some(Value::Object(rs)) = root.get("router_settings") else {
        return Ok(None);
    };
    let mut read = HashMap::new();
    for k in REDIS_SETTINGS {
        if let Some(v) = rs.get(*k) {
            let mut v = v.clone();
            resolve_env(&mut v, environment, &format!("router_settings.{k}"))
                .map_err(|e| e.message.clone())?;
            let text = match v {
                Value::Null => continue,
                Value::String(s) if s.is_empty() => continue,
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(format!(
                        "router_settings.{k}: expected a string, got {}",
                        value_kind(&other)
                    ))
                }
            };
            read.insert(*k, text);
        }
    }
    if read.is_empty() {
        return Ok(None);
    }
    let port =
        match read.get("redis_port") {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                format!("router_settings.redis_port: expected a port number, got {p}")
            })?),
        };
    Ok(Some(RedisConfig {
        url: read.get("redis_url").cloned(),
        host: read.get("redis_host").cloned(),
        port,
        password: read.get("redis_password").cloned().map(SecretString::from),
        // LiteLLM's REDIS_SOCKET_TIMEOUT (seconds), as the response cache reads it: how long
        // a shared counter waits for Redis before the replica counts on its own.
        response_timeout: std::env::var("REDIS_SOCKET_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok()),
        ..Default::default()
    }))
}

/// A `model_list` (a JSON array of entries) as the router reads it, `os.environ/NAME`
/// values resolved from the environment.
pub fn read_model_list(value: Value) -> Result<Vec<DeploymentConfig>, LlmError> {
    parse_model_list(value, &HashMap::new())
}

fn parse_model_list(
    value: Value,
    env: &HashMap<String, String>,
) -> Result<Vec<DeploymentConfig>, LlmError> {
    let mut list: Vec<DeploymentConfig> = from_value(value, "model_list")?;
    for (i, d) in list.iter_mut().enumerate() {
        for (key, v) in d.litellm_params.iter_mut() {
            resolve_env(v, env, &format!("model_list[{i}].litellm_params.{key}"))?;
        }
        for (key, v) in d.model_info.iter_mut() {
            resolve_env(v, env, &format!("model_list[{i}].model_info.{key}"))?;
        }
    }
    Ok(list)
}

/// `request_timeout` is LiteLLM's other name for `timeout` (which wins).
fn normalize_timeout(settings: &mut Map<String, Value>) {
    if let Some(t) = settings.remove("request_timeout") {
        settings.entry("timeout").or_insert(t);
    }
}

fn not_a_mapping(what: &str, got: &Value) -> LlmError {
    LlmError::bad_request(format!(
        "{what}: expected a mapping, got {}",
        value_kind(got)
    ))
}

/// What a JSON value is, for error messages.
pub(crate) fn value_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_litellms() {
        let s = RouterSettings::default();
        assert_eq!(s.num_retries, 2);
        assert_eq!(s.allowed_fails, 3);
        assert_eq!(s.cooldown_time, 5.0);
        assert_eq!(s.max_fallbacks, 5);
        assert_eq!(s.routing_strategy, Strategy::SimpleShuffle);
    }

    #[test]
    fn fallbacks_accept_both_forms() {
        let s = RouterSettings::from_map(
            json!({"fallbacks": [{"smart": ["fast", "cheap"]}, {"fast": "cheap"}],
                   "context_window_fallbacks": {"smart": ["long"]}})
            .as_object()
            .unwrap()
            .clone(),
        )
        .unwrap();
        assert_eq!(s.fallbacks.chain("smart").unwrap(), ["fast", "cheap"]);
        assert_eq!(s.fallbacks.chain("fast").unwrap(), ["cheap"]);
        assert!(s.fallbacks.chain("other").is_none());
        assert_eq!(s.context_window_fallbacks.get("smart").unwrap(), ["long"]);
    }

    #[test]
    fn unknown_setting_and_strategy_are_errors() {
        let e = RouterSettings::from_map(json!({"num_retires": 1}).as_object().unwrap().clone())
            .unwrap_err();
        assert!(e.message.contains("num_retires"), "{}", e.message);
        let e = RouterSettings::from_map(
            json!({"routing_strategy": "fastest"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap_err();
        assert!(e.message.contains("latency-based-routing"), "{}", e.message);
    }

    #[test]
    fn env_references_resolve() {
        std::env::set_var("LLMSWITCH_ROUTER_TEST_KEY", "sk-from-env");
        let list = json!([{"model_name": "m", "llmswitch_params": {"model": "openai/gpt-4o",
            "api_key": "os.environ/LLMSWITCH_ROUTER_TEST_KEY", "extra_headers": {"x": "os.environ/FROM_CONFIG"}}}]);
        let env = HashMap::from([("FROM_CONFIG".to_owned(), "cfg".to_owned())]);
        let parsed = parse_model_list(list, &env).unwrap();
        assert_eq!(parsed[0].litellm_params["api_key"], json!("sk-from-env"));
        assert_eq!(parsed[0].litellm_params["extra_headers"]["x"], json!("cfg"));
        let missing = json!([{"model_name": "m", "litellm_params": {"model": "x", "api_key": "os.environ/LLMSWITCH_SURELY_UNSET"}}]);
        let e = parse_model_list(missing, &HashMap::new()).unwrap_err();
        assert!(
            e.message.contains("LLMSWITCH_SURELY_UNSET"),
            "{}",
            e.message
        );
        assert!(e.message.contains("model_list[0].litellm_params.api_key"));
    }

    #[test]
    fn proxy_yaml_config() {
        let yaml = r#"
model_list:
  - model_name: smart
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-x
      rpm: 100
    model_info:
      id: smart-1
litellm_settings:
  num_retries: 4
  request_timeout: 12
  fallbacks: [{"smart": ["fast"]}]
  drop_params: true
router_settings:
  routing_strategy: least-busy
  num_retries: 1
  redis_host: localhost
"#;
        let c = RouterConfig::from_yaml(yaml).unwrap();
        assert_eq!(c.model_list.len(), 1);
        assert_eq!(c.model_list[0].model_info["id"], json!("smart-1"));
        assert_eq!(c.settings.num_retries, 1);
        assert_eq!(c.settings.timeout, Some(12.0));
        assert_eq!(c.settings.routing_strategy, Strategy::LeastBusy);
        assert_eq!(c.settings.fallbacks.chain("smart").unwrap(), ["fast"]);
    }

    #[test]
    fn a_proxy_configs_router_settings_name_the_shared_redis() {
        let config = json!({
            "environment_variables": {"ROUTER_REDIS_PORT_FOR_TEST": "6390"},
            "model_list": [],
            "router_settings": {"redis_host": "10.0.0.7",
                                "redis_port": "os.environ/ROUTER_REDIS_PORT_FOR_TEST",
                                "redis_password": "pw", "num_retries": 1},
        });
        let shared = RouterConfig::from_proxy_config_shared(config).unwrap();
        assert_eq!(shared.router.settings.num_retries, 1);
        assert!(shared.cache.is_none());
        let redis = shared.redis.expect("redis");
        assert_eq!(redis.host.as_deref(), Some("10.0.0.7"));
        assert_eq!(redis.port, Some(6390));
        assert!(redis.password.is_some());

        let url = json!({"router_settings": {"redis_url": "redis://127.0.0.1:6391/0"}});
        let shared = RouterConfig::from_proxy_config_shared(url).unwrap();
        assert_eq!(
            shared.redis.and_then(|r| r.url).as_deref(),
            Some("redis://127.0.0.1:6391/0")
        );

        let none = json!({"router_settings": {"routing_strategy": "least-busy"}});
        assert!(RouterConfig::from_proxy_config_shared(none)
            .unwrap()
            .redis
            .is_none());

        let bad = json!({"router_settings": {"redis_host": "h", "redis_port": "six"}});
        let e = RouterConfig::from_proxy_config_shared(bad).unwrap_err();
        assert!(
            e.message.contains("router_settings.redis_port"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_proxy_configs_cache_is_litellm_settings_cache_or_the_routers_own() {
        let from_litellm = json!({
            "environment_variables": {"CACHE_HOST_FOR_TEST": "10.0.0.9"},
            "litellm_settings": {"cache": true,
                                 "cache_params": {"type": "redis", "host": "os.environ/CACHE_HOST_FOR_TEST", "port": 6379}},
            "router_settings": {"redis_host": "10.0.0.7", "redis_port": 6390},
        });
        let shared = RouterConfig::from_proxy_config_shared(from_litellm).unwrap();
        assert!(shared.router.settings.cache_responses);
        let cache = shared.cache.expect("cache");
        assert_eq!(cache.cache_type, CacheType::Redis);
        assert_eq!(cache.redis.host.as_deref(), Some("10.0.0.9"));

        // cache_responses alone: in the router's Redis, as LiteLLM's Router; else in memory.
        let routers = json!({"router_settings": {"cache_responses": true,
                                                 "redis_host": "10.0.0.7", "redis_port": 6390}});
        let cache = RouterConfig::from_proxy_config_shared(routers)
            .unwrap()
            .cache
            .expect("cache");
        assert_eq!(cache.cache_type, CacheType::Redis);
        assert_eq!(cache.redis.port, Some(6390));
        let local = json!({"router_settings": {"cache_responses": true}});
        let cache = RouterConfig::from_proxy_config_shared(local)
            .unwrap()
            .cache
            .expect("cache");
        assert_eq!(cache.cache_type, CacheType::Local);
        let off = json!({"router_settings": {"redis_host": "h", "redis_port": 1}});
        assert!(RouterConfig::from_proxy_config_shared(off)
            .unwrap()
            .cache
            .is_none());

        let bad = json!({"litellm_settings": {"cache": true, "cache_params": "redis"}});
        let e = RouterConfig::from_proxy_config_shared(bad).unwrap_err();
        assert!(
            e.message.contains("litellm_settings.cache_params"),
            "{}",
            e.message
        );
    }
}
