//! Binding the listeners: unix sockets created with their final mode and group already
//! in place, TCP sockets, and removal of socket files at shutdown.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

use nix::sys::stat::{Mode, umask};
use nix::unistd::Group;

use crate::config::{Address, Config};

/// A bound listener, and the socket file to remove at shutdown.
pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

/// Binds every configured address, or fails without leaving any socket file behind.
pub fn bind_all(config: &Config) -> Result<Vec<Listener>, String> {
    let mut bound = Vec::new();
    for address in &config.listen {
        let listener = match address {
            Address::Unix(path) => {
                bind_unix(path, config.socket_mode, config.socket_group.as_deref())
            }
            Address::Tcp(hostport) => bind_tcp(hostport),
        };
        match listener {
            Ok(listener) => bound.push(listener),
            Err(err) => {
                remove_socket_files(&bound);
                return Err(format!("cannot listen on {address}: {err}"));
            }
        }
    }
    Ok(bound)
}

fn bind_tcp(hostport: &str) -> Result<Listener, String> {
    let listener = std::net::TcpListener::bind(hostport).map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    TcpListener::from_std(listener)
        .map(Listener::Tcp)
        .map_err(|e| e.to_string())
}

/// Binds a unix socket. A socket file left by a gateway that died is replaced; one that
/// something still answers on is not, because taking over a live socket would silently
/// cut a running job off its daemon.
fn bind_unix(path: &Path, mode: u32, group: Option<&str>) -> Result<Listener, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(format!(
                        "{} is in use: another process is listening on it; stop it or choose another --listen path",
                        path.display()
                    ));
                }
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "replacing stale socket file");
                    std::fs::remove_file(path)
                        .map_err(|e| format!("cannot remove stale socket: {e}"))?;
                }
                Err(err) => return Err(format!("cannot check existing socket: {err}")),
            }
        }
        Ok(_) => {
            return Err(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.to_string()),
    }
    // Create the socket with the final permission bits already in place, so there is no
    // moment in which it is more open than the operator asked for. The umask is
    // process-wide: binding happens at start, before any other thread creates files.
    let mask = Mode::from_bits_truncate((!mode & 0o777) as nix::libc::mode_t);
    let previous = umask(mask);
    let bound = UnixListener::bind(path);
    umask(previous);
    let listener = bound.map_err(|e| e.to_string())?;
    let cleanup = |msg: String| {
        let _ = std::fs::remove_file(path);
        msg
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| cleanup(format!("cannot set socket mode: {e}")))?;
    if let Some(group) = group {
        let gid = lookup_group(group).map_err(&cleanup)?;
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| cleanup(format!("cannot set socket group {group}: {e}")))?;
    }
    Ok(Listener::Unix(listener, path.to_path_buf()))
}

fn lookup_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match Group::from_name(group) {
        Ok(Some(entry)) => Ok(entry.gid.as_raw()),
        Ok(None) => Err(format!("no group named {group:?}")),
        Err(err) => Err(format!("cannot look up group {group:?}: {err}")),
    }
}

pub fn remove_socket_files(listeners: &[Listener]) {
    for listener in listeners {
        if let Listener::Unix(_, path) = listener
            && let Err(err) = std::fs::remove_file(path)
        {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove socket file");
        }
    }
}
