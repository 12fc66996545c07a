//! `dkvs-dump-ring`: the ring's nodes and every server's contents (docs/CLI.md).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use dkvs::cli;
use dkvs::cli_defs::dump_ring::Cli;
use dkvs::commands::exit;
use dkvs::dump_ring;
use dkvs::ring::Ring;

fn main() -> ExitCode {
    cli::main_with(cli::FailLine::None, run)
}

/// The whole tool; returns our exit status.
fn run(mut cli: Cli) -> u8 {
    cli.cluster.log.init_logging();
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
    if cli.health {
        return health(&runtime, &config, timeout);
    }
    let mut out = std::io::stdout().lock();
    let mut warnings = Vec::new();
    let written = dump_ring::write_ring(&mut out, &config, &ring).and_then(|_| {
        out.flush()?;
        let replies = runtime.block_on(dump_ring::dump_all(
            &config,
            timeout,
            Duration::from_millis(cli.idle_ms),
        ));
        warnings = dump_ring::refusal_warnings(&config, &replies);
        dump_ring::write_sections(&mut out, &config, &ring, &replies)?;
        out.flush()
    });
    drop(out);
    // Stdout stays docs/CLI.md's text; a server that refused the dump for want
    // of a key is named on stderr, and the exit status is the one of a
    // server that did not answer (`dkvs-client stats`).
    for warning in &warnings {
        eprintln!("WARNING: {warning}");
    }
    let code = if warnings.is_empty() {
        exit::OK
    } else {
        exit::QUORUM
    };
    match written {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => cli::fail(false, format!("cannot write: {e}"), exit::FAILED),
    }
}

/// `--health`: one row per server from its STATS (issue 8 item 5).
fn health(
    runtime: &tokio::runtime::Runtime,
    config: &dkvs::ClusterConfig,
    timeout: Duration,
) -> u8 {
    let options = dkvs::stats::FetchOptions::new(config, timeout);
    let reports = runtime.block_on(dkvs::stats::fetch_all(config, &options));
    let mut out = std::io::stdout().lock();
    let written = dkvs::stats::write_columns(&mut out, &reports, dkvs::stats::HEALTH_COLUMNS)
        .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return cli::fail(false, format!("cannot write: {e}"), exit::FAILED);
    }
    match dkvs::stats::failure(&reports) {
        Some((code, message)) => cli::fail(false, message, code),
        None => exit::OK,
    }
}
