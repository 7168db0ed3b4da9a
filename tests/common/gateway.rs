//! [`Gateway`]: the `buildgate` binary under test, on a socket in its own temp dir.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Cli, Daemon, Docker, OwnedCleanup, http, unique, wait_for, wait_settled};

/// The `buildgate` binary under test, stdin from `/dev/null`, and none of the
/// environment's `BUILDGATE_*` variables: they would configure it behind the test's
/// back.
pub fn buildgate_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_buildgate"));
    cmd.stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("BUILDGATE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// How to start a gateway; [`Gateway::start`] covers the usual case.
#[derive(Clone, Debug)]
pub struct GatewayOpts {
    /// `--upstream`.
    pub upstream: String,
    /// `--owner`; `None` starts the gateway without one (with `--owner-from-peer` in
    /// `extra`).
    pub owner: Option<String>,
    /// Socket path for `--listen unix://…`; `None` picks `<tempdir>/gw.sock`.
    pub listen: Option<PathBuf>,
    /// Appended after the standard arguments.
    pub extra: Vec<String>,
}

impl GatewayOpts {
    pub fn new(upstream: &str) -> Self {
        GatewayOpts {
            upstream: upstream.to_string(),
            owner: Some(unique("owner")),
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
    /// The value of `--owner` it was given (unique per gateway); empty if none.
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

    /// [`Gateway::start`], and a guard that removes everything its owner made on the
    /// daemon at `upstream` when dropped.
    pub fn start_cleaned(upstream: &str, extra: &[&str]) -> (Gateway, OwnedCleanup) {
        let gw = Gateway::start(upstream, extra);
        let cleanup = OwnedCleanup {
            daemon: Daemon::new(upstream),
            owner: gw.owner.clone(),
        };
        (gw, cleanup)
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
        let mut cmd = buildgate_command();
        cmd.arg("--listen")
            .arg(format!("unix://{}", sock.display()))
            .arg("--upstream")
            .arg(&opts.upstream)
            .args(opts.owner.iter().flat_map(|owner| ["--owner", owner]))
            .arg("--log-level")
            .arg("debug")
            .args(&opts.extra)
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let child = cmd.spawn().expect("spawn the buildgate binary");
        Gateway {
            child: Some(child),
            dir,
            sock,
            owner: opts.owner.unwrap_or_default(),
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
            // The polling interval, not a wait for anything.
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

    /// Send a signal to the gateway.
    pub fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(self.pid() as i32);
        kill(pid, sig).unwrap_or_else(|e| panic!("kill({pid}, {sig}): {e}"));
    }

    /// Number of open file descriptors of the gateway process.
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/<pid>/fd")
            .count()
    }

    /// The open fds, resolved, for failure messages.
    pub fn fd_list(&self) -> Vec<PathBuf> {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| {
                d.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The fd count once the gateway is idle, for a baseline: polled until it has held
    /// still for 200 ms (connections of earlier requests closed), 10 s at most.
    pub fn quiet_fd_count(&self) -> usize {
        wait_settled(Duration::from_secs(10), Duration::from_millis(200), || {
            Some(self.fd_count())
        })
        .unwrap_or_else(|| self.fd_count())
    }

    /// Wait up to 15 s for the open fds to come back down to `baseline`; returns the
    /// last count.
    pub fn settle_fds(&self, baseline: usize) -> usize {
        wait_for(Duration::from_secs(15), || {
            let n = self.fd_count();
            (n <= baseline).then_some(n)
        })
        .unwrap_or_else(|| self.fd_count())
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
