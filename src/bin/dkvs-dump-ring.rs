//! `dkvs-dump-ring`: the ring's nodes and every server's contents (SPEC §7).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dkvs::cli::{self, ClusterArgs};
use dkvs::commands::exit;
use dkvs::dump_ring;
use dkvs::ring::Ring;

/// Print the ring's nodes in order, then the contents of each server.
///
/// A server that does not answer within the deadline shows its header line
/// only. Exit status: 0 printed, 2 usage error, 3 configuration error.
#[derive(Debug, Parser)]
#[command(name = "dkvs-dump-ring", version, about, long_about)]
struct Cli {
    /// The cluster file (same as --servers)
    #[arg(value_name = "FILE")]
    file: Option<std::path::PathBuf>,

    /// After the first datagram of a dump, how long to wait for the next one (ms)
    #[arg(long = "idle", value_name = "MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    idle_ms: u64,

    #[command(flatten)]
    cluster: ClusterArgs,
}

fn main() -> ExitCode {
    let mut cli: Cli = cli::parse_or_exit(false);
    dkvs::logging::init(cli.cluster.verbose);
    if cli.file.is_some() {
        cli.cluster.servers = cli.file.take();
    }
    let config = match cli.cluster.load() {
        Ok(c) => c,
        Err(e) => return cli::config_failure(false, &e),
    };
    let ring = Ring::new(&config);
    let timeout = cli.cluster.timeout(&config);
    let runtime = match cli::runtime() {
        Ok(r) => r,
        Err(e) => return cli::fail(false, format!("cannot start: {e}"), exit::QUORUM),
    };
    let mut out = std::io::stdout().lock();
    let written = dump_ring::write_ring(&mut out, &config, &ring).and_then(|_| {
        out.flush()?;
        let replies = runtime.block_on(dump_ring::dump_all(
            &config,
            timeout,
            Duration::from_millis(cli.idle_ms),
        ));
        dump_ring::write_sections(&mut out, &config, &ring, &replies)?;
        out.flush()
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => cli::fail(false, format!("cannot write: {e}"), exit::FAILED),
    }
}
