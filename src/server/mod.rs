//! Listeners, connections and shutdown.
//!
//! The gateway listens where a CI job expects `docker.sock` (and optionally on TCP),
//! serves HTTP/1.1 with upgrades on every connection, and hands each request to
//! `dispatch` with the connection's owner. That owner is `--owner`, or with
//! `--owner-from-peer` the one [`crate::identity`] finds for a unix connection's peer:
//! its credentials are read right at `accept` (while the peer most likely still runs),
//! the rest of the look-up runs on the connection's worker before its first request
//! is read, once for the connection's whole life. Connections are accepted here and served on the worker threads of
//! [`workers`]. On SIGINT or SIGTERM it stops accepting, removes its socket files so
//! nobody connects to a dead gateway, lets in-flight requests finish within the grace
//! period, and then exits.

mod dispatch;
pub mod listen;
pub mod workers;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, watch};

use self::listen::{Listener, bind_all};
use self::workers::Workers;
use crate::config::Config;
use crate::gateway::Gateway;
use crate::http::passthrough::ConnCache;
use crate::identity::{self, Identity, peer::Peer};

/// The most hyper may buffer per client connection; see [`serve_connection`].
const READ_BUF_MAX: usize = 1 << 20;

/// How long a finished connection keeps taking what the client still sends; see
/// [`Lingering`]. Go's server waits as long (`rstAvoidanceDelay`).
const LINGER: Duration = Duration::from_millis(500);

/// Serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> Result<(), String> {
    let listeners = bind_all(&config)?;
    let gateway = Gateway::new(config);
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), String>(())
    };
    serve(listeners, gateway, shutdown).await
}

/// Serves `listeners` until `shutdown` completes. Separate from [`run`] so tests and
/// embedders can stop the gateway without signals.
pub async fn serve(
    listeners: Vec<Listener>,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = Result<(), String>>,
) -> Result<(), String> {
    for listener in &listeners {
        match listener {
            Listener::Unix(_, path) => {
                tracing::info!(listen = %format!("unix://{}", path.display()), upstream = %gateway.upstream.address(), "listening")
            }
            Listener::Tcp(l) => {
                tracing::info!(listen = %format!("tcp://{}", l.local_addr().map(|a| a.to_string()).unwrap_or_default()), upstream = %gateway.upstream.address(), "listening")
            }
        }
    }
    let workers = Arc::new(
        Workers::start(gateway.config.threads)
            .map_err(|e| format!("cannot start the worker threads: {e}"))?,
    );
    tracing::debug!(threads = workers.len(), "workers started");
    // The owner of every connection that has no peer to ask.
    let fixed = Identity::fixed(&gateway.config);
    let from_peer = gateway.config.owner_from_peer.is_some();
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a clone; when all are gone, `recv` returns None.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);

    let mut socket_paths = Vec::new();
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let gateway = gateway.clone();
        let stop_rx = stop_rx.clone();
        let alive_tx = alive_tx.clone();
        let workers = workers.clone();
        let fixed = fixed.clone();
        match listener {
            Listener::Unix(listener, path) => {
                socket_paths.push(path);
                accept_tasks.push(tokio::spawn(async move {
                    accept_loop(stop_rx, alive_tx, gateway, fixed, &workers, || async {
                        let (stream, _) = listener.accept().await?;
                        let peer = from_peer.then(|| Peer::of(&stream));
                        stream.into_std().map(|s| Accepted::Unix(s, peer))
                    })
                    .await
                }));
            }
            Listener::Tcp(listener) => {
                accept_tasks.push(tokio::spawn(async move {
                    accept_loop(stop_rx, alive_tx, gateway, fixed, &workers, || async {
                        let (stream, _) = listener.accept().await?;
                        stream.set_nodelay(true)?;
                        stream.into_std().map(Accepted::Tcp)
                    })
                    .await
                }));
            }
        }
    }
    drop(alive_tx);
    // Under systemd (`Type=notify`) the unit counts as started only now, when every
    // socket exists and is accepted on; without NOTIFY_SOCKET this does nothing.
    notify_systemd(sd_notify::NotifyState::Ready);

    let result = shutdown.await;
    tracing::info!("shutting down: no new connections, waiting for in-flight requests");
    notify_systemd(sd_notify::NotifyState::Stopping);
    let _ = stop_tx.send(true);
    for task in accept_tasks {
        let _ = task.await;
    }
    for path in &socket_paths {
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove socket file");
        }
    }
    let grace = gateway.config.shutdown_grace;
    if tokio::time::timeout(grace, alive_rx.recv()).await.is_err() {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; cutting remaining requests"
        );
    }
    result
}

fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(err) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}

/// An accepted connection on its way to a worker. It travels as a std socket, detached
/// from the accepting thread's I/O driver, and is adopted by the worker's, so that its
/// readiness events wake the worker directly.
enum Accepted {
    /// With `--owner-from-peer`, the peer as read at accept.
    Unix(
        std::os::unix::net::UnixStream,
        Option<Result<Peer, identity::peer::PeerError>>,
    ),
    Tcp(std::net::TcpStream),
}

impl Accepted {
    async fn serve(self, gateway: Arc<Gateway>, fixed: Identity, stop_rx: watch::Receiver<bool>) {
        let adopted = match self {
            Accepted::Unix(stream, peer) => {
                let (identity, cache) = match peer {
                    Some(peer) => {
                        let resolved =
                            identity::resolve(peer, &gateway.config, &gateway.upstream).await;
                        (resolved.identity, ConnCache::with(resolved.sender))
                    }
                    None => (fixed, ConnCache::default()),
                };
                tokio::net::UnixStream::from_std(stream).map(|stream| {
                    Box::pin(serve_connection(stream, gateway, identity, cache, stop_rx)) as _
                })
            }
            Accepted::Tcp(stream) => tokio::net::TcpStream::from_std(stream).map(|stream| {
                Box::pin(serve_connection(
                    stream,
                    gateway,
                    fixed,
                    ConnCache::default(),
                    stop_rx,
                )) as _
            }),
        };
        let connection: Pin<Box<dyn Future<Output = ()> + Send>> = match adopted {
            Ok(connection) => connection,
            Err(err) => {
                tracing::warn!(error = %err, "cannot adopt an accepted connection");
                return;
            }
        };
        connection.await;
    }
}

async fn accept_loop<F, Fut>(
    mut stop_rx: watch::Receiver<bool>,
    alive_tx: mpsc::Sender<()>,
    gateway: Arc<Gateway>,
    fixed: Identity,
    workers: &Workers,
    accept: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = std::io::Result<Accepted>>,
{
    loop {
        let stream = tokio::select! {
            _ = stop_rx.changed() => return,
            accepted = accept() => match accepted {
                Ok(stream) => stream,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let gateway = gateway.clone();
        let fixed = fixed.clone();
        let stop_rx = stop_rx.clone();
        let alive_tx = alive_tx.clone();
        workers.spawn(move || async move {
            stream.serve(gateway, fixed, stop_rx).await;
            drop(alive_tx);
        });
    }
}

async fn serve_connection<S>(
    stream: S,
    gateway: Arc<Gateway>,
    identity: Identity,
    cache: ConnCache,
    mut stop_rx: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_read_timeout = gateway.config.header_read_timeout;
    let cache = Arc::new(cache);
    let service = service_fn(move |req| {
        dispatch::handle(req, gateway.clone(), identity.clone(), cache.clone())
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // Build contexts arrive in gigabytes: let hyper's adaptive read buffer grow to
        // 1 MiB, so a context comes in fewer, larger chunks (fewer reads, fewer
        // wake-ups per byte downstream). It is per connection, and only grows while
        // reads keep filling it.
        .max_buf_size(READ_BUF_MAX);
    let conn = builder
        .serve_connection(TokioIo::new(Lingering(Some(stream))), service)
        .with_upgrades();
    tokio::pin!(conn);
    let stopping = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "client connection ended with an error");
    }
}

/// A client connection that is not just closed when the gateway is done with it.
///
/// The gateway may answer before it has read a request's body: a refusal does not wait
/// for the upload. Closing the socket then, while the client is still writing that
/// body, makes the client's write fail ("broken pipe", or a reset over TCP) before it
/// reads the answer, and the docker CLI reports that instead of the refusal (it writes
/// a request's head and body separately). dockerd's Go server reads such a body before
/// it answers; the gateway answers first and then, when the connection is dropped,
/// ends its side of the stream and reads and drops whatever the client still sends
/// until the client closes or [`LINGER`] passes.
struct Lingering<S>(Option<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static;

impl<S> Lingering<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn inner(&mut self) -> Pin<&mut S> {
        Pin::new(
            self.0
                .as_mut()
                .expect("a connection is used only until it is dropped"),
        )
    }
}

impl<S> AsyncRead for Lingering<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.inner().poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for Lingering<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.inner().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.inner().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner().poll_shutdown(cx)
    }
}

impl<S> Drop for Lingering<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn drop(&mut self) {
        let Some(mut stream) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER, async {
                let _ = stream.shutdown().await;
                let mut scratch = vec![0u8; 16 * 1024];
                while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {}
            })
            .await;
        });
    }
}
