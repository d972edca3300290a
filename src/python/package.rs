//! The `llmswitch` package's module-level settings, read from Rust.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::error::LlmError;

static PACKAGE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `llmswitch` package, for its module-level settings.
pub fn package(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    PACKAGE
        .get_or_try_init(py, || py.import("llmswitch").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// Set a module-level call default (``llmswitch.api_key = ...`` and LiteLLM's other
/// settings the core reads: ``api_base``, ``openai_key`` and the other per-provider key
/// variables, ``num_retries``, ``request_timeout``, ``drop_params``; and
/// ``max_response_bytes``). The package calls it when such an attribute is assigned; None
/// unsets.
#[pyfunction]
pub fn _set_default(name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let value = super::values::py_to_value(value, false).map_err(|e| e.at(name))?;
    crate::call::defaults::set(name, &value).map_err(|e| LlmError::bad_request(e.to_string()))?;
    Ok(())
}

/// The names :func:`_set_default` accepts.
#[pyfunction]
pub fn _default_names() -> Vec<&'static str> {
    crate::call::defaults::names().collect()
}
