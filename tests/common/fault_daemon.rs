//! [`FaultDaemon`]: a *second*, private dockerd for tests that stop, restart or freeze
//! their daemon (never the shared one other test binaries use).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Daemon, IMAGE, http, skip_or_fail, wait_for};

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
            return skip_or_fail("dockerd is not installed; the fault tests need a second daemon");
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
            return skip_or_fail(&format!("cannot start the second dockerd: {e}"));
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
        let gone = wait_for(Duration::from_secs(15), || exited(pid).then_some(()));
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
            let dead = || exited(cpid).then_some(());
            let cmdline = std::fs::read(format!("/proc/{cpid}/cmdline")).unwrap_or_default();
            let ours = String::from_utf8_lossy(&cmdline).contains(&self.dir.display().to_string());
            if wait_for(Duration::from_secs(5), dead).is_none() && ours {
                let _ = kill(Pid::from_raw(cpid), Signal::SIGKILL);
                wait_for(Duration::from_secs(5), dead);
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
        let images: Vec<String> = all("/images/json?all=1")
            .into_iter()
            .filter(|i| {
                !i["RepoTags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == IMAGE))
            })
            .filter_map(|i| i["Id"].as_str().map(str::to_string))
            .collect();
        d.remove_images(&images);
    }
}

impl FaultDaemon {
    /// After the daemon has stopped: end what a crash left behind (containerd shims of
    /// containers the crashed daemon ran, which nothing will reap), and unmount their
    /// root filesystems, so runs do not pile up processes and mounts.
    fn reap_strays(&self) {
        let needle = format!("{}/dockerd/", self.dir.display());
        let me = std::process::id().to_string();
        let mut killed = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&needle)
                && let Ok(pid) = name.parse::<i32>()
                && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
            {
                killed.push(pid);
            }
        }
        // Their mounts can go once they have.
        wait_for(Duration::from_secs(5), || {
            killed.iter().all(|&pid| exited(pid)).then_some(())
        });
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

/// The process has exited: it is gone, or a zombie its parent has not reaped yet.
fn exited(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty() || stat.contains(") Z ")
}
