//! Runtimes, HTTP clients and the GIL.
//!
//! - Async calls and async streams run on one shared multi-thread tokio runtime (the one
//!   pyo3-async-runtimes drives), with one HTTP client bound to it.
//! - Blocking calls and blocking streams run on a current-thread runtime made for the
//!   calling thread, with its own client: the caller's thread drives the I/O itself, which
//!   saves the cross-thread wake-ups of `block_on` on the shared runtime (25-55 µs a call,
//!   and most of a stream's per-chunk cost, measured).
//!
//! Every blocking wait releases the GIL and polls for signals, so Ctrl-C interrupts it.

use std::future::Future;
use std::sync::{Arc, OnceLock};
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

/// A current-thread runtime with its own HTTP client, made for one Python thread.
///
/// Blocking calls run here on the calling thread, which drives the I/O itself. A blocking
/// stream keeps an `Arc` of the runtime that opened it: its connection lives on this
/// runtime, and any thread may drive it (tokio's current-thread `block_on` can be entered
/// from any thread, one at a time), so a stream still works when iterated from another
/// thread, as `starlette.iterate_in_threadpool` does.
pub struct LocalRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    pub client: HttpClient,
}

impl LocalRuntime {
    fn build() -> Result<Self, LlmError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                LlmError::new(
                    ErrorKind::Api,
                    format!("Could not start the I/O runtime: {e}"),
                )
            })?;
        Ok(LocalRuntime {
            runtime: Some(runtime),
            client: HttpClient::new()?,
        })
    }

    /// Run `fut` to completion with the GIL released, returning early if a signal handler
    /// raises. Dropping the future on interrupt cancels the request.
    pub fn block_on<Fut, T>(&self, py: Python<'_>, fut: Fut) -> Result<T, Interrupted>
    where
        Fut: Future<Output = Result<T, LlmError>> + Send,
        T: Send,
    {
        py.detach(|| {
            let Some(runtime) = &self.runtime else {
                return Err(Interrupted::Failed(inside_runtime_error()));
            };
            if tokio::runtime::Handle::try_current().is_ok() {
                return Err(Interrupted::Failed(inside_runtime_error()));
            }
            runtime.block_on(async {
                tokio::select! {
                    biased;
                    r = fut => r.map_err(Interrupted::Failed),
                    e = wait_for_signal() => Err(Interrupted::Signal(e)),
                }
            })
        })
    }
}

impl LocalRuntime {
    /// Drop `value` (a stream) on this runtime and let its tasks run once, so that a
    /// connection it owned is closed now rather than the next time a call drives this
    /// runtime. Releases the GIL while it waits for the runtime.
    pub fn drop_in<T: Send>(&self, py: Python<'_>, value: T) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(value);
            return;
        }
        py.detach(|| {
            runtime.block_on(async move {
                drop(value);
                // Two turns: one for the connection task to see its body gone, one for it
                // to shut the socket down.
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
            });
        });
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        // The last owner may be a stream collected on any thread, even one inside another
        // runtime, where a blocking shutdown would panic; nothing here needs waiting for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

thread_local! {
    static THREAD_RUNTIME: Result<Arc<LocalRuntime>, LlmError> = LocalRuntime::build().map(Arc::new);
}

/// This thread's runtime.
pub fn thread_runtime() -> Result<Arc<LocalRuntime>, LlmError> {
    THREAD_RUNTIME.with(|rt| rt.clone())
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
    Fut: Future<Output = Result<T, LlmError>> + Send,
    T: Send,
{
    let rt = thread_runtime()?;
    let fut = make(rt.client.clone());
    rt.block_on(py, fut)
}

fn inside_runtime_error() -> LlmError {
    LlmError::new(
        ErrorKind::Api,
        "A blocking llmswitch call was made from inside a tokio runtime thread; use the async API (acompletion) there",
    )
}
