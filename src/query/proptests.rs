//! Property tests for the `/build` query, next to the ones
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
//! The same checks run unbounded under libFuzzer: `fuzz/fuzz_targets/query.rs`.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{BuildQuery, KEYS, Kind, Policy};

const OURS: &str = ".buildgate-Dockerfile-0123456789abcdef";

/// Go's `QueryUnescape`, written out independently of `gourl::unescape`.
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
            Kind::Taken => {
                prop_assert!(sent.is_empty(), "{} sent", key);
                let want: Vec<&[u8]> = all(&go, key);
                let got: Vec<&[u8]> = q.tags().iter().map(|t| t.as_bytes()).collect();
                prop_assert_eq!(got, want, "{} in {:?}", key, raw);
            }
            Kind::Special => match key {
                "cgroupparent" | "networkmode" => {
                    let v = match (key, &policy.cgroup_parent) {
                        ("cgroupparent", Some(c)) => c.as_bytes(),
                        _ => first(&go, key),
                    };
                    let want: Vec<&[u8]> = if v.is_empty() { vec![] } else { vec![v] };
                    prop_assert_eq!(sent, want, "{} in {:?}", key, raw);
                }
                "remote" | "outputs" | "pull" => prop_assert!(sent.is_empty(), "{} sent", key),
                "buildargs" => {
                    // Go's reading of the client's JSON is what the gateway decided, and
                    // the JSON sent reads back as exactly that.
                    let raw_args = String::from_utf8_lossy(first(&go, key)).into_owned();
                    let theirs: BTreeMap<String, Option<String>> = if raw_args.is_empty() {
                        BTreeMap::new()
                    } else {
                        serde_json::from_str::<Option<BTreeMap<String, Option<String>>>>(&raw_args)
                            .unwrap_or_default()
                            .unwrap_or_default()
                    };
                    prop_assert_eq!(q.build_args(), &theirs, "{:?}", raw);
                    let ours: BTreeMap<String, Option<String>> = match sent.as_slice() {
                        [] => BTreeMap::new(),
                        [json] => serde_json::from_slice(json).unwrap(),
                        more => {
                            return Err(TestCaseError::fail(format!(
                                "{} buildargs sent",
                                more.len()
                            )));
                        }
                    };
                    prop_assert_eq!(&ours, q.build_args());
                }
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
    prop_assert_eq!(again.build_args(), q.build_args());
    Ok(())
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
}
