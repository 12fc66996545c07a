//! What the chaos tests share: how a get's trace is told to the checker,
//! operation times, the seeds and figures they read from the environment,
//! and the rules every run is checked on, with the explanation of a
//! failed one.

use std::time::Instant;

use std::fmt::Write as _;

use dkvs::checker::{GetResult, History, Report};
use dkvs::trace::{Failure, Trace, Verdict};

/// Microseconds since `epoch` (the history's clock).
pub fn microseconds(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// What the checker is told a get returned.
pub fn get_result(trace: &Trace) -> GetResult {
    match (&trace.verdict, &trace.value, trace.version) {
        (Verdict::Reached, Some(v), Some(version)) => GetResult::Versioned {
            value: v.clone(),
            version,
        },
        (Verdict::Reached, Some(v), None) => GetResult::Value(v.clone()),
        (Verdict::Failed(Failure::NotFound), _, Some(version)) => GetResult::Deleted(version),
        (Verdict::Failed(Failure::NotFound), _, None) => GetResult::NotFound,
        _ => GetResult::Failed,
    }
}

/// `CHAOS_SEED` when set (one seed to rerun), else `defaults`.
pub fn seeds(defaults: &[u64]) -> Vec<u64> {
    match std::env::var("CHAOS_SEED") {
        Ok(s) => vec![s.trim().parse().expect("CHAOS_SEED is a number")],
        Err(_) => defaults.to_vec(),
    }
}

/// The number in environment variable `name`, or `default`.
pub fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// A failed run told: `summary`, the violations, the nemesis `events`
/// and, for the first violating keys (three at most), the key's last
/// operations up to the flagged one, each with its `labels` line.
pub fn explain(
    summary: &str,
    history: &History,
    labels: &[String],
    events: &[String],
    report: &Report,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{summary}");
    for v in report.violations.iter().take(10) {
        let _ = writeln!(s, "VIOLATION {v}");
    }
    let _ = writeln!(s, "nemesis: {}", events.join("; "));
    let mut shown: Vec<&[u8]> = Vec::new();
    for v in &report.violations {
        if shown.contains(&v.key.as_slice()) || shown.len() >= 3 {
            continue;
        }
        shown.push(&v.key);
        let flagged = &history.ops[v.op];
        let mut ops: Vec<usize> = (0..history.ops.len())
            .filter(|&i| {
                let op = &history.ops[i];
                op.key == v.key && op.invoked <= flagged.completed
            })
            .collect();
        ops.sort_by_key(|&i| history.ops[i].invoked);
        let skip = ops.len().saturating_sub(80);
        let _ = writeln!(
            s,
            "--- key {:?}, last {} operations up to op {} ---",
            String::from_utf8_lossy(&v.key),
            ops.len() - skip,
            v.op
        );
        for &i in &ops[skip..] {
            let op = &history.ops[i];
            let _ = writeln!(
                s,
                "{}op {i:5} [{:9.3} .. {:9.3} ms] {}",
                if i == v.op { ">" } else { " " },
                op.invoked as f64 / 1000.0,
                op.completed as f64 / 1000.0,
                labels[i]
            );
        }
    }
    s
}

/// What every chaos run must satisfy: no violation of the checker's
/// rules, every final read answered on the healed cluster, and enough
/// gets to mean something. `explain` tells a failure.
pub fn check_common(
    seed: u64,
    report: &Report,
    final_failed: usize,
    summary: &str,
    explain: impl Fn() -> String,
) {
    assert!(
        report.violations.is_empty(),
        "seed {seed} (rerun with CHAOS_SEED={seed}): {} violations\n{}",
        report.violations.len(),
        explain()
    );
    assert_eq!(
        final_failed,
        0,
        "seed {seed}: final reads failed on a healed cluster\n{}",
        explain()
    );
    assert!(report.gets > 20, "too few gets: {summary}");
}

/// The clients' results, in task order, once every task has ended (30 s
/// at most after the run: each operation ends by its deadline).
pub fn join_clients<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    tasks: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await.expect("a client task panicked"));
            }
            all
        })
        .await
        .expect("the clients finished within 30 s of the end of the run")
    })
}
