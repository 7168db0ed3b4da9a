//! The stages of a build, in one pass over the client's context: decompress, read the
//! tar, walk the context, write every header afresh, and append the rewritten
//! Dockerfile and the gateway's own end-of-archive.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt;
use http_body::Body as HttpBody;
use http_body_util::BodyExt;

use std::collections::BTreeMap;

use super::bases;
use super::body::Outbox;
use super::source::{Source, SourceError};
use super::verify::Built;
use crate::context::Walk;
use crate::decompress;
use crate::dockerfile;
use crate::gateway::BuildLimits;
use crate::http::body::BoxError;
use crate::http::error::ApiError;
use crate::http::upstream::Upstream;
use crate::owners::Label;
use crate::reference::auth::AuthConfigs;
use crate::tar::{self, Entry, Event, Reader, TarError};

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

/// What the pipeline task needs to know about the build.
pub(super) struct Job {
    pub dockerfile_param: Option<String>,
    pub dockerfile_name: String,
    pub owner_key: String,
    pub owner: String,
    pub limits: BuildLimits,
    pub decoders: Arc<tokio::sync::Semaphore>,
    /// How to reach the daemon, to resolve the base images.
    pub upstream: Upstream,
    pub build_args: BTreeMap<String, Option<String>>,
    /// The `platform` parameter, if the daemon will read it.
    pub platform: Option<String>,
    pub target: Option<String>,
    pub pull: bool,
    pub auths: AuthConfigs,
    /// Whether `--confine` holds the bases to the owner's images and shared ones.
    pub confine: bool,
}

/// Reads the client's context and puts the rewritten one into `outbox`. Runs inside the
/// upstream body ([`UpstreamBody`]); its result says whether the archive is complete.
pub(super) async fn pipeline<B>(body: B, outbox: Outbox, job: Job) -> Result<Built, ApiError>
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
    let (mut source, built) = result?;
    drain(&mut source).await?;
    Ok(built)
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

/// A tar refusal, with the flag that sets the limit when a limit was hit: the reader
/// knows nothing of flags, the user needs to know which one to ask the operator about.
fn tar_err(e: TarError) -> ApiError {
    let hint = match &e {
        TarError::TooLarge {
            limit_of: tar::Limit::PathLength,
            ..
        } => " (the operator's limit is --max-path-length)",
        TarError::TooLarge {
            limit_of: tar::Limit::PaxBytes,
            ..
        } => " (the operator's limit is --max-pax-size, at most 1M)",
        _ => "",
    };
    ApiError::bad_request(format!("build context: {e}{hint}"))
}

/// The stages proper. Returns the source, so that trailing bytes can be drained, and
/// what the check of the result needs.
async fn rewrite_context(
    mut source: Source,
    outbox: &Outbox,
    job: &Job,
) -> Result<(Source, Built), ApiError> {
    let context_err =
        |e: &dyn std::fmt::Display| ApiError::bad_request(format!("build context: {e}"));
    let mut tar = Reader::new(job.limits.tar);
    let mut walk =
        Walk::new(job.dockerfile_param.as_deref(), job.limits.walk).map_err(|e| context_err(&e))?;
    let mut input = Bytes::new();
    let mut out = BytesMut::with_capacity(FLUSH_AT * 2);
    tar::write_header(&tar::first_entry(), &mut out).map_err(|e| context_err(&e))?;

    let mut capture = false;
    let mut size = 0u64;
    let mut remaining = 0u64;
    loop {
        let event = tar.next_event(&mut input).map_err(tar_err)?;
        match event {
            Some(Event::Entry(entry)) => {
                capture = walk.entry(&entry).map_err(|e| context_err(&e))?;
                tar::write_header(&entry, &mut out).map_err(|e| context_err(&e))?;
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
                    out.extend_from_slice(tar::padding(size));
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
    // The daemon has read nothing of the build yet (it reads the whole context first),
    // so this is the moment to resolve and pin the bases: the rest of the archive, its
    // Dockerfile and its end, waits for it.
    let bases = bases::resolve(
        &original,
        &bases::Request {
            upstream: &job.upstream,
            build_args: &job.build_args,
            platform: job.platform.as_deref(),
            target: job.target.as_deref(),
            pull: job.pull,
            auths: &job.auths,
            confine: job.confine.then_some(Label {
                key: &job.owner_key,
                owner: &job.owner,
            }),
        },
    )
    .await?;
    let rewritten = dockerfile::rewrite_pinned(
        &original,
        &job.owner_key,
        &job.owner,
        &bases.froms,
        &bases.copies,
    )
    .map_err(|e| ApiError::bad_request(format!("Dockerfile: {e}")))?;
    let entry = Entry::file(
        job.dockerfile_name.as_bytes(),
        rewritten.dockerfile.len() as u64,
    );
    tar::write_header(&entry, &mut out).map_err(|e| context_err(&e))?;
    out.extend_from_slice(&rewritten.dockerfile);
    out.extend_from_slice(tar::padding(entry.size));
    out.extend_from_slice(&tar::END_OF_ARCHIVE);
    flush(&mut out, outbox).await;
    tracing::debug!(stages = rewritten.stages, bases = ?bases.pinned, compression = %source.compression, "build context rewritten");
    Ok((
        source,
        Built {
            base: bases.result_base,
        },
    ))
}

async fn flush(out: &mut BytesMut, outbox: &Outbox) {
    if !out.is_empty() {
        outbox.send(out.split().freeze()).await;
    }
}
