//! `dkvs-server`: one storage server on a UDP port (SPEC §5).

use std::process::ExitCode;

use clap::Parser;
use dkvs::cli;
use dkvs::server::ServeOptions;

/// Serve a dkvs store on UDP <IP>:<PORT> until SIGINT or SIGTERM.
///
/// Trailing <key> <value> pairs are stored at start exactly as if put.
/// Prints nothing in normal operation; errors go to stderr. Exit status:
/// 0 clean stop, 1 cannot serve (address in use, …), 2 usage error,
/// 3 unusable data directory (in use by another server, foreign, corrupt).
/// Abuse limits (allow lists, reply budget, memory) are explained in
/// docs/SECURITY.md.
///
/// Durable storage: with --data-dir DIR the pairs are kept in DIR and a
/// restart or a crash loses no acknowledged put (--sync always, the
/// default: each put is acknowledged once on disk, puts arriving together
/// share one sync). Without it they live in memory and a restart empties
/// the server. See docs/STORAGE.md.
#[derive(Debug, Parser)]
#[command(name = "dkvs-server", version, about, long_about)]
struct Cli {
    /// IPv4 address to bind
    ip: std::net::Ipv4Addr,
    /// UDP port to bind
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Initial pairs: <key> <value> ...
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "KEY VALUE"
    )]
    pairs: Vec<std::ffi::OsString>,
    #[command(flatten)]
    limits: dkvs::limits::LimitArgs,
    #[command(flatten)]
    storage: dkvs::engine::StorageArgs,
    /// More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse_or_exit(false);
    dkvs::logging::init(cli.verbose);
    let options = match ServeOptions::new(cli.ip, cli.port, cli.pairs) {
        Ok(o) => o.with_limits(cli.limits.limits()).with_storage(cli.storage),
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
