//! The classic builder's word expansion (`shell.Lex.ProcessWord`), for the words
//! the gateway must evaluate itself: a `FROM`'s base name and `--platform`, and
//! the keys and defaults of the `ARG`s before the first `FROM`.
//!
//! The daemon expands these with buildkit's `frontend/dockerfile/shell/lex.go`
//! as vendored in moby. Daemons from 20.10 (buildkit v0.8) to current moby are in
//! the field and their lexers are not identical, so this module implements the
//! part they all agree on, and refuses every construct whose result depends on the
//! daemon's version (the design's one rule). Errors the daemon itself raises (an
//! unterminated quote, `${X:?}` on an unset `X`) are refused too: the build would
//! fail there anyway, and the gateway has to know the base image before it sends
//! the build.
//!
//! # What is read, exactly like every daemon
//!
//! `ProcessWord(word, env)` with `RawQuotes`, `RawEscapes`, `SkipProcessQuotes`
//! and `SkipUnsetEnv` all false (moby's `getExpandedString` and
//! `processMetaArg`), returning the **whole** expanded string (`result`, not the
//! first of the split `words`; that holds from v0.8 through master, so
//! `FROM $X` with `X="a b"` gives the base name `a b`, which the daemon then fails
//! to parse as a reference).
//!
//! * Outside quotes, the escape character (the file's `# escape=`, `\` or `` ` ``)
//!   makes the next character literal, whatever it is (`\$X` is `$X`, `\"` is
//!   `"`); an escape at the very end is dropped.
//! * `'...'`: everything literal up to the next `'`, escapes included.
//! * `"..."`: `$` expansions happen inside; the escape character escapes only
//!   `"`, `$` and itself, and stays literal before anything else (`"\a"` is
//!   `\a`); an escape right before the end of the text is dropped.
//! * `$name`: the longest run of ASCII letters, digits and `_`; a name starting
//!   with a digit is only the digits (`$1x` is the value of `1`, then `x`); one
//!   of `@ * # ? - $ ! 0` alone is a name too (`$$` looks up `$`, which is unset,
//!   and gives nothing). `$` followed by anything else, or at the end, is a
//!   literal `$`.
//! * `${name}`, `${name:-word}`, `${name:+word}`, `${name:?word}`,
//!   `${name?word}`: `word` is itself expanded (quotes, escapes and `$` work in
//!   it, an escaped `}` does not end it) even when its value is not used. `:-`
//!   uses `word` when the variable is unset or empty; `:+` gives `word` when it
//!   is set and not empty, else nothing; `:?` fails when unset or empty and `?`
//!   when unset, with `word` as the message.
//! * Unset variables expand to nothing.
//! * Go's `text/scanner` reads the text; it drops a byte-order mark (U+FEFF) at
//!   the start of each word and keeps NUL. A U+FEFF anywhere is refused here
//!   (there is never a reason to write one in a name).
//!
//! # Where daemon versions differ (refused)
//!
//! Read from `frontend/dockerfile/shell/lex.go` as vendored by moby v20.10.0 and
//! v20.10.24 (buildkit v0.8, identical file), v23.0.18 (v0.10), v24.0.9 (v0.11),
//! v25.0.15 (v0.12), v26.1.5 (v0.13), v27.0.3 (v0.14), v27.5.1 (v0.18), v28.0.0
//! (v0.20), v28.5.2 (v0.25), docker-v29.1.0 and moby master (the same file as
//! buildkit master):
//!
//! | construct | moby 20.10 – 24 (buildkit v0.8 – v0.11) | later | here |
//! |---|---|---|---|
//! | `${X-w}`, `${X+w}` (no colon) | error "missing ':' in substitution" | work (v0.12, moby 25+) | refused: write `${X:-w}` / `${X:+w}` |
//! | `${X#p}`, `${X##p}`, `${X%p}`, `${X%%p}` | error | work (v0.13, moby 26+); an empty pattern (`${X#}`) panics in v0.13 (moby 26) | refused: pass the finished value as a build argument |
//! | `${X/p/r}`, `${X//p/r}` | error | work (v0.13, moby 26+) | refused, same |
//! | `${X:#p}`, `${X:%p}` | error | work as `#`/`%` in v0.13 (moby 26) only, error again from v0.14 | refused |
//! | a non-ASCII character where a name is read (`$é`, `$Aé`, `$1` + a non-ASCII digit) | Go's `unicode.IsLetter`/`IsDigit` with the Unicode tables of the Go release the daemon was built with (Go 1.13 for 20.10.0 … Go 1.2x now) | | refused: variable names must be ASCII |
//!
//! Everything else is the same in all of them: `${X?w}` already exists in v0.8,
//! `:-`, `:+` and `:?` have the same results (v0.12 rewrote them with
//! `nullIsUnset`, without changing what they return), quoting and escapes are
//! unchanged, `$` before a non-name character stays literal everywhere, and the
//! `<<` heredoc hook added to the lexer in buildkit v0.21 (`processPossibleHeredoc`)
//! returns the characters it consumed unchanged, so `ProcessWord`'s result is the
//! same. The shared word buffer of v0.18+ (`wordsBuffer`) only affects the split
//! `words`, which `ProcessWord` does not return. Variable lookup is exact on Linux
//! (`EqualEnvKeys`/`NormalizeEnvKey`); a Windows daemon compares names without
//! case, which this module does not model (the gateway fronts a Linux
//! `docker.sock`).
//!
//! Cross-checked by hand (not in CI: the lexers are Go) on 219,000 generated
//! words with both escape characters: this module and the lexers of v0.8 and
//! master give the same result for every word it accepts, the lexers of v0.12,
//! v0.13, v0.14 and v0.18 too, and every word on which v0.8 and master disagree
//! is refused as version-dependent. The only words refused although all agree are
//! the non-ASCII names and U+FEFF above.
//!
//! # Limits
//!
//! The expansion is linear in the input: every character is read once, a value
//! is inserted, never re-expanded. What could still grow is the output
//! (`$A$A$A…` with a large `A`, or meta `ARG`s that double each other) and the
//! copying of nested results up through every `${X:-…}` level, so every buffer
//! is capped at [`Budget`]'s length limit and the bytes of variable values and
//! used nested words inserted are counted against its total, which the caller
//! shares between all the words of one Dockerfile: the work is at most the input
//! times the nesting depth plus that total. `${...}` nesting is limited to [`MAX_DEPTH`]
//! levels, which keeps the recursion off the end of the stack (Go's growable
//! stacks have no such limit, so a deeper Dockerfile is refused, not misread).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Deepest `${... ${... }}` nesting accepted.
pub const MAX_DEPTH: usize = 32;

/// How a word was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellErrorKind {
    /// Daemon versions give different results (or only some accept it).
    VersionDependent,
    /// Every daemon fails on it; the build would fail there too.
    Invalid,
    /// Over the gateway's limits (length, total size, nesting).
    TooLarge,
    /// The variable lookup refused the name (see [`Vars::lookup`]).
    Lookup,
}

/// Why a word was refused. `Display` is written for the CI user who has to
/// change the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellError {
    kind: ShellErrorKind,
    message: String,
}

impl ShellError {
    /// An error of `kind`; used by [`Vars`] implementations too.
    pub fn new(kind: ShellErrorKind, message: impl Into<String>) -> Self {
        ShellError {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ShellErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ShellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ShellError {}

/// The variables a word is expanded with.
pub trait Vars {
    /// The value of `name`; `Ok(None)` when it is unset. An error refuses the
    /// whole word, for variables whose value depends on the daemon's version.
    fn lookup(&self, name: &str) -> Result<Option<&str>, ShellError>;
}

impl Vars for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Result<Option<&str>, ShellError> {
        Ok(self.get(name).map(String::as_str))
    }
}

impl Vars for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Result<Option<&str>, ShellError> {
        Ok(self.get(name).map(String::as_str))
    }
}

/// Output limits, shared by all the words of one evaluation.
#[derive(Debug, Clone)]
pub struct Budget {
    max_len: usize,
    remaining: usize,
}

impl Budget {
    /// Every buffer (the result and each nested `${X:-word}`) holds at most
    /// `max_len` bytes; at most `total` bytes of variable values and of used
    /// `${X:-word}`/`${X:+word}` words are inserted over the life of this budget.
    pub fn new(max_len: usize, total: usize) -> Self {
        Budget {
            max_len,
            remaining: total,
        }
    }

    /// Bytes of values and nested words that can still be inserted.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    fn push_char(&self, buf: &mut String, c: char) -> Result<(), ShellError> {
        if buf.len() + c.len_utf8() > self.max_len {
            return Err(self.too_long());
        }
        buf.push(c);
        Ok(())
    }

    /// Appends text that came out of the input itself (a nested word).
    fn push_str(&self, buf: &mut String, s: &str) -> Result<(), ShellError> {
        if buf.len() + s.len() > self.max_len {
            return Err(self.too_long());
        }
        buf.push_str(s);
        Ok(())
    }

    /// Appends a variable's value or a used nested word: what can make the
    /// output, or the copying, outgrow the input.
    fn push_value(&mut self, buf: &mut String, s: &str) -> Result<(), ShellError> {
        if s.len() > self.remaining {
            return Err(ShellError::new(
                ShellErrorKind::TooLarge,
                "variable substitutions produce too much text; \
                 pass long values as build arguments used directly, not combined",
            ));
        }
        self.push_str(buf, s)?;
        self.remaining -= s.len();
        Ok(())
    }

    fn too_long(&self) -> ShellError {
        ShellError::new(
            ShellErrorKind::TooLarge,
            format!(
                "a word is longer than {} bytes after variable substitution",
                self.max_len
            ),
        )
    }
}

/// Expands `word` like `shell.Lex.ProcessWord` of every supported daemon; see
/// the module docs for what is refused.
pub fn process_word(
    word: &str,
    escape: char,
    vars: &dyn Vars,
    budget: &mut Budget,
) -> Result<String, ShellError> {
    if word.contains('\u{feff}') {
        return Err(ShellError::new(
            ShellErrorKind::VersionDependent,
            "byte-order mark (U+FEFF) inside an instruction; Docker drops it only at the \
             start of a word, remove it",
        ));
    }
    let chars: Vec<char> = word.chars().collect();
    let mut lex = Lexer {
        chars: &chars,
        pos: 0,
        escape,
        vars,
        budget,
    };
    lex.process_stop_on(None, 0)
}

/// Whether [`process_word`] returns `word` unchanged whatever the variables are:
/// no `$`, no quotes, no escape character, no U+FEFF. The gateway writes only
/// such words into the Dockerfile it sends.
pub fn is_literal(word: &str, escape: char) -> bool {
    !word
        .chars()
        .any(|c| matches!(c, '$' | '\'' | '"' | '\u{feff}') || c == escape)
}

/// `shellWord`: a cursor over the characters of one word, like Go's
/// `text/scanner` `Peek`/`Next`.
struct Lexer<'a, 'b> {
    chars: &'a [char],
    pos: usize,
    escape: char,
    vars: &'b dyn Vars,
    budget: &'b mut Budget,
}

fn invalid(message: impl Into<String>) -> ShellError {
    ShellError::new(ShellErrorKind::Invalid, message)
}

fn version_dependent(message: impl Into<String>) -> ShellError {
    ShellError::new(ShellErrorKind::VersionDependent, message)
}

/// `isSpecialParam`: POSIX special parameters, read as one-character names.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

impl<'b> Lexer<'_, 'b> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// `processStopOn`: expands up to `stop` (consumed) or the end of the word.
    fn process_stop_on(&mut self, stop: Option<char>, depth: usize) -> Result<String, ShellError> {
        let mut result = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok(result);
            }
            match ch {
                '\'' => {
                    let s = self.single_quote()?;
                    self.budget.push_str(&mut result, &s)?;
                }
                '"' => {
                    let s = self.double_quote(depth)?;
                    self.budget.push_str(&mut result, &s)?;
                }
                '$' => self.dollar(&mut result, depth)?,
                _ => {
                    self.next();
                    let literal = if ch == self.escape {
                        // The escape makes the next character literal; at the end
                        // of the word it is dropped.
                        match self.next() {
                            Some(c) => c,
                            None => break,
                        }
                    } else {
                        ch
                    };
                    self.budget.push_char(&mut result, literal)?;
                }
            }
        }
        match stop {
            Some(c) => Err(invalid(format!(
                "unexpected end of the text while looking for the matching {c:?}; \
                 Docker fails on this too"
            ))),
            None => Ok(result),
        }
    }

    /// `processSingleQuote`: everything literal up to the next `'`.
    fn single_quote(&mut self) -> Result<String, ShellError> {
        self.next();
        let mut result = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(invalid(
                        "unterminated single quote; Docker fails on this too, close the quote",
                    ));
                }
                Some('\'') => return Ok(result),
                Some(c) => self.budget.push_char(&mut result, c)?,
            }
        }
    }

    /// `processDoubleQuote`: `$` expands, the escape only escapes `"`, `$` and
    /// itself.
    fn double_quote(&mut self, depth: usize) -> Result<String, ShellError> {
        self.next();
        let mut result = String::new();
        loop {
            let Some(mut ch) = self.peek() else {
                return Err(invalid(
                    "unterminated double quote; Docker fails on this too, close the quote",
                ));
            };
            match ch {
                '"' => {
                    self.next();
                    return Ok(result);
                }
                '$' => self.dollar(&mut result, depth)?,
                _ => {
                    self.next();
                    if ch == self.escape {
                        match self.peek() {
                            // Dropped; the loop then reports the open quote.
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    self.budget.push_char(&mut result, ch)?;
                }
            }
        }
    }

    /// `processName`: a variable name after `$` or `${`.
    fn name(&mut self) -> Result<String, ShellError> {
        let non_ascii = || {
            version_dependent(
                "non-ASCII character where Docker reads a variable name after '$'; which \
                 characters count as letters depends on the Docker version; use ASCII \
                 names, or write ${NAME} to end the name",
            )
        };
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if !ch.is_ascii() {
                return Err(non_ascii());
            }
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek() {
                    if !d.is_ascii() {
                        return Err(non_ascii());
                    }
                    if !d.is_ascii_digit() {
                        break;
                    }
                    self.next();
                    name.push(d);
                }
                return Ok(name);
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                name.push(ch);
                return Ok(name);
            }
            if !(ch.is_ascii_alphanumeric() || ch == '_') {
                break;
            }
            self.next();
            name.push(ch);
        }
        Ok(name)
    }

    /// The variable's value; borrowed from the caller's variables, not copied.
    fn lookup(&self, name: &str) -> Result<Option<&'b str>, ShellError> {
        let vars: &'b dyn Vars = self.vars;
        vars.lookup(name)
    }

    /// A nested word of `${name<op>word}`, up to the closing `}`.
    fn braced_word(&mut self, depth: usize) -> Result<String, ShellError> {
        if depth + 1 > MAX_DEPTH {
            return Err(ShellError::new(
                ShellErrorKind::TooLarge,
                format!("variable substitutions are nested more than {MAX_DEPTH} deep"),
            ));
        }
        self.process_stop_on(Some('}'), depth + 1)
    }

    /// `processDollar`: `$name`, `${name}` and `${name<op>word}`; appends the
    /// expansion to `out`.
    fn dollar(&mut self, out: &mut String, depth: usize) -> Result<(), ShellError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name()?;
            if name.is_empty() {
                return self.budget.push_char(out, '$');
            }
            let value = self.lookup(&name)?.unwrap_or("");
            return self.budget.push_value(out, value);
        }
        self.next();
        match self.peek() {
            None => return Err(invalid("'${' without '}'; Docker fails on this too")),
            Some('{' | '}' | ':') => {
                return Err(invalid(
                    "bad substitution (${}, ${{ or ${:); Docker fails on this too",
                ));
            }
            Some(_) => {}
        }
        let name = self.name()?;
        match self.next() {
            Some('}') => {
                let value = self.lookup(&name)?.unwrap_or("");
                self.budget.push_value(out, value)
            }
            Some('?') => {
                let word = self.braced_word(depth)?;
                match self.lookup(&name)? {
                    Some(v) => self.budget.push_value(out, v),
                    None => Err(required(&name, "?", &word, "is not allowed to be unset")),
                }
            }
            Some(':') => match self.next() {
                Some(m @ ('-' | '+' | '?')) => {
                    let word = self.braced_word(depth)?;
                    let value = self.lookup(&name)?;
                    match (m, value) {
                        ('-', Some(v)) if !v.is_empty() => self.budget.push_value(out, v),
                        // A nested word is charged like a value: carried up
                        // through every level, it is what nesting multiplies.
                        ('-', _) => self.budget.push_value(out, &word),
                        ('+', Some(v)) if !v.is_empty() => self.budget.push_value(out, &word),
                        ('+', _) => Ok(()),
                        (_, None) => {
                            Err(required(&name, ":?", &word, "is not allowed to be unset"))
                        }
                        (_, Some("")) => {
                            Err(required(&name, ":?", &word, "is not allowed to be empty"))
                        }
                        (_, Some(v)) => self.budget.push_value(out, v),
                    }
                }
                Some(m @ ('#' | '%')) => Err(version_dependent(format!(
                    "${{{name}:{m}...}} works only in Docker 26 and fails in every other \
                     version; compute the value before the build and pass it as a build argument"
                ))),
                Some(m) => Err(invalid(format!(
                    "unsupported modifier ':{m}' in ${{{name}:{m}...}}; Docker fails on this \
                     too, use :- :+ or :?"
                ))),
                None => Err(invalid("'${' without '}'; Docker fails on this too")),
            },
            Some(m @ ('-' | '+')) => Err(version_dependent(format!(
                "${{{name}{m}word}} (without ':') works only from Docker 25 on, older \
                 versions fail; write ${{{name}:{m}word}}"
            ))),
            Some(m @ ('#' | '%' | '/')) => Err(version_dependent(format!(
                "${{{name}{m}...}} pattern substitution works only from Docker 26 on, older \
                 versions fail; compute the value before the build and pass it as a build \
                 argument"
            ))),
            Some(m) => Err(invalid(format!(
                "unexpected {m:?} after ${{{name}; Docker fails on this too, use ${{{name}}}, \
                 ${{{name}:-word}}, ${{{name}:+word}} or ${{{name}:?message}}"
            ))),
            None => Err(invalid("'${' without '}'; Docker fails on this too")),
        }
    }
}

/// The daemon's error for `${X?}`/`${X:?}`: `word` replaces the default text.
fn required(name: &str, op: &str, word: &str, default: &str) -> ShellError {
    let message = if word.is_empty() { default } else { word };
    invalid(format!(
        "{name}: {message} (from ${{{name}{op}...}}); Docker fails on this too"
    ))
}

#[cfg(test)]
mod tests;
