//! Applying records from another replica: the engine's version rule, and
//! the bound on versions stamped too far ahead. A record that failed its
//! check here is replaced by the replica's (`Engine::merge_batch`).

use bytes::Bytes;

use crate::engine::{Engine, Record};

use super::AntiEntropy;

/// Applies records received from another replica through the engine's
/// version rule ([`Engine::merge_batch`]: a v1 record only where the key is
/// absent) and refuses versions stamped further ahead than the clocks'
/// drift bound, as a server refuses such a write from a client; how many
/// were stored.
pub fn merge(engine: &dyn Engine, records: &[(Bytes, Record)]) -> usize {
    let now = AntiEntropy::now_ms();
    let sane: Vec<(Bytes, Record)> = records
        .iter()
        .filter(|(_, r)| {
            crate::hlc::physical_ms(r.version.timestamp)
                <= now.saturating_add(crate::hlc::DEFAULT_MAX_DRIFT_MS)
        })
        .cloned()
        .collect();
    engine
        .merge_batch(&sane)
        .iter()
        .filter(|r| r.is_ok())
        .count()
}
