//! `dkvs-server`'s command line (docs/CLI.md).

use clap::Parser;

use crate::cli::LogArgs;

/// Serve a dkvs store on UDP <IP>:<PORT> until SIGINT or SIGTERM.
///
/// Trailing <key> <value> pairs are stored at start exactly as if put.
/// Prints nothing in normal operation; errors go to stderr. Exit status:
/// 0 clean stop, 1 cannot serve (address in use, …), 2 usage error,
/// 3 unusable data directory (in use by another server, foreign, corrupt).
/// `dkvs-server --check DIR` checks a data directory offline instead of
/// serving (exit 0 clean, 1 damage found, 3 not a data directory).
/// Abuse limits (allow lists, reply budget, memory) are explained in
/// docs/SECURITY.md.
///
/// Durable storage: with --data-dir DIR the pairs are kept in DIR and a
/// restart or a crash loses no acknowledged put (--sync always, the
/// default: each put is acknowledged once on disk, puts arriving together
/// share one sync). Without it they live in memory and a restart empties
/// the server. See docs/STORAGE.md.
#[derive(Debug, Parser)]
#[command(name = "dkvs-server", version, after_long_help = super::SEE_ALSO)]
pub struct Cli {
    /// IPv4 address to bind
    #[arg(required = true)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// UDP port to bind
    #[arg(required = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Initial pairs: <key> <value> ...
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "KEY VALUE"
    )]
    pub pairs: Vec<std::ffi::OsString>,
    /// Abuse limits.
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
    /// Storage engine.
    #[command(flatten, next_help_heading = "Storage")]
    pub storage: crate::engine::StorageArgs,
    /// Ring knowledge and anti-entropy.
    #[command(flatten, next_help_heading = "Cluster")]
    pub anti_entropy: crate::anti_entropy::AntiEntropyArgs,
    /// Serve the server's counters (those of `dkvs-client stats`) and
    /// request latency histograms as Prometheus metrics over plain HTTP:
    /// `GET http://ADDR:PORT/metrics` (text format 0.0.4, docs/METRICS.md);
    /// none by default. Anyone who can reach ADDR can
    /// read them: prefer a loopback or private address.
    #[arg(long = "metrics", value_name = "ADDR:PORT", help_heading = crate::limits::NETWORK)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Protocols served: v2 (v2 and v1 on the same port) or v1 (protocol v1
    /// only, as a server of the original design: no versions, no deletes,
    /// v2 requests get the v1 refusal). v1 is for mixed clusters, tests and
    /// teaching; it cannot be combined with --key-file or --servers, which
    /// need v2.
    #[arg(long = "protocol", value_name = "VERSION", default_value = "v2", value_parser = super::bench::protocol,
          help_heading = crate::limits::NETWORK)]
    pub protocol: crate::client::ProtocolMode,
    /// Check the data directory DIR offline instead of serving, like
    /// redis-check-aof: every record's checksum is verified, each bad one
    /// printed (file, offset, key when readable, what is wrong), then a
    /// summary. Writes nothing; exit 0 when clean, 1 when damage was found,
    /// 3 when DIR is not a dkvs data directory. Safe while a server runs
    #[arg(long = "check", value_name = "DIR",
          conflicts_with_all = ["ip", "port", "pairs", "LimitArgs", "StorageArgs", "AntiEntropyArgs", "metrics", "protocol"],
          help_heading = "Storage")]
    pub check: Option<std::path::PathBuf>,
    /// Logs and colour.
    #[command(flatten, next_help_heading = "Logging")]
    pub log: LogArgs,
}
