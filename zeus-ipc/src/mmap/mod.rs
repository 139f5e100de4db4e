//! `mmap` adapter: one ring per mailbox in a named `MAP_SHARED` segment in `/dev/shm`.
//!
//! - The segment is a file created with `O_CREAT | O_EXCL` (so two instances never share
//!   one) and mapped with `memmap2` (`MAP_SHARED`: an anonymous `map_anon` is private, and a
//!   forked child would not see the parent's writes). Layout: `layout.rs`; queue: `ring.rs`.
//! - No system call while both ends are awake: a waiter first busy-polls for
//!   [`ChannelOptions::spin`](crate::ChannelOptions::spin), then parks on a futex word in the
//!   segment; the other side calls `FUTEX_WAKE` only when someone announced it parks.
//! - Wake-up protocol: the waiter announces itself (a SeqCst increment, a full barrier),
//!   re-checks the ring (without the receivers' lock: `Ring::idle`), then sleeps on the
//!   futex word it read before the re-check. The waker checks the announcement *without* a
//!   StoreLoad fence: on this 2-vCPU VM a fence per message cost ~0.35 µs, a third of the
//!   busy round trip. The price is a window of a store-buffer drain (~100 ns) in which a
//!   message published just as the waiter parks does not wake it; the waiter's first
//!   futex wait is therefore 5 ms (then doubling up to
//!   [`LIVENESS_PERIOD`]), which bounds that rare delay. No message is ever lost or left
//!   waiting longer. (A shorter first wait, 50 µs, made every park arm the CPU's earliest
//!   timer, which on this VM is a trap to the hypervisor on arming and on cancelling: a
//!   same-CPU round trip with a sleeping peer took 2.5x the raw futex ring's, against 1.1x
//!   with 5 ms, which lies beyond the next scheduler tick.)
//! - A receive reads no clock until its first futex nap has passed without a message
//!   (`deadline::FirstNap`): a clock reading costs ~40 ns here, and the two that building a
//!   deadline and slicing it took were a third of what a same-CPU round trip with a
//!   sleeping peer cost above the raw futex ring (benches/README.md). The timeout still
//!   counts from the first nap and never ends early.
//! - Spinning is skipped when it cannot help: on a one-CPU machine, or when the other side's
//!   last operation ran on our CPU (each ring notes the CPU of its last producer and last
//!   consumer), since the peer could then not run while we spin. There a waiter yields
//!   the CPU once and looks again before it parks: a peer runnable on our CPU (woken by our
//!   send) replies first, so a same-CPU round trip needs no futex call at all. When the
//!   scheduler moves a peer in between, a wait spins at most `spin` in vain.
//! - Peer death: a parked worker checks the hub's pid (from the header) every
//!   [`LIVENESS_PERIOD`]; a parked sender checks the pid of the
//!   mailbox's last receiver; a dead producer's half-written slot is skipped.
//! - Only the message is copied (8 bytes per atomic store; beyond 1 KiB all but its first
//!   64 bytes by `memcpy`, see `ring.rs`), no heap allocation per message.

mod bell;
pub(crate) mod layout;
mod open;
pub(crate) mod ring;

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{compiler_fence, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use crate::channel::{check_mailbox, check_send, Channel, ChannelOptions, IpcAdapter, Mailbox};
use crate::deadline::{Deadline, FirstNap, LIVENESS_PERIOD};
use crate::error::{CreateError, OpenError, RecvError, SendError};
use crate::name::{IpcName, OwnedFiles, SHM_DIR};
use crate::spin::{cpu_tag, spin};
use crate::sys::{self, SharedMap};
use layout::{Layout, SegmentHeader, MAGIC, VERSION};
use ring::{PopError, Ring, RingPlace};

const ADAPTER: IpcAdapter = IpcAdapter::Mmap;

#[derive(Debug)]
struct Segment {
    map: SharedMap,
    layout: Layout,
    /// Every mailbox's ring in `map`, checked once ([`Segment::new`] alone fills it).
    rings: Box<[RingPlace]>,
    hub_pid: i32,
    spin: Duration,
    /// The hub mailbox's doorbell for `poll` (see `bell.rs`); `None` in a process that
    /// opened the channel by name.
    bell: Option<bell::Bell>,
}

impl Segment {
    /// `None` if some mailbox's ring does not fit the mapping.
    fn new(
        map: SharedMap,
        layout: Layout,
        hub_pid: i32,
        spin: Duration,
        bell: Option<bell::Bell>,
    ) -> Option<Self> {
        let rings = (0..=layout.workers)
            .map(|index| RingPlace::new(&map, &layout, index))
            .collect::<Option<_>>()?;
        Some(Self {
            map,
            layout,
            rings,
            hub_pid,
            spin,
            bell,
        })
    }

    /// The ring of `mailbox`, which the caller checked against the layout.
    #[inline]
    fn ring(&self, mailbox: Mailbox) -> Ring<'_> {
        let place = self
            .rings
            .get(mailbox.index() as usize)
            .expect("invariant: mailboxes are checked against the layout");
        // SAFETY: `Segment::new` made every place for `self.map`, and neither changes after.
        unsafe { place.ring(&self.map) }
    }
}

/// A handle on an mmap channel; see the [module docs](self).
#[derive(Debug)]
pub struct MmapChannel {
    mailbox: Mailbox,
    segment: Arc<Segment>,
    /// The hub's handle in the creating process owns the segment's name.
    _owner: Option<OwnedFiles>,
}

fn create_io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> CreateError {
    CreateError::Io {
        adapter: ADAPTER,
        op,
        object: path.display().to_string(),
        source,
    }
}

/// Spin-loop hints between two attempts of a sender waiting for room.
const SEND_PAUSES: u32 = 16;

/// The `recv` outcome of one attempt: `None` = nothing yet.
/// `who` is the receiver's pid and CPU + 1.
fn pop_once(
    ring: &Ring<'_>,
    buf: &mut [u8],
    (me, cpu): (i32, u32),
) -> Option<Result<usize, RecvError>> {
    match ring.pop(buf, me, cpu) {
        Ok(len) => Some(Ok(len)),
        Err(PopError::Empty) => None,
        Err(PopError::TooSmall { needed }) => Some(Err(too_small(needed, buf.len()))),
    }
}

/// The error of a receive whose buffer (`len` bytes) is shorter than the next message.
#[cold]
fn too_small(needed: usize, len: usize) -> RecvError {
    RecvError::BufferTooSmall { needed, len }
}

/// First futex wait of a park; each further one doubles, up to the liveness period. It
/// bounds the cost of the one wake-up `wake` can miss (see the module docs).
const FIRST_PARK: Duration = Duration::from_millis(5);

/// Counts a waiter in `parked` before it re-checks its condition and sleeps: a full
/// (StoreLoad) barrier between the count and the re-check, so that a waker that publishes
/// after the re-check sees the count (up to the window described in the module docs).
pub(super) fn announce(parked: &AtomicU32) {
    parked.fetch_add(1, Ordering::SeqCst);
    // On x86-64 the locked add is itself a full barrier; the `mfence` that
    // `fence(SeqCst)` adds there would cost ~10 ns per park for nothing.
    #[cfg(target_arch = "x86_64")]
    compiler_fence(Ordering::SeqCst);
    #[cfg(not(target_arch = "x86_64"))]
    std::sync::atomic::fence(Ordering::SeqCst);
}

/// Wakes the waiters of `word` if any announced itself in `parked`, unless a wake-up is
/// already on its way to them (`woken`, which each waiter clears before it announces
/// itself): while a woken waiter has not yet run, every message would otherwise cost its
/// producer one more `FUTEX_WAKE` (48 per park in a 64-byte stream, `perf stat`). Checking
/// `parked` is deliberately without a StoreLoad fence (see the module docs); the compiler
/// fence keeps the check after the publication in program order, which keeps the racy
/// window to the store buffer's drain.
#[inline]
fn wake(word: &AtomicU32, parked: &AtomicU32, woken: &AtomicU32) {
    compiler_fence(Ordering::SeqCst);
    if parked.load(Ordering::Relaxed) != 0 && woken.swap(1, Ordering::AcqRel) == 0 {
        word.fetch_add(1, Ordering::Release);
        sys::futex_wake(word, i32::MAX);
    }
}

/// Before a waiter announces itself in a count: asks for a fresh wake-up. The store comes
/// before the announcement's full barrier, so no waker can see an older wake-up after it
/// and skip ours; a waker that sets `woken` after it wakes us (see [`wake`]).
fn want_wake(woken: &AtomicU32) {
    woken.store(0, Ordering::SeqCst);
}

impl MmapChannel {
    fn path(name: &IpcName) -> PathBuf {
        PathBuf::from(SHM_DIR).join(name.object("mmap"))
    }

    fn bound(mailbox: Mailbox, segment: Arc<Segment>, owner: Option<OwnedFiles>) -> Self {
        // Until the real receiver's first `recv`, the creator of the endpoint stands in: a
        // live stand-in makes senders wait, a stale pid would make them give up.
        segment.ring(mailbox).register_receiver(sys::current_pid());
        Self {
            mailbox,
            segment,
            _owner: owner,
        }
    }

    fn init(map: &SharedMap, layout: &Layout) -> Option<()> {
        let header = map.view::<SegmentHeader>(0)?;
        header.version.store(VERSION, Ordering::Relaxed);
        header.workers.store(layout.workers, Ordering::Relaxed);
        header.slots.store(layout.slots, Ordering::Relaxed);
        header
            .slot_stride
            .store(u32::try_from(layout.slot_stride).ok()?, Ordering::Relaxed);
        header
            .max_message
            .store(u32::try_from(layout.max_message).ok()?, Ordering::Relaxed);
        header.hub_pid.store(sys::current_pid(), Ordering::Relaxed);
        header
            .total_len
            .store(layout.total_len as u64, Ordering::Relaxed);
        header.magic.store(MAGIC, Ordering::Release);
        Some(())
    }

    /// The rest of a `send` whose first attempt found the ring full (out of line, so that
    /// the fast path stays a few instructions): fails at once without a timeout, else spins,
    /// then parks.
    #[cold]
    #[inline(never)]
    fn send_wait(
        &self,
        to: Mailbox,
        msg: &[u8],
        timeout: Duration,
        (me, cpu): (i32, u32),
    ) -> Result<(), SendError> {
        if timeout.is_zero() {
            return Err(SendError::Full(to));
        }
        // Made again rather than passed: a `Ring` the fast path hands on must live in memory.
        let ring = &self.segment.ring(to);
        let h = ring.header;
        let mut deadline = Deadline::new(timeout);
        let budget = self.segment.spin.min(timeout);
        let peer = h.receiver_cpu.load(Ordering::Relaxed);
        // A full ring drains at the consumer's pace: polling `head` less often leaves its
        // line to the consumer instead of pulling it across on every attempt.
        let batch = ring.batch();
        let room = || ring.push_with_spare(msg, me, cpu, batch).then_some(());
        if spin(budget, (peer, cpu), SEND_PAUSES, room).is_some() {
            self.segment.wake_receivers(to, h);
            return Ok(());
        }
        self.park_send(ring, to, msg, &mut deadline)
    }

    /// The rest of a `recv` whose first attempt found the ring empty (out of line, as
    /// [`MmapChannel::send_wait`]): spins, then parks. `who` is our pid and CPU + 1.
    #[cold]
    #[inline(never)]
    fn recv_wait(
        &self,
        buf: &mut [u8],
        timeout: Duration,
        (me, cpu): (i32, u32),
    ) -> Result<usize, RecvError> {
        if timeout.is_zero() {
            return Err(RecvError::Empty(self.mailbox));
        }
        let ring = &self.segment.ring(self.mailbox);
        let h = ring.header;
        let peer = h.sender_cpu.load(Ordering::Relaxed);
        let outcome = spin(self.segment.spin.min(timeout), (peer, cpu), 1, || {
            pop_once(ring, buf, (me, cpu))
        });
        match outcome {
            Some(Ok(len)) => {
                wake(&h.space_futex, &h.senders_parked, &h.space_woken);
                Ok(len)
            }
            Some(Err(e)) => Err(e),
            None => self.park_recv(ring, buf, timeout, (me, cpu)),
        }
    }

    fn park_send(
        &self,
        ring: &Ring<'_>,
        to: Mailbox,
        msg: &[u8],
        deadline: &mut Deadline,
    ) -> Result<(), SendError> {
        let (me, cpu) = (sys::current_pid(), cpu_tag());
        let h = ring.header;
        let mut nap = FIRST_PARK;
        loop {
            want_wake(&h.space_woken);
            announce(&h.senders_parked);
            let epoch = h.space_futex.load(Ordering::SeqCst);
            let mut pushed = ring.push(msg, me, cpu);
            let slice = if pushed { None } else { deadline.slice() };
            if let Some(slice) = slice {
                // Woken, timed out or interrupted: all lead back to the checks below.
                let _ = sys::futex_wait(&h.space_futex, epoch, slice.min(nap));
                nap = (nap * 2).min(LIVENESS_PERIOD);
            }
            h.senders_parked.fetch_sub(1, Ordering::SeqCst);
            // Most wake-ups bring room: use it before any bookkeeping.
            pushed = pushed || (slice.is_some() && ring.push(msg, me, cpu));
            if pushed {
                self.segment.wake_receivers(to, h);
                return Ok(());
            }
            if slice.is_none() {
                return Err(SendError::Timeout {
                    mailbox: to,
                    waited: deadline.elapsed(),
                });
            }
            if deadline.liveness_due()
                && !sys::process_alive(h.receiver_pid.load(Ordering::Relaxed))
            {
                return Err(SendError::Disconnected(to));
            }
        }
    }

    /// Parks until a message comes, `timeout` (not zero) passes or the hub dies. `who` is
    /// our pid and CPU + 1. The first nap reads no clock ([`FirstNap`]).
    fn park_recv(
        &self,
        ring: &Ring<'_>,
        buf: &mut [u8],
        timeout: Duration,
        who: (i32, u32),
    ) -> Result<usize, RecvError> {
        let h = ring.header;
        let mut wait = FirstNap::new(timeout, FIRST_PARK);
        let mut nap = FIRST_PARK;
        let finish = |outcome: Result<usize, RecvError>| {
            if outcome.is_ok() {
                wake(&h.space_futex, &h.senders_parked, &h.space_woken);
            }
            outcome
        };
        loop {
            want_wake(&h.data_woken);
            announce(&h.receivers_parked);
            let epoch = h.data_futex.load(Ordering::SeqCst);
            // `recv` found the ring empty just before (and handed back every slot): most
            // re-checks find it idle, without the receivers' lock.
            let got = if ring.idle() {
                None
            } else {
                pop_once(ring, buf, who)
            };
            let slice = if got.is_none() { wait.slice() } else { None };
            let mut timed_out = false;
            if let Some(slice) = slice {
                // Woken, timed out or interrupted: all lead back to the checks below.
                timed_out =
                    sys::futex_wait(&h.data_futex, epoch, slice.min(nap)) == Err(Errno::ETIMEDOUT);
                nap = (nap * 2).min(LIVENESS_PERIOD);
            }
            h.receivers_parked.fetch_sub(1, Ordering::SeqCst);
            // Most wake-ups bring a message: take it before any bookkeeping.
            if let Some(outcome) = got.or_else(|| pop_once(ring, buf, who)) {
                return finish(outcome);
            }
            let deadline = wait.after_nap(timed_out);
            if slice.is_none() {
                return Err(RecvError::Timeout {
                    mailbox: self.mailbox,
                    waited: deadline.elapsed(),
                });
            }
            if deadline.liveness_due() {
                ring.reclaim_stalled(who.0);
                if !self.mailbox.is_hub() && !sys::process_alive(self.segment.hub_pid) {
                    // Deliver what the hub sent before it died, then report it.
                    return pop_once(ring, buf, who)
                        .unwrap_or(Err(RecvError::Disconnected(self.mailbox)));
                }
            }
        }
    }
}

impl Channel for MmapChannel {
    fn create(name: &IpcName, opts: &ChannelOptions) -> Result<Self, CreateError> {
        opts.validate()?;
        let layout =
            Layout::new(opts.workers, opts.max_message_size, opts.capacity).map_err(|limit| {
                CreateError::ExceedsLimit {
                    adapter: ADAPTER,
                    what: "segment size",
                    requested: opts.capacity.saturating_mul(opts.workers as usize + 1),
                    limit,
                    source_of_limit: "zeus-ipc MAX_SEGMENT",
                }
            })?;
        let path = Self::path(name);
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC;
        let fd = match open(&path, flags, Mode::from_bits_truncate(0o600)) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => {
                return Err(CreateError::AlreadyExists {
                    adapter: ADAPTER,
                    name: name.to_string(),
                    path: path.display().to_string(),
                })
            }
            Err(e) => return Err(create_io("open", &path, e.into())),
        };
        // From here on, failing removes the file again.
        let owner = OwnedFiles::new(vec![path.clone()]);
        let file = File::from(fd);
        file.set_len(layout.total_len as u64)
            .map_err(|e| create_io("ftruncate", &path, e))?;
        let map =
            SharedMap::map(&file, layout.total_len).map_err(|e| create_io("mmap", &path, e))?;
        Self::init(&map, &layout).ok_or(CreateError::InvalidOptions {
            field: "max_message_size",
            value: opts.max_message_size,
            reason: "does not fit the segment header",
        })?;
        let segment = Segment::new(
            map,
            layout,
            sys::current_pid(),
            opts.spin,
            bell::Bell::new(),
        )
        .ok_or(CreateError::InvalidOptions {
            field: "max_message_size",
            value: opts.max_message_size,
            reason: "does not fit the segment",
        })?;
        Ok(Self::bound(Mailbox::HUB, Arc::new(segment), Some(owner)))
    }

    fn endpoint(&self, mailbox: Mailbox) -> Result<Self, OpenError> {
        check_mailbox(mailbox, self.segment.layout.workers)?;
        Ok(Self::bound(mailbox, Arc::clone(&self.segment), None))
    }

    fn adapter(&self) -> IpcAdapter {
        ADAPTER
    }

    fn mailbox(&self) -> Mailbox {
        self.mailbox
    }

    fn workers(&self) -> u32 {
        self.segment.layout.workers
    }

    fn max_message_size(&self) -> usize {
        self.segment.layout.max_message
    }

    #[inline]
    fn send(&self, to: Mailbox, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        let layout = &self.segment.layout;
        check_send(to, msg.len(), layout.workers, layout.max_message)?;
        let ring = self.segment.ring(to);
        let (me, cpu) = (sys::current_pid(), cpu_tag());
        // A sender that may wait leaves the consumers' `head` alone while its cached copy
        // says the ring is full (see `Ring::push_cached`), and reads it in the spin of
        // `send_wait`.
        let pushed = if timeout.is_zero() {
            ring.push(msg, me, cpu)
        } else {
            ring.push_cached(msg, me, cpu)
        };
        if pushed {
            self.segment.wake_receivers(to, ring.header);
            return Ok(());
        }
        self.send_wait(to, msg, timeout, (me, cpu))
    }

    fn grant(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        // Mapped before the fork, the segment needs no permission to be used; owning the
        // file lets a process that dropped privileges remove it (`/dev/shm` is sticky).
        for path in self._owner.iter().flat_map(OwnedFiles::paths) {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    #[inline]
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        let ring = self.segment.ring(self.mailbox);
        let me = sys::current_pid();
        ring.register_receiver(me);
        let cpu = cpu_tag();
        match ring.pop(buf, me, cpu) {
            Ok(len) => {
                wake(
                    &ring.header.space_futex,
                    &ring.header.senders_parked,
                    &ring.header.space_woken,
                );
                Ok(len)
            }
            Err(PopError::Empty) => self.recv_wait(buf, timeout, (me, cpu)),
            Err(PopError::TooSmall { needed }) => Err(too_small(needed, buf.len())),
        }
    }
}
