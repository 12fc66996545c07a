//! Pieces shared by the command-line front-ends: the configuration options,
//! how usage and configuration errors are reported, and exit codes.
//!
//! Every tool reports a failure the same way: `FAIL` on stdout (for the
//! client, whose stdout is its answer), one `ERROR: …` line on stderr, and a
//! documented exit code ([`crate::commands::exit`]). Every tool's `main` is
//! [`main_with`]: its body returns one of our statuses, and `main_with`
//! turns it into the process's by the `--exit-codes` convention.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::commands::exit::{self, ExitCodes};
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

    /// Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]
    #[arg(short = 't', long = "timeout", value_name = "DURATION", value_parser = parse_timeout, global = true)]
    pub timeout_ms: Option<u64>,

    /// Sign every request with the first key of FILE (`<id> <hex secret>`
    /// per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else
    /// key_file of cluster.toml]
    // DKVS_KEY_FILE is read by `ClusterConfig::load`, like DKVS_SERVERS.
    #[arg(long = "key-file", value_name = "FILE", global = true)]
    pub key_file: Option<PathBuf>,

    #[command(flatten)]
    pub log: LogArgs,
}

/// Options about what a tool writes besides its answer: logs and colour.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)
    #[arg(short = 'q', long = "quiet", global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never
    #[arg(
        long = "color",
        value_name = "WHEN",
        default_value = "auto",
        global = true
    )]
    pub color: clap::ColorChoice,

    /// Exit statuses: dkvs's own, or the original course's error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]
    // DKVS_EXIT_CODES is read by `parse_as`, not by clap, so that a bad
    // value names the variable.
    #[arg(long = "exit-codes", value_name = "CODES", value_enum, global = true)]
    pub exit_codes: Option<ExitCodes>,
}

impl LogArgs {
    /// Installs the stderr logger these options ask for
    /// ([`crate::logging::init_with`]).
    pub fn init_logging(&self) {
        let stderr_tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        crate::logging::init_with(self.verbose, self.quiet, use_color(self.color, stderr_tty));
    }
}

/// Whether to colour an output: `always` yes, `never` no, `auto` only on a
/// terminal and when `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn use_color(choice: clap::ColorChoice, terminal: bool) -> bool {
    match choice {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => terminal && !no_color_env(),
    }
}

/// `NO_COLOR` is set to a non-empty value.
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// What `-t`/`--timeout` accepts: 1 ms to an hour, bare numbers in ms.
pub const TIMEOUT: crate::units::DurationSpec = crate::units::DurationSpec::millis(1, 3_600_000);

/// Parses `-t`/`--timeout` into milliseconds ([`TIMEOUT`]).
pub fn parse_timeout(s: &str) -> Result<u64, crate::units::DurationError> {
    TIMEOUT.parse_whole(s)
}

impl ClusterArgs {
    /// Loads the configuration these options point at.
    pub fn load(&self) -> Result<ClusterConfig, ConfigError> {
        ClusterConfig::locate_with_key_file(self.servers.as_deref(), self.key_file.as_deref())
    }

    /// The deadline: the option, else the configuration's.
    pub fn timeout(&self, config: &ClusterConfig) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(config.defaults.timeout_ms))
    }
}

/// A tool's `main`: parses the command line as `P`, runs `run` with it,
/// and turns our exit status into the process's, once, by the convention
/// that `--exit-codes`, else `DKVS_EXIT_CODES`, asks for
/// ([`ExitCodes::process_status`]). The status is `run`'s, or the parse's
/// when the command line ends there ([`parse_as`]).
pub fn main_with<P: clap::Parser>(fail_line: FailLine, run: impl FnOnce(P) -> u8) -> ExitCode {
    let (codes, status) = match parse_as::<P>(fail_line) {
        Ok((cli, codes)) => (codes, run(cli)),
        Err(ended) => ended,
    };
    ExitCode::from(codes.process_status(status))
}

/// The id of `--exit-codes` (the field of [`LogArgs`]).
const EXIT_CODES_ID: &str = "exit_codes";

/// Parses the command line as `P`, with the exit-status convention it asks
/// for. `Err` is the convention and our status of a command line that ends
/// here, already reported: 0 after `--help` or `--version` (printed), else
/// [`exit::USAGE`] after `FAIL` (as `fail_line` says), `ERROR: …` and the
/// usage. A bad `DKVS_EXIT_CODES` is a usage error when `--exit-codes` is
/// not given; after any other usage error a bad one counts as unset.
pub fn parse_as<P: clap::Parser>(fail_line: FailLine) -> Result<(P, ExitCodes), (ExitCodes, u8)> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let env = std::env::var_os(exit::EXIT_CODES_ENV);
    let parsed = P::command()
        .try_get_matches_from(&args)
        .and_then(|mut matches| {
            let given = matches
                .try_get_one::<ExitCodes>(EXIT_CODES_ID)
                .ok()
                .flatten()
                .copied();
            let cli =
                P::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut P::command()))?;
            Ok((cli, given))
        });
    match parsed {
        Ok((cli, Some(codes))) => Ok((cli, codes)),
        Ok((cli, None)) => match env_exit_codes(env.as_deref()) {
            Ok(codes) => Ok((cli, codes)),
            Err(message) => {
                fail_line.print(&message, exit::USAGE);
                eprintln!("ERROR: {message}");
                eprintln!("{}", P::command().render_usage());
                Err((ExitCodes::Dkvs, exit::USAGE))
            }
        },
        Err(e) => {
            let codes = args_exit_codes(&args)
                .or_else(|| env_exit_codes(env.as_deref()).ok())
                .unwrap_or_default();
            Err((codes, report_parse_error::<P>(&e, fail_line)))
        }
    }
}

/// The convention `DKVS_EXIT_CODES` names: dkvs's own when it is unset or
/// empty; `Err` is the message for any other value.
fn env_exit_codes(value: Option<&OsStr>) -> Result<ExitCodes, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(ExitCodes::Dkvs);
    };
    value
        .to_str()
        .and_then(ExitCodes::from_name)
        .ok_or_else(|| {
            format!(
                "invalid value '{}' for {}: expected dkvs or course",
                value.to_string_lossy(),
                exit::EXIT_CODES_ENV
            )
        })
}

/// The convention `--exit-codes` names in `args` (before a `--`; the last
/// one wins), for a usage error, when clap gave no parse to read it from.
fn args_exit_codes(args: &[OsString]) -> Option<ExitCodes> {
    let mut found = None;
    let mut words = args.iter().skip(1).take_while(|a| *a != "--");
    while let Some(word) = words.next() {
        let value = match word.to_str().and_then(|w| w.strip_prefix("--exit-codes")) {
            Some("") => words.next().and_then(|v| v.to_str()),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(codes) = value.and_then(ExitCodes::from_name) {
            found = Some(codes);
        }
    }
    found
}

/// What a tool prints on stdout when it fails (before `ERROR: …` on stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailLine {
    /// Nothing (stdout is not the tool's answer).
    None,
    /// `FAIL` (`dkvs-client`).
    Fail,
    /// The JSON failure object of [`json_answer`] (`dkvs-client --json`).
    Json,
}

impl FailLine {
    /// Prints the line for a failure with `message` and exit `code`; a
    /// closed stdout is ignored (the `ERROR:` line and the exit status
    /// still tell).
    pub fn print(self, message: &str, code: u8) {
        match self {
            FailLine::None => {}
            FailLine::Fail => print_line("FAIL"),
            FailLine::Json => print_line(&json_answer(&Err(crate::commands::CommandError {
                message: message.to_string(),
                code,
            }))),
        }
    }
}

/// Writes `line` and a newline on stdout and flushes, ignoring errors:
/// unlike `println!`, a closed pipe (`dkvs-client … | head -0`) does not
/// panic. For the lines of failure paths, whose exit status tells anyway.
pub fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Whether `--json` is among the options of `args` (before a `--`), for a
/// usage error found before the command line is parsed.
pub fn wants_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Reports what clap's `e` says (help and version printed as they are,
/// a usage error with `FAIL` as `fail_line` says, `ERROR: …` and the
/// usage) and returns our status: 0 after help or version, else
/// [`exit::USAGE`].
fn report_parse_error<P: clap::Parser>(e: &clap::Error, fail_line: FailLine) -> u8 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return exit::OK;
    }
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let message = "a command is needed";
        fail_line.print(message, exit::USAGE);
        eprintln!("ERROR: {message}");
        let _ = e.print();
        return exit::USAGE;
    }
    let rendered = e.render().to_string();
    let rendered = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    fail_line.print(rendered.lines().next().unwrap_or_default(), exit::USAGE);
    let usage = P::command().render_usage().to_string();
    eprint!("ERROR: {}", with_usage(rendered, &usage));
    exit::USAGE
}

/// Clap's rendered error `rendered` with the usage line `usage`: some
/// errors (bad option values) carry none, and usage errors always show it,
/// before clap's closing "For more information, try '--help'." as clap
/// places it in the others.
pub fn with_usage(rendered: &str, usage: &str) -> String {
    if rendered.contains("Usage:") {
        return rendered.to_string();
    }
    let usage = usage.trim_end();
    match rendered.find("\nFor more information") {
        Some(at) => {
            let (error, hint) = rendered.split_at(at);
            format!("{}\n\n{usage}\n{hint}", error.trim_end())
        }
        None => format!("{}\n\n{usage}\n", rendered.trim_end()),
    }
}

/// Reports an error: `FAIL` on stdout when `fail_line`, `ERROR: message` on
/// stderr; returns `code`, our exit status.
pub fn fail(fail_line: bool, message: impl std::fmt::Display, code: u8) -> u8 {
    if fail_line {
        print_line("FAIL");
    }
    eprintln!("ERROR: {message}");
    code
}

/// Reports a configuration error (exit [`exit::CONFIG`]).
pub fn config_failure(fail_line: bool, e: &ConfigError) -> u8 {
    fail(fail_line, format!("configuration: {e}"), exit::CONFIG)
}

/// A single-threaded runtime for one-shot tools.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The colour of a painted answer line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Success (green).
    Good,
    /// Failure (red).
    Bad,
}

/// Writes the line `write` produces to `out`; when `color`, wrapped in the
/// ANSI colour of `paint` (the newline stays outside the colour). Without
/// colour the bytes are exactly `write`'s.
pub fn paint(
    out: &mut impl std::io::Write,
    color: bool,
    paint: Paint,
    write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut line = Vec::new();
    write(&mut line)?;
    if !color {
        return out.write_all(&line);
    }
    let body = line.strip_suffix(b"\n").unwrap_or(&line);
    let start: &[u8] = match paint {
        Paint::Good => b"\x1b[32m",
        Paint::Bad => b"\x1b[1;31m",
    };
    out.write_all(start)?;
    out.write_all(body)?;
    out.write_all(b"\x1b[0m\n")
}

/// A command's result as one JSON object (`dkvs-client --json`):
/// `{"ok":true}`, `{"ok":true,"value":"…"}` (or `"value_hex"` when the value
/// is not UTF-8), `{"ok":true,"position":N}`, or
/// `{"ok":false,"exit":CODE,"error":"…"}`.
pub fn json_answer(
    result: &Result<crate::commands::Success, crate::commands::CommandError>,
) -> String {
    use crate::commands::Success;
    use serde_json::json;
    use std::fmt::Write as _;
    match result {
        Ok(Success::Done) => json!({"ok": true}),
        Ok(Success::Value(v)) => match std::str::from_utf8(v) {
            Ok(text) => json!({"ok": true, "value": text}),
            Err(_) => {
                let mut hex = String::with_capacity(v.len() * 2);
                for b in v {
                    let _ = write!(hex, "{b:02x}");
                }
                json!({"ok": true, "value_hex": hex})
            }
        },
        Ok(Success::Position(p)) => json!({"ok": true, "position": p}),
        Err(e) => json!({"ok": false, "exit": e.code, "error": e.message}),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{CommandError, Success};
    use std::io::Write;

    #[test]
    fn json_answers() {
        assert_eq!(json_answer(&Ok(Success::Done)), r#"{"ok":true}"#);
        assert_eq!(
            json_answer(&Ok(Success::Value(b"a\"b\n".to_vec()))),
            r#"{"ok":true,"value":"a\"b\n"}"#
        );
        assert_eq!(
            json_answer(&Ok(Success::Value(vec![0xff, 1]))),
            r#"{"ok":true,"value_hex":"ff01"}"#
        );
        assert_eq!(
            json_answer(&Ok(Success::Position(-1))),
            r#"{"ok":true,"position":-1}"#
        );
        let e = CommandError {
            message: "not found".into(),
            code: 4,
        };
        assert_eq!(
            json_answer(&Err(e)),
            r#"{"ok":false,"exit":4,"error":"not found"}"#
        );
    }

    #[test]
    fn paint_leaves_bytes_alone_without_colour() {
        let mut out = Vec::new();
        paint(&mut out, false, Paint::Good, |o| o.write_all(b"OK x\n")).unwrap();
        assert_eq!(out, b"OK x\n");
        let mut out = Vec::new();
        paint(&mut out, true, Paint::Bad, |o| o.write_all(b"FAIL\n")).unwrap();
        assert_eq!(out, b"\x1b[1;31mFAIL\x1b[0m\n");
    }

    #[test]
    fn json_option_before_the_separator() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(wants_json(args(&["c", "--json", "get"])));
        assert!(!wants_json(args(&["c", "get", "--", "--json"])));
        assert!(!wants_json(args(&["--json"])));
    }

    #[test]
    fn exit_codes_of_the_command_line_and_the_environment() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let course = Some(ExitCodes::Course);
        assert_eq!(
            args_exit_codes(&args(&["c", "--exit-codes", "course"])),
            course
        );
        assert_eq!(
            args_exit_codes(&args(&["c", "x", "--exit-codes=course"])),
            course
        );
        assert_eq!(
            args_exit_codes(&args(&["c", "--exit-codes=course", "--exit-codes", "dkvs"])),
            Some(ExitCodes::Dkvs)
        );
        assert_eq!(
            args_exit_codes(&args(&["c", "--", "--exit-codes", "course"])),
            None
        );
        assert_eq!(args_exit_codes(&args(&["c", "--exit-codes", "bad"])), None);
        assert_eq!(args_exit_codes(&args(&["c", "--exit-codes"])), None);
        assert_eq!(env_exit_codes(None), Ok(ExitCodes::Dkvs));
        assert_eq!(env_exit_codes(Some(OsStr::new(""))), Ok(ExitCodes::Dkvs));
        assert_eq!(
            env_exit_codes(Some(OsStr::new("course"))),
            Ok(ExitCodes::Course)
        );
        let bad = env_exit_codes(Some(OsStr::new("C"))).unwrap_err();
        assert!(
            bad.contains("DKVS_EXIT_CODES") && bad.contains("dkvs or course"),
            "{bad}"
        );
    }

    /// `parse_as` reads the option by its id, also from a subcommand.
    #[test]
    fn exit_codes_id_names_the_option() {
        use clap::{CommandFactory, Parser, Subcommand};
        #[derive(Parser)]
        struct Tool {
            #[command(flatten)]
            log: LogArgs,
            #[command(subcommand)]
            cmd: Option<Sub>,
        }
        #[derive(Subcommand)]
        enum Sub {
            Get,
        }
        for line in [
            &["t", "--exit-codes", "course"][..],
            &["t", "get", "--exit-codes=course"],
        ] {
            let matches = Tool::command().try_get_matches_from(line).unwrap();
            let given = matches.try_get_one::<ExitCodes>(EXIT_CODES_ID).unwrap();
            assert_eq!(given, Some(&ExitCodes::Course), "{line:?}");
            let tool = Tool::try_parse_from(line).unwrap();
            assert_eq!(tool.log.exit_codes, Some(ExitCodes::Course));
            assert!(tool.cmd.is_some() == (line[1] == "get"));
        }
    }

    #[test]
    fn the_usage_comes_before_the_hint() {
        let usage = "Usage: t [OPTIONS] <PORT>";
        let clap = "invalid value '0' for '<PORT>': 0 is not in 1..=65535\n\nFor more information, try '--help'.\n";
        assert_eq!(
            with_usage(clap, usage),
            "invalid value '0' for '<PORT>': 0 is not in 1..=65535\n\nUsage: t [OPTIONS] <PORT>\n\nFor more information, try '--help'.\n"
        );
        let has = "missing <PORT>\n\nUsage: t <PORT>\n\nFor more information, try '--help'.\n";
        assert_eq!(with_usage(has, usage), has);
        assert_eq!(
            with_usage("bad\n", usage),
            "bad\n\nUsage: t [OPTIONS] <PORT>\n"
        );
    }

    #[test]
    fn colour_choice() {
        assert!(use_color(clap::ColorChoice::Always, false));
        assert!(!use_color(clap::ColorChoice::Never, true));
        assert!(!use_color(clap::ColorChoice::Auto, false));
    }
}
