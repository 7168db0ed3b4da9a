//! JSON request bodies read exactly as dockerd reads them: Go's
//! `encoding/json` decoding into moby's structs.
//!
//! `--confine` checks bodies such as a container's create request and then
//! forwards *its own* serialisation of what it checked, so the daemon can
//! only read what was checked. That only works if the gateway's reading of
//! the client's body is the daemon's reading. This module is that reading:
//!
//! 1. [`parse`] reads RFC 8259 JSON into a [`Value`] that keeps object
//!    members in order with their duplicates and numbers as written.
//! 2. [`decode`] fills a Go type, described by a static [`Schema`], the way
//!    Go 1.19+ fills it, into a [`Decoded`] tree: canonical field names,
//!    declaration order, no duplicates, unset fields absent.
//! 3. [`Decoded::to_json`] writes that tree back as compact JSON which Go
//!    decodes into the identical value.
//!
//! [`moby`] holds the schemas of the bodies `--confine` reads.
//!
//! # Go semantics modelled
//!
//! From Go 1.19's `encoding/json` (`decode.go`, `encode.go`, `fold.go`),
//! checked against the Go 1.19 toolchain and the Go 1.21+ sources:
//!
//! * **Field names** (`typeFields`): a field's JSON name is its tag name or
//!   its Go name; fields of untagged embedded structs (by value or by
//!   pointer) are promoted; for one name the shallowest field wins, a
//!   tagged field beats untagged ones at the same depth, and two equal
//!   candidates cancel each other, so the name is unknown.
//! * **Key lookup**: the field with exactly the key's name, else the first
//!   field in index order (declaration order, promoted fields where their
//!   embedded struct is declared) whose name folds to the key. Folding is
//!   ASCII case plus U+212A KELVIN SIGN for `k`/`K` and U+017F LATIN SMALL
//!   LETTER LONG S for `s`/`S`. Go 1.19 (`foldFunc`, `equalFoldRight`) and
//!   Go 1.21+ (`foldName`) are both implemented; they agree on ASCII field
//!   names, and a key they disagree on would be refused. Unknown keys are
//!   ignored, their values never looked at.
//! * **Embedded pointers** are allocated as soon as a key selects one of
//!   their promoted fields, even when the value is `null`; for moby's
//!   `ContainerConfigWrapper` that decides whether the top-level
//!   `HostConfig` exists at all.
//! * **Repeated keys** are decoded one after another into the same Go
//!   value: a struct, or a pointer to one, is decoded *into* (fields
//!   merge); a map is kept and added to, but each map value starts from
//!   zero; a fixed array is decoded element by element and the rest zeroed;
//!   a scalar is replaced.
//! * **Slices** are decoded element by element into the elements already
//!   there, including stale ones past the current length that the backing
//!   array still holds: `{"Env":["a","b","c"],"Env":[null],"Env":[null,null,null]}`
//!   is `["a","b","c"]` in Go 1.19, and what survives depends on the Go
//!   version's growth policy (`reflect.Value.Grow` since 1.21). A repeated
//!   array is therefore taken only when every element's outcome is
//!   independent of what it lands on (strings, numbers, `null` into a
//!   pointer, …), and then it replaces; otherwise the body is refused.
//! * **`null`** sets pointers, maps, slices, interfaces and `StrSlice` to
//!   nil and leaves strings, booleans, numbers, structs and arrays alone.
//! * **Numbers**: integers with `strconv.ParseInt`/`ParseUint` on the
//!   literal (`1.0`, `1e3`, overflow, and any sign on an unsigned field,
//!   even `-0`, are errors), `float64` with `ParseFloat` (overflow is an
//!   error, underflow is 0), `interface{}` numbers as `float64`.
//! * **Type errors**: Go keeps decoding and reports the first; dockerd
//!   refuses the request; here decoding stops at the first.
//! * **`strslice.StrSlice`** (moby's `UnmarshalJSON`): a string is a
//!   one-element list, an array of strings (`null` elements read as `""`)
//!   stays, `null` is nil, anything else is an error.
//!
//! # Refusals where Go would accept
//!
//! Each is a place where bytes could mean two things; [`ErrorKind::go_accepts`]
//! names them:
//!
//! * invalid UTF-8 and unpaired surrogate escapes in strings (Go reads
//!   U+FFFD for each, so two bodies would mean one string);
//! * anything but whitespace after the value (dockerd's `json.Decoder`
//!   never reads it; `json.Unmarshal` would refuse it);
//! * nesting deeper than [`MAX_DEPTH`] (Go: 10000);
//! * a key Go 1.19 and Go 1.21+ match to different fields (none exists for
//!   ASCII field names, but the check stays), or one that a later Unicode
//!   table could make Go 1.21+ match differently: a non-ASCII rune other
//!   than U+017F and U+212A where a field name has a letter (`ımage`);
//! * a repeated slice whose elements Go would merge into earlier ones;
//! * a Go `int` or `uint` beyond 32 bits (`int` is 32 bits wide on armhf
//!   and 386 builds of dockerd, 64 on amd64 and arm64).
//!
//! A leading byte order mark and an empty body are errors in Go too.
//!
//! # Limits of the model
//!
//! Only what moby's request types use is modelled: no `,string` tag
//! option, no `[]byte` (base64), no map keys of integer kind or with
//! `UnmarshalText`, no custom unmarshalers but `StrSlice`, and JSON names
//! must be ASCII ([`validate`] checks schemas for this). Go's experimental
//! `encoding/json/v2`-backed v1 (`GOEXPERIMENT=jsonv2`, Go 1.25) is not
//! modelled (its v1 folding also ignores `_` and `-`); dockerd is not
//! built with it.
//!
//! # Tests
//!
//! `tests.rs` pins each rule in tables; `tests/json_differential.rs` runs
//! Go itself (`tests/go/jsondecode`) on a few thousand bodies for moby's
//! types and a type exercising every embedding rule; the `gojson` fuzz
//! target checks that whatever is accepted survives its own round trip.

mod decode;
pub mod moby;
mod schema;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

pub use decode::{Decoded, Struct, decode, decode_bytes, zero};
pub use schema::{Field, Schema, StructDef, validate};
pub use value::{MAX_DEPTH, Value, parse, parse_with_depth};

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The class of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not JSON (Go refuses it too).
    Syntax,
    /// Nested deeper than the reader's limit.
    Depth,
    /// Invalid UTF-8 inside a string.
    InvalidUtf8,
    /// A `\uD800`–`\uDFFF` escape without its partner.
    LoneSurrogate,
    /// Something after the value.
    TrailingData,
    /// A JSON value of the wrong kind or range for its Go type (Go's
    /// `UnmarshalTypeError`, or `StrSlice`'s error).
    Type,
    /// A key Go versions resolve to different fields.
    AmbiguousKey,
    /// A repeated slice Go would decode into its earlier elements.
    SliceReuse,
    /// A Go `int`/`uint` value that fits 64 bits but not 32: dockerd on a
    /// 64-bit platform takes it, on a 32-bit one refuses it.
    PlatformRange,
    /// A programming error: a value set through the API that does not fit
    /// its field, or an unknown field name.
    Invalid,
}

impl ErrorKind {
    /// Whether Go's decoder (as dockerd runs it) would have accepted the
    /// body: the refusal is this module's choice, not the daemon's.
    pub fn go_accepts(self) -> bool {
        matches!(
            self,
            ErrorKind::Depth
                | ErrorKind::InvalidUtf8
                | ErrorKind::LoneSurrogate
                | ErrorKind::TrailingData
                | ErrorKind::AmbiguousKey
                | ErrorKind::SliceReuse
                | ErrorKind::PlatformRange
        )
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: String) -> Error {
        Error { kind, message }
    }

    pub(crate) fn at(kind: ErrorKind, offset: usize, message: &str) -> Error {
        Error {
            kind,
            message: format!("{message} at byte {offset}"),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
