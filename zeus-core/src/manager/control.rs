//! The control socket: one JSON request datagram in, one JSON response datagram out, over
//! the `socket` IPC adapter's datagram sockets ([`zeus_ipc::socket::ServiceSocket`]).
//!
//! The manager serves it (`zeus.sock` in the run dir, mode 0600) without ever waiting for a
//! client: a request arrives whole or not at all. [`request`] is what the CLI and the tests
//! use. `zeus status` does not go through here: it reads the scoreboards, so
//! it answers even when the manager is busy.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use zeus_ipc::socket::{ReplyError, ReplyTo, ServiceSocket};

use crate::config::Entry;
use crate::error::CoreError;

/// Longest request the manager reads.
pub const MAX_REQUEST: usize = 64 * 1024;

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
    let line = serde_json::to_vec(req).map_err(|e| CoreError::Control(e.to_string()))?;
    let answer =
        zeus_ipc::socket::request(socket, &line, timeout).map_err(CoreError::path(socket))?;
    serde_json::from_slice(&answer)
        .map_err(|e| CoreError::Control(format!("bad answer from the manager: {e}")))
}

/// Parses one request datagram (`len` bytes of `buf`; `truncated` when it was longer).
pub(crate) fn parse_request(buf: &[u8], truncated: bool) -> Result<Request, String> {
    if truncated {
        return Err(format!("request refused: longer than {MAX_REQUEST} bytes"));
    }
    serde_json::from_slice(buf).map_err(|e| format!("bad request: {e}"))
}

/// Sends one response (best effort: the client may have gone). An answer too large for one
/// datagram is replaced by an error saying so.
pub(crate) fn write_response(control: &ServiceSocket, to: &ReplyTo, resp: &Response) {
    let Ok(line) = serde_json::to_vec(resp) else {
        return;
    };
    match control.reply(to, &line) {
        Ok(()) => {}
        Err(ReplyError::TooLarge { len, max }) => {
            let msg = format!(
                "the answer is {len} bytes, more than the {max} the control socket carries; \
                 ask about one service"
            );
            let _ = serde_json::to_vec(&Response::err(msg)).map(|e| control.reply(to, &e));
        }
        Err(e) => tracing::debug!("control client: {e}"),
    }
}
