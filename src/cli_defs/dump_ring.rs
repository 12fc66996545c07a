//! `dkvs-dump-ring`'s command line (docs/CLI.md).

use clap::Parser;

use crate::cli::ClusterArgs;

/// Print the ring's nodes in order, then the contents of each server.
///
/// A server that does not answer within the deadline shows its header line
/// only. Exit status: 0 printed, 2 usage error, 3 configuration error,
/// 5 when a server refused its dump for want of the cluster's key (a
/// `WARNING:` line on stderr names it and the fix: --key-file or
/// DKVS_KEY_FILE).
#[derive(Debug, Parser)]
#[command(name = "dkvs-dump-ring", version, after_long_help = super::SEE_ALSO)]
pub struct Cli {
    /// The cluster file (same as --servers)
    #[arg(value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,

    /// After the first datagram of a dump, how long to wait for the next one (e.g. 500ms, 2s; a bare number is milliseconds; at most 1m)
    #[arg(long = "idle", value_name = "DURATION", default_value = "200ms", value_parser = idle)]
    pub idle_ms: u64,

    /// Instead of the contents, print each server's health as one table:
    /// keys, hints held for other servers, keys being handed off after a
    /// membership change, and replica divergence at the last anti-entropy
    /// round (from the servers' STATS; exit 5 when a server is silent, or
    /// when every server refused as unauthenticated)
    #[arg(long = "health")]
    pub health: bool,

    /// Cluster file, deadline, logs and colour.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What `--idle` accepts: 1 ms to a minute, bare numbers in ms.
pub const IDLE: crate::units::DurationSpec = crate::units::DurationSpec::millis(1, 60_000);

/// Parses `--idle` into milliseconds ([`IDLE`]).
pub fn idle(text: &str) -> Result<u64, crate::units::DurationError> {
    IDLE.parse_whole(text)
}
