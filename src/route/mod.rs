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

use http::StatusCode;

use crate::gourl;
use crate::http::error::ApiError;

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

/// Classify a request by `method` and request-target the way dockerd routes it.
///
/// Errors: 400 where Go's `url.ParseRequestURI` would reject the target, or
/// where the decoded path is not clean (mux would redirect) but cleans to a
/// build, session or grpc route: following the daemon's redirect would
/// mean trusting the client to come back through us with the clean form.
/// 405 for a build path with a method other than `POST` (see module doc).
pub fn classify(method: &http::Method, uri: &http::Uri) -> Result<Route, ApiError> {
    let raw = request_target(uri);
    let path = gourl::request_path(method.as_str(), &raw).map_err(|e| {
        ApiError::bad_request(format!(
            "malformed request target (Go would reject it: {e})"
        ))
    })?;

    let cleaned = gourl::clean_path(&path);
    if cleaned != path {
        // mux answers 301 with the cleaned path and runs no handler.
        return match match_route(&cleaned) {
            Some(Endpoint::Build | Endpoint::Session | Endpoint::Grpc) => {
                Err(ApiError::bad_request(
                    "request path is not in canonical form; send the cleaned path",
                ))
            }
            _ => Ok(Route::Other),
        };
    }

    Ok(match match_route(&path) {
        Some(Endpoint::Build) if method == http::Method::POST => Route::Build,
        Some(Endpoint::Build) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "method {} is not allowed on the build endpoint; use POST",
                    method.as_str()
                ),
            ));
        }
        Some(Endpoint::Session | Endpoint::Grpc) => Route::BuildKit,
        Some(Endpoint::Ping) if method == http::Method::GET || method == http::Method::HEAD => {
            Route::Ping
        }
        Some(Endpoint::Ping) | None => Route::Other,
    })
}

/// A request path as the daemon routes it: decoded, clean, split into the API version
/// it names (if any) and the route path after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    pub version: Option<String>,
    pub path: String,
}

/// Decodes `uri` like Go's `net/http` and splits off the `/v<version>` prefix, like mux
/// matches it. A path that is not clean (the daemon would redirect instead of running a
/// handler) or that does not decode to UTF-8 is refused: `--confine` decides on what
/// the daemon would run, and follows no redirects.
pub fn api_path(method: &http::Method, uri: &http::Uri) -> Result<ApiPath, ApiError> {
    let raw = request_target(uri);
    let path = gourl::request_path(method.as_str(), &raw).map_err(|e| {
        ApiError::bad_request(format!(
            "malformed request target (Go would reject it: {e})"
        ))
    })?;
    if gourl::clean_path(&path) != path {
        return Err(ApiError::bad_request(
            "request path is not in canonical form; send the cleaned path",
        ));
    }
    let (version, rest) = match strip_version(&path) {
        Some(rest) => (Some(&path[2..path.len() - rest.len()]), rest),
        None => (None, &path[..]),
    };
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .map_err(|_| ApiError::bad_request("the request path is not valid UTF-8"))
    };
    Ok(ApiPath {
        version: version.map(text).transpose()?,
        path: text(rest)?,
    })
}

/// The API version a build request names in its path (`/v1.41/build`), if any.
pub fn api_version(uri: &http::Uri) -> Option<String> {
    let raw = request_target(uri);
    let path = gourl::request_path("POST", &raw).ok()?;
    let rest = strip_version(&path)?;
    String::from_utf8(path[2..path.len() - rest.len()].to_vec()).ok()
}

/// Go's `versions.compare` (moby `api/types/versions`): dot-separated parts compared
/// as numbers, a part that is not a number counts as 0, a missing part as 0.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x.cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}

/// The oldest API version a build is forwarded with: from 1.30 the daemon reports the
/// ID of what it built in `aux` messages, which the gateway needs to check the result
/// (`build::verify`). Below it nothing the gateway forwards is read differently: the
/// build parameters that depend on the version (`platform` from 1.32, `outputs` from
/// 1.40) are not in between.
pub const MIN_BUILD_API: &str = "1.30";

/// The path a build is forwarded to: `/v<version>/build` with the version the client
/// named, raised to [`MIN_BUILD_API`] if it is older, else `/build` (the daemon's own
/// version). The spelling is never the client's, because only the canonical one is
/// certain to route the same everywhere. Call only for requests [`classify`] found to
/// be [`Route::Build`].
pub fn upstream_build_path(uri: &http::Uri) -> String {
    match api_version(uri) {
        Some(version) if compare_versions(&version, MIN_BUILD_API).is_lt() => {
            format!("/v{MIN_BUILD_API}/build")
        }
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

#[cfg(test)]
mod proptests;

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
        classify(method, &uri).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn upstream_build_path_keeps_only_the_version() {
        let table = [
            ("/build", "/build"),
            ("/build?t=x", "/build"),
            ("/v1.41/build", "/v1.41/build"),
            ("/v1.41%2Fbuild", "/v1.41/build"),
            ("/%761.24/%62uild?q=1", "/v1.30/build"),
            ("/v1.29.9/build", "/v1.30/build"),
            ("/v1.30/build", "/v1.30/build"),
            ("/v1.4/build", "/v1.30/build"),
            ("/v2/build", "/v2/build"),
            ("http://docker/v1.40/build", "/v1.40/build"),
        ];
        for (target, want) in table {
            let uri: http::Uri = target.parse().unwrap();
            assert_eq!(run(&Method::POST, target), BUILD, "{target}");
            assert_eq!(upstream_build_path(&uri), want, "{target}");
        }
    }

    #[test]
    fn versions_compare_like_go() {
        use std::cmp::Ordering::*;
        for (a, b, want) in [
            ("1.30", "1.30", Equal),
            ("1.29", "1.30", Less),
            ("1.4", "1.30", Less),
            ("1.41", "1.30", Greater),
            ("1.30.0", "1.30", Equal),
            ("2", "1.99", Greater),
            ("1.x", "1.0", Equal),
            ("1..30", "1.0.30", Equal),
            (".", "0", Equal),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
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
    fn error_display_is_the_message() {
        let uri: http::Uri = "/build%zz".parse().unwrap();
        let e = classify(&Method::POST, &uri).unwrap_err();
        assert!(e.to_string().contains("malformed request target"), "{e}");
    }
}
