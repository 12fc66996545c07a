//! The process supervisor of `dkvs-tui` (docs/TUI.md): the public types and
//! [`Supervisor`]'s start and read API; each job (spawning, actions, probing,
//! membership, logs) lives in a submodule.

mod actions;
mod error;
mod events;
mod hosts;
mod membership;
mod probe;
mod process;
mod state;

use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, watch};

use crate::config::{ClusterConfig, ServerSpec};

pub use actions::ProcessAction;
pub use error::{ActionError, AddError, RemoveError, SignalError, SpawnError};
pub use events::strip_ansi;
pub use hosts::{NetEnd, NetInfo};
pub use probe::{hello_probe, probe, probe_with};
pub use process::{Launcher, SERVE_FLAG, describe_exit, server_words};

use state::{Inner, Slot, State};

/// Key of the probe's v1 get request (never stored: a get does not write).
pub const PROBE_KEY: &[u8] = b"dkvs-tui probe";
/// Time between two probe rounds.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(300);
/// How long a probe waits for its answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// A spawned server that has not answered yet is `starting` this long.
pub const STARTING_GRACE: Duration = Duration::from_secs(2);
/// How long `stop`, `restart` and `shutdown` wait after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Lines kept per server log, and events kept in the event log.
pub const LOG_CAPACITY: usize = 500;
/// How many servers `add` may add beyond those configured at start (each
/// takes a cell of the lock-free pid table that the panic path reads).
pub const MAX_ADDED_SERVERS: usize = 64;

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
    /// A word about it from a watch (after `heal`: "3 hints", "in sync").
    pub badge: Option<String>,
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

/// A server taken out of the configuration by [`Supervisor::remove_server`]
/// whose process may still run until [`Supervisor::retire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaving {
    /// The supervisor's handle on it.
    id: u64,
    /// Its address.
    pub addr: SocketAddrV4,
    /// Its pid when it was removed, if it was running.
    pub pid: Option<u32>,
}

/// The supervisor; cheap to clone (shared state inside).
///
/// It exists so one program can run a whole local cluster: it starts every
/// `spawn` server of the configuration as a child process (the same
/// executable in a hidden server mode, see [`Launcher`]), keeps each child's
/// stderr in a bounded log, notices exits, kills / stops / starts / pauses /
/// resumes children on command, probes every server (also the ones it did
/// not start) for a live state, and on exit stops everything it started —
/// and never anything else.
///
/// Design:
/// - Each child is owned by one task that waits for it and is the only one
///   to reap it. Signals go through that task, which sends them only while
///   `Child::id()` is still `Some` (not yet reaped), so a signal can never
///   hit a recycled pid. Only [`Supervisor::kill_all_now`] (panic and signal
///   paths) signals pids directly, from lock-free atomics.
/// - Children run in their own process group, so a Ctrl-C typed in the
///   terminal reaches `dkvs-tui` only, which then stops them in order.
/// - A prober sends a v1 get for [`PROBE_KEY`] to every server every
///   [`PROBE_INTERVAL`]; any reply from that address means up. In a cluster
///   with a `key_file` it sends an unsigned v2 HELLO instead (a server with
///   a key drops v1 but answers HELLO), and spawned servers get the key file
///   in `DKVS_KEY_FILE`.
/// - State sits behind one mutex; every visible change (state, event, log
///   line) bumps a `watch` channel so a screen can redraw at once. Probe
///   answers that change nothing visible except the answer's age do not
///   bump it (a screen shows ages with its own clock tick).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("servers", &self.inner.config().servers.len())
            .finish()
    }
}

impl Supervisor {
    /// Spawns every `spawn` server and starts probing. Must be called inside
    /// a tokio runtime.
    pub fn start(config: Arc<ClusterConfig>, launcher: Launcher) -> Supervisor {
        Supervisor::start_with_hosts(config, launcher, None, &[])
    }

    /// [`Supervisor::start`] in namespaces mode: each server whose address
    /// is one of `hosts` runs inside that host, and the hosts are removed
    /// after the children on every exit. `notes` go to the event log first.
    pub fn start_with_hosts(
        config: Arc<ClusterConfig>,
        launcher: Launcher,
        hosts: Option<dkvs_netns::Hosts>,
        notes: &[String],
    ) -> Supervisor {
        let slots = config
            .servers
            .iter()
            .enumerate()
            .map(|(cell, spec)| Slot::new(cell as u64, cell, spec))
            .collect();
        let cells = config.servers.len() + MAX_ADDED_SERVERS;
        let pids = (0..cells).map(|_| AtomicU32::new(0)).collect();
        let (changes, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            config: Mutex::new(config.clone()),
            next_id: AtomicU64::new(config.servers.len() as u64),
            launcher,
            state: Mutex::new(State {
                slots,
                events: VecDeque::new(),
                event_count: 0,
            }),
            pids,
            probes: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            rounds: watch::channel(0).0,
            changes,
            probe_now: Notify::new(),
            shutting_down: AtomicBool::new(false),
            prober: Mutex::new(None),
            actions: (0..cells).map(|_| tokio::sync::Mutex::new(())).collect(),
            hosts: Mutex::new(hosts),
        });
        let supervisor = Supervisor { inner };
        for note in notes {
            supervisor.note(None, note.clone());
        }
        for (index, spec) in config.servers.iter().enumerate() {
            if spec.spawn {
                // A failure is already in the event log.
                let _ = supervisor.spawn(index as u64);
            }
        }
        let prober = tokio::spawn(probe::probe_loop(supervisor.inner.clone()));
        *supervisor
            .inner
            .prober
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(prober);
        supervisor
    }

    /// The configuration it supervises now (`add` and `remove` change it).
    pub fn config(&self) -> Arc<ClusterConfig> {
        self.inner.config()
    }

    /// Every server's status, in configuration order.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        let state = self.inner.lock();
        state
            .slots
            .iter()
            .filter(|s| !s.leaving)
            .enumerate()
            .map(|(index, s)| ServerStatus {
                index,
                spec: s.spec.clone(),
                managed: s.managed,
                pid: s.pid,
                state: s.state,
                last_answer: s.last_answer,
                last_exit: s.last_exit.clone(),
                badge: s.badge.clone(),
            })
            .collect()
    }

    /// Sets each configured server's badge (in configuration order; the
    /// others' are cleared); tells the screens when one changed.
    pub fn set_badges(&self, badges: &[Option<String>]) {
        let mut state = self.inner.lock();
        let mut changed = false;
        for (i, slot) in state.slots.iter_mut().filter(|s| !s.leaving).enumerate() {
            let badge = badges.get(i).cloned().flatten();
            if slot.badge != badge {
                slot.badge = badge;
                changed = true;
            }
        }
        drop(state);
        if changed {
            self.inner.bump();
        }
    }

    /// A receiver whose value changes on every state change, event or log line.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Waits until no spawned server is `starting` any more (each is up, or
    /// its child ended), at most `limit`. True if none is left starting.
    pub async fn wait_started(&self, limit: Duration) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let starting =
                self.inner.lock().slots.iter().any(|s| {
                    s.managed && s.pid.is_some() && !s.paused && s.state != ServerState::Up
                });
            if !starting {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::process::ExitStatus;

    use super::*;

    #[test]
    fn words_glyphs_and_ansi() {
        for (s, w) in [
            (ServerState::Starting, "starting"),
            (ServerState::Up, "up"),
            (ServerState::Down, "down"),
            (ServerState::Paused, "paused"),
            (ServerState::Unreachable, "unreachable"),
        ] {
            assert_eq!(s.word(), w);
            assert_eq!(s.glyph().chars().count(), 1);
        }
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m serving\tx"),
            "2026  INFO serving    x"
        );
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("\u{1b}"), "");
        assert_eq!(strip_ansi("\u{1b}[31"), "");
    }

    #[test]
    fn probes_are_counted_only_when_they_are_gets() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // One server nobody listens on, not ours: probed, never spawned.
        let mut spec = ServerSpec::new(std::net::Ipv4Addr::new(127, 0, 0, 1), 9, 1);
        spec.spawn = false;
        let plain = ClusterConfig::from_servers(vec![spec]).unwrap();
        let mut keyed = plain.clone();
        keyed.defaults.key_file = Some("unused.key".into());
        for (config, counted) in [(plain, true), (keyed, false)] {
            let sent = rt.block_on(async {
                let sup =
                    Supervisor::start(Arc::new(config), Launcher::new("/nonexistent", vec![]));
                // Two rounds at least (a round ends after the probe timeout).
                assert!(sup.next_probe_round(Duration::from_secs(5)).await);
                assert!(sup.next_probe_round(Duration::from_secs(5)).await);
                let sent = sup.probes_sent();
                sup.shutdown().await;
                sent
            });
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0] >= 2, counted, "{sent:?}");
            assert_eq!(sent[0] == 0, !counted, "{sent:?}");
        }
    }

    #[test]
    fn exit_descriptions() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe_exit(ExitStatus::from_raw(0)),
            "exited with status 0"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(1 << 8)),
            "exited with status 1"
        );
        assert_eq!(describe_exit(ExitStatus::from_raw(9)), "killed by SIGKILL");
        assert_eq!(describe_exit(ExitStatus::from_raw(15)), "killed by SIGTERM");
    }
}
