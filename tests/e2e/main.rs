//! End-to-end tests: each test starts the real `zeus` binary (`CARGO_BIN_EXE_zeus`) in a temp
//! dir of its own, on loopback ports of its own, and talks to it only as a user would: the CLI
//! (`start`, `stop`, `status`, `list`, `reload`), TCP clients, signals and `/proc`. Every
//! instance is held by a `ZeusProcess` guard that stops it and checks for leaked processes,
//! shared-memory objects and run-dir files when the test ends, even when it fails.

mod cli;
mod config;
mod http;
mod ipc;
mod lifecycle;
mod memcache;
mod mpm;
mod plugins;
mod stop;
mod util;
