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
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;

    fn cfg() -> ClusterConfig {
        parse_servers_txt("127.0.0.1 1234 3\n127.0.0.1 1235 2\n127.0.0.1 1236 2\n127.0.0.1 1237 1\n127.0.0.1 1238 1\n", "t")
            .unwrap()
    }

    fn p(line: &str) -> Result<Option<ReplCommand>, ParseError> {
        parse_line(line, &cfg())
    }

    fn ok(line: &str) -> ReplCommand {
        p(line).unwrap_or_else(|e| panic!("{line}: {e}")).unwrap()
    }

    fn bad(line: &str) -> String {
        match p(line) {
            Err(e) => e.0,
            Ok(c) => panic!("{line} parsed as {c:?}"),
        }
    }

    #[test]
    fn words_and_quotes() {
        let w = split_words(r#"put "two words" a\b "q\"x\\y" """#).unwrap();
        let t: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(t, vec!["put", "two words", "a\\b", "q\"x\\y", ""]);
        assert!(w[1].quoted && !w[2].quoted);
        assert!(split_words("put \"open").is_err());
        assert!(split_words("put \"open\\").is_err());
        assert_eq!(split_words("   ").unwrap(), vec![]);
        assert_eq!(split_words("a\tb").unwrap().len(), 2);
    }

    #[test]
    fn data_commands() {
        assert_eq!(
            ok("put a b n=4 w=3"),
            ReplCommand::Data(
                Command::Put {
                    key: b"a".to_vec(),
                    value: b"b".to_vec()
                },
                QuorumOptions::default().n(4).w(3)
            )
        );
        assert_eq!(
            ok("get a r=1"),
            ReplCommand::Data(
                Command::Get { key: b"a".to_vec() },
                QuorumOptions::default().r(1)
            )
        );
        assert_eq!(
            ok(r#"put k "" "#),
            ReplCommand::Data(
                Command::Put {
                    key: b"k".to_vec(),
                    value: vec![]
                },
                QuorumOptions::default()
            )
        );
        assert_eq!(
            ok(r#"put "n=3" x"#),
            ReplCommand::Data(
                Command::Put {
                    key: b"n=3".to_vec(),
                    value: b"x".to_vec()
                },
                QuorumOptions::default()
            )
        );
        assert!(
            matches!(ok("cat a b c dest w=1"), ReplCommand::Data(Command::Cat { ref sources, .. }, _) if sources.len() == 3)
        );
        assert!(matches!(
            ok("substr example -2 2 d"),
            ReplCommand::Data(
                Command::Substr {
                    position: -2,
                    length: 2,
                    ..
                },
                _
            )
        ));
        assert!(matches!(
            ok("find ab a n=2 r=1"),
            ReplCommand::Data(Command::Find { .. }, _)
        ));
        assert!(matches!(
            ok("put url http://x?a=b"),
            ReplCommand::Data(Command::Put { .. }, _)
        ));
    }

    #[test]
    fn other_commands() {
        assert_eq!(ok("where coucou"), ReplCommand::Where(b"coucou".to_vec()));
        assert_eq!(ok("ring"), ReplCommand::Ring);
        assert_eq!(ok("dump"), ReplCommand::Dump(None));
        assert_eq!(ok("dump 2"), ReplCommand::Dump(Some(1)));
        assert_eq!(ok("dump 127.0.0.1:1238"), ReplCommand::Dump(Some(4)));
        assert_eq!(ok("kill 1"), ReplCommand::Process(ProcessAction::Kill, 0));
        assert_eq!(ok("stop 2"), ReplCommand::Process(ProcessAction::Stop, 1));
        assert_eq!(ok("start 3"), ReplCommand::Process(ProcessAction::Start, 2));
        assert_eq!(
            ok("restart 4"),
            ReplCommand::Process(ProcessAction::Restart, 3)
        );
        assert_eq!(
            ok("pause 127.0.0.1:1235"),
            ReplCommand::Process(ProcessAction::Pause, 1)
        );
        assert_eq!(
            ok("resume 5"),
            ReplCommand::Process(ProcessAction::Resume, 4)
        );
        assert_eq!(ok("status"), ReplCommand::Status);
        assert_eq!(ok("health"), ReplCommand::Health);
        assert_eq!(ok("help"), ReplCommand::Help(None));
        assert_eq!(ok("help put"), ReplCommand::Help(Some("put".into())));
        assert_eq!(ok("quit"), ReplCommand::Quit);
        assert_eq!(ok("q"), ReplCommand::Quit);
        assert_eq!(ok("slow on"), ReplCommand::Slow(Slow::On(DEFAULT_SLOW_MS)));
        assert_eq!(ok("slow 250"), ReplCommand::Slow(Slow::On(250)));
        assert_eq!(ok("slow off"), ReplCommand::Slow(Slow::Off));
        assert_eq!(ok("skew +300"), ReplCommand::Skew(Some(300)));
        assert_eq!(ok("skew -5000"), ReplCommand::Skew(Some(-5000)));
        // Durations take units, as on every command line.
        assert_eq!(ok("slow 1.5s"), ReplCommand::Slow(Slow::On(1500)));
        assert_eq!(ok("skew -2s"), ReplCommand::Skew(Some(-2000)));
        assert_eq!(ok("skew +300ms"), ReplCommand::Skew(Some(300)));
        assert_eq!(ok("skew off"), ReplCommand::Skew(Some(0)));
        assert_eq!(ok("skew"), ReplCommand::Skew(None));
        assert_eq!(
            ok("whatif add 127.0.0.1:1239 nodes=2"),
            ReplCommand::WhatIf(WhatIf::Add {
                addr: "127.0.0.1:1239".parse().unwrap(),
                nodes: 2
            })
        );
        assert_eq!(
            ok("whatif remove 1"),
            ReplCommand::WhatIf(WhatIf::Remove(0))
        );
        assert_eq!(ok("whatif off"), ReplCommand::WhatIf(WhatIf::Off));
        assert_eq!(ok("loss 2 30"), ReplCommand::Fault(Fault::Loss(30), 1));
        assert_eq!(ok("loss 1 100%"), ReplCommand::Fault(Fault::Loss(100), 0));
        assert_eq!(
            ok("delay 127.0.0.1:1236 250"),
            ReplCommand::Fault(Fault::Delay(250), 2)
        );
        assert_eq!(ok("delay 3 2s"), ReplCommand::Fault(Fault::Delay(2000), 2));
        assert_eq!(ok("heal 5"), ReplCommand::Fault(Fault::Heal, 4));
        assert_eq!(
            ok("add 127.0.0.1:1239"),
            ReplCommand::Add {
                addr: "127.0.0.1:1239".parse().unwrap(),
                server: crate::membership::NewServer::nodes(1)
            }
        );
        assert_eq!(
            ok("add 127.4.5.6:80 nodes=3"),
            ReplCommand::Add {
                addr: "127.4.5.6:80".parse().unwrap(),
                server: crate::membership::NewServer::nodes(3)
            }
        );
        assert_eq!(
            ok("add 127.0.0.1:1239 nodes=2 metrics=127.0.0.1:9200 data_dir=d sync=periodic"),
            ReplCommand::Add {
                addr: "127.0.0.1:1239".parse().unwrap(),
                server: crate::membership::NewServer {
                    nodes: 2,
                    metrics: Some("127.0.0.1:9200".parse().unwrap()),
                    data_dir: Some("d".into()),
                    sync: Some(crate::config::SyncPolicy::Periodic),
                    options: Vec::new(),
                }
            }
        );
        assert!(bad("add 127.0.0.1:1239 metrics=x").contains("metrics=x is not an ip:port"));
        assert!(bad("add 127.0.0.1:1239 sync=often").contains("not a sync policy"));
        assert!(
            bad("add 127.0.0.1:1239 colour=red")
                .contains("nodes=, metrics=, data_dir=, sync= and server_option=")
        );
        assert_eq!(
            ok("whatif add 127.0.0.1:1239 nodes=2 metrics=127.0.0.1:9200"),
            ReplCommand::WhatIf(WhatIf::Add {
                addr: "127.0.0.1:1239".parse().unwrap(),
                nodes: 2
            })
        );
        assert!(bad("add 127.0.0.1:1239 server_option=quiet").contains("give NAME=VALUE"));
        assert_eq!(ok("remove 5"), ReplCommand::Remove(4));
        assert_eq!(ok("remove 127.0.0.1:1235"), ReplCommand::Remove(1));
        assert_eq!(p("").unwrap(), None);
        assert_eq!(p("   ").unwrap(), None);
    }

    #[test]
    fn errors() {
        assert!(bad("frobnicate").contains("unknown command `frobnicate`"));
        assert!(bad("\"get\" a").contains("unknown command"));
        assert!(bad("put a").starts_with("usage: put"));
        assert!(bad("put a b c").starts_with("usage: put"));
        assert!(bad("get").starts_with("usage: get"));
        assert!(bad("get a b").starts_with("usage: get"));
        assert!(bad("cat a").starts_with("usage: cat"));
        assert!(bad("substr a 1 2").starts_with("usage: substr"));
        assert!(bad("substr a x 2 d").contains("not an integer"));
        assert!(bad("find a").starts_with("usage: find"));
        assert!(bad("get a w=2").contains("does not take w="));
        assert!(bad("put a b r=2").contains("does not take r="));
        assert!(bad("get a x=1").contains("does not take x="));
        assert!(bad("get a n=0").contains("strictly positive"));
        assert!(bad("get a n=-1").contains("strictly positive"));
        assert!(bad("get a r=abc").contains("strictly positive"));
        assert!(bad("put \"a b").contains("unterminated quote"));
        assert!(bad("kill 0").contains("unknown server `0`"));
        assert!(bad("kill 6").contains("unknown server `6`"));
        assert!(bad("kill 127.0.0.1:9999").contains("unknown server"));
        assert!(bad("kill").starts_with("usage: kill"));
        assert!(bad("dump nope").contains("unknown server"));
        assert!(bad("ring extra").starts_with("usage: ring"));
        assert!(bad("status n=2").contains("takes no options"));
        assert!(bad("where").starts_with("usage: where"));
        assert!(bad("where \"\"").contains("must not be empty"));
        assert!(bad("slow fast").starts_with("usage: slow"));
        assert!(bad("skew soon").starts_with("usage: skew"));
        assert!(bad("skew 99999999999").starts_with("usage: skew"));
        assert!(bad("skew 1 2").contains("skew"));
        assert!(bad("whatif").starts_with("usage: whatif"));
        assert!(bad("whatif add nowhere").contains("not an ip:port"));
        assert!(bad("whatif add 127.0.0.1:1234").contains("already in the ring"));
        assert!(bad("whatif add 127.0.0.1:1239 nodes=0").contains("strictly positive"));
        assert!(bad("whatif add 127.0.0.1:1239 weight=2").contains("does not take weight="));
        assert!(bad("whatif remove 9").contains("unknown server"));
        assert!(bad("help a b").starts_with("usage: help"));
        assert!(bad("loss 1").starts_with("usage: loss"));
        assert!(bad("loss 1 101").starts_with("usage: loss"));
        assert!(bad("loss 1 -5").starts_with("usage: loss"));
        assert!(bad("loss 9 5").contains("unknown server"));
        assert!(bad("delay 1 soon").starts_with("usage: delay"));
        assert!(bad("delay 1 10001").starts_with("usage: delay"));
        assert!(bad("heal 1 2").starts_with("usage: heal"));
        assert!(bad("heal 1 x=2").contains("takes no options"));
        assert!(bad("add").starts_with("usage: add <ip:port>"));
        assert!(bad("add 127.0.0.1:1 127.0.0.1:2").starts_with("usage: add"));
        assert!(bad("add nowhere").contains("add: `nowhere` is not an ip:port"));
        assert!(bad("add 127.0.0.1:0").contains("port must be"));
        assert!(bad("add 127.0.0.1:1238").contains("already in the ring"));
        assert!(bad("add 10.0.0.1:1239").contains("not on 127.0.0.0/8"));
        assert!(bad("add 127.0.0.1:1239 nodes=0").contains("strictly positive"));
        assert!(bad("add 127.0.0.1:1239 nodes=10001").contains("at most 10000"));
        assert!(bad("add 127.0.0.1:1239 n=2").contains("add does not take n="));
        assert!(bad("remove").starts_with("usage: remove"));
        assert!(bad("remove 6").contains("unknown server `6`"));
        assert!(bad("remove 1 nodes=2").contains("takes no options"));
        let one = parse_servers_txt("127.0.0.1 1234 1\n", "t").unwrap();
        let e = parse_line("remove 1", &one).unwrap_err();
        assert!(e.0.contains("the ring would be empty"), "{e}");
    }

    #[test]
    fn balance_and_whatif_nodes() {
        assert_eq!(ok("balance"), ReplCommand::Balance);
        assert!(bad("balance 1").starts_with("usage: balance"));
        assert!(bad("balance n=2").contains("takes no options"));
        assert_eq!(
            ok("whatif nodes 1=10"),
            ReplCommand::WhatIf(WhatIf::Nodes(vec![(0, 10)]))
        );
        assert_eq!(
            ok("whatif nodes 1=10 127.0.0.1:1236=5"),
            ReplCommand::WhatIf(WhatIf::Nodes(vec![(0, 10), (2, 5)]))
        );
        assert!(bad("whatif nodes").starts_with("usage: whatif"));
        assert!(bad("whatif nodes 9=2").contains("unknown server"));
        assert!(bad("whatif nodes 1=0").contains("k must be an integer"));
        assert!(bad("whatif nodes 1=x").contains("k must be an integer"));
        assert!(bad("whatif nodes 1").contains("is not <server>=<k>"));
        assert!(bad("whatif nodes 1=2 1=3").contains("named twice"));
        // A lowercase name is an option, not a server: refused.
        assert!(bad("whatif nodes 1=2 nodes=3").contains("takes no options"));
    }
}
