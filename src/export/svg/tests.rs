use super::*;
use crate::config::parse_servers_txt;
use crate::tui::theme::{Theme, ThemeKind};
use ratatui::style::Color;

fn cluster(servers: usize, nodes: u32) -> ClusterConfig {
    let text: String = (0..servers)
        .map(|i| format!("127.0.0.1 {} {nodes}\n", 20_000 + i))
        .collect();
    parse_servers_txt(&text, "t").unwrap()
}

fn picture_of(
    config: &ClusterConfig,
    states: &[Option<ServerState>],
    key: Option<&[u8]>,
    n: usize,
) -> String {
    let ring = Ring::new(config);
    let placement = key.map(|k| ring.placement(k, n));
    render_svg(&RingPicture {
        config,
        ring: &ring,
        states,
        focus: key.zip(placement.as_ref()),
        quorum: Some((n, 2, 2)),
        date: Some("2026-12-07 05:31 UTC".into()),
    })
}

fn with_class<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .collect()
}

#[test]
fn one_mark_per_virtual_node_and_every_server_in_the_legend() {
    for (servers, nodes) in [(5, 2), (64, 3), (1, 1)] {
        let config = cluster(servers, nodes);
        let states = vec![Some(ServerState::Up); servers];
        let svg = picture_of(&config, &states, Some(b"a"), 3.min(servers));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let marks = with_class(&doc, "vnode");
        assert_eq!(marks.len(), servers * nodes as usize, "{servers} servers");
        // Each node once: (server, node) pairs are distinct.
        let mut seen: Vec<(String, String)> = marks
            .iter()
            .map(|m| {
                (
                    m.attribute("data-server").unwrap().to_string(),
                    m.attribute("data-node").unwrap().to_string(),
                )
            })
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), marks.len());
        let legend: Vec<String> = with_class(&doc, "legend-entry")
            .iter()
            .map(|e| e.attribute("data-server").unwrap().to_string())
            .collect();
        let want: Vec<String> = (1..=servers).map(|i| i.to_string()).collect();
        assert_eq!(legend, want);
        // Every mark's tooltip names its server, address, node and sha1.
        let title = marks[0].first_element_child().unwrap().text().unwrap();
        assert!(
            title.starts_with("server ") && title.contains("127.0.0.1:"),
            "{title}"
        );
        assert!(
            title.split(" — ").nth(1).is_some_and(|h| h.len() == 40),
            "{title}"
        );
        let root = doc.root_element();
        assert_eq!(
            root.attribute("viewBox").map(|v| v.starts_with("0 0 900 ")),
            Some(true)
        );
    }
}

#[test]
fn the_walk_ranks_the_replicas_and_dims_skipped_nodes() {
    let config = cluster(5, 4);
    let states = vec![Some(ServerState::Up); 5];
    let ring = Ring::new(&config);
    // A key whose walk skips a node (four nodes a server makes it likely).
    let key = (0..1000)
        .map(|i| format!("k{i}").into_bytes())
        .find(|k| {
            ring.placement(k, 3)
                .steps
                .iter()
                .any(|s| matches!(s, Step::Skipped { .. }))
        })
        .unwrap();
    let placement = ring.placement(&key, 3);
    let svg = picture_of(&config, &states, Some(&key), 3);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let replicas = with_class(&doc, "replica");
    let ranks: Vec<&str> = replicas
        .iter()
        .map(|r| r.attribute("data-rank").unwrap())
        .collect();
    assert_eq!(ranks, ["1", "2", "3"]);
    for (r, want) in replicas.iter().zip(&placement.replicas) {
        assert_eq!(
            r.attribute("data-server"),
            Some((want.server + 1).to_string().as_str())
        );
    }
    let labels: Vec<&str> = with_class(&doc, "replica-label")
        .iter()
        .map(|l| l.text().unwrap())
        .collect();
    for (rank, r) in placement.replicas.iter().enumerate() {
        let want = format!("{}#{}", r.server + 1, rank + 1);
        assert!(labels.contains(&want.as_str()), "{want} in {labels:?}");
    }
    let dim = with_class(&doc, "vnode")
        .iter()
        .filter(|m| m.attribute("opacity") == Some("0.35"))
        .count();
    let skipped = placement
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Skipped { .. }))
        .count();
    assert_eq!(dim, skipped);
    assert_eq!(with_class(&doc, "key").len(), 1);
    assert_eq!(with_class(&doc, "walk-arc").len(), 1);
}

#[test]
fn down_and_paused_servers_are_hollow_and_marked() {
    let config = cluster(3, 2);
    let states = vec![
        Some(ServerState::Up),
        Some(ServerState::Down),
        Some(ServerState::Paused),
    ];
    let svg = picture_of(&config, &states, None, 2);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    for m in with_class(&doc, "vnode") {
        let hollow = m.attribute("fill") == Some("#ffffff");
        assert_eq!(hollow, m.attribute("data-server") != Some("1"));
    }
    assert_eq!(with_class(&doc, "state-mark").len(), 4);
    let legend: String = with_class(&doc, "legend")[0]
        .descendants()
        .filter_map(|n| n.text())
        .collect();
    assert!(
        legend.contains("down") && legend.contains("paused"),
        "{legend}"
    );
    // Without a key there is no walk.
    assert!(with_class(&doc, "key").is_empty());
}

#[test]
fn text_is_escaped() {
    let mut config = cluster(2, 1);
    config.source = Some("dir/<&\"'>\u{1}.toml".into());
    let key = b"<k&\"'>\x00\x07\x1b[31m\xff";
    let states = vec![None, None];
    let svg = picture_of(&config, &states, Some(key), 2);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let all: String = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(all.contains("dir/<&\"'>.toml"), "{all}");
    assert!(all.contains("<k&\"'>"), "{all}");
    assert!(!all.chars().any(|c| c.is_control() && c != '\n'), "{all:?}");
    assert_eq!(escape("a<b>&\"c'\u{7}"), "a&lt;b&gt;&amp;&quot;c&apos;");
}

#[test]
fn the_palette_is_the_screens() {
    let theme = Theme::new(ThemeKind::Default);
    for i in 0..20 {
        let hex = server_colour(i);
        let v = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).unwrap();
        assert_eq!(
            theme.server(i).fg,
            Some(Color::Rgb(v(1), v(3), v(5))),
            "server {i}"
        );
        let f = faded(hex);
        let v = |at: usize| u8::from_str_radix(&f[at..at + 2], 16).unwrap();
        assert_eq!(
            theme.server_faded(i).fg,
            Some(Color::Rgb(v(1), v(3), v(5))),
            "server {i}"
        );
    }
    assert_eq!(theme.highlight().fg, Some(Color::Rgb(0xf0, 0xe4, 0x42)));
}

#[test]
fn arcs_cover_the_circle_in_the_owners_colours() {
    let config = cluster(4, 3);
    let states = vec![Some(ServerState::Up); 4];
    let svg = picture_of(&config, &states, None, 2);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let arcs = with_class(&doc, "arc");
    assert_eq!(arcs.len(), 12);
    for a in arcs {
        let server: usize = a.attribute("data-server").unwrap().parse().unwrap();
        assert_eq!(a.attribute("stroke"), Some(server_colour(server - 1)));
    }
    // A down server's arcs are its colour, darker (as on the screen).
    let mut states = states;
    states[1] = Some(ServerState::Down);
    let svg = picture_of(&config, &states, None, 2);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    for a in with_class(&doc, "arc") {
        let server: usize = a.attribute("data-server").unwrap().parse().unwrap();
        let want = if server == 2 {
            faded(server_colour(1))
        } else {
            server_colour(server - 1).to_string()
        };
        assert_eq!(a.attribute("stroke"), Some(want.as_str()));
    }
    // One node: a whole circle.
    let one = cluster(1, 1);
    let svg = picture_of(&one, &[None], None, 1);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(with_class(&doc, "arc")[0].tag_name().name(), "circle");
}
