//! `LlmError` → the Python exception classes of `llmswitch.exceptions`.
//!
//! The classes are defined in Python (`python/llmswitch/exceptions.py`) so they can take
//! the `openai` package's classes as bases when `openai` is imported, without importing it
//! at `import llmswitch`. This module looks them up once and instantiates them.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

use crate::error::LlmError;

static EXCEPTIONS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exceptions_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    EXCEPTIONS_MODULE
        .get_or_try_init(py, || py.import("llmswitch.exceptions").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// `llmswitch.exceptions.UnknownModelCostWarning`.
pub fn unknown_model_cost_warning(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    exceptions_module(py)?.getattr("UnknownModelCostWarning")
}

/// The Python exception for `err`: `?` turns an `LlmError` into the right
/// `llmswitch.exceptions` class wherever a `PyResult` is returned.
impl From<LlmError> for PyErr {
    fn from(err: LlmError) -> PyErr {
        Python::attach(|py| to_pyerr_in(py, err))
    }
}

/// The Python exception for `err`, when the GIL is already held.
pub fn to_pyerr_in(py: Python<'_>, err: LlmError) -> PyErr {
    build(py, &err).unwrap_or_else(|e| e)
}

fn build(py: Python<'_>, err: &LlmError) -> PyResult<PyErr> {
    let module = exceptions_module(py)?;
    let class = module.getattr(err.kind.class_name())?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("llm_provider", err.provider.as_deref())?;
    kwargs.set_item("model", err.model.as_deref())?;
    kwargs.set_item("status_code", err.status_code)?;
    kwargs.set_item("retry_after", err.retry_after)?;
    if let Some(body) = &err.body {
        kwargs.set_item(
            "body",
            pythonize::pythonize(py, body).map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
        )?;
    }
    if err.kind == crate::error::ErrorKind::BudgetExceeded {
        if let Some(body) = &err.body {
            kwargs.set_item(
                "current_cost",
                body.get("current_cost").and_then(|v| v.as_f64()),
            )?;
            kwargs.set_item(
                "max_budget",
                body.get("max_budget").and_then(|v| v.as_f64()),
            )?;
        }
    }
    if !err.attempts.is_empty() {
        kwargs.set_item("attempts", err.attempts.clone())?;
    }
    // LiteLLM's messages name the provider before the provider's words.
    let message = match err.provider.as_deref() {
        Some(p) if !p.is_empty() && !err.message.is_empty() => format!("{p} - {}", err.message),
        _ => err.message.clone(),
    };
    let instance = class.call((message,), Some(&kwargs))?;
    Ok(PyErr::from_value(instance))
}

/// A Python exception instance → our error, for `mock_response=Exception(...)`: our own
/// classes keep their kind; anything else maps by its `status_code` (default 500).
pub fn from_py_exception(exc: &Bound<'_, PyAny>) -> LlmError {
    use crate::error::ErrorKind;
    let class_name: String = exc
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let status: Option<u16> = exc
        .getattr("status_code")
        .ok()
        .and_then(|s| s.extract().ok());
    let message: String = exc
        .getattr("message")
        .ok()
        .and_then(|m| m.extract().ok())
        .or_else(|| exc.str().ok().map(|s| s.to_string()))
        .unwrap_or_default();
    // Our classes' messages start with "litellm.<ClassName>: ", which the rebuilt error adds.
    let message = match message.strip_prefix("litellm.") {
        Some(rest) if rest.starts_with(class_name.as_str()) => rest
            .split_once(": ")
            .map_or(message.clone(), |(_, m)| m.to_owned()),
        _ => message,
    };
    let is_ours = exc
        .get_type()
        .module()
        .map(|m| {
            let m = m.to_string();
            m.starts_with("llmswitch") || m.starts_with("litellm")
        })
        .unwrap_or(false);
    let kind = ErrorKind::from_class_name(&class_name)
        .filter(|_| is_ours)
        .unwrap_or_else(|| ErrorKind::from_status(status.unwrap_or(500)));
    let mut err = LlmError::new(kind, message);
    if let Some(s) = status {
        err.status_code = s;
    }
    err.retry_after = exc
        .getattr("retry_after")
        .ok()
        .and_then(|r| r.extract().ok());
    err
}
