//! Helpers shared by the fuzz targets: the tar reader's calling-contract harness (the
//! one the integration tests use, `tests/common/tar_contract.rs`) and a deterministic
//! split plan derived from the input.

#[path = "../../tests/common/tar_contract.rs"]
mod tar_contract;

pub use tar_contract::{Read, read, write_archive};

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
