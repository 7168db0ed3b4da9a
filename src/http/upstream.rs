//! Connections to the Docker daemon.
//!
//! Each upstream connection is a plain HTTP/1.1 client connection with upgrades enabled
//! (attach and exec hijack the connection after a `101`). The gateway never pools
//! connections across clients: a connection belongs to one client connection at a time
//! (see [`Upstream::reuse`]), so nothing one job sends can share a socket with another
//! job's requests.

use std::io;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;

use super::body::{Body, BoxError, boxed};
use super::error::ApiError;
use crate::config::Address;

/// How to reach the daemon.
#[derive(Debug, Clone)]
pub struct Upstream {
    address: Address,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
}

/// A ready-to-use HTTP/1.1 sender on a fresh daemon connection.
pub type Sender = SendRequest<Body>;

impl Upstream {
    pub fn new(
        address: Address,
        connect_timeout: Duration,
        response_timeout: Option<Duration>,
    ) -> Self {
        Self {
            address,
            connect_timeout,
            response_timeout,
        }
    }

    /// Sends `req` on `sender` with this upstream's response timeout; see [`send`].
    pub async fn send(
        &self,
        sender: &mut Sender,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, SendError> {
        send(sender, req, self.response_timeout).await
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The answer when the daemon cannot be reached at all.
    pub fn unreachable(&self, cause: &dyn std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "cannot reach the Docker daemon at {}: {cause}",
                self.address
            ),
        )
    }

    /// The answer when a request was sent but no response came.
    pub fn send_failed(&self, err: &SendError) -> ApiError {
        match err {
            SendError::Timeout(_) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the Docker daemon at {} did not answer: {err}",
                    self.address
                ),
            ),
            SendError::Hyper(err) => self.unreachable(err),
        }
    }

    /// Opens a new connection and performs the HTTP/1.1 handshake. The connection task
    /// is spawned; it ends when the sender is dropped and the last response is done, or
    /// after an upgrade's I/O is released.
    pub async fn connect(&self) -> io::Result<Sender> {
        let (sender, driver) = self.connect_driven().await?;
        tokio::spawn(driver);
        Ok(sender)
    }

    /// Like [`Upstream::connect`], but the connection is driven by whoever polls the
    /// returned [`Driver`] instead of a task of its own. A build polls it from its own
    /// request and response futures, so the bytes of a build go client socket →
    /// pipeline → daemon socket in one task, with no hand-over between worker threads
    /// for each frame. (Profiled: the hand-overs, not the parsing, were most of the
    /// gateway's cost on large contexts.)
    pub async fn connect_driven(&self) -> io::Result<(Sender, Driver)> {
        let connect = async {
            match &self.address {
                Address::Unix(path) => handshake(UnixStream::connect(path).await?).await,
                Address::Tcp(hostport) => {
                    let stream = TcpStream::connect(hostport.as_str()).await?;
                    stream.set_nodelay(true)?;
                    handshake(stream).await
                }
            }
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {}s", self.connect_timeout.as_secs()),
            )),
        }
    }

    /// Returns `cached` if it can take another request, else a fresh connection, and
    /// whether it was the cached one. Used by the passthrough so that a keep-alive client
    /// keeps one daemon connection instead of paying a connect per request.
    pub async fn reuse(&self, cached: Option<Sender>) -> io::Result<(Sender, bool)> {
        if let Some(mut sender) = cached
            && sender.ready().await.is_ok()
        {
            return Ok((sender, true));
        }
        Ok((self.connect().await?, false))
    }
}

/// Why a request got no response.
#[derive(Debug)]
pub enum SendError {
    Hyper(hyper::Error),
    /// The request was sent in full and the daemon said nothing for this long.
    Timeout(Duration),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Hyper(err) => write!(f, "{err}"),
            SendError::Timeout(after) => write!(
                f,
                "no response within {}s of the request being sent (--response-timeout)",
                after.as_secs()
            ),
        }
    }
}

/// Sends `req` and waits for the response head. The clock for `timeout` starts only
/// once the request body has been sent in full, so a slow multi-gigabyte upload is never
/// cut; and it stops at the response head, so streams that have started (`logs -f`,
/// `events`, build output) run for as long as they like.
pub async fn send(
    sender: &mut Sender,
    req: Request<Body>,
    timeout: Option<Duration>,
) -> Result<Response<Incoming>, SendError> {
    let Some(timeout) = timeout else {
        return sender.send_request(req).await.map_err(SendError::Hyper);
    };
    let (parts, body) = req.into_parts();
    let (sent_tx, sent_rx) = oneshot::channel();
    let body = boxed(EndSignal {
        inner: body,
        sent: Some(sent_tx),
    });
    let response = sender.send_request(Request::from_parts(parts, body));
    let silence = async {
        // An aborted body drops the sender: the response future fails on its own then.
        let _ = sent_rx.await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        response = response => response.map_err(SendError::Hyper),
        () = silence => Err(SendError::Timeout(timeout)),
    }
}

/// A body that reports when it has been read to its end.
struct EndSignal {
    inner: Body,
    sent: Option<oneshot::Sender<()>>,
}

impl http_body::Body for EndSignal {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled
            && let Some(sent) = self.sent.take()
        {
            let _ = sent.send(());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// What keeps one upstream connection going: reads the daemon's responses, writes the
/// request bodies. Ends when the connection does; errors are logged, because the request
/// or response they broke reports them to its own caller.
///
/// The future sits in a `Mutex` only so that bodies holding it may be `Sync` as hyper's
/// boxed bodies must be; it is only ever reached through `&mut`, so never locked.
pub struct Driver(Mutex<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Driver {
    /// Polls the connection: `Ready` once it has closed.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.get_mut() {
            Ok(connection) => connection.as_mut().poll(cx),
            Err(poisoned) => poisoned.into_inner().as_mut().poll(cx),
        }
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Driver::poll(self.get_mut(), cx)
    }
}

async fn handshake<S>(stream: S) -> io::Result<(Sender, Driver)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    let driver = Driver(Mutex::new(Box::pin(async move {
        if let Err(err) = connection.with_upgrades().await {
            tracing::debug!(error = %err, "upstream connection ended with an error");
        }
    })));
    Ok((sender, driver))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::AsyncReadExt;

    /// A daemon that accepts and reads forever but never answers.
    fn silent_daemon() -> (tempfile::TempDir, Upstream) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
        let upstream = Upstream::new(
            Address::Unix(path),
            Duration::from_secs(1),
            Some(Duration::from_millis(200)),
        );
        (dir, upstream)
    }

    #[tokio::test]
    async fn timeout_starts_after_the_body_is_sent() {
        let (_dir, upstream) = silent_daemon();
        let mut sender = upstream.connect().await.unwrap();
        // A slow upload: the body ends only after 600 ms, three times the timeout.
        let body = futures_util::stream::unfold(0u8, |step| async move {
            match step {
                0 => Some((
                    Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(b"x"))),
                    1,
                )),
                1 => {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    Some((Ok(http_body::Frame::data(Bytes::from_static(b"y"))), 2))
                }
                _ => None,
            }
        });
        let mut req = Request::new(boxed(http_body_util::StreamBody::new(body)));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = "/build".parse().unwrap();
        req.headers_mut()
            .insert(http::header::HOST, http::HeaderValue::from_static("docker"));
        let started = Instant::now();
        let err = upstream.send(&mut sender, req).await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, SendError::Timeout(_)), "{err}");
        assert!(
            elapsed >= Duration::from_millis(780),
            "cut the upload: {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert!(err.to_string().contains("--response-timeout"));
    }

    #[tokio::test]
    async fn connect_to_nothing_fails_fast() {
        let dir = tempfile::tempdir().unwrap();
        let upstream = Upstream::new(
            Address::Unix(dir.path().join("none.sock")),
            Duration::from_secs(1),
            None,
        );
        assert!(upstream.connect().await.is_err());
    }
}
