//! `FileLog` (`logger_adapter = "file"`): combined lines appended to a file, or written to the
//! standard output. Each line is one `write(2)`; on a file opened `O_APPEND` that keeps the
//! lines of different workers whole. On a pipe, whole up to `PIPE_BUF` (4 KiB) per line;
//! use `logger_adapter = "zeus"` when longer lines from several processes share one pipe.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};

use super::combined::{line, Entry};
use super::AccessLogger;

/// Where the lines go.
#[derive(Debug)]
enum Out {
    Stdout,
    File(File),
}

/// The file (or stdout) logger.
#[derive(Debug)]
pub struct FileLog {
    out: Out,
}

impl FileLog {
    /// From the `access_log` setting: `stdout`, or a path (created, appended to).
    pub fn open(setting: &str) -> io::Result<Self> {
        let out = match setting {
            "stdout" => Out::Stdout,
            path => Out::File(OpenOptions::new().create(true).append(true).open(path)?),
        };
        Ok(Self { out })
    }
}

impl AccessLogger for FileLog {
    fn log(&self, entry: &Entry<'_>) {
        let line = line(entry);
        let r = match &self.out {
            Out::Stdout => {
                let mut o = io::stdout().lock();
                o.write_all(line.as_bytes()).and_then(|()| o.flush())
            }
            Out::File(f) => (&*f).write_all(line.as_bytes()),
        };
        if let Err(e) = r {
            tracing::warn!("access log write failed: {e}");
        }
    }
}
