//! Layout and widgets: turns an [`App`] into cells.
//!
//! Drawing reads only the `App` (no clock, no supervisor, no terminal), so
//! the same code renders the live screen and the snapshot tests. The layout
//! is computed by [`layout`] alone so the event loop can map mouse clicks to
//! panes without drawing.
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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, RenderDirection, Row, Sparkline, StatefulWidget, Table,
    TableState, Widget, Wrap,
};

use crate::repl::help::SUMMARY;
use crate::supervisor::ServerState;

use super::app::{App, Focus, MainView};
use super::rates::format_rate;
use super::ring_view::{RingView, short_name};
use super::theme::Theme;

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
}

/// The panes for a screen of `area` showing `servers` servers, or `None`
/// when the screen is smaller than 80×24.
pub fn layout(area: Rect, servers: usize) -> Option<Areas> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let logs_h = match area.height {
        0..30 => 5,
        30..36 => 7,
        _ => 9,
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
    let [events, log] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(logs);
    Some(Areas {
        ring,
        servers,
        results,
        events,
        log,
        input,
        footer,
    })
}

/// Draws the whole screen into `buf`; returns where the cursor goes (when
/// the REPL line has the focus).
pub fn render(app: &App, area: Rect, buf: &mut Buffer) -> Option<(u16, u16)> {
    let t = app.theme;
    buf.set_style(area, t.base());
    let Some(areas) = layout(area, app.server_count()) else {
        render_too_small(app, area, buf);
        return None;
    };
    render_ring(app, areas.ring, buf);
    render_servers(app, areas.servers, buf);
    match app.main_view {
        MainView::Results => {
            render_results(app, areas.results, buf);
            render_log(app, areas.log, buf, false);
        }
        MainView::Log => {
            render_log(app, areas.results, buf, true);
            render_results(app, areas.log, buf);
        }
    }
    render_events(app, areas.events, buf);
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
    RingView {
        ring: &app.ring,
        servers: &app.config.servers,
        states: &states,
        focus: app.view.focus_key.as_ref(),
        whatif: app.view.whatif.as_ref(),
        n,
        theme: t,
    }
    .render(inner, buf);
}

/// A duration as a short age: `0.3s`, `12s`, `4m`, `2h`.
pub fn format_age(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 120.0 {
        format!("{}s", d.as_secs())
    } else if s < 7200.0 {
        format!("{}m", d.as_secs() / 60)
    } else {
        format!("{}h", d.as_secs() / 3600)
    }
}

/// A wall-clock time as `HH:MM:SS` (UTC).
pub fn format_clock(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

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

fn render_servers(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let focused = app.focus == Focus::Servers && !app.help_open;
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
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(addr_w),
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Length(state_w),
        Constraint::Length(6),
    ];
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
    if keys_w > 0 {
        widths.push(Constraint::Length(keys_w));
    }
    // The fixed columns and their gaps; what is left goes to ops/s first,
    // then to the last exit.
    let base = fixed + keys_w + u16::from(keys_w > 0);
    let left = inner_w.saturating_sub(base + 1);
    let rate_w = match left {
        0..4 => 0,
        w => w.min(RATE_FULL),
    };
    let exit_w = left.saturating_sub(rate_w + 1);
    let wide = exit_w >= LAST_EXIT_MIN;
    let mut header = vec![
        "",
        "#",
        if short { "port" } else { "address" },
        "vn",
        "pid",
        "state",
        "answer",
    ];
    if keys_w > 0 {
        header.push("keys");
    }
    if wide {
        header.push("last exit");
        widths.push(Constraint::Length(exit_w));
    }
    let header = Row::new(header).style(t.title().add_modifier(Modifier::UNDERLINED));
    let mut rows = Vec::new();
    for (i, spec) in app.config.servers.iter().enumerate() {
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
            Cell::from(if short {
                format!(":{}", spec.port)
            } else {
                spec.to_string()
            }),
            Cell::from(spec.nodes.to_string()),
            Cell::from(pid),
            Cell::from(Span::styled(state_text, state_style)),
            Cell::from(age),
        ];
        if keys_w > 0 {
            let keys = app.keys.get(i).copied().flatten();
            cells.push(Cell::from(keys.map_or_else(
                || format!("{:>4}", "—"),
                |k| format!("{:>4}", format_rate(k)),
            )));
        }
        if wide {
            cells.push(Cell::from(Span::styled(
                status.and_then(|s| s.last_exit.clone()).unwrap_or_default(),
                t.dim(),
            )));
        }
        let mut row = Row::new(cells);
        if i == app.selected && focused {
            row = row.style(t.selected());
        }
        rows.push(row);
    }
    let ip = match (short, app.config.servers.first()) {
        (true, Some(s)) => format!(" · {}", s.ip),
        _ => String::new(),
    };
    let title = if focused {
        format!(" Servers{ip} · ↑↓ select, keys below ")
    } else {
        format!(" Servers{ip} (Tab to select) ")
    };
    let b = block(t, title, focused);
    let inner = b.inner(area);
    b.render(area, buf);
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
    let table = Table::new(rows, widths).header(header).column_spacing(1);
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

/// `text` with its inner runs of spaces (column padding) squeezed to one
/// space, keeping the indentation: how a too-wide table line is shown in a
/// narrow pane without losing a word.
pub fn squeeze(text: &str) -> String {
    let body = text.trim_start_matches(' ');
    let indent = text.len() - body.len();
    let mut out = " ".repeat(indent);
    let mut space = false;
    for c in body.chars() {
        if c == ' ' {
            if !space {
                out.push(c);
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

/// Splits `text` into pieces of at most `width` characters; continuation
/// pieces are indented by two spaces.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(4);
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return vec![text.to_string()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut first = true;
    while start < chars.len() {
        let room = if first { width } else { width - 2 };
        let mut end = (start + room).min(chars.len());
        // Prefer breaking at a space.
        if end < chars.len()
            && let Some(sp) = (start + room / 2..end).rev().find(|&i| chars[i] == ' ')
        {
            end = sp + 1;
        }
        let piece: String = chars[start..end].iter().collect();
        out.push(if first { piece } else { format!("  {piece}") });
        first = false;
        start = end;
    }
    out
}

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

fn render_results(app: &App, area: Rect, buf: &mut Buffer) {
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
        tags.push(format!("slow motion {ms} ms"));
    }
    if app.busy() > 0 {
        tags.push("running…".to_string());
    }
    if !tags.is_empty() {
        b = b.title(Line::styled(format!(" {} ", tags.join(" · ")), t.highlight()).right_aligned());
    }
    let shown: Vec<Line> = lines[start..end].to_vec();
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

fn render_events(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let inner_h = area.height.saturating_sub(2) as usize;
    let inner_w = area.width.saturating_sub(2) as usize;
    let start = app.events.len().saturating_sub(inner_h);
    let lines: Vec<Line> = app.events[start..]
        .iter()
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
fn render_log(app: &App, area: Rect, buf: &mut Buffer, big: bool) {
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
        let mut p = piece(&app.server_log[start]);
        p.append(&mut rows);
        rows = p;
    }
    // The oldest line shown may start above the pane.
    let over = rows.len().saturating_sub(inner_h);
    rows.drain(..over);
    while end < n && rows.len() < inner_h {
        rows.extend(piece(&app.server_log[end]));
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

fn render_input(app: &App, area: Rect, buf: &mut Buffer) -> Option<(u16, u16)> {
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
    let visible: String = chars[first..].iter().take(room + 1).collect();
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

fn render_footer(app: &App, area: Rect, buf: &mut Buffer) {
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

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
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
    Paragraph::new(lines[scroll..].to_vec())
        .block(b)
        .render(popup, buf);
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

    #[test]
    fn ages_and_clocks() {
        assert_eq!(format_age(Duration::from_millis(300)), "0.3s");
        assert_eq!(format_age(Duration::from_secs(42)), "42s");
        assert_eq!(format_age(Duration::from_secs(600)), "10m");
        assert_eq!(format_age(Duration::from_secs(7300)), "2h");
        assert_eq!(
            format_clock(UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 13 + 61)),
            "13:01:01"
        );
    }

    #[test]
    fn wrap_keeps_everything() {
        let s = "127.0.0.1:1234 node 3 stored 0.4ms counted toward W=3";
        let w = wrap(s, 20);
        assert!(w.iter().all(|l| l.chars().count() <= 20), "{w:?}");
        let joined: String = w
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    l.clone()
                } else {
                    l[2..].to_string()
                }
            })
            .collect();
        assert_eq!(joined, s);
        assert_eq!(wrap("short", 20), vec!["short"]);
        assert_eq!(squeeze("  [1] a    b  c "), "  [1] a b c ");
    }

    #[test]
    fn log_lines_lose_escapes() {
        assert_eq!(
            clean_log_line("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x\ty"),
            "2026  INFO x y"
        );
        assert_eq!(clean_log_line("a\u{1b}"), "a");
    }
}
