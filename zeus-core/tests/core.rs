//! zeus-core's integration tests, one binary: configuration layers and errors, and the
//! scoreboard seen from two mappings.

mod config;
mod scoreboard;
