//! What a mouse event does: clicks focus a pane or select a server, the
//! wheel scrolls the pane under the pointer.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position as CellPosition, Rect};

use crate::tui::draw::{Areas, list_offset};

use super::{Action, App, Focus, MainView};

impl App {
    /// What a mouse event does, given where the panes are.
    pub fn handle_mouse(&mut self, event: MouseEvent, areas: Option<&Areas>) -> Action {
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
                        let i =
                            usize::from(event.row - first) + list_offset(self.selected, visible);
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
}
