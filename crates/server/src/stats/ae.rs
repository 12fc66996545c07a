//! The anti-entropy counters ([`AeStats`]) and their copy for STATS and
//! the TUI ([`AeStatsSnapshot`]): counters, so below the anti-entropy that
//! bumps them and the reports that read them.

use std::sync::atomic::{AtomicU64, Ordering};

/// What anti-entropy did, for STATS and the TUI (engineer S exposes it):
/// cumulative counters and the figures of the last finished round.
#[derive(Debug, Default)]
pub struct AeStats {
    /// Rounds finished.
    pub rounds: AtomicU64,
    /// Segments found different in the last round (all peers).
    pub divergent_segments_last: AtomicU64,
    /// Buckets found different in the last round (all peers).
    pub divergent_buckets_last: AtomicU64,
    /// Records pushed to peers plus fetched from them in the last round.
    pub keys_repaired_last: AtomicU64,
    /// Records pushed, since start.
    pub pushed_total: AtomicU64,
    /// Records fetched and merged, since start.
    pub fetched_total: AtomicU64,
    /// Records received by pushes and merged, since start.
    pub merged_total: AtomicU64,
    /// Bytes of anti-entropy datagrams sent (requests) since start.
    pub bytes_sent: AtomicU64,
    /// Bytes of anti-entropy replies received since start.
    pub bytes_received: AtomicU64,
    /// Peers that did not answer in the last round.
    pub unreachable_last: AtomicU64,
    /// Duration of the last round, ms.
    pub last_round_ms: AtomicU64,
    /// Keys in the tree.
    pub tree_keys: AtomicU64,
}

/// A copy of [`AeStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AeStatsSnapshot {
    /// [`AeStats::rounds`].
    pub rounds: u64,
    /// [`AeStats::divergent_segments_last`].
    pub divergent_segments_last: u64,
    /// [`AeStats::divergent_buckets_last`].
    pub divergent_buckets_last: u64,
    /// [`AeStats::keys_repaired_last`].
    pub keys_repaired_last: u64,
    /// [`AeStats::pushed_total`].
    pub pushed_total: u64,
    /// [`AeStats::fetched_total`].
    pub fetched_total: u64,
    /// [`AeStats::merged_total`].
    pub merged_total: u64,
    /// [`AeStats::bytes_sent`].
    pub bytes_sent: u64,
    /// [`AeStats::bytes_received`].
    pub bytes_received: u64,
    /// [`AeStats::unreachable_last`].
    pub unreachable_last: u64,
    /// [`AeStats::last_round_ms`].
    pub last_round_ms: u64,
    /// [`AeStats::tree_keys`].
    pub tree_keys: u64,
}

impl AeStats {
    /// The counters now.
    pub fn snapshot(&self) -> AeStatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AeStatsSnapshot {
            rounds: l(&self.rounds),
            divergent_segments_last: l(&self.divergent_segments_last),
            divergent_buckets_last: l(&self.divergent_buckets_last),
            keys_repaired_last: l(&self.keys_repaired_last),
            pushed_total: l(&self.pushed_total),
            fetched_total: l(&self.fetched_total),
            merged_total: l(&self.merged_total),
            bytes_sent: l(&self.bytes_sent),
            bytes_received: l(&self.bytes_received),
            unreachable_last: l(&self.unreachable_last),
            last_round_ms: l(&self.last_round_ms),
            tree_keys: l(&self.tree_keys),
        }
    }

    pub(crate) fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(a: &AtomicU64, n: u64) {
        a.store(n, Ordering::Relaxed);
    }
}
