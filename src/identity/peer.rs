//! The process at the other end of a unix socket, and its cgroup file, read so that a
//! recycled pid is never mistaken for it.
//!
//! `SO_PEERCRED` gives the pid, uid and gid of the process that called `connect()`, as
//! the kernel recorded them then. A pid alone names a process only while that process
//! lives: once it has exited and been reaped, the same number can go to any new
//! process, and `/proc/<pid>/cgroup` would then describe that one. A client that
//! connects and exits at once, betting on a process of another job taking its pid,
//! must not get that job's owner.
//!
//! **With a pidfd** (`SO_PEERPIDFD`, Linux 6.5+), the gateway holds a reference to the
//! connecting process itself, which no other process can ever take over. The kernel
//! shows that process's pid in the pidfd's `/proc/self/fdinfo/<fd>` (`Pid:`), and `-1`
//! once it has exited. So:
//!
//! 1. read `Pid:`: `-1` means the peer is gone (refused), `0` that it lives in a pid
//!    namespace the gateway cannot see (refused);
//! 2. read `/proc/<pid>/cgroup`;
//! 3. read `Pid:` again: if it still shows the same pid, the peer was alive, and so
//!    still held that pid, for the whole of step 2 (a pid is freed only when its
//!    process is reaped, and the pidfd shows `-1` from then on), so the file read was
//!    the peer's. Anything else is refused.
//!
//! **Without a pidfd** (older kernels answer `ENOPROTOOPT`), the gateway falls back to
//! the pid and the process's start time (`/proc/<pid>/stat`, field 22): the process
//! read must have started no later than the moment the credentials were read (a
//! recycled pid belongs to a process started after the peer connected, and most
//! likely after that moment too), and its start time must be the same before and after
//! the cgroup file is read. What is left is a window of one clock tick plus the time a
//! connection waits to be accepted, in which a peer that exits and whose pid is reused
//! at once would go unnoticed; kernels with `SO_PEERPIDFD` close it.
//!
//! What the credentials name is the process that *connected*: a connection handed to
//! another process (inherited by a child, passed over a socket) still speaks for the
//! process that opened it.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::socket::{getsockopt, sockopt};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{SysconfVar, sysconf};

/// A connected peer, as the kernel recorded it at `connect()`.
#[derive(Debug)]
pub struct Peer {
    /// In the gateway's pid namespace; 0 when the peer is in one the gateway cannot see.
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    anchor: Anchor,
}

/// What ties [`Peer::pid`] to the process that connected.
#[derive(Debug)]
enum Anchor {
    /// A pidfd of the connecting process.
    Pidfd(OwnedFd),
    /// No pidfd: the peer started no later than this many clock ticks after boot.
    StartedBy(u64),
}

/// Why the peer's cgroup could not be read, or not be read safely.
#[derive(Debug)]
pub enum PeerError {
    /// `SO_PEERCRED` or `SO_PEERPIDFD` failed.
    Credentials(Errno),
    /// The peer exited before or while it was looked at.
    Gone { pid: i32 },
    /// The peer lives in a pid namespace the gateway cannot see.
    Invisible,
    /// The pid the socket reported and the one its pidfd shows differ.
    Mismatch { socket: i32, pidfd: i32 },
    /// The process now at the peer's pid started after the peer connected.
    Recycled { pid: i32 },
    /// A file under `/proc` could not be read.
    Proc { path: PathBuf, error: io::Error },
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Credentials(errno) => {
                write!(
                    f,
                    "cannot read the connecting process's credentials: {errno}"
                )
            }
            PeerError::Gone { pid } => write!(
                f,
                "the connecting process (pid {pid}) exited before the gateway could see which container it runs in"
            ),
            PeerError::Invisible => write!(
                f,
                "the connecting process is in a pid namespace the gateway cannot see (run the gateway in the host's pid namespace, e.g. docker run --pid host)"
            ),
            PeerError::Mismatch { socket, pidfd } => write!(
                f,
                "the connecting process's pid reads {socket} from the socket but {pidfd} from its pidfd (is /proc from another pid namespace?)"
            ),
            PeerError::Recycled { pid } => write!(
                f,
                "pid {pid} now belongs to a process started after the connection was made"
            ),
            PeerError::Proc { path, error } => write!(
                f,
                "cannot read {}: {error} (the gateway needs read access to /proc of the host's pid namespace)",
                path.display()
            ),
        }
    }
}

impl Peer {
    /// Reads the credentials of the process at the other end of `socket`, and takes a
    /// pidfd of it where the kernel offers one.
    pub fn of(socket: &impl AsFd) -> Result<Peer, PeerError> {
        let cred = getsockopt(socket, sockopt::PeerCredentials).map_err(PeerError::Credentials)?;
        let anchor = match getsockopt(socket, sockopt::PeerPidfd) {
            Ok(pidfd) => Anchor::Pidfd(pidfd),
            Err(Errno::ENOPROTOOPT) => Anchor::StartedBy(boot_ticks()?),
            // The kernel refuses a pidfd for a process that has already been reaped.
            Err(Errno::ESRCH) | Err(Errno::EINVAL) => {
                return Err(PeerError::Gone { pid: cred.pid() });
            }
            Err(errno) => return Err(PeerError::Credentials(errno)),
        };
        Ok(Peer {
            pid: cred.pid(),
            uid: cred.uid(),
            gid: cred.gid(),
            anchor,
        })
    }

    /// Whether the peer is held by a pidfd (rather than by its start time).
    pub fn has_pidfd(&self) -> bool {
        matches!(self.anchor, Anchor::Pidfd(_))
    }

    /// The text of the peer's `/proc/<pid>/cgroup`, read as the module doc describes.
    pub fn cgroup(&self) -> Result<String, PeerError> {
        if self.pid == 0 {
            return Err(PeerError::Invisible);
        }
        match &self.anchor {
            Anchor::Pidfd(pidfd) => {
                let pid = live_pid(pidfd, self.pid)?;
                let text = read_proc(pid, "cgroup")?;
                if pidfd_pid(pidfd)? != pid {
                    return Err(PeerError::Gone { pid });
                }
                Ok(text)
            }
            Anchor::StartedBy(limit) => {
                let started = start_ticks(self.pid)?;
                if started > *limit {
                    return Err(PeerError::Recycled { pid: self.pid });
                }
                let text = read_proc(self.pid, "cgroup")?;
                if start_ticks(self.pid)? != started {
                    return Err(PeerError::Recycled { pid: self.pid });
                }
                Ok(text)
            }
        }
    }

    #[cfg(test)]
    fn without_pidfd(pid: i32, started_by: u64) -> Peer {
        Peer {
            pid,
            uid: 0,
            gid: 0,
            anchor: Anchor::StartedBy(started_by),
        }
    }
}

/// The pid a pidfd shows, checked against the one the socket reported.
fn live_pid(pidfd: &OwnedFd, socket_pid: i32) -> Result<i32, PeerError> {
    match pidfd_pid(pidfd)? {
        -1 => Err(PeerError::Gone { pid: socket_pid }),
        0 => Err(PeerError::Invisible),
        pid if pid != socket_pid => Err(PeerError::Mismatch {
            socket: socket_pid,
            pidfd: pid,
        }),
        pid => Ok(pid),
    }
}

/// The `Pid:` line of a pidfd's fdinfo: the process's pid in the pid namespace of this
/// `/proc`, 0 if it is not visible there, -1 once it has exited.
fn pidfd_pid(pidfd: &OwnedFd) -> Result<i32, PeerError> {
    let path = PathBuf::from(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()));
    let text = std::fs::read_to_string(&path).map_err(|error| PeerError::Proc {
        path: path.clone(),
        error,
    })?;
    fdinfo_pid(&text).ok_or_else(|| PeerError::Proc {
        path,
        error: io::Error::new(io::ErrorKind::InvalidData, "no Pid: line"),
    })
}

/// The `Pid:` field of a pidfd's fdinfo text.
fn fdinfo_pid(fdinfo: &str) -> Option<i32> {
    fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn read_proc(pid: i32, file: &str) -> Result<String, PeerError> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::read_to_string(&path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => PeerError::Gone { pid },
        _ => PeerError::Proc { path, error },
    })
}

/// A process's start time in clock ticks after boot (`/proc/<pid>/stat`, field 22).
fn start_ticks(pid: i32) -> Result<u64, PeerError> {
    let stat = read_proc(pid, "stat")?;
    stat_start_ticks(&stat).ok_or_else(|| PeerError::Proc {
        path: PathBuf::from(format!("/proc/{pid}/stat")),
        error: io::Error::new(io::ErrorKind::InvalidData, "no start time"),
    })
}

/// Field 22 of a stat line. The command name (field 2) may hold spaces and `)`, so
/// fields are counted after the last `)`, where field 3 starts.
fn stat_start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Now, in clock ticks after boot: the clock `/proc/<pid>/stat` start times use.
fn boot_ticks() -> Result<u64, PeerError> {
    let now = clock_gettime(ClockId::CLOCK_BOOTTIME).map_err(PeerError::Credentials)?;
    let hz = sysconf(SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|hz| u64::try_from(hz).ok())
        .filter(|hz| *hz > 0)
        .unwrap_or(100);
    let secs = u64::try_from(now.tv_sec()).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec()).unwrap_or(0);
    // Rounded up: the peer connected before this moment, never after.
    Ok(secs * hz + (nanos * hz).div_ceil(1_000_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::process::{Command, Stdio};

    #[test]
    fn fdinfo_and_stat_fields() {
        let fdinfo =
            "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1075\nPid:\t5937\nNSpid:\t5937\t1\n";
        assert_eq!(fdinfo_pid(fdinfo), Some(5937));
        assert_eq!(fdinfo_pid("Pid:\t-1\nNSpid:\t-1\n"), Some(-1));
        assert_eq!(fdinfo_pid("NSpid:\t7\n"), None, "NSpid is not Pid");
        let stat =
            "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3";
        assert_eq!(stat_start_ticks(stat), Some(987654));
        assert_eq!(stat_start_ticks("1 (x) S 1"), None);
    }

    /// A socket pair inside this process: the peer is this process, held by a pidfd on
    /// this kernel, and its cgroup file is this process's.
    #[test]
    fn a_live_peer_reads_its_own_cgroup() {
        let (a, _b) = UnixStream::pair().unwrap();
        let peer = Peer::of(&a).unwrap();
        assert_eq!(peer.pid, std::process::id() as i32);
        assert_eq!(peer.uid, nix::unistd::geteuid().as_raw());
        let want = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        assert_eq!(peer.cgroup().unwrap(), want);
    }

    /// A peer that has exited and been reaped is refused, never read at its old pid.
    #[test]
    fn a_peer_that_exited_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // A child that connects and exits at once.
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
            ])
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let (stream, _) = listener.accept().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success());
        // Reaped now: its pid is free for anyone.
        match Peer::of(&stream) {
            Err(PeerError::Gone { pid }) => assert_eq!(pid, child.id() as i32),
            Ok(peer) => match peer.cgroup() {
                Err(PeerError::Gone { .. }) => assert!(peer.has_pidfd()),
                other => panic!("a reaped peer read as {other:?}"),
            },
            Err(other) => panic!("{other}"),
        }
    }

    /// The fallback without a pidfd: a process started after the connection is a
    /// recycled pid.
    #[test]
    fn without_a_pidfd_a_later_process_is_refused() {
        let me = std::process::id() as i32;
        let started = start_ticks(me).unwrap();
        let later = Peer::without_pidfd(me, boot_ticks().unwrap());
        assert!(later.cgroup().is_ok());
        let earlier = Peer::without_pidfd(me, started.saturating_sub(1));
        assert!(matches!(earlier.cgroup(), Err(PeerError::Recycled { .. })));
        let invisible = Peer::without_pidfd(0, u64::MAX);
        assert!(matches!(invisible.cgroup(), Err(PeerError::Invisible)));
    }
}
