//! `dkvs-bench`: load generator for one dkvs server or a whole ring, in the
//! spirit of `redis-benchmark` (the work is in `dkvs::bench`, the command line in
//! `dkvs::cli_defs::bench`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use dkvs::bench::{self, Driver, Report, Stop, Target, Workload};
use dkvs::cli;
use dkvs::cli_defs::bench::Cli;
use dkvs::client::Client;
use dkvs::commands::exit;
use dkvs::quorum::QuorumOptions;

fn main() -> ExitCode {
    cli::main_with(cli::FailLine::None, run)
}

/// The whole benchmark; returns our exit status.
fn run(cli: Cli) -> u8 {
    cli.cluster.log.init_logging();
    let (target, timeout) = match target(&cli) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let workload = workload(&cli);
    if let Err(e) = workload.check() {
        return cli::fail(false, e, exit::USAGE);
    }
    let driver = driver(&cli, timeout);
    let report = match bench::run(target, workload, driver) {
        Ok(r) => r,
        Err(e) => return cli::fail(false, format!("cannot run: {e}"), exit::QUORUM),
    };
    if let Err(code) = write_report(&report, cli.json) {
        return code;
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
    exit::OK
}

/// What to drive and the deadline of one operation: `--server`'s one server
/// with unsigned v1 datagrams, else the ring of the configuration; `Err` is
/// the exit code of a usage or configuration error, already reported.
fn target(cli: &Cli) -> Result<(Target, Duration), u8> {
    match cli.server {
        // A key (the option; the environment variable is for ring runs)
        // asks for signed requests, which --server's v1 cannot carry.
        Some(_) if cli.cluster.key_file.is_some() => Err(cli::fail(
            false,
            "--server drives one server with unsigned v1 datagrams, which a server with a key refuses: drop --key-file, or use -s FILE with --key-file to bench the keyed ring",
            exit::USAGE,
        )),
        Some(addr) => Ok((
            Target::Direct(addr),
            Duration::from_millis(cli.cluster.timeout_ms.unwrap_or(1000)),
        )),
        None => ring_target(cli),
    }
}

/// The ring of the configuration, with the quorum options checked.
fn ring_target(cli: &Cli) -> Result<(Target, Duration), u8> {
    let options = QuorumOptions {
        n: cli.n,
        w: cli.w,
        r: cli.r,
    };
    let config = match cli.cluster.load() {
        Ok(c) => c,
        Err(e) => return Err(cli::config_failure(false, &e)),
    };
    let timeout = cli.cluster.timeout(&config);
    let client = Client::new(config)
        .with_timeout(timeout)
        .with_protocol(cli.protocol);
    if let Err(e) = client.quorum(options) {
        return Err(cli::fail(false, e, exit::USAGE));
    }
    // Every request would fail at once, unsigned v1 being refused to
    // a client with a key: a usage error, not a spin.
    if let Err(e) = client.check_protocol() {
        return Err(cli::fail(false, e, exit::USAGE));
    }
    Ok((Target::Ring(Box::new(client), options), timeout))
}

/// The keys, values and operation mix of the command line.
fn workload(cli: &Cli) -> Workload {
    Workload {
        keys: cli.keys,
        distribution: cli.dist,
        value_size: usize::try_from(cli.value_size).unwrap_or(0),
        get_ratio: cli.mix.unwrap_or(cli.get_ratio),
        fill: cli.fill,
        seed: cli.seed,
    }
}

/// Concurrency, stop condition (10 seconds by default), rate and progress.
fn driver(cli: &Cli, timeout: Duration) -> Driver {
    let stop = match (cli.requests, cli.duration) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(d),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    Driver {
        concurrency: cli.concurrency as usize,
        stop,
        rate: cli.rate,
        timeout,
        progress: std::io::stderr().is_terminal() && !cli.json,
    }
}

/// Prints the report (text or one JSON line) on standard output; `Err` is
/// the exit code of a write error, already reported.
fn write_report(report: &Report, json: bool) -> Result<(), u8> {
    let text = if json {
        format!("{}\n", report.to_json())
    } else {
        report.to_text()
    };
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    drop(out);
    match written {
        Ok(()) => Ok(()),
        // A reader that stopped early (`| head -1`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(cli::fail(
            false,
            format!("cannot write the report: {e}"),
            exit::FAILED,
        )),
    }
}
