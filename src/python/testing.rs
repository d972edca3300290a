//! `llmswitch.testing.MockServer`: the loopback provider mock, for tests and benchmarks.

use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::convert::to_py;
use super::runtime::shared_runtime;
use super::values::from_py;
use crate::mock_server::{MockServer as CoreMockServer, Scripted, ScriptedBody};

/// A mock LLM provider server on ``127.0.0.1`` that speaks the providers' wire formats.
///
/// With nothing queued it answers each endpoint with a canned success in that provider's
/// format (SSE when the request streams). :meth:`enqueue` scripts the next replies;
/// :attr:`requests` lists what it received. Stops on :meth:`stop` or when collected.
///
/// Args:
///     port: the port to bind (0 picks a free one).
#[pyclass(module = "llmswitch._llmswitch")]
pub struct MockServer {
    inner: std::sync::Mutex<Option<CoreMockServer>>,
    url: String,
}

impl MockServer {
    fn with<T>(&self, f: impl FnOnce(&CoreMockServer) -> T) -> PyResult<T> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("mock server state poisoned"))?;
        guard
            .as_ref()
            .map(f)
            .ok_or_else(|| PyValueError::new_err("the mock server is stopped"))
    }
}

fn secs(s: f64) -> PyResult<Option<Duration>> {
    if s <= 0.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(s)
        .map(Some)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymethods]
impl MockServer {
    #[new]
    #[pyo3(signature = (port=0))]
    fn new(py: Python<'_>, port: u16) -> PyResult<Self> {
        let server = py
            .detach(|| shared_runtime().block_on(CoreMockServer::start(port)))
            .map_err(|e| PyOSError::new_err(format!("could not start the mock server: {e}")))?;
        let url = server.url();
        Ok(MockServer {
            inner: std::sync::Mutex::new(Some(server)),
            url,
        })
    }

    /// ``http://127.0.0.1:<port>``.
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// ``http://127.0.0.1:<port>/v1``: the ``api_base`` for OpenAI-compatible calls.
    #[getter]
    fn base_url(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// Queue the reply to the next request.
    ///
    /// Args:
    ///     status: HTTP status.
    ///     json: a JSON body.
    ///     body: a raw text body.
    ///     headers: response headers.
    ///     sse: SSE frames, each the text of one event (``"data: {...}"``).
    ///     delay: seconds to wait before responding.
    ///     chunk_delay: seconds between SSE frames.
    ///     drop_after: break the connection after this many SSE frames.
    ///     disconnect: close the connection without responding.
    #[pyo3(signature = (status=200, json=None, body=None, headers=None, sse=None, delay=0.0, chunk_delay=0.0, drop_after=None, disconnect=false))]
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        status: u16,
        json: Option<&Bound<'_, PyAny>>,
        body: Option<String>,
        headers: Option<&Bound<'_, PyDict>>,
        sse: Option<Vec<String>>,
        delay: f64,
        chunk_delay: f64,
        drop_after: Option<usize>,
        disconnect: bool,
    ) -> PyResult<()> {
        let body = if disconnect {
            ScriptedBody::Disconnect
        } else if let Some(frames) = sse {
            ScriptedBody::Sse {
                frames,
                chunk_delay: secs(chunk_delay)?,
                drop_after,
            }
        } else if let Some(j) = json {
            ScriptedBody::Json(
                from_py(j, "json").map_err(|e| PyValueError::new_err(e.message.clone()))?,
            )
        } else if let Some(b) = body {
            ScriptedBody::Raw(b)
        } else {
            ScriptedBody::Default
        };
        let headers: Vec<(String, String)> = match headers {
            Some(h) => h
                .iter()
                .map(|(k, v)| Ok((k.extract::<String>()?, v.str()?.to_string())))
                .collect::<PyResult<_>>()?,
            None => Vec::new(),
        };
        let reply = Scripted {
            status,
            headers,
            body,
            delay: secs(delay)?,
        };
        self.with(|s| s.enqueue(reply))
    }

    /// Requests received so far: dicts with ``method``, ``path``, ``query``, ``headers``
    /// (lower-case names) and ``body`` (parsed JSON, or None).
    #[getter]
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let reqs = self.with(|s| s.requests())?;
        let out = PyList::empty(py);
        for r in reqs {
            let d = PyDict::new(py);
            d.set_item("method", r.method)?;
            d.set_item("path", r.path)?;
            d.set_item("query", r.query)?;
            let h = PyDict::new(py);
            for (k, v) in r.headers {
                h.set_item(k, v)?;
            }
            d.set_item("headers", h)?;
            d.set_item("body", to_py(py, &r.body)?)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Number of requests received.
    #[getter]
    fn hits(&self) -> PyResult<u64> {
        self.with(CoreMockServer::hits)
    }

    /// SSE responses still being sent or held open by a client (0 once every stream was
    /// read to the end or its connection closed).
    #[getter]
    fn open_streams(&self) -> PyResult<i64> {
        self.with(CoreMockServer::open_streams)
    }

    /// Forget received requests and queued replies.
    fn reset(&self) -> PyResult<()> {
        self.with(CoreMockServer::reset)
    }

    /// Turn recording of requests on or off (off for long benchmarks).
    fn set_recording(&self, on: bool) -> PyResult<()> {
        self.with(|s| s.set_recording(on))
    }

    /// Stop the server.
    fn stop(&self) -> PyResult<()> {
        if let Ok(mut guard) = self.inner.lock() {
            if let Some(mut s) = guard.take() {
                s.stop();
            }
        }
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.stop()?;
        Ok(false)
    }
}

/// A clock that moves only when told to, for testing cooldowns and per-minute windows of
/// a ``llmswitch.Router`` (``Router(..., clock=ManualClock())``).
#[pyclass(module = "llmswitch._llmswitch", frozen)]
pub struct ManualClock {
    pub(crate) inner: std::sync::Arc<crate::router::ManualClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    fn new() -> Self {
        ManualClock {
            inner: std::sync::Arc::new(crate::router::ManualClock::new()),
        }
    }

    /// Move the clock forward.
    ///
    /// Args:
    ///     seconds: how far (non-negative).
    fn advance(&self, seconds: f64) -> PyResult<()> {
        let by = Duration::try_from_secs_f64(seconds)
            .map_err(|_| PyValueError::new_err("seconds must be a non-negative number"))?;
        self.inner.advance(by);
        Ok(())
    }

    /// The clock's time.
    ///
    /// Returns:
    ///     Seconds advanced since the clock was made.
    #[getter]
    fn now(&self) -> f64 {
        use crate::router::Clock;
        self.inner.now().as_secs_f64()
    }
}
