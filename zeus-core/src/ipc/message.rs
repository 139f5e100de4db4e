//! The messages on a scheduler's channel and their encoding: one tag byte, fixed
//! little-endian fields, then UTF-8 text to the end of the message (a channel keeps message
//! boundaries, so no length is needed). Decoding never panics: a message that is not ours is
//! a [`DecodeError`].

/// Worker → scheduler (mailbox 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToHub<'a> {
    /// The worker runs and is about to serve (sent once, before its first task).
    Started {
        /// Its worker id.
        worker_id: u64,
        /// Its process id.
        pid: u32,
        /// Its thread id.
        tid: u32,
    },
    /// The worker is ending, with its exit code and why.
    Exiting {
        /// Its worker id.
        worker_id: u64,
        /// The code it returns.
        code: i32,
        /// Why, in words.
        reason: &'a str,
    },
    /// The worker takes no new work and ends once the work in hand is done (it recycles
    /// itself); sent when it decides, before it drains its connections, so the scheduler
    /// can start its replacement at once.
    Leaving {
        /// Its worker id.
        worker_id: u64,
        /// Why, in words.
        reason: &'a str,
    },
    /// One formatted log line (newline included) for the scheduler to write.
    Log(&'a [u8]),
}

/// Scheduler → worker (the worker's mailbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToWorker<'a> {
    /// End after the task in hand; `why` goes into the worker's exit report.
    Stop {
        /// The worker meant: a slot's mailbox may still hold mail for its previous worker.
        worker_id: u64,
        /// Why, in words.
        why: &'a str,
    },
    /// Reopen the log file (after rotation).
    ReopenLogs {
        /// The worker meant.
        worker_id: u64,
    },
}

impl ToWorker<'_> {
    /// The worker the command is for.
    pub fn worker_id(&self) -> u64 {
        match self {
            ToWorker::Stop { worker_id, .. } | ToWorker::ReopenLogs { worker_id } => *worker_id,
        }
    }
}

/// A message that is not one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("undecodable channel message (tag {tag:#04x}, {len} bytes)")]
pub struct DecodeError {
    /// Its first byte (0 when empty).
    pub tag: u8,
    /// Its length.
    pub len: usize,
}

const STARTED: u8 = 1;
const EXITING: u8 = 2;
const LOG: u8 = 3;
const LEAVING: u8 = 4;
const STOP: u8 = 16;
const REOPEN_LOGS: u8 = 17;

/// Bytes of a `Log` message around its line.
pub const LOG_OVERHEAD: usize = 1;

/// Reads fixed fields off the front of a message.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn text(self) -> Option<&'a str> {
        std::str::from_utf8(self.0).ok()
    }
}

impl<'a> ToHub<'a> {
    /// Appends the encoding to `out` (cleared first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            ToHub::Started {
                worker_id,
                pid,
                tid,
            } => {
                out.push(STARTED);
                out.extend_from_slice(&worker_id.to_le_bytes());
                out.extend_from_slice(&pid.to_le_bytes());
                out.extend_from_slice(&tid.to_le_bytes());
            }
            ToHub::Exiting {
                worker_id,
                code,
                reason,
            } => {
                out.push(EXITING);
                out.extend_from_slice(&worker_id.to_le_bytes());
                out.extend_from_slice(&code.to_le_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
            ToHub::Leaving { worker_id, reason } => {
                out.push(LEAVING);
                out.extend_from_slice(&worker_id.to_le_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
            ToHub::Log(line) => {
                out.push(LOG);
                out.extend_from_slice(line);
            }
        }
    }

    /// Decodes one message.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let err = DecodeError {
            tag: msg.first().copied().unwrap_or(0),
            len: msg.len(),
        };
        let (&tag, rest) = msg.split_first().ok_or(err)?;
        let mut f = Fields(rest);
        let decoded = match tag {
            STARTED => (|| {
                let m = ToHub::Started {
                    worker_id: f.u64()?,
                    pid: f.u32()?,
                    tid: f.u32()?,
                };
                f.0.is_empty().then_some(m)
            })(),
            EXITING => (|| {
                let worker_id = f.u64()?;
                let code = f.u32()? as i32;
                Some(ToHub::Exiting {
                    worker_id,
                    code,
                    reason: f.text()?,
                })
            })(),
            LEAVING => (|| {
                let worker_id = f.u64()?;
                Some(ToHub::Leaving {
                    worker_id,
                    reason: f.text()?,
                })
            })(),
            LOG => Some(ToHub::Log(rest)),
            _ => None,
        };
        decoded.ok_or(err)
    }
}

impl<'a> ToWorker<'a> {
    /// Appends the encoding to `out` (cleared first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            ToWorker::Stop { worker_id, why } => {
                out.push(STOP);
                out.extend_from_slice(&worker_id.to_le_bytes());
                out.extend_from_slice(why.as_bytes());
            }
            ToWorker::ReopenLogs { worker_id } => {
                out.push(REOPEN_LOGS);
                out.extend_from_slice(&worker_id.to_le_bytes());
            }
        }
    }

    /// Decodes one message.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let err = DecodeError {
            tag: msg.first().copied().unwrap_or(0),
            len: msg.len(),
        };
        let (&tag, rest) = msg.split_first().ok_or(err)?;
        let mut f = Fields(rest);
        let decoded = match tag {
            STOP => (|| {
                let worker_id = f.u64()?;
                Some(ToWorker::Stop {
                    worker_id,
                    why: f.text()?,
                })
            })(),
            REOPEN_LOGS => (|| {
                let m = ToWorker::ReopenLogs {
                    worker_id: f.u64()?,
                };
                f.0.is_empty().then_some(m)
            })(),
            _ => None,
        };
        decoded.ok_or(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let mut buf = Vec::new();
        for m in [
            ToHub::Started {
                worker_id: 7,
                pid: 1234,
                tid: 1235,
            },
            ToHub::Exiting {
                worker_id: u64::MAX,
                code: -3,
                reason: "stop requested: shutdown",
            },
            ToHub::Leaving {
                worker_id: 3,
                reason: "max_process_tasks reached",
            },
            ToHub::Log(b"a line\n"),
        ] {
            m.encode(&mut buf);
            assert_eq!(ToHub::decode(&buf), Ok(m));
        }
        for m in [
            ToWorker::Stop {
                worker_id: 9,
                why: "idle",
            },
            ToWorker::ReopenLogs { worker_id: 1 },
        ] {
            m.encode(&mut buf);
            assert_eq!(ToWorker::decode(&buf), Ok(m.clone()));
            assert_eq!(ToWorker::decode(&buf).unwrap().worker_id(), m.worker_id());
        }
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for bad in [
            &b""[..],
            &[0xff],
            &[STARTED, 1, 2],
            &[EXITING, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff],
            &[STOP, 1],
            &[LEAVING, 1, 0, 0],
            &[REOPEN_LOGS, 1, 0, 0, 0, 0, 0, 0, 0, 9],
        ] {
            assert!(ToHub::decode(bad).is_err() || ToWorker::decode(bad).is_err());
        }
        assert!(ToHub::decode(&[STOP, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(ToWorker::decode(&[LOG, b'x']).is_err());
    }
}
