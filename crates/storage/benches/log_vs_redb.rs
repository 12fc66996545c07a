//! Puts per second of the log engine against the redb engine under
//! `--sync always`, through the committer (group commit), with 1 and 32
//! puts in flight, same disk, same run (issue 18). 16-byte keys, 100-byte
//! values as `benches/compare_durable.py`. Also bytes on disk per key and
//! the reopen time for the keys written.
//!
//! `cargo bench -p dkvs-storage --bench log_vs_redb` (env: `BENCH_DIR`, a
//! directory on the disk to measure, default `target/bench-engines`;
//! `BENCH_SECS`, seconds per run, default 3; `BENCH_ROUNDS`, default 3;
//! `BENCH_KEYS`, keys of the disk and reopen part, default 1,000,000;
//! `BENCH_ONLY`, `log` or `redb` to run one engine).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dkvs_storage::engine::log::{LogEngine, LogOptions};
use dkvs_storage::engine::{Committer, DurableEngine, DurableOptions, Engine, Record, Refused};

type Token = mpsc::SyncSender<Result<(), Refused>>;

fn run(engine: Arc<dyn Engine>, in_flight: usize, secs: f64) -> (f64, u64) {
    let committer: Arc<Committer<Token>> = Arc::new(
        Committer::<Token>::start(
            Arc::clone(&engine),
            None,
            |delivery: dkvs_storage::engine::committer::Delivery<Token>| {
                for (token, result) in delivery {
                    let _ = token.send(result);
                }
            },
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let value = Bytes::from(vec![b'v'; 100]);
    let threads: Vec<_> = (0..in_flight)
        .map(|t| {
            let (c, stop, done, value) = (
                Arc::clone(&committer),
                Arc::clone(&stop),
                Arc::clone(&done),
                value.clone(),
            );
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::sync_channel(1);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = Bytes::from(format!("k{t:03}:{i:011}"));
                    c.submit(key, Record::v1(value.clone()), tx.clone())
                        .unwrap();
                    rx.recv().unwrap().unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let took = started.elapsed().as_secs_f64();
    for t in threads {
        t.join().unwrap();
    }
    (n as f64 / took, engine.stats().syncs)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn open(kind: &str, dir: &Path) -> Arc<dyn Engine> {
    let o = DurableOptions::new(dir);
    if kind == "log" {
        Arc::new(LogEngine::open(&LogOptions::new(o)).unwrap())
    } else {
        Arc::new(DurableEngine::open(&o).unwrap())
    }
}

fn main() {
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "target/bench-engines".into());
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let base = Path::new(&base);
    let _ = std::fs::remove_dir_all(base);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // Alternating runs (A/B, then B/A): this machine's noise is larger
    // than many differences; the median of each is printed.
    let mut rates: std::collections::BTreeMap<(usize, &str), Vec<f64>> = Default::default();
    for round in 0..rounds {
        for in_flight in [1, 32] {
            let mut kinds = ["redb", "log"];
            if round % 2 == 1 {
                kinds.reverse();
            }
            let only = std::env::var("BENCH_ONLY").unwrap_or_default();
            for kind in kinds.into_iter().filter(|k| only.is_empty() || *k == only) {
                let dir = base.join(format!("{kind}-{in_flight}-{round}"));
                let engine = open(kind, &dir);
                let (rate, syncs) = run(Arc::clone(&engine), in_flight, secs);
                let keys = engine.stats().keys;
                println!(
                    "round {round}  {kind:4}  {in_flight:2} in flight  {rate:7.0} puts/s  {:5.1} puts/sync",
                    keys as f64 / syncs.max(1) as f64
                );
                rates.entry((in_flight, kind)).or_default().push(rate);
                drop(engine);
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    for ((in_flight, kind), mut r) in rates {
        r.sort_by(f64::total_cmp);
        println!(
            "median  {kind:4}  {in_flight:2} in flight  {:7.0} puts/s",
            r[r.len() / 2]
        );
    }
    bulk(base);
    let _ = std::fs::remove_dir_all(base);
}

/// Disk per key and reopen time after 1M distinct keys (bulk batches).
fn bulk(base: &Path) {
    let keys: u64 = std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for kind in ["redb", "log"]
        .into_iter()
        .filter(|k| only.is_empty() || *k == only)
    {
        let dir = base.join(format!("{kind}-bulk"));
        let engine = open(kind, &dir);
        let value = Bytes::from(vec![b'v'; 100]);
        for chunk in 0..keys / 1000 {
            let batch: Vec<_> = (chunk * 1000..chunk * 1000 + 1000)
                .map(|i| {
                    (
                        Bytes::from(format!("key:{i:012}")),
                        Record::v1(value.clone()),
                    )
                })
                .collect();
            assert!(engine.put_batch(&batch).iter().all(Result::is_ok));
        }
        drop(engine);
        let bytes = dir_bytes(&dir);
        let started = Instant::now();
        let engine = open(kind, &dir);
        let took = started.elapsed();
        assert_eq!(engine.stats().keys, keys);
        println!(
            "{kind:6}  {keys} keys: {:.1} bytes/key on disk ({:.1} MiB), reopen {:.0} ms",
            bytes as f64 / keys as f64,
            bytes as f64 / (1 << 20) as f64,
            took.as_secs_f64() * 1000.0
        );
        drop(engine);
        if kind == "log" {
            // After a compaction every segment but the (empty) active one
            // has a hint: the restart reads no value.
            let o = LogOptions::new(DurableOptions::new(&dir));
            let engine = LogEngine::open(&o).unwrap();
            engine.merge_now(true).unwrap();
            drop(engine);
            let started = Instant::now();
            let engine = LogEngine::open(&o).unwrap();
            let took = started.elapsed();
            println!(
                "log     reopen from hints {:.0} ms ({:?}); {:.1} bytes/key with hints",
                took.as_secs_f64() * 1000.0,
                engine.open_report(),
                dir_bytes(&dir) as f64 / keys as f64
            );
        }
    }
}
