//! zeus-core's integration tests, one binary: configuration layers and errors, plugin
//! options, and the scoreboard seen from two mappings.

mod config;
mod config_file;
mod plugins;
mod scoreboard;
