//! Properties of the v1 codec (protocol v1, docs/PROTOCOL-V1.md) with many random cases: request and
//! reply decoding never panics and round-trips, and a dump reply splits into
//! datagrams of at most 65507 bytes that read back to the same pairs, never
//! cutting one; the server's request handling agrees with a model map. The
//! fuzz targets' own invariant checks (fuzz/src/lib.rs) run here too, on
//! proptest's inputs.

use crate::fuzz_checks;

use dkvs::protocol::{
    Dump, EncodeError, MAX_DATAGRAM, MAX_KEY_LEN, MAX_VALUE_LEN, Request, dump_header, encode_dump,
    encode_get, encode_put, parse_request,
};
use proptest::prelude::*;

/// Bytes a server can store in a key or value: anything but NUL; and, for
/// a readable dump line, no newline.
fn dump_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => b' '..=b'~',
        1 => any::<u8>().prop_map(|b| if b == 0 || b == b'\n' { b'x' } else { b }),
        1 => Just(b'-'),
        1 => Just(b'>'),
    ]
}

/// Mostly short, sometimes near the limits, so that dumps split.
fn dump_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::collection::vec(dump_byte(), 0..24),
        1 => (dump_byte(), max - 64..=max).prop_map(|(b, n)| vec![b; n]),
        1 => (dump_byte(), 0..=max).prop_map(|(b, n)| vec![b; n]),
    ]
}

/// A key as a dump can carry it unambiguously: not empty, without the
/// ` --> ` separator and not ending in ` -->` (such a key is read back split
/// at the first ` --> ` of its line — an ambiguity of the v1 format,
/// docs/FUZZING.md).
fn dump_key() -> impl Strategy<Value = Vec<u8>> {
    dump_bytes(MAX_KEY_LEN).prop_filter("non-empty key that reads back whole", |k| {
        !k.is_empty() && fuzz_checks::dump_key_readable(k)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any datagram: decoding returns, and the fuzz target's invariants hold.
    #[test]
    fn any_datagram_decodes(d in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_checks::request(&d);
        fuzz_checks::dump_reply(&d);
    }

    /// Datagrams made of the protocol's own punctuation.
    #[test]
    fn punctuation_datagrams_decode(
        d in proptest::collection::vec(prop_oneof![Just(0u8), Just(b'\n'), Just(b' '), Just(b'-'), Just(b'>'), Just(b'k')], 0..64),
    ) {
        fuzz_checks::request(&d);
        fuzz_checks::dump_reply(&d);
    }

    /// A valid get or put encodes and parses back to itself.
    #[test]
    fn get_and_put_round_trip(
        key in proptest::collection::vec(1u8..=255, 1..300),
        value in proptest::collection::vec(1u8..=255, 0..300),
    ) {
        let put = encode_put(&key, &value).unwrap();
        prop_assert_eq!(parse_request(&put), Ok(Request::Put { key: &key, value: &value }));
        let get = encode_get(&key).unwrap();
        prop_assert_eq!(parse_request(&get), Ok(Request::Get { key: &key }));
    }

    /// The encoders refuse exactly what the server would refuse.
    #[test]
    fn encoders_refuse_what_cannot_be_sent(
        key in proptest::collection::vec(any::<u8>(), 0..40),
        value in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        match encode_put(&key, &value) {
            Ok(d) => prop_assert!(parse_request(&d).is_ok()),
            Err(EncodeError::EmptyKey) => prop_assert!(key.is_empty()),
            Err(EncodeError::Nul) => prop_assert!(key.contains(&0) || value.contains(&0)),
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any pairs: every datagram at most 65507 bytes and made of whole lines,
    /// the header first, and the same pairs read back (a value shortened only
    /// when its line cannot fit any datagram).
    #[test]
    fn dump_round_trip(pairs in proptest::collection::vec((dump_key(), dump_bytes(MAX_VALUE_LEN)), 0..12)) {
        let borrowed: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let datagrams = encode_dump(pairs.len(), borrowed.iter().copied());
        prop_assert!(datagrams[0].starts_with(dump_header(pairs.len()).as_bytes()));
        let mut all = Dump::default();
        let mut lines = 0;
        for d in &datagrams {
            prop_assert!(d.len() <= MAX_DATAGRAM, "{} bytes", d.len());
            prop_assert!(d.ends_with(b"\n"), "a datagram ends inside a line");
            // Each datagram alone parses to whole pairs: no pair is split.
            let mut alone = Dump::default();
            alone.add_datagram(d);
            prop_assert_eq!(alone.malformed, 0);
            lines += alone.pairs.len();
            all.add_datagram(d);
        }
        prop_assert_eq!(lines, pairs.len());
        prop_assert!(all.is_complete());
        for ((k, v), (rk, rv)) in pairs.iter().zip(&all.pairs) {
            prop_assert_eq!(k, rk);
            if k.len() + v.len() + 6 <= MAX_DATAGRAM {
                prop_assert_eq!(v, rv);
            } else {
                prop_assert!(v.starts_with(rv));
                prop_assert_eq!(k.len() + 5 + rv.len() + 1, MAX_DATAGRAM);
            }
        }
    }

    /// The v1 ambiguity, pinned down: a key with ` --> ` in it or ending in
    /// ` -->` reads back split at the first separator of its line; any
    /// other key reads back whole.
    #[test]
    fn dump_key_ambiguity(
        key in proptest::collection::vec(prop_oneof![Just(b' '), Just(b'-'), Just(b'>'), Just(b'k')], 1..12),
        value in proptest::collection::vec(dump_byte(), 0..8),
    ) {
        let datagrams = encode_dump(1, [(&key[..], &value[..])]);
        let mut dump = Dump::default();
        dump.add_datagram(&datagrams[0]);
        let readable = fuzz_checks::dump_key_readable(&key);
        prop_assert_eq!(dump.pairs[0] == (key.clone(), value.clone()), readable);
        if !readable {
            let mut line = key.clone();
            line.extend_from_slice(b" --> ");
            line.extend_from_slice(&value);
            prop_assert_eq!([&dump.pairs[0].0[..], b" --> ", &dump.pairs[0].1[..]].concat(), line);
        }
    }

    /// Datagrams are filled greedily: two neighbours could not have been one.
    #[test]
    fn dump_datagrams_are_full(pairs in proptest::collection::vec((dump_key(), dump_bytes(MAX_VALUE_LEN)), 0..12)) {
        let borrowed: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let datagrams = encode_dump(pairs.len(), borrowed);
        for pair in datagrams.windows(2) {
            let first_line = pair[1].iter().position(|&b| b == b'\n').unwrap() + 1;
            prop_assert!(pair[0].len() + first_line > MAX_DATAGRAM);
        }
    }

    /// The server fuzz target (requests against a small store, checked
    /// against a model map), on proptest's bytes: mostly puts and gets of a
    /// few short keys, so that replacements and refusals happen.
    #[test]
    fn server_target(
        limit in any::<u8>(),
        requests in proptest::collection::vec(
            prop_oneof![
                3 => (0u8..4, proptest::collection::vec(1u8..=255, 0..120))
                    .prop_map(|(k, v)| [&[b'k', b'0' + k, 0][..], &v].concat()),
                2 => (0u8..4).prop_map(|k| vec![b'k', b'0' + k]),
                1 => Just(Vec::new()),
                1 => proptest::collection::vec(any::<u8>(), 0..40),
            ],
            0..24,
        ),
    ) {
        let mut input = vec![limit];
        for r in &requests {
            input.push(r.len().min(255) as u8);
            input.extend(r.iter().take(255));
        }
        fuzz_checks::server(&input);
    }

    /// The dump fuzz target's pair generator, on proptest's bytes.
    #[test]
    fn dump_encode_target(d in proptest::collection::vec(any::<u8>(), 0..40)) {
        fuzz_checks::dump_encode(&d);
    }
}
