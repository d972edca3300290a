//! Python iterators over a [`ChunkStream`]: `SyncStream` (`for chunk in ...`) and
//! `AsyncStream` (`async for chunk in ...`). Chunks already received are handed out
//! without touching the runtime; only an empty buffer waits, with the GIL released.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use pyo3::sync::PyOnceLock;

use super::budget::deliver_alerts;
use super::callbacks::CallLog;
use super::convert::{chunk_to_py, hidden_params};
use super::exceptions::to_pyerr_in;
use super::runtime::{spawn_on_shared, LocalRuntime};
use crate::call::ResponseMeta;
use crate::error::LlmError;
use crate::stream::ChunkStream;
use crate::types::{ChatChunk, Usage};

/// A stream's `_hidden_params`: one dict, shared by the stream object and its first chunk
/// (so `stream_chunk_builder` knows provider and model), whose `response_cost` is filled in
/// when the stream ends.
pub struct StreamHidden {
    meta: Mutex<ResponseMeta>,
    dict: PyOnceLock<Py<PyDict>>,
    first_chunk_sent: AtomicBool,
    /// The logging callbacks' record of this call, when callbacks are registered.
    log: OnceLock<CallLog>,
}

impl StreamHidden {
    fn new(meta: ResponseMeta) -> Self {
        StreamHidden {
            meta: Mutex::new(meta),
            dict: PyOnceLock::new(),
            first_chunk_sent: AtomicBool::new(false),
            log: OnceLock::new(),
        }
    }

    fn set_log(&self, log: CallLog) {
        // A stream is created once and settled once: the slot is always empty here.
        let _ = self.log.set(log);
    }

    /// The stream failed with `err`: tell the callbacks, and hand the error on.
    fn failed(&self, py: Python<'_>, err: LlmError) -> PyErr {
        deliver_alerts(py);
        let err = to_pyerr_in(py, err);
        if let Some(log) = self.log.get() {
            log.failure(py, &err);
        }
        err
    }

    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.dict.get_or_try_init(py, || {
            let meta = self.meta.lock().map_err(|_| poisoned())?;
            hidden_params(py, &meta).map(Bound::unbind)
        })?;
        Ok(d.bind(py).clone())
    }

    /// A chunk as a Python object; the first one carries the stream's `_hidden_params`.
    fn chunk<'py>(&self, py: Python<'py>, chunk: &ChatChunk) -> PyResult<Bound<'py, PyAny>> {
        let obj = chunk_to_py(py, chunk)?;
        if !self.first_chunk_sent.swap(true, Ordering::Relaxed) {
            obj.setattr(pyo3::intern!(py, "_hidden_params"), self.dict(py)?)?;
        }
        if let Some(log) = self.log.get() {
            log.chunk(&obj);
        }
        Ok(obj)
    }

    /// The stream ended: cost its usage (warning once if the model has no price), then
    /// tell the callbacks.
    fn finish(&self, py: Python<'_>, usage: Option<&(Usage, bool)>) -> PyResult<()> {
        deliver_alerts(py);
        let costed = self.cost(py, usage);
        if let Some(log) = self.log.get() {
            log.stream_end(py);
        }
        costed
    }

    /// A chunk handed out: if it ended the stream (all that may follow is usage), cost the
    /// stream now, for a caller that stops at the finish reason.
    fn chunk_of<'py>(
        &self,
        py: Python<'py>,
        chunk: &ChatChunk,
        stream: &mut ChunkStream,
    ) -> PyResult<Bound<'py, PyAny>> {
        let obj = self.chunk(py, chunk)?;
        if stream.ended() {
            self.cost(py, stream.final_usage().as_ref())?;
        }
        Ok(obj)
    }

    /// The stream is being closed before its end: cost what it will be charged.
    fn closing(&self, py: Python<'_>, stream: &mut ChunkStream) -> PyResult<()> {
        let usage = stream.final_usage();
        self.cost(py, usage.as_ref())
    }

    /// Set `response_cost` (and `estimated`: whether the usage is llmswitch's count, not
    /// the provider's) from the stream's final usage.
    fn cost(&self, py: Python<'_>, usage: Option<&(Usage, bool)>) -> PyResult<()> {
        let Some((usage, estimated)) = usage else {
            return Ok(());
        };
        let (cost, provider, model) = {
            let mut meta = self.meta.lock().map_err(|_| poisoned())?;
            meta.cost = meta.cost_of(usage);
            (meta.cost, meta.provider.clone(), meta.model.clone())
        };
        let dict = self.dict(py)?;
        dict.set_item("response_cost", cost)?;
        dict.set_item("estimated", *estimated)?;
        if cost.is_none() {
            super::cost::warn_unpriced(py, &provider, &model)?;
        }
        Ok(())
    }
}

/// A blocking iterator of ``ModelResponseStream`` chunks, returned by
/// ``completion(..., stream=True)``. ``with ... as stream:`` or :meth:`close` closes the
/// connection; so does dropping the stream (leaving a ``for`` loop early drops it only if
/// nothing else, such as a variable, still holds it).
#[pyclass(module = "llmswitch._llmswitch")]
pub struct SyncStream {
    // A Mutex only to make the pyclass `Sync`; `&mut self` access never contends.
    stream: Mutex<Option<ChunkStream>>,
    hidden: StreamHidden,
    /// The runtime the stream's connection lives on (the opening thread's).
    runtime: Arc<LocalRuntime>,
}

impl SyncStream {
    /// Drop the stream (if still open) on its runtime, closing its connection now.
    fn release(&mut self, py: Python<'_>) {
        let open = match self.stream.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(mut stream) = open {
            // The cost is best effort here (a drop cannot raise); the ledger has it anyway.
            let _ = self.hidden.closing(py, &mut stream);
            self.runtime.drop_in(py, stream);
        }
    }

    pub fn new(stream: ChunkStream, meta: ResponseMeta, runtime: Arc<LocalRuntime>) -> Self {
        SyncStream {
            stream: Mutex::new(Some(stream)),
            hidden: StreamHidden::new(meta),
            runtime,
        }
    }

    /// Report this stream's chunks and end to the logging callbacks.
    pub(super) fn set_log(&self, log: CallLog) {
        self.hidden.set_log(log);
    }
}

impl Drop for SyncStream {
    fn drop(&mut self) {
        // Leaving a `for` loop early drops the iterator here: close the connection.
        Python::attach(|py| self.release(py));
    }
}

#[pymethods]
impl SyncStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let slot = self.stream.get_mut().map_err(|_| poisoned())?;
        let Some(stream) = slot.as_mut() else {
            return Err(PyStopIteration::new_err(()));
        };
        if let Some(chunk) = stream.next_buffered() {
            return self.hidden.chunk_of(py, &chunk, stream);
        }
        let next = self
            .runtime
            .block_on(py, async { Ok::<_, LlmError>(stream.next().await) })?;
        match next {
            Some(Ok(chunk)) => self.hidden.chunk_of(py, &chunk, stream),
            Some(Err(e)) => {
                *slot = None;
                Err(self.hidden.failed(py, e))
            }
            None => {
                let usage = stream.final_usage();
                *slot = None;
                self.hidden.finish(py, usage.as_ref())?;
                Err(PyStopIteration::new_err(()))
            }
        }
    }

    /// Close the stream and its connection. Further iteration stops.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.release(py);
        deliver_alerts(py);
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(_args.py())?;
        Ok(false)
    }

    /// Provider, model, api_base and response headers of this stream, and
    /// ``response_cost`` once it has ended.
    #[getter]
    fn _hidden_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.hidden.dict(py)
    }
}

fn poisoned() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("stream state is poisoned by an earlier panic")
}

/// An async iterator of ``ModelResponseStream`` chunks, returned by
/// ``await acompletion(..., stream=True)``. ``async with ... as stream:`` or :meth:`aclose`
/// closes the connection; so does dropping the stream.
#[pyclass(module = "llmswitch._llmswitch")]
pub struct AsyncStream {
    stream: Arc<tokio::sync::Mutex<Option<ChunkStream>>>,
    hidden: Arc<StreamHidden>,
}

impl AsyncStream {
    pub fn new(stream: ChunkStream, meta: ResponseMeta) -> Self {
        AsyncStream {
            stream: Arc::new(tokio::sync::Mutex::new(Some(stream))),
            hidden: Arc::new(StreamHidden::new(meta)),
        }
    }

    /// See [`SyncStream::set_log`].
    pub(super) fn set_log(&self, log: CallLog) {
        self.hidden.set_log(log);
    }
}

enum NextChunk {
    /// A chunk, and the stream's usage if it ended the stream.
    Chunk(
        Box<ChatChunk>,
        Arc<StreamHidden>,
        Option<Box<(Usage, bool)>>,
    ),
    /// The stream ended now, with this usage (estimated?).
    Ended(Option<Box<(Usage, bool)>>, Arc<StreamHidden>),
    /// The stream had already ended.
    End,
    Failed(LlmError, Arc<StreamHidden>),
}

impl<'py> IntoPyObject<'py> for NextChunk {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        match self {
            NextChunk::Chunk(c, hidden, usage) => {
                let obj = hidden.chunk(py, &c)?;
                if usage.is_some() {
                    hidden.cost(py, usage.as_deref())?;
                }
                Ok(obj)
            }
            NextChunk::Ended(usage, hidden) => {
                hidden.finish(py, usage.as_deref())?;
                Err(PyStopAsyncIteration::new_err(()))
            }
            NextChunk::End => Err(PyStopAsyncIteration::new_err(())),
            NextChunk::Failed(e, hidden) => Err(hidden.failed(py, e)),
        }
    }
}

/// An awaitable that is already done with `value`.
fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(
        py,
        ReadyChunk {
            value: Mutex::new(Some(value)),
        },
    )?
    .into_any())
}

/// An awaitable that is already done: handed out for chunks that are already buffered.
#[pyclass(module = "llmswitch._llmswitch")]
pub struct ReadyChunk {
    value: Mutex<Option<Py<PyAny>>>,
}

#[pymethods]
impl ReadyChunk {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self) -> PyResult<()> {
        let value = self.value.lock().ok().and_then(|mut v| v.take());
        Err(PyStopIteration::new_err((value,)))
    }
}

#[pymethods]
impl AsyncStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Fast path: a chunk is already here and nobody else is reading.
        if let Ok(mut guard) = self.stream.try_lock() {
            match guard.as_mut() {
                None => return Err(PyStopAsyncIteration::new_err(())),
                Some(stream) => {
                    if let Some(chunk) = stream.next_buffered() {
                        let value = self.hidden.chunk_of(py, &chunk, stream)?.unbind();
                        return ready(py, value);
                    }
                }
            }
        }
        let stream = self.stream.clone();
        let hidden = self.hidden.clone();
        spawn_on_shared(py, async move {
            let mut guard = stream.lock().await;
            let Some(s) = guard.as_mut() else {
                return Ok(NextChunk::End);
            };
            Ok(match s.next().await {
                Some(Ok(chunk)) => {
                    let usage = s.ended().then(|| s.final_usage()).flatten();
                    NextChunk::Chunk(Box::new(chunk), hidden, usage.map(Box::new))
                }
                Some(Err(e)) => {
                    *guard = None;
                    NextChunk::Failed(e, hidden)
                }
                None => {
                    let usage = s.final_usage().map(Box::new);
                    *guard = None;
                    NextChunk::Ended(usage, hidden)
                }
            })
        })
    }

    /// Close the stream and its connection.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Nobody is reading: drop it here (its connection task on the shared runtime sees
        // the body go and closes the socket). Else after the pending read.
        if let Ok(mut guard) = self.stream.try_lock() {
            if let Some(mut stream) = guard.take() {
                self.hidden.closing(py, &mut stream)?;
            }
            return ready(py, py.None());
        }
        let stream = self.stream.clone();
        spawn_on_shared(py, async move {
            *stream.lock().await = None;
            Ok(())
        })
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        ready(py, slf.into_any().unbind())
    }

    /// `async with ... as stream:` closes the stream and its connection on exit.
    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.aclose(py)
    }

    /// Provider, model, api_base and response headers of this stream, and
    /// ``response_cost`` once it has ended.
    #[getter]
    fn _hidden_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.hidden.dict(py)
    }
}
