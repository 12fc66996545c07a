//! Properties of the anti-entropy hash tree (`dkvs::merkle`): a tree kept
//! up to date write by write equals the tree built from the final records,
//! and two trees that differ in k keys differ in exactly those keys'
//! buckets (and roots), nowhere else.

use std::collections::{BTreeMap, BTreeSet};

use dkvs::merkle::{Digest, MerkleTree, differing};
use dkvs::ring::Position;
use dkvs::version::Version;
use proptest::prelude::*;

fn ends(n: usize) -> Vec<Position> {
    let mut e: Vec<Position> = (0..n)
        .map(|i| Position::of(format!("127.0.0.1 {} 1", 7000 + i).as_bytes()))
        .collect();
    e.sort();
    e
}

fn digest(t: u64, tombstone: bool) -> Digest {
    Digest {
        version: Version {
            timestamp: t,
            writer: 3,
        },
        tombstone,
    }
}

/// A write: key number, then `None` (removed) or a version and tombstone.
fn writes() -> impl Strategy<Value = Vec<(u16, Option<(u64, bool)>)>> {
    prop::collection::vec(
        (0u16..300, prop::option::of((0u64..5, any::<bool>()))),
        0..600,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_updates_equal_a_full_rebuild(
        segments in 1usize..6,
        buckets in 1u16..40,
        writes in writes(),
    ) {
        let mut live = MerkleTree::new(ends(segments), buckets);
        let mut last: BTreeMap<Vec<u8>, Digest> = BTreeMap::new();
        for (k, w) in &writes {
            let key = format!("key{k}").into_bytes();
            let d = w.map(|(t, tomb)| digest(t, tomb));
            live.update(&key, d);
            match d {
                Some(d) => { last.insert(key, d); }
                None => { last.remove(&key); }
            }
        }
        let mut full = MerkleTree::new(ends(segments), buckets);
        for (k, d) in &last {
            full.update(k, Some(*d));
        }
        prop_assert_eq!(live.len(), last.len() as u64);
        for s in 0..segments as u32 {
            prop_assert_eq!(live.root(s), full.root(s));
            prop_assert_eq!(live.bucket_hashes(s), full.bucket_hashes(s));
        }
    }

    #[test]
    fn trees_differing_in_k_keys_differ_in_exactly_their_buckets(
        segments in 1usize..5,
        buckets in 1u16..64,
        common in prop::collection::btree_set(0u32..5_000, 0..300),
        changed in prop::collection::btree_set(5_000u32..6_000, 0..20),
        how in prop::collection::vec(0u8..3, 20),
    ) {
        let mut a = MerkleTree::new(ends(segments), buckets);
        let mut b = MerkleTree::new(ends(segments), buckets);
        for k in &common {
            let key = k.to_be_bytes();
            a.update(&key, Some(digest(1, false)));
            b.update(&key, Some(digest(1, false)));
        }
        // Each changed key: only in a, only in b, or in both with versions
        // that differ.
        let mut expected = BTreeSet::new();
        for (k, h) in changed.iter().zip(&how) {
            let key = k.to_be_bytes();
            match h {
                0 => { a.update(&key, Some(digest(2, false))); }
                1 => { b.update(&key, Some(digest(2, true))); }
                _ => {
                    a.update(&key, Some(digest(2, false)));
                    b.update(&key, Some(digest(3, false)));
                }
            }
            let slot = a.slot(&key);
            expected.insert((slot.segment, slot.bucket));
        }
        let mut found = BTreeSet::new();
        for s in 0..segments as u32 {
            let diff = differing(&a.bucket_hashes(s), &b.bucket_hashes(s));
            prop_assert_eq!(a.root(s) != b.root(s), !diff.is_empty());
            for i in diff {
                found.insert((s, i as u16));
            }
        }
        // XOR could cancel two changes in one bucket only by a hash
        // collision; changes here are all distinct entries.
        prop_assert_eq!(found, expected);
    }
}
