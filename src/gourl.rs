//! Go's URL rules, as dockerd applies them to a request: `net/url`'s
//! `ParseRequestURI` and `unescape`, `QueryEscape`, and `path.Clean` as gorilla/mux's
//! `cleanPath` uses it.
//!
//! [`crate::route`] needs them to decide which handler the daemon would run for a
//! request target, and [`crate::query`] to read and rewrite the build query. They live
//! here, apart from both, because they are a port of Go's standard library (Go 1.19,
//! `net/url/url.go` and `path/path.go`, the versions dockerd 20.10 is built with) and
//! are tested against it as such (`tests/url_differential.rs`).
//!
//! Everything works on bytes, because Go strings are bytes: a decoded path may be
//! invalid UTF-8, exactly as in Go.

use std::fmt;

/// The decoded `URL.Path` Go's `net/http` would give the handler, or Go's error.
///
/// Mirrors `readRequest`: `CONNECT` with a target not starting with `/` is
/// parsed as `http://<target>`.
pub fn request_path(method: &str, raw: &str) -> Result<Vec<u8>, String> {
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
pub enum Mode {
    Path,
    QueryComponent,
    UserPassword,
    Host,
    Zone,
}

/// A malformed escape, reported the way Go's `EscapeError`/`InvalidHostError` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnescapeError {
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
pub fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, UnescapeError> {
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
pub fn clean_path(p: &[u8]) -> Vec<u8> {
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

/// Percent-encode everything but RFC 3986 unreserved bytes. Go's
/// `QueryUnescape` maps `%XX` to the byte and leaves these bytes alone, so
/// it returns the input unchanged (no `+`, no `;`, no `&`, no `=` survive).
pub fn query_escape(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
