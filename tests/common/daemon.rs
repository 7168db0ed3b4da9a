//! The daemon's side: inspecting what it holds, and removing what a test made.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{http, unique, unix_path};

/// Talks to the daemon directly (not through the gateway) to inspect and clean up.
#[derive(Clone, Debug)]
pub struct Daemon {
    pub host: String,
    pub sock: PathBuf,
}

impl Daemon {
    pub fn new(host: &str) -> Daemon {
        Daemon {
            host: host.to_string(),
            sock: unix_path(host).expect("unix:// daemon address"),
        }
    }

    fn json(&self, method: &str, path: &str) -> Option<serde_json::Value> {
        let r = http::request(&self.sock, method, path, &[], b"").ok()?;
        if r.status != 200 {
            return None;
        }
        serde_json::from_slice(&r.body).ok()
    }

    /// `docker image inspect`, or None if there is no such image.
    pub fn inspect_image(&self, name: &str) -> Option<serde_json::Value> {
        self.json("GET", &format!("/images/{}/json", http::escape_path(name)))
    }

    /// `docker container inspect`, or None if there is no such container.
    pub fn inspect_container(&self, name: &str) -> Option<serde_json::Value> {
        self.json(
            "GET",
            &format!("/containers/{}/json", http::escape_path(name)),
        )
    }

    pub fn image_labels(&self, name: &str) -> HashMap<String, String> {
        let v = self
            .inspect_image(name)
            .unwrap_or_else(|| panic!("no image {name}"));
        labels_of(&v["Config"]["Labels"])
    }

    pub fn container_labels(&self, name: &str) -> HashMap<String, String> {
        let v = self
            .inspect_container(name)
            .unwrap_or_else(|| panic!("no container {name}"));
        labels_of(&v["Config"]["Labels"])
    }

    /// IDs of all containers (running or not) matching a `label` filter (`k` or `k=v`).
    pub fn containers_with_label(&self, label: &str) -> Vec<String> {
        self.ids(&format!(
            "/containers/json?all=1&filters={}",
            http::escape_query(&format!(r#"{{"label":["{label}"]}}"#))
        ))
    }

    /// IDs of all images matching a `label` filter (`k` or `k=v`).
    pub fn images_with_label(&self, label: &str) -> Vec<String> {
        self.ids(&format!(
            "/images/json?all=1&filters={}",
            http::escape_query(&format!(r#"{{"label":["{label}"]}}"#))
        ))
    }

    fn ids(&self, path: &str) -> Vec<String> {
        match self.json("GET", path) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|c| c["Id"].as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
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
}

fn labels_of(v: &serde_json::Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
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

    pub fn run_now(&mut self) {
        let mut filters = vec![self.label.clone()];
        filters.extend(self.filters.iter().cloned());
        for f in &filters {
            for id in self.daemon.containers_with_label(f) {
                self.daemon.remove_container(&id);
            }
        }
        for c in &self.containers {
            self.daemon.remove_container(c);
        }
        for f in &filters {
            for id in self.daemon.images_with_label(f) {
                self.daemon.remove_image(&id);
            }
        }
        for i in &self.images {
            self.daemon.remove_image(i);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run_now();
    }
}
