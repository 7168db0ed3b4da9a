//! The canonical tar writer: every header the daemon sees is written here, from an
//! [`Entry`] the gateway has already judged.
//!
//! There is exactly one encoding per entry: a USTAR header (magic `ustar\0`, version
//! `00`, empty prefix), preceded by one PAX `x` header only when some field does not fit
//! USTAR as is. The USTAR prefix split is never used, so a name has one place to live.
//! Whatever Go's reader could read back differently from the [`Entry`] is refused.

use bytes::{BufMut, BytesMut};

use super::header::{BLOCK, GO_MAX_SPECIAL, MAX_ID, MAX_SIZE, field, padding};
use super::reader::TarError;
use super::{Entry, Kind, block_sum};

/// Largest values the numeric USTAR fields hold in octal with a NUL terminator.
const MAX_OCTAL_8: u64 = (1 << 21) - 1;
const MAX_OCTAL_12: u64 = (1 << 33) - 1;

/// Two zero blocks.
pub const END_OF_ARCHIVE: [u8; 1024] = [0; 1024];

/// The fixed first entry of every gateway archive. Starting with "./" means the stream
/// can never begin with a compression magic (dockerd sniffs the first bytes), and dockerd
/// skips "." when it already exists.
pub fn first_entry() -> Entry {
    Entry::directory("./")
}

/// Append the header block(s) for `entry` to `out`: a PAX `x` header first when any field
/// does not fit USTAR exactly, then one USTAR header. On error nothing is appended.
pub fn write_header(entry: &Entry, out: &mut BytesMut) -> Result<(), TarError> {
    validate(entry)?;
    let pax = pax_records(entry);
    if pax.len() > GO_MAX_SPECIAL {
        return Err(refuse(
            entry,
            format!(
                "its PAX records take {} bytes, over Go's limit of {GO_MAX_SPECIAL}",
                pax.len()
            ),
        ));
    }
    out.reserve(3 * BLOCK + pax.len());
    if !pax.is_empty() {
        let mut h = [0u8; BLOCK];
        put_str(&mut h[field::NAME], b"././@PaxHeader");
        put_octal(&mut h[field::MODE], 0o644);
        put_octal(&mut h[field::UID], 0);
        put_octal(&mut h[field::GID], 0);
        put_octal(&mut h[field::SIZE], pax.len() as u64);
        put_octal(&mut h[field::MTIME], 0);
        h[field::TYPEFLAG] = b'x';
        finish_ustar(&mut h);
        out.put_slice(&h);
        out.put_slice(&pax);
        out.put_slice(padding(pax.len() as u64));
    }

    let mut h = [0u8; BLOCK];
    put_str(&mut h[field::NAME], &entry.name);
    put_octal(&mut h[field::MODE], u64::from(entry.mode));
    put_octal(&mut h[field::UID], fit(entry.uid, MAX_OCTAL_8));
    put_octal(&mut h[field::GID], fit(entry.gid, MAX_OCTAL_8));
    put_octal(&mut h[field::SIZE], fit(entry.size, MAX_OCTAL_12));
    put_octal(
        &mut h[field::MTIME],
        u64::try_from(entry.mtime).map_or(0, |m| fit(m, MAX_OCTAL_12)),
    );
    h[field::TYPEFLAG] = match entry.kind {
        Kind::Regular => b'0',
        Kind::HardLink => b'1',
        Kind::Symlink => b'2',
        Kind::Directory => b'5',
    };
    put_str(&mut h[field::LINKNAME], &entry.linkname);
    put_str(&mut h[field::UNAME], &entry.uname);
    put_str(&mut h[field::GNAME], &entry.gname);
    finish_ustar(&mut h);
    out.put_slice(&h);
    Ok(())
}

fn refuse(entry: &Entry, reason: impl Into<String>) -> TarError {
    TarError::Unrepresentable {
        name: entry.name.clone(),
        reason: reason.into(),
    }
}

/// The writer refuses exactly what the reader would refuse or misread, so that reading
/// the writer's output gives back the entry it was given.
fn validate(e: &Entry) -> Result<(), TarError> {
    let path_ok = |p: &[u8]| !p.is_empty() && !p.iter().any(|&c| c < 0x20 || c == 0x7f);
    if !path_ok(&e.name) {
        return Err(refuse(e, "the name is empty or contains control bytes"));
    }
    match e.kind {
        Kind::Symlink | Kind::HardLink => {
            if !path_ok(&e.linkname) {
                return Err(refuse(
                    e,
                    "the link target is empty or contains control bytes",
                ));
            }
        }
        Kind::Regular | Kind::Directory => {
            if !e.linkname.is_empty() {
                return Err(refuse(e, "only links have a link target"));
            }
        }
    }
    if e.kind != Kind::Regular && e.size != 0 {
        return Err(refuse(e, "only regular files have a size"));
    }
    if e.size > MAX_SIZE {
        return Err(refuse(e, format!("size {} is out of range", e.size)));
    }
    if e.mode > 0o7777 {
        return Err(refuse(
            e,
            format!("mode {:o} has bits beyond 0o7777", e.mode),
        ));
    }
    if e.uid > MAX_ID || e.gid > MAX_ID {
        return Err(refuse(e, "uid or gid is out of range"));
    }
    if e.uname.contains(&0) || e.gname.contains(&0) {
        return Err(refuse(e, "user or group name contains a NUL byte"));
    }
    for (i, (k, v)) in e.xattrs.iter().enumerate() {
        if k.contains(&0) || k.contains(&b'=') {
            return Err(refuse(e, "an xattr name contains NUL or '='"));
        }
        if v.is_empty() {
            // Go drops PAX records with empty values.
            return Err(refuse(e, "an xattr has an empty value"));
        }
        if e.xattrs[..i].iter().any(|(k2, _)| k2 == k) {
            return Err(refuse(e, "an xattr name appears twice"));
        }
    }
    Ok(())
}

/// The PAX records for `e`, in a fixed order, or nothing when USTAR holds every field.
fn pax_records(e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    if e.name.len() > 100 {
        pax_record(&mut out, b"path", &e.name);
    }
    if e.linkname.len() > 100 {
        pax_record(&mut out, b"linkpath", &e.linkname);
    }
    if e.size > MAX_OCTAL_12 {
        pax_record(&mut out, b"size", e.size.to_string().as_bytes());
    }
    if e.uid > MAX_OCTAL_8 {
        pax_record(&mut out, b"uid", e.uid.to_string().as_bytes());
    }
    if e.gid > MAX_OCTAL_8 {
        pax_record(&mut out, b"gid", e.gid.to_string().as_bytes());
    }
    if e.uname.len() > 32 {
        pax_record(&mut out, b"uname", &e.uname);
    }
    if e.gname.len() > 32 {
        pax_record(&mut out, b"gname", &e.gname);
    }
    if !(0..=MAX_OCTAL_12 as i64).contains(&e.mtime) {
        pax_record(&mut out, b"mtime", e.mtime.to_string().as_bytes());
    }
    for (k, v) in &e.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(k);
        pax_record(&mut out, &key, v);
    }
    out
}

/// "%d %s=%s\n", where the length counts itself.
fn pax_record(out: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    let base = k.len() + v.len() + 3;
    let mut n = base + base.to_string().len();
    if n.to_string().len() != base.to_string().len() {
        n = base + n.to_string().len();
    }
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(k);
    out.push(b'=');
    out.extend_from_slice(v);
    out.push(b'\n');
}

/// Values too big for their octal field are written as 0; a PAX record carries them.
fn fit(v: u64, max: u64) -> u64 {
    if v > max { 0 } else { v }
}

/// Copies as much of `s` as fits; longer values are carried by a PAX record, which Go
/// prefers over the field.
fn put_str(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
}

/// Zero-padded octal with a NUL terminator, the way Go's writer formats USTAR numbers.
/// Zero-padded octal digits then a NUL, written backwards in place: this runs several
/// times per entry, and a context of 100,000 small files made the old `format!` a
/// fifth of the codec's time. Callers check the range first (`fit`), so no digit is
/// lost; if one were, only the low digits would be kept, as before.
fn put_octal(field: &mut [u8], mut v: u64) {
    let digits = field.len() - 1;
    for slot in field[..digits].iter_mut().rev() {
        *slot = b'0' + (v & 7) as u8;
        v >>= 3;
    }
    field[digits] = 0;
}

fn finish_ustar(h: &mut [u8; BLOCK]) {
    h[field::MAGIC].copy_from_slice(b"ustar\0");
    h[field::VERSION].copy_from_slice(b"00");
    put_octal(&mut h[field::DEVMAJOR], 0);
    put_octal(&mut h[field::DEVMINOR], 0);
    h[field::CHECKSUM].fill(b' ');
    let sum = block_sum(h);
    put_octal(
        &mut h[field::CHECKSUM.start..field::CHECKSUM.end - 1],
        u64::from(sum),
    );
    h[155] = b' ';
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::reader::{Event, Limits, Reader};

    fn base() -> Entry {
        Entry {
            name: b"f".to_vec(),
            size: 0,
            ..first_entry()
        }
    }

    fn regular(f: impl FnOnce(&mut Entry)) -> Entry {
        let mut e = base();
        e.kind = Kind::Regular;
        e.mode = 0o644;
        f(&mut e);
        e
    }

    fn write(e: &Entry) -> Result<Vec<u8>, TarError> {
        let mut out = BytesMut::new();
        write_header(e, &mut out)?;
        Ok(out.to_vec())
    }

    /// Reads only the header(s) back: the entry is announced before any data.
    fn read_back(bytes: &[u8]) -> Entry {
        let mut r = Reader::new(Limits::default());
        let mut buf = BytesMut::from(bytes);
        match r.next_event(&mut buf) {
            Ok(Some(Event::Entry(e))) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_entry_bytes_are_fixed() {
        let b = write(&first_entry()).expect("first entry");
        assert_eq!(b.len(), BLOCK);
        assert_eq!(&b[0..3], b"./\0");
        assert_eq!(&b[100..108], b"0000755\0");
        assert_eq!(&b[108..116], b"0000000\0");
        assert_eq!(&b[124..136], b"00000000000\0");
        assert_eq!(&b[136..148], b"00000000000\0");
        assert_eq!(b[156], b'5');
        assert_eq!(&b[257..265], b"ustar\x0000");
        assert!(b[345..].iter().all(|&c| c == 0), "no prefix");
        let sum: u32 = b
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(c)
                }
            })
            .sum();
        assert_eq!(&b[148..156], format!("{sum:06o}\0 ").as_bytes());
        assert_eq!(read_back(&b), first_entry());
    }

    #[test]
    fn padding_and_end() {
        assert_eq!(padding(0).len(), 0);
        assert_eq!(padding(1).len(), 511);
        assert_eq!(padding(511).len(), 1);
        assert_eq!(padding(512).len(), 0);
        assert_eq!(padding(u64::MAX).len(), 1);
        assert!(padding(3).iter().all(|&c| c == 0));
        assert_eq!(END_OF_ARCHIVE.len(), 1024);
        assert!(END_OF_ARCHIVE.iter().all(|&c| c == 0));
    }

    #[test]
    fn pax_only_when_ustar_cannot_hold_a_field() {
        let cases: Vec<(&str, Entry, Option<&str>)> = vec![
            ("plain", regular(|_| {}), None),
            ("name 100", regular(|e| e.name = vec![b'n'; 100]), None),
            (
                "name 101",
                regular(|e| e.name = vec![b'n'; 101]),
                Some("path="),
            ),
            (
                "non-ascii name fits",
                regular(|e| e.name = "é".repeat(50).into_bytes()),
                None,
            ),
            (
                "link 100",
                regular(|e| {
                    e.kind = Kind::Symlink;
                    e.linkname = vec![b'l'; 100];
                }),
                None,
            ),
            (
                "link 101",
                regular(|e| {
                    e.kind = Kind::Symlink;
                    e.linkname = vec![b'l'; 101];
                }),
                Some("linkpath="),
            ),
            ("uid max octal", regular(|e| e.uid = 0o7777777), None),
            (
                "uid above octal",
                regular(|e| e.uid = 0o7777777 + 1),
                Some("uid=2097152"),
            ),
            (
                "gid above octal",
                regular(|e| e.gid = MAX_ID),
                Some("gid=4294967294"),
            ),
            ("size max octal", regular(|e| e.size = (1 << 33) - 1), None),
            (
                "size above octal",
                regular(|e| e.size = 1 << 33),
                Some("size=8589934592"),
            ),
            ("uname 32", regular(|e| e.uname = vec![b'u'; 32]), None),
            (
                "uname 33",
                regular(|e| e.uname = vec![b'u'; 33]),
                Some("uname="),
            ),
            (
                "gname 33",
                regular(|e| e.gname = vec![b'g'; 33]),
                Some("gname="),
            ),
            (
                "mtime max octal",
                regular(|e| e.mtime = (1 << 33) - 1),
                None,
            ),
            (
                "mtime above octal",
                regular(|e| e.mtime = 1 << 33),
                Some("mtime=8589934592"),
            ),
            (
                "negative mtime",
                regular(|e| e.mtime = -1),
                Some("mtime=-1"),
            ),
            (
                "xattr",
                regular(|e| e.xattrs = vec![(b"user.k".to_vec(), b"v".to_vec())]),
                Some("SCHILY.xattr.user.k=v\n"),
            ),
        ];
        for (what, e, want) in cases {
            let b = write(&e).unwrap_or_else(|err| panic!("{what}: {err}"));
            match want {
                None => assert_eq!(b.len(), BLOCK, "{what}: one USTAR block"),
                Some(rec) => {
                    assert_eq!(b[156], b'x', "{what}: PAX header first");
                    let text = String::from_utf8_lossy(&b[BLOCK..b.len() - BLOCK]);
                    assert!(text.contains(rec), "{what}: {text:?}");
                }
            }
            let last = &b[b.len() - BLOCK..];
            assert_eq!(&last[257..265], b"ustar\x0000", "{what}");
            assert!(
                last[345..].iter().all(|&c| c == 0),
                "{what}: never a prefix"
            );
            assert_eq!(read_back(&b), e, "{what}: reads back");
            assert_eq!(write(&e).ok(), Some(b), "{what}: deterministic");
        }
    }

    #[test]
    fn pax_record_length_counts_itself() {
        for len in [
            1usize, 5, 88, 89, 90, 94, 95, 96, 985, 986, 995, 996, 997, 9990, 9995,
        ] {
            let mut out = Vec::new();
            pax_record(&mut out, b"path", &vec![b'a'; len]);
            let sp = out.iter().position(|&c| c == b' ').expect("space");
            let n: usize = std::str::from_utf8(&out[..sp])
                .expect("ascii")
                .parse()
                .expect("number");
            assert_eq!(n, out.len(), "value length {len}");
        }
    }

    #[test]
    fn refuses_what_go_would_read_differently() {
        let cases: Vec<(&str, Entry)> = vec![
            ("empty name", regular(|e| e.name.clear())),
            ("NUL in name", regular(|e| e.name = b"a\0b".to_vec())),
            ("newline in name", regular(|e| e.name = b"a\nb".to_vec())),
            (
                "symlink without target",
                regular(|e| e.kind = Kind::Symlink),
            ),
            (
                "control byte in target",
                regular(|e| {
                    e.kind = Kind::HardLink;
                    e.linkname = b"\x1b".to_vec();
                }),
            ),
            (
                "linkname on a file",
                regular(|e| e.linkname = b"x".to_vec()),
            ),
            (
                "size on a directory",
                regular(|e| {
                    e.kind = Kind::Directory;
                    e.size = 1;
                }),
            ),
            ("size too large", regular(|e| e.size = u64::MAX)),
            ("mode beyond 0o7777", regular(|e| e.mode = 0o100644)),
            ("uid beyond 32 bits", regular(|e| e.uid = MAX_ID + 1)),
            ("NUL in uname", regular(|e| e.uname = b"a\0".to_vec())),
            (
                "empty xattr value",
                regular(|e| e.xattrs = vec![(b"k".to_vec(), Vec::new())]),
            ),
            (
                "'=' in xattr name",
                regular(|e| e.xattrs = vec![(b"a=b".to_vec(), b"v".to_vec())]),
            ),
            (
                "NUL in xattr name",
                regular(|e| e.xattrs = vec![(b"a\0".to_vec(), b"v".to_vec())]),
            ),
            (
                "duplicate xattr",
                regular(|e| {
                    e.xattrs = vec![
                        (b"k".to_vec(), b"1".to_vec()),
                        (b"k".to_vec(), b"2".to_vec()),
                    ]
                }),
            ),
            (
                "PAX over 1 MiB",
                regular(|e| e.xattrs = vec![(b"k".to_vec(), vec![b'v'; 1 << 20])]),
            ),
        ];
        for (what, e) in cases {
            let mut out = BytesMut::from(&b"keep"[..]);
            match write_header(&e, &mut out) {
                Err(err @ TarError::Unrepresentable { .. }) => {
                    assert!(
                        err.to_string().starts_with("tar: cannot write entry"),
                        "{what}: {err}"
                    )
                }
                other => panic!("{what}: {other:?}"),
            }
            assert_eq!(&out[..], b"keep", "{what}: nothing appended on error");
        }
    }
}
