//! Unit tests of protocol v2, including every test vector of
//! `docs/PROTOCOL.md` (read from the document itself).

use super::*;
use crate::protocol::MAX_DATAGRAM;
use crate::version::Version;

/// A hybrid-clock timestamp (milliseconds, then a 16-bit counter), as
/// the cluster layer's `hlc::pack` builds it.
fn pack(ms: u64, logical: u16) -> u64 {
    (ms << 16) | u64::from(logical)
}

/// The secret of the signed test vectors: 32 ASCII bytes.
pub(crate) const VECTOR_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
/// The signing time of the signed test vectors.
pub(crate) const VECTOR_TIME_MS: u64 = 1_700_000_000_000;

fn v1() -> Version {
    Version {
        timestamp: pack(1_700_000_000_000, 1),
        writer: 7,
    }
}

fn v2() -> Version {
    Version {
        timestamp: pack(1_700_000_000_005, 0),
        writer: 9,
    }
}

/// Every vector of docs/PROTOCOL.md: name, request id, message, signed.
fn vectors() -> Vec<(&'static str, u64, Message<'static>, bool)> {
    let mut all = vec![
        ("hello", 1, Message::Hello, false),
        ("get", 2, Message::Get { key: b"k" }, false),
        (
            "put",
            3,
            Message::Put {
                key: b"k",
                value: b"v",
                version: v1(),
            },
            false,
        ),
        (
            "delete",
            4,
            Message::Delete {
                key: b"k",
                version: v2(),
            },
            false,
        ),
        (
            "dump-first",
            5,
            Message::Dump {
                cursor: b"",
                limit: 0,
            },
            false,
        ),
        (
            "dump-next",
            6,
            Message::Dump {
                cursor: b"b",
                limit: 100,
            },
            false,
        ),
        ("stats", 7, Message::Stats, false),
        (
            "hello-reply",
            1,
            Message::HelloReply {
                max_version: 2,
                features: feature::AUTH_REQUIRED | feature::DUMP,
                time_ms: VECTOR_TIME_MS,
            },
            false,
        ),
        (
            "value",
            2,
            Message::Value {
                value: b"v",
                version: v1(),
            },
            false,
        ),
        ("not-found", 2, Message::NotFound { tombstone: None }, false),
        (
            "not-found-tombstone",
            2,
            Message::NotFound {
                tombstone: Some(v2()),
            },
            false,
        ),
        ("stored", 3, Message::Stored, false),
        ("older", 3, Message::Older { current: v2() }, false),
        (
            "refused",
            3,
            Message::Refused {
                reason: Reason::OutOfMemory,
            },
            false,
        ),
        (
            "refused-disk",
            3,
            Message::Refused {
                reason: Reason::DiskFull,
            },
            false,
        ),
        (
            "refused-corrupt",
            2,
            Message::Refused {
                reason: Reason::Corrupt,
            },
            false,
        ),
        (
            "refused-clock",
            3,
            Message::Refused {
                reason: Reason::ClockAhead {
                    server_ms: 1_700_000_000_000,
                    max_offset_ms: 500,
                },
            },
            false,
        ),
        (
            "page",
            5,
            Message::Page(Page {
                total: 4,
                more: true,
                entries: vec![
                    Entry {
                        key: b"a",
                        value: EntryValue::Live(b"1"),
                        version: v1(),
                    },
                    Entry {
                        key: b"b",
                        value: EntryValue::Tombstone,
                        version: v2(),
                    },
                ],
            }),
            false,
        ),
        (
            "page-last",
            6,
            Message::Page(Page {
                total: 4,
                more: false,
                entries: vec![Entry {
                    key: b"c",
                    value: EntryValue::Omitted,
                    version: Version::ZERO,
                }],
            }),
            false,
        ),
        (
            "stats-reply",
            7,
            Message::StatsReply {
                pairs: vec![(b"keys", b"3")],
            },
            false,
        ),
        (
            "stats-reply-signed",
            7,
            Message::StatsReply {
                pairs: vec![(b"gets", b"12"), (b"engine", b"memory")],
            },
            true,
        ),
        (
            "put-binary",
            8,
            Message::Put {
                key: b"a\0\n",
                value: b"",
                version: v1(),
            },
            false,
        ),
        ("get-signed", 9, Message::Get { key: b"k" }, true),
    ];
    all.extend(ae_vectors());
    all.extend(hint_vectors());
    all
}

/// The hinted handoff vectors (docs/PROTOCOL.md, "Hinted handoff"),
/// last.
fn hint_vectors() -> Vec<(&'static str, u64, Message<'static>, bool)> {
    let owner = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(127, 0, 0, 1), 1235);
    vec![
        (
            "hint",
            15,
            Message::Hint {
                owner,
                key: b"k",
                value: Some(b"v"),
                version: v1(),
            },
            false,
        ),
        (
            "hint-delete",
            16,
            Message::Hint {
                owner,
                key: b"k",
                value: None,
                version: v2(),
            },
            false,
        ),
    ]
}

/// The anti-entropy vectors (docs/PROTOCOL.md, "Anti-entropy
/// messages"), after the others.
fn ae_vectors() -> Vec<(&'static str, u64, Message<'static>, bool)> {
    use ae::{AeMessage as A, KeyVersion};
    const RING: u64 = 0x0102_0304_0506_0708;
    let ae = |m: A<'static>| Message::AntiEntropy(m);
    let live = Entry {
        key: b"a",
        value: EntryValue::Live(b"1"),
        version: v1(),
    };
    let gone = Entry {
        key: b"b",
        value: EntryValue::Tombstone,
        version: v2(),
    };
    vec![
        (
            "ae-roots",
            10,
            ae(A::Roots {
                ring: RING,
                roots: vec![(1, [0xaa; 16])],
            }),
            false,
        ),
        ("ae-differ", 10, ae(A::Differ { indexes: vec![1] }), false),
        (
            "ae-buckets",
            11,
            ae(A::Buckets {
                ring: RING,
                segment: 1,
                hashes: vec![[0; 16], [0x11; 16]],
            }),
            false,
        ),
        (
            "ae-keys",
            12,
            ae(A::Keys {
                ring: RING,
                segment: 1,
                bucket: 1,
                cursor: b"",
            }),
            false,
        ),
        (
            "ae-key-list",
            12,
            ae(A::KeyList {
                more: false,
                keys: vec![
                    KeyVersion {
                        key: b"a",
                        version: v1(),
                        tombstone: false,
                    },
                    KeyVersion {
                        key: b"b",
                        version: v2(),
                        tombstone: true,
                    },
                ],
            }),
            false,
        ),
        (
            "ae-push",
            13,
            ae(A::Push {
                records: vec![live, gone],
            }),
            true,
        ),
        ("ae-pushed", 13, ae(A::Pushed { accepted: 2 }), false),
        (
            "ae-fetch",
            14,
            ae(A::Fetch {
                keys: vec![b"a", b"b"],
            }),
            false,
        ),
        (
            "ae-records",
            14,
            ae(A::Records {
                records: vec![live],
            }),
            false,
        ),
    ]
}

fn vector_key() -> AuthKey {
    AuthKey::new(1, VECTOR_SECRET).unwrap()
}

fn encode_vector(id: u64, message: &Message, signed: bool) -> Vec<u8> {
    let key = vector_key();
    encode(id, message, signed.then_some((&key, VECTOR_TIME_MS))).unwrap()
}

/// The ```` ```hex <name> ```` blocks of docs/PROTOCOL.md, comments
/// (`# …`) stripped.
fn doc_vectors() -> Vec<(String, Vec<u8>)> {
    let doc = include_str!("../../../../docs/PROTOCOL.md");
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in doc.lines() {
        if let Some(name) = line.strip_prefix("```hex ") {
            current = Some((name.trim().to_string(), Vec::new()));
        } else if line.starts_with("```") {
            out.extend(current.take());
        } else if let Some((_, bytes)) = current.as_mut() {
            let data = line.split('#').next().unwrap();
            for token in data.split_whitespace() {
                bytes.push(u8::from_str_radix(token, 16).unwrap());
            }
        }
    }
    out
}

#[test]
fn every_documented_vector_is_what_the_codec_writes_and_reads() {
    let doc = doc_vectors();
    let ours = vectors();
    let names: Vec<&str> = doc.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = ours.iter().map(|(n, ..)| *n).collect();
    assert_eq!(
        names, expected,
        "docs/PROTOCOL.md vectors and the table differ"
    );
    for ((name, bytes), (_, id, message, signed)) in doc.iter().zip(&ours) {
        let encoded = encode_vector(*id, message, *signed);
        assert_eq!(
            &encoded, bytes,
            "vector {name}: encoding differs from the doc"
        );
        let frame = decode(bytes).unwrap();
        assert_eq!(frame.id, *id, "{name}");
        assert_eq!(&frame.message, message, "{name}");
        assert_eq!(frame.auth.is_some(), *signed, "{name}");
        assert_eq!(frame.encode().unwrap(), *bytes, "{name}");
        assert!(crate::protocol::parse_request(bytes).is_err(), "{name}");
    }
}

/// `cargo test --lib print_vectors -- --ignored --nocapture` prints the
/// vectors as unannotated hex, to help write a new one into the doc.
#[test]
#[ignore]
fn print_vectors() {
    for (name, id, message, signed) in vectors() {
        let hex: Vec<String> = encode_vector(id, &message, signed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("{name}: {}", hex.join(" "));
    }
}

#[test]
fn dialects() {
    assert_eq!(dialect(b""), Dialect::V1);
    assert_eq!(dialect(b"k"), Dialect::V1);
    assert_eq!(dialect(b"k\0v"), Dialect::V1);
    assert_eq!(dialect(b"\0DK"), Dialect::V1);
    assert_eq!(dialect(b"\0DKV"), Dialect::V2);
    assert_eq!(decode(b"\0DKV"), Err(DecodeError::Truncated));
    assert_eq!(decode(b"k"), Err(DecodeError::NotV2));
}

#[test]
fn header_errors() {
    let good = encode(1, &Message::Get { key: b"k" }, None).unwrap();
    let mut d = good.clone();
    d[4] = 3;
    assert_eq!(decode(&d), Err(DecodeError::UnsupportedVersion(3)));
    let mut d = good.clone();
    d[5] = 0x7f;
    assert_eq!(decode(&d), Err(DecodeError::UnknownOpcode(0x7f)));
    let mut d = good.clone();
    d[14] = 0x02;
    assert_eq!(decode(&d), Err(DecodeError::UnknownFlags(0x02)));
    let mut d = good.clone();
    d.push(0);
    assert_eq!(decode(&d), Err(DecodeError::TrailingBytes));
    for cut in 0..good.len() {
        assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Flagged as signed but too short for a trailer.
    let mut d = good.clone();
    d[14] = FLAG_AUTH;
    assert_eq!(decode(&d), Err(DecodeError::Truncated));
}

#[test]
fn field_errors() {
    let enc = |m: &Message| encode(1, m, None);
    assert_eq!(enc(&Message::Get { key: b"" }), Err(EncodeError::EmptyKey));
    let long = vec![b'k'; MAX_KEY_LEN + 1];
    assert_eq!(
        enc(&Message::Get { key: &long }),
        Err(EncodeError::KeyTooLong)
    );
    assert_eq!(
        enc(&Message::Dump {
            cursor: &long,
            limit: 0
        }),
        Err(EncodeError::KeyTooLong)
    );
    assert_eq!(
        enc(&Message::Value {
            value: &long,
            version: Version::ZERO
        }),
        Err(EncodeError::ValueTooLong)
    );
    assert_eq!(
        enc(&Message::Page(Page {
            total: 0,
            more: true,
            entries: vec![]
        })),
        Err(EncodeError::EmptyPageWithMore)
    );
    // Empty key on the wire.
    let mut d = enc(&Message::Get { key: b"k" }).unwrap();
    d.truncate(HEADER_LEN);
    d.extend_from_slice(&[0, 0]);
    assert_eq!(decode(&d), Err(DecodeError::EmptyKey));
    // Key and value over the limit on the wire.
    let mut d = d[..HEADER_LEN].to_vec();
    d.extend_from_slice(&u16::try_from(MAX_KEY_LEN + 1).unwrap().to_be_bytes());
    d.extend_from_slice(&long);
    assert_eq!(decode(&d), Err(DecodeError::KeyTooLong));
    // A boolean other than 0 or 1.
    let mut d = enc(&Message::NotFound { tombstone: None }).unwrap();
    d[HEADER_LEN] = 2;
    assert_eq!(decode(&d), Err(DecodeError::Invalid("tombstone flag")));
}

#[test]
fn a_put_at_both_limits_is_too_large_for_one_datagram() {
    let key = vec![b'k'; MAX_KEY_LEN];
    let value = vec![b'v'; MAX_VALUE_LEN];
    let put = |value| Message::Put {
        key: &key[..],
        value,
        version: Version::ZERO,
    };
    assert_eq!(encode(1, &put(&value), None), Err(EncodeError::TooLarge));
    // The largest value that fits with a largest key, unsigned and signed.
    let fits = MAX_DATAGRAM - HEADER_LEN - 2 - MAX_KEY_LEN - 2 - Version::ENCODED_LEN;
    assert_eq!(
        encode(1, &put(&value[..fits]), None).unwrap().len(),
        MAX_DATAGRAM
    );
    let k = vector_key();
    assert_eq!(
        encode(1, &put(&value[..fits]), Some((&k, 0))),
        Err(EncodeError::TooLarge)
    );
    let d = encode(1, &put(&value[..fits - TRAILER_LEN]), Some((&k, 0))).unwrap();
    assert_eq!(d.len(), MAX_DATAGRAM);
    assert!(verify(&d, &[k], 0, 0).is_ok());
}

#[test]
fn a_huge_count_does_not_allocate_for_it() {
    let mut d = encode(
        1,
        &Message::Page(Page {
            total: 0,
            more: false,
            entries: vec![],
        }),
        None,
    )
    .unwrap();
    let n = d.len();
    d[n - 2] = 0xff;
    d[n - 1] = 0xff;
    assert_eq!(decode(&d), Err(DecodeError::Truncated));
    let mut d = encode(1, &Message::StatsReply { pairs: vec![] }, None).unwrap();
    let n = d.len();
    d[n - 2..].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(decode(&d), Err(DecodeError::Truncated));
}

#[test]
fn reasons_round_trip() {
    for code in 0..=u8::MAX {
        assert_eq!(Reason::from_code(code).code(), code);
    }
    assert_eq!(Reason::from_code(5), Reason::Unauthenticated);
    assert_eq!(Reason::from_code(11), Reason::DiskFull);
    assert_eq!(Reason::DiskFull.to_string(), "disk full");
    assert_eq!(Reason::from_code(12), Reason::Corrupt);
    assert_eq!(Reason::Corrupt.code(), 12);
    assert_eq!(Reason::Corrupt.to_string(), "corrupt");
    assert_eq!(Reason::from_code(13), Reason::Other(13));
    assert_eq!(Reason::from_code(200), Reason::Other(200));
}

#[test]
fn requests_and_replies() {
    for (name, _, message, _) in vectors() {
        let request = !name.contains("reply")
            && ["hello", "get", "put", "delete", "dump", "stats", "hint"]
                .iter()
                .any(|p| name.starts_with(p))
            || ["ae-roots", "ae-buckets", "ae-keys", "ae-push", "ae-fetch"].contains(&name);
        assert_eq!(message.is_request(), request, "{name}");
    }
}

#[test]
fn signing_and_verifying() {
    let k1 = vector_key();
    let k2 = AuthKey::new(2, b"another secret of enough bytes!!").unwrap();
    let msg = Message::Put {
        key: b"k",
        value: b"v",
        version: v1(),
    };
    let d = encode(5, &msg, Some((&k1, 10_000))).unwrap();
    let frame = decode(&d).unwrap();
    assert_eq!(frame.message, msg);
    let trailer = frame.auth.unwrap();
    assert_eq!((trailer.timestamp_ms, trailer.key_id), (10_000, 1));
    // Either key of a rotation set verifies by id.
    let keys = [k2.clone(), k1.clone()];
    assert_eq!(verify(&d, &keys, 10_000, 0), Ok(trailer));
    assert_eq!(verify(&d, &keys, 12_000, 2_000), Ok(trailer));
    assert_eq!(verify(&d, &keys, 8_000, 2_000), Ok(trailer));
    // Replayed too late, or from too far in the future.
    assert!(matches!(
        verify(&d, &keys, 12_001, 2_000),
        Err(AuthError::OutsideWindow { .. })
    ));
    assert!(matches!(
        verify(&d, &keys, 7_999, 2_000),
        Err(AuthError::OutsideWindow { .. })
    ));
    // Unknown key id; a different secret under the same id.
    assert_eq!(verify(&d, &[k2], 10_000, 0), Err(AuthError::UnknownKey(1)));
    let impostor = AuthKey::new(1, b"a different secret, same key id!").unwrap();
    assert_eq!(verify(&d, &[impostor], 10_000, 0), Err(AuthError::BadMac));
    // Every single-bit flip anywhere is rejected.
    for i in 0..d.len() {
        for bit in 0..8 {
            let mut f = d.clone();
            f[i] ^= 1 << bit;
            assert!(
                verify(&f, &keys, 10_000, 1_000_000).is_err(),
                "byte {i} bit {bit}"
            );
        }
    }
    // Truncated, or stripped of its trailer.
    for cut in 0..d.len() {
        assert!(verify(&d[..cut], &keys, 10_000, 0).is_err());
    }
    let unsigned = encode(5, &msg, None).unwrap();
    assert_eq!(
        verify(&unsigned, &keys, 10_000, 0),
        Err(AuthError::Unsigned)
    );
    assert_eq!(verify(b"k\0v", &keys, 0, 0), Err(AuthError::Unsigned));
    assert_eq!(
        AuthKey::new(1, b"short").unwrap_err(),
        AuthError::ShortSecret
    );
    assert!(!format!("{k1:?}").contains("0123"));
}

#[test]
fn key_files() {
    let secret = "30313233343536373839616263646566".repeat(2);
    let text = format!("# keys\n\n2 {secret}\n  1   {}  \n", &secret[..32]);
    let keys = parse_key_file(&text).unwrap();
    assert_eq!(keys.iter().map(AuthKey::id).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(keys[0].secret, VECTOR_SECRET);
    let err = |t: &str| parse_key_file(t).unwrap_err().to_string();
    assert_eq!(err(""), "no key");
    assert_eq!(err("# only\n"), "no key");
    assert_eq!(err("1\n"), "line 1: expected `<id> <secret in hex>`");
    assert_eq!(
        err(&format!("1 {secret} x")),
        "line 1: expected `<id> <secret in hex>`"
    );
    assert_eq!(
        err(&format!("256 {secret}")),
        "line 1: the id must be 0 to 255"
    );
    assert_eq!(
        err(&format!("1 {secret}\n1 {secret}")),
        "line 2: key id 1 appears twice"
    );
    assert_eq!(err("1 3g"), "line 1: the secret must be hexadecimal digits");
    assert_eq!(
        err("1 abc"),
        "line 1: the secret must be hexadecimal digits"
    );
    assert_eq!(err("1 é1"), "line 1: the secret must be hexadecimal digits");
    assert_eq!(
        err("1 00112233"),
        "line 1: the secret must be at least 16 bytes"
    );
    assert!(!err(&format!("x {secret}")).contains(&secret));
}

#[test]
fn which_replies_answer_which_requests() {
    use opcode::*;
    let stored = Message::Stored;
    assert!(stored.answers(PUT) && stored.answers(DELETE) && !stored.answers(GET));
    let refused = Message::Refused {
        reason: Reason::Malformed,
    };
    for r in [HELLO, GET, PUT, DELETE, DUMP, STATS] {
        assert!(refused.answers(r));
    }
    assert!(!refused.answers(VALUE));
    assert!(Message::NotFound { tombstone: None }.answers(GET));
    assert!(!Message::Hello.answers(HELLO));
    assert!(Message::Page(Page::default()).answers(DUMP));
    assert!(!Message::Page(Page::default()).answers(GET));
}

#[test]
fn window_is_symmetric_and_overflow_free() {
    assert!(check_window(100, 100, 0).is_ok());
    assert!(check_window(0, u64::MAX, u64::MAX).is_ok());
    assert!(check_window(u64::MAX, 0, u64::MAX - 1).is_err());
    assert!(check_window(90, 100, 10).is_ok() && check_window(110, 100, 10).is_ok());
}

fn live<'a>(key: &'a [u8], value: &'a [u8]) -> Entry<'a> {
    Entry {
        key,
        value: EntryValue::Live(value),
        version: v1(),
    }
}

fn page_of(d: &[u8]) -> Page<'_> {
    match decode(d).unwrap().message {
        Message::Page(p) => p,
        other => panic!("not a page: {other:?}"),
    }
}

#[test]
fn pages_fill_a_datagram_and_resume_after_their_last_key() {
    let keys: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'k', i]).collect();
    let value = vec![b'v'; 20_000];
    let entries: Vec<Entry> = keys.iter().map(|k| live(k, &value)).collect();
    let mut cursor: &[u8] = b"";
    let mut seen = Vec::new();
    for _ in 0..20 {
        let rest = entries.iter().copied().filter(|e| e.key > cursor);
        let d = encode_page(1, 10, 0, rest, None).unwrap();
        assert!(d.len() <= MAX_DATAGRAM);
        let page = page_of(&d);
        assert_eq!(page.total, 10);
        assert!(page.entries.len() <= 3);
        seen.extend(page.entries.iter().map(|e| e.key.to_vec()));
        match page.next_cursor() {
            Some(c) => cursor = &keys[keys.iter().position(|k| k == c).unwrap()],
            None => break,
        }
    }
    assert_eq!(seen, keys);
}

#[test]
fn page_limit_and_empty_store() {
    let entries = [live(b"a", b"1"), live(b"b", b"2"), live(b"c", b"3")];
    let d = encode_page(1, 3, 2, entries, None).unwrap();
    let p = page_of(&d);
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.next_cursor(), Some(&b"b"[..]));
    let d = encode_page(1, 0, 0, [], None).unwrap();
    assert_eq!(page_of(&d), Page::default());
}

#[test]
fn a_record_too_large_for_a_page_goes_alone_without_its_value() {
    let key = vec![b'k'; MAX_KEY_LEN];
    let value = vec![b'v'; MAX_VALUE_LEN];
    let k = vector_key();
    for auth in [None, Some((&k, 0))] {
        let entries = [live(&key, &value), live(b"y", &value), live(b"z", b"1")];
        let d = encode_page(1, 3, 0, entries, auth).unwrap();
        let p = page_of(&d);
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].value, EntryValue::Omitted);
        assert_eq!(p.entries[0].key, &key[..]);
        assert!(p.more);
        // Next page: the other records, whole.
        let d = encode_page(1, 3, 0, entries[1..].iter().copied(), auth).unwrap();
        assert_eq!(page_of(&d).entries, entries[1..].to_vec());
        // An omitted record leaves room for small ones after it.
        let d = encode_page(1, 3, 0, [entries[0], entries[2]], auth).unwrap();
        assert_eq!(page_of(&d).entries.len(), 2);
    }
    // Keys that can never be stored are skipped, not sent.
    let long = vec![b'k'; MAX_KEY_LEN + 1];
    let d = encode_page(1, 2, 0, [live(b"", b"1"), live(&long, b"1")], None).unwrap();
    assert_eq!(
        page_of(&d),
        Page {
            total: 2,
            ..Page::default()
        }
    );
}
