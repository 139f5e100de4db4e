//! `json_log`: an access logger for zeus-http (`logger_adapter = "json_log"`) that writes one
//! JSON object per exchange to the standard output, each line with one `write(2)`:
//! `{"peer":"127.0.0.1","request":"GET / HTTP/1.1","status":200,"bytes":12}`.

use std::io::Write;

use serde_json::json;
use zeus_http::{AccessLogger, Entry};

/// The example logger.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLog;

impl AccessLogger for JsonLog {
    fn log(&self, e: &Entry<'_>) {
        let mut line = json!({
            "peer": e.peer.to_string(),
            "request": String::from_utf8_lossy(e.request),
            "status": e.status,
            "bytes": e.bytes,
        })
        .to_string();
        line.push('\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}
