//! The two bodies a build runs in, so that the whole build is one task: the upstream
//! request body, which runs the pipeline and hands its frames to hyper, and the
//! client's response body, which relays the daemon's answer, drives the daemon
//! connection, and reports a build the gateway broke off.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;

use crate::http::body::BoxError;
use crate::http::error::ApiError;
use crate::http::upstream::Driver;

/// Polls the upstream connection, if it is still open; see [`Upstream::connect_driven`].
///
/// [`Upstream::connect_driven`]: crate::http::upstream::Upstream::connect_driven
pub(super) fn drive(driver: &mut Option<Driver>, cx: &mut Context<'_>) {
    if let Some(running) = driver
        && running.poll(cx).is_ready()
    {
        *driver = None;
    }
}

/// Where the pipeline leaves frames for the upstream body. Both run in the same task, so
/// this is a hand-off slot, not a channel: [`Outbox::send`] leaves a frame and pauses
/// the pipeline, and the body hands the frame to hyper before it polls the pipeline
/// again. At most one frame waits here; hyper's own write buffer is the rest of the
/// gateway's buffering of a context, whatever its size.
#[derive(Clone, Default)]
pub(super) struct Outbox(Arc<Mutex<VecDeque<Bytes>>>);

impl Outbox {
    pub(super) async fn send(&self, data: Bytes) {
        self.frames().push_back(data);
        // Pending without a waker is right here: the body polls the pipeline again
        // as soon as hyper has taken the frame, which is what resumes it.
        let mut paused = false;
        poll_fn(|_| {
            if paused {
                Poll::Ready(())
            } else {
                paused = true;
                Poll::Pending
            }
        })
        .await;
    }

    fn take(&self) -> Option<Bytes> {
        self.frames().pop_front()
    }

    fn is_empty(&self) -> bool {
        self.frames().is_empty()
    }

    fn frames(&self) -> std::sync::MutexGuard<'_, VecDeque<Bytes>> {
        // Never contended (one task); a poisoned lock still holds whole frames.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where the upstream body is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// The archive is complete and was handed over: the body ends cleanly.
    Finished,
    /// The pipeline refused the context: the body is an error, however often polled.
    Failed,
}

/// [`pipeline`], boxed: its future type cannot be named.
pub(super) type Pipeline = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>;

/// The upstream request body. It runs the pipeline, so the rewriting happens when, and
/// only as fast as, hyper can write to the daemon. It ends cleanly only if the pipeline
/// says the archive is complete; a refusal is an error, which aborts the upload; and if
/// the body is dropped first (the daemon went away), the pipeline is dropped with it.
pub(super) struct UpstreamBody {
    /// In a `Mutex` only to make the body `Sync`; reached through `&mut`, never locked.
    pipeline: Mutex<Pipeline>,
    outbox: Outbox,
    /// Tells the request handler, and then the response body, how the pipeline ended.
    done: Option<oneshot::Sender<Result<(), ApiError>>>,
    state: State,
}

impl UpstreamBody {
    pub(super) fn new(
        pipeline: Pipeline,
        outbox: Outbox,
        done: oneshot::Sender<Result<(), ApiError>>,
    ) -> UpstreamBody {
        UpstreamBody {
            pipeline: Mutex::new(pipeline),
            outbox,
            done: Some(done),
            state: State::Running,
        }
    }
}

impl HttpBody for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            match self.state {
                State::Failed => {
                    return Poll::Ready(Some(Err("build context refused; upload aborted".into())));
                }
                State::Finished | State::Running => {}
            }
            if let Some(data) = self.outbox.take() {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if self.state == State::Finished {
                return Poll::Ready(None);
            }
            let pipeline = match self.pipeline.get_mut() {
                Ok(pipeline) => pipeline,
                Err(poisoned) => poisoned.into_inner(),
            };
            match pipeline.as_mut().poll(cx) {
                // Waiting for the client (its body registered the waker), or paused
                // after leaving a frame, which the next turn hands over.
                Poll::Pending if self.outbox.is_empty() => return Poll::Pending,
                Poll::Pending => {}
                Poll::Ready(result) => {
                    self.state = match result {
                        Ok(()) => State::Finished,
                        Err(_) => State::Failed,
                    };
                    if let Some(done) = self.done.take() {
                        let _ = done.send(result);
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Finished && self.outbox.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The daemon's response, plus an `errorDetail` line at its end if the pipeline failed
/// after the daemon had already started answering, so the client never reads a
/// success for a build the gateway broke off.
///
/// Likewise, if the daemon's output breaks off (the daemon died or restarted mid-build),
/// the client gets an `errorDetail` line saying so rather than a truncated stream that
/// some clients read as success.
///
/// It also drives the daemon connection, which carries the rest of the upload. So once
/// the daemon has answered, the upload only moves while the client reads the answer;
/// dockerd's classic builder writes nothing before it has read the whole context, so
/// this never holds a build up, but a daemon that streamed a lot of output early to a
/// client that reads nothing until its upload is done would stall both.
pub(super) struct Reported<B> {
    inner: B,
    /// The upstream connection, which also carries the upload: polled first, always.
    driver: Option<Driver>,
    /// Whether the daemon answered with success: only then could a client mistake a
    /// broken-off build for a good one (and only then is the body a JSON stream that a
    /// line can be added to).
    succeeded: bool,
    done: Option<oneshot::Receiver<Result<(), ApiError>>>,
    tail: Option<Bytes>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl<B> Reported<B> {
    pub(super) fn new(
        inner: B,
        driver: Option<Driver>,
        succeeded: bool,
        done: oneshot::Receiver<Result<(), ApiError>>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Reported<B> {
        Reported {
            inner,
            driver,
            succeeded,
            done: Some(done),
            tail: None,
            _permit: permit,
        }
    }
}

impl<B> HttpBody for Reported<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        drive(&mut self.driver, cx);
        if self.done.is_some() {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(None) => {}
                Poll::Ready(Some(Err(err))) => {
                    // A refused upload breaks the daemon connection, and hyper reports
                    // that here; the refusal is the reason the user needs. (The body
                    // gave the pipeline's result before it failed the upload.)
                    let refusal = self
                        .done
                        .take()
                        .and_then(|mut done| done.try_recv().ok())
                        .and_then(Result::err);
                    if !self.succeeded {
                        // An error answer is not a JSON stream to add a line to.
                        return Poll::Ready(Some(Err(err)));
                    }
                    let line = refusal.unwrap_or_else(|| {
                        ApiError::new(
                            StatusCode::BAD_GATEWAY,
                            format!("the Docker daemon's build output broke off: {}", err.into()),
                        )
                    });
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(line.stream_line())))));
                }
                other => return other,
            }
            let Some(done) = self.done.as_mut() else {
                return Poll::Ready(None);
            };
            let outcome = match Pin::new(done).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => outcome,
            };
            self.done = None;
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some(err),
                // The connection closed before the upload was complete.
                Err(_) => Some(upstream_gone()),
            };
            if let Some(err) = failure.filter(|_| self.succeeded) {
                self.tail = Some(Bytes::from(err.stream_line()));
            }
        }
        Poll::Ready(self.tail.take().map(|line| Ok(Frame::data(line))))
    }
}

/// The daemon connection closed before the upload was complete.
fn upstream_gone() -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "the Docker daemon stopped reading the build context",
    )
}
