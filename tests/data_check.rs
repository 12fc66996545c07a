//! `dkvs-server --check DIR` on real data directories: a clean log
//! directory, one with flipped bytes in its segments, a redb directory,
//! foreign directories, and the options it cannot be combined with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dkvs::engine::log::{LogEngine, LogOptions};
use dkvs::engine::{DurableEngine, DurableOptions, Engine, Record};

use crate::common::{Output, RUN_LIMIT, SERVER, clean_command, code, run};

/// `dkvs-server --check dir`.
fn check(dir: &Path) -> Output {
    let mut cmd = clean_command(SERVER, dir.parent().unwrap_or(dir));
    cmd.arg("--check").arg(dir);
    run(&mut cmd, RUN_LIMIT)
}

/// `n` pairs `key-<i>` → a 100-byte value that does not compress away
/// (`K`: the engine's key type, inferred, so no dependency on `bytes`).
fn pairs<K: From<Vec<u8>>>(n: usize) -> Vec<(K, Record)> {
    (0..n)
        .map(|i| {
            let value: Vec<u8> = (0..100u32)
                .map(|j| (j.wrapping_mul(2_654_435_761).wrapping_add(i as u32 * 7) >> 13) as u8)
                .collect();
            (
                format!("key-{i}").into_bytes().into(),
                Record::v1(value.into()),
            )
        })
        .collect()
}

/// A log data directory holding `n` pairs, written in batches of 50 and
/// closed cleanly.
/// Opens a log engine in this process. A test elsewhere in the process
/// that spawns a child at the moment an earlier engine on `options.dir` is
/// dropped lends the child the `LOCK` file until it execs, so "in use" is
/// retried for a bounded time.
fn open_engine(options: &LogOptions) -> LogEngine {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match LogEngine::open(options) {
            Ok(engine) => return engine,
            Err(e) if e.to_string().contains("in use") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn log_dir(parent: &Path, n: usize) -> PathBuf {
    let dir = parent.join("log");
    let mut options = LogOptions::new(DurableOptions::new(&dir));
    options.background = false;
    let engine = open_engine(&options);
    for batch in pairs(n).chunks(50) {
        assert!(engine.put_batch(batch).iter().all(Result::is_ok));
    }
    drop(engine);
    dir
}

/// Every file of `dir` and its bytes.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The segment files of a log directory.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs
}

#[test]
fn a_clean_log_directory_checks_clean_and_is_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = log_dir(tmp.path(), 300);
    let before = contents(&dir);
    let out = check(&dir);
    assert_eq!(out.code, Some(0), "{out}");
    out.assert_no_panic();
    assert!(
        out.stdout.contains("300 records, 0 bad in 0 files"),
        "{out}"
    );
    assert_eq!(contents(&dir), before, "--check wrote nothing");
}

#[test]
fn flipped_bytes_are_each_reported_with_file_offset_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = log_dir(tmp.path(), 300);
    let segs = segments(&dir);
    assert!(!segs.is_empty(), "the log engine writes .seg files");
    let seg = &segs[0];
    let mut bytes = std::fs::read(seg).unwrap();
    // Three bytes in the values of three entries far apart (each entry is
    // about 130 bytes), none in the last entry.
    let len = bytes.len();
    for at in [len / 5, len / 2, len * 4 / 5] {
        bytes[at] ^= 0x5a;
    }
    std::fs::write(seg, &bytes).unwrap();
    let before = contents(&dir);
    let out = check(&dir);
    assert_eq!(out.code, Some(1), "damage found: exit 1\n{out}");
    out.assert_no_panic();
    let name = seg.file_name().unwrap().to_str().unwrap();
    let reports: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with(name)).collect();
    assert!(
        (1..=3).contains(&reports.len()),
        "one line per damaged record or range\n{out}"
    );
    assert!(reports.iter().all(|l| l.contains("offset ")), "{out}");
    let summary = out.stdout.lines().last().unwrap();
    assert!(
        summary.contains(&format!("{} bad in 1 files", reports.len())),
        "{out}"
    );
    assert_eq!(contents(&dir), before, "--check repaired nothing");
}

#[test]
fn a_redb_directory_gets_redbs_own_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("redb");
    {
        let engine = DurableEngine::open(&DurableOptions::new(&dir)).unwrap();
        assert!(engine.put_batch(&pairs(40)).iter().all(Result::is_ok));
    }
    let before = contents(&dir);
    let out = check(&dir);
    assert_eq!(out.code, Some(0), "{out}");
    out.assert_no_panic();
    assert!(out.stdout.contains("40 records, 0 bad"), "{out}");
    assert!(out.stdout.contains("engine redb"), "{out}");
    assert_eq!(contents(&dir), before, "the check ran on a copy");
}

#[test]
fn foreign_or_missing_directories_are_configuration_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.tex"), "precious").unwrap();
    std::fs::write(foreign.join("LOCK"), "leveldb").unwrap();
    let before = contents(&foreign);
    let out = check(&foreign);
    out.assert_error(code::CONFIG);
    assert!(out.stderr.contains("not a dkvs data directory"), "{out}");
    assert_eq!(contents(&foreign), before, "nothing added or changed");
    // Another program's FORMAT file.
    std::fs::write(foreign.join("FORMAT"), "leveldb 1\n").unwrap();
    check(&foreign).assert_error(code::CONFIG);
    check(&tmp.path().join("missing")).assert_error(code::CONFIG);
    assert!(!tmp.path().join("missing").exists(), "not created");
}

#[test]
fn a_directory_in_use_is_checked_read_only_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = log_dir(tmp.path(), 60);
    let mut options = LogOptions::new(DurableOptions::new(&dir));
    options.background = false;
    let engine = open_engine(&options);
    let out = check(&dir);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("note: a server is using"), "{out}");
    drop(engine);
}

#[test]
fn check_cannot_be_combined_with_serving_options() {
    let tmp = tempfile::tempdir().unwrap();
    for extra in [
        &["127.0.0.1", "4000"][..],
        &["--data-dir", "x"],
        &["--servers", "cluster.toml"],
        &["--metrics", "127.0.0.1:9100"],
    ] {
        let mut cmd = clean_command(SERVER, tmp.path());
        cmd.arg("--check").arg(tmp.path()).args(extra);
        let out = run(&mut cmd, RUN_LIMIT);
        assert_eq!(out.code, Some(i32::from(code::USAGE)), "{extra:?}\n{out}");
        assert!(out.stderr.contains("cannot be used with"), "{out}");
    }
}

#[test]
fn a_torn_end_of_the_newest_segment_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = log_dir(tmp.path(), 100);
    let seg = segments(&dir).pop().unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &bytes[..bytes.len() - 7]).unwrap();
    let out = check(&dir);
    assert_eq!(out.code, Some(1), "{out}");
    out.assert_no_panic();
    assert!(out.stdout.contains("torn"), "{out}");
    assert!(out.stdout.contains("99 records, 1 bad in 1 files"), "{out}");
}

#[test]
fn a_redb_directorys_write_ahead_log_is_read_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("redb");
    let engine = DurableEngine::open(&DurableOptions::new(&dir)).unwrap();
    assert!(engine.put_batch(&pairs(40)).iter().all(Result::is_ok));
    // As after kill -9: no checkpoint, the puts are in dkvs.wal only (the
    // leaked engine also keeps LOCK, as a running server would).
    std::mem::forget(engine);
    let out = check(&dir);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("note: a server is using"), "{out}");
    assert!(
        out.stdout
            .contains("dkvs.wal: 40 entries since the last checkpoint, 0 bad"),
        "{out}"
    );
    let wal = dir.join("dkvs.wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&wal, &bytes).unwrap();
    let out = check(&dir);
    assert_eq!(out.code, Some(1), "{out}");
    out.assert_no_panic();
    assert!(out.stdout.contains("dkvs.wal: offset "), "{out}");
}
