//! What the server list adds while the network is cut or healing
//! (namespaces mode): a side column (`A`, `B ↛2`), a hints column (writes
//! held for servers out of reach) and the badges the heal watch sets ("3
//! hints to deliver", "in sync"), so a class sees a partition, the hints
//! piling up, and the cluster converge after `heal`. Kept apart from
//! `servers` so the usual list stays exactly as it was: with no cut, no
//! hints and no badge nothing here applies.

use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::Cell;

use crate::supervisor::ServerStatus;
use crate::tui::app::App;
use crate::tui::rates::format_rate;
use crate::tui::theme::Theme;

/// Width of the hints column (`hints`, then counts from `format_rate`).
pub(super) const HINTS_W: u16 = 5;
/// The narrowest side column (its header, `side`).
const SIDE_MIN: u16 = 4;
/// The widest side column; longer labels (many one-way cuts) are cut.
const SIDE_MAX: u16 = 10;
/// The narrowest note column worth giving a badge ("in sync").
const BADGE_MIN: u16 = 7;
/// What the heal watch says of a server that caught up.
const IN_SYNC: &str = "in sync";

/// The extra columns a list needs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Extras {
    /// Each server's side label (empty: it reaches every side), when a
    /// cut is in force.
    pub sides: Option<Vec<String>>,
    /// Whether the hints column is shown: a server holds hints, or a
    /// badge is up (the hints are then watched draining to 0).
    pub hints: bool,
    /// Width of the widest badge; 0 when no server has one.
    pub badge_w: u16,
}

impl Extras {
    /// What `app` asks for: a cut in its view, hints, badges.
    pub fn of(app: &App) -> Extras {
        let sides = app.view.net.as_ref().map(|net| {
            (0..app.server_count())
                .map(|i| net.label(i).unwrap_or_default())
                .collect()
        });
        let badge_w = app
            .servers
            .iter()
            .filter_map(|s| s.badge.as_ref())
            .map(|b| u16::try_from(b.chars().count()).unwrap_or(u16::MAX))
            .max()
            .unwrap_or(0);
        let holding = app.hints.iter().any(|h| h.is_some_and(|h| h > 0));
        Extras {
            sides,
            hints: holding || badge_w > 0,
            badge_w,
        }
    }

    /// Whether any extra column is wanted (else the usual list).
    pub fn any(&self) -> bool {
        self.sides.is_some() || self.hints || self.badge_w > 0
    }

    /// Width the side column would like: its widest label, at least its
    /// header.
    fn side_want(&self) -> u16 {
        let widest = self
            .sides
            .iter()
            .flatten()
            .map(|l| u16::try_from(l.chars().count()).unwrap_or(u16::MAX))
            .max()
            .unwrap_or(0);
        widest.clamp(SIDE_MIN, SIDE_MAX)
    }
}

/// The widths of the optional columns with extras, each 0 when dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct ExtraWidths {
    /// The side column.
    pub side_w: u16,
    /// The hints column.
    pub hints_w: u16,
    /// Whether the pid column (7 cells) is shown.
    pub pid: bool,
    /// The keys column.
    pub keys_w: u16,
    /// The ops/s column beside the table.
    pub rate_w: u16,
    /// The note column (badge, else last exit).
    pub note_w: u16,
}

/// Shares `room` cells (the pane's inner width less the columns always
/// shown and their gaps) among the optional columns, most wanted first:
/// the side, room for the badges (cut short on narrow panes), the hints,
/// the pid, the keys (`keys_w` when known, 0 otherwise), then ops/s; what
/// is left widens the note. Every column costs its width and one blank
/// before it. `rate_full` and
/// `rate_with_number` are the ops/s column's full and useful widths,
/// `exit_min` the narrowest note worth showing without a badge.
pub(super) fn share(
    extras: &Extras,
    keys_w: u16,
    room: u16,
    rate: (u16, u16),
    exit_min: u16,
) -> ExtraWidths {
    let (rate_full, rate_with_number) = rate;
    let mut room = Room(room);
    let mut out = ExtraWidths::default();
    if extras.sides.is_some() {
        out.side_w = room.take(extras.side_want());
        if out.side_w == 0 {
            // Too narrow for the header: the letters alone.
            out.side_w = room.take(1);
        }
    }
    let badge = match extras.badge_w.max(BADGE_MIN).min(room.left()) {
        w if extras.badge_w > 0 && w >= BADGE_MIN => room.take(w),
        _ => 0,
    };
    if extras.hints {
        out.hints_w = room.take(HINTS_W);
    }
    out.pid = room.take(7) > 0;
    if keys_w > 0 && room.left() > rate_with_number + keys_w {
        out.keys_w = room.take(keys_w);
    }
    out.rate_w = match room.left() {
        0..4 => 0,
        w => room.take(w.min(rate_full)),
    };
    out.note_w = match room.left() {
        // The badges' column takes what is left.
        _ if badge > 0 => badge + room.0,
        w if w >= exit_min => w,
        _ => 0,
    };
    out
}

/// Cells not yet given to a column.
struct Room(u16);

impl Room {
    /// The widest column that still fits (one cell goes to its gap).
    fn left(&self) -> u16 {
        self.0.saturating_sub(1)
    }

    /// Gives `w` cells and a gap when they fit; returns the width given.
    fn take(&mut self, w: u16) -> u16 {
        if w > 0 && self.0 > w {
            self.0 -= w + 1;
            w
        } else {
            0
        }
    }
}

/// The note column's header: what the badges are about, else the exits.
pub(super) fn note_header(extras: &Extras) -> &'static str {
    if extras.badge_w > 0 {
        "heal"
    } else {
        "last exit"
    }
}

/// The side cell of server `i`: its label in bold, blank when it reaches
/// every side.
pub(super) fn side_cell(extras: &Extras, i: usize) -> Cell<'static> {
    let label = extras
        .sides
        .as_ref()
        .and_then(|s| s.get(i))
        .cloned()
        .unwrap_or_default();
    Cell::from(Span::styled(
        label,
        Style::new().add_modifier(Modifier::BOLD),
    ))
}

/// The hints cell of server `i`: its pending hints, right-aligned, marked
/// while some wait; `—` when it did not say.
pub(super) fn hints_cell(app: &App, i: usize) -> Cell<'static> {
    let t = app.theme;
    match app.hints.get(i).copied().flatten() {
        Some(0) => Cell::from(Span::styled(format!("{:>5}", 0), t.dim())),
        Some(h) => Cell::from(Span::styled(format!("{:>5}", format_rate(h)), t.warn())),
        None => Cell::from(Span::styled(format!("{:>5}", "—"), t.dim())),
    }
}

/// The note cell, `width` wide: the badge when the heal watch set one
/// ("in sync" as a success, anything else as something still to watch;
/// cut with `…` when too long), else the last exit.
pub(super) fn note_cell(t: Theme, status: Option<&ServerStatus>, width: u16) -> Cell<'static> {
    match status.and_then(|s| s.badge.as_deref()) {
        Some(b) => {
            let style = if b == IN_SYNC { t.ok() } else { t.warn() };
            Cell::from(Span::styled(cut(b, usize::from(width)), style))
        }
        None => Cell::from(Span::styled(
            status.and_then(|s| s.last_exit.clone()).unwrap_or_default(),
            t.dim(),
        )),
    }
}

/// `text` in at most `width` characters, ending in `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The list's title words about the client while a cut is in force:
/// ` · client on A`, or nothing when it reaches every server.
pub(super) fn client_title(app: &App) -> String {
    match app.view.net.as_ref().and_then(|n| n.client_side) {
        Some(side) => format!(" · client on {side}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extras(sides: bool, hints: bool, badge_w: u16) -> Extras {
        Extras {
            sides: sides.then(|| vec!["A".to_string(), "B ↛2".to_string()]),
            hints,
            badge_w,
        }
    }

    #[test]
    fn wide_panes_get_every_column() {
        let w = share(&extras(true, true, 18), 4, 80, (18, 10), 12);
        assert_eq!((w.side_w, w.hints_w, w.pid, w.keys_w), (4, 5, true, 4));
        assert_eq!(w.rate_w, 18);
        // 80 = 5 + 6 + 8 + 5 + 19 + (note + 1)
        assert_eq!(w.note_w, 80 - 5 - 6 - 8 - 5 - 19 - 1);
    }

    #[test]
    fn narrow_panes_keep_the_side_and_the_badge_first() {
        let w = share(&extras(true, true, 18), 4, 30, (18, 10), 12);
        assert_eq!((w.side_w, w.note_w, w.hints_w), (4, 18, 5));
        assert!(!w.pid && w.keys_w == 0 && w.rate_w == 0);
        // Less room: the badge is cut, the hints go.
        let w = share(&extras(true, true, 18), 4, 20, (18, 10), 12);
        assert_eq!((w.side_w, w.note_w, w.hints_w), (4, 14, 0));
        // Hardly any room: the letters alone.
        let w = share(&extras(true, false, 0), 0, 3, (18, 10), 12);
        assert_eq!((w.side_w, w.note_w), (1, 0));
    }

    #[test]
    fn long_badges_are_cut_with_an_ellipsis() {
        assert_eq!(cut("3 hints to deliver", 10), "3 hints t…");
        assert_eq!(cut("in sync", 7), "in sync");
    }

    #[test]
    fn without_a_badge_the_note_needs_the_last_exit_width() {
        let w = share(&extras(true, false, 0), 0, 40, (18, 10), 12);
        assert_eq!((w.side_w, w.pid, w.rate_w), (4, true, 18));
        assert_eq!(w.note_w, 0, "{w:?}");
        let w = share(&extras(true, false, 0), 0, 60, (18, 10), 12);
        assert_eq!(w.note_w, 60 - 5 - 8 - 19 - 1);
    }
}
