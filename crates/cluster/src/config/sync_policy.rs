//! When a durable server syncs to disk: a setting of `cluster.toml` and
//! of `dkvs-server --sync`, so it lives with the cluster model.

use std::fmt;

/// When the durable engine syncs its data to disk (`--sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncPolicy {
    /// A put is acknowledged only after it is on disk (its write-ahead log
    /// entry fdatasynced; puts that arrive together share one sync).
    #[default]
    Always,
    /// A put is acknowledged once written to the operating system; the log
    /// is synced every `--sync-interval` (1 s by default): a crash of the
    /// machine loses at most that much, a crash of the server nothing.
    Periodic,
    /// A put is acknowledged once written to the operating system, which
    /// decides when it reaches the disk (plus a checkpoint every 10 s).
    None,
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncPolicy::Always => "always",
            SyncPolicy::Periodic => "periodic",
            SyncPolicy::None => "none",
        })
    }
}
