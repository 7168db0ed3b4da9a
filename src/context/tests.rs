//! Table tests for [`super`]: every rule of the module doc, with the inputs that probe it.

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
    match kind {
        Kind::Regular => Entry::file(name, size),
        Kind::Directory => Entry::directory(name),
        Kind::Symlink | Kind::HardLink => Entry::link(name, kind, link),
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
            let mut q: VecDeque<(Vec<u8>, bool)> = comps.into_iter().map(|c| (c, false)).collect();
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
                None if raw == "Dockerfile" => match self.follow(vec![b"dockerfile".to_vec()])? {
                    Some(p) => self.read(&p, max),
                    None => Err(()),
                },
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
