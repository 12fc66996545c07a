//! Screens of a class's partition lesson: `partition 1,2 | 3,4,5` puts
//! side letters in the server list and the ring's legend, hints pile up,
//! and after `heal` the badges say who is still catching up. Each test
//! reads the drawn text (or cells), so a missing letter, count or badge
//! fails it.

use std::net::Ipv4Addr;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::config::ServerSpec;
use crate::repl::{NetView, View};
use crate::supervisor::{NetEnd, ServerState};
use crate::tui::app::App;
use crate::tui::draw;
use crate::tui::ring_legend::server_legend;
use crate::tui::theme::{Theme, ThemeKind};
use crate::tui::{Msg, on_msg};

use super::{app, config, focus_view, screen};

/// Servers 1 and 2 (and the client) on side A, 3 to 5 on side B; server
/// 4 also cannot send to server 2.
fn cut() -> NetView {
    NetView {
        sides: vec![Some('A'), Some('A'), Some('B'), Some('B'), Some('B')],
        client_side: Some('A'),
        one_way: vec![(NetEnd::Server(3), NetEnd::Server(1))],
    }
}

/// The usual screen with `key` focused, and the cut when `net`.
fn with_view(net: bool) -> App {
    let mut a = app(None);
    a.view = View {
        net: net.then(cut),
        ..focus_view(b"a", 3)
    };
    a
}

/// After `heal`: server 2 still holds 3 hints, server 4 twelve, the
/// others caught up.
fn healing(a: &mut App) {
    a.hints = vec![Some(0), Some(3), None, Some(12), Some(0)];
    for (i, s) in a.servers.iter_mut().enumerate() {
        s.badge = Some(match i {
            1 => "3 hints to deliver".into(),
            3 => "2 keys differ".into(),
            _ => "in sync".into(),
        });
    }
}

/// The list's row of server `n` (1-based) in a screen's text.
fn row(text: &str, n: usize) -> String {
    text.lines()
        .find(|l| l.contains(&format!(" {n}  ")) && l.contains(&format!(":{}", 1233 + n)))
        .unwrap_or_else(|| panic!("row {n}:\n{text}"))
        .to_string()
}

/// The list's header row.
fn header(text: &str) -> String {
    text.lines()
        .find(|l| l.contains("  #  "))
        .unwrap_or_else(|| panic!("header:\n{text}"))
        .to_string()
}

#[test]
fn a_partition_shows_each_servers_side_in_the_list_and_the_legend() {
    let a = with_view(true);
    let text = screen(&a, 120, 40);
    assert!(
        text.contains(" Servers · client on A (Tab to select) "),
        "{text}"
    );
    assert!(
        header(&text).contains("  #  side address        vn  pid "),
        "{text}"
    );
    for (n, side) in [
        (1, "A   "),
        (2, "A   "),
        (3, "B   "),
        (4, "B ↛2"),
        (5, "B   "),
    ] {
        let r = row(&text, n);
        assert!(
            r.contains(&format!(" {n}  {side} 127.0.0.1:{}", 1233 + n)),
            "{r}"
        );
    }
    // No hints held, no badge: no hints or heal column.
    assert!(!header(&text).contains("hints") && !header(&text).contains("heal"));
    assert!(
        text.contains("●1:1234 [A] ●2:1235 [A] ●3:1236 [B]"),
        "{text}"
    );
    assert!(text.contains("●4:1237 [B] ●5:1238 [B]"), "{text}");
    // At 80 columns the legend keeps the letters without the addresses.
    let narrow = screen(&a, 80, 24);
    assert!(narrow.contains("●1 [A] ●2 [A] ●3 [B] ●4 [B]"), "{narrow}");
    assert!(header(&narrow).contains("  #  side port "), "{narrow}");
    assert!(row(&narrow, 4).contains(" 4  B ↛2 :1237 "), "{narrow}");
}

#[test]
fn hints_and_badges_show_the_cluster_converging() {
    let mut a = with_view(true);
    // During the partition: hints pile up on the servers holding them.
    a.hints = vec![Some(0), Some(3), None, Some(12), Some(0)];
    let text = screen(&a, 120, 40);
    assert!(header(&text).contains(" answer hints ops/s"), "{text}");
    assert!(
        row(&text, 2).contains(" 0.4s       3 "),
        "{}",
        row(&text, 2)
    );
    assert!(
        row(&text, 3).contains(" 0.5s       — "),
        "{}",
        row(&text, 3)
    );
    assert!(
        row(&text, 4).contains(" 0.6s      12 "),
        "{}",
        row(&text, 4)
    );
    assert!(
        row(&text, 1).contains(" 0.3s       0 "),
        "{}",
        row(&text, 1)
    );
    // After `heal`: the badges, next to the hints still waiting.
    healing(&mut a);
    let text = screen(&a, 120, 40);
    assert!(header(&text).contains(" answer hints heal "), "{text}");
    assert!(
        row(&text, 2).contains("       3 3 hints to deliver"),
        "{}",
        row(&text, 2)
    );
    assert!(row(&text, 4).contains("      12 2 keys differ"), "{text}");
    for n in [1, 3, 5] {
        assert!(row(&text, n).contains(" in sync "), "{}", row(&text, n));
    }
    // At 80 columns the side and the badge stay, cut short.
    let narrow = screen(&a, 80, 24);
    assert!(header(&narrow).contains(" side port "), "{narrow}");
    assert!(header(&narrow).contains(" answer heal"), "{narrow}");
    assert!(row(&narrow, 2).contains(" A    :1235 "), "{narrow}");
    assert!(row(&narrow, 2).contains(" 3 hints t…"), "{narrow}");
    assert!(row(&narrow, 1).contains(" in sync"), "{narrow}");
}

/// The first cell of `word` on the screen, in a buffer of `w`×`h`.
fn find(buf: &Buffer, word: &str, skip: usize) -> Option<(u16, u16)> {
    let area = buf.area;
    (area.y..area.bottom())
        .flat_map(|y| (area.x..area.right()).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            word.chars().enumerate().all(|(k, c)| {
                let at = (x + k as u16, y);
                at.0 < area.right() && buf[at].symbol() == c.to_string()
            })
        })
        .nth(skip)
}

#[test]
fn in_sync_looks_done_and_the_others_look_pending() {
    let mut a = with_view(true);
    healing(&mut a);
    let area = Rect::new(0, 0, 120, 40);
    let mut buf = Buffer::empty(area);
    draw::render(&a, area, &mut buf);
    let t = Theme::new(ThemeKind::Default);
    let synced = find(&buf, "in sync", 0).expect("in sync drawn");
    assert_eq!(buf[synced].fg, t.ok().fg.expect("ok has a colour"));
    let pending = find(&buf, "3 hints to deliver", 0).expect("badge drawn");
    assert_eq!(buf[pending].fg, t.warn().fg.expect("warn has a colour"));
    assert_ne!(t.ok().fg, t.warn().fg);
}

#[test]
fn without_a_cut_hints_or_badges_the_screen_is_unchanged() {
    let plain = with_view(false);
    let mut idle = with_view(false);
    // Every server told 0 hints: nothing to show.
    idle.hints = vec![Some(0); 5];
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let text = screen(&idle, w, h);
        assert_eq!(text, screen(&plain, w, h));
        assert!(!text.contains("side") && !text.contains("hints"), "{text}");
        assert!(
            !text.contains("[A]") && !text.contains("client on"),
            "{text}"
        );
        assert!(
            header(&text).contains("  #  ") && header(&text).contains(" pid "),
            "{text}"
        );
    }
    assert!(header(&screen(&idle, 120, 40)).contains(" answer    ops/s"));
}

#[test]
fn hints_show_without_a_cut_and_a_badge_without_hints() {
    let mut a = with_view(false);
    a.hints = vec![None, Some(7), None, None, None];
    let text = screen(&a, 120, 40);
    assert!(!header(&text).contains("side"), "{text}");
    assert!(header(&text).contains(" pid "), "{text}");
    assert!(row(&text, 2).contains("       7 "), "{}", row(&text, 2));
    // All delivered, one badge up: the hints column stays to show the 0s.
    a.hints = vec![Some(0); 5];
    a.servers[0].badge = Some("no answer".into());
    let text = screen(&a, 120, 40);
    assert!(header(&text).contains(" hints heal"), "{text}");
    assert!(row(&text, 1).contains("       0 no answer"), "{text}");
    assert!(!text.contains("[A]"), "{text}");
}

#[test]
fn pending_hints_arrive_with_the_keys_and_go_with_the_configuration() {
    let mut a = with_view(false);
    let screen_area = Rect::new(0, 0, 120, 40);
    let msg = Msg::Keys(vec![Some(5); 5], vec![Some(0), Some(2), None, None, None]);
    on_msg(&mut a, msg, screen_area).expect("handled");
    assert_eq!(a.hints, vec![Some(0), Some(2), None, None, None]);
    assert_eq!(a.keys, vec![Some(5); 5]);
    let mut servers = config().servers;
    servers.push(ServerSpec::new(Ipv4Addr::LOCALHOST, 1239, 2));
    a.set_config(std::sync::Arc::new(
        crate::config::ClusterConfig::from_servers(servers).expect("config"),
    ));
    assert!(a.hints.is_empty() && a.keys.is_empty());
}

#[test]
fn a_big_ring_folds_its_sides_into_runs() {
    let servers: Vec<ServerSpec> = (0..64u16)
        .map(|i| ServerSpec::new(Ipv4Addr::LOCALHOST, 5000 + i, 1))
        .collect();
    let states = vec![Some(ServerState::Up); 64];
    let sides: Vec<Option<char>> = (0..64)
        .map(|i| match i {
            0..30 => Some('A'),
            63 => None,
            _ => Some('B'),
        })
        .collect();
    let t = Theme::new(ThemeKind::Default);
    let lines: Vec<String> = server_legend(&servers, &states, &sides, t, 40, 2)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(lines, vec!["●1–64 up [A] 1–30 [B] 31–63"]);
    // Room enough: each server's own token carries its side.
    let full = server_legend(&servers[..3], &states, &sides, t, 80, 2);
    assert_eq!(full.len(), 1);
    assert_eq!(full[0].to_string(), "●1:5000 [A] ●2:5001 [A] ●3:5002 [A]");
    // No cut: the legend as it always was.
    let plain = server_legend(&servers[..3], &states, &[], t, 80, 2);
    assert_eq!(plain[0].to_string(), "●1:5000 ●2:5001 ●3:5002");
}
