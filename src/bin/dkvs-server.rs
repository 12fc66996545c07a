//! `dkvs-server`: one storage server on a UDP port (docs/CLI.md). The command
//! line is `dkvs::cli_defs::server`.

use std::process::ExitCode;

use dkvs::cli;
use dkvs::cli_defs::server::Cli;
use dkvs::commands::exit;

fn main() -> ExitCode {
    cli::main_with(cli::FailLine::None, run)
}

/// The whole server, until it stops; returns our exit status.
fn run(cli: Cli) -> u8 {
    cli.log.init_logging();
    let options = match dkvs::serve_cli::serve_options(cli) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ERROR: {e}");
            if matches!(e, dkvs::serve_cli::ServeCliError::Pairs(_)) {
                eprintln!("Usage: dkvs-server [options] <IP> <PORT> [<key> <value>]...");
            }
            return e.exit_code();
        }
    };
    match dkvs::server::serve_until_signal(options) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ERROR: {e}");
            e.exit_code
        }
    }
}
