//! Value parsers for flags that the server and the subcommands share, and the daemon
//! flags of `buildgate check` and `buildgate reap`.

use std::process::ExitCode;
use std::time::Duration;

use crate::config::Address;
use crate::http::upstream::Upstream;

/// The daemon flags `check` and `reap` share.
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// The Docker daemon: unix:///path, a bare path, or tcp://HOST:PORT.
    #[arg(
        long,
        value_name = "ADDR",
        env = "BUILDGATE_UPSTREAM",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub upstream: String,

    /// Seconds to wait for the daemon to accept a connection (check waits as long again
    /// for each answer).
    #[arg(
        long,
        value_name = "SECS",
        env = "BUILDGATE_CONNECT_TIMEOUT",
        default_value = "5",
        value_parser = parse_seconds
    )]
    pub connect_timeout: Duration,
}

/// What a one-shot subcommand talks to the daemon with.
pub struct OneShot {
    pub runtime: tokio::runtime::Runtime,
    pub upstream: Upstream,
    /// The daemon's address as the report shows it.
    pub shown: String,
}

impl DaemonArgs {
    /// The runtime and the daemon for `buildgate <command>`; on a bad flag or a runtime
    /// that cannot start, the error is printed and the exit status returned (2 for a
    /// usage error, like clap's).
    pub fn open(&self, command: &str) -> Result<OneShot, ExitCode> {
        let address = Address::parse(&self.upstream).map_err(|err| {
            eprintln!("buildgate {command}: --upstream {err}");
            ExitCode::from(2)
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| {
                eprintln!("buildgate {command}: cannot start the runtime: {err}");
                ExitCode::FAILURE
            })?;
        let shown = address.to_string();
        // No response timeout: `check` bounds each exchange itself, and `reap` waits
        // for deletions however long the daemon takes.
        let upstream = Upstream::new(address, self.connect_timeout, None);
        Ok(OneShot {
            runtime,
            upstream,
            shown,
        })
    }
}

/// Permission bits in octal (`0660`, `0o660`); anything above `0777` is refused,
/// because setuid, setgid and sticky bits mean nothing on a socket.
pub fn parse_mode(value: &str) -> Result<u32, String> {
    let digits = value.strip_prefix("0o").unwrap_or(value);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("{value:?} is not an octal mode such as 0660"))?;
    if mode > 0o777 {
        return Err(format!(
            "{value:?}: only permission bits (at most 0777) are allowed"
        ));
    }
    Ok(mode)
}

/// A byte count with an optional binary unit: `1048576`, `512K`, `512KB`, `512KiB`,
/// `1M`, `4G` (case-insensitive). Exactly one unit suffix is accepted, so a typo such
/// as `1KiBiB` is an error rather than a silently different size.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let bad = || format!("{value:?} is not a size such as 1048576, 512K, 1M or 4G");
    let upper = value.trim().to_ascii_uppercase();
    let number = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match number.as_bytes().last() {
        Some(b'K') => (&number[..number.len() - 1], 10),
        Some(b'M') => (&number[..number.len() - 1], 20),
        Some(b'G') => (&number[..number.len() - 1], 30),
        // `B` alone was stripped above; `IB` without a unit letter is not a size.
        _ if upper.ends_with("IB") => return Err(bad()),
        _ => (number, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(bad)
}

/// Whole seconds, optionally with an `s` suffix.
pub fn parse_seconds(value: &str) -> Result<Duration, String> {
    let digits = value.strip_suffix('s').unwrap_or(value);
    digits
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{value:?} is not a whole number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0600").unwrap(), 0o600);
        assert_eq!(parse_mode("0o660").unwrap(), 0o660);
        assert!(parse_mode("rw").is_err());
        assert!(parse_mode("1777").is_err());
    }

    #[test]
    fn sizes() {
        let ok: &[(&str, u64)] = &[
            ("1000", 1000),
            ("0", 0),
            ("1B", 1),
            ("1K", 1 << 10),
            ("1KB", 1 << 10),
            ("512KiB", 512 << 10),
            ("512kib", 512 << 10),
            ("1M", 1 << 20),
            ("1MiB", 1 << 20),
            ("4g", 4 << 30),
            (" 2G ", 2 << 30),
        ];
        for (input, want) in ok {
            assert_eq!(parse_size(input), Ok(*want), "{input:?}");
        }
        for bad in [
            "",
            "K",
            "KiB",
            "1KiBiB",
            "1KBB",
            "1BB",
            "1IB",
            "1T",
            "1.5M",
            "-1",
            "1 K",
            "0x10",
            "99999999999999G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("7s").unwrap(), Duration::from_secs(7));
        assert_eq!(parse_seconds("0").unwrap(), Duration::ZERO);
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("1m").is_err());
    }
}
