//! Criterion micro-benchmarks of the ring (P6 of `docs/BENCHMARKS.md`):
//! building it from a configuration and looking up the N=3 replicas of a
//! key, as the ring grows from 3 to 100 000 nodes.
//!
//! Run: `cargo bench --bench ring` (`-- --quick` for a short run).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dkvs::config::ServerSpec;
use dkvs::ring::Ring;

/// Ring sizes (nodes) and how they are made: up to 1000 servers with
/// `nodes / servers` nodes each.
const SIZES: [(u32, u32); 5] = [(3, 1), (30, 10), (300, 10), (1000, 10), (1000, 100)];

fn servers(count: u32, nodes: u32) -> Vec<ServerSpec> {
    (0..count)
        .map(|i| {
            let ip = Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 1) as u8);
            ServerSpec::new(ip, 7000 + (i % 1000) as u16, nodes)
        })
        .collect()
}

fn ring(c: &mut Criterion) {
    let mut build = c.benchmark_group("ring_build");
    build.sample_size(10);
    for (count, nodes) in SIZES {
        let specs = servers(count, nodes);
        build.bench_with_input(
            BenchmarkId::from_parameter(count * nodes),
            &specs,
            |b, s| b.iter(|| Ring::from_servers(black_box(s))),
        );
    }
    build.finish();
    let mut lookup = c.benchmark_group("ring_lookup");
    for (count, nodes) in SIZES {
        let ring = Ring::from_servers(&servers(count, nodes));
        let mut i = 0u64;
        lookup.bench_function(BenchmarkId::from_parameter(count * nodes), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = dkvs::bench::key_name(i % 10_000);
                ring.replicas(black_box(&key), 3)
            })
        });
    }
    lookup.finish();
}

criterion_group!(benches, ring);
criterion_main!(benches);
