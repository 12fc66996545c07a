//! The in-memory engine: [`crate::store::Store`] behind the [`Engine`]
//! interface.
//!
//! It is the default engine (no `--data-dir`): nothing survives the process,
//! a put is "durable" as soon as it is in the map, so no committer is needed
//! and receive loops write directly. Protocol v1 values (version zero, no
//! tombstone) are kept exactly as the store always did, in the same memory;
//! versioned records and tombstones carry 17 more bytes
//! ([`Store::put_versioned`]), compared and written under the key's shard
//! lock.

use std::sync::Arc;

use bytes::Bytes;

use super::{Engine, EngineError, EngineStats, Pairs, PutResults, Record, Refused};
use crate::store::{Store, Written};

/// The in-memory engine over a shared [`Store`].
#[derive(Debug, Clone, Default)]
pub struct MemoryEngine {
    store: Arc<Store>,
}

impl MemoryEngine {
    /// An engine over `store` (shared: the server may keep its own handle).
    pub fn new(store: Arc<Store>) -> MemoryEngine {
        MemoryEngine { store }
    }

    /// An empty engine holding at most `limit` accounted bytes
    /// ([`Store::with_limit`]).
    pub fn with_limit(limit: u64) -> MemoryEngine {
        MemoryEngine::new(Arc::new(Store::with_limit(limit)))
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

impl Engine for MemoryEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, EngineError> {
        Ok(self.store.get_record(key))
    }

    fn put_batch(&self, puts: &[(Bytes, Record)]) -> PutResults {
        puts.iter()
            .map(|(key, record)| {
                let full = |e: crate::store::OverMemory| Refused::Full { limit: e.limit };
                if record.is_v1() {
                    return self.store.put(key, &record.value).map_err(full);
                }
                match self
                    .store
                    .put_versioned(key, &record.value, record.version, record.tombstone)
                    .map_err(full)?
                {
                    Written::Stored => Ok(()),
                    Written::Older(current) => Err(Refused::Older { current }),
                }
            })
            .collect()
    }

    fn snapshot(&self) -> Result<Pairs, EngineError> {
        Ok(self.store.page(&[], usize::MAX).0)
    }

    fn page(&self, cursor: &[u8], max: usize) -> Result<(Pairs, bool), EngineError> {
        Ok(self.store.page(cursor, max))
    }

    fn purge_tombstones(
        &self,
        now_ms: u64,
        grace_ms: u64,
        max: usize,
    ) -> Result<usize, EngineError> {
        Ok(self.store.purge_tombstones(now_ms, grace_ms, max))
    }

    fn remove_if_unchanged(&self, key: &[u8], record: &Record) -> Result<bool, EngineError> {
        Ok(self
            .store
            .remove_if_unchanged(key, record.version, &record.value))
    }

    fn sync(&self) -> Result<(), EngineError> {
        Ok(())
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            keys: self.store.len() as u64,
            used_bytes: self.store.used_bytes(),
            limit: self.store.limit(),
            commits: 0,
            syncs: 0,
            corrupt_reads: 0,
        }
    }

    fn needs_committer(&self) -> bool {
        false
    }

    /// A v1 record is stored atomically under the key's shard lock, as a
    /// versioned record at [`Version::ZERO`](crate::version::Version::ZERO),
    /// which the store keeps only where the key is absent; a versioned one
    /// is checked against a stored v1 record first.
    fn merge_batch(&self, puts: &[(Bytes, Record)]) -> PutResults {
        puts.iter()
            .map(|(key, record)| {
                if !record.is_v1() {
                    if let Some(current) = self.store.get_record(key)
                        && current.is_v1()
                    {
                        return Err(Refused::Older {
                            current: current.version,
                        });
                    }
                    return self
                        .put_batch(&[(key.clone(), record.clone())])
                        .pop()
                        .unwrap_or(Ok(()));
                }
                let full = |e: crate::store::OverMemory| Refused::Full { limit: e.limit };
                match self
                    .store
                    .put_versioned(key, &record.value, record.version, false)
                    .map_err(full)?
                {
                    Written::Stored => Ok(()),
                    Written::Older(current) => Err(Refused::Older { current }),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::suite;

    fn fresh(limit: u64) -> (MemoryEngine, ()) {
        (MemoryEngine::with_limit(limit), ())
    }

    suite::engine_suite!(fresh);
}
