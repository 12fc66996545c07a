//! The event log and the per-server stderr logs: bounded queues that a
//! screen reads, and the cleaning of the lines that go into them.

use std::collections::VecDeque;
use std::time::SystemTime;

use super::state::{Inner, Slot, State};
use super::{LOG_CAPACITY, LogEvent, Supervisor};

pub(super) fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() >= LOG_CAPACITY {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// Adds a line to a server's log, counting it.
pub(super) fn push_log(slot: &mut Slot, line: String) {
    push_bounded(&mut slot.log, line);
    slot.log_total += 1;
}

impl Inner {
    pub(super) fn event(&self, state: &mut State, server: Option<usize>, text: String) {
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
}

impl Supervisor {
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

    /// Adds a line to the event log (e.g. a membership change's progress).
    pub fn note(&self, server: Option<usize>, text: String) {
        let mut state = self.inner.lock();
        self.inner.event(&mut state, server, text);
        drop(state);
        self.inner.bump();
    }

    /// Adds an event about server `index` and tells the screens.
    pub(super) fn log_action(&self, index: usize, text: String) {
        let mut state = self.inner.lock();
        self.inner.event(&mut state, Some(index), text);
        drop(state);
        self.inner.bump();
    }
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
