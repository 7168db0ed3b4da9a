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
//! A request flows one way, top to bottom:
//!
//! ```text
//! main.rs ─► cli ─► server ─► dispatch ─► route ─┬─► build ─► query, decompress, tar, context, dockerfile
//!            (identity: each   │                   ├─► build::buildkit (refused)
//!             connection's  ───┘                   ├─► policy (--confine) ─► owners, daemon
//!             owner)                               └─► http::passthrough
//!                          everything ─► gateway (shared state) ─► http (upstream, errors, bodies)
//! ```
//!
//! The modules are layered, and a module only ever uses modules of lower layers
//! (`tests/layers.rs` checks this, and that no two files of one folder import each
//! other in a circle):
//!
//! | layer | modules | what they are |
//! |---|---|---|
//! | 6 | [`cli`] | flags and environment into a [`config::Config`]; `buildgate check`, `buildgate reap` |
//! | 5 | [`server`] | listeners, worker threads, connections, shutdown; `dispatch` hands each request to its handler, for its connection's owner |
//! | 4 | [`build`], [`policy`] | the streaming rewrite of `POST /build` and the BuildKit refusal; the rest of the API under `--confine` |
//! | 3 | [`gateway`], [`owners`], [`identity`] | the state every connection shares (configuration, daemon address, limits, permits); who owns an object, as the daemon says; who a connection acts for (`--owner-from-peer`: its peer's container, as the daemon describes it) |
//! | 2 | [`route`], [`query`], [`daemon`] | which dockerd handler a request reaches; the build query, read like Go and rebuilt; what the gateway asks the daemon on its own behalf |
//! | 1 | [`context`], [`http`] | the model of the extracted build context; HTTP plumbing shared by every handler (bodies, errors, headers, upstream connections, the access log, the passthrough) |
//! | 0 | [`config`], [`gourl`], [`tar`], [`dockerfile`], [`decompress`], [`reference`](mod@reference), [`gojson`] | validated values, and the parsers of hostile input: Go's URL rules, the tar codec, the Dockerfile scanner, decompression, image references, Go's JSON decoding |
//!
//! The build pipeline, stage by stage, all in one task per build ([`build`]):
//!
//! - [`query`]: the build parameters, parsed like Go, rebuilt from an allowlist;
//! - [`decompress`]: gzip, bzip2, xz and zstd contexts become plain tar (on a decoder
//!   thread of their own);
//! - [`tar::reader`]: a streaming tar reader that agrees with Go's `archive/tar`;
//! - [`context`]: a model of the extracted context that finds the Dockerfile the way
//!   the daemon would, holding only candidate Dockerfiles in memory;
//! - [`dockerfile`]: the scanner that inserts the owner `LABEL`s, following the
//!   daemon's Dockerfile parser rules and refusing what parser versions disagree on;
//! - [`tar::writer`]: writes every header afresh, appends the rewritten Dockerfile
//!   under a random name, and ends the archive itself.
//!
//! Where a change goes: a new parser of client input is a leaf (layer 0) with its own
//! table, property and fuzz tests; a new rule about what a request may do belongs in a
//! handler's layer, never in `server` or `http`; and anything the daemon is asked on the
//! gateway's own behalf goes through [`http::upstream`].
#![forbid(unsafe_code)]

pub mod build;
pub mod cli;
pub mod config;
pub mod context;
pub mod daemon;
pub mod decompress;
pub mod dockerfile;
pub mod gateway;
pub mod gojson;
pub mod gourl;
pub mod http;
pub mod identity;
pub mod owners;
pub mod policy;
pub mod query;
pub mod reference;
pub mod route;
pub mod server;
pub mod tar;
