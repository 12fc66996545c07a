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
