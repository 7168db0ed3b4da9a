//! The context walk: a model of the directory tree the daemon will extract from the
//! build context, fed one tar entry at a time, that names the Dockerfile the daemon will
//! read and returns its bytes.
//!
//! # Why a model and not a lookup by name
//!
//! The gateway streams the context through and cannot keep it, yet it must rewrite
//! exactly the Dockerfile the daemon is going to read. The daemon does not look the
//! Dockerfile up in the archive: it first extracts the whole archive into a temporary
//! directory and then opens the path from the `dockerfile` parameter in that directory,
//! following symlinks. What it opens is therefore decided by the *final* state of the
//! tree, which the client controls through entry order, duplicates, directories that
//! replace files, symlinked directories that later entries are written through, and so
//! on. A name match on the archive would pick a different file than the daemon in every
//! one of those cases, and the difference is an unlabelled image.
//!
//! So this module replays the extraction on a small in-memory tree (names, kinds, link
//! targets) and keeps file bytes only for *candidates*: regular files whose last path
//! component equals the Dockerfile's last component (a path's last component survives
//! every symlink expansion, and the Dockerfile itself may not be a symlink, so no other
//! file can end up being read). Memory grows with the number of tree nodes (capped by
//! [`Limits::max_entries`]) and with candidate bytes (capped per file by
//! [`Limits::max_dockerfile`] and in total by [`Limits::max_held`]), never with file sizes.
//!
//! # The daemon behaviour modelled
//!
//! Checked against moby v20.10.24 and moby HEAD (the code moved to `daemon/builder` and
//! `github.com/moby/go-archive` there):
//!
//! * `builder/dockerfile/builder.go`: an empty `dockerfile` parameter becomes
//!   `"Dockerfile"`.
//! * `builder/remotecontext/archive.go`: the context is extracted with
//!   `chrootarchive.Untar` into a fresh directory; v20.10 chroots into it and unpacks
//!   to `/`, HEAD unpacks through an `os.Root`.
//! * `pkg/archive/archive.go` `Unpack`/`createTarFile`: each name goes through
//!   `filepath.Clean`; a missing parent is created with `MkdirAll` (which follows
//!   symlinks and fails on a dangling one); an existing path is removed with
//!   `RemoveAll` (the link itself, not its target) unless both it and the entry are
//!   directories; regular files are created fresh, so file contents are never changed in
//!   place and a hard link is a snapshot of its target's bytes; `os.Link` does not follow
//!   a final symlink in the target; intermediate symlinks are followed by the kernel,
//!   absolute ones relative to the context root.
//! * `builder/remotecontext/detect.go`: the Dockerfile is opened at
//!   `FollowSymlinkInScope(Join(root, dockerfile), root)`; only when that open fails
//!   with "not exist" **and** the raw parameter string equals `"Dockerfile"` does the
//!   daemon try `"dockerfile"` (so `./Dockerfile` gets no fallback). `.dockerignore` is
//!   applied only after the Dockerfile has been read.
//! * `github.com/moby/sys/symlink` `FollowSymlinkInScope`: components are consumed one
//!   at a time; a symlink's target is put in front of the rest, an absolute target
//!   restarts at the root, `..` pops the already-resolved prefix, components that do not
//!   exist are accepted, at most 255 steps.
//!
//! # Where the model refuses instead of guessing
//!
//! Refusing is always safe (the build fails closed); accepting is safe only if the daemon
//! would read the same bytes or fail. So every place where v20.10 and HEAD disagree, or
//! where the daemon silently rewrites something, is an error here: `..` that would leave
//! the root (v20.10 clamps it at the chroot root, HEAD refuses), symlinks whose target
//! leaves the root, writes through dangling symlinks (HEAD may create the target
//! directory, v20.10 fails), non-directory entries named `.` or `/`, symlink chains
//! longer than the kernel allows, and a Dockerfile that is a symlink, a hard link or
//! anything other than a regular file.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;

use crate::tar::{Entry, Kind};

/// The daemon's default Dockerfile name (`builder.DefaultDockerfileName`).
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// The name the daemon falls back to when the default one is missing.
const LOWERCASE_FALLBACK: &[u8] = b"dockerfile";

/// Linux `PATH_MAX`: a longer name or symlink target fails in the daemon's syscalls, so
/// refusing it costs nothing and bounds the bytes a single node can hold.
const MAX_PATH: usize = 4096;

/// Linux `NAME_MAX`, for the same reason as [`MAX_PATH`].
const MAX_COMPONENT: usize = 255;

/// Linux `MAXSYMLINKS`: the kernel gives up (`ELOOP`) after this many symlinks in one
/// path walk, so the daemon's extraction cannot have followed more.
const MAX_LINKS: usize = 40;

/// Most path components one extraction walk may visit, symlink expansions included.
/// A name has at most 2048 components; the cap stops a few long symlink targets from
/// turning every later entry into thousands of lookups (refusing is always safe).
const MAX_WALK_STEPS: usize = 4096;

/// `FollowSymlinkInScope`'s `maxIter`: it fails after this many components.
const MAX_RESOLVE_STEPS: usize = 255;

/// Index of the context root in [`Walk::nodes`].
const ROOT: usize = 0;

/// Bounds on what the walk may hold; every one is a clear error when exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest Dockerfile the gateway rewrites. A bigger candidate is remembered as "too
    /// large" and is an error only if it turns out to be the Dockerfile.
    pub max_dockerfile: usize,
    /// Total bytes of all candidate files held at once, so an archive full of files
    /// named `Dockerfile` cannot grow memory without bound.
    pub max_held: usize,
    /// Most files, directories and links (including implied parent directories) the
    /// model tracks at once.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_dockerfile: 1 << 20,
            max_held: 16 << 20,
            max_entries: 1_000_000,
        }
    }
}

/// Why the walk refused a context. The message is written for the person whose CI job
/// sent it: it names the path involved and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextError {
    message: String,
}

impl ContextError {
    fn new(message: impl Into<String>) -> ContextError {
        ContextError {
            message: message.into(),
        }
    }

    /// Used where the walk's own bookkeeping disagrees with itself. It should never
    /// happen, but an error is better than a panic in a gateway.
    fn internal(what: &str) -> ContextError {
        ContextError::new(format!(
            "internal error in the build context model ({what}); please report this"
        ))
    }

    /// The message, as also given by `Display`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ContextError {}

/// A path or name in messages: quoted, with invalid UTF-8 shown as replacement
/// characters, so control bytes cannot garble a CI log.
fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// Like [`show`], for names too long to print whole.
fn show_start(bytes: &[u8]) -> String {
    let end = bytes.len().min(64);
    format!("{}...", show(bytes.get(..end).unwrap_or(bytes)))
}

/// Splits `path` into the components Go's `filepath.Clean` keeps, relative to the
/// context root: empty and `.` components vanish and `..` removes the component before
/// it. A `..` with nothing left to remove would leave the root and returns `None`, also
/// for rooted names such as `/../x`, which Go cleans to `/x`: v20.10 then extracts it
/// to `x`, HEAD refuses it, so the model refuses too.
fn clean(path: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

/// The raw components of a symlink target, as the kernel and `FollowSymlinkInScope`
/// consume them (no cleaning: `..` must be applied to the resolved prefix).
fn target_components(target: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    target.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// What extraction leaves at one path.
enum Node {
    /// Boxed because most nodes are files: an inline map would make every node twice
    /// the size.
    #[expect(
        clippy::box_collection,
        reason = "the box keeps the map's 48 bytes out of every file node"
    )]
    Dir(Box<HashMap<Name, usize>>),
    File(Content),
    Symlink(Box<[u8]>),
}

/// A name in a directory. Nearly all names are short, and keeping those inline spares
/// one allocation per node and its heap overhead (a 32-byte chunk for an 8-byte name).
enum Name {
    Inline { len: u8, bytes: [u8; Name::INLINE] },
    Heap(Box<[u8]>),
}

impl Name {
    /// As many bytes as fit beside the length and the tag in a `Box<[u8]>`'s 16 bytes
    /// plus one word: the map's slot grows from 24 to 32 bytes, less than the
    /// allocation it saves.
    const INLINE: usize = 22;

    fn new(name: &[u8]) -> Name {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= Name::INLINE => {
                let mut bytes = [0; Name::INLINE];
                bytes[..name.len()].copy_from_slice(name);
                Name::Inline { len, bytes }
            }
            _ => Name::Heap(Box::from(name)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Name::Heap(bytes) => bytes,
        }
    }
}

const _: () = assert!(size_of::<Name>() == 24);

/// The map is looked up by `&[u8]`, so `Hash` and `Eq` must be exactly those of the
/// bytes (`Borrow`'s contract).
impl std::borrow::Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

/// What the model knows about a regular file's bytes.
enum Content {
    /// Not a candidate name: only its existence matters.
    Untracked,
    /// A candidate within `max_dockerfile`: its bytes (complete once `data` has had
    /// them all).
    Held(Vec<u8>),
    /// A candidate over `max_dockerfile`, remembered so `finish` can say "too large"
    /// rather than "missing".
    TooLarge(u64),
    /// Made by a hard-link entry. Refused as the Dockerfile, so its bytes are never
    /// needed; any other use is just "a file exists here".
    HardLink,
}

/// A candidate whose bytes are still arriving through [`Walk::data`].
struct Pending {
    node: usize,
    remaining: u64,
}

/// The model of the extracted context. Feed it every entry with [`Walk::entry`] (and
/// [`Walk::data`] where asked), then call [`Walk::finish`].
pub struct Walk {
    limits: Limits,
    /// Arena of tree nodes; `None` marks a free slot. Indices rather than owned
    /// subtrees so that deep trees are built and torn down without recursion.
    nodes: Vec<Option<Node>>,
    free: Vec<usize>,
    /// Live nodes other than the root, checked against `max_entries`.
    live: usize,
    /// Bytes reserved for held candidates, checked against `max_held`.
    held: usize,
    /// The cleaned `dockerfile` path, as components below the root.
    target: Vec<Box<[u8]>>,
    /// The `dockerfile` parameter as the daemon sees it, for messages.
    requested: String,
    /// Whether the daemon would try `dockerfile` when the target is missing.
    fallback: bool,
    pending: Option<Pending>,
    /// Where the last entry's parent directories led; see [`LastParent`].
    last_parent: LastParent,
    /// Set after any error: the model no longer matches the daemon, so nothing after it
    /// may be trusted.
    failed: bool,
}

/// The directory that the last walk of an entry's parent components reached, so that
/// the entries of one directory, which archives list together, do not each walk from
/// the root again.
///
/// A walk is a function of its components and of the tree. Between two walks the tree
/// only changes by inserting names that were absent, or by removing nodes. An inserted
/// name cannot be one the cached walk passed through (those existed, or the walk itself
/// created them), so only a removal can change the answer, and every removal clears the
/// cache (removed ids are also reused).
struct LastParent {
    /// The cleaned parent components, each followed by `/` (no component contains one).
    path: Vec<u8>,
    /// `None` when nothing valid is cached.
    dir: Option<usize>,
}

impl LastParent {
    fn get(&self, parents: &[&[u8]]) -> Option<usize> {
        let dir = self.dir?;
        let mut rest = &self.path[..];
        for c in parents {
            rest = rest.strip_prefix(*c)?.strip_prefix(b"/")?;
        }
        rest.is_empty().then_some(dir)
    }

    fn set(&mut self, parents: &[&[u8]], dir: usize) {
        self.path.clear();
        for c in parents {
            self.path.extend_from_slice(c);
            self.path.push(b'/');
        }
        self.dir = Some(dir);
    }
}

/// Where a path lookup during extraction ended.
enum Lookup {
    /// A directory node.
    Dir(usize),
    /// Something on the way was missing and could not be created.
    Missing(Vec<u8>),
}

impl Walk {
    /// Starts a walk for the Dockerfile the daemon will read.
    ///
    /// `dockerfile` is the client's `dockerfile` query value; `None` or empty means the
    /// daemon's default `Dockerfile`. The lowercase `dockerfile` fallback is enabled only
    /// when the value is exactly `Dockerfile` (or absent), as the daemon compares the raw
    /// string.
    pub fn new(dockerfile: Option<&str>, limits: Limits) -> Result<Walk, ContextError> {
        let raw = match dockerfile {
            None | Some("") => DEFAULT_DOCKERFILE,
            Some(s) => s,
        };
        if raw.as_bytes().contains(&0) {
            return Err(ContextError::new(format!(
                "the Dockerfile path {raw:?} contains a NUL byte; \
                 -f/dockerfile= must be a path relative to the build context root"
            )));
        }
        if raw.len() > MAX_PATH {
            return Err(ContextError::new(format!(
                "the Dockerfile path is longer than {MAX_PATH} bytes; \
                 -f/dockerfile= must be a path relative to the build context root"
            )));
        }
        let comps = clean(raw.as_bytes()).ok_or_else(|| {
            ContextError::new(format!(
                "the Dockerfile path {raw:?} points outside the build context; \
                 -f/dockerfile= is relative to the build context root and may not leave it"
            ))
        })?;
        if comps.is_empty() {
            return Err(ContextError::new(format!(
                "the Dockerfile path {raw:?} names the build context root, not a file; \
                 -f/dockerfile= must name a file relative to the build context root"
            )));
        }
        Ok(Walk {
            limits,
            nodes: vec![Some(Node::Dir(Box::default()))],
            free: Vec::new(),
            live: 0,
            held: 0,
            target: comps.into_iter().map(Box::from).collect(),
            requested: raw.to_owned(),
            fallback: raw == DEFAULT_DOCKERFILE,
            pending: None,
            last_parent: LastParent {
                path: Vec::new(),
                dir: None,
            },
            failed: false,
        })
    }

    /// Applies one entry header, in archive order, the way the daemon's extraction
    /// would. Returns `true` if the caller must pass this entry's data to
    /// [`Walk::data`] (only candidates for the Dockerfile are read; all other data is
    /// the caller's to stream on).
    ///
    /// Errors for entries the daemon would refuse or fail on, and for entries whose
    /// effect the model cannot be sure of (see the module docs). After an error the walk
    /// is unusable.
    pub fn entry(&mut self, entry: &Entry) -> Result<bool, ContextError> {
        self.usable()?;
        let result = self.apply(entry);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Takes the next piece of the current candidate's data. Chunks may be any size,
    /// down to one byte; together they must be exactly the entry's size.
    pub fn data(&mut self, chunk: &[u8]) -> Result<(), ContextError> {
        if self.failed {
            return Err(ContextError::internal("data after an error"));
        }
        let result = self.take_data(chunk);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// At the end of the archive: resolves the Dockerfile path the way the daemon does
    /// and returns the file's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, ContextError> {
        self.usable()?;
        let target = std::mem::take(&mut self.target);
        if let Some(id) = self.resolve_in_scope(&target)? {
            let requested = self.requested.clone();
            return self.take_dockerfile(id, &requested);
        }
        if self.fallback {
            let lower: [Box<[u8]>; 1] = [Box::from(LOWERCASE_FALLBACK)];
            if let Some(id) = self.resolve_in_scope(&lower)? {
                return self.take_dockerfile(id, "dockerfile");
            }
            return Err(ContextError::new(
                "no Dockerfile in the build context: neither \"Dockerfile\" nor \"dockerfile\" \
                 exists at the context root; pass -f/dockerfile= with the Dockerfile's path \
                 relative to the build context root",
            ));
        }
        Err(ContextError::new(format!(
            "cannot locate the Dockerfile {:?} in the build context; the dockerfile= \
             parameter (docker build -f) is a path relative to the build context root, and \
             the file must be inside the context",
            self.requested
        )))
    }

    /// Refuses calls after an error, and calls that skip part of a candidate's data.
    fn usable(&self) -> Result<(), ContextError> {
        if self.failed {
            return Err(ContextError::internal("used after an error"));
        }
        if self.pending.is_some() {
            return Err(ContextError::internal(
                "next entry before all of a candidate's data",
            ));
        }
        Ok(())
    }

    fn apply(&mut self, entry: &Entry) -> Result<bool, ContextError> {
        let name = &entry.name;
        if name.len() > MAX_PATH {
            return Err(ContextError::new(format!(
                "archive entry name longer than {MAX_PATH} bytes ({})",
                show_start(name)
            )));
        }
        let comps = clean(name).ok_or_else(|| {
            ContextError::new(format!(
                "archive entry {} points outside the build context (\"..\" above the root); \
                 send a context without such names",
                show(name)
            ))
        })?;
        if let Some(long) = comps.iter().find(|c| c.len() > MAX_COMPONENT) {
            return Err(ContextError::new(format!(
                "archive entry {} has a path component longer than {MAX_COMPONENT} bytes ({})",
                show_start(name),
                show_start(long)
            )));
        }
        let Some((&base, parents)) = comps.split_last() else {
            // The root itself: the daemon merges a directory entry into it and does
            // something version-dependent (skip, or remove the whole context) for
            // anything else.
            return match entry.kind {
                Kind::Directory => Ok(false),
                _ => Err(ContextError::new(format!(
                    "archive entry {} is not a directory but names the build context root",
                    show(name)
                ))),
            };
        };
        let parent = match self.last_parent.get(parents) {
            Some(dir) => dir,
            None => {
                let walked = self
                    .walk_dir(parents, true)
                    .map_err(|e| ContextError::new(format!("archive entry {}: {e}", show(name))))?;
                match walked {
                    Lookup::Dir(id) => {
                        self.last_parent.set(parents, id);
                        id
                    }
                    Lookup::Missing(what) => {
                        return Err(ContextError::new(format!(
                            "archive entry {} is written through a dangling symlink ({} does \
                             not exist)",
                            show(name),
                            show(&what)
                        )));
                    }
                }
            }
        };

        // Remove and replace, unless both are directories (then the daemon merges).
        if let Some(existing) = self.child(parent, base)? {
            if entry.kind == Kind::Directory && matches!(self.node(existing)?, Node::Dir(_)) {
                return Ok(false);
            }
            self.remove_child(parent, base)?;
        }

        match entry.kind {
            Kind::Directory => {
                self.insert(parent, base, Node::Dir(Box::default()))?;
                Ok(false)
            }
            Kind::Regular => self.add_regular(parent, base, entry),
            Kind::Symlink => {
                self.check_symlink(entry, parents)?;
                let target = Box::from(entry.linkname.as_slice());
                self.insert(parent, base, Node::Symlink(target))?;
                Ok(false)
            }
            Kind::HardLink => {
                let node = self.hard_link(entry)?;
                self.insert(parent, base, node)?;
                Ok(false)
            }
        }
    }

    fn add_regular(
        &mut self,
        parent: usize,
        base: &[u8],
        entry: &Entry,
    ) -> Result<bool, ContextError> {
        let candidate = base == self.target_base() || (self.fallback && base == LOWERCASE_FALLBACK);
        if !candidate {
            self.insert(parent, base, Node::File(Content::Untracked))?;
            return Ok(false);
        }
        let size = match usize::try_from(entry.size) {
            Ok(size) if size <= self.limits.max_dockerfile => size,
            _ => {
                self.insert(parent, base, Node::File(Content::TooLarge(entry.size)))?;
                return Ok(false);
            }
        };
        let total = self.held.saturating_add(size);
        if total > self.limits.max_held {
            return Err(ContextError::new(format!(
                "the build context has more than {} bytes of files named {} that could be the \
                 Dockerfile (at {}); the gateway holds them in memory until the end of the \
                 archive, so send fewer or smaller such files",
                self.limits.max_held,
                show(base),
                show(&entry.name)
            )));
        }
        self.held = total;
        let id = self.insert(
            parent,
            base,
            Node::File(Content::Held(Vec::with_capacity(size))),
        )?;
        if size == 0 {
            return Ok(false);
        }
        self.pending = Some(Pending {
            node: id,
            remaining: entry.size,
        });
        Ok(true)
    }

    /// The daemon (v20.10, outside a chroot) refuses a symlink whose target, joined
    /// lexically onto the link's directory, leaves the root; inside its chroot and at
    /// HEAD the rules differ, so the model refuses what the strictest of them refuses.
    fn check_symlink(&self, entry: &Entry, parents: &[&[u8]]) -> Result<(), ContextError> {
        let target = &entry.linkname;
        if target.is_empty() {
            return Err(ContextError::new(format!(
                "symlink {} has an empty target",
                show(&entry.name)
            )));
        }
        if target.len() >= MAX_PATH {
            return Err(ContextError::new(format!(
                "symlink {} has a target longer than {} bytes",
                show(&entry.name),
                MAX_PATH - 1
            )));
        }
        let mut depth = parents.len();
        for c in target.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    if depth == 0 {
                        return Err(ContextError::new(format!(
                            "symlink {} -> {} points outside the build context",
                            show(&entry.name),
                            show(target)
                        )));
                    }
                    depth -= 1;
                }
                _ => depth += 1,
            }
        }
        Ok(())
    }

    /// Builds the node a hard-link entry creates: `os.Link` joins the target onto the
    /// root, follows symlinks in its directories but not in its last component, and
    /// fails on a directory or a missing target.
    fn hard_link(&mut self, entry: &Entry) -> Result<Node, ContextError> {
        let target = &entry.linkname;
        let refuse = |why: &str| {
            ContextError::new(format!(
                "hard link {} -> {} {why}",
                show(&entry.name),
                show(target)
            ))
        };
        let comps = clean(target).ok_or_else(|| refuse("points outside the build context"))?;
        let Some((&base, parents)) = comps.split_last() else {
            return Err(refuse("links to the build context root"));
        };
        let walked = self
            .walk_dir(parents, false)
            .map_err(|e| refuse(&format!("cannot be resolved: {e}")))?;
        let dir = match walked {
            Lookup::Dir(id) => id,
            Lookup::Missing(_) => return Err(refuse("links to a file that does not exist")),
        };
        let Some(id) = self.child(dir, base)? else {
            return Err(refuse("links to a file that does not exist (yet)"));
        };
        match self.node(id)? {
            Node::Dir(_) => Err(refuse("links to a directory")),
            Node::File(_) => Ok(Node::File(Content::HardLink)),
            // A hard link to a symlink is another name for the same symlink.
            Node::Symlink(t) => Ok(Node::Symlink(t.clone())),
        }
    }

    fn take_data(&mut self, chunk: &[u8]) -> Result<(), ContextError> {
        let Some(pending) = self.pending.as_mut() else {
            if chunk.is_empty() {
                return Ok(());
            }
            return Err(ContextError::internal(
                "data for an entry that did not ask for it",
            ));
        };
        let len = chunk.len() as u64;
        if len > pending.remaining {
            return Err(ContextError::internal("more data than the entry's size"));
        }
        pending.remaining -= len;
        let id = pending.node;
        if pending.remaining == 0 {
            self.pending = None;
        }
        match self.nodes.get_mut(id) {
            Some(Some(Node::File(Content::Held(bytes)))) => {
                bytes.extend_from_slice(chunk);
                Ok(())
            }
            _ => Err(ContextError::internal("pending data has no file")),
        }
    }

    fn target_base(&self) -> &[u8] {
        self.target.last().map(|b| &b[..]).unwrap_or(b"")
    }

    fn node(&self, id: usize) -> Result<&Node, ContextError> {
        match self.nodes.get(id) {
            Some(Some(node)) => Ok(node),
            _ => Err(ContextError::internal("dangling node index")),
        }
    }

    /// Looks up `name` in directory `dir` without following a symlink (an `Lstat`).
    fn child(&self, dir: usize, name: &[u8]) -> Result<Option<usize>, ContextError> {
        match self.node(dir)? {
            Node::Dir(children) => Ok(children.get(name).copied()),
            _ => Err(ContextError::internal("lookup in a non-directory")),
        }
    }

    fn insert(&mut self, dir: usize, name: &[u8], node: Node) -> Result<usize, ContextError> {
        if self.live >= self.limits.max_entries {
            return Err(ContextError::new(format!(
                "the build context has more than {} files, directories and links \
                 (counting directories implied by paths); send a smaller context \
                 (a .dockerignore helps) or raise the gateway's --max-context-entries",
                self.limits.max_entries
            )));
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.nodes.push(None);
                self.nodes.len() - 1
            }
        };
        match self.nodes.get_mut(dir) {
            Some(Some(Node::Dir(children))) => {
                children.insert(Name::new(name), id);
            }
            _ => {
                self.free.push(id);
                return Err(ContextError::internal("insert into a non-directory"));
            }
        }
        if let Some(slot) = self.nodes.get_mut(id) {
            *slot = Some(node);
        }
        self.live += 1;
        Ok(id)
    }

    /// `RemoveAll` of one name: the node and, for a directory, everything below it. A
    /// symlink is removed, not its target. Freed held bytes go back to the budget.
    fn remove_child(&mut self, dir: usize, name: &[u8]) -> Result<(), ContextError> {
        self.last_parent.dir = None;
        let removed = match self.nodes.get_mut(dir) {
            Some(Some(Node::Dir(children))) => children.remove(name),
            _ => return Err(ContextError::internal("remove from a non-directory")),
        };
        let mut stack: Vec<usize> = removed.into_iter().collect();
        while let Some(id) = stack.pop() {
            let node = self.nodes.get_mut(id).and_then(Option::take);
            match node {
                Some(Node::Dir(children)) => stack.extend(children.into_values()),
                Some(Node::File(Content::Held(bytes))) => {
                    // Only complete candidates can be removed (`usable` refuses a new
                    // entry before all data), so the length is what was reserved.
                    self.held = self.held.saturating_sub(bytes.len());
                }
                Some(_) => {}
                None => return Err(ContextError::internal("removing a free node")),
            }
            self.free.push(id);
            self.live = self.live.saturating_sub(1);
        }
        Ok(())
    }

    /// Walks directory components from the root the way the kernel does inside the
    /// daemon's extraction: every symlink is followed (absolute ones from the root),
    /// `..` goes to the parent of the directory actually reached. With `create`, a
    /// missing component of the entry's own name becomes a directory (`MkdirAll`); a
    /// missing component inside a symlink's target is a dangling link, which `MkdirAll`
    /// fails on.
    fn walk_dir(&mut self, comps: &[&[u8]], create: bool) -> Result<Lookup, ContextError> {
        // The components still to walk are those of followed symlink targets (`linked`,
        // next one last) in front of the rest of the entry's own (`own`). Only the
        // former are copied: they live in the tree, which the walk may add to.
        let mut own = comps.iter();
        let mut linked: Vec<Vec<u8>> = Vec::new();
        let mut stack: Vec<usize> = vec![ROOT];
        let mut links = 0usize;
        let mut steps = 0usize;
        loop {
            let (c, from_link) = match linked.pop() {
                Some(c) => (Cow::Owned(c), true),
                None => match own.next() {
                    Some(&c) => (Cow::Borrowed(c), false),
                    None => break,
                },
            };
            steps += 1;
            if steps > MAX_WALK_STEPS {
                return Err(ContextError::new(format!(
                    "its path takes more than {MAX_WALK_STEPS} steps to resolve through \
                     symlinks; use shorter paths or fewer nested links"
                )));
            }
            match &c[..] {
                b"" | b"." => continue,
                b".." => {
                    if stack.len() <= 1 {
                        return Err(ContextError::new(
                            "a symlink on its path leads above the build context root, which \
                             daemon versions resolve differently; use links that stay inside \
                             the context",
                        ));
                    }
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let cur = *stack
                .last()
                .ok_or_else(|| ContextError::internal("empty walk"))?;
            let Some(id) = self.child(cur, &c)? else {
                if create && !from_link {
                    let id = self.insert(cur, &c, Node::Dir(Box::default()))?;
                    stack.push(id);
                    continue;
                }
                return Ok(Lookup::Missing(c.into_owned()));
            };
            match self.node(id)? {
                Node::Dir(_) => stack.push(id),
                Node::File(_) => {
                    return Err(ContextError::new(format!(
                        "its path goes through {}, which is a file, not a directory",
                        show(&c)
                    )));
                }
                Node::Symlink(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(ContextError::new(format!(
                            "too many levels of symlinks on its path (more than {MAX_LINKS})"
                        )));
                    }
                    if target.first() == Some(&b'/') {
                        stack.truncate(1);
                    }
                    for part in target_components(target).rev() {
                        linked.push(part.to_vec());
                    }
                }
            }
        }
        stack
            .last()
            .map(|&id| Lookup::Dir(id))
            .ok_or_else(|| ContextError::internal("empty walk"))
    }

    /// Resolves a Dockerfile path like `FollowSymlinkInScope` followed by `open`:
    /// `Some(node)` for an existing non-symlink, `None` when the open would fail with
    /// "not exist" (which is what allows the lowercase fallback), an error otherwise.
    /// A symlink in the last component is an error, not followed: the gateway re-emits
    /// the Dockerfile under its own name and will not chase links to do it.
    fn resolve_in_scope(&self, comps: &[Box<[u8]>]) -> Result<Option<usize>, ContextError> {
        let requested = || {
            let joined: Vec<u8> = comps.join(&b'/');
            show(&joined)
        };
        let mut queue: VecDeque<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
        // The resolved prefix; `None` is a component that does not exist (accepted, as
        // the daemon accepts it, and everything below it does not exist either).
        let mut resolved: Vec<Option<usize>> = Vec::new();
        let mut steps = 0usize;
        let mut links = 0usize;
        while let Some(c) = queue.pop_front() {
            steps += 1;
            if steps > MAX_RESOLVE_STEPS || links > MAX_LINKS {
                return Err(ContextError::new(format!(
                    "too many levels of symlinks while resolving the Dockerfile path {}",
                    requested()
                )));
            }
            match &c[..] {
                b"" | b"." => continue,
                b".." => {
                    if resolved.pop().is_none() {
                        return Err(ContextError::new(format!(
                            "a symlink on the Dockerfile path {} leads above the build \
                             context root",
                            requested()
                        )));
                    }
                    continue;
                }
                _ => {}
            }
            let dir = match resolved.last() {
                None => ROOT,
                Some(Some(id)) => *id,
                Some(None) => {
                    resolved.push(None);
                    continue;
                }
            };
            let Node::Dir(children) = self.node(dir)? else {
                return Err(ContextError::new(format!(
                    "the Dockerfile path {} goes through a file that is not a directory",
                    requested()
                )));
            };
            let Some(&id) = children.get(&c[..]) else {
                resolved.push(None);
                continue;
            };
            let Node::Symlink(target) = self.node(id)? else {
                resolved.push(Some(id));
                continue;
            };
            if queue.is_empty() {
                return Err(ContextError::new(format!(
                    "the Dockerfile {} is a symbolic link; the gateway only accepts a regular \
                     file as the Dockerfile: send the file itself instead of a link",
                    requested()
                )));
            }
            links += 1;
            if target.first() == Some(&b'/') {
                resolved.clear();
            }
            for part in target_components(target).rev() {
                queue.push_front(part.to_vec());
            }
        }
        match resolved.last() {
            Some(found) => Ok(*found),
            None => Err(ContextError::new(format!(
                "the Dockerfile path {} resolves to the build context root, a directory",
                requested()
            ))),
        }
    }

    /// Hands out the bytes of the file the daemon would read, or says why not.
    fn take_dockerfile(&mut self, id: usize, name: &str) -> Result<Vec<u8>, ContextError> {
        let max = self.limits.max_dockerfile;
        match self.nodes.get_mut(id).and_then(Option::as_mut) {
            Some(Node::File(Content::Held(bytes))) => Ok(std::mem::take(bytes)),
            Some(Node::File(Content::TooLarge(size))) => Err(ContextError::new(format!(
                "the Dockerfile {name:?} is {size} bytes, more than the gateway's limit of \
                 {max} bytes; shrink it or raise the gateway's --max-dockerfile-size"
            ))),
            Some(Node::File(Content::HardLink)) => Err(ContextError::new(format!(
                "the Dockerfile {name:?} is a hard link in the build context; the gateway only \
                 accepts a regular file as the Dockerfile: send the file itself"
            ))),
            Some(Node::Dir(_)) => Err(ContextError::new(format!(
                "the Dockerfile {name:?} is a directory in the build context, not a file"
            ))),
            Some(Node::Symlink(_)) => Err(ContextError::new(format!(
                "the Dockerfile {name:?} is a symbolic link; the gateway only accepts a regular \
                 file as the Dockerfile"
            ))),
            Some(Node::File(Content::Untracked)) => Err(ContextError::internal(
                "the Dockerfile's bytes were not kept",
            )),
            None => Err(ContextError::internal("dangling node index")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One archive entry in a test table.
    #[derive(Debug, Clone)]
    enum E {
        Reg(&'static str, &'static [u8]),
        Dir(&'static str),
        Sym(&'static str, &'static str),
        Hard(&'static str, &'static str),
    }
    use E::*;

    fn entry(kind: Kind, name: &[u8], link: &[u8], size: u64) -> Entry {
        Entry {
            name: name.to_vec(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            uname: Vec::new(),
            gname: Vec::new(),
            mtime: 0,
            size,
            linkname: link.to_vec(),
            xattrs: Vec::new(),
        }
    }

    fn to_entry(e: &E) -> (Entry, &'static [u8]) {
        match *e {
            Reg(n, d) => (entry(Kind::Regular, n.as_bytes(), b"", d.len() as u64), d),
            Dir(n) => (entry(Kind::Directory, n.as_bytes(), b"", 0), b""),
            Sym(n, t) => (entry(Kind::Symlink, n.as_bytes(), t.as_bytes(), 0), b""),
            Hard(n, t) => (entry(Kind::HardLink, n.as_bytes(), t.as_bytes(), 0), b""),
        }
    }

    /// Feeds `entries` the way the gateway's pipeline will, passing data in pieces of
    /// `chunk` bytes to the entries that ask for it.
    fn run(
        param: Option<&str>,
        limits: Limits,
        entries: &[(Entry, Vec<u8>)],
        chunk: usize,
    ) -> Result<Vec<u8>, ContextError> {
        let mut walk = Walk::new(param, limits)?;
        for (e, data) in entries {
            if walk.entry(e)? {
                for piece in data.chunks(chunk.max(1)) {
                    walk.data(piece)?;
                }
            }
        }
        walk.finish()
    }

    fn small() -> Limits {
        Limits {
            max_dockerfile: 8,
            max_held: 16,
            max_entries: 64,
        }
    }

    struct Case {
        what: &'static str,
        param: Option<&'static str>,
        entries: Vec<E>,
        limits: Limits,
        /// `Ok(bytes)`, or `Err(part of the message)`.
        want: Result<&'static [u8], &'static str>,
    }

    fn case(
        what: &'static str,
        param: Option<&'static str>,
        entries: Vec<E>,
        want: Result<&'static [u8], &'static str>,
    ) -> Case {
        Case {
            what,
            param,
            entries,
            limits: small(),
            want,
        }
    }

    fn cases() -> Vec<Case> {
        let df = Some("Dockerfile");
        let sub = Some("sub/Dockerfile");
        vec![
            case(
                "default name",
                None,
                vec![Reg("Dockerfile", b"up")],
                Ok(b"up"),
            ),
            case(
                "empty param is the default",
                Some(""),
                vec![Reg("Dockerfile", b"up")],
                Ok(b"up"),
            ),
            case(
                "explicit default",
                df,
                vec![Reg("Dockerfile", b"up")],
                Ok(b"up"),
            ),
            case("empty file", None, vec![Reg("Dockerfile", b"")], Ok(b"")),
            case(
                // The only way an entry can remove a node its own parents' walk went
                // through: a symlink that goes down and back up. The next entry with the
                // same parents must walk again, not reuse the old answer.
                "a directory a symlink passes through is replaced by a file",
                None,
                vec![
                    Dir("x"),
                    Sym("l", "x/.."),
                    Reg("l/x", b""),
                    Reg("l/Dockerfile", b"stale"),
                ],
                Err("which is a file"),
            ),
            case(
                "lowercase fallback, no param",
                None,
                vec![Reg("dockerfile", b"low")],
                Ok(b"low"),
            ),
            case(
                "lowercase fallback, raw Dockerfile",
                df,
                vec![Reg("dockerfile", b"low")],
                Ok(b"low"),
            ),
            case(
                "no fallback for ./Dockerfile (raw string differs)",
                Some("./Dockerfile"),
                vec![Reg("dockerfile", b"low")],
                Err("cannot locate the Dockerfile \"./Dockerfile\""),
            ),
            case(
                "no fallback for /Dockerfile",
                Some("/Dockerfile"),
                vec![Reg("dockerfile", b"low")],
                Err("cannot locate"),
            ),
            case(
                "no fallback for Dockerfile/",
                Some("Dockerfile/"),
                vec![Reg("dockerfile", b"low")],
                Err("cannot locate"),
            ),
            case(
                "no fallback in a subdirectory",
                sub,
                vec![Reg("sub/dockerfile", b"low")],
                Err("cannot locate"),
            ),
            case(
                "no reverse fallback",
                Some("dockerfile"),
                vec![Reg("Dockerfile", b"up")],
                Err("cannot locate"),
            ),
            case(
                "explicit lowercase",
                Some("dockerfile"),
                vec![Reg("dockerfile", b"low")],
                Ok(b"low"),
            ),
            case(
                "Dockerfile wins over dockerfile",
                None,
                vec![Reg("Dockerfile", b"up"), Reg("dockerfile", b"low")],
                Ok(b"up"),
            ),
            case(
                "neither exists",
                None,
                vec![Reg("README", b"x")],
                Err("neither \"Dockerfile\" nor \"dockerfile\""),
            ),
            case(
                "a directory named Dockerfile blocks the fallback",
                None,
                vec![Dir("Dockerfile"), Reg("dockerfile", b"low")],
                Err("is a directory"),
            ),
            case(
                "a dangling symlink named Dockerfile is refused, not fallen back from",
                None,
                vec![Sym("Dockerfile", "nowhere"), Reg("dockerfile", b"low")],
                Err("symbolic link"),
            ),
            case(
                "-f sub/Dockerfile",
                sub,
                vec![
                    Reg("Dockerfile", b"root"),
                    Dir("sub"),
                    Reg("sub/Dockerfile", b"sub"),
                ],
                Ok(b"sub"),
            ),
            case(
                "-f ./sub/Dockerfile",
                Some("./sub/Dockerfile"),
                vec![Reg("sub/Dockerfile", b"sub")],
                Ok(b"sub"),
            ),
            case(
                "-f /sub/Dockerfile",
                Some("/sub/Dockerfile"),
                vec![Reg("sub/Dockerfile", b"sub")],
                Ok(b"sub"),
            ),
            case(
                "-f sub//Dockerfile",
                Some("sub//Dockerfile"),
                vec![Reg("sub/Dockerfile", b"sub")],
                Ok(b"sub"),
            ),
            case(
                "-f x/../sub/Dockerfile",
                Some("x/../sub/./Dockerfile"),
                vec![Reg("sub/Dockerfile", b"sub")],
                Ok(b"sub"),
            ),
            case(
                "-f other name",
                Some("ci/build.df"),
                vec![Reg("ci/build.df", b"ci"), Reg("Dockerfile", b"no")],
                Ok(b"ci"),
            ),
            case(
                "missing -f path",
                sub,
                vec![Reg("Dockerfile", b"root")],
                Err("relative to the build context root"),
            ),
            case(
                "./-prefixed entry",
                None,
                vec![Reg("./Dockerfile", b"dot")],
                Ok(b"dot"),
            ),
            case(
                "/-prefixed entry",
                None,
                vec![Reg("/Dockerfile", b"abs")],
                Ok(b"abs"),
            ),
            case(
                "entry with .. inside",
                None,
                vec![Reg("./x//../Dockerfile", b"x")],
                Ok(b"x"),
            ),
            case(
                "entry with trailing slash",
                sub,
                vec![Dir("sub/"), Reg("sub/Dockerfile", b"s")],
                Ok(b"s"),
            ),
            case(
                "duplicates: last wins",
                None,
                vec![
                    Reg("Dockerfile", b"one"),
                    Reg("./Dockerfile", b"two"),
                    Reg("/Dockerfile", b"three"),
                ],
                Ok(b"three"),
            ),
            case(
                "Dockerfile replaced by a directory",
                None,
                vec![
                    Reg("Dockerfile", b"one"),
                    Dir("Dockerfile"),
                    Reg("Dockerfile/x", b""),
                ],
                Err("is a directory"),
            ),
            case(
                "directory replaced by a file again",
                None,
                vec![
                    Dir("Dockerfile"),
                    Reg("Dockerfile/Dockerfile", b"in"),
                    Reg("Dockerfile", b"again"),
                ],
                Ok(b"again"),
            ),
            case(
                "directory replaced by a file: what was below is gone",
                sub,
                vec![Reg("sub/Dockerfile", b"s"), Reg("sub", b"")],
                Err("goes through a file"),
            ),
            case(
                "directory replaced by a symlink: what was below is gone",
                sub,
                vec![
                    Reg("sub/Dockerfile", b"s"),
                    Dir("other"),
                    Sym("sub", "other"),
                ],
                Err("cannot locate"),
            ),
            case(
                "directory replaced by a symlink reads through it",
                sub,
                vec![
                    Reg("sub/Dockerfile", b"s"),
                    Reg("other/Dockerfile", b"o"),
                    Sym("sub", "other"),
                ],
                Ok(b"o"),
            ),
            case(
                "symlink replaced by a directory",
                Some("link/Dockerfile"),
                vec![
                    Reg("real/Dockerfile", b"r"),
                    Sym("link", "real"),
                    Dir("link"),
                ],
                Err("cannot locate"),
            ),
            case(
                "directory merged into directory keeps its contents",
                sub,
                vec![Reg("sub/Dockerfile", b"s"), Dir("sub"), Dir("./sub/")],
                Ok(b"s"),
            ),
            case(
                "-f link/Dockerfile through a symlinked dir",
                Some("link/Dockerfile"),
                vec![Reg("real/Dockerfile", b"r"), Sym("link", "real")],
                Ok(b"r"),
            ),
            case(
                "absolute symlink resolves inside the context",
                Some("link/Dockerfile"),
                vec![Reg("real/Dockerfile", b"r"), Sym("link", "/real")],
                Ok(b"r"),
            ),
            case(
                "symlink chain",
                Some("l2/Dockerfile"),
                vec![
                    Reg("d/Dockerfile", b"c"),
                    Sym("l1", "d"),
                    Sym("l2", "./l1/"),
                ],
                Ok(b"c"),
            ),
            case(
                "symlink with .. inside the context",
                Some("a/up/Dockerfile"),
                vec![Dir("a"), Reg("b/Dockerfile", b"b"), Sym("a/up", "../b")],
                Ok(b"b"),
            ),
            case(
                ".. after a missing component (FollowSymlinkInScope pops lexically)",
                Some("s/Dockerfile"),
                vec![Reg("real/Dockerfile", b"r"), Sym("s", "missing/../real")],
                Ok(b"r"),
            ),
            case(
                "file written through a symlinked dir, read by its real path",
                Some("real/Dockerfile"),
                vec![
                    Dir("real"),
                    Sym("link", "real"),
                    Reg("link/Dockerfile", b"via"),
                ],
                Ok(b"via"),
            ),
            case(
                "file written through a symlink to the root",
                None,
                vec![Sym("here", "."), Reg("here/Dockerfile", b"via")],
                Ok(b"via"),
            ),
            case(
                "implied directories are created at the symlink's target",
                Some("real/new/Dockerfile"),
                vec![
                    Dir("real"),
                    Sym("link", "real"),
                    Reg("link/new/Dockerfile", b"n"),
                ],
                Ok(b"n"),
            ),
            case(
                "implied parent directories",
                Some("a/b/Dockerfile"),
                vec![Reg("a/b/Dockerfile", b"ab")],
                Ok(b"ab"),
            ),
            case(
                "hard link as Dockerfile is refused",
                None,
                vec![Reg("orig", b"x"), Hard("Dockerfile", "orig")],
                Err("hard link"),
            ),
            case(
                "hard link to a held candidate is still refused",
                Some("b/Dockerfile"),
                vec![
                    Reg("a/Dockerfile", b"x"),
                    Dir("b"),
                    Hard("b/Dockerfile", "a/Dockerfile"),
                ],
                Err("hard link"),
            ),
            case(
                "hard link then a regular file: last wins",
                None,
                vec![
                    Reg("orig", b"x"),
                    Hard("Dockerfile", "orig"),
                    Reg("Dockerfile", b"reg"),
                ],
                Ok(b"reg"),
            ),
            case(
                "replacing a hard link's target keeps the Dockerfile",
                None,
                vec![
                    Reg("Dockerfile", b"df"),
                    Hard("copy", "Dockerfile"),
                    Reg("copy", b"other"),
                ],
                Ok(b"df"),
            ),
            case(
                "hard link to nothing",
                None,
                vec![Hard("Dockerfile", "nothing")],
                Err("does not exist"),
            ),
            case(
                "hard link to a directory",
                None,
                vec![Dir("d"), Hard("x", "d")],
                Err("directory"),
            ),
            case(
                "hard link to itself",
                None,
                vec![Reg("x", b""), Hard("x", "x")],
                Err("does not exist"),
            ),
            case(
                "hard link into the tree it replaces (removed before linking)",
                None,
                vec![
                    Reg("a/b/Dockerfile", b""),
                    Hard("a", "a/b/Dockerfile"),
                    Reg("Dockerfile", b""),
                ],
                Err("does not exist"),
            ),
            case(
                "writing through a symlink with ..",
                Some("b/Dockerfile"),
                vec![
                    Dir("a/c"),
                    Dir("b"),
                    Sym("a/c/up", "../../b"),
                    Reg("a/c/up/Dockerfile", b"w"),
                ],
                Ok(b"w"),
            ),
            case(
                "hard link to a symlink is that symlink",
                Some("h/Dockerfile"),
                vec![Reg("d/Dockerfile", b"x"), Sym("s", "d"), Hard("h", "s")],
                Ok(b"x"),
            ),
            case(
                "symlink as Dockerfile is refused",
                None,
                vec![Reg("real", b"x"), Sym("Dockerfile", "real")],
                Err("symbolic link"),
            ),
            case(
                "symlink as -f target is refused",
                sub,
                vec![Reg("real", b"x"), Sym("sub/Dockerfile", "../real")],
                Err("symbolic link"),
            ),
            case(
                "candidate too large",
                None,
                vec![Reg("Dockerfile", b"123456789")],
                Err("--max-dockerfile-size"),
            ),
            case(
                "too-large candidate that is not the Dockerfile",
                None,
                vec![Reg("x/Dockerfile", b"123456789"), Reg("Dockerfile", b"ok")],
                Ok(b"ok"),
            ),
            case(
                "too large then replaced by a small one",
                None,
                vec![Reg("Dockerfile", b"123456789"), Reg("Dockerfile", b"ok")],
                Ok(b"ok"),
            ),
            case(
                "total held exceeded",
                None,
                vec![
                    Reg("a/Dockerfile", b"12345678"),
                    Reg("b/Dockerfile", b"12345678"),
                    Reg("c/Dockerfile", b"1"),
                ],
                Err("more than 16 bytes"),
            ),
            case(
                "replaced candidates free their budget",
                None,
                vec![
                    Reg("Dockerfile", b"12345678"),
                    Reg("Dockerfile", b"12345678"),
                    Reg("Dockerfile", b"12345678"),
                    Dir("d"),
                    Reg("d/Dockerfile", b"12345678"),
                    Reg("d", b""),
                    Reg("e/Dockerfile", b"12345678"),
                ],
                Ok(b"12345678"),
            ),
            case(
                "breakout: ../x",
                None,
                vec![Reg("../Dockerfile", b"x")],
                Err("outside the build context"),
            ),
            case(
                "breakout: a/../../x",
                None,
                vec![Reg("a/../../Dockerfile", b"x")],
                Err("outside"),
            ),
            case(
                "breakout: /../x",
                None,
                vec![Reg("/../Dockerfile", b"x")],
                Err("outside"),
            ),
            case(
                "breakout: directory ..",
                None,
                vec![Dir("..")],
                Err("outside"),
            ),
            case(
                "breakout: symlink ..",
                None,
                vec![Sym("s", "..")],
                Err("outside"),
            ),
            case(
                "breakout: symlink ../../x",
                None,
                vec![Sym("a/s", "../../x")],
                Err("outside"),
            ),
            case(
                "breakout: absolute symlink /..",
                None,
                vec![Sym("s", "/../x")],
                Err("outside"),
            ),
            case(
                "breakout: absolute symlink walking up at resolution",
                Some("a/s/Dockerfile"),
                vec![Dir("a"), Sym("a/s", "/../x")],
                Err("above the build context root"),
            ),
            case(
                "breakout: writing through a symlink that walks up",
                None,
                vec![Dir("a"), Sym("a/s", "/../x"), Reg("a/s/Dockerfile", b"x")],
                Err("above the build context root"),
            ),
            case(
                "breakout: hard link ../x",
                None,
                vec![Hard("x", "../x")],
                Err("outside"),
            ),
            case(
                "breakout: -f ../Dockerfile",
                Some("../Dockerfile"),
                vec![],
                Err("outside the build context"),
            ),
            case(
                "breakout: -f /../Dockerfile",
                Some("/../Dockerfile"),
                vec![],
                Err("outside"),
            ),
            case(
                "breakout: -f a/../../Dockerfile",
                Some("a/../../Dockerfile"),
                vec![],
                Err("outside"),
            ),
            case("-f .", Some("."), vec![], Err("context root")),
            case("-f /", Some("/"), vec![], Err("context root")),
            case(
                "file named .",
                None,
                vec![Reg(".", b"x")],
                Err("context root"),
            ),
            case(
                "symlink named /",
                None,
                vec![Sym("/", "x")],
                Err("context root"),
            ),
            case(
                "hard link named ./",
                None,
                vec![Reg("x", b""), Hard("./", "x")],
                Err("context root"),
            ),
            case(
                "directories . and / are fine",
                None,
                vec![Dir("."), Dir("/"), Dir("./"), Reg("Dockerfile", b"ok")],
                Ok(b"ok"),
            ),
            case(
                "symlink with an empty target",
                None,
                vec![Sym("s", "")],
                Err("empty target"),
            ),
            case(
                "symlink loop at resolution",
                Some("a/Dockerfile"),
                vec![Sym("a", "b"), Sym("b", "a")],
                Err("too many levels"),
            ),
            case(
                "symlink loop when writing",
                None,
                vec![Sym("a", "b"), Sym("b", "a"), Reg("a/x", b"")],
                Err("too many levels"),
            ),
            case(
                "writing through a file",
                None,
                vec![Reg("f", b""), Reg("f/Dockerfile", b"x")],
                Err("not a directory"),
            ),
            case(
                "writing through a dangling symlink",
                None,
                vec![Sym("s", "missing"), Reg("s/Dockerfile", b"x")],
                Err("dangling symlink"),
            ),
            case(
                "writing below a dangling symlink's missing directory",
                None,
                vec![Sym("s", "missing/deeper"), Reg("s/x/Dockerfile", b"x")],
                Err("dangling symlink"),
            ),
            case(
                "-f through a file",
                Some("f/Dockerfile"),
                vec![Reg("f", b""), Reg("Dockerfile", b"x")],
                Err("goes through a file"),
            ),
            case(
                "-f names a directory",
                Some("d"),
                vec![Dir("d")],
                Err("is a directory"),
            ),
        ]
    }

    #[test]
    fn context_table() {
        for c in cases() {
            let entries: Vec<(Entry, Vec<u8>)> = c
                .entries
                .iter()
                .map(|e| {
                    let (entry, data) = to_entry(e);
                    (entry, data.to_vec())
                })
                .collect();
            // Whole chunks and 1-byte chunks must give the same answer.
            for chunk in [usize::MAX, 1, 3] {
                let got = run(c.param, c.limits, &entries, chunk);
                match (&got, c.want) {
                    (Ok(bytes), Ok(want)) => assert_eq!(bytes, want, "{}", c.what),
                    (Err(err), Err(want)) => assert!(
                        err.to_string().contains(want),
                        "{}: error {:?} does not contain {:?}",
                        c.what,
                        err.to_string(),
                        want
                    ),
                    _ => panic!("{} (chunk {chunk}): got {got:?}, want {:?}", c.what, c.want),
                }
            }
        }
    }

    #[test]
    fn context_max_entries() {
        let limits = Limits {
            max_entries: 3,
            ..small()
        };
        let three = [Dir("a"), Dir("b"), Reg("Dockerfile", b"x")];
        let ok: Vec<_> = three
            .iter()
            .map(|e| (to_entry(e).0, to_entry(e).1.to_vec()))
            .collect();
        assert_eq!(run(None, limits, &ok, 1).unwrap(), b"x");
        // Implied parents count too, and replacing frees.
        let deep = [(
            entry(Kind::Regular, b"a/b/c/Dockerfile", b"", 0),
            Vec::new(),
        )];
        let err = run(None, limits, &deep, 1).unwrap_err();
        assert!(err.to_string().contains("more than 3"), "{err}");
        let mut churn: Vec<_> = (0..100)
            .map(|i| {
                let kind = if i % 2 == 0 {
                    Kind::Directory
                } else {
                    Kind::Regular
                };
                (entry(kind, b"x/Dockerfile", b"", 0), Vec::new())
            })
            .collect();
        churn.push((entry(Kind::Regular, b"Dockerfile", b"", 1), b"y".to_vec()));
        assert_eq!(run(None, limits, &churn, 1).unwrap(), b"y");
    }

    #[test]
    fn context_api_misuse_is_an_error_not_a_panic() {
        let reg = entry(Kind::Regular, b"Dockerfile", b"", 4);
        // Data nobody asked for.
        let mut w = Walk::new(None, small()).unwrap();
        assert!(w.data(b"x").is_err());
        assert!(w.entry(&reg).is_err(), "a failed walk stays failed");
        // Next entry before the data.
        let mut w = Walk::new(None, small()).unwrap();
        assert!(w.entry(&reg).unwrap());
        w.data(b"ab").unwrap();
        assert!(w.entry(&reg).is_err());
        // Finish before the data.
        let mut w = Walk::new(None, small()).unwrap();
        assert!(w.entry(&reg).unwrap());
        assert!(w.finish().is_err());
        // More data than the size.
        let mut w = Walk::new(None, small()).unwrap();
        assert!(w.entry(&reg).unwrap());
        assert!(w.data(b"abcde").is_err());
        // Empty chunks are harmless.
        let mut w = Walk::new(None, small()).unwrap();
        assert!(w.entry(&reg).unwrap());
        for piece in [&b""[..], b"ab", b"", b"cd"] {
            w.data(piece).unwrap();
        }
        w.data(b"").unwrap();
        assert_eq!(w.finish().unwrap(), b"abcd");
    }

    #[test]
    fn context_odd_names_do_not_panic() {
        let long = vec![b'a'; MAX_PATH + 1];
        let long_component = [b"x/".as_slice(), &[b'b'; 300]].concat();
        let deep = b"d/".repeat(2000);
        let nul_free_binary = vec![0xff, 0xfe, b'/', 0x80];
        for name in [
            &long[..],
            &long_component,
            &deep,
            &nul_free_binary,
            b"",
            b"/",
            b"//..//",
        ] {
            for kind in [
                Kind::Regular,
                Kind::Directory,
                Kind::Symlink,
                Kind::HardLink,
            ] {
                let mut w = Walk::new(None, Limits::default()).unwrap();
                let _ = w.entry(&entry(kind, name, name, 0));
            }
        }
        // A deep tree is built and torn down without recursion.
        let mut w = Walk::new(None, Limits::default()).unwrap();
        let mut name = b"d/".repeat(1500);
        name.extend_from_slice(b"Dockerfile");
        assert!(w.entry(&entry(Kind::Regular, &name, b"", 1)).unwrap());
        w.data(b"x").unwrap();
        w.entry(&entry(Kind::Regular, b"d", b"", 0)).unwrap();
        assert!(w.finish().is_err());
        assert!(Walk::new(Some("a\0b"), Limits::default()).is_err());
        assert!(Walk::new(Some(&"a/".repeat(3000)), Limits::default()).is_err());
    }

    /// A walk holding directory `d` and links `l0 -> <pad>d`, `l1 -> <pad>l0`, ... `l{n-1}`.
    fn link_chain(n: usize, pad: &[u8]) -> Walk {
        let mut w = Walk::new(None, Limits::default()).unwrap();
        w.entry(&entry(Kind::Directory, b"d", b"", 0)).unwrap();
        let mut prev = b"d".to_vec();
        for i in 0..n {
            let name = format!("l{i}").into_bytes();
            w.entry(&entry(Kind::Symlink, &name, &[pad, &prev].concat(), 0))
                .unwrap();
            prev = name;
        }
        w
    }

    #[test]
    fn context_walk_links_and_steps_are_capped() {
        // 40 links is what the kernel follows; 41 it refuses.
        let mut w = link_chain(40, b"");
        w.entry(&entry(Kind::Regular, b"l39/f", b"", 0)).unwrap();
        let mut w = link_chain(41, b"");
        let err = w
            .entry(&entry(Kind::Regular, b"l40/f", b"", 0))
            .unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
        // 40 links of 181 components each would be 7000+ lookups for every entry
        // written through the last one.
        let mut w = link_chain(40, &b"d/../".repeat(60));
        let err = w
            .entry(&entry(Kind::Regular, b"l39/f", b"", 0))
            .unwrap_err();
        assert!(err.to_string().contains("steps"), "{err}");
    }

    #[test]
    fn context_error_messages_are_plain() {
        let err = run(Some("sub/Dockerfile"), small(), &[], 1).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.starts_with("buildgate"), "{msg}");
        assert!(
            msg.contains("sub/Dockerfile") && msg.contains("dockerfile=") && msg.contains("-f"),
            "{msg}"
        );
        let e: &dyn std::error::Error = &err;
        assert_eq!(e.to_string(), err.message());
    }

    /// A deliberately naive replay of the daemon's extraction for the property test: a
    /// flat map from full physical paths to what is there, every byte kept, removal by
    /// prefix. Same rules as the module docs, none of the arena, budgets or streaming.
    mod reference {
        use std::collections::{HashMap, VecDeque};

        type Path = Vec<Vec<u8>>;

        #[derive(Clone)]
        enum R {
            Dir,
            File(Vec<u8>, bool),
            Link(Vec<u8>),
        }

        pub enum Op {
            Reg(Vec<u8>, Vec<u8>),
            Dir(Vec<u8>),
            Sym(Vec<u8>, Vec<u8>),
            Hard(Vec<u8>, Vec<u8>),
        }

        /// Readable shrunk cases: names as text.
        impl std::fmt::Debug for Op {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let t = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
                match self {
                    Op::Reg(n, d) => write!(f, "Reg({:?}, {d:?})", t(n)),
                    Op::Dir(n) => write!(f, "Dir({:?})", t(n)),
                    Op::Sym(n, l) => write!(f, "Sym({:?} -> {:?})", t(n), t(l)),
                    Op::Hard(n, l) => write!(f, "Hard({:?} -> {:?})", t(n), t(l)),
                }
            }
        }

        #[derive(Default)]
        pub struct Fs(HashMap<Path, R>);

        /// Go's Clean relative to the root; `None` if `..` would leave it.
        fn lexical(p: &[u8]) -> Option<Path> {
            let mut out = Path::new();
            for c in p.split(|&b| b == b'/') {
                if c == b".." {
                    out.pop()?;
                } else if !c.is_empty() && c != b"." {
                    out.push(c.to_vec());
                }
            }
            Some(out)
        }

        fn parts(target: &[u8]) -> Vec<Vec<u8>> {
            target
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        }

        impl Fs {
            fn get(&self, p: &Path) -> Option<R> {
                if p.is_empty() {
                    Some(R::Dir)
                } else {
                    self.0.get(p).cloned()
                }
            }

            fn walk(&mut self, comps: Path, create: bool) -> Option<Path> {
                let mut q: VecDeque<(Vec<u8>, bool)> =
                    comps.into_iter().map(|c| (c, false)).collect();
                let mut cur = Path::new();
                let mut links = 0;
                while let Some((c, from_link)) = q.pop_front() {
                    if c == b".." {
                        cur.pop()?;
                        continue;
                    }
                    if c.is_empty() || c == b"." {
                        continue;
                    }
                    let mut next = cur.clone();
                    next.push(c);
                    match self.get(&next) {
                        None if create && !from_link => {
                            self.0.insert(next.clone(), R::Dir);
                            cur = next;
                        }
                        None | Some(R::File(..)) => return None,
                        Some(R::Dir) => cur = next,
                        Some(R::Link(t)) => {
                            links += 1;
                            if links > 40 {
                                return None;
                            }
                            if t.starts_with(b"/") {
                                cur.clear();
                            }
                            for part in parts(&t).into_iter().rev() {
                                q.push_front((part, true));
                            }
                        }
                    }
                }
                Some(cur)
            }

            pub fn apply(&mut self, op: &Op) -> Option<()> {
                let (name, is_dir) = match op {
                    Op::Reg(n, _) | Op::Sym(n, _) | Op::Hard(n, _) => (n, false),
                    Op::Dir(n) => (n, true),
                };
                let mut comps = lexical(name)?;
                let Some(base) = comps.pop() else {
                    return is_dir.then_some(());
                };
                let mut path = self.walk(comps.clone(), true)?;
                path.push(base);
                match self.get(&path) {
                    Some(R::Dir) if is_dir => return Some(()),
                    Some(_) => self.0.retain(|k, _| !k.starts_with(&path)),
                    None => {}
                }
                let node = match op {
                    Op::Dir(_) => R::Dir,
                    Op::Reg(_, data) => R::File(data.clone(), false),
                    Op::Sym(_, t) => {
                        let mut joined = comps.concat();
                        joined.clear();
                        for c in &comps {
                            joined.extend_from_slice(c);
                            joined.push(b'/');
                        }
                        joined.extend_from_slice(t);
                        if t.is_empty() || lexical(&joined).is_none() {
                            return None;
                        }
                        R::Link(t.clone())
                    }
                    Op::Hard(_, t) => {
                        let mut tcomps = lexical(t)?;
                        let tbase = tcomps.pop()?;
                        let mut tpath = self.walk(tcomps, false)?;
                        tpath.push(tbase);
                        match self.get(&tpath)? {
                            R::Dir => return None,
                            R::File(bytes, _) => R::File(bytes, true),
                            R::Link(l) => R::Link(l),
                        }
                    }
                };
                self.0.insert(path, node);
                Some(())
            }

            /// FollowSymlinkInScope, then open: `Ok(None)` is "does not exist".
            fn follow(&self, comps: Path) -> Result<Option<Path>, ()> {
                let mut q: VecDeque<Vec<u8>> = comps.into_iter().collect();
                let mut b = Path::new();
                let (mut steps, mut links) = (0, 0);
                while let Some(c) = q.pop_front() {
                    steps += 1;
                    if steps > 255 || links > 40 {
                        return Err(());
                    }
                    if c.is_empty() || c == b"." {
                        continue;
                    }
                    if c == b".." {
                        b.pop().ok_or(())?;
                        continue;
                    }
                    match self.get(&b) {
                        Some(R::Dir) => {}
                        None => {
                            b.push(c);
                            continue;
                        }
                        Some(_) => return Err(()),
                    }
                    let mut next = b.clone();
                    next.push(c);
                    if let Some(R::Link(t)) = self.get(&next) {
                        if q.is_empty() {
                            return Err(());
                        }
                        links += 1;
                        if t.starts_with(b"/") {
                            b.clear();
                        }
                        for part in parts(&t).into_iter().rev() {
                            q.push_front(part);
                        }
                    } else {
                        b = next;
                    }
                }
                if b.is_empty() {
                    return Err(());
                }
                Ok(self.0.contains_key(&b).then_some(b))
            }

            fn read(&self, p: &Path, max: usize) -> Result<Vec<u8>, ()> {
                match self.get(p) {
                    Some(R::File(bytes, false)) if bytes.len() <= max => Ok(bytes),
                    _ => Err(()),
                }
            }

            pub fn dockerfile(&self, param: Option<&str>, max: usize) -> Result<Vec<u8>, ()> {
                let raw = param.filter(|p| !p.is_empty()).unwrap_or("Dockerfile");
                let comps = lexical(raw.as_bytes()).ok_or(())?;
                match self.follow(comps)? {
                    Some(p) => self.read(&p, max),
                    None if raw == "Dockerfile" => {
                        match self.follow(vec![b"dockerfile".to_vec()])? {
                            Some(p) => self.read(&p, max),
                            None => Err(()),
                        }
                    }
                    None => Err(()),
                }
            }
        }
    }

    mod property {
        use super::reference::{Fs, Op};
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = Vec<u8>> {
            // Mostly plain names, so that sequences get far enough to matter; `.` and
            // `..` rarely, as they often end a sequence with a breakout error.
            let comp = prop_oneof![
                6 => Just("Dockerfile"),
                4 => Just("dockerfile"),
                6 => Just("a"),
                6 => Just("b"),
                1 => Just("."),
                1 => Just(".."),
            ];
            (
                prop::sample::select(vec!["", "", "", "", "./", "/"]),
                prop_oneof![3 => prop::collection::vec(comp.clone(), 1..=2), 1 => prop::collection::vec(comp, 3..=3)],
            )
                .prop_map(|(lead, comps)| format!("{lead}{}", comps.join("/")).into_bytes())
        }

        fn likely() -> impl Strategy<Value = Vec<u8>> {
            prop::sample::select(vec![
                "Dockerfile",
                "dockerfile",
                "a/Dockerfile",
                "a/b/Dockerfile",
                "b/Dockerfile",
                "b/dockerfile",
            ])
            .prop_map(|n| n.as_bytes().to_vec())
        }

        /// Symlink targets that make the interesting shapes likely: sideways, up, to
        /// the root, absolute, and straight at a Dockerfile.
        fn link_target() -> impl Strategy<Value = Vec<u8>> {
            prop::sample::select(vec![
                "a",
                "b",
                "/a",
                "/b",
                "../a",
                "../b",
                "a/b",
                "/a/b",
                ".",
                "..",
                "/",
                "./b/",
                "Dockerfile",
                "b/Dockerfile",
                "/a/Dockerfile",
                "../Dockerfile",
                "dockerfile",
                "missing/../a",
                "/../a",
            ])
            .prop_map(|n| n.as_bytes().to_vec())
        }

        /// Mostly within `max_dockerfile` (4), sometimes over it.
        fn data() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(any::<u8>(), 0..6)
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (name(), data()).prop_map(|(n, d)| Op::Reg(n, d)),
                // Files at the paths the parameters name, so that many sequences end with
                // a Dockerfile to find.
                2 => (likely(), data()).prop_map(|(n, d)| Op::Reg(n, d)),
                2 => name().prop_map(Op::Dir),
                2 => (name(), link_target()).prop_map(|(n, t)| Op::Sym(n, t)),
                1 => (name(), name()).prop_map(|(n, t)| Op::Sym(n, t)),
                1 => (name(), prop_oneof![name(), likely()]).prop_map(|(n, t)| Op::Hard(n, t)),
            ]
        }

        fn param() -> impl Strategy<Value = Option<&'static str>> {
            prop::sample::select(vec![
                None,
                Some(""),
                Some("Dockerfile"),
                Some("./Dockerfile"),
                Some("dockerfile"),
                Some("a/Dockerfile"),
                Some("a/b/Dockerfile"),
                Some("/b//Dockerfile"),
                Some("a/../Dockerfile"),
                Some("b/dockerfile"),
            ])
        }

        fn to_entry(op: &Op) -> (Entry, Vec<u8>) {
            match op {
                Op::Reg(n, d) => (entry(Kind::Regular, n, b"", d.len() as u64), d.clone()),
                Op::Dir(n) => (entry(Kind::Directory, n, b"", 0), Vec::new()),
                Op::Sym(n, t) => (entry(Kind::Symlink, n, t, 0), Vec::new()),
                Op::Hard(n, t) => (entry(Kind::HardLink, n, t, 0), Vec::new()),
            }
        }

        proptest! {
            // No regression files: this module owns only its source and testdata, so
            // shrunk failures worth keeping go into the table above.
            #![proptest_config(ProptestConfig {
                cases: 10_000,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// The walk and the naive replay agree on the Dockerfile's bytes, or both
            /// refuse.
            #[test]
            fn context_walk_matches_reference(
                (param, ops) in param().prop_flat_map(|param| {
                    // Writes to the very path the parameter names (in its own spelling),
                    // so that the interesting cases are about what happens around it.
                    let own = param
                        .filter(|p| !p.is_empty())
                        .unwrap_or("Dockerfile")
                        .as_bytes()
                        .to_vec();
                    let target = (Just(own), data()).prop_map(|(n, d)| Op::Reg(n, d));
                    let ops = prop::collection::vec(prop_oneof![4 => op(), 1 => target], 0..12);
                    (Just(param), ops)
                }),
                chunk in 1usize..5,
            ) {
                let limits = Limits { max_dockerfile: 4, max_held: usize::MAX, max_entries: usize::MAX };
                let entries: Vec<_> = ops.iter().map(to_entry).collect();
                let got = run(param, limits, &entries, chunk);

                let mut fs = Fs::default();
                let want = ops
                    .iter()
                    .try_for_each(|op| fs.apply(op).ok_or(()))
                    .and_then(|()| fs.dockerfile(param, limits.max_dockerfile));
                match (&got, &want) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                    (Err(_), Err(())) => {}
                    _ => prop_assert!(false, "walk {:?}, reference {:?}", got, want),
                }
            }
        }
    }
}
