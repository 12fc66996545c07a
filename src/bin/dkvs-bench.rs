//! `dkvs-bench`: load generator for one dkvs server or a whole ring, in the
//! spirit of `redis-benchmark` (the work is in `dkvs::bench`).

use std::io::IsTerminal;
use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dkvs::bench::{self, Distribution, Driver, Stop, Target, Workload};
use dkvs::cli::{self, ClusterArgs};
use dkvs::client::Client;
use dkvs::commands::exit;
use dkvs::quorum::QuorumOptions;

/// Measures dkvs: ops/s and latency percentiles of a get/put workload.
///
/// Drives one server directly with v1 datagrams (--server IP:PORT), or the
/// ring of -s FILE (servers.txt or cluster.toml) through quorum operations
/// with -n/-w/-r. Keys are 16 bytes (`key:000000000042`).
///
/// Exit status: 0 when at least one operation succeeded, 2 usage error,
/// 3 configuration error, 5 when every operation failed.
#[derive(Debug, Parser)]
#[command(name = "dkvs-bench", version, about, long_about)]
struct Cli {
    /// Drive this one server directly with v1 datagrams instead of the ring
    #[arg(long = "server", value_name = "IP:PORT")]
    server: Option<SocketAddrV4>,

    /// Operations in flight
    #[arg(short = 'c', long = "concurrency", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: u32,

    /// Number of distinct keys
    #[arg(long = "keys", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..bench::MAX_KEYS))]
    keys: u64,

    /// Key distribution: uniform, zipf (s = 0.99) or zipf:S
    #[arg(long = "dist", default_value = "uniform", value_name = "DIST")]
    dist: Distribution,

    /// Bytes per value written by puts (at most 32753)
    #[arg(long = "value-size", default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=32753))]
    value_size: u64,

    /// Fraction of gets, 0..1 (the rest are puts)
    #[arg(long = "get-ratio", default_value_t = 0.5, value_parser = ratio, conflicts_with = "mix")]
    get_ratio: f64,

    /// Shorthand for the mix: get (all gets), put (all puts) or GETS:PUTS (e.g. 9:1)
    #[arg(long = "mix", value_parser = mix, value_name = "MIX")]
    mix: Option<f64>,

    /// Put every key once, in order, then stop (to load data before a get run)
    #[arg(long = "fill")]
    fill: bool,

    /// Run for this many seconds, decimals allowed [default: 10 unless --requests]
    #[arg(short = 'd', long = "duration", value_name = "SECONDS", value_parser = seconds, conflicts_with = "requests")]
    duration: Option<Duration>,

    /// Stop after this many operations
    #[arg(long = "requests", value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,

    /// Open loop: this many operations per second in total (latency counted from the intended send time)
    #[arg(long = "rate", value_name = "OPS", value_parser = rate)]
    rate: Option<f64>,

    /// Replication factor for ring operations
    #[arg(short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    n: Option<u32>,
    /// Write quorum for ring operations
    #[arg(short = 'w', value_name = "W", value_parser = clap::value_parser!(u32).range(1..))]
    w: Option<u32>,
    /// Read quorum for ring operations
    #[arg(short = 'r', value_name = "R", value_parser = clap::value_parser!(u32).range(1..))]
    r: Option<u32>,

    /// Seed of the key and operation choices
    #[arg(long = "seed", default_value_t = 1)]
    seed: u64,

    /// Print the result as one JSON object on stdout
    #[arg(long = "json")]
    json: bool,

    #[command(flatten)]
    cluster: ClusterArgs,
}

fn ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{text}': expected a number from 0 to 1")),
    }
}

fn mix(text: &str) -> Result<f64, String> {
    let err = || format!("'{text}': expected get, put or GETS:PUTS");
    match text {
        "get" => Ok(1.0),
        "put" => Ok(0.0),
        _ => {
            let (g, p) = text.split_once(':').ok_or_else(err)?;
            let g: u32 = g.parse().map_err(|_| err())?;
            let p: u32 = p.parse().map_err(|_| err())?;
            if g + p == 0 {
                return Err(err());
            }
            Ok(f64::from(g) / f64::from(g + p))
        }
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "'{text}': expected seconds, more than 0, at most 86400"
        )),
    }
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1e9 => Ok(r),
        _ => Err(format!("'{text}': expected operations per second > 0")),
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse_or_exit(false);
    dkvs::logging::init(cli.cluster.verbose);
    let options = QuorumOptions {
        n: cli.n,
        w: cli.w,
        r: cli.r,
    };
    let (target, timeout) = match cli.server {
        Some(addr) => (
            Target::Direct(addr),
            Duration::from_millis(cli.cluster.timeout_ms.unwrap_or(1000)),
        ),
        None => {
            let config = match cli.cluster.load() {
                Ok(c) => c,
                Err(e) => return cli::config_failure(false, &e),
            };
            let timeout = cli.cluster.timeout(&config);
            let client = Client::new(config).with_timeout(timeout);
            if let Err(e) = client.quorum(options) {
                return cli::fail(false, e, exit::USAGE);
            }
            (Target::Ring(client, options), timeout)
        }
    };
    let workload = Workload {
        keys: cli.keys,
        distribution: cli.dist,
        value_size: usize::try_from(cli.value_size).unwrap_or(0),
        get_ratio: cli.mix.unwrap_or(cli.get_ratio),
        fill: cli.fill,
        seed: cli.seed,
    };
    if let Err(e) = workload.check() {
        return cli::fail(false, e, exit::USAGE);
    }
    let stop = match (cli.requests, cli.duration) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(d),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    let driver = Driver {
        concurrency: cli.concurrency as usize,
        stop,
        rate: cli.rate,
        timeout,
        progress: std::io::stderr().is_terminal() && !cli.json,
    };
    let report = match bench::run(target, workload, driver) {
        Ok(r) => r,
        Err(e) => return cli::fail(false, format!("cannot run: {e}"), exit::QUORUM),
    };
    if cli.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.completed() == 0 && report.operations() > 0 {
        return cli::fail(
            false,
            format!(
                "no operation succeeded ({} timeouts, {} errors)",
                report.timeouts, report.errors
            ),
            exit::QUORUM,
        );
    }
    ExitCode::SUCCESS
}
