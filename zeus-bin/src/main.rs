//! `zeus`: start, stop, inspect and list services. Thin: parse, dispatch, map to an exit code.
//!
//! Exit codes: 0 success, 1 error, 2 configuration refused, 3 not running (as LSB `status`).

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zeus: {e:#}");
            cmd::exit_code_of(&e)
        }
    }
}
