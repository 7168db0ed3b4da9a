//! The docker CLIs: which ones to test with, and running them with a timeout.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use super::{in_ci, skip_or_fail, wait_for};

/// How long a CLI call may take before the test calls it hung.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

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

impl Cli {
    /// `-v` values that put this CLI into a container at `at`, read-only, with the
    /// shared libraries it loads (as `ldd` lists them, at the same paths), so that it
    /// runs in an image without a libc such as the static-busybox test image.
    pub fn container_mounts(&self, at: &str) -> Vec<String> {
        let mut mounts = vec![format!("{}:{at}:ro", self.path.display())];
        let ldd = Command::new("ldd")
            .arg(&self.path)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("ldd {}: {e}", self.path.display()));
        // "not a dynamic executable" (a static binary) lists nothing and exits non-zero.
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let lib = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
                mounts.push(format!("{lib}:{lib}:ro"));
            }
        }
        mounts
    }
}

/// The newest CLI (28.x on the test machines); `None` (a skip, a failure under
/// `CI=true`) if there is none newer than 20.10.
pub fn new_cli() -> Option<Cli> {
    let found = clis().into_iter().find(|c| !c.version.starts_with("20."));
    found.or_else(|| skip_or_fail("no docker CLI newer than 20.10"))
}

/// Debian's 20.10 CLI; `None` (a skip, a failure under `CI=true`) if it is missing.
pub fn old_cli() -> Option<Cli> {
    let found = clis().into_iter().find(|c| c.version.starts_with("20."));
    found.or_else(|| skip_or_fail("no 20.10 docker CLI"))
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
