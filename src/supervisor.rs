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
/// `--data-dir DIR` and `--sync POLICY` before the address when the
/// server's [`ServerSpec`] has them.
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
        // options before the address.
        if let Some(dir) = &spec.data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        if let Some(sync) = spec.sync {
            cmd.arg("--sync").arg(sync.to_string());
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

/// The hidden flag that turns `dkvs-tui` into a server.
pub const SERVE_FLAG: &str = "--serve-internal";

/// A signal for a child's owner task, with where to report the result.
struct SignalRequest {
    signal: Signal,
    done: oneshot::Sender<Result<(), String>>,
}

/// One server's bookkeeping.
struct Slot {
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

struct State {
    slots: Vec<Slot>,
    /// The last events, each with its sequence number (1, 2, …).
    events: VecDeque<(u64, LogEvent)>,
    /// Sequence number of the last event.
    event_count: u64,
}

struct Inner {
    config: Arc<ClusterConfig>,
    launcher: Launcher,
    state: Mutex<State>,
    /// Pids of live children, 0 = none: read without locks by `kill_all_now`.
    pids: Vec<AtomicU32>,
    /// Probes sent to each server so far (each is a get the server counts).
    probes: Vec<AtomicU64>,
    /// Bumped when a probe round has ended (every probe answered or timed
    /// out), so a reader of the servers' counters can avoid probes in flight.
    rounds: watch::Sender<u64>,
    changes: watch::Sender<u64>,
    probe_now: Notify,
    shutting_down: AtomicBool,
    prober: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One lock per server: process actions on a server run one at a time
    /// (the screen's keys and the REPL may ask at once).
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
            .field("servers", &self.inner.config.servers.len())
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
            .map(|spec| Slot {
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
            })
            .collect();
        let pids = config.servers.iter().map(|_| AtomicU32::new(0)).collect();
        let (changes, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            config: config.clone(),
            launcher,
            state: Mutex::new(State {
                slots,
                events: VecDeque::new(),
                event_count: 0,
            }),
            pids,
            probes: config.servers.iter().map(|_| AtomicU64::new(0)).collect(),
            rounds: watch::channel(0).0,
            changes,
            probe_now: Notify::new(),
            shutting_down: AtomicBool::new(false),
            prober: Mutex::new(None),
            actions: config
                .servers
                .iter()
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        });
        let supervisor = Supervisor { inner };
        for (index, spec) in config.servers.iter().enumerate() {
            if spec.spawn {
                // A failure is already in the event log.
                let _ = supervisor.spawn(index);
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

    /// The configuration it supervises.
    pub fn config(&self) -> &Arc<ClusterConfig> {
        &self.inner.config
    }

    /// Every server's status, in configuration order.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        let state = self.inner.lock();
        state
            .slots
            .iter()
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
        self.inner
            .probes
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
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

    /// Starts server `index` as a child process. Returns its pid.
    fn spawn(&self, index: usize) -> Result<u32, String> {
        let inner = &self.inner;
        let spec = inner.config.servers[index].clone();
        let mut command = inner.launcher.command(&spec);
        if let Some(file) = &inner.config.defaults.key_file {
            command.env(crate::limits::KEY_FILE_ENV, file);
        }
        let mut state = inner.lock();
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
        inner.pids[index].store(pid, Ordering::SeqCst);
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
        tokio::spawn(own_child(
            inner.clone(),
            index,
            generation,
            child,
            stderr,
            rx,
        ));
        Ok(pid)
    }

    /// Sends a signal to a live child through its owner task.
    async fn signal(&self, index: usize, signal: Signal) -> Result<(), String> {
        let sender = self.inner.lock().slots[index].signals.clone();
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

    /// Waits until the child of server `index` is reaped; true if it was
    /// within `limit`.
    async fn wait_exit(&self, index: usize, limit: Duration) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.inner.lock().slots[index].pid.is_none() {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.inner.lock().slots[index].pid.is_none(),
            }
        }
    }

    /// SIGTERM (after SIGCONT if paused), then SIGKILL after [`STOP_GRACE`].
    async fn stop_child(&self, index: usize) -> Result<String, String> {
        let paused = self.inner.lock().slots[index].paused;
        if paused {
            self.signal(index, Signal::SIGCONT).await?;
            self.inner.lock().slots[index].paused = false;
        }
        self.signal(index, Signal::SIGTERM).await?;
        if self.wait_exit(index, STOP_GRACE).await {
            return Ok("stopped with SIGTERM".into());
        }
        self.signal(index, Signal::SIGKILL).await?;
        self.wait_exit(index, Duration::from_secs(1)).await;
        Ok(format!(
            "did not stop within {} s of SIGTERM: killed with SIGKILL",
            STOP_GRACE.as_secs()
        ))
    }

    /// Runs a process action on a server: `Ok(message)` or `Err(reason)`.
    pub async fn act(&self, action: ProcessAction, index: usize) -> Result<String, String> {
        let Some(lock) = self.inner.actions.get(index) else {
            return Err(format!(
                "unknown server {}: there are {} servers",
                index + 1,
                self.inner.actions.len()
            ));
        };
        let _one_at_a_time = lock.lock().await;
        let (spec, managed, pid, paused) = {
            let state = self.inner.lock();
            let Some(slot) = state.slots.get(index) else {
                return Err(format!(
                    "unknown server {}: there are {} servers",
                    index + 1,
                    state.slots.len()
                ));
            };
            (slot.spec.clone(), slot.managed, slot.pid, slot.paused)
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
                self.signal(index, Signal::SIGKILL)
                    .await
                    .map_err(|e| format!("kill {addr}: {e}"))?;
                self.wait_exit(index, Duration::from_secs(2)).await;
                Ok(format!("killed {addr} (pid {pid}) with SIGKILL"))
            }
            ProcessAction::Stop => {
                let pid = running("nothing to stop")?;
                self.log_action(index, format!("stop {addr}: sending SIGTERM to pid {pid}"));
                let how = self
                    .stop_child(index)
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
                let new = self.spawn(index)?;
                Ok(format!("started {addr} (pid {new})"))
            }
            ProcessAction::Restart => {
                let mut how = String::new();
                if let Some(pid) = pid {
                    let stopped = self
                        .stop_child(index)
                        .await
                        .map_err(|e| format!("restart {addr}: {e}"))?;
                    how = format!(" (old pid {pid} {stopped})");
                }
                let new = self.spawn(index)?;
                Ok(format!("restarted {addr} (pid {new}){how}"))
            }
            ProcessAction::Pause => {
                let pid = running("nothing to pause")?;
                if paused {
                    return Err(format!("pause: {addr} (pid {pid}) is already paused"));
                }
                self.signal(index, Signal::SIGSTOP)
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
                self.signal(index, Signal::SIGCONT)
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
        let running: Vec<usize> = {
            let state = self.inner.lock();
            (0..state.slots.len())
                .filter(|&i| state.slots[i].pid.is_some())
                .collect()
        };
        for &index in &running {
            let _ = self.signal(index, Signal::SIGCONT).await;
            let _ = self.signal(index, Signal::SIGTERM).await;
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for &index in &running {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.wait_exit(index, left).await;
        }
        for &index in &running {
            if self.inner.lock().slots[index].pid.is_some() {
                let _ = self.signal(index, Signal::SIGKILL).await;
                self.wait_exit(index, Duration::from_secs(1)).await;
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
    index: usize,
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
                push_log(&mut state.slots[index], line);
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
    if state.slots[index].generation != generation {
        return;
    }
    inner.pids[index].store(0, Ordering::SeqCst);
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
        let request: Arc<[u8]> = match inner.config.defaults.key_file {
            Some(_) => hello_probe().into(),
            None => PROBE_KEY.into(),
        };
        for (index, spec) in inner.config.servers.iter().enumerate() {
            let addr = spec.addr();
            let request = Arc::clone(&request);
            // Only the v1 get is an operation the server counts (HELLO,
            // the keyed cluster's probe, is not).
            if inner.config.defaults.key_file.is_none()
                && let Some(count) = inner.probes.get(index)
            {
                count.fetch_add(1, Ordering::Relaxed);
            }
            round.spawn(async move { (index, probe_with(addr, PROBE_TIMEOUT, &request).await) });
        }
        let mut answers = vec![false; inner.config.servers.len()];
        while let Some(joined) = round.join_next().await {
            if let Ok((index, answered)) = joined {
                answers[index] = answered;
            }
        }
        let mut state = inner.lock();
        let mut changed = false;
        for (index, answered) in answers.into_iter().enumerate() {
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
