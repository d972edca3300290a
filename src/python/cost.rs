//! The model catalogue, costs and token counting for Python: `get_model_info`,
//! `model_cost`, `register_model`, `supports_*`, `get_max_tokens`, `completion_cost`,
//! `cost_per_token` and `token_counter`, with LiteLLM's names and keywords.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyKeyError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::{Map, Value};

use super::values::from_py;

use crate::catalog::{self, ModelInfo};
use crate::cost::{self, CustomPricing, TokenCounts};
use crate::error::{ErrorKind, LlmError};
use crate::model_id;
use crate::tokens;
use crate::types::{Message, Tool, Usage};

/// A model string resolved against the catalogue.
pub struct Resolved {
    pub provider: String,
    pub model: String,
    pub info: Option<Arc<ModelInfo>>,
}

/// Find `model` (a LiteLLM key, `provider/model`, or a bare name) in the catalogue.
pub fn resolve(model: &str, custom_llm_provider: Option<&str>) -> Resolved {
    let custom = custom_llm_provider.filter(|p| !p.is_empty());
    if custom.is_none() {
        if let Some(info) = catalog::by_key(model) {
            return Resolved {
                provider: info.provider.clone(),
                model: info.model.clone(),
                info: Some(info),
            };
        }
    }
    let (provider, name) = match model_id::resolve(model, custom) {
        Ok(id) => (id.provider, id.model),
        // Providers the catalogue knows before a provider module exists for them.
        Err(_) => match (custom, model.split_once('/')) {
            (Some(p), _) => (p.to_owned(), model.to_owned()),
            (None, Some((p, rest))) => (p.to_owned(), rest.to_owned()),
            (None, None) => (String::new(), model.to_owned()),
        },
    };
    let info = catalog::model_info(&provider, &name);
    Resolved {
        provider,
        model: name,
        info,
    }
}

fn not_mapped(model: &str, provider: Option<&str>) -> PyErr {
    let mut err = LlmError::new(
        ErrorKind::NotFound,
        format!(
            "This model isn't mapped yet: model={model}, custom_llm_provider={}. Register its prices with llmswitch.register_model({{...}}) (LiteLLM's price-file format) or LLMSWITCH_MODEL_COST_MAP.",
            provider.unwrap_or("None")
        ),
    )
    .with_model(model);
    if let Some(p) = provider {
        err = err.with_provider(p);
    }
    PyErr::from(err)
}

/// Warn once per model that its cost is unknown.
pub fn warn_unpriced(py: Python<'_>, provider: &str, model: &str) -> PyResult<()> {
    if !cost::first_unpriced(provider, model) {
        return Ok(());
    }
    let shown = if provider.is_empty() {
        model.to_owned()
    } else {
        format!("{provider}/{model}")
    };
    let message = format!(
        "llmswitch: no price known for model '{shown}', so response_cost is None. Register it with llmswitch.register_model({{...}}) or pass custom_cost_per_token={{\"input_cost_per_token\": ..., \"output_cost_per_token\": ...}}."
    );
    let category = super::exceptions::unknown_model_cost_warning(py)?;
    let message = std::ffi::CString::new(message).unwrap_or_default();
    PyErr::warn(py, &category, &message, 1)
}

/// A catalogue entry as LiteLLM's `get_model_info` returns it: the price-file fields plus
/// `key`, with the common limit and price fields present even when unknown (`None`).
fn info_to_py<'py>(
    py: Python<'py>,
    info: &ModelInfo,
    with_key: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let mut map = info.to_litellm();
    if with_key {
        map.insert("key".to_owned(), Value::String(info.key.clone()));
        for field in [
            "input_cost_per_token",
            "output_cost_per_token",
            "cache_read_input_token_cost",
            "cache_creation_input_token_cost",
            "max_tokens",
            "max_input_tokens",
            "max_output_tokens",
        ] {
            map.entry(field.to_owned()).or_insert(Value::Null);
        }
    }
    let out = PyDict::new(py);
    for (k, v) in &map {
        let v = pythonize::pythonize(py, v).map_err(|e| PyValueError::new_err(e.to_string()))?;
        out.set_item(k, v)?;
    }
    Ok(out)
}

/// Built dicts per catalogue entry, so a repeated `get_model_info` is a dict copy. Keyed
/// by the entry's address; the entry is held, so an address is never reused while cached,
/// and a re-registered model is a new entry.
type InfoCache = HashMap<(usize, bool), (Arc<ModelInfo>, Py<PyDict>)>;

fn cached_info_to_py<'py>(
    py: Python<'py>,
    info: &Arc<ModelInfo>,
    with_key: bool,
) -> PyResult<Bound<'py, PyDict>> {
    static CACHE: Mutex<Option<InfoCache>> = Mutex::new(None);
    // A copy is shallow: entries with nested values (registered LiteLLM extras) are built
    // afresh so callers never share them.
    if info.extra.values().any(|v| v.is_array() || v.is_object()) {
        return info_to_py(py, info, with_key);
    }
    let id = (Arc::as_ptr(info) as usize, with_key);
    if let Ok(guard) = CACHE.lock() {
        if let Some((_, dict)) = guard.as_ref().and_then(|c| c.get(&id)) {
            return dict.bind(py).copy();
        }
    }
    let dict = info_to_py(py, info, with_key)?;
    if let Ok(mut guard) = CACHE.lock() {
        guard
            .get_or_insert_with(HashMap::new)
            .insert(id, (info.clone(), dict.clone().unbind()));
    }
    dict.copy()
}

/// What llmswitch knows about a model: prices, limits and capabilities.
///
/// Args:
///     model: a LiteLLM price-file key (``"gpt-4o"``, ``"groq/llama-3.3-70b-versatile"``)
///         or any model string :func:`completion` accepts.
///     custom_llm_provider: the provider, when ``model`` does not say it.
///
/// Returns:
///     A dict with LiteLLM's fields: ``key``, ``litellm_provider``, ``mode``,
///     ``input_cost_per_token``, ``output_cost_per_token``, ``cache_read_input_token_cost``,
///     ``max_input_tokens``, ``max_output_tokens``, ``supports_vision``, ...
///
/// Raises:
///     NotFoundError: if the model is not in the catalogue.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn get_model_info<'py>(
    py: Python<'py>,
    model: &str,
    custom_llm_provider: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let r = resolve(model, custom_llm_provider);
    let info = r.info.ok_or_else(|| {
        not_mapped(
            model,
            custom_llm_provider.or(Some(&r.provider)
                .filter(|p| !p.is_empty())
                .map(String::as_str)),
        )
    })?;
    cached_info_to_py(py, &info, true)
}

fn capability(
    model: &str,
    custom_llm_provider: Option<&str>,
    flag: fn(&ModelInfo) -> bool,
) -> bool {
    resolve(model, custom_llm_provider)
        .info
        .is_some_and(|i| flag(&i))
}

/// Whether ``model`` accepts images. ``False`` for models not in the catalogue.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_vision(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_vision)
}

/// Whether ``model`` supports function calling (``tools``). ``False`` when unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_function_calling(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_function_calling)
}

/// Whether ``model`` can return several tool calls in one turn. ``False`` when unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_parallel_function_calling(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| {
        i.supports_parallel_function_calling
    })
}

/// Whether ``model`` supports JSON-schema structured output
/// (``response_format={"type": "json_schema", ...}``). ``False`` when unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_response_schema(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_response_schema)
}

/// Whether ``model`` reasons before answering (``reasoning_effort``, thinking). ``False``
/// when unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_reasoning(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_reasoning)
}

/// Whether ``model`` supports prompt caching. ``False`` when unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_prompt_caching(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_prompt_caching)
}

/// Whether ``model`` has built-in web search (``web_search_options``). ``False`` when
/// unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_web_search(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_web_search)
}

/// Whether ``model`` reads PDF input. ``False`` when unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_pdf_input(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_pdf_input)
}

/// Whether ``model`` accepts ``tool_choice``. ``False`` when unknown.
///
/// Args:
///     model: a model string or price-file key.
///     custom_llm_provider: the provider, when ``model`` does not say it.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn supports_tool_choice(model: &str, custom_llm_provider: Option<&str>) -> bool {
    capability(model, custom_llm_provider, |i| i.supports_tool_choice)
}

/// Whether the key ``model``'s provider needs is available (given, set on the module, or
/// in the environment), without any network call: LiteLLM's
/// ``{"keys_in_environment": bool, "missing_keys": [...]}``, where ``missing_keys`` names
/// the environment variables that would provide it.
///
/// Args:
///     model: a model string as for ``completion``.
///     api_key: a key the call would give.
///     api_base: a base URL the call would give.
///     api_version: an API version the call would give (Azure).
#[pyfunction]
#[pyo3(signature = (model=None, api_key=None, api_base=None, api_version=None))]
pub fn validate_environment<'py>(
    py: Python<'py>,
    model: Option<&str>,
    api_key: Option<String>,
    api_base: Option<String>,
    api_version: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let (ok, missing) = match model {
        None => (false, Vec::new()),
        Some(model) => key_check(model, api_key, api_base, api_version),
    };
    let out = PyDict::new(py);
    out.set_item("keys_in_environment", ok)?;
    out.set_item("missing_keys", missing)?;
    Ok(out)
}

fn key_check(
    model: &str,
    api_key: Option<String>,
    api_base: Option<String>,
    api_version: Option<String>,
) -> (bool, Vec<String>) {
    let Ok(id) = crate::model_id::resolve(model, None) else {
        return (false, Vec::new());
    };
    let Some(provider) = crate::providers::get(&id.provider) else {
        return (false, Vec::new());
    };
    let opts = crate::providers::TargetOptions {
        api_key: api_key.map(secrecy::SecretString::from),
        api_base,
        api_version,
        ..Default::default()
    };
    let opts = crate::call::defaults::fill_target(&id.provider, &opts).unwrap_or(opts);
    match provider.resolve_target(&id.model, &opts) {
        Ok(_) => (true, Vec::new()),
        Err(e) => {
            let missing = e
                .body
                .as_ref()
                .and_then(|b| b.get("missing_keys"))
                .and_then(|m| serde_json::from_value::<Vec<String>>(m.clone()).ok())
                .unwrap_or_default();
            (false, missing)
        }
    }
}

/// The providers whose key is available now (for ``get_valid_models``): those that need
/// a key and have one, given on the module or in the environment.
#[pyfunction]
pub fn _keyed_providers() -> Vec<&'static str> {
    crate::providers::names()
        .into_iter()
        .filter(|name| {
            let Some(provider) = crate::providers::get(name) else {
                return false;
            };
            let opts = crate::providers::TargetOptions::default();
            let opts = crate::call::defaults::fill_target(name, &opts).unwrap_or(opts);
            provider
                .resolve_target("probe", &opts)
                .is_ok_and(|t| !t.secrets().is_empty())
        })
        .collect()
}

/// The most tokens ``model`` can write in one answer.
///
/// Args:
///     model: a model string or price-file key.
///
/// Returns:
///     The output limit, or ``None`` if the catalogue lists none for a known model.
///
/// Raises:
///     NotFoundError: if the model is not in the catalogue.
#[pyfunction]
#[pyo3(signature = (model))]
pub fn get_max_tokens(model: &str) -> PyResult<Option<u64>> {
    let info = resolve(model, None)
        .info
        .ok_or_else(|| not_mapped(model, None))?;
    Ok(info.output_limit())
}

/// Add or update model prices, in LiteLLM's price-file format.
///
/// Args:
///     model_cost: a dict ``{"model-key": {"litellm_provider": ..., "input_cost_per_token":
///         ..., ...}}`` or the path of a JSON file holding one. Fields given for a known
///         model update it; the others keep their values.
///
/// Raises:
///     ValueError: if an entry is malformed (then nothing is registered).
///     OSError: if the file cannot be read.
#[pyfunction]
#[pyo3(signature = (model_cost))]
pub fn register_model(model_cost: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(path) = model_cost.extract::<std::path::PathBuf>() {
        if !model_cost.is_instance_of::<PyDict>() {
            return match catalog::register_json_file(&path) {
                Ok(_) => Ok(()),
                Err(e @ catalog::CatalogError::File { .. }) => {
                    Err(pyo3::exceptions::PyOSError::new_err(e.to_string()))
                }
                Err(e) => Err(PyValueError::new_err(e.to_string())),
            };
        }
    }
    let entries: Map<String, Value> =
        from_py(model_cost, "model_cost").map_err(|e| PyValueError::new_err(e.message.clone()))?;
    catalog::register(&entries).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(())
}

/// Load `LLMSWITCH_MODEL_COST_MAP` (a LiteLLM-format JSON file) over the built-in
/// catalogue; a bad file is a warning, not an import failure.
pub fn load_cost_map_from_env(py: Python<'_>) -> PyResult<()> {
    let Some(path) = std::env::var_os("LLMSWITCH_MODEL_COST_MAP").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    if let Err(e) = catalog::register_json_file(std::path::Path::new(&path)) {
        let message = std::ffi::CString::new(format!(
            "llmswitch: LLMSWITCH_MODEL_COST_MAP was not loaded: {e}"
        ))
        .unwrap_or_default();
        PyErr::warn(py, &py.get_type::<PyUserWarning>().into_any(), &message, 1)?;
    }
    Ok(())
}

/// The model catalogue as a read-only mapping in LiteLLM's price-file format:
/// ``llmswitch.model_cost["gpt-4o"]["input_cost_per_token"]``. Reflects
/// :func:`register_model` immediately. Use :func:`register_model` to change it.
#[pyclass(module = "llmswitch._llmswitch", frozen, mapping)]
pub struct ModelCostMap;

#[pymethods]
impl ModelCostMap {
    #[new]
    fn new() -> Self {
        ModelCostMap
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyDict>> {
        let info = catalog::by_key(key).ok_or_else(|| PyKeyError::new_err(key.to_owned()))?;
        cached_info_to_py(py, &info, false)
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.cast::<PyString>()
            .ok()
            .and_then(|k| k.to_cow().ok().map(|k| catalog::by_key(&k).is_some()))
            .unwrap_or(false)
    }

    fn __len__(&self) -> usize {
        catalog::len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, catalog::keys())?
            .try_iter()
            .map(Bound::into_any)
    }

    /// The entry for ``key``, or ``default``.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match catalog::by_key(key) {
            Some(info) => Ok(cached_info_to_py(py, &info, false)?.into_any()),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// Every key, sorted.
    fn keys(&self) -> Vec<String> {
        catalog::keys()
    }

    /// Every entry, in key order.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        catalog::keys()
            .iter()
            .filter_map(|k| catalog::by_key(k))
            .map(|info| cached_info_to_py(py, &info, false))
            .collect()
    }

    /// Every ``(key, entry)`` pair, in key order.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyDict>)>> {
        catalog::keys()
            .into_iter()
            .filter_map(|k| catalog::by_key(&k).map(|info| (k, info)))
            .map(|(k, info)| Ok((k, cached_info_to_py(py, &info, false)?)))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("<llmswitch.model_cost: {} models>", catalog::len())
    }
}

fn custom_pricing(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<CustomPricing>> {
    match obj {
        Some(o) if !o.is_none() => Ok(Some(
            from_py(o, "custom_cost_per_token")
                .map_err(|e| PyValueError::new_err(e.message.clone()))?,
        )),
        _ => Ok(None),
    }
}

/// ``(prompt_cost, completion_cost)`` in USD for a number of tokens on a model.
///
/// ``prompt_tokens`` includes cached tokens: ``cache_read_input_tokens`` of them are billed
/// at the cache-read price and ``cache_creation_input_tokens`` at the cache-write price.
///
/// Args:
///     model: a model string or price-file key.
///     prompt_tokens: all prompt tokens, cached ones included.
///     completion_tokens: all completion tokens, reasoning included.
///     cache_read_input_tokens: prompt tokens read from the prompt cache.
///     cache_creation_input_tokens: prompt tokens written to the prompt cache.
///     custom_llm_provider: the provider, when ``model`` does not say it.
///     custom_cost_per_token: ``{"input_cost_per_token": ..., "output_cost_per_token": ...}``
///         prices that override the catalogue's.
///     reasoning_tokens: completion tokens spent reasoning (billed at the reasoning price
///         where the model has one).
///
/// Returns:
///     ``(prompt_cost, completion_cost)`` in USD.
///
/// Raises:
///     NotFoundError: if the model is not in the catalogue and no custom prices are given.
#[pyfunction]
#[pyo3(signature = (model="", prompt_tokens=0, completion_tokens=0, cache_read_input_tokens=0, cache_creation_input_tokens=0, custom_llm_provider=None, custom_cost_per_token=None, reasoning_tokens=0))]
#[allow(clippy::too_many_arguments)]
pub fn cost_per_token(
    model: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
    custom_llm_provider: Option<&str>,
    custom_cost_per_token: Option<&Bound<'_, PyAny>>,
    reasoning_tokens: u64,
) -> PyResult<(f64, f64)> {
    let tokens = TokenCounts {
        prompt_tokens,
        completion_tokens,
        cache_read_input_tokens,
        cache_creation_input_tokens,
        reasoning_tokens,
        ..Default::default()
    };
    let r = resolve(model, custom_llm_provider);
    if let Some(prices) = custom_pricing(custom_cost_per_token)? {
        return Ok(cost::cost_with(
            &prices.to_info(&r.provider, &r.model),
            &tokens,
        ));
    }
    let info = r
        .info
        .ok_or_else(|| not_mapped(model, custom_llm_provider))?;
    Ok(cost::cost_with(&info, &tokens))
}

/// The USD cost of a response, or of a prompt and completion.
///
/// With ``completion_response`` (a ``ModelResponse``, its dict, or anything with a
/// ``usage``), the cost of its usage on its model (``model=`` overrides). Otherwise the
/// tokens of ``prompt`` (or ``messages``) and ``completion`` are counted for ``model``.
///
/// Args:
///     completion_response: a response from :func:`completion` or
///         :func:`stream_chunk_builder`.
///     model: the model, overriding the response's.
///     prompt: prompt text, when there is no response.
///     completion: completion text, when there is no response.
///     messages: prompt messages, instead of ``prompt``.
///     custom_cost_per_token: ``{"input_cost_per_token": ..., "output_cost_per_token": ...}``.
///     custom_llm_provider: the provider, when ``model`` does not say it.
///
/// Returns:
///     The cost in USD.
///
/// Raises:
///     NotFoundError: if the model is not in the catalogue and no custom prices are given.
///     ValueError: if neither a response nor a model is given.
#[pyfunction]
#[pyo3(signature = (completion_response=None, model=None, prompt="", completion="", messages=None, custom_cost_per_token=None, custom_llm_provider=None))]
#[allow(clippy::too_many_arguments)]
pub fn completion_cost(
    py: Python<'_>,
    completion_response: Option<&Bound<'_, PyAny>>,
    model: Option<&str>,
    prompt: &str,
    completion: &str,
    messages: Option<&Bound<'_, PyAny>>,
    custom_cost_per_token: Option<&Bound<'_, PyAny>>,
    custom_llm_provider: Option<&str>,
) -> PyResult<f64> {
    let _ = py;
    let custom = custom_pricing(custom_cost_per_token)?;
    let mut provider = custom_llm_provider.map(str::to_owned);
    let mut model = model.map(str::to_owned);
    let mut usage: Option<Usage> = None;
    if let Some(resp) = completion_response.filter(|r| !r.is_none()) {
        if let Ok(hidden) = resp.getattr("_hidden_params") {
            if let Ok(hidden) = hidden.cast::<PyDict>() {
                if model.is_none() {
                    model = hidden
                        .get_item("model")?
                        .and_then(|m| m.extract::<String>().ok())
                        .filter(|m| !m.is_empty());
                    if provider.is_none() && model.is_some() {
                        provider = hidden
                            .get_item("custom_llm_provider")?
                            .and_then(|p| p.extract::<String>().ok())
                            .filter(|p| !p.is_empty());
                    }
                }
            }
        }
        let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
            if let Ok(d) = resp.cast::<PyDict>() {
                return d.get_item(key);
            }
            Ok(resp.getattr(key).ok())
        };
        if model.is_none() {
            model = get("model")?.and_then(|m| m.extract::<String>().ok());
        }
        if let Some(u) = get("usage")?.filter(|u| !u.is_none()) {
            let u = if u.is_instance_of::<PyDict>() || !u.hasattr("model_dump")? {
                u
            } else {
                u.call_method0("model_dump")?
            };
            usage =
                Some(from_py(&u, "usage").map_err(|e| PyValueError::new_err(e.message.clone()))?);
        }
    }
    let model = model.ok_or_else(|| {
        PyValueError::new_err("completion_cost needs a completion_response or a model")
    })?;
    let r = resolve(&model, provider.as_deref());
    let usage = match usage {
        Some(u) => u,
        None => {
            let prompt_tokens = match messages.filter(|m| !m.is_none()) {
                Some(m) => {
                    let msgs: Vec<Message> = from_py(m, "messages")?;
                    tokens::count_messages(tokens::encoding_for(&r.provider, &r.model), &msgs)
                }
                None => tokens::count_text_tokens(&r.provider, &r.model, prompt),
            };
            Usage::new(
                prompt_tokens,
                tokens::count_text_tokens(&r.provider, &r.model, completion),
            )
        }
    };
    if custom.is_none() && r.info.is_none() {
        return Err(not_mapped(&model, provider.as_deref()));
    }
    Ok(cost::call_cost(&r.provider, &r.model, &usage, custom.as_ref()).unwrap_or(0.0))
}

/// Count the tokens of messages or text for a model, with the model family's tokenizer
/// (``o200k_base`` for GPT-4o and later OpenAI models, ``cl100k_base`` for older ones and,
/// as an approximation, for other families).
///
/// Args:
///     model: the model whose tokenizer to use (``""``: ``cl100k_base``).
///     text: a string (or list of strings) to count.
///     messages: OpenAI chat messages; counted with the chat overhead (3 tokens per message,
///         1 per name, 3 to prime the reply), images by OpenAI's tile rule.
///     tools: tool definitions, counted with the messages.
///     count_response_tokens: accepted for LiteLLM compatibility; ``text`` is counted as it
///         is either way (no chat overhead, as LiteLLM 1.106.2 counts it).
///
/// Returns:
///     The number of tokens.
///
/// Raises:
///     BadRequestError: if ``messages`` are malformed.
#[pyfunction]
#[pyo3(signature = (model="", text=None, messages=None, tools=None, count_response_tokens=false))]
pub fn token_counter(
    model: &str,
    text: Option<&Bound<'_, PyAny>>,
    messages: Option<&Bound<'_, PyAny>>,
    tools: Option<&Bound<'_, PyAny>>,
    #[allow(unused_variables)] count_response_tokens: bool,
) -> PyResult<u64> {
    let enc = tokens::encoding_for("", model);
    let mut total = 0;
    if let Some(m) = messages.filter(|m| !m.is_none()) {
        let msgs: Vec<Message> = from_py(m, "messages")?;
        total += tokens::count_messages(enc, &msgs);
    }
    if let Some(t) = tools.filter(|t| !t.is_none()) {
        let tools: Vec<Tool> = from_py(t, "tools")?;
        total += tokens::count_tools(enc, &tools);
    }
    if let Some(t) = text.filter(|t| !t.is_none()) {
        if let Ok(s) = t.cast::<PyString>() {
            total += enc.count(&s.to_cow()?);
        } else {
            let parts: Vec<String> = from_py(t, "text")?;
            total += parts.iter().map(|p| enc.count(p)).sum::<u64>();
        }
        // Text is counted as it is (LiteLLM 1.106.2: "hello world" is 2 tokens): the chat
        // overhead (per message, reply priming) belongs to `messages` only.
    }
    Ok(total)
}
