//! Unit tests for the reference grammar and the daemon operations built on it. The
//! expectations are read off the Go sources named in the module doc; the
//! differential test (`tests/reference_differential.rs`) checks the same and much
//! more against the Go packages themselves.

use super::*;
use proptest::prelude::*;

const HEX64: &str = "e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";

fn sha(hex: &str) -> String {
    format!("sha256:{hex}")
}

/// (input, normalised string, familiar string, domain, path)
#[test]
fn normalises_like_parse_normalized_named() {
    let d = sha(HEX64);
    let cases: Vec<(String, String, String, &str, String)> = vec![
        (
            "busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox".into(),
        ),
        (
            "busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
            "docker.io",
            "library/busybox".into(),
        ),
        (
            "library/busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox".into(),
        ),
        (
            "docker.io/busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox".into(),
        ),
        (
            "index.docker.io/busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox".into(),
        ),
        (
            "index.docker.io/user/app".into(),
            "docker.io/user/app".into(),
            "user/app".into(),
            "docker.io",
            "user/app".into(),
        ),
        (
            "docker.io/library/foo/bar".into(),
            "docker.io/library/foo/bar".into(),
            "library/foo/bar".into(),
            "docker.io",
            "library/foo/bar".into(),
        ),
        (
            "user/app".into(),
            "docker.io/user/app".into(),
            "user/app".into(),
            "docker.io",
            "user/app".into(),
        ),
        (
            "foo_bar/x".into(),
            "docker.io/foo_bar/x".into(),
            "foo_bar/x".into(),
            "docker.io",
            "foo_bar/x".into(),
        ),
        (
            "localhost/foo".into(),
            "localhost/foo".into(),
            "localhost/foo".into(),
            "localhost",
            "foo".into(),
        ),
        (
            "localhost:5000/foo:bar".into(),
            "localhost:5000/foo:bar".into(),
            "localhost:5000/foo:bar".into(),
            "localhost:5000",
            "foo".into(),
        ),
        // No slash: "localhost" is the repository and "5000" its tag.
        (
            "localhost:5000".into(),
            "docker.io/library/localhost:5000".into(),
            "localhost:5000".into(),
            "docker.io",
            "library/localhost".into(),
        ),
        // Only the exact lowercase legacy spelling is rewritten; domains keep their case.
        (
            "INDEX.DOCKER.IO/foo".into(),
            "INDEX.DOCKER.IO/foo".into(),
            "INDEX.DOCKER.IO/foo".into(),
            "INDEX.DOCKER.IO",
            "foo".into(),
        ),
        (
            "Example.COM:443/a/b".into(),
            "Example.COM:443/a/b".into(),
            "Example.COM:443/a/b".into(),
            "Example.COM:443",
            "a/b".into(),
        ),
        (
            "docker.io".into(),
            "docker.io/library/docker.io".into(),
            "docker.io".into(),
            "docker.io",
            "library/docker.io".into(),
        ),
        (
            "a.b/c".into(),
            "a.b/c".into(),
            "a.b/c".into(),
            "a.b",
            "c".into(),
        ),
        // Taken for a domain by normalisation, not by the grammar: empty domain.
        (
            "a_b.c/x".into(),
            "a_b.c/x".into(),
            "a_b.c/x".into(),
            "",
            "a_b.c/x".into(),
        ),
        (
            "a__b--c.d-e/f".into(),
            "a__b--c.d-e/f".into(),
            "a__b--c.d-e/f".into(),
            "",
            "a__b--c.d-e/f".into(),
        ),
        (
            format!("gcr.io/x/y:v1.0_A-b@{d}"),
            format!("gcr.io/x/y:v1.0_A-b@{d}"),
            format!("gcr.io/x/y:v1.0_A-b@{d}"),
            "gcr.io",
            "x/y".into(),
        ),
        (
            format!("busybox@{d}"),
            format!("docker.io/library/busybox@{d}"),
            format!("busybox@{d}"),
            "docker.io",
            "library/busybox".into(),
        ),
        // A digest-looking tag is a tag: "sha256" is the repository.
        (
            format!("sha256:{}", &HEX64[..10]),
            format!("docker.io/library/sha256:{}", &HEX64[..10]),
            format!("sha256:{}", &HEX64[..10]),
            "docker.io",
            "library/sha256".into(),
        ),
        (
            "a-----b".into(),
            "docker.io/library/a-----b".into(),
            "a-----b".into(),
            "docker.io",
            "library/a-----b".into(),
        ),
        (
            "xn--n3h.com:18080/foo".into(),
            "xn--n3h.com:18080/foo".into(),
            "xn--n3h.com:18080/foo".into(),
            "xn--n3h.com:18080",
            "foo".into(),
        ),
        (
            "foo:_".into(),
            "docker.io/library/foo:_".into(),
            "foo:_".into(),
            "docker.io",
            "library/foo".into(),
        ),
    ];
    for (input, full, familiar, domain, path) in cases {
        let n = parse_normalized_named(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(n.to_string(), full, "{input}");
        assert_eq!(n.familiar_string(), familiar, "{input}");
        assert_eq!(n.domain(), domain, "{input}");
        assert_eq!(n.path(), path, "{input}");
    }
}

#[test]
fn refuses_like_the_daemon() {
    let d = sha(HEX64);
    let upper = HEX64.to_uppercase();
    let long = |n: usize| "a".repeat(n);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "invalid reference format"),
        (
            "Foo".into(),
            "invalid reference format: repository name must be lowercase",
        ),
        (
            "foo/Bar:tag".into(),
            "invalid reference format: repository name must be lowercase",
        ),
        (
            "example.com/Foo".into(),
            "invalid reference format: repository name must be lowercase",
        ),
        (
            "fooİ".into(),
            "invalid reference format: repository name must be lowercase",
        ),
        (
            format!("foo@SHA256:{HEX64}"),
            "invalid reference format: repository name must be lowercase",
        ),
        (
            HEX64.into(),
            "invalid repository name (e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582), cannot specify 64-byte hexadecimal strings",
        ),
        ("foo:".into(), "invalid reference format"),
        ("foo@".into(), "invalid reference format"),
        ("foo::bar".into(), "invalid reference format"),
        (":foo".into(), "invalid reference format"),
        ("foo//bar".into(), "invalid reference format"),
        ("foo/".into(), "invalid reference format"),
        ("/foo".into(), "invalid reference format"),
        ("a..b/c".into(), "invalid reference format"),
        ("a.b/c..d".into(), "invalid reference format"),
        ("a___b".into(), "invalid reference format"),
        ("-a".into(), "invalid reference format"),
        ("a-".into(), "invalid reference format"),
        ("-a.com/b".into(), "invalid reference format"),
        ("a.com:/b".into(), "invalid reference format"),
        ("a.com:x/b".into(), "invalid reference format"),
        ("[::1]:5000/foo".into(), "invalid reference format"),
        ("foo:-tag".into(), "invalid reference format"),
        ("foo:a:b".into(), "invalid reference format"),
        (
            format!("foo:{}", "t".repeat(129)),
            "invalid reference format",
        ),
        ("foo@sha256:abc".into(), "invalid reference format"),
        (format!("foo@{d}@{d}"), "invalid reference format"),
        ("foo bar".into(), "invalid reference format"),
        ("foo:é".into(), "invalid reference format"),
        ("foo:É".into(), "invalid reference format"),
        // Parse's own check: the lowercase form (Go's simple mapping) would match.
        ("foo:\u{212a}".into(), "repository name must be lowercase"),
        ("foo:\u{130}".into(), "repository name must be lowercase"),
        (
            format!("a.b:1/c:t@X{}", &d[1..]),
            "invalid checksum digest format",
        ),
        (
            format!("foo@sha256:{}", &HEX64[..63]),
            "invalid checksum digest length",
        ),
        (
            format!("foo@sha256:{HEX64}0"),
            "invalid checksum digest length",
        ),
        (
            format!("foo:t@sha256:{upper}"),
            "invalid checksum digest format",
        ),
        (
            format!("foo:t@SHA256:{HEX64}"),
            "invalid checksum digest format",
        ),
        (
            format!("foo:t@md5:{}", &HEX64[..32]),
            "unsupported digest algorithm",
        ),
        (
            format!("foo:t@sha.x:{HEX64}"),
            "unsupported digest algorithm",
        ),
        (
            format!("foo:t@sha256+b64:{HEX64}"),
            "unsupported digest algorithm",
        ),
        (
            long(238),
            "repository name must not be more than 255 characters",
        ),
        (
            format!("example.com/{}", long(244)),
            "repository name must not be more than 255 characters",
        ),
    ];
    for (input, message) in cases {
        match parse_normalized_named(&input) {
            Ok(n) => panic!("{input:?} parsed as {n}"),
            Err(e) => assert_eq!(e.to_string(), message, "{input:?}"),
        }
    }
}

#[test]
fn length_limit_counts_the_normalised_name() {
    // "docker.io/library/" is 18 characters.
    assert!(parse_normalized_named(&"a".repeat(237)).is_ok());
    assert_eq!(
        parse_normalized_named(&"a".repeat(238)),
        Err(ReferenceError::NameTooLong)
    );
    let domain = "example.com/";
    assert!(parse_normalized_named(&format!("{domain}{}", "a".repeat(243))).is_ok());
    // Tag and digest do not count.
    let n = format!("{}:{}@{}", "a".repeat(237), "t".repeat(128), sha(HEX64));
    assert!(parse_normalized_named(&n).is_ok());
}

#[test]
fn any_reference_reads_ids_and_digests_first() {
    let d = sha(HEX64);
    assert_eq!(
        parse_any_reference(HEX64),
        Ok(AnyReference::Digest(Digest(d.clone())))
    );
    assert_eq!(
        parse_any_reference(&d),
        Ok(AnyReference::Digest(Digest(d.clone())))
    );
    let d512 = format!("sha512:{HEX64}{HEX64}");
    assert_eq!(
        parse_any_reference(&d512).map(|r| r.to_string()),
        Ok(d512.clone())
    );
    // Short or malformed digests are names (tag after "sha256").
    let short = format!("sha256:{}", &HEX64[..12]);
    match parse_any_reference(&short) {
        Ok(AnyReference::Named(n)) => {
            assert_eq!(n.path(), "library/sha256");
            assert_eq!(n.tag(), Some(&HEX64[..12]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_any_reference(&HEX64.to_uppercase()),
        Err(ReferenceError::RemoteNameNotLowercase)
    );
    assert_eq!(
        parse_any_reference("busybox").map(|r| r.familiar_string()),
        Ok("busybox".into())
    );
}

#[test]
fn digest_parse_matches_go_digest() {
    let ok = [
        sha(HEX64),
        format!("sha384:{HEX64}{}", &HEX64[..32]),
        format!("sha512:{HEX64}{HEX64}"),
    ];
    for d in ok {
        let p = Digest::parse(&d).unwrap();
        assert_eq!(p.as_str(), d);
        assert_eq!(format!("{}:{}", p.algorithm(), p.encoded()), d);
    }
    let e = |s: &str| Digest::parse(s).unwrap_err();
    assert_eq!(e(""), ReferenceError::DigestInvalidFormat);
    assert_eq!(e("sha256"), ReferenceError::DigestInvalidFormat);
    assert_eq!(e(":abc"), ReferenceError::DigestInvalidFormat);
    assert_eq!(e("sha256:"), ReferenceError::DigestInvalidFormat);
    assert_eq!(e("sha256:abc"), ReferenceError::DigestInvalidLength);
    assert_eq!(
        e(&sha(&HEX64.to_uppercase())),
        ReferenceError::DigestInvalidFormat
    );
    assert_eq!(
        e(&format!("sha256:{}g", &HEX64[..63])),
        ReferenceError::DigestInvalidFormat
    );
    assert_eq!(e("md5:abc"), ReferenceError::DigestUnsupported);
    assert_eq!(e("a.b+c_d-e:A=_-z"), ReferenceError::DigestUnsupported);
    assert_eq!(e("MD5:abc"), ReferenceError::DigestInvalidFormat);
    assert_eq!(e("md5:a:b"), ReferenceError::DigestInvalidFormat);
    assert_eq!(e("a..b:abc"), ReferenceError::DigestInvalidFormat);
    assert_eq!(
        Digest::from_id(HEX64).map(|d| d.to_string()),
        Some(sha(HEX64))
    );
    assert_eq!(Digest::from_id(&HEX64[1..]), None);
    assert!(is_full_id(HEX64));
    assert!(!is_full_id(&HEX64.to_uppercase()));
    assert!(!is_full_id(&sha(HEX64)));
}

#[test]
fn tag_name_only_and_docker_ref() {
    let d = sha(HEX64);
    let n = parse_normalized_named("busybox").unwrap();
    assert!(n.is_name_only());
    assert_eq!(
        n.tag_name_only().to_string(),
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        n.docker_ref().to_string(),
        "docker.io/library/busybox:latest"
    );
    let both = parse_normalized_named(&format!("busybox:1@{d}")).unwrap();
    assert!(!both.is_name_only());
    assert_eq!(both.tag_name_only(), both);
    assert_eq!(
        both.docker_ref().to_string(),
        format!("docker.io/library/busybox@{d}")
    );
    assert_eq!(
        parse_docker_ref("busybox:1").map(|n| n.to_string()),
        Ok("docker.io/library/busybox:1".into())
    );
    assert_eq!(both.trim().to_string(), "docker.io/library/busybox");
    assert_eq!(both.familiar_name(), "busybox");
    assert_eq!(
        both.with_tag("2").map(|n| n.to_string()),
        Ok(format!("docker.io/library/busybox:2@{d}"))
    );
    assert_eq!(both.with_tag("-2"), Err(ReferenceError::TagInvalidFormat));
    assert_eq!(both.with_tag(""), Err(ReferenceError::TagInvalidFormat));
    assert!(n.with_tag(&"t".repeat(128)).is_ok());
    assert_eq!(
        n.with_tag(&"t".repeat(129)),
        Err(ReferenceError::TagInvalidFormat)
    );
}

#[test]
fn pull_target_follows_pull_image() {
    let d = sha(HEX64);
    let one = |s: &str| PullTarget::One(parse_normalized_named(s).unwrap());
    let all = |s: &str| PullTarget::AllTags(parse_normalized_named(s).unwrap());
    let cases: Vec<(String, String, Result<Option<PullTarget>, ReferenceError>)> = vec![
        ("".into(), "latest".into(), Ok(None)),
        ("busybox".into(), String::new(), Ok(Some(all("busybox")))),
        ("busybox:".into(), String::new(), Ok(Some(all("busybox")))),
        (
            "busybox::".into(),
            String::new(),
            Err(ReferenceError::InvalidFormat),
        ),
        (
            "busybox".into(),
            "latest".into(),
            Ok(Some(one("busybox:latest"))),
        ),
        (
            "busybox:1".into(),
            String::new(),
            Ok(Some(one("busybox:1"))),
        ),
        ("busybox:1".into(), "2".into(), Ok(Some(one("busybox:2")))),
        (
            "busybox:1".into(),
            d.clone(),
            Ok(Some(one(&format!("busybox@{d}")))),
        ),
        // A tag keeps the digest; the digest wins when pulling.
        (
            format!("busybox@{d}"),
            "v2".into(),
            Ok(Some(one(&format!("busybox:v2@{d}")))),
        ),
        (
            "busybox".into(),
            "bad tag".into(),
            Err(ReferenceError::TagInvalidFormat),
        ),
        (
            "busybox".into(),
            "sha256:abc".into(),
            Err(ReferenceError::TagInvalidFormat),
        ),
        (
            "Busybox".into(),
            "latest".into(),
            Err(ReferenceError::RemoteNameNotLowercase),
        ),
    ];
    for (from, tag, want) in cases {
        assert_eq!(daemon_pull_target(&from, &tag), want, "{from:?} {tag:?}");
    }
}

#[test]
fn pull_query_never_means_all_tags() {
    let d = sha(HEX64);
    for s in [
        "busybox".to_owned(),
        "busybox:1".into(),
        format!("busybox@{d}"),
        format!("localhost:5000/a/b:c@{d}"),
        "index.docker.io/user/app".into(),
        "Example.com/x".into(),
    ] {
        let n = parse_normalized_named(&s).unwrap();
        let (from, tag) = pull_query(&n).unwrap();
        assert!(!tag.is_empty());
        assert_eq!(
            daemon_pull_target(&from, &tag),
            Ok(Some(PullTarget::One(n.docker_ref()))),
            "{s}"
        );
    }
    let n = parse_normalized_named("busybox").unwrap();
    assert_eq!(
        pull_query(&n),
        Ok(("docker.io/library/busybox".into(), "latest".into()))
    );
    let n = parse_normalized_named("a_b.c/x").unwrap();
    assert_eq!(
        pull_query(&n),
        Err(ReferenceError::NoRegistry("a_b.c/x".into()))
    );
}

#[test]
fn tag_commit_import_and_build_targets() {
    let d = sha(HEX64);
    let s = |r: Result<Named, ReferenceError>| r.map(|n| n.to_string());
    assert_eq!(
        s(tag_target("foo", "")),
        Ok("docker.io/library/foo:latest".into())
    );
    assert_eq!(
        s(tag_target("foo:1", "")),
        Ok("docker.io/library/foo:1".into())
    );
    assert_eq!(
        s(tag_target("foo:1", "2")),
        Ok("docker.io/library/foo:2".into())
    );
    assert_eq!(
        s(tag_target(&format!("foo@{d}"), "")),
        Err(ReferenceError::TagWithDigest)
    );
    assert_eq!(
        s(tag_target(&format!("foo:1@{d}"), "")),
        Err(ReferenceError::TagWithDigest)
    );
    // A tag parameter drops the repository's digest (TrimNamed).
    assert_eq!(
        s(tag_target(&format!("foo@{d}"), "v")),
        Ok("docker.io/library/foo:v".into())
    );
    assert_eq!(
        s(tag_target("sha256", "")),
        Err(ReferenceError::DigestAlgorithmAsName)
    );
    assert_eq!(
        s(tag_target("docker.io/library/sha256:x", "")),
        Err(ReferenceError::DigestAlgorithmAsName)
    );
    assert_eq!(
        s(tag_target("library/sha256", "y")),
        Err(ReferenceError::DigestAlgorithmAsName)
    );
    assert_eq!(
        s(tag_target("localhost/sha256", "")),
        Ok("localhost/sha256:latest".into())
    );
    assert_eq!(
        s(tag_target("foo", "-x")),
        Err(ReferenceError::TagInvalidFormat)
    );
    assert_eq!(s(tag_target("", "x")), Err(ReferenceError::InvalidFormat));
    assert_eq!(
        s(tag_target(HEX64, "")),
        Err(ReferenceError::HexadecimalName(HEX64.into()))
    );

    assert_eq!(import_target("", "x"), Ok(None));
    assert_eq!(import_target("", "-bad"), Ok(None));
    assert_eq!(
        import_target(&format!("foo@{d}"), "v"),
        Err(ReferenceError::ImportWithDigest)
    );
    assert_eq!(
        import_target(&format!("foo:1@{d}"), ""),
        Err(ReferenceError::ImportWithDigest)
    );
    assert_eq!(
        import_target("foo:1", "2").map(|n| n.map(|n| n.to_string())),
        Ok(Some("docker.io/library/foo:2".into()))
    );
    assert_eq!(
        import_target("foo", "").map(|n| n.map(|n| n.to_string())),
        Ok(Some("docker.io/library/foo:latest".into()))
    );
    assert_eq!(
        import_target("sha256", "1"),
        Err(ReferenceError::DigestAlgorithmAsName)
    );

    let tags = build_tags([
        "",
        "a",
        "a:latest",
        "docker.io/library/a",
        "b",
        "index.docker.io/b:latest",
    ])
    .unwrap();
    let tags: Vec<String> = tags.iter().map(Named::to_string).collect();
    assert_eq!(
        tags,
        ["docker.io/library/a:latest", "docker.io/library/b:latest"]
    );
    assert_eq!(build_tags([""]), Ok(vec![]));
    assert_eq!(
        build_tags([&*format!("a@{d}")]),
        Err(ReferenceError::BuildTagWithDigest)
    );
    // Parse errors come first (sanitizeRepoAndTags), store errors after the build.
    assert_eq!(
        build_tags(["sha256", "Bad"]),
        Err(ReferenceError::RemoteNameNotLowercase)
    );
    assert_eq!(
        build_tags(["ok", "sha256"]),
        Err(ReferenceError::DigestAlgorithmAsName)
    );
}

#[test]
fn id_prefix_fallback_follows_digestset_lookup() {
    let cases: Vec<(String, Option<&str>)> = vec![
        ("abc".into(), Some("abc")),
        ("0".into(), Some("0")),
        (HEX64[..63].into(), Some(&HEX64[..63])),
        ("sha256:abc".into(), Some("abc")),
        (format!("sha256:{}", &HEX64[..63]), Some(&HEX64[..63])),
        (HEX64.into(), None),               // a full ID is a digest, not a name
        (sha(HEX64), None),                 // so is a full digest
        (format!("sha256:{HEX64}0"), None), // 65 digits match no ID
        ("sha512:abc".into(), None),        // IDs are sha256
        ("abc:latest".into(), None),        // "abc" read as an algorithm
        ("busybox".into(), None),
        ("ABC".into(), None), // not a name at all
        ("abc/def".into(), None),
        ("sha256:".into(), None),
    ];
    for (s, want) in cases {
        assert_eq!(id_prefix_fallback(&s), want, "{s}");
    }
}

#[test]
fn error_messages_are_the_daemons() {
    assert_eq!(
        ReferenceError::InvalidIndexName("-a".into()).to_string(),
        "invalid index name (-a). Cannot begin or end with a hyphen"
    );
    assert_eq!(
        ReferenceError::NameTooLong.to_string(),
        "repository name must not be more than 255 characters"
    );
    assert_eq!(
        ReferenceError::DigestAlgorithmAsName.to_string(),
        "refusing to create an ambiguous tag using digest algorithm as name"
    );
}

/// Strings built from the grammar's pieces and from pieces that break it.
fn reference_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a"),
        Just("z9"),
        Just("B"),
        Just("."),
        Just("_"),
        Just("__"),
        Just("-"),
        Just("/"),
        Just(":"),
        Just("@"),
        Just("localhost"),
        Just("docker.io"),
        Just("index.docker.io"),
        Just("library"),
        Just("example.com"),
        Just("5000"),
        Just("sha256:"),
        Just(HEX64),
        Just("latest"),
        Just("É"),
        Just("\u{212a}"),
        Just("\u{130}"),
        Just(" "),
        Just("%"),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn never_panics_on_any_string(s in any::<String>()) {
        let _ = parse_normalized_named(&s);
        let _ = parse_any_reference(&s);
        let _ = parse_docker_ref(&s);
        let _ = id_prefix_fallback(&s);
        let _ = daemon_pull_target(&s, &s);
        let _ = tag_target(&s, &s);
        let _ = import_target(&s, &s);
        let _ = build_tags([s.as_str()]);
        let _ = Digest::parse(&s);
    }

    /// The normalised string is a fixed point, and so is the familiar string unless
    /// it is a bare 64-hex string, which reads as an image ID instead, or a Docker Hub
    /// name whose first component reads as a registry (`docker.io/localhost/x` is shown
    /// as `localhost/x`, as Go's `FamiliarString` shows it: which is why the gateway
    /// only ever shows familiar names, and sends and compares normalised ones).
    #[test]
    fn normalised_and_familiar_forms_read_back(s in reference_like()) {
        if let Ok(n) = parse_normalized_named(&s) {
            prop_assert_eq!(parse_normalized_named(&n.to_string()), Ok(n.clone()));
            let familiar = n.familiar_string();
            let first = familiar.split('/').next().unwrap_or_default();
            let first_reads_as_registry = familiar.contains('/')
                && (first.contains(['.', ':']) || first == "localhost");
            if is_full_id(&familiar) {
                prop_assert!(parse_normalized_named(&familiar).is_err());
            } else if n.domain() == "docker.io" && first_reads_as_registry {
                let again = parse_normalized_named(&familiar);
                prop_assert!(again.as_ref().is_ok_and(|m| m.domain() == first), "{:?}", again);
            } else {
                prop_assert_eq!(parse_normalized_named(&familiar), Ok(n.clone()));
            }
            if !n.domain().is_empty() {
                let (from, tag) = pull_query(&n).unwrap();
                prop_assert_eq!(
                    daemon_pull_target(&from, &tag),
                    Ok(Some(PullTarget::One(n.docker_ref())))
                );
            }
        }
    }
}
