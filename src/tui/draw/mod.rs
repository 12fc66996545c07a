//! Layout and widgets: turns an [`App`] into cells.
//!
//! Drawing reads only the `App` (no clock, no supervisor, no terminal), so
//! the same code renders the live screen and the snapshot tests. The layout
//! is computed by [`layout`] alone so the event loop can map mouse clicks to
//! panes without drawing.
//!
//! This file lays out the frame and draws the ring pane; each other pane has
//! its file: `servers`, `results`, `logs` (events and server log), `input`
//! (REPL line and footer), `help`, `lesson` (the lesson panel, which
//! takes the bottom row while a lesson runs) and `text` for the string
//! helpers; `net_columns` adds the list's side, hints and badge columns
//! while the network is cut or healing.
//!
//! ```text
//! ┌ Ring ──────────┐┌ Servers ──────────────────────────────┐
//! │   circle       ││ # address   vn pid   state  age ops/s │
//! │                │└───────────────────────────────────────┘
//! │   legend       │┌ Results (or Log of 1 :1234, F4) ──────┐
//! └────────────────┘└───────────────────────────────────────┘
//! ┌ Events ────────────────────┐┌ Log of 1 :1234 (or Results)┐
//! └────────────────────────────┘└───────────────────────────┘
//! ─ REPL ───────────────────────────────────────── running… ─
//! > put a b n=4 w=3
//!  Enter run · ↑↓ history · Tab servers · F1 help … (footer)
//! ```

mod help;
mod input;
mod lesson;
mod logs;
mod net_columns;
mod results;
mod servers;
mod text;
mod timeline;

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};

use crate::supervisor::ServerState;

use super::app::{App, MainView};
use super::ring_view::RingView;
use super::theme::Theme;

use help::render_help;
use input::{render_footer, render_input};
use lesson::{lesson_rows, render_lesson, split_row};
use logs::{render_events, render_log};
use results::render_results;
use servers::render_servers;

pub use help::help_lines;
pub use lesson::{lesson_lines, wrap_words};
pub use logs::{clean_log_line, compact_log_line};
pub use results::results_lines;
pub use servers::list_offset;
pub use text::{format_age, format_clock, squeeze, wrap};

/// The smallest usable terminal.
pub const MIN_WIDTH: u16 = 80;
/// The smallest usable terminal.
pub const MIN_HEIGHT: u16 = 24;

/// Where each pane is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The ring pane (with border).
    pub ring: Rect,
    /// The server list (with border).
    pub servers: Rect,
    /// The big pane (with border): the results, or the selected server's
    /// log when [`MainView::Log`].
    pub results: Rect,
    /// The event log (with border).
    pub events: Rect,
    /// The small pane beside the events (with border): the selected
    /// server's log, or the results when [`MainView::Log`].
    pub log: Rect,
    /// The REPL line (title row + input row).
    pub input: Rect,
    /// The key-hint footer.
    pub footer: Rect,
    /// The lesson panel (with border), empty when no lesson runs. While
    /// one runs it takes the bottom row, where `events` and `log` may then
    /// be empty (not shown): see `lesson::split_row`.
    pub lesson: Rect,
}

/// The panes for a screen of `area` showing `servers` servers, or `None`
/// when the screen is smaller than 80×24.
pub fn layout(area: Rect, servers: usize) -> Option<Areas> {
    arrange(area, servers, None)
}

/// The panes of `app`'s screen: [`layout`], with the lesson panel when a
/// lesson runs (what is drawn, and what mouse clicks are mapped with).
pub fn screen_layout(app: &App, area: Rect) -> Option<Areas> {
    let lesson = app.view.lesson.as_ref().map(|_| app.main_view);
    arrange(area, app.server_count(), lesson)
}

/// [`layout`]; `lesson` is the big pane's view while a lesson runs.
fn arrange(area: Rect, servers: usize, lesson: Option<MainView>) -> Option<Areas> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let logs_h = match (lesson, area.height) {
        (Some(_), h) => lesson_rows(h),
        (None, 0..30) => 5,
        (None, 30..36) => 7,
        (None, _) => 9,
    };
    let [top, logs, input, footer] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(logs_h),
        Constraint::Length(2),
        Constraint::Length(1),
    ])
    .areas(area);
    let ring_w = if area.width >= 100 {
        (u32::from(area.width) * 40 / 100).clamp(30, 72) as u16
    } else {
        30
    };
    let [ring, right] =
        Layout::horizontal([Constraint::Length(ring_w), Constraint::Fill(1)]).areas(top);
    let servers_h = (servers as u16 + 3).min(right.height / 2).max(4);
    let [servers, results] =
        Layout::vertical([Constraint::Length(servers_h), Constraint::Fill(1)]).areas(right);
    let (lesson, events, log) = match lesson {
        Some(view) => split_row(logs, view),
        None => {
            let [events, log] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(logs);
            (Rect::ZERO, events, log)
        }
    };
    Some(Areas {
        ring,
        servers,
        results,
        events,
        log,
        input,
        footer,
        lesson,
    })
}

/// Draws the whole screen into `buf`; returns where the cursor goes (when
/// the REPL line has the focus).
pub fn render(app: &App, area: Rect, buf: &mut Buffer) -> Option<(u16, u16)> {
    let t = app.theme;
    buf.set_style(area, t.base());
    let Some(areas) = screen_layout(app, area) else {
        render_too_small(app, area, buf);
        return None;
    };
    render_ring(app, areas.ring, buf);
    render_servers(app, areas.servers, buf);
    // While a lesson runs, the events or the small pane may be hidden.
    let small = !areas.log.is_empty();
    match app.main_view {
        MainView::Results => {
            let (results, strip) = timeline::split(app, areas.results);
            render_results(app, results, buf);
            if let Some(strip) = strip {
                timeline::render_timeline(app, strip, buf);
            }
            if small {
                render_log(app, areas.log, buf, false);
            }
        }
        MainView::Log => {
            render_log(app, areas.results, buf, true);
            if small {
                render_results(app, areas.log, buf);
            }
        }
    }
    if !areas.events.is_empty() {
        render_events(app, areas.events, buf);
    }
    render_lesson(app, areas.lesson, buf);
    let cursor = render_input(app, areas.input, buf);
    render_footer(app, areas.footer, buf);
    if app.help_open {
        render_help(app, area, buf);
        return None;
    }
    cursor
}

fn block(t: Theme, title: String, focused: bool) -> Block<'static> {
    Block::bordered()
        .border_style(if focused {
            t.border_focus()
        } else {
            t.border()
        })
        .title(Span::styled(title, t.title()))
}

fn render_too_small(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let text = vec![
        Line::styled(
            format!("terminal too small (need {MIN_WIDTH}×{MIN_HEIGHT})"),
            t.fail(),
        ),
        Line::from(format!(
            "now {}×{}: enlarge the window",
            area.width, area.height
        )),
        Line::styled("Ctrl-C quits", t.dim()),
    ];
    let h = (text.len() as u16).min(area.height);
    let y = area.y + area.height.saturating_sub(h) / 2;
    Paragraph::new(text)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(Rect::new(area.x, y, area.width, h), buf);
}

fn render_ring(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let title = match &app.view.whatif {
        Some(_) => " Ring · what-if ".to_string(),
        None => format!(
            " Ring · {} servers, {} nodes ",
            app.server_count(),
            app.ring.nodes().len()
        ),
    };
    let b = block(t, title, false);
    let inner = b.inner(area);
    b.render(area, buf);
    let states: Vec<Option<ServerState>> = (0..app.server_count())
        .map(|i| app.servers.iter().find(|s| s.index == i).map(|s| s.state))
        .collect();
    let s = app.server_count();
    let n = app
        .config
        .defaults
        .n
        .map_or(3, |n| n as usize)
        .min(s)
        .max(1);
    let motion = app.motion_frame();
    let sides = app.view.net.as_ref().map_or(&[][..], |net| &net.sides[..]);
    RingView {
        ring: &app.ring,
        servers: &app.config.servers,
        states: &states,
        sides,
        focus: app.view.focus_key.as_ref(),
        whatif: app.view.whatif.as_ref(),
        n,
        theme: t,
        motion: motion.as_ref(),
    }
    .render(inner, buf);
}

/// The whole screen for `app` on a `w`×`h` TestBackend, as text (the
/// snapshot tests' one way to draw).
#[cfg(test)]
pub fn test_screen(app: &App, w: u16, h: u16) -> String {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let Ok(mut term) = Terminal::new(TestBackend::new(w, h));
    let _ = term.draw(|f| {
        render(app, f.area(), f.buffer_mut());
    });
    term.backend().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_needs_80_by_24() {
        assert!(layout(Rect::new(0, 0, 79, 24), 5).is_none());
        assert!(layout(Rect::new(0, 0, 80, 23), 5).is_none());
        let a = layout(Rect::new(0, 0, 80, 24), 5).unwrap();
        assert_eq!(a.footer.y, 23);
        assert_eq!(a.servers.height, 8);
        assert!(a.results.height >= 7);
        let b = layout(Rect::new(0, 0, 120, 40), 5).unwrap();
        assert!(b.ring.width > a.ring.width);
    }
}
