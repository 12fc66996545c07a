//! Process exit codes of the command-line tools (docs/CLI.md), and the
//! original course's, which `--exit-codes course` reports instead.
//! At the bottom of the crate, so the server and the CLI share them without
//! one depending on the other; `crate::commands::exit` re-exports it.

/// Success.
pub const OK: u8 = 0;
/// The operation failed for a reason of its own (substr out of range,
/// cat result too long, a put refused by the servers).
pub const FAILED: u8 = 1;
/// Usage error: bad command line.
pub const USAGE: u8 = 2;
/// Configuration error: bad or missing servers.txt / cluster.toml.
pub const CONFIG: u8 = 3;
/// The key is not found.
pub const NOT_FOUND: u8 = 4;
/// The quorum was not reached (servers down, disagreeing, or too slow),
/// or the network could not be used.
pub const QUORUM: u8 = 5;
/// This client's clock is off: servers refused its write as too far
/// ahead of their clocks (`--max-clock-offset`), or it is too far
/// behind to order its write after the newer one they keep.
pub const CLOCK: u8 = 6;

/// The environment variable that picks the exit statuses when
/// `--exit-codes` is not given.
pub const EXIT_CODES_ENV: &str = "DKVS_EXIT_CODES";

/// Which exit statuses a tool reports (`--exit-codes`, `DKVS_EXIT_CODES`).
/// The statuses above are dkvs's own; `course` reports those of the
/// original course's `error.h` instead, so its end-to-end tests run
/// unmodified against these tools (docs/TEACHING.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExitCodes {
    /// dkvs's own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock
    #[default]
    Dkvs,
    /// the course's error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network
    Course,
}

impl ExitCodes {
    /// The process exit status that reports our `status` (one of the
    /// constants above) under this convention. Success stays 0 in both.
    pub fn process_status(self, status: u8) -> u8 {
        match self {
            ExitCodes::Dkvs => status,
            ExitCodes::Course => course_status(status),
        }
    }

    /// The convention named `name` (`dkvs` or `course`, as on the command
    /// line); `None` for any other name.
    pub fn from_name(name: &str) -> Option<ExitCodes> {
        clap::ValueEnum::from_str(name, false).ok()
    }
}

/// Our `status` as the course's `error.h` reports it. A clock refusal
/// ([`CLOCK`]) is [`course::ERR_RUNTIME`]: it is a write the servers
/// refused, which the course reports as a runtime error like our other
/// refusals ([`FAILED`]), and not a network fault.
pub const fn course_status(status: u8) -> u8 {
    match status {
        OK => OK,
        USAGE => course::ERR_INVALID_COMMAND,
        CONFIG => course::ERR_INVALID_CONFIG,
        NOT_FOUND => course::ERR_NOT_FOUND,
        QUORUM => course::ERR_NETWORK,
        _ => course::ERR_RUNTIME,
    }
}

/// The exit statuses of the original course's `error.h`. Its enum starts at
/// `ERR_FIRST = -128`, and a process exit status is that value modulo 256.
pub mod course {
    /// `ERR_IO`.
    pub const ERR_IO: u8 = 129;
    /// `ERR_RUNTIME`: any failure without a status of its own.
    pub const ERR_RUNTIME: u8 = 130;
    /// `ERR_OUT_OF_MEMORY`.
    pub const ERR_OUT_OF_MEMORY: u8 = 131;
    /// `ERR_NETWORK`: the quorum was not reached, or the network failed.
    pub const ERR_NETWORK: u8 = 132;
    /// `ERR_INVALID_CONFIG`: a bad or missing cluster file.
    pub const ERR_INVALID_CONFIG: u8 = 133;
    /// `ERR_INVALID_COMMAND`: a bad command line.
    pub const ERR_INVALID_COMMAND: u8 = 134;
    /// `ERR_INVALID_ARGUMENT`.
    pub const ERR_INVALID_ARGUMENT: u8 = 135;
    /// `ERR_ADDRESS`.
    pub const ERR_ADDRESS: u8 = 136;
    /// `ERR_NOT_FOUND`: the key is not found.
    pub const ERR_NOT_FOUND: u8 = 137;
    /// `ERR_THREADING`.
    pub const ERR_THREADING: u8 = 138;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_statuses() {
        let mapped: Vec<u8> = [OK, FAILED, USAGE, CONFIG, NOT_FOUND, QUORUM, CLOCK]
            .into_iter()
            .map(|s| ExitCodes::Course.process_status(s))
            .collect();
        assert_eq!(mapped, [0, 130, 134, 133, 137, 132, 130]);
        for status in 0..=u8::MAX {
            assert_eq!(ExitCodes::Dkvs.process_status(status), status);
        }
        // error.h's values, from ERR_FIRST = -128 on, modulo 256.
        let all = [
            course::ERR_IO,
            course::ERR_RUNTIME,
            course::ERR_OUT_OF_MEMORY,
            course::ERR_NETWORK,
            course::ERR_INVALID_CONFIG,
            course::ERR_INVALID_COMMAND,
            course::ERR_INVALID_ARGUMENT,
            course::ERR_ADDRESS,
            course::ERR_NOT_FOUND,
            course::ERR_THREADING,
        ];
        for (offset, value) in (1i32..).zip(all) {
            assert_eq!(i32::from(value), (-128 + offset).rem_euclid(256));
        }
    }

    #[test]
    fn names() {
        assert_eq!(ExitCodes::from_name("course"), Some(ExitCodes::Course));
        assert_eq!(ExitCodes::from_name("dkvs"), Some(ExitCodes::Dkvs));
        assert_eq!(ExitCodes::from_name("Course"), None);
        assert_eq!(ExitCodes::from_name(""), None);
    }
}
