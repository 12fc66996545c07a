//! `dkvs-server`: one storage server on a UDP port (SPEC §5). The command
//! line is `dkvs::cli_defs::server`.

use std::process::ExitCode;

use dkvs::cli;
use dkvs::cli_defs::server::Cli;
use dkvs::server::{Limits, ServeOptions};

fn main() -> ExitCode {
    let cli: Cli = cli::parse_or_exit(false);
    cli.log.init_logging();
    let auth = match cli.limits.auth() {
        Ok(auth) => auth,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::from(dkvs::commands::exit::CONFIG);
        }
    };
    let options = match ServeOptions::new(cli.ip, cli.port, cli.pairs) {
        Ok(o) => o
            .with_limits(Limits {
                auth,
                ..cli.limits.limits()
            })
            .with_storage(cli.storage)
            .with_anti_entropy(cli.anti_entropy)
            .with_metrics(cli.metrics),
        Err(e) => {
            eprintln!("ERROR: {e}");
            eprintln!("Usage: dkvs-server [options] <IP> <PORT> [<key> <value>]...");
            return ExitCode::from(dkvs::commands::exit::USAGE);
        }
    };
    match dkvs::server::serve_until_signal(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {e}");
            ExitCode::from(e.exit_code)
        }
    }
}
