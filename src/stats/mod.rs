//! Server statistics (protocol v2 STATS, `docs/PROTOCOL.md`), split by side:
//! the shared schema, the server's counters, and the client's fetching and
//! output. Every item is re-exported here, so `crate::stats::X` paths hold.

mod ae;
mod catalogue;
mod counters;
mod fetch;
mod render;
mod reply;

pub use ae::{AeStats, AeStatsSnapshot};
pub use catalogue::{CATALOGUE, Counter, Kind, Unit, counter};
pub use counters::{
    DurableFigures, Op, OpCounters, OpTotals, ServerFigures, Source, parse_vm_rss, rss_bytes,
};
pub use fetch::{FetchOptions, fetch_all, fetch_many, fetch_server};
pub use render::{
    HEALTH_COLUMNS, TABLE_COLUMNS, display_value, failure, human_bytes, human_duration,
    json_report, write_columns, write_table,
};
pub use reply::{ServerReport, ServerStats, StatsAnswer};
