//! The fuzz targets (docs/FUZZING.md) inside `cargo test`, without AFL: every
//! committed seed (`fuzz/corpus/<target>/`) and every saved crash
//! (`fuzz/regressions/<target>/`) goes through the target's own body, with
//! its invariants. A crash found by the fuzzer becomes a regression test by
//! copying the crashing file into `fuzz/regressions/<target>/`; the named
//! tests below document each one found so far.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::path::Path;

use fuzz_checks::TARGETS;

/// Runs every file under `dir/<target>/` through its target; returns how
/// many were run.
fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut count = 0;
    for (name, body) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let run = std::panic::catch_unwind(|| body(&data));
            assert!(run.is_ok(), "{name}: {} panicked", file.display());
            count += 1;
        }
    }
    count
}

#[test]
fn seed_corpus_passes_every_target() {
    let n = replay("fuzz/corpus");
    assert!(n >= TARGETS.len(), "only {n} seeds found");
}

#[test]
fn saved_crashes_no_longer_crash() {
    replay("fuzz/regressions");
}

#[test]
fn every_target_has_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, _) in TARGETS {
        let seeds = std::fs::read_dir(root.join(name))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(seeds > 0, "fuzz/corpus/{name} is empty");
    }
}
