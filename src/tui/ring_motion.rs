//! Messages travelling on the ring: one quorum operation played back between
//! the client (the centre of the circle) and its replicas' nodes, so a class
//! sees the requests go out, the replies come back in the order they really
//! arrived, the moment the quorum is reached, and what came too late.
//!
//! The timing is [`crate::repl::motion`]'s warp; this module only turns a
//! moment of it into cells. Every kind of message has its own glyph, so the
//! monochrome theme tells them apart too: a request `•`, a counted reply
//! `✓`, one that did not count `○`, a late one `∘`, a refusal `✗`, a server
//! that never answered `⌛`, a read repair `↻`, a hint `↪`; the centre shows
//! how many replies counted so far, then `✓ W=2` or `✗ W=2`.

use ratatui::buffer::Buffer;
use ratatui::style::{Modifier, Style};

use crate::repl::Motion;
use crate::repl::motion::{
    AfterKind, Flight, HINT_GLYPH, Outcome, REPAIR_GLYPH, REQUEST_GLYPH, Schedule, schedule,
};
use crate::ring::Ring;

use super::ring_view::{Geometry, point_on_circle};
use super::theme::Theme;

/// One moment of a playback: what [`draw_motion`] draws.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionFrame {
    /// The operation laid out in time.
    pub schedule: Schedule,
    /// Screen milliseconds per step.
    pub step_ms: f64,
    /// Screen milliseconds since the playback began.
    pub at_ms: f64,
}

impl MotionFrame {
    /// The frame of `motion`, `at_ms` after its playback began.
    pub fn new(motion: &Motion, at_ms: f64) -> MotionFrame {
        MotionFrame {
            schedule: schedule(&motion.trace, &motion.hints),
            step_ms: motion.step_ms.max(1) as f64,
            at_ms,
        }
    }

    /// How many counted replies have landed.
    pub fn counted_so_far(&self) -> usize {
        self.schedule
            .flights
            .iter()
            .filter(|f| f.outcome == Outcome::Counted && self.landed(f.rank))
            .count()
    }

    /// Whether the event of step `rank` has happened.
    pub fn landed(&self, rank: usize) -> bool {
        self.at_ms >= rank as f64 * self.step_ms
    }

    /// The centre's text: the count so far, then the verdict.
    pub fn centre_text(&self) -> (String, Option<bool>) {
        let s = &self.schedule;
        if self.at_ms >= s.decided_ms(self.step_ms) {
            (s.verdict_text(), Some(s.quorum_rank.is_some()))
        } else {
            (
                format!(
                    "{}={} {}/{}",
                    s.name,
                    s.needed,
                    self.counted_so_far(),
                    s.needed
                ),
                None,
            )
        }
    }
}

/// Where a message of the node at ring index `ring_index` is when it is
/// `progress` of the way out from the centre (1 = just inside the node);
/// `None` for a node the ring does not have.
fn along(ring: &Ring, geo: &Geometry, ring_index: usize, progress: f64) -> Option<(u16, u16)> {
    let node = ring.nodes().get(ring_index)?;
    let inside = 1.0 - 1.5 * geo.col_unit();
    let (x, y) = point_on_circle(node.position.fraction(), progress.clamp(0.0, 1.0) * inside);
    Some(geo.cell(x, y))
}

/// The cell where `glyph` starts so that it sits at `cell`: a wide glyph
/// (`⌛`) on the right half of the circle starts a column earlier, so its
/// second cell never covers the node it is next to.
fn start_of(glyph: &str, cell: (u16, u16), geo: &Geometry) -> (u16, u16) {
    let (cx, _) = geo.cell(0.0, 0.0);
    if glyph == Outcome::Timeout.glyph() && cell.0 > cx {
        (cell.0.saturating_sub(1), cell.1)
    } else {
        cell
    }
}

/// The style of a reply's glyph.
fn reply_style(theme: Theme, outcome: Outcome, server: usize) -> Style {
    match outcome {
        Outcome::Counted => theme.server(server).add_modifier(Modifier::BOLD),
        Outcome::Ignored => theme.server(server),
        Outcome::Late => theme.dim().add_modifier(Modifier::DIM),
        Outcome::Refused | Outcome::Timeout => theme.fail(),
    }
}

/// The glyph and style of one flight at `t`, and how far out it is.
fn flight_at(frame: &MotionFrame, f: &Flight, theme: Theme) -> Option<(&'static str, Style, f64)> {
    let (s, step, t) = (&frame.schedule, frame.step_ms, frame.at_ms);
    let request = if f.hint { HINT_GLYPH } else { REQUEST_GLYPH };
    let request_style = if f.hint {
        theme.key()
    } else {
        theme.highlight()
    };
    if let Some(p) = s.request_window(step).progress(t) {
        return Some((request, request_style, p));
    }
    if f.outcome == Outcome::Timeout {
        return Some(if frame.landed(f.rank) {
            (
                Outcome::Timeout.glyph(),
                reply_style(theme, f.outcome, f.server),
                1.0,
            )
        } else {
            (request, request_style, 1.0)
        });
    }
    let style = reply_style(theme, f.outcome, f.server);
    if let Some(p) = s.reply_window(f.rank, step).progress(t) {
        return Some((f.outcome.glyph(), style, 1.0 - p));
    }
    if frame.landed(f.rank) {
        // Landed: its mark stays by the node, the record of who answered.
        return Some((f.outcome.glyph(), style, 1.0));
    }
    // At the server, not answered yet.
    Some((request, request_style, 1.0))
}

/// Draws `frame` over the ring drawn in `geo`: the messages, their marks
/// by the nodes, and the centre's count or verdict.
pub fn draw_motion(
    frame: &MotionFrame,
    ring: &Ring,
    geo: &Geometry,
    theme: Theme,
    buf: &mut Buffer,
) {
    let s = &frame.schedule;
    // Travelling messages are drawn after the resting marks, so a reply on
    // its way is never hidden by a mark it passes.
    let mut resting = Vec::new();
    let mut moving = Vec::new();
    for f in &s.flights {
        if let Some((glyph, style, p)) = flight_at(frame, f, theme)
            && let Some(cell) = along(ring, geo, f.ring_index, p)
        {
            if p >= 1.0 {
                resting.push((cell, glyph, style));
            } else {
                moving.push((cell, glyph, style));
            }
        }
    }
    let window = s.after_window(frame.step_ms);
    for a in &s.after {
        let (glyph, style) = match a.kind {
            AfterKind::Repair => (REPAIR_GLYPH, theme.whatif().add_modifier(Modifier::BOLD)),
            AfterKind::Hint => (HINT_GLYPH, theme.key()),
        };
        let p = match window.progress(frame.at_ms) {
            Some(p) => p,
            None if frame.at_ms >= window.to => 1.0,
            None => continue,
        };
        if let Some(cell) = along(ring, geo, a.ring_index, p) {
            if p >= 1.0 {
                resting.push((cell, glyph, style));
            } else {
                moving.push((cell, glyph, style));
            }
        }
    }
    for (cell, glyph, style) in resting.into_iter().chain(moving) {
        put_cell(buf, geo, start_of(glyph, cell, geo), glyph, style);
    }
    let (text, verdict) = frame.centre_text();
    let style = match verdict {
        Some(true) => theme.ok(),
        Some(false) => theme.fail(),
        None => theme.highlight(),
    };
    let (cx, cy) = geo.cell(0.0, 0.0);
    let len = text.chars().count() as u16;
    put_cell(buf, geo, (cx.saturating_sub(len / 2), cy), &text, style);
}

/// Writes `text` at `cell`, clipped to the circle's area.
fn put_cell(buf: &mut Buffer, geo: &Geometry, cell: (u16, u16), text: &str, style: Style) {
    let area = geo.area;
    let (x, y) = cell;
    if y < area.y || y >= area.y + area.height || x < area.x || x >= area.x + area.width {
        return;
    }
    let room = usize::from(area.x + area.width - x);
    buf.set_stringn(x, y, text, room, style);
}

#[cfg(test)]
mod tests;
