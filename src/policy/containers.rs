//! Containers and exec instances under `--confine`: create, update, exec, commit, and
//! the endpoint settings a create or a network connect carries.
//!
//! Each body is decoded the way dockerd 20.10 decodes it ([`crate::gojson`]), checked,
//! changed where the gateway decides, and forwarded as the gateway's own
//! serialisation. The checks are pure functions over the decoded tree; what only the
//! daemon can answer (which object a reference names, whose it is) is collected by
//! them as [`Refs`] and resolved afterwards, and the body is then rewritten to the
//! full IDs that were checked.
//!
//! # Create (`POST /containers/create`)
//!
//! **One host configuration.** 20.10's `ContainerConfigWrapper` embeds a second
//! `*HostConfig` whose fields sit at the top level of the body, and
//! `getHostConfig` reads it at every API version: alone it is used as it is; next to
//! an inner `HostConfig` it fills the inner `Memory`, `MemorySwap`, `CpuShares`,
//! `CpusetCpus` and `VolumeDriver` where those are zero; the top-level `Cpuset`
//! fills `CpusetCpus`. The gateway computes that result
//! ([`effective_host_config`]), checks it, and sends it as the only `HostConfig`,
//! with no top-level host keys and no `Cpuset`.
//!
//! **Refused** (403 unless malformed, which is 400):
//! - `Privileged`; any `CapAdd`; `Devices`, `DeviceCgroupRules`, `DeviceRequests`;
//! - host namespaces: `NetworkMode` `host` (and any network that resolves to the host
//!   network), `PidMode` other than `""` or `container:<owned>`, `IpcMode` other than
//!   `""`/`private`/`shareable`/`none`/`container:<owned>`, `UTSMode` and
//!   `UsernsMode` other than `""`, `CgroupnsMode` other than `""`/`private`;
//! - bind mounts (`Binds` with an absolute source, `Mounts` type `bind`) outside
//!   `--allow-bind`, with `..`, or leading out of it through a symbolic link;
//!   propagation other than `private`/`rprivate`; `Mounts` types other than
//!   `bind`/`volume`/`tmpfs`;
//! - volume plugins and driver options: a non-empty `VolumeDriver`, a
//!   `VolumeOptions.DriverConfig` (the local driver's `type=none,o=bind` mounts any
//!   host path);
//! - `SecurityOpt` other than `no-new-privileges` (`=true`, `:true`); `MaskedPaths`
//!   or `ReadonlyPaths` that are not null (`[]` unmasks `/proc`); a `Runtime` other
//!   than `runc`; `Sysctls`; `Cgroup`; a `CgroupParent` unless `--cgroup-parent`
//!   forces one; a negative `OomScoreAdj`; `OomKillDisable`;
//! - `LogConfig.Type` other than `json-file`, `local`, `none` (remote drivers ship the
//!   logs elsewhere, `awslogs`/`gcplogs` with the daemon's credentials, `journald`
//!   writes the host's journal);
//! - `PortBindings` with a `HostIp` other than all addresses (`""`, `0.0.0.0`, `::`)
//!   or loopback (`127.0.0.1`, `::1`): publishing is allowed (`-p 8080:80` binds every
//!   address), choosing a particular host interface is the operator's business, and a
//!   value `net.ParseIP` cannot read is silently all addresses in the daemon;
//! - references to objects that are not this job's: the image (may also be nobody's,
//!   like a pulled base), `container:` modes, `Links`, `VolumesFrom`, user networks
//!   and `EndpointsConfig` keys, named volumes; more than one `EndpointsConfig` entry
//!   (the daemon refuses that too); endpoint `DriverOpts`.
//!
//! **Rewritten:** `Image` to the image's full ID; the owner label forced into
//! `Labels` (the daemon fills missing keys from the image's labels, so it must always
//! be set); `container:<ref>` modes, `Links` and `VolumesFrom` to the checked
//! container's full ID; a user `NetworkMode` to the network's full ID, with an
//! `EndpointsConfig` entry under its name pinning `NetworkID` (else the daemon joins
//! whatever network has that name at the first start); every endpoint's key to its
//! network's name, its `NetworkID` to the checked network's ID (the daemon prefers a
//! client's `NetworkID` to the key), its `Links` to the checked containers' names, its
//! operational fields dropped (the keys `default`, `bridge` and `none` stay, without a
//! `NetworkID`: the daemon looks those up by name); `CgroupParent` to `--cgroup-parent` when
//! set; `CgroupnsMode` to `private` (an empty one is the host's on a cgroup v1 host,
//! and for API < 1.41); `Mounts` volumes get the owner in `VolumeOptions.Labels`;
//! named volumes that do not exist yet are created first, owned; the query keeps
//! `name` (which may not look like an ID) and `platform` only.
//!
//! # Update, exec, commit
//!
//! - `POST /containers/{id}/update`: of an owned container, by full ID; the
//!   resources a create refuses are refused (the daemon ignores most of them on an
//!   update, but a body with them has no reading the gateway wants to pass on).
//! - `POST /containers/{id}/exec`: of an owned container; `Privileged` refused.
//! - `POST /exec/{id}/start`: of an owned exec instance; the body re-serialised (the
//!   connection upgrade is carried through by [`super::assemble`]).
//! - `POST /commit`: of an owned container; the new tag may not move a name off an
//!   image this job does not own; `changes` rewritten to end with the owner `LABEL`
//!   ([`crate::dockerfile::rewrite_changes`]); a body is a `container.Config` only,
//!   with the owner label forced.
//!
//! # Limits
//!
//! - Anonymous volumes from `Binds` (`/dst`), `Config.Volumes` and the image's
//!   `VOLUME`s cannot be labelled in 20.10 (labels arrive with moby v24's
//!   `com.docker.volume.anonymous`); they are created without an owner and live and
//!   die with the container (`docker rm -v`). With `VolumeDriver` and `DriverConfig`
//!   refused they are plain local volumes. Anonymous `Mounts` volumes do carry the
//!   owner.
//! - A named volume created for a create that the daemon then refuses stays behind,
//!   owned by the job.
//! - A bind source is resolved on the gateway's host: the gateway must see the
//!   daemon's filesystem at the same paths (an `--allow-bind` path it cannot see
//!   refuses every bind under it). Between the check and the daemon's mount, a job
//!   that can write inside an allowed path (through a bind of it) can still swap a
//!   directory for a symbolic link: an `--allow-bind` path should be one per job, or
//!   one nothing writes to.
//! - Names are resolved when the request is checked: a container or network that is
//!   renamed afterwards is still the one that was checked (full IDs go out), but an
//!   endpoint link names its container by name (libnetwork resolves link targets by
//!   DNS name inside the network).
//! - Host port numbers are not limited: a job may take any free host port. Amounts
//!   (`Memory`, `PidsLimit`, `Ulimits`, `ShmSize`, ...) are not limited either.
//! - The daemon `stat`s the host paths of `BlkioWeightDevice` and the `BlkioDevice*`
//!   throttles, so their errors tell whether a host path exists.
//! - Containers show their image by ID (`docker ps`), since that is what was checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::endpoints::{Kind, Matched};
use super::owners::{self, Label, Ownership};
use super::{
    Ctx, Query, assemble, check_name, decode, force_label, images, json_body, network, rebuild_json,
};
use crate::dockerfile;
use crate::gateway::Gateway;
use crate::gojson::{Decoded, Struct, moby};
use crate::http::access_log::RequestLog;
use crate::http::body::{Body, empty};
use crate::http::error::ApiError;
use crate::http::passthrough::ConnCache;
use crate::reference;

/// How refusals say where the rule comes from.
const HERE: &str = "through this gateway (--confine)";

/// The `SecurityOpt` values allowed: the ones that only switch `no-new-privileges`
/// on (moby's `parseSecurityOpt` reads a bare key, then `key=value`, then the
/// deprecated `key:value`).
const NO_NEW_PRIVILEGES: &[&str] = &[
    "no-new-privileges",
    "no-new-privileges=true",
    "no-new-privileges:true",
];

/// Log drivers that keep the logs with the container.
const LOG_DRIVERS: &[&str] = &["", "json-file", "local", "none"];

/// `HostIp` values allowed in `PortBindings`: every address (as with no `HostIp`) or
/// loopback.
const HOST_IPS: &[&str] = &["", "0.0.0.0", "::", "127.0.0.1", "::1"];

/// Runtimes allowed: the daemon's default.
const RUNTIMES: &[&str] = &["", "runc"];

/// `PidMode` values that need no reference (`""` is a private namespace).
const PID_MODES: &[&str] = &[""];

/// `IpcMode` values that need no reference (moby `IpcMode.Valid` without `host`).
const IPC_MODES: &[&str] = &["", "private", "shareable", "none"];

/// Propagation modes the mount parser knows (`linuxPropagationModes`).
const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];

/// Propagation that shares no mount events with the host.
const SAFE_PROPAGATIONS: &[&str] = &["", "private", "rprivate"];

/// `EndpointSettings` fields the daemon fills in itself (`cleanOperationalData`
/// clears them before a start): not the client's to set.
const ENDPOINT_OPERATIONAL: &[&str] = &[
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
];

/// The top-level fields `getHostConfig` copies into a zero inner field.
const TOP_LEVEL_FILLS: &[&str] = &[
    "Memory",
    "MemorySwap",
    "CpuShares",
    "CpusetCpus",
    "VolumeDriver",
];

/// The operator's settings the checks depend on, and the owner label.
#[derive(Debug, Clone, Copy)]
struct Rules<'a> {
    allow_bind: &'a [PathBuf],
    cgroup_parent: Option<&'a str>,
    key: &'a str,
    owner: &'a str,
    /// `--owner-from-peer`'s label key: it names owners too (the identity of a
    /// connection from inside the container), so it is the owner's on every container.
    peer_key: Option<&'a str>,
}

impl<'a> Rules<'a> {
    fn of(gateway: &'a Gateway, label: &Label<'a>) -> Rules<'a> {
        Rules {
            allow_bind: &gateway.config.allow_bind,
            cgroup_parent: gateway.config.cgroup_parent.as_deref(),
            key: label.key,
            owner: label.owner,
            peer_key: gateway.config.owner_from_peer.as_deref(),
        }
    }
}

/// The references a create body makes, which only the daemon can resolve. Each list
/// holds the references as the client wrote them, once each, in the order met.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Refs {
    image: String,
    /// From `container:` modes, `Links` and `VolumesFrom`.
    containers: Vec<String>,
    /// From a user `NetworkMode` and the `EndpointsConfig` keys.
    networks: Vec<String>,
    /// Named volumes of `Binds` and `Mounts`.
    volumes: Vec<String>,
    /// Host paths of bind mounts: the most specific allowed path above each, and the
    /// cleaned source.
    binds: Vec<(PathBuf, PathBuf)>,
}

impl Refs {
    fn container(&mut self, reference: &str) {
        push_once(&mut self.containers, reference);
    }
    fn network(&mut self, reference: &str) {
        push_once(&mut self.networks, reference);
    }
    fn volume(&mut self, name: &str) {
        push_once(&mut self.volumes, name);
    }
}

fn push_once(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|i| i == item) {
        list.push(item.to_string());
    }
}

/// What the daemon answered for [`Refs`].
#[derive(Debug, Default, Clone)]
struct Resolved {
    /// Reference → full container ID.
    containers: BTreeMap<String, String>,
    /// Reference → network.
    networks: BTreeMap<String, Net>,
}

/// A network a container may join.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Net {
    id: String,
    name: String,
    /// The daemon's own `bridge` or `none`, whose names nobody can take.
    builtin: bool,
}

impl Resolved {
    fn container(&self, reference: &str) -> Result<&str, ApiError> {
        self.containers
            .get(reference)
            .map(String::as_str)
            .ok_or_else(|| internal(format!("container {reference:?} was not resolved")))
    }

    fn network(&self, reference: &str) -> Result<&Net, ApiError> {
        self.networks
            .get(reference)
            .ok_or_else(|| internal(format!("network {reference:?} was not resolved")))
    }
}

/// A reference inside a body that names nothing is the request's fault (moby answers
/// `InvalidParameter`, 400, for a missing `Links`, `VolumesFrom` or `container:`
/// target), and must not read as a missing image: the docker CLI answers a 404 from a
/// create by pulling the image and trying again.
fn named_in_body(err: ApiError) -> ApiError {
    if err.status == StatusCode::NOT_FOUND {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: err.message,
        }
    } else {
        err
    }
}

fn refuse(message: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

fn internal(message: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error: {message}"),
    )
}

/// Sets a field the gateway decided on; a value that does not fit is the gateway's bug.
fn put(object: &mut Struct, field: &str, value: Decoded) -> Result<(), ApiError> {
    object
        .set(field, value)
        .map(drop)
        .map_err(|e| internal(format!("cannot set {field}: {e}")))
}

fn text<'a>(object: &'a Struct, field: &str) -> &'a str {
    object.get(field).and_then(Decoded::as_str).unwrap_or("")
}

fn flag(object: &Struct, field: &str) -> bool {
    object.get(field).and_then(Decoded::as_bool) == Some(true)
}

/// The strings of a `[]string` or `StrSlice` field (Go reads a `null` element of
/// `[]string` as `""`).
fn texts<'a>(object: &'a Struct, field: &str) -> Vec<&'a str> {
    object
        .get(field)
        .and_then(Decoded::as_list)
        .map(|items| items.iter().map(|i| i.as_str().unwrap_or("")).collect())
        .unwrap_or_default()
}

/// Whether a field holds something other than its zero value, as Go's `!= 0`,
/// `!= ""` or `len() > 0` would see it.
fn non_empty(object: &Struct, field: &str) -> bool {
    !is_zero(object.get(field))
}

fn is_zero(value: Option<&Decoded>) -> bool {
    match value {
        None | Some(Decoded::Null) => true,
        Some(Decoded::Bool(b)) => !b,
        Some(Decoded::Int(i)) => *i == 0,
        Some(Decoded::Uint(u)) => *u == 0,
        Some(Decoded::Float(f)) => *f == 0.0,
        Some(Decoded::Str(s)) => s.is_empty(),
        Some(Decoded::List(l)) => l.is_empty(),
        Some(Decoded::Map(m)) => m.is_empty(),
        Some(Decoded::Struct(_)) => false,
    }
}

/// The host configuration dockerd 20.10 uses for a create body, as
/// `runconfig.ContainerConfigWrapper.getHostConfig` computes it; `None` when the body
/// has none (the daemon then uses an empty one, and ignores `Cpuset`).
fn effective_host_config(wrapper: &Struct) -> Result<Option<Struct>, ApiError> {
    let top = wrapper.field("HostConfig").and_then(Decoded::as_struct);
    let inner = wrapper.get("HostConfig").and_then(Decoded::as_struct);
    let mut hc = match (top, inner) {
        (None, None) => return Ok(None),
        (Some(top), None) => top.clone(),
        (None, Some(inner)) => inner.clone(),
        (Some(top), Some(inner)) => {
            let mut hc = inner.clone();
            for field in TOP_LEVEL_FILLS {
                if let Some(value) = top.get(field).filter(|v| !is_zero(Some(v)))
                    && is_zero(hc.get(field))
                {
                    put(&mut hc, field, value.clone())?;
                }
            }
            hc
        }
    };
    let cpuset = text(wrapper, "Cpuset");
    if !cpuset.is_empty() && text(&hc, "CpusetCpus").is_empty() {
        put(&mut hc, "CpusetCpus", Decoded::Str(cpuset.to_string()))?;
    }
    Ok(Some(hc))
}

/// Takes the host configuration out of a create body as [`effective_host_config`]
/// reads it (an empty one if there is none), and removes everything else the
/// daemon could read a host configuration from: the top-level fields and `Cpuset`.
/// The caller puts the checked result back as the only `HostConfig`.
fn take_host_config(wrapper: &mut Struct) -> Result<Struct, ApiError> {
    let hc = effective_host_config(wrapper)?.unwrap_or_else(|| Struct::new(&moby::HOST_CONFIG));
    wrapper
        .set_field("HostConfig", Decoded::Null)
        .map_err(|e| {
            internal(format!(
                "cannot clear the top-level host configuration: {e}"
            ))
        })?;
    wrapper.remove("HostConfig");
    wrapper.remove("Cpuset");
    Ok(hc)
}

/// How the daemon reads a `NetworkMode` (moby `container.NetworkMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetMode<'a> {
    /// `""` (`default` to the daemon), `default`, `bridge`, `none`: the daemon's own,
    /// by names no user network can take (`IsPreDefinedNetwork`).
    Builtin,
    /// `container:<ref>`: another container's network namespace.
    Container(&'a str),
    /// Anything else: a network the daemon resolves (`FindNetwork`: full ID, name, ID
    /// prefix), which may turn out to be a predefined one.
    Network(&'a str),
}

fn network_mode(mode: &str) -> Result<NetMode<'_>, ApiError> {
    match mode {
        "" | "default" | "bridge" | "none" => Ok(NetMode::Builtin),
        "host" => Err(refuse(format!(
            "the host network is not available {HERE}: a container on the host's network \
             sees and binds every host interface; use a network of this job's, or the default"
        ))),
        _ => Ok(match container_target("NetworkMode", mode)? {
            Some(reference) => NetMode::Container(reference),
            None => NetMode::Network(mode),
        }),
    }
}

/// The `<ref>` of a `container:<ref>` mode, split as moby's `IsContainer` splits it
/// (`strings.SplitN(mode, ":", 2)`).
fn container_target<'a>(field: &str, mode: &'a str) -> Result<Option<&'a str>, ApiError> {
    match mode.split_once(':') {
        Some(("container", "")) => Err(ApiError::bad_request(format!(
            "{field} {mode:?} names no container; write container:<name or ID>"
        ))),
        Some(("container", reference)) => Ok(Some(reference)),
        _ => Ok(None),
    }
}

/// A `PidMode` or `IpcMode`: one of `plain`, or `container:<ref>` (returned). Any
/// other value is the host's namespace (`host`) or something the gateway does not
/// pass on (moby's `Valid` lets `host:<anything>` through for `PidMode`).
fn namespace_mode<'a>(
    field: &str,
    mode: &'a str,
    plain: &[&str],
) -> Result<Option<&'a str>, ApiError> {
    if plain.contains(&mode) {
        return Ok(None);
    }
    if let Some(reference) = container_target(field, mode)? {
        return Ok(Some(reference));
    }
    Err(refuse(format!(
        "{field} {mode:?} is not available {HERE}: a container gets a namespace of its own \
         or shares one of this job's containers' (container:<name>), never the host's"
    )))
}

/// A legacy link `name[:alias]` as moby's `opts.ParseLink` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link<'a> {
    name: &'a str,
    alias: &'a str,
}

fn parse_link(raw: &str) -> Result<Link<'_>, ApiError> {
    let bad = || ApiError::bad_request(format!("bad format for links: {raw:?}"));
    if raw.is_empty() {
        return Err(ApiError::bad_request("empty string specified for links"));
    }
    let parts: Vec<&str> = raw.split(':').collect();
    let link = match parts.as_slice() {
        [_] => Link {
            name: raw,
            alias: raw,
        },
        // `/name:/parent/alias`, the form inspect once printed: `path.Split` keeps
        // what follows the last `/`.
        [name, alias] if name.starts_with('/') => Link {
            name: &name[1..],
            alias: alias.rsplit('/').next().unwrap_or(""),
        },
        [name, alias] => Link { name, alias },
        _ => return Err(bad()),
    };
    if link.name.is_empty() {
        return Err(bad());
    }
    Ok(link)
}

/// A `VolumesFrom` entry `ref[:mode]` as the mount parser's `ParseVolumesFrom` reads it:
/// the reference and the mode (`rw`/`ro` and SELinux labels only).
fn parse_volumes_from(raw: &str) -> Result<(&str, Option<&str>), ApiError> {
    let (reference, mode) = match raw.split_once(':') {
        None => (raw, None),
        Some((reference, mode)) => {
            let copy_mode = mode.split(',').any(|o| o == "nocopy");
            if !valid_mount_mode(mode) || !propagation(mode).is_empty() || copy_mode {
                return Err(ApiError::bad_request(format!(
                    "invalid mode {mode:?} in VolumesFrom {raw:?}"
                )));
            }
            (reference, Some(mode))
        }
    };
    if reference.is_empty() {
        return Err(ApiError::bad_request(format!(
            "VolumesFrom {raw:?} names no container"
        )));
    }
    Ok((reference, mode))
}

/// What a `Binds` entry mounts, by `linuxParser.ParseMountRaw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bind<'a> {
    /// `/dst`: an anonymous volume.
    Anonymous,
    /// `name:/dst`: a named volume (the source is not an absolute path).
    Volume(&'a str),
    /// `/src:/dst`: a host path.
    Host(&'a str),
}

/// Reads a `Binds` entry as `ParseMountRaw` does (`linuxSplitRawSpec`: at most two
/// `:`, split in three; two parts whose second is a valid mode are refused; the source
/// is a host path exactly when `path.IsAbs`). Returns what it mounts and its mode.
fn parse_bind(raw: &str) -> Result<(Bind<'_>, &str), ApiError> {
    let invalid = || ApiError::bad_request(format!("invalid volume specification: {raw:?}"));
    if raw.matches(':').count() > 2 {
        return Err(invalid());
    }
    let parts: Vec<&str> = raw.splitn(3, ':').collect();
    let (source, mode) = match parts.as_slice() {
        ["", ..] => return Err(invalid()),
        [_] => return Ok((Bind::Anonymous, "")),
        [_, second] if valid_mount_mode(second) => return Err(invalid()),
        [source, _] => (*source, ""),
        [source, _, mode] => (*source, *mode),
        _ => return Err(invalid()),
    };
    if !valid_mount_mode(mode) {
        return Err(ApiError::bad_request(format!(
            "invalid mode {mode:?} in volume specification {raw:?}"
        )));
    }
    let bind = if source.starts_with('/') {
        Bind::Host(source)
    } else {
        Bind::Volume(source)
    };
    Ok((bind, mode))
}

/// `linuxValidMountMode`: a comma list with at most one each of `rw`/`ro`, `z`/`Z`, a
/// propagation, `nocopy`, and a consistency.
fn valid_mount_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut seen = [0u8; 5];
    for option in mode.split(',') {
        let class = match option {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            p if PROPAGATIONS.contains(&p) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        seen[class] += 1;
    }
    seen.iter().all(|&n| n <= 1)
}

/// The propagation a mode asks for (`linuxGetPropagation`: the first one named), `""`
/// for none.
fn propagation(mode: &str) -> &str {
    mode.split(',')
        .find(|o| PROPAGATIONS.contains(o))
        .unwrap_or("")
}

/// Checks a bind source against `--allow-bind`: an absolute path without `..`
/// (refused rather than cleaned: the daemon cleans lexically, and `..` after a
/// symbolic link climbs somewhere else on the host), at or below an allowed path,
/// compared component by component on the cleaned path. Returns the most specific
/// allowed path above it and the cleaned source, for [`check_bind_on_host`].
fn allowed_bind(source: &str, allowed: &[PathBuf]) -> Result<(PathBuf, PathBuf), ApiError> {
    if !source.starts_with('/') {
        return Err(ApiError::bad_request(format!(
            "bind mount source {source:?} is not an absolute path"
        )));
    }
    if source.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "bind mount source {source:?} contains a NUL byte"
        )));
    }
    let mut clean = PathBuf::from("/");
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(refuse(format!(
                    "bind mount source {source:?} contains \"..\"; {HERE} bind sources must \
                     be written without \"..\""
                )));
            }
            part => clean.push(part),
        }
    }
    let root = allowed
        .iter()
        .filter(|root| clean.starts_with(root))
        .max_by_key(|root| root.components().count());
    match root {
        Some(root) => Ok((root.clone(), clean)),
        None => Err(refuse(format!(
            "bind mount of host path {source:?} is not available {HERE}: bind sources must \
             be at or below an --allow-bind path ({}); use a volume instead",
            if allowed.is_empty() {
                "none is configured".to_string()
            } else {
                allowed
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))),
    }
}

/// Where `clean` leads on this host: every symbolic link on the way followed, the part
/// that does not exist yet appended as it is (the daemon creates missing `Binds`
/// sources as directories). A link that cannot be followed (dangling, a loop) is an
/// error: what it would lead to once its target appears cannot be ruled out.
fn resolve_on_host(clean: &Path) -> Result<PathBuf, String> {
    let mut real = PathBuf::from("/");
    let mut parts = clean
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)));
    while let Some(part) = parts.next() {
        let next = real.join(part);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                real = std::fs::canonicalize(&next).map_err(|e| {
                    format!(
                        "{} is a symbolic link the gateway cannot follow ({e})",
                        next.display()
                    )
                })?;
            }
            Ok(_) => real = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                real = next;
                real.extend(parts);
                return Ok(real);
            }
            Err(e) => return Err(format!("cannot check {}: {e}", next.display())),
        }
    }
    Ok(real)
}

/// The part of the bind check only the host can answer: `clean` (below the allowed
/// `root`) must lead, through any symbolic links, to a place at or below an allowed
/// path, as the daemon's mount would follow them. The gateway must see the allowed
/// path itself, or it cannot rule anything out.
fn check_bind_on_host(root: &Path, clean: &Path, allowed: &[PathBuf]) -> Result<(), ApiError> {
    std::fs::canonicalize(root).map_err(|e| {
        refuse(format!(
            "bind mounts below {} are not available: the gateway cannot see that path ({e}), \
             so it cannot rule out symbolic links out of it; run the gateway where it sees \
             the daemon's filesystem",
            root.display()
        ))
    })?;
    let real = resolve_on_host(clean).map_err(|why| {
        refuse(format!(
            "bind mount of {} is not available {HERE}: {why}",
            clean.display()
        ))
    })?;
    let inside = allowed
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|r| real.starts_with(&r));
    if inside {
        Ok(())
    } else {
        Err(refuse(format!(
            "bind mount of {} is not available {HERE}: through a symbolic link it leads to {}, \
             outside every --allow-bind path",
            clean.display(),
            real.display()
        )))
    }
}

/// Checks the `Config` part of a create body; returns the image reference.
fn check_config(wrapper: &Struct) -> Result<String, ApiError> {
    let image = text(wrapper, "Image");
    if image.is_empty() {
        return Err(ApiError::bad_request(
            "a container needs an image: the body's Image is empty",
        ));
    }
    Ok(image.to_string())
}

/// Checks a host configuration (the one [`effective_host_config`] computed) and lists
/// what it references.
fn check_host_config(hc: &Struct, rules: &Rules<'_>, refs: &mut Refs) -> Result<(), ApiError> {
    if flag(hc, "Privileged") {
        return Err(refuse(format!(
            "Privileged containers are not available {HERE}: a privileged container has every \
             capability and every host device"
        )));
    }
    if non_empty(hc, "CapAdd") {
        return Err(refuse(format!(
            "CapAdd {:?} is not available {HERE}: added capabilities reach the host kernel; \
             drop --cap-add",
            texts(hc, "CapAdd")
        )));
    }
    match network_mode(text(hc, "NetworkMode"))? {
        NetMode::Builtin => {}
        NetMode::Container(reference) => refs.container(reference),
        NetMode::Network(reference) => refs.network(reference),
    }
    if let Some(reference) = namespace_mode("PidMode", text(hc, "PidMode"), PID_MODES)? {
        refs.container(reference);
    }
    if let Some(reference) = namespace_mode("IpcMode", text(hc, "IpcMode"), IPC_MODES)? {
        refs.container(reference);
    }
    for (field, plain) in [
        ("UTSMode", &[""][..]),
        ("UsernsMode", &[""][..]),
        ("CgroupnsMode", &["", "private"][..]),
    ] {
        let mode = text(hc, field);
        if !plain.contains(&mode) {
            return Err(refuse(format!(
                "{field} {mode:?} is not available {HERE}: the container keeps namespaces of \
                 its own, never the host's"
            )));
        }
    }
    if non_empty(hc, "Cgroup") {
        return Err(refuse(format!(
            "Cgroup {:?} is not available {HERE}",
            text(hc, "Cgroup")
        )));
    }
    if let Some(option) = texts(hc, "SecurityOpt")
        .into_iter()
        .find(|o| !NO_NEW_PRIVILEGES.contains(o))
    {
        return Err(refuse(format!(
            "SecurityOpt {option:?} is not available {HERE}: only no-new-privileges may be \
             set; the daemon's seccomp, AppArmor and SELinux confinement stay on"
        )));
    }
    for field in ["MaskedPaths", "ReadonlyPaths"] {
        if hc.get(field).is_some() {
            return Err(refuse(format!(
                "{field} is not available {HERE}: a list there replaces the daemon's \
                 defaults and exposes the host's /proc and /sys (leave it out, or null)"
            )));
        }
    }
    let runtime = text(hc, "Runtime");
    if !RUNTIMES.contains(&runtime) {
        return Err(refuse(format!(
            "Runtime {runtime:?} is not available {HERE}; use the default runtime (runc)"
        )));
    }
    if non_empty(hc, "Sysctls") {
        return Err(refuse(format!(
            "Sysctls are not available {HERE}: they change kernel settings"
        )));
    }
    let oom = hc.get("OomScoreAdj").and_then(Decoded::as_i64).unwrap_or(0);
    if oom < 0 {
        return Err(refuse(format!(
            "OomScoreAdj {oom} is not available {HERE}: a negative score makes the kernel kill \
             host processes first; use 0 or more"
        )));
    }
    if let Some(log) = hc.get("LogConfig").and_then(Decoded::as_struct) {
        let driver = text(log, "Type");
        if !LOG_DRIVERS.contains(&driver) {
            return Err(refuse(format!(
                "log driver {driver:?} is not available {HERE}: logs stay with the container \
                 (json-file, local or none); other drivers send them off the host or use the \
                 daemon's credentials"
            )));
        }
    }
    if let Some(ports) = hc.get("PortBindings").and_then(Decoded::as_map) {
        for (port, bindings) in ports {
            for binding in bindings.as_list().unwrap_or_default() {
                let ip = binding.as_struct().map_or("", |b| text(b, "HostIp"));
                if !HOST_IPS.contains(&ip) {
                    return Err(refuse(format!(
                        "publishing port {port} on host address {ip:?} is not available \
                         {HERE}: publish on every address (no address) or on loopback \
                         (127.0.0.1, ::1)"
                    )));
                }
            }
        }
    }
    if non_empty(hc, "VolumeDriver") {
        return Err(refuse(format!(
            "VolumeDriver {:?} is not available {HERE}: volumes use the local driver",
            text(hc, "VolumeDriver")
        )));
    }
    for raw in texts(hc, "Links") {
        refs.container(parse_link(raw)?.name);
    }
    for raw in texts(hc, "VolumesFrom") {
        refs.container(parse_volumes_from(raw)?.0);
    }
    for raw in texts(hc, "Binds") {
        match parse_bind(raw)? {
            (Bind::Anonymous, _) => {}
            (Bind::Volume(name), _) => refs.volume(name),
            (Bind::Host(source), mode) => {
                refs.binds.push(allowed_bind(source, rules.allow_bind)?);
                check_propagation(propagation(mode), raw)?;
            }
        }
    }
    if let Some(mounts) = hc.get("Mounts").and_then(Decoded::as_list) {
        for (i, mount) in mounts.iter().enumerate() {
            let mount = mount
                .as_struct()
                .ok_or_else(|| internal(format!("Mounts[{i}] is not a mount")))?;
            check_mount(i, mount, rules, refs)?;
        }
    }
    check_resources(hc, rules, Use::Create)
}

fn check_propagation(propagation: &str, what: &str) -> Result<(), ApiError> {
    if SAFE_PROPAGATIONS.contains(&propagation) {
        Ok(())
    } else {
        Err(refuse(format!(
            "bind propagation {propagation:?} ({what}) is not available {HERE}: it shares \
             mounts between the container and the host; use private or rprivate"
        )))
    }
}

/// One `Mounts` entry (moby `validateMountConfigImpl` reads the same fields).
fn check_mount(
    i: usize,
    mount: &Struct,
    rules: &Rules<'_>,
    refs: &mut Refs,
) -> Result<(), ApiError> {
    let source = text(mount, "Source");
    match text(mount, "Type") {
        "bind" => {
            if source.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "Mounts[{i}]: a bind mount needs a Source"
                )));
            }
            refs.binds.push(allowed_bind(source, rules.allow_bind)?);
            let propagation = mount
                .get("BindOptions")
                .and_then(Decoded::as_struct)
                .map_or("", |b| text(b, "Propagation"));
            check_propagation(propagation, &format!("Mounts[{i}]"))?;
        }
        "volume" => {
            let driver = mount
                .get("VolumeOptions")
                .and_then(Decoded::as_struct)
                .and_then(|o| o.get("DriverConfig"));
            if driver.is_some() {
                return Err(refuse(format!(
                    "Mounts[{i}]: VolumeOptions.DriverConfig is not available {HERE}: volume \
                     drivers and their options (the local driver's type, o and device) mount \
                     host paths and network shares"
                )));
            }
            if !source.is_empty() {
                refs.volume(source);
            }
        }
        "tmpfs" => {}
        other => {
            return Err(refuse(format!(
                "Mounts[{i}]: mount type {other:?} is not available {HERE}; use bind, volume or \
                 tmpfs"
            )));
        }
    }
    Ok(())
}

/// Which request a `Resources` check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Create,
    Update,
}

/// The `container.Resources` fields that are not a question of amounts.
fn check_resources(resources: &Struct, rules: &Rules<'_>, use_: Use) -> Result<(), ApiError> {
    for field in ["Devices", "DeviceCgroupRules", "DeviceRequests"] {
        if non_empty(resources, field) {
            return Err(refuse(format!(
                "{field} is not available {HERE}: containers get no host devices"
            )));
        }
    }
    if flag(resources, "OomKillDisable") {
        return Err(refuse(format!(
            "OomKillDisable is not available {HERE}: a container the kernel may not kill \
             leaves it only host processes to kill"
        )));
    }
    let parent = text(resources, "CgroupParent");
    if !parent.is_empty() && (use_ == Use::Update || rules.cgroup_parent.is_none()) {
        return Err(refuse(format!(
            "CgroupParent {parent:?} is not available {HERE}: containers stay in the cgroup \
             the operator chose"
        )));
    }
    Ok(())
}

/// What an `EndpointsConfig` key names: `None` for the daemon's own networks by name
/// (`default`, `bridge`, `none`), which it files and looks up by name
/// (`updateContainerNetworkSettings` turns `default` into its default network, and
/// `getNetworkID` ignores a `NetworkID` for them); otherwise the network to resolve.
/// A daemon started with `--bridge=none` has no `bridge` network and still takes
/// `default`, which the docker CLI sends on every create.
fn endpoint_key(key: &str) -> Result<Option<&str>, ApiError> {
    match network_mode(key)? {
        NetMode::Builtin if key.is_empty() => Err(ApiError::bad_request(
            "an EndpointsConfig key must name a network",
        )),
        NetMode::Builtin => Ok(None),
        NetMode::Container(_) => Err(ApiError::bad_request(format!(
            "EndpointsConfig key {key:?} names no network"
        ))),
        NetMode::Network(reference) => Ok(Some(reference)),
    }
}

/// The checks of an `EndpointSettings` that need no daemon; returns its links.
fn check_endpoint_settings(endpoint: &Struct) -> Result<Vec<Link<'_>>, ApiError> {
    if non_empty(endpoint, "DriverOpts") {
        return Err(refuse(format!(
            "endpoint DriverOpts are not available {HERE}: they are options of the network \
             driver on the host"
        )));
    }
    texts(endpoint, "Links")
        .into_iter()
        .map(parse_link)
        .collect()
}

/// The `NetworkingConfig` of a create body: one entry at most, none null, keys listed
/// for resolution.
fn check_networking(wrapper: &Struct, refs: &mut Refs) -> Result<(), ApiError> {
    let Some(endpoints) = wrapper
        .get("NetworkingConfig")
        .and_then(Decoded::as_struct)
        .and_then(|n| n.get("EndpointsConfig"))
        .and_then(Decoded::as_map)
    else {
        return Ok(());
    };
    if endpoints.len() > 1 {
        return Err(ApiError::bad_request(format!(
            "Container cannot be connected to network endpoints: {}; create it on one network \
             and connect it to the others afterwards",
            endpoints.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    for (key, endpoint) in endpoints {
        let endpoint = endpoint.as_struct().ok_or_else(|| {
            ApiError::bad_request(format!("no EndpointSettings for network {key:?}"))
        })?;
        check_endpoint_settings(endpoint)?;
        if let Some(reference) = endpoint_key(key)? {
            refs.network(reference);
        }
    }
    Ok(())
}

/// Settles what the gateway decides alone: the forced `CgroupParent`, a private
/// cgroup namespace, the owner on every volume a `Mounts` entry creates (20.10 labels
/// a volume it creates from `VolumeOptions.Labels`, anonymous ones included).
fn fix_host_config(hc: &mut Struct, rules: &Rules<'_>) -> Result<(), ApiError> {
    if let Some(parent) = rules.cgroup_parent {
        put(hc, "CgroupParent", Decoded::Str(parent.to_string()))?;
    }
    put(hc, "CgroupnsMode", Decoded::Str("private".to_string()))?;
    if let Some(Decoded::List(mounts)) = hc.get_mut("Mounts") {
        for mount in mounts.iter_mut() {
            let Decoded::Struct(mount) = mount else {
                continue;
            };
            if text(mount, "Type") != "volume" {
                continue;
            }
            let mut options = match mount.remove("VolumeOptions") {
                Some(Decoded::Struct(options)) => options,
                _ => Struct::new(&moby::VOLUME_OPTIONS),
            };
            force_label(&mut options, "Labels", rules.key, rules.owner)?;
            put(mount, "VolumeOptions", Decoded::Struct(options))?;
        }
    }
    Ok(())
}

/// Everything about a create body that needs no daemon: the body left with its
/// `Config` and `NetworkingConfig`, the one host configuration (checked and with the
/// gateway's settings), and what remains to resolve.
fn prepare_create(wrapper: &mut Struct, rules: &Rules<'_>) -> Result<(Struct, Refs), ApiError> {
    let mut hc = take_host_config(wrapper)?;
    let mut refs = Refs {
        image: check_config(wrapper)?,
        ..Refs::default()
    };
    check_host_config(&hc, rules, &mut refs)?;
    check_networking(wrapper, &mut refs)?;
    fix_host_config(&mut hc, rules)?;
    Ok((hc, refs))
}

/// Rewrites the host configuration's references to what was checked: `container:`
/// modes, `Links` and `VolumesFrom` to full container IDs (the daemon's
/// `adaptSharedNamespaceContainer` would do the same for the modes, with whatever the
/// name means by then), a user network to its full ID (`FindNetwork` tries the full ID
/// first) and a predefined one to its name.
fn rewrite_host_config(hc: &mut Struct, resolved: &Resolved) -> Result<(), ApiError> {
    let mode = text(hc, "NetworkMode").to_string();
    match network_mode(&mode)? {
        NetMode::Builtin => {}
        NetMode::Container(reference) => {
            let id = resolved.container(reference)?;
            put(hc, "NetworkMode", Decoded::Str(format!("container:{id}")))?;
        }
        NetMode::Network(reference) => {
            let net = resolved.network(reference)?;
            let value = if net.builtin { &net.name } else { &net.id };
            put(hc, "NetworkMode", Decoded::Str(value.clone()))?;
        }
    }
    for (field, plain) in [("PidMode", PID_MODES), ("IpcMode", IPC_MODES)] {
        let mode = text(hc, field).to_string();
        if let Some(reference) = namespace_mode(field, &mode, plain)? {
            let id = resolved.container(reference)?;
            put(hc, field, Decoded::Str(format!("container:{id}")))?;
        }
    }
    if hc.get("Links").is_some() {
        let mut links = Vec::new();
        for raw in texts(hc, "Links") {
            let link = parse_link(raw)?;
            let id = resolved.container(link.name)?;
            links.push(Decoded::Str(format!("{id}:{}", link.alias)));
        }
        put(hc, "Links", Decoded::List(links))?;
    }
    if hc.get("VolumesFrom").is_some() {
        let mut from = Vec::new();
        for raw in texts(hc, "VolumesFrom") {
            let (reference, mode) = parse_volumes_from(raw)?;
            let id = resolved.container(reference)?;
            from.push(Decoded::Str(match mode {
                Some(mode) => format!("{id}:{mode}"),
                None => id.to_string(),
            }));
        }
        put(hc, "VolumesFrom", Decoded::List(from))?;
    }
    Ok(())
}

/// Pins a checked endpoint: `NetworkID` (which the daemon prefers to the network the
/// key or path names, `getNetworkID`) set to the checked network (dropped for the
/// daemon's own networks named by key, `network_id` empty), `Links` to the checked
/// containers' names, the daemon's own fields dropped.
fn pin_endpoint(
    endpoint: &mut Struct,
    network_id: &str,
    links: Option<Vec<String>>,
) -> Result<(), ApiError> {
    if let Some(links) = links {
        put(
            endpoint,
            "Links",
            Decoded::List(links.into_iter().map(Decoded::Str).collect()),
        )?;
    }
    if network_id.is_empty() {
        endpoint.remove("NetworkID");
    } else {
        put(endpoint, "NetworkID", Decoded::Str(network_id.to_string()))?;
    }
    for field in ENDPOINT_OPERATIONAL {
        endpoint.remove(field);
    }
    Ok(())
}

/// Puts the checked parts together: the image by full ID, the owner label, the one
/// `HostConfig`.
fn finish_create(
    wrapper: &mut Struct,
    hc: Struct,
    image_id: &str,
    rules: &Rules<'_>,
) -> Result<(), ApiError> {
    put(wrapper, "Image", Decoded::Str(image_id.to_string()))?;
    force_label(wrapper, "Labels", rules.key, rules.owner)?;
    // Without this a job could label a child container with another job's ID under the
    // peer key and, from inside it, connect as that job (see `crate::identity`).
    if let Some(peer_key) = rules.peer_key {
        force_label(wrapper, "Labels", peer_key, rules.owner)?;
    }
    put(wrapper, "HostConfig", Decoded::Struct(hc))
}

/// `POST /containers/create`.
pub(super) async fn create(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let gateway = ctx.gateway;
    let rules = Rules::of(gateway, &ctx.label);
    let mut query = Query::parse(req.uri().query(), &[])?;
    query.keep(&["name", "platform"]);
    let name = query.get("name");
    if !name.is_empty() {
        check_name(Kind::Container, name)?;
    }
    let (parts, body) = req.into_parts();
    let bytes = json_body(&parts.headers, body, gateway.config.max_body_size).await?;
    let mut decoded = decode(&bytes, &moby::CONTAINER_CREATE, "container create")?;
    let wrapper = decoded
        .as_struct_mut()
        .ok_or_else(|| ApiError::bad_request("the container create body must be a JSON object"))?;
    let (mut hc, refs) = prepare_create(wrapper, &rules)?;

    for (root, clean) in &refs.binds {
        check_bind_on_host(root, clean, rules.allow_bind)?;
    }
    // Under --confine an image is used like a build base: this job's or nobody's.
    let image = ctx.owned(Kind::Image, &refs.image, true).await?;
    let mut resolved = Resolved::default();
    for reference in &refs.containers {
        let found = ctx
            .owned(Kind::Container, reference, false)
            .await
            .map_err(named_in_body)?;
        resolved.containers.insert(reference.clone(), found.id);
    }
    for reference in &refs.networks {
        let found = network(ctx, reference, true).await.map_err(named_in_body)?;
        let name = found
            .info
            .get("Name")
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| internal(format!("network {reference:?} has no name")))?
            .to_string();
        let builtin = found.ownership != Ownership::Mine;
        resolved.networks.insert(
            reference.clone(),
            Net {
                id: found.id,
                name,
                builtin,
            },
        );
    }
    let mode_network = match network_mode(text(&hc, "NetworkMode"))? {
        NetMode::Network(reference) => Some(resolved.network(reference)?.clone()),
        _ => None,
    };
    endpoints(ctx, wrapper, mode_network.as_ref(), &resolved).await?;
    rewrite_host_config(&mut hc, &resolved)?;
    finish_create(wrapper, hc, &image.id, &rules)?;
    // Last, so that a refused request leaves nothing behind.
    for name in &refs.volumes {
        ensure_volume(ctx, name).await?;
    }
    let path = ctx.path(matched.pattern, None);
    let request = rebuild_json(parts, path, &query, decoded.to_json());
    Ok(ctx.forward(request, cache, log).await)
}

/// Rewrites the `EndpointsConfig` of a create body: each entry checked
/// ([`check_endpoint`]) and keyed by its network's name, which is where the daemon
/// files it (`updateContainerNetworkSettings` keys the container's networks by name;
/// a full ID as key would stay a key of its own). A user `NetworkMode` with no entry
/// gets one pinning its `NetworkID`: otherwise the daemon would connect the container
/// at start to whatever network has that name by then.
async fn endpoints(
    ctx: &mut Ctx<'_>,
    wrapper: &mut Struct,
    mode_network: Option<&Net>,
    resolved: &Resolved,
) -> Result<(), ApiError> {
    let mut networking = match wrapper.remove("NetworkingConfig") {
        Some(Decoded::Struct(networking)) => networking,
        _ => Struct::new(&moby::NETWORKING_CONFIG),
    };
    let entries = match networking.remove("EndpointsConfig") {
        Some(Decoded::Map(entries)) => entries,
        _ => BTreeMap::new(),
    };
    let mut pinned = BTreeMap::new();
    for (key, endpoint) in entries {
        let Decoded::Struct(mut endpoint) = endpoint else {
            return Err(ApiError::bad_request(format!(
                "no EndpointSettings for network {key:?}"
            )));
        };
        match endpoint_key(&key)? {
            None => {
                check_endpoint(ctx, &mut endpoint, "").await?;
                pinned.insert(key, Decoded::Struct(endpoint));
            }
            Some(reference) => {
                let net = resolved.network(reference)?;
                check_endpoint(ctx, &mut endpoint, &net.id).await?;
                pinned.insert(net.name.clone(), Decoded::Struct(endpoint));
            }
        }
    }
    if pinned.is_empty()
        && let Some(net) = mode_network.filter(|n| !n.builtin)
    {
        let mut endpoint = Struct::new(&moby::ENDPOINT_SETTINGS);
        pin_endpoint(&mut endpoint, &net.id, None)?;
        pinned.insert(net.name.clone(), Decoded::Struct(endpoint));
    }
    if !pinned.is_empty() {
        put(&mut networking, "EndpointsConfig", Decoded::Map(pinned))?;
        put(wrapper, "NetworkingConfig", Decoded::Struct(networking))?;
    }
    Ok(())
}

/// Makes sure the named volume `name` exists and is this job's: an existing one must
/// be, a missing one is created with the owner label. The daemon answers a create of
/// a name someone took in the meantime with that volume, unchanged and with 201, so
/// the answer's labels decide.
async fn ensure_volume(ctx: &mut Ctx<'_>, name: &str) -> Result<(), ApiError> {
    if let Some(found) = owners::find(&mut ctx.client, Kind::Volume, name, &ctx.label).await? {
        return match found.ownership {
            Ownership::Mine => Ok(()),
            other => Err(owners::not_yours(Kind::Volume, name, other)),
        };
    }
    let mut labels = serde_json::Map::new();
    labels.insert(
        ctx.label.key.to_string(),
        serde_json::Value::String(ctx.label.owner.to_string()),
    );
    let body = serde_json::json!({ "Name": name, "Labels": labels });
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let answer = ctx
        .client
        .call(
            Method::POST,
            "/volumes/create",
            headers,
            Some(body.to_string().into()),
        )
        .await?;
    if !answer.status.is_success() {
        return Err(ApiError::new(
            answer.status,
            format!(
                "cannot create volume {name:?} for the container: {}",
                answer.message()
            ),
        ));
    }
    let value = answer.json()?;
    if value.get("Name").and_then(|n| n.as_str()) != Some(name) {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the Docker daemon answered the creation of volume {name:?} with another volume"
            ),
        ));
    }
    match owners::owner_of(value.get("Labels"), &ctx.label) {
        Ownership::Mine => Ok(()),
        other => Err(owners::not_yours(Kind::Volume, name, other)),
    }
}

/// Checks an `EndpointSettings` for network `network_id` and pins its `NetworkID`
/// (`network_id` is empty for a create's entry keyed `default`, `bridge` or `none`,
/// which the daemon resolves by name whatever the entry says).
///
/// Used by a create's `EndpointsConfig` and by `POST /networks/{id}/connect`. Its
/// `Links` must name this job's containers; they go out as those containers' names,
/// because libnetwork resolves a link target by DNS name inside the network
/// (`buildJoinOptions` → `CreateOptionAlias`), where a full ID is no name. `DriverOpts`
/// are refused; `Aliases`, `IPAMConfig` and `MacAddress` are kept.
pub(super) async fn check_endpoint(
    ctx: &mut Ctx<'_>,
    endpoint: &mut Struct,
    network_id: &str,
) -> Result<(), ApiError> {
    let links: Vec<(String, String)> = check_endpoint_settings(endpoint)?
        .into_iter()
        .map(|l| (l.name.to_string(), l.alias.to_string()))
        .collect();
    let mut pinned = Vec::new();
    for (name, alias) in &links {
        let found = ctx
            .owned(Kind::Container, name, false)
            .await
            .map_err(named_in_body)?;
        let current = found
            .info
            .get("Name")
            .and_then(|n| n.as_str())
            .map(|n| n.trim_start_matches('/'))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| internal(format!("container {name:?} has no name")))?;
        pinned.push(format!("{current}:{alias}"));
    }
    let links = endpoint.get("Links").is_some().then_some(pinned);
    pin_endpoint(endpoint, network_id, links)
}

/// The body of `POST /containers/{id}/update`, checked and re-serialised.
fn update_body(bytes: &[u8], rules: &Rules<'_>) -> Result<String, ApiError> {
    let decoded = decode(bytes, &moby::CONTAINER_UPDATE, "container update")?;
    let update = decoded
        .as_struct()
        .ok_or_else(|| ApiError::bad_request("the update body must be a JSON object"))?;
    check_resources(update, rules, Use::Update)?;
    Ok(decoded.to_json())
}

/// `POST /containers/{name}/update`.
pub(super) async fn update(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let rules = Rules::of(ctx.gateway, &ctx.label);
    let body = |bytes: &[u8]| update_body(bytes, &rules);
    owned_with_body(ctx, matched, req, cache, log, Kind::Container, body).await
}

/// What update, exec create and exec start have in common: the object in the path
/// must be this owner's and goes out as its full ID, the query is dropped (they take
/// none), and the JSON body goes out as `body` re-serialised it.
async fn owned_with_body(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
    kind: Kind,
    body: impl FnOnce(&[u8]) -> Result<String, ApiError>,
) -> Result<Response<Body>, ApiError> {
    let reference = matched.name.clone().unwrap_or_default();
    let found = ctx.owned(kind, &reference, false).await?;
    let mut query = Query::parse(req.uri().query(), &[])?;
    query.keep(&[]);
    let (parts, incoming) = req.into_parts();
    let bytes = json_body(&parts.headers, incoming, ctx.gateway.config.max_body_size).await?;
    let json = body(&bytes)?;
    let path = ctx.path(matched.pattern, Some(&found.id));
    let request = rebuild_json(parts, path, &query, json);
    Ok(ctx.forward(request, cache, log).await)
}

/// The body of `POST /containers/{id}/exec`: no privileged exec (moby's
/// `exec_linux.go` gives it every capability, whatever the container has).
fn exec_body(bytes: &[u8]) -> Result<String, ApiError> {
    let decoded = decode(bytes, &moby::EXEC_CREATE, "exec create")?;
    let exec = decoded
        .as_struct()
        .ok_or_else(|| ApiError::bad_request("the exec body must be a JSON object"))?;
    if flag(exec, "Privileged") {
        return Err(refuse(format!(
            "privileged exec is not available {HERE}: the process would get every capability; \
             drop --privileged"
        )));
    }
    Ok(decoded.to_json())
}

/// `POST /containers/{name}/exec`.
pub(super) async fn exec_create(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    owned_with_body(ctx, matched, req, cache, log, Kind::Container, exec_body).await
}

/// The body of `POST /exec/{id}/start`, re-serialised: `Detach` and `Tty` only. An
/// empty body is refused, as 20.10 refuses it ("got EOF").
fn exec_start_body(bytes: &[u8]) -> Result<String, ApiError> {
    let decoded = decode(bytes, &moby::EXEC_START, "exec start")?;
    if decoded.as_struct().is_none() {
        return Err(ApiError::bad_request(
            "the exec start body must be a JSON object",
        ));
    }
    Ok(decoded.to_json())
}

/// `POST /exec/{id}/start`. Unless detached, the daemon takes the connection over;
/// the client's `Upgrade` and the connection itself are carried by
/// [`super::assemble`], and the passthrough splices the two connections.
pub(super) async fn exec_start(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    owned_with_body(ctx, matched, req, cache, log, Kind::Exec, exec_start_body).await
}

/// The body of `POST /commit`: `None` to send none. dockerd decodes it with the create
/// wrapper and uses only its `Config` (`postCommit`), and with no `Config` commits the
/// container's own (which, the container being this job's, carries the owner). A
/// `Config` gets the owner label forced; host and network settings, which the daemon
/// would drop, are refused so that the body has one reading.
fn commit_body(bytes: &[u8], rules: &Rules<'_>) -> Result<Option<String>, ApiError> {
    // Go's decoder answers io.EOF for a body of only whitespace; postCommit takes that
    // as no body.
    if bytes.trim_ascii().is_empty() {
        return Ok(None);
    }
    let mut decoded = decode(bytes, &moby::CONTAINER_CREATE, "commit")?;
    let wrapper = decoded
        .as_struct_mut()
        .ok_or_else(|| ApiError::bad_request("the commit body must be a JSON object"))?;
    let host = wrapper.field("HostConfig").is_some()
        || wrapper.get("HostConfig").is_some()
        || wrapper.get("NetworkingConfig").is_some()
        || wrapper.get("Cpuset").is_some();
    if host {
        return Err(ApiError::bad_request(
            "a commit body is an image configuration (Cmd, Env, Labels, ...); host and network \
             settings (HostConfig, NetworkingConfig, Cpuset, or their fields) do not belong in it",
        ));
    }
    if wrapper.field("Config").is_none() {
        return Ok(None);
    }
    force_label(wrapper, "Labels", rules.key, rules.owner)?;
    Ok(Some(decoded.to_json()))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`.
pub(super) async fn commit(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let gateway = ctx.gateway;
    let rules = Rules::of(gateway, &ctx.label);
    let mut query = Query::parse(req.uri().query(), &["changes"])?;
    query.keep(&[
        "container",
        "repo",
        "tag",
        "comment",
        "author",
        "pause",
        "changes",
    ]);
    let container = query.get("container").to_string();
    let found = ctx.owned(Kind::Container, &container, false).await?;
    query.set("container", &found.id);
    // postCommit → CreateImageFromContainer → TagImage(repo, tag), only with a repo.
    let repo = query.get("repo").to_string();
    if !repo.is_empty() {
        let target = reference::tag_target(&repo, query.get("tag"))
            .map_err(|e| ApiError::bad_request(format!("invalid repository or tag: {e}")))?;
        images::check_target(ctx, &target, false).await?;
    }
    let changes = query.all("changes");
    let rewritten = dockerfile::rewrite_changes(&changes, rules.key, rules.owner)
        .map_err(|e| ApiError::bad_request(format!("changes: {e}")))?;
    query.set_all("changes", &[rewritten]);
    let (parts, body) = req.into_parts();
    let bytes = json_body(&parts.headers, body, gateway.config.max_body_size).await?;
    let path = ctx.path(matched.pattern, None);
    let request = match commit_body(&bytes, &rules)? {
        Some(json) => rebuild_json(parts, path, &query, json),
        None => assemble(parts, path, &query, empty(), None),
    };
    Ok(ctx.forward(request, cache, log).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson::{self, Schema, StructDef};

    /// `HostConfig` fields (its `Resources` included) that a check looks at. Every other
    /// field is passed on as decoded; `every_host_config_field_is_decided` keeps the two
    /// lists equal to moby's type.
    const CHECKED_HOST_FIELDS: &[&str] = &[
        "Binds",
        "LogConfig",
        "NetworkMode",
        "PortBindings",
        "VolumeDriver",
        "VolumesFrom",
        "CapAdd",
        "CgroupnsMode",
        "IpcMode",
        "Cgroup",
        "Links",
        "OomScoreAdj",
        "PidMode",
        "Privileged",
        "SecurityOpt",
        "UTSMode",
        "UsernsMode",
        "Sysctls",
        "Runtime",
        "Mounts",
        "MaskedPaths",
        "ReadonlyPaths",
        "CgroupParent",
        "Devices",
        "DeviceCgroupRules",
        "DeviceRequests",
        "OomKillDisable",
    ];

    /// `HostConfig` fields passed on as they are: what happens inside the container, or
    /// a question of resources.
    const PLAIN_HOST_FIELDS: &[&str] = &[
        "ContainerIDFile",
        "RestartPolicy",
        "AutoRemove",
        "CapDrop",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "PublishAllPorts",
        "ReadonlyRootfs",
        "StorageOpt",
        "Tmpfs",
        "ShmSize",
        "ConsoleSize",
        "Isolation",
        "Init",
        "CpuShares",
        "Memory",
        "NanoCpus",
        "BlkioWeight",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "CpusetCpus",
        "CpusetMems",
        "KernelMemory",
        "KernelMemoryTCP",
        "MemoryReservation",
        "MemorySwap",
        "MemorySwappiness",
        "PidsLimit",
        "Ulimits",
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
    ];
    const OWNER: &str = "job-1";

    fn rules(allow: &[PathBuf]) -> Rules<'_> {
        Rules {
            allow_bind: allow,
            cgroup_parent: None,
            key: "owner",
            owner: OWNER,
            peer_key: None,
        }
    }

    fn ci() -> Vec<PathBuf> {
        vec![PathBuf::from("/srv/ci"), PathBuf::from("/srv/ci/deep")]
    }

    fn body(json: &str) -> Decoded {
        gojson::decode_bytes(json.as_bytes(), &moby::CONTAINER_CREATE)
            .unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    /// `prepare_create` on a body: the rest of the body, the host configuration, the
    /// references.
    fn prepared(json: &str, rules: &Rules<'_>) -> Result<(Decoded, Struct, Refs), ApiError> {
        let mut decoded = body(json);
        let wrapper = decoded.as_struct_mut().expect("a struct");
        let (hc, refs) = prepare_create(wrapper, rules)?;
        Ok((decoded, hc, refs))
    }

    fn value(json: &str) -> serde_json::Value {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn with_host(hc: &str) -> String {
        format!(r#"{{"Image":"busybox","HostConfig":{hc}}}"#)
    }

    #[test]
    fn top_level_host_config_is_read_like_get_host_config() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"Image":"i"}"#, None),
            (
                r#"{"Image":"i","Privileged":true}"#,
                Some(r#"{"Privileged":true}"#),
            ),
            (
                r#"{"Image":"i","HostConfig":null,"PidMode":"host"}"#,
                Some(r#"{"PidMode":"host"}"#),
            ),
            // The inner one wins, whole: top-level Privileged is dropped.
            (
                r#"{"Image":"i","Privileged":true,"HostConfig":{}}"#,
                Some("{}"),
            ),
            (
                r#"{"Image":"i","Memory":7,"MemorySwap":9,"CpuShares":3,"CpusetCpus":"0","VolumeDriver":"x","Privileged":true,"HostConfig":{"Memory":5}}"#,
                Some(
                    r#"{"Memory":5,"MemorySwap":9,"CpuShares":3,"CpusetCpus":"0","VolumeDriver":"x"}"#,
                ),
            ),
            (
                r#"{"Image":"i","Memory":7,"HostConfig":{"Memory":0}}"#,
                Some(r#"{"Memory":7}"#),
            ),
            (
                r#"{"Image":"i","Cpuset":"1","HostConfig":{}}"#,
                Some(r#"{"CpusetCpus":"1"}"#),
            ),
            (
                r#"{"Image":"i","Cpuset":"1","HostConfig":{"CpusetCpus":"2"}}"#,
                Some(r#"{"CpusetCpus":"2"}"#),
            ),
            // With no host configuration at all, Cpuset is ignored.
            (r#"{"Image":"i","Cpuset":"1"}"#, None),
            (
                r#"{"Image":"i","Cpuset":"1","Memory":1}"#,
                Some(r#"{"Memory":1,"CpusetCpus":"1"}"#),
            ),
            // A null for a promoted field still allocates the embedded HostConfig.
            (r#"{"Image":"i","Privileged":null}"#, Some("{}")),
            (
                r#"{"Image":"i","hostconfig":{"privileged":true}}"#,
                Some(r#"{"Privileged":true}"#),
            ),
            (
                r#"{"Image":"i","HostConfig":{},"hostconfig":{"Privileged":true}}"#,
                Some(r#"{"Privileged":true}"#),
            ),
            (
                r#"{"Image":"i","HostConfig":{"Privileged":true},"HostConfig":{"Memory":7}}"#,
                Some(r#"{"Privileged":true,"Memory":7}"#),
            ),
        ];
        for (json, want) in cases {
            let decoded = body(json);
            let got = effective_host_config(decoded.as_struct().unwrap()).unwrap();
            assert_eq!(
                got.map(|hc| value(&Decoded::Struct(hc).to_json())),
                want.map(value),
                "{json}"
            );
        }
    }

    #[test]
    fn what_goes_out_has_one_host_configuration() {
        let r = rules(&[]);
        for json in [
            r#"{"Image":"i","Privileged":true,"HostConfig":{}}"#,
            r#"{"Image":"i","Memory":7,"Cpuset":"0"}"#,
            r#"{"Image":"i","Cpuset":"0"}"#,
            r#"{"Image":"i","HostConfig":null,"Memory":7}"#,
            r#"{"Image":"i","Labels":{"owner":"evil","OWNER":"x"},"Cmd":"ls -l"}"#,
        ] {
            let (mut decoded, hc, _) = prepared(json, &r).unwrap();
            let wrapper = decoded.as_struct_mut().unwrap();
            finish_create(wrapper, hc, &format!("sha256:{}", "a".repeat(64)), &r).unwrap();
            let out = decoded.to_json();
            let again = body(&out);
            let again = again.as_struct().unwrap();
            assert!(again.field("HostConfig").is_none(), "{json} -> {out}");
            assert!(again.get("Cpuset").is_none(), "{json} -> {out}");
            let v = value(&out);
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            let config_fields: Vec<&str> = moby::CONFIG.fields.iter().map(|f| f.name).collect();
            for key in &keys {
                assert!(
                    config_fields.contains(key) || *key == "HostConfig",
                    "{json} -> {out}: {key}"
                );
            }
            assert_eq!(v["Labels"]["owner"], OWNER, "{out}");
            assert_eq!(v["Image"], format!("sha256:{}", "a".repeat(64)));
            assert_eq!(v["HostConfig"]["CgroupnsMode"], "private", "{out}");
            assert!(v["HostConfig"].get("Privileged").is_none(), "{out}");
        }
        let (decoded, _, _) =
            prepared(r#"{"Image":"i","Labels":{"owner":"evil","OWNER":"x"}}"#, &r).unwrap();
        let mut decoded = decoded;
        let wrapper = decoded.as_struct_mut().unwrap();
        finish_create(wrapper, Struct::new(&moby::HOST_CONFIG), "sha256:x", &r).unwrap();
        let v = value(&decoded.to_json());
        assert_eq!(v["Labels"]["OWNER"], "x");
        let (_, hc, _) = prepared(r#"{"Image":"i","Memory":7,"Cpuset":"0"}"#, &r).unwrap();
        let hc = value(&Decoded::Struct(hc).to_json());
        assert_eq!(hc["Memory"], 7);
        assert_eq!(hc["CpusetCpus"], "0");
    }

    #[test]
    fn the_peer_label_is_the_owner_on_every_container() {
        let allow = [];
        let r = Rules {
            peer_key: Some("ci.job"),
            ..rules(&allow)
        };
        // The client's value, an absent key (the image's value would fill it) and the
        // peer key in another case (Go's label maps are case-sensitive) each end as shown.
        for (json, other_case) in [
            (r#"{"Image":"i","Labels":{"ci.job":"victim"}}"#, None),
            (r#"{"Image":"i"}"#, None),
            (r#"{"Image":"i","Labels":{"CI.JOB":"x"}}"#, Some("x")),
        ] {
            let (mut decoded, hc, _) = prepared(json, &r).unwrap();
            finish_create(decoded.as_struct_mut().unwrap(), hc, "sha256:x", &r).unwrap();
            let v = value(&decoded.to_json());
            assert_eq!(v["Labels"]["ci.job"], OWNER, "{json}");
            assert_eq!(v["Labels"]["owner"], OWNER, "{json}");
            assert_eq!(v["Labels"]["CI.JOB"].as_str(), other_case, "{json}");
        }
        let (mut decoded, hc, _) = prepared(r#"{"Image":"i"}"#, &rules(&allow)).unwrap();
        finish_create(
            decoded.as_struct_mut().unwrap(),
            hc,
            "sha256:x",
            &rules(&allow),
        )
        .unwrap();
        assert!(value(&decoded.to_json())["Labels"].get("ci.job").is_none());
    }

    /// (field the case is about, HostConfig JSON, status, text the message has)
    const REFUSED: &[(&str, &str, u16, &str)] = &[
        ("Privileged", r#"{"Privileged":true}"#, 403, "Privileged"),
        (
            "Privileged",
            r#"{"Privileged":true,"privileged":null}"#,
            403,
            "Privileged",
        ),
        ("CapAdd", r#"{"CapAdd":["NET_ADMIN"]}"#, 403, "CapAdd"),
        ("CapAdd", r#"{"CapAdd":"ſys_admin"}"#, 403, "CapAdd"),
        ("CapAdd", r#"{"CapAdd":[""]}"#, 403, "CapAdd"),
        (
            "NetworkMode",
            r#"{"NetworkMode":"host"}"#,
            403,
            "host network",
        ),
        (
            "NetworkMode",
            r#"{"NetworkMode":"container:"}"#,
            400,
            "names no container",
        ),
        ("PidMode", r#"{"PidMode":"host"}"#, 403, "PidMode"),
        ("PidMode", r#"{"PidMode":"host:1"}"#, 403, "PidMode"),
        ("PidMode", r#"{"PidMode":"private"}"#, 403, "PidMode"),
        (
            "PidMode",
            r#"{"PidMode":"container:"}"#,
            400,
            "names no container",
        ),
        ("IpcMode", r#"{"IpcMode":"host"}"#, 403, "IpcMode"),
        ("IpcMode", r#"{"IpcMode":"HOST"}"#, 403, "IpcMode"),
        ("UTSMode", r#"{"UTSMode":"host"}"#, 403, "UTSMode"),
        ("UsernsMode", r#"{"UsernsMode":"host"}"#, 403, "UsernsMode"),
        (
            "CgroupnsMode",
            r#"{"CgroupnsMode":"host"}"#,
            403,
            "CgroupnsMode",
        ),
        ("Cgroup", r#"{"Cgroup":"x"}"#, 403, "Cgroup"),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["seccomp=unconfined"]}"#,
            403,
            "seccomp",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["seccomp:unconfined"]}"#,
            403,
            "seccomp",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["apparmor=unconfined"]}"#,
            403,
            "apparmor",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["label=disable"]}"#,
            403,
            "label",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["label:disable"]}"#,
            403,
            "label",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["disable"]}"#,
            403,
            "disable",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["no-new-privileges=false"]}"#,
            403,
            "false",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["no-new-privileges:false"]}"#,
            403,
            "false",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["systempaths=unconfined"]}"#,
            403,
            "systempaths",
        ),
        (
            "SecurityOpt",
            r#"{"SecurityOpt":["no-new-privileges","seccomp={}"]}"#,
            403,
            "seccomp",
        ),
        ("MaskedPaths", r#"{"MaskedPaths":[]}"#, 403, "MaskedPaths"),
        (
            "MaskedPaths",
            r#"{"MaskedPaths":["/proc/kcore"]}"#,
            403,
            "MaskedPaths",
        ),
        (
            "ReadonlyPaths",
            r#"{"ReadonlyPaths":[]}"#,
            403,
            "ReadonlyPaths",
        ),
        (
            "Runtime",
            r#"{"Runtime":"io.containerd.runc.v2"}"#,
            403,
            "Runtime",
        ),
        (
            "Sysctls",
            r#"{"Sysctls":{"net.ipv4.ip_forward":"1"}}"#,
            403,
            "Sysctls",
        ),
        ("OomScoreAdj", r#"{"OomScoreAdj":-1}"#, 403, "OomScoreAdj"),
        (
            "LogConfig",
            r#"{"LogConfig":{"Type":"syslog"}}"#,
            403,
            "syslog",
        ),
        ("LogConfig", r#"{"LogConfig":{"Type":"gelf"}}"#, 403, "gelf"),
        (
            "LogConfig",
            r#"{"LogConfig":{"Type":"awslogs"}}"#,
            403,
            "awslogs",
        ),
        (
            "LogConfig",
            r#"{"LogConfig":{"Type":"journald"}}"#,
            403,
            "journald",
        ),
        (
            "PortBindings",
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"10.0.0.1","HostPort":"80"}]}}"#,
            403,
            "10.0.0.1",
        ),
        (
            "PortBindings",
            r#"{"PortBindings":{"80/tcp":[{},{"HostIp":"localhost"}]}}"#,
            403,
            "localhost",
        ),
        (
            "VolumeDriver",
            r#"{"VolumeDriver":"local"}"#,
            403,
            "VolumeDriver",
        ),
        ("Links", r#"{"Links":["a:b:c"]}"#, 400, "links"),
        ("Links", r#"{"Links":[""]}"#, 400, "links"),
        ("Links", r#"{"Links":[null]}"#, 400, "links"),
        ("Links", r#"{"Links":["/:x"]}"#, 400, "links"),
        (
            "VolumesFrom",
            r#"{"VolumesFrom":[""]}"#,
            400,
            "names no container",
        ),
        (
            "VolumesFrom",
            r#"{"VolumesFrom":[":ro"]}"#,
            400,
            "names no container",
        ),
        (
            "VolumesFrom",
            r#"{"VolumesFrom":["c:rshared"]}"#,
            400,
            "mode",
        ),
        (
            "VolumesFrom",
            r#"{"VolumesFrom":["c:nocopy"]}"#,
            400,
            "mode",
        ),
        ("VolumesFrom", r#"{"VolumesFrom":["c:rw,ro"]}"#, 400, "mode"),
        ("Binds", r#"{"Binds":["/etc:/h"]}"#, 403, "/etc"),
        ("Binds", r#"{"Binds":["/:/h"]}"#, 403, "allow-bind"),
        ("Binds", r#"{"Binds":["/srv/ci/../../etc:/h"]}"#, 403, ".."),
        ("Binds", r#"{"Binds":["/srv/ci/..:/h"]}"#, 403, ".."),
        ("Binds", r#"{"Binds":["/srv/cix:/h"]}"#, 403, "allow-bind"),
        ("Binds", r#"{"Binds":["/srv:/h"]}"#, 403, "allow-bind"),
        (
            "Binds",
            r#"{"Binds":["/srv/ci/a:/h:rshared"]}"#,
            403,
            "rshared",
        ),
        (
            "Binds",
            r#"{"Binds":["/srv/ci/a:/h:ro,slave"]}"#,
            403,
            "slave",
        ),
        (
            "Binds",
            r#"{"Binds":["/srv/ci/a:/h:bogus"]}"#,
            400,
            "invalid mode",
        ),
        (
            "Binds",
            r#"{"Binds":["/srv/ci/a:ro"]}"#,
            400,
            "invalid volume",
        ),
        ("Binds", r#"{"Binds":["a:b:c:d"]}"#, 400, "invalid volume"),
        ("Binds", r#"{"Binds":[":/h"]}"#, 400, "invalid volume"),
        ("Binds", r#"{"Binds":["/srv/ci/a\u0000:/h"]}"#, 400, "NUL"),
        (
            "Mounts",
            r#"{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/h"}]}"#,
            403,
            "/etc",
        ),
        (
            "Mounts",
            r#"{"Mounts":[{"Type":"bind","Source":"/srv/ci/x","Target":"/h","BindOptions":{"Propagation":"rshared"}}]}"#,
            403,
            "rshared",
        ),
        (
            "Mounts",
            r#"{"Mounts":[{"Type":"bind","Source":"srv/ci","Target":"/h"}]}"#,
            400,
            "absolute",
        ),
        (
            "Mounts",
            r#"{"Mounts":[{"Type":"bind","Target":"/h"}]}"#,
            400,
            "Source",
        ),
        (
            "Mounts",
            r#"{"Mounts":[{"Type":"npipe","Target":"/h"}]}"#,
            403,
            "npipe",
        ),
        (
            "Mounts",
            r#"{"Mounts":[{"Target":"/h"}]}"#,
            403,
            "mount type",
        ),
        (
            "Mounts",
            r#"{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}"#,
            403,
            "DriverConfig",
        ),
        (
            "Mounts",
            r#"{"Mounts":[{"Type":"volume","Source":"v","Target":"/x","VolumeOptions":{"DriverConfig":{}}}]}"#,
            403,
            "DriverConfig",
        ),
        (
            "CgroupParent",
            r#"{"CgroupParent":"/"}"#,
            403,
            "CgroupParent",
        ),
        (
            "Devices",
            r#"{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}"#,
            403,
            "Devices",
        ),
        (
            "DeviceCgroupRules",
            r#"{"DeviceCgroupRules":["c 1:3 rwm"]}"#,
            403,
            "DeviceCgroupRules",
        ),
        (
            "DeviceRequests",
            r#"{"DeviceRequests":[{"Count":-1,"Capabilities":[["gpu"]]}]}"#,
            403,
            "DeviceRequests",
        ),
        (
            "OomKillDisable",
            r#"{"OomKillDisable":true}"#,
            403,
            "OomKillDisable",
        ),
        (
            "OomKillDisable",
            r#"{"oomkilldisable":true}"#,
            403,
            "OomKillDisable",
        ),
    ];

    #[test]
    fn refused_host_configurations() {
        let allow = ci();
        let r = rules(&allow);
        for (_, hc, status, needle) in REFUSED {
            let json = with_host(hc);
            let err = prepared(&json, &r)
                .err()
                .unwrap_or_else(|| panic!("{json} passed"));
            assert_eq!(err.status.as_u16(), *status, "{json}: {err}");
            assert!(err.message.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn refused_create_bodies() {
        let allow = ci();
        let r = rules(&allow);
        let cases: &[(&str, u16, &str)] = &[
            // Every place a host configuration can hide.
            (r#"{"Image":"i","Privileged":true}"#, 403, "Privileged"),
            (
                r#"{"Image":"i","HostConfig":null,"PidMode":"host"}"#,
                403,
                "PidMode",
            ),
            (
                r#"{"Image":"i","hostconfig":{"privileged":true}}"#,
                403,
                "Privileged",
            ),
            (
                r#"{"Image":"i","HOSTCONFIG":{"ſecurityOpt":["label=disable"]}}"#,
                403,
                "label",
            ),
            (
                r#"{"Image":"i","HostConfig":{},"hostconfig":{"Binds":["/etc:/h"]}}"#,
                403,
                "/etc",
            ),
            (
                r#"{"Image":"i","HostConfig":{},"VolumeDriver":"x"}"#,
                403,
                "VolumeDriver",
            ),
            (r#"{"Image":"i","Binds":["/:/host"]}"#, 403, "allow-bind"),
            (r#"{"Image":""}"#, 400, "image"),
            (r#"{"HostConfig":{}}"#, 400, "image"),
            (
                r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"a":{},"b":{}}}}"#,
                400,
                "a, b",
            ),
            (
                r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#,
                403,
                "host network",
            ),
            (
                r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"":{}}}}"#,
                400,
                "name a network",
            ),
            (
                r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"container:c":{}}}}"#,
                400,
                "names no network",
            ),
            (
                r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"a":null}}}"#,
                400,
                "EndpointSettings",
            ),
            (
                r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"a":{"DriverOpts":{"x":"y"}}}}}"#,
                403,
                "DriverOpts",
            ),
            (
                r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"a":{"Links":["a:b:c"]}}}}"#,
                400,
                "links",
            ),
        ];
        for (json, status, needle) in cases {
            let err = prepared(json, &r)
                .err()
                .unwrap_or_else(|| panic!("{json} passed"));
            assert_eq!(err.status.as_u16(), *status, "{json}: {err}");
            assert!(err.message.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn allowed_host_configurations() {
        let allow = ci();
        let r = rules(&allow);
        for hc in [
            "{}",
            "null",
            r#"{"CapAdd":[],"CapDrop":["ALL"],"Devices":[],"Sysctls":{},"MaskedPaths":null}"#,
            r#"{"SecurityOpt":["no-new-privileges","no-new-privileges=true","no-new-privileges:true"]}"#,
            r#"{"Runtime":"runc","OomScoreAdj":500,"OomKillDisable":false,"CgroupnsMode":"private"}"#,
            r#"{"IpcMode":"shareable","PidMode":"","UTSMode":"","UsernsMode":""}"#,
            r#"{"IpcMode":"none","NetworkMode":"none"}"#,
            r#"{"NetworkMode":"default","LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}}}"#,
            r#"{"NetworkMode":"bridge","LogConfig":{"Type":"local"}}"#,
            r#"{"LogConfig":{"Type":"none"},"RestartPolicy":{"Name":"always"},"AutoRemove":true}"#,
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"},{"HostIp":"127.0.0.1"},{"HostIp":"::1"},{"HostIp":"0.0.0.0"},{"HostIp":"::"}]},"PublishAllPorts":true}"#,
            r#"{"Binds":["/srv/ci:/x","/srv/ci/./a//b/:/y:ro,rprivate","/srv/ci/deep/c:/z:private,z","/anon","vol:/v:nocopy"]}"#,
            r#"{"Mounts":[{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1024}},{"Type":"volume","Target":"/a"},{"Type":"bind","Source":"/srv/ci","Target":"/b","BindOptions":{"Propagation":"rprivate"}}]}"#,
            r#"{"Tmpfs":{"/run":"rw,size=1m"},"ShmSize":67108864,"Ulimits":[{"Name":"nofile","Hard":1024,"Soft":1024}],"Memory":1048576,"PidsLimit":100,"Init":true}"#,
        ] {
            let json = with_host(hc);
            let got = prepared(&json, &r);
            assert!(got.is_ok(), "{json}: {}", got.err().unwrap());
        }
    }

    #[test]
    fn every_refused_field_is_tested() {
        for field in CHECKED_HOST_FIELDS {
            assert!(
                REFUSED.iter().any(|(f, ..)| f == field),
                "{field} is checked but has no refusal case"
            );
        }
        for (field, ..) in REFUSED {
            assert!(CHECKED_HOST_FIELDS.contains(field), "{field}");
        }
    }

    fn json_names(def: &StructDef, out: &mut Vec<String>) {
        for f in def.fields {
            if f.embedded
                && let Schema::Struct(inner) = f.schema
            {
                json_names(inner, out);
                continue;
            }
            let tag = f.tag.split(',').next().unwrap_or("");
            out.push(if tag.is_empty() { f.name } else { tag }.to_string());
        }
    }

    #[test]
    fn every_host_config_field_is_decided() {
        let mut names = Vec::new();
        json_names(&moby::HOST_CONFIG, &mut names);
        names.sort();
        let mut decided: Vec<String> = CHECKED_HOST_FIELDS
            .iter()
            .chain(PLAIN_HOST_FIELDS)
            .map(|s| s.to_string())
            .collect();
        decided.sort();
        assert_eq!(
            names, decided,
            "HostConfig fields and the gateway's decisions differ"
        );
        assert_eq!(names.len(), 70);
    }

    #[test]
    fn references_are_collected_once_in_order() {
        let allow = ci();
        let r = rules(&allow);
        let json = r#"{"Image":"registry.example/app:1","Cmd":["sh"],"HostConfig":{
            "NetworkMode":"mynet","PidMode":"container:c2","IpcMode":"container:c3",
            "Links":["web:w","/c2:/me/two"],"VolumesFrom":["c1:ro","web"],
            "Binds":["data:/data","/srv/ci/x:/x:ro","/anon","data:/again"],
            "Mounts":[{"Type":"volume","Source":"v2","Target":"/v2"},{"Type":"volume","Target":"/anon2"},
                      {"Type":"bind","Source":"/srv/ci/deep/y","Target":"/y"}]},
            "NetworkingConfig":{"EndpointsConfig":{"default":{"Aliases":["a"],"Links":["db:d"]}}}}"#;
        let (_, _, refs) = prepared(json, &r).unwrap();
        let keyed = r#"{"Image":"i","NetworkingConfig":{"EndpointsConfig":{"4f2a":{}}}}"#;
        assert_eq!(prepared(keyed, &r).unwrap().2.networks, ["4f2a"]);
        assert_eq!(
            refs,
            Refs {
                image: "registry.example/app:1".into(),
                containers: vec!["c2".into(), "c3".into(), "web".into(), "c1".into()],
                networks: vec!["mynet".into()],
                volumes: vec!["data".into(), "v2".into()],
                binds: vec![
                    (PathBuf::from("/srv/ci"), PathBuf::from("/srv/ci/x")),
                    (
                        PathBuf::from("/srv/ci/deep"),
                        PathBuf::from("/srv/ci/deep/y")
                    ),
                ],
            }
        );
    }

    #[test]
    fn the_gateway_settles_cgroups_and_volume_owners() {
        let mut r = rules(&[]);
        let json = with_host(
            r#"{"CgroupParent":"/mine","Mounts":[{"Type":"volume","Target":"/a"},
            {"Type":"volume","Source":"v","Target":"/b","VolumeOptions":{"NoCopy":true,"Labels":{"owner":"evil","k":"v"}}},
            {"Type":"tmpfs","Target":"/t"}]}"#,
        );
        assert!(
            prepared(&json, &r).is_err(),
            "CgroupParent without --cgroup-parent"
        );
        r.cgroup_parent = Some("/ci");
        let (_, hc, _) = prepared(&json, &r).unwrap();
        let hc = value(&Decoded::Struct(hc).to_json());
        assert_eq!(hc["CgroupParent"], "/ci");
        assert_eq!(hc["CgroupnsMode"], "private");
        assert_eq!(hc["Mounts"][0]["VolumeOptions"]["Labels"]["owner"], OWNER);
        assert_eq!(hc["Mounts"][1]["VolumeOptions"]["Labels"]["owner"], OWNER);
        assert_eq!(hc["Mounts"][1]["VolumeOptions"]["Labels"]["k"], "v");
        assert_eq!(hc["Mounts"][1]["VolumeOptions"]["NoCopy"], true);
        assert!(hc["Mounts"][2].get("VolumeOptions").is_none(), "{hc}");
    }

    fn id(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn references_are_rewritten_to_what_was_checked() {
        let json = with_host(
            r#"{"NetworkMode":"container:web","PidMode":"container:db","IpcMode":"container:4f2a",
            "Links":["web","/db:/me/dbalias","web:w","db:"],"VolumesFrom":["data:ro","data"]}"#,
        );
        let (_, mut hc, _) = prepared(&json, &rules(&[])).unwrap();
        let mut resolved = Resolved::default();
        for (name, c) in [("web", 'a'), ("db", 'b'), ("4f2a", 'c'), ("data", 'd')] {
            resolved.containers.insert(name.into(), id(c));
        }
        rewrite_host_config(&mut hc, &resolved).unwrap();
        let hc = value(&Decoded::Struct(hc).to_json());
        assert_eq!(hc["NetworkMode"], format!("container:{}", id('a')));
        assert_eq!(hc["PidMode"], format!("container:{}", id('b')));
        assert_eq!(hc["IpcMode"], format!("container:{}", id('c')));
        assert_eq!(
            hc["Links"],
            serde_json::json!([
                format!("{}:web", id('a')),
                format!("{}:dbalias", id('b')),
                format!("{}:w", id('a')),
                format!("{}:", id('b')),
            ])
        );
        assert_eq!(
            hc["VolumesFrom"],
            serde_json::json!([format!("{}:ro", id('d')), id('d')])
        );

        let mut resolved = Resolved::default();
        resolved.networks.insert(
            "mynet".into(),
            Net {
                id: id('e'),
                name: "mynet".into(),
                builtin: false,
            },
        );
        resolved.networks.insert(
            "1192eb".into(),
            Net {
                id: id('f'),
                name: "none".into(),
                builtin: true,
            },
        );
        for (mode, want) in [("mynet", id('e')), ("1192eb", "none".to_string())] {
            let json = with_host(&format!(r#"{{"NetworkMode":"{mode}"}}"#));
            let (_, mut hc, refs) = prepared(&json, &rules(&[])).unwrap();
            assert_eq!(refs.networks, [mode]);
            rewrite_host_config(&mut hc, &resolved).unwrap();
            assert_eq!(text(&hc, "NetworkMode"), want);
        }
        // A reference nobody resolved is the gateway's bug, never a pass.
        let (_, mut hc, _) = prepared(&with_host(r#"{"Links":["x"]}"#), &rules(&[])).unwrap();
        let err = rewrite_host_config(&mut hc, &Resolved::default()).unwrap_err();
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn links_read_like_parse_link() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("web", Some(("web", "web"))),
            ("web:w", Some(("web", "w"))),
            ("/web:/me/w", Some(("web", "w"))),
            ("/web:w", Some(("web", "w"))),
            ("/web:/me/", Some(("web", ""))),
            ("web:", Some(("web", ""))),
            ("/web", Some(("/web", "/web"))),
            ("", None),
            (":w", None),
            ("a:b:c", None),
        ];
        for (raw, want) in cases {
            let got = parse_link(raw).ok().map(|l| (l.name, l.alias));
            assert_eq!(got, *want, "{raw}");
            // What the gateway writes back reads as the same alias.
            if let Some((_, alias)) = want {
                let again = format!("{}:{alias}", id('a'));
                assert_eq!(parse_link(&again).unwrap().alias, *alias, "{raw}");
            }
        }
    }

    #[test]
    fn binds_read_like_parse_mount_raw() {
        let cases: &[(&str, Option<(Bind<'_>, &str)>)] = &[
            ("/dst", Some((Bind::Anonymous, ""))),
            ("vol:/dst", Some((Bind::Volume("vol"), ""))),
            (
                "vol:/dst:ro,nocopy",
                Some((Bind::Volume("vol"), "ro,nocopy")),
            ),
            ("./rel:/dst", Some((Bind::Volume("./rel"), ""))),
            ("/src:/dst", Some((Bind::Host("/src"), ""))),
            (
                "/src:/dst:Z,ro,rslave,cached",
                Some((Bind::Host("/src"), "Z,ro,rslave,cached")),
            ),
            ("/src:ro", None),
            ("/src:", None),
            ("/src:/dst:rw,ro", None),
            ("/src:/dst:shared,slave", None),
            ("/src:/dst:x", None),
            (":/dst", None),
            ("", None),
            ("a:b:c:d", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_bind(raw).ok(), *want, "{raw}");
        }
        assert_eq!(propagation("ro,rshared"), "rshared");
        assert_eq!(propagation("ro"), "");
    }

    #[test]
    fn volumes_from_read_like_parse_volumes_from() {
        assert_eq!(parse_volumes_from("c").unwrap(), ("c", None));
        assert_eq!(parse_volumes_from("c:ro,Z").unwrap(), ("c", Some("ro,Z")));
        for bad in ["", ":ro", "c:rprivate", "c:nocopy", "c:bad", "c:ro:rw"] {
            assert!(parse_volumes_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bind_sources_are_compared_by_component() {
        let allow = vec![PathBuf::from("/srv/ci"), PathBuf::from("/srv/ci/deep")];
        let ok = |s: &str| allowed_bind(s, &allow);
        assert_eq!(
            ok("/srv/ci/./x//y/").unwrap(),
            (PathBuf::from("/srv/ci"), PathBuf::from("/srv/ci/x/y"))
        );
        assert_eq!(
            ok("/srv/ci/deep/z").unwrap(),
            (
                PathBuf::from("/srv/ci/deep"),
                PathBuf::from("/srv/ci/deep/z")
            )
        );
        assert_eq!(ok("/srv/ci").unwrap().1, PathBuf::from("/srv/ci"));
        for bad in [
            "/srv/cix",
            "/srv",
            "/",
            "/etc",
            "/srv/ci/../x",
            "/srv/ci/x/..",
            "srv/ci",
            "",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(allowed_bind("/srv/ci", &[]).is_err());
        let everything = [PathBuf::from("/")];
        assert!(allowed_bind("/etc", &everything).is_ok());
    }

    #[test]
    fn symbolic_links_out_of_an_allowed_path_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let allowed = base.join("allowed");
        let outside = base.join("outside");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("out")).unwrap();
        std::os::unix::fs::symlink(allowed.join("sub"), allowed.join("in")).unwrap();
        std::os::unix::fs::symlink(base.join("nowhere"), allowed.join("dangling")).unwrap();
        std::os::unix::fs::symlink("../outside", allowed.join("sub/up")).unwrap();
        std::fs::write(allowed.join("file"), b"x").unwrap();
        let roots = vec![allowed.clone()];
        let check = |rel: &str| {
            let source = format!("{}/{rel}", allowed.display());
            let (root, clean) = allowed_bind(&source, &roots)?;
            check_bind_on_host(&root, &clean, &roots)
        };
        for ok in ["sub", "sub/x/y", "in", "in/new", "new/dir", "file", ""] {
            assert!(check(ok).is_ok(), "{ok}: {}", check(ok).unwrap_err());
        }
        for bad in [
            "out",
            "out/x",
            "dangling",
            "dangling/x",
            "sub/up",
            "in/up/x",
            "file/x",
        ] {
            assert_eq!(
                check(bad).map_err(|e| e.status),
                Err(StatusCode::FORBIDDEN),
                "{bad}"
            );
        }
        // An allowed path the gateway cannot see refuses every bind below it.
        let unseen = vec![base.join("unseen")];
        let (root, clean) = allowed_bind(&format!("{}/unseen/x", base.display()), &unseen).unwrap();
        let err = check_bind_on_host(&root, &clean, &unseen).unwrap_err();
        assert!(err.message.contains("cannot see"), "{err}");
    }

    #[test]
    fn a_missing_reference_is_no_missing_image() {
        let err = named_in_body(owners::no_such(Kind::Container, "web"));
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.message, "buildgate: No such container: web");
        let other = owners::not_yours(Kind::Container, "web", Ownership::Other);
        assert_eq!(named_in_body(other.clone()), other);
    }

    #[test]
    fn network_modes_and_namespaces() {
        for builtin in ["", "default", "bridge", "none"] {
            assert_eq!(network_mode(builtin).unwrap(), NetMode::Builtin);
        }
        assert_eq!(
            network_mode("container:web").unwrap(),
            NetMode::Container("web")
        );
        assert_eq!(
            network_mode("container:a:b").unwrap(),
            NetMode::Container("a:b")
        );
        assert_eq!(network_mode("mynet").unwrap(), NetMode::Network("mynet"));
        assert_eq!(network_mode("HOST").unwrap(), NetMode::Network("HOST"));
        assert_eq!(
            network_mode("containers:x").unwrap(),
            NetMode::Network("containers:x")
        );
        assert_eq!(
            network_mode("host").unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            namespace_mode("IpcMode", "container:x", IPC_MODES).unwrap(),
            Some("x")
        );
        assert_eq!(
            namespace_mode("IpcMode", "private", IPC_MODES).unwrap(),
            None
        );
        assert!(namespace_mode("PidMode", "host", PID_MODES).is_err());
        for builtin in ["default", "bridge", "none"] {
            assert_eq!(endpoint_key(builtin).unwrap(), None, "{builtin}");
        }
        assert_eq!(endpoint_key("mynet").unwrap(), Some("mynet"));
        assert_eq!(endpoint_key("4f2a").unwrap(), Some("4f2a"));
        assert_eq!(
            endpoint_key("host").unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        for bad in ["", "container:x"] {
            assert_eq!(
                endpoint_key(bad).unwrap_err().status,
                StatusCode::BAD_REQUEST
            );
        }
    }

    #[test]
    fn endpoints_are_pinned() {
        let mut decoded = gojson::decode_bytes(
            br#"{"NetworkID":"victim","EndpointID":"e","IPAddress":"10.0.0.9","Gateway":"g",
            "Aliases":["a"],"MacAddress":"02:42:ac:11:00:02","IPAMConfig":{"IPv4Address":"10.0.0.5"},
            "Links":["db:d"],"networkid":"again"}"#,
            &Schema::Struct(&moby::ENDPOINT_SETTINGS),
        )
        .unwrap();
        let endpoint = decoded.as_struct_mut().unwrap();
        let links: Vec<(&str, &str)> = check_endpoint_settings(endpoint)
            .unwrap()
            .iter()
            .map(|l| (l.name, l.alias))
            .collect();
        assert_eq!(links, [("db", "d")]);
        pin_endpoint(endpoint, &id('e'), Some(vec!["db-1:d".into()])).unwrap();
        let v = value(&decoded.to_json());
        assert_eq!(
            v,
            serde_json::json!({
                "IPAMConfig": {"IPv4Address": "10.0.0.5"},
                "Links": ["db-1:d"],
                "Aliases": ["a"],
                "NetworkID": id('e'),
                "MacAddress": "02:42:ac:11:00:02",
            })
        );
        let mut bare = Struct::new(&moby::ENDPOINT_SETTINGS);
        pin_endpoint(&mut bare, "n", None).unwrap();
        assert_eq!(
            Decoded::Struct(bare.clone()).to_json(),
            r#"{"NetworkID":"n"}"#
        );
        // The daemon's own networks by name: no NetworkID at all.
        pin_endpoint(&mut bare, "", None).unwrap();
        assert_eq!(Decoded::Struct(bare).to_json(), "{}");
    }

    #[test]
    fn updates_keep_to_resources() {
        let mut r = rules(&[]);
        r.cgroup_parent = Some("/ci");
        let out = update_body(
            br#"{"Memory":1,"memory":2,"RestartPolicy":{"Name":"always"}}"#,
            &r,
        )
        .unwrap();
        assert_eq!(
            value(&out),
            value(r#"{"Memory":2,"RestartPolicy":{"Name":"always"}}"#)
        );
        for bad in [
            r#"{"Devices":[{"PathOnHost":"/dev/mem"}]}"#,
            r#"{"DeviceCgroupRules":["a *:* rwm"]}"#,
            r#"{"DeviceRequests":[{"Driver":"nvidia"}]}"#,
            r#"{"CgroupParent":"/ci"}"#,
            r#"{"OomKillDisable":true}"#,
            r#"{"oomKillDisable":true}"#,
        ] {
            let err = update_body(bad.as_bytes(), &r).unwrap_err();
            assert_eq!(err.status, StatusCode::FORBIDDEN, "{bad}");
        }
        assert!(update_body(br#"{"OomKillDisable":false}"#, &r).is_ok());
        assert_eq!(
            update_body(b"", &r).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            update_body(b"[]", &r).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn execs_are_never_privileged() {
        for bad in [
            r#"{"Cmd":["sh"],"Privileged":true}"#,
            r#"{"Cmd":["sh"],"privileged":true}"#,
            r#"{"Cmd":["sh"],"Privileged":true,"Privileged":null}"#,
        ] {
            assert_eq!(
                exec_body(bad.as_bytes()).unwrap_err().status,
                StatusCode::FORBIDDEN,
                "{bad}"
            );
        }
        let out = exec_body(
            br#"{"Cmd":["sh"],"Privileged":true,"PRIVILEGED":false,"User":"root","Bogus":1}"#,
        )
        .unwrap();
        assert_eq!(
            value(&out),
            value(r#"{"User":"root","Privileged":false,"Cmd":["sh"]}"#)
        );
        assert_eq!(
            exec_body(br#"{"Cmd":"sh"}"#).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(exec_body(b"").unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn exec_starts_are_re_serialised() {
        let out =
            exec_start_body(br#"{"Detach":false,"tty":true,"ConsoleSize":[30,120]}"#).unwrap();
        assert_eq!(value(&out), value(r#"{"Detach":false,"Tty":true}"#));
        assert_eq!(exec_start_body(b"{}").unwrap(), "{}");
        assert_eq!(
            exec_start_body(b"").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert!(exec_start_body(br#"{"Detach":"yes"}"#).is_err());
    }

    #[test]
    fn commit_bodies_are_configs_with_the_owner() {
        let r = rules(&[]);
        for none in ["", " \n", "null", "{}"] {
            assert_eq!(commit_body(none.as_bytes(), &r).unwrap(), None, "{none:?}");
        }
        let out = commit_body(
            br#"{"Cmd":["run"],"Labels":{"owner":"victim","a":"b"}}"#,
            &r,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            value(&out),
            value(r#"{"Cmd":["run"],"Labels":{"a":"b","owner":"job-1"}}"#)
        );
        let out = commit_body(br#"{"labels":null}"#, &r).unwrap().unwrap();
        assert_eq!(value(&out), value(r#"{"Labels":{"owner":"job-1"}}"#));
        for bad in [
            r#"{"HostConfig":{}}"#,
            r#"{"Cmd":["x"],"Privileged":false}"#,
            r#"{"privileged":null}"#,
            r#"{"NetworkingConfig":{}}"#,
            r#"{"Cpuset":"0"}"#,
        ] {
            let err = commit_body(bad.as_bytes(), &r).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        assert!(commit_body(b"{", &r).is_err());
    }
}
