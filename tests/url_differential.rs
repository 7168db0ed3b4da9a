//! Differential tests: the gateway's reading of request targets, query
//! strings and `labels` against Go's own (`tests/go/urlparse`, built here
//! with the installed `go`). Skipped when `go` is missing, except under
//! `CI=true`, where a missing `go` is a failure (`common::go_oracle`).

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use buildgate::query::{BuildQuery, Policy};
use buildgate::route::{Route, classify};
use common::oracle::{hex, unhex};

/// Send `lines` (op, args) to the oracle; one answer line each.
fn ask(bin: &Path, lines: &[(&str, Vec<Vec<u8>>)]) -> Vec<String> {
    let mut input = String::new();
    for (op, args) in lines {
        input.push_str(op);
        for a in args {
            input.push('\t');
            input.push_str(&hex(a));
        }
        input.push('\n');
    }
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start oracle");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write oracle input");
    let out = child.wait_with_output().expect("oracle output");
    assert!(out.status.success(), "oracle failed");
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .expect("oracle output is hex/ASCII")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(answers.len(), lines.len(), "one answer per question");
    answers
}

/// Parse an oracle `ok|err<TAB>k=v,...` line into (ok, map of hex-decoded values).
fn parse_map(line: &str) -> (bool, BTreeMap<Vec<u8>, Vec<Vec<u8>>>) {
    let mut fields = line.split('\t');
    let ok = fields.next() == Some("ok");
    let map = fields
        .map(|f| {
            let (k, vs) = f.split_once('=').expect("k=v");
            let vs = if vs.is_empty() {
                // Go never stores a key without a value: one empty value.
                vec![Vec::new()]
            } else {
                vs.split(',').map(unhex).collect()
            };
            (unhex(k), vs)
        })
        .collect();
    (ok, map)
}

/// Deterministic pseudo-random strings over an alphabet of tricky pieces.
fn fuzz(seed: u64, pieces: &[&str], n: usize, max_len: usize) -> Vec<String> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    (0..n)
        .map(|_| {
            let len = next() % (max_len + 1);
            (0..len).map(|_| pieces[next() % pieces.len()]).collect()
        })
        .collect()
}

const TARGETS: &[&str] = &[
    "/build",
    "/build?x",
    "/v1.41/build",
    "/v1.41%2Fbuild",
    "/%62uild",
    "//build",
    "/v1.41/build/",
    "/v/build",
    "/v./build",
    "/BUILD",
    "/build/prune",
    "http://docker/build",
    "http://docker/v1.41/build?t=a",
    "http://docker//build",
    "http://u:p@docker:2375/build",
    "http://[::1]:2375/build",
    "http://docker:x/build",
    "http://docker",
    "http:/build",
    "/build%00",
    "/build%",
    "/build%zz",
    "/session",
    "/v1.41/grpc",
    "/_ping",
    "/x/../build",
    "/./session",
    "*",
    "docker:2375",
    "/a+b",
    "/%2e%2e/build",
];

const METHODS: &[&str] = &["POST", "GET", "HEAD", "PUT", "CONNECT", "post"];

#[test]
fn classify_agrees_with_go() {
    let bin = go_oracle_or_skip!("urlparse");
    let mut targets: Vec<String> = TARGETS.iter().map(|s| s.to_string()).collect();
    targets.extend(fuzz(
        1,
        &[
            "/", "/", "v", "1.41", ".", "..", "%2F", "%2f", "%2E", "%62", "build", "session",
            "grpc", "_ping", "%", "%0", "%00", "?", "+", ":", "@", "x", "http://d", "[::1]",
        ],
        4000,
        7,
    ));
    let mut questions = Vec::new();
    let mut cases = Vec::new();
    for t in &targets {
        let Ok(uri) = t.parse::<http::Uri>() else {
            continue; // hyper refuses it before the gateway sees it
        };
        for m in METHODS {
            let method = http::Method::from_bytes(m.as_bytes()).expect("method");
            // Ask Go about the target hyper will forward, fragment already gone.
            let forwarded = match (uri.scheme_str(), uri.authority()) {
                (Some(s), Some(a)) => format!(
                    "{s}://{}{}",
                    a.as_str(),
                    uri.path_and_query().map_or("", |p| p.as_str())
                ),
                (None, Some(a)) if uri.path_and_query().is_none() => a.as_str().to_owned(),
                _ => uri
                    .path_and_query()
                    .map_or("/".into(), |p| p.as_str().to_owned()),
            };
            questions.push((
                "request",
                vec![m.as_bytes().to_vec(), forwarded.into_bytes()],
            ));
            cases.push((
                m,
                t.clone(),
                classify(&method, &uri).map_err(|e| e.status.as_u16()),
            ));
        }
    }
    let answers = ask(&bin, &questions);
    let mut checked = 0;
    for ((method, target, got), go) in cases.iter().zip(&answers) {
        let (kind, class) = go.split_once(' ').unwrap_or((go.as_str(), ""));
        let want: Result<Route, u16> = match (kind, class) {
            ("err", _) => Err(400),
            ("redirect", "build" | "session" | "grpc") => Err(400),
            ("redirect", _) => Ok(Route::Other),
            ("route", "build") if **method == "POST" => Ok(Route::Build),
            ("route", "build") => Err(405),
            ("route", "session" | "grpc") => Ok(Route::BuildKit),
            ("route", "_ping") if **method == "GET" || **method == "HEAD" => Ok(Route::Ping),
            ("route", _) => Ok(Route::Other),
            _ => panic!("oracle said {go:?}"),
        };
        assert_eq!(*got, want, "{method} {target:?}: Go says {go}");
        checked += 1;
    }
    assert!(checked > 1000, "only {checked} cases checked");
}

const QUERIES: &[&str] = &[
    "",
    "t=a&t=b",
    "a=1;b=2",
    "dockerfile=a%zz&t=x",
    "dockerfile=x+y%2Fz",
    "q=1&q=2",
    "=x&&&t=%26",
    "labels=%7B%22owner%22%3A%22evil%22%7D",
    "t=%E2%82%AC&t=",
    "target=a=b=c",
    "%74=aliased",
    "Dockerfile=x",
];

/// Keys the daemon reads and the gateway passes as given.
const PASS_SCALAR: &[&str] = &[
    "q",
    "nocache",
    "rm",
    "forcerm",
    "memory",
    "memswap",
    "cpushares",
    "cpusetcpus",
    "cpuperiod",
    "cpuquota",
    "cpusetmems",
    "shmsize",
    "ulimits",
    "cgroupparent",
    "networkmode",
    "squash",
    "target",
    "platform",
    "isolation",
    "cachefrom",
];
const PASS_LIST: &[&str] = &["extrahosts", "securityopt"];
/// Keys the gateway acts on itself and never sends (tags after the check of the
/// result; pulls before it pins the bases).
const TAKEN: &[&str] = &["t", "pull"];

#[test]
fn query_agrees_with_go() {
    let bin = go_oracle_or_skip!("urlparse");
    let policy = Policy {
        owner_key: "owner".into(),
        owner: "job".into(),
        cgroup_parent: None,
        allow_host_network: true,
    };
    let mut raws: Vec<String> = QUERIES.iter().map(|s| s.to_string()).collect();
    raws.extend(fuzz(
        2,
        &[
            "&",
            "=",
            "t",
            "q",
            "target",
            "dockerfile",
            "labels",
            "%7B%7D",
            "%",
            "%2",
            "%3B",
            ";",
            "+",
            "%2B",
            "%26",
            "%3D",
            "%E2%82%AC",
            "%FF",
            "x",
            "networkmode",
            "rm",
        ],
        3000,
        8,
    ));
    // First round: how Go reads each client query.
    let questions: Vec<_> = raws
        .iter()
        .map(|r| ("query", vec![r.as_bytes().to_vec()]))
        .collect();
    let answers = ask(&bin, &questions);
    // Second round: how Go reads what we send upstream.
    let mut accepted = Vec::new();
    for (raw, go) in raws.iter().zip(&answers) {
        let (go_ok, go_form) = parse_map(go);
        match BuildQuery::parse(Some(raw), &policy) {
            Err(_) => {}
            Ok(q) => {
                assert!(
                    go_ok,
                    "{raw:?}: Go reports an error but the gateway accepted it"
                );
                accepted.push((raw, go_form, q.to_upstream("NEW")));
            }
        }
    }
    let questions: Vec<_> = accepted
        .iter()
        .map(|(_, _, up)| ("query", vec![up.as_bytes().to_vec()]))
        .collect();
    let answers = ask(&bin, &questions);
    for ((raw, client, up), go) in accepted.iter().zip(&answers) {
        let (ok, upstream) = parse_map(go);
        assert!(ok, "{raw:?}: Go cannot read our upstream {up:?}");
        let get = |m: &BTreeMap<Vec<u8>, Vec<Vec<u8>>>, k: &str| {
            m.get(k.as_bytes()).cloned().unwrap_or_default()
        };
        for k in PASS_SCALAR {
            let first = |m| {
                get(m, k)
                    .into_iter()
                    .next()
                    .filter(|v: &Vec<u8>| !v.is_empty())
            };
            assert_eq!(first(client), first(&upstream), "{raw:?} key {k}");
        }
        for k in PASS_LIST {
            assert_eq!(get(client, k), get(&upstream, k), "{raw:?} key {k}");
        }
        for k in TAKEN {
            assert!(get(&upstream, k).is_empty(), "{raw:?} key {k} sent");
        }
        let q = BuildQuery::parse(Some(raw), &policy).expect("accepted above");
        let client_tags: Vec<Vec<u8>> = get(client, "t");
        let tags: Vec<Vec<u8>> = q.tags().iter().map(|t| t.as_bytes().to_vec()).collect();
        assert_eq!(tags, client_tags, "{raw:?}: the tags the gateway applies");
        assert_eq!(
            get(&upstream, "dockerfile"),
            vec![b"NEW".to_vec()],
            "{raw:?}"
        );
        assert_eq!(get(&upstream, "version"), vec![b"1".to_vec()], "{raw:?}");
        let labels = get(&upstream, "labels");
        assert_eq!(labels.len(), 1, "{raw:?}");
        let labels: BTreeMap<String, String> =
            serde_json::from_slice(&labels[0]).expect("upstream labels JSON");
        assert_eq!(
            labels.get("owner").map(String::as_str),
            Some("job"),
            "{raw:?}"
        );
    }
    assert!(accepted.len() > 100, "only {} accepted", accepted.len());
}

const LABELS: &[&str] = &[
    "{}",
    "null",
    r#"{"a":"b"}"#,
    r#"{"owner":"x"}"#,
    r#"{"\u006fwner":"x"}"#,
    r#"{"a":"1","a":"2"}"#,
    r#"{"a":null}"#,
    r#"{"a":"1","a":null}"#,
    r#"{"a":null,"a":"1"}"#,
    r#"{"Owner":"x"}"#,
    r#"{"a":1}"#,
    r#"[]"#,
    r#""x""#,
    r#"{"a":"b"} x"#,
    r#"{"a":"b",}"#,
    r#"{'a':'b'}"#,
    "{\"a\":\"\u{1}\"}",
    r#"{"a":"\u00e9\/"}"#,
    r#" {"a" : "b"} "#,
    r#"{"a":"b"}{}"#,
    r#"{"a":true}"#,
    r#"{"a":{}}"#,
    r#"{"a":"\ud800"}"#,
];

/// Where the gateway is knowingly stricter than Go (refuses what Go accepts).
/// Go turns a lone surrogate into U+FFFD; serde_json refuses it. Refusing
/// is the safe side of that disagreement.
const STRICTER: &[&str] = &[r#"{"a":"\ud800"}"#];

#[test]
fn labels_agree_with_go() {
    let bin = go_oracle_or_skip!("urlparse");
    let policy = Policy {
        owner_key: "owner".into(),
        owner: "job".into(),
        cgroup_parent: None,
        allow_host_network: false,
    };
    let questions: Vec<_> = LABELS
        .iter()
        .map(|l| ("labels", vec![l.as_bytes().to_vec()]))
        .collect();
    let answers = ask(&bin, &questions);
    for (json, go) in LABELS.iter().zip(&answers) {
        let (go_ok, go_map) = parse_map(go);
        let raw: String = format!(
            "labels={}",
            json.bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>()
        );
        let ours = BuildQuery::parse(Some(&raw), &policy);
        match (go_ok, ours) {
            (false, Err(_)) => {}
            (false, Ok(_)) => panic!("{json}: Go refuses, gateway accepts"),
            (true, Err(e)) => assert!(STRICTER.contains(json), "{json}: gateway refuses: {e}"),
            (true, Ok(q)) => {
                let mut want: BTreeMap<String, String> = go_map
                    .into_iter()
                    .map(|(k, v)| {
                        let v = v.into_iter().next().unwrap_or_default();
                        (
                            String::from_utf8(k).expect("utf8"),
                            String::from_utf8(v).expect("utf8"),
                        )
                    })
                    .collect();
                want.insert("owner".into(), "job".into());
                assert_eq!(q.labels(), &want, "{json}");
            }
        }
    }
}
