//! End-to-end proof of `--confine` (README, "`--confine`: the whole API under the
//! ownership model"), part one: a job works, and two jobs cannot reach each other. The
//! real `buildgate` binary runs in front of the real test dockerd 20.10, driven by both
//! docker CLIs (28.x and Debian's 20.10), docker-py and raw HTTP. Part two, every
//! refused class of request shown first to work straight against the daemon, is
//! `tests/e2e_confine_attacks.rs`.
//!
//! What is proven here:
//!
//! - **A normal job works** (`a_normal_job_works_*`, one run per CLI, in parallel;
//!   `docker_py_job_works`): `run`, `run -i` with stdin piped and half-closed, `exec`
//!   and `exec -i`, `logs`, `cp` both ways, named volumes by `-v name:/data` and by
//!   `--mount type=volume`, a bind mount below `--allow-bind`, a user network on which
//!   two containers talk by name (user bridge networks work on this daemon although it
//!   runs with `--bridge=none`; `network connect` and `disconnect` too), `build`, `tag`,
//!   `commit`, `rm`, and the four prunes, each removing what it should. Everything the
//!   job made is checked **on the daemon directly** to carry `owner=<job>`. Then
//!   `buildgate reap --owner` removes all the job still has (a running container, an
//!   image, a volume, a network), exits 0, and a second run removes nothing.
//! - **Two owners, one daemon** (`two_owners_*`): jobs A and B, each with its own
//!   gateway. Through B, every way of reaching A's objects is refused with a
//!   Docker-style 403, by name, full ID and ID prefix (containers, images, networks;
//!   volumes by name, exec instances by ID): inspect, logs, exec, attach, archive,
//!   start/stop/kill/pause/update/rename/wait/resize, rm, commit, tag (A's image as
//!   source, A's name as destination), export, volume use (`-v`, `--mount`, create
//!   of the same name), network inspect/connect/disconnect/rm (and A's container as the
//!   body's `Container` on B's network), `container:`/`VolumesFrom`/`Links` references;
//!   and afterwards A's objects are unchanged. B's lists (`ps -a`, `images`,
//!   `volume ls`, `network ls`, `system df`) show B's objects and none of A's; B's
//!   prunes remove B's prunable objects and none of A's; `docker events` through B,
//!   streaming while A works, shows B's events and none of A's. A container or network
//!   name shaped like a short ID (12 hex digits) is refused, after showing on the
//!   daemon that such a name takes over the other object's short ID.
//!
//! Every refusal is checked for its status, a JSON body and a `message` starting
//! `buildgate: `; every "nothing happened" is checked on the daemon directly. Each test
//! makes its objects with unique names under owners of its own, and its guards
//! ([`Confined`], [`Cleanup`]) remove them whatever happens, so the tests run in parallel
//! with each other and with anything else using the daemon.

#[macro_use]
mod common;

use common::confine::{Api, Confined, assert_owned_by, path_str, prune_cli, refused};
use common::{Cleanup, Cli, Daemon, IMAGE, buildgate_command, clis, http, unique, wait_for};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

// ------------------------------------------------------------------------ helpers

/// A name for a test object: lowercase, unique across runs and threads.
fn name(what: &str) -> String {
    unique(&format!("bgtc-{what}"))
}

/// `buildgate reap --owner <owner>` against the test daemon: (exit code, stdout,
/// stderr).
fn reap(daemon: &Daemon, owner: &str) -> (Option<i32>, String, String) {
    let out = buildgate_command()
        .args(["reap", "--owner", owner, "--upstream", &daemon.host])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run buildgate reap");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Everything carrying `owner=<owner>` on the daemon, by kind.
fn everything_owned(daemon: &Daemon, owner: &str) -> [BTreeSet<String>; 4] {
    let label = format!("owner={owner}");
    [
        daemon.containers_with_label(&label),
        daemon.images_with_label(&label),
        daemon.volumes_with_label(&label),
        daemon.networks_with_label(&label),
    ]
}

/// A shell loop that connects to `host:port` until it answers (the server may not
/// listen yet), printing what it says.
fn nc_until_answered(host: &str, port: u16) -> String {
    format!(
        "for i in $(seq 200); do nc {host} {port} </dev/null && exit 0; sleep 0.1; done; \
         echo never answered; exit 1"
    )
}

// ------------------------------------------------------------------------ a job

/// A whole job through a confined gateway with one CLI; see the module doc.
fn normal_job(daemon_host: &str, cli: &Cli) {
    let env = Confined::start(daemon_host, &[]);
    let via = &cli.version;
    let docker = |args: &[&str]| env.docker(cli).args(args).run().ok();

    // run, run -i (cat ends only when the client's half-close reaches it).
    let out = docker(&["run", "--rm", IMAGE, "echo", "hi"]);
    assert_eq!(out.stdout, "hi\n", "via {via}: {out}");
    let out = env
        .docker(cli)
        .args(["run", "--rm", "-i", IMAGE, "cat"])
        .stdin("piped in\n")
        .timeout(Duration::from_secs(30))
        .run()
        .ok();
    assert_eq!(out.stdout, "piped in\n", "via {via}: {out}");

    // A long-running container: exec, exec -i, logs, cp both ways.
    let c1 = name("c1");
    let out = docker(&[
        "run",
        "-d",
        "--name",
        &c1,
        IMAGE,
        "sh",
        "-c",
        "echo started; exec sleep 600",
    ]);
    let c1_id = out.stdout.trim().to_string();
    assert_eq!(c1_id.len(), 64, "via {via}: {out}");
    let out = docker(&["exec", &c1, "sh", "-c", "echo exec-out"]);
    assert_eq!(out.stdout, "exec-out\n", "via {via}: {out}");
    let out = env
        .docker(cli)
        .args(["exec", "-i", &c1, "cat"])
        .stdin("into exec\n")
        .timeout(Duration::from_secs(30))
        .run()
        .ok();
    assert_eq!(out.stdout, "into exec\n", "via {via}: {out}");
    let logs = wait_for(Duration::from_secs(10), || {
        let out = docker(&["logs", &c1]);
        out.stdout.contains("started").then_some(out)
    });
    assert!(
        logs.is_some(),
        "via {via}: `docker logs` never showed the output"
    );
    let host_in = env.dir.path().join("in.txt");
    fs::write(&host_in, "copied in\n").unwrap();
    docker(&["cp", &path_str(&host_in), &format!("{c1}:/tmp/in.txt")]);
    let out = docker(&["exec", &c1, "cat", "/tmp/in.txt"]);
    assert_eq!(out.stdout, "copied in\n", "via {via}: {out}");
    docker(&["exec", &c1, "sh", "-c", "echo copied out > /tmp/out.txt"]);
    let host_out = env.dir.path().join("out.txt");
    docker(&["cp", &format!("{c1}:/tmp/out.txt"), &path_str(&host_out)]);
    assert_eq!(fs::read_to_string(&host_out).unwrap(), "copied out\n");

    // Named volumes: made by -v, read through --mount; one made by --mount.
    let v1 = name("v1");
    let v2 = name("v2");
    docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{v1}:/data"),
        IMAGE,
        "sh",
        "-c",
        "echo in-volume > /data/f",
    ]);
    let out = docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=volume,src={v1},dst=/data"),
        IMAGE,
        "cat",
        "/data/f",
    ]);
    assert_eq!(out.stdout, "in-volume\n", "via {via}: {out}");
    docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=volume,src={v2},dst=/data"),
        IMAGE,
        "true",
    ]);

    // A bind mount below --allow-bind, by -v and by --mount.
    fs::write(env.allowed.join("marker"), "allowed bind\n").unwrap();
    let allowed = path_str(&env.allowed);
    let out = docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{allowed}:/b:ro"),
        IMAGE,
        "cat",
        "/b/marker",
    ]);
    assert_eq!(out.stdout, "allowed bind\n", "via {via}: {out}");
    let out = docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={allowed},dst=/b,readonly"),
        IMAGE,
        "cat",
        "/b/marker",
    ]);
    assert_eq!(out.stdout, "allowed bind\n", "via {via}: {out}");

    // A user network: a server, and a client that finds it by name. Then a container
    // of a second network joins the first (`network connect`), reaches the server by
    // name, and leaves. (On this daemon, started with --bridge=none, a container
    // that started on no network has no interface to give a network it joins later,
    // and keeps the host's resolver, so the joiner starts on a network of its own.)
    let net = name("net");
    let net2 = name("net2");
    docker(&["network", "create", &net]);
    docker(&["network", "create", &net2]);
    let srv = name("srv");
    docker(&[
        "run",
        "-d",
        "--name",
        &srv,
        "--network",
        &net,
        IMAGE,
        "sh",
        "-c",
        "while true; do echo pong | nc -l -p 7777; done",
    ]);
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        IMAGE,
        "sh",
        "-c",
        &nc_until_answered(&srv, 7777),
    ]);
    assert_eq!(out.stdout, "pong\n", "via {via}: {out}");
    let joiner = name("joiner");
    docker(&[
        "run",
        "-d",
        "--name",
        &joiner,
        "--network",
        &net2,
        IMAGE,
        "sleep",
        "600",
    ]);
    docker(&["network", "connect", &net, &joiner]);
    let out = docker(&["exec", &joiner, "sh", "-c", &nc_until_answered(&srv, 7777)]);
    assert_eq!(out.stdout, "pong\n", "via {via}: {out}");
    let out = docker(&["network", "inspect", &net, "--format", "{{json .Labels}}"]);
    assert!(out.stdout.contains(env.owner()), "via {via}: {out}");
    docker(&["network", "disconnect", &net, &joiner]);
    let networks =
        env.daemon.inspect_container(&joiner).unwrap()["NetworkSettings"]["Networks"].clone();
    assert!(
        networks.get(&net).is_none() && networks.get(&net2).is_some(),
        "via {via}: after disconnect: {networks}"
    );

    // build, tag, commit.
    let ctx = env.dir.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {IMAGE}\nRUN echo built > /built\n"),
    )
    .unwrap();
    let img = format!("{}:1", name("img"));
    let img2 = format!("{}:2", name("img"));
    let commit_img = format!("{}:c", name("img"));
    docker(&["build", "-q", "-t", &img, &path_str(&ctx)]);
    let out = docker(&["run", "--rm", &img, "cat", "/built"]);
    assert_eq!(out.stdout, "built\n", "via {via}: {out}");
    docker(&["tag", &img, &img2]);
    docker(&["commit", &c1, &commit_img]);

    // Everything so far carries the owner, on the daemon.
    for (kind, reference) in [
        ("containers", c1.as_str()),
        ("containers", srv.as_str()),
        ("containers", joiner.as_str()),
        ("images", img.as_str()),
        ("images", img2.as_str()),
        ("images", commit_img.as_str()),
        ("volumes", v1.as_str()),
        ("volumes", v2.as_str()),
        ("networks", net.as_str()),
        ("networks", net2.as_str()),
    ] {
        env.assert_owned(kind, reference);
    }

    // rm.
    docker(&["rm", "-f", &c1]);
    assert!(env.daemon.inspect_container(&c1_id).is_none(), "via {via}");

    // The prunes, each removing what it should and only that.
    let c3 = name("c3");
    let c3_id = docker(&["create", "--name", &c3, IMAGE, "true"])
        .stdout
        .trim()
        .to_string();
    let out = prune_cli(|| env.docker(cli).args(["container", "prune", "-f"]));
    assert!(out.stdout.contains(&c3_id), "via {via}: {out}");
    assert!(env.daemon.inspect_container(&c3_id).is_none(), "via {via}");
    assert!(env.daemon.inspect_container(&srv).is_some(), "via {via}");

    let dangling = docker(&["commit", &srv]).stdout.trim().to_string();
    env.assert_owned("images", &dangling);
    let out = prune_cli(|| env.docker(cli).args(["image", "prune", "-f"]));
    assert!(out.stdout.contains(&dangling), "via {via}: {out}");
    assert!(env.daemon.inspect_image(&dangling).is_none(), "via {via}");
    assert!(env.daemon.inspect_image(&img).is_some(), "via {via}");

    let out = prune_cli(|| env.docker(cli).args(["volume", "prune", "-f"]));
    for v in [&v1, &v2] {
        assert!(out.stdout.contains(v.as_str()), "via {via}: {out}");
        assert!(env.daemon.inspect_volume(v).is_none(), "via {via}: {v}");
    }

    docker(&["rm", "-f", &srv, &joiner]);
    let out = prune_cli(|| env.docker(cli).args(["network", "prune", "-f"]));
    for n in [&net, &net2] {
        assert!(out.stdout.contains(n.as_str()), "via {via}: {out}");
        assert!(env.daemon.inspect_network(n).is_none(), "via {via}: {n}");
    }

    // buildgate reap: everything the job still has goes, and only once.
    let keep = name("keep");
    docker(&["run", "-d", "--name", &keep, IMAGE, "sleep", "600"]);
    let kept_volume = name("kv");
    docker(&["volume", "create", &kept_volume]);
    let kept_network = name("kn");
    docker(&["network", "create", &kept_network]);
    let [containers, images, volumes, networks] = everything_owned(&env.daemon, env.owner());
    assert!(
        !containers.is_empty() && !images.is_empty() && !volumes.is_empty() && !networks.is_empty(),
        "via {via}: the job should still own one of each: {containers:?} {images:?} {volumes:?} {networks:?}"
    );
    let (code, stdout, stderr) = reap(&env.daemon, env.owner());
    assert_eq!(code, Some(0), "via {via}: reap: {stdout}\n{stderr}");
    // Every container, volume and network is listed as removed; images too, except
    // the build's intermediate ones, which go with the image made from them.
    for id in containers.iter().chain(&volumes).chain(&networks) {
        assert!(
            stdout.contains(id.as_str()),
            "via {via}: reap did not list {id}: {stdout}"
        );
    }
    assert!(stdout.contains("removed image "), "via {via}: {stdout}");
    let left = everything_owned(&env.daemon, env.owner());
    assert!(
        left.iter().all(BTreeSet::is_empty),
        "via {via}: left after reap: {left:?}"
    );
    let (code, stdout, stderr) = reap(&env.daemon, env.owner());
    assert_eq!(code, Some(0), "via {via}: second reap: {stdout}\n{stderr}");
    assert!(
        !stdout.contains("removed"),
        "via {via}: the second reap removed something: {stdout}"
    );
}

#[test]
fn a_normal_job_works_with_each_cli() {
    let daemon = daemon_or_skip!();
    let clis = clis();
    thread::scope(|s| {
        for cli in &clis {
            let daemon = &daemon;
            s.spawn(move || normal_job(daemon, cli));
        }
    });
}

#[test]
fn docker_py_job_works() {
    let daemon = daemon_or_skip!();
    let python = docker_py_or_skip!();
    let env = Confined::start(&daemon, &[]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/confine_job.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .env("DOCKER_HOST", env.gw.host())
        .env("BUILDGATE_TEST_IMAGE", IMAGE)
        .env("BUILDGATE_TEST_PREFIX", name("py"))
        .env("BUILDGATE_TEST_WORKDIR", env.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "docker-py job failed:\n{stdout}\n--- stderr:\n{stderr}"
    );
    // The script's last line lists what it left, by kind, for the check on the daemon.
    let made: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary from the script:\n{stdout}"));
    let mut checked = 0;
    for kind in ["containers", "images", "volumes", "networks"] {
        for reference in made[kind].as_array().expect("a list per kind") {
            env.assert_owned(kind, reference.as_str().unwrap());
            checked += 1;
        }
    }
    assert!(checked >= 4, "the script reported too little: {made}");
}
