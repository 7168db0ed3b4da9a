//! Raw `POST /build` requests and what comes back, for the limits, faults and load
//! tests, where every header byte and every pause is the test's:
//!
//! - [`BuildRequest`]: a build on its own connection whose body is written by a
//!   separate thread (paced, cut off, or streamed from a generator) while the caller
//!   reads the response, so a gateway that answers before reading the whole body cannot
//!   deadlock the test;
//! - [`BuildOutput`]: the daemon's JSON-lines build output, parsed;
//! - [`assert_built`], [`assert_refused`]: the two verdicts;
//! - [`gzip_bomb`]: a multi-member gzip whose decompressed size is ~1000x its own.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{http, ustar, wait_for};

/// The first line of every Dockerfile these tests build.
pub const FROM: &str = "FROM buildgate-test/busybox:latest\n";

/// A gzip stream (many members, as Go and the gateway both read them) that decompresses
/// to a tar of one `mib` MiB file of zeros plus a Dockerfile: about 1 KiB per MiB.
pub fn gzip_bomb(mib: u64) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    let gz = |data: &[u8]| {
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut head = ustar::file("Dockerfile", format!("{FROM}RUN true\n").as_bytes());
    head.extend(ustar::header("zeros", b'0', mib << 20));
    let mut out = gz(&head);
    let member = gz(&vec![0u8; 1 << 20]);
    for _ in 0..mib {
        out.extend_from_slice(&member);
    }
    out.extend(gz(&ustar::END));
    out
}

/// The connection a body is written to. Writes through it count as uploaded
/// ([`RunningBuild::uploaded`]); chunk framing goes to `stream` directly and does not.
pub struct Upload {
    pub stream: UnixStream,
    sent: Arc<AtomicU64>,
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Writes a streamed body.
pub type BodyWriter = Box<dyn FnOnce(&mut Upload) -> io::Result<()> + Send>;

/// How the body of a [`BuildRequest`] is written.
pub enum Body {
    /// All at once.
    Bytes(Vec<u8>),
    /// In `chunk`-sized writes with `pause` after each (a slow uploader).
    Paced {
        data: Vec<u8>,
        chunk: usize,
        pause: Duration,
    },
    /// The first `send` bytes of `data` (whose full length is declared), then the
    /// socket is closed: a client that dies mid-upload. With `half_close`, only the
    /// sending side is shut: the client stops uploading but still reads the answer.
    CutAfter {
        data: Vec<u8>,
        send: usize,
        half_close: bool,
    },
    /// Like `CutAfter`, but sent with chunked framing (as the docker CLI sends
    /// contexts): 64 KiB chunks up to `send` bytes, then the socket is closed at a clean
    /// chunk boundary, without the terminating zero-length chunk.
    CutChunked {
        data: Vec<u8>,
        send: usize,
        half_close: bool,
    },
    /// Produced by a callback, for contexts too large to hold twice.
    Stream { len: u64, write: BodyWriter },
}

/// A raw `POST /build` on its own connection.
pub struct BuildRequest {
    pub query: String,
    pub body: Body,
    pub extra_headers: Vec<(String, String)>,
}

/// What came back, and what the writer thread saw.
pub struct BuildResult {
    /// The response, or the error reading it.
    pub response: io::Result<http::Response>,
    /// Bytes the writer managed to send, and how its writing ended.
    pub written: u64,
    pub write_error: Option<io::Error>,
    /// From sending the head to the end of the response.
    pub elapsed: Duration,
}

impl BuildResult {
    /// The response; panics with the read error.
    #[track_caller]
    pub fn response(&self) -> &http::Response {
        match &self.response {
            Ok(r) => r,
            Err(e) => panic!("no response to the build: {e}"),
        }
    }
}

impl BuildRequest {
    pub fn new(query: &str, body: Body) -> BuildRequest {
        BuildRequest {
            query: query.to_string(),
            body,
            extra_headers: Vec::new(),
        }
    }

    /// Send the head, write the body from another thread, read the response here.
    pub fn send(self, sock: &Path) -> BuildResult {
        self.start(sock).finish()
    }

    /// Send the head and start the writer and a reader thread; the response can be
    /// watched while it streams ([`RunningBuild::wait_for`]).
    pub fn start(self, sock: &Path) -> RunningBuild {
        let mut s = http::connect(sock).expect("connect to the gateway");
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let framing = match &self.body {
            Body::Bytes(d) | Body::Paced { data: d, .. } | Body::CutAfter { data: d, .. } => {
                format!("Content-Length: {}", d.len())
            }
            Body::Stream { len, .. } => format!("Content-Length: {len}"),
            Body::CutChunked { .. } => "Transfer-Encoding: chunked".to_string(),
        };
        let mut head = format!(
            "POST /build?{} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\n\
             {framing}\r\nConnection: close\r\n",
            self.query
        );
        for (k, v) in &self.extra_headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let started = Instant::now();
        s.write_all(head.as_bytes())
            .expect("write the request head");
        let sent = Arc::new(AtomicU64::new(0));
        let mut w = Upload {
            stream: s.try_clone().unwrap(),
            sent: sent.clone(),
        };
        let body = self.body;
        let writer = thread::spawn(move || -> Option<io::Error> {
            let cut = |w: &Upload, half_close: bool| {
                // Closing our clone alone would not close the socket: shut it down for
                // both directions, as a dying process's exit does.
                w.stream.shutdown(if half_close {
                    Shutdown::Write
                } else {
                    Shutdown::Both
                })
            };
            let result = (|| -> io::Result<()> {
                match body {
                    Body::Bytes(data) => {
                        for c in data.chunks(1 << 20) {
                            w.write_all(c)?;
                        }
                    }
                    Body::Paced { data, chunk, pause } => {
                        for c in data.chunks(chunk) {
                            w.write_all(c)?;
                            // The stimulus: an uploader this slow.
                            thread::sleep(pause);
                        }
                    }
                    Body::CutAfter {
                        data,
                        send,
                        half_close,
                    } => {
                        w.write_all(&data[..send])?;
                        w.flush()?;
                        cut(&w, half_close)?;
                    }
                    Body::CutChunked {
                        data,
                        send,
                        half_close,
                    } => {
                        for c in data[..send].chunks(64 * 1024) {
                            write!(w.stream, "{:x}\r\n", c.len())?;
                            w.write_all(c)?;
                            w.stream.write_all(b"\r\n")?;
                        }
                        cut(&w, half_close)?;
                    }
                    Body::Stream { write, .. } => write(&mut w)?,
                }
                Ok(())
            })();
            result.err()
        });
        let raw = Arc::new(Mutex::new((Vec::new(), false, None::<io::Error>)));
        let mut r = s.try_clone().unwrap();
        let sink = raw.clone();
        let reader = thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().0.extend_from_slice(&buf[..n]),
                    Err(e) => {
                        sink.lock().unwrap().2 = Some(e);
                        break;
                    }
                }
            }
            sink.lock().unwrap().1 = true;
        });
        RunningBuild {
            stream: s,
            raw,
            sent,
            writer,
            reader,
            started,
        }
    }
}

type Shared = Arc<Mutex<(Vec<u8>, bool, Option<io::Error>)>>;

/// A build whose response is still streaming in.
pub struct RunningBuild {
    stream: UnixStream,
    /// Bytes received so far, whether the gateway closed, and a read error.
    raw: Shared,
    /// Body bytes written so far.
    sent: Arc<AtomicU64>,
    writer: thread::JoinHandle<Option<io::Error>>,
    reader: thread::JoinHandle<()>,
    pub started: Instant,
}

impl RunningBuild {
    /// Wait until the raw response contains `needle`; false on timeout or EOF first.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || {
            let g = self.raw.lock().unwrap();
            if g.0.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                Some(true)
            } else if g.1 {
                Some(false)
            } else {
                None
            }
        })
        .unwrap_or(false)
    }

    /// Body bytes written so far (chunk framing not counted).
    pub fn uploaded(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Everything received so far, as text.
    pub fn so_far(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap().0).into_owned()
    }

    /// Vanish: close the connection both ways, as a killed client does, and wait for
    /// the helper threads.
    pub fn abandon(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        drop(self.stream);
        let _ = self.reader.join();
        let _ = self.writer.join();
    }

    /// Wait for the gateway to end the response (120 s at most), then parse it.
    pub fn finish(self) -> BuildResult {
        let _ = self.reader.join();
        let elapsed = self.started.elapsed();
        let _ = self.stream.shutdown(Shutdown::Both);
        let write_error = self.writer.join().expect("writer thread");
        let written = self.sent.load(Ordering::Relaxed);
        let mut g = self.raw.lock().unwrap();
        let bytes = std::mem::take(&mut g.0);
        let response = match http::read_response(&mut io::Cursor::new(&bytes), true) {
            Ok(r) => Ok(r),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!(
                    "{e} (read error: {:?}; got {:?})",
                    g.2,
                    String::from_utf8_lossy(&bytes)
                ),
            )),
        };
        BuildResult {
            response,
            written,
            write_error,
            elapsed,
        }
    }
}

/// The JSON lines of a build's output.
#[derive(Debug)]
pub struct BuildOutput {
    pub lines: Vec<serde_json::Value>,
    pub raw: String,
}

impl BuildOutput {
    pub fn parse(body: &[u8]) -> BuildOutput {
        let raw = String::from_utf8_lossy(body).into_owned();
        let lines = raw
            .split(['\n', '\r'])
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("build output line is not JSON ({e}): {l:?}"))
            })
            .collect();
        BuildOutput { lines, raw }
    }

    /// The `errorDetail` message, if the build failed.
    pub fn error(&self) -> Option<String> {
        self.lines.iter().find_map(|l| {
            l.get("errorDetail")
                .map(|d| d["message"].as_str().unwrap_or_default().to_string())
                .or_else(|| {
                    l.get("error")
                        .map(|e| e.as_str().unwrap_or_default().into())
                })
        })
    }

    /// The image ID the daemon reported (`aux.ID`), if the build succeeded.
    pub fn image_id(&self) -> Option<String> {
        self.lines
            .iter()
            .find_map(|l| l["aux"]["ID"].as_str().map(str::to_string))
    }

    /// The concatenated `stream` texts.
    pub fn stream(&self) -> String {
        self.lines
            .iter()
            .filter_map(|l| l["stream"].as_str())
            .collect()
    }
}

/// Assert a build succeeded; return its image ID.
#[track_caller]
pub fn assert_built(r: &BuildResult, what: &str) -> String {
    let resp = r.response();
    assert_eq!(resp.status, 200, "{what}: {resp:?} {}", resp.text());
    let out = BuildOutput::parse(&resp.body);
    assert!(out.error().is_none(), "{what} failed: {}", out.raw);
    out.image_id()
        .unwrap_or_else(|| panic!("{what}: no image ID in the output: {}", out.raw))
}

/// Assert a Docker-style JSON refusal: `status`, `application/json`, a message that
/// starts with `buildgate: ` and contains every one of `needles`. Returns the message.
#[track_caller]
pub fn assert_refused(resp: &http::Response, status: u16, needles: &[&str]) -> String {
    assert_eq!(
        resp.status,
        status,
        "expected {status}, got {} {:?}",
        resp.status,
        resp.text()
    );
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "not JSON: {resp:?}"
    );
    let msg = resp.json()["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {}", resp.text()))
        .to_string();
    assert!(msg.starts_with("buildgate: "), "{msg:?}");
    for n in needles {
        assert!(msg.contains(n), "message lacks {n:?}: {msg:?}");
    }
    msg
}
