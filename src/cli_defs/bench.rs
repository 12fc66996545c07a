//! `dkvs-bench`'s command line and its value parsers.

use std::net::SocketAddrV4;
use std::time::Duration;

use clap::Parser;

use crate::bench::{self, Distribution};
use crate::cli::ClusterArgs;
use crate::client::ProtocolMode;

/// Measures dkvs: ops/s and latency percentiles of a get/put workload.
///
/// Drives one server directly with v1 datagrams (--server IP:PORT), or the
/// ring of -s FILE (servers.txt or cluster.toml) through quorum operations
/// with -n/-w/-r. Keys are 16 bytes (`key:000000000042`).
///
/// Exit status: 0 when at least one operation succeeded, 2 usage error,
/// 3 configuration error, 5 when every operation failed.
#[derive(Debug, Parser)]
#[command(name = "dkvs-bench", version, after_long_help = super::SEE_ALSO)]
pub struct Cli {
    /// Drive this one server directly with v1 datagrams instead of the ring
    #[arg(long = "server", value_name = "IP:PORT")]
    pub server: Option<SocketAddrV4>,

    /// Operations in flight
    #[arg(short = 'c', long = "concurrency", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// Number of distinct keys
    #[arg(long = "keys", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..bench::MAX_KEYS))]
    pub keys: u64,

    /// Key distribution: uniform, zipf (s = 0.99) or zipf:S
    #[arg(long = "dist", default_value = "uniform", value_name = "DIST")]
    pub dist: Distribution,

    /// Bytes per value written by puts (e.g. 100, 4KiB; at most 32753)
    #[arg(long = "value-size", value_name = "SIZE", default_value = "100B", value_parser = value_size)]
    pub value_size: u64,

    /// Fraction of gets, 0..1 (the rest are puts)
    #[arg(long = "get-ratio", default_value_t = 0.5, value_parser = ratio, conflicts_with = "mix")]
    pub get_ratio: f64,

    /// Shorthand for the mix: get (all gets), put (all puts) or GETS:PUTS (e.g. 9:1)
    #[arg(long = "mix", value_parser = mix, value_name = "MIX")]
    pub mix: Option<f64>,

    /// Put every key once, in order, then stop (to load data before a get run)
    #[arg(long = "fill")]
    pub fill: bool,

    /// Run this long (e.g. 500ms, 30s, 5m; a bare number is seconds, decimals allowed; at most 1d) [default: 10s unless --requests]
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = seconds, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Stop after this many operations
    #[arg(long = "requests", value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Open loop: this many operations per second in total (latency counted from the intended send time)
    #[arg(long = "rate", value_name = "OPS", value_parser = rate)]
    pub rate: Option<f64>,

    /// Replication factor for ring operations
    #[arg(short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub n: Option<u32>,
    /// Write quorum for ring operations
    #[arg(short = 'w', value_name = "W", value_parser = clap::value_parser!(u32).range(1..))]
    pub w: Option<u32>,
    /// Read quorum for ring operations
    #[arg(short = 'r', value_name = "R", value_parser = clap::value_parser!(u32).range(1..))]
    pub r: Option<u32>,

    /// Protocol of ring operations: v2 (v1 to servers that speak only v1) or v1 only
    #[arg(long = "protocol", value_name = "VERSION", default_value = "v2", value_parser = protocol)]
    pub protocol: ProtocolMode,

    /// Seed of the key and operation choices
    #[arg(long = "seed", default_value_t = 1)]
    pub seed: u64,

    /// Print the result as one JSON object on stdout
    #[arg(long = "json")]
    pub json: bool,

    /// Cluster file, deadline, logs and colour.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// A value one of the parsers below refuses, with the text given; clap
/// prints the message after the option's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// `--protocol`.
    #[error("'{0}': expected v1 or v2")]
    Protocol(String),
    /// `--get-ratio`.
    #[error("'{0}': expected a number from 0 to 1")]
    Ratio(String),
    /// `--mix`.
    #[error("'{0}': expected get, put or GETS:PUTS")]
    Mix(String),
    /// `--rate`.
    #[error("'{0}': expected operations per second > 0")]
    Rate(String),
}

/// Parses `--protocol`: `v1` (protocol v1 only) or `v2` (the client's default).
pub fn protocol(text: &str) -> Result<ProtocolMode, ValueError> {
    match text {
        "v1" => Ok(ProtocolMode::V1),
        "v2" => Ok(ProtocolMode::Auto),
        _ => Err(ValueError::Protocol(text.into())),
    }
}

/// Parses `--get-ratio`: a number from 0 to 1.
pub fn ratio(text: &str) -> Result<f64, ValueError> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(ValueError::Ratio(text.into())),
    }
}

/// Parses `--mix`: get, put or GETS:PUTS, as the fraction of gets.
pub fn mix(text: &str) -> Result<f64, ValueError> {
    let err = || ValueError::Mix(text.into());
    match text {
        "get" => Ok(1.0),
        "put" => Ok(0.0),
        _ => {
            let (g, p) = text.split_once(':').ok_or_else(err)?;
            let g: u32 = g.parse().map_err(|_| err())?;
            let p: u32 = p.parse().map_err(|_| err())?;
            let total = g.checked_add(p).filter(|t| *t > 0).ok_or_else(err)?;
            Ok(f64::from(g) / f64::from(total))
        }
    }
}

/// What `--duration` accepts: 1 ms to a day, bare numbers in seconds.
pub const DURATION: crate::units::DurationSpec =
    crate::units::DurationSpec::seconds(Duration::from_millis(1), Duration::from_secs(86_400));

/// Parses `--duration` ([`DURATION`]): `30s`, `5m`, or seconds with
/// decimals (`0.5`).
pub fn seconds(text: &str) -> Result<Duration, crate::units::DurationError> {
    DURATION.parse(text)
}

/// Parses `--value-size`: a size of at most the 32753 bytes a value can
/// have in a v1 put.
pub fn value_size(text: &str) -> Result<u64, crate::units::SizeError> {
    crate::units::parse_size_at_most(text, 32_753)
}

/// Parses `--rate`: operations per second, more than 0.
pub fn rate(text: &str) -> Result<f64, ValueError> {
    match text.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1e9 => Ok(r),
        _ => Err(ValueError::Rate(text.into())),
    }
}
