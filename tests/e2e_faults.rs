//! End-to-end fault tests: the real `buildgate` binary against a real dockerd while
//! things go wrong around it: a client dies mid-upload, the daemon is stopped and
//! restarted, a client uploads at a trickle, the daemon stops answering altogether.
//!
//! Tests that stop, restart or freeze their daemon use a second private dockerd
//! ([`common::FaultDaemon`], `scripts/dockerd.sh` with its own `BUILDGATE_TEST_DIR`),
//! never the shared one other test binaries use. The others run against the shared
//! test daemon. Without a daemon these tests skip when run by hand; under `CI=true`
//! they fail, including when the second daemon cannot start.

#[macro_use]
mod common;

use common::build::{
    Body, BuildOutput, BuildRequest, FROM, RunningBuild, assert_built, assert_refused,
};
use common::ustar;
use common::{Daemon, FaultDaemon, Gateway, IMAGE, assert_owned, clis, http, wait_for};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

/// One request on an open keep-alive connection.
fn keepalive_get(s: &mut UnixStream, path: &str) -> std::io::Result<http::Response> {
    write!(s, "GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n")?;
    http::read_response(s, false)
}

/// A 502 (or `status`) Docker-style JSON error saying the daemon cannot be reached.
#[track_caller]
fn assert_json_error(r: &http::Response, status: u16, needle: &str) {
    assert_refused(r, status, &[needle]);
}

// ------------------------------------------------------------------------ client dies mid-upload

#[test]
fn client_disconnect_mid_upload_builds_nothing_and_leaks_nothing() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &[]);

    // 16 MiB of payload after the Dockerfile: the gateway has seen (and could already
    // have rewritten) the Dockerfile long before the client dies.
    let payload = vec![0x5au8; 16 << 20];
    let df = format!("{FROM}RUN echo built-from-a-broken-upload\n");
    let file = ustar::file("payload", &payload);
    let context = ustar::context(&df, std::slice::from_ref(&file));
    let dockerfile_entry = ustar::file("Dockerfile", df.as_bytes()).len();
    let entries_end = dockerfile_entry + file.len();

    // Positive control, through another gateway: the whole context builds, and its
    // image is found by the owner label, so "nothing owned" below can see a build.
    {
        let (control, _c) = Gateway::start_cleaned(&daemon, &[]);
        let r = BuildRequest::new("", Body::Bytes(context.clone())).send(&control.sock);
        let id = assert_built(&r, "the full context");
        assert_owned(&d, &control.owner, &id);
        let (_, images) = d.owned(&control.owner);
        assert!(images.contains(&id), "{images:?} lacks {id}");
    }

    // Warm up, then take the baseline once quiet.
    for _ in 0..3 {
        assert_eq!(gw.get("/_ping").status, 200);
    }
    let baseline = gw.quiet_fd_count();

    // GNU tar pads archives to 10 KiB records: the same context with such padding.
    let padded = [context.clone(), vec![0u8; 9 * 1024]].concat();

    // (what, body to send, how many bytes of it to send, chunked framing)
    let mut cases: Vec<(String, &Vec<u8>, usize, bool)> = Vec::new();
    let mut case =
        |what: &str, data, cut, chunked| cases.push((what.to_string(), data, cut, chunked));
    case(
        "in the middle of a file's data",
        &context,
        dockerfile_entry + 512 + (8 << 20),
        false,
    );
    case(
        "in the middle of a header",
        &context,
        dockerfile_entry + 100,
        false,
    );
    // Every entry complete, only the end-of-archive missing: Go's tar reader takes a
    // clean EOF here as the end, so only the broken HTTP body tells them apart.
    case(
        "after the last entry, before end-of-archive",
        &context,
        entries_end,
        false,
    );
    case(
        "one byte short of the end",
        &context,
        context.len() - 1,
        false,
    );
    // The archive complete, the HTTP body not: the client dies in its padding.
    case(
        "after end-of-archive, in the record padding",
        &padded,
        context.len() + 4096,
        false,
    );
    // With chunked framing, as the docker CLI uploads: the connection closes at a clean
    // chunk boundary, the zero-length last chunk never sent.
    case(
        "chunked, in the middle of a file's data",
        &context,
        64 * 1024 * 100,
        true,
    );
    case(
        "chunked, after the last entry, before end-of-archive",
        &context,
        entries_end,
        true,
    );
    case(
        "chunked, the whole archive but not the last chunk",
        &context,
        context.len(),
        true,
    );

    // Every case runs twice: the client dies (socket closed both ways), and the client
    // stops uploading but waits for the answer (write side shut), which must then be
    // an error. Every case runs (its leftovers removed) before the verdict, so one
    // failure hides neither the others nor the leak check below.
    let mut built = Vec::new();
    for (what, data, cut, chunked) in cases {
        for half_close in [false, true] {
            let what = if half_close {
                format!("{what} (half-closed, waiting for the answer)")
            } else {
                what.clone()
            };
            let data = data.clone();
            let body = if chunked {
                Body::CutChunked {
                    data,
                    send: cut,
                    half_close,
                }
            } else {
                Body::CutAfter {
                    data,
                    send: cut,
                    half_close,
                }
            };
            let r = BuildRequest::new("", body).send(&gw.sock);
            assert_eq!(r.written, cut as u64, "{what}: {:?}", r.write_error);
            // Whatever came back, it must not be a success; a client still listening
            // must be told the upload broke (a JSON error, or an error line).
            match &r.response {
                Ok(resp) if resp.status == 200 => {
                    let out = BuildOutput::parse(&resp.body);
                    if out.error().is_none() || out.raw.contains("Successfully built") {
                        built.push(format!("{what}: answered as a success: {}", out.raw));
                    }
                }
                Ok(resp) => {
                    assert_refused(resp, 400, &["broke off"]);
                }
                Err(e) => assert!(!half_close, "{what}: no answer: {e}"),
            }
            let (containers, images) = d.settled_owned(&gw.owner);
            if !containers.is_empty() || !images.is_empty() {
                built.push(format!(
                    "{what}: the daemon built from a broken upload: containers {containers:?}, images {images:?}"
                ));
                d.remove_owned(&gw.owner);
            }
        }
    }

    // Nothing leaked: no client or daemon connection, no pipe, no temp file left open.
    let after = gw.settle_fds(baseline);
    assert!(
        after <= baseline,
        "gateway fds: {baseline} before, {after} after 16 broken uploads: {:?}\n{}",
        gw.fd_list(),
        gw.log_banner()
    );
    eprintln!("gateway fds: {baseline} before, {after} after the broken uploads");
    // And the gateway still builds.
    let r = BuildRequest::new("", Body::Bytes(ustar::context(&df, &[]))).send(&gw.sock);
    let id = assert_built(&r, "a build after the broken uploads");
    assert_owned(&d, &gw.owner, &id);

    assert!(
        built.is_empty(),
        "uploads the client broke off still built:\n{}",
        built.join("\n")
    );
}

// ------------------------------------------------------------------------ client dies mid-build

#[test]
fn client_gone_mid_build_cancels_it_and_frees_its_build_slot() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &["--max-builds", "2"]);
    let long =
        |n: usize| ustar::context(&format!("{FROM}RUN echo long-{n}-started; sleep 30\n"), &[]);
    let running = |d: &Daemon| d.running_with_label(&format!("owner={}", gw.owner)).len();

    // Two builds fill the gateway; their RUN steps are running on the daemon.
    let builds: Vec<_> = (0..2)
        .map(|n| BuildRequest::new("nocache=1", Body::Bytes(long(n))).start(&gw.sock))
        .collect();
    for (n, b) in builds.iter().enumerate() {
        assert!(
            // The RUN's own output line, not the "Step 2/3 : RUN echo ..." line.
            b.wait_for(
                &format!(r#""stream":"long-{n}-started"#),
                Duration::from_secs(60)
            ),
            "build {n} did not start: {}",
            b.so_far()
        );
    }
    assert_eq!(
        running(&d),
        2,
        "both RUN steps should be running; the builds so far:\n{}",
        builds
            .iter()
            .map(|b| b.so_far())
            .collect::<Vec<_>>()
            .join("\n---\n")
    );

    // Both clients vanish. A daemon talked to directly cancels a build whose client
    // has gone; through the gateway it must too, well before `sleep 30` ends.
    let gone = Instant::now();
    for b in builds {
        b.abandon();
    }
    let cancelled = wait_for(Duration::from_secs(15), || (running(&d) == 0).then_some(()));
    let took = gone.elapsed();
    eprintln!("abandoned builds' containers stopped running after {took:?}");

    // Their slots are free again: two builds at once are both accepted.
    let again: Vec<_> = (0..2)
        .map(|n| {
            BuildRequest::new(
                "",
                Body::Bytes(ustar::context(&format!("{FROM}RUN echo again-{n}\n"), &[])),
            )
            .start(&gw.sock)
        })
        .collect();
    let results: Vec<_> = again.into_iter().map(|b| b.finish()).collect();
    for (n, r) in results.iter().enumerate() {
        let resp = r.response();
        assert_eq!(
            resp.status,
            200,
            "build {n} after the clients left ({took:?} after): {}",
            resp.text()
        );
        let id = assert_built(r, "a build after the clients left");
        assert_owned(&d, &gw.owner, &id);
    }
    assert!(
        cancelled.is_some(),
        "the builds of clients that went away kept running for 15 s on the daemon\n{}",
        gw.log_banner()
    );
}

// ------------------------------------------------------------------------ daemon restart

/// How the daemon goes away.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outage {
    /// `dockerd.sh stop`: SIGTERM; the daemon stops its containers and exits.
    Stop,
    /// SIGKILL: connections cut mid-response, the socket file left behind.
    Crash,
}

#[test]
fn daemon_stopped_and_restarted_while_the_gateway_runs() {
    let fd = or_skip!(FaultDaemon::start());
    let d = &fd.daemon;
    let gw = Gateway::start(&fd.host, &[]);
    let cli = clis().into_iter().next();

    // Two keep-alive clients: one that keeps talking through the outages, one that is
    // idle across them (its cached daemon connection dies under it).
    let mut talker = http::connect(&gw.sock).unwrap();
    let mut idler = http::connect(&gw.sock).unwrap();
    for s in [&mut talker, &mut idler] {
        let r = keepalive_get(s, "/_ping").unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    }

    for outage in [Outage::Crash, Outage::Stop] {
        // A build in flight when the daemon goes: its RUN step is running. (On a stop,
        // the trap ends the step at once when the daemon stops its container.)
        let inflight = BuildRequest::new(
            "nocache=1",
            Body::Bytes(ustar::context(
                &format!("{FROM}RUN trap 'exit 3' TERM; echo step-started; sleep 60 & wait\n"),
                &[],
            )),
        )
        .start(&gw.sock);
        assert!(
            // The RUN's own output line, not the "Step 2/3 : RUN ..." line.
            inflight.wait_for(r#""stream":"step-started"#, Duration::from_secs(60)),
            "{outage:?}: the in-flight build did not reach its RUN step: {}",
            inflight.so_far()
        );

        match outage {
            Outage::Stop => fd.stop(),
            Outage::Crash => fd.kill(),
        }
        assert!(!fd.answers(), "{outage:?}: the daemon still answers");

        // The in-flight build ends with an error line in a well-formed response, never
        // a success and never a hang. After a crash the daemon cannot say anything, so
        // the line must be the gateway's own.
        let r = inflight.finish();
        let resp = r.response();
        assert_eq!(resp.status, 200, "{outage:?}: {resp:?}");
        let out = BuildOutput::parse(&resp.body);
        let err = out.error().unwrap_or_else(|| {
            panic!(
                "{outage:?}: the build cut by the outage has no error line: {}\n{}",
                out.raw,
                gw.log_banner()
            )
        });
        eprintln!("{outage:?}: the in-flight build ended with: {err}");
        assert!(!err.is_empty(), "{}", out.raw);
        if outage == Outage::Crash {
            assert!(err.starts_with("buildgate: "), "{outage:?}: {err:?}");
        }
        assert!(out.image_id().is_none(), "{}", out.raw);
        assert!(!out.raw.contains("Successfully built"), "{}", out.raw);

        // During the outage: 502 with a JSON message, on the kept-alive connection and
        // on fresh ones, for passthrough and builds alike.
        let r = keepalive_get(&mut talker, "/_ping").expect("kept-alive connection during outage");
        assert_json_error(&r, 502, "cannot reach the Docker daemon");
        let r = gw.get("/version");
        assert_json_error(&r, 502, "cannot reach the Docker daemon");
        let r = BuildRequest::new(
            "",
            Body::Bytes(ustar::context(&format!("{FROM}RUN true\n"), &[])),
        )
        .send(&gw.sock);
        assert_json_error(r.response(), 502, "cannot reach the Docker daemon");
        if let Some(cli) = &cli {
            let out = gw.docker(cli).args(["version"]).run().failed();
            assert!(
                out.stderr.contains("cannot reach the Docker daemon"),
                "{out}"
            );
        }

        fd.restart();

        // After the restart, without restarting the gateway: both kept-alive
        // connections, fresh connections, the CLI and a build all work.
        let r = keepalive_get(&mut talker, "/_ping").expect("kept-alive connection after restart");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "OK"),
            "{outage:?}: {r:?}"
        );
        let r = keepalive_get(&mut talker, "/version").unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        let r = keepalive_get(&mut idler, "/version").expect("idle kept-alive connection");
        assert_eq!(
            r.status,
            200,
            "{outage:?}: idle connection after restart: {r:?}\n{}",
            gw.log_banner()
        );
        assert!(r.json()["Version"].is_string());
        assert_eq!(gw.get("/_ping").status, 200);
        if let Some(cli) = &cli {
            gw.docker(cli).args(["version"]).run().ok();
        }
        let r = BuildRequest::new(
            "",
            Body::Bytes(ustar::context(&format!("{FROM}RUN true\n"), &[])),
        )
        .send(&gw.sock);
        let id = assert_built(&r, &format!("a build after the restart ({outage:?})"));
        assert_owned(d, &gw.owner, &id);
    }
}

// ------------------------------------------------------------------------ slow clients

#[test]
fn slow_clients_do_not_delay_others() {
    let daemon = daemon_or_skip!();
    let d = Daemon::new(&daemon);
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &[]);
    let cli = clis().into_iter().next();

    // Three builds trickling their contexts over ~12 s each, and one that sends half
    // its context and then stalls until the end of the test.
    let trickle_for = Duration::from_secs(12);
    let context = ustar::context(
        &format!("{FROM}RUN true\n"),
        &[ustar::file("payload", &vec![b't'; 256 * 1024])],
    );
    let pieces = 48;
    let tricklers: Vec<_> = (0..3)
        .map(|_| {
            BuildRequest::new(
                "",
                Body::Paced {
                    data: context.clone(),
                    chunk: context.len() / pieces + 1,
                    pause: trickle_for / pieces as u32,
                },
            )
            .start(&gw.sock)
        })
        .collect();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let stalled = {
        let context = context.clone();
        BuildRequest::new(
            "",
            Body::Stream {
                len: context.len() as u64,
                write: Box::new(move |w| {
                    w.write_all(&context[..context.len() / 2])?;
                    let _ = released.recv();
                    w.write_all(&context[context.len() / 2..])
                }),
            },
        )
        .start(&gw.sock)
    };
    let started = Instant::now();
    // The slow uploads are under way (the stalled one stalled) before the fast work.
    let uploading = |b: &RunningBuild| b.uploaded() > 0;
    assert!(
        wait_for(Duration::from_secs(30), || {
            (tricklers.iter().all(uploading) && stalled.uploaded() >= (context.len() / 2) as u64)
                .then_some(())
        })
        .is_some(),
        "the slow uploads did not start"
    );

    // Meanwhile: pings, `docker version` and a fast build, each prompt.
    let mut slowest_ping = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let r = gw.get("/_ping");
        assert_eq!(r.status, 200);
        slowest_ping = slowest_ping.max(t.elapsed());
    }
    assert!(
        slowest_ping < Duration::from_secs(2),
        "a ping took {slowest_ping:?} while slow uploads ran"
    );
    if let Some(cli) = &cli {
        let t = Instant::now();
        gw.docker(cli)
            .args(["version", "--format", "{{.Server.Version}}"])
            .run()
            .ok();
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "docker version took {:?}",
            t.elapsed()
        );
    }
    let fast = BuildRequest::new(
        "",
        Body::Bytes(ustar::context(&format!("{FROM}LABEL fast=yes\n"), &[])),
    )
    .send(&gw.sock);
    let id = assert_built(&fast, "the fast build");
    assert_owned(&d, &gw.owner, &id);
    let done_at = started.elapsed();
    eprintln!("slowest ping {slowest_ping:?}; pings, version and a build done {done_at:?} in");
    assert!(
        done_at < trickle_for - Duration::from_secs(2),
        "the fast work finished {done_at:?} after the slow uploads began; they take {trickle_for:?}"
    );
    for t in &tricklers {
        assert!(
            !t.so_far().contains("Successfully built"),
            "a trickling build was not slow after all"
        );
    }

    // The slow ones finish too, and are labelled.
    for (i, t) in tricklers.into_iter().enumerate() {
        let r = t.finish();
        assert!(
            r.elapsed >= trickle_for - Duration::from_secs(1),
            "{:?}",
            r.elapsed
        );
        let id = assert_built(&r, &format!("trickling build {i}"));
        assert_owned(&d, &gw.owner, &id);
    }
    release.send(()).unwrap();
    let id = assert_built(&stalled.finish(), "the stalled build, resumed");
    assert_owned(&d, &gw.owner, &id);
}

// ------------------------------------------------------------------------ silent daemon

#[test]
fn frozen_daemon_gets_504_after_the_response_timeout() {
    let fd = or_skip!(FaultDaemon::start());
    let mut gw = Gateway::start(&fd.host, &["--response-timeout", "3"]);
    let mut kept = http::connect(&gw.sock).unwrap();
    let r = keepalive_get(&mut kept, "/_ping").unwrap();
    assert_eq!(r.status, 200);
    let baseline = gw.quiet_fd_count();
    let frozen_fds;

    {
        let _frozen = fd.freeze();
        // Passthrough requests and a build, at once: each a JSON 504 after ~3 s.
        let timed = |f: Box<dyn FnOnce() -> http::Response + Send>| {
            thread::spawn(move || {
                let t = Instant::now();
                let r = f();
                (t.elapsed(), r)
            })
        };
        let sock = gw.sock.clone();
        let version = timed(Box::new(move || http::get(&sock, "/version").unwrap()));
        let sock = gw.sock.clone();
        let build = timed(Box::new(move || {
            let r = BuildRequest::new(
                "",
                Body::Bytes(ustar::context(&format!("{FROM}LABEL frozen=1\n"), &[])),
            )
            .send(&sock);
            r.response.expect("a response to the build")
        }));
        let t = Instant::now();
        let ping = keepalive_get(&mut kept, "/_ping").expect("a response on the kept connection");
        let ping = (t.elapsed(), ping);
        for (what, (took, r)) in [
            ("GET /_ping (kept-alive)", ping),
            ("GET /version", version.join().unwrap()),
            ("POST /build", build.join().unwrap()),
        ] {
            assert_refused(&r, 504, &["--response-timeout", "did not answer"]);
            eprintln!("{what}: 504 after {took:?}");
            assert!(
                took >= Duration::from_millis(2500) && took < Duration::from_secs(10),
                "{what}: 504 after {took:?}, want ~3 s"
            );
        }
        assert!(
            gw.try_wait().is_none(),
            "gateway died:\n{}",
            gw.log_banner()
        );
        // More clients giving up on the frozen daemon.
        let more: Vec<_> = (0..8)
            .map(|_| {
                let sock = gw.sock.clone();
                thread::spawn(move || http::get(&sock, "/_ping").unwrap().status)
            })
            .collect();
        for m in more {
            assert_eq!(m.join().unwrap(), 504);
        }
        // What the gateway gave up on, it lets go of, though the daemon never answers:
        // otherwise a wedged daemon costs the gateway an fd per request until it runs
        // out. (The kept-alive client's own connection is part of the baseline.)
        let after = gw.settle_fds(baseline);
        eprintln!(
            "gateway fds while frozen: {baseline} before, {after} after 11 timed-out requests"
        );
        frozen_fds = Some((after, gw.fd_list()));
    }

    // Thawed: the same kept-alive connection, and new ones, work again.
    let r = keepalive_get(&mut kept, "/_ping").expect("kept connection after thaw");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"), "{r:?}");
    assert_eq!(gw.get("/version").status, 200);

    let (after, open) = frozen_fds.unwrap();
    assert!(
        after <= baseline,
        "while the daemon was frozen, the gateway held {} more fds after its requests had \
         timed out ({baseline} before, {after} after): {open:?}",
        after.saturating_sub(baseline)
    );
}

#[test]
fn streams_longer_than_the_response_timeout_are_never_cut() {
    let daemon = daemon_or_skip!();
    let (gw, _cleanup) = Gateway::start_cleaned(&daemon, &["--response-timeout", "3"]);
    let cleanup = common::Cleanup::new(&daemon);

    // A container that prints a line a second for 6 s, twice the timeout.
    let name = common::unique("bgt-faults-ticker");
    let create = http::request(
        &gw.sock,
        "POST",
        &format!("/containers/create?name={name}"),
        &[("Content-Type", "application/json")],
        serde_json::json!({
            "Image": IMAGE,
            "Cmd": ["sh", "-c", "for i in 1 2 3 4 5 6; do echo line-$i; sleep 1; done"],
            "Labels": {"buildgate-test": cleanup.label.split_once('=').unwrap().1},
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(create.status, 201, "{}", create.text());
    let _remove = {
        let mut c = common::Cleanup::new(&daemon);
        c.container(&name);
        c
    };

    // `wait` for its exit, opened before it starts. The daemon sends the head once it
    // has registered the wait, and the body only at the end: the head says "start now".
    let t = Instant::now();
    let mut waiting = http::connect(&gw.sock).unwrap();
    write!(
        waiting,
        "POST /containers/{name}/wait?condition=next-exit HTTP/1.1\r\nHost: docker\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let (head, buffered) = http::read_head(&mut waiting).expect("the wait's head");
    let wait = thread::spawn(move || {
        let r = http::read_body(&mut waiting, head, buffered, true);
        (t.elapsed(), r)
    });
    let start = http::request(
        &gw.sock,
        "POST",
        &format!("/containers/{name}/start"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(start.status, 204, "{}", start.text());

    // Raw `logs?follow=1` and the CLI's `logs -f`, both to the container's end.
    let sock = gw.sock.clone();
    let n = name.clone();
    let raw = thread::spawn(move || {
        let t = Instant::now();
        let r = http::get(
            &sock,
            &format!("/containers/{n}/logs?follow=1&stdout=1&stderr=1"),
        );
        (t.elapsed(), r)
    });
    let cli = clis().into_iter().next();
    let cli_out = cli.as_ref().map(|cli| {
        let t = Instant::now();
        let out = gw
            .docker(cli)
            .args(["logs", "-f", &name])
            .timeout(Duration::from_secs(30))
            .run();
        (t.elapsed(), out)
    });

    let (took, r) = raw.join().unwrap();
    let r = r.expect("logs -f response");
    assert_eq!(r.status, 200, "{r:?}");
    let text = r.text();
    for i in 1..=6 {
        assert!(
            text.contains(&format!("line-{i}\n")),
            "logs -f lost line {i}: {text:?}"
        );
    }
    assert!(
        took > Duration::from_secs(4),
        "logs -f ended after {took:?}"
    );
    if let Some((took, out)) = cli_out {
        let out = out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines,
            ["line-1", "line-2", "line-3", "line-4", "line-5", "line-6"],
            "{out}"
        );
        assert!(
            took > Duration::from_secs(3),
            "docker logs -f ended after {took:?}"
        );
    }
    let (took, r) = wait.join().unwrap();
    let r = r.expect("wait response");
    assert_eq!(r.status, 200, "wait: {r:?}\n{}", gw.log_banner());
    assert_eq!(r.json()["StatusCode"], 0, "{r:?}");
    assert!(
        took > Duration::from_secs(4),
        "wait returned after {took:?}"
    );

    // Also `/events`, idle for longer than the timeout, then delivering.
    let mut s = http::connect(&gw.sock).unwrap();
    s.write_all(
        format!(
            "GET /events?filters={} HTTP/1.1\r\nHost: docker\r\n\r\n",
            http::escape_query(&format!(r#"{{"container":["{name}"]}}"#))
        )
        .as_bytes(),
    )
    .unwrap();
    let (head, mut seen) = http::read_head(&mut s).unwrap();
    assert_eq!(head.status, 200, "{head:?}");
    // The stimulus: a stream idle for longer than --response-timeout.
    thread::sleep(Duration::from_secs(4));
    let rm = http::request(&gw.sock, "DELETE", &format!("/containers/{name}"), &[], b"").unwrap();
    assert_eq!(rm.status, 204, "{}", rm.text());
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("destroy") && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        String::from_utf8_lossy(&seen).contains("destroy"),
        "events stream idle for 4 s was cut: {:?}\n{}",
        String::from_utf8_lossy(&seen),
        gw.log_banner()
    );
}
