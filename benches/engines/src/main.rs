//! Chooses dkvs's durable engine by measurement (docs/STORAGE.md).
//!
//! For redb, heed (LMDB) and fjall (LSM), on this machine's disk:
//! - durable put throughput with group commit: batches of 1, 16 and 128
//!   puts, each batch one transaction made durable (fsync) before the next;
//! - read latency of single gets on a warm store of `READ_KEYS` keys;
//! - reopen time of a store holding `REOPEN_KEYS` keys, and its disk size.
//!
//! Keys are 16 bytes, values 100 bytes (the dkvs-bench defaults).
//! Run: `cd benches/engines && cargo run --release -- [DIR]` (DIR: where the
//! stores go, default a temporary directory under the current one).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VALUE: [u8; 100] = [b'v'; 100];
const READ_KEYS: u64 = 200_000;
const READS: usize = 100_000;
const REOPEN_KEYS: u64 = 1_000_000;

fn key(i: u64) -> [u8; 16] {
    // A spread-out 16-byte key (not sorted by i, like hashed client keys).
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 7);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&h.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

trait Bench {
    fn name(&self) -> &'static str;
    /// One durable transaction holding `keys`.
    fn put_batch(&mut self, keys: &[[u8; 16]]);
    /// Loads many keys fast (not measured, durability at the end only).
    fn load(&mut self, n: u64) {
        let mut i = 0;
        while i < n {
            let end = (i + 10_000).min(n);
            let keys: Vec<[u8; 16]> = (i..end).map(key).collect();
            self.put_batch(&keys);
            i = end;
        }
    }
    fn get(&self, k: &[u8]) -> Option<usize>;
    fn close(self: Box<Self>);
}

struct Redb {
    db: redb::Database,
    quick_repair: bool,
}
const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");

impl Redb {
    fn open(dir: &Path, quick_repair: bool) -> Redb {
        std::fs::create_dir_all(dir).unwrap();
        let db = redb::Database::create(dir.join("data.redb")).unwrap();
        Redb { db, quick_repair }
    }
}

impl Bench for Redb {
    fn name(&self) -> &'static str {
        if self.quick_repair {
            "redb 3.1, quick repair"
        } else {
            "redb 3.1"
        }
    }
    fn put_batch(&mut self, keys: &[[u8; 16]]) {
        let mut tx = self.db.begin_write().unwrap();
        tx.set_quick_repair(self.quick_repair);
        {
            let mut t = tx.open_table(TABLE).unwrap();
            for k in keys {
                t.insert(&k[..], &VALUE[..]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    fn get(&self, k: &[u8]) -> Option<usize> {
        use redb::ReadableDatabase;
        let tx = self.db.begin_read().unwrap();
        let t = tx.open_table(TABLE).unwrap();
        t.get(k).unwrap().map(|v| v.value().len())
    }
    fn close(self: Box<Self>) {}
}

struct Heed {
    env: heed::Env,
    db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
}

impl Heed {
    fn open(dir: &Path) -> Heed {
        std::fs::create_dir_all(dir).unwrap();
        // SAFETY (benchmark): the directory is ours alone, opened once.
        let env = unsafe {
            heed::EnvOpenOptions::new()
                .map_size(8 << 30)
                .max_dbs(1)
                .open(dir)
                .unwrap()
        };
        let mut wtx = env.write_txn().unwrap();
        let db = env.create_database(&mut wtx, Some("kv")).unwrap();
        wtx.commit().unwrap();
        Heed { env, db }
    }
}

impl Bench for Heed {
    fn name(&self) -> &'static str {
        "heed 0.22 (LMDB)"
    }
    fn put_batch(&mut self, keys: &[[u8; 16]]) {
        let mut tx = self.env.write_txn().unwrap();
        for k in keys {
            self.db.put(&mut tx, &k[..], &VALUE[..]).unwrap();
        }
        tx.commit().unwrap();
    }
    fn get(&self, k: &[u8]) -> Option<usize> {
        let tx = self.env.read_txn().unwrap();
        self.db.get(&tx, k).unwrap().map(|v| v.len())
    }
    fn close(self: Box<Self>) {
        let closing = self.env.prepare_for_closing();
        closing.wait();
    }
}

struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl Fjall {
    fn open(dir: &Path) -> Fjall {
        let db = fjall::Database::builder(dir)
            .manual_journal_persist(true)
            .open()
            .unwrap();
        let ks = db
            .keyspace("kv", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        Fjall { db, ks }
    }
}

impl Bench for Fjall {
    fn name(&self) -> &'static str {
        "fjall 3.1 (LSM)"
    }
    fn put_batch(&mut self, keys: &[[u8; 16]]) {
        let mut b = self.db.batch();
        for k in keys {
            b.insert(&self.ks, &k[..], &VALUE[..]);
        }
        b.commit().unwrap();
        self.db.persist(fjall::PersistMode::SyncData).unwrap();
    }
    fn get(&self, k: &[u8]) -> Option<usize> {
        self.ks.get(k).unwrap().map(|v| v.len())
    }
    fn close(self: Box<Self>) {}
}

fn open(engine: &str, dir: &Path) -> Box<dyn Bench> {
    match engine {
        "redb" => Box::new(Redb::open(dir, false)),
        "redb-qr" => Box::new(Redb::open(dir, true)),
        "heed" => Box::new(Heed::open(dir)),
        _ => Box::new(Fjall::open(dir)),
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            total += if m.is_dir() { dir_size(&e.path()) } else { m.len() };
        }
    }
    total
}

/// Child mode `crash-load ENGINE DIR`: loads REOPEN_KEYS keys and exits
/// without closing the store (as after `kill -9`).
fn crash_load(engine: &str, dir: &Path) {
    let mut e = open(engine, dir);
    e.load(REOPEN_KEYS);
    std::process::exit(0);
}

/// Time to open a store left by a crash (child process) and read a key.
fn crash_reopen(engine: &str, dir: &Path) -> Duration {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash-load", engine])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    let e = open(engine, dir);
    assert_eq!(e.get(&key(REOPEN_KEYS - 1)), Some(100));
    let took = t.elapsed();
    e.close();
    took
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("crash-load") {
        return crash_load(&args[2], Path::new(&args[3]));
    }
    let base: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let tmp = tempfile::tempdir_in(&base).unwrap();
    let only: Option<String> = std::env::args().nth(2);
    println!(
        "| engine | batch | puts/s | commit p50 µs | commit p99 µs |\n|---|---:|---:|---:|---:|"
    );
    let mut reads = Vec::new();
    for engine in ["redb", "redb-qr", "heed", "fjall"] {
        if only.as_deref().is_some_and(|o| o != engine) {
            continue;
        }
        // Durable puts with group commit.
        let dir = tmp.path().join(format!("{engine}-put"));
        let mut e = open(engine, &dir);
        let mut next = 0u64;
        for (batch, commits) in [(1usize, 400usize), (16, 300), (128, 150)] {
            let mut lat = Vec::with_capacity(commits);
            let start = Instant::now();
            for _ in 0..commits {
                let keys: Vec<[u8; 16]> = (next..next + batch as u64).map(key).collect();
                next += batch as u64;
                let t = Instant::now();
                e.put_batch(&keys);
                lat.push(t.elapsed());
            }
            let secs = start.elapsed().as_secs_f64();
            lat.sort();
            println!(
                "| {} | {batch} | {:.0} | {:.0} | {:.0} |",
                e.name(),
                (batch * commits) as f64 / secs,
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
        }
        e.close();
        // Read latency on a warm store.
        let dir = tmp.path().join(format!("{engine}-read"));
        let mut e = open(engine, &dir);
        e.load(READ_KEYS);
        let mut lat = Vec::with_capacity(READS);
        let mut x = 12345u64;
        for _ in 0..READS {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = key(x % READ_KEYS);
            let t = Instant::now();
            let got = e.get(&k);
            lat.push(t.elapsed());
            assert_eq!(got, Some(100));
        }
        lat.sort();
        reads.push((e.name(), pct(&lat, 0.5), pct(&lat, 0.99)));
        e.close();
        // Reopen time with a million keys.
        let dir = tmp.path().join(format!("{engine}-reopen"));
        let mut e = open(engine, &dir);
        let t = Instant::now();
        e.load(REOPEN_KEYS);
        let load = t.elapsed();
        let name = e.name();
        e.close();
        let size = dir_size(&dir);
        let t = Instant::now();
        let e = open(engine, &dir);
        let got = e.get(&key(REOPEN_KEYS - 1));
        let reopen = t.elapsed();
        assert_eq!(got, Some(100));
        e.close();
        let crashed = crash_reopen(engine, &tmp.path().join(format!("{engine}-crash")));
        println!(
            "(reopen) {name}: load 1M in {:.2} s, {} MiB on disk, reopen + first get {:.1} ms, after a crash {:.1} ms",
            load.as_secs_f64(),
            size >> 20,
            reopen.as_secs_f64() * 1e3,
            crashed.as_secs_f64() * 1e3
        );
    }
    println!("\n| engine | get p50 µs | get p99 µs |\n|---|---:|---:|");
    for (name, p50, p99) in reads {
        println!("| {name} | {p50:.1} | {p99:.1} |");
    }
}
