//! HTTP plumbing that every handler shares, and the thin passthrough.
//!
//! - [`body`]: the one boxed body type handed to hyper in both directions.
//! - [`error`]: Docker-style JSON errors, the only way the gateway refuses anything.
//! - [`headers`]: hop-by-hop headers and the `Connection`/`Upgrade` token lists.
//! - [`upstream`]: connections to the daemon, with the response-head timeout.
//! - [`access_log`]: one line per request, written when the exchange really ends.
//! - [`passthrough`]: streams a request to the daemon and its answer back, splicing
//!   upgraded connections (attach, exec) with half-close.
//!
//! Nothing here knows about builds or policy: it sits below every handler and imports
//! only [`crate::config`] (for the daemon's address).

pub mod access_log;
pub mod body;
pub mod error;
pub mod headers;
pub mod passthrough;
pub mod upstream;
