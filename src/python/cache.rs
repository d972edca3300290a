//! `llmswitch.Cache`: the pyo3 face of [`crate::cache::ResponseCache`]. Its arguments go,
//! as a JSON object, to the same constructor the gateway's `cache_params` use.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Map, Value};

use super::package::package;
use super::runtime::block_on_thread;
use super::values::py_to_value;
use crate::cache::{self, ResponseCache};
use crate::error::LlmError;

/// The response cache, with LiteLLM's ``Cache`` arguments. Set it as ``llmswitch.cache``
/// (``litellm.cache``) and calls are answered from it when they were made before.
///
/// Args:
///     type: ``"local"`` (this process's memory, the default), ``"redis"`` or ``"disk"``
///         (an SQLite file in ``disk_cache_dir``).
///     mode: ``"default_on"`` (every call uses the cache unless it says ``caching=False``
///         or ``cache={"no-cache": True}``), or ``"default_off"`` (only calls that say
///         ``cache={"use-cache": True}``).
///     host, port, password: the Redis server (else ``REDIS_HOST``, ``REDIS_PORT``,
///         ``REDIS_PASSWORD``, or ``url=`` / ``REDIS_URL``).
///     namespace: a prefix of every key.
///     ttl: seconds an answer is kept (default: 600 in memory, 60 in Redis, no limit on
///         disk; a call's ``cache={"ttl": ...}`` wins).
///     default_in_memory_ttl, default_in_redis_ttl: the TTL of that type (wins over ``ttl``).
///     supported_call_types: ``["completion", "acompletion", "embedding", "aembedding"]``
///         and LiteLLM's other call type names (default: all).
///     disk_cache_dir: the disk cache's directory (default ``.litellm_cache``).
///     max_messages: calls with more messages are neither looked up nor stored (default
///         4, as LiteLLM's; None: no limit).
///     **kwargs: ``url``, ``username``, ``db``, ``ssl``, ``socket_timeout``,
///         ``socket_connect_timeout`` (Redis); ``max_size_in_memory`` (entries, default
///         200), ``max_size_per_item`` (KB, default 1024), ``max_memory_bytes`` (default
///         64 MiB); ``disk_size_limit`` (bytes, default 1 GiB); LiteLLM's arguments of
///         other cache types are accepted and unused.
///
/// Raises:
///     BadRequestError: for an unknown type or argument, a bad value, a Redis cache with
///         no server given, or a disk directory that cannot be created. A Redis server
///         that is down does not fail this (nor any call: it is a miss, with one warning).
#[pyclass(module = "llmswitch._llmswitch", frozen)]
pub struct Cache {
    pub(super) inner: Arc<ResponseCache>,
}

#[pymethods]
impl Cache {
    #[new]
    #[pyo3(signature = (
        r#type=None, mode=None, host=None, port=None, password=None, namespace=None, ttl=None,
        default_in_memory_ttl=None, default_in_redis_ttl=None, supported_call_types=None,
        disk_cache_dir=None, max_messages=Some(4), **kwargs
    ))]
    #[pyo3(
        text_signature = "(type=None, mode=None, host=None, port=None, password=None, namespace=None, ttl=None, default_in_memory_ttl=None, default_in_redis_ttl=None, supported_call_types=None, disk_cache_dir=None, max_messages=4, **kwargs)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        r#type: Option<&Bound<'_, PyAny>>,
        mode: Option<&Bound<'_, PyAny>>,
        host: Option<&Bound<'_, PyAny>>,
        port: Option<&Bound<'_, PyAny>>,
        password: Option<&Bound<'_, PyAny>>,
        namespace: Option<&Bound<'_, PyAny>>,
        ttl: Option<&Bound<'_, PyAny>>,
        default_in_memory_ttl: Option<&Bound<'_, PyAny>>,
        default_in_redis_ttl: Option<&Bound<'_, PyAny>>,
        supported_call_types: Option<&Bound<'_, PyAny>>,
        disk_cache_dir: Option<&Bound<'_, PyAny>>,
        max_messages: Option<usize>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Cache> {
        let named = [
            ("type", r#type),
            ("mode", mode),
            ("host", host),
            ("port", port),
            ("password", password),
            ("namespace", namespace),
            ("ttl", ttl),
            ("default_in_memory_ttl", default_in_memory_ttl),
            ("default_in_redis_ttl", default_in_redis_ttl),
            ("supported_call_types", supported_call_types),
            ("disk_cache_dir", disk_cache_dir),
        ];
        let mut params = Map::new();
        let mut put = |key: &str, value: &Bound<'_, PyAny>| -> Result<(), LlmError> {
            if value.is_none() {
                return Ok(());
            }
            // Enums (LiteLLMCacheType, CacheMode) are given by value; paths as text.
            let value = match value.getattr("value") {
                Ok(v) if v.is_instance_of::<pyo3::types::PyString>() => v,
                _ if value.hasattr("__fspath__").unwrap_or(false) => value
                    .py()
                    .import("os")
                    .and_then(|os| os.call_method1("fspath", (value,)))
                    .map_err(|e| LlmError::bad_request(e.to_string()))?,
                _ => value.clone(),
            };
            let v = py_to_value(&value, false).map_err(|e| e.at(&format!("Cache({key}=...)")))?;
            params.insert(key.to_owned(), v);
            Ok(())
        };
        for (key, value) in named {
            if let Some(v) = value {
                put(key, v)?;
            }
        }
        if let Some(kwargs) = kwargs {
            for (k, v) in kwargs.iter() {
                put(&k.extract::<String>()?, &v)?;
            }
        }
        params.insert(
            "max_messages".to_owned(),
            max_messages.map_or(Value::Null, Value::from),
        );
        Ok(Cache {
            inner: Arc::new(ResponseCache::from_params(&params)?),
        })
    }

    /// ``"local"``, ``"redis"`` or ``"disk"``.
    #[getter(r#type)]
    fn cache_type(&self) -> &'static str {
        self.inner.config().cache_type.as_str()
    }

    /// ``"default_on"`` or ``"default_off"``.
    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.config().mode.as_str()
    }

    /// Seconds entries are kept, unless a call says otherwise (None: the type's default).
    #[getter]
    fn ttl(&self) -> Option<f64> {
        self.inner.config().ttl.map(|t| t.as_secs_f64())
    }

    /// The key prefix, if any.
    #[getter]
    fn namespace(&self) -> Option<String> {
        self.inner.config().namespace.clone()
    }

    /// The call types served.
    #[getter]
    fn supported_call_types(&self) -> Vec<String> {
        self.inner.config().supported_call_types.clone()
    }

    /// Calls with more messages are not cached (None: no limit).
    #[getter]
    fn max_messages(&self) -> Option<usize> {
        self.inner.config().max_messages
    }

    /// Remove every entry (for Redis: the keys shaped like this cache's, in its namespace).
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let inner = self.inner.clone();
        block_on_thread(py, move |_client| async move {
            inner.clear().await;
            Ok::<(), LlmError>(())
        })?;
        Ok(())
    }

    /// Whether the backend answers (Redis: ``PING``).
    ///
    /// Returns:
    ///     True, or False when Redis does not answer.
    fn ping(&self, py: Python<'_>) -> PyResult<bool> {
        let inner = self.inner.clone();
        let ok = block_on_thread(py, move |_client| async move {
            Ok::<bool, LlmError>(inner.ping().await.is_ok())
        })?;
        Ok(ok)
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "Cache(type={:?}, mode={:?}, ttl={:?}, namespace={:?})",
            c.cache_type.as_str(),
            c.mode.as_str(),
            c.ttl.map(|t| t.as_secs_f64()),
            c.namespace
        )
    }
}

/// `llmswitch.cache`, when it is set. Anything but a `Cache` (or None) there is an error:
/// a call must not silently go uncached.
pub fn global_cache(py: Python<'_>) -> Result<Option<Arc<ResponseCache>>, LlmError> {
    let Ok(pkg) = package(py) else {
        return Ok(None);
    };
    let Ok(value) = pkg.getattr(pyo3::intern!(py, "cache")) else {
        return Ok(None);
    };
    if value.is_none() {
        return Ok(None);
    }
    match value.cast::<Cache>() {
        Ok(c) => Ok(Some(c.get().inner.clone())),
        Err(_) => Err(LlmError::bad_request(format!(
            "llmswitch.cache must be an llmswitch.Cache(...) or None, got {}",
            value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))),
    }
}

/// Log the cache's queued warnings (a Redis or disk failure, once) on the `llmswitch`
/// logger. One atomic load when there are none.
pub fn deliver_warnings(py: Python<'_>) {
    if !cache::has_warnings() {
        return;
    }
    let messages = cache::take_warnings();
    let Ok(logger) = py
        .import("logging")
        .and_then(|l| l.call_method1("getLogger", ("llmswitch",)))
    else {
        return;
    };
    for m in messages {
        if let Err(e) = logger.call_method1("warning", (m,)) {
            e.write_unraisable(py, None);
        }
    }
}
