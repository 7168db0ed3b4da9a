//! Unit tests for credential decoding and selection, written from
//! `registry/auth.go` and `registry/config.go` (moby v20.10.24).

use super::*;
use crate::reference::parse_normalized_named;

fn cfg(user: &str) -> AuthConfig {
    AuthConfig {
        username: user.into(),
        password: format!("{user}-secret"),
        ..AuthConfig::default()
    }
}

fn configs(entries: &[(&str, &str)]) -> AuthConfigs {
    AuthConfigs {
        entries: entries
            .iter()
            .map(|(k, u)| ((*k).to_owned(), cfg(u)))
            .collect(),
    }
}

fn index(reference: &str) -> IndexInfo {
    IndexInfo::for_reference(&parse_normalized_named(reference).unwrap()).unwrap()
}

#[test]
fn convert_to_hostname_strips_one_scheme_and_the_path() {
    let cases = [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("http://reg.example.com:5000/v2/", "reg.example.com:5000"),
        ("reg.example.com:5000", "reg.example.com:5000"),
        ("reg.example.com/some/path", "reg.example.com"),
        ("HTTPS://reg.example.com", "HTTPS:"),
        ("https://http://reg", "http:"),
        ("ftp://reg", "ftp:"),
        ("https://", ""),
        ("", ""),
        ("/x", ""),
    ];
    for (url, host) in cases {
        assert_eq!(convert_to_hostname(url), host, "{url}");
    }
}

#[test]
fn index_info_and_keys() {
    for r in ["busybox", "docker.io/user/app", "index.docker.io/busybox"] {
        let i = index(r);
        assert_eq!(
            i,
            IndexInfo {
                name: "docker.io".into(),
                official: true
            },
            "{r}"
        );
        assert_eq!(i.auth_config_key(), INDEX_SERVER);
    }
    let i = index("localhost:5000/foo");
    assert_eq!(
        i,
        IndexInfo {
            name: "localhost:5000".into(),
            official: false
        }
    );
    assert_eq!(i.auth_config_key(), "localhost:5000");
    // Case is kept, and only exactly "docker.io" is the official index.
    let i = index("Docker.IO/foo");
    assert_eq!(
        i,
        IndexInfo {
            name: "Docker.IO".into(),
            official: false
        }
    );
    assert_eq!(index("INDEX.DOCKER.IO/foo").name, "INDEX.DOCKER.IO");
    let i = index("a_b.c/x");
    assert_eq!(
        i,
        IndexInfo {
            name: String::new(),
            official: false
        }
    );
}

#[test]
fn docker_hub_uses_only_the_index_server_key() {
    let hub = index("busybox");
    let want = |e: &[(&str, &str)], user: Option<&str>| {
        let got = configs(e).resolve(&hub).unwrap();
        assert_eq!(got, user.map(cfg).unwrap_or_default(), "{e:?}");
    };
    want(&[("https://index.docker.io/v1/", "hub")], Some("hub"));
    // Everything else that "means" Docker Hub is ignored: no hostname matching for it.
    want(&[("docker.io", "a")], None);
    want(&[("index.docker.io", "a")], None);
    want(&[("https://index.docker.io/v1", "a")], None);
    want(&[("http://index.docker.io/v1/", "a")], None);
    want(&[("https://index.docker.io/v2/", "a")], None);
    want(&[("https://registry-1.docker.io", "a")], None);
    want(
        &[
            ("https://index.docker.io/v1/", "hub"),
            ("docker.io", "other"),
            ("index.docker.io", "x"),
        ],
        Some("hub"),
    );
}

#[test]
fn private_registries_match_exactly_then_by_hostname() {
    let reg = index("reg.example.com:5000/team/app");
    let want = |e: &[(&str, &str)], user: Option<&str>| {
        let got = configs(e).resolve(&reg).unwrap();
        assert_eq!(got, user.map(cfg).unwrap_or_default(), "{e:?}");
    };
    want(&[("reg.example.com:5000", "exact")], Some("exact"));
    want(&[("https://reg.example.com:5000/v2/", "url")], Some("url"));
    want(&[("http://reg.example.com:5000", "url")], Some("url"));
    want(&[("reg.example.com:5000/anything", "path")], Some("path"));
    // The exact key wins over any URL key, even with other credentials.
    want(
        &[
            ("reg.example.com:5000", "exact"),
            ("https://reg.example.com:5000", "url"),
        ],
        Some("exact"),
    );
    // Port, case and scheme spelling all matter.
    want(&[("reg.example.com", "noport")], None);
    want(&[("https://reg.example.com/", "noport")], None);
    want(&[("REG.example.com:5000", "case")], None);
    want(&[("HTTPS://reg.example.com:5000", "scheme")], None);
    want(&[("reg.example.com:50000", "port")], None);
    want(&[("https://index.docker.io/v1/", "hub")], None);
    want(&[], None);
}

#[test]
fn localhost_registries() {
    let want = |r: &str, e: &[(&str, &str)], user: Option<&str>| {
        let got = configs(e).resolve(&index(r)).unwrap();
        assert_eq!(got, user.map(cfg).unwrap_or_default(), "{r} {e:?}");
    };
    want("localhost/foo", &[("localhost", "a")], Some("a"));
    want("localhost/foo", &[("http://localhost", "a")], Some("a"));
    want("localhost/foo", &[("localhost:5000", "a")], None);
    want(
        "localhost:5000/foo",
        &[("https://localhost:5000/v1/", "a")],
        Some("a"),
    );
    want("localhost:5000/foo", &[("localhost", "a")], None);
    want(
        "127.0.0.1:5000/foo",
        &[("http://127.0.0.1:5000", "a")],
        Some("a"),
    );
}

#[test]
fn several_matching_keys_must_agree() {
    let reg = index("reg.example.com/app");
    let same = configs(&[
        ("https://reg.example.com", "a"),
        ("http://reg.example.com/v2/", "a"),
    ]);
    assert_eq!(same.resolve(&reg), Ok(cfg("a")));
    let differ = configs(&[
        ("https://reg.example.com", "a"),
        ("http://reg.example.com/v2/", "b"),
    ]);
    assert_eq!(
        differ.resolve(&reg),
        Err(AuthError::Ambiguous {
            registry: "reg.example.com".into(),
            keys: vec![
                "http://reg.example.com/v2/".into(),
                "https://reg.example.com".into()
            ],
        })
    );
    // No ambiguity when the exact key is there: Go never reaches the loop.
    let exact = configs(&[
        ("reg.example.com", "x"),
        ("https://reg.example.com", "a"),
        ("http://reg.example.com/v2/", "b"),
    ]);
    assert_eq!(exact.resolve(&reg), Ok(cfg("x")));
}

#[test]
fn for_pull_needs_credentials_before_it_checks_the_index() {
    let named = parse_normalized_named("reg.example.com/app").unwrap();
    assert_eq!(
        AuthConfigs::default().for_pull(&named),
        Ok(AuthConfig::default())
    );
    let c = configs(&[("https://reg.example.com/v2/", "a")]);
    assert_eq!(c.for_pull(&named), Ok(cfg("a")));
    let hub = parse_normalized_named("index.docker.io/library/busybox").unwrap();
    let c = configs(&[
        ("https://index.docker.io/v1/", "hub"),
        ("index.docker.io", "no"),
    ]);
    assert_eq!(c.for_pull(&hub), Ok(cfg("hub")));
}

fn header(json: &str) -> String {
    base64url_encode(json.as_bytes())
}

#[test]
fn base64_is_padded_url_safe() {
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (plain, enc) in vectors {
        assert_eq!(base64url_encode(plain.as_bytes()), enc);
        assert_eq!(base64url_decode(enc.as_bytes()).unwrap(), plain.as_bytes());
    }
    assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8=");
    assert_eq!(base64url_decode(b"-_8=").unwrap(), [0xfb, 0xff]);
    for bad in [
        "Zm8", "Zg", "Zg=", "+/8=", "Zm9v\n", "Zg==Zg==", "Z===", "=Zm9", "Zh==", "Zm9=", "Zm 9v",
    ] {
        assert!(base64url_decode(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn registry_config_decodes_like_get_auth_configs() {
    let h = "eyJodHRwczovL2luZGV4LmRvY2tlci5pby92MS8iOnsidXNlcm5hbWUiOiJ1IiwicGFzc3dvcmQiOiJwIn19";
    let c = AuthConfigs::from_header_value(h.as_bytes()).unwrap();
    assert_eq!(c.len(), 1);
    let hub = c.get(INDEX_SERVER).unwrap();
    assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p"));

    assert!(AuthConfigs::from_header_value(b"").unwrap().is_empty());
    assert!(
        AuthConfigs::from_header_value(header("null").as_bytes())
            .unwrap()
            .is_empty()
    );
    assert!(
        AuthConfigs::from_header_value(header(" {} ").as_bytes())
            .unwrap()
            .is_empty()
    );

    let c = AuthConfigs::from_header_value(header(r#"{"a":null,"b":{}}"#).as_bytes()).unwrap();
    assert_eq!(c.len(), 2);
    assert!(c.get("a").unwrap().is_empty() && c.get("b").unwrap().is_empty());

    // Go's field matching: any ASCII case, and U+017F / U+212A for s / k.
    let json = r#"{"r":{"USERNAME":"u","PassWord":"p","Auth":"x","eMail":"e","serverAddress":"s","identitytoKen":"i","regiſtrytoken":"t","unknown":{"deep":[1,2.5e3,true,null]}}}"#;
    let json = json.replace('K', "\u{212a}");
    let c = AuthConfigs::from_header_value(header(&json).as_bytes()).unwrap();
    let r = c.get("r").unwrap();
    assert_eq!(
        r,
        &AuthConfig {
            username: "u".into(),
            password: "p".into(),
            auth: "x".into(),
            email: "e".into(),
            server_address: "s".into(),
            identity_token: "i".into(),
            registry_token: "t".into(),
        }
    );
    // null leaves a field empty; escapes and surrogate pairs decode.
    let c = AuthConfigs::from_header_value(
        header(r#"{"r":{"username":null,"password":"a\"b\\c\u00e9\ud83d\ude00\n"}}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(c.get("r").unwrap().password, "a\"b\\cé😀\n");
    assert_eq!(c.get("r").unwrap().username, "");
}

#[test]
fn registry_config_refuses_what_could_read_two_ways() {
    let refuse = |value: &str| {
        let r = AuthConfigs::from_header_value(value.as_bytes());
        assert!(r.is_err(), "{value:?} gave {r:?}");
        r.unwrap_err()
    };
    let json = r#"{"reg":{"username":"uu"}}"#;
    let padded = header(json);
    assert!(padded.ends_with('='));
    assert!(matches!(
        refuse(padded.trim_end_matches('=')),
        AuthError::Base64 { .. }
    ));
    // `{"r":{"username":"?>>"}}` in the standard alphabet has a '+' where the
    // URL-safe one has '-'.
    let std = "eyJyIjp7InVzZXJuYW1lIjoiPz4+In19";
    assert!(matches!(refuse(std), AuthError::Base64 { .. }));
    let url = AuthConfigs::from_header_value(std.replace('+', "-").as_bytes()).unwrap();
    assert_eq!(url.get("r").unwrap().username, "?>>");
    assert!(matches!(refuse("e30"), AuthError::Base64 { .. }));
    assert!(matches!(refuse("e31="), AuthError::Base64 { .. })); // non-zero trailing bits
    for bad in [
        r#"{"reg":{"username":"u"}} x"#,
        r#"{"reg":{"username":"u"}"#,
        r#"{"reg":{"username":"\ud800"}}"#,
        r#"{"reg":{"username":"\udc00x"}}"#,
        r#"{"reg":{"username":"\u12"}}"#,
        r#"{"reg":{"username":"a	b"}}"#,
        r#"{"reg":{"username":'u'}}"#,
        r#"{"reg":{"x":01}}"#,
        r#"{"reg":{"x":-}}"#,
        r#"{"reg":{"x":1.}}"#,
        r#"{"reg":{"x":[1,]}}"#,
        r#"{"reg":{"x":tru}}"#,
        "\u{feff}{}",
    ] {
        assert!(
            matches!(refuse(&header(bad)), AuthError::Json { .. }),
            "{bad}"
        );
    }
    let deep = format!(r#"{{"reg":{{"x":{}{}}}}}"#, "[".repeat(70), "]".repeat(70));
    assert!(matches!(refuse(&header(&deep)), AuthError::Json { .. }));
    let ok_deep = format!(r#"{{"reg":{{"x":{}{}}}}}"#, "[".repeat(60), "]".repeat(60));
    assert!(AuthConfigs::from_header_value(header(&ok_deep).as_bytes()).is_ok());
    let invalid_utf8 = base64url_encode(b"{\"reg\":{\"username\":\"\xff\"}}");
    assert!(matches!(refuse(&invalid_utf8), AuthError::Json { .. }));
    for bad in [
        "[]",
        "\"x\"",
        "1",
        r#"{"reg":[]}"#,
        r#"{"reg":"u"}"#,
        r#"{"reg":{"username":1}}"#,
        r#"{"reg":{"password":{}}}"#,
        r#"{"reg":{"Auth":true}}"#,
    ] {
        assert!(
            matches!(refuse(&header(bad)), AuthError::Shape { .. }),
            "{bad}"
        );
    }
    for bad in [
        r#"{"reg":{},"reg":{}}"#,
        r#"{"reg":{"username":"a","username":"b"}}"#,
        r#"{"reg":{"username":"a","Username":null}}"#,
        r#"{"reg":{"serveraddress":"a","ſerveraddress":"a"}}"#,
    ] {
        assert!(
            matches!(refuse(&header(bad)), AuthError::Duplicate { .. }),
            "{bad}"
        );
    }
}

#[test]
fn registry_config_from_headers() {
    let mut h = http::HeaderMap::new();
    assert_eq!(AuthConfigs::from_headers(&h), Ok(AuthConfigs::default()));
    let v = header(r#"{"reg":{"username":"u"}}"#);
    h.append("X-Registry-Config", v.parse().unwrap());
    assert_eq!(
        AuthConfigs::from_headers(&h)
            .unwrap()
            .get("reg")
            .unwrap()
            .username,
        "u"
    );
    h.append("x-registry-config", "e30=".parse().unwrap());
    assert_eq!(
        AuthConfigs::from_headers(&h),
        Err(AuthError::RepeatedHeader(REGISTRY_CONFIG_HEADER))
    );
}

#[test]
fn registry_auth_encodes_what_the_daemon_decodes() {
    let c = AuthConfig {
        username: "u".into(),
        ..AuthConfig::default()
    };
    assert_eq!(c.to_header_value(), "eyJ1c2VybmFtZSI6InUifQ==");
    assert_eq!(AuthConfig::default().to_header_value(), "e30=");
    let all = AuthConfig {
        username: "ü\"ser".into(),
        password: "p\\w\u{1}\u{1f}\u{7f}".into(),
        auth: "dTpw".into(),
        email: "a@b".into(),
        server_address: "https://reg:5000/v2/".into(),
        identity_token: "\u{2028}<&>".into(),
        registry_token: "😀".into(),
    };
    let v = all.to_header_value();
    assert!(
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b))
    );
    assert!(http::HeaderValue::from_str(&v).is_ok());
    assert_eq!(AuthConfig::from_header_value(v.as_bytes()), Ok(all));
    assert_eq!(
        AuthConfig::from_header_value(b""),
        Ok(AuthConfig::default())
    );
    assert_eq!(
        AuthConfig::from_header_value(header("null").as_bytes()),
        Ok(AuthConfig::default())
    );
    assert!(matches!(
        AuthConfig::from_header_value(header("[]").as_bytes()),
        Err(AuthError::Shape { .. })
    ));
}

#[test]
fn debug_hides_secrets() {
    let c = AuthConfig {
        username: "someone".into(),
        password: "hunter2".into(),
        auth: "c29tZW9uZTpodW50ZXIy".into(),
        identity_token: "tok-id".into(),
        registry_token: "tok-reg".into(),
        ..AuthConfig::default()
    };
    let d = format!("{c:?}");
    assert!(d.contains("someone"));
    for secret in ["hunter2", "c29tZW9uZTpodW50ZXIy", "tok-id", "tok-reg"] {
        assert!(!d.contains(secret), "{d}");
    }
}
