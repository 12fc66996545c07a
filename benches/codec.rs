//! Criterion micro-benchmarks of the v1 codec (P6 of `docs/BENCHMARKS.md`):
//! encoding get and put requests and parsing a request as the server does;
//! and the same for the v2 codec (`protocol_v2`), unsigned and signed with
//! HMAC-SHA256, plus a full dump page.
//!
//! Run: `cargo bench --bench codec` (`-- --quick` for a short run).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dkvs::protocol;
use dkvs::protocol_v2::{self, AuthKey, Entry, EntryValue, Message};
use dkvs::version::Version;

fn codec(c: &mut Criterion) {
    let key = dkvs::bench::key_name(42);
    let value = dkvs::bench::value_of(100);
    let put = protocol::encode_put(&key, &value).unwrap_or_default();
    c.bench_function("encode_get_16", |b| {
        b.iter(|| protocol::encode_get(black_box(&key)))
    });
    c.bench_function("encode_put_16_100", |b| {
        b.iter(|| protocol::encode_put(black_box(&key), black_box(&value)))
    });
    c.bench_function("parse_get_16", |b| {
        b.iter(|| protocol::parse_request(black_box(&key)).is_ok())
    });
    c.bench_function("parse_put_16_100", |b| {
        b.iter(|| protocol::parse_request(black_box(&put)).is_ok())
    });
}

fn codec_v2(c: &mut Criterion) {
    let key = dkvs::bench::key_name(42);
    let value = dkvs::bench::value_of(100);
    let version = Version {
        timestamp: dkvs::hlc::pack(1_700_000_000_000, 0),
        writer: 7,
    };
    let put = Message::Put {
        key: &key,
        value: &value,
        version,
    };
    let auth_key = AuthKey::new(1, &[7; 32]).unwrap_or_else(|e| panic!("{e}"));
    let auth = Some((&auth_key, 1_700_000_000_000));
    let plain = protocol_v2::encode(1, &put, None).unwrap_or_default();
    let signed = protocol_v2::encode(1, &put, auth).unwrap_or_default();
    let keys = [auth_key.clone()];
    c.bench_function("v2_encode_put_16_100", |b| {
        b.iter(|| protocol_v2::encode(black_box(1), black_box(&put), None))
    });
    c.bench_function("v2_decode_put_16_100", |b| {
        b.iter(|| protocol_v2::decode(black_box(&plain)).is_ok())
    });
    c.bench_function("v2_sign_put_16_100", |b| {
        b.iter(|| protocol_v2::encode(black_box(1), black_box(&put), auth))
    });
    c.bench_function("v2_verify_put_16_100", |b| {
        b.iter(|| protocol_v2::verify(black_box(&signed), &keys, 1_700_000_000_000, 30_000).is_ok())
    });
    let names: Vec<[u8; 16]> = (0..4000).map(dkvs::bench::key_name).collect();
    let entries: Vec<Entry> = names
        .iter()
        .map(|k| Entry {
            key: k,
            value: EntryValue::Live(&value),
            version,
        })
        .collect();
    c.bench_function("v2_encode_page_16_100_full", |b| {
        b.iter(|| protocol_v2::encode_page(1, 4000, 0, black_box(&entries).iter().copied(), None))
    });
}

criterion_group!(benches, codec, codec_v2);
criterion_main!(benches);
