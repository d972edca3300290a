//! Binding and running the gateway, with graceful shutdown: on the signal, stop accepting,
//! answer 503 on the health probes, let in-flight requests and streams finish within the
//! grace period (then end the streams still open), and flush the spend log.
//!
//! Requests are served thread-per-core: [`serving_threads`] threads, each running its own
//! current-thread tokio runtime with its own upstream HTTP client (its own connection
//! pool), share the [`AppState`]. One acceptor (a task on the caller's runtime) hands each
//! new connection to the serving thread with the fewest open connections; from then on
//! the connection, its requests, their upstream calls and the upstream connections stay
//! on that thread, so a request costs no cross-thread wake-ups (the multi-thread runtime
//! moved a request and its upstream response between workers, parking and waking them).
//! So do its round trips to Redis: each serving thread is a
//! [`crate::cache::redis_conn::ServingThread`], with Redis connections of its own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::{app, AppState};

/// How long streams cut at the end of the grace period get to close and be recorded.
const CLOSE_AFTER_GRACE: Duration = Duration::from_secs(2);

/// The environment variable that sets [`serving_threads`].
pub const THREADS_ENV: &str = "LLMSWITCH_GATEWAY_THREADS";

/// How many threads serve requests: `LLMSWITCH_GATEWAY_THREADS` if set (at least 1), else
/// one per core the process may use.
pub fn serving_threads() -> usize {
    std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Bind `host:port` (port 0 picks a free one).
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((host, port)).await
}

/// How a graceful shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every request finished within the grace period.
    pub drained: bool,
    /// Time from the signal to the end of the spend flush.
    pub took: Duration,
}

/// Connections per serving thread: open now (the acceptor's choice) and served in all.
#[derive(Debug, Default)]
struct ThreadLoad {
    open: AtomicUsize,
    served: AtomicU64,
}

/// The serving threads' connection counts.
#[derive(Debug, Clone, Default)]
pub struct ServeStats {
    threads: Arc<[ThreadLoad]>,
}

impl ServeStats {
    fn new(threads: usize) -> Self {
        ServeStats {
            threads: (0..threads).map(|_| ThreadLoad::default()).collect(),
        }
    }

    /// Connections each serving thread has been given so far.
    pub fn connections_per_thread(&self) -> Vec<u64> {
        self.threads
            .iter()
            .map(|t| t.served.load(Ordering::Relaxed))
            .collect()
    }

    /// The thread with the fewest open connections (the first of equals).
    fn least_loaded(&self) -> usize {
        self.threads
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| t.open.load(Ordering::Relaxed))
            .map_or(0, |(i, _)| i)
    }
}

/// Where the serving threads are: serving, or told to drop what is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    Abort,
}

/// Serve `state` on `listener` with [`serving_threads`] threads until `shutdown`
/// completes, then shut down gracefully.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ShutdownReport> {
    run_on(
        listener,
        state,
        ServeStats::new(serving_threads()),
        shutdown,
    )
    .await
}

/// [`run`] with one serving thread per entry of `stats`.
async fn run_on(
    listener: TcpListener,
    state: AppState,
    stats: ServeStats,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ShutdownReport> {
    let (phase_tx, _) = watch::channel(Phase::Serving);
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<std::io::Result<()>>();
    let mut handoff = Vec::with_capacity(stats.threads.len());
    for index in 0..stats.threads.len() {
        let (tx, rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        // The first thread takes the state's own client (no connection is open yet);
        // the others get one each.
        let thread_state = if index == 0 {
            state.clone()
        } else {
            state.with_own_client().map_err(std::io::Error::other)?
        };
        let exit = ExitGuard(Some(exit_tx.clone()));
        let phase = phase_tx.subscribe();
        let stats = stats.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("llmswitch-gateway-{index}"))
            .spawn(move || {
                let mut exit = exit;
                exit.send(serve_thread(thread_state, rx, phase, stats, index));
            });
        if let Err(e) = spawned {
            phase_tx.send_replace(Phase::Abort);
            return Err(e);
        }
        handoff.push(tx);
    }
    drop(exit_tx);
    let threads = handoff.len();

    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<Instant>();
    let on_signal = {
        let state = state.clone();
        async move {
            shutdown.await;
            state.begin_shutdown();
            let _ = signalled_tx.send(Instant::now());
        }
    };
    let acceptor = AbortOnDrop(tokio::spawn(accept(listener, handoff, stats, on_signal)));
    // Resolves when every serving thread has ended (they end once the acceptor has
    // stopped and their connections have closed), or at the first that failed.
    let exited = async move {
        let mut left = threads;
        while left > 0 {
            match exit_rx.recv().await {
                Some(Ok(())) => left -= 1,
                Some(Err(e)) => return Err(e),
                None => return Err(std::io::Error::other("a gateway thread ended early")),
            }
        }
        Ok(())
    };
    let mut exited = std::pin::pin!(exited);
    let grace = state.settings.shutdown_grace;
    let (signalled_at, drained) = tokio::select! {
        r = &mut exited => {
            // The threads only end by themselves on the signal, or when one failed.
            acceptor.0.abort();
            phase_tx.send_replace(Phase::Abort);
            r?;
            (Instant::now(), true)
        }
        at = signalled_rx => {
            let at = at.unwrap_or_else(|_| Instant::now());
            let drained = tokio::time::timeout(grace, &mut exited).await.is_ok();
            if !drained {
                // End the streams still open; their records are written as cancelled.
                state.stop_streams();
                if tokio::time::timeout(CLOSE_AFTER_GRACE, &mut exited).await.is_err() {
                    // Drop what is left (its records are written as it drops).
                    phase_tx.send_replace(Phase::Abort);
                    let _ = tokio::time::timeout(CLOSE_AFTER_GRACE, &mut exited).await;
                }
            }
            (at, drained)
        }
    };
    let left = grace
        .saturating_sub(signalled_at.elapsed())
        .max(CLOSE_AFTER_GRACE);
    state.hooks.spend.flush(left).await;
    Ok(ShutdownReport {
        drained,
        took: signalled_at.elapsed(),
    })
}

/// Stops the acceptor (and closes the listener) if the server's future is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reports a serving thread's end, also when it panicked.
struct ExitGuard(Option<mpsc::UnboundedSender<std::io::Result<()>>>);

impl ExitGuard {
    fn send(&mut self, result: std::io::Result<()>) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(result);
        }
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.send(Err(std::io::Error::other("a gateway thread panicked")));
    }
}

/// Accept connections and hand each to the serving thread with the fewest open ones, until
/// `signal` resolves; then close the listener and the hand-off channels (the serving
/// threads then drain and end).
async fn accept(
    listener: TcpListener,
    handoff: Vec<mpsc::UnboundedSender<std::net::TcpStream>>,
    stats: ServeStats,
    signal: impl Future<Output = ()> + Send + 'static,
) {
    let mut signal = std::pin::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _addr)) => stream,
                    Err(e) => {
                        // Out of file descriptors, or a connection reset before it was
                        // accepted: as axum's listener, wait a moment and go on.
                        if !is_connection_error(&e) {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        continue;
                    }
                };
                // Without TCP_NODELAY each small SSE frame waits for the client's delayed ACK.
                let _ = stream.set_nodelay(true);
                // Taken off this runtime: the serving thread registers it with its own.
                let Ok(stream) = stream.into_std() else {
                    continue;
                };
                let index = stats.least_loaded();
                let load = &stats.threads[index];
                load.open.fetch_add(1, Ordering::Relaxed);
                load.served.fetch_add(1, Ordering::Relaxed);
                if handoff[index].send(stream).is_err() {
                    load.open.fetch_sub(1, Ordering::Relaxed);
                }
            }
            () = &mut signal => break,
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// One serving thread: a current-thread runtime serving the connections handed to it until
/// the hand-off channel closes, then letting each finish its request in progress (closing
/// idle ones at once). On [`Phase::Abort`] it stops at once and drops what is still open.
fn serve_thread(
    state: AppState,
    connections: mpsc::UnboundedReceiver<std::net::TcpStream>,
    mut phase: watch::Receiver<Phase>,
    stats: ServeStats,
    index: usize,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let header_read_timeout = state.settings.header_read_timeout;
    // Round trips to Redis that a request waits on (shared limits, deployment counters) go
    // through this thread's own connections, driven by this runtime.
    let own_redis = crate::cache::redis_conn::ServingThread::enter();
    let redis = &own_redis;
    runtime.block_on(async move {
        // Ends also if the coordinator is gone (its runtime shut down).
        let abort = async move {
            let _ = phase.wait_for(|p| *p == Phase::Abort).await;
        };
        tokio::select! {
            () = serve_connections(connections, app(state), header_read_timeout, &stats, index) => {}
            () = abort => {}
        }
        // The last requests' settlements with Redis, written by this thread's connections.
        redis.drain(crate::cache::redis_conn::DRAIN).await;
    });
    // Before the runtime: what its tasks give back as they drop goes through the shared
    // Redis connections (this thread's are driven by this runtime).
    drop(own_redis);
    // Dropping the runtime drops the connections still open: streams cut here write their
    // records as cancelled.
    drop(runtime);
    Ok(())
}

/// Serve `app` (HTTP/1) on each connection received until the channel closes; then let
/// each connection finish its request in progress (closing idle ones at once), and return
/// when every connection has closed.
///
/// What `axum::serve` does, plus a header-read timeout: a client that does not send a
/// request's headers within `header_read_timeout` (a slowloris client, or an idle
/// keep-alive connection) is disconnected, so such clients cannot hold tasks and buffers
/// without bound.
async fn serve_connections(
    mut connections: mpsc::UnboundedReceiver<std::net::TcpStream>,
    app: axum::Router,
    header_read_timeout: Duration,
    stats: &ServeStats,
    index: usize,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let service = TowerToHyperService::new(app);
    let graceful = GracefulShutdown::new();
    while let Some(stream) = connections.recv().await {
        let closed = ConnectionClosed {
            stats: stats.clone(),
            index,
        };
        // Registered with this thread's runtime from here on.
        let Ok(io) = TcpStream::from_std(stream) else {
            continue;
        };
        let conn = http.serve_connection(TokioIo::new(io), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A connection error (reset, timeout, bad request line) ends only it.
            let _ = conn.await;
            drop(closed);
        });
    }
    graceful.shutdown().await;
}

/// Counts a connection as closed (for the acceptor's choice of thread) when dropped.
struct ConnectionClosed {
    stats: ServeStats,
    index: usize,
}

impl Drop for ConnectionClosed {
    fn drop(&mut self) {
        self.stats.threads[self.index]
            .open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves on SIGTERM only (where something else, such as Python, handles SIGINT).
///
/// The handler is installed when this is called (inside a tokio runtime), not when the
/// future is first polled: the server may answer a client before it polls its shutdown
/// future, and a SIGTERM that client sends at once must not find the default action (the
/// process killed) still in place.
pub fn shutdown_signal_terminate() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        match term {
            Some(mut term) => {
                term.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    }
}

/// A gateway running on a tokio runtime, stopped by [`RunningServer::stop`] (or when dropped).
pub struct RunningServer {
    pub addr: SocketAddr,
    stats: ServeStats,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::sync::oneshot::Receiver<std::io::Result<ShutdownReport>>>,
}

impl RunningServer {
    /// Bind, and serve with [`serving_threads`] threads; the acceptor and the shutdown run
    /// on the current runtime.
    pub async fn start(host: &str, port: u16, state: AppState) -> std::io::Result<Self> {
        Self::start_with_threads(host, port, state, serving_threads()).await
    }

    /// [`RunningServer::start`] with `threads` serving threads (at least 1).
    pub async fn start_with_threads(
        host: &str,
        port: u16,
        state: AppState,
        threads: usize,
    ) -> std::io::Result<Self> {
        let listener = bind(host, port).await?;
        let addr = listener.local_addr()?;
        let stats = ServeStats::new(threads.max(1));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let serving = stats.clone();
        tokio::spawn(async move {
            let r = run_on(listener, state, serving, async {
                let _ = stop_rx.await;
            })
            .await;
            let _ = done_tx.send(r);
        });
        Ok(RunningServer {
            addr,
            stats,
            stop: Some(stop_tx),
            done: Some(done_rx),
        })
    }

    /// Connections each serving thread has been given so far.
    pub fn connections_per_thread(&self) -> Vec<u64> {
        self.stats.connections_per_thread()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Signal a graceful shutdown (returns at once).
    pub fn signal_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Shut down gracefully and wait until done.
    pub async fn stop(mut self) -> std::io::Result<ShutdownReport> {
        self.signal_stop();
        match self.done.take() {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("the gateway task ended early"))),
            None => Err(std::io::Error::other("the gateway was already stopped")),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.signal_stop();
    }
}
