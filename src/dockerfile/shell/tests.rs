//! Tables for [`super::process_word`]. Every input here was also run through
//! buildkit's `ProcessWord` as vendored in moby v20.10.24 (v0.8) and as in
//! buildkit master (by hand, not in CI: the lexers are Go): the accepted results
//! are what both return; the refused inputs fail in both or differ between them,
//! except the non-ASCII names and U+FEFF, which the gateway refuses on purpose.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn env() -> HashMap<String, String> {
    [
        ("A", "a"),
        ("AB", "ab"),
        ("EMPTY", ""),
        ("SP", "x y"),
        ("DOL", "$A"),
        ("Q", "\"'\\"),
        ("1", "one"),
        ("@", "at"),
        ("_", "us"),
        ("lower", "l"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn run(word: &str, escape: char) -> Result<String, ShellError> {
    let mut budget = Budget::new(1 << 20, 1 << 20);
    process_word(word, escape, &env(), &mut budget)
}

/// (input, expected) with the default `\` escape.
const ACCEPTED: &[(&str, &str)] = &[
    // Literals.
    ("", ""),
    ("busybox", "busybox"),
    ("busybox:1.36@sha256:0123", "busybox:1.36@sha256:0123"),
    ("a b", "a b"),
    ("a\tb  c", "a\tb  c"),
    ("ünïcødé", "ünïcødé"),
    ("a\0b", "a\0b"),
    ("<<EOF", "<<EOF"),
    ("a << \tb", "a << \tb"),
    ("<\\<", "<<"),
    ("`", "`"),
    // The escape character outside quotes.
    ("a\\ b", "a b"),
    ("\\$A", "$A"),
    ("\\${A}", "${A}"),
    ("\\\\", "\\"),
    ("\\\\$A", "\\a"),
    ("a\\", "a"),
    ("\\", ""),
    ("\\\"", "\""),
    ("\\'", "'"),
    ("\\a\\b", "ab"),
    ("\\é", "é"),
    // Single quotes.
    ("'$A'", "$A"),
    ("'a\\'", "a\\"),
    ("'a b'", "a b"),
    ("''", ""),
    ("a''b", "ab"),
    ("'\"'", "\""),
    ("'${A'", "${A"),
    // Double quotes.
    ("\"$A\"", "a"),
    ("\"${A}\"", "a"),
    ("\"\\$A\"", "$A"),
    ("\"\\a\"", "\\a"),
    ("\"\\\\\"", "\\"),
    ("\"\\\"\"", "\""),
    ("\"'\"", "'"),
    ("\"a b\"c", "a bc"),
    ("\"\"", ""),
    ("\"${UNSET:-'q'}\"", "q"),
    ("\"$\"", "$"),
    ("\"a$\"", "a$"),
    // $name.
    ("$A", "a"),
    ("$AB", "ab"),
    ("$A.B", "a.B"),
    ("$A-b", "a-b"),
    ("$A/$AB", "a/ab"),
    ("$AB_", ""),
    ("$lower", "l"),
    ("$LOWER", ""),
    ("$1x", "onex"),
    ("$12", ""),
    ("$@", "at"),
    ("$@x", "atx"),
    ("$$", ""),
    ("$$A", "A"),
    ("$-x", "x"),
    ("$*", ""),
    ("$#", ""),
    ("$?", ""),
    ("$!", ""),
    ("$0", ""),
    ("$_", "us"),
    ("$", "$"),
    ("a$", "a$"),
    ("$.", "$."),
    ("$ x", "$ x"),
    ("$/", "$/"),
    ("$:", "$:"),
    ("$}", "$}"),
    ("$'a'", "$a"),
    ("$\"a\"", "$a"),
    ("$\\A", "$A"),
    ("$UNSET", ""),
    ("x${UNSET}y", "xy"),
    ("$DOL", "$A"),
    ("$SP", "x y"),
    ("$Q", "\"'\\"),
    ("$EMPTY", ""),
    // ${name}.
    ("${A}", "a"),
    ("${A}B", "aB"),
    ("${A}é", "aé"),
    ("${AB}", "ab"),
    ("${UNSET}", ""),
    ("${1}", "one"),
    ("${@}", "at"),
    ("${-}", ""),
    ("${_}", "us"),
    // ${name:-word}.
    ("${A:-x}", "a"),
    ("${UNSET:-x}", "x"),
    ("${EMPTY:-x}", "x"),
    ("${UNSET:-}", ""),
    ("${UNSET:-$A}", "a"),
    ("${UNSET:-${AB}}", "ab"),
    ("${UNSET:-\"a b\"}", "a b"),
    ("${UNSET:-'a}b'}", "a}b"),
    ("${UNSET:-a\\}b}", "a}b"),
    ("${UNSET:-a\\\\}", "a\\"),
    ("${UNSET:-${UNSET2:-deep}}", "deep"),
    ("${UNSET:-x}${A:-y}", "xa"),
    ("${A:-${UNSET:-z}}", "a"),
    ("${A:-$}", "a"),
    ("${@:-x}", "at"),
    ("${1:-x}", "one"),
    ("${UNSET:-a b}", "a b"),
    // ${name:+word}.
    ("${A:+x}", "x"),
    ("${EMPTY:+x}", ""),
    ("${UNSET:+x}", ""),
    ("${A:+$AB}", "ab"),
    ("${A:+}", ""),
    ("${UNSET:+${A}}", ""),
    // ${name:?word} and ${name?word}.
    ("${A:?msg}", "a"),
    ("${A:?}", "a"),
    ("${A?x}", "a"),
    ("${EMPTY?x}", ""),
    ("${SP?}", "x y"),
    // Combinations.
    ("registry/${A}:${UNSET:-latest}", "registry/a:latest"),
    ("\"$A\"'$A'$A\\$A", "a$Aa$A"),
];

#[test]
fn shell_accepted_table() {
    for (input, want) in ACCEPTED {
        match run(input, '\\') {
            Ok(got) => assert_eq!(got, *want, "input {input:?}"),
            Err(e) => panic!("input {input:?} refused: {e}"),
        }
    }
    assert!(ACCEPTED.len() > 100);
}

#[test]
fn shell_backtick_escape_table() {
    let cases: &[(&str, &str)] = &[
        ("a`$A", "a$A"),
        ("a\\$A", "a\\a"),
        ("\\", "\\"),
        ("a`", "a"),
        ("``", "`"),
        ("a` b", "a b"),
        ("\"`$A\"", "$A"),
        ("\"`\"\"", "\""),
        ("\"``\"", "`"),
        ("\"`a\"", "`a"),
        ("\"\\$A\"", "\\a"),
        ("\"\\\"", "\\"),
        ("'`'", "`"),
        ("${UNSET:-a`}b}", "a}b"),
        ("${UNSET:-a\\}b", "a\\b"),
        ("C:\\Windows", "C:\\Windows"),
    ];
    for (input, want) in cases {
        match run(input, '`') {
            Ok(got) => assert_eq!(got, *want, "input {input:?}"),
            Err(e) => panic!("input {input:?} refused: {e}"),
        }
    }
}

/// (input, kind, a substring of the message).
const REFUSED: &[(&str, ShellErrorKind, &str)] = &[
    // Only from Docker 25 (buildkit v0.12).
    ("${A-x}", ShellErrorKind::VersionDependent, "${A:-word}"),
    ("${UNSET-x}", ShellErrorKind::VersionDependent, "Docker 25"),
    ("${A+x}", ShellErrorKind::VersionDependent, "${A:+word}"),
    ("${A-}", ShellErrorKind::VersionDependent, "without ':'"),
    ("\"${A-x}\"", ShellErrorKind::VersionDependent, "Docker 25"),
    (
        "${UNSET:-${A+x}}",
        ShellErrorKind::VersionDependent,
        "Docker 25",
    ),
    // Only from Docker 26 (buildkit v0.13).
    ("${A#x}", ShellErrorKind::VersionDependent, "Docker 26"),
    ("${A##x}", ShellErrorKind::VersionDependent, "pattern"),
    ("${A#}", ShellErrorKind::VersionDependent, "Docker 26"),
    ("${A%x}", ShellErrorKind::VersionDependent, "Docker 26"),
    ("${A%%*}", ShellErrorKind::VersionDependent, "Docker 26"),
    ("${A/a/b}", ShellErrorKind::VersionDependent, "Docker 26"),
    ("${A//a/b}", ShellErrorKind::VersionDependent, "Docker 26"),
    ("${A/a}", ShellErrorKind::VersionDependent, "Docker 26"),
    // Only in Docker 26.
    (
        "${A:#x}",
        ShellErrorKind::VersionDependent,
        "only in Docker 26",
    ),
    (
        "${A:%x}",
        ShellErrorKind::VersionDependent,
        "only in Docker 26",
    ),
    // Unicode letters and digits in names.
    ("$é", ShellErrorKind::VersionDependent, "ASCII"),
    ("$Aé", ShellErrorKind::VersionDependent, "ASCII"),
    ("${é}", ShellErrorKind::VersionDependent, "ASCII"),
    ("${Aé}", ShellErrorKind::VersionDependent, "ASCII"),
    ("$1\u{660}", ShellErrorKind::VersionDependent, "ASCII"),
    ("\"$\u{3b1}\"", ShellErrorKind::VersionDependent, "ASCII"),
    // Byte-order mark.
    (
        "\u{feff}busybox",
        ShellErrorKind::VersionDependent,
        "U+FEFF",
    ),
    ("a\u{feff}", ShellErrorKind::VersionDependent, "U+FEFF"),
    // Errors in every version.
    ("'a", ShellErrorKind::Invalid, "single quote"),
    ("a'", ShellErrorKind::Invalid, "single quote"),
    ("\"a", ShellErrorKind::Invalid, "double quote"),
    ("\"a\\", ShellErrorKind::Invalid, "double quote"),
    ("\"\\\"", ShellErrorKind::Invalid, "double quote"),
    ("${", ShellErrorKind::Invalid, "without '}'"),
    ("${A", ShellErrorKind::Invalid, "without '}'"),
    ("${}", ShellErrorKind::Invalid, "bad substitution"),
    ("${:}", ShellErrorKind::Invalid, "bad substitution"),
    ("${:-x}", ShellErrorKind::Invalid, "bad substitution"),
    ("${{A}}", ShellErrorKind::Invalid, "bad substitution"),
    ("${A B}", ShellErrorKind::Invalid, "unexpected ' '"),
    ("${A=x}", ShellErrorKind::Invalid, "unexpected '='"),
    ("${A!}", ShellErrorKind::Invalid, "unexpected '!'"),
    ("${1a}", ShellErrorKind::Invalid, "unexpected 'a'"),
    ("${@x}", ShellErrorKind::Invalid, "unexpected 'x'"),
    ("${.}", ShellErrorKind::Invalid, "unexpected '.'"),
    ("${A:=x}", ShellErrorKind::Invalid, "':='"),
    ("${A:x}", ShellErrorKind::Invalid, "':x'"),
    ("${A:}x}", ShellErrorKind::Invalid, "':}'"),
    ("${A:/x/y}", ShellErrorKind::Invalid, "':/'"),
    ("${A:", ShellErrorKind::Invalid, "without '}'"),
    ("${A:-x", ShellErrorKind::Invalid, "matching '}'"),
    ("${A:-'x}'", ShellErrorKind::Invalid, "matching '}'"),
    ("${A:-x\\}", ShellErrorKind::Invalid, "matching '}'"),
    ("${A?x", ShellErrorKind::Invalid, "matching '}'"),
    (
        "${UNSET:?}",
        ShellErrorKind::Invalid,
        "UNSET: is not allowed to be unset",
    ),
    ("${UNSET:?boom}", ShellErrorKind::Invalid, "UNSET: boom"),
    (
        "${EMPTY:?}",
        ShellErrorKind::Invalid,
        "EMPTY: is not allowed to be empty",
    ),
    ("${EMPTY:?no $A}", ShellErrorKind::Invalid, "EMPTY: no a"),
    (
        "${UNSET?}",
        ShellErrorKind::Invalid,
        "UNSET: is not allowed to be unset",
    ),
    ("${UNSET?gone}", ShellErrorKind::Invalid, "UNSET: gone"),
    ("a${UNSET:-'b}", ShellErrorKind::Invalid, "single quote"),
];

#[test]
fn shell_refused_table() {
    for (input, kind, want) in REFUSED {
        match run(input, '\\') {
            Ok(got) => panic!("input {input:?} accepted as {got:?}"),
            Err(e) => {
                assert_eq!(e.kind(), *kind, "input {input:?}: {e}");
                assert!(
                    e.message().contains(want),
                    "input {input:?}: {e:?} lacks {want:?}"
                );
            }
        }
    }
}

/// A caller's variables can refuse a name (a value that depends on the daemon's
/// version); the lookup happens even where the value is not used, as in Go.
#[test]
fn shell_lookup_refusal() {
    struct Refusing;
    impl Vars for Refusing {
        fn lookup(&self, name: &str) -> Result<Option<&str>, ShellError> {
            match name {
                "BAD" => Err(ShellError::new(ShellErrorKind::Lookup, "BAD refused")),
                "OK" => Ok(Some("ok")),
                _ => Ok(None),
            }
        }
    }
    let run = |w: &str| process_word(w, '\\', &Refusing, &mut Budget::new(100, 100));
    assert_eq!(run("$OK-${X:-$OK}").unwrap(), "ok-ok");
    for w in [
        "$BAD",
        "${BAD}",
        "${OK:-$BAD}",
        "${OK:+x}${BAD:+y}",
        "\"${BAD?}\"",
    ] {
        let e = run(w).unwrap_err();
        assert_eq!(e.kind(), ShellErrorKind::Lookup, "{w}");
    }
    // Escaped or quoted, it is not a lookup.
    assert_eq!(run("\\$BAD'$BAD'").unwrap(), "$BAD$BAD");
}

#[test]
fn shell_limits() {
    let big: HashMap<String, String> = [("B".to_string(), "x".repeat(1000))].into();
    // Per-buffer length.
    let mut budget = Budget::new(1500, 1 << 20);
    assert_eq!(
        process_word("$B", '\\', &big, &mut budget).unwrap().len(),
        1000
    );
    let e = process_word("$B$B", '\\', &big, &mut budget).unwrap_err();
    assert_eq!(e.kind(), ShellErrorKind::TooLarge);
    // A nested word that is never used still counts.
    let e = process_word("${A:+$B$B}", '\\', &big, &mut Budget::new(1500, 1 << 20)).unwrap_err();
    assert_eq!(e.kind(), ShellErrorKind::TooLarge);
    // Literal text counts against the length too.
    let e = process_word(
        &"a".repeat(1501),
        '\\',
        &big,
        &mut Budget::new(1500, 1 << 20),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ShellErrorKind::TooLarge);
    // Total inserted value bytes, across words sharing a budget.
    let mut budget = Budget::new(1 << 20, 2500);
    process_word("$B$B", '\\', &big, &mut budget).unwrap();
    assert_eq!(budget.remaining(), 500);
    let e = process_word("$B", '\\', &big, &mut budget).unwrap_err();
    assert_eq!(e.kind(), ShellErrorKind::TooLarge);
    // A used nested word is charged again at each level it is carried up.
    let mut budget = Budget::new(1 << 20, 3000);
    process_word("${U:-${U:-$B}}", '\\', &big, &mut budget).unwrap();
    assert_eq!(
        budget.remaining(),
        0,
        "1000 for $B, 1000 and 1000 for the two words"
    );
    let mut budget = Budget::new(1 << 20, 2999);
    assert!(process_word("${U:-${U:-$B}}", '\\', &big, &mut budget).is_err());
    // Unused words are expanded (and charged) too, like Go does.
    let mut budget = Budget::new(1 << 20, 1500);
    let e = process_word("${A:-$B}${A:-$B}", '\\', &big, &mut budget).unwrap_err();
    assert_eq!(e.kind(), ShellErrorKind::TooLarge);
    // Nesting depth.
    let nested = |n: usize| format!("{}x{}", "${U:-".repeat(n), "}".repeat(n));
    assert_eq!(run(&nested(MAX_DEPTH), '\\').unwrap(), "x");
    let e = run(&nested(MAX_DEPTH + 1), '\\').unwrap_err();
    assert_eq!(e.kind(), ShellErrorKind::TooLarge);
    // A very deep one is refused without exhausting the stack.
    assert!(run(&nested(100_000), '\\').is_err());
}

#[test]
fn shell_is_literal() {
    for w in [
        "busybox",
        "a/b:c@sha256:1",
        "linux/amd64",
        "ünï",
        "<<",
        "a b",
        "",
    ] {
        assert!(is_literal(w, '\\'), "{w:?}");
        assert_eq!(run(w, '\\').unwrap(), w);
    }
    for w in ["$A", "a'b", "a\"b", "a\\b", "\u{feff}a"] {
        assert!(!is_literal(w, '\\'), "{w:?}");
    }
    assert!(is_literal("C:\\x", '`'));
    assert!(!is_literal("a`b", '`'));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Never panics on any text, with either escape character, and what it
    /// returns fits the limit.
    #[test]
    fn shell_prop_never_panics(
        word in "[$'\"\\\\`{}:?#%/+\\-=@!*0-9A-Za-z_ é\u{feff}\u{660}]{0,40}",
        backtick in any::<bool>(),
    ) {
        let escape = if backtick { '`' } else { '\\' };
        let mut budget = Budget::new(64, 1000);
        if let Ok(out) = process_word(&word, escape, &env(), &mut budget) {
            prop_assert!(out.len() <= 64);
        }
    }

    #[test]
    fn shell_prop_never_panics_any_string(word in any::<String>()) {
        let mut budget = Budget::new(1 << 16, 1 << 16);
        let _ = process_word(&word, '\\', &env(), &mut budget);
    }

    /// Words without `$`, quotes or escapes come back unchanged.
    #[test]
    fn shell_prop_literal_unchanged(word in "[^$'\"\\\\\u{feff}]{0,60}") {
        prop_assert!(is_literal(&word, '\\'));
        let mut budget = Budget::new(1 << 20, 0);
        prop_assert_eq!(process_word(&word, '\\', &env(), &mut budget).unwrap(), word);
    }

    /// Escaping every character gives the text back literally.
    #[test]
    fn shell_prop_escaped_is_literal(word in "[ -~é]{0,40}", backtick in any::<bool>()) {
        let escape = if backtick { '`' } else { '\\' };
        let escaped: String = word.chars().flat_map(|c| [escape, c]).collect();
        let mut budget = Budget::new(1 << 20, 0);
        prop_assert_eq!(process_word(&escaped, escape, &env(), &mut budget).unwrap(), word);
    }

    /// Single-quoting text without `'` gives it back literally.
    #[test]
    fn shell_prop_single_quoted_is_literal(word in "[^'\u{feff}]{0,40}") {
        let mut budget = Budget::new(1 << 20, 0);
        let quoted = format!("'{word}'");
        prop_assert_eq!(process_word(&quoted, '\\', &env(), &mut budget).unwrap(), word);
    }
}
