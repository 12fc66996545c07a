//! The process supervisor of `dkvs-tui` (docs/TUI.md).
//!
//! It exists so one program can run a whole local cluster: it starts every
//! `spawn` server of the configuration as a child process (the same
//! executable in a hidden server mode, see [`Launcher`]), keeps each child's
//! stderr in a bounded log, notices exits, kills / stops / starts / pauses /
//! resumes children on command, probes every server (also the ones it did not
//! start) for a live state, and on exit stops everything it started — and
//! never anything else.
//!
//! Design:
//! - Each child is owned by one task that waits for it and is the only one to
//!   reap it. Signals go through that task, which sends them only while
//!   `Child::id()` is still `Some` (not yet reaped), so a signal can never hit
//!   a recycled pid. Only [`Supervisor::kill_all_now`] (panic and signal
//!   paths) signals pids directly, from lock-free atomics.
//! - Children run in their own process group, so a Ctrl-C typed in the
//!   terminal reaches `dkvs-tui` only, which then stops them in order.
//! - A prober sends a v1 get for [`PROBE_KEY`] to every server every
//!   [`PROBE_INTERVAL`]; any reply from that address means up. In a cluster
//!   with a `key_file` it sends an unsigned v2 HELLO instead (a server with
//!   a key drops v1 but answers HELLO), and spawned servers get the key file
//!   in `DKVS_KEY_FILE`.
//! - State sits behind one mutex; every visible change (state, event, log
//!   line) bumps a `watch` channel so a screen can redraw at once. Probe
//!   answers that change nothing visible except the answer's age do not bump
//!   it (a screen shows ages with its own clock tick).

// Not yet under the crate's no-panic lint policy (see src/lib.rs): its
// indexing is over its own tables and is covered by tests; moving it to
// checked lookups is listed as remaining work in docs/FUZZING.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::VecDeque;
use std::ffi::OsString;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::config::{ClusterConfig, ServerSpec};
use crate::repl::ProcessAction;

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

/// How to start one server process: `program args... <IP> <PORT>`, with
/// `--data-dir DIR`, `--sync POLICY` and `--metrics ADDR:PORT` before the
/// address when the server's [`ServerSpec`] has them.
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

    fn command(&self, spec: &ServerSpec) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        // A durable server (`data_dir` in cluster.toml) gets its storage
        // options before the address, a scraped one (`metrics`) its
        // endpoint.
        if let Some(dir) = &spec.data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        if let Some(sync) = spec.sync {
            cmd.arg("--sync").arg(sync.to_string());
        }
        if let Some(metrics) = spec.metrics {
            cmd.arg("--metrics").arg(metrics.to_string());
        }
        cmd.arg(spec.ip.to_string())
            .arg(spec.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            // Plain log lines: they are shown in a pane, not a terminal.
            .env("NO_COLOR", "1");
        cmd
    }
}

/// How many servers `add` may add beyond those configured at start (each
/// takes a cell of the lock-free pid table that the panic path reads).
pub const MAX_ADDED_SERVERS: usize = 64;

/// The position of slot `id` in the slot list (its configuration index
/// unless it is leaving), if it is still there.
fn position(state: &State, id: u64) -> Option<usize> {
    state.slots.iter().position(|s| s.id == id)
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

/// The hidden flag that turns `dkvs-tui` into a server.
pub const SERVE_FLAG: &str = "--serve-internal";

/// A signal for a child's owner task, with where to report the result.
struct SignalRequest {
    signal: Signal,
    done: oneshot::Sender<Result<(), String>>,
}

/// One server's bookkeeping.
struct Slot {
    /// Never reused: how a child's owner task finds its slot when a
    /// membership change has moved it.
    id: u64,
    /// Its cell in `Inner::pids`, `probes` and `actions`.
    cell: usize,
    /// Removed from the configuration, still running until
    /// [`Supervisor::retire`] stops it (kept after the configured slots).
    leaving: bool,
    spec: ServerSpec,
    managed: bool,
    pid: Option<u32>,
    /// Bumped on every spawn, so a stale owner task cannot touch a newer child.
    generation: u64,
    signals: Option<mpsc::UnboundedSender<SignalRequest>>,
    paused: bool,
    spawned_at: Option<Instant>,
    last_answer: Option<Instant>,
    last_exit: Option<String>,
    state: ServerState,
    log: VecDeque<String>,
    /// Lines ever added to `log` (also those dropped since), so a screen
    /// scrolled back in the log can keep its place as new lines arrive.
    log_total: u64,
}

impl Slot {
    /// A slot for `spec` (id `id`, cell `cell`), not started: down when
    /// dkvs-tui spawns it, unreachable until probed otherwise.
    fn new(id: u64, cell: usize, spec: &ServerSpec) -> Slot {
        Slot {
            id,
            cell,
            leaving: false,
            spec: spec.clone(),
            managed: spec.spawn,
            pid: None,
            generation: 0,
            signals: None,
            paused: false,
            spawned_at: None,
            last_answer: None,
            last_exit: None,
            state: if spec.spawn {
                ServerState::Down
            } else {
                ServerState::Unreachable
            },
            log: VecDeque::new(),
            log_total: 0,
        }
    }
}

struct State {
    slots: Vec<Slot>,
    /// The last events, each with its sequence number (1, 2, …).
    events: VecDeque<(u64, LogEvent)>,
    /// Sequence number of the last event.
    event_count: u64,
}

struct Inner {
    /// The configuration now (membership changes replace it).
    config: Mutex<Arc<ClusterConfig>>,
    /// The next slot id.
    next_id: AtomicU64,
    launcher: Launcher,
    state: Mutex<State>,
    /// Pids of live children by cell, 0 = none: read without locks by
    /// `kill_all_now`. There are [`MAX_ADDED_SERVERS`] more cells than
    /// configured servers at start, for `add`.
    pids: Vec<AtomicU32>,
    /// Probes sent to each server so far, by cell (each is a get the server
    /// counts).
    probes: Vec<AtomicU64>,
    /// Bumped when a probe round has ended (every probe answered or timed
    /// out), so a reader of the servers' counters can avoid probes in flight.
    rounds: watch::Sender<u64>,
    changes: watch::Sender<u64>,
    probe_now: Notify,
    shutting_down: AtomicBool,
    prober: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One lock per server (by cell): process actions on a server run one
    /// at a time (the screen's keys and the REPL may ask at once).
    actions: Vec<tokio::sync::Mutex<()>>,
}

/// The supervisor; cheap to clone (shared state inside).
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

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() >= LOG_CAPACITY {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// Adds a line to a server's log, counting it.
fn push_log(slot: &mut Slot, line: String) {
    push_bounded(&mut slot.log, line);
    slot.log_total += 1;
}

/// "exited with status 0", "killed by SIGKILL", …
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("killed by {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        "ended".to_string()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config(&self) -> Arc<ClusterConfig> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn event(&self, state: &mut State, server: Option<usize>, text: String) {
        tracing::info!(target: "dkvs::supervisor", "{text}");
        state.event_count += 1;
        let seq = state.event_count;
        push_bounded(
            &mut state.events,
            (
                seq,
                LogEvent {
                    at: SystemTime::now(),
                    server,
                    text,
                },
            ),
        );
    }

    /// Recomputes a slot's state; logs and returns true on a change.
    fn set_state(&self, state: &mut State, index: usize, answered: Option<bool>) -> bool {
        let slot = &mut state.slots[index];
        let new = if slot.paused {
            ServerState::Paused
        } else if answered == Some(true)
            || (answered.is_none() && slot.state == ServerState::Up && slot.pid.is_some())
        {
            // Answering (even if the process is someone else's on our port),
            // or no news since it last was up.
            ServerState::Up
        } else if slot.managed && slot.pid.is_none() {
            ServerState::Down
        } else if slot.managed
            && slot
                .spawned_at
                .is_some_and(|t| t.elapsed() < STARTING_GRACE)
        {
            ServerState::Starting
        } else {
            ServerState::Unreachable
        };
        let old = slot.state;
        if old == new {
            return false;
        }
        slot.state = new;
        let text = format!("{}: {} → {}", slot.spec.addr(), old.word(), new.word());
        self.event(state, Some(index), text);
        true
    }
}

impl Supervisor {
    /// Spawns every `spawn` server and starts probing. Must be called inside
    /// a tokio runtime.
    pub fn start(config: Arc<ClusterConfig>, launcher: Launcher) -> Supervisor {
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
        });
        let supervisor = Supervisor { inner };
        for (index, spec) in config.servers.iter().enumerate() {
            if spec.spawn {
                // A failure is already in the event log.
                let _ = supervisor.spawn(index as u64);
            }
        }
        let prober = tokio::spawn(probe_loop(supervisor.inner.clone()));
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
            })
            .collect()
    }

    /// The event log, oldest first (bounded).
    pub fn events(&self) -> Vec<LogEvent> {
        self.inner
            .lock()
            .events
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Events after sequence number `after` (0 = all kept), and the sequence
    /// number of the last event, to pass next time.
    pub fn events_since(&self, after: u64) -> (Vec<LogEvent>, u64) {
        let state = self.inner.lock();
        let events = state
            .events
            .iter()
            .filter(|(seq, _)| *seq > after)
            .map(|(_, e)| e.clone())
            .collect();
        (events, state.event_count)
    }

    /// The child's stderr lines of one server (bounded); empty for an
    /// unknown index.
    pub fn server_log(&self, index: usize) -> Vec<String> {
        self.inner
            .lock()
            .slots
            .get(index)
            .map(|s| s.log.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The child's stderr lines of one server (bounded, as
    /// [`Supervisor::server_log`]) and how many lines it has had in all
    /// since the supervisor started (dropped ones included); `(empty, 0)`
    /// for an unknown index.
    pub fn server_log_counted(&self, index: usize) -> (Vec<String>, u64) {
        self.inner
            .lock()
            .slots
            .get(index)
            .map(|s| (s.log.iter().cloned().collect(), s.log_total))
            .unwrap_or_default()
    }

    /// How many probes that are gets (of [`PROBE_KEY`]) have been sent to
    /// each server so far, in configuration order: the server counts them
    /// among its operations, so whoever turns a server's counters into a
    /// rate subtracts these. Always 0 in a cluster with a key, whose probe
    /// is a HELLO (not an operation).
    pub fn probes_sent(&self) -> Vec<u64> {
        let state = self.inner.lock();
        state
            .slots
            .iter()
            .filter(|s| !s.leaving)
            .map(|s| {
                self.inner
                    .probes
                    .get(s.cell)
                    .map_or(0, |p| p.load(Ordering::Relaxed))
            })
            .collect()
    }

    /// Waits until the next probe round has ended, at most `limit`; true if
    /// it did. Right after a round no probe is in flight (the next one
    /// starts [`PROBE_INTERVAL`] after the last began), so counters read
    /// then agree with [`Supervisor::probes_sent`].
    pub async fn next_probe_round(&self, limit: Duration) -> bool {
        let mut rounds = self.inner.rounds.subscribe();
        rounds.borrow_and_update();
        matches!(
            tokio::time::timeout(limit, rounds.changed()).await,
            Ok(Ok(()))
        )
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

    /// Asks the prober for a round now (after an action).
    pub fn probe_soon(&self) {
        self.inner.probe_now.notify_one();
    }

    /// Starts the server of slot `id` as a child process. Returns its pid.
    fn spawn(&self, id: u64) -> Result<u32, String> {
        let inner = &self.inner;
        let Some(spec) = ({
            let state = inner.lock();
            position(&state, id).map(|i| state.slots[i].spec.clone())
        }) else {
            return Err("this server is no longer configured".into());
        };
        let mut command = inner.launcher.command(&spec);
        if let Some(file) = &inner.config().defaults.key_file {
            command.env(crate::limits::KEY_FILE_ENV, file);
        }
        let mut state = inner.lock();
        let Some(index) = position(&state, id) else {
            return Err(format!("{}: no longer configured", spec.addr()));
        };
        if let Some(pid) = state.slots[index].pid {
            return Err(format!("{} is already running (pid {pid})", spec.addr()));
        }
        if inner.shutting_down.load(Ordering::SeqCst) {
            return Err(format!("{}: dkvs-tui is shutting down", spec.addr()));
        }
        let spawned = command.spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let msg = format!(
                    "cannot start {}: {} {}: {e}",
                    spec.addr(),
                    inner.launcher.program.display(),
                    SERVE_FLAG
                );
                inner.event(&mut state, Some(index), msg.clone());
                drop(state);
                inner.bump();
                return Err(msg);
            }
        };
        let Some(pid) = child.id() else {
            return Err(format!("{}: the child ended at once", spec.addr()));
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let slot = &mut state.slots[index];
        slot.generation += 1;
        let generation = slot.generation;
        slot.pid = Some(pid);
        slot.signals = Some(tx);
        slot.paused = false;
        slot.spawned_at = Some(Instant::now());
        slot.last_exit = None;
        inner.pids[slot.cell].store(pid, Ordering::SeqCst);
        inner.event(
            &mut state,
            Some(index),
            format!("spawned {} (pid {pid})", spec.addr()),
        );
        // "spawned" says it all: no separate "down → starting" event.
        state.slots[index].state = ServerState::Starting;
        // A marker between the logs of two runs of the same server.
        push_log(
            &mut state.slots[index],
            format!("── dkvs-tui: spawned pid {pid} ──"),
        );
        drop(state);
        inner.bump();
        let stderr = child.stderr.take();
        tokio::spawn(own_child(inner.clone(), id, generation, child, stderr, rx));
        Ok(pid)
    }

    /// Sends a signal to the live child of slot `id` through its owner task.
    async fn signal(&self, id: u64, signal: Signal) -> Result<(), String> {
        let sender = {
            let state = self.inner.lock();
            position(&state, id).and_then(|i| state.slots[i].signals.clone())
        };
        let Some(sender) = sender else {
            return Err("the process is not running".into());
        };
        let (done, result) = oneshot::channel();
        if sender.send(SignalRequest { signal, done }).is_err() {
            return Err("the process has just ended".into());
        }
        result
            .await
            .unwrap_or_else(|_| Err("the process has just ended".into()))
    }

    /// Waits until the child of slot `id` is reaped; true if it was
    /// within `limit`.
    async fn wait_exit(&self, id: u64, limit: Duration) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        let ended = || {
            let state = self.inner.lock();
            position(&state, id).is_none_or(|i| state.slots[i].pid.is_none())
        };
        loop {
            if ended() {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return ended(),
            }
        }
    }

    /// SIGTERM (after SIGCONT if paused), then SIGKILL after [`STOP_GRACE`].
    async fn stop_child(&self, id: u64) -> Result<String, String> {
        let paused = {
            let state = self.inner.lock();
            position(&state, id).is_some_and(|i| state.slots[i].paused)
        };
        if paused {
            self.signal(id, Signal::SIGCONT).await?;
            let mut state = self.inner.lock();
            if let Some(i) = position(&state, id) {
                state.slots[i].paused = false;
            }
        }
        self.signal(id, Signal::SIGTERM).await?;
        if self.wait_exit(id, STOP_GRACE).await {
            return Ok("stopped with SIGTERM".into());
        }
        self.signal(id, Signal::SIGKILL).await?;
        self.wait_exit(id, Duration::from_secs(1)).await;
        Ok(format!(
            "did not stop within {} s of SIGTERM: killed with SIGKILL",
            STOP_GRACE.as_secs()
        ))
    }

    /// Runs a process action on a server: `Ok(message)` or `Err(reason)`.
    pub async fn act(&self, action: ProcessAction, index: usize) -> Result<String, String> {
        let (id, cell) = {
            let state = self.inner.lock();
            match state.slots.get(index).filter(|s| !s.leaving) {
                Some(slot) => (slot.id, slot.cell),
                None => {
                    return Err(format!(
                        "unknown server {}: there are {} servers",
                        index + 1,
                        state.slots.iter().filter(|s| !s.leaving).count()
                    ));
                }
            }
        };
        let Some(lock) = self.inner.actions.get(cell) else {
            return Err(format!("unknown server {}", index + 1));
        };
        let _one_at_a_time = lock.lock().await;
        let (index, spec, managed, pid, paused) = {
            let state = self.inner.lock();
            let Some(slot) = position(&state, id).map(|i| (i, &state.slots[i])) else {
                return Err(format!(
                    "unknown server {}: there are {} servers",
                    index + 1,
                    state.slots.len()
                ));
            };
            let (index, slot) = slot;
            (
                index,
                slot.spec.clone(),
                slot.managed,
                slot.pid,
                slot.paused,
            )
        };
        let addr = spec.addr();
        let word = action.word();
        if !managed {
            return Err(format!(
                "{word}: {addr} was not started by dkvs-tui (spawn = false), so it is not controlled from here"
            ));
        }
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(format!("{word}: dkvs-tui is shutting down"));
        }
        let running = |what: &str| -> Result<u32, String> {
            pid.ok_or_else(|| format!("{word}: {addr} is not running ({what}; use `start`)"))
        };
        let result = match action {
            ProcessAction::Kill => {
                let pid = running("nothing to kill")?;
                self.log_action(index, format!("kill {addr}: sending SIGKILL to pid {pid}"));
                self.signal(id, Signal::SIGKILL)
                    .await
                    .map_err(|e| format!("kill {addr}: {e}"))?;
                self.wait_exit(id, Duration::from_secs(2)).await;
                Ok(format!("killed {addr} (pid {pid}) with SIGKILL"))
            }
            ProcessAction::Stop => {
                let pid = running("nothing to stop")?;
                self.log_action(index, format!("stop {addr}: sending SIGTERM to pid {pid}"));
                let how = self
                    .stop_child(id)
                    .await
                    .map_err(|e| format!("stop {addr}: {e}"))?;
                Ok(format!("stopped {addr} (pid {pid}): {how}"))
            }
            ProcessAction::Start => {
                if let Some(pid) = pid {
                    return Err(format!(
                        "start: {addr} is already running (pid {pid}{}); use `restart`",
                        if paused { ", paused" } else { "" }
                    ));
                }
                let new = self.spawn(id)?;
                Ok(format!("started {addr} (pid {new})"))
            }
            ProcessAction::Restart => {
                let mut how = String::new();
                if let Some(pid) = pid {
                    let stopped = self
                        .stop_child(id)
                        .await
                        .map_err(|e| format!("restart {addr}: {e}"))?;
                    how = format!(" (old pid {pid} {stopped})");
                }
                let new = self.spawn(id)?;
                Ok(format!("restarted {addr} (pid {new}){how}"))
            }
            ProcessAction::Pause => {
                let pid = running("nothing to pause")?;
                if paused {
                    return Err(format!("pause: {addr} (pid {pid}) is already paused"));
                }
                self.signal(id, Signal::SIGSTOP)
                    .await
                    .map_err(|e| format!("pause {addr}: {e}"))?;
                self.set_paused(
                    index,
                    true,
                    format!("paused {addr} (pid {pid}) with SIGSTOP"),
                );
                Ok(format!("paused {addr} (pid {pid}) with SIGSTOP"))
            }
            ProcessAction::Resume => {
                let pid = running("nothing to resume")?;
                if !paused {
                    return Err(format!(
                        "resume: {addr} (pid {pid}) is not paused (use `pause` first)"
                    ));
                }
                self.signal(id, Signal::SIGCONT)
                    .await
                    .map_err(|e| format!("resume {addr}: {e}"))?;
                self.set_paused(
                    index,
                    false,
                    format!("resumed {addr} (pid {pid}) with SIGCONT"),
                );
                Ok(format!("resumed {addr} (pid {pid}) with SIGCONT"))
            }
        };
        self.probe_soon();
        result
    }

    fn log_action(&self, index: usize, text: String) {
        let mut state = self.inner.lock();
        self.inner.event(&mut state, Some(index), text);
        drop(state);
        self.inner.bump();
    }

    fn set_paused(&self, index: usize, paused: bool, text: String) {
        let mut state = self.inner.lock();
        state.slots[index].paused = paused;
        self.inner.event(&mut state, Some(index), text);
        if paused {
            self.inner.set_state(&mut state, index, None);
        }
        // On resume the state stays `paused` until the next probe (asked for
        // at once) says whether it answers again.
        drop(state);
        self.inner.bump();
    }

    /// Membership change, `add`: `config` is the current configuration
    /// plus one server at its end (the cluster file as rewritten). The
    /// supervisor takes it as its configuration and, when the new server's
    /// `spawn` is true, starts it. Returns the new server's pid, if started.
    pub fn add_server(&self, config: Arc<ClusterConfig>) -> Result<Option<u32>, String> {
        let Some(spec) = config.servers.last().cloned() else {
            return Err("the new configuration has no servers".into());
        };
        let id = {
            let mut state = self.inner.lock();
            let current = self.inner.config();
            if config.servers.len() != current.servers.len() + 1
                || config.servers.get(..current.servers.len()) != Some(&current.servers[..])
            {
                return Err(format!(
                    "add {}: the new configuration is not the current one plus {}",
                    spec.addr(),
                    spec.addr()
                ));
            }
            // A free cell: no slot uses it and no pid is left in it.
            let Some(cell) = (0..self.inner.pids.len()).find(|&c| {
                !state.slots.iter().any(|s| s.cell == c)
                    && self.inner.pids[c].load(Ordering::SeqCst) == 0
            }) else {
                return Err(format!(
                    "add {}: at most {MAX_ADDED_SERVERS} servers can be added in one session",
                    spec.addr()
                ));
            };
            self.inner.probes[cell].store(0, Ordering::Relaxed);
            let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
            let configured = state.slots.iter().filter(|s| !s.leaving).count();
            let slot = Slot::new(id, cell, &spec);
            // After the configured slots, before the leaving ones.
            state.slots.insert(configured, slot);
            *self.inner.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
            self.inner.event(
                &mut state,
                Some(configured),
                format!("{} added to the configuration", spec.addr()),
            );
            id
        };
        self.inner.bump();
        let pid = if spec.spawn {
            Some(self.spawn(id)?)
        } else {
            None
        };
        self.probe_soon();
        Ok(pid)
    }

    /// Membership change, `remove`: takes server `index` out of the
    /// configuration (`config` is the new one, without it). Its process,
    /// if any, keeps running — it hands its keys over — until
    /// [`Supervisor::retire`]; it is no longer probed or listed.
    pub fn remove_server(
        &self,
        index: usize,
        config: Arc<ClusterConfig>,
    ) -> Result<Leaving, String> {
        let mut state = self.inner.lock();
        let current = self.inner.config();
        let Some(slot) = state.slots.get(index).filter(|s| !s.leaving) else {
            return Err(format!("remove: there is no server {}", index + 1));
        };
        let addr = slot.spec.addr();
        let mut expected = current.servers.clone();
        if index < expected.len() {
            expected.remove(index);
        }
        if config.servers != expected {
            return Err(format!(
                "remove {addr}: the new configuration is not the current one without {addr}"
            ));
        }
        let mut slot = state.slots.remove(index);
        slot.leaving = true;
        let leaving = Leaving {
            id: slot.id,
            addr,
            pid: slot.pid,
        };
        state.slots.push(slot);
        *self.inner.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
        self.inner.event(
            &mut state,
            None,
            format!("{addr} removed from the configuration"),
        );
        drop(state);
        self.inner.bump();
        Ok(leaving)
    }

    /// Stops a leaving server's process (SIGTERM, then SIGKILL after
    /// [`STOP_GRACE`]) and forgets it. Returns how it ended.
    pub async fn retire(&self, leaving: Leaving) -> String {
        let running = {
            let state = self.inner.lock();
            position(&state, leaving.id).is_some_and(|i| state.slots[i].pid.is_some())
        };
        let how = if running {
            match self.stop_child(leaving.id).await {
                Ok(how) => how,
                Err(e) => e,
            }
        } else {
            "was not running".to_string()
        };
        let mut state = self.inner.lock();
        if let Some(i) = position(&state, leaving.id)
            && state.slots[i].pid.is_none()
        {
            state.slots.remove(i);
        }
        drop(state);
        self.inner.bump();
        how
    }

    /// Sends SIGHUP (reload the cluster file) to every running child —
    /// leaving ones included — that has answered probes (a child still
    /// starting may not handle SIGHUP yet, and reads the file anyway),
    /// except `except`'s. Returns the addresses signalled.
    pub async fn reload(&self, except: Option<SocketAddrV4>) -> Vec<SocketAddrV4> {
        let targets: Vec<(u64, SocketAddrV4)> = {
            let state = self.inner.lock();
            state
                .slots
                .iter()
                .filter(|s| s.pid.is_some() && Some(s.spec.addr()) != except)
                .filter(|s| s.leaving || matches!(s.state, ServerState::Up | ServerState::Paused))
                .map(|s| (s.id, s.spec.addr()))
                .collect()
        };
        let mut signalled = Vec::new();
        for (id, addr) in targets {
            if self.signal(id, Signal::SIGHUP).await.is_ok() {
                signalled.push(addr);
            }
        }
        signalled
    }

    /// Adds a line to the event log (e.g. a membership change's progress).
    pub fn note(&self, server: Option<usize>, text: String) {
        let mut state = self.inner.lock();
        self.inner.event(&mut state, server, text);
        drop(state);
        self.inner.bump();
    }

    /// Stops every child it started (SIGCONT, SIGTERM, then SIGKILL after
    /// [`STOP_GRACE`]) and reaps them. Never touches other processes.
    /// Idempotent.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        if let Some(prober) = self
            .inner
            .prober
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            prober.abort();
        }
        // Leaving servers (`remove`) too: every child ever started.
        let running: Vec<u64> = {
            let state = self.inner.lock();
            state
                .slots
                .iter()
                .filter(|s| s.pid.is_some())
                .map(|s| s.id)
                .collect()
        };
        for &id in &running {
            let _ = self.signal(id, Signal::SIGCONT).await;
            let _ = self.signal(id, Signal::SIGTERM).await;
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for &id in &running {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.wait_exit(id, left).await;
        }
        for &id in &running {
            if !self.wait_exit(id, Duration::ZERO).await {
                let _ = self.signal(id, Signal::SIGKILL).await;
                self.wait_exit(id, Duration::from_secs(1)).await;
            }
        }
        let mut state = self.inner.lock();
        self.inner
            .event(&mut state, None, "all spawned servers stopped".into());
        drop(state);
        self.inner.bump();
    }

    /// SIGKILLs every known child at once, synchronously, without locks
    /// (panic and signal paths). The children are reaped by their owner
    /// tasks if the runtime still runs, else by the system when we exit.
    pub fn kill_all_now(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        for pid in &self.inner.pids {
            let pid = pid.load(Ordering::SeqCst);
            if let Ok(pid) = i32::try_from(pid)
                && pid > 0
            {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }

    /// Pids of the children alive now (for tests and the exit message).
    pub fn child_pids(&self) -> Vec<u32> {
        self.inner
            .pids
            .iter()
            .map(|p| p.load(Ordering::SeqCst))
            .filter(|&p| p != 0)
            .collect()
    }
}

/// The task that owns one child: forwards signals while it is unreaped,
/// reads its stderr into the server log, and records its exit.
async fn own_child(
    inner: Arc<Inner>,
    id: u64,
    generation: u64,
    mut child: tokio::process::Child,
    stderr: Option<tokio::process::ChildStderr>,
    mut signals: mpsc::UnboundedReceiver<SignalRequest>,
) {
    let reader = stderr.map(|stderr| {
        let inner = inner.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = strip_ansi(&line);
                let mut state = inner.lock();
                if let Some(index) = position(&state, id) {
                    push_log(&mut state.slots[index], line);
                }
                drop(state);
                inner.bump();
            }
        })
    });
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            Some(request) = signals.recv() => {
                let result = match child.id().and_then(|id| i32::try_from(id).ok()) {
                    Some(pid) => nix::sys::signal::kill(Pid::from_raw(pid), request.signal)
                        .map_err(|e| format!("{}: {e}", request.signal.as_str())),
                    None => Err("the process has just ended".into()),
                };
                let _ = request.done.send(result);
            }
        }
    };
    // The child's stderr closes when it exits; read what is left so its last
    // words (e.g. "address in use") are in the log before the exit event.
    if let Some(reader) = reader {
        let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
    }
    let mut state = inner.lock();
    let Some(index) = position(&state, id) else {
        return;
    };
    if state.slots[index].generation != generation {
        return;
    }
    inner.pids[state.slots[index].cell].store(0, Ordering::SeqCst);
    let slot = &mut state.slots[index];
    let pid = slot.pid.take();
    slot.signals = None;
    slot.paused = false;
    let how = match &status {
        Ok(s) => describe_exit(*s),
        Err(e) => format!("lost ({e})"),
    };
    slot.last_exit = Some(how.clone());
    let failed = !matches!(&status, Ok(s) if s.success());
    let last_words = slot
        .log
        .back()
        .filter(|l| failed && l.contains("ERROR"))
        .cloned();
    let mut text = format!(
        "{} (pid {}) {how}",
        slot.spec.addr(),
        pid.map_or_else(|| "?".into(), |p| p.to_string())
    );
    if let Some(words) = last_words {
        text.push_str(": ");
        text.push_str(&words);
    }
    inner.event(&mut state, Some(index), text);
    inner.set_state(&mut state, index, Some(false));
    drop(state);
    inner.bump();
}

/// A log line without terminal escape sequences (colours, cursor moves)
/// and other control characters, so a pane shows it as text.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte in @..~ ; other escapes: one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' {
            out.push_str("    ");
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// One probe: a v1 get for [`PROBE_KEY`]; true if `addr` answered in time.
pub async fn probe(addr: SocketAddrV4, timeout: Duration) -> bool {
    probe_with(addr, timeout, PROBE_KEY).await
}

/// The probe of a cluster with a key: an unsigned v2 HELLO, which a server
/// with a key still answers (and any v1 server refuses, which is an answer).
pub fn hello_probe() -> Vec<u8> {
    crate::protocol_v2::encode(0, &crate::protocol_v2::Message::Hello, None).unwrap_or_default()
}

/// One probe sending `request`; true if `addr` answered in time.
pub async fn probe_with(addr: SocketAddrV4, timeout: Duration, request: &[u8]) -> bool {
    let Ok(socket) = tokio::net::UdpSocket::bind("0.0.0.0:0").await else {
        return false;
    };
    if socket.send_to(request, addr).await.is_err() {
        return false;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    loop {
        match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok((_, from))) if from == std::net::SocketAddr::V4(addr) => return true,
            Ok(Ok(_)) => {}
            // ICMP port unreachable: nobody there, but keep waiting for the
            // deadline (a server may be starting).
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn probe_loop(inner: Arc<Inner>) {
    let mut interval = tokio::time::interval(PROBE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = inner.probe_now.notified() => {}
        }
        if inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let mut round = tokio::task::JoinSet::new();
        let config = inner.config();
        let request: Arc<[u8]> = match config.defaults.key_file {
            Some(_) => hello_probe().into(),
            None => PROBE_KEY.into(),
        };
        // The configured servers (not the leaving ones), by slot id: a
        // membership change during the round moves slots.
        let targets: Vec<(u64, usize, SocketAddrV4)> = {
            let state = inner.lock();
            state
                .slots
                .iter()
                .filter(|s| !s.leaving)
                .map(|s| (s.id, s.cell, s.spec.addr()))
                .collect()
        };
        for (id, cell, addr) in targets {
            let request = Arc::clone(&request);
            // Only the v1 get is an operation the server counts (HELLO,
            // the keyed cluster's probe, is not).
            if config.defaults.key_file.is_none()
                && let Some(count) = inner.probes.get(cell)
            {
                count.fetch_add(1, Ordering::Relaxed);
            }
            round.spawn(async move { (id, probe_with(addr, PROBE_TIMEOUT, &request).await) });
        }
        let mut answers = Vec::new();
        while let Some(joined) = round.join_next().await {
            if let Ok(answer) = joined {
                answers.push(answer);
            }
        }
        let mut state = inner.lock();
        let mut changed = false;
        for (id, answered) in answers {
            let Some(index) = position(&state, id) else {
                continue;
            };
            if answered {
                state.slots[index].last_answer = Some(Instant::now());
            }
            changed |= inner.set_state(&mut state, index, Some(answered));
        }
        drop(state);
        inner.rounds.send_modify(|v| *v = v.wrapping_add(1));
        if changed {
            inner.bump();
        }
    }
}

#[cfg(test)]
mod tests {
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
