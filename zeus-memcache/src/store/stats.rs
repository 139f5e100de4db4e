//! Store-wide counters kept in the segment header, shared by every worker. Names are
//! memcached's `stats` names, so clients and dashboards read them unchanged.

/// One counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    /// Retrieval requests (per key).
    CmdGet,
    /// Keys found.
    GetHits,
    /// Keys not found.
    GetMisses,
    /// Keys found expired.
    GetExpired,
    /// Keys found flushed.
    GetFlushed,
    /// Storage requests.
    CmdSet,
    /// Touch requests (touch, gat, gats).
    CmdTouch,
    /// Touches that found their key.
    TouchHits,
    /// Touches that did not.
    TouchMisses,
    /// Deletes that found their key.
    DeleteHits,
    /// Deletes that did not.
    DeleteMisses,
    /// incr that found its key.
    IncrHits,
    /// incr that did not.
    IncrMisses,
    /// decr that found its key.
    DecrHits,
    /// decr that did not.
    DecrMisses,
    /// cas that matched.
    CasHits,
    /// cas on a missing key.
    CasMisses,
    /// cas with a stale unique.
    CasBadval,
    /// flush_all requests.
    CmdFlush,
    /// Items ever stored.
    TotalItems,
    /// Live items removed to make room.
    Evictions,
    /// Expired or flushed items whose space was taken back.
    Reclaimed,
    /// Open connections.
    CurrConnections,
    /// Connections ever accepted.
    TotalConnections,
    /// Connections refused by `max_connections`.
    RejectedConnections,
    /// Bytes read from clients.
    BytesRead,
    /// Bytes written to clients.
    BytesWritten,
    /// Shards wiped because a worker died holding their lock (zeus only).
    LockRepairs,
}

impl Stat {
    /// Every counter, in `stats` output order.
    pub const ALL: [Stat; 28] = [
        Stat::CmdGet,
        Stat::GetHits,
        Stat::GetMisses,
        Stat::GetExpired,
        Stat::GetFlushed,
        Stat::CmdSet,
        Stat::CmdTouch,
        Stat::TouchHits,
        Stat::TouchMisses,
        Stat::DeleteHits,
        Stat::DeleteMisses,
        Stat::IncrHits,
        Stat::IncrMisses,
        Stat::DecrHits,
        Stat::DecrMisses,
        Stat::CasHits,
        Stat::CasMisses,
        Stat::CasBadval,
        Stat::CmdFlush,
        Stat::TotalItems,
        Stat::Evictions,
        Stat::Reclaimed,
        Stat::CurrConnections,
        Stat::TotalConnections,
        Stat::RejectedConnections,
        Stat::BytesRead,
        Stat::BytesWritten,
        Stat::LockRepairs,
    ];

    /// memcached's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Stat::CmdGet => "cmd_get",
            Stat::GetHits => "get_hits",
            Stat::GetMisses => "get_misses",
            Stat::GetExpired => "get_expired",
            Stat::GetFlushed => "get_flushed",
            Stat::CmdSet => "cmd_set",
            Stat::CmdTouch => "cmd_touch",
            Stat::TouchHits => "touch_hits",
            Stat::TouchMisses => "touch_misses",
            Stat::DeleteHits => "delete_hits",
            Stat::DeleteMisses => "delete_misses",
            Stat::IncrHits => "incr_hits",
            Stat::IncrMisses => "incr_misses",
            Stat::DecrHits => "decr_hits",
            Stat::DecrMisses => "decr_misses",
            Stat::CasHits => "cas_hits",
            Stat::CasMisses => "cas_misses",
            Stat::CasBadval => "cas_badval",
            Stat::CmdFlush => "cmd_flush",
            Stat::TotalItems => "total_items",
            Stat::Evictions => "evictions",
            Stat::Reclaimed => "reclaimed",
            Stat::CurrConnections => "curr_connections",
            Stat::TotalConnections => "total_connections",
            Stat::RejectedConnections => "rejected_connections",
            Stat::BytesRead => "bytes_read",
            Stat::BytesWritten => "bytes_written",
            Stat::LockRepairs => "zeus_lock_repairs",
        }
    }

    /// Offset of the counter in the header.
    pub fn offset(self) -> usize {
        super::layout::hdr::STATS + 8 * self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_fit_the_header() {
        for (i, s) in Stat::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert!(s.offset() + 8 <= super::super::layout::hdr::CLASS_STATS);
        }
    }
}
