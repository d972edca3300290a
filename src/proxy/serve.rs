//! Binding and running the gateway, with graceful shutdown: on the signal, stop accepting,
//! answer 503 on the health probes, let in-flight requests and streams finish within the
//! grace period (then end the streams still open), and flush the spend log.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::serve::{Listener, ListenerExt};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::{app, AppState};

/// How long streams cut at the end of the grace period get to close and be recorded.
const CLOSE_AFTER_GRACE: Duration = Duration::from_secs(2);

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

/// Serve `state` on `listener` until `shutdown` completes, then shut down gracefully.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ShutdownReport> {
    // Without TCP_NODELAY each small SSE frame waits for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<Instant>();
    let on_signal = {
        let state = state.clone();
        async move {
            shutdown.await;
            state.begin_shutdown();
            let _ = signalled_tx.send(Instant::now());
        }
    };
    let grace = state.settings.shutdown_grace;
    let mut server = Box::pin(serve_connections(
        listener,
        app(state.clone()),
        state.settings.header_read_timeout,
        on_signal,
    ));
    let (signalled_at, drained) = tokio::select! {
        r = &mut server => {
            // The server only ends by itself on the signal (or an accept error).
            r?;
            (Instant::now(), true)
        }
        at = signalled_rx => {
            let at = at.unwrap_or_else(|_| Instant::now());
            let drained = tokio::time::timeout(grace, &mut server).await.is_ok();
            if !drained {
                // End the streams still open; their records are written as cancelled.
                state.stop_streams();
                let _ = tokio::time::timeout(CLOSE_AFTER_GRACE, &mut server).await;
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

/// Accept connections and serve `app` on each (HTTP/1) until `signal` resolves; then stop
/// accepting, let each connection finish its request in progress (closing idle ones at
/// once), and resolve when every connection has closed.
///
/// What `axum::serve` does, plus a header-read timeout: a client that does not send a
/// request's headers within `header_read_timeout` (a slowloris client, or an idle
/// keep-alive connection) is disconnected, so such clients cannot hold tasks and buffers
/// without bound.
async fn serve_connections<L>(
    mut listener: L,
    app: axum::Router,
    header_read_timeout: Duration,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let service = TowerToHyperService::new(app);
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        tokio::select! {
            (io, _addr) = listener.accept() => {
                let conn = http.serve_connection(TokioIo::new(io), service.clone());
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // A connection error (reset, timeout, bad request line) ends only it.
                    let _ = conn.await;
                });
            }
            () = &mut signal => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::sync::oneshot::Receiver<std::io::Result<ShutdownReport>>>,
}

impl RunningServer {
    /// Bind and spawn on the current runtime.
    pub async fn start(host: &str, port: u16, state: AppState) -> std::io::Result<Self> {
        let listener = bind(host, port).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let r = run(listener, state, async {
                let _ = stop_rx.await;
            })
            .await;
            let _ = done_tx.send(r);
        });
        Ok(RunningServer {
            addr,
            stop: Some(stop_tx),
            done: Some(done_rx),
        })
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
