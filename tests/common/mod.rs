//! Shared helpers for buildgate's end-to-end tests.
//!
//! These tests run the real `buildgate` binary in front of a real dockerd: the private
//! daemon that `scripts/test.sh` starts and names in `BUILDGATE_TEST_DOCKER_HOST`.
//!
//! - [`docker_host`] finds that daemon. Without one a test skips when run by hand, but
//!   **panics under `CI=true`**: an end-to-end test must never pass by not running.
//! - [`Gateway`] spawns the binary on a socket in its own temp dir, waits until it
//!   answers, captures its log, and kills it on drop (printing the log if the test
//!   failed).
//! - [`Docker`] runs a docker CLI against the gateway with a timeout and optional stdin;
//!   [`clis`] lists the CLIs to test with (the 28.x one and Debian's 20.10 one).
//! - [`http`] is a small raw HTTP/1.1 client over a unix socket, for requests no CLI
//!   would send and for streams a test wants to drop half-way.
//! - [`Cleanup`] removes what a test made, found by a per-test label or by name, so
//!   tests can run in parallel against one daemon.
//!
//! Everything here is blocking std code: tests are plain `#[test]` functions.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The base image `scripts/base-image.sh` makes: static busybox, `CMD ["/bin/sh"]`.
pub const IMAGE: &str = "buildgate-test/busybox:latest";

/// How long a CLI call may take before the test calls it hung.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// True when running in CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("yes")
    )
}

/// Skip (outside CI) or fail (in CI) for a missing prerequisite.
///
/// Returns `None` so callers can write `let Some(x) = ... else { return };`.
pub fn skip_or_fail<T>(why: &str) -> Option<T> {
    if in_ci() {
        panic!("CI=true and an end-to-end prerequisite is missing: {why}");
    }
    eprintln!("SKIPPED: {why} (run scripts/test.sh to set it up)");
    None
}

/// [`docker_host`], or return from the calling test: a skip by hand, a failure under
/// `CI=true`. Test crates get it with `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! daemon_or_skip {
    () => {
        match common::docker_host() {
            Some(h) => h,
            None => return,
        }
    };
}

/// The private dockerd's address (`unix:///…/docker.sock`), if it answers `/_ping`.
pub fn docker_host() -> Option<String> {
    let Ok(host) = std::env::var("BUILDGATE_TEST_DOCKER_HOST") else {
        return skip_or_fail("BUILDGATE_TEST_DOCKER_HOST is not set");
    };
    let Some(path) = unix_path(&host) else {
        return skip_or_fail(&format!(
            "BUILDGATE_TEST_DOCKER_HOST={host} is not a unix:// address"
        ));
    };
    match http::get(&path, "/_ping") {
        Ok(r) if r.status == 200 && r.body == b"OK" => Some(host),
        Ok(r) => skip_or_fail(&format!(
            "the daemon at {host} answered /_ping with {} {:?}",
            r.status,
            r.text()
        )),
        Err(e) => skip_or_fail(&format!("the daemon at {host} does not answer: {e}")),
    }
}

/// `unix:///x/y`, `unix://x` or a bare absolute path → the socket path.
pub fn unix_path(addr: &str) -> Option<PathBuf> {
    if let Some(p) = addr.strip_prefix("unix://") {
        Some(PathBuf::from(p))
    } else if addr.starts_with('/') {
        Some(PathBuf::from(addr))
    } else {
        None
    }
}

/// A name no other test (or other run of this test binary) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// Poll `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ------------------------------------------------------------------------ gateway

/// How to start a gateway; [`Gateway::start`] covers the usual case.
#[derive(Clone, Debug)]
pub struct GatewayOpts {
    /// `--upstream`.
    pub upstream: String,
    /// `--owner`.
    pub owner: String,
    /// Socket path for `--listen unix://…`; `None` picks `<tempdir>/gw.sock`.
    pub listen: Option<PathBuf>,
    /// Appended after the standard arguments.
    pub extra: Vec<String>,
}

impl GatewayOpts {
    pub fn new(upstream: &str) -> Self {
        GatewayOpts {
            upstream: upstream.to_string(),
            owner: unique("owner"),
            listen: None,
            extra: Vec::new(),
        }
    }
}

/// A running `buildgate` process listening on a unix socket in its own temp dir.
pub struct Gateway {
    child: Option<Child>,
    /// Holds the socket and the log; removed on drop.
    pub dir: tempfile::TempDir,
    /// The socket it listens on.
    pub sock: PathBuf,
    /// The value of `--owner` it was given (unique per gateway).
    pub owner: String,
    log_path: PathBuf,
}

impl Gateway {
    /// Start the gateway in front of `upstream` with the standard arguments
    /// (`--listen unix://<tmp>/gw.sock --upstream … --owner <unique> --log-level debug`)
    /// plus `extra`, and wait until it answers `GET /_ping`. Panics with its log if it
    /// exits or does not answer within 30 s.
    pub fn start(upstream: &str, extra: &[&str]) -> Gateway {
        let mut opts = GatewayOpts::new(upstream);
        opts.extra = extra.iter().map(|s| s.to_string()).collect();
        Self::start_with(opts)
    }

    pub fn start_with(opts: GatewayOpts) -> Gateway {
        let mut gw = Self::spawn(opts);
        gw.wait_ready(Duration::from_secs(30));
        gw
    }

    /// Spawn without waiting for it to answer (for tests that expect it to fail).
    pub fn spawn(opts: GatewayOpts) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("buildgate-gw-")
            .tempdir()
            .expect("temp dir");
        let sock = opts
            .listen
            .clone()
            .unwrap_or_else(|| dir.path().join("gw.sock"));
        let log_path = dir.path().join("gateway.log");
        let log = fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_buildgate"));
        cmd.arg("--listen")
            .arg(format!("unix://{}", sock.display()))
            .arg("--upstream")
            .arg(&opts.upstream)
            .arg("--owner")
            .arg(&opts.owner)
            .arg("--log-level")
            .arg("debug")
            .args(&opts.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        // Keep the environment from configuring the gateway behind the test's back.
        for (k, _) in std::env::vars() {
            if k.starts_with("BUILDGATE_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().expect("spawn the buildgate binary");
        Gateway {
            child: Some(child),
            dir,
            sock,
            owner: opts.owner,
            log_path,
        }
    }

    /// Wait until the socket answers any HTTP response to `GET /_ping` (a 502 counts:
    /// the gateway is up even if the daemon is not).
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if http::get(&self.sock, "/_ping").is_ok_and(|r| r.status > 0) {
                return;
            }
            if let Some(status) = self.try_wait() {
                panic!(
                    "buildgate exited with {status} before answering on {}\n{}",
                    self.sock.display(),
                    self.log_banner()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "buildgate did not answer on {} within {timeout:?}\n{}",
                    self.sock.display(),
                    self.log_banner()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// `unix:///…/gw.sock`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("gateway process").id()
    }

    /// Everything the gateway wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_banner(&self) -> String {
        format!(
            "----- buildgate log ({}) -----\n{}\n----- end of buildgate log -----",
            self.log_path.display(),
            self.log()
        )
    }

    /// The exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().expect("try_wait")
    }

    /// Wait up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_for(timeout, || self.try_wait())
    }

    /// Send a signal (e.g. `libc::SIGTERM`) to the gateway.
    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    /// Number of open file descriptors of the gateway process.
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/<pid>/fd")
            .count()
    }

    /// Number of threads of the gateway process.
    pub fn thread_count(&self) -> usize {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// `GET path` through the gateway.
    pub fn get(&self, path: &str) -> http::Response {
        http::get(&self.sock, path)
            .unwrap_or_else(|e| panic!("GET {path} via gateway: {e}\n{}", self.log_banner()))
    }

    /// A docker CLI command against this gateway.
    pub fn docker(&self, cli: &Cli) -> Docker {
        Docker::new(cli, &self.host())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.log_banner());
        }
    }
}

// ------------------------------------------------------------------------ docker CLI

/// A docker CLI binary to test with.
#[derive(Clone, Debug)]
pub struct Cli {
    pub path: PathBuf,
    /// Short label for messages, e.g. `28.2.2`.
    pub version: String,
}

/// The docker CLIs to run the CLI tests with: `BUILDGATE_TEST_DOCKER_CLIS` (colon
/// separated paths) if set, else whichever of `/usr/local/bin/docker` (the machine's
/// 28.x) and `/usr/bin/docker` (Debian's 20.10) exist. Under CI=true both must be there.
pub fn clis() -> Vec<Cli> {
    let explicit = std::env::var("BUILDGATE_TEST_DOCKER_CLIS")
        .ok()
        .filter(|v| !v.is_empty());
    let paths: Vec<PathBuf> = match &explicit {
        Some(v) => v.split(':').map(PathBuf::from).collect(),
        None => ["/usr/local/bin/docker", "/usr/bin/docker"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect(),
    };
    let mut out: Vec<Cli> = Vec::new();
    for path in paths {
        let o = Command::new(&path)
            .args(["version", "--format", "{{.Client.Version}}"])
            .env("DOCKER_HOST", "unix:///nonexistent")
            .stdin(Stdio::null())
            .output();
        let version = match o {
            Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            Err(e) => panic!("cannot run {}: {e}", path.display()),
        };
        assert!(
            !version.is_empty(),
            "{} printed no client version",
            path.display()
        );
        if out.iter().any(|c| c.version == version) {
            continue;
        }
        out.push(Cli { path, version });
    }
    if out.is_empty() {
        skip_or_fail::<()>("no docker CLI found");
    }
    // CI promises both the old and the new client; don't let a missing one shrink the
    // matrix silently.
    if in_ci() && explicit.is_none() && out.len() < 2 {
        panic!(
            "CI=true expects two docker CLIs (/usr/local/bin/docker 28.x and Debian's \
             /usr/bin/docker 20.10), found {out:?}; set BUILDGATE_TEST_DOCKER_CLIS to override"
        );
    }
    out
}

/// The result of a CLI run.
#[derive(Debug)]
pub struct Output {
    pub cmdline: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// Panic with everything known unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panic unless the command finished (in time) with a failure.
    #[track_caller]
    pub fn failed(self) -> Self {
        assert!(
            !self.timed_out && self.status.is_some_and(|s| !s.success()),
            "command should have failed: {self}"
        );
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.cmdline,
            if self.timed_out {
                "TIMED OUT".to_string()
            } else {
                format!("exited with {:?}", self.status)
            },
            self.stdout,
            self.stderr
        )
    }
}

/// A docker CLI invocation: `Docker::new(cli, host).args([...]).stdin(b"..").run()`.
pub struct Docker {
    cli: Cli,
    host: String,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl Docker {
    pub fn new(cli: &Cli, host: &str) -> Docker {
        Docker {
            cli: cli.clone(),
            host: host.to_string(),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
            timeout: CLI_TIMEOUT,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// Bytes to pipe to the CLI's stdin; the pipe is closed after them.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The command, ready to spawn (for tests that manage the process themselves).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.cli.path);
        cmd.args(&self.args)
            .env("DOCKER_HOST", &self.host)
            // A private config dir: no contexts, credential helpers or aliases of the
            // user's can change what the CLI sends.
            .env("DOCKER_CONFIG", docker_config_dir())
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn cmdline(&self) -> String {
        format!(
            "DOCKER_HOST={} {} {}",
            self.host,
            self.cli.path.display(),
            self.args.join(" ")
        )
    }

    /// Run to completion (or timeout, then kill).
    pub fn run(self) -> Output {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.cmdline()));
        let writer = self.stdin.clone().map(|data| {
            let mut pipe = child.stdin.take().unwrap();
            thread::spawn(move || {
                let _ = pipe.write_all(&data);
                // Dropping the pipe closes it: the CLI sees EOF.
            })
        });
        let out_reader = read_all_in_thread(child.stdout.take().unwrap());
        let err_reader = read_all_in_thread(child.stderr.take().unwrap());
        let status = wait_for(self.timeout, || child.try_wait().ok().flatten());
        let timed_out = status.is_none();
        if timed_out {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(w) = writer {
            let _ = w.join();
        }
        Output {
            cmdline: self.cmdline(),
            status,
            timed_out,
            stdout: String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
        }
    }
}

fn read_all_in_thread(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn docker_config_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("buildgate-test-docker-config");
    let _ = fs::create_dir_all(&dir);
    dir
}

// ------------------------------------------------------------------------ daemon-side inspection

/// Talks to the daemon directly (not through the gateway) to inspect and clean up.
#[derive(Clone, Debug)]
pub struct Daemon {
    pub host: String,
    pub sock: PathBuf,
}

impl Daemon {
    pub fn new(host: &str) -> Daemon {
        Daemon {
            host: host.to_string(),
            sock: unix_path(host).expect("unix:// daemon address"),
        }
    }

    fn json(&self, method: &str, path: &str) -> Option<serde_json::Value> {
        let r = http::request(&self.sock, method, path, &[], b"").ok()?;
        if r.status != 200 {
            return None;
        }
        serde_json::from_slice(&r.body).ok()
    }

    /// `docker image inspect`, or None if there is no such image.
    pub fn inspect_image(&self, name: &str) -> Option<serde_json::Value> {
        self.json("GET", &format!("/images/{}/json", http::escape_path(name)))
    }

    /// `docker container inspect`, or None if there is no such container.
    pub fn inspect_container(&self, name: &str) -> Option<serde_json::Value> {
        self.json(
            "GET",
            &format!("/containers/{}/json", http::escape_path(name)),
        )
    }

    pub fn image_labels(&self, name: &str) -> HashMap<String, String> {
        let v = self
            .inspect_image(name)
            .unwrap_or_else(|| panic!("no image {name}"));
        labels_of(&v["Config"]["Labels"])
    }

    pub fn container_labels(&self, name: &str) -> HashMap<String, String> {
        let v = self
            .inspect_container(name)
            .unwrap_or_else(|| panic!("no container {name}"));
        labels_of(&v["Config"]["Labels"])
    }

    /// IDs of all containers (running or not) matching a `label` filter (`k` or `k=v`).
    pub fn containers_with_label(&self, label: &str) -> Vec<String> {
        self.ids(&format!(
            "/containers/json?all=1&filters={}",
            http::escape_query(&format!(r#"{{"label":["{label}"]}}"#))
        ))
    }

    /// IDs of all images matching a `label` filter (`k` or `k=v`).
    pub fn images_with_label(&self, label: &str) -> Vec<String> {
        self.ids(&format!(
            "/images/json?all=1&filters={}",
            http::escape_query(&format!(r#"{{"label":["{label}"]}}"#))
        ))
    }

    fn ids(&self, path: &str) -> Vec<String> {
        match self.json("GET", path) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|c| c["Id"].as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn remove_container(&self, id: &str) {
        let _ = http::request(
            &self.sock,
            "DELETE",
            &format!("/containers/{}?force=1&v=1", http::escape_path(id)),
            &[],
            b"",
        );
    }

    pub fn remove_image(&self, id: &str) {
        let _ = http::request(
            &self.sock,
            "DELETE",
            &format!("/images/{}?force=1", http::escape_path(id)),
            &[],
            b"",
        );
    }
}

fn labels_of(v: &serde_json::Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes, on drop, the containers and images a test made: those carrying this
/// guard's label ([`Cleanup::label`], pass it as `--label`), those with a label the test
/// registered ([`Cleanup::label_filter`], e.g. the gateway's owner label), and those
/// registered by name.
pub struct Cleanup {
    pub daemon: Daemon,
    /// `buildgate-test=<unique>`.
    pub label: String,
    filters: Vec<String>,
    containers: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    pub fn new(daemon_host: &str) -> Cleanup {
        Cleanup {
            daemon: Daemon::new(daemon_host),
            label: format!("buildgate-test={}", unique("t")),
            filters: Vec::new(),
            containers: Vec::new(),
            images: Vec::new(),
        }
    }

    /// Also remove containers and images whose labels match `filter` (`k` or `k=v`).
    pub fn label_filter(&mut self, filter: &str) {
        self.filters.push(filter.to_string());
    }

    pub fn container(&mut self, name: &str) {
        self.containers.push(name.to_string());
    }

    pub fn image(&mut self, name: &str) {
        self.images.push(name.to_string());
    }

    pub fn run_now(&mut self) {
        let mut filters = vec![self.label.clone()];
        filters.extend(self.filters.iter().cloned());
        for f in &filters {
            for id in self.daemon.containers_with_label(f) {
                self.daemon.remove_container(&id);
            }
        }
        for c in &self.containers {
            self.daemon.remove_container(c);
        }
        for f in &filters {
            for id in self.daemon.images_with_label(f) {
                self.daemon.remove_image(&id);
            }
        }
        for i in &self.images {
            self.daemon.remove_image(i);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run_now();
    }
}

// ------------------------------------------------------------------------ raw HTTP

/// A small HTTP/1.1 client over unix sockets, blocking, for tests.
pub mod http {
    use super::*;

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
        let mut r = Reader {
            inner: s,
            buf: Vec::new(),
        };
        let head = r.read_head()?;
        let (status, reason, headers) = parse_head(&head)?;
        let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let body = if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            r.read_chunked()?
        } else if let Some(len) = find("content-length") {
            let len: usize = len.trim().parse().map_err(|_| bad("bad content-length"))?;
            r.read_exact_n(len)?
        } else if to_eof {
            r.read_to_eof()?
        } else {
            Vec::new()
        };
        Ok(Response {
            status,
            reason,
            headers,
            body,
        })
    }

    /// Read only the status line and headers, leaving the body on the stream (for
    /// streaming endpoints a test wants to abandon). Returns the head and any body bytes
    /// already read past it.
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
}
