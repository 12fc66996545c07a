//! `dkvs-server`: one storage server on a UDP port (docs/CLI.md). The command
//! line is `dkvs::cli_defs::server`.

use std::process::ExitCode;

use dkvs::cli;
use dkvs::cli_defs::server::Cli;

fn main() -> ExitCode {
    cli::main_with(cli::FailLine::None, run)
}

/// The whole server, until it stops; returns our exit status.
fn run(cli: Cli) -> u8 {
    dkvs::serve_cli::run(cli, false)
}
