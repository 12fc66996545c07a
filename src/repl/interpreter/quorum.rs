//! The data commands (get, put, cat, ...) through the quorum client: live or
//! slow-motion traces, then the final per-server lines and the verdict; and
//! the session settings they depend on (`slow`, `skew`).

use std::time::Duration;

use crate::commands;
use crate::quorum::{QuorumOptions, Spelling};
use crate::trace::Trace;

use super::super::Motion;
use super::super::format::{self, error_line};
use super::super::parse::Slow;
use super::{FAILED, Interpreter, LineOutcome, OK, ReplEvent, Sink, say, say_all};

impl Interpreter {
    /// A data command: runs it, reports its traces, prints its lines.
    pub(super) async fn data(
        &mut self,
        command: &commands::Command,
        options: QuorumOptions,
        sink: Sink<'_>,
    ) -> LineOutcome {
        let quorum = match self.client.quorum(options) {
            Ok(q) => q,
            Err(e) => {
                // The REPL's options are words: `n=2`, not `-n 2`.
                say(sink, error_line(e.message(Spelling::Words)));
                return FAILED;
            }
        };
        let (outcome, snapshots) = match self.view.slow_ms {
            None => {
                let mut observer = |t: &Trace| sink(ReplEvent::Trace(Box::new(t.clone())));
                let outcome = commands::execute(&self.client, command, quorum, &mut observer).await;
                (outcome, Vec::new())
            }
            Some(_) => {
                // Collect every snapshot, then show them one by one.
                let mut snapshots: Vec<Trace> = Vec::new();
                let mut observer = |t: &Trace| snapshots.push(t.clone());
                let outcome = commands::execute(&self.client, command, quorum, &mut observer).await;
                (outcome, snapshots)
            }
        };
        // Background work of the operation (read repairs, hints) is
        // waited for first: a hint shows on the line of the server it is
        // for, so the verdict stays the last line of a write; and the ring
        // draws the hints after the verdict.
        let (hints, repairs): (Vec<Trace>, Vec<Trace>) = self
            .client
            .finish_repairs()
            .await
            .into_iter()
            .partition(format::is_hint_report);
        let motions = motions(&outcome.traces, &hints);
        if let Some(ms) = self.view.slow_ms {
            play(snapshots, &motions, ms, sink).await;
        }
        self.last_op = motions;
        if let Some(last) = outcome.traces.last() {
            self.focus(&last.key.clone(), last.quorum.n);
        }
        let several = outcome.traces.len() > 1;
        for trace in &outcome.traces {
            if several {
                say(sink, format::step_header(trace));
            }
            say_all(sink, format::restamp_lines(trace));
            for r in &trace.replicas {
                let mut line = format::replica_line(trace, r);
                line.push_str(&format::hint_note(&hints, &trace.key, r.addr));
                say(sink, line);
            }
            if several {
                say(sink, format::step_verdict(trace));
            }
        }
        say(
            sink,
            format::command_verdict_line(&outcome.result, &outcome.traces),
        );
        if outcome.result.is_err()
            && let Some(why) = outcome.traces.last().and_then(|t| self.partition_reason(t))
        {
            say(sink, why);
        }
        // Read repairs (protocol v2) run after the verdict; show how they went.
        for repair in repairs {
            say_all(sink, format::repair_lines(&repair));
        }
        LineOutcome {
            ok: outcome.result.is_ok(),
            quit: false,
        }
    }

    /// `slow on [ms]` / `slow off`: slow motion for the next operations.
    pub(super) fn slow(&mut self, slow: Slow, sink: Sink<'_>) -> LineOutcome {
        self.view.slow_ms = match slow {
            Slow::On(ms) => Some(ms),
            Slow::Off => None,
        };
        say(sink, format::slow_line(self.view.slow_ms));
        OK
    }

    /// `sloppy on|off`: hinted writes count toward W (Dynamo's sloppy
    /// quorum) or only keep the write for later (the default).
    pub(super) fn sloppy(&mut self, on: bool, sink: Sink<'_>) -> LineOutcome {
        use crate::client::HintMode;
        let mode = if on { HintMode::Count } else { HintMode::Store };
        self.client = self.client.clone().with_hints(mode);
        say(
            sink,
            if on {
                "sloppy quorum on: a write to a silent server goes to the next server of the ring as a hint, and that server's acknowledgement counts toward W"
            } else {
                "sloppy quorum off: only the key's own N servers count toward W; hints are kept for silent servers but never counted"
            },
        );
        OK
    }

    /// `skew [ms]`: shows (and sets) this session's clock offset.
    pub(super) fn skew(&mut self, offset: Option<i64>, sink: Sink<'_>) -> LineOutcome {
        if let Some(ms) = offset {
            self.client.set_clock_offset(ms);
        }
        say(sink, format::skew_line(self.client.clock_offset_ms()));
        OK
    }
}

/// Each finished trace of a line with the holders of the hints left for
/// its silent servers, ready to animate (the pace is set when played).
fn motions(traces: &[Trace], hints: &[Trace]) -> Vec<Motion> {
    traces
        .iter()
        .map(|t| Motion {
            trace: t.clone(),
            step_ms: 0,
            hints: hints
                .iter()
                .filter(|h| h.key == t.key)
                .flat_map(|h| h.replicas.iter().filter(|r| r.hint_for.is_some()))
                .cloned()
                .collect(),
        })
        .collect()
}

/// Slow motion: shows the snapshots `ms` apart. When an operation's first
/// snapshot is shown, its motion (`motions`, in order) is sent too, so the
/// ring plays it in step with the text.
async fn play(snapshots: Vec<Trace>, motions: &[Motion], ms: u64, sink: Sink<'_>) {
    let mut previous: Option<Trace> = None;
    let mut next = motions.iter();
    for snapshot in snapshots {
        if previous
            .as_ref()
            .is_some_and(|p| same_but_finished(p, &snapshot))
        {
            sink(ReplEvent::Trace(Box::new(snapshot.clone())));
            previous = Some(snapshot);
            continue;
        }
        if previous.is_some() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if previous.as_ref().is_none_or(|p| p.finished)
            && let Some(m) = next.next()
        {
            sink(ReplEvent::Motion(Box::new(Motion {
                step_ms: ms,
                ..m.clone()
            })));
        }
        sink(ReplEvent::Trace(Box::new(snapshot.clone())));
        previous = Some(snapshot);
    }
}

/// True when two snapshots differ only by the `finished` flag (no delay
/// between them in slow motion).
fn same_but_finished(a: &Trace, b: &Trace) -> bool {
    let mut a = a.clone();
    a.finished = b.finished;
    a == *b
}
