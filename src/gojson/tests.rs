//! Unit tests of the reader, the field sets, the key folding and the
//! decoder's rules, each table checked against behaviour observed with Go
//! 1.19 (`tests/json_differential.rs` repeats the decoder checks against
//! Go itself), plus property tests of the round trips.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::schema::{field_set, go119_equal_fold, go121_fold_name};
use super::*;

fn p(s: &str) -> Result<Value, Error> {
    parse(s.as_bytes())
}

fn kind(r: Result<Value, Error>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

#[test]
fn reader_accepts_rfc8259() {
    let ok: &[(&str, Value)] = &[
        ("null", Value::Null),
        (" \t\r\ntrue \n", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("0", Value::Number("0".into())),
        ("-0", Value::Number("-0".into())),
        ("-12.50e+07", Value::Number("-12.50e+07".into())),
        ("1E-2", Value::Number("1E-2".into())),
        (r#""""#, Value::String(String::new())),
        (
            r#""\"\\\/\b\f\n\r\t\u0000\u00e9\uD83D\uDE00""#,
            Value::String("\"\\/\u{8}\u{c}\n\r\t\0é😀".into()),
        ),
        (
            "\"é\u{7f}\u{2028}\"",
            Value::String("é\u{7f}\u{2028}".into()),
        ),
        ("[]", Value::Array(vec![])),
        (
            "[ 1 , [ ] ]",
            Value::Array(vec![Value::Number("1".into()), Value::Array(vec![])]),
        ),
        ("{}", Value::Object(vec![])),
        (
            r#"{"b":1,"a":2,"b":null}"#,
            Value::Object(vec![
                ("b".into(), Value::Number("1".into())),
                ("a".into(), Value::Number("2".into())),
                ("b".into(), Value::Null),
            ]),
        ),
    ];
    for (input, want) in ok {
        assert_eq!(p(input).as_ref(), Ok(want), "{input:?}");
    }
}

#[test]
fn reader_refuses() {
    use ErrorKind::*;
    let bad: &[(&[u8], ErrorKind)] = &[
        (b"", Syntax),
        (b"  ", Syntax),
        (b"nul", Syntax),
        (b"True", Syntax),
        (b"NaN", Syntax),
        (b"01", TrailingData),
        (b"+1", Syntax),
        (b".5", Syntax),
        (b"1.", Syntax),
        (b"1e", Syntax),
        (b"1e+", Syntax),
        (b"-", Syntax),
        (b"0x10", TrailingData),
        (b"[1,]", Syntax),
        (b"[1 2]", Syntax),
        (b"{\"a\":1,}", Syntax),
        (b"{\"a\" 1}", Syntax),
        (b"{a:1}", Syntax),
        (b"{'a':1}", Syntax),
        (b"{\"a\":1", Syntax),
        (b"\"abc", Syntax),
        (b"\"a\tb\"", Syntax),
        (b"\"a\nb\"", Syntax),
        (b"\"\\x\"", Syntax),
        (b"\"\\u12\"", Syntax),
        (b"\"\\u12g4\"", Syntax),
        (b"\"\\", Syntax),
        (b"\xEF\xBB\xBF{}", Syntax),
        (b"\xEF\xBB\xBF", Syntax),
        (b"{} {}", TrailingData),
        (b"{}x", TrailingData),
        (b"[]]", TrailingData),
        (b"\"\xff\"", InvalidUtf8),
        (b"\"\xc3\"", InvalidUtf8),
        (b"\"\xc0\xaf\"", InvalidUtf8),
        (b"\"\xed\xa0\x80\"", InvalidUtf8),
        (b"\"\xf4\x90\x80\x80\"", InvalidUtf8),
        (b"{\"\xff\":1}", InvalidUtf8),
        (b"\"\\ud800\"", LoneSurrogate),
        (b"\"\\udc00\"", LoneSurrogate),
        (b"\"\\ud800x\"", LoneSurrogate),
        (b"\"\\ud800\\u0041\"", LoneSurrogate),
        (b"\"\\ud800\\ud800\"", LoneSurrogate),
        (b"\"\\udfff\\ud800\"", LoneSurrogate),
        (b"\"\xe2\x80\"", InvalidUtf8),
        (b"\x00", Syntax),
        (b"\xc3\xa9", Syntax),
    ];
    for (input, want) in bad {
        assert_eq!(
            kind(parse(input)),
            Some(*want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn reader_depth_limit() {
    let nest = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
    assert!(p(&nest(MAX_DEPTH)).is_ok());
    assert_eq!(kind(p(&nest(MAX_DEPTH + 1))), Some(ErrorKind::Depth));
    let objs = |d: usize| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d));
    assert!(p(&objs(MAX_DEPTH)).is_ok());
    assert_eq!(kind(p(&objs(MAX_DEPTH + 1))), Some(ErrorKind::Depth));
    assert_eq!(kind(parse_with_depth(b"[[]]", 1)), Some(ErrorKind::Depth));
    assert!(parse_with_depth(b"[[]]", 2).is_ok());
    assert!(parse_with_depth(b"1", 0).is_ok());
    // Deep enough to overflow a naive recursive reader's stack: refused
    // at the limit, without recursing further.
    assert_eq!(kind(p(&nest(1_000_000))), Some(ErrorKind::Depth));
}

#[test]
fn error_messages_locate() {
    let e = parse(b"{\"a\":\n tru}").unwrap_err();
    assert!(e.to_string().contains("at byte 7"), "{e}");
    let e = decode_bytes(
        br#"{"HostConfig":{"Mounts":[{"Type":1}]}}"#,
        &moby::CONTAINER_CREATE,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type);
    assert!(
        e.to_string()
            .contains("HostConfig.Mounts[0].Type of type string"),
        "{e}"
    );
    let e = decode_bytes(br#"{"Labels":{"k":1}}"#, &moby::CONTAINER_CREATE).unwrap_err();
    assert!(e.to_string().contains(r#"Labels["k"]"#), "{e}");
}

/// The case-folding facts established with Go 1.19's `unicode` tables
/// (every rune was tried): of all non-ASCII runes only U+017F folds to an
/// ASCII letter (`S`/`s`) and only U+212A (`K`/`k`), both for Go 1.19's
/// `bytes.EqualFold` and Go 1.21's `foldRune`; U+0131 and U+0130 fold to
/// nothing ASCII in either.
#[test]
fn folding_matches_go() {
    let cases: &[(&str, &str, bool)] = &[
        ("Image", "Image", true),
        ("Image", "image", true),
        ("Image", "IMAGE", true),
        ("Image", "\u{131}mage", false),
        ("Image", "\u{130}mage", false),
        ("Image", "Imag", false),
        ("Image", "Image ", false),
        ("Links", "lin\u{212A}\u{17F}", true),
        ("Links", "LIN\u{212A}S", true),
        ("Links", "Lin\u{212A}\u{17F}x", false),
        ("Links", "Lin\u{17F}s", false),
        ("Links", "Lin\u{212B}s", false),
        ("Links", "\u{212A}inks", false),
        ("CpuShares", "cpu\u{17F}hare\u{17F}", true),
        ("IPv6Gateway", "ipv6gateway", true),
        ("IPv6Gateway", "IPV6GATEWAY", true),
        ("IPv6Gateway", "IPv7Gateway", false),
        ("we ird!", "WE IRD!", true),
        ("we ird!", "we_ird!", false),
        ("a_b", "A_B", true),
        ("a_b", "a\u{7f}b", false),
        // '@' and '`' differ only in bit 0x20 but are not letters
        ("a@", "a`", false),
        ("a[", "a{", false),
        ("ab", "a\u{c2}", false),
    ];
    for (name, key, want) in cases {
        assert_eq!(go119_equal_fold(name, key), *want, "1.19: {name} {key}");
        assert_eq!(
            go121_fold_name(name) == go121_fold_name(key),
            *want,
            "1.21: {name} {key}"
        );
    }
}

/// Both Go algorithms agree on every key built from every moby JSON name
/// by replacing letters with their case partner, the Kelvin sign, the long
/// s, dotless or dotted i, or a neighbouring byte.
#[test]
fn folding_versions_agree_on_moby_names() {
    let mut names = Vec::new();
    for (_, s) in moby::ALL {
        collect_names(s, &mut names);
    }
    names.sort();
    names.dedup();
    assert!(names.len() > 150, "{}", names.len());
    let subs = |c: char| -> Vec<char> {
        let mut v = vec![
            c.to_ascii_lowercase(),
            c.to_ascii_uppercase(),
            '\u{212A}',
            '\u{17F}',
            '\u{131}',
            '\u{130}',
            '_',
        ];
        if let Some(n) = char::from_u32(c as u32 ^ 0x20) {
            v.push(n);
        }
        v
    };
    let mut checked = 0;
    for name in &names {
        for (i, c) in name.chars().enumerate() {
            for r in subs(c) {
                let key: String = name
                    .chars()
                    .enumerate()
                    .map(|(j, x)| if i == j { r } else { x })
                    .collect();
                for other in &names {
                    let a = go119_equal_fold(other, &key);
                    let b = go121_fold_name(other) == go121_fold_name(&key);
                    assert_eq!(a, b, "{other} vs {key:?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1_000_000);
}

fn collect_names(s: &Schema, out: &mut Vec<&'static str>) {
    match s {
        Schema::Ptr(e) | Schema::Slice(e) | Schema::Array(_, e) | Schema::Map(e) => {
            collect_names(e, out)
        }
        Schema::Struct(def) => {
            for f in field_set(def).list.iter() {
                out.push(f.name);
                collect_names(&f.schema, out);
            }
        }
        _ => {}
    }
}

#[test]
fn wrapper_field_set() {
    let fs = field_set(&moby::CONTAINER_CONFIG_WRAPPER);
    let get = |n: &str| {
        fs.get(n)
            .map(|f| f.path.clone())
            .unwrap_or_else(|| panic!("{n} not visible"))
    };
    // InnerHostConfig answers to "HostConfig"; the embedded *HostConfig is
    // no field of its own, its fields (and Resources') are promoted.
    assert_eq!(get("HostConfig"), vec![1]);
    assert_eq!(get("Cpuset"), vec![2]);
    assert_eq!(get("NetworkingConfig"), vec![3]);
    assert_eq!(get("Image"), vec![0, 14]);
    assert_eq!(get("Privileged"), vec![4, 22]);
    assert_eq!(get("Dns"), vec![4, 12]);
    assert_eq!(get("CpuShares"), vec![4, 35, 0]);
    assert_eq!(get("Memory"), vec![4, 35, 1]);
    assert!(fs.get("DNS").is_none() && fs.get("CPUShares").is_none());
    assert!(fs.get("InnerHostConfig").is_none() && fs.get("Config").is_none());
    // No name of Config, HostConfig and Resources cancels another out.
    let n = moby::CONFIG.fields.len() + moby::HOST_CONFIG.fields.len() - 1
        + moby::RESOURCES.fields.len()
        + 3;
    assert_eq!(fs.list.len(), n);
    // A folded key selects the first field in index order.
    assert_eq!(
        fs.lookup("cpushares").ok().flatten().map(|f| f.name),
        Some("CpuShares")
    );
    assert_eq!(
        fs.lookup("HOSTCONFIG")
            .ok()
            .flatten()
            .map(|f| f.path.clone()),
        Some(vec![1])
    );
    assert!(fs.lookup("Resources").ok().flatten().is_none());
}

#[test]
fn moby_schemas_validate() {
    for (name, s) in moby::ALL {
        validate(s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

static SAME_NAME_A: StructDef = StructDef {
    name: "x.T",
    fields: &[schema::field!("A", Schema::String)],
};
static SAME_NAME_B: StructDef = StructDef {
    name: "x.T",
    fields: &[schema::field!("B", Schema::String)],
};
static TWO_DEFS: StructDef = StructDef {
    name: "x.Two",
    fields: &[
        schema::field!("A", Schema::Struct(&SAME_NAME_A)),
        schema::field!("B", Schema::Struct(&SAME_NAME_B)),
    ],
};
static ONLY_PTR: StructDef = StructDef {
    name: "x.OnlyPtr",
    fields: &[schema::field!(embed "T", Schema::Ptr(&Schema::Struct(&SAME_NAME_A)))],
};
static HIDDEN_PTR: StructDef = StructDef {
    name: "x.HiddenPtr",
    fields: &[
        schema::field!(embed "OnlyPtr", Schema::Ptr(&Schema::Struct(&ONLY_PTR))),
        schema::field!("A", Schema::String),
    ],
};
static NON_ASCII: StructDef = StructDef {
    name: "x.NonASCII",
    fields: &[schema::field!("A", "\u{e9}", Schema::String)],
};
static QUOTED: StructDef = StructDef {
    name: "x.Quoted",
    fields: &[schema::field!("N", "n,omitempty,string", Schema::GoInt)],
};

#[test]
fn validate_refuses_what_the_engine_cannot_model() {
    assert!(validate(&Schema::Struct(&TWO_DEFS)).is_err());
    assert!(validate(&Schema::Struct(&ONLY_PTR)).is_ok());
    // HiddenPtr's own A hides T.A: nothing can allocate *OnlyPtr alone.
    assert!(validate(&Schema::Struct(&HIDDEN_PTR)).is_err());
    assert!(validate(&Schema::Struct(&NON_ASCII)).is_err());
    assert!(validate(&Schema::Struct(&QUOTED)).is_err());
}

fn create(body: &str) -> Result<Struct, Error> {
    match decode_bytes(body.as_bytes(), &moby::CONTAINER_CREATE)? {
        Decoded::Struct(s) => Ok(s),
        other => panic!("not a struct: {other:?}"),
    }
}

/// Decoded, written back, and decoded again: the same tree.
fn round_trip(s: &Struct) -> String {
    let json = Decoded::Struct(s.clone()).to_json();
    let back = create(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(&back, s, "{json}");
    json
}

#[test]
fn decode_rules() {
    // body, canonical JSON written back
    let cases: &[(&str, &str)] = &[
        (r#"{}"#, r#"{}"#),
        (r#"null"#, r#"{}"#),
        (r#"{"image":"x","Unknown":[1,{"a":2}]}"#, r#"{"Image":"x"}"#),
        (
            r#"{"Image":"x","privileged":true,"HostConfig":{"Memory":1}}"#,
            r#"{"Image":"x","HostConfig":{"Memory":1},"Privileged":true}"#,
        ),
        // embedded pointers allocated by a null; written back with a null
        // on a field that crosses no other pointer
        (r#"{"Privileged":null}"#, r#"{"Binds":null}"#),
        (r#"{"Image":null}"#, r#"{"Hostname":null}"#),
        (
            r#"{"Memory":null,"Hostname":null}"#,
            r#"{"Hostname":null,"Binds":null}"#,
        ),
        // null: no-op for scalars and structs, nil for the rest
        (r#"{"Image":"a","Image":null}"#, r#"{"Image":"a"}"#),
        (
            r#"{"Labels":{"a":"b"},"Labels":null}"#,
            r#"{"Hostname":null}"#,
        ),
        (
            r#"{"HostConfig":{"LogConfig":{"Type":"x"}},"HostConfig":{"LogConfig":null}}"#,
            r#"{"HostConfig":{"LogConfig":{"Type":"x"}}}"#,
        ),
        (r#"{"HostConfig":{"Init":true},"HostConfig":null}"#, r#"{}"#),
        // repeated structs merge, maps add with fresh values
        (
            r#"{"HostConfig":{"Privileged":true},"HostConfig":{"Memory":5}}"#,
            r#"{"HostConfig":{"Privileged":true,"Memory":5}}"#,
        ),
        (
            r#"{"Labels":{"a":"1","b":"2"},"Labels":{"a":null,"c":"3"}}"#,
            r#"{"Labels":{"a":"","b":"2","c":"3"}}"#,
        ),
        (
            r#"{"NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":["x"]},"m":{}}},"NetworkingConfig":{"EndpointsConfig":{"n":{"Links":["y"]},"o":null}}}"#,
            r#"{"NetworkingConfig":{"EndpointsConfig":{"m":{},"n":{"Links":["y"]},"o":null}}}"#,
        ),
        // slices: replaced when nothing depends on the old elements
        (r#"{"Env":["a","b"],"Env":["c"]}"#, r#"{"Env":["c"]}"#),
        (r#"{"Env":["a"],"Env":[]}"#, r#"{"Env":[]}"#),
        (r#"{"Env":[],"Env":[null]}"#, r#"{"Env":[""]}"#),
        (
            r#"{"Env":["a"],"Env":null,"Env":[null]}"#,
            r#"{"Env":[""]}"#,
        ),
        (
            r#"{"Ulimits":[{"Name":"a"}],"Ulimits":[null]}"#,
            r#"{"Ulimits":[null]}"#,
        ),
        // fixed arrays: decoded into, rest zeroed, extras skipped unread
        (
            r#"{"ConsoleSize":[1,2],"ConsoleSize":[null]}"#,
            r#"{"ConsoleSize":[1,0]}"#,
        ),
        (
            r#"{"ConsoleSize":[1,2,{"x":"y"}]}"#,
            r#"{"ConsoleSize":[1,2]}"#,
        ),
        (r#"{"ConsoleSize":null}"#, r#"{"Binds":null}"#),
        // StrSlice
        (r#"{"Cmd":"a b"}"#, r#"{"Cmd":["a b"]}"#),
        (r#"{"Cmd":["a",null]}"#, r#"{"Cmd":["a",""]}"#),
        (r#"{"Cmd":["a"],"Cmd":null}"#, r#"{"Hostname":null}"#),
        (r#"{"Cmd":[]}"#, r#"{"Cmd":[]}"#),
        // numbers
        (
            r#"{"Memory":-0,"BlkioWeight":65535}"#,
            r#"{"Memory":0,"BlkioWeight":65535}"#,
        ),
        (
            r#"{"IOMaximumIOps":18446744073709551615,"StopTimeout":-2147483648}"#,
            r#"{"StopTimeout":-2147483648,"IOMaximumIOps":18446744073709551615}"#,
        ),
        (
            r#"{"ConsoleSize":[4294967295,0]}"#,
            r#"{"ConsoleSize":[4294967295,0]}"#,
        ),
        // strings with what needs escaping
        (
            "{\"Image\":\"\\u0000\\u001f\\\"\\\\\\/\u{2028}\u{7f}\"}",
            "{\"Image\":\"\\u0000\\u001f\\\"\\\\/\u{2028}\u{7f}\"}",
        ),
        // folded keys, Kelvin sign and long s
        (
            "{\"Lin\u{212A}\u{17F}\":[\"a\"],\"\u{17F}ecurityopt\":[]}",
            r#"{"Links":["a"],"SecurityOpt":[]}"#,
        ),
        ("{\"Image\u{200B}\":\"x\",\"\u{212B}\":1}", r#"{}"#),
    ];
    for (body, want) in cases {
        let s = create(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(round_trip(&s), *want, "{body}");
    }
}

#[test]
fn decode_refusals() {
    use ErrorKind::*;
    let cases: &[(&str, ErrorKind)] = &[
        (r#"{"Image":1}"#, Type),
        (r#"{"Privileged":"true"}"#, Type),
        (r#"{"Privileged":0}"#, Type),
        (r#"{"Memory":1.0}"#, Type),
        (r#"{"Memory":1e3}"#, Type),
        (r#"{"Memory":9223372036854775808}"#, Type),
        (r#"{"Memory":-9223372036854775809}"#, Type),
        (r#"{"Memory":"1"}"#, Type),
        (r#"{"BlkioWeight":65536}"#, Type),
        (r#"{"BlkioWeight":-0}"#, Type),
        (r#"{"IOMaximumIOps":18446744073709551616}"#, Type),
        (r#"{"IOMaximumIOps":-1}"#, Type),
        (r#"{"Env":"a"}"#, Type),
        (r#"{"Env":[1]}"#, Type),
        (r#"{"Labels":[]}"#, Type),
        (r#"{"ExposedPorts":{"80/tcp":true}}"#, Type),
        (r#"{"Cmd":1}"#, Type),
        (r#"{"Cmd":[["a"]]}"#, Type),
        (r#"{"Healthcheck":[]}"#, Type),
        (r#"{"ConsoleSize":[1.5]}"#, Type),
        (r#"[]"#, Type),
        (r#""x""#, Type),
        (r#"{"Image":"x"} {}"#, TrailingData),
        (r#"{"StopTimeout":2147483648}"#, PlatformRange),
        (r#"{"StopTimeout":-2147483649}"#, PlatformRange),
        (r#"{"ConsoleSize":[4294967296,0]}"#, PlatformRange),
        (r#"{"StopTimeout":9223372036854775808}"#, Type),
        (r#"{"ConsoleSize":[-1,0]}"#, Type),
        ("{\"\u{131}mage\":\"x\"}", AmbiguousKey),
        ("{\"\u{130}mage\":\"x\"}", AmbiguousKey),
        ("{\"Imag\u{e9}\":\"x\"}", AmbiguousKey),
        ("{\"\u{17F}ecurity\u{d6}pt\":[]}", AmbiguousKey),
        (r#"{"Env":["a"],"Env":[null]}"#, SliceReuse),
        (
            r#"{"Mounts":[{"Type":"bind"}],"Mounts":[{"Source":"/"}]}"#,
            SliceReuse,
        ),
        (
            r#"{"Ulimits":[{"Name":"a"}],"Ulimits":[{"Soft":1}]}"#,
            SliceReuse,
        ),
        (
            r#"{"DeviceRequests":[{"Capabilities":[["a"]]}],"DeviceRequests":[{"Capabilities":[[null]]}]}"#,
            SliceReuse,
        ),
    ];
    for (body, want) in cases {
        match create(body) {
            Ok(s) => panic!("{body}: accepted as {}", Decoded::Struct(s).to_json()),
            Err(e) => assert_eq!(e.kind(), *want, "{body}: {e}"),
        }
    }
}

#[test]
fn numbers_by_width() {
    let dec = |lit: &str, s: Schema| decode(&Value::Number(lit.into()), &s).ok();
    assert_eq!(dec("127", Schema::Int(8)), Some(Decoded::Int(127)));
    assert_eq!(dec("128", Schema::Int(8)), None);
    assert_eq!(dec("-128", Schema::Int(8)), Some(Decoded::Int(-128)));
    assert_eq!(dec("-129", Schema::Int(8)), None);
    assert_eq!(dec("-32768", Schema::Int(16)), Some(Decoded::Int(-32768)));
    assert_eq!(dec("2147483648", Schema::Int(32)), None);
    assert_eq!(dec("255", Schema::Uint(8)), Some(Decoded::Uint(255)));
    assert_eq!(dec("256", Schema::Uint(8)), None);
    assert_eq!(dec("-0", Schema::Uint(8)), None);
    assert_eq!(
        dec("4294967295", Schema::Uint(32)),
        Some(Decoded::Uint(u32::MAX.into()))
    );
    assert_eq!(dec("99999999999999999999999", Schema::Uint(64)), None);
    // Go's int and uint: what fits 32 bits, whatever the daemon's platform
    let err = |lit: &str, s: Schema| {
        decode(&Value::Number(lit.into()), &s)
            .err()
            .map(|e| e.kind())
    };
    assert_eq!(
        dec("2147483647", Schema::GoInt),
        Some(Decoded::Int(i32::MAX.into()))
    );
    assert_eq!(
        dec("-2147483648", Schema::GoInt),
        Some(Decoded::Int(i32::MIN.into()))
    );
    assert_eq!(
        err("2147483648", Schema::GoInt),
        Some(ErrorKind::PlatformRange)
    );
    assert_eq!(
        err("-9223372036854775808", Schema::GoInt),
        Some(ErrorKind::PlatformRange)
    );
    assert_eq!(
        err("9223372036854775808", Schema::GoInt),
        Some(ErrorKind::Type)
    );
    assert_eq!(err("1.0", Schema::GoInt), Some(ErrorKind::Type));
    assert_eq!(
        dec("4294967295", Schema::GoUint),
        Some(Decoded::Uint(u32::MAX.into()))
    );
    assert_eq!(
        err("4294967296", Schema::GoUint),
        Some(ErrorKind::PlatformRange)
    );
    assert_eq!(err("-1", Schema::GoUint), Some(ErrorKind::Type));
    assert!(!Decoded::Int(1 << 31).conforms(&Schema::GoInt));
    assert!(Decoded::Int(-(1 << 31)).conforms(&Schema::GoInt));
    assert_eq!(dec("1e2", Schema::Float64), Some(Decoded::Float(100.0)));
    assert_eq!(dec("-0", Schema::Float64), Some(Decoded::Float(-0.0)));
    assert_ne!(dec("-0", Schema::Float64), Some(Decoded::Float(0.0)));
    assert_eq!(dec("1e-400", Schema::Float64), Some(Decoded::Float(0.0)));
    assert_eq!(dec("1e400", Schema::Float64), None);
    assert_eq!(
        dec("1.7976931348623158e308", Schema::Float64),
        Some(Decoded::Float(f64::MAX))
    );
    assert_eq!(dec("1.7976931348623159e308", Schema::Float64), None);
    assert_eq!(dec("1e400", Schema::Any), None);
    assert_eq!(
        Decoded::Float(-0.0)
            .to_json()
            .parse::<f64>()
            .map(f64::to_bits),
        Ok((-0.0f64).to_bits())
    );
}

#[test]
fn policy_edits() {
    let mut w = create(r#"{"Image":"x","HostConfig":{"Binds":["/:/h"]},"Labels":{"a":"b"}}"#)
        .expect("decodes");
    // read
    assert_eq!(w.get("Image").and_then(Decoded::as_str), Some("x"));
    assert_eq!(w.get("Privileged"), None);
    let inner = w
        .get("HostConfig")
        .and_then(Decoded::as_struct)
        .expect("inner");
    assert_eq!(
        inner
            .get("Binds")
            .and_then(Decoded::as_list)
            .map(<[_]>::len),
        Some(1)
    );
    assert!(w.field("HostConfig").is_none(), "no top-level host config");
    // set a label on the existing map, and on a missing one
    w.get_mut("Labels")
        .and_then(Decoded::as_map_mut)
        .expect("labels")
        .insert("owner".into(), Decoded::Str("job".into()));
    // a promoted field allocates the embedded *HostConfig
    assert_eq!(w.set("Privileged", Decoded::Bool(false)), Ok(None));
    assert!(w.field("HostConfig").is_some());
    // the inner HostConfig, through its own struct
    let inner = w
        .get_mut("HostConfig")
        .and_then(Decoded::as_struct_mut)
        .expect("inner");
    assert_eq!(inner.set("Privileged", Decoded::Bool(true)), Ok(None));
    assert!(inner.set("Privileged", Decoded::Str("yes".into())).is_err());
    assert!(inner.set("Memory", Decoded::Uint(1)).is_err());
    assert!(inner.set("BlkioWeight", Decoded::Uint(65536)).is_err());
    assert!(inner.set("NoSuchField", Decoded::Bool(true)).is_err());
    assert_eq!(
        inner
            .remove("Binds")
            .as_ref()
            .and_then(Decoded::as_list)
            .map(<[_]>::len),
        Some(1)
    );
    assert_eq!(
        round_trip(&w),
        r#"{"Image":"x","Labels":{"a":"b","owner":"job"},"HostConfig":{"Privileged":true},"Privileged":false}"#
    );
    // Null clears; clearing the only field leaves the embedded pointer
    // allocated, as Go would after {"Privileged":null}.
    assert_eq!(
        w.set("Privileged", Decoded::Null),
        Ok(Some(Decoded::Bool(false)))
    );
    assert!(round_trip(&w).ends_with(r#""Binds":null}"#));
    // Go field names reach embedded structs; by-value ones cannot be nil.
    assert!(w.set_field("HostConfig", Decoded::Null).is_ok());
    assert!(w.field("HostConfig").is_none());
    let mut hc = Struct::new(&moby::HOST_CONFIG);
    assert!(hc.set_field("Resources", Decoded::Null).is_err());
    assert!(
        hc.set_field("Resources", Decoded::Struct(Struct::new(&moby::RESOURCES)))
            .is_ok()
    );
    assert!(
        hc.set_field("Resources", Decoded::Struct(Struct::new(&moby::CONFIG)))
            .is_err()
    );
    assert!(hc.set("CpuShares", Decoded::Int(2)).is_ok());
    assert_eq!(Decoded::Struct(hc).to_json(), r#"{"CpuShares":2}"#);
}

#[test]
fn conforms_checks_invariants() {
    let w = create(r#"{"Image":"x","Cmd":"a","ConsoleSize":[1,2]}"#).expect("decodes");
    assert!(Decoded::Struct(w.clone()).conforms(&moby::CONTAINER_CREATE));
    assert!(!Decoded::Struct(w).conforms(&Schema::Struct(&moby::CONFIG)));
    assert!(!Decoded::Float(f64::NAN).conforms(&Schema::Float64));
    assert!(!Decoded::Float(f64::INFINITY).conforms(&Schema::Any));
    assert!(!Decoded::List(vec![Decoded::Uint(1)]).conforms(&Schema::Array(2, &Schema::Uint(64))));
    assert!(
        Decoded::List(vec![Decoded::Null]).conforms(&Schema::Slice(&Schema::Ptr(&Schema::Bool)))
    );
    assert!(!Decoded::List(vec![Decoded::Null]).conforms(&Schema::Slice(&Schema::Bool)));
    assert!(!Decoded::List(vec![Decoded::Null]).conforms(&Schema::StrSlice));
    let mut m = BTreeMap::new();
    m.insert("k".to_owned(), Decoded::Int(1));
    assert!(!Decoded::Map(m).conforms(&Schema::Map(&Schema::String)));
}

// ---- properties ----

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?".prop_map(Value::Number),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z\u{17F}\u{212A}]{0,4}", inner), 0..6)
                .prop_map(Value::Object),
        ]
    })
}

/// Object keys that hit moby's names, folded or not, and some that miss.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Image",
            "image",
            "Cmd",
            "Env",
            "Labels",
            "HostConfig",
            "Privileged",
            "PRIVILEGED",
            "Memory",
            "CpuShares",
            "Binds",
            "Mounts",
            "Type",
            "Source",
            "ConsoleSize",
            "NetworkingConfig",
            "EndpointsConfig",
            "Aliases",
            "Healthcheck",
            "Test",
            "Ulimits",
            "Name",
            "Soft",
            "Lin\u{212A}\u{17F}",
            "Foo",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{1,3}",
    ]
}

/// JSON whose shape often fits moby's types somewhere.
fn arb_body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            "0",
            "-0",
            "1",
            "65536",
            "-1",
            "1.5",
            "1e3",
            "18446744073709551615"
        ])
        .prop_map(|n| Value::Number(n.into())),
        "[a-z/:]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6).prop_map(Value::Object),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn reader_round_trips(v in arb_value()) {
        let json = v.to_json();
        prop_assert_eq!(parse(json.as_bytes()), Ok(v));
    }

    #[test]
    fn reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn decoded_round_trips(v in arb_body()) {
        for (name, schema) in moby::ALL {
            if let Ok(d) = decode(&v, schema) {
                prop_assert!(d.conforms(schema), "{} {}", name, d);
                let json = d.to_json();
                let back = decode_bytes(json.as_bytes(), schema);
                prop_assert_eq!(back.as_ref(), Ok(&d), "{} {}", name, json);
                prop_assert_eq!(back.map(|b| b.to_json()), Ok(json));
            }
        }
    }
}
