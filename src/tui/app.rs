//! The screen's state and what every key does to it.
//!
//! Kept apart from drawing and from the terminal so it can be tested as plain
//! data: [`App::handle_key`] is a pure state transition that returns the
//! [`Action`] the event loop must carry out (run a REPL line, act on a
//! server, quit, …). Nothing here touches the terminal, the network or a
//! clock: the loop hands in snapshots of the supervisor and the time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position as CellPosition, Rect};

use crate::config::ClusterConfig;
use crate::repl::{LineOutcome, ProcessAction, ReplEvent, View, format_trace};
use crate::ring::Ring;
use crate::supervisor::{LogEvent, ServerStatus};
use crate::trace::Trace;

use super::rates::ServerRates;
use super::theme::{Theme, ThemeKind};

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

/// The REPL input line with its cursor and history.
#[derive(Debug, Clone, Default)]
pub struct InputLine {
    /// The text being edited.
    pub text: String,
    /// Cursor position, in characters.
    pub cursor: usize,
    /// Lines entered, oldest first.
    pub history: Vec<String>,
    /// Position in the history while browsing it with Up/Down.
    browsing: Option<usize>,
    /// The line being edited before browsing started.
    draft: String,
}

impl InputLine {
    fn byte_at(&self, char_index: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_index)
            .map_or(self.text.len(), |(b, _)| b)
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char) {
        let b = self.byte_at(self.cursor);
        self.text.insert(b, c);
        self.cursor += 1;
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let b = self.byte_at(self.cursor);
            self.text.remove(b);
        }
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.len() {
            let b = self.byte_at(self.cursor);
            self.text.remove(b);
        }
    }

    /// Deletes the word before the cursor (Ctrl-W).
    pub fn delete_word(&mut self) {
        let chars: Vec<char> = self.text.chars().collect();
        let mut start = self.cursor;
        while start > 0 && chars[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && chars[start - 1] != ' ' {
            start -= 1;
        }
        let (a, b) = (self.byte_at(start), self.byte_at(self.cursor));
        self.text.replace_range(a..b, "");
        self.cursor = start;
    }

    /// Deletes from the start of the line to the cursor (Ctrl-U).
    pub fn kill_to_start(&mut self) {
        let b = self.byte_at(self.cursor);
        self.text.replace_range(..b, "");
        self.cursor = 0;
    }

    /// Deletes from the cursor to the end of the line (Ctrl-K).
    pub fn kill_to_end(&mut self) {
        let b = self.byte_at(self.cursor);
        self.text.truncate(b);
    }

    /// Moves the cursor one character left.
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Moves the cursor one character right.
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.len());
    }

    /// Moves the cursor to the start.
    pub fn home(&mut self) {
        self.cursor = 0;
    }

    /// Moves the cursor to the end.
    pub fn end(&mut self) {
        self.cursor = self.len();
    }

    fn set(&mut self, text: String) {
        self.text = text;
        self.cursor = self.len();
    }

    /// Shows the previous history line (Up).
    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let next = match self.browsing {
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        self.set(self.history[next].clone());
    }

    /// Shows the next history line, or the draft after the last (Down).
    pub fn history_next(&mut self) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => {
                self.browsing = Some(i + 1);
                self.set(self.history[i + 1].clone());
            }
            Some(_) => {
                self.browsing = None;
                let draft = std::mem::take(&mut self.draft);
                self.set(draft);
            }
        }
    }

    /// Takes the line for running: records it in the history (without
    /// repeating the previous entry) and clears the input.
    pub fn submit(&mut self) -> String {
        let line = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > MAX_HISTORY {
                self.history.remove(0);
            }
        }
        line
    }
}

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
            view: View::default(),
            now,
            test_panic: false,
            trace_text: format_trace,
            next_id: 1,
        }
    }

    /// Shows another configuration (after `add` or `remove`): its ring,
    /// fresh ops/s histories, the selection kept inside the list.
    pub fn set_config(&mut self, config: Arc<ClusterConfig>) {
        self.ring = Ring::new(&config);
        self.rates = ServerRates::new(config.servers.len());
        self.keys.clear();
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

    fn new_entry(&mut self, command: String) -> u64 {
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
    pub fn on_act_done(&mut self, id: u64, result: Result<String, String>) {
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

    fn act(&mut self, action: ProcessAction) -> Action {
        let n = self.server_count();
        if n == 0 {
            return Action::None;
        }
        let index = self.selected.min(n - 1);
        let name = self.config.servers[index].to_string();
        let id = self.new_entry(format!("{} {} ({name})", action.word(), index + 1));
        Action::Act { id, action, index }
    }

    fn select(&mut self, index: usize) {
        let n = self.server_count();
        if n > 0 {
            self.selected = index.min(n - 1);
        }
    }

    /// Scrolls the big pane's content (results or log) up.
    fn scroll_up(&mut self, lines: usize) {
        match self.main_view {
            MainView::Results => self.scroll = self.scroll.saturating_add(lines),
            MainView::Log => self.scroll_log_up(lines),
        }
    }

    /// Scrolls the big pane's content down (towards the newest lines).
    fn scroll_down(&mut self, lines: usize) {
        match self.main_view {
            MainView::Results => self.scroll = self.scroll.saturating_sub(lines),
            MainView::Log => self.log_scroll = self.log_scroll.saturating_sub(lines),
        }
    }

    fn scroll_log_up(&mut self, lines: usize) {
        self.log_scroll = self
            .log_scroll
            .saturating_add(lines)
            .min(self.server_log.len().saturating_sub(1));
    }

    /// What a key does. Never panics; unknown keys do nothing.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Keys that work everywhere.
        match key.code {
            KeyCode::Char('c') | KeyCode::Char('C') if ctrl => return Action::Quit,
            KeyCode::F(1) => {
                self.help_open = !self.help_open;
                self.help_scroll = 0;
                return Action::None;
            }
            KeyCode::F(2) => {
                self.mouse = !self.mouse;
                return Action::SetMouse(self.mouse);
            }
            KeyCode::F(3) => {
                self.theme = Theme::new(self.theme.kind.next());
                return Action::None;
            }
            KeyCode::F(4) if !self.help_open => {
                self.toggle_log();
                return Action::None;
            }
            _ => {}
        }
        if self.help_open {
            match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter => {
                    self.help_open = false;
                }
                KeyCode::Up => self.help_scroll = self.help_scroll.saturating_sub(1),
                KeyCode::Down => self.help_scroll = self.help_scroll.saturating_add(1),
                KeyCode::PageUp => self.help_scroll = self.help_scroll.saturating_sub(PAGE),
                KeyCode::PageDown => self.help_scroll = self.help_scroll.saturating_add(PAGE),
                KeyCode::Home => self.help_scroll = 0,
                _ => {}
            }
            return Action::None;
        }
        match key.code {
            KeyCode::PageUp => {
                self.scroll_up(PAGE);
                return Action::None;
            }
            KeyCode::PageDown => {
                self.scroll_down(PAGE);
                return Action::None;
            }
            KeyCode::Char('l') if ctrl => {
                self.entries.clear();
                self.scroll = 0;
                return Action::None;
            }
            _ => {}
        }
        match self.focus {
            Focus::Repl => self.repl_key(key),
            Focus::Servers => self.servers_key(key),
        }
    }

    fn repl_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Tab | KeyCode::BackTab => self.focus = Focus::Servers,
            KeyCode::Enter => return self.submit(),
            KeyCode::Char(c) if ctrl => match c {
                'a' => self.input.home(),
                'e' => self.input.end(),
                'b' => self.input.left(),
                'f' => self.input.right(),
                'u' => self.input.kill_to_start(),
                'k' => self.input.kill_to_end(),
                'w' | 'h' => {
                    if c == 'w' {
                        self.input.delete_word()
                    } else {
                        self.input.backspace()
                    }
                }
                'd' => {
                    if self.input.text.is_empty() {
                        return Action::Quit;
                    }
                    self.input.delete()
                }
                'p' => self.input.history_prev(),
                'n' => self.input.history_next(),
                _ => {}
            },
            KeyCode::Char(_) if alt => {}
            KeyCode::Char(c) => self.input.insert(c),
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Home => self.input.home(),
            KeyCode::End => self.input.end(),
            KeyCode::Up => self.input.history_prev(),
            KeyCode::Down => self.input.history_next(),
            KeyCode::Esc => {
                self.input.text.clear();
                self.input.cursor = 0;
            }
            _ => {}
        }
        Action::None
    }

    fn submit(&mut self) -> Action {
        let line = self.input.submit();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Action::None;
        }
        if trimmed == "quit" || trimmed == "exit" {
            return Action::Quit;
        }
        if self.test_panic && trimmed == TEST_PANIC_LINE {
            return Action::TestPanic;
        }
        let id = self.new_entry(trimmed.to_string());
        Action::Run {
            id,
            line: trimmed.to_string(),
        }
    }

    fn servers_key(&mut self, key: KeyEvent) -> Action {
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return Action::None;
        }
        let n = self.server_count();
        match key.code {
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Esc | KeyCode::Char(':') => {
                self.focus = Focus::Repl
            }
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.select(self.selected + 1),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.select(n.saturating_sub(1)),
            KeyCode::Char(d @ '1'..='9') => {
                let i = d as usize - '1' as usize;
                if i < n {
                    self.selected = i;
                }
            }
            KeyCode::Char('k') => return self.act(ProcessAction::Kill),
            KeyCode::Char('s') => return self.act(ProcessAction::Stop),
            KeyCode::Char('S') => return self.act(ProcessAction::Start),
            KeyCode::Char('r') => return self.act(ProcessAction::Restart),
            KeyCode::Char('p') => return self.act(ProcessAction::Pause),
            KeyCode::Char('u') => return self.act(ProcessAction::Resume),
            KeyCode::Char('?') => {
                self.help_open = true;
                self.help_scroll = 0;
            }
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('m') => {
                self.mouse = !self.mouse;
                return Action::SetMouse(self.mouse);
            }
            KeyCode::Char('t') => self.theme = Theme::new(self.theme.kind.next()),
            KeyCode::Char('l') => self.toggle_log(),
            _ => {}
        }
        Action::None
    }

    /// What a mouse event does, given where the panes are.
    pub fn handle_mouse(
        &mut self,
        event: MouseEvent,
        areas: Option<&super::draw::Areas>,
    ) -> Action {
        let Some(areas) = areas else {
            return Action::None;
        };
        let at = CellPosition::new(event.column, event.row);
        let inside = |r: Rect| r.contains(at);
        match event.kind {
            MouseEventKind::ScrollUp => {
                if self.help_open {
                    self.help_scroll = self.help_scroll.saturating_sub(3);
                } else if inside(areas.results) {
                    self.scroll_up(3);
                } else if inside(areas.log) {
                    // The small pane: whichever the big one does not show.
                    match self.main_view {
                        MainView::Results => self.scroll_log_up(3),
                        MainView::Log => self.scroll = self.scroll.saturating_add(3),
                    }
                } else if inside(areas.servers) {
                    self.selected = self.selected.saturating_sub(1);
                }
            }
            MouseEventKind::ScrollDown => {
                if self.help_open {
                    self.help_scroll = self.help_scroll.saturating_add(3);
                } else if inside(areas.results) {
                    self.scroll_down(3);
                } else if inside(areas.log) {
                    match self.main_view {
                        MainView::Results => self.log_scroll = self.log_scroll.saturating_sub(3),
                        MainView::Log => self.scroll = self.scroll.saturating_sub(3),
                    }
                } else if inside(areas.servers) {
                    self.select(self.selected + 1);
                }
            }
            MouseEventKind::Down(MouseButton::Left) => {
                if self.help_open {
                    self.help_open = false;
                } else if inside(areas.servers) {
                    self.focus = Focus::Servers;
                    // Rows start after the top border and the header.
                    let first = areas.servers.y + 2;
                    let visible = usize::from(areas.servers.height.saturating_sub(3));
                    if event.row >= first {
                        let i = usize::from(event.row - first)
                            + super::draw::list_offset(self.selected, visible);
                        if i < self.server_count() {
                            self.selected = i;
                        }
                    }
                } else if inside(areas.input) {
                    self.focus = Focus::Repl;
                }
            }
            _ => {}
        }
        Action::None
    }

    /// Switches to a theme (used by tests and the environment).
    pub fn set_theme(&mut self, kind: ThemeKind) {
        self.theme = Theme::new(kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;

    fn app() -> App {
        let c = parse_servers_txt(
            "127.0.0.1 1234 3\n127.0.0.1 1235 2\n127.0.0.1 1236 2\n",
            "t",
        )
        .unwrap();
        App::new(Arc::new(c), Theme::new(ThemeKind::Mono), Instant::now())
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn typed(app: &mut App, s: &str) {
        for c in s.chars() {
            assert_eq!(app.handle_key(key(KeyCode::Char(c))), Action::None);
        }
    }

    #[test]
    fn starts_in_the_repl_and_typing_goes_there() {
        let mut a = app();
        assert_eq!(a.focus, Focus::Repl);
        typed(&mut a, "put a b n=4 w=3");
        assert_eq!(a.input.text, "put a b n=4 w=3");
        // `k`, `q`, `s` are letters here, not actions.
        typed(&mut a, " kqs");
        assert_eq!(a.input.text, "put a b n=4 w=3 kqs");
    }

    #[test]
    fn enter_runs_the_line_and_records_history() {
        let mut a = app();
        typed(&mut a, "  get a ");
        match a.handle_key(key(KeyCode::Enter)) {
            Action::Run { id, line } => {
                assert_eq!(line, "get a");
                assert_eq!(a.entries.back().unwrap().id, id);
                assert_eq!(a.entries.back().unwrap().command, "get a");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a.input.text, "");
        assert_eq!(a.busy(), 1);
        // An empty line does nothing.
        assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::None);
        assert_eq!(a.input.history, vec!["  get a ".to_string()]);
    }

    #[test]
    fn history_up_down_and_draft() {
        let mut a = app();
        for l in ["one", "two", "two", "three"] {
            typed(&mut a, l);
            a.handle_key(key(KeyCode::Enter));
        }
        assert_eq!(a.input.history, vec!["one", "two", "three"]);
        typed(&mut a, "dra");
        a.handle_key(key(KeyCode::Up));
        assert_eq!(a.input.text, "three");
        a.handle_key(key(KeyCode::Up));
        a.handle_key(key(KeyCode::Up));
        a.handle_key(key(KeyCode::Up));
        assert_eq!(a.input.text, "one");
        a.handle_key(key(KeyCode::Down));
        assert_eq!(a.input.text, "two");
        a.handle_key(key(KeyCode::Down));
        a.handle_key(key(KeyCode::Down));
        assert_eq!(a.input.text, "dra");
        assert_eq!(a.input.cursor, 3);
        a.handle_key(key(KeyCode::Down));
        assert_eq!(a.input.text, "dra");
    }

    #[test]
    fn editing_keys() {
        let mut a = app();
        typed(&mut a, "put kéy value");
        a.handle_key(key(KeyCode::Home));
        a.handle_key(key(KeyCode::Right));
        a.handle_key(key(KeyCode::Delete));
        assert_eq!(a.input.text, "pt kéy value");
        a.handle_key(key(KeyCode::End));
        a.handle_key(key(KeyCode::Backspace));
        assert_eq!(a.input.text, "pt kéy valu");
        a.handle_key(ctrl('w'));
        assert_eq!(a.input.text, "pt kéy ");
        a.handle_key(key(KeyCode::Left));
        a.handle_key(key(KeyCode::Left));
        typed(&mut a, "X");
        assert_eq!(a.input.text, "pt kéXy ");
        a.handle_key(ctrl('k'));
        assert_eq!(a.input.text, "pt kéX");
        a.handle_key(ctrl('a'));
        typed(&mut a, ">");
        assert_eq!(a.input.text, ">pt kéX");
        a.handle_key(ctrl('e'));
        a.handle_key(key(KeyCode::Left));
        a.handle_key(ctrl('u'));
        assert_eq!(a.input.text, "X");
        assert_eq!(a.input.cursor, 0);
        a.handle_key(key(KeyCode::Esc));
        assert_eq!(a.input.text, "");
        // Edits at the edges never panic.
        a.handle_key(key(KeyCode::Backspace));
        a.handle_key(key(KeyCode::Delete));
        a.handle_key(ctrl('w'));
        a.handle_key(ctrl('k'));
        a.handle_key(key(KeyCode::Left));
        a.handle_key(key(KeyCode::Right));
    }

    #[test]
    fn tab_switches_focus_and_list_keys_act() {
        let mut a = app();
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.focus, Focus::Servers);
        a.handle_key(key(KeyCode::Down));
        a.handle_key(key(KeyCode::Down));
        a.handle_key(key(KeyCode::Down));
        assert_eq!(a.selected, 2, "selection stops at the last server");
        a.handle_key(key(KeyCode::Up));
        assert_eq!(a.selected, 1);
        for (c, want) in [
            ('k', ProcessAction::Kill),
            ('s', ProcessAction::Stop),
            ('S', ProcessAction::Start),
            ('r', ProcessAction::Restart),
            ('p', ProcessAction::Pause),
            ('u', ProcessAction::Resume),
        ] {
            match a.handle_key(key(KeyCode::Char(c))) {
                Action::Act { action, index, .. } => {
                    assert_eq!((action, index), (want, 1));
                }
                other => panic!("{c}: {other:?}"),
            }
        }
        assert!(a.entries.back().unwrap().command.starts_with("resume 2"));
        a.handle_key(key(KeyCode::Char('3')));
        assert_eq!(a.selected, 2);
        a.handle_key(key(KeyCode::Char('9')));
        assert_eq!(a.selected, 2);
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.focus, Focus::Repl);
    }

    #[test]
    fn help_opens_from_any_focus_and_closes_with_esc() {
        let mut a = app();
        a.handle_key(key(KeyCode::F(1)));
        assert!(a.help_open);
        // While open, typing does not reach the line.
        typed(&mut a, "x");
        assert_eq!(a.input.text, "");
        a.handle_key(key(KeyCode::Esc));
        assert!(!a.help_open);
        // `?` is text in the REPL line…
        typed(&mut a, "?");
        assert!(!a.help_open);
        assert_eq!(a.input.text, "?");
        // …and help in the list.
        a.handle_key(key(KeyCode::Tab));
        a.handle_key(key(KeyCode::Char('?')));
        assert!(a.help_open);
        a.handle_key(key(KeyCode::Down));
        assert_eq!(a.help_scroll, 1);
        a.handle_key(key(KeyCode::F(1)));
        assert!(!a.help_open);
    }

    #[test]
    fn quitting() {
        let mut a = app();
        assert_eq!(a.handle_key(ctrl('c')), Action::Quit);
        typed(&mut a, "q");
        assert_eq!(a.input.text, "q", "q is a letter in the REPL line");
        a.handle_key(key(KeyCode::Backspace));
        typed(&mut a, "quit");
        assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::Quit);
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.handle_key(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(a.handle_key(ctrl('c')), Action::Quit);
        a.handle_key(key(KeyCode::F(1)));
        assert_eq!(a.handle_key(ctrl('c')), Action::Quit);
        // Ctrl-D on an empty line quits too.
        let mut b = app();
        assert_eq!(b.handle_key(ctrl('d')), Action::Quit);
    }

    #[test]
    fn mouse_and_theme_toggles() {
        let mut a = app();
        assert!(a.mouse);
        assert_eq!(a.handle_key(key(KeyCode::F(2))), Action::SetMouse(false));
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(
            a.handle_key(key(KeyCode::Char('m'))),
            Action::SetMouse(true)
        );
        let before = a.theme.kind;
        a.handle_key(key(KeyCode::Char('t')));
        assert_ne!(a.theme.kind, before);
        a.handle_key(key(KeyCode::F(3)));
    }

    #[test]
    fn test_panic_line_only_when_armed() {
        let mut a = app();
        typed(&mut a, TEST_PANIC_LINE);
        assert!(matches!(
            a.handle_key(key(KeyCode::Enter)),
            Action::Run { .. }
        ));
        a.test_panic = true;
        typed(&mut a, TEST_PANIC_LINE);
        assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::TestPanic);
    }

    #[test]
    fn page_keys_scroll_results() {
        let mut a = app();
        a.handle_key(key(KeyCode::PageUp));
        assert_eq!(a.scroll, PAGE);
        a.handle_key(key(KeyCode::PageDown));
        a.handle_key(key(KeyCode::PageDown));
        assert_eq!(a.scroll, 0);
    }

    #[test]
    fn no_key_panics_in_any_state() {
        let codes = [
            KeyCode::Backspace,
            KeyCode::Enter,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Delete,
            KeyCode::Insert,
            KeyCode::Esc,
            KeyCode::F(1),
            KeyCode::F(2),
            KeyCode::F(3),
            KeyCode::F(12),
            KeyCode::Null,
            KeyCode::Char('k'),
            KeyCode::Char('S'),
            KeyCode::Char('é'),
            KeyCode::Char(' '),
        ];
        let mods = [
            KeyModifiers::NONE,
            KeyModifiers::SHIFT,
            KeyModifiers::CONTROL,
            KeyModifiers::ALT,
        ];
        let mut a = app();
        for _ in 0..3 {
            for c in codes {
                for m in mods {
                    if m == KeyModifiers::CONTROL && c == KeyCode::Char('k') {
                        continue;
                    }
                    let _ = a.handle_key(KeyEvent::new(c, m));
                }
            }
        }
        // An empty configuration cannot be selected or acted on.
        let mut e = app();
        e.config = Arc::new(ClusterConfig {
            source: None,
            servers: Vec::new(),
            defaults: Default::default(),
        });
        e.handle_key(key(KeyCode::Tab));
        for c in ['k', 's', 'S', 'r', 'p', 'u', '1'] {
            assert_eq!(e.handle_key(key(KeyCode::Char(c))), Action::None);
        }
        e.handle_key(key(KeyCode::End));
        e.handle_key(key(KeyCode::Down));
    }

    #[test]
    fn mouse_selects_scrolls_and_focuses() {
        use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
        let mut a = app();
        let areas = super::super::draw::layout(Rect::new(0, 0, 120, 40), 3).unwrap();
        let ev = |kind, column, row| MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        };
        let s = areas.servers;
        // Third row of the list (after the border and the header).
        a.handle_mouse(
            ev(MouseEventKind::Down(MouseButton::Left), s.x + 5, s.y + 4),
            Some(&areas),
        );
        assert_eq!((a.focus, a.selected), (Focus::Servers, 2));
        // A click below the last row keeps the selection.
        a.handle_mouse(
            ev(MouseEventKind::Down(MouseButton::Left), s.x + 5, s.y + 1),
            Some(&areas),
        );
        assert_eq!(a.selected, 2);
        a.handle_mouse(ev(MouseEventKind::ScrollUp, s.x + 5, s.y + 3), Some(&areas));
        assert_eq!(a.selected, 1);
        let r = areas.results;
        a.handle_mouse(ev(MouseEventKind::ScrollUp, r.x + 3, r.y + 3), Some(&areas));
        assert_eq!(a.scroll, 3);
        a.handle_mouse(
            ev(MouseEventKind::ScrollDown, r.x + 3, r.y + 3),
            Some(&areas),
        );
        assert_eq!(a.scroll, 0);
        let i = areas.input;
        a.handle_mouse(
            ev(MouseEventKind::Down(MouseButton::Left), i.x + 3, i.y + 1),
            Some(&areas),
        );
        assert_eq!(a.focus, Focus::Repl);
        // The wheel over the small pane scrolls what it shows.
        a.server_log = (0..20).map(|i| format!("line {i}")).collect();
        let l = areas.log;
        a.handle_mouse(ev(MouseEventKind::ScrollUp, l.x + 3, l.y + 2), Some(&areas));
        assert_eq!((a.log_scroll, a.scroll), (3, 0));
        a.toggle_log();
        a.handle_mouse(ev(MouseEventKind::ScrollUp, l.x + 3, l.y + 2), Some(&areas));
        assert_eq!((a.log_scroll, a.scroll), (0, 3));
        a.handle_mouse(ev(MouseEventKind::ScrollUp, r.x + 3, r.y + 3), Some(&areas));
        assert_eq!((a.log_scroll, a.scroll), (3, 3));
        a.handle_mouse(
            ev(MouseEventKind::ScrollDown, l.x + 3, l.y + 2),
            Some(&areas),
        );
        assert_eq!((a.log_scroll, a.scroll), (3, 0));
        a.toggle_log();
        // Without a layout (terminal too small) the mouse does nothing.
        a.handle_mouse(ev(MouseEventKind::ScrollUp, 0, 0), None);
        assert_eq!(a.scroll, 0);
    }

    fn log(server: usize, n: u64) -> LogSnapshot {
        LogSnapshot {
            server,
            lines: (1..=n.min(5)).map(|i| format!("line {i}")).collect(),
            total: n,
        }
    }

    #[test]
    fn f4_and_l_swap_the_panes_and_page_keys_scroll_the_big_one() {
        let mut a = app();
        let now = a.now;
        a.set_snapshot(Vec::new(), Vec::new(), log(0, 5), now);
        assert_eq!(a.main_view, MainView::Results);
        a.handle_key(key(KeyCode::F(4)));
        assert_eq!(a.main_view, MainView::Log);
        // In the REPL line `l` is a letter.
        typed(&mut a, "l");
        assert_eq!((a.main_view, a.input.text.as_str()), (MainView::Log, "l"));
        a.handle_key(key(KeyCode::PageUp));
        assert_eq!(
            (a.log_scroll, a.scroll),
            (4, 0),
            "at most to the first line"
        );
        a.handle_key(key(KeyCode::PageDown));
        assert_eq!(a.log_scroll, 0);
        a.handle_key(key(KeyCode::Tab));
        a.handle_key(key(KeyCode::Char('l')));
        assert_eq!(a.main_view, MainView::Results);
        a.handle_key(key(KeyCode::PageUp));
        assert_eq!((a.log_scroll, a.scroll), (0, PAGE));
        // Help takes F4 as nothing.
        a.handle_key(key(KeyCode::F(1)));
        a.handle_key(key(KeyCode::F(4)));
        assert_eq!(a.main_view, MainView::Results);
    }

    #[test]
    fn a_scrolled_log_keeps_its_place_and_another_server_starts_at_the_tail() {
        let mut a = app();
        let now = a.now;
        a.toggle_log();
        a.set_snapshot(Vec::new(), Vec::new(), log(0, 5), now);
        a.handle_key(key(KeyCode::Up));
        a.handle_key(key(KeyCode::PageUp));
        assert_eq!(a.log_scroll, 4);
        a.log_scroll = 1;
        // Three new lines (two dropped from the bounded log): same place.
        a.set_snapshot(Vec::new(), Vec::new(), log(0, 8), now);
        assert_eq!(a.log_scroll, 4);
        // Following the tail stays at the tail.
        a.log_scroll = 0;
        a.set_snapshot(Vec::new(), Vec::new(), log(0, 9), now);
        assert_eq!(a.log_scroll, 0);
        a.log_scroll = 3;
        a.handle_key(key(KeyCode::Tab));
        a.handle_key(key(KeyCode::Down));
        a.set_snapshot(Vec::new(), Vec::new(), log(1, 2), now);
        assert_eq!(a.log_scroll, 0, "another server's log starts at its tail");
    }

    #[test]
    fn rates_reach_the_state() {
        let mut a = app();
        let t0 = a.now;
        let r = |operations| {
            Some(super::super::rates::Reading {
                operations,
                probes: 0,
            })
        };
        a.on_rates(t0, &[r(0), r(0), None]);
        a.on_rates(t0 + std::time::Duration::from_secs(1), &[r(7), r(0), None]);
        assert_eq!(a.rates.history(0).unwrap().current(), Some(7));
        assert_eq!(a.rates.history(1).unwrap().current(), Some(0));
        assert_eq!(a.rates.history(2).unwrap().current(), None);
    }

    #[test]
    fn act_answers_and_line_events_fill_entries() {
        let mut a = app();
        a.handle_key(key(KeyCode::Tab));
        let Action::Act { id, .. } = a.handle_key(key(KeyCode::Char('k'))) else {
            panic!()
        };
        a.on_act_done(id, Err("not started by dkvs-tui".into()));
        let e = a.entries.back().unwrap();
        assert_eq!(e.done, Some(false));
        assert_eq!(
            e.lines().collect::<Vec<_>>(),
            vec!["ERROR: not started by dkvs-tui"]
        );
        a.handle_key(key(KeyCode::Tab));
        typed(&mut a, "where a");
        let Action::Run { id, .. } = a.handle_key(key(KeyCode::Enter)) else {
            panic!()
        };
        a.on_repl_event(id, ReplEvent::Line("line 1".into()));
        a.on_repl_event(9999, ReplEvent::Line("lost".into()));
        a.on_line_done(
            id,
            LineOutcome {
                ok: true,
                quit: false,
            },
            View::default(),
        );
        assert_eq!(a.busy(), 0);
        assert_eq!(
            a.entries.back().unwrap().lines().collect::<Vec<_>>(),
            vec!["line 1"]
        );
    }
}
