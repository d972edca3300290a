//! LiteLLM-style logging callbacks (`llmswitch.success_callback`, `failure_callback`,
//! `callbacks`). The work is in `llmswitch/_callbacks.py`; this side only checks, per
//! call, whether any callback is registered (three attribute reads, no import), and if so
//! tells the Python log how the call began and ended.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::package::package;

/// A call about to begin, captured while callbacks are registered; becomes a [`CallLog`]
/// where the call starts (for async calls: inside the event loop, when first awaited).
pub(super) struct PendingLog {
    call_type: &'static str,
    model: String,
    messages: Option<Py<PyAny>>,
    kwargs: Option<Py<PyDict>>,
}

/// The Python `CallLog` of one call.
pub(super) struct CallLog(Py<PyAny>);

/// Whether any callback list is non-empty.
fn registered(py: Python<'_>) -> bool {
    let Ok(pkg) = package(py) else {
        return false;
    };
    let set = |name: &Bound<'_, pyo3::types::PyString>| {
        pkg.getattr(name)
            .and_then(|v| v.is_truthy())
            .unwrap_or(false)
    };
    set(pyo3::intern!(py, "success_callback"))
        || set(pyo3::intern!(py, "failure_callback"))
        || set(pyo3::intern!(py, "callbacks"))
}

impl PendingLog {
    /// `None` (and no work) unless a callback is registered.
    pub fn capture(
        py: Python<'_>,
        call_type: &'static str,
        model: &str,
        messages: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> Option<PendingLog> {
        registered(py).then(|| PendingLog {
            call_type,
            model: model.to_owned(),
            messages: messages.map(|m| m.clone().unbind()),
            kwargs: kwargs.map(|k| k.clone().unbind()),
        })
    }

    /// The call starts: run the pre-call hooks. An invalid callback list (a name of an
    /// integration llmswitch does not ship) raises here, before the request is sent.
    pub fn start(self, py: Python<'_>, is_async: bool) -> PyResult<Option<CallLog>> {
        let log = py.import("llmswitch._callbacks")?.call_method1(
            "start",
            (
                self.call_type,
                self.model,
                self.messages,
                self.kwargs,
                is_async,
            ),
        )?;
        Ok((!log.is_none()).then(|| CallLog(log.unbind())))
    }
}

/// For blocking calls: capture and start in one step.
pub(super) fn start_blocking(
    py: Python<'_>,
    call_type: &'static str,
    model: &str,
    messages: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Option<CallLog>> {
    match PendingLog::capture(py, call_type, model, messages, kwargs) {
        Some(pending) => pending.start(py, false),
        None => Ok(None),
    }
}

impl CallLog {
    fn call(
        &self,
        py: Python<'_>,
        method: &Bound<'_, pyo3::types::PyString>,
        arg: Option<&Bound<'_, PyAny>>,
    ) {
        let log = self.0.bind(py);
        let result = match arg {
            Some(a) => log.call_method1(method, (a,)),
            None => log.call_method0(method),
        };
        // A failure in the logging machinery must not fail the call it logs.
        if let Err(e) = result {
            e.write_unraisable(py, Some(log));
        }
    }

    /// A stream handed out `chunk`.
    pub fn chunk(&self, chunk: &Bound<'_, PyAny>) {
        self.call(chunk.py(), pyo3::intern!(chunk.py(), "chunk"), Some(chunk));
    }

    /// The stream ended normally.
    pub fn stream_end(&self, py: Python<'_>) {
        self.call(py, pyo3::intern!(py, "stream_end"), None);
    }

    /// The call answered `response`.
    pub fn success(&self, response: &Bound<'_, PyAny>) {
        self.call(
            response.py(),
            pyo3::intern!(response.py(), "success"),
            Some(response),
        );
    }

    /// The call (or its stream) raised `err`.
    pub fn failure(&self, py: Python<'_>, err: &PyErr) {
        self.call(
            py,
            pyo3::intern!(py, "failure"),
            Some(err.value(py).as_any()),
        );
    }
}
