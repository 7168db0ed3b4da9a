//! End-to-end proof of `--confine`, part two: every class of request the gateway
//! refuses or rewrites (the list in `src/policy/containers.rs`, `objects.rs`,
//! `images.rs`, `endpoints.rs`), against the real test dockerd 20.10. Part one (a job
//! works; two owners cannot reach each other) is `tests/e2e_confine.rs`.
//!
//! # How each case is proven
//!
//! Each attack is first sent **straight to the daemon**, and the test shows that it
//! works there: a host bind really shows a file the test wrote outside
//! `--allow-bind`, a host namespace really is the test process's own (the
//! `/proc/self/ns/*` links match), a capability really is in `CapEff`, a commit really
//! carries another owner's label, a tag really moved. Then the **same request goes
//! through a confined gateway**, which must answer with a Docker-style JSON error
//! (403 or 400, a `message` starting `buildgate: ` that names the reason), and nothing
//! may have been made under the request's name. Where the gateway rewrites instead of
//! refusing (an endpoint's `NetworkID`, a forged owner label in a commit body or in
//! `changes`), the outcome on the daemon is checked: the victim's network not joined,
//! the image owned by the job.
//!
//! Requests that would change the shared daemon for everyone (`swarm init`, plugin
//! installs, image loads, moving the shared base image's name) are only sent through
//! the gateway; their direct counterpart is a read of the same router (`GET /swarm`
//! answers, so the swarm routes are served) or the same move on a test-made name.
//!
//! # Cases
//!
//! - `privileged_in_every_spelling`: `Privileged` as written, in case variants
//!   (`privileged`, `HOSTCONFIG`/`PRIVILEGED`, `\u0050rivileged`), duplicated
//!   (`false` then `true`), in a second `hostconfig` object after an empty
//!   `HostConfig`, at the top level with no `HostConfig`; `"HostConfig":null` with a
//!   top-level `PidMode: host`. On this machine the daemon's bounding set lacks
//!   `CAP_SYS_RESOURCE`, so a privileged container is created privileged but cannot
//!   start ("unable to apply caps"): the direct proof is the daemon's own inspect, and
//!   the start failing because it tried to grant every capability.
//! - `host_paths_*`: `Binds` and top-level `Binds`, `Mounts` type bind, `Mounts` type
//!   volume with the local driver's `type=none,o=bind,device=<host dir>` (anonymous and
//!   named), `POST /volumes/create` with those `DriverOpts`; `allow_bind_*`: the
//!   allowed path works through the gateway, its string-prefix sibling, a `..` escape
//!   (in `Binds` and `Mounts`) and a symbolic link out of it do not.
//! - `host_namespaces`: `NetworkMode`, `PidMode`, `IpcMode`, `UTSMode`, `CgroupnsMode`
//!   `host` (and `UsernsMode host`, which the daemon records; without userns-remap it
//!   changes nothing visible); the gateway also gives a plain container a private
//!   cgroup namespace, which this cgroup v1 daemon would not.
//! - `other_owners_containers_in_bodies`: `container:<another owner's>` for
//!   `NetworkMode`, `PidMode`, `IpcMode`; `VolumesFrom` (reads its volume) and `Links`
//!   (reads its environment).
//! - `capabilities_devices_security_masks_runtime`: `CapAdd` `SYS_ADMIN` and the
//!   long-s `ſys_admin` (moby upper-cases with Unicode rules), `Devices`, `SecurityOpt`
//!   `seccomp=unconfined`, `label=disable`, `label:disable`, `MaskedPaths: []`, the
//!   non-default runtime `io.containerd.runc.v2`.
//! - `privileged_exec`; `start_with_a_host_config_and_old_api_versions` (a
//!   `/v1.23/.../start` body really replaces the host configuration on 20.10; every
//!   start body and every version below 1.24 is refused); `a_form_body_*` (a form body
//!   on a prune really overrides the query's filter and prunes another owner's
//!   containers); `network_id_*` (an endpoint's `NetworkID` really redirects a connect
//!   and a create to another owner's network; through the gateway the job's own
//!   network is joined).
//! - `commit_and_import_*`: `changes` `ONBUILD \` + `LABEL owner=<job>` with a body
//!   label `owner=<victim>` really yields a victim-owned image; through the gateway
//!   ONBUILD is refused, and a body label, `LABEL` changes (also through `ENV`) and
//!   import changes all end owned by the job.
//! - `names_*`: tag, commit `repo`, import `repo`, build `t=` and pull may not take
//!   a name of another owner's image or of nobody's image (a test-made one, and the
//!   shared `buildgate-test/busybox:latest`, which is never moved directly); a pull's
//!   move is shown with a private registry.
//! - `copy_from_*`: a build straight on the daemon copies a file out of another
//!   owner's image with `COPY --from` (by name and by short ID); through the gateway
//!   that is refused by name, full ID, short ID, with a quoted value and over
//!   continuation lines, while copying from nobody's image and from earlier stages
//!   works and the daemon shows the `COPY` pinned to the image's ID.
//! - `endpoints_outside_the_model`: swarm, plugins, `/debug`, BuildKit sessions, image
//!   loads, build-cache prunes, checkpoints, the old `copy`, unknown routes.
//! - `the_clis_attacks_are_refused`: the same classes as a job would send them,
//!   with both CLIs (`--privileged`, `-v /etc:...`, `--pid host`, `--cap-add`,
//!   `--device`, `--security-opt`, `--runtime`, `--volumes-from`).
//!
//! Every test makes its objects under unique names and owners, straight ones
//! registered with a [`Cleanup`], so the tests run in parallel with each other and
//! with anything else on the daemon.

#[macro_use]
mod common;

use common::confine::{Api, Confined, path_str, prune_via, refused};
use common::registry::Registry;
use common::{Cleanup, Daemon, IMAGE, clis, http, unique, ustar, wait_for};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

// ------------------------------------------------------------------------ helpers

fn name(what: &str) -> String {
    unique(&format!("bgta-{what}"))
}

/// A raw JSON body: `$IMAGE` and each `(key, value)` of `vars` put in.
fn body(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.replace("$IMAGE", IMAGE);
    for (k, v) in vars {
        out = out.replace(k, v);
    }
    out
}

/// The test process's own namespace link (`net:[4026531833]`), which a container in
/// the host's namespace shows too.
fn host_ns(ns: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// One attack: a confined gateway (the job), the daemon straight, what the test makes
/// straight on it (removed at the end), and a directory outside `--allow-bind` whose
/// `marker` the host-path attacks try to read.
struct Env {
    job: Confined,
    daemon: Daemon,
    /// The daemon, straight.
    d: Api,
    direct: RefCell<Cleanup>,
    secret: PathBuf,
}

/// What `secret/marker` holds.
const SECRET: &str = "host-secret\n";

impl Env {
    fn start(daemon_host: &str) -> Env {
        let job = Confined::start(daemon_host, &[]);
        let secret = job.outside_dir(SECRET);
        let daemon = Daemon::new(daemon_host);
        Env {
            d: Api::daemon(&daemon),
            direct: RefCell::new(Cleanup::new(daemon_host)),
            daemon,
            secret,
            job,
        }
    }

    fn secret(&self) -> String {
        path_str(&self.secret)
    }

    /// Straight on the daemon: create a container from `body` (raw text); it must be
    /// accepted. Returns its ID and the daemon's inspect of it.
    #[track_caller]
    fn direct_create(&self, body: &str) -> (String, Value) {
        let n = name("direct");
        self.direct.borrow_mut().container(&n);
        let id = self.d.created(&n, body);
        let info = self.d.inspect("containers", &id).unwrap();
        (id, info)
    }

    /// Straight on the daemon: create and run to the end; (exit code, output).
    #[track_caller]
    fn direct_run(&self, body: &str) -> (i64, String) {
        let n = name("direct");
        self.direct.borrow_mut().container(&n);
        self.d.run(&n, body)
    }

    /// Through the gateway: the same create is refused with `status`, naming each of
    /// `needles`, and nothing exists under the name it asked for.
    #[track_caller]
    fn refused_create(&self, body: &str, status: u16, needles: &[&str]) {
        let n = name("refused");
        let r = self.job.api.create(&n, body);
        refused(&r, status, needles, &format!("create {body}"));
        assert!(
            self.daemon.inspect_container(&n).is_none(),
            "a refused create made {n}: {body}"
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.direct.borrow_mut().run_now();
    }
}

// ------------------------------------------------------------------------ privileged

#[test]
fn privileged_in_every_spelling() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);

    // As written, started: the daemon tries to give every capability (here the
    // bounding set stops it; elsewhere the container runs with all of them).
    let plain = body(
        r#"{"Image":"$IMAGE","Cmd":["grep","CapEff","/proc/self/status"],"HostConfig":{"Privileged":true}}"#,
        &[],
    );
    let (id, info) = env.direct_create(&plain);
    assert_eq!(info["HostConfig"]["Privileged"], true);
    let r = env.d.start(&id);
    if r.status == 204 {
        env.d.wait(&id);
        let out = env.d.logs(&id);
        let caps =
            u64::from_str_radix(out.trim().trim_start_matches("CapEff:").trim(), 16).unwrap();
        assert!(caps.count_ones() > 30, "privileged, yet CapEff is {out}");
    } else {
        assert!(
            r.status == 500 && r.text().contains("apply caps"),
            "the daemon should have tried to grant every capability: {} {}",
            r.status,
            r.text()
        );
    }
    env.refused_create(&plain, 403, &["Privileged"]);

    for template in [
        r#"{"Image":"$IMAGE","HostConfig":{"privileged":true}}"#,
        r#"{"Image":"$IMAGE","HOSTCONFIG":{"PRIVILEGED":true}}"#,
        r#"{"Image":"$IMAGE","HostConfig":{"\u0050rivileged":true}}"#,
        r#"{"Image":"$IMAGE","HostConfig":{"Privileged":false,"Privileged":true}}"#,
        r#"{"Image":"$IMAGE","HostConfig":{},"hostconfig":{"Privileged":true}}"#,
        r#"{"Image":"$IMAGE","Privileged":true}"#,
        r#"{"Image":"$IMAGE","HostConfig":null,"Privileged":true}"#,
    ] {
        let b = body(template, &[]);
        let (_, info) = env.direct_create(&b);
        assert_eq!(
            info["HostConfig"]["Privileged"], true,
            "the daemon should read {b} as privileged"
        );
        env.refused_create(&b, 403, &["Privileged"]);
    }

    // No HostConfig object, and the top-level fields the daemon reads instead.
    let b = body(
        r#"{"Image":"$IMAGE","Cmd":["readlink","/proc/self/ns/pid"],"HostConfig":null,"PidMode":"host"}"#,
        &[],
    );
    let (code, out) = env.direct_run(&b);
    assert_eq!((code, out.trim()), (0, host_ns("pid").as_str()), "{b}");
    env.refused_create(&b, 403, &["PidMode", "host"]);
}

// ------------------------------------------------------------------------ host paths

#[test]
fn host_paths_by_binds_mounts_and_volume_drivers() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    let secret = env.secret();
    let vars = [("$SECRET", secret.as_str())];
    let cat = r#""Cmd":["cat","/h/marker"]"#;

    for (template, needles) in [
        (
            r#"{"Image":"$IMAGE",CAT,"HostConfig":{"Binds":["$SECRET:/h:ro"]}}"#,
            &["bind mount", "--allow-bind"][..],
        ),
        (
            r#"{"Image":"$IMAGE",CAT,"Binds":["$SECRET:/h"]}"#,
            &["bind mount"],
        ),
        (
            r#"{"Image":"$IMAGE",CAT,"HostConfig":{"Mounts":[{"Type":"bind","Source":"$SECRET","Target":"/h"}]}}"#,
            &["bind mount"],
        ),
        (
            r#"{"Image":"$IMAGE",CAT,"HostConfig":{"Mounts":[{"Type":"volume","Target":"/h",
               "VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"$SECRET"}}}}]}}"#,
            &["DriverConfig"],
        ),
    ] {
        let b = body(&template.replace("CAT", cat), &vars);
        let (code, out) = env.direct_run(&b);
        assert_eq!((code, out.as_str()), (0, SECRET), "straight: {b}");
        env.refused_create(&b, 403, needles);
    }

    // A named volume made by the mount, and one made by POST /volumes/create: both
    // with the local driver's bind options.
    let volume = name("bindvol");
    env.direct.borrow_mut().volume(&volume);
    let b = body(
        r#"{"Image":"$IMAGE","Cmd":["cat","/h/marker"],"HostConfig":{"Mounts":[{"Type":"volume","Source":"$VOL","Target":"/h",
           "VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"$SECRET"}}}}]}}"#,
        &[("$VOL", &volume), ("$SECRET", &secret)],
    );
    let (code, out) = env.direct_run(&b);
    assert_eq!((code, out.as_str()), (0, SECRET), "straight: {b}");
    let b = b.replace(&volume, &name("bindvol"));
    env.refused_create(&b, 403, &["DriverConfig"]);

    let created = name("optvol");
    env.direct.borrow_mut().volume(&created);
    let create =
        json!({"Name": created, "DriverOpts": {"type": "none", "o": "bind", "device": secret}})
            .to_string();
    let r = env.d.post_json("/volumes/create", &create);
    assert_eq!(r.status, 201, "{}", r.text());
    let (code, out) = env.direct_run(&body(
        r#"{"Image":"$IMAGE","Cmd":["cat","/h/marker"],"HostConfig":{"Binds":["$VOL:/h"]}}"#,
        &[("$VOL", &created)],
    ));
    assert_eq!((code, out.as_str()), (0, SECRET));
    let mine = name("optvol");
    let r = env.job.api.post_json(
        "/volumes/create",
        &json!({"Name": mine, "DriverOpts": {"type": "none", "o": "bind", "device": secret}})
            .to_string(),
    );
    refused(
        &r,
        403,
        &["driver options"],
        "volume create with DriverOpts",
    );
    let r = env.job.api.post_json(
        "/volumes/create",
        &json!({"Name": mine, "Driver": "local", "driveropts": {"device": secret}}).to_string(),
    );
    refused(
        &r,
        403,
        &["driver options"],
        "volume create with driveropts",
    );
    assert!(env.daemon.inspect_volume(&mine).is_none());
}

#[test]
fn allow_bind_allows_its_path_and_nothing_beside_or_above_it() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    let allowed = path_str(&env.job.allowed);
    fs::write(env.job.allowed.join("marker"), "allowed\n").unwrap();
    // A sibling whose path starts with the allowed one's string.
    let sibling = format!("{allowed}-sibling");
    fs::create_dir(&sibling).unwrap();
    fs::write(format!("{sibling}/marker"), SECRET).unwrap();
    // `..` out of the allowed path, and a symbolic link out of it.
    let secret_name = env
        .secret
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let dotdot = format!("{allowed}/../{secret_name}");
    std::os::unix::fs::symlink(&env.secret, env.job.allowed.join("link")).unwrap();
    let link = format!("{allowed}/link");

    // The allowed path itself works through the gateway, by Binds and by Mounts.
    for template in [
        r#"{"Image":"$IMAGE","Cmd":["cat","/h/marker"],"HostConfig":{"Binds":["$SRC:/h:ro"]}}"#,
        r#"{"Image":"$IMAGE","Cmd":["cat","/h/marker"],"HostConfig":{"Mounts":[{"Type":"bind","Source":"$SRC","Target":"/h","ReadOnly":true}]}}"#,
    ] {
        let (code, out) = env
            .job
            .api
            .run(&name("allowed"), &body(template, &[("$SRC", &allowed)]));
        assert_eq!((code, out.as_str()), (0, "allowed\n"), "{template}");
        for (src, needles) in [
            (&sibling, &["--allow-bind"][..]),
            (&dotdot, &["\"..\""]),
            (&link, &["symbolic link"]),
        ] {
            let b = body(template, &[("$SRC", src)]);
            let (code, out) = env.direct_run(&b);
            assert_eq!((code, out.as_str()), (0, SECRET), "straight: {b}");
            env.refused_create(&b, 403, needles);
        }
    }
}

// ------------------------------------------------------------------------ namespaces

#[test]
fn host_namespaces() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    for (field, ns, needle) in [
        ("NetworkMode", "net", "host network"),
        ("PidMode", "pid", "PidMode"),
        ("IpcMode", "ipc", "IpcMode"),
        ("UTSMode", "uts", "UTSMode"),
        ("CgroupnsMode", "cgroup", "CgroupnsMode"),
    ] {
        let b = body(
            r#"{"Image":"$IMAGE","Cmd":["readlink","/proc/self/ns/NS"],"HostConfig":{"FIELD":"host"}}"#,
            &[("NS", ns), ("FIELD", field)],
        );
        let (code, out) = env.direct_run(&b);
        assert_eq!(
            (code, out.trim()),
            (0, host_ns(ns).as_str()),
            "straight: {b}"
        );
        env.refused_create(&b, 403, &[needle]);
    }
    // The user namespace: the daemon records host (without userns-remap there is
    // nothing else to see), the gateway refuses it.
    let b = body(
        r#"{"Image":"$IMAGE","HostConfig":{"UsernsMode":"host"}}"#,
        &[],
    );
    let (_, info) = env.direct_create(&b);
    assert_eq!(info["HostConfig"]["UsernsMode"], "host");
    env.refused_create(&b, 403, &["UsernsMode"]);

    // On this cgroup v1 daemon a plain container shares the host's cgroup namespace;
    // through the gateway it gets one of its own.
    let plain = body(
        r#"{"Image":"$IMAGE","Cmd":["readlink","/proc/self/ns/cgroup"]}"#,
        &[],
    );
    let (_, straight) = env.direct_run(&plain);
    let (_, confined) = env.job.api.run(&name("cgroupns"), &plain);
    assert_eq!(straight.trim(), host_ns("cgroup"), "straight");
    assert_ne!(confined.trim(), host_ns("cgroup"), "through the gateway");
}

/// A victim job's running container (its ID), on its own volume holding
/// `victim-data`, with `SECRET=victim-env` in its environment and a shareable IPC
/// namespace; and its network (its ID).
fn victim_container(victim: &Confined) -> (String, String) {
    let r = victim.api.post_json(
        "/networks/create",
        &json!({"Name": name("victim-net")}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let network = r.json()["Id"].as_str().unwrap().to_string();
    let id = victim.api.created(
        &name("victim"),
        &json!({
            "Image": IMAGE,
            "Env": ["SECRET=victim-env"],
            "Cmd": ["sh", "-c", "echo victim-data > /data/f; echo started; exec sleep 600"],
            "HostConfig": {"Binds": [format!("{}:/data", name("victim-vol"))], "IpcMode": "shareable"},
        })
        .to_string(),
    );
    victim.api.started(&id);
    let up = wait_for(Duration::from_secs(10), || {
        victim.api.logs(&id).contains("started").then_some(())
    });
    assert!(up.is_some(), "the victim container never started");
    (id, network)
}

#[test]
fn other_owners_containers_in_bodies() {
    let daemon = daemon_or_skip!();
    // Dropped after `env`, whose straight containers may still use its objects.
    let victim = Confined::start(&daemon, &[]);
    let env = Env::start(&daemon);
    let (vc, _) = victim_container(&victim);
    for (field, ns) in [
        ("NetworkMode", "net"),
        ("PidMode", "pid"),
        ("IpcMode", "ipc"),
    ] {
        let theirs = victim
            .api
            .exec(&vc, &["readlink", &format!("/proc/self/ns/{ns}")]);
        let b = body(
            r#"{"Image":"$IMAGE","Cmd":["readlink","/proc/self/ns/NS"],"HostConfig":{"FIELD":"container:VC"}}"#,
            &[("NS", ns), ("FIELD", field), ("VC", &vc)],
        );
        let (code, out) = env.direct_run(&b);
        assert_eq!((code, out.trim()), (0, theirs.trim()), "straight: {b}");
        env.refused_create(&b, 403, &["another owner"]);
    }
    for (template, expected) in [
        (
            r#"{"Image":"$IMAGE","Cmd":["cat","/data/f"],"HostConfig":{"VolumesFrom":["VC:ro"]}}"#,
            "victim-data",
        ),
        (
            r#"{"Image":"$IMAGE","Cmd":["sh","-c","echo $VIC_ENV_SECRET"],"HostConfig":{"Links":["VC:vic"]}}"#,
            "victim-env",
        ),
    ] {
        let b = body(template, &[("VC", &vc)]);
        let (code, out) = env.direct_run(&b);
        assert_eq!((code, out.trim()), (0, expected), "straight: {b}");
        env.refused_create(&b, 403, &["another owner"]);
    }
}

// ------------------------------------------------------------------------ privileges

#[test]
fn capabilities_devices_security_masks_runtime() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    let cap_eff = |out: &str| {
        u64::from_str_radix(out.trim().trim_start_matches("CapEff:").trim(), 16)
            .unwrap_or_else(|_| panic!("no CapEff in {out:?}"))
    };
    let grep_caps = r#""Cmd":["grep","CapEff","/proc/self/status"]"#;
    let (_, plain) = env.direct_run(&body(&format!(r#"{{"Image":"$IMAGE",{grep_caps}}}"#), &[]));
    assert_eq!(cap_eff(&plain) & CAP_SYS_ADMIN, 0, "{plain}");
    for cap in ["SYS_ADMIN", "ſys_admin"] {
        let b = body(
            &format!(r#"{{"Image":"$IMAGE",{grep_caps},"HostConfig":{{"CapAdd":["CAP"]}}}}"#),
            &[("CAP", cap)],
        );
        let (code, out) = env.direct_run(&b);
        assert_eq!(code, 0, "{out}");
        assert_ne!(cap_eff(&out) & CAP_SYS_ADMIN, 0, "straight, {cap}: {out}");
        env.refused_create(&b, 403, &["CapAdd"]);
    }

    let b = body(
        r#"{"Image":"$IMAGE","Cmd":["sh","-c","test -c /dev/hostnull && echo device"],
           "HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/hostnull","CgroupPermissions":"rwm"}]}}"#,
        &[],
    );
    let (code, out) = env.direct_run(&b);
    assert_eq!((code, out.as_str()), (0, "device\n"), "straight: {b}");
    env.refused_create(&b, 403, &["Devices"]);

    let seccomp = r#""Cmd":["grep","Seccomp:","/proc/self/status"]"#;
    let (_, plain) = env.direct_run(&body(&format!(r#"{{"Image":"$IMAGE",{seccomp}}}"#), &[]));
    assert!(plain.contains("Seccomp:\t2"), "{plain}");
    let b = body(
        &format!(
            r#"{{"Image":"$IMAGE",{seccomp},"HostConfig":{{"SecurityOpt":["seccomp=unconfined"]}}}}"#
        ),
        &[],
    );
    let (_, out) = env.direct_run(&b);
    assert!(out.contains("Seccomp:\t0"), "straight: {out}");
    env.refused_create(&b, 403, &["SecurityOpt"]);
    // SELinux labelling off: the daemon takes it (there is no SELinux here to show
    // more); the gateway does not.
    for option in ["label=disable", "label:disable"] {
        let b = body(
            r#"{"Image":"$IMAGE","HostConfig":{"SecurityOpt":["OPT"]}}"#,
            &[("OPT", option)],
        );
        let (_, info) = env.direct_create(&b);
        assert_eq!(info["HostConfig"]["SecurityOpt"], json!([option]));
        env.refused_create(&b, 403, &["SecurityOpt"]);
    }

    // MaskedPaths [] leaves /proc and /sys unmasked (the default masks are mounts).
    let masks = r#""Cmd":["sh","-c","grep -c -E ' /proc/(keys|timer_list|sched_debug|acpi|scsi)| /sys/firmware' /proc/self/mountinfo"]"#;
    let (_, plain) = env.direct_run(&body(&format!(r#"{{"Image":"$IMAGE",{masks}}}"#), &[]));
    assert_ne!(plain.trim(), "0", "the default masks: {plain}");
    let b = body(
        &format!(r#"{{"Image":"$IMAGE",{masks},"HostConfig":{{"MaskedPaths":[]}}}}"#),
        &[],
    );
    let (_, out) = env.direct_run(&b);
    assert_eq!(out.trim(), "0", "straight: {b}");
    env.refused_create(&b, 403, &["MaskedPaths"]);

    let b = body(
        r#"{"Image":"$IMAGE","Cmd":["echo","ran"],"HostConfig":{"Runtime":"io.containerd.runc.v2"}}"#,
        &[],
    );
    let (code, out) = env.direct_run(&b);
    assert_eq!((code, out.as_str()), (0, "ran\n"), "straight: {b}");
    env.refused_create(&b, 403, &["Runtime"]);
}

#[test]
fn privileged_exec() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    let sleeper = body(r#"{"Image":"$IMAGE","Cmd":["sleep","600"]}"#, &[]);
    let (id, _) = env.direct_create(&sleeper);
    env.d.started(&id);
    let exec = r#"{"Privileged":true,"AttachStdout":true,"AttachStderr":true,"Cmd":["grep","CapEff","/proc/self/status"]}"#;
    let r = env.d.post_json(&format!("/containers/{id}/exec"), exec);
    assert_eq!(r.status, 201, "{}", r.text());
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let info = env.d.inspect("exec", &exec_id).unwrap();
    assert_eq!(info["ProcessConfig"]["privileged"], true);
    let r = env
        .d
        .post_json(&format!("/exec/{exec_id}/start"), r#"{"Detach":false}"#);
    let out = common::confine::demux(&r.body);
    // Every capability, or the runtime failing to grant every one (this machine).
    let all_caps = out
        .trim()
        .strip_prefix("CapEff:")
        .and_then(|caps| u64::from_str_radix(caps.trim(), 16).ok())
        .is_some_and(|caps| caps.count_ones() > 30);
    assert!(out.contains("apply caps") || all_caps, "straight: {out}");

    let mine = env.job.api.created(&name("mine"), &sleeper);
    env.job.api.started(&mine);
    for exec in [
        exec.to_string(),
        r#"{"privileged":true,"Cmd":["true"]}"#.to_string(),
        r#"{"Cmd":["true"],"Privileged":false,"Privileged":true}"#.to_string(),
    ] {
        let r = env
            .job
            .api
            .post_json(&format!("/containers/{mine}/exec"), &exec);
        refused(&r, 403, &["privileged exec"], &exec);
    }
    let execs = env.d.inspect("containers", &mine).unwrap()["ExecIDs"].clone();
    assert!(execs.is_null() || execs == json!([]), "{execs}");
}

#[test]
fn start_with_a_host_config_and_old_api_versions() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    let secret = env.secret();
    let cat = body(r#"{"Image":"$IMAGE","Cmd":["cat","/h/marker"]}"#, &[]);
    let host_config = json!({"Binds": [format!("{secret}:/h:ro")]}).to_string();

    // 20.10 reads a start body below API 1.24 and replaces the host configuration.
    let (id, _) = env.direct_create(&cat);
    let r = env
        .d
        .post_json(&format!("/v1.23/containers/{id}/start"), &host_config);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(env.d.wait(&id), 0);
    assert_eq!(env.d.logs(&id), SECRET);

    let mine = env.job.api.created(&name("mine"), &cat);
    for (path, status, needle) in [
        (
            format!("/v1.23/containers/{mine}/start"),
            400,
            "older than 1.24",
        ),
        (
            format!("/v1.12/containers/{mine}/start"),
            400,
            "older than 1.24",
        ),
        (
            format!("/v1.41/containers/{mine}/start"),
            400,
            "no request body",
        ),
        (format!("/containers/{mine}/start"), 400, "no request body"),
    ] {
        for b in [
            host_config.clone(),
            json!({"HostConfig": {"Binds": [format!("{secret}:/h:ro")]}}).to_string(),
        ] {
            let r = env.job.api.post_json(&path, &b);
            refused(&r, status, &[needle], &format!("{path} {b}"));
        }
    }
    let info = env.d.inspect("containers", &mine).unwrap();
    assert_eq!(info["State"]["Status"], "created");
    assert!(
        info["HostConfig"]["Binds"].is_null(),
        "{}",
        info["HostConfig"]["Binds"]
    );

    // Any request naming a version below 1.24 is refused, whatever it is.
    for path in [
        "/v1.23/containers/json",
        "/v1.12/version",
        "/v1.23/images/json",
    ] {
        let straight = env.d.get(path);
        assert!(straight.status == 200, "{path}: {}", straight.status);
        refused(&env.job.api.get(path), 400, &["older than 1.24"], path);
    }
}

// ------------------------------------------------------------------------ filters, networks

#[test]
fn a_form_body_cannot_override_a_prune_filter() {
    let daemon = daemon_or_skip!();
    // Dropped after `env`, whose straight containers may still use its objects.
    let victim = Confined::start(&daemon, &[]);
    let env = Env::start(&daemon);
    let stopped = |job: &Confined| {
        job.api
            .created(&name("stopped"), &body(r#"{"Image":"$IMAGE"}"#, &[]))
    };
    let form = |owner: &str| {
        format!(
            "filters={}",
            http::escape_query(&json!({"label": [format!("owner={owner}")]}).to_string())
        )
    };
    let query = format!(
        "filters={}",
        http::escape_query(&json!({"label": [format!("owner={}", name("nobody"))]}).to_string())
    );

    // Straight: the body's filter wins over the query's, and the victim's container
    // is pruned.
    let first = stopped(&victim);
    let r = wait_for(common::confine::PRUNE_WAIT, || {
        let r = env.d.call(
            "POST",
            &format!("/containers/prune?{query}"),
            Some("application/x-www-form-urlencoded"),
            form(victim.owner()).as_bytes(),
        );
        (r.status != 409).then_some(r)
    })
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&first), "straight: {}", r.text());
    assert!(env.daemon.inspect_container(&first).is_none());

    // Through the gateway: no body on a prune, of any kind.
    let second = stopped(&victim);
    for kind in ["containers", "images", "volumes", "networks"] {
        let r = env.job.api.call(
            "POST",
            &format!("/{kind}/prune?{query}"),
            Some("application/x-www-form-urlencoded"),
            form(victim.owner()).as_bytes(),
        );
        refused(
            &r,
            400,
            &["no request body"],
            &format!("{kind} prune with a form body"),
        );
    }
    assert!(env.daemon.inspect_container(&second).is_some());
    // A plain prune through the gateway takes the job's own only.
    let own = stopped(&env.job);
    let r = prune_via(&env.job.api, "/containers/prune");
    assert!(
        r.text().contains(&own) && !r.text().contains(&second),
        "{}",
        r.text()
    );
    assert!(env.daemon.inspect_container(&second).is_some());
}

#[test]
fn network_id_cannot_redirect_a_connect_or_a_create() {
    let daemon = daemon_or_skip!();
    // Dropped after `env`, whose straight containers may still use its objects.
    let victim = Confined::start(&daemon, &[]);
    let env = Env::start(&daemon);
    let (_, victim_net) = victim_container(&victim);
    let victim_net_name = env.d.inspect("networks", &victim_net).unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let own_net = name("own-net");
    let r = env
        .job
        .api
        .post_json("/networks/create", &json!({"Name": own_net}).to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    let networks = |api: &Api, id: &str| -> Vec<String> {
        let info = api.inspect("containers", id).unwrap();
        info["NetworkSettings"]["Networks"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let connect = |container: &str| {
        json!({"Container": container, "EndpointConfig": {"NetworkID": victim_net}}).to_string()
    };
    let sleeper = body(r#"{"Image":"$IMAGE","Cmd":["sleep","600"]}"#, &[]);

    // Connect (of a running container): straight, it ends up on the victim's network.
    let (id, _) = env.direct_create(&sleeper);
    env.d.started(&id);
    let r = env
        .d
        .post_json(&format!("/networks/{own_net}/connect"), &connect(&id));
    assert_eq!(r.status, 200, "{}", r.text());
    let straight = networks(&env.d, &id);
    assert!(
        straight.contains(&victim_net_name),
        "straight: {straight:?}"
    );
    // Through the gateway, on the job's own network.
    let mine = env.job.api.created(&name("mine"), &sleeper);
    env.job.api.started(&mine);
    let r = env
        .job
        .api
        .post_json(&format!("/networks/{own_net}/connect"), &connect(&mine));
    assert_eq!(r.status, 200, "{}", r.text());
    let confined = networks(&env.d, &mine);
    assert!(
        confined.contains(&own_net) && !confined.contains(&victim_net_name),
        "through the gateway: {confined:?}"
    );

    // Create: an endpoint keyed by the job's network, pointing at the victim's.
    let create = body(
        r#"{"Image":"$IMAGE","Cmd":["sleep","600"],"HostConfig":{"NetworkMode":"NET"},
           "NetworkingConfig":{"EndpointsConfig":{"NET":{"NetworkID":"VICTIM"}}}}"#,
        &[("NET", &own_net), ("VICTIM", &victim_net)],
    );
    let (id, _) = env.direct_create(&create);
    env.d.started(&id);
    let straight = networks(&env.d, &id);
    assert!(
        straight.contains(&victim_net_name),
        "straight: {straight:?}"
    );
    let mine = env.job.api.created(&name("mine"), &create);
    env.job.api.started(&mine);
    let confined = networks(&env.d, &mine);
    assert_eq!(
        confined,
        std::slice::from_ref(&own_net),
        "through the gateway"
    );
    let info = env.d.inspect("networks", &victim_net).unwrap();
    assert!(
        !info["Containers"].as_object().unwrap().contains_key(&mine),
        "the job's container is on the victim's network: {}",
        info["Containers"]
    );
}

// ------------------------------------------------------------------------ commit, import

/// A root filesystem of one file, for imports.
fn rootfs() -> Vec<u8> {
    let mut t = ustar::file("hello", b"hello\n");
    t.extend_from_slice(&ustar::END);
    t
}

/// The image ID an import answers with (its `status` message).
fn imported_id(r: &http::Response) -> String {
    r.text()
        .lines()
        .find_map(|l| {
            serde_json::from_str::<Value>(l).ok()?["status"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no image ID in the import's answer: {}", r.text()))
}

fn image_owner(daemon: &Daemon, id: &str) -> Option<String> {
    daemon.inspect_image(id).unwrap()["Config"]["Labels"]["owner"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn commit_and_import_cannot_forge_the_owner() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    let job = env.job.owner().to_string();
    let victim = name("victim-owner");
    let forged = json!({"Labels": {"owner": victim}}).to_string();
    let changes = |list: &[&str]| {
        list.iter()
            .map(|c| format!("&changes={}", http::escape_query(c)))
            .collect::<String>()
    };
    let onbuild = changes(&["ONBUILD \\", &format!("LABEL owner={job}")]);

    // Straight: the appended LABEL is swallowed by the ONBUILD continuation; the body's
    // label stays.
    let (c, _) = env.direct_create(&body(r#"{"Image":"$IMAGE"}"#, &[]));
    let r = env
        .d
        .post_json(&format!("/commit?container={c}{onbuild}"), &forged);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    env.direct.borrow_mut().image(&id);
    assert_eq!(
        image_owner(&env.daemon, &id).as_deref(),
        Some(victim.as_str())
    );
    // Straight: an import labelled by its changes.
    let path = format!(
        "/images/create?fromSrc=-&repo={}&tag=1{}",
        name("imported"),
        changes(&[&format!("LABEL owner={victim}")])
    );
    let r = env
        .d
        .call("POST", &path, Some("application/x-tar"), &rootfs());
    assert_eq!(r.status, 200, "{}", r.text());
    let imported = imported_id(&r);
    env.direct.borrow_mut().image(&imported);
    assert_eq!(
        image_owner(&env.daemon, &imported).as_deref(),
        Some(victim.as_str())
    );

    // Through the gateway: ONBUILD refused; every other way ends owned by the job.
    let mine = env
        .job
        .api
        .created(&name("mine"), &body(r#"{"Image":"$IMAGE"}"#, &[]));
    let r = env
        .job
        .api
        .post_json(&format!("/commit?container={mine}{onbuild}"), &forged);
    refused(&r, 400, &["ONBUILD"], "commit with ONBUILD changes");
    // A trailing escape that would carry the gateway's own LABEL into the last change.
    let dangling = changes(&[&format!("LABEL owner={victim} \\"), ""]);
    let r = env
        .job
        .api
        .post_json(&format!("/commit?container={mine}{dangling}"), &forged);
    refused(&r, 400, &["continuation"], "commit with a trailing escape");
    for (query, commit_body) in [
        (String::new(), forged.clone()),
        (
            String::new(),
            json!({"labels": {"owner": victim}}).to_string(),
        ),
        (changes(&[&format!("LABEL owner={victim}")]), String::new()),
        (
            changes(&[&format!("ENV O={victim}"), "LABEL owner=$O"]),
            String::new(),
        ),
    ] {
        let path = format!("/commit?container={mine}{query}");
        let r = if commit_body.is_empty() {
            env.job.api.post(&path)
        } else {
            env.job.api.post_json(&path, &commit_body)
        };
        assert_eq!(r.status, 201, "{path} {commit_body}: {}", r.text());
        let id = r.json()["Id"].as_str().unwrap().to_string();
        assert_eq!(
            image_owner(&env.daemon, &id).as_deref(),
            Some(job.as_str()),
            "{path} {commit_body}"
        );
    }
    let path = format!(
        "/images/create?fromSrc=-&repo={}&tag=1{}",
        name("imported"),
        changes(&[&format!("LABEL owner={victim}")])
    );
    let r = env
        .job
        .api
        .call("POST", &path, Some("application/x-tar"), &rootfs());
    assert_eq!(r.status, 200, "{}", r.text());
    let id = imported_id(&r);
    assert_eq!(image_owner(&env.daemon, &id).as_deref(), Some(job.as_str()));
    // An import from a URL would have the daemon fetch it.
    let r = env
        .job
        .api
        .post("/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A9%2Fx.tar&repo=x");
    refused(&r, 403, &["URL"], "import from a URL");
}

// ------------------------------------------------------------------------ names

/// A raw build through `api` with a one-line Dockerfile and this query.
fn raw_build(api: &Api, query: &str) -> http::Response {
    let ctx = ustar::context(&format!("FROM {IMAGE}\n"), &[]);
    let r =
        common::build::BuildRequest::new(query, common::build::Body::Bytes(ctx)).send(&api.sock);
    r.response().clone()
}

#[test]
fn names_of_other_owners_and_nobodys_images_cannot_be_taken() {
    let daemon = daemon_or_skip!();
    // Dropped after `env`, whose straight containers may still use its objects.
    let victim = Confined::start(&daemon, &[]);
    let env = Env::start(&daemon);
    let base_before = env.daemon.image_id(IMAGE).unwrap();
    let commit = |api: &Api, container: &str, repo: &str| {
        let r = api.post(&format!("/commit?container={container}&repo={repo}&tag=1"));
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["Id"].as_str().unwrap().to_string()
    };
    let tag = |api: &Api, image: &str, repo: &str, tag: &str| {
        api.post(&format!(
            "/images/{}/tag?repo={repo}&tag={tag}",
            http::escape_path(image)
        ))
    };
    let plain = body(r#"{"Image":"$IMAGE"}"#, &[]);

    // The victim's image, named `<repo>:1` and `<repo>:2`.
    let vrepo = name("victim-img");
    let vc = victim.api.created(&name("victim"), &plain);
    let victim_image = commit(&victim.api, &vc, &vrepo);
    assert_eq!(tag(&victim.api, &victim_image, &vrepo, "2").status, 201);
    // Nobody's image (no owner label), named `<repo>:1` and `<repo>:2`.
    let nrepo = name("nobody-img");
    let nobody_image = env.daemon.import(&rootfs(), &nrepo, "1", &[], "nobody's");
    env.direct.borrow_mut().image(&nobody_image);
    env.daemon.tag(&nobody_image, &nrepo, "2");

    // Straight: a tag and a commit move a name off the image it named.
    let (x, _) = env.direct_create(&plain);
    let other = commit(&env.d, &x, &name("straight"));
    env.direct.borrow_mut().image(&other);
    assert_eq!(tag(&env.d, &other, &vrepo, "1").status, 201);
    assert_eq!(
        env.daemon.image_id(&format!("{vrepo}:1")),
        Some(other.clone())
    );
    let r = env
        .d
        .post(&format!("/commit?container={x}&repo={nrepo}&tag=1"));
    assert_eq!(r.status, 201, "{}", r.text());
    let moved = r.json()["Id"].as_str().unwrap().to_string();
    env.direct.borrow_mut().image(&moved);
    assert_eq!(env.daemon.image_id(&format!("{nrepo}:1")), Some(moved));

    // Through the gateway, no way of writing a name takes the victim's, nobody's, or
    // the shared base's.
    let mine_c = env.job.api.created(&name("mine"), &plain);
    let mine = commit(&env.job.api, &mine_c, &name("mine-img"));
    let (base_repo, base_tag) = IMAGE.rsplit_once(':').unwrap();
    for (repo, t, whose) in [
        (vrepo.as_str(), "2", "another owner"),
        (nrepo.as_str(), "2", "no owner"),
        (base_repo, base_tag, "no owner"),
    ] {
        let what = format!("{repo}:{t}");
        let r = tag(&env.job.api, &mine, repo, t);
        refused(
            &r,
            403,
            &[whose, "may not move a name"],
            &format!("tag as {what}"),
        );
        let r = env
            .job
            .api
            .post(&format!("/commit?container={mine_c}&repo={repo}&tag={t}"));
        refused(&r, 403, &[whose], &format!("commit as {what}"));
        let r = env.job.api.call(
            "POST",
            &format!("/images/create?fromSrc=-&repo={repo}&tag={t}"),
            Some("application/x-tar"),
            &rootfs(),
        );
        refused(&r, 403, &[whose], &format!("import as {what}"));
        let r = raw_build(&env.job.api, &format!("t={}", http::escape_query(&what)));
        refused(&r, 403, &[whose], &format!("build -t {what}"));
    }
    // A pull may update a name of nobody's (that is how bases are updated), never
    // another owner's.
    let r = env
        .job
        .api
        .post(&format!("/images/create?fromImage={vrepo}&tag=2"));
    refused(&r, 403, &["another owner"], "pull onto the victim's name");

    assert_eq!(
        env.daemon.image_id(&format!("{vrepo}:2")),
        Some(victim_image)
    );
    assert_eq!(
        env.daemon.image_id(&format!("{nrepo}:2")),
        Some(nobody_image)
    );
    assert_eq!(env.daemon.image_id(IMAGE), Some(base_before));
}

#[test]
fn names_a_pull_cannot_take() {
    let daemon = daemon_or_skip!();
    let registry = or_skip!(Registry::start());
    // Dropped after `env`, whose straight containers may still use its objects.
    let victim = Confined::start(&daemon, &[]);
    let env = Env::start(&daemon);
    let auth = registry.auth();

    // An image in the registry under two names, neither of them on the daemon.
    let (x, _) = env.direct_create(&body(r#"{"Image":"$IMAGE"}"#, &[]));
    let pushed = env.daemon.commit(&x, &[]);
    env.direct.borrow_mut().image(&pushed);
    // A name of its own keeps it on the daemon while the registry names come and go.
    env.daemon.tag(&pushed, &name("keep"), "1");
    let first = registry.repo(&name("pulled"));
    let second = registry.repo(&name("pulled"));
    for repo in [&first, &second] {
        env.daemon.tag(&pushed, repo, "1");
        env.daemon.push(repo, "1", &auth);
        assert_eq!(env.d.delete(&format!("/images/{repo}:1")).status, 200);
    }
    // The victim names its own image by both.
    let vc = victim
        .api
        .created(&name("victim"), &body(r#"{"Image":"$IMAGE"}"#, &[]));
    let r = victim.api.post(&format!("/commit?container={vc}"));
    let victim_image = r.json()["Id"].as_str().unwrap().to_string();
    for repo in [&first, &second] {
        let r = victim
            .api
            .post(&format!("/images/{victim_image}/tag?repo={repo}&tag=1"));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let pull = |api: &Api, repo: &str| {
        http::request(
            &api.sock,
            "POST",
            &format!(
                "/images/create?fromImage={}&tag=1",
                http::escape_query(repo)
            ),
            &[("X-Registry-Auth", auth.as_str())],
            b"",
        )
        .unwrap()
    };

    // Straight: the pull moves the victim's name to the pulled image.
    let r = pull(&env.d, &first);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        env.daemon.image_id(&format!("{first}:1")),
        Some(pushed.clone())
    );
    // Through the gateway: refused before the daemon is asked.
    let r = pull(&env.job.api, &second);
    refused(&r, 403, &["another owner"], "pull onto the victim's name");
    assert_eq!(
        env.daemon.image_id(&format!("{second}:1")),
        Some(victim_image)
    );
    // The first name is nobody's now; a pull may update that one.
    let r = pull(&env.job.api, &first);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("errorDetail"), "{}", r.text());
}

// ------------------------------------------------------------------------ endpoints

#[test]
fn endpoints_outside_the_model() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    // Routes the daemon serves (reads only, sent straight), refused by the gateway.
    for path in [
        "/swarm",
        "/services",
        "/nodes",
        "/tasks",
        "/secrets",
        "/configs",
        "/plugins",
        "/debug/vars",
        "/debug/pprof/",
        "/debug/pprof/cmdline",
    ] {
        let straight = env.d.get(path);
        assert!(
            straight.status == 200 || straight.status == 503,
            "{path} straight: {} {}",
            straight.status,
            straight.text()
        );
        refused(&env.job.api.get(path), 403, &[], path);
    }
    // Routes that would change the daemon for everyone: through the gateway only.
    let id = env
        .job
        .api
        .created(&name("mine"), &body(r#"{"Image":"$IMAGE"}"#, &[]));
    for (method, path) in [
        ("POST", "/swarm/init".to_string()),
        ("POST", "/swarm/join".to_string()),
        ("POST", "/swarm/leave?force=1".to_string()),
        ("POST", "/services/create".to_string()),
        ("POST", "/secrets/create".to_string()),
        ("POST", "/plugins/pull?remote=x".to_string()),
        ("POST", "/plugins/x/enable".to_string()),
        ("DELETE", "/plugins/x".to_string()),
        ("POST", "/debug/pprof/profile?seconds=30".to_string()),
        ("POST", "/images/load".to_string()),
        ("POST", "/build/prune".to_string()),
        ("POST", "/build/cancel?id=x".to_string()),
        ("PUT", format!("/volumes/{}", name("v"))),
        ("POST", format!("/containers/{id}/copy")),
        ("GET", format!("/containers/{id}/checkpoints")),
        ("POST", format!("/containers/{id}/checkpoints")),
        ("DELETE", format!("/containers/{id}/checkpoints/c")),
        ("POST", "/session".to_string()),
        ("POST", "/grpc".to_string()),
        (
            "GET",
            format!("/images/{}/attestations", http::escape_path(IMAGE)),
        ),
    ] {
        let r = env
            .job
            .api
            .call(method, &path, Some("application/json"), b"{}");
        assert!(
            r.status == 403 || r.status == 400,
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        refused(&r, r.status, &[], &format!("{method} {path}"));
    }
    // Routes the daemon does not have.
    for (method, path) in [
        ("GET", "/nosuch"),
        ("GET", "/containers/create"),
        ("PATCH", "/containers/x"),
        ("POST", "/v1.41/networks"),
        ("GET", "/v1.41/info/x"),
    ] {
        let straight = env.d.call(method, path, None, b"");
        assert_eq!(
            straight.status,
            404,
            "{method} {path} straight: {}",
            straight.text()
        );
        refused(
            &env.job.api.call(method, path, None, b""),
            403,
            &["not an endpoint"],
            &format!("{method} {path}"),
        );
    }
}

// ------------------------------------------------------------------------ the CLIs

#[test]
fn the_clis_attacks_are_refused() {
    let daemon = daemon_or_skip!();
    let env = Env::start(&daemon);
    let secret = env.secret();
    let bind = format!("{secret}:/h");
    let mount = format!("type=bind,src={secret},dst=/h");
    let driver = format!(
        "type=volume,dst=/h,volume-driver=local,volume-opt=type=none,volume-opt=o=bind,volume-opt=device={secret}"
    );
    let device = format!("device={secret}");
    let mine = env.job.api.created(
        &name("mine"),
        &body(r#"{"Image":"$IMAGE","Cmd":["sleep","600"]}"#, &[]),
    );
    env.job.api.started(&mine);
    for cli in clis() {
        let run = |opts: &[&str]| {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(opts);
            args.extend([IMAGE, "true"]);
            args.into_iter().map(str::to_string).collect::<Vec<_>>()
        };
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for args in [
            run(&["--privileged"]),
            run(&["-v", &bind]),
            run(&["--mount", &mount]),
            run(&["--mount", &driver]),
            run(&["--pid", "host"]),
            run(&["--network", "host"]),
            run(&["--ipc", "host"]),
            run(&["--uts", "host"]),
            run(&["--userns", "host"]),
            run(&["--cgroupns", "host"]),
            run(&["--cap-add", "SYS_ADMIN"]),
            run(&["--cap-add", "ALL"]),
            run(&["--device", "/dev/null:/dev/x"]),
            run(&["--security-opt", "seccomp=unconfined"]),
            run(&["--security-opt", "apparmor=unconfined"]),
            run(&["--security-opt", "label=disable"]),
            run(&["--security-opt", "systempaths=unconfined"]),
            run(&["--runtime", "io.containerd.runc.v2"]),
            run(&["--cgroup-parent", "/"]),
            run(&["--log-driver", "syslog"]),
            run(&["--sysctl", "net.ipv4.ip_forward=1"]),
            own(&[
                "volume",
                "create",
                "--opt",
                "type=none",
                "--opt",
                "o=bind",
                "--opt",
                &device,
            ]),
            own(&["exec", "--privileged", &mine, "true"]),
        ] {
            let out = env.job.docker(&cli).args(&args).run().failed();
            assert!(
                out.stderr.contains("buildgate: "),
                "via {}: {out}",
                cli.version
            );
        }
    }
    // Nothing was made but the one container.
    let label = env.job.label();
    assert_eq!(
        env.daemon
            .containers_with_label(&label)
            .into_iter()
            .collect::<Vec<_>>(),
        [mine]
    );
    assert!(env.daemon.volumes_with_label(&label).is_empty());
}

// ------------------------------------------------------------------------ COPY --from

/// A build of `dockerfile` through `api` (rm and forcerm, so no container stays).
fn build_file(api: &Api, dockerfile: &str, query: &str) -> common::build::BuildResult {
    let ctx = ustar::context(dockerfile, &[]);
    let query = format!(
        "rm=1&forcerm=1{}{query}",
        if query.is_empty() { "" } else { "&" }
    );
    common::build::BuildRequest::new(&query, common::build::Body::Bytes(ctx)).send(&api.sock)
}

#[test]
fn copy_from_reads_only_the_jobs_own_images_and_nobodys_and_is_pinned() {
    let daemon = daemon_or_skip!();
    let victim = Confined::start(&daemon, &[]);
    let env = Env::start(&daemon);

    // The victim's image holds a secret file.
    let vrepo = name("victim-secret");
    let victim_image = common::build::assert_built(
        &build_file(
            &victim.api,
            &format!("FROM {IMAGE}\nRUN echo victim-s3cret > /secret\n"),
            &format!("t={}", http::escape_query(&format!("{vrepo}:1"))),
        ),
        "the victim's build",
    );
    let short = victim_image.trim_start_matches("sha256:")[..12].to_string();
    let stealing =
        |from: &str| format!("FROM {IMAGE}\nCOPY --from={from} /secret /stolen\nRUN cat /stolen\n");

    // Straight: another build copies the secret out of it, by name and by short ID.
    for from in [format!("{vrepo}:1"), short.clone()] {
        let r = build_file(&env.d, &stealing(&from), "nocache=1");
        let id = common::build::assert_built(&r, "the straight theft");
        env.direct.borrow_mut().image(&id);
        let out = common::build::BuildOutput::parse(&r.response().body);
        assert!(out.stream().contains("victim-s3cret"), "{}", out.raw);
    }

    // Through the job's gateway: refused by name, full ID, short ID, in a later stage,
    // and with `--from` written in quotes or with other options around it.
    for dockerfile in [
        stealing(&format!("{vrepo}:1")),
        stealing(&victim_image),
        stealing(&short),
        format!(
            "FROM {IMAGE} AS a\nFROM {IMAGE}\nCOPY --chown=0:0 --from=\"{vrepo}:1\" /secret /s\n"
        ),
        format!("FROM {IMAGE}\nCOPY \\\n  --from={short} \\\n  /secret /s\n"),
    ] {
        let r = build_file(&env.job.api, &dockerfile, "");
        refused(
            r.response(),
            403,
            &["COPY --from image", "belongs to another owner"],
            &dockerfile,
        );
    }

    // From nobody's image (the shared base) and from an earlier stage it works; the
    // daemon reads the COPY pinned to the image's full ID, and nothing of the build is
    // left unowned.
    let base_id = env.daemon.image_id(IMAGE).unwrap();
    let r = build_file(
        &env.job.api,
        &format!(
            "FROM {IMAGE} AS first\nRUN echo staged > /staged\nFROM scratch\n\
             COPY --from={IMAGE} /bin/busybox /bb\nCOPY --from=first /staged /staged\n\
             COPY --from=0 /staged /again\n"
        ),
        "",
    );
    let id = common::build::assert_built(&r, "copies from nobody's image and a stage");
    let out = common::build::BuildOutput::parse(&r.response().body);
    assert!(
        out.stream()
            .contains(&format!("COPY --from={base_id} /bin/busybox /bb")),
        "{}",
        out.raw
    );
    assert!(
        out.stream().contains("COPY --from=first /staged /staged"),
        "{}",
        out.raw
    );
    env.job.assert_owned("images", &id);
}
