//! Differential tests: the gateway's reading of JSON request bodies
//! (`buildgate::gojson` with the schemas of `gojson::moby`) against Go's
//! own `encoding/json` decoding into replicas of moby's types
//! (`tests/go/jsondecode`, built here with the installed `go`). Skipped when
//! `go` is missing, except under `CI=true`, where that is a failure.
//!
//! For every body, Go's decoded value and the gateway's must be the same
//! Go value (compared through a dump of every field, nil-ness of pointers,
//! maps and slices included), or Go must refuse it and the gateway too, or
//! the gateway must refuse it for one of its deliberate reasons
//! (`ErrorKind::go_accepts`). Whatever the gateway accepts, its own
//! re-serialisation must decode in Go to that same value.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use buildgate::gojson::{self, Decoded, ErrorKind, Field, Schema, StructDef, moby};

fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("oracle hex"))
        .collect()
}

/// Build the oracle, or `None` when `go` is unavailable outside CI.
fn oracle() -> Option<(tempfile::TempDir, PathBuf)> {
    let have_go = Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_go {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`go` is required for the JSON differential test in CI"
        );
        eprintln!("skipping: `go` not found");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("jsondecode");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/go/jsondecode/main.go");
    let mut cmd = Command::new("go");
    cmd.arg("build").arg("-o").arg(&bin).arg(&src);
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        cmd.env("GOCACHE", dir.path().join("gocache"));
    }
    let out = cmd.output().expect("run go build");
    assert!(
        out.status.success(),
        "go build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((dir, bin))
}

/// Go's answer to one question: `Ok(dump)` or `Err(message)`.
type Answer = Result<String, String>;

fn ask(bin: &PathBuf, lines: &[String]) -> Vec<Answer> {
    let mut input = String::new();
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start oracle");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        stdin
            .write_all(input.as_bytes())
            .expect("write oracle input")
    });
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer thread");
    assert!(out.status.success(), "oracle failed");
    let answers: Vec<Answer> = String::from_utf8(out.stdout)
        .expect("oracle output is ASCII")
        .lines()
        .map(|l| match l.split_once('\t') {
            Some(("ok", d)) => Ok(d.to_owned()),
            Some(("err", m)) => Err(String::from_utf8_lossy(&unhex(m)).into_owned()),
            _ => panic!("oracle said {l:?}"),
        })
        .collect();
    assert_eq!(answers.len(), lines.len(), "one answer per question");
    answers
}

fn short_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// The schema described the way the oracle describes its Go types.
fn layout(s: &Schema, seen: &mut HashSet<&'static str>, out: &mut String) {
    match s {
        Schema::StrSlice => out.push_str("StrSlice"),
        Schema::Ptr(e) => {
            out.push('*');
            layout(e, seen, out);
        }
        Schema::Slice(e) => {
            out.push_str("[]");
            layout(e, seen, out);
        }
        Schema::Array(n, e) => {
            out.push_str(&format!("[{n}]"));
            layout(e, seen, out);
        }
        Schema::Map(e) => {
            out.push_str("map[string]");
            layout(e, seen, out);
        }
        Schema::Struct(def) => {
            let name = if def.name == "struct {}" {
                def.name
            } else {
                short_name(def.name)
            };
            out.push_str("struct ");
            out.push_str(name);
            if !seen.insert(name) {
                return;
            }
            out.push('{');
            for (i, f) in def.fields.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                let emb = if f.embedded { " embedded" } else { "" };
                out.push_str(&format!("{} {:?}{emb} ", f.name, f.tag));
                layout(&f.schema, seen, out);
            }
            out.push('}');
        }
        Schema::Any => out.push_str("interface {}"),
        Schema::Int(b) => out.push_str(&format!("int{b}")),
        Schema::Uint(b) => out.push_str(&format!("uint{b}")),
        Schema::GoInt => out.push_str("int"),
        Schema::GoUint => out.push_str("uint"),
        Schema::Float64 => out.push_str("float64"),
        Schema::Bool => out.push_str("bool"),
        Schema::String => out.push_str("string"),
    }
}

/// The decoded value as the oracle dumps its Go value: every field, zero
/// values written out.
fn dump(v: Option<&Decoded>, s: &Schema, out: &mut String) {
    let v = v.filter(|d| !d.is_null());
    match s {
        Schema::Ptr(inner) => match v {
            None => out.push_str("nil"),
            Some(x) => {
                out.push('&');
                dump(Some(x), inner, out);
            }
        },
        Schema::Any => match v {
            None => out.push_str("nil"),
            Some(x) => dump_any(x, out),
        },
        Schema::Struct(def) => dump_struct(v, def, out),
        Schema::Map(e) => match v {
            None => out.push_str("nil"),
            Some(Decoded::Map(m)) => {
                out.push_str("map{");
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&hex(k.as_bytes()));
                    out.push(':');
                    dump(Some(x), e, out);
                }
                out.push('}');
            }
            Some(_) => out.push('?'),
        },
        Schema::Slice(_) | Schema::StrSlice | Schema::Array(..) => {
            let e = match s {
                Schema::Slice(e) | Schema::Array(_, e) => e,
                _ => &Schema::String,
            };
            match (v, s) {
                (None, Schema::Array(n, e)) => {
                    out.push('[');
                    for i in 0..*n {
                        if i > 0 {
                            out.push(',');
                        }
                        dump(None, e, out);
                    }
                    out.push(']');
                }
                (None, _) => out.push_str("nil"),
                (Some(Decoded::List(items)), _) => {
                    out.push('[');
                    for (i, x) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        dump(Some(x), e, out);
                    }
                    out.push(']');
                }
                _ => out.push('?'),
            }
        }
        Schema::String => match v {
            None => out.push_str("\"\""),
            Some(Decoded::Str(x)) => out.push_str(&format!("\"{}\"", hex(x.as_bytes()))),
            _ => out.push('?'),
        },
        Schema::Bool => match v {
            None => out.push_str("false"),
            Some(Decoded::Bool(b)) => out.push_str(&b.to_string()),
            _ => out.push('?'),
        },
        Schema::Int(_) | Schema::GoInt => match v {
            None => out.push('0'),
            Some(Decoded::Int(i)) => out.push_str(&i.to_string()),
            _ => out.push('?'),
        },
        Schema::Uint(_) | Schema::GoUint => match v {
            None => out.push('0'),
            Some(Decoded::Uint(u)) => out.push_str(&u.to_string()),
            _ => out.push('?'),
        },
        Schema::Float64 => match v {
            None => out.push_str(&format!("f{:016x}", 0u64)),
            Some(Decoded::Float(f)) => out.push_str(&format!("f{:016x}", f.to_bits())),
            _ => out.push('?'),
        },
    }
}

fn dump_struct(v: Option<&Decoded>, def: &StructDef, out: &mut String) {
    let st = match v {
        None => None,
        Some(Decoded::Struct(st)) => Some(st),
        Some(_) => {
            out.push('?');
            return;
        }
    };
    out.push('{');
    for (i, f) in def.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(f.name);
        out.push('=');
        dump(st.and_then(|s| s.field(f.name)), &f.schema, out);
    }
    out.push('}');
}

fn dump_any(v: &Decoded, out: &mut String) {
    match v {
        Decoded::Null => out.push_str("nil"),
        Decoded::Bool(b) => out.push_str(&b.to_string()),
        Decoded::Float(f) => out.push_str(&format!("f{:016x}", f.to_bits())),
        Decoded::Str(s) => out.push_str(&format!("\"{}\"", hex(s.as_bytes()))),
        Decoded::List(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                dump_any(x, out);
            }
            out.push(']');
        }
        Decoded::Map(m) => {
            out.push_str("map{");
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&hex(k.as_bytes()));
                out.push(':');
                dump_any(x, out);
            }
            out.push('}');
        }
        _ => out.push('?'),
    }
}

macro_rules! f {
    (embed $name:literal, $schema:expr) => {
        Field {
            name: $name,
            tag: "",
            embedded: true,
            schema: $schema,
        }
    };
    (embed $name:literal, $tag:literal, $schema:expr) => {
        Field {
            name: $name,
            tag: $tag,
            embedded: true,
            schema: $schema,
        }
    };
    ($name:literal, $tag:literal, $schema:expr) => {
        Field {
            name: $name,
            tag: $tag,
            embedded: false,
            schema: $schema,
        }
    };
    ($name:literal, $schema:expr) => {
        Field {
            name: $name,
            tag: "",
            embedded: false,
            schema: $schema,
        }
    };
}

// Go's embedding and naming rules, one case each: the `Torture` type of
// the oracle (see its comment there for what each field is for).
static T_INNER: StructDef = StructDef {
    name: "main.TInner",
    fields: &[
        f!("A", Schema::String),
        f!("B", Schema::GoInt),
        f!("Dup", Schema::String),
        f!("T", Schema::String),
    ],
};
static T_OTHER: StructDef = StructDef {
    name: "main.TOther",
    fields: &[
        f!("Dup", Schema::String),
        f!("C", Schema::Bool),
        f!("Tagged", "T", Schema::String),
    ],
};
static T_DEEP: StructDef = StructDef {
    name: "main.TDeep",
    fields: &[f!("A", Schema::String), f!("D", Schema::String)],
};
static T_DEEP2: StructDef = StructDef {
    name: "main.TDeep2",
    fields: &[f!("H", Schema::String)],
};
static T_TAG: StructDef = StructDef {
    name: "main.TTag",
    fields: &[f!("X", "Same", Schema::String)],
};
static T_UNTAG: StructDef = StructDef {
    name: "main.TUntag",
    fields: &[f!("Same", Schema::String)],
};
static T_MID: StructDef = StructDef {
    name: "main.TMid",
    fields: &[
        f!(embed "TDeep", Schema::Struct(&T_DEEP)),
        f!(embed "TDeep2", Schema::Ptr(&Schema::Struct(&T_DEEP2))),
        f!(embed "TOther", Schema::Struct(&T_OTHER)),
        f!("E", Schema::String),
    ],
};
static T_MID2: StructDef = StructDef {
    name: "main.TMid2",
    fields: &[
        f!(embed "TDeep", Schema::Struct(&T_DEEP)),
        f!(embed "TTag", Schema::Struct(&T_TAG)),
        f!("G", Schema::String),
    ],
};
static TORTURE: StructDef = StructDef {
    name: "main.Torture",
    fields: &[
        f!(embed "TInner", Schema::Ptr(&Schema::Struct(&T_INNER))),
        f!(embed "TOther", Schema::Struct(&T_OTHER)),
        f!(embed "TMid", Schema::Ptr(&Schema::Struct(&T_MID))),
        f!(embed "TMid2", Schema::Struct(&T_MID2)),
        f!(embed "TUntag", Schema::Struct(&T_UNTAG)),
        f!(embed "TDeep2", "Td", Schema::Struct(&T_DEEP2)),
        f!(embed "TTag", "Tp", Schema::Ptr(&Schema::Struct(&T_TAG))),
        f!("Named", "Named", Schema::Struct(&T_INNER)),
        f!("F", Schema::Float64),
        f!("Any", Schema::Any),
        f!("I8", Schema::Int(8)),
        f!("I16", Schema::Int(16)),
        f!("I32", Schema::Int(32)),
        f!("U8", Schema::Uint(8)),
        f!("U32", Schema::Uint(32)),
        f!("Arr", Schema::Array(3, &Schema::String)),
        f!("PS", Schema::Slice(&Schema::Ptr(&Schema::Struct(&T_INNER)))),
        f!("MS", Schema::Map(&Schema::Struct(&T_INNER))),
        f!("MP", Schema::Map(&Schema::Ptr(&Schema::Struct(&T_INNER)))),
        f!("SS", Schema::Slice(&Schema::Slice(&Schema::String))),
        f!("SA", Schema::Slice(&Schema::Any)),
        f!("Skip", "-", Schema::String),
        f!("Dash", "-,", Schema::String),
        f!("Weird", "we ird!", Schema::String),
        f!("Quote", "a'b", Schema::String),
        f!("Ab", Schema::String),
        f!("AB", Schema::String),
        f!("KelvinSk", Schema::String),
        f!("Cmd", Schema::StrSlice),
    ],
};

/// Every schema the oracle knows, by its name there.
fn all_schemas() -> Vec<(&'static str, Schema)> {
    let mut all = moby::ALL.to_vec();
    all.push(("torture", Schema::Struct(&TORTURE)));
    all
}

fn schema(name: &str) -> Schema {
    all_schemas()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .expect("known schema")
}

#[test]
fn schemas_match_the_go_types() {
    let Some((_dir, bin)) = oracle() else { return };
    let all = all_schemas();
    let lines: Vec<String> = all.iter().map(|(n, _)| format!("layout\t{n}")).collect();
    let answers = ask(&bin, &lines);
    for ((name, s), go) in all.iter().zip(answers) {
        gojson::validate(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut ours = String::new();
        layout(s, &mut HashSet::new(), &mut ours);
        let go = go.expect("layout answer");
        assert_eq!(ours, go, "{name}: schema and Go types differ");
    }
}

/// What a case may do besides agreeing with Go.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Read as Go reads it, or refused where Go refuses it.
    Go,
    /// Go accepts it; the gateway refuses it for this reason.
    Refuse(ErrorKind),
    /// Either of the above, with one of these reasons.
    GoOrRefuse(&'static [ErrorKind]),
}

/// Schema name, body, expectation.
type Case = (&'static str, Vec<u8>, Expect);

/// Hand-written bodies, each aimed at one rule.
fn hand_written() -> Vec<Case> {
    let create: &[&str] = &[
        // plain and embedded top-level HostConfig fields
        r#"{"Image":"x"}"#,
        r#"{"Image":"x","Privileged":true}"#,
        r#"{"Image":"x","HostConfig":{"Privileged":true}}"#,
        r#"{"Image":"x","Privileged":false,"HostConfig":{"Privileged":true}}"#,
        r#"{"Privileged":null}"#,
        r#"{"Memory":null}"#,
        r#"{"Image":null}"#,
        r#"{"HostConfig":null}"#,
        r#"{"HostConfig":{}}"#,
        r#"{"NetworkingConfig":null,"Cpuset":"0-1"}"#,
        r#"{}"#,
        r#"null"#,
        r#" {"Image" : "x" } "#,
        // case folding
        r#"{"image":"a"}"#,
        r#"{"IMAGE":"a","image":"b"}"#,
        r#"{"image":"a","Image":"b","iMaGe":"c"}"#,
        r#"{"privileged":true}"#,
        r#"{"PRIVILEGED":true}"#,
        r#"{"hostconfig":{"privileged":true}}"#,
        r#"{"HOSTCONFIG":{"PRIVILEGED":true,"BINDS":["/:/h"]}}"#,
        r#"{"cpushares":5,"CPUSHARES":6}"#,
        r#"{"CPUShares":7}"#,
        r#"{"DNS":["1.1.1.1"],"dns":["8.8.8.8"]}"#,
        r#"{"HostIP":"x","PortBindings":{"80/tcp":[{"hostip":"1.2.3.4","HOSTPORT":"8080"}]}}"#,
        "{\"Label\u{17F}\":{\"a\":\"b\"}}",
        "{\"\u{17F}ecurityOpt\":[\"seccomp=unconfined\"]}",
        "{\"HostConfig\":{\"\u{17F}ecurityOpt\":[\"x\"],\"Link\u{17F}\":[\"a:b\"]}}",
        "{\"Lin\u{212A}s\":[\"a:b\"]}",
        "{\"Network\u{212A}ode\":\"host\"}",
        "{\"NetworkMode\":\"bridge\",\"Network\u{212A}ode\":\"host\"}",
        "{\"\u{212A}ernelMemory\":1}",
        "{\"Health\u{212A}heck\":{\"Test\":[\"NONE\"]}}",
        "{\"Healthchec\u{212A}\":{\"Test\":[\"NONE\"]}}",
        "{\"Healthchec\u{212A}\":{\"Te\u{17F}t\":[\"NONE\"]}}",
        "{\"Privileged\u{200B}\":true}",
        r#"{"Im\u0061ge":"escaped key"}"#,
        r#"{"Privileg\u0065d":true}"#,
        r#"{"Privileged ":true,"privilegeD":false}"#,
        // unknown keys, any value, never looked at
        r#"{"Foo":1,"Image":"x"}"#,
        r#"{"Foo":{"a":[1,2,{"b":null}]},"Bar":1e999,"Baz":"\u00e9"}"#,
        r#"{"InnerHostConfig":{"Privileged":true}}"#,
        r#"{"Config":{"Image":"x"}}"#,
        r#"{"Resources":{"Memory":1}}"#,
        // duplicates: structs merge
        r#"{"HostConfig":{"Privileged":true},"HostConfig":{"Memory":5}}"#,
        r#"{"HostConfig":{"Privileged":true},"HostConfig":null}"#,
        r#"{"HostConfig":{"Privileged":true},"HostConfig":null,"HostConfig":{"Memory":1}}"#,
        r#"{"HostConfig":{"LogConfig":{"Type":"json-file"}},"HostConfig":{"LogConfig":{"Config":{"a":"b"}}}}"#,
        r#"{"HostConfig":{"RestartPolicy":{"Name":"always"}},"HostConfig":{"RestartPolicy":null}}"#,
        r#"{"Healthcheck":{"Test":["CMD","true"]},"Healthcheck":{"Retries":3}}"#,
        r#"{"Image":"a","Image":"b"}"#,
        r#"{"Privileged":true,"Privileged":false}"#,
        r#"{"Privileged":true,"Privileged":null}"#,
        r#"{"Image":"a","Image":null}"#,
        // duplicates: maps merge, values fresh
        r#"{"Labels":{"a":"1"},"Labels":{"b":"2"}}"#,
        r#"{"Labels":{"a":"1"},"Labels":{"a":null}}"#,
        r#"{"Labels":{"a":"1","a":"2"}}"#,
        r#"{"Labels":{"a":"1"},"Labels":null}"#,
        r#"{"Labels":{"a":"1"},"Labels":null,"Labels":{"b":"2"}}"#,
        r#"{"Labels":{}}"#,
        r#"{"NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":["x"]}}},"NetworkingConfig":{"EndpointsConfig":{"n":{"Links":["y"]}}}}"#,
        r#"{"NetworkingConfig":{"EndpointsConfig":{"n":null}}}"#,
        r#"{"NetworkingConfig":{"EndpointsConfig":{"n":{"IPAMConfig":{"IPv4Address":"1.2.3.4"}}}}}"#,
        r#"{"ExposedPorts":{"80/tcp":{}},"ExposedPorts":{"443/tcp":{"x":1}}}"#,
        r#"{"ExposedPorts":{"80/tcp":null}}"#,
        r#"{"ExposedPorts":{"80/tcp":1}}"#,
        r#"{"Volumes":{"/data":{}}}"#,
        r#"{"PortBindings":{"80/tcp":[{"HostPort":"1"}]},"PortBindings":{"80/tcp":[{"HostIp":"0.0.0.0"}]}}"#,
        r#"{"HostConfig":{"Tmpfs":{"/t":""},"Sysctls":{"net.ipv4.ip_forward":"1"},"StorageOpt":{"size":"1G"}}}"#,
        // duplicates: slices
        r#"{"Env":["A=1"],"Env":["B=2"]}"#,
        r#"{"Env":["A=1","B=2","C=3"],"Env":["D=4"]}"#,
        r#"{"Env":["A=1"],"Env":[]}"#,
        r#"{"Env":["A=1"],"Env":null}"#,
        r#"{"Env":["A=1"],"Env":null,"Env":[null]}"#,
        r#"{"Env":[],"Env":[null]}"#,
        r#"{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}"#,
        r#"{"Mounts":[],"Mounts":[{"Target":"/x"}]}"#,
        r#"{"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":10}],"BlkioWeightDevice":[null]}"#,
        r#"{"Ulimits":[{"Name":"nofile","Soft":1,"Hard":2}],"Ulimits":[null,null]}"#,
        r#"{"DeviceRequests":[{"Capabilities":[["gpu"]]}]}"#,
        r#"{"HostConfig":{"Binds":["/a:/a"]},"HostConfig":{"Binds":["/b:/b"]}}"#,
        // arrays
        r#"{"ConsoleSize":[24,80]}"#,
        r#"{"ConsoleSize":[24]}"#,
        r#"{"ConsoleSize":[24,80,1]}"#,
        r#"{"ConsoleSize":[24,80,"x"]}"#,
        r#"{"ConsoleSize":[24,80],"ConsoleSize":[1]}"#,
        r#"{"ConsoleSize":[24,80],"ConsoleSize":[null]}"#,
        r#"{"ConsoleSize":[24,80],"ConsoleSize":null}"#,
        r#"{"ConsoleSize":[]}"#,
        r#"{"ConsoleSize":[-1]}"#,
        // StrSlice
        r#"{"Cmd":"echo hi"}"#,
        r#"{"Cmd":["echo","hi"]}"#,
        r#"{"Cmd":null}"#,
        r#"{"Cmd":[]}"#,
        r#"{"Cmd":["a",null]}"#,
        r#"{"Cmd":["a"],"Cmd":"b"}"#,
        r#"{"Cmd":"a","Cmd":null}"#,
        r#"{"Cmd":[1]}"#,
        r#"{"Cmd":{}}"#,
        r#"{"Cmd":true}"#,
        r#"{"Entrypoint":"sh","Shell":["/bin/sh","-c"],"CapAdd":"SYS_ADMIN","CapDrop":["ALL"]}"#,
        // wrong types
        r#"{"Image":1}"#,
        r#"{"Image":true}"#,
        r#"{"Image":["x"]}"#,
        r#"{"Privileged":"true"}"#,
        r#"{"Privileged":1}"#,
        r#"{"Memory":"1"}"#,
        r#"{"Memory":true}"#,
        r#"{"Env":"A=1"}"#,
        r#"{"Env":[1]}"#,
        r#"{"Labels":[]}"#,
        r#"{"Labels":{"a":1}}"#,
        r#"{"HostConfig":[]}"#,
        r#"{"HostConfig":"x"}"#,
        r#"{"HostConfig":{"LogConfig":"json-file"}}"#,
        r#"{"Healthcheck":5}"#,
        r#"{"StopTimeout":"10"}"#,
        r#"[]"#,
        r#""x""#,
        r#"1"#,
        // numbers at the edges
        r#"{"Memory":9223372036854775807}"#,
        r#"{"Memory":9223372036854775808}"#,
        r#"{"Memory":-9223372036854775808}"#,
        r#"{"Memory":-9223372036854775809}"#,
        r#"{"Memory":-0}"#,
        r#"{"Memory":1.0}"#,
        r#"{"Memory":1e3}"#,
        r#"{"Memory":1E3}"#,
        r#"{"Memory":0.5}"#,
        r#"{"Memory":123456789012345678901234567890}"#,
        r#"{"BlkioWeight":65535}"#,
        r#"{"BlkioWeight":65536}"#,
        r#"{"BlkioWeight":-0}"#,
        r#"{"BlkioWeight":-1}"#,
        r#"{"IOMaximumIOps":18446744073709551615}"#,
        r#"{"IOMaximumIOps":18446744073709551616}"#,
        r#"{"ConsoleSize":[4294967295,0]}"#,
        r#"{"OomScoreAdj":-2147483648,"RestartPolicy":{"MaximumRetryCount":2147483647}}"#,
        r#"{"OomScoreAdj":-9223372036854775809}"#,
        r#"{"StopTimeout":-1}"#,
        r#"{"StopTimeout":null}"#,
        r#"{"StopTimeout":10,"StopTimeout":null}"#,
        r#"{"MemorySwappiness":100,"OomKillDisable":false,"PidsLimit":-1,"Init":true}"#,
        r#"{"Mounts":[{"TmpfsOptions":{"Mode":4294967295}}]}"#,
        r#"{"Mounts":[{"TmpfsOptions":{"Mode":4294967296}}]}"#,
        r#"{"Healthcheck":{"Interval":1000000000,"Timeout":-1,"StartPeriod":0,"Retries":3}}"#,
        // strings
        r#"{"Image":"\u00e9\ud83d\ude00\u0000\n\"\\\/"}"#,
        r#"{"Image":"é😀"}"#,
        r#"{"Labels":{"\u00e9":"v"}}"#,
        // syntax, trailing data, BOM, depth
        r#"{"Image":"x"}   "#,
        r#"{"Image":"x",}"#,
        r#"{"Image":'x'}"#,
        r#"{"Image":"x""#,
        r#"{Image:"x"}"#,
        r#"{"Memory":01}"#,
        r#"{"Memory":+1}"#,
        r#"{"Memory":.5}"#,
        r#"{"Memory":1.}"#,
        r#"{"Image":"a	b"}"#,
        r#"{"Image":"\x"}"#,
        r#"{"Image":"\u12"}"#,
        r#"{"Memory":NaN}"#,
        r#"{"Privileged":True}"#,
        "",
        "   ",
        "\u{FEFF}{\"Image\":\"x\"}",
    ];
    let mut out: Vec<Case> = create
        .iter()
        .map(|s| ("create", s.as_bytes().to_vec(), Expect::Go))
        .collect();
    // Bodies Go accepts and the gateway refuses on purpose.
    let refused: &[(&str, ErrorKind)] = &[
        (
            r#"{"Env":["A=1","B=2","C=3"],"Env":[null]}"#,
            ErrorKind::SliceReuse,
        ),
        (
            r#"{"Env":["a","b","c"],"Env":[null],"Env":[null,null,null]}"#,
            ErrorKind::SliceReuse,
        ),
        (
            r#"{"Mounts":[{"Type":"bind","Source":"/"}],"Mounts":[{"Target":"/x"}]}"#,
            ErrorKind::SliceReuse,
        ),
        (
            r#"{"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":10}],"BlkioWeightDevice":[{"Weight":5}]}"#,
            ErrorKind::SliceReuse,
        ),
        (
            r#"{"DeviceRequests":[{"Count":-1}],"DeviceRequests":[{"Driver":"nvidia"}]}"#,
            ErrorKind::SliceReuse,
        ),
        (
            r#"{"HostConfig":{"Mounts":[{"Source":"/"}]},"HostConfig":{"Mounts":[{"Target":"/t"}]}}"#,
            ErrorKind::SliceReuse,
        ),
        (
            r#"{"ConsoleSize":[1,2],"DeviceRequests":[{"Capabilities":[["a"]]}],"DeviceRequests":[{"Capabilities":[["b"]]}]}"#,
            ErrorKind::SliceReuse,
        ),
        (r#"{"Image":"a\ud800"}"#, ErrorKind::LoneSurrogate),
        (r#"{"Image":"a\udc00b"}"#, ErrorKind::LoneSurrogate),
        (r#"{"Image":"a\ud800\u0041"}"#, ErrorKind::LoneSurrogate),
        (r#"{"Labels":{"k\ud800":"v"}}"#, ErrorKind::LoneSurrogate),
        (r#"{"Foo":"\udfff\ud800"}"#, ErrorKind::LoneSurrogate),
        (r#"{"Image":"x"} trailing"#, ErrorKind::TrailingData),
        (
            r#"{"Image":"x"}{"Privileged":true}"#,
            ErrorKind::TrailingData,
        ),
        (r#"{"Image":"x"}]"#, ErrorKind::TrailingData),
        (
            r#"{"ConsoleSize":[18446744073709551615,0]}"#,
            ErrorKind::PlatformRange,
        ),
        (r#"{"OomScoreAdj":2147483648}"#, ErrorKind::PlatformRange),
        (r#"{"StopTimeout":-2147483649}"#, ErrorKind::PlatformRange),
        ("{\"\u{131}mage\":\"dotless i\"}", ErrorKind::AmbiguousKey),
        ("{\"\u{130}mage\":\"dotted I\"}", ErrorKind::AmbiguousKey),
        ("{\"Privil\u{e8}ged\":true}", ErrorKind::AmbiguousKey),
    ];
    out.extend(
        refused
            .iter()
            .map(|(b, k)| ("create", b.as_bytes().to_vec(), Expect::Refuse(*k))),
    );
    // raw bytes that are not UTF-8 (Go reads U+FFFD)
    for b in [
        &b"{\"Image\":\"a\xffb\"}"[..],
        b"{\"Labels\":{\"k\xc3\":\"v\"}}",
        b"{\"Foo\":\"\xed\xa0\x80\"}",
    ] {
        out.push(("create", b.to_vec(), Expect::Refuse(ErrorKind::InvalidUtf8)));
    }
    // nesting at and beyond the limit, in an unknown key Go never reads
    for depth in [
        gojson::MAX_DEPTH - 1,
        gojson::MAX_DEPTH,
        gojson::MAX_DEPTH + 1,
        500,
    ] {
        let body = format!(
            "{{\"Foo\":{}{},\"Image\":\"x\"}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        );
        let expect = if depth > gojson::MAX_DEPTH {
            Expect::Refuse(ErrorKind::Depth)
        } else {
            Expect::Go
        };
        out.push(("create", body.into_bytes(), expect));
    }
    let others: &[(&str, &str)] = &[
        (
            "update",
            r#"{"Memory":1,"RestartPolicy":{"Name":"always"}}"#,
        ),
        (
            "update",
            r#"{"memory":1,"restartpolicy":{"name":"no"},"Resources":{}}"#,
        ),
        (
            "update",
            r#"{"RestartPolicy":{"Name":"a"},"RestartPolicy":{"MaximumRetryCount":3}}"#,
        ),
        ("update", r#"{"CpuShares":"x"}"#),
        ("exec", r#"{"Cmd":["sh"],"Privileged":true,"User":"root"}"#),
        ("exec", r#"{"Cmd":"sh"}"#),
        ("exec", r#"{"cmd":["a"],"CMD":["b"],"Env":null}"#),
        (
            "netcreate",
            r#"{"Name":"n","Driver":"bridge","IPAM":{"Config":[{"Subnet":"10.0.0.0/8","AuxiliaryAddresses":{"a":"10.0.0.2"}}]}}"#,
        ),
        (
            "netcreate",
            r#"{"name":"n","NetworkCreate":{"Driver":"x"}}"#,
        ),
        (
            "netcreate",
            r#"{"AuxAddress":{},"IPAM":{"Config":[{"auxaddress":{"a":"b"}}]}}"#,
        ),
        (
            "netcreate",
            r#"{"ConfigFrom":{"Network":"x"},"ConfigFrom":null}"#,
        ),
        (
            "netcreate",
            r#"{"Labels":{"a":"b"},"Labels":{"c":"d"},"Internal":true}"#,
        ),
        (
            "netconnect",
            r#"{"Container":"c","EndpointConfig":{"Aliases":["a"]},"EndpointConfig":{"Links":["l"]}}"#,
        ),
        ("netconnect", r#"{"Container":"c","EndpointConfig":null}"#),
        ("netdisconnect", r#"{"Container":"c","Force":true}"#),
        (
            "volcreate",
            r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"tmpfs"}}"#,
        ),
        (
            "volcreate",
            r#"{"name":"v","labels":{"a":"b"},"Labels":{"c":"d"}}"#,
        ),
        ("volcreate", r#"{"Name":1}"#),
    ];
    out.extend(
        others
            .iter()
            .map(|(s, b)| (*s, b.as_bytes().to_vec(), Expect::Go)),
    );
    let torture: &[&str] = &[
        r#"{"A":"a","B":1,"Dup":"x","T":"t","C":true,"D":"d","H":"h","E":"e","G":"g","Same":"s"}"#,
        r#"{"H":null}"#,
        r#"{"E":null}"#,
        r#"{"G":null}"#,
        r#"{"B":null}"#,
        r#"{"Dup":"cancelled","D":"cancelled","X":"not a name","Tagged":"not a name"}"#,
        r#"{"t":"folds to the tagged T","same":"S","h":"H"}"#,
        r#"{"Td":{"H":"named"},"Tp":{"Same":"p"},"TDeep2":{"H":"x"},"TTag":{}}"#,
        r#"{"Tp":null}"#,
        r#"{"Named":{"A":"n"},"Named":{"B":2},"named":null}"#,
        r#"{"Skip":"hidden","-":"dash","we ird!":"w","WE IRD!":"w2","a'b":"q","Quote":"q2"}"#,
        r#"{"ab":"first by index","AB":"exact","aB":"first again"}"#,
        r#"{"Ab":"x","ab":"y"}"#,
        "{\"\u{212A}elvin\u{17F}k\":\"k\"}",
        "{\"kelvin\u{17F}\u{212A}\":\"k\"}",
        "{\"KELVINSK\":\"k\"}",
        r#"{"F":1.5,"F":-0,"Any":{"a":1,"a":{"b":[1,"x",null,true]}}}"#,
        r#"{"F":1e400}"#,
        r#"{"F":1e-400}"#,
        r#"{"F":4.9e-324}"#,
        r#"{"F":2.2250738585072011e-308}"#,
        r#"{"F":1.7976931348623157e308}"#,
        r#"{"F":0.1,"Any":0.30000000000000004}"#,
        r#"{"Any":1e400}"#,
        r#"{"Any":-0}"#,
        r#"{"F":"1"}"#,
        r#"{"I8":127,"I16":-32768,"I32":2147483647,"U8":255,"U32":4294967295}"#,
        r#"{"I8":128}"#,
        r#"{"I16":-32769}"#,
        r#"{"I32":2147483648}"#,
        r#"{"U8":256}"#,
        r#"{"U8":-0}"#,
        r#"{"Arr":["a","b","c","d",5]}"#,
        r#"{"Arr":["a"],"Arr":[null,"b"]}"#,
        r#"{"Arr":null}"#,
        r#"{"PS":[{"A":"a"},null]}"#,
        r#"{"PS":[{"A":"a"}],"PS":[null]}"#,
        r#"{"MS":{"k":{"A":"a"}},"MS":{"k":{"B":1}}}"#,
        r#"{"MP":{"k":{"A":"a"}},"MP":{"k":{"B":1},"j":null}}"#,
        r#"{"SS":[["a"],null,[]]}"#,
        r#"{"SS":[["a"]],"SS":[["b","c"]]}"#,
        r#"{"SA":[1,"a",null]}"#,
        r#"{"SA":[1],"SA":[{"x":1}]}"#,
        r#"{"Cmd":"x","cmd":["y"],"CMD":null}"#,
    ];
    out.extend(
        torture
            .iter()
            .map(|b| ("torture", b.as_bytes().to_vec(), Expect::Go)),
    );
    out.push((
        "torture",
        br#"{"Arr":["a"],"SS":[["a"]],"SS":[null,["b",null]]}"#.to_vec(),
        Expect::Refuse(ErrorKind::SliceReuse),
    ));
    out.push((
        "exec",
        br#"{"Cmd":["a","b"],"Cmd":[null]}"#.to_vec(),
        Expect::Refuse(ErrorKind::SliceReuse),
    ));
    out
}

/// Deterministic pseudo-random bodies built from the schema itself.
struct Gen {
    x: u64,
}

impl Gen {
    fn next(&mut self) -> usize {
        self.x = self
            .x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.x >> 33) as usize
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() % n.max(1)
    }
    fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.0",
    "1e3",
    "0.5",
    "-1.5e-3",
    "127",
    "-129",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1e400",
    "1e-400",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "4.9e-324",
];

const STRINGS: &[&str] = &[
    r#""""#,
    r#""x""#,
    r#""host""#,
    r#""a b""#,
    r#""\u0000""#,
    r#""é""#,
    r#""\u00e9""#,
    r#""\ud83d\ude00""#,
    r#""\/\"\\\n""#,
    r#""80/tcp""#,
    r#""\ud800""#,
];

/// A JSON name Go matches to the field, or nearly: case flips, the Kelvin
/// sign and long s, an escaped letter, or a near miss.
fn spell(g: &mut Gen, name: &str) -> String {
    if !g.chance(40) {
        return name.to_owned();
    }
    let mut out = String::new();
    let variant = g.below(6);
    for c in name.chars() {
        let c = match (variant, c) {
            (0, c) if g.chance(50) => {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            }
            (1, _) => c.to_ascii_uppercase(),
            (2, _) => c.to_ascii_lowercase(),
            (3, 's' | 'S') if g.chance(70) => '\u{17F}',
            (3, 'k' | 'K') if g.chance(70) => '\u{212A}',
            (4, c) if g.chance(20) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
                continue;
            }
            (5, 'i' | 'I') if g.chance(50) => '\u{131}',
            (_, c) => c,
        };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    if variant == 5 && g.chance(30) {
        out.push('x');
    }
    out
}

/// Every JSON name reachable in `def` (promoted ones included), with the
/// type behind it; names Go cancels out appear too, which is fine.
fn names(def: &'static StructDef, out: &mut Vec<(&'static str, Schema)>) {
    for f in def.fields {
        let tag = f.tag.split(',').next().unwrap_or("");
        if f.tag == "-" {
            continue;
        }
        match (f.embedded, tag.is_empty(), &f.schema) {
            (true, true, Schema::Struct(d) | Schema::Ptr(Schema::Struct(d))) => names(d, out),
            _ => out.push((if tag.is_empty() { f.name } else { tag }, f.schema)),
        }
    }
}

fn any_value(g: &mut Gen, depth: usize) -> String {
    match g.below(if depth > 3 { 4 } else { 6 }) {
        0 => "null".into(),
        1 => g.pick(&["true", "false"]).into(),
        2 => g.pick(NUMBERS).into(),
        3 => g.pick(STRINGS).into(),
        4 => {
            let n = g.below(3);
            let items: Vec<String> = (0..n).map(|_| any_value(g, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = g.below(3);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "{}:{}",
                        g.pick(&[r#""a""#, r#""b""#]),
                        any_value(g, depth + 1)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

fn gen_value(g: &mut Gen, s: &Schema, depth: usize) -> String {
    if g.chance(10) {
        return "null".into();
    }
    if g.chance(5) || depth > 5 {
        return any_value(g, depth.max(3));
    }
    match s {
        Schema::Bool => g.pick(&["true", "false"]).into(),
        Schema::String => g.pick(STRINGS).into(),
        Schema::Int(_) | Schema::Uint(_) | Schema::GoInt | Schema::GoUint | Schema::Float64 => {
            g.pick(NUMBERS).into()
        }
        Schema::Any => any_value(g, depth),
        Schema::StrSlice => {
            if g.chance(40) {
                g.pick(STRINGS).into()
            } else {
                let n = g.below(3);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        if g.chance(85) {
                            g.pick(STRINGS).to_owned()
                        } else {
                            any_value(g, 4)
                        }
                    })
                    .collect();
                format!("[{}]", items.join(","))
            }
        }
        Schema::Ptr(inner) => gen_value(g, inner, depth),
        Schema::Slice(e) | Schema::Array(_, e) => {
            let n = g.below(4);
            let items: Vec<String> = (0..n).map(|_| gen_value(g, e, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        Schema::Map(e) => {
            let n = g.below(3);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    let k = g.pick(&[r#""a""#, r#""b""#, r#""80/tcp""#, r#""é""#]);
                    format!("{k}:{}", gen_value(g, e, depth + 1))
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Schema::Struct(def) => gen_object(g, def, depth),
    }
}

fn gen_object(g: &mut Gen, def: &'static StructDef, depth: usize) -> String {
    let mut all = Vec::new();
    names(def, &mut all);
    let mut members: Vec<String> = Vec::new();
    let mut used: Vec<(&'static str, Schema)> = Vec::new();
    let n = if depth == 0 {
        1 + g.below(6)
    } else {
        g.below(4)
    };
    for _ in 0..n {
        if g.chance(5) {
            members.push(format!(
                "{}:{}",
                g.pick(&[r#""Foo""#, r#""Config""#, r#""Resources""#, r#""x""#]),
                any_value(g, depth)
            ));
            continue;
        }
        let (name, s) = if !used.is_empty() && g.chance(20) {
            used[g.below(used.len())]
        } else if all.is_empty() {
            continue;
        } else {
            all[g.below(all.len())]
        };
        used.push((name, s));
        members.push(format!(
            "\"{}\":{}",
            spell(g, name),
            gen_value(g, &s, depth + 1)
        ));
    }
    format!("{{{}}}", members.join(","))
}

/// The generator's strings include a lone surrogate, its bodies repeat
/// keys, it spells some with a dotless i and its numbers include 64-bit
/// ones, so these refusals are expected; nothing else is.
const GENERATED_REFUSALS: &[ErrorKind] = &[
    ErrorKind::LoneSurrogate,
    ErrorKind::SliceReuse,
    ErrorKind::AmbiguousKey,
    ErrorKind::PlatformRange,
];

fn generated() -> Vec<Case> {
    let mut g = Gen { x: 0x5eed };
    let mut out = Vec::new();
    for (name, s) in &all_schemas() {
        let n = match *name {
            "create" => 1500,
            "torture" => 600,
            _ => 150,
        };
        for _ in 0..n {
            out.push((
                *name,
                gen_value(&mut g, s, 0).into_bytes(),
                Expect::GoOrRefuse(GENERATED_REFUSALS),
            ));
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    both_ok: usize,
    both_err: usize,
    refused: BTreeMap<String, usize>,
}

fn run(bin: &PathBuf, cases: &[Case]) -> Tally {
    let questions: Vec<String> = cases
        .iter()
        .map(|(s, b, _)| format!("decode\t{s}\t{}", hex(b)))
        .collect();
    let answers = ask(bin, &questions);
    let mut tally = Tally::default();
    let mut again = Vec::new();
    for ((name, body, expect), go) in cases.iter().zip(answers) {
        let s = schema(name);
        let shown = String::from_utf8_lossy(body);
        let ours = gojson::decode_bytes(body, &s);
        match (&ours, &go, expect) {
            (Err(_), Err(_), Expect::Go | Expect::GoOrRefuse(_)) => tally.both_err += 1,
            (Ok(d), Err(e), _) => panic!(
                "{name} {shown}: Go refuses ({e}) but the gateway reads {}",
                d.to_json()
            ),
            (Err(e), Ok(_), Expect::Refuse(k)) if e.kind() == *k => {
                *tally.refused.entry(format!("{k:?}")).or_default() += 1;
            }
            (Err(e), Ok(_), Expect::GoOrRefuse(ks)) if ks.contains(&e.kind()) => {
                assert!(e.kind().go_accepts(), "{e}");
                *tally.refused.entry(format!("{:?}", e.kind())).or_default() += 1;
            }
            (Err(e), Ok(_), _) => panic!(
                "{name} {shown}: Go accepts, the gateway refuses ({:?}: {e}), expected {expect:?}",
                e.kind()
            ),
            (_, _, Expect::Refuse(k)) => {
                panic!(
                    "{name} {shown}: expected a {k:?} refusal of what Go accepts, got {ours:?} / {go:?}"
                )
            }
            (Ok(d), Ok(go_dump), _) => {
                let mut mine = String::new();
                dump(Some(d), &s, &mut mine);
                assert_eq!(&mine, go_dump, "{name} {shown}: readings differ");
                tally.both_ok += 1;
            }
        }
        if let Ok(d) = ours {
            let json = d.to_json();
            let back = gojson::decode_bytes(json.as_bytes(), &s)
                .unwrap_or_else(|e| panic!("{name} {shown}: own output {json} refused: {e}"));
            assert_eq!(
                back, d,
                "{name} {shown}: own output {json} reads differently"
            );
            let mut mine = String::new();
            dump(Some(&d), &s, &mut mine);
            again.push((name, shown.into_owned(), json, mine));
        }
    }
    let questions: Vec<String> = again
        .iter()
        .map(|(s, _, json, _)| format!("decode\t{s}\t{}", hex(json.as_bytes())))
        .collect();
    let answers = ask(bin, &questions);
    for ((name, shown, json, mine), go) in again.iter().zip(answers) {
        match go {
            Ok(go_dump) => assert_eq!(
                mine, &go_dump,
                "{name} {shown}: Go reads the gateway's {json} differently"
            ),
            Err(e) => panic!("{name} {shown}: Go refuses the gateway's {json}: {e}"),
        }
    }
    tally
}

#[test]
fn hand_written_bodies_agree_with_go() {
    let Some((_dir, bin)) = oracle() else { return };
    let cases = hand_written();
    let t = run(&bin, &cases);
    eprintln!(
        "{} hand-written: {} read alike, {} refused by both, refused by the gateway only: {:?}",
        cases.len(),
        t.both_ok,
        t.both_err,
        t.refused
    );
    assert!(
        t.both_ok > 100 && t.both_err > 40,
        "too few cases exercised"
    );
    for kind in [
        ErrorKind::TrailingData,
        ErrorKind::InvalidUtf8,
        ErrorKind::LoneSurrogate,
        ErrorKind::Depth,
        ErrorKind::SliceReuse,
        ErrorKind::AmbiguousKey,
        ErrorKind::PlatformRange,
    ] {
        assert!(
            t.refused.contains_key(&format!("{kind:?}")),
            "no case refused for {kind:?}"
        );
    }
}

#[test]
fn generated_bodies_agree_with_go() {
    let Some((_dir, bin)) = oracle() else { return };
    let cases = generated();
    let t = run(&bin, &cases);
    eprintln!(
        "{} generated: {} read alike, {} refused by both, refused by the gateway only: {:?}",
        cases.len(),
        t.both_ok,
        t.both_err,
        t.refused
    );
    assert!(
        t.both_ok > cases.len() / 5 && t.both_err > cases.len() / 10,
        "the generator no longer exercises both outcomes"
    );
}
