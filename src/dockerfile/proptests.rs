//! Property tests for the Dockerfile rewrite, next to the grammar ones in
//! `dockerfile::tests::prop`. These start from the real fixtures in
//! `testdata/dockerfile/` and mutate them (insert, delete, replace, duplicate lines,
//! switch line endings), then check every accepted input with a reader that does not
//! share code with the rewriter:
//!
//! * the output is the input with bytes added only;
//! * rewriting the output is accepted and finds the same number of stages;
//! * on inputs simple enough for the plain reader below (printable ASCII, tabs, LF or
//!   CRLF, default escape or a leading `# escape=\``), it counts as many FROMs as the
//!   rewriter, in the input and in the output; every FROM is followed by the owner
//!   LABEL; every LABEL ends with the owner pair or is followed by the owner LABEL.
//!
//! The same checks run unbounded under libFuzzer: `fuzz/fuzz_targets/dockerfile.rs`.

use proptest::prelude::*;

use super::rewrite;

const KEY: &str = "owner";
const OWNER: &str = "team-a";
const OURS: &str = "LABEL owner=\"team-a\"";
const PAIR: &str = " owner=\"team-a\"";

fn is_subsequence(small: &[u8], big: &[u8]) -> bool {
    let mut it = big.iter();
    small.iter().all(|c| it.any(|b| b == c))
}

/// The escape token, if `src` is simple enough for [`logical_lines`].
fn simple(src: &str) -> Option<char> {
    let b = src.as_bytes();
    let ok = b.iter().enumerate().all(|(i, &c)| match c {
        b'\n' | b'\t' | 0x20..=0x7e => true,
        b'\r' => b.get(i + 1) == Some(&b'\n'),
        _ => false,
    });
    if !ok {
        return None;
    }
    // Without a backtick anywhere the token is `\` whatever the directives say.
    if src.contains('`') {
        let first = src.lines().next().unwrap_or("");
        return (first.trim_end_matches('\r') == "# escape=`").then_some('`');
    }
    Some('\\')
}

/// Logical lines the plain way: comment and blank lines skipped (inside
/// continuations too), a trailing unescaped token plus blanks continues the line,
/// pieces joined with nothing in between.
pub(super) fn logical_lines(src: &str, esc: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for raw in src.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let piece = if cur.is_none() { trimmed } else { raw };
        let body = piece.trim_end_matches([' ', '\t']);
        let cont = body.ends_with(esc) && !body[..body.len() - 1].ends_with(esc);
        let text = if cont { &body[..body.len() - 1] } else { piece };
        let mut line = cur.take().unwrap_or_default();
        line.push_str(text);
        if cont {
            cur = Some(line);
        } else {
            out.push(line);
        }
    }
    out.extend(cur);
    out
}

/// The keyword of a logical line; the parser trims the joined line first.
fn keyword(line: &str) -> String {
    line.trim_start_matches([' ', '\t'])
        .split([' ', '\t'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Every check of the module docs, on one accepted input.
fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let Ok(out) = rewrite(input, KEY, OWNER, &[]) else {
        return Ok(());
    };
    prop_assert!(out.stages >= 1);
    prop_assert!(
        is_subsequence(input, &out.dockerfile),
        "bytes removed or changed"
    );
    let again = rewrite(&out.dockerfile, KEY, OWNER, &[]);
    prop_assert_eq!(again.map(|r| r.stages), Ok(out.stages));

    let text = std::str::from_utf8(input).unwrap();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(esc) = simple(text) else {
        return Ok(());
    };
    let output = std::str::from_utf8(&out.dockerfile).unwrap();
    let output = output.strip_prefix('\u{feff}').unwrap_or(output);
    let (in_lines, out_lines) = (logical_lines(text, esc), logical_lines(output, esc));
    let froms = |ls: &[String]| ls.iter().filter(|l| keyword(l) == "from").count();
    prop_assert_eq!(froms(&in_lines), out.stages, "FROMs in {:?}", text);
    prop_assert_eq!(froms(&out_lines), out.stages, "FROMs in {:?}", output);
    for (i, l) in out_lines.iter().enumerate() {
        let next_is_ours = out_lines.get(i + 1).map(|s| s.trim()) == Some(OURS);
        match keyword(l).as_str() {
            "from" => prop_assert!(next_is_ours, "{:?} in {:?}", l, output),
            "label" => prop_assert!(
                l.trim_end().ends_with(PAIR) || next_is_ours,
                "{:?} in {:?}",
                l,
                output
            ),
            _ => {}
        }
    }
    Ok(())
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dockerfile");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("testdata/dockerfile")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "Dockerfile" || x == "expected")
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    assert!(out.len() > 10);
    out
}

/// One edit to a Dockerfile, at a position given as a fraction of its length.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    DupLine(usize),
    Crlf,
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop::sample::select(vec![
        "FROM x\n",
        "from b AS s\n",
        "LABEL a=b\n",
        "LABEL k v\n",
        "label \"q r\"=1 \\\n",
        "RUN a <b\n",
        "ONBUILD FROM x\n",
        " \\\n",
        "\\\n",
        "  \\\n\n  FROM y\n",
        "# c\n",
        "\n",
        " \t\n",
        "\\",
        "`",
        "\t",
        " ",
        "=",
        "\"",
        "'",
        "$",
        "\r\n",
        "#",
        "<",
        "FROM",
        "LABEL",
        "# escape=`\n",
        "\u{feff}",
        "\u{a0}",
    ]);
    prop_oneof![
        5 => (any::<usize>(), piece).prop_map(|(at, s)| Edit::Insert(at, s)),
        3 => (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => any::<usize>().prop_map(Edit::DupLine),
        1 => Just(Edit::Crlf),
    ]
}

fn apply(src: &mut Vec<u8>, e: &Edit) {
    let pos = |at: usize, len: usize| at % (len + 1);
    match e {
        Edit::Insert(at, s) => {
            let at = pos(*at, src.len());
            src.splice(at..at, s.bytes());
        }
        Edit::Delete(at, n) => {
            let at = pos(*at, src.len());
            let end = (at + n).min(src.len());
            src.drain(at..end);
        }
        Edit::DupLine(at) => {
            let lines: Vec<Vec<u8>> = src
                .split_inclusive(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            if !lines.is_empty() {
                let i = at % lines.len();
                let mut out = lines[..=i].concat();
                out.extend_from_slice(&lines[i]);
                out.extend_from_slice(&lines[i + 1..].concat());
                *src = out;
            }
        }
        Edit::Crlf => {
            let mut out = Vec::new();
            for &b in src.iter() {
                if b == b'\n' && out.last() != Some(&b'\r') {
                    out.push(b'\r');
                }
                out.push(b);
            }
            *src = out;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn dockerfile_prop_mutated_fixtures(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 0..6),
    ) {
        let fixtures = fixtures();
        let mut src = which.get(&fixtures).clone();
        for e in &edits {
            apply(&mut src, e);
        }
        check(&src)?;
    }
}

/// Found while writing the fuzz target (the target's reader was wrong, not the
/// rewriter): an instruction that starts with an empty continuation line takes its
/// keyword from the next non-comment, non-blank line, because the parser trims the
/// joined line. Such a FROM is a stage, and gets the owner LABEL.
#[test]
fn dockerfile_empty_continuation_then_from_is_a_stage() {
    let src = "FROM a\n  \\\n\n  # c\n  From b\nRUN x\n";
    let out = rewrite(src.as_bytes(), KEY, OWNER, &[]).unwrap();
    assert_eq!(out.stages, 2);
    assert_eq!(
        String::from_utf8(out.dockerfile).unwrap(),
        "FROM a\nLABEL owner=\"team-a\"\n  \\\n\n  # c\n  From b\nLABEL owner=\"team-a\"\nRUN x\n"
    );
    check(src.as_bytes()).unwrap();
}
