//! Arbitrary bytes into the tar reader: it never panics, keeps its calling contract
//! (see `buildgate_fuzz::read`), and gives the same entries, data and verdict whether
//! the input arrives in one piece, one byte at a time or at input-derived split points.
//! Also run with tight limits, so the limit checks see the same inputs.
#![no_main]

use buildgate::tar::Limits;
use buildgate_fuzz::{read, split_plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tight = Limits {
        max_pax_bytes: 700,
        max_path_len: 120,
    };
    for limits in [Limits::default(), tight] {
        let whole = read(data, &[usize::MAX], limits);
        let bytes = read(data, &[1], limits);
        assert_eq!(whole, bytes, "one feed vs one-byte feeds");
        let split = read(data, &split_plan(data), limits);
        assert_eq!(whole, split, "one feed vs split feeds");
    }
});
