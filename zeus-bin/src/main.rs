//! `zeus`: start, stop, reload, inspect and list services, with the built-in services and
//! the `http` service adapter of zeus-http.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut zeus = zeus_core::Zeus::new();
    zeus_http::Http::new().register(&mut zeus);
    zeus.add_default_services(zeus_http::DEFAULT_SERVICES);
    zeus_cli::run(&zeus)
}
