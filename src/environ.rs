//! LiteLLM's `os.environ/NAME` references in configuration values (a proxy config, the
//! router's settings, `Cache(...)` arguments), and a config's `environment_variables`
//! section that supplies them first.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::LlmError;

/// A proxy config's `environment_variables` (values as text; nulls skipped).
pub fn environment_variables(section: Option<&Value>) -> HashMap<String, String> {
    match section {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Null => None,
                other => Some((k.clone(), other.to_string())),
            })
            .collect(),
        _ => HashMap::new(),
    }
}

/// Replace `os.environ/NAME` strings (at any depth) by the variable's value: from `env`
/// (the config's `environment_variables`) first, then the process environment. A variable
/// that is not set is an error naming it and where it was used (`at`).
pub fn resolve_env(v: &mut Value, env: &HashMap<String, String>, at: &str) -> Result<(), LlmError> {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("os.environ/") {
                let value = env
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var(name).ok())
                    .ok_or_else(|| {
                        LlmError::bad_request(format!(
                            "{at}: environment variable {name} (from os.environ/{name}) is not set"
                        ))
                    })?;
                *s = value;
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_env(item, env, at)?;
            }
        }
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                resolve_env(item, env, &format!("{at}.{k}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}
