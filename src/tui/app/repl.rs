//! The results pane's data: one entry per REPL line or server action, filled
//! by the interpreter's events and answers as they arrive.

use std::sync::Arc;

use crate::repl::{LineOutcome, ReplEvent, View};
use crate::supervisor::ActionError;

use super::{Action, App, MAX_ENTRIES};

/// One piece of a results entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A finished output line.
    Line(String),
    /// A live preview of a quorum operation (its REPL text from
    /// `format_trace`), replaced in place while the operation runs and
    /// dropped when the interpreter prints the final lines.
    Trace {
        /// The formatted lines.
        lines: Vec<String>,
        /// Whether the trace is final.
        finished: bool,
    },
}

/// The output of one REPL line or one server-list action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Identifies it for the loop's answers.
    pub id: u64,
    /// What was run, as shown in the results pane.
    pub command: String,
    /// Its output so far.
    pub chunks: Vec<Chunk>,
    /// `None` while running, else whether it succeeded.
    pub done: Option<bool>,
}

impl Entry {
    /// The output lines, in order.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.chunks.iter().flat_map(|c| match c {
            Chunk::Line(l) => std::slice::from_ref(l).iter().map(String::as_str),
            Chunk::Trace { lines, .. } => lines.iter().map(String::as_str),
        })
    }
}

impl App {
    pub(super) fn new_entry(&mut self, command: String) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_back(Entry {
            id,
            command,
            chunks: Vec::new(),
            done: None,
        });
        while self.entries.len() > MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.scroll = 0;
        id
    }

    /// A line run as if typed on the REPL line (`dkvs-tui --lesson`): its
    /// results entry and the action that runs it.
    pub fn run_as_typed(&mut self, line: &str) -> Action {
        let id = self.new_entry(line.to_string());
        Action::Run {
            id,
            line: line.to_string(),
        }
    }

    fn entry_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.iter_mut().rev().find(|e| e.id == id)
    }

    /// Adds something the interpreter reported for entry `id`. A trace also
    /// moves the ring's highlight to its key at once (not only when the
    /// line is done), so slow motion shows the quorum forming on the ring.
    pub fn on_repl_event(&mut self, id: u64, event: ReplEvent) {
        let config = Arc::clone(&self.config);
        let trace_text = self.trace_text;
        if self.entry_mut(id).is_none() {
            return;
        }
        if let ReplEvent::Trace(trace) = &event {
            let placement = self.ring.placement(&trace.key, trace.quorum.n);
            self.view.focus_key = Some((trace.key.clone(), placement));
            if trace.finished {
                self.on_finished_trace(trace);
            }
        }
        let Some(entry) = self.entry_mut(id) else {
            return;
        };
        match event {
            ReplEvent::Line(line) => {
                // The interpreter prints an operation's final text as lines
                // after its live trace snapshots: the previews go.
                entry.chunks.retain(|c| matches!(c, Chunk::Line(_)));
                entry.chunks.push(Chunk::Line(line));
            }
            // Drawn on the ring: the loop hands it to `on_motion` with the
            // time it arrived.
            ReplEvent::Motion(_) => {}
            ReplEvent::Trace(trace) => {
                let lines = trace_text(&trace, &config);
                let finished = trace.finished;
                match entry.chunks.last_mut() {
                    Some(Chunk::Trace {
                        lines: l,
                        finished: f @ false,
                    }) => {
                        *l = lines;
                        *f = finished;
                    }
                    _ => entry.chunks.push(Chunk::Trace { lines, finished }),
                }
            }
        }
    }

    /// Marks entry `id` done and takes the interpreter's new view.
    pub fn on_line_done(&mut self, id: u64, outcome: LineOutcome, view: View) {
        if let Some(entry) = self.entry_mut(id) {
            entry.done = Some(outcome.ok);
        }
        self.view = view;
    }

    /// Records the answer to a server-list action.
    pub fn on_act_done(&mut self, id: u64, result: Result<String, ActionError>) {
        if let Some(entry) = self.entry_mut(id) {
            let ok = result.is_ok();
            entry.chunks.push(Chunk::Line(match result {
                Ok(m) => m,
                Err(e) => format!("ERROR: {e}"),
            }));
            entry.done = Some(ok);
        }
    }

    /// Closes every running entry with a note (used when the interpreter is gone).
    pub fn abandon_running(&mut self, note: &str) {
        for e in self.entries.iter_mut().filter(|e| e.done.is_none()) {
            e.chunks.push(Chunk::Line(note.to_string()));
            e.done = Some(false);
        }
    }
}
