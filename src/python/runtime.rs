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

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The process that started the shared runtime: its worker threads exist only there.
static SHARED_RUNTIME_PID: OnceLock<u32> = OnceLock::new();

/// The HTTP client bound to the shared runtime.
pub fn shared_client() -> Result<&'static HttpClient, LlmError> {
    static CLIENT: OnceLock<Result<HttpClient, LlmError>> = OnceLock::new();
    CLIENT
        .get_or_init(HttpClient::new)
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(unix)]
pub use super::aio::CancelHandle;

/// Cancels a call in flight (no such handle off Unix: pyo3-async-runtimes cancels).
#[cfg(not(unix))]
pub struct CancelHandle;

#[cfg(not(unix))]
impl CancelHandle {
    pub fn cancel(self) {}
}

/// Run `fut` on the shared runtime, as an asyncio future of the running loop that cancels
/// `fut` when it is cancelled. In a process forked after the shared runtime started, its
/// worker threads are gone and the future would never run: that raises a clear error.
pub fn spawn_on_shared<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    check_not_forked(py)?;
    #[cfg(unix)]
    return super::aio::spawn_cancellable(py, shared_runtime(), fut);
    #[cfg(not(unix))]
    pyo3_async_runtimes::tokio::future_into_py(py, fut)
}

/// As [`spawn_on_shared`], for a `Coroutine`: the returned handle cancels `fut` (the
/// coroutine uses it when its task is cancelled), so the future needs no done-callback.
pub fn spawn_for_coroutine<'py, F, T>(
    py: Python<'py>,
    fut: F,
) -> PyResult<(Bound<'py, PyAny>, Option<CancelHandle>)>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    check_not_forked(py)?;
    #[cfg(unix)]
    return super::aio::spawn(py, shared_runtime(), fut);
    #[cfg(not(unix))]
    pyo3_async_runtimes::tokio::future_into_py(py, fut).map(|f| (f, None))
}

fn check_not_forked(py: Python<'_>) -> PyResult<()> {
    let started_in = *SHARED_RUNTIME_PID.get_or_init(std::process::id);
    if started_in != std::process::id() {
        return Err(super::exceptions::to_pyerr_in(
            py,
            LlmError::new(
                ErrorKind::ApiConnection,
                "llmswitch's async runtime was started before this process was forked, and its threads do not exist in the child. Use the async API in the parent only, or start workers with multiprocessing's \"spawn\" or \"forkserver\" method (blocking calls work after fork)",
            ),
        ));
    }
    Ok(())
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
    signals: Arc<SignalWatch>,
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
        let signals = Arc::new(SignalWatch::default());
        // One long-lived poller per runtime instead of a timer per blocking wait: it only
        // runs while some call drives the runtime, every SIGNAL_POLL.
        let watch = signals.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(SIGNAL_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Some(Err(e)) = Python::try_attach(|py| py.check_signals()) {
                    if let Ok(mut slot) = watch.raised.lock() {
                        *slot = Some(e);
                    }
                    watch.notify.notify_waiters();
                }
            }
        });
        Ok(LocalRuntime {
            runtime: Some(runtime),
            client: HttpClient::new()?,
            signals,
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
                let signals = &self.signals;
                let raised = signals.notify.notified();
                tokio::pin!(raised);
                // Register before checking, so a signal caught in between still wakes us.
                raised.as_mut().enable();
                if let Some(e) = signals.take() {
                    return Err(Interrupted::Signal(e));
                }
                tokio::select! {
                    biased;
                    r = fut => r.map_err(Interrupted::Failed),
                    () = raised => Err(signals.take().map_or_else(
                        || Interrupted::Failed(LlmError::new(ErrorKind::Api, "interrupted")),
                        Interrupted::Signal,
                    )),
                }
            })
        })
    }
}

/// Where the per-runtime signal poller leaves a raised KeyboardInterrupt (or other signal
/// handler exception) for the blocking wait it interrupts.
#[derive(Default)]
struct SignalWatch {
    raised: std::sync::Mutex<Option<PyErr>>,
    notify: tokio::sync::Notify,
}

impl SignalWatch {
    fn take(&self) -> Option<PyErr> {
        self.raised.lock().ok().and_then(|mut slot| slot.take())
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

/// Bumped in a child after `fork()` (via `os.register_at_fork`): runtimes made before it
/// share their epoll instance and sockets with the parent and must not be used.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Called in the child after `fork()`.
pub fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

thread_local! {
    static THREAD_RUNTIME: RefCell<Option<(u64, Arc<LocalRuntime>)>> = const { RefCell::new(None) };
}

/// This thread's runtime (a fresh one in a forked child).
pub fn thread_runtime() -> Result<Arc<LocalRuntime>, LlmError> {
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    THREAD_RUNTIME.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some((made_in, rt)) = slot.as_ref() {
            if *made_in == generation {
                return Ok(rt.clone());
            }
        }
        if let Some((_, inherited)) = slot.take() {
            // Inherited from the parent: dropping it could write to sockets the parent
            // still uses (TLS close_notify), so it is leaked.
            std::mem::forget(inherited);
        }
        let rt = Arc::new(LocalRuntime::build()?);
        *slot = Some((generation, rt.clone()));
        Ok(rt)
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
            Interrupted::Failed(e) => PyErr::from(e),
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

/// Mark every runtime made so far as inherited (called in a child after ``os.fork()``;
/// registered by the package with ``os.register_at_fork``). Not for direct use.
#[pyfunction]
pub fn _after_fork_in_child() {
    after_fork_in_child();
}
