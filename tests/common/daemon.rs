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

    /// `docker volume inspect`, or None if there is no such volume.
    pub fn inspect_volume(&self, name: &str) -> Option<Value> {
        self.json("GET", &format!("/volumes/{}", http::escape_path(name)))
    }

    /// `docker network inspect`, or None if there is no such network.
    pub fn inspect_network(&self, reference: &str) -> Option<Value> {
        self.json(
            "GET",
            &format!("/networks/{}", http::escape_path(reference)),
        )
    }

    /// Names of the volumes matching a `label` filter, or why they could not be listed.
    pub fn try_volumes_with_label(&self, label: &str) -> Result<BTreeSet<String>, String> {
        let path = with_label("/volumes?", label);
        let r = http::get(&self.sock, &path).map_err(|e| format!("GET {path}: {e}"))?;
        let v: Value = serde_json::from_slice(&r.body)
            .ok()
            .filter(|_| r.status == 200)
            .ok_or_else(|| format!("GET {path}: {} {}", r.status, r.text()))?;
        Ok(v["Volumes"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|v| v["Name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Names of the volumes matching a `label` filter (`k` or `k=v`).
    #[track_caller]
    pub fn volumes_with_label(&self, label: &str) -> BTreeSet<String> {
        self.try_volumes_with_label(label)
            .unwrap_or_else(|e| panic!("listing on the daemon: {e}"))
    }

    /// IDs of the networks matching a `label` filter (`k` or `k=v`).
    #[track_caller]
    pub fn networks_with_label(&self, label: &str) -> BTreeSet<String> {
        self.ids(&with_label("/networks?", label))
    }

    pub fn remove_volume(&self, name: &str) {
        let _ = http::request(
            &self.sock,
            "DELETE",
            &format!("/volumes/{}?force=1", http::escape_path(name)),
            &[],
            b"",
        );
    }

    /// Remove a network. If the daemon refuses because of endpoints (20.10 started with
    /// `--bridge=none` keeps a stale endpoint of a container that joined the network
    /// after it started and was then force-removed), those are force-disconnected and
    /// the removal tried again.
    pub fn remove_network(&self, reference: &str) {
        let path = format!("/networks/{}", http::escape_path(reference));
        let removed =
            |r: std::io::Result<http::Response>| r.is_ok_and(|r| r.status < 300 || r.status == 404);
        if removed(http::request(&self.sock, "DELETE", &path, &[], b"")) {
            return;
        }
        let Some(info) = self.inspect_network(reference) else {
            return;
        };
        // A stale endpoint is found by its name, the container's (the container is
        // gone, so its ID names nothing).
        let endpoints = info["Containers"].as_object().cloned().unwrap_or_default();
        for endpoint in endpoints.values() {
            let name = endpoint["Name"].as_str().unwrap_or_default();
            let body = serde_json::json!({"Container": name, "Force": true}).to_string();
            let _ = http::request(
                &self.sock,
                "POST",
                &format!("{path}/disconnect"),
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            );
        }
        let _ = http::request(&self.sock, "DELETE", &path, &[], b"");
    }

    /// Remove every container, image, volume and network carrying `owner=<owner>`
    /// (quietly: this runs from drops).
    pub fn remove_owned(&self, owner: &str) {
        self.remove_labelled(&format!("owner={owner}"));
    }

    /// Remove every container, image, volume and network whose labels match `filter`
    /// (`k` or `k=v`): containers first (with their anonymous volumes), which frees the
    /// rest.
    pub fn remove_labelled(&self, filter: &str) {
        for id in self
            .try_ids(&with_label("/containers/json?all=1", filter))
            .unwrap_or_default()
        {
            self.remove_container(&id);
        }
        let images = self
            .try_ids(&with_label("/images/json?all=1", filter))
            .unwrap_or_default();
        self.remove_images(&images);
        for name in self.try_volumes_with_label(filter).unwrap_or_default() {
            self.remove_volume(&name);
        }
        for id in self
            .try_ids(&with_label("/networks?", filter))
            .unwrap_or_default()
        {
            self.remove_network(&id);
        }
    }
}

// ------------------------------------------------------------------------ making images

impl Daemon {
    /// One request straight to the daemon; panics if it cannot be sent or read.
    #[track_caller]
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> http::Response {
        http::request(&self.sock, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} on the daemon: {e}"))
    }

    /// `docker import`: `rootfs` (a tar) as a new image `repo:tag` with these
    /// `changes` (Dockerfile instructions, e.g. `ONBUILD RUN ...`) and history
    /// `message`. Returns its ID.
    #[track_caller]
    pub fn import(
        &self,
        rootfs: &[u8],
        repo: &str,
        tag: &str,
        changes: &[&str],
        message: &str,
    ) -> String {
        let mut path = format!(
            "/images/create?fromSrc=-&repo={}&tag={}&message={}",
            http::escape_query(repo),
            http::escape_query(tag),
            http::escape_query(message)
        );
        for c in changes {
            path.push_str(&format!("&changes={}", http::escape_query(c)));
        }
        let r = self.request(
            "POST",
            &path,
            &[("Content-Type", "application/x-tar")],
            rootfs,
        );
        assert_eq!(r.status, 200, "import {repo}:{tag}: {}", r.text());
        let id = r
            .text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| {
                let status = v["status"].as_str()?;
                status.starts_with("sha256:").then(|| status.to_string())
            });
        id.unwrap_or_else(|| panic!("import {repo}:{tag}: no ID in {:?}", r.text()))
    }

    /// `POST /containers/create` with this body; returns the container's ID.
    #[track_caller]
    pub fn create_container(&self, config: &Value) -> String {
        let body = config.to_string();
        let r = self.request(
            "POST",
            "/containers/create",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(
            r.status,
            201,
            "create a container from {body}: {}",
            r.text()
        );
        r.json()["Id"].as_str().expect("container Id").to_string()
    }

    /// `docker commit` of `container` with these `changes`; returns the image's ID.
    #[track_caller]
    pub fn commit(&self, container: &str, changes: &[&str]) -> String {
        let mut path = format!("/commit?container={}", http::escape_query(container));
        for c in changes {
            path.push_str(&format!("&changes={}", http::escape_query(c)));
        }
        let r = self.request("POST", &path, &[], b"");
        assert_eq!(r.status, 201, "commit {container}: {}", r.text());
        r.json()["Id"].as_str().expect("image Id").to_string()
    }

    /// `docker tag image repo:tag` (moving the name if it is on another image).
    #[track_caller]
    pub fn tag(&self, image: &str, repo: &str, tag: &str) {
        let path = format!(
            "/images/{}/tag?repo={}&tag={}",
            http::escape_path(image),
            http::escape_query(repo),
            http::escape_query(tag)
        );
        let r = self.request("POST", &path, &[], b"");
        assert_eq!(r.status, 201, "tag {image} as {repo}:{tag}: {}", r.text());
    }

    /// `docker push name:tag` with `auth` (`X-Registry-Auth`); panics with the
    /// daemon's words unless the push succeeded.
    #[track_caller]
    pub fn push(&self, name: &str, tag: &str, auth: &str) {
        let path = format!(
            "/images/{}/push?tag={}",
            http::escape_path(name),
            http::escape_query(tag)
        );
        let r = self.request("POST", &path, &[("X-Registry-Auth", auth)], b"");
        let text = r.text();
        let failed = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v.get("error").is_some() || v.get("errorDetail").is_some());
        assert!(
            r.status == 200 && !failed,
            "push {name}:{tag}: {} {text}",
            r.status
        );
    }

    /// The ID `name` resolves to, if any.
    pub fn image_id(&self, name: &str) -> Option<String> {
        self.inspect_image(name)
            .and_then(|v| v["Id"].as_str().map(str::to_string))
    }

    /// `docker history`: the image IDs of its entries, newest first; `None` for an
    /// entry the daemon shows as `<missing>`.
    #[track_caller]
    pub fn history(&self, image: &str) -> Vec<Option<String>> {
        let path = format!("/images/{}/history", http::escape_path(image));
        let r = self.request("GET", &path, &[], b"");
        assert_eq!(r.status, 200, "history of {image}: {}", r.text());
        r.json()
            .as_array()
            .expect("history is an array")
            .iter()
            .map(|e| {
                e["Id"]
                    .as_str()
                    .filter(|id| id.starts_with("sha256:"))
                    .map(str::to_string)
            })
            .collect()
    }

    /// The tar export of a container's filesystem (`docker export`).
    #[track_caller]
    pub fn export_container(&self, id: &str) -> Vec<u8> {
        let path = format!("/containers/{}/export", http::escape_path(id));
        let r = self.request("GET", &path, &[], b"");
        assert_eq!(r.status, 200, "export {id}: {}", r.text());
        r.body
    }

    /// The containers and images that descend from `roots` (image IDs): images whose
    /// parent chain reaches one, and containers made from a root or such an image. A
    /// unique base makes this exactly what was built on it, whoever else uses the
    /// daemon at the same time.
    #[track_caller]
    pub fn descendants(&self, roots: &BTreeSet<String>) -> Lineage {
        self.try_descendants(roots)
            .unwrap_or_else(|e| panic!("listing on the daemon: {e}"))
    }

    /// [`Daemon::descendants`], or why the daemon could not list them.
    pub fn try_descendants(&self, roots: &BTreeSet<String>) -> Result<Lineage, String> {
        let list = |path: &str, field: &str| -> Result<Vec<(String, String)>, String> {
            let r = http::get(&self.sock, path).map_err(|e| format!("GET {path}: {e}"))?;
            let list = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .filter(|_| r.status == 200)
                .and_then(|v| v.as_array().cloned())
                .ok_or_else(|| format!("GET {path}: {} {}", r.status, r.text()))?;
            Ok(list
                .iter()
                .map(|o| {
                    (
                        o["Id"].as_str().unwrap_or_default().to_string(),
                        o[field].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect())
        };
        let images = list("/images/json?all=1", "ParentId")?;
        let containers = list("/containers/json?all=1", "ImageID")?;
        let mut tree: BTreeSet<String> = roots.clone();
        loop {
            let before = tree.len();
            for (id, parent) in &images {
                if tree.contains(parent) {
                    tree.insert(id.clone());
                }
            }
            if tree.len() == before {
                break;
            }
        }
        Ok(Lineage {
            containers: containers
                .into_iter()
                .filter(|(_, image)| tree.contains(image))
                .map(|(id, _)| id)
                .collect(),
            images: tree.difference(roots).cloned().collect(),
        })
    }

    /// Remove everything that descends from `roots`, then the roots (quietly: this
    /// runs from drops).
    pub fn remove_tree(&self, roots: &BTreeSet<String>) {
        let found = self.try_descendants(roots).unwrap_or_default();
        for c in &found.containers {
            self.remove_container(c);
        }
        let mut images: Vec<String> = found.images.into_iter().collect();
        images.extend(roots.iter().cloned());
        self.remove_images(&images);
    }
}

/// What descends from a set of base images ([`Daemon::descendants`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lineage {
    pub containers: BTreeSet<String>,
    pub images: BTreeSet<String>,
}

impl Lineage {
    /// What is in `self` and not in `before`: what was made in between.
    pub fn since(&self, before: &Lineage) -> Lineage {
        Lineage {
            containers: &self.containers - &before.containers,
            images: &self.images - &before.images,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.images.is_empty()
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
/// registered by name; and the volumes and networks registered by name.
pub struct Cleanup {
    pub daemon: Daemon,
    /// `buildgate-test=<unique>`.
    pub label: String,
    filters: Vec<String>,
    containers: Vec<String>,
    images: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
}

impl Cleanup {
    pub fn new(daemon_host: &str) -> Cleanup {
        Cleanup {
            daemon: Daemon::new(daemon_host),
            label: format!("buildgate-test={}", unique("t")),
            filters: Vec::new(),
            containers: Vec::new(),
            images: Vec::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
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

    pub fn volume(&mut self, name: &str) {
        self.volumes.push(name.to_string());
    }

    pub fn network(&mut self, name: &str) {
        self.networks.push(name.to_string());
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
        for v in &self.volumes {
            d.remove_volume(v);
        }
        for n in &self.networks {
            d.remove_network(n);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run_now();
    }
}
