//! The channel contract, checked against every adapter: one generic suite (`suite/`),
//! instantiated per adapter by `conformance!`. The fork-related promises are in `fork.rs`
//! (a `harness = false` binary, since libtest runs tests on threads).

mod common;
mod suite;

macro_rules! conformance {
    ($adapter:ident: $channel:ty => $($case:ident),+ $(,)?) => {
        mod $adapter {
            $(
                #[test]
                fn $case() {
                    crate::suite::$case::<$channel>();
                }
            )+
        }
    };
    ($($adapter:ident: $channel:ty),+ $(,)?) => {
        $(
            conformance!($adapter: $channel =>
                boundaries_and_order, too_large_is_refused, many_senders_one_receiver,
                one_sender_many_receivers, timeouts_and_try, back_pressure,
                shared_between_threads, short_buffer_keeps_message, mailboxes_are_checked,
                names_are_owned, purge_after_crash);
        )+
    };
}

conformance!(
    fifo: zeus_ipc::FifoChannel,
    sysv: zeus_ipc::SysvChannel,
    mmap: zeus_ipc::MmapChannel,
    socket: zeus_ipc::SocketChannel,
    auto: zeus_ipc::AnyChannel,
);
