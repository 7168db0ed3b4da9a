//! Where a build's tar stream comes from: the client's body as it arrives (plain tar,
//! no copy), or what a decoder makes of it. Also where `--max-context-size` is
//! enforced, on decoded bytes, so it stops decompression bombs as well as large
//! uploads.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::StatusCode;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::decompress::{self, Compression, TarStream};
use crate::http::error::ApiError;

/// Bytes read from the decoder at a time.
const READ_CHUNK: usize = 256 * 1024;
/// Decoded chunks the decoder thread may be ahead of the pipeline: enough to keep both
/// busy, and a bound on what a decompression bomb can make before it is stopped.
const DECODED_IN_FLIGHT: usize = 2;

/// Where the tar stream comes from: the body's own chunks (plain tar, no copy) or a
/// decoder's output. Also where `--max-context-size` is enforced, on decoded bytes, so
/// it stops decompression bombs as well as large uploads.
///
/// A decoder runs on a thread of its own ([`decoder`]): decompression is most of the
/// CPU a compressed context costs, and on its own thread it overlaps with everything
/// else the build does (W3 in `benches/README.md`). The chunks it hands over are large,
/// so the hand-overs cost little.
pub(super) struct Source {
    kind: SourceKind,
    pub(super) compression: Compression,
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
/// one of a few ([`Gateway::decoders`](crate::gateway::Gateway::decoders)), bounds how
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
pub(super) enum SourceError {
    Read(io::Error),
    TooLarge(u64),
}

impl SourceError {
    pub(super) fn into_api(self, compression: Compression) -> ApiError {
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
    pub(super) fn new(
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
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, SourceError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
