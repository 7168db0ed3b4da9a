//! Tables for [`super::evaluate`]: each case is a small Dockerfile (one
//! instruction a line, a leading `# escape=` line sets the escape character),
//! the request's build arguments, platform and target, and either the stages as
//! `name: base platform effective-platform kind` or a piece of the refusal.
//! Expected values follow moby's `builder/dockerfile` as described in the module
//! docs; the `ProcessWord` results inside them were checked against the Go
//! lexers (see `shell_tests.rs`).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

struct Case {
    src: &'static str,
    args: &'static [(&'static str, Option<&'static str>)],
    platform: Option<&'static str>,
    target: Option<&'static str>,
}

const fn case(src: &'static str) -> Case {
    Case {
        src,
        args: &[],
        platform: None,
        target: None,
    }
}

const fn with_args(
    src: &'static str,
    args: &'static [(&'static str, Option<&'static str>)],
) -> Case {
    Case {
        src,
        args,
        platform: None,
        target: None,
    }
}

fn instructions(src: &str) -> (char, Vec<(String, String, usize)>) {
    let mut escape = '\\';
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        if line == "# escape=`" {
            escape = '`';
            continue;
        }
        let line = line.trim_matches(|c: char| c == ' ' || c == '\t');
        let (kw, args) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        out.push((
            kw.to_ascii_lowercase(),
            args.trim_matches([' ', '\t']).to_string(),
            i + 1,
        ));
    }
    (escape, out)
}

fn eval(c: &Case) -> Result<Vec<Stage>, FromError> {
    let (escape, ins) = instructions(c.src);
    let build_args: BTreeMap<String, Option<String>> = c
        .args
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
    let request = Request {
        escape,
        build_args: &build_args,
        platform: c.platform,
        target: c.target,
    };
    evaluate(
        ins.iter().map(|(k, a, l)| Instruction {
            keyword: k,
            args: a,
            line: *l,
        }),
        &request,
    )
}

fn show(s: &Stage) -> String {
    let name = s.name.as_deref().unwrap_or("");
    match &s.base {
        None => format!("{name}: not run"),
        Some(b) => format!(
            "{name}: {} {} {} {:?}",
            b.name,
            b.platform.as_deref().unwrap_or("-"),
            b.effective_platform.as_deref().unwrap_or("-"),
            b.kind
        ),
    }
}

fn accepted() -> Vec<(Case, &'static [&'static str])> {
    vec![
        // Plain FROMs, AS in any case, blanks between words.
        (case("FROM busybox"), &[": busybox - - Image"]),
        (case("FROM busybox AS Build"), &["build: busybox - - Image"]),
        (case("from busybox as b"), &["b: busybox - - Image"]),
        (
            case("FROM busybox aS b-1_x.y"),
            &["b-1_x.y: busybox - - Image"],
        ),
        (case("FROM  busybox \t AS\t\tb"), &["b: busybox - - Image"]),
        (case("FROM busybox\x0bAS\x0cb"), &["b: busybox - - Image"]),
        (
            case("FROM registry:5000/a/b:1.2@sha256:00"),
            &[": registry:5000/a/b:1.2@sha256:00 - - Image"],
        ),
        (case("FROM sha256:0123abc"), &[": sha256:0123abc - - Image"]),
        // Quotes and escapes are kept by the parser and removed by ProcessWord.
        (case("FROM \"busybox\""), &[": busybox - - Image"]),
        (case("FROM 'busybox'"), &[": busybox - - Image"]),
        (case("FROM busy\\box"), &[": busybox - - Image"]),
        (case("FROM busybox\\"), &[": busybox - - Image"]),
        (case("# escape=`\nFROM busy`box"), &[": busybox - - Image"]),
        (case("# escape=`\nFROM C:\\img"), &[": C:\\img - - Image"]),
        (case("FROM b'u's\"y\"box"), &[": busybox - - Image"]),
        // --platform, literal, quoted, expanded, empty.
        (
            case("FROM --platform=linux/amd64 busybox"),
            &[": busybox linux/amd64 linux/amd64 Image"],
        ),
        (
            case("FROM --platform=\"linux/arm64\" busybox AS x"),
            &["x: busybox linux/arm64 linux/arm64 Image"],
        ),
        (
            case("ARG P=linux/arm64\nFROM --platform=$P busybox"),
            &[": busybox linux/arm64 linux/arm64 Image"],
        ),
        // extractBuilderFlags drops the single quotes, ProcessWord then expands.
        (
            case("ARG P=linux/s390x\nFROM --platform='$P' busybox"),
            &[": busybox linux/s390x linux/s390x Image"],
        ),
        (
            case("FROM --platform=linux\\/amd64 busybox"),
            &[": busybox linux/amd64 linux/amd64 Image"],
        ),
        (case("FROM --platform= busybox"), &[": busybox - - Image"]),
        (
            case("FROM --platform=\"\" busybox"),
            &[": busybox - - Image"],
        ),
        (case("FROM -- busybox"), &[": busybox - - Image"]),
        (
            case("FROM --platform=a -- busybox"),
            &[": busybox a a Image"],
        ),
        (
            case("# escape=`\nFROM --platform=linux/amd64 busybox"),
            &[": busybox linux/amd64 linux/amd64 Image"],
        ),
        // The request's platform applies where the FROM has none.
        (
            Case {
                platform: Some("linux/arm/v7"),
                ..case("FROM a\nFROM --platform=linux/amd64 b\nFROM --platform= c")
            },
            &[
                ": a - linux/arm/v7 Image",
                ": b linux/amd64 linux/amd64 Image",
                ": c - linux/arm/v7 Image",
            ],
        ),
        (
            Case {
                platform: Some(""),
                ..case("FROM a")
            },
            &[": a - - Image"],
        ),
        // Meta ARGs, defaults and build arguments.
        (
            case("ARG TAG=1.36\nFROM busybox:$TAG"),
            &[": busybox:1.36 - - Image"],
        ),
        (
            with_args(
                "ARG TAG=1.36\nFROM busybox:${TAG}",
                &[("TAG", Some("latest"))],
            ),
            &[": busybox:latest - - Image"],
        ),
        (
            with_args("ARG TAG=1.36\nFROM busybox:${TAG}", &[("TAG", None)]),
            &[": busybox:1.36 - - Image"],
        ),
        (
            with_args("ARG TAG=1.36\nFROM busybox:${TAG}", &[("TAG", Some(""))]),
            &[": busybox: - - Image"],
        ),
        (
            case("ARG TAG\nFROM busybox:${TAG:-latest}"),
            &[": busybox:latest - - Image"],
        ),
        (
            with_args(
                "ARG TAG\nFROM busybox:${TAG:-latest}",
                &[("TAG", Some("1"))],
            ),
            &[": busybox:1 - - Image"],
        ),
        (
            with_args("ARG TAG=\nFROM busybox${TAG:+:}$TAG", &[("TAG", Some("2"))]),
            &[": busybox:2 - - Image"],
        ),
        (
            case("ARG TAG=\nFROM busybox${TAG:+:}$TAG"),
            &[": busybox - - Image"],
        ),
        // A build argument that is not declared is invisible...
        (
            with_args("FROM busybox:${TAG:-d}", &[("TAG", Some("x"))]),
            &[": busybox:d - - Image"],
        ),
        // ...except the proxy args every version predefines.
        (
            with_args("FROM ${HTTP_PROXY:+a}b", &[("HTTP_PROXY", Some("h"))]),
            &[": ab - - Image"],
        ),
        (
            with_args("FROM ${no_proxy}img", &[("no_proxy", Some("my"))]),
            &[": myimg - - Image"],
        ),
        (
            with_args(
                "ARG HTTP_PROXY=dflt\nFROM $HTTP_PROXY",
                &[("HTTP_PROXY", None)],
            ),
            &[": dflt - - Image"],
        ),
        // ALL_PROXY: the same in every version when declared or not given.
        (
            with_args(
                "ARG ALL_PROXY\nFROM $ALL_PROXY",
                &[("ALL_PROXY", Some("p"))],
            ),
            &[": p - - Image"],
        ),
        (case("FROM ${ALL_PROXY:-busybox}"), &[": busybox - - Image"]),
        (
            with_args("FROM ${all_proxy:-busybox}", &[("all_proxy", None)]),
            &[": busybox - - Image"],
        ),
        // BUILDPLATFORM and friends are ordinary names for the classic builder.
        (
            with_args(
                "ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM busybox",
                &[("BUILDPLATFORM", Some("linux/amd64"))],
            ),
            &[": busybox linux/amd64 linux/amd64 Image"],
        ),
        (
            case("FROM ${TARGETARCH:-amd64}/busybox"),
            &[": amd64/busybox - - Image"],
        ),
        // Defaults are expanded with the args before the line.
        (case("ARG A=x\nARG B=${A}y\nFROM $B"), &[": xy - - Image"]),
        (case("ARG A=x B=${A:-none}\nFROM $B"), &[": none - - Image"]),
        (
            case("ARG A=x B=${A:-none}\nFROM $A$B"),
            &[": xnone - - Image"],
        ),
        (
            with_args("ARG A=x\nARG B=$A\nFROM $B", &[("A", Some("y"))]),
            &[": y - - Image"],
        ),
        (
            with_args("ARG A=x\nARG B=$A\nFROM $B", &[("B", Some("z"))]),
            &[": z - - Image"],
        ),
        // Declaring again without a value forgets the default.
        (
            case("ARG A=x\nARG A\nFROM ${A:-unset}"),
            &[": unset - - Image"],
        ),
        (case("ARG A\nARG A=x\nFROM ${A:-unset}"), &[": x - - Image"]),
        (case("ARG A=1 A=2\nFROM img:$A"), &[": img:2 - - Image"]),
        // Quotes and escapes in defaults.
        (case("ARG X=\"a b\"\nFROM ${X:+img}"), &[": img - - Image"]),
        (case("ARG X='$Y'\nFROM img:$X"), &[": img:$Y - - Image"]),
        (case("ARG X=a\\ b\nFROM ${X:+img}"), &[": img - - Image"]),
        (case("ARG X=\\$HOME\nFROM img$X"), &[": img$HOME - - Image"]),
        (
            case("# escape=`\nARG X=`$HOME\nFROM img$X"),
            &[": img$HOME - - Image"],
        ),
        (case("ARG 1=one\nFROM img:$1"), &[": img:one - - Image"]),
        (case("ARG a-b=x\nFROM img:${a:-y}"), &[": img:y - - Image"]),
        // An ARG inside a stage does not reach later FROMs.
        (
            case("FROM a\nARG X=1\nFROM b$X"),
            &[": a - - Image", ": b - - Image"],
        ),
        (
            case("ARG X=1\nFROM a\nARG X=2\nFROM b$X"),
            &[": a - - Image", ": b1 - - Image"],
        ),
        // In-stage ARGs with $ names or flags are not meta args.
        (
            case("FROM a\nARG $K=v\nRUN x\nFROM b"),
            &[": a - - Image", ": b - - Image"],
        ),
        // Stages: earlier ones only, case-insensitive; the lookup comes first.
        (
            case("FROM busybox AS build\nFROM build"),
            &["build: busybox - - Image", ": build - - Stage(0)"],
        ),
        (
            case("FROM busybox AS Build\nFROM BUILD AS next\nFROM Next"),
            &[
                "build: busybox - - Image",
                "next: BUILD - - Stage(0)",
                ": Next - - Stage(1)",
            ],
        ),
        (
            case("ARG S=build\nFROM busybox AS build\nFROM $S"),
            &["build: busybox - - Image", ": build - - Stage(0)"],
        ),
        (
            case("FROM later\nFROM busybox AS later"),
            &[": later - - Image", "later: busybox - - Image"],
        ),
        (case("FROM x AS x"), &["x: x - - Image"]),
        (
            case("FROM scratch\nFROM Scratch\nFROM scratch AS s"),
            &[
                ": scratch - - Scratch",
                ": Scratch - - Image",
                "s: scratch - - Scratch",
            ],
        ),
        (
            case("FROM busybox AS scratch\nFROM scratch"),
            &["scratch: busybox - - Image", ": scratch - - Stage(0)"],
        ),
        (
            Case {
                platform: Some("linux/amd64"),
                ..case("FROM a AS one\nFROM --platform=linux/arm64 one")
            },
            &[
                "one: a - linux/amd64 Image",
                ": one linux/arm64 linux/arm64 Stage(0)",
            ],
        ),
        // Target: later stages are parsed but not run, so not expanded.
        (
            Case {
                target: Some("TWO"),
                ..case("FROM a AS one\nFROM b AS two\nFROM ${UNSET:?boom} AS three\nFROM c AS one")
            },
            &[
                "one: a - - Image",
                "two: b - - Image",
                "three: not run",
                "one: not run",
            ],
        ),
        (
            Case {
                target: Some("x"),
                ..case("FROM a AS x\nFROM b AS x")
            },
            &["x: a - - Image", "x: not run"],
        ),
        (
            Case {
                target: Some(""),
                ..case("FROM a AS x\nFROM x")
            },
            &["x: a - - Image", ": x - - Stage(0)"],
        ),
        // Other instructions are skipped.
        (
            case("ARG A=1\nFROM a\nRUN $A\nLABEL x=y\nFROM b"),
            &[": a - - Image", ": b - - Image"],
        ),
    ]
}

#[test]
fn from_accepted_table() {
    let cases = accepted();
    assert!(cases.len() > 60);
    for (c, want) in cases {
        match eval(&c) {
            Ok(stages) => {
                let got: Vec<String> = stages.iter().map(show).collect();
                assert_eq!(got, want, "input {:?}", c.src);
            }
            Err(e) => panic!("input {:?} refused: {e}", c.src),
        }
    }
}

fn refused() -> Vec<(Case, &'static str)> {
    vec![
        // parseFrom / parseBuildStageName.
        (case("FROM"), "one or three arguments"),
        (case("FROM a b"), "one or three arguments"),
        (case("FROM a AS"), "one or three arguments"),
        (case("FROM a AS b c"), "one or three arguments"),
        (case("FROM a FROM b"), "one or three arguments"),
        (case("FROM \"a b\""), "one or three arguments"),
        (case("FROM a AS 1b"), "invalid name for build stage"),
        (case("FROM a AS -b"), "invalid name for build stage"),
        (case("FROM a AS b$c"), "invalid name for build stage"),
        (case("FROM a AS b/c"), "invalid name for build stage"),
        (case("FROM a AS \"b\""), "invalid name for build stage"),
        (case("FROM a AS bé"), "not ASCII"),
        (case("FROM a AS \u{212a}"), "not ASCII"),
        (case("FROM a \u{212a}S b"), "not ASCII"),
        (case("FROM a a\u{17f} b"), "not ASCII"),
        // Builder flags.
        (case("FROM --platform=a --platform=b x"), "twice"),
        (case("FROM --platform=a --platform=a x"), "twice"),
        (case("FROM --foo=bar x"), "unknown FROM option --foo"),
        (
            case("FROM --PLATFORM=x a"),
            "unknown FROM option --PLATFORM",
        ),
        (case("FROM --platform x"), "needs a value"),
        (case("FROM --platform"), "needs a value"),
        (
            case("FROM --platform=linux/amd64"),
            "one or three arguments",
        ),
        (case("FROM --platform=é x"), "non-ASCII"),
        (case("FROM --platform=\"é\" x"), "non-ASCII"),
        (case("FROM --platform=\\é x"), "non-ASCII"),
        // Under `# escape=\``, old and new daemons escape flags differently.
        (case("# escape=`\nFROM --platform=a\\ b c"), "before 28.1"),
        (case("# escape=`\nFROM --platform=a`b c"), "before 28.1"),
        (
            case("# escape=`\nFROM --platform=\"a\\\"b\" c"),
            "before 28.1",
        ),
        (case("# escape=`\nFROM --platform=a` b c"), "before 28.1"),
        // ProcessWord refusals and errors, in the base name and the platform.
        (case("FROM ${A-x}"), "Docker 25"),
        (case("ARG V=1\nFROM img:${V#v}"), "Docker 26"),
        (case("ARG a-b=x\nFROM img:${a-b:-y}"), "Docker 25"),
        (
            case("FROM --platform=${P:-linux}${A+x} busybox"),
            "FROM --platform",
        ),
        (case("FROM ${UNSET:?need-it}"), "UNSET: need-it"),
        (case("FROM ${UNSET:?need it}"), "one or three arguments"),
        (case("FROM 'busybox"), "single quote"),
        (case("FROM $é"), "ASCII"),
        // Empty or unusable results.
        (case("FROM $UNSET"), "empty after variable substitution"),
        (case("ARG X=\nFROM $X"), "empty after variable substitution"),
        (case("FROM ''"), "empty after variable substitution"),
        (
            case("FROM --platform=$BUILDPLATFORM busybox"),
            "BUILDPLATFORM",
        ),
        (
            with_args(
                "FROM --platform=$TARGETPLATFORM busybox",
                &[("TARGETPLATFORM", Some("linux/amd64"))],
            ),
            "empty after variable substitution",
        ),
        (
            case("ARG X=\"a b\"\nFROM $X"),
            "not a valid image reference",
        ),
        (case("FROM é"), "not a valid image reference"),
        (case("FROM busybox\u{a0}x"), "not a valid image reference"),
        // The word split ignores escapes.
        (case("FROM a\\\tb"), "one or three arguments"),
        (case("FROM a\u{1}b"), "not a valid image reference"),
        (case("FROM a\\\u{1}b"), "not a valid image reference"),
        // ALL_PROXY predefined only from Docker 23.
        (
            with_args("FROM ${ALL_PROXY:-busybox}", &[("ALL_PROXY", Some("p"))]),
            "Docker 23",
        ),
        (
            with_args("FROM img${all_proxy:+x}", &[("all_proxy", Some("p"))]),
            "Docker 23",
        ),
        (
            with_args("ARG X=$ALL_PROXY\nFROM a", &[("ALL_PROXY", Some("p"))]),
            "Docker 23",
        ),
        // Meta ARG parsing and expansion.
        (case("ARG\nFROM a"), "at least one argument"),
        (case("ARG =x\nFROM a"), "empty name"),
        (case("ARG A=1 =x\nFROM a"), "empty name"),
        (case("ARG --x=1 A\nFROM a"), "does not take options"),
        (case("ARG $K=1\nFROM a"), "plain names"),
        (case("ARG \"A\"=1\nFROM a"), "plain names"),
        (case("ARG A\\B=1\nFROM a"), "plain names"),
        (
            case("ARG X=${Y:?}\nFROM a"),
            "ARG X: Y: is not allowed to be unset",
        ),
        (case("ARG X=${Y-z}\nFROM a"), "Docker 25"),
        (case("ARG X='\nFROM a"), "single quote"),
        // In-stage ARGs are parsed too.
        (case("FROM a\nARG"), "at least one argument"),
        (case("FROM a\nARG =1"), "empty name"),
        (case("FROM a\nARG --x A"), "does not take options"),
        // Parse errors count in stages after the target, expansion errors do not.
        (
            Case {
                target: Some("one"),
                ..case("FROM a AS one\nFROM b c")
            },
            "one or three arguments",
        ),
        // Stage names.
        (case("FROM a AS x\nFROM b AS X"), "already used"),
        (case("FROM a AS x\nFROM b\nFROM c AS x"), "already used"),
        (
            Case {
                target: Some("nope"),
                ..case("FROM a AS x")
            },
            "not the name of any stage",
        ),
        (
            Case {
                target: Some("x"),
                ..case("FROM a")
            },
            "not the name of any stage",
        ),
        (
            Case {
                target: Some("\u{212a}"),
                ..case("FROM a AS k")
            },
            "not ASCII",
        ),
        // No stage at all.
        (case(""), "no FROM"),
        (case("ARG A=1"), "no FROM"),
    ]
}

#[test]
fn from_refused_table() {
    let cases = refused();
    assert!(cases.len() > 60);
    for (c, want) in cases {
        match eval(&c) {
            Ok(stages) => panic!(
                "input {:?} accepted: {:?}",
                c.src,
                stages.iter().map(show).collect::<Vec<_>>()
            ),
            Err(e) => assert!(
                e.to_string().contains(want),
                "input {:?}: {e} lacks {want:?}",
                c.src
            ),
        }
    }
}

#[test]
fn from_error_points_at_the_line() {
    let e = eval(&case("ARG A=1\nFROM a\nRUN x\nFROM b c")).unwrap_err();
    assert_eq!(e.line(), Some(4));
    assert!(e.to_string().starts_with("Dockerfile line 4: "), "{e}");
    let e = eval(&case("ARG X=${Y:?}\nFROM a")).unwrap_err();
    assert_eq!(e.line(), Some(1));
    let e = eval(&case("")).unwrap_err();
    assert_eq!(e.line(), None);
}

#[test]
fn from_builder_flags_match_extract_builder_flags() {
    // (line, escape byte, rest, flags); expected values follow the Go code
    // byte by byte.
    let cases: &[(&str, u8, &str, &[&str])] = &[
        ("busybox", b'\\', "busybox", &[]),
        ("--a=b c", b'\\', "c", &["--a=b"]),
        ("--a=b  --c d e", b'\\', "d e", &["--a=b", "--c"]),
        ("--a=\"b c\" d", b'\\', "d", &["--a=b c"]),
        ("--a='b\\' c' d", b'\\', "d", &["--a=b' c"]),
        ("--a=b\\ c d", b'\\', "d", &["--a=b c"]),
        ("--a=b\\", b'\\', "", &["--a=b"]),
        ("--a=\"b\\", b'\\', "", &["--a=b"]),
        ("--a=\"\" x", b'\\', "x", &["--a="]),
        ("--\"\" x", b'\\', " x", &[]),
        ("-- x", b'\\', " x", &[]),
        ("--", b'\\', "", &[]),
        ("--a --", b'\\', "", &["--a"]),
        ("-a x", b'\\', "-a x", &[]),
        ("-", b'\\', "-", &[]),
        ("--a=b`c d", b'`', "d", &["--a=bc"]),
        ("--a=b\\c d", b'`', "d", &["--a=b\\c"]),
        ("--a=b\tc", b'\\', "c", &["--a=b"]),
        ("--a=b éc", b'\\', "éc", &["--a=b"]),
    ];
    for (line, esc, rest, flags) in cases {
        let (r, f) = extract_builder_flags(line, *esc).unwrap();
        assert_eq!(r, *rest, "{line:?}");
        assert_eq!(f, *flags, "{line:?}");
    }
    assert!(extract_builder_flags("--a=é x", b'\\').is_err());
    assert!(extract_builder_flags("--a=\\é x", b'\\').is_err());
    assert!(extract_builder_flags("--a=x\u{a0}y z", b'\\').is_err());
}

#[test]
fn from_parse_words_matches_buildkit() {
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
        ("\\\"a b\"", '\\', &["\\\"a", "b\""]),
        ("a=\"b\\", '\\', &["a=\"b"]),
    ];
    for (input, esc, want) in cases {
        assert_eq!(parse_words(input, *esc), *want, "{input:?}");
    }
}

/// Meta ARG chains that double their value each line are cut off by the limits,
/// quickly.
#[test]
fn from_limits() {
    let mut src = String::from("ARG A0=xxxxxxxxxxxxxxxx\n");
    for i in 1..40 {
        src.push_str(&format!("ARG A{i}=$A{p}$A{p}\n", p = i - 1));
    }
    src.push_str("FROM a\n");
    let src: &'static str = Box::leak(src.into_boxed_str());
    let e = eval(&case(src)).unwrap_err();
    assert!(e.to_string().contains("longer than"), "{e}");

    // Many lines each inserting a large build argument: the total is capped.
    let big: &'static str = Box::leak("y".repeat(60 * 1024).into_boxed_str());
    let args: &'static [(&str, Option<&str>)] = Box::leak(Box::new([("B", Some(big))]));
    let mut src = String::from("ARG B\n");
    for i in 0..400 {
        src.push_str(&format!("ARG C{i}=$B\n"));
    }
    src.push_str("FROM a\n");
    let src: &'static str = Box::leak(src.into_boxed_str());
    let e = eval(&with_args(src, args)).unwrap_err();
    assert!(e.to_string().contains("too much text"), "{e}");
    // Under the cap it is accepted.
    let e = eval(&with_args("ARG B\nARG C=$B\nFROM a", args));
    assert!(e.is_ok());

    // A long base name.
    let long: &'static str =
        Box::leak(format!("FROM {}", "a".repeat(MAX_EXPANDED_LEN + 1)).into_boxed_str());
    assert!(
        eval(&case(long))
            .unwrap_err()
            .to_string()
            .contains("longer than")
    );
}

#[test]
fn from_rejects_invalid_escape() {
    let args = BTreeMap::new();
    let request = Request {
        escape: '$',
        build_args: &args,
        platform: None,
        target: None,
    };
    let ins = [Instruction {
        keyword: "from",
        args: "a",
        line: 1,
    }];
    assert!(evaluate(ins, &request).is_err());
}

mod prop {
    use super::*;

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[a-z][a-z0-9._/:-]{0,12}",
            2 => Just("$A".to_string()),
            1 => Just("${B:-b}".to_string()),
            1 => Just("\"q\"".to_string()),
            1 => Just("--platform=$P".to_string()),
            1 => Just("--platform=linux/amd64".to_string()),
            1 => Just("AS".to_string()),
            1 => Just("as".to_string()),
            1 => Just("scratch".to_string()),
            1 => "[$'\"\\\\`{}:?#%/+= -]{1,4}",
            1 => "\\PC{1,3}",
        ]
    }

    fn instruction() -> impl Strategy<Value = (String, String)> {
        (
            prop_oneof![Just("arg"), Just("from"), Just("run")],
            proptest::collection::vec(word(), 0..5),
        )
            .prop_map(|(k, w)| (k.to_string(), w.join(" ")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Never panics, whatever the instructions, build arguments and target.
        #[test]
        fn from_prop_never_panics(
            ins in proptest::collection::vec(instruction(), 0..8),
            backtick in any::<bool>(),
            args in proptest::collection::btree_map("[A-Za-z_]{1,3}|ALL_PROXY|HTTP_PROXY", proptest::option::of("\\PC{0,6}"), 0..4),
            target in proptest::option::of("[a-zA-Z]{0,3}"),
            platform in proptest::option::of("[a-z/]{0,8}"),
        ) {
            let request = Request {
                escape: if backtick { '`' } else { '\\' },
                build_args: &args,
                platform: platform.as_deref(),
                target: target.as_deref(),
            };
            let list: Vec<Instruction<'_>> = ins
                .iter()
                .enumerate()
                .map(|(i, (k, a))| Instruction { keyword: k, args: a, line: i + 1 })
                .collect();
            if let Ok(stages) = evaluate(list, &request) {
                let froms = ins.iter().filter(|(k, _)| k == "from").count();
                prop_assert_eq!(stages.len(), froms);
                for (i, s) in stages.iter().enumerate() {
                    if let Some(Base { kind: BaseKind::Stage(j), name, .. }) = &s.base {
                        prop_assert!(*j < i);
                        let lower = name.to_ascii_lowercase();
                        prop_assert_eq!(stages[*j].name.as_deref(), Some(lower.as_str()));
                    }
                }
            }
        }

        /// Literal base names (no `$`, quotes or escapes) come back unchanged, with
        /// the stage name lowercased, and name an earlier stage exactly when one
        /// has their lowercased name.
        #[test]
        fn from_prop_literal_unchanged(
            stages in proptest::collection::vec(
                ("[a-zA-Z][a-zA-Z0-9._:/@-]{0,20}", proptest::option::of("[a-zA-Z][a-zA-Z0-9._-]{0,8}"), "AS|as|As|aS"),
                1..6,
            ),
        ) {
            let lines: Vec<String> = stages
                .iter()
                .map(|(base, name, kw)| match name {
                    Some(n) => format!("{base} {kw} {n}"),
                    None => base.clone(),
                })
                .collect();
            let names: Vec<Option<String>> =
                stages.iter().map(|(_, n, _)| n.as_ref().map(|n| n.to_ascii_lowercase())).collect();
            let duplicate = (0..names.len()).any(|i| {
                names[i].is_some() && names[..i].contains(&names[i])
            });
            let args = BTreeMap::new();
            let request = Request { escape: '\\', build_args: &args, platform: None, target: None };
            let list: Vec<Instruction<'_>> = lines
                .iter()
                .enumerate()
                .map(|(i, a)| Instruction { keyword: "from", args: a, line: i + 1 })
                .collect();
            let got = evaluate(list, &request);
            if duplicate {
                prop_assert!(got.is_err());
                return Ok(());
            }
            let got = got.unwrap();
            for (i, ((base, _, _), stage)) in stages.iter().zip(&got).enumerate() {
                prop_assert_eq!(&stage.name, &names[i]);
                let b = stage.base.as_ref().unwrap();
                prop_assert_eq!(&b.name, base);
                let earlier = names[..i].iter().position(|n| n.as_deref() == Some(base.to_ascii_lowercase().as_str()));
                let want = match earlier {
                    Some(j) => BaseKind::Stage(j),
                    None if base == "scratch" => BaseKind::Scratch,
                    None => BaseKind::Image,
                };
                prop_assert_eq!(b.kind, want);
            }
        }
    }
}

fn copies(c: &Case) -> Result<Vec<String>, String> {
    let stages = eval(c).map_err(|e| e.to_string())?;
    let (escape, ins) = instructions(c.src);
    let sources = copy_sources(
        ins.iter().map(|(k, a, l)| Instruction {
            keyword: k,
            args: a,
            line: *l,
        }),
        escape,
        &stages,
    )
    .map_err(|e| e.to_string())?;
    Ok(sources
        .iter()
        .map(|s| {
            let flags: Vec<String> = s
                .flags
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n}={v}"),
                    None => n.clone(),
                })
                .collect();
            format!("{}: {} [{}] {}", s.line, s.image, flags.join(" "), s.rest)
        })
        .collect())
}

#[test]
fn copy_from_names_an_image_only_where_no_earlier_stage_or_index_is_meant() {
    let cases: &[(Case, &[&str])] = &[
        // Earlier stages by name in any case, and by index: no image.
        (
            case(
                "FROM busybox AS Build\nFROM busybox\nCOPY --from=BUILD /a /b\nCOPY --from=build /a /b\nCOPY --from=0 /a /b",
            ),
            &[],
        ),
        // Signs and indexes out of range are the daemon's errors, not images.
        (
            case(
                "FROM busybox\nFROM busybox\nCOPY --from=+0 /a /b\nCOPY --from=-1 /a /b\nCOPY --from=7 /a /b",
            ),
            &[],
        ),
        // Too large for an int64: ParseInt fails, so the daemon looks up an image.
        (
            case("FROM busybox\nCOPY --from=99999999999999999999 /a /b"),
            &["2: 99999999999999999999 [--from=99999999999999999999] /a /b"],
        ),
        // The stage's own name and a later stage's name are image names.
        (
            case("FROM busybox AS a\nCOPY --from=a /x /y\nCOPY --from=b /x /y\nFROM busybox AS b"),
            &["2: a [--from=a] /x /y", "3: b [--from=b] /x /y"],
        ),
        // An image, with the other flags kept in order, quotes processed.
        (
            case("FROM busybox\nCOPY --chown=1:2 --from=\"victim/img:1\" [\"/a\", \"/b\"]"),
            &["2: victim/img:1 [--chown=1:2 --from=victim/img:1] [\"/a\", \"/b\"]"],
        ),
        // No --from, an empty one, one after `--`, before the first FROM: nothing.
        (
            case(
                "COPY --from=x /a /b\nFROM busybox\nCOPY /a /b\nCOPY --from= /a /b\nCOPY -- --from=x /b",
            ),
            &[],
        ),
        // Stages after target never run.
        (
            Case {
                target: Some("a"),
                ..case(
                    "FROM busybox AS a\nCOPY --from=img1 /a /b\nFROM busybox\nCOPY --from=img2 /a /b",
                )
            },
            &["2: img1 [--from=img1] /a /b"],
        ),
    ];
    for (c, want) in cases {
        let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
        assert_eq!(copies(c), Ok(want), "{}", c.src);
    }
    for (src, refusal) in [
        ("FROM busybox\nCOPY --from=a --from=b /a /b", "given twice"),
        ("FROM busybox AS kb\nCOPY --from=\u{212a}b /a /b", "options"),
    ] {
        let got = copies(&case(src));
        assert!(
            got.as_ref().is_err_and(|e| e.contains(refusal)),
            "{src}: {got:?}"
        );
    }
}
