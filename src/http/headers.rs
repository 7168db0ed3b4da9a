//! Header rules shared by every path through the gateway: which headers belong to one
//! hop and never cross it (RFC 9110 §7.6.1), and how to read the token lists of
//! `Connection` and `Upgrade`, which decide whether a request hijacks its connection.

use http::header::{self, HeaderMap, HeaderName};

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1, plus the legacy
/// `Proxy-Connection` and `Keep-Alive`).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The comma-separated tokens of every `name` header, trimmed (`Connection`,
/// `Upgrade`). Values that are not text carry no token we act on.
pub fn header_tokens(headers: &HeaderMap, name: HeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
}

/// Removes hop-by-hop headers, including every header the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = header_tokens(headers, header::CONNECTION)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// True when the request asks to switch protocols (`Connection: Upgrade` plus an
/// `Upgrade` header), which is how the docker CLI asks to hijack attach/exec streams.
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = header_tokens(headers, header::CONNECTION)
        .any(|token| token.eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// True when the request asks for BuildKit's gRPC session: an upgrade to `h2c`, which
/// BuildKit uses on any path it likes.
pub fn asks_for_h2c(headers: &HeaderMap) -> bool {
    wants_upgrade(headers)
        && header_tokens(headers, header::UPGRADE)
            .any(|p| p.to_ascii_lowercase().starts_with("h2c"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        headers.insert("x-registry-auth", HeaderValue::from_static("secret"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, vec!["content-type", "x-registry-auth"]);
    }

    #[test]
    fn upgrade_detection_needs_both_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        assert!(!wants_upgrade(&headers));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(wants_upgrade(&headers));
        headers.remove(header::UPGRADE);
        assert!(!wants_upgrade(&headers));
    }
}
