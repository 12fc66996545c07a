//! A benchmark run's report: the figures of one run, as text for people
//! and as one JSON object for scripts (`dkvs-bench --json`).

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{Driver, Workload};

/// Outcome counts and latencies of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was driven.
    pub target: String,
    /// The workload.
    pub workload: Workload,
    /// The driver settings.
    pub driver: Driver,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Gets that returned a value.
    pub hits: u64,
    /// Gets that found no value.
    pub misses: u64,
    /// Puts acknowledged.
    pub stored: u64,
    /// Operations that got no (sufficient) answer before their deadline.
    pub timeouts: u64,
    /// Operations that failed otherwise (send error, refused put, bad reply).
    pub errors: u64,
    /// Latency of completed operations (hits, misses, stored), microseconds.
    pub latency_us: Histogram<u64>,
}

impl Report {
    /// Operations attempted.
    pub fn operations(&self) -> u64 {
        self.completed() + self.timeouts + self.errors
    }

    /// Operations that succeeded (hit, miss or stored).
    pub fn completed(&self) -> u64 {
        self.hits + self.misses + self.stored
    }

    /// Successful operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.completed() as f64 / secs
        } else {
            0.0
        }
    }

    /// Latency at quantile `q` in microseconds (0 when nothing completed).
    pub fn latency(&self, q: f64) -> u64 {
        if self.latency_us.is_empty() {
            0
        } else {
            self.latency_us.value_at_quantile(q)
        }
    }

    /// A Markdown table comparing runs, one row per `(label, report)`:
    /// in flight, operations per second, p50 and p99 latency, failures
    /// (timeouts and errors), then each row's throughput and p99 relative
    /// to the first row's.
    pub fn side_by_side(rows: &[(&str, &Report)]) -> String {
        let mut out = String::from(
            "| run | in flight | ops/s | p50 (µs) | p99 (µs) | failed | ops/s vs first | p99 vs first |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let first = rows
            .first()
            .map(|(_, r)| (r.ops_per_sec(), r.latency(0.99)));
        for (label, r) in rows {
            let (ops, p99) = (r.ops_per_sec(), r.latency(0.99));
            let relative = |now: f64, then: f64| {
                if then > 0.0 {
                    format!("{:+.1}%", (now / then - 1.0) * 100.0)
                } else {
                    "—".to_string()
                }
            };
            let (ops_rel, p99_rel) = match first {
                Some((ops0, p990)) => (relative(ops, ops0), relative(p99 as f64, p990 as f64)),
                None => ("—".into(), "—".into()),
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {ops:.0} | {} | {p99} | {} | {ops_rel} | {p99_rel} |",
                r.driver.concurrency,
                r.latency(0.5),
                r.timeouts + r.errors,
            );
        }
        out
    }

    /// Human-readable report (several lines).
    pub fn to_text(&self) -> String {
        let w = &self.workload;
        let d = &self.driver;
        let mut out = String::new();
        let mode = match d.rate {
            Some(r) => format!("open loop at {r:.0} ops/s"),
            None => "closed loop".to_string(),
        };
        let _ = writeln!(out, "target       {}", self.target);
        let _ = writeln!(
            out,
            "workload     {} keys {}, {}-byte values, {}, {} in flight, {mode}",
            w.keys,
            if w.fill {
                "filled in order".to_string()
            } else {
                w.distribution.to_string()
            },
            w.value_size,
            if w.fill {
                "puts only".to_string()
            } else {
                format!("{:.0}% gets", w.get_ratio * 100.0)
            },
            d.concurrency,
        );
        let _ = writeln!(
            out,
            "operations   {} in {:.3} s: {} hits, {} misses, {} stored",
            self.operations(),
            self.elapsed.as_secs_f64(),
            self.hits,
            self.misses,
            self.stored
        );
        let _ = writeln!(out, "throughput   {:.0} ops/s", self.ops_per_sec());
        let _ = writeln!(
            out,
            "latency us   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            self.latency(0.5),
            self.latency(0.9),
            self.latency(0.99),
            self.latency(0.999),
            self.latency_us.max()
        );
        let _ = writeln!(
            out,
            "failures     {} timeouts, {} errors",
            self.timeouts, self.errors
        );
        out
    }

    /// The report as one JSON object on one line.
    pub fn to_json(&self) -> String {
        let w = &self.workload;
        let d = &self.driver;
        let tenths = |x: f64| (x * 10.0).round() / 10.0;
        let mean = if self.latency_us.is_empty() {
            0.0
        } else {
            self.latency_us.mean()
        };
        serde_json::json!({
            "target": self.target,
            "keys": w.keys,
            "distribution": w.distribution.to_string(),
            "value_size": w.value_size,
            "get_ratio": w.get_ratio,
            "fill": w.fill,
            "concurrency": d.concurrency,
            "rate": d.rate,
            "elapsed_s": (self.elapsed.as_secs_f64() * 1e6).round() / 1e6,
            "operations": self.operations(),
            "completed": self.completed(),
            "hits": self.hits,
            "misses": self.misses,
            "stored": self.stored,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "ops_per_sec": tenths(self.ops_per_sec()),
            "latency_us": {
                "p50": self.latency(0.5),
                "p90": self.latency(0.9),
                "p99": self.latency(0.99),
                "p999": self.latency(0.999),
                "max": self.latency_us.max(),
                "mean": tenths(mean),
            },
        })
        .to_string()
    }
}
