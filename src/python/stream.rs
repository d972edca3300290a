//! Python iterators over a [`ChunkStream`]: `SyncStream` (`for chunk in ...`) and
//! `AsyncStream` (`async for chunk in ...`). Chunks already received are handed out
//! without touching the runtime; only an empty buffer waits, with the GIL released.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{chunk_to_py, hidden_params};
use super::exceptions::to_pyerr_in;
use super::runtime::block_on_shared;
use crate::call::ResponseMeta;
use crate::error::LlmError;
use crate::stream::ChunkStream;
use crate::types::ChatChunk;

/// A blocking iterator of ``ModelResponseStream`` chunks, returned by
/// ``completion(..., stream=True)``. Leaving the loop early (or calling :meth:`close`)
/// closes the connection.
#[pyclass(module = "llmswitch._llmswitch")]
pub struct SyncStream {
    // A Mutex only to make the pyclass `Sync`; `&mut self` access never contends.
    stream: Mutex<Option<ChunkStream>>,
    meta: ResponseMeta,
}

impl SyncStream {
    pub fn new(stream: ChunkStream, meta: ResponseMeta) -> Self {
        SyncStream {
            stream: Mutex::new(Some(stream)),
            meta,
        }
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
            return chunk_to_py(py, &chunk);
        }
        let next = block_on_shared(py, async { Ok::<_, LlmError>(stream.next().await) })?;
        match next {
            Some(Ok(chunk)) => chunk_to_py(py, &chunk),
            Some(Err(e)) => {
                *slot = None;
                Err(to_pyerr_in(py, e))
            }
            None => {
                *slot = None;
                Err(PyStopIteration::new_err(()))
            }
        }
    }

    /// Close the stream and its connection. Further iteration stops.
    fn close(&mut self) -> PyResult<()> {
        *self.stream.get_mut().map_err(|_| poisoned())? = None;
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    /// Provider, model, api_base and response headers of this stream.
    #[getter]
    fn _hidden_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        hidden_params(py, &self.meta)
    }
}

fn poisoned() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("stream state is poisoned by an earlier panic")
}

/// An async iterator of ``ModelResponseStream`` chunks, returned by
/// ``await acompletion(..., stream=True)``.
#[pyclass(module = "llmswitch._llmswitch")]
pub struct AsyncStream {
    stream: Arc<tokio::sync::Mutex<Option<ChunkStream>>>,
    meta: ResponseMeta,
}

impl AsyncStream {
    pub fn new(stream: ChunkStream, meta: ResponseMeta) -> Self {
        AsyncStream {
            stream: Arc::new(tokio::sync::Mutex::new(Some(stream))),
            meta,
        }
    }
}

enum NextChunk {
    Chunk(Box<ChatChunk>),
    End,
    Failed(LlmError),
}

impl<'py> IntoPyObject<'py> for NextChunk {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        match self {
            NextChunk::Chunk(c) => chunk_to_py(py, &c),
            NextChunk::End => Err(PyStopAsyncIteration::new_err(())),
            NextChunk::Failed(e) => Err(to_pyerr_in(py, e)),
        }
    }
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
                        let value = chunk_to_py(py, &chunk)?.unbind();
                        return Ok(Bound::new(
                            py,
                            ReadyChunk {
                                value: Mutex::new(Some(value)),
                            },
                        )?
                        .into_any());
                    }
                }
            }
        }
        let stream = self.stream.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = stream.lock().await;
            let Some(s) = guard.as_mut() else {
                return Ok(NextChunk::End);
            };
            Ok(match s.next().await {
                Some(Ok(chunk)) => NextChunk::Chunk(Box::new(chunk)),
                Some(Err(e)) => {
                    *guard = None;
                    NextChunk::Failed(e)
                }
                None => {
                    *guard = None;
                    NextChunk::End
                }
            })
        })
    }

    /// Close the stream and its connection.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            *stream.lock().await = None;
            Ok(())
        })
    }

    /// Provider, model, api_base and response headers of this stream.
    #[getter]
    fn _hidden_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        hidden_params(py, &self.meta)
    }
}
