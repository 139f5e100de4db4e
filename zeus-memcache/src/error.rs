//! Errors: `MemcacheError` is a protocol error and becomes memcached's exact reply line through
//! `to_response()`; `StoreError` says why the shared store could not be created.

use std::io;

use thiserror::Error;

/// A request the server answers with an error line, worded as memcached 1.6 words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MemcacheError {
    /// Unknown command or wrong number of tokens.
    #[error("unknown command")]
    UnknownCommand,
    /// A malformed argument, or a key over 250 bytes.
    #[error("bad command line format")]
    BadFormat,
    /// `delete` with arguments other than `0` and `noreply`.
    #[error("bad delete arguments")]
    BadDeleteFormat,
    /// A value not followed by "\r\n" where its announced length ends.
    #[error("bad data chunk")]
    BadDataChunk,
    /// An exptime that is not a number (touch, gat, flush_all).
    #[error("invalid exptime argument")]
    InvalidExptime,
    /// An incr/decr amount that is not an unsigned 64-bit number.
    #[error("invalid numeric delta argument")]
    InvalidDelta,
    /// incr/decr on a value that is not a number.
    #[error("non-numeric value")]
    NonNumeric,
    /// A value larger than `item_size_max` allows.
    #[error("object too large for cache")]
    TooLarge,
    /// No room for a value and evictions are off.
    #[error("out of memory storing object")]
    OutOfMemoryStoring,
    /// No room for an incr result and evictions are off.
    #[error("out of memory")]
    OutOfMemory,
    /// `max_connections` reached.
    #[error("too many open connections")]
    TooManyConnections,
}

impl MemcacheError {
    /// The reply line, byte for byte as memcached sends it.
    pub fn to_response(self) -> &'static [u8] {
        match self {
            Self::UnknownCommand => b"ERROR\r\n",
            Self::BadFormat => b"CLIENT_ERROR bad command line format\r\n",
            Self::BadDeleteFormat => {
                b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
            }
            Self::BadDataChunk => b"CLIENT_ERROR bad data chunk\r\n",
            Self::InvalidExptime => b"CLIENT_ERROR invalid exptime argument\r\n",
            Self::InvalidDelta => b"CLIENT_ERROR invalid numeric delta argument\r\n",
            Self::NonNumeric => b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            Self::TooLarge => b"SERVER_ERROR object too large for cache\r\n",
            Self::OutOfMemoryStoring => b"SERVER_ERROR out of memory storing object\r\n",
            Self::OutOfMemory => b"SERVER_ERROR out of memory\r\n",
            Self::TooManyConnections => b"ERROR Too many open connections\r\n",
        }
    }
}

/// The store could not be created.
#[derive(Debug, Error)]
pub enum StoreError {
    /// `memory_limit` cannot hold the segments `item_size_max` needs.
    #[error("memory_limit is too small: at least {min} bytes are needed for this item_size_max")]
    TooSmall {
        /// Smallest workable limit.
        min: usize,
    },
    /// The shared mapping failed.
    #[error("cannot map {0}")]
    Map(#[source] io::Error),
    /// A lock could not be initialised.
    #[error("cannot initialise a store lock: {0}")]
    Lock(#[source] io::Error),
    /// The `filesystem` backend's directory cannot be used.
    #[error("cannot use directory {dir}: {1}", dir = .0.display())]
    Directory(std::path::PathBuf, #[source] io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_is_one_crlf_line() {
        for e in [
            MemcacheError::UnknownCommand,
            MemcacheError::BadFormat,
            MemcacheError::BadDeleteFormat,
            MemcacheError::BadDataChunk,
            MemcacheError::InvalidExptime,
            MemcacheError::InvalidDelta,
            MemcacheError::NonNumeric,
            MemcacheError::TooLarge,
            MemcacheError::OutOfMemoryStoring,
            MemcacheError::OutOfMemory,
            MemcacheError::TooManyConnections,
        ] {
            let r = e.to_response();
            assert!(r.ends_with(b"\r\n"));
            assert_eq!(r.iter().filter(|b| **b == b'\n').count(), 1);
        }
    }
}
