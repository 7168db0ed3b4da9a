//! The strict reader: RFC 8259 JSON into a [`Value`] tree that keeps what
//! Go's decoder later gives meaning to (member order, duplicate members,
//! number literals), and refuses the inputs that Go would silently repair.
//!
//! Go's scanner (`encoding/json/scanner.go`) accepts exactly RFC 8259
//! syntax, so a syntax error here is one in Go too, with three deliberate
//! differences, each a refusal of something Go accepts:
//!
//! * strings: Go's `unquote` (`decode.go`) turns invalid UTF-8 bytes and
//!   unpaired `\uD8xx`/`\uDCxx` escapes into U+FFFD; two different bodies
//!   then mean the same string, and a checker comparing bytes would be
//!   fooled. Both are errors here.
//! * nesting: Go allows 10000 levels (`maxNestingDepth`); here the limit
//!   is [`MAX_DEPTH`] (or the caller's), so recursion stays shallow.
//! * trailing data: `json.Decoder.Decode`, which dockerd uses, stops after
//!   the first value and never looks at the rest, while `json.Unmarshal`
//!   refuses it. Only whitespace may follow the value here.
//!
//! A leading UTF-8 BOM is a syntax error in Go as well; it gets its own
//! message here because it is a common accident.

use super::{Error, ErrorKind};

/// Deepest nesting of arrays and objects [`parse`] accepts. Docker's
/// request bodies nest about six levels; 64 leaves room for `interface{}`
/// payloads (driver options) without letting a body drive recursion.
pub const MAX_DEPTH: usize = 64;

/// A JSON document as written: object members in order, duplicates kept,
/// numbers as their literal text (the reading of `1e3` depends on the Go
/// type it lands in: an error for `int`, 1000 for `float64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The literal exactly as written; it matches RFC 8259's `number`.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Compact JSON for this tree, duplicates and number literals kept, so
    /// `parse(v.to_json()) == v`.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => write_array(items, out, Value::write),
            Value::Object(members) => write_object(
                members.iter().map(|(k, v)| (k.as_str(), v)),
                out,
                Value::write,
            ),
        }
    }

    /// A short name of the JSON kind, as Go's `UnmarshalTypeError` says it.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// Writes `[item,...]`, each item by `write`.
pub(crate) fn write_array<T>(
    items: impl IntoIterator<Item = T>,
    out: &mut String,
    write: impl Fn(T, &mut String),
) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(item, out);
    }
    out.push(']');
}

/// Writes `{"key":value,...}`, each value by `write`.
pub(crate) fn write_object<'k, T>(
    members: impl IntoIterator<Item = (&'k str, T)>,
    out: &mut String,
    write: impl Fn(T, &mut String),
) {
    out.push('{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write(value, out);
    }
    out.push('}');
}

/// Writes `s` as a JSON string. Only `"`, `\` and control characters are
/// escaped: Go reads raw UTF-8 (including U+2028/U+2029) as itself.
pub(crate) fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads one JSON document with the default depth limit ([`MAX_DEPTH`]).
pub fn parse(input: &[u8]) -> Result<Value, Error> {
    parse_with_depth(input, MAX_DEPTH)
}

/// Reads one JSON document; arrays and objects may nest `max_depth` deep
/// (a bare scalar has depth 0, `[]` depth 1).
pub fn parse_with_depth(input: &[u8], max_depth: usize) -> Result<Value, Error> {
    if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(Error::at(
            ErrorKind::Syntax,
            0,
            "a byte order mark is not JSON",
        ));
    }
    let mut p = Parser {
        b: input,
        pos: 0,
        max_depth,
    };
    p.skip_ws();
    if p.pos == input.len() {
        return Err(Error::at(ErrorKind::Syntax, p.pos, "no JSON value"));
    }
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(Error::at(
            ErrorKind::TrailingData,
            p.pos,
            "data after the JSON value (dockerd's decoder would ignore it)",
        ));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn err(&self, msg: &str) -> Error {
        match self.peek() {
            Some(c) if c.is_ascii_graphic() => Error::at(
                ErrorKind::Syntax,
                self.pos,
                &format!("{msg}, found '{}'", c as char),
            ),
            Some(c) => Error::at(
                ErrorKind::Syntax,
                self.pos,
                &format!("{msg}, found byte 0x{c:02x}"),
            ),
            None => Error::at(
                ErrorKind::Syntax,
                self.pos,
                &format!("{msg}, found end of input"),
            ),
        }
    }

    /// RFC 8259 whitespace, the same four bytes as Go's `isSpace`.
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), Error> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a JSON value")),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), Error> {
        if depth > self.max_depth {
            return Err(Error::at(
                ErrorKind::Depth,
                self.pos,
                &format!("nested deeper than {} levels", self.max_depth),
            ));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<Value, Error> {
        self.enter(depth)?;
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string for an object key"));
            }
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':', "expected ':' after an object key")?;
            self.skip_ws();
            let v = self.value(depth)?;
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.err("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Error> {
        self.enter(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']' in an array")),
            }
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, Error> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err(&format!("expected '{word}'")))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// RFC 8259 `number`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`,
    /// the grammar of Go's `stateBeginValue`/`state0`/`stateDot`/`stateE`.
    fn number(&mut self) -> Result<Value, Error> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit in a number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in an exponent"));
            }
        }
        // Only ASCII digits, signs, '.', 'e' and 'E' were consumed.
        let lit = String::from_utf8_lossy(&self.b[start..self.pos]).into_owned();
        Ok(Value::Number(lit))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut r = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("expected four hex digits after \\u")),
            };
            r = r * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(r)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            // A run of bytes that need no unescaping: validate it as UTF-8.
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            match std::str::from_utf8(&self.b[start..self.pos]) {
                Ok(run) => out.push_str(run),
                Err(e) => {
                    return Err(Error::at(
                        ErrorKind::InvalidUtf8,
                        start + e.valid_up_to(),
                        "invalid UTF-8 in a string (Go would read U+FFFD)",
                    ));
                }
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.err("control character in a string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let Some(c) = self.peek() else {
            return Err(self.err("unterminated escape"));
        };
        self.pos += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let at = self.pos - 2;
                let hi = self.hex4()?;
                let cp = match hi {
                    0xD800..=0xDBFF => {
                        if self.b[self.pos..].starts_with(b"\\u") {
                            self.pos += 2;
                            let lo = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&lo) {
                                return Err(lone_surrogate(at));
                            }
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            return Err(lone_surrogate(at));
                        }
                    }
                    0xDC00..=0xDFFF => return Err(lone_surrogate(at)),
                    cp => cp,
                };
                match char::from_u32(cp) {
                    Some(ch) => ch,
                    None => return Err(lone_surrogate(at)),
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.err("invalid escape in a string"));
            }
        };
        out.push(ch);
        Ok(())
    }
}

fn lone_surrogate(at: usize) -> Error {
    Error::at(
        ErrorKind::LoneSurrogate,
        at,
        "unpaired UTF-16 surrogate escape (Go would read U+FFFD)",
    )
}
