//! Log set-up: `tracing` to stdout, stderr or a file, as text or JSON lines, and the route
//! that makes the scheduler the one writer of its workers' lines.
//!
//! Every line is formatted whole and written with one `write(2)`, so lines never tear. In a
//! worker *process* (`process` and `hybrid` MPMs) lines are not written but sent to the
//! scheduler through its channel ([`route`]), which writes them ([`write_line`]) beside its
//! own: one writer per service, as php-fpm's `catch_workers_output`. A worker never waits
//! for that: when the channel is full, closed, or a line is longer than a message, the line
//! is written directly instead and counted ([`direct_lines`]). `thread` workers live in the
//! scheduler process, which is already their one writer; they write directly. Scheduler and
//! worker lines carry their span (`scheduler{service=… pid=…}`, `worker{service=… id=… pid=…}`).
//! [`reopen`] reopens a log file after rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogFormat, LogLevel, LoggerConfig};
use crate::error::CoreError;

const BANNER: &str = r"
  ________  ___  _   _  ___
 |__  / __|| | || | | |/ __|
   / /| _| | |_|| |_| |\__ \
  /___|___| \___/ \___/ |___/
";

/// Where this process writes lines itself.
enum Output {
    Stdout,
    Stderr,
    File { path: PathBuf, file: Mutex<File> },
}

type Route = Box<dyn Fn(&[u8]) -> bool + Send + Sync>;

static OUTPUT: OnceLock<Output> = OnceLock::new();
/// Set in worker processes only: sends a line to the scheduler, false if it could not.
static ROUTE: OnceLock<Route> = OnceLock::new();
static DIRECT: AtomicU64 = AtomicU64::new(0);

/// Installs the global subscriber; prints the banner first when configured.
pub fn init(cfg: &LoggerConfig) -> Result<(), CoreError> {
    let level = match cfg.reporting_level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let (output, ansi) = match cfg.output.as_str() {
        "stdout" => (Output::Stdout, io::stdout().is_terminal()),
        "stderr" => (Output::Stderr, io::stderr().is_terminal()),
        path => (
            Output::File {
                // Absolute, so a reopen finds it whatever the working directory is by then.
                path: std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path)),
                file: Mutex::new(open(path)?),
            },
            false,
        ),
    };
    // A second init in one process (tests) keeps the first output and subscriber.
    let _ = OUTPUT.set(output);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(Lines);
    let _ = match cfg.format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}

/// Sends this process's lines through `send` from now on (a worker process, once; later
/// calls are ignored). `send` must not wait; false makes the line go out directly.
pub fn route(send: impl Fn(&[u8]) -> bool + Send + Sync + 'static) {
    let _ = ROUTE.set(Box::new(send));
}

/// Writes one whole line (or several) to this process's output: the scheduler writing the
/// lines its workers sent.
pub fn write_line(line: &[u8]) {
    let _ = write_direct(line);
}

/// Lines this process wrote directly although it routes them (channel full or closed, or a
/// line longer than a message).
pub fn direct_lines() -> u64 {
    DIRECT.load(Ordering::Relaxed)
}

/// Reopens the log file (after rotation); false when the output is not a file.
pub fn reopen() -> Result<bool, CoreError> {
    match OUTPUT.get() {
        Some(Output::File { path, file }) => {
            let new = open_path(path)?;
            *file.lock().unwrap_or_else(PoisonError::into_inner) = new;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn write_direct(buf: &[u8]) -> io::Result<()> {
    match OUTPUT.get() {
        None | Some(Output::Stdout) => {
            let mut out = io::stdout().lock();
            out.write_all(buf)?;
            out.flush()
        }
        Some(Output::Stderr) => io::stderr().lock().write_all(buf),
        Some(Output::File { file, .. }) => file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(buf),
    }
}

/// The subscriber's writer: one formatted event per `write` call.
#[derive(Debug, Clone, Copy)]
struct Lines;

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Self::Writer {
        Lines
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(send) = ROUTE.get() {
            if send(buf) {
                return Ok(buf.len());
            }
            DIRECT.fetch_add(1, Ordering::Relaxed);
        }
        write_direct(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the banner to the configured output.
pub fn banner(cfg: &LoggerConfig, version: &str) -> Result<(), CoreError> {
    if !cfg.show_banner || cfg.format == LogFormat::Json {
        return Ok(());
    }
    let text = format!("{BANNER}  zeus {version}: multitasking runtime and service manager\n\n");
    let res = match cfg.output.as_str() {
        "stdout" => io::stdout().write_all(text.as_bytes()),
        "stderr" => io::stderr().write_all(text.as_bytes()),
        path => open(path)?.write_all(text.as_bytes()),
    };
    res.map_err(CoreError::Io)
}

fn open(path: &str) -> Result<File, CoreError> {
    open_path(&PathBuf::from(path))
}

fn open_path(path: &PathBuf) -> Result<File, CoreError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(CoreError::path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_line_the_channel_refuses_is_written_directly_and_counted() {
        route(|line| line.starts_with(b"sent"));
        let before = direct_lines();
        Lines.write_all(b"sent through the channel\n").unwrap();
        assert_eq!(direct_lines(), before);
        Lines.write_all(b"refused: written to stdout\n").unwrap();
        assert_eq!(direct_lines(), before + 1);
        assert!(!reopen().unwrap(), "stdout has nothing to reopen");
    }
}
