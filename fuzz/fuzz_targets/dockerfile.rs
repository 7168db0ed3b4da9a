//! Arbitrary bytes into the Dockerfile rewriter. It never panics; when it accepts:
//! * the output is the input with bytes added only (the input is a subsequence);
//! * the output rewritten again is accepted with the same number of stages
//!   (re-scanning the output finds the same stages; rewriting is idempotent in stage
//!   count);
//! * for inputs simple enough for an independent reader (printable ASCII, tabs, LF or
//!   CRLF endings, default escape or a leading `# escape=\``), that reader finds as
//!   many FROMs as the rewriter reported, in the input and in the output, each FROM
//!   is followed by the owner LABEL, and every LABEL ends with the owner pair or is
//!   followed by the owner LABEL.
#![no_main]

use buildgate::dockerfile::rewrite;
use libfuzzer_sys::fuzz_target;

const KEY: &str = "owner";
const OWNER: &str = "team-a";
const OURS: &str = "LABEL owner=\"team-a\"";
const PAIR: &str = " owner=\"team-a\"";

fn is_subsequence(small: &[u8], big: &[u8]) -> bool {
    let mut it = big.iter();
    small.iter().all(|c| it.any(|b| b == c))
}

/// The escape token, if `src` is simple enough for `logical_lines` to read it the
/// way the daemon does.
fn simple(src: &str) -> Option<char> {
    let mut prev_cr = false;
    for (i, &b) in src.as_bytes().iter().enumerate() {
        let ok = match b {
            b'\n' => true,
            b'\r' => src.as_bytes().get(i + 1) == Some(&b'\n'),
            b'\t' => true,
            0x20..=0x7e => true,
            _ => false,
        };
        if !ok || (prev_cr && b != b'\n') {
            return None;
        }
        prev_cr = b == b'\r';
    }
    // With no backtick anywhere the token is `\` whatever the directives say (the
    // only other valid one is the backtick); with one, only our exact first line.
    if src.contains('`') {
        let first = src.lines().next().unwrap_or("");
        return (first.trim_end_matches('\r') == "# escape=`").then_some('`');
    }
    Some('\\')
}

/// A deliberately plain reader of logical lines (see the module docs of
/// `buildgate::dockerfile` for the rules), independent of the rewriter's scanner.
fn logical_lines(src: &str, esc: char) -> Vec<String> {
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

/// The parser trims the joined logical line (`strings.TrimSpace`) before splitting off
/// the keyword, so a line continued from an empty start (`  \` then `  FROM x`) is a
/// FROM even though the reader above keeps the continuation's leading blanks.
fn keyword(line: &str) -> String {
    line.trim_start_matches([' ', '\t'])
        .split([' ', '\t'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fuzz_target!(|data: &[u8]| {
    let Ok(out) = rewrite(data, KEY, OWNER, &[]) else {
        return;
    };
    assert!(out.stages >= 1);
    assert!(
        is_subsequence(data, &out.dockerfile),
        "the rewrite removed or changed bytes"
    );
    let again = rewrite(&out.dockerfile, KEY, OWNER, &[]).expect("our own output is accepted");
    assert_eq!(
        again.stages, out.stages,
        "stage count changed on a second rewrite"
    );

    let input = std::str::from_utf8(data).expect("accepted input is UTF-8");
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let Some(esc) = simple(input) else {
        return;
    };
    let output = std::str::from_utf8(&out.dockerfile).unwrap();
    let output = output.strip_prefix('\u{feff}').unwrap_or(output);
    let in_lines = logical_lines(input, esc);
    let out_lines = logical_lines(output, esc);
    let froms = |ls: &[String]| ls.iter().filter(|l| keyword(l) == "from").count();
    assert_eq!(froms(&in_lines), out.stages, "FROMs in the input");
    assert_eq!(froms(&out_lines), out.stages, "FROMs in the output");
    for (i, l) in out_lines.iter().enumerate() {
        let next_is_ours = out_lines.get(i + 1).map(|s| s.trim()) == Some(OURS);
        match keyword(l).as_str() {
            "from" => assert!(next_is_ours, "stage without the owner LABEL: {l:?}"),
            "label" => assert!(
                l.trim_end().ends_with(PAIR) || next_is_ours,
                "LABEL without the owner pair: {l:?}"
            ),
            _ => {}
        }
    }
});
