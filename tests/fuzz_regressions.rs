//! The fuzz targets (docs/FUZZING.md) inside `cargo test`, without AFL: every
//! committed seed (`fuzz/corpus/<target>/`) and every saved crash
//! (`fuzz/regressions/<target>/`) goes through the target's own body, with
//! its invariants. A crash found by the fuzzer becomes a regression test by
//! copying the crashing file into `fuzz/regressions/<target>/`; the named
//! tests below document each one found so far.

use crate::fuzz_checks;

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

/// Found by measuring what the config targets could be fed (inputs up to
/// AFL's 1 MB): duplicate servers were searched pairwise, so a 50,000-line
/// `servers.txt` took 0.8 s and a 50,000-server `cluster.toml` 2 s (release
/// build). Now linear; the duplicate is still reported with its first
/// position.
#[test]
fn huge_server_lists_parse_and_report_duplicates() {
    let n = 50_000;
    let addr = |i: usize| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
    let mut txt: String = (0..n).map(|i| format!("{} 1 1\n", addr(i))).collect();
    let config = dkvs::config::parse_servers_txt(&txt, "servers.txt").unwrap();
    assert_eq!(config.servers.len(), n);
    txt.push_str(&format!("{} 1 1\n", addr(1234)));
    let e = dkvs::config::parse_servers_txt(&txt, "servers.txt").unwrap_err();
    assert_eq!(e.line, Some(n + 1));
    assert!(e.message.contains("first as server 1235"), "{e}");

    let toml: String = (0..n / 5)
        .chain([7])
        .map(|i| format!("[[server]]\nip = \"{}\"\nport = 1\n", addr(i)))
        .collect();
    let e = dkvs::config::parse_cluster_toml(&toml, "cluster.toml").unwrap_err();
    assert_eq!(e.line, Some(3 * (n / 5) + 3));
    assert!(e.message.contains("first as server 8"), "{e}");
}

/// Deeply nested TOML (an easy stack overflow for a recursive parser) is
/// refused with one error line, not a crash.
#[test]
fn deeply_nested_toml_is_refused() {
    let depth = 100_000;
    for text in [
        format!("x = {}{}\n", "[".repeat(depth), "]".repeat(depth)),
        format!("x = {}1{}\n", "{a=".repeat(depth), "}".repeat(depth)),
        format!("{}b = 1\n", "a.".repeat(depth)),
    ] {
        let e = dkvs::config::parse_cluster_toml(&text, "cluster.toml").unwrap_err();
        assert!(!e.to_string().contains('\n'));
        fuzz_checks::cluster_toml(text.as_bytes());
    }
}
