//! `export ring FILE.svg`: the ring as `dkvs-tui` draws it, as a picture
//! for slides.
//!
//! The same picture as the screen's ring pane (`tui::ring_view`): 12
//! o'clock is position 0 and positions grow clockwise; each arc takes the
//! colour of the server owning its keys as primary (the node at its
//! clockwise end), in the screen's default palette (Okabe–Ito); one mark
//! per virtual node, hollow when its server is not up (with a cross when
//! down, two bars when paused); node labels; the legend (number, address,
//! state, colour), folded into columns when there are many servers; the
//! last key's walk: the key `◆`, the arc walked to its last replica,
//! replicas ringed and ranked `#1..#N`, skipped nodes dim. Plain SVG 1.1
//! with presentation attributes (no CSS, fonts or scripts), every text
//! escaped, sized for a 900-wide slide.

use std::f64::consts::TAU;
use std::fmt::Write as _;

use crate::config::{ClusterConfig, ServerSpec};
use crate::ring::{Placement, Ring, Step};
use crate::supervisor::ServerState;

use super::clean_str;

/// Width of the picture.
const WIDTH: f64 = 900.0;
/// Least height of the picture (a long legend makes it taller).
const MIN_HEIGHT: f64 = 600.0;
/// The ring's centre and radius.
const CX: f64 = 270.0;
const CY: f64 = 330.0;
const R: f64 = 200.0;
/// Where the legend column starts, and its width.
const PANEL_X: f64 = 545.0;
const PANEL_W: f64 = 340.0;
/// The legend's first line.
const PANEL_TOP: f64 = 100.0;
/// Legend rows before it folds into columns.
const LEGEND_ROWS: usize = 22;
/// The dark ink of text, the walk and the marks' outlines.
const INK: &str = "#1a1a1a";
/// Secondary text.
const DIM: &str = "#555555";

/// The screen's default server palette (Okabe–Ito without its yellow,
/// which is the walk's highlight; `tui::theme`), as SVG colours, in the
/// same order.
pub const PALETTE: [&str; 6] = [
    "#e69f00", "#56b4e9", "#009e73", "#0072b2", "#d55e00", "#cc79a7",
];

/// The highlight of the focus key (the screen's default theme's).
const HIGHLIGHT: &str = "#f0e442";

/// The colour of server `index` (0-based), as on the screen.
pub fn server_colour(index: usize) -> &'static str {
    PALETTE
        .get(index % PALETTE.len())
        .copied()
        .unwrap_or("#888888")
}

/// A colour (`#rrggbb`) darker, as the screen draws the arcs of a server
/// that is not serving.
pub fn faded(colour: &str) -> String {
    let channel = |at: usize| {
        colour
            .get(at..at + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(0, |v| u16::from(v) * 11 / 20)
    };
    format!("#{:02x}{:02x}{:02x}", channel(1), channel(3), channel(5))
}

/// What the picture shows.
pub struct RingPicture<'a> {
    /// The cluster (its file's name in the subtitle).
    pub config: &'a ClusterConfig,
    /// Its ring (server indices point into `config.servers`).
    pub ring: &'a Ring,
    /// Each server's live state, when known.
    pub states: &'a [Option<ServerState>],
    /// The last key used and its walk on this ring.
    pub focus: Option<(&'a [u8], &'a Placement)>,
    /// The default N, W and R.
    pub quorum: Option<(usize, usize, usize)>,
    /// When, as shown in the subtitle.
    pub date: Option<String>,
}

/// Text for an XML text node or attribute: controls dropped, `<&>"'`
/// escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in clean_str(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The point at `fraction` of the circle of `radius` round the ring's
/// centre (0 at the top, clockwise; SVG's y grows downwards).
fn at(fraction: f64, radius: f64) -> (f64, f64) {
    let a = fraction * TAU;
    (CX + radius * a.sin(), CY - radius * a.cos())
}

/// An SVG path along the circle of `radius`, clockwise from `from` for
/// `span` of the circle (0 < span < 1).
fn arc_path(from: f64, span: f64, radius: f64) -> String {
    let (x0, y0) = at(from, radius);
    let (x1, y1) = at(from + span, radius);
    let large = u8::from(span > 0.5);
    format!("M {x0:.2} {y0:.2} A {radius} {radius} 0 {large} 1 {x1:.2} {y1:.2}")
}

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Used(usize),
    Skipped,
}

/// Each node's role in the focus key's walk (aligned with the ring's nodes).
fn roles(nodes: usize, focus: Option<&Placement>) -> Vec<Role> {
    let mut roles = vec![Role::Plain; nodes];
    let mut rank = 0;
    for step in focus.map_or(&[][..], |p| &p.steps[..]) {
        let (index, role) = match step {
            Step::Used(r) => {
                rank += 1;
                (r.ring_index, Role::Used(rank))
            }
            Step::Skipped { ring_index, .. } => (*ring_index, Role::Skipped),
        };
        if let Some(x) = roles.get_mut(index) {
            *x = role;
        }
    }
    roles
}

/// A label placed round the circle: its box, to keep the next ones apart.
#[derive(Debug, Clone, Copy)]
struct LabelBox {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl LabelBox {
    fn overlaps(&self, o: &LabelBox) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// The picture, being written.
struct Writer<'p, 'a> {
    p: &'p RingPicture<'a>,
    out: String,
    /// Radius of a node's mark: smaller on a crowded ring.
    mark: f64,
    placed: Vec<LabelBox>,
}

/// The ring as an SVG document.
pub fn render_svg(picture: &RingPicture<'_>) -> String {
    let nodes = picture.ring.nodes().len().max(1);
    let mark = (TAU * R / nodes as f64 * 0.4).clamp(2.0, 7.0);
    let mut w = Writer {
        p: picture,
        out: String::new(),
        mark,
        placed: Vec::new(),
    };
    let mut body = std::mem::take(&mut w.out);
    w.title();
    w.arcs();
    let roles = roles(picture.ring.nodes().len(), picture.focus.map(|f| f.1));
    w.walk();
    w.nodes(&roles);
    w.labels(&roles);
    let bottom = w.legend();
    let bottom = w.last_key(bottom);
    let height = (bottom + 24.0).max(MIN_HEIGHT).ceil();
    body.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        body,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\">"
    );
    let _ = writeln!(
        body,
        "<title>{}</title>\n<rect class=\"background\" x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>",
        escape(&w.heading())
    );
    body.push_str(&w.out);
    body.push_str("</svg>\n");
    body
}

impl Writer<'_, '_> {
    fn servers(&self) -> &[ServerSpec] {
        &self.p.config.servers
    }

    fn state(&self, server: usize) -> Option<ServerState> {
        self.p.states.get(server).copied().flatten()
    }

    fn text(&mut self, x: f64, y: f64, attrs: &str, text: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" {attrs}>{}</text>",
            escape(text)
        );
    }

    /// `dkvs ring — 5 servers, 10 virtual nodes — N=3 W=2 R=2`.
    fn heading(&self) -> String {
        let s = self.servers().len();
        let n = self.p.ring.nodes().len();
        let mut t = format!(
            "dkvs ring — {s} server{}, {n} virtual node{}",
            if s == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" }
        );
        if let Some((n, w, r)) = self.p.quorum {
            t.push_str(&format!(" — N={n} W={w} R={r}"));
        }
        t
    }

    fn title(&mut self) {
        let heading = self.heading();
        self.text(
            20.0,
            36.0,
            &format!("class=\"title\" font-size=\"22\" font-weight=\"bold\" fill=\"{INK}\""),
            &heading,
        );
        let mut sub = Vec::new();
        if let Some(source) = &self.p.config.source {
            sub.push(source.display().to_string());
        }
        if let Some(date) = &self.p.date {
            sub.push(date.clone());
        }
        sub.push("0 at the top, clockwise; each arc in the colour of its primary owner".into());
        self.text(
            20.0,
            60.0,
            &format!("class=\"subtitle\" font-size=\"13\" fill=\"{DIM}\""),
            &sub.join(" · "),
        );
    }

    /// The circle, each arc in the colour of the server owning it.
    fn arcs(&mut self) {
        self.out
            .push_str("<g class=\"arcs\" fill=\"none\" stroke-width=\"10\">\n");
        let _ = writeln!(
            self.out,
            "<circle class=\"ring-base\" cx=\"{CX}\" cy=\"{CY}\" r=\"{R}\" stroke=\"#d9d9d9\" stroke-width=\"14\"/>"
        );
        let nodes = self.p.ring.nodes();
        let count = nodes.len();
        for (i, node) in nodes.iter().enumerate() {
            let serving = !matches!(
                self.state(node.server),
                Some(ServerState::Down | ServerState::Paused | ServerState::Unreachable)
            );
            let colour = if serving {
                server_colour(node.server).to_string()
            } else {
                faded(server_colour(node.server))
            };
            let server = node.server + 1;
            if count == 1 {
                let _ = writeln!(
                    self.out,
                    "<circle class=\"arc\" data-server=\"{server}\" cx=\"{CX}\" cy=\"{CY}\" r=\"{R}\" stroke=\"{colour}\"/>"
                );
                continue;
            }
            let prev = nodes
                .get((i + count - 1) % count)
                .map_or(0.0, |p| p.position.fraction());
            let span = (node.position.fraction() - prev).rem_euclid(1.0);
            if span <= 0.0 {
                continue;
            }
            let _ = writeln!(
                self.out,
                "<path class=\"arc\" data-server=\"{server}\" d=\"{}\" stroke=\"{colour}\"/>",
                arc_path(prev, span, R)
            );
        }
        self.out.push_str("</g>\n");
    }

    /// The focus key's walk: an arc inside the circle from the key to its
    /// last replica, and the key's diamond on the circle.
    fn walk(&mut self) {
        let Some((key, placement)) = self.p.focus else {
            return;
        };
        let start = placement.key_position.fraction();
        self.out.push_str("<g class=\"walk\">\n");
        if let Some(last) = placement.replicas.last()
            && let Some(end) = self.p.ring.nodes().get(last.ring_index)
        {
            let span = (end.position.fraction() - start).rem_euclid(1.0);
            if span > 0.0 {
                let _ = writeln!(
                    self.out,
                    "<path class=\"walk-arc\" d=\"{}\" fill=\"none\" stroke=\"{INK}\" stroke-width=\"4\" stroke-linecap=\"round\"/>",
                    arc_path(start, span, R - 18.0)
                );
            }
        }
        let (x, y) = at(start, R);
        let d = 9.0;
        let _ = writeln!(
            self.out,
            "<polygon class=\"key\" points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{HIGHLIGHT}\" stroke=\"{INK}\" stroke-width=\"2\"><title>key {} — sha1 {} ({:.1}% round the ring)</title></polygon>",
            x,
            y - d,
            x + d,
            y,
            x,
            y + d,
            x - d,
            y,
            escape(&crate::preview::quoted(
                key,
                crate::preview::PREVIEW_CHARS,
                crate::preview::Escape::Controls
            )),
            placement.key_position,
            start * 100.0
        );
        let (lx, ly) = at(start, R - 42.0);
        self.text(
            lx,
            ly + 5.0,
            &format!(
                "class=\"key-label\" font-size=\"14\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"{INK}\""
            ),
            &format!("◆ {}", short_key(key)),
        );
        self.out.push_str("</g>\n");
    }

    /// One mark per virtual node, a ring round each replica of the walk.
    fn nodes(&mut self, roles: &[Role]) {
        self.out.push_str("<g class=\"nodes\">\n");
        let nodes = self.p.ring.nodes().to_vec();
        let m = self.mark;
        for (i, node) in nodes.iter().enumerate() {
            let role = roles.get(i).copied().unwrap_or(Role::Plain);
            let (x, y) = at(node.position.fraction(), R);
            let state = self.state(node.server);
            let colour = server_colour(node.server);
            let hollow = matches!(
                state,
                Some(ServerState::Down | ServerState::Paused | ServerState::Unreachable)
            );
            let (fill, stroke, width) = if hollow {
                ("#ffffff", colour, 2.5)
            } else {
                (colour, INK, 1.0)
            };
            let dash = match state {
                Some(ServerState::Starting | ServerState::Unreachable) => {
                    " stroke-dasharray=\"2 1.5\""
                }
                _ => "",
            };
            let opacity = if role == Role::Skipped {
                " opacity=\"0.35\""
            } else {
                ""
            };
            let word = state.map_or("", ServerState::word);
            let _ = writeln!(
                self.out,
                "<circle class=\"vnode\" data-server=\"{}\" data-node=\"{}\" data-index=\"{i}\" data-state=\"{word}\" cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"{m:.1}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}{opacity}><title>{}</title></circle>",
                node.server + 1,
                node.number,
                escape(&self.node_title(
                    node.server,
                    node.number,
                    &node.position.to_string(),
                    state
                ))
            );
            self.state_overlay(x, y, state);
            if let Role::Used(rank) = role {
                let _ = writeln!(
                    self.out,
                    "<circle class=\"replica\" data-rank=\"{rank}\" data-server=\"{}\" cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"{:.1}\" fill=\"none\" stroke=\"{INK}\" stroke-width=\"2.5\"/>",
                    node.server + 1,
                    m + 4.0
                );
            }
        }
        self.out.push_str("</g>\n");
    }

    /// `server 2 (127.0.0.1:1235) node 1 — <sha1>`, and the state when not up.
    fn node_title(
        &self,
        server: usize,
        number: u32,
        sha1: &str,
        state: Option<ServerState>,
    ) -> String {
        let addr = self
            .servers()
            .get(server)
            .map_or_else(|| "?".to_string(), |s| s.addr().to_string());
        let mut t = format!("server {} ({addr}) node {number} — {sha1}", server + 1);
        if let Some(s) = state
            && s != ServerState::Up
        {
            t.push_str(&format!(" — {}", s.word()));
        }
        t
    }

    /// A cross over a down server's mark, two bars over a paused one's.
    fn state_overlay(&mut self, x: f64, y: f64, state: Option<ServerState>) {
        let h = self.mark * 0.6;
        let d = match state {
            Some(ServerState::Down) => format!(
                "M {:.2} {:.2} L {:.2} {:.2} M {:.2} {:.2} L {:.2} {:.2}",
                x - h,
                y - h,
                x + h,
                y + h,
                x - h,
                y + h,
                x + h,
                y - h
            ),
            Some(ServerState::Paused) => format!(
                "M {:.2} {:.2} L {:.2} {:.2} M {:.2} {:.2} L {:.2} {:.2}",
                x - h / 2.0,
                y - h,
                x - h / 2.0,
                y + h,
                x + h / 2.0,
                y - h,
                x + h / 2.0,
                y + h
            ),
            _ => return,
        };
        let _ = writeln!(
            self.out,
            "<path class=\"state-mark\" d=\"{d}\" stroke=\"{INK}\" stroke-width=\"1.6\" fill=\"none\"/>"
        );
    }

    /// Labels outside the circle, most important first: the replicas'
    /// (`2#1`, always drawn), the skipped nodes' (`(1)`), then the others'
    /// server numbers where there is room (none on a crowded ring).
    fn labels(&mut self, roles: &[Role]) {
        let nodes = self.p.ring.nodes().to_vec();
        let crowded = nodes.len() > 48;
        let size = if nodes.len() > 24 { 11.0 } else { 13.0 };
        let mut labels: Vec<(u8, f64, String, String)> = Vec::new();
        for (node, &role) in nodes.iter().zip(roles) {
            let s = node.server + 1;
            let f = node.position.fraction();
            match role {
                Role::Used(rank) => labels.push((
                    0,
                    f,
                    format!("{s}#{rank}"),
                    format!("class=\"replica-label\" font-weight=\"bold\" text-decoration=\"underline\" fill=\"{INK}\""),
                )),
                Role::Skipped => labels.push((
                    1,
                    f,
                    format!("({s})"),
                    format!("class=\"skipped-label\" fill=\"{DIM}\" opacity=\"0.7\""),
                )),
                Role::Plain if !crowded => labels.push((
                    2,
                    f,
                    s.to_string(),
                    format!("class=\"node-label\" fill=\"{INK}\""),
                )),
                Role::Plain => {}
            }
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        self.out.push_str("<g class=\"labels\">\n");
        for (prio, f, text, attrs) in labels {
            let size = if prio == 0 { 14.0 } else { size };
            self.place_label(f, &text, &attrs, size, prio == 0);
        }
        self.out.push_str("</g>\n");
    }

    /// Writes `text` near `fraction` outside the circle where it overlaps
    /// no label already placed; when there is no such place it is drawn
    /// at the first one if `force`, else left out.
    fn place_label(&mut self, fraction: f64, text: &str, attrs: &str, size: f64, force: bool) {
        let width = text.chars().count() as f64 * size * 0.62;
        let mut chosen = None;
        for extra in [20.0, 36.0, 52.0, 68.0] {
            let (x, y) = at(fraction, R + extra);
            let (anchor, x0) = if x < CX - 0.3 * R {
                ("end", x - width)
            } else if x > CX + 0.3 * R {
                ("start", x)
            } else {
                ("middle", x - width / 2.0)
            };
            let b = LabelBox {
                x0: x0 - 1.0,
                x1: x0 + width + 1.0,
                y0: y - size / 2.0 - 1.0,
                y1: y + size / 2.0 + 1.0,
            };
            let free = !self.placed.iter().any(|p| p.overlaps(&b));
            if free || (force && chosen.is_none()) {
                chosen = Some((x, y, anchor, b));
            }
            if free {
                break;
            }
        }
        let Some((x, y, anchor, b)) = chosen else {
            return;
        };
        self.placed.push(b);
        self.text(
            x,
            y + size * 0.36,
            &format!("{attrs} font-size=\"{size}\" text-anchor=\"{anchor}\""),
            text,
        );
    }

    /// The legend: one entry per server (swatch, number, address, state),
    /// in columns when there are many. Returns the y below it.
    fn legend(&mut self) -> f64 {
        let s = self.servers().len();
        let columns = s.div_ceil(LEGEND_ROWS).clamp(1, 3);
        let rows = s.div_ceil(columns).max(1);
        let compact = columns > 1;
        let col_w = PANEL_W / columns as f64;
        let size = if compact { 12.0 } else { 13.0 };
        self.out.push_str("<g class=\"legend\">\n");
        self.text(
            PANEL_X,
            PANEL_TOP,
            &format!("class=\"legend-title\" font-size=\"15\" font-weight=\"bold\" fill=\"{INK}\""),
            "servers",
        );
        for i in 0..s {
            let x = PANEL_X + (i / rows) as f64 * col_w;
            let y = PANEL_TOP + 24.0 + (i % rows) as f64 * 20.0;
            self.legend_entry(i, x, y, compact, size);
        }
        let mut bottom = PANEL_TOP + 24.0 + rows as f64 * 20.0;
        // Folded entries show a state by its glyph only: say what they mean.
        let mut shown: Vec<ServerState> = Vec::new();
        for st in self.p.states.iter().flatten() {
            if *st != ServerState::Up && !shown.contains(st) {
                shown.push(*st);
            }
        }
        if compact && !shown.is_empty() {
            let key: Vec<String> = shown
                .iter()
                .map(|st| format!("{} {}", st.glyph(), st.word()))
                .collect();
            self.text(
                PANEL_X,
                bottom,
                &format!("class=\"legend-states\" font-size=\"12\" fill=\"{DIM}\""),
                &key.join(" · "),
            );
            bottom += 20.0;
        }
        self.out.push_str("</g>\n");
        bottom
    }

    fn legend_entry(&mut self, i: usize, x: f64, y: f64, compact: bool, size: f64) {
        let colour = server_colour(i);
        let state = self.state(i);
        let hollow = state.is_some_and(|s| s != ServerState::Up && s != ServerState::Starting);
        let (fill, stroke) = if hollow {
            ("#ffffff", colour)
        } else {
            (colour, INK)
        };
        let _ = writeln!(
            self.out,
            "<g class=\"legend-entry\" data-server=\"{}\"><rect class=\"swatch\" x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{}\"/>",
            i + 1,
            y - 11.0,
            if hollow { 2.5 } else { 1.0 }
        );
        let Some(spec) = self.servers().get(i) else {
            return;
        };
        let mut text = if compact {
            format!("{} {}", i + 1, short_name(self.servers(), i))
        } else {
            format!("{}  {}", i + 1, spec.addr())
        };
        match state {
            Some(ServerState::Up) if compact => {}
            Some(st) if compact => text.push_str(&format!(" {}", st.glyph())),
            Some(st) => text.push_str(&format!(" {} {}", st.glyph(), st.word())),
            None => {}
        }
        if !compact {
            text.push_str(&format!(
                " · {} node{}",
                spec.nodes,
                if spec.nodes == 1 { "" } else { "s" }
            ));
        }
        let bold = if hollow { " font-weight=\"bold\"" } else { "" };
        self.text(
            x + 18.0,
            y,
            &format!("font-size=\"{size}\" fill=\"{INK}\"{bold}"),
            &text,
        );
        self.out.push_str("</g>\n");
    }

    /// The last key's walk in words, under the legend from `top`. Returns
    /// the y below it.
    fn last_key(&mut self, top: f64) -> f64 {
        let Some((key, placement)) = self.p.focus else {
            return top;
        };
        let mut y = top + 20.0;
        self.out.push_str("<g class=\"last-key\">\n");
        self.text(
            PANEL_X,
            y,
            &format!("font-size=\"15\" font-weight=\"bold\" fill=\"{INK}\""),
            &format!("◆ last key {}", short_key(key)),
        );
        y += 20.0;
        self.text(
            PANEL_X,
            y,
            &format!("font-size=\"12\" fill=\"{DIM}\""),
            &format!(
                "sha1 {}… at {:.1}% of the ring",
                placement.key_position.to_string().get(..12).unwrap_or(""),
                placement.key_position.fraction() * 100.0
            ),
        );
        let nodes = self.p.ring.nodes();
        let mut lines = Vec::new();
        let mut rank = 0;
        for step in &placement.steps {
            match step {
                Step::Used(r) => {
                    rank += 1;
                    let name = short_name(self.servers(), r.server);
                    lines.push((
                        format!(
                            "#{rank}  server {} {name} node {}",
                            r.server + 1,
                            r.node_number
                        ),
                        INK,
                    ));
                }
                Step::Skipped { ring_index, .. } => {
                    if let Some(n) = nodes.get(*ring_index) {
                        lines.push((
                            format!(
                                "skipped  server {} node {} (already chosen)",
                                n.server + 1,
                                n.number
                            ),
                            DIM,
                        ));
                    }
                }
            }
        }
        for (line, colour) in lines {
            y += 18.0;
            self.text(
                PANEL_X + 8.0,
                y,
                &format!("font-size=\"13\" fill=\"{colour}\""),
                &line,
            );
        }
        self.out.push_str("</g>\n");
        y
    }
}

/// A key as a short quoted label: 24 characters at most.
fn short_key(key: &[u8]) -> String {
    crate::preview::quoted(key, 24, crate::preview::Escape::Controls)
}

/// `:port` when every server shares one IP address, else `ip:port` (as the
/// screen's legend).
fn short_name(servers: &[ServerSpec], index: usize) -> String {
    let Some(s) = servers.get(index) else {
        return format!("#{}", index + 1);
    };
    if servers.iter().all(|o| o.ip == s.ip) {
        format!(":{}", s.port)
    } else {
        s.addr().to_string()
    }
}

#[cfg(test)]
mod tests;
