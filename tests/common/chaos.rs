//! What the chaos tests share: how a get's trace is told to the checker,
//! operation times, and the seeds and figures they read from the
//! environment.

use std::time::Instant;

use dkvs::checker::GetResult;
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
