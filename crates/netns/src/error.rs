//! The one error type of the crate: what went wrong, with the command and
//! its stderr when a command failed, so the caller can show it as is.

use std::time::Duration;

/// Why namespaces could not be made, changed or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// This machine or user cannot make namespaces; `reason` says what to do.
    #[error("network namespaces are unavailable: {reason}")]
    Unavailable { reason: String },
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// A command did not finish in time (it was killed).
    #[error("`{command}` did not finish within {limit:?} (killed)")]
    Timeout { command: String, limit: Duration },
    /// A command could not be started, or its pipes failed.
    #[error("cannot run `{command}`: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The request itself is wrong (a host out of range, a bad address…).
    #[error("{reason}")]
    Invalid { reason: String },
}

impl NetnsError {
    /// A request refused for `reason`.
    pub fn invalid(reason: impl Into<String>) -> NetnsError {
        NetnsError::Invalid {
            reason: reason.into(),
        }
    }
}
