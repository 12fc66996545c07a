//! The five data commands of `dkvs-client` (docs/CLI.md) — get, put, cat,
//! substr, find — built on
//! quorum operations, shared by `dkvs-client` and the REPL so that both give
//! the same answers, the same `OK …`/`FAIL` lines and the same exit codes.

use std::fmt;
use std::io::Write;

use crate::client::{Client, Observer};
use crate::protocol::MAX_VALUE_LEN;
use crate::quorum::Quorum;
use crate::trace::{Failure, Trace, Verdict};

/// Process exit codes of the command-line tools (documented in the README);
/// they live in [`crate::exit`], re-exported here so
/// `commands::exit::X` keeps working.
pub use dkvs_cluster::exit;

/// A data command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read a key.
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// Write a key.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete a key: a versioned tombstone written with quorum W (protocol
    /// v2; refused by servers that speak only v1).
    Del {
        /// The key.
        key: Vec<u8>,
    },
    /// Concatenate sources into `dest`.
    Cat {
        /// The keys to read, in order.
        sources: Vec<Vec<u8>>,
        /// Where to write the result.
        dest: Vec<u8>,
    },
    /// Copy a byte range of `key` into `dest`.
    Substr {
        /// The key to read.
        key: Vec<u8>,
        /// Start: from 0 at the start, or from -1 at the end.
        position: i64,
        /// Number of bytes (>= 0).
        length: i64,
        /// Where to write the result.
        dest: Vec<u8>,
    },
    /// Leftmost position of one value inside another.
    Find {
        /// The key whose value is searched.
        haystack: Vec<u8>,
        /// The key whose value is searched for.
        needle: Vec<u8>,
    },
}

impl Command {
    /// Whether the command reads (uses R) and writes (uses W).
    pub fn uses(&self) -> (bool, bool) {
        match self {
            Command::Get { .. } | Command::Find { .. } => (true, false),
            Command::Put { .. } | Command::Del { .. } => (false, true),
            Command::Cat { .. } | Command::Substr { .. } => (true, true),
        }
    }
}

/// What a successful command prints after `OK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Success {
    /// `OK`
    Done,
    /// `OK <value>`
    Value(Vec<u8>),
    /// `OK <position>`
    Position(i64),
}

impl Success {
    /// Writes the client's success line (`OK`, `OK <value>` with the value's
    /// raw bytes, or `OK <position>`), newline included.
    pub fn write_line(&self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            Success::Done => out.write_all(b"OK\n"),
            Success::Value(v) => {
                out.write_all(b"OK ")?;
                out.write_all(v)?;
                out.write_all(b"\n")
            }
            Success::Position(p) => writeln!(out, "OK {p}"),
        }
    }
}

impl fmt::Display for Success {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Success::Done => f.write_str("OK"),
            Success::Value(v) => write!(f, "OK {}", String::from_utf8_lossy(v)),
            Success::Position(p) => write!(f, "OK {p}"),
        }
    }
}

/// Why a command failed, with the exit code it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// One line, without the `ERROR: ` prefix.
    pub message: String,
    /// Process exit code (see [`exit`]).
    pub code: u8,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of a command and the traces of the quorum operations it ran.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every quorum operation, in order.
    pub traces: Vec<Trace>,
    /// Success or failure.
    pub result: Result<Success, CommandError>,
}

/// The start of `substr`'s range, or `None` when it falls outside the value
/// (position from 0 at the start or from -1 at the end, length >= 0).
pub fn substr_range(
    value_len: usize,
    position: i64,
    length: i64,
) -> Option<std::ops::Range<usize>> {
    if length < 0 {
        return None;
    }
    let len = i64::try_from(value_len).ok()?;
    let start = if position < 0 {
        len.checked_add(position)?
    } else {
        position
    };
    let end = start.checked_add(length)?;
    (start >= 0 && end <= len).then_some(start as usize..end as usize)
}

/// Leftmost byte position of `needle` in `haystack`, or -1 (`find`).
pub fn find_position(haystack: &[u8], needle: &[u8]) -> i64 {
    memchr::memmem::find(haystack, needle).map_or(-1, |p| p as i64)
}

fn failed(message: impl Into<String>, code: u8) -> CommandError {
    CommandError {
        message: message.into(),
        code,
    }
}

/// The error for a trace that did not reach its quorum.
pub fn trace_error(trace: &Trace) -> Option<CommandError> {
    let Verdict::Failed(f) = &trace.verdict else {
        return None;
    };
    let reason = trace.failure_reason().unwrap_or_default();
    let key = crate::preview::for_message(&trace.key);
    let code = match f {
        Failure::NotFound => exit::NOT_FOUND,
        Failure::Invalid(_) => exit::USAGE,
        // Refused for want of a key: the cluster cannot be used, as when
        // the quorum is not reached (DECISIONS, review of issue 7).
        _ if trace.failed_unauthenticated() => exit::QUORUM,
        _ if trace.failed_clock() => exit::CLOCK,
        Failure::NotEnough
            if trace.replicas.iter().any(|r| {
                matches!(
                    r.reply,
                    Some(crate::trace::Reply::Refused(_) | crate::trace::Reply::V1Only)
                )
            }) =>
        {
            exit::FAILED
        }
        Failure::NotEnough
        | Failure::Timeout
        | Failure::Network(_)
        | Failure::Superseded(_)
        | Failure::ClockBehind { .. } => exit::QUORUM,
    };
    let message = match f {
        Failure::NotFound => format!("key {key} not found"),
        _ => format!("{} {key}: {reason}", trace.kind),
    };
    Some(failed(message, code))
}

/// Runs `command` with `quorum`; `observer` sees every trace as it changes.
pub async fn execute(
    client: &Client,
    command: &Command,
    quorum: Quorum,
    observer: Observer<'_>,
) -> Outcome {
    let mut traces = Vec::new();
    let result = run(client, command, quorum, observer, &mut traces).await;
    Outcome { traces, result }
}

async fn read(
    client: &Client,
    key: &[u8],
    quorum: Quorum,
    observer: Observer<'_>,
    traces: &mut Vec<Trace>,
) -> Result<Vec<u8>, CommandError> {
    let trace = client.get_traced(key, quorum, observer).await;
    let result = match trace_error(&trace) {
        Some(e) => Err(e),
        None => Ok(trace.value.clone().unwrap_or_default()),
    };
    traces.push(trace);
    result
}

async fn write(
    client: &Client,
    key: &[u8],
    value: &[u8],
    quorum: Quorum,
    observer: Observer<'_>,
    traces: &mut Vec<Trace>,
) -> Result<Success, CommandError> {
    let trace = client.put_traced(key, value, quorum, observer).await;
    done(trace, traces)
}

/// `OK`, or the trace's error; the trace joins `traces`. A write some
/// server answered OLDER is still `OK` (docs/CLI.md); it is logged as
/// superseded (`-v`), and the REPL's verdict line says so.
fn done(trace: Trace, traces: &mut Vec<Trace>) -> Result<Success, CommandError> {
    for r in &trace.restamps {
        tracing::info!("{} {r}", trace.kind);
    }
    if let Some(newer) = trace.superseded_by() {
        tracing::warn!(
            version = %crate::trace::version_text(newer),
            "{} acknowledged but superseded: a server keeps a newer version of the key",
            trace.kind
        );
    }
    let result = match trace_error(&trace) {
        Some(e) => Err(e),
        None => Ok(Success::Done),
    };
    traces.push(trace);
    result
}

async fn run(
    client: &Client,
    command: &Command,
    quorum: Quorum,
    observer: Observer<'_>,
    traces: &mut Vec<Trace>,
) -> Result<Success, CommandError> {
    match command {
        Command::Get { key } => read(client, key, quorum, observer, traces)
            .await
            .map(Success::Value),
        Command::Put { key, value } => write(client, key, value, quorum, observer, traces).await,
        Command::Del { key } => done(client.delete_traced(key, quorum, observer).await, traces),
        Command::Cat { sources, dest } => {
            let mut joined = Vec::new();
            for key in sources {
                joined.extend(read(client, key, quorum, observer, traces).await?);
                if joined.len() > MAX_VALUE_LEN {
                    return Err(failed(
                        format!(
                            "the concatenation is longer than the {MAX_VALUE_LEN}-byte value limit"
                        ),
                        exit::FAILED,
                    ));
                }
            }
            write(client, dest, &joined, quorum, observer, traces).await
        }
        Command::Substr {
            key,
            position,
            length,
            dest,
        } => {
            let value = read(client, key, quorum, observer, traces).await?;
            let part = substr_range(value.len(), *position, *length).and_then(|r| value.get(r));
            let Some(part) = part else {
                return Err(failed(
                    format!(
                        "position {position} length {length} is outside the value of {} ({} bytes)",
                        crate::preview::for_message(key),
                        value.len()
                    ),
                    exit::FAILED,
                ));
            };
            write(client, dest, part, quorum, observer, traces).await
        }
        Command::Find { haystack, needle } => {
            let h = read(client, haystack, quorum, observer, traces).await?;
            let n = read(client, needle, quorum, observer, traces).await?;
            Ok(Success::Position(find_position(&h, &n)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(v: &str, p: i64, l: i64) -> Option<String> {
        substr_range(v.len(), p, l).map(|r| v[r].to_string())
    }

    #[test]
    fn substr_examples() {
        let e = "example";
        assert_eq!(sub(e, 0, 2).as_deref(), Some("ex"));
        assert_eq!(sub(e, 1, 1).as_deref(), Some("x"));
        assert_eq!(sub(e, 4, 3).as_deref(), Some("ple"));
        assert_eq!(sub(e, -1, 1).as_deref(), Some("e"));
        assert_eq!(sub(e, -2, 2).as_deref(), Some("le"));
        assert_eq!(sub(e, 2, 0).as_deref(), Some(""));
        assert_eq!(sub(e, -2, 0).as_deref(), Some(""));
        assert_eq!(sub(e, 5, 3), None);
        assert_eq!(sub(e, -1, 2), None);
        assert_eq!(sub(e, 5, -3), None);
        let h = "hello bbb";
        assert_eq!(sub(h, 2, 5).as_deref(), Some("llo b"));
        assert_eq!(sub(h, -5, 4).as_deref(), Some("o bb"));
        assert_eq!(sub(h, -2, 3), None);
        assert_eq!(sub(h, 3, 7), None);
        assert_eq!(sub(h, -10, 1), None);
        assert_eq!(sub(h, i64::MAX, 1), None);
        assert_eq!(sub(h, i64::MIN, 1), None);
        assert_eq!(sub(h, 1, i64::MAX), None);
        assert_eq!(sub("", 0, 0).as_deref(), Some(""));
    }

    #[test]
    fn find_examples() {
        assert_eq!(find_position(b"hello ab", b"hello a"), 0);
        assert_eq!(find_position(b"hello a", b"hello ab"), -1);
        assert_eq!(find_position(b"abcabc", b"ca"), 2);
        assert_eq!(find_position(b"abc", b""), 0);
    }

    #[test]
    fn success_lines() {
        let mut out = Vec::new();
        Success::Value(b"v w".to_vec())
            .write_line(&mut out)
            .unwrap();
        Success::Done.write_line(&mut out).unwrap();
        Success::Position(-1).write_line(&mut out).unwrap();
        assert_eq!(out, b"OK v w\nOK\nOK -1\n");
    }
}
