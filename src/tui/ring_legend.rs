//! The ring pane's server legend and the placement of the ring's labels,
//! kept out of [`super::ring_view`] so that module stays small.
//!
//! Big rings (dozens of servers) must stay readable down to 80×24. The
//! server legend gets a budget of rows ([`server_rows_budget`]); when the
//! full legend (`●1:1234 ●2:1235 …`) does not fit, it drops the addresses
//! (`●1 ●2 …`, each in its server's colour), and when that does not fit
//! either it folds into runs per state (`●1–17 19–64 up ✖18 down`), so
//! every server that is not up is still named. Labels round the circle
//! ([`plan_labels`]) never cover a node, the key marker or the circle, and
//! two labels on one row always keep a blank cell between them; a label
//! that finds no such spot is left out (the walk's line in the legend still
//! names every replica).

use std::collections::HashSet;

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::config::ServerSpec;
use crate::supervisor::ServerState;

use super::ring_arcs::sample_count;
use super::ring_view::{Geometry, pack, point_on_circle, short_name};
use super::theme::Theme;

/// How many rows the server legend may take in a ring pane `height` rows
/// tall before it folds: a sixth of the pane, at least two rows.
pub fn server_rows_budget(height: u16) -> usize {
    (usize::from(height) / 6).max(2)
}

/// How much the server legend says about each server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// `●1:1234`, and the state word when not up.
    Full,
    /// `●1`, and the state word when not up.
    Numbers,
}

/// The server legend in at most `budget` rows of `width` cells when it can:
/// the full legend, else the numbers alone, else folded runs per state
/// (which may still take more rows when many servers differ in state).
///
/// While the network is cut (`sides` not empty), each server's token ends
/// with its side (`●1:1234 [A]`); folded, the sides get runs of their own
/// (`[A] 1–30 [B] 31–64`).
pub fn server_legend(
    servers: &[ServerSpec],
    states: &[Option<ServerState>],
    sides: &[Option<char>],
    theme: Theme,
    width: u16,
    budget: usize,
) -> Vec<Line<'static>> {
    for detail in [Detail::Full, Detail::Numbers] {
        let lines = pack(server_tokens(servers, states, sides, theme, detail), width);
        if lines.len() <= budget {
            return lines;
        }
    }
    let mut tokens = folded_tokens(servers.len(), states, theme);
    tokens.extend(side_tokens(servers.len(), sides, theme));
    pack(tokens, width)
}

fn state_of(states: &[Option<ServerState>], index: usize) -> Option<ServerState> {
    states.get(index).copied().flatten()
}

/// One token per server, in its colour.
fn server_tokens(
    servers: &[ServerSpec],
    states: &[Option<ServerState>],
    sides: &[Option<char>],
    t: Theme,
    detail: Detail,
) -> Vec<Vec<Span<'static>>> {
    let mut tokens = Vec::with_capacity(servers.len());
    for i in 0..servers.len() {
        let state = state_of(states, i);
        let glyph = state.map_or("●", ServerState::glyph);
        let mut tok = vec![Span::styled(
            format!("{glyph}{}", i + 1),
            t.server(i).add_modifier(Modifier::BOLD),
        )];
        if detail == Detail::Full {
            tok.push(Span::styled(short_name(servers, i), t.server(i)));
        }
        if let Some(s) = state
            && s != ServerState::Up
        {
            tok.push(Span::styled(format!(" {}", s.word()), t.state(s)));
        }
        if let Some(side) = sides.get(i).copied().flatten() {
            tok.push(Span::styled(format!(" [{side}]"), t.title()));
        }
        tokens.push(tok);
    }
    tokens
}

/// The order of the folded legend's groups: live servers first.
const GROUPS: [Option<ServerState>; 6] = [
    None,
    Some(ServerState::Up),
    Some(ServerState::Starting),
    Some(ServerState::Paused),
    Some(ServerState::Down),
    Some(ServerState::Unreachable),
];

/// Runs of consecutive numbers (1-based, ascending) as `(first, last)`.
fn runs(numbers: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &n in numbers {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// The legend folded into runs per state, one token per run:
/// `●1–17 19–64 up ✖18 down` (no colour per server: a run has many).
fn folded_tokens(
    count: usize,
    states: &[Option<ServerState>],
    t: Theme,
) -> Vec<Vec<Span<'static>>> {
    let mut tokens = Vec::new();
    for group in GROUPS {
        let members: Vec<usize> = (0..count)
            .filter(|&i| state_of(states, i) == group)
            .map(|i| i + 1)
            .collect();
        let style = group.map_or(Style::new(), |s| t.state(s));
        let runs = runs(&members);
        let last = runs.len().saturating_sub(1);
        for (k, (a, b)) in runs.into_iter().enumerate() {
            let mut tok = Vec::new();
            if k == 0 {
                let glyph = group.map_or("●", ServerState::glyph);
                tok.push(Span::styled(glyph, style.add_modifier(Modifier::BOLD)));
            }
            let text = if a == b {
                format!("{a}")
            } else {
                format!("{a}–{b}")
            };
            tok.push(Span::styled(
                text,
                Style::new().add_modifier(Modifier::BOLD),
            ));
            if k == last
                && let Some(s) = group
            {
                tok.push(Span::styled(format!(" {}", s.word()), style));
            }
            tokens.push(tok);
        }
    }
    tokens
}

/// The folded legend's sides while the network is cut, one token per run
/// of servers on one side: `[A] 1–30 [B] 31–64` (servers reaching every
/// side are not named).
fn side_tokens(count: usize, sides: &[Option<char>], t: Theme) -> Vec<Vec<Span<'static>>> {
    let mut letters: Vec<char> = sides.iter().take(count).flatten().copied().collect();
    letters.sort_unstable();
    letters.dedup();
    let mut tokens = Vec::new();
    for letter in letters {
        let members: Vec<usize> = (0..count)
            .filter(|&i| sides.get(i).copied().flatten() == Some(letter))
            .map(|i| i + 1)
            .collect();
        for (k, (a, b)) in runs(&members).into_iter().enumerate() {
            let text = if a == b {
                format!("{a}")
            } else {
                format!("{a}–{b}")
            };
            let mut tok = Vec::new();
            if k == 0 {
                tok.push(Span::styled(format!("[{letter}] "), t.title()));
            }
            tok.push(Span::styled(text, Style::new()));
            tokens.push(tok);
        }
    }
    tokens
}

/// Whether the ring can label every node with its server's number: when
/// there are more nodes than two and a half per column of radius (at least
/// 12), only the walk's nodes are labelled (the glyphs stay).
pub fn plain_labels_fit(geo: &Geometry, nodes: usize) -> bool {
    nodes as f64 <= (geo.radius_cols * 2.5).max(12.0)
}

/// A label to place next to the node at `fraction` of the circle.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRequest {
    /// Where its node is (0 = top, clockwise).
    pub fraction: f64,
    /// The text, one cell per character.
    pub text: String,
    /// How it is drawn.
    pub style: Style,
    /// How far (in columns, a row counting two) the label may go from its
    /// node; `None` for anywhere among the candidate spots.
    pub reach: Option<f64>,
}

/// Where a label went: its first cell and its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedLabel {
    /// The index of its request.
    pub request: usize,
    /// Its first column.
    pub x: u16,
    /// Its row.
    pub y: u16,
    /// Its width in cells.
    pub width: u16,
}

impl PlacedLabel {
    /// Whether `self` and `other` overlap or touch: on one row with no blank
    /// cell between them.
    pub fn touches(&self, other: &PlacedLabel) -> bool {
        let (a0, a1) = (u32::from(self.x), u32::from(self.x) + u32::from(self.width));
        let (b0, b1) = (
            u32::from(other.x),
            u32::from(other.x) + u32::from(other.width),
        );
        self.y == other.y && a0 <= b1 && b0 <= a1
    }

    /// The cells it covers.
    pub fn cells(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        (self.x..self.x.saturating_add(self.width)).map(move |c| (c, self.y))
    }
}

/// The cells the circle of radius 1 passes through.
pub fn circle_cells(geo: &Geometry) -> HashSet<(u16, u16)> {
    let n = sample_count(geo);
    (0..n)
        .map(|k| geo.cell_at(k as f64 / n as f64, 1.0))
        .collect()
}

/// Whether the centre of `cell` lies inside the circle of radius 1.
fn inside_circle(geo: &Geometry, cell: (u16, u16)) -> bool {
    let w = f64::from(geo.area.width);
    let h = f64::from(geo.area.height);
    let col = f64::from(cell.0.saturating_sub(geo.area.x));
    let row = f64::from(cell.1.saturating_sub(geo.area.y));
    let x = (col + 0.5) / w * 2.0 * geo.x_half - geo.x_half;
    let y = geo.y_half - (row + 0.5) / h * 2.0 * geo.y_half;
    x * x + y * y < 1.0
}

/// Candidate spots (first column, row) for a label of `len` cells next to
/// the node at `fraction`, each with its distance from the node in columns
/// (a row counting two), nearest first.
fn candidates(geo: &Geometry, fraction: f64, len: u16) -> Vec<(f64, u16, u16)> {
    let area = geo.area;
    let (own_c, own_r) = geo.cell_at(fraction, 1.0);
    let mut out: Vec<(f64, u16, u16)> = Vec::new();
    for extra in [1.6, 2.6, 3.6, 4.6] {
        let (x, y) = point_on_circle(fraction, 1.0 + extra * geo.col_unit());
        let (col, row) = geo.cell(x, y);
        let len_i = i32::from(len);
        let anchor = if x < -0.25 {
            i32::from(col) - (len_i - 1)
        } else if x > 0.25 {
            i32::from(col)
        } else {
            i32::from(col) - len_i / 2
        };
        for dy in [0, -1, 1] {
            for dx in [0, -1, 1, -2, 2] {
                let (s, r) = (anchor + dx, i32::from(row) + dy);
                let fits_x = s >= i32::from(area.x) && s + len_i <= i32::from(area.x + area.width);
                let fits_y = r >= i32::from(area.y) && r < i32::from(area.y + area.height);
                let (Ok(s), Ok(r)) = (u16::try_from(s), u16::try_from(r)) else {
                    continue;
                };
                if !fits_x || !fits_y || out.iter().any(|&(_, a, b)| (a, b) == (s, r)) {
                    continue;
                }
                let gap_x = if own_c < s {
                    s - own_c
                } else {
                    own_c.saturating_sub(s.saturating_add(len - 1))
                };
                let cost = f64::from(gap_x) + 2.0 * f64::from(r.abs_diff(own_r));
                out.push((cost, s, r));
            }
        }
    }
    // Stable: among equals the earlier (further in, less shifted) wins.
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Places `requests`, most important first: each label goes to the nearest
/// candidate spot that covers no `blocked` cell (nodes, the key marker), no
/// `ink` (cells already drawn: the circle), no cell of the circle or inside
/// it, and keeps a blank cell between it and every label already placed on
/// its row. A spot right beside ink counts as a little further (a blank
/// cell reads better), beside another node's glyph as much further (the
/// label would seem to be that node's). A label with no such spot is left
/// out.
pub fn plan_labels(
    geo: &Geometry,
    blocked: &HashSet<(u16, u16)>,
    ink: &HashSet<(u16, u16)>,
    requests: &[LabelRequest],
) -> Vec<PlacedLabel> {
    let circle = circle_cells(geo);
    let mut placed: Vec<PlacedLabel> = Vec::new();
    for (request, req) in requests.iter().enumerate() {
        let width = u16::try_from(req.text.chars().count()).unwrap_or(u16::MAX);
        if width == 0 {
            continue;
        }
        let own = geo.cell_at(req.fraction, 1.0);
        let mut best: Option<(f64, PlacedLabel)> = None;
        for (distance, x, y) in candidates(geo, req.fraction, width) {
            if req.reach.is_some_and(|r| distance > r) {
                break;
            }
            let label = PlacedLabel {
                request,
                x,
                y,
                width,
            };
            let free = label.cells().all(|c| {
                !blocked.contains(&c)
                    && !ink.contains(&c)
                    && !circle.contains(&c)
                    && !inside_circle(geo, c)
            });
            if !free || placed.iter().any(|p| p.touches(&label)) {
                continue;
            }
            let beside = [(x.wrapping_sub(1), y), (x.saturating_add(width), y)];
            let penalty = beside
                .iter()
                .map(|c| {
                    if *c != own && blocked.contains(c) {
                        4.0
                    } else if blocked.contains(c) || ink.contains(c) {
                        1.5
                    } else {
                        0.0
                    }
                })
                .fold(0.0, f64::max);
            let cost = distance + penalty;
            if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                best = Some((cost, label));
            }
        }
        if let Some((_, label)) = best {
            placed.push(label);
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::time::Instant;

    use ratatui::layout::Rect;

    use super::*;
    use crate::config::{ClusterConfig, ServerSpec};
    use crate::repl::View;
    use crate::ring::{Ring, Step};
    use crate::supervisor::ServerStatus;
    use crate::tui::app::App;
    use crate::tui::draw;
    use crate::tui::ring_view::RingView;
    use crate::tui::theme::ThemeKind;

    /// 64 servers on one address, 1 to 4 virtual nodes each.
    fn big_config() -> ClusterConfig {
        let servers = (0..64u16)
            .map(|i| ServerSpec::new(Ipv4Addr::LOCALHOST, 5000 + i, 1 + u32::from(i % 4)))
            .collect();
        ClusterConfig::from_servers(servers).unwrap()
    }

    /// Server 18 (index 17) down, every other one up.
    const DOWN: usize = 17;

    fn big_states() -> Vec<Option<ServerState>> {
        (0..64)
            .map(|i| {
                Some(if i == DOWN {
                    ServerState::Down
                } else {
                    ServerState::Up
                })
            })
            .collect()
    }

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(ToString::to_string).collect()
    }

    /// The ring pane's inside at a screen size, as the real layout makes it.
    fn ring_inner(w: u16, h: u16) -> Rect {
        let r = draw::layout(Rect::new(0, 0, w, h), 64).unwrap().ring;
        Rect::new(r.x + 1, r.y + 1, r.width - 2, r.height - 2)
    }

    #[test]
    fn bigger_circles_label_more_nodes() {
        let small = Geometry::new(Rect::new(0, 0, 28, 12)).unwrap();
        let big = Geometry::new(Rect::new(0, 0, 70, 40)).unwrap();
        assert_eq!((small.radius_cols, big.radius_cols), (10.0, 31.0));
        assert!(plain_labels_fit(&small, 25) && !plain_labels_fit(&small, 26));
        assert!(plain_labels_fit(&big, 77) && !plain_labels_fit(&big, 78));
        let tiny = Geometry::new(Rect::new(0, 0, 14, 8)).unwrap();
        assert!(plain_labels_fit(&tiny, 12) && !plain_labels_fit(&tiny, 13));
    }

    #[test]
    fn runs_fold_consecutive_numbers() {
        assert_eq!(runs(&[1, 2, 3, 5, 7, 8]), vec![(1, 3), (5, 5), (7, 8)]);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn the_legend_folds_step_by_step() {
        let c = big_config();
        let states = big_states();
        let t = Theme::new(ThemeKind::Default);
        // Wide and tall enough: every server with its address.
        let full = text(&server_legend(&c.servers, &states, &[], t, 600, 20));
        assert!(full.concat().contains("●1:5000 ●2:5001"), "{full:?}");
        assert!(full.concat().contains("✖18:5017 down"), "{full:?}");
        // Less room: the numbers.
        let numbers = text(&server_legend(&c.servers, &states, &[], t, 70, 6));
        assert!(numbers.len() <= 6, "{numbers:?}");
        assert!(numbers.concat().contains("●1 ●2 ●3"), "{numbers:?}");
        assert!(numbers.concat().contains("✖18 down"), "{numbers:?}");
        // Little room: runs per state.
        let folded = text(&server_legend(&c.servers, &states, &[], t, 28, 2));
        assert_eq!(folded, vec!["●1–17 19–64 up ✖18 down"]);
        // Unknown states: no word; several down: their runs.
        let mut mixed = vec![None; 64];
        for (i, s) in mixed.iter_mut().enumerate().skip(40) {
            *s = Some(if i % 2 == 0 {
                ServerState::Up
            } else {
                ServerState::Paused
            });
        }
        mixed[3] = Some(ServerState::Unreachable);
        let folded = text(&server_legend(&c.servers, &mixed, &[], t, 28, 2)).join(" ");
        assert!(folded.starts_with("●1–3 5–40 ●41 43"), "{folded}");
        assert!(folded.contains("‖42 44"), "{folded}");
        assert!(folded.ends_with("64 paused ?4 unreachable"), "{folded}");
    }

    #[test]
    fn a_few_servers_keep_the_full_legend() {
        let c = big_config();
        let servers = &c.servers[..5];
        let states = vec![Some(ServerState::Up); 5];
        let t = Theme::new(ThemeKind::Default);
        let lines = text(&server_legend(
            servers,
            &states,
            &[],
            t,
            28,
            server_rows_budget(14),
        ));
        assert_eq!(lines, vec!["●1:5000 ●2:5001 ●3:5002", "●4:5003 ●5:5004"]);
    }

    /// Asserts that no two labels overlap or touch, and that none covers a
    /// node, the key marker or the circle.
    fn check_labels(
        labels: &[(PlacedLabel, String)],
        geo: &Geometry,
        blocked: &HashSet<(u16, u16)>,
    ) {
        let circle = circle_cells(geo);
        for (i, (a, ta)) in labels.iter().enumerate() {
            for (b, tb) in labels.iter().skip(i + 1) {
                assert!(!a.touches(b), "{ta:?} {a:?} touches {tb:?} {b:?}");
            }
            for c in a.cells() {
                assert!(!blocked.contains(&c), "{ta:?} covers {c:?}");
                assert!(!circle.contains(&c), "{ta:?} on the circle at {c:?}");
                assert!(geo.area.x <= c.0 && c.0 < geo.area.x + geo.area.width);
                assert!(geo.area.y <= c.1 && c.1 < geo.area.y + geo.area.height);
            }
        }
    }

    #[test]
    fn labels_keep_apart_and_off_the_nodes() {
        let geo = Geometry::new(Rect::new(0, 0, 40, 20)).unwrap();
        let blocked: HashSet<(u16, u16)> =
            (0..40).map(|k| geo.cell_at(k as f64 / 40.0, 1.0)).collect();
        // Forty labels bunched in one quarter: many cannot be placed.
        let requests: Vec<LabelRequest> = (0..40)
            .map(|k| LabelRequest {
                fraction: k as f64 / 160.0,
                text: format!("{k}#1"),
                style: Style::new(),
                reach: None,
            })
            .collect();
        let placed = plan_labels(&geo, &blocked, &HashSet::new(), &requests);
        assert!(placed.len() >= 5 && placed.len() < 40, "{}", placed.len());
        let with_text: Vec<(PlacedLabel, String)> = placed
            .iter()
            .map(|p| (*p, requests[p.request].text.clone()))
            .collect();
        check_labels(&with_text, &geo, &blocked);
        // The first (most important) one always gets a spot.
        assert_eq!(placed[0].request, 0);
        // A touching pair is detected, a blank cell apart is not touching.
        let at = |x, width| PlacedLabel {
            request: 0,
            x,
            y: 3,
            width,
        };
        assert!(at(0, 3).touches(&at(3, 2)));
        assert!(at(3, 2).touches(&at(0, 3)));
        assert!(at(1, 1).touches(&at(0, 3)));
        assert!(!at(0, 3).touches(&at(4, 2)) && !at(4, 2).touches(&at(0, 3)));
        assert!(!at(0, 3).touches(&PlacedLabel { y: 4, ..at(0, 3) }));
    }

    /// The replicas' labels (`<server>#<rank>`) of the key's walk.
    fn walk_labels(ring: &Ring, key: &[u8], n: usize) -> Vec<String> {
        let placement = ring.placement(key, n);
        let mut rank = 0;
        let mut out = Vec::new();
        for step in &placement.steps {
            if let Step::Used(r) = step {
                rank += 1;
                out.push(format!("{}#{rank}", r.server + 1));
            }
        }
        out
    }

    #[test]
    fn sixty_four_servers_stay_readable_at_every_size() {
        let c = big_config();
        let ring = Ring::new(&c);
        let states = big_states();
        for key in [&b"k"[..], b"a", b"user:42", b"z"] {
            let focus = (key.to_vec(), ring.placement(key, 3));
            for kind in [ThemeKind::Default, ThemeKind::HighContrast, ThemeKind::Mono] {
                for (w, h) in [(80, 24), (160, 50), (200, 60)] {
                    let area = ring_inner(w, h);
                    let view = RingView {
                        ring: &ring,
                        servers: &c.servers,
                        states: &states,
                        sides: &[],
                        focus: Some(&focus),
                        whatif: None,
                        n: 3,
                        theme: Theme::new(kind),
                        motion: None,
                    };
                    let d = view.drawn(area).unwrap();
                    let ctx = format!("{w}x{h} key {key:?}: {:#?}", d.legend);
                    // The bound: the servers' part within its budget, plus
                    // the walk's line(s).
                    let walk_rows = d.legend.iter().filter(|l| l.contains('→')).count();
                    assert!(walk_rows <= 2, "{ctx}");
                    assert!(
                        d.legend.len() - walk_rows <= server_rows_budget(area.height),
                        "{ctx}"
                    );
                    if (w, h) == (80, 24) {
                        assert!(d.legend.len() <= 4, "{ctx}");
                    }
                    // Every server that is not up is named.
                    let legend = d.legend.join(" ");
                    assert!(legend.contains("✖18") && legend.contains("down"), "{ctx}");
                    // Labels apart, off the nodes and the key marker.
                    let mut blocked: HashSet<(u16, u16)> = ring
                        .nodes()
                        .iter()
                        .map(|n| d.geo.cell_at(n.position.fraction(), 1.0))
                        .collect();
                    let g = d.geo.area;
                    let key_cell = (g.y..g.y + g.height)
                        .flat_map(|y| (g.x..g.x + g.width).map(move |x| (x, y)))
                        .find(|&c| d.buf[c].symbol() == "◆");
                    assert!(key_cell.is_some(), "{ctx}");
                    // The down server shows on the ring too, over the nodes
                    // sharing its cells.
                    let down_shown = (g.y..g.y + g.height)
                        .flat_map(|y| (g.x..g.x + g.width).map(move |x| (x, y)))
                        .any(|c| d.buf[c].symbol() == "✖");
                    assert!(down_shown, "{ctx}");
                    blocked.extend(key_cell);
                    check_labels(&d.labels, &d.geo, &blocked);
                    // Each replica named on the ring or in the walk's line.
                    for label in walk_labels(&ring, key, 3) {
                        let on_ring = d.labels.iter().any(|(_, t)| *t == label);
                        let in_legend = legend.contains(&format!("→ {label}"));
                        assert!(on_ring || in_legend, "{label} {ctx}");
                    }
                    // What the buffer shows at each label is its text.
                    for (p, t) in &d.labels {
                        let shown: String =
                            p.cells().map(|c| d.buf[c].symbol().to_string()).collect();
                        assert_eq!(&shown, t, "{ctx}");
                    }
                }
            }
        }
    }

    fn big_app() -> App {
        let now = Instant::now();
        let c = big_config();
        let statuses = c
            .servers
            .iter()
            .enumerate()
            .map(|(i, spec)| ServerStatus {
                index: i,
                spec: spec.clone(),
                managed: true,
                pid: (i != DOWN).then_some(4100 + i as u32),
                state: if i == DOWN {
                    ServerState::Down
                } else {
                    ServerState::Up
                },
                last_answer: Some(now),
                last_exit: (i == DOWN).then(|| "killed by SIGKILL".to_string()),
                badge: None,
            })
            .collect();
        let mut a = App::new(Arc::new(c), Theme::new(ThemeKind::Default), now);
        a.set_snapshot(statuses, Vec::new(), Default::default(), now);
        a.view = View {
            focus_key: Some((b"k".to_vec(), a.ring.placement(b"k", 3))),
            ..Default::default()
        };
        a
    }

    fn screen(a: &App, w: u16, h: u16) -> String {
        crate::tui::draw::test_screen(a, w, h)
    }

    #[test]
    fn sixty_four_servers_screens() {
        let a = big_app();
        for (w, h) in [(80, 24), (160, 50), (200, 60)] {
            insta::assert_snapshot!(format!("sixty_four_{w}x{h}"), screen(&a, w, h));
        }
    }
}
