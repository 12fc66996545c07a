//! The ring's arcs, each in the colour of the server that owns it, so each
//! server's share of the key space can be seen at a glance.
//!
//! The arc from one node to the next, clockwise, holds the keys whose first
//! node is that next node: its server is their primary owner. The circle is
//! sampled evenly and each sample goes to the server owning it; the ring
//! view draws each server's samples as canvas points in its colour. Kept out
//! of [`super::ring_view`] so that module stays small.

use ratatui::style::Color;
use ratatui::widgets::canvas::{Circle, Context, Points};

use crate::ring::Ring;
use crate::supervisor::ServerState;

use super::ring_view::{Geometry, point_on_circle, position_from_fraction};
use super::theme::Theme;

/// How many samples to take round a circle drawn with `geo`: enough for
/// every braille dot of its circumference (two dots a column, four a row),
/// and never fewer than two a degree.
pub fn sample_count(geo: &Geometry) -> usize {
    (geo.radius_cols * 16.0).ceil().max(720.0) as usize
}

/// For each server (indexed like the ring's servers), the points of the
/// circle of radius 1 on the arcs it owns as primary, from `samples`
/// evenly spaced points of the key space.
pub fn owned_points(ring: &Ring, samples: usize) -> Vec<Vec<(f64, f64)>> {
    let nodes = ring.nodes();
    let servers = nodes.iter().map(|n| n.server + 1).max().unwrap_or(0);
    let mut points: Vec<Vec<(f64, f64)>> = vec![Vec::new(); servers];
    if samples == 0 {
        return points;
    }
    for k in 0..samples {
        let f = (k as f64 + 0.5) / samples as f64;
        let owner = nodes.get(ring.successor(&position_from_fraction(f)));
        if let Some(list) = owner.and_then(|n| points.get_mut(n.server)) {
            list.push(point_on_circle(f, 1.0));
        }
    }
    points
}

/// Whether a server in `state` does not serve its keys: its arcs are then
/// drawn faded and dotted ([`draw_owned_arcs`]).
pub fn fades(state: Option<ServerState>) -> bool {
    matches!(
        state,
        Some(ServerState::Down | ServerState::Paused | ServerState::Unreachable)
    )
}

/// Of a faded server's arc points, one in this many is drawn: a dotted arc.
const FADED_EVERY: usize = 4;

/// Draws the circle of radius 1 as arcs in their owners' colours, or, for
/// an empty ring, as a plain circle in `fallback`. The arcs of a server
/// marked in `faded` (indexed like `arcs`) are dotted, in a darker colour:
/// its keys are not being served there.
pub fn draw_owned_arcs(
    ctx: &mut Context<'_>,
    arcs: &[Vec<(f64, f64)>],
    faded: &[bool],
    theme: Theme,
    fallback: Color,
) {
    if arcs.iter().all(Vec::is_empty) {
        ctx.draw(&Circle::new(0.0, 0.0, 1.0, fallback));
        return;
    }
    for (server, coords) in arcs.iter().enumerate() {
        if faded.get(server).copied().unwrap_or(false) {
            let color = theme.server_faded(server).fg.unwrap_or(fallback);
            let dots: Vec<(f64, f64)> = coords.iter().step_by(FADED_EVERY).copied().collect();
            ctx.draw(&Points::new(&dots, color));
        } else {
            let color = theme.server(server).fg.unwrap_or(fallback);
            ctx.draw(&Points::new(coords, color));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;
    use crate::tui::ring_view::RingView;
    use crate::tui::theme::ThemeKind;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::Widget;

    #[test]
    fn every_sample_goes_to_the_next_nodes_server() {
        let c = parse_servers_txt("127.0.0.1 1234 3\n127.0.0.1 1235 2\n", "t").unwrap();
        let ring = Ring::new(&c);
        let arcs = owned_points(&ring, 1000);
        assert_eq!(arcs.len(), 2);
        assert_eq!(arcs.iter().map(Vec::len).sum::<usize>(), 1000);
        assert!(arcs.iter().all(|a| !a.is_empty()));
        assert!(owned_points(&ring, 0).iter().all(Vec::is_empty));
    }

    fn is_braille(s: &str) -> bool {
        s.chars()
            .next()
            .is_some_and(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
    }

    #[test]
    fn cells_just_before_a_node_carry_its_servers_colour() {
        let c = parse_servers_txt("127.0.0.1 1234 3\n127.0.0.1 1235 3\n", "t").unwrap();
        let ring = Ring::new(&c);
        let states = vec![Some(ServerState::Up), Some(ServerState::Up)];
        let theme = Theme::new(ThemeKind::Default);
        let view = RingView {
            ring: &ring,
            servers: &c.servers,
            states: &states,
            sides: &[],
            focus: None,
            whatif: None,
            n: 2,
            theme,
            motion: None,
        };
        let area = Rect::new(0, 0, 80, 40);
        let mut buf = Buffer::empty(area);
        view.render(area, &mut buf);
        // The circle's area: the pane minus the legend's single line.
        let geo = Geometry::new(Rect::new(0, 0, 80, 39)).unwrap();
        let nodes = ring.nodes();
        let mut checked = [0usize; 2];
        for (i, node) in nodes.iter().enumerate() {
            let prev = nodes[(i + nodes.len() - 1) % nodes.len()]
                .position
                .fraction();
            let here = node.position.fraction();
            let len = (here - prev).rem_euclid(1.0);
            let node_cell = geo.cell_at(here, 1.0);
            let prev_cell = geo.cell_at(prev, 1.0);
            // Step back from the node to the second cell before it, staying
            // well clear of the previous node.
            let mut cells = Vec::new();
            let mut d = 0.0;
            while d < len * 0.5 && cells.len() < 2 {
                d += 0.001;
                let cell = geo.cell_at(here - d, 1.0);
                if cell != node_cell && cell != prev_cell && !cells.contains(&cell) {
                    cells.push(cell);
                }
            }
            let Some(&cell) = cells.get(1) else { continue };
            let got = &buf[cell];
            if !is_braille(got.symbol()) {
                continue;
            }
            assert_eq!(
                got.fg,
                theme.server(node.server).fg.unwrap(),
                "cell {cell:?} before node {i} of server {}",
                node.server + 1
            );
            checked[node.server] += 1;
        }
        assert!(checked.iter().all(|&n| n > 0), "checked {checked:?}");
    }

    #[test]
    fn a_down_servers_arcs_are_faded_and_dotted() {
        let c = parse_servers_txt("127.0.0.1 1234 3\n127.0.0.1 1235 3\n", "t").unwrap();
        let ring = Ring::new(&c);
        let theme = Theme::new(ThemeKind::Default);
        let count = |states: &[Option<ServerState>]| {
            let view = RingView {
                ring: &ring,
                servers: &c.servers,
                states,
                sides: &[],
                focus: None,
                whatif: None,
                n: 2,
                theme,
                motion: None,
            };
            let area = Rect::new(0, 0, 80, 40);
            let mut buf = Buffer::empty(area);
            view.render(area, &mut buf);
            let (mut normal, mut faded, mut dots) = (0, 0, 0);
            for cell in buf.content() {
                let Some(ch) = cell.symbol().chars().next() else {
                    continue;
                };
                if !is_braille(cell.symbol()) {
                    continue;
                }
                if Some(cell.fg) == theme.server(1).fg {
                    normal += 1;
                    dots += (ch as u32 - 0x2800).count_ones();
                } else if Some(cell.fg) == theme.server_faded(1).fg {
                    faded += 1;
                    dots += (ch as u32 - 0x2800).count_ones();
                }
            }
            (normal, faded, dots)
        };
        let up = count(&[Some(ServerState::Up), Some(ServerState::Up)]);
        let down = count(&[Some(ServerState::Up), Some(ServerState::Down)]);
        assert!(up.0 > 10 && up.1 == 0, "{up:?}");
        assert!(down.0 == 0 && down.1 > 5, "{down:?}");
        // Dotted: far fewer dots than the solid arcs had.
        assert!(down.2 * 2 < up.2, "{up:?} {down:?}");
    }
}
