//! The ring drawn as a circle: the picture that makes consistent hashing
//! visible.
//!
//! Every virtual node sits at its SHA-1 angle ([`Position::fraction`], 12
//! o'clock is position 0, positions grow clockwise), drawn with its server's
//! state glyph in its server's colour and labelled with its server's number,
//! so nothing depends on colour alone. In colour, each arc of the circle takes
//! the colour of the server owning its keys ([`super::ring_arcs`]); in
//! monochrome the circle stays plain. The last key used (`get`, `put`,
//! `where`, …) is marked `◆`, the clockwise walk from it to its last replica is
//! drawn over the circle, replicas are labelled `<server>#<rank>` and nodes
//! skipped because their server was already chosen are labelled `(<server>)`.
//! A what-if question adds an inner circle on which the arcs of the key space
//! that would change owners are drawn, and marks the nodes that would appear
//! (`+`) or disappear (`−`).
//!
//! The geometry ([`Geometry`], [`point_on_circle`], [`moved_samples`]) is
//! pure so it can be unit-tested; [`RingView`] is a ratatui widget.

use std::collections::HashSet;
use std::f64::consts::TAU;
use std::net::SocketAddrV4;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use ratatui::widgets::canvas::{Canvas, Points};

use crate::config::ServerSpec;
use crate::repl::WhatIfReport;
use crate::ring::{Placement, Position, Ring, Step};
use crate::supervisor::ServerState;

use super::ring_arcs::{draw_owned_arcs, fades, owned_points, sample_count};
use super::ring_legend::{
    LabelRequest, PlacedLabel, plain_labels_fit, plan_labels, server_legend, server_rows_budget,
};
use super::theme::{Theme, ThemeKind};

/// The point at `fraction` of the circle (0 = top, growing clockwise) on a
/// circle of `radius` centred on the origin, y pointing up.
pub fn point_on_circle(fraction: f64, radius: f64) -> (f64, f64) {
    let a = fraction * TAU;
    (radius * a.sin(), radius * a.cos())
}

/// A ring position whose [`Position::fraction`] is `fraction` (to 64 bits).
pub fn position_from_fraction(fraction: f64) -> Position {
    let f = fraction.rem_euclid(1.0);
    let top = (f * 18_446_744_073_709_551_616.0) as u64;
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&top.to_be_bytes());
    Position(bytes)
}

/// How a circle of radius 1 maps onto the cells of an area. Terminal cells
/// are about twice as tall as wide, so one row counts as two column units:
/// the circle looks round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// The cells the circle is drawn in.
    pub area: Rect,
    /// The circle's radius in columns.
    pub radius_cols: f64,
    /// Half the width of the area in circle units.
    pub x_half: f64,
    /// Half the height of the area in circle units.
    pub y_half: f64,
}

impl Geometry {
    /// Columns kept free left and right of the circle for labels.
    const LABEL_COLS: f64 = 4.0;

    /// The geometry of the largest circle that fits in `area` with room for
    /// labels, or `None` when the area is too small to draw one.
    pub fn new(area: Rect) -> Option<Geometry> {
        let w = f64::from(area.width);
        let h = f64::from(area.height);
        let r = (w / 2.0 - Self::LABEL_COLS).min((h / 2.0 - 1.0) * 2.0);
        if r < 3.0 {
            return None;
        }
        Some(Geometry {
            area,
            radius_cols: r,
            x_half: (w / 2.0) / r,
            y_half: h / r,
        })
    }

    /// The canvas x bounds.
    pub fn x_bounds(&self) -> [f64; 2] {
        [-self.x_half, self.x_half]
    }

    /// The canvas y bounds.
    pub fn y_bounds(&self) -> [f64; 2] {
        [-self.y_half, self.y_half]
    }

    /// The cell (column, row) containing the point `(x, y)`, clamped to the area.
    pub fn cell(&self, x: f64, y: f64) -> (u16, u16) {
        let w = f64::from(self.area.width);
        let h = f64::from(self.area.height);
        let col = ((x + self.x_half) / (2.0 * self.x_half) * w)
            .floor()
            .clamp(0.0, w - 1.0);
        let row = ((self.y_half - y) / (2.0 * self.y_half) * h)
            .floor()
            .clamp(0.0, h - 1.0);
        (self.area.x + col as u16, self.area.y + row as u16)
    }

    /// The cell of `fraction` on a circle of `radius`.
    pub fn cell_at(&self, fraction: f64, radius: f64) -> (u16, u16) {
        let (x, y) = point_on_circle(fraction, radius);
        self.cell(x, y)
    }

    /// One column, in circle units.
    pub fn col_unit(&self) -> f64 {
        1.0 / self.radius_cols
    }
}

/// For `samples` evenly spaced points of the key space, whether the set of
/// servers holding a key there (N replicas) differs between two rings.
/// Servers are compared by address, since the two server lists differ.
pub fn moved_samples(
    current: &Ring,
    current_servers: &[ServerSpec],
    other: &Ring,
    other_servers: &[ServerSpec],
    n: usize,
    samples: usize,
) -> Vec<bool> {
    let owners = |ring: &Ring, servers: &[ServerSpec], pos: Position| {
        let mut v: Vec<SocketAddrV4> = ring
            .placement_at(pos, n)
            .replicas
            .iter()
            .filter_map(|r| servers.get(r.server).map(ServerSpec::addr))
            .collect();
        v.sort();
        v
    };
    (0..samples)
        .map(|k| {
            let pos = position_from_fraction((k as f64 + 0.5) / samples as f64);
            owners(current, current_servers, pos) != owners(other, other_servers, pos)
        })
        .collect()
}

/// The short name of a server in legends: `:port` when every server shares
/// one IP address, else `ip:port`.
pub fn short_name(servers: &[ServerSpec], index: usize) -> String {
    let Some(s) = servers.get(index) else {
        return format!("#{}", index + 1);
    };
    if servers.iter().all(|o| o.ip == s.ip) {
        format!(":{}", s.port)
    } else {
        s.to_string()
    }
}

/// The ring widget.
pub struct RingView<'a> {
    /// The real ring.
    pub ring: &'a Ring,
    /// The configured servers (the ring's server indices point here).
    pub servers: &'a [ServerSpec],
    /// Each server's live state, when known.
    pub states: &'a [Option<ServerState>],
    /// Each server's side while the network is cut (empty when not).
    pub sides: &'a [Option<char>],
    /// The last key used and its walk.
    pub focus: Option<&'a (Vec<u8>, Placement)>,
    /// The what-if question being shown.
    pub whatif: Option<&'a WhatIfReport>,
    /// The replication factor used to compute moved arcs.
    pub n: usize,
    /// Colours.
    pub theme: Theme,
    /// An operation travelling on the ring (slow motion, `replay`).
    pub motion: Option<&'a super::ring_motion::MotionFrame>,
}

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Used(usize),
    Skipped,
}

impl RingView<'_> {
    fn state(&self, server: usize) -> Option<ServerState> {
        self.states.get(server).copied().flatten()
    }

    fn glyph(&self, server: usize) -> &'static str {
        self.state(server).map_or("●", ServerState::glyph)
    }

    /// Legend lines for a pane `height` rows tall: the servers (folded when
    /// they would take more than their budget of rows), the focus key's
    /// walk, the what-if summary.
    fn legend(&self, width: u16, height: u16) -> Vec<Line<'static>> {
        let t = self.theme;
        let budget = server_rows_budget(height);
        let mut lines = server_legend(self.servers, self.states, self.sides, t, width, budget);
        if let Some((key, placement)) = self.focus {
            let mut tokens = vec![vec![Span::styled(
                format!("◆ {}:", truncate(&String::from_utf8_lossy(key), 12)),
                t.highlight(),
            )]];
            let nodes = self.ring.nodes();
            let mut rank = 0;
            for step in &placement.steps {
                match step {
                    Step::Used(r) => {
                        rank += 1;
                        tokens.push(vec![Span::styled(
                            format!("→ {}#{rank}", r.server + 1),
                            t.server(r.server).add_modifier(Modifier::BOLD),
                        )]);
                    }
                    Step::Skipped { ring_index, .. } => {
                        let label = nodes
                            .get(*ring_index)
                            .map_or_else(|| "?".to_string(), |n| format!("→ ({})", n.server + 1));
                        tokens.push(vec![Span::styled(label, t.skipped())]);
                    }
                }
            }
            lines.extend(pack(tokens, width));
        }
        if let Some(w) = self.whatif {
            let mut text = format!(
                "what-if: {} — {:.1}% of key space moves",
                w.title.trim_start_matches("whatif "),
                w.moved_fraction * 100.0
            );
            if let Some((moving, total)) = w.stored_keys {
                text.push_str(&format!(", {moving}/{total} stored keys"));
            }
            let tokens = text
                .split(' ')
                .map(|word| vec![Span::styled(word.to_string(), t.whatif())])
                .collect();
            lines.extend(pack(tokens, width));
            lines.extend(pack(
                vec![
                    vec![Span::styled("inner arcs: moving keys", t.whatif())],
                    vec![Span::styled("+ added", t.whatif())],
                    vec![Span::styled("− removed", t.whatif())],
                ],
                width,
            ));
        }
        lines
    }

    fn roles(&self) -> Vec<Role> {
        let mut roles = vec![Role::Plain; self.ring.nodes().len()];
        if let Some((_, placement)) = self.focus {
            let mut rank = 0;
            for step in &placement.steps {
                match step {
                    Step::Used(r) => {
                        rank += 1;
                        if let Some(x) = roles.get_mut(r.ring_index) {
                            *x = Role::Used(rank);
                        }
                    }
                    Step::Skipped { ring_index, .. } => {
                        if let Some(x) = roles.get_mut(*ring_index) {
                            *x = Role::Skipped;
                        }
                    }
                }
            }
        }
        roles
    }

    fn draw_circle(&self, geo: &Geometry, buf: &mut Buffer) {
        let t = self.theme;
        let fg = |s: Style| s.fg.unwrap_or(Color::Reset);
        // The walk from the key to its last replica, clockwise.
        let mut walk: Vec<(f64, f64)> = Vec::new();
        let mut walk_range: Option<(f64, f64)> = None;
        if let Some((_, placement)) = self.focus
            && let Some(last) = placement.replicas.last()
            && let Some(end_node) = self.ring.nodes().get(last.ring_index)
        {
            let start = placement.key_position.fraction();
            let mut end = end_node.position.fraction();
            if end < start {
                end += 1.0;
            }
            walk_range = Some((start, end));
            let steps = ((end - start) * 400.0).ceil().max(1.0) as usize;
            for k in 0..=steps {
                let f = start + (end - start) * k as f64 / steps as f64;
                walk.push(point_on_circle(f, 1.0));
            }
        }
        let mut moved: Vec<(f64, f64)> = Vec::new();
        let inner = 0.62;
        if let Some(w) = self.whatif {
            let samples = moved_samples(self.ring, self.servers, &w.ring, &w.servers, self.n, 720);
            for (k, m) in samples.iter().enumerate() {
                if *m {
                    moved.push(point_on_circle((k as f64 + 0.5) / 720.0, inner));
                }
            }
        }
        // Without colour the walk must still stand out: the rest of the
        // circle is drawn dotted, the walk solid.
        let mut dotted: Vec<(f64, f64)> = Vec::new();
        if t.kind == ThemeKind::Mono {
            let (from, to) = walk_range.unwrap_or((0.0, 0.0));
            let samples = (geo.radius_cols * 8.0).ceil().max(24.0) as usize;
            for k in (0..samples).step_by(2) {
                let f = k as f64 / samples as f64;
                let g = if f < from { f + 1.0 } else { f };
                if walk_range.is_some() && g >= from && g <= to {
                    continue;
                }
                dotted.push(point_on_circle(f, 1.0));
            }
        }
        let arcs = if dotted.is_empty() {
            owned_points(self.ring, sample_count(geo))
        } else {
            Vec::new()
        };
        let faded: Vec<bool> = (0..self.servers.len())
            .map(|i| fades(self.state(i)))
            .collect();
        let bg = t.base().bg.unwrap_or(Color::Reset);
        Canvas::default()
            .marker(Marker::Braille)
            .background_color(bg)
            .x_bounds(geo.x_bounds())
            .y_bounds(geo.y_bounds())
            .paint(|ctx| {
                if dotted.is_empty() {
                    draw_owned_arcs(ctx, &arcs, &faded, t, fg(t.ring_line()));
                } else {
                    ctx.draw(&Points::new(&dotted, fg(t.ring_line())));
                }
                ctx.layer();
                if !walk.is_empty() {
                    ctx.draw(&Points::new(&walk, fg(t.highlight())));
                }
                if !moved.is_empty() {
                    ctx.draw(&Points::new(&moved, fg(t.whatif())));
                }
            })
            .render(geo.area, buf);
    }

    /// Draws the nodes, the key marker and the labels; returns the labels
    /// placed (with their text).
    fn draw_nodes(&self, geo: &Geometry, buf: &mut Buffer) -> Vec<(PlacedLabel, String)> {
        let roles = self.roles();
        let mut taken: HashSet<(u16, u16)> = HashSet::new();
        let mut glyph_cells = self.draw_glyphs(geo, buf, &roles, &mut taken);
        let added = self.draw_added(geo, buf, &mut taken, &mut glyph_cells);
        self.draw_key_marker(geo, buf, &mut taken);
        let placed = self.draw_labels(geo, buf, &roles, added, &taken);
        // Labels never cover a node; drawing the glyphs last keeps the
        // node's state glyph on top whatever else is drawn (a down server
        // must never look up).
        for (cell, glyph, style) in glyph_cells {
            put(buf, geo.area, cell, glyph, style);
        }
        placed
    }

    /// The servers a what-if removes (none without a what-if).
    fn removed_servers(&self) -> HashSet<SocketAddrV4> {
        match self.whatif {
            Some(w) => self
                .servers
                .iter()
                .map(ServerSpec::addr)
                .filter(|a| !w.servers.iter().any(|s| s.addr() == *a))
                .collect(),
            None => HashSet::new(),
        }
    }

    /// Draws the nodes' glyphs on the circle (`roles` aligned with the
    /// nodes), marks their cells taken, and returns what it drew.
    fn draw_glyphs(
        &self,
        geo: &Geometry,
        buf: &mut Buffer,
        roles: &[Role],
        taken: &mut HashSet<(u16, u16)>,
    ) -> Vec<GlyphCell> {
        let t = self.theme;
        let nodes = self.ring.nodes();
        let removed = self.removed_servers();
        let mut glyph_cells = Vec::with_capacity(nodes.len());
        // Where nodes share a cell (a crowded ring) the one drawn last
        // shows: the walk's nodes, then servers that are not up, win.
        let weight = |server: usize, role: Role| match role {
            Role::Used(_) => 3,
            Role::Skipped => 2,
            Role::Plain => u8::from(self.state(server).is_some_and(|s| s != ServerState::Up)),
        };
        let mut order: Vec<(&crate::ring::Node, Role)> =
            nodes.iter().zip(roles.iter().copied()).collect();
        order.sort_by_key(|(node, role)| weight(node.server, *role));
        for (node, role) in order {
            let cell = geo.cell_at(node.position.fraction(), 1.0);
            let is_removed = self
                .servers
                .get(node.server)
                .is_some_and(|s| removed.contains(&s.addr()));
            let (glyph, mut style) = if is_removed {
                ("−", t.whatif().add_modifier(Modifier::BOLD))
            } else {
                (self.glyph(node.server), t.server(node.server))
            };
            match role {
                Role::Used(_) => style = style.add_modifier(Modifier::BOLD | Modifier::REVERSED),
                Role::Skipped => style = style.add_modifier(Modifier::DIM),
                Role::Plain => {}
            }
            put(buf, geo.area, cell, glyph, style);
            taken.insert(cell);
            glyph_cells.push((cell, glyph, style));
        }
        glyph_cells
    }

    /// Draws the new nodes of a what-if addition, marks their cells taken,
    /// adds them to `glyph_cells`, and returns their labels (position on
    /// the ring, text).
    fn draw_added(
        &self,
        geo: &Geometry,
        buf: &mut Buffer,
        taken: &mut HashSet<(u16, u16)>,
        glyph_cells: &mut Vec<GlyphCell>,
    ) -> Vec<(f64, String)> {
        let mut added: Vec<(f64, String)> = Vec::new();
        let Some(w) = self.whatif else {
            return added;
        };
        for node in w.ring.nodes() {
            let Some(spec) = w.servers.get(node.server) else {
                continue;
            };
            if self.servers.iter().any(|s| s.addr() == spec.addr()) {
                continue;
            }
            let cell = geo.cell_at(node.position.fraction(), 1.0);
            let style = self.theme.whatif().add_modifier(Modifier::BOLD);
            put(buf, geo.area, cell, "+", style);
            glyph_cells.push((cell, "+", style));
            taken.insert(cell);
            added.push((node.position.fraction(), format!("{}", node.server + 1)));
        }
        added
    }

    /// The key marker, on the circle if free, else just inside it.
    fn draw_key_marker(&self, geo: &Geometry, buf: &mut Buffer, taken: &mut HashSet<(u16, u16)>) {
        let Some((_, placement)) = self.focus else {
            return;
        };
        let f = placement.key_position.fraction();
        // Further in while the cell holds a node (a crowded ring).
        let cell = [0.0, 1.5, 2.5, 3.5]
            .iter()
            .map(|d| geo.cell_at(f, 1.0 - d * geo.col_unit()))
            .find(|c| !taken.contains(c))
            .unwrap_or_else(|| geo.cell_at(f, 1.0 - 1.5 * geo.col_unit()));
        put(buf, geo.area, cell, "◆", self.theme.highlight());
        taken.insert(cell);
    }

    /// Labels outside the circle, most important first: the walk's replicas
    /// in rank order, its skipped nodes, the what-if's `added` ones, then,
    /// when the ring is not crowded, every other node's. Returns where each
    /// went (with its text); a label with no free spot is left out.
    fn draw_labels(
        &self,
        geo: &Geometry,
        buf: &mut Buffer,
        roles: &[Role],
        added: Vec<(f64, String)>,
        taken: &HashSet<(u16, u16)>,
    ) -> Vec<(PlacedLabel, String)> {
        let t = self.theme;
        let nodes = self.ring.nodes();
        let plain = plain_labels_fit(geo, nodes.len());
        let mut labels: Vec<(usize, LabelRequest)> = Vec::new();
        let request = |fraction, text, style, reach| LabelRequest {
            fraction,
            text,
            style,
            reach,
        };
        for (node, &role) in nodes.iter().zip(roles) {
            let (s, f) = (node.server, node.position.fraction());
            labels.push(match role {
                Role::Used(rank) => {
                    let style = t
                        .server(s)
                        .add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
                    (rank, request(f, format!("{}#{rank}", s + 1), style, None))
                }
                Role::Skipped => (
                    1000,
                    request(f, format!("({})", s + 1), t.skipped(), Some(6.0)),
                ),
                Role::Plain if plain => (
                    3000,
                    request(f, format!("{}", s + 1), t.server(s), Some(4.0)),
                ),
                Role::Plain => continue,
            });
        }
        for (f, text) in added {
            labels.push((2000, request(f, text, t.whatif(), Some(6.0))));
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.fraction.total_cmp(&b.1.fraction)));
        let requests: Vec<LabelRequest> = labels.into_iter().map(|(_, r)| r).collect();
        let area = geo.area;
        let ink: HashSet<(u16, u16)> = (area.y..area.y + area.height)
            .flat_map(|y| (area.x..area.x + area.width).map(move |x| (x, y)))
            .filter(|&c| buf.cell(c).is_some_and(|cell| cell.symbol() != " "))
            .collect();
        let placed = plan_labels(geo, taken, &ink, &requests);
        let mut out = Vec::with_capacity(placed.len());
        for p in placed {
            if let Some(r) = requests.get(p.request) {
                put(buf, geo.area, (p.x, p.y), &r.text, r.style);
                out.push((p, r.text.clone()));
            }
        }
        out
    }
}

/// A glyph drawn on the ring: its cell, the glyph and its style.
type GlyphCell = ((u16, u16), &'static str, Style);

/// Writes `text` at `cell`, clipped to `area`.
fn put(buf: &mut Buffer, area: Rect, cell: (u16, u16), text: &str, style: Style) {
    let (x, y) = cell;
    if y < area.y || y >= area.y + area.height || x < area.x || x >= area.x + area.width {
        return;
    }
    let room = (area.x + area.width - x) as usize;
    buf.set_stringn(x, y, text, room, style);
}

/// Packs tokens (each a few spans) into lines of at most `width` cells,
/// separated by a space, breaking only between tokens.
pub fn pack(tokens: Vec<Vec<Span<'static>>>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let mut lines = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for tok in tokens {
        let w: usize = tok.iter().map(Span::width).sum();
        if used > 0 && used + 1 + w > width {
            lines.push(Line::from(std::mem::take(&mut current)));
            used = 0;
        }
        if used > 0 {
            current.push(Span::raw(" "));
            used += 1;
        }
        current.extend(tok);
        used += w;
    }
    if !current.is_empty() {
        lines.push(Line::from(current));
    }
    lines
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

impl Widget for RingView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let mut legend = self.legend(area.width, area.height);
        let max_legend = (area.height / 2).max(1) as usize;
        if legend.len() > max_legend {
            legend.truncate(max_legend);
        }
        let legend_h = legend.len() as u16;
        let circle_area = Rect {
            height: area.height - legend_h,
            ..area
        };
        if let Some(geo) = Geometry::new(circle_area) {
            self.draw_circle(&geo, buf);
            self.draw_nodes(&geo, buf);
            if let Some(frame) = self.motion {
                super::ring_motion::draw_motion(frame, self.ring, &geo, self.theme, buf);
            }
        } else {
            put(
                buf,
                circle_area,
                (circle_area.x, circle_area.y),
                "(too small for the circle)",
                self.theme.dim(),
            );
        }
        for (i, line) in legend.iter().enumerate() {
            let y = area.y + circle_area.height + i as u16;
            buf.set_line(area.x, y, line, area.width);
        }
    }
}

#[cfg(test)]
mod tests;
