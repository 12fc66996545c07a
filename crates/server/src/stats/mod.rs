//! The server's counters behind STATS and `/metrics`. The schema they
//! follow (names, kinds, units) is the wire crate's, re-exported here; the
//! request latency histograms and the Prometheus names are the endpoint's
//! alone (STATS does not carry them).

mod ae;
mod counters;
mod latency;
pub mod prometheus;

pub use ae::{AeStats, AeStatsSnapshot};
pub use counters::{
    DurableFigures, Op, OpCounters, OpTotals, Scrape, ServerFigures, Source, parse_vm_rss,
    rss_bytes,
};
pub use dkvs_wire::stats::{CATALOGUE, Counter, Kind, ServerStats, Unit, counter};
pub use latency::{
    BUCKET_LABELS, BUCKETS, BUCKETS_NS, BatchOps, HistogramSnapshot, Latency, LatencySnapshot,
    TIMED, Timed,
};
