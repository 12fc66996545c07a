//! What each key does: the global keys, the REPL line's editing keys and
//! scrolling the panes; the server list's own keys are in `servers`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::tui::theme::Theme;

use super::{Action, App, Focus, MainView, PAGE, TEST_PANIC_LINE};

/// What Enter on an empty REPL line runs while a lesson runs.
const LESSON_NEXT: &str = "lesson next";
/// What Backspace on an empty REPL line runs while a lesson runs.
const LESSON_BACK: &str = "lesson back";
/// What Esc on an empty REPL line runs while a lesson runs.
const LESSON_END: &str = "lesson end";

impl App {
    /// Scrolls the big pane's content (results or log) up.
    pub(super) fn scroll_up(&mut self, lines: usize) {
        match self.main_view {
            MainView::Results => self.scroll = self.scroll.saturating_add(lines),
            MainView::Log => self.scroll_log_up(lines),
        }
    }

    /// Scrolls the big pane's content down (towards the newest lines).
    pub(super) fn scroll_down(&mut self, lines: usize) {
        match self.main_view {
            MainView::Results => self.scroll = self.scroll.saturating_sub(lines),
            MainView::Log => self.log_scroll = self.log_scroll.saturating_sub(lines),
        }
    }

    pub(super) fn scroll_log_up(&mut self, lines: usize) {
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
        if let Some(action) = self.lesson_key(key) {
            return action;
        }
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

    /// Enter, Backspace and Esc on an empty REPL line while a lesson runs:
    /// `lesson next`, `lesson back`, `lesson end`, run as if typed (a results
    /// entry) but kept out of the history. `None` when the key keeps its
    /// usual meaning (no lesson, text in the line, another key, a modifier).
    /// While such a line is still running, Enter and Backspace are swallowed
    /// (a held or repeated key must not skip steps), and so is Esc once a
    /// `lesson end` is waiting.
    fn lesson_key(&mut self, key: KeyEvent) -> Option<Action> {
        if self.view.lesson.is_none()
            || !self.input.text.is_empty()
            || key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return None;
        }
        let line = match key.code {
            KeyCode::Enter => LESSON_NEXT,
            KeyCode::Backspace => LESSON_BACK,
            KeyCode::Esc => LESSON_END,
            _ => return None,
        };
        let pending = |l: &str| {
            self.entries
                .iter()
                .any(|e| e.done.is_none() && e.command == l)
        };
        let busy = if line == LESSON_END {
            pending(LESSON_END)
        } else {
            [LESSON_NEXT, LESSON_BACK, LESSON_END]
                .into_iter()
                .any(pending)
        };
        if busy {
            return Some(Action::None);
        }
        let id = self.new_entry(line.to_string());
        Some(Action::Run {
            id,
            line: line.to_string(),
        })
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
}
