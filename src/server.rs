//! Listeners, connections and shutdown.
//!
//! The gateway listens where a CI job expects `docker.sock` (and optionally on TCP),
//! serves HTTP/1.1 with upgrades on every connection, and hands each request to
//! [`handle`]. Connections are accepted here and served on the worker threads of
//! [`crate::workers`]. On SIGINT or SIGTERM it stops accepting, removes its socket files so
//! nobody connects to a dead gateway, lets in-flight requests finish within the grace
//! period, and then exits.

use std::convert::Infallible;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};

use crate::access_log::RequestLog;
use crate::build::{self, BuildLimits};
use crate::config::{Address, Config};
use crate::context;
use crate::error::{ApiError, Body};
use crate::passthrough::{self, ConnCache};
use crate::query::Policy;
use crate::route::{self, Route};
use crate::tar::reader as tar_reader;
use crate::upstream::Upstream;
use crate::workers::Workers;

/// The most hyper may buffer per client connection; see [`serve_connection`].
const READ_BUF_MAX: usize = 1 << 20;

/// Shared, read-only state of a running gateway.
pub struct Gateway {
    pub config: Config,
    pub upstream: Upstream,
    /// What every build's query is held to.
    pub policy: Policy,
    pub build_limits: BuildLimits,
    /// Permits for concurrent builds, when `--max-builds` is set.
    pub builds: Option<Arc<tokio::sync::Semaphore>>,
    /// Permits for decoder threads, one per CPU (at least two): enough to decode on
    /// every core, and a bound on the threads that clients who stall mid-upload can
    /// hold (a decoder thread waits on its client). Builds that find every permit
    /// taken decode on their worker instead, slower but never waiting.
    pub decoders: Arc<tokio::sync::Semaphore>,
}

impl Gateway {
    pub fn new(config: Config) -> Arc<Self> {
        let upstream = Upstream::new(
            config.upstream.clone(),
            config.connect_timeout,
            config.response_timeout,
        );
        let policy = Policy {
            owner_key: config.owner.key.clone(),
            owner: config.owner.value.clone(),
            cgroup_parent: config.cgroup_parent.clone(),
            allow_host_network: config.allow_host_network,
        };
        let build_limits = BuildLimits {
            tar: tar_reader::Limits {
                max_pax_bytes: config.max_pax_size,
                max_path_len: config.max_path_length,
            },
            walk: context::Limits {
                max_dockerfile: usize::try_from(config.max_dockerfile_size).unwrap_or(usize::MAX),
                max_entries: config.max_context_entries,
                ..context::Limits::default()
            },
            max_context_size: config.max_context_size,
        };
        let builds = (config.max_builds > 0)
            .then(|| Arc::new(tokio::sync::Semaphore::new(config.max_builds)));
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Self {
            config,
            upstream,
            policy,
            build_limits,
            builds,
            decoders: Arc::new(tokio::sync::Semaphore::new(cpus.max(2))),
        })
    }
}

/// A bound listener, and the socket file to remove at shutdown.
pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

/// Binds every configured address, or fails without leaving any socket file behind.
pub fn bind_all(config: &Config) -> Result<Vec<Listener>, String> {
    let mut bound = Vec::new();
    for address in &config.listen {
        let listener = match address {
            Address::Unix(path) => {
                bind_unix(path, config.socket_mode, config.socket_group.as_deref())
            }
            Address::Tcp(hostport) => bind_tcp(hostport),
        };
        match listener {
            Ok(listener) => bound.push(listener),
            Err(err) => {
                remove_socket_files(&bound);
                return Err(format!("cannot listen on {address}: {err}"));
            }
        }
    }
    Ok(bound)
}

fn bind_tcp(hostport: &str) -> Result<Listener, String> {
    let listener = std::net::TcpListener::bind(hostport).map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    TcpListener::from_std(listener)
        .map(Listener::Tcp)
        .map_err(|e| e.to_string())
}

/// Binds a unix socket. A socket file left by a gateway that died is replaced; one that
/// something still answers on is not, because taking over a live socket would silently
/// cut a running job off its daemon.
fn bind_unix(path: &Path, mode: u32, group: Option<&str>) -> Result<Listener, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(format!(
                        "{} is in use: another process is listening on it; stop it or choose another --listen path",
                        path.display()
                    ));
                }
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "replacing stale socket file");
                    std::fs::remove_file(path)
                        .map_err(|e| format!("cannot remove stale socket: {e}"))?;
                }
                Err(err) => return Err(format!("cannot check existing socket: {err}")),
            }
        }
        Ok(_) => {
            return Err(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.to_string()),
    }
    // Create the socket with the final permission bits already in place, so there is no
    // moment in which it is more open than the operator asked for.
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
    let previous = unsafe { libc::umask((!mode & 0o777) as libc::mode_t) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(previous) };
    let listener = bound.map_err(|e| e.to_string())?;
    let cleanup = |msg: String| {
        let _ = std::fs::remove_file(path);
        msg
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| cleanup(format!("cannot set socket mode: {e}")))?;
    if let Some(group) = group {
        let gid = lookup_group(group).map_err(&cleanup)?;
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| cleanup(format!("cannot set socket group {group}: {e}")))?;
    }
    Ok(Listener::Unix(listener, path.to_path_buf()))
}

fn lookup_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    let name = std::ffi::CString::new(group).map_err(|_| format!("bad group name {group:?}"))?;
    // SAFETY: getgrnam reads a NUL-terminated string and returns a pointer into static
    // storage (or NULL); we copy the gid out immediately, before any other call.
    let entry = unsafe { libc::getgrnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(format!("no group named {group:?}"));
    }
    // SAFETY: non-null pointer returned by getgrnam, see above.
    Ok(unsafe { (*entry).gr_gid })
}

fn remove_socket_files(listeners: &[Listener]) {
    for listener in listeners {
        if let Listener::Unix(_, path) = listener
            && let Err(err) = std::fs::remove_file(path)
        {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove socket file");
        }
    }
}

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
        match listener {
            Listener::Unix(listener, path) => {
                socket_paths.push(path);
                accept_tasks.push(tokio::spawn(async move {
                    accept_loop(stop_rx, alive_tx, gateway, &workers, || async {
                        let (stream, _) = listener.accept().await?;
                        stream.into_std().map(Accepted::Unix)
                    })
                    .await
                }));
            }
            Listener::Tcp(listener) => {
                accept_tasks.push(tokio::spawn(async move {
                    accept_loop(stop_rx, alive_tx, gateway, &workers, || async {
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

    let result = shutdown.await;
    tracing::info!("shutting down: no new connections, waiting for in-flight requests");
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

/// An accepted connection on its way to a worker. It travels as a std socket, detached
/// from the accepting thread's I/O driver, and is adopted by the worker's, so that its
/// readiness events wake the worker directly.
enum Accepted {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Accepted {
    async fn serve(self, gateway: Arc<Gateway>, stop_rx: watch::Receiver<bool>) {
        let adopted = match self {
            Accepted::Unix(stream) => tokio::net::UnixStream::from_std(stream)
                .map(|stream| Box::pin(serve_connection(stream, gateway, stop_rx)) as _),
            Accepted::Tcp(stream) => tokio::net::TcpStream::from_std(stream)
                .map(|stream| Box::pin(serve_connection(stream, gateway, stop_rx)) as _),
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
        let stop_rx = stop_rx.clone();
        let alive_tx = alive_tx.clone();
        workers.spawn(move || async move {
            stream.serve(gateway, stop_rx).await;
            drop(alive_tx);
        });
    }
}

async fn serve_connection<S>(stream: S, gateway: Arc<Gateway>, mut stop_rx: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_read_timeout = gateway.config.header_read_timeout;
    let cache = Arc::new(ConnCache::default());
    let service = service_fn(move |req| handle(req, gateway.clone(), cache.clone()));
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
        .serve_connection(TokioIo::new(stream), service)
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

/// Handles one request.
pub async fn handle(
    req: Request<Incoming>,
    gateway: Arc<Gateway>,
    cache: Arc<ConnCache>,
) -> Result<Response<Body>, Infallible> {
    let log = RequestLog::new(req.method(), req.uri().path());
    let route = route::classify(req.method(), req.uri()).map(|route| {
        // BuildKit speaks gRPC over an h2c upgrade on any path it likes.
        if asks_for_h2c(req.headers()) {
            Route::BuildKit
        } else {
            route
        }
    });
    let response = match route {
        Err(err) => ApiError::with_code(err.status, err.message).into_response(),
        Ok(Route::BuildKit) => refuse_buildkit(req).await,
        Ok(Route::Ping) => {
            let mut response =
                passthrough::forward(req, &gateway.upstream, &cache, log.clone()).await;
            // Clients that pick their builder from the daemon's answer (docker CLI 23+,
            // buildx's default) must choose the classic builder through the gateway.
            response
                .headers_mut()
                .insert("builder-version", HeaderValue::from_static("1"));
            response
        }
        Ok(Route::Build) => build::handle(req, &gateway, log.clone()).await,
        Ok(Route::Other) => passthrough::forward(req, &gateway.upstream, &cache, log.clone()).await,
    };
    if response.status().is_client_error() || response.status().is_server_error() {
        tracing::debug!(status = %response.status(), "error response");
    }
    log.set_status(response.status());
    Ok(response)
}

/// BuildKit runs its own gRPC protocol over an `h2c` upgrade (`/session`, `/grpc`); the
/// gateway cannot see or label what it builds, so every such request is refused.
fn asks_for_h2c(headers: &http::HeaderMap) -> bool {
    passthrough::wants_upgrade(headers)
        && passthrough::header_tokens(headers, http::header::UPGRADE)
            .any(|p| p.to_ascii_lowercase().starts_with("h2c"))
}

/// Refuses a BuildKit request. Nothing of it ever reaches the daemon.
///
/// `/session` with an `h2c` upgrade gets special treatment for the sake of the message
/// the user reads. The 20.10 CLI with `DOCKER_BUILDKIT=1` opens a session and sends
/// `/build?version=2` side by side, and it prints whichever fails first; but it only
/// lets the build fail after the session dial has returned. Refusing the session
/// therefore always shows "unable to upgrade to h2c, received 400" and hides the
/// build's refusal, which says to set `DOCKER_BUILDKIT=0`. So the session upgrade is
/// accepted and the upgraded connection closed at once, without a byte: the client's
/// session ends quietly, and the build's refusal is the error it prints. No BuildKit
/// traffic can flow, since nothing of it is ever connected to the daemon.
async fn refuse_buildkit(mut req: Request<Incoming>) -> Response<Body> {
    let is_session = req.uri().path().ends_with("/session") && asks_for_h2c(req.headers());
    if !is_session {
        return buildkit_refused().into_response();
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        // Closed as soon as it is open: the client's session then ends without an
        // error of its own, and the build's refusal is what it prints.
        drop(upgrade.await);
    });
    tracing::info!("BuildKit session closed unconnected; its build request is refused");
    let mut response = Response::new(crate::error::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response.headers_mut().insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    response
        .headers_mut()
        .insert(http::header::UPGRADE, HeaderValue::from_static("h2c"));
    response
}

fn buildkit_refused() -> ApiError {
    ApiError::bad_request(
        "BuildKit is not available through this gateway, because it cannot label what BuildKit builds; use the classic builder: set DOCKER_BUILDKIT=0 (and do not use buildx)",
    )
}
