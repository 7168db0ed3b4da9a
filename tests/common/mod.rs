//! Shared helpers for buildgate's end-to-end tests.
//!
//! These tests run the real `buildgate` binary in front of a real dockerd: the private
//! daemon that `scripts/test.sh` starts and names in `BUILDGATE_TEST_DOCKER_HOST`.
//!
//! - [`docker_host`] finds that daemon. Without one a test skips when run by hand, but
//!   **panics under `CI=true`**: an end-to-end test must never pass by not running.
//! - [`Gateway`] (`gateway.rs`) spawns the binary on a socket in its own temp dir, waits
//!   until it answers, captures its log, and kills it on drop (printing the log if the
//!   test failed).
//! - [`Docker`] (`cli.rs`) runs a docker CLI against the gateway with a timeout and
//!   optional stdin; [`clis`] lists the CLIs to test with (28.x and Debian's 20.10).
//! - [`http`] is a small raw HTTP/1.1 client over a unix socket, for requests no CLI
//!   would send and for streams a test wants to drop half-way.
//! - [`Daemon`] and [`Cleanup`] (`daemon.rs`) inspect the daemon directly and remove
//!   what a test made, found by a per-test label or by name, so tests can run in
//!   parallel against one daemon.
//!
//! Everything here is blocking std code: tests are plain `#[test]` functions.
#![allow(dead_code)]

mod cli;
mod daemon;
mod gateway;
pub mod http;

// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use cli::{CLI_TIMEOUT, Cli, Docker, Output, clis};
#[allow(unused_imports)]
pub use daemon::{Cleanup, Daemon};
#[allow(unused_imports)]
pub use gateway::{Gateway, GatewayOpts};

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
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
