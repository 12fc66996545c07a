//! The hash tree anti-entropy compares (issue 8, `docs/ANTI-ENTROPY.md`).
//!
//! Two replicas that share a key range find what differs between them
//! without shipping the range: each keeps, per ring *segment* (the arc
//! between two consecutive virtual-node positions, whose keys all have the
//! same replicas), a fixed number of leaf *buckets* chosen by the key's
//! position. A bucket's hash is the XOR of `H(key ‖ version ‖ tombstone)`
//! over its keys, so one write changes one bucket in O(1) (XOR the old
//! entry's hash out and the new one in); a segment's root is the hash of
//! its bucket hashes. Replicas compare roots, then the buckets of differing
//! segments, then the keys and versions of differing buckets.
//!
//! The tree also keeps each bucket's keys and digests (sorted), so a
//! differing bucket can be listed without scanning the store: it is an
//! index of `(key, version, tombstone)` beside the engine, kept up to date
//! by [`MerkleTree::update`] and built once from the engine at start.
//! Values are not part of it: two records with the same version are the
//! same write (a v1 record's version is zero, so two v1 values with
//! different bytes look equal; DECISIONS #301). Pure data structure, no
//! I/O: [`crate::anti_entropy`] feeds it and talks to the peers.

use std::collections::BTreeMap;
use std::ops::Bound;

use sha2::{Digest as _, Sha256};

use crate::ring::Position;
use crate::version::Version;

/// Bytes of a bucket or root hash, and such a hash (the wire's, which
/// carries them between servers).
pub use crate::protocol_v2::ae::{HASH_LEN, Hash};

/// The hash of an empty bucket (XOR of nothing).
pub const EMPTY: Hash = [0; HASH_LEN];

/// Default number of leaf buckets per segment.
pub const DEFAULT_BUCKETS: u16 = 256;

/// What the tree keeps of a record: its version and whether it is a
/// tombstone (the value is not compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    /// The record's version ([`Version::ZERO`] for a v1 write).
    pub version: Version,
    /// True for a tombstone.
    pub tombstone: bool,
}

impl Digest {
    /// The order in which two digests of one key win: the higher version,
    /// and at equal versions a tombstone over a live value (never happens
    /// between honest writers: one version is one write).
    pub fn rank(&self) -> (Version, bool) {
        (self.version, self.tombstone)
    }

    /// True for a value written through v1 (version zero, live).
    pub fn is_v1(&self) -> bool {
        self.version == Version::ZERO && !self.tombstone
    }
}

/// `H(key ‖ version ‖ tombstone)`, truncated to [`HASH_LEN`] bytes (the
/// key's length first, so no two entries share an input).
pub fn entry_hash(key: &[u8], digest: Digest) -> Hash {
    let mut h = Sha256::new();
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(digest.version.to_bytes());
    h.update([u8::from(digest.tombstone)]);
    let full = h.finalize();
    let mut out = EMPTY;
    for (o, b) in out.iter_mut().zip(full.iter()) {
        *o = *b;
    }
    out
}

fn xor(into: &mut Hash, other: &Hash) {
    for (a, b) in into.iter_mut().zip(other) {
        *a ^= b;
    }
}

/// One leaf: its hash and its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Bucket {
    hash: Hash,
    keys: BTreeMap<Box<[u8]>, Digest>,
}

/// Keys and their digests, in key order (a page of a bucket).
pub type Entries = Vec<(Box<[u8]>, Digest)>;

/// Where a key lives in the tree: its segment and its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    /// Ring segment: the index of the first node at or after the key's
    /// position (`Ring::successor`).
    pub segment: u32,
    /// Leaf bucket within the segment.
    pub bucket: u16,
}

/// The per-segment bucket hashes and key index of one server's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// The position of each segment's end (the ring's node positions, in
    /// ring order); segment `i` holds the keys whose successor is node `i`.
    ends: Vec<Position>,
    buckets: u16,
    /// `segments[s][b]`, allocated lazily (a segment with no key is empty).
    segments: Vec<Vec<Bucket>>,
    entries: u64,
}

impl MerkleTree {
    /// An empty tree over the segments ending at `ends` (sorted node
    /// positions; at least one segment is kept even for an empty ring) with
    /// `buckets` leaves each (at least 1).
    pub fn new(ends: Vec<Position>, buckets: u16) -> MerkleTree {
        let count = ends.len().max(1);
        MerkleTree {
            ends,
            buckets: buckets.max(1),
            segments: vec![Vec::new(); count],
            entries: 0,
        }
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Leaf buckets per segment.
    pub fn bucket_count(&self) -> u16 {
        self.buckets
    }

    /// Number of keys indexed.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// True when no key is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The segment and bucket of a key at `position`: the segment of its
    /// successor node, the bucket from the position's last two bytes (the
    /// position is SHA-1, so buckets fill evenly).
    pub fn slot_at(&self, position: &Position) -> Slot {
        let i = self.ends.partition_point(|e| e < position);
        let segment = if i >= self.ends.len() { 0 } else { i };
        let [.., a, b] = position.0;
        Slot {
            segment: u32::try_from(segment).unwrap_or(0),
            bucket: u16::from_be_bytes([a, b]) % self.buckets,
        }
    }

    /// The slot of `key`.
    pub fn slot(&self, key: &[u8]) -> Slot {
        self.slot_at(&Position::of(key))
    }

    fn bucket_mut(&mut self, slot: Slot) -> Option<&mut Bucket> {
        let buckets = usize::from(self.buckets);
        let segment = self.segments.get_mut(slot.segment as usize)?;
        if segment.is_empty() {
            segment.resize_with(buckets, Bucket::default);
        }
        segment.get_mut(usize::from(slot.bucket))
    }

    fn bucket(&self, slot: Slot) -> Option<&Bucket> {
        self.segments
            .get(slot.segment as usize)?
            .get(usize::from(slot.bucket))
    }

    /// What the tree holds for `key`.
    pub fn get(&self, key: &[u8]) -> Option<Digest> {
        self.bucket(self.slot(key))?.keys.get(key).copied()
    }

    /// Sets what the tree holds for `key` (`None`: the key is absent) and
    /// updates its bucket's hash in O(1) hashing (plus the sorted index's
    /// O(log n)). True when something changed.
    pub fn update(&mut self, key: &[u8], digest: Option<Digest>) -> bool {
        let slot = self.slot(key);
        let Some(bucket) = self.bucket_mut(slot) else {
            return false;
        };
        let old = bucket.keys.get(key).copied();
        if old == digest {
            return false;
        }
        if let Some(old) = old {
            xor(&mut bucket.hash, &entry_hash(key, old));
        }
        match digest {
            Some(new) => {
                xor(&mut bucket.hash, &entry_hash(key, new));
                bucket.keys.insert(key.into(), new);
            }
            None => {
                bucket.keys.remove(key);
            }
        }
        match (old, digest) {
            (None, Some(_)) => self.entries += 1,
            (Some(_), None) => self.entries = self.entries.saturating_sub(1),
            _ => {}
        }
        true
    }

    /// The hash of each bucket of `segment` (all [`EMPTY`] for a segment
    /// with no key or out of range).
    pub fn bucket_hashes(&self, segment: u32) -> Vec<Hash> {
        match self.segments.get(segment as usize) {
            Some(b) if !b.is_empty() => b.iter().map(|b| b.hash).collect(),
            _ => vec![EMPTY; usize::from(self.buckets)],
        }
    }

    /// The root of `segment`: SHA-256 (truncated) of its bucket hashes in
    /// order; [`EMPTY`] for a segment without keys, so empty segments are
    /// equal whatever the bucket count.
    pub fn root(&self, segment: u32) -> Hash {
        let Some(buckets) = self.segments.get(segment as usize) else {
            return EMPTY;
        };
        if buckets.iter().all(|b| b.keys.is_empty()) {
            return EMPTY;
        }
        let mut h = Sha256::new();
        for b in buckets {
            h.update(b.hash);
        }
        let full = h.finalize();
        let mut out = EMPTY;
        for (o, b) in out.iter_mut().zip(full.iter()) {
            *o = *b;
        }
        out
    }

    /// The keys of one bucket after `cursor` (every key when empty), in
    /// key order, at most `max` of them, and whether more follow.
    pub fn entries_after(&self, slot: Slot, cursor: &[u8], max: usize) -> (Entries, bool) {
        let Some(bucket) = self.bucket(slot) else {
            return (Vec::new(), false);
        };
        let start = if cursor.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(cursor)
        };
        let mut range = bucket
            .keys
            .range::<[u8], _>((start, Bound::Unbounded))
            .map(|(k, d)| (k.clone(), *d));
        let page: Vec<_> = range.by_ref().take(max).collect();
        let more = range.next().is_some();
        (page, more)
    }

    /// Every `(key, digest)`, segment by segment (for a rebuild over a new
    /// ring).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Digest)> {
        self.segments
            .iter()
            .flatten()
            .flat_map(|b| b.keys.iter().map(|(k, d)| (&**k, *d)))
    }

    /// The same entries in a tree over other segments (a reloaded ring) or
    /// another bucket count: re-bucketed from the index, not from the
    /// store.
    pub fn rebucketed(&self, ends: Vec<Position>, buckets: u16) -> MerkleTree {
        let mut tree = MerkleTree::new(ends, buckets);
        for (key, digest) in self.iter() {
            tree.update(key, Some(digest));
        }
        tree
    }
}

/// The indexes (`0..a.len()`) where two hash lists differ; a list shorter
/// than the other differs at every missing index.
pub fn differing(a: &[Hash], b: &[Hash]) -> Vec<usize> {
    (0..a.len().max(b.len()))
        .filter(|&i| a.get(i) != b.get(i))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ends(n: usize) -> Vec<Position> {
        let mut e: Vec<Position> = (0..n)
            .map(|i| Position::of(format!("node {i}").as_bytes()))
            .collect();
        e.sort();
        e
    }

    fn d(t: u64, tomb: bool) -> Digest {
        Digest {
            version: Version {
                timestamp: t,
                writer: 1,
            },
            tombstone: tomb,
        }
    }

    #[test]
    fn update_is_undone_by_removal_and_roots_follow() {
        let mut t = MerkleTree::new(ends(4), 16);
        let empty = t.clone();
        assert!(t.update(b"a", Some(d(1, false))));
        assert!(!t.update(b"a", Some(d(1, false))));
        let s = t.slot(b"a");
        assert_ne!(t.root(s.segment), EMPTY);
        assert!(t.update(b"a", Some(d(2, true))));
        assert_eq!(t.get(b"a"), Some(d(2, true)));
        assert!(t.update(b"a", None));
        assert_eq!(t.root(s.segment), EMPTY);
        assert_eq!(t.bucket_hashes(s.segment), empty.bucket_hashes(s.segment));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn slots_follow_the_ring() {
        let e = ends(3);
        let t = MerkleTree::new(e.clone(), 8);
        assert_eq!(t.slot_at(&e[1]).segment, 1);
        let mut after = e[2];
        after.0[19] = after.0[19].wrapping_add(1);
        if after > e[2] {
            assert_eq!(t.slot_at(&after).segment, 0);
        }
        let empty_ring = MerkleTree::new(Vec::new(), 8);
        assert_eq!(empty_ring.slot(b"k").segment, 0);
        assert_eq!(empty_ring.segment_count(), 1);
    }

    #[test]
    fn pages_of_a_bucket() {
        let mut t = MerkleTree::new(ends(1), 1);
        for i in 0..10u8 {
            t.update(&[b'k', i], Some(d(u64::from(i) + 1, false)));
        }
        let s = Slot {
            segment: 0,
            bucket: 0,
        };
        let (p1, more) = t.entries_after(s, b"", 4);
        assert_eq!((p1.len(), more), (4, true));
        let (p2, more) = t.entries_after(s, &p1[3].0, 100);
        assert_eq!((p2.len(), more), (6, false));
        assert_eq!(&*p2[0].0, &[b'k', 4]);
    }

    #[test]
    fn rebucketing_keeps_entries() {
        let mut t = MerkleTree::new(ends(3), 8);
        for i in 0..100u32 {
            t.update(&i.to_be_bytes(), Some(d(u64::from(i) + 1, i % 7 == 0)));
        }
        let r = t.rebucketed(ends(5), 32);
        assert_eq!(r.len(), 100);
        assert_eq!(r.rebucketed(ends(3), 8), t);
    }
}
