//! buildgate: a gateway in front of `docker.sock` that labels every image built through it.
//!
//! Placeholder crate map; filled in as the modules land.

pub mod access_log;
pub mod build;
pub mod check;
pub mod cli;
pub mod config;
pub mod context;
pub mod decompress;
pub mod dockerfile;
pub mod error;
pub mod passthrough;
pub mod query;
pub mod route;
pub mod server;
pub mod tar;
pub mod upstream;
