//! STATS as the app sees it: the client's fetching and output beside the
//! server's counters (the TUI shows both), under one path.

pub use dkvs_client::stats::*;
pub use dkvs_server::stats::*;
