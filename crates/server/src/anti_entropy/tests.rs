//! Tests of the ring view, the seconds parser, merge and packing.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;

use super::entries::{entry_of, pack};
use super::*;
use crate::config::parse_servers_txt;
use crate::engine::MemoryEngine;
use crate::engine::{Engine, Record};
use crate::protocol_v2::EntryValue;
use crate::version::Version;

#[test]
fn seconds_parse() {
    assert_eq!(parse_seconds("0.5").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_seconds("0").unwrap(), Duration::ZERO);
    assert!(parse_seconds("-1").is_err());
    assert!(parse_seconds("x").is_err());
}

#[test]
fn view_finds_itself_and_its_peers() {
    let c = parse_servers_txt(
        "127.0.0.1 7001 2\n127.0.0.1 7002 2\n127.0.0.1 7003 2\n127.0.0.1 7004 2\n",
        "t",
    )
    .unwrap();
    let me: SocketAddrV4 = "127.0.0.1:7002".parse().unwrap();
    let v = RingView::new(c.clone(), me, Some(2)).unwrap();
    assert_eq!((v.me, v.n), (1, 2));
    assert!(v.peers.iter().all(|(a, _)| *a != me));
    let shared: usize = v.peers.iter().map(|(_, s)| s.len()).sum();
    // N = 2: each segment this server replicates has one other replica.
    let mine = (0..v.ring.nodes().len())
        .filter(|&s| {
            v.ring
                .placement_at(v.ring.nodes()[s].position, 2)
                .replicas
                .iter()
                .any(|r| r.server == 1)
        })
        .count();
    assert_eq!(shared, mine);
    let other = RingView::new(c.clone(), me, Some(3)).unwrap();
    assert_ne!(other.fingerprint, v.fingerprint);
    assert_eq!(RingView::new(c.clone(), me, Some(9)).unwrap().n, 4);
    let stranger: SocketAddrV4 = "127.0.0.1:7009".parse().unwrap();
    assert!(
        RingView::new(c, stranger, None)
            .unwrap_err()
            .to_string()
            .ends_with("this server (127.0.0.1:7009) is not in it")
    );
}

#[test]
fn merge_keeps_kinds_apart_and_the_newest_on_both_engines() {
    merge_rules(&MemoryEngine::default());
    let dir = tempfile::tempdir().unwrap();
    let durable =
        crate::engine::DurableEngine::open(&crate::engine::DurableOptions::new(dir.path()))
            .unwrap();
    merge_rules(&durable);
}

fn merge_rules(e: &dyn Engine) {
    let v = |t| Version {
        timestamp: crate::hlc::pack(t, 0),
        writer: 1,
    };
    e.put_batch(&[(
        Bytes::from_static(b"a"),
        Record::v1(Bytes::from_static(b"x")),
    )]);
    let records = vec![
        (
            Bytes::from_static(b"a"),
            Record::v1(Bytes::from_static(b"y")),
        ),
        (
            Bytes::from_static(b"b"),
            Record::v1(Bytes::from_static(b"y")),
        ),
        (
            Bytes::from_static(b"c"),
            Record {
                version: v(1_000),
                tombstone: false,
                value: Bytes::from_static(b"new"),
            },
        ),
        (
            Bytes::from_static(b"f"),
            Record {
                version: v(u64::MAX >> 17),
                tombstone: false,
                value: Bytes::from_static(b"future"),
            },
        ),
    ];
    merge(e, &records);
    assert_eq!(e.get(b"a").unwrap().unwrap().value, &b"x"[..]);
    // A versioned record does not replace a value without a version.
    let versioned = vec![(
        Bytes::from_static(b"a"),
        Record {
            version: v(2_000),
            tombstone: false,
            value: Bytes::from_static(b"z"),
        },
    )];
    assert_eq!(merge(e, &versioned), 0);
    assert_eq!(e.get(b"a").unwrap().unwrap().value, &b"x"[..]);
    assert_eq!(e.get(b"b").unwrap().unwrap().value, &b"y"[..]);
    assert_eq!(e.get(b"c").unwrap().unwrap().version, v(1_000));
    assert!(e.get(b"f").unwrap().is_none());
    let older = vec![(
        Bytes::from_static(b"c"),
        Record {
            version: v(999),
            tombstone: true,
            value: Bytes::new(),
        },
    )];
    assert_eq!(merge(e, &older), 0);
    assert!(!e.get(b"c").unwrap().unwrap().tombstone);
}

#[test]
fn pack_marks_a_lone_oversized_record_omitted() {
    let big = vec![0u8; 100];
    let r = Record::v1(Bytes::from(big));
    let e = pack(std::iter::once(entry_of(b"k", &r)), 50);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].value, EntryValue::Omitted);
    let two = pack([entry_of(b"k", &r), entry_of(b"j", &r)].into_iter(), 300);
    assert_eq!(two.len(), 2);
}

/// Flips one byte of `needle` where it occurs in `dir`'s segment files.
fn flip_in_segments(dir: &std::path::Path, needle: &[u8]) {
    let mut flipped = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        let path = f.unwrap().path();
        if path.extension().is_none_or(|e| e != "seg") {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at + 1] ^= 0x20;
            std::fs::write(&path, bytes).unwrap();
            flipped += 1;
        }
    }
    assert_eq!(flipped, 1, "{needle:?} in one segment");
}

/// A record that failed its check on this replica is replaced by the one
/// anti-entropy receives (whatever the versions), and the tree sees the
/// key as missing until then, so the peer's copy is fetched.
#[test]
fn merge_replaces_a_corrupt_record() {
    use crate::engine::{DurableOptions, EngineError, LogEngine, log::LogOptions};
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions::new(DurableOptions::new(dir.path()));
    let v = |t| Version {
        timestamp: crate::hlc::pack(t, 0),
        writer: 1,
    };
    let put = |e: &LogEngine, key: &'static [u8], value: &'static [u8], t| {
        let record = Record {
            version: v(t),
            tombstone: false,
            value: Bytes::from_static(value),
        };
        assert!(e.put_batch(&[(Bytes::from_static(key), record)])[0].is_ok());
    };
    {
        let e = LogEngine::open(&options).unwrap();
        put(&e, b"k", b"value-of-k", 2_000);
        put(&e, b"z", b"value-of-z", 2_000);
    }
    flip_in_segments(dir.path(), b"value-of-k");
    let e = LogEngine::open(&options).unwrap();
    assert!(matches!(
        e.get(b"k"),
        Err(EngineError::CorruptRecord { .. })
    ));
    let servers = dir.path().join("servers.txt");
    std::fs::write(&servers, "127.0.0.1 7001 1\n").unwrap();
    let args = AntiEntropyArgs {
        servers: Some(servers),
        ..AntiEntropyArgs::default()
    };
    let me = "127.0.0.1:7001".parse().unwrap();
    let grace = Duration::from_secs(86_400);
    let ae = AntiEntropy::new(&args, me, Arc::from([]), 0, grace)
        .unwrap()
        .unwrap();
    ae.rebuild(&e);
    assert!(lock(&ae.tree).get(b"k").is_none(), "corrupt is missing");
    assert!(lock(&ae.tree).get(b"z").is_some());
    let stale = crate::merkle::Digest {
        version: v(2_000),
        tombstone: false,
    };
    lock(&ae.tree).update(b"k", Some(stale));
    ae.refresh(&e, [&b"k"[..]]);
    assert!(lock(&ae.tree).get(b"k").is_none(), "a refresh forgets it");
    // An older version than the one stored: still stored.
    let older = Record {
        version: v(1_000),
        tombstone: false,
        value: Bytes::from_static(b"good"),
    };
    assert_eq!(merge(&e, &[(Bytes::from_static(b"k"), older.clone())]), 1);
    assert_eq!(e.get(b"k").unwrap(), Some(older));
    assert_eq!(e.get(b"z").unwrap().unwrap().value, &b"value-of-z"[..]);
}
