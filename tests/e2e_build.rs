//! End-to-end tests of legitimate builds through the gateway: the real `buildgate`
//! binary in front of a real dockerd (see `tests/common/mod.rs` and `scripts/test.sh`),
//! driven by the docker CLIs (28.x and Debian's 20.10), docker-py and raw HTTP.
//!
//! Every build runs with the classic builder and `nocache=1&rm=0&forcerm=0`, so each
//! intermediate container stays behind to be inspected. After each build the test
//! checks that **every container and every image the build made** carries
//! `owner=<owner>` (the gateway's unique `--owner`), and that the build made exactly as
//! many of each as its Dockerfile implies, so no check can pass by finding nothing.
//!
//! # What "the build made" means here
//!
//! Builds are serialised by [`BUILD_LOCK`] (tests run as parallel threads of this one
//! binary); around each build the test lists every container and image on the daemon
//! (`all=1`, which includes intermediate images) and takes the difference. Every new
//! object is attributed to the build when the build's output names it (`Running in
//! <id>`, ` ---> <id>`), when it carries this gateway's owner value, or through the
//! daemon's own lineage (an image's `Parent` and `Container`, a container's `Image`),
//! repeated to a fixpoint. Under `CI=true` nothing else uses the private daemon, so a
//! new object that is *not* attributed fails the test too; run by hand against a daemon
//! that other work shares, such objects are reported and left alone.
//!
//! # The count rule (verified against dockerd 20.10's classic builder)
//!
//! With `rm=0` the classic builder leaves one container per instruction after a `FROM`
//! that it commits through a container (`RUN`, `ENV`, `LABEL`, `ARG`, `WORKDIR`, `CMD`,
//! ...), but none for `COPY`/`ADD` (it writes that layer straight into an image), and
//! one image per instruction after a `FROM`, `COPY` included. A non-empty `labels`
//! parameter becomes one more `LABEL` step at the end of the last stage. Through the
//! gateway, which adds `LABEL owner=...` after every `FROM` and always sends `labels`:
//!
//! ```text
//! containers = committed + froms + 1
//! images     = committed + copies + froms + 1
//! ```
//!
//! `BUILDGATE_TEST_BUILD_DIRECT=1` runs the same builds straight against the daemon (no
//! gateway, no owner checks; there the extra terms are 0, and 1 only when the client
//! sends labels): that is how the fixtures and the rule were calibrated, and how to tell
//! a daemon change from a gateway bug when a count is off.

#[macro_use]
mod common;

use common::ustar::Tar;
use common::{Cli, Daemon, Docker, Gateway, Rng, http, in_ci, labels, new_cli, old_cli, unique};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

/// The fixtures: one context directory per case.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/e2e/build");

/// The gateway's default `--owner-label`.
const OWNER_KEY: &str = "owner";

/// Every raw HTTP build sends these.
const BUILD_QUERY: &str = "nocache=1&rm=0&forcerm=0";

/// Every CLI build starts with these.
const CLI_BUILD: [&str; 4] = ["build", "--no-cache", "--rm=false", "--force-rm=false"];

/// How long one CLI build may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Held around every build and the listings before and after it.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn fixture_str(name: &str) -> String {
    fixture(name).to_str().expect("UTF-8 path").to_string()
}

// ------------------------------------------------------------------------ expectations

/// What a Dockerfile implies the classic builder makes (see the module docs).
#[derive(Clone, Copy, Debug)]
struct Steps {
    /// `FROM` instructions.
    froms: usize,
    /// Instructions after a `FROM` committed through a container (`RUN`, `ENV`, ...).
    committed: usize,
    /// `COPY` and `ADD`: an image each, no container.
    copies: usize,
}

const fn steps(froms: usize, committed: usize, copies: usize) -> Steps {
    Steps {
        froms,
        committed,
        copies,
    }
}

// ------------------------------------------------------------------------ harness

/// A gateway in front of the test daemon (or, in direct mode, the daemon itself).
struct Harness {
    daemon: Daemon,
    gw: Option<Gateway>,
    /// `unix://…` the clients talk to.
    host: String,
    /// Its socket path.
    sock: PathBuf,
}

fn direct_mode() -> bool {
    std::env::var("BUILDGATE_TEST_BUILD_DIRECT").is_ok_and(|v| v == "1")
}

impl Harness {
    fn start() -> Option<Harness> {
        let daemon_host = common::docker_host()?;
        let daemon = Daemon::new(&daemon_host);
        assert!(
            daemon.inspect_image(common::IMAGE).is_some(),
            "the base image {} is missing on {daemon_host}: run scripts/base-image.sh",
            common::IMAGE
        );
        if direct_mode() {
            eprintln!("BUILDGATE_TEST_BUILD_DIRECT=1: building straight on the daemon");
            return Some(Harness {
                host: daemon_host,
                sock: daemon.sock.clone(),
                daemon,
                gw: None,
            });
        }
        let gw = Gateway::start(&daemon_host, &[]);
        Some(Harness {
            host: gw.host(),
            sock: gw.sock.clone(),
            daemon,
            gw: Some(gw),
        })
    }

    /// The owner value every object must carry (`None` in direct mode).
    fn owner(&self) -> Option<&str> {
        self.gw.as_ref().map(|g| g.owner.as_str())
    }

    fn docker(&self, cli: &Cli) -> Docker {
        Docker::new(cli, &self.host).timeout(BUILD_TIMEOUT)
    }

    /// Containers and images the daemon has now.
    fn snapshot(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        (
            self.daemon.ids("/containers/json?all=1"),
            self.daemon.ids("/images/json?all=1"),
        )
    }

    /// Run one build (`run` returns its output, or why it failed), find everything it
    /// made, and register it all for removal. Asserts the build succeeded, after the
    /// bookkeeping so that a failed build is cleaned up too.
    fn build(
        &self,
        what: &str,
        client_labels: &[&str],
        run: impl FnOnce() -> Result<String, String>,
    ) -> Built {
        let (result, before, after) = {
            let _lock = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let before = self.snapshot();
            let result = run();
            let after = self.snapshot();
            (result, before, after)
        };
        let output = match &result {
            Ok(o) => o.clone(),
            Err(e) => e.clone(),
        };
        let mut built = Built {
            what: what.to_string(),
            daemon: self.daemon.clone(),
            owner: self.owner().map(str::to_string),
            client_labels: client_labels.iter().map(|k| k.to_string()).collect(),
            output,
            containers: BTreeMap::new(),
            images: BTreeMap::new(),
            foreign_containers: BTreeMap::new(),
            foreign_images: BTreeMap::new(),
        };
        built.attribute(&after.0 - &before.0, &after.1 - &before.1);
        if let Err(e) = result {
            panic!("{what}: the build failed:\n{e}");
        }
        built
    }

    /// A build with one of the docker CLIs; `args` follow [`CLI_BUILD`].
    fn cli_build(&self, cli: &Cli, what: &str, args: &[&str], stdin: Option<&[u8]>) -> Built {
        let client_labels: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--label")
            .map(|w| w[1].split('=').next().unwrap_or_default())
            .collect();
        let mut cmd = self.docker(cli).args(CLI_BUILD).args(args);
        if let Some(data) = stdin {
            cmd = cmd.stdin(data.to_vec());
        }
        self.build(
            &format!("{what} (docker {})", cli.version),
            &client_labels,
            || {
                let out = cmd.run();
                if out.success() {
                    Ok(format!("{}\n{}", out.stdout, out.stderr))
                } else {
                    Err(out.to_string())
                }
            },
        )
    }

    /// A build sent as raw HTTP: `POST /v1.41/build?<BUILD_QUERY>&<query>` with `body`,
    /// and `labels=` when `client_labels` is not empty.
    fn raw_build(
        &self,
        what: &str,
        query: &str,
        client_labels: &[(&str, &str)],
        body: &[u8],
    ) -> Built {
        let mut query = format!("{BUILD_QUERY}&{query}");
        if !client_labels.is_empty() {
            query += &format!("&{}", labels_query(client_labels));
        }
        let keys: Vec<&str> = client_labels.iter().map(|(k, _)| *k).collect();
        self.build(what, &keys, || raw_build(&self.sock, &query, body))
    }
}

/// `POST /v1.41/build` over a unix socket; Ok(the stream text) when the daemon reported
/// success, Err(everything) otherwise.
fn raw_build(sock: &Path, query: &str, body: &[u8]) -> Result<String, String> {
    let r = http::request(
        sock,
        "POST",
        &format!("/v1.41/build?{query}"),
        &[("Content-Type", "application/x-tar")],
        body,
    )
    .map_err(|e| format!("POST /build: {e}"))?;
    if r.status != 200 {
        return Err(format!(
            "POST /build: {} {}: {}",
            r.status,
            r.reason,
            r.text()
        ));
    }
    let mut stream = String::new();
    for line in r.text().lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("a build response line is not JSON ({e}): {line:?}"))?;
        if v.get("error").is_some() || v.get("errorDetail").is_some() {
            return Err(format!("the build reported an error: {line}\n{}", r.text()));
        }
        if let Some(s) = v["stream"].as_str() {
            stream.push_str(s);
        }
    }
    Ok(stream)
}

/// Everything one build made, with the daemon's inspect output for each object;
/// removes it all on drop.
struct Built {
    what: String,
    daemon: Daemon,
    owner: Option<String>,
    /// Keys of the labels the client asked for.
    client_labels: BTreeSet<String>,
    /// What the client printed (CLI stdout and stderr, or the HTTP stream text).
    output: String,
    /// id → inspect, attributed to this build.
    containers: BTreeMap<String, Value>,
    images: BTreeMap<String, Value>,
    /// New objects that could not be attributed to this build.
    foreign_containers: BTreeMap<String, Value>,
    foreign_images: BTreeMap<String, Value>,
}

/// Short hex ids that follow `marker` in the build output.
fn ids_after(output: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in output.match_indices(marker) {
        let id: String = output[i + marker.len()..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        if id.len() >= 12 {
            out.push(id);
        }
    }
    out
}

fn hex_of(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

impl Built {
    fn attribute(&mut self, new_containers: BTreeSet<String>, new_images: BTreeSet<String>) {
        let mut cs: BTreeMap<String, Value> = BTreeMap::new();
        for id in &new_containers {
            // Gone already (someone else's short-lived container): not ours to judge.
            if let Some(v) = self.daemon.inspect_container(id) {
                cs.insert(id.clone(), v);
            }
        }
        let mut is: BTreeMap<String, Value> = BTreeMap::new();
        for id in &new_images {
            if let Some(v) = self.daemon.inspect_image(id) {
                is.insert(id.clone(), v);
            }
        }

        let mut mine_c: BTreeSet<String> = BTreeSet::new();
        let mut mine_i: BTreeSet<String> = BTreeSet::new();
        // Seeds: what the build's own output names ...
        let named: Vec<String> = [
            "Running in ",
            " ---> ",
            "Successfully built ",
            "IMAGE sha256:",
        ]
        .iter()
        .flat_map(|m| ids_after(&self.output, m))
        .collect();
        for short in &named {
            mine_c.extend(
                cs.keys()
                    .filter(|id| id.starts_with(short.as_str()))
                    .cloned(),
            );
            mine_i.extend(
                is.keys()
                    .filter(|id| hex_of(id).starts_with(short.as_str()))
                    .cloned(),
            );
        }
        // ... and whatever carries this gateway's unique owner value.
        if let Some(owner) = &self.owner {
            let has_owner = |v: &Value| labels(v).get(OWNER_KEY) == Some(owner);
            mine_c.extend(
                cs.iter()
                    .filter(|(_, v)| has_owner(v))
                    .map(|(k, _)| k.clone()),
            );
            mine_i.extend(
                is.iter()
                    .filter(|(_, v)| has_owner(v))
                    .map(|(k, _)| k.clone()),
            );
        }
        // Then the daemon's lineage, to a fixpoint.
        loop {
            let before = (mine_c.len(), mine_i.len());
            for (id, v) in &is {
                let parent = v["Parent"].as_str().unwrap_or_default().to_string();
                let container = v["Container"].as_str().unwrap_or_default().to_string();
                if mine_i.contains(id) {
                    if is.contains_key(&parent) {
                        mine_i.insert(parent.clone());
                    }
                    if cs.contains_key(&container) {
                        mine_c.insert(container.clone());
                    }
                } else if mine_i.contains(&parent) || mine_c.contains(&container) {
                    mine_i.insert(id.clone());
                }
            }
            for (id, v) in &cs {
                let image = v["Image"].as_str().unwrap_or_default().to_string();
                if mine_c.contains(id) {
                    if is.contains_key(&image) {
                        mine_i.insert(image);
                    }
                } else if mine_i.contains(&image) {
                    mine_c.insert(id.clone());
                }
            }
            if (mine_c.len(), mine_i.len()) == before {
                break;
            }
        }
        for (id, v) in cs {
            if mine_c.contains(&id) {
                self.containers.insert(id, v);
            } else {
                self.foreign_containers.insert(id, v);
            }
        }
        for (id, v) in is {
            if mine_i.contains(&id) {
                self.images.insert(id, v);
            } else {
                self.foreign_images.insert(id, v);
            }
        }
    }

    fn describe_container(id: &str, v: &Value) -> String {
        format!(
            "container {} cmd={} image={} labels={:?}",
            &id[..12.min(id.len())],
            v["Config"]["Cmd"],
            v["Image"].as_str().unwrap_or_default(),
            labels(v)
        )
    }

    fn describe_image(id: &str, v: &Value) -> String {
        format!(
            "image {} tags={} parent={} labels={:?}",
            &hex_of(id)[..12],
            v["RepoTags"],
            v["Parent"].as_str().unwrap_or_default(),
            labels(v)
        )
    }

    fn context(&self) -> String {
        let mut s = format!("--- build output:\n{}\n--- attributed:\n", self.output);
        for (id, v) in &self.containers {
            s += &format!("  {}\n", Self::describe_container(id, v));
        }
        for (id, v) in &self.images {
            s += &format!("  {}\n", Self::describe_image(id, v));
        }
        s
    }

    /// The core check: the build's output, the counts the Dockerfile implies, and the
    /// owner label on every container and image the build made.
    #[track_caller]
    fn check(&self, steps: Steps) {
        let what = &self.what;
        let ctx = self.context();
        assert!(
            self.output.contains("Successfully built "),
            "{what}: the client did not get the build's stream\n{ctx}"
        );

        if !self.foreign_containers.is_empty() || !self.foreign_images.is_empty() {
            let mut s = String::new();
            for (id, v) in &self.foreign_containers {
                s += &format!("  {}\n", Self::describe_container(id, v));
            }
            for (id, v) in &self.foreign_images {
                s += &format!("  {}\n", Self::describe_image(id, v));
            }
            if in_ci() {
                panic!(
                    "{what}: new objects on the daemon that the build cannot be told apart from \
                     (under CI=true nothing else uses this daemon):\n{s}{ctx}"
                );
            }
            eprintln!("{what}: ignoring new objects made by something else on this daemon:\n{s}");
        }

        // The count rule (module docs).
        let mut label_keys = self.client_labels.clone();
        let mut extra_from = 0;
        if self.owner.is_some() {
            label_keys.insert(OWNER_KEY.to_string());
            extra_from = steps.froms;
        }
        let extra_labels = label_keys.len();
        let want_containers = steps.committed + extra_from + extra_labels;
        let want_images = steps.committed + steps.copies + extra_from + extra_labels;
        let running = ids_after(&self.output, "Running in ").len();
        assert_eq!(
            running, want_containers,
            "{what}: `Running in` lines in the output (want {steps:?})\n{ctx}"
        );
        assert_eq!(
            self.containers.len(),
            want_containers,
            "{what}: containers the build left (want {steps:?})\n{ctx}"
        );
        assert_eq!(
            self.images.len(),
            want_images,
            "{what}: images the build made (want {steps:?})\n{ctx}"
        );

        let Some(owner) = &self.owner else { return };
        let mut bad = Vec::new();
        for (id, v) in &self.containers {
            if labels(v).get(OWNER_KEY) != Some(owner) {
                bad.push(Self::describe_container(id, v));
            }
        }
        for (id, v) in &self.images {
            if labels(v).get(OWNER_KEY) != Some(owner) {
                bad.push(Self::describe_image(id, v));
            }
        }
        assert!(
            bad.is_empty(),
            "{what}: objects without {OWNER_KEY}={owner}:\n  {}\n{ctx}",
            bad.join("\n  ")
        );
    }

    /// The image `tag` names: it must be one this build made. Returns its labels.
    #[track_caller]
    fn tagged(&self, tag: &str) -> BTreeMap<String, String> {
        let v = self
            .daemon
            .inspect_image(tag)
            .unwrap_or_else(|| panic!("{}: no image tagged {tag}\n{}", self.what, self.context()));
        let id = v["Id"].as_str().unwrap().to_string();
        assert!(
            self.images.contains_key(&id),
            "{}: {tag} is {id}, not an image this build made\n{}",
            self.what,
            self.context()
        );
        labels(&v)
    }

    /// The final image, as `Successfully built <id>` names it.
    #[track_caller]
    fn final_image(&self) -> &Value {
        let short = ids_after(&self.output, "Successfully built ")
            .pop()
            .unwrap_or_else(|| {
                panic!("{}: no `Successfully built`\n{}", self.what, self.context())
            });
        let (_, v) = self
            .images
            .iter()
            .find(|(id, _)| hex_of(id).starts_with(&short))
            .unwrap_or_else(|| {
                panic!(
                    "{}: final image {short} not found\n{}",
                    self.what,
                    self.context()
                )
            });
        v
    }

    /// Final-image labels beyond the owner's, checked exactly for the keys given.
    #[track_caller]
    fn assert_final_labels(&self, want: &[(&str, &str)]) {
        let got = labels(self.final_image());
        for (k, v) in want {
            assert_eq!(
                got.get(*k).map(String::as_str),
                Some(*v),
                "{}: final image label {k} (all: {got:?})\n{}",
                self.what,
                self.context()
            );
        }
        if let Some(owner) = &self.owner {
            assert_eq!(
                got.get(OWNER_KEY),
                Some(owner),
                "{}: final owner",
                self.what
            );
        }
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        let mut containers: Vec<&String> = self.containers.keys().collect();
        let mut images: Vec<&String> = self.images.keys().collect();
        // Under CI nothing else uses the daemon: what could not be attributed is ours too.
        if in_ci() {
            containers.extend(self.foreign_containers.keys());
            images.extend(self.foreign_images.keys());
        }
        for c in containers {
            self.daemon.remove_container(c);
        }
        let left = self.daemon.remove_images(images);
        if !left.is_empty() {
            eprintln!("{}: could not remove images {left:?}", self.what);
        }
    }
}

fn tag() -> String {
    format!("bgt-build/{}:t", unique("img"))
}

// ------------------------------------------------------------------------ tar and compression

/// `dir`'s contents as a tar (sorted, names starting `prefix`: `""` or `"./"`; with
/// `"./"` the root itself comes first as `./`, like `tar -C dir -cf - ./`), then the
/// end of the archive.
fn tar_dir(dir: &Path, prefix: &str) -> Vec<u8> {
    fn add(mut tar: Tar, dir: &Path, prefix: &str) -> Tar {
        if !prefix.is_empty() {
            tar = tar.dir(prefix);
        }
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let name = format!("{prefix}{}", p.file_name().unwrap().to_str().unwrap());
            tar = if p.is_dir() {
                add(tar, &p, &format!("{name}/"))
            } else {
                tar.file(&name, &fs::read(&p).unwrap())
            };
        }
        tar
    }
    add(Tar::new(), dir, prefix).end().bytes()
}

/// Compress with the crate's own async-compression encoders.
fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    use async_compression::tokio::write::{BzEncoder, GzipEncoder, XzEncoder, ZstdEncoder};
    use tokio::io::{AsyncWrite, AsyncWriteExt};
    async fn run<W: AsyncWrite + Unpin>(mut w: W, data: &[u8]) -> W {
        w.write_all(data).await.unwrap();
        w.shutdown().await.unwrap();
        w
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        match kind {
            "gzip" => run(GzipEncoder::new(Vec::new()), data).await.into_inner(),
            "bzip2" => run(BzEncoder::new(Vec::new()), data).await.into_inner(),
            "xz" => run(XzEncoder::new(Vec::new()), data).await.into_inner(),
            "zstd" => run(ZstdEncoder::new(Vec::new()), data).await.into_inner(),
            other => panic!("unknown compression {other}"),
        }
    })
}

/// 3 MiB of deterministic hex noise, so a context spans many reads and chunks (and
/// still compresses).
fn big_bin() -> Vec<u8> {
    let mut out = vec![0u8; 3 * 1024 * 1024];
    Rng::new(0x9E37_79B9_7F4A_7C15).fill(&mut out);
    out.iter()
        .map(|b| b"0123456789abcdef"[usize::from(b & 15)])
        .collect()
}

/// The `compressed` fixture copied to a temp dir with the generated big.bin beside it.
fn compressed_context() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bgt-build-ctx-")
        .tempdir()
        .unwrap();
    for f in ["Dockerfile", "payload.txt"] {
        fs::copy(fixture("compressed").join(f), dir.path().join(f)).unwrap();
    }
    fs::write(dir.path().join("big.bin"), big_bin()).unwrap();
    dir
}

fn labels_query(labels: &[(&str, &str)]) -> String {
    let obj: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    format!(
        "labels={}",
        http::escape_query(&Value::Object(obj).to_string())
    )
}

// ------------------------------------------------------------------------ tests: Dockerfile shapes

/// `docker build -t <tag> --label a=b --label owner=evil <fixture>`: checked against
/// `steps`, then the tag must be reported and name an image of this build that kept
/// `a=b` and carries the gateway's owner, not `evil`.
fn tagged_build_with_client_labels(
    h: &Harness,
    cli: &Cli,
    what: &str,
    fixture: &str,
    steps: Steps,
) {
    let t = tag();
    let b = h.cli_build(
        cli,
        what,
        &[
            "-t",
            &t,
            "--label",
            "a=b",
            "--label",
            "owner=evil",
            &fixture_str(fixture),
        ],
        None,
    );
    b.check(steps);
    assert!(
        b.output.contains(&format!("Successfully tagged {t}")),
        "tag not reported:\n{}",
        b.output
    );
    let l = b.tagged(&t);
    assert_eq!(
        l.get("a").map(String::as_str),
        Some("b"),
        "client label a=b lost: {l:?}"
    );
    if let Some(owner) = h.owner() {
        assert_eq!(
            l.get(OWNER_KEY).map(String::as_str),
            Some(owner),
            "owner=evil won: {l:?}"
        );
    }
}

/// `docker build -f sub/build.Dockerfile` of the `subdir` fixture, whose decoy
/// `./Dockerfile` would give `which=root`.
fn subdir_build(h: &Harness, cli: &Cli) {
    let b = h.cli_build(
        cli,
        "-f sub/build.Dockerfile",
        &[
            "-f",
            &fixture("subdir")
                .join("sub/build.Dockerfile")
                .to_string_lossy(),
            &fixture_str("subdir"),
        ],
        None,
    );
    // FROM; COPY, RUN, LABEL.
    b.check(steps(1, 2, 1));
    b.assert_final_labels(&[("which", "sub")]);
}

#[test]
fn single_stage_run_with_tag_and_client_labels() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    // FROM; RUN, CMD.
    tagged_build_with_client_labels(&h, &cli, "single stage", "single", steps(1, 2, 0));
}

#[test]
fn multi_stage_lowercase_from_as_and_copy_from() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let b = h.cli_build(&cli, "multi-stage", &[&fixture_str("multistage")], None);
    // from ... as build; run, workdir. From ... As final; copy --from, RUN.
    b.check(steps(2, 3, 1));
}

#[test]
fn arg_before_from_and_from_platform_variable() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let b = h.cli_build(
        &cli,
        "ARG before FROM, FROM --platform",
        &[&fixture_str("arg_platform")],
        None,
    );
    // FROM --platform=$BUILDPLATFORM $BASE AS x; ARG, ENV, RUN.
    // FROM --platform=linux/amd64 x AS y; RUN.
    b.check(steps(2, 4, 0));
    // Built from the stage x, whose ENV came from the ARG declared before the first FROM.
    let env = b.final_image()["Config"]["Env"].to_string();
    assert!(
        env.contains("FROM_ARG=buildgate-test/busybox:latest"),
        "ENV from the pre-FROM ARG: {env}\n{}",
        b.context()
    );
}

#[test]
fn from_split_over_continuation_lines_with_comments_and_blanks() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let b = h.cli_build(
        &cli,
        "FROM over continuations",
        &[&fixture_str("from_continuation")],
        None,
    );
    // FROM (over 7 lines) AS base; RUN (with a comment and a blank line inside), LABEL.
    b.check(steps(1, 2, 0));
    // Continuations join with no separator.
    b.assert_final_labels(&[("joined", "ab")]);
}

#[test]
fn escape_directive_backtick() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let b = h.cli_build(&cli, "# escape=`", &[&fixture_str("escape_backtick")], None);
    // FROM ` AS win; LABEL over two lines, RUN over two lines.
    b.check(steps(1, 2, 0));
    b.assert_final_labels(&[("path", r"C:\dir\"), ("spaced", "d e")]);
}

#[test]
fn crlf_line_endings_and_utf8_bom() {
    let raw = fs::read(fixture("crlf_bom").join("Dockerfile")).unwrap();
    assert!(
        raw.starts_with(b"\xef\xbb\xbfFROM ")
            && raw.windows(2).filter(|w| w == b"\r\n").count() == 5,
        "the crlf_bom fixture lost its BOM or CRLFs (see testdata/e2e/build/.gitattributes)"
    );
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let b = h.cli_build(&cli, "CRLF and BOM", &[&fixture_str("crlf_bom")], None);
    // FROM; ENV, RUN (continued over a CRLF), LABEL.
    b.check(steps(1, 3, 0));
    b.assert_final_labels(&[("crlf", "yes")]);
}

#[test]
fn from_scratch_with_copy_and_label() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let b = h.cli_build(&cli, "FROM scratch", &[&fixture_str("scratch")], None);
    // FROM scratch; COPY, LABEL.
    b.check(steps(1, 1, 1));
    b.assert_final_labels(&[("kind", "scratch")]);
}

// ------------------------------------------------------------------------ tests: where the Dockerfile is

#[test]
fn cli_dockerfile_in_a_subdirectory() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    subdir_build(&h, &cli);
}

#[test]
fn raw_dot_slash_prefixed_context_with_dockerfile_in_a_subdirectory() {
    let h = or_skip!(Harness::start());
    let ours = tar_dir(&fixture("subdir"), "./");
    assert!(ours.starts_with(b"./\0"), "the first entry must be ./");
    // And GNU tar's own `tar -C dir -cf - ./`, in its default (gnu) and posix formats.
    let gnu_tar = |format: &str| -> Vec<u8> {
        let out = std::process::Command::new("tar")
            .arg(format!("--format={format}"))
            .args(["-C", &fixture_str("subdir"), "-cf", "-", "./"])
            .stdin(Stdio::null())
            .output()
            .expect("run GNU tar");
        assert!(
            out.status.success(),
            "tar: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // (posix: a ./PaxHeaders/. extended header comes before ./ itself.)
        assert!(
            out.stdout.starts_with(b"./"),
            "GNU tar's names must start ./"
        );
        out.stdout
    };
    let bodies = [
        ("ustar", "sub/build.Dockerfile", ours.clone()),
        ("ustar", "./sub/build.Dockerfile", ours),
        (
            "GNU tar --format=gnu",
            "sub/build.Dockerfile",
            gnu_tar("gnu"),
        ),
        (
            "GNU tar --format=posix",
            "./sub/build.Dockerfile",
            gnu_tar("posix"),
        ),
    ];
    for (format, dockerfile, body) in bodies {
        let b = h.raw_build(
            &format!("./-prefixed {format} context, dockerfile={dockerfile}"),
            &format!("dockerfile={}", http::escape_query(dockerfile)),
            &[],
            &body,
        );
        // FROM; COPY, RUN, LABEL. The decoy ./Dockerfile would give which=root.
        b.check(steps(1, 2, 1));
        b.assert_final_labels(&[("which", "sub")]);
    }
}

#[test]
fn cli28_dockerfile_outside_the_context() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let b = h.cli_build(
        &cli,
        "-f outside the context",
        &[
            "-f",
            &fixture("outside")
                .join("build.Dockerfile")
                .to_string_lossy(),
            &fixture("outside").join("ctx").to_string_lossy(),
        ],
        None,
    );
    // FROM; COPY, RUN.
    b.check(steps(1, 1, 1));
}

#[test]
fn cli28_dockerfile_from_stdin() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let dockerfile = fs::read(fixture("stdin").join("Dockerfile")).unwrap();
    // `docker build -`: the CLI wraps the Dockerfile in a context of its own.
    let b = h.cli_build(&cli, "docker build -", &["-"], Some(&dockerfile));
    // FROM; ENV, RUN.
    b.check(steps(1, 2, 0));
    drop(b);
    // `docker build -f - DIR`: the CLI adds it to DIR's context under a random name.
    let b = h.cli_build(
        &cli,
        "docker build -f - DIR",
        &["-f", "-", &fixture_str("stdin")],
        Some(&dockerfile),
    );
    b.check(steps(1, 2, 0));
}

// ------------------------------------------------------------------------ tests: compression

#[test]
fn raw_compressed_contexts_gzip_bzip2_xz_zstd() {
    let h = or_skip!(Harness::start());
    let ctx = compressed_context();
    let plain = tar_dir(ctx.path(), "");
    for kind in ["gzip", "bzip2", "xz", "zstd"] {
        if kind == "zstd" && direct_mode() {
            // dockerd 20.10 does not read zstd contexts (it answers "unexpected EOF");
            // through the gateway, which sends plain tar, they work.
            continue;
        }
        let body = compress(kind, &plain);
        assert!(body.len() < plain.len() * 3 / 4, "{kind}: not compressed?");
        let t = tag();
        let b = h.raw_build(
            &format!("{kind} context"),
            &format!("t={}", http::escape_query(&t)),
            &[("a", "b")],
            &body,
        );
        // FROM; COPY, RUN.
        b.check(steps(1, 1, 1));
        let l = b.tagged(&t);
        assert_eq!(l.get("a").map(String::as_str), Some("b"), "{kind}: {l:?}");
    }
}

#[test]
fn cli28_compress_flag() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(new_cli());
    let ctx = compressed_context();
    let b = h.cli_build(
        &cli,
        "--compress",
        &["--compress", &ctx.path().to_string_lossy()],
        None,
    );
    b.check(steps(1, 1, 1));
}

// ------------------------------------------------------------------------ tests: other clients

#[test]
fn cli2010_builds() {
    let h = or_skip!(Harness::start());
    let cli = or_skip!(old_cli());
    tagged_build_with_client_labels(&h, &cli, "multi-stage", "multistage", steps(2, 3, 1));
    subdir_build(&h, &cli);
}

#[test]
fn docker_py_images_build() {
    let h = or_skip!(Harness::start());
    let python = docker_py_or_skip!();
    let script = fixture("docker_py_build.py");
    for gzip in ["0", "1"] {
        let t = tag();
        let b = h.build(
            &format!("docker-py images.build gzip={gzip}"),
            &["a", "owner"],
            || {
                let out = std::process::Command::new(&python)
                    .arg(&script)
                    .env("DOCKER_HOST", &h.host)
                    .env("BUILD_CONTEXT", fixture("subdir"))
                    .env("BUILD_DOCKERFILE", "sub/build.Dockerfile")
                    .env("BUILD_TAG", &t)
                    .env("BUILD_GZIP", gzip)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                let text = format!(
                    "{}\n--- stderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                if out.status.success() {
                    Ok(text)
                } else {
                    Err(text)
                }
            },
        );
        b.check(steps(1, 2, 1));
        let l = b.tagged(&t);
        assert_eq!(l.get("which").map(String::as_str), Some("sub"), "{l:?}");
        assert_eq!(l.get("a").map(String::as_str), Some("b"), "{l:?}");
        if let Some(owner) = h.owner() {
            assert_eq!(l.get(OWNER_KEY).map(String::as_str), Some(owner), "{l:?}");
        }
    }
}
