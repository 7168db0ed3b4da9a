//! Connections to the Docker daemon.
//!
//! Each upstream connection is a plain HTTP/1.1 client connection with upgrades enabled
//! (attach and exec hijack the connection after a `101`). The gateway never pools
//! connections across clients: a connection belongs to one client connection at a time
//! (see [`Upstream::reuse`]), so nothing one job sends can share a socket with another
//! job's requests.

use std::io;
use std::time::Duration;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};

use crate::config::Address;
use crate::error::Body;

/// How to reach the daemon.
#[derive(Debug, Clone)]
pub struct Upstream {
    address: Address,
    connect_timeout: Duration,
}

/// A ready-to-use HTTP/1.1 sender on a fresh daemon connection.
pub type Sender = SendRequest<Body>;

impl Upstream {
    pub fn new(address: Address, connect_timeout: Duration) -> Self {
        Self {
            address,
            connect_timeout,
        }
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Opens a new connection and performs the HTTP/1.1 handshake. The connection task
    /// is spawned; it ends when the sender is dropped and the last response is done, or
    /// after an upgrade's I/O is released.
    pub async fn connect(&self) -> io::Result<Sender> {
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

    /// Returns `cached` if it can take another request, else a fresh connection. Used by
    /// the passthrough so that a keep-alive client keeps one daemon connection instead of
    /// paying a connect per request.
    pub async fn reuse(&self, cached: Option<Sender>) -> io::Result<Sender> {
        if let Some(mut sender) = cached
            && sender.ready().await.is_ok()
        {
            return Ok(sender);
        }
        self.connect().await
    }
}

async fn handshake<S>(stream: S) -> io::Result<Sender>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(err) = connection.with_upgrades().await {
            tracing::debug!(error = %err, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
