//! The client, the same for every peer: plain blocking HTTP/1.1 over a unix socket.
//!
//! Builds send the context with `Content-Length`; a file goes with `sendfile(2)` (what
//! `std::io::copy` does from a file to a socket), so the client costs next to nothing
//! and the proxy's cost shows. The response is read to its end on a second thread,
//! which also means a proxy that answers before reading the whole body cannot
//! deadlock the client.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::workloads;

/// What a build request sends.
#[derive(Clone, Debug)]
pub enum Body {
    File(PathBuf),
    /// A [`workloads::blobs`] archive generated while it is sent (the 4 GiB memory check).
    Blobs {
        files: u32,
        size: u64,
    },
}

impl Body {
    pub fn len(&self) -> io::Result<u64> {
        match self {
            Body::File(path) => Ok(std::fs::metadata(path)?.len()),
            Body::Blobs { files, size } => Ok(workloads::blobs_len(*files, *size)),
        }
    }
}

/// A response, read to its end.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Reads one HTTP/1.1 response (`Content-Length`, chunked, or to EOF).
pub fn read_response<R: BufRead>(r: &mut R) -> io::Result<Response> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status = std::str::from_utf8(&line)
        .ok()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::other(format!(
                "bad status line {:?}",
                String::from_utf8_lossy(&line)
            ))
        })?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "headers cut off",
            ));
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        if let Some((name, value)) = text.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_until(b'\n', &mut line)?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {text:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line)? == 0 || line == b"\r\n" || line == b"\n" {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_until(b'\n', &mut line)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Response { status, body })
}

/// One finished build request.
pub struct Build {
    pub elapsed: Duration,
    /// Bytes the sink says it received (None when the upstream is a real daemon).
    pub received: Option<u64>,
}

/// POSTs `body` to `/build` at `socket` and reads the answer to its end.
pub fn build(socket: &Path, body: &Body) -> io::Result<Build> {
    let len = body.len()?;
    let start = Instant::now();
    let stream = UnixStream::connect(socket)?;
    let reading = stream.try_clone()?;
    let reader =
        thread::spawn(move || read_response(&mut BufReader::with_capacity(64 << 10, reading)));
    let sent = send(&stream, body, len);
    let response = reader
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))?;
    let elapsed = start.elapsed();
    let response = match (response, sent) {
        (Ok(r), _) => r,
        (Err(e), Ok(())) => return Err(e),
        (Err(e), Err(send)) => return Err(io::Error::other(format!("{send}; then {e}"))),
    };
    let text = String::from_utf8_lossy(&response.body);
    if response.status != 200
        || !text.contains("Successfully built")
        || text.contains("errorDetail")
    {
        return Err(io::Error::other(format!(
            "build failed: status {}: {}",
            response.status,
            text.trim()
        )));
    }
    let received = text
        .split("sink received ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok());
    Ok(Build { elapsed, received })
}

fn send(mut stream: &UnixStream, body: &Body, len: u64) -> io::Result<()> {
    let head = format!(
        "POST /v1.41/build?t=bench%3Alatest&rm=1 HTTP/1.1\r\nHost: docker\r\n\
         User-Agent: buildgate-bench\r\nContent-Type: application/x-tar\r\n\
         Content-Length: {len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    match body {
        Body::File(path) => {
            let copied = io::copy(&mut File::open(path)?, &mut stream)?;
            if copied != len {
                return Err(io::Error::other("file changed while sending"));
            }
        }
        Body::Blobs { files, size } => {
            let out = io::BufWriter::with_capacity(1 << 20, stream);
            workloads::blobs(out, *files, *size, 4)?;
        }
    }
    Ok(())
}

/// `n` `GET /_ping` round trips on one keep-alive connection; returns the time taken.
/// `n` `GET path` round trips on one keep-alive connection, each answered 200.
pub fn gets(socket: &Path, path: &str, n: u32) -> io::Result<Duration> {
    let stream = UnixStream::connect(socket)?;
    let mut reader = BufReader::with_capacity(64 << 10, &stream);
    let mut writer = &stream;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: buildgate-bench\r\n\r\n");
    let start = Instant::now();
    for i in 0..n {
        writer.write_all(request.as_bytes())?;
        let response = read_response(&mut reader)?;
        if response.status != 200 {
            return Err(io::Error::other(format!(
                "GET {path} {i}: status {}: {:?}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )));
        }
    }
    Ok(start.elapsed())
}

pub fn pings(socket: &Path, n: u32) -> io::Result<Duration> {
    let stream = UnixStream::connect(socket)?;
    let mut reader = BufReader::with_capacity(16 << 10, &stream);
    let mut writer = &stream;
    let request = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: buildgate-bench\r\n\r\n";
    let start = Instant::now();
    for i in 0..n {
        writer.write_all(request)?;
        let response = read_response(&mut reader)?;
        if response.status != 200 || response.body != b"OK" {
            return Err(io::Error::other(format!(
                "ping {i}: status {}: {:?}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )));
        }
    }
    Ok(start.elapsed())
}
