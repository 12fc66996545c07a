//! The REPL (docs/TUI.md): the command language, independent of any terminal.
//!
//! One [`Interpreter`] runs lines for the TUI's REPL pane, for the line
//! shell (`dkvs-tui --shell`) and for piped scripts, so all three print the
//! same text (kept in one place, `format`).

pub mod balance;
pub mod format;
pub mod heal_watch;
pub mod help;
pub mod interpreter;
pub mod lesson;
pub mod motion;
pub mod parse;
pub mod rebalance_watch;
pub mod shell;
pub mod whatif;

pub use interpreter::Interpreter;
pub use parse::{COMMANDS, ProcessAction, ReplCommand, Slow, WhatIf, parse_line};

use crate::config::{ClusterConfig, ServerSpec};
use crate::ring::{Placement, Ring};
use crate::trace::Trace;

/// What the screen should highlight (read after each command).
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The last key used by get/put/where/...: its position and walk.
    pub focus_key: Option<(Vec<u8>, Placement)>,
    /// The current what-if question, if any.
    pub whatif: Option<WhatIfReport>,
    /// Slow motion: delay between reply snapshots.
    pub slow_ms: Option<u64>,
    /// The guided lesson running, if any: what its panel shows.
    pub lesson: Option<LessonView>,
    /// The cuts in force (namespaces mode), as sides per server.
    pub net: Option<NetView>,
}

/// The cuts in force as the screen shows them: which side of a partition
/// each server and the client are on, and the one-way cuts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetView {
    /// Per server (configuration order): its side's letter (`A`, `B`, …)
    /// in the partition in force; `None`: it reaches every side.
    pub sides: Vec<Option<char>>,
    /// The client's (this machine's) side letter; `None`: it reaches
    /// every server.
    pub client_side: Option<char>,
    /// One-way cuts `(from, to)` in force beyond the partition.
    pub one_way: Vec<(crate::supervisor::NetEnd, crate::supervisor::NetEnd)>,
}

impl NetView {
    /// A short label of server `i` for lists: its side letter, and `↛`
    /// with the ends it cannot send to through a one-way cut (`A`,
    /// `B ↛2`, `↛client`), or `None` when it is cut from nothing.
    pub fn label(&self, i: usize) -> Option<String> {
        use crate::supervisor::NetEnd;
        let side = self.sides.get(i).copied().flatten();
        let to: Vec<String> = self
            .one_way
            .iter()
            .filter(|(from, _)| *from == NetEnd::Server(i))
            .map(|(_, to)| to.to_string())
            .collect();
        match (side, to.is_empty()) {
            (None, true) => None,
            (Some(s), true) => Some(s.to_string()),
            (None, false) => Some(format!("↛{}", to.join(","))),
            (Some(s), false) => Some(format!("{s} ↛{}", to.join(","))),
        }
    }
}

/// A guided lesson's current step, as the lesson panel shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LessonView {
    /// The lesson's title.
    pub title: String,
    /// The current step (1-based) and how many there are.
    pub step: usize,
    /// How many steps the lesson has.
    pub steps: usize,
    /// The step's heading.
    pub heading: String,
    /// The step's text, one paragraph per element (unwrapped).
    pub text: Vec<String>,
    /// The command the student is asked to type, as shown (`None` when the
    /// step asks for nothing).
    pub expect: Option<String>,
    /// True once the student typed it (or when nothing is asked).
    pub expect_met: bool,
}

/// One quorum operation to draw travelling on the ring: its final trace
/// (latencies, replies, repairs) played back so that consecutive events
/// are `step_ms` apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Motion {
    /// The finished operation.
    pub trace: Trace,
    /// Milliseconds of screen time between consecutive events.
    pub step_ms: u64,
    /// The holders of the hints sent in the background after it (hinted
    /// handoff), drawn after the verdict with its read repairs.
    pub hints: Vec<crate::trace::ReplicaTrace>,
}

/// The answer to a what-if question.
#[derive(Debug, Clone)]
pub struct WhatIfReport {
    /// One-line description, e.g. "whatif add 127.0.0.1:1239 nodes=2".
    pub title: String,
    /// The hypothetical ring.
    pub ring: Ring,
    /// The hypothetical server list; the ring's server indices point here.
    pub servers: Vec<ServerSpec>,
    /// Fraction of the key space whose owner set changes.
    pub moved_fraction: f64,
    /// Stored keys that would move, and stored keys in total.
    pub stored_keys: Option<(usize, usize)>,
    /// The text printed for it.
    pub lines: Vec<String>,
}

/// Something the interpreter reports while a line runs.
#[derive(Debug, Clone)]
pub enum ReplEvent {
    /// A finished output line (REPL text).
    Line(String),
    /// A quorum operation's trace as it changes (live / slow motion).
    Trace(Box<Trace>),
    /// An operation to animate on the ring (slow motion or `replay`).
    Motion(Box<Motion>),
}

/// Result of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineOutcome {
    /// False if the command failed or was invalid.
    pub ok: bool,
    /// True after `quit`.
    pub quit: bool,
}

/// The REPL text of a trace: one line per contacted server, then the verdict.
pub fn format_trace(trace: &Trace, config: &ClusterConfig) -> Vec<String> {
    format::format_trace(trace, config)
}
