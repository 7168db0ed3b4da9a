//! tar writer
