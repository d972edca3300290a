//! `llmswitch.proxy`: the gateway, run from Python (`serve`, blocking; `start`, in the
//! background). The server is the core's ([`crate::proxy`]); this only converts the config
//! argument and waits with the GIL released.

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::runtime::shared_runtime;
use super::values::from_py;
use crate::proxy::config::ProxyConfig;
use crate::proxy::serve::{self, RunningServer};
use crate::proxy::{self as gateway, AppState};

/// How often a blocking `serve` checks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The config: a path (str or os.PathLike) to a YAML file, or a dict of the same content.
fn load_config(config: &Bound<'_, PyAny>) -> PyResult<ProxyConfig> {
    let loaded = if config.is_instance_of::<PyDict>() {
        let value: serde_json::Value =
            from_py(config, "config").map_err(|e| PyValueError::new_err(e.message.clone()))?;
        ProxyConfig::from_value(value, "<config>")
    } else {
        let path: std::path::PathBuf = config.extract()?;
        ProxyConfig::from_file(&path)
    };
    loaded.map_err(|e| PyValueError::new_err(e.to_string()))
}

fn build(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    warn: Option<&Bound<'_, PyAny>>,
) -> PyResult<AppState> {
    let config = load_config(config)?;
    if let (Some(warn), Some(message)) = (warn, config.ignored_warning(gateway::STATE_SETTINGS)) {
        warn.call1((message,))?;
    }
    py.detach(|| shared_runtime().block_on(gateway::build(&config)))
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

fn bind_error(host: &str, port: u16, e: &std::io::Error) -> PyErr {
    PyOSError::new_err(format!("could not listen on {host}:{port}: {e}"))
}

/// Run the gateway until Ctrl-C or SIGTERM, then shut down gracefully (finish in-flight
/// requests within the grace period, flush the spend log) and return.
#[pyfunction]
#[pyo3(signature = (config, host="127.0.0.1", port=4000, on_warning=None, on_ready=None))]
pub fn _proxy_serve(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    host: &str,
    port: u16,
    on_warning: Option<&Bound<'_, PyAny>>,
    on_ready: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let state = build(py, config, on_warning)?;
    // This process is the gateway: its spend log is the state plane's, so the library's
    // in-memory ledger (a ring of up to 100,000 records, ~40 MB) would only grow the RSS
    // and add a locked push per request.
    crate::spend::ledger().set_recording(false);
    let runtime = shared_runtime();
    let listener = py
        .detach(|| runtime.block_on(serve::bind(host, port)))
        .map_err(|e| bind_error(host, port, &e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| bind_error(host, port, &e))?;
    // SIGTERM's handler is installed now, before anything can answer a client.
    let terminate = {
        let _entered = runtime.enter();
        serve::shutdown_signal_terminate()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut stop_tx = Some(stop_tx);
    // `on_ready` runs before the server accepts: a client that got an answer (a readiness
    // probe) may send the signal at once, and the Ctrl-C's KeyboardInterrupt would then cut
    // the callback short (no "listening on" line). Connections made meanwhile wait in the
    // listen backlog. A signal that arrives while the callback runs (Ctrl-C's
    // KeyboardInterrupt) is a stop like any other: shut down gracefully and return. The
    // callback's own failure also stops the server gracefully (the spend log flushed),
    // then is raised.
    let mut ready_error = None;
    if let Some(ready) = on_ready {
        if let Err(e) = ready.call1((format!("http://{addr}"),)) {
            if let Some(tx) = stop_tx.take() {
                let _ = tx.send(());
            }
            if !e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                ready_error = Some(e);
            }
        }
    }
    let (done_tx, done_rx) = mpsc::channel();
    runtime.spawn(async move {
        let shutdown = async {
            tokio::select! {
                _ = stop_rx => {}
                () = terminate => {}
            }
        };
        let _ = done_tx.send(serve::run(listener, state, shutdown).await);
    });
    let result = py.detach(move || loop {
        match done_rx.recv_timeout(SIGNAL_POLL) {
            Ok(result) => break Some(result),
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Ctrl-C (KeyboardInterrupt) or another signal handler's exception: shut
                // down gracefully, then return.
                if Python::attach(|py| py.check_signals().is_err()) {
                    if let Some(tx) = stop_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        }
    });
    if let Some(e) = ready_error {
        return Err(e);
    }
    match result {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(PyRuntimeError::new_err(format!("the gateway failed: {e}"))),
        None => Err(PyRuntimeError::new_err("the gateway stopped unexpectedly")),
    }
}

/// A gateway running in the background (from :func:`llmswitch.proxy.start`).
#[pyclass(module = "llmswitch._llmswitch")]
pub struct ProxyServer {
    inner: Mutex<Option<RunningServer>>,
    url: String,
}

#[pymethods]
impl ProxyServer {
    /// ``http://<host>:<port>``.
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|s| s.addr.port()))
            .unwrap_or(0)
    }

    /// Shut down gracefully: stop accepting, finish in-flight requests within the grace
    /// period, flush the spend log. Returns whether every request finished in time.
    fn stop(&self, py: Python<'_>) -> PyResult<bool> {
        let server = self.inner.lock().ok().and_then(|mut g| g.take());
        let Some(server) = server else {
            return Ok(true);
        };
        let report = py
            .detach(|| shared_runtime().block_on(server.stop()))
            .map_err(|e| PyRuntimeError::new_err(format!("the gateway failed: {e}")))?;
        Ok(report.drained)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<llmswitch proxy at {}>", self.url)
    }
}

/// Start the gateway in the background and return its handle.
#[pyfunction]
#[pyo3(signature = (config, host="127.0.0.1", port=0, on_warning=None))]
pub fn _proxy_start(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    host: &str,
    port: u16,
    on_warning: Option<&Bound<'_, PyAny>>,
) -> PyResult<ProxyServer> {
    let state = build(py, config, on_warning)?;
    let server = py
        .detach(|| {
            shared_runtime().block_on(async { RunningServer::start(host, port, state).await })
        })
        .map_err(|e| bind_error(host, port, &e))?;
    let url = server.url();
    Ok(ProxyServer {
        inner: Mutex::new(Some(server)),
        url,
    })
}
