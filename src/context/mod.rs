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
mod tests;
