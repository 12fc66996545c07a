//! The in-memory key-value map a server keeps.
//!
//! Requests are served from several threads at once, so the map is sharded
//! (`dashmap`: one lock per shard, no global lock) and a read of one key never
//! waits behind a write to a key of another shard. Keys are hashed with std's
//! SipHash under a random per-process key (`RandomState`), so a client cannot
//! craft colliding keys to slow the server down (`benches/hash_flood.rs`
//! shows it).
//!
//! Memory layout (issue 5, goal P5): a pair is one heap allocation, an
//! `Arc<[u8]>` holding the key length (LEB128, one byte below 128), the key
//! and the value; the map is a set of these ([`Pair`] hashes and compares by
//! its key part and borrows as `&[u8]`, so a lookup by key allocates
//! nothing). A table slot is the 16-byte `Arc` pointer and nothing is added
//! to a pair when it is read, so memory does not grow with reads. A get
//! hands out the value as a `Bytes` owning a clone of the `Arc`
//! (`Bytes::from_owner`): the value is not copied (one small allocation for
//! the `Bytes` owner, freed with the reply), and a reply already handed out
//! stays valid when the key is replaced.
//!
//! Measured with `benches/compare.py`'s P5 commands (1,000,000 puts of
//! 16-byte keys and 100-byte values by `dkvs-bench --fill -c 64` into a fresh
//! `dkvs-server`, growth of its `VmRSS`; memcached filled the same way as the
//! script does, in the same run): the `DashMap<Box<[u8]>, Bytes>` this layout
//! replaced took 247 bytes per key (274 once every key had been read, each
//! `Bytes` then having its shared header), 1.26× memcached's 195; this layout
//! takes 180 bytes per key, reads included, 0.92× memcached's 196 (at 200,000
//! keys: 167 vs 198, 0.85×). The 180 are a 144-byte malloc chunk for the
//! 133-byte `Arc` (16 counts + 1 + 16 + 100) and 36 bytes of table: 17 bytes
//! per bucket (slot + control byte) in tables that are 48 % full at this
//! count (8 shards of 2^18 buckets; hashbrown doubles at 7/8 full, so the
//! fill lies between 44 % and 88 % whatever the count).
//!
//! The store also enforces a memory limit: every pair is accounted as
//! key + value + [`PAIR_OVERHEAD`] bytes, and a put that would take the total
//! beyond the limit is refused without touching what is stored. The total is
//! one atomic counter, changed only while the shard lock of the key being
//! written is held and only by a compare-and-swap that checks the limit, so
//! it is exact under any concurrency: it always equals the sum of the sizes
//! of the pairs in the map and never exceeds the limit.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// Bytes accounted for each stored pair beyond its key and value: the real
/// cost measured for the P5 workload (180 bytes of RSS per pair of 16 + 100
/// bytes, see the module comment), i.e. the `Arc` counts (16) and key-length
/// byte, the allocator's chunk header and rounding, and the table slot and
/// control byte divided by the table's load factor.
pub const PAIR_OVERHEAD: u64 = 64;

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

/// One stored pair in one allocation: the key length as LEB128, the key,
/// the value. Hashes, compares and borrows as its key, so the map is a set
/// of pairs searched by `&[u8]`.
#[derive(Debug, Clone)]
struct Pair(Arc<[u8]>);

/// Longest LEB128 encoding of a `usize` (64 bits, 7 per byte).
const MAX_LEN_BYTES: usize = 10;

impl Pair {
    /// Packs `key` and `value` (one allocation, one copy of each).
    fn new(key: &[u8], value: &[u8]) -> Pair {
        let mut header = [0u8; MAX_LEN_BYTES];
        let mut used = 0;
        let mut n = key.len();
        for byte in header.iter_mut() {
            used += 1;
            // Truncation intended: the low 7 bits.
            *byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                break;
            }
            *byte |= 0x80;
        }
        let header = header.get(..used).unwrap_or_default();
        // `repeat_n` has an exact length: `collect` makes one allocation of
        // the final size (and zeroes it), then three `memcpy`s fill it.
        let mut packed: Arc<[u8]> =
            std::iter::repeat_n(0, used + key.len() + value.len()).collect();
        // Always taken: the `Arc` is unique and the lengths add up.
        if let Some(buf) = Arc::get_mut(&mut packed)
            && let Some((head, rest)) = buf.split_at_mut_checked(header.len())
            && let Some((k, v)) = rest.split_at_mut_checked(key.len())
        {
            head.copy_from_slice(header);
            k.copy_from_slice(key);
            v.copy_from_slice(value);
        }
        Pair(packed)
    }

    /// The key and the value.
    fn split(&self) -> (&[u8], &[u8]) {
        let mut len = 0usize;
        let mut shift = 0u32;
        let mut header = 0;
        for &byte in self.0.iter().take(MAX_LEN_BYTES) {
            header += 1;
            len |= usize::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let rest = self.0.get(header..).unwrap_or_default();
        rest.split_at_checked(len).unwrap_or((rest, &[]))
    }

    fn key(&self) -> &[u8] {
        self.split().0
    }

    fn value(&self) -> &[u8] {
        self.split().1
    }

    /// The accounted size ([`pair_size`]).
    fn size(&self) -> u64 {
        let (key, value) = self.split();
        pair_size(key, value)
    }
}

impl Hash for Pair {
    /// Exactly as the key hashes as `[u8]`, so lookups by `&[u8]` find it.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for Pair {
    fn eq(&self, other: &Pair) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Pair {}

impl Borrow<[u8]> for Pair {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

/// The value part of a pair, as the owner of a `Bytes` handed out by a get.
struct ValueOf(Pair);

impl AsRef<[u8]> for ValueOf {
    fn as_ref(&self) -> &[u8] {
        self.0.value()
    }
}

impl ValueOf {
    /// The value of `pair` as `Bytes`, without copying it.
    fn bytes(pair: &Pair) -> Bytes {
        if pair.value().is_empty() {
            return Bytes::new();
        }
        Bytes::from_owner(ValueOf(pair.clone()))
    }
}

/// A concurrent map from keys to values, with a memory limit.
#[derive(Debug)]
pub struct Store {
    map: DashMap<Pair, ()>,
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

    /// The value of `key`, if present. The value is not copied: the `Bytes`
    /// shares the stored allocation and stays valid after a replacement.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.map.get(key).map(|entry| ValueOf::bytes(entry.key()))
    }

    /// Stores `value` under `key`, replacing any previous value. Refused,
    /// leaving the store unchanged, when the new total would exceed the
    /// limit; a replacement that keeps or shrinks the size always succeeds.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), OverMemory> {
        let new_size = pair_size(key, value);
        // Packed before the shard lock is taken; the lock is held by `slot`
        // until the counter and the pair are both updated.
        let replaced = match self.map.entry(Pair::new(key, value)) {
            Entry::Occupied(slot) => {
                self.reserve(slot.key().size(), new_size)?;
                // The new pair replaces the old one, key included.
                slot.replace_entry(()).0
            }
            Entry::Vacant(slot) => {
                self.reserve(0, new_size)?;
                slot.insert(());
                return Ok(());
            }
        };
        // Freed (unless a reply still holds it) after the lock is released.
        drop(replaced);
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
            .map(|e| (e.key().key().into(), ValueOf::bytes(e.key())))
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

    #[test]
    fn pair_is_one_allocation_with_the_key_length_in_front() {
        // Lengths around every LEB128 byte boundary that a key can reach.
        for len in [0usize, 1, 127, 128, 129, 16_383, 16_384, 70_000] {
            let key: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let value = vec![7u8; len % 300];
            let pair = Pair::new(&key, &value);
            let header = match len {
                0..=127 => 1,
                128..=16_383 => 2,
                _ => 3,
            };
            assert_eq!(pair.0.len(), header + key.len() + value.len(), "{len}");
            assert_eq!(pair.split(), (&key[..], &value[..]), "{len}");
            assert_eq!(pair.size(), pair_size(&key, &value));
        }
    }

    #[test]
    fn pair_hashes_and_borrows_as_its_key() {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let pair = Pair::new(b"some key", b"some value");
        assert_eq!(state.hash_one(&pair), state.hash_one(&b"some key"[..]));
        assert_eq!(Borrow::<[u8]>::borrow(&pair), b"some key");
        // Equal keys are equal pairs whatever the values.
        assert_eq!(pair, Pair::new(b"some key", b"other"));
        assert_ne!(pair, Pair::new(b"some ke", b"ysome value"));
    }

    #[test]
    fn long_keys_and_empty_values_round_trip() {
        let s = Store::new();
        let long = vec![b'k'; 70_000];
        s.put(&long, b"v").unwrap();
        s.put(b"e", b"").unwrap();
        s.put(b"", b"empty key").unwrap();
        assert_eq!(s.get(&long).unwrap(), &b"v"[..]);
        assert_eq!(s.get(b"e").unwrap(), &b""[..]);
        assert_eq!(s.get(b"").unwrap(), &b"empty key"[..]);
        assert!(s.get(&long[1..]).is_none());
        let snap = s.snapshot();
        let keys: Vec<&[u8]> = snap.iter().map(|(k, _)| &k[..]).collect();
        assert_eq!(keys, [&b""[..], b"e", &long[..]]);
        assert_eq!(
            s.used_bytes(),
            pair_size(&long, b"v") + pair_size(b"e", b"") + pair_size(b"", b"empty key")
        );
    }

    #[test]
    fn get_shares_the_stored_bytes_and_outlives_a_replacement() {
        let s = Store::new();
        s.put(b"k", b"first value").unwrap();
        let a = s.get(b"k").unwrap();
        let b = s.get(b"k").unwrap();
        // Zero-copy: both replies point into the one stored allocation.
        assert_eq!(a.as_ptr(), b.as_ptr());
        let stored = s.map.get(&b"k"[..]).unwrap().key().value().as_ptr();
        assert_eq!(a.as_ptr(), stored);
        // A reply handed out keeps the old value; the store has the new one.
        s.put(b"k", b"second").unwrap();
        assert_eq!(a, &b"first value"[..]);
        assert_eq!(s.get(b"k").unwrap(), &b"second"[..]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.used_bytes(), pair_size(b"k", b"second"));
        drop(b);
        // The replaced pair lives until its last reply is dropped.
        assert_eq!(a, &b"first value"[..]);
    }
}
