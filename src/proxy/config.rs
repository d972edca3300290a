//! The gateway's configuration: LiteLLM's proxy `config.yaml`, read unchanged.
//!
//! `model_list`, `router_settings` and the router's part of `litellm_settings` go to
//! [`crate::router::config`]; this module reads the rest (`litellm_settings.drop_params`,
//! the callbacks, `general_settings`, `environment_variables`) and collects every key
//! that has no effect into one warning. A wrong value is an error naming the file, the key
//! path and what was expected, raised before the port opens.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::cache::config::RedisConfig;
use crate::cache::CacheConfig;
use crate::environ::{environment_variables, resolve_env};
use crate::router::config::{
    shared_redis, value_kind, LITELLM_SETTINGS_FOR_ROUTER, REDIS_SETTINGS,
};
use crate::router::{Router, RouterConfig};

/// A config that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// The file (or `<config>` for a config given as a value).
    pub source_name: String,
    pub message: String,
}

/// Top-level sections the gateway reads.
const SECTIONS: &[&str] = &[
    "model_list",
    "router_settings",
    "litellm_settings",
    "general_settings",
    "environment_variables",
];

/// Callbacks the gateway has: `prometheus` is its `/metrics`, always on.
const CALLBACKS: &[&str] = &["prometheus"];

/// `general_settings` keys the gateway reads. The state plane reads the raw section
/// ([`ProxyConfig::general_settings`]) and adds the keys it supports to
/// [`ProxyConfig::state_setting_names`] before the warning is printed.
pub const GENERAL_SETTINGS: &[&str] = &[
    "master_key",
    "database_url",
    "max_request_size_mb",
    "disable_spend_logs",
    "dangerously_permit_weak_or_unset_master_key",
    // llmswitch's own: seconds to finish in-flight requests on SIGTERM/SIGINT.
    "shutdown_grace_seconds",
    // llmswitch's own: seconds a client has to send a request's headers (slowloris).
    "header_read_timeout_seconds",
];

/// Default `max_request_size_mb` (LiteLLM sets no limit; a gateway needs one).
pub const DEFAULT_MAX_REQUEST_MB: f64 = 64.0;
/// Default time a client has to send a request's headers (and the longest an idle
/// keep-alive connection is held).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time to finish in-flight requests at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// `master_key` values LiteLLM 1.106.2 refuses as publicly known (its docs' example).
const PUBLICLY_KNOWN_MASTER_KEYS: &[&str] = &["sk-1234"];
const PERMIT_UNSAFE_ENV: &str = "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY";

/// A loaded, checked gateway configuration.
#[derive(Debug)]
pub struct ProxyConfig {
    /// The file it came from (`None` for a config given as a value).
    pub path: Option<PathBuf>,
    pub router: RouterConfig,
    /// `litellm_settings.drop_params`: drop unsupported parameters on every call.
    pub drop_params: bool,
    /// `litellm_settings.cache` / `cache_params`: the response cache, if `cache: true`.
    pub cache: Option<CacheConfig>,
    /// `router_settings.redis_host`/`redis_port`/`redis_password` or `redis_url`: the Redis
    /// that replicas share rate limits and budgets through (docs/gateway-scaleout.md).
    pub shared_redis: Option<RedisConfig>,
    /// `general_settings.master_key` (else `LITELLM_MASTER_KEY`); `None` = no auth, only
    /// with `dangerously_permit_weak_or_unset_master_key`.
    pub master_key: Option<SecretString>,
    /// `general_settings.database_url` (else `DATABASE_URL`), resolved.
    pub database_url: Option<String>,
    /// Largest accepted request body, bytes.
    pub max_request_bytes: usize,
    pub disable_spend_logs: bool,
    pub shutdown_grace: Duration,
    /// `general_settings.header_read_timeout_seconds`.
    pub header_read_timeout: Duration,
    /// `general_settings` as given (with `os.environ/` values resolved), for the state plane.
    pub general_settings: Map<String, Value>,
    /// `environment_variables`, resolved.
    pub environment: HashMap<String, String>,
    /// Keys that have no effect, as `section.key`.
    pub ignored: Vec<String>,
}

impl ProxyConfig {
    /// Read and check a YAML (or JSON) config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_name: name.clone(),
            message: format!("could not read the config file: {e}"),
        })?;
        let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| ConfigError {
            source_name: name.clone(),
            message: format!("invalid YAML: {e}"),
        })?;
        let mut config = Self::from_value(value, &name)?;
        config.path = Some(path.to_owned());
        Ok(config)
    }

    /// Read and check a parsed config. `source_name` names it in errors.
    pub fn from_value(value: Value, source_name: &str) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError {
            source_name: source_name.to_owned(),
            message,
        };
        let mut root = match value {
            Value::Object(m) => m,
            // An empty file.
            Value::Null => Map::new(),
            other => {
                return Err(err(format!(
                    "expected a mapping with model_list, litellm_settings, general_settings, ...; got {}",
                    value_kind(&other)
                )))
            }
        };
        let mut ignored: Vec<String> = root
            .keys()
            .filter(|k| !SECTIONS.contains(&k.as_str()))
            .cloned()
            .collect();
        let environment = match root.get("environment_variables") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {
                environment_variables(root.get("environment_variables"))
            }
            Some(other) => {
                return Err(err(format!(
                    "environment_variables: expected a mapping of NAME: value, got {}",
                    value_kind(other)
                )))
            }
        };
        let shared_redis = shared_redis(&root, &environment).map_err(err)?;
        let (router, unused_router) = RouterConfig::take_from_proxy_config(&mut root, &environment)
            .map_err(|e| err(e.message.clone()))?;
        ignored.extend(unused_router.into_iter().filter(|k| {
            !REDIS_SETTINGS
                .iter()
                .any(|r| k == &format!("router_settings.{r}"))
        }));

        let litellm = section(&mut root, "litellm_settings").map_err(err)?;
        let mut drop_params = false;
        for (k, v) in &litellm {
            match k.as_str() {
                "drop_params" => {
                    drop_params = boolean(v, "litellm_settings.drop_params").map_err(err)?
                }
                "success_callback" | "failure_callback" | "callbacks" => {
                    for name in callback_names(v, k).map_err(err)? {
                        if !CALLBACKS.contains(&name.as_str()) {
                            ignored.push(format!("litellm_settings.{k}: {name}"));
                        }
                    }
                }
                // Read below, as a whole.
                "cache" | "cache_params" => {}
                _ if LITELLM_SETTINGS_FOR_ROUTER.contains(&k.as_str()) => {}
                _ => ignored.push(format!("litellm_settings.{k}")),
            }
        }
        let cache = CacheConfig::from_proxy_litellm_settings(&litellm, &environment)
            .map_err(|e| err(e.message.clone()))?;

        let mut general = section(&mut root, "general_settings").map_err(err)?;
        for (k, v) in general.iter_mut() {
            resolve_env(v, &environment, &format!("general_settings.{k}"))
                .map_err(|e| err(e.message.clone()))?;
        }
        let master_key = match general.get("master_key") {
            None => std::env::var("LITELLM_MASTER_KEY").ok(),
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(err(format!(
                    "general_settings.master_key: expected a string (the key, or os.environ/NAME), got {}",
                    value_kind(other)
                )))
            }
        };
        let permit_unsafe = match general.get("dangerously_permit_weak_or_unset_master_key") {
            Some(v) => boolean(
                v,
                "general_settings.dangerously_permit_weak_or_unset_master_key",
            )
            .map_err(err)?,
            None => false,
        } || std::env::var(PERMIT_UNSAFE_ENV)
            .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
        let master_key = master_key.map(|k| k.trim().to_owned());
        let unsafe_reason = match master_key.as_deref() {
            None => Some(
                "no master key is set, so every request would be accepted without authentication",
            ),
            Some("") => Some("the master key is empty"),
            Some(k) if PUBLICLY_KNOWN_MASTER_KEYS.contains(&k) => {
                Some("the master key is a publicly known default")
            }
            Some(_) => None,
        };
        if let (Some(reason), false) = (unsafe_reason, permit_unsafe) {
            return Err(err(format!(
                "refusing to start: {reason}. Set general_settings.master_key (or the LITELLM_MASTER_KEY environment variable) to a secret such as 'sk-' plus 32 random hex bytes; for local development only, set general_settings.dangerously_permit_weak_or_unset_master_key: true (or {PERMIT_UNSAFE_ENV}=true)."
            )));
        }
        let master_key = master_key.filter(|k| !k.is_empty()).map(SecretString::from);
        let database_url = match general.get("database_url") {
            None => std::env::var("DATABASE_URL").ok(),
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(err(format!(
                    "general_settings.database_url: expected a string, got {}",
                    value_kind(other)
                )))
            }
        };
        let max_mb = match general.get("max_request_size_mb") {
            None | Some(Value::Null) => DEFAULT_MAX_REQUEST_MB,
            Some(v) => {
                positive(v, "general_settings.max_request_size_mb", "megabytes").map_err(err)?
            }
        };
        let disable_spend_logs = match general.get("disable_spend_logs") {
            None | Some(Value::Null) => false,
            Some(v) => boolean(v, "general_settings.disable_spend_logs").map_err(err)?,
        };
        let shutdown_grace = match general.get("shutdown_grace_seconds") {
            None | Some(Value::Null) => DEFAULT_SHUTDOWN_GRACE,
            Some(v) => Duration::from_secs_f64(
                positive(v, "general_settings.shutdown_grace_seconds", "seconds").map_err(err)?,
            ),
        };
        let header_read_timeout = match general.get("header_read_timeout_seconds") {
            None | Some(Value::Null) => DEFAULT_HEADER_READ_TIMEOUT,
            Some(v) => Duration::from_secs_f64(
                positive(v, "general_settings.header_read_timeout_seconds", "seconds")
                    .map_err(err)?,
            ),
        };
        // Checked here so a config that cannot build a router fails before the port opens.
        Router::new(router.clone()).map_err(|e| err(e.message.clone()))?;
        Ok(ProxyConfig {
            path: None,
            router,
            drop_params,
            cache,
            shared_redis,
            master_key,
            database_url,
            max_request_bytes: (max_mb * 1024.0 * 1024.0) as usize,
            disable_spend_logs,
            shutdown_grace,
            header_read_timeout,
            general_settings: general,
            environment,
            ignored,
        })
    }

    /// `general_settings` keys nobody reads, given the ones the state plane reads.
    pub fn unused_general_settings(&self, state_setting_names: &[&str]) -> Vec<String> {
        self.general_settings
            .keys()
            .filter(|k| {
                !GENERAL_SETTINGS.contains(&k.as_str())
                    && !state_setting_names.contains(&k.as_str())
            })
            .map(|k| format!("general_settings.{k}"))
            .collect()
    }

    /// The one warning about keys without effect (`None` when there are none).
    pub fn ignored_warning(&self, state_setting_names: &[&str]) -> Option<String> {
        let mut all = self.ignored.clone();
        all.extend(self.unused_general_settings(state_setting_names));
        if all.is_empty() {
            return None;
        }
        Some(format!(
            "{}: these config keys have no effect in llmswitch's gateway and are ignored: {}",
            self.source_name(),
            all.join(", ")
        ))
    }

    pub fn source_name(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "<config>".to_owned(), |p| p.display().to_string())
    }

    /// Put `environment_variables` into the process environment, as LiteLLM's proxy does,
    /// so providers that read their key from the environment find it.
    pub fn export_environment(&self) {
        for (k, v) in &self.environment {
            std::env::set_var(k, v);
        }
    }

    /// Where the embedded state lives when no `database_url` is set: next to the config
    /// file (`<config stem>.llmswitch.sqlite`), or in the working directory.
    pub fn default_state_path(&self) -> PathBuf {
        match &self.path {
            Some(p) => {
                let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("config");
                p.with_file_name(format!("{stem}.llmswitch.sqlite"))
            }
            None => PathBuf::from("llmswitch.sqlite"),
        }
    }
}

fn section(root: &mut Map<String, Value>, name: &str) -> Result<Map<String, Value>, String> {
    match root.remove(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(format!(
            "{name}: expected a mapping, got {}",
            value_kind(&other)
        )),
    }
}

fn boolean(v: &Value, at: &str) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        // YAML users write "true"/"True" in quotes, and LiteLLM takes them.
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(format!(
            "{at}: expected true or false, got {}",
            value_kind(other)
        )),
    }
}

fn positive(v: &Value, at: &str, unit: &str) -> Result<f64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n > 0.0 && n.is_finite() => Ok(n),
        _ => Err(format!(
            "{at}: expected a positive number of {unit}, got {}",
            value_kind(v)
        )),
    }
}

fn callback_names(v: &Value, key: &str) -> Result<Vec<String>, String> {
    let bad = || {
        format!(
            "litellm_settings.{key}: expected a list of callback names (such as [\"prometheus\"]), got {}",
            value_kind(v)
        )
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn load(yaml: &str) -> Result<ProxyConfig, ConfigError> {
        std::env::set_var("LLMSWITCH_PROXY_TEST_KEY", "sk-x");
        let v: Value = serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError {
            source_name: "test".into(),
            message: e.to_string(),
        })?;
        ProxyConfig::from_value(v, "config.yaml")
    }

    const BASE: &str = r#"
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/LLMSWITCH_PROXY_TEST_KEY}
    model_info: {id: gpt-1}
general_settings:
  master_key: sk-test-master
"#;

    #[test]
    fn a_litellm_config_loads_unchanged() {
        let yaml = r#"
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/PROXY_CFG_KEY, rpm: 10}
    model_info: {id: gpt-1, input_cost_per_token: 0.000001}
  - model_name: cheap
    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-x}
router_settings:
  routing_strategy: simple-shuffle
  redis_host: localhost
litellm_settings:
  drop_params: true
  num_retries: 3
  request_timeout: 30
  fallbacks: [{gpt: [cheap]}]
  success_callback: ["prometheus", "langfuse"]
  cache: true
  cache_params: {type: local, ttl: 60}
  json_logs: true
general_settings:
  master_key: os.environ/PROXY_CFG_MASTER
  max_request_size_mb: 2
  disable_spend_logs: "True"
  alerting: ["slack"]
environment_variables:
  PROXY_CFG_KEY: sk-from-config
  PROXY_CFG_MASTER: sk-master-from-config
guardrails: []
"#;
        let c = load(yaml).unwrap();
        assert_eq!(c.router.model_list.len(), 2);
        assert_eq!(
            c.router.model_list[0].litellm_params["api_key"],
            "sk-from-config"
        );
        assert!(c.drop_params);
        assert_eq!(c.router.settings.num_retries, 3);
        assert_eq!(c.router.settings.timeout, Some(30.0));
        assert_eq!(c.router.settings.fallbacks.chain("gpt").unwrap(), ["cheap"]);
        assert_eq!(
            c.master_key.as_ref().map(|k| k.expose_secret().to_owned()),
            Some("sk-master-from-config".to_owned())
        );
        assert_eq!(c.max_request_bytes, 2 * 1024 * 1024);
        assert!(c.disable_spend_logs);
        let warning = c.ignored_warning(&[]).unwrap();
        for key in [
            "guardrails",
            "litellm_settings.json_logs",
            "litellm_settings.success_callback: langfuse",
            "general_settings.alerting",
        ] {
            assert!(warning.contains(key), "{key} missing from: {warning}");
        }
        assert!(!warning.contains("prometheus"), "{warning}");
        assert!(!warning.contains("litellm_settings.cache"), "{warning}");
        let cache = c.cache.as_ref().unwrap();
        assert_eq!(cache.cache_type, crate::cache::CacheType::Local);
        assert_eq!(cache.ttl, Some(Duration::from_secs(60)));
        assert!(c.router.settings.cache_responses);
        assert!(!c
            .ignored_warning(&["alerting"])
            .unwrap()
            .contains("general_settings.alerting"));
    }

    #[test]
    fn wrong_values_name_the_file_the_key_and_what_was_expected() {
        let cases = [
            (
                "general_settings:\n  master_key: sk-a-real-one\n  max_request_size_mb: lots\n",
                "general_settings.max_request_size_mb: expected a positive number",
            ),
            (
                "general_settings:\n  master_key: sk-a-real-one\nlitellm_settings:\n  drop_params: maybe\n",
                "litellm_settings.drop_params: expected true or false",
            ),
            (
                "general_settings:\n  master_key: sk-a-real-one\nlitellm_settings:\n  num_retries: many\n",
                "litellm_settings.num_retries",
            ),
            (
                "general_settings:\n  master_key: sk-a-real-one\nrouter_settings:\n  routing_strategy: fastest\n",
                "router_settings.routing_strategy",
            ),
            (
                "general_settings:\n  master_key: 1234\n",
                "general_settings.master_key: expected a string",
            ),
            (
                "model_list:\n  - model_name: x\n",
                "model_list[0]",
            ),
            ("general_settings: [1]\n", "general_settings: expected a mapping"),
            (
                "general_settings:\n  master_key: sk-a-real-one\nlitellm_settings:\n  cache: true\n  cache_params: {type: memcached}\n",
                "litellm_settings.cache_params",
            ),
        ];
        for (yaml, expected) in cases {
            let e = load(yaml).unwrap_err().to_string();
            assert!(e.starts_with("config.yaml: "), "{e}");
            assert!(e.contains(expected), "{expected:?} not in {e:?}");
        }
        assert!(load(BASE).is_ok());
    }

    #[test]
    fn unsafe_master_keys_refuse_to_start_unless_permitted() {
        std::env::remove_var("LITELLM_MASTER_KEY");
        std::env::remove_var(PERMIT_UNSAFE_ENV);
        for yaml in [
            "model_list: []\n",
            "general_settings:\n  master_key: ''\n",
            "general_settings:\n  master_key: sk-1234\n",
        ] {
            let e = load(yaml).unwrap_err().to_string();
            assert!(e.contains("refusing to start"), "{e}");
        }
        let open = load("general_settings:\n  dangerously_permit_weak_or_unset_master_key: true\n")
            .unwrap();
        assert!(open.master_key.is_none());
    }

    #[test]
    fn state_path_sits_next_to_the_config() {
        let mut c = load(BASE).unwrap();
        c.path = Some(PathBuf::from("/etc/llm/config.yaml"));
        assert_eq!(
            c.default_state_path(),
            PathBuf::from("/etc/llm/config.llmswitch.sqlite")
        );
    }
}
