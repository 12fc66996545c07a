//! Logging for every binary: `tracing` to stderr, quiet by default.
//!
//! Normal operation prints nothing; `-v` (repeatable) or the
//! `DKVS_LOG` / `RUST_LOG` environment variables (filter syntax of
//! `tracing_subscriber::EnvFilter`) turn logs on; `-q` turns even the
//! error-level logs off. A tool's one `ERROR:` line on failure is not a log
//! (`crate::cli` prints it), so `-q` keeps it: scripts need it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger. `verbosity` counts `-v` flags: 0 = errors
/// only, 1 = info, 2 = debug, 3+ = trace. An environment filter wins.
/// Colour on a terminal only.
pub fn init(verbosity: u8) {
    init_with(verbosity, false, std::io::stderr().is_terminal());
}

/// Installs the stderr logger: `quiet` turns every log off (`-q`; the
/// `ERROR:` line of a failure is printed apart and stays), else
/// `verbosity` as in [`init`]; `DKVS_LOG` or `RUST_LOG` (the first
/// non-empty, valid one) wins over both. Each line has a timestamp and a
/// level; `ansi` colours them.
pub fn init_with(verbosity: u8, quiet: bool, ansi: bool) {
    let level = match (quiet, verbosity) {
        (true, _) => "off",
        (false, 0) => "error",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = ["DKVS_LOG", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}
