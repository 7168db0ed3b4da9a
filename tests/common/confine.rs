//! For the `--confine` tests: [`Api`], the Docker API calls they make over and over,
//! against any socket (the daemon's, to show what an attack does there, or a gateway's,
//! to show it refused); and [`Confined`], a gateway started with `--confine`, an owner
//! of its own and an `--allow-bind` directory, whose owner's objects are all removed
//! when it is dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{Cli, Daemon, Docker, Gateway, Output, OwnedCleanup, http, unique, wait_for};

/// Raw Docker API calls on one socket, each on a fresh connection; every call panics if
/// the socket cannot be reached or the answer cannot be read, so a test never mistakes
/// a broken connection for a refusal.
#[derive(Clone, Debug)]
pub struct Api {
    pub sock: PathBuf,
    /// `daemon` or `gateway <owner>`, for messages.
    pub who: String,
}

impl Api {
    pub fn daemon(daemon: &Daemon) -> Api {
        Api {
            sock: daemon.sock.clone(),
            who: "the daemon".to_string(),
        }
    }

    pub fn gateway(gw: &Gateway) -> Api {
        Api {
            sock: gw.sock.clone(),
            who: format!("the gateway of {}", gw.owner),
        }
    }

    /// One request; `content_type` is sent when given.
    #[track_caller]
    pub fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> http::Response {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        http::request(&self.sock, method, path, &headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} to {}: {e}", self.who))
    }

    #[track_caller]
    pub fn get(&self, path: &str) -> http::Response {
        self.call("GET", path, None, b"")
    }

    /// A POST with no body.
    #[track_caller]
    pub fn post(&self, path: &str) -> http::Response {
        self.call("POST", path, None, b"")
    }

    /// A POST with this JSON text as its body (text, so that duplicate and
    /// case-variant keys go out exactly as written).
    #[track_caller]
    pub fn post_json(&self, path: &str, body: &str) -> http::Response {
        self.call("POST", path, Some("application/json"), body.as_bytes())
    }

    #[track_caller]
    pub fn delete(&self, path: &str) -> http::Response {
        self.call("DELETE", path, None, b"")
    }

    /// `POST /containers/create?name=<name>` with this body.
    #[track_caller]
    pub fn create(&self, name: &str, body: &str) -> http::Response {
        self.post_json(
            &format!("/containers/create?name={}", http::escape_query(name)),
            body,
        )
    }

    /// [`Api::create`] that must succeed; the container's ID.
    #[track_caller]
    pub fn created(&self, name: &str, body: &str) -> String {
        let r = self.create(name, body);
        assert_eq!(
            r.status,
            201,
            "create {name} from {body} via {}: {}",
            self.who,
            r.text()
        );
        r.json()["Id"].as_str().expect("Id").to_string()
    }

    /// `POST /containers/{id}/start`.
    #[track_caller]
    pub fn start(&self, id: &str) -> http::Response {
        self.post(&format!("/containers/{}/start", http::escape_path(id)))
    }

    /// [`Api::start`] that must succeed.
    #[track_caller]
    pub fn started(&self, id: &str) {
        let r = self.start(id);
        assert_eq!(r.status, 204, "start {id} via {}: {}", self.who, r.text());
    }

    /// `POST /containers/{id}/wait`: blocks until the container exits; its exit code.
    #[track_caller]
    pub fn wait(&self, id: &str) -> i64 {
        let r = self.post(&format!("/containers/{}/wait", http::escape_path(id)));
        assert_eq!(r.status, 200, "wait {id} via {}: {}", self.who, r.text());
        r.json()["StatusCode"].as_i64().expect("StatusCode")
    }

    /// Everything the container wrote to stdout and stderr so far (a non-TTY
    /// container's log stream, demultiplexed).
    #[track_caller]
    pub fn logs(&self, id: &str) -> String {
        let r = self.get(&format!(
            "/containers/{}/logs?stdout=1&stderr=1",
            http::escape_path(id)
        ));
        assert_eq!(r.status, 200, "logs of {id} via {}: {}", self.who, r.text());
        demux(&r.body)
    }

    /// Create `name` from `body`, start it, wait for it to exit: (exit code, output).
    #[track_caller]
    pub fn run(&self, name: &str, body: &str) -> (i64, String) {
        let id = self.created(name, body);
        self.started(&id);
        let code = self.wait(&id);
        (code, self.logs(&id))
    }

    /// Run `cmd` in a running container (`POST /containers/{id}/exec`, then
    /// `/exec/{id}/start`): its output, stdout and stderr.
    #[track_caller]
    pub fn exec(&self, container: &str, cmd: &[&str]) -> String {
        let body = serde_json::json!({"Cmd": cmd, "AttachStdout": true, "AttachStderr": true});
        let r = self.post_json(
            &format!("/containers/{}/exec", http::escape_path(container)),
            &body.to_string(),
        );
        assert_eq!(
            r.status,
            201,
            "exec in {container} via {}: {}",
            self.who,
            r.text()
        );
        let id = r.json()["Id"].as_str().expect("exec Id").to_string();
        let r = self.post_json(
            &format!("/exec/{id}/start"),
            r#"{"Detach":false,"Tty":false}"#,
        );
        assert_eq!(r.status, 200, "exec start via {}: {}", self.who, r.text());
        demux(&r.body)
    }

    /// `GET /<kind>/<reference>/json` (`/volumes/<name>` and `/networks/<ref>` for
    /// those), `None` on anything but 200.
    #[track_caller]
    pub fn inspect(&self, kind: &str, reference: &str) -> Option<Value> {
        let path = match kind {
            "volumes" | "networks" => format!("/{kind}/{}", http::escape_path(reference)),
            _ => format!("/{kind}/{}/json", http::escape_path(reference)),
        };
        let r = self.get(&path);
        (r.status == 200).then(|| r.json())
    }
}

/// How long a prune may wait for the daemon's other prunes.
pub const PRUNE_WAIT: Duration = Duration::from_secs(60);

/// The daemon runs one prune of a kind at a time, daemon-wide, and answers another
/// with 409 "a prune operation is already running": other tests and other users of the
/// daemon prune too. So a prune is tried until it is not turned away for that.
#[track_caller]
pub fn prune_via(api: &Api, path: &str) -> http::Response {
    wait_for(PRUNE_WAIT, || {
        let r = api.post(path);
        (!(r.status == 409 && r.text().contains("already running"))).then_some(r)
    })
    .unwrap_or_else(|| panic!("POST {path} via {}: never ran", api.who))
}

/// [`prune_via`] for a CLI command (`docker container prune -f`, ...), which must succeed.
#[track_caller]
pub fn prune_cli(docker: impl Fn() -> Docker) -> Output {
    wait_for(PRUNE_WAIT, || {
        let out = docker().run();
        (out.success() || !out.stderr.contains("already running")).then_some(out)
    })
    .expect("the prune never ran: another was always running")
    .ok()
}

/// The payload of a multiplexed stdout/stderr stream (8-byte frame headers), or the
/// bytes as they are if they are not one.
pub fn demux(raw: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = raw;
    while rest.len() >= 8 && rest[0] <= 2 && rest[1..4] == [0, 0, 0] {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() < 8 + len {
            break;
        }
        out.extend_from_slice(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    if out.is_empty() && !rest.is_empty() {
        return String::from_utf8_lossy(raw).into_owned();
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Assert a `--confine` refusal of request `what`: this status, a JSON body whose
/// `message` starts with `buildgate: ` and contains each of `needles`. Returns the
/// message.
#[track_caller]
pub fn refused(r: &http::Response, status: u16, needles: &[&str], what: &str) -> String {
    assert_eq!(
        r.status,
        status,
        "{what}: expected a {status} refusal, got {} {}",
        r.status,
        r.text()
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{what}: the refusal is not JSON: {r:?}"
    );
    let msg = serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{what}: no message in {}", r.text()));
    assert!(msg.starts_with("buildgate: "), "{what}: {msg:?}");
    for n in needles {
        assert!(msg.contains(n), "{what}: the message lacks {n:?}: {msg:?}");
    }
    msg
}

/// A gateway started with `--confine` (and `--allow-bind <its dir>/allowed`, plus
/// `extra`) in front of the test daemon, with a unique owner. Dropping it stops the
/// gateway, then removes every container, image, volume and network of its owner.
pub struct Confined {
    pub gw: Gateway,
    /// The API through the gateway.
    pub api: Api,
    pub daemon: Daemon,
    /// The `--allow-bind` directory (exists, empty).
    pub allowed: PathBuf,
    _cleanup: OwnedCleanup,
    /// Holds `allowed`; removed last, after the containers that may bind it.
    pub dir: tempfile::TempDir,
}

impl Confined {
    pub fn start(daemon_host: &str, extra: &[&str]) -> Confined {
        let dir = tempfile::Builder::new()
            .prefix("buildgate-confine-")
            .tempdir()
            .expect("temp dir");
        // The daemon must see the same path: it is on this machine.
        let allowed = fs::canonicalize(dir.path()).unwrap().join("allowed");
        fs::create_dir(&allowed).unwrap();
        let allowed_str = allowed.to_str().expect("UTF-8 temp dir").to_string();
        let mut args = vec!["--confine", "--allow-bind", &allowed_str];
        args.extend_from_slice(extra);
        let (gw, cleanup) = Gateway::start_cleaned(daemon_host, &args);
        Confined {
            api: Api::gateway(&gw),
            daemon: Daemon::new(daemon_host),
            gw,
            allowed,
            _cleanup: cleanup,
            dir,
        }
    }

    pub fn owner(&self) -> &str {
        &self.gw.owner
    }

    /// `owner=<this owner>`, for label filters.
    pub fn label(&self) -> String {
        format!("owner={}", self.gw.owner)
    }

    /// A docker CLI against this gateway.
    pub fn docker(&self, cli: &Cli) -> Docker {
        self.gw.docker(cli)
    }

    /// A directory of its own outside `--allow-bind`, with `marker` holding `text`.
    pub fn outside_dir(&self, text: &str) -> PathBuf {
        let d = fs::canonicalize(self.dir.path())
            .unwrap()
            .join(unique("outside"));
        fs::create_dir(&d).unwrap();
        fs::write(d.join("marker"), text).unwrap();
        d
    }

    /// Assert that the daemon shows this owner's label on a container, image, volume
    /// or network (`kind` as in [`Api::inspect`]).
    #[track_caller]
    pub fn assert_owned(&self, kind: &str, reference: &str) {
        assert_owned_by(&self.daemon, kind, reference, self.owner());
    }
}

/// Assert that the daemon (asked directly) shows `owner=<owner>` on an object.
#[track_caller]
pub fn assert_owned_by(daemon: &Daemon, kind: &str, reference: &str, owner: &str) {
    let info = Api::daemon(daemon)
        .inspect(kind, reference)
        .unwrap_or_else(|| panic!("the daemon has no {kind} {reference:?}"));
    let labels = match kind {
        "volumes" | "networks" => &info["Labels"],
        _ => &info["Config"]["Labels"],
    };
    assert_eq!(
        labels["owner"].as_str(),
        Some(owner),
        "{kind} {reference}: labels {labels}"
    );
}

/// A path inside `dir` as a string.
pub fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}
