//! The two bodies a build runs in, so that the whole build is one task: the upstream
//! request body, which runs the pipeline and hands its frames to hyper, and the
//! client's response body, which relays the daemon's answer, drives the daemon
//! connection, and reports a build the gateway broke off.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;

use super::verify::{self, Built, Outcome, Watch};
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
pub(super) type Pipeline = Pin<Box<dyn Future<Output = Result<Built, ApiError>> + Send>>;

/// The upstream request body. It runs the pipeline, so the rewriting happens when, and
/// only as fast as, hyper can write to the daemon. It ends cleanly only if the pipeline
/// says the archive is complete; a refusal is an error, which aborts the upload; and if
/// the body is dropped first (the daemon went away), the pipeline is dropped with it.
pub(super) struct UpstreamBody {
    /// In a `Mutex` only to make the body `Sync`; reached through `&mut`, never locked.
    pipeline: Mutex<Pipeline>,
    outbox: Outbox,
    /// Tells the request handler, and then the response body, how the pipeline ended.
    done: Option<oneshot::Sender<Result<Built, ApiError>>>,
    state: State,
}

impl UpstreamBody {
    pub(super) fn new(
        pipeline: Pipeline,
        outbox: Outbox,
        done: oneshot::Sender<Result<Built, ApiError>>,
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
                        Ok(_) => State::Finished,
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

/// The daemon's response, with the gateway's own lines at its end:
///
/// - an `errorDetail` line if the pipeline failed after the daemon had already started
///   answering, so the client never reads a success for a build the gateway broke off;
///   likewise if the daemon's output breaks off (it died or restarted mid-build), rather
///   than a truncated stream that some clients read as success;
/// - once the daemon says it built something, the check of that image and its tags
///   ([`verify`]): a `Successfully tagged` line per tag, or an `errorDetail` line that
///   says why the result was refused.
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
    done: Option<oneshot::Receiver<Result<Built, ApiError>>>,
    watch: Watch,
    /// What the check of the result needs; taken when it starts.
    plan: Option<verify::Plan>,
    phase: Phase,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// A future behind a `Mutex`, only so that the body holding it is `Sync`, as hyper's
/// boxed bodies must be; it is reached through `&mut` and never locked.
type Checking = Mutex<Pin<Box<dyn Future<Output = Vec<Bytes>> + Send>>>;

enum Phase {
    /// Passing the daemon's output on.
    Relaying,
    /// The daemon's output has ended; waiting for the pipeline's word.
    Finishing,
    /// Checking what the daemon built, then tagging it.
    Checking(Checking),
    /// The gateway's own lines, then the end.
    Tail(VecDeque<Bytes>),
}

impl<B> Reported<B> {
    pub(super) fn new(
        inner: B,
        driver: Option<Driver>,
        succeeded: bool,
        done: oneshot::Receiver<Result<Built, ApiError>>,
        plan: verify::Plan,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Reported<B> {
        Reported {
            inner,
            driver,
            succeeded,
            done: Some(done),
            watch: Watch::default(),
            plan: Some(plan),
            phase: Phase::Relaying,
            _permit: permit,
        }
    }

    /// What follows the daemon's output, once the pipeline's outcome is known.
    fn after(
        &mut self,
        outcome: Result<Result<Built, ApiError>, oneshot::error::RecvError>,
    ) -> Phase {
        let line = |err: ApiError| Phase::Tail(VecDeque::from([Bytes::from(err.stream_line())]));
        if !self.succeeded {
            // The daemon's own error answer: passed on as it is.
            return Phase::Tail(VecDeque::new());
        }
        match outcome {
            Ok(Ok(built)) => match mem::take(&mut self.watch).finish() {
                Outcome::Failed => Phase::Tail(VecDeque::new()),
                Outcome::Unknown(why) => line(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("cannot check what the build made ({why}), so nothing was tagged"),
                )),
                Outcome::Built(id) => match self.plan.take() {
                    Some(plan) => {
                        Phase::Checking(Mutex::new(Box::pin(verify::check(plan, built.base, id))))
                    }
                    None => Phase::Tail(VecDeque::new()),
                },
            },
            Ok(Err(err)) => line(err),
            // The connection closed before the upload was complete.
            Err(_) => line(upstream_gone()),
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
        loop {
            let this = &mut *self;
            match &mut this.phase {
                Phase::Relaying => match Pin::new(&mut this.inner).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(data) = frame.data_ref()
                            && this.succeeded
                        {
                            this.watch.feed(data);
                        }
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    Poll::Ready(Some(Err(err))) => {
                        // A refused upload breaks the daemon connection, and hyper
                        // reports that here; the refusal is the reason the user needs.
                        // (The body gave the pipeline's result before it failed the
                        // upload.)
                        let refusal = this
                            .done
                            .take()
                            .and_then(|mut done| done.try_recv().ok())
                            .and_then(Result::err);
                        if !this.succeeded {
                            // An error answer is not a JSON stream to add a line to.
                            return Poll::Ready(Some(Err(err)));
                        }
                        let line = refusal.unwrap_or_else(|| {
                            ApiError::new(
                                StatusCode::BAD_GATEWAY,
                                format!(
                                    "the Docker daemon's build output broke off: {}",
                                    err.into()
                                ),
                            )
                        });
                        this.phase = Phase::Tail(VecDeque::from([Bytes::from(line.stream_line())]));
                    }
                    Poll::Ready(None) => this.phase = Phase::Finishing,
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Finishing => {
                    let Some(done) = this.done.as_mut() else {
                        this.phase = Phase::Tail(VecDeque::new());
                        continue;
                    };
                    let outcome = match Pin::new(done).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(outcome) => outcome,
                    };
                    this.done = None;
                    this.phase = this.after(outcome);
                }
                Phase::Checking(checking) => {
                    let future = match checking.get_mut() {
                        Ok(future) => future,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    match future.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(lines) => this.phase = Phase::Tail(lines.into()),
                    }
                }
                Phase::Tail(lines) => {
                    return Poll::Ready(lines.pop_front().map(|line| Ok(Frame::data(line))));
                }
            }
        }
    }
}

/// The daemon connection closed before the upload was complete.
fn upstream_gone() -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "the Docker daemon stopped reading the build context",
    )
}
