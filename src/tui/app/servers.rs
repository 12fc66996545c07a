//! The server list's keys: selecting a server and asking the supervisor to
//! kill, stop, start, restart, pause or resume it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::repl::ProcessAction;
use crate::tui::theme::Theme;

use super::{Action, App, Focus};

impl App {
    fn act(&mut self, action: ProcessAction) -> Action {
        let n = self.server_count();
        if n == 0 {
            return Action::None;
        }
        let index = self.selected.min(n - 1);
        let Some(name) = self.config.servers.get(index).map(ToString::to_string) else {
            return Action::None;
        };
        let id = self.new_entry(format!("{} {} ({name})", action.word(), index + 1));
        Action::Act { id, action, index }
    }

    pub(super) fn select(&mut self, index: usize) {
        let n = self.server_count();
        if n > 0 {
            self.selected = index.min(n - 1);
        }
    }

    pub(super) fn servers_key(&mut self, key: KeyEvent) -> Action {
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
}
