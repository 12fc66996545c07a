//! `dkvs-fault-proxy`'s command line.

use std::net::SocketAddrV4;

use clap::{Parser, ValueEnum};

use crate::cli::LogArgs;

/// Forward UDP between clients and one dkvs server, injecting faults.
///
/// Point clients at --listen instead of the server (a servers.txt listing
/// the proxy's address). Faults apply only to traffic through the proxy.
/// Prints `seed <N>` on stdout at start (pass it back with --seed to replay
/// the same decisions) and a summary at exit; runs until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "dkvs-fault-proxy", version, after_long_help = super::SEE_ALSO)]
pub struct Cli {
    /// Address clients send to
    #[arg(long, value_name = "IP:PORT")]
    pub listen: SocketAddrV4,
    /// The server's address
    #[arg(long, value_name = "IP:PORT")]
    pub upstream: SocketAddrV4,
    /// Percentage of datagrams dropped
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    pub drop: f64,
    /// Percentage of datagrams sent twice
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    pub dup: f64,
    /// Percentage of datagrams held back behind the next one
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    pub reorder: f64,
    /// Percentage of datagrams with one bit flipped
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    pub corrupt: f64,
    /// Delay added to every datagram (e.g. 50ms, 1.5s; a bare number is milliseconds)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = millis)]
    pub delay: u64,
    /// Uniform jitter around the delay (± DURATION; a bare number is milliseconds)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = millis)]
    pub jitter: u64,
    /// Drop everything (the server looks dead)
    #[arg(long)]
    pub black_hole: bool,
    /// Random seed [default: a random one, printed]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Which traffic the faults apply to
    #[arg(long, value_enum, default_value_t = Which::Both)]
    pub direction: Which,
    /// Logs and colour.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Which traffic the faults apply to (`--direction`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Which {
    /// Requests and replies
    Both,
    /// Client to server only
    Request,
    /// Server to client only
    Reply,
}

/// A `--drop`, `--dup`, `--reorder` or `--corrupt` value that is not a
/// percentage; clap prints the message after the option's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a percentage (0 to 100)")]
pub struct PercentError {
    /// The text given.
    pub text: String,
}

/// Parses a percentage, 0 to 100.
pub fn percent(s: &str) -> Result<f64, PercentError> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(PercentError { text: s.into() }),
    }
}

/// What `--delay` and `--jitter` accept: whole milliseconds, bare numbers
/// in ms.
pub const DELAY: crate::units::DurationSpec = crate::units::DurationSpec::millis(0, u64::MAX);

/// Parses `--delay` or `--jitter` into milliseconds ([`DELAY`]).
pub fn millis(text: &str) -> Result<u64, crate::units::DurationError> {
    DELAY.parse_whole(text)
}
