//! End-to-end tests of the gateway's limits: the real `buildgate` binary in front of the
//! real test dockerd (see `tests/common/mod.rs` and `scripts/test.sh`), driven with raw
//! HTTP so every header byte and every pause is the test's.
//!
//! Each limit is exercised over and under the line. Over it, the build must be refused
//! with a Docker-style JSON error (`{"message":"buildgate: ..."}`, 4xx) that says which
//! limit, and the daemon must hold nothing carrying the gateway's (unique) owner label
//! afterwards: no image, no container. Under it (or with the flag raised), the same
//! kind of context must build and be labelled, so no refusal passes by the gateway
//! refusing everything.
//!
//! Without a daemon these tests skip when run by hand and fail under `CI=true`.

#[macro_use]
mod common;

use common::build::{
    Body, BuildOutput, BuildRequest, BuildResult, FROM, assert_built, assert_refused, gzip_bomb,
};
use common::ustar::{self, Header};
use common::{
    Daemon, Gateway, assert_nothing_owned, assert_owned, buildgate_command, http, status_kb,
};
use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

fn build(gw: &Gateway, query: &str, context: Vec<u8>) -> BuildResult {
    BuildRequest::new(query, Body::Bytes(context)).send(&gw.sock)
}

/// A Dockerfile of exactly `size` bytes: a `FROM`, a `RUN`, then comment lines.
fn dockerfile_of_size(size: usize) -> String {
    let mut df = format!("{FROM}RUN true\n");
    while df.len() < size {
        let room = size - df.len();
        if room < 3 {
            df.push_str(&"\n".repeat(room));
        } else {
            let n = room.min(200);
            df.push_str(&format!("#{}\n", "x".repeat(n - 2)));
        }
    }
    assert_eq!(df.len(), size);
    df
}

// ------------------------------------------------------------------------ Dockerfile size

#[test]
fn dockerfile_over_max_dockerfile_size_is_refused() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);

    // The default limit, 1M: one byte over is refused, naming the flag.
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &[]);
    let r = build(
        &gw,
        "",
        ustar::context(&dockerfile_of_size((1 << 20) + 1), &[]),
    );
    assert_refused(
        r.response(),
        400,
        &["--max-dockerfile-size", "1048577", "1048576"],
    );
    assert_nothing_owned(&d, &gw.owner, "Dockerfile over the default 1M");

    // A lowered limit: over it refused, under it built (so the flag is what decides).
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &["--max-dockerfile-size", "4K"]);
    let r = build(&gw, "", ustar::context(&dockerfile_of_size(4097), &[]));
    assert_refused(r.response(), 400, &["--max-dockerfile-size", "4096"]);
    assert_nothing_owned(&d, &gw.owner, "Dockerfile over --max-dockerfile-size 4K");
    // Also when the Dockerfile is named by `dockerfile=` and is not the first entry.
    let big = ustar::file("sub/Build.file", dockerfile_of_size(5000).as_bytes());
    let r = build(
        &gw,
        "dockerfile=sub%2FBuild.file",
        ustar::context(&format!("{FROM}RUN true\n"), &[big]),
    );
    assert_refused(r.response(), 400, &["--max-dockerfile-size"]);
    assert_nothing_owned(&d, &gw.owner, "named Dockerfile over the limit");

    let r = build(&gw, "", ustar::context(&dockerfile_of_size(4096), &[]));
    let id = assert_built(&r, "Dockerfile at exactly the 4K limit");
    assert_owned(&d, &gw.owner, &id);
}

// ------------------------------------------------------------------------ PAX, long names, paths

#[test]
fn pax_records_and_gnu_long_names_over_max_pax_size_are_refused() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &[]);
    let df = format!("{FROM}RUN true\n");

    // A PAX record set of ~70 KiB (a harmless `comment` record Go ignores), over 64K.
    let records = ustar::pax_record("comment", &vec![b'c'; 70 * 1024]);
    let over = [ustar::pax(b'x', &records), ustar::file("f", b"data")].concat();
    let r = build(&gw, "", ustar::context(&df, &[over]));
    let msg = assert_refused(r.response(), 400, &["65536", &records.len().to_string()]);
    assert!(msg.to_lowercase().contains("pax"), "{msg}");
    assert_nothing_owned(&d, &gw.owner, "PAX record set over 64K");

    // A GNU long name of ~70 KiB, over 64K.
    let long: Vec<u8> = (0..70 * 1024)
        .map(|i| if i % 100 == 99 { b'/' } else { b'n' })
        .collect();
    let over = [
        ustar::gnu_long_name(&long),
        ustar::header("short", b'0', 0).to_vec(),
    ]
    .concat();
    let r = build(&gw, "", ustar::context(&df, &[over]));
    let msg = assert_refused(r.response(), 400, &["65536"]);
    assert!(msg.to_lowercase().contains("long name"), "{msg}");
    assert_nothing_owned(&d, &gw.owner, "GNU long name over 64K");

    // The flag decides: 2 KiB of PAX records pass the default gateway and build...
    let records = ustar::pax_record("comment", &vec![b'c'; 2048]);
    let ok = [ustar::pax(b'x', &records), ustar::file("f", b"data")].concat();
    let r = build(&gw, "", ustar::context(&df, std::slice::from_ref(&ok)));
    let id = assert_built(&r, "2 KiB PAX records under the default limit");
    assert_owned(&d, &gw.owner, &id);

    // ...and are refused by a gateway with --max-pax-size 1K, which names its flag.
    let (small, _c2) = Gateway::start_cleaned(&daemon, &["--max-pax-size", "1K"]);
    let r = build(&small, "", ustar::context(&df, &[ok]));
    let msg = assert_refused(r.response(), 400, &["1024"]);
    assert_nothing_owned(&d, &small.owner, "PAX records over --max-pax-size 1K");
    // Last, so that everything above is checked whatever this says: like the
    // Dockerfile and context limits, the refusal must name the flag an operator would
    // raise (the user is told to "shorten the path", which a PAX comment is not).
    assert!(
        msg.contains("--max-pax-size"),
        "message does not name the flag: {msg:?}"
    );
}

#[test]
fn paths_over_max_path_length_are_refused() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &[]);
    let df = format!("{FROM}RUN true\n");
    let path_of = |len: usize| -> Vec<u8> {
        // Components of 99 bytes, so only the total is long.
        let mut p = Vec::new();
        while p.len() < len {
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend([b'p'; 99]);
        }
        p.truncate(len);
        if p.ends_with(b"/") {
            *p.last_mut().unwrap() = b'q';
        }
        p
    };

    // Over the default 4096, as a PAX path (the usual way long paths are written).
    let long = path_of(5000);
    let over = [
        ustar::pax(b'x', &ustar::pax_record("path", &long)),
        ustar::header("placeholder", b'0', 0).to_vec(),
    ]
    .concat();
    let r = build(&gw, "", ustar::context(&df, &[over]));
    assert_refused(r.response(), 400, &["5000", "4096"]);
    assert_nothing_owned(&d, &gw.owner, "PAX path over 4096");

    // A symlink target over the limit too.
    let link = [
        ustar::pax(b'x', &ustar::pax_record("linkpath", &long)),
        Header::new("link", b'2', 0).mode(0o777).block().to_vec(),
    ]
    .concat();
    let r = build(&gw, "", ustar::context(&df, &[link]));
    assert_refused(r.response(), 400, &["5000", "4096"]);
    assert_nothing_owned(&d, &gw.owner, "link target over 4096");

    // The flag decides: a 150-byte path builds through the default gateway...
    let mid = path_of(150);
    let entry = [
        ustar::pax(b'x', &ustar::pax_record("path", &mid)),
        ustar::file("placeholder", b"data"),
    ]
    .concat();
    let r = build(&gw, "", ustar::context(&df, std::slice::from_ref(&entry)));
    let id = assert_built(&r, "150-byte path under the default limit");
    assert_owned(&d, &gw.owner, &id);

    // ...and is refused with --max-path-length 100, which names its flag.
    let (small, _c2) = Gateway::start_cleaned(&daemon, &["--max-path-length", "100"]);
    let r = build(&small, "", ustar::context(&df, &[entry]));
    let msg = assert_refused(r.response(), 400, &["150", "100"]);
    assert_nothing_owned(&d, &small.owner, "path over --max-path-length 100");
    // Last (see the PAX test): the refusal must name the flag, as the Dockerfile and
    // context limits' refusals do.
    assert!(
        msg.contains("--max-path-length"),
        "message does not name the flag: {msg:?}"
    );
}

// ------------------------------------------------------------------------ context size

#[test]
fn context_over_max_context_size_and_gzip_bomb_get_413() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &["--max-context-size", "4M"]);
    let df = format!("{FROM}RUN true\n");

    // A plain tar context of 8 MiB.
    let r = build(
        &gw,
        "",
        ustar::context(&df, &[ustar::file("big", &vec![7u8; 8 << 20])]),
    );
    assert_refused(r.response(), 413, &["--max-context-size", "4194304"]);
    assert_nothing_owned(&d, &gw.owner, "context over --max-context-size");

    // A gzip bomb: ~1 MiB on the wire, 1 GiB decompressed. Refused as soon as the
    // decoder passes the limit, not after inflating a gigabyte.
    let bomb = gzip_bomb(1024);
    assert!(bomb.len() < 4 << 20, "bomb is {} bytes", bomb.len());
    let started = Instant::now();
    let r = build(&gw, "", bomb);
    let took = started.elapsed();
    assert_refused(r.response(), 413, &["--max-context-size", "4194304"]);
    assert!(
        took < Duration::from_secs(20),
        "the bomb took {took:?} to refuse"
    );
    let hwm = status_kb(gw.pid(), "VmHWM");
    assert!(
        hwm < 100 * 1024,
        "gateway peak memory {hwm} kB after a 1 GiB gzip bomb"
    );
    assert_nothing_owned(&d, &gw.owner, "gzip bomb");

    // Under the limit, plain and gzip, builds.
    let small = ustar::context(&df, &[ustar::file("small", &vec![7u8; 1 << 20])]);
    let id = assert_built(&build(&gw, "", small.clone()), "1 MiB context");
    assert_owned(&d, &gw.owner, &id);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&small).unwrap();
    let id = assert_built(&build(&gw, "", gz.finish().unwrap()), "1 MiB gzip context");
    assert_owned(&d, &gw.owner, &id);
}

// ------------------------------------------------------------------------ context entries

#[test]
fn contexts_over_max_context_entries_are_refused() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &["--max-context-entries", "20"]);
    let df = format!("{FROM}RUN true\n");
    let files = |n: usize| -> Vec<_> {
        (0..n)
            .map(|i| ustar::file(&format!("dir/f{i}"), b"x"))
            .collect()
    };

    // The Dockerfile, `dir` (implied by the paths) and 19 files: 21 entries.
    let r = build(&gw, "", ustar::context(&df, &files(19)));
    assert_refused(
        r.response(),
        400,
        &["--max-context-entries", "more than 20"],
    );
    assert_nothing_owned(&d, &gw.owner, "context over --max-context-entries");

    // Exactly at the limit: builds.
    let r = build(&gw, "", ustar::context(&df, &files(18)));
    let id = assert_built(&r, "context of exactly 20 entries");
    assert_owned(&d, &gw.owner, &id);

    // Out of range is a start-up error, not a silent default.
    for bad in ["0", "100000001"] {
        let out = buildgate_command()
            .args(["--owner", "x", "--max-context-entries", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--max-context-entries {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--max-context-entries"), "{err}");
    }
}

// ------------------------------------------------------------------------ concurrent builds

#[test]
fn max_builds_answers_429_while_full_and_recovers() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &["--max-builds", "2"]);
    let slow = |n: usize| ustar::context(&format!("{FROM}RUN echo slow-{n}; sleep 3\n"), &[]);

    // Two builds running: both have reached their RUN step.
    let a = BuildRequest::new("nocache=1", Body::Bytes(slow(1))).start(&gw.sock);
    let b = BuildRequest::new("nocache=1", Body::Bytes(slow(2))).start(&gw.sock);
    for (name, run) in [("a", &a), ("b", &b)] {
        assert!(
            run.wait_for(r#""stream":"slow-"#, Duration::from_secs(60)),
            "build {name} did not start its RUN step: {}",
            run.so_far()
        );
    }

    // A third is refused at once, before anything reaches the daemon.
    let tag = common::unique("bgt-limits-refused").to_lowercase();
    let r = build(&gw, &format!("t={tag}"), slow(3));
    assert_refused(r.response(), 429, &["--max-builds", "2"]);
    assert!(
        r.elapsed < Duration::from_secs(5),
        "429 took {:?}",
        r.elapsed
    );
    assert!(
        d.inspect_image(&tag).is_none(),
        "the refused build made {tag}"
    );

    // The two finish normally.
    for (name, run) in [("a", a), ("b", b)] {
        let id = assert_built(&run.finish(), &format!("slow build {name}"));
        assert_owned(&d, &gw.owner, &id);
    }

    // Refused builds give their permit back: two bad contexts in a row, then a good one.
    for _ in 0..3 {
        let r = build(&gw, "", b"this is not a tar archive at all".repeat(40));
        assert_eq!(r.response().status, 400, "{}", r.response().text());
    }
    let r = build(&gw, &format!("t={tag}"), slow(4));
    let id = assert_built(&r, "build after the others finished");
    assert_owned(&d, &gw.owner, &id);
    assert_eq!(d.inspect_image(&tag).unwrap()["Id"], id.as_str());

    // And two at once again work (neither holds a leaked permit).
    let a = BuildRequest::new("", Body::Bytes(slow(5))).start(&gw.sock);
    let b = BuildRequest::new("", Body::Bytes(slow(6))).start(&gw.sock);
    for run in [a, b] {
        assert_built(&run.finish(), "parallel build after recovery");
    }
}

// ------------------------------------------------------------------------ header read timeout

#[test]
fn header_read_timeout_cuts_stalled_heads_but_not_slow_uploads() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &["--header-read-timeout", "2"]);

    // How long until the gateway closes a connection that sent `sent` and then nothing
    // (or trickles `sent` a byte at a time if `trickle`).
    let cut_after = |sent: &'static [u8], trickle: Option<Duration>| {
        let mut s = http::connect(&gw.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let started = Instant::now();
        let writer = {
            let mut w = s.try_clone().unwrap();
            thread::spawn(move || match trickle {
                None => {
                    let _ = w.write_all(sent);
                }
                Some(pause) => {
                    for b in sent {
                        if w.write_all(&[*b]).is_err() {
                            return;
                        }
                        // The stimulus: a client this slow.
                        thread::sleep(pause);
                    }
                }
            })
        };
        let mut got = Vec::new();
        let end = s.read_to_end(&mut got);
        let took = started.elapsed();
        let _ = s.shutdown(std::net::Shutdown::Both);
        writer.join().unwrap();
        (took, end.map(|_| got))
    };

    for (what, sent, trickle) in [
        ("a partial request line", &b"GET /_pi"[..], None),
        ("a request line without headers' end", &b"GET /_ping HTTP/1.1\r\nHost: d\r\n"[..], None),
        ("nothing at all", &b""[..], None),
        (
            "a head trickled a byte every 400 ms",
            &b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"[..],
            Some(Duration::from_millis(400)),
        ),
    ] {
        let (took, got) = cut_after(sent, trickle);
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(8),
            "{what}: connection closed after {took:?} (want ~2 s); read {got:?}\n{}",
            gw.log_banner()
        );
        // Whatever it sent before closing, it was not a successful response.
        if let Ok(bytes) = got {
            assert!(
                !bytes.starts_with(b"HTTP/1.1 200"),
                "{what}: answered {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    // A complete head, then a build context trickled over ~6 s (three times the
    // timeout): the timeout is about the head only, so the build succeeds.
    let context = ustar::context(
        &format!("{FROM}RUN true\n"),
        &[ustar::file("payload", &vec![b'p'; 24 * 1024])],
    );
    let chunk = context.len() / 15 + 1;
    let r = BuildRequest::new(
        "",
        Body::Paced {
            data: context,
            chunk,
            pause: Duration::from_millis(400),
        },
    )
    .send(&gw.sock);
    assert!(
        r.elapsed >= Duration::from_secs(5),
        "the upload was not slow: {:?}",
        r.elapsed
    );
    let id = assert_built(&r, "slow upload");
    assert_owned(&d, &gw.owner, &id);
    let out = BuildOutput::parse(&r.response().body);
    assert!(out.stream().contains("Successfully built"), "{}", out.raw);
}
