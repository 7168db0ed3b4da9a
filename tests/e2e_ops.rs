//! End-to-end tests of the operator integration: `buildgate check`, the help text, the
//! container image (built through the gateway, then run), and the examples under
//! `examples/` run for real as far as this machine allows (the Buildkite hooks with a
//! fake job, the systemd units' ExecStart flags, the GitLab runners' socket arrangement
//! with one gateway for the host and a job container per runner entry, each owned by its
//! job ID).
//!
//! Tests that need the daemon skip when run by hand without one and fail under `CI=true`.

#[macro_use]
mod common;

use common::{
    Cleanup, Cli, Daemon, Docker, Gateway, IMAGE, assert_owned, buildgate_command, clis, http,
    unique, wait_for,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_buildgate");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The 28.x CLI if present (the one the README targets), else the first one found.
fn cli() -> Cli {
    let all = clis();
    all.iter()
        .find(|c| c.path == Path::new("/usr/local/bin/docker"))
        .or(all.first())
        .cloned()
        .expect("a docker CLI")
}

/// Runs `buildgate` with these arguments and no BUILDGATE_* variables.
fn buildgate(args: &[&str]) -> Output {
    buildgate_command()
        .args(args)
        .output()
        .expect("run buildgate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// A build through `host` of a one-step Dockerfile that tries to set its own owner.
fn build_spoofing_owner(cli: &Cli, host: &str, tag: &str) {
    Docker::new(cli, host)
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(format!("FROM {IMAGE}\nLABEL owner=spoofed\nRUN true\n"))
        .run()
        .ok();
}

// ------------------------------------------------------------------------ help, version

#[test]
fn version_and_help_read_well() {
    let v = buildgate(&["--version"]);
    assert!(v.status.success(), "{}", show(&v));
    assert_eq!(
        text(&v.stdout).trim(),
        format!("buildgate {}", env!("CARGO_PKG_VERSION"))
    );

    let h = buildgate(&["--help"]);
    assert!(h.status.success(), "{}", show(&h));
    let help = text(&h.stdout);
    for want in [
        "buildgate --owner VALUE",
        "buildgate check",
        "--listen <ADDR>",
        "--owner <VALUE>",
        "--shutdown-grace <SECS>",
        "[env: BUILDGATE_OWNER=]",
        "Examples:",
        "DOCKER_BUILDKIT=0",
    ] {
        assert!(help.contains(want), "--help lacks {want:?}:\n{help}");
    }

    let c = buildgate(&["check", "--help"]);
    assert!(c.status.success(), "{}", show(&c));
    let help = text(&c.stdout);
    assert!(
        help.contains("Exit status: 0 if builds will work"),
        "{help}"
    );
    assert!(!help.contains("--owner"), "check takes no --owner:\n{help}");

    // Serving without an owner is a usage error naming the flag.
    let o = buildgate(&["--listen", "/nonexistent/x.sock"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("--owner"), "{}", show(&o));
}

// ------------------------------------------------------------------------ check

#[test]
fn check_against_the_real_daemon_and_through_a_gateway() {
    let daemon = daemon_or_skip!();
    let o = buildgate(&["check", "--upstream", &daemon]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(out.contains("Builds through buildgate will work"), "{out}");
    assert!(out.contains("runs Linux containers"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");

    // Through a gateway: the same answers, plus the gateway's Builder-Version: 1.
    let gw = Gateway::start(&daemon, &[]);
    let o = buildgate(&["check", "--upstream", &gw.host()]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("default is the classic builder"),
        "{}",
        show(&o)
    );

    // BUILDGATE_UPSTREAM is honoured, as for serving.
    let o = buildgate_command()
        .arg("check")
        .env("BUILDGATE_UPSTREAM", &daemon)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

#[test]
fn check_against_unreachable_upstreams_fails_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("unix://{}/no-daemon.sock", dir.path().display());
    let o = buildgate(&["check", "--upstream", &missing]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("FAIL  cannot reach the Docker daemon"),
        "{out}"
    );
    assert!(out.contains("is dockerd running"), "{out}");
    assert!(out.contains("will NOT work"), "{out}");

    // A socket nothing accepts on.
    let refused = dir.path().join("refused.sock");
    drop(std::os::unix::net::UnixListener::bind(&refused).unwrap());
    let o = buildgate(&["check", "--upstream", refused.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(text(&o.stdout).contains("nothing listens"), "{}", show(&o));

    // A socket that accepts but never answers: the timeout, not a hang.
    let silent = dir.path().join("silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    let o = buildgate(&[
        "check",
        "--connect-timeout",
        "1",
        "--upstream",
        silent.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("no answer within 1s"),
        "{}",
        show(&o)
    );

    // Something that is not an address at all is a usage error.
    let o = buildgate(&["check", "--upstream", "ftp://example"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

// ------------------------------------------------------------------------ container image + GitLab

/// Lays out the image's build context for the test binary.
fn image_context(dir: &Path) {
    let o = Command::new("bash")
        .arg(repo().join("scripts/ops-image-context.sh"))
        .arg(BIN)
        .arg(dir)
        .output()
        .expect("run scripts/ops-image-context.sh");
    assert!(o.status.success(), "{}", show(&o));
}

/// The GitLab example, parsed with Python's tomllib: `[[runners]]` as JSON.
fn gitlab_runners() -> Vec<serde_json::Value> {
    let o = Command::new(common::python())
        .args([
            "-c",
            "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))",
        ])
        .arg(repo().join("examples/gitlab/config.toml"))
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "config.toml does not parse: {}",
        show(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["runners"].as_array().cloned().unwrap_or_default()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The `docker run` the GitLab example's comment gives for the gateway container, as
/// arguments after `docker run`.
fn gitlab_gateway_run() -> Vec<String> {
    let text = fs::read_to_string(repo().join("examples/gitlab/config.toml")).unwrap();
    let mut words = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let Some(comment) = line.strip_prefix('#') else {
            continue;
        };
        let comment = comment.trim();
        if comment.starts_with("docker run") {
            inside = true;
        }
        if !inside {
            continue;
        }
        words.extend(
            comment
                .trim_end_matches('\\')
                .split_whitespace()
                .map(str::to_string),
        );
        if !comment.ends_with('\\') {
            break;
        }
    }
    assert_eq!(
        words.get(..2),
        Some(&["docker".to_string(), "run".to_string()][..]),
        "no `docker run` for the gateway in config.toml"
    );
    words.split_off(2)
}

/// The unit file the GitLab example pairs with.
const GITLAB_UNIT: &str = "examples/systemd/buildgate-gitlab.service";

/// The host directory every runner mounts the gateway's socket directory from.
const GITLAB_SOCKET_DIR: &str = "/run/buildgate/gitlab";

#[test]
fn gitlab_config_parses_and_keeps_the_daemon_socket_out_of_jobs() {
    let runners = gitlab_runners();
    assert!(runners.len() >= 2, "two runner entries share one gateway");
    for r in &runners {
        let name = r["name"].as_str().unwrap();
        assert_eq!(r["executor"], "docker", "{name}");
        assert_eq!(r["docker"]["privileged"], false, "{name}");
        assert_eq!(r["docker"]["services_privileged"], false, "{name}");
        let volumes = strings(&r["docker"]["volumes"]);
        assert!(
            volumes.iter().all(|v| !v.contains("docker.sock")),
            "{name}: the daemon's socket must not reach jobs: {volumes:?}"
        );
        // The one gateway's directory is mounted where DOCKER_HOST points.
        let mount = volumes
            .iter()
            .find(|v| v.starts_with(&format!("{GITLAB_SOCKET_DIR}:")))
            .unwrap_or_else(|| panic!("{name}: no gateway volume in {volumes:?}"));
        let inside = mount.split(':').nth(1).unwrap();
        let env = strings(&r["environment"]);
        assert!(
            env.contains(&format!("DOCKER_HOST=unix://{inside}/docker.sock")),
            "{name}: {env:?} vs {mount}"
        );
        assert!(
            env.contains(&"DOCKER_BUILDKIT=0".to_string()),
            "{name}: {env:?}"
        );
    }
    // The gateway the comment starts reads the owner from the job's container, which it
    // can see only in the host's pid and cgroup namespaces, and confines each job.
    let run = gitlab_gateway_run().join(" ");
    for want in [
        "--pid host",
        "--cgroupns host",
        "-e BUILDGATE_OWNER_FROM_PEER=com.gitlab.gitlab-runner.job.id",
        "-e BUILDGATE_CONFINE=true",
        &format!("-v {GITLAB_SOCKET_DIR}:/run/buildgate"),
    ] {
        assert!(
            run.contains(want),
            "the gateway's docker run lacks {want:?}: {run}"
        );
    }
    assert!(!run.contains("BUILDGATE_OWNER="), "no fixed owner: {run}");
    // The systemd unit it names serves the same directory, the same way.
    let unit = fs::read_to_string(repo().join(GITLAB_UNIT)).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    for want in [
        "--owner-from-peer com.gitlab.gitlab-runner.job.id",
        "--confine",
        &format!("--listen unix://{GITLAB_SOCKET_DIR}/docker.sock"),
    ] {
        assert!(
            exec.contains(want),
            "{GITLAB_UNIT} ExecStart lacks {want:?}: {exec}"
        );
    }
    assert!(
        !unit.contains("ProtectProc=invisible"),
        "the gateway must see its peers' /proc entries"
    );
}

/// Builds the image through a gateway, checks it is owned, then runs it as the GitLab
/// example's comment says (one gateway for the host, in its pid and cgroup namespaces,
/// reading each job's owner from its container) and runs a job container per runner
/// entry, arranged as config.toml says and labelled with a job ID as GitLab labels it,
/// each of which builds through the one gateway as a non-root user and gets its own
/// job's owner.
#[test]
fn container_image_built_through_gateway_serves_gitlab_jobs_each_as_itself() {
    let daemon_host = daemon_or_skip!();
    let daemon = Daemon::new(&daemon_host);
    let cli = cli();
    let gw = Gateway::start(&daemon_host, &[]);
    let mut cleanup = Cleanup::new(&daemon_host);
    cleanup.label_filter(&format!("owner={}", gw.owner));

    // 1. Build the image through the gateway.
    let ctx = tempfile::tempdir().unwrap();
    image_context(&ctx.path().join("ctx"));
    let image = format!("buildgate-test/buildgate-image:{}", unique("img"));
    cleanup.image(&image);
    gw.docker(&cli)
        .args(["build", "--rm=false", "-q", "-t", image.as_str()])
        .args([ctx.path().join("ctx").to_str().unwrap()])
        .timeout(Duration::from_secs(180))
        .run()
        .ok();
    assert_owned(&daemon, &gw.owner, &image);
    let intermediates = daemon.containers_with_label(&format!("owner={}", gw.owner));
    assert!(
        !intermediates.is_empty(),
        "the build's intermediate containers should carry owner={}",
        gw.owner
    );

    // 2. Run it as the host's gateway, exactly as config.toml's comment says, with the
    //    host paths moved into a temp dir and the image just built.
    let base = tempfile::tempdir().unwrap();
    let sock_dir = base.path().join("gitlab");
    fs::create_dir_all(&sock_dir).unwrap();
    let daemon_sock = daemon.sock.display().to_string();
    let gw_container = unique("bgt-gateway");
    cleanup.container(&gw_container);
    let mut run: Vec<String> = Vec::new();
    let mut args = gitlab_gateway_run().into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--restart=always" => {}
            "--name" => {
                args.next();
                run.extend(["--name".to_string(), gw_container.clone()]);
            }
            "-v" => {
                let volume = args.next().unwrap();
                let volume = volume
                    .replace("/var/run/docker.sock:", &format!("{daemon_sock}:"))
                    .replace(
                        &format!("{GITLAB_SOCKET_DIR}:"),
                        &format!("{}:", sock_dir.display()),
                    );
                run.extend(["-v".to_string(), volume]);
            }
            "buildgate:0.1.0" => run.push(image.clone()),
            _ => run.push(arg),
        }
    }
    assert_eq!(
        run.last(),
        Some(&image),
        "the image ends the docker run: {run:?}"
    );
    Docker::new(&cli, &daemon_host)
        .args(["run"])
        .args(&run)
        .run()
        .ok();
    let sock = sock_dir.join("docker.sock");
    // The host's test process is in no container: refused, which says the gateway is up.
    let up = wait_for(Duration::from_secs(30), || {
        http::get(&sock, "/_ping").ok().filter(|r| r.status == 403)
    })
    .unwrap_or_else(|| {
        panic!(
            "the gateway container does not answer on {}",
            sock.display()
        )
    });
    assert!(up.text().contains("runs in no container"), "{}", up.text());

    // `check` in the image, against the mounted daemon.
    let check = Docker::new(&cli, &daemon_host)
        .args(["run", "--rm", "--network", "none"])
        .args([
            "-v",
            format!("{daemon_sock}:/var/run/docker.sock").as_str(),
            image.as_str(),
            "check",
        ])
        .run()
        .ok();
    assert!(check.stdout.contains("will work"), "{check}");

    // 3. A job container per runner entry, as config.toml arranges it: its volumes (host
    //    side mapped to the temp dir) and environment, a job ID label as GitLab puts on
    //    it, the static docker CLI, a non-root user. Both at once.
    let runners = gitlab_runners();
    let jobs: Vec<(String, String)> = runners
        .iter()
        .map(|_| {
            let job = unique("gitlab-job");
            let tag = format!("buildgate-test/gitlab-job:{}", unique("job"));
            cleanup.label_filter(&format!("owner={job}"));
            cleanup.image(&tag);
            (job, tag)
        })
        .collect();
    std::thread::scope(|s| {
        for (runner, (job, tag)) in runners.iter().zip(&jobs) {
            let cli = &cli;
            let daemon_host = &daemon_host;
            let base = base.path();
            let cleanup_label = cleanup.label.clone();
            s.spawn(move || {
                let mut docker = Docker::new(cli, daemon_host)
                    .args(["run", "--rm", "--network", "none", "--user", "1000:1000"])
                    .args(["--tmpfs", "/tmp", "-e", "HOME=/tmp"])
                    .args(["--label", cleanup_label.as_str()])
                    .args(["--label", &format!("com.gitlab.gitlab-runner.job.id={job}")])
                    .args([
                        "-v",
                        format!("{}:/usr/local/bin/docker:ro", cli.path.display()).as_str(),
                    ]);
                for volume in strings(&runner["docker"]["volumes"]) {
                    let mapped = volume.replacen(
                        "/run/buildgate/",
                        &format!("{}/", base.display()),
                        1,
                    );
                    docker = docker.args(["-v", mapped.as_str()]);
                }
                for env in strings(&runner["environment"]) {
                    docker = docker.args(["-e", env.as_str()]);
                }
                let script = format!(
                    "printf 'FROM {IMAGE}\\nLABEL owner=spoofed\\nRUN true\\n' | /usr/local/bin/docker build -q -t {tag} - && echo built"
                );
                let out = docker
                    .args([IMAGE, "sh", "-c", script.as_str()])
                    .timeout(Duration::from_secs(120))
                    .run()
                    .ok();
                assert!(out.stdout.contains("built"), "{out}");
            });
        }
    });
    for (job, tag) in &jobs {
        assert_owned(&daemon, job, tag);
    }

    // 4. Stopping the gateway container removes its socket from the host directory.
    Docker::new(&cli, &daemon_host)
        .args(["stop", "-t", "20", gw_container.as_str()])
        .run()
        .ok();
    assert!(!sock.exists(), "socket left behind after docker stop");
    let logs = Docker::new(&cli, &daemon_host)
        .args(["logs", gw_container.as_str()])
        .run()
        .ok();
    assert!(logs.stderr.contains("shutting down"), "{logs}");
    for (job, _) in &jobs {
        assert!(
            logs.stderr.contains(&format!("owner=\"{job}\"")),
            "the access log names job {job}: {logs}"
        );
    }
}

// ------------------------------------------------------------------------ Buildkite

fn process_running(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3 is the state; a zombie has exited.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn buildkite_hooks_run_a_gateway_per_job() {
    let daemon_host = daemon_or_skip!();
    let daemon = Daemon::new(&daemon_host);
    let cli = cli();
    let mut cleanup = Cleanup::new(&daemon_host);

    // The hooks as an agent would have them, with settings for this machine.
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("hooks");
    fs::create_dir_all(&hooks).unwrap();
    for name in ["environment", "pre-exit", "buildgate.conf"] {
        fs::copy(
            repo().join("examples/buildkite/hooks").join(name),
            hooks.join(name),
        )
        .unwrap();
    }
    let run = dir.path().join("run");
    let state = dir.path().join("state");
    let mut conf = fs::read_to_string(hooks.join("buildgate.conf")).unwrap();
    conf.push_str(&format!(
        "\n# test settings\nbuildgate_bin={BIN}\nbuildgate_upstream={daemon_host}\n\
         buildgate_socket_dir={}\nbuildgate_state_dir={}\n",
        run.display(),
        state.display()
    ));
    fs::write(hooks.join("buildgate.conf"), conf).unwrap();

    let job = format!("0190f3a2-{}", unique("bk"));
    cleanup.label_filter(&format!("owner={job}"));
    let hook = |name: &str, script: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("hook")
            .arg(hooks.join(name))
            .env("BUILDKITE_JOB_ID", &job)
            .env("BUILDKITE_BUILD_PATH", dir.path())
            // A pipeline's env: the hook must not let these reach the gateway.
            .env("BUILDGATE_OWNER_LABEL", "hijacked")
            .env("BUILDGATE_OWNER", "someone-else")
            .env("BUILDGATE_ALLOW_HOST_NETWORK", "true")
            .stdin(Stdio::null())
            .output()
            .expect("bash")
    };

    // The agent sources `environment` and passes on what it exports.
    let env = hook(
        "environment",
        r#"source "$1" >&2 && printf '%s\n%s\n' "$DOCKER_HOST" "$DOCKER_BUILDKIT""#,
    );
    assert!(env.status.success(), "{}", show(&env));
    let exported = text(&env.stdout);
    let mut lines = exported.lines();
    let host = lines.next().unwrap_or_default().to_string();
    assert_eq!(host, format!("unix://{}/{job}.sock", run.display()));
    assert_eq!(lines.next(), Some("0"), "DOCKER_BUILDKIT");
    assert!(text(&env.stderr).contains("will work"), "{}", show(&env));
    let pidfile = state.join(format!("{job}.pid"));
    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_running(pid));

    // The job builds through DOCKER_HOST; the image is the job's.
    let tag = format!("buildgate-test/buildkite-job:{}", unique("bk"));
    cleanup.image(&tag);
    build_spoofing_owner(&cli, &host, &tag);
    assert_owned(&daemon, &job, &tag);
    let labels = daemon.image_labels(&tag);
    assert!(!labels.contains_key("hijacked"), "{labels:?}");

    // pre-exit stops the gateway; its socket, pid file and log are gone.
    let exit = hook("pre-exit", r#"bash "$1""#);
    assert!(exit.status.success(), "{}", show(&exit));
    assert!(
        text(&exit.stdout).contains("/build status=200"),
        "pre-exit should print the gateway's log: {}",
        show(&exit)
    );
    assert!(
        wait_for(Duration::from_secs(5), || (!process_running(pid))
            .then_some(()))
        .is_some(),
        "buildgate (pid {pid}) still runs after pre-exit"
    );
    let sock = run.join(format!("{job}.sock"));
    assert!(!sock.exists(), "socket left behind");
    assert!(!pidfile.exists(), "pid file left behind");
    assert!(
        !state.join(format!("{job}.log")).exists(),
        "log left behind"
    );

    // pre-exit for a job whose gateway never started is harmless.
    let again = hook("pre-exit", r#"bash "$1""#);
    assert!(again.status.success(), "{}", show(&again));
}

// ------------------------------------------------------------------------ systemd

/// `Key=value` of the unit file, with the test's paths in place of the real ones.
/// `systemd-analyze verify` on `unit`, written to `dir/file_name` with this binary in
/// place of `/usr/local/bin/buildgate`; a note when this machine has no systemd-analyze.
fn systemd_verify(dir: &Path, file_name: &str, unit: &str) {
    if !Path::new("/usr/bin/systemd-analyze").exists() {
        eprintln!("NOTE: no systemd-analyze here; the unit file was not verified");
        return;
    }
    let path = dir.join(file_name);
    fs::write(&path, unit.replace("/usr/local/bin/buildgate", BIN)).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "systemd-analyze verify: {}", show(&o));
    assert!(text(&o.stderr).trim().is_empty(), "{}", show(&o));
}

fn unit_line(unit: &str, key: &str, instance: &str, run: &Path, daemon: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the unit"));
    line.replace("%i", instance)
        .replace("/usr/local/bin/buildgate", BIN)
        .replace(
            "unix:///run/buildgate/",
            &format!("unix://{}/", run.display()),
        )
        .replace("unix:///var/run/docker.sock", daemon)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn systemd_unit_verifies_and_its_execstart_serves() {
    let daemon_host = daemon_or_skip!();
    let daemon = Daemon::new(&daemon_host);
    let cli = cli();
    let mut cleanup = Cleanup::new(&daemon_host);
    let unit = fs::read_to_string(repo().join("examples/systemd/buildgate@.service")).unwrap();
    let instance = unique("unit");
    cleanup.label_filter(&format!("owner={instance}"));
    let dir = tempfile::tempdir().unwrap();

    // systemd-analyze verify, on an instance of the template naming this binary.
    systemd_verify(dir.path(), &format!("buildgate@{instance}.service"), &unit);

    // ExecStartPre: the check.
    let run = dir.path().join("run");
    let pre = unit_line(&unit, "ExecStartPre", &instance, &run, &daemon_host);
    let o = Command::new(&pre[0]).args(&pre[1..]).output().unwrap();
    assert!(o.status.success(), "{pre:?}: {}", show(&o));

    // Type=notify: systemd's notification socket, which the unit's process must tell
    // READY=1 only once its socket answers, and STOPPING=1 when it shuts down.
    assert!(
        unit.lines().any(|l| l.trim() == "Type=notify"),
        "the unit is not Type=notify"
    );
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let next_state = || {
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("a notification within 30 s");
        text(&buf[..n])
    };

    // ExecStart, as written (paths mapped), serves with owner = the instance name.
    let start = unit_line(&unit, "ExecStart", &instance, &run, &daemon_host);
    let log = fs::File::create(dir.path().join("log")).unwrap();
    let mut child = Command::new(&start[0])
        .args(&start[1..])
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let sock = run.join(&instance).join("docker.sock");
    let served = std::panic::catch_unwind(|| {
        let ready = next_state();
        assert!(
            ready.lines().any(|l| l == "READY=1"),
            "first notification: {ready:?}"
        );
        // Readiness means served: one /_ping right away, no waiting.
        let ping = http::get(&sock, "/_ping").expect("/_ping right after READY=1");
        assert_eq!(ping.status, 200, "/_ping right after READY=1");
        let tag = format!("buildgate-test/systemd:{}", unique("unit"));
        build_spoofing_owner(&cli, &format!("unix://{}", sock.display()), &tag);
        let owner = daemon.image_labels(&tag).get("owner").cloned();
        daemon.remove_image(&tag);
        owner
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM the ExecStart");
    let stopping = served.is_ok().then(next_state);
    let status = child.wait().unwrap();
    let logged = fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    let owner = served.unwrap_or_else(|_| panic!("ExecStart {start:?} log:\n{logged}"));
    let stopping = stopping.unwrap_or_default();
    assert!(
        stopping.lines().any(|l| l == "STOPPING=1"),
        "notification after SIGTERM: {stopping:?}\n{logged}"
    );
    assert_eq!(owner.as_deref(), Some(instance.as_str()), "{logged}");
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{logged}");
    assert!(!sock.exists(), "socket left behind");
    // --log-format json, as on the ExecStart line.
    assert!(
        logged.lines().all(|l| l.starts_with('{')),
        "not JSON log lines:\n{logged}"
    );
}

/// The GitLab example's unit: it verifies, and its ExecStart (paths mapped) serves a job
/// container, labelled as GitLab labels it, with the job's owner, refuses a host
/// process, and logs each request with its owner, in JSON.
#[test]
fn systemd_gitlab_unit_serves_each_job_as_itself() {
    let daemon_host = daemon_or_skip!();
    let daemon = Daemon::new(&daemon_host);
    let cli = cli();
    let mut cleanup = Cleanup::new(&daemon_host);
    let unit = fs::read_to_string(repo().join(GITLAB_UNIT)).unwrap();
    let dir = tempfile::tempdir().unwrap();

    systemd_verify(dir.path(), "buildgate-gitlab.service", &unit);

    let run = dir.path().join("run");
    let pre = unit_line(&unit, "ExecStartPre", "", &run, &daemon_host);
    let o = Command::new(&pre[0]).args(&pre[1..]).output().unwrap();
    assert!(o.status.success(), "{pre:?}: {}", show(&o));

    let start = unit_line(&unit, "ExecStart", "", &run, &daemon_host);
    let log_path = dir.path().join("log");
    let log = fs::File::create(&log_path).unwrap();
    let mut child = Command::new(&start[0])
        .args(&start[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let sock_dir = run.join("gitlab");
    let sock = sock_dir.join("docker.sock");
    let job = unique("gitlab-job");
    cleanup.label_filter(&format!("owner={job}"));
    let tag = format!("buildgate-test/gitlab-unit:{}", unique("t"));
    cleanup.image(&tag);
    let served = std::panic::catch_unwind(|| {
        let refused = wait_for(Duration::from_secs(30), || {
            http::get(&sock, "/_ping").ok().filter(|r| r.status == 403)
        })
        .expect("the unit's ExecStart does not answer");
        assert!(
            refused.text().contains("runs in no container"),
            "{}",
            refused.text()
        );
        let script = format!(
            "printf 'FROM {IMAGE}\\nLABEL owner=spoofed\\nRUN true\\n' | /usr/local/bin/docker build -q -t {tag} - && echo built"
        );
        let out = Docker::new(&cli, &daemon_host)
            .args(["run", "--rm", "--network", "none", "--user", "1000:1000"])
            .args(["--tmpfs", "/tmp", "-e", "HOME=/tmp"])
            .args(["--label", cleanup.label.as_str()])
            .args(["--label", &format!("com.gitlab.gitlab-runner.job.id={job}")])
            .args([
                "-v",
                &format!("{}:/usr/local/bin/docker:ro", cli.path.display()),
            ])
            .args(["-v", &format!("{}:/var/run/buildgate", sock_dir.display())])
            .args(["-e", "DOCKER_HOST=unix:///var/run/buildgate/docker.sock"])
            .args(["-e", "DOCKER_BUILDKIT=0"])
            .args([IMAGE, "sh", "-c", script.as_str()])
            .timeout(Duration::from_secs(120))
            .run()
            .ok();
        assert!(out.stdout.contains("built"), "{out}");
        daemon.image_labels(&tag).get("owner").cloned()
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM the ExecStart");
    let status = child.wait().unwrap();
    let logged = fs::read_to_string(&log_path).unwrap_or_default();
    let owner = served.unwrap_or_else(|_| panic!("ExecStart {start:?} log:\n{logged}"));
    assert_eq!(owner.as_deref(), Some(job.as_str()), "{logged}");
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{logged}");
    assert!(!sock.exists(), "socket left behind");
    assert!(
        logged.lines().all(|l| l.starts_with('{')),
        "not JSON log lines:\n{logged}"
    );
    assert!(
        logged.contains(&format!(r#""owner":"{job}""#)) && logged.contains(r#""owner":"-""#),
        "the access log names each request's owner:\n{logged}"
    );
}
