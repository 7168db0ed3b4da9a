//! buildgate's macro benchmark: the gateway against the client talking to the upstream
//! directly, HAProxy (set up like docker-socket-proxy) and a socat relay, on the
//! workloads of issue 4. Run it with `scripts/bench.sh`, which builds everything,
//! installs HAProxy and socat, finds a dockerd for workload 5 and calls
//! `<this binary> run`. Plain `cargo bench` runs only the criterion micro-benchmarks;
//! this target then prints how to run the harness and exits.
//!
//! Layout: [`workloads`] makes and caches the workloads, [`sink`] is the fake daemon,
//! [`client`] the one client every peer gets, [`peers`] starts and stops the
//! processes, [`report`] prints the table; the tar headers come from the tests' raw
//! writer, [`ustar`]. Configuration is by environment variable; see `scripts/bench.sh`
//! for the list.

mod client;
mod peers;
mod report;
mod sink;
#[path = "../../tests/common/ustar.rs"]
mod ustar;
mod workloads;

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use client::Body;
use peers::{Env, Peer, Proc};
use report::{Memory, Series, Unit};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sink") if args.len() == 2 => sink::main(&args[1]),
        Some("run") => match run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("bench: {err}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "buildgate's proxy benchmark harness: run it with scripts/bench.sh \
                 (BUILDGATE_BENCH_QUICK=1 for a short smoke run)."
            );
            ExitCode::SUCCESS
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Workload sizes; quick mode shrinks every one of them by about 8 to 16 times.
struct Sizes {
    w1_files: u32,
    w1_size: u64,
    w2_files: u32,
    w3_bytes: u64,
    w4_pings: u32,
    w5_files: u32,
    w5_size: u64,
    /// The big memory check is this many times workload 1.
    mem_factor: u32,
}

const MIB: u64 = 1 << 20;

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                w1_files: 16,
                w1_size: 4 * MIB,
                w2_files: 10_000,
                w3_bytes: 32 * MIB,
                w4_pings: 2_000,
                w5_files: 4,
                w5_size: 8 * MIB,
                mem_factor: 4,
            }
        } else {
            Sizes {
                w1_files: 16,
                w1_size: 64 * MIB,
                w2_files: 100_000,
                w3_bytes: 256 * MIB,
                w4_pings: 20_000,
                w5_files: 4,
                w5_size: 64 * MIB,
                mem_factor: 4,
            }
        }
    }
}

struct Config {
    runs: usize,
    dir: PathBuf,
    workloads: Vec<String>,
    peers: Vec<Peer>,
    docker_host: String,
    sizes: Sizes,
}

fn run() -> io::Result<()> {
    let quick = env_or("BUILDGATE_BENCH_QUICK", "0") != "0";
    let runs: usize = env_or("BUILDGATE_BENCH_RUNS", if quick { "3" } else { "5" })
        .parse()
        .map_err(|_| io::Error::other("BUILDGATE_BENCH_RUNS is not a number"))?;
    let dir = PathBuf::from(env_or("BUILDGATE_BENCH_DIR", "/tmp/buildgate-bench"));
    let workloads = env_or("BUILDGATE_BENCH_WORKLOADS", "1,2,3,4,5,6,7,mem")
        .split(',')
        .map(|w| w.trim().to_string())
        .collect();
    let peers = env_or("BUILDGATE_BENCH_PEERS", "direct,buildgate,haproxy,socat")
        .split(',')
        .map(|p| {
            Peer::parse(p.trim()).ok_or_else(|| io::Error::other(format!("unknown peer {p:?}")))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let config = Config {
        runs,
        dir: dir.clone(),
        workloads,
        peers,
        docker_host: env_or(
            "BUILDGATE_TEST_DOCKER_HOST",
            "unix:///tmp/buildgate-test/dockerd/docker.sock",
        ),
        sizes: Sizes::new(quick),
    };
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir)?;
    let env = Env {
        run_dir,
        harness: std::env::current_exe()?,
        buildgate: PathBuf::from(env_or("BUILDGATE_BIN", env!("CARGO_BIN_EXE_buildgate"))),
        baseline: std::env::var_os("BUILDGATE_BENCH_BASELINE").map(PathBuf::from),
        log_level: env_or("BUILDGATE_BENCH_LOG_LEVEL", "info"),
    };
    let mut report = report::Report::new(quick, runs, &dir, &config.peers);

    let wants = |w: &str| config.workloads.iter().any(|x| x == w);
    let s = &config.sizes;
    // W1 to W3: a context file through every peer; the series, and the peak memory of
    // the gateway that read `len` bytes of tar.
    let mut context_file = |w: &str, label: &str, path: PathBuf, len: u64, gzip: Option<Bytes>| {
        let (series, hwm) = proxied_builds(&env, &config, w, label, Body::File(path), len, gzip)?;
        report.series.extend(series);
        report.memory.push(Memory {
            what: format!("{}, {} runs", w.to_uppercase(), config.runs + 1),
            bytes: len,
            hwm_kib: hwm,
        });
        io::Result::Ok(())
    };
    if wants("1") {
        let path = workloads::w1(&dir, s.w1_files, s.w1_size)?;
        let len = Body::File(path.clone()).len()?;
        let label = format!("W1 {} x {} MiB incompressible", s.w1_files, s.w1_size / MIB);
        context_file("w1", &label, path, len, None)?;
    }
    if wants("2") {
        let path = workloads::w2(&dir, s.w2_files)?;
        let len = Body::File(path.clone()).len()?;
        let label = format!("W2 {} x 1 KiB files", s.w2_files);
        context_file("w2", &label, path, len, None)?;
    }
    if wants("3") {
        let (path, tar_len) = workloads::w3(&dir, s.w3_bytes)?;
        let compressed = std::fs::read(&path)?;
        let label = format!(
            "W3 {} MiB source-like, gzip {:.1} MiB",
            tar_len / MIB,
            compressed.len() as f64 / MIB as f64
        );
        context_file("w3", &label, path, tar_len, Some(Bytes::from(compressed)))?;
    }
    if wants("4") {
        report.series.extend(pings(&env, &config)?);
    }
    if wants("5") {
        match docker_builds(&env, &config) {
            Ok(series) => report.series.extend(series),
            Err(err) => report.notes.push(format!("W5 skipped: {err}")),
        }
    }
    if wants("6") || wants("7") {
        match api_rates(&env, &config, wants("6"), wants("7")) {
            Ok(series) => report.series.extend(series),
            Err(err) => report.notes.push(format!("W6/W7 skipped: {err}")),
        }
    }
    if wants("mem") {
        report.memory.extend(memory(&env, &config)?);
    }
    report.print();
    Ok(())
}

/// Runs `measure` for every peer, interleaved (A B C A B C ...): one warm-up round,
/// then `runs` timed rounds. Returns, per peer, the seconds of each run and the CPU
/// seconds the peer's own process used in it (`cpu_of` gives its running total).
fn interleaved(
    runs: usize,
    peers: &[Peer],
    cpu_of: impl Fn(Peer) -> Option<f64>,
    mut measure: impl FnMut(Peer) -> io::Result<f64>,
) -> io::Result<Vec<(Vec<f64>, Vec<f64>)>> {
    let mut samples = vec![(Vec::new(), Vec::new()); peers.len()];
    for round in 0..=runs {
        for (i, &peer) in peers.iter().enumerate() {
            let before = cpu_of(peer);
            let secs = measure(peer)
                .map_err(|e| io::Error::other(format!("{} (round {round}): {e}", peer.name())))?;
            if round > 0 {
                samples[i].0.push(secs);
                if let (Some(a), Some(b)) = (before, cpu_of(peer)) {
                    samples[i].1.push(b - a);
                }
            }
        }
        eprint!(".");
    }
    eprintln!();
    Ok(samples)
}

fn cpu_in(procs: &[(Peer, Option<Proc>)]) -> impl Fn(Peer) -> Option<f64> + '_ {
    move |peer| {
        procs
            .iter()
            .find(|(p, _)| *p == peer)
            // socat's per-connection children count only once reaped: no figure.
            .filter(|(p, _)| *p != Peer::Socat)
            .and_then(|(_, proc)| proc.as_ref()?.cpu_secs())
    }
}

/// Starts the peers that stand between the client and `sink`.
fn start_peers(
    env: &Env,
    config: &Config,
    sink: &Proc,
    tag: &str,
) -> io::Result<Vec<(Peer, Option<Proc>)>> {
    config
        .peers
        .iter()
        .map(|&peer| {
            let proc = match peer {
                Peer::Direct | Peer::Decompress | Peer::DirectRewritten | Peer::Confined => None,
                Peer::Buildgate => {
                    Some(env.buildgate(&format!("unix://{}", sink.socket.display()), tag)?)
                }
                Peer::Baseline => {
                    Some(env.baseline(&format!("unix://{}", sink.socket.display()), tag)?)
                }
                Peer::Haproxy => Some(env.haproxy(&sink.socket)?),
                Peer::Socat => Some(env.socat(&sink.socket)?),
            };
            Ok((peer, proc))
        })
        .collect()
}

fn socket_of<'a>(procs: &'a [(Peer, Option<Proc>)], sink: &'a Proc, peer: Peer) -> &'a Path {
    procs
        .iter()
        .find(|(p, _)| *p == peer)
        .and_then(|(_, proc)| proc.as_ref())
        .map_or(sink.socket.as_path(), |proc| proc.socket.as_path())
}

/// Workloads 1 to 3: the same context POSTed through every peer to the sink. With
/// `compressed`, the gateway's decoder alone is measured too (workload 3).
fn proxied_builds(
    env: &Env,
    config: &Config,
    tag: &str,
    label: &str,
    body: Body,
    decoded_len: u64,
    compressed: Option<Bytes>,
) -> io::Result<(Vec<Series>, Option<u64>)> {
    eprintln!("bench: {label}");
    let sink = env.sink()?;
    let procs = start_peers(env, config, &sink, tag)?;
    let mut peers = config.peers.clone();
    if compressed.is_some() {
        peers.push(Peer::Decompress);
    }
    let sent_len = body.len()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let samples = interleaved(config.runs, &peers, cpu_in(&procs), |peer| {
        if peer == Peer::Decompress {
            let data = compressed.clone().expect("workload 3 has compressed data");
            return runtime.block_on(decompress_only(data, decoded_len));
        }
        let build = client::build(socket_of(&procs, &sink, peer), &body)?;
        // The sink's count proves the whole context arrived: the gateway sends the
        // decoded tar plus its own entries, the others exactly what they got.
        match (peer, build.received) {
            (Peer::Buildgate | Peer::Baseline, Some(n)) if n + 1024 >= decoded_len => {}
            (_, Some(n)) if n == sent_len => {}
            (_, received) => {
                return Err(io::Error::other(format!(
                    "the sink received {received:?} bytes of a {sent_len}-byte context"
                )));
            }
        }
        Ok(build.elapsed.as_secs_f64())
    })?;
    let hwm = procs
        .iter()
        .find(|(p, _)| *p == Peer::Buildgate)
        .and_then(|(_, proc)| proc.as_ref()?.vm_hwm_kib());
    let series = peers
        .iter()
        .zip(samples)
        .map(|(&peer, (samples, cpu))| Series {
            workload: tag.to_string(),
            label: label.to_string(),
            peer: peer.name().to_string(),
            samples,
            cpu,
            unit: Unit::Bytes(decoded_len),
        })
        .collect();
    Ok((series, hwm))
}

/// The gateway's own decoder (`buildgate::decompress::open`: async-compression gzip,
/// multiple members) on the compressed context held in memory, in 64 KiB chunks like
/// a socket would deliver them; nothing else.
async fn decompress_only(data: Bytes, expect: u64) -> io::Result<f64> {
    let start = Instant::now();
    let chunks: Vec<io::Result<Bytes>> = (0..data.len())
        .step_by(64 << 10)
        .map(|at| Ok(data.slice(at..(at + (64 << 10)).min(data.len()))))
        .collect();
    let buildgate::decompress::Opened::Compressed(_, mut reader) =
        buildgate::decompress::open(futures_util::stream::iter(chunks)).await?
    else {
        return Err(io::Error::other("the workload 3 context is not compressed"));
    };
    let mut buf = bytes::BytesMut::with_capacity(256 << 10);
    let mut total = 0u64;
    loop {
        buf.clear();
        let n = reader.read_buf(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    if total != expect {
        return Err(io::Error::other(format!(
            "decoded {total} bytes, expected {expect}"
        )));
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Workload 4: keep-alive `/_ping` round trips.
fn pings(env: &Env, config: &Config) -> io::Result<Vec<Series>> {
    let n = config.sizes.w4_pings;
    let label = format!("W4 {n} x GET /_ping, one connection");
    eprintln!("bench: {label}");
    let sink = env.sink()?;
    let procs = start_peers(env, config, &sink, "w4")?;
    let samples = interleaved(config.runs, &config.peers, cpu_in(&procs), |peer| {
        Ok(client::pings(socket_of(&procs, &sink, peer), n)?.as_secs_f64())
    })?;
    Ok(config
        .peers
        .iter()
        .zip(samples)
        .map(|(&peer, (samples, cpu))| Series {
            workload: "w4".to_string(),
            label: label.clone(),
            peer: peer.name().to_string(),
            samples,
            cpu,
            unit: Unit::Requests(u64::from(n)),
        })
        .collect())
}

fn unix_path(host: &str) -> io::Result<PathBuf> {
    host.strip_prefix("unix://")
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other(format!("{host} is not a unix:// address")))
}

/// Workload 5: `docker build` with the docker CLI against the real daemon, directly
/// and through a fresh gateway.
fn docker_builds(env: &Env, config: &Config) -> io::Result<Vec<Series>> {
    let host = &config.docker_host;
    let daemon = unix_path(host)?;
    if UnixStream::connect(&daemon).is_err() || client::pings(&daemon, 1).is_err() {
        return Err(io::Error::other(format!(
            "no Docker daemon answers at {host}"
        )));
    }
    let s = &config.sizes;
    let context = workloads::w5(&config.dir, s.w5_files, s.w5_size)?;
    let len = u64::from(s.w5_files) * s.w5_size;
    let label = format!("W5 docker build, {} MiB context, real dockerd", len / MIB);
    eprintln!("bench: {label}");
    let gateway = env.buildgate(host, "w5")?;
    // The Dockerfile the gateway makes of ours and the label it sets, sent directly, to
    // show what its extra LABEL steps cost the daemon apart from the gateway itself.
    let rewritten = buildgate::dockerfile::rewrite(workloads::DOCKERFILE, "owner", "bench", &[])
        .map_err(|e| io::Error::other(e.to_string()))?;
    std::fs::write(context.join("Dockerfile.rewritten"), &rewritten.dockerfile)?;
    // With BUILDGATE_BENCH_BASELINE, the baseline gateway builds too, interleaved: the
    // way to tell what a change costs a real build.
    let with_baseline = config.peers.contains(&Peer::Baseline);
    let mut peers = vec![Peer::Direct, Peer::Buildgate, Peer::DirectRewritten];
    let mut procs = vec![(Peer::Buildgate, Some(gateway))];
    if with_baseline {
        peers.push(Peer::Baseline);
        procs.push((Peer::Baseline, Some(env.baseline(host, "w5")?)));
    }
    let socket_of = |peer: Peer| {
        procs
            .iter()
            .find(|(p, _)| *p == peer)
            .and_then(|(_, proc)| proc.as_ref())
            .map(|proc| format!("unix://{}", proc.socket.display()))
    };
    let tag = "buildgate-bench-w5:latest";
    let samples = interleaved(config.runs, &peers, cpu_in(&procs), |peer| {
        let via = match peer {
            Peer::Buildgate | Peer::Baseline => socket_of(peer).expect("a gateway peer runs"),
            _ => host.clone(),
        };
        // The gateway also sets `labels=`, which makes the daemon add a LABEL step.
        let (dockerfile, labels) = match peer {
            Peer::DirectRewritten => ("Dockerfile.rewritten", &["--label", "owner=bench"][..]),
            _ => ("Dockerfile", &[][..]),
        };
        let start = Instant::now();
        let out = Command::new("docker")
            .args(["-H", &via, "build", "-q", "--no-cache", "--force-rm"])
            .args(labels)
            .args(["-t", tag, "-f"])
            .arg(context.join(dockerfile))
            .arg(&context)
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .output()?;
        let secs = start.elapsed().as_secs_f64();
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "docker build failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let owner = docker(
            host,
            &[
                "image",
                "inspect",
                "--format",
                "{{index .Config.Labels \"owner\"}}",
                tag,
            ],
        )?;
        if matches!(peer, Peer::Buildgate | Peer::Baseline) && owner.trim() != "bench" {
            return Err(io::Error::other(format!(
                "the image built through the gateway has owner {owner:?}"
            )));
        }
        docker(host, &["rmi", "-f", tag])?;
        Ok(secs)
    })?;
    Ok(peers
        .iter()
        .zip(samples)
        .map(|(&peer, (samples, cpu))| Series {
            workload: "w5".to_string(),
            label: label.clone(),
            peer: peer.name().to_string(),
            samples,
            cpu,
            unit: Unit::Bytes(len),
        })
        .collect())
}

/// Workloads 6 and 7: what `--confine` costs the API requests it checks, against the
/// real daemon, on one keep-alive connection: `docker inspect` of a container (one
/// extra daemon round trip to check its owner) and `docker ps -a` (the owner's label
/// added to the filters). Peers: direct, the gateway, the gateway with `--confine`.
fn api_rates(env: &Env, config: &Config, inspect: bool, list: bool) -> io::Result<Vec<Series>> {
    let host = &config.docker_host;
    let daemon = unix_path(host)?;
    if client::pings(&daemon, 1).is_err() {
        return Err(io::Error::other(format!(
            "no Docker daemon answers at {host}"
        )));
    }
    let n = if config.sizes.w4_pings < 20_000 {
        500
    } else {
        2_000
    };
    // A container of the gateway's owner, made on the daemon directly.
    let id = docker(
        host,
        &[
            "create",
            "--label",
            "owner=bench",
            "buildgate-test/busybox:latest",
            "true",
        ],
    )?;
    let id = id.trim().to_string();
    let result = (|| {
        let procs = vec![
            (Peer::Buildgate, Some(env.buildgate(host, "api")?)),
            (Peer::Confined, Some(env.confined(host, "api")?)),
        ];
        let peers = [Peer::Direct, Peer::Buildgate, Peer::Confined];
        let socket_of = |peer: Peer| match peer {
            Peer::Direct => daemon.clone(),
            _ => procs
                .iter()
                .find(|(p, _)| *p == peer)
                .and_then(|(_, proc)| proc.as_ref())
                .map(|proc| proc.socket.clone())
                .expect("a gateway peer runs"),
        };
        let mut series = Vec::new();
        let mut workloads = Vec::new();
        if inspect {
            workloads.push((
                "w6",
                format!("W6 {n} x docker inspect <container>, one connection"),
                format!("/v1.41/containers/{id}/json"),
            ));
        }
        if list {
            workloads.push((
                "w7",
                format!("W7 {n} x docker ps -a, one connection"),
                "/v1.41/containers/json?all=1".to_string(),
            ));
        }
        for (w, label, path) in workloads {
            eprintln!("bench: {label}");
            let samples = interleaved(config.runs, &peers, cpu_in(&procs), |peer| {
                Ok(client::gets(&socket_of(peer), &path, n)?.as_secs_f64())
            })?;
            series.extend(
                peers
                    .iter()
                    .zip(samples)
                    .map(|(&peer, (samples, cpu))| Series {
                        workload: w.to_string(),
                        label: label.clone(),
                        peer: peer.name().to_string(),
                        samples,
                        cpu,
                        unit: Unit::Requests(u64::from(n)),
                    }),
            );
        }
        Ok(series)
    })();
    let _ = docker(host, &["rm", "-f", &id]);
    result
}

fn docker(host: &str, args: &[&str]) -> io::Result<String> {
    let mut child = Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "docker {} failed",
            args.join(" ")
        )));
    }
    Ok(out)
}

/// Peak RSS of a fresh gateway after one build of workload 1's context, and after one
/// build of a context `mem_factor` times larger (the same shape, generated while it
/// is sent, not cached).
fn memory(env: &Env, config: &Config) -> io::Result<Vec<Memory>> {
    let s = &config.sizes;
    let small = Body::File(workloads::w1(&config.dir, s.w1_files, s.w1_size)?);
    let large = Body::Blobs {
        files: s.w1_files * s.mem_factor,
        size: s.w1_size,
    };
    eprintln!("bench: peak RSS, one build each through a fresh gateway");
    let sink = env.sink()?;
    let mut out = Vec::new();
    for (tag, body) in [("mem-small", small), ("mem-large", large)] {
        let gateway = env.buildgate(&format!("unix://{}", sink.socket.display()), tag)?;
        let build = client::build(&gateway.socket, &body)?;
        // Let the gateway finish its side of the connection before reading the peak.
        std::thread::sleep(Duration::from_millis(100));
        let len = body.len()?;
        out.push(Memory {
            what: format!(
                "one build, fresh gateway ({:.1} s)",
                build.elapsed.as_secs_f64()
            ),
            bytes: len,
            hwm_kib: gateway.vm_hwm_kib(),
        });
    }
    Ok(out)
}
