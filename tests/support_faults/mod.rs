//! Helpers for the limits, faults and load end-to-end tests (`e2e_limits.rs`,
//! `e2e_faults.rs`, `e2e_load.rs`). They sit on top of `tests/common` (the gateway
//! process, the daemon's view, the raw HTTP client) and add:
//!
//! - [`gzip_bomb`]: a multi-member gzip whose decompressed size is ~1000× its own;
//! - [`BuildRequest`]: a raw `POST /build` whose body is written by a separate thread
//!   (paced, cut off, or streamed from a generator) while the caller reads the response,
//!   so a gateway that answers before reading the whole body cannot deadlock the test;
//! - [`BuildOutput`]: the daemon's JSON-lines build output, parsed;
//! - [`owned_objects`]: what the daemon holds that carries a gateway's owner label;
//! - [`FaultDaemon`]: a *second*, private dockerd for tests that stop, restart or freeze
//!   their daemon (never the shared one other test binaries use).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{self, Daemon, Gateway, http, ustar};

/// The base image every build starts from.
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

/// xorshift64*: fast, deterministic "random" bytes that no compressor can shrink.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

// ------------------------------------------------------------------------ raw builds

/// Writes a streamed body.
pub type BodyWriter = Box<dyn FnOnce(&mut UnixStream) -> io::Result<()> + Send>;

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
        let mut w = s.try_clone().unwrap();
        let body = self.body;
        let writer = thread::spawn(move || -> (u64, Option<io::Error>) {
            let mut written = 0u64;
            let result = (|| -> io::Result<()> {
                match body {
                    Body::Bytes(data) => {
                        for c in data.chunks(1 << 20) {
                            w.write_all(c)?;
                            written += c.len() as u64;
                        }
                    }
                    Body::Paced { data, chunk, pause } => {
                        for c in data.chunks(chunk) {
                            w.write_all(c)?;
                            written += c.len() as u64;
                            thread::sleep(pause);
                        }
                    }
                    Body::CutAfter {
                        data,
                        send,
                        half_close,
                    } => {
                        w.write_all(&data[..send])?;
                        written = send as u64;
                        w.flush()?;
                        // Closing our clone alone would not close the socket: shut it
                        // down for both directions, as a dying process's exit does.
                        w.shutdown(if half_close {
                            Shutdown::Write
                        } else {
                            Shutdown::Both
                        })?;
                    }
                    Body::CutChunked {
                        data,
                        send,
                        half_close,
                    } => {
                        for c in data[..send].chunks(64 * 1024) {
                            write!(w, "{:x}\r\n", c.len())?;
                            w.write_all(c)?;
                            w.write_all(b"\r\n")?;
                            written += c.len() as u64;
                        }
                        w.shutdown(if half_close {
                            Shutdown::Write
                        } else {
                            Shutdown::Both
                        })?;
                    }
                    Body::Stream { write, .. } => write(&mut w)?,
                }
                Ok(())
            })();
            (written, result.err())
        });
        let raw = std::sync::Arc::new(Mutex::new((Vec::new(), false, None::<io::Error>)));
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
            writer,
            reader,
            started,
        }
    }
}

type Shared = std::sync::Arc<Mutex<(Vec<u8>, bool, Option<io::Error>)>>;

/// A build whose response is still streaming in.
pub struct RunningBuild {
    stream: UnixStream,
    /// Bytes received so far, whether the gateway closed, and a read error.
    raw: Shared,
    writer: thread::JoinHandle<(u64, Option<io::Error>)>,
    reader: thread::JoinHandle<()>,
    pub started: Instant,
}

impl RunningBuild {
    /// Wait until the raw response contains `needle`; false on timeout or EOF first.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        common::wait_for(timeout, || {
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
        let (written, write_error) = self.writer.join().expect("writer thread");
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

// ------------------------------------------------------------------------ daemon's view

/// (containers, images) on the daemon carrying `owner=<owner>`, intermediate ones
/// included.
pub fn owned_objects(daemon: &Daemon, owner: &str) -> (Vec<String>, Vec<String>) {
    let filter = format!("owner={owner}");
    (
        daemon.containers_with_label(&filter),
        daemon.images_with_label(&filter),
    )
}

/// Assert that nothing on the daemon carries `owner=<owner>`: a refused or broken build
/// left nothing behind. Waits a moment first so a build the daemon is still finishing
/// would show up.
#[track_caller]
pub fn assert_nothing_owned(daemon: &Daemon, owner: &str, what: &str) {
    thread::sleep(Duration::from_millis(500));
    let (c, i) = owned_objects(daemon, owner);
    assert!(
        c.is_empty() && i.is_empty(),
        "{what}: the daemon holds objects owned by {owner}: containers {c:?}, images {i:?}"
    );
}

/// Remove every container and image carrying `owner=<owner>`.
pub fn remove_owned(daemon: &Daemon, owner: &str) {
    let (c, _) = owned_objects(daemon, owner);
    for id in c {
        daemon.remove_container(&id);
    }
    // Children before parents: retry until nothing is left or nothing changes.
    for _ in 0..5 {
        let (_, images) = owned_objects(daemon, owner);
        if images.is_empty() {
            break;
        }
        for id in images {
            daemon.remove_image(&id);
        }
    }
}

/// A gateway in front of `daemon` with `flags`, and a cleanup of what its owner made.
pub fn gateway(daemon: &str, flags: &[&str]) -> (Gateway, OwnedCleanup) {
    let gw = Gateway::start(daemon, flags);
    let cleanup = OwnedCleanup {
        daemon: Daemon::new(daemon),
        owner: gw.owner.clone(),
    };
    (gw, cleanup)
}

/// Removes everything a gateway's owner made, on drop.
pub struct OwnedCleanup {
    pub daemon: Daemon,
    pub owner: String,
}

impl Drop for OwnedCleanup {
    fn drop(&mut self) {
        remove_owned(&self.daemon, &self.owner);
    }
}

/// Wait up to 15 s for the gateway's open fds to come back to `baseline`; returns the
/// last count.
pub fn settle_fds(gw: &common::Gateway, baseline: usize) -> usize {
    common::wait_for(Duration::from_secs(15), || {
        let n = gw.fd_count();
        (n <= baseline).then_some(n)
    })
    .unwrap_or_else(|| gw.fd_count())
}

/// The gateway's open fds, resolved, for failure messages.
pub fn fd_list(gw: &common::Gateway) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{}/fd", gw.pid()))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A `/proc/<pid>/status` field in kB (`VmHWM`, `VmRSS`).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

// ------------------------------------------------------------------------ second daemon

/// Tests that take the second daemon hold this, so they never stop or freeze it under
/// each other.
static FAULT_DAEMON_LOCK: Mutex<()> = Mutex::new(());

/// A private dockerd of its own (`scripts/dockerd.sh` with its own
/// `BUILDGATE_TEST_DIR`: `$BUILDGATE_TEST_FAULTS_DIR`, else `$BUILDGATE_TEST_DIR-faults`,
/// else `/tmp/buildgate-faults`), for tests that stop,
/// restart or freeze the daemon. It is started on [`FaultDaemon::start`] and stopped
/// (after a `SIGCONT`, in case a test froze it) on drop, even when the test panics.
/// Under `CI=true` failing to start it fails the test.
pub struct FaultDaemon {
    pub dir: PathBuf,
    pub host: String,
    pub daemon: Daemon,
    _lock: std::sync::MutexGuard<'static, ()>,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl FaultDaemon {
    /// Start (or reuse) the second daemon and make sure the base image is there.
    /// `None` means skip (never under `CI=true`: there it panics).
    pub fn start() -> Option<FaultDaemon> {
        let lock = FAULT_DAEMON_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Next to the shared daemon's directory (scripts/test.sh exports it), so two
        // checkouts with their own BUILDGATE_TEST_DIR never share a second daemon.
        let dir = match (
            std::env::var("BUILDGATE_TEST_FAULTS_DIR"),
            std::env::var("BUILDGATE_TEST_DIR"),
        ) {
            (Ok(dir), _) if !dir.is_empty() => PathBuf::from(dir),
            (_, Ok(shared)) if !shared.is_empty() => {
                PathBuf::from(format!("{}-faults", shared.trim_end_matches('/')))
            }
            _ => PathBuf::from("/tmp/buildgate-faults"),
        };
        if Command::new("dockerd")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return common::skip_or_fail(
                "dockerd is not installed; the fault tests need a second daemon",
            );
        }
        let d = FaultDaemon {
            host: format!("unix://{}/dockerd/docker.sock", dir.display()),
            daemon: Daemon::new(&format!("unix://{}/dockerd/docker.sock", dir.display())),
            dir,
            _lock: lock,
        };
        // A run that died with the daemon frozen must not wedge this one.
        d.signal(Signal::SIGCONT);
        if let Err(e) = d.script_start() {
            return common::skip_or_fail(&format!("cannot start the second dockerd: {e}"));
        }
        let out = Command::new(repo().join("scripts/base-image.sh"))
            .env("DOCKER_HOST", &d.host)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/base-image.sh");
        assert!(
            out.status.success(),
            "base-image.sh on the second daemon: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Leftovers of an earlier run: every container, every image but the base.
        d.wipe();
        Some(d)
    }

    fn script(&self, action: &str) -> io::Result<std::process::Output> {
        Command::new(repo().join("scripts/dockerd.sh"))
            .arg(action)
            .env("BUILDGATE_TEST_DIR", &self.dir)
            .stdin(Stdio::null())
            .output()
    }

    fn script_start(&self) -> Result<(), String> {
        let out = self.script("start").map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "scripts/dockerd.sh start (BUILDGATE_TEST_DIR={}): {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let host = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(host, self.host, "dockerd.sh started it somewhere else");
        Ok(())
    }

    /// Start it again after [`FaultDaemon::stop`]; panics if it does not come up.
    pub fn restart(&self) {
        self.script_start().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stop it the way an operator would (`dockerd.sh stop`: SIGTERM, wait).
    pub fn stop(&self) {
        let out = self.script("stop").expect("dockerd.sh stop");
        assert!(
            out.status.success(),
            "dockerd.sh stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Crash it: SIGKILL, and wait until the process is gone. Its socket file stays
    /// behind, as after a real crash; [`FaultDaemon::restart`] copes with that.
    pub fn kill(&self) {
        let pid = self.pid().expect("no dockerd pid to kill");
        self.signal(Signal::SIGKILL);
        let gone = common::wait_for(Duration::from_secs(15), || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie its parent (setsid's) has not reaped yet.
            (stat.is_empty() || stat.contains(") Z ")).then_some(())
        });
        assert!(gone.is_some(), "dockerd {pid} survived SIGKILL");
        // Its containerd dies with it (dockerd starts it with a parent-death signal),
        // but a dockerd restarted meanwhile finds its pidfile, sees the pid still
        // "running" (dying, or a zombie nobody reaps where PID 1 does not reap, as in
        // many CI containers), waits for it to answer and gives up. Make sure it is dead
        // and drop its pidfile, so the restart starts a fresh one.
        let pidfile = self.dir.join("dockerd/exec/containerd/containerd.pid");
        if let Some(cpid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let dead = || {
                let stat =
                    std::fs::read_to_string(format!("/proc/{cpid}/stat")).unwrap_or_default();
                stat.is_empty() || stat.contains(") Z ")
            };
            let cmdline = std::fs::read(format!("/proc/{cpid}/cmdline")).unwrap_or_default();
            let ours = String::from_utf8_lossy(&cmdline).contains(&self.dir.display().to_string());
            if common::wait_for(Duration::from_secs(5), || dead().then_some(())).is_none() && ours {
                let _ = kill(Pid::from_raw(cpid), Signal::SIGKILL);
                common::wait_for(Duration::from_secs(5), || dead().then_some(()));
            }
            let _ = std::fs::remove_file(&pidfile);
        }
    }

    pub fn answers(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(&self.daemon.sock) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf.starts_with(b"HTTP/1.1 200")
    }

    /// The dockerd's pid, from its pidfile.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("dockerd/dockerd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            // Only a dockerd serving our socket (the pidfile may be stale).
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let ours = String::from_utf8_lossy(&cmdline)
                .contains(&format!("{}", self.daemon.sock.display()));
            if ours {
                let _ = kill(Pid::from_raw(pid), sig);
            }
        }
    }

    /// SIGSTOP the daemon until the guard is dropped (SIGCONT), so a failing test still
    /// thaws it.
    pub fn freeze(&self) -> Frozen<'_> {
        assert!(self.pid().is_some(), "no pid to freeze");
        self.signal(Signal::SIGSTOP);
        Frozen(self)
    }

    /// Remove every container and every image except the base image.
    pub fn wipe(&self) {
        let d = &self.daemon;
        let all = |path: &str| -> Vec<serde_json::Value> {
            http::get(&d.sock, path)
                .ok()
                .filter(|r| r.status == 200)
                .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
        };
        for c in all("/containers/json?all=1") {
            d.remove_container(c["Id"].as_str().unwrap_or_default());
        }
        for _ in 0..5 {
            let images: Vec<_> = all("/images/json?all=1")
                .into_iter()
                .filter(|i| {
                    !i["RepoTags"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t == common::IMAGE))
                })
                .collect();
            if images.is_empty() {
                break;
            }
            for i in images {
                d.remove_image(i["Id"].as_str().unwrap_or_default());
            }
        }
    }
}

impl FaultDaemon {
    /// After the daemon has stopped: end what a crash left behind (containerd shims of
    /// containers the crashed daemon ran, which nothing will reap), and unmount their
    /// root filesystems, so runs do not pile up processes and mounts.
    fn reap_strays(&self) {
        let needle = format!("{}/dockerd/", self.dir.display());
        let me = std::process::id().to_string();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&needle)
                && let Ok(pid) = name.parse::<i32>()
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        thread::sleep(Duration::from_millis(200));
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(&needle))
            .collect();
        ours.sort_unstable_by(|a, b| b.cmp(a));
        for m in ours {
            let _ = Command::new("umount")
                .arg(m)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for FaultDaemon {
    fn drop(&mut self) {
        self.signal(Signal::SIGCONT);
        if self.answers() {
            self.wipe();
        }
        let _ = self.script("stop");
        if self
            .pid()
            .is_none_or(|pid| !Path::new(&format!("/proc/{pid}/cmdline")).exists())
        {
            self.reap_strays();
        }
    }
}

/// A frozen daemon; thawed on drop.
pub struct Frozen<'a>(&'a FaultDaemon);

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.0.signal(Signal::SIGCONT);
    }
}
