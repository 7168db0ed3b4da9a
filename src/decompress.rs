//! Turns a build context body, compressed or not, into a plain tar byte stream.
//!
//! dockerd accepts gzip, bzip2, xz and (in newer versions) zstd contexts and picks the
//! decoder by sniffing magic bytes. The gateway sniffs the same magics, decodes, and
//! sends the daemon plain tar only, so there is exactly one decoder whose reading
//! counts: ours. That is also what lets a zstd context build on a 20.10 daemon that has
//! no zstd support. Every decoder reads all members (gzip, bzip2, xz) or frames (zstd),
//! because a decoder that stopped after the first member would hide the rest of the
//! archive from the gateway while a different decoder might not.

use std::io;
use std::pin::Pin;

use async_compression::tokio::bufread::{BzDecoder, GzipDecoder, XzDecoder, ZstdDecoder};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;

/// The compression of a context, as found by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        })
    }
}

/// Bytes needed to tell every format apart (xz has the longest magic).
pub const SNIFF_LEN: usize = 6;

/// The same magic numbers dockerd's `archive.DetectCompression` checks, plus zstd
/// skippable frames (`0x184D2A5?` little-endian), which newer daemons also accept as
/// the start of a zstd stream.
pub fn detect(prefix: &[u8]) -> Compression {
    const MAGICS: [(&[u8], Compression); 4] = [
        (&[0x42, 0x5A, 0x68], Compression::Bzip2),
        (&[0x1F, 0x8B, 0x08], Compression::Gzip),
        (&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], Compression::Xz),
        (&[0x28, 0xB5, 0x2F, 0xFD], Compression::Zstd),
    ];
    for (magic, compression) in MAGICS {
        if prefix.starts_with(magic) {
            return compression;
        }
    }
    if prefix.len() >= 4 && prefix[0] & 0xF0 == 0x50 && prefix[1..4] == [0x2A, 0x4D, 0x18] {
        return Compression::Zstd;
    }
    Compression::None
}

/// A decoded tar stream.
pub type TarStream = Pin<Box<dyn AsyncRead + Send>>;

/// The body's own chunks, when there was nothing to decode.
pub type Chunks = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What a context body turned out to be.
pub enum Opened {
    /// Plain tar. The body's chunks are handed on as they are, so the tar reader can
    /// slice file bodies out of them without copying a byte.
    Plain(Chunks),
    /// Compressed; the reader yields the decoded tar.
    Compressed(Compression, TarStream),
}

/// Read buffer for the compressed side; large reads keep the decoders in their fast
/// paths.
const DECODER_BUF: usize = 128 * 1024;

/// Sniffs the body and returns how to read its tar stream.
pub async fn open<S>(body: S) -> io::Result<Opened>
where
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    let mut raw = StreamReader::new(Box::pin(body));
    // Clients may send the first bytes in tiny chunks; collect enough to decide.
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    while prefix.len() < SNIFF_LEN {
        let mut byte = [0u8; SNIFF_LEN];
        let want = SNIFF_LEN - prefix.len();
        let n = raw.read(&mut byte[..want]).await?;
        if n == 0 {
            break;
        }
        prefix.extend_from_slice(&byte[..n]);
    }
    let compression = detect(&prefix);
    macro_rules! decoded {
        ($decoder:ident) => {{
            let joined = std::io::Cursor::new(prefix).chain(raw);
            let mut decoder = $decoder::new(BufReader::with_capacity(DECODER_BUF, joined));
            decoder.multiple_members(true);
            let stream: TarStream = Box::pin(decoder);
            stream
        }};
    }
    let stream = match compression {
        Compression::None => {
            let (rest, partial) = raw.into_inner_with_chunk();
            let head = [Bytes::from(prefix), partial.unwrap_or_default()]
                .into_iter()
                .filter(|chunk| !chunk.is_empty())
                .map(Ok);
            return Ok(Opened::Plain(Box::pin(
                futures_util::stream::iter(head).chain(rest),
            )));
        }
        Compression::Gzip => decoded!(GzipDecoder),
        Compression::Bzip2 => decoded!(BzDecoder),
        Compression::Xz => decoded!(XzDecoder),
        Compression::Zstd => decoded!(ZstdDecoder),
    };
    Ok(Opened::Compressed(compression, stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_compression::tokio::write::{BzEncoder, GzipEncoder, XzEncoder, ZstdEncoder};
    use tokio::io::AsyncWriteExt;

    async fn encode(compression: Compression, data: &[u8]) -> Vec<u8> {
        macro_rules! enc {
            ($encoder:ident) => {{
                let mut e = $encoder::new(Vec::new());
                e.write_all(data).await.unwrap();
                e.shutdown().await.unwrap();
                e.into_inner()
            }};
        }
        match compression {
            Compression::None => data.to_vec(),
            Compression::Gzip => enc!(GzipEncoder),
            Compression::Bzip2 => enc!(BzEncoder),
            Compression::Xz => enc!(XzEncoder),
            Compression::Zstd => enc!(ZstdEncoder),
        }
    }

    /// Splits `data` into chunks of `size` bytes, the way a client might send them.
    fn chunked(data: Vec<u8>, size: usize) -> impl Stream<Item = io::Result<Bytes>> + Send {
        let chunks: Vec<io::Result<Bytes>> = data
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(chunks)
    }

    async fn decode_all(body: Vec<u8>, chunk: usize) -> io::Result<(Compression, Vec<u8>)> {
        match open(chunked(body, chunk)).await? {
            Opened::Plain(mut chunks) => {
                let mut out = Vec::new();
                while let Some(piece) = chunks.next().await {
                    out.extend_from_slice(&piece?);
                }
                Ok((Compression::None, out))
            }
            Opened::Compressed(compression, mut reader) => {
                let mut out = Vec::new();
                reader.read_to_end(&mut out).await?;
                Ok((compression, out))
            }
        }
    }

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Bzip2,
        Compression::Xz,
        Compression::Zstd,
    ];

    #[tokio::test]
    async fn every_format_round_trips_with_any_chunking() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for compression in ALL {
            let body = encode(compression, &data).await;
            assert_eq!(detect(&body), compression);
            for chunk in [1, 3, 4096, usize::MAX] {
                let chunk = chunk.min(body.len());
                let (found, out) = decode_all(body.clone(), chunk).await.unwrap();
                assert_eq!(found, compression);
                assert_eq!(out, data, "{compression} in chunks of {chunk}");
            }
        }
    }

    #[tokio::test]
    async fn every_member_is_read() {
        for compression in [
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let mut body = encode(compression, b"first member|").await;
            body.extend(encode(compression, b"second member").await);
            let (_, out) = decode_all(body, 7).await.unwrap();
            assert_eq!(out, b"first member|second member", "{compression}");
        }
    }

    #[tokio::test]
    async fn zstd_skippable_frame_first() {
        // A skippable frame (magic 0x184D2A53, 4 bytes of payload) then a real frame.
        let mut body = vec![0x53, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
        body.extend(encode(Compression::Zstd, b"after skip").await);
        assert_eq!(detect(&body), Compression::Zstd);
        let (_, out) = decode_all(body, 5).await.unwrap();
        assert_eq!(out, b"after skip");
    }

    #[tokio::test]
    async fn short_and_empty_bodies_are_plain() {
        for body in [&b""[..], b"a", b"ustar"] {
            let (compression, out) = decode_all(body.to_vec(), 1).await.unwrap();
            assert_eq!(compression, Compression::None);
            assert_eq!(out, body);
        }
    }

    #[tokio::test]
    async fn corrupt_compressed_data_is_an_error() {
        let mut body = encode(Compression::Gzip, &[7u8; 10_000]).await;
        let middle = body.len() / 2;
        body.truncate(middle);
        assert!(decode_all(body, 100).await.is_err());
        let garbage = vec![
            0x1F, 0x8B, 0x08, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert!(decode_all(garbage, 100).await.is_err());
    }
}
