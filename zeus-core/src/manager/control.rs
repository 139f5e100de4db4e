//! The control socket: one JSON request line in, one JSON response line out.
//!
//! The manager serves it (`zeus.sock` in the run dir, mode 0600); `Client` is what the CLI
//! and the tests use. `zeus status` does not go through here: it reads the scoreboards, so
//! it answers even when the manager is busy.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Entry;
use crate::error::CoreError;

/// Longest request line the manager reads.
pub const MAX_REQUEST: u64 = 64 * 1024;

/// A request from the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Is the manager alive?
    Ping,
    /// Stop one service, or everything.
    Stop {
        /// The service; `None` stops all.
        service: Option<String>,
    },
    /// Re-read the configuration and replace the schedulers of changed services (all, or one).
    Reload {
        /// The service; `None` reloads all.
        service: Option<String>,
    },
    /// Reopen the log files (after rotation): the manager's, its schedulers' and their
    /// workers'. Same as SIGUSR1 to `zeus start`.
    #[serde(rename = "reopen-logs")]
    ReopenLogs,
    /// The effective configuration with provenance.
    List {
        /// The service; `None` lists all.
        service: Option<String>,
    },
}

/// The manager's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// What happened, in words.
    pub message: String,
    /// Manager pid.
    pub pid: u32,
    /// `list` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<Entry>,
}

impl Response {
    /// A success.
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
            pid: std::process::id(),
            entries: Vec::new(),
        }
    }

    /// A failure.
    pub fn err(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            ..Self::ok(message)
        }
    }
}

/// Sends `req` to the manager listening on `socket` and waits up to `timeout` for the answer.
pub fn request(socket: &Path, req: &Request, timeout: Duration) -> Result<Response, CoreError> {
    let mut stream = UnixStream::connect(socket).map_err(CoreError::path(socket))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = serde_json::to_vec(req).map_err(|e| CoreError::Control(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(stream)
        .take(16 << 20)
        .read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(CoreError::Control(
            "the manager closed the control connection without answering".into(),
        ));
    }
    serde_json::from_str(&answer)
        .map_err(|e| CoreError::Control(format!("bad answer from the manager: {e}")))
}

/// Reads one request line from a client (bounded in size and time).
pub(crate) fn read_request(stream: &UnixStream) -> Result<Request, String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(stream)
        .take(MAX_REQUEST)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("bad request: {e}"))
}

/// Writes one response line (best effort: the client may have gone).
pub(crate) fn write_response(mut stream: &UnixStream, resp: &Response) {
    if let Ok(mut line) = serde_json::to_vec(resp) {
        line.push(b'\n');
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = stream.write_all(&line);
    }
}
