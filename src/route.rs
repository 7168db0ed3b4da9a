//! Request classification: which dockerd handler would this request reach?
//!
//! The gateway must route exactly like dockerd does, because a request that
//! the daemon sends to its build handler but the gateway passes through
//! untouched is an unlabelled image. dockerd's routing is a pipeline of three
//! Go pieces, and this module reproduces each of them on the request-target:
//!
//! 1. `net/http` `readRequest` → `url.ParseRequestURI` (Go 1.19
//!    `net/url/url.go`, `parse(rawURL, viaRequest=true)`): rejects control
//!    bytes, needs an absolute path or an absolute URI, splits the query at
//!    the first `?`, parses an authority only when a scheme is present, and
//!    **percent-decodes the path** (`%2F` becomes `/`, `%62` becomes `b`; `+`
//!    stays `+`). A malformed escape is an error and the daemon answers 400.
//!    `CONNECT host:port` is parsed as `http://host:port` with an empty path.
//! 2. gorilla/mux `Router.ServeHTTP` (v1.8.0 vendored in moby v20.10.24,
//!    v1.8.1 at moby HEAD): on the *decoded* `URL.Path` (moby does not call
//!    `UseEncodedPath`), if `cleanPath(path) != path` it answers `301` and
//!    never runs a handler.
//! 3. Route matching, still on the decoded path: moby registers every route
//!    twice, as `/v{version:[0-9.]+}<path>` and `<path>`, each restricted to
//!    one method (`api/server/server.go` `createMux` in v20.10.24,
//!    `daemon/server/server.go` `CreateMux` at HEAD). mux anchors the regexp
//!    (`^…$`) and compares case-sensitively; `strictSlash` is off, so
//!    `/build/` is a different path.
//!
//! ## Why a non-POST build path is refused with 405, not passed through
//! dockerd registers `/build` only for `POST` (mux compares the method
//! byte-for-byte with the upper-cased registered one), so today any other
//! method gets the daemon's 404. Passing such a request through would be
//! safe only as long as our idea of "same method" matches every daemon we
//! sit in front of; refusing costs the client nothing (it would fail anyway)
//! and removes that dependency. `/session` and `/grpc` are `BuildKit` for
//! every method since the gateway refuses all of them. `/_ping` is `Ping`
//! only for `GET` and `HEAD`, the methods dockerd registers it for.
//!
//! ## What "as received" means here
//! `classify` sees the [`http::Uri`] that hyper built. hyper already refuses
//! raw bytes Go would also refuse (controls, spaces) and drops a `#fragment`
//! that Go would keep in the path. The passthrough forwards that same `Uri`,
//! so the daemon receives exactly the target classified here; a fragment
//! can never make a build path (`/x#/../build` arrives as `/x`).

use std::fmt;

/// Which dockerd handler a request reaches, for the gateway's purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /build` in any spelling the daemon routes to its build handler.
    Build,
    /// `/session` or `/grpc` (BuildKit's side channels), any method.
    BuildKit,
    /// `GET`/`HEAD /_ping`.
    Ping,
    /// Anything else: passed through untouched.
    Other,
}

/// A refusal, with the status and message to send to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    pub status: u16,
    pub message: String,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for RouteError {}

fn bad_request(message: impl Into<String>) -> RouteError {
    RouteError {
        status: 400,
        message: message.into(),
    }
}

/// Classify a request by `method` and request-target the way dockerd routes it.
///
/// Errors: 400 where Go's `url.ParseRequestURI` would reject the target, or
/// where the decoded path is not clean (mux would redirect) but cleans to a
/// build, session or grpc route: following the daemon's redirect would
/// mean trusting the client to come back through us with the clean form.
/// 405 for a build path with a method other than `POST` (see module doc).
pub fn classify(method: &http::Method, uri: &http::Uri) -> Result<Route, RouteError> {
    let raw = request_target(uri);
    let path = go_request_path(method.as_str(), &raw).map_err(|e| {
        bad_request(format!(
            "buildgate: malformed request target (Go would reject it: {e})"
        ))
    })?;

    let cleaned = clean_path(&path);
    if cleaned != path {
        // mux answers 301 with the cleaned path and runs no handler.
        return match match_route(&cleaned) {
            Some(Endpoint::Build | Endpoint::Session | Endpoint::Grpc) => Err(bad_request(
                "buildgate: request path is not in canonical form; send the cleaned path",
            )),
            _ => Ok(Route::Other),
        };
    }

    Ok(match match_route(&path) {
        Some(Endpoint::Build) if method == http::Method::POST => Route::Build,
        Some(Endpoint::Build) => {
            return Err(RouteError {
                status: 405,
                message: format!(
                    "buildgate: method {} is not allowed on the build endpoint; use POST",
                    method.as_str()
                ),
            });
        }
        Some(Endpoint::Session | Endpoint::Grpc) => Route::BuildKit,
        Some(Endpoint::Ping) if method == http::Method::GET || method == http::Method::HEAD => {
            Route::Ping
        }
        Some(Endpoint::Ping) | None => Route::Other,
    })
}

/// The path a build is forwarded to: `/v<version>/build` when the client named an API
/// version, else `/build`. The version must survive, because the daemon reads some
/// build parameters differently per API version; the spelling must not, because only
/// the canonical one is certain to route the same everywhere. Call only for requests
/// [`classify`] found to be [`Route::Build`].
pub fn upstream_build_path(uri: &http::Uri) -> String {
    let raw = request_target(uri);
    let version = go_request_path("POST", &raw).ok().and_then(|path| {
        let rest = strip_version(&path)?;
        let version = &path[2..path.len() - rest.len()];
        String::from_utf8(version.to_vec()).ok()
    });
    match version {
        Some(version) => format!("/v{version}/build"),
        None => "/build".to_string(),
    }
}

/// Rebuild the request-target string from what hyper parsed.
///
/// Origin-form keeps the raw `path?query` bytes; absolute-form becomes
/// `scheme://authority` plus them (hyper reports an empty path as `/`, which
/// cannot change a build decision: both `""` and `"/"` are `Other`);
/// authority-form (`CONNECT`) is the authority alone.
fn request_target(uri: &http::Uri) -> String {
    let pq = uri.path_and_query().map(|pq| pq.as_str());
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(auth)) => {
            format!("{scheme}://{}{}", auth.as_str(), pq.unwrap_or(""))
        }
        (None, Some(auth)) if pq.is_none() => auth.as_str().to_owned(),
        _ => pq.unwrap_or("/").to_owned(),
    }
}

/// The handlers we care about, as matched on a decoded, clean path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Build,
    Session,
    Grpc,
    Ping,
}

/// Match like mux does for `Path("/v{version:[0-9.]+}" + p)` and `Path(p)`.
///
/// `[0-9.]` cannot match `/`, so the version is the whole first segment
/// after `v`; the rest must equal the route byte-for-byte (Go's regexp on
/// invalid UTF-8 sees U+FFFD per byte, which matches none of these literals).
fn match_route(path: &[u8]) -> Option<Endpoint> {
    let rest = strip_version(path).unwrap_or(path);
    match rest {
        b"/build" => Some(Endpoint::Build),
        b"/session" => Some(Endpoint::Session),
        b"/grpc" => Some(Endpoint::Grpc),
        b"/_ping" => Some(Endpoint::Ping),
        _ => None,
    }
}

/// If `path` starts with `/v[0-9.]+/`, return the part from that `/` on.
fn strip_version(path: &[u8]) -> Option<&[u8]> {
    let after_v = path.strip_prefix(b"/v")?;
    let n = after_v
        .iter()
        .take_while(|&&b| b.is_ascii_digit() || b == b'.')
        .count();
    if n == 0 || after_v.get(n) != Some(&b'/') {
        return None;
    }
    Some(&after_v[n..])
}

/// The decoded `URL.Path` Go's `net/http` would give the handler, or Go's error.
///
/// Mirrors `readRequest`: `CONNECT` with a target not starting with `/` is
/// parsed as `http://<target>`.
pub(crate) fn go_request_path(method: &str, raw: &str) -> Result<Vec<u8>, String> {
    if method == "CONNECT" && !raw.starts_with('/') {
        parse_request_uri(&format!("http://{raw}"))
    } else {
        parse_request_uri(raw)
    }
}

/// Go 1.19 `url.ParseRequestURI(raw).Path` (only what routing needs).
fn parse_request_uri(raw: &str) -> Result<Vec<u8>, String> {
    let b = raw.as_bytes();
    if b.iter().any(|&c| c < b' ' || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if b.is_empty() {
        return Err("empty url".into());
    }
    if b == b"*" {
        return Ok(b"*".to_vec());
    }
    let (scheme, rest) = get_scheme(b)?;
    // Query: a lone trailing `?` is ForceQuery, otherwise cut at the first `?`.
    let rest = match rest.iter().position(|&c| c == b'?') {
        Some(i) => &rest[..i],
        None => rest,
    };
    if !rest.starts_with(b"/") {
        if scheme.is_some() {
            // Opaque URL: Path stays "".
            return Ok(Vec::new());
        }
        return Err("invalid URI for request".into());
    }
    let mut rest = rest;
    if scheme.is_some() && rest.starts_with(b"//") {
        let authority_and_path = &rest[2..];
        let (authority, path) = match authority_and_path.iter().position(|&c| c == b'/') {
            Some(i) => (&authority_and_path[..i], &authority_and_path[i..]),
            None => (authority_and_path, &b""[..]),
        };
        parse_authority(authority)?;
        rest = path;
    }
    unescape(rest, Mode::Path).map_err(|e| e.to_string())
}

/// Go's `getScheme`: letters, then letters/digits/`+-.`, then `:`.
fn get_scheme(b: &[u8]) -> Result<(Option<&[u8]>, &[u8]), String> {
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((Some(&b[..i]), &b[i + 1..])),
            _ => return Ok((None, b)),
        }
    }
    Ok((None, b))
}

/// Go's `parseAuthority`, for its errors only (the host does not affect routing).
fn parse_authority(authority: &[u8]) -> Result<(), String> {
    let (userinfo, host) = match authority.iter().rposition(|&c| c == b'@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    parse_host(host)?;
    if let Some(userinfo) = userinfo {
        // validUserinfo ranges over runes: any non-ASCII rune is invalid.
        let valid = userinfo
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        let (user, pass) = match userinfo.iter().position(|&c| c == b':') {
            Some(i) => (&userinfo[..i], Some(&userinfo[i + 1..])),
            None => (userinfo, None),
        };
        unescape(user, Mode::UserPassword).map_err(|e| e.to_string())?;
        if let Some(pass) = pass {
            unescape(pass, Mode::UserPassword).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Go's `parseHost`, for its errors only.
fn parse_host(host: &[u8]) -> Result<(), String> {
    let port_err = |p: &[u8]| format!("invalid port {:?} after host", String::from_utf8_lossy(p));
    if host.starts_with(b"[") {
        let Some(i) = host.iter().rposition(|&c| c == b']') else {
            return Err("missing ']' in host".into());
        };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(port_err(colon_port));
        }
        if let Some(zone) = find(&host[..i], b"%25") {
            unescape(&host[..zone], Mode::Host).map_err(|e| e.to_string())?;
            unescape(&host[zone..i], Mode::Zone).map_err(|e| e.to_string())?;
            unescape(&host[i..], Mode::Host).map_err(|e| e.to_string())?;
            return Ok(());
        }
    } else if let Some(i) = host.iter().rposition(|&c| c == b':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(port_err(colon_port));
        }
    }
    unescape(host, Mode::Host).map_err(|e| e.to_string())?;
    Ok(())
}

fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `encoding` modes of Go's `net/url` that `unescape` distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Path,
    QueryComponent,
    UserPassword,
    Host,
    Zone,
}

/// A malformed escape, reported the way Go's `EscapeError`/`InvalidHostError` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnescapeError {
    Escape(String),
    InvalidHost(String),
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnescapeError::Escape(s) => write!(f, "invalid URL escape {s:?}"),
            UnescapeError::InvalidHost(s) => {
                write!(f, "invalid character {s:?} in host name")
            }
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go 1.19 `net/url.unescape`: validate every `%XX` first (any bad one is an
/// error, never a literal `%`), then decode; `+` is a space only in query
/// components. Works on bytes because Go strings are bytes: the result may
/// be invalid UTF-8, exactly as in Go.
pub(crate) fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, UnescapeError> {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    s.get(i + 1).copied().and_then(hex_val),
                    s.get(i + 2).copied().and_then(hex_val),
                ) else {
                    return Err(UnescapeError::Escape(lossy(&s[i..(i + 3).min(s.len())])));
                };
                let esc = &s[i..i + 3];
                if mode == Mode::Host && hi < 8 && esc != b"%25" {
                    return Err(UnescapeError::Escape(lossy(esc)));
                }
                if mode == Mode::Zone {
                    let v = hi << 4 | lo;
                    if esc != b"%25" && v != b' ' && should_escape_host(v) {
                        return Err(UnescapeError::Escape(lossy(esc)));
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape_host(c) {
                    return Err(UnescapeError::InvalidHost(lossy(&s[i..i + 1])));
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                // Validated above.
                let hi = hex_val(s[i + 1]).unwrap_or(0);
                let lo = hex_val(s[i + 2]).unwrap_or(0);
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if mode == Mode::QueryComponent => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `shouldEscape(c, encodeHost)` (identical for `encodeZone`).
fn should_escape_host(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c))
}

/// gorilla/mux `cleanPath`: prefix `/`, Go `path.Clean`, and keep a trailing
/// slash (except for the root).
pub(crate) fn clean_path(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b"/".to_vec();
    }
    let mut rooted = Vec::with_capacity(p.len() + 1);
    if p[0] != b'/' {
        rooted.push(b'/');
    }
    rooted.extend_from_slice(p);
    let mut np = go_path_clean_rooted(&rooted);
    if rooted.last() == Some(&b'/') && np != b"/" {
        np.push(b'/');
    }
    np
}

/// Go's `path.Clean` for a path that starts with `/`: collapse slashes,
/// drop `.` elements, resolve `..` (never above the root), no trailing slash.
fn go_path_clean_rooted(p: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = vec![b'/'];
    let n = p.len();
    let mut r = 1;
    while r < n {
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || p[r + 1] == b'/')) {
            // Empty element or `.`: skip it.
            r += 1;
        } else if p[r] == b'.' && p.get(r + 1) == Some(&b'.') && (r + 2 == n || p[r + 2] == b'/') {
            r += 2;
            // Back up to the previous slash, never past the root.
            while out.len() > 1 {
                let c = out.pop();
                if c == Some(b'/') {
                    break;
                }
            }
        } else {
            if out.len() != 1 {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    const BUILD: Result<Route, u16> = Ok(Route::Build);
    const KIT: Result<Route, u16> = Ok(Route::BuildKit);
    const PING: Result<Route, u16> = Ok(Route::Ping);
    const OTHER: Result<Route, u16> = Ok(Route::Other);

    fn run(method: &Method, target: &str) -> Result<Route, u16> {
        // 0: hyper itself refuses the target, so `classify` never sees it.
        let Ok(uri) = target.parse::<http::Uri>() else {
            return Err(0);
        };
        classify(method, &uri).map_err(|e| e.status)
    }

    #[test]
    fn upstream_build_path_keeps_only_the_version() {
        let table = [
            ("/build", "/build"),
            ("/build?t=x", "/build"),
            ("/v1.41/build", "/v1.41/build"),
            ("/v1.41%2Fbuild", "/v1.41/build"),
            ("/%761.24/%62uild?q=1", "/v1.24/build"),
            ("http://docker/v1.40/build", "/v1.40/build"),
        ];
        for (target, want) in table {
            let uri: http::Uri = target.parse().unwrap();
            assert_eq!(run(&Method::POST, target), BUILD, "{target}");
            assert_eq!(upstream_build_path(&uri), want, "{target}");
        }
    }

    #[test]
    fn paths_post() {
        let table: &[(&str, Result<Route, u16>)] = &[
            ("/build", BUILD),
            ("/build?x", BUILD),
            ("/build?", BUILD),
            ("/build?t=a&t=b", BUILD),
            ("/v1.41/build", BUILD),
            ("/v1.24/build", BUILD),
            ("/v1/build", BUILD),
            ("/v./build", BUILD),
            ("/v.../build", BUILD),
            ("/v999999999999.0.0/build", BUILD),
            ("/v/build", OTHER),
            ("/vx/build", OTHER),
            ("/v1.41x/build", OTHER),
            ("/V1.41/build", OTHER),
            ("/v1.41%2Fbuild", BUILD),
            ("/v1.41%2fbuild", BUILD),
            ("/%62uild", BUILD),
            ("/%62%75%69%6C%64", BUILD),
            ("%2Fbuild", Err(0)), // hyper refuses; Go would too ("invalid URI for request")
            ("/v1%2e41/build", BUILD),
            ("/%761.41/build", BUILD),
            ("//build", Err(400)),
            ("/v1.41//build", Err(400)),
            ("/./build", Err(400)),
            ("/x/../build", Err(400)),
            ("/x/%2E%2E/build", Err(400)),
            ("/%2e/build", Err(400)),
            ("/build/.", Err(400)),
            ("/v1.41/../build", Err(400)),
            ("/v1.41/x/../../v1.41/grpc", Err(400)),
            ("/..%2Fsession", Err(400)),
            ("/build/", OTHER),
            ("/v1.41/build/", OTHER),
            ("/build//", OTHER), // cleans to "/build/", itself a 404
            ("/BUILD", OTHER),
            ("/Build", OTHER),
            ("/build/prune", OTHER),
            ("/v1.41/build/prune", OTHER),
            ("/build/cancel", OTHER),
            ("/buildx", OTHER),
            ("/build+", OTHER),
            ("/build%20", OTHER),
            ("/build%00", OTHER),
            ("/%00build", OTHER),
            ("/v1.41%00/build", OTHER),
            ("/build%", Err(400)),
            ("/build%2", Err(400)),
            ("/build%zz", Err(400)),
            ("/%g2uild", Err(400)),
            ("/x%", Err(400)),
            ("/%C3%BC", OTHER),
            ("/%FFbuild", OTHER),
            ("/session", KIT),
            ("/v1.41/session", KIT),
            ("/v1.41/grpc", KIT),
            ("/grpc", KIT),
            ("/%67rpc", KIT),
            ("/grpc/", OTHER),
            ("/_ping", OTHER), // POST is not a ping route
            ("/containers/create", OTHER),
            ("/", OTHER),
            ("*", OTHER),
            ("/x/../containers/json", OTHER), // redirect, not a build route
            ("http://docker/build", BUILD),
            ("http://docker/v1.41/build?t=x", BUILD),
            ("HTTP://docker/%62uild", BUILD),
            ("unix://docker/build", BUILD),
            ("http://docker", OTHER),
            ("http://docker?x", OTHER),
            ("http://docker//build", Err(400)),
            ("http://u:p@docker:2375/build", BUILD),
            ("http://[::1]:2375/build", BUILD),
            ("http://docker:x/build", Err(400)),
            ("http://doc%zzker/build", Err(0)), // hyper refuses % in hosts
            ("http://doc%41ker/build", Err(0)),
            ("docker:2375", OTHER),
        ];
        for (target, want) in table {
            assert_eq!(run(&Method::POST, target), *want, "POST {target}");
        }
    }

    #[test]
    fn methods() {
        let m = |s: &str| Method::from_bytes(s.as_bytes()).unwrap();
        let table: &[(&str, &str, Result<Route, u16>)] = &[
            ("GET", "/build", Err(405)),
            ("PUT", "/v1.41/build", Err(405)),
            ("post", "/build", Err(405)),
            ("CONNECT", "/build", Err(405)),
            ("GET", "/%62uild", Err(405)),
            ("GET", "/build/prune", OTHER),
            ("GET", "/session", KIT),
            ("GET", "/grpc", KIT),
            ("GET", "/_ping", PING),
            ("HEAD", "/_ping", PING),
            ("GET", "/v1.41/_ping", PING),
            ("GET", "/%5Fping", PING),
            ("OPTIONS", "/_ping", OTHER),
            ("GET", "//_ping", OTHER),
            ("GET", "/_ping/", OTHER),
            ("CONNECT", "docker:2375", OTHER),
            ("CONNECT", "docker:x", Err(400)),
        ];
        for (method, target, want) in table {
            assert_eq!(run(&m(method), target), *want, "{method} {target}");
        }
    }

    #[test]
    fn go_parse_details() {
        // Go keeps `+` in paths, rejects controls, needs a leading `/` without a scheme.
        assert_eq!(parse_request_uri("/a+b").unwrap(), b"/a+b");
        assert!(parse_request_uri("/a\x00").is_err());
        assert!(parse_request_uri("/a\x7f").is_err());
        assert!(parse_request_uri("build").is_err());
        assert!(parse_request_uri("").is_err());
        assert!(parse_request_uri(":x").is_err());
        assert_eq!(parse_request_uri("http:build").unwrap(), b"");
        assert_eq!(parse_request_uri("http:/build").unwrap(), b"/build");
        assert_eq!(parse_request_uri("http:///build").unwrap(), b"/build");
        assert_eq!(parse_request_uri("/a?b?c").unwrap(), b"/a");
        assert_eq!(parse_request_uri("/b%2Fc?%zz").unwrap(), b"/b/c");
        assert_eq!(parse_request_uri("/%00").unwrap(), b"/\x00");
        assert!(parse_request_uri("http://[::1/x").is_err());
        assert!(parse_request_uri("http://h\u{e9}@x/").is_err());
        assert!(parse_request_uri("http://[fe80::1%25en0]/build").is_ok());
        assert!(parse_request_uri("http://[fe80::1%25%0A]/build").is_err());
        // Hosts hyper already refuses; Go refuses them too.
        assert!(parse_request_uri("http://doc%41ker/build").is_err());
        assert!(parse_request_uri("http://doc%zzker/build").is_err());
        assert!(parse_request_uri("http://doc%C3%A9/build").is_ok());
    }

    #[test]
    fn clean_path_matches_mux() {
        let table: &[(&str, &str)] = &[
            ("", "/"),
            ("/", "/"),
            ("build", "/build"),
            ("//build", "/build"),
            ("/build/", "/build/"),
            ("/build//", "/build/"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../b", "/b"),
            ("/../../", "/"),
            ("/a/b/..", "/a"),
            ("/a/b/../", "/a/"),
            ("/...", "/..."),
            ("/.a/..b", "/.a/..b"),
            ("*", "/*"),
            ("/a/..", "/"),
        ];
        for (input, want) in table {
            assert_eq!(
                clean_path(input.as_bytes()),
                want.as_bytes(),
                "cleanPath({input:?})"
            );
        }
    }

    #[test]
    fn unescape_modes() {
        assert_eq!(unescape(b"a+b%20", Mode::QueryComponent).unwrap(), b"a b ");
        assert_eq!(unescape(b"a+b", Mode::Path).unwrap(), b"a+b");
        assert_eq!(unescape(b"%fF", Mode::Path).unwrap(), b"\xff");
        assert!(unescape(b"%", Mode::Path).is_err());
        assert!(unescape(b"%a", Mode::Path).is_err());
        assert!(unescape(b"%ag", Mode::Path).is_err());
        assert!(unescape(b"%41", Mode::Host).is_err());
        assert!(unescape(b"%C3%A9", Mode::Host).is_ok());
        assert!(unescape(b"a b", Mode::Host).is_err());
    }

    #[test]
    fn error_display_is_the_message() {
        let uri: http::Uri = "/build%zz".parse().unwrap();
        let e = classify(&Method::POST, &uri).unwrap_err();
        assert!(e.to_string().contains("malformed request target"), "{e}");
    }
}
