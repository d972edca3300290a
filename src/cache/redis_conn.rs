//! [`RedisConn`]: the Redis connection of state shared through Redis (the gateway's key,
//! team and end-user limits, the router's deployment counters), with one connection of its
//! own per serving thread for what a request waits on.
//!
//! The `redis` crate's connections are driven by a task on the runtime where they first
//! connect. A gateway serves each connection on one of several threads, each with its own
//! current-thread runtime (`proxy::serve`); a round trip over a connection driven by another
//! runtime (the state plane's) wakes that runtime's thread to write the command and to read
//! the answer, and then wakes the serving thread again: three or four context switches per
//! round trip. On a thread marked with [`ServingThread`] (for as long as the guard lives),
//! [`RedisConn::here`] gives that thread's own connection instead, made lazily the first
//! time on this thread and driven by this thread's runtime, so the round trip is a write
//! and a read on the thread that waits for it. Elsewhere (background syncs, heartbeats, the
//! Python `Router`, which runs on the shared runtime) it is the shared connection.
//!
//! Every connection talks to the same Redis with the same settings (timeouts, retries), so
//! what is counted is shared exactly as before; callers keep their outage handling (one
//! [`super::outage::Outage`] per owner, whichever connection failed).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::config::RedisConfig;

/// A connection of this thread: whose it is (alive while its [`RedisConn`] is), and itself.
type Own = (Weak<()>, ConnectionManager);

thread_local! {
    /// `Some` on a serving thread: its own connections, one per [`RedisConn`] used here.
    static OWN: RefCell<Option<Vec<Own>>> = const { RefCell::new(None) };
    /// Writes spawned on this serving thread's runtime that have not ended.
    static WRITES: Cell<usize> = const { Cell::new(0) };
}

/// Counts a write spawned on a serving thread until it ends (or is dropped, with its
/// runtime); it lives in the task, which runs on the thread that spawned it.
struct Pending;

impl Pending {
    fn new() -> Pending {
        WRITES.with(|w| w.set(w.get() + 1));
        Pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = WRITES.try_with(|w| w.set(w.get().saturating_sub(1)));
    }
}

/// Marks this thread as a serving thread (its runtime serves requests and lives as long as
/// this guard) until dropped; dropping it drops the thread's own connections. Before the
/// runtime ends, await [`ServingThread::drain`] (writes spawned there, such as the
/// settlement of the last requests, would be dropped with it), then drop this, then the
/// runtime: what is dropped with the runtime's tasks (leases given back) then goes through
/// the shared connections.
pub struct ServingThread {
    /// Bound to the thread (the marker is thread-local).
    _thread: std::marker::PhantomData<*const ()>,
}

impl ServingThread {
    /// Mark the current thread; call it inside (or just before) the thread's runtime.
    pub fn enter() -> ServingThread {
        OWN.with(|own| *own.borrow_mut() = Some(Vec::new()));
        WRITES.with(|w| w.set(0));
        ServingThread {
            _thread: std::marker::PhantomData,
        }
    }

    /// Wait (at most `wait`) until the writes spawned on this thread have ended; call it
    /// on this thread's runtime.
    pub async fn drain(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while WRITES.with(Cell::get) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl Drop for ServingThread {
    fn drop(&mut self) {
        let own = OWN.with(|own| own.borrow_mut().take());
        drop(own);
    }
}

/// Whether the current thread is a serving thread inside a runtime.
fn serving() -> bool {
    OWN.with(|own| own.borrow().is_some()) && tokio::runtime::Handle::try_current().is_ok()
}

/// A Redis connection shared by the threads of a process, plus one per serving thread. See
/// the module's documentation.
pub struct RedisConn {
    shared: ConnectionManager,
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Identifies this connection's per-thread copies; they are dropped (on the next new one
    /// of that thread, or with the thread) once this is.
    alive: Arc<()>,
    /// Per-thread connections made so far.
    made: AtomicU64,
}

impl RedisConn {
    /// Connect lazily (a Redis that is down now does not fail this; a malformed URL does),
    /// waiting at most `response_timeout` for an answer and the config's `connect_timeout`
    /// (1 s unless set) for a connection. The shared connection is made on `runtime`.
    pub fn new(
        config: &RedisConfig,
        response_timeout: Duration,
        runtime: &tokio::runtime::Handle,
    ) -> Result<RedisConn, String> {
        let shown = super::redis_shown(config);
        let client = super::redis_client(config).map_err(|e| {
            format!(
                "Redis at {shown}: {}",
                crate::redact::mask_key_shapes(&e.to_string())
            )
        })?;
        let manager_config = super::redis_manager_config(config, response_timeout);
        let shared = {
            let _entered = runtime.enter();
            ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())
                .map_err(|e| format!("Redis at {shown}: {e}"))?
        };
        Ok(RedisConn {
            shared,
            client,
            config: manager_config,
            alive: Arc::new(()),
            made: AtomicU64::new(0),
        })
    }

    /// The shared connection (background work, and callers on other threads).
    pub fn shared(&self) -> ConnectionManager {
        self.shared.clone()
    }

    /// The connection for a round trip the current task waits on: on a serving thread its
    /// own (made now the first time), elsewhere the shared one.
    pub fn here(&self) -> ConnectionManager {
        if !serving() {
            return self.shared.clone();
        }
        OWN.with(|own| {
            let mut own = own.borrow_mut();
            let Some(own) = own.as_mut() else {
                return self.shared.clone();
            };
            let me = Arc::downgrade(&self.alive);
            if let Some((_, conn)) = own.iter().find(|(owner, _)| owner.ptr_eq(&me)) {
                return conn.clone();
            }
            match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            {
                Ok(conn) => {
                    // The connections of owners that are gone go first.
                    own.retain(|(owner, _)| owner.strong_count() > 0);
                    own.push((me, conn.clone()));
                    self.made.fetch_add(1, Ordering::Relaxed);
                    conn
                }
                Err(_) => self.shared.clone(),
            }
        })
    }

    /// Run `write` (a write nothing waits for) with [`RedisConn::here`]'s connection: on
    /// this serving thread's runtime, else on `runtime` with the shared connection.
    pub fn spawn<F>(
        &self,
        runtime: &tokio::runtime::Handle,
        write: impl FnOnce(ConnectionManager) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        if serving() {
            let pending = Pending::new();
            let write = write(self.here());
            tokio::spawn(async move {
                let _pending = pending;
                write.await;
            });
        } else {
            runtime.spawn(write(self.shared()));
        }
    }

    /// Serving-thread connections made so far (one per serving thread that used this).
    pub fn own_connections(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }
}

/// How long a serving thread that ends waits for its writes to Redis: longer than a
/// settlement's own bound (4 × the 250 ms response timeout).
pub const DRAIN: Duration = Duration::from_secs(2);

/// Run `work` as a gateway's serving thread runs a request: on a thread of its own, in a
/// current-thread runtime, marked as a [`ServingThread`]. Once `work` is done the mark is
/// dropped before the runtime (tasks still on it end with it, as in `proxy::serve`).
#[cfg(test)]
pub(crate) async fn on_serving_thread<F, Fut, T>(work: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let serving = ServingThread::enter();
        let out = runtime.block_on(async {
            let out = work().await;
            serving.drain(DRAIN).await;
            out
        });
        drop(serving);
        drop(runtime);
        out
    })
    .await
    .expect("the serving thread panicked")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RedisConfig {
        RedisConfig {
            host: Some("127.0.0.1".into()),
            port: Some(1),
            ..RedisConfig::default()
        }
    }

    #[tokio::test]
    async fn only_a_serving_thread_gets_connections_of_its_own() {
        let conn = RedisConn::new(
            &config(),
            Duration::from_millis(50),
            &tokio::runtime::Handle::current(),
        )
        .unwrap();
        let _ = conn.here();
        assert_eq!(conn.own_connections(), 0, "not a serving thread");
        let conn = Arc::new(conn);
        let on_thread = |conn: Arc<RedisConn>| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let serving = ServingThread::enter();
                rt.block_on(async {
                    let _ = conn.here();
                    let _ = conn.here();
                });
                drop(serving);
                // Not a serving thread any more: the shared connection.
                rt.block_on(async {
                    let _ = conn.here();
                });
            })
            .join()
            .unwrap();
        };
        on_thread(conn.clone());
        assert_eq!(conn.own_connections(), 1, "one per serving thread, reused");
        on_thread(conn.clone());
        assert_eq!(conn.own_connections(), 2);
    }
}
