//! Workload generation. Everything is written under the bench directory, once: a file
//! that exists is complete (it is written under a temporary name and renamed), so a
//! rerun reuses it. The tar headers are written with the tests' raw writer
//! (`tests/common/ustar.rs`), not with the code under test.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::ustar;

/// Bumped whenever the generators change, so stale caches are not reused.
const VERSION: &str = "v1";

/// The Dockerfile every generated context ends with.
pub const DOCKERFILE: &[u8] = b"FROM buildgate-test/busybox:latest\nLABEL bench=buildgate\n";

/// A fast, seeded generator (wyrand); its output is incompressible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) ^ t) as u64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

fn padded(size: u64) -> u64 {
    size.next_multiple_of(512)
}

/// A tar stream being written.
pub struct Tar<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> Tar<W> {
    pub fn new(out: W) -> Self {
        Tar { out, written: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    pub fn dir(&mut self, name: &str) -> io::Result<()> {
        self.put(&ustar::header(name, b'5', 0))
    }

    /// A regular file whose `size` bytes `fill` writes, chunk by chunk.
    pub fn file(
        &mut self,
        name: &str,
        size: u64,
        buf: &mut [u8],
        mut fill: impl FnMut(&mut [u8]),
    ) -> io::Result<()> {
        self.put(&ustar::header(name, b'0', size))?;
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            fill(&mut buf[..n]);
            self.put(&buf[..n])?;
            left -= n as u64;
        }
        self.put(ustar::padding(size))
    }

    pub fn bytes_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.put(&ustar::header(name, b'0', data.len() as u64))?;
        self.put(data)?;
        self.put(ustar::padding(data.len() as u64))
    }

    /// Two zero blocks; returns the writer and the archive's length.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.put(&ustar::END)?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

/// Length of a [`blobs`] archive of `files` files of `size` bytes.
pub fn blobs_len(files: u32, size: u64) -> u64 {
    u64::from(files) * (512 + padded(size)) + 512 + padded(DOCKERFILE.len() as u64) + 1024
}

/// `files` incompressible files of `size` bytes, then the Dockerfile: workload 1, and
/// (streamed straight into the socket) the 4 GiB memory check.
pub fn blobs<W: Write>(out: W, files: u32, size: u64, seed: u64) -> io::Result<(W, u64)> {
    let mut tar = Tar::new(out);
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..files {
        tar.file(&format!("blob-{i:03}.bin"), size, &mut buf, |b| rng.fill(b))?;
    }
    tar.bytes_file("Dockerfile", DOCKERFILE)?;
    tar.finish()
}

/// Writes `path` with `make` unless it exists; `make` writes to a temporary file
/// that is renamed into place only when complete.
fn cached(path: &Path, make: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<PathBuf> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let tmp = path.with_extension("partial");
    eprintln!("bench: generating {}", path.display());
    make(&tmp)?;
    fs::rename(&tmp, path)?;
    Ok(path.to_path_buf())
}

fn create(path: &Path) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(1 << 20, File::create(path)?))
}

/// Workload 1: `files` incompressible files of `size` bytes, Dockerfile last.
pub fn w1(dir: &Path, files: u32, size: u64) -> io::Result<PathBuf> {
    let path = dir.join(format!("w1-{VERSION}-{files}x{size}.tar"));
    cached(&path, |tmp| blobs(create(tmp)?, files, size, 1).map(drop))
}

/// Workload 2: `files` files of 1 KiB, a thousand to a directory, Dockerfile last.
pub fn w2(dir: &Path, files: u32) -> io::Result<PathBuf> {
    let path = dir.join(format!("w2-{VERSION}-{files}x1KiB.tar"));
    cached(&path, |tmp| {
        let mut tar = Tar::new(create(tmp)?);
        let mut rng = Rng::new(2);
        let mut buf = vec![0u8; 1024];
        for i in 0..files {
            if i % 1000 == 0 {
                tar.dir(&format!("dir{:04}/", i / 1000))?;
            }
            let name = format!("dir{:04}/file{i:06}.txt", i / 1000);
            tar.file(&name, 1024, &mut buf, |b| rng.fill(b))?;
        }
        tar.bytes_file("Dockerfile", DOCKERFILE)?;
        tar.finish().map(drop)
    })
}

/// Workload 3: about `total` bytes of source-code-like text in 32 KiB files,
/// Dockerfile last, gzip-compressed (default level). Returns the path and the length
/// of the tar inside.
pub fn w3(dir: &Path, total: u64) -> io::Result<(PathBuf, u64)> {
    const FILE: usize = 32 * 1024;
    let files = total.div_ceil(FILE as u64) as u32;
    let path = dir.join(format!("w3-{VERSION}-{files}x32KiB.tar.gz"));
    let len_path = path.with_extension("gz.tar-len");
    let path = cached(&path, |tmp| {
        let gz = flate2::write::GzEncoder::new(create(tmp)?, flate2::Compression::default());
        let mut tar = Tar::new(gz);
        let mut rng = Rng::new(3);
        let mut text = Vec::with_capacity(FILE + 256);
        for i in 0..files {
            if i % 100 == 0 {
                tar.dir(&format!("src/mod{:04}/", i / 100))?;
            }
            source_like(&mut rng, &mut text, FILE);
            tar.bytes_file(&format!("src/mod{:04}/file{i:06}.rs", i / 100), &text)?;
        }
        tar.bytes_file("Dockerfile", DOCKERFILE)?;
        let (gz, len) = tar.finish()?;
        gz.finish()?.flush()?;
        fs::write(&len_path, len.to_string())
    })?;
    let len = fs::read_to_string(&len_path)?
        .trim()
        .parse()
        .map_err(|e| io::Error::other(format!("{}: {e}", len_path.display())))?;
    Ok((path, len))
}

/// Fills `out` with `size` bytes of text that compresses roughly like source code.
fn source_like(rng: &mut Rng, out: &mut Vec<u8>, size: usize) {
    const WORDS: &[&str] = &[
        "fn", "let", "mut", "self", "return", "if", "else", "match", "for", "in", "while", "impl",
        "pub", "struct", "enum", "use", "crate", "Some(", "None", "Ok(", "Err(", "String",
        "Vec<u8>", "u64", "usize", "bool", "true", "false", "=>", "->", "::", "&", "*", "+", "==",
        "!=", "<", ">", "=", "?;", ");", "{", "}", "(", ")", ",", "buffer", "reader", "writer",
        "config", "request", "response", "error", "len", "data", "entry", "header", "name",
        "value", "result", "index", "count", "state",
    ];
    out.clear();
    while out.len() < size {
        let depth = rng.below(5) as usize;
        out.extend(std::iter::repeat_n(b' ', depth * 4));
        for _ in 0..3 + rng.below(8) {
            match rng.below(10) {
                0 => out.extend_from_slice(format!("var_{}", rng.below(400)).as_bytes()),
                1 => out.extend_from_slice(rng.below(10_000).to_string().as_bytes()),
                _ => {
                    out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes())
                }
            }
            out.push(b' ');
        }
        if rng.below(8) == 0 {
            out.extend_from_slice(b"// TODO: explain why this is here\n");
        }
        out.push(b'\n');
    }
    out.truncate(size);
}

/// Workload 5: a directory with `files` incompressible files of `size` bytes and a
/// Dockerfile, for the docker CLI to send.
pub fn w5(dir: &Path, files: u32, size: u64) -> io::Result<PathBuf> {
    let path = dir.join(format!("w5-{VERSION}-{files}x{size}"));
    if path.join("Dockerfile").exists() {
        return Ok(path);
    }
    eprintln!("bench: generating {}", path.display());
    let _ = fs::remove_dir_all(&path);
    fs::create_dir_all(&path)?;
    let mut rng = Rng::new(5);
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..files {
        let mut out = create(&path.join(format!("blob-{i:03}.bin")))?;
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        out.flush()?;
    }
    // Written last: its presence marks the directory complete.
    fs::write(path.join("Dockerfile"), DOCKERFILE)?;
    Ok(path)
}
