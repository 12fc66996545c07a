//! Server statistics (protocol v2 STATS, `docs/PROTOCOL.md`), split by side:
//! the shared schema, the server's counters, and the client's fetching and
//! output. Every item is re-exported here, so `crate::stats::X` paths hold.

mod fetch;
mod render;

pub use dkvs_server::stats::*;
pub use dkvs_wire::stats::{ServerReport, StatsAnswer};
pub use fetch::{FetchOptions, fetch_all, fetch_many, fetch_server};
pub use render::{
    HEALTH_COLUMNS, TABLE_COLUMNS, display_value, failure, human_bytes, human_duration,
    json_report, write_columns, write_table,
};
