//! The Docker API as `--confine` sees it: every route dockerd registers, in the order
//! gorilla/mux tries them, and what the gateway does with each.
//!
//! The table follows moby v20.10.24's routers (`api/server/router/*`, registered in
//! `cmd/dockerd/daemon.go initRouter` order: container, image, system, volume, build,
//! session, swarm, plugin, distribution, grpc, network; checkpoint and debug refused
//! whole) plus the routes current daemons added. Matching is mux's: on the *decoded*
//! path, after an optional `/v<version>` prefix, `{name:.*}` matching any text including
//! `/`, `{name}` one segment, methods exact. A path no route matches is refused (default
//! deny) with a message that names it.
//!
//! What goes upstream is never the client's path: the gateway writes its own from the
//! decision ([`super::forward`]), with the object's full ID in place of the client's
//! reference. So if the gateway and the daemon ever disagreed about which route a path
//! takes, the daemon would still only be asked for what the gateway checked.

pub use crate::owners::Kind;

/// What the gateway does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Needs no check: passed through as it came (`/_ping`, `/version`, `/info`, ...).
    Pass,
    /// Names one object, which must be this owner's. `body` says whether the route
    /// takes a body the gateway may pass on as it is (archive uploads, stdin of an
    /// attach), and `upgrade` whether it hijacks the connection.
    Owned { kind: Kind, body: Body },
    /// Names one object, which may also be nobody's (images pulled or loaded): the
    /// read-only image routes. Another owner's is refused.
    Readable { kind: Kind },
    /// Lists, filtered to what this owner may see.
    List { kind: Kind },
    /// Prunes, limited to this owner's objects.
    Prune { kind: Kind },
    /// A route with a handler of its own in [`super`].
    Special(Special),
    /// Refused, with the reason (said to the user).
    Refuse(&'static str),
}

/// Whether an owned-object route carries a body the gateway passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: anything the client sends is refused (a start with a `HostConfig`,
    /// a form that would override the query).
    None,
    /// A stream passed on as it is: a tar archive, or nothing.
    Stream,
    /// A JSON body the gateway decodes, checks and re-serialises.
    Json,
}

/// Routes with a handler of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    ContainerCreate,
    ContainerUpdate,
    ExecCreate,
    ExecStart,
    Commit,
    ImageCreate,
    ImageTag,
    ImagePush,
    ImageDelete,
    ImagesGet,
    VolumeCreate,
    NetworkCreate,
    NetworkInspect,
    NetworkConnect,
    NetworkDisconnect,
    ContainerRename,
    Events,
    SystemDf,
    Build,
}

/// A matched route: the action, and the object reference it names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub action: Action,
    /// The `{name}`/`{id}` of the route, decoded, as the daemon reads it.
    pub name: Option<String>,
    /// The route's pattern after the version prefix, e.g. `/containers/{name:.*}/json`,
    /// with the first `{...}` to be replaced by the checked full ID.
    pub pattern: &'static str,
}

use Action::*;
use Kind::*;

const SWARM: &str = "swarm mode (services, nodes, tasks, secrets, configs) is not available through this gateway: it runs containers outside the job's ownership";
const PLUGINS: &str =
    "plugins are not available through this gateway: a plugin runs with the daemon's privileges";
const CHECKPOINTS: &str = "checkpoints are not available through this gateway";
const DEBUG: &str = "the daemon's debug endpoints are not available through this gateway";
const BUILD_PRUNE: &str =
    "the build cache is shared by every job and cannot be pruned per owner; ask the operator";
const LOAD: &str = "loading images is not available through this gateway: an image archive can move any tag, including other jobs' and shared base images; pull from or push to a registry instead";
const OLD_COPY: &str = "this endpoint exists only before API 1.24; use the archive endpoints";

/// The route table: (method, pattern, action), in mux order within each router.
pub const ROUTES: &[(&str, &str, Action)] = &[
    // ---- container router
    (
        "HEAD",
        "/containers/{name:.*}/archive",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    ("GET", "/containers/json", List { kind: Container }),
    (
        "GET",
        "/containers/{name:.*}/export",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/changes",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/json",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/top",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/logs",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/stats",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/attach/ws",
        Owned {
            kind: Container,
            body: Body::Stream,
        },
    ),
    (
        "GET",
        "/exec/{id:.*}/json",
        Owned {
            kind: Exec,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/archive",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/create",
        Special(Special::ContainerCreate),
    ),
    (
        "POST",
        "/containers/{name:.*}/kill",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/pause",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/unpause",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/restart",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/start",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/stop",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/wait",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/resize",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/attach",
        Owned {
            kind: Container,
            body: Body::Stream,
        },
    ),
    ("POST", "/containers/{name:.*}/copy", Refuse(OLD_COPY)),
    (
        "POST",
        "/containers/{name:.*}/exec",
        Special(Special::ExecCreate),
    ),
    ("POST", "/exec/{name:.*}/start", Special(Special::ExecStart)),
    (
        "POST",
        "/exec/{name:.*}/resize",
        Owned {
            kind: Exec,
            body: Body::None,
        },
    ),
    (
        "POST",
        "/containers/{name:.*}/rename",
        Special(Special::ContainerRename),
    ),
    (
        "POST",
        "/containers/{name:.*}/update",
        Special(Special::ContainerUpdate),
    ),
    ("POST", "/containers/prune", Prune { kind: Container }),
    ("POST", "/commit", Special(Special::Commit)),
    (
        "PUT",
        "/containers/{name:.*}/archive",
        Owned {
            kind: Container,
            body: Body::Stream,
        },
    ),
    (
        "DELETE",
        "/containers/{name}/checkpoints/{checkpoint}",
        Refuse(CHECKPOINTS),
    ),
    (
        "DELETE",
        "/containers/{name:.*}",
        Owned {
            kind: Container,
            body: Body::None,
        },
    ),
    (
        "GET",
        "/containers/{name:.*}/checkpoints",
        Refuse(CHECKPOINTS),
    ),
    (
        "POST",
        "/containers/{name:.*}/checkpoints",
        Refuse(CHECKPOINTS),
    ),
    // ---- image router
    ("GET", "/images/json", List { kind: Image }),
    ("GET", "/images/search", Pass),
    ("GET", "/images/get", Special(Special::ImagesGet)),
    ("GET", "/images/{name:.*}/get", Special(Special::ImagesGet)),
    ("GET", "/images/{name:.*}/history", Readable { kind: Image }),
    ("GET", "/images/{name:.*}/json", Readable { kind: Image }),
    ("POST", "/images/load", Refuse(LOAD)),
    ("POST", "/images/create", Special(Special::ImageCreate)),
    (
        "POST",
        "/images/{name:.*}/push",
        Special(Special::ImagePush),
    ),
    ("POST", "/images/{name:.*}/tag", Special(Special::ImageTag)),
    ("POST", "/images/prune", Prune { kind: Image }),
    ("DELETE", "/images/{name:.*}", Special(Special::ImageDelete)),
    // ---- system router
    ("OPTIONS", "/{anyroute:.*}", Pass),
    ("GET", "/_ping", Pass),
    ("HEAD", "/_ping", Pass),
    ("GET", "/events", Special(Special::Events)),
    ("GET", "/info", Pass),
    ("GET", "/version", Pass),
    ("GET", "/system/df", Special(Special::SystemDf)),
    ("POST", "/auth", Pass),
    // ---- volume router
    ("GET", "/volumes", List { kind: Volume }),
    (
        "GET",
        "/volumes/{name:.*}",
        Owned {
            kind: Volume,
            body: Body::None,
        },
    ),
    ("POST", "/volumes/create", Special(Special::VolumeCreate)),
    ("POST", "/volumes/prune", Prune { kind: Volume }),
    ("PUT", "/volumes/{name:.*}", Refuse(SWARM)),
    (
        "DELETE",
        "/volumes/{name:.*}",
        Owned {
            kind: Volume,
            body: Body::None,
        },
    ),
    // ---- build router
    ("POST", "/build", Special(Special::Build)),
    ("POST", "/build/prune", Refuse(BUILD_PRUNE)),
    ("POST", "/build/cancel", Refuse(BUILD_PRUNE)),
    // ---- swarm router (refused whole)
    ("POST", "/swarm/init", Refuse(SWARM)),
    ("POST", "/swarm/join", Refuse(SWARM)),
    ("POST", "/swarm/leave", Refuse(SWARM)),
    ("GET", "/swarm", Refuse(SWARM)),
    ("GET", "/swarm/unlockkey", Refuse(SWARM)),
    ("POST", "/swarm/update", Refuse(SWARM)),
    ("POST", "/swarm/unlock", Refuse(SWARM)),
    ("GET", "/services", Refuse(SWARM)),
    ("GET", "/services/{id}", Refuse(SWARM)),
    ("POST", "/services/create", Refuse(SWARM)),
    ("POST", "/services/{id}/update", Refuse(SWARM)),
    ("DELETE", "/services/{id}", Refuse(SWARM)),
    ("GET", "/services/{id}/logs", Refuse(SWARM)),
    ("GET", "/nodes", Refuse(SWARM)),
    ("GET", "/nodes/{id}", Refuse(SWARM)),
    ("DELETE", "/nodes/{id}", Refuse(SWARM)),
    ("POST", "/nodes/{id}/update", Refuse(SWARM)),
    ("GET", "/tasks", Refuse(SWARM)),
    ("GET", "/tasks/{id}", Refuse(SWARM)),
    ("GET", "/tasks/{id}/logs", Refuse(SWARM)),
    ("GET", "/secrets", Refuse(SWARM)),
    ("POST", "/secrets/create", Refuse(SWARM)),
    ("DELETE", "/secrets/{id}", Refuse(SWARM)),
    ("GET", "/secrets/{id}", Refuse(SWARM)),
    ("POST", "/secrets/{id}/update", Refuse(SWARM)),
    ("GET", "/configs", Refuse(SWARM)),
    ("POST", "/configs/create", Refuse(SWARM)),
    ("DELETE", "/configs/{id}", Refuse(SWARM)),
    ("GET", "/configs/{id}", Refuse(SWARM)),
    ("POST", "/configs/{id}/update", Refuse(SWARM)),
    // ---- plugin router (refused whole)
    ("GET", "/plugins", Refuse(PLUGINS)),
    ("GET", "/plugins/{name:.*}/json", Refuse(PLUGINS)),
    ("GET", "/plugins/privileges", Refuse(PLUGINS)),
    ("DELETE", "/plugins/{name:.*}", Refuse(PLUGINS)),
    ("POST", "/plugins/{name:.*}/enable", Refuse(PLUGINS)),
    ("POST", "/plugins/{name:.*}/disable", Refuse(PLUGINS)),
    ("POST", "/plugins/pull", Refuse(PLUGINS)),
    ("POST", "/plugins/{name:.*}/push", Refuse(PLUGINS)),
    ("POST", "/plugins/{name:.*}/upgrade", Refuse(PLUGINS)),
    ("POST", "/plugins/{name:.*}/set", Refuse(PLUGINS)),
    ("POST", "/plugins/create", Refuse(PLUGINS)),
    // ---- distribution router: a registry question, answered from the registry.
    ("GET", "/distribution/{name:.*}/json", Pass),
    // ---- network router
    ("GET", "/networks", List { kind: Network }),
    ("GET", "/networks/", List { kind: Network }),
    ("GET", "/networks/{id:.+}", Special(Special::NetworkInspect)),
    ("POST", "/networks/create", Special(Special::NetworkCreate)),
    (
        "POST",
        "/networks/{id:.*}/connect",
        Special(Special::NetworkConnect),
    ),
    (
        "POST",
        "/networks/{id:.*}/disconnect",
        Special(Special::NetworkDisconnect),
    ),
    ("POST", "/networks/prune", Prune { kind: Network }),
    (
        "DELETE",
        "/networks/{id:.*}",
        Owned {
            kind: Network,
            body: Body::None,
        },
    ),
];

/// Routes current daemons have that 20.10 does not; refused until reviewed.
const NEWER: &[(&str, &str)] = &[("GET", "/images/{name:.*}/attestations")];

/// Finds the route for `method` and the decoded `path` (version prefix already cut).
/// `None`: no route; the daemon would answer 404, the gateway refuses.
pub fn match_route(method: &str, path: &str) -> Option<Matched> {
    if path.starts_with("/debug/") || path == "/debug" {
        return Some(Matched {
            action: Refuse(DEBUG),
            name: None,
            pattern: "/debug",
        });
    }
    for &(m, pattern, action) in ROUTES {
        if m != method {
            continue;
        }
        if let Some(name) = match_pattern(pattern, path) {
            return Some(Matched {
                action,
                name,
                pattern,
            });
        }
    }
    for &(m, pattern) in NEWER {
        if m == method && match_pattern(pattern, path).is_some() {
            return Some(Matched {
                action: Refuse(
                    "this endpoint is newer than this gateway and has not been reviewed for --confine",
                ),
                name: None,
                pattern,
            });
        }
    }
    None
}

/// Matches `path` against a mux pattern; returns the first variable's value (if the
/// pattern has one) on a match. `{x:.*}` matches any text (including `/` and nothing),
/// `{x:.+}` any non-empty text, `{x}` one non-empty segment. Where a greedy variable is
/// followed by a literal, the variable takes as much as leaves the literal at the end,
/// as the regular expression mux builds would.
fn match_pattern(pattern: &str, path: &str) -> Option<Option<String>> {
    let mut vars = Vec::new();
    if match_from(pattern, path, &mut vars) {
        Some(vars.into_iter().next())
    } else {
        None
    }
}

fn match_from(pattern: &str, path: &str, vars: &mut Vec<String>) -> bool {
    let Some(open) = pattern.find('{') else {
        return pattern == path;
    };
    let Some(close) = pattern[open..].find('}').map(|c| open + c) else {
        return false;
    };
    let (literal, var, rest) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let Some(after) = path.strip_prefix(literal) else {
        return false;
    };
    let kind = var.split_once(':').map_or("", |(_, re)| re);
    // Longest first, like a greedy regular expression.
    let mut ends: Vec<usize> = (0..=after.len())
        .rev()
        .filter(|&i| after.is_char_boundary(i))
        .collect();
    if kind.is_empty() {
        let segment = after.find('/').unwrap_or(after.len());
        ends = vec![segment];
    }
    for end in ends {
        let value = &after[..end];
        let ok = match kind {
            ".*" => true,
            ".+" => !value.is_empty(),
            _ => !value.is_empty() && !value.contains('/'),
        };
        if !ok {
            continue;
        }
        let mark = vars.len();
        vars.push(value.to_string());
        if match_from(rest, &after[end..], vars) {
            return true;
        }
        vars.truncate(mark);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(method: &str, path: &str) -> Option<(Action, Option<String>)> {
        match_route(method, path).map(|m| (m.action, m.name))
    }

    #[test]
    fn patterns_match_like_mux() {
        let cases: &[(&str, &str, Option<Option<&str>>)] = &[
            (
                "/containers/{name:.*}/json",
                "/containers/abc/json",
                Some(Some("abc")),
            ),
            (
                "/containers/{name:.*}/json",
                "/containers/a/b/json",
                Some(Some("a/b")),
            ),
            (
                "/containers/{name:.*}/json",
                "/containers/a/json/json",
                Some(Some("a/json")),
            ),
            (
                "/containers/{name:.*}/json",
                "/containers//json",
                Some(Some("")),
            ),
            ("/containers/{name:.*}/json", "/containers/json", None),
            (
                "/containers/{name:.*}",
                "/containers/x/y",
                Some(Some("x/y")),
            ),
            ("/networks/{id:.+}", "/networks/", None),
            ("/networks/{id:.+}", "/networks/n1", Some(Some("n1"))),
            ("/services/{id}", "/services/a/b", None),
            ("/services/{id}", "/services/a", Some(Some("a"))),
            (
                "/containers/{name}/checkpoints/{checkpoint}",
                "/containers/c/checkpoints/k",
                Some(Some("c")),
            ),
            ("/_ping", "/_ping", Some(None)),
            ("/_ping", "/_pingx", None),
            (
                "/{anyroute:.*}",
                "/anything/at/all",
                Some(Some("anything/at/all")),
            ),
            ("/images/{name:.*}/json", "/images/é/json", Some(Some("é"))),
        ];
        for (pattern, path, want) in cases {
            let got = match_pattern(pattern, path);
            let want = want.map(|n| n.map(str::to_string));
            assert_eq!(got, want, "{pattern} ~ {path}");
        }
    }

    #[test]
    fn routes_resolve_in_mux_order() {
        assert_eq!(
            name_of("GET", "/containers/json"),
            Some((List { kind: Container }, None))
        );
        assert_eq!(
            name_of("GET", "/images/json"),
            Some((List { kind: Image }, None))
        );
        assert_eq!(
            name_of("DELETE", "/containers/c1"),
            Some((
                Owned {
                    kind: Container,
                    body: Body::None
                },
                Some("c1".into())
            ))
        );
        assert_eq!(
            name_of("DELETE", "/containers/c1/checkpoints/k"),
            Some((Refuse(CHECKPOINTS), Some("c1".into())))
        );
        assert_eq!(
            name_of("GET", "/exec/e1/json"),
            Some((
                Owned {
                    kind: Exec,
                    body: Body::None
                },
                Some("e1".into())
            ))
        );
        assert_eq!(
            name_of("GET", "/networks/"),
            Some((List { kind: Network }, None))
        );
        assert_eq!(
            name_of("POST", "/build"),
            Some((Special(Special::Build), None))
        );
        assert!(matches!(
            name_of("GET", "/debug/pprof/profile"),
            Some((Refuse(_), _))
        ));
        assert!(matches!(
            name_of("POST", "/debug/vars"),
            Some((Refuse(_), _))
        ));
        assert!(matches!(
            name_of("GET", "/images/x/attestations"),
            Some((Refuse(_), _))
        ));
        // Methods are exact; unknown routes are no route.
        assert_eq!(name_of("PATCH", "/containers/c1"), None);
        assert_eq!(name_of("GET", "/containers/create"), None);
        assert_eq!(name_of("GET", "/nope"), None);
        assert_eq!(name_of("post", "/build"), None);
    }

    #[test]
    fn every_route_is_reachable() {
        // A route shadowed by an earlier one of the same method would never be used.
        for (i, &(method, pattern, _)) in ROUTES.iter().enumerate() {
            let sample: String = {
                let mut out = String::new();
                let mut rest = pattern;
                while let Some(open) = rest.find('{') {
                    out.push_str(&rest[..open]);
                    out.push_str("x1");
                    rest = &rest[rest[open..].find('}').map_or(rest.len(), |c| open + c + 1)..];
                }
                out.push_str(rest);
                out
            };
            let found = ROUTES
                .iter()
                .position(|&(m, p, _)| m == method && match_pattern(p, &sample).is_some());
            // `/{anyroute:.*}` is OPTIONS only and catches everything: fine.
            assert_eq!(
                found,
                Some(i),
                "{method} {pattern} (sample {sample}) is shadowed"
            );
        }
    }
}
