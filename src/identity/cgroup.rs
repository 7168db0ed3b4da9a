//! Which Docker container a process runs in, read from its `/proc/<pid>/cgroup`.
//!
//! Each line of that file is `hierarchy-ID:controllers:path`: cgroup v1 has one line per
//! mounted hierarchy (`4:memory:/docker/<id>`, `1:name=systemd:...`), cgroup v2 one line
//! with an empty controller list (`0::/...`), and hybrid hosts both. The path is the
//! process's cgroup as seen from the *reader's* cgroup namespace.
//!
//! dockerd puts every process of a container (its init, `docker exec` processes, and
//! their children) in one cgroup per hierarchy whose last component names the
//! container:
//!
//! | driver | path | with `--cgroup-parent` |
//! |---|---|---|
//! | cgroupfs | `/docker/<id>` | `/<parent>/<id>` (e.g. `/kubepods/burstable/pod<uid>/<id>`) |
//! | systemd | `/system.slice/docker-<id>.scope` | `/<slices>/docker-<id>.scope` |
//!
//! where `<id>` is the container's full 64-hex-digit ID. So the rule is: **the last
//! component names the container**, and anything else that looks like a container is
//! refused rather than guessed at:
//!
//! - a container-like component *before* the last one (`/docker/<id>/sub`,
//!   `/system.slice/docker-<id>.scope/init.scope`, docker-in-docker's
//!   `/docker/<outer>/docker/<inner>`): the process sits below a container's cgroup,
//!   where dockerd never puts one, so something moved it there;
//! - another runtime's form (`cri-containerd-<id>.scope`, `crio-<id>.scope`,
//!   `libpod-<id>.scope`) or an ID in capitals: not this daemon's container;
//! - `..` in a path: the gateway runs in a cgroup namespace of its own and sees other
//!   cgroups relative to it (run it in the host's: `--cgroupns host`);
//! - ` (deleted)`: the process's cgroup is gone;
//! - lines that name two different containers.
//!
//! Lines that name no container are fine next to lines that name one: hierarchies the
//! runtime does not manage keep the cgroup the process started in (on hybrid hosts an
//! older runc leaves the unified hierarchy at `0::/system.slice/containerd.service`).
//! That does not let a process pick its container: moving a process between cgroups
//! takes write access to the cgroup tree, which only the host's root and privileged
//! containers have, and both can reach the daemon directly anyway.

use std::fmt;

/// Where a process runs, as its cgroup file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// In no container: no line names one.
    Host,
    /// In the Docker container with this full ID.
    Container(String),
}

/// Why a cgroup file names no container unambiguously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupError {
    /// A line that is not `hierarchy-ID:controllers:/path`, or no line at all.
    Malformed(String),
    /// The process's cgroup has been removed.
    Deleted(String),
    /// A path outside the reader's cgroup namespace (`/..`).
    OutsideNamespace(String),
    /// A container-like component that is not the last one.
    BelowContainer(String),
    /// A component that looks like a container ID but is not one of dockerd's forms.
    Unrecognized { component: String, path: String },
    /// Two lines name different containers.
    Conflicting(String, String),
}

impl fmt::Display for CgroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupError::Malformed(line) => write!(f, "unreadable cgroup line {line:?}"),
            CgroupError::Deleted(path) => write!(f, "its cgroup {path} has been removed"),
            CgroupError::OutsideNamespace(path) => write!(
                f,
                "its cgroup {path} lies outside the gateway's cgroup namespace (run the \
                 gateway in the host's cgroup namespace, e.g. docker run --cgroupns host)"
            ),
            CgroupError::BelowContainer(path) => write!(
                f,
                "its cgroup {path} lies below a container's cgroup, where dockerd puts no \
                 process, so the container cannot be told for sure"
            ),
            CgroupError::Unrecognized { component, path } => write!(
                f,
                "its cgroup {path} names a container as {component:?}, which is not how \
                 dockerd names its containers (another runtime's?)"
            ),
            CgroupError::Conflicting(a, b) => write!(
                f,
                "its cgroups name two containers, {} and {}",
                short(a),
                short(b)
            ),
        }
    }
}

/// The first 12 digits of an ID, as docker shows it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Reads a `/proc/<pid>/cgroup` file.
pub fn placement(file: &str) -> Result<Placement, CgroupError> {
    let mut found: Option<&str> = None;
    let mut lines = 0;
    for line in file.lines().filter(|l| !l.is_empty()) {
        lines += 1;
        let mut fields = line.splitn(3, ':');
        let (Some(hierarchy), Some(_controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(CgroupError::Malformed(line.to_string()));
        };
        if hierarchy.is_empty() || !hierarchy.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CgroupError::Malformed(line.to_string()));
        }
        if let Some(id) = container_of_path(path)? {
            match found {
                Some(other) if other != id => {
                    return Err(CgroupError::Conflicting(other.to_string(), id.to_string()));
                }
                _ => found = Some(id),
            }
        }
    }
    if lines == 0 {
        return Err(CgroupError::Malformed(String::new()));
    }
    Ok(found.map_or(Placement::Host, |id| Placement::Container(id.to_string())))
}

/// The container one cgroup path names, if any.
fn container_of_path(path: &str) -> Result<Option<&str>, CgroupError> {
    if let Some(gone) = path.strip_suffix(" (deleted)") {
        return Err(CgroupError::Deleted(gone.to_string()));
    }
    if !path.starts_with('/') {
        return Err(CgroupError::Malformed(path.to_string()));
    }
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if components.contains(&"..") {
        return Err(CgroupError::OutsideNamespace(path.to_string()));
    }
    let mut named = None;
    for (i, component) in components.iter().enumerate() {
        match classify(component) {
            Component::Plain => {}
            Component::Unrecognized => {
                return Err(CgroupError::Unrecognized {
                    component: component.to_string(),
                    path: path.to_string(),
                });
            }
            Component::Docker(id) if i + 1 == components.len() => named = Some(id),
            Component::Docker(_) => return Err(CgroupError::BelowContainer(path.to_string())),
        }
    }
    Ok(named)
}

enum Component<'a> {
    /// Names no container.
    Plain,
    /// Names the Docker container with this ID.
    Docker(&'a str),
    /// Holds a container-like ID in a form dockerd does not use.
    Unrecognized,
}

const ID_LEN: usize = 64;

/// A component "looks like a container" when it holds 64 hex digits in a row, in any
/// case: dockerd's two forms are recognised, every other such component is refused.
fn classify(component: &str) -> Component<'_> {
    let docker_id =
        |s: &'_ str| s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if docker_id(component) {
        return Component::Docker(component);
    }
    if let Some(id) = component
        .strip_prefix("docker-")
        .and_then(|rest| rest.strip_suffix(".scope"))
        .filter(|id| docker_id(id))
    {
        return Component::Docker(id);
    }
    let mut run = 0;
    for b in component.bytes() {
        run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= ID_LEN {
            return Component::Unrecognized;
        }
    }
    Component::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1b5809d7418e91d8a79cf160b184fb74dd2a2e7f92da035f24a1a41ea153f65a";
    const OTHER: &str = "6f0cbb7b05ed1c0f2bb0e7b5b8b1cc6e4e5d4c8c4be7a6f0f8e1d2c3b4a59687";

    fn on(lines: &[&str]) -> Result<Placement, CgroupError> {
        let file: String = lines
            .iter()
            .map(|l| l.replace("<id>", ID).replace("<other>", OTHER) + "\n")
            .collect();
        placement(&file)
    }

    fn container() -> Result<Placement, CgroupError> {
        Ok(Placement::Container(ID.to_string()))
    }

    /// Files as real hosts write them, one case per driver, cgroup version and nesting.
    #[test]
    fn real_world_files() {
        let cases: &[(&str, &[&str], Result<Placement, CgroupError>)] = &[
            (
                "cgroupfs driver, cgroup v1 hybrid (this project's test host)",
                &[
                    "9:name=systemd:/docker/<id>",
                    "8:pids:/docker/<id>",
                    "4:memory:/docker/<id>",
                    "1:cpu:/docker/<id>",
                    "0::/docker/<id>",
                ],
                container(),
            ),
            (
                "cgroupfs driver, cgroup v1, combined controllers",
                &[
                    "12:cpu,cpuacct:/docker/<id>",
                    "11:net_cls,net_prio:/docker/<id>",
                    "1:name=systemd:/docker/<id>",
                ],
                container(),
            ),
            (
                "cgroupfs driver, cgroup v2",
                &["0::/docker/<id>"],
                container(),
            ),
            (
                "systemd driver, cgroup v2",
                &["0::/system.slice/docker-<id>.scope"],
                container(),
            ),
            (
                "systemd driver, cgroup v1",
                &[
                    "11:memory:/system.slice/docker-<id>.scope",
                    "1:name=systemd:/system.slice/docker-<id>.scope",
                ],
                container(),
            ),
            (
                "hybrid host, older runc leaves the unified hierarchy alone",
                &[
                    "4:memory:/docker/<id>",
                    "1:name=systemd:/docker/<id>",
                    "0::/system.slice/containerd.service",
                ],
                container(),
            ),
            (
                "controllers a runtime does not manage stay at the root",
                &["13:misc:/", "12:rdma:/", "4:memory:/docker/<id>"],
                container(),
            ),
            (
                "kubelet with dockershim, systemd driver",
                &[
                    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod4c3e2f1a_9b8d_4e7f_a6b5_c4d3e2f1a0b9.slice/docker-<id>.scope",
                ],
                container(),
            ),
            (
                "kubelet with dockershim, cgroupfs driver",
                &[
                    "11:cpu,cpuacct:/kubepods/burstable/pod4c3e2f1a-9b8d-4e7f-a6b5-c4d3e2f1a0b9/<id>",
                ],
                container(),
            ),
            (
                "--cgroup-parent /ci/jobs, cgroupfs",
                &["0::/ci/jobs/<id>"],
                container(),
            ),
            (
                "--cgroup-parent ci-jobs.slice, systemd",
                &["0::/ci.slice/ci-jobs.slice/docker-<id>.scope"],
                container(),
            ),
            (
                "ECS agent's parent: a 32-digit task id is no container",
                &["4:memory:/ecs/5a8e3f4c1b2d4e6f8a9b0c1d2e3f4a5b/<id>"],
                container(),
            ),
            (
                "a login session, cgroup v2",
                &["0::/user.slice/user-1000.slice/session-3.scope"],
                Ok(Placement::Host),
            ),
            ("the root cgroup", &["0::/"], Ok(Placement::Host)),
            ("systemd's own", &["0::/init.scope"], Ok(Placement::Host)),
            (
                "a service, cgroup v1",
                &[
                    "4:memory:/system.slice/docker.service",
                    "1:name=systemd:/system.slice/docker.service",
                ],
                Ok(Placement::Host),
            ),
            (
                "a sandbox's 32-digit cgroup",
                &[
                    "4:memory:/process_api/35f6a38c771a8ca9125bb7c15e4480a0",
                    "0::/",
                ],
                Ok(Placement::Host),
            ),
            (
                "docker-in-docker: the inner container is the inner daemon's",
                &["0::/docker/<other>/docker/<id>"],
                Err(CgroupError::BelowContainer(format!(
                    "/docker/{OTHER}/docker/{ID}"
                ))),
            ),
            (
                "systemd inside a container moved itself down",
                &["0::/system.slice/docker-<id>.scope/init.scope"],
                Err(CgroupError::BelowContainer(format!(
                    "/system.slice/docker-{ID}.scope/init.scope"
                ))),
            ),
            (
                "a sub-cgroup of a container",
                &["8:pids:/docker/<id>/sub", "4:memory:/docker/<id>"],
                Err(CgroupError::BelowContainer(format!("/docker/{ID}/sub"))),
            ),
            (
                "containerd's CRI",
                &[
                    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-<id>.scope",
                ],
                Err(CgroupError::Unrecognized {
                    component: format!("cri-containerd-{ID}.scope"),
                    path: format!(
                        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{ID}.scope"
                    ),
                }),
            ),
            (
                "CRI-O",
                &["0::/kubepods.slice/crio-<id>.scope"],
                Err(CgroupError::Unrecognized {
                    component: format!("crio-{ID}.scope"),
                    path: format!("/kubepods.slice/crio-{ID}.scope"),
                }),
            ),
            (
                "podman",
                &["0::/machine.slice/libpod-<id>.scope/container"],
                Err(CgroupError::Unrecognized {
                    component: format!("libpod-{ID}.scope"),
                    path: format!("/machine.slice/libpod-{ID}.scope/container"),
                }),
            ),
            (
                "the gateway in a cgroup namespace of its own",
                &["0::/../../system.slice/docker-<id>.scope"],
                Err(CgroupError::OutsideNamespace(format!(
                    "/../../system.slice/docker-{ID}.scope"
                ))),
            ),
            (
                "a removed cgroup",
                &["0::/docker/<id> (deleted)"],
                Err(CgroupError::Deleted(format!("/docker/{ID}"))),
            ),
            (
                "two containers at once",
                &["4:memory:/docker/<id>", "8:pids:/docker/<other>"],
                Err(CgroupError::Conflicting(ID.to_string(), OTHER.to_string())),
            ),
            ("no line", &[], Err(CgroupError::Malformed(String::new()))),
            (
                "a line without a path",
                &["0:"],
                Err(CgroupError::Malformed("0:".to_string())),
            ),
            (
                "a relative path",
                &["0::docker/<id>"],
                Err(CgroupError::Malformed(format!("docker/{ID}"))),
            ),
        ];
        for (what, lines, want) in cases {
            assert_eq!(&on(lines), want, "{what}");
        }
    }

    #[test]
    fn ids_in_capitals_or_odd_lengths_are_not_dockers() {
        let upper = ID.to_ascii_uppercase();
        assert!(matches!(
            placement(&format!("0::/docker/{upper}\n")),
            Err(CgroupError::Unrecognized { .. })
        ));
        assert!(matches!(
            placement(&format!("0::/docker-{ID}\n")),
            Err(CgroupError::Unrecognized { .. })
        ));
        // 63 digits: no container, nothing to refuse.
        assert_eq!(
            placement(&format!("0::/docker/{}\n", &ID[1..])),
            Ok(Placement::Host)
        );
        // 65 digits hold a 64-digit run: refused, not cut down to an ID.
        assert!(matches!(
            placement(&format!("0::/docker/{ID}0\n")),
            Err(CgroupError::Unrecognized { .. })
        ));
    }

    #[test]
    fn a_colon_in_a_path_is_part_of_it() {
        assert_eq!(
            placement("0::/odd:name/x\n"),
            Ok(Placement::Host),
            "splits at the first two colons only"
        );
        assert!(matches!(
            placement("x::/\n"),
            Err(CgroupError::Malformed(_))
        ));
    }

    #[test]
    fn messages_say_why() {
        let e = on(&["0::/../docker/<id>"]).unwrap_err();
        assert!(e.to_string().contains("--cgroupns host"), "{e}");
        let e = on(&["4:memory:/docker/<id>", "8:pids:/docker/<other>"]).unwrap_err();
        assert!(e.to_string().contains(&ID[..12]), "{e}");
    }
}
