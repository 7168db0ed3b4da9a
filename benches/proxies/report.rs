//! The markdown report: machine, command, one row per workload and peer (median of the
//! interleaved runs), the targets of issue 4 with their verdicts, peak memory, and the
//! criterion micro-benchmarks if they ran just before.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::peers::Peer;

/// What a run's time is divided into.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// Context bytes (decoded, for workload 3): MB/s.
    Bytes(u64),
    /// Requests: req/s.
    Requests(u64),
}

/// One peer on one workload.
pub struct Series {
    pub workload: String,
    pub label: String,
    pub peer: String,
    /// Seconds per run.
    pub samples: Vec<f64>,
    /// CPU seconds the peer's process used per run (empty for peers without one).
    pub cpu: Vec<f64>,
    pub unit: Unit,
}

impl Series {
    pub fn median(&self) -> f64 {
        median(&self.samples)
    }
}

/// One peak-RSS reading of a fresh gateway.
pub struct Memory {
    pub what: String,
    /// Context size.
    pub bytes: u64,
    pub hwm_kib: Option<u64>,
}

pub struct Report {
    quick: bool,
    runs: usize,
    dir: PathBuf,
    peers: Vec<String>,
    load_before: String,
    pub series: Vec<Series>,
    pub memory: Vec<Memory>,
    pub notes: Vec<String>,
}

pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "?".into())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    pub fn new(quick: bool, runs: usize, dir: &Path, peers: &[Peer]) -> Report {
        Report {
            quick,
            runs,
            dir: dir.to_path_buf(),
            peers: peers.iter().map(|p| p.name().to_string()).collect(),
            load_before: loadavg(),
            series: Vec::new(),
            memory: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn find(&self, workload: &str, peer: &str) -> Option<&Series> {
        self.series
            .iter()
            .find(|s| s.workload == workload && s.peer == peer)
    }

    /// Median time of `a` over median time of `b` on `workload`.
    fn ratio(&self, workload: &str, a: &str, b: &str) -> Option<f64> {
        Some(self.find(workload, a)?.median() / self.find(workload, b)?.median())
    }

    pub fn print(&self) {
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        println!(
            "## buildgate benchmark{}\n",
            if self.quick {
                " (QUICK mode: shrunken workloads, not for the README)"
            } else {
                ""
            }
        );
        println!(
            "- machine: {nproc} CPUs ({}), kernel {}, load average before {} / after {}",
            cpu_model(),
            kernel.trim(),
            self.load_before,
            loadavg()
        );
        println!(
            "- command: `{}`",
            std::env::var("BUILDGATE_BENCH_COMMAND").unwrap_or_else(|_| "scripts/bench.sh".into())
        );
        println!(
            "- peers: {}; {} timed runs each after one warm-up, interleaved; medians; workloads cached in {}",
            self.peers.join(", "),
            self.runs,
            self.dir.display()
        );
        if let Ok(at) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            println!("- finished at unix time {}", at.as_secs());
        }
        println!(
            "- rate: context bytes (decoded, for W3) over the median time; proxy CPU: user+system \
             CPU seconds of the proxy process per run (median; 10 ms ticks), which load on the \
             machine disturbs far less than wall time"
        );
        println!();
        println!(
            "| workload | peer | median | min | max | rate | time vs direct | proxy CPU per run |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        let mut last = String::new();
        for s in &self.series {
            let label = if s.label == last {
                String::new()
            } else {
                s.label.clone()
            };
            last = s.label.clone();
            let m = s.median();
            let min = s.samples.iter().copied().fold(f64::INFINITY, f64::min);
            let max = s.samples.iter().copied().fold(0.0, f64::max);
            let rate = match s.unit {
                Unit::Bytes(b) => format!("{:.0} MB/s", b as f64 / m / 1e6),
                Unit::Requests(n) => format!("{:.0} req/s", n as f64 / m),
            };
            let vs = self
                .ratio(&s.workload, &s.peer, "direct")
                .map_or("".into(), |r| format!("{r:.2}x"));
            let cpu = if s.cpu.is_empty() {
                String::new()
            } else {
                secs(median(&s.cpu))
            };
            println!(
                "| {label} | {} | {} | {} | {} | {rate} | {vs} | {cpu} |",
                s.peer,
                secs(m),
                secs(min),
                secs(max)
            );
        }
        println!();
        self.print_targets();
        self.print_memory();
        print_micro();
        for note in &self.notes {
            println!("- note: {note}");
        }
    }

    fn print_targets(&self) {
        let mut rows: Vec<(String, Option<f64>, String, Option<bool>)> = Vec::new();
        let le = |v: Option<f64>, limit: f64| v.map(|v| v <= limit);
        let r = self.ratio("w1", "buildgate", "direct");
        rows.push((
            "W1 buildgate / direct time".into(),
            r,
            "<= 1.25".into(),
            le(r, 1.25),
        ));
        let r = self.ratio("w1", "buildgate", "haproxy");
        rows.push((
            "W1 buildgate / HAProxy time".into(),
            r,
            "<= 1.00".into(),
            le(r, 1.0),
        ));
        let r = self.ratio("w2", "buildgate", "direct");
        rows.push((
            "W2 buildgate / direct time".into(),
            r,
            "<= 1.25".into(),
            le(r, 1.25),
        ));
        let r = self.ratio("w3", "buildgate", Peer::Decompress.name());
        rows.push((
            "W3 buildgate / plain decompression time".into(),
            r,
            "<= 1.2".into(),
            le(r, 1.2),
        ));
        // Rates: the inverse of the time ratio.
        let r = self.ratio("w4", "direct", "buildgate");
        rows.push((
            "W4 buildgate / direct req/s".into(),
            r,
            ">= 0.8".into(),
            r.map(|r| r >= 0.8),
        ));
        let r = self.ratio("w4", "haproxy", "buildgate");
        rows.push((
            "W4 buildgate / HAProxy req/s".into(),
            r,
            ">= 1.0".into(),
            r.map(|r| r >= 1.0),
        ));
        let r = self.ratio("w4", "socat", "buildgate");
        rows.push((
            "W4 buildgate / socat req/s".into(),
            r,
            ">= 1.0".into(),
            r.map(|r| r >= 1.0),
        ));
        // Against the `baseline` peer (the binary a change replaces), when it ran: a
        // change must not cost the passthrough or a real build.
        let r = self.ratio("w4", "baseline", "buildgate");
        rows.push((
            "W4 buildgate / baseline req/s".into(),
            r,
            ">= 0.95".into(),
            r.map(|r| r >= 0.95),
        ));
        let r = self.ratio("w5", "buildgate", "baseline");
        rows.push((
            "W5 buildgate / baseline time".into(),
            r,
            "<= 1.05".into(),
            le(r, 1.05),
        ));
        let r = self.ratio("w5", "buildgate", "direct");
        rows.push((
            "W5 buildgate / direct time".into(),
            r,
            "<= 1.05".into(),
            le(r, 1.05),
        ));
        let r = self.ratio("w5", "buildgate", Peer::DirectRewritten.name());
        rows.push((
            "W5 buildgate / direct with the gateway's Dockerfile and labels (info)".into(),
            r,
            "-".into(),
            None,
        ));
        let w1 = self
            .memory
            .iter()
            .find(|m| m.what.starts_with("W1"))
            .and_then(|m| m.hwm_kib);
        let v = w1.map(mib);
        rows.push((
            "W1 gateway peak RSS, MiB".into(),
            v,
            "<= 32".into(),
            le(v, 32.0),
        ));
        let small = self
            .memory
            .iter()
            .find(|m| m.what.starts_with("one build"))
            .and_then(|m| m.hwm_kib);
        let large = self
            .memory
            .iter()
            .rev()
            .find(|m| m.what.starts_with("one build"))
            .and_then(|m| m.hwm_kib);
        let v = small.zip(large).map(|(s, l)| l as f64 / s as f64);
        rows.push((
            "peak RSS, 4x context / 1x context".into(),
            v,
            "0.9 .. 1.1".into(),
            v.map(|v| (0.9..=1.1).contains(&v)),
        ));
        println!("| target | value | limit | verdict |");
        println!("|---|---:|---:|---|");
        for (what, value, limit, ok) in rows {
            let value = value.map_or("not measured".into(), |v| format!("{v:.2}"));
            let verdict = match ok {
                Some(true) => "met",
                Some(false) => "**MISSED**",
                None => "-",
            };
            println!("| {what} | {value} | {limit} | {verdict} |");
        }
        println!();
    }

    fn print_memory(&self) {
        if self.memory.is_empty() {
            return;
        }
        println!("| buildgate peak RSS (VmHWM) | context | peak |");
        println!("|---|---:|---:|");
        for m in &self.memory {
            println!(
                "| {} | {:.0} MiB | {} |",
                m.what,
                m.bytes as f64 / (1 << 20) as f64,
                m.hwm_kib
                    .map_or("?".into(), |k| format!("{:.1} MiB", mib(k)))
            );
        }
        println!();
    }
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

/// Criterion's results (`<dir>/<group>/<bench>/new/{benchmark,estimates}.json`), when
/// the script ran `cargo bench --bench micro` first: only results written after
/// `BUILDGATE_BENCH_MICRO_SINCE` (unix seconds) count, so stale numbers never show.
fn print_micro() {
    let Ok(dir) = std::env::var("BUILDGATE_BENCH_CRITERION_DIR") else {
        return;
    };
    let since: u64 = std::env::var("BUILDGATE_BENCH_MICRO_SINCE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut found = Vec::new();
    collect_estimates(Path::new(&dir), &mut found);
    let mut rows = Vec::new();
    for estimates in found {
        let fresh = fs::metadata(&estimates)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .is_some_and(|t| t.as_secs() >= since);
        if !fresh {
            continue;
        }
        let read = |p: &Path| -> Option<serde_json::Value> {
            serde_json::from_str(&fs::read_to_string(p).ok()?).ok()
        };
        let (Some(est), Some(bench)) = (
            read(&estimates),
            read(&estimates.with_file_name("benchmark.json")),
        ) else {
            continue;
        };
        let (Some(ns), Some(bytes), Some(id)) = (
            est["median"]["point_estimate"].as_f64(),
            bench["throughput"]["Bytes"].as_f64(),
            bench["full_id"].as_str(),
        ) else {
            continue;
        };
        rows.push((id.to_string(), bytes / (ns * 1e-9) / 1e6, ns));
    }
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    println!("| micro-benchmark (criterion, median) | throughput | time per iteration |");
    println!("|---|---:|---:|");
    for (id, mbps, ns) in rows {
        println!("| {id} | {mbps:.0} MB/s | {} |", secs(ns * 1e-9));
    }
    println!();
}

fn collect_estimates(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                let estimates = path.join("estimates.json");
                if estimates.exists() {
                    out.push(estimates);
                }
            } else {
                collect_estimates(&path, out);
            }
        }
    }
}
