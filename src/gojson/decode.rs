//! Decoding a [`Value`] into a schema the way Go's `encoding/json`
//! (`decode.go`) fills a Go value, and writing the result back as JSON
//! that Go decodes into the same value.

use std::collections::BTreeMap;
use std::fmt;

use super::schema::{FieldSet, Schema, StructDef, field_set, tag_name};
use super::value::{Value, parse, write_array, write_object, write_string};
use super::{Error, ErrorKind};

/// A decoded Go value. A non-nil pointer is represented by what it points
/// to; a nil pointer, map, slice or interface by [`Decoded::Null`] where a
/// value must be present (list elements, map values, a top-level result)
/// and by an absent field inside a [`Struct`].
#[derive(Debug, Clone)]
pub enum Decoded {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    /// A slice, a fixed array or a `StrSlice`; inside `interface{}`, a
    /// `[]interface{}`.
    List(Vec<Decoded>),
    /// A map; inside `interface{}`, a `map[string]interface{}`.
    Map(BTreeMap<String, Decoded>),
    Struct(Struct),
}

/// A decoded struct: one slot per Go field, in declaration order, embedded
/// structs included as nested [`Struct`]s. `None` is a field nothing set
/// (or a nil pointer, map, slice or interface): it is left out of the JSON
/// written back, which Go reads as the same zero value. An embedded
/// struct held by value is always present; one held by pointer is present
/// exactly when Go would have allocated it.
#[derive(Debug, Clone)]
pub struct Struct {
    def: &'static StructDef,
    /// Empty until a field is set, for structs without embedded values:
    /// `[{},{},…]` into `[]mount.Mount` then costs no allocation per
    /// element, and a body cannot make the gateway hold much more than Go
    /// does.
    fields: Vec<Option<Decoded>>,
}

impl PartialEq for Decoded {
    /// Floats compare by bits: Go keeps `-0` apart from `0`.
    fn eq(&self, other: &Self) -> bool {
        use Decoded::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Uint(a), Uint(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Struct(a), Struct(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for Struct {
    fn eq(&self, other: &Self) -> bool {
        self.def.name == other.def.name
            && (0..self.def.fields.len()).all(|i| self.slot(i) == other.slot(i))
    }
}

/// Decodes `value` into `schema` with Go 1.19+ `encoding/json` semantics,
/// refusing (instead of guessing) where Go versions or Go's internals
/// (slice capacity) decide the outcome. Any type error is an error: Go
/// keeps decoding and reports the first one, and dockerd then refuses the
/// request.
pub fn decode(value: &Value, schema: &Schema) -> Result<Decoded, Error> {
    let mut d = Decoder { path: Vec::new() };
    let v = d.value(value, schema, None)?;
    Ok(v.unwrap_or_else(|| zero(schema)))
}

/// [`parse`] and [`decode`] in one step.
pub fn decode_bytes(input: &[u8], schema: &Schema) -> Result<Decoded, Error> {
    decode(&parse(input)?, schema)
}

/// The zero value of a Go type, written out.
pub fn zero(schema: &Schema) -> Decoded {
    match schema {
        Schema::Bool => Decoded::Bool(false),
        Schema::String => Decoded::Str(String::new()),
        Schema::Int(_) | Schema::GoInt => Decoded::Int(0),
        Schema::Uint(_) | Schema::GoUint => Decoded::Uint(0),
        Schema::Float64 => Decoded::Float(0.0),
        Schema::Any | Schema::StrSlice | Schema::Ptr(_) | Schema::Slice(_) | Schema::Map(_) => {
            Decoded::Null
        }
        Schema::Array(n, elem) => Decoded::List((0..*n).map(|_| zero(elem)).collect()),
        Schema::Struct(def) => Decoded::Struct(Struct::new(def)),
    }
}

enum Seg {
    Field(&'static str),
    Key(String),
    Index(usize),
}

struct Decoder {
    path: Vec<Seg>,
}

impl Decoder {
    fn here(&self) -> String {
        if self.path.is_empty() {
            return "the body".into();
        }
        let mut s = String::new();
        for seg in &self.path {
            match seg {
                Seg::Field(f) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(f);
                }
                Seg::Key(k) => s.push_str(&format!("[{k:?}]")),
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }

    fn type_error(&self, v: &Value, s: &Schema) -> Error {
        Error::new(
            ErrorKind::Type,
            format!(
                "cannot unmarshal {} into {} of type {}",
                v.kind_name(),
                self.here(),
                s.go_type()
            ),
        )
    }

    fn number_error(&self, lit: &str, s: &Schema) -> Error {
        Error::new(
            ErrorKind::Type,
            format!(
                "cannot unmarshal number {lit} into {} of type {}",
                self.here(),
                s.go_type()
            ),
        )
    }

    fn platform_error(&self, lit: &str, s: &Schema) -> Error {
        Error::new(
            ErrorKind::PlatformRange,
            format!(
                "number {lit} for {} does not fit a {} on 32-bit platforms",
                self.here(),
                s.go_type()
            ),
        )
    }

    /// Decodes `v` into a Go value of type `s` currently holding `cur`
    /// (`None`: the zero value). Returns the new value, `None` for zero/nil.
    fn value(
        &mut self,
        v: &Value,
        s: &Schema,
        cur: Option<Decoded>,
    ) -> Result<Option<Decoded>, Error> {
        let cur = cur.filter(|c| !matches!(c, Decoded::Null));
        match (s, v) {
            // literalStore: null resets interfaces, pointers, maps and
            // slices (StrSlice's UnmarshalJSON unmarshals null into a
            // fresh slice: nil too); for everything else it is a no-op.
            (
                Schema::Ptr(_) | Schema::Slice(_) | Schema::Map(_) | Schema::Any | Schema::StrSlice,
                Value::Null,
            ) => Ok(None),
            (_, Value::Null) => Ok(cur),
            (Schema::Bool, Value::Bool(b)) => Ok(Some(Decoded::Bool(*b))),
            (Schema::String, Value::String(x)) => Ok(Some(Decoded::Str(x.clone()))),
            (Schema::Int(bits), Value::Number(n)) => match parse_int(n, *bits) {
                Some(i) => Ok(Some(Decoded::Int(i))),
                None => Err(self.number_error(n, s)),
            },
            (Schema::Uint(bits), Value::Number(n)) => match parse_uint(n, *bits) {
                Some(u) => Ok(Some(Decoded::Uint(u))),
                None => Err(self.number_error(n, s)),
            },
            (Schema::GoInt, Value::Number(n)) => match (parse_int(n, 32), parse_int(n, 64)) {
                (Some(i), _) => Ok(Some(Decoded::Int(i))),
                (None, Some(_)) => Err(self.platform_error(n, s)),
                (None, None) => Err(self.number_error(n, s)),
            },
            (Schema::GoUint, Value::Number(n)) => match (parse_uint(n, 32), parse_uint(n, 64)) {
                (Some(u), _) => Ok(Some(Decoded::Uint(u))),
                (None, Some(_)) => Err(self.platform_error(n, s)),
                (None, None) => Err(self.number_error(n, s)),
            },
            (Schema::Float64, Value::Number(n)) => match parse_float(n) {
                Some(f) => Ok(Some(Decoded::Float(f))),
                None => Err(self.number_error(n, s)),
            },
            (Schema::Any, v) => self.any(v).map(Some),
            (Schema::StrSlice, v) => self.str_slice(v).map(Some),
            // indirect: a nil pointer is allocated, a non-nil one decoded
            // into, so a later object merges into an earlier one.
            (Schema::Ptr(inner), v) => {
                let r = self.value(v, inner, cur)?;
                Ok(Some(r.unwrap_or_else(|| zero(inner))))
            }
            (Schema::Slice(elem), Value::Array(items)) => self.slice(items, elem, cur).map(Some),
            (Schema::Array(n, elem), Value::Array(items)) => {
                self.array(items, *n, elem, cur).map(Some)
            }
            (Schema::Map(elem), Value::Object(members)) => self.map(members, elem, cur).map(Some),
            (Schema::Struct(def), Value::Object(members)) => {
                let st = match cur {
                    Some(Decoded::Struct(st)) if std::ptr::eq(st.def, *def) => st,
                    _ => Struct::new(def),
                };
                self.object(members, st).map(|st| Some(Decoded::Struct(st)))
            }
            (s, v) => Err(self.type_error(v, s)),
        }
    }

    /// `(*decodeState).array` into a slice decodes each element into the
    /// element already at that index, including elements past the length
    /// left by an earlier, longer array (they stay in the backing array;
    /// how much of it survives depends on the Go version's growth policy).
    /// A slice that held no element has no such leftovers. When one did,
    /// the new array is taken only if no element's outcome depends on what
    /// it is decoded into; then it simply replaces.
    fn slice(
        &mut self,
        items: &[Value],
        elem: &Schema,
        cur: Option<Decoded>,
    ) -> Result<Decoded, Error> {
        let reused = matches!(&cur, Some(Decoded::List(old)) if !old.is_empty());
        let dependent = items.iter().position(|it| !independent(it, elem));
        if let (true, Some(i)) = (reused, dependent) {
            self.path.push(Seg::Index(i));
            let e = Error::new(
                ErrorKind::SliceReuse,
                format!(
                    "{} repeats a list whose element {i} Go would merge into the earlier one",
                    self.here()
                ),
            );
            self.path.pop();
            return Err(e);
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            self.path.push(Seg::Index(i));
            let e = self.value(it, elem, None)?;
            self.path.pop();
            out.push(e.unwrap_or_else(|| zero(elem)));
        }
        Ok(Decoded::List(out))
    }

    /// A fixed array: elements decoded into the current ones, the rest
    /// zeroed, extra JSON elements skipped without being looked at (Go
    /// calls `d.value(reflect.Value{})` on them).
    fn array(
        &mut self,
        items: &[Value],
        n: usize,
        elem: &Schema,
        cur: Option<Decoded>,
    ) -> Result<Decoded, Error> {
        let mut out = match cur {
            Some(Decoded::List(v)) if v.len() == n => v,
            _ => (0..n).map(|_| zero(elem)).collect(),
        };
        for (i, slot) in out.iter_mut().enumerate() {
            let old = std::mem::replace(slot, Decoded::Null);
            *slot = match items.get(i) {
                Some(it) => {
                    self.path.push(Seg::Index(i));
                    let r = self.value(it, elem, Some(old))?;
                    self.path.pop();
                    r.unwrap_or_else(|| zero(elem))
                }
                None => zero(elem),
            };
        }
        Ok(Decoded::List(out))
    }

    /// A map: an existing map is kept and added to, but every value is
    /// decoded into a fresh zero element (`mapElem.Set(reflect.Zero(…))`).
    fn map(
        &mut self,
        members: &[(String, Value)],
        elem: &Schema,
        cur: Option<Decoded>,
    ) -> Result<Decoded, Error> {
        let mut m = match cur {
            Some(Decoded::Map(m)) => m,
            _ => BTreeMap::new(),
        };
        for (k, val) in members {
            self.path.push(Seg::Key(k.clone()));
            let e = self.value(val, elem, None)?;
            self.path.pop();
            m.insert(k.clone(), e.unwrap_or_else(|| zero(elem)));
        }
        Ok(Decoded::Map(m))
    }

    /// A struct: each member in order, into the field Go's lookup selects
    /// (allocating embedded pointers on the way, whatever the value, as
    /// `(*decodeState).object` does); unknown keys are skipped.
    fn object(&mut self, members: &[(String, Value)], mut st: Struct) -> Result<Struct, Error> {
        let fs = field_set(st.def);
        for (k, val) in members {
            let info = match fs.lookup(k) {
                Ok(Some(info)) => info,
                Ok(None) => continue,
                Err(e) => {
                    return Err(Error::new(e.kind(), format!("{} in {}", e, self.here())));
                }
            };
            self.path.push(Seg::Field(info.name));
            let Some(slot) = st.slot_mut(&info.path, true) else {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    format!("schema of {} does not match its field set", st.def.name),
                ));
            };
            let old = slot.take();
            let new = self.value(val, &info.schema, old)?;
            *slot = new.filter(|d| !matches!(d, Decoded::Null));
            self.path.pop();
        }
        Ok(st)
    }

    /// `interface{}`: Go builds a fresh value whatever was there before;
    /// objects become maps, so a repeated key is simply overwritten.
    fn any(&mut self, v: &Value) -> Result<Decoded, Error> {
        Ok(match v {
            Value::Null => Decoded::Null,
            Value::Bool(b) => Decoded::Bool(*b),
            Value::Number(n) => match parse_float(n) {
                Some(f) => Decoded::Float(f),
                None => return Err(self.number_error(n, &Schema::Float64)),
            },
            Value::String(s) => Decoded::Str(s.clone()),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, it) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    out.push(self.any(it)?);
                    self.path.pop();
                }
                Decoded::List(out)
            }
            Value::Object(members) => {
                let mut m = BTreeMap::new();
                for (k, it) in members {
                    self.path.push(Seg::Key(k.clone()));
                    m.insert(k.clone(), self.any(it)?);
                    self.path.pop();
                }
                Decoded::Map(m)
            }
        })
    }

    /// moby's `StrSlice.UnmarshalJSON` (`api/types/strslice`): unmarshal
    /// into a fresh `[]string` (null elements stay ""), else into a
    /// `string` as a one-element list; anything else is the error of the
    /// second attempt.
    fn str_slice(&mut self, v: &Value) -> Result<Decoded, Error> {
        match v {
            Value::String(s) => Ok(Decoded::List(vec![Decoded::Str(s.clone())])),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        Value::String(s) => out.push(Decoded::Str(s.clone())),
                        Value::Null => out.push(Decoded::Str(String::new())),
                        _ => return Err(self.type_error(v, &Schema::String)),
                    }
                }
                Ok(Decoded::List(out))
            }
            _ => Err(self.type_error(v, &Schema::String)),
        }
    }
}

/// Whether decoding `v` into a Go value of type `s` gives the same result
/// whatever that value held before. Used for slice elements Go may reuse.
fn independent(v: &Value, s: &Schema) -> bool {
    match (s, v) {
        (
            Schema::Ptr(_) | Schema::Slice(_) | Schema::Map(_) | Schema::Any | Schema::StrSlice,
            Value::Null,
        ) => true,
        // null leaves scalars, structs and arrays as they were
        (_, Value::Null) => false,
        (Schema::Any | Schema::StrSlice, _) => true,
        (Schema::Ptr(inner), v) => independent(v, inner),
        (Schema::Slice(e), Value::Array(items)) => items.iter().all(|it| independent(it, e)),
        (Schema::Array(n, e), Value::Array(items)) => {
            items.iter().take(*n).all(|it| independent(it, e))
        }
        // objects merge into existing structs and maps
        (Schema::Map(_) | Schema::Struct(_), Value::Object(_)) => false,
        // a scalar overwrites; a mismatch is a type error and refused
        _ => true,
    }
}

/// `strconv.ParseInt(lit, 10, 64)` then `OverflowInt` for `bits`: an
/// optional `-` and decimal digits only, so `1.0`, `1e3` and out-of-range
/// values fail; `-0` is 0.
fn parse_int(lit: &str, bits: u8) -> Option<i64> {
    let (neg, digits) = match lit.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, lit),
    };
    let mag = parse_digits(digits)?;
    let bits = u32::from(bits.clamp(1, 64));
    let limit = 1u128 << (bits - 1);
    if neg {
        if mag > limit {
            return None;
        }
        i64::try_from(-(i128::try_from(mag).ok()?)).ok()
    } else {
        if mag >= limit {
            return None;
        }
        i64::try_from(mag).ok()
    }
}

/// `strconv.ParseUint(lit, 10, 64)` then `OverflowUint`: digits only, so
/// even `-0` fails.
fn parse_uint(lit: &str, bits: u8) -> Option<u64> {
    let mag = parse_digits(lit)?;
    let bits = u32::from(bits.clamp(1, 64));
    if mag >= 1u128 << bits {
        return None;
    }
    u64::try_from(mag).ok()
}

fn parse_digits(digits: &str) -> Option<u128> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u128 = 0;
    for b in digits.bytes() {
        n = n.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
        if n > u128::from(u64::MAX) {
            return None;
        }
    }
    Some(n)
}

/// `strconv.ParseFloat(lit, 64)`: correctly rounded like Rust's parser; a
/// literal that rounds to infinity is Go's `ErrRange` (an error), one that
/// underflows is 0 without error.
fn parse_float(lit: &str) -> Option<f64> {
    lit.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl Schema {
    /// The Go spelling of this type, for messages.
    pub fn go_type(&self) -> String {
        match self {
            Schema::Bool => "bool".into(),
            Schema::String => "string".into(),
            Schema::Int(b) => format!("int{b}"),
            Schema::Uint(b) => format!("uint{b}"),
            Schema::GoInt => "int".into(),
            Schema::GoUint => "uint".into(),
            Schema::Float64 => "float64".into(),
            Schema::Any => "interface {}".into(),
            Schema::StrSlice => "strslice.StrSlice".into(),
            Schema::Ptr(s) => format!("*{}", s.go_type()),
            Schema::Slice(s) => format!("[]{}", s.go_type()),
            Schema::Array(n, s) => format!("[{n}]{}", s.go_type()),
            Schema::Map(s) => format!("map[string]{}", s.go_type()),
            Schema::Struct(d) => d.name.into(),
        }
    }
}

impl Decoded {
    /// Whether this value can stand for a Go value of type `schema`, with
    /// the invariants [`Struct`] keeps (no explicit nil in a struct field,
    /// embedded structs held by value present, finite floats, integers in
    /// range). [`Struct::set`] checks it; code that edits through
    /// [`Struct::get_mut`] can check its result with it.
    pub fn conforms(&self, schema: &Schema) -> bool {
        use Decoded as D;
        match (schema, self) {
            (
                Schema::Ptr(_) | Schema::Slice(_) | Schema::Map(_) | Schema::Any | Schema::StrSlice,
                D::Null,
            ) => true,
            (Schema::Bool, D::Bool(_)) | (Schema::String, D::Str(_)) => true,
            (Schema::Int(bits), D::Int(i)) => {
                let b = u32::from((*bits).clamp(1, 64));
                let lim = 1i128 << (b - 1);
                (-lim..lim).contains(&i128::from(*i))
            }
            (Schema::GoInt, D::Int(i)) => i32::try_from(*i).is_ok(),
            (Schema::GoUint, D::Uint(u)) => u32::try_from(*u).is_ok(),
            (Schema::Uint(bits), D::Uint(u)) => {
                u128::from(*u) < 1u128 << u32::from((*bits).clamp(1, 64))
            }
            (Schema::Float64, D::Float(f)) => f.is_finite(),
            (Schema::Any, v) => v.any_conforms(),
            (Schema::StrSlice, D::List(items)) => items.iter().all(|i| matches!(i, D::Str(_))),
            (Schema::Ptr(inner), v) => v.conforms(inner),
            (Schema::Slice(e), D::List(items)) => items.iter().all(|i| i.conforms(e)),
            (Schema::Array(n, e), D::List(items)) => {
                items.len() == *n && items.iter().all(|i| i.conforms(e))
            }
            (Schema::Map(e), D::Map(m)) => m.values().all(|v| v.conforms(e)),
            (Schema::Struct(def), D::Struct(st)) => {
                std::ptr::eq(st.def, *def)
                    && st.fields.len() <= def.fields.len()
                    && def
                        .fields
                        .iter()
                        .enumerate()
                        .all(|(i, f)| match st.slot(i) {
                            None => !st.is_value_embedding(f),
                            Some(D::Null) => false,
                            Some(v) => v.conforms(&f.schema),
                        })
            }
            _ => false,
        }
    }

    fn any_conforms(&self) -> bool {
        match self {
            Decoded::Null | Decoded::Bool(_) | Decoded::Str(_) => true,
            Decoded::Float(f) => f.is_finite(),
            Decoded::List(items) => items.iter().all(Decoded::any_conforms),
            Decoded::Map(m) => m.values().all(Decoded::any_conforms),
            _ => false,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Decoded::Null)
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Decoded::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Decoded::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Decoded::Uint(u) => Some(*u),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Decoded::Float(f) => Some(*f),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Decoded::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Decoded]> {
        match self {
            Decoded::List(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_list_mut(&mut self) -> Option<&mut Vec<Decoded>> {
        match self {
            Decoded::List(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&BTreeMap<String, Decoded>> {
        match self {
            Decoded::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut BTreeMap<String, Decoded>> {
        match self {
            Decoded::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Decoded::Struct(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_struct_mut(&mut self) -> Option<&mut Struct> {
        match self {
            Decoded::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Compact JSON that Go decodes back into this value: struct fields by
    /// their exact JSON names (no folding involved), promoted fields at the
    /// level Go promotes them to, unset fields left out, map keys sorted,
    /// no duplicate keys. Floats are written with Rust's shortest
    /// round-trip form, which Go parses to the same bits.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Decoded::Null => out.push_str("null"),
            Decoded::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Decoded::Int(i) => out.push_str(&i.to_string()),
            Decoded::Uint(u) => out.push_str(&u.to_string()),
            Decoded::Float(f) => out.push_str(&format!("{f:?}")),
            Decoded::Str(s) => write_string(s, out),
            Decoded::List(items) => write_array(items, out, Decoded::write),
            Decoded::Map(m) => {
                write_object(m.iter().map(|(k, v)| (k.as_str(), v)), out, Decoded::write)
            }
            Decoded::Struct(s) => s.write(out),
        }
    }
}

impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl Struct {
    /// The zero value of `def`: nothing set, embedded structs held by value
    /// present (and zero), embedded pointers nil.
    pub fn new(def: &'static StructDef) -> Struct {
        let embeds_value = def
            .fields
            .iter()
            .any(|f| f.embedded && is_untagged(f.tag) && matches!(f.schema, Schema::Struct(_)));
        if !embeds_value {
            return Struct {
                def,
                fields: Vec::new(),
            };
        }
        let fields = def
            .fields
            .iter()
            .map(|f| match f.schema {
                Schema::Struct(inner) if f.embedded && is_untagged(f.tag) => {
                    Some(Decoded::Struct(Struct::new(inner)))
                }
                _ => None,
            })
            .collect();
        Struct { def, fields }
    }

    fn slot(&self, i: usize) -> Option<&Decoded> {
        self.fields.get(i).and_then(Option::as_ref)
    }

    /// The slots, materialised: every field becomes addressable.
    fn slots_mut(&mut self) -> &mut Vec<Option<Decoded>> {
        if self.fields.len() < self.def.fields.len() {
            self.fields.resize_with(self.def.fields.len(), || None);
        }
        &mut self.fields
    }

    pub fn def(&self) -> &'static StructDef {
        self.def
    }

    fn is_value_embedding(&self, f: &super::Field) -> bool {
        f.embedded && is_untagged(f.tag) && matches!(f.schema, Schema::Struct(_))
    }

    /// The Go fields in declaration order with their values (`None`: zero).
    pub fn fields(&self) -> impl Iterator<Item = (&'static super::Field, Option<&Decoded>)> {
        self.def
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f, self.slot(i)))
    }

    /// The value of the field Go's JSON name `name` (exactly, as in the
    /// schema) selects, promoted fields included. `None`: zero or nil.
    pub fn get(&self, name: &str) -> Option<&Decoded> {
        let fs = field_set(self.def);
        let info = fs.get(name)?;
        self.value_at(&info.path)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Decoded> {
        let fs = field_set(self.def);
        let info = fs.get(name)?;
        self.slot_mut(&info.path, false)?.as_mut()
    }

    /// Sets the field with JSON name `name`, allocating embedded pointers
    /// on the way as Go would when decoding it; [`Decoded::Null`] makes it
    /// unset (zero or nil), like Go decoding `"name":null` into a nil-able
    /// field. Returns the previous value. Refuses unknown names and values
    /// that do not conform to the field's type.
    pub fn set(&mut self, name: &str, value: Decoded) -> Result<Option<Decoded>, Error> {
        let fs = field_set(self.def);
        let Some(info) = fs.get(name) else {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("{} has no JSON field {name:?}", self.def.name),
            ));
        };
        if !value.is_null() && !value.conforms(&info.schema) {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!(
                    "{} is not a {} for {}.{name}",
                    value,
                    info.schema.go_type(),
                    self.def.name
                ),
            ));
        }
        let def = self.def;
        let Some(slot) = self.slot_mut(&info.path, true) else {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("schema of {} does not match its field set", def.name),
            ));
        };
        let new = (!value.is_null()).then_some(value);
        Ok(std::mem::replace(slot, new))
    }

    /// Clears the field with JSON name `name` (embedded pointers stay as
    /// they are) and returns what it held.
    pub fn remove(&mut self, name: &str) -> Option<Decoded> {
        let fs = field_set(self.def);
        let info = fs.get(name)?;
        self.slot_mut(&info.path, false)?.take()
    }

    /// A field of this struct itself by its Go name (embedded structs by
    /// their type name), e.g. the embedded `HostConfig` of moby's
    /// `ContainerConfigWrapper`, whose JSON name `HostConfig` belongs to
    /// another field.
    pub fn field(&self, go_name: &str) -> Option<&Decoded> {
        let i = self.def.fields.iter().position(|f| f.name == go_name)?;
        self.slot(i)
    }

    pub fn field_mut(&mut self, go_name: &str) -> Option<&mut Decoded> {
        let i = self.def.fields.iter().position(|f| f.name == go_name)?;
        self.slots_mut().get_mut(i)?.as_mut()
    }

    /// Sets a field of this struct itself by its Go name, checked like
    /// [`Struct::set`] ([`Decoded::Null`] unsets it). An embedded struct
    /// held by value cannot be unset.
    pub fn set_field(&mut self, go_name: &str, value: Decoded) -> Result<Option<Decoded>, Error> {
        let Some(i) = self.def.fields.iter().position(|f| f.name == go_name) else {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("{} has no field {go_name}", self.def.name),
            ));
        };
        let f = &self.def.fields[i];
        let ok = if value.is_null() {
            !self.is_value_embedding(f)
        } else {
            value.conforms(&f.schema)
        };
        if !ok {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!(
                    "{} is not a {} for {}.{go_name}",
                    value,
                    f.schema.go_type(),
                    self.def.name
                ),
            ));
        }
        let new = (!value.is_null()).then_some(value);
        match self.slots_mut().get_mut(i) {
            Some(slot) => Ok(std::mem::replace(slot, new)),
            None => Err(Error::new(
                ErrorKind::Invalid,
                format!("{} value does not match its definition", self.def.name),
            )),
        }
    }

    /// The slot at a field path; with `alloc`, nil embedded pointers on the
    /// way are allocated (Go's `subv.Set(reflect.New(…))`).
    fn slot_mut(&mut self, path: &[usize], alloc: bool) -> Option<&mut Option<Decoded>> {
        let (&first, rest) = path.split_first()?;
        let embedded_def = match &self.def.fields.get(first)?.schema {
            Schema::Struct(d) | Schema::Ptr(Schema::Struct(d)) => Some(*d),
            _ => None,
        };
        let slot = self.slots_mut().get_mut(first)?;
        if rest.is_empty() {
            return Some(slot);
        }
        if slot.is_none() {
            if !alloc {
                return None;
            }
            *slot = Some(Decoded::Struct(Struct::new(embedded_def?)));
        }
        match slot {
            Some(Decoded::Struct(inner)) => inner.slot_mut(rest, alloc),
            _ => None,
        }
    }

    fn value_at(&self, path: &[usize]) -> Option<&Decoded> {
        let (&first, rest) = path.split_first()?;
        let v = self.fields.get(first)?.as_ref()?;
        if rest.is_empty() {
            return Some(v);
        }
        match v {
            Decoded::Struct(inner) => inner.value_at(rest),
            _ => None,
        }
    }

    /// Whether every embedded struct on the way to the field at `path` is
    /// present (so writing that field allocates nothing new).
    fn hops_present(&self, path: &[usize]) -> bool {
        let Some((_, hops)) = path.split_last() else {
            return false;
        };
        let mut s = self;
        for &i in hops {
            match s.fields.get(i) {
                Some(Some(Decoded::Struct(inner))) => s = inner,
                _ => return false,
            }
        }
        true
    }

    /// Paths of the allocated embedded pointers inside this struct.
    fn allocated_pointers(&self, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        for (i, (f, slot)) in self.def.fields.iter().zip(&self.fields).enumerate() {
            if !f.embedded || !is_untagged(f.tag) {
                continue;
            }
            if let Some(Decoded::Struct(inner)) = slot {
                prefix.push(i);
                if matches!(f.schema, Schema::Ptr(_)) {
                    out.push(prefix.clone());
                }
                inner.allocated_pointers(prefix, out);
                prefix.pop();
            }
        }
    }

    fn write(&self, out: &mut String) {
        let fs: std::sync::Arc<FieldSet> = field_set(self.def);
        out.push('{');
        let mut first = true;
        let mut written: Vec<&[usize]> = Vec::new();
        let mut member = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            write_string(name, out);
            out.push(':');
        };
        for f in &fs.list {
            if let Some(v) = self.value_at(&f.path) {
                member(out, f.name);
                v.write(out);
                written.push(&f.path);
            }
        }
        // An embedded pointer Go allocated for a key whose value changed
        // nothing (`{"Privileged": null}` allocates the embedded
        // *HostConfig) has no field to write; a `null` for one of its
        // fields that crosses no other nil pointer allocates just it.
        let mut ptrs = Vec::new();
        self.allocated_pointers(&mut Vec::new(), &mut ptrs);
        ptrs.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in &ptrs {
            if written.iter().any(|w| w.starts_with(p)) {
                continue;
            }
            if let Some(f) = fs
                .list
                .iter()
                .find(|f| f.path.starts_with(p) && self.hops_present(&f.path))
            {
                member(out, f.name);
                out.push_str("null");
                written.push(&f.path);
            }
        }
        out.push('}');
    }
}

/// An embedded field whose fields Go promotes (no usable tag name).
fn is_untagged(tag: &str) -> bool {
    tag != "-" && tag_name(tag).is_none()
}
