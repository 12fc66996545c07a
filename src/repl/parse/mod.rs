//! Parsing REPL lines (docs/TUI.md) into [`ReplCommand`]s.
//!
//! Words are separated by spaces; a word may be double-quoted with `\"` and
//! `\\` escapes; an unquoted `name=value` word is an option. Parsing checks
//! everything that can be checked without the network — arity, option names
//! and values, server names — so a bad line prints one clear error and
//! changes nothing.

mod partition;
mod teach;

use std::fmt;

use crate::commands::Command;
use crate::config::ClusterConfig;
use crate::quorum::QuorumOptions;

pub use teach::{ExportKind, LessonCommand, LessonSource, MAX_REPLAY_MS};

/// One word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word's bytes after quote removal.
    pub text: String,
    /// True when any part of it was quoted (quoted words are never options).
    pub quoted: bool,
}

/// A parse error: one line for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// Splits a line into words (double quotes group, `\"` and `\\` escape
/// inside quotes).
pub fn split_words(line: &str) -> Result<Vec<Word>, ParseError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = Word {
            text: String::new(),
            quoted: false,
        };
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c != '"' {
                word.text.push(c);
                continue;
            }
            word.quoted = true;
            loop {
                match chars.next() {
                    None => return err("unterminated quote: add the closing \""),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e @ ('"' | '\\')) => word.text.push(e),
                        Some(other) => {
                            word.text.push('\\');
                            word.text.push(other);
                        }
                        None => return err("unterminated quote: add the closing \""),
                    },
                    Some(other) => word.text.push(other),
                }
            }
        }
        words.push(word);
    }
}

/// A server named on a line, resolved to its index in the configuration.
pub type ServerIndex = usize;

/// Process actions on a spawned server (what the supervisor does to a
/// process; defined there).
pub use crate::supervisor::{NetEnd, ProcessAction};

/// The slow-motion setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slow {
    /// Show each reply after this many milliseconds.
    On(u64),
    /// Show results at once.
    Off,
}

/// A what-if question about membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhatIf {
    /// A new server with `nodes` virtual nodes.
    Add {
        /// Its address.
        addr: std::net::SocketAddrV4,
        /// Its virtual nodes.
        nodes: u32,
    },
    /// Removing a configured server.
    Remove(ServerIndex),
    /// `whatif nodes <server>=<k> …`: new virtual-node counts for some
    /// configured servers (in the order given; a server at most once).
    Nodes(Vec<(ServerIndex, u32)>),
    /// Clear the what-if view.
    Off,
}

/// A network fault injected between this session's client and one server
/// (through an in-process `fault_proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Drop this percentage (0..=100) of datagrams, both ways.
    Loss(u32),
    /// Delay every request by this many milliseconds.
    Delay(u64),
    /// Remove every fault: talk to the server directly again.
    Heal,
}

/// A cut between servers (and this machine's client), namespaces mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partition {
    /// Groups that no longer reach each other, both ways; ends not named
    /// reach everyone. Replaces the cuts in force.
    Groups(Vec<Vec<NetEnd>>),
    /// `from -> to`: packets from each of the first no longer reach each
    /// of the second. Added to the cuts in force.
    OneWay(Vec<NetEnd>, Vec<NetEnd>),
}

/// Longest `delay` accepted, in milliseconds.
pub const MAX_FAULT_DELAY_MS: u64 = 10_000;

/// A parsed REPL line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplCommand {
    /// get/put/del/cat/substr/find with their options.
    Data(Command, QuorumOptions),
    /// `where <key>`.
    Where(Vec<u8>),
    /// `ring`.
    Ring,
    /// `dump [<server>]`.
    Dump(Option<ServerIndex>),
    /// kill/stop/start/restart/pause/resume.
    Process(ProcessAction, ServerIndex),
    /// `status`.
    Status,
    /// `health`: per server, keys, hints held for others, keys moving
    /// after a membership change, replica divergence (issue 8).
    Health,
    /// `help [<command>]`.
    Help(Option<String>),
    /// `slow on|off|<ms>`.
    Slow(Slow),
    /// `skew [<±ms>|off]`: set (or show, `None`) how far this session's
    /// clock is from the system's.
    Skew(Option<i64>),
    /// `sloppy on|off`: whether hints count toward W (sloppy quorum).
    Sloppy(bool),
    /// `whatif add|remove|nodes|off`.
    WhatIf(WhatIf),
    /// `balance`: each server's share of the key space, primary and
    /// replica, against the ideal, and its stored keys.
    Balance,
    /// `loss|delay|heal <server> …`.
    Fault(Fault, ServerIndex),
    /// `partition a,b | c,d` or `partition a -> b` (namespaces mode).
    Partition(Partition),
    /// `heal` alone: every cut, loss and delay removed.
    HealAll,
    /// `net`: the hosts, the cuts and the faults in force.
    Net,
    /// `add <ip:port> [nodes=<k>] [metrics=…] [data_dir=…] [sync=…]`: a new
    /// server joins (membership change).
    Add {
        /// Its address (new, on 127.0.0.0/8 so dkvs-tui can start it).
        addr: std::net::SocketAddrV4,
        /// Its `cluster.toml` fields.
        server: crate::membership::NewServer,
    },
    /// `remove <server>`: a server leaves (membership change).
    Remove(ServerIndex),
    /// `lesson [<number>|<file>|next|back|end]`: guided lessons.
    Lesson(LessonCommand),
    /// `replay [<ms>]`: the last operation again, travelling on the ring.
    Replay(Option<u64>),
    /// `export ring <file.svg>` / `export transcript <file.md>`.
    Export(ExportKind, std::path::PathBuf),
    /// `quit`.
    Quit,
}

/// Every command word, for help and completion.
pub const COMMANDS: &[&str] = &[
    "put",
    "get",
    "del",
    "cat",
    "substr",
    "find",
    "where",
    "ring",
    "dump",
    "kill",
    "stop",
    "start",
    "restart",
    "pause",
    "resume",
    "status",
    "health",
    "slow",
    "skew",
    "sloppy",
    "whatif",
    "loss",
    "delay",
    "heal",
    "partition",
    "net",
    "add",
    "remove",
    "balance",
    "lesson",
    "replay",
    "export",
    "help",
    "quit",
];

impl fmt::Display for ReplCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Splits words into arguments and `name=value` options.
fn split_options(words: Vec<Word>) -> (Vec<Word>, Vec<(String, String)>) {
    let mut args = Vec::new();
    let mut options = Vec::new();
    for w in words {
        if !w.quoted
            && let Some((name, value)) = w.text.split_once('=')
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            options.push((name.to_string(), value.to_string()));
            continue;
        }
        args.push(w);
    }
    (args, options)
}

fn positive(name: &str, value: &str) -> Result<u32, ParseError> {
    match value.parse::<u32>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => err(format!(
            "{name}={value}: {name} must be a strictly positive integer"
        )),
    }
}

fn quorum_options(
    command: &str,
    options: &[(String, String)],
    allowed: &[&str],
) -> Result<QuorumOptions, ParseError> {
    let mut q = QuorumOptions::default();
    for (name, value) in options {
        if !allowed.contains(&name.as_str()) {
            let list: Vec<String> = allowed.iter().map(|a| format!("{a}=")).collect();
            return err(format!(
                "{command} does not take {name}=; its options are {}",
                list.join(" ")
            ));
        }
        let v = positive(name, value)?;
        match name.as_str() {
            "n" => q.n = Some(v),
            "w" => q.w = Some(v),
            _ => q.r = Some(v),
        }
    }
    Ok(q)
}

fn no_options(command: &str, options: &[(String, String)]) -> Result<(), ParseError> {
    match options.first() {
        Some((name, _)) => err(format!("{command} takes no options (got {name}=)")),
        None => Ok(()),
    }
}

fn arity(
    command: &str,
    args: &[Word],
    min: usize,
    max: usize,
    usage: &str,
) -> Result<(), ParseError> {
    if args.len() < min || args.len() > max {
        return err(format!("usage: {command} {usage}"));
    }
    Ok(())
}

/// The arguments when there are exactly `K` of them, else the usage error.
fn exactly<'a, const K: usize>(
    command: &str,
    args: &'a [Word],
    usage: &str,
) -> Result<&'a [Word; K], ParseError> {
    args.try_into()
        .map_err(|_| ParseError(format!("usage: {command} {usage}")))
}

/// Resolves a server name: 1-based position or `ip:port`.
pub fn resolve_server(config: &ClusterConfig, name: &str) -> Result<ServerIndex, ParseError> {
    config.find_server(name).ok_or_else(|| {
        ParseError(format!(
            "unknown server `{name}`: name it by its position 1..{} or as ip:port (see `status`)",
            config.servers.len()
        ))
    })
}

fn bytes(w: &Word) -> Vec<u8> {
    w.text.as_bytes().to_vec()
}

fn integer(name: &str, w: &Word) -> Result<i64, ParseError> {
    w.text
        .parse::<i64>()
        .map_err(|_| ParseError(format!("{name} `{}` is not an integer", w.text)))
}

/// Parses one line. `Ok(None)` for an empty line.
pub fn parse_line(line: &str, config: &ClusterConfig) -> Result<Option<ReplCommand>, ParseError> {
    let words = split_words(line)?;
    let Some(first) = words.first() else {
        return Ok(None);
    };
    if first.quoted {
        return err(format!("unknown command \"{}\"; type `help`", first.text));
    }
    let name = first.text.clone();
    let (args, options) = split_options(words.into_iter().skip(1).collect());
    let command = match name.as_str() {
        "put" | "del" | "get" | "cat" | "substr" | "find" => data_command(&name, &args, &options)?,
        "dump" | "kill" | "stop" | "start" | "restart" | "pause" | "resume" | "add" | "remove"
        | "loss" | "delay" | "heal" => server_command(&name, &args, &options, config)?,
        "slow" | "skew" | "sloppy" => setting(&name, &args, &options)?,
        "where" => {
            let [key] = exactly("where", &args, "<key>")?;
            no_options("where", &options)?;
            if key.text.is_empty() {
                return err("where: the key must not be empty");
            }
            ReplCommand::Where(bytes(key))
        }
        "partition" => {
            no_options("partition", &options)?;
            ReplCommand::Partition(partition::parse_partition(&args, config)?)
        }
        "ring" | "status" | "health" | "balance" | "net" | "quit" | "q" | "exit" => {
            arity(&name, &args, 0, 0, "")?;
            no_options(&name, &options)?;
            match name.as_str() {
                "ring" => ReplCommand::Ring,
                "net" => ReplCommand::Net,
                "balance" => ReplCommand::Balance,
                "status" => ReplCommand::Status,
                "health" => ReplCommand::Health,
                _ => ReplCommand::Quit,
            }
        }
        "help" | "?" => {
            arity("help", &args, 0, 1, "[<command>]")?;
            no_options("help", &options)?;
            ReplCommand::Help(args.first().map(|w| w.text.clone()))
        }
        "whatif" => parse_whatif(&args, &options, config)?,
        "lesson" | "replay" | "export" => teach::parse_teach(&name, &args, &options)?,
        other => {
            return err(format!(
                "unknown command `{other}`; type `help` for the list"
            ));
        }
    };
    Ok(Some(command))
}

/// The data commands (put, del, get, cat, substr, find) and their quorum
/// options.
fn data_command(
    name: &str,
    args: &[Word],
    options: &[(String, String)],
) -> Result<ReplCommand, ParseError> {
    Ok(match name {
        "put" => {
            let [key, value] = exactly("put", args, "<key> <value> [n=N] [w=W]")?;
            let q = quorum_options("put", options, &["n", "w"])?;
            ReplCommand::Data(
                Command::Put {
                    key: bytes(key),
                    value: bytes(value),
                },
                q,
            )
        }
        "del" => {
            let [key] = exactly("del", args, "<key> [n=N] [w=W]")?;
            let q = quorum_options("del", options, &["n", "w"])?;
            ReplCommand::Data(Command::Del { key: bytes(key) }, q)
        }
        "get" => {
            let [key] = exactly("get", args, "<key> [n=N] [r=R]")?;
            let q = quorum_options("get", options, &["n", "r"])?;
            ReplCommand::Data(Command::Get { key: bytes(key) }, q)
        }
        "cat" => {
            arity(
                "cat",
                args,
                2,
                usize::MAX,
                "<key>... <dest> [n=N] [r=R] [w=W]",
            )?;
            let q = quorum_options("cat", options, &["n", "r", "w"])?;
            let Some((dest, sources)) = args.split_last() else {
                return err("usage: cat <key>... <dest> [n=N] [r=R] [w=W]");
            };
            let dest = bytes(dest);
            let sources = sources.iter().map(bytes).collect();
            ReplCommand::Data(Command::Cat { sources, dest }, q)
        }
        "substr" => {
            let [key, position, length, dest] = exactly(
                "substr",
                args,
                "<key> <position> <length> <dest> [n=N] [r=R] [w=W]",
            )?;
            let q = quorum_options("substr", options, &["n", "r", "w"])?;
            ReplCommand::Data(
                Command::Substr {
                    key: bytes(key),
                    position: integer("position", position)?,
                    length: integer("length", length)?,
                    dest: bytes(dest),
                },
                q,
            )
        }
        "find" => {
            let [haystack, needle] =
                exactly("find", args, "<haystack-key> <needle-key> [n=N] [r=R]")?;
            let q = quorum_options("find", options, &["n", "r"])?;
            ReplCommand::Data(
                Command::Find {
                    haystack: bytes(haystack),
                    needle: bytes(needle),
                },
                q,
            )
        }
        other => {
            return err(format!(
                "unknown command `{other}`; type `help` for the list"
            ));
        }
    })
}

/// The commands that name a server: dump, process actions, membership,
/// faults.
fn server_command(
    name: &str,
    args: &[Word],
    options: &[(String, String)],
    config: &ClusterConfig,
) -> Result<ReplCommand, ParseError> {
    Ok(match name {
        "dump" => {
            arity("dump", args, 0, 1, "[<server>]")?;
            no_options("dump", options)?;
            let server = args
                .first()
                .map(|w| resolve_server(config, &w.text))
                .transpose()?;
            ReplCommand::Dump(server)
        }
        "kill" | "stop" | "start" | "restart" | "pause" | "resume" => {
            let [server] = exactly(name, args, "<server>")?;
            no_options(name, options)?;
            let action = match name {
                "kill" => ProcessAction::Kill,
                "stop" => ProcessAction::Stop,
                "start" => ProcessAction::Start,
                "restart" => ProcessAction::Restart,
                "pause" => ProcessAction::Pause,
                _ => ProcessAction::Resume,
            };
            ReplCommand::Process(action, resolve_server(config, &server.text)?)
        }
        "add" => {
            let [addr] = exactly(
                "add",
                args,
                "<ip:port> [nodes=<k>] [metrics=<ip:port>] [data_dir=<dir>] [sync=<policy>] [server_option=<name>=<value>]...",
            )?;
            let (addr, server) = new_server("add", &addr.text, options, config)?;
            if !addr.ip().is_loopback() {
                return err(format!(
                    "add: {addr} is not on 127.0.0.0/8: dkvs-tui starts only local servers"
                ));
            }
            ReplCommand::Add { addr, server }
        }
        "remove" => {
            let [server] = exactly("remove", args, "<server>")?;
            no_options("remove", options)?;
            let index = resolve_server(config, &server.text)?;
            if config.servers.len() < 2 {
                return err("remove: the ring would be empty (it has one server)");
            }
            ReplCommand::Remove(index)
        }
        "loss" | "delay" => {
            let usage = if name == "loss" {
                "<server> <percent 0..100>"
            } else {
                "<server> <ms 0..10000>"
            };
            let [server, amount] = exactly(name, args, usage)?;
            no_options(name, options)?;
            let server = resolve_server(config, &server.text)?;
            let amount = amount.text.trim_end_matches('%');
            let fault = match (name, amount.parse::<u64>(), millis(amount)) {
                ("loss", Ok(p), _) if p <= 100 => Fault::Loss(p as u32),
                ("delay", _, Some(ms)) if ms <= MAX_FAULT_DELAY_MS => Fault::Delay(ms),
                _ => return err(format!("usage: {name} {usage}")),
            };
            ReplCommand::Fault(fault, server)
        }
        "heal" => {
            no_options("heal", options)?;
            if args.is_empty() {
                return Ok(ReplCommand::HealAll);
            }
            let [server] = exactly("heal", args, "[<server>]")?;
            ReplCommand::Fault(Fault::Heal, resolve_server(config, &server.text)?)
        }
        other => {
            return err(format!(
                "unknown command `{other}`; type `help` for the list"
            ));
        }
    })
}

/// A whole number of milliseconds as every tool reads a duration
/// (`crate::units`): `250`, `250ms`, `1.5s`.
fn millis(text: &str) -> Option<u64> {
    crate::units::DurationSpec::millis(0, u64::MAX)
        .parse_whole(text)
        .ok()
}

/// [`millis`] with an optional sign: `+300`, `-2s`.
fn signed_millis(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(rest) => i64::try_from(millis(rest)?).ok().map(|v| -v),
        None => i64::try_from(millis(text.strip_prefix('+').unwrap_or(text))?).ok(),
    }
}

/// The session settings: slow motion and clock skew.
fn setting(
    name: &str,
    args: &[Word],
    options: &[(String, String)],
) -> Result<ReplCommand, ParseError> {
    Ok(match name {
        "slow" => {
            let [setting] = exactly("slow", args, "on|off|<ms>")?;
            no_options("slow", options)?;
            ReplCommand::Slow(match setting.text.as_str() {
                "on" => Slow::On(DEFAULT_SLOW_MS),
                "off" => Slow::Off,
                ms => match millis(ms) {
                    Some(0) => Slow::Off,
                    Some(v) if v <= 60_000 => Slow::On(v),
                    _ => return err("usage: slow on|off|<ms> (ms from 1 to 60000)"),
                },
            })
        }
        "sloppy" => {
            let [setting] = exactly("sloppy", args, "on|off")?;
            no_options("sloppy", options)?;
            ReplCommand::Sloppy(match setting.text.as_str() {
                "on" => true,
                "off" => false,
                _ => return err("usage: sloppy on|off"),
            })
        }
        "skew" => {
            arity("skew", args, 0, 1, "[<±ms>|off]")?;
            no_options("skew", options)?;
            ReplCommand::Skew(match args.first().map(|w| w.text.as_str()) {
                None => None,
                Some("off") => Some(0),
                Some(ms) => match signed_millis(ms) {
                    Some(v) if v.unsigned_abs() <= MAX_SKEW_MS => Some(v),
                    _ => {
                        return err(format!(
                            "usage: skew [<±ms>|off] (ms from -{MAX_SKEW_MS} to +{MAX_SKEW_MS}, e.g. skew +300)"
                        ));
                    }
                },
            })
        }
        other => {
            return err(format!(
                "unknown command `{other}`; type `help` for the list"
            ));
        }
    })
}

/// Largest clock offset `skew` sets: one day either way.
pub const MAX_SKEW_MS: u64 = 86_400_000;

/// Slow-motion delay per reply when `slow on` gives none.
pub const DEFAULT_SLOW_MS: u64 = 700;

/// The address and fields of a server to add (`add`, `whatif add`): an
/// `ip:port` not in the ring, nodes 1..=10000 (default 1), and the other
/// per-server fields of `cluster.toml` (which `whatif add` ignores).
fn new_server(
    command: &str,
    addr: &str,
    options: &[(String, String)],
    config: &ClusterConfig,
) -> Result<(std::net::SocketAddrV4, crate::membership::NewServer), ParseError> {
    let addr: std::net::SocketAddrV4 = addr
        .parse()
        .map_err(|_| ParseError(format!("{command}: `{addr}` is not an ip:port address")))?;
    if addr.port() == 0 {
        return err(format!("{command}: the port must be 1..65535"));
    }
    if config.servers.iter().any(|s| s.addr() == addr) {
        return err(format!("{command}: {addr} is already in the ring"));
    }
    let mut server = crate::membership::NewServer::nodes(1);
    for (name, value) in options {
        match name.as_str() {
            "nodes" => {
                server.nodes = positive("nodes", value)?;
                if server.nodes > 10_000 {
                    return err(format!("{command}: nodes must be at most 10000"));
                }
            }
            "metrics" => {
                server.metrics = Some(value.parse().map_err(|_| {
                    ParseError(format!(
                        "{command}: metrics={value} is not an ip:port address"
                    ))
                })?);
            }
            "data_dir" if !value.is_empty() => server.data_dir = Some(value.into()),
            "server_option" => match value.split_once('=') {
                Some((option, v)) if !option.is_empty() => {
                    server.options.push((option.to_string(), v.to_string()));
                }
                _ => {
                    return err(format!(
                        "{command}: server_option={value}: give NAME=VALUE, like server_option=max-memory=512MiB"
                    ));
                }
            },
            "sync" => {
                server.sync = Some(clap::ValueEnum::from_str(value, false).map_err(|_| {
                    ParseError(format!(
                        "{command}: sync={value} is not a sync policy (always, periodic or none)"
                    ))
                })?);
            }
            _ => {
                return err(format!(
                    "{command} does not take {name}=; its options are nodes=, metrics=, data_dir=, sync= and server_option="
                ));
            }
        }
    }
    Ok((addr, server))
}

fn parse_whatif(
    args: &[Word],
    options: &[(String, String)],
    config: &ClusterConfig,
) -> Result<ReplCommand, ParseError> {
    const USAGE: &str = "usage: whatif add <ip:port> nodes=<k> | whatif remove <server> | whatif nodes <server>=<k>... | whatif off";
    let texts: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
    match texts.as_slice() {
        ["add", addr] => {
            // The same words as `add`; only nodes= changes the ring.
            let (addr, server) = new_server("whatif add", addr, options, config)?;
            Ok(ReplCommand::WhatIf(WhatIf::Add {
                addr,
                nodes: server.nodes,
            }))
        }
        ["remove", server] => {
            no_options("whatif remove", options)?;
            if config.servers.len() < 2 {
                return err("whatif remove: the ring would be empty");
            }
            Ok(ReplCommand::WhatIf(WhatIf::Remove(resolve_server(
                config, server,
            )?)))
        }
        ["off"] => {
            no_options("whatif off", options)?;
            Ok(ReplCommand::WhatIf(WhatIf::Off))
        }
        ["nodes", changes @ ..] if !changes.is_empty() => {
            no_options("whatif nodes", options)?;
            whatif_nodes(changes, config)
        }
        _ => err(USAGE),
    }
}

/// Most virtual nodes `whatif nodes` previews for one server.
pub const MAX_WHATIF_NODES: u32 = 10_000;

/// `whatif nodes <server>=<k>…`: each word names a configured server (by
/// position or ip:port) and its new virtual-node count.
fn whatif_nodes(changes: &[&str], config: &ClusterConfig) -> Result<ReplCommand, ParseError> {
    let mut out: Vec<(ServerIndex, u32)> = Vec::new();
    for word in changes {
        let Some((server, k)) = word.rsplit_once('=') else {
            return err(format!(
                "whatif nodes: `{word}` is not <server>=<k> (e.g. 1=10)"
            ));
        };
        let index = resolve_server(config, server)?;
        let k = match k.parse::<u32>() {
            Ok(k) if (1..=MAX_WHATIF_NODES).contains(&k) => k,
            _ => {
                return err(format!(
                    "whatif nodes: {word}: k must be an integer from 1 to {MAX_WHATIF_NODES}"
                ));
            }
        };
        if out.iter().any(|(i, _)| *i == index) {
            return err(format!("whatif nodes: server `{server}` is named twice"));
        }
        out.push((index, k));
    }
    Ok(ReplCommand::WhatIf(WhatIf::Nodes(out)))
}

#[cfg(test)]
mod tests;
