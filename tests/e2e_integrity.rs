//! End-to-end proof of build integrity (design.md, "Layers beyond the build stream";
//! the daemon facts are in the build-integrity notes): the real `buildgate` binary in
//! front of the real test dockerd 20.10, with the docker CLIs (28.x and Debian's 20.10,
//! classic builder) and raw HTTP.
//!
//! What the gateway does, and what is proven here:
//!
//! - **Bases.** At the end of the upload every `FROM` is expanded like the classic
//!   builder does it, its image inspected (pulled first when absent or with `pull=1`,
//!   with the build's `X-Registry-Config`), refused if it carries `ONBUILD` triggers,
//!   and pinned by ID. Proven for `ONBUILD` bases made by `docker import -c`,
//!   `docker commit --change` and a Dockerfile's own `ONBUILD` (one trigger, and several
//!   with `ONBUILD LABEL owner=evil`); for `FROM ${BASE}` set through `buildargs`; for a
//!   base re-tagged during the upload and while an earlier stage runs; and for bases
//!   pulled from a password-protected registry.
//! - **Result.** After the build, the result and every image of its history down to the
//!   base pinned for its stage must carry `owner=<owner>`, or nothing is tagged. Proven
//!   with the local build cache poisoned by `containers/create` + `commit` (as the
//!   result, and below it, also when another stage starts from the planted image or
//!   the result's stage is `FROM <stage>`), and with `cachefrom` naming a planted
//!   image; the walk goes through stage references and down from `scratch`; and the
//!   cache still serves ordinary builds.
//!
//! The cases, one test each (case 1 one per way of making the base): ONBUILD bases
//! (`onbuild_base_*`), `FROM ${BASE}` (`from_a_build_arg_*`), re-tags
//! (`retag_before_the_dockerfile_*`, `retag_while_an_earlier_stage_*`), pulls
//! (`bases_are_pulled_*`), the poisoned local cache (`a_poisoned_local_cache_*`,
//! `a_poisoned_cache_below_the_result_*`), `cachefrom` (`a_planted_cache_from_*`), and
//! the cache kept (`ordinary_builds_still_use_the_cache`). Cases 1, 5 and 7 run with
//! both CLIs; the others use raw HTTP, where every parameter and header is the test's.
//!
//! # How each case is proven
//!
//! Each attack is first **sent straight to the daemon** in the form a gateway that only
//! labels would send it: the Dockerfile with `LABEL owner="<owner>"` after every `FROM`,
//! and `labels={"owner":"<owner>"}` ([`as_sent`], [`direct`]). That run must show the
//! bad outcome (a trigger container or image without the owner, a result that is the
//! planted image, a tag on it), so the test would fail against a gateway that only
//! labels. Then the same request goes **through the gateway**, which must refuse it
//! (naming the reason) or build it clean.
//!
//! "What a build made" is found by lineage, not by listing the whole daemon: every case
//! builds on base images of its own, fresh imports of the test busybox's filesystem with
//! unique IDs ([`Env::base`]), and what a build made is what descends from them (images
//! whose parent chain reaches one, containers made from them; [`Daemon::descendants`])
//! and was not there before. Other tests and other users of the daemon cannot build on
//! these bases, so the tests can run in parallel with anything. Builds run with
//! `rm=0&forcerm=0` (CLI: `--rm=false --force-rm=false`) so that every intermediate
//! container stays to be inspected. A build that is refused must leave nothing, checked
//! once the daemon's view has held still for [`SETTLE_QUIET`]; a build that passes must
//! have made something, and all of it owned. Everything descending from the bases goes
//! when the test ends ([`Env`]'s drop), whatever happened.

#[macro_use]
mod common;

use common::build::{Body, BuildOutput, BuildRequest, RunningBuild};
use common::registry::Registry;
use common::{
    Cleanup, Cli, Daemon, Docker, Gateway, IMAGE, Lineage, OwnedCleanup, SETTLE_QUIET, clis, http,
    labels, unique, ustar, wait_settled,
};
use serde_json::json;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

/// The gateway's default `--owner-label`.
const OWNER_KEY: &str = "owner";

/// How long one build, by CLI or raw, may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// The one trigger of the single-trigger bases.
const ONE_TRIGGER: &[&str] = &["RUN echo trigger > /trigger"];

/// Several triggers, one of which claims the owner label for someone else.
const TRIGGERS: &[&str] = &[
    "RUN echo one > /one",
    "LABEL owner=evil",
    "RUN echo two > /two",
];

// ------------------------------------------------------------------------ environment

/// A gateway in front of the test daemon, and the bases one test made there. On drop,
/// everything that descends from those bases is removed with them, and everything the
/// gateway's owner made.
struct Env {
    daemon: Daemon,
    gw: Gateway,
    roots: RefCell<BTreeSet<String>>,
    _owned: OwnedCleanup,
}

/// An image a test made: its ID and the name it was given.
#[derive(Clone, Debug)]
struct Image {
    id: String,
    name: String,
}

impl Env {
    fn start() -> Option<Env> {
        let host = common::docker_host()?;
        let daemon = Daemon::new(&host);
        assert!(
            daemon.inspect_image(IMAGE).is_some(),
            "the base image {IMAGE} is missing on {host}: run scripts/base-image.sh"
        );
        let (gw, owned) = Gateway::start_cleaned(&host, &[]);
        Some(Env {
            daemon,
            gw,
            roots: RefCell::new(BTreeSet::new()),
            _owned: owned,
        })
    }

    fn owner(&self) -> &str {
        &self.gw.owner
    }

    /// A fresh base image of this test: the test busybox's filesystem imported with
    /// `CMD ["/bin/sh"]`, `ENV PATH=/bin` and `changes`, under a unique name (its ID is
    /// unique too: the config records when it was made, and a unique comment).
    fn base(&self, changes: &[&str]) -> Image {
        let repo = unique("buildgate-integrity/base");
        let mut all = vec![r#"CMD ["/bin/sh"]"#, "ENV PATH=/bin"];
        all.extend_from_slice(changes);
        let id = self
            .daemon
            .import(rootfs(&self.daemon), &repo, "v1", &all, &unique("base"));
        self.adopt(&id);
        Image {
            id,
            name: format!("{repo}:v1"),
        }
    }

    /// Count `id` among this test's bases: it and all that descends from it go at the
    /// end.
    fn adopt(&self, id: &str) {
        self.roots.borrow_mut().insert(id.to_string());
    }

    /// What descends from these images now.
    fn lineage(&self, roots: &[&Image]) -> Lineage {
        self.daemon.descendants(&ids(roots))
    }

    /// What descends from `roots` and was not in `before`, once the daemon's view has
    /// held still for [`SETTLE_QUIET`] (a build the daemon had started would show).
    fn made_since(&self, roots: &[&Image], before: &Lineage) -> Lineage {
        let roots = ids(roots);
        wait_settled(Duration::from_secs(60), SETTLE_QUIET, || {
            Some(self.daemon.descendants(&roots))
        })
        .unwrap_or_else(|| self.daemon.descendants(&roots))
        .since(before)
    }

    /// A docker CLI talking to the gateway.
    fn via_gateway(&self, cli: &Cli) -> Docker {
        self.gw.docker(cli).timeout(BUILD_TIMEOUT)
    }

    /// A docker CLI talking straight to the daemon.
    fn direct(&self, cli: &Cli) -> Docker {
        Docker::new(cli, &self.daemon.host).timeout(BUILD_TIMEOUT)
    }

    /// The labels of each object in `made`, for verdicts and messages.
    fn labelled(&self, made: &Lineage) -> Vec<(String, BTreeMap<String, String>)> {
        let d = &self.daemon;
        let containers = made.containers.iter().map(|id| {
            let l = d
                .inspect_container(id)
                .map(|v| labels(&v))
                .unwrap_or_default();
            (format!("container {}", short(id)), l)
        });
        let images = made.images.iter().map(|id| {
            let l = d.inspect_image(id).map(|v| labels(&v)).unwrap_or_default();
            (format!("image {}", short(id)), l)
        });
        containers.chain(images).collect()
    }

    /// The objects of `made` that do not carry `owner=<this gateway's owner>`.
    fn unowned(&self, made: &Lineage) -> Vec<(String, BTreeMap<String, String>)> {
        let owner = self.owner();
        self.labelled(made)
            .into_iter()
            .filter(|(_, l)| l.get(OWNER_KEY).map(String::as_str) != Some(owner))
            .collect()
    }

    /// A build that passed made something, and everything it made is owned.
    #[track_caller]
    fn assert_clean(&self, made: &Lineage, what: &str) {
        assert!(
            !made.containers.is_empty() && !made.images.is_empty(),
            "{what}: the build made no container or no image ({made:?}), so the owner \
             check below would prove nothing"
        );
        let bad = self.unowned(made);
        assert!(
            bad.is_empty(),
            "{what}: made objects without {OWNER_KEY}={}: {bad:?}",
            self.owner()
        );
    }

    /// The attack worked straight on the daemon: something it made lacks the owner.
    #[track_caller]
    fn assert_unowned_made(&self, made: &Lineage, what: &str) {
        let bad = self.unowned(made);
        assert!(
            !bad.is_empty(),
            "{what}: straight on the daemon everything was owned ({:?}), so the case \
             proves nothing",
            self.labelled(made)
        );
    }

    /// `name` does not exist on the daemon.
    #[track_caller]
    fn assert_absent(&self, name: &str, what: &str) {
        assert!(
            self.daemon.image_id(name).is_none(),
            "{what}: {name} exists: {:?}",
            self.daemon.inspect_image(name)
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.daemon.remove_tree(&self.roots.borrow());
    }
}

fn ids(images: &[&Image]) -> BTreeSet<String> {
    images.iter().map(|i| i.id.clone()).collect()
}

/// `sha256:` and 12 hex digits.
fn short(id: &str) -> &str {
    &id[..id.len().min(19)]
}

/// The test busybox's filesystem as a tar (`docker export` of a container made from
/// it), made once per test binary.
fn rootfs(daemon: &Daemon) -> &'static [u8] {
    static ROOTFS: OnceLock<Vec<u8>> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let mut cleanup = Cleanup::new(&daemon.host);
        let id = daemon.create_container(&json!({ "Image": IMAGE }));
        cleanup.container(&id);
        daemon.export_container(&id)
    })
}

/// A base with `ONBUILD` triggers, made one of the three ways a daemon makes them.
#[derive(Clone, Copy, Debug)]
enum Onbuild {
    /// `docker import -c 'ONBUILD ...'` (`POST /images/create?fromSrc=-&changes=`).
    Import,
    /// `docker commit --change 'ONBUILD ...'` (`POST /commit?changes=`).
    Commit,
    /// A build straight on the daemon whose Dockerfile has `ONBUILD` instructions.
    Build,
}

impl Env {
    fn onbuild_base(&self, how: Onbuild, triggers: &[&str]) -> Image {
        let changes: Vec<String> = triggers.iter().map(|t| format!("ONBUILD {t}")).collect();
        let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
        match how {
            Onbuild::Import => self.base(&changes),
            Onbuild::Commit => {
                let base = self.base(&[]);
                let container = self
                    .daemon
                    .create_container(&json!({ "Image": base.id, "Cmd": ["/bin/sh"] }));
                let id = self.daemon.commit(&container, &changes);
                let repo = unique("buildgate-integrity/committed");
                self.daemon.tag(&id, &repo, "v1");
                Image {
                    id,
                    name: format!("{repo}:v1"),
                }
            }
            Onbuild::Build => {
                let base = self.base(&[]);
                let repo = unique("buildgate-integrity/built");
                let name = format!("{repo}:v1");
                let dockerfile = format!("FROM {}\n{}\n", base.id, changes.join("\n"));
                let sent = raw_build(
                    &self.daemon.sock,
                    &query(&[("nocache", "1"), ("t", &name)]),
                    &[],
                    &dockerfile,
                );
                let id = sent.built("the ONBUILD base, built on the daemon");
                assert_eq!(self.daemon.image_id(&name).as_deref(), Some(id.as_str()));
                Image { id, name }
            }
        }
    }
}

// ------------------------------------------------------------------------ requests

/// The Dockerfile as a gateway that only labels would send it: `LABEL owner="<owner>"`
/// after every `FROM` (the gateway's own rewrite, minus the pinning).
fn as_sent(dockerfile: &str, owner: &str) -> String {
    let mut out = String::new();
    for line in dockerfile.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim_start().to_ascii_uppercase().starts_with("FROM ") {
            out.push_str(&format!("LABEL {OWNER_KEY}=\"{owner}\"\n"));
        }
    }
    out
}

/// A build query: every build keeps its intermediate containers (`rm=0&forcerm=0`),
/// then `pairs`, values escaped.
fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = String::from("rm=0&forcerm=0");
    for (k, v) in pairs {
        q.push_str(&format!("&{k}={}", http::escape_query(v)));
    }
    q
}

/// [`query`] plus the `labels` a labelling gateway adds: for the direct runs.
fn direct(owner: &str, pairs: &[(&str, &str)]) -> String {
    let labels = json!({ OWNER_KEY: owner }).to_string();
    let mut all = vec![("labels", labels.as_str())];
    all.extend_from_slice(pairs);
    query(&all)
}

/// `{"<key>":"<value>"}`, for `buildargs`.
fn one_arg(key: &str, value: &str) -> String {
    json!({ key: value }).to_string()
}

/// A context of just this Dockerfile.
fn context(dockerfile: &str) -> Vec<u8> {
    ustar::context(dockerfile, &[])
}

/// What a raw build got back.
struct Sent {
    response: http::Response,
}

/// A raw `POST /build` of a context holding only `dockerfile`.
fn raw_build(sock: &Path, query: &str, headers: &[(&str, &str)], dockerfile: &str) -> Sent {
    let mut req = BuildRequest::new(query, Body::Bytes(context(dockerfile)));
    req.extra_headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    finish(req.start(sock))
}

fn finish(running: RunningBuild) -> Sent {
    let result = running.finish();
    Sent {
        response: result.response().clone(),
    }
}

impl Sent {
    fn output(&self) -> BuildOutput {
        BuildOutput::parse(&self.response.body)
    }

    /// The build output's text (`stream` messages).
    fn stream(&self) -> String {
        if self.response.status == 200 {
            self.output().stream()
        } else {
            String::new()
        }
    }

    /// Assert the build succeeded; the result: the last `aux` ID.
    #[track_caller]
    fn built(&self, what: &str) -> String {
        let r = &self.response;
        assert_eq!(r.status, 200, "{what}: {} {}", r.status, r.text());
        let out = self.output();
        assert!(out.error().is_none(), "{what} failed: {}", out.raw);
        out.lines
            .iter()
            .filter_map(|l| l["aux"]["ID"].as_str())
            .next_back()
            .unwrap_or_else(|| panic!("{what}: no image ID in {}", out.raw))
            .to_string()
    }

    /// Assert the build failed; why: a JSON error's message, or the `errorDetail` of a
    /// build that started.
    #[track_caller]
    fn refused(&self, what: &str) -> String {
        let r = &self.response;
        if r.status != 200 {
            return r.json()["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {} without a message: {}", r.status, r.text()))
                .to_string();
        }
        self.output()
            .error()
            .unwrap_or_else(|| panic!("{what}: the build succeeded: {}", r.text()))
    }
}

/// `text` contains each of `needles`.
#[track_caller]
fn assert_says(text: &str, needles: &[&str], what: &str) {
    for n in needles {
        assert!(text.contains(n), "{what}: {n:?} is not in {text:?}");
    }
}

/// The ID of every entry of `image`'s history that the daemon knows.
fn history(daemon: &Daemon, image: &str) -> BTreeSet<String> {
    daemon.history(image).into_iter().flatten().collect()
}

/// A context directory for the CLIs.
fn context_dir(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("buildgate-integrity-")
        .tempdir()
        .expect("temp dir");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    dir
}

fn path_str(dir: &tempfile::TempDir) -> String {
    dir.path().to_str().expect("UTF-8 temp path").to_string()
}

// ======================================================================== 1. ONBUILD bases

/// Case 1, for bases made one way: with one trigger and with several, the trigger
/// containers straight on the daemon lack the owner (or claim `owner=evil`); through
/// the gateway, with each CLI, the build is refused with a message that names the base
/// and its triggers, and nothing descends from the base.
fn onbuild_bases_are_refused(how: Onbuild) {
    let env = or_skip!(Env::start());
    let owner = env.owner().to_string();
    let clis = clis();
    for triggers in [ONE_TRIGGER, TRIGGERS] {
        let what = format!("{how:?} base with {triggers:?}");
        let base = env.onbuild_base(how, triggers);
        let inspected = env.daemon.inspect_image(&base.name).expect("the base");
        assert_eq!(
            inspected["Config"]["OnBuild"],
            json!(triggers),
            "{what}: the base's triggers"
        );
        let dockerfile = format!("FROM {}\nRUN echo built > /built\n", base.name);

        // Straight to the daemon: the triggers run before the owner LABEL.
        let before = env.lineage(&[&base]);
        let sent = raw_build(
            &env.daemon.sock,
            &direct(&owner, &[("nocache", "1")]),
            &[],
            &as_sent(&dockerfile, &owner),
        );
        sent.built(&format!("{what}, direct"));
        let plural = if triggers.len() == 1 { "" } else { "s" };
        assert_says(
            &sent.stream(),
            &[&format!(
                "Executing {} build trigger{plural}",
                triggers.len()
            )],
            &what,
        );
        let made = env.made_since(&[&base], &before);
        env.assert_unowned_made(&made, &format!("{what}, direct"));
        if triggers.contains(&"LABEL owner=evil") {
            let evil = env
                .labelled(&made)
                .into_iter()
                .filter(|(_, l)| l.get(OWNER_KEY).map(String::as_str) == Some("evil"))
                .count();
            assert!(evil > 0, "{what}, direct: nothing made carries owner=evil");
        }

        // Through the gateway: refused, nothing built.
        let dir = context_dir(&dockerfile);
        for cli in &clis {
            let tag = unique("buildgate-integrity/refused");
            let before = env.lineage(&[&base]);
            let out = env
                .via_gateway(cli)
                .args(["build", "--rm=false", "--force-rm=false", "-t", &tag])
                .args([path_str(&dir)])
                .run()
                .failed();
            let what = format!("{what}, CLI {}", cli.version);
            let mut needles = vec![base.name.as_str(), "ONBUILD"];
            needles.extend_from_slice(triggers);
            assert_says(&out.stderr, &needles, &what);
            let made = env.made_since(&[&base], &before);
            assert!(made.is_empty(), "{what}: the refused build made {made:?}");
            env.assert_absent(&tag, &what);
        }
    }
}

#[test]
fn onbuild_base_from_import_is_refused() {
    onbuild_bases_are_refused(Onbuild::Import);
}

#[test]
fn onbuild_base_from_commit_is_refused() {
    onbuild_bases_are_refused(Onbuild::Commit);
}

#[test]
fn onbuild_base_from_a_dockerfile_is_refused() {
    onbuild_bases_are_refused(Onbuild::Build);
}

// ======================================================================== 2. FROM $VAR

/// Case 2: `ARG BASE=<clean>` + `FROM ${BASE}`, with `buildargs` choosing the base.
/// Set to an ONBUILD base: straight on the daemon its trigger runs unowned; through the
/// gateway the build is refused. Set to another clean base: built from exactly that
/// base, everything owned.
#[test]
fn from_a_build_arg_is_resolved_before_the_check() {
    let env = or_skip!(Env::start());
    let owner = env.owner().to_string();
    let default = env.base(&[]);
    let chosen = env.base(&[]);
    let onbuild = env.base(&["ONBUILD RUN echo trigger > /trigger"]);
    let all = [&default, &chosen, &onbuild];
    let dockerfile = format!(
        "ARG BASE={}\nFROM ${{BASE}}\nRUN echo built > /built\n",
        default.name
    );
    let to_onbuild = one_arg("BASE", &onbuild.name);

    let before = env.lineage(&all);
    let sent = raw_build(
        &env.daemon.sock,
        &direct(&owner, &[("nocache", "1"), ("buildargs", &to_onbuild)]),
        &[],
        &as_sent(&dockerfile, &owner),
    );
    sent.built("BASE=<onbuild>, direct");
    assert_says(&sent.stream(), &["Executing 1 build trigger"], "direct");
    env.assert_unowned_made(&env.made_since(&all, &before), "BASE=<onbuild>, direct");

    let before = env.lineage(&all);
    let sent = raw_build(
        &env.gw.sock,
        &query(&[("nocache", "1"), ("buildargs", &to_onbuild)]),
        &[],
        &dockerfile,
    );
    let why = sent.refused("BASE=<onbuild>, through the gateway");
    assert_says(
        &why,
        &[&onbuild.name, "ONBUILD", "RUN echo trigger > /trigger"],
        "BASE=<onbuild>",
    );
    let made = env.made_since(&all, &before);
    assert!(made.is_empty(), "the refused build made {made:?}");

    let before = env.lineage(&all);
    let tag = unique("buildgate-integrity/from-arg");
    let sent = raw_build(
        &env.gw.sock,
        &query(&[
            ("nocache", "1"),
            ("buildargs", &one_arg("BASE", &chosen.name)),
            ("t", &tag),
        ]),
        &[],
        &dockerfile,
    );
    let id = sent.built("BASE=<clean>, through the gateway");
    assert_says(&sent.stream(), &["Successfully tagged"], "BASE=<clean>");
    assert_eq!(env.daemon.image_id(&tag).as_deref(), Some(id.as_str()));
    let h = history(&env.daemon, &id);
    assert!(
        h.contains(&chosen.id) && !h.contains(&default.id) && !h.contains(&onbuild.id),
        "the result's history {h:?} should hold the chosen base {} and not the default {}",
        chosen.id,
        default.id
    );
    env.assert_clean(&env.made_since(&all, &before), "BASE=<clean>");
}

// ======================================================================== 3. re-tags

/// Sends `dockerfile` as the last entry of a context whose first entry (256 KiB) goes
/// first; `between` runs after that entry is written and before the Dockerfile is.
fn upload_paused(sock: &Path, query: &str, dockerfile: &str, between: impl FnOnce()) -> Sent {
    let head = ustar::file("filler", &vec![0x5a; 256 << 10]);
    let mut tail = ustar::file("Dockerfile", dockerfile.as_bytes());
    tail.extend_from_slice(&ustar::END);
    let len = (head.len() + tail.len()) as u64;
    let (sent_tx, sent_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let write = Box::new(move |w: &mut common::build::Upload| {
        w.write_all(&head)?;
        w.flush()?;
        let _ = sent_tx.send(());
        // Hold the Dockerfile back until the test says; a dropped sender means the
        // test is over anyway.
        let _ = go_rx.recv();
        w.write_all(&tail)
    });
    let running = BuildRequest::new(query, Body::Stream { len, write }).start(sock);
    sent_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the first entry was not written within 30 s");
    between();
    go_tx.send(()).expect("the writer is waiting");
    finish(running)
}

/// Case 3a: the base is re-tagged to an ONBUILD image after the upload started and
/// before the Dockerfile arrived. Straight on the daemon the trigger runs (a check at
/// the start of the request would have been fooled); through the gateway, which looks
/// only once the Dockerfile is in, the build is refused.
#[test]
fn retag_before_the_dockerfile_arrives_is_seen() {
    let env = or_skip!(Env::start());
    let owner = env.owner().to_string();
    let clean = env.base(&[]);
    let onbuild = env.base(&["ONBUILD RUN echo trigger > /trigger"]);
    let all = [&clean, &onbuild];
    let victim = unique("buildgate-integrity/victim");
    let name = format!("{victim}:v1");
    let dockerfile = format!("FROM {name}\nRUN echo built > /built\n");

    env.daemon.tag(&clean.id, &victim, "v1");
    let before = env.lineage(&all);
    let sent = upload_paused(
        &env.daemon.sock,
        &direct(&owner, &[("nocache", "1")]),
        &as_sent(&dockerfile, &owner),
        || env.daemon.tag(&onbuild.id, &victim, "v1"),
    );
    sent.built("re-tag mid-upload, direct");
    assert_says(&sent.stream(), &["Executing 1 build trigger"], "direct");
    env.assert_unowned_made(&env.made_since(&all, &before), "re-tag mid-upload, direct");

    env.daemon.tag(&clean.id, &victim, "v1");
    let before = env.lineage(&all);
    let sent = upload_paused(
        &env.gw.sock,
        &query(&[("nocache", "1")]),
        &dockerfile,
        || env.daemon.tag(&onbuild.id, &victim, "v1"),
    );
    let why = sent.refused("re-tag mid-upload, through the gateway");
    assert_says(
        &why,
        &[&name, short(&onbuild.id), "RUN echo trigger > /trigger"],
        "re-tag mid-upload",
    );
    let made = env.made_since(&all, &before);
    assert!(made.is_empty(), "the refused build made {made:?}");
}

/// Starts a two-stage build whose first stage sleeps, waits for that step in the
/// output, re-tags with `retag`, checks the second stage has not started yet, and
/// returns what the build sent.
fn race(sock: &Path, query: &str, dockerfile: &str, retag: impl FnOnce()) -> Sent {
    let running = BuildRequest::new(query, Body::Bytes(context(dockerfile))).start(sock);
    assert!(
        running.wait_for("RUN sleep 3", BUILD_TIMEOUT),
        "the first stage's RUN sleep 3 never showed: {}",
        running.so_far()
    );
    retag();
    let so_far = running.so_far();
    assert!(
        !so_far.contains("Step 4/"),
        "the second stage started before the re-tag, so the race was not run: {so_far}"
    );
    finish(running)
}

/// Case 3b, the race the pinning closes: the second stage's base is re-tagged to an
/// ONBUILD image while the first stage runs. Straight on the daemon, the second stage
/// resolves the name when it gets there and runs the trigger unowned; through the
/// gateway it builds from the image the gateway inspected, no trigger runs, and
/// everything is owned.
#[test]
fn retag_while_an_earlier_stage_runs_changes_nothing() {
    let env = or_skip!(Env::start());
    let owner = env.owner().to_string();
    let first = env.base(&[]);
    let second = env.base(&[]);
    let onbuild = env.base(&["ONBUILD RUN echo trigger > /trigger"]);
    let all = [&first, &second, &onbuild];
    let victim = unique("buildgate-integrity/victim");
    let dockerfile = format!(
        "FROM {} AS one\nRUN sleep 3\nFROM {victim}:v1\nRUN echo two > /two\n",
        first.id
    );

    env.daemon.tag(&second.id, &victim, "v1");
    let before = env.lineage(&all);
    let sent = race(
        &env.daemon.sock,
        &direct(&owner, &[("nocache", "1")]),
        &as_sent(&dockerfile, &owner),
        || env.daemon.tag(&onbuild.id, &victim, "v1"),
    );
    sent.built("re-tag during stage one, direct");
    assert_says(&sent.stream(), &["Executing 1 build trigger"], "direct");
    env.assert_unowned_made(
        &env.made_since(&all, &before),
        "re-tag during stage one, direct",
    );

    env.daemon.tag(&second.id, &victim, "v1");
    let before = env.lineage(&all);
    let sent = race(
        &env.gw.sock,
        &query(&[("nocache", "1")]),
        &dockerfile,
        || env.daemon.tag(&onbuild.id, &victim, "v1"),
    );
    let id = sent.built("re-tag during stage one, through the gateway");
    assert_says(
        &sent.stream(),
        &[&format!("FROM {}", second.id)],
        "the second stage pinned to the inspected image",
    );
    assert!(
        !sent.stream().contains("build trigger"),
        "a trigger ran through the gateway: {}",
        sent.stream()
    );
    let h = history(&env.daemon, &id);
    assert!(
        h.contains(&second.id) && !h.contains(&onbuild.id),
        "the result's history {h:?} should hold the inspected base {} and not {}",
        second.id,
        onbuild.id
    );
    let made = env.made_since(&all, &before);
    assert!(
        made.since(&env.lineage(&[&first, &second])).is_empty(),
        "something was built on the ONBUILD image: {made:?}"
    );
    env.assert_clean(&made, "re-tag during stage one");
}

// ======================================================================== 4. registry

/// Case 4: bases that must be pulled, from a registry with password auth.
///
/// - Without credentials the daemon cannot pull; through the gateway the build is
///   refused with the registry's auth error, and nothing is pulled.
/// - An ONBUILD base pulled with the build's credentials runs its trigger unowned
///   straight on the daemon; through the gateway it is pulled, and refused.
/// - A clean base is pulled with `X-Registry-Config` (raw, and from each CLI after a
///   `docker login` into a private config), built, owned, and the result's history
///   holds the pulled image.
/// - `pull=1` with a stale local copy: the daemon builds from the registry's newer
///   image, and so does the gateway; without `pull=1` both use the local copy.
#[test]
fn bases_are_pulled_with_the_builds_credentials() {
    let env = or_skip!(Env::start());
    let registry = or_skip!(Registry::start());
    let owner = env.owner().to_string();
    let d = &env.daemon;
    let first = env.base(&[]);
    let second = env.base(&[]);
    let onbuild = env.base(&["ONBUILD RUN echo trigger > /trigger"]);
    let space = unique("bgi");
    let base_repo = registry.repo(&format!("{space}/base"));
    let onbuild_repo = registry.repo(&format!("{space}/onbuild"));
    let base_name = format!("{base_repo}:v1");
    let onbuild_name = format!("{onbuild_repo}:v1");
    let config = registry.config();
    let creds = [("X-Registry-Config", config.as_str())];

    d.tag(&first.id, &base_repo, "v1");
    d.push(&base_repo, "v1", &registry.auth());
    d.tag(&onbuild.id, &onbuild_repo, "v1");
    d.push(&onbuild_repo, "v1", &registry.auth());
    // Only the registry has them now.
    d.remove_tree(&ids(&[&first, &onbuild]));
    env.assert_absent(&first.id, "after the push");
    env.assert_absent(&onbuild.id, "after the push");

    // No credentials.
    let dockerfile = format!("FROM {base_name}\nRUN echo built > /built\n");
    let sent = raw_build(
        &d.sock,
        &direct(&owner, &[("nocache", "1")]),
        &[],
        &as_sent(&dockerfile, &owner),
    );
    let daemon_says = sent.refused("no credentials, direct");
    assert_says(&daemon_says, &["no basic auth credentials"], "direct");
    let sent = raw_build(&env.gw.sock, &query(&[("nocache", "1")]), &[], &dockerfile);
    let why = sent.refused("no credentials, through the gateway");
    assert_says(
        &why,
        &[
            "cannot pull base image",
            &base_name,
            "no basic auth credentials",
        ],
        "no credentials",
    );
    env.assert_absent(&base_name, "no credentials");

    // An ONBUILD base that must be pulled.
    let dockerfile = format!("FROM {onbuild_name}\nRUN echo built > /built\n");
    let before = env.lineage(&[&onbuild]);
    let sent = raw_build(
        &d.sock,
        &direct(&owner, &[("nocache", "1")]),
        &creds,
        &as_sent(&dockerfile, &owner),
    );
    sent.built("pulled ONBUILD base, direct");
    assert_says(&sent.stream(), &["Executing 1 build trigger"], "direct");
    env.assert_unowned_made(
        &env.made_since(&[&onbuild], &before),
        "pulled ONBUILD base, direct",
    );
    d.remove_tree(&ids(&[&onbuild]));
    env.assert_absent(&onbuild.id, "before the gateway's pull");
    let sent = raw_build(
        &env.gw.sock,
        &query(&[("nocache", "1")]),
        &creds,
        &dockerfile,
    );
    let why = sent.refused("pulled ONBUILD base, through the gateway");
    assert_says(
        &why,
        &[&onbuild_name, "ONBUILD", "RUN echo trigger > /trigger"],
        "pulled ONBUILD base",
    );
    assert_eq!(
        d.image_id(&onbuild_name).as_deref(),
        Some(onbuild.id.as_str()),
        "the gateway pulled the base to check it"
    );
    let made = env.made_since(&[&onbuild], &Lineage::default());
    assert!(made.is_empty(), "the refused build made {made:?}");

    // A clean base, with the credentials as raw X-Registry-Config.
    let dockerfile = format!("FROM {base_name}\nRUN echo built > /built\n");
    let tag = unique("buildgate-integrity/pulled");
    let sent = raw_build(
        &env.gw.sock,
        &query(&[("nocache", "1"), ("t", &tag)]),
        &creds,
        &dockerfile,
    );
    let id = sent.built("pulled clean base, through the gateway");
    assert_says(
        &sent.stream(),
        &["Successfully tagged"],
        "pulled clean base",
    );
    assert_eq!(d.image_id(&base_name).as_deref(), Some(first.id.as_str()));
    assert!(
        history(d, &id).contains(&first.id),
        "the result's history lacks the pulled base {}",
        first.id
    );
    env.assert_clean(
        &env.made_since(&[&first], &Lineage::default()),
        "pulled clean base",
    );

    // The same from each CLI, logged in through the gateway with a private config.
    let dir = context_dir(&dockerfile);
    for cli in clis() {
        let what = format!("pulled clean base, CLI {}", cli.version);
        d.remove_tree(&ids(&[&first]));
        env.assert_absent(&first.id, &what);
        let private = tempfile::tempdir().expect("temp dir");
        let config_dir = private
            .path()
            .to_str()
            .expect("UTF-8 temp path")
            .to_string();
        env.via_gateway(&cli)
            .env("DOCKER_CONFIG", &config_dir)
            .args([
                "login",
                "--username",
                &registry.user,
                "--password-stdin",
                &registry.addr,
            ])
            .stdin(registry.password.clone())
            .run()
            .ok();
        let tag = unique("buildgate-integrity/pulled");
        env.via_gateway(&cli)
            .env("DOCKER_CONFIG", &config_dir)
            .args(["build", "--rm=false", "--force-rm=false", "-t", &tag])
            .args([path_str(&dir)])
            .run()
            .ok();
        let id = d
            .image_id(&tag)
            .unwrap_or_else(|| panic!("{what}: no {tag}"));
        assert!(
            history(d, &id).contains(&first.id),
            "{what}: the result's history lacks the pulled base {}",
            first.id
        );
        env.assert_clean(&env.made_since(&[&first], &Lineage::default()), &what);
    }

    // pull=1 with a stale local copy: the registry has `second` under the name, the
    // daemon still `first`.
    d.tag(&second.id, &base_repo, "v1");
    d.push(&base_repo, "v1", &registry.auth());
    let stale = || d.tag(&first.id, &base_repo, "v1");
    let from = |id: &str, what: &str| {
        let h = history(d, id);
        if h.contains(&second.id) && !h.contains(&first.id) {
            "registry"
        } else if h.contains(&first.id) && !h.contains(&second.id) {
            "local"
        } else {
            panic!("{what}: the history {h:?} holds neither base alone")
        }
    };
    for pull in ["0", "1"] {
        stale();
        let sent = raw_build(
            &d.sock,
            &direct(&owner, &[("nocache", "1"), ("pull", pull)]),
            &creds,
            &as_sent(&dockerfile, &owner),
        );
        let daemon_used = from(&sent.built(&format!("pull={pull}, direct")), "direct");
        stale();
        let before = env.lineage(&[&first, &second]);
        let sent = raw_build(
            &env.gw.sock,
            &query(&[("nocache", "1"), ("pull", pull)]),
            &creds,
            &dockerfile,
        );
        let gateway_used = from(
            &sent.built(&format!("pull={pull}, through the gateway")),
            "gateway",
        );
        assert_eq!(
            (pull, gateway_used),
            (pull, daemon_used),
            "the gateway built from another base than the daemon would"
        );
        assert_eq!(
            daemon_used,
            if pull == "1" { "registry" } else { "local" },
            "pull={pull}"
        );
        // Pinned: the daemon was told the ID of the image the gateway pulled or found.
        let pinned = if pull == "1" { &second.id } else { &first.id };
        assert_says(
            &sent.stream(),
            &[&format!("FROM {pinned}")],
            &format!("pull={pull}"),
        );
        env.assert_clean(
            &env.made_since(&[&first, &second], &before),
            &format!("pull={pull}"),
        );
    }
}

// ======================================================================== 5. cache poisoning

/// Plants, on `base`, a child whose *creating container* matches the gateway's owner
/// `LABEL` step (the classic builder's cache compares only that: the Cmd the builder
/// records for a `LABEL` step, and the labels) and whose *config* says `owner=evil`.
fn plant(env: &Env, base: &str) -> String {
    let owner = env.owner();
    let container = env.daemon.create_container(&json!({
        "Image": base,
        "Cmd": ["/bin/sh", "-c", "#(nop) ", format!("LABEL {OWNER_KEY}={owner}")],
        "Labels": { OWNER_KEY: owner },
    }));
    env.daemon.commit(&container, &["LABEL owner=evil"])
}

/// Case 5, the cache-poisoning sequence: images planted for both owner `LABEL` steps
/// (the one after `FROM` and the one from `labels=`). Straight on the daemon, with each
/// CLI, the gateway's own Dockerfile uses the cache twice and tags the planted
/// `owner=evil` image; through the gateway the build fails with an error that says the
/// result lacks the owner, nothing is tagged, and the build made nothing.
#[test]
fn a_poisoned_local_cache_is_refused() {
    let env = or_skip!(Env::start());
    let owner = env.owner().to_string();
    for cli in clis() {
        let what = format!("CLI {}", cli.version);
        let base = env.base(&[]);
        let p1 = plant(&env, &base.id);
        let p2 = plant(&env, &p1);

        let direct_dir = context_dir(&as_sent(&format!("FROM {}\n", base.id), &owner));
        let victim = unique("buildgate-integrity/victim");
        let out = env
            .direct(&cli)
            .args([
                "build",
                "--label",
                &format!("{OWNER_KEY}={owner}"),
                "-t",
                &victim,
            ])
            .args([path_str(&direct_dir)])
            .run()
            .ok();
        assert_eq!(
            out.stdout.matches("Using cache").count(),
            2,
            "{what}, direct: {out}"
        );
        assert_eq!(
            env.daemon.image_id(&victim),
            Some(p2.clone()),
            "{what}, direct"
        );
        assert_eq!(
            env.daemon
                .image_labels(&victim)
                .get(OWNER_KEY)
                .map(String::as_str),
            Some("evil"),
            "{what}, direct: the tagged image"
        );

        let dir = context_dir(&format!("FROM {}\n", base.id));
        let victim = unique("buildgate-integrity/victim");
        env.assert_absent(&victim, &what);
        let before = env.lineage(&[&base]);
        let out = env
            .via_gateway(&cli)
            .args(["build", "--rm=false", "--force-rm=false", "-t", &victim])
            .args([path_str(&dir)])
            .run()
            .failed();
        assert_eq!(
            out.stdout.matches("Using cache").count(),
            2,
            "{what}: {out}"
        );
        let all = format!("{}{}", out.stdout, out.stderr);
        assert_says(
            &all,
            &[
                short(&p2),
                &format!("does not carry {OWNER_KEY}={owner}"),
                "nothing was tagged",
            ],
            &what,
        );
        assert!(!all.contains("Successfully tagged"), "{what}: {out}");
        env.assert_absent(&victim, &what);
        let made = env.made_since(&[&base], &before);
        assert!(made.is_empty(), "{what}: the refused build made {made:?}");
    }
}

/// Case 5, with the planted image below the result: one planted image for the owner
/// `LABEL` after `FROM`, then a `RUN` step. Straight on the daemon the result's history
/// holds the `owner=evil` image; through the gateway the check walks down to the base
/// of the stage that made the result and refuses it: with the planted image alone, when
/// another stage of the same Dockerfile starts from the planted image (so the gateway
/// pinned it too: it must not end the walk), and when the result's stage builds on
/// the poisoned stage (`FROM <stage>`).
#[test]
fn a_poisoned_cache_below_the_result_is_refused() {
    let env = or_skip!(Env::start());
    let owner = env.owner().to_string();

    let base = env.base(&[]);
    let planted = plant(&env, &base.id);
    let dockerfile = format!(
        "FROM {planted} AS decoy\nRUN true\nFROM {}\nRUN echo built > /built\n",
        base.id
    );
    let sent = raw_build(
        &env.daemon.sock,
        &direct(&owner, &[]),
        &[],
        &as_sent(&dockerfile, &owner),
    );
    let id = sent.built("planted below the result, direct");
    assert!(
        history(&env.daemon, &id).contains(&planted),
        "direct: the result's history lacks the planted {planted}"
    );

    // What each variant is, and its Dockerfile from (planted, base).
    type Variant = (&'static str, fn(&str, &str) -> String);
    let variants: [Variant; 3] = [
        ("alone", |_, base| {
            format!("FROM {base}\nRUN echo built > /built\n")
        }),
        (
            "with a stage that starts from the planted image",
            |planted, base| {
                format!("FROM {planted} AS decoy\nRUN true\nFROM {base}\nRUN echo built > /built\n")
            },
        ),
        (
            "through a stage reference, with that stage too",
            |planted, base| {
                format!(
                    "FROM {planted} AS decoy\nRUN true\nFROM {base} AS one\nRUN echo one > /one\n\
                 FROM one\nRUN echo built > /built\n"
                )
            },
        ),
    ];
    for (what, dockerfile) in variants {
        let base = env.base(&[]);
        let planted = plant(&env, &base.id);
        let dockerfile = dockerfile(&planted, &base.id);
        let tag = unique("buildgate-integrity/victim");
        let before = env.lineage(&[&base]);
        let sent = raw_build(&env.gw.sock, &query(&[("t", &tag)]), &[], &dockerfile);
        assert_says(&sent.stream(), &["Using cache"], what);
        let why = sent.refused(what);
        assert_says(
            &why,
            &[
                short(&planted),
                &format!("does not carry {OWNER_KEY}={owner}"),
            ],
            what,
        );
        env.assert_absent(&tag, what);
        let bad = env.unowned(&env.made_since(&[&base], &before));
        assert!(bad.is_empty(), "{what}: the build made unowned {bad:?}");
    }
}

/// The check's walk down the result's history, where nothing is poisoned: through a
/// stage reference down to the first stage's base, and from `scratch` to the very
/// first step. Both pass and are tagged.
#[test]
fn the_check_follows_stage_references_and_scratch() {
    let env = or_skip!(Env::start());
    let base = env.base(&[]);

    let tag = unique("buildgate-integrity/staged");
    let before = env.lineage(&[&base]);
    let sent = raw_build(
        &env.gw.sock,
        &query(&[("nocache", "1"), ("t", &tag)]),
        &[],
        &format!(
            "FROM {} AS one\nRUN echo one > /one\nFROM one\nRUN test -f /one\n",
            base.name
        ),
    );
    let id = sent.built("FROM <stage>");
    assert_eq!(env.daemon.image_id(&tag).as_deref(), Some(id.as_str()));
    assert!(history(&env.daemon, &id).contains(&base.id));
    env.assert_clean(&env.made_since(&[&base], &before), "FROM <stage>");

    let tag = unique("buildgate-integrity/scratch");
    let sent = raw_build(
        &env.gw.sock,
        &query(&[("nocache", "1"), ("t", &tag)]),
        &[],
        "FROM scratch\nCOPY Dockerfile /Dockerfile\n",
    );
    let id = sent.built("FROM scratch");
    // Built on nothing of this test's: its own images go with it.
    env.adopt(&id);
    assert_eq!(env.daemon.image_id(&tag).as_deref(), Some(id.as_str()));
    let steps = env.daemon.history(&id);
    assert!(steps.len() >= 2, "FROM scratch: {steps:?}");
    for step in steps {
        let step = step.expect("every step of a build from scratch is on the daemon");
        common::assert_owned(&env.daemon, env.owner(), &step);
    }
}

// ======================================================================== 6. cachefrom

/// Case 6: `cachefrom` naming a planted image. The classic builder matches a
/// `cachefrom` image on its history's `CreatedBy` text alone, so an image built
/// straight on the daemon with `RUN #(nop)  LABEL owner=<owner>` twice (a shell
/// comment, recorded exactly as the builder records the gateway's two owner `LABEL`
/// steps) and no owner label *is* the result of the gateway's Dockerfile: straight on
/// the daemon it is tagged; through the gateway the check refuses it and nothing is
/// tagged.
#[test]
fn a_planted_cache_from_image_is_refused() {
    let env = or_skip!(Env::start());
    let owner = env.owner().to_string();
    let base = env.base(&[]);
    let planted_name = unique("buildgate-integrity/planted");
    let planted = raw_build(
        &env.daemon.sock,
        &query(&[("nocache", "1"), ("t", &planted_name)]),
        &[],
        &format!(
            "FROM {}\nRUN #(nop)  LABEL {OWNER_KEY}={owner}\nRUN #(nop)  LABEL {OWNER_KEY}={owner}\n",
            base.id
        ),
    )
    .built("the planted image");
    assert_eq!(
        env.daemon.image_labels(&planted).get(OWNER_KEY),
        None,
        "the planted image must be unowned"
    );
    let cachefrom = json!([planted_name]).to_string();
    let dockerfile = format!("FROM {}\n", base.id);

    let victim = unique("buildgate-integrity/victim");
    let sent = raw_build(
        &env.daemon.sock,
        &direct(&owner, &[("cachefrom", &cachefrom), ("t", &victim)]),
        &[],
        &as_sent(&dockerfile, &owner),
    );
    let id = sent.built("cachefrom, direct");
    assert_eq!(sent.stream().matches("Using cache").count(), 2, "direct");
    assert_eq!(id, planted, "direct: the result is the planted image");
    assert_eq!(env.daemon.image_id(&victim), Some(planted.clone()));

    let victim = unique("buildgate-integrity/victim");
    let before = env.lineage(&[&base]);
    let sent = raw_build(
        &env.gw.sock,
        &query(&[("cachefrom", &cachefrom), ("t", &victim)]),
        &[],
        &dockerfile,
    );
    let why = sent.refused("cachefrom, through the gateway");
    assert_says(
        &why,
        &[
            short(&planted),
            &format!("does not carry {OWNER_KEY}={owner}"),
        ],
        "cachefrom",
    );
    assert!(!sent.stream().contains("Successfully tagged"));
    env.assert_absent(&victim, "cachefrom");
    let made = env.made_since(&[&base], &before);
    let bad = env.unowned(&made);
    assert!(bad.is_empty(), "cachefrom: the build made unowned {bad:?}");
}

// ======================================================================== 7. the cache still works

/// Case 7: pinning and checking do not cost ordinary builds their cache. With each CLI,
/// the second identical build through the gateway (same owner, cache on) uses the cache
/// for every step after `FROM`, passes the check, and gets its tag, on the image the
/// first build made.
#[test]
fn ordinary_builds_still_use_the_cache() {
    let env = or_skip!(Env::start());
    for cli in clis() {
        let what = format!("CLI {}", cli.version);
        let base = env.base(&[]);
        let dir = context_dir(&format!(
            "FROM {}\nRUN echo one > /one\nENV A=1\n",
            base.name
        ));
        let build = |tag: &str| {
            env.via_gateway(&cli)
                .args(["build", "--rm=false", "--force-rm=false", "-t", tag])
                .args([path_str(&dir)])
                .run()
                .ok()
        };
        let first_tag = unique("buildgate-integrity/cached");
        let before = env.lineage(&[&base]);
        let first = build(&first_tag);
        assert!(!first.stdout.contains("Using cache"), "{what}: {first}");
        env.assert_clean(&env.made_since(&[&base], &before), &what);

        let second_tag = unique("buildgate-integrity/cached");
        let before = env.lineage(&[&base]);
        let second = build(&second_tag);
        let steps: Vec<&str> = second.stdout.split("Step ").skip(1).collect();
        // FROM, the gateway's LABEL, RUN, ENV, the labels= LABEL.
        assert_eq!(steps.len(), 5, "{what}: {second}");
        for step in &steps[1..] {
            assert!(
                step.contains("Using cache"),
                "{what}: a step after FROM was not cached: {step:?}\n{second}"
            );
        }
        assert_says(
            &second.stdout,
            &[&format!("Successfully tagged {second_tag}:latest")],
            &what,
        );
        let id = env.daemon.image_id(&second_tag);
        assert!(id.is_some(), "{what}: no {second_tag}");
        assert_eq!(
            id,
            env.daemon.image_id(&first_tag),
            "{what}: the same image"
        );
        common::assert_owned(&env.daemon, env.owner(), &second_tag);
        let made = env.made_since(&[&base], &before);
        assert!(made.is_empty(), "{what}: the cached build made {made:?}");
    }
}
