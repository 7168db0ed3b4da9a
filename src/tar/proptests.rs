//! Property tests (proptest, shrinking) for the tar reader and writer, next to the
//! seeded ones in `reader::tests`. They cover what those do not:
//!
//! * the round trip over entries drawn from the *whole* space the writer accepts
//!   (any non-control name byte, names and link targets up to the reader's limit,
//!   user/group names and xattrs with spaces, `=`, newlines and NULs where allowed,
//!   every `i64` mtime, ids at the edges), and that the writer's output is a fixed point;
//! * the writer given *any* entry, valid or not: it refuses and appends nothing, or what
//!   it wrote reads back as exactly that entry (it never emits what the reader refuses
//!   or misreads), huge sizes included;
//! * mutated valid archives: the reader gives the same answer however the input is
//!   split, and whatever it accepts survives write-and-read-back unchanged (the
//!   gateway's own pipeline).
//!
//! The same invariants run unbounded under libFuzzer: `fuzz/fuzz_targets/tar_*.rs`.

use bytes::BytesMut;
use proptest::prelude::*;

use super::header::{MAX_ID, MAX_SIZE};
use super::{END_OF_ARCHIVE, Entry, Event, Kind, Limits, Reader, TarError};
use super::{first_entry, padding, write_header};

/// Every entry with its complete data, and how the read ended (`Ok(true)`: two zero
/// blocks, `Ok(false)`: clean end of input).
type Read = (Vec<(Entry, Vec<u8>)>, Result<bool, TarError>);

/// Feeds `data` in pieces of `chunk` bytes, checking the reader's calling contract.
fn read(data: &[u8], chunk: usize) -> Read {
    let mut r = Reader::new(Limits::default());
    let mut out: Vec<(Entry, Vec<u8>)> = Vec::new();
    let mut buf = BytesMut::new();
    let complete = |out: &[(Entry, Vec<u8>)]| {
        if let Some((e, d)) = out.last() {
            assert_eq!(d.len() as u64, e.size, "body of {:?} incomplete", e.name);
        }
    };
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match r.next_event(&mut buf) {
                Err(e) => {
                    assert_eq!(r.next_event(&mut buf), Err(e.clone()), "sticky error");
                    return (out, Err(e));
                }
                Ok(None) => {
                    assert!(buf.is_empty(), "Ok(None) consumes the buffer");
                    break;
                }
                Ok(Some(Event::Entry(e))) => {
                    complete(&out);
                    assert!(e.kind == Kind::Regular || e.size == 0, "{e:?}");
                    out.push((e, Vec::new()));
                }
                Ok(Some(Event::Data(d))) => {
                    let (e, body) = out.last_mut().expect("data after an entry");
                    assert!(!d.is_empty() && e.kind == Kind::Regular);
                    body.extend_from_slice(&d);
                    assert!(body.len() as u64 <= e.size, "more data than the size");
                }
                Ok(Some(Event::EndOfArchive)) => {
                    complete(&out);
                    assert_eq!(r.next_event(&mut buf), Ok(Some(Event::EndOfArchive)));
                    assert!(buf.is_empty(), "input after the end is dropped");
                    return (out, Ok(true));
                }
            }
        }
    }
    match r.finish() {
        Ok(()) => {
            complete(&out);
            (out, Ok(false))
        }
        Err(e) => (out, Err(e)),
    }
}

/// The gateway's output for these entries: the fixed first entry, each entry, the end.
fn write_all(entries: &[(Entry, Vec<u8>)]) -> Result<Vec<u8>, TarError> {
    let mut out = BytesMut::new();
    write_header(&first_entry(), &mut out)?;
    for (e, d) in entries {
        write_header(e, &mut out)?;
        out.extend_from_slice(d);
        out.extend_from_slice(padding(d.len() as u64));
    }
    out.extend_from_slice(&END_OF_ARCHIVE);
    Ok(out.to_vec())
}

fn with_first(entries: &[(Entry, Vec<u8>)]) -> Vec<(Entry, Vec<u8>)> {
    let mut want = vec![(first_entry(), Vec::new())];
    want.extend(entries.iter().cloned());
    want
}

/// Bytes allowed in a path: anything but C0 controls and DEL.
fn path(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"abc./-_ ".to_vec()),
        2 => 0x20u8..0x7f,
        1 => 0x80u8..=0xff,
    ];
    prop_oneof![
        6 => prop::collection::vec(byte.clone(), 1..=40),
        2 => prop::collection::vec(byte.clone(), 95..=160),
        1 => prop::collection::vec(byte, max - 3..=max),
    ]
}

/// User/group names: anything without NUL, short (USTAR field) or long (PAX).
fn owner_name() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![3 => 0x61u8..0x7b, 1 => 1u8..=0xff];
    prop_oneof![
        2 => Just(Vec::new()),
        4 => prop::collection::vec(byte.clone(), 1..=32),
        1 => prop::collection::vec(byte, 33..=80),
    ]
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(0o7777777),
        Just(0o7777777 + 1),
        Just(MAX_ID),
        0..=MAX_ID,
    ]
}

fn mtime() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        Just(-1),
        Just((1 << 33) - 1),
        Just(1 << 33),
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>(),
        0i64..(1 << 34),
    ]
}

/// xattrs as the writer accepts them: distinct names without NUL or `=` (empty, spaces
/// and newlines allowed), non-empty values of any bytes.
fn xattrs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    let key = prop::collection::vec(
        prop_oneof![4 => 0x61u8..0x7b, 1 => Just(b' '), 1 => Just(b'\n'), 1 => 1u8..=0xff]
            .prop_filter("no '='", |&b| b != b'='),
        0..12,
    );
    let value = prop::collection::vec(any::<u8>(), 1..30);
    prop::collection::vec((key, value), 0..3).prop_map(|mut v| {
        let mut seen = Vec::new();
        v.retain(|(k, _)| {
            let new = !seen.contains(k);
            seen.push(k.clone());
            new
        });
        v
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(vec![
        Kind::Regular,
        Kind::Directory,
        Kind::Symlink,
        Kind::HardLink,
    ])
}

/// An entry within the reader's default limits, with its data.
fn entry() -> impl Strategy<Value = (Entry, Vec<u8>)> {
    let max = Limits::default().max_path_len;
    (
        (kind(), path(max), path(max), 0u32..0o10000),
        (id(), id(), owner_name(), owner_name()),
        (
            mtime(),
            xattrs(),
            prop::collection::vec(any::<u8>(), 0..1100),
        ),
    )
        .prop_map(
            |((kind, name, link, mode), (uid, gid, uname, gname), (mtime, xattrs, data))| {
                let is_link = matches!(kind, Kind::Symlink | Kind::HardLink);
                let data = if kind == Kind::Regular {
                    data
                } else {
                    Vec::new()
                };
                let e = Entry {
                    name,
                    kind,
                    mode,
                    uid,
                    gid,
                    uname,
                    gname,
                    mtime,
                    size: data.len() as u64,
                    linkname: if is_link { link } else { Vec::new() },
                    xattrs,
                };
                (e, data)
            },
        )
}

/// Any entry at all, mostly near the valid space: control bytes, sizes on links,
/// modes and ids out of range, bad xattrs, sizes up to `u64::MAX`.
fn any_entry() -> impl Strategy<Value = Entry> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..max);
    (
        (entry(), kind(), any::<bool>()),
        (
            prop_oneof![3 => Just(None), 1 => bytes(20).prop_map(Some)],
            prop_oneof![3 => Just(None), 1 => bytes(20).prop_map(Some)],
            prop_oneof![3 => Just(None), 1 => any::<u32>().prop_map(Some)],
            prop_oneof![3 => Just(None), 1 => any::<u64>().prop_map(Some)],
        ),
        (
            prop_oneof![3 => Just(None), 1 => bytes(10).prop_map(Some)],
            prop_oneof![
                3 => Just(None),
                1 => prop::collection::vec((bytes(6), bytes(4)), 0..3).prop_map(Some),
            ],
            prop_oneof![
                2 => Just(None),
                1 => prop_oneof![Just(MAX_SIZE), Just(MAX_SIZE + 1), Just(u64::MAX), any::<u64>()]
                    .prop_map(Some),
            ],
        ),
    )
        .prop_map(
            |(((mut e, _), k, swap), (name, link, mode, uid), (uname, xattrs, size))| {
                if swap {
                    e.kind = k;
                }
                if let Some(v) = name {
                    e.name = v;
                }
                if let Some(v) = link {
                    e.linkname = v;
                }
                if let Some(v) = mode {
                    e.mode = v;
                }
                if let Some(v) = uid {
                    e.uid = v;
                    e.gid = v;
                }
                if let Some(v) = uname {
                    e.uname = v;
                }
                if let Some(v) = xattrs {
                    e.xattrs = v;
                }
                if let Some(v) = size {
                    e.size = v;
                }
                e
            },
        )
}

/// One change to an archive; checksums are re-sealed on request so the change reaches
/// the code past the checksum check.
#[derive(Debug, Clone)]
enum Mutation {
    Set {
        at: usize,
        byte: u8,
        reseal: bool,
    },
    Field {
        at: usize,
        text: Vec<u8>,
        reseal: bool,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Remove {
        at: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Offsets are fractions of the archive length, so they scale with it.
    let at = any::<usize>();
    prop_oneof![
        4 => (at, any::<u8>(), any::<bool>())
            .prop_map(|(at, byte, reseal)| Mutation::Set { at, byte, reseal }),
        3 => (
            at,
            prop::sample::select(vec![
                &b"0"[..], b"7777777", b"-1", b" ", b"\x80\0\0\0\0\0\0\x01", b"\xff\xff", b"x",
                b"L", b"K", b"g", b"5", b"2", b"ustar\0", b"ustar  \0", b"100 path=a\n",
            ])
            .prop_map(<[u8]>::to_vec),
            any::<bool>(),
        )
            .prop_map(|(at, text, reseal)| Mutation::Field { at, text, reseal }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        1 => (at, prop::collection::vec(any::<u8>(), 1..600))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (at, 1usize..1100).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn reseal(data: &mut [u8], at: usize) {
    let start = at - at % 512;
    if let Some(blk) = data.get_mut(start..start + 512) {
        blk[148..156].fill(b' ');
        let sum: u32 = blk.iter().map(|&c| u32::from(c)).sum();
        blk[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
}

fn mutate(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let pos = |at: usize| at % data.len();
    match m {
        Mutation::Set {
            at,
            byte,
            reseal: r,
        } => {
            let at = pos(*at);
            data[at] = *byte;
            if *r {
                reseal(data, at);
            }
        }
        Mutation::Field {
            at,
            text,
            reseal: r,
        } => {
            // Land on a field start of some header: name, mode..mtime, typeflag, magic.
            const FIELDS: [usize; 9] = [0, 100, 108, 116, 124, 136, 156, 257, 345];
            let blk = pos(*at) / 512 * 512;
            let at = blk + FIELDS[*at % FIELDS.len()];
            let end = (at + text.len()).min(data.len());
            if at < end {
                data[at..end].copy_from_slice(&text[..end - at]);
                if *r {
                    reseal(data, at);
                }
            }
        }
        Mutation::Truncate { at } => data.truncate(pos(*at)),
        Mutation::Insert { at, bytes } => {
            let at = pos(*at);
            data.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let at = pos(*at);
            let end = (at + len).min(data.len());
            data.drain(at..end);
        }
    }
}

/// The small archives in `testdata/tar` (valid and invalid, each made by a real tar tool
/// or by hand for one rule of Go's reader), read once for all cases.
fn fixtures() -> &'static [Vec<u8>] {
    static FIXTURES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tar");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("testdata/tar")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tar"))
            .collect();
        paths.sort();
        let small: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| std::fs::read(p).expect("read fixture"))
            .filter(|d| !d.is_empty() && d.len() < 16 * 1024)
            .collect();
        assert!(small.len() > 50, "testdata/tar has the fixtures");
        small
    })
}

proptest! {
    // Debug builds are slow and 4 KiB names make big archives; the fuzz targets run
    // the same checks for as long as one likes.
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any entries the writer accepts read back exactly, split anyhow, and writing
    /// what was read gives the same bytes (one encoding per entry).
    #[test]
    fn tar_prop_round_trip(
        entries in prop::collection::vec(entry(), 0..5),
        chunk in prop_oneof![Just(1usize), 1usize..1600],
    ) {
        let bytes = write_all(&entries).expect("entries within the limits are writable");
        let (got, end) = read(&bytes, chunk);
        prop_assert_eq!(end, Ok(true));
        prop_assert_eq!(&got, &with_first(&entries));
        prop_assert_eq!(write_all(&got[1..]).unwrap(), bytes);
    }

    /// The writer, given anything, either refuses and appends nothing, or writes a
    /// header the reader reads back as exactly that entry (checked on the header alone,
    /// so sizes no test could supply data for are covered too).
    #[test]
    fn tar_prop_writer_never_emits_what_the_reader_refuses(e in any_entry()) {
        let mut out = BytesMut::from(&b"keep"[..]);
        match write_header(&e, &mut out) {
            Err(err) => {
                prop_assert!(matches!(err, TarError::Unrepresentable { .. }), "{:?}", err);
                prop_assert_eq!(&out[..], b"keep");
            }
            Ok(()) => {
                let mut buf = out.split_off(4);
                prop_assert_eq!(buf.len() % 512, 0);
                let mut r = Reader::new(Limits::default());
                match r.next_event(&mut buf) {
                    Ok(Some(Event::Entry(got))) => prop_assert_eq!(got, e),
                    other => prop_assert!(false, "wrote {:?}, read {:?}", e, other),
                }
                prop_assert!(buf.is_empty(), "header bytes left over");
            }
        }
    }

    /// Mutated valid archives: the reader's answer does not depend on how the bytes are
    /// split, and whatever it accepts is written and read back unchanged.
    #[test]
    fn tar_prop_mutated_archives(
        entries in prop::collection::vec(entry(), 1..4),
        mutations in prop::collection::vec(mutation(), 1..5),
        chunk in 1usize..1100,
    ) {
        let mut data = write_all(&entries).unwrap();
        for m in &mutations {
            mutate(&mut data, m);
        }
        let whole = read(&data, usize::MAX);
        let small = if data.len() < 4096 { 1 } else { 7 };
        prop_assert_eq!(&read(&data, small), &whole, "{}-byte feeds", small);
        prop_assert_eq!(&read(&data, chunk), &whole, "{}-byte feeds", chunk);
        if whole.1.is_ok() {
            let bytes = write_all(&whole.0).expect("what the reader accepts is writable");
            let (again, end) = read(&bytes, chunk);
            prop_assert_eq!(end, Ok(true));
            prop_assert_eq!(again, with_first(&whole.0));
        }
    }

    /// The fixtures, mutated (checksums often resealed, so mutations get past the
    /// checksum check): same answer for every split, and never a panic.
    #[test]
    fn tar_prop_mutated_fixtures(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
        chunk in 1usize..1100,
    ) {
        let mut data = pick.get(fixtures()).clone();
        for m in &mutations {
            mutate(&mut data, m);
        }
        let whole = read(&data, usize::MAX);
        prop_assert_eq!(&read(&data, chunk), &whole, "{}-byte feeds", chunk);
    }
}
