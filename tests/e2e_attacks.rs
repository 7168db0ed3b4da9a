//! Adversarial end-to-end tests: hostile build requests sent through the real `buildgate`
//! binary to a real dockerd (see `tests/common/mod.rs` and `scripts/test.sh`).
//!
//! Every attack checks one property: the build is either **refused** (a Docker-style
//! `{"message":"buildgate: ..."}` with a 4xx/5xx, or an `errorDetail` line) or **built
//! with the owner label**, and in both cases no container or image without
//! `owner=<owner>` (exact value) appears. A refused build leaves nothing at all behind.
//!
//! How: a global mutex serialises the attacks (tests in this binary run in parallel
//! threads against one daemon); around each attack the daemon's containers and images
//! (`ps -a`, `images -a`) are listed before and after, and every new id is inspected.
//! Builds use `nocache=1&rm=0&forcerm=0` so the intermediate containers stay to be
//! inspected, and every attack's Dockerfile has a `RUN`, so a working attack would leave
//! an unlabelled container behind.
//!
//! Many cases first send the very same bytes straight to the daemon (`Sanity::Must`):
//! that run must leave something without the owner label behind, which proves the
//! attack is real and that the test would fail if the gateway were a plain passthrough.
//! The same run tells which Dockerfile Go picked (each candidate Dockerfile sets
//! `LABEL picked=<name>`); when both the daemon and the gateway build, the gateway's
//! build must have used the same Dockerfile ("the gateway sees each request exactly as
//! dockerd will").
//!
//! Each test runs all the cases of one attack class and reports every failing case at
//! the end, so one run shows the whole picture.

#[macro_use]
mod common;

use common::ustar::{Header, Magic, Tar};
use common::{Daemon, Gateway, IMAGE, clis, http, labels, old_cli, wait_settled};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// Serialises attacks: the before/after snapshots must only see one build at a time.
static LOCK: Mutex<()> = Mutex::new(());

const BASE_QUERY: &str = "nocache=1&rm=0&forcerm=0";

// ======================================================================== Dockerfiles

/// A Dockerfile that makes an unlabelled container if the attack in `extra` works:
/// `FROM`, the attack lines, a `RUN`, and `LABEL picked=<picked>` telling which
/// Dockerfile the daemon built.
fn df(picked: &str, extra: &str) -> String {
    format!("FROM {IMAGE}\n{extra}\nRUN echo {picked}-ran\nLABEL picked={picked}\n")
}

fn tar_with_dockerfile(dockerfile: &str) -> Vec<u8> {
    Tar::new()
        .file("Dockerfile", dockerfile.as_bytes())
        .end()
        .bytes()
}

// ======================================================================== raw requests

/// A full HTTP/1.1 request: `target` is the request target (path and query) as sent.
fn request(target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("POST {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("content-type") {
        raw.push_str("Content-Type: application/x-tar\r\n");
    }
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `POST /v1.41/build?nocache=1&rm=0&forcerm=0&<extra>` with a tar body.
fn build_req(extra_query: &str, body: &[u8]) -> Vec<u8> {
    request(&build_target(extra_query), &[], body)
}

fn build_target(extra_query: &str) -> String {
    if extra_query.is_empty() {
        format!("/v1.41/build?{BASE_QUERY}")
    } else {
        format!("/v1.41/build?{BASE_QUERY}&{extra_query}")
    }
}

/// `body` in chunked transfer coding, `n` bytes per chunk.
fn chunked(body: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(n) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A zstd frame made of raw (stored) blocks: valid zstd any decoder must accept.
fn zstd_raw_frame(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header descriptor: no FCS, not single-segment, no checksum, no dict.
    out.push(0x00);
    // Window descriptor: 2^(10+7) = 128 KiB.
    out.push(7 << 3);
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(64 * 1024).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        let last = (i + 1 == chunks.len()) as u32;
        let h = last | ((c.len() as u32) << 3);
        out.extend_from_slice(&h.to_le_bytes()[..3]);
        out.extend_from_slice(c);
    }
    out
}

/// A zstd skippable frame holding `data`.
fn zstd_skippable(data: &[u8]) -> Vec<u8> {
    let mut out = 0x184D2A50u32.to_le_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

// ======================================================================== outcomes

#[derive(Debug, Clone)]
enum Outcome {
    /// 200 and the build finished: the final image id.
    Built(String),
    /// 4xx/5xx with a Docker-style JSON `message`.
    Refused(u16, String),
    /// 200 whose stream carries an `errorDetail`.
    StreamError(String),
    /// Anything else: non-JSON error, no response, 200 without an image...
    Weird(String),
}

impl Outcome {
    fn short(&self) -> String {
        match self {
            Outcome::Built(id) => format!("built {}", &id[..id.len().min(19)]),
            Outcome::Refused(s, m) => format!("refused {s} {m:?}"),
            Outcome::StreamError(m) => format!("errorDetail {m:?}"),
            Outcome::Weird(m) => format!("WEIRD {m}"),
        }
    }

    /// The error text, for refusals of either kind.
    fn error(&self) -> Option<&str> {
        match self {
            Outcome::Refused(_, m) | Outcome::StreamError(m) => Some(m),
            _ => None,
        }
    }
}

fn outcome(r: std::io::Result<http::Response>) -> Outcome {
    let r = match r {
        Ok(r) => r,
        Err(e) => return Outcome::Weird(format!("no response: {e}")),
    };
    if r.status >= 400 {
        return match serde_json::from_slice::<serde_json::Value>(&r.body) {
            Ok(v) if v["message"].is_string() => {
                Outcome::Refused(r.status, v["message"].as_str().unwrap().to_string())
            }
            _ => Outcome::Weird(format!(
                "{} with a non-Docker body {:?}",
                r.status,
                r.text()
            )),
        };
    }
    if r.status != 200 {
        return Outcome::Weird(format!("status {} body {:?}", r.status, r.text()));
    }
    let mut id = None;
    for line in r.body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            return Outcome::Weird(format!(
                "non-JSON line in the build stream: {:?}",
                String::from_utf8_lossy(line)
            ));
        };
        if !v["errorDetail"].is_null() || !v["error"].is_null() {
            let m = v["errorDetail"]["message"]
                .as_str()
                .or(v["error"].as_str())
                .unwrap_or_default();
            return Outcome::StreamError(m.to_string());
        }
        if let Some(i) = v["aux"]["ID"].as_str() {
            id = Some(i.to_string());
        }
        if let Some(s) = v["stream"].as_str()
            && let Some(rest) = s.strip_prefix("Successfully built ")
        {
            id.get_or_insert_with(|| rest.trim().to_string());
        }
    }
    match id {
        Some(id) => Outcome::Built(id),
        None => Outcome::Weird(format!("200 without an image id: {:?}", r.text())),
    }
}

// ======================================================================== daemon state

#[derive(Default, Debug, Clone, PartialEq)]
struct Snap {
    containers: BTreeSet<String>,
    images: BTreeSet<String>,
}

/// `docker ps -aq --no-trunc` and `docker images -aq --no-trunc`, over the API.
fn snap(d: &Daemon) -> Snap {
    Snap {
        containers: d.ids("/containers/json?all=1"),
        images: d.ids("/images/json?all=1"),
    }
}

/// What appeared between two snapshots, with the labels of each new object.
#[derive(Default, Debug)]
struct New {
    containers: Vec<(String, BTreeMap<String, String>)>,
    images: Vec<(String, BTreeMap<String, String>)>,
}

impl New {
    fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.images.is_empty()
    }

    /// Objects whose `owner` label is not exactly `owner`.
    fn unlabelled(&self, owner: &str) -> Vec<String> {
        let bad = |kind: &str, v: &Vec<(String, BTreeMap<String, String>)>| -> Vec<String> {
            v.iter()
                .filter(|(_, l)| l.get("owner").map(String::as_str) != Some(owner))
                .map(|(id, l)| format!("{kind} {} labels {l:?}", &id[..id.len().min(19)]))
                .collect()
        };
        let mut out = bad("container", &self.containers);
        out.extend(bad("image", &self.images));
        out
    }

    fn summary(&self) -> String {
        format!(
            "{} new containers, {} new images",
            self.containers.len(),
            self.images.len()
        )
    }
}

/// The labels of an object, or none if it is gone already.
fn labels_of(inspect: Option<serde_json::Value>) -> BTreeMap<String, String> {
    inspect.as_ref().map(labels).unwrap_or_default()
}

/// Other processes may use the same daemon (another test binary, another worktree):
/// their objects carry the harness's `buildgate-test` label or another gateway's
/// `owner-<pid>-…` owner. Ignore those; count everything else.
fn foreign(l: &BTreeMap<String, String>) -> bool {
    if l.contains_key("buildgate-test") {
        return true;
    }
    let mine = format!("owner-{}-", std::process::id());
    l.get("owner")
        .is_some_and(|o| o.starts_with("owner-") && !o.starts_with(&mine))
}

fn diff(d: &Daemon, before: &Snap, after: &Snap) -> New {
    let mut new = New::default();
    for id in after.containers.difference(&before.containers) {
        let l = labels_of(d.inspect_container(id));
        if !foreign(&l) {
            new.containers.push((id.clone(), l));
        }
    }
    for id in after.images.difference(&before.images) {
        let l = labels_of(d.inspect_image(id));
        if !foreign(&l) {
            new.images.push((id.clone(), l));
        }
    }
    new
}

fn remove(d: &Daemon, new: &New) {
    for (id, _) in &new.containers {
        d.remove_container(id);
    }
    d.remove_images(new.images.iter().map(|(id, _)| id));
}

/// How long the daemon must hold still after a request whose response has ended.
const SETTLED: Duration = Duration::from_millis(150);

/// The daemon once it has settled after a request (an aborted upload may still be
/// settling): no container made since `before` is running (other users' aside, see
/// [`foreign`]), and nothing has changed for `quiet`.
fn settle(d: &Daemon, before: &Snap, quiet: Duration) -> Snap {
    let busy = |id: &String| {
        !before.containers.contains(id) && !foreign(&labels_of(d.inspect_container(id)))
    };
    wait_settled(Duration::from_secs(60), quiet, || {
        let now = snap(d);
        (!d.ids("/containers/json").iter().any(busy)).then_some(now)
    })
    .unwrap_or_else(|| snap(d))
}

// ======================================================================== attacks

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Must be refused (JSON error or errorDetail saying `buildgate: ...`).
    Refuse,
    /// Must build, labelled.
    Build,
    /// Refused or built labelled; a daemon-side error is accepted too.
    Any,
    /// Several requests on one connection: only "nothing unlabelled" is checked.
    Unframed,
    /// Not HTTP/1.1 that hyper's parser accepts: hyper answers before any gateway code
    /// runs, with a bare 400 or by closing the connection (Go's net/http answers these
    /// with plain text, not JSON, too). Nothing at all may be built.
    Unparsable,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sanity {
    /// Send the same bytes to the daemon first: it must leave something unlabelled.
    Must,
    /// Send them to the daemon first for the `picked` comparison, but don't require
    /// anything of it.
    Info,
    /// Don't send to the daemon (e.g. it would hang or the request is gateway-only).
    Skip,
}

struct Case {
    name: String,
    raw: Vec<u8>,
    expect: Expect,
    sanity: Sanity,
    /// For refusals: a word (lowercase) the message should contain.
    hint: Option<&'static str>,
}

fn case(name: impl Into<String>, raw: Vec<u8>, expect: Expect, sanity: Sanity) -> Case {
    Case {
        name: name.into(),
        raw,
        expect,
        sanity,
        hint: None,
    }
}

impl Case {
    fn hint(mut self, h: &'static str) -> Case {
        self.hint = Some(h);
        self
    }
}

struct Env {
    daemon: Daemon,
    gw: Gateway,
}

impl Env {
    fn new(host: &str) -> Env {
        Env {
            daemon: Daemon::new(host),
            gw: Gateway::start(host, &[]),
        }
    }
}

/// What one request did to the daemon.
struct Run {
    outcome: Outcome,
    new: New,
    picked: Option<String>,
}

fn send_and_watch(env: &Env, sock: &Path, raw: &[u8]) -> Run {
    let d = &env.daemon;
    let before = snap(d);
    let outcome = outcome(http::raw_request(sock, raw));
    let after = settle(d, &before, SETTLED);
    let new = diff(d, &before, &after);
    let picked = match &outcome {
        Outcome::Built(id) => labels_of(d.inspect_image(id)).get("picked").cloned(),
        _ => None,
    };
    Run {
        outcome,
        new,
        picked,
    }
}

/// Checks the property for an outcome and what appeared; returns the problems.
fn judge(
    owner: &str,
    outcome: &Outcome,
    new: &New,
    expect: Expect,
    hint: Option<&str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let unl = new.unlabelled(owner);
    if !unl.is_empty() {
        problems.push(format!(
            "UNLABELLED objects appeared (owner must be {owner:?}): {unl:#?}"
        ));
    }
    match outcome {
        Outcome::Weird(w) => problems.push(format!("not a Docker-style answer: {w}")),
        Outcome::Refused(status, _) if !(400..600).contains(status) => {
            problems.push(format!("refusal with status {status}"));
        }
        _ => {}
    }
    if let Some(m) = outcome.error() {
        // The gateway's own refusals must leave nothing; a daemon-side failure (a RUN
        // that failed, say) may leave labelled intermediates, checked above.
        if m.starts_with("buildgate: ") && !new.is_empty() {
            problems.push(format!(
                "refused/failed build left objects behind: {}",
                new.summary()
            ));
        }
        if expect == Expect::Refuse {
            if !m.starts_with("buildgate: ") {
                problems.push(format!("expected the gateway's refusal, got {m:?}"));
            }
            if let Some(h) = hint
                && !m.to_lowercase().contains(h)
            {
                problems.push(format!("refusal does not mention {h:?}: {m:?}"));
            }
        }
    }
    match (expect, outcome) {
        (Expect::Refuse, Outcome::Built(_)) => {
            problems.push("expected a refusal, but it built".to_string())
        }
        (Expect::Build, o) if !matches!(o, Outcome::Built(_)) => {
            problems.push(format!("expected a labelled build, got {}", o.short()))
        }
        _ => {}
    }
    problems
}

/// Runs one case (daemon sanity run first, then through the gateway) and returns the
/// problems found, each prefixed with the case name.
fn attack(env: &mut Env, c: &Case) -> Vec<String> {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let owner = env.gw.owner.clone();
    let mut problems = Vec::new();

    let mut daemon_picked = None;
    let mut daemon_outcome = None;
    let mut daemon_line = String::from("daemon: not asked");
    if c.sanity != Sanity::Skip {
        let run = send_and_watch(env, &env.daemon.sock.clone(), &c.raw);
        let unl = run.new.unlabelled(&owner);
        daemon_line = format!(
            "daemon: {} ({}, {} unlabelled) picked={:?}",
            run.outcome.short(),
            run.new.summary(),
            unl.len(),
            run.picked
        );
        remove(&env.daemon, &run.new);
        if c.sanity == Sanity::Must && unl.is_empty() {
            problems.push(format!(
                "SANITY: sent straight to the daemon, the attack left nothing unlabelled, \
                 so this case proves nothing ({daemon_line})"
            ));
        }
        daemon_picked = run.picked;
        daemon_outcome = Some(run.outcome);
    }

    let run = send_and_watch(env, &env.gw.sock.clone(), &c.raw);
    let gw_line = format!(
        "gateway: {} ({}) picked={:?}",
        run.outcome.short(),
        run.new.summary(),
        run.picked
    );
    eprintln!("[{}] {daemon_line}\n[{}] {gw_line}", c.name, c.name);
    let mut found = judge(&owner, &run.outcome, &run.new, c.expect, c.hint);
    if let (Outcome::Weird(g), Some(Outcome::Weird(d))) = (&run.outcome, &daemon_outcome) {
        // Not a build: the gateway relayed the daemon's own (non-JSON) answer.
        if g == d {
            found.retain(|p| !p.starts_with("not a Docker-style answer"));
        }
    }
    if c.expect == Expect::Unframed {
        // Pipelined/smuggled requests: the first response is not the build's.
        found.retain(|p| !p.starts_with("not a Docker-style answer"));
    }
    if c.expect == Expect::Unparsable {
        let bare = matches!(&run.outcome, Outcome::Weird(w)
            if w == "400 with a non-Docker body \"\""
                || w.starts_with("no response: connection closed before the response head"));
        if bare {
            found.retain(|p| !p.starts_with("not a Docker-style answer"));
        } else {
            found.push(format!(
                "expected hyper's bare 400 or a closed connection, got {}",
                run.outcome.short()
            ));
        }
        if !run.new.is_empty() {
            found.push(format!(
                "an unparsable request left objects behind: {}",
                run.new.summary()
            ));
        }
    }
    problems.extend(found);
    if let (Some(d), Some(g)) = (&daemon_picked, &run.picked)
        && d != g
    {
        problems.push(format!(
            "FIDELITY: the daemon alone built Dockerfile {d:?}, through the gateway {g:?}"
        ));
    }
    remove(&env.daemon, &run.new);

    if let Some(st) = env.gw.try_wait() {
        problems.push(format!("GATEWAY DIED ({st})"));
        // Restart so the remaining cases still run.
        let host = env.daemon.host.clone();
        env.gw = Gateway::start(&host, &[]);
    } else if http::get(&env.gw.sock, "/_ping").map(|r| r.status).ok() != Some(200) {
        problems.push("gateway stopped answering /_ping".to_string());
    }

    problems
        .into_iter()
        .map(|p| format!("[{}] {p}\n    {daemon_line}\n    {gw_line}", c.name))
        .collect()
}

/// Runs every case and fails with all problems (and the gateway log) at the end.
fn run_all(env: &mut Env, cases: Vec<Case>) {
    let mut problems = Vec::new();
    for c in &cases {
        problems.extend(attack(env, c));
    }
    if !problems.is_empty() {
        panic!(
            "{} of {} cases failed:\n\n{}\n",
            problems
                .iter()
                .map(|p| p.split(']').next().unwrap_or_default())
                .collect::<HashSet<_>>()
                .len(),
            cases.len(),
            problems.join("\n\n")
        );
    }
}

// ======================================================================== 1. Dockerfile LABELs

fn dockerfile_cases() -> Vec<(&'static str, String, &'static str)> {
    // (name, Dockerfile, extra query)
    let from = format!("FROM {IMAGE}");
    vec![
        ("label_plain", df("a", "LABEL owner=evil"), ""),
        ("label_lowercase_instr", df("a", "label owner=evil"), ""),
        (
            "label_double_quoted_key",
            df("a", "LABEL \"owner\"=\"evil\""),
            "",
        ),
        (
            "label_single_quoted_key",
            df("a", "LABEL 'owner'='evil'"),
            "",
        ),
        (
            "label_partly_quoted_key",
            df("a", "LABEL ow\"ner\"=evil"),
            "",
        ),
        ("label_escaped_key", df("a", "LABEL ow\\ner=evil"), ""),
        ("label_empty_value", df("a", "LABEL owner="), ""),
        ("label_multi_pair", df("a", "LABEL a=1 owner=evil b=2"), ""),
        (
            "label_multi_line",
            df("a", "LABEL a=1 \\\n    owner=evil \\\n    b=2"),
            "",
        ),
        (
            "label_multi_line_comment_inside",
            df("a", "LABEL a=1 \\\n# a comment\n\n    owner=evil"),
            "",
        ),
        ("label_legacy_form", df("a", "LABEL owner evil"), ""),
        ("label_arg_key", df("a", "ARG K=owner\nLABEL $K=evil"), ""),
        (
            "label_arg_key_braces",
            df("a", "ARG K=owner\nLABEL ${K}=evil"),
            "",
        ),
        ("label_env_key", df("a", "ENV K=owner\nLABEL ${K}=evil"), ""),
        (
            "label_env_value_pair",
            df("a", "ENV K=\"owner=evil\"\nLABEL $K"),
            "",
        ),
        (
            "label_build_arg_key",
            df("a", "ARG K\nLABEL $K=evil"),
            "buildargs=%7B%22K%22%3A%22owner%22%7D",
        ),
        (
            "label_build_arg_default_from_before_from",
            format!("ARG K=owner\n{}", df("a", "ARG K\nLABEL $K=evil")),
            "",
        ),
        (
            "escape_backtick_continuation",
            format!("# escape=`\n{from}\nLABEL a=1 `\n    owner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "escape_backtick_no_space",
            format!("#escape=`\n{from}\nLABEL a=1 `\nowner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "escape_backtick_upper",
            format!("# ESCAPE = `\n{from}\nLABEL a=1 `\nowner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "escape_backtick_trailing_junk",
            format!("# escape=`x\n{from}\nLABEL a=1 `\nowner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "escape_backtick_after_bom",
            format!("\u{feff}# escape=`\n{from}\nLABEL a=1 `\nowner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "escape_backtick_after_syntax",
            format!(
                "# syntax=docker/dockerfile:1\n# escape=`\n{from}\nLABEL a=1 `\nowner=evil\nRUN echo ran\n"
            ),
            "",
        ),
        (
            "escape_after_comment_is_not_a_directive",
            format!("# hello\n# escape=`\n{from}\nLABEL a=1 \\\n  owner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "backslash_continuation_into_from",
            format!("FROM \\\n{IMAGE}\nLABEL owner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "crlf_line_endings",
            df("a", "LABEL owner=evil").replace('\n', "\r\n"),
            "",
        ),
        (
            "cr_continuation",
            df("a", "LABEL a=1 \\\r\n owner=evil\r"),
            "",
        ),
        (
            "no_newline_at_eof",
            format!("FROM {IMAGE}\nRUN echo ran\nLABEL owner=evil"),
            "",
        ),
        (
            "continuation_at_eof",
            format!("FROM {IMAGE}\nRUN echo ran\nLABEL owner=evil \\"),
            "",
        ),
        (
            "label_in_last_stage",
            format!(
                "FROM {IMAGE} AS one\nRUN echo one\nFROM {IMAGE}\nRUN echo two\nLABEL owner=evil\nRUN echo three\n"
            ),
            "",
        ),
        (
            "label_in_first_stage_inherited",
            format!(
                "FROM {IMAGE} AS one\nLABEL owner=evil\nRUN echo one\nFROM one\nRUN echo two\n"
            ),
            "",
        ),
        (
            "from_with_platform_flag",
            format!("FROM --platform=linux/amd64 {IMAGE}\nLABEL owner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "from_lowercase_and_leading_space",
            format!("   from {IMAGE}\nLABEL owner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "from_tab_separated",
            format!("FROM\t{IMAGE}\nLABEL\towner=evil\nRUN echo ran\n"),
            "",
        ),
        (
            "target_stage_before_last",
            format!(
                "FROM {IMAGE} AS one\nLABEL owner=evil\nRUN echo one\nFROM {IMAGE}\nRUN echo two\n"
            ),
            "target=one",
        ),
    ]
}

#[test]
fn attack_dockerfile_labels() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let cases = dockerfile_cases()
        .into_iter()
        .map(|(name, dockerfile, q)| {
            // The daemon itself rejects these Dockerfiles; they check only that the
            // gateway does not turn them into something that builds unlabelled.
            let daemon_rejects = ["label_env_value_pair", "escape_backtick_trailing_junk"];
            case(
                name,
                build_req(q, &tar_with_dockerfile(&dockerfile)),
                Expect::Any,
                if daemon_rejects.contains(&name) {
                    Sanity::Info
                } else {
                    Sanity::Must
                },
            )
        })
        .collect();
    run_all(&mut env, cases);
}

/// ONBUILD triggers run inside the daemon's `FROM` step, before the LABEL the gateway
/// inserts after it (README, "Known limits"). A trigger defined in the same Dockerfile
/// (`ONBUILD LABEL owner=evil` in one stage, `FROM` that stage in the next) is visible
/// to the gateway, though, so it could rewrite or refuse it.
#[test]
fn attack_onbuild_triggers() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let cases: Vec<(&str, String)> = vec![
        (
            "onbuild_label",
            format!(
                "FROM {IMAGE} AS one\nONBUILD LABEL owner=evil\nRUN echo one\nFROM one\nRUN echo two\n"
            ),
        ),
        (
            "onbuild_lowercase",
            format!(
                "FROM {IMAGE} AS one\nonbuild label owner=evil\nRUN echo one\nFROM one\nRUN echo two\n"
            ),
        ),
        (
            "onbuild_run",
            format!(
                "FROM {IMAGE} AS one\nONBUILD RUN echo trigger\nRUN echo one\nFROM one\nRUN echo two\n"
            ),
        ),
        (
            "onbuild_label_in_onbuild_continuation",
            format!(
                "FROM {IMAGE} AS one\nONBUILD \\\n  LABEL owner=evil\nRUN echo one\nFROM one\nRUN echo two\n"
            ),
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|(name, dockerfile)| {
            let mut c = case(
                name,
                build_req("", &tar_with_dockerfile(&dockerfile)),
                Expect::Any,
                Sanity::Must,
            );
            if name == "onbuild_run" {
                c.sanity = Sanity::Info;
            }
            c
        })
        .collect();
    run_all(&mut env, cases);
}

// ======================================================================== 2. labels query

#[test]
fn attack_labels_query() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let body = tar_with_dockerfile(&df("a", ""));
    let q = |l: &str| format!("labels={}", http::escape_query(l));
    let mut cases = vec![];
    for (name, query) in [
        ("plain", q(r#"{"owner":"evil"}"#)),
        ("unicode_escaped_key", q(r#"{"\u006fwner":"evil"}"#)),
        ("unicode_escaped_key_upper", q(r#"{"\u006Fwner":"evil"}"#)),
        (
            "duplicate_json_keys_evil_last",
            q(r#"{"owner":"x","owner":"evil"}"#),
        ),
        (
            "duplicate_json_keys_evil_first",
            q(r#"{"owner":"evil","owner":"x"}"#),
        ),
        ("empty_value", q(r#"{"owner":""}"#)),
        ("with_whitespace", q(" { \"owner\" : \"evil\" } ")),
        (
            "duplicate_labels_params_evil_first",
            format!("{}&{}", q(r#"{"owner":"evil"}"#), q(r#"{"a":"b"}"#)),
        ),
        (
            "duplicate_labels_params_evil_last",
            format!("{}&{}", q(r#"{"a":"b"}"#), q(r#"{"owner":"evil"}"#)),
        ),
        (
            "key_percent_encoded",
            format!("%6cabels={}", http::escape_query(r#"{"owner":"evil"}"#)),
        ),
        (
            "plus_for_space",
            "labels=%7B%22owner%22+:+%22evil%22%7D".to_string(),
        ),
        ("trailing_garbage", q(r#"{"owner":"evil"}xyz"#)),
        ("non_string_value", q(r#"{"owner":1}"#)),
        ("array_not_object", q(r#"[["owner","evil"]]"#)),
        (
            "invalid_utf8_in_json",
            "labels=%7B%22owner%22:%22ev%FFil%22%7D".to_string(),
        ),
        ("nul_in_key", q("{\"owner\\u0000\":\"evil\"}")),
    ] {
        cases.push(case(
            format!("labels_{name}"),
            build_req(&query, &body),
            Expect::Any,
            Sanity::Info,
        ));
    }
    // The plain case must actually work on the daemon, or none of this means anything.
    cases[0].sanity = Sanity::Must;
    cases[1].sanity = Sanity::Must;
    cases[3].sanity = Sanity::Must;
    run_all(&mut env, cases);
}

#[test]
fn attack_cli_label_flag_and_build_arg() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        df("a", "ARG K=x\nLABEL $K=evil"),
    )
    .unwrap();
    let ctx = dir.path().to_str().unwrap().to_string();
    let mut problems = Vec::new();
    for cli in clis() {
        for (name, args) in [
            ("label_flag", vec!["--label", "owner=evil"]),
            ("label_flag_empty", vec!["--label", "owner="]),
            (
                "label_flag_twice",
                vec!["--label", "owner=a", "--label", "owner=evil"],
            ),
            ("build_arg_key", vec!["--build-arg", "K=owner"]),
        ] {
            problems.extend(cli_attack(
                &mut env,
                &cli,
                name,
                &args,
                &ctx,
                Expect::Build,
                None,
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// `docker build --no-cache --rm=false <args> <ctx>` through the gateway, judged like
/// the raw cases.
fn cli_attack(
    env: &mut Env,
    cli: &common::Cli,
    name: &str,
    args: &[&str],
    ctx: &str,
    expect: Expect,
    hint: Option<&str>,
) -> Vec<String> {
    cli_attack_env(env, cli, name, args, ctx, expect, hint, &[])
}

#[allow(clippy::too_many_arguments)]
fn cli_attack_env(
    env: &mut Env,
    cli: &common::Cli,
    name: &str,
    args: &[&str],
    ctx: &str,
    expect: Expect,
    hint: Option<&str>,
    vars: &[(&str, &str)],
) -> Vec<String> {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let d = &env.daemon;
    let owner = env.gw.owner.clone();
    let before = snap(d);
    let mut cmd = env
        .gw
        .docker(cli)
        .args(["build", "--no-cache", "--rm=false"]);
    cmd = cmd.args(args.iter().copied()).args([ctx]);
    for (k, v) in vars {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run();
    let after = settle(d, &before, SETTLED);
    let new = diff(d, &before, &after);
    let outcome = if out.success() {
        let id = new
            .images
            .iter()
            .find(|(_, l)| !l.is_empty())
            .map(|(i, _)| i.clone())
            .unwrap_or_default();
        Outcome::Built(if id.is_empty() { "?".into() } else { id })
    } else if out.timed_out {
        Outcome::Weird(format!("CLI timed out: {out}"))
    } else {
        // The CLI prints the daemon's (here: the gateway's) message on stderr.
        let msg = out
            .stderr
            .lines()
            .find_map(|l| l.find("buildgate: ").map(|i| l[i..].to_string()))
            .unwrap_or_else(|| out.stderr.trim().to_string());
        Outcome::StreamError(msg)
    };
    let label = format!("cli {} {name}", cli.version);
    eprintln!("[{label}] gateway: {} ({})", outcome.short(), new.summary());
    let mut problems = judge(&owner, &outcome, &new, expect, hint);
    if !problems.is_empty() {
        problems.push(format!("CLI output: {out}"));
    }
    remove(d, &new);
    problems
        .into_iter()
        .map(|p| format!("[{label}] {p}"))
        .collect()
}

// ======================================================================== 3. Dockerfile path

#[test]
fn attack_dockerfile_path() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let good = df("innocent", "");
    let evil = df("evil", "LABEL owner=evil");
    let g = good.as_bytes();
    let e = evil.as_bytes();
    let t = || Tar::new();
    let mut cases = Vec::new();
    // The daemon itself fails on these; they check the gateway does not build them
    // unlabelled (or, if it builds them, that it labels them).
    let daemon_rejects = [
        "pct_2e",
        "upper_removed_by_dir_replacing_it",
        "symlinked_dir_replaced_by_real_dir",
    ];
    let mut add = |name: &str, q: &str, tar: Tar, expect: Expect| {
        cases.push(case(
            format!("path_{name}"),
            build_req(q, &tar.end().bytes()),
            expect,
            if daemon_rejects.contains(&name) {
                Sanity::Info
            } else {
                Sanity::Must
            },
        ));
    };
    for (name, q) in [
        ("dot_slash", "dockerfile=.%2FDockerfile"),
        ("absolute", "dockerfile=%2FDockerfile"),
        ("dotdot", "dockerfile=a%2F..%2FDockerfile"),
        ("dotdot_existing_dir", "dockerfile=sub%2F..%2FDockerfile"),
        ("pct_2e", "dockerfile=%252e%2FDockerfile"),
        ("raw_2e", "dockerfile=%2e/Dockerfile"),
        ("double_slash", "dockerfile=sub%2F%2FDockerfile"),
        ("trailing_dot", "dockerfile=sub%2F.%2F..%2FDockerfile"),
    ] {
        add(
            name,
            q,
            t().dir("sub")
                .file("sub/Dockerfile", g)
                .file("Dockerfile", e),
            Expect::Any,
        );
    }
    add(
        "duplicate_entries_evil_last",
        "",
        t().file("Dockerfile", g).file("Dockerfile", e),
        Expect::Any,
    );
    add(
        "duplicate_entries_evil_first",
        "",
        t().file("Dockerfile", e).file("Dockerfile", g),
        Expect::Any,
    );
    add(
        "duplicate_dotslash_spelling",
        "",
        t().file("Dockerfile", g).file("./Dockerfile", e),
        Expect::Any,
    );
    add(
        "duplicate_dotdot_spelling",
        "",
        t().dir("x")
            .file("Dockerfile", g)
            .file("x/../Dockerfile", e),
        Expect::Any,
    );
    add(
        "duplicate_absolute_spelling",
        "",
        t().file("Dockerfile", g).file("/Dockerfile", e),
        Expect::Any,
    );
    add(
        "lowercase_fallback_only",
        "",
        t().file("dockerfile", e),
        Expect::Any,
    );
    add(
        "lowercase_and_upper",
        "",
        t().file("dockerfile", g).file("Dockerfile", e),
        Expect::Any,
    );
    add(
        "upper_removed_by_dir_replacing_it",
        "",
        t().file("Dockerfile", g)
            .file("dockerfile", e)
            .dir("Dockerfile"),
        Expect::Any,
    );
    add(
        "dockerfile_is_symlink",
        "",
        t().file("real", e).symlink("Dockerfile", "real"),
        Expect::Refuse,
    );
    add(
        "dockerfile_is_hardlink",
        "",
        t().file("real", e).hardlink("Dockerfile", "real"),
        Expect::Refuse,
    );
    add(
        "dockerfile_replaced_by_symlink_later",
        "",
        t().file("Dockerfile", g)
            .file("real", e)
            .symlink("Dockerfile", "real"),
        Expect::Refuse,
    );
    add(
        "write_through_symlinked_dir",
        "dockerfile=sub%2FDockerfile",
        t().dir("sub")
            .file("sub/Dockerfile", g)
            .symlink("link", "sub")
            .file("link/Dockerfile", e),
        Expect::Any,
    );
    add(
        "f_through_symlinked_dir",
        "dockerfile=link%2FDockerfile",
        t().dir("sub")
            .file("sub/Dockerfile", e)
            .symlink("link", "sub"),
        Expect::Any,
    );
    add(
        "f_through_absolute_symlinked_dir",
        "dockerfile=link%2FDockerfile",
        t().dir("sub")
            .file("sub/Dockerfile", e)
            .symlink("link", "/sub"),
        Expect::Any,
    );
    add(
        "symlinked_dir_replaced_by_real_dir",
        "dockerfile=link%2FDockerfile",
        t().dir("sub")
            .file("sub/Dockerfile", g)
            .symlink("link", "sub")
            .file("link/Dockerfile", e)
            .dir("link"),
        Expect::Any,
    );
    add(
        "gateway_style_name",
        "",
        t().file("Dockerfile", g)
            .file(".buildgate-dockerfile-0000000000000000", e),
        Expect::Any,
    );
    add(
        "gateway_style_name_requested",
        "dockerfile=.buildgate-dockerfile-0000000000000000",
        t().file(".buildgate-dockerfile-0000000000000000", e),
        Expect::Any,
    );
    add(
        "dockerignore_hides_dockerfile",
        "",
        t().file(".dockerignore", b"Dockerfile\n")
            .file("Dockerfile", e),
        Expect::Any,
    );
    // The same as requests with two `dockerfile=` values: Go reads the first.
    add(
        "duplicate_dockerfile_param",
        "dockerfile=evil&dockerfile=Dockerfile",
        t().file("Dockerfile", g).file("evil", e),
        Expect::Any,
    );
    run_all(&mut env, cases);
}

#[test]
fn attack_cli_f_through_symlinked_dir() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/Dockerfile"),
        df("evil", "LABEL owner=evil"),
    )
    .unwrap();
    std::os::unix::fs::symlink("sub", dir.path().join("link")).unwrap();
    let ctx = dir.path().to_str().unwrap().to_string();
    let mut problems = Vec::new();
    for cli in clis() {
        let f = format!("{ctx}/link/Dockerfile");
        problems.extend(cli_attack(
            &mut env,
            &cli,
            "f_link_dir",
            &["-f", &f],
            &ctx,
            Expect::Any,
            None,
        ));
        problems.extend(cli_attack(
            &mut env,
            &cli,
            "f_link_dir_relative",
            &["-f", "link/Dockerfile"],
            &ctx,
            Expect::Any,
            None,
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ======================================================================== 4. tar headers

#[test]
fn attack_tar_headers() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let good = df("innocent", "");
    let evil = df("evil", "LABEL owner=evil");
    let g = good.as_bytes();
    let e = evil.as_bytes();
    let t = || Tar::new();
    let mut cases = Vec::new();
    let mut add = |name: &str, q: &str, body: Vec<u8>, expect: Expect, sanity: Sanity| {
        cases.push(case(
            format!("tar_{name}"),
            build_req(q, &body),
            expect,
            sanity,
        ));
    };
    let m = Sanity::Must;

    // PAX `path` overrides the USTAR name: naive name innocent, Go name Dockerfile.
    add(
        "pax_path_is_dockerfile",
        "",
        t().file("Dockerfile", g)
            .pax(b'x', &[("path", "Dockerfile")])
            .file("innocent.txt", e)
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    // ... and the other way round: naive name Dockerfile, Go name something else.
    add(
        "pax_path_hides_dockerfile",
        "",
        t().file("Dockerfile", g)
            .pax(b'x', &[("path", "notes.txt")])
            .file("Dockerfile", e)
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    // PAX `size` overrides the USTAR size: the "data" of the naive reading is a header.
    let hidden = t().file("Dockerfile", e).bytes();
    add(
        "pax_size_zero_hides_header",
        "",
        t().file("Dockerfile", g)
            .pax(b'x', &[("size", "0")])
            .entry(Header::new("pad", b'0', hidden.len() as u64), &hidden)
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    add(
        "pax_size_larger_swallows_header",
        "",
        t().file("Dockerfile", g)
            .pax(b'x', &[("size", &(512 + hidden.len()).to_string())])
            .entry(Header::new("pad", b'0', 512), &[b'x'; 512])
            .raw(&hidden)
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    // GNU long name and PAX path on the same entry, both orders.
    add(
        "gnu_longname_then_pax",
        "",
        t().file("Dockerfile", g)
            .gnu_long_name("Dockerfile")
            .pax(b'x', &[("path", "other.txt")])
            .file("x", e)
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    add(
        "pax_then_gnu_longname",
        "",
        t().file("Dockerfile", g)
            .pax(b'x', &[("path", "Dockerfile")])
            .gnu_long_name("other.txt")
            .file("x", e)
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    add(
        "gnu_longname_is_dockerfile",
        "",
        t().file("Dockerfile", g)
            .gnu_long_name("Dockerfile")
            .file("innocent.txt", e)
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    // The innocent Dockerfile, then the evil one's bytes under a crafted header: how it
    // is crafted decides which of the two Go builds.
    let evil_header = |name: &[u8], typeflag: u8| Header::new(name, typeflag, e.len() as u64);
    let shadowed = |h: Header| t().file("Dockerfile", g).entry(h, e).end().bytes();
    // USTAR prefix under GNU magic: Go ignores it when atime/ctime parse, and uses it
    // when they do not (its pre-1.8 writer work-around).
    add(
        "gnu_magic_text_prefix",
        "",
        shadowed(
            evil_header(b"Dockerfile", b'0')
                .magic(Magic::Gnu)
                .prefix("sub"),
        ),
        Expect::Any,
        m,
    );
    add(
        "gnu_magic_text_prefix_naming_dockerfile_dir",
        "dockerfile=sub%2FDockerfile",
        t().dir("sub")
            .file("sub/Dockerfile", g)
            .entry(
                evil_header(b"Dockerfile", b'0')
                    .magic(Magic::Gnu)
                    .prefix("sub"),
                e,
            )
            .end()
            .bytes(),
        Expect::Any,
        m,
    );
    add(
        "gnu_magic_numeric_prefix",
        "",
        shadowed(
            evil_header(b"Dockerfile", b'0')
                .magic(Magic::Gnu)
                .prefix(concat!("00000000000", "\0", "00000000000")),
        ),
        Expect::Any,
        m,
    );
    add(
        "ustar_prefix",
        "",
        shadowed(evil_header(b"Dockerfile", b'0').prefix("sub")),
        Expect::Any,
        m,
    );
    add(
        "v7_magic_prefix_ignored",
        "",
        shadowed(
            evil_header(b"Dockerfile", b'0')
                .magic(Magic::V7)
                .prefix("sub"),
        ),
        Expect::Any,
        m,
    );
    // Header-only types with a non-zero size: Go reads no data, so the "data" is the
    // next header.
    for (ty, name) in [
        (b'2', "symlink"),
        (b'1', "hardlink"),
        (b'5', "dir"),
        (b'3', "chardev"),
    ] {
        let h = Header::new("lnk", ty, hidden.len() as u64).link("innocent.txt");
        add(
            &format!("{name}_with_size_hides_header"),
            "",
            t().file("Dockerfile", g)
                .file("innocent.txt", b"x")
                .entry(h, &hidden)
                .end()
                .bytes(),
            Expect::Any,
            if ty == b'3' { Sanity::Info } else { m },
        );
    }
    // PAX global header naming the Dockerfile.
    add(
        "pax_global_path",
        "",
        t().file("Dockerfile", g)
            .pax(b'g', &[("path", "Dockerfile")])
            .file("innocent.txt", e)
            .end()
            .bytes(),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "pax_global_path_only",
        "",
        t().pax(b'g', &[("path", "Dockerfile")])
            .file("innocent.txt", e)
            .end()
            .bytes(),
        Expect::Any,
        Sanity::Info,
    );
    // Entries after the end of the archive.
    add(
        "entries_after_end",
        "",
        t().file("Dockerfile", g)
            .end()
            .file("Dockerfile", e)
            .end()
            .bytes(),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "only_dockerfile_after_end",
        "",
        t().file("x", b"x")
            .end()
            .file("Dockerfile", e)
            .end()
            .bytes(),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "two_zero_blocks_in_middle_then_more",
        "",
        t().file("Dockerfile", g)
            .raw(&[0u8; 1024])
            .file("Dockerfile", e)
            .file("z", &vec![b'z'; 20 * 1024])
            .end()
            .bytes(),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "one_zero_block_in_middle",
        "",
        t().file("Dockerfile", g)
            .raw(&[0u8; 512])
            .file("Dockerfile", e)
            .end()
            .bytes(),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "no_end_of_archive",
        "",
        t().file("Dockerfile", e).bytes(),
        Expect::Any,
        Sanity::Info,
    );
    let full = t()
        .file("Dockerfile", e)
        .file("big", &vec![b'b'; 4096])
        .end()
        .bytes();
    for cut in [100, 512, 700, 1024 + 512 + 1000, full.len() - 1024 - 1] {
        add(
            &format!("truncated_at_{cut}"),
            "",
            full[..cut].to_vec(),
            Expect::Any,
            Sanity::Info,
        );
    }
    // Names with bytes Go cuts or refuses.
    add(
        "nul_in_name",
        "",
        shadowed(evil_header(b"Dockerfile\0.txt", b'0')),
        Expect::Any,
        m,
    );
    add(
        "old_regular_typeflag_nul",
        "",
        shadowed(evil_header(b"Dockerfile", 0)),
        Expect::Any,
        m,
    );
    add(
        "unknown_typeflag",
        "",
        shadowed(evil_header(b"Dockerfile", b'Z')),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "bad_checksum",
        "",
        t().entry(evil_header(b"Dockerfile", b'0').bad_checksum(), e)
            .end()
            .bytes(),
        Expect::Any,
        Sanity::Info,
    );
    run_all(&mut env, cases);
}

// ======================================================================== 5. paths, queries, framing

#[test]
fn attack_http_paths_and_queries() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let body = tar_with_dockerfile(&df("innocent", ""));
    let evil_labels = http::escape_query(r#"{"owner":"evil"}"#);
    let mut cases = Vec::new();
    let info = Sanity::Info;
    let mut add = |name: &str, raw: Vec<u8>, expect: Expect, s: Sanity| {
        cases.push(case(format!("http_{name}"), raw, expect, s));
    };
    let q = format!("{BASE_QUERY}&labels={evil_labels}");
    for (name, path) in [
        ("version_pct2f", "/v1.41%2Fbuild"),
        ("pct62uild", "/%62uild"),
        ("versioned_pct62uild", "/v1.41/%62uild"),
        ("double_slash", "//build"),
        ("double_slash_versioned", "/v1.41//build"),
        ("trailing_slash", "/build/"),
        ("dot_segment", "/v1.41/./build"),
        ("dotdot_segment", "/x/../build"),
        ("upper_case", "/BUILD"),
        ("pct_upper_hex", "/%42uild"),
        ("version_no_dot", "/v1/build"),
        ("version_many", "/v1.41.0/build"),
        ("unversioned", "/build"),
    ] {
        add(
            name,
            request(&format!("{path}?{q}"), &[], &body),
            Expect::Any,
            info,
        );
    }
    add(
        "absolute_form",
        request(&format!("http://docker/v1.41/build?{q}"), &[], &body),
        Expect::Any,
        info,
    );
    add(
        "absolute_form_other_host",
        request(
            &format!("http://evil.example:99/v1.41/build?{q}"),
            &[],
            &body,
        ),
        Expect::Any,
        info,
    );
    // Query-string tricks.
    for (name, query) in [
        (
            "semicolon_before_labels",
            format!("{BASE_QUERY}&x=1;labels={evil_labels}"),
        ),
        (
            "semicolon_in_labels",
            format!("{BASE_QUERY}&labels={evil_labels};x=1"),
        ),
        (
            "semicolon_only",
            format!("{BASE_QUERY};labels={evil_labels}"),
        ),
        (
            "key_plus_space",
            format!("{BASE_QUERY}&labels+={evil_labels}"),
        ),
        ("key_pct", format!("{BASE_QUERY}&%6Cabels={evil_labels}")),
        (
            "bad_pct_before",
            format!("{BASE_QUERY}&labels=%zz&labels={evil_labels}"),
        ),
        (
            "empty_pieces",
            format!("&&{BASE_QUERY}&&labels={evil_labels}&&"),
        ),
        (
            "dockerfile_dup",
            format!("{BASE_QUERY}&dockerfile=Dockerfile&dockerfile=x"),
        ),
        (
            "dockerfile_pct_key",
            format!("{BASE_QUERY}&%64ockerfile=Dockerfile"),
        ),
        ("version_dup", format!("{BASE_QUERY}&version=1&version=2")),
        ("version_2_pct", format!("{BASE_QUERY}&%76ersion=2")),
        (
            "hash_fragment",
            format!("{BASE_QUERY}#&labels={evil_labels}"),
        ),
        (
            "question_twice",
            format!("{BASE_QUERY}?labels={evil_labels}"),
        ),
    ] {
        add(
            name,
            request(&format!("/v1.41/build?{query}"), &[], &body),
            Expect::Any,
            info,
        );
    }
    run_all(&mut env, cases);
}

/// A tiny HTTP server on 127.0.0.1 that answers every GET with `body` as a tar; the
/// daemon runs on the host network, so `remote=http://127.0.0.1:<port>/` reaches it.
fn serve_tar(body: Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let body = body.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            });
        }
    });
    port
}

#[test]
fn attack_form_body_and_framing() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let body = tar_with_dockerfile(&df("innocent", ""));
    let port = serve_tar(tar_with_dockerfile(&df("remote", "")));
    let remote = http::escape_query(&format!("http://127.0.0.1:{port}/ctx.tar"));
    let evil_labels = http::escape_query(r#"{"owner":"evil"}"#);
    let target = build_target("");
    let mut cases = Vec::new();
    let mut add = |name: &str, raw: Vec<u8>, expect: Expect, s: Sanity| {
        cases.push(case(format!("framing_{name}"), raw, expect, s));
    };

    // The daemon reads a form body as parameters (before the query's) when the
    // Content-Type says so; a remote context named there builds unlabelled.
    let form = format!("remote={remote}&labels={evil_labels}");
    for ct in [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "Application/X-WWW-Form-URLencoded",
    ] {
        add(
            &format!("form_body_{}", ct.len()),
            request(&target, &[("Content-Type", ct)], form.as_bytes()),
            Expect::Any,
            Sanity::Info,
        );
    }
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"remote\"\r\n\r\nhttp://127.0.0.1:{port}/ctx.tar\r\n--{boundary}--\r\n"
    );
    add(
        "multipart_form_body",
        request(
            &target,
            &[(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )],
            multipart.as_bytes(),
        ),
        Expect::Any,
        Sanity::Info,
    );
    // Form body that is also a tar?  A tar whose first name is a form pair.
    let tar_form = Tar::new()
        .file(&format!("labels={evil_labels}&x"), b"")
        .file("Dockerfile", df("innocent", "").as_bytes())
        .end()
        .bytes();
    add(
        "tar_that_parses_as_form",
        request(
            &target,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &tar_form,
        ),
        Expect::Any,
        Sanity::Info,
    );
    // Framing.
    add(
        "chunked_body",
        request(
            &target,
            &[("Transfer-Encoding", "chunked")],
            &chunked(&body, 100),
        ),
        Expect::Build,
        Sanity::Must,
    );
    add(
        "cl_and_te",
        request(
            &target,
            &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
            &chunked(&body, 100),
        ),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "te_and_cl_order",
        request(
            &target,
            &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
            &chunked(&body, 100),
        ),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "te_gzip_chunked",
        request(
            &target,
            &[("Transfer-Encoding", "gzip, chunked")],
            &chunked(&gzip(&body), 100),
        ),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "chunk_extensions_and_trailers",
        {
            let mut b = Vec::new();
            for c in body.chunks(700) {
                b.extend_from_slice(format!("{:x};ext=\"1\"\r\n", c.len()).as_bytes());
                b.extend_from_slice(c);
                b.extend_from_slice(b"\r\n");
            }
            b.extend_from_slice(b"0\r\nX-Trailer: labels\r\n\r\n");
            request(&target, &[("Transfer-Encoding", "chunked")], &b)
        },
        Expect::Any,
        Sanity::Info,
    );
    // Smuggling: a build request hidden in the body of another request. If the gateway
    // and the daemon frame the outer body differently, the inner one reaches the daemon
    // unrewritten.
    let inner = {
        let mut r = format!(
            "POST /v1.41/build?{BASE_QUERY}&labels={evil_labels} HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&body);
        r
    };
    add(
        "smuggle_cl_te_ping",
        {
            let mut b = b"0\r\n\r\n".to_vec();
            b.extend_from_slice(&inner);
            let mut r = format!(
                "POST /v1.41/containers/bgt-nonexistent-smuggle/kill HTTP/1.1\r\nHost: d\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
                b.len()
            )
            .into_bytes();
            r.extend_from_slice(&b);
            r
        },
        Expect::Unframed,
        Sanity::Skip,
    );
    add(
        "smuggle_pipelined_after_passthrough",
        {
            let mut r = b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n".to_vec();
            r.extend_from_slice(&inner);
            r
        },
        Expect::Unframed,
        Sanity::Skip,
    );
    run_all(&mut env, cases);
}

// ======================================================================== 6. compression

#[test]
fn attack_compression() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let good = df("innocent", "");
    let evil = df("evil", "LABEL owner=evil");
    let part1 = Tar::new().file("Dockerfile", good.as_bytes()).bytes();
    let part2 = Tar::new().file("Dockerfile", evil.as_bytes()).end().bytes();
    let whole = {
        let mut w = part1.clone();
        w.extend_from_slice(&part2);
        w
    };
    let plain = tar_with_dockerfile(&good);
    let target = build_target("");
    let mut cases = Vec::new();
    let mut add = |name: &str, raw: Vec<u8>, expect: Expect, s: Sanity| {
        cases.push(case(format!("compress_{name}"), raw, expect, s));
    };
    add(
        "gzip_second_member",
        request(&target, &[], &[gzip(&part1), gzip(&part2)].concat()),
        Expect::Any,
        Sanity::Must,
    );
    add(
        "gzip_second_member_after_end",
        request(
            &target,
            &[],
            &[
                gzip(&Tar::new().file("Dockerfile", good.as_bytes()).end().bytes()),
                gzip(&part2),
            ]
            .concat(),
        ),
        Expect::Any,
        Sanity::Must,
    );
    add(
        "gzip_trailing_garbage",
        request(&target, &[], &[gzip(&whole), b"garbage".to_vec()].concat()),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "zstd_multi_frame",
        request(
            &target,
            &[],
            &[zstd_raw_frame(&part1), zstd_raw_frame(&part2)].concat(),
        ),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "zstd_skippable_first",
        request(
            &target,
            &[],
            &[zstd_skippable(&part2), zstd_raw_frame(&whole)].concat(),
        ),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "zstd_skippable_between",
        request(
            &target,
            &[],
            &[
                zstd_raw_frame(&part1),
                zstd_skippable(&part2),
                zstd_raw_frame(&part2),
            ]
            .concat(),
        ),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "gzip_of_gzip",
        request(&target, &[], &gzip(&gzip(&plain))),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "content_encoding_gzip_on_plain",
        request(&target, &[("Content-Encoding", "gzip")], &plain),
        Expect::Any,
        Sanity::Must,
    );
    add(
        "content_encoding_gzip_on_gzip",
        request(
            &target,
            &[("Content-Encoding", "gzip")],
            &gzip(&gzip(&plain)),
        ),
        Expect::Any,
        Sanity::Info,
    );
    let gz = gzip(&[whole.clone(), vec![7u8; 30000]].concat());
    add(
        "gzip_truncated",
        request(&target, &[], &gz[..gz.len() / 2]),
        Expect::Any,
        Sanity::Info,
    );
    add(
        "gzip_truncated_trailer",
        request(&target, &[], &gz[..gz.len() - 4]),
        Expect::Any,
        Sanity::Info,
    );
    let zs = zstd_raw_frame(&whole);
    add(
        "zstd_truncated",
        request(&target, &[], &zs[..zs.len() - 100]),
        Expect::Any,
        Sanity::Info,
    );
    run_all(&mut env, cases);
}

// ======================================================================== 7. remote and BuildKit

#[test]
fn attack_remote_and_buildkit() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let port = serve_tar(tar_with_dockerfile(&df("remote", "")));
    let body = tar_with_dockerfile(&df("innocent", ""));
    let url = format!("http://127.0.0.1:{port}/ctx.tar");
    let mut cases = Vec::new();
    let mut add = |name: &str, raw: Vec<u8>, s: Sanity, hint: &'static str| {
        cases.push(case(format!("remote_{name}"), raw, Expect::Refuse, s).hint(hint));
    };
    let esc = http::escape_query;
    add(
        "http_url",
        build_req(&format!("remote={}", esc(&url)), b""),
        Sanity::Must,
        "remote",
    );
    add(
        "http_url_with_body",
        build_req(&format!("remote={}", esc(&url)), &body),
        Sanity::Must,
        "remote",
    );
    add(
        "pct_key",
        build_req(&format!("%72emote={}", esc(&url)), &body),
        Sanity::Must,
        "remote",
    );
    add(
        "pct_key_upper",
        build_req(&format!("%72%65mote={}", esc(&url)), &body),
        Sanity::Must,
        "remote",
    );
    add(
        "unencoded",
        build_req(&format!("remote={url}"), &body),
        Sanity::Must,
        "remote",
    );
    add(
        "second_value",
        build_req(&format!("remote=&remote={}", esc(&url)), &body),
        Sanity::Info,
        "remote",
    );
    add(
        "git_url",
        build_req("remote=git%3A%2F%2F127.0.0.1%2Fx.git", &body),
        Sanity::Skip,
        "remote",
    );
    add(
        "github_url",
        build_req(
            &format!("remote={}", esc("https://github.com/docker/x.git#main")),
            &body,
        ),
        Sanity::Skip,
        "remote",
    );
    add(
        "client_session",
        build_req("remote=client-session", &body),
        Sanity::Skip,
        "",
    );
    add(
        "version_2",
        build_req("version=2", &body),
        Sanity::Skip,
        "buildkit",
    );
    add(
        "version_2_session",
        build_req("version=2&session=abc&remote=client-session", &body),
        Sanity::Skip,
        "",
    );
    let session = |path: &str, upgrade: bool| {
        let mut r = format!("POST {path} HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n");
        if upgrade {
            r.push_str(
                "Connection: Upgrade\r\nUpgrade: h2c\r\nX-Docker-Expose-Session-Uuid: x\r\n",
            );
        } else {
            r.push_str("Connection: close\r\n");
        }
        r.push_str("\r\n");
        r.into_bytes()
    };
    add(
        "session_plain",
        session("/v1.41/session", false),
        Sanity::Skip,
        "buildkit",
    );
    add(
        "grpc_plain",
        session("/v1.41/grpc", false),
        Sanity::Skip,
        "buildkit",
    );
    add("grpc_h2c", session("/grpc", true), Sanity::Skip, "buildkit");
    add(
        "build_with_upgrade_h2c",
        {
            let mut r = format!(
                "POST {} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
                build_target("labels=%7B%22owner%22%3A%22evil%22%7D"),
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        },
        Sanity::Skip,
        "",
    );
    // h2c upgrade on a build is either refused or the build is rewritten; accept both.
    let last = cases.len() - 1;
    cases[last].expect = Expect::Any;
    run_all(&mut env, cases);
}

#[test]
fn attack_buildkit_cli_20_10() {
    let host = daemon_or_skip!();
    let cli = or_skip!(old_cli());
    let mut env = Env::new(&host);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), df("a", "LABEL owner=evil")).unwrap();
    let ctx = dir.path().to_str().unwrap().to_string();
    let problems = cli_attack_env(
        &mut env,
        &cli,
        "DOCKER_BUILDKIT=1",
        &[],
        &ctx,
        Expect::Refuse,
        Some("docker_buildkit=0"),
        &[("DOCKER_BUILDKIT", "1")],
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ======================================================================== malformed HTTP

/// Requests hyper rejects before the gateway's code runs. None may build anything.
/// The answer is hyper's bare 400 or a closed connection, not a JSON error: hyper has
/// no hook to shape it, and these are not requests any Docker client sends (Go's
/// net/http answers most of them with plain text too). The README says so.
#[test]
fn attack_malformed_http_builds_nothing() {
    let host = daemon_or_skip!();
    let mut env = Env::new(&host);
    let body = tar_with_dockerfile(&df("innocent", ""));
    let target = build_target("");
    let cases = vec![
        // Go accepts `{`, `"` and `}` raw in a request target and builds with owner=evil.
        case(
            "malformed_raw_unencoded_json_labels",
            build_req(r#"labels={"owner":"evil"}"#, &body),
            Expect::Unparsable,
            Sanity::Must,
        ),
        case(
            "malformed_two_content_lengths",
            request(
                &target,
                &[
                    ("Content-Length", &body.len().to_string()),
                    ("Content-Length", "10"),
                ],
                &body,
            ),
            Expect::Unparsable,
            Sanity::Info,
        ),
        case(
            "malformed_te_identity",
            request(
                &target,
                &[
                    ("Transfer-Encoding", "identity"),
                    ("Content-Length", &body.len().to_string()),
                ],
                &body,
            ),
            Expect::Unparsable,
            Sanity::Info,
        ),
        // A prior-knowledge HTTP/2 preface: must not reach the daemon as h2.
        case(
            "malformed_h2_prior_knowledge",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            Expect::Unparsable,
            Sanity::Info,
        ),
    ];
    run_all(&mut env, cases);
}

// ======================================================================== disconnects

#[test]
fn attack_client_disconnects_mid_upload() {
    let host = daemon_or_skip!();
    let env = Env::new(&host);
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let d = &env.daemon;
    let owner = env.gw.owner.clone();
    let dockerfile = df("a", "");
    let body = Tar::new()
        .file("Dockerfile", dockerfile.as_bytes())
        .file("big", &vec![b'x'; 512 * 1024])
        .end()
        .bytes();
    let mut problems = Vec::new();
    for (name, framing) in [("content_length", false), ("chunked", true)] {
        for cut in [100, 2048, body.len() / 2, body.len() - 1024] {
            let before = snap(d);
            let mut s = UnixStream::connect(&env.gw.sock).unwrap();
            let target = build_target("");
            if framing {
                let head = format!(
                    "POST {target} HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n"
                );
                s.write_all(head.as_bytes()).unwrap();
                let c = chunked(&body[..cut], 4096);
                // Everything but the terminating chunk.
                let _ = s.write_all(&c[..c.len() - 5]);
            } else {
                let head = format!(
                    "POST {target} HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                s.write_all(head.as_bytes()).unwrap();
                let _ = s.write_all(&body[..cut]);
            }
            // The stimulus: a client that lingers a moment after its last bytes (long
            // enough for the gateway to pass them on), then dies.
            thread::sleep(Duration::from_millis(200));
            let _ = s.shutdown(Shutdown::Both);
            drop(s);
            let after = settle(d, &before, common::SETTLE_QUIET);
            let new = diff(d, &before, &after);
            eprintln!("[disconnect {name} at {cut}] {}", new.summary());
            if !new.is_empty() {
                problems.push(format!(
                    "[disconnect {name} at {cut}] objects appeared after the client hung up: {:?} / unlabelled: {:?}",
                    new.summary(),
                    new.unlabelled(&owner)
                ));
            }
            remove(d, &new);
        }
    }
    let mut gw = env.gw;
    assert!(gw.try_wait().is_none(), "gateway died\n{}", gw.log_banner());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ======================================================================== the harness itself

/// The harness must be able to see an unlabelled build: sent straight to the daemon, a
/// `LABEL owner=evil` build must be judged a failure.
#[test]
fn harness_sees_unlabelled_builds() {
    let host = daemon_or_skip!();
    let env = Env::new(&host);
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let raw = build_req("", &tar_with_dockerfile(&df("a", "LABEL owner=evil")));
    let run = send_and_watch(&env, &env.daemon.sock, &raw);
    let problems = judge(&env.gw.owner, &run.outcome, &run.new, Expect::Any, None);
    remove(&env.daemon, &run.new);
    assert!(
        matches!(run.outcome, Outcome::Built(_)),
        "{}",
        run.outcome.short()
    );
    assert!(
        !run.new.containers.is_empty() && !run.new.images.is_empty(),
        "a rm=0 build with a RUN must leave containers and images: {}",
        run.new.summary()
    );
    assert!(
        problems.iter().any(|p| p.contains("UNLABELLED")),
        "judge missed an unlabelled build: {problems:?}"
    );
    // And a plain build through the gateway passes the same judge, with every
    // intermediate container and image labelled.
    let raw = build_req("", &tar_with_dockerfile(&df("a", "")));
    let run = send_and_watch(&env, &env.gw.sock, &raw);
    let problems = judge(&env.gw.owner, &run.outcome, &run.new, Expect::Build, None);
    remove(&env.daemon, &run.new);
    assert!(problems.is_empty(), "{problems:?}\n{}", env.gw.log_banner());
    assert!(!run.new.containers.is_empty(), "{}", run.new.summary());
}
