//! tar codec

pub mod reader;
pub mod writer;
