//! Dockerfile scanner and rewriter: puts the owner label on every build stage.
//!
//! The gateway refuses BuildKit, so every build reaches the daemon's **classic
//! builder**, which reads the Dockerfile with BuildKit's
//! `frontend/dockerfile/parser` as vendored in moby. Daemons from 20.10
//! (buildkit v0.8.x) to current moby (buildkit v0.2x) are in the field, and
//! their parsers are not identical. This module follows that parser line by
//! line and, where the versions could read the same bytes differently, it
//! refuses the Dockerfile instead of guessing (the design's one rule).
//!
//! # What the rewrite does
//!
//! * After every `FROM` instruction it inserts `LABEL <key>="<owner>"` as a new
//!   line, so the first instruction of every stage is ours and every later
//!   container of the stage starts from a config that carries the owner.
//! * To every key=value `LABEL` it **appends** ` <key>="<owner>"` on the same
//!   logical line. A client's `LABEL owner=evil` would otherwise create a commit
//!   container carrying `owner=evil` (the classic builder commits once per
//!   LABEL instruction); with our pair last, the label map ends with our value
//!   before that commit. Keys are expanded by the daemon (`LABEL $K=v`), which
//!   is why we append to every LABEL instead of looking at its keys.
//! * The legacy form `LABEL key value...` takes the whole rest of the line as
//!   one value, so nothing can be appended. It is accepted only when its key is
//!   a literal that cannot turn into ours after quote, escape and variable
//!   processing; a `LABEL <key>="<owner>"` line is inserted after it.
//! * `ONBUILD LABEL k=v ...` gets our pair appended too. The trigger is not run
//!   in the stage that defines it, but in any later `FROM` of that image, inside
//!   the `FROM` step and so before the LABEL we insert after it; a later stage of
//!   the same Dockerfile can do that (`FROM a` where stage `a` has the trigger).
//!   When a trigger runs, moby re-parses its text with the *default* escape
//!   character, whatever this file's `# escape=` says, so our pair must be the
//!   last word under both readings, or the Dockerfile is refused. Legacy-form
//!   trigger LABELs follow the same rule as LABEL, except that nothing can be
//!   inserted after a trigger: they are accepted only when their key is a
//!   literal other than ours. Other triggers are left alone.
//!
//! After rewriting, the output is scanned again with the same scanner and the
//! invariant is checked; any mismatch is an error (fail closed).
//!
//! # Parser facts this module relies on
//!
//! Read from `frontend/dockerfile/parser/{parser.go,line_parsers.go,
//! split_command.go,directives.go}` at buildkit v0.8.4-eeb7b65 (vendored by
//! moby v20.10.0–v20.10.27, identical `parser.go` throughout), v0.10.6 (moby 23),
//! v0.11.6 (24), v0.12.5 (25), v0.13.1 (26), v0.14.1 (27.0), v0.18.2 (27.5),
//! v0.20.0 (28.0), v0.25.2 (28.5) and buildkit master:
//!
//! * Lines: v0.8 uses `bufio.ScanLines` (drops one `\r` before `\n`); v0.10+
//!   keeps the ending and strips *all* trailing `\r`/`\n`. `X\r\r\n` therefore
//!   differs, so any `\r` not directly followed by `\n` is refused. A line is
//!   limited to 64 KiB by `bufio.Scanner`; we refuse long lines in input and
//!   output. The UTF-8 BOM is stripped from the first line only.
//! * Each line is left-trimmed with Go's `unicode.IsSpace` (continuation lines
//!   are not), then a line starting with `#` is a comment.
//! * Continuation: the escape token, then only spaces/tabs to the end of the
//!   line, not preceded by another escape token
//!   (`([^E])E[ \t]*$|^E[ \t]*$`); the token is cut and lines are joined with
//!   no separator. Inside a continuation, comment lines and whitespace-only
//!   lines are skipped (all versions; v0.8 through master only warn about the
//!   empty ones). A file ending inside a continuation ends the instruction; we
//!   refuse it, because our inserted line would be joined to it.
//! * Directives are read from the first lines until the first line that is not
//!   one. v0.8–v0.13 know `escape` and `syntax`; v0.14+ also `check`, so a
//!   directive after `# check=` is read by new daemons only: refused. Newer
//!   parsers allow any Unicode space between `#` and the name, older ones only
//!   ASCII `\s`: a directive that only one reading accepts is refused.
//!   Duplicates and escape values other than `\` and `` ` `` make every daemon
//!   fail: refused.
//! * The keyword is the text before the first `[\t\v\f\r ]` of the trimmed
//!   logical line, compared case-insensitively; builder flags (`--x`) follow.
//!   `LABEL` arguments are split by `parseWords` (quotes and escapes kept);
//!   the first word without `=` selects the legacy `KEY value` form.
//!
//! # Heredocs
//!
//! v0.8 (moby 20.10) has no heredocs. From v0.10 (moby 23) the parser reads
//! heredoc bodies for `RUN`, `COPY`, `ADD` and `ONBUILD <those>` in every
//! build, the classic builder included (which then ignores the body, moby's
//! `builder/dockerfile` never looks at `Heredocs`). A heredoc hides the lines of
//! its body from a heredoc-aware parser and shows them as instructions to
//! v0.8, so a `FROM` or `LABEL` could exist for one daemon and not for the
//! other. v0.10–v0.14 start a heredoc whenever a shell-lexed word of the line
//! matches `^\d*<<`; v0.13–v0.14 drop escapes inside `${X:-...}` while doing
//! so, so `<\<` can become `<<`; v0.15+ first require a literal `<<`.
//!
//! Rule: **a `RUN`, `COPY`, `ADD` or `ONBUILD` instruction whose logical line
//! contains `<` more than once is refused.** Why this is safe for every version:
//! a heredoc needs a lexed word containing `<<`; the lexer only copies or drops
//! characters of the line and the text it adds back for unset variables is
//! built from `$`, `{`, `}`, names and modifiers, never `<`; so a word with two
//! `<` needs two `<` in the line. With at most one `<`, no version enters the
//! heredoc branch, and all versions read the same instructions.
//!
//! # Limits
//!
//! * `ONBUILD` triggers stored in a *base image* run inside `FROM` (moby's
//!   `initializeStage` → `dispatchTriggeredOnBuild`), before our LABEL. Their
//!   commit containers carry the base image's labels. This module cannot see
//!   them; the gateway has to deal with base images that have triggers.
//! * Instructions the daemon itself rejects (e.g. `LABEL a=b c`) are passed
//!   through with our pair appended; the build fails in the daemon.
//! * The readings were cross-checked by hand (not in CI, the parsers are Go):
//!   ~4000 generated Dockerfiles and all rewrites, parsed by the parser
//!   vendored in moby v20.10.24, by buildkit v0.14.1 and by buildkit master;
//!   every accepted input and every output was read identically by all three
//!   and by this scanner.

use std::collections::BTreeMap;
use std::fmt;

/// What the rewrite does with one `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromRewrite {
    /// Leave it as written.
    Keep,
    /// Write `FROM <args>` instead, on one line: the gateway's own reading of it
    /// (a pinned image ID, a stage name, `scratch`), in plain text that every daemon
    /// version reads the same way.
    Replace(String),
}

/// One instruction as the daemon's parser yields it: continuation lines joined,
/// comments inside them dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Lowercased keyword.
    pub keyword: String,
    /// The text after the keyword, flags included, trimmed like `splitCommand`.
    pub args: String,
    /// 1-based line where the instruction starts.
    pub line: usize,
}

/// A Dockerfile read by the same scanner the rewrite uses, with its refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The escape character (`# escape=`): `\` or `` ` ``.
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

/// Reads `src` into its instructions, refusing what [`rewrite`] refuses about its
/// syntax (so that what the gateway resolves is what it will rewrite).
pub fn parse(src: &[u8]) -> Result<Parsed, RewriteError> {
    let scan = scan(utf8(src)?)?;
    Ok(Parsed {
        escape: scan.escape,
        instructions: scan
            .instrs
            .into_iter()
            .map(|ins| Instruction {
                line: ins.first + 1,
                keyword: ins.keyword,
                args: ins.args,
            })
            .collect(),
    })
}

/// The instructions `docker commit --change` and `docker import --change` may carry
/// (moby's `validCommitCommands`).
const CHANGE_COMMANDS: &[&str] = &[
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "user",
    "volume",
    "workdir",
];

/// Rewrites the `changes` of a commit or an import so that the image ends with
/// `<key>="<owner>"`.
///
/// moby joins the changes with `\n` and parses them as one Dockerfile (directives,
/// continuations, its escape character), then applies the instructions in order to the
/// config, expanding them with its `ENV`. So a change can set the owner label through a
/// variable, or a trailing escape character can swallow whatever follows. The rewrite
/// reads the joined text with the Dockerfile scanner, appends the owner pair to every
/// `LABEL` (as in a build), refuses `ONBUILD` (a trigger the gateway would never see
/// run), and adds a last `LABEL <key>="<owner>"` of its own; the result is scanned
/// again and must end with exactly that instruction. One string comes back, to be sent
/// as the only `changes` value.
pub fn rewrite_changes(changes: &[&str], key: &str, owner: &str) -> Result<String, RewriteError> {
    check_key_owner(key, owner)?;
    let ours = format!("{key}=\"{owner}\"");
    let text = changes.join("\n");
    let scan = scan_with(&text, false)?;
    let mut out = String::with_capacity(text.len() + 64);
    let mut append_after = vec![false; scan.lines.len()];
    for ins in &scan.instrs {
        if !CHANGE_COMMANDS.contains(&ins.keyword.as_str()) {
            return Err(RewriteError::at(
                ins.first,
                format!(
                    "{} is not a valid change command",
                    ins.keyword.to_ascii_uppercase()
                ),
            ));
        }
        match ins.keyword.as_str() {
            "onbuild" => {
                return Err(RewriteError::at(
                    ins.first,
                    "ONBUILD is not allowed in changes through this gateway: the trigger would \
                     run in someone else's build before the owner label is set",
                ));
            }
            "label" => match label_form(ins, scan.escape, key)? {
                LabelForm::KeyValue => append_after[ins.last] = true,
                LabelForm::Legacy => {}
            },
            _ => {}
        }
    }
    for (i, line) in scan.lines.iter().enumerate() {
        out.push_str(&text[line.start..line.content_end]);
        if append_after[i] {
            out.push(' ');
            out.push_str(&ours);
        }
        out.push_str(line.eol);
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("LABEL ");
    out.push_str(&ours);
    // The owner pair must be the last word of every LABEL and the last instruction must
    // be ours, under the rewritten text's own reading.
    let again = scan_with(&out, false).map_err(|e| {
        RewriteError::new(format!(
            "internal check failed on the rewritten changes: {e}"
        ))
    })?;
    let last_is_ours = again.instrs.last().is_some_and(|ins| {
        ins.keyword == "label" && parse_words(&ins.args, again.escape) == [ours.clone()]
    });
    let labels_end_with_ours = again
        .instrs
        .iter()
        .filter(|i| i.keyword == "label")
        .all(|ins| {
            matches!(label_form(ins, again.escape, key), Ok(LabelForm::Legacy))
                || parse_words(&ins.args, again.escape).last() == Some(&ours)
        });
    if !last_is_ours || !labels_end_with_ours {
        return Err(RewriteError::new(
            "internal check failed: the rewritten changes do not end with the owner label; \
             the request was refused to be safe",
        ));
    }
    Ok(out)
}

/// The rewritten Dockerfile and the number of build stages it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The original bytes plus our LABELs.
    pub dockerfile: Vec<u8>,
    /// Number of `FROM` instructions, i.e. build stages.
    pub stages: usize,
}

/// Why a Dockerfile was refused. `Display` is written for the CI user who has to
/// change the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteError {
    line: Option<usize>,
    message: String,
}

impl RewriteError {
    fn new(message: impl Into<String>) -> Self {
        RewriteError {
            line: None,
            message: message.into(),
        }
    }

    /// `line` is 0-based; shown 1-based like the daemon does.
    fn at(line: usize, message: impl Into<String>) -> Self {
        RewriteError {
            line: Some(line + 1),
            message: message.into(),
        }
    }

    /// The 1-based line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "Dockerfile line {n}: {}", self.message),
            None => write!(f, "Dockerfile: {}", self.message),
        }
    }
}

impl std::error::Error for RewriteError {}

/// `bufio.MaxScanTokenSize` is 64 KiB; stay well below it so that neither the
/// input nor our appended pair gets near the daemon's limit.
const MAX_LINE: usize = 60 * 1024;

/// Rewrites `src` so that every stage starts with `LABEL <key>="<owner>"` and
/// every LABEL leaves `<key>` = `<owner>`; see the module docs.
///
/// `key` and `owner` were validated by the caller; they are checked again here
/// because the safety of the appended pair depends on them (no quote, escape or
/// `$` can change how the daemon reads it).
///
/// `froms` says, for each `FROM` in file order, whether to keep it as written or to
/// replace its arguments (see [`FromRewrite`]); an empty slice keeps every `FROM`.
pub fn rewrite(
    src: &[u8],
    key: &str,
    owner: &str,
    froms: &[FromRewrite],
) -> Result<Rewrite, RewriteError> {
    rewrite_pinned(src, key, owner, froms, &BTreeMap::new())
}

/// [`rewrite`], and each `COPY` whose first line (1-based) is a key of `copies` written
/// as `COPY <value>` on one line instead: the gateway's own reading of it with its
/// `--from` pinned to an image ID (see [`crate::build`]). The value must be plain text
/// that reads back as itself; the output is re-scanned and each such `COPY` must read
/// exactly as the value.
pub fn rewrite_pinned(
    src: &[u8],
    key: &str,
    owner: &str,
    froms: &[FromRewrite],
    copies: &BTreeMap<usize, String>,
) -> Result<Rewrite, RewriteError> {
    check_key_owner(key, owner)?;
    let ours = format!("{key}=\"{owner}\"");
    let text = utf8(src)?;
    let scan = scan(text)?;
    let from_count = scan.instrs.iter().filter(|i| i.keyword == "from").count();
    if !froms.is_empty() && froms.len() != from_count {
        return Err(RewriteError::new(format!(
            "internal error: {} FROM rewrites for {from_count} FROM instructions",
            froms.len()
        )));
    }
    for from in froms {
        if let FromRewrite::Replace(args) = from {
            check_literal_from(args)?;
        }
    }
    let mut from_rewrites = froms.iter();
    // Per physical line: the replacement of the instruction that starts there, and
    // whether the line belongs to a replaced instruction (and is not written).
    let mut replace_at: Vec<Option<(&str, &str, usize)>> = vec![None; scan.lines.len()];
    // Per COPY in file order, the text it must read as afterwards (see `verify`).
    let mut copy_reads: Vec<Option<&str>> = Vec::new();
    let mut copies_used = 0;
    let mut skip = vec![false; scan.lines.len()];

    let mut stages = 0;
    // Per physical line: what to do after its content (before its ending).
    let mut append_after = vec![false; scan.lines.len()];
    let mut insert_after = vec![false; scan.lines.len()];
    for ins in &scan.instrs {
        match ins.keyword.as_str() {
            "from" => {
                stages += 1;
                if let Some(FromRewrite::Replace(args)) = from_rewrites.next() {
                    // One line for the whole instruction, ended like its last line.
                    replace_at[ins.first] = Some(("FROM ", args.as_str(), ins.last));
                    insert_after[ins.first] = true;
                    for line in &mut skip[ins.first + 1..=ins.last] {
                        *line = true;
                    }
                } else {
                    insert_after[ins.last] = true;
                }
            }
            "copy" => match copies.get(&(ins.first + 1)) {
                Some(args) => {
                    check_literal_copy(args)?;
                    replace_at[ins.first] = Some(("COPY ", args.as_str(), ins.last));
                    for line in &mut skip[ins.first + 1..=ins.last] {
                        *line = true;
                    }
                    copy_reads.push(Some(args.as_str()));
                    copies_used += 1;
                }
                None => copy_reads.push(None),
            },
            "label" => match label_form(ins, scan.escape, key)? {
                LabelForm::KeyValue => append_after[ins.last] = true,
                LabelForm::Legacy => insert_after[ins.last] = true,
            },
            "onbuild" => {
                if let Some(trigger) = onbuild_label(ins)?
                    && let LabelForm::KeyValue = label_form(&trigger, scan.escape, key)?
                {
                    let appended = format!("{} {ours}", trigger.args);
                    if !trigger_reads_ours(&appended, scan.escape, &ours) {
                        return Err(RewriteError::at(
                            ins.first,
                            "ONBUILD LABEL: when the trigger runs, Docker reads it with the \\ \
                             escape character, and this one would swallow the owner label; \
                             remove escape characters and unbalanced quotes from it",
                        ));
                    }
                    append_after[ins.last] = true;
                }
            }
            _ => {}
        }
    }
    if stages == 0 {
        return Err(RewriteError::new(
            "no FROM instruction found; a Dockerfile must start a build stage with FROM",
        ));
    }
    if copies_used != copies.len() {
        return Err(RewriteError::new(
            "internal error: a COPY to pin is not where the gateway found it",
        ));
    }

    let default_eol = scan
        .lines
        .iter()
        .find(|l| !l.eol.is_empty())
        .map_or("\n", |l| l.eol);
    let mut out = String::with_capacity(text.len() + 64 * (stages + 1));
    for (i, line) in scan.lines.iter().enumerate() {
        if skip[i] {
            continue;
        }
        let eol = match replace_at[i] {
            Some((keyword, args, last)) => {
                out.push_str(keyword);
                out.push_str(args);
                scan.lines[last].eol
            }
            None => {
                out.push_str(&text[line.start..line.content_end]);
                line.eol
            }
        };
        if append_after[i] {
            out.push(' ');
            out.push_str(&ours);
        }
        out.push_str(eol);
        if insert_after[i] {
            if eol.is_empty() {
                // Last line without a newline: end it, keep "no final newline".
                out.push_str(default_eol);
                out.push_str("LABEL ");
                out.push_str(&ours);
            } else {
                out.push_str("LABEL ");
                out.push_str(&ours);
                out.push_str(eol);
            }
        }
    }

    verify(&out, key, &ours, stages, froms, &copy_reads)?;
    Ok(Rewrite {
        dockerfile: out.into_bytes(),
        stages,
    })
}

/// Re-scans our own output and checks the invariant; an error here means a bug
/// in this module, so the build is refused rather than sent.
fn verify(
    out: &str,
    key: &str,
    ours: &str,
    stages: usize,
    froms: &[FromRewrite],
    copies: &[Option<&str>],
) -> Result<(), RewriteError> {
    let bug = |what: &str| {
        RewriteError::new(format!(
            "internal check failed after adding the owner label ({what}); \
             the build was refused to be safe, please report this Dockerfile"
        ))
    };
    // Checked before the re-scan, whose own length check would report it as a bug.
    if let Some((index, _)) = out
        .split_inclusive('\n')
        .enumerate()
        .find(|(_, l)| l.len() > MAX_LINE)
    {
        return Err(RewriteError::at(
            index,
            format!(
                "line is too long after adding the owner label (limit {MAX_LINE} bytes); \
                 split it with line continuations"
            ),
        ));
    }
    let scan = scan(out).map_err(|e| bug(&e.to_string()))?;
    let is_ours = |ins: &Instr| {
        ins.keyword == "label" && parse_words(&ins.args, scan.escape) == [ours.to_string()]
    };
    let mut found = 0;
    let mut copies_found = 0;
    for (n, ins) in scan.instrs.iter().enumerate() {
        let next = scan.instrs.get(n + 1);
        match ins.keyword.as_str() {
            "copy" => {
                if let Some(Some(args)) = copies.get(copies_found)
                    && ins.args != *args
                {
                    return Err(bug("a COPY does not read as the image it was pinned to"));
                }
                copies_found += 1;
            }
            "from" => {
                if let Some(FromRewrite::Replace(args)) = froms.get(found)
                    && ins.args != *args
                {
                    return Err(bug("a FROM does not read as the base it was pinned to"));
                }
                found += 1;
                if !next.is_some_and(is_ours) {
                    return Err(bug("a stage does not start with the owner LABEL"));
                }
            }
            "label" => match label_form(ins, scan.escape, key).map_err(|e| bug(&e.to_string()))? {
                LabelForm::KeyValue => {
                    if parse_words(&ins.args, scan.escape)
                        .last()
                        .map(String::as_str)
                        != Some(ours)
                    {
                        return Err(bug("a LABEL does not end with the owner pair"));
                    }
                }
                LabelForm::Legacy => {
                    if !next.is_some_and(is_ours) {
                        return Err(bug("a legacy LABEL is not followed by the owner LABEL"));
                    }
                }
            },
            "onbuild" => {
                let trigger = onbuild_label(ins).map_err(|e| bug(&e.to_string()))?;
                if let Some(trigger) = trigger
                    && let LabelForm::KeyValue =
                        label_form(&trigger, scan.escape, key).map_err(|e| bug(&e.to_string()))?
                    && !trigger_reads_ours(&trigger.args, scan.escape, ours)
                {
                    return Err(bug("an ONBUILD LABEL does not end with the owner pair"));
                }
            }
            _ => {}
        }
    }
    if found != stages {
        return Err(bug("the number of stages changed"));
    }
    Ok(())
}

fn utf8(src: &[u8]) -> Result<&str, RewriteError> {
    std::str::from_utf8(src).map_err(|e| {
        RewriteError::new(format!(
            "not valid UTF-8 (first bad byte at offset {}); save the Dockerfile as UTF-8",
            e.valid_up_to()
        ))
    })
}

/// A replacement `FROM` is written so that every parser version reads it as the
/// literal text it is: only characters that no lexer treats specially (no `$`, no
/// quotes, no escape character of either kind, no `#`), words separated by single
/// spaces.
fn check_literal_from(args: &str) -> Result<(), RewriteError> {
    let plain = |w: &str| {
        !w.is_empty()
            && w.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'.' | b'_' | b'-' | b'=')
            })
    };
    if args.split(' ').all(plain) {
        Ok(())
    } else {
        Err(RewriteError::new(format!(
            "internal error: the pinned FROM {args:?} is not plain text"
        )))
    }
}

/// A pinned `COPY` is one line: its flags are the gateway's plain words, the rest is the
/// instruction's own joined text, which reads the same on one line (the re-scan in
/// `verify` proves it); a line break inside it cannot be written.
fn check_literal_copy(args: &str) -> Result<(), RewriteError> {
    if args.is_empty() || args.contains('\n') {
        return Err(RewriteError::new(format!(
            "internal error: the pinned COPY {args:?} is not one line"
        )));
    }
    Ok(())
}

fn check_key_owner(key: &str, owner: &str) -> Result<(), RewriteError> {
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    if !key_ok {
        return Err(RewriteError::new(format!(
            "owner label key {key:?} is invalid (allowed: letters, digits, '.', '_', '-', '/')"
        )));
    }
    let owner_ok = !owner.is_empty()
        && owner
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'$' | b'`' | b'\''));
    if !owner_ok {
        return Err(RewriteError::new(format!(
            "owner {owner:?} is invalid (printable ASCII without quotes, '\\', '$' or '`')"
        )));
    }
    Ok(())
}

/// The trigger of `ONBUILD LABEL ...`, as the instruction it will become.
fn onbuild_label(ins: &Instr) -> Result<Option<Instr>, RewriteError> {
    let trigger = split_command(&ins.args, ins.first, ins.last)?;
    Ok((trigger.keyword == "label").then_some(trigger))
}

/// Whether `ours` is the last word of a trigger's LABEL arguments `args` both
/// under this file's escape character and under `\\`, which moby uses when it
/// re-parses a trigger.
fn trigger_reads_ours(args: &str, escape: char, ours: &str) -> bool {
    [escape, '\\']
        .iter()
        .all(|&e| parse_words(args, e).last().map(String::as_str) == Some(ours))
}

enum LabelForm {
    /// `LABEL k=v ...`: our pair can be appended.
    KeyValue,
    /// `LABEL key value...`: our LABEL goes on the next line.
    Legacy,
}

/// Classifies a LABEL the way `parseNameVal` does and refuses the forms whose
/// effect on our key cannot be fixed by the rewrite.
fn label_form(ins: &Instr, escape: char, key: &str) -> Result<LabelForm, RewriteError> {
    if ins.args.starts_with("--") {
        return Err(RewriteError::at(
            ins.first,
            "LABEL does not take options (--...); remove them",
        ));
    }
    let words = parse_words(&ins.args, escape);
    let Some(first) = words.first() else {
        return Err(RewriteError::at(
            ins.first,
            "LABEL needs at least one key=value pair",
        ));
    };
    if first.contains('=') {
        return Ok(LabelForm::KeyValue);
    }
    // Legacy form: `reWhitespace.Split(rest, 2)`; the key is everything up to
    // the first ASCII blank, the value is all the rest.
    let Some(pos) = ins.args.find(is_re_whitespace) else {
        return Err(RewriteError::at(
            ins.first,
            "LABEL must have the form key=value; write LABEL key=\"value\"",
        ));
    };
    let label_key = &ins.args[..pos];
    let literal = label_key.chars().all(|c| {
        c.is_ascii() && !c.is_ascii_control() && !matches!(c, '$' | '\'' | '"' | '\\' | '`' | '=')
    });
    if !literal || label_key == key {
        return Err(RewriteError::at(
            ins.first,
            format!(
                "LABEL in the old `LABEL key value` form with key {label_key:?} could set the \
                 owner label {key:?}; write it as LABEL key=\"value\" (the owner label is set by the build service)"
            ),
        ));
    }
    Ok(LabelForm::Legacy)
}

/// One physical line: `start..content_end` is the text, `eol` its ending
/// (`\n`, `\r\n` or nothing on a last line).
#[derive(Debug)]
struct Line<'a> {
    start: usize,
    content_end: usize,
    eol: &'a str,
}

/// One instruction (a logical line).
#[derive(Debug)]
struct Instr {
    /// First and last physical line (0-based) it spans, comments included.
    first: usize,
    last: usize,
    /// Lowercased keyword (ASCII only; anything else is refused).
    keyword: String,
    /// Arguments after the keyword, trimmed like `splitCommand` (flags kept).
    args: String,
}

#[derive(Debug)]
struct Scan<'a> {
    lines: Vec<Line<'a>>,
    instrs: Vec<Instr>,
    escape: char,
}

/// Go's `unicode.IsSpace`: ASCII `\t \n \v \f \r` and space, U+0085, U+00A0,
/// and the Unicode `White_Space` characters above Latin-1.
fn go_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// Go regexp `\s` (RE2, ASCII only): `[\t\n\f\r ]`.
fn is_re_s(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// The parser's `reWhitespace`: `[\t\v\f\r ]`.
fn is_re_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

fn go_trim_space(s: &str) -> &str {
    s.trim_matches(go_is_space)
}

fn trim_left_space(s: &str) -> &str {
    s.trim_start_matches(go_is_space)
}

fn is_comment(line: &str) -> bool {
    trim_left_space(line).starts_with('#')
}

/// `trimContinuationCharacter`: returns the line without the continuation token
/// and whether the logical line ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        // `\\` at the end is an escaped escape token, not a continuation.
        return (line, true);
    }
    (before, false)
}

/// Splits the file into physical lines like `bufio.Scanner` does (no empty
/// token after a final newline).
fn split_lines(text: &str) -> Result<Vec<Line<'_>>, RewriteError> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let index = lines.len();
        let (content_end, end) = match text[start..].find('\n') {
            Some(i) => {
                let nl = start + i;
                if nl > start && text.as_bytes()[nl - 1] == b'\r' {
                    (nl - 1, nl + 1)
                } else {
                    (nl, nl + 1)
                }
            }
            None => (text.len(), text.len()),
        };
        if text[start..content_end].contains('\r') {
            return Err(RewriteError::at(
                index,
                "carriage return (\\r) that does not end a line; Docker versions read it \
                 differently, use \\n or \\r\\n line endings only",
            ));
        }
        if end - start > MAX_LINE {
            return Err(RewriteError::at(
                index,
                format!("line is longer than {MAX_LINE} bytes; split it with line continuations"),
            ));
        }
        lines.push(Line {
            start,
            content_end,
            eol: &text[content_end..end],
        });
        start = end;
    }
    Ok(lines)
}

/// Parser-directive state, modelling both the old (`escape`, `syntax`, ASCII
/// `\s` after `#`) and the new (`check` too, Unicode spaces after `#`) rules.
struct Directives {
    done: bool,
    seen: Vec<String>,
    escape: char,
    /// The previous line was `# check=...`: old parsers stopped there, new ones
    /// go on, so the next line must not be a directive for the new ones.
    after_check: bool,
}

impl Directives {
    /// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` applied to `s`.
    fn match_name_value(s: &str) -> Option<(String, String)> {
        let name_len = s
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(s.len(), |(i, _)| i);
        if name_len == 0 {
            return None;
        }
        let rest = s[name_len..].trim_start_matches(is_re_s);
        let after_eq = rest.strip_prefix('=')?;
        let value = after_eq.trim_matches(is_re_s);
        let value = if value.is_empty() {
            // `\s*` gives back one character so that `.+?` matches.
            after_eq.chars().last()?.to_string()
        } else {
            value.to_string()
        };
        Some((s[..name_len].to_ascii_lowercase(), value))
    }

    /// Old reading: `^#\s*NAME\s*=...` with ASCII `\s`.
    fn old_reading(line: &str) -> Option<(String, String)> {
        let rest = line.strip_prefix('#')?;
        Self::match_name_value(rest.trim_start_matches(is_re_s))
    }

    /// New reading: cut `#`, trim Unicode spaces, then the same regexp.
    fn new_reading(line: &str) -> Option<(String, String)> {
        let rest = line.strip_prefix('#')?;
        Self::match_name_value(trim_left_space(rest))
    }

    fn process(&mut self, line: &str, index: usize) -> Result<(), RewriteError> {
        let after_check = std::mem::take(&mut self.after_check);
        if after_check {
            let valid = |r: &Option<(String, String)>| {
                r.as_ref()
                    .is_some_and(|(k, _)| matches!(k.as_str(), "escape" | "syntax" | "check"))
            };
            if valid(&Self::new_reading(line)) {
                return Err(RewriteError::at(
                    index,
                    "parser directive after `# check=`: older Docker versions stop reading \
                     directives at `check`; put `# check=` after the other directives",
                ));
            }
        }
        if self.done {
            return Ok(());
        }
        let old = Self::old_reading(line);
        let new = Self::new_reading(line);
        let known = |r: &Option<(String, String)>| {
            r.as_ref()
                .is_some_and(|(k, _)| matches!(k.as_str(), "escape" | "syntax" | "check"))
        };
        if known(&new) && old != new {
            return Err(RewriteError::at(
                index,
                "parser directive with unusual whitespace after `#`; Docker versions read it \
                 differently, write it as `# name=value` with plain spaces",
            ));
        }
        let Some((name, value)) = old else {
            self.done = true;
            return Ok(());
        };
        match name.as_str() {
            "escape" | "syntax" | "check" => {}
            _ => {
                self.done = true;
                return Ok(());
            }
        }
        if self.seen.contains(&name) {
            return Err(RewriteError::at(
                index,
                format!("only one `# {name}=` parser directive can be used; remove the duplicate"),
            ));
        }
        self.seen.push(name.clone());
        match name.as_str() {
            "escape" => match value.as_str() {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                _ => {
                    return Err(RewriteError::at(
                        index,
                        format!("invalid escape token {value:?}; `# escape=` must be \\ or `"),
                    ));
                }
            },
            "check" => {
                // Not a directive for buildkit < v0.14: directives end here for them.
                self.done = true;
                self.after_check = true;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Scans `text` like `parser.Parse` and returns its physical lines and
/// instructions, or an error for input the daemon rejects or different daemon
/// versions read differently.
fn scan(text: &str) -> Result<Scan<'_>, RewriteError> {
    scan_with(text, true)
}

/// [`scan`], with or without the rule that a Dockerfile starts with `FROM` (changes
/// applied by a commit or an import have none).
fn scan_with(text: &str, need_from: bool) -> Result<Scan<'_>, RewriteError> {
    let lines = split_lines(text)?;
    let mut dir = Directives {
        done: false,
        seen: Vec::new(),
        escape: '\\',
        after_check: false,
    };
    let content = |i: usize| -> &str {
        let l = &lines[i];
        let s = &text[l.start..l.content_end];
        if i == 0 {
            s.strip_prefix('\u{feff}').unwrap_or(s)
        } else {
            s
        }
    };
    let mut instrs = Vec::new();
    let mut seen_from = !need_from;
    let mut i = 0;
    while i < lines.len() {
        let first = i;
        let token = trim_left_space(content(i));
        dir.process(token, i)?;
        i += 1;
        let stripped = if is_comment(token) { "" } else { token };
        let (part, mut eol) = trim_continuation(stripped, dir.escape);
        if eol && part.is_empty() {
            continue;
        }
        let mut logical = part.to_string();
        while !eol && i < lines.len() {
            let raw = content(i);
            dir.process(raw, i)?;
            i += 1;
            if is_comment(raw) || trim_left_space(raw).is_empty() {
                continue;
            }
            let (part, e) = trim_continuation(raw, dir.escape);
            logical.push_str(part);
            eol = e;
        }
        if !eol {
            return Err(RewriteError::at(
                first,
                "the Dockerfile ends inside a line continuation; remove the trailing escape character",
            ));
        }
        let ins = split_command(&logical, first, i - 1)?;
        match ins.keyword.as_str() {
            "from" => seen_from = true,
            "arg" => {}
            _ if !seen_from => {
                return Err(RewriteError::at(
                    first,
                    "only ARG can come before the first FROM; start the Dockerfile with FROM",
                ));
            }
            _ => {}
        }
        if matches!(ins.keyword.as_str(), "run" | "copy" | "add" | "onbuild")
            && logical.matches('<').count() >= 2
        {
            return Err(RewriteError::at(
                first,
                format!(
                    "{} contains '<' more than once; some Docker versions read this as a heredoc \
                     (<<EOF) and others do not, so the build service refuses it. Heredocs are not \
                     supported: put the script in a file, COPY it and RUN it",
                    ins.keyword.to_ascii_uppercase()
                ),
            ));
        }
        instrs.push(ins);
    }
    Ok(Scan {
        lines,
        instrs,
        escape: dir.escape,
    })
}

/// `splitCommand`: keyword up to the first `[\t\v\f\r ]` of the trimmed line.
fn split_command(logical: &str, first: usize, last: usize) -> Result<Instr, RewriteError> {
    let trimmed = go_trim_space(logical);
    let (cmd, rest) = match trimmed.find(is_re_whitespace) {
        Some(p) => (
            &trimmed[..p],
            trimmed[p..].trim_start_matches(is_re_whitespace),
        ),
        None => (trimmed, ""),
    };
    if !cmd.is_ascii() {
        return Err(RewriteError::at(
            first,
            format!(
                "instruction {cmd:?} contains non-ASCII characters; use a plain instruction name"
            ),
        ));
    }
    Ok(Instr {
        first,
        last,
        keyword: cmd.to_ascii_lowercase(),
        args: go_trim_space(rest).to_string(),
    })
}

/// `parseWords` from `line_parsers.go`: splits on Unicode spaces, keeps quotes
/// and escape tokens in the words, single quotes escape nothing.
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    loop {
        if pos >= chars.len() {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        let mut ch = chars[pos];
        if phase == Phase::Spaces {
            if go_is_space(ch) {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if phase == Phase::Word {
            if go_is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

pub mod from;
pub mod shell;

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests;
