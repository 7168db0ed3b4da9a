//! `buildgate reap`: removes everything an owner has, when its job is over.
//!
//! Everything a job makes through the gateway carries its owner label, so the label is
//! also how the job's leftovers are found: containers (removed forcibly, with their
//! anonymous volumes), then images, volumes and networks, each found with a `label`
//! filter on the daemon. Images go newest first, so that a build's intermediate images
//! are removed after the images made from them; whatever is still held by something
//! else is tried again after the rest is gone. It is idempotent (nothing left, nothing
//! to do) and fails only if something it found could not be removed.

use std::process::ExitCode;

use http::header::HeaderMap;
use http::{Method, StatusCode};

use super::parse::{DaemonArgs, OneShot};
use crate::config::{validate_owner_key, validate_owner_value};
use crate::daemon::{Answer, Client, escape};
use crate::http::error::ApiError;
use crate::http::upstream::Upstream;

/// `buildgate reap`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ReapArgs {
    /// The owner whose containers, images, volumes and networks are removed.
    #[arg(long, value_name = "VALUE", env = "BUILDGATE_OWNER")]
    pub owner: String,

    /// The label key that carries the owner.
    #[arg(
        long,
        value_name = "KEY",
        env = "BUILDGATE_OWNER_LABEL",
        default_value = "owner"
    )]
    pub owner_label: String,

    #[command(flatten)]
    pub daemon: DaemonArgs,
}

/// What `buildgate reap --help` says.
pub const LONG_ABOUT: &str = "\
Remove everything an owner has: its containers (forced, with their anonymous volumes), \
then its images, volumes and networks, found by the owner label. Prints what it \
removed. Running it again removes nothing more.

Exit status: 0 if everything found was removed (or there was nothing), 1 if something \
could not be removed, 2 for a usage error.";

/// One removal, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub kind: &'static str,
    pub id: String,
}

/// What is left that could not be removed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub kind: &'static str,
    pub id: String,
    pub why: String,
}

/// Runs `buildgate reap`.
pub fn main(args: ReapArgs) -> ExitCode {
    if let Err(err) = validate_owner_value(&args.owner)
        .map_err(|e| format!("--owner: {e}"))
        .and_then(|()| {
            validate_owner_key(&args.owner_label).map_err(|e| format!("--owner-label: {e}"))
        })
    {
        eprintln!("buildgate reap: {err}");
        return ExitCode::from(2);
    }
    let OneShot {
        runtime, upstream, ..
    } = match args.daemon.open("reap") {
        Ok(one_shot) => one_shot,
        Err(status) => return status,
    };
    let label = format!("{}={}", args.owner_label, args.owner);
    match runtime.block_on(reap(&upstream, &label)) {
        Ok((removed, failed)) => {
            for r in &removed {
                println!("removed {} {}", r.kind, r.id);
            }
            for f in &failed {
                eprintln!(
                    "buildgate reap: cannot remove {} {}: {}",
                    f.kind, f.id, f.why
                );
            }
            if removed.is_empty() && failed.is_empty() {
                println!("nothing of {label} to remove");
            }
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!(
                "buildgate reap: {}",
                err.message.trim_start_matches("buildgate: ")
            );
            ExitCode::FAILURE
        }
    }
}

/// Removes everything carrying `label` (`key=value`).
pub async fn reap(
    upstream: &Upstream,
    label: &str,
) -> Result<(Vec<Removed>, Vec<Failed>), ApiError> {
    let mut client = Client::new(upstream);
    let filter = escape(&format!(r#"{{"label":{{"{}":true}}}}"#, json_escape(label)));
    let mut removed = Vec::new();
    let mut failed = Vec::new();

    let containers = list(
        &mut client,
        &format!("/containers/json?all=1&filters={filter}"),
        "Id",
    )
    .await?;
    for (id, _) in containers {
        remove(
            &mut client,
            "container",
            &id,
            &format!("/containers/{}?force=1&v=1", escape(&id)),
            &mut removed,
            &mut failed,
        )
        .await?;
    }

    // Newest first; then again while that makes progress (an image can be held by
    // another of the owner's images that is removed later in a round).
    let mut images = list(
        &mut client,
        &format!("/images/json?all=1&filters={filter}"),
        "Id",
    )
    .await?;
    images.sort_by_key(|image| std::cmp::Reverse(image.1));
    let mut pending: Vec<String> = images.into_iter().map(|(id, _)| id).collect();
    loop {
        let mut held = Vec::new();
        let mut progress = false;
        for id in pending {
            let path = format!("/images/{}?force=1", escape(&id));
            let answer = delete(&mut client, &path).await?;
            match answer.status {
                s if s.is_success() => {
                    progress = true;
                    removed.push(Removed { kind: "image", id });
                }
                StatusCode::NOT_FOUND => progress = true,
                _ => held.push((id, answer.message())),
            }
        }
        if held.is_empty() {
            break;
        }
        if !progress {
            failed.extend(held.into_iter().map(|(id, why)| Failed {
                kind: "image",
                id,
                why,
            }));
            break;
        }
        pending = held.into_iter().map(|(id, _)| id).collect();
    }

    let volumes = client
        .get_json(&format!("/volumes?filters={filter}"))
        .await?
        .and_then(|v| v.get("Volumes").cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    for volume in volumes {
        if let Some(name) = volume.get("Name").and_then(|n| n.as_str()) {
            remove(
                &mut client,
                "volume",
                name,
                &format!("/volumes/{}", escape(name)),
                &mut removed,
                &mut failed,
            )
            .await?;
        }
    }

    let networks = list(&mut client, &format!("/networks?filters={filter}"), "Id").await?;
    for (id, _) in networks {
        let path = format!("/networks/{}", escape(&id));
        let mut answer = delete(&mut client, &path).await?;
        if answer.status.is_client_error()
            && answer.status != StatusCode::NOT_FOUND
            && drop_stale_endpoints(&mut client, &id).await?
        {
            // Stale endpoints were in the way; once they are gone, once more.
            answer = delete(&mut client, &path).await?;
        }
        record("network", &id, &answer, &mut removed, &mut failed);
    }
    Ok((removed, failed))
}

/// Force-disconnects the endpoints of network `id` whose containers no longer exist,
/// and says whether there were any. A container that is force-removed while attached
/// can leave its endpoint behind (dockerd 20.10 started with `--bridge=none` does, for
/// a container connected after it started), and the network then cannot be removed.
/// The daemon finds such an endpoint only by its container's old name, so an endpoint
/// is left alone when that name, or its ID, names a container that exists now.
async fn drop_stale_endpoints(client: &mut Client, id: &str) -> Result<bool, ApiError> {
    let Some(info) = client
        .get_json(&format!("/networks/{}", escape(id)))
        .await?
    else {
        return Ok(false);
    };
    let endpoints = info
        .get("Containers")
        .and_then(|c| c.as_object())
        .cloned()
        .unwrap_or_default();
    let mut dropped = false;
    for (container, endpoint) in endpoints {
        let Some(name) = endpoint.get("Name").and_then(|n| n.as_str()) else {
            continue;
        };
        let mut exists = false;
        for reference in [container.as_str(), name] {
            let path = format!("/containers/{}/json", escape(reference));
            exists |= client.get_json(&path).await?.is_some();
        }
        if exists || name.is_empty() {
            continue;
        }
        let body = serde_json::json!({ "Container": name, "Force": true }).to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let answer = client
            .call(
                Method::POST,
                &format!("/networks/{}/disconnect", escape(id)),
                headers,
                Some(body.into()),
            )
            .await?;
        dropped |= answer.status.is_success();
    }
    Ok(dropped)
}

/// IDs (the `field` of each entry) of a list, with their creation time for ordering.
async fn list(
    client: &mut Client,
    path: &str,
    field: &str,
) -> Result<Vec<(String, i64)>, ApiError> {
    let value = client
        .get_json(path)
        .await?
        .unwrap_or(serde_json::Value::Null);
    Ok(value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let id = item.get(field)?.as_str()?.to_string();
                    let created = item.get("Created").and_then(|c| c.as_i64()).unwrap_or(0);
                    Some((id, created))
                })
                .collect()
        })
        .unwrap_or_default())
}

async fn remove(
    client: &mut Client,
    kind: &'static str,
    id: &str,
    path: &str,
    removed: &mut Vec<Removed>,
    failed: &mut Vec<Failed>,
) -> Result<(), ApiError> {
    let answer = delete(client, path).await?;
    record(kind, id, &answer, removed, failed);
    Ok(())
}

async fn delete(client: &mut Client, path: &str) -> Result<Answer, ApiError> {
    client
        .call(Method::DELETE, path, HeaderMap::new(), None)
        .await
}

/// What a `DELETE` answered: removed, already gone (nothing to say), or why not.
fn record(
    kind: &'static str,
    id: &str,
    answer: &Answer,
    removed: &mut Vec<Removed>,
    failed: &mut Vec<Failed>,
) {
    if answer.status.is_success() {
        removed.push(Removed {
            kind,
            id: id.to_string(),
        });
    } else if answer.status != StatusCode::NOT_FOUND {
        failed.push(Failed {
            kind,
            id: id.to_string(),
            why: answer.message(),
        });
    }
}

fn json_escape(s: &str) -> String {
    serde_json::to_string(s)
        .map(|quoted| quoted[1..quoted.len() - 1].to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_filter_is_json() {
        assert_eq!(json_escape(r#"owner=a"b"#), r#"owner=a\"b"#);
        let filter = format!(r#"{{"label":{{"{}":true}}}}"#, json_escape("owner=job 1"));
        let back: serde_json::Value = serde_json::from_str(&filter).unwrap();
        assert_eq!(back["label"]["owner=job 1"], true);
    }
}
