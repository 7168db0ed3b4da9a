//! Starting and stopping the processes under test. Every process is started in its own
//! process group and stopped by that group's id (socat forks a child per connection).

use std::fs::{self, File};
use std::io;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The proxies compared, plus the baselines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// The client talks to the upstream itself.
    Direct,
    Buildgate,
    /// Another build of the gateway (`BUILDGATE_BENCH_BASELINE`), to compare a change
    /// with what it replaces in the same interleaved run.
    Baseline,
    Haproxy,
    Socat,
    /// Workload 3 only: the gateway's decoder alone, in this process, no sockets.
    Decompress,
    /// Workload 5 only: direct, with the Dockerfile and `labels=` the gateway would have
    /// sent (extra LABEL steps), to tell the gateway's cost from its labels' cost.
    DirectRewritten,
    /// Workloads 6 and 7 only: the gateway with `--confine`.
    Confined,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Direct => "direct",
            Peer::Buildgate => "buildgate",
            Peer::Baseline => "baseline",
            Peer::Haproxy => "haproxy",
            Peer::Socat => "socat",
            Peer::Decompress => "plain decompression",
            Peer::DirectRewritten => "direct, gateway's Dockerfile and labels",
            Peer::Confined => "buildgate --confine",
        }
    }

    pub fn parse(name: &str) -> Option<Peer> {
        [
            Peer::Direct,
            Peer::Buildgate,
            Peer::Baseline,
            Peer::Haproxy,
            Peer::Socat,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// A running process, stopped (its whole process group) when dropped.
pub struct Proc {
    child: Child,
    pub socket: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size, from `/proc/<pid>/status`.
    pub fn vm_hwm_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Proc {
    /// CPU seconds (user + system, its reaped children included) used so far.
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime, stime, cutime, cstime are fields 14 to 17; fields[0] is field 3.
        let ticks: u64 = fields
            .get(11..15)?
            .iter()
            .filter_map(|f| f.parse::<u64>().ok())
            .sum();
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100);
        Some(ticks as f64 / hz.max(1) as f64)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The process group this harness created for the child.
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Whatever survived the grace period.
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.socket);
    }
}

/// Starts `command` with output to `log`, and waits until `socket` accepts.
pub fn spawn(mut command: Command, socket: &Path, log: &Path) -> io::Result<Proc> {
    let _ = fs::remove_file(socket);
    let out = File::create(log)?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    let child = command
        .spawn()
        .map_err(|e| io::Error::other(format!("cannot start {:?}: {e}", command.get_program())))?;
    let mut proc = Proc {
        child,
        socket: socket.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if UnixStream::connect(socket).is_ok() {
            return Ok(proc);
        }
        if let Some(status) = proc.child.try_wait()? {
            let tail = fs::read_to_string(log).unwrap_or_default();
            return Err(io::Error::other(format!(
                "{:?} exited with {status} before listening; its log:\n{tail}",
                command.get_program()
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{:?} did not listen on {} within 20s",
                command.get_program(),
                socket.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Where the processes of one run live.
pub struct Env {
    pub run_dir: PathBuf,
    pub harness: PathBuf,
    pub buildgate: PathBuf,
    /// The gateway binary of the `baseline` peer.
    pub baseline: Option<PathBuf>,
    pub log_level: String,
}

impl Env {
    pub fn sink(&self) -> io::Result<Proc> {
        let socket = self.run_dir.join("sink.sock");
        let mut command = Command::new(&self.harness);
        command.arg("sink").arg(&socket);
        spawn(command, &socket, &self.run_dir.join("sink.log"))
    }

    /// A fresh gateway (so its VmHWM covers one workload only) in front of `upstream`
    /// (`unix:///...`).
    pub fn buildgate(&self, upstream: &str, tag: &str) -> io::Result<Proc> {
        self.gateway(&self.buildgate, upstream, tag)
    }

    /// Like [`Env::buildgate`], with `--confine`.
    pub fn confined(&self, upstream: &str, tag: &str) -> io::Result<Proc> {
        let socket = self.run_dir.join(format!("buildgate-confined-{tag}.sock"));
        let mut command = Command::new(&self.buildgate);
        command
            .args(["--owner", "bench", "--confine", "--listen"])
            .arg(format!("unix://{}", socket.display()))
            .args(["--upstream", upstream, "--log-level", &self.log_level]);
        spawn(
            command,
            &socket,
            &self.run_dir.join(format!("buildgate-confined-{tag}.log")),
        )
    }

    /// Like [`Env::buildgate`], with the `baseline` peer's binary.
    pub fn baseline(&self, upstream: &str, tag: &str) -> io::Result<Proc> {
        let bin = self.baseline.as_ref().ok_or_else(|| {
            io::Error::other("the baseline peer needs BUILDGATE_BENCH_BASELINE=<gateway binary>")
        })?;
        self.gateway(bin, upstream, &format!("baseline-{tag}"))
    }

    fn gateway(&self, bin: &Path, upstream: &str, tag: &str) -> io::Result<Proc> {
        let socket = self.run_dir.join(format!("buildgate-{tag}.sock"));
        let mut command = Command::new(bin);
        command
            .args(["--owner", "bench", "--listen"])
            .arg(format!("unix://{}", socket.display()))
            .args(["--upstream", upstream, "--log-level", &self.log_level]);
        spawn(
            command,
            &socket,
            &self.run_dir.join(format!("buildgate-{tag}.log")),
        )
    }

    /// HAProxy set up the way Tecnativa/docker-socket-proxy deploys it (its
    /// haproxy.cfg: `mode http`, `option http-server-close`, its timeouts and limits,
    /// httplog to stdout at info), between two unix sockets, without its per-path
    /// allow/deny rules: a plain HTTP passthrough.
    pub fn haproxy(&self, sink: &Path) -> io::Result<Proc> {
        let socket = self.run_dir.join("haproxy.sock");
        let cfg = self.run_dir.join("haproxy.cfg");
        fs::write(
            &cfg,
            format!(
                "# Generated by benches/proxies/peers.rs: Tecnativa/docker-socket-proxy's\n\
                 # haproxy.cfg settings, unix socket to unix socket, no ACLs.\n\
                 global\n    log stdout format raw daemon info\n    maxconn 4000\n\n\
                 defaults\n    mode http\n    log global\n    option httplog\n\
                 \x20   option dontlognull\n    option http-server-close\n\
                 \x20   option redispatch\n    retries 3\n    timeout http-request 10s\n\
                 \x20   timeout queue 1m\n    timeout connect 10s\n    timeout client 10m\n\
                 \x20   timeout server 10m\n    timeout http-keep-alive 10s\n\
                 \x20   timeout check 10s\n    maxconn 3000\n\n\
                 backend dockerbackend\n    server dockersocket {}\n\n\
                 frontend dockerfrontend\n    bind unix@{}\n    default_backend dockerbackend\n",
                sink.display(),
                socket.display()
            ),
        )?;
        let mut command = Command::new("haproxy");
        command.arg("-db").arg("-f").arg(&cfg);
        spawn(command, &socket, &self.run_dir.join("haproxy.log"))
    }

    /// `socat UNIX-LISTEN:...,fork UNIX-CONNECT:...`, socat's defaults otherwise.
    pub fn socat(&self, sink: &Path) -> io::Result<Proc> {
        let socket = self.run_dir.join("socat.sock");
        let mut command = Command::new("socat");
        command
            .arg(format!("UNIX-LISTEN:{},fork", socket.display()))
            .arg(format!("UNIX-CONNECT:{}", sink.display()));
        spawn(command, &socket, &self.run_dir.join("socat.log"))
    }
}
