//! `POST /build`: the one request the gateway rewrites.
//!
//! The request goes through the stages of the design in one streaming pass:
//!
//! ```text
//! query ─► decompress ─► tar reader ─► context walk ─► tar writer ─► upstream
//!                                         │                ▲
//!                                         └─► Dockerfile ─► rewrite (appended last)
//! ```
//!
//! The upstream request starts at once, with a query rebuilt by [`crate::query`] whose
//! `dockerfile=` names a fresh random entry that does not exist yet. Entries stream
//! through as they are read; file bodies are never held, except the few small files
//! that may turn out to be the Dockerfile. At the end of the client's archive the walk
//! names the Dockerfile, the rewrite labels it, and the gateway appends it under the
//! random name, then its own end-of-archive. The daemon therefore builds the Dockerfile
//! the gateway rewrote, whatever else the archive contains.
//!
//! One task does all of it: the pipeline runs inside the upstream request body, and the
//! upstream connection is driven by the request's own future and then by the response
//! body, so each chunk goes from the client's socket to the daemon's without being
//! handed to another task (and so, often, to another worker thread) on the way.
//!
//! Fail closed: any error after the first byte went upstream turns the upstream body
//! into an error, which makes hyper abort the request mid-chunk. The daemon sees a
//! broken upload and builds nothing; it cannot mistake a cut-off context for a
//! complete one, because the last thing it would need, the Dockerfile it was told to
//! use, only exists at the very end.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

use crate::access_log::{Direction, Metered, RequestLog};
use crate::context::{self, Walk};
use crate::decompress::{self, Compression, TarStream};
use crate::dockerfile;
use crate::error::{ApiError, Body, BoxError, boxed};
use crate::passthrough::{send_failed, strip_hop_by_hop, unreachable};
use crate::query::{BuildQuery, Policy};
use crate::server::Gateway;
use crate::tar::reader::{self as tar_reader, Event, Reader, TarError};
use crate::tar::writer;
use crate::tar::{Entry, Kind};
use crate::upstream::Driver;

/// Limits a build is held to.
#[derive(Debug, Clone)]
pub struct BuildLimits {
    pub tar: tar_reader::Limits,
    pub walk: context::Limits,
    /// Cap on decoded context bytes; `None` for no cap.
    pub max_context_size: Option<u64>,
}

/// Bytes read from the decoder at a time.
const READ_CHUNK: usize = 256 * 1024;
/// Decoded chunks the decoder thread may be ahead of the pipeline: enough to keep both
/// busy, and a bound on what a decompression bomb can make before it is stopped.
const DECODED_IN_FLIGHT: usize = 2;
/// Headers and small file bodies are batched into frames of about this size, so a
/// context of 100,000 tiny files is not 200,000 frames.
const FLUSH_AT: usize = 128 * 1024;
/// File data at least this large goes out as its own frame, a slice of the chunk it
/// arrived in, instead of being copied into the batch.
const OWN_FRAME_AT: usize = 8 * 1024;
/// What the gateway still reads, and drops, after the client's end-of-archive: tar
/// writers pad to a 10 KiB record, so anything near this size is not padding, and the
/// build is refused rather than wait on an endless tail.
const MAX_TRAILING: u64 = 1 << 20;

/// Handles one build request end to end.
pub async fn handle(
    req: Request<Incoming>,
    gateway: &Gateway,
    log: Arc<RequestLog>,
) -> Response<Body> {
    match start(req, gateway, log.clone()).await {
        Ok(response) => response,
        Err(err) => {
            tracing::warn!(error = %err, "build refused");
            log.set_status(err.status);
            err.into_response()
        }
    }
}

async fn start(
    req: Request<Incoming>,
    gateway: &Gateway,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "builds must be sent as POST",
        ));
    }
    // Held until the build's output has been read to the end (it lives in the
    // response body), so `--max-builds` counts builds, not requests being parsed.
    let permit = match &gateway.builds {
        None => None,
        Some(builds) => Some(builds.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{} builds are already running through this gateway (--max-builds); try again when one has finished",
                    gateway.config.max_builds
                ),
            )
        })?),
    };
    let policy: &Policy = &gateway.policy;
    let query = BuildQuery::parse(req.uri().query(), policy)
        .map_err(|e| ApiError::with_code(e.status, e.message))?;
    let dockerfile_name = random_dockerfile_name()?;
    let path = crate::route::upstream_build_path(req.uri());
    let uri = format!("{path}?{}", query.to_upstream(&dockerfile_name));

    let (parts, body) = req.into_parts();
    let headers = upstream_headers(&parts.headers);
    let body = Metered::new(body, log.clone(), Direction::In);

    let (done_tx, done_rx) = oneshot::channel();
    let outbox = Outbox::default();
    let job = Job {
        dockerfile_param: query.dockerfile().map(str::to_string),
        dockerfile_name,
        owner_key: policy.owner_key.clone(),
        owner: policy.owner.clone(),
        limits: gateway.build_limits.clone(),
        decoders: gateway.decoders.clone(),
    };
    let mut request = Request::new(boxed(UpstreamBody {
        pipeline: Mutex::new(Box::pin(pipeline(body, outbox.clone(), job))),
        outbox,
        done: Some(done_tx),
        state: State::Running,
    }));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.parse().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot form the upstream URI",
        )
    })?;
    *request.headers_mut() = headers;

    let upstream = &gateway.upstream;
    let (mut sender, driver) = upstream
        .connect_driven()
        .await
        .map_err(|e| unreachable(upstream, &e))?;
    let mut driver = Some(driver);
    let sent = {
        let mut send = std::pin::pin!(upstream.send(&mut sender, request));
        poll_fn(|cx| {
            drive(&mut driver, cx);
            send.as_mut().poll(cx)
        })
        .await
    };
    let response = match sent {
        Ok(response) => response,
        Err(err) => {
            // Dropping the connection drops the upload with it, so the pipeline has
            // either reported already or never will.
            drop(driver);
            // Most often the pipeline refused the context and aborted the upload; its
            // reason is the one the user needs.
            return Err(match done_rx.await {
                Ok(Err(refusal)) => refusal,
                _ => send_failed(upstream, &err),
            });
        }
    };
    log.set_status(response.status());
    let succeeded = response.status().is_success();
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let body = Metered::new(body, log, Direction::Out);
    Ok(Response::from_parts(
        parts,
        boxed(Reported {
            inner: body,
            driver,
            succeeded,
            done: Some(done_rx),
            tail: None,
            _permit: permit,
        }),
    ))
}

/// Only what the daemon needs for a build; in particular no `Content-Encoding` or
/// `Content-Length` from the client, since the body the daemon gets is the gateway's.
fn upstream_headers(client: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(header::HOST, HeaderValue::from_static("docker"));
    for name in [
        header::USER_AGENT,
        HeaderName::from_static("x-registry-config"),
    ] {
        if let Some(value) = client.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers
}

/// A name no client can predict, so no entry of the client's archive can be, or lead
/// to, the Dockerfile the daemon is told to build.
fn random_dockerfile_name() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no randomness for the Dockerfile name: {e}"),
        )
    })?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(".buildgate-dockerfile-{hex}"))
}

/// What the pipeline task needs to know about the build.
struct Job {
    dockerfile_param: Option<String>,
    dockerfile_name: String,
    owner_key: String,
    owner: String,
    limits: BuildLimits,
    decoders: Arc<tokio::sync::Semaphore>,
}

/// Polls the upstream connection, if it is still open; see [`Upstream::connect_driven`].
///
/// [`Upstream::connect_driven`]: crate::upstream::Upstream::connect_driven
fn drive(driver: &mut Option<Driver>, cx: &mut Context<'_>) {
    if let Some(running) = driver
        && running.poll(cx).is_ready()
    {
        *driver = None;
    }
}

/// Reads the client's context and puts the rewritten one into `outbox`. Runs inside the
/// upstream body ([`UpstreamBody`]); its result says whether the archive is complete.
async fn pipeline<B>(body: B, outbox: Outbox, job: Job) -> Result<(), ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let stream = body
        .into_data_stream()
        .map_err(|e| io::Error::other(e.into()));
    let result = async {
        let opened = decompress::open(stream)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read the build context: {e}")))?;
        let source = Source::new(opened, job.limits.max_context_size, &job.decoders);
        rewrite_context(source, &outbox, &job).await
    }
    .await;
    // The archive is complete, but the upload is not over until the client's body has
    // ended cleanly: dockerd reads its context to EOF after the end-of-archive (its
    // untar helper flushes stdin), so a body that breaks off here must reach it as a
    // broken upload, never as a clean end.
    drain(&mut result?).await
}

/// Reads and drops what the client sends after its end-of-archive (tar writers pad
/// to a 10 KiB record), until the body ends. More than [`MAX_TRAILING`] bytes is not
/// padding, and a read error means the upload broke off: both refuse the build.
async fn drain(source: &mut Source) -> Result<(), ApiError> {
    let mut total = 0u64;
    loop {
        let chunk = source.next().await.map_err(|e| match e {
            SourceError::Read(e) => ApiError::bad_request(format!(
                "the build context upload broke off after the end of the tar archive: {e}"
            )),
            other => other.into_api(source.compression),
        })?;
        let Some(chunk) = chunk else {
            return Ok(());
        };
        total += chunk.len() as u64;
        if total > MAX_TRAILING {
            return Err(ApiError::bad_request(format!(
                "the build context has more than {MAX_TRAILING} bytes after the end of its tar archive; send only the archive"
            )));
        }
    }
}

/// Where the tar stream comes from: the body's own chunks (plain tar, no copy) or a
/// decoder's output. Also where `--max-context-size` is enforced, on decoded bytes, so
/// it stops decompression bombs as well as large uploads.
///
/// A decoder runs on a thread of its own ([`decoder`]): decompression is most of the
/// CPU a compressed context costs, and on its own thread it overlaps with everything
/// else the build does (W3, 260 MiB of gzip-compressed source: 445 -> 355 ms, with
/// plain decompression alone taking 315 ms). The chunks it hands over are large, so
/// the hand-overs cost little.
struct Source {
    kind: SourceKind,
    compression: Compression,
    limit: Option<u64>,
    seen: u64,
}

enum SourceKind {
    Plain(decompress::Chunks),
    /// Decoded on a thread of its own.
    Decoded(mpsc::Receiver<Decoded>),
    /// Decoded here, when every decoder thread is taken.
    Inline(TarStream, BytesMut),
    /// The decoder said the stream ended cleanly.
    Ended,
}

/// What the decoder thread hands over.
enum Decoded {
    Chunk(Bytes),
    /// The compressed stream ended cleanly. Anything else that ends the channel (a
    /// decoder that died) is an error, never a clean end.
    End,
    Failed(io::Error),
}

/// Starts decoding `reader` (which also reads the client's body) on a blocking-pool
/// thread. The thread stops when the stream ends or fails, or as soon as the build
/// drops the receiver (dropping the client's body with it).
///
/// The thread also waits on the client, so a client that stalls holds it; `permit`,
/// one of a few ([`Gateway::decoders`](crate::server::Gateway::decoders)), bounds how
/// many threads stalled clients can hold. Without a permit the build decodes inline.
fn decoder(
    mut reader: TarStream,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> mpsc::Receiver<Decoded> {
    let (tx, rx) = mpsc::channel(DECODED_IN_FLIGHT);
    let runtime = tokio::runtime::Handle::current();
    // Only channels and CPU in this future, no I/O or timers of the runtime's, so it
    // can be driven by `Handle::block_on` on a blocking thread.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        runtime.block_on(async move {
            let mut buf = BytesMut::new();
            loop {
                buf.reserve(READ_CHUNK);
                // A build that is gone must not leave this thread waiting on its
                // client: stop as soon as nobody listens.
                let read = tokio::select! {
                    read = reader.read_buf(&mut buf) => read,
                    () = tx.closed() => return,
                };
                let decoded = match read {
                    Ok(0) => Decoded::End,
                    Ok(_) => Decoded::Chunk(buf.split().freeze()),
                    Err(err) => Decoded::Failed(err),
                };
                let last = !matches!(decoded, Decoded::Chunk(_));
                if tx.send(decoded).await.is_err() || last {
                    return;
                }
            }
        })
    });
    rx
}

/// Why the tar stream stopped early.
enum SourceError {
    Read(io::Error),
    TooLarge(u64),
}

impl SourceError {
    fn into_api(self, compression: Compression) -> ApiError {
        match self {
            SourceError::TooLarge(limit) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the decompressed build context is larger than the limit of {limit} bytes; raise --max-context-size or send a smaller context"
                ),
            ),
            SourceError::Read(e) if compression == Compression::None => {
                ApiError::bad_request(format!("the build context upload broke off: {e}"))
            }
            SourceError::Read(e) => ApiError::bad_request(format!(
                "cannot decompress the {compression} build context: {e}"
            )),
        }
    }
}

impl Source {
    fn new(
        opened: decompress::Opened,
        limit: Option<u64>,
        decoders: &Arc<tokio::sync::Semaphore>,
    ) -> Self {
        let (kind, compression) = match opened {
            decompress::Opened::Plain(chunks) => (SourceKind::Plain(chunks), Compression::None),
            decompress::Opened::Compressed(compression, reader) => {
                let kind = match decoders.clone().try_acquire_owned() {
                    Ok(permit) => SourceKind::Decoded(decoder(reader, permit)),
                    Err(_) => SourceKind::Inline(reader, BytesMut::new()),
                };
                (kind, compression)
            }
        };
        Self {
            kind,
            compression,
            limit,
            seen: 0,
        }
    }

    /// The next piece of tar, or `None` at a clean end of the body.
    async fn next(&mut self) -> Result<Option<Bytes>, SourceError> {
        let chunk = match &mut self.kind {
            SourceKind::Plain(chunks) => match chunks.next().await {
                None => None,
                Some(chunk) => Some(chunk.map_err(SourceError::Read)?),
            },
            SourceKind::Ended => None,
            SourceKind::Inline(reader, buf) => {
                buf.reserve(READ_CHUNK);
                let n = reader.read_buf(buf).await.map_err(SourceError::Read)?;
                (n > 0).then(|| buf.split().freeze())
            }
            SourceKind::Decoded(decoded) => match decoded.recv().await {
                Some(Decoded::Chunk(chunk)) => Some(chunk),
                Some(Decoded::End) => {
                    self.kind = SourceKind::Ended;
                    None
                }
                Some(Decoded::Failed(err)) => return Err(SourceError::Read(err)),
                None => {
                    return Err(SourceError::Read(io::Error::other(
                        "the decoder stopped without finishing",
                    )));
                }
            },
        };
        if let (Some(chunk), Some(limit)) = (&chunk, self.limit) {
            self.seen += chunk.len() as u64;
            if self.seen > limit {
                return Err(SourceError::TooLarge(limit));
            }
        }
        Ok(chunk)
    }
}

/// A tar refusal, with the flag that sets the limit when a limit was hit: the reader
/// knows nothing of flags, the user needs to know which one to ask the operator about.
fn tar_err(e: TarError) -> ApiError {
    let hint = match &e {
        TarError::TooLarge { what, .. } if *what == "an entry name" || *what == "a link target" => {
            " (the operator's limit is --max-path-length)"
        }
        TarError::TooLarge { .. } => " (the operator's limit is --max-pax-size, at most 1M)",
        _ => "",
    };
    ApiError::bad_request(format!("build context: {e}{hint}"))
}

/// The stages proper. Returns the reader so that trailing bytes can be drained.
async fn rewrite_context(
    mut source: Source,
    outbox: &Outbox,
    job: &Job,
) -> Result<Source, ApiError> {
    let context_err =
        |e: &dyn std::fmt::Display| ApiError::bad_request(format!("build context: {e}"));
    let mut tar = Reader::new(job.limits.tar);
    let mut walk =
        Walk::new(job.dockerfile_param.as_deref(), job.limits.walk).map_err(|e| context_err(&e))?;
    let mut input = Bytes::new();
    let mut out = BytesMut::with_capacity(FLUSH_AT * 2);
    writer::write_header(&writer::first_entry(), &mut out).map_err(|e| context_err(&e))?;

    let mut capture = false;
    let mut size = 0u64;
    let mut remaining = 0u64;
    loop {
        let event = tar.next_event(&mut input).map_err(tar_err)?;
        match event {
            Some(Event::Entry(entry)) => {
                capture = walk.entry(&entry).map_err(|e| context_err(&e))?;
                writer::write_header(&entry, &mut out).map_err(|e| context_err(&e))?;
                size = entry.size;
                remaining = entry.size;
            }
            Some(Event::Data(data)) => {
                if capture {
                    walk.data(&data).map_err(|e| context_err(&e))?;
                }
                remaining = remaining.saturating_sub(data.len() as u64);
                if data.len() >= OWN_FRAME_AT {
                    flush(&mut out, outbox).await;
                    outbox.send(data).await;
                } else {
                    out.extend_from_slice(&data);
                }
                if remaining == 0 {
                    out.extend_from_slice(writer::padding(size));
                }
            }
            Some(Event::EndOfArchive) => break,
            None => {
                let next = source
                    .next()
                    .await
                    .map_err(|e| e.into_api(source.compression))?;
                match next {
                    Some(chunk) => input = chunk,
                    None => {
                        tar.finish().map_err(tar_err)?;
                        break;
                    }
                }
                continue;
            }
        }
        if out.len() >= FLUSH_AT {
            flush(&mut out, outbox).await;
        }
    }

    let original = walk.finish().map_err(|e| context_err(&e))?;
    let rewritten = dockerfile::rewrite(&original, &job.owner_key, &job.owner)
        .map_err(|e| ApiError::bad_request(format!("Dockerfile: {e}")))?;
    let entry = Entry {
        name: job.dockerfile_name.as_bytes().to_vec(),
        kind: Kind::Regular,
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: Vec::new(),
        gname: Vec::new(),
        mtime: 0,
        size: rewritten.dockerfile.len() as u64,
        linkname: Vec::new(),
        xattrs: Vec::new(),
    };
    writer::write_header(&entry, &mut out).map_err(|e| context_err(&e))?;
    out.extend_from_slice(&rewritten.dockerfile);
    out.extend_from_slice(writer::padding(entry.size));
    out.extend_from_slice(&writer::END_OF_ARCHIVE);
    flush(&mut out, outbox).await;
    tracing::debug!(stages = rewritten.stages, compression = %source.compression, "build context rewritten");
    Ok(source)
}

fn upstream_gone() -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "the Docker daemon stopped reading the build context",
    )
}

async fn flush(out: &mut BytesMut, outbox: &Outbox) {
    if !out.is_empty() {
        outbox.send(out.split().freeze()).await;
    }
}

/// Where the pipeline leaves frames for the upstream body. Both run in the same task, so
/// this is a hand-off slot, not a channel: [`Outbox::send`] leaves a frame and pauses
/// the pipeline, and the body hands the frame to hyper before it polls the pipeline
/// again. At most one frame waits here; hyper's own write buffer is the rest of the
/// gateway's buffering of a context, whatever its size.
#[derive(Clone, Default)]
struct Outbox(Arc<Mutex<VecDeque<Bytes>>>);

impl Outbox {
    async fn send(&self, data: Bytes) {
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
type Pipeline = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>;

/// The upstream request body. It runs the pipeline, so the rewriting happens when, and
/// only as fast as, hyper can write to the daemon. It ends cleanly only if the pipeline
/// says the archive is complete; a refusal is an error, which aborts the upload; and if
/// the body is dropped first (the daemon went away), the pipeline is dropped with it.
struct UpstreamBody {
    /// In a `Mutex` only to make the body `Sync`; reached through `&mut`, never locked.
    pipeline: Mutex<Pipeline>,
    outbox: Outbox,
    /// Tells the request handler, and then the response body, how the pipeline ended.
    done: Option<oneshot::Sender<Result<(), ApiError>>>,
    state: State,
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
struct Reported<B> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_differ_and_are_plain() {
        let a = random_dockerfile_name().unwrap();
        let b = random_dockerfile_name().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), ".buildgate-dockerfile-".len() + 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        );
    }

    /// A source of `body`, with `threads` decoder permits (0: every build decodes inline).
    async fn source_of(body: Vec<u8>, limit: Option<u64>, threads: usize) -> Source {
        // Split in small pieces, as a client's chunks would come.
        let chunks: Vec<io::Result<Bytes>> = body
            .chunks(1000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let opened = decompress::open(futures_util::stream::iter(chunks))
            .await
            .unwrap();
        let decoders = Arc::new(tokio::sync::Semaphore::new(threads));
        let source = Source::new(opened, limit, &decoders);
        let threaded = matches!(source.kind, SourceKind::Decoded(_));
        assert_eq!(
            threaded,
            threads > 0,
            "a decoder thread exactly when one is free"
        );
        source
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    async fn read_all(source: &mut Source) -> Result<Vec<u8>, SourceError> {
        let mut out = Vec::new();
        while let Some(chunk) = source.next().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The decoder's output arrives whole and in order, and the end stays the end: the
    /// pipeline asks again after the archive (to drain the client's tail). The same on
    /// a decoder thread and inline.
    #[tokio::test]
    async fn decoded_source_is_whole_and_ends_once() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for threads in [1, 0] {
            let mut source = source_of(gzip(&data), None, threads).await;
            assert_eq!(source.compression, Compression::Gzip);
            assert!(read_all(&mut source).await.ok() == Some(data.clone()));
            for _ in 0..3 {
                assert!(matches!(source.next().await, Ok(None)));
            }
        }
    }

    /// A stream that breaks off is an error, never a short clean end.
    #[tokio::test]
    async fn truncated_compressed_source_is_an_error() {
        let data = vec![7u8; 1 << 20];
        let mut compressed = gzip(&data);
        compressed.truncate(compressed.len() - 10);
        for threads in [1, 0] {
            let mut source = source_of(compressed.clone(), None, threads).await;
            assert!(matches!(
                read_all(&mut source).await,
                Err(SourceError::Read(_))
            ));
        }
    }

    /// `--max-context-size` counts decoded bytes, so a small bomb is stopped.
    #[tokio::test]
    async fn decoded_bytes_count_against_the_limit() {
        for threads in [1, 0] {
            let bomb = gzip(&vec![0u8; 8 << 20]);
            let mut source = source_of(bomb, Some(1 << 20), threads).await;
            assert!(matches!(
                read_all(&mut source).await,
                Err(SourceError::TooLarge(limit)) if limit == 1 << 20
            ));
        }
    }

    /// A build that goes away frees the decoder thread, its permit and the client's
    /// body at once, even while the client sends nothing more.
    #[tokio::test]
    async fn dropped_source_releases_the_decoder_and_the_body() {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(1);
        let stalled = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        tx.send(Ok(Bytes::from(gzip(&[1u8; 1000])[..10].to_vec())))
            .await
            .unwrap();
        let opened = decompress::open(stalled).await.unwrap();
        let decoders = Arc::new(tokio::sync::Semaphore::new(1));
        let mut source = Source::new(opened, None, &decoders);
        assert_eq!(
            decoders.available_permits(),
            0,
            "the thread holds the permit"
        );
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(100), source.next()).await;
        assert!(waiting.is_err(), "the client has sent nothing more");
        drop(source);
        tokio::time::timeout(std::time::Duration::from_secs(5), tx.closed())
            .await
            .expect("the body is dropped once the build is");
        let _back = tokio::time::timeout(std::time::Duration::from_secs(5), decoders.acquire())
            .await
            .expect("the permit comes back")
            .unwrap();
    }

    #[test]
    fn upstream_headers_are_the_gateways() {
        let mut client = HeaderMap::new();
        client.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        client.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        client.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        client.insert("x-registry-config", HeaderValue::from_static("e30="));
        let headers = upstream_headers(&client);
        assert_eq!(headers[header::CONTENT_TYPE], "application/x-tar");
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        assert!(headers.get(header::CONTENT_LENGTH).is_none());
        assert_eq!(headers["x-registry-config"], "e30=");
    }
}
