//! Shared helpers for buildgate's integration tests, one crate for all of them: every
//! test binary includes it with `#[macro_use] mod common;` and uses what it needs.
//!
//! The end-to-end tests run the real `buildgate` binary in front of a real dockerd: the
//! private daemon that `scripts/test.sh` starts and names in
//! `BUILDGATE_TEST_DOCKER_HOST`.
//!
//! - Prerequisites: [`docker_host`] finds that daemon, [`docker_py`] a Python with
//!   docker-py, [`go_oracle`] builds a Go oracle, [`new_cli`] and [`old_cli`] pick a
//!   docker CLI. Each returns `None` for a skip when run by hand, but **panics under
//!   `CI=true`** ([`skip_or_fail`]): a test must never pass by not running. The
//!   `*_or_skip!` macros return from the test on `None`.
//! - Waiting: [`wait_for`] polls a condition to a deadline, [`wait_settled`] until a
//!   value holds still. Tests wait for what they need, never for a fixed time.
//! - [`Gateway`] (`gateway.rs`) spawns the binary on a socket in its own temp dir, waits
//!   until it answers, captures its log, and kills it on drop (printing the log if the
//!   test failed); it also counts its fds for the leak checks.
//! - [`Docker`] (`cli.rs`) runs a docker CLI against the gateway with a timeout and
//!   optional stdin; [`clis`] lists the CLIs to test with (28.x and Debian's 20.10).
//! - [`Daemon`] (`daemon.rs`) inspects the daemon directly and makes images on it
//!   (import, commit, tag, push); [`Cleanup`] and [`OwnedCleanup`] remove what a test
//!   made (containers, images, volumes, networks), so tests can run in parallel
//!   against one daemon; [`Daemon::descendants`] finds what was built on a test's own
//!   base images ([`Lineage`]) whoever else uses the daemon; [`assert_owned`] and
//!   [`assert_nothing_owned`] are the ownership verdicts.
//! - [`registry::Registry`] is a private image registry on 127.0.0.1 with password
//!   auth, for bases that must be pulled.
//! - [`http`] is a small raw HTTP/1.1 client over a unix socket, for requests no CLI
//!   would send and for streams a test wants to drop half-way; [`build`] sends raw
//!   `POST /build`s with bodies paced, cut off or streamed.
//! - [`confine`]: raw API calls against the daemon or a gateway ([`confine::Api`]) and
//!   a gateway started with `--confine` ([`confine::Confined`]), for the confinement
//!   tests.
//! - [`FaultDaemon`] (`fault_daemon.rs`) is a second private dockerd for tests that
//!   stop, crash or freeze their daemon.
//! - [`ustar`] writes tar archives byte by byte (the benchmarks include it too);
//!   [`tar_contract`] reads them checking the tar reader's calling contract (the fuzz
//!   targets include it too); [`oracle`] builds and talks to the Go oracles.
//!
//! Everything here is blocking std code: tests are plain `#[test]` functions.
#![allow(dead_code, unused_macros)]

pub mod build;
mod cli;
pub mod confine;
mod daemon;
mod fault_daemon;
mod gateway;
pub mod http;
pub mod oracle;
pub mod registry;
pub mod tar_contract;
pub mod ustar;

// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use cli::{CLI_TIMEOUT, Cli, Docker, Output, clis, new_cli, old_cli};
#[allow(unused_imports)]
pub use daemon::{
    Cleanup, Daemon, Lineage, OwnedCleanup, SETTLE_QUIET, assert_nothing_owned, assert_owned,
    labels,
};
#[allow(unused_imports)]
pub use fault_daemon::{FaultDaemon, Frozen};
#[allow(unused_imports)]
pub use gateway::{Gateway, GatewayOpts, buildgate_command};
#[allow(unused_imports)]
pub use oracle::go_oracle;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The base image `scripts/base-image.sh` makes: static busybox, `CMD ["/bin/sh"]`.
pub const IMAGE: &str = "buildgate-test/busybox:latest";

/// True when running in CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("yes")
    )
}

/// Skip (outside CI) or fail (in CI) for a missing prerequisite: the one place that
/// decides. Returns `None`, for the `*_or_skip!` macros to return on.
pub fn skip_or_fail<T>(why: &str) -> Option<T> {
    if in_ci() {
        panic!("CI=true and a test prerequisite is missing: {why}");
    }
    eprintln!("SKIPPED: {why} (run scripts/test.sh to set it up)");
    None
}

/// The value of a prerequisite (an `Option` from [`skip_or_fail`]), or return from the
/// calling test: a skip by hand, a failure under `CI=true`.
macro_rules! or_skip {
    ($prerequisite:expr) => {
        match $prerequisite {
            Some(v) => v,
            None => return,
        }
    };
}

/// [`docker_host`], or return from the calling test.
macro_rules! daemon_or_skip {
    () => {
        or_skip!($crate::common::docker_host())
    };
}

/// [`docker_py`], or return from the calling test.
macro_rules! docker_py_or_skip {
    () => {
        or_skip!($crate::common::docker_py())
    };
}

/// [`go_oracle`]`(name)`, or return from the calling test.
macro_rules! go_oracle_or_skip {
    ($name:expr) => {
        or_skip!($crate::common::go_oracle($name))
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

/// The Python the tests run: `BUILDGATE_TEST_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("BUILDGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// [`python`], if it can `import docker` (docker-py).
pub fn docker_py() -> Option<String> {
    let python = python();
    let has_docker_py = Command::new(&python)
        .args(["-c", "import docker"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_docker_py {
        Some(python)
    } else {
        skip_or_fail(&format!("{python} cannot import docker (docker-py)"))
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

/// Poll `f` (every 50 ms) until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // The polling interval, not a wait for anything.
        thread::sleep(Duration::from_millis(50));
    }
}

/// Poll `look` until it has returned the same `Some` value for `quiet` on end, and
/// return that: a state that holds still, not one caught mid-change. `None` from
/// `look` means "busy" (say, a build container still running) and restarts the quiet
/// period. `None` if nothing settled within `timeout`.
pub fn wait_settled<T: PartialEq>(
    timeout: Duration,
    quiet: Duration,
    mut look: impl FnMut() -> Option<T>,
) -> Option<T> {
    let mut held: Option<(T, Instant)> = None;
    wait_for(timeout, || {
        let Some(now) = look() else {
            held = None;
            return None;
        };
        match &held {
            Some((before, since)) if *before == now => {
                if since.elapsed() >= quiet {
                    return held.take().map(|(v, _)| v);
                }
            }
            _ => held = Some((now, Instant::now())),
        }
        None
    })
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

// ------------------------------------------------------------------------ /proc

/// A `/proc/<pid>/status` field in kB (`VmHWM`, `VmRSS`, `VmSize`); `None` once the
/// process is gone.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// [`proc_status_kb`] of a process that must be there.
#[track_caller]
pub fn status_kb(pid: u32, field: &str) -> u64 {
    proc_status_kb(pid, field).unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Samples a process's resident set (`VmRSS`) in a thread until stopped, for the
/// curve between the start and the peak `VmHWM` reports.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: thread::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let peak = thread::spawn(move || {
            let mut peak = 0;
            while !stopped.load(Ordering::Relaxed) {
                peak = peak.max(proc_status_kb(pid, "VmRSS").unwrap_or(0));
                // The sampling period: what the sampler measures with.
                thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        RssSampler { stop, peak }
    }

    /// Stop sampling; the highest `VmRSS` seen, in kB.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.join().expect("RSS sampler")
    }
}
