//! Property tests for the `/build` query and for request routing, next to the ones
//! in `query::tests` (which build queries from known-good pairs). Here the raw query
//! is built from allowlisted, unknown and special keys, duplicates and empty pieces,
//! with every byte randomly percent-encoded (either hex case) or `+` for a space, and
//! read by an independent Go-lenient `url.ParseQuery` written below. For every
//! accepted query:
//!
//! * the decision values are what the daemon would read from the raw string: the
//!   `dockerfile` and every pass-through scalar are Go's first value, lists are all
//!   values in order, dropped and unknown keys are absent upstream;
//! * the upstream string has no `;` or `+`, one `version` (`1`), one `dockerfile`
//!   (ours), one `labels` whose JSON (read by `serde_json`) is the decided map with the
//!   owner;
//! * re-parsing the upstream string is accepted and writes it again unchanged.
//!
//! And: a `;` anywhere, a non-empty `remote` or `version=2` are always refused.
//!
//! Routing (`route` has no property-test module of its own, so they live here):
//! `classify` never panics on URIs `http::Uri` accepts; `/build` and `/v<ver>/build`
//! with any bytes percent-encoded are a build for POST and 405 otherwise; spelled with
//! `//`, `/./`, `/x/../` (encoded or not) they are a build or a 400, never passed
//! through; the forwarded path of a build is itself a build.
//!
//! The same checks run unbounded under libFuzzer: `fuzz/fuzz_targets/{query,route}.rs`.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{BuildQuery, KEYS, Kind, Policy};
use crate::route::{Route, classify, upstream_build_path};

const OURS: &str = ".buildgate-Dockerfile-0123456789abcdef";

/// Go's `QueryUnescape`, written out independently of `route::unescape`.
fn go_unescape(s: &str) -> Option<Vec<u8>> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(hex(*b.get(i + 1)?)? << 4 | hex(*b.get(i + 2)?)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Go 1.19 `url.ParseQuery` as the daemon uses it: pieces with `;` or a bad escape
/// are dropped.
fn go_parse_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|p| !p.is_empty() && !p.contains(';'))
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((go_unescape(k)?, go_unescape(v)?))
        })
        .collect()
}

fn all<'a>(pairs: &'a [(Vec<u8>, Vec<u8>)], key: &str) -> Vec<&'a [u8]> {
    pairs
        .iter()
        .filter(|(k, _)| k == key.as_bytes())
        .map(|(_, v)| v.as_slice())
        .collect()
}

fn first<'a>(pairs: &'a [(Vec<u8>, Vec<u8>)], key: &str) -> &'a [u8] {
    all(pairs, key).first().copied().unwrap_or(b"")
}

fn policy(n: u8) -> Policy {
    Policy {
        owner_key: if n & 1 == 0 {
            "owner"
        } else {
            "com.example/owner"
        }
        .into(),
        owner: "job-42".into(),
        cgroup_parent: (n & 2 != 0).then(|| "/ci".into()),
        allow_host_network: n & 4 != 0,
    }
}

fn key() -> impl Strategy<Value = String> {
    let known: Vec<String> = KEYS.iter().map(|(k, _)| k.to_string()).collect();
    prop_oneof![
        8 => prop::sample::select(known),
        1 => prop::sample::select(vec!["zz", "Dockerfile", "LABELS", "t ", ""]).prop_map(String::from),
        1 => "[a-z;=&%+ ]{0,4}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 +%&=;:/\"\\\\{}é\u{2028}\t.-]{0,10}",
        2 => prop::sample::select(vec![
            "", "1", "2", "host", " Host", "container:x", "bridge", "client-session", "null",
            "{}", "{\"owner\":\"evil\",\"a\":\"b\"}", "{\"k\":null}", "{\"k\":1}", "[]",
            "{\"a\":\"\\u0000\\\"\"}", "{\"a\":\"b\",\"a\":\"c\"}",
        ])
        .prop_map(String::from),
        1 => prop::collection::btree_map("[a-z\"\\\\ é]{0,4}", "[a-z\"\\\\\n é]{0,4}", 0..3)
            .prop_map(|m| serde_json::to_string(&m).unwrap()),
    ]
}

/// Encodes like an arbitrary client: each byte literal or `%XX` (upper or lower hex),
/// spaces also as `+`. `seed` bits pick per byte.
fn encode(s: &str, seed: u64) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let bits = seed.rotate_left(i as u32 * 3) & 7;
        let literal_ok = c.is_ascii_alphanumeric() || !c.is_ascii() || "-_.~:/{}\"\\".contains(c);
        match (c, bits) {
            (' ', 0..=3) => out.push('+'),
            (_, 0..=4) if literal_ok => out.push(c),
            _ => {
                for b in c.to_string().bytes() {
                    if bits == 5 {
                        out.push_str(&format!("%{b:02x}"));
                    } else {
                        out.push_str(&format!("%{b:02X}"));
                    }
                }
            }
        }
    }
    out
}

fn raw_query() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), value(), any::<u64>(), 0u8..10), 0..8).prop_map(|pairs| {
        let mut pieces = Vec::new();
        for (k, v, seed, shape) in pairs {
            match shape {
                0 => pieces.push(String::new()),
                1 => pieces.push(encode(&k, seed)),
                2 => pieces.push(format!("{}={};x", encode(&k, seed), encode(&v, seed))),
                _ => pieces.push(format!("{}={}", encode(&k, seed), encode(&v, !seed))),
            }
        }
        pieces.join("&")
    })
}

fn check_query(raw: &str, policy: &Policy) -> Result<(), TestCaseError> {
    let go = go_parse_query(raw);
    let result = BuildQuery::parse(Some(raw), policy);
    if raw.contains(';') || !first(&go, "remote").is_empty() || first(&go, "version") == b"2" {
        prop_assert!(result.is_err(), "accepted {:?}", raw);
    }
    let Ok(q) = result else {
        return Ok(());
    };
    prop_assert_eq!(
        q.dockerfile().unwrap_or("").as_bytes(),
        first(&go, "dockerfile")
    );
    prop_assert_eq!(q.labels().get(&policy.owner_key), Some(&policy.owner));

    let up = q.to_upstream(OURS);
    prop_assert!(!up.contains(';') && !up.contains('+'), "{}", up);
    let form = go_parse_query(&up);
    prop_assert_eq!(all(&form, "version"), [b"1".as_slice()]);
    prop_assert_eq!(all(&form, "dockerfile"), [OURS.as_bytes()]);
    let labels = all(&form, "labels");
    prop_assert_eq!(labels.len(), 1);
    let decoded: BTreeMap<String, String> = serde_json::from_slice(labels[0]).unwrap();
    prop_assert_eq!(&decoded, q.labels());
    for &(key, kind) in KEYS {
        let sent = all(&form, key);
        match kind {
            Kind::Scalar => {
                let v = first(&go, key);
                let want: Vec<&[u8]> = if v.is_empty() { vec![] } else { vec![v] };
                prop_assert_eq!(sent, want, "{} in {:?}", key, raw);
            }
            Kind::List => prop_assert_eq!(sent, all(&go, key), "{} in {:?}", key, raw),
            Kind::Dropped => prop_assert!(sent.is_empty(), "{} sent", key),
            Kind::Special => match key {
                "cgroupparent" | "networkmode" => {
                    let v = match (key, &policy.cgroup_parent) {
                        ("cgroupparent", Some(c)) => c.as_bytes(),
                        _ => first(&go, key),
                    };
                    let want: Vec<&[u8]> = if v.is_empty() { vec![] } else { vec![v] };
                    prop_assert_eq!(sent, want, "{} in {:?}", key, raw);
                }
                "remote" | "outputs" => prop_assert!(sent.is_empty(), "{} sent", key),
                _ => {}
            },
        }
    }
    for (k, _) in &form {
        prop_assert!(
            KEYS.iter().any(|(key, _)| key.as_bytes() == k),
            "{:?} sent",
            k
        );
    }

    let again = BuildQuery::parse(Some(&up), policy);
    prop_assert!(again.is_ok(), "our own query refused: {:?}", again);
    let again = again.unwrap();
    prop_assert_eq!(again.labels(), q.labels());
    prop_assert_eq!(again.dockerfile(), Some(OURS));
    prop_assert_eq!(again.to_upstream(OURS), up);
    Ok(())
}

/// Build paths with every byte either literal or percent-encoded.
fn build_path() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec![
            "/build",
            "/v1.41/build",
            "/v1.2.3/build",
            "/v1/build",
            "/v./build",
        ]),
        any::<u64>(),
        prop::collection::vec(any::<bool>(), 16),
    )
        .prop_map(|(p, seed, enc)| {
            let mut out = String::new();
            for (i, c) in p.chars().enumerate() {
                // The leading '/' stays: an origin-form target must start with one.
                if i > 0 && enc[i % enc.len()] && seed.rotate_left(i as u32) & 1 == 1 {
                    if seed & (1 << (i % 64)) != 0 {
                        out.push_str(&format!("%{:02x}", c as u8));
                    } else {
                        out.push_str(&format!("%{:02X}", c as u8));
                    }
                } else {
                    out.push(c);
                }
            }
            (p.to_string(), out)
        })
}

/// Same, with segments that clean away (`//`, `/./`, `/x/../`, encoded or not)
/// inserted at some slashes.
fn unclean_build_path() -> impl Strategy<Value = String> {
    (
        build_path(),
        prop::collection::vec(
            prop::sample::select(vec![
                "//", "/./", "/x/../", "/%2E/", "/%2e%2E/", "%2F/", "/.%2F", "/v1/../",
            ]),
            4,
        ),
        any::<u8>(),
    )
        .prop_map(|((_, p), noise, mask)| {
            let mut out = String::new();
            let mut slash = 0;
            let mut inserted = false;
            for c in p.chars() {
                if c == '/' && (mask >> slash) & 1 == 1 {
                    out.push_str(noise[slash % noise.len()]);
                    inserted = true;
                } else {
                    out.push(c);
                }
                slash += usize::from(c == '/');
            }
            if !inserted {
                out.insert_str(0, "/.");
            }
            if !out.starts_with('/') {
                out.insert(0, '/'); // "%2F/..." as the first slash: still origin-form
            }
            out
        })
}

fn uri(s: &str) -> http::Uri {
    http::Uri::try_from(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn query_prop_decisions_survive_the_round_trip(raw in raw_query(), p in 0u8..8) {
        check_query(&raw, &policy(p))?;
    }

    #[test]
    fn query_prop_arbitrary_strings(raw in "[a-z%=&;+0-9A-F{}\":é\\\\ ]{0,60}", p in 0u8..8) {
        check_query(&raw, &policy(p))?;
    }

    #[test]
    fn route_prop_never_panics(
        target in "[/a-z0-9%.?&=:@_~+-]{0,40}|[a-z]{1,5}://[a-z0-9.:@%-]{0,12}[/a-z0-9%.?]{0,20}",
        m in prop::sample::select(vec!["POST", "GET", "HEAD", "PUT", "CONNECT", "OPTIONS", "post"]),
    ) {
        let method = http::Method::from_bytes(m.as_bytes()).unwrap();
        if let Ok(u) = http::Uri::try_from(target.as_str())
            && let Ok(Route::Build) = classify(&method, &u)
        {
            prop_assert_eq!(&method, &http::Method::POST);
            let up = upstream_build_path(&u);
            prop_assert_eq!(classify(&http::Method::POST, &uri(&up)), Ok(Route::Build), "{}", up);
        }
    }

    #[test]
    fn route_prop_any_encoding_of_build_is_a_build(
        (plain, path) in build_path(),
        query in prop_oneof![Just(""), Just("?t=x"), Just("?"), Just("?a=%2Fbuild")],
        absolute in any::<bool>(),
    ) {
        let target = if absolute {
            format!("http://docker{path}{query}")
        } else {
            format!("{path}{query}")
        };
        let u = uri(&target);
        prop_assert_eq!(classify(&http::Method::POST, &u), Ok(Route::Build), "{}", target);
        let up = upstream_build_path(&u);
        prop_assert!(up == plain || up == "/build", "{} -> {}", target, up);
        prop_assert_eq!(classify(&http::Method::POST, &uri(&up)), Ok(Route::Build));
        for m in [http::Method::GET, http::Method::PUT, http::Method::HEAD] {
            prop_assert_eq!(classify(&m, &u).map_err(|e| e.status), Err(405), "{} {}", m, target);
        }
    }

    #[test]
    fn route_prop_unclean_build_paths_are_never_passed_through(path in unclean_build_path()) {
        let got = classify(&http::Method::POST, &uri(&path));
        prop_assert!(
            matches!(got, Ok(Route::Build)) || got.as_ref().is_err_and(|e| e.status == 400),
            "{} -> {:?}", path, got
        );
    }
}
