//! The in-memory key-value map a server keeps.
//!
//! Requests are served from several threads at once, so the map is sharded
//! (`dashmap`: one lock per shard, no global lock) and a read of one key never
//! waits behind a write to a key of another shard. Keys are hashed with std's
//! SipHash under a random per-process key (`RandomState`), so a client cannot
//! craft colliding keys to slow the server down (`benches/hash_flood.rs`
//! shows it). Values are reference-counted (`Bytes`), so a get clones a
//! pointer under the lock and copies nothing.
//!
//! The store also enforces a memory limit: every pair is accounted as
//! key + value + [`PAIR_OVERHEAD`] bytes, and a put that would take the total
//! beyond the limit is refused without touching what is stored. The total is
//! one atomic counter, changed only while the shard lock of the key being
//! written is held and only by a compare-and-swap that checks the limit, so
//! it is exact under any concurrency: it always equals the sum of the sizes
//! of the pairs in the map and never exceeds the limit.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// Bytes accounted for each stored pair beyond its key and value: the boxed
/// key and `Bytes` handles (16 + 32), the value's shared header (~32) and the
/// hash table slot and allocator rounding (~16).
pub const PAIR_OVERHEAD: u64 = 96;

/// The accounted size of one pair.
pub fn pair_size(key: &[u8], value: &[u8]) -> u64 {
    key.len() as u64 + value.len() as u64 + PAIR_OVERHEAD
}

/// A put refused because the store would exceed its memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the store would exceed its memory limit of {limit} bytes")]
pub struct OverMemory {
    /// The limit in force.
    pub limit: u64,
}

/// A concurrent map from keys to values, with a memory limit.
#[derive(Debug)]
pub struct Store {
    map: DashMap<Box<[u8]>, Bytes>,
    used: AtomicU64,
    limit: u64,
}

impl Default for Store {
    fn default() -> Store {
        Store::with_limit(u64::MAX)
    }
}

impl Store {
    /// An empty store without memory limit.
    pub fn new() -> Store {
        Store::default()
    }

    /// An empty store holding at most `limit` accounted bytes.
    pub fn with_limit(limit: u64) -> Store {
        Store {
            map: DashMap::new(),
            used: AtomicU64::new(0),
            limit,
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.map.get(key).map(|v| v.value().clone())
    }

    /// Stores `value` under `key`, replacing any previous value. Refused,
    /// leaving the store unchanged, when the new total would exceed the
    /// limit; a replacement that keeps or shrinks the size always succeeds.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), OverMemory> {
        let new_size = pair_size(key, value);
        // Replacing: the shard's write lock is held by `slot` until the
        // counter and the value are both updated.
        if let Some(mut slot) = self.map.get_mut(key) {
            let old_size = pair_size(key, slot.value());
            self.reserve(old_size, new_size)?;
            *slot = Bytes::copy_from_slice(value);
            return Ok(());
        }
        match self.map.entry(key.into()) {
            Entry::Occupied(mut slot) => {
                // Inserted by another thread meanwhile.
                let old_size = pair_size(key, slot.get());
                self.reserve(old_size, new_size)?;
                slot.insert(Bytes::copy_from_slice(value));
            }
            Entry::Vacant(slot) => {
                self.reserve(0, new_size)?;
                slot.insert(Bytes::copy_from_slice(value));
            }
        }
        Ok(())
    }

    /// Replaces `old` accounted bytes by `new` in the total, unless the
    /// total would then exceed the limit (a change that does not grow is
    /// always accepted).
    fn reserve(&self, old: u64, new: u64) -> Result<(), OverMemory> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let next = used.saturating_sub(old).saturating_add(new);
                (new <= old || next <= self.limit).then_some(next)
            })
            .map(drop)
            .map_err(|_| OverMemory { limit: self.limit })
    }

    /// Accounted bytes in use (sum of [`pair_size`] over the stored pairs).
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The memory limit, in accounted bytes (`u64::MAX`: none).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A copy of every pair, sorted by key (a consistent list for a dump).
    pub fn snapshot(&self) -> Vec<(Box<[u8]>, Bytes)> {
        let mut pairs: Vec<(Box<[u8]>, Bytes)> = self
            .map
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        pairs
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn put_get_replace() {
        let s = Store::new();
        assert!(s.get(b"a").is_none());
        s.put(b"a", b"1").unwrap();
        s.put(b"a", b"2").unwrap();
        s.put(b"b", b"").unwrap();
        assert_eq!(s.get(b"a").unwrap(), &b"2"[..]);
        assert_eq!(s.get(b"b").unwrap(), &b""[..]);
        assert_eq!(s.len(), 2);
        let snap = s.snapshot();
        assert_eq!(&*snap[0].0, b"a");
        assert_eq!(&*snap[1].0, b"b");
        assert_eq!(s.used_bytes(), pair_size(b"a", b"2") + pair_size(b"b", b""));
    }

    #[test]
    fn concurrent_writers() {
        let s = Arc::new(Store::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        s.put(format!("{t}-{i}").as_bytes(), b"v").unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.len(), 4000);
    }

    #[test]
    fn memory_limit_refuses_growth_and_keeps_data() {
        let limit = pair_size(b"a", b"1234") + pair_size(b"b", b"12");
        let s = Store::with_limit(limit);
        s.put(b"a", b"1234").unwrap();
        s.put(b"b", b"12").unwrap();
        assert_eq!(s.used_bytes(), limit);
        // Full: a new key and a growing replacement are refused...
        assert_eq!(s.put(b"c", b""), Err(OverMemory { limit }));
        assert_eq!(s.put(b"b", b"123"), Err(OverMemory { limit }));
        assert_eq!(s.get(b"b").unwrap(), &b"12"[..]);
        assert!(s.get(b"c").is_none());
        // ...a replacement of the same size or smaller succeeds.
        s.put(b"b", b"xy").unwrap();
        s.put(b"a", b"z").unwrap();
        assert_eq!(
            s.used_bytes(),
            pair_size(b"a", b"z") + pair_size(b"b", b"xy")
        );
        // The room freed can be used again.
        s.put(b"b", b"xyzwv").unwrap();
        assert_eq!(s.used_bytes(), limit);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn accounting_is_exact_under_concurrency() {
        // Four threads write overlapping keys with values of varying sizes
        // into a store that is too small for all of them.
        let limit = 40 * pair_size(b"k-00", &[b'v'; 20]);
        let s = Arc::new(Store::with_limit(limit));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let mut refused = 0;
                    for i in 0..5000u64 {
                        let key = format!("k-{:02}", (i * 7 + t) % 64);
                        let value = vec![b'v'; ((i + t * 3) % 41) as usize];
                        if s.put(key.as_bytes(), &value).is_err() {
                            refused += 1;
                        }
                        assert!(s.used_bytes() <= limit);
                    }
                    refused
                })
            })
            .collect();
        let refused: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(refused > 0, "the limit was never reached");
        let sum: u64 = s.snapshot().iter().map(|(k, v)| pair_size(k, v)).sum();
        assert_eq!(s.used_bytes(), sum);
        assert!(sum <= limit);
    }
}
