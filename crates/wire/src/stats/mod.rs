//! The STATS schema shared by the server that answers and the client that
//! asks: every counter's name, kind and unit, and the decoded reply.

mod catalogue;
mod reply;

pub use catalogue::{CATALOGUE, Counter, Kind, Unit, counter};
pub use reply::{ServerReport, ServerStats, StatsAnswer};
