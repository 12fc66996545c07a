//! The log panes: the supervisor's event log, and the selected server's own
//! log (cleaned of escapes, timestamps shortened) in the small or big pane.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::block;
use super::text::{format_clock, wrap};
use crate::tui::app::App;
use crate::tui::ring_view::short_name;
use crate::tui::theme::Theme;

pub(super) fn render_events(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let inner_h = area.height.saturating_sub(2) as usize;
    let inner_w = area.width.saturating_sub(2) as usize;
    let start = app.events.len().saturating_sub(inner_h);
    let lines: Vec<Line> = app
        .events
        .iter()
        .skip(start)
        .map(|e| {
            let style = e.server.map_or(Style::new(), |s| t.server(s));
            let text: String = clean_log_line(&e.text)
                .chars()
                .take(inner_w.saturating_sub(9))
                .collect();
            Line::from(vec![
                Span::styled(format!("{} ", format_clock(e.at)), t.dim()),
                Span::styled(text, style),
            ])
        })
        .collect();
    Paragraph::new(lines)
        .block(block(t, " Events (UTC) ".to_string(), false))
        .render(area, buf);
}

/// A log line made safe for a cell grid: ANSI escape sequences (a child may
/// colour its logs) removed, tabs and other control characters turned into
/// spaces.
pub fn clean_log_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.peek() {
                Some('[') => {
                    chars.next();
                    // Parameters and intermediates, then one final byte.
                    for f in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&f) {
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            }
        } else if c.is_control() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// A server's log line for a pane: [`clean_log_line`], and the RFC 3339
/// timestamp that starts a log line (`2026-11-25T18:20:00.123456Z`)
/// shortened to the time of day (`18:20:00`, with `.123` when `millis`).
pub fn compact_log_line(line: &str, millis: bool) -> String {
    let line = clean_log_line(line);
    let b = line.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let stamped = digits(0..4)
        && b.get(4) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !stamped {
        return line;
    }
    let Some(end) = line.find(' ') else {
        return line;
    };
    let fraction = line.get(19..end).unwrap_or("");
    let mut out = line.get(11..19).unwrap_or("").to_string();
    if millis && let Some(f) = fraction.strip_prefix('.') {
        let ms: String = f.chars().take_while(char::is_ascii_digit).take(3).collect();
        if !ms.is_empty() {
            out.push('.');
            out.push_str(&ms);
        }
    }
    out.push_str(line.get(end..).unwrap_or(""));
    out
}

/// The style of a server log line: warnings and errors stand out.
fn log_style(t: Theme, line: &str) -> Style {
    if line.contains(" ERROR ") || line.starts_with("ERROR") {
        t.fail()
    } else if line.contains(" WARN ") {
        t.highlight()
    } else if line.starts_with("── ") {
        t.dim()
    } else {
        Style::new()
    }
}

/// The selected server's log: in the big pane (`big`) long lines wrap
/// (continuations indented) and the pane can be scrolled back; in the
/// small pane they are cut with `…` and the pane shows the tail. Both
/// follow the tail while not scrolled.
pub(super) fn render_log(app: &App, area: Rect, buf: &mut Buffer, big: bool) {
    let t = app.theme;
    let inner_h = area.height.saturating_sub(2) as usize;
    let inner_w = area.width.saturating_sub(2) as usize;
    let sel = app.selected.min(app.server_count().saturating_sub(1));
    let mut title = if app.server_count() == 0 {
        " Server log ".to_string()
    } else {
        format!(
            " Log of {} {} ",
            sel + 1,
            short_name(&app.config.servers, sel)
        )
    };
    if big {
        title.push_str("· F4 results ");
    }
    let mut b = block(t, title, false);
    let n = app.server_log.len();
    let piece = |l: &String| -> Vec<Line<'static>> {
        let text = compact_log_line(l, big);
        let style = log_style(t, &text);
        let pieces = if big {
            wrap(&text, inner_w)
        } else if text.chars().count() > inner_w {
            let cut: String = text.chars().take(inner_w.saturating_sub(1)).collect();
            vec![format!("{cut}…")]
        } else {
            vec![text]
        };
        pieces.into_iter().map(|p| Line::styled(p, style)).collect()
    };
    // The rows of the lines up to the scroll position, newest last; when
    // scrolled back so far that they do not fill the pane, the pane shows
    // the oldest lines from the top instead.
    let mut end = n - app.log_scroll.min(n);
    let mut start = end;
    let mut rows: Vec<Line> = Vec::new();
    while start > 0 && rows.len() < inner_h {
        start -= 1;
        let mut p = app.server_log.get(start).map(&piece).unwrap_or_default();
        p.append(&mut rows);
        rows = p;
    }
    // The oldest line shown may start above the pane.
    let over = rows.len().saturating_sub(inner_h);
    rows.drain(..over);
    while end < n && rows.len() < inner_h {
        rows.extend(app.server_log.get(end).map(&piece).unwrap_or_default());
        end += 1;
    }
    // The newest line shown may end below the pane.
    rows.truncate(inner_h);
    let scroll = n - end;
    if big && scroll > 0 {
        b = b.title_bottom(
            Line::styled(format!(" ↓ {scroll} newer lines (PgDn) "), t.dim()).right_aligned(),
        );
    } else if big && start > 0 {
        b = b.title_bottom(Line::styled(" ↑ PgUp for older ", t.dim()).right_aligned());
    }
    let mut lines = rows;
    if lines.is_empty() {
        let managed = app
            .servers
            .iter()
            .find(|s| s.index == sel)
            .is_none_or(|s| s.managed);
        lines.push(Line::styled(
            if managed {
                "(no output yet)"
            } else {
                "(not started by dkvs-tui: no log)"
            },
            t.dim(),
        ));
    }
    Paragraph::new(lines).block(b).render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_lose_escapes() {
        assert_eq!(
            clean_log_line("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x\ty"),
            "2026  INFO x y"
        );
        assert_eq!(clean_log_line("a\u{1b}"), "a");
    }
}
