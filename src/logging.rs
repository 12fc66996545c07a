//! Logging for every binary: `tracing` to stderr, quiet by default.
//!
//! Normal operation prints nothing (SPEC §5); `-v` (repeatable) or the
//! `DKVS_LOG` / `RUST_LOG` environment variables (filter syntax of
//! `tracing_subscriber::EnvFilter`) turn logs on.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger. `verbosity` counts `-v` flags: 0 = errors
/// only, 1 = info, 2 = debug, 3+ = trace. An environment filter wins.
pub fn init(verbosity: u8) {
    let level = match verbosity {
        0 => "error",
        1 => "info",
        2 => "debug",
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
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
