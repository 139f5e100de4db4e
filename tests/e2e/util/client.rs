//! A line client for the `echo` service, over loopback TCP with timeouts on every operation.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Longest wait for a connect, a write or an answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to an echo service (one connection = one task on the server).
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects to 127.0.0.1:`port`, or fails the test.
    pub fn connect(port: u16) -> Self {
        Self::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    /// Connects to 127.0.0.1:`port`.
    pub fn try_connect(port: u16) -> io::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// The client side's port, as the server's "doing" column shows it.
    pub fn local_port(&self) -> u16 {
        self.reader
            .get_ref()
            .local_addr()
            .expect("local addr")
            .port()
    }

    /// Sends `line` and a newline.
    pub fn send(&mut self, line: &str) {
        let mut s = self.reader.get_ref();
        s.write_all(format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("send {line:?}: {e}"));
    }

    /// Reads one line (with its newline), or fails the test.
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the server closed the connection instead of answering"),
            Ok(_) => line,
            Err(e) => panic!("read an answer: {e}"),
        }
    }

    /// Sends `line` and checks that exactly it comes back.
    pub fn assert_echo(&mut self, line: &str) {
        self.send(line);
        assert_eq!(self.read_line(), format!("{line}\n"), "echo of {line:?}");
    }

    /// Waits up to `timeout` for the server to close the connection (EOF or reset); returns
    /// how long that took. Fails if data arrives instead, or nothing happens in time.
    pub fn expect_closed(&mut self, timeout: Duration) -> Duration {
        let t0 = Instant::now();
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .expect("set timeout");
        let mut buf = Vec::new();
        match self.reader.read_to_end(&mut buf) {
            Ok(_) if buf.is_empty() => t0.elapsed(),
            Ok(_) => panic!(
                "expected a closed connection, got {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset) => t0.elapsed(),
            Err(e) => panic!("connection not closed by the server within {timeout:?}: {e}"),
        }
    }
}
