//! `Coroutine`: what the async API (`acompletion`, `Router.acompletion`, ...) returns.
//!
//! LiteLLM's async functions are `async def`, so they return coroutines: they can be
//! created outside an event loop, passed to `asyncio.run` or `asyncio.create_task`, and do
//! nothing until awaited. An asyncio future would break those uses (it needs a running loop
//! at creation, and `create_task` rejects it). This object follows the coroutine protocol
//! (`send`, `throw`, `close`, `__await__`; registered as `collections.abc.Coroutine` by the
//! package) and starts the Rust future on the running loop when it is first awaited.

use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use super::runtime::CancelHandle;

/// Starts the work on the running loop and returns the asyncio future to wait on, and the
/// handle that cancels the work (if the future does not cancel it itself).
type Start = Box<
    dyn for<'py> FnOnce(Python<'py>) -> PyResult<(Bound<'py, PyAny>, Option<CancelHandle>)> + Send,
>;

enum State {
    /// Created, not awaited yet.
    Pending(Start),
    /// Awaited: the iterator of the asyncio future's `__await__`.
    Running(Py<PyAny>),
    Finished,
}

/// A coroutine over a Rust future. Returned by the async API; await it (or hand it to
/// ``asyncio.create_task`` / ``asyncio.run``) to run it.
#[pyclass(module = "llmswitch._llmswitch")]
pub struct Coroutine {
    state: Mutex<State>,
    name: &'static str,
    /// Cancels the running work: used when an exception (the task's cancellation) is
    /// thrown in, when the coroutine is closed, and when it is dropped unfinished.
    cancel: Mutex<Option<CancelHandle>>,
}

impl Coroutine {
    /// A coroutine that runs `start` when first awaited.
    pub fn new(
        name: &'static str,
        start: impl for<'py> FnOnce(Python<'py>) -> PyResult<(Bound<'py, PyAny>, Option<CancelHandle>)>
            + Send
            + 'static,
    ) -> Self {
        Coroutine {
            state: Mutex::new(State::Pending(Box::new(start))),
            name,
            cancel: Mutex::new(None),
        }
    }

    /// Cancel the work, if it runs.
    fn cancel(&self) {
        let handle = match self.cancel.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(h) = handle {
            h.cancel();
        }
    }

    fn take_state(&self) -> PyResult<State> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| PyRuntimeError::new_err("coroutine state poisoned"))?;
        Ok(std::mem::replace(&mut *guard, State::Finished))
    }

    fn put_state(&self, state: State) -> PyResult<()> {
        *self
            .state
            .lock()
            .map_err(|_| PyRuntimeError::new_err("coroutine state poisoned"))? = state;
        Ok(())
    }

    /// The iterator to drive: the running one, or a freshly started one.
    fn iterator<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.take_state()? {
            State::Pending(start) => {
                let (future, cancel) = start(py)?;
                if let Ok(mut slot) = self.cancel.lock() {
                    *slot = cancel;
                }
                let iter = future.call_method0(pyo3::intern!(py, "__await__"))?;
                Ok(iter)
            }
            State::Running(iter) => Ok(iter.into_bound(py)),
            State::Finished => Err(PyRuntimeError::new_err(format!(
                "cannot reuse already awaited coroutine {}",
                self.name
            ))),
        }
    }

    /// Keep driving `iter` after a step that yielded; a step that raised (StopIteration
    /// with the result, or the call's exception) leaves the coroutine finished.
    fn after_step<'py>(
        &self,
        iter: Bound<'py, PyAny>,
        step: PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let yielded = step?;
        self.put_state(State::Running(iter.unbind()))?;
        Ok(yielded)
    }
}

#[pymethods]
impl Coroutine {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.send(py, py.None().into_bound(py))
    }

    /// Resume the coroutine (the coroutine protocol; asyncio calls it).
    fn send<'py>(&self, py: Python<'py>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let iter = self.iterator(py)?;
        let step = if value.is_none() {
            // Plain iteration is what asyncio's future iterator expects on each step.
            iter.call_method0(pyo3::intern!(py, "__next__"))
        } else {
            iter.call_method1(pyo3::intern!(py, "send"), (value,))
        };
        self.after_step(iter, step)
    }

    /// Raise an exception inside the coroutine (the coroutine protocol; task
    /// cancellation uses it).
    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw<'py>(
        &self,
        py: Python<'py>,
        typ: Bound<'py, PyAny>,
        val: Option<Bound<'py, PyAny>>,
        tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.take_state()? {
            State::Running(iter) => {
                // Whatever comes in (asyncio's CancelledError, a timeout), the awaiter has
                // stopped waiting: stop the work and close its connection.
                self.cancel();
                let iter = iter.into_bound(py);
                let step = iter.call_method1(
                    pyo3::intern!(py, "throw"),
                    (
                        typ,
                        val.unwrap_or_else(|| py.None().into_bound(py)),
                        tb.unwrap_or_else(|| py.None().into_bound(py)),
                    ),
                );
                self.after_step(iter, step)
            }
            // Never started (or finished): the exception propagates from here, as from a
            // coroutine that has not run.
            _ => {
                let exc = match val {
                    Some(v) if !v.is_none() => v,
                    _ => typ.call0().unwrap_or(typ),
                };
                Err(PyErr::from_value(exc))
            }
        }
    }

    /// Close the coroutine. Before it is awaited, nothing was started and nothing runs;
    /// once running, the future is cancelled (which cancels the request).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.cancel();
        if let State::Running(iter) = self.take_state()? {
            let iter = iter.into_bound(py);
            if iter.hasattr(pyo3::intern!(py, "close"))? {
                iter.call_method0(pyo3::intern!(py, "close"))?;
            }
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<llmswitch coroutine {}>", self.name)
    }
}

impl Drop for Coroutine {
    fn drop(&mut self) {
        // Dropped unfinished (never awaited to the end): the work has no one to report to.
        self.cancel();
    }
}
