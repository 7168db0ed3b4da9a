//! The tar codec: a streaming reader that agrees with Go's `archive/tar`, and a writer
//! that emits every header afresh in one canonical form.
//!
//! The gateway never forwards a header the client wrote. It reads each entry into an
//! [`Entry`], decides about it, and writes a new header from that value, so the daemon
//! can only ever see what the gateway itself understood.

pub mod header;
#[cfg(test)]
mod proptests;
pub mod reader;
pub mod writer;

/// The kinds of entry a build context may carry. Anything else (devices, FIFOs, sparse
/// files, GNU volume headers, ...) is refused by the reader, because the daemon would
/// either fail on it or extract something no Dockerfile needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Directory,
    Symlink,
    HardLink,
}

/// One archive member as Go's `archive/tar` would report it, after PAX records and GNU
/// long names have been applied. Names are raw bytes because Go's are too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Permission bits plus setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    /// Seconds since the epoch; sub-second precision is dropped (the build cache keys on
    /// content and the daemon's own tarsum ignores it).
    pub mtime: i64,
    /// Bytes of data that follow the header. Always 0 unless `kind` is `Regular`.
    pub size: u64,
    /// Target of a symlink or hard link; empty otherwise.
    pub linkname: Vec<u8>,
    /// `SCHILY.xattr.*` records in archive order (key without the prefix, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// A regular file of `size` bytes as the gateway writes its own entries: root-owned,
    /// mode 0644, at the epoch, no extended attributes.
    pub fn file(name: impl Into<Vec<u8>>, size: u64) -> Entry {
        Entry {
            size,
            ..Entry::bare(name.into(), Kind::Regular, 0o644)
        }
    }

    /// A directory, likewise (mode 0755).
    pub fn directory(name: impl Into<Vec<u8>>) -> Entry {
        Entry::bare(name.into(), Kind::Directory, 0o755)
    }

    /// A symbolic or hard link to `target` (mode 0777, as `ln -s` makes them).
    pub fn link(name: impl Into<Vec<u8>>, kind: Kind, target: impl Into<Vec<u8>>) -> Entry {
        Entry {
            linkname: target.into(),
            ..Entry::bare(name.into(), kind, 0o777)
        }
    }

    fn bare(name: Vec<u8>, kind: Kind, mode: u32) -> Entry {
        Entry {
            name,
            kind,
            mode,
            uid: 0,
            gid: 0,
            uname: Vec::new(),
            gname: Vec::new(),
            mtime: 0,
            size: 0,
            linkname: Vec::new(),
            xattrs: Vec::new(),
        }
    }
}

/// The sum of a header block's bytes, which both tar checksums start from. Bytes are
/// added eight at a time as four 16-bit lanes of a `u64`: this runs for every header
/// read and written, and byte-by-byte sums were the largest cost of a context of small
/// files.
pub(crate) fn block_sum(block: &[u8; 512]) -> u32 {
    const LOW: u64 = 0x00ff_00ff_00ff_00ff;
    let mut lanes = 0u64;
    for word in block.as_chunks::<8>().0 {
        let w = u64::from_le_bytes(*word);
        lanes += (w & LOW) + ((w >> 8) & LOW);
    }
    // Each lane holds at most 64 words * 2 bytes * 255 = 32640, so none carried over.
    (0..4).map(|i| ((lanes >> (16 * i)) & 0xffff) as u32).sum()
}

pub use header::padding;
pub use reader::{Event, Limit, Limits, Reader, TarError};
pub use writer::{END_OF_ARCHIVE, first_entry, write_header};

#[cfg(test)]
mod tests {
    use super::block_sum;

    #[test]
    fn block_sum_is_the_byte_sum() {
        let naive = |b: &[u8; 512]| b.iter().map(|&c| u32::from(c)).sum::<u32>();
        let full = [0xff; 512];
        assert_eq!(block_sum(&full), 512 * 255);
        let mut b = [0u8; 512];
        let mut x = 0x9e37_79b9u32;
        for c in &mut b {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *c = x as u8;
        }
        assert_eq!(block_sum(&b), naive(&b));
        assert_eq!(block_sum(&[0; 512]), 0);
    }
}
