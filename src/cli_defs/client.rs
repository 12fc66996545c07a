//! `dkvs-client`'s command line (docs/CLI.md) and the turning of it into a
//! [`Command`], including the value of `put` read from standard input
//! (`-`) or from a file (`--value-file`).

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cli::ClusterArgs;
use crate::commands::{Command, CommandError, exit};
use crate::protocol::MAX_VALUE_LEN;

/// The client's usage line, printed after usage errors found past argument parsing.
pub const USAGE: &str =
    "Usage: dkvs-client <command> [-n N] [-w W] [-r R] [other options] -- <arguments>...";

/// Quorum reads and writes on a dkvs cluster.
///
/// Prints `OK …` on success, or `FAIL` with an `ERROR: …` line on stderr.
/// Exit status: 0 success, 1 operation failed (substr out of range, cat too
/// long, put or del refused), 2 usage error, 3 configuration error, 4 not
/// found, 5 quorum not reached / network (also when servers refused the
/// request as unauthenticated: the cluster has a key; pass --key-file),
/// 6 this machine's clock is off (servers refused a write stamped too far
/// ahead of their clocks, or keep a version too far ahead of it to follow).
///
/// Speaks protocol v2 (versions, deletes, request ids) to servers that do,
/// and v1 to the others (found out on the first request). A get sends the
/// newest version to servers that answered an older one (read repair),
/// after printing its answer. `del` needs v2: servers that speak only v1
/// cannot delete and count as refusals.
///
/// `put -- <key> -` reads the value from standard input, `put --value-file
/// FILE -- <key>` from a file. With --json the answer is one JSON object
/// on stdout instead: {"ok":true} (put, del, cat, substr),
/// {"ok":true,"value":"…"} (get; "value_hex" instead of "value" when the
/// bytes are not UTF-8), {"ok":true,"position":N} (find), or
/// {"ok":false,"exit":CODE,"error":"…"}; the exit status is the same.
#[derive(Debug, Parser)]
#[command(
    name = "dkvs-client",
    version,
    after_long_help = super::SEE_ALSO,
    override_usage = "dkvs-client <command> [-n N] [-w W] [-r R] [other options] -- <arguments>..."
)]
pub struct Cli {
    /// The command and its arguments.
    #[command(subcommand)]
    pub command: Cmd,

    /// Replication factor: servers each request goes to [default: 3, lowered to the ring]
    #[arg(short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub n: Option<u32>,
    /// Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]
    #[arg(short = 'w', value_name = "W", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub w: Option<u32>,
    /// Read quorum: identical values a get needs [default: 2, lowered to N]
    #[arg(short = 'r', value_name = "R", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub r: Option<u32>,

    /// Print the answer (or the failure) as one JSON object on stdout, for scripts
    #[arg(long = "json", global = true)]
    pub json: bool,

    /// Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)
    #[arg(
        long = "hints",
        value_name = "MODE",
        default_value = "store",
        global = true
    )]
    pub hints: crate::client::HintMode,

    /// Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)
    #[arg(long = "protocol", value_name = "VERSION", default_value = "v2", value_parser = super::bench::protocol, global = true)]
    pub protocol: crate::client::ProtocolMode,

    /// Cluster file, deadline, logs and colour.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// One client command.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Print the value R servers agree on: `get -- <key>`
    Get {
        /// The key
        key: OsString,
    },
    /// Store a value on W servers: `put -- <key> <value>` (`-` reads standard input)
    Put {
        /// The key
        key: OsString,
        /// The value; `-` reads it from standard input
        #[arg(required_unless_present = "value_file", conflicts_with = "value_file")]
        value: Option<OsString>,
        /// Read the value from this file instead
        #[arg(long = "value-file", value_name = "FILE")]
        value_file: Option<PathBuf>,
    },
    /// Delete a key: a versioned tombstone on W servers (protocol v2; v1-only servers refuse): `del -- <key>`
    Del {
        /// The key
        key: OsString,
    },
    /// Concatenate values into <dest>: `cat -- <key1> [<key2>...] <dest>`
    Cat {
        /// The source keys, then the destination key
        #[arg(num_args = 2.., value_name = "KEY")]
        keys: Vec<OsString>,
    },
    /// Copy part of a value into <dest>: `substr -- <key> <position> <length> <dest>`
    #[command(allow_negative_numbers = true)]
    Substr {
        /// The source key
        key: OsString,
        /// Start: from 0 at the start, from -1 at the end
        #[arg(allow_negative_numbers = true)]
        position: i64,
        /// Bytes to copy (>= 0)
        #[arg(allow_negative_numbers = true)]
        length: i64,
        /// The destination key
        dest: OsString,
    },
    /// Print the position of <needle-key>'s value in <haystack-key>'s value, or -1
    Find {
        /// The key whose value is searched
        haystack: OsString,
        /// The key whose value is looked for
        needle: OsString,
    },
    /// Ask every server for its counters and print one table (a row per server)
    ///
    /// Every server of the cluster file is asked at once (protocol v2 STATS,
    /// resent within the deadline -t). One row per server: gets, puts,
    /// hits, misses, keys, bytes stored, memory, uptime, errors, refused
    /// and dropped requests, and the durable engine's syncs and database
    /// size (`-` for a server in memory); `no answer` for a server that stayed silent,
    /// `v1 only: no stats` for a server that speaks only protocol v1.
    /// --json prints every counter each server sent. Exit status 0 when
    /// every server answered, 5 otherwise (as a quorum or network failure),
    /// or when every server refused as unauthenticated (pass --key-file).
    /// Servers answer only sources in their --allow-dump list (loopback by
    /// default); the counters are described in docs/PROTOCOL.md, "STATS".
    Stats,
}

fn bytes(s: OsString) -> Vec<u8> {
    s.into_vec()
}

/// Reads a whole value from `source` (named `what` in errors): at most
/// [`MAX_VALUE_LEN`] bytes and no NUL byte (protocol v1's limits), else a
/// usage error.
pub fn read_value(source: impl Read, what: &str) -> Result<Vec<u8>, CommandError> {
    let mut value = Vec::new();
    let limit = u64::try_from(MAX_VALUE_LEN)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    source
        .take(limit)
        .read_to_end(&mut value)
        .map_err(|e| usage(format!("cannot read the value from {what}: {e}")))?;
    if value.len() > MAX_VALUE_LEN {
        return Err(usage(format!(
            "the value from {what} is longer than the {MAX_VALUE_LEN}-byte limit"
        )));
    }
    if value.contains(&0) {
        return Err(usage(format!(
            "the value from {what} contains a NUL byte (values cannot)"
        )));
    }
    Ok(value)
}

fn usage(message: String) -> CommandError {
    CommandError {
        message,
        code: exit::USAGE,
    }
}

impl Cmd {
    /// The command to run; `stdin` is read when `put`'s value is `-`.
    pub fn into_command(self, stdin: impl Read) -> Result<Command, CommandError> {
        Ok(match self {
            Cmd::Get { key } => Command::Get { key: bytes(key) },
            Cmd::Del { key } => Command::Del { key: bytes(key) },
            Cmd::Put {
                key,
                value,
                value_file,
            } => {
                let value = match (value, value_file) {
                    (_, Some(path)) => {
                        let what = format!("{}", path.display());
                        let file = std::fs::File::open(&path)
                            .map_err(|e| usage(format!("cannot open {what}: {e}")))?;
                        read_value(file, &what)?
                    }
                    (Some(v), None) if v == "-" => read_value(stdin, "standard input")?,
                    (Some(v), None) => bytes(v),
                    (None, None) => return Err(usage("put needs a value".into())),
                };
                Command::Put {
                    key: bytes(key),
                    value,
                }
            }
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
            // Not a quorum command: `dkvs-client` runs it with `crate::stats`.
            Cmd::Stats => return Err(usage("stats is not a data command".into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_a_reader_are_checked() {
        assert_eq!(read_value(&b"abc"[..], "x").unwrap(), b"abc");
        let big = vec![b'v'; MAX_VALUE_LEN];
        assert_eq!(read_value(&big[..], "x").unwrap().len(), MAX_VALUE_LEN);
        let too_big = vec![b'v'; MAX_VALUE_LEN + 1];
        assert_eq!(read_value(&too_big[..], "x").unwrap_err().code, exit::USAGE);
        assert_eq!(read_value(&b"a\0b"[..], "x").unwrap_err().code, exit::USAGE);
    }

    #[test]
    fn a_dash_value_reads_stdin() {
        let cli = Cli::try_parse_from(["dkvs-client", "put", "--", "k", "-"]).unwrap();
        let command = cli.command.into_command(&b"from stdin"[..]).unwrap();
        assert_eq!(
            command,
            Command::Put {
                key: b"k".to_vec(),
                value: b"from stdin".to_vec()
            }
        );
    }
}
