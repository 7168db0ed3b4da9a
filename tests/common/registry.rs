//! [`Registry`]: a private image registry on 127.0.0.1 with password auth, for tests
//! whose base images must be pulled; and the credential headers a client sends to use
//! it ([`auth_header`] for `X-Registry-Auth`, [`config_header`] for `X-Registry-Config`).
//!
//! The registry is Debian's `docker-registry` (docker/distribution 2.8) with htpasswd
//! auth, the password file written with `htpasswd -B` (Debian's `apache2-utils`; the
//! registry accepts only bcrypt). The daemon treats registries on 127.0.0.0/8 as
//! insecure by itself, so plain HTTP on a free loopback port is enough, and the private
//! dockerd shares the host's network. Without either tool this is a skip by hand and a
//! failure under `CI=true` ([`skip_or_fail`]).

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use super::{http, skip_or_fail, unique, wait_for};

/// A running `docker-registry serve`, stopped and its storage removed on drop.
pub struct Registry {
    child: Option<Child>,
    /// Holds the config, the password file, the storage and the log.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`: the registry part of image names, and its auth key.
    pub addr: String,
    pub user: String,
    pub password: String,
}

impl Registry {
    /// Start a registry on a free loopback port with one user (random password), and
    /// wait until it answers `GET /v2/` with its auth challenge.
    pub fn start() -> Option<Registry> {
        for tool in ["docker-registry", "htpasswd"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                return skip_or_fail(&format!(
                    "`{tool}` is not on PATH (Debian packages docker-registry and apache2-utils)"
                ));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("buildgate-registry-")
            .tempdir()
            .expect("temp dir");
        let user = "buildgate".to_string();
        let password = unique("pw");
        let out = Command::new("htpasswd")
            .args(["-Bbn", &user, &password])
            .stdin(Stdio::null())
            .output()
            .expect("run htpasswd");
        assert!(out.status.success(), "htpasswd: {out:?}");
        let htpasswd = dir.path().join("htpasswd");
        fs::write(&htpasswd, String::from_utf8_lossy(&out.stdout).trim()).unwrap();

        let mut registry = Registry {
            child: None,
            dir,
            addr: String::new(),
            user,
            password,
        };
        // The port is picked by binding port 0 and released for the registry; another
        // process may take it in between, so a registry that exits is tried again.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            registry.addr = format!("127.0.0.1:{port}");
            let dir = registry.dir.path();
            let config = dir.join("config.yml");
            fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {storage}\n\
                     http:\n  addr: {addr}\n\
                     auth:\n  htpasswd:\n    realm: buildgate-test\n    path: {htpasswd}\n",
                    storage = dir.join("storage").display(),
                    addr = registry.addr,
                    htpasswd = htpasswd.display(),
                ),
            )
            .unwrap();
            let log = fs::File::create(dir.join("registry.log")).unwrap();
            registry.child = Some(
                Command::new("docker-registry")
                    .arg("serve")
                    .arg(&config)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .expect("spawn docker-registry"),
            );
            let up = wait_for(Duration::from_secs(20), || {
                if registry.exited() {
                    return Some(false);
                }
                registry.challenge().then_some(true)
            });
            match up {
                Some(true) => return Some(registry),
                Some(false) => {
                    eprintln!(
                        "docker-registry exited; trying another port\n{}",
                        registry.log()
                    );
                    registry.stop();
                }
                None => panic!(
                    "docker-registry did not answer on {} within 20 s\n{}",
                    registry.addr,
                    registry.log()
                ),
            }
        }
        panic!("docker-registry could not start on a free port in 5 tries");
    }

    /// Whether `GET /v2/` answers 401 with a Basic challenge: up, and asking for auth.
    fn challenge(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(&self.addr) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        if s.write_all(request.as_bytes()).is_err() {
            return false;
        }
        http::read_response(&mut s, true).is_ok_and(|r| {
            r.status == 401
                && r.header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Basic"))
        })
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        format!(
            "----- docker-registry log -----\n{}\n----- end -----",
            fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
        )
    }

    /// `127.0.0.1:<port>/<path>`: a repository in this registry.
    pub fn repo(&self, path: &str) -> String {
        format!("{}/{path}", self.addr)
    }

    /// `X-Registry-Auth` for this registry's user (a push or a pull).
    pub fn auth(&self) -> String {
        auth_header(&self.user, &self.password, &self.addr)
    }

    /// `X-Registry-Config` with this registry's user under its `host:port` key, as the
    /// docker CLI sends it after `docker login 127.0.0.1:<port>`.
    pub fn config(&self) -> String {
        config_header(&[(&self.addr, &self.user, &self.password)])
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
    }
}

/// `X-Registry-Auth`: one `AuthConfig`, JSON in padded URL-safe base64.
pub fn auth_header(user: &str, password: &str, server: &str) -> String {
    let json = serde_json::json!({
        "username": user,
        "password": password,
        "serveraddress": server,
    });
    base64url(json.to_string().as_bytes())
}

/// `X-Registry-Config`: a map from registry key to `AuthConfig`, JSON in padded
/// URL-safe base64 (what the daemon decodes).
pub fn config_header(entries: &[(&str, &str, &str)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(key, user, password)| {
            (
                key.to_string(),
                serde_json::json!({
                    "username": user,
                    "password": password,
                    "serveraddress": key,
                }),
            )
        })
        .collect();
    base64url(serde_json::Value::Object(map).to_string().as_bytes())
}

/// Padded URL-safe base64 (Go's `base64.URLEncoding`).
pub fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
