//! Resolving asyncio futures from the shared tokio runtime, in batches.
//!
//! pyo3-async-runtimes resolves each future from the tokio thread that finished it: it
//! takes the GIL there (while the event loop's thread wants it too), converts the result,
//! and calls `loop.call_soon_threadsafe`, which writes to the loop's self-pipe. With 64
//! calls in flight that is 64 GIL hand-overs and 64 wake-ups a batch, and most of the CPU
//! an async call costs (measured: ~130 µs a call on the tokio threads).
//!
//! Here a finished call never touches Python on the tokio thread: it pushes its result
//! onto its loop's queue and, only if the queue was empty, writes one byte to a socket the
//! loop watches (`loop.add_reader`). The loop's thread then converts and resolves every
//! finished call in one go, already holding the GIL. Loops without `add_reader` (Windows'
//! proactor loop) and platforms without Unix sockets use pyo3-async-runtimes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyWeakrefReference;
use pyo3::IntoPyObjectExt;

/// Builds the call's Python result on the loop's thread.
type Resolve = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>> + Send>;

/// What the tokio side of one loop shares with its Python side.
struct Shared {
    /// Finished calls waiting for the loop: (key, result).
    finished: Mutex<Vec<(u64, Resolve)>>,
    /// The write end of the wake-up socket.
    wake: UnixStream,
    /// The asyncio futures of calls in flight, by key.
    pending: Mutex<HashMap<u64, Py<PyAny>>>,
    next_key: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Shared {
    /// A call finished: queue its result and wake the loop if it may be asleep.
    fn finish(&self, key: u64, resolve: Resolve) {
        let was_empty = {
            let mut q = lock(&self.finished);
            q.push((key, resolve));
            q.len() == 1
        };
        if was_empty {
            // A full socket buffer means a wake-up is already pending.
            let _ = (&self.wake).write(&[1]);
        }
    }
}

/// Cancels a call in flight: aborts its task (closing its connection) and forgets its
/// future. Used by `Coroutine` when the awaiting task is cancelled, and by the future's
/// done-callback otherwise.
pub struct CancelHandle {
    abort: tokio::task::AbortHandle,
    key: u64,
    shared: Arc<Shared>,
}

impl CancelHandle {
    pub fn cancel(self) {
        self.abort.abort();
        let fut = lock(&self.shared.pending).remove(&self.key);
        drop(fut);
    }
}

/// One event loop's end: the read side of the wake-up socket, registered with the loop.
#[pyclass(module = "llmswitch._llmswitch", frozen)]
pub struct LoopWaker {
    shared: Arc<Shared>,
    read: UnixStream,
}

#[pymethods]
impl LoopWaker {
    /// Called by the event loop when the wake-up socket is readable: resolve every
    /// finished call's future.
    fn _drain(&self, py: Python<'_>) {
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
        let batch = std::mem::take(&mut *lock(&self.shared.finished));
        for (key, resolve) in batch {
            let Some(fut) = lock(&self.shared.pending).remove(&key) else {
                continue; // cancelled meanwhile
            };
            let fut = fut.bind(py);
            if let Err(e) = resolve_future(py, fut, resolve) {
                e.write_unraisable(py, Some(fut));
            }
        }
    }
}

fn resolve_future(py: Python<'_>, fut: &Bound<'_, PyAny>, resolve: Resolve) -> PyResult<()> {
    use pyo3::intern;
    if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(()); // cancelled by its awaiter
    }
    match resolve(py) {
        Ok(value) => fut.call_method1(intern!(py, "set_result"), (value,))?,
        Err(err) => fut.call_method1(intern!(py, "set_exception"), (err.into_value(py),))?,
    };
    Ok(())
}

/// Aborts the call when its future is cancelled (the future's done-callback).
#[pyclass(module = "llmswitch._llmswitch")]
pub struct CancelOnDone {
    handle: Mutex<Option<CancelHandle>>,
}

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        let cancelled = fut
            .call_method0(pyo3::intern!(fut.py(), "cancelled"))?
            .is_truthy()?;
        if let Some(h) = lock(&self.handle).take() {
            if cancelled {
                h.cancel();
            }
        }
        Ok(())
    }
}

/// A loop that ran on this thread: a weak reference to it, and its waker (`None` for a loop
/// that cannot watch a socket).
type KnownLoop = (Py<PyAny>, Option<Py<LoopWaker>>);

thread_local! {
    static WAKERS: RefCell<Vec<KnownLoop>> = const { RefCell::new(Vec::new()) };
}

/// The waker of `event_loop`, registered with it on first use. `None` when the loop cannot
/// watch a socket (no `add_reader`) or cannot be weakly referenced.
fn waker_for<'py>(event_loop: &Bound<'py, PyAny>) -> Option<Py<LoopWaker>> {
    let py = event_loop.py();
    WAKERS.with(|cell| {
        let mut wakers = cell.borrow_mut();
        // Forget loops that are gone (each `asyncio.run` makes a new one).
        wakers.retain(|(weak, _)| weak.bind(py).call0().is_ok_and(|l| !l.is_none()));
        for (weak, waker) in wakers.iter() {
            if weak.bind(py).call0().is_ok_and(|l| l.is(event_loop)) {
                return waker.as_ref().map(|w| w.clone_ref(py));
            }
        }
        let weak = PyWeakrefReference::new(event_loop).ok()?;
        let waker = new_waker(event_loop).ok();
        wakers.push((
            weak.into_any().unbind(),
            waker.as_ref().map(|w| w.clone_ref(py)),
        ));
        waker
    })
}

fn new_waker(event_loop: &Bound<'_, PyAny>) -> PyResult<Py<LoopWaker>> {
    let py = event_loop.py();
    let (read, wake) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    wake.set_nonblocking(true)?;
    let fd = read.as_raw_fd();
    let waker = Py::new(
        py,
        LoopWaker {
            shared: Arc::new(Shared {
                finished: Mutex::new(Vec::new()),
                wake,
                pending: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(0),
            }),
            read,
        },
    )?;
    let drain = waker.bind(py).getattr(pyo3::intern!(py, "_drain"))?;
    event_loop.call_method1(pyo3::intern!(py, "add_reader"), (fd, drain))?;
    Ok(waker)
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP
        .get_or_try_init(py, || {
            py.import("asyncio")?
                .getattr("get_running_loop")
                .map(Bound::unbind)
        })?
        .bind(py)
        .call0()
}

/// An asyncio future of the running loop, resolved with `fut`'s output (converted to
/// Python on the loop's thread), and the handle that cancels `fut`. `None` for the handle
/// when the loop needs pyo3-async-runtimes' path, which cancels on its own.
pub fn spawn<'py, F, T>(
    py: Python<'py>,
    runtime: &tokio::runtime::Runtime,
    fut: F,
) -> PyResult<(Bound<'py, PyAny>, Option<CancelHandle>)>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = running_loop(py)?;
    let Some(waker) = waker_for(&event_loop) else {
        return pyo3_async_runtimes::tokio::future_into_py(py, fut).map(|f| (f, None));
    };
    let shared = waker.get().shared.clone();
    let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let key = shared.next_key.fetch_add(1, Ordering::Relaxed);
    lock(&shared.pending).insert(key, future.clone().unbind());
    let on_done = shared.clone();
    let task = runtime.spawn(async move {
        let out = fut.await;
        on_done.finish(
            key,
            Box::new(move |py| out.and_then(|v| v.into_bound_py_any(py))),
        );
    });
    let cancel = CancelHandle {
        abort: task.abort_handle(),
        key,
        shared,
    };
    Ok((future, Some(cancel)))
}

/// [`spawn`], with a done-callback on the future that cancels the call when the future is
/// cancelled: for futures handed to Python directly (a stream's `__anext__`).
pub fn spawn_cancellable<'py, F, T>(
    py: Python<'py>,
    runtime: &tokio::runtime::Runtime,
    fut: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let (future, cancel) = spawn(py, runtime, fut)?;
    if let Some(cancel) = cancel {
        let callback = Bound::new(
            py,
            CancelOnDone {
                handle: Mutex::new(Some(cancel)),
            },
        )?;
        future.call_method1(pyo3::intern!(py, "add_done_callback"), (callback,))?;
    }
    Ok(future)
}
