//! Arbitrary request-targets that `http::Uri` accepts into `route::classify`. It never
//! panics; a `Build` answer comes only for POST, and the path the build is forwarded
//! to (`upstream_build_path`) is itself classified as `Build`.
#![no_main]

use buildgate::route::{Route, classify, upstream_build_path};
use http::{Method, Uri};
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &[
    "POST", "GET", "HEAD", "PUT", "CONNECT", "OPTIONS", "post", "BUILD",
];

fuzz_target!(|data: &[u8]| {
    let Some((&m, target)) = data.split_first() else {
        return;
    };
    let method = Method::from_bytes(METHODS[usize::from(m) % METHODS.len()].as_bytes()).unwrap();
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    if let Ok(Route::Build) = classify(&method, &uri) {
        assert_eq!(method, Method::POST);
        let up = upstream_build_path(&uri);
        let up_uri = Uri::try_from(up.as_str()).expect("upstream path is a valid URI");
        assert_eq!(classify(&Method::POST, &up_uri), Ok(Route::Build), "{up}");
    }
});
