//! Properties of the anti-entropy messages of protocol v2
//! (`protocol_v2::ae`, docs/PROTOCOL.md "Anti-entropy messages"): every
//! message round-trips byte for byte, signed or not, and any bytes after
//! an anti-entropy header decode or fail without panicking, never as a v1
//! request.

use dkvs::protocol_v2::ae::{AeMessage, KeyVersion, opcode};
use dkvs::protocol_v2::{AuthKey, Entry, EntryValue, Message, decode, encode};
use dkvs::version::Version;
use proptest::prelude::*;

fn version() -> impl Strategy<Value = Version> {
    (any::<u64>(), any::<u64>()).prop_map(|(timestamp, writer)| Version { timestamp, writer })
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..24)
}

/// An owned anti-entropy message, to borrow one from.
#[derive(Debug, Clone)]
enum Owned {
    Roots(u64, Vec<(u32, [u8; 16])>),
    Buckets(u64, u32, Vec<[u8; 16]>),
    Keys(u64, u32, u16, Vec<u8>),
    Push(Vec<(Vec<u8>, u8, Vec<u8>, Version)>),
    Fetch(Vec<Vec<u8>>),
    Differ(Vec<u32>),
    KeyList(bool, Vec<(Vec<u8>, Version, bool)>),
    Pushed(u16),
    Records(Vec<(Vec<u8>, u8, Vec<u8>, Version)>),
}

fn entries(list: &[(Vec<u8>, u8, Vec<u8>, Version)]) -> Vec<Entry<'_>> {
    list.iter()
        .map(|(k, kind, v, version)| Entry {
            key: k,
            value: match kind % 3 {
                0 => EntryValue::Live(v),
                1 => EntryValue::Tombstone,
                _ => EntryValue::Omitted,
            },
            version: *version,
        })
        .collect()
}

impl Owned {
    fn message(&self) -> Message<'_> {
        Message::AntiEntropy(match self {
            Owned::Roots(ring, roots) => AeMessage::Roots {
                ring: *ring,
                roots: roots.clone(),
            },
            Owned::Buckets(ring, segment, hashes) => AeMessage::Buckets {
                ring: *ring,
                segment: *segment,
                hashes: hashes.clone(),
            },
            Owned::Keys(ring, segment, bucket, cursor) => AeMessage::Keys {
                ring: *ring,
                segment: *segment,
                bucket: *bucket,
                cursor,
            },
            Owned::Push(list) => AeMessage::Push {
                records: entries(list),
            },
            Owned::Fetch(keys) => AeMessage::Fetch {
                keys: keys.iter().map(|k| &k[..]).collect(),
            },
            Owned::Differ(indexes) => AeMessage::Differ {
                indexes: indexes.clone(),
            },
            Owned::KeyList(more, keys) => AeMessage::KeyList {
                more: *more && !keys.is_empty(),
                keys: keys
                    .iter()
                    .map(|(k, version, tombstone)| KeyVersion {
                        key: k,
                        version: *version,
                        tombstone: *tombstone,
                    })
                    .collect(),
            },
            Owned::Pushed(n) => AeMessage::Pushed { accepted: *n },
            Owned::Records(list) => AeMessage::Records {
                records: entries(list),
            },
        })
    }
}

fn records() -> impl Strategy<Value = Vec<(Vec<u8>, u8, Vec<u8>, Version)>> {
    proptest::collection::vec(
        (
            key(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..16),
            version(),
        ),
        0..12,
    )
}

fn owned() -> impl Strategy<Value = Owned> {
    let hash = || any::<[u8; 16]>();
    prop_oneof![
        (
            any::<u64>(),
            proptest::collection::vec((any::<u32>(), hash()), 0..20)
        )
            .prop_map(|(r, v)| Owned::Roots(r, v)),
        (
            any::<u64>(),
            any::<u32>(),
            proptest::collection::vec(hash(), 0..300)
        )
            .prop_map(|(r, s, h)| Owned::Buckets(r, s, h)),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(r, s, b, c)| Owned::Keys(r, s, b, c)),
        records().prop_map(Owned::Push),
        proptest::collection::vec(key(), 0..20).prop_map(Owned::Fetch),
        proptest::collection::vec(any::<u32>(), 0..50).prop_map(Owned::Differ),
        (
            any::<bool>(),
            proptest::collection::vec((key(), version(), any::<bool>()), 0..20)
        )
            .prop_map(|(m, k)| Owned::KeyList(m, k)),
        any::<u16>().prop_map(Owned::Pushed),
        records().prop_map(Owned::Records),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_message_round_trips(owned in owned(), id in any::<u64>(), signed in any::<bool>()) {
        let key = AuthKey::new(3, b"0123456789abcdef0123456789abcdef").unwrap();
        let message = owned.message();
        let datagram = encode(id, &message, signed.then_some((&key, 1_700_000_000_000))).unwrap();
        let frame = decode(&datagram).unwrap();
        prop_assert_eq!(frame.id, id);
        prop_assert_eq!(&frame.message, &message);
        prop_assert_eq!(frame.auth.is_some(), signed);
        prop_assert_eq!(frame.encode().unwrap(), datagram.clone());
        prop_assert_eq!(frame.message.is_request(), message.opcode() < 0x80);
        prop_assert!(dkvs::protocol::parse_request(&datagram).is_err());
    }

    #[test]
    fn any_body_after_an_anti_entropy_header_never_panics(
        op in prop::sample::select(vec![
            opcode::AE_ROOTS, opcode::AE_BUCKETS, opcode::AE_KEYS, opcode::AE_PUSH,
            opcode::AE_FETCH, opcode::AE_DIFFER, opcode::AE_KEY_LIST, opcode::AE_PUSHED,
            opcode::AE_RECORDS,
        ]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut d = vec![0, b'D', b'K', b'V', 2, op, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        d.extend_from_slice(&body);
        if let Ok(frame) = decode(&d) {
            prop_assert_eq!(frame.message.opcode(), op);
            prop_assert_eq!(frame.encode().unwrap(), d);
        }
    }
}
