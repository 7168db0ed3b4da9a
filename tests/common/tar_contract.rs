//! The tar reader's calling contract, checked while reading, and the gateway's writer
//! driven the way the build pipeline drives it. Shared by the differential tests
//! (`tests/tar_differential.rs`) and the fuzz targets (`fuzz/src/lib.rs` includes this
//! file with `#[path]`), so it depends on nothing but `bytes` and `buildgate`.
#![allow(dead_code)]

use bytes::BytesMut;

use buildgate::tar::{
    END_OF_ARCHIVE, Entry, Event, Kind, Limits, Reader, TarError, first_entry, padding,
    write_header,
};

/// What a whole read produced: every entry with its complete data, and how it ended
/// (`Ok(true)`: two zero blocks, `Ok(false)`: clean end of input, `Err`: refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub entries: Vec<(Entry, Vec<u8>)>,
    pub end: Result<bool, TarError>,
}

impl Read {
    /// The entries if the archive was accepted, else the error.
    pub fn accepted(self) -> Result<Vec<(Entry, Vec<u8>)>, TarError> {
        self.end.map(|_| self.entries)
    }
}

/// Feeds `data` to a fresh reader in pieces of the sizes `plan` yields (cycled; 0 is
/// read as 1, an empty plan as one piece) and asserts the reader's contract on the way:
/// `Ok(None)` consumes the whole buffer, data comes only for regular files and never
/// more than their size, a body is complete before the next event and at a clean end,
/// end-of-archive and errors are sticky.
pub fn read(data: &[u8], plan: &[usize], limits: Limits) -> Read {
    let mut r = Reader::new(limits);
    let mut entries: Vec<(Entry, Vec<u8>)> = Vec::new();
    let mut buf = BytesMut::new();
    let mut rest = data;
    let mut step = 0;
    let complete = |entries: &[(Entry, Vec<u8>)]| {
        if let Some((e, d)) = entries.last() {
            assert_eq!(d.len() as u64, e.size, "body of {:?} incomplete", e.name);
        }
    };
    let end = 'feed: loop {
        if rest.is_empty() {
            match r.finish() {
                Ok(()) => {
                    complete(&entries);
                    break 'feed Ok(false);
                }
                Err(e) => break 'feed Err(e),
            }
        }
        let n = plan
            .get(step % plan.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .max(1);
        step += 1;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(piece);
        loop {
            match r.next_event(&mut buf) {
                Err(e) => {
                    assert_eq!(r.next_event(&mut buf), Err(e.clone()), "errors are sticky");
                    assert_eq!(r.finish(), Err(e.clone()), "finish repeats the error");
                    break 'feed Err(e);
                }
                Ok(None) => {
                    assert!(buf.is_empty(), "Ok(None) must consume the whole buffer");
                    break;
                }
                Ok(Some(Event::Entry(e))) => {
                    complete(&entries);
                    assert!(e.kind == Kind::Regular || e.size == 0, "{e:?}");
                    assert!(
                        e.kind == Kind::Symlink
                            || e.kind == Kind::HardLink
                            || e.linkname.is_empty()
                    );
                    entries.push((e, Vec::new()));
                }
                Ok(Some(Event::Data(d))) => {
                    assert!(!d.is_empty(), "empty data event");
                    let (e, body) = entries.last_mut().expect("data before any entry");
                    assert_eq!(e.kind, Kind::Regular, "data for a non-file");
                    body.extend_from_slice(&d);
                    assert!(body.len() as u64 <= e.size, "more data than the size");
                }
                Ok(Some(Event::EndOfArchive)) => {
                    complete(&entries);
                    // Whatever follows the end (still in `buf`, or fed later) is dropped.
                    buf.extend_from_slice(b"more");
                    assert_eq!(r.next_event(&mut buf), Ok(Some(Event::EndOfArchive)));
                    assert!(buf.is_empty(), "input after the end is dropped");
                    assert_eq!(r.finish(), Ok(()));
                    break 'feed Ok(true);
                }
            }
        }
    };
    Read { entries, end }
}

/// The archive the gateway sends for these entries: the fixed first entry, every entry
/// written afresh by `write_header` with its data and padding, then the end.
pub fn write_archive(entries: &[(Entry, Vec<u8>)]) -> Result<Vec<u8>, TarError> {
    let mut out = BytesMut::new();
    write_header(&first_entry(), &mut out)?;
    for (e, data) in entries {
        write_header(e, &mut out)?;
        out.extend_from_slice(data);
        out.extend_from_slice(padding(data.len() as u64));
    }
    out.extend_from_slice(&END_OF_ARCHIVE);
    Ok(out.to_vec())
}
