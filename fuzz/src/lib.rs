//! Helpers shared by the fuzz targets: feeding the tar reader in chunks while checking
//! its calling contract, and a deterministic split plan derived from the input.

use bytes::BytesMut;

use buildgate::tar::{Entry, Event, Kind, Limits, Reader, TarError};

/// What a whole read produced: every entry with its complete data, and how it ended
/// (`Ok(true)`: two zero blocks, `Ok(false)`: clean end of input, `Err`: refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub entries: Vec<(Entry, Vec<u8>)>,
    pub end: Result<bool, TarError>,
}

/// Feeds `data` to a fresh reader in pieces of the sizes `plan` yields (cycled; 0 is
/// read as 1) and asserts the reader's contract on the way:
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

/// Chunk sizes from a small xorshift seeded by the input itself, so every input gets its
/// own (replayable) split points: mostly small pieces, some across block boundaries.
pub fn split_plan(data: &[u8]) -> Vec<usize> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15 ^ data.len() as u64;
    for &b in data.iter().take(64) {
        s = (s ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
    }
    (0..32)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            match s % 4 {
                0 => 1 + (s >> 8) as usize % 8,
                1 => 1 + (s >> 8) as usize % 600,
                2 => 512,
                _ => 1 + (s >> 8) as usize % 1500,
            }
        })
        .collect()
}
