//! Runtimes, HTTP clients and the GIL.
//!
//! - Async calls and all streams run on one shared multi-thread tokio runtime (the one
//!   pyo3-async-runtimes drives), with one HTTP client bound to it.
//! - Blocking calls run on a current-thread runtime owned by the calling thread, with its
//!   own client: the caller's thread drives the I/O itself, which saves the cross-thread
//!   wake-ups of `block_on` on the shared runtime (25-55 µs a call, measured).
//!
//! Every blocking wait releases the GIL and polls for signals, so Ctrl-C interrupts it.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;

use crate::error::{ErrorKind, LlmError};
use crate::http::HttpClient;

/// How often a blocking wait checks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The shared multi-thread runtime.
pub fn shared_runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// The HTTP client bound to the shared runtime.
pub fn shared_client() -> Result<&'static HttpClient, LlmError> {
    static CLIENT: OnceLock<Result<HttpClient, LlmError>> = OnceLock::new();
    CLIENT
        .get_or_init(HttpClient::new)
        .as_ref()
        .map_err(Clone::clone)
}

struct ThreadRuntime {
    runtime: tokio::runtime::Runtime,
    client: HttpClient,
}

thread_local! {
    static THREAD_RUNTIME: Result<ThreadRuntime, LlmError> = build_thread_runtime();
}

fn build_thread_runtime() -> Result<ThreadRuntime, LlmError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            LlmError::new(
                ErrorKind::Api,
                format!("Could not start the I/O runtime: {e}"),
            )
        })?;
    Ok(ThreadRuntime {
        runtime,
        client: HttpClient::new()?,
    })
}

/// Why a blocking wait ended early.
pub enum Interrupted {
    /// A Python signal handler raised (KeyboardInterrupt).
    Signal(PyErr),
    /// The call itself failed.
    Failed(LlmError),
}

impl From<LlmError> for Interrupted {
    fn from(e: LlmError) -> Self {
        Interrupted::Failed(e)
    }
}

impl From<Interrupted> for PyErr {
    fn from(i: Interrupted) -> PyErr {
        match i {
            Interrupted::Signal(e) => e,
            Interrupted::Failed(e) => super::exceptions::to_pyerr(e),
        }
    }
}

async fn wait_for_signal() -> PyErr {
    loop {
        tokio::time::sleep(SIGNAL_POLL).await;
        if let Some(Err(e)) = Python::try_attach(|py| py.check_signals()) {
            return e;
        }
    }
}

/// Run `make(client)` to completion on this thread's runtime with the GIL released,
/// returning early if a signal handler raises. Dropping the future on interrupt cancels
/// the request.
pub fn block_on_thread<F, Fut, T>(py: Python<'_>, make: F) -> Result<T, Interrupted>
where
    F: FnOnce(HttpClient) -> Fut + Send,
    Fut: Future<Output = Result<T, LlmError>>,
    T: Send,
{
    py.detach(|| {
        THREAD_RUNTIME.with(|rt| {
            let rt = rt.as_ref().map_err(|e| Interrupted::Failed(e.clone()))?;
            if tokio::runtime::Handle::try_current().is_ok() {
                return Err(Interrupted::Failed(inside_runtime_error()));
            }
            let fut = make(rt.client.clone());
            rt.runtime.block_on(async {
                tokio::select! {
                    biased;
                    r = fut => r.map_err(Interrupted::Failed),
                    e = wait_for_signal() => Err(Interrupted::Signal(e)),
                }
            })
        })
    })
}

/// Run `fut` on the shared runtime from a blocking caller (used for streams, whose
/// connections live on the shared runtime), with the GIL released and Ctrl-C honoured.
pub fn block_on_shared<Fut, T>(py: Python<'_>, fut: Fut) -> Result<T, Interrupted>
where
    Fut: Future<Output = Result<T, LlmError>> + Send,
    T: Send,
{
    py.detach(|| {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Interrupted::Failed(inside_runtime_error()));
        }
        shared_runtime().block_on(async {
            tokio::select! {
                biased;
                r = fut => r.map_err(Interrupted::Failed),
                e = wait_for_signal() => Err(Interrupted::Signal(e)),
            }
        })
    })
}

fn inside_runtime_error() -> LlmError {
    LlmError::new(
        ErrorKind::Api,
        "A blocking llmswitch call was made from inside a tokio runtime thread; use the async API (acompletion) there",
    )
}
