//! The engine interface's tests, written once and instantiated for every
//! engine with [`engine_suite!`]: each engine module calls it with a
//! function `fresh(limit) -> (engine, guard)` giving an empty engine with
//! that size limit (the guard keeps e.g. a temporary directory alive).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;

use super::{Engine, Record, Refused, Version};

/// A v1 put of `key` = `value`.
pub fn put(key: &[u8], value: &[u8]) -> (Bytes, Record) {
    (
        Bytes::copy_from_slice(key),
        Record::v1(Bytes::copy_from_slice(value)),
    )
}

/// The value stored under `key`, as bytes.
pub fn value(e: &dyn Engine, key: &[u8]) -> Option<Vec<u8>> {
    e.get(key).unwrap().map(|r| r.value.to_vec())
}

/// Puts, replacements, empty values and snapshot order.
pub fn put_get_replace_snapshot(e: &dyn Engine) {
    assert!(e.is_empty());
    assert_eq!(value(e, b"a"), None);
    let results = e.put_batch(&[put(b"b", b""), put(b"a", b"1"), put(b"a", b"2")]);
    assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
    assert_eq!(e.put_batch(&[put(b"c", b"3")]), vec![Ok(())]);
    assert_eq!(value(e, b"a").unwrap(), b"2");
    assert_eq!(value(e, b"b").unwrap(), b"");
    assert_eq!(e.len(), 3);
    let snap = e.snapshot().unwrap();
    let keys: Vec<&[u8]> = snap.iter().map(|(k, _)| &k[..]).collect();
    assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
    assert_eq!(snap[0].1, Record::v1(Bytes::from_static(b"2")));
    e.sync().unwrap();
}

/// The largest v1 key and value, and binary bytes, round-trip.
pub fn large_and_binary(e: &dyn Engine) {
    let key = vec![0xFFu8; 32753];
    let val: Vec<u8> = (0..32753u32).map(|i| (i % 255 + 1) as u8).collect();
    assert_eq!(e.put_batch(&[put(&key, &val)]), vec![Ok(())]);
    assert_eq!(value(e, &key).unwrap(), val);
    assert_eq!(e.put_batch(&[put(b"\x01\xfe", b"\n --> \n")]), vec![Ok(())]);
    assert_eq!(value(e, b"\x01\xfe").unwrap(), b"\n --> \n");
}

/// Thousands of keys in batches: all readable, snapshot sorted and complete.
pub fn many_keys(e: &dyn Engine) {
    for chunk in 0..50u32 {
        let batch: Vec<_> = (0..100u32)
            .map(|i| {
                let n = chunk * 100 + i;
                put(
                    format!("key-{:05}", (n * 7919) % 5000).as_bytes(),
                    &n.to_be_bytes(),
                )
            })
            .collect();
        assert!(e.put_batch(&batch).iter().all(Result::is_ok));
    }
    assert_eq!(e.len(), 5000);
    let snap = e.snapshot().unwrap();
    assert_eq!(snap.len(), 5000);
    assert!(snap.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(e.stats().keys, 5000);
}

/// Over the size limit a put is refused, what was stored stays readable,
/// replacements that do not grow still succeed.
pub fn size_limit(e: &dyn Engine, limit: u64) {
    let mut stored = Vec::new();
    let mut refused = 0;
    for i in 0..200u32 {
        let key = format!("k{i:03}");
        match e
            .put_batch(&[put(key.as_bytes(), &[b'v'; 20])])
            .pop()
            .unwrap()
        {
            Ok(()) => stored.push(key),
            Err(Refused::Full { limit: l }) => {
                assert_eq!(l, limit);
                refused += 1;
            }
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
        let stats = e.stats();
        assert!(stats.used_bytes <= limit, "{stats:?}");
    }
    assert!(refused > 0 && !stored.is_empty(), "{refused} {stored:?}");
    assert_eq!(e.len(), stored.len() as u64);
    for key in &stored {
        assert_eq!(value(e, key.as_bytes()).unwrap(), [b'v'; 20]);
    }
    assert_eq!(value(e, b"k199"), None);
    // A replacement of the same size succeeds, a growing one does not.
    let first = stored[0].as_bytes();
    assert_eq!(e.put_batch(&[put(first, &[b'w'; 20])]), vec![Ok(())]);
    assert!(e.put_batch(&[put(first, &[b'w'; 4000])])[0].is_err());
    assert_eq!(value(e, first).unwrap(), [b'w'; 20]);
    // In one batch, the refused put does not stop the others.
    let r = e.put_batch(&[put(first, b"short"), put(b"new-key", &[b'x'; 4000])]);
    assert_eq!(r[0], Ok(()));
    assert!(r[1].is_err());
    assert_eq!(value(e, first).unwrap(), b"short");
}

/// A versioned put (a tombstone when `value` is `None`) at `ms`/`writer`.
pub fn put_at(key: &[u8], value: Option<&[u8]>, ms: u64, writer: u64) -> (Bytes, Record) {
    (
        Bytes::copy_from_slice(key),
        Record {
            version: Version {
                timestamp: crate::hlc::pack(ms, 0),
                writer,
            },
            tombstone: value.is_none(),
            value: Bytes::copy_from_slice(value.unwrap_or_default()),
        },
    )
}

/// The version compare rule: newer replaces, equal is a no-op success,
/// older is refused with the version kept, v1 overwrites anything, and the
/// rule holds inside one batch.
pub fn versions(e: &dyn Engine) {
    let v = |ms| Version {
        timestamp: crate::hlc::pack(ms, 0),
        writer: 1,
    };
    assert_eq!(
        e.put_batch(&[put_at(b"k", Some(b"b"), 20, 1)]),
        vec![Ok(())]
    );
    let r = e.put_batch(&[
        put_at(b"k", Some(b"a"), 10, 1),
        put_at(b"k", Some(b"x"), 20, 1),
        put_at(b"k", None, 15, 1),
    ]);
    let older = Err(Refused::Older { current: v(20) });
    assert_eq!(r, vec![older.clone(), Ok(()), older]);
    let got = e.get(b"k").unwrap().unwrap();
    assert_eq!((got.value.to_vec(), got.version), (b"b".to_vec(), v(20)));
    // A newer delete leaves a tombstone with its version.
    assert_eq!(e.put_batch(&[put_at(b"k", None, 30, 1)]), vec![Ok(())]);
    let got = e.get(b"k").unwrap().unwrap();
    assert!(got.tombstone && got.value.is_empty() && got.version == v(30));
    // v1 overwrites it, at version zero, and any v2 write is newer.
    assert_eq!(e.put_batch(&[put(b"k", b"one")]), vec![Ok(())]);
    assert_eq!(
        e.get(b"k").unwrap().unwrap(),
        Record::v1(Bytes::from_static(b"one"))
    );
    assert_eq!(e.put_batch(&[put_at(b"k", Some(b"c"), 1, 1)]), vec![Ok(())]);
    assert_eq!(value(e, b"k").unwrap(), b"c");
}

/// Pages list every record once, in order, tombstones included.
pub fn pages(e: &dyn Engine) {
    let batch: Vec<_> = (0..250u32)
        .map(|i| {
            let key = format!("p{i:04}");
            let value = (i % 5 != 0).then_some(&b"v"[..]);
            put_at(key.as_bytes(), value, 100, 2)
        })
        .collect();
    assert!(e.put_batch(&batch).iter().all(Result::is_ok));
    let mut seen = Vec::new();
    let mut cursor = Vec::new();
    for _ in 0..10 {
        let (records, more) = e.page(&cursor, 64).unwrap();
        assert!(records.len() <= 64);
        seen.extend(records.iter().map(|(k, r)| (k.to_vec(), r.tombstone)));
        match (more, records.last()) {
            (true, Some((k, _))) => cursor = k.to_vec(),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(seen.iter().filter(|(_, t)| *t).count(), 50);
}

/// Expired tombstones are purged, recent ones and values are kept.
pub fn purge(e: &dyn Engine) {
    let batch = [
        put_at(b"old", None, 1_000, 3),
        put_at(b"new", None, 5_000, 3),
        put_at(b"live", Some(b"v"), 1_000, 3),
    ];
    assert!(e.put_batch(&batch).iter().all(Result::is_ok));
    assert_eq!(e.purge_tombstones(2_000, 0, 100).unwrap(), 1);
    assert_eq!(e.get(b"old").unwrap(), None);
    assert!(e.get(b"new").unwrap().unwrap().tombstone);
    assert_eq!(value(e, b"live").unwrap(), b"v");
    assert_eq!(e.len(), 2);
    assert_eq!(e.purge_tombstones(2_000, 0, 100).unwrap(), 0);
}

/// Instantiates the suite for an engine: `$fresh(limit)` returns an empty
/// engine with that size limit and a guard.
macro_rules! engine_suite {
    ($fresh:ident) => {
        mod suite_tests {
            use super::*;
            use crate::engine::suite as s;

            #[test]
            fn put_get_replace_snapshot() {
                let (e, _g) = $fresh(u64::MAX);
                s::put_get_replace_snapshot(&e);
            }

            #[test]
            fn large_and_binary() {
                let (e, _g) = $fresh(u64::MAX);
                s::large_and_binary(&e);
            }

            #[test]
            fn many_keys() {
                let (e, _g) = $fresh(u64::MAX);
                s::many_keys(&e);
            }

            #[test]
            fn versions() {
                let (e, _g) = $fresh(u64::MAX);
                s::versions(&e);
            }

            #[test]
            fn pages() {
                let (e, _g) = $fresh(u64::MAX);
                s::pages(&e);
            }

            #[test]
            fn purge() {
                let (e, _g) = $fresh(u64::MAX);
                s::purge(&e);
            }

            #[test]
            fn size_limit() {
                let (e, _g) = $fresh(3000);
                s::size_limit(&e, 3000);
            }
        }
    };
}
pub(crate) use engine_suite;
