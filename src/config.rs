//! Validated configuration.
//!
//! The command line (see [`crate::cli`]) is parsed into plain strings; this module turns
//! them into values the rest of the gateway can trust without re-checking. In particular
//! the owner label key and value end up inside a Dockerfile `LABEL`, so they are
//! restricted here to characters that mean the same thing to every Dockerfile parser,
//! shell-word lexer and JSON encoder on the way.

use std::path::PathBuf;
use std::time::Duration;

/// Where the gateway listens, or where the daemon is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port`, as given.
    Tcp(String),
}

impl Address {
    /// Accepts `unix:///path`, a bare path, or `tcp://host:port` (also `http://host:port`,
    /// which is how some operators spell the daemon's TCP address).
    pub fn parse(value: &str) -> Result<Address, String> {
        let value = value.trim();
        if let Some(path) = value.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("{value:?}: a unix socket address needs a path"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        for scheme in ["tcp://", "http://"] {
            if let Some(rest) = value.strip_prefix(scheme) {
                let rest = rest.trim_end_matches('/');
                let Some((host, port)) = rest.rsplit_once(':') else {
                    return Err(format!(
                        "{value:?}: a TCP address needs a port (tcp://HOST:PORT)"
                    ));
                };
                if host.is_empty() || port.parse::<u16>().is_err() || rest.contains('/') {
                    return Err(format!("{value:?}: expected tcp://HOST:PORT"));
                }
                return Ok(Address::Tcp(rest.to_string()));
            }
        }
        if value.contains("://") {
            return Err(format!(
                "{value:?}: unsupported scheme; use unix:///path, a path, or tcp://HOST:PORT"
            ));
        }
        if value.is_empty() {
            return Err("empty address".to_string());
        }
        Ok(Address::Unix(PathBuf::from(value)))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp(hostport) => write!(f, "tcp://{hostport}"),
        }
    }
}

/// Who owns what a connection builds and creates, and under which label key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub key: String,
    pub value: String,
}

/// Longest owner value accepted. Long enough for a GitLab project path plus job ID, short
/// enough that nobody uses it to smuggle a payload into every image.
pub const MAX_OWNER_LEN: usize = 256;

/// Checks a label key: it must read the same as a Dockerfile word, a JSON key and a
/// `docker inspect --filter label=` argument, so it is restricted to the characters
/// Docker's own reverse-DNS label convention uses.
pub fn validate_owner_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 128 {
        return Err("the owner label key must be 1 to 128 characters".to_string());
    }
    let first = key.as_bytes()[0];
    if !first.is_ascii_alphanumeric() {
        return Err(format!(
            "owner label key {key:?} must start with a letter or digit"
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')))
    {
        return Err(format!(
            "owner label key {key:?} contains {bad:?}; use only letters, digits, '.', '-', '_' and '/'"
        ));
    }
    Ok(())
}

/// Checks an owner value. It is written as `LABEL key="value"`: inside double quotes the
/// Dockerfile lexer still interprets `\`, `$` and the backtick escape, and a quote would
/// end the word, so those are refused rather than escaped (an escaping bug here would
/// be a labelling bypass). Control characters and non-ASCII are refused because they
/// render differently in every tool an operator uses to read the label back.
pub fn validate_owner_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("the owner must not be empty".to_string());
    }
    if value.len() > MAX_OWNER_LEN {
        return Err(format!(
            "the owner is {} bytes; at most {MAX_OWNER_LEN} are allowed",
            value.len()
        ));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(format!(
            "owner {value:?} starts or ends with a space; remove it"
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(' '..='~').contains(c) || matches!(c, '"' | '\\' | '$' | '`' | '\''))
    {
        return Err(format!(
            "owner {value:?} contains {bad:?}, which cannot be written safely into a Dockerfile LABEL; use printable ASCII without quotes, '\\', '$' or '`'"
        ));
    }
    Ok(())
}

/// Everything the running gateway needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<Address>,
    pub socket_mode: u32,
    /// Group name or numeric gid for the listening unix sockets.
    pub socket_group: Option<String>,
    pub upstream: Address,
    /// The label key that carries the owner (`--owner-label`).
    pub owner_label: String,
    /// `--owner`: the owner of every connection, or with `owner_from_peer`, of the
    /// connections whose peer is in no container and of TCP connections.
    pub owner: Option<String>,
    /// `--owner-from-peer`: the container label that names a connection's owner.
    pub owner_from_peer: Option<String>,
    /// Largest Dockerfile the gateway will rewrite.
    pub max_dockerfile_size: u64,
    /// Cap on decoded context bytes, if any.
    pub max_context_size: Option<u64>,
    /// Forced cgroup parent for builds.
    pub cgroup_parent: Option<String>,
    /// Whether builds may use the host's or another container's network.
    pub allow_host_network: bool,
    /// Whether the whole API is under the ownership model.
    pub confine: bool,
    /// Host paths bind mounts may use under `confine`.
    pub allow_bind: Vec<PathBuf>,
    /// Largest JSON request body under `confine`.
    pub max_body_size: usize,
    /// Largest PAX record set or GNU long name in a context.
    pub max_pax_size: usize,
    /// Longest path or link target in a context.
    pub max_path_length: usize,
    /// Builds allowed at once; 0 for no limit.
    pub max_builds: usize,
    /// How long to wait for response headers after a request was sent in full.
    pub response_timeout: Option<Duration>,
    /// How long in-flight requests may run after SIGINT/SIGTERM before they are cut.
    pub shutdown_grace: Duration,
    /// How long a client may take to send a complete request head.
    pub header_read_timeout: Duration,
    /// How long to wait for the daemon to accept a connection.
    pub connect_timeout: Duration,
    /// Most files, directories and links in one build context.
    pub max_context_entries: usize,
    /// Worker threads serving connections; 0 for one per CPU.
    pub threads: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let cases: &[(&str, Result<Address, ()>)] = &[
            (
                "unix:///run/x.sock",
                Ok(Address::Unix("/run/x.sock".into())),
            ),
            ("/run/x.sock", Ok(Address::Unix("/run/x.sock".into()))),
            ("rel.sock", Ok(Address::Unix("rel.sock".into()))),
            (
                "tcp://127.0.0.1:2375",
                Ok(Address::Tcp("127.0.0.1:2375".into())),
            ),
            (
                "http://localhost:2375/",
                Ok(Address::Tcp("localhost:2375".into())),
            ),
            ("tcp://[::1]:2375", Ok(Address::Tcp("[::1]:2375".into()))),
            ("tcp://host", Err(())),
            ("tcp://host:99999", Err(())),
            ("tcp://:80", Err(())),
            ("unix://", Err(())),
            ("ssh://host", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            let got = Address::parse(input).map_err(|_| ());
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn display_round_trips() {
        for input in ["unix:///a/b.sock", "tcp://127.0.0.1:1"] {
            assert_eq!(Address::parse(input).unwrap().to_string(), input);
        }
    }

    #[test]
    fn owner_keys() {
        for ok in ["owner", "com.example.owner", "ci/job-id", "a_b", "9lives"] {
            assert!(validate_owner_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-x", ".x", "a b", "a=b", "a\"b", "a$b", "ключ", "a\\b", "a\nb",
        ] {
            assert!(validate_owner_key(bad).is_err(), "{bad:?}");
        }
        assert!(validate_owner_key(&"k".repeat(129)).is_err());
    }

    #[test]
    fn owner_values() {
        for ok in [
            "job-123",
            "group/project#42",
            "a b",
            "x=y",
            "{}[]()<>!@%^&*+",
        ] {
            assert!(validate_owner_value(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", " lead", "trail ", "a\"b", "a\\b", "a$b", "a`b", "a'b", "a\nb", "a\tb", "é",
            "a\u{7f}",
        ] {
            assert!(validate_owner_value(bad).is_err(), "{bad:?}");
        }
        assert!(validate_owner_value(&"o".repeat(MAX_OWNER_LEN)).is_ok());
        assert!(validate_owner_value(&"o".repeat(MAX_OWNER_LEN + 1)).is_err());
    }
}
