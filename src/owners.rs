//! Who owns what: every reference resolved by the daemon, the way the daemon resolves
//! it, and its owner label read from what the daemon answered. Used by `--confine`
//! ([`crate::policy`]) and by builds ([`crate::build`]: base images, tags).
//!
//! A reference is a full ID, a name or an ID prefix, and which one wins is the daemon's
//! business: containers try the full ID, then the name, then a prefix; networks the
//! same with unique names and prefixes; images a name before a prefix; volumes and exec
//! instances exact only. So the gateway never works out what a reference means; it
//! asks (`GET /containers/{ref}/json`, ...) and gets the full ID back, checks the owner
//! of that, and forwards the full ID. Whatever is renamed, re-tagged or created between
//! the check and the request, the request acts on what was checked.

use std::collections::BTreeMap;

use http::StatusCode;

use crate::daemon::{Client, escape};
use crate::http::error::ApiError;
use crate::reference::{self, Named};

/// The kinds of object the API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Container,
    /// An exec instance, owned through its container.
    Exec,
    Image,
    Volume,
    Network,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Exec => "exec instance",
            Kind::Image => "image",
            Kind::Volume => "volume",
            Kind::Network => "network",
        }
    }
}

/// Whose an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// It carries this owner's label.
    Mine,
    /// It carries no owner label (pulled images, the daemon's own networks, anything
    /// made outside the gateway).
    Nobody,
    /// It carries another owner's label.
    Other,
}

/// An object the daemon resolved a reference to.
#[derive(Debug, Clone)]
pub struct Found {
    /// The full ID (volumes: the name, their only identity).
    pub id: String,
    pub ownership: Ownership,
    /// What the daemon answered, for the callers that need more.
    pub info: serde_json::Value,
}

/// The owner label, as [`owner_of`] reads it.
#[derive(Debug, Clone)]
pub struct Label<'a> {
    pub key: &'a str,
    pub owner: &'a str,
}

/// Whose an object with these labels is.
pub fn owner_of(labels: Option<&serde_json::Value>, label: &Label<'_>) -> Ownership {
    match labels.and_then(|l| l.get(label.key)) {
        None | Some(serde_json::Value::Null) => Ownership::Nobody,
        Some(serde_json::Value::String(v)) if v == label.owner => Ownership::Mine,
        Some(_) => Ownership::Other,
    }
}

/// The labels of an inspect answer, wherever the kind keeps them.
pub fn labels_of(kind: Kind, info: &serde_json::Value) -> Option<&serde_json::Value> {
    match kind {
        Kind::Container | Kind::Image => info.get("Config").and_then(|c| c.get("Labels")),
        Kind::Volume | Kind::Network => info.get("Labels"),
        Kind::Exec => None,
    }
}

/// The labels as a map, for callers that read several.
pub fn label_map(labels: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    labels
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Resolves `reference` as the daemon would for an object of `kind`; `None` when it
/// names nothing.
pub async fn find(
    client: &mut Client,
    kind: Kind,
    reference: &str,
    label: &Label<'_>,
) -> Result<Option<Found>, ApiError> {
    if reference.is_empty() {
        return Ok(None);
    }
    let path = match kind {
        Kind::Container => format!("/containers/{}/json", escape(reference)),
        Kind::Exec => format!("/exec/{}/json", escape(reference)),
        Kind::Image => format!("/images/{}/json", escape(reference)),
        Kind::Volume => format!("/volumes/{}", escape(reference)),
        Kind::Network => format!("/networks/{}", escape(reference)),
    };
    let Some(info) = client
        .get_json(&path)
        .await
        .map_err(|e| ambiguous(kind, reference, e))?
    else {
        return Ok(None);
    };
    let id_field = match kind {
        Kind::Volume => "Name",
        Kind::Exec => "ID",
        _ => "Id",
    };
    let id = info
        .get(id_field)
        .and_then(|v| v.as_str())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the Docker daemon's answer for {} {reference:?} has no {id_field}",
                    kind.noun()
                ),
            )
        })?
        .to_string();
    let ownership = if kind == Kind::Exec {
        // An exec instance is its container's.
        let container = info
            .get("ContainerID")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        match Box::pin(find(client, Kind::Container, &container, label)).await? {
            Some(found) => found.ownership,
            None => Ownership::Nobody,
        }
    } else {
        owner_of(labels_of(kind, &info), label)
    };
    Ok(Some(Found {
        id,
        ownership,
        info,
    }))
}

/// A reference the daemon could not resolve to one object (an ambiguous prefix or
/// name) is the client's problem, and said as such; other failures pass through.
fn ambiguous(kind: Kind, reference: &str, err: ApiError) -> ApiError {
    if err.status.is_server_error() && err.status != StatusCode::BAD_GATEWAY
        || err.status == StatusCode::BAD_REQUEST
    {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{} {reference:?} does not name exactly one {} ({}); use its full ID",
                kind.noun(),
                kind.noun(),
                err.message.trim_start_matches("buildgate: ")
            ),
        )
    } else {
        err
    }
}

/// The refusal for an object that is not this owner's. It says whose it is only as
/// "nobody's" or "another owner's", never which owner.
pub fn not_yours(kind: Kind, reference: &str, ownership: Ownership) -> ApiError {
    let whose = match ownership {
        Ownership::Mine => "this job",
        Ownership::Nobody => "no owner",
        Ownership::Other => "another owner",
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{} {reference:?} belongs to {whose}; through this gateway (--confine) a job may only use {}s it created",
            kind.noun(),
            kind.noun()
        ),
    )
}

/// The refusal for a reference that names nothing.
pub fn no_such(kind: Kind, reference: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("No such {}: {reference}", kind.noun()),
    )
}

/// Refuses unless `name` names no image now, or one of this owner's (or, with
/// `nobody_too`, one that belongs to nobody).
///
/// A tag is a pointer that a tag, commit, import, pull or build can move, and a job that
/// moved `alpine:latest` or another job's `app:1` to an image of its own would swap
/// everyone's base under their feet. So no name may move away from an image its mover
/// does not own. Only a name that is the image's own tag counts: the daemon resolves a
/// name before an ID prefix, so a new name that merely looks like a prefix of some ID
/// found that image, and takes no name away from it.
pub async fn check_name_target(
    client: &mut Client,
    label: &Label<'_>,
    name: &Named,
    nobody_too: bool,
) -> Result<(), ApiError> {
    let shown = name.familiar_string();
    if shadows_an_id(name) {
        return Err(ApiError::bad_request(format!(
            "image name {shown} looks like an ID; through this gateway (--confine) repository \
             names of 12 or more hex digits are refused, so that no name can stand in for \
             another image's short ID"
        )));
    }
    let Some(found) = find(client, Kind::Image, &name.to_string(), label).await? else {
        return Ok(());
    };
    let tags = found
        .info
        .get("RepoTags")
        .and_then(|t| t.as_array())
        .map(|t| t.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
        .unwrap_or_default();
    let is_its_name = tags.iter().any(|t| {
        reference::parse_normalized_named(t).is_ok_and(|n| n.to_string() == name.to_string())
    });
    if !is_its_name {
        return Ok(());
    }
    match found.ownership {
        Ownership::Mine => Ok(()),
        Ownership::Nobody if nobody_too => Ok(()),
        whose => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the name {shown} names an image that belongs to {}; through this gateway a \
                 job may not move a name off an image it does not own: choose another name",
                if whose == Ownership::Nobody {
                    "no owner (a shared base image)"
                } else {
                    "another owner"
                }
            ),
        )),
    }
}

/// Whether writing `name` would let it stand in for an image's short ID. The daemon
/// reads a reference that is not a full ID as a name first (`4f2a9c1b7d3e` is
/// `docker.io/library/4f2a9c1b7d3e:latest`) and only then as an ID prefix, so a tag of
/// that repository takes over the short ID of whichever image has that ID, as a
/// container or network name would ([`crate::policy`] refuses those). The same rule:
/// 12 or more lowercase hex digits. (A repository `sha256`, which would take over
/// `sha256:<prefix>`, the daemon refuses itself.)
pub fn shadows_an_id(name: &Named) -> bool {
    name.domain() == reference::DEFAULT_DOMAIN
        && name.path().strip_prefix("library/").is_some_and(|repo| {
            repo.len() >= 12 && repo.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_that_read_as_ids() {
        let named = |s: &str| reference::parse_normalized_named(s).unwrap();
        for bad in [
            "0123456789ab",
            "0123456789ab:latest",
            "0123456789ab:1",
            "library/0123456789abcdef",
            "docker.io/library/0123456789ab",
        ] {
            assert!(shadows_an_id(&named(bad)), "{bad}");
        }
        for ok in [
            "0123456789a",
            "app",
            "cafe-0123456789ab",
            "user/0123456789ab",
            "example.com/0123456789ab",
            "localhost:5000/0123456789ab",
        ] {
            assert!(!shadows_an_id(&named(ok)), "{ok}");
        }
    }

    #[test]
    fn ownership_from_labels() {
        let label = Label {
            key: "owner",
            owner: "job-1",
        };
        let of = |v: serde_json::Value| owner_of(Some(&v), &label);
        assert_eq!(of(serde_json::json!({"owner": "job-1"})), Ownership::Mine);
        assert_eq!(of(serde_json::json!({"owner": "job-2"})), Ownership::Other);
        assert_eq!(of(serde_json::json!({"owner": ""})), Ownership::Other);
        assert_eq!(of(serde_json::json!({"Owner": "job-1"})), Ownership::Nobody);
        assert_eq!(of(serde_json::json!({})), Ownership::Nobody);
        assert_eq!(of(serde_json::Value::Null), Ownership::Nobody);
        assert_eq!(owner_of(None, &label), Ownership::Nobody);
    }

    #[test]
    fn labels_live_where_the_kind_keeps_them() {
        let container = serde_json::json!({"Config": {"Labels": {"a": "b"}}});
        let volume = serde_json::json!({"Labels": {"a": "b"}});
        assert_eq!(
            label_map(labels_of(Kind::Container, &container))
                .get("a")
                .map(String::as_str),
            Some("b")
        );
        assert_eq!(
            label_map(labels_of(Kind::Volume, &volume))
                .get("a")
                .map(String::as_str),
            Some("b")
        );
        assert!(labels_of(Kind::Network, &container).is_none());
    }

    #[test]
    fn refusals_do_not_name_the_owner() {
        let e = not_yours(Kind::Container, "web", Ownership::Other);
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("another owner"), "{e}");
        let e = not_yours(Kind::Image, "alpine", Ownership::Nobody);
        assert!(e.message.contains("no owner"), "{e}");
        assert_eq!(no_such(Kind::Volume, "v").status, StatusCode::NOT_FOUND);
    }
}
