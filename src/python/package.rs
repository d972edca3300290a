//! The `llmswitch` package's module-level settings, read from Rust.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

static PACKAGE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `llmswitch` package, for its module-level settings.
pub fn package(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    PACKAGE
        .get_or_try_init(py, || py.import("llmswitch").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// `llmswitch.drop_params`, the global default of `drop_params=`.
pub fn global_drop_params(py: Python<'_>) -> bool {
    package(py)
        .ok()
        .and_then(|m| m.getattr(pyo3::intern!(py, "drop_params")).ok())
        .and_then(|v| v.is_truthy().ok())
        .unwrap_or(false)
}

/// `llmswitch.max_response_bytes`, applied process-wide before each call (one attribute
/// read and one relaxed store).
pub fn sync_max_response_bytes(py: Python<'_>) {
    if let Some(limit) = package(py)
        .ok()
        .and_then(|m| m.getattr(pyo3::intern!(py, "max_response_bytes")).ok())
        .and_then(|v| v.extract::<usize>().ok())
    {
        crate::http::set_max_response_bytes(limit);
    }
}
