//! The command line. Every flag can also come from a `BUILDGATE_*` environment variable,
//! because CI runners (GitLab's `config.toml`, Buildkite hooks, systemd units) pass
//! settings through the environment more easily than through arguments.

pub mod check;
pub mod logging;
pub mod parse;
pub mod reap;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use self::parse::{parse_mode, parse_seconds, parse_size};
use crate::config::{Address, Config, validate_owner_key, validate_owner_value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A Docker API gateway that puts an owner label on everything built through it.
///
/// Point a job's DOCKER_HOST at buildgate's socket. Every `docker build` then carries
/// the owner label on every intermediate container and on the final image; everything
/// else reaches the Docker daemon unchanged.
#[derive(Debug, Parser)]
#[command(name = "buildgate", version, about, long_about = None)]
#[command(after_help = HELP_EXAMPLES, after_long_help = HELP_EXAMPLES)]
#[command(
    override_usage = "buildgate --owner VALUE [OPTIONS]     serve until SIGINT/SIGTERM\n       buildgate --owner-from-peer LABEL_KEY [--owner VALUE] [OPTIONS]\n                                              serve many jobs, each connection owned by its container's label\n       buildgate check [--upstream ADDR]      check the daemon and exit\n       buildgate reap --owner VALUE           remove everything the owner has"
)]
#[command(
    mut_arg("listen", |a| a.value_name("ADDR")),
    mut_arg("socket_mode", |a| a.value_name("MODE")),
    mut_arg("socket_group", |a| a.value_name("GROUP")),
    mut_arg("upstream", |a| a.value_name("ADDR")),
    mut_arg("owner", |a| a.value_name("VALUE")),
    mut_arg("owner_label", |a| a.value_name("KEY")),
    mut_arg("owner_from_peer", |a| a.value_name("LABEL_KEY")),
    mut_arg("max_dockerfile_size", |a| a.value_name("SIZE")),
    mut_arg("max_context_size", |a| a.value_name("SIZE")),
    mut_arg("cgroup_parent", |a| a.value_name("PATH")),
    mut_arg("allow_bind", |a| a.value_name("PATH")),
    mut_arg("max_body_size", |a| a.value_name("SIZE")),
    mut_arg("max_pax_size", |a| a.value_name("SIZE")),
    mut_arg("max_path_length", |a| a.value_name("N")),
    mut_arg("max_context_entries", |a| a.value_name("N")),
    mut_arg("max_builds", |a| a.value_name("N")),
    mut_arg("response_timeout", |a| a.value_name("SECS")),
    mut_arg("threads", |a| a.value_name("N")),
    mut_arg("log_format", |a| a.value_name("FORMAT")),
    mut_arg("log_level", |a| a.value_name("LEVEL")),
    mut_arg("shutdown_grace", |a| a.value_name("SECS")),
    mut_arg("header_read_timeout", |a| a.value_name("SECS")),
    mut_arg("connect_timeout", |a| a.value_name("SECS"))
)]
pub struct Cli {
    /// Without a command, buildgate serves.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where to listen: unix:///path, a bare path, or tcp://HOST:PORT. Repeat the flag
    /// (or separate with commas in the variable) to listen in several places.
    #[arg(
        long,
        env = "BUILDGATE_LISTEN",
        value_delimiter = ',',
        default_value = "unix:///run/buildgate/docker.sock"
    )]
    pub listen: Vec<String>,

    /// Permission bits of the listening unix sockets, in octal.
    #[arg(long, env = "BUILDGATE_SOCKET_MODE", default_value = "0660", value_parser = parse_mode)]
    pub socket_mode: u32,

    /// Group (name or numeric id) that owns the listening unix sockets.
    #[arg(long, env = "BUILDGATE_SOCKET_GROUP")]
    pub socket_group: Option<String>,

    /// The Docker daemon: unix:///path, a bare path, or tcp://HOST:PORT.
    #[arg(
        long,
        env = "BUILDGATE_UPSTREAM",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub upstream: String,

    /// The owner written into every image built through the gateway, e.g. a CI job ID.
    /// With --owner-from-peer: the owner of connections from processes in no container
    /// and of TCP connections, and only of those.
    #[arg(long, env = "BUILDGATE_OWNER")]
    pub owner: Option<String>,

    /// Take each unix-socket connection's owner from the container the connecting
    /// process runs in: the value of this label (e.g. com.gitlab.gitlab-runner.job.id),
    /// or of the owner label if the container was created through the gateway. Needs
    /// the host's pid namespace and read access to /proc.
    #[arg(long, env = "BUILDGATE_OWNER_FROM_PEER")]
    pub owner_from_peer: Option<String>,

    /// The label key that carries the owner.
    #[arg(long, env = "BUILDGATE_OWNER_LABEL", default_value = "owner")]
    pub owner_label: String,

    /// Largest Dockerfile accepted, in bytes (suffixes K, M, G for KiB, MiB, GiB).
    #[arg(long, env = "BUILDGATE_MAX_DOCKERFILE_SIZE", default_value = "1M", value_parser = parse_size)]
    pub max_dockerfile_size: u64,

    /// Largest decompressed build context accepted, in bytes (K, M, G suffixes); 0 for
    /// no limit. Also guards against decompression bombs.
    #[arg(long, env = "BUILDGATE_MAX_CONTEXT_SIZE", default_value = "0", value_parser = parse_size)]
    pub max_context_size: u64,

    /// Largest PAX record set, GNU long name or long link name in a context's tar
    /// headers (at most 1M, which is also Go's limit).
    #[arg(long, env = "BUILDGATE_MAX_PAX_SIZE", default_value = "64K", value_parser = parse_size)]
    pub max_pax_size: u64,

    /// Longest path or link target in a build context, in bytes.
    #[arg(long, env = "BUILDGATE_MAX_PATH_LENGTH", default_value = "4096")]
    pub max_path_length: usize,

    /// Most files, directories and links in one build context. The gateway keeps about
    /// a hundred bytes per entry for the length of a build (it must know the whole tree
    /// to find the Dockerfile the daemon will read), so this bounds a build's memory.
    #[arg(long, env = "BUILDGATE_MAX_CONTEXT_ENTRIES", default_value = "1000000")]
    pub max_context_entries: usize,

    /// Builds allowed at once; further builds are answered 429 until one finishes. 0
    /// for no limit.
    #[arg(long, env = "BUILDGATE_MAX_BUILDS", default_value = "0")]
    pub max_builds: usize,

    /// Seconds to wait for the daemon's response headers once a request has been sent
    /// in full; 0 to wait forever. Streams that have started (logs -f, events, build
    /// output, attach) are never cut.
    #[arg(long, env = "BUILDGATE_RESPONSE_TIMEOUT", default_value = "300", value_parser = parse_seconds)]
    pub response_timeout: Duration,

    /// Force every build's cgroup parent to this path; without it, a client's value is
    /// passed on.
    #[arg(long, env = "BUILDGATE_CGROUP_PARENT")]
    pub cgroup_parent: Option<String>,

    /// Allow builds with `--network host` or `--network container:...`.
    #[arg(long, env = "BUILDGATE_ALLOW_HOST_NETWORK", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_host_network: bool,

    /// Put the whole Docker API under the ownership model: everything a job creates
    /// carries its owner, everything it names must be its own, lists show only its
    /// objects, and privileged or host access is refused. Without it, everything but
    /// builds passes through untouched.
    #[arg(long, env = "BUILDGATE_CONFINE", value_parser = clap::builder::BoolishValueParser::new())]
    pub confine: bool,

    /// With --confine: a host path that bind mounts may use (it and everything below
    /// it). Repeat the flag, or separate with commas in the variable.
    #[arg(
        long = "allow-bind",
        env = "BUILDGATE_ALLOW_BIND",
        value_delimiter = ','
    )]
    pub allow_bind: Vec<String>,

    /// With --confine: the largest JSON request body accepted (K, M suffixes).
    #[arg(long, env = "BUILDGATE_MAX_BODY_SIZE", default_value = "1M", value_parser = parse_size)]
    pub max_body_size: u64,

    /// Worker threads; 0 for one per CPU. Each client connection is served by one
    /// worker from start to end, so a build never pays for hand-overs between threads;
    /// more workers serve more concurrent builds and requests in parallel.
    #[arg(long, env = "BUILDGATE_THREADS", default_value = "0")]
    pub threads: usize,

    /// Log line format.
    #[arg(long, env = "BUILDGATE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log level or tracing filter (error, warn, info, debug, trace, or e.g. "buildgate=debug").
    #[arg(long, env = "BUILDGATE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Seconds in-flight requests may keep running after SIGINT or SIGTERM.
    #[arg(long, env = "BUILDGATE_SHUTDOWN_GRACE", default_value = "10", value_parser = parse_seconds)]
    pub shutdown_grace: Duration,

    /// Seconds a client may take to send a complete request line and headers.
    #[arg(long, env = "BUILDGATE_HEADER_READ_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub header_read_timeout: Duration,

    /// Seconds to wait for the Docker daemon to accept a connection.
    #[arg(long, env = "BUILDGATE_CONNECT_TIMEOUT", default_value = "5", value_parser = parse_seconds)]
    pub connect_timeout: Duration,
}

const HELP_EXAMPLES: &str = "\
Examples:
  buildgate --owner \"$CI_JOB_ID\" --listen unix:///run/buildgate/job.sock
  DOCKER_HOST=unix:///run/buildgate/job.sock docker build -t app .
  buildgate check --upstream unix:///var/run/docker.sock

Builds must use the classic builder (DOCKER_BUILDKIT=0); BuildKit is refused.";

/// Subcommands. Serving is the default and has none.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that builds through buildgate will work with a Docker daemon, then exit
    #[command(long_about = check::LONG_ABOUT)]
    Check(check::CheckArgs),
    /// Remove everything an owner has (containers, images, volumes, networks), then exit
    #[command(long_about = reap::LONG_ABOUT)]
    Reap(reap::ReapArgs),
}

/// `--allow-bind` paths: absolute, clean (no `.`, `..` or doubled `/`), so that a bind
/// source is compared with what the operator meant and nothing else.
fn parse_allow_bind(values: &[String]) -> Result<Vec<std::path::PathBuf>, String> {
    let mut out = Vec::new();
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let path = std::path::Path::new(value);
        // Segment by segment: `Path::components` would quietly drop a `.`.
        let clean = value == "/"
            || (value.starts_with('/')
                && value[1..]
                    .split('/')
                    .all(|segment| !matches!(segment, "" | "." | "..")));
        if !clean {
            return Err(format!(
                "--allow-bind {value:?}: give an absolute path without '.', '..', '//' or a trailing '/'"
            ));
        }
        out.push(path.to_path_buf());
    }
    Ok(out)
}

impl Cli {
    /// Validates everything at once so an operator sees the first mistake with a reason,
    /// before any socket is touched.
    pub fn into_config(self) -> Result<Config, String> {
        let listen = self
            .listen
            .iter()
            .filter(|value| !value.trim().is_empty())
            .map(|value| Address::parse(value).map_err(|e| format!("--listen {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if listen.is_empty() {
            return Err("--listen: give at least one address".to_string());
        }
        let upstream = Address::parse(&self.upstream).map_err(|e| format!("--upstream {e}"))?;
        let owner_from_peer = self.owner_from_peer.filter(|k| !k.is_empty());
        if owner_from_peer.is_none() && self.owner.is_none() {
            return Err(
                "--owner (or BUILDGATE_OWNER) is required: it is the label value every build gets \
                 (or give --owner-from-peer to read each connection's owner from its container)"
                    .to_string(),
            );
        }
        if let Some(owner) = &self.owner {
            validate_owner_value(owner).map_err(|e| format!("--owner: {e}"))?;
        }
        validate_owner_key(&self.owner_label).map_err(|e| format!("--owner-label: {e}"))?;
        if let Some(key) = &owner_from_peer {
            validate_owner_key(key).map_err(|e| format!("--owner-from-peer: {e}"))?;
            if self.owner.is_none()
                && let Some(tcp) = listen.iter().find(|a| matches!(a, Address::Tcp(_)))
            {
                return Err(format!(
                    "--owner-from-peer: a TCP listener ({tcp}) has no peer process to read an \
                     owner from; give --owner too (TCP connections then get it) or listen on unix \
                     sockets only"
                ));
            }
        }
        Ok(Config {
            listen,
            socket_mode: self.socket_mode,
            socket_group: self.socket_group,
            upstream,
            owner_label: self.owner_label,
            owner: self.owner,
            owner_from_peer,
            max_dockerfile_size: self.max_dockerfile_size,
            max_context_size: (self.max_context_size > 0).then_some(self.max_context_size),
            cgroup_parent: self.cgroup_parent.filter(|p| !p.is_empty()),
            allow_host_network: self.allow_host_network,
            confine: self.confine,
            allow_bind: parse_allow_bind(&self.allow_bind)?,
            max_body_size: usize::try_from(self.max_body_size)
                .ok()
                .filter(|n| (1024..=64 << 20).contains(n))
                .ok_or("--max-body-size: give a size from 1K to 64M")?,
            max_pax_size: usize::try_from(self.max_pax_size)
                .ok()
                .filter(|n| (512..=1 << 20).contains(n))
                .ok_or("--max-pax-size: give a size from 512 bytes to 1M")?,
            max_path_length: Some(self.max_path_length)
                .filter(|n| (1..=1 << 20).contains(n))
                .ok_or("--max-path-length: give a length from 1 to 1048576")?,
            max_context_entries: Some(self.max_context_entries)
                .filter(|n| (1..=100_000_000).contains(n))
                .ok_or("--max-context-entries: give a number from 1 to 100000000")?,
            max_builds: self.max_builds,
            response_timeout: (!self.response_timeout.is_zero()).then_some(self.response_timeout),
            shutdown_grace: self.shutdown_grace,
            header_read_timeout: self.header_read_timeout,
            connect_timeout: self.connect_timeout,
            threads: self.threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["buildgate"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .into_config()
    }

    #[test]
    fn defaults() {
        let config = parse(&["--owner", "job-1"]).unwrap();
        assert_eq!(
            config.listen,
            vec![Address::Unix("/run/buildgate/docker.sock".into())]
        );
        assert_eq!(
            config.upstream,
            Address::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(config.socket_mode, 0o660);
        assert_eq!(config.owner_label, "owner");
        assert_eq!(config.owner.as_deref(), Some("job-1"));
        assert_eq!(config.owner_from_peer, None);
    }

    #[test]
    fn owner_from_peer() {
        let key = "com.gitlab.gitlab-runner.job.id";
        let config = parse(&["--owner-from-peer", key]).unwrap();
        assert_eq!(config.owner_from_peer.as_deref(), Some(key));
        assert_eq!(config.owner, None, "--owner is optional with it");
        let config = parse(&["--owner-from-peer", key, "--owner", "host"]).unwrap();
        assert_eq!(config.owner.as_deref(), Some("host"));
        // TCP has no peer: only with --owner, which TCP connections then get.
        let err =
            parse(&["--owner-from-peer", key, "--listen", "tcp://127.0.0.1:2375"]).unwrap_err();
        assert!(
            err.contains("--owner-from-peer") && err.contains("TCP"),
            "{err}"
        );
        assert!(
            parse(&[
                "--owner-from-peer",
                key,
                "--owner",
                "tcp-clients",
                "--listen",
                "tcp://127.0.0.1:2375"
            ])
            .is_ok()
        );
        let err = parse(&["--owner-from-peer", "a b"]).unwrap_err();
        assert!(err.contains("--owner-from-peer"), "{err}");
        // An empty value is no value: --owner is required again.
        let err = parse(&["--owner-from-peer", ""]).unwrap_err();
        assert!(err.contains("--owner"), "{err}");
    }

    #[test]
    fn repeated_listen() {
        let config = parse(&[
            "--owner",
            "o",
            "--listen",
            "/tmp/a.sock",
            "--listen",
            "tcp://127.0.0.1:2375",
        ])
        .unwrap();
        assert_eq!(config.listen.len(), 2);
        assert_eq!(config.listen[1], Address::Tcp("127.0.0.1:2375".into()));
    }

    #[test]
    fn refusals_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "--owner"),
            (&["--owner", "a\"b"], "--owner"),
            (&["--owner", "o", "--owner-label", "a b"], "--owner-label"),
            (&["--owner", "o", "--upstream", "ftp://x"], "--upstream"),
            (&["--owner", "o", "--listen", "tcp://x"], "--listen"),
            (&["--owner", "o", "--socket-mode", "999"], "socket-mode"),
            (&["--owner", "o", "--socket-mode", "01777"], "socket-mode"),
            (&["--owner", "o", "--max-pax-size", "2M"], "--max-pax-size"),
            (
                &["--owner", "o", "--max-path-length", "0"],
                "--max-path-length",
            ),
        ];
        for (args, flag) in cases {
            let err = parse(args).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn switches_read_yes_and_no_from_the_environment() {
        // Only the variable sets it here: clap reads BUILDGATE_* from the process
        // environment, which tests share, so parse with explicit values instead.
        use clap::CommandFactory;
        use clap::builder::TypedValueParser;
        let parse_flag = |value: &str| {
            clap::builder::BoolishValueParser::new().parse_ref(
                &Cli::command(),
                None,
                std::ffi::OsStr::new(value),
            )
        };
        for yes in ["1", "true", "yes", "on", "TRUE"] {
            assert_eq!(parse_flag(yes).ok(), Some(true), "{yes}");
        }
        for no in ["0", "false", "no", "off"] {
            assert_eq!(parse_flag(no).ok(), Some(false), "{no}");
        }
        assert!(parse_flag("maybe").is_err());
        assert!(parse(&["--owner", "o", "--confine"]).unwrap().confine);
        assert!(!parse(&["--owner", "o"]).unwrap().confine);
    }

    #[test]
    fn allow_bind_paths_are_clean_and_absolute() {
        let config = parse(&[
            "--owner",
            "o",
            "--allow-bind",
            "/srv/cache",
            "--allow-bind",
            "/",
        ])
        .unwrap();
        assert_eq!(
            config.allow_bind,
            vec![std::path::PathBuf::from("/srv/cache"), "/".into()]
        );
        for bad in ["srv", "/a/../b", "/a/./b", "/a//b", "/a/"] {
            let err = parse(&["--owner", "o", "--allow-bind", bad]).unwrap_err();
            assert!(err.contains("--allow-bind"), "{bad}: {err}");
        }
    }

    #[test]
    fn check_needs_no_owner() {
        let cli =
            Cli::try_parse_from(["buildgate", "check", "--upstream", "tcp://127.0.0.1:1"]).unwrap();
        let Some(Command::Check(args)) = cli.command else {
            panic!("no check command: {cli:?}");
        };
        assert_eq!(args.daemon.upstream, "tcp://127.0.0.1:1");
        assert!(parse(&["--owner", "o"]).is_ok());
        assert!(
            Cli::try_parse_from(["buildgate", "--owner", "o"])
                .unwrap()
                .command
                .is_none()
        );
    }
}
