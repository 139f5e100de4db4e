//! `zeus`: start, stop, reload, inspect and list services, with every built-in service.

use std::process::ExitCode;

fn main() -> ExitCode {
    zeus_cli::run(&zeus_cli::zeus())
}
