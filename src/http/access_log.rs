//! One log line per request: its owner, method, path, status, bytes each way, duration.
//! The owner is the connection's (one gateway may serve many: [`crate::identity`]);
//! `-` on a connection that has none and is refused.
//!
//! A Docker API request does not end when its handler returns: `logs -f`, `events` and
//! builds stream for as long as they like, and attach/exec keep going after an upgrade.
//! So the line is written when the last piece of the exchange lets go of its
//! [`RequestLog`] (the response body, the request body, or the splice task), which is
//! also when the byte counts are final. Only the path is logged, never the query (build
//! arguments may carry secrets), bodies, or headers such as `X-Registry-Auth`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::config::Owner;

/// Shared record of one request; logged on drop.
#[derive(Debug)]
pub struct RequestLog {
    owner: Option<Arc<Owner>>,
    method: String,
    path: String,
    started: Instant,
    status: AtomicU16,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl RequestLog {
    pub fn new(owner: Option<Arc<Owner>>, method: &http::Method, path: &str) -> Arc<Self> {
        Arc::new(Self {
            owner,
            method: method.to_string(),
            path: path.to_string(),
            started: Instant::now(),
            status: AtomicU16::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        })
    }

    pub fn set_status(&self, status: http::StatusCode) {
        self.status.store(status.as_u16(), Ordering::Relaxed);
    }

    pub fn add_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        tracing::info!(
            owner = self.owner.as_deref().map_or("-", |o| o.value.as_str()),
            method = %self.method,
            path = %self.path,
            status = self.status.load(Ordering::Relaxed),
            bytes_in = self.bytes_in.load(Ordering::Relaxed),
            bytes_out = self.bytes_out.load(Ordering::Relaxed),
            duration_ms = self.started.elapsed().as_millis() as u64,
            "request"
        );
    }
}

/// Which way a [`Metered`] body flows.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    In,
    Out,
}

/// A body that counts its data bytes into a [`RequestLog`] and keeps the log alive for
/// as long as the body streams.
pub struct Metered<B> {
    inner: B,
    log: Arc<RequestLog>,
    direction: Direction,
}

impl<B> Metered<B> {
    pub fn new(inner: B, log: Arc<RequestLog>, direction: Direction) -> Self {
        Self {
            inner,
            log,
            direction,
        }
    }
}

impl<B> HttpBody for Metered<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let n = data.len() as u64;
            match self.direction {
                Direction::In => self.log.add_in(n),
                Direction::Out => self.log.add_out(n),
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn counts_bytes_both_ways() {
        let log = RequestLog::new(None, &http::Method::POST, "/x");
        let body = Metered::new(
            Full::new(Bytes::from_static(b"hello")),
            log.clone(),
            Direction::In,
        );
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"hello");
        let body = Metered::new(
            Full::new(Bytes::from_static(b"abc")),
            log.clone(),
            Direction::Out,
        );
        body.collect().await.unwrap();
        assert_eq!(log.bytes_in.load(Ordering::Relaxed), 5);
        assert_eq!(log.bytes_out.load(Ordering::Relaxed), 3);
    }
}
