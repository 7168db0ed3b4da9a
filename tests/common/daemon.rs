//! The daemon's side: inspecting what it holds, and removing what a test made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::{http, unique, unix_path, wait_settled};

/// Talks to the daemon directly (not through the gateway) to inspect and clean up.
#[derive(Clone, Debug)]
pub struct Daemon {
    pub host: String,
    pub sock: PathBuf,
}

/// How long the daemon's view must hold still before "nothing was made" is believed:
/// long enough for a build the daemon had started to show its first container.
pub const SETTLE_QUIET: Duration = Duration::from_millis(500);

impl Daemon {
    pub fn new(host: &str) -> Daemon {
        Daemon {
            host: host.to_string(),
            sock: unix_path(host).expect("unix:// daemon address"),
        }
    }

    fn json(&self, method: &str, path: &str) -> Option<Value> {
        let r = http::request(&self.sock, method, path, &[], b"").ok()?;
        if r.status != 200 {
            return None;
        }
        serde_json::from_slice(&r.body).ok()
    }

    /// `docker image inspect`, or None if there is no such image.
    pub fn inspect_image(&self, name: &str) -> Option<Value> {
        self.json("GET", &format!("/images/{}/json", http::escape_path(name)))
    }

    /// `docker container inspect`, or None if there is no such container.
    pub fn inspect_container(&self, name: &str) -> Option<Value> {
        self.json(
            "GET",
            &format!("/containers/{}/json", http::escape_path(name)),
        )
    }

    pub fn image_labels(&self, name: &str) -> BTreeMap<String, String> {
        let v = self
            .inspect_image(name)
            .unwrap_or_else(|| panic!("no image {name}"));
        labels(&v)
    }

    pub fn container_labels(&self, name: &str) -> BTreeMap<String, String> {
        let v = self
            .inspect_container(name)
            .unwrap_or_else(|| panic!("no container {name}"));
        labels(&v)
    }

    /// The `Id`s a list endpoint (`/containers/json?all=1`, `/images/json?all=1`, ...)
    /// returns, or why it could not be listed.
    pub fn try_ids(&self, path: &str) -> Result<BTreeSet<String>, String> {
        let r = http::get(&self.sock, path).map_err(|e| format!("GET {path}: {e}"))?;
        if r.status != 200 {
            return Err(format!("GET {path}: {} {}", r.status, r.text()));
        }
        let list = serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .ok_or_else(|| format!("GET {path}: not a JSON array: {}", r.text()))?;
        list.iter()
            .map(|o| {
                o["Id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("GET {path}: an object without an Id: {o}"))
            })
            .collect()
    }

    /// [`Daemon::try_ids`] for assertions: panics if the daemon cannot list, so that an
    /// empty set always means "none".
    #[track_caller]
    pub fn ids(&self, path: &str) -> BTreeSet<String> {
        self.try_ids(path)
            .unwrap_or_else(|e| panic!("listing on the daemon: {e}"))
    }

    /// IDs of all containers (running or not) matching a `label` filter (`k` or `k=v`).
    #[track_caller]
    pub fn containers_with_label(&self, label: &str) -> BTreeSet<String> {
        self.ids(&with_label("/containers/json?all=1", label))
    }

    /// IDs of the running containers matching a `label` filter.
    #[track_caller]
    pub fn running_with_label(&self, label: &str) -> BTreeSet<String> {
        self.ids(&with_label("/containers/json?", label))
    }

    /// IDs of all images matching a `label` filter (`k` or `k=v`).
    #[track_caller]
    pub fn images_with_label(&self, label: &str) -> BTreeSet<String> {
        self.ids(&with_label("/images/json?all=1", label))
    }

    /// (containers, images) carrying `owner=<owner>`, intermediate ones included.
    #[track_caller]
    pub fn owned(&self, owner: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let filter = format!("owner={owner}");
        (
            self.containers_with_label(&filter),
            self.images_with_label(&filter),
        )
    }

    /// [`Daemon::owned`] once the daemon has settled: no container carrying the owner
    /// is running, and what carries it has not changed for [`SETTLE_QUIET`]. If it does
    /// not settle within a minute, what carries it then (something does: a running
    /// container).
    #[track_caller]
    pub fn settled_owned(&self, owner: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let filter = format!("owner={owner}");
        wait_settled(Duration::from_secs(60), SETTLE_QUIET, || {
            self.running_with_label(&filter)
                .is_empty()
                .then(|| self.owned(owner))
        })
        .unwrap_or_else(|| self.owned(owner))
    }

    pub fn remove_container(&self, id: &str) {
        let _ = http::request(
            &self.sock,
            "DELETE",
            &format!("/containers/{}?force=1&v=1", http::escape_path(id)),
            &[],
            b"",
        );
    }

    pub fn remove_image(&self, id: &str) {
        let _ = http::request(
            &self.sock,
            "DELETE",
            &format!("/images/{}?force=1", http::escape_path(id)),
            &[],
            b"",
        );
    }

    /// Remove these images in any order: a parent goes only after its children, so
    /// this takes a few passes over what is still there. Returns what is left.
    pub fn remove_images<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut left: Vec<String> = ids.into_iter().cloned().collect();
        for _ in 0..8 {
            if left.is_empty() {
                break;
            }
            for id in &left {
                self.remove_image(id);
            }
            left.retain(|id| self.inspect_image(id).is_some());
        }
        left
    }

    /// Remove every container and image carrying `owner=<owner>` (quietly: this runs
    /// from drops).
    pub fn remove_owned(&self, owner: &str) {
        let filter = format!("owner={owner}");
        for id in self
            .try_ids(&with_label("/containers/json?all=1", &filter))
            .unwrap_or_default()
        {
            self.remove_container(&id);
        }
        let images = self
            .try_ids(&with_label("/images/json?all=1", &filter))
            .unwrap_or_default();
        self.remove_images(&images);
    }
}

/// `path` with a `label` filter added to its query (`path` ends in `?` or has one).
fn with_label(path: &str, label: &str) -> String {
    let sep = if path.ends_with('?') { "" } else { "&" };
    format!(
        "{path}{sep}filters={}",
        http::escape_query(&format!(r#"{{"label":["{label}"]}}"#))
    )
}

/// The labels in a container's or image's inspect output.
pub fn labels(inspect: &Value) -> BTreeMap<String, String> {
    inspect["Config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Assert that `image` carries `owner=<owner>`.
#[track_caller]
pub fn assert_owned(daemon: &Daemon, owner: &str, image: &str) {
    let labels = daemon.image_labels(image);
    assert_eq!(
        labels.get("owner").map(String::as_str),
        Some(owner),
        "image {image} labels: {labels:?}"
    );
}

/// Assert that nothing on the daemon carries `owner=<owner>`: a refused or broken build
/// left nothing behind. Looks once the daemon has settled ([`Daemon::settled_owned`]),
/// so a build the daemon is still running or finishing shows up.
#[track_caller]
pub fn assert_nothing_owned(daemon: &Daemon, owner: &str, what: &str) {
    let (c, i) = daemon.settled_owned(owner);
    assert!(
        c.is_empty() && i.is_empty(),
        "{what}: the daemon holds objects owned by {owner}: containers {c:?}, images {i:?}"
    );
}

/// Removes everything an owner made, on drop.
pub struct OwnedCleanup {
    pub daemon: Daemon,
    pub owner: String,
}

impl Drop for OwnedCleanup {
    fn drop(&mut self) {
        self.daemon.remove_owned(&self.owner);
    }
}

/// Removes, on drop, the containers and images a test made: those carrying this
/// guard's label ([`Cleanup::label`], pass it as `--label`), those with a label the test
/// registered ([`Cleanup::label_filter`], e.g. the gateway's owner label), and those
/// registered by name.
pub struct Cleanup {
    pub daemon: Daemon,
    /// `buildgate-test=<unique>`.
    pub label: String,
    filters: Vec<String>,
    containers: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    pub fn new(daemon_host: &str) -> Cleanup {
        Cleanup {
            daemon: Daemon::new(daemon_host),
            label: format!("buildgate-test={}", unique("t")),
            filters: Vec::new(),
            containers: Vec::new(),
            images: Vec::new(),
        }
    }

    /// Also remove containers and images whose labels match `filter` (`k` or `k=v`).
    pub fn label_filter(&mut self, filter: &str) {
        self.filters.push(filter.to_string());
    }

    pub fn container(&mut self, name: &str) {
        self.containers.push(name.to_string());
    }

    pub fn image(&mut self, name: &str) {
        self.images.push(name.to_string());
    }

    /// Remove it all now (quietly: this also runs from drops, during a panic).
    pub fn run_now(&mut self) {
        let d = &self.daemon;
        let mut filters = vec![self.label.clone()];
        filters.extend(self.filters.iter().cloned());
        let listed = |path: &str, f: &str| d.try_ids(&with_label(path, f)).unwrap_or_default();
        for f in &filters {
            for id in listed("/containers/json?all=1", f) {
                d.remove_container(&id);
            }
        }
        for c in &self.containers {
            d.remove_container(c);
        }
        let mut images: Vec<String> = filters
            .iter()
            .flat_map(|f| listed("/images/json?all=1", f))
            .collect();
        images.extend(self.images.iter().cloned());
        d.remove_images(&images);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run_now();
    }
}
