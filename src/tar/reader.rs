//! A sans-IO streaming tar reader whose answers are those of Go's `archive/tar`.
//!
//! dockerd reads the build context with Go's `archive/tar` (Go 1.19 semantics here), so
//! the only safe reading is Go's reading: every rule below (checksum, magic detection,
//! PAX precedence, GNU long names, which types carry data, end-of-archive) mirrors
//! `reader.go`, `format.go` and `strconv.go` line for line. On top of that the reader
//! refuses what a build context has no business carrying (devices, sparse files, odd
//! names), so the rest of the gateway only ever deals with four kinds of entry.
//!
//! The reader never blocks and never buffers a file body: it is fed whatever bytes have
//! arrived and hands file bodies straight back out of the caller's buffer.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use super::{Entry, Kind};

const BLOCK: usize = 512;

/// Go's `maxSpecialFileSize`: a PAX record set or GNU long name above this is an error
/// for Go whatever our own limit says, so our limit is capped at it.
const GO_MAX_SPECIAL: usize = 1 << 20;

/// Largest uid/gid we pass on. The kernel's `uid_t` is 32 bits and `(uid_t)-1` means
/// "leave unchanged" to chown, so anything above this would be read differently by the
/// kernel than by the gateway.
pub const MAX_ID: u64 = u32::MAX as u64 - 1;

/// Largest regular-file size we accept: Go keeps sizes in an `int64`, and the size plus
/// its padding must still fit one.
pub const MAX_SIZE: u64 = i64::MAX as u64 - BLOCK as u64;

/// Limits on what the reader buffers or lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest PAX record set, GNU long name or long link body held in memory. Values
    /// above Go's own 1 MiB cap behave as 1 MiB, since Go would reject the archive.
    pub max_pax_bytes: usize,
    /// Longest name or link target, in bytes, after PAX and GNU overrides.
    pub max_path_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pax_bytes: GO_MAX_SPECIAL,
            max_path_len: 4096,
        }
    }
}

/// What the reader found next in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A member header, after all PAX and GNU meta headers were applied.
    Entry(Entry),
    /// Part of the body of the last regular-file entry.
    Data(Bytes),
    /// Two zero blocks: everything after them is ignored.
    EndOfArchive,
}

/// Why an archive (or an entry handed to the writer) cannot go to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarError {
    /// The input ended where Go's reader reports `io.ErrUnexpectedEOF`.
    Truncated { offset: u64, within: String },
    /// Bytes Go's reader rejects (`ErrHeader`, `ErrFieldTooLong`).
    Malformed { offset: u64, reason: String },
    /// Valid tar the gateway deliberately does not pass on.
    Unsupported {
        offset: u64,
        name: Vec<u8>,
        reason: String,
    },
    /// Over one of the configured [`Limits`].
    TooLarge {
        offset: u64,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// The writer was given an entry it cannot encode so that Go reads it back exactly.
    Unrepresentable { name: Vec<u8>, reason: String },
}

/// Names are shown escaped and shortened, so a hostile name cannot forge log lines or
/// flood them.
struct ShowName<'a>(&'a [u8]);

impl fmt::Display for ShowName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 200;
        let shown = &self.0[..self.0.len().min(MAX)];
        for c in shown.escape_ascii() {
            write!(f, "{}", c as char)?;
        }
        if self.0.len() > MAX {
            write!(f, "...({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::Truncated { offset, within } => write!(
                f,
                "tar: the build context ends at byte {offset}, inside {within}; the archive is \
                 truncated (check that the client sent the whole context)"
            ),
            TarError::Malformed { offset, reason } => write!(
                f,
                "tar: invalid archive at byte {offset}: {reason}; the daemon would reject it \
                 too (recreate the context with a standard tar tool)"
            ),
            TarError::Unsupported {
                offset,
                name,
                reason,
            } => write!(
                f,
                "tar: entry \"{}\" (header at byte {offset}): {reason}",
                ShowName(name)
            ),
            TarError::TooLarge {
                offset,
                what,
                size,
                limit,
            } => write!(
                f,
                "tar: {what} at byte {offset} is {size} bytes, over the limit of {limit} bytes; \
                 shorten the path or drop the extended attributes"
            ),
            TarError::Unrepresentable { name, reason } => write!(
                f,
                "tar: cannot write entry \"{}\": {reason}",
                ShowName(name)
            ),
        }
    }
}

impl std::error::Error for TarError {}

/// Which meta header a special body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Pax,
    GlobalPax,
    LongName,
    LongLink,
}

impl Special {
    fn describe(self) -> &'static str {
        match self {
            Special::Pax => "a PAX extended header",
            Special::GlobalPax => "a PAX global header",
            Special::LongName => "a GNU long name",
            Special::LongLink => "a GNU long link name",
        }
    }
}

#[derive(Debug)]
enum State {
    /// Collecting a header block into `Reader::block`.
    Header,
    /// One zero block was seen; the next block ends the archive or is an error.
    SecondZero,
    /// Inside the body of a regular file.
    Data {
        remaining: u64,
        pad: usize,
    },
    /// Inside the body of a PAX or GNU meta header, collected into `Reader::special`.
    Special {
        kind: Special,
        remaining: usize,
        pad: usize,
    },
    /// Skipping the zero padding up to the next block. Its content is not checked,
    /// because Go does not check it.
    Padding {
        remaining: usize,
    },
    Done,
    /// Errors are sticky, as they are in Go.
    Failed(TarError),
}

/// PAX records as Go holds them: a map (last record for a key wins), kept in the order
/// keys first appeared so xattrs come out in a stable order.
type PaxRecords = Vec<(Vec<u8>, Vec<u8>)>;

/// Streaming tar parser; see the module docs.
#[derive(Debug)]
pub struct Reader {
    limits: Limits,
    state: State,
    block: Box<[u8; BLOCK]>,
    fill: usize,
    special: Vec<u8>,
    /// The records of the last `x` header since the previous member (Go replaces, not
    /// merges, when several `x` headers follow one another).
    pax: Option<PaxRecords>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    /// Bytes consumed so far; for error messages.
    offset: u64,
    /// Offset of the header being processed; for error messages.
    header_at: u64,
    /// Name of the entry whose body is being read; for error messages.
    current: Vec<u8>,
}

impl Reader {
    pub fn new(limits: Limits) -> Self {
        Reader {
            limits,
            state: State::Header,
            block: Box::new([0; BLOCK]),
            fill: 0,
            special: Vec::new(),
            pax: None,
            long_name: None,
            long_link: None,
            offset: 0,
            header_at: 0,
            current: Vec::new(),
        }
    }

    /// Consume from `buf` and return the next event, or `Ok(None)` when more input is
    /// needed. `Ok(None)` always means `buf` was fully consumed: partial headers are
    /// kept inside the reader, so [`Reader::finish`] can tell a clean end from a cut.
    /// Data events hand out file bodies zero-copy, as large as available.
    pub fn next_event(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, TarError> {
        match self.step(buf) {
            Ok(ev) => Ok(ev),
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// The input ended. `Ok(())` when Go's reader would call that a clean end (`io.EOF`):
    /// at a header boundary (zero blocks are optional), after one zero block, or inside
    /// the padding after a body (Go reads padding with `tryReadFull`). A pending PAX or
    /// GNU long-name header with no member after it is dropped, as Go drops it.
    pub fn finish(&self) -> Result<(), TarError> {
        let within = match &self.state {
            State::Done | State::Padding { .. } => return Ok(()),
            State::Header | State::SecondZero if self.fill == 0 => return Ok(()),
            State::Header | State::SecondZero => "a header block".to_string(),
            State::Data { .. } => format!("the data of \"{}\"", ShowName(&self.current)),
            State::Special { kind, .. } => kind.describe().to_string(),
            State::Failed(e) => return Err(e.clone()),
        };
        Err(TarError::Truncated {
            offset: self.offset,
            within,
        })
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, TarError> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Done => {
                    buf.clear();
                    return Ok(Some(Event::EndOfArchive));
                }
                State::Data { remaining, pad } => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    *remaining -= n as u64;
                    self.offset += n as u64;
                    let chunk = buf.split_to(n).freeze();
                    if *remaining == 0 {
                        self.state = after_body(*pad);
                    }
                    return Ok(Some(Event::Data(chunk)));
                }
                State::Padding { remaining } => {
                    let n = (*remaining).min(buf.len());
                    buf.advance(n);
                    *remaining -= n;
                    self.offset += n as u64;
                    if *remaining > 0 {
                        return Ok(None);
                    }
                    self.state = State::Header;
                }
                State::Special {
                    kind,
                    remaining,
                    pad,
                } => {
                    let n = (*remaining).min(buf.len());
                    self.special.extend_from_slice(&buf[..n]);
                    buf.advance(n);
                    *remaining -= n;
                    self.offset += n as u64;
                    if *remaining > 0 {
                        return Ok(None);
                    }
                    let (kind, pad) = (*kind, *pad);
                    self.state = after_body(pad);
                    self.finish_special(kind)?;
                }
                State::Header | State::SecondZero => {
                    let n = (BLOCK - self.fill).min(buf.len());
                    self.block[self.fill..self.fill + n].copy_from_slice(&buf[..n]);
                    buf.advance(n);
                    self.fill += n;
                    self.offset += n as u64;
                    if self.fill < BLOCK {
                        return Ok(None);
                    }
                    self.fill = 0;
                    self.header_at = self.offset - BLOCK as u64;
                    if let Some(ev) = self.on_block()? {
                        return Ok(Some(ev));
                    }
                }
            }
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> TarError {
        TarError::Malformed {
            offset: self.header_at,
            reason: reason.into(),
        }
    }

    fn unsupported(&self, name: &[u8], reason: impl Into<String>) -> TarError {
        TarError::Unsupported {
            offset: self.header_at,
            name: name.to_vec(),
            reason: reason.into(),
        }
    }

    /// A full block has arrived in `self.block`.
    fn on_block(&mut self) -> Result<Option<Event>, TarError> {
        let is_zero = self.block.iter().all(|&b| b == 0);
        if matches!(self.state, State::SecondZero) {
            if is_zero {
                self.state = State::Done;
                return Ok(Some(Event::EndOfArchive));
            }
            return Err(self.malformed("a zero block is followed by a non-zero block"));
        }
        if is_zero {
            self.state = State::SecondZero;
            return Ok(None);
        }

        let raw = parse_block(&self.block).map_err(|r| self.malformed(r))?;

        // Go's handleRegularFile on the raw header: header-only types have no body
        // whatever their size field says.
        if !is_header_only(raw.typeflag) && raw.size < 0 {
            return Err(self.malformed("negative size field"));
        }

        let special = match raw.typeflag {
            b'x' => Some(Special::Pax),
            b'g' => Some(Special::GlobalPax),
            b'L' => Some(Special::LongName),
            b'K' => Some(Special::LongLink),
            _ => None,
        };
        if let Some(kind) = special {
            let limit = self.limits.max_pax_bytes.min(GO_MAX_SPECIAL);
            let size = raw.size as u64; // not negative: checked above
            if size > limit as u64 {
                return Err(TarError::TooLarge {
                    offset: self.header_at,
                    what: kind.describe(),
                    size,
                    limit: limit as u64,
                });
            }
            let size = size as usize; // <= limit, so it fits
            self.special.clear();
            self.state = State::Special {
                kind,
                remaining: size,
                pad: block_padding(size as u64),
            };
            return Ok(None);
        }

        let entry = self.member(raw)?;
        let size = entry.size;
        self.current.clone_from(&entry.name);
        self.state = if size == 0 {
            State::Header
        } else {
            State::Data {
                remaining: size,
                pad: block_padding(size),
            }
        };
        Ok(Some(Event::Entry(entry)))
    }

    /// The body of a meta header is complete in `self.special`.
    fn finish_special(&mut self, kind: Special) -> Result<(), TarError> {
        match kind {
            Special::Pax => {
                let recs = parse_pax(&self.special).map_err(|r| self.malformed(r))?;
                self.pax = Some(recs);
            }
            Special::GlobalPax => {
                // Go validates the records and returns the global header as a member of
                // its own, which ends the Next() call: meta headers read before it are
                // forgotten. dockerd then ignores the member, and so do we.
                parse_pax(&self.special).map_err(|r| self.malformed(r))?;
                self.pax = None;
                self.long_name = None;
                self.long_link = None;
            }
            Special::LongName => self.long_name = Some(c_string(&self.special).to_vec()),
            Special::LongLink => self.long_link = Some(c_string(&self.special).to_vec()),
        }
        self.special = Vec::new();
        Ok(())
    }

    /// Go's default branch of `Reader.next`: merge PAX records and GNU long names into the
    /// header, then apply the gateway's own refusals.
    fn member(&mut self, raw: RawHeader) -> Result<Entry, TarError> {
        let RawHeader {
            mut typeflag,
            mut name,
            mut linkname,
            mut size,
            mode,
            mut uid,
            mut gid,
            mut mtime,
            mut uname,
            mut gname,
        } = raw;

        let mut xattrs: PaxRecords = Vec::new();
        let mut sparse = false;
        for (k, v) in self.pax.take().unwrap_or_default() {
            if k.starts_with(b"GNU.sparse.") {
                sparse = true;
            }
            if v.is_empty() {
                continue; // Go keeps the USTAR value
            }
            let bad = |what: &str| self.malformed(format!("invalid PAX {what} record"));
            match k.as_slice() {
                b"path" => name = v,
                b"linkpath" => linkname = v,
                b"uname" => uname = v,
                b"gname" => gname = v,
                b"uid" => uid = parse_go_int(&v).ok_or_else(|| bad("uid"))?,
                b"gid" => gid = parse_go_int(&v).ok_or_else(|| bad("gid"))?,
                b"size" => size = parse_go_int(&v).ok_or_else(|| bad("size"))?,
                b"mtime" => mtime = parse_pax_time(&v).ok_or_else(|| bad("mtime"))?,
                b"atime" | b"ctime" => {
                    parse_pax_time(&v).ok_or_else(|| bad("atime/ctime"))?;
                }
                _ => {
                    if let Some(key) = k.strip_prefix(b"SCHILY.xattr.".as_slice()) {
                        map_insert(&mut xattrs, key.to_vec(), v);
                    }
                }
            }
        }
        if let Some(n) = self.long_name.take().filter(|n| !n.is_empty()) {
            name = n;
        }
        if let Some(l) = self.long_link.take().filter(|l| !l.is_empty()) {
            linkname = l;
        }
        if typeflag == 0 {
            // Legacy archives mark directories with a trailing slash. The type changes
            // before Go decides whether a body follows, so such a "file" has none.
            typeflag = if name.ends_with(b"/") { b'5' } else { b'0' };
        }
        let body = if is_header_only(typeflag) { 0 } else { size };
        if body < 0 {
            return Err(self.malformed("negative size"));
        }
        if size < 0 {
            // Go ignores the size of header-only types even when negative; a client
            // that sends one is not a tar tool we need to humour.
            return Err(self.unsupported(&name, format!("negative size {size}")));
        }

        let kind = match typeflag {
            _ if sparse => {
                return Err(self.unsupported(
                    &name,
                    "sparse files (PAX GNU.sparse records) are not supported; recreate the \
                     archive without sparse handling (no `tar --sparse`)",
                ));
            }
            b'0' => Kind::Regular,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'5' => Kind::Directory,
            b'S' => {
                return Err(self.unsupported(
                    &name,
                    "sparse files (GNU type 'S') are not supported; recreate the archive \
                     without sparse handling (no `tar --sparse`)",
                ));
            }
            b'3' | b'4' => {
                return Err(self.unsupported(
                    &name,
                    "character and block devices are not allowed in a build context; remove \
                     the device node from the context",
                ));
            }
            b'6' => {
                return Err(self.unsupported(
                    &name,
                    "FIFOs are not allowed in a build context; remove the named pipe from \
                     the context",
                ));
            }
            b'7' => {
                return Err(self.unsupported(
                    &name,
                    "contiguous files (type '7') are not supported; recreate the archive with \
                     a standard tar tool",
                ));
            }
            b'D' | b'M' | b'N' | b'V' => {
                return Err(self.unsupported(
                    &name,
                    format!(
                        "GNU '{}' headers (dump directories, multi-volume, volume labels, old \
                         long names) are not supported; create the archive without GNU \
                         extensions such as --incremental or --multi-volume",
                        typeflag as char
                    ),
                ));
            }
            other => {
                return Err(self.unsupported(
                    &name,
                    format!(
                        "unknown entry type {:?} (0x{other:02x}); only files, directories, \
                         symlinks and hard links can be sent",
                        other as char
                    ),
                ));
            }
        };

        self.check_path(&name, &name, "name")?;
        if matches!(kind, Kind::Symlink | Kind::HardLink) {
            self.check_path(&name, &linkname, "link target")?;
        } else {
            linkname.clear();
        }
        let mode = u32::try_from(mode)
            .map_err(|_| self.unsupported(&name, format!("mode {mode} is out of range")))?;
        let id = |v: i64, what: &str| {
            u64::try_from(v)
                .ok()
                .filter(|&v| v <= MAX_ID)
                .ok_or_else(|| self.unsupported(&name, format!("{what} {v} is out of range")))
        };
        let uid = id(uid, "uid")?;
        let gid = id(gid, "gid")?;
        let size = if kind == Kind::Regular {
            let s = body as u64; // not negative: checked above
            if s > MAX_SIZE {
                return Err(self.unsupported(&name, format!("size {s} is out of range")));
            }
            s
        } else {
            0
        };
        Ok(Entry {
            name,
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            uname,
            gname,
            mtime,
            size,
            linkname,
            xattrs,
        })
    }

    fn check_path(&self, entry: &[u8], p: &[u8], what: &str) -> Result<(), TarError> {
        if p.is_empty() {
            return Err(self.unsupported(entry, format!("the {what} is empty")));
        }
        if p.len() > self.limits.max_path_len {
            return Err(TarError::TooLarge {
                offset: self.header_at,
                what: if what == "name" {
                    "an entry name"
                } else {
                    "a link target"
                },
                size: p.len() as u64,
                limit: self.limits.max_path_len as u64,
            });
        }
        if let Some(&c) = p.iter().find(|&&c| c < 0x20 || c == 0x7f) {
            return Err(self.unsupported(
                entry,
                format!(
                    "the {what} contains the control byte 0x{c:02x}; rename the file so its \
                     path has no control characters"
                ),
            ));
        }
        Ok(())
    }
}

fn after_body(pad: usize) -> State {
    if pad == 0 {
        State::Header
    } else {
        State::Padding { remaining: pad }
    }
}

fn block_padding(size: u64) -> usize {
    (size.wrapping_neg() & (BLOCK as u64 - 1)) as usize
}

/// Go's `isHeaderOnlyType`: these types never have a body, whatever the size field says.
fn is_header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1'..=b'6')
}

fn map_insert(recs: &mut PaxRecords, k: Vec<u8>, v: Vec<u8>) {
    match recs.iter_mut().find(|(key, _)| *key == k) {
        Some(slot) => slot.1 = v,
        None => recs.push((k, v)),
    }
}

/// One header block with Go's `readHeader` applied, before meta headers are merged.
#[derive(Debug)]
struct RawHeader {
    typeflag: u8,
    name: Vec<u8>,
    linkname: Vec<u8>,
    size: i64,
    mode: i64,
    uid: i64,
    gid: i64,
    mtime: i64,
    uname: Vec<u8>,
    gname: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V7,
    Ustar,
    Gnu,
    Star,
}

/// Go's `parser.parseString`: up to the first NUL.
fn c_string(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Go's `readHeader` for a non-zero block (including `getFormat`'s checksum check).
fn parse_block(blk: &[u8; BLOCK]) -> Result<RawHeader, String> {
    let chksum = parse_octal(&blk[148..156]);
    let (unsigned, signed) = blk
        .iter()
        .enumerate()
        .fold((0i64, 0i64), |(u, s), (i, &c)| {
            let c = if (148..156).contains(&i) { b' ' } else { c };
            (u + i64::from(c), s + i64::from(c as i8))
        });
    match chksum {
        Some(v) if v == unsigned || v == signed => {}
        _ => return Err("header checksum mismatch (not a tar archive, or corrupted)".into()),
    }

    let magic = &blk[257..263];
    let format = if magic == b"ustar\0" && &blk[508..512] == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && &blk[263..265] == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    };

    // Go parses every numeric field with one parser and fails the header if any failed.
    let mut bad: Option<&'static str> = None;
    let mut num = |what: &'static str, b: &[u8]| match parse_numeric(b) {
        Some(v) => v,
        None => {
            bad.get_or_insert(what);
            0
        }
    };
    let mut name = c_string(&blk[0..100]).to_vec();
    let linkname = c_string(&blk[157..257]).to_vec();
    let size = num("size", &blk[124..136]);
    let mode = num("mode", &blk[100..108]);
    let uid = num("uid", &blk[108..116]);
    let gid = num("gid", &blk[116..124]);
    let mtime = num("mtime", &blk[136..148]);
    let (mut uname, mut gname) = (Vec::new(), Vec::new());

    if format != Format::V7 {
        uname = c_string(&blk[265..297]).to_vec();
        gname = c_string(&blk[297..329]).to_vec();
        num("devmajor", &blk[329..337]);
        num("devminor", &blk[337..345]);
        let prefix: &[u8] = match format {
            Format::Ustar => c_string(&blk[345..500]),
            Format::Star => {
                num("atime", &blk[476..488]);
                num("ctime", &blk[488..500]);
                c_string(&blk[345..476])
            }
            _ => {
                // GNU has no prefix field, but Go falls back to reading one (for files
                // from pre-1.8 Go writers) when the atime/ctime fields do not parse and
                // the bytes there are ASCII.
                let unparsable = |b: &[u8]| b[0] != 0 && parse_numeric(b).is_none();
                let p = c_string(&blk[345..500]);
                if (unparsable(&blk[345..357]) || unparsable(&blk[357..369]))
                    && p.iter().all(|&c| c < 0x80)
                {
                    p
                } else {
                    &[]
                }
            }
        };
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
    }
    if let Some(what) = bad {
        return Err(format!("the {what} field is not a valid number"));
    }
    Ok(RawHeader {
        typeflag: blk[156],
        name,
        linkname,
        size,
        mode,
        uid,
        gid,
        mtime,
        uname,
        gname,
    })
}

/// Go's `parseNumeric`: base-256 when the high bit is set, octal otherwise.
fn parse_numeric(b: &[u8]) -> Option<i64> {
    if let Some(&first) = b.first()
        && first & 0x80 != 0
    {
        let inv: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return None;
            }
            x = (x << 8) | u64::from(c);
        }
        if x >> 63 > 0 {
            return None;
        }
        let x = x as i64; // < 2^63 checked above
        return Some(if inv == 0xff { !x } else { x });
    }
    parse_octal(b)
}

/// Go's `parseOctal`: trim spaces and NULs, cut at a NUL, then `strconv.ParseUint(_, 8, 64)`.
fn parse_octal(b: &[u8]) -> Option<i64> {
    let is_pad = |c: &u8| *c == b' ' || *c == 0;
    let start = b.iter().position(|c| !is_pad(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_pad(c)).map_or(start, |i| i + 1);
    let t = c_string(&b[start..end]);
    if t.is_empty() {
        return Some(0);
    }
    let mut x: u64 = 0;
    for &c in t {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        x = x.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    // Go converts with int64(x); fields are at most 12 digits so this never wraps.
    i64::try_from(x).ok()
}

/// Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits, no underscores.
fn parse_go_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut x: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        x = x * 10 + i128::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    i64::try_from(if neg { -x } else { x }).ok()
}

/// Go's `parsePAXTime`, then `time.Time.Unix()`: whole seconds, rounded towards negative
/// infinity (so "-1.5" is -2 and "-0.5" is -1).
fn parse_pax_time(s: &[u8]) -> Option<i64> {
    let (ss, sn) = match s.iter().position(|&c| c == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[][..]),
    };
    let secs = parse_go_int(ss)?;
    if sn.is_empty() {
        return Some(secs);
    }
    if !sn.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let has_fraction = sn.iter().take(9).any(|&c| c != b'0');
    if ss.first() == Some(&b'-') && has_fraction {
        // Go's time.Unix wraps silently here; refusing is the only honest answer.
        return secs.checked_sub(1);
    }
    Some(secs)
}

/// Go's `parsePAX` (with `parsePAXRecord` and `validPAXRecord`), including its folding of
/// GNU sparse 0.0 offset/numbytes pairs into one `GNU.sparse.map` record.
fn parse_pax(mut s: &[u8]) -> Result<PaxRecords, String> {
    let mut recs = PaxRecords::new();
    let mut sparse_map: Vec<&[u8]> = Vec::new();
    let bad = |why: &str| Err(format!("malformed PAX record: {why}"));
    while !s.is_empty() {
        let Some(sp) = s.iter().position(|&c| c == b' ') else {
            return bad("no length field");
        };
        let n = match parse_go_int(&s[..sp]) {
            Some(n) if n >= 5 && n <= s.len() as i64 => n as usize,
            _ => return bad("invalid length"),
        };
        if n <= sp + 1 {
            return bad("invalid length");
        }
        let rest = &s[sp + 1..];
        let n = n - (sp + 1); // index into rest; rest.len() >= n since n <= s.len()
        let (rec, nl, rem) = (&rest[..n - 1], rest[n - 1], &rest[n..]);
        if nl != b'\n' {
            return bad("missing newline");
        }
        let Some(eq) = rec.iter().position(|&c| c == b'=') else {
            return bad("no '='");
        };
        let (k, v) = (&rec[..eq], &rec[eq + 1..]);
        let valid = !k.is_empty()
            && match k {
                b"path" | b"linkpath" | b"uname" | b"gname" => !v.contains(&0),
                _ => !k.contains(&0),
            };
        if !valid {
            return bad("NUL byte or empty key");
        }
        s = rem;
        match k {
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                let want_offset = sparse_map.len() % 2 == 0;
                if want_offset != (k == b"GNU.sparse.offset") || v.contains(&b',') {
                    return bad("GNU sparse records out of order");
                }
                sparse_map.push(v);
            }
            _ => map_insert(&mut recs, k.to_vec(), v.to_vec()),
        }
    }
    if !sparse_map.is_empty() {
        map_insert(
            &mut recs,
            b"GNU.sparse.map".to_vec(),
            sparse_map.join(&b","[..]),
        );
    }
    Ok(recs)
}
