//! The bottom of the screen: the REPL input line (with where the cursor
//! goes) and the key-hint footer for the focused pane.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

use crate::tui::app::{App, Focus};

pub(super) fn render_input(app: &App, area: Rect, buf: &mut Buffer) -> Option<(u16, u16)> {
    let t = app.theme;
    let focused = app.focus == Focus::Repl && !app.help_open;
    let mut b = Block::new()
        .borders(Borders::TOP)
        .border_style(if focused {
            t.border_focus()
        } else {
            t.border()
        })
        .title(Span::styled(
            if focused {
                " REPL (type here) "
            } else {
                " REPL (Tab to type) "
            },
            t.title(),
        ));
    let busy = app.busy();
    if busy > 0 {
        let text = if busy > 1 {
            format!(" running… ({} queued) ", busy - 1)
        } else {
            " running… ".to_string()
        };
        b = b.title(Line::styled(text, t.highlight()).right_aligned());
    }
    let inner = b.inner(area);
    b.render(area, buf);
    if inner.height == 0 || inner.width < 4 {
        return None;
    }
    let prompt = "> ";
    let room = inner.width as usize - prompt.len() - 1;
    let chars: Vec<char> = app.input.text.chars().collect();
    let cursor = app.input.cursor.min(chars.len());
    let first = cursor.saturating_sub(room);
    let visible: String = chars.iter().skip(first).take(room + 1).collect();
    let line = Line::from(vec![
        Span::styled(prompt, if focused { t.key() } else { t.dim() }),
        Span::raw(visible),
    ]);
    buf.set_line(inner.x, inner.y, &line, inner.width);
    focused.then(|| (inner.x + (prompt.len() + cursor - first) as u16, inner.y))
}

fn hints(app: &App) -> Vec<(&'static str, &'static str)> {
    if app.help_open {
        return vec![
            ("Esc", "close help"),
            ("↑↓ PgUp PgDn", "scroll"),
            ("Ctrl-C", "quit"),
        ];
    }
    match app.focus {
        // Enter, Backspace and Esc drive the lesson while the line is empty.
        Focus::Repl if app.view.lesson.is_some() && app.input.text.is_empty() => vec![
            ("Enter", "next"),
            ("⌫", "back"),
            ("Esc", "leave lesson"),
            ("Tab", "servers"),
            ("F1", "help"),
            ("Ctrl-C", "quit"),
        ],
        Focus::Repl => vec![
            ("Enter", "run"),
            ("↑↓", "history"),
            ("Tab", "servers"),
            ("PgUp/PgDn", "scroll"),
            ("F1", "help"),
            ("F2", "mouse"),
            ("Ctrl-C", "quit"),
        ],
        Focus::Servers => vec![
            ("k", "kill"),
            ("s", "stop"),
            ("S", "start"),
            ("r", "restart"),
            ("p", "pause"),
            ("u", "resume"),
            ("l", "log"),
            ("Tab", "REPL"),
            ("?", "help"),
            ("q", "quit"),
        ],
    }
}

pub(super) fn render_footer(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let mut spans = Vec::new();
    for (k, what) in hints(app) {
        spans.push(Span::styled(format!(" {k}"), t.key()));
        spans.push(Span::styled(format!(" {what}"), t.dim()));
    }
    let right = format!(
        " mouse {} · {} ",
        if app.mouse { "on" } else { "off" },
        app.theme.kind.name()
    );
    let right_w = right.chars().count() as u16;
    buf.set_line(area.x, area.y, &Line::from(spans), area.width);
    if area.width > right_w + 60 {
        buf.set_string(area.x + area.width - right_w, area.y, right, t.dim());
    }
}
