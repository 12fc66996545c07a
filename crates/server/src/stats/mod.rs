//! The server's counters behind STATS and `/metrics`. The schema they
//! follow (names, kinds, units) is the wire crate's, re-exported here.

mod ae;
mod counters;

pub use ae::{AeStats, AeStatsSnapshot};
pub use counters::{
    DurableFigures, Op, OpCounters, OpTotals, ServerFigures, Source, parse_vm_rss, rss_bytes,
};
pub use dkvs_wire::stats::{CATALOGUE, Counter, Kind, ServerStats, Unit, counter};
