//! Criterion micro-benchmarks of the v1 codec (P6 of `docs/BENCHMARKS.md`):
//! encoding get and put requests and parsing a request as the server does.
//!
//! Run: `cargo bench --bench codec` (`-- --quick` for a short run).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dkvs::protocol;

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

criterion_group!(benches, codec);
criterion_main!(benches);
