//! Table tests for [`super`]: every rule of the module doc, with the inputs that probe it.

use super::*;
use std::path::{Path, PathBuf};

const KEY: &str = "owner";
const OWNER: &str = "team-a";
const OURS: &str = "LABEL owner=\"team-a\"";

fn rw(src: &str) -> Result<Rewrite, RewriteError> {
    rewrite(src.as_bytes(), KEY, OWNER, &[])
}

fn ok(src: &str) -> String {
    match rw(src) {
        Ok(r) => String::from_utf8(r.dockerfile).unwrap(),
        Err(e) => panic!("refused {src:?}: {e}"),
    }
}

fn err(src: &[u8]) -> String {
    match rewrite(src, KEY, OWNER, &[]) {
        Ok(r) => panic!(
            "accepted {:?} as {:?}",
            String::from_utf8_lossy(src),
            String::from_utf8_lossy(&r.dockerfile)
        ),
        Err(e) => e.to_string(),
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dockerfile")
}

/// Every `NAME.Dockerfile` has either `NAME.expected` (the exact rewrite) or
/// `NAME.error` (a substring of the refusal message).
#[test]
fn dockerfile_testdata_table() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    names.sort();
    assert!(names.len() >= 15, "testdata missing");
    for path in names {
        let src = std::fs::read(&path).unwrap();
        let expected = path.with_extension("expected");
        let error = path.with_extension("error");
        let got = rewrite(&src, KEY, OWNER, &[]);
        if expected.exists() {
            let want = std::fs::read_to_string(&expected).unwrap();
            let got = got.unwrap_or_else(|e| panic!("{}: refused: {e}", path.display()));
            assert_eq!(
                String::from_utf8(got.dockerfile).unwrap(),
                want,
                "{}",
                path.display()
            );
            assert_eq!(got.stages, want.matches(OURS).count().min(got.stages));
        } else if error.exists() {
            let want = std::fs::read_to_string(&error).unwrap();
            let e = got
                .err()
                .unwrap_or_else(|| panic!("{}: accepted", path.display()));
            assert!(
                e.to_string().contains(want.trim()),
                "{}: error {e:?} does not contain {want:?}",
                path.display()
            );
        } else {
            panic!("{}: no .expected or .error", path.display());
        }
    }
}

#[test]
fn dockerfile_stage_counts() {
    let cases: &[(&str, usize)] = &[
        ("testdata:single", 1),
        ("testdata:multistage_lowercase", 2),
        ("testdata:from_platform", 2),
        ("testdata:escape_backtick", 1),
        ("FROM a\nFROM b\nfrom c\n  fRoM d\n", 4),
    ];
    for (src, n) in cases {
        let src = match src.strip_prefix("testdata:") {
            Some(name) => {
                std::fs::read_to_string(testdata().join(format!("{name}.Dockerfile"))).unwrap()
            }
            None => src.to_string(),
        };
        assert_eq!(rw(&src).unwrap().stages, *n, "{src}");
    }
}

#[test]
fn dockerfile_inline_accepted() {
    let cases: &[(&str, &str)] = &[
        // CRLF and BOM: inserted lines use the line's own ending, BOM kept.
        (
            "\u{feff}FROM alpine\r\nLABEL a=b\r\nRUN x\r\n",
            "\u{feff}FROM alpine\r\nLABEL owner=\"team-a\"\r\nLABEL a=b owner=\"team-a\"\r\nRUN x\r\n",
        ),
        // BOM before a directive still lets the directive count.
        (
            "\u{feff}# escape=`\nFROM a `\n  AS b\n",
            "\u{feff}# escape=`\nFROM a `\n  AS b\nLABEL owner=\"team-a\"\n",
        ),
        // Last line without a newline, FROM and LABEL.
        ("FROM alpine", "FROM alpine\nLABEL owner=\"team-a\""),
        (
            "FROM alpine\r\nLABEL a=b",
            "FROM alpine\r\nLABEL owner=\"team-a\"\r\nLABEL a=b owner=\"team-a\"",
        ),
        // Mixed endings: each insert follows the line it comes after.
        (
            "FROM a\r\nFROM b\n",
            "FROM a\r\nLABEL owner=\"team-a\"\r\nFROM b\nLABEL owner=\"team-a\"\n",
        ),
        // Keyword with leading whitespace and tabs between words.
        (
            "\t FROM\talpine\n",
            "\t FROM\talpine\nLABEL owner=\"team-a\"\n",
        ),
        // Continuation with trailing blanks after the escape token.
        (
            "FROM alpine \\ \t\n  AS x\nLABEL a=b \\  \n c=d\n",
            "FROM alpine \\ \t\n  AS x\nLABEL owner=\"team-a\"\nLABEL a=b \\  \n c=d owner=\"team-a\"\n",
        ),
        // `\\` at the end is an escaped escape: not a continuation.
        (
            "FROM alpine\nLABEL a=b\\\\\nRUN x\n",
            "FROM alpine\nLABEL owner=\"team-a\"\nLABEL a=b\\\\ owner=\"team-a\"\nRUN x\n",
        ),
        // An unknown directive ends the directive block, so a later
        // `# escape=` is a comment and the backslash stays the escape.
        (
            "# foo=bar\n# escape=`\nFROM a \\\n  AS b\n",
            "# foo=bar\n# escape=`\nFROM a \\\n  AS b\nLABEL owner=\"team-a\"\n",
        ),
        // `check` last is fine for every version.
        (
            "# escape=`\n# check=skip=all\nFROM a\n",
            "# escape=`\n# check=skip=all\nFROM a\nLABEL owner=\"team-a\"\n",
        ),
        // Legacy LABEL with a plain key: new line after it.
        (
            "FROM a\nLABEL maintainer someone <a@b>\n",
            "FROM a\nLABEL owner=\"team-a\"\nLABEL maintainer someone <a@b>\nLABEL owner=\"team-a\"\n",
        ),
        // A trigger LABEL gets the pair too: it runs before our LABEL
        // in whatever stage uses this image.
        (
            "FROM a\nONBUILD LABEL owner=evil\nonbuild run echo hi\n",
            "FROM a\nLABEL owner=\"team-a\"\nONBUILD LABEL owner=evil owner=\"team-a\"\nonbuild run echo hi\n",
        ),
        (
            "FROM a\nONBUILD label a=b \\\n  c=d\n",
            "FROM a\nLABEL owner=\"team-a\"\nONBUILD label a=b \\\n  c=d owner=\"team-a\"\n",
        ),
        // Legacy trigger LABEL with a literal key other than ours: untouched.
        (
            "FROM a\nONBUILD LABEL maintainer me\n",
            "FROM a\nLABEL owner=\"team-a\"\nONBUILD LABEL maintainer me\n",
        ),
        // LABEL text inside RUN/ONBUILD is not a LABEL.
        (
            "FROM a\nRUN echo LABEL owner=evil\n",
            "FROM a\nLABEL owner=\"team-a\"\nRUN echo LABEL owner=evil\n",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), *want, "input {src:?}");
    }
}

#[test]
fn dockerfile_inline_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"FROM a\nLABEL owner evil\n", "could set the owner label"),
        (b"FROM a\nLABEL owner\n", "key=value"),
        (b"FROM a\nLABEL\n", "at least one"),
        (b"FROM a\nLABEL --x=y a=b\n", "options"),
        (
            b"FROM a\nLABEL \"owner\" evil\n",
            "could set the owner label",
        ),
        (b"FROM a\nLABEL own\\er evil\n", "could set the owner label"),
        (
            b"FROM a\nONBUILD LABEL owner evil\n",
            "could set the owner label",
        ),
        (
            b"FROM a\nONBUILD LABEL $K evil\n",
            "could set the owner label",
        ),
        // With a backtick escape the trailing `\` is plain text here, but it
        // escapes the space before our pair when the trigger is re-parsed.
        (
            b"# escape=`\nFROM a\nONBUILD LABEL a=b\\\n",
            "swallow the owner label",
        ),
        (
            b"# escape=`\nFROM a\nONBUILD LABEL a=\"b\n",
            "swallow the owner label",
        ),
        (b"FROM \xff\xfe\n", "UTF-8"),
        (b"\xc3\x28", "UTF-8"),
        (b"", "no FROM"),
        (b"\n\n  \n# c\n", "no FROM"),
        (b"RUN x\nFROM a\n", "before the first FROM"),
        (b"FROM a\rRUN x\n", "carriage return"),
        (b"FROM a\r\r\nRUN x\n", "carriage return"),
        (b"FROM a \\\n", "ends inside a line continuation"),
        (
            b"FROM a\nLABEL a=b \\\n# c\n\n",
            "ends inside a line continuation",
        ),
        (b"# escape=\\\\\nFROM a\n", "invalid escape token"),
        (b"# escape= \nFROM a\n", "invalid escape token"),
        (b"# syntax=a\n# Syntax=b\nFROM a\n", "only one"),
        (b"# check=a\n# check=b\nFROM a\n", "after `# check=`"),
        ("#\u{a0}escape=`\nFROM a\n".as_bytes(), "unusual whitespace"),
        (b"#\x0bescape=`\nFROM a\n", "unusual whitespace"),
        (b"FROM a\nRUN cat <<EOF\nx\nEOF\n", "heredoc"),
        (b"FROM a\nrun 3<<-EOF cat\nx\nEOF\n", "heredoc"),
        (b"FROM a\nADD <<EOF /x\nx\nEOF\n", "heredoc"),
        (b"FROM a\nRUN a <\\\n<EOF\nx\nEOF\n", "heredoc"),
        ("FROM a\nFR\u{d6}M b\n".as_bytes(), "non-ASCII"),
        (b"FROM a\nLABEL a=b\n", "key"),
    ];
    for (src, want) in cases {
        let got = if *want == "key" {
            // Invalid key/owner from the caller is refused too.
            let mut all = Vec::new();
            for (k, o) in [
                ("", "x"),
                ("a b", "x"),
                ("o", ""),
                ("o", "a\"b"),
                ("o", "$x"),
                ("o", "a\tb"),
                ("o", "é"),
            ] {
                all.push(rewrite(src, k, o, &[]).unwrap_err().to_string());
            }
            all.join("\n")
        } else {
            err(src)
        };
        assert!(
            got.contains(want),
            "input {:?}: {got:?} lacks {want:?}",
            String::from_utf8_lossy(src)
        );
        assert!(!got.starts_with("buildgate:"));
    }
}

#[test]
fn dockerfile_long_lines() {
    let long = format!("FROM a\nLABEL a={}\n", "x".repeat(MAX_LINE - 15));
    assert!(err(long.as_bytes()).contains("too long after adding"));
    let longer = format!("FROM a\nRUN {}\n", "x".repeat(MAX_LINE));
    assert!(err(longer.as_bytes()).contains("longer than"));
}

#[test]
fn dockerfile_parse_words_matches_buildkit() {
    // Expected values from buildkit's line_parsers_test.go / behaviour.
    let cases: &[(&str, char, &[&str])] = &[
        ("a b  c", '\\', &["a", "b", "c"]),
        ("a=\"b c\" d", '\\', &["a=\"b c\"", "d"]),
        ("a='b \\' c", '\\', &["a='b \\'", "c"]),
        ("a\\ b", '\\', &["a\\ b"]),
        ("a\\", '\\', &["a"]),
        ("\"\"", '\\', &["\"\""]),
        ("a=\"b\\\"c\"", '\\', &["a=\"b\\\"c\""]),
        ("a`\"b c", '`', &["a`\"b", "c"]),
        ("a\u{a0}b", '\\', &["a", "b"]),
    ];
    for (input, esc, want) in cases {
        assert_eq!(parse_words(input, *esc), *want, "{input:?}");
    }
}

/// The fail-closed re-scan rejects outputs that break the invariant, so a
/// bug in the insertion code cannot reach the daemon.
#[test]
fn dockerfile_verify_rejects_broken_output() {
    let ours = "owner=\"team-a\"";
    let good = "FROM a\nLABEL owner=\"team-a\"\nLABEL a=b owner=\"team-a\"\n";
    assert!(verify(good, KEY, ours, 1, &[], &[]).is_ok());
    for (bad, stages) in [
        ("FROM a\nRUN x\n", 1),
        ("FROM a\n", 1),
        ("FROM a\n# c\nRUN x\nLABEL owner=\"team-a\"\n", 1),
        ("FROM a\nLABEL owner=\"team-a\" a=b\n", 1),
        ("FROM a\nLABEL owner=\"team-a\"\nLABEL a=b\n", 1),
        (
            "FROM a\nLABEL owner=\"team-a\"\nLABEL a=b owner=\"team-a\" \\\n",
            1,
        ),
        ("FROM a\nLABEL owner=\"team-a\"\nLABEL k v\nRUN x\n", 1),
        (good, 2),
    ] {
        let e = verify(bad, KEY, ours, stages, &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("internal check failed"), "{bad:?}: {e}");
    }
}

/// The grammar property test is only meaningful if most inputs are
/// accepted; make sure the generator does not drift into refusals.
#[test]
fn dockerfile_prop_grammar_mostly_accepted() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::grammar_input();
    let (mut accepted, total) = (0, 500);
    for _ in 0..total {
        let src = strategy.new_tree(&mut runner).unwrap().current();
        if rewrite(src.as_bytes(), KEY, OWNER, &[]).is_ok() {
            accepted += 1;
        }
    }
    assert!(accepted * 3 > total, "only {accepted}/{total} accepted");
}

/// An independent, deliberately simple reader for the property-test
/// grammar (ASCII, no odd whitespace): joins logical lines the documented
/// way and returns them.
fn simple_logical_lines(src: &str) -> Vec<String> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let esc = if src.starts_with("# escape=`") {
        '`'
    } else {
        '\\'
    };
    super::proptests::logical_lines(src, esc)
}

fn first_word_lower(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// One instruction's words, the way a Dockerfile author writes them.
    fn instruction() -> impl Strategy<Value = Vec<String>> {
        let w = |s: &str| Just(s.to_string());
        // Mostly ordinary words; the tricky ones are rarer so that most
        // generated files are accepted and the invariant is exercised.
        let word = prop_oneof![
            8 => "[a-z]{1,6}",
            3 => w("a=b"),
            2 => w("owner=evil"),
            2 => w("$K=v"),
            2 => w("\"k k\"=\"v v\""),
            2 => w("'q'=1"),
            2 => w("alpine"),
            2 => w("as"),
            1 => w("$IMG"),
            1 => w("--platform=$P"),
            1 => w("owner"),
            1 => w("<"),
            1 => w("<<EOF"),
            1 => w("FROM"),
            1 => w("\\\\"),
            1 => w("`"),
        ];
        let kw = prop_oneof![
            Just("FROM"),
            Just("from"),
            Just("From"),
            Just("LABEL"),
            Just("label"),
            Just("RUN"),
            Just("ARG"),
            Just("COPY"),
            Just("ONBUILD"),
            Just("ENV"),
        ];
        (kw, proptest::collection::vec(word, 0..5)).prop_map(|(k, mut w)| {
            w.insert(0, k.to_string());
            w
        })
    }

    #[derive(Debug, Clone)]
    enum Item {
        Instr(Vec<String>, Vec<u8>),
        Comment,
        Blank,
    }

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            6 => (instruction(), proptest::collection::vec(0u8..6, 5)).prop_map(|(w, s)| Item::Instr(w, s)),
            1 => Just(Item::Comment),
            1 => Just(Item::Blank),
        ]
    }

    fn render(items: &[Item], backtick: bool, crlf: bool, bom: bool, final_nl: bool) -> String {
        let esc = if backtick { '`' } else { '\\' };
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut s = String::new();
        if bom {
            s.push('\u{feff}');
        }
        if backtick {
            s.push_str("# escape=`");
            s.push_str(eol);
        }
        for it in items {
            match it {
                Item::Comment => {
                    s.push_str("  # comment");
                    s.push_str(eol);
                }
                Item::Blank => {
                    s.push_str(" \t");
                    s.push_str(eol);
                }
                Item::Instr(words, seps) => {
                    for (i, w) in words.iter().enumerate() {
                        if i > 0 {
                            // Separator: a space, or a continuation with
                            // optional comment / blank lines inside.
                            match seps.get(i - 1).copied().unwrap_or(0) {
                                0 | 1 => s.push(' '),
                                2 => {
                                    s.push(' ');
                                    s.push(esc);
                                    s.push_str(eol);
                                    s.push_str("    ");
                                }
                                3 => {
                                    s.push(' ');
                                    s.push(esc);
                                    s.push_str(" \t");
                                    s.push_str(eol);
                                    s.push_str("# inside");
                                    s.push_str(eol);
                                    s.push(' ');
                                }
                                4 => {
                                    s.push(' ');
                                    s.push(esc);
                                    s.push_str(eol);
                                    s.push_str(eol);
                                    s.push_str("  ");
                                }
                                _ => s.push('\t'),
                            }
                        }
                        s.push_str(w);
                    }
                    s.push_str(eol);
                }
            }
        }
        if !final_nl {
            while s.ends_with('\n') || s.ends_with('\r') {
                s.pop();
            }
        }
        s
    }

    fn check_invariant(input: &str, out: &Rewrite) {
        let out_text = std::str::from_utf8(&out.dockerfile).unwrap();
        let in_lines = simple_logical_lines(input);
        let out_lines = simple_logical_lines(out_text);
        let froms_in = in_lines
            .iter()
            .filter(|l| first_word_lower(l) == "from")
            .count();
        let froms_out = out_lines
            .iter()
            .filter(|l| first_word_lower(l) == "from")
            .count();
        assert_eq!(froms_in, out.stages, "input {input:?}");
        assert_eq!(froms_out, out.stages, "output {out_text:?}");
        for (i, l) in out_lines.iter().enumerate() {
            match first_word_lower(l).as_str() {
                "from" => assert_eq!(
                    out_lines.get(i + 1).map(|s| s.trim()),
                    Some(OURS),
                    "output {out_text:?}"
                ),
                "label" => {
                    // Either our pair is last, or (legacy form) our LABEL follows.
                    let appended = l.trim_end().ends_with(" owner=\"team-a\"");
                    let followed = out_lines.get(i + 1).map(|s| s.trim()) == Some(OURS);
                    assert!(appended || followed, "{l:?} in {out_text:?}");
                }
                _ => {}
            }
        }
        // Nothing but our additions changed.
        assert!(out_text.len() >= input.len());
    }

    /// A whole generated Dockerfile.
    pub(super) fn grammar_input() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(item(), 0..12),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(mut items, backtick, crlf, bom, final_nl)| {
                // Only ARG may precede the first FROM; start with a stage
                // most of the time so the rest of the file gets checked.
                if items.len() % 4 != 0 {
                    let from = vec!["FROM".to_string(), "alpine".to_string()];
                    items.insert(0, Item::Instr(from, vec![0; 5]));
                }
                render(&items, backtick, crlf, bom, final_nl)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn dockerfile_prop_grammar(src in grammar_input()) {
            if let Ok(out) = rewrite(src.as_bytes(), KEY, OWNER, &[]) {
                check_invariant(&src, &out);
                // Idempotent in stage count, and still valid when rewritten again.
                let again = rewrite(&out.dockerfile, KEY, OWNER, &[]).unwrap();
                prop_assert_eq!(again.stages, out.stages);
            }
        }

        #[test]
        fn dockerfile_prop_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = rewrite(&bytes, KEY, OWNER, &[]);
        }

        #[test]
        fn dockerfile_prop_dockerfile_alphabet(
            s in "[FROMLABELRUNfromlabel#=<$'\"` \\\\\t\r\n\u{a0}\u{feff}a-z]{0,300}"
        ) {
            if let Ok(out) = rewrite(s.as_bytes(), KEY, OWNER, &[]) {
                // Whatever was accepted must survive a second rewrite.
                let again = rewrite(&out.dockerfile, KEY, OWNER, &[]);
                prop_assert!(again.is_ok(), "{:?} -> {:?}", s, again);
            }
        }
    }
}

const PINNED: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn pin(src: &str, froms: &[FromRewrite]) -> Result<String, RewriteError> {
    rewrite(src.as_bytes(), KEY, OWNER, froms)
        .map(|r| String::from_utf8(r.dockerfile).expect("UTF-8 out"))
}

/// Each `FROM` the gateway resolved is written back as one plain line, whatever
/// continuations, comments and quoting it had; the owner LABEL still follows it.
#[test]
fn from_rewrites_replace_the_whole_instruction() {
    use FromRewrite::{Keep, Replace};
    let with_platform = format!("--platform=linux/amd64 {PINNED} AS build");
    let table: Vec<(&str, Vec<FromRewrite>, String)> = vec![
        (
            "FROM busybox\nRUN true\n",
            vec![Replace(PINNED.to_string())],
            format!("FROM {PINNED}\n{OURS}\nRUN true\n"),
        ),
        (
            "from \\\n  # a comment inside\n  \"$BASE\" \\\n  AS Build\nRUN true\n",
            vec![Replace(format!("{PINNED} AS build"))],
            format!("FROM {PINNED} AS build\n{OURS}\nRUN true\n"),
        ),
        (
            "ARG B=busybox\r\nFROM --platform=$P ${B}\r\nRUN true\r\nFROM build\r\n",
            vec![Replace(with_platform.clone()), Keep],
            format!(
                "ARG B=busybox\r\nFROM {with_platform}\r\n{OURS}\r\nRUN true\r\nFROM build\r\n{OURS}\r\n"
            ),
        ),
        (
            "FROM a\nFROM scratch",
            vec![Replace(PINNED.to_string()), Replace("scratch".to_string())],
            format!("FROM {PINNED}\n{OURS}\nFROM scratch\n{OURS}"),
        ),
        (
            "# escape=`\nFROM a `\n  AS x\nRUN true\n",
            vec![Replace(format!("{PINNED} AS x"))],
            format!("# escape=`\nFROM {PINNED} AS x\n{OURS}\nRUN true\n"),
        ),
    ];
    for (src, froms, want) in table {
        assert_eq!(pin(src, &froms).as_deref(), Ok(want.as_str()), "{src:?}");
    }
}

#[test]
fn from_rewrites_must_be_plain_and_complete() {
    use FromRewrite::Replace;
    for bad in [
        "$X", "a\"b", "a\\b", "a`b", "a  b", " a", "a ", "", "a#b", "a\nRUN x",
    ] {
        let err = pin("FROM a\n", &[Replace(bad.to_string())]).unwrap_err();
        assert!(err.to_string().contains("not plain"), "{bad:?}: {err}");
    }
    let err = pin("FROM a\nFROM b\n", &[Replace(PINNED.to_string())]).unwrap_err();
    assert!(err.to_string().contains("2 FROM instructions"), "{err}");
}

#[test]
fn parse_yields_joined_instructions() {
    let parsed = parse(b"# escape=`\nARG A=1\nfrom `\n # c\n x AS y\nRUN a\n").unwrap();
    assert_eq!(parsed.escape, '`');
    let got: Vec<(&str, &str, usize)> = parsed
        .instructions
        .iter()
        .map(|i| (i.keyword.as_str(), i.args.as_str(), i.line))
        .collect();
    assert_eq!(
        got,
        vec![("arg", "A=1", 2), ("from", "x AS y", 3), ("run", "a", 6)]
    );
    assert!(parse(b"RUN x\n").is_err());
}

#[test]
fn changes_end_with_the_owner() {
    let ok: &[(&[&str], &str)] = &[
        (&[], "LABEL owner=\"team-a\""),
        (&["CMD [\"sh\"]"], "CMD [\"sh\"]\nLABEL owner=\"team-a\""),
        (
            &["LABEL owner=evil", "ENV K=owner", "LABEL $K=evil x=y"],
            "LABEL owner=evil owner=\"team-a\"\nENV K=owner\nLABEL $K=evil x=y owner=\"team-a\"\nLABEL owner=\"team-a\"",
        ),
        (&["LABEL a b"], "LABEL a b\nLABEL owner=\"team-a\""),
        (
            &["EXPOSE 80\nUSER x"],
            "EXPOSE 80\nUSER x\nLABEL owner=\"team-a\"",
        ),
    ];
    for (changes, want) in ok {
        assert_eq!(
            rewrite_changes(changes, KEY, OWNER).as_deref(),
            Ok(*want),
            "{changes:?}"
        );
    }
    let refused: &[&[&str]] = &[
        &["ONBUILD RUN x"],
        &["ONBUILD \\", "LABEL owner=att"],
        &["RUN rm -rf /"],
        &["FROM x"],
        &["LABEL owner evil"],
        &["LABEL $K evil"],
        &["LABEL a=b \\"],
        &["CMD x\rRUN y"],
    ];
    for changes in refused {
        assert!(rewrite_changes(changes, KEY, OWNER).is_err(), "{changes:?}");
    }
}

#[test]
fn a_pinned_copy_is_written_on_one_line_and_read_back() {
    let pin = |src: &str, copies: &[(usize, &str)]| {
        let copies: BTreeMap<usize, String> =
            copies.iter().map(|(l, a)| (*l, a.to_string())).collect();
        rewrite_pinned(src.as_bytes(), KEY, OWNER, &[], &copies)
            .map(|r| String::from_utf8(r.dockerfile).unwrap())
            .map_err(|e| e.to_string())
    };
    // Continuation lines, a comment inside them and CRLF: one line, ended like the last.
    let src = "FROM busybox\r\nCOPY --from=img \\\r\n# a comment\r\n  /a /b\r\nRUN true\r\n";
    let out = pin(src, &[(2, "--from=sha256:abc /a /b")]).unwrap();
    assert_eq!(
        out,
        format!("FROM busybox\r\n{OURS}\r\nCOPY --from=sha256:abc /a /b\r\nRUN true\r\n")
    );
    // Only the COPY named is written; others stay byte for byte.
    let src = "FROM busybox\nCOPY --from=x /a /b\nCOPY --from=y /c /d\n";
    let out = pin(src, &[(3, "--from=sha256:def /c /d")]).unwrap();
    assert_eq!(
        out,
        format!("FROM busybox\n{OURS}\nCOPY --from=x /a /b\nCOPY --from=sha256:def /c /d\n")
    );
    // A line that is no COPY, a line break, and a value that would join the next line
    // (it ends with the escape character): refused, never written.
    let e = pin(src, &[(1, "--from=sha256:abc /a /b")]).unwrap_err();
    assert!(e.contains("not where the gateway found it"), "{e}");
    let e = pin(src, &[(2, "--from=sha256:abc /a\n/b")]).unwrap_err();
    assert!(e.contains("not one line"), "{e}");
    let e = pin(src, &[(2, "--from=sha256:abc /a /b \\")]).unwrap_err();
    assert!(e.contains("internal check failed"), "{e}");
}
