//! The help overlay: the keys of each pane and the command summary, in a
//! scrollable popup over the screen.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::block;
use crate::repl::help::SUMMARY;
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// The help text: keys, then the command summary.
pub fn help_lines(t: Theme) -> Vec<Line<'static>> {
    let key = |k: &str, what: &str| {
        Line::from(vec![
            Span::styled(format!("  {k:<14}"), t.key()),
            Span::raw(what.to_string()),
        ])
    };
    let head = |s: &str| Line::styled(s.to_string(), t.title().add_modifier(Modifier::UNDERLINED));
    let mut lines = vec![
        head("Everywhere"),
        key("F1", "open / close this help"),
        key("Ctrl-C", "quit (stops the servers dkvs-tui started)"),
        key(
            "F2",
            "mouse capture on/off (off: select text with the mouse)",
        ),
        key("F3", "theme: default → high-contrast → monochrome"),
        key(
            "F4",
            "big pane: results ↔ log of the selected server (follows its tail)",
        ),
        key("PgUp PgDn", "scroll the big pane (results or log)"),
        key("Ctrl-L", "clear the results"),
        head("REPL line (focus at start)"),
        key("Enter", "run the line (`quit` leaves)"),
        key("↑ ↓", "history"),
        key("← → Home End", "move; Ctrl-A/E start/end"),
        key("Ctrl-U Ctrl-K", "delete to start / to end; Ctrl-W word"),
        key("Esc", "clear the line"),
        key("Tab", "go to the server list"),
        head("During a lesson (REPL line empty; with text, as above)"),
        key("Enter", "next step (`lesson next`); the last one ends it"),
        key(
            "Backspace",
            "step back (`lesson back`), the cluster as it was",
        ),
        key("Esc", "leave (`lesson end`): the cluster put back as found"),
        head("Server list"),
        key(
            "↑ ↓ 1-9",
            "select a server (its log shows below, F4 or l: big)",
        ),
        key("k", "kill (SIGKILL, a crash)"),
        key("s", "stop (SIGTERM)"),
        key("S", "start"),
        key("r", "restart"),
        key("p", "pause (SIGSTOP: alive but silent)"),
        key("u", "resume (SIGCONT)"),
        key("l", "log of the selected server in the big pane (as F4)"),
        key("m / t", "mouse on/off / next theme"),
        key("? / q", "help / quit"),
        key("Tab Esc", "back to the REPL line"),
        head("The ring"),
        Line::from("  ● up  ◌ starting  ✖ down  ‖ paused  ? unreachable — number = server"),
        Line::from("  ◆ last key; 3#1 = server 3 is its 1st replica; (3) = node skipped"),
        Line::from("    because server 3 was already chosen; the bright arc is the walk."),
        Line::from("  what-if: + new node, − removed node, inner arcs = keys that move."),
        head("Commands (type `help <command>` for details)"),
    ];
    for (_, usage, summary) in SUMMARY {
        lines.push(Line::styled(format!("  {usage}"), t.key()));
        lines.push(Line::styled(format!("      {summary}"), t.dim()));
    }
    lines
}

pub(super) fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let w = area.width.saturating_sub(4).min(88);
    let h = area.height.saturating_sub(2).min(44);
    let popup = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(popup, buf);
    buf.set_style(popup, t.base());
    let lines = help_lines(t);
    let inner_h = h.saturating_sub(2) as usize;
    let max = lines.len().saturating_sub(inner_h);
    let scroll = app.help_scroll.min(max);
    let mut b = block(t, " Help · Esc closes ".to_string(), true);
    if max > 0 {
        b = b.title_bottom(
            Line::styled(format!(" ↑↓ scroll {scroll}/{max} "), t.dim()).right_aligned(),
        );
    }
    Paragraph::new(lines.get(scroll..).unwrap_or_default().to_vec())
        .block(b)
        .render(popup, buf);
}
