//! The screen's state and what every key does to it.
//!
//! Kept apart from drawing and from the terminal so it can be tested as plain
//! data: [`App::handle_key`] is a pure state transition that returns the
//! [`Action`] the event loop must carry out (run a REPL line, act on a
//! server, quit, …). Nothing here touches the terminal, the network or a
//! clock: the loop hands in snapshots of the supervisor and the time.
//!
//! This file holds the state; the transitions are split by what drives
//! them: `keys` (global and REPL-line keys), `servers` (the server list's
//! keys and actions), `mouse`, `repl` (results entries and the interpreter's
//! answers) and `line` (the input line editor).

mod keys;
mod line;
mod motion;
mod mouse;
mod repl;
mod servers;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::config::ClusterConfig;
use crate::repl::{ProcessAction, View, format_trace};
use crate::ring::Ring;
use crate::supervisor::{LogEvent, ServerStatus};
use crate::trace::Trace;

use super::rates::ServerRates;
use super::theme::{Theme, ThemeKind};

pub use line::InputLine;
pub use motion::{FRAME, HOLD, Playing};
pub use repl::{Chunk, Entry};

/// The hidden REPL line that panics when `DKVS_TUI_TEST_PANIC=1` (tests only).
pub const TEST_PANIC_LINE: &str = "__panic";
/// How many results entries are kept.
const MAX_ENTRIES: usize = 200;
/// How many lines of REPL history are kept.
const MAX_HISTORY: usize = 500;
/// Lines moved by PageUp / PageDown and the mouse wheel.
const PAGE: usize = 8;

/// Which part of the screen has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The REPL input line: typed text goes there.
    Repl,
    /// The server list: arrows select, single keys act.
    Servers,
}

/// What the big pane (right of the ring, under the server list) shows; the
/// other one goes to the small pane beside the events. F4 (or `l` in the
/// server list) swaps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainView {
    /// The results of the REPL lines (the server log is small).
    Results,
    /// The selected server's log (the results are small).
    Log,
}

/// The selected server's log as the supervisor last showed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSnapshot {
    /// The server (0-based).
    pub server: usize,
    /// Its last lines, oldest first (bounded by the supervisor).
    pub lines: Vec<String>,
    /// How many lines it has had in all, dropped ones included.
    pub total: u64,
}

/// What the event loop must do after a key or mouse event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Leave the program.
    Quit,
    /// Run a REPL line; its output goes to results entry `id`.
    Run {
        /// The results entry for its output.
        id: u64,
        /// The line.
        line: String,
    },
    /// Run a process action on server `index`; the answer goes to entry `id`.
    Act {
        /// The results entry for the answer.
        id: u64,
        /// What to do.
        action: ProcessAction,
        /// The server (0-based).
        index: usize,
    },
    /// Turn mouse capture on or off.
    SetMouse(bool),
    /// Panic on purpose (test builds of the environment only).
    TestPanic,
}

/// The whole state of the screen.
#[derive(Debug, Clone)]
pub struct App {
    /// The cluster being shown.
    pub config: Arc<ClusterConfig>,
    /// Its ring.
    pub ring: Ring,
    /// Who has the keyboard.
    pub focus: Focus,
    /// The REPL line.
    pub input: InputLine,
    /// The selected server (0-based) in the list.
    pub selected: usize,
    /// Results of the last lines and actions, oldest first.
    pub entries: VecDeque<Entry>,
    /// How many lines the results pane is scrolled up from the bottom.
    pub scroll: usize,
    /// Whether the help is shown.
    pub help_open: bool,
    /// How far the help is scrolled.
    pub help_scroll: usize,
    /// Whether the mouse is captured.
    pub mouse: bool,
    /// Colours.
    pub theme: Theme,
    /// The supervisor's view of every server (last snapshot).
    pub servers: Vec<ServerStatus>,
    /// The supervisor's event log (last snapshot).
    pub events: Vec<LogEvent>,
    /// The selected server's log output (last snapshot).
    pub server_log: Vec<String>,
    /// Which server `server_log` is of, and how many lines it had in all.
    pub server_log_of: (usize, u64),
    /// What the big pane shows.
    pub main_view: MainView,
    /// How many lines the server log is scrolled up from its tail (0 =
    /// following the tail).
    pub log_scroll: usize,
    /// Every server's operations per second (the sparklines).
    pub rates: ServerRates,
    /// Every server's key count at the last poll (STATS `keys`), in
    /// configuration order; the list shows a keys column when one is known.
    pub keys: Vec<Option<u64>>,
    /// Every server's writes held for others at the last poll (STATS
    /// `hints_pending`), in configuration order: the list's hints column,
    /// where hints collect during a partition and drain after `heal`.
    pub hints: Vec<Option<u64>>,
    /// What the interpreter wants highlighted.
    pub view: View,
    /// The time of the last snapshot; ages are computed against it so that
    /// drawing never reads a clock.
    pub now: Instant,
    /// Whether the hidden panic line is armed (`DKVS_TUI_TEST_PANIC=1`).
    pub test_panic: bool,
    /// Turns a live trace into text: [`format_trace`], the shell's own
    /// formatter (replaceable so snapshot tests do not depend on its wording).
    pub trace_text: fn(&Trace, &ClusterConfig) -> Vec<String>,
    /// Operations travelling on the ring, each from the moment it starts
    /// (slow motion, `replay`), in order; the last one stays drawn a moment.
    pub motions: Vec<motion::Playing>,
    /// The last finished operation (the timeline strip).
    pub last_op: Option<crate::repl::Motion>,
    next_id: u64,
}

impl App {
    /// A fresh screen for `config`: REPL focused, help closed, mouse on.
    pub fn new(config: Arc<ClusterConfig>, theme: Theme, now: Instant) -> App {
        let ring = Ring::new(&config);
        let config_servers = config.servers.len();
        App {
            config,
            ring,
            focus: Focus::Repl,
            input: InputLine::default(),
            selected: 0,
            entries: VecDeque::new(),
            scroll: 0,
            help_open: false,
            help_scroll: 0,
            mouse: true,
            theme,
            servers: Vec::new(),
            events: Vec::new(),
            server_log: Vec::new(),
            server_log_of: (0, 0),
            main_view: MainView::Results,
            log_scroll: 0,
            rates: ServerRates::new(config_servers),
            keys: Vec::new(),
            hints: Vec::new(),
            view: View::default(),
            now,
            test_panic: false,
            trace_text: format_trace,
            motions: Vec::new(),
            last_op: None,
            next_id: 1,
        }
    }

    /// Shows another configuration (after `add` or `remove`): its ring,
    /// fresh ops/s histories, the selection kept inside the list.
    pub fn set_config(&mut self, config: Arc<ClusterConfig>) {
        self.ring = Ring::new(&config);
        // A playback names nodes of the old ring.
        self.motions.clear();
        self.rates = ServerRates::new(config.servers.len());
        self.keys.clear();
        self.hints.clear();
        self.selected = self.selected.min(config.servers.len().saturating_sub(1));
        self.config = config;
    }

    /// Number of servers in the configuration.
    pub fn server_count(&self) -> usize {
        self.config.servers.len()
    }

    /// Whether a REPL line or an action is still running.
    pub fn busy(&self) -> usize {
        self.entries.iter().filter(|e| e.done.is_none()).count()
    }

    /// Stores fresh snapshots from the supervisor. A log scrolled back
    /// keeps its place while new lines arrive; the log of another server
    /// starts at its tail.
    pub fn set_snapshot(
        &mut self,
        servers: Vec<ServerStatus>,
        events: Vec<LogEvent>,
        log: LogSnapshot,
        now: Instant,
    ) {
        let (was_of, was_total) = self.server_log_of;
        if was_of != log.server {
            self.log_scroll = 0;
        } else if self.log_scroll > 0 {
            let new = usize::try_from(log.total.saturating_sub(was_total)).unwrap_or(usize::MAX);
            self.log_scroll = self
                .log_scroll
                .saturating_add(new)
                .min(log.lines.len().saturating_sub(1));
        }
        self.servers = servers;
        self.events = events;
        self.server_log = log.lines;
        self.server_log_of = (log.server, log.total);
        self.now = now;
    }

    /// Takes one poll of every server's operation totals (see
    /// [`super::rates`]).
    pub fn on_rates(&mut self, at: Instant, totals: &[Option<super::rates::Reading>]) {
        self.rates.record(at, totals);
    }

    /// Swaps the big and the small pane (results ↔ selected server's log);
    /// the log starts at its tail.
    pub fn toggle_log(&mut self) {
        self.main_view = match self.main_view {
            MainView::Results => MainView::Log,
            MainView::Log => MainView::Results,
        };
        self.log_scroll = 0;
    }

    /// Switches to a theme (used by tests and the environment).
    pub fn set_theme(&mut self, kind: ThemeKind) {
        self.theme = Theme::new(kind);
    }
}

#[cfg(test)]
mod tests;
