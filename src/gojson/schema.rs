//! Go types as static tables, and the two pieces of `encoding/json` that
//! depend only on the type: which JSON names a struct answers to (Go's
//! `typeFields`) and which of them a given key selects (exact match, then
//! Go's case folding).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use super::{Error, ErrorKind};

/// A Go type as `encoding/json` sees it. Pointers are always unnamed
/// (`*T`): Go follows them when collecting embedded fields, and that is all
/// moby uses.
#[derive(Debug, Clone, Copy)]
pub enum Schema {
    Bool,
    String,
    /// `int8` … `int64`.
    Int(u8),
    /// `uint8` … `uint64`.
    Uint(u8),
    /// Go's `int`: 64 bits on amd64 and arm64, 32 on armhf and 386, where
    /// dockerd ships too. Only values that fit 32 bits are taken, so that
    /// every daemon reads the body alike (none refuses what was checked).
    GoInt,
    /// Go's `uint`, likewise.
    GoUint,
    Float64,
    /// `interface{}`: any JSON, as Go builds it (`map[string]interface{}`,
    /// `[]interface{}`, `float64`, `string`, `bool`, `nil`).
    Any,
    /// moby's `strslice.StrSlice`, whose `UnmarshalJSON` reads a string as
    /// a one-element list, an array of strings as itself, `null` as nil.
    StrSlice,
    Ptr(&'static Schema),
    Slice(&'static Schema),
    /// `[N]T`: a fixed array (Go zeroes what the JSON array leaves out and
    /// skips what it has too much).
    Array(usize, &'static Schema),
    /// `map[K]V` with a string-kinded key (`string`, `nat.Port`).
    Map(&'static Schema),
    Struct(&'static StructDef),
}

/// A Go struct type. `name` is its qualified Go name (`container.Config`):
/// `typeFields` tells types apart by identity, and here the name stands for
/// it, so two definitions of one name must be one definition ([`validate`]).
#[derive(Debug)]
pub struct StructDef {
    pub name: &'static str,
    /// Exported fields only, in declaration order (unexported ones are
    /// invisible to `encoding/json`).
    pub fields: &'static [Field],
}

/// One struct field as declared in Go.
#[derive(Debug)]
pub struct Field {
    /// The Go field name; for an embedded field, the type's name.
    pub name: &'static str,
    /// The whole `json:"…"` tag value, as written (`""` when absent):
    /// `"-"` hides the field, the part before the first comma renames it.
    pub tag: &'static str,
    /// An embedded (anonymous) field.
    pub embedded: bool,
    pub schema: Schema,
}

/// `Field` literals for static tables: `field!("Name", schema)`,
/// `field!("Name", "tag", schema)`, `field!(embed "Name", schema)`. A macro
/// rather than a `const fn` so that `&Schema::…` arguments get `'static`
/// lifetime extension inside a `static` initializer.
macro_rules! field {
    (embed $name:literal, $schema:expr) => {
        $crate::gojson::Field {
            name: $name,
            tag: "",
            embedded: true,
            schema: $schema,
        }
    };
    ($name:literal, $tag:literal, $schema:expr) => {
        $crate::gojson::Field {
            name: $name,
            tag: $tag,
            embedded: false,
            schema: $schema,
        }
    };
    ($name:literal, $schema:expr) => {
        $crate::gojson::Field {
            name: $name,
            tag: "",
            embedded: false,
            schema: $schema,
        }
    };
}
pub(crate) use field;

/// One JSON-visible field of a struct after Go's embedding rules: its JSON
/// name and the path of field indices from the outer struct to it.
#[derive(Debug, Clone)]
pub(crate) struct FieldInfo {
    pub name: &'static str,
    /// `name` through Go 1.21's `foldName` (`None` for a non-ASCII name,
    /// which matches only exactly; see `go119_equal_fold`).
    folded: Option<String>,
    tagged: bool,
    /// Indices into `StructDef::fields`, outermost first; all but the last
    /// step through embedded structs (by value or by pointer).
    pub path: Vec<usize>,
    pub schema: Schema,
}

/// Go's `structFields`: the visible fields in index-path order (the order
/// the case-insensitive search tries them) and an exact-name index.
#[derive(Debug)]
pub(crate) struct FieldSet {
    pub list: Vec<FieldInfo>,
    exact: HashMap<&'static str, usize>,
}

impl FieldSet {
    /// The field a JSON object key selects in Go's `(*decodeState).object`:
    /// the field with exactly that name, else the first field (in index
    /// order) whose name folds to the key. `Ok(None)`: Go ignores the key.
    ///
    /// Go 1.19 folds with `foldFunc(name)(name, key)` (`fold.go`), Go 1.21+
    /// with `foldName(key) == foldName(name)`; both are computed, and a key
    /// on which they pick different fields is refused. For ASCII names (all
    /// of moby's) they agree: ASCII letters match either case, U+212A
    /// KELVIN SIGN matches `k`/`K` and U+017F LATIN SMALL LETTER LONG S
    /// matches `s`/`S`, and no other rune folds to ASCII in either version
    /// (checked over all of Unicode with Go 1.19's tables; see the tests).
    ///
    /// Go 1.21+'s answer follows `unicode.SimpleFold`, so a later Unicode
    /// table could give some other rune an ASCII letter as partner. A key
    /// that would then select a different field is refused too: one in
    /// which every other non-ASCII rune stands where the name has a letter
    /// ([`could_fold_to`]), like `ımage` for `Image`.
    pub fn lookup(&self, key: &str) -> Result<Option<&FieldInfo>, Error> {
        if let Some(&i) = self.exact.get(key) {
            return Ok(self.list.get(i));
        }
        let go119 = self.list.iter().position(|f| go119_equal_fold(f.name, key));
        let folded = go121_fold_name(key);
        let go121 = self
            .list
            .iter()
            .position(|f| f.folded.as_deref() == Some(folded.as_str()));
        if go119 != go121 {
            return Err(Error::new(
                ErrorKind::AmbiguousKey,
                format!("key {key:?} selects different fields in Go 1.19 and Go 1.21+"),
            ));
        }
        if !key.is_ascii() {
            let later = self.list.iter().position(|f| could_fold_to(f.name, key));
            if later != go119 {
                let name = later.and_then(|i| self.list.get(i)).map_or("", |f| f.name);
                return Err(Error::new(
                    ErrorKind::AmbiguousKey,
                    format!("key {key:?} is one case mapping away from the field {name}"),
                ));
            }
        }
        Ok(go119.and_then(|i| self.list.get(i)))
    }

    /// The visible field with exactly this JSON name.
    pub fn get(&self, name: &str) -> Option<&FieldInfo> {
        self.exact.get(name).and_then(|&i| self.list.get(i))
    }
}

const CASE_MASK: u8 = !0x20;

/// Go 1.19 `foldFunc(name)(name, key)` (`encoding/json/fold.go`) for an
/// ASCII `name`: `equalFoldRight` when the name has a `k` or `s` (the
/// letters with a non-ASCII fold partner), else `asciiEqualFold` or
/// `simpleLetterEqualFold`, which compare byte by byte. A non-ASCII name
/// would use `bytes.EqualFold`, which needs Unicode tables; such names are
/// refused by [`validate`] and only match exactly here.
pub(crate) fn go119_equal_fold(name: &str, key: &str) -> bool {
    let s = name.as_bytes();
    if !name.is_ascii() {
        return name == key;
    }
    let mut special = false;
    let mut non_letter = false;
    for &b in s {
        let upper = b & CASE_MASK;
        if !upper.is_ascii_uppercase() {
            non_letter = true;
        } else if upper == b'K' || upper == b'S' {
            special = true;
        }
    }
    let t = key.as_bytes();
    if special {
        equal_fold_right(name, key)
    } else if non_letter {
        // asciiEqualFold
        s.len() == t.len()
            && s.iter().zip(t).all(|(&sb, &tb)| {
                sb == tb || (sb.is_ascii_alphabetic() && sb & CASE_MASK == tb & CASE_MASK)
            })
    } else {
        // simpleLetterEqualFold
        s.len() == t.len()
            && s.iter()
                .zip(t)
                .all(|(&a, &b)| a & CASE_MASK == b & CASE_MASK)
    }
}

/// Go 1.19 `equalFoldRight`: `s` is ASCII, `t` may hold the Kelvin sign
/// for `k`/`K` and the long s for `s`/`S`.
fn equal_fold_right(s: &str, t: &str) -> bool {
    let mut t = t.chars();
    for sb in s.bytes() {
        let Some(tc) = t.next() else {
            return false;
        };
        if tc.is_ascii() {
            let tb = tc as u8;
            if sb != tb {
                let upper = sb & CASE_MASK;
                if !upper.is_ascii_uppercase() || upper != tb & CASE_MASK {
                    return false;
                }
            }
            continue;
        }
        let ok = match sb {
            b's' | b'S' => tc == '\u{17F}',
            b'k' | b'K' => tc == '\u{212A}',
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    t.next().is_none()
}

/// Whether some Go version's case folding could match `key` to the ASCII
/// `name`: rune for byte, ASCII runes and U+017F/U+212A as Go folds them
/// today, any other non-ASCII rune wherever the name has a letter.
pub(crate) fn could_fold_to(name: &str, key: &str) -> bool {
    name.is_ascii()
        && name.len() == key.chars().count()
        && name.bytes().zip(key.chars()).all(|(nb, kc)| match kc {
            '\u{17F}' => nb.eq_ignore_ascii_case(&b's'),
            '\u{212A}' => nb.eq_ignore_ascii_case(&b'k'),
            kc if kc.is_ascii() => nb.eq_ignore_ascii_case(&(kc as u8)),
            _ => nb.is_ascii_alphabetic(),
        })
}

/// Go 1.21+ `foldName` (`encoding/json/fold.go`): ASCII letters upper
/// case, every other rune replaced by the smallest rune of its
/// `unicode.SimpleFold` orbit. Only two non-ASCII runes have an ASCII
/// smallest: U+017F (`S`) and U+212A (`K`). Other runes are kept as they
/// are: Go would map them to other non-ASCII runes, which can equal the
/// folded form of an ASCII name just as little.
pub(crate) fn go121_fold_name(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            '\u{17F}' => 'S',
            '\u{212A}' => 'K',
            c => c,
        })
        .collect()
}

/// Go's `parseTag` + `isValidTag` (`encoding/json/tags.go`, `encode.go`):
/// the name part of a tag, if it is a usable name. Non-ASCII names are
/// not taken (Go's `unicode.IsLetter` would be needed); [`validate`] refuses
/// them in schemas.
pub(crate) fn tag_name(tag: &str) -> Option<&str> {
    let name = tag.split(',').next().unwrap_or("");
    if name.is_empty() {
        return None;
    }
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&()*+-./:;<=>?@[]^_{|}~ ".contains(c));
    ok.then_some(name)
}

fn embedded_struct(schema: &Schema) -> Option<&'static StructDef> {
    match schema {
        Schema::Struct(d) => Some(d),
        Schema::Ptr(Schema::Struct(d)) => Some(d),
        _ => None,
    }
}

/// Go's `typeFields` (`encoding/json/encode.go`): breadth-first over
/// embedded structs; a type already seen at a shallower level is not
/// explored again; a type embedded twice at one level contributes its
/// fields twice so they cancel; then per name the shallowest field wins,
/// a tagged one beats untagged ones at the same depth, and two equal
/// candidates cancel each other (the name becomes unknown).
fn type_fields(def: &'static StructDef) -> FieldSet {
    struct Queued {
        def: &'static StructDef,
        path: Vec<usize>,
    }
    let mut next = vec![Queued {
        def,
        path: Vec::new(),
    }];
    let mut next_count: HashMap<&str, usize> = HashMap::new();
    let mut visited: HashSet<&str> = HashSet::new();
    let mut fields: Vec<FieldInfo> = Vec::new();
    while !next.is_empty() {
        let current = std::mem::take(&mut next);
        let count = std::mem::take(&mut next_count);
        for q in current {
            if !visited.insert(q.def.name) {
                continue;
            }
            for (i, sf) in q.def.fields.iter().enumerate() {
                if sf.tag == "-" {
                    continue;
                }
                let tagged = tag_name(sf.tag);
                let mut path = q.path.clone();
                path.push(i);
                let inner = if sf.embedded {
                    embedded_struct(&sf.schema)
                } else {
                    None
                };
                match (tagged, inner) {
                    (None, Some(inner)) => {
                        let n = next_count.entry(inner.name).or_insert(0);
                        *n += 1;
                        if *n == 1 {
                            next.push(Queued { def: inner, path });
                        }
                    }
                    _ => {
                        let name = tagged.unwrap_or(sf.name);
                        let f = FieldInfo {
                            name,
                            folded: name.is_ascii().then(|| go121_fold_name(name)),
                            tagged: tagged.is_some(),
                            path,
                            schema: sf.schema,
                        };
                        if count.get(q.def.name).copied().unwrap_or(0) > 1 {
                            fields.push(f.clone());
                        }
                        fields.push(f);
                    }
                }
            }
        }
    }
    fields.sort_by(|a, b| {
        a.name
            .cmp(b.name)
            .then(a.path.len().cmp(&b.path.len()))
            .then(b.tagged.cmp(&a.tagged))
            .then(a.path.cmp(&b.path))
    });
    let mut list = Vec::new();
    let mut i = 0;
    while i < fields.len() {
        let mut j = i + 1;
        while j < fields.len() && fields[j].name == fields[i].name {
            j += 1;
        }
        // dominantField: the first wins unless the second is as deep and
        // as tagged as it.
        let dominated = j - i > 1
            && fields[i].path.len() == fields[i + 1].path.len()
            && fields[i].tagged == fields[i + 1].tagged;
        if !dominated {
            list.push(fields[i].clone());
        }
        i = j;
    }
    list.sort_by(|a, b| a.path.cmp(&b.path));
    let exact = list.iter().enumerate().map(|(i, f)| (f.name, i)).collect();
    FieldSet { list, exact }
}

/// The field set of `def`, computed once per definition (like Go's
/// `cachedTypeFields`).
pub(crate) fn field_set(def: &'static StructDef) -> Arc<FieldSet> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<FieldSet>>>> = OnceLock::new();
    let key = def as *const StructDef as usize;
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(fs) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Arc::clone(fs);
    }
    let fs = Arc::new(type_fields(def));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, Arc::clone(&fs));
    fs
}

/// Checks what the engine assumes of a schema and Go does not enforce:
/// every struct name stands for one definition; JSON names (field names
/// and tag names) are ASCII, so both Go folding algorithms agree; Go
/// names are exported; no tag has the `,string` option (which makes Go
/// read numbers and booleans from inside strings); and every embedded
/// pointer to a struct has a
/// visible field reachable from the outer struct without crossing another
/// embedded pointer, so that an allocated but empty one can be written
/// out (see [`super::Decoded::to_json`]). Meant for tests of static
/// schemas.
pub fn validate(schema: &Schema) -> Result<(), String> {
    let mut seen: HashMap<&'static str, *const StructDef> = HashMap::new();
    validate_rec(schema, &mut seen)
}

fn validate_rec(
    schema: &Schema,
    seen: &mut HashMap<&'static str, *const StructDef>,
) -> Result<(), String> {
    match schema {
        Schema::Ptr(s) | Schema::Slice(s) | Schema::Array(_, s) | Schema::Map(s) => {
            validate_rec(s, seen)
        }
        Schema::Struct(def) => {
            let ptr = *def as *const StructDef;
            if let Some(&p) = seen.get(def.name) {
                if p != ptr {
                    return Err(format!("two definitions named {}", def.name));
                }
                return Ok(());
            }
            seen.insert(def.name, ptr);
            for f in def.fields {
                if !f.name.is_ascii() || !f.name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    return Err(format!(
                        "{}.{}: not an exported ASCII name",
                        def.name, f.name
                    ));
                }
                if !f.tag.is_ascii() {
                    return Err(format!("{}.{}: non-ASCII tag", def.name, f.name));
                }
                if f.tag.split(',').skip(1).any(|o| o == "string") {
                    return Err(format!(
                        "{}.{}: the `,string` option is not modelled",
                        def.name, f.name
                    ));
                }
                if f.embedded && embedded_struct(&f.schema).is_none() {
                    return Err(format!(
                        "{}.{}: embedded fields must be structs or pointers to structs",
                        def.name, f.name
                    ));
                }
                validate_rec(&f.schema, seen)?;
            }
            let fs = field_set(def);
            for (path, _) in embedded_pointers(def, &mut Vec::new()) {
                let reachable = fs.list.iter().any(|f| {
                    f.path.starts_with(&path)
                        && !crosses_pointer(def, &f.path[..f.path.len() - 1], path.len())
                });
                if !reachable {
                    return Err(format!(
                        "{}: embedded pointer at {path:?} has no directly visible field",
                        def.name
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Paths of every embedded pointer to a struct inside `def` (through
/// embedded structs), with the embedded definition.
fn embedded_pointers(
    def: &'static StructDef,
    prefix: &mut Vec<usize>,
) -> Vec<(Vec<usize>, &'static StructDef)> {
    let mut out = Vec::new();
    for (i, f) in def.fields.iter().enumerate() {
        if !f.embedded || tag_name(f.tag).is_some() {
            continue;
        }
        prefix.push(i);
        match f.schema {
            Schema::Ptr(Schema::Struct(inner)) => {
                out.push((prefix.clone(), *inner));
                out.extend(embedded_pointers(inner, prefix));
            }
            Schema::Struct(inner) => out.extend(embedded_pointers(inner, prefix)),
            _ => {}
        }
        prefix.pop();
    }
    out
}

/// Whether the embedded hops `hops` (a field path without its last step)
/// cross an embedded pointer after the first `skip` steps.
fn crosses_pointer(def: &'static StructDef, hops: &[usize], skip: usize) -> bool {
    let mut d = def;
    for (n, &i) in hops.iter().enumerate() {
        let Some(f) = d.fields.get(i) else {
            return true;
        };
        if n >= skip && matches!(f.schema, Schema::Ptr(_)) {
            return true;
        }
        match embedded_struct(&f.schema) {
            Some(inner) => d = inner,
            None => return true,
        }
    }
    false
}
