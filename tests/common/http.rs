//! A small HTTP/1.1 client over unix sockets, blocking, for tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
}

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn connect(sock: &Path) -> std::io::Result<UnixStream> {
    let s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    Ok(s)
}

/// `GET path` with `Connection: close`.
pub fn get(sock: &Path, path: &str) -> std::io::Result<Response> {
    request(sock, "GET", path, &[], b"")
}

/// One request on a fresh connection; `Content-Length` is added when `body` is
/// non-empty and no such header was given.
pub fn request(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_len = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    if !body.is_empty() && !has_len {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    raw_request(sock, &bytes)
}

/// Send these exact bytes, then read one response to the end.
pub fn raw_request(sock: &Path, raw: &[u8]) -> std::io::Result<Response> {
    let mut s = connect(sock)?;
    s.write_all(raw)?;
    read_response(&mut s, true)
}

/// Read one response from `s`. With `to_eof`, a body without framing is read to EOF.
pub fn read_response(s: &mut impl Read, to_eof: bool) -> std::io::Result<Response> {
    let (head, buffered) = read_head(s)?;
    read_body(s, head, buffered, to_eof)
}

/// Read only the status line and headers, leaving the body on the stream (for
/// streaming endpoints a test wants to abandon, or to act between a response's head and
/// its body). Returns the head and any body bytes already read past it.
pub fn read_head(s: &mut impl Read) -> std::io::Result<(Response, Vec<u8>)> {
    let mut r = Reader {
        inner: s,
        buf: Vec::new(),
    };
    let head = r.read_head()?;
    let (status, reason, headers) = parse_head(&head)?;
    Ok((
        Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        },
        r.buf,
    ))
}

/// The rest of a response whose head [`read_head`] returned (`buffered`: the bytes it
/// read past the head): its body, read with the head's framing.
pub fn read_body(
    s: &mut impl Read,
    mut head: Response,
    buffered: Vec<u8>,
    to_eof: bool,
) -> std::io::Result<Response> {
    let mut r = Reader {
        inner: s,
        buf: buffered,
    };
    let status = head.status;
    head.body = if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if head
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        r.read_chunked()?
    } else if let Some(len) = head.header("content-length") {
        let len: usize = len.trim().parse().map_err(|_| bad("bad content-length"))?;
        r.read_exact_n(len)?
    } else if to_eof {
        r.read_to_eof()?
    } else {
        Vec::new()
    };
    Ok(head)
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

type Head = (u16, String, Vec<(String, String)>);

fn parse_head(head: &[u8]) -> std::io::Result<Head> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("empty response"))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(&format!("not an HTTP/1 status line: {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    Ok((status, reason, headers))
}

struct Reader<'a, R: Read> {
    inner: &'a mut R,
    buf: Vec<u8>,
}

impl<R: Read> Reader<'_, R> {
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16384];
        let n = self.inner.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn read_head(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                let head = self.buf[..i].to_vec();
                self.buf.drain(..i + 4);
                return Ok(head);
            }
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before the response head ended; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        }
    }

    fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(bad("EOF inside chunked framing"));
            }
        }
    }

    fn read_exact_n(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(bad("EOF inside a body"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn read_to_eof(&mut self) -> std::io::Result<Vec<u8>> {
        while self.fill()? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }

    fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let line = String::from_utf8_lossy(&line);
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad(&format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_exact_n(size)?);
            if !self.read_line()?.is_empty() {
                return Err(bad("chunk not followed by CRLF"));
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Percent-encode a path segment (image names contain `/` and `:`).
pub fn escape_path(s: &str) -> String {
    escape(s, |c| c.is_ascii_alphanumeric() || b"-._~:".contains(&c))
}

/// Percent-encode a query value.
pub fn escape_query(s: &str) -> String {
    escape(s, |c| c.is_ascii_alphanumeric() || b"-._~".contains(&c))
}

fn escape(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if keep(c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}
