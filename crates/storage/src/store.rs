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
//! `Arc<[u8]>` holding a header (LEB128 of key length × 2 + a "versioned"
//! bit: one byte for keys below 64 bytes), the key, for a versioned record
//! only (protocol v2 puts and tombstones) a flags byte and the 16-byte
//! version, and the value — so a pair written through v1 costs exactly
//! what it did before versions existed (180 bytes per key at 1M keys,
//! measured again with versions in place: DECISIONS #58); the map is a set of these (`Pair` hashes and compares by
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

use crate::record::Record;
use crate::version::Version;

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
    /// Packs a protocol v1 pair (no version, not a tombstone): exactly the
    /// layout of before versions existed, so v1 data costs no more.
    fn new(key: &[u8], value: &[u8]) -> Pair {
        Pair::pack(key, None, value)
    }

    /// Packs `key`, its version meta (`None` for a v1 pair) and `value`
    /// (one allocation, one copy of each). The header is LEB128 of
    /// `key length × 2 + versioned`: below 64-byte keys it is one byte.
    fn pack(key: &[u8], meta: Option<Meta>, value: &[u8]) -> Pair {
        let mut header = [0u8; MAX_LEN_BYTES];
        let mut used = 0;
        let mut n = (key.len() << 1) | usize::from(meta.is_some());
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
        let meta_bytes = meta.map(Meta::to_bytes);
        let meta_bytes: &[u8] = meta_bytes.as_ref().map_or(&[], |m| &m[..]);
        // `repeat_n` has an exact length: `collect` makes one allocation of
        // the final size (and zeroes it), then `memcpy`s fill it.
        let mut packed: Arc<[u8]> =
            std::iter::repeat_n(0, used + key.len() + meta_bytes.len() + value.len()).collect();
        // Always taken: the `Arc` is unique and the lengths add up.
        if let Some(buf) = Arc::get_mut(&mut packed)
            && let Some((head, rest)) = buf.split_at_mut_checked(header.len())
            && let Some((k, rest)) = rest.split_at_mut_checked(key.len())
            && let Some((m, v)) = rest.split_at_mut_checked(meta_bytes.len())
        {
            head.copy_from_slice(header);
            k.copy_from_slice(key);
            m.copy_from_slice(meta_bytes);
            v.copy_from_slice(value);
        }
        Pair(packed)
    }

    /// The key, the version meta (`None` for a v1 pair) and the value.
    fn parts(&self) -> (&[u8], Option<Meta>, &[u8]) {
        let mut n = 0usize;
        let mut shift = 0u32;
        let mut header = 0;
        for &byte in self.0.iter().take(MAX_LEN_BYTES) {
            header += 1;
            n |= usize::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let rest = self.0.get(header..).unwrap_or_default();
        let (key, rest) = rest.split_at_checked(n >> 1).unwrap_or((rest, &[]));
        if n & 1 == 0 {
            return (key, None, rest);
        }
        match rest.split_first_chunk::<{ Meta::LEN }>() {
            Some((meta, value)) => (key, Some(Meta::from_bytes(meta)), value),
            None => (key, None, rest),
        }
    }

    /// The key and the value.
    fn split(&self) -> (&[u8], &[u8]) {
        let (key, _, value) = self.parts();
        (key, value)
    }

    fn key(&self) -> &[u8] {
        self.split().0
    }

    fn value(&self) -> &[u8] {
        self.split().1
    }

    /// The pair's version and tombstone flag (version zero, live, for a v1
    /// pair).
    fn meta(&self) -> Meta {
        self.parts().1.unwrap_or_default()
    }

    /// The accounted size ([`pair_size`], plus [`Meta::LEN`] when versioned).
    fn size(&self) -> u64 {
        let (key, meta, value) = self.parts();
        record_size(key, meta.is_some(), value)
    }
}

/// A versioned pair's metadata: its version and whether it is a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Meta {
    version: Version,
    tombstone: bool,
}

impl Meta {
    /// Bytes of the packed form: a flags byte (bit 0: tombstone), then the
    /// version ([`Version::to_bytes`]).
    const LEN: usize = 1 + Version::ENCODED_LEN;

    fn to_bytes(self) -> [u8; Meta::LEN] {
        let mut out = [0u8; Meta::LEN];
        if let Some((flags, version)) = out.split_first_mut() {
            *flags = u8::from(self.tombstone);
            version.copy_from_slice(&self.version.to_bytes());
        }
        out
    }

    fn from_bytes(bytes: &[u8; Meta::LEN]) -> Meta {
        let (flags, version) = bytes.split_first().unwrap_or((&0, &[]));
        let version = <[u8; Version::ENCODED_LEN]>::try_from(version).unwrap_or_default();
        Meta {
            version: Version::from_bytes(version),
            tombstone: flags & 1 != 0,
        }
    }
}

/// The accounted size of a stored record: [`pair_size`], plus the
/// version and flags of a versioned one.
fn record_size(key: &[u8], versioned: bool, value: &[u8]) -> u64 {
    pair_size(key, value) + if versioned { Meta::LEN as u64 } else { 0 }
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
    /// Tombstones stored (a purge sweep scans only when there are some).
    tombstones: AtomicU64,
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
            tombstones: AtomicU64::new(0),
        }
    }

    /// The live value of `key`, if present (a tombstone reads as absent).
    /// The value is not copied: the `Bytes` shares the stored allocation
    /// and stays valid after a replacement.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.get_record(key)
            .filter(|r| !r.tombstone)
            .map(|r| r.value)
    }

    /// The record of `key` (value, version, tombstone flag), if any; a v1
    /// pair has [`Version::ZERO`].
    pub fn get_record(&self, key: &[u8]) -> Option<Record> {
        self.map.get(key).map(|entry| record_of(entry.key()))
    }

    /// Stores `value` under `key` as protocol v1 does: replacing any
    /// previous record whatever its version, at [`Version::ZERO`].
    /// Refused, leaving the store unchanged, when the new total would
    /// exceed the limit; a replacement that keeps or shrinks the size
    /// always succeeds.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), OverMemory> {
        self.write(Pair::new(key, value), |_| None).map(drop)
    }

    /// Stores a versioned record (a tombstone when `tombstone`, whose value
    /// is then the time it was received, see
    /// [`crate::record::Record::tombstone`]) unless the stored record's version is higher
    /// ([`Written::Older`]) or equal (a retransmission: unchanged,
    /// [`Written::Stored`]). The comparison and the write are atomic: both
    /// happen under the key's shard lock.
    pub fn put_versioned(
        &self,
        key: &[u8],
        value: &[u8],
        version: Version,
        tombstone: bool,
    ) -> Result<Written, OverMemory> {
        let meta = Meta { version, tombstone };
        let pair = Pair::pack(key, Some(meta), value);
        self.write(pair, |old| {
            let kept = old.meta().version;
            (kept >= version).then_some(if kept == version {
                Written::Stored
            } else {
                Written::Older(kept)
            })
        })
    }

    /// Inserts `pair` under the shard lock of its key, unless `keep` says,
    /// from the stored pair, that it stays (its answer is returned).
    fn write(
        &self,
        pair: Pair,
        keep: impl FnOnce(&Pair) -> Option<Written>,
    ) -> Result<Written, OverMemory> {
        let new_size = pair.size();
        let tombstone = pair.meta().tombstone;
        // Packed before the shard lock is taken; the lock is held by `slot`
        // until the counter and the pair are both updated.
        let replaced = match self.map.entry(pair) {
            Entry::Occupied(slot) => {
                if let Some(kept) = keep(slot.key()) {
                    return Ok(kept);
                }
                self.reserve(slot.key().size(), new_size)?;
                if slot.key().meta().tombstone {
                    self.tombstones.fetch_sub(1, Ordering::AcqRel);
                }
                // The new pair replaces the old one, key included.
                slot.replace_entry(()).0
            }
            Entry::Vacant(slot) => {
                self.reserve(0, new_size)?;
                slot.insert(());
                if tombstone {
                    self.tombstones.fetch_add(1, Ordering::AcqRel);
                }
                return Ok(Written::Stored);
            }
        };
        if tombstone {
            self.tombstones.fetch_add(1, Ordering::AcqRel);
        }
        // Freed (unless a reply still holds it) after the lock is released.
        drop(replaced);
        Ok(Written::Stored)
    }

    /// Removes at most `max` tombstones expired at `now_ms` with grace
    /// `grace_ms` ([`crate::record::tombstone_expired`]); the number
    /// removed. Each removal re-checks the record under its shard lock, so
    /// a newer write that arrived meanwhile is never removed. Does nothing
    /// (no scan) when the store holds no tombstone.
    pub fn purge_tombstones(&self, now_ms: u64, grace_ms: u64, max: usize) -> usize {
        if self.tombstones.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let expired = |pair: &Pair| {
            let meta = pair.meta();
            meta.tombstone
                && crate::record::tombstone_expired(pair.value(), meta.version, now_ms, grace_ms)
        };
        // Candidates under read locks (one shard at a time), removed after.
        let candidates: Vec<Pair> = self
            .map
            .iter()
            .filter(|e| expired(e.key()))
            .take(max)
            .map(|e| e.key().clone())
            .collect();
        let mut removed = 0;
        for pair in candidates {
            if let Some((gone, ())) = self.map.remove_if(pair.key(), |p, _| expired(p)) {
                self.used.fetch_sub(gone.size(), Ordering::AcqRel);
                self.tombstones.fetch_sub(1, Ordering::AcqRel);
                removed += 1;
            }
        }
        removed
    }

    /// Removes the record of `key` if it is still `version` with `value`
    /// (a v1 pair has version zero, so its bytes tell a later v1 write
    /// apart); true when removed. Under the key's shard lock, so a write
    /// that arrived meanwhile stays. For a server handing a key it no
    /// longer owns to its owners (`crate::rebalance`).
    pub fn remove_if_unchanged(&self, key: &[u8], version: Version, value: &[u8]) -> bool {
        let same = |p: &Pair| p.meta().version == version && p.value() == value;
        let Some((gone, ())) = self.map.remove_if(key, |p, _| same(p)) else {
            return false;
        };
        self.used.fetch_sub(gone.size(), Ordering::AcqRel);
        if gone.meta().tombstone {
            self.tombstones.fetch_sub(1, Ordering::AcqRel);
        }
        true
    }

    /// Number of tombstones stored.
    pub fn tombstones(&self) -> u64 {
        self.tombstones.load(Ordering::Acquire)
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

    /// A copy of every live pair, sorted by key (the list of a v1 dump;
    /// tombstones are left out).
    pub fn snapshot(&self) -> Vec<(Box<[u8]>, Bytes)> {
        let mut pairs: Vec<(Box<[u8]>, Bytes)> = self
            .map
            .iter()
            .filter(|e| !e.key().meta().tombstone)
            .map(|e| (e.key().key().into(), ValueOf::bytes(e.key())))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        pairs
    }

    /// The first `max` records (tombstones included) whose keys sort
    /// strictly after `cursor`, in key order, and whether more follow (a v2
    /// dump page). Costs one pass over the map (no sort of all of it), and
    /// keeps nothing between calls.
    pub fn page(&self, cursor: &[u8], max: usize) -> (crate::record::Pairs, bool) {
        let mut after: Vec<Pair> = self
            .map
            .iter()
            .filter(|e| e.key().key() > cursor)
            .map(|e| e.key().clone())
            .collect();
        let more = after.len() > max;
        if more {
            after.select_nth_unstable_by(max, |a, b| a.key().cmp(b.key()));
            after.truncate(max);
        }
        after.sort_unstable_by(|a, b| a.key().cmp(b.key()));
        let records = after
            .iter()
            .map(|p| (Box::from(p.key()), record_of(p)))
            .collect();
        (records, more)
    }
}

/// The record `pair` holds; its value shares the pair's allocation.
fn record_of(pair: &Pair) -> Record {
    let meta = pair.meta();
    Record {
        version: meta.version,
        tombstone: meta.tombstone,
        value: ValueOf::bytes(pair),
    }
}

/// What a versioned write did ([`Store::put_versioned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored, or already stored at this very version.
    Stored,
    /// Ignored: the store keeps this newer version.
    Older(Version),
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
        for len in [0usize, 1, 63, 64, 127, 128, 8191, 8192, 16_384, 70_000] {
            let key: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let value = vec![7u8; len % 300];
            let pair = Pair::new(&key, &value);
            // LEB128 of twice the length (the low bit flags a version).
            let header = match len {
                0..=63 => 1,
                64..=8191 => 2,
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

    #[test]
    fn v1_pairs_keep_their_layout_and_versioned_ones_carry_17_bytes() {
        let v1 = Pair::new(b"0123456789abcdef", &[7u8; 100]);
        // One header byte, key, value: nothing added for v1 pairs (P5).
        assert_eq!(v1.0.len(), 1 + 16 + 100);
        assert_eq!(v1.meta(), Meta::default());
        let version = Version {
            timestamp: 0x0102_0304_0506_0708,
            writer: 9,
        };
        let meta = Meta {
            version,
            tombstone: false,
        };
        let v2 = Pair::pack(b"0123456789abcdef", Some(meta), &[7u8; 100]);
        assert_eq!(v2.0.len(), 1 + 16 + Meta::LEN + 100);
        assert_eq!(
            v2.parts(),
            (&b"0123456789abcdef"[..], Some(meta), &[7u8; 100][..])
        );
        assert_eq!(v2.size(), v1.size() + Meta::LEN as u64);
        assert_eq!(v1, v2);
    }

    #[test]
    fn versioned_writes_compare_and_account() {
        let s = Store::new();
        let v = |t| Version {
            timestamp: crate::hlc::pack(t, 0),
            writer: 1,
        };
        assert_eq!(
            s.put_versioned(b"k", b"b", v(20), false),
            Ok(Written::Stored)
        );
        assert_eq!(
            s.put_versioned(b"k", b"a", v(10), false),
            Ok(Written::Older(v(20)))
        );
        assert_eq!(
            s.put_versioned(b"k", b"x", v(20), false),
            Ok(Written::Stored)
        );
        assert_eq!(s.get(b"k").unwrap(), &b"b"[..]);
        assert_eq!(s.put_versioned(b"k", b"", v(30), true), Ok(Written::Stored));
        assert_eq!(s.get(b"k"), None);
        let r = s.get_record(b"k").unwrap();
        assert!(r.tombstone && r.value.is_empty() && r.version == v(30));
        assert_eq!(s.tombstones(), 1);
        assert!(s.snapshot().is_empty());
        assert_eq!(s.used_bytes(), pair_size(b"k", b"") + Meta::LEN as u64);
        // A tombstone keeps its value: the time it was received, from
        // which its grace is counted (else its version's reading).
        let fresh = Store::new();
        let late = Version {
            timestamp: crate::hlc::pack(1, 0),
            writer: 1,
        };
        fresh
            .put_versioned(b"r", &1_000u64.to_be_bytes(), late, true)
            .unwrap();
        // Version at 1 ms, received at 1,000 ms, grace 5,000 ms: expired
        // after 6,000 ms (from receipt; version + grace is later).
        assert_eq!(fresh.purge_tombstones(6_000, 5_000, 10), 0);
        assert_eq!(fresh.purge_tombstones(6_001, 5_000, 10), 1);
        // A v1 put replaces the tombstone at version zero.
        s.put(b"k", b"v1").unwrap();
        assert_eq!(s.tombstones(), 0);
        assert_eq!(s.get_record(b"k").unwrap().version, Version::ZERO);
        assert_eq!(s.used_bytes(), pair_size(b"k", b"v1"));
        // Purge: only expired tombstones go, and the accounting follows.
        s.put_versioned(b"t", b"", v(5), true).unwrap();
        assert_eq!(s.purge_tombstones(1, 0, 10), 0);
        assert_eq!(s.purge_tombstones(6, 0, 10), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.used_bytes(), pair_size(b"k", b"v1"));
    }

    #[test]
    fn concurrent_versioned_writers_keep_the_highest_version() {
        // Four threads write interleaved versions of one key; the compare
        // and the write being atomic, the highest version always wins and
        // a write is answered OLDER only with a higher version than its own.
        let s = Arc::new(Store::new());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for i in 0..2000u64 {
                        let version = Version {
                            timestamp: (i * 7919 + t * 104_729) % 10_007,
                            writer: t + 1,
                        };
                        let value = version.timestamp.to_be_bytes();
                        match s.put_versioned(b"k", &value, version, i % 5 == 0).unwrap() {
                            Written::Stored => {}
                            Written::Older(kept) => assert!(kept > version),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let max = (0..4u64)
            .flat_map(|t| {
                (0..2000u64).map(move |i| Version {
                    timestamp: (i * 7919 + t * 104_729) % 10_007,
                    writer: t + 1,
                })
            })
            .max()
            .unwrap();
        let r = s.get_record(b"k").unwrap();
        assert_eq!(r.version, max);
        if !r.tombstone {
            assert_eq!(&r.value[..], &max.timestamp.to_be_bytes()[..]);
        }
        assert_eq!(s.len(), 1);
        assert_eq!(s.tombstones(), u64::from(r.tombstone));
    }
}
