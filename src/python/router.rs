//! `llmswitch.Router`: the pyo3 face of [`crate::router::Router`].

use std::collections::BTreeMap;
use std::sync::Arc;

use pyo3::exceptions::{PyBaseException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::{Map, Value};

use super::args::{call_args, model_text};
use super::callbacks::{self, PendingLog};
use super::completion::{logged_coroutine, settle, AsyncOutcome};
use super::convert;
use super::coroutine::Coroutine;
use super::exceptions::from_py_exception;
use super::runtime::{block_on_thread, shared_client, thread_runtime, LocalRuntime};
use super::stream::SyncStream;
use super::testing::ManualClock;
use super::values::from_py;
use crate::call::FromArgs;
use crate::error::LlmError;
use crate::router::{
    self as core, Answer, Clock, DeploymentConfig, LiveRouter, Payload, RouterConfig,
    RouterRequest, RouterSettings, SystemClock,
};
use crate::types::{ChatRequest, EmbeddingRequest};

/// LiteLLM `Router` parameters of the response cache: read by [`response_cache`].
const CACHE_PARAMS: &[&str] = &["cache_responses", "cache_kwargs", "caching_groups"];

/// LiteLLM `Router` parameters that configure machinery llmswitch does not have (logging,
/// alerting). They do not change which deployment answers, so they are accepted and
/// ignored, and LiteLLM code constructs a Router unchanged.
const IGNORED_LITELLM_PARAMS: &[&str] = &[
    "client_ttl",
    "polling_interval",
    "default_priority",
    "set_verbose",
    "debug_level",
    "alerting_config",
    "router_general_settings",
    "assistants_config",
    "search_tools",
    "guardrail_list",
    "stream_timeout",
    "ignore_invalid_deployments",
];

/// Load balancing, retries, cooldowns, fallbacks and hedging over several deployments of
/// each model name, with LiteLLM's ``Router`` API.
///
/// Args:
///     model_list: deployments, each ``{"model_name": group, "litellm_params": {"model":
///         "provider/model", "api_key": ..., "api_base": ..., "rpm": ..., "tpm": ...,
///         "weight": ..., "order": ..., "max_parallel_requests": ..., other call
///         parameters}, "model_info": {"id": ..., costs, capabilities}}``.
///         ``llmswitch_params`` is accepted for ``litellm_params``; string values
///         ``"os.environ/NAME"`` are read from the environment.
///     routing_strategy: ``"simple-shuffle"`` (default), ``"round-robin"``,
///         ``"least-busy"``, ``"latency-based-routing"``, ``"cost-based-routing"`` or
///         ``"usage-based-routing"``.
///     routing_strategy_args: ``{"lowest_latency_buffer": 0.1}`` for latency routing.
///     num_retries: retries within a model group (default 2).
///     retry_after: minimum seconds before a retry (default 0).
///     timeout: default timeout of each attempt, seconds.
///     allowed_fails: failures in a minute before a deployment cools down (default 3).
///     cooldown_time: seconds a deployment is skipped after that (default 5).
///     disable_cooldowns: never cool deployments down.
///     fallbacks: ``[{"group": ["fallback1", "fallback2"]}]``, tried in order after the
///         group's retries fail (``"*"`` for every group).
///     context_window_fallbacks: the chain for context-window errors.
///     content_policy_fallbacks: the chain for content-policy errors.
///     default_fallbacks: the chain of groups without one.
///     max_fallbacks: fallback groups one call may try (default 5).
///     retry_policy: retries per exception class, ``{"RateLimitErrorRetries": 3, ...}``.
///     model_group_retry_policy: ``{group: retry_policy}``.
///     enable_pre_call_checks: skip deployments whose context window is too small or
///         that lack a capability the request needs.
///     hedge: ``{"after_ms": 800}`` or ``{"after_percentile": 95}``: send a second
///         attempt to another deployment when the first is slow; the first answer wins.
///     min_capabilities: ``{group: ["vision", "function_calling", "response_schema"]}``.
///     model_group_alias: other names of model groups: ``{"gpt-4": "smart"}``, or
///         ``{"gpt-4": {"model": "smart", "hidden": True}}`` (routes, but is not listed).
///     default_litellm_params: parameters added to every deployment.
///     default_max_parallel_requests: ``max_parallel_requests`` of every deployment.
///     seed: seed of the router's random choices (reproducible weighted shuffle).
///     clock: a ``llmswitch.testing.ManualClock`` for cooldowns and per-minute windows.
///     redis_url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS), or
///     redis_host, redis_port, redis_password: a Redis shared by several processes (as
///         LiteLLM's), by every Router and gateway using it with the same deployment ids:
///         a deployment that cools down in one cools down in all; deployment usage is
///         counted across all (``rpm``/``tpm`` limits and usage-based routing, calls in
///         flight for least-busy, failures towards ``allowed_fails``); the response cache's
///         Redis with ``cache_responses``. Redis never fails or delays a call: while it is
///         unavailable, each process counts and cools down on its own, and a warning is
///         logged on the ``llmswitch`` logger.
///     cache_responses: cache the router's calls (those that do not say ``caching=``) in
///         ``llmswitch.cache``, created if unset: in memory, or in Redis with the Redis
///         parameters and ``cache_kwargs``. Answers are stored per model group, before a
///         deployment is picked.
///     caching_groups: ``[("group-a", "group-b")]``: groups that share cache entries.
///     **kwargs: LiteLLM parameters of logging and alerting, accepted and ignored.
///
/// Raises:
///     BadRequestError: for an invalid model_list or setting (an unknown provider, a
///         fallback to an unknown group, an unset environment variable, ...).
///     TypeError: for an unknown parameter.
#[pyclass(module = "llmswitch._llmswitch", frozen, subclass)]
pub struct Router {
    /// The core router, swapped by edits (`set_model_list`, `add_deployment`, ...).
    inner: Arc<LiveRouter>,
}

/// One `model_list` entry from Python (a dict, or a pydantic model): its JSON, and the
/// `litellm_params` whose value is an exception (`"mock_response": RateLimitError(...)`),
/// which JSON cannot hold.
fn entry_of(
    obj: &Bound<'_, PyAny>,
    at: &str,
) -> Result<(Value, BTreeMap<String, LlmError>), LlmError> {
    let py = obj.py();
    let py_err = |e: PyErr| LlmError::bad_request(format!("{at}: {e}"));
    let dumped;
    let dict = match obj.cast::<PyDict>() {
        Ok(d) => d,
        Err(_) if obj.hasattr("model_dump").unwrap_or(false) => {
            dumped = obj.call_method0("model_dump").map_err(py_err)?;
            dumped.cast::<PyDict>().map_err(|e| py_err(e.into()))?
        }
        Err(_) => {
            return Err(LlmError::bad_request(format!(
                "{at} must be a dict with model_name, litellm_params and model_info"
            )))
        }
    };
    let mut errors = BTreeMap::new();
    let copy = PyDict::new(py);
    for (key, value) in dict.iter() {
        let is_params = key
            .extract::<String>()
            .is_ok_and(|k| k == "litellm_params" || k == "llmswitch_params");
        match value.cast::<PyDict>() {
            Ok(params) if is_params => {
                let kept = PyDict::new(py);
                for (k, v) in params.iter() {
                    if v.is_instance_of::<PyBaseException>() {
                        errors.insert(k.str().map_err(py_err)?.to_string(), from_py_exception(&v));
                    } else {
                        kept.set_item(k, v).map_err(py_err)?;
                    }
                }
                copy.set_item(key, kept).map_err(py_err)?;
            }
            _ => copy.set_item(key, value).map_err(py_err)?,
        }
    }
    Ok((value_of(copy.as_any(), at)?, errors))
}

/// A Python model_list (any iterable of entries) as the router reads it.
fn model_list_of(list: &Bound<'_, PyAny>) -> Result<Vec<DeploymentConfig>, LlmError> {
    let items = list
        .try_iter()
        .map_err(|_| LlmError::bad_request("model_list must be a list of deployment dicts"))?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.enumerate() {
        let item = item.map_err(|e| LlmError::bad_request(format!("model_list: {e}")))?;
        let (value, errs) = entry_of(&item, &format!("model_list[{i}]"))?;
        values.push(value);
        errors.push(errs);
    }
    let mut configs = core::config::read_model_list(Value::Array(values))?;
    for (config, errs) in configs.iter_mut().zip(errors) {
        config.errors = errs;
    }
    Ok(configs)
}

/// One entry, for `add_deployment` / `upsert_deployment`.
fn one_entry(obj: &Bound<'_, PyAny>) -> Result<DeploymentConfig, LlmError> {
    let (value, errors) = entry_of(obj, "deployment")?;
    let mut list = core::config::read_model_list(Value::Array(vec![value]))?;
    let mut config = list
        .pop()
        .ok_or_else(|| LlmError::bad_request("deployment is empty"))?;
    config.errors = errors;
    Ok(config)
}

/// An entry as LiteLLM's `model_list` shows it (errors as their messages cannot be turned
/// back into the caller's objects; the Python layer keeps the caller's own entries).
fn entry_json(config: &DeploymentConfig) -> Value {
    serde_json::json!({
        "model_name": config.model_name,
        "litellm_params": config.litellm_params,
        "model_info": config.model_info,
    })
}

fn value_of(obj: &Bound<'_, PyAny>, what: &str) -> Result<Value, LlmError> {
    // pydantic objects (LiteLLM's RetryPolicy, Deployment) are read through model_dump.
    if obj.hasattr("model_dump").unwrap_or(false) && !obj.is_instance_of::<PyDict>() {
        let dumped = obj
            .call_method0("model_dump")
            .map_err(|e| LlmError::bad_request(format!("{what}: {e}")))?;
        return from_py(&dumped, what);
    }
    from_py(obj, what)
}

fn clock_of(clock: Option<&Bound<'_, PyAny>>) -> PyResult<Arc<dyn Clock>> {
    match clock {
        None => Ok(Arc::new(SystemClock::new())),
        Some(c) if c.is_none() => Ok(Arc::new(SystemClock::new())),
        Some(c) => {
            let manual = c.cast::<ManualClock>().map_err(|_| {
                PyTypeError::new_err("clock must be a llmswitch.testing.ManualClock")
            })?;
            Ok(manual.get().inner.clone())
        }
    }
}

/// LiteLLM's Router cache parameters: `cache_responses=True` caches the router's calls in
/// `llmswitch.cache`, created (in memory, or in Redis when `redis_url` or `redis_host` and
/// `redis_port` are given, with `redis_password` and `cache_kwargs`) if it is not set yet;
/// `caching_groups` lets model groups share entries.
fn response_cache(
    kwargs: &Bound<'_, PyDict>,
    redis: Option<&Map<String, Value>>,
    settings: &mut Map<String, Value>,
) -> Result<(), LlmError> {
    let py = kwargs.py();
    let arg = |name: &str| -> Result<Option<Value>, LlmError> {
        match kwargs
            .get_item(name)
            .map_err(|e| LlmError::bad_request(e.to_string()))?
        {
            Some(v) if !v.is_none() => value_of(&v, name).map(Some),
            _ => Ok(None),
        }
    };
    if let Some(groups) = arg("caching_groups")? {
        settings.insert("caching_groups".to_owned(), groups);
    }
    let on = arg("cache_responses")?.is_some_and(|v| v.as_bool().unwrap_or(false));
    if !on {
        return Ok(());
    }
    settings.insert("cache_responses".to_owned(), Value::Bool(true));
    if super::cache::global_cache(py)?.is_some() {
        return Ok(());
    }
    let mut params = redis.cloned().unwrap_or_default();
    if !params.is_empty() {
        if let Some(Value::Object(extra)) = arg("cache_kwargs")? {
            params.extend(extra);
        }
    }
    set_cache_unless_set(py, crate::cache::CacheConfig::from_params(&params)?)
}

/// Make `config` the package's `llmswitch.cache`, unless one is set already (kept, as
/// LiteLLM's Router keeps `litellm.cache`).
fn set_cache_unless_set(py: Python<'_>, config: crate::cache::CacheConfig) -> Result<(), LlmError> {
    if super::cache::global_cache(py)?.is_some() {
        return Ok(());
    }
    let cache = super::cache::Cache {
        inner: Arc::new(crate::cache::ResponseCache::new(config)?),
    };
    let pkg = super::package::package(py).map_err(|e| LlmError::bad_request(e.to_string()))?;
    let cache = Bound::new(py, cache).map_err(|e| LlmError::bad_request(e.to_string()))?;
    pkg.setattr("cache", cache)
        .map_err(|e| LlmError::bad_request(e.to_string()))
}

/// LiteLLM's Router Redis parameters (`redis_url`, or `redis_host` and `redis_port`, with
/// `redis_password`), as given.
struct RedisArgs<'a, 'py> {
    url: Option<&'a Bound<'py, PyAny>>,
    host: Option<&'a Bound<'py, PyAny>>,
    port: Option<&'a Bound<'py, PyAny>>,
    password: Option<&'a Bound<'py, PyAny>>,
}

/// The Redis parameters as a Redis cache's (`Cache(type="redis", ...)`); `None` without
/// `redis_url` or `redis_host` and `redis_port`.
fn redis_params(args: &RedisArgs<'_, '_>) -> Result<Option<Map<String, Value>>, LlmError> {
    let arg = |name: &str, v: Option<&Bound<'_, PyAny>>| -> Result<Option<Value>, LlmError> {
        match v {
            Some(v) if !v.is_none() => value_of(v, name).map(Some),
            _ => Ok(None),
        }
    };
    let url = arg("redis_url", args.url)?;
    let host = arg("redis_host", args.host)?;
    let port = arg("redis_port", args.port)?;
    if url.is_none() && (host.is_none() || port.is_none()) {
        return Ok(None);
    }
    let mut params = Map::new();
    params.insert("type".to_owned(), Value::from("redis"));
    for (key, value) in [
        ("url", url),
        ("host", host),
        ("port", port),
        ("password", arg("redis_password", args.password)?),
    ] {
        if let Some(v) = value {
            params.insert(key.to_owned(), v);
        }
    }
    Ok(Some(params))
}

/// With LiteLLM's Redis parameters (as a Redis cache's), share the router's cooldowns and
/// deployment counters with every other process (Router or gateway) using that Redis and
/// the same deployments.
fn share_through_redis(
    router: &Arc<LiveRouter>,
    redis: Option<&Map<String, Value>>,
) -> Result<(), LlmError> {
    let Some(params) = redis else {
        return Ok(());
    };
    share_through(
        router,
        &crate::cache::CacheConfig::from_params(params)?.redis,
    )
}

/// Share the router's state through `redis` (the core's [`core::shared::share_through_redis`]);
/// an outage is logged on the ``llmswitch`` logger after the next call.
fn share_through(
    router: &Arc<LiveRouter>,
    redis: &crate::cache::config::RedisConfig,
) -> Result<(), LlmError> {
    core::shared::share_through_redis(
        router,
        |r| core::shared::RouterRef::Shared(r.get()),
        redis,
        core::shared::REDIS_PREFIX,
        super::runtime::shared_runtime().handle(),
        Arc::new(|message: &str| crate::cache::warn(message.to_owned())),
    )
    .map(drop)
}

fn build(config: RouterConfig, clock: Arc<dyn Clock>) -> Result<core::Router, LlmError> {
    core::Router::build(
        config,
        clock,
        core::default_catalogue,
        core::default_token_counter,
    )
}

fn answer_to_py<'py>(
    py: Python<'py>,
    answer: Answer,
    rt: Arc<LocalRuntime>,
) -> PyResult<Bound<'py, PyAny>> {
    match answer {
        Answer::Full(done) => convert::response_to_py(py, &done.response, &done.meta),
        Answer::Embedding(done) => {
            convert::embedding_response_to_py(py, &done.response, &done.meta)
        }
        Answer::Stream(stream, meta, _) => {
            let stream = SyncStream::new(stream, meta, rt);
            Ok(Bound::new(py, stream)?.into_any())
        }
    }
}

impl Router {
    /// Read a routed call's arguments through the core's front door (the router's own,
    /// `hedge`, `min_capabilities`, `fallbacks` and `num_retries`, included).
    fn parse<R>(
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        first_name: &str,
        first: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
        asynchronous: bool,
    ) -> Result<RouterRequest, LlmError>
    where
        R: FromArgs,
        Payload: From<R>,
    {
        RouterRequest::from_args::<R>(call_args(
            py,
            model,
            first_name,
            first,
            kwargs,
            asynchronous,
        )?)
    }
}

#[pymethods]
impl Router {
    #[new]
    #[pyo3(signature = (
        model_list=None, *, routing_strategy=None, routing_strategy_args=None, num_retries=None,
        retry_after=None, timeout=None, allowed_fails=None, cooldown_time=None,
        disable_cooldowns=None, fallbacks=None, context_window_fallbacks=None,
        content_policy_fallbacks=None, default_fallbacks=None, max_fallbacks=None,
        retry_policy=None, model_group_retry_policy=None, enable_pre_call_checks=None,
        hedge=None, min_capabilities=None, default_litellm_params=None,
        default_max_parallel_requests=None, seed=None, clock=None, model_group_alias=None,
        redis_url=None, redis_host=None, redis_port=None, redis_password=None, **kwargs
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model_list: Option<&Bound<'_, PyAny>>,
        routing_strategy: Option<&Bound<'_, PyAny>>,
        routing_strategy_args: Option<&Bound<'_, PyAny>>,
        num_retries: Option<&Bound<'_, PyAny>>,
        retry_after: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        allowed_fails: Option<&Bound<'_, PyAny>>,
        cooldown_time: Option<&Bound<'_, PyAny>>,
        disable_cooldowns: Option<&Bound<'_, PyAny>>,
        fallbacks: Option<&Bound<'_, PyAny>>,
        context_window_fallbacks: Option<&Bound<'_, PyAny>>,
        content_policy_fallbacks: Option<&Bound<'_, PyAny>>,
        default_fallbacks: Option<&Bound<'_, PyAny>>,
        max_fallbacks: Option<&Bound<'_, PyAny>>,
        retry_policy: Option<&Bound<'_, PyAny>>,
        model_group_retry_policy: Option<&Bound<'_, PyAny>>,
        enable_pre_call_checks: Option<&Bound<'_, PyAny>>,
        hedge: Option<&Bound<'_, PyAny>>,
        min_capabilities: Option<&Bound<'_, PyAny>>,
        default_litellm_params: Option<&Bound<'_, PyAny>>,
        default_max_parallel_requests: Option<&Bound<'_, PyAny>>,
        seed: Option<u64>,
        clock: Option<&Bound<'_, PyAny>>,
        model_group_alias: Option<&Bound<'_, PyAny>>,
        redis_url: Option<&Bound<'_, PyAny>>,
        redis_host: Option<&Bound<'_, PyAny>>,
        redis_port: Option<&Bound<'_, PyAny>>,
        redis_password: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let redis = redis_params(&RedisArgs {
            url: redis_url,
            host: redis_host,
            port: redis_port,
            password: redis_password,
        })?;
        if let Some(kw) = kwargs {
            for key in kw.keys() {
                let key: String = key.extract()?;
                if !IGNORED_LITELLM_PARAMS.contains(&key.as_str())
                    && !CACHE_PARAMS.contains(&key.as_str())
                {
                    return Err(PyTypeError::new_err(format!(
                        "Router() got an unexpected keyword argument '{key}' (not supported by llmswitch)"
                    )));
                }
            }
        }
        let named = [
            ("routing_strategy", routing_strategy),
            ("routing_strategy_args", routing_strategy_args),
            ("num_retries", num_retries),
            ("retry_after", retry_after),
            ("timeout", timeout),
            ("allowed_fails", allowed_fails),
            ("cooldown_time", cooldown_time),
            ("disable_cooldowns", disable_cooldowns),
            ("fallbacks", fallbacks),
            ("context_window_fallbacks", context_window_fallbacks),
            ("content_policy_fallbacks", content_policy_fallbacks),
            ("default_fallbacks", default_fallbacks),
            ("max_fallbacks", max_fallbacks),
            ("retry_policy", retry_policy),
            ("model_group_retry_policy", model_group_retry_policy),
            ("enable_pre_call_checks", enable_pre_call_checks),
            ("hedge", hedge),
            ("min_capabilities", min_capabilities),
            ("default_litellm_params", default_litellm_params),
            ("model_group_alias", model_group_alias),
        ];
        let result = (|| -> Result<RouterConfig, LlmError> {
            let mut settings = Map::new();
            for (name, value) in named {
                if let Some(v) = value.filter(|v| !v.is_none()) {
                    settings.insert(name.to_owned(), value_of(v, name)?);
                }
            }
            if let Some(v) = default_max_parallel_requests.filter(|v| !v.is_none()) {
                let n = value_of(v, "default_max_parallel_requests")?;
                let defaults = settings
                    .entry("default_litellm_params")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = defaults {
                    m.entry("max_parallel_requests").or_insert(n);
                }
            }
            if let Some(s) = seed {
                settings.insert("seed".to_owned(), Value::from(s));
            }
            if let Some(kw) = kwargs {
                response_cache(kw, redis.as_ref(), &mut settings)?;
            }
            let settings = RouterSettings::from_map(settings)?;
            let model_list = match model_list.filter(|v| !v.is_none()) {
                Some(l)
                    if l.cast::<PyList>().is_ok() || l.cast::<pyo3::types::PyTuple>().is_ok() =>
                {
                    model_list_of(l)?
                }
                Some(_) => {
                    return Err(LlmError::bad_request(
                        "model_list must be a list of deployment dicts",
                    ))
                }
                None => Vec::new(),
            };
            Ok(RouterConfig {
                model_list,
                settings,
            })
        })();
        let config = result?;
        let inner = Arc::new(LiveRouter::new(build(config, clock_of(clock)?)?));
        share_through_redis(&inner, redis.as_ref())?;
        Ok(Router { inner })
    }

    /// Serve ``model_list`` instead (LiteLLM's ``set_model_list``); the settings stay.
    /// Deployments whose id stays keep their state (cooldowns, averages); calls running
    /// finish on the old list. Returns each deployment's id, in order.
    fn _set_model_list(&self, model_list: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        Ok(self.inner.set_model_list(model_list_of(model_list)?)?)
    }

    /// LiteLLM's ``add_deployment``: the id of the deployment added, or None when one
    /// already has its id.
    fn _add_deployment(&self, deployment: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        Ok(self.inner.add_deployment(one_entry(deployment)?)?)
    }

    /// LiteLLM's ``upsert_deployment``: the id of the deployment added or replaced, or
    /// None when it is already configured so.
    fn _upsert_deployment(&self, deployment: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        Ok(self.inner.upsert_deployment(one_entry(deployment)?)?)
    }

    /// LiteLLM's ``delete_deployment``: whether deployment ``id`` existed.
    fn _delete_deployment(&self, id: &str) -> PyResult<bool> {
        Ok(self.inner.delete_deployment(id)?.is_some())
    }

    /// The model group a call of ``model`` is served by (an alias's target, an addressed
    /// deployment's group, a wildcard group matching it), or None.
    fn _group_of(&self, model: &str) -> Option<String> {
        self.inner.get().group_of(model).map(str::to_owned)
    }

    /// Serve the proxy config ``config`` (``model_list``, ``router_settings`` and the
    /// router's ``litellm_settings``; a YAML file or a mapping) instead, settings included
    /// (``Router.from_config`` builds on it); with ``router_settings.redis_url`` or
    /// ``redis_host``/``redis_port``/``redis_password``, its cooldowns and deployment usage
    /// are shared through that Redis, as the constructor's (unless they are already).
    /// Returns the model_list (dicts, each with its ``model_info.id``),
    /// ``default_litellm_params`` and ``model_group_alias``.
    fn _load_config<'py>(
        &self,
        py: Python<'py>,
        config: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let parsed = if config.is_instance_of::<PyDict>() {
            let value: Value = value_of(config, "config")?;
            RouterConfig::from_proxy_config_shared(value)
        } else {
            let os = py.import("os")?;
            let path: String = os
                .call_method1("fspath", (config,))?
                .extract()
                .map_err(|_| {
                    PyTypeError::new_err("config must be a path to a YAML file or a mapping")
                })?;
            py.detach(|| RouterConfig::from_yaml_file_shared(std::path::Path::new(&path)))
        };
        let crate::router::config::ProxyRouterConfig {
            router: parsed,
            redis,
            cache,
        } = parsed?;
        let current = self.inner.get();
        let router = build(parsed, current.clock())?;
        if let Some(cache) = cache {
            set_cache_unless_set(py, cache)?;
        }
        let list: Vec<Value> = router.model_list().iter().map(entry_json).collect();
        let defaults = Value::Object(router.settings().default_litellm_params.clone());
        let aliases: Map<String, Value> = router
            .aliases()
            .iter()
            .map(|(name, target)| {
                let v = if target.hidden {
                    serde_json::json!({"model": target.model, "hidden": true})
                } else {
                    Value::from(target.model.clone())
                };
                (name.clone(), v)
            })
            .collect();
        self.inner.replace(router);
        if let Some(redis) = redis {
            share_through(&self.inner, &redis)?;
        }
        let out = (list, defaults, Value::Object(aliases));
        pythonize::pythonize(py, &out)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
    }

    /// A chat completion through the router: a deployment of the model group ``model``
    /// answers, with retries, cooldowns, fallbacks and hedging as configured.
    ///
    /// Args:
    ///     model: a model group (a ``model_name`` of the model_list), an alias of one
    ///         (``model_group_alias``), a deployment's ``model_info.id``, or a name a
    ///         wildcard group (``"openai/*"``, ``"*"``) matches.
    ///     messages: OpenAI chat messages.
    ///     **kwargs: as for :func:`llmswitch.completion` (they win over the deployment's
    ///         ``litellm_params``), plus ``num_retries``, ``fallbacks`` (a list of model
    ///         groups), ``hedge`` (a policy, or ``False``) and ``min_capabilities`` for
    ///         this call, and LiteLLM's test switch ``mock_testing_fallbacks=True`` (the
    ///         model group fails with ``InternalServerError`` before any attempt, so the
    ///         fallbacks run; ``mock_testing_context_fallbacks`` and
    ///         ``mock_testing_content_policy_fallbacks`` likewise).
    ///
    /// Returns:
    ///     A ``ModelResponse`` whose ``_hidden_params`` name ``model_id``,
    ///     ``model_group``, ``api_base`` and ``attempts``; with ``stream=True``, an
    ///     iterator of chunks (the first chunk has already arrived, so a failure before it
    ///     retried or fell back).
    ///
    /// Raises:
    ///     RouterRateLimitError: no deployment is available (all cooling down or at their
    ///         limits) and no fallback answered. Otherwise the last provider error, with
    ///         ``attempts`` listing the path taken.
    #[pyo3(signature = (model, messages=None, **kwargs))]
    fn completion<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        messages: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let log =
            callbacks::start_blocking(py, "completion", &model_text(model), messages, kwargs)?;
        let result = (|| {
            let req = Self::parse::<ChatRequest>(py, model, "messages", messages, kwargs, false)?;
            let router = self.inner.get();
            // Streams and calls alike run on this thread's runtime; a stream keeps it.
            let rt = thread_runtime()?;
            let answer = rt.block_on(py, router.route(&rt.client, &req));
            super::budget::deliver_alerts(py);
            answer_to_py(py, answer?, rt)
        })();
        settle(py, log, result)
    }

    /// Async twin of :meth:`completion`.
    ///
    /// Args:
    ///     model: a model group.
    ///     messages: OpenAI chat messages.
    ///     **kwargs: as for :meth:`completion`.
    ///
    /// Returns:
    ///     An awaitable of a ``ModelResponse``, or with ``stream=True`` of an async
    ///     iterator of chunks. Cancelling the task cancels every attempt in flight.
    ///
    /// Raises:
    ///     As :meth:`completion`, when awaited.
    #[pyo3(signature = (model, messages=None, **kwargs))]
    fn acompletion<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        messages: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Coroutine> {
        let pending = PendingLog::capture(py, "acompletion", &model_text(model), messages, kwargs);
        let parsed = Self::parse::<ChatRequest>(py, model, "messages", messages, kwargs, true);
        let router = self.inner.get();
        Ok(logged_coroutine(
            "Router.acompletion",
            pending,
            async move {
                let outcome = async {
                    let req = parsed?;
                    router.route(shared_client()?, &req).await
                }
                .await;
                match outcome {
                    Ok(Answer::Full(done)) => AsyncOutcome::Response(Box::new(done)),
                    Ok(Answer::Embedding(done)) => AsyncOutcome::Embedding(Box::new(done)),
                    Ok(Answer::Stream(stream, meta, _)) => {
                        AsyncOutcome::Stream(Box::new((stream, meta)))
                    }
                    Err(e) => AsyncOutcome::Failed(e),
                }
            },
        ))
    }

    /// Embeddings through the router: a deployment of the model group ``model`` answers,
    /// with the same picking, retries, cooldowns, fallbacks and hedging as chat calls.
    ///
    /// Args:
    ///     model: a model group (a ``model_name`` of the model_list).
    ///     input: a string, a list of strings, a list of token ids, or a list of token-id
    ///         lists.
    ///     **kwargs: as for :func:`llmswitch.embedding` (they win over the deployment's
    ///         ``litellm_params``), plus ``num_retries``, ``fallbacks`` and ``hedge`` for
    ///         this call.
    ///
    /// Returns:
    ///     An ``EmbeddingResponse`` whose ``_hidden_params`` name ``model_id``,
    ///     ``model_group``, ``api_base``, ``attempts`` and ``response_cost``.
    ///
    /// Raises:
    ///     BadRequestError: for no or empty input or an unknown model group, before any
    ///         attempt.
    ///     RouterRateLimitError: no deployment is available and no fallback answered.
    ///         Otherwise the last provider error, with ``attempts`` listing the path taken.
    #[pyo3(signature = (model, input, **kwargs))]
    fn embedding<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        input: &Bound<'py, PyAny>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let log =
            callbacks::start_blocking(py, "embedding", &model_text(model), Some(input), kwargs)?;
        let result = (|| {
            let req =
                Self::parse::<EmbeddingRequest>(py, model, "input", Some(input), kwargs, false)?;
            let router = self.inner.get();
            let done = block_on_thread(py, move |client| async move {
                router.embedding(&client, &req).await
            });
            super::budget::deliver_alerts(py);
            let done = done?;
            convert::embedding_response_to_py(py, &done.response, &done.meta)
        })();
        settle(py, log, result)
    }

    /// Async twin of :meth:`embedding`.
    ///
    /// Args:
    ///     model: a model group.
    ///     input: as for :meth:`embedding`.
    ///     **kwargs: as for :meth:`embedding`.
    ///
    /// Returns:
    ///     A coroutine of an ``EmbeddingResponse``. Cancelling the task cancels every
    ///     attempt in flight.
    ///
    /// Raises:
    ///     As :meth:`embedding`, when awaited.
    #[pyo3(signature = (model, input, **kwargs))]
    fn aembedding<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        input: &Bound<'py, PyAny>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Coroutine> {
        let pending =
            PendingLog::capture(py, "aembedding", &model_text(model), Some(input), kwargs);
        let parsed = Self::parse::<EmbeddingRequest>(py, model, "input", Some(input), kwargs, true);
        let router = self.inner.get();
        Ok(logged_coroutine("Router.aembedding", pending, async move {
            let outcome = async {
                let req = parsed?;
                router.embedding(shared_client()?, &req).await
            }
            .await;
            match outcome {
                Ok(done) => AsyncOutcome::Embedding(Box::new(done)),
                Err(e) => AsyncOutcome::Failed(e),
            }
        }))
    }

    /// Live state of every deployment.
    ///
    /// Returns:
    ///     A dict keyed by deployment id, of dicts with ``model_group``, ``model``,
    ///     ``api_base``, ``in_flight``, ``successes``, ``failures``,
    ///     ``failures_this_minute``, ``requests_this_minute``, ``tokens_this_minute``,
    ///     ``latency_ms`` and ``ttft_ms`` (moving averages), ``cooling_down``,
    ///     ``cooldown_remaining`` (seconds), ``cooldowns``, ``hedges``, ``cancelled``,
    ///     ``spend`` (USD), and the configured ``rpm``, ``tpm``, ``weight``, ``order``,
    ///     prices and ``max_input_tokens``.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for s in self.inner.get().stats() {
            let d = pythonize::pythonize(py, &s)
                .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
            out.set_item(PyString::new(py, &s.model_id), d)?;
        }
        Ok(out)
    }

    /// The model groups.
    ///
    /// Returns:
    ///     The ``model_name`` of every group, in model_list order.
    fn get_model_names(&self) -> Vec<String> {
        self.inner.get().model_names().to_vec()
    }

    /// The routing strategy's name.
    #[getter]
    fn routing_strategy(&self) -> &'static str {
        self.inner.get().settings().routing_strategy.name()
    }

    fn __repr__(&self) -> String {
        let r = self.inner.get();
        format!(
            "Router(model_groups={:?}, routing_strategy={:?}, deployments={})",
            r.model_names(),
            r.settings().routing_strategy.name(),
            r.deployments().len()
        )
    }
}
