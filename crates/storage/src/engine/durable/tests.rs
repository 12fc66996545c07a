//! Unit tests of the durable engine: the shared engine suite, reopening,
//! locking, foreign or damaged directories, and the log's failure paths.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::engine::Refused;
use crate::engine::suite::{self, put, value};
use crate::version::Version;

fn fresh(limit: u64) -> (DurableEngine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = DurableOptions::new(dir.path().join("data"));
    o.max_disk = limit;
    (DurableEngine::open(&o).unwrap(), dir)
}

suite::engine_suite!(fresh);

fn open(dir: &Path) -> Result<DurableEngine, EngineError> {
    DurableEngine::open(&DurableOptions::new(dir))
}

#[test]
fn reopen_keeps_records_versions_and_counters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let versioned = Record {
        version: Version {
            timestamp: 77,
            writer: 3,
        },
        tombstone: true,
        value: Bytes::new(),
    };
    let used = {
        let e = open(&dir).unwrap();
        e.put_batch(&[put(b"a", b"1"), put(b"b", b"2")]);
        e.put_batch(&[(Bytes::from_static(b"t"), versioned.clone())]);
        e.stats().used_bytes
    };
    let e = open(&dir).unwrap();
    assert_eq!(e.open_report().keys, 3);
    assert_eq!(e.stats().used_bytes, used);
    assert_eq!(value(&e, b"a").unwrap(), b"1");
    assert_eq!(e.get(b"t").unwrap().unwrap(), versioned);
}

#[test]
fn periodic_commits_reach_disk_on_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = DurableOptions::new(tmp.path());
    o.sync = SyncPolicy::Periodic;
    let e = DurableEngine::open(&o).unwrap();
    e.put_batch(&[put(b"a", b"1")]);
    assert_eq!(e.stats().syncs, 0);
    e.sync().unwrap();
    e.sync().unwrap();
    assert_eq!(e.stats().syncs, 1, "a sync with nothing new does nothing");
    assert_eq!(e.sync_every(), Some(Duration::from_secs(1)));
}

#[test]
fn second_open_is_refused_by_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let _first = open(tmp.path()).unwrap();
    let e = open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("in use by another server"), "{e}");
    assert!(
        e.to_string().contains(&std::process::id().to_string()),
        "{e}"
    );
}

#[test]
fn foreign_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let e = open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("not a dkvs data directory"), "{e}");
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(
        std::fs::read(tmp.path().join("notes.txt")).unwrap(),
        b"mine"
    );
    std::fs::write(tmp.path().join(FORMAT_FILE), "something else").unwrap();
    let e = open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("FORMAT file says"), "{e}");
}

#[test]
fn corrupt_or_missing_database_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let e = open(tmp.path()).unwrap();
        e.put_batch(&[put(b"a", b"1")]);
    }
    let db = tmp.path().join(DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b ^= 0x5A;
    }
    std::fs::write(&db, &bytes).unwrap();
    let e = open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("corrupt"), "{e}");
    std::fs::remove_file(&db).unwrap();
    let e = open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}

#[test]
fn a_failed_replay_leaves_the_log_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let e = open(tmp.path()).unwrap();
        e.put_batch(&[put(b"a", b"1")]);
    }
    // A log entry with a valid CRC but an unknown record format.
    {
        let (mut wal, _, _) = Wal::open(tmp.path()).unwrap();
        wal.append([(&b"b"[..], &b"\x02bad"[..])].into_iter())
            .unwrap();
        wal.sync().unwrap();
    }
    let path = tmp.path().join(super::super::wal::WAL_FILE);
    let before = std::fs::read(&path).unwrap();
    assert!(!before.is_empty());
    for _ in 0..2 {
        let e = open(tmp.path()).unwrap_err();
        assert!(
            e.to_string().contains("corrupt write-ahead log entry"),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "log unchanged");
    }
}

#[test]
fn a_missing_log_is_refused_once_the_directory_held_data() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let e = open(tmp.path()).unwrap();
        e.put_batch(&[put(b"a", b"1")]);
    }
    let path = tmp.path().join(super::super::wal::WAL_FILE);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "clean stop");
    std::fs::remove_file(&path).unwrap();
    let e = open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("dkvs.wal is missing"), "{e}");
    assert!(!path.exists(), "not silently recreated");
}

#[test]
fn a_foreign_directory_is_not_modified() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("CURRENT"), "MANIFEST-000001\n").unwrap();
    std::fs::write(tmp.path().join(LOCK_FILE), "leveldb lock").unwrap();
    let e = open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("not a dkvs data directory"), "{e}");
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["CURRENT", "LOCK"]);
    assert_eq!(
        std::fs::read(tmp.path().join(LOCK_FILE)).unwrap(),
        b"leveldb lock"
    );
}

#[test]
fn missing_parents_are_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a").join("b").join("c");
    let e = open(&dir).unwrap();
    e.put_batch(&[put(b"k", b"v")]);
    assert!(dir.join(FORMAT_FILE).exists() && dir.join(super::super::wal::WAL_FILE).exists());
}

#[test]
fn a_failed_undo_of_the_log_refuses_every_put_until_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let e = open(tmp.path()).unwrap();
    assert!(e.put_batch(&[put(b"a", b"1")])[0].is_ok());
    {
        let mut wal = e.lock_wal().unwrap();
        let before = wal.len();
        wal.fail_truncate = true;
        e.undo_log(&mut wal, before);
    }
    let refused = e.put_batch(&[put(b"b", b"2"), put(b"c", b"3")]);
    assert!(
        refused.iter().all(|r| matches!(r, Err(Refused::Io(_)))),
        "{refused:?}"
    );
    assert_eq!(value(&e, b"a").unwrap(), b"1", "reads still work");
    assert!(e.get(b"b").unwrap().is_none());
    drop(e);
    // A restart replays the log and serves again.
    let e = open(tmp.path()).unwrap();
    assert_eq!(value(&e, b"a").unwrap(), b"1");
    assert!(e.put_batch(&[put(b"b", b"2")])[0].is_ok());
}
