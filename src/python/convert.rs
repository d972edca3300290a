//! Python ⇄ Rust conversion: call arguments in, OpenAI-format objects out.
//!
//! Arguments are read straight from the Python objects into the core's typed request with
//! `pythonize` (no JSON round trip). Responses are written straight into instances of
//! `llmswitch._types.ModelResponse` / `ModelResponseStream` / `EmbeddingResponse` /
//! `AttrDict`: dict subclasses whose keys also read as attributes, recursively.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyType};
use pythonize::{PythonizeMappingType, PythonizeTypes, PythonizeUnnamedMappingAdapter};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::call::{CallOptions, ResponseMeta};
use crate::error::LlmError;
use crate::params::{base_model_of, is_provider_option, NOT_FORWARDED};
use crate::providers::mock::MockSpec;
use crate::providers::TargetOptions;
use crate::spend::CallMetadata;
use crate::types::{ChatChunk, ChatParams, ChatRequest, Message, ResponseFormat, ToolCall};

// ---------------------------------------------------------------------------------------
// Output: Rust → Python
// ---------------------------------------------------------------------------------------

struct ResponseClasses {
    attr_dict: Py<PyType>,
    model_response: Py<PyType>,
    model_response_stream: Py<PyType>,
    embedding_response: Py<PyType>,
}

static CLASSES: PyOnceLock<ResponseClasses> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&ResponseClasses> {
    CLASSES.get_or_try_init(py, || {
        let m = py.import("llmswitch._types")?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(ResponseClasses {
            attr_dict: get("AttrDict")?,
            model_response: get("ModelResponse")?,
            model_response_stream: get("ModelResponseStream")?,
            embedding_response: get("EmbeddingResponse")?,
        })
    })
}

#[derive(Clone, Copy)]
enum TopClass {
    Response,
    Embedding,
}

thread_local! {
    /// The class of the next (outermost) mapping built; nested mappings are `AttrDict`s.
    static TOP_CLASS: Cell<Option<TopClass>> = const { Cell::new(None) };
}

/// pythonize's mapping type for our dict subclasses.
struct AttrMapping;

impl PythonizeMappingType for AttrMapping {
    type Builder<'py> = Bound<'py, PyDict>;

    fn builder<'py>(py: Python<'py>, _len: Option<usize>) -> PyResult<Self::Builder<'py>> {
        let c = classes(py)?;
        let class = match TOP_CLASS.with(Cell::take) {
            Some(TopClass::Response) => &c.model_response,
            Some(TopClass::Embedding) => &c.embedding_response,
            None => &c.attr_dict,
        };
        Ok(class.bind(py).call0()?.cast_into::<PyDict>()?)
    }

    fn push_item<'py>(
        builder: &mut Self::Builder<'py>,
        key: Bound<'py, PyAny>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        builder.set_item(key, value)
    }

    fn finish<'py>(builder: Self::Builder<'py>) -> PyResult<Bound<'py, PyMapping>> {
        Ok(builder.into_any().cast_into::<PyMapping>()?)
    }
}

struct AttrTypes;

impl PythonizeTypes for AttrTypes {
    type Map = AttrMapping;
    type NamedMap = PythonizeUnnamedMappingAdapter<AttrMapping>;
    type List = PyList;
}

fn to_attr_object<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
    top: Option<TopClass>,
) -> PyResult<Bound<'py, PyAny>> {
    TOP_CLASS.with(|c| c.set(top));
    let out = pythonize::pythonize_custom::<AttrTypes, T>(py, value);
    TOP_CLASS.with(|c| c.set(None));
    out.map_err(|e| PyTypeError::new_err(e.to_string()))
}

/// Any serialisable value as plain-or-attribute Python objects (maps become `AttrDict`).
pub fn to_py<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    to_attr_object(py, value, None)
}

/// A `chat.completion` as a `ModelResponse`, with `_hidden_params` from `meta`.
pub fn response_to_py<'py>(
    py: Python<'py>,
    response: &crate::types::ChatResponse,
    meta: &ResponseMeta,
) -> PyResult<Bound<'py, PyAny>> {
    answer_to_py(py, response, TopClass::Response, meta)
}

/// An embeddings `list` as an `EmbeddingResponse`, with `_hidden_params` from `meta`.
pub fn embedding_response_to_py<'py>(
    py: Python<'py>,
    response: &crate::types::EmbeddingResponse,
    meta: &ResponseMeta,
) -> PyResult<Bound<'py, PyAny>> {
    answer_to_py(py, response, TopClass::Embedding, meta)
}

/// A provider's answer as an instance of `top`, with `_hidden_params`, warning once when
/// its model has no price.
fn answer_to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    answer: &T,
    top: TopClass,
    meta: &ResponseMeta,
) -> PyResult<Bound<'py, PyAny>> {
    let obj = to_attr_object(py, answer, Some(top))?;
    obj.setattr(
        pyo3::intern!(py, "_hidden_params"),
        hidden_params(py, meta)?,
    )?;
    if meta.cost.is_none() && !meta.model.is_empty() {
        super::cost::warn_unpriced(py, &meta.provider, &meta.model)?;
    }
    Ok(obj)
}

/// A `chat.completion.chunk` as a `ModelResponseStream`.
///
/// Written by hand rather than through serde (as `to_py` does), because it runs for every
/// chunk of every stream: interned keys, no intermediate serializer. The fields and their
/// order mirror `ChatChunk`'s serde attributes; `test_chunk_conversion_matches_serde` in
/// tests/python/test_streaming.py holds the two together.
pub fn chunk_to_py<'py>(py: Python<'py>, chunk: &ChatChunk) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::intern;
    let c = classes(py)?;
    let obj = c
        .model_response_stream
        .bind(py)
        .call0()?
        .cast_into::<PyDict>()?;
    obj.set_item(intern!(py, "id"), &chunk.id)?;
    obj.set_item(intern!(py, "object"), &chunk.object)?;
    obj.set_item(intern!(py, "created"), chunk.created)?;
    obj.set_item(intern!(py, "model"), &chunk.model)?;
    let choices = PyList::empty(py);
    for choice in &chunk.choices {
        let ch = c.attr_dict.bind(py).call0()?.cast_into::<PyDict>()?;
        ch.set_item(intern!(py, "index"), choice.index)?;
        ch.set_item(intern!(py, "delta"), delta_to_py(py, c, &choice.delta)?)?;
        ch.set_item(
            intern!(py, "finish_reason"),
            choice.finish_reason.as_deref(),
        )?;
        ch.set_item(
            intern!(py, "logprobs"),
            opt_to_py(py, choice.logprobs.as_ref())?,
        )?;
        extra_to_py(&ch, &choice.extra)?;
        choices.append(ch)?;
    }
    obj.set_item(intern!(py, "choices"), choices)?;
    if let Some(usage) = &chunk.usage {
        obj.set_item(intern!(py, "usage"), to_py(py, usage)?)?;
    }
    obj.set_item(
        intern!(py, "system_fingerprint"),
        chunk.system_fingerprint.as_deref(),
    )?;
    extra_to_py(&obj, &chunk.extra)?;
    Ok(obj.into_any())
}

fn delta_to_py<'py>(
    py: Python<'py>,
    c: &ResponseClasses,
    delta: &crate::types::Delta,
) -> PyResult<Bound<'py, PyDict>> {
    use pyo3::intern;
    let d = c.attr_dict.bind(py).call0()?.cast_into::<PyDict>()?;
    d.set_item(intern!(py, "role"), delta.role.as_deref())?;
    d.set_item(intern!(py, "content"), delta.content.as_deref())?;
    d.set_item(
        intern!(py, "tool_calls"),
        opt_to_py(py, delta.tool_calls.as_ref())?,
    )?;
    d.set_item(
        intern!(py, "function_call"),
        opt_to_py(py, delta.function_call.as_ref())?,
    )?;
    if let Some(v) = &delta.refusal {
        d.set_item(intern!(py, "refusal"), v)?;
    }
    if let Some(v) = &delta.reasoning_content {
        d.set_item(intern!(py, "reasoning_content"), v)?;
    }
    if let Some(v) = &delta.thinking_blocks {
        d.set_item(intern!(py, "thinking_blocks"), to_py(py, v)?)?;
    }
    extra_to_py(&d, &delta.extra)?;
    Ok(d)
}

fn opt_to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: Option<&T>,
) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Some(v) => to_py(py, v),
        None => Ok(py.None().into_bound(py)),
    }
}

fn extra_to_py(dict: &Bound<'_, PyDict>, extra: &Map<String, Value>) -> PyResult<()> {
    for (k, v) in extra {
        dict.set_item(k, to_py(dict.py(), v)?)?;
    }
    Ok(())
}

/// `_hidden_params`: what LiteLLM keeps outside the OpenAI shape.
pub fn hidden_params<'py>(py: Python<'py>, meta: &ResponseMeta) -> PyResult<Bound<'py, PyDict>> {
    use pyo3::intern;
    // Interned keys: built on every response, so no key string is allocated or hashed.
    let d = PyDict::new(py);
    d.set_item(intern!(py, "custom_llm_provider"), &meta.provider)?;
    d.set_item(intern!(py, "model"), &meta.model)?;
    d.set_item(intern!(py, "api_base"), &meta.api_base)?;
    d.set_item(intern!(py, "model_id"), meta.model_id.as_deref())?;
    d.set_item(intern!(py, "model_group"), meta.model_group.as_deref())?;
    d.set_item(intern!(py, "attempts"), &meta.attempts)?;
    d.set_item(intern!(py, "response_cost"), meta.cost)?;
    d.set_item(
        intern!(py, "response_ms"),
        meta.latency.as_secs_f64() * 1000.0,
    )?;
    d.set_item(intern!(py, "retries"), meta.retries)?;
    if let Some(from) = &meta.downgraded_from {
        d.set_item(intern!(py, "budget_downgraded_from"), from)?;
    }
    let headers = PyDict::new(py);
    for (k, v) in &meta.headers {
        headers.set_item(k, v)?;
    }
    d.set_item(intern!(py, "additional_headers"), headers)?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------
// Input: Python → Rust
// ---------------------------------------------------------------------------------------

/// Read a Python object into `T`, with the path of the offending field in the error.
pub fn from_py<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> Result<T, LlmError> {
    let value = py_to_value(obj).map_err(|(path, msg)| {
        LlmError::bad_request(format!("{what}{}: {msg}", render_path(&path)))
    })?;
    // Plain serde first (from `&Value`, so the value survives a failure); the path of the
    // offending field is only tracked to explain a failure.
    if let Ok(parsed) = T::deserialize(&value) {
        return Ok(parsed);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            what.to_owned()
        } else if path.starts_with('[') {
            format!("{what}{path}")
        } else {
            format!("{what}.{path}")
        };
        LlmError::bad_request(format!("{at}: {}", e.into_inner()))
    })
}

/// A step into a JSON document, for error messages.
enum PathStep {
    Key(String),
    Index(usize),
}

fn render_path(reversed: &[PathStep]) -> String {
    reversed
        .iter()
        .rev()
        .map(|s| match s {
            PathStep::Key(k) => format!(".{k}"),
            PathStep::Index(i) => format!("[{i}]"),
        })
        .collect()
}

type ConvertError = (Vec<PathStep>, String);

/// A Python object as JSON. Our own walk rather than pythonize's deserializer: that one
/// probes every dict for `__dataclass_fields__`, raising (and formatting) an
/// AttributeError per dict on the stable ABI, which dominated the cost of reading a call.
/// Dict subclasses (our responses), lists, tuples, pydantic models (`model_dump`) and
/// int dict keys (as `json.dumps` writes them) are accepted.
fn py_to_value(obj: &Bound<'_, PyAny>) -> Result<Value, ConvertError> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|e| (Vec::new(), e.to_string()));
    }
    if let Ok(b) = obj.cast::<pyo3::types::PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<pyo3::types::PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Value::from(v));
        }
        return i
            .extract::<u64>()
            .map(Value::from)
            .map_err(|_| (Vec::new(), "integer out of range".to_owned()));
    }
    if let Ok(f) = obj.cast::<pyo3::types::PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| (Vec::new(), "NaN and infinity are not valid JSON".to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = if let Ok(s) = k.cast::<PyString>() {
                s.to_cow()
                    .map_err(|e| (Vec::new(), e.to_string()))?
                    .into_owned()
            } else if k.is_instance_of::<pyo3::types::PyInt>()
                || k.is_instance_of::<pyo3::types::PyFloat>()
            {
                k.str()
                    .map_err(|e| (Vec::new(), e.to_string()))?
                    .to_string()
            } else {
                return Err((Vec::new(), "dict keys must be strings".to_owned()));
            };
            match py_to_value(&v) {
                Ok(v) => {
                    map.insert(key, v);
                }
                Err((mut path, msg)) => {
                    path.push(PathStep::Key(key));
                    return Err((path, msg));
                }
            }
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return seq_to_value(l.iter());
    }
    if let Ok(t) = obj.cast::<pyo3::types::PyTuple>() {
        return seq_to_value(t.iter());
    }
    if obj
        .hasattr(pyo3::intern!(obj.py(), "model_dump"))
        .unwrap_or(false)
    {
        let kwargs = PyDict::new(obj.py());
        kwargs
            .set_item("exclude_none", true)
            .map_err(|e| (Vec::new(), e.to_string()))?;
        let dumped = obj
            .call_method("model_dump", (), Some(&kwargs))
            .map_err(|e| (Vec::new(), e.to_string()))?;
        return py_to_value(&dumped);
    }
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    Err((
        Vec::new(),
        format!("cannot send a value of type {type_name} (not JSON-representable)"),
    ))
}

fn seq_to_value<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
) -> Result<Value, ConvertError> {
    let mut out = Vec::new();
    for (i, item) in items.enumerate() {
        match py_to_value(&item) {
            Ok(v) => out.push(v),
            Err((mut path, msg)) => {
                path.push(PathStep::Index(i));
                return Err((path, msg));
            }
        }
    }
    Ok(Value::Array(out))
}

/// Messages from a list of dicts (or pydantic message objects, e.g. a previous response's
/// `message` from the openai SDK).
fn messages_from_py(obj: &Bound<'_, PyAny>) -> Result<Vec<Message>, LlmError> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyDict>() {
        return Err(LlmError::bad_request(
            "messages must be a list of message dicts, e.g. [{\"role\": \"user\", \"content\": \"hi\"}]",
        ));
    }
    from_py(obj, "messages")
}

fn py_to_llm(e: PyErr) -> LlmError {
    LlmError::bad_request(e.to_string())
}

/// Everything a completion call needs, read from Python.
pub struct ParsedCall {
    pub model: String,
    pub custom_llm_provider: Option<String>,
    pub request: ChatRequest,
    pub target: TargetOptions,
    pub options: CallOptions,
}

/// Read a `completion()` call's arguments. `kwargs` is consumed key by key: call options
/// and credentials are taken out, the OpenAI parameters are typed, and the rest passes
/// through to the provider as extra body fields.
pub fn parse_call(
    _py: Python<'_>,
    model: &str,
    messages: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
    global_drop_params: bool,
) -> Result<ParsedCall, LlmError> {
    let messages = match messages {
        Some(m) if !m.is_none() => messages_from_py(m)?,
        _ => Vec::new(),
    };
    let mut target = TargetOptions::default();
    let mut options = CallOptions {
        drop_params: global_drop_params,
        ..Default::default()
    };
    let mut custom_llm_provider = None;
    let mut mock: Option<MockSpec> = None;
    let mut mock_tool_calls: Option<Vec<ToolCall>> = None;
    let mut mock_delay: Option<Duration> = None;
    let mut params_map = Map::new();
    let mut extra = Map::new();
    let mut metadata = Map::new();
    let mut call_tags: Vec<String> = Vec::new();
    let mut user_param: Option<String> = None;

    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let key: String = key.extract().map_err(py_to_llm)?;
            if value.is_none() && key != "mock_response" {
                continue;
            }
            match key.as_str() {
                "stream" => options.stream = from_py(&value, "stream")?,
                "timeout" | "request_timeout" => options.timeout = Some(timeout_from_py(&value)?),
                "num_retries" => options.num_retries = from_py(&value, "num_retries")?,
                "drop_params" => options.drop_params = from_py(&value, "drop_params")?,
                "api_key" => {
                    let k: String = from_py(&value, "api_key")?;
                    target.api_key = Some(SecretString::from(k));
                }
                "api_base" | "base_url" => target.api_base = Some(from_py(&value, &key)?),
                "api_version" => target.api_version = Some(from_py(&value, "api_version")?),
                "extra_headers" | "headers" => {
                    let h: std::collections::BTreeMap<String, String> = from_py(&value, &key)?;
                    target.extra_headers.extend(h);
                }
                "custom_llm_provider" => {
                    custom_llm_provider = Some(from_py(&value, "custom_llm_provider")?)
                }
                "mock_response" => {
                    if !value.is_none() {
                        mock = Some(mock_from_py(&value)?);
                    }
                }
                "mock_tool_calls" => mock_tool_calls = Some(from_py(&value, "mock_tool_calls")?),
                "mock_delay" => {
                    let secs: f64 = from_py(&value, "mock_delay")?;
                    mock_delay = Some(duration_from_secs(secs, "mock_delay")?);
                }
                "custom_cost_per_token" => {
                    options.custom_pricing = Some(from_py(&value, "custom_cost_per_token")?)
                }
                "input_cost_per_token" => {
                    options
                        .custom_pricing
                        .get_or_insert_with(Default::default)
                        .input_cost_per_token = Some(from_py(&value, "input_cost_per_token")?)
                }
                "output_cost_per_token" => {
                    options
                        .custom_pricing
                        .get_or_insert_with(Default::default)
                        .output_cost_per_token = Some(from_py(&value, "output_cost_per_token")?)
                }
                "response_format" => {
                    params_map.insert(key, response_format_from_py(&value)?);
                }
                "metadata" | "litellm_metadata" => metadata.extend(metadata_from_py(&value)?),
                "tags" => call_tags.extend(tags_from_py(&value)?),
                "user" => {
                    let v: Value = from_py(&value, "user")?;
                    user_param = v.as_str().map(str::to_owned);
                    params_map.insert(key, v);
                }
                "azure_ad_token_provider" => {
                    target.token_provider = Some(super::token_provider::wrap(&value)?)
                }
                "model_info" => {
                    // Only base_model matters here; anything else in it is LiteLLM's.
                    let info: Value = from_py(&value, "model_info").unwrap_or(Value::Null);
                    if let Some(base) = base_model_of(&info) {
                        target
                            .provider_options
                            .entry("base_model")
                            .or_insert_with(|| Value::from(base));
                    }
                }
                k if NOT_FORWARDED.contains(&k) => {}
                k if is_provider_option(k) => {
                    let v: Value = from_py(&value, k)?;
                    target.provider_options.insert(key, v);
                }
                k if crate::types::OPENAI_PARAMS.contains(&k) => {
                    let v: Value = from_py(&value, &key)?;
                    params_map.insert(key, v);
                }
                _ => {
                    let v: Value = from_py(&value, &key)?;
                    extra.insert(key, v);
                }
            }
        }
    }
    if mock_tool_calls.is_some() || mock_delay.is_some() {
        let spec = mock.get_or_insert_with(MockSpec::default);
        if mock_tool_calls.is_some() {
            spec.tool_calls = mock_tool_calls;
        }
        spec.delay = mock_delay;
    }
    options.mock = mock;
    if !metadata.is_empty() || !call_tags.is_empty() || user_param.is_some() {
        let mut m = CallMetadata::from_map(metadata);
        if m.user.is_none() {
            m.user = user_param;
        }
        for t in call_tags {
            if !m.tags.contains(&t) {
                m.tags.push(t);
            }
        }
        options.metadata = Some(Arc::new(m));
    }
    let params: ChatParams =
        serde_path_to_error::deserialize(Value::Object(params_map)).map_err(|e| {
            let path = e.path().to_string();
            LlmError::bad_request(format!("{path}: {}", e.into_inner()))
        })?;
    Ok(ParsedCall {
        model: model.to_owned(),
        custom_llm_provider,
        request: ChatRequest {
            model: model.to_owned(),
            messages,
            params,
            extra,
        },
        target,
        options,
    })
}

/// `metadata=`: a dict. Values that are not JSON-representable are kept as their `str()`
/// (LiteLLM callers put all sorts of objects there).
/// `response_format`: a dict as OpenAI defines it, or (as LiteLLM and the OpenAI SDK
/// accept) a pydantic model class, sent as its strict JSON schema named after the class.
fn response_format_from_py(value: &Bound<'_, PyAny>) -> Result<Value, LlmError> {
    let Ok(class) = value.cast::<PyType>() else {
        return from_py(value, "response_format");
    };
    let py = value.py();
    if !class
        .hasattr(pyo3::intern!(py, "model_json_schema"))
        .map_err(py_to_llm)?
    {
        let name = class.name().map(|n| n.to_string()).unwrap_or_default();
        return Err(LlmError::bad_request(format!(
            "response_format: the class {name} is not a pydantic model; pass a pydantic \
             BaseModel subclass or a dict such as {{\"type\": \"json_schema\", ...}}"
        )));
    }
    let schema = class
        .call_method0(pyo3::intern!(py, "model_json_schema"))
        .map_err(py_to_llm)?;
    let name = class.name().map_err(py_to_llm)?.to_string();
    let format = ResponseFormat::strict_json_schema(&name, from_py(&schema, "response_format")?)
        .map_err(|e| LlmError::bad_request(format!("response_format ({name}): {e}")))?;
    serde_json::to_value(format).map_err(|e| LlmError::bad_request(e.to_string()))
}

fn metadata_from_py(value: &Bound<'_, PyAny>) -> Result<Map<String, Value>, LlmError> {
    let dict = value.cast::<PyDict>().map_err(|_| {
        LlmError::bad_request(
            "metadata must be a dict, e.g. {\"user\": \"alice\", \"project\": \"search\", \"tags\": [\"summarize\"]}",
        )
    })?;
    let mut out = Map::new();
    for (k, v) in dict.iter() {
        let key = match k.extract::<String>() {
            Ok(s) => s,
            Err(_) => k.str().map_err(py_to_llm)?.to_string(),
        };
        let value = match from_py::<Value>(&v, "metadata") {
            Ok(v) => v,
            Err(_) => Value::String(v.str().map_err(py_to_llm)?.to_string()),
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// `tags=`: a list of strings, or one string.
fn tags_from_py(value: &Bound<'_, PyAny>) -> Result<Vec<String>, LlmError> {
    if let Ok(one) = value.extract::<String>() {
        return Ok(vec![one]);
    }
    from_py(value, "tags")
}

fn duration_from_secs(secs: f64, what: &str) -> Result<Duration, LlmError> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        LlmError::bad_request(format!(
            "{what} must be a non-negative number of seconds, got {secs}"
        ))
    })
}

/// `timeout=`: seconds (int or float), or an object with `connect`/`read`/`write`/`pool`
/// attributes such as `httpx.Timeout` (the longest of them is used).
fn timeout_from_py(value: &Bound<'_, PyAny>) -> Result<Duration, LlmError> {
    if let Ok(secs) = value.extract::<f64>() {
        return duration_from_secs(secs, "timeout");
    }
    let mut longest: Option<f64> = None;
    for attr in ["connect", "read", "write", "pool", "total"] {
        if let Ok(v) = value.getattr(attr) {
            if let Ok(s) = v.extract::<f64>() {
                longest = Some(longest.map_or(s, |l: f64| l.max(s)));
            }
        }
    }
    match longest {
        Some(s) => duration_from_secs(s, "timeout"),
        None => Err(LlmError::bad_request(
            "timeout must be a number of seconds or an httpx.Timeout",
        )),
    }
}

/// `mock_response=`: a reply text, an exception-class name string, or an exception
/// instance to raise.
fn mock_from_py(value: &Bound<'_, PyAny>) -> Result<MockSpec, LlmError> {
    if let Ok(text) = value.extract::<String>() {
        return Ok(MockSpec::from_text(&text));
    }
    if value.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        return Ok(MockSpec {
            error: Some(super::exceptions::from_py_exception(value)),
            ..Default::default()
        });
    }
    Err(LlmError::bad_request(
        "mock_response must be a string (the reply, or an exception name such as \"litellm.RateLimitError\") or an exception instance",
    ))
}
