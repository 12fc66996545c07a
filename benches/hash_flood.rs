//! Hash flooding: keys crafted to collide under a fixed hash do not slow
//! the store.
//!
//! The crafted keys are the classic hash-DoS set (28C3, 2011): Java's
//! `String.hashCode` (h = 31·h + byte) gives "Aa" and "BB" the same hash, so
//! the 2^n strings made of n such blocks all share one hash. A table keyed
//! by that fixed hash puts them all in one probe chain and every insert
//! compares against every earlier key: quadratic time. The control below is
//! exactly such a table; `Store` hashes with SipHash under a random
//! per-process key, so for it these keys are as good as random ones.
//!
//! Run: `cargo bench --bench hash_flood` (prints a table; `-- N` sets the
//! number of blocks, default 14, i.e. 16384 keys).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use dkvs::store::Store;

/// Java's `String.hashCode`, as a `Hasher` (a fixed, unkeyed hash).
#[derive(Default)]
struct JavaHash(u32);

impl Hasher for JavaHash {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.wrapping_mul(31).wrapping_add(u32::from(b));
        }
    }
    fn finish(&self) -> u64 {
        u64::from(self.0)
    }
}

type FixedHashMap = HashMap<Vec<u8>, Vec<u8>, BuildHasherDefault<JavaHash>>;

/// A workload: insert then get every key of a set.
type Workload = fn(&[Vec<u8>]);

/// The 2^blocks keys made of "Aa"/"BB" blocks: one Java hash for all.
fn crafted_keys(blocks: u32) -> Vec<Vec<u8>> {
    (0..1u64 << blocks)
        .map(|bits| {
            (0..blocks)
                .flat_map(|i| if bits >> i & 1 == 1 { *b"BB" } else { *b"Aa" })
                .collect()
        })
        .collect()
}

/// As many random keys of the same length (xorshift, fixed seed).
fn random_keys(count: usize, len: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b'a' + (x % 26) as u8
                })
                .collect()
        })
        .collect()
}

/// Median times of `runs` runs of `f` on `a` and on `b`, interleaved so
/// that both see the same machine load.
fn medians(runs: usize, f: Workload, a: &[Vec<u8>], b: &[Vec<u8>]) -> (Duration, Duration) {
    let time = |keys: &[Vec<u8>]| {
        let t = Instant::now();
        f(keys);
        t.elapsed()
    };
    let (mut ta, mut tb): (Vec<Duration>, Vec<Duration>) =
        (0..runs).map(|_| (time(a), time(b))).unzip();
    ta.sort();
    tb.sort();
    (ta[runs / 2], tb[runs / 2])
}

fn store_insert_get(keys: &[Vec<u8>]) {
    let store = Store::new();
    for k in keys {
        store.put(k, b"value").unwrap();
    }
    for k in keys {
        std::hint::black_box(store.get(k).unwrap());
    }
}

fn fixed_insert_get(keys: &[Vec<u8>]) {
    let mut map = FixedHashMap::default();
    for k in keys {
        map.insert(k.clone(), b"value".to_vec());
    }
    for k in keys {
        std::hint::black_box(map.get(k).unwrap());
    }
}

fn main() {
    let blocks: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(14);
    let crafted = crafted_keys(blocks);
    let random = random_keys(crafted.len(), crafted[0].len());
    let one = {
        let mut h = JavaHash::default();
        h.write(&crafted[0]);
        h.finish()
    };
    assert!(crafted.iter().all(|k| {
        let mut h = JavaHash::default();
        h.write(k);
        h.finish() == one
    }));
    let n = crafted.len();
    println!(
        "{n} keys of {} bytes; crafted keys all have Java hash {one:#x}",
        crafted[0].len()
    );
    println!("time to insert then get every key (median of 7 interleaved runs):");
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "map", "random", "crafted", "ratio"
    );
    let rows: [(&str, Workload); 2] = [
        ("dkvs Store (SipHash, random key)", store_insert_get),
        ("control: fixed Java hash", fixed_insert_get),
    ];
    for (name, f) in rows {
        let (r, c) = medians(7, f, &random, &crafted);
        println!(
            "{name:<34} {:>9.2} ms {:>9.2} ms {:>7.2}x",
            r.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3,
            c.as_secs_f64() / r.as_secs_f64()
        );
    }
}
