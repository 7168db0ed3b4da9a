//! Registry credentials, read and chosen the way dockerd 20.10 reads and chooses them.
//!
//! A build carries the job's registry credentials in `X-Registry-Config`: base64 of
//! a JSON map from a registry key to an `AuthConfig`. When the daemon has to pull a
//! `FROM` image it picks one entry for the image's registry
//! (`daemon/images/image_builder.go` `pullForBuilder`). The gateway now does that
//! pull itself, so it must pick the same entry and hand it to `POST /images/create`
//! as `X-Registry-Auth`. Sources modelled (moby v20.10.24):
//!
//! - `api/server/router/build/build_routes.go` `getAuthConfigs`: `X-Registry-Config`
//!   read with `base64.NewDecoder(base64.URLEncoding, …)` (URL-safe alphabet,
//!   padding expected) into `map[string]types.AuthConfig` by `encoding/json`, every
//!   error ignored (the map keeps whatever was decoded before it);
//! - `api/server/router/image/image_routes.go` `postImagesCreate`: `X-Registry-Auth`
//!   read the same way into one `AuthConfig`, any error giving an empty one;
//! - `api/types/auth.go` `AuthConfig`: seven string fields, JSON names `username`,
//!   `password`, `auth`, `email`, `serveraddress`, `identitytoken`,
//!   `registrytoken`, all `omitempty`;
//! - `registry/config.go` `newIndexInfo`, `ValidateIndexName`, `GetAuthConfigKey`,
//!   and `registry/auth.go` `ConvertToHostname`, `ResolveAuthConfig`.
//!
//! # One reading, or a refusal
//!
//! The daemon is lenient in ways that leave room for two readings: without padding,
//! Go's streaming decoder yields only the full 4-character groups, so the JSON
//! usually ends early and the whole map is silently dropped (but not when something
//! follows the JSON's last byte); Go's JSON decoder ignores trailing data, matches field names case-insensitively
//! with Unicode folding (`USERNAME`, `uſername` with U+017F), lets the last of two
//! spellings of a field win, turns invalid UTF-8 and lone surrogates into U+FFFD, and
//! keeps half a map after a type error. And `ResolveAuthConfig` walks a Go map, in
//! random order, returning the first key whose host matches. So decoding here is
//! strict: canonical padded URL-safe base64, one JSON value of RFC 8259 with valid
//! UTF-8 and no lone surrogates, objects of objects, known fields that are strings
//! or `null`, no key or field given twice (in any spelling), and no two matching
//! keys with different credentials. Everything it accepts, Go reads the same way
//! (checked against Go in `tests/reference_differential.rs`); everything else is
//! refused. No docker client sends anything else: the CLI and docker-py encode with
//! `base64.URLEncoding` / `urlsafe_b64encode` and the field names above.
//!
//! # Unknown fields are dropped
//!
//! The daemon decodes into its own seven-field struct, so a field it does not know
//! can never reach its registry client. Keeping such fields would only forward bytes
//! the daemon ignores; dropping them and re-encoding the seven fields gives the
//! daemon a value with exactly one reading ([`AuthConfig::to_header_value`]).

use std::collections::BTreeMap;
use std::fmt;

use super::{DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, Named, ReferenceError};

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;

/// `IndexName`: the name of Docker Hub's index.
pub const INDEX_NAME: &str = DEFAULT_DOMAIN;

/// `IndexServer`: the key Docker Hub's credentials are stored under, and the only key
/// `ResolveAuthConfig` accepts for them.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// The request header with a build's credentials for every registry.
pub const REGISTRY_CONFIG_HEADER: &str = "x-registry-config";

/// The request header with the credentials for one pull or push.
pub const REGISTRY_AUTH_HEADER: &str = "x-registry-auth";

/// `types.AuthConfig`. `Debug` shows only the non-secret fields.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
    pub auth: String,
    pub email: String,
    pub server_address: String,
    pub identity_token: String,
    pub registry_token: String,
}

/// The JSON names, in the struct's (and `json.Marshal`'s) order.
const FIELDS: [&str; 7] = [
    "username",
    "password",
    "auth",
    "email",
    "serveraddress",
    "identitytoken",
    "registrytoken",
];

impl AuthConfig {
    fn field_mut(&mut self, i: usize) -> &mut String {
        match i {
            0 => &mut self.username,
            1 => &mut self.password,
            2 => &mut self.auth,
            3 => &mut self.email,
            4 => &mut self.server_address,
            5 => &mut self.identity_token,
            _ => &mut self.registry_token,
        }
    }

    fn fields(&self) -> [&str; 7] {
        [
            &self.username,
            &self.password,
            &self.auth,
            &self.email,
            &self.server_address,
            &self.identity_token,
            &self.registry_token,
        ]
    }

    /// No credentials at all: what the daemon uses when nothing matched.
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|f| f.is_empty())
    }

    /// The `X-Registry-Auth` value for this config: the seven fields as JSON, empty
    /// ones left out (as `json.Marshal` does with `omitempty`), in padded URL-safe
    /// base64 (`base64.URLEncoding`, what the daemon decodes). Only printable ASCII,
    /// so always a valid header value.
    pub fn to_header_value(&self) -> String {
        let mut json = String::from("{");
        for (name, value) in FIELDS.iter().zip(self.fields()) {
            if value.is_empty() {
                continue;
            }
            if json.len() > 1 {
                json.push(',');
            }
            json_string(&mut json, name);
            json.push(':');
            json_string(&mut json, value);
        }
        json.push('}');
        base64url_encode(json.as_bytes())
    }

    /// Reads an `X-Registry-Auth` value strictly (see the module doc). Empty means no
    /// credentials, as for the daemon.
    pub fn from_header_value(value: &[u8]) -> Result<AuthConfig, AuthError> {
        if value.is_empty() {
            return Ok(AuthConfig::default());
        }
        let json = decode_json(REGISTRY_AUTH_HEADER, value)?;
        match json {
            Json::Null => Ok(AuthConfig::default()),
            Json::Object(fields) => auth_config_from_fields(REGISTRY_AUTH_HEADER, "", fields),
            _ => Err(AuthError::Shape {
                header: REGISTRY_AUTH_HEADER,
                what: "the value is not a JSON object".into(),
            }),
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &secret(&self.password))
            .field("auth", &secret(&self.auth))
            .field("email", &self.email)
            .field("server_address", &self.server_address)
            .field("identity_token", &secret(&self.identity_token))
            .field("registry_token", &secret(&self.registry_token))
            .finish()
    }
}

/// The credentials of a build: the decoded `X-Registry-Config` map.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct AuthConfigs {
    entries: BTreeMap<String, AuthConfig>,
}

impl AuthConfigs {
    /// Reads an `X-Registry-Config` value strictly (see the module doc). Empty means
    /// no credentials, as for the daemon; so does JSON `null`. An entry whose value is
    /// `null` is kept with empty credentials, as Go keeps it.
    pub fn from_header_value(value: &[u8]) -> Result<AuthConfigs, AuthError> {
        let mut entries = BTreeMap::new();
        if value.is_empty() {
            return Ok(AuthConfigs { entries });
        }
        let h = REGISTRY_CONFIG_HEADER;
        match decode_json(h, value)? {
            Json::Null => {}
            Json::Object(members) => {
                for (key, v) in members {
                    let config = match v {
                        Json::Null => AuthConfig::default(),
                        Json::Object(fields) => auth_config_from_fields(h, &key, fields)?,
                        _ => {
                            return Err(AuthError::Shape {
                                header: h,
                                what: format!("the entry {key:?} is not a JSON object"),
                            });
                        }
                    };
                    if entries.insert(key.clone(), config).is_some() {
                        return Err(AuthError::Duplicate {
                            header: h,
                            what: format!("the registry key {key:?}"),
                        });
                    }
                }
            }
            _ => {
                return Err(AuthError::Shape {
                    header: h,
                    what: "the value is not a JSON object".into(),
                });
            }
        }
        Ok(AuthConfigs { entries })
    }

    /// The build's credentials from its request headers: none without
    /// `X-Registry-Config`, refused if the header is given more than once (the daemon
    /// would read the first; the gateway reads one only).
    pub fn from_headers(headers: &http::HeaderMap) -> Result<AuthConfigs, AuthError> {
        let mut values = headers.get_all(REGISTRY_CONFIG_HEADER).iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(AuthConfigs::default()),
            (Some(v), None) => Self::from_header_value(v.as_bytes()),
            (Some(_), Some(_)) => Err(AuthError::RepeatedHeader(REGISTRY_CONFIG_HEADER)),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry stored under exactly `key`.
    pub fn get(&self, key: &str) -> Option<&AuthConfig> {
        self.entries.get(key)
    }

    /// Every entry, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AuthConfig)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// `registry.ResolveAuthConfig`: the entry under the index's key
    /// ([`IndexInfo::auth_config_key`]) if there is one; for Docker Hub nothing else
    /// (not `docker.io`, not `index.docker.io`: only [`INDEX_SERVER`] counts); for
    /// other registries the entry whose key, after [`convert_to_hostname`], is the
    /// registry's name; else empty credentials.
    ///
    /// Go takes the first match in map order, which is random; when several keys
    /// match with different credentials this refuses instead
    /// ([`AuthError::Ambiguous`]).
    pub fn resolve(&self, index: &IndexInfo) -> Result<AuthConfig, AuthError> {
        let key = index.auth_config_key();
        if let Some(c) = self.entries.get(key) {
            return Ok(c.clone());
        }
        // (Go stops here for Docker Hub; the loop below could not match its key
        // anyway, since a hostname never contains '/'.)
        if index.official {
            return Ok(AuthConfig::default());
        }
        let mut matches = self
            .entries
            .iter()
            .filter(|(k, _)| convert_to_hostname(k) == key);
        let Some((_, first)) = matches.next() else {
            return Ok(AuthConfig::default());
        };
        let rest: Vec<&String> = matches
            .filter(|(_, c)| *c != first)
            .map(|(k, _)| k)
            .collect();
        if !rest.is_empty() {
            let keys = self
                .entries
                .keys()
                .filter(|k| convert_to_hostname(k) == key)
                .cloned()
                .collect();
            return Err(AuthError::Ambiguous {
                registry: key.to_owned(),
                keys,
            });
        }
        Ok(first.clone())
    }

    /// The credentials the daemon's builder would pull `named` with
    /// (`pullForBuilder`): none when the build sent none; otherwise the registry's
    /// index is worked out (an invalid one fails the pull, as it does there) and
    /// [`AuthConfigs::resolve`] picks the entry.
    pub fn for_pull(&self, named: &Named) -> Result<AuthConfig, AuthError> {
        if self.entries.is_empty() {
            return Ok(AuthConfig::default());
        }
        let index = IndexInfo::for_reference(named).map_err(AuthError::Index)?;
        self.resolve(&index)
    }
}

/// The part of `registrytypes.IndexInfo` that credentials depend on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IndexInfo {
    /// The registry's name: the reference's domain, `docker.io` for Docker Hub.
    pub name: String,
    /// Docker Hub. The daemon's configuration always maps `docker.io` to the
    /// official index (even `--insecure-registry docker.io` is overwritten), and
    /// nothing else.
    pub official: bool,
}

impl IndexInfo {
    /// `newIndexInfo(config, reference.Domain(named))` as far as name and
    /// `Official` go: `ValidateIndexName` (`index.docker.io` → `docker.io`, no
    /// leading or trailing `-`), official iff `docker.io`. The daemon's mirrors and
    /// insecure registries change neither.
    pub fn for_reference(named: &Named) -> Result<IndexInfo, ReferenceError> {
        let mut name = named.domain();
        if name == LEGACY_DEFAULT_DOMAIN {
            name = INDEX_NAME;
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(ReferenceError::InvalidIndexName(name.to_owned()));
        }
        Ok(IndexInfo {
            name: name.to_owned(),
            official: name == INDEX_NAME,
        })
    }

    /// `GetAuthConfigKey`: [`INDEX_SERVER`] for Docker Hub, else the name.
    pub fn auth_config_key(&self) -> &str {
        if self.official {
            INDEX_SERVER
        } else {
            &self.name
        }
    }
}

/// `registry.ConvertToHostname`: one leading `http://` or `https://` (exact case)
/// removed, then everything from the first `/` on. So `https://reg:5000/v2/` and
/// `reg:5000` are the same registry; `HTTPS://reg` is not `reg`.
pub fn convert_to_hostname(url: &str) -> &str {
    let stripped = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    stripped.split('/').next().unwrap_or(stripped)
}

/// Why credentials were refused.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AuthError {
    /// The header is not canonical padded URL-safe base64.
    Base64 {
        header: &'static str,
        why: &'static str,
    },
    /// The decoded bytes are not one strict JSON value.
    Json { header: &'static str, why: String },
    /// The JSON is not the shape the daemon decodes into.
    Shape { header: &'static str, what: String },
    /// A key or field given twice (Go would let the last win).
    Duplicate { header: &'static str, what: String },
    /// The header appears more than once.
    RepeatedHeader(&'static str),
    /// Several keys name the registry, with different credentials; the daemon
    /// would pick one at random.
    Ambiguous { registry: String, keys: Vec<String> },
    /// The image's registry name is invalid (the daemon's pull fails too).
    Index(ReferenceError),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base64 { header, why } => write!(
                f,
                "{header}: not padded URL-safe base64 ({why}); the daemon would read no credentials from it"
            ),
            Self::Json { header, why } => write!(f, "{header}: invalid JSON credentials ({why})"),
            Self::Shape { header, what } => write!(f, "{header}: {what}"),
            Self::Duplicate { header, what } => {
                write!(f, "{header}: {what} is given more than once")
            }
            Self::RepeatedHeader(header) => write!(f, "{header} is given more than once"),
            Self::Ambiguous { registry, keys } => write!(
                f,
                "X-Registry-Config: the keys {keys:?} all name registry {registry:?} with \
                 different credentials, and the daemon would pick one at random"
            ),
            Self::Index(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AuthError {}

/// One AuthConfig object: known fields by Go's case folding, strings or `null`,
/// each at most once; unknown fields ignored, whatever their value, as Go does.
fn auth_config_from_fields(
    header: &'static str,
    entry: &str,
    fields: Vec<(String, Json)>,
) -> Result<AuthConfig, AuthError> {
    let mut config = AuthConfig::default();
    let mut seen = [false; 7];
    for (key, value) in fields {
        let Some(i) = FIELDS.iter().position(|f| go_fold_eq(f, &key)) else {
            continue;
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(AuthError::Duplicate {
                header,
                what: format!("the field {:?} of entry {entry:?}", FIELDS[i]),
            });
        }
        match value {
            Json::String(s) => *config.field_mut(i) = s,
            Json::Null => {}
            _ => {
                return Err(AuthError::Shape {
                    header,
                    what: format!("the field {key:?} of entry {entry:?} is not a string"),
                });
            }
        }
    }
    Ok(config)
}

/// Whether `encoding/json` (Go 1.19 `fold.go`) matches JSON key `key` to the
/// lowercase ASCII field name `field`: ASCII letters in either case, and U+212A
/// (Kelvin sign) for `k` and U+017F (long s) for `s`, the only non-ASCII characters
/// that fold to ASCII letters.
fn go_fold_eq(field: &str, key: &str) -> bool {
    let mut k = key.chars().map(|c| match c {
        '\u{212a}' => 'k',
        '\u{17f}' => 's',
        c => c.to_ascii_lowercase(),
    });
    field.chars().all(|f| k.next() == Some(f)) && k.next().is_none()
}

fn decode_json(header: &'static str, value: &[u8]) -> Result<Json, AuthError> {
    let bytes = base64url_decode(value).map_err(|why| AuthError::Base64 { header, why })?;
    parse_json(&bytes).map_err(|why| AuthError::Json { header, why })
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `base64.URLEncoding.EncodeToString`.
fn base64url_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64URL[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Canonical padded URL-safe base64 only: the form `base64.URLEncoding` writes.
/// Go's decoder also takes non-zero trailing bits and skips `\r`/`\n`; it reads
/// input without padding only as far as the last full quantum. None of those is
/// accepted here.
fn base64url_decode(input: &[u8]) -> Result<Vec<u8>, &'static str> {
    if !input.len().is_multiple_of(4) {
        return Err("its length is not a multiple of 4: padding is missing");
    }
    let sextet = |c: u8| -> Result<u32, &'static str> {
        match c {
            b'A'..=b'Z' => Ok(u32::from(c - b'A')),
            b'a'..=b'z' => Ok(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Ok(u32::from(c - b'0') + 52),
            b'-' => Ok(62),
            b'_' => Ok(63),
            b'+' | b'/' => Err("'+' or '/' is the standard alphabet, not the URL-safe one"),
            b'=' => Err("padding before the end"),
            _ => Err("a character outside the alphabet"),
        }
    };
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let chunks = input.len() / 4;
    for (n, q) in input.chunks(4).enumerate() {
        let pad = if n + 1 == chunks {
            match (q[2], q[3]) {
                (b'=', b'=') => 2,
                (_, b'=') => 1,
                _ => 0,
            }
        } else {
            0
        };
        let mut v = 0u32;
        for &c in &q[..4 - pad] {
            v = (v << 6) | sextet(c)?;
        }
        v <<= 6 * pad;
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        let keep = 3 - pad;
        if bytes[keep..].iter().any(|&b| b != 0) {
            return Err("non-zero bits after the last byte");
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Ok(out)
}

/// A JSON value, keeping object members in order and with duplicates, so that
/// duplicates can be refused.
#[derive(Debug)]
enum Json {
    Null,
    Other,
    String(String),
    Object(Vec<(String, Json)>),
}

/// Deeper nesting is refused; Go allows 10000, no credentials need more than 2.
const MAX_DEPTH: usize = 64;

/// One JSON value (RFC 8259), whitespace around it, nothing else. Strings must be
/// valid UTF-8 without lone surrogate escapes.
fn parse_json(b: &[u8]) -> Result<Json, String> {
    let mut p = JsonParser { b, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != b.len() {
        return Err(format!("data after the JSON value at byte {}", p.i));
    }
    Ok(v)
}

struct JsonParser<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn eat(&mut self, c: u8) -> bool {
        let ok = self.b.get(self.i) == Some(&c);
        if ok {
            self.i += 1;
        }
        ok
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        match self.b.get(self.i) {
            Some(b'{') => self.object(depth),
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.eat(b']') {
                    return Ok(Json::Other);
                }
                loop {
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    if self.eat(b']') {
                        return Ok(Json::Other);
                    }
                    if !self.eat(b',') {
                        return self.err("expected ',' or ']'");
                    }
                }
            }
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal(b"true", Json::Other),
            Some(b'f') => self.literal(b"false", Json::Other),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err("expected a JSON value"),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.eat(b'}') {
            return Ok(Json::Object(members));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return self.err("expected a string key");
            }
            let key = self.string()?;
            self.ws();
            if !self.eat(b':') {
                return self.err("expected ':'");
            }
            self.ws();
            let v = self.value(depth + 1)?;
            members.push((key, v));
            self.ws();
            if self.eat(b'}') {
                return Ok(Json::Object(members));
            }
            if !self.eat(b',') {
                return self.err("expected ',' or '}'");
            }
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Result<Json, String> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, String> {
        self.eat(b'-');
        if !self.eat(b'0') && self.digits() == 0 {
            return self.err("invalid number");
        }
        if self.eat(b'.') && self.digits() == 0 {
            return self.err("invalid number");
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        Ok(Json::Other)
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let Some(h) = self.b.get(self.i..self.i + 4) else {
            return self.err("short \\u escape");
        };
        let h = std::str::from_utf8(h)
            .ok()
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
        let Some(v) = h.and_then(|h| u32::from_str_radix(h, 16).ok()) else {
            return self.err("invalid \\u escape");
        };
        self.i += 4;
        Ok(v)
    }

    /// Bytes are collected raw and checked as UTF-8 at the end: an escape always
    /// produces a whole character, so a broken raw sequence stays broken.
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => break,
                0..=0x1f => return self.err("control character in string"),
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return self.err("invalid escape"),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).or_else(|_| self.err("invalid UTF-8 in string"))
    }

    /// After `\u`: one character, a surrogate pair joined; a lone surrogate (which
    /// Go turns into U+FFFD) is refused.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        let code = match hi {
            0xd800..=0xdbff => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return self.err("lone surrogate");
                }
                let lo = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&lo) {
                    return self.err("lone surrogate");
                }
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            }
            0xdc00..=0xdfff => return self.err("lone surrogate"),
            c => c,
        };
        char::from_u32(code).map_or_else(|| self.err("invalid \\u escape"), Ok)
    }
}

/// A JSON string Go decodes back to `s`: `"` and `\` escaped, control characters
/// as `\u00XX`, everything else literal (valid UTF-8, since `s` is a `str`).
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}
