//! Rust → Python: OpenAI-format objects out. (Arguments come in through `args.rs` and
//! `values.rs`.)
//!
//! Responses are written straight into instances of
//! `llmswitch._types.ModelResponse` / `ModelResponseStream` / `EmbeddingResponse` /
//! `AttrDict`: dict subclasses whose keys also read as attributes, recursively.

use std::cell::Cell;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyMapping, PyType};
use pythonize::{PythonizeMappingType, PythonizeTypes, PythonizeUnnamedMappingAdapter};
use serde_json::{Map, Value};

use crate::call::ResponseMeta;
use crate::types::ChatChunk;

struct ResponseClasses {
    attr_dict: Py<PyType>,
    model_response: Py<PyType>,
    model_response_stream: Py<PyType>,
    embedding_response: Py<PyType>,
    choices: Py<PyType>,
    message: Py<PyType>,
    tool_call: Py<PyType>,
    function: Py<PyType>,
    usage: Py<PyType>,
    prompt_details: Py<PyType>,
    completion_details: Py<PyType>,
    streaming_choices: Py<PyType>,
    delta: Py<PyType>,
    delta_tool_call: Py<PyType>,
    embedding: Py<PyType>,
    /// `object.__setattr__`, to give a built part its class (`__class__` assignment
    /// between our dict subclasses, which share one layout) without the subclasses'
    /// Python-level `__setattr__`.
    set_attr: Py<PyAny>,
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
            choices: get("Choices")?,
            message: get("Message")?,
            tool_call: get("ChatCompletionMessageToolCall")?,
            function: get("Function")?,
            usage: get("Usage")?,
            prompt_details: get("PromptTokensDetailsWrapper")?,
            completion_details: get("CompletionTokensDetailsWrapper")?,
            streaming_choices: get("StreamingChoices")?,
            delta: get("Delta")?,
            delta_tool_call: get("ChatCompletionDeltaToolCall")?,
            embedding: get("Embedding")?,
            set_attr: py
                .import("builtins")?
                .getattr("object")?
                .getattr("__setattr__")?
                .unbind(),
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
    let obj = answer_to_py(py, response, TopClass::Response, meta)?;
    retype_response(py, &obj)?;
    if let Some(tier) = &response.provider_service_tier {
        obj.getattr(pyo3::intern!(py, "_hidden_params"))?
            .set_item(pyo3::intern!(py, "provider_service_tier"), tier)?;
    }
    Ok(obj)
}

/// An embeddings `list` as an `EmbeddingResponse`, with `_hidden_params` from `meta`.
pub fn embedding_response_to_py<'py>(
    py: Python<'py>,
    response: &crate::types::EmbeddingResponse,
    meta: &ResponseMeta,
) -> PyResult<Bound<'py, PyAny>> {
    let obj = answer_to_py(py, response, TopClass::Embedding, meta)?;
    let c = classes(py)?;
    if let Some(data) = obj.get_item("data").ok().filter(|d| !d.is_none()) {
        for item in data.try_iter()? {
            retype(py, c, &item?, &c.embedding)?;
        }
    }
    retype_usage(py, c, &obj)?;
    Ok(obj)
}

/// Give `obj` (an `AttrDict` built by pythonize) the class `cls`.
fn retype(
    py: Python<'_>,
    c: &ResponseClasses,
    obj: &Bound<'_, PyAny>,
    cls: &Py<PyType>,
) -> PyResult<()> {
    if obj.is_instance_of::<PyDict>() {
        c.set_attr
            .bind(py)
            .call1((obj, pyo3::intern!(py, "__class__"), cls.bind(py)))?;
    }
    Ok(())
}

/// The value of `key` in the dict `obj`, if present and not None.
fn member<'py>(
    obj: &Bound<'py, PyAny>,
    key: &Bound<'py, pyo3::types::PyString>,
) -> Option<Bound<'py, PyAny>> {
    obj.cast::<PyDict>()
        .ok()?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_none())
}

fn retype_usage(py: Python<'_>, c: &ResponseClasses, obj: &Bound<'_, PyAny>) -> PyResult<()> {
    use pyo3::intern;
    if let Some(usage) = member(obj, intern!(py, "usage")) {
        retype(py, c, &usage, &c.usage)?;
        if let Some(d) = member(&usage, intern!(py, "prompt_tokens_details")) {
            retype(py, c, &d, &c.prompt_details)?;
        }
        if let Some(d) = member(&usage, intern!(py, "completion_tokens_details")) {
            retype(py, c, &d, &c.completion_details)?;
        }
    }
    Ok(())
}

/// The parts of a `chat.completion` as LiteLLM's classes (`Choices`, `Message`,
/// `ChatCompletionMessageToolCall`, `Function`, `Usage`), so `isinstance` checks on
/// those names hold.
fn retype_response(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
    use pyo3::intern;
    let c = classes(py)?;
    if let Some(choices) = member(obj, intern!(py, "choices")) {
        for choice in choices.try_iter()? {
            let choice = choice?;
            retype(py, c, &choice, &c.choices)?;
            let Some(message) = member(&choice, intern!(py, "message")) else {
                continue;
            };
            retype(py, c, &message, &c.message)?;
            if let Some(calls) = member(&message, intern!(py, "tool_calls")) {
                for call in calls.try_iter()? {
                    let call = call?;
                    retype(py, c, &call, &c.tool_call)?;
                    if let Some(f) = member(&call, intern!(py, "function")) {
                        retype(py, c, &f, &c.function)?;
                    }
                }
            }
        }
    }
    retype_usage(py, c, obj)
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
        let ch = c
            .streaming_choices
            .bind(py)
            .call0()?
            .cast_into::<PyDict>()?;
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
        let u = to_py(py, usage)?;
        obj.set_item(intern!(py, "usage"), &u)?;
        retype_usage(py, c, obj.as_any())?;
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
    let d = c.delta.bind(py).call0()?.cast_into::<PyDict>()?;
    d.set_item(intern!(py, "role"), delta.role.as_deref())?;
    d.set_item(intern!(py, "content"), delta.content.as_deref())?;
    match &delta.tool_calls {
        Some(calls) => {
            let list = PyList::empty(py);
            for call in calls {
                list.append(tool_call_delta_to_py(py, c, call)?)?;
            }
            d.set_item(intern!(py, "tool_calls"), list)?;
        }
        None => d.set_item(intern!(py, "tool_calls"), py.None())?,
    }
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

/// A streamed tool-call fragment as LiteLLM's `ChatCompletionDeltaToolCall`: `id`, `type`,
/// `index`, `function.name` and `function.arguments` always present (None where this
/// chunk has no value), as frameworks read them on every chunk.
fn tool_call_delta_to_py<'py>(
    py: Python<'py>,
    c: &ResponseClasses,
    call: &crate::types::ToolCallDelta,
) -> PyResult<Bound<'py, PyDict>> {
    use pyo3::intern;
    let t = c.delta_tool_call.bind(py).call0()?.cast_into::<PyDict>()?;
    t.set_item(intern!(py, "id"), call.id.as_deref())?;
    t.set_item(intern!(py, "type"), call.kind.as_deref())?;
    t.set_item(intern!(py, "index"), call.index)?;
    let f = c.function.bind(py).call0()?.cast_into::<PyDict>()?;
    let (name, arguments) = match &call.function {
        Some(f) => (f.name.as_deref(), f.arguments.as_deref()),
        None => (None, None),
    };
    f.set_item(intern!(py, "name"), name)?;
    f.set_item(intern!(py, "arguments"), arguments)?;
    t.set_item(intern!(py, "function"), f)?;
    Ok(t)
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
    if meta.cache_hit {
        d.set_item(intern!(py, "cache_hit"), true)?;
    }
    if let Some(key) = &meta.cache_key {
        d.set_item(intern!(py, "cache_key"), key)?;
    }
    let headers = PyDict::new(py);
    for (k, v) in &meta.headers {
        headers.set_item(k, v)?;
    }
    d.set_item(intern!(py, "additional_headers"), headers)?;
    Ok(d)
}
