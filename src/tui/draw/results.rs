//! The results pane: every REPL command with its output, wrapped to the
//! pane and scrolled from the newest line.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

use super::block;
use super::text::{squeeze, wrap};
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// The style of one output line: verdicts and errors stand out (their first
/// word says what they are, so colour is only a help).
fn line_style(t: Theme, line: &str) -> Style {
    if line.starts_with("OK") {
        t.ok()
    } else if line.starts_with("FAIL") || line.starts_with("ERROR") || line.starts_with("error") {
        t.fail()
    } else {
        Style::new()
    }
}

/// Every line of the results pane, oldest first, wrapped to `width`.
pub fn results_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut out = Vec::new();
    for e in &app.entries {
        let status = match e.done {
            None => " (running…)",
            Some(_) => "",
        };
        for (i, piece) in wrap(&format!("> {}{status}", e.command), width)
            .into_iter()
            .enumerate()
        {
            let _ = i;
            out.push(Line::styled(piece, t.command()));
        }
        for l in e.lines() {
            let style = line_style(t, l);
            let squeezed;
            let l = if l.chars().count() > width {
                squeezed = squeeze(l);
                squeezed.as_str()
            } else {
                l
            };
            for piece in wrap(l, width) {
                out.push(Line::styled(piece, style));
            }
        }
    }
    out
}

pub(super) fn render_results(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let inner_w = area.width.saturating_sub(2) as usize;
    let inner_h = area.height.saturating_sub(2) as usize;
    let lines = results_lines(app, inner_w);
    let max_scroll = lines.len().saturating_sub(inner_h);
    let scroll = app.scroll.min(max_scroll);
    let end = lines.len() - scroll;
    let start = end.saturating_sub(inner_h);
    let mut b = block(t, " Results ".to_string(), false);
    if scroll > 0 {
        b = b.title_bottom(
            Line::styled(format!(" ↓ {scroll} more lines (PgDn) "), t.dim()).right_aligned(),
        );
    } else if start > 0 {
        b = b.title_bottom(Line::styled(" ↑ PgUp for more ", t.dim()).right_aligned());
    }
    let mut tags = Vec::new();
    if let Some(ms) = app.view.slow_ms {
        tags.push(format!(
            "slow motion {}",
            crate::units::format_duration(std::time::Duration::from_millis(ms))
        ));
    }
    if app.busy() > 0 {
        tags.push("running…".to_string());
    }
    if !tags.is_empty() {
        b = b.title(Line::styled(format!(" {} ", tags.join(" · ")), t.highlight()).right_aligned());
    }
    let shown: Vec<Line> = lines.get(start..end).unwrap_or_default().to_vec();
    if shown.is_empty() {
        Paragraph::new(vec![
            Line::styled("Type a command below, e.g.  put a b n=4 w=3", t.dim()),
            Line::styled("`help` lists the commands; F1 shows the keys.", t.dim()),
        ])
        .block(b)
        .render(area, buf);
    } else {
        Paragraph::new(shown).block(b).render(area, buf);
    }
}
