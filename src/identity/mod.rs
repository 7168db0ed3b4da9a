//! `--owner-from-peer LABEL_KEY`: one gateway, many owners. Each unix-socket connection
//! gets its owner from the process that opened it, once, when it is accepted; every
//! request on it (builds, `--confine`, limits, the access log) then acts for that owner.
//!
//! # How a connection's owner is found
//!
//! 1. **The peer** ([`peer`]): `SO_PEERCRED` names the process that connected, and
//!    `SO_PEERPIDFD` pins it, so that its `/proc/<pid>/cgroup` is read from that
//!    process and never from a later one that got its pid.
//! 2. **Its container** ([`cgroup`]): the cgroup path's last component names the
//!    container (`/docker/<id>`, `docker-<id>.scope`, under any parent); anything
//!    ambiguous is refused.
//! 3. **Its owner**: the daemon is asked for that container (`GET
//!    /containers/<id>/json`, the answer's `Id` must be the one asked for) and its
//!    labels decide, in this order:
//!    1. the gateway's owner label (`--owner-label`) **set on the container itself**;
//!    2. `LABEL_KEY`;
//!    3. the owner label the container only inherited from its image.
//!
//!    The value must be a valid owner ([`validate_owner_value`]).
//! 4. A process in no container gets `--owner` if it was given, and is refused
//!    otherwise. TCP connections have no peer to ask: they get `--owner` (the command
//!    line refuses a TCP listener with `--owner-from-peer` and no `--owner`).
//!
//! A connection whose owner cannot be found is not closed: each of its requests is
//! answered `403` with the reason, in the daemon's error format, so the job's docker
//! CLI prints why.
//!
//! # Why the owner label comes first
//!
//! The job containers a runner starts straight on the daemon carry `LABEL_KEY` (GitLab:
//! `com.gitlab.gitlab-runner.job.id`), and usually no owner label. Containers a job
//! starts *through the gateway* under `--confine` always carry the owner label with the
//! job's owner, whatever the job asked for, but may carry any `LABEL_KEY` value the job
//! chose, including another job's ID. So on a container that has both, the owner label
//! is the one the gateway (or the runner) wrote, and the other is the job's word; a
//! job's child container (with the socket mounted) thereby keeps the job's owner.
//!
//! Except when the owner label is not the container's own: a container's labels include
//! its image's, and an image built through buildgate carries its builder's owner. A job
//! whose runner runs it in an image another job built would otherwise act as that job.
//! So when the image carries the same owner label value, the value tells who built the
//! image, not who started the container, and `LABEL_KEY` decides if present. (The image
//! is only asked for when the container has an owner label.)
//!
//! What is left: a container created through the gateway from an image the job owns,
//! with a `LABEL_KEY` of the job's choosing, looks exactly like a runner's job container
//! in another job's image. Container creation under `--confine` therefore has to treat
//! `LABEL_KEY` like the owner label (force it to the owner, or refuse a client's value)
//! when `--owner-from-peer` is on.
//!
//! # Trust
//!
//! A process is the owner of the container it runs in, and the owner of a container is
//! whoever created it says it is. Whoever can start containers with labels of their
//! choosing straight on the daemon (the runner, not the job) can therefore pick any
//! owner; so can root on the host, which can reach the daemon anyway. Without
//! `--confine` a job can create containers with any labels through the gateway too, so
//! per-job owners are only as strong as `--confine` makes them.
//!
//! For this to work the gateway must see the peers as the host does: run it in the
//! host's pid namespace (`docker run --pid host`; otherwise peers' pids read as 0) and
//! cgroup namespace (`--cgroupns host`, the default on cgroup v1), with read access to
//! `/proc/<pid>/cgroup` (systemd's `ProtectProc=invisible` hides it).
//!
//! # Cost
//!
//! One `getsockopt` pair, two small `/proc` reads, and one or two daemon requests per
//! connection, on a daemon connection that the connection's first request then reuses;
//! nothing per request.

pub mod cgroup;
pub mod peer;

use std::sync::Arc;

use http::StatusCode;

use self::cgroup::{Placement, short};
use self::peer::Peer;
use crate::config::{Config, Owner, validate_owner_value};
use crate::daemon::{Client, escape};
use crate::http::error::ApiError;
use crate::http::upstream::{Sender, Upstream};

/// Who a connection acts for, decided when it is accepted and fixed for its life.
#[derive(Debug, Clone)]
pub enum Identity {
    Owner(Arc<Owner>),
    /// Every request on the connection is answered with this.
    Refused(Arc<ApiError>),
}

impl Identity {
    /// The owner of connections that have no peer to ask, or whose peer is in no
    /// container: `--owner`, if given.
    pub fn fixed(config: &Config) -> Identity {
        match &config.owner {
            Some(value) => Identity::Owner(Arc::new(Owner {
                key: config.owner_label.clone(),
                value: value.clone(),
            })),
            None => Identity::Refused(Arc::new(refusal(
                "this connection has no peer process to read an owner from, and the gateway has no --owner",
            ))),
        }
    }
}

/// Which label named a connection's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--owner` (the peer is in no container, or the connection is TCP).
    Fixed,
    /// The owner label, set on the container itself.
    OwnerLabel,
    /// `--owner-from-peer`'s label.
    PeerLabel,
    /// The owner label the container shares with its image.
    ImageOwnerLabel,
}

/// A resolved connection: its identity, and the daemon connection the look-up used,
/// for the connection's first request to reuse.
pub struct Resolved {
    pub identity: Identity,
    pub sender: Option<Sender>,
}

/// Finds the owner of a unix-socket connection whose peer is `peer` (read at accept,
/// [`Peer::of`]). Logs the outcome once.
pub async fn resolve(
    peer: Result<Peer, peer::PeerError>,
    config: &Config,
    upstream: &Upstream,
) -> Resolved {
    let mut client = Client::new(upstream);
    let pid = peer.as_ref().map_or(0, |p| p.pid);
    let identity = match find(peer, config, &mut client).await {
        Ok((owner, source, container)) => {
            tracing::debug!(
                pid,
                container = container.as_deref().map(short).unwrap_or("-"),
                owner = %owner.value,
                source = ?source,
                "connection owner"
            );
            Identity::Owner(owner)
        }
        Err(err) => {
            tracing::warn!(pid, reason = %err, "connection refused: no owner");
            Identity::Refused(Arc::new(err))
        }
    };
    Resolved {
        identity,
        sender: client.into_sender(),
    }
}

type Found = (Arc<Owner>, Source, Option<String>);

async fn find(
    peer: Result<Peer, peer::PeerError>,
    config: &Config,
    client: &mut Client,
) -> Result<Found, ApiError> {
    let peer_key = config
        .owner_from_peer
        .as_deref()
        .ok_or_else(|| refusal("--owner-from-peer is not set"))?;
    let peer = peer.map_err(refusal)?;
    let text = peer.cgroup().map_err(refusal)?;
    let placement = cgroup::placement(&text).map_err(|e| {
        refusal(format_args!(
            "the connecting process (pid {}) cannot be placed in a container: {e}",
            peer.pid
        ))
    })?;
    let id = match placement {
        Placement::Host => {
            return match Identity::fixed(config) {
                Identity::Owner(owner) => Ok((owner, Source::Fixed, None)),
                Identity::Refused(_) => Err(refusal(format_args!(
                    "the connecting process (pid {}, uid {}) runs in no container; this gateway \
                     takes each connection's owner from the {peer_key:?} label of the container it \
                     comes from, and has no --owner for processes outside containers",
                    peer.pid, peer.uid
                ))),
            };
        }
        Placement::Container(id) => id,
    };
    let container = client
        .get_json(&format!("/containers/{}/json", escape(&id)))
        .await
        .map_err(|e| lookup_failed(&id, &e.message))?
        .ok_or_else(|| {
            lookup_failed(
                &id,
                "the Docker daemon behind this gateway has no such container",
            )
        })?;
    // An ID the daemon did not find resolves as a name next: only the container
    // asked for counts.
    if container.get("Id").and_then(|v| v.as_str()) != Some(id.as_str()) {
        return Err(lookup_failed(
            &id,
            "the Docker daemon answered for another container",
        ));
    }
    let labels = container.get("Config").and_then(|c| c.get("Labels"));
    let owner_key = config.owner_label.as_str();
    let own = label(labels, owner_key);
    let from_image = match own {
        None => false,
        Some(value) => {
            let image = container
                .get("Image")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let info = client
                .get_json(&format!("/images/{}/json", escape(image)))
                .await
                .map_err(|e| lookup_failed(&id, &e.message))?
                .ok_or_else(|| {
                    lookup_failed(
                        &id,
                        "its image is gone, so whether its owner label is its own cannot be told",
                    )
                })?;
            let image_labels = info.get("Config").and_then(|c| c.get("Labels"));
            label(image_labels, owner_key) == Some(value)
        }
    };
    let (value, source) = choose(own, from_image, label(labels, peer_key)).ok_or_else(|| {
        refusal(format_args!(
            "the connecting process runs in container {}, which carries neither a {peer_key:?} \
             nor an {owner_key:?} label, so it has no owner",
            short(&id)
        ))
    })?;
    validate_owner_value(value).map_err(|e| {
        refusal(format_args!(
            "the connecting process runs in container {}, whose {} label is not a valid owner: {e}",
            short(&id),
            match source {
                Source::PeerLabel => peer_key,
                _ => owner_key,
            }
        ))
    })?;
    let owner = Arc::new(Owner {
        key: owner_key.to_string(),
        value: value.to_string(),
    });
    Ok((owner, source, Some(id)))
}

/// The precedence the module doc explains: the owner label set on the container, then
/// the peer label, then an owner label the container shares with its image.
pub fn choose<'a>(
    owner_label: Option<&'a str>,
    shared_with_image: bool,
    peer_label: Option<&'a str>,
) -> Option<(&'a str, Source)> {
    match (owner_label, peer_label) {
        (Some(owner), _) if !shared_with_image => Some((owner, Source::OwnerLabel)),
        (_, Some(peer)) => Some((peer, Source::PeerLabel)),
        (Some(owner), None) => Some((owner, Source::ImageOwnerLabel)),
        (None, None) => None,
    }
}

/// A label's value; a label that is not a string counts as absent (dockerd's labels
/// are always strings).
fn label<'a>(labels: Option<&'a serde_json::Value>, key: &str) -> Option<&'a str> {
    labels?.get(key)?.as_str()
}

fn refusal(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format_args!("this connection has no owner: {why}"),
    )
}

fn lookup_failed(id: &str, why: &str) -> ApiError {
    refusal(format_args!(
        "the connecting process runs in container {}, which the gateway cannot look up: {}",
        short(id),
        why.trim_start_matches("buildgate: ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        use Source::*;
        type Case<'a> = (
            Option<&'a str>,
            bool,
            Option<&'a str>,
            Option<(&'a str, Source)>,
            &'a str,
        );
        let cases: &[Case] = &[
            (
                None,
                false,
                Some("42"),
                Some(("42", PeerLabel)),
                "a runner's job container",
            ),
            (
                Some("42"),
                false,
                None,
                Some(("42", OwnerLabel)),
                "a job's child container",
            ),
            (
                Some("42"),
                false,
                Some("43"),
                Some(("42", OwnerLabel)),
                "a child whose peer label the job chose",
            ),
            (
                Some("41"),
                true,
                Some("42"),
                Some(("42", PeerLabel)),
                "a job container in an image job 41 built",
            ),
            (
                Some("41"),
                true,
                None,
                Some(("41", ImageOwnerLabel)),
                "a child in its job's own image",
            ),
            (None, false, None, None, "a container with neither"),
        ];
        for (own, shared, peer, want, what) in cases {
            assert_eq!(choose(*own, *shared, *peer), *want, "{what}");
        }
    }

    #[test]
    fn labels_are_strings_or_absent() {
        let labels = serde_json::json!({"owner": "a", "n": 1, "z": null});
        assert_eq!(label(Some(&labels), "owner"), Some("a"));
        assert_eq!(label(Some(&labels), "n"), None);
        assert_eq!(label(Some(&labels), "z"), None);
        assert_eq!(label(None, "owner"), None);
    }

    #[test]
    fn refusals_are_docker_style_403s() {
        let e = refusal("why");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.message, "buildgate: this connection has no owner: why");
        let e = lookup_failed(&"a".repeat(64), "buildgate: the Docker daemon said: boom");
        assert!(e.message.contains("container aaaaaaaaaaaa,"), "{e}");
        assert!(e.message.ends_with("the Docker daemon said: boom"), "{e}");
    }
}
