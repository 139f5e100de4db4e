//! The `zeus` command line as a library, so a Rust program that registers its own services,
//! MPMs, disciplines or plugins on a `Zeus` gets the same CLI, config and exit codes:
//!
//! ```no_run
//! let mut zeus = zeus_cli::zeus();
//! // zeus.register_service("my_service", ...);
//! std::process::exit(match zeus_cli::run(&zeus) { c if c == std::process::ExitCode::SUCCESS => 0, _ => 1 });
//! ```
//!
//! Exit codes: 0 success, 1 error, 2 configuration refused, 3 not running (as LSB `status`).

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;
use zeus_core::Zeus;

/// The runtime with every service zeus ships: zeus-core's built-ins plus `memcache` and
/// `http` (with zeus-http's `zeus_httpd` added to the embedded defaults). Start from it to
/// keep the embedded default configuration working in a binary of your own.
pub fn zeus() -> Zeus {
    let mut zeus = Zeus::new();
    zeus.register_service("memcache", zeus_memcache::factory);
    zeus_http::Http::new().register(&mut zeus);
    zeus.add_default_services(zeus_http::DEFAULT_SERVICES);
    zeus
}

/// Parses the process's arguments and runs the subcommand with `zeus`'s registries.
pub fn run(zeus: &Zeus) -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(zeus, &cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zeus: {e:#}");
            cmd::exit_code_of(&e)
        }
    }
}
