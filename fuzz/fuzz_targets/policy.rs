//! The `--confine` parsers of client input, chosen by the first byte:
//! * `filters` values: never panic; what is accepted, with the owner added and written
//!   back, reads back as the same filters plus the owner's label;
//! * request paths against the route table: never panic, and the same answer twice;
//! * commit and import `changes`: never panic; what is accepted ends with the owner's
//!   LABEL, and is accepted again (as one change) with the same ending.
#![no_main]

use buildgate::dockerfile::rewrite_changes;
use buildgate::policy::{endpoints, filters};
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 3 {
        0 => {
            if let Ok(mut f) = filters::parse(&text) {
                let before = f.clone();
                filters::add_owner(&mut f, "owner", "job");
                let back = filters::parse(&filters::to_json(&f)).expect("our filters parse");
                for (key, values) in &before {
                    let got = &back[key];
                    assert!(values.iter().all(|v| got.contains(v)), "{key} lost values");
                }
                assert!(back["label"].contains(&"owner=job".to_string()));
            }
        }
        1 => {
            let method = METHODS[usize::from(selector / 3) % METHODS.len()];
            let first = endpoints::match_route(method, &text);
            assert_eq!(first, endpoints::match_route(method, &text));
        }
        _ => {
            let changes: Vec<&str> = text.split('\u{0}').collect();
            if let Ok(out) = rewrite_changes(&changes, "owner", "job") {
                assert!(out.ends_with("LABEL owner=\"job\""), "{out:?}");
                let again = rewrite_changes(&[&out], "owner", "job").expect("our changes are accepted");
                assert!(again.ends_with("LABEL owner=\"job\""));
            }
        }
    }
});
