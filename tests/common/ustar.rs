//! A raw tar writer for tests and benchmarks: every header byte is the caller's.
//!
//! Raw on purpose. Inputs are made without the code under test, and the attack tests
//! need headers no correct writer emits: sizes on header-only types, GNU magic with a
//! USTAR prefix, V7 headers, NUL bytes in names, PAX records that contradict the
//! header, wrong checksums. [`Header`] writes one block field by field; the functions
//! below it and [`Tar`] put entries together.
//!
//! Standard library only, so the benchmarks can include this file with
//! `#[path = "../../tests/common/ustar.rs"] mod ustar;`.
#![allow(dead_code)]

/// The tar block size.
pub const BLOCK: usize = 512;

/// Every header's mtime (a fixed date, so archives are reproducible).
pub const MTIME: u64 = 1_700_000_000;

/// Two zero blocks: the end of an archive.
pub const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// Which magic and version a header carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Magic {
    /// `ustar\0` `00`: POSIX; the prefix field is part of the name.
    Ustar,
    /// `ustar  \0`: old GNU; the prefix area holds atime and ctime.
    Gnu,
    /// No magic at all: V7. It has no owner names (left zero whatever the header
    /// says); a prefix is still written, for readers to ignore.
    V7,
}

/// One 512-byte header, field by field. Numeric fields not listed (uid, gid) are 0 and
/// the mtime is [`MTIME`].
#[derive(Clone, Debug)]
pub struct Header {
    pub name: Vec<u8>,
    pub mode: u32,
    /// The size field. What follows the header is the caller's business: it need not
    /// be this many bytes.
    pub size: u64,
    pub typeflag: u8,
    pub linkname: Vec<u8>,
    pub magic: Magic,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub prefix: Vec<u8>,
    /// Write a checksum that does not match the block.
    pub bad_checksum: bool,
}

impl Header {
    /// A USTAR header: mode 0755 for a directory (`5`), 0644 for anything else, no
    /// link name, owner names or prefix.
    pub fn new(name: impl AsRef<[u8]>, typeflag: u8, size: u64) -> Header {
        Header {
            name: name.as_ref().to_vec(),
            mode: if typeflag == b'5' { 0o755 } else { 0o644 },
            size,
            typeflag,
            linkname: Vec::new(),
            magic: Magic::Ustar,
            uname: Vec::new(),
            gname: Vec::new(),
            prefix: Vec::new(),
            bad_checksum: false,
        }
    }

    pub fn mode(mut self, mode: u32) -> Header {
        self.mode = mode;
        self
    }

    pub fn link(mut self, target: &str) -> Header {
        self.linkname = target.as_bytes().to_vec();
        self
    }

    pub fn magic(mut self, magic: Magic) -> Header {
        self.magic = magic;
        self
    }

    pub fn owner_names(mut self, uname: &str, gname: &str) -> Header {
        self.uname = uname.as_bytes().to_vec();
        self.gname = gname.as_bytes().to_vec();
        self
    }

    pub fn prefix(mut self, prefix: &str) -> Header {
        self.prefix = prefix.as_bytes().to_vec();
        self
    }

    /// Deliberately corrupt the checksum (see [`Header::block`]).
    pub fn bad_checksum(mut self) -> Header {
        self.bad_checksum = true;
        self
    }

    /// The block. The checksum is written as six octal digits, NUL, space (what GNU tar
    /// writes); with `bad_checksum` its first digit is then made a 7, a sum no header
    /// can reach (512 bytes of 0xff sum to 0o377000).
    pub fn block(&self) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        put(&mut b[0..100], &self.name);
        octal(&mut b[100..108], u64::from(self.mode));
        octal(&mut b[108..116], 0);
        octal(&mut b[116..124], 0);
        octal(&mut b[124..136], self.size);
        octal(&mut b[136..148], MTIME);
        b[156] = self.typeflag;
        put(&mut b[157..257], &self.linkname);
        match self.magic {
            Magic::Ustar => {
                b[257..263].copy_from_slice(b"ustar\0");
                b[263..265].copy_from_slice(b"00");
            }
            Magic::Gnu => b[257..265].copy_from_slice(b"ustar  \0"),
            Magic::V7 => {}
        }
        if self.magic != Magic::V7 {
            put(&mut b[265..297], &self.uname);
            put(&mut b[297..329], &self.gname);
        }
        put(&mut b[345..500], &self.prefix);
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        if self.bad_checksum {
            b[148] = b'7';
        }
        b
    }
}

fn put(field: &mut [u8], value: &[u8]) {
    assert!(
        value.len() <= field.len(),
        "{value:?} does not fit a {}-byte field (use a PAX record or a GNU long name)",
        field.len()
    );
    field[..value.len()].copy_from_slice(value);
}

/// Zero-padded octal digits, then a NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    assert_eq!(
        s.len(),
        digits,
        "{value} does not fit a {}-byte octal field",
        field.len()
    );
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// A plain header: `Header::new(name, typeflag, size).block()`.
pub fn header(name: &str, typeflag: u8, size: u64) -> [u8; BLOCK] {
    Header::new(name, typeflag, size).block()
}

/// The zero bytes that pad `size` bytes of data to a whole block.
pub fn padding(size: u64) -> &'static [u8] {
    &ZEROS[..(size.next_multiple_of(BLOCK as u64) - size) as usize]
}

/// An entry: the header, `data` (whatever the header's size says) and its padding.
pub fn entry(h: &Header, data: &[u8]) -> Vec<u8> {
    let mut out = h.block().to_vec();
    out.extend_from_slice(data);
    out.extend_from_slice(padding(data.len() as u64));
    out
}

/// A regular file.
pub fn file(name: &str, data: &[u8]) -> Vec<u8> {
    entry(&Header::new(name, b'0', data.len() as u64), data)
}

/// A directory.
pub fn dir(name: &str) -> Vec<u8> {
    header(name, b'5', 0).to_vec()
}

/// One PAX record, `"<len> key=value\n"`, the length counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len += 1;
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    assert_eq!(rec.len(), len);
    rec
}

/// A PAX header entry carrying `records` (made with [`pax_record`]): `typeflag` `x`
/// applies them to the next entry, `g` to every later one.
pub fn pax(typeflag: u8, records: &[u8]) -> Vec<u8> {
    entry(
        &Header::new("PaxHeaders/x", typeflag, records.len() as u64),
        records,
    )
}

/// A GNU long name entry (`L`, GNU magic) naming the next entry.
pub fn gnu_long_name(name: &[u8]) -> Vec<u8> {
    let mut data = name.to_vec();
    data.push(0);
    entry(
        &Header::new("././@LongLink", b'L', data.len() as u64).magic(Magic::Gnu),
        &data,
    )
}

/// A build context: a `Dockerfile` entry, then `more` (whole entries), then the end.
pub fn context(dockerfile: &str, more: &[Vec<u8>]) -> Vec<u8> {
    let mut out = file("Dockerfile", dockerfile.as_bytes());
    for e in more {
        out.extend_from_slice(e);
    }
    out.extend_from_slice(&END);
    out
}

/// An archive put together entry by entry:
/// `Tar::new().file("Dockerfile", df).symlink("l", "x").end().bytes()`.
#[derive(Default, Clone)]
pub struct Tar(Vec<u8>);

impl Tar {
    pub fn new() -> Tar {
        Tar(Vec::new())
    }

    /// A header, then `data` (whatever the header's size says) padded to a block.
    pub fn entry(self, h: Header, data: &[u8]) -> Tar {
        self.raw(&entry(&h, data))
    }

    pub fn file(self, name: &str, data: &[u8]) -> Tar {
        self.raw(&file(name, data))
    }

    pub fn dir(self, name: &str) -> Tar {
        self.raw(&dir(name))
    }

    pub fn symlink(self, name: &str, target: &str) -> Tar {
        self.entry(Header::new(name, b'2', 0).link(target), b"")
    }

    pub fn hardlink(self, name: &str, target: &str) -> Tar {
        self.entry(Header::new(name, b'1', 0).link(target), b"")
    }

    /// A PAX header (`x` or `g`) with these records.
    pub fn pax(self, typeflag: u8, records: &[(&str, &str)]) -> Tar {
        let records: Vec<u8> = records
            .iter()
            .flat_map(|(k, v)| pax_record(k, v.as_bytes()))
            .collect();
        self.raw(&pax(typeflag, &records))
    }

    pub fn gnu_long_name(self, name: &str) -> Tar {
        self.raw(&gnu_long_name(name.as_bytes()))
    }

    /// Bytes as they are: no header, no padding.
    pub fn raw(mut self, bytes: &[u8]) -> Tar {
        self.0.extend_from_slice(bytes);
        self
    }

    /// Two zero blocks.
    pub fn end(self) -> Tar {
        self.raw(&END)
    }

    pub fn bytes(self) -> Vec<u8> {
        self.0
    }
}
