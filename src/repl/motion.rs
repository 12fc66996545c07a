//! The time line of one finished quorum operation, shared by slow motion on
//! the ring, `replay` and the timeline strip.
//!
//! Real latencies are far too short and too uneven to watch, so the ring
//! plays an operation on a monotone warp of its time: every request leaves
//! the client at 0, the replies land in the order they really arrived, the
//! k-th one at k steps, and the silent servers time out one step after the
//! last reply. The quorum moment is the landing of the counted reply that
//! reached W or R. Read repairs and hints travel after the verdict.
//!
//! The timeline strip shows the same operation on its real time axis: each
//! reply marked by its server's number where it arrived, the quorum moment
//! as a bar. It is built here as cells with a [`Look`] (the TUI styles
//! them) and as plain text for the line shell's `replay`.

use std::time::Duration;

use crate::trace::{OpKind, ReplicaTrace, Reply, Trace, Verdict};

use super::Motion;
use super::format::{latency, ordinal, trace_header};

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its reply counted toward W or R.
    Counted,
    /// It answered before the verdict but did not count (another value,
    /// not found, an older version…).
    Ignored,
    /// It answered after the quorum was reached and did not count.
    Late,
    /// Refused, invalid, or the request could not be sent.
    Refused,
    /// No reply before the deadline.
    Timeout,
}

impl Outcome {
    /// The reply's glyph on the ring (never colour alone; `⌛` is two
    /// cells wide).
    pub fn glyph(self) -> &'static str {
        match self {
            Outcome::Counted => "✓",
            Outcome::Ignored => "○",
            Outcome::Late => "∘",
            Outcome::Refused => "✗",
            Outcome::Timeout => "⌛",
        }
    }

    /// What follows the server's number on the time line.
    pub fn suffix(self) -> &'static str {
        match self {
            Outcome::Counted => "",
            other => other.glyph(),
        }
    }
}

/// A request on its way to a replica.
pub const REQUEST_GLYPH: &str = "•";
/// A read repair sent after the verdict.
pub const REPAIR_GLYPH: &str = "↻";
/// A hint, sent to a holder for a silent home server.
pub const HINT_GLYPH: &str = "↪";
/// The legend of the time line's marks (line shell).
pub const MARKS_LEGEND: &str =
    "marks: 2 counted · 2○ not counted · 2∘ late · 2✗ refused · 2⌛ no reply";

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    /// The server (0-based).
    pub server: usize,
    /// The ring index of the node that selected it (where it is drawn).
    pub ring_index: usize,
    /// What became of it.
    pub outcome: Outcome,
    /// True when the request was a hint for a silent home server.
    pub hint: bool,
    /// Its real latency (`None` for a timeout).
    pub latency: Option<Duration>,
    /// When it lands on the warped time line, in steps (1 = first reply;
    /// every timeout shares the step after the last reply).
    pub rank: usize,
}

/// A message sent after the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterKind {
    /// A read repair of a stale replica.
    Repair,
    /// A hint for a silent home server, left with this holder.
    Hint,
}

/// One message sent after the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    /// Which kind.
    pub kind: AfterKind,
    /// The server it goes to (0-based).
    pub server: usize,
    /// The ring index of the node it is drawn at.
    pub ring_index: usize,
}

/// A finished operation laid out in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Get, put or delete.
    pub kind: OpKind,
    /// Every request, in landing order.
    pub flights: Vec<Flight>,
    /// Read repairs and hints, sent after the verdict.
    pub after: Vec<After>,
    /// The step at which the quorum was reached, if it was.
    pub quorum_rank: Option<usize>,
    /// The step at which the verdict is known (the quorum's, or the
    /// failure's).
    pub decided_rank: usize,
    /// The last step (the last reply, or the timeouts).
    pub end_rank: usize,
    /// The real time of the quorum, if reached.
    pub quorum_at: Option<Duration>,
    /// The real time of the last reply (or of the verdict, if later).
    pub end_at: Duration,
    /// W or R.
    pub needed: usize,
    /// "W" or "R".
    pub name: &'static str,
}

fn answered(r: &ReplicaTrace) -> bool {
    matches!(&r.reply, Some(x) if *x != Reply::Timeout)
}

fn refused(reply: &Reply) -> bool {
    matches!(
        reply,
        Reply::Refused(_) | Reply::SendFailed(_) | Reply::Invalid(_) | Reply::V1Only
    )
}

/// Lays out `trace` in time; `hints` are the holders of the hints sent in
/// the background after it (the client's hint reports), drawn after the
/// verdict with its read repairs.
pub fn schedule(trace: &Trace, hints: &[ReplicaTrace]) -> Schedule {
    let mut order: Vec<(usize, &ReplicaTrace)> = trace.replicas.iter().enumerate().collect();
    order.sort_by_key(|(i, r)| (!answered(r), r.latency.unwrap_or(Duration::MAX), *i));
    let replies = order.iter().filter(|(_, r)| answered(r)).count();
    let timeouts = order.len() - replies;
    let end_rank = (replies + usize::from(timeouts > 0)).max(1);
    let reached = trace.verdict == Verdict::Reached;
    let needed = trace.needed();
    let (mut counted, mut quorum_rank, mut rank) = (0usize, None, 0usize);
    let mut flights = Vec::with_capacity(order.len());
    for (_, r) in order {
        let outcome = match &r.reply {
            None | Some(Reply::Timeout) => Outcome::Timeout,
            Some(x) if refused(x) => Outcome::Refused,
            _ if r.counted => Outcome::Counted,
            _ if quorum_rank.is_some() => Outcome::Late,
            _ => Outcome::Ignored,
        };
        if outcome == Outcome::Timeout {
            rank = end_rank;
        } else {
            rank += 1;
        }
        if outcome == Outcome::Counted {
            counted += 1;
            if reached && counted == needed && quorum_rank.is_none() {
                quorum_rank = Some(rank);
            }
        }
        flights.push(Flight {
            server: r.server,
            ring_index: r.ring_index,
            outcome,
            hint: r.hint_for.is_some(),
            latency: r.latency.filter(|_| outcome != Outcome::Timeout),
            rank,
        });
    }
    if reached && quorum_rank.is_none() {
        quorum_rank = Some(last_counted(&flights).unwrap_or(end_rank));
    }
    let last_reply = flights.iter().filter_map(|f| f.latency).max();
    let end_at = last_reply
        .max(trace.decided_after)
        .unwrap_or_default()
        .max(Duration::from_micros(1));
    let decided_rank = quorum_rank.unwrap_or_else(|| failure_rank(trace, &flights, end_rank));
    let mut after: Vec<After> = trace
        .replicas
        .iter()
        .filter(|r| r.repair.is_some())
        .map(|r| After {
            kind: AfterKind::Repair,
            server: r.server,
            ring_index: r.ring_index,
        })
        .collect();
    after.extend(hints.iter().map(|h| After {
        kind: AfterKind::Hint,
        server: h.server,
        ring_index: h.ring_index,
    }));
    Schedule {
        kind: trace.kind,
        flights,
        after,
        quorum_rank,
        decided_rank,
        end_rank,
        quorum_at: if reached {
            trace.decided_after.or(last_reply)
        } else {
            None
        },
        end_at,
        needed,
        name: if trace.kind == OpKind::Get { "R" } else { "W" },
    }
}

fn last_counted(flights: &[Flight]) -> Option<usize> {
    flights
        .iter()
        .filter(|f| f.outcome == Outcome::Counted)
        .map(|f| f.rank)
        .max()
}

/// When a failed operation's verdict is known: the last reply that had
/// arrived by its `decided_after`, or the deadline (the last step).
fn failure_rank(trace: &Trace, flights: &[Flight], end_rank: usize) -> usize {
    let Some(decided) = trace.decided_after else {
        return end_rank;
    };
    if flights.iter().any(|f| f.outcome == Outcome::Timeout)
        && flights
            .iter()
            .filter_map(|f| f.latency)
            .all(|l| l < decided)
    {
        return end_rank;
    }
    flights
        .iter()
        .filter(|f| f.latency.is_some_and(|l| l <= decided))
        .map(|f| f.rank)
        .max()
        .unwrap_or(end_rank)
}

/// A message's trip on screen: it leaves at `from` and arrives at `to`
/// (milliseconds of screen time since the playback began).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Departure.
    pub from: f64,
    /// Arrival.
    pub to: f64,
}

impl Window {
    /// How far along the message is at `t` (0 = leaving, 1 = arrived), or
    /// `None` when it is not travelling then.
    pub fn progress(self, t: f64) -> Option<f64> {
        (t >= self.from && t < self.to).then(|| (t - self.from) / (self.to - self.from).max(1e-9))
    }
}

impl Schedule {
    /// Every request's trip: from the client at 0 to the replica in half a
    /// step.
    pub fn request_window(&self, step_ms: f64) -> Window {
        Window {
            from: 0.0,
            to: step_ms / 2.0,
        }
    }

    /// The trip back of the reply landing at step `rank`: the half step
    /// before `rank` steps.
    pub fn reply_window(&self, rank: usize, step_ms: f64) -> Window {
        let to = rank as f64 * step_ms;
        Window {
            from: to - step_ms / 2.0,
            to,
        }
    }

    /// The trip of read repairs and hints: the step after the last event.
    pub fn after_window(&self, step_ms: f64) -> Window {
        let from = self.end_rank as f64 * step_ms;
        Window {
            from,
            to: from + step_ms,
        }
    }

    /// When the quorum is reached on screen, if it is.
    pub fn quorum_ms(&self, step_ms: f64) -> Option<f64> {
        self.quorum_rank.map(|r| r as f64 * step_ms)
    }

    /// When the verdict is shown on screen.
    pub fn decided_ms(&self, step_ms: f64) -> f64 {
        self.decided_rank as f64 * step_ms
    }

    /// How long the playback lasts (the messages after the verdict
    /// included).
    pub fn total_ms(&self, step_ms: f64) -> f64 {
        let after = if self.after.is_empty() { 0.0 } else { 1.0 };
        (self.end_rank as f64 + after) * step_ms
    }

    /// How many replies answered (timeouts aside).
    pub fn replies(&self) -> usize {
        self.flights
            .iter()
            .filter(|f| f.outcome != Outcome::Timeout)
            .count()
    }

    /// The centre's text once the verdict is known: `✓ W=2` or `✗ W=2`.
    pub fn verdict_text(&self) -> String {
        let mark = if self.quorum_rank.is_some() {
            "✓"
        } else {
            "✗"
        };
        format!("{mark} {}={}", self.name, self.needed)
    }
}

/// How a piece of the time line looks (the TUI styles it; the text keeps
/// only the characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Labels.
    Plain,
    /// The axis.
    Axis,
    /// The quorum's bar and label (or "no quorum").
    Quorum,
    /// A reply of server (0-based) with its outcome.
    Reply(Outcome, usize),
}

/// A run of characters of one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The characters.
    pub text: String,
    /// How they look.
    pub look: Look,
}

/// The time line's three rows: the replies' marks, the axis, the labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRows {
    /// Each reply's server number where it arrived; timeouts after the end.
    pub marks: Vec<Segment>,
    /// `├──┼────┤`, `┼` at the quorum.
    pub axis: Vec<Segment>,
    /// `0`, `│ quorum 0.37 ms`, the end time.
    pub labels: Vec<Segment>,
}

/// One row of cells; `None` is a blank, `Some("")` the right half of a wide
/// character.
struct Row(Vec<Option<(String, Look)>>);

impl Row {
    fn new(width: usize) -> Row {
        Row(vec![None; width])
    }

    fn free(&self, col: usize, len: usize) -> bool {
        col + len <= self.0.len() && self.0.iter().skip(col).take(len).all(Option::is_none)
    }

    /// Writes `text` (`cells` wide) at `col`, one character per cell
    /// (a wide last character takes two).
    fn put(&mut self, col: usize, text: &str, cells: usize, look: Look) {
        let mut c = col;
        for ch in text.chars() {
            if let Some(cell) = self.0.get_mut(c) {
                *cell = Some((ch.to_string(), look));
            }
            c += 1;
        }
        while c < col + cells {
            if let Some(cell) = self.0.get_mut(c) {
                *cell = Some((String::new(), look));
            }
            c += 1;
        }
    }

    /// Whether `len` cells from `col` are free with a blank (or the row's
    /// edge) on each side, so two marks never touch.
    fn spaced(&self, col: usize, len: usize) -> bool {
        let blank = |c: usize| self.0.get(c).is_none_or(Option::is_none);
        self.free(col, len) && (col == 0 || blank(col - 1)) && blank(col + len)
    }

    /// Puts `text` at `col` or the nearest spaced place to its right, else
    /// to its left; false when nowhere.
    fn place(&mut self, col: usize, text: &str, cells: usize, look: Look, limit: usize) -> bool {
        let last = limit.saturating_sub(cells);
        let right = (col.min(last)..=last).find(|&c| self.spaced(c, cells));
        let spot = right.or_else(|| (0..col.min(last)).rev().find(|&c| self.spaced(c, cells)));
        if let Some(c) = spot {
            self.put(c, text, cells, look);
        }
        spot.is_some()
    }

    fn segments(self) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for cell in self.0 {
            let (text, look) = cell.unwrap_or_else(|| (" ".to_string(), Look::Plain));
            match out.last_mut() {
                Some(s) if s.look == look => s.text.push_str(&text),
                _ => out.push(Segment { text, look }),
            }
        }
        if let Some(last) = out.last_mut()
            && last.look == Look::Plain
        {
            let trimmed = last.text.trim_end().len();
            last.text.truncate(trimmed);
        }
        out.retain(|s| !s.text.is_empty());
        out
    }
}

/// The display width of a mark: its characters, `⌛` counting two.
fn mark_cells(text: &str) -> usize {
    text.chars().map(|c| if c == '⌛' { 2 } else { 1 }).sum()
}

/// The time line of `s` in `width` cells. With `upto`, only what landed by
/// that step is shown (the strip follows a playback).
pub fn timeline_rows(s: &Schedule, width: usize, upto: Option<usize>) -> TimelineRows {
    let shown = |rank: usize| upto.is_none_or(|u| rank <= u);
    let timeouts: Vec<String> = s
        .flights
        .iter()
        .filter(|f| f.outcome == Outcome::Timeout)
        .map(|f| format!("{}⌛", f.server + 1))
        .collect();
    let tail: usize = timeouts.iter().map(|t| mark_cells(t) + 1).sum::<usize>()
        + usize::from(!timeouts.is_empty());
    let axis_len = width.saturating_sub(tail).max(12);
    let full = axis_len + tail;
    let col = |d: Duration| {
        let f = d.as_secs_f64() / s.end_at.as_secs_f64().max(1e-12);
        ((f.clamp(0.0, 1.0) * (axis_len - 1) as f64).round() as usize).min(axis_len - 1)
    };
    let quorum = s
        .quorum_rank
        .filter(|&r| shown(r))
        .and(s.quorum_at)
        .map(|at| (col(at), at));
    let mut marks = Row::new(full);
    for f in s.flights.iter().filter(|f| shown(f.rank)) {
        if let Some(l) = f.latency {
            let text = format!("{}{}", f.server + 1, f.outcome.suffix());
            let cells = mark_cells(&text);
            marks.place(
                col(l),
                &text,
                cells,
                Look::Reply(f.outcome, f.server),
                axis_len,
            );
        }
    }
    if shown(s.end_rank) {
        let mut c = axis_len + 1;
        for (f, text) in s
            .flights
            .iter()
            .filter(|f| f.outcome == Outcome::Timeout)
            .zip(&timeouts)
        {
            let cells = mark_cells(text);
            marks.put(c, text, cells, Look::Reply(Outcome::Timeout, f.server));
            c += cells + 1;
        }
    }
    let mut axis = Row::new(axis_len);
    axis.put(0, "├", 1, Look::Axis);
    axis.put(1, &"─".repeat(axis_len - 2), axis_len - 2, Look::Axis);
    axis.put(axis_len - 1, "┤", 1, Look::Axis);
    let mut labels = Row::new(full);
    if let Some((q, at)) = quorum {
        if marks.free(q, 1) {
            marks.put(q, "│", 1, Look::Quorum);
        }
        axis.put(q, "┼", 1, Look::Quorum);
        let text = format!("│ quorum {}", latency(at));
        let len = text.chars().count();
        // Right of the bar when it fits before the end's label, else left.
        let end_len = latency(s.end_at).chars().count() + 1;
        if q + len <= axis_len.saturating_sub(end_len) || (q + len <= full && q < len) {
            labels.put(q, &text, len, Look::Quorum);
        } else {
            let text = format!("quorum {} │", latency(at));
            let len = text.chars().count();
            labels.put((q + 1).saturating_sub(len), &text, len, Look::Quorum);
        }
    } else if s.quorum_rank.is_none() && shown(s.decided_rank) {
        let text = format!("no quorum ({}={})", s.name, s.needed);
        labels.place(2, &text, text.chars().count(), Look::Quorum, full);
    }
    if labels.free(0, 2) {
        labels.put(0, "0", 1, Look::Plain);
    }
    let end = latency(s.end_at);
    let len = end.chars().count();
    let start = axis_len.saturating_sub(len);
    if start > 0 && labels.free(start.saturating_sub(1), len + 1) {
        labels.put(start, &end, len, Look::Plain);
    }
    TimelineRows {
        marks: marks.segments(),
        axis: axis.segments(),
        labels: labels.segments(),
    }
}

fn row_text(segments: &[Segment]) -> String {
    segments.iter().map(|s| s.text.as_str()).collect()
}

/// The messages after the verdict, in words: `read repair ↻ 3 · hint ↪ 4`
/// (empty when none).
pub fn after_text(s: &Schedule) -> String {
    let list = |kind: AfterKind| {
        s.after
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| (a.server + 1).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    let repairs = list(AfterKind::Repair);
    if !repairs.is_empty() {
        parts.push(format!("read repair {REPAIR_GLYPH} {repairs}"));
    }
    let hints = list(AfterKind::Hint);
    if !hints.is_empty() {
        parts.push(format!("hint {HINT_GLYPH} {hints}"));
    }
    parts.join(" · ")
}

/// The operation in one line: `put "a" (N=3 W=2): 3 replies, quorum at the
/// 2nd (0.37 ms), 1 late`.
pub fn summary(trace: &Trace, s: &Schedule) -> String {
    let mut text = format!(
        "{}: {} {}",
        trace_header(trace),
        s.replies(),
        if s.replies() == 1 { "reply" } else { "replies" }
    );
    match (s.quorum_rank, s.quorum_at) {
        (Some(r), Some(at)) => {
            text.push_str(&format!(", quorum at the {} ({})", ordinal(r), latency(at)))
        }
        _ => text.push_str(", no quorum"),
    }
    for (outcome, word) in [
        (Outcome::Late, "late"),
        (Outcome::Refused, "refused"),
        (Outcome::Timeout, "silent"),
    ] {
        let k = s.flights.iter().filter(|f| f.outcome == outcome).count();
        if k > 0 {
            text.push_str(&format!(", {k} {word}"));
        }
    }
    let after = after_text(s);
    if !after.is_empty() {
        text.push_str(&format!("; then {after}"));
    }
    text
}

/// Width of the line shell's time line.
pub const TEXT_WIDTH: usize = 64;

/// `replay` in the line shell, which has no ring: the summary, then the
/// time line as text and the legend of its marks.
pub fn replay_text(motion: &Motion) -> Vec<String> {
    let s = schedule(&motion.trace, &motion.hints);
    let rows = timeline_rows(&s, TEXT_WIDTH, None);
    let mut lines = vec![format!("replay: {}", summary(&motion.trace, &s))];
    for row in [&rows.marks, &rows.axis, &rows.labels] {
        lines.push(format!("  {}", row_text(row)).trim_end().to_string());
    }
    lines.push(format!("  {MARKS_LEGEND}"));
    lines
}

#[cfg(test)]
mod tests;
