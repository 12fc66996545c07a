//! `dkvs-client`: one quorum command against the cluster (docs/CLI.md). The
//! command line is `dkvs::cli_defs::client`; `--json` and `--color` shape
//! only how the answer is written.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use dkvs::cli;
use dkvs::cli_defs::client::{Cli, Cmd, USAGE};
use dkvs::client::Client;
use dkvs::commands::{self, CommandError, Success, exit};
use dkvs::config::ClusterConfig;
use dkvs::quorum::QuorumOptions;

/// How the answer is written on stdout.
#[derive(Debug, Clone, Copy)]
enum Output {
    /// `OK …`/`FAIL` lines; `color` paints `OK`/`FAIL` (only on request or
    /// on a terminal, never into a pipe by default).
    Text { color: bool },
    /// One JSON object (`cli::json_answer`).
    Json,
}

fn main() -> ExitCode {
    let fail_line = if cli::wants_json(std::env::args_os()) {
        cli::FailLine::Json
    } else {
        cli::FailLine::Fail
    };
    cli::main_with(fail_line, run)
}

/// The whole command; returns our exit status.
fn run(cli: Cli) -> u8 {
    cli.cluster.log.init_logging();
    let output = if cli.json {
        Output::Json
    } else {
        Output::Text {
            color: cli::use_color(cli.cluster.log.color, std::io::stdout().is_terminal()),
        }
    };
    let config = match cli.cluster.load() {
        Ok(c) => c,
        Err(e) => {
            return report(
                output,
                Err(CommandError {
                    message: format!("configuration: {e}"),
                    code: exit::CONFIG,
                }),
            );
        }
    };
    let timeout = cli.cluster.timeout(&config);
    if matches!(cli.command, Cmd::Stats) {
        return stats(&config, timeout, output);
    }
    let client = Client::new(config)
        .with_timeout(timeout)
        .with_hints(cli.hints)
        .with_protocol(cli.protocol);
    let options = QuorumOptions {
        n: cli.n,
        w: cli.w,
        r: cli.r,
    };
    if let Err(e) = client.check_protocol() {
        return report(
            output,
            Err(CommandError {
                message: e.to_string(),
                code: exit::USAGE,
            }),
        );
    }
    let quorum = match client.quorum(options) {
        Ok(q) => q,
        Err(e) => {
            return report(
                output,
                Err(CommandError {
                    message: e.to_string(),
                    code: exit::USAGE,
                }),
            );
        }
    };
    let command = match cli.command.into_command(std::io::stdin().lock()) {
        Ok(c) => c,
        Err(e) => return report(output, Err(e)),
    };
    tracing::debug!(
        ?quorum,
        ?timeout,
        servers = client.config().servers.len(),
        "running the command"
    );
    let runtime = match cli::runtime() {
        Ok(r) => r,
        Err(e) => {
            return report(
                output,
                Err(CommandError {
                    message: format!("cannot start: {e}"),
                    code: exit::QUORUM,
                }),
            );
        }
    };
    let outcome = runtime.block_on(commands::execute(&client, &command, quorum, &mut |_| {}));
    let code = report(output, outcome.result);
    // Read repairs go out after the answer is printed (off its latency).
    for repair in runtime.block_on(client.finish_repairs()) {
        tracing::debug!(key = %dkvs::preview::for_message(&repair.key), verdict = ?repair.verdict, "read repair");
    }
    code
}

/// Prints the command's result and turns it into the exit status. A
/// failure always also writes `ERROR: …` on stderr, plus the usage line
/// after a usage error.
fn report(output: Output, result: Result<Success, CommandError>) -> u8 {
    let mut out = std::io::stdout().lock();
    let (written, code) = match (&result, output) {
        (Ok(success), Output::Text { color }) => (
            cli::paint(&mut out, color, cli::Paint::Good, |o| success.write_line(o)),
            exit::OK,
        ),
        (Err(e), Output::Text { color }) => (
            cli::paint(&mut out, color, cli::Paint::Bad, |o| o.write_all(b"FAIL\n")),
            e.code,
        ),
        (_, Output::Json) => (
            writeln!(out, "{}", cli::json_answer(&result)),
            result.as_ref().map_or_else(|e| e.code, |_| exit::OK),
        ),
    };
    let flushed = written.and_then(|()| out.flush());
    drop(out);
    if let Err(e) = &result {
        eprintln!("ERROR: {e}");
        if e.code == exit::USAGE {
            // An argument the command cannot take (an empty key, …).
            eprintln!("{USAGE}");
        }
    }
    match flushed {
        Ok(()) => code,
        Err(e) if result.is_ok() => {
            eprintln!("ERROR: cannot write the answer: {e}");
            exit::FAILED
        }
        Err(_) => code,
    }
}

/// `dkvs-client stats`: every server's counters as a table (or one JSON
/// object); exit 0 when every server answered, else
/// `dkvs::stats::failure`'s code with one `ERROR: …` line naming the
/// silent servers.
fn stats(config: &ClusterConfig, timeout: Duration, output: Output) -> u8 {
    let runtime = match cli::runtime() {
        Ok(r) => r,
        Err(e) => {
            return report(
                output,
                Err(CommandError {
                    message: format!("cannot start: {e}"),
                    code: exit::QUORUM,
                }),
            );
        }
    };
    let options = dkvs::stats::FetchOptions::new(config, timeout);
    let reports = runtime.block_on(dkvs::stats::fetch_all(config, &options));
    let failure = dkvs::stats::failure(&reports);
    let mut out = std::io::stdout().lock();
    let written = match output {
        Output::Json => {
            let failure = failure.as_ref().map(|(c, m)| (*c, m.as_str()));
            writeln!(out, "{}", dkvs::stats::json_report(&reports, failure))
        }
        Output::Text { .. } => dkvs::stats::write_table(&mut out, &reports),
    };
    let flushed = written.and_then(|()| out.flush());
    drop(out);
    if let Err(e) = flushed {
        eprintln!("ERROR: cannot write the answer: {e}");
        return exit::FAILED;
    }
    match failure {
        Some((code, message)) => {
            eprintln!("ERROR: {message}");
            code
        }
        None => exit::OK,
    }
}
