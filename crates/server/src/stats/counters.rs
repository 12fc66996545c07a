//! The server's side of STATS: the per-thread request counters bumped on the
//! request path, and the figures a server gathers into its reply's pairs.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::CATALOGUE;

/// A request kind the receive loops count ([`OpCounters::bump`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A get (v1 or v2).
    Get,
    /// A put (v1 or v2).
    Put,
    /// A v2 delete.
    Delete,
    /// A v1 dump or a v2 page.
    Dump,
    /// A STATS request.
    Stats,
    /// A get answered with a value.
    Hit,
    /// A get answered not found.
    Miss,
}

const OPS: usize = 7;

/// One thread's counters, alone on its cache lines (128 bytes: two lines,
/// as adjacent-line prefetchers pair them).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot([AtomicU64; OPS]);

/// The request counters of one server: one [`Slot`] per thread (threads
/// beyond the slot count share, still correctly), each bumped with a
/// relaxed atomic add by the thread that owns it, summed when read.
///
/// Cost on the request path: each thread of the server has its own slot,
/// padded to its own cache lines, and bumps it with a relaxed atomic add
/// that no other core contends for — so counting takes no lock and shares
/// no cache line between the receive loops. Reading them sums the slots
/// (rare: a STATS request, a scrape). Everything else in a report (keys,
/// bytes, memory, the abuse-limit counters of [`crate::limits::Stats`]) is
/// read when a report is built.
#[derive(Debug)]
pub struct OpCounters {
    slots: Box<[Slot]>,
}

/// The sums of an [`OpCounters`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpTotals {
    /// Gets.
    pub gets: u64,
    /// Puts.
    pub puts: u64,
    /// Deletes.
    pub deletes: u64,
    /// Dumps and pages.
    pub dumps: u64,
    /// STATS requests.
    pub stats: u64,
    /// Gets answered with a value.
    pub hits: u64,
    /// Gets answered not found.
    pub misses: u64,
}

impl Default for OpCounters {
    fn default() -> OpCounters {
        OpCounters::new()
    }
}

/// This thread's index, drawn once per thread from a process-wide counter
/// (the slot it counts in, here and in [`super::Latency`]).
pub(super) fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        if i.get() == usize::MAX {
            i.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        i.get()
    })
}

impl OpCounters {
    /// Counters with a slot for each of twice as many threads as cores
    /// (the receive loops' workers, the committer, a few others).
    pub fn new() -> OpCounters {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let slots = (2 * cores).clamp(4, 256);
        OpCounters {
            slots: (0..slots).map(|_| Slot::default()).collect(),
        }
    }

    /// Adds one to `op` in this thread's slot.
    #[inline]
    pub fn bump(&self, op: Op) {
        let len = self.slots.len().max(1);
        if let Some(slot) = self.slots.get(thread_index() % len)
            && let Some(c) = slot.0.get(op as usize)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sums over every slot.
    pub fn totals(&self) -> OpTotals {
        let sum = |op: Op| {
            self.slots
                .iter()
                .filter_map(|s| s.0.get(op as usize))
                .map(|c| c.load(Ordering::Relaxed))
                .fold(0u64, u64::wrapping_add)
        };
        OpTotals {
            gets: sum(Op::Get),
            puts: sum(Op::Put),
            deletes: sum(Op::Delete),
            dumps: sum(Op::Dump),
            stats: sum(Op::Stats),
            hits: sum(Op::Hit),
            misses: sum(Op::Miss),
        }
    }
}

/// The durable engine's own figures, for a server with `--data-dir`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DurableFigures {
    /// Puts dropped because the commit queue was full.
    pub commit_queue_full: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Syncs to disk.
    pub syncs: u64,
    /// Stored records that failed their check when read.
    pub corrupt_reads: u64,
    /// Write-ahead log size, when it can be read.
    pub log_bytes: Option<u64>,
    /// Database file size, when it can be read.
    pub db_bytes: Option<u64>,
    /// The sync policy (`always`, `periodic`, `none`).
    pub sync_policy: String,
    /// The engine of the data directory (`log`, `redb`).
    pub durable_engine: String,
}

/// Everything a server report is made of, gathered by the server
/// (`crate::server`) when a STATS request or a scrape comes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerFigures {
    /// Time since start.
    pub uptime: Duration,
    /// The request counters.
    pub ops: OpTotals,
    /// The abuse-limit counters.
    pub limits: crate::limits::StatsSnapshot,
    /// Records held.
    pub keys: u64,
    /// Accounted bytes held.
    pub bytes_stored: u64,
    /// The limit on them.
    pub bytes_limit: u64,
    /// Resident memory ([`rss_bytes`]).
    pub rss: Option<u64>,
    /// Kernel drops of the server's sockets (`server::kernel_drops`).
    pub kernel_drops: Option<u64>,
    /// The largest amount (ms) a write's version was ahead of this
    /// server's clock, and the writes refused for it
    /// ([`crate::hlc::OffsetGuard`]).
    pub clock: (u64, u64),
    /// Writes held for other servers (hinted handoff, `crate::hints`).
    pub hints_pending: u64,
    /// The hand-off after membership changes (`crate::rebalance`), with
    /// `--servers`: keys held but not owned, records sent, keys dropped.
    pub handoff: Option<crate::rebalance::HandoffFigures>,
    /// Anti-entropy (`crate::anti_entropy`), with `--servers`.
    pub anti_entropy: Option<super::AeStatsSnapshot>,
    /// `Some` for the durable engine.
    pub durable: Option<DurableFigures>,
}

impl ServerFigures {
    /// The name/value pairs of the STATS reply, in [`CATALOGUE`] order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let l = &self.limits;
        let o = &self.ops;
        let queue_full = self.durable.as_ref().map_or(0, |d| d.commit_queue_full);
        let mut out: Vec<(String, String)> = Vec::with_capacity(CATALOGUE.len());
        let mut put = |name: &str, value: String| out.push((name.to_string(), value));
        put("uptime_seconds", self.uptime.as_secs().to_string());
        let engine = if self.durable.is_some() {
            "durable"
        } else {
            "memory"
        };
        put("engine", engine.to_string());
        put("requests", l.requests.to_string());
        put("gets", o.gets.to_string());
        put("puts", o.puts.to_string());
        put("deletes", o.deletes.to_string());
        put("dumps", o.dumps.to_string());
        put("stats_requests", o.stats.to_string());
        put("hits", o.hits.to_string());
        put("misses", o.misses.to_string());
        put("keys", self.keys.to_string());
        put("bytes_stored", self.bytes_stored.to_string());
        put("bytes_limit", self.bytes_limit.to_string());
        if let Some(rss) = self.rss {
            put("memory_rss_bytes", rss.to_string());
        }
        let sum = |v: &[u64]| v.iter().fold(0u64, |a, b| a.saturating_add(*b));
        put(
            "errors",
            sum(&[l.panics, l.restarts, l.engine_errors]).to_string(),
        );
        put(
            "refused",
            sum(&[
                l.refused,
                l.over_memory,
                l.over_disk,
                self.clock.1,
                l.refused_corrupt,
            ])
            .to_string(),
        );
        put(
            "dropped",
            sum(&[
                l.not_allowed,
                l.dump_denied,
                l.over_budget,
                l.unauthenticated,
                queue_full,
                self.kernel_drops.unwrap_or(0),
            ])
            .to_string(),
        );
        put("malformed", l.refused.to_string());
        put("over_memory", l.over_memory.to_string());
        put("over_disk", l.over_disk.to_string());
        put("not_allowed", l.not_allowed.to_string());
        put("dump_denied", l.dump_denied.to_string());
        put("over_budget", l.over_budget.to_string());
        put("unauthenticated", l.unauthenticated.to_string());
        put("panics", l.panics.to_string());
        put("restarts", l.restarts.to_string());
        put("engine_errors", l.engine_errors.to_string());
        if let Some(drops) = self.kernel_drops {
            put("kernel_drops", drops.to_string());
        }
        put("clock_ahead_max_ms", self.clock.0.to_string());
        put("refused_clock", self.clock.1.to_string());
        put("refused_corrupt", l.refused_corrupt.to_string());
        put("hints_pending", self.hints_pending.to_string());
        if let Some(h) = &self.handoff {
            put("handoff_foreign_keys", h.foreign_keys.to_string());
            put("handoff_sent", h.sent.to_string());
            put("handoff_dropped", h.dropped.to_string());
        }
        if let Some(a) = &self.anti_entropy {
            put("ae_rounds", a.rounds.to_string());
            put("ae_divergent_buckets", a.divergent_buckets_last.to_string());
            put("ae_keys_repaired", a.keys_repaired_last.to_string());
            put("ae_unreachable_peers", a.unreachable_last.to_string());
            put("ae_bytes_sent", a.bytes_sent.to_string());
        }
        if let Some(d) = &self.durable {
            put("commit_queue_full", d.commit_queue_full.to_string());
            put("commits", d.commits.to_string());
            put("syncs", d.syncs.to_string());
            put("corrupt_reads", d.corrupt_reads.to_string());
            if let Some(b) = d.log_bytes {
                put("log_bytes", b.to_string());
            }
            if let Some(b) = d.db_bytes {
                put("db_bytes", b.to_string());
            }
            put("sync_policy", d.sync_policy.clone());
            put("durable_engine", d.durable_engine.clone());
        }
        out
    }
}

/// The resident memory of this process, from the `VmRSS` line of
/// `/proc/self/status` (Linux; the same figure as `/proc/self/statm`'s
/// second field times the page size, without needing the page size).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:  1234 kB` line of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// What the Prometheus endpoint reads on each scrape: the pairs of the
/// STATS reply ([`ServerFigures::pairs`]) and the latency histograms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrape {
    /// The STATS pairs.
    pub pairs: Vec<(String, String)>,
    /// The request latency histograms ([`super::Latency`]).
    pub latency: super::LatencySnapshot,
}

/// How a server hands its current report to whoever asks (the Prometheus
/// endpoint): a function building a [`Scrape`].
pub type Source = Arc<dyn Fn() -> Scrape + Send + Sync>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::stats::ServerStats;

    #[test]
    fn counters_sum_over_threads() {
        let c = Arc::new(OpCounters::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.bump(Op::Get);
                        c.bump(Op::Hit);
                    }
                    c.bump(Op::Put);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = c.totals();
        assert_eq!((t.gets, t.hits, t.puts, t.misses), (8000, 8000, 8, 0));
        assert_eq!(std::mem::align_of::<Slot>(), 128);
    }

    #[test]
    fn report_names_are_in_the_catalogue_in_order() {
        let figures = ServerFigures {
            rss: Some(1),
            kernel_drops: Some(2),
            handoff: Some(crate::rebalance::HandoffFigures::default()),
            anti_entropy: Some(crate::stats::AeStatsSnapshot::default()),
            durable: Some(DurableFigures {
                log_bytes: Some(3),
                db_bytes: Some(4),
                sync_policy: "always".into(),
                durable_engine: "log".into(),
                ..DurableFigures::default()
            }),
            ..ServerFigures::default()
        };
        let names: Vec<String> = figures.pairs().into_iter().map(|(n, _)| n).collect();
        let catalogue: Vec<&str> = CATALOGUE.iter().map(|c| c.name).collect();
        assert_eq!(names, catalogue);
        let memory = ServerFigures::default().pairs();
        assert!(memory.iter().any(|(n, v)| n == "engine" && v == "memory"));
        assert!(!memory.iter().any(|(n, _)| n == "syncs"));
    }

    #[test]
    fn aggregates_add_their_parts() {
        let figures = ServerFigures {
            limits: crate::limits::StatsSnapshot {
                refused: 1,
                over_memory: 2,
                not_allowed: 4,
                over_budget: 8,
                panics: 16,
                engine_errors: 32,
                refused_corrupt: 128,
                ..Default::default()
            },
            kernel_drops: Some(64),
            ..ServerFigures::default()
        };
        let s = ServerStats::from_raw(figures.pairs());
        assert_eq!(s.refused, Some(131));
        assert_eq!(s.dropped, Some(76));
        assert_eq!(s.errors, Some(48));
    }

    #[test]
    fn vm_rss() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t    1200 kB\n"),
            Some(1200 * 1024)
        );
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_bytes().unwrap() > 0);
    }
}
