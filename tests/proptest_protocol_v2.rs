//! Properties of the v2 codec (`protocol_v2`, docs/PROTOCOL.md) and of the
//! clock that versions its writes (`hlc`), with many random cases: every
//! message round-trips byte for byte, signed or not; arbitrary bytes never
//! panic the decoder or the verifier; v1 and v2 datagrams are never taken for
//! one another; a dump read page by page lists every record once; clock
//! readings only grow. The `protocol_v2` fuzz target's own invariants
//! (fuzz/src/lib.rs) run here too, on proptest's inputs.

use crate::fuzz_checks;

use std::sync::Arc;

use dkvs::hlc::{Clock, Hlc, ManualClock, pack};
use dkvs::protocol::{self, MAX_DATAGRAM, MAX_KEY_LEN, MAX_VALUE_LEN, PutError};
use dkvs::protocol_v2::{
    self, AuthKey, DecodeError, Dialect, Entry, EntryValue, MAGIC, Message, Page, Reason, VERSION,
    decode, dialect, encode, encode_page, verify,
};
use dkvs::version::Version;
use proptest::prelude::*;

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        1 => Just(Version::ZERO),
        4 => (any::<u64>(), any::<u64>()).prop_map(|(timestamp, writer)| Version { timestamp, writer }),
    ]
}

/// Mostly short, any bytes (NUL and newline included), sometimes at the limit.
fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), min..24),
        1 => (any::<u8>(), max - 16..=max).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    bytes(1, MAX_KEY_LEN)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    bytes(0, MAX_VALUE_LEN)
}

/// An owned message, to borrow a [`Message`] from.
#[derive(Debug, Clone)]
enum Owned {
    Hello,
    Get(Vec<u8>),
    Put(Vec<u8>, Vec<u8>, Version),
    Delete(Vec<u8>, Version),
    Dump(Vec<u8>, u16),
    Stats,
    HelloReply(u8, u32, u64),
    Value(Vec<u8>, Version),
    NotFound(Option<Version>),
    Stored,
    Older(Version),
    Refused(u8),
    Page(u64, bool, Vec<(Vec<u8>, u8, Vec<u8>, Version)>),
    StatsReply(Vec<(Vec<u8>, Vec<u8>)>),
}

impl Owned {
    fn message(&self) -> Message<'_> {
        match self {
            Owned::Hello => Message::Hello,
            Owned::Get(k) => Message::Get { key: k },
            Owned::Put(k, v, version) => Message::Put {
                key: k,
                value: v,
                version: *version,
            },
            Owned::Delete(k, version) => Message::Delete {
                key: k,
                version: *version,
            },
            Owned::Dump(c, limit) => Message::Dump {
                cursor: c,
                limit: *limit,
            },
            Owned::Stats => Message::Stats,
            Owned::HelloReply(max_version, features, time_ms) => Message::HelloReply {
                max_version: *max_version,
                features: *features,
                time_ms: *time_ms,
            },
            Owned::Value(v, version) => Message::Value {
                value: v,
                version: *version,
            },
            Owned::NotFound(tombstone) => Message::NotFound {
                tombstone: *tombstone,
            },
            Owned::Stored => Message::Stored,
            Owned::Older(current) => Message::Older { current: *current },
            Owned::Refused(code) => Message::Refused {
                reason: Reason::from_code(*code),
            },
            Owned::Page(total, more, entries) => Message::Page(Page {
                total: *total,
                more: *more && !entries.is_empty(),
                entries: entries
                    .iter()
                    .map(|(k, kind, v, version)| Entry {
                        key: k,
                        value: match kind % 3 {
                            0 => EntryValue::Live(v),
                            1 => EntryValue::Tombstone,
                            _ => EntryValue::Omitted,
                        },
                        version: *version,
                    })
                    .collect(),
            }),
            Owned::StatsReply(pairs) => Message::StatsReply {
                pairs: pairs.iter().map(|(n, v)| (&n[..], &v[..])).collect(),
            },
        }
    }
}

/// Short entries: a page of them always fits a datagram.
fn entries() -> impl Strategy<Value = Vec<(Vec<u8>, u8, Vec<u8>, Version)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 1..16),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..16),
            version(),
        ),
        0..12,
    )
}

fn owned() -> impl Strategy<Value = Owned> {
    let short = || proptest::collection::vec(any::<u8>(), 0..16);
    prop_oneof![
        Just(Owned::Hello),
        key().prop_map(Owned::Get),
        (key(), value(), version()).prop_map(|(k, v, version)| Owned::Put(k, v, version)),
        (key(), version()).prop_map(|(k, v)| Owned::Delete(k, v)),
        (bytes(0, MAX_KEY_LEN), any::<u16>()).prop_map(|(c, l)| Owned::Dump(c, l)),
        Just(Owned::Stats),
        (any::<u8>(), any::<u32>(), any::<u64>()).prop_map(|(a, b, c)| Owned::HelloReply(a, b, c)),
        (value(), version()).prop_map(|(v, version)| Owned::Value(v, version)),
        proptest::option::of(version()).prop_map(Owned::NotFound),
        Just(Owned::Stored),
        version().prop_map(Owned::Older),
        any::<u8>().prop_map(Owned::Refused),
        (any::<u64>(), any::<bool>(), entries()).prop_map(|(t, m, e)| Owned::Page(t, m, e)),
        proptest::collection::vec((short(), short()), 0..8).prop_map(Owned::StatsReply),
    ]
}

/// A record read back from a page: key, `Some(Some(value))` live,
/// `Some(None)` tombstone, `None` value omitted, and version.
type Seen = (Vec<u8>, Option<Option<Vec<u8>>>, Version);

fn test_key(id: u8) -> AuthKey {
    AuthKey::new(id, b"proptest secret of 32 bytes.....").unwrap()
}

/// The datagrams of a v1 client: gets, puts and the dump request.
fn v1_request() -> impl Strategy<Value = Vec<u8>> {
    let no_nul = |min| proptest::collection::vec(1u8..=255, min..40);
    prop_oneof![
        Just(Vec::new()),
        no_nul(1).prop_map(|k| protocol::encode_get(&k).unwrap()),
        (no_nul(1), no_nul(0)).prop_map(|(k, v)| protocol::encode_put(&k, &v).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Every message, with any request id, signed or not, decodes to itself,
    /// re-encodes to the same bytes, and is an invalid (empty-key) put to v1.
    #[test]
    fn every_message_round_trips(
        m in owned(),
        id in any::<u64>(),
        signed in proptest::option::of((any::<u8>(), any::<u64>())),
    ) {
        let message = m.message();
        let key = signed.map(|(kid, _)| test_key(kid));
        let auth = key.as_ref().zip(signed.map(|(_, t)| t));
        let d = match encode(id, &message, auth) {
            Ok(d) => d,
            // Only a put of a key and value both near their limits is too large.
            Err(protocol_v2::EncodeError::TooLarge) => {
                prop_assert!(matches!(m, Owned::Put(ref k, ref v, _) if k.len() + v.len() > MAX_DATAGRAM - 100));
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        };
        prop_assert!(d.len() <= MAX_DATAGRAM);
        prop_assert_eq!(dialect(&d), Dialect::V2);
        prop_assert_eq!(protocol::parse_request(&d), Err(PutError::EmptyKey));
        let frame = decode(&d).unwrap();
        prop_assert_eq!(frame.id, id);
        prop_assert_eq!(&frame.message, &message);
        prop_assert_eq!(frame.message.is_request(), message.opcode() < 0x80);
        prop_assert_eq!(frame.encode().unwrap(), d.clone());
        match (&key, signed) {
            (Some(k), Some((kid, t))) => {
                let trailer = verify(&d, std::slice::from_ref(k), t, 0).unwrap();
                prop_assert_eq!((trailer.timestamp_ms, trailer.key_id), (t, kid));
                prop_assert_eq!(frame.auth, Some(trailer));
            }
            _ => {
                prop_assert_eq!(frame.auth, None);
                prop_assert!(verify(&d, &[test_key(0)], 0, u64::MAX).is_err());
            }
        }
        fuzz_checks::protocol_v2(&d);
    }

    /// Any bytes, and any bytes after a v2 header: nothing panics, and the
    /// fuzz target's invariants hold.
    #[test]
    fn arbitrary_bytes_never_panic(
        d in proptest::collection::vec(any::<u8>(), 0..600),
        op in any::<u8>(),
        flags in 0u8..=1,
    ) {
        fuzz_checks::protocol_v2(&d);
        let mut framed = MAGIC.to_vec();
        framed.extend_from_slice(&[VERSION, op, 0, 0, 0, 0, 0, 0, 0, 1, flags]);
        framed.extend_from_slice(&d);
        fuzz_checks::protocol_v2(&framed);
        let _ = verify(&framed, &[test_key(0)], 0, u64::MAX);
    }

    /// A valid datagram cut short, lengthened, or with one byte changed:
    /// never panics; cut short or lengthened, never decodes.
    #[test]
    fn damaged_datagrams_are_handled(m in owned(), at in any::<usize>(), x in 1u8..=255) {
        let Ok(d) = encode(1, &m.message(), None) else { return Ok(()); };
        let at = at % d.len();
        prop_assert!(decode(&d[..at]).is_err());
        let mut longer = d.clone();
        longer.push(x);
        prop_assert!(decode(&longer).is_err());
        let mut changed = d.clone();
        changed[at] ^= x;
        fuzz_checks::protocol_v2(&changed);
        fuzz_checks::protocol_v2(&d[..at]);
    }

    /// No v1 request is ever taken for v2, and every valid v1 request of
    /// arbitrary bytes is v1.
    #[test]
    fn no_v1_request_is_v2(d in v1_request(), any_bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert!(protocol::parse_request(&d).is_ok());
        prop_assert_eq!(dialect(&d), Dialect::V1);
        prop_assert_eq!(decode(&d), Err(DecodeError::NotV2));
        if protocol::parse_request(&any_bytes).is_ok() {
            prop_assert_eq!(dialect(&any_bytes), Dialect::V1);
        }
    }

    /// A server's records read page by page (each DUMP resuming after the
    /// previous page's last key) come back each exactly once, in key order,
    /// values whole unless too large for any page.
    #[test]
    fn paging_lists_every_record_once(
        records in proptest::collection::btree_map(key(), (value(), any::<bool>(), version()), 0..40),
        limit in prop_oneof![Just(0u16), 1u16..5],
        signed in any::<bool>(),
    ) {
        let k = test_key(3);
        let auth = signed.then_some((&k, 0));
        let all: Vec<Entry> = records
            .iter()
            .map(|(key, (v, tomb, version))| Entry {
                key,
                value: if *tomb { EntryValue::Tombstone } else { EntryValue::Live(v) },
                version: *version,
            })
            .collect();
        let mut cursor: Vec<u8> = Vec::new();
        let mut seen: Vec<Seen> = Vec::new();
        for _ in 0..=all.len() {
            let rest = all.iter().copied().filter(|e| e.key > &cursor[..]);
            let d = encode_page(9, all.len() as u64, limit, rest, auth).unwrap();
            prop_assert!(d.len() <= MAX_DATAGRAM);
            let Ok(Message::Page(page)) = decode(&d).map(|f| f.message) else {
                return Err(TestCaseError::fail("not a page"));
            };
            prop_assert_eq!(page.total, all.len() as u64);
            prop_assert!(limit == 0 || page.entries.len() <= usize::from(limit));
            // A page with more to come has an entry to resume after.
            prop_assert!(!page.more || !page.entries.is_empty());
            for e in &page.entries {
                let value = match e.value {
                    EntryValue::Live(v) => Some(Some(v.to_vec())),
                    EntryValue::Tombstone => Some(None),
                    EntryValue::Omitted => None,
                };
                seen.push((e.key.to_vec(), value, e.version));
            }
            match page.next_cursor() {
                Some(c) => cursor = c.to_vec(),
                None => break,
            }
        }
        prop_assert_eq!(seen.len(), all.len());
        for ((key, value, version), want) in seen.iter().zip(&all) {
            prop_assert_eq!(&key[..], want.key);
            prop_assert_eq!(*version, want.version);
            match (value, want.value) {
                (None, EntryValue::Live(v)) => {
                    prop_assert!(key.len() + v.len() > MAX_DATAGRAM - 200);
                }
                (Some(Some(got)), EntryValue::Live(v)) => prop_assert_eq!(&got[..], v),
                (Some(None), EntryValue::Tombstone) => {}
                (got, w) => return Err(TestCaseError::fail(format!("{got:?} for {w:?}"))),
            }
        }
    }

    /// Whatever the wall clock does (jumps back, stands still) and whatever
    /// is observed, every reading is greater than all before it and than
    /// every adopted remote timestamp.
    #[test]
    fn clock_readings_only_grow(
        steps in proptest::collection::vec((0u8..3, any::<u32>()), 1..200),
        start in 1_600_000_000_000u64..1_800_000_000_000,
    ) {
        let clock = Arc::new(ManualClock::new(start));
        let hlc = Hlc::new(1, Arc::clone(&clock));
        let mut last = 0;
        for (kind, n) in steps {
            match kind {
                0 => clock.set(start.saturating_add_signed(i64::from(n as i32))),
                1 => {
                    let remote = pack(start + u64::from(n % 120_000), (n >> 17) as u16);
                    if hlc.observe(remote).is_ok() {
                        last = last.max(remote);
                    }
                }
                _ => {
                    let v = hlc.version();
                    prop_assert!(v.timestamp > last);
                    prop_assert!(v.timestamp >= pack(clock.now_ms(), 0));
                    prop_assert_eq!(v.writer, 1);
                    last = v.timestamp;
                }
            }
        }
    }
}

/// The vectors of docs/PROTOCOL.md are also seeds of the fuzz corpus; the
/// unit test `every_documented_vector_is_what_the_codec_writes_and_reads`
/// checks them against the codec. Here: a reply opcode is not a request.
#[test]
fn replies_are_not_requests() {
    for m in [
        Message::Stored,
        Message::Refused {
            reason: Reason::Malformed,
        },
    ] {
        let d = encode(1, &m, None).unwrap();
        assert!(!decode(&d).unwrap().message.is_request());
    }
    assert!(Message::Hello.is_request());
}
