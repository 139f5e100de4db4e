//! Opening an existing mmap channel by name, from any process: the header's magic, layout
//! version and geometry are checked against the file before any ring is touched.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use super::layout::{Layout, SegmentHeader, MAGIC, VERSION};
use super::{MmapChannel, Segment, ADAPTER};
use crate::channel::{check_mailbox, ChannelOptions, Mailbox};
use crate::error::OpenError;
use crate::name::IpcName;
use crate::sys::SharedMap;

impl MmapChannel {
    /// Opens the hub's existing channel `name` by name (from any process), checking the
    /// header's magic, layout version and size, and returns the endpoint of `mailbox`.
    pub fn open(name: &IpcName, mailbox: Mailbox) -> Result<Self, OpenError> {
        let path = Self::path(name);
        let object = path.display().to_string();
        let io = |op, source| OpenError::Io {
            adapter: ADAPTER,
            op,
            object: object.clone(),
            source,
        };
        let incompatible = |reason| OpenError::Incompatible {
            adapter: ADAPTER,
            name: object.clone(),
            reason,
        };
        let fd = match open(&path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                return Err(OpenError::DoesNotExist {
                    adapter: ADAPTER,
                    name: object.clone(),
                })
            }
            Err(e) => return Err(io("open", e.into())),
        };
        let file = File::from(fd);
        let len = file.metadata().map_err(|e| io("fstat", e))?.len();
        let len = usize::try_from(len).map_err(|_| incompatible("size"))?;
        if len < std::mem::size_of::<SegmentHeader>() {
            return Err(incompatible("shorter than its header"));
        }
        let map = SharedMap::map(&file, len).map_err(|e| io("mmap", e))?;
        let header = map
            .view::<SegmentHeader>(0)
            .ok_or_else(|| incompatible("header"))?;
        if header.magic.load(Ordering::Acquire) != MAGIC {
            return Err(incompatible(
                "magic (not a zeus ring, or still being created)",
            ));
        }
        if header.version.load(Ordering::Acquire) != VERSION {
            return Err(incompatible("layout version"));
        }
        let layout = Layout::from_header(header)
            .filter(|l| l.total_len == len)
            .ok_or_else(|| incompatible("geometry does not match the file size"))?;
        let hub_pid = header.hub_pid.load(Ordering::Acquire);
        check_mailbox(mailbox, layout.workers)?;
        let segment = Segment::new(map, layout, hub_pid, ChannelOptions::default().spin, None)
            .ok_or_else(|| incompatible("geometry does not fit the mapping"))?;
        Ok(Self::bound(mailbox, Arc::new(segment), None))
    }
}
