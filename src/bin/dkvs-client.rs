//! `dkvs-client`: one quorum command against the cluster (SPEC §6).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dkvs::cli::{self, ClusterArgs};
use dkvs::client::Client;
use dkvs::commands::{self, Command, exit};
use dkvs::quorum::QuorumOptions;

/// Quorum reads and writes on a dkvs cluster.
///
/// Usage: dkvs-client <command> [-n N] [-w W] [-r R] [other options] -- <arguments>...
///
/// Prints `OK …` on success, or `FAIL` with an `ERROR: …` line on stderr.
/// Exit status: 0 success, 1 operation failed (substr out of range, cat too
/// long, put or del refused), 2 usage error, 3 configuration error, 4 not
/// found, 5 quorum not reached / network.
///
/// Speaks protocol v2 (versions, deletes, request ids) to servers that do,
/// and v1 to the others (found out on the first request). A get sends the
/// newest version to servers that answered an older one (read repair),
/// after printing its answer. `del` needs v2: servers that speak only v1
/// cannot delete and count as refusals.
#[derive(Debug, Parser)]
#[command(
    name = "dkvs-client",
    version,
    about,
    long_about,
    override_usage = "dkvs-client <command> [-n N] [-w W] [-r R] [other options] -- <arguments>..."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,

    /// Replication factor: servers each request goes to [default: 3, lowered to the ring]
    #[arg(short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    n: Option<u32>,
    /// Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]
    #[arg(short = 'w', value_name = "W", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    w: Option<u32>,
    /// Read quorum: identical values a get needs [default: 2, lowered to N]
    #[arg(short = 'r', value_name = "R", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    r: Option<u32>,

    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the value R servers agree on: `get -- <key>`
    Get { key: OsString },
    /// Store a value on W servers: `put -- <key> <value>`
    Put { key: OsString, value: OsString },
    /// Delete a key: a versioned tombstone on W servers (protocol v2; v1-only servers refuse): `del -- <key>`
    Del { key: OsString },
    /// Concatenate values into <dest>: `cat -- <key1> [<key2>...] <dest>`
    Cat {
        #[arg(num_args = 2.., value_name = "KEY")]
        keys: Vec<OsString>,
    },
    /// Copy part of a value into <dest>: `substr -- <key> <position> <length> <dest>`
    #[command(allow_negative_numbers = true)]
    Substr {
        key: OsString,
        #[arg(allow_negative_numbers = true)]
        position: i64,
        #[arg(allow_negative_numbers = true)]
        length: i64,
        dest: OsString,
    },
    /// Print the position of <needle-key>'s value in <haystack-key>'s value, or -1
    Find {
        haystack: OsString,
        needle: OsString,
    },
}

/// The §6 usage line, printed after usage errors found past argument parsing.
const USAGE: &str =
    "Usage: dkvs-client <command> [-n N] [-w W] [-r R] [other options] -- <arguments>...";

fn bytes(s: OsString) -> Vec<u8> {
    s.into_vec()
}

impl Cmd {
    fn into_command(self) -> Command {
        match self {
            Cmd::Get { key } => Command::Get { key: bytes(key) },
            Cmd::Del { key } => Command::Del { key: bytes(key) },
            Cmd::Put { key, value } => Command::Put {
                key: bytes(key),
                value: bytes(value),
            },
            Cmd::Cat { mut keys } => {
                let dest = bytes(keys.pop().unwrap_or_default());
                Command::Cat {
                    sources: keys.into_iter().map(bytes).collect(),
                    dest,
                }
            }
            Cmd::Substr {
                key,
                position,
                length,
                dest,
            } => Command::Substr {
                key: bytes(key),
                position,
                length,
                dest: bytes(dest),
            },
            Cmd::Find { haystack, needle } => Command::Find {
                haystack: bytes(haystack),
                needle: bytes(needle),
            },
        }
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse_or_exit(true);
    dkvs::logging::init(cli.cluster.verbose);
    let config = match cli.cluster.load() {
        Ok(c) => c,
        Err(e) => return cli::config_failure(true, &e),
    };
    let timeout = cli.cluster.timeout(&config);
    let client = Client::new(config).with_timeout(timeout);
    let options = QuorumOptions {
        n: cli.n,
        w: cli.w,
        r: cli.r,
    };
    let quorum = match client.quorum(options) {
        Ok(q) => q,
        Err(e) => {
            let code = cli::fail(true, &e, exit::USAGE);
            eprintln!("{USAGE}");
            return code;
        }
    };
    let command = cli.command.into_command();
    let runtime = match cli::runtime() {
        Ok(r) => r,
        Err(e) => return cli::fail(true, format!("cannot start: {e}"), exit::QUORUM),
    };
    let outcome = runtime.block_on(commands::execute(&client, &command, quorum, &mut |_| {}));
    let code = report(outcome.result);
    // Read repairs go out after the answer is printed (off its latency).
    for repair in runtime.block_on(client.finish_repairs()) {
        tracing::debug!(key = ?String::from_utf8_lossy(&repair.key), verdict = ?repair.verdict, "read repair");
    }
    code
}

/// Prints the command's result and turns it into the exit status.
fn report(result: Result<commands::Success, commands::CommandError>) -> ExitCode {
    match result {
        Ok(success) => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = success.write_line(&mut out) {
                eprintln!("ERROR: cannot write the answer: {e}");
                return ExitCode::from(exit::FAILED);
            }
            if let Err(e) = std::io::Write::flush(&mut out) {
                eprintln!("ERROR: cannot write the answer: {e}");
                return ExitCode::from(exit::FAILED);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = cli::fail(true, &e, e.code);
            if e.code == exit::USAGE {
                // An argument the command cannot take (an empty key, …).
                eprintln!("{USAGE}");
            }
            code
        }
    }
}
