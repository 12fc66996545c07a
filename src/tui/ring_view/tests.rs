//! Tests of the ring drawing: geometry, packing and the widget's cells.

use super::*;
use crate::config::parse_servers_txt;

/// What [`RingView::render`] draws in `area`, taken apart for tests.
pub(crate) struct Drawn {
    /// The legend's lines (as drawn).
    pub legend: Vec<String>,
    /// The circle's geometry.
    pub geo: Geometry,
    /// The labels placed round the circle, with their text.
    pub labels: Vec<(PlacedLabel, String)>,
    /// The whole pane as rendered.
    pub buf: Buffer,
}

impl RingView<'_> {
    /// Renders into a fresh buffer of `area` and returns the parts.
    pub(crate) fn drawn(&self, area: Rect) -> Option<Drawn> {
        let mut legend = self.legend(area.width, area.height);
        legend.truncate((area.height / 2).max(1) as usize);
        let circle = Rect {
            height: area.height - legend.len() as u16,
            ..area
        };
        let geo = Geometry::new(circle)?;
        let mut scratch = Buffer::empty(area);
        self.draw_circle(&geo, &mut scratch);
        let labels = self.draw_nodes(&geo, &mut scratch);
        let mut buf = Buffer::empty(area);
        RingView { ..*self }.render(area, &mut buf);
        Some(Drawn {
            legend: legend.iter().map(ToString::to_string).collect(),
            geo,
            labels,
            buf,
        })
    }
}

#[test]
fn circle_points_go_clockwise_from_the_top() {
    let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9;
    assert!(close(point_on_circle(0.0, 1.0), (0.0, 1.0)));
    assert!(close(point_on_circle(0.25, 1.0), (1.0, 0.0)));
    assert!(close(point_on_circle(0.5, 2.0), (0.0, -2.0)));
    assert!(close(point_on_circle(0.75, 1.0), (-1.0, 0.0)));
}

#[test]
fn fraction_round_trips() {
    for f in [0.0, 0.1, 0.25, 0.5, 0.999] {
        let p = position_from_fraction(f);
        assert!((p.fraction() - f).abs() < 1e-12, "{f}");
    }
    assert_eq!(position_from_fraction(1.0), position_from_fraction(0.0));
}

#[test]
fn geometry_maps_compass_points_to_the_edges_of_the_circle() {
    let area = Rect::new(10, 5, 40, 20);
    let geo = Geometry::new(area).unwrap();
    // Radius: min(40/2 - 4, (20/2 - 1) * 2) = 16 columns.
    assert_eq!(geo.radius_cols, 16.0);
    let (cx, cy) = geo.cell(0.0, 0.0);
    assert_eq!((cx, cy), (30, 15));
    let top = geo.cell_at(0.0, 1.0);
    let right = geo.cell_at(0.25, 1.0);
    let bottom = geo.cell_at(0.5, 1.0);
    let left = geo.cell_at(0.75, 1.0);
    assert_eq!(top.0, cx);
    assert!(top.1 < cy && bottom.1 > cy);
    assert_eq!(right.1, cy);
    assert!(right.0 > cx && left.0 < cx);
    // Round on screen: 16 columns wide each side, 8 rows high each side.
    assert_eq!(right.0 - cx, 16);
    assert_eq!(cx - left.0, 16);
    assert_eq!(cy - top.1, 8);
    // Every point of the circle and its labels stays inside the area.
    for k in 0..360 {
        let (c, r) = geo.cell_at(k as f64 / 360.0, 1.0 + 3.6 * geo.col_unit());
        assert!(c >= area.x && c < area.x + area.width);
        assert!(r >= area.y && r < area.y + area.height);
    }
}

#[test]
fn tiny_areas_have_no_circle() {
    assert!(Geometry::new(Rect::new(0, 0, 12, 4)).is_none());
    assert!(Geometry::new(Rect::new(0, 0, 0, 0)).is_none());
    assert!(Geometry::new(Rect::new(0, 0, 20, 6)).is_some());
}

#[test]
fn moved_samples_of_an_identical_ring_is_empty_and_of_an_addition_is_partial() {
    let c = parse_servers_txt(
        "127.0.0.1 1234 3\n127.0.0.1 1235 2\n127.0.0.1 1236 2\n",
        "t",
    )
    .unwrap();
    let ring = Ring::new(&c);
    let same = moved_samples(&ring, &c.servers, &ring, &c.servers, 2, 100);
    assert!(same.iter().all(|m| !m));
    let mut more = c.servers.clone();
    more.push(ServerSpec::new("127.0.0.1".parse().unwrap(), 1237, 2));
    let bigger = Ring::from_servers(&more);
    let moved = moved_samples(&ring, &c.servers, &bigger, &more, 2, 1000);
    let count = moved.iter().filter(|m| **m).count();
    assert!(count > 0 && count < 1000, "{count}");
    // Servers are compared by address: a reordered list moves nothing.
    let mut reordered = c.servers.clone();
    reordered.reverse();
    let r2 = Ring::from_servers(&reordered);
    assert!(
        moved_samples(&ring, &c.servers, &r2, &reordered, 2, 200)
            .iter()
            .all(|m| !m)
    );
}

#[test]
fn pack_breaks_between_tokens() {
    let toks = vec![
        vec![Span::raw("aaaa")],
        vec![Span::raw("bbbb")],
        vec![Span::raw("cc")],
    ];
    let lines = pack(toks, 9);
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    assert_eq!(text, vec!["aaaa bbbb", "cc"]);
}

#[test]
fn every_node_is_drawn_with_its_server_number() {
    let c = parse_servers_txt(
        "127.0.0.1 1234 3\n127.0.0.1 1235 2\n127.0.0.1 1236 2\n",
        "t",
    )
    .unwrap();
    let ring = Ring::new(&c);
    let states = vec![Some(ServerState::Up), Some(ServerState::Down), None];
    let placement = ring.placement(b"a", 3);
    let focus = (b"a".to_vec(), placement);
    let view = RingView {
        ring: &ring,
        servers: &c.servers,
        states: &states,
        sides: &[],
        focus: Some(&focus),
        whatif: None,
        n: 3,
        theme: Theme::new(super::super::theme::ThemeKind::Mono),
        motion: None,
    };
    let area = Rect::new(0, 0, 40, 20);
    let mut buf = Buffer::empty(area);
    view.render(area, &mut buf);
    let text: String = (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect();
    assert!(text.contains('✖'), "down server marked:\n{text}");
    assert!(text.contains('◆'), "key marked:\n{text}");
    assert!(text.contains("#1") && text.contains("#3"), "ranks:\n{text}");
}
