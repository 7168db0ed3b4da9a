//! Arbitrary bytes into `gojson`, the reader and decoder of JSON request bodies. It
//! never panics, and:
//! * what the reader accepts nests at most `MAX_DEPTH` deep (counted here by an
//!   independent bracket scan) and reads back the same from `Value::to_json`;
//! * for every moby body schema, what the decoder accepts conforms to the schema, and
//!   its `to_json` (what the gateway would forward) decodes to the identical tree and
//!   writes the same JSON again (a fixed point). The daemon only ever sees that output,
//!   so this is the gateway's own round trip; `tests/json_differential.rs` checks it
//!   against Go.
#![no_main]

use buildgate::gojson::{self, moby};
use libfuzzer_sys::fuzz_target;

/// The deepest nesting of `[`/`{` outside strings: exact for valid JSON.
fn nesting(data: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in data {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = gojson::parse(data) else {
        return;
    };
    assert!(nesting(data) <= gojson::MAX_DEPTH, "depth limit");
    let raw = v.to_json();
    assert_eq!(gojson::parse(raw.as_bytes()).as_ref(), Ok(&v), "{raw}");
    for (name, schema) in moby::ALL {
        let Ok(d) = gojson::decode(&v, schema) else {
            continue;
        };
        assert!(d.conforms(schema), "{name}: {d}");
        let out = d.to_json();
        let back = gojson::decode_bytes(out.as_bytes(), schema)
            .unwrap_or_else(|e| panic!("{name}: own output {out} refused: {e}"));
        assert_eq!(back, d, "{name}: {out}");
        assert_eq!(back.to_json(), out, "{name}: not a fixed point");
    }
});
