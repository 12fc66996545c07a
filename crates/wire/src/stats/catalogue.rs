//! The STATS schema: every counter's name, kind, unit and help, written once
//! and read by the server's reply, the client's table and JSON, and the
//! Prometheus endpoint (the server's `metrics`).

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
    /// Bytes (shown as 512B, 1.5KiB, 3MiB, 1GiB…).
    Bytes,
    /// Seconds (shown as 45s, 12m5s, 3h4m, 2d3h).
    Seconds,
}

/// One entry of the catalogue: a name a server may send in its STATS reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// The name in the STATS reply (the Prometheus endpoint maps it to a
    /// metric of its own naming: the server's `stats::prometheus`).
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
        "Puts refused by --max-memory.",
    ),
    entry(
        "over_disk",
        Kind::Counter,
        Unit::Count,
        "Puts refused by --max-disk or the disk's free-space reserve (durable engine).",
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
        "refused_corrupt",
        Kind::Counter,
        Unit::Count,
        "Gets refused because the key's stored record failed its check (REFUSED 12 corrupt; v1's empty refusal); read repair and anti-entropy refill it.",
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
        "corrupt_reads",
        Kind::Counter,
        Unit::Count,
        "Stored records that failed their check when read (gets, dumps, anti-entropy) and were not served (durable engine).",
    ),
    entry(
        "log_bytes",
        Kind::Gauge,
        Unit::Bytes,
        "Size of the durable engine's write-ahead log (redb engine only).",
    ),
    entry(
        "db_bytes",
        Kind::Gauge,
        Unit::Bytes,
        "Size of the durable engine's data: redb's database file, or the log engine's segment files.",
    ),
    entry(
        "sync_policy",
        Kind::Text,
        Unit::Count,
        "The durable engine's --sync policy.",
    ),
    entry(
        "durable_engine",
        Kind::Text,
        Unit::Count,
        "The engine of the data directory: log or redb (--engine; an existing directory keeps its own).",
    ),
];

/// The catalogue entry of `name`, if it is one dkvs knows.
pub fn counter(name: &str) -> Option<&'static Counter> {
    CATALOGUE.iter().find(|c| c.name == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// docs/PROTOCOL.md's STATS table has a row for every counter, with
    /// its kind, in the order servers send them.
    #[test]
    fn protocol_md_lists_every_counter() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/PROTOCOL.md"
        ))
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
}
