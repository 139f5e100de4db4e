//! Errors, one enum per operation (create, open, send, receive, name), because callers react
//! differently to each: `CreateError::AlreadyExists` means "purge a crashed instance or pick
//! another name", `SendError::Full` means "try later", `RecvError::Disconnected` means "the
//! peer is gone, stop". Variants carry what the caller needs to log or decide (sizes, limits,
//! mailbox, errno); there is no `String` catch-all.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::channel::{IpcAdapter, Mailbox};

/// A name (`zeus.<instance>.<scope>`) that cannot be used for OS objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The instance or scope is empty.
    #[error("the {part} of an IPC name is empty")]
    Empty {
        /// `"instance"` or `"scope"`.
        part: &'static str,
    },
    /// The instance or scope is longer than allowed.
    #[error("the {part} of an IPC name is {len} bytes long, at most {max} are allowed")]
    TooLong {
        /// `"instance"` or `"scope"`.
        part: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside `[A-Za-z0-9_-]`.
    #[error("the {part} of an IPC name contains {ch:?}; only A-Z a-z 0-9 _ - are allowed")]
    BadChar {
        /// `"instance"` or `"scope"`.
        part: &'static str,
        /// The offending character.
        ch: char,
    },
}

/// Creating a channel (the owner's side) failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// An object of that name exists: another live instance, or leftovers of a crashed one
    /// (see [`crate::name::purge`]).
    #[error("{adapter} channel {name}: {path} already exists")]
    AlreadyExists {
        /// The adapter that was asked.
        adapter: IpcAdapter,
        /// The channel's name.
        name: String,
        /// The object that exists (path, or `sysv key 0x…`).
        path: String,
    },
    /// A field of [`crate::ChannelOptions`] is out of range.
    #[error("channel option {field} = {value} is invalid: {reason}")]
    InvalidOptions {
        /// The option.
        field: &'static str,
        /// Its value.
        value: usize,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The adapter or the kernel cannot provide what was asked (e.g. a message larger than
    /// `kernel.msgmax`, or than `PIPE_BUF` for FIFOs).
    #[error("{adapter}: {what} = {requested} exceeds the limit {limit} ({source_of_limit})")]
    ExceedsLimit {
        /// The adapter that was asked.
        adapter: IpcAdapter,
        /// What was asked (`"max_message_size"`, ...).
        what: &'static str,
        /// The requested value.
        requested: usize,
        /// The limit.
        limit: usize,
        /// Where the limit comes from (`"kernel.msgmax"`, `"PIPE_BUF"`, ...).
        source_of_limit: &'static str,
    },
    /// A path is too long for the mechanism (Unix socket paths hold at most 107 bytes).
    #[error("{adapter}: path {path} is {len} bytes, at most {max} fit")]
    PathTooLong {
        /// The adapter that was asked.
        adapter: IpcAdapter,
        /// The path.
        path: PathBuf,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No adapter could be created ([`IpcAdapter::Auto`]); holds the last adapter's error.
    #[error("no IPC adapter works here; the last one tried said: {0}")]
    NoneAvailable(Box<CreateError>),
    /// A system call failed.
    #[error("{adapter}: {op} failed for {object}: {source}")]
    Io {
        /// The adapter that was asked.
        adapter: IpcAdapter,
        /// The call (`"mkfifo"`, `"msgget"`, ...).
        op: &'static str,
        /// The object it was called on.
        object: String,
        /// The OS error.
        source: io::Error,
    },
}

/// Opening an endpoint of an existing channel failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The mailbox is not part of the channel.
    #[error("{mailbox} does not exist; the channel has mailboxes 0..={last}")]
    NoSuchMailbox {
        /// The mailbox asked for.
        mailbox: Mailbox,
        /// The highest mailbox of the channel.
        last: u32,
    },
    /// No channel of that name exists.
    #[error("{adapter} channel {name} does not exist")]
    DoesNotExist {
        /// The adapter that was asked.
        adapter: IpcAdapter,
        /// The object looked for.
        name: String,
    },
    /// The object exists but was made by something else or another layout version.
    #[error("{name} is not a compatible {adapter} channel: {reason}")]
    Incompatible {
        /// The adapter that was asked.
        adapter: IpcAdapter,
        /// The object.
        name: String,
        /// What did not match (magic, layout version, size).
        reason: &'static str,
    },
    /// A system call failed.
    #[error("{adapter}: {op} failed for {object}: {source}")]
    Io {
        /// The adapter that was asked.
        adapter: IpcAdapter,
        /// The call.
        op: &'static str,
        /// The object it was called on.
        object: String,
        /// The OS error.
        source: io::Error,
    },
}

/// Sending a message failed; nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message is larger than [`crate::Channel::max_message_size`]; it is refused whole,
    /// never cut.
    #[error("message of {size} bytes is larger than the channel's maximum of {max}")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The channel's maximum.
        max: usize,
    },
    /// The mailbox is not part of the channel.
    #[error("{mailbox} does not exist; the channel has mailboxes 0..={last}")]
    NoSuchMailbox {
        /// The mailbox asked for.
        mailbox: Mailbox,
        /// The highest mailbox of the channel.
        last: u32,
    },
    /// The mailbox is full and the call was not allowed to wait (`try_send`).
    #[error("{0} is full")]
    Full(Mailbox),
    /// The mailbox stayed full for the whole timeout.
    #[error("{mailbox} stayed full for {waited:?}")]
    Timeout {
        /// The mailbox.
        mailbox: Mailbox,
        /// How long the call waited.
        waited: Duration,
    },
    /// The mailbox's receiver is gone (its process died, or the channel was removed).
    #[error("the receiver of {0} is gone")]
    Disconnected(Mailbox),
    /// A system call failed.
    #[error("{op} failed while sending to {mailbox}: {source}")]
    Io {
        /// The call.
        op: &'static str,
        /// The mailbox.
        mailbox: Mailbox,
        /// The OS error.
        source: io::Error,
    },
}

/// Receiving a message failed; nothing was consumed.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    /// No message, and the call was not allowed to wait (`try_recv`).
    #[error("no message in {0}")]
    Empty(Mailbox),
    /// No message arrived within the timeout.
    #[error("no message arrived in {mailbox} within {waited:?}")]
    Timeout {
        /// The mailbox.
        mailbox: Mailbox,
        /// How long the call waited.
        waited: Duration,
    },
    /// The caller's buffer is shorter than the next message, which stays queued.
    #[error("the next message needs a buffer of {needed} bytes, got {len}")]
    BufferTooSmall {
        /// Bytes needed: exact, except for `sysv` where the kernel only says "too big" and
        /// this is the channel's maximum.
        needed: usize,
        /// The buffer's length.
        len: usize,
    },
    /// The sending side is gone: the hub's process died (seen by a worker), or the channel
    /// was removed. Messages sent before that were delivered first.
    #[error("the peer of {0} is gone")]
    Disconnected(Mailbox),
    /// The byte stream under a framed adapter is not made of our frames (someone else wrote
    /// to the FIFO); the buffered bytes are dropped.
    #[error("corrupt frame in {mailbox}: {reason}")]
    Corrupt {
        /// The mailbox.
        mailbox: Mailbox,
        /// What was wrong.
        reason: &'static str,
    },
    /// A system call failed.
    #[error("{op} failed while receiving from {mailbox}: {source}")]
    Io {
        /// The call.
        op: &'static str,
        /// The mailbox.
        mailbox: Mailbox,
        /// The OS error.
        source: io::Error,
    },
}

/// Listing or purging the leftovers of an instance failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The instance name is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A directory or object could not be read or removed.
    #[error("{op} failed for {object}: {source}")]
    Io {
        /// The call (`"read_dir"`, `"unlink"`, `"msgctl(IPC_RMID)"`, ...).
        op: &'static str,
        /// The object.
        object: String,
        /// The OS error.
        source: io::Error,
    },
}

impl CreateError {
    /// Whether [`IpcAdapter::Auto`] should try the next adapter after this error: the
    /// mechanism is missing or refused here, rather than the request being wrong.
    pub(crate) fn is_platform_refusal(&self) -> bool {
        match self {
            CreateError::ExceedsLimit { .. } | CreateError::PathTooLong { .. } => true,
            CreateError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(
                    libc::ENOSYS
                        | libc::ENOENT
                        | libc::EACCES
                        | libc::EPERM
                        | libc::ENOSPC
                        | libc::EROFS
                        | libc::EAFNOSUPPORT
                        | libc::EOPNOTSUPP
                        | libc::ENODEV
                )
            ),
            CreateError::AlreadyExists { .. }
            | CreateError::InvalidOptions { .. }
            | CreateError::NoneAvailable(_) => false,
        }
    }
}
