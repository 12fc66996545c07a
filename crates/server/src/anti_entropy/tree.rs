//! Keeping the Merkle tree in step with the engine: building it, re-reading
//! noted and repaired keys, merging pushed records off the receive loops.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use bytes::Bytes;

use crate::engine::{Engine, Record};
use crate::merkle::{Digest, MerkleTree};

use super::{AeStats, AntiEntropy, Batch, lock, merge};

impl AntiEntropy {
    /// True for a tombstone every replica has purged or will purge: its
    /// version is older than the grace period.
    pub(super) fn expired(&self, digest: &Digest, now_ms: u64) -> bool {
        let grace = u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX);
        digest.tombstone
            && crate::hlc::physical_ms(digest.version.timestamp).saturating_add(grace) < now_ms
    }

    /// What the tree should hold for `record`.
    pub(super) fn digest_of(&self, record: Option<&Record>, now_ms: u64) -> Option<Digest> {
        let d = record.map(|r| Digest {
            version: r.version,
            tombstone: r.tombstone,
        })?;
        (!self.expired(&d, now_ms)).then_some(d)
    }

    /// Re-reads `keys` from the engine and updates the tree.
    pub(super) fn refresh<'k>(
        &self,
        engine: &dyn Engine,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) {
        let now = Self::now_ms();
        let read: Vec<(&[u8], Option<Digest>)> = keys
            .into_iter()
            .filter_map(|k| match engine.get(k) {
                Ok(r) => Some((k, self.digest_of(r.as_ref(), now))),
                // A record failing its check is missing here: a replica's
                // copy will be fetched and replace it.
                Err(crate::engine::EngineError::CorruptRecord { .. }) => Some((k, None)),
                Err(e) => {
                    tracing::debug!(error = %e, "anti-entropy: read failed");
                    None
                }
            })
            .collect();
        let mut tree = lock(&self.tree);
        for (k, d) in read {
            tree.update(k, d);
        }
        AeStats::set(&self.stats.tree_keys, tree.len());
    }

    /// Builds the tree from every record of the engine (at start, and when
    /// the note queue overflowed).
    pub(super) fn rebuild(&self, engine: &dyn Engine) {
        let started = Instant::now();
        // Notes sent from now on are applied after the rebuild.
        self.overflow.store(false, Ordering::Relaxed);
        let records = match engine.snapshot() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "anti-entropy: cannot read the store; tree not built");
                return;
            }
        };
        let now = Self::now_ms();
        let (ends, buckets) = {
            let t = lock(&self.tree);
            (self.view().ends(), t.bucket_count())
        };
        let mut tree = MerkleTree::new(ends, buckets);
        for (k, r) in &records {
            tree.update(k, self.digest_of(Some(r), now));
        }
        AeStats::set(&self.stats.tree_keys, tree.len());
        *lock(&self.tree) = tree;
        self.ready.store(true, Ordering::Release);
        tracing::info!(
            keys = records.len(),
            ms = started.elapsed().as_millis() as u64,
            "anti-entropy: tree built"
        );
    }

    /// One step off the receive loops: re-reads the keys noted one step
    /// ago (`ready`), merges pushed records, and returns the keys noted
    /// since (read at the next step).
    pub(super) fn background_step(
        &self,
        engine: &dyn Engine,
        ready: Vec<Bytes>,
        notes: &Mutex<Receiver<Bytes>>,
        pushes: &Mutex<Receiver<Batch>>,
    ) -> Vec<Bytes> {
        if self.overflow.load(Ordering::Relaxed) {
            // Drain what is queued: the rebuild reads everything anyway.
            let rx = lock(notes);
            while rx.try_recv().is_ok() {}
            drop(rx);
            self.rebuild(engine);
            return Vec::new();
        }
        let unique: HashSet<&[u8]> = ready.iter().map(|k| &k[..]).collect();
        self.refresh(engine, unique);
        loop {
            let batch = match lock(pushes).try_recv() {
                Ok(b) => b,
                Err(_) => break,
            };
            let merged = merge(engine, &batch);
            AeStats::add(&self.stats.merged_total, merged as u64);
            self.refresh(engine, batch.iter().map(|(k, _)| &k[..]));
        }
        let rx = lock(notes);
        let mut next = Vec::new();
        while let Ok(k) = rx.try_recv() {
            next.push(k);
        }
        next
    }
}
