//! Arbitrary Dockerfiles and build arguments into the base-image evaluation
//! (`dockerfile::from`) and the pinned rewrite of every FROM. It never panics; stage
//! references only point backwards; and whenever the evaluation accepts, pinning every
//! image base to an ID (keeping `--platform` and `AS`) and every stage reference to the
//! stage's name gives a Dockerfile the rewriter accepts, whose re-parse shows exactly
//! the pinned FROMs, each followed by the owner LABEL (for Dockerfiles the rewriter
//! accepts unpinned); and every `COPY --from=<image>` pinned to an ID is written on one
//! line that reads back with that `--from` and the same rest.
#![no_main]

use std::collections::BTreeMap;

use buildgate::dockerfile::{self, FromRewrite, from};
use libfuzzer_sys::fuzz_target;

const PINNED: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    // First line: build arguments as `K=V` pairs separated by `;` (`K` alone: null).
    let (args_line, dockerfile) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b""[..], data),
    };
    let mut build_args = BTreeMap::new();
    for pair in String::from_utf8_lossy(args_line).split(';') {
        if pair.is_empty() {
            continue;
        }
        match pair.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), Some(v.to_string())),
            None => build_args.insert(pair.to_string(), None),
        };
    }
    let Ok(parsed) = dockerfile::parse(dockerfile) else {
        return;
    };
    // Pinning must never be why a rewrite fails.
    if dockerfile::rewrite(dockerfile, "owner", "team-a", &[]).is_err() {
        return;
    }
    let instructions = parsed.instructions.iter().map(|i| from::Instruction {
        keyword: &i.keyword,
        args: &i.args,
        line: i.line,
    });
    let request = from::Request {
        escape: parsed.escape,
        build_args: &build_args,
        platform: None,
        target: None,
    };
    let Ok(stages) = from::evaluate(instructions, &request) else {
        return;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
    };
    let mut froms = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let Some(base) = &stage.base else {
            froms.push(FromRewrite::Keep);
            continue;
        };
        let written = match base.kind {
            from::BaseKind::Stage(s) => {
                assert!(s < i, "stage {i} refers forward to {s}");
                stages[s].name.clone().expect("a referenced stage has a name")
            }
            from::BaseKind::Scratch => "scratch".to_string(),
            from::BaseKind::Image => PINNED.to_string(),
        };
        let mut args = String::new();
        if let Some(p) = &base.platform {
            if !plain(p) {
                return;
            }
            args.push_str(&format!("--platform={p} "));
        }
        args.push_str(&written);
        if let Some(name) = &stage.name {
            args.push_str(&format!(" AS {name}"));
        }
        froms.push(FromRewrite::Replace(args));
    }
    let out = dockerfile::rewrite(dockerfile, "owner", "team-a", &froms)
        .expect("a Dockerfile whose FROMs evaluate is rewritten with them pinned");
    let again = dockerfile::parse(&out.dockerfile).expect("our own output parses");
    let pinned: Vec<&str> = again
        .instructions
        .iter()
        .filter(|i| i.keyword == "from")
        .map(|i| i.args.as_str())
        .collect();
    assert_eq!(pinned.len(), froms.len());
    for (got, want) in pinned.iter().zip(&froms) {
        if let FromRewrite::Replace(args) = want {
            assert_eq!(got, args);
        }
    }
    for (n, ins) in again.instructions.iter().enumerate() {
        if ins.keyword == "from" {
            let next = &again.instructions[n + 1];
            assert_eq!((next.keyword.as_str(), next.args.as_str()), ("label", "owner=\"team-a\""));
        }
    }

    // `COPY --from=<image>` pinned the way `--confine` pins it: every COPY the pinning
    // accepts is written on one line that the rewriter accepts and that reads back with
    // exactly the pinned `--from` and the same rest.
    let instructions = parsed.instructions.iter().map(|i| from::Instruction {
        keyword: &i.keyword,
        args: &i.args,
        line: i.line,
    });
    let Ok(sources) = from::copy_sources(instructions, parsed.escape, &stages) else {
        return;
    };
    let mut copies = BTreeMap::new();
    for source in &sources {
        if let Ok(args) = from::pin_copy(source, PINNED, parsed.escape) {
            copies.insert(source.line, args);
        }
    }
    if copies.is_empty() {
        return;
    }
    let out = match dockerfile::rewrite_pinned(dockerfile, "owner", "team-a", &froms, &copies) {
        Ok(out) => out,
        Err(e) if e.to_string().contains("too long") => return,
        Err(e) => panic!("a pinned COPY was refused: {e}"),
    };
    let again = dockerfile::parse(&out.dockerfile).expect("our own output parses");
    let written: Vec<&str> = again
        .instructions
        .iter()
        .filter(|i| i.keyword == "copy" && i.args.starts_with("--") && i.args.contains(PINNED))
        .map(|i| i.args.as_str())
        .collect();
    for args in copies.values() {
        assert!(written.contains(&args.as_str()), "{args:?} not in the output");
        let (_, flags) = from::copy_flags(args, again.escape).expect("a pinned COPY reads");
        let pinned: Vec<_> = flags.iter().filter(|(n, _)| n == "--from").collect();
        assert_eq!(pinned.len(), 1);
        assert_eq!(pinned[0].1.as_deref(), Some(PINNED));
    }
});
