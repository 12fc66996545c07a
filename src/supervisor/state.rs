//! The supervisor's shared state (one mutex, lock-free pid table) and how a
//! server's live state is derived from its process and its probes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{Notify, mpsc, watch};

use super::process::{Launcher, SignalRequest};
use super::{LogEvent, STARTING_GRACE, ServerState};
use crate::config::{ClusterConfig, ServerSpec};

/// One server's bookkeeping.
pub(super) struct Slot {
    /// Never reused: how a child's owner task finds its slot when a
    /// membership change has moved it.
    pub(super) id: u64,
    /// Its cell in `Inner::pids`, `probes` and `actions`.
    pub(super) cell: usize,
    /// Removed from the configuration, still running until
    /// [`super::Supervisor::retire`] stops it (kept after the configured
    /// slots).
    pub(super) leaving: bool,
    pub(super) spec: ServerSpec,
    pub(super) managed: bool,
    pub(super) pid: Option<u32>,
    /// Bumped on every spawn, so a stale owner task cannot touch a newer child.
    pub(super) generation: u64,
    pub(super) signals: Option<mpsc::UnboundedSender<SignalRequest>>,
    pub(super) paused: bool,
    pub(super) spawned_at: Option<Instant>,
    pub(super) last_answer: Option<Instant>,
    pub(super) last_exit: Option<String>,
    /// What a watch says of it (`Supervisor::set_badges`).
    pub(super) badge: Option<String>,
    pub(super) state: ServerState,
    pub(super) log: VecDeque<String>,
    /// Lines ever added to `log` (also those dropped since), so a screen
    /// scrolled back in the log can keep its place as new lines arrive.
    pub(super) log_total: u64,
}

impl Slot {
    /// A slot for `spec` (id `id`, cell `cell`), not started: down when
    /// dkvs-tui spawns it, unreachable until probed otherwise.
    pub(super) fn new(id: u64, cell: usize, spec: &ServerSpec) -> Slot {
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
            badge: None,
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

pub(super) struct State {
    pub(super) slots: Vec<Slot>,
    /// The last events, each with its sequence number (1, 2, …).
    pub(super) events: VecDeque<(u64, LogEvent)>,
    /// Sequence number of the last event.
    pub(super) event_count: u64,
}

/// The position of slot `id` in the slot list (its configuration index
/// unless it is leaving), if it is still there.
pub(super) fn position(state: &State, id: u64) -> Option<usize> {
    state.slots.iter().position(|s| s.id == id)
}

/// Slot `id` and its position, if it is still there.
pub(super) fn find(state: &State, id: u64) -> Option<(usize, &Slot)> {
    state.slots.iter().enumerate().find(|(_, s)| s.id == id)
}

/// Slot `id` (mutable) and its position, if it is still there.
pub(super) fn find_mut(state: &mut State, id: u64) -> Option<(usize, &mut Slot)> {
    state.slots.iter_mut().enumerate().find(|(_, s)| s.id == id)
}

pub(super) struct Inner {
    /// The configuration now (membership changes replace it).
    pub(super) config: Mutex<Arc<ClusterConfig>>,
    /// The next slot id.
    pub(super) next_id: AtomicU64,
    pub(super) launcher: Launcher,
    pub(super) state: Mutex<State>,
    /// Pids of live children by cell, 0 = none: read without locks by
    /// `kill_all_now`. There are [`super::MAX_ADDED_SERVERS`] more cells
    /// than configured servers at start, for `add`.
    pub(super) pids: Vec<AtomicU32>,
    /// Probes sent to each server so far, by cell (each is a get the server
    /// counts).
    pub(super) probes: Vec<AtomicU64>,
    /// Bumped when a probe round has ended (every probe answered or timed
    /// out), so a reader of the servers' counters can avoid probes in flight.
    pub(super) rounds: watch::Sender<u64>,
    pub(super) changes: watch::Sender<u64>,
    pub(super) probe_now: Notify,
    pub(super) shutting_down: AtomicBool,
    pub(super) prober: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One lock per server (by cell): process actions on a server run one
    /// at a time (the screen's keys and the REPL may ask at once).
    pub(super) actions: Vec<tokio::sync::Mutex<()>>,
    /// The hosts of the namespaces mode, removed after the children.
    pub(super) hosts: Mutex<Option<dkvs_netns::Hosts>>,
}

impl Inner {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn config(&self) -> Arc<ClusterConfig> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Records `pid` (0 = none) in the lock-free table at `cell`.
    pub(super) fn store_pid(&self, cell: usize, pid: u32) {
        match self.pids.get(cell) {
            Some(p) => p.store(pid, Ordering::SeqCst),
            // Cannot happen: every slot's cell is one of the table's.
            None => tracing::error!(
                target: "dkvs::supervisor",
                "no pid cell {cell} (of {}) for pid {pid}",
                self.pids.len()
            ),
        }
    }

    /// Recomputes a slot's state; logs and returns true on a change.
    pub(super) fn set_state(
        &self,
        state: &mut State,
        index: usize,
        answered: Option<bool>,
    ) -> bool {
        let Some(slot) = state.slots.get_mut(index) else {
            // Cannot happen: callers pass the position of a slot they found
            // under the same lock.
            tracing::error!(target: "dkvs::supervisor", "no server at position {index}");
            return false;
        };
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
