//! Property tests for routing: `classify` never panics on URIs `http::Uri` accepts;
//! `/build` and `/v<ver>/build` with any bytes percent-encoded are a build for POST and
//! 405 otherwise; spelled with `//`, `/./`, `/x/../` (encoded or not) they are a build or
//! a 400, never passed through; the forwarded path of a build is itself a build.
//!
//! The same checks run unbounded under libFuzzer: `fuzz/fuzz_targets/route.rs`.

use proptest::prelude::*;

use super::{Route, classify, upstream_build_path};

/// Build paths with every byte either literal or percent-encoded.
fn build_path() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec![
            "/build",
            "/v1.41/build",
            "/v1.2.3/build",
            "/v1/build",
            "/v./build",
        ]),
        any::<u64>(),
        prop::collection::vec(any::<bool>(), 16),
    )
        .prop_map(|(p, seed, enc)| {
            let mut out = String::new();
            for (i, c) in p.chars().enumerate() {
                // The leading '/' stays: an origin-form target must start with one.
                if i > 0 && enc[i % enc.len()] && seed.rotate_left(i as u32) & 1 == 1 {
                    if seed & (1 << (i % 64)) != 0 {
                        out.push_str(&format!("%{:02x}", c as u8));
                    } else {
                        out.push_str(&format!("%{:02X}", c as u8));
                    }
                } else {
                    out.push(c);
                }
            }
            (p.to_string(), out)
        })
}

/// Same, with segments that clean away (`//`, `/./`, `/x/../`, encoded or not)
/// inserted at some slashes.
fn unclean_build_path() -> impl Strategy<Value = String> {
    (
        build_path(),
        prop::collection::vec(
            prop::sample::select(vec![
                "//", "/./", "/x/../", "/%2E/", "/%2e%2E/", "%2F/", "/.%2F", "/v1/../",
            ]),
            4,
        ),
        any::<u8>(),
    )
        .prop_map(|((_, p), noise, mask)| {
            let mut out = String::new();
            let mut slash = 0;
            let mut inserted = false;
            for c in p.chars() {
                if c == '/' && (mask >> slash) & 1 == 1 {
                    out.push_str(noise[slash % noise.len()]);
                    inserted = true;
                } else {
                    out.push(c);
                }
                slash += usize::from(c == '/');
            }
            if !inserted {
                out.insert_str(0, "/.");
            }
            if !out.starts_with('/') {
                out.insert(0, '/'); // "%2F/..." as the first slash: still origin-form
            }
            out
        })
}

fn uri(s: &str) -> http::Uri {
    http::Uri::try_from(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn route_prop_never_panics(
        target in "[/a-z0-9%.?&=:@_~+-]{0,40}|[a-z]{1,5}://[a-z0-9.:@%-]{0,12}[/a-z0-9%.?]{0,20}",
        m in prop::sample::select(vec!["POST", "GET", "HEAD", "PUT", "CONNECT", "OPTIONS", "post"]),
    ) {
        let method = http::Method::from_bytes(m.as_bytes()).unwrap();
        if let Ok(u) = http::Uri::try_from(target.as_str())
            && let Ok(Route::Build) = classify(&method, &u)
        {
            prop_assert_eq!(&method, &http::Method::POST);
            let up = upstream_build_path(&u);
            prop_assert_eq!(classify(&http::Method::POST, &uri(&up)), Ok(Route::Build), "{}", up);
        }
    }

    #[test]
    fn route_prop_any_encoding_of_build_is_a_build(
        (plain, path) in build_path(),
        query in prop_oneof![Just(""), Just("?t=x"), Just("?"), Just("?a=%2Fbuild")],
        absolute in any::<bool>(),
    ) {
        let target = if absolute {
            format!("http://docker{path}{query}")
        } else {
            format!("{path}{query}")
        };
        let u = uri(&target);
        prop_assert_eq!(classify(&http::Method::POST, &u), Ok(Route::Build), "{}", target);
        let up = upstream_build_path(&u);
        let want = match plain.strip_prefix("/v").and_then(|p| p.strip_suffix("/build")) {
            Some(v) if super::compare_versions(v, super::MIN_BUILD_API).is_lt() => {
                format!("/v{}/build", super::MIN_BUILD_API)
            }
            _ => plain.clone(),
        };
        prop_assert_eq!(&up, &want, "{}", target);
        prop_assert_eq!(classify(&http::Method::POST, &uri(&up)), Ok(Route::Build));
        for m in [http::Method::GET, http::Method::PUT, http::Method::HEAD] {
            prop_assert_eq!(classify(&m, &u).map_err(|e| e.status.as_u16()), Err(405), "{} {}", m, target);
        }
    }

    #[test]
    fn route_prop_unclean_build_paths_are_never_passed_through(path in unclean_build_path()) {
        let got = classify(&http::Method::POST, &uri(&path));
        prop_assert!(
            matches!(got, Ok(Route::Build)) || got.as_ref().is_err_and(|e| e.status == 400),
            "{} -> {:?}", path, got
        );
    }
}
