//! Pieces shared by the command-line front-ends: the configuration options,
//! how usage and configuration errors are reported, and exit codes.
//!
//! Every tool reports a failure the same way: `FAIL` on stdout (for the
//! client, whose stdout is its answer), one `ERROR: …` line on stderr, and a
//! documented exit code ([`crate::commands::exit`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::commands::exit;
use crate::config::{ClusterConfig, ConfigError};

/// Options every tool that reads the cluster configuration accepts.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The cluster file: servers.txt format, or cluster.toml when it ends in
    /// .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]
    // DKVS_SERVERS is read by `config::locate_path`, not by clap, so that an
    // empty variable counts as unset instead of being an empty file name.
    #[arg(
        short = 's',
        long = "servers",
        visible_alias = "config",
        value_name = "FILE",
        global = true
    )]
    pub servers: Option<PathBuf>,

    /// Operation deadline in milliseconds [default: timeout_ms of cluster.toml, else 1000]
    #[arg(short = 't', long = "timeout", value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000), global = true)]
    pub timeout_ms: Option<u64>,

    /// More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl ClusterArgs {
    /// Loads the configuration these options point at.
    pub fn load(&self) -> Result<ClusterConfig, ConfigError> {
        ClusterConfig::locate(self.servers.as_deref())
    }

    /// The deadline: the option, else the configuration's.
    pub fn timeout(&self, config: &ClusterConfig) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(config.defaults.timeout_ms))
    }
}

/// Parses the command line; on `--help`/`--version` prints and exits 0, on a
/// usage error prints `FAIL` (when `fail_line`), `ERROR: …` and the usage,
/// and exits with [`exit::USAGE`].
pub fn parse_or_exit<P: clap::Parser>(fail_line: bool) -> P {
    match P::try_parse() {
        Ok(p) => p,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                if fail_line {
                    println!("FAIL");
                }
                eprintln!("ERROR: a command is needed");
                let _ = e.print();
                std::process::exit(exit::USAGE as i32);
            }
            if fail_line {
                println!("FAIL");
            }
            let rendered = e.render().to_string();
            let rendered = rendered.strip_prefix("error: ").unwrap_or(&rendered);
            eprint!("ERROR: {rendered}");
            // Some clap errors (bad option values) carry no usage line; usage
            // errors always show the usage (SPEC §6).
            if !rendered.contains("Usage:") {
                eprintln!("{}", P::command().render_usage());
            }
            std::process::exit(exit::USAGE as i32);
        }
    }
}

/// Reports an error: `FAIL` on stdout when `fail_line`, `ERROR: message` on
/// stderr; returns `code` as the exit status.
pub fn fail(fail_line: bool, message: impl std::fmt::Display, code: u8) -> ExitCode {
    if fail_line {
        println!("FAIL");
    }
    eprintln!("ERROR: {message}");
    ExitCode::from(code)
}

/// Reports a configuration error (exit [`exit::CONFIG`]).
pub fn config_failure(fail_line: bool, e: &ConfigError) -> ExitCode {
    fail(fail_line, format!("configuration: {e}"), exit::CONFIG)
}

/// A single-threaded runtime for one-shot tools.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
