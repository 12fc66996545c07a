//! Durability over time: the periodic sync of the log and the checkpoint
//! that makes redb durable and empties the log, bounding the replay.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::super::EngineError;
use super::{CHECKPOINT_EVERY, DurableEngine};

impl DurableEngine {
    /// Makes redb durable (an empty synced commit covers the unsynced ones)
    /// and empties the log.
    pub fn checkpoint(&self) -> Result<(), EngineError> {
        if self.pending_replay.load(Ordering::Acquire) {
            return Err(EngineError::other(
                "no checkpoint: the log is not replayed into the reopened database yet",
            ));
        }
        // Lock order everywhere: database, then log.
        let guard = self.read_db()?;
        let mut wal = self.lock_wal()?;
        if wal.is_empty() {
            return Ok(());
        }
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::other("database unavailable after an I/O error"))?;
        let run = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| EngineError::db("checkpoint failed", e))?;
        wal.clear()
            .map_err(|e| EngineError::io("cannot empty the write-ahead log", e))?;
        self.dirty.store(false, Ordering::Release);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut at) = self.checkpointed.lock() {
            *at = Instant::now();
        }
        Ok(())
    }

    /// [`super::super::Engine::sync`].
    pub(super) fn sync_log(&self) -> Result<(), EngineError> {
        self.replay_pending()?;
        if self.dirty.swap(false, Ordering::AcqRel) {
            let synced = self.lock_wal()?.sync();
            if let Err(e) = synced {
                self.dirty.store(true, Ordering::Release);
                return Err(EngineError::io("cannot sync the write-ahead log", e));
            }
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        let due = self
            .checkpointed
            .lock()
            .map(|at| at.elapsed() >= CHECKPOINT_EVERY)
            .unwrap_or(true);
        if due {
            self.checkpoint()?;
            if let Ok(mut at) = self.checkpointed.lock() {
                *at = Instant::now();
            }
        }
        Ok(())
    }
}
