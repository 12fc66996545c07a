//! Server statistics: what a server counts, the STATS reply it sends
//! (protocol v2, `docs/PROTOCOL.md`, "STATS"), and how a client asks every
//! server of a ring for it (`dkvs-client stats`, the TUI's sparklines).
//!
//! Why one module: the names of the counters, their kind (counter, gauge,
//! text), their unit and their help text are written once ([`CATALOGUE`]),
//! and the server's reply, the client's table and JSON, and the Prometheus
//! endpoint (`crate::metrics`) all read them from here.
//!
//! Cost on the request path: the counters a request bumps ([`OpCounters`])
//! are per thread — each thread of the server has its own slot, padded to
//! its own cache lines, and bumps it with a relaxed atomic add that no
//! other core contends for — so counting takes no lock and shares no cache
//! line between the receive loops. Reading them sums the slots (rare:
//! a STATS request, a scrape). Everything else in a report (keys, bytes,
//! memory, the abuse-limit counters of [`crate::limits::Stats`]) is read
//! when a report is built.

use std::cell::Cell;
use std::io::{self, Write};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::client::RetryPolicy;
use crate::config::ClusterConfig;
use crate::dump_ring::{Answer, DumpOptions, Pager};
use crate::protocol_v2::{AuthKey, Message, Reason};

/// What a counter is, for the Prometheus `# TYPE` line and for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up while the server runs (Prometheus `counter`, `_total`).
    Counter,
    /// A current level that goes up and down (Prometheus `gauge`).
    Gauge,
    /// A text value (Prometheus: an `_info` gauge of 1 with the text as a
    /// label).
    Text,
}

/// How a value is shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A plain number.
    Count,
    /// Bytes (shown as B, KiB, MiB, GiB…).
    Bytes,
    /// Seconds (shown as 45s, 12m05s, 3h04m, 2d03h).
    Seconds,
}

/// One entry of the catalogue: a name a server may send in its STATS reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// The name in the STATS reply (the Prometheus name is `dkvs_` + this,
    /// plus `_total` for counters, `_info` for text).
    pub name: &'static str,
    /// Counter, gauge or text.
    pub kind: Kind,
    /// How to show it.
    pub unit: Unit,
    /// One line of help (the Prometheus `# HELP` line).
    pub help: &'static str,
}

const fn entry(name: &'static str, kind: Kind, unit: Unit, help: &'static str) -> Counter {
    Counter {
        name,
        kind,
        unit,
        help,
    }
}

/// Every name a dkvs server reports, in the order it sends them. A server
/// sends the durable engine's figures only with `--data-dir`, and
/// `kernel_drops` only when `/proc/net/udp` can be read.
pub const CATALOGUE: &[Counter] = &[
    entry(
        "uptime_seconds",
        Kind::Gauge,
        Unit::Seconds,
        "Seconds since the server started.",
    ),
    entry(
        "engine",
        Kind::Text,
        Unit::Count,
        "Storage engine: memory or durable (--data-dir).",
    ),
    entry(
        "requests",
        Kind::Counter,
        Unit::Count,
        "Datagrams received.",
    ),
    entry(
        "gets",
        Kind::Counter,
        Unit::Count,
        "Get requests (v1 and v2).",
    ),
    entry(
        "puts",
        Kind::Counter,
        Unit::Count,
        "Put requests (v1 and v2).",
    ),
    entry(
        "deletes",
        Kind::Counter,
        Unit::Count,
        "Delete requests (v2).",
    ),
    entry(
        "dumps",
        Kind::Counter,
        Unit::Count,
        "Dump requests (v1 dumps and v2 pages).",
    ),
    entry(
        "stats_requests",
        Kind::Counter,
        Unit::Count,
        "STATS requests answered.",
    ),
    entry(
        "hits",
        Kind::Counter,
        Unit::Count,
        "Gets answered with a value.",
    ),
    entry(
        "misses",
        Kind::Counter,
        Unit::Count,
        "Gets answered not found.",
    ),
    entry(
        "keys",
        Kind::Gauge,
        Unit::Count,
        "Records held (live values and tombstones).",
    ),
    entry(
        "bytes_stored",
        Kind::Gauge,
        Unit::Bytes,
        "Accounted bytes of the records held (keys, values, per-record overhead).",
    ),
    entry(
        "bytes_limit",
        Kind::Gauge,
        Unit::Bytes,
        "Limit on bytes_stored (--max-memory, or --max-disk with --data-dir).",
    ),
    entry(
        "memory_rss_bytes",
        Kind::Gauge,
        Unit::Bytes,
        "Resident memory of the server process.",
    ),
    entry(
        "errors",
        Kind::Counter,
        Unit::Count,
        "Requests that failed inside the server: panics, engine errors, restarted receive loops.",
    ),
    entry(
        "refused",
        Kind::Counter,
        Unit::Count,
        "Requests answered with a refusal: malformed, over the memory or disk limit, or from a clock too far ahead.",
    ),
    entry(
        "dropped",
        Kind::Counter,
        Unit::Count,
        "Requests dropped without a reply: not allowed, dump denied, over budget, unauthenticated, commit queue full, and the kernel's receive-buffer drops.",
    ),
    entry(
        "malformed",
        Kind::Counter,
        Unit::Count,
        "Malformed datagrams (answered with the empty refusal).",
    ),
    entry(
        "over_memory",
        Kind::Counter,
        Unit::Count,
        "Puts refused by --max-memory or --max-disk.",
    ),
    entry(
        "not_allowed",
        Kind::Counter,
        Unit::Count,
        "Datagrams from sources outside --allow.",
    ),
    entry(
        "dump_denied",
        Kind::Counter,
        Unit::Count,
        "Dump and STATS requests from sources outside --allow-dump.",
    ),
    entry(
        "over_budget",
        Kind::Counter,
        Unit::Count,
        "Replies not sent: the source was over its reply budget.",
    ),
    entry(
        "unauthenticated",
        Kind::Counter,
        Unit::Count,
        "Datagrams rejected by authentication (--key-file).",
    ),
    entry(
        "panics",
        Kind::Counter,
        Unit::Count,
        "Panics caught while handling a request.",
    ),
    entry(
        "restarts",
        Kind::Counter,
        Unit::Count,
        "Receive loops restarted.",
    ),
    entry(
        "engine_errors",
        Kind::Counter,
        Unit::Count,
        "Reads and writes the storage engine failed.",
    ),
    entry(
        "kernel_drops",
        Kind::Counter,
        Unit::Count,
        "Datagrams the kernel dropped, the receive buffer being full.",
    ),
    entry(
        "clock_ahead_max_ms",
        Kind::Gauge,
        Unit::Count,
        "Largest amount, in milliseconds, by which a write's version was ahead of this server's clock (the worst writer clock seen).",
    ),
    entry(
        "refused_clock",
        Kind::Counter,
        Unit::Count,
        "Writes refused because their version was more than --max-clock-offset ahead of this server's clock.",
    ),
    entry(
        "hints_pending",
        Kind::Gauge,
        Unit::Count,
        "Writes held for other servers (hinted handoff), waiting for their owner.",
    ),
    entry(
        "handoff_foreign_keys",
        Kind::Gauge,
        Unit::Count,
        "Keys held but not owned under the current ring at the last hand-off pass (a membership change in progress).",
    ),
    entry(
        "handoff_sent",
        Kind::Counter,
        Unit::Count,
        "Records sent to their owners after a membership change.",
    ),
    entry(
        "handoff_dropped",
        Kind::Counter,
        Unit::Count,
        "Keys dropped here once every owner confirmed them.",
    ),
    entry(
        "ae_rounds",
        Kind::Counter,
        Unit::Count,
        "Anti-entropy rounds finished.",
    ),
    entry(
        "ae_divergent_buckets",
        Kind::Gauge,
        Unit::Count,
        "Merkle buckets found different from a peer's in the last anti-entropy round (replica divergence).",
    ),
    entry(
        "ae_keys_repaired",
        Kind::Gauge,
        Unit::Count,
        "Records pushed to or fetched from peers in the last anti-entropy round.",
    ),
    entry(
        "ae_unreachable_peers",
        Kind::Gauge,
        Unit::Count,
        "Peers that did not answer in the last anti-entropy round.",
    ),
    entry(
        "ae_bytes_sent",
        Kind::Counter,
        Unit::Bytes,
        "Bytes of anti-entropy requests sent.",
    ),
    entry(
        "commit_queue_full",
        Kind::Counter,
        Unit::Count,
        "Puts dropped because the durable engine's commit queue was full.",
    ),
    entry(
        "commits",
        Kind::Counter,
        Unit::Count,
        "Transactions committed by the durable engine.",
    ),
    entry(
        "syncs",
        Kind::Counter,
        Unit::Count,
        "Syncs to disk by the durable engine.",
    ),
    entry(
        "log_bytes",
        Kind::Gauge,
        Unit::Bytes,
        "Size of the durable engine's write-ahead log.",
    ),
    entry(
        "db_bytes",
        Kind::Gauge,
        Unit::Bytes,
        "Size of the durable engine's database file.",
    ),
    entry(
        "sync_policy",
        Kind::Text,
        Unit::Count,
        "The durable engine's --sync policy.",
    ),
];

/// The catalogue entry of `name`, if it is one dkvs knows.
pub fn counter(name: &str) -> Option<&'static Counter> {
    CATALOGUE.iter().find(|c| c.name == name)
}

// ---------------------------------------------------------------- server

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

/// This thread's index, drawn once per thread from a process-wide counter.
fn thread_index() -> usize {
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
    /// Write-ahead log size, when it can be read.
    pub log_bytes: Option<u64>,
    /// Database file size, when it can be read.
    pub db_bytes: Option<u64>,
    /// The sync policy (`always`, `periodic`, `none`).
    pub sync_policy: String,
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
    pub anti_entropy: Option<crate::anti_entropy::AeStatsSnapshot>,
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
            sum(&[l.refused, l.over_memory, self.clock.1]).to_string(),
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
            if let Some(b) = d.log_bytes {
                put("log_bytes", b.to_string());
            }
            if let Some(b) = d.db_bytes {
                put("db_bytes", b.to_string());
            }
            put("sync_policy", d.sync_policy.clone());
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

/// How a server hands its current report to whoever asks (the Prometheus
/// endpoint): a function building the pairs ([`ServerFigures::pairs`]).
pub type Source = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

// ---------------------------------------------------------------- client

/// One server's STATS reply, decoded: the figures dkvs knows as typed
/// fields (`None` when the server did not send them), and every pair as
/// received, so names this client does not know survive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Seconds since the server started.
    pub uptime_seconds: Option<u64>,
    /// `memory` or `durable`.
    pub engine: Option<String>,
    /// Datagrams received.
    pub requests: Option<u64>,
    /// Gets.
    pub gets: Option<u64>,
    /// Puts.
    pub puts: Option<u64>,
    /// Deletes.
    pub deletes: Option<u64>,
    /// Gets answered with a value.
    pub hits: Option<u64>,
    /// Gets answered not found.
    pub misses: Option<u64>,
    /// Records held.
    pub keys: Option<u64>,
    /// Accounted bytes held.
    pub bytes_stored: Option<u64>,
    /// Resident memory.
    pub memory_rss_bytes: Option<u64>,
    /// Failures inside the server.
    pub errors: Option<u64>,
    /// Refusals sent.
    pub refused: Option<u64>,
    /// Requests dropped without a reply.
    pub dropped: Option<u64>,
    /// Every pair of the reply, in the server's order (names and values
    /// as text; bytes that are not UTF-8 replaced).
    pub raw: Vec<(String, String)>,
}

impl ServerStats {
    /// Decodes the pairs of a STATS reply.
    pub fn from_pairs(pairs: &[(&[u8], &[u8])]) -> ServerStats {
        let raw: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        ServerStats::from_raw(raw)
    }

    /// The typed view of name/value pairs.
    pub fn from_raw(raw: Vec<(String, String)>) -> ServerStats {
        let n = |name: &str| {
            raw.iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        ServerStats {
            uptime_seconds: n("uptime_seconds"),
            engine: raw
                .iter()
                .find(|(k, _)| k == "engine")
                .map(|(_, v)| v.clone()),
            requests: n("requests"),
            gets: n("gets"),
            puts: n("puts"),
            deletes: n("deletes"),
            hits: n("hits"),
            misses: n("misses"),
            keys: n("keys"),
            bytes_stored: n("bytes_stored"),
            memory_rss_bytes: n("memory_rss_bytes"),
            errors: n("errors"),
            refused: n("refused"),
            dropped: n("dropped"),
            raw,
        }
    }

    /// The value of `name` as sent, if it was.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` as a number, if it was sent and is one.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.get(name)?.parse().ok()
    }

    /// Operations (gets + puts + deletes) so far: difference two readings
    /// and divide by the time between them for ops/s.
    pub fn operations(&self) -> Option<u64> {
        Some(
            self.gets?
                .saturating_add(self.puts?)
                .saturating_add(self.deletes.unwrap_or(0)),
        )
    }
}

/// What one server answered to STATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAnswer {
    /// Its counters (boxed: the other answers are small).
    Stats(Box<ServerStats>),
    /// It speaks only protocol v1 (it answered with the empty refusal), so
    /// it has no STATS.
    V1Only,
    /// It refused (`Unsupported`: a v2 server older than STATS;
    /// `Forbidden`: this source is outside its `--allow-dump`;
    /// `Unauthenticated`: no key or the wrong one).
    Refused(Reason),
    /// Nothing within the deadline (down, unreachable, or a keyed server
    /// not sharing this client's key).
    NoAnswer,
    /// This client could not ask (no socket, …).
    Error(String),
}

impl StatsAnswer {
    /// Whether the server answered at all (anything but
    /// [`StatsAnswer::NoAnswer`] and [`StatsAnswer::Error`]).
    pub fn answered(&self) -> bool {
        !matches!(self, StatsAnswer::NoAnswer | StatsAnswer::Error(_))
    }

    /// The counters, when it sent them.
    pub fn stats(&self) -> Option<&ServerStats> {
        match self {
            StatsAnswer::Stats(s) => Some(s),
            _ => None,
        }
    }

    /// One short phrase for a row without counters (`no answer`, `v1 only:
    /// no stats`, `refused: forbidden`…); empty for counters.
    pub fn describe(&self) -> String {
        match self {
            StatsAnswer::Stats(_) => String::new(),
            StatsAnswer::V1Only => "v1 only: no stats".into(),
            StatsAnswer::Refused(Reason::Unsupported) => "no stats (older dkvs server)".into(),
            StatsAnswer::Refused(Reason::Forbidden) => {
                "refused: forbidden (not in its --allow-dump)".into()
            }
            StatsAnswer::Refused(Reason::Unauthenticated) => "refused: unauthenticated".into(),
            StatsAnswer::Refused(r) => format!("refused: reason {}", r.code()),
            StatsAnswer::NoAnswer => "no answer".into(),
            StatsAnswer::Error(e) => format!("error: {e}"),
        }
    }
}

/// One server's row: its address and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// The server.
    pub addr: SocketAddrV4,
    /// What it answered.
    pub answer: StatsAnswer,
}

/// How [`fetch_server`] and [`fetch_all`] ask: the deadline per server,
/// the resend schedule, and the key that signs (the cluster's first).
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// How long to wait for each server (its reply or nothing).
    pub timeout: Duration,
    /// Resends of an unanswered request.
    pub retry: RetryPolicy,
    /// Signs each request; only replies signed with it count.
    pub key: Option<AuthKey>,
}

impl FetchOptions {
    /// The options a client of `config` uses: `timeout`, the default
    /// resend schedule, the cluster's key.
    pub fn new(config: &ClusterConfig, timeout: Duration) -> FetchOptions {
        FetchOptions {
            timeout,
            retry: RetryPolicy::DEFAULT,
            key: crate::dump_ring::signer(config),
        }
    }

    /// The options of an existing client: its deadline, resends and key.
    pub fn of_client(client: &crate::client::Client) -> FetchOptions {
        FetchOptions {
            timeout: client.timeout(),
            retry: client.retry(),
            key: client.key().cloned(),
        }
    }
}

/// Asks one server for its counters: a STATS request (signed with
/// `options.key`), resent on `options.retry`'s schedule until a reply
/// with its id comes or `options.timeout` passes.
pub async fn fetch_server(addr: SocketAddrV4, options: &FetchOptions) -> StatsAnswer {
    let dump_options = DumpOptions {
        retry: options.retry,
        key: options.key.clone(),
        ..DumpOptions::new(options.timeout, options.timeout)
    };
    let mut pager = match Pager::open(addr, dump_options) {
        Ok(p) => p,
        Err(e) => return StatsAnswer::Error(e.to_string()),
    };
    let until = tokio::time::Instant::now() + options.timeout;
    let datagram = match pager
        .exchange(&Message::Stats, options.timeout, until)
        .await
    {
        Ok(Answer::Reply(d)) => d,
        Ok(Answer::V1Only) => return StatsAnswer::V1Only,
        Ok(Answer::Silent) => return StatsAnswer::NoAnswer,
        Err(e) => return StatsAnswer::Error(e.to_string()),
    };
    match crate::protocol_v2::decode(&datagram).map(|f| f.message) {
        Ok(Message::StatsReply { pairs }) => {
            StatsAnswer::Stats(Box::new(ServerStats::from_pairs(&pairs)))
        }
        Ok(Message::Refused { reason }) => StatsAnswer::Refused(reason),
        Ok(other) => StatsAnswer::Error(format!("unexpected reply: opcode {}", other.opcode())),
        Err(e) => StatsAnswer::Error(e.to_string()),
    }
}

/// Asks every server of `config` at once ([`fetch_server`] each, in
/// parallel); one report per server, in configuration order. Takes about
/// `options.timeout` when a server is silent, less otherwise.
pub async fn fetch_all(config: &ClusterConfig, options: &FetchOptions) -> Vec<ServerReport> {
    let addrs: Vec<SocketAddrV4> = config.servers.iter().map(|s| s.addr()).collect();
    fetch_many(&addrs, options).await
}

/// [`fetch_all`] for a list of addresses.
pub async fn fetch_many(addrs: &[SocketAddrV4], options: &FetchOptions) -> Vec<ServerReport> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, addr) in addrs.iter().copied().enumerate() {
        let options = options.clone();
        tasks.spawn(async move { (index, fetch_server(addr, &options).await) });
    }
    let mut answers: Vec<Option<StatsAnswer>> = addrs.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, answer)) => {
                if let Some(slot) = answers.get_mut(index) {
                    *slot = Some(answer);
                }
            }
            Err(e) => tracing::error!(error = %e, "stats task failed"),
        }
    }
    addrs
        .iter()
        .zip(answers)
        .map(|(addr, answer)| ServerReport {
            addr: *addr,
            answer: answer.unwrap_or_else(|| StatsAnswer::Error("task failed".into())),
        })
        .collect()
}

// ---------------------------------------------------------------- output

/// `bytes` for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS.get(unit).unwrap_or(&"PiB"))
}

/// `seconds` for people: `45s`, `12m05s`, `3h04m`, `2d03h`.
pub fn human_duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// The value of `name` in `stats` as shown in the table: in human units
/// for bytes and seconds, `-` when the server did not send it.
pub fn display_value(stats: &ServerStats, name: &str) -> String {
    let Some(raw) = stats.get(name) else {
        return "-".into();
    };
    match (counter(name).map(|c| c.unit), raw.parse::<u64>()) {
        (Some(Unit::Bytes), Ok(n)) => human_bytes(n),
        (Some(Unit::Seconds), Ok(n)) => human_duration(n),
        _ => raw.to_string(),
    }
}

/// The columns of `dkvs-client stats`'s table (every counter is in its
/// `--json` output): header and counter name. The last two are the
/// durable engine's (`-` for a server in memory): syncs to disk and the
/// size of its database file.
pub const TABLE_COLUMNS: &[(&str, &str)] = &[
    ("engine", "engine"),
    ("uptime", "uptime_seconds"),
    ("keys", "keys"),
    ("stored", "bytes_stored"),
    ("memory", "memory_rss_bytes"),
    ("gets", "gets"),
    ("puts", "puts"),
    ("deletes", "deletes"),
    ("hits", "hits"),
    ("misses", "misses"),
    ("errors", "errors"),
    ("refused", "refused"),
    ("dropped", "dropped"),
    ("syncs", "syncs"),
    ("disk", "db_bytes"),
];

/// The columns of `dkvs-dump-ring --health` (issue 8): what each server
/// holds, the hints it keeps for others, the keys it is handing off after
/// a membership change, and how far its replicas diverged at the last
/// anti-entropy round.
pub const HEALTH_COLUMNS: &[(&str, &str)] = &[
    ("keys", "keys"),
    ("hints", "hints_pending"),
    ("moving", "handoff_foreign_keys"),
    ("diverging", "ae_divergent_buckets"),
    ("repaired", "ae_keys_repaired"),
    ("unreachable", "ae_unreachable_peers"),
    ("ae rounds", "ae_rounds"),
];

/// Writes the table: a header, then one row per server — its address and
/// a column per [`TABLE_COLUMNS`] counter, or why it has none (`no
/// answer`, `v1 only: no stats`…). Columns are as wide as their widest
/// cell; numbers are right-aligned.
pub fn write_table(out: &mut impl Write, reports: &[ServerReport]) -> io::Result<()> {
    write_columns(out, reports, TABLE_COLUMNS)
}

/// [`write_table`] with other columns (header, counter name): the address
/// and text counters left-aligned, numbers right-aligned.
pub fn write_columns(
    out: &mut impl Write,
    reports: &[ServerReport],
    table: &[(&str, &str)],
) -> io::Result<()> {
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(reports.len() + 1);
    let mut header = vec!["server".to_string()];
    header.extend(table.iter().map(|(h, _)| (*h).to_string()));
    rows.push(header);
    for r in reports {
        let mut row = vec![r.addr.to_string()];
        if let Some(stats) = r.answer.stats() {
            row.extend(table.iter().map(|(_, name)| display_value(stats, name)));
        } else {
            row.push(r.answer.describe());
        }
        rows.push(row);
    }
    let columns = table.len() + 1;
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter(|row| row.len() == columns || c == 0)
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let width = widths.get(c).copied().unwrap_or(0);
            if c > 0 {
                line.push_str("  ");
            }
            // The address and the engine are text (left); counters are
            // right-aligned; a row without counters has its reason whole.
            if row.len() < columns && c > 0 {
                line.push_str(cell);
            } else if c == 0
                || c.checked_sub(1)
                    .and_then(|i| table.get(i))
                    .and_then(|(_, name)| counter(name))
                    .is_some_and(|k| k.kind == Kind::Text)
            {
                line.push_str(&format!("{cell:<width$}"));
            } else {
                line.push_str(&format!("{cell:>width$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Every report as one JSON object: `{"ok":BOOL,"servers":[…]}`, each
/// server `{"server":"ip:port","answered":BOOL,"stats":{name:value…}}`
/// (numbers as JSON numbers, text as strings; every pair the server sent)
/// or, without counters, `{"server":…,"answered":BOOL,"status":"no
/// answer"}`. With `failure`, `"exit"` and `"error"` are added as in the
/// other commands' JSON.
pub fn json_report(reports: &[ServerReport], failure: Option<(u8, &str)>) -> String {
    use serde_json::{Map, Value, json};
    let servers: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut server = Map::new();
            server.insert("server".into(), json!(r.addr.to_string()));
            server.insert("answered".into(), json!(r.answer.answered()));
            match r.answer.stats() {
                Some(stats) => {
                    let pairs: Map<String, Value> = stats
                        .raw
                        .iter()
                        .map(|(k, v)| {
                            let value = match v.parse::<u64>() {
                                Ok(n) => json!(n),
                                Err(_) => json!(v),
                            };
                            (k.clone(), value)
                        })
                        .collect();
                    server.insert("stats".into(), Value::Object(pairs));
                }
                None => {
                    server.insert("status".into(), json!(r.answer.describe()));
                }
            }
            Value::Object(server)
        })
        .collect();
    match failure {
        None => json!({"ok": true, "servers": servers}),
        Some((code, error)) => {
            json!({"ok": false, "exit": code, "error": error, "servers": servers})
        }
    }
    .to_string()
}

/// `None` when every server answered and at least one sent its counters;
/// otherwise the failure of `dkvs-client stats` and `dkvs-dump-ring
/// --health`: exit [`crate::commands::exit::QUORUM`] (as a quorum or
/// network failure of the other commands) and a message naming the silent
/// servers, or, when every server refused as unauthenticated, saying so
/// and how to pass a key
/// ([`crate::limits::refused_unauthenticated`]).
pub fn failure(reports: &[ServerReport]) -> Option<(u8, String)> {
    let silent: Vec<String> = reports
        .iter()
        .filter(|r| !r.answer.answered())
        .map(|r| r.addr.to_string())
        .collect();
    let unauthenticated = reports
        .iter()
        .filter(|r| r.answer == StatsAnswer::Refused(Reason::Unauthenticated))
        .count();
    let keyless = || {
        crate::limits::refused_unauthenticated(
            &format!("{unauthenticated} of {} servers", reports.len()),
            "STATS request",
        )
    };
    let message = match (silent.is_empty(), unauthenticated) {
        (true, 0) => return None,
        // Some counters came back: a server or two refusing is in its row.
        (true, n) if n < reports.len() && reports.iter().any(|r| r.answer.stats().is_some()) => {
            return None;
        }
        (true, _) => keyless(),
        (false, n) => {
            let mut message = format!(
                "{} of {} servers did not answer: {}",
                silent.len(),
                reports.len(),
                silent.join(", ")
            );
            if n > 0 {
                message.push_str("; ");
                message.push_str(&keyless());
            }
            message
        }
    };
    Some((crate::commands::exit::QUORUM, message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

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
            anti_entropy: Some(crate::anti_entropy::AeStatsSnapshot::default()),
            durable: Some(DurableFigures {
                log_bytes: Some(3),
                db_bytes: Some(4),
                sync_policy: "always".into(),
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
                ..Default::default()
            },
            kernel_drops: Some(64),
            ..ServerFigures::default()
        };
        let s = ServerStats::from_raw(figures.pairs());
        assert_eq!(s.refused, Some(3));
        assert_eq!(s.dropped, Some(76));
        assert_eq!(s.errors, Some(48));
    }

    /// docs/PROTOCOL.md's STATS table has a row for every counter, with
    /// its kind, in the order servers send them.
    #[test]
    fn protocol_md_lists_every_counter() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md"))
            .unwrap();
        let mut at = 0;
        for c in CATALOGUE {
            let kind = match c.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Text => "text",
            };
            let row = format!("\n| `{}` | {kind} |", c.name);
            let found = doc[at..].find(&row);
            assert!(
                found.is_some(),
                "docs/PROTOCOL.md: no row {row:?} after the previous one"
            );
            at += found.unwrap() + row.len();
        }
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

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(725), "12m05s");
        assert_eq!(human_duration(3 * 3600 + 240), "3h04m");
        assert_eq!(human_duration(2 * 86_400 + 3 * 3600), "2d03h");
    }

    fn report(port: u16, answer: StatsAnswer) -> ServerReport {
        ServerReport {
            addr: SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port),
            answer,
        }
    }

    #[test]
    fn table_and_json() {
        let stats = ServerStats::from_raw(ServerFigures::default().pairs());
        let reports = vec![
            report(1234, StatsAnswer::Stats(Box::new(stats))),
            report(1235, StatsAnswer::NoAnswer),
            report(1236, StatsAnswer::V1Only),
        ];
        let mut out = Vec::new();
        write_table(&mut out, &reports).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("server"), "{text}");
        assert!(lines[1].starts_with("127.0.0.1:1234  memory"), "{text}");
        assert_eq!(lines[2], "127.0.0.1:1235  no answer");
        assert_eq!(lines[3], "127.0.0.1:1236  v1 only: no stats");
        let (code, message) = failure(&reports).unwrap();
        assert_eq!(code, crate::commands::exit::QUORUM);
        assert!(message.contains("127.0.0.1:1235"), "{message}");
        let json = json_report(&reports, Some((code, &message)));
        assert!(json.starts_with(r#"{"ok":false,"exit":5,"#), "{json}");
        assert!(json.contains(r#""engine":"memory""#), "{json}");
        assert!(json.contains(r#""gets":0"#), "{json}");
        assert!(json.contains(r#""status":"v1 only: no stats""#), "{json}");
        assert!(failure(&reports[..1]).is_none());
    }

    #[test]
    fn every_server_refusing_as_unauthenticated_is_a_failure_with_the_fix() {
        let keyless = || StatsAnswer::Refused(Reason::Unauthenticated);
        let all = vec![report(1, keyless()), report(2, keyless())];
        let (code, message) = failure(&all).unwrap();
        assert_eq!(code, crate::commands::exit::QUORUM);
        assert!(
            message.starts_with("2 of 2 servers refused the STATS request as unauthenticated")
                && message.contains("--key-file FILE")
                && message.contains(crate::limits::KEY_FILE_ENV),
            "{message}"
        );
        // One refusing among servers that answered: its row says so.
        let stats = ServerStats::from_raw(ServerFigures::default().pairs());
        let mixed = vec![
            report(1, keyless()),
            report(2, StatsAnswer::Stats(Box::new(stats))),
        ];
        assert!(failure(&mixed).is_none());
        // Refusals and no counters from anyone (a v1-only server): failed.
        let none = vec![report(1, keyless()), report(2, StatsAnswer::V1Only)];
        assert!(failure(&none).is_some());
        // Silent servers and refusals: both in the one line.
        let silent = vec![report(1, keyless()), report(2, StatsAnswer::NoAnswer)];
        let (_, message) = failure(&silent).unwrap();
        assert!(
            message.contains("did not answer: 127.0.0.1:2") && message.contains("--key-file"),
            "{message}"
        );
    }
}
