//! The command-line definitions (clap) of the tools, as a library.
//!
//! Why a library module: the binaries' `--help`, the man pages
//! (`man/*.1`) and the shell completions (`completions/`) must come from one
//! definition. The binaries in `src/bin/` parse with these types; the
//! generator (`tests/man_pages.rs`, clap_mangen and clap_complete) renders
//! [`commands`]; nothing is written twice.

pub mod bench;
pub mod client;
pub mod dump_ring;
pub mod fault_proxy;
pub mod man;
pub mod server;
pub mod tui;

use clap::CommandFactory;

/// The last paragraph of every tool's `--help`, and so of its man page.
pub const SEE_ALSO: &str = "See also: dkvs-tui(1), dkvs-server(1), dkvs-client(1), dkvs-dump-ring(1), dkvs-bench(1), \
dkvs-fault-proxy(1), servers.txt(5), cluster.toml(5); the README and docs/ of the repository.";

/// Every tool whose command line is defined here, as clap commands named
/// like their binaries (what the man pages and completions are made from).
pub fn commands() -> Vec<clap::Command> {
    vec![
        client::Cli::command(),
        dump_ring::Cli::command(),
        bench::Cli::command(),
        tui::Cli::command(),
        fault_proxy::Cli::command(),
        server::Cli::command(),
    ]
}
