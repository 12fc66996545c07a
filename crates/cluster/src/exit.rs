//! Process exit codes of the command-line tools (documented in the README).
//! At the bottom of the crate, so the server and the CLI share them without
//! one depending on the other; `crate::commands::exit` re-exports it.

/// Success.
pub const OK: u8 = 0;
/// The operation failed for a reason of its own (substr out of range,
/// cat result too long, a put refused by the servers).
pub const FAILED: u8 = 1;
/// Usage error: bad command line.
pub const USAGE: u8 = 2;
/// Configuration error: bad or missing servers.txt / cluster.toml.
pub const CONFIG: u8 = 3;
/// The key is not found.
pub const NOT_FOUND: u8 = 4;
/// The quorum was not reached (servers down, disagreeing, or too slow),
/// or the network could not be used.
pub const QUORUM: u8 = 5;
/// This client's clock is off: servers refused its write as too far
/// ahead of their clocks (`--max-clock-offset`), or it is too far
/// behind to order its write after the newer one they keep.
pub const CLOCK: u8 = 6;
