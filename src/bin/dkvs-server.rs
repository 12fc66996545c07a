//! `dkvs-server`: one storage server on a UDP port (docs/CLI.md). The command
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
    let v1_only = cli.protocol == dkvs::client::ProtocolMode::V1;
    if v1_only && (auth.is_some() || cli.anti_entropy.servers.is_some()) {
        let other = if auth.is_some() {
            "--key-file (or DKVS_KEY_FILE): authentication needs"
        } else {
            "--servers: anti-entropy and hinted handoff need"
        };
        eprintln!(
            "ERROR: --protocol v1 cannot be combined with {other} protocol v2; drop one of them"
        );
        return ExitCode::from(dkvs::commands::exit::USAGE);
    }
    let options = match ServeOptions::new(cli.ip, cli.port, cli.pairs) {
        Ok(o) => o
            .with_limits(Limits {
                auth,
                v1_only,
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
