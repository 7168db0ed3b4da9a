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
//!   `reap_removes_a_network_a_stale_endpoint_holds`: a network held by the stale
//!   endpoint of a force-removed container (this daemon leaves one) is removed; one
//!   that a live container of someone else's is attached to is not, and the live
//!   container keeps its endpoint.
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
//!   streaming while A works, shows B's events and none of A's, while A's own stream
//!   shows all of them (network and volume events included, which carry no labels and
//!   are looked up by the gateway); read back with `--since/--until` through B, none
//!   either.
//! - **Names shaped like short IDs** (`names_shaped_like_short_ids_are_refused`,
//!   `image_names_shaped_like_short_ids_are_refused`): the daemon resolves a name
//!   before an ID prefix, so a container, network or image named with another's
//!   short ID (12 hex digits) takes that short ID over; shown on the daemon, then
//!   refused through the gateway (create, rename, network create; tag, commit and
//!   import `repo`, build `t=`).
//!
//! Daemon facts these tests work around, not gateway behaviour: on this daemon
//! (`--bridge=none`) a container that started on no network gets no interface and no
//! resolver from a network it joins later, and its endpoint stays behind if it is
//! force-removed while joined (the test helpers force-disconnect such endpoints when
//! they clean up); the daemon runs one prune at a time daemon-wide and turns the others
//! away with 409, so prunes are retried.
//!
//! Every refusal is checked for its status, a JSON body and a `message` starting
//! `buildgate: `; every "nothing happened" is checked on the daemon directly. Each test
//! makes its objects with unique names under owners of its own, and its guards
//! ([`Confined`], [`Cleanup`]) remove them whatever happens, so the tests run in parallel
//! with each other and with anything else using the daemon.

#[macro_use]
mod common;

use common::confine::{Api, Confined, path_str, prune_cli, refused};
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

// ------------------------------------------------------------------------ two owners

/// Two jobs on one daemon, each with its own confined gateway, and what A made through
/// its gateway: a running container on A's network with A's volume, an exec instance
/// of it, an image committed from it. B has one of each too (a running container on
/// B's network, B's volume, B's image).
struct Pair {
    a: Confined,
    b: Confined,
    /// A's container: its name and full ID.
    ca: String,
    ca_id: String,
    /// An exec instance of A's container (created, not started).
    exec_id: String,
    /// A's image: `repo:tag` and full ID (`sha256:…`).
    image: String,
    image_id: String,
    volume: String,
    network: String,
    network_id: String,
    /// B's own, for requests that need one.
    cb: String,
    cb_id: String,
    b_image: String,
    b_volume: String,
    b_network: String,
}

impl Pair {
    fn start(daemon_host: &str) -> Pair {
        let a = Confined::start(daemon_host, &[]);
        let b = Confined::start(daemon_host, &[]);
        let (ca, ca_id, image, image_id, volume, network, network_id) = Self::objects(&a, "a");
        let (cb, cb_id, b_image, _, b_volume, b_network, _) = Self::objects(&b, "b");
        let r = a
            .api
            .post_json(&format!("/containers/{ca_id}/exec"), r#"{"Cmd":["true"]}"#);
        assert_eq!(r.status, 201, "exec create: {}", r.text());
        let exec_id = r.json()["Id"].as_str().unwrap().to_string();
        Pair {
            a,
            b,
            ca,
            ca_id,
            exec_id,
            image,
            image_id,
            volume,
            network,
            network_id,
            cb,
            cb_id,
            b_image,
            b_volume,
            b_network,
        }
    }

    /// A network, a volume, a running container on both, an image committed from it,
    /// all made through `job`'s gateway: (container, its ID, image, its ID, volume,
    /// network, its ID).
    fn objects(
        job: &Confined,
        who: &str,
    ) -> (String, String, String, String, String, String, String) {
        let api = &job.api;
        let network = name(&format!("{who}-net"));
        let r = api.post_json("/networks/create", &json!({ "Name": network }).to_string());
        assert_eq!(r.status, 201, "network create: {}", r.text());
        let network_id = r.json()["Id"].as_str().unwrap().to_string();
        let volume = name(&format!("{who}-vol"));
        let r = api.post_json("/volumes/create", &json!({ "Name": volume }).to_string());
        assert_eq!(r.status, 201, "volume create: {}", r.text());
        let container = name(&format!("{who}-c"));
        let id = api.created(
            &container,
            &json!({
                "Image": IMAGE,
                "Cmd": ["sh", "-c", "echo secret > /data/f; echo started; exec sleep 600"],
                "HostConfig": {"Binds": [format!("{volume}:/data")], "NetworkMode": network},
            })
            .to_string(),
        );
        api.started(&id);
        assert!(
            wait_for(Duration::from_secs(10), || api
                .logs(&id)
                .contains("started")
                .then_some(()))
            .is_some(),
            "{container} never started"
        );
        let image = format!("{}:1", name(&format!("{who}-img")));
        let (repo, tag) = image.split_once(':').unwrap();
        let r = api.post(&format!("/commit?container={id}&repo={repo}&tag={tag}"));
        assert_eq!(r.status, 201, "commit: {}", r.text());
        let image_id = r.json()["Id"].as_str().unwrap().to_string();
        for (kind, reference) in [
            ("containers", id.as_str()),
            ("images", image_id.as_str()),
            ("volumes", volume.as_str()),
            ("networks", network_id.as_str()),
        ] {
            job.assert_owned(kind, reference);
        }
        (container, id, image, image_id, volume, network, network_id)
    }

    /// Every way to write a reference to A's container: name, full ID, ID prefixes.
    fn container_refs(&self) -> Vec<String> {
        vec![
            self.ca.clone(),
            self.ca_id.clone(),
            self.ca_id[..12].to_string(),
            self.ca_id[..7].to_string(),
        ]
    }

    /// … to A's image: name, `sha256:` ID, bare ID, ID prefixes with and without
    /// `sha256:`.
    fn image_refs(&self) -> Vec<String> {
        let hex = self.image_id.trim_start_matches("sha256:");
        vec![
            self.image.clone(),
            self.image_id.clone(),
            hex.to_string(),
            hex[..12].to_string(),
            format!("sha256:{}", &hex[..12]),
        ]
    }

    /// … to A's network: name, full ID, ID prefix.
    fn network_refs(&self) -> Vec<String> {
        vec![
            self.network.clone(),
            self.network_id.clone(),
            self.network_id[..12].to_string(),
        ]
    }

    /// Assert that A's objects are as A left them: the container running (not paused)
    /// under its name on A's network with A's volume, the exec instance there, the
    /// image with its tag, the volume, the network.
    #[track_caller]
    fn assert_a_untouched(&self) {
        let d = Api::daemon(&self.a.daemon);
        let c = d
            .inspect("containers", &self.ca_id)
            .expect("A's container is gone");
        assert_eq!(c["Name"].as_str(), Some(format!("/{}", self.ca).as_str()));
        assert_eq!(c["State"]["Running"], true, "{}", c["State"]);
        assert_eq!(c["State"]["Paused"], false, "{}", c["State"]);
        assert_eq!(c["RestartCount"], 0);
        let networks = c["NetworkSettings"]["Networks"].as_object().unwrap();
        assert_eq!(
            networks.keys().collect::<Vec<_>>(),
            [&self.network],
            "A's container's networks"
        );
        assert!(
            d.inspect("exec", &self.exec_id).is_some(),
            "A's exec is gone"
        );
        let i = d
            .inspect("images", &self.image_id)
            .expect("A's image is gone");
        assert_eq!(i["RepoTags"], json!([self.image]), "A's image's tags");
        assert!(
            d.inspect("volumes", &self.volume).is_some(),
            "A's volume is gone"
        );
        assert!(
            d.inspect("networks", &self.network_id).is_some(),
            "A's network is gone"
        );
        // Read through A's own gateway: what is made for the check is A's, and goes
        // with A.
        let (code, out) = self.a.api.run(
            &name("check"),
            &json!({"Image": IMAGE, "Cmd": ["cat", "/data/f"],
                    "HostConfig": {"Binds": [format!("{}:/data:ro", self.volume)], "AutoRemove": false}})
            .to_string(),
        );
        assert_eq!((code, out.as_str()), (0, "secret\n"), "A's volume's data");
    }
}

/// Sends `method path` (with a JSON `body` if not empty) through `api` and asserts a
/// 403 saying the object belongs to another owner.
#[track_caller]
fn refused_as_not_yours(api: &Api, method: &str, path: &str, body: &str) {
    let r = if body.is_empty() {
        api.call(method, path, None, b"")
    } else {
        api.call(method, path, Some("application/json"), body.as_bytes())
    };
    refused(
        &r,
        403,
        &["another owner"],
        &format!("{method} {path} {body}"),
    );
}

#[test]
fn two_owners_b_cannot_reach_a_by_any_reference() {
    let daemon = daemon_or_skip!();
    let p = Pair::start(&daemon);
    let b = &p.b.api;
    let tar = {
        let mut t = common::ustar::file("planted", b"by B\n");
        t.extend_from_slice(&common::ustar::END);
        t
    };

    for r in p.container_refs() {
        for (method, path) in [
            ("GET", format!("/containers/{r}/json")),
            ("GET", format!("/containers/{r}/logs?stdout=1&stderr=1")),
            ("GET", format!("/containers/{r}/top")),
            ("GET", format!("/containers/{r}/changes")),
            ("GET", format!("/containers/{r}/export")),
            ("GET", format!("/containers/{r}/stats?stream=0")),
            ("GET", format!("/containers/{r}/archive?path=/data/f")),
            (
                "GET",
                format!("/containers/{r}/attach/ws?stream=1&stdout=1"),
            ),
            (
                "POST",
                format!("/containers/{r}/attach?stream=1&stdout=1&stdin=1"),
            ),
            ("POST", format!("/containers/{r}/wait")),
            ("POST", format!("/containers/{r}/start")),
            ("POST", format!("/containers/{r}/stop?t=0")),
            ("POST", format!("/containers/{r}/restart?t=0")),
            ("POST", format!("/containers/{r}/kill")),
            ("POST", format!("/containers/{r}/pause")),
            ("POST", format!("/containers/{r}/unpause")),
            ("POST", format!("/containers/{r}/resize?h=10&w=10")),
            (
                "POST",
                format!("/containers/{r}/rename?name={}", name("stolen")),
            ),
            (
                "POST",
                format!("/commit?container={r}&repo={}", name("stolen")),
            ),
            ("DELETE", format!("/containers/{r}?force=1&v=1")),
        ] {
            refused_as_not_yours(b, method, &path, "");
        }
        refused_as_not_yours(
            b,
            "POST",
            &format!("/containers/{r}/update"),
            r#"{"Memory":67108864}"#,
        );
        refused_as_not_yours(
            b,
            "POST",
            &format!("/containers/{r}/exec"),
            r#"{"Cmd":["cat","/data/f"],"AttachStdout":true}"#,
        );
        let put = b.call(
            "PUT",
            &format!("/containers/{r}/archive?path=/tmp"),
            Some("application/x-tar"),
            &tar,
        );
        refused(&put, 403, &["another owner"], &format!("PUT archive {r}"));
        // HEAD has no body to read a message from: the status says it.
        let mut s = http::connect(&b.sock).unwrap();
        use std::io::Write;
        write!(
            s,
            "HEAD /containers/{r}/archive?path=/data/f HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let (head, _) = http::read_head(&mut s).unwrap();
        assert_eq!(head.status, 403, "HEAD archive of {r}: {head:?}");

        // References inside bodies: B's container may not join A's namespaces, mount
        // A's volumes through A's container or read A's environment through a link.
        for host_config in [
            json!({"NetworkMode": format!("container:{r}")}),
            json!({"PidMode": format!("container:{r}")}),
            json!({"IpcMode": format!("container:{r}")}),
            json!({"VolumesFrom": [r]}),
            json!({"VolumesFrom": [format!("{r}:ro")]}),
            json!({"Links": [format!("{r}:alias")]}),
        ] {
            let body = json!({"Image": IMAGE, "HostConfig": host_config}).to_string();
            let cname = name("refused");
            refused_as_not_yours(
                b,
                "POST",
                &format!("/containers/create?name={cname}"),
                &body,
            );
            assert!(p.b.daemon.inspect_container(&cname).is_none(), "{body}");
        }
        // A's container as the body of a connect to B's network, and of a disconnect
        // (from A's network, and from B's).
        for (net, action) in [
            (&p.b_network, "connect"),
            (&p.b_network, "disconnect"),
            (&p.network, "disconnect"),
        ] {
            refused_as_not_yours(
                b,
                "POST",
                &format!("/networks/{net}/{action}"),
                &json!({"Container": r, "Force": true}).to_string(),
            );
        }
    }

    // Exec instances have one reference, the full ID.
    for (method, path, body) in [
        ("GET", format!("/exec/{}/json", p.exec_id), ""),
        (
            "POST",
            format!("/exec/{}/start", p.exec_id),
            r#"{"Detach":true}"#,
        ),
        ("POST", format!("/exec/{}/resize?h=10&w=10", p.exec_id), ""),
    ] {
        refused_as_not_yours(b, method, &path, body);
    }

    for r in p.image_refs() {
        let e = http::escape_path(&r);
        for (method, path) in [
            ("GET", format!("/images/{e}/json")),
            ("GET", format!("/images/{e}/history")),
            ("GET", format!("/images/{e}/get")),
            (
                "GET",
                format!("/images/get?names={}", http::escape_query(&r)),
            ),
            (
                "POST",
                format!("/images/{e}/tag?repo={}&tag=x", name("stolen")),
            ),
            ("DELETE", format!("/images/{e}?force=1")),
        ] {
            refused_as_not_yours(b, method, &path, "");
        }
        let cname = name("refused");
        refused_as_not_yours(
            b,
            "POST",
            &format!("/containers/create?name={cname}"),
            &json!({"Image": r}).to_string(),
        );
    }
    // A push names the repository; one tag of A's image.
    let (repo, tag) = p.image.split_once(':').unwrap();
    refused_as_not_yours(b, "POST", &format!("/images/{repo}/push?tag={tag}"), "");
    // B's image may not take A's image's name.
    let r = b.post(&format!(
        "/images/{}/tag?repo={repo}&tag={tag}",
        http::escape_path(&p.b_image)
    ));
    refused(
        &r,
        403,
        &["another owner", "may not move a name"],
        "tag onto A's name",
    );

    // Volumes: by name only.
    let v = &p.volume;
    refused_as_not_yours(b, "GET", &format!("/volumes/{v}"), "");
    refused_as_not_yours(b, "DELETE", &format!("/volumes/{v}?force=1"), "");
    for host_config in [
        json!({"Binds": [format!("{v}:/data")]}),
        json!({"Binds": [format!("{v}:/data:ro")]}),
        json!({"Mounts": [{"Type": "volume", "Source": v, "Target": "/data"}]}),
    ] {
        refused_as_not_yours(
            b,
            "POST",
            "/containers/create",
            &json!({"Image": IMAGE, "HostConfig": host_config}).to_string(),
        );
    }
    let r = b.post_json("/volumes/create", &json!({ "Name": v }).to_string());
    refused(&r, 409, &["another owner"], "volume create of A's name");

    for r in p.network_refs() {
        let e = http::escape_path(&r);
        refused_as_not_yours(b, "GET", &format!("/networks/{e}"), "");
        refused_as_not_yours(b, "DELETE", &format!("/networks/{e}"), "");
        for action in ["connect", "disconnect"] {
            refused_as_not_yours(
                b,
                "POST",
                &format!("/networks/{e}/{action}"),
                &json!({"Container": p.cb_id}).to_string(),
            );
        }
        for body in [
            json!({"Image": IMAGE, "HostConfig": {"NetworkMode": r}}),
            json!({"Image": IMAGE, "NetworkingConfig": {"EndpointsConfig": {&r: {}}}}),
        ] {
            refused_as_not_yours(b, "POST", "/containers/create", &body.to_string());
        }
    }

    p.assert_a_untouched();
    // And nothing B asked for happened on B's side either.
    let cb = p.b.daemon.inspect_container(&p.cb_id).unwrap();
    assert_eq!(
        cb["NetworkSettings"]["Networks"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [&p.b_network]
    );
}

#[test]
fn two_owners_b_cannot_reach_a_with_the_clis() {
    let daemon = daemon_or_skip!();
    let p = Pair::start(&daemon);
    // Both CLIs at once: nothing they send may change anything.
    let clis = clis();
    thread::scope(|s| {
        for cli in &clis {
            let p = &p;
            s.spawn(move || b_cannot_reach_a_with(p, cli));
        }
    });
    p.assert_a_untouched();
}

/// Through B's gateway with `cli`: every command on A's objects fails with the
/// gateway's refusal, and B's lists show none of A's objects.
fn b_cannot_reach_a_with(p: &Pair, cli: &Cli) {
    let stolen = name("stolen");
    let via = &cli.version;
    let refused = |args: &[&str]| {
        let out = p.b.docker(cli).args(args).run().failed();
        assert!(
            out.stderr.contains("buildgate: ") && out.stderr.contains("another owner"),
            "via {via}: {out}"
        );
    };
    let ca = p.ca.as_str();
    let short = &p.ca_id[..12];
    let data = format!("{ca}:/data/f");
    let vol = format!("{}:/data", p.volume);
    let from_ns = format!("container:{ca}");
    for args in [
        &["container", "inspect", ca][..],
        &["container", "inspect", short],
        &["inspect", "--type", "container", &p.ca_id],
        &["logs", ca],
        &["exec", ca, "cat", "/data/f"],
        &["exec", "-i", short, "cat"],
        &["attach", "--no-stdin", ca],
        &["cp", &data, "-"],
        &["top", ca],
        &["stop", short],
        &["kill", ca],
        &["pause", ca],
        &["restart", ca],
        &["rename", ca, &stolen],
        &["update", "--memory", "64m", ca],
        &["commit", ca, &stolen],
        &["export", ca],
        &["rm", "-f", ca],
        &["rm", "-f", short],
        &["run", "--rm", "--volumes-from", ca, IMAGE, "true"],
        &["run", "--rm", "--network", &from_ns, IMAGE, "true"],
        &["run", "--rm", "--pid", &from_ns, IMAGE, "true"],
        &["run", "--rm", "--link", &format!("{ca}:x"), IMAGE, "true"],
        &["image", "inspect", &p.image],
        &["image", "inspect", &p.image_id],
        &["image", "history", &p.image],
        &["tag", &p.image, &stolen],
        &["tag", &p.b_image, &p.image],
        &["rmi", &p.image],
        &["rmi", &p.image_id[7..19]],
        &["save", &p.image],
        &["run", "--rm", &p.image, "true"],
        &["volume", "inspect", &p.volume],
        &["volume", "rm", &p.volume],
        &["run", "--rm", "-v", &vol, IMAGE, "true"],
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=volume,src={},dst=/data", p.volume),
            IMAGE,
            "true",
        ],
        &["network", "inspect", &p.network],
        &["network", "inspect", &p.network_id[..12]],
        &["network", "rm", &p.network],
        &["network", "connect", &p.network, &p.cb],
        &["network", "connect", &p.b_network, ca],
        &["network", "disconnect", &p.network, ca],
        &["run", "--rm", "--network", &p.network, IMAGE, "true"],
    ] {
        refused(args);
    }

    // Lists: B's objects, none of A's.
    let b = |args: &[&str]| p.b.docker(cli).args(args).run().ok().stdout;
    let ps = b(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    assert!(ps.contains(&p.cb_id), "via {via}: {ps}");
    assert!(
        !ps.contains(&p.ca_id) && !ps.contains(ca),
        "via {via}: {ps}"
    );
    let images = b(&[
        "images",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
    ]);
    assert!(images.contains(&p.b_image), "via {via}: {images}");
    assert!(
        !images.contains(&p.image) && !images.contains(&p.image_id),
        "via {via}: {images}"
    );
    assert!(
        images.contains(common::IMAGE),
        "via {via}: nobody's images are shown: {images}"
    );
    let volumes = b(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(volumes.contains(&p.b_volume), "via {via}: {volumes}");
    assert!(!volumes.contains(&p.volume), "via {via}: {volumes}");
    let networks = b(&[
        "network",
        "ls",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Name}}",
    ]);
    assert!(networks.contains(&p.b_network), "via {via}: {networks}");
    assert!(
        !networks.contains(&p.network) && !networks.contains(&p.network_id),
        "via {via}: {networks}"
    );
    let df = b(&["system", "df", "-v"]);
    for a in [
        ca,
        &p.ca_id[..12],
        p.image.split(':').next().unwrap(),
        &p.volume,
    ] {
        assert!(!df.contains(a), "via {via}: system df shows {a}: {df}");
    }
    assert!(df.contains(&p.cb), "via {via}: {df}");
}

#[test]
fn two_owners_prunes_stay_with_their_owner() {
    let daemon = daemon_or_skip!();
    let a = Confined::start(&daemon, &[]);
    let b = Confined::start(&daemon, &[]);
    // One prunable object of each kind per owner: a stopped container, a dangling
    // image, an unused volume, an unused network.
    let prunable = |job: &Confined| -> [String; 4] {
        let c = job.api.created(
            &name("stopped"),
            &json!({"Image": IMAGE, "Cmd": ["true"]}).to_string(),
        );
        let r = job.api.post(&format!("/commit?container={c}"));
        assert_eq!(r.status, 201, "{}", r.text());
        let image = r.json()["Id"].as_str().unwrap().to_string();
        let volume = name("unused");
        let r = job
            .api
            .post_json("/volumes/create", &json!({ "Name": volume }).to_string());
        assert_eq!(r.status, 201, "{}", r.text());
        let network = name("unused");
        let r = job
            .api
            .post_json("/networks/create", &json!({ "Name": network }).to_string());
        assert_eq!(r.status, 201, "{}", r.text());
        [c, image, volume, network]
    };
    let mine = prunable(&b);
    let theirs = prunable(&a);

    // First with a filter that names A's owner: the gateway ANDs its own, so nothing
    // can match; then plain, which takes B's and leaves A's.
    let a_filter = http::escape_query(&json!({"label": [a.label()]}).to_string());
    for kind in ["containers", "images", "volumes", "networks"] {
        let r = common::confine::prune_via(&b.api, &format!("/{kind}/prune?filters={a_filter}"));
        assert_eq!(r.status, 200, "{kind} prune: {}", r.text());
        let deleted = r.json();
        for field in [
            "ContainersDeleted",
            "ImagesDeleted",
            "VolumesDeleted",
            "NetworksDeleted",
        ] {
            assert!(
                deleted[field].as_array().is_none_or(Vec::is_empty),
                "{kind} prune with A's label deleted {}",
                deleted[field]
            );
        }
    }
    let mut said = String::new();
    for kind in ["containers", "images", "volumes", "networks"] {
        let r = common::confine::prune_via(&b.api, &format!("/{kind}/prune"));
        assert_eq!(r.status, 200, "{kind} prune: {}", r.text());
        said.push_str(&r.text());
    }
    for (kind, (m, t)) in ["containers", "images", "volumes", "networks"]
        .iter()
        .zip(mine.iter().zip(&theirs))
    {
        assert!(
            said.contains(m.as_str()),
            "B's {kind} {m} was not pruned: {said}"
        );
        assert!(
            !said.contains(t.as_str()),
            "A's {kind} {t} was pruned: {said}"
        );
        assert!(
            Api::daemon(&b.daemon).inspect(kind, m).is_none(),
            "B's {kind} {m} is still there"
        );
        assert!(
            Api::daemon(&a.daemon).inspect(kind, t).is_some(),
            "A's {kind} {t} is gone"
        );
    }
}

/// A works through its gateway: a network, a volume, a container on both that runs to
/// its end, an image committed from it and tagged twice, and all but the image removed
/// again. Returns what B's event streams may not mention: A's owner, and the IDs and
/// names of all of it.
fn a_works(a: &Confined) -> Vec<String> {
    let api = &a.api;
    let mut made = vec![a.owner().to_string()];
    let network = name("ev-net");
    let r = api.post_json("/networks/create", &json!({ "Name": network }).to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    made.push(r.json()["Id"].as_str().unwrap().to_string());
    made.push(network.clone());
    let volume = name("ev-vol");
    let r = api.post_json("/volumes/create", &json!({ "Name": volume }).to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    made.push(volume.clone());
    let c = name("ev-c");
    let (code, _) = api.run(
        &c,
        &json!({"Image": IMAGE, "Cmd": ["sh", "-c", "echo x > /data/x"],
                "HostConfig": {"Binds": [format!("{volume}:/data")], "NetworkMode": network}})
        .to_string(),
    );
    assert_eq!(code, 0);
    made.push(c.clone());
    let id = api.inspect("containers", &c).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    made.push(id.clone());
    let repo = name("ev-img");
    let r = api.post(&format!("/commit?container={id}&repo={repo}&tag=1"));
    assert_eq!(r.status, 201, "{}", r.text());
    made.push(r.json()["Id"].as_str().unwrap().to_string());
    made.push(repo.clone());
    let r = api.post(&format!("/images/{repo}:1/tag?repo={repo}&tag=2"));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(api.delete(&format!("/containers/{id}?v=1")).status, 204);
    assert_eq!(api.delete(&format!("/volumes/{volume}")).status, 204);
    assert_eq!(api.delete(&format!("/networks/{network}")).status, 204);
    made
}

/// `docker events --since <since> --format '{{json .}}'` running against a gateway,
/// its lines collected as they come.
struct EventStream {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl EventStream {
    fn start(job: &Confined, cli: &Cli, since: u64) -> EventStream {
        let mut child = job
            .docker(cli)
            .args([
                "events",
                "--since",
                &since.to_string(),
                "--format",
                "{{json .}}",
            ])
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker events");
        let (tx, lines) = mpsc::channel::<String>();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        EventStream {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait until a line contains `needle`.
    #[track_caller]
    fn wait_line(&mut self, needle: &str) {
        let found = wait_for(Duration::from_secs(30), || {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            self.seen.iter().any(|l| l.contains(needle)).then_some(())
        });
        assert!(
            found.is_some(),
            "the stream never showed {needle}: {:#?}",
            self.seen
        );
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn two_owners_events_show_only_the_owners_own() {
    let daemon = daemon_or_skip!();
    let a = Confined::start(&daemon, &[]);
    let b = Confined::start(&daemon, &[]);
    let cli = or_skip!(common::new_cli());
    let since = now_unix() - 1;

    // A and B both stream events (the 28.x CLI) while A works, between two markers of
    // each. The streams start a second back, so that a marker made before the
    // subscription shows too.
    let mut a_stream = EventStream::start(&a, &cli, since);
    let mut b_stream = EventStream::start(&b, &cli, since);
    let mark1 = name("mark1");
    a.api.created(&mark1, &json!({"Image": IMAGE}).to_string());
    b.api.created(
        &mark1.replace("mark1", "mark1b"),
        &json!({"Image": IMAGE}).to_string(),
    );
    a_stream.wait_line(&mark1);
    b_stream.wait_line(&mark1.replace("mark1", "mark1b"));
    let a_made = a_works(&a);
    let b_volume = name("ev-b-vol");
    let r = b
        .api
        .post_json("/volumes/create", &json!({ "Name": b_volume }).to_string());
    assert_eq!(r.status, 201);
    let mark2 = name("mark2");
    a.api.created(&mark2, &json!({"Image": IMAGE}).to_string());
    b.api.created(
        &mark2.replace("mark2", "mark2b"),
        &json!({"Image": IMAGE}).to_string(),
    );
    a_stream.wait_line(&mark2);
    b_stream.wait_line(&mark2.replace("mark2", "mark2b"));
    // B sees its own volume's event (volume events carry no labels: the gateway looks
    // the volume up), A sees all of its own: its network's and volume's too.
    b_stream.wait_line(&b_volume);
    for a_thing in &a_made {
        a_stream.wait_line(a_thing);
    }
    drop(a_stream);
    let b_seen = std::mem::take(&mut b_stream.seen);
    drop(b_stream);
    for line in &b_seen {
        for a_thing in &a_made {
            assert!(
                !line.contains(a_thing.as_str()),
                "B saw A's {a_thing}: {line}"
            );
        }
    }

    // Read back with --since/--until by the 20.10 CLI: through B, none of A's events.
    let until = (now_unix() + 1).to_string();
    let old = or_skip!(common::old_cli());
    let through_b = b
        .docker(&old)
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until,
            "--format",
            "{{json .}}",
        ])
        .run()
        .ok()
        .stdout;
    assert!(through_b.contains(&b_volume), "{through_b}");
    for a_thing in &a_made {
        assert!(
            !through_b.contains(a_thing.as_str()),
            "B saw A's {a_thing}: {through_b}"
        );
    }
}

// ------------------------------------------------------------------------ names like IDs

/// The daemon resolves a name before an ID prefix, so an object named like another's
/// short ID takes that short ID over. Shown on the daemon for containers and networks,
/// then refused through the gateway (create, rename, network create).
#[test]
fn names_shaped_like_short_ids_are_refused() {
    let daemon = daemon_or_skip!();
    let a = Confined::start(&daemon, &[]);
    let b = Confined::start(&daemon, &[]);
    let mut direct = Cleanup::new(&daemon);
    let d = Api::daemon(&a.daemon);

    let victim = a
        .api
        .created(&name("victim"), &json!({"Image": IMAGE}).to_string());
    let short = victim[..12].to_string();
    let r = a.api.post_json(
        "/networks/create",
        &json!({"Name": name("victim-net")}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let victim_net = r.json()["Id"].as_str().unwrap().to_string();
    let net_short = victim_net[..12].to_string();

    // On the daemon: a container named `short` takes over `short`, and so does a
    // network named `net_short`.
    direct.container(&short);
    let shadow = d.created(&short, &json!({"Image": IMAGE}).to_string());
    assert_eq!(
        d.inspect("containers", &short).unwrap()["Id"].as_str(),
        Some(shadow.as_str()),
        "the daemon resolves the name first"
    );
    direct.network(&net_short);
    let r = d.post_json("/networks/create", &json!({"Name": net_short}).to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    let net_shadow = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        d.inspect("networks", &net_short).unwrap()["Id"].as_str(),
        Some(net_shadow.as_str()),
        "the daemon resolves the name first"
    );
    direct.run_now();
    assert!(d.inspect("containers", &short).unwrap()["Id"].as_str() == Some(victim.as_str()));

    // Through B's gateway, none of those names can be taken.
    let full = victim.clone();
    for bad in [short.as_str(), &format!("/{short}"), &full, &victim[..20]] {
        let r = b.api.create(bad, &json!({"Image": IMAGE}).to_string());
        refused(
            &r,
            400,
            &["looks like an ID"],
            &format!("create named {bad}"),
        );
    }
    let mine = b
        .api
        .created(&name("mine"), &json!({"Image": IMAGE}).to_string());
    let r = b
        .api
        .post(&format!("/containers/{mine}/rename?name={short}"));
    refused(&r, 400, &["looks like an ID"], "rename");
    let r = b
        .api
        .post_json("/networks/create", &json!({"Name": net_short}).to_string());
    refused(&r, 400, &["looks like an ID"], "network create");
    // Upper-case hex is no ID (IDs are lower case): that name is an ordinary one.
    let upper = short.to_uppercase();
    let r = b.api.create(&upper, &json!({"Image": IMAGE}).to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        d.inspect("containers", &short).unwrap()["Id"].as_str(),
        Some(victim.as_str())
    );
    assert_eq!(
        d.inspect("networks", &net_short).unwrap()["Id"].as_str(),
        Some(victim_net.as_str())
    );
}

/// Image names too: a tag `<12 hex digits>:latest` takes over the short ID of the
/// image with that ID (the daemon looks a reference up as a name before as an ID
/// prefix). Shown on the daemon, then refused through the gateway for every way of
/// writing a name: tag, commit `repo`, import `repo`, build `t=`. (The daemon itself
/// refuses a repository named `sha256`, which would take `sha256:<prefix>` over.)
#[test]
fn image_names_shaped_like_short_ids_are_refused() {
    let daemon = daemon_or_skip!();
    let a = Confined::start(&daemon, &[]);
    let b = Confined::start(&daemon, &[]);
    let mut direct = Cleanup::new(&daemon);
    let d = Api::daemon(&a.daemon);
    let commit = |api: &Api, repo: &str| {
        let c = api.created(&name("c"), &json!({"Image": IMAGE}).to_string());
        let r = api.post(&format!("/commit?container={c}&repo={repo}&tag=1"));
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["Id"].as_str().unwrap().to_string()
    };
    let victim = commit(&a.api, &name("victim"));
    let hex = victim.trim_start_matches("sha256:");
    let short = &hex[..12];
    let image_at = |reference: &str| {
        d.inspect("images", reference)
            .and_then(|i| i["Id"].as_str().map(str::to_string))
    };
    assert_eq!(image_at(short), Some(victim.clone()));
    assert_eq!(image_at(&format!("sha256:{short}")), Some(victim.clone()));

    // On the daemon: an image tagged so takes the short ID over.
    let straight_repo = name("straight");
    let c = d.created(&name("c"), &json!({"Image": IMAGE}).to_string());
    direct.container(&c);
    let r = d.post(&format!("/commit?container={c}&repo={straight_repo}&tag=1"));
    let shadow = r.json()["Id"].as_str().unwrap().to_string();
    direct.image(&shadow);
    assert_eq!(
        d.post(&format!("/images/{shadow}/tag?repo={short}&tag=latest"))
            .status,
        201
    );
    assert_eq!(image_at(short), Some(shadow.clone()));
    assert_eq!(d.delete(&format!("/images/{short}:latest")).status, 200);
    assert_eq!(image_at(short), Some(victim.clone()));

    // Through B's gateway, none of those names can be written.
    let mine = commit(&b.api, &name("mine"));
    let mine_c = b
        .api
        .created(&name("c"), &json!({"Image": IMAGE}).to_string());
    for (repo, tag) in [(short, "latest"), (short, "1"), (&hex[..20], "latest")] {
        let what = format!("{repo}:{tag}");
        let r = b
            .api
            .post(&format!("/images/{mine}/tag?repo={repo}&tag={tag}"));
        refused(&r, 400, &["looks like an ID"], &format!("tag as {what}"));
        let r = b
            .api
            .post(&format!("/commit?container={mine_c}&repo={repo}&tag={tag}"));
        refused(&r, 400, &["looks like an ID"], &format!("commit as {what}"));
        let mut rootfs = common::ustar::file("f", b"f\n");
        rootfs.extend_from_slice(&common::ustar::END);
        let r = b.api.call(
            "POST",
            &format!("/images/create?fromSrc=-&repo={repo}&tag={tag}"),
            Some("application/x-tar"),
            &rootfs,
        );
        refused(&r, 400, &["looks like an ID"], &format!("import as {what}"));
        let ctx = common::ustar::context(&format!("FROM {IMAGE}\n"), &[]);
        let r = common::build::BuildRequest::new(
            &format!("t={}", http::escape_query(&what)),
            common::build::Body::Bytes(ctx),
        )
        .send(&b.api.sock);
        refused(
            r.response(),
            400,
            &["looks like an ID"],
            &format!("build -t {what}"),
        );
    }
    assert_eq!(image_at(short), Some(victim.clone()));
    assert_eq!(image_at(&format!("sha256:{short}")), Some(victim));
}

// ------------------------------------------------------------------------ refusals on the wire

/// A refusal made before the request body is read must still reach a client that is
/// writing that body: the docker CLI writes a request's head and body separately, and
/// through B's gateway `docker network disconnect <A's network> <A's container>` now and
/// then ended in "write: broken pipe" instead of the refusal. Here the client sends
/// the head, reads the whole refusal and the end of the stream, and only then writes
/// its body, slowly: the gateway may have stopped answering, but not stopped reading,
/// as dockerd's own server does (Go's lingering close).
#[test]
fn a_refusal_reaches_a_client_still_sending_its_body() {
    use std::io::{Read, Write};
    let daemon = daemon_or_skip!();
    let a = Confined::start(&daemon, &[]);
    let b = Confined::start(&daemon, &[]);
    let r = a.api.post_json(
        "/networks/create",
        &json!({"Name": name("net")}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let network = r.json()["Id"].as_str().unwrap().to_string();
    let body = json!({"Container": "x".repeat(900)}).to_string();
    let mut s = http::connect(&b.gw.sock).unwrap();
    write!(
        s,
        "POST /v1.41/networks/{network}/disconnect HTTP/1.1\r\nHost: docker\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let (head, buffered) = http::read_head(&mut s).unwrap();
    let response = http::read_body(&mut s, head, buffered, false).unwrap();
    refused(
        &response,
        403,
        &["another owner"],
        "disconnect from A's network",
    );
    // The gateway is done answering: its side of the stream ends…
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "more after the refusal: {rest:?}");
    // …but what a slow client still sends is taken, not answered with a reset.
    for (i, chunk) in body.as_bytes().chunks(100).enumerate() {
        s.write_all(chunk)
            .unwrap_or_else(|e| panic!("writing chunk {i} of the rest of the body: {e}"));
        // The stimulus: a client this slow (dockerd keeps reading for 500 ms).
        thread::sleep(Duration::from_millis(20));
    }
}

/// A container force-removed while attached to a network it joined after it started
/// leaves a stale endpoint on this daemon (20.10 with `--bridge=none`), and the network
/// then cannot be removed. `buildgate reap` drops such endpoints (only those whose
/// container is gone) and removes the network; a live container of someone else's that
/// is attached to the owner's network keeps its endpoint, and reap says why it could
/// not remove that network.
#[test]
fn reap_removes_a_network_a_stale_endpoint_holds() {
    let daemon_host = daemon_or_skip!();
    let daemon = Daemon::new(&daemon_host);
    let api = Api::daemon(&daemon);
    let owner = unique("reap-owner");
    let mut cleanup = Cleanup::new(&daemon_host);
    cleanup.label_filter(&format!("owner={owner}"));
    let net = name("stale-net");
    cleanup.network(&net);
    let r = api.post_json(
        "/networks/create",
        &json!({"Name": net, "Labels": {"owner": owner}}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // The default network mode: on this `--bridge=none` daemon, no network at all.
    let body =
        json!({"Image": IMAGE, "Cmd": ["sleep", "600"], "Labels": {"owner": owner}}).to_string();
    let c = api.created(&name("stale"), &body);
    api.started(&c);
    let r = api.post_json(
        &format!("/networks/{net}/connect"),
        &json!({ "Container": c }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.delete(&format!("/containers/{c}?force=1"));
    assert_eq!(r.status, 204, "{}", r.text());
    // The daemon's own removal fails on the endpoint the container left behind.
    let held = api.delete(&format!("/networks/{net}"));
    if held.status < 300 {
        eprintln!("NOTE: this daemon left no stale endpoint; nothing for reap to drop");
        return;
    }
    assert!(held.text().contains("active endpoints"), "{}", held.text());

    let (code, stdout, stderr) = reap(&daemon, &owner);
    assert_eq!(code, Some(0), "reap: {stdout}\n{stderr}");
    assert!(stdout.contains("removed network "), "{stdout}");
    assert!(daemon.inspect_network(&net).is_none(), "{stdout}");

    // A live container that is not the owner's, attached to the owner's network.
    let net2 = name("shared-net");
    cleanup.network(&net2);
    let r = api.post_json(
        "/networks/create",
        &json!({"Name": net2, "Labels": {"owner": owner}}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let other = name("other");
    cleanup.container(&other);
    let body = json!({"Image": IMAGE, "Cmd": ["sleep", "600"], "Labels": {"buildgate-test": "x"}})
        .to_string();
    let c2 = api.created(&other, &body);
    api.started(&c2);
    let r = api.post_json(
        &format!("/networks/{net2}/connect"),
        &json!({ "Container": c2 }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (code, stdout, stderr) = reap(&daemon, &owner);
    assert_eq!(code, Some(1), "reap: {stdout}\n{stderr}");
    assert!(stderr.contains("active endpoints"), "{stderr}");
    let attached = daemon.inspect_container(&c2).unwrap();
    assert!(
        attached["NetworkSettings"]["Networks"].get(&net2).is_some(),
        "the live container lost its endpoint: {attached}"
    );
}
