//! The tar header block, said once: its size, where each field lives, the padding rule,
//! and the bounds both the reader and the writer hold entries to.
//!
//! Offsets are those of POSIX ustar (`ustar\0` + `00`). GNU (`ustar  \0`) and star headers
//! share the first fields and reuse the prefix area for other things, so the reader
//! names those alternatives too; which one applies is decided by the magic, as in Go's
//! `archive/tar` (`format.go`).

use std::ops::Range;

/// Every header and every data block is this long.
pub const BLOCK: usize = 512;

/// Go's `maxSpecialFileSize`: a PAX record set or GNU long name above this is an error
/// for Go whatever our own limit says, so our limits are capped at it.
pub const GO_MAX_SPECIAL: usize = 1 << 20;

/// Largest uid/gid passed on. The kernel's `uid_t` is 32 bits and `(uid_t)-1` means
/// "leave unchanged" to chown, so anything above this would be read differently by the
/// kernel than by the gateway.
pub const MAX_ID: u64 = u32::MAX as u64 - 1;

/// Largest regular-file size accepted: Go keeps sizes in an `int64`, and the size plus
/// its padding must still fit one.
pub const MAX_SIZE: u64 = i64::MAX as u64 - BLOCK as u64;

/// Byte ranges of the fields in a header block.
pub mod field {
    use super::Range;

    pub const NAME: Range<usize> = 0..100;
    pub const MODE: Range<usize> = 100..108;
    pub const UID: Range<usize> = 108..116;
    pub const GID: Range<usize> = 116..124;
    pub const SIZE: Range<usize> = 124..136;
    pub const MTIME: Range<usize> = 136..148;
    pub const CHECKSUM: Range<usize> = 148..156;
    /// A single byte.
    pub const TYPEFLAG: usize = 156;
    pub const LINKNAME: Range<usize> = 157..257;
    pub const MAGIC: Range<usize> = 257..263;
    pub const VERSION: Range<usize> = 263..265;
    /// `MAGIC` and `VERSION` together, as GNU writes them (`ustar  \0`).
    pub const MAGIC_VERSION: Range<usize> = 257..265;
    pub const UNAME: Range<usize> = 265..297;
    pub const GNAME: Range<usize> = 297..329;
    pub const DEVMAJOR: Range<usize> = 329..337;
    pub const DEVMINOR: Range<usize> = 337..345;
    /// The ustar prefix, under ustar magic only.
    pub const PREFIX: Range<usize> = 345..500;
    /// star's shorter prefix, followed by its access and change times.
    pub const STAR_PREFIX: Range<usize> = 345..476;
    pub const STAR_ATIME: Range<usize> = 476..488;
    pub const STAR_CTIME: Range<usize> = 488..500;
    /// Where star puts `tar\0` to tell itself apart from plain ustar.
    pub const STAR_TRAILER: Range<usize> = 508..512;
    /// GNU's access and change times, where ustar keeps its prefix.
    pub const GNU_ATIME: Range<usize> = 345..357;
    pub const GNU_CTIME: Range<usize> = 357..369;
}

static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// How many zero bytes follow `size` bytes of data to reach a block boundary.
pub fn padding_len(size: u64) -> usize {
    (size.wrapping_neg() % BLOCK as u64) as usize
}

/// The zero bytes that follow `size` bytes of data.
pub fn padding(size: u64) -> &'static [u8] {
    &ZEROS[..padding_len(size)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_the_next_block() {
        for size in [0u64, 1, 511, 512, 513, 1023, 1024, u64::MAX - 10] {
            let pad = padding_len(size) as u64;
            assert!(pad < BLOCK as u64);
            assert_eq!(size.wrapping_add(pad) % BLOCK as u64, 0, "{size}");
            assert_eq!(padding(size).len() as u64, pad);
        }
    }

    #[test]
    fn fields_tile_the_ustar_header() {
        use field::*;
        let ranges = [
            NAME,
            MODE,
            UID,
            GID,
            SIZE,
            MTIME,
            CHECKSUM,
            TYPEFLAG..TYPEFLAG + 1,
            LINKNAME,
            MAGIC,
            VERSION,
            UNAME,
            GNAME,
            DEVMAJOR,
            DEVMINOR,
            PREFIX,
        ];
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "{pair:?}");
        }
        assert_eq!(MAGIC_VERSION, MAGIC.start..VERSION.end);
        assert_eq!(STAR_PREFIX.end, STAR_ATIME.start);
        assert_eq!(STAR_ATIME.end, STAR_CTIME.start);
        assert_eq!(STAR_CTIME.end, PREFIX.end);
        assert_eq!(STAR_TRAILER.end, BLOCK);
    }
}
