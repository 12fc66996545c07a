//! Pieces shared by the command-line front-ends: the configuration options,
//! how usage and configuration errors are reported, and exit codes.
//!
//! Every tool reports a failure the same way: `FAIL` on stdout (for the
//! client, whose stdout is its answer), one `ERROR: …` line on stderr, and a
//! documented exit code ([`crate::commands::exit`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::commands::exit;
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

    /// Operation deadline in milliseconds [default: timeout_ms of cluster.toml, else 1000]
    #[arg(short = 't', long = "timeout", value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000), global = true)]
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

    /// No logs at all on stderr, not even errors (DKVS_LOG or RUST_LOG still win)
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

/// Parses the command line; on `--help`/`--version` prints and exits 0, on a
/// usage error prints `FAIL` (when `fail_line`), `ERROR: …` and the usage,
/// and exits with [`exit::USAGE`].
pub fn parse_or_exit<P: clap::Parser>(fail_line: bool) -> P {
    parse_or_exit_as(if fail_line {
        FailLine::Fail
    } else {
        FailLine::None
    })
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

/// [`parse_or_exit`] with the failure line chosen by `fail_line`.
pub fn parse_or_exit_as<P: clap::Parser>(fail_line: FailLine) -> P {
    match P::try_parse() {
        Ok(p) => p,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let message = "a command is needed";
                fail_line.print(message, exit::USAGE);
                eprintln!("ERROR: {message}");
                let _ = e.print();
                std::process::exit(exit::USAGE as i32);
            }
            let rendered = e.render().to_string();
            let rendered = rendered.strip_prefix("error: ").unwrap_or(&rendered);
            fail_line.print(rendered.lines().next().unwrap_or_default(), exit::USAGE);
            eprint!("ERROR: {rendered}");
            // Some clap errors (bad option values) carry no usage line; usage
            // errors always show the usage.
            if !rendered.contains("Usage:") {
                eprintln!("{}", P::command().render_usage());
            }
            std::process::exit(exit::USAGE as i32);
        }
    }
}

/// Reports an error: `FAIL` on stdout when `fail_line`, `ERROR: message` on
/// stderr; returns `code` as the exit status.
pub fn fail(fail_line: bool, message: impl std::fmt::Display, code: u8) -> ExitCode {
    if fail_line {
        print_line("FAIL");
    }
    eprintln!("ERROR: {message}");
    ExitCode::from(code)
}

/// Reports a configuration error (exit [`exit::CONFIG`]).
pub fn config_failure(fail_line: bool, e: &ConfigError) -> ExitCode {
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
    fn colour_choice() {
        assert!(use_color(clap::ColorChoice::Always, false));
        assert!(!use_color(clap::ColorChoice::Never, true));
        assert!(!use_color(clap::ColorChoice::Auto, false));
    }
}
