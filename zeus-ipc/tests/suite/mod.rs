//! The contract of `zeus_ipc::channel`, written once, generic over the adapter. Each function
//! is one promise (or a group of closely tied ones); `tests/conformance.rs` instantiates all
//! of them for every adapter. The fork-related promises live in `tests/fork.rs`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zeus_ipc::{Channel, ChannelOptions, CreateError, Mailbox, OpenError, RecvError, SendError};

use crate::common::{assert_between, tagged, timed, untag, Env, LONG};

const SHORT: Duration = Duration::from_millis(50);

fn create<C: Channel>(env: &Env, opts: &ChannelOptions) -> C {
    C::create(&env.name, opts).unwrap_or_else(|e| panic!("create {}: {e}", env.name))
}

/// Boundaries, order, empty and largest messages, both directions.
pub fn boundaries_and_order<C: Channel>() {
    let env = Env::new("order");
    let hub: C = create(&env, &env.opts(1));
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    let max = hub.max_message_size();
    assert_eq!(worker.max_message_size(), max);
    let sizes = [0, 1, 7, 8, 9, 63, 64, 65, 1000, max - 1, max];
    let mut buf = vec![0u8; max];
    // Batches of 8 stay below every adapter's smallest queue (10 datagrams for sockets).
    for (from, to, to_mb) in [
        (&hub, &worker, Mailbox::new(1)),
        (&worker, &hub, Mailbox::HUB),
    ] {
        for batch in sizes.chunks(8) {
            let msgs: Vec<Vec<u8>> = batch
                .iter()
                .enumerate()
                .map(|(i, &len)| (0..len).map(|b| (b * 7 + i * 13 + len) as u8).collect())
                .collect();
            for msg in &msgs {
                from.send(to_mb, msg, LONG).unwrap();
            }
            for msg in &msgs {
                let len = to.recv(&mut buf, LONG).unwrap();
                assert_eq!(&buf[..len], &msg[..], "{} bytes", msg.len());
            }
        }
        assert!(matches!(to.try_recv(&mut buf), Err(RecvError::Empty(_))));
    }
    drop((worker, hub));
    env.assert_clean();
}

/// A message above the maximum is refused whole, and the channel stays usable.
pub fn too_large_is_refused<C: Channel>() {
    let env = Env::new("large");
    let hub: C = create(&env, &env.opts(1));
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    let max = hub.max_message_size();
    let big = vec![1u8; max + 1];
    match hub.send(Mailbox::new(1), &big, LONG) {
        Err(SendError::TooLarge { size, max: m }) => assert_eq!((size, m), (max + 1, max)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let mut buf = vec![0u8; max + 1];
    assert!(matches!(
        worker.try_recv(&mut buf),
        Err(RecvError::Empty(_))
    ));
    hub.send(Mailbox::new(1), &big[..max], LONG).unwrap();
    assert_eq!(worker.recv(&mut buf, LONG).unwrap(), max);
}

/// All workers -> the hub: every message arrives once, in order per sender.
pub fn many_senders_one_receiver<C: Channel + 'static>() {
    const PER_SENDER: u32 = 100;
    let env = Env::new("mpsc");
    let hub: C = create(&env, &env.opts(4));
    let senders: Vec<_> = (1..=4)
        .map(|k| {
            let worker = hub.endpoint(Mailbox::new(k)).unwrap();
            std::thread::spawn(move || {
                for seq in 0..PER_SENDER {
                    let len = 8 + (seq as usize * 37) % 200;
                    worker
                        .send(Mailbox::HUB, &tagged(k, seq, len), LONG)
                        .unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u32; 5];
    let mut buf = vec![0u8; hub.max_message_size()];
    for _ in 0..4 * PER_SENDER {
        let len = hub.recv(&mut buf, LONG).unwrap();
        let (sender, seq) = untag(&buf[..len]);
        assert_eq!(seq, next[sender as usize], "order of sender {sender}");
        next[sender as usize] += 1;
    }
    senders.into_iter().for_each(|t| t.join().unwrap());
    assert!(matches!(hub.try_recv(&mut buf), Err(RecvError::Empty(_))));
}

/// The hub -> chosen workers: each worker gets exactly its own messages.
pub fn one_sender_many_receivers<C: Channel + 'static>() {
    const EACH: u32 = 50;
    let env = Env::new("addr");
    let hub: C = create(&env, &env.opts(3));
    let receivers: Vec<_> = (1..=3)
        .map(|k| {
            let worker = hub.endpoint(Mailbox::new(k)).unwrap();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; worker.max_message_size()];
                for expect in 0..EACH {
                    let len = worker.recv(&mut buf, LONG).unwrap();
                    assert_eq!(untag(&buf[..len]), (k, expect), "worker {k}");
                }
                assert!(matches!(
                    worker.recv(&mut buf, SHORT),
                    Err(RecvError::Timeout { .. })
                ));
            })
        })
        .collect();
    for seq in 0..EACH {
        for k in 1..=3 {
            hub.send(Mailbox::new(k), &tagged(k, seq, 16), LONG)
                .unwrap();
        }
    }
    receivers.into_iter().for_each(|t| t.join().unwrap());
}

/// Zero timeout never waits; a timeout is kept (not much shorter, not much longer).
pub fn timeouts_and_try<C: Channel>() {
    let env = Env::new("timeout");
    let hub: C = create(&env, &env.opts(1));
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    let mut buf = vec![0u8; hub.max_message_size()];
    for end in [&hub, &worker] {
        let (r, took) = timed(|| end.try_recv(&mut buf));
        assert!(
            matches!(r, Err(RecvError::Empty(m)) if m == end.mailbox()),
            "{r:?}"
        );
        assert!(took < Duration::from_millis(20), "try_recv took {took:?}");
        let (r, took) = timed(|| end.recv(&mut buf, SHORT));
        assert!(matches!(r, Err(RecvError::Timeout { .. })), "{r:?}");
        assert_between(took, SHORT, Duration::from_secs(1));
    }
    worker.try_send(Mailbox::HUB, b"x").unwrap();
    assert_eq!(hub.try_recv(&mut buf).unwrap(), 1);
}

/// A full mailbox pushes back (Full without waiting, Timeout with), and recovers once read.
pub fn back_pressure<C: Channel>() {
    let env = Env::new("full");
    let opts = ChannelOptions {
        max_message_size: 64,
        capacity: 4096,
        ..env.opts(1)
    };
    let hub: C = create(&env, &opts);
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    let to = Mailbox::new(1);
    let mut sent = 0u32;
    loop {
        match hub.try_send(to, &tagged(1, sent, 64)) {
            Ok(()) => sent += 1,
            Err(SendError::Full(m)) => {
                assert_eq!(m, to);
                break;
            }
            Err(e) => panic!("after {sent} messages: {e}"),
        }
        assert!(
            sent < 100_000,
            "never full: memory would grow without bound"
        );
    }
    assert!(
        sent >= 2,
        "a mailbox holds at least two messages, held {sent}"
    );
    let (r, took) = timed(|| hub.send(to, &tagged(1, sent, 64), SHORT));
    assert!(
        matches!(r, Err(SendError::Timeout { mailbox, .. }) if mailbox == to),
        "{r:?}"
    );
    assert_between(took, SHORT, Duration::from_secs(1));
    let mut buf = [0u8; 64];
    for seq in 0..sent {
        let len = worker.recv(&mut buf, LONG).unwrap();
        assert_eq!(untag(&buf[..len]), (1, seq));
    }
    hub.try_send(to, &tagged(1, sent, 64)).unwrap();
    assert_eq!(worker.recv(&mut buf, LONG).unwrap(), 64);
}

/// One handle used by several threads at once, on both the sending and the receiving side.
pub fn shared_between_threads<C: Channel + 'static>() {
    const PER_THREAD: u32 = 100;
    let env = Env::new("threads");
    let hub: Arc<C> = Arc::new(create(&env, &env.opts(1)));
    let worker: Arc<C> = Arc::new(hub.endpoint(Mailbox::new(1)).unwrap());
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let (worker, seen) = (Arc::clone(&worker), Arc::clone(&seen));
            std::thread::spawn(move || {
                let mut buf = vec![0u8; worker.max_message_size()];
                // Stop once the other thread took the rest (a short timeout ends it).
                while let Ok(len) = worker.recv(&mut buf, Duration::from_millis(300)) {
                    assert!(seen.lock().unwrap().insert(untag(&buf[..len])), "duplicate");
                }
            })
        })
        .collect();
    let senders: Vec<_> = (0..2)
        .map(|t| {
            let hub = Arc::clone(&hub);
            std::thread::spawn(move || {
                for seq in 0..PER_THREAD {
                    hub.send(Mailbox::new(1), &tagged(t, seq, 24), LONG)
                        .unwrap();
                }
            })
        })
        .collect();
    senders.into_iter().for_each(|t| t.join().unwrap());
    receivers.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(seen.lock().unwrap().len(), 2 * PER_THREAD as usize);
}

/// A buffer shorter than the message is refused and the message stays queued.
pub fn short_buffer_keeps_message<C: Channel>() {
    let env = Env::new("shortbuf");
    let hub: C = create(&env, &env.opts(1));
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    let msg = tagged(1, 7, 100);
    hub.send(Mailbox::new(1), &msg, LONG).unwrap();
    let mut small = [0u8; 10];
    match worker.recv(&mut small, LONG) {
        Err(RecvError::BufferTooSmall { needed, len }) => assert!(needed >= 100 && len == 10),
        other => panic!("expected BufferTooSmall, got {other:?}"),
    }
    let mut buf = [0u8; 100];
    assert_eq!(worker.recv(&mut buf, LONG).unwrap(), 100);
    assert_eq!(&buf[..], &msg[..]);
}

/// Mailboxes outside `0..=workers` are refused with typed errors.
pub fn mailboxes_are_checked<C: Channel>() {
    let env = Env::new("mbox");
    let hub: C = create(&env, &env.opts(2));
    assert_eq!((hub.workers(), hub.mailbox()), (2, Mailbox::HUB));
    assert_eq!(
        hub.endpoint(Mailbox::new(2)).unwrap().mailbox(),
        Mailbox::new(2)
    );
    assert!(matches!(
        hub.endpoint(Mailbox::new(3)),
        Err(OpenError::NoSuchMailbox { last: 2, .. })
    ));
    assert!(matches!(
        hub.send(Mailbox::new(3), b"x", SHORT),
        Err(SendError::NoSuchMailbox { last: 2, .. })
    ));
}

/// Names are exclusive while alive and gone after the owner is dropped.
pub fn names_are_owned<C: Channel>() {
    let env = Env::new("names");
    let hub: C = create(&env, &env.opts(2));
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    assert!(
        !env.leftovers().is_empty(),
        "objects are visible while alive"
    );
    match C::create(&env.name, &env.opts(2)) {
        Err(CreateError::AlreadyExists { .. }) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    drop(worker);
    drop(hub);
    env.assert_clean();
}

/// What a crashed owner left (no `Drop` ran) is listed and purged.
pub fn purge_after_crash<C: Channel>() {
    let env = Env::new("crash");
    let hub: C = create(&env, &env.opts(2));
    let worker = hub.endpoint(Mailbox::new(2)).unwrap();
    std::mem::forget(worker);
    std::mem::forget(hub);
    assert!(!env.leftovers().is_empty());
    assert!(!env.purge().is_empty());
    env.assert_clean();
    assert!(
        C::create(&env.name, &env.opts(2)).is_ok(),
        "the name is free again"
    );
}
