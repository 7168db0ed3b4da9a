//! Criterion micro-benchmarks, in MB/s of input:
//!
//! * `tar/*`: the tar reader plus writer, as the build pipeline drives them: the
//!   archive is fed in 256 KiB reads, every entry's header is written afresh with
//!   `write_header`, bodies pass through as the reader hands them out (zero-copy).
//! * `walk/*`: the same plus the context walk (`context::Walk`), as
//!   `build::rewrite_context` runs it: the whole per-entry path of a build.
//! * `dockerfile/*`: the Dockerfile scanner and rewriter (`dockerfile::rewrite`).
//!
//! Run with `cargo bench --bench micro`; `scripts/bench.sh` runs it and prints these
//! numbers in its table.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use buildgate::context::{self, Walk};
use buildgate::dockerfile;
use buildgate::tar::reader::{Event, Limits, Reader};
use buildgate::tar::writer::write_header;

// The tests' raw tar writer: the inputs are made without the code under test.
#[path = "../tests/common/ustar.rs"]
mod ustar;

/// Same read size as the gateway's pipeline (`READ_CHUNK` in src/build.rs).
const READ_CHUNK: usize = 256 * 1024;

/// An archive of `files` regular files of `size` bytes, `per_dir` to a directory.
fn archive(files: usize, size: usize, per_dir: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(files * (size + 1024) + 4096);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..files {
        if i % per_dir == 0 {
            out.extend_from_slice(&ustar::header(&format!("d{:05}/", i / per_dir), b'5', 0));
        }
        out.extend_from_slice(&ustar::header(
            &format!("d{:05}/f{i:07}", i / per_dir),
            b'0',
            size as u64,
        ));
        let start = out.len();
        out.resize(start + size, 0);
        for chunk in out[start..].chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        out.resize(out.len().next_multiple_of(512), 0);
    }
    let dockerfile = b"FROM busybox\nLABEL a=b\n";
    out.extend_from_slice(&ustar::header("Dockerfile", b'0', dockerfile.len() as u64));
    out.extend_from_slice(dockerfile);
    out.resize(out.len().next_multiple_of(512) + 1024, 0);
    out
}

/// Reads `tar` the way the pipeline does and re-writes every header; with `walk`, also
/// applies every entry to it and hands it candidate data, as `build::rewrite_context`
/// does. Returns the bytes that would have gone upstream (plus the Dockerfile's size),
/// so nothing is optimised away.
fn read_and_rewrite(tar: &[u8], mut walk: Option<Walk>) -> u64 {
    let mut reader = Reader::new(Limits::default());
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut out = BytesMut::with_capacity(256 * 1024);
    let mut sent = 0u64;
    let mut capture = false;
    let mut chunks = tar.chunks(READ_CHUNK);
    loop {
        match reader.next_event(&mut input).expect("valid archive") {
            Some(Event::Entry(entry)) => {
                if let Some(walk) = walk.as_mut() {
                    capture = walk.entry(&entry).expect("valid context");
                }
                write_header(&entry, &mut out).expect("writable");
            }
            Some(Event::Data(data)) => {
                if let Some(walk) = walk.as_mut().filter(|_| capture) {
                    walk.data(&data).expect("candidate data");
                }
                sent += data.len() as u64;
            }
            Some(Event::EndOfArchive) => break,
            None => match chunks.next() {
                Some(chunk) => input.extend_from_slice(chunk),
                None => break,
            },
        }
        if out.len() >= 128 * 1024 {
            sent += out.len() as u64;
            out.clear();
        }
    }
    let dockerfile = walk.map_or(0, |w| w.finish().expect("Dockerfile found").len());
    sent + out.len() as u64 + dockerfile as u64
}

fn tar_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("tar");
    for (label, files, size) in [
        ("large-files-16x4MiB", 16, 4 << 20),
        ("small-files-20000x1KiB", 20_000, 1024),
    ] {
        let tar = archive(files, size, 10);
        group.throughput(Throughput::Bytes(tar.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| read_and_rewrite(black_box(&tar), None))
        });
    }
    group.finish();
}

/// W2 of the macro benchmark: many small files in a few large directories, where the
/// walk's per-entry cost shows.
fn context_walk(c: &mut Criterion) {
    let mut group = c.benchmark_group("walk");
    let tar = archive(100_000, 1024, 1000);
    group.throughput(Throughput::Bytes(tar.len() as u64));
    group.sample_size(10);
    group.bench_function("small-files-100000x1KiB-100dirs", |b| {
        b.iter(|| {
            let walk = Walk::new(None, context::Limits::default()).expect("default Dockerfile");
            read_and_rewrite(black_box(&tar), Some(walk))
        })
    });
    group.finish();
}

/// A Dockerfile that exercises the scanner: several stages, long continued RUN
/// lines with comments inside, LABELs, ARGs, blank lines.
fn dockerfile_text(stages: usize) -> Vec<u8> {
    let mut s = String::from("# syntax=docker/dockerfile:1\n# escape=\\\n\n");
    for stage in 0..stages {
        s.push_str(&format!(
            "ARG BASE{stage}=busybox\nFROM ${{BASE{stage}}} AS stage{stage}\n"
        ));
        s.push_str(&format!(
            "LABEL org.example.stage=\"{stage}\" \\\n      org.example.name=\"bench\"\n"
        ));
        s.push_str("ENV PATH=/usr/local/bin:$PATH LANG=C.UTF-8\n");
        s.push_str("RUN set -eux; \\\n");
        for i in 0..20 {
            s.push_str(&format!("    echo step {i} >> /tmp/log; \\\n"));
            if i % 5 == 0 {
                s.push_str("    # a comment inside the continuation\n");
            }
        }
        s.push_str("    true\n\n");
        s.push_str(&format!(
            "COPY --from=stage{} /tmp/log /log{stage}\n",
            stage.saturating_sub(1)
        ));
        s.push_str("WORKDIR /app\nEXPOSE 8080\nCMD [\"sh\", \"-c\", \"echo hi\"]\n\n");
    }
    s.into_bytes()
}

fn dockerfile_scanner(c: &mut Criterion) {
    let mut group = c.benchmark_group("dockerfile");
    for (label, stages) in [("typical-4-stages", 4), ("large-400-stages", 400)] {
        let text = dockerfile_text(stages);
        // The scanner must accept it, or the benchmark measures an error path.
        dockerfile::rewrite(&text, "owner", "bench", &[]).expect("benchmark Dockerfile is valid");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("{label}-{}KiB", text.len() / 1024), |b| {
            b.iter(|| dockerfile::rewrite(black_box(&text), "owner", "bench", &[]).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, tar_codec, context_walk, dockerfile_scanner);
criterion_main!(benches);
