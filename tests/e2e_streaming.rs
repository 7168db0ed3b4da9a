//! The build context streams: a 2 GiB context goes through the real `buildgate` binary
//! to a real dockerd (see `tests/common/mod.rs`), and the gateway's peak resident set
//! (`VmHWM` in `/proc/<pid>/status`) stays far below the context size.
//!
//! The context is generated on the fly and never held whole, here or anywhere: a few
//! large files (a 1 MiB pseudo-random block repeated) and then, **last**, a `FROM scratch`
//! Dockerfile with `LABEL x=y`, so the gateway can only find the Dockerfile after the
//! whole context went past it. The gateway also runs under an address-space limit
//! (`prlimit --as`) well below the context size, so buffering the body would make it fail
//! outright rather than merely measure high.

#[macro_use]
mod common;

use common::{Daemon, Gateway, Rng, RssSampler, http, labels, proc_status_kb, status_kb, ustar};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
/// Total size of the large files in the context.
const CONTEXT_BYTES: u64 = 2048 * MIB;
/// Number of large files it is split into.
const FILES: u64 = 4;
/// The bound on the gateway's peak RSS: far below the context, far above what a
/// streaming gateway with a handful of 256 KiB frames in flight needs.
const MAX_HWM: u64 = 128 * MIB;
/// Address-space headroom given to the gateway above its idle VmSize.
const AS_HEADROOM: u64 = 768 * MIB;

/// 1 MiB of pseudo-random bytes: incompressible enough that nothing can shortcut it.
fn random_block() -> Vec<u8> {
    let mut out = vec![0u8; MIB as usize];
    Rng::new(0x9E37_79B9_7F4A_7C15).fill(&mut out);
    out
}

#[test]
fn two_gib_context_streams_through_in_bounded_memory() {
    let host = daemon_or_skip!();
    let daemon = Daemon::new(&host);
    let gw = Gateway::start(&host, &[]);
    let pid = gw.pid();

    // A hard limit too: with less address space than the context, a gateway that
    // buffered the body could not even hold it.
    let idle_vm = status_kb(pid, "VmSize") * 1024;
    let as_limit = idle_vm + AS_HEADROOM;
    let limited = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--as={as_limit}"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    eprintln!(
        "gateway pid {pid}: idle VmSize {} MiB; prlimit --as={} MiB {}",
        idle_vm / MIB,
        as_limit / MIB,
        if limited {
            "applied"
        } else {
            "NOT applied (prlimit failed)"
        }
    );
    if limited {
        assert!(
            as_limit < CONTEXT_BYTES,
            "the address-space limit must be below the context size to mean anything"
        );
    }

    let dockerfile = b"FROM scratch\nLABEL x=y\n";
    let file_size = CONTEXT_BYTES / FILES;
    let total = FILES * (512 + file_size) + 512 + 512 + 1024;

    let before_c = daemon.ids("/containers/json?all=1");
    let before_i = daemon.ids("/images/json?all=1");

    // Sample RSS while it streams, to report the curve and not only the peak.
    let sampler = RssSampler::start(pid);

    let started = Instant::now();
    let mut s = UnixStream::connect(&gw.sock).expect("connect to the gateway");
    s.set_read_timeout(Some(Duration::from_secs(150))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1.41/build?rm=1&forcerm=1 HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\
         Content-Type: application/x-tar\r\nContent-Length: {total}\r\n\r\n"
    );
    let block = random_block();
    let mut sent = 0u64;
    let upload = (|| -> std::io::Result<()> {
        s.write_all(head.as_bytes())?;
        for i in 0..FILES {
            s.write_all(&ustar::header(&format!("big{i}.bin"), b'0', file_size))?;
            sent += 512;
            let mut left = file_size;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                s.write_all(&block[..n])?;
                left -= n as u64;
                sent += n as u64;
            }
        }
        s.write_all(&ustar::header("Dockerfile", b'0', dockerfile.len() as u64))?;
        let mut data = dockerfile.to_vec();
        data.resize(512, 0);
        s.write_all(&data)?;
        s.write_all(&ustar::END)?;
        sent += 512 + 512 + 1024;
        Ok(())
    })();
    let upload_secs = started.elapsed().as_secs_f64();
    let response = http::read_response(&mut s, true);
    let max_rss = sampler.stop() * 1024;

    let alive = proc_status_kb(pid, "VmHWM").map(|kb| kb * 1024);
    let hwm = alive.unwrap_or(0);
    eprintln!(
        "sent {} MiB of {} MiB in {upload_secs:.1} s ({:.0} MiB/s); upload result {upload:?}; \
         gateway VmHWM {} MiB, max sampled VmRSS {} MiB",
        sent / MIB,
        total / MIB,
        sent as f64 / MIB as f64 / upload_secs.max(0.001),
        hwm / MIB,
        max_rss / MIB,
    );

    // Find and check what the build made, then clean it up whatever happened.
    let new_c: Vec<String> = daemon
        .ids("/containers/json?all=1")
        .difference(&before_c)
        .cloned()
        .collect();
    let new_i: Vec<String> = daemon
        .ids("/images/json?all=1")
        .difference(&before_i)
        .cloned()
        .collect();
    let image_labels: Vec<_> = new_i.iter().map(|i| daemon.image_labels(i)).collect();
    let container_labels: Vec<_> = new_c
        .iter()
        .filter_map(|c| daemon.inspect_container(c).as_ref().map(labels))
        .collect();
    for c in &new_c {
        daemon.remove_container(c);
    }
    daemon.remove_images(&new_i);

    assert!(
        alive.is_some(),
        "the gateway died during the upload\n{}",
        gw.log_banner()
    );
    upload.unwrap_or_else(|e| panic!("upload failed after {sent} bytes: {e}\n{}", gw.log_banner()));
    let response = response.unwrap_or_else(|e| panic!("no response: {e}\n{}", gw.log_banner()));
    let text = response.text();
    assert_eq!(response.status, 200, "{text}\n{}", gw.log_banner());
    assert!(
        !text.contains("errorDetail"),
        "the build failed: {text}\n{}",
        gw.log_banner()
    );
    let id = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["aux"]["ID"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no image id in {text}"));
    assert!(
        new_i.contains(&id),
        "built image {id} not among the new images {new_i:?}"
    );
    for (i, l) in new_i.iter().zip(&image_labels) {
        assert_eq!(
            l.get("owner"),
            Some(&gw.owner),
            "image {i} lacks the owner label: {l:?}"
        );
    }
    for l in &container_labels {
        assert_eq!(l.get("owner"), Some(&gw.owner), "container labels {l:?}");
    }
    let final_labels = &image_labels[new_i.iter().position(|i| *i == id).unwrap()];
    assert_eq!(final_labels.get("x").map(String::as_str), Some("y"));

    assert!(
        hwm < MAX_HWM,
        "gateway VmHWM {} MiB for a {} MiB context: the body was buffered (bound {} MiB)",
        hwm / MIB,
        total / MIB,
        MAX_HWM / MIB
    );
}
