//! End-to-end tests of the passthrough: the real `buildgate` binary in front of a real
//! dockerd (see `tests/common/mod.rs` and `scripts/test.sh`), driven by the docker CLIs
//! (28.x and Debian's 20.10), docker-py and raw HTTP.
//!
//! Tests that need the daemon skip when run by hand without one and fail under
//! `CI=true`. Tests about the gateway itself (daemon down, socket handling, signals) need
//! no daemon and always run.

#[macro_use]
mod common;

use common::{Cleanup, Cli, Daemon, Gateway, GatewayOpts, IMAGE, clis, http, unique, wait_for};
use nix::sys::signal::Signal;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An upstream address where no daemon will ever be.
const NO_DAEMON: &str = "unix:///nonexistent/buildgate-test/docker.sock";

fn daemon_version(daemon: &str) -> String {
    let d = Daemon::new(daemon);
    let r = http::get(&d.sock, "/version").expect("daemon /version");
    assert_eq!(r.status, 200);
    r.json()["Version"].as_str().unwrap().to_string()
}

/// `docker <how> --name <unique name> --label <cleanup's label> IMAGE <cmd>` through
/// the gateway (`how`: `create` or `run -d`), the container registered for removal:
/// its name and full id.
fn new_container(
    gw: &Gateway,
    cli: &Cli,
    cleanup: &mut Cleanup,
    how: &[&str],
    prefix: &str,
    cmd: &[&str],
) -> (String, String) {
    let name = unique(prefix);
    cleanup.container(&name);
    let out = gw
        .docker(cli)
        .args(how)
        .args(["--name", &name, "--label", &cleanup.label, IMAGE])
        .args(cmd)
        .run()
        .ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{out}");
    (name, id)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ------------------------------------------------------------------------ CLI

#[test]
fn cli_version_info_images_ps() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let mut cleanup = Cleanup::new(&daemon);
    let server_version = daemon_version(&daemon);

    for cli in clis() {
        let v = gw
            .docker(&cli)
            .args(["version", "--format", "{{.Server.Version}}"])
            .run()
            .ok();
        assert_eq!(v.stdout.trim(), server_version, "via {}", cli.version);

        let info = gw
            .docker(&cli)
            .args(["info", "--format", "{{.ServerVersion}} {{.Driver}}"])
            .run()
            .ok();
        assert!(
            info.stdout.starts_with(&format!("{server_version} ")),
            "{info}"
        );

        let images = gw
            .docker(&cli)
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .run()
            .ok();
        assert!(
            images.stdout.lines().any(|l| l == IMAGE),
            "base image not listed: {images}"
        );

        // A container made straight on the daemon must show up in `ps -a` via the gateway.
        let (name, _) = new_container(&gw, &cli, &mut cleanup, &["create"], "bgt-ps", &["true"]);
        let ps = gw
            .docker(&cli)
            .args([
                "ps",
                "-a",
                "--filter",
                &format!("label={}", cleanup.label),
                "--format",
                "{{.Names}} {{.Status}}",
            ])
            .run()
            .ok();
        assert_eq!(ps.stdout.trim(), format!("{name} Created"), "{ps}");
        cleanup.run_now();
    }
}

#[test]
fn cli_run_interactive_stdin_half_close() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let cleanup = Cleanup::new(&daemon);

    for cli in clis() {
        // `echo hi | docker run --rm -i IMAGE cat`: cat only exits when it sees EOF on
        // stdin, so this finishes only if the client's half-close reaches the container.
        let out = gw
            .docker(&cli)
            .args(["run", "--rm", "-i", "--label", &cleanup.label, IMAGE, "cat"])
            .stdin("hi\n")
            .timeout(Duration::from_secs(30))
            .run()
            .ok();
        assert_eq!(out.stdout, "hi\n", "via {}: {out}", cli.version);

        // A larger stream both ways: 1 MiB in, its size and a sample back.
        let payload: Vec<u8> = (0..1024 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        let out = gw
            .docker(&cli)
            .args([
                "run",
                "--rm",
                "-i",
                "--label",
                &cleanup.label,
                IMAGE,
                "sh",
                "-c",
                "wc -c",
            ])
            .stdin(payload)
            .timeout(Duration::from_secs(30))
            .run()
            .ok();
        assert_eq!(out.stdout.trim(), "1048576", "via {}: {out}", cli.version);

        // Exit status passes through.
        let out = gw
            .docker(&cli)
            .args([
                "run",
                "--rm",
                "--label",
                &cleanup.label,
                IMAGE,
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ])
            .run();
        assert_eq!(out.status.and_then(|s| s.code()), Some(3), "{out}");
        assert_eq!(out.stdout, "out\n", "{out}");
        assert!(out.stderr.contains("err"), "{out}");
    }
}

#[test]
fn cli_detached_exec_logs_follow() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let mut cleanup = Cleanup::new(&daemon);

    for cli in clis() {
        // Runs until told to stop (a file appears), so timing on a loaded machine can't
        // end it before the exec calls below.
        let (name, _) = new_container(
            &gw,
            &cli,
            &mut cleanup,
            &["run", "-d"],
            "bgt-detached",
            &[
                "sh",
                "-c",
                "echo start; while [ ! -e /tmp/stop ]; do sleep 0.1; done; echo end",
            ],
        );

        let exec = gw
            .docker(&cli)
            .args(["exec", &name, "echo", "from-exec"])
            .run()
            .ok();
        assert_eq!(exec.stdout, "from-exec\n", "{exec}");

        // exec -i with piped stdin: needs the half-close too.
        let exec_i = gw
            .docker(&cli)
            .args(["exec", "-i", &name, "cat"])
            .stdin("via exec stdin\n")
            .timeout(Duration::from_secs(20))
            .run()
            .ok();
        assert_eq!(exec_i.stdout, "via exec stdin\n", "{exec_i}");

        let logs = gw.docker(&cli).args(["logs", &name]).run().ok();
        assert!(logs.stdout.starts_with("start\n"), "{logs}");

        // `logs -f` follows until the container exits, then the CLI exits by itself.
        // `logs -f` streams while the container runs and ends when it ends.
        let mut follow = gw
            .docker(&cli)
            .args(["logs", "-f", &name])
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let chunks = stream_chunks(follow.stdout.take().unwrap());
        let mut seen = Vec::new();
        assert!(
            read_until(&chunks, &mut seen, b"start\n", Duration::from_secs(20)),
            "logs -f printed {:?}",
            String::from_utf8_lossy(&seen)
        );
        gw.docker(&cli)
            .args(["exec", &name, "touch", "/tmp/stop"])
            .run()
            .ok();
        let exited = wait_for(Duration::from_secs(30), || follow.try_wait().unwrap());
        if exited.is_none() {
            let _ = follow.kill();
            let _ = follow.wait();
        }
        while let Ok(c) = chunks.recv_timeout(Duration::from_secs(5)) {
            seen.extend(c);
        }
        let seen = String::from_utf8_lossy(&seen);
        assert!(
            exited.is_some(),
            "logs -f did not end when the container did; printed {seen:?}"
        );
        assert!(exited.unwrap().success(), "logs -f: {exited:?}");
        assert_eq!(seen, "start\nend\n");

        let inspect = gw
            .docker(&cli)
            .args([
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                &name,
            ])
            .run()
            .ok();
        assert_eq!(inspect.stdout.trim(), "exited 0", "{inspect}");
    }
}

/// Read `r` in a thread, sending what arrives; the channel closes at EOF.
fn stream_chunks(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collect chunks into `seen` until it contains `needle`; false on timeout or EOF.
fn read_until(
    rx: &mpsc::Receiver<Vec<u8>>,
    seen: &mut Vec<u8>,
    needle: &[u8],
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(c) => seen.extend(c),
            Err(_) => return false,
        }
    }
    true
}

#[test]
fn cli_events_since_until() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let mut cleanup = Cleanup::new(&daemon);

    for cli in clis() {
        let since = now_unix() - 1;
        let (name, _) = new_container(
            &gw,
            &cli,
            &mut cleanup,
            &["create"],
            "bgt-events",
            &["true"],
        );
        gw.docker(&cli).args(["rm", &name]).run().ok();
        let until = now_unix() + 1;
        // --until makes the stream finite: the CLI must exit on its own.
        let events = gw
            .docker(&cli)
            .args([
                "events",
                "--since",
                &since.to_string(),
                "--until",
                &until.to_string(),
                "--filter",
                &format!("container={name}"),
                "--format",
                "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
            ])
            .timeout(Duration::from_secs(30))
            .run()
            .ok();
        let lines: Vec<&str> = events.stdout.lines().collect();
        assert_eq!(
            lines,
            vec![
                format!("container create {name}"),
                format!("container destroy {name}")
            ],
            "{events}"
        );
    }
}

#[test]
fn cli_rm_force_running_container() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let mut cleanup = Cleanup::new(&daemon);

    for cli in clis() {
        let (name, _) = new_container(
            &gw,
            &cli,
            &mut cleanup,
            &["run", "-d"],
            "bgt-rmf",
            &["sleep", "600"],
        );
        let state = cleanup.daemon.inspect_container(&name).expect("created");
        assert_eq!(state["State"]["Running"], true);

        // Without -f the daemon refuses, and the refusal comes through.
        let rm = gw.docker(&cli).args(["rm", &name]).run().failed();
        assert!(rm.stderr.contains("running"), "{rm}");

        let rm = gw.docker(&cli).args(["rm", "-f", &name]).run().ok();
        assert_eq!(rm.stdout.trim(), name, "{rm}");
        assert!(cleanup.daemon.inspect_container(&name).is_none());
    }
}

// ------------------------------------------------------------------------ raw HTTP

#[test]
fn raw_http_passthrough_matches_daemon() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let d = Daemon::new(&daemon);

    let ping = gw.get("/_ping");
    assert_eq!((ping.status, ping.text().as_str()), (200, "OK"));
    assert!(ping.header("api-version").is_some(), "{ping:?}");

    let direct = http::get(&d.sock, "/v1.41/version").unwrap().json();
    let via = gw.get("/v1.41/version");
    assert_eq!(via.status, 200);
    assert_eq!(via.json()["Version"], direct["Version"]);
    assert_eq!(via.json()["ApiVersion"], direct["ApiVersion"]);

    // Daemon errors keep their status and body.
    let missing = gw.get("/containers/bgt-does-not-exist-at-all/json");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap()
            .contains("bgt-does-not-exist-at-all")
    );

    // HEAD and a request body pass through.
    let head = http::request(&gw.sock, "HEAD", "/_ping", &[], b"").unwrap();
    assert_eq!(head.status, 200);
    let create = http::request(
        &gw.sock,
        "POST",
        "/containers/create",
        &[("Content-Type", "application/json")],
        br#"{"Image":"not-an-image-buildgate-has"}"#,
    )
    .unwrap();
    assert_eq!(create.status, 404, "{create:?}");
    assert!(create.text().contains("not-an-image-buildgate-has"));

    // Keep-alive: several requests on one connection.
    let mut s = http::connect(&gw.sock).unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            .unwrap();
        let r = http::read_response(&mut s, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    }
}

// ------------------------------------------------------------------------ daemon down

#[test]
fn daemon_down_gives_502_json_and_gateway_keeps_serving() {
    let mut gw = Gateway::start(NO_DAEMON, &[]);
    for path in ["/_ping", "/version", "/v1.41/containers/json", "/_ping"] {
        let r = gw.get(path);
        assert_eq!(r.status, 502, "{path}: {r:?}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{r:?}"
        );
        let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
        let prefix = "buildgate: cannot reach the Docker daemon at ";
        assert!(msg.starts_with(prefix), "{path}: {msg:?}");
        assert!(
            msg.contains("/nonexistent/buildgate-test/docker.sock"),
            "message names the address: {msg:?}"
        );
        // "... at ADDR: REASON", with a reason.
        let rest = &msg[prefix.len()..];
        assert!(
            rest.split_once(": ")
                .is_some_and(|(_, why)| !why.is_empty()),
            "{msg:?}"
        );
    }
    // The CLI shows the message too.
    if let Some(cli) = clis().into_iter().next() {
        let out = gw.docker(&cli).args(["version"]).run().failed();
        assert!(
            out.stderr.contains("cannot reach the Docker daemon"),
            "{out}"
        );
    }
    assert!(
        gw.try_wait().is_none(),
        "gateway exited:\n{}",
        gw.log_banner()
    );
}

// ------------------------------------------------------------------------ listen socket

#[test]
fn stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    // A socket file nobody listens on, as a killed gateway leaves behind.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    assert!(UnixStream::connect(&path).is_err());

    let mut opts = GatewayOpts::new(NO_DAEMON);
    opts.listen = Some(path.clone());
    let gw = Gateway::start_with(opts);
    let r = gw.get("/_ping");
    assert_eq!(r.status, 502, "the gateway answers on the old path: {r:?}");
}

#[test]
fn live_socket_makes_gateway_exit_with_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.sock");
    let live = UnixListener::bind(&path).unwrap();

    let mut opts = GatewayOpts::new(NO_DAEMON);
    opts.listen = Some(path.clone());
    let mut gw = Gateway::spawn(opts);
    let status = gw
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("gateway kept running on a live socket\n{}", gw.log_banner()));
    assert!(!status.success(), "{status}\n{}", gw.log_banner());
    let log = gw.log();
    let lower = log.to_lowercase();
    assert!(
        log.contains(&path.display().to_string())
            && ["in use", "already", "another", "live", "listening"]
                .iter()
                .any(|w| lower.contains(w)),
        "the error should name the socket and say it is in use:\n{}",
        gw.log_banner()
    );
    // The live socket was left alone: still there, still ours. (The gateway's own
    // probe connection may be queued first; skip connections that carry nothing.)
    let mut c = UnixStream::connect(&path).expect("the live socket still works");
    c.write_all(b"x").unwrap();
    let got = (0..5).any(|_| {
        let (mut accepted, _) = live.accept().unwrap();
        accepted
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 1];
        accepted.read_exact(&mut b).is_ok() && &b == b"x"
    });
    assert!(got, "our listener no longer receives connections");
}

// ------------------------------------------------------------------------ signals

fn assert_graceful_exit_on(sig: Signal, upstream: &str) {
    let mut gw = Gateway::start(upstream, &[]);
    assert!(gw.sock.exists());
    let sock = gw.sock.clone();
    gw.signal(sig);
    let status = gw
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit 15 s after signal {sig}\n{}", gw.log_banner()));
    assert!(
        status.success(),
        "exit status {status}\n{}",
        gw.log_banner()
    );
    assert!(
        !sock.exists(),
        "socket file left behind after signal {sig}\n{}",
        gw.log_banner()
    );
}

#[test]
fn sigterm_and_sigint_shut_down_gracefully_and_remove_socket() {
    let upstream = if std::env::var("BUILDGATE_TEST_DOCKER_HOST").is_ok() {
        daemon_or_skip!()
    } else {
        NO_DAEMON.to_string()
    };
    assert_graceful_exit_on(Signal::SIGTERM, &upstream);
    assert_graceful_exit_on(Signal::SIGINT, &upstream);
}

#[test]
fn sigterm_with_an_idle_keepalive_connection_still_exits() {
    // A client holding an idle keep-alive connection must not keep the gateway alive.
    let mut gw = Gateway::start(NO_DAEMON, &[]);
    let mut s = http::connect(&gw.sock).unwrap();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        .unwrap();
    let r = http::read_response(&mut s, false).unwrap();
    assert_eq!(r.status, 502);
    let sock = gw.sock.clone();
    gw.signal(Signal::SIGTERM);
    let status = gw
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("idle connection kept it alive\n{}", gw.log_banner()));
    assert!(status.success(), "{status}\n{}", gw.log_banner());
    assert!(!sock.exists());
    drop(s);
}

// ------------------------------------------------------------------------ load and leaks

#[test]
fn fifty_clients_at_once() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let version = daemon_version(&daemon);
    let n = 50;

    // 50 raw clients, each: /_ping, /containers/json, /version on one connection.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let sock = gw.sock.clone();
            let barrier = barrier.clone();
            let version = version.clone();
            thread::spawn(move || {
                let mut s = http::connect(&sock).unwrap();
                barrier.wait();
                for path in ["/_ping", "/containers/json?all=1", "/version"] {
                    write!(s, "GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n").unwrap();
                    let r = http::read_response(&mut s, false)
                        .unwrap_or_else(|e| panic!("client {i} {path}: {e}"));
                    assert_eq!(r.status, 200, "client {i} {path}: {r:?}");
                    match path {
                        "/_ping" => assert_eq!(r.text(), "OK"),
                        "/version" => assert_eq!(r.json()["Version"], version.as_str()),
                        _ => assert!(r.json().is_array()),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a raw client failed");
    }

    // 50 CLI processes at once.
    let cli = clis().into_iter().next().unwrap();
    let children: Vec<_> = (0..n)
        .map(|_| {
            gw.docker(&cli)
                .args(["version", "--format", "{{.Server.Version}}"])
                .command()
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker version: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), version);
    }
}

#[test]
fn client_disconnect_mid_stream_leaks_no_fd() {
    let daemon = daemon_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let mut cleanup = Cleanup::new(&daemon);
    let cli = clis().into_iter().next().unwrap();

    // A container that keeps logging, to follow.
    let (name, id) = new_container(
        &gw,
        &cli,
        &mut cleanup,
        &["run", "-d"],
        "bgt-leak",
        &["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
    );

    // Warm up (lazy init, pools) and take the baseline once it is quiet.
    for _ in 0..3 {
        assert_eq!(gw.get("/_ping").status, 200);
    }
    let baseline = gw.quiet_fd_count();
    let threads_before = gw.thread_count();

    // Positive control: held-open streams do show up in the count (a client socket and
    // an upstream connection each), so the check below can see a leak.
    let held: Vec<UnixStream> = (0..5)
        .map(|_| {
            let mut s = http::connect(&gw.sock).unwrap();
            s.write_all(b"GET /events HTTP/1.1\r\nHost: docker\r\n\r\n")
                .unwrap();
            let (head, _) = http::read_head(&mut s).unwrap();
            assert_eq!(head.status, 200);
            s
        })
        .collect();
    let while_open = gw.fd_count();
    assert!(
        while_open >= baseline + 10,
        "5 open streams should hold >= 10 fds: {baseline} before, {while_open} while open"
    );
    drop(held);

    for round in 0..5 {
        // Raw: open a stream, read its head and some body, then vanish.
        for path in [
            "/events".to_string(),
            format!("/containers/{id}/logs?follow=1&stdout=1&stderr=1"),
        ] {
            let mut s = http::connect(&gw.sock).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n").unwrap();
            let (head, _) = http::read_head(&mut s).unwrap();
            assert_eq!(head.status, 200, "round {round} {path}: {head:?}");
            if path.contains("logs") {
                let mut buf = [0u8; 64];
                assert!(s.read(&mut buf).unwrap() > 0, "no log bytes streamed");
            }
            drop(s);
        }
        // CLI: `logs -f` and `events`, killed mid-stream, once they stream.
        let since = (now_unix() - 1).to_string();
        let events = [
            "events",
            "--since",
            &since,
            "--filter",
            &format!("container={id}"),
            "--format",
            "{{.Action}}",
        ];
        for args in [&["logs", "-f", name.as_str()][..], &events[..]] {
            let mut child = gw
                .docker(&cli)
                .args(args)
                .command()
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            if args[0] == "logs" {
                let mut buf = [0u8; 5];
                child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"tick\n");
            } else {
                // An event made now (an exec created in the container) arrives live,
                // or replayed (`--since`) if the CLI subscribes after it: either way a
                // line means the stream is open.
                let exec = http::request(
                    &cleanup.daemon.sock,
                    "POST",
                    &format!("/containers/{id}/exec"),
                    &[("Content-Type", "application/json")],
                    br#"{"Cmd":["true"]}"#,
                )
                .unwrap();
                assert_eq!(exec.status, 201, "{}", exec.text());
                let lines = stream_chunks(child.stdout.take().unwrap());
                let mut seen = Vec::new();
                assert!(
                    read_until(&lines, &mut seen, b"\n", Duration::from_secs(30)),
                    "docker events printed {:?}",
                    String::from_utf8_lossy(&seen)
                );
            }
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    let after = gw.settle_fds(baseline);
    assert!(
        after <= baseline,
        "gateway fds: {baseline} before, {after} after 20 abandoned streams (open: {:?})\n{}",
        gw.fd_list(),
        gw.log_banner()
    );
    let threads_after = gw.thread_count();
    assert!(
        threads_after <= threads_before + 8,
        "threads grew from {threads_before} to {threads_after}"
    );
    // And it still serves.
    assert_eq!(gw.get("/_ping").status, 200);
}

// ------------------------------------------------------------------------ docker-py

#[test]
fn docker_py_through_gateway() {
    let daemon = daemon_or_skip!();
    let python = docker_py_or_skip!();
    let gw = Gateway::start(&daemon, &[]);
    let cleanup = Cleanup::new(&daemon);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/test_passthrough.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .env("DOCKER_HOST", gw.host())
        .env("BUILDGATE_TEST_IMAGE", IMAGE)
        .env("BUILDGATE_TEST_LABEL", &cleanup.label)
        .env("BUILDGATE_TEST_SERVER_VERSION", daemon_version(&daemon))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "docker-py tests failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l.trim() == "py: 4 passed, 0 failed"),
        "docker-py tests did not all run:\n{stdout}\n{stderr}"
    );
}

// ------------------------------------------------------------------------ more listeners

/// A free loopback port (bound then released; racy only against other binders).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tcp_listener_passthrough_with_half_close() {
    let daemon = daemon_or_skip!();
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let gw = Gateway::start(&daemon, &["--listen", &tcp]);
    let cleanup = Cleanup::new(&daemon);

    // Raw request over TCP.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = http::read_response(&mut s, true).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));

    // The CLI's half-close over TCP (shutdown(SHUT_WR) rather than a unix CloseWrite).
    for cli in clis() {
        let out = common::Docker::new(&cli, &tcp)
            .args(["run", "--rm", "-i", "--label", &cleanup.label, IMAGE, "cat"])
            .stdin("over tcp\n")
            .timeout(Duration::from_secs(30))
            .run()
            .ok();
        assert_eq!(out.stdout, "over tcp\n", "via {}: {out}", cli.version);
    }
    // Both listeners serve the same gateway.
    assert_eq!(gw.get("/_ping").status, 200);
}

#[test]
fn socket_mode_is_applied() {
    use std::os::unix::fs::PermissionsExt;
    let gw = Gateway::start(NO_DAEMON, &[]);
    let mode = std::fs::metadata(&gw.sock).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o660, "default --socket-mode, got {mode:o}");

    let gw = Gateway::start(NO_DAEMON, &["--socket-mode", "0600"]);
    let mode = std::fs::metadata(&gw.sock).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "--socket-mode 0600, got {mode:o}");
}

// ------------------------------------------------------------------------ graceful shutdown

#[test]
fn sigterm_lets_in_flight_requests_finish_and_cuts_endless_ones_after_grace() {
    let daemon = daemon_or_skip!();
    let mut gw = Gateway::start(&daemon, &["--shutdown-grace", "5"]);

    // A finite stream: events until 2 s from now. It must complete normally (a whole
    // chunked body) although SIGTERM arrives while it runs.
    let until = now_unix() + 2;
    let mut finite = http::connect(&gw.sock).unwrap();
    write!(
        finite,
        "GET /events?since={}&until={until} HTTP/1.1\r\nHost: docker\r\n\r\n",
        now_unix()
    )
    .unwrap();
    let (head, mut rest) = http::read_head(&mut finite).unwrap();
    assert_eq!(head.status, 200, "{head:?}");

    // An endless stream: cut at the end of the grace period at the latest.
    let mut endless = http::connect(&gw.sock).unwrap();
    endless
        .write_all(b"GET /events HTTP/1.1\r\nHost: docker\r\n\r\n")
        .unwrap();
    let (head, _) = http::read_head(&mut endless).unwrap();
    assert_eq!(head.status, 200, "{head:?}");

    let sock = gw.sock.clone();
    let signalled = Instant::now();
    gw.signal(Signal::SIGTERM);

    // No new connections once shutting down: the socket file goes away.
    assert!(
        wait_for(Duration::from_secs(5), || (!sock.exists()).then_some(())).is_some(),
        "socket still there 5 s after SIGTERM\n{}",
        gw.log_banner()
    );

    // The finite stream ends with the chunked terminator, not a cut connection.
    finite
        .read_to_end(&mut rest)
        .unwrap_or_else(|e| panic!("in-flight request was cut: {e}\n{}", gw.log_banner()));
    assert!(
        rest.ends_with(b"0\r\n\r\n"),
        "in-flight response did not end cleanly: {:?}\n{}",
        String::from_utf8_lossy(&rest),
        gw.log_banner()
    );

    // The endless one is closed by the gateway, and it exits, within the grace period.
    let status = gw
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("still running 15 s after SIGTERM\n{}", gw.log_banner()));
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(12),
        "exit took {took:?} with a 5 s grace"
    );
    let _ = status;
    let mut buf = Vec::new();
    let _ = endless.read_to_end(&mut buf); // EOF or reset, but not a hang (30 s timeout)
}
