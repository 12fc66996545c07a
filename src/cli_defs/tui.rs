//! `dkvs-tui`'s command line (docs/TUI.md).

use std::path::PathBuf;

use clap::Parser;

use crate::cli::ClusterArgs;

/// Run a local dkvs cluster in one terminal: ring, live status, a REPL with
/// quorum traces, process control (kill, stop, pause…) and what-if questions.
///
/// Without a terminal on standard input (or with --shell) it reads REPL
/// commands line by line instead and prints their results as text.
#[derive(Debug, Parser)]
#[command(
    name = "dkvs-tui",
    version,
    after_long_help = super::SEE_ALSO,
    mut_arg("servers", |a| a.help(
        "The cluster file, like the positional CONFIG [default: $DKVS_SERVERS, else ./cluster.toml, else ./servers.txt]"
    ))
)]
pub struct Cli {
    /// The cluster file (cluster.toml, or servers.txt format) [default:
    /// $DKVS_SERVERS, else ./cluster.toml, else ./servers.txt]
    pub config: Option<PathBuf>,

    /// A line shell instead of the full-screen UI
    #[arg(long)]
    pub shell: bool,

    /// In piped mode, do not echo each command as `> <line>` before its output
    #[arg(long)]
    pub no_echo: bool,

    /// Start with a guided lesson: a bundled lesson's number (see the REPL's
    /// `lesson`) or a lesson file
    #[arg(long, value_name = "N|FILE")]
    pub lesson: Option<String>,

    /// When the session ends, write FILE: the ring as SVG (FILE.svg) or the
    /// session's commands and results as Markdown (FILE.md); repeatable
    #[arg(long, value_name = "FILE")]
    pub export: Vec<PathBuf>,

    /// Cluster file, deadline, logs and colour.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}
