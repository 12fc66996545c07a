//! The server's command line turned into what to serve, once: for
//! `dkvs-server` and for the servers `dkvs-tui` spawns (its hidden
//! `--serve-internal` mode), so both accept every server option.

use std::ffi::OsString;

use crate::cli_defs::server::Cli;
use crate::client::ProtocolMode;
use crate::config::{ClusterConfig, ConfigError};
use crate::exit;
use crate::limits::KeyFileLoadError;
use crate::server::{InitialPairError, Limits, ServeOptions};
use crate::supervisor::server_words;

/// Why a server's command line cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeCliError {
    /// `--key-file` names a file that does not load.
    #[error("{0}")]
    KeyFile(#[from] KeyFileLoadError),
    /// `--protocol v1` with an option that needs protocol v2.
    #[error("--protocol v1 cannot be combined with {0} protocol v2; drop one of them")]
    V1With(&'static str),
    /// The initial `<key> <value>` words.
    #[error("{0}")]
    Pairs(#[from] InitialPairError),
    /// No <IP> <PORT> (only `--check` goes without them).
    #[error("the address to serve is missing: <IP> <PORT>")]
    NoAddress,
}

impl ServeCliError {
    /// The exit status it calls for.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeCliError::KeyFile(_) => exit::CONFIG,
            ServeCliError::V1With(_) | ServeCliError::Pairs(_) | ServeCliError::NoAddress => {
                exit::USAGE
            }
        }
    }
}

/// The options `cli` asks for (logging aside: the caller starts it first).
pub fn serve_options(cli: Cli) -> Result<ServeOptions, ServeCliError> {
    let auth = cli.limits.auth()?;
    let v1_only = cli.protocol == ProtocolMode::V1;
    if v1_only && auth.is_some() {
        return Err(ServeCliError::V1With(
            "--key-file (or DKVS_KEY_FILE): authentication needs",
        ));
    }
    if v1_only && cli.anti_entropy.servers.is_some() {
        return Err(ServeCliError::V1With(
            "--servers: anti-entropy and hinted handoff need",
        ));
    }
    let (Some(ip), Some(port)) = (cli.ip, cli.port) else {
        return Err(ServeCliError::NoAddress);
    };
    Ok(ServeOptions::new(ip, port, cli.pairs)?
        .with_limits(Limits {
            auth,
            v1_only,
            ..cli.limits.limits()
        })
        .with_storage(cli.storage)
        .with_anti_entropy(cli.anti_entropy)
        .with_metrics(cli.metrics))
}

/// Serves as `cli` asks until SIGINT/SIGTERM (or, with `--check DIR`,
/// checks DIR: [`crate::data_check`]); returns the exit status,
/// every error reported as one `ERROR:` line (what the supervisor shows
/// for a spawned server). `best_effort_metrics`: a metrics port that
/// cannot be bound is logged and the server serves without it (the
/// servers `dkvs-tui` spawns, DECISIONS #89).
pub fn run(cli: Cli, best_effort_metrics: bool) -> u8 {
    cli.log.init_logging();
    if let Some(dir) = &cli.check {
        return crate::data_check::run(dir);
    }
    let metrics = cli.metrics;
    let pairs = !cli.pairs.is_empty();
    let options = match serve_options(cli) {
        Ok(o) if best_effort_metrics => o.with_best_effort_metrics(metrics),
        Ok(o) => o,
        Err(e) => {
            eprintln!("ERROR: {e}");
            if pairs && matches!(e, ServeCliError::Pairs(_)) {
                eprintln!("{}", usage());
            }
            return e.exit_code();
        }
    };
    match crate::server::serve_until_signal(options) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ERROR: {e}");
            e.exit_code
        }
    }
}

/// `dkvs-server`'s usage line, as clap renders it.
pub fn usage() -> String {
    use clap::CommandFactory as _;
    Cli::command()
        .name("dkvs-server")
        .render_usage()
        .to_string()
}

/// Checks the command line `dkvs-tui` will give each server it spawns
/// (`base`: the launcher's words after its hidden flag, then the
/// per-server fields and `server_options` of `cluster.toml`) against the
/// server's options and their rules, so a misspelt or conflicting option
/// is a configuration error at start, not a server that dies on spawn.
pub fn check_spawn_options(config: &ClusterConfig, base: &[OsString]) -> Result<(), ConfigError> {
    use clap::Parser as _;
    for (i, spec) in config.servers.iter().enumerate() {
        if !spec.spawn {
            continue;
        }
        let words = std::iter::once(OsString::from("dkvs-server"))
            .chain(base.iter().cloned())
            .chain(server_words(spec))
            .chain([spec.ip.to_string().into(), spec.port.to_string().into()]);
        let problem = match Cli::try_parse_from(words) {
            Err(e) => {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default().to_string();
                first.trim_start_matches("error: ").to_string()
            }
            Ok(cli) => match serve_options(cli) {
                Ok(_) => continue,
                Err(e) => e.to_string(),
            },
        };
        return Err(ConfigError {
            file: config.source_name(),
            line: None,
            field: Some("server_options".into()),
            message: format!("server {} ({}): {problem}", i + 1, spec.addr()),
        });
    }
    Ok(())
}
