//! Asking servers for their STATS and showing the answers: the table,
//! the health columns and the JSON report. The schema they read is the
//! wire crate's, re-exported here.

mod fetch;
mod render;

pub use dkvs_wire::stats::{
    CATALOGUE, Counter, Kind, ServerReport, ServerStats, StatsAnswer, Unit, counter,
};
pub use fetch::{FetchOptions, fetch_all, fetch_many, fetch_server};
pub use render::{
    HEALTH_COLUMNS, TABLE_COLUMNS, display_value, failure, human_bytes, human_duration,
    json_report, write_columns, write_table,
};
