//! Child processes: how a server is launched, the task that owns (and alone
//! reaps and signals) each child, stopping one, and stopping them all.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};

use super::error::{SignalError, SpawnError};
use super::events::{push_log, strip_ansi};
use super::state::{Inner, find, find_mut};
use super::{STOP_GRACE, ServerState, Supervisor};
use crate::config::ServerSpec;

/// The hidden flag that turns `dkvs-tui` into a server.
pub const SERVE_FLAG: &str = "--serve-internal";

/// How to start one server process: `program args... <IP> <PORT>`, with
/// the server's own words before the address ([`server_words`]: its
/// `data_dir`, `sync`, `metrics` and `server_options`).
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

    /// The command starting `spec`'s server; inside network namespace
    /// `namespace` when given (`ip netns exec` execs the program, so the
    /// child's pid is the server's).
    fn command(&self, spec: &ServerSpec, namespace: Option<&str>) -> tokio::process::Command {
        let mut cmd = match namespace {
            Some(ns) => {
                let mut cmd = tokio::process::Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(&self.program);
                cmd
            }
            None => tokio::process::Command::new(&self.program),
        };
        cmd.args(&self.args);
        cmd.args(server_words(spec));
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

/// The options `spec` gives its server, before the address: a durable
/// server (`data_dir` in cluster.toml) gets its storage options, a scraped
/// one (`metrics`) its endpoint, and `server_options` their words.
pub fn server_words(spec: &ServerSpec) -> Vec<OsString> {
    let mut words: Vec<OsString> = Vec::new();
    if let Some(dir) = &spec.data_dir {
        words.extend(["--data-dir".into(), dir.into()]);
    }
    if let Some(sync) = spec.sync {
        words.extend(["--sync".into(), sync.to_string().into()]);
    }
    if let Some(metrics) = spec.metrics {
        words.extend(["--metrics".into(), metrics.to_string().into()]);
    }
    words.extend(spec.server_args.iter().map(OsString::from));
    words
}

/// A signal for a child's owner task, with where to report the result.
pub(super) struct SignalRequest {
    signal: Signal,
    done: oneshot::Sender<Result<(), SignalError>>,
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

impl Supervisor {
    /// Starts the server of slot `id` as a child process. Returns its pid.
    pub(super) fn spawn(&self, id: u64) -> Result<u32, SpawnError> {
        let inner = &self.inner;
        let Some(spec) = ({
            let state = inner.lock();
            find(&state, id).map(|(_, s)| s.spec.clone())
        }) else {
            return Err(SpawnError::Gone);
        };
        let namespace = inner.namespace_of(spec.ip);
        let mut command = inner.launcher.command(&spec, namespace.as_deref());
        if let Some(file) = &inner.config().defaults.key_file {
            command.env(crate::limits::KEY_FILE_ENV, file);
        }
        let addr = spec.addr();
        let mut state = inner.lock();
        let Some((index, running)) = find(&state, id).map(|(i, s)| (i, s.pid)) else {
            return Err(SpawnError::NoLongerConfigured { addr });
        };
        if let Some(pid) = running {
            return Err(SpawnError::AlreadyRunning { addr, pid });
        }
        if inner.shutting_down.load(Ordering::SeqCst) {
            return Err(SpawnError::ShuttingDown { addr });
        }
        let spawned = command.spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(source) => {
                let error = SpawnError::Launch {
                    addr,
                    program: inner.launcher.program.clone(),
                    source,
                };
                inner.event(&mut state, Some(index), error.to_string());
                drop(state);
                inner.bump();
                return Err(error);
            }
        };
        let Some(pid) = child.id() else {
            return Err(SpawnError::EndedAtOnce { addr });
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let Some(slot) = state.slots.get_mut(index) else {
            // Cannot happen: the lock has been held since `index` was found.
            // Dropping `child` kills it (`kill_on_drop`).
            tracing::error!(target: "dkvs::supervisor", "{addr}: slot vanished at spawn");
            return Err(SpawnError::NoLongerConfigured { addr });
        };
        slot.generation += 1;
        let generation = slot.generation;
        slot.pid = Some(pid);
        slot.signals = Some(tx);
        slot.paused = false;
        slot.spawned_at = Some(Instant::now());
        slot.last_exit = None;
        // "spawned" says it all: no separate "down → starting" event.
        slot.state = ServerState::Starting;
        let cell = slot.cell;
        inner.store_pid(cell, pid);
        inner.event(
            &mut state,
            Some(index),
            format!("spawned {addr} (pid {pid})"),
        );
        // A marker between the logs of two runs of the same server.
        if let Some(slot) = state.slots.get_mut(index) {
            push_log(slot, format!("── dkvs-tui: spawned pid {pid} ──"));
        }
        drop(state);
        inner.bump();
        let stderr = child.stderr.take();
        tokio::spawn(own_child(inner.clone(), id, generation, child, stderr, rx));
        Ok(pid)
    }

    /// Sends a signal to the live child of slot `id` through its owner task.
    pub(super) async fn signal(&self, id: u64, signal: Signal) -> Result<(), SignalError> {
        let sender = {
            let state = self.inner.lock();
            find(&state, id).and_then(|(_, s)| s.signals.clone())
        };
        let Some(sender) = sender else {
            return Err(SignalError::NotRunning);
        };
        let (done, result) = oneshot::channel();
        if sender.send(SignalRequest { signal, done }).is_err() {
            return Err(SignalError::Ended);
        }
        result.await.unwrap_or(Err(SignalError::Ended))
    }

    /// Waits until the child of slot `id` is reaped; true if it was
    /// within `limit`.
    pub(super) async fn wait_exit(&self, id: u64, limit: Duration) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        let ended = || {
            let state = self.inner.lock();
            find(&state, id).is_none_or(|(_, s)| s.pid.is_none())
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
    pub(super) async fn stop_child(&self, id: u64) -> Result<String, SignalError> {
        let paused = {
            let state = self.inner.lock();
            find(&state, id).is_some_and(|(_, s)| s.paused)
        };
        if paused {
            self.signal(id, Signal::SIGCONT).await?;
            let mut state = self.inner.lock();
            if let Some((_, slot)) = find_mut(&mut state, id) {
                slot.paused = false;
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
        {
            let mut state = self.inner.lock();
            self.inner
                .event(&mut state, None, "all spawned servers stopped".into());
        }
        let inner = self.inner.clone();
        let removed = tokio::task::spawn_blocking(move || inner.remove_hosts())
            .await
            .unwrap_or_else(|e| Some(Err(dkvs_netns::NetnsError::invalid(e.to_string()))));
        match removed {
            None => {}
            Some(Ok(())) => self.note(None, "hosts, links and cuts removed".into()),
            Some(Err(e)) => {
                let text =
                    format!("the hosts were not all removed: {e} (the next start removes them)");
                tracing::warn!(target: "dkvs::supervisor", "{text}");
                self.note(None, text);
            }
        }
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
        self.inner.remove_hosts_now();
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
                if let Some((_, slot)) = find_mut(&mut state, id) {
                    push_log(slot, line);
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
                let signal = request.signal;
                let result = match child.id().and_then(|id| i32::try_from(id).ok()) {
                    Some(pid) => nix::sys::signal::kill(Pid::from_raw(pid), signal)
                        .map_err(|source| SignalError::Kill { signal, source }),
                    None => Err(SignalError::Ended),
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
    record_exit(&inner, id, generation, &status);
}

/// Records how the child of slot `id` (spawn number `generation`) ended,
/// unless the slot is gone or has a newer child.
fn record_exit(inner: &Inner, id: u64, generation: u64, status: &std::io::Result<ExitStatus>) {
    let mut state = inner.lock();
    let Some((index, slot)) = find_mut(&mut state, id) else {
        return;
    };
    if slot.generation != generation {
        return;
    }
    inner.store_pid(slot.cell, 0);
    let pid = slot.pid.take();
    slot.signals = None;
    slot.paused = false;
    let how = match status {
        Ok(s) => describe_exit(*s),
        Err(e) => format!("lost ({e})"),
    };
    slot.last_exit = Some(how.clone());
    let failed = !matches!(status, Ok(s) if s.success());
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
