//! buildgate: a gateway in front of `docker.sock` that puts an owner label on
//! everything built through it, and passes everything else through untouched.
//!
//! # The one rule
//!
//! The gateway must see each request exactly as dockerd will see it. Where it cannot
//! be sure, it rewrites the request into a form with only one reading, or refuses it.
//! So for a build it never forwards what it parsed; it sends what it decided: a
//! rebuilt query, a freshly written tar, and its own rewritten Dockerfile.
//!
//! # Layout
//!
//! Requests flow one way, top to bottom:
//!
//! ```text
//! main.rs ─► cli ─► config ─► server ─► workers ─► route ─┬─► build ─► query
//!                                                          │           decompress
//!                                                          │           tar::reader ─► context ─► dockerfile
//!                                                          │           tar::writer ─► upstream
//!                                                          ├─► (refused: BuildKit, malformed targets)
//!                                                          └─► passthrough ─► upstream
//! ```
//!
//! - [`cli`], [`config`]: flags and environment, validated once at start.
//! - [`server`]: listeners (unix, TCP), connections, graceful shutdown; hands each
//!   request to [`route`] and then to [`build`] or [`passthrough`].
//! - [`workers`]: one single-threaded runtime per worker thread; each connection, and
//!   everything it starts, runs on one of them from start to end.
//! - [`route`]: decodes and classifies the request path the way Go's `net/http` and
//!   gorilla/mux route it inside dockerd.
//! - [`passthrough`]: streams everything that is not a build both ways, splices
//!   upgraded connections (attach, exec) with half-close.
//! - [`build`]: the streaming rewrite of `POST /build`, stage by stage:
//!   - [`query`]: the build parameters, parsed like Go, rebuilt from an allowlist;
//!   - [`decompress`]: gzip, bzip2, xz and zstd contexts become plain tar;
//!   - [`tar::reader`]: a streaming tar reader that agrees with Go's `archive/tar`;
//!   - [`context`]: a model of the extracted context that finds the Dockerfile the way
//!     the daemon would, holding only candidate Dockerfiles in memory;
//!   - [`dockerfile`]: the scanner that inserts the owner `LABEL`s, following the
//!     daemon's Dockerfile parser rules and refusing what parser versions disagree on;
//!   - [`tar::writer`]: writes every header afresh, appends the rewritten Dockerfile
//!     under a random name, and ends the archive itself.
//! - [`upstream`]: connections to the daemon, with the response-head timeout.
//! - [`access_log`]: one line per request, written when the exchange really ends.
//! - [`error`]: Docker-style JSON errors (`{"message": ...}` and `errorDetail` lines).

pub mod access_log;
pub mod build;
pub mod check;
pub mod cli;
pub mod config;
pub mod context;
pub mod decompress;
pub mod dockerfile;
pub mod error;
pub mod gojson;
pub mod passthrough;
pub mod query;
pub mod route;
pub mod server;
pub mod tar;
pub mod upstream;
pub mod workers;
