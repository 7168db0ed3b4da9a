//! End-to-end tests of `--owner-from-peer`: one gateway, many owners, each connection's
//! owner read from the container it comes from, against the real dockerd.
//!
//! The "jobs" are containers started straight on the daemon, as GitLab Runner starts
//! them, with a `com.gitlab.gitlab-runner.job.id` label, the gateway's socket directory
//! bind-mounted and a docker CLI (with the libraries `ldd` lists) bind-mounted
//! read-only into the static-busybox test image. Commands run in them with `docker exec`
//! (through the daemon, as the runner does), and talk to the gateway through the
//! mounted socket, so the gateway sees them as processes of their job's container.
//!
//! The refusals that need a process in an odd cgroup (one that names a container the
//! daemon does not have, one below a real container's cgroup) move a host process into
//! a cgroup the test makes: they need root and a writable cgroup tree, as CI has.

#[macro_use]
mod common;

use common::{Cleanup, Cli, Daemon, Docker, Gateway, GatewayOpts, IMAGE, Output, clis, unique};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The label GitLab Runner puts on a job's containers.
const JOB_LABEL: &str = "com.gitlab.gitlab-runner.job.id";

/// Where the job containers see the gateway's socket directory, and their docker CLI.
const SOCK_IN_JOB: &str = "/var/run/buildgate";
const CLI_IN_JOB: &str = "/usr/local/bin/docker";

/// A gateway with `--owner-from-peer JOB_LABEL` on a socket in a directory of its own,
/// which job containers get bind-mounted.
struct Host {
    daemon_host: String,
    daemon: Daemon,
    /// The CLI the test itself drives the daemon with.
    cli: Cli,
    gw: Gateway,
    sock_dir: tempfile::TempDir,
    cleanup: Cleanup,
}

impl Host {
    /// `owner`: the gateway's `--owner`, if any; `extra`: more flags.
    fn start(owner: Option<&str>, extra: &[&str]) -> Option<Host> {
        let daemon_host = common::docker_host()?;
        let daemon = Daemon::new(&daemon_host);
        let cli = clis().first().cloned()?;
        let sock_dir = tempfile::Builder::new()
            .prefix("buildgate-identity-")
            .tempdir()
            .unwrap();
        let mut opts = GatewayOpts::new(&daemon_host);
        opts.owner = owner.map(str::to_string);
        opts.listen = Some(sock_dir.path().join("docker.sock"));
        opts.extra = ["--owner-from-peer", JOB_LABEL, "--socket-mode", "0666"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        if extra.contains(&"--confine") {
            // What a job needs to start children like itself: the socket's directory
            // and the CLI, bound in.
            let mut allowed = vec![sock_dir.path().display().to_string()];
            for mount in cli.container_mounts(CLI_IN_JOB) {
                allowed.push(mount.split(':').next().unwrap_or_default().to_string());
            }
            for path in allowed {
                opts.extra.extend(["--allow-bind".to_string(), path]);
            }
        }
        let gw = Gateway::start_with(opts);
        let cleanup = Cleanup::new(&daemon_host);
        Some(Host {
            daemon_host,
            daemon,
            cli,
            gw,
            sock_dir,
            cleanup,
        })
    }

    /// A docker CLI command straight on the daemon.
    fn on_daemon(&self) -> Docker {
        Docker::new(&self.cli, &self.daemon_host)
    }

    /// The `docker run` arguments that make a job container: the test's cleanup label,
    /// `labels`, the gateway's socket directory and `cli` mounted.
    fn job_args(&self, cli: &Cli, labels: &[String]) -> Vec<String> {
        let mut args: Vec<String> = ["run", "-d", "--network", "none", "--label"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(self.cleanup.label.clone());
        for label in labels {
            args.extend(["--label".to_string(), label.clone()]);
        }
        args.extend([
            "-v".to_string(),
            format!("{}:{SOCK_IN_JOB}", self.sock_dir.path().display()),
        ]);
        for mount in cli.container_mounts(CLI_IN_JOB) {
            args.extend(["-v".to_string(), mount]);
        }
        args
    }

    /// Starts a job container from `image` straight on the daemon, as a runner does;
    /// returns its ID.
    fn start_job(&self, cli: &Cli, labels: &[String], image: &str) -> String {
        let out = self
            .on_daemon()
            .args(self.job_args(cli, labels))
            .args([image, "sleep", "600"])
            .run()
            .ok();
        out.stdout.trim().to_string()
    }

    /// Runs `script` in container `id` (`docker exec`, as the runner runs a job's
    /// script), with `DOCKER_HOST` on the gateway's socket.
    fn exec(&self, id: &str, script: &str) -> Output {
        self.on_daemon()
            .args(["exec", "-e", "DOCKER_BUILDKIT=0", "-e"])
            .args([format!("DOCKER_HOST=unix://{SOCK_IN_JOB}/docker.sock")])
            .args([id, "sh", "-c", script])
            .timeout(Duration::from_secs(120))
            .run()
    }

    /// Builds `tag` in container `id` through the gateway, from a Dockerfile that tries
    /// to set its own owner, keeping every intermediate container.
    fn build_in(&self, id: &str, tag: &str) {
        let script = format!(
            "printf 'FROM {IMAGE}\\nLABEL owner=spoofed\\nRUN true\\n' | \
             {CLI_IN_JOB} build --rm=false -q -t {tag} - && echo built"
        );
        let out = self.exec(id, &script).ok();
        assert!(
            out.stdout.contains("built"),
            "{out}\n{}",
            self.gw.log_banner()
        );
    }

    /// Asserts that the build of `tag` made exactly what its Dockerfile implies (the
    /// gateway's owner LABEL, the client's LABEL, RUN, and the final `labels` step: four
    /// images, each committed from a container), and that every one of those images and
    /// containers carries `owner=<owner>`, and nothing else does.
    fn assert_build_owned(&self, tag: &str, owner: &str) -> BTreeSet<String> {
        let base = self.daemon.inspect_image(IMAGE).expect("the base image")["Id"].clone();
        let mut images = Vec::new();
        let mut next = tag.to_string();
        let mut containers = BTreeSet::new();
        while let Some(info) = self.daemon.inspect_image(&next) {
            if info["Id"] == base {
                break;
            }
            let labels = common::labels(&info);
            assert_eq!(
                labels.get("owner").map(String::as_str),
                Some(owner),
                "image {} of {tag}: {labels:?}",
                info["Id"]
            );
            let container = info["Container"].as_str().unwrap_or_default();
            assert!(
                !container.is_empty(),
                "image {} has no container",
                info["Id"]
            );
            containers.insert(container.to_string());
            images.push(info["Id"].as_str().unwrap_or_default().to_string());
            next = info["Parent"].as_str().unwrap_or_default().to_string();
            assert!(!next.is_empty(), "{tag}'s parents do not reach {IMAGE}");
        }
        assert_eq!(images.len(), 4, "{tag}: images {images:?}");
        for id in &containers {
            let labels = self.daemon.container_labels(id);
            assert_eq!(
                labels.get("owner").map(String::as_str),
                Some(owner),
                "container {id} of {tag}: {labels:?}"
            );
        }
        containers
    }

    /// Asserts that what carries `owner=<owner>` on the daemon is exactly `containers`.
    fn assert_owns_only(&self, owner: &str, containers: &BTreeSet<String>) {
        assert_eq!(
            &self.daemon.containers_with_label(&format!("owner={owner}")),
            containers,
            "the containers owned by {owner}"
        );
    }

    /// A job ID no other test uses, whose objects are removed at the end.
    fn job_id(&mut self) -> String {
        let id = unique("job");
        self.cleanup.label_filter(&format!("owner={id}"));
        id
    }
}

fn job_label(job: &str) -> String {
    format!("{JOB_LABEL}={job}")
}

/// The CLIs to put into job containers: the 28.x (static) and the 20.10 (dynamic,
/// with its libraries) where both exist.
fn job_clis() -> Vec<Cli> {
    clis()
}

// ------------------------------------------------------------------------ two jobs

/// Two job containers, one gateway: each job's build, with `LABEL owner=spoofed`, is
/// owned by its own job ID, every image and intermediate container of it, and each
/// access-log line names the job.
#[test]
fn one_gateway_serves_two_jobs_each_with_its_own_owner() {
    let mut host = or_skip!(Host::start(None, &[]));
    let clis = job_clis();
    let jobs: Vec<(String, String, String)> = (0..2)
        .map(|i| {
            let job = host.job_id();
            let cli = &clis[i % clis.len()];
            let container = host.start_job(cli, &[job_label(&job)], IMAGE);
            let tag = format!("buildgate-test/identity-{i}:{}", unique("t"));
            host.cleanup.image(&tag);
            (job, container, tag)
        })
        .collect();
    // Both at once, through the one socket.
    std::thread::scope(|s| {
        for (_, container, tag) in &jobs {
            let host = &host;
            s.spawn(move || host.build_in(container, tag));
        }
    });
    for (job, _, tag) in &jobs {
        let containers = host.assert_build_owned(tag, job);
        host.assert_owns_only(job, &containers);
        // The line is written when the response body has been sent, which may be just
        // after the CLI has exited. (The CLIs send /v1.41/build to a 20.10 daemon.)
        let logged = wait_log(&host.gw, |l| {
            l.contains(&format!("owner=\"{job}\"")) && l.contains("/build status=200")
        });
        assert!(
            logged,
            "no access-log line for {job}'s build:\n{}",
            host.gw.log()
        );
    }
}

// ------------------------------------------------------------------------ --confine

/// Under `--confine`, job A sees and touches only its own objects through the same
/// socket job B uses: lists show none of B's, and B's image and containers by name, full
/// ID and ID prefix are refused, for reading as for changing, and stay as they were.
#[test]
fn confined_jobs_cannot_see_or_touch_each_other() {
    let mut host = or_skip!(Host::start(None, &["--confine"]));
    let cli = job_clis()[0].clone();
    let (a, b) = (host.job_id(), host.job_id());
    let ca = host.start_job(&cli, &[job_label(&a)], IMAGE);
    let cb = host.start_job(&cli, &[job_label(&b)], IMAGE);
    let tag_a = format!("buildgate-test/identity-a:{}", unique("t"));
    let tag_b = format!("buildgate-test/identity-b:{}", unique("t"));
    host.build_in(&ca, &tag_a);
    host.build_in(&cb, &tag_b);
    let containers_a = host.assert_build_owned(&tag_a, &a);
    host.assert_owns_only(&a, &containers_a);
    let containers_b = host.assert_build_owned(&tag_b, &b);
    host.assert_owns_only(&b, &containers_b);
    let image_b = host.daemon.inspect_image(&tag_b).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let container_b = containers_b.first().unwrap().clone();

    // Lists: A's own objects, none of B's.
    let images = host
        .exec(
            &ca,
            &format!("{CLI_IN_JOB} images --format '{{{{.Repository}}}}:{{{{.Tag}}}}'"),
        )
        .ok();
    assert!(images.stdout.contains(&tag_a), "{images}");
    assert!(!images.stdout.contains(&tag_b), "{images}");
    let listed = host
        .exec(
            &ca,
            &format!("{CLI_IN_JOB} ps -a --no-trunc --format '{{{{.ID}}}}'"),
        )
        .ok();
    let listed: BTreeSet<String> = listed.stdout.lines().map(str::to_string).collect();
    assert_eq!(listed, containers_a, "docker ps -a in job A");

    // B's objects, every way of naming them, reading and changing.
    let hex = image_b.trim_start_matches("sha256:");
    let refused = [
        format!("image inspect {tag_b}"),
        format!("image inspect {image_b}"),
        format!("image inspect {}", &hex[..12]),
        format!("history {}", &hex[..12]),
        format!("rmi -f {tag_b}"),
        format!("tag {tag_b} buildgate-test/stolen:{}", unique("t")),
        format!("container inspect {container_b}"),
        format!("container inspect {}", &container_b[..12]),
        format!("rm -f {}", &container_b[..12]),
        format!("logs {container_b}"),
    ];
    for command in &refused {
        let out = host.exec(&ca, &format!("{CLI_IN_JOB} {command}")).failed();
        assert!(
            out.stderr.contains("belongs to another owner"),
            "job A: docker {command}: {out}"
        );
    }
    // A's own, the same ways: allowed.
    let own = host
        .exec(
            &ca,
            &format!("{CLI_IN_JOB} image inspect --format '{{{{.Id}}}}' {tag_a}"),
        )
        .ok();
    assert!(own.stdout.starts_with("sha256:"), "{own}");
    // And the other way round.
    let out = host
        .exec(&cb, &format!("{CLI_IN_JOB} image inspect {tag_a}"))
        .failed();
    assert!(out.stderr.contains("belongs to another owner"), "{out}");

    // Nothing of B's moved.
    assert_eq!(
        host.daemon.inspect_image(&tag_b).unwrap()["Id"],
        image_b.as_str()
    );
    assert!(host.daemon.inspect_container(&container_b).is_some());
    assert_eq!(
        host.daemon.containers_with_label(&format!("owner={b}")),
        containers_b
    );
}

// ------------------------------------------------------------------------ refusals

/// The message of a gateway refusal the docker CLI printed.
#[track_caller]
fn assert_refused_because(out: &Output, why: &str) {
    assert!(
        !out.success()
            && out
                .stderr
                .contains("buildgate: this connection has no owner")
            && out.stderr.contains(why),
        "expected a refusal saying {why:?}: {out}"
    );
}

/// Without `--owner`, a host process is refused, and so is a container without the
/// label and one whose label is not a valid owner; each with a 403 that says why.
#[test]
fn connections_without_an_owner_are_refused_with_the_reason() {
    let host = or_skip!(Host::start(None, &[]));
    let cli = job_clis()[0].clone();

    // A process on the host, raw HTTP: a 403 in the daemon's error format.
    let r = host.gw.get("/_ping");
    assert_eq!(r.status, 403, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("runs in no container"), "{message}");
    assert!(message.contains(JOB_LABEL), "{message}");
    // The docker CLI prints it.
    let out = host.gw.docker(&cli).args(["version"]).run();
    assert_refused_because(&out, "runs in no container");

    // A container without the label.
    let bare = host.start_job(&cli, &[], IMAGE);
    let out = host.exec(&bare, &format!("{CLI_IN_JOB} version"));
    assert_refused_because(&out, "carries neither");

    // A label that is not a valid owner: it would end up inside a Dockerfile LABEL.
    let bad = host.start_job(&cli, &[job_label("job$(id)")], IMAGE);
    let out = host.exec(&bad, &format!("{CLI_IN_JOB} version"));
    assert_refused_because(&out, "is not a valid owner");
    // Refused connections reach nothing: no build either.
    let out = host.exec(
        &bad,
        &format!("printf 'FROM {IMAGE}\\n' | {CLI_IN_JOB} build -q -"),
    );
    assert_refused_because(&out, "is not a valid owner");
    assert!(
        host.gw
            .log()
            .lines()
            .filter(|l| l.contains("path="))
            .all(|l| l.contains("owner=\"-\"") && l.contains("status=403")),
        "every request was refused:\n{}",
        host.gw.log()
    );
}

/// With `--owner`, a host process gets it, and only a host process: a job container
/// next to it still gets its job's owner.
#[test]
fn owner_flag_is_for_processes_outside_containers_only() {
    let host_owner = unique("host");
    let mut host = or_skip!(Host::start(Some(&host_owner), &[]));
    host.cleanup.label_filter(&format!("owner={host_owner}"));
    let cli = job_clis()[0].clone();

    let from_host = format!("buildgate-test/identity-host:{}", unique("t"));
    host.cleanup.image(&from_host);
    host.gw
        .docker(&cli)
        .args(["build", "-q", "-t", from_host.as_str(), "-"])
        .stdin(format!("FROM {IMAGE}\nLABEL owner=spoofed\n"))
        .run()
        .ok();
    common::assert_owned(&host.daemon, &host_owner, &from_host);

    let job = host.job_id();
    let container = host.start_job(&cli, &[job_label(&job)], IMAGE);
    let tag = format!("buildgate-test/identity-job:{}", unique("t"));
    host.cleanup.image(&tag);
    host.build_in(&container, &tag);
    host.assert_build_owned(&tag, &job);
}

// ------------------------------------------------------------------------ odd cgroups

/// A cgroup hierarchy the test can put a process into: the v1 `pids` hierarchy, else
/// the v2 one. (`None` = skip; a failure under `CI=true`.)
fn hierarchy() -> Option<(PathBuf, &'static str)> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut v2 = None;
    for line in mountinfo.lines() {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split_whitespace().nth(4)?;
        let mut right = right.split_whitespace();
        let fstype = right.next()?;
        let options = right.nth(1).unwrap_or_default();
        if fstype == "cgroup" && options.split(',').any(|o| o == "pids") {
            return Some((PathBuf::from(mount_point), "pids"));
        }
        if fstype == "cgroup2" && v2.is_none() {
            v2 = Some(PathBuf::from(mount_point));
        }
    }
    v2.map(|p| (p, ""))
        .or_else(|| common::skip_or_fail("no cgroup hierarchy mounted"))
}

/// The cgroup path of `pid` in the hierarchy whose controller list contains `controller`
/// ("" for cgroup v2).
fn cgroup_path(pid: u32, controller: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            let hit = if controller.is_empty() {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == controller)
            };
            hit.then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("pid {pid} has no {controller:?} cgroup:\n{text}"))
}

/// A cgroup directory the test made; removed on drop (once empty).
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// Runs `cli version` through the gateway from a host process moved into `dir` first.
fn version_from_cgroup(host: &Host, dir: &Path) -> Output {
    let o = Command::new("sh")
        .args([
            "-c",
            r#"echo $$ > "$1/cgroup.procs" && exec "$2" version"#,
            "sh",
        ])
        .arg(dir)
        .arg(&host.cli.path)
        .env("DOCKER_HOST", host.gw.host())
        .stdin(Stdio::null())
        .output()
        .expect("sh");
    Output {
        cmdline: format!("(in {}) docker version", dir.display()),
        status: Some(o.status),
        timed_out: false,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A process whose cgroup names a container the daemon does not have: the look-up
/// fails, and says so. One in a cgroup below a real job container's: ambiguous,
/// refused, although that container's job label would give an owner.
#[test]
fn peers_in_cgroups_the_daemon_did_not_make_are_refused() {
    let mut host = or_skip!(Host::start(None, &[]));
    let (root, controller) = or_skip!(hierarchy());
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail::<()>("moving a process between cgroups needs root");
        return;
    }

    // A container ID no container has, under a parent of the test's own.
    let parent = TestCgroup(root.join(unique("buildgate-test")));
    fs::create_dir(&parent.0).unwrap();
    let fake = TestCgroup(parent.0.join("f".repeat(64)));
    fs::create_dir(&fake.0).unwrap();
    let out = version_from_cgroup(&host, &fake.0);
    assert_refused_because(&out, "has no such container");
    drop(fake);
    drop(parent);

    // Below a real job container's cgroup.
    let job = host.job_id();
    let container = host.start_job(&host.cli.clone(), &[job_label(&job)], IMAGE);
    let pid = host.daemon.inspect_container(&container).unwrap()["State"]["Pid"]
        .as_u64()
        .unwrap() as u32;
    let path = cgroup_path(pid, controller);
    assert!(
        path.ends_with(&container),
        "{path} should end in {container}"
    );
    let below = TestCgroup(root.join(path.trim_start_matches('/')).join(unique("sub")));
    fs::create_dir(&below.0).unwrap();
    let out = version_from_cgroup(&host, &below.0);
    assert_refused_because(&out, "lies below a container's cgroup");
    // The same container's own processes are served.
    host.exec(&container, &format!("{CLI_IN_JOB} version")).ok();
}

// ------------------------------------------------------------------------ child containers

/// Without `--confine`: a container a job starts through the gateway, with the socket's
/// directory bound in and the owner label `--confine` would force (set by the job here
/// itself), builds with the job's owner, even with another job's ID in its job label
/// (under `--confine` that label is forced too:
/// `confined_jobs_cannot_label_a_child_as_another_job`). A runner's job container in an image
/// another job built (which carries that job's owner label) gets its own job's owner,
/// not the image's; a child in the job's own image, with no job label, the job's.
#[test]
fn child_containers_and_images_of_other_jobs_keep_the_right_owner() {
    let mut host = or_skip!(Host::start(None, &[]));
    let cli = job_clis()[0].clone();
    let (a, b, victim) = (host.job_id(), host.job_id(), host.job_id());
    let ca = host.start_job(&cli, &[job_label(&a)], IMAGE);

    // Job A starts a child through the gateway: `docker run` inside job A.
    let args = host.job_args(&cli, &[format!("owner={a}"), job_label(&victim)]);
    let run = format!("{CLI_IN_JOB} {} {IMAGE} sleep 600", shell_words(&args));
    let out = host.exec(&ca, &run).ok();
    let child = out.stdout.trim().to_string();
    let labels = host.daemon.container_labels(&child);
    assert_eq!(labels.get(JOB_LABEL), Some(&victim), "{labels:?}");
    let tag_child = format!("buildgate-test/identity-child:{}", unique("t"));
    host.cleanup.image(&tag_child);
    host.build_in(&child, &tag_child);
    host.assert_build_owned(&tag_child, &a);

    // Job B's runner uses A's image as B's job image: A's owner label comes with it.
    let tag_a = format!("buildgate-test/identity-a:{}", unique("t"));
    host.cleanup.image(&tag_a);
    host.build_in(&ca, &tag_a);
    let cb = host.start_job(&cli, &[job_label(&b)], &tag_a);
    assert_eq!(
        host.daemon.container_labels(&cb).get("owner"),
        Some(&a),
        "the job container inherits the image's owner label"
    );
    let tag_b = format!("buildgate-test/identity-b:{}", unique("t"));
    host.cleanup.image(&tag_b);
    host.exec(
        &cb,
        &format!(
            "printf 'FROM {IMAGE}\\nRUN true\\n' | {CLI_IN_JOB} build -q -t {tag_b} - && echo built"
        ),
    )
    .ok();
    common::assert_owned(&host.daemon, &b, &tag_b);

    // A child of job A in A's own image, with the forced owner label and no job label.
    let args = host.job_args(&cli, &[format!("owner={a}")]);
    let run = format!("{CLI_IN_JOB} {} {tag_a} sleep 600", shell_words(&args));
    let own_image_child = host.exec(&ca, &run).ok().stdout.trim().to_string();
    let tag_own = format!("buildgate-test/identity-own:{}", unique("t"));
    host.cleanup.image(&tag_own);
    host.exec(
        &own_image_child,
        &format!(
            "printf 'FROM {IMAGE}\\nRUN true\\n' | {CLI_IN_JOB} build -q -t {tag_own} - && echo built"
        ),
    )
    .ok();
    common::assert_owned(&host.daemon, &a, &tag_own);
}

/// Under `--confine`, a job cannot make a container that speaks as another job: the
/// gateway sets the job label of every container a job creates to the job's own ID,
/// whatever the job asks for and whatever the image carries. Without that, a child in
/// the job's own image (whose owner label is then the image's, so the job label
/// decides) labelled with the victim's ID would connect as the victim.
#[test]
fn confined_jobs_cannot_label_a_child_as_another_job() {
    let mut host = or_skip!(Host::start(None, &["--confine"]));
    let cli = job_clis()[0].clone();
    let (a, victim) = (host.job_id(), host.job_id());
    let ca = host.start_job(&cli, &[job_label(&a)], IMAGE);

    // Job A builds its own image, which carries the victim's ID under the job label.
    let tag_a = format!("buildgate-test/identity-forged:{}", unique("t"));
    host.cleanup.image(&tag_a);
    let out = host.exec(
        &ca,
        &format!(
            "printf 'FROM {IMAGE}\\nLABEL {JOB_LABEL}={victim}\\n' | \
             {CLI_IN_JOB} build -q -t {tag_a} - && echo built"
        ),
    );
    assert!(
        out.ok().stdout.contains("built"),
        "{}",
        host.gw.log_banner()
    );
    common::assert_owned(&host.daemon, &a, &tag_a);
    assert_eq!(
        host.daemon.image_labels(&tag_a).get(JOB_LABEL),
        Some(&victim),
        "the image carries the forged job label"
    );

    // Straight on the daemon such a child would carry the victim's ID (the image's
    // label, and the one asked for).
    let straight = host.start_job(&cli, &[], &tag_a);
    assert_eq!(
        host.daemon.container_labels(&straight).get(JOB_LABEL),
        Some(&victim)
    );

    // Through the gateway, from inside job A: with the image's label and with the
    // victim's ID asked for, the child gets A's ID, and what it builds is A's.
    for asked in [vec![], vec![job_label(&victim)]] {
        let args = host.job_args(&cli, &asked);
        let run = format!("{CLI_IN_JOB} {} {tag_a} sleep 600", shell_words(&args));
        let child = host.exec(&ca, &run).ok().stdout.trim().to_string();
        let labels = host.daemon.container_labels(&child);
        assert_eq!(labels.get(JOB_LABEL), Some(&a), "{asked:?}: {labels:?}");
        assert_eq!(labels.get("owner"), Some(&a), "{asked:?}: {labels:?}");
        let tag = format!("buildgate-test/identity-child:{}", unique("t"));
        host.cleanup.image(&tag);
        host.build_in(&child, &tag);
        common::assert_owned(&host.daemon, &a, &tag);
    }
}

/// Arguments for `sh -c`, each single-quoted.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A job's connection is served with the owner found at accept for its whole life:
/// the gateway's log has one look-up per connection, however many requests it carries.
#[test]
fn the_owner_is_looked_up_once_per_connection() {
    let mut host = or_skip!(Host::start(None, &[]));
    let cli = job_clis()[0].clone();
    let job = host.job_id();
    let container = host.start_job(&cli, &[job_label(&job)], IMAGE);
    // The CLI's `version` sends several requests (`/_ping`, `/version`) on one
    // keep-alive connection.
    let before = lookups(&host.gw.log(), &job);
    host.exec(&container, &format!("{CLI_IN_JOB} version")).ok();
    assert!(wait_log(&host.gw, |l| l.contains("/version status=")));
    let log = host.gw.log();
    let requests = log
        .lines()
        .filter(|l| l.contains(&format!("owner=\"{job}\"")) && l.contains("path="))
        .count();
    assert!(requests >= 2, "the CLI made one request only:\n{log}");
    let looked_up = lookups(&log, &job) - before;
    assert!(
        looked_up >= 1 && looked_up < requests,
        "{looked_up} look-ups for {requests} requests:\n{log}"
    );
}

/// Waits (up to 10 s) for a line of the gateway's log that `matches`.
fn wait_log(gw: &Gateway, matches: impl Fn(&str) -> bool) -> bool {
    common::wait_for(Duration::from_secs(10), || {
        gw.log().lines().any(&matches).then_some(())
    })
    .is_some()
}

/// How many connections the gateway resolved to `owner`.
fn lookups(log: &str, owner: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("connection owner") && l.contains(&format!("owner={owner}")))
        .count()
}

// ------------------------------------------------------------------------ TCP

/// A TCP connection has no peer process: the gateway will not start with a TCP listener
/// and `--owner-from-peer` alone, and with `--owner` too, TCP connections get that owner.
#[test]
fn tcp_connections_get_the_owner_flag_and_need_it() {
    let daemon_host = daemon_or_skip!();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");

    let out = common::buildgate_command()
        .args(["--owner-from-peer", JOB_LABEL, "--listen", &tcp])
        .args(["--upstream", &daemon_host])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--owner-from-peer") && stderr.contains("give --owner too"),
        "{stderr}"
    );

    let tcp_owner = unique("tcp");
    let host = or_skip!(Host::start(Some(&tcp_owner), &["--listen", &tcp]));
    // Only the TCP connection asks for /version (the helper's readiness check pings on
    // the unix socket).
    let mut stream = common::wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the gateway listens on TCP");
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        wait_log(&host.gw, |l| l.contains(&format!("owner=\"{tcp_owner}\""))
            && l.contains("path=/version status=200")),
        "{}",
        host.gw.log_banner()
    );
}
