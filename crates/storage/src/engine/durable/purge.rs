//! Removals that are not logged: the tombstone sweep's bounded steps and
//! the rebalance's removal of a key handed to its owners.

use std::sync::atomic::Ordering;

use redb::{Durability, ReadableTable};

use super::super::{EngineError, FLAG_TOMBSTONE, Record, encoded_version};
use super::{DATA, DurableEngine, META, META_USED, SWEEP_STEP, disk_pair_size};

impl DurableEngine {
    /// [`super::super::Engine::remove_if_unchanged`].
    pub(super) fn remove_unchanged(
        &self,
        key: &[u8],
        record: &Record,
    ) -> Result<bool, EngineError> {
        let expected = crate::engine::encode_record(record);
        let _writer = self
            .writer
            .lock()
            .map_err(|_| EngineError::other("writer lock poisoned"))?;
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::other("database unavailable after an I/O error"))?;
        let run = || -> Result<Option<u64>, redb::Error> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::None)
                .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            let size = {
                let mut data = txn.open_table(DATA)?;
                let size = match data.get(key)? {
                    Some(v) if v.value() == &expected[..] => {
                        Some(disk_pair_size(key, v.value().len()))
                    }
                    _ => None,
                };
                if size.is_some() {
                    data.remove(key)?;
                }
                size
            };
            let Some(size) = size else {
                drop(txn);
                return Ok(None);
            };
            let used = self.used.load(Ordering::Acquire).saturating_sub(size);
            {
                let mut meta = txn.open_table(META)?;
                meta.insert(META_USED, used)?;
            }
            txn.commit()?;
            Ok(Some(used))
        };
        match run().map_err(|e| EngineError::db("removal failed", e))? {
            Some(used) => {
                self.used.store(used, Ordering::Release);
                self.keys.fetch_sub(1, Ordering::AcqRel);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// [`super::super::Engine::purge_tombstones`]: one sweep step.
    pub(super) fn purge_step(
        &self,
        now_ms: u64,
        grace_ms: u64,
        max: usize,
    ) -> Result<usize, EngineError> {
        let _writer = self
            .writer
            .lock()
            .map_err(|_| EngineError::other("writer lock poisoned"))?;
        let mut from = self
            .sweep_from
            .lock()
            .map_err(|_| EngineError::other("sweep lock poisoned"))?;
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::other("database unavailable after an I/O error"))?;
        let mut keys = self.keys.load(Ordering::Acquire);
        let mut used = self.used.load(Ordering::Acquire);
        let mut run = || -> Result<(usize, Vec<u8>), redb::Error> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::None)
                .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            let mut expired: Vec<(Vec<u8>, u64)> = Vec::new();
            let mut last = Vec::new();
            {
                let data = txn.open_table(DATA)?;
                let range = (
                    std::ops::Bound::Excluded(&from[..]),
                    std::ops::Bound::Unbounded,
                );
                for entry in data.range::<&[u8]>(range)?.take(SWEEP_STEP) {
                    let (k, v) = entry?;
                    last = k.value().to_vec();
                    let tomb = v.value().get(1).is_some_and(|f| f & FLAG_TOMBSTONE != 0);
                    let old = encoded_version(v.value()).is_some_and(|version| {
                        let value = v
                            .value()
                            .get(super::super::RECORD_HEADER..)
                            .unwrap_or_default();
                        super::super::tombstone_expired(value, version, now_ms, grace_ms)
                    });
                    if tomb && old && expired.len() < max {
                        let size = disk_pair_size(k.value(), v.value().len());
                        expired.push((k.value().to_vec(), size));
                    }
                }
            }
            if expired.is_empty() {
                drop(txn);
                return Ok((0, last));
            }
            {
                let mut data = txn.open_table(DATA)?;
                for (k, size) in &expired {
                    data.remove(&k[..])?;
                    keys = keys.saturating_sub(1);
                    used = used.saturating_sub(*size);
                }
                let mut meta = txn.open_table(META)?;
                meta.insert(META_USED, used)?;
            }
            txn.commit()?;
            Ok((expired.len(), last))
        };
        let (removed, last) = run().map_err(|e| EngineError::db("tombstone purge failed", e))?;
        // An empty step reached the end: the next one starts over.
        *from = last;
        self.keys.store(keys, Ordering::Release);
        self.used.store(used, Ordering::Release);
        Ok(removed)
    }
}
