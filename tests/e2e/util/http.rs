//! A raw HTTP/1.1 client over loopback TCP for the http tests: it writes exactly the bytes a
//! test gives it (malformed ones included) and parses responses strictly, with a timeout on
//! every read, so a server bug fails the test instead of hanging it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first field named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection.
#[derive(Debug)]
pub struct HttpConn {
    reader: BufReader<TcpStream>,
}

impl HttpConn {
    /// Connects to 127.0.0.1:`port`, or fails the test.
    pub fn connect(port: u16) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        s.set_write_timeout(Some(IO_TIMEOUT))
            .expect("write timeout");
        s.set_nodelay(true).expect("nodelay");
        Self {
            reader: BufReader::new(s),
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).expect("send");
    }

    /// `GET path` with `Host`, on this connection.
    pub fn get(&mut self, path: &str) -> HttpResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.read(false)
    }

    /// Reads one response (`head_only`: the answer to a HEAD, no body whatever the length).
    pub fn read(&mut self, head_only: bool) -> HttpResponse {
        self.try_read(head_only).expect("read a response")
    }

    /// Reads one response, or the error (e.g. EOF).
    pub fn try_read(&mut self, head_only: bool) -> io::Result<HttpResponse> {
        let line = self.line()?;
        let status = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let l = self.line()?;
            if l.is_empty() {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| io::Error::other(format!("bad header {l:?}")))?;
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut r = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = r
            .header("content-length")
            .map(|v| v.parse().expect("numeric Content-Length"))
            .unwrap_or(0);
        if !head_only && !matches!(status, 100..=199 | 204 | 304) {
            r.body = vec![0; len];
            self.reader.read_exact(&mut r.body)?;
        }
        Ok(r)
    }

    fn line(&mut self) -> io::Result<String> {
        let mut l = String::new();
        if self.reader.read_line(&mut l)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(l.trim_end_matches(['\r', '\n']).to_string())
    }

    /// Waits until the server closes the connection (EOF or reset); returns how long it took.
    pub fn expect_closed(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        self.reader
            .get_ref()
            .set_read_timeout(Some(within))
            .expect("read timeout");
        let mut buf = [0u8; 256];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return start.elapsed(),
                Ok(n) => panic!(
                    "unexpected bytes before close: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return start.elapsed(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("connection not closed within {within:?}: {e}"),
            }
        }
    }
}

/// One request on a fresh connection; returns the response.
pub fn request(port: u16, raw: &str) -> HttpResponse {
    let mut c = HttpConn::connect(port);
    c.send(raw.as_bytes());
    c.read(raw.starts_with("HEAD "))
}
