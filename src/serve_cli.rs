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
}

impl ServeCliError {
    /// The exit status it calls for.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeCliError::KeyFile(_) => exit::CONFIG,
            ServeCliError::V1With(_) | ServeCliError::Pairs(_) => exit::USAGE,
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
    Ok(ServeOptions::new(cli.ip, cli.port, cli.pairs)?
        .with_limits(Limits {
            auth,
            v1_only,
            ..cli.limits.limits()
        })
        .with_storage(cli.storage)
        .with_anti_entropy(cli.anti_entropy)
        .with_metrics(cli.metrics))
}

/// Checks the command line `dkvs-tui` will give each server it spawns
/// (`server_options` and the other per-server fields of `cluster.toml`)
/// against the server's options, so a misspelt option is a configuration
/// error at start, not a server that dies on spawn.
pub fn check_spawn_options(config: &ClusterConfig) -> Result<(), ConfigError> {
    use clap::Parser as _;
    for (i, spec) in config.servers.iter().enumerate() {
        if !spec.spawn {
            continue;
        }
        let words = std::iter::once(OsString::from("dkvs-server"))
            .chain(server_words(spec))
            .chain([spec.ip.to_string().into(), spec.port.to_string().into()]);
        if let Err(e) = Cli::try_parse_from(words) {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            return Err(ConfigError {
                file: config.source_name(),
                line: None,
                field: Some("server_options".into()),
                message: format!(
                    "server {} ({}): {}",
                    i + 1,
                    spec.addr(),
                    first.trim_start_matches("error: ")
                ),
            });
        }
    }
    Ok(())
}
