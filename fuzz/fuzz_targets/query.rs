//! Arbitrary query strings into `BuildQuery::parse`. It never panics; when it accepts:
//! * the client's `dockerfile` is the first `dockerfile` value Go's lenient
//!   `url.ParseQuery` reads from the raw string (an independent reader here);
//! * `to_upstream` has no `;` or `+`, exactly one `version` (`1`), one `dockerfile`
//!   (ours), one `labels` whose JSON holds the owner;
//! * re-parsing `to_upstream` is accepted, gives the same labels and our dockerfile,
//!   and writes the same upstream string again (a fixed point: same decision values).
#![no_main]

use std::collections::BTreeMap;

use buildgate::query::{BuildQuery, Policy};
use libfuzzer_sys::fuzz_target;

const OURS: &str = ".buildgate-Dockerfile-0123456789abcdef";

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Go's `QueryUnescape`.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = unhex(*b.get(i + 1)?)?;
                let lo = unhex(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
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

/// Go 1.19 `url.ParseQuery` as the daemon uses it: bad pairs are dropped.
fn go_parse_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|p| !p.is_empty() && !p.contains(';'))
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((unescape(k)?, unescape(v)?))
        })
        .collect()
}

fn values<'a>(pairs: &'a [(Vec<u8>, Vec<u8>)], key: &str) -> Vec<&'a [u8]> {
    pairs
        .iter()
        .filter(|(k, _)| k == key.as_bytes())
        .map(|(_, v)| v.as_slice())
        .collect()
}

fn policy(n: usize) -> Policy {
    Policy {
        owner_key: if n & 1 == 0 {
            "owner"
        } else {
            "com.example.owner"
        }
        .into(),
        owner: "job-42".into(),
        cgroup_parent: (n & 2 != 0).then(|| "/ci".into()),
        allow_host_network: n & 4 != 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let policy = policy(data.len() % 8);
    let Ok(q) = BuildQuery::parse(Some(raw), &policy) else {
        return;
    };
    let go = go_parse_query(raw);
    let first_df = values(&go, "dockerfile").first().copied().unwrap_or(b"");
    assert_eq!(
        q.dockerfile().unwrap_or("").as_bytes(),
        first_df,
        "dockerfile as Go reads it"
    );
    assert_eq!(q.labels().get(&policy.owner_key), Some(&policy.owner));

    let up = q.to_upstream(OURS);
    assert!(!up.contains(';') && !up.contains('+'), "{up}");
    let form = go_parse_query(&up);
    assert_eq!(values(&form, "version"), [b"1".as_slice()]);
    assert_eq!(values(&form, "dockerfile"), [OURS.as_bytes()]);
    let labels = values(&form, "labels");
    assert_eq!(labels.len(), 1);
    let decoded: BTreeMap<String, String> =
        serde_json_lite(labels[0]).expect("labels JSON is a string map");
    assert_eq!(&decoded, q.labels(), "labels as the daemon decodes them");
    for (k, v) in &form {
        let key = std::str::from_utf8(k).expect("keys are ASCII");
        if !matches!(key, "t" | "extrahosts" | "securityopt") {
            assert_eq!(values(&form, key).len(), 1, "{key} sent more than once");
        }
        assert!(std::str::from_utf8(v).is_ok());
    }

    let again = BuildQuery::parse(Some(&up), &policy).expect("our own query is accepted");
    assert_eq!(again.labels(), q.labels());
    assert_eq!(again.dockerfile(), Some(OURS));
    assert_eq!(
        again.to_upstream(OURS),
        up,
        "to_upstream is not a fixed point"
    );
});

/// Just enough JSON for `{"k":"v",...}` as `to_upstream` writes it (`\"`, `\\`,
/// `\u00XX` escapes), independent of the gateway's own encoder.
fn serde_json_lite(b: &[u8]) -> Option<BTreeMap<String, String>> {
    let s = std::str::from_utf8(b).ok()?;
    let mut chars = s.chars().peekable();
    let mut map = BTreeMap::new();
    let string = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<String> {
        if chars.next()? != '"' {
            return None;
        }
        let mut out = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    'u' => {
                        let hex: String = (0..4).map(|_| chars.next()).collect::<Option<_>>()?;
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                },
                c if (c as u32) < 0x20 => return None,
                c => out.push(c),
            }
        }
    };
    if chars.next()? != '{' {
        return None;
    }
    if chars.peek() == Some(&'}') {
        chars.next();
        return chars.next().is_none().then_some(map);
    }
    loop {
        let k = string(&mut chars)?;
        if chars.next()? != ':' {
            return None;
        }
        let v = string(&mut chars)?;
        if map.insert(k, v).is_some() {
            return None; // to_upstream writes each key once
        }
        match chars.next()? {
            ',' => continue,
            '}' => return chars.next().is_none().then_some(map),
            _ => return None,
        }
    }
}
