//! Process actions on command (kill, stop, start, restart, pause, resume):
//! what the supervisor does to one spawned server when the screen or the
//! REPL asks.

use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::Supervisor;
use super::error::{ActionError, SignalError};
use super::state::find;

/// Process actions on a spawned server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessAction {
    /// SIGKILL.
    Kill,
    /// SIGTERM.
    Stop,
    /// Start a stopped server.
    Start,
    /// Stop then start.
    Restart,
    /// SIGSTOP.
    Pause,
    /// SIGCONT.
    Resume,
}

impl ProcessAction {
    /// The REPL word for it.
    pub fn word(self) -> &'static str {
        match self {
            ProcessAction::Kill => "kill",
            ProcessAction::Stop => "stop",
            ProcessAction::Start => "start",
            ProcessAction::Restart => "restart",
            ProcessAction::Pause => "pause",
            ProcessAction::Resume => "resume",
        }
    }
}

/// The server an action is about, as it was when the action began.
struct Target {
    /// Its slot id.
    id: u64,
    /// Its position in the slot list.
    index: usize,
    addr: SocketAddrV4,
    pid: Option<u32>,
    paused: bool,
}

impl Target {
    /// Its pid, or why `action` cannot run on it.
    fn running(&self, action: ProcessAction) -> Result<u32, ActionError> {
        self.pid.ok_or(ActionError::NotRunning {
            action,
            addr: self.addr,
        })
    }

    /// The error of `action`'s signal that did not reach it.
    fn failed(&self, action: ProcessAction, source: SignalError) -> ActionError {
        ActionError::Signal {
            action,
            addr: self.addr,
            source,
        }
    }
}

impl Supervisor {
    /// Runs a process action on a server: `Ok(message)` or `Err(reason)`.
    pub async fn act(&self, action: ProcessAction, index: usize) -> Result<String, ActionError> {
        let (id, cell) = {
            let state = self.inner.lock();
            match state.slots.get(index).filter(|s| !s.leaving) {
                Some(slot) => (slot.id, slot.cell),
                None => {
                    return Err(ActionError::UnknownServer {
                        number: index + 1,
                        count: state.slots.iter().filter(|s| !s.leaving).count(),
                    });
                }
            }
        };
        let Some(lock) = self.inner.actions.get(cell) else {
            return Err(ActionError::NoActionLock { number: index + 1 });
        };
        let _one_at_a_time = lock.lock().await;
        let (target, managed) = {
            let state = self.inner.lock();
            let Some((index, slot)) = find(&state, id) else {
                return Err(ActionError::UnknownServer {
                    number: index + 1,
                    count: state.slots.len(),
                });
            };
            let target = Target {
                id,
                index,
                addr: slot.spec.addr(),
                pid: slot.pid,
                paused: slot.paused,
            };
            (target, slot.managed)
        };
        if !managed {
            return Err(ActionError::NotManaged {
                action,
                addr: target.addr,
            });
        }
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(ActionError::ShuttingDown { action });
        }
        let message = match action {
            ProcessAction::Kill => self.kill(&target).await?,
            ProcessAction::Stop => self.stop(&target).await?,
            ProcessAction::Start => self.start_one(&target)?,
            ProcessAction::Restart => self.restart(&target).await?,
            ProcessAction::Pause => self.pause(&target).await?,
            ProcessAction::Resume => self.resume(&target).await?,
        };
        self.probe_soon();
        Ok(message)
    }

    async fn kill(&self, target: &Target) -> Result<String, ActionError> {
        let addr = target.addr;
        let pid = target.running(ProcessAction::Kill)?;
        self.log_action(
            target.index,
            format!("kill {addr}: sending SIGKILL to pid {pid}"),
        );
        self.signal(target.id, Signal::SIGKILL)
            .await
            .map_err(|source| target.failed(ProcessAction::Kill, source))?;
        self.wait_exit(target.id, Duration::from_secs(2)).await;
        Ok(format!("killed {addr} (pid {pid}) with SIGKILL"))
    }

    async fn stop(&self, target: &Target) -> Result<String, ActionError> {
        let addr = target.addr;
        let pid = target.running(ProcessAction::Stop)?;
        self.log_action(
            target.index,
            format!("stop {addr}: sending SIGTERM to pid {pid}"),
        );
        let how = self
            .stop_child(target.id)
            .await
            .map_err(|source| target.failed(ProcessAction::Stop, source))?;
        Ok(format!("stopped {addr} (pid {pid}): {how}"))
    }

    fn start_one(&self, target: &Target) -> Result<String, ActionError> {
        let addr = target.addr;
        if let Some(pid) = target.pid {
            return Err(ActionError::AlreadyRunning {
                addr,
                pid,
                paused: target.paused,
            });
        }
        let new = self.spawn(target.id)?;
        Ok(format!("started {addr} (pid {new})"))
    }

    async fn restart(&self, target: &Target) -> Result<String, ActionError> {
        let addr = target.addr;
        let mut how = String::new();
        if let Some(pid) = target.pid {
            let stopped = self
                .stop_child(target.id)
                .await
                .map_err(|source| target.failed(ProcessAction::Restart, source))?;
            how = format!(" (old pid {pid} {stopped})");
        }
        let new = self.spawn(target.id)?;
        Ok(format!("restarted {addr} (pid {new}){how}"))
    }

    async fn pause(&self, target: &Target) -> Result<String, ActionError> {
        let addr = target.addr;
        let pid = target.running(ProcessAction::Pause)?;
        if target.paused {
            return Err(ActionError::AlreadyPaused { addr, pid });
        }
        self.signal(target.id, Signal::SIGSTOP)
            .await
            .map_err(|source| target.failed(ProcessAction::Pause, source))?;
        let text = format!("paused {addr} (pid {pid}) with SIGSTOP");
        self.set_paused(target.index, true, text.clone());
        Ok(text)
    }

    async fn resume(&self, target: &Target) -> Result<String, ActionError> {
        let addr = target.addr;
        let pid = target.running(ProcessAction::Resume)?;
        if !target.paused {
            return Err(ActionError::NotPaused { addr, pid });
        }
        self.signal(target.id, Signal::SIGCONT)
            .await
            .map_err(|source| target.failed(ProcessAction::Resume, source))?;
        let text = format!("resumed {addr} (pid {pid}) with SIGCONT");
        self.set_paused(target.index, false, text.clone());
        Ok(text)
    }

    fn set_paused(&self, index: usize, paused: bool, text: String) {
        let mut state = self.inner.lock();
        match state.slots.get_mut(index) {
            Some(slot) => slot.paused = paused,
            // The slot list changed under the action (a membership change).
            None => tracing::warn!(
                target: "dkvs::supervisor",
                "no server at position {index} to mark paused = {paused}"
            ),
        }
        self.inner.event(&mut state, Some(index), text);
        if paused {
            self.inner.set_state(&mut state, index, None);
        }
        // On resume the state stays `paused` until the next probe (asked for
        // at once) says whether it answers again.
        drop(state);
        self.inner.bump();
    }
}
