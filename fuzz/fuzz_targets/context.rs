//! Random entry sequences into `context::Walk`, decoded from the input over a small
//! alphabet of path components (`.`, `..`, empty, `Dockerfile`, ...) so that links,
//! overwrites and directory replacement collide often. The walk never panics, and a
//! Dockerfile it returns is within the limit and is the data of one of the regular
//! files it was given.
#![no_main]

use buildgate::context::{Limits, Walk};
use buildgate::tar::{Entry, Kind};
use libfuzzer_sys::fuzz_target;

const PARAMS: &[Option<&str>] = &[
    None,
    Some("Dockerfile"),
    Some("dockerfile"),
    Some("d/Dockerfile"),
    Some("./d/../Dockerfile"),
    Some("/l/Dockerfile"),
    Some("a/b"),
    Some("../Dockerfile"),
];
const COMPS: &[&str] = &[
    "a",
    "b",
    "d",
    "l",
    "Dockerfile",
    "dockerfile",
    "..",
    ".",
    "",
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn path(&mut self) -> Option<Vec<u8>> {
        let shape = self.byte()?;
        let mut p = Vec::new();
        if shape & 1 != 0 {
            p.push(b'/');
        }
        for i in 0..1 + (shape >> 1) % 4 {
            if i > 0 {
                p.push(b'/');
            }
            p.extend_from_slice(COMPS[usize::from(self.byte()?) % COMPS.len()].as_bytes());
        }
        if shape & 0x20 != 0 {
            p.push(b'/');
        }
        Some(p)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(setup) = input.byte() else {
        return;
    };
    let limits = if setup & 0x80 != 0 {
        Limits {
            max_dockerfile: 16,
            max_held: 40,
            max_entries: 12,
        }
    } else {
        Limits::default()
    };
    let Ok(mut walk) = Walk::new(PARAMS[usize::from(setup) % PARAMS.len()], limits) else {
        return;
    };
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    while let Some(k) = input.byte() {
        let kind = [
            Kind::Regular,
            Kind::Directory,
            Kind::Symlink,
            Kind::HardLink,
        ][usize::from(k) % 4];
        let Some(name) = input.path().filter(|n| !n.is_empty()) else {
            break;
        };
        let linkname = match kind {
            Kind::Symlink | Kind::HardLink => match input.path() {
                Some(l) if !l.is_empty() => l,
                _ => break,
            },
            _ => Vec::new(),
        };
        let body: Vec<u8> = if kind == Kind::Regular {
            let n = usize::from(input.byte().unwrap_or(0) % 24);
            (0..n).map(|_| input.byte().unwrap_or(b'x')).collect()
        } else {
            Vec::new()
        };
        let entry = Entry {
            kind,
            mode: if k & 0x10 != 0 { 0o755 } else { 0o644 },
            size: body.len() as u64,
            linkname,
            ..Entry::file(name, 0)
        };
        match walk.entry(&entry) {
            Err(_) => return,
            Ok(false) => {}
            Ok(true) => {
                assert_eq!(entry.kind, Kind::Regular, "data asked for a non-file");
                let step = usize::from(k >> 5) + 1;
                for chunk in body.chunks(step) {
                    if walk.data(chunk).is_err() {
                        return;
                    }
                }
                if body.is_empty() && walk.data(&[]).is_err() {
                    return;
                }
            }
        }
        bodies.push(body);
    }
    if let Ok(df) = walk.finish() {
        assert!(df.len() <= limits.max_dockerfile);
        assert!(
            bodies.contains(&df),
            "the Dockerfile is not any file's data"
        );
    }
});
