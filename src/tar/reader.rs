//! tar reader
