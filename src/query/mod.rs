//! The `/build` query string: read it the way dockerd reads it, decide, and
//! write a fresh one with a single reading.
//!
//! dockerd reads the build options in `newImageBuildOptions`
//! (`api/server/router/build/build_routes.go` in v20.10.24,
//! `daemon/server/router/build/build_routes.go` at HEAD) with
//! `r.FormValue(k)` / `r.Form.Get(k)` (first value wins, `""` when absent)
//! and `r.Form[k]` (all values, in order) for `t`, `extrahosts` and
//! `securityopt`. `r.Form` comes from Go's `url.ParseQuery` (Go 1.19
//! `net/url/url.go` `parseQuery`): split on `&`, skip empty pieces, a piece
//! containing `;` is dropped (Go < 1.17 split on it instead), key and value
//! split at the first `=`, each `QueryUnescape`d (`+` is a space, `%XX` a
//! byte), and a piece with a bad escape is dropped. `FormValue` ignores
//! those errors, so the daemon silently builds with what is left.
//!
//! This module is strict where Go is lenient: any `;`, any bad escape, a
//! duplicate of a key the daemon reads once, or a value that is not UTF-8 is
//! refused, because each is a place where two readers can disagree. What
//! goes upstream is never the client's string but [`BuildQuery::to_upstream`]:
//! allowlisted keys only, one value per key (lists kept in order),
//! re-encoded so that Go decodes back exactly the decided values.
//!
//! The body-as-form reading (`Content-Type: application/x-www-form-urlencoded`
//! makes `ParseForm` put body pairs *before* query pairs) is not handled
//! here: the build pipeline always sends `Content-Type: application/x-tar`.

use http::StatusCode;
use std::collections::BTreeMap;

use crate::gourl::{self, Mode, unescape};
use crate::http::error::ApiError;

/// What the gateway enforces on every build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The label key that names the owner (e.g. `owner`).
    pub owner_key: String,
    /// The owner of this connection's builds.
    pub owner: String,
    /// When set, every build's intermediate containers go in this cgroup parent.
    pub cgroup_parent: Option<String>,
    /// Whether `networkmode=host` and `networkmode=container:…` are allowed.
    pub allow_host_network: bool,
}

fn bad(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(message)
}

/// Message for a remote build context.
pub const REMOTE_REFUSED: &str =
    "remote build contexts are not allowed; send the context in the request body";

/// How the daemon reads a key, and what the gateway does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Read once with `FormValue`; passed through verbatim when non-empty.
    Scalar,
    /// Read as `r.Form[k]`; all values passed through in order.
    List,
    /// Read once; the gateway decides the value (or refuses).
    Special,
    /// Read as `r.Form[k]`, acted on by the gateway itself, never forwarded.
    Taken,
    /// Read once by the daemon but meaningful only to BuildKit: dropped.
    Dropped,
}

/// Every key dockerd's build handler reads (v20.10.24 and HEAD read the same
/// set), with what the gateway does with it. Keys not listed are dropped:
/// the daemon never reads them, so dropping them cannot change the build,
/// and it keeps any future daemon key from arriving unreviewed.
///
/// Passed keys are safe because none of them can name, skip or override the
/// owner label: labels come from the Dockerfile (rewritten) and `labels`
/// (forced), and the context from the body (rewritten).
const KEYS: &[(&str, Kind)] = &[
    // Dockerfile path inside the context: read by the context walk, then
    // replaced with the gateway's own rewritten Dockerfile name.
    ("dockerfile", Kind::Special),
    // Image names to tag the result with. The gateway applies them itself, after it has
    // checked that the image the daemon built carries the owner, so a tag never points
    // at an image it did not check (see `build::verify`).
    ("t", Kind::Taken),
    // Output verbosity (`-q`): presentation only.
    ("q", Kind::Scalar),
    // Cache control. A cache hit reuses an image whose creating container had the same
    // config, owner label included; an image planted by someone else can match, which
    // the check of the result catches (see `build::verify`).
    ("nocache", Kind::Scalar),
    // Intermediate container cleanup: the containers are labelled whether
    // or not they are kept.
    ("rm", Kind::Scalar),
    ("forcerm", Kind::Scalar),
    // Pull newer base images. The gateway pulls each base itself before it pins the
    // FROM to an image ID (the daemon cannot pull an ID), so this never goes upstream.
    ("pull", Kind::Special),
    // Resource limits of the build containers: no effect on labels.
    ("memory", Kind::Scalar),
    ("memswap", Kind::Scalar),
    ("cpushares", Kind::Scalar),
    ("cpusetcpus", Kind::Scalar),
    ("cpuperiod", Kind::Scalar),
    ("cpuquota", Kind::Scalar),
    ("cpusetmems", Kind::Scalar),
    ("shmsize", Kind::Scalar),
    ("ulimits", Kind::Scalar),
    // Forced to the policy's value when it has one (see `Policy`).
    ("cgroupparent", Kind::Special),
    // Refused for host/container modes unless the policy allows them.
    ("networkmode", Kind::Special),
    // `/etc/hosts` entries of the build containers: name resolution only.
    ("extrahosts", Kind::List),
    // Refused by the daemon on Linux; Windows credential specs only.
    ("securityopt", Kind::List),
    // Squash (experimental) keeps the image config, labels included.
    ("squash", Kind::Scalar),
    // Stop at a stage: every stage gets the owner LABEL after its FROM.
    ("target", Kind::Scalar),
    // Base image platform (API >= 1.32): which image, not which labels.
    ("platform", Kind::Scalar),
    // Container isolation technology (Windows); `default` only on Linux.
    ("isolation", Kind::Scalar),
    // ARG values: the injected LABEL uses a literal value, not an ARG. They also decide
    // what each FROM names, so they are decoded like the daemon decodes them and sent
    // as the gateway's own JSON.
    ("buildargs", Kind::Special),
    // Images to use as cache sources. A cache hit can bring in an image someone else
    // made, so the result of every build is checked for the owner before it is tagged
    // (see `build::verify`); with that check, a foreign cache source fails the build.
    ("cachefrom", Kind::Scalar),
    // Extra labels: decoded, owner key removed, owner added.
    ("labels", Kind::Special),
    // Builder version: only the legacy builder (1) is allowed; always sent as 1.
    ("version", Kind::Special),
    // Remote context (git, URL, tarball, `client-session`): refused.
    ("remote", Kind::Special),
    // BuildKit exporters: refused (the legacy builder ignores them, so
    // dropping would silently not do what was asked).
    ("outputs", Kind::Special),
    // Session id: the legacy CLI sends it even with DOCKER_BUILDKIT=0, the
    // legacy builder does not use it (v20.10.24 and HEAD: only
    // builder-next reads SessionID), and `/session` is refused anyway.
    // Dropped so that such clients still work.
    ("session", Kind::Dropped),
    // Build id, used only to cancel BuildKit builds: dropped.
    ("buildid", Kind::Dropped),
];

#[cfg(test)]
fn kind_of(key: &str) -> Option<Kind> {
    KEYS.iter().find(|(k, _)| *k == key).map(|&(_, kind)| kind)
}

/// A `/build` query after parsing and policy: what the gateway will ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildQuery {
    dockerfile: Option<String>,
    /// Allowlisted pass-through pairs, in `KEYS` order, lists in client order.
    params: Vec<(&'static str, String)>,
    /// Labels to send: the client's minus the owner key, plus the owner.
    labels: BTreeMap<String, String>,
    /// `t` values, in order, for the gateway to apply after the build.
    tags: Vec<String>,
    /// `pull`, read like `httputils.BoolValue`.
    pull: bool,
    /// `buildargs` as `json.Unmarshal` fills a `map[string]*string`.
    build_args: BTreeMap<String, Option<String>>,
}

impl BuildQuery {
    /// Parse the raw query string (None = no query) exactly as Go's
    /// `url.ParseQuery` + `r.FormValue` do, then apply policy.
    pub fn parse(raw: Option<&str>, policy: &Policy) -> Result<BuildQuery, ApiError> {
        let pairs = parse_strict(raw.unwrap_or(""))?;

        // Count reads of once-read keys; refuse duplicates (one reading only).
        for (key, kind) in KEYS {
            if !matches!(kind, Kind::List | Kind::Taken)
                && pairs.iter().filter(|(k, _)| k == key).count() > 1
            {
                return Err(bad(format!("query parameter {key:?} given more than once")));
            }
        }
        // FormValue: the first (here: only) value, "" when absent.
        let value = |key: &str| -> &str {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };

        // The version is checked first: a BuildKit client also sends
        // `remote=client-session`, and what that user needs to hear is how to switch
        // builders, not that remote contexts are refused.
        match value("version") {
            "" | "1" => {}
            "2" => {
                return Err(bad(
                    "BuildKit builds (version=2) are not supported; set DOCKER_BUILDKIT=0 to use the legacy builder",
                ));
            }
            other => {
                return Err(bad(format!(
                    "invalid builder version {other:?}; only version=1 is supported"
                )));
            }
        }
        if !value("remote").is_empty() {
            return Err(bad(REMOTE_REFUSED));
        }
        if !value("outputs").is_empty() {
            return Err(bad(
                "build outputs (--output) need BuildKit, which is not supported; set DOCKER_BUILDKIT=0 and drop --output",
            ));
        }
        let networkmode = value("networkmode");
        if !policy.allow_host_network && is_host_like_network(networkmode) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("networkmode {networkmode:?} is not allowed for builds"),
            ));
        }

        let mut labels = parse_labels(value("labels"))?;
        labels.remove(&policy.owner_key);
        labels.insert(policy.owner_key.clone(), policy.owner.clone());

        let mut params = Vec::new();
        for &(key, kind) in KEYS {
            match kind {
                Kind::Scalar => {
                    let v = value(key);
                    if !v.is_empty() {
                        params.push((key, v.to_owned()));
                    }
                }
                Kind::List => params.extend(
                    pairs
                        .iter()
                        .filter(|(k, _)| k == key)
                        .map(|(_, v)| (key, v.clone())),
                ),
                Kind::Special if key == "cgroupparent" => {
                    let v = policy.cgroup_parent.as_deref().unwrap_or(value(key));
                    if !v.is_empty() {
                        params.push((key, v.to_owned()));
                    }
                }
                Kind::Special if key == "networkmode" => {
                    if !networkmode.is_empty() {
                        params.push((key, networkmode.to_owned()));
                    }
                }
                Kind::Special | Kind::Taken | Kind::Dropped => {}
            }
        }

        let dockerfile = Some(value("dockerfile"))
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let tags = pairs
            .iter()
            .filter(|(k, _)| k == "t")
            .map(|(_, v)| v.clone())
            .collect();
        Ok(BuildQuery {
            dockerfile,
            params,
            labels,
            tags,
            pull: bool_value(value("pull")),
            build_args: parse_build_args(value("buildargs"))?,
        })
    }

    /// The `t` values the client asked for, in order (the gateway tags; the daemon never
    /// sees them).
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Whether the client asked for quiet output (`q`, read like `httputils.BoolValue`):
    /// then the daemon prints only the image ID, and so must the gateway.
    pub fn quiet(&self) -> bool {
        bool_value(self.scalar("q").unwrap_or(""))
    }

    /// Whether the client asked for base images to be pulled first.
    pub fn pull(&self) -> bool {
        self.pull
    }

    /// The build arguments, as the daemon reads them (`None` for a JSON `null`).
    pub fn build_args(&self) -> &BTreeMap<String, Option<String>> {
        &self.build_args
    }

    /// The value of a pass-through scalar key (`platform`, `target`, ...), if given.
    pub fn scalar(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The client's `dockerfile` value as the daemon would see it (None if absent/empty).
    pub fn dockerfile(&self) -> Option<&str> {
        self.dockerfile.as_deref()
    }

    /// The labels that will be sent: the client's, minus the owner key, plus the owner.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The query string to send upstream: allowlisted keys, one value per key
    /// (lists in order), `version=1`, `dockerfile=<dockerfile>`, and the
    /// gateway's `labels`, each component percent-encoded so that Go's
    /// `QueryUnescape` returns exactly the decided string.
    pub fn to_upstream(&self, dockerfile: &str) -> String {
        let labels = json_object(&self.labels);
        let mut out = String::new();
        let mut push = |k: &str, v: &str| {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&gourl::query_escape(k));
            out.push('=');
            out.push_str(&gourl::query_escape(v));
        };
        push("version", "1");
        push("dockerfile", dockerfile);
        for (k, v) in &self.params {
            push(k, v);
        }
        if !self.build_args.is_empty() {
            push("buildargs", &json_args(&self.build_args));
        }
        push("labels", &labels);
        out
    }
}

/// `host` and `container:<id>` share the host's or another container's
/// network namespace. The daemon compares exactly (`NetworkMode.IsHost`:
/// `n == "host"`; `IsContainer`: `SplitN(n, ":", 2)[0] == "container"`,
/// `api/types/container` in v20.10.24), and refuses joining a host-type
/// network by id or name in any other mode (`ErrConflictHostNetwork`,
/// `daemon/container_operations.go`). We refuse a superset: trimmed and
/// case-folded, so no variant spelling depends on the daemon's exactness.
fn is_host_like_network(mode: &str) -> bool {
    let m = mode.trim().to_ascii_lowercase();
    m == "host" || m.starts_with("container:")
}

/// Parse `labels` like `json.Unmarshal` into a Go `map[string]string`:
/// `null` means no labels, a `null` value becomes `""` (Go stores the zero
/// value), duplicate keys: last wins, anything else (non-object, non-string
/// values, invalid JSON, trailing data) is an error, as it is for the daemon.
fn parse_labels(raw: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let mut labels = BTreeMap::new();
    if raw.is_empty() {
        return Ok(labels);
    }
    let invalid = |why: &str| bad(format!("invalid labels parameter: {why}"));
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| invalid(&e.to_string()))?;
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    _ => return Err(invalid("label values must be strings")),
                };
                labels.insert(k, v);
            }
        }
        _ => return Err(invalid("expected a JSON object")),
    }
    Ok(labels)
}

/// `httputils.BoolValue`: anything but empty, `0`, `no`, `false` or `none`
/// (case-insensitive, trimmed) is true.
fn bool_value(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
}

/// Parse `buildargs` like `json.Unmarshal` into a Go `map[string]*string`: `null`
/// means no arguments, a `null` value is kept as "mentioned without a value" (the
/// daemon warns about unused ones), duplicate keys: last wins, anything else is an
/// error, as it is for the daemon.
fn parse_build_args(raw: &str) -> Result<BTreeMap<String, Option<String>>, ApiError> {
    let mut args = BTreeMap::new();
    if raw.is_empty() {
        return Ok(args);
    }
    let invalid = |why: &str| bad(format!("invalid buildargs parameter: {why}"));
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| invalid(&e.to_string()))?;
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let v = match v {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Null => None,
                    _ => return Err(invalid("build argument values must be strings")),
                };
                args.insert(k, v);
            }
        }
        _ => return Err(invalid("expected a JSON object")),
    }
    Ok(args)
}

/// `buildargs` as JSON that Go decodes back to the same map (see [`json_string`]).
fn json_args(map: &BTreeMap<String, Option<String>>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k);
        out.push(':');
        match v {
            Some(v) => json_string(&mut out, v),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// `url.ParseQuery`, refusing instead of dropping: `;` anywhere, bad escapes,
/// non-UTF-8 keys or values. Returns the pairs in order, like `url.Values`
/// keeps per-key order.
pub fn parse_strict(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    if raw.contains(';') {
        return Err(bad(
            "';' in the query string is not allowed (Go versions disagree on it); encode it as %3B",
        ));
    }
    let mut pairs = Vec::new();
    for piece in raw.split('&') {
        if piece.is_empty() {
            continue;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let decode = |s: &str| -> Result<String, ApiError> {
            let bytes = unescape(s.as_bytes(), Mode::QueryComponent)
                .map_err(|e| bad(format!("bad query string: {e}")))?;
            String::from_utf8(bytes).map_err(|_| bad("query parameter is not valid UTF-8"))
        };
        pairs.push((decode(k)?, decode(v)?));
    }
    Ok(pairs)
}

/// Serialize string pairs as a JSON object that Go's `encoding/json`
/// decodes back to the same map: `"` and `\\` escaped, control bytes as
/// `\u00XX`, everything else (valid UTF-8, since these are Rust strings)
/// literal. Written by hand because it cannot fail.
fn json_object(map: &BTreeMap<String, String>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k);
        out.push(':');
        json_string(&mut out, v);
    }
    out.push('}');
    out
}

/// A JSON string Go decodes back to `s`: `"` and `\\` escaped, control bytes as
/// `\u00XX`, everything else (valid UTF-8, since this is a Rust string) literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> Policy {
        Policy {
            owner_key: "owner".into(),
            owner: "job-42".into(),
            cgroup_parent: None,
            allow_host_network: false,
        }
    }

    /// Go 1.19 `url.ParseQuery`, lenient like the daemon: pairs with `;` or a
    /// bad escape are dropped. Independent of the strict parser under test.
    fn go_parse_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for piece in raw.split('&') {
            if piece.contains(';') || piece.is_empty() {
                continue;
            }
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let (Ok(k), Ok(v)) = (
                unescape(k.as_bytes(), Mode::QueryComponent),
                unescape(v.as_bytes(), Mode::QueryComponent),
            ) else {
                continue;
            };
            out.push((k, v));
        }
        out
    }

    /// `r.Form[key]` on the upstream query, as strings.
    fn form(upstream: &str, key: &str) -> Vec<String> {
        go_parse_query(upstream)
            .into_iter()
            .filter(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| String::from_utf8(v).expect("upstream values are UTF-8"))
            .collect()
    }

    fn upstream_labels(upstream: &str) -> BTreeMap<String, String> {
        let l = form(upstream, "labels");
        assert_eq!(l.len(), 1, "exactly one labels value in {upstream}");
        serde_json::from_str(&l[0]).expect("labels JSON")
    }

    fn parse(raw: &str) -> Result<BuildQuery, u16> {
        BuildQuery::parse(Some(raw), &policy()).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn refusals() {
        let table: &[(&str, u16)] = &[
            ("remote=https://example.com/x.git", 400),
            ("remote=client-session", 400),
            ("remote=%20", 400),
            ("remote=+", 400),
            ("version=2", 400),
            ("version=%32", 400),
            ("version=3", 400),
            ("version=+1", 400),
            ("outputs=%5B%7B%22type%22%3A%22local%22%7D%5D", 400),
            ("a=1;b=2", 400),
            ("t=x;y", 400),
            ("unknown=;", 400),
            ("dockerfile=a%", 400),
            ("dockerfile=a%2", 400),
            ("dockerfile=a%zz", 400),
            ("unknown=%zz", 400), // Go drops the pair; we cannot know what it meant
            ("%zz=1", 400),
            ("dockerfile=%FF", 400),
            ("dockerfile=a&dockerfile=b", 400),
            ("dockerfile=&dockerfile=b", 400),
            ("dockerfile=a&docker%66ile=b", 400),
            ("labels=%7B%7D&labels=%7B%7D", 400),
            ("networkmode=a&networkmode=host", 400),
            ("cgroupparent=a&cgroupparent=b", 400),
            ("session=a&session=b", 400),
            ("remote=&remote=x", 400),
            ("version=1&version=2", 400),
            ("q=1&q=1", 400),
            ("labels=nope", 400),
            ("labels=%5B%5D", 400),
            ("labels=%22x%22", 400),
            ("labels=%7B%22a%22%3A1%7D", 400),
            ("labels=%7B%22a%22%3A%22b%22%7D%20x", 400),
            ("labels=%7B%22a%22%3A%22%5Cud800%22%7D", 400), // lone surrogate: Go would turn it into U+FFFD
            ("networkmode=host", 403),
            ("networkmode=HOST", 403),
            ("networkmode=+host+", 403),
            ("networkmode=%09Host%0A", 403),
            ("networkmode=container:abc", 403),
            ("networkmode=Container:abc", 403),
            ("networkmode=container%3Aabc", 403),
        ];
        for (raw, status) in table {
            assert_eq!(parse(raw).map(|_| ()), Err(*status), "query {raw:?}");
        }
    }

    #[test]
    fn refusal_messages() {
        let e = BuildQuery::parse(Some("remote=x"), &policy()).unwrap_err();
        assert_eq!(e.message, format!("buildgate: {REMOTE_REFUSED}"));
        let e = BuildQuery::parse(Some("version=2"), &policy()).unwrap_err();
        assert!(e.message.contains("DOCKER_BUILDKIT=0"), "{e}");
        // What the 20.10 CLI sends with DOCKER_BUILDKIT=1: the advice must be the
        // builder switch.
        let e = BuildQuery::parse(
            Some("remote=client-session&version=2&session=abc"),
            &policy(),
        )
        .unwrap_err();
        assert!(e.message.contains("DOCKER_BUILDKIT=0"), "{e}");
    }

    #[test]
    fn accepted_and_rebuilt() {
        // (query, key, expected r.Form[key] upstream)
        let table: &[(&str, &str, &[&str])] = &[
            ("", "version", &["1"]),
            ("version=1", "version", &["1"]),
            ("version=", "version", &["1"]),
            ("remote=", "remote", &[]),
            ("t=a&t=b&t=a", "t", &[]),
            ("pull=1", "pull", &[]),
            (
                "extrahosts=a%3A1.2.3.4&extrahosts=b%3A5.6.7.8",
                "extrahosts",
                &["a:1.2.3.4", "b:5.6.7.8"],
            ),
            ("q=1", "q", &["1"]),
            ("q=", "q", &[]),
            ("nocache=true&rm=0", "rm", &["0"]),
            (
                "buildargs=%7B%22A%22%3A%22x%26y%3Dz%22%7D",
                "buildargs",
                &["{\"A\":\"x&y=z\"}"],
            ),
            ("target=a+b%2Bc", "target", &["a b+c"]),
            ("Target=x", "target", &[]),
            ("Target=x", "Target", &[]),
            ("session=abc", "session", &[]),
            ("buildid=abc", "buildid", &[]),
            ("unknown=1&unknown=2", "unknown", &[]),
            ("dockerfile=sub%2FDockerfile", "dockerfile", &["NEW"]),
            ("=x&&&q=1", "q", &["1"]),
            ("a=1=2&q=1", "q", &["1"]),
            ("networkmode=bridge", "networkmode", &["bridge"]),
            ("networkmode=none", "networkmode", &["none"]),
            ("networkmode=mynet", "networkmode", &["mynet"]),
            ("networkmode=containers", "networkmode", &["containers"]),
            ("cgroupparent=%2Fmine", "cgroupparent", &["/mine"]),
            (
                "cpusetcpus=0-3&memory=1g&shmsize=64",
                "cpusetcpus",
                &["0-3"],
            ),
        ];
        for (raw, key, want) in table {
            let q = parse(raw).unwrap_or_else(|s| panic!("query {raw:?} refused with {s}"));
            let up = q.to_upstream("NEW");
            assert_eq!(
                form(&up, key),
                *want,
                "query {raw:?} key {key} upstream {up}"
            );
            // Every key upstream is allowlisted and scalars appear once.
            for (k, _) in go_parse_query(&up) {
                let k = String::from_utf8(k).unwrap();
                let kind = kind_of(&k).unwrap_or_else(|| panic!("{k} not allowlisted"));
                assert!(kind != Kind::Taken, "{k} is the gateway's, not sent: {up}");
                if kind != Kind::List {
                    assert_eq!(form(&up, &k).len(), 1, "{k} once in {up}");
                }
            }
        }
    }

    /// `t`, `pull` and `buildargs` are read like the daemon reads them, for the gateway
    /// to act on: tags in order (applied after the build's check), pull as Go's
    /// `BoolValue`, build arguments as `map[string]*string`.
    #[test]
    fn values_the_gateway_acts_on() {
        let q = parse("t=b&q=1&t=a&t=&t=my+img%3Alatest").unwrap();
        assert_eq!(q.tags(), ["b", "a", "", "my img:latest"]);
        for (raw, want) in [
            ("", false),
            ("pull=", false),
            ("pull=0", false),
            ("pull=no", false),
            ("pull=FALSE", false),
            ("pull=+none+", false),
            ("pull=1", true),
            ("pull=true", true),
            ("pull=yes", true),
            ("pull=x", true),
        ] {
            assert_eq!(parse(raw).unwrap().pull(), want, "{raw}");
        }
        let args = |raw: &str| parse(&format!("buildargs={}", gourl::query_escape(raw)));
        let q = args(r#"{"A":"x&y=z","B":null,"A":"last"}"#).unwrap();
        let want: BTreeMap<String, Option<String>> = [
            ("A".to_string(), Some("last".to_string())),
            ("B".to_string(), None),
        ]
        .into();
        assert_eq!(q.build_args(), &want);
        let up = q.to_upstream("D");
        assert_eq!(form(&up, "buildargs"), [r#"{"A":"last","B":null}"#]);
        assert!(args("null").unwrap().build_args().is_empty());
        assert!(form(&args("null").unwrap().to_upstream("D"), "buildargs").is_empty());
        for bad in [r#"{"A":1}"#, "[]", r#""x""#, "{", r#"{"A":"\ud800"}"#] {
            assert_eq!(args(bad).map(|_| ()), Err(400), "{bad}");
        }
        assert_eq!(
            parse("platform=linux%2Farm64&target=t")
                .unwrap()
                .scalar("platform"),
            Some("linux/arm64")
        );
    }

    #[test]
    fn dockerfile_accessor() {
        assert_eq!(parse("").unwrap().dockerfile(), None);
        assert_eq!(parse("dockerfile=").unwrap().dockerfile(), None);
        assert_eq!(
            parse("dockerfile=a+b%2Fc").unwrap().dockerfile(),
            Some("a b/c")
        );
        assert_eq!(
            BuildQuery::parse(None, &policy()).unwrap().dockerfile(),
            None
        );
        // Keys are case-sensitive in Go: `Dockerfile` is not `dockerfile`.
        assert_eq!(parse("Dockerfile=x").unwrap().dockerfile(), None);
    }

    #[test]
    fn labels_owner_is_forced() {
        let enc = |json: &str| format!("labels={}", gourl::query_escape(json));
        let table: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("null", &[]),
            ("{}", &[]),
            (r#"{"a":"b"}"#, &[("a", "b")]),
            (r#"{"owner":"evil"}"#, &[]),
            (r#"{"\u006fwner":"evil"}"#, &[]),
            (r#"{"\u006Fwner":"evil","a":"1"}"#, &[("a", "1")]),
            (r#"{"owner":"evil","owner":"evil2"}"#, &[]),
            (r#"{"a":"1","a":"2"}"#, &[("a", "2")]),
            (r#"{"a":null}"#, &[("a", "")]),
            (r#"{"Owner":"x"}"#, &[("Owner", "x")]),
            (r#"{"owner ":"x"}"#, &[("owner ", "x")]),
            (r#" { "owner" : "evil" } "#, &[]),
            (
                r#"{"q\"&=;+%":"\n\u0001\u2028é"}"#,
                &[("q\"&=;+%", "\n\u{1}\u{2028}é")],
            ),
        ];
        for (json, extra) in table {
            let raw = if json.is_empty() {
                String::new()
            } else {
                enc(json)
            };
            let q = parse(&raw).unwrap_or_else(|s| panic!("labels {json} refused with {s}"));
            let mut want: BTreeMap<String, String> = extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            want.insert("owner".into(), "job-42".into());
            assert_eq!(q.labels(), &want, "labels {json}");
            assert_eq!(
                upstream_labels(&q.to_upstream("D")),
                want,
                "upstream labels {json}"
            );
        }
        // `+` in the raw query is a space, also inside JSON.
        let q = parse("labels=%7B%22a%22:%22x+y%22%7D").unwrap();
        assert_eq!(q.labels().get("a").map(String::as_str), Some("x y"));
    }

    #[test]
    fn cgroup_parent_policy() {
        let mut p = policy();
        p.cgroup_parent = Some("/buildgate".into());
        for raw in ["", "cgroupparent=%2Fevil", "cgroupparent="] {
            let up = BuildQuery::parse(Some(raw), &p).unwrap().to_upstream("D");
            assert_eq!(form(&up, "cgroupparent"), ["/buildgate"], "{raw}");
        }
        let up = parse("cgroupparent=%2Fmine").unwrap().to_upstream("D");
        assert_eq!(form(&up, "cgroupparent"), ["/mine"]);
    }

    #[test]
    fn host_network_when_allowed() {
        let mut p = policy();
        p.allow_host_network = true;
        for (raw, want) in [
            ("networkmode=host", "host"),
            ("networkmode=container%3Ax", "container:x"),
        ] {
            let up = BuildQuery::parse(Some(raw), &p).unwrap().to_upstream("D");
            assert_eq!(form(&up, "networkmode"), [want]);
        }
    }

    #[test]
    fn upstream_fixed_parts() {
        let up = parse("dockerfile=x&version=1")
            .unwrap()
            .to_upstream("a b&c=d;e+f%");
        assert_eq!(form(&up, "dockerfile"), ["a b&c=d;e+f%"]);
        assert_eq!(form(&up, "version"), ["1"]);
        assert!(!up.contains(';') && !up.contains('+'), "{up}");
    }

    #[test]
    fn escape_decodes_back() {
        for s in [
            "", "a", " ", "+", "%", "%25", "é", "\u{0}", "a&b=c;d", "~-._",
        ] {
            let e = gourl::query_escape(s);
            assert_eq!(
                unescape(e.as_bytes(), Mode::QueryComponent).unwrap(),
                s.as_bytes()
            );
        }
    }

    /// Values a client might send: anything printable plus the bytes that
    /// matter to the query syntax.
    fn value() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9 +%&=;:/\"\\\\{}é\u{2028}\t-]{0,12}").unwrap()
    }

    /// Encode like a sloppy but valid client: spaces as `+`, lowercase hex.
    fn client_escape(s: &str) -> String {
        let mut out = String::new();
        for &b in s.as_bytes() {
            match b {
                b' ' => out.push('+'),
                b if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) => out.push(b as char),
                b => out.push_str(&format!("%{b:02x}")),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn round_trip(
            tags in proptest::collection::vec(value(), 0..4),
            target in value(),
            buildargs in proptest::collection::btree_map(value(), proptest::option::of(value()), 0..3),
            labels in proptest::collection::btree_map(value(), value(), 0..4),
            dockerfile in value(),
            newname in value(),
            unknown in value(),
        ) {
            let mut pairs: Vec<(String, String)> = Vec::new();
            for t in &tags { pairs.push(("t".into(), t.clone())); }
            pairs.push(("target".into(), target.clone()));
            pairs.push(("buildargs".into(), serde_json::to_string(&buildargs).unwrap()));
            pairs.push(("dockerfile".into(), dockerfile.clone()));
            pairs.push(("zz".into(), unknown));
            let labels_json = serde_json::to_string(&labels).unwrap();
            pairs.push(("labels".into(), labels_json));
            let raw: Vec<String> = pairs.iter()
                .map(|(k, v)| format!("{}={}", client_escape(k), client_escape(v)))
                .collect();
            let q = BuildQuery::parse(Some(&raw.join("&")), &policy()).unwrap();
            prop_assert_eq!(q.dockerfile(), Some(dockerfile.as_str()).filter(|d| !d.is_empty()));
            prop_assert_eq!(q.tags(), tags.as_slice());
            prop_assert_eq!(q.build_args(), &buildargs);
            let up = q.to_upstream(&newname);
            prop_assert!(form(&up, "t").is_empty());
            let opt = |s: String| if s.is_empty() { vec![] } else { vec![s] };
            prop_assert_eq!(form(&up, "target"), opt(target));
            let sent: BTreeMap<String, Option<String>> = match form(&up, "buildargs").as_slice() {
                [] => BTreeMap::new(),
                [json] => serde_json::from_str(json).unwrap(),
                more => panic!("{} buildargs", more.len()),
            };
            prop_assert_eq!(sent, buildargs);
            prop_assert_eq!(form(&up, "dockerfile"), vec![newname]);
            prop_assert_eq!(form(&up, "version"), vec!["1".to_string()]);
            prop_assert!(form(&up, "zz").is_empty());
            let mut want = labels;
            want.insert("owner".into(), "job-42".into());
            prop_assert_eq!(upstream_labels(&up), want);
        }

        #[test]
        fn never_panics(raw in "[a-z%=&;+0-9A-F{}\":]{0,40}") {
            if let Ok(q) = BuildQuery::parse(Some(&raw), &policy()) {
                let up = q.to_upstream("D");
                prop_assert_eq!(form(&up, "labels").len(), 1);
            }
        }
    }
}
