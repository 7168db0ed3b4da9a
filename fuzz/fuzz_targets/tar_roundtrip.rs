//! Whatever the reader accepts, the writer can write, and reading the writer's output
//! gives back the same entries and data (in any split); the writer's output is a fixed
//! point (writing what was read back gives the same bytes). This is the gateway's own
//! pipeline: the daemon only ever sees bytes the writer produced from an `Entry`.
#![no_main]

use bytes::BytesMut;

use buildgate::tar::{END_OF_ARCHIVE, Entry, Limits, TarError, first_entry, padding, write_header};
use buildgate_fuzz::{read, split_plan};
use libfuzzer_sys::fuzz_target;

fn write_all(entries: &[(Entry, Vec<u8>)]) -> Result<Vec<u8>, TarError> {
    let mut out = BytesMut::new();
    write_header(&first_entry(), &mut out).expect("the fixed first entry is writable");
    for (e, d) in entries {
        write_header(e, &mut out)?;
        out.extend_from_slice(d);
        out.extend_from_slice(padding(d.len() as u64));
    }
    out.extend_from_slice(&END_OF_ARCHIVE);
    Ok(out.to_vec())
}

fuzz_target!(|data: &[u8]| {
    let got = read(data, &[usize::MAX], Limits::default());
    if got.end.is_err() {
        return;
    }
    let written = match write_all(&got.entries) {
        Ok(w) => w,
        // The only entries the reader accepts and the writer cannot encode are those
        // whose PAX records would exceed Go's 1 MiB cap; nothing smaller may be refused.
        Err(e) => panic!("the writer refused an entry the reader accepted: {e}"),
    };
    let mut want = vec![(first_entry(), Vec::new())];
    want.extend(got.entries.iter().cloned());
    for plan in [vec![usize::MAX], vec![1], split_plan(data)] {
        let again = read(&written, &plan, Limits::default());
        assert_eq!(
            again.end,
            Ok(true),
            "the writer's output must read back cleanly"
        );
        assert_eq!(again.entries, want, "read, write, read changed the entries");
    }
    let rewritten = write_all(&want[1..]).expect("what was read back is writable");
    assert_eq!(
        rewritten, written,
        "the writer's output is not a fixed point"
    );
});
