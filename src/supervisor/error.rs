//! The supervisor's errors, one type per job (signalling a child, spawning
//! one, a process action, a membership change), so callers can tell the
//! cases apart and keep the underlying io or errno error as a source. Each
//! message is the exact line the screen and the REPL print.

use std::net::SocketAddrV4;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::MAX_ADDED_SERVERS;
use super::actions::ProcessAction;
use super::process::SERVE_FLAG;

/// Why a signal did not reach a child (through its owner task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// The slot has no live child.
    #[error("the process is not running")]
    NotRunning,
    /// The child was reaped while the signal was on its way.
    #[error("the process has just ended")]
    Ended,
    /// `kill(2)` failed.
    #[error("{}: {source}", .signal.as_str())]
    Kill {
        /// The signal that was not sent.
        signal: Signal,
        /// What `kill(2)` said.
        #[source]
        source: Errno,
    },
}

/// Why a server's process was not started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The slot was removed before the spawn began.
    #[error("this server is no longer configured")]
    Gone,
    /// The slot was removed while the command was being prepared.
    #[error("{addr}: no longer configured")]
    NoLongerConfigured {
        /// The server.
        addr: SocketAddrV4,
    },
    /// Its child is alive already.
    #[error("{addr} is already running (pid {pid})")]
    AlreadyRunning {
        /// The server.
        addr: SocketAddrV4,
        /// The live child's pid.
        pid: u32,
    },
    /// `dkvs-tui` is stopping everything.
    #[error("{addr}: dkvs-tui is shutting down")]
    ShuttingDown {
        /// The server.
        addr: SocketAddrV4,
    },
    /// The executable could not be started.
    #[error("cannot start {addr}: {} {}: {source}", .program.display(), SERVE_FLAG)]
    Launch {
        /// The server.
        addr: SocketAddrV4,
        /// The launcher's executable.
        program: PathBuf,
        /// Why the system refused.
        #[source]
        source: std::io::Error,
    },
    /// The child had no pid: it was reaped before it could be recorded.
    #[error("{addr}: the child ended at once")]
    EndedAtOnce {
        /// The server.
        addr: SocketAddrV4,
    },
}

/// Why a process action ([`super::Supervisor::act`]) did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No configured server at that position (1-based `number`).
    #[error("unknown server {number}: there are {count} servers")]
    UnknownServer {
        /// The 1-based server number asked for.
        number: usize,
        /// How many servers there are.
        count: usize,
    },
    /// The server's action lock is missing (its cell is out of range).
    #[error("unknown server {number}")]
    NoActionLock {
        /// The 1-based server number asked for.
        number: usize,
    },
    /// A server with `spawn = false`: never touched.
    #[error(
        "{}: {addr} was not started by dkvs-tui (spawn = false), so it is not controlled from here",
        .action.word()
    )]
    NotManaged {
        /// The action refused.
        action: ProcessAction,
        /// The server.
        addr: SocketAddrV4,
    },
    /// `dkvs-tui` is stopping everything.
    #[error("{}: dkvs-tui is shutting down", .action.word())]
    ShuttingDown {
        /// The action refused.
        action: ProcessAction,
    },
    /// The action needs a running process and there is none.
    #[error("{word}: {addr} is not running (nothing to {word}; use `start`)", word = .action.word())]
    NotRunning {
        /// The action refused.
        action: ProcessAction,
        /// The server.
        addr: SocketAddrV4,
    },
    /// `start` on a running server.
    #[error(
        "start: {addr} is already running (pid {pid}{}); use `restart`",
        if *.paused { ", paused" } else { "" }
    )]
    AlreadyRunning {
        /// The server.
        addr: SocketAddrV4,
        /// Its pid.
        pid: u32,
        /// Whether it is stopped with SIGSTOP.
        paused: bool,
    },
    /// `pause` on a paused server.
    #[error("pause: {addr} (pid {pid}) is already paused")]
    AlreadyPaused {
        /// The server.
        addr: SocketAddrV4,
        /// Its pid.
        pid: u32,
    },
    /// `resume` on a server that is not paused.
    #[error("resume: {addr} (pid {pid}) is not paused (use `pause` first)")]
    NotPaused {
        /// The server.
        addr: SocketAddrV4,
        /// Its pid.
        pid: u32,
    },
    /// A signal of the action did not reach the process.
    #[error("{} {addr}: {source}", .action.word())]
    Signal {
        /// The action that failed.
        action: ProcessAction,
        /// The server.
        addr: SocketAddrV4,
        /// Why.
        #[source]
        source: SignalError,
    },
    /// `start` or `restart` could not start the process.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

/// Why [`super::Supervisor::add_server`] refused a configuration.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The new configuration is empty.
    #[error("the new configuration has no servers")]
    NoServers,
    /// The new configuration is not the current one plus its last server.
    #[error("add {addr}: the new configuration is not the current one plus {addr}")]
    NotOneMore {
        /// The new configuration's last server.
        addr: SocketAddrV4,
    },
    /// Every cell of the pid table is taken.
    #[error("add {addr}: at most {MAX_ADDED_SERVERS} servers can be added in one session")]
    TooMany {
        /// The server that would be added.
        addr: SocketAddrV4,
    },
    /// The configuration was taken but the new server could not be started.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

/// Why [`super::Supervisor::remove_server`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    /// No configured server at that position (1-based `number`).
    #[error("remove: there is no server {number}")]
    NoServer {
        /// The 1-based server number asked for.
        number: usize,
    },
    /// The new configuration is not the current one without that server.
    #[error("remove {addr}: the new configuration is not the current one without {addr}")]
    NotOneLess {
        /// The server to remove.
        addr: SocketAddrV4,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::error::Error as _;
    use std::net::Ipv4Addr;

    use super::*;

    /// Every message is the one the old `format!` built, byte for byte.
    #[test]
    fn messages_are_the_lines_users_see() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 4001);
        let kill = SignalError::Kill {
            signal: Signal::SIGTERM,
            source: Errno::ESRCH,
        };
        assert_eq!(kill.to_string(), format!("SIGTERM: {}", Errno::ESRCH));
        assert_eq!(
            kill.source().map(|s| s.to_string()),
            Some(Errno::ESRCH.to_string())
        );
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let io_text = io.to_string();
        let cases: Vec<(Box<dyn std::error::Error>, String)> = vec![
            (
                Box::new(SignalError::NotRunning),
                "the process is not running".into(),
            ),
            (
                Box::new(SignalError::Ended),
                "the process has just ended".into(),
            ),
            (
                Box::new(SpawnError::Gone),
                "this server is no longer configured".into(),
            ),
            (
                Box::new(SpawnError::NoLongerConfigured { addr }),
                "127.0.0.1:4001: no longer configured".into(),
            ),
            (
                Box::new(SpawnError::AlreadyRunning { addr, pid: 7 }),
                "127.0.0.1:4001 is already running (pid 7)".into(),
            ),
            (
                Box::new(SpawnError::ShuttingDown { addr }),
                "127.0.0.1:4001: dkvs-tui is shutting down".into(),
            ),
            (
                Box::new(SpawnError::Launch {
                    addr,
                    program: "/bin/x y".into(),
                    source: io,
                }),
                format!("cannot start 127.0.0.1:4001: /bin/x y --serve-internal: {io_text}"),
            ),
            (
                Box::new(SpawnError::EndedAtOnce { addr }),
                "127.0.0.1:4001: the child ended at once".into(),
            ),
            (
                Box::new(ActionError::UnknownServer {
                    number: 9,
                    count: 3,
                }),
                "unknown server 9: there are 3 servers".into(),
            ),
            (
                Box::new(ActionError::NoActionLock { number: 9 }),
                "unknown server 9".into(),
            ),
            (
                Box::new(ActionError::NotManaged {
                    action: ProcessAction::Restart,
                    addr,
                }),
                "restart: 127.0.0.1:4001 was not started by dkvs-tui (spawn = false), so it is not controlled from here".into(),
            ),
            (
                Box::new(ActionError::ShuttingDown {
                    action: ProcessAction::Start,
                }),
                "start: dkvs-tui is shutting down".into(),
            ),
            (
                Box::new(ActionError::NotRunning {
                    action: ProcessAction::Pause,
                    addr,
                }),
                "pause: 127.0.0.1:4001 is not running (nothing to pause; use `start`)".into(),
            ),
            (
                Box::new(ActionError::AlreadyRunning {
                    addr,
                    pid: 7,
                    paused: false,
                }),
                "start: 127.0.0.1:4001 is already running (pid 7); use `restart`".into(),
            ),
            (
                Box::new(ActionError::AlreadyRunning {
                    addr,
                    pid: 7,
                    paused: true,
                }),
                "start: 127.0.0.1:4001 is already running (pid 7, paused); use `restart`".into(),
            ),
            (
                Box::new(ActionError::AlreadyPaused { addr, pid: 7 }),
                "pause: 127.0.0.1:4001 (pid 7) is already paused".into(),
            ),
            (
                Box::new(ActionError::NotPaused { addr, pid: 7 }),
                "resume: 127.0.0.1:4001 (pid 7) is not paused (use `pause` first)".into(),
            ),
            (
                Box::new(ActionError::Signal {
                    action: ProcessAction::Kill,
                    addr,
                    source: SignalError::Ended,
                }),
                "kill 127.0.0.1:4001: the process has just ended".into(),
            ),
            (
                Box::new(ActionError::from(SpawnError::Gone)),
                "this server is no longer configured".into(),
            ),
            (
                Box::new(AddError::NoServers),
                "the new configuration has no servers".into(),
            ),
            (
                Box::new(AddError::NotOneMore { addr }),
                "add 127.0.0.1:4001: the new configuration is not the current one plus 127.0.0.1:4001".into(),
            ),
            (
                Box::new(AddError::TooMany { addr }),
                format!("add 127.0.0.1:4001: at most {MAX_ADDED_SERVERS} servers can be added in one session"),
            ),
            (
                Box::new(AddError::from(SpawnError::ShuttingDown { addr })),
                "127.0.0.1:4001: dkvs-tui is shutting down".into(),
            ),
            (
                Box::new(RemoveError::NoServer { number: 4 }),
                "remove: there is no server 4".into(),
            ),
            (
                Box::new(RemoveError::NotOneLess { addr }),
                "remove 127.0.0.1:4001: the new configuration is not the current one without 127.0.0.1:4001".into(),
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn sources_are_kept() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 4001);
        let launch = SpawnError::Launch {
            addr,
            program: "/nonexistent".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let io = launch
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind);
        assert_eq!(io, Some(std::io::ErrorKind::PermissionDenied));
        let action = ActionError::Signal {
            action: ProcessAction::Stop,
            addr,
            source: SignalError::Kill {
                signal: Signal::SIGTERM,
                source: Errno::EPERM,
            },
        };
        let signal = action
            .source()
            .and_then(|s| s.downcast_ref::<SignalError>());
        assert!(matches!(
            signal,
            Some(SignalError::Kill {
                source: Errno::EPERM,
                ..
            })
        ));
        // A spawn failure inside an action is transparent: same source.
        let wrapped = ActionError::from(launch);
        assert!(
            wrapped
                .source()
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some()
        );
    }
}
