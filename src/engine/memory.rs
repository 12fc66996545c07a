//! The in-memory engine: [`crate::store::Store`] behind the [`Engine`]
//! interface.
//!
//! It is the default engine (no `--data-dir`): nothing survives the process,
//! a put is "durable" as soon as it is in the map, so no committer is needed
//! and receive loops write directly. It keeps protocol v1 values (version
//! zero, no tombstone) exactly as the store always did, with the store's
//! memory accounting (`--max-memory`) unchanged.

use std::sync::Arc;

use bytes::Bytes;

use super::{Engine, EngineError, EngineStats, Pairs, PutResults, Record, Refused, Version};
use crate::store::Store;

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
        Ok(self.store.get(key).map(Record::v1))
    }

    fn put_batch(&self, puts: &[(Bytes, Record)]) -> PutResults {
        puts.iter()
            .map(|(key, record)| {
                if record.tombstone || record.version != Version::ZERO {
                    return Err(Refused::Unsupported);
                }
                self.store
                    .put(key, &record.value)
                    .map_err(|e| Refused::Full { limit: e.limit })
            })
            .collect()
    }

    fn snapshot(&self) -> Result<Pairs, EngineError> {
        Ok(self
            .store
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k, Record::v1(v)))
            .collect())
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
        }
    }

    fn needs_committer(&self) -> bool {
        false
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

    #[test]
    fn versions_are_refused() {
        let e = MemoryEngine::default();
        let mut r = Record::v1(Bytes::from_static(b"v"));
        r.tombstone = true;
        assert_eq!(
            e.put_batch(&[(Bytes::from_static(b"k"), r)]),
            vec![Err(Refused::Unsupported)]
        );
        assert!(e.is_empty());
    }
}
