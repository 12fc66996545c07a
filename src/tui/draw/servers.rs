//! The server list pane: one row per server with its state, answer age,
//! keys and last exit, and beside it the ops/s sparklines; while the
//! network is cut or healing, also its side, hints and badge
//! ([`super::net_columns`]).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols;
use ratatui::text::Span;
use ratatui::widgets::{
    Cell, RenderDirection, Row, Sparkline, StatefulWidget, Table, TableState, Widget,
};

use super::block;
use super::net_columns::{self, Extras};
use super::text::format_age;
use crate::config::ServerSpec;
use crate::tui::app::{App, Focus};
use crate::tui::rates::format_rate;
use crate::tui::theme::Theme;

/// Width of the ops/s column when there is room for it all: the
/// sparkline, a space and the rate.
const RATE_FULL: u16 = SPARK_BARS + 6;
/// The narrowest ops/s column that shows the rate beside (at least four
/// seconds of) the sparkline.
const RATE_WITH_NUMBER: u16 = 10;
/// Seconds of history in a full-width sparkline.
const SPARK_BARS: u16 = 12;
/// Width of the keys column (a count from `format_rate`: `812`, `1.5k`).
const KEYS_W: u16 = 4;
/// The narrowest "last exit" column worth showing.
const LAST_EXIT_MIN: u16 = 12;

/// The columns of the server list for a pane of `area`: which optional
/// ones fit and how wide each is.
struct Columns {
    /// Addresses shown as `:port` (every server shares the IP in the title).
    short: bool,
    /// What a cut, hints or badges add ([`net_columns`]).
    extras: Extras,
    /// Width of the side column; 0 when not shown.
    side_w: u16,
    /// Whether the pid column is shown (dropped only for the extras).
    pid: bool,
    /// Width of the keys column; 0 when not shown.
    keys_w: u16,
    /// Width of the hints column; 0 when not shown.
    hints_w: u16,
    /// Width of the ops/s column beside the table; 0 when not shown.
    rate_w: u16,
    /// Width of the "last exit" (or badge) column; 0 when not shown.
    note_w: u16,
    /// The table's column widths.
    widths: Vec<Constraint>,
}

impl Columns {
    fn new(app: &App, area: Rect) -> Columns {
        let inner_w = area.width.saturating_sub(2);
        // Narrow: `:port` when every server shares one IP (shown in the title).
        let longest = app
            .config
            .servers
            .iter()
            .map(|s| s.to_string().len())
            .max()
            .unwrap_or(14);
        let same_ip = app
            .config
            .servers
            .first()
            .is_some_and(|f| app.config.servers.iter().all(|s| s.ip == f.ip));
        let short = area.width < 70 && same_ip && longest + 38 > inner_w as usize;
        let state_w = app
            .servers
            .iter()
            .map(|s| s.state.word().chars().count() as u16 + 2)
            .max()
            .unwrap_or(9)
            .max(9);
        let addr_w = if short { 6 } else { longest.max(7) as u16 };
        let extras = Extras::of(app);
        if extras.any() {
            return Columns::with_extras(app, extras, inner_w, short, (addr_w, state_w));
        }
        // Key counts (STATS `keys`), once a poll has told one (keys move
        // between servers after `add` and `remove`), when the ops/s figure
        // still fits beside them.
        let fixed = 1 + 2 + addr_w + 3 + 7 + state_w + 6 + 6;
        let keys_w: u16 = if app.keys.iter().any(Option::is_some)
            && inner_w.saturating_sub(fixed + 1) > RATE_WITH_NUMBER + KEYS_W
        {
            KEYS_W
        } else {
            0
        };
        // The fixed columns and their gaps; what is left goes to ops/s first,
        // then to the last exit.
        let base = fixed + keys_w + u16::from(keys_w > 0);
        let left = inner_w.saturating_sub(base + 1);
        let rate_w = match left {
            0..4 => 0,
            w => w.min(RATE_FULL),
        };
        let exit_w = left.saturating_sub(rate_w + 1);
        let note_w = if exit_w >= LAST_EXIT_MIN { exit_w } else { 0 };
        let mut cols = Columns {
            short,
            extras,
            side_w: 0,
            pid: true,
            keys_w,
            hints_w: 0,
            rate_w,
            note_w,
            widths: Vec::new(),
        };
        cols.widths = cols.table_widths(addr_w, state_w);
        cols
    }

    /// The columns while a cut, hints or badges are shown: the columns
    /// always there, then the optional ones as [`net_columns::share`]
    /// gives them room.
    fn with_extras(
        app: &App,
        extras: Extras,
        inner_w: u16,
        short: bool,
        (addr_w, state_w): (u16, u16),
    ) -> Columns {
        let always = 1 + 2 + addr_w + 3 + state_w + 6 + 5;
        let keys_w = if app.keys.iter().any(Option::is_some) {
            KEYS_W
        } else {
            0
        };
        let w = net_columns::share(
            &extras,
            keys_w,
            inner_w.saturating_sub(always),
            (RATE_FULL, RATE_WITH_NUMBER),
            LAST_EXIT_MIN,
        );
        let mut cols = Columns {
            short,
            extras,
            side_w: w.side_w,
            pid: w.pid,
            keys_w: w.keys_w,
            hints_w: w.hints_w,
            rate_w: w.rate_w,
            note_w: w.note_w,
            widths: Vec::new(),
        };
        cols.widths = cols.table_widths(addr_w, state_w);
        cols
    }

    /// The table's column widths, in the order of [`Columns::header`].
    fn table_widths(&self, addr_w: u16, state_w: u16) -> Vec<Constraint> {
        let mut widths = vec![Constraint::Length(1), Constraint::Length(2)];
        if self.side_w > 0 {
            widths.push(Constraint::Length(self.side_w));
        }
        widths.extend([Constraint::Length(addr_w), Constraint::Length(3)]);
        if self.pid {
            widths.push(Constraint::Length(7));
        }
        widths.extend([Constraint::Length(state_w), Constraint::Length(6)]);
        for w in [self.keys_w, self.hints_w] {
            if w > 0 {
                widths.push(Constraint::Length(w));
            }
        }
        if self.note_w > 0 {
            widths.push(Constraint::Length(self.note_w));
        }
        widths
    }

    /// The header row.
    fn header(&self, t: Theme) -> Row<'static> {
        let mut header = vec!["", "#"];
        if self.side_w > 0 {
            header.push("side");
        }
        header.extend([if self.short { "port" } else { "address" }, "vn"]);
        if self.pid {
            header.push("pid");
        }
        header.extend(["state", "answer"]);
        if self.keys_w > 0 {
            header.push("keys");
        }
        if self.hints_w > 0 {
            header.push("hints");
        }
        if self.note_w > 0 {
            header.push(net_columns::note_header(&self.extras));
        }
        Row::new(header).style(t.title().add_modifier(Modifier::UNDERLINED))
    }
}

/// The row of server `i` (0-based), `spec` in the configuration.
fn server_row(
    app: &App,
    cols: &Columns,
    i: usize,
    spec: &ServerSpec,
    focused: bool,
) -> Row<'static> {
    let t = app.theme;
    let status = app.servers.iter().find(|s| s.index == i);
    let marker = if i == app.selected { "▶" } else { " " };
    let pid = match status {
        Some(s) if !s.managed => "remote".to_string(),
        Some(s) => s.pid.map_or_else(|| "—".to_string(), |p| p.to_string()),
        None => "…".to_string(),
    };
    let (state_text, state_style) = match status {
        Some(s) => (
            format!("{} {}", s.state.glyph(), s.state.word()),
            t.state(s.state),
        ),
        None => ("… unknown".to_string(), t.dim()),
    };
    let age = match status.and_then(|s| s.last_answer) {
        Some(at) => format_age(app.now.saturating_duration_since(at)),
        None => "never".to_string(),
    };
    let mut cells = vec![
        Cell::from(marker),
        Cell::from(Span::styled(
            format!("{}", i + 1),
            t.server(i).add_modifier(Modifier::BOLD),
        )),
    ];
    if cols.side_w > 0 {
        cells.push(net_columns::side_cell(&cols.extras, i));
    }
    cells.extend([
        Cell::from(if cols.short {
            format!(":{}", spec.port)
        } else {
            spec.to_string()
        }),
        Cell::from(spec.nodes.to_string()),
    ]);
    if cols.pid {
        cells.push(Cell::from(pid));
    }
    cells.extend([
        Cell::from(Span::styled(state_text, state_style)),
        Cell::from(age),
    ]);
    if cols.keys_w > 0 {
        let keys = app.keys.get(i).copied().flatten();
        cells.push(Cell::from(keys.map_or_else(
            || format!("{:>4}", "—"),
            |k| format!("{:>4}", format_rate(k)),
        )));
    }
    if cols.hints_w > 0 {
        cells.push(net_columns::hints_cell(app, i));
    }
    if cols.note_w > 0 {
        cells.push(net_columns::note_cell(t, status, cols.note_w));
    }
    let row = Row::new(cells);
    if i == app.selected && focused {
        row.style(t.selected())
    } else {
        row
    }
}

pub(super) fn render_servers(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let focused = app.focus == Focus::Servers && !app.help_open;
    let cols = Columns::new(app, area);
    let header = cols.header(t);
    let rows: Vec<Row> = app
        .config
        .servers
        .iter()
        .enumerate()
        .map(|(i, spec)| server_row(app, &cols, i, spec, focused))
        .collect();
    let ip = match (cols.short, app.config.servers.first()) {
        (true, Some(s)) => format!(" · {}", s.ip),
        _ => String::new(),
    };
    let client = net_columns::client_title(app);
    let title = if focused {
        format!(" Servers{ip}{client} · ↑↓ select, keys below ")
    } else {
        format!(" Servers{ip}{client} (Tab to select) ")
    };
    let b = block(t, title, focused);
    let inner = b.inner(area);
    b.render(area, buf);
    let rate_w = cols.rate_w;
    let [table_area, _, rate_area] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(u16::from(rate_w > 0)),
        Constraint::Length(rate_w),
    ])
    .areas(inner);
    // The list scrolls so the selected server stays visible; the offset is
    // set here (not left to the table) so the sparklines and the mouse
    // find the same rows.
    let visible = usize::from(inner.height.saturating_sub(1));
    let offset = list_offset(app.selected, visible);
    let mut state = TableState::default()
        .with_offset(offset)
        .with_selected(Some(app.selected));
    let table = Table::new(rows, cols.widths)
        .header(header)
        .column_spacing(1);
    StatefulWidget::render(table, table_area, buf, &mut state);
    if rate_w > 0 {
        render_rates(app, rate_area, offset, visible, buf);
    }
}

/// The ops/s column: a header, then per visible server row a sparkline of
/// its last seconds (one common scale) and, when there is room, the last
/// rate; `—` for a server without one (down, paused, v1-only).
fn render_rates(app: &App, area: Rect, offset: usize, visible: usize, buf: &mut Buffer) {
    let t = app.theme;
    let focused = app.focus == Focus::Servers && !app.help_open;
    buf.set_stringn(
        area.x,
        area.y,
        "ops/s",
        area.width as usize,
        t.title().add_modifier(Modifier::UNDERLINED),
    );
    let number_w: u16 = if area.width >= RATE_WITH_NUMBER { 5 } else { 0 };
    let bars = area
        .width
        .saturating_sub(number_w + u16::from(number_w > 0));
    let max = app.rates.max_recent(usize::from(bars));
    for (row, i) in (offset..app.server_count()).take(visible).enumerate() {
        let y = area.y + 1 + row as u16;
        if y >= area.bottom() {
            break;
        }
        let line = Rect::new(area.x, y, area.width, 1);
        if i == app.selected && focused {
            buf.set_style(line, t.selected());
        }
        let history = app.rates.history(i);
        let Some(current) = history.and_then(|h| h.current()) else {
            buf.set_string(area.x, y, "—", t.dim());
            continue;
        };
        if let Some(h) = history {
            let samples = h.samples();
            // Newest at the right edge, drawn right to left.
            let data: Vec<Option<u64>> = samples
                .iter()
                .rev()
                .take(usize::from(bars))
                .copied()
                .collect();
            Sparkline::default()
                .data(data)
                .direction(RenderDirection::RightToLeft)
                .max(max)
                .bar_set(SPARK_SET)
                .style(t.server(i))
                .absent_value_symbol("·")
                .absent_value_style(t.dim())
                .render(Rect::new(area.x, y, bars, 1), buf);
        }
        if number_w > 0 {
            let text = format!("{:>5}", format_rate(current));
            buf.set_stringn(
                area.right() - number_w,
                y,
                text,
                usize::from(number_w),
                Style::new(),
            );
        }
    }
}

/// Bars of the sparklines: an idle second is the lowest bar, not a blank,
/// so a live idle server reads as a flat line.
const SPARK_SET: symbols::bar::Set = symbols::bar::Set {
    empty: "▁",
    ..symbols::bar::NINE_LEVELS
};

/// The first server row shown in a list of `visible` rows when `selected`
/// is selected (how the table scrolls; used to map mouse clicks).
pub fn list_offset(selected: usize, visible: usize) -> usize {
    (selected + 1).saturating_sub(visible.max(1))
}
