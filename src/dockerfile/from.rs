//! What each `FROM` builds on: the base name and platform the classic builder
//! computes, before the daemon sees the Dockerfile.
//!
//! The gateway resolves every `FROM` to the image the daemon would use, inspects
//! it (base images with `ONBUILD` triggers are refused: their triggers run inside
//! the `FROM` step, before the owner LABEL) and pins it by image ID. For that it
//! must expand each `FROM` exactly like the daemon: meta `ARG`s, build arguments,
//! `--platform`, stage names. This module does that from plain inputs (the `ARG`
//! and `FROM` instructions as [`crate::dockerfile`]'s scanner yields them, the
//! escape character, the `buildargs`, `platform` and `target` of the request) and
//! refuses, like the rest of the gateway, whatever daemon versions read
//! differently.
//!
//! # What the daemon does (moby `builder/dockerfile`)
//!
//! * `instructions.Parse` parses **every** instruction first; a parse error
//!   anywhere fails the build. The `ARG`s before the first `FROM` are the meta
//!   args. With `target`, `build` keeps the stages up to the first one whose
//!   name matches (`HasStage`, `strings.EqualFold`) and never runs the others.
//! * `processMetaArg`, once per meta `ARG` instruction, in order: every key and
//!   value of the line is expanded with `ProcessWord` and the variables
//!   `GetAllAllowed()` gives *before* the line (so `ARG A=1 B=$A` does not see
//!   this `A`), then each pair is declared (`AddArg`, `AddMetaArg`). Declaring a
//!   name again without a value forgets its default.
//! * The value of a variable (`getBuildArg`): a build argument with a non-null
//!   value wins; else the declared default; else it is unset. Only declared meta
//!   args and the predefined proxy args (`builtinAllowedBuildArgs`) exist; a
//!   build argument that is neither is invisible. Proxy args need no `ARG`: a
//!   build argument `HTTP_PROXY` is visible to `FROM` as it is.
//! * `dispatchDockerfileWithCancellation`, per kept stage in order:
//!   `checkStageNameAvailable` (a name already used by an earlier stage fails),
//!   then `initializeStage`: a non-empty `--platform` is expanded with
//!   `getExpandedString` (the meta args, `GetAllMeta()`) and must parse
//!   (`platforms.Parse`; 20.10 also calls `system.ValidatePlatform`, a no-op on
//!   Linux); the base name is expanded the same way and must not be empty
//!   (`getFromImage`);
//!   `getImageOrStage` looks the lowercased name up among the stages *finished
//!   before this one* (`stagesBuildResults.getByName`, so a stage cannot be its
//!   own base, nor a later one), then compares it with `scratch` (exactly,
//!   after the stage lookup: a stage named `scratch` wins), then pulls or finds
//!   the image for the `--platform`, or the request's `platform` when the `FROM`
//!   has none.
//! * `parseFrom` and `extractBuilderFlags`: the builder flags (`--name=value`
//!   words, quotes and escapes processed) come off the front of the text, then
//!   the rest is split on `[\t\v\f\r ]+` with no quote processing
//!   (`parseStringsWhitespaceDelimited`, so `FROM "busybox"` keeps its quotes
//!   until `ProcessWord` removes them). One word, or three with `AS`
//!   (`strings.EqualFold`); the stage name is lowercased (`strings.ToLower`) and
//!   must match `^[a-z][a-z0-9-_.]*$`. `--platform` is the only flag `FROM`
//!   takes: an unknown flag, a second `--platform`, or `--platform` without `=`
//!   fail the build in every version; `--platform=` (empty) means none.
//! * `parseArg` on `parseWords`: one or more `name` or `name=value` words per
//!   `ARG` (already so in v0.8); a word with an empty name fails, an `ARG`
//!   without words fails. Flags are extracted and silently ignored.
//!
//! # Where daemon versions differ (refused)
//!
//! Read from moby v20.10.0/v20.10.24, v23.0.18, v24.0.9, v25.0.15, v26.1.5,
//! v27.0.3, v27.5.1, v28.0.0, v28.5.2, docker-v29.1.0 and master
//! (`builder/dockerfile/{buildargs,builder,dispatchers,evaluator}.go`, moved
//! to `daemon/builder/dockerfile/` in 2025) and the buildkit each vendors
//! (`frontend/dockerfile/{instructions/parse.go,instructions/bflag.go,
//! parser/split_command.go,parser/line_parsers.go}`); `builder.go`,
//! `dispatchers.go`, `evaluator.go`, `parseFrom`, `parseArg`, `parseWords` and
//! `BFlags.Parse` agree in everything but messages.
//!
//! * **Predefined args.** moby 20.10's `builtinAllowedBuildArgs` has
//!   `HTTP_PROXY`, `HTTPS_PROXY`, `FTP_PROXY`, `NO_PROXY` (and lowercase); moby 23
//!   added `ALL_PROXY`/`all_proxy`. An `ALL_PROXY` build argument is therefore
//!   visible without an `ARG` in 23+ and not in 20.10: a lookup of `ALL_PROXY` or
//!   `all_proxy` that is not declared by a meta `ARG` while the build argument is
//!   set is refused ("declare it with ARG"). No version of the classic builder
//!   defines `BUILDPLATFORM`, `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH` or any
//!   other automatic arg (BuildKit's frontend does, the classic builder does
//!   not): they are ordinary, unset-unless-declared names everywhere, so
//!   `FROM --platform=$BUILDPLATFORM x` fails in every classic builder (the
//!   platform expands to nothing), and is refused with that explanation.
//! * **Escapes in builder flags.** `extractBuilderFlags` uses a hard-coded `\`
//!   up to buildkit v0.20 (moby ≤ 28.0) and the file's escape character from
//!   v0.21 (moby 28.1+). Under ``# escape=` `` the two readings can give different
//!   flags *and* a different rest of the line; both are computed and the `FROM`
//!   is refused when they differ.
//! * **Unicode.** `extractBuilderFlags` walks bytes, turning each byte of a
//!   multi-byte character into a Latin-1 rune (and `U+0085`/`U+00A0` bytes into
//!   word breaks); `strings.ToLower`/`EqualFold` fold a few non-ASCII letters to
//!   ASCII (U+212A KELVIN SIGN to `k`, `ſ` to `s`) with the Unicode tables of the
//!   daemon's Go release. So non-ASCII text in builder flags, stage names, the
//!   `AS` word, the `target` and expanded base names is refused; none of them
//!   can be a valid name or reference anyway.
//! * `ProcessWord` itself: see [`super::shell`].
//!
//! Also refused, though all versions agree, because the gateway cannot or
//! should not model it: flags on `ARG` (ignored by the daemon, but where they
//! end depends on the flag escape above), meta `ARG` names that `ProcessWord`
//! would change (`ARG $K=v`, `ARG "A"=v`: an expanded name containing `=` is
//! split again by `BuildEnvs` and collides at random in Go's map), and base names
//! with whitespace or control characters (never a valid reference). Two of the
//! version rules refuse more than strictly needed: an `ALL_PROXY` lookup is
//! refused even where its value ends up unused, and flags are compared before
//! `ProcessWord`: under ``# escape=` ``, ``--platform=a`b`` gives the value
//! ``a`b`` to old daemons and `ab` to new ones, which both expand to `ab`.
//!
//! These results were cross-checked by hand (not in CI: the reference is Go)
//! against the vendored code of moby v20.10.24 and master wired together the way
//! `dispatchDockerfileWithCancellation` does it, on 120,000 generated instruction
//! lists: no accepted input gives a different result from either, and every input
//! on which the two disagree is refused.
//!
//! # What the caller must know
//!
//! * `args` is the scanner's `Instr::args`: `strings.TrimSpace` of the text after
//!   the keyword. The daemon runs `extractBuilderFlags` on that text *before* the
//!   trim; the two differ only when the text after the keyword starts with a
//!   Unicode space outside `[\t\v\f\r ]` (U+0085, U+00A0, U+1680, U+2000–U+200A,
//!   U+2028, U+2029, U+202F, U+205F, U+3000) followed by `--`: the daemon then
//!   sees no flags (and usually fails), this module sees them. A gateway that
//!   writes its own `FROM` line is not misled by that, one that forwards the
//!   original text must refuse such lines.
//! * The platform strings are returned expanded, not parsed: `platforms.Parse`
//!   (containerd) normalises them and has changed between releases.
//!
//! # Limits
//!
//! Every expanded word is at most [`MAX_EXPANDED_LEN`] bytes and all expansions
//! of one evaluation insert at most [`MAX_INSERTED_BYTES`] bytes of variable
//! values; the work is linear in the input plus that (see [`super::shell`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::shell::{self, Budget, ShellError, ShellErrorKind, Vars};
use super::{go_trim_space, is_re_whitespace, parse_words};

/// Longest expanded word (base name, platform, meta `ARG` value).
pub const MAX_EXPANDED_LEN: usize = 64 * 1024;

/// Total bytes of variable values inserted by one evaluation.
pub const MAX_INSERTED_BYTES: usize = 16 * 1024 * 1024;

/// `builtinAllowedBuildArgs` of every version, moby 20.10 included.
const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Added to `builtinAllowedBuildArgs` in moby 23.
const PROXY_ARGS_SINCE_23: [&str; 2] = ["ALL_PROXY", "all_proxy"];

/// One instruction of the Dockerfile, as the scanner yields it after line joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction<'a> {
    /// The lowercased keyword; only `arg` and `from` are looked at, the others
    /// are skipped.
    pub keyword: &'a str,
    /// The text after the keyword, flags included, trimmed (see the module docs).
    pub args: &'a str,
    /// 1-based line number, for messages.
    pub line: usize,
}

/// The build request's parameters that decide how `FROM`s expand.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The file's escape character (`# escape=`): `\` or `` ` ``.
    pub escape: char,
    /// The `buildargs` parameter, decoded as Go decodes it into
    /// `map[string]*string` (`newImageBuildOptions`); `None` is a JSON `null`.
    pub build_args: &'a BTreeMap<String, Option<String>>,
    /// The `platform` the daemon uses; empty means none. dockerd reads the
    /// parameter only from API version 1.32 on (`newImageBuildOptions`), so a
    /// request to an older API path has none, whatever its query says.
    pub platform: Option<&'a str>,
    /// The `target` parameter; empty means none.
    pub target: Option<&'a str>,
}

/// One `FROM`, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 1-based line of the `FROM`.
    pub line: usize,
    /// The `AS` name, lowercased like `parseBuildStageName`.
    pub name: Option<String>,
    /// What the daemon will build on; `None` for the stages after `target`,
    /// which the daemon parses but never runs.
    pub base: Option<Base>,
}

/// The base of a stage the daemon runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The expanded base name, as `getImageOrStage` receives it.
    pub name: String,
    /// The expanded `--platform` of the `FROM`, if it has a non-empty one; not
    /// validated (the daemon's `platforms.Parse` is containerd's, and differs
    /// between releases).
    pub platform: Option<String>,
    /// The platform the image is looked up for: the `FROM`'s, else the request's.
    pub effective_platform: Option<String>,
    pub kind: BaseKind,
}

/// What the base name refers to, in `getImageOrStage`'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseKind {
    /// An earlier stage (index into the returned stages): not an image to resolve.
    Stage(usize),
    /// `scratch`: no image.
    Scratch,
    /// An image reference or ID, to be resolved and inspected.
    Image,
}

/// Why the `FROM`s could not be evaluated. `Display` is written for the CI user
/// who has to change the Dockerfile or the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromError {
    line: Option<usize>,
    message: String,
}

impl FromError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        FromError {
            line: Some(line),
            message: message.into(),
        }
    }

    fn new(message: impl Into<String>) -> Self {
        FromError {
            line: None,
            message: message.into(),
        }
    }

    /// The 1-based line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FromError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "Dockerfile line {n}: {}", self.message),
            None => write!(f, "Dockerfile: {}", self.message),
        }
    }
}

impl std::error::Error for FromError {}

/// A parsed `FROM` (`parseFrom`), before expansion.
struct ParsedFrom<'a> {
    line: usize,
    base: &'a str,
    /// `flPlatform.Value`: empty when absent or `--platform=`.
    platform: String,
    name: Option<String>,
}

/// A parsed meta `ARG` (`parseArg`): keys and unexpanded values.
struct ParsedArg {
    line: usize,
    pairs: Vec<(String, Option<String>)>,
}

/// Evaluates every `FROM` like the classic builder of every supported daemon;
/// see the module docs.
pub fn evaluate<'a, I>(instructions: I, request: &Request<'_>) -> Result<Vec<Stage>, FromError>
where
    I: IntoIterator<Item = Instruction<'a>>,
{
    if request.escape != '\\' && request.escape != '`' {
        return Err(FromError::new(format!(
            "invalid escape character {:?}",
            request.escape
        )));
    }
    // instructions.Parse: everything is parsed before anything runs.
    let mut meta = Vec::new();
    let mut froms = Vec::new();
    for ins in instructions {
        match ins.keyword {
            "arg" => {
                let pairs =
                    parse_arg(ins.args, request.escape).map_err(|m| FromError::at(ins.line, m))?;
                if froms.is_empty() {
                    meta.push(ParsedArg {
                        line: ins.line,
                        pairs,
                    });
                }
            }
            "from" => froms.push(parse_from(ins, request.escape)?),
            _ => {}
        }
    }
    if froms.is_empty() {
        return Err(FromError::new(
            "no FROM instruction found; a Dockerfile must start a build stage with FROM",
        ));
    }
    let run = stages_to_run(&froms, request.target)?;

    let mut budget = Budget::new(MAX_EXPANDED_LEN, MAX_INSERTED_BYTES);
    let mut vars = MetaArgs {
        declared: HashMap::new(),
        build_args: request.build_args,
    };
    for arg in &meta {
        process_meta_arg(arg, request.escape, &mut vars, &mut budget)?;
    }

    let query_platform = request.platform.filter(|p| !p.is_empty());
    let mut finished: HashMap<&str, usize> = HashMap::new();
    let mut stages = Vec::with_capacity(froms.len());
    for (index, from) in froms.iter().enumerate() {
        let base = if index < run {
            if let Some(name) = &from.name
                && finished.contains_key(name.as_str())
            {
                return Err(FromError::at(
                    from.line,
                    format!("stage name {name:?} is already used by an earlier stage; rename one"),
                ));
            }
            let base = expand_base(from, request.escape, &vars, &mut budget, &finished)?;
            if let Some(name) = &from.name {
                finished.insert(name, index);
            }
            Some(Base {
                effective_platform: base
                    .platform
                    .clone()
                    .or_else(|| query_platform.map(str::to_string)),
                ..base
            })
        } else {
            None
        };
        stages.push(Stage {
            line: from.line,
            name: from.name.clone(),
            base,
        });
    }
    Ok(stages)
}

/// A `COPY --from` that names an image rather than an earlier stage, in a stage the
/// daemon runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// 1-based line where the `COPY` starts.
    pub line: usize,
    /// The `--from` value, as the daemon hands it to `imageSources.Get` (not expanded:
    /// no version of the classic builder expands `COPY` flags).
    pub image: String,
    /// Every builder flag of the instruction in order, quotes and escapes processed:
    /// `("--from", Some(value))`, `("--link", None)`.
    pub flags: Vec<(String, Option<String>)>,
    /// The rest of the instruction after the flags, as `extractBuilderFlags` leaves it.
    pub rest: String,
}

/// The images `COPY --from` reads from, in the stages `stages` (from [`evaluate`] over
/// the same instructions) says the daemon runs.
///
/// moby's `getImageMount` tries, in order: an earlier, finished stage by its name
/// (`strings.ToLower`), a stage index (`strconv.ParseInt`: an optional sign and decimal
/// digits that fit an `int64`; out of range is the daemon's error, never an image),
/// and otherwise an image, looked up (and pulled if absent) like a base. A stage sees
/// only the stages before it: its own name, or a later stage's, is an image name.
/// Values that are not ASCII are refused (Go's lowercasing folds a few non-ASCII
/// letters into stage names); so is a `--from` given twice (the daemon's error too).
pub fn copy_sources<'a, I>(
    instructions: I,
    escape: char,
    stages: &[Stage],
) -> Result<Vec<CopySource>, FromError>
where
    I: IntoIterator<Item = Instruction<'a>>,
{
    let mut sources = Vec::new();
    // Index of the stage the instruction is in; `None` before the first FROM.
    let mut current: Option<usize> = None;
    for ins in instructions {
        match ins.keyword {
            "from" => {
                current = Some(current.map_or(0, |c| c + 1));
                continue;
            }
            "copy" => {}
            _ => continue,
        }
        let Some(index) = current else { continue };
        let Some(stage) = stages.get(index) else {
            continue;
        };
        if stage.base.is_none() {
            // After `target`: never run.
            continue;
        }
        let err = |m: String| FromError::at(ins.line, m);
        let (rest, flags) = copy_flags(ins.args, escape).map_err(err)?;
        let from = flags
            .iter()
            .find(|(name, _)| name == "--from")
            .and_then(|(_, value)| value.clone());
        let Some(from) = from.filter(|f| !f.is_empty()) else {
            continue;
        };
        if !from.is_ascii() {
            return Err(err(format!(
                "COPY --from={from:?} is not ASCII; Docker versions match it against stage \
                 names differently, use the stage's name or an image reference in ASCII"
            )));
        }
        let lower = from.to_ascii_lowercase();
        let earlier_stage = stages[..index]
            .iter()
            .any(|s| s.name.as_deref() == Some(lower.as_str()));
        if earlier_stage || go_parse_int(&from) {
            continue;
        }
        sources.push(CopySource {
            line: ins.line,
            image: from,
            flags,
            rest: rest.to_string(),
        });
    }
    Ok(sources)
}

/// A `COPY`'s builder flags (up to `--`, quotes and escapes processed) and the rest of
/// its text; a `--from` given twice is refused.
pub fn copy_flags(args: &str, escape: char) -> Result<CopyFlags<'_>, String> {
    let (rest, words) =
        builder_flags(args, escape).map_err(|m| m.replace("FROM options", "COPY options"))?;
    let mut flags = Vec::with_capacity(words.len());
    for word in words {
        if word == "--" {
            break;
        }
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (word, None),
        };
        if name == "--from" && flags.iter().any(|(n, _)| n == "--from") {
            return Err(
                "COPY --from is given twice; Docker fails on this too, give it once".to_string(),
            );
        }
        flags.push((name, value));
    }
    Ok((rest, flags))
}

/// What [`copy_flags`] reads: the rest of the text, and each flag with its value.
pub type CopyFlags<'a> = (&'a str, Vec<(String, Option<String>)>);

/// The text after `COPY` with the `--from` of `source` replaced by `id`: the flags in
/// their order as plain words, then the instruction's rest as it was; checked to read
/// back (under `escape`) as the same flags and the same rest. The error says why the
/// instruction cannot be written back that way.
pub fn pin_copy(source: &CopySource, id: &str, escape: char) -> Result<String, String> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b':' | b'/' | b'.' | b'_' | b'-' | b'@' | b'+' | b'*')
            })
    };
    let mut flags = Vec::with_capacity(source.flags.len());
    let mut args = String::new();
    for (name, value) in &source.flags {
        let value = if name == "--from" {
            Some(id.to_string())
        } else {
            value.clone()
        };
        if !plain(name.trim_start_matches("--")) {
            return Err(format!("has the option {name:?}"));
        }
        args.push_str(name);
        if let Some(value) = &value {
            if !plain(value) {
                return Err(format!("has the option {name}={value:?}"));
            }
            args.push('=');
            args.push_str(value);
        }
        args.push(' ');
        flags.push((name.clone(), value));
    }
    let rest = source
        .rest
        .trim_start_matches(|c: char| c.is_ascii() && is_go_space_byte(c as u8));
    if rest.is_empty() {
        return Err("has nothing to copy".to_string());
    }
    if rest.ends_with(escape) {
        // Trimmed text that ends with the escape character (it was followed by a form
        // feed, say): on a line of its own it would continue onto the next line.
        return Err("ends with the escape character; remove it".to_string());
    }
    args.push_str(rest);
    match copy_flags(&args, escape) {
        Ok((again_rest, again_flags)) if again_flags == flags && again_rest == rest => Ok(args),
        _ => Err("does not read back the same when written on one line".to_string()),
    }
}

/// Whether `strconv.ParseInt(s, 10, 0)` succeeds on 64-bit Go: an optional sign, then
/// decimal digits whose value fits an `int64`.
fn go_parse_int(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && s.parse::<i64>().is_ok()
}

/// How many stages the daemon runs: all, or up to the first one named `target`
/// (`instructions.HasStage`, `strings.EqualFold`).
fn stages_to_run(froms: &[ParsedFrom<'_>], target: Option<&str>) -> Result<usize, FromError> {
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        return Ok(froms.len());
    };
    if !target.is_ascii() {
        return Err(FromError::new(format!(
            "build target {target:?} is not ASCII; Docker versions match such names differently, \
             and stage names are ASCII"
        )));
    }
    froms
        .iter()
        .position(|f| {
            f.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(target))
        })
        .map(|i| i + 1)
        .ok_or_else(|| {
            FromError::new(format!(
                "build target {target:?} is not the name of any stage in the Dockerfile"
            ))
        })
}

/// `processMetaArg`: expands the line's pairs with the variables before it,
/// then declares them in order.
fn process_meta_arg(
    arg: &ParsedArg,
    escape: char,
    vars: &mut MetaArgs<'_>,
    budget: &mut Budget,
) -> Result<(), FromError> {
    let mut expanded = Vec::with_capacity(arg.pairs.len());
    for (key, value) in &arg.pairs {
        if !shell::is_literal(key, escape) {
            return Err(FromError::at(
                arg.line,
                format!(
                    "ARG name {key:?} contains $, quotes or the escape character; Docker expands \
                     ARG names before the first FROM, the build service only accepts plain names"
                ),
            ));
        }
        let value = match value {
            Some(v) => Some(
                shell::process_word(v, escape, vars, budget)
                    .map_err(|e| shell_error(arg.line, &format!("ARG {key}"), e))?,
            ),
            None => None,
        };
        expanded.push((key.clone(), value));
    }
    for (key, value) in expanded {
        vars.declared.insert(key, value);
    }
    Ok(())
}

/// `initializeStage` and `getFromImage` up to the image lookup (the effective
/// platform is left for the caller).
fn expand_base(
    from: &ParsedFrom<'_>,
    escape: char,
    vars: &MetaArgs<'_>,
    budget: &mut Budget,
    finished: &HashMap<&str, usize>,
) -> Result<Base, FromError> {
    let platform = if from.platform.is_empty() {
        None
    } else {
        let p = shell::process_word(&from.platform, escape, vars, budget)
            .map_err(|e| shell_error(from.line, "FROM --platform", e))?;
        if p.is_empty() {
            return Err(FromError::at(
                from.line,
                format!(
                    "FROM --platform={} is empty after variable substitution and Docker cannot \
                     parse it; the classic builder does not define BUILDPLATFORM or \
                     TARGETPLATFORM: declare them with ARG before the first FROM and pass them as \
                     build arguments, or write the platform",
                    from.platform
                ),
            ));
        }
        Some(p)
    };
    let name = shell::process_word(from.base, escape, vars, budget)
        .map_err(|e| shell_error(from.line, "FROM", e))?;
    if name.is_empty() {
        return Err(FromError::at(
            from.line,
            format!(
                "base name ({}) is empty after variable substitution; Docker fails on this too, \
                 declare the variable with ARG before the first FROM and give it a value",
                from.base
            ),
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FromError::at(
            from.line,
            format!(
                "base name {name:?} (from {}) is not a valid image reference: it contains spaces, \
                 control or non-ASCII characters",
                from.base
            ),
        ));
    }
    let kind = match finished.get(name.to_ascii_lowercase().as_str()) {
        Some(&index) => BaseKind::Stage(index),
        None if name == "scratch" => BaseKind::Scratch,
        None => BaseKind::Image,
    };
    Ok(Base {
        name,
        platform,
        effective_platform: None,
        kind,
    })
}

fn shell_error(line: usize, what: &str, e: ShellError) -> FromError {
    FromError::at(line, format!("{what}: {e}"))
}

/// The variables `GetAllAllowed`/`GetAllMeta` give while the meta args are
/// processed and when a `FROM` is expanded; `getBuildArg` semantics.
struct MetaArgs<'a> {
    /// Declared meta args and their (expanded) defaults.
    declared: HashMap<String, Option<String>>,
    build_args: &'a BTreeMap<String, Option<String>>,
}

impl Vars for MetaArgs<'_> {
    fn lookup(&self, name: &str) -> Result<Option<&str>, ShellError> {
        let declared = self.declared.get(name);
        let newer_builtin = PROXY_ARGS_SINCE_23.contains(&name);
        if declared.is_none() && !newer_builtin && !PROXY_ARGS.contains(&name) {
            return Ok(None);
        }
        if let Some(Some(value)) = self.build_args.get(name) {
            if declared.is_none() && newer_builtin {
                return Err(ShellError::new(
                    ShellErrorKind::Lookup,
                    format!(
                        "the build argument {name} is predefined only from Docker 23 on, so \
                         older versions do not see it here; declare it with `ARG {name}` before \
                         the first FROM"
                    ),
                ));
            }
            return Ok(Some(value));
        }
        Ok(declared.and_then(|d| d.as_deref()))
    }
}

/// `parseArg` on `parseWords`: the `name` / `name=value` pairs, unexpanded.
fn parse_arg(args: &str, escape: char) -> Result<Vec<(String, Option<String>)>, String> {
    if args.starts_with("--") {
        return Err(
            "ARG does not take options (--...); Docker versions disagree on where they end, \
             remove them"
                .to_string(),
        );
    }
    let words = parse_words(args, escape);
    if words.is_empty() {
        return Err("ARG requires at least one argument; Docker fails on this too".to_string());
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(format!(
                "ARG {word:?} has an empty name; Docker fails on this too"
            )),
            Some((k, v)) => Ok((k.to_string(), Some(v.to_string()))),
            None => Ok((word, None)),
        })
        .collect()
}

/// `parseFrom`: builder flags, then one word or three with `AS`.
fn parse_from<'a>(ins: Instruction<'a>, escape: char) -> Result<ParsedFrom<'a>, FromError> {
    let err = |m: String| FromError::at(ins.line, m);
    let (rest, flags) = builder_flags(ins.args, escape).map_err(err)?;
    let mut platform = None;
    for flag in &flags {
        if flag == "--" {
            break;
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag.as_str(), None),
        };
        if name != "--platform" {
            return Err(err(format!(
                "unknown FROM option {name}; Docker fails on this too, FROM only takes --platform"
            )));
        }
        if platform.is_some() {
            return Err(err(
                "--platform is given twice; Docker fails on this too, give it once".to_string(),
            ));
        }
        let Some(value) = value else {
            return Err(err(
                "--platform needs a value (--platform=os/arch); Docker fails on this too"
                    .to_string(),
            ));
        };
        platform = Some(value.to_string());
    }
    // parseStringsWhitespaceDelimited on strings.TrimSpace(rest).
    let words: Vec<&'a str> = go_trim_space(rest)
        .split(is_re_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    let name = match words.as_slice() {
        [_] => None,
        [_, kw, name] if kw.is_ascii() && kw.eq_ignore_ascii_case("as") => {
            if !name.is_ascii() {
                return Err(err(format!(
                    "stage name {name:?} is not ASCII; Docker versions lowercase it differently, \
                     use ASCII letters, digits, '-', '_' and '.'"
                )));
            }
            let lower = name.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return Err(err(format!(
                    "invalid name for build stage: {name:?}; Docker fails on this too, a name \
                     starts with a letter and has only letters, digits, '-', '_' and '.'"
                )));
            }
            Some(lower)
        }
        [_, kw, _] if !kw.is_ascii() => {
            return Err(err(format!(
                "{kw:?} in FROM is not ASCII; Docker versions compare it with AS differently, \
                 write AS"
            )));
        }
        _ => {
            return Err(err(
                "FROM requires either one or three arguments (FROM image [AS name]); Docker fails \
                 on this too"
                    .to_string(),
            ));
        }
    };
    Ok(ParsedFrom {
        line: ins.line,
        base: words[0],
        platform: platform.unwrap_or_default(),
        name,
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// `extractBuilderFlags` under both readings: with `\` (buildkit ≤ v0.20, moby
/// ≤ 28.0) and with the file's escape character (v0.21+, moby 28.1+). They can
/// differ only under ``# escape=` ``.
fn builder_flags(line: &str, escape: char) -> Result<(&str, Vec<String>), String> {
    let old = extract_builder_flags(line, b'\\')?;
    if escape == '\\' {
        return Ok(old);
    }
    let new = extract_builder_flags(line, b'`')?;
    if old != new {
        return Err(
            "FROM options with \\ or ` under `# escape=`: Docker before 28.1 escapes them with \
             \\, later versions with `; remove both characters from the options"
                .to_string(),
        );
    }
    Ok(old)
}

/// `extractBuilderFlags` with escape byte `escape`: the `--` words at the front
/// (quotes and escapes processed) and the rest of the line. Go walks bytes; a
/// non-ASCII byte inside a flag word is refused (Go turns each byte into a
/// Latin-1 rune and splits words at the bytes 0x85 and 0xA0).
fn extract_builder_flags(line: &str, escape: u8) -> Result<(&str, Vec<String>), String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let non_ascii = || {
        "non-ASCII character in FROM options; Docker reads them byte by byte, use ASCII".to_string()
    };
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= b.len() {
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            let ch = b[pos];
            if is_go_space_byte(ch) {
                pos += 1;
                continue;
            }
            // Only keep going if the next word starts with "--".
            if ch != b'-' || b.get(pos + 1) != Some(&b'-') {
                return Ok((&line[pos..], words));
            }
            phase = Phase::Word;
        }
        if pos == b.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        let mut ch = b[pos];
        if phase == Phase::Word {
            if is_go_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return Ok((&line[pos..], words));
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == escape {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = b[pos];
            }
            if !ch.is_ascii() {
                return Err(non_ascii());
            }
            word.push(char::from(ch));
            pos += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == escape {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = b[pos];
        }
        if !ch.is_ascii() {
            return Err(non_ascii());
        }
        word.push(char::from(ch));
        pos += 1;
    }
    Ok(("", words))
}

/// `unicode.IsSpace(rune(b))` for an ASCII byte.
fn is_go_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

#[cfg(test)]
mod tests;
