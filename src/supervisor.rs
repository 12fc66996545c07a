//! The process supervisor of `dkvs-tui` (SPEC §11).
//!
//! It exists so one program can run a whole local cluster: it starts every
//! `spawn` server of the configuration as a child process (the same
//! executable in a hidden server mode, see [`Launcher`]), keeps each child's
//! stderr in a bounded log, notices exits, kills / stops / starts / pauses /
//! resumes children on command, probes every server (also the ones it did not
//! start) for a live state, and on exit stops everything it started — and
//! never anything else.
//!
//! State is kept behind one mutex; every change bumps a `watch` channel so a
//! screen can redraw within a frame.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::config::{ClusterConfig, ServerSpec};
use crate::repl::ProcessAction;

/// Live state of one server, as the prober sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Spawned recently and not answering yet.
    Starting,
    /// Answered the last probe.
    Up,
    /// Our child is dead or was never started.
    Down,
    /// Our child was stopped with SIGSTOP.
    Paused,
    /// Not answering, and not a child of ours that is known to be dead.
    Unreachable,
}

impl ServerState {
    /// The state as a word.
    pub fn word(self) -> &'static str {
        match self {
            ServerState::Starting => "starting",
            ServerState::Up => "up",
            ServerState::Down => "down",
            ServerState::Paused => "paused",
            ServerState::Unreachable => "unreachable",
        }
    }

    /// The state as one display cell.
    pub fn glyph(self) -> &'static str {
        match self {
            ServerState::Starting => "◌",
            ServerState::Up => "●",
            ServerState::Down => "✖",
            ServerState::Paused => "‖",
            ServerState::Unreachable => "?",
        }
    }
}

/// One server as the supervisor sees it.
#[derive(Debug, Clone)]
pub struct ServerStatus {
    /// 0-based position in the configuration.
    pub index: usize,
    /// Address, nodes, spawn flag.
    pub spec: ServerSpec,
    /// Started by this supervisor (`spawn = true`).
    pub managed: bool,
    /// The child's pid while it is alive.
    pub pid: Option<u32>,
    /// Live state.
    pub state: ServerState,
    /// When the server last answered a probe.
    pub last_answer: Option<Instant>,
    /// How the last child ended, e.g. "killed by SIGKILL".
    pub last_exit: Option<String>,
}

/// One line of the event log.
#[derive(Debug, Clone)]
pub struct LogEvent {
    /// When it happened.
    pub at: SystemTime,
    /// The server it is about, if any.
    pub server: Option<usize>,
    /// What happened.
    pub text: String,
}

/// How to start one server process: `program args... <IP> <PORT>`.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the address (e.g. `--serve-internal -v`).
    pub args: Vec<OsString>,
}

impl Launcher {
    /// A launcher running `program args... <IP> <PORT>`.
    pub fn new(program: impl Into<PathBuf>, args: Vec<OsString>) -> Launcher {
        Launcher {
            program: program.into(),
            args,
        }
    }

    /// This very executable in its hidden server mode:
    /// `<current exe> --serve-internal -v <IP> <PORT>`.
    pub fn current_exe() -> std::io::Result<Launcher> {
        Ok(Launcher::new(
            std::env::current_exe()?,
            vec![SERVE_FLAG.into(), "-v".into()],
        ))
    }
}

/// The hidden flag that turns `dkvs-tui` into a server.
pub const SERVE_FLAG: &str = "--serve-internal";

/// The supervisor; cheap to clone (shared state inside).
#[derive(Clone)]
pub struct Supervisor {
    #[allow(dead_code)]
    inner: Arc<()>,
}

impl Supervisor {
    /// Spawns every `spawn` server and starts probing. Must be called inside
    /// a tokio runtime.
    pub fn start(config: Arc<ClusterConfig>, launcher: Launcher) -> Supervisor {
        let _ = (config, launcher);
        todo!()
    }

    /// Every server's status, in configuration order.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        todo!()
    }

    /// The event log, oldest first (bounded).
    pub fn events(&self) -> Vec<LogEvent> {
        todo!()
    }

    /// The child's stderr lines of one server (bounded).
    pub fn server_log(&self, index: usize) -> Vec<String> {
        let _ = index;
        todo!()
    }

    /// A receiver whose value changes on every state change, event or log line.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        todo!()
    }

    /// Runs a process action on a server: `Ok(message)` or `Err(reason)`.
    pub async fn act(&self, action: ProcessAction, index: usize) -> Result<String, String> {
        let _ = (action, index);
        todo!()
    }

    /// Stops every child it started (SIGCONT, SIGTERM, then SIGKILL after
    /// ~2 s) and reaps them. Never touches other processes.
    pub async fn shutdown(&self) {
        todo!()
    }

    /// SIGKILLs every known child at once, synchronously (panic and signal
    /// paths).
    pub fn kill_all_now(&self) {
        todo!()
    }
}
