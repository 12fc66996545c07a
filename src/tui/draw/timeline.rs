//! The timeline strip under the results: the last operation on its real time
//! axis, each reply marked by its server's number where it arrived (late
//! ones dim and `∘`, refusals `✗`, servers that never answered `⌛` past
//! the end), and a bar at the moment the quorum was reached. While the
//! operation plays on the ring, the strip shows only what has landed.
//!
//! The rows come from [`crate::repl::motion::timeline_rows`], which the
//! line shell's `replay` prints as text; this file styles and places them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::repl::motion::{Look, Outcome, Segment, after_text, schedule, timeline_rows};
use crate::tui::app::App;
use crate::tui::theme::Theme;

use super::block;

/// The results pane needs this many rows before the strip takes any.
const MIN_PANE: u16 = 8;
/// The strip with its labels row (border included).
const TALL: u16 = 5;
/// The strip without it.
const SHORT: u16 = 4;

/// Splits the results pane `area` into the results and the strip (when
/// there is a last operation and room for both).
pub fn split(app: &App, area: Rect) -> (Rect, Option<Rect>) {
    if app.last_op.is_none() || area.height < MIN_PANE {
        return (area, None);
    }
    let h = if area.height >= 3 * TALL { TALL } else { SHORT };
    let results = Rect {
        height: area.height - h,
        ..area
    };
    let strip = Rect {
        y: area.y + area.height - h,
        height: h,
        ..area
    };
    (results, Some(strip))
}

/// The style of a piece of the time line.
fn style(t: Theme, look: Look, reached: bool) -> Style {
    match look {
        Look::Plain | Look::Axis => t.dim(),
        Look::Quorum if reached => t.ok(),
        Look::Quorum => t.fail(),
        Look::Reply(Outcome::Counted, s) => t.server(s).add_modifier(Modifier::BOLD),
        Look::Reply(Outcome::Ignored, s) => t.server(s),
        Look::Reply(Outcome::Late, _) => t.dim().add_modifier(Modifier::DIM),
        Look::Reply(Outcome::Refused | Outcome::Timeout, _) => t.fail(),
    }
}

fn line(t: Theme, segments: &[Segment], reached: bool) -> Line<'static> {
    Line::from(
        segments
            .iter()
            .map(|s| Span::styled(s.text.clone(), style(t, s.look, reached)))
            .collect::<Vec<_>>(),
    )
}

/// Draws the strip of the last operation in `area` (border included).
pub fn render_timeline(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(last) = &app.last_op else {
        return;
    };
    let t = app.theme;
    let s = schedule(&last.trace, &last.hints);
    let upto = app.timeline_upto();
    let reached = s.quorum_rank.is_some();
    let mut title = format!(
        " Timeline · {} {}",
        last.trace.kind,
        crate::repl::format::quoted(&last.trace.key, 16)
    );
    match s.quorum_at {
        Some(at) => title.push_str(&format!(" · quorum {}", crate::repl::format::latency(at))),
        None => title.push_str(" · no quorum"),
    }
    let after = after_text(&s);
    if !after.is_empty() && upto.is_none() {
        title.push_str(&format!(" · then {after}"));
    }
    title.push(' ');
    let max = usize::from(area.width.saturating_sub(4));
    if title.chars().count() > max {
        title = title
            .chars()
            .take(max.saturating_sub(1))
            .collect::<String>()
            + "…";
    }
    let b = block(t, title, false);
    let inner = b.inner(area);
    b.render(area, buf);
    if inner.width < 14 || inner.height == 0 {
        return;
    }
    let rows = timeline_rows(&s, usize::from(inner.width - 2), upto);
    let mut lines = vec![line(t, &rows.marks, reached), line(t, &rows.axis, reached)];
    if inner.height >= 3 {
        lines.push(line(t, &rows.labels, reached));
    }
    for (i, l) in lines.iter().enumerate().take(usize::from(inner.height)) {
        buf.set_line(inner.x + 1, inner.y + i as u16, l, inner.width - 2);
    }
}
