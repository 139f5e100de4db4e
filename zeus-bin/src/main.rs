//! `zeus`: start, stop, reload, inspect and list services, with the built-in services.

use std::process::ExitCode;

fn main() -> ExitCode {
    zeus_cli::run(&zeus_core::Zeus::new())
}
