//! Docker image references, read exactly the way dockerd 20.10 reads them.
//!
//! The gateway resolves every `FROM` image itself, applies build tags (`t=`) itself,
//! and under `--confine` checks that a tag, commit or import does not take a name that
//! already names someone else's image. Each of those decisions is only sound if the
//! gateway and the daemon agree, byte for byte, on what a string like
//! `Foo:5000/bar:latest@sha256:…` means. So this module is a transcription, not a
//! reinterpretation, of the Go code the daemon runs:
//!
//! - docker/distribution v2.8.2 `reference` (`regexp.go`, `reference.go`,
//!   `normalize.go`, `helpers.go`): the grammar, [`parse_normalized_named`]
//!   (`ParseNormalizedNamed`), [`parse_any_reference`] (`ParseAnyReference`),
//!   [`parse_docker_ref`] (`ParseDockerRef`), `TagNameOnly`, `FamiliarName`,
//!   `FamiliarString`, `TrimNamed`, `WithTag`, `WithDigest`;
//! - opencontainers/go-digest v1.0.0 `digest.Parse` ([`Digest::parse`]), with
//!   sha256, sha384 and sha512 available as they are in dockerd's binary;
//! - moby v20.10.24, which decides what each API call does with a reference:
//!   `daemon/images/image_pull.go` `PullImage` ([`daemon_pull_target`]),
//!   `daemon/images/image_tag.go` `TagImage` and `reference/store.go` `AddTag`
//!   ([`tag_target`], also used by `POST /commit`), `daemon/images/image_import.go`
//!   ([`import_target`]), `api/server/backend/build/tag.go` `sanitizeRepoAndTags`
//!   ([`build_tags`]), and `daemon/images/image.go` `GetImage` with
//!   `distribution/digestset` `Lookup` ([`id_prefix_fallback`]).
//!
//! Registry credentials (`X-Registry-Config`, `X-Registry-Auth`,
//! `registry.ResolveAuthConfig`) are in [`auth`].
//!
//! The Go grammar is a set of regular expressions; here each is a small hand-written
//! matcher, and the one place where the regular expression has two readings (is the
//! first component a domain or a path component?) follows Go's leftmost-first
//! preference: the domain, when it matches. `tests/reference_differential.rs` runs
//! thousands of strings through both this module and the real Go packages and
//! requires the same answers, error messages included.
//!
//! Everything here takes `&str`: Go's grammar is ASCII, so input that is not UTF-8
//! could never parse there either, and callers refuse it before it gets here.
//!
//! # Pulling a `FROM` image the way the builder would
//!
//! The builder looks the image up with `GetImage` (what `GET /images/{name}/json`
//! does too) and, when it is absent, pulls
//! `TagNameOnly(ParseNormalizedNamed(name))` with the entry of the build's
//! `X-Registry-Config` that `ResolveAuthConfig` picks. The gateway's pull of the
//! same image:
//!
//! ```
//! use buildgate::reference::{auth::AuthConfigs, parse_normalized_named, pull_query};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The build's X-Registry-Config: {"reg.example.com:5000":{"username":"ci"}}
//! let header = b"eyJyZWcuZXhhbXBsZS5jb206NTAwMCI6eyJ1c2VybmFtZSI6ImNpIn19";
//! let configs = AuthConfigs::from_header_value(header)?;
//!
//! let named = parse_normalized_named("reg.example.com:5000/team/base")?.tag_name_only();
//! let (from_image, tag) = pull_query(&named)?;
//! let auth = configs.for_pull(&named)?;
//! assert_eq!(from_image, "reg.example.com:5000/team/base");
//! assert_eq!(tag, "latest");
//! assert_eq!(auth.username, "ci");
//! // POST /images/create?fromImage=<from_image>&tag=<tag>
//! // X-Registry-Auth: <auth.to_header_value()>
//! # Ok(())
//! # }
//! ```

pub mod auth;

#[cfg(test)]
mod tests;

use std::fmt;

/// `NameTotalLengthMax`: the longest repository name, counted on the normalised name
/// (`docker.io/library/…` included), as `Parse` checks it.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The registry a reference without a domain lives on (`defaultDomain`).
pub const DEFAULT_DOMAIN: &str = "docker.io";

/// The old spelling of [`DEFAULT_DOMAIN`] that normalisation rewrites
/// (`legacyDefaultDomain`). Only this exact, lowercase spelling is rewritten.
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// The namespace of official images: `ubuntu` is `docker.io/library/ubuntu`.
pub const OFFICIAL_REPO_NAME: &str = "library";

/// The tag `TagNameOnly` adds.
pub const DEFAULT_TAG: &str = "latest";

/// Why a string is not a reference the daemon would accept, or why the gateway will
/// not act on it. [`fmt::Display`] gives the daemon's own message for every variant
/// that mirrors a daemon error, so a refusal reads like dockerd's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    /// `ParseNormalizedNamed` refuses a 64-hex string as a name: it would be read as
    /// an image ID everywhere else.
    HexadecimalName(String),
    /// `ParseNormalizedNamed`'s own check: the repository part (before the first
    /// `:`) has a character `strings.ToLower` changes.
    RemoteNameNotLowercase,
    /// `Parse`: the string does not match, but its lowercase form would
    /// (`ErrNameContainsUppercase`).
    NameNotLowercase,
    /// `ErrReferenceInvalidFormat`.
    InvalidFormat,
    /// `ErrNameTooLong`: the normalised name is longer than
    /// [`NAME_TOTAL_LENGTH_MAX`].
    NameTooLong,
    /// go-digest `ErrDigestInvalidFormat`.
    DigestInvalidFormat,
    /// go-digest `ErrDigestInvalidLength`.
    DigestInvalidLength,
    /// go-digest `ErrDigestUnsupported`.
    DigestUnsupported,
    /// `ErrTagInvalidFormat`, from `WithTag`.
    TagInvalidFormat,
    /// `reference/store.go` `AddTag`: a tag cannot be created from a reference that
    /// carries a digest.
    TagWithDigest,
    /// `reference/store.go` `addReference`: the familiar name `sha256` would read as
    /// a digest algorithm.
    DigestAlgorithmAsName,
    /// `sanitizeRepoAndTags`: a build tag with a digest.
    BuildTagWithDigest,
    /// `ImportImage`: an import cannot be named by digest.
    ImportWithDigest,
    /// `registry.ValidateIndexName`: a registry name that begins or ends with `-`.
    InvalidIndexName(String),
    /// The gateway's own refusal: a reference whose first component the grammar does
    /// not accept as a domain although normalisation treated it as one
    /// (`a_b.example/x`) has the empty domain, so the daemon would contact a registry
    /// with no host. Holds the reference.
    NoRegistry(String),
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HexadecimalName(s) => write!(
                f,
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            ),
            Self::RemoteNameNotLowercase => {
                f.write_str("invalid reference format: repository name must be lowercase")
            }
            Self::NameNotLowercase => f.write_str("repository name must be lowercase"),
            Self::InvalidFormat => f.write_str("invalid reference format"),
            Self::NameTooLong => write!(
                f,
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            ),
            Self::DigestInvalidFormat => f.write_str("invalid checksum digest format"),
            Self::DigestInvalidLength => f.write_str("invalid checksum digest length"),
            Self::DigestUnsupported => f.write_str("unsupported digest algorithm"),
            Self::TagInvalidFormat => f.write_str("invalid tag format"),
            Self::TagWithDigest => f.write_str("refusing to create a tag with a digest reference"),
            Self::DigestAlgorithmAsName => {
                f.write_str("refusing to create an ambiguous tag using digest algorithm as name")
            }
            Self::BuildTagWithDigest => f.write_str("build tag cannot contain a digest"),
            Self::ImportWithDigest => f.write_str("cannot import digest reference"),
            Self::InvalidIndexName(s) => write!(
                f,
                "invalid index name ({s}). Cannot begin or end with a hyphen"
            ),
            Self::NoRegistry(s) => write!(
                f,
                "{s}: the first component is read as a registry by the daemon but is not a \
                 valid registry host; refusing to pull it"
            ),
        }
    }
}

impl std::error::Error for ReferenceError {}

/// A content digest as go-digest accepts it: `sha256:` + 64, `sha384:` + 96 or
/// `sha512:` + 128 lowercase hex digits. Nothing else validates in dockerd, whatever
/// the looser reference grammar lets through, so nothing else can be built.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Digest(String);

impl Digest {
    /// go-digest `Parse`, error for error: the first `:` splits algorithm from hex;
    /// an algorithm dockerd does not know is `unsupported` if it is well formed by
    /// go-digest's own looser grammar and `invalid format` if not; a known one needs
    /// its exact length (`invalid length`), then lowercase hex (`invalid format`).
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        let Some(i) = s.find(':').filter(|&i| i > 0 && i + 1 < s.len()) else {
            return Err(ReferenceError::DigestInvalidFormat);
        };
        let (algorithm, encoded) = (&s[..i], &s[i + 1..]);
        let Some(len) = hex_len(algorithm) else {
            return Err(if go_digest_grammar(algorithm, encoded) {
                ReferenceError::DigestUnsupported
            } else {
                ReferenceError::DigestInvalidFormat
            });
        };
        if encoded.len() != len {
            return Err(ReferenceError::DigestInvalidLength);
        }
        if !is_lower_hex(encoded) {
            return Err(ReferenceError::DigestInvalidFormat);
        }
        Ok(Digest(s.to_owned()))
    }

    /// The digest an image ID names: `ParseAnyReference` reads a bare 64-hex string
    /// as `sha256:<id>`. `None` unless [`is_full_id`] holds.
    pub fn from_id(id: &str) -> Option<Digest> {
        is_full_id(id).then(|| Digest(format!("sha256:{id}")))
    }

    /// `sha256`, `sha384` or `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex digits after the algorithm.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, e)| e)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The algorithms dockerd's go-digest has available (their hashes are linked into
/// the daemon), with their hex lengths.
fn hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// go-digest's `DigestRegexpAnchored`, `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`,
/// split at the first `:` (neither side can contain one).
fn go_digest_grammar(algorithm: &str, encoded: &str) -> bool {
    let alg_ok = algorithm.split(['.', '+', '_', '-']).all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let enc_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    alg_ok && enc_ok
}

/// Whether `s` is a full image ID, `^[a-f0-9]{64}$` (`anchoredIdentifierRegexp`).
/// `ParseNormalizedNamed` refuses such a string as a name and `ParseAnyReference`
/// reads it as `sha256:<s>`: a full ID never names a repository.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// A reference with a repository name, normalised: the Go `Named` a
/// `ParseNormalizedNamed` returns, with its optional tag and digest.
///
/// Its parts are exactly Go's `Domain()`, `Path()`, `Tag()` and `Digest()`. The
/// domain is almost always present (`docker.io` when the string named none); it is
/// empty only in the corner [`ReferenceError::NoRegistry`] describes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Named {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Named {
    /// The registry part, `docker.io` for Docker Hub. May be empty (see the type).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry (`library/ubuntu`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `Name()`: `domain/path`, or the path alone when the domain is empty.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `IsNameOnly`: neither tag nor digest. A pull of such a reference pulls every
    /// tag of the repository; a lookup adds `:latest` first.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// `TagNameOnly`: `:latest` added to a name-only reference, anything else
    /// unchanged. This is what the daemon looks up and pulls for a `FROM`.
    pub fn tag_name_only(&self) -> Named {
        let mut n = self.clone();
        if n.is_name_only() {
            n.tag = Some(DEFAULT_TAG.to_owned());
        }
        n
    }

    /// `ParseDockerRef` on an already parsed reference: with both tag and digest
    /// only the digest is kept (it is what the daemon stores and pulls); otherwise
    /// [`Named::tag_name_only`].
    pub fn docker_ref(&self) -> Named {
        if self.tag.is_some() && self.digest.is_some() {
            let mut n = self.clone();
            n.tag = None;
            n
        } else {
            self.tag_name_only()
        }
    }

    /// `TrimNamed`: the repository without tag or digest.
    pub fn trim(&self) -> Named {
        Named {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// `WithTag`: replace the tag (the digest, if any, is kept, as in Go), after
    /// checking the tag grammar `[\w][\w.-]{0,127}`.
    pub fn with_tag(&self, tag: &str) -> Result<Named, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::TagInvalidFormat);
        }
        let mut n = self.clone();
        n.tag = Some(tag.to_owned());
        Ok(n)
    }

    /// `WithDigest`: replace the digest (the tag, if any, is kept, as in Go).
    pub fn with_digest(&self, digest: Digest) -> Named {
        let mut n = self.clone();
        n.digest = Some(digest);
        n
    }

    /// The familiar domain and path: `docker.io` dropped, and `library/` too when
    /// exactly one component follows it (`familiarizeName`).
    fn familiar_parts(&self) -> (&str, &str) {
        if self.domain != DEFAULT_DOMAIN {
            return (&self.domain, &self.path);
        }
        match self.path.split_once('/') {
            Some((OFFICIAL_REPO_NAME, rest)) if !rest.contains('/') => ("", rest),
            _ => ("", &self.path),
        }
    }

    /// `FamiliarName`: the repository as the CLI prints it (`ubuntu`,
    /// `user/app`, `example.com/app`). It is also the key of the daemon's reference
    /// store (`repositories.json`).
    pub fn familiar_name(&self) -> String {
        match self.familiar_parts() {
            ("", path) => path.to_owned(),
            (domain, path) => format!("{domain}/{path}"),
        }
    }

    /// `FamiliarString`: the familiar name with tag and digest, as the CLI prints it
    /// and as the daemon's reference store keys each tag.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
    }
}

/// `String()`: the fully normalised form, `docker.io/library/ubuntu:22.04`. Two
/// references are the same image name in the daemon iff these strings are equal.
impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

/// What `ParseAnyReference` returns: a digest (from a full ID or a digest string),
/// or a name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum AnyReference {
    /// An image ID: the daemon looks it up in its image store, never by name.
    Digest(Digest),
    Named(Named),
}

impl AnyReference {
    /// `FamiliarString`: the digest itself, or [`Named::familiar_string`].
    pub fn familiar_string(&self) -> String {
        match self {
            Self::Digest(d) => d.to_string(),
            Self::Named(n) => n.familiar_string(),
        }
    }
}

impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Digest(d) => d.fmt(f),
            Self::Named(n) => n.fmt(f),
        }
    }
}

/// `ParseNormalizedNamed`: what every daemon endpoint that takes an image *name*
/// (pull, push, tag, commit, import, build tags, the builder's pull of a `FROM`)
/// makes of a string.
///
/// In Go's order: a full ID is refused; the first `/`-separated component is the
/// domain if it contains `.` or `:` or is `localhost`, else the domain is
/// `docker.io`; `index.docker.io` becomes `docker.io`; on `docker.io` a single
/// component gets `library/`; the part before the first `:` of the rest must not
/// change under `strings.ToLower`; then `Parse` reads `domain/rest` with the full
/// grammar. Note that `Parse` decides the domain again, by the grammar: a first
/// component that normalisation took for a domain but that is not one
/// (`a_b.example`) ends up in the path, with an empty domain.
pub fn parse_normalized_named(s: &str) -> Result<Named, ReferenceError> {
    if is_full_id(s) {
        return Err(ReferenceError::HexadecimalName(s.to_owned()));
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote_name = remainder.split(':').next().unwrap_or("");
    if remote_name.chars().any(go_lower_changes) {
        return Err(ReferenceError::RemoteNameNotLowercase);
    }
    parse(&format!("{domain}/{remainder}"))
}

/// `ParseAnyReference`: what `GetImage` (image inspect, the builder's lookup of a
/// `FROM`, `docker tag`'s source, `docker save`) makes of a string. A full ID or a
/// valid digest is a digest; anything else goes through
/// [`parse_normalized_named`].
///
/// A name the daemon does not find in its reference store is then tried as an ID
/// prefix: see [`id_prefix_fallback`].
pub fn parse_any_reference(s: &str) -> Result<AnyReference, ReferenceError> {
    if let Some(d) = Digest::from_id(s) {
        return Ok(AnyReference::Digest(d));
    }
    if let Ok(d) = Digest::parse(s) {
        return Ok(AnyReference::Digest(d));
    }
    parse_normalized_named(s).map(AnyReference::Named)
}

/// `ParseDockerRef`: [`parse_normalized_named`], then [`Named::docker_ref`]; the
/// result always has exactly one of tag and digest.
pub fn parse_docker_ref(s: &str) -> Result<Named, ReferenceError> {
    parse_normalized_named(s).map(|n| n.docker_ref())
}

/// `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (&str, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DEFAULT_DOMAIN, name),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_NAME}/{remainder}"));
    }
    (domain, remainder.to_owned())
}

/// Whether Go's `unicode.ToLower` changes `c`. ASCII is exact. For other characters
/// this uses Rust's tables, whose Unicode version is newer than Go 1.19's (13.0):
/// a character that gained a lowercase mapping since would make the message differ
/// (`…must be lowercase` against `invalid reference format`), never the outcome,
/// because no non-ASCII character is valid anywhere in the grammar.
fn go_lower_changes(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    let mut lower = c.to_lowercase();
    !(lower.next() == Some(c) && lower.next().is_none())
}

/// `strings.ToLower(s)` where it matters: only for `Parse`'s "would the lowercase
/// form match?" test, which needs an ASCII result. Go's simple lowercase mapping
/// sends exactly two non-ASCII characters to ASCII, U+0130 (`İ` → `i`) and U+212A
/// (Kelvin sign → `k`), checked against Go 1.19's tables; any other non-ASCII
/// character stays non-ASCII, so `None` (cannot match).
fn go_lower_ascii(s: &str) -> Option<String> {
    s.chars()
        .map(|c| match c {
            '\u{130}' => Some('i'),
            '\u{212a}' => Some('k'),
            c if c.is_ascii() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// `Parse` (reference.go), given a string that normalisation built.
fn parse(s: &str) -> Result<Named, ReferenceError> {
    let Some(m) = match_reference(s) else {
        // (`Parse("")` answers ErrNameEmpty; normalisation never passes "".)
        if go_lower_ascii(s).is_some_and(|l| match_reference(&l).is_some()) {
            return Err(ReferenceError::NameNotLowercase);
        }
        return Err(ReferenceError::InvalidFormat);
    };
    if m.name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    let digest = m.digest.map(Digest::parse).transpose()?;
    Ok(Named {
        domain: m.domain.to_owned(),
        path: m.path.to_owned(),
        tag: m.tag.map(str::to_owned),
        digest,
    })
}

/// The captures of `ReferenceRegexp` (and `anchoredNameRegexp` on the name).
struct RefMatch<'a> {
    name: &'a str,
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// `^(name)(?::(tag))?(?:@(digest))?$`. The parts are separated by characters the
/// others cannot contain, so there is one way to cut: the digest follows the first
/// `@`; the tag follows a `:` after the last `/` (a `:` before it can only be the
/// domain's port); the name is the rest.
fn match_reference(s: &str) -> Option<RefMatch<'_>> {
    let (left, digest) = match s.split_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !is_digest_grammar(d)) {
        return None;
    }
    let last_component = left.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match left[last_component..].find(':') {
        Some(j) => (
            &left[..last_component + j],
            Some(&left[last_component + j + 1..]),
        ),
        None => (left, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return None;
    }
    let (domain, path) = split_name(name)?;
    Some(RefMatch {
        name,
        domain,
        path,
        tag,
        digest,
    })
}

/// `^(?:(domain)/)?(component(?:/component)*)$`. The optional domain group is
/// greedy, so when the first component is both a valid domain and a valid path
/// component (`a.b/c`), Go's leftmost-first matching takes it as the domain.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/')
        && is_domain(first)
        && is_path(rest)
    {
        return Some((first, rest));
    }
    is_path(name).then_some(("", name))
}

fn is_path(p: &str) -> bool {
    p.split('/').all(is_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`: runs of lowercase letters and digits,
/// joined by one `.`, one `_`, two `_`, or any number of `-`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !b.first().is_some_and(|&x| alnum(x)) || !b.last().is_some_and(|&x| alnum(x)) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        let ok = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `DomainRegexp`: components of letters (either case), digits and inner `-`,
/// joined by `.`, then an optional `:port` of digits.
fn is_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    })
}

/// `TagRegexp`, `[\w][\w.-]{0,127}` (`\w` is ASCII in Go): 1 to 128 characters.
pub fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    (1..=128).contains(&b.len())
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// The reference grammar's `DigestRegexp`,
/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`. Looser
/// than go-digest (uppercase, any algorithm): `Parse` checks with go-digest after.
fn is_digest_grammar(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = algorithm.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What `POST /images/create?fromImage=F&tag=T` pulls in dockerd 20.10
/// (`PullImage`), or `None` when `from_image` is empty, which makes the request an
/// import instead. One trailing `:` is dropped from `F` (left by `pull -a` in old
/// clients); a `T` that is a valid digest replaces any tag and digest of `F`;
/// any other non-empty `T` replaces the tag and keeps a digest.
pub fn daemon_pull_target(
    from_image: &str,
    tag: &str,
) -> Result<Option<PullTarget>, ReferenceError> {
    if from_image.is_empty() {
        return Ok(None);
    }
    let image = from_image.strip_suffix(':').unwrap_or(from_image);
    let mut r = parse_normalized_named(image)?;
    if !tag.is_empty() {
        r = match Digest::parse(tag) {
            Ok(d) => r.trim().with_digest(d),
            Err(_) => r.with_tag(tag)?,
        };
    }
    Ok(Some(if r.is_name_only() {
        PullTarget::AllTags(r)
    } else {
        PullTarget::One(r)
    }))
}

/// What a pull request fetches.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PullTarget {
    /// A name-only reference: the daemon pulls every tag of the repository (what
    /// `docker pull -a` asks for). The gateway never sends this.
    AllTags(Named),
    /// One image: by digest if the reference has one (it wins over a tag), else by
    /// tag.
    One(Named),
}

/// The `fromImage` and `tag` query values for the gateway's own
/// `POST /images/create` of `named`: the full normalised name, and the digest if
/// there is one, else the tag, else `latest`. `tag` is never empty, so this can
/// never mean "all tags" ([`daemon_pull_target`] gives back
/// `PullTarget::One(named.docker_ref())`). This is what the docker CLI sends too
/// (`getAPITagFromNamedRef`), with the full name instead of the familiar one so that
/// no normalisation is left to the daemon.
///
/// Refuses a reference with an empty domain ([`ReferenceError::NoRegistry`]).
pub fn pull_query(named: &Named) -> Result<(String, String), ReferenceError> {
    if named.domain.is_empty() {
        return Err(ReferenceError::NoRegistry(named.to_string()));
    }
    let tag = match (&named.digest, &named.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => DEFAULT_TAG.to_owned(),
    };
    Ok((named.name(), tag))
}

/// The checks `reference/store.go` `AddTag` and `addReference` make before storing a
/// tag, and the reference it stores: no digest, `:latest` added when there is no
/// tag, and the familiar name `sha256` refused.
fn add_tag(named: Named) -> Result<Named, ReferenceError> {
    if named.digest.is_some() {
        return Err(ReferenceError::TagWithDigest);
    }
    let named = named.tag_name_only();
    if named.familiar_name() == "sha256" {
        return Err(ReferenceError::DigestAlgorithmAsName);
    }
    Ok(named)
}

/// The tag `POST /images/{name}/tag?repo=R&tag=T` creates, and `POST /commit` with
/// a non-empty `repo` (`TagImage`): `R` normalised; a non-empty `T` replaces `R`'s
/// tag *and drops its digest*; then [`add_tag`]'s checks. The result is always
/// tagged and never has a digest; its [`Named::familiar_string`] is the key the
/// daemon stores, and it overwrites any image that held that tag (`force` is set).
///
/// (`POST /commit` with an empty `repo` tags nothing and ignores `tag`; the caller
/// must not call this for it.)
pub fn tag_target(repo: &str, tag: &str) -> Result<Named, ReferenceError> {
    let mut r = parse_normalized_named(repo)?;
    if !tag.is_empty() {
        r = r.trim().with_tag(tag)?;
    }
    add_tag(r)
}

/// The tag `POST /images/create?fromSrc=…&repo=R&tag=T` (an import) creates, if
/// any: none when `R` is empty (`T` is then ignored); otherwise `R` normalised, a
/// digest refused, a non-empty `T` replacing the tag, then [`add_tag`]'s checks,
/// which the daemon makes only after the import.
pub fn import_target(repo: &str, tag: &str) -> Result<Option<Named>, ReferenceError> {
    if repo.is_empty() {
        return Ok(None);
    }
    let mut r = parse_normalized_named(repo)?;
    if r.digest.is_some() {
        return Err(ReferenceError::ImportWithDigest);
    }
    if !tag.is_empty() {
        r = r.with_tag(tag)?;
    }
    add_tag(r).map(Some)
}

/// The tags a build's `t=` values create (`sanitizeRepoAndTags`): empty values
/// skipped, each normalised, a digest refused, `:latest` added, duplicates (by
/// normalised string) dropped with the first kept. Also applies [`add_tag`]'s
/// checks, which the daemon makes only after the build has run (so `t=sha256`
/// fails a finished build there, and is refused up front here).
pub fn build_tags<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Named>, ReferenceError> {
    let mut out: Vec<Named> = Vec::new();
    for name in names {
        if name.is_empty() {
            continue;
        }
        let r = parse_normalized_named(name)?;
        if r.digest.is_some() {
            return Err(ReferenceError::BuildTagWithDigest);
        }
        let r = r.tag_name_only();
        let key = r.to_string();
        if !out.iter().any(|o| o.to_string() == key) {
            out.push(r);
        }
    }
    out.into_iter().map(add_tag).collect()
}

/// The image-ID prefix `GetImage` searches for when `s` parses as a name
/// ([`parse_any_reference`] gives [`AnyReference::Named`]) but the daemon's
/// reference store has no such tag: the image store's `Search(s)` then returns the
/// image whose ID starts with the prefix, if exactly one does. So `FROM abc` or
/// `docker inspect sha256:abc` can resolve to an image by ID prefix, of any length
/// from one hex digit.
///
/// From `digestset.Lookup`: when go-digest calls `s` malformed, the whole of `s` is
/// the prefix; otherwise (valid, wrong length, unsupported algorithm) the part after
/// the first `:` is, and it only matches IDs of the same algorithm. Image IDs are
/// `sha256:` + 64 lowercase hex, so a match needs a lowercase-hex prefix of at most
/// 64 digits and no algorithm or `sha256`. `None` when no ID can match.
pub fn id_prefix_fallback(s: &str) -> Option<&str> {
    if !matches!(parse_any_reference(s), Ok(AnyReference::Named(_))) {
        return None;
    }
    let (algorithm, prefix) = match Digest::parse(s) {
        Err(ReferenceError::DigestInvalidFormat) => ("", s),
        _ => s.split_once(':')?,
    };
    let ok = (algorithm.is_empty() || algorithm == "sha256")
        && !prefix.is_empty()
        && prefix.len() <= 64
        && is_lower_hex(prefix);
    ok.then_some(prefix)
}
