//! Snapshot tests of whole screens, rendered with ratatui's `TestBackend`
//! from fabricated state (no network, no processes, no real clock in the
//! text), at the minimum size 80×24 and at 120×40.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::{ClusterConfig, ServerSpec};
use crate::quorum::Quorum;
use crate::repl::{LineOutcome, ReplEvent, View, WhatIfReport, format_trace};
use crate::ring::Ring;
use crate::supervisor::{LogEvent, ServerState, ServerStatus};
use crate::trace::{OpKind, ReplicaTrace, Reply, Trace, Verdict};

use super::app::{Action, App};
use super::draw;
use super::ring_view::moved_samples;
use super::theme::{Theme, ThemeKind};

mod partition;

fn config() -> ClusterConfig {
    let servers = [(1234, 3), (1235, 2), (1236, 2), (1237, 1), (1238, 1)]
        .into_iter()
        .map(|(port, nodes)| ServerSpec::new(Ipv4Addr::LOCALHOST, port, nodes))
        .collect();
    ClusterConfig::from_servers(servers).unwrap()
}

fn statuses(now: Instant, down: Option<usize>) -> Vec<ServerStatus> {
    config()
        .servers
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let is_down = down == Some(i);
            ServerStatus {
                index: i,
                spec: spec.clone(),
                managed: true,
                pid: (!is_down).then_some(4100 + i as u32),
                state: if is_down {
                    ServerState::Down
                } else {
                    ServerState::Up
                },
                last_answer: Some(
                    now - Duration::from_millis(if is_down {
                        12_400
                    } else {
                        300 + 100 * i as u64
                    }),
                ),
                last_exit: is_down.then(|| "killed by SIGKILL".to_string()),
                badge: None,
            }
        })
        .collect()
}

fn events(down: Option<usize>) -> Vec<LogEvent> {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_764_072_000);
    let mut ev: Vec<LogEvent> = (0..5)
        .map(|i| LogEvent {
            at: t0 + Duration::from_millis(10 * i as u64),
            server: Some(i),
            text: format!("127.0.0.1:{} started (pid {})", 1234 + i, 4100 + i),
        })
        .collect();
    for i in 0..5 {
        ev.push(LogEvent {
            at: t0 + Duration::from_millis(300 + 10 * i as u64),
            server: Some(i),
            text: format!("127.0.0.1:{} starting → up", 1234 + i),
        });
    }
    if let Some(d) = down {
        ev.push(LogEvent {
            at: t0 + Duration::from_secs(42),
            server: Some(d),
            text: format!("127.0.0.1:{} exited: killed by SIGKILL", 1234 + d),
        });
    }
    ev
}

/// A fixed stand-in for the shell's trace text, so the snapshots show the
/// layout and do not change when the wording of `repl::format` does (the
/// real formatter is checked by `live_trace_uses_the_shell_text`).
fn fixed_trace_text(t: &Trace, _: &ClusterConfig) -> Vec<String> {
    let mut lines: Vec<String> = t
        .replicas
        .iter()
        .map(|r| {
            format!(
                "  [{}] {:<21} node {} #{}  {:<10} {:>8}  {}",
                r.server + 1,
                r.addr.to_string(),
                r.node_number,
                r.ring_index,
                r.reply.as_ref().map_or("…".to_string(), |x| x.to_string()),
                r.latency.map_or("—".to_string(), |l| format!(
                    "{:.2} ms",
                    l.as_secs_f64() * 1e3
                )),
                if r.counted { "counted" } else { "" }
            )
        })
        .collect();
    lines.push(match t.verdict {
        Verdict::Reached => format!("OK — W={} reached", t.quorum.w),
        _ => format!(
            "… — W={}: {} of {} so far",
            t.quorum.w,
            t.counted(),
            t.quorum.w
        ),
    });
    lines
}

/// Twelve seconds of operation totals: server `i` serves about
/// `10 * (5 - i)` operations a second with a bump in the middle; the down
/// server stops answering for the last four.
fn feed_rates(a: &mut App, now: Instant, down: Option<usize>) {
    let t0 = now - Duration::from_secs(13);
    let mut totals = [0u64; 5];
    for s in 0..13u64 {
        let polled: Vec<Option<super::rates::Reading>> = (0..5)
            .map(|i| {
                totals[i] += (10 * (5 - i) as u64) * if (5..8).contains(&s) { 3 } else { 1 };
                (down != Some(i) || s < 9).then_some(super::rates::Reading {
                    operations: totals[i],
                    probes: 0,
                })
            })
            .collect();
        a.on_rates(t0 + Duration::from_secs(s), &polled);
    }
}

fn app(down: Option<usize>) -> App {
    let now = Instant::now();
    let mut a = App::new(Arc::new(config()), Theme::new(ThemeKind::Default), now);
    a.trace_text = fixed_trace_text;
    feed_rates(&mut a, now, down);
    a.set_snapshot(
        statuses(now, down),
        events(down),
        super::app::LogSnapshot {
            server: 0,
            lines: vec![
                "INFO dkvs::server: listening on 127.0.0.1:1234".to_string(),
                "DEBUG dkvs::server: put \"a\" (1 bytes)".to_string(),
            ],
            total: 2,
        },
        now,
    );
    a
}

/// The put of `a` = `b` with N=4 W=3 on the fabricated ring: `answered`
/// replies so far.
fn put_trace(answered: usize) -> Trace {
    let c = config();
    let ring = Ring::new(&c);
    let placement = ring.placement(b"a", 4);
    let replicas: Vec<ReplicaTrace> = placement
        .replicas
        .iter()
        .enumerate()
        .map(|(k, r)| ReplicaTrace {
            server: r.server,
            addr: c.servers[r.server].addr(),
            ring_index: r.ring_index,
            node_number: r.node_number,
            reply: (k < answered).then_some(Reply::Stored),
            latency: (k < answered).then(|| Duration::from_micros(310 + 40 * k as u64)),
            counted: k < answered && k < 3,
            dialect: None,
            version: None,
            repair: None,
            hint_for: None,
        })
        .collect();
    let done = answered >= 3;
    Trace {
        kind: OpKind::Put,
        key: b"a".to_vec(),
        written: Some(b"b".to_vec()),
        quorum: Quorum { n: 4, w: 3, r: 2 },
        replicas,
        verdict: if done {
            Verdict::Reached
        } else {
            Verdict::Pending
        },
        value: None,
        decided_after: done.then(|| Duration::from_micros(390)),
        finished: answered >= 4,
        version: None,
        restamps: Vec::new(),
    }
}

fn focus_view(key: &[u8], n: usize) -> View {
    let ring = Ring::new(&config());
    View {
        focus_key: Some((key.to_vec(), ring.placement(key, n))),
        whatif: None,
        slow_ms: None,
        lesson: None,
        net: None,
    }
}

fn run_line(a: &mut App, line: &str) -> u64 {
    for c in line.chars() {
        a.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    match a.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)) {
        Action::Run { id, .. } => id,
        other => panic!("{other:?}"),
    }
}

fn screen(a: &App, w: u16, h: u16) -> String {
    crate::tui::draw::test_screen(a, w, h)
}

fn both(name: &str, a: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(a, 80, 24));
    insta::assert_snapshot!(format!("{name}_120x40"), screen(a, 120, 40));
}

#[test]
fn all_up() {
    both("all_up", &app(None));
}

#[test]
fn one_server_down() {
    let mut a = app(Some(2));
    let now = a.now;
    a.set_snapshot(
        statuses(now, Some(2)),
        events(Some(2)),
        Default::default(),
        now,
    );
    a.selected = 2;
    a.focus = super::app::Focus::Servers;
    both("one_down", &a);
}

#[test]
fn put_trace_shown() {
    let mut a = app(None);
    // A finished put: the interpreter's final lines.
    let id = run_line(&mut a, "put a b n=4 w=3");
    let done = put_trace(4);
    a.on_repl_event(id, ReplEvent::Trace(Box::new(put_trace(2))));
    for l in fixed_trace_text(&done, &a.config) {
        a.on_repl_event(id, ReplEvent::Line(l));
    }
    a.on_line_done(
        id,
        LineOutcome {
            ok: true,
            quit: false,
        },
        focus_view(b"a", 4),
    );
    // A second one still running: its live preview.
    let id2 = run_line(&mut a, "put a b n=4 w=3");
    a.on_repl_event(id2, ReplEvent::Trace(Box::new(put_trace(1))));
    a.on_repl_event(id2, ReplEvent::Trace(Box::new(put_trace(2))));
    let e = a.entries.back().unwrap();
    assert_eq!(e.chunks.len(), 1, "snapshots replace each other");
    let e1 = &a.entries[0];
    assert!(
        e1.chunks
            .iter()
            .all(|c| matches!(c, super::app::Chunk::Line(_))),
        "previews are dropped when the final lines come"
    );
    both("put_trace", &a);
}

#[test]
fn live_trace_uses_the_shell_text() {
    let mut a = app(None);
    a.trace_text = format_trace;
    let id = run_line(&mut a, "put a b n=4 w=3");
    a.on_repl_event(id, ReplEvent::Trace(Box::new(put_trace(2))));
    let want = format_trace(&put_trace(2), &a.config);
    let got: Vec<&str> = a.entries.back().unwrap().lines().collect();
    assert_eq!(got, want);
    let screen = screen(&a, 120, 40);
    for line in &want {
        let squeezed = draw::squeeze(line);
        let head: String = squeezed.trim().chars().take(30).collect();
        assert!(screen.contains(&head), "{head:?} not on screen:\n{screen}");
    }
}

/// Log lines as a spawned server writes them (timestamp, level, fields).
fn server_log_lines() -> Vec<String> {
    let mut lines = vec!["── dkvs-tui: spawned pid 4100 ──".to_string()];
    lines.push(
        "2026-11-25T18:20:00.123456Z  INFO serving addr=127.0.0.1:1234 pairs=0 allow=0.0.0.0/0 \
         allow_dump=127.0.0.0/8 max_memory=1073741824 reply_rate=0 reply_burst=0"
            .to_string(),
    );
    for i in 0..30 {
        lines.push(format!(
            "2026-11-25T18:20:{:02}.5Z DEBUG refused put error=value too long ({i})",
            i + 1
        ));
    }
    lines.push("2026-11-25T18:21:00.000001Z  WARN puts refused: disk full".to_string());
    lines
}

#[test]
fn server_log_in_the_big_pane() {
    let mut a = app(None);
    let now = a.now;
    let lines = server_log_lines();
    let total = lines.len() as u64;
    a.set_snapshot(
        statuses(now, None),
        events(None),
        super::app::LogSnapshot {
            server: 0,
            lines,
            total,
        },
        now,
    );
    run_line(&mut a, "get a");
    a.focus = super::app::Focus::Servers;
    a.handle_key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::NONE));
    both("log_view", &a);
    let text = screen(&a, 120, 40);
    // The tail is shown, timestamps as the time of day with milliseconds.
    assert!(
        text.contains("18:21:00.000  WARN puts refused: disk full"),
        "{text}"
    );
    assert!(!text.contains("2026-11-25T"), "{text}");
    // The results moved to the small pane.
    assert!(text.contains("> get a (running…)"), "{text}");
    // Scrolled back to the top: the long line wraps, nothing is lost.
    for _ in 0..5 {
        a.handle_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
    }
    let text = screen(&a, 120, 40);
    assert!(text.contains("spawned pid 4100"), "{text}");
    assert!(text.contains("reply_burst=0"), "{text}");
    assert!(text.contains("newer lines (PgDn)"), "{text}");
    // In the small pane long lines are cut with an ellipsis.
    a.handle_key(KeyEvent::new(KeyCode::F(4), KeyModifiers::NONE));
    let text = screen(&a, 80, 24);
    assert!(
        text.lines()
            .any(|l| l.contains("WARN puts refused") && l.contains('…')),
        "{text}"
    );
}

#[test]
fn sparklines_show_rates_and_dashes() {
    let a = app(Some(2));
    let text = screen(&a, 120, 40);
    let row = |n: usize| {
        text.lines()
            .find(|l| l.contains(&format!(" {n}  127.0.0.1:{}", 1233 + n)))
            .unwrap_or_else(|| panic!("row {n}:\n{text}"))
            .to_string()
    };
    assert!(text.contains("ops/s"), "{text}");
    // Server 1: 50 ops/s now, a taller bump a few seconds ago.
    assert!(
        row(1).contains("█")
            && row(1)
                .trim_end_matches(['"', '│'])
                .trim_end()
                .ends_with("50"),
        "{}",
        row(1)
    );
    assert!(
        row(5)
            .trim_end_matches(['"', '│'])
            .trim_end()
            .ends_with("10"),
        "{}",
        row(5)
    );
    assert!(row(3).contains('—') && !row(3).contains('█'), "{}", row(3));
    // At 80 columns the sparkline stays, without the number.
    let narrow = screen(&a, 80, 24);
    assert!(
        narrow.contains("ops/s") || narrow.contains("ops/"),
        "{narrow}"
    );
}

/// Key counts (STATS `keys`) show in their own column once known; a
/// membership change (`set_config`) redraws the list and the ring.
#[test]
fn key_counts_and_a_new_configuration() {
    let mut a = app(None);
    assert!(!screen(&a, 120, 40).contains("answer keys"));
    a.keys = vec![Some(812), Some(1500), None, Some(0), Some(7)];
    let text = screen(&a, 120, 40);
    assert!(text.contains("answer keys"), "{text}");
    let row = |text: &str, n: usize| {
        text.lines()
            .find(|l| l.contains(&format!(" {n}  127.0.0.1:{}", 1233 + n)))
            .unwrap_or_else(|| panic!("row {n}:\n{text}"))
            .to_string()
    };
    assert!(row(&text, 1).contains("  812 "), "{}", row(&text, 1));
    assert!(row(&text, 2).contains(" 1.5k "), "{}", row(&text, 2));
    assert!(row(&text, 3).contains("   — "), "{}", row(&text, 3));
    // The ops/s figure keeps its room: no keys column at 80 columns.
    assert!(!screen(&a, 80, 24).contains("answer keys"));

    let mut servers = config().servers;
    servers.push(ServerSpec::new(Ipv4Addr::LOCALHOST, 1239, 2));
    a.selected = 4;
    a.set_config(Arc::new(ClusterConfig::from_servers(servers).unwrap()));
    assert_eq!(a.server_count(), 6);
    assert_eq!(a.ring.nodes().len(), 11);
    assert!(a.keys.is_empty());
    let text = screen(&a, 120, 40);
    assert!(text.contains("127.0.0.1:1239"), "{text}");
    let mut fewer = config().servers;
    fewer.truncate(3);
    a.set_config(Arc::new(ClusterConfig::from_servers(fewer).unwrap()));
    assert_eq!(a.selected, 2);
    assert!(!screen(&a, 120, 40).contains("127.0.0.1:1239"));
}

#[test]
fn help_open() {
    let mut a = app(None);
    a.handle_key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE));
    both("help", &a);
}

#[test]
fn whatif_shown() {
    let mut a = app(None);
    let c = config();
    let mut servers = c.servers.clone();
    servers.push(ServerSpec::new(Ipv4Addr::LOCALHOST, 1239, 2));
    let ring = Ring::from_servers(&servers);
    let samples = moved_samples(&Ring::new(&c), &c.servers, &ring, &servers, 3, 1000);
    let moved = samples.iter().filter(|m| **m).count() as f64 / 1000.0;
    let id = run_line(&mut a, "whatif add 127.0.0.1:1239 nodes=2");
    let lines = vec![
        "whatif add 127.0.0.1:1239 nodes=2".to_string(),
        format!("{:.1}% of the key space would change owners", moved * 100.0),
    ];
    for l in &lines {
        a.on_repl_event(id, ReplEvent::Line(l.clone()));
    }
    let view = View {
        focus_key: None,
        whatif: Some(WhatIfReport {
            title: "whatif add 127.0.0.1:1239 nodes=2".into(),
            ring,
            servers,
            moved_fraction: moved,
            stored_keys: Some((1, 2)),
            lines,
        }),
        slow_ms: None,
        lesson: None,
        net: None,
    };
    a.on_line_done(
        id,
        LineOutcome {
            ok: true,
            quit: false,
        },
        view,
    );
    both("whatif", &a);
}

#[test]
fn too_small() {
    let a = app(None);
    let text = screen(&a, 79, 24);
    assert!(text.contains("terminal too small (need 80×24)"), "{text}");
    insta::assert_snapshot!("too_small_79x24", text);
    insta::assert_snapshot!("too_small_60x10", screen(&a, 60, 10));
    // Degenerate sizes draw without panicking.
    for (w, h) in [(0, 0), (1, 1), (80, 1), (1, 24), (200, 3), (80, 0)] {
        let area = ratatui::layout::Rect::new(0, 0, w, h);
        let mut buf = ratatui::buffer::Buffer::empty(area);
        draw::render(&a, area, &mut buf);
    }
}

#[test]
fn every_theme_and_size_renders() {
    let mut a = app(Some(1));
    let id = run_line(&mut a, "get a");
    a.on_repl_event(id, ReplEvent::Trace(Box::new(put_trace(3))));
    a.on_line_done(
        id,
        LineOutcome {
            ok: true,
            quit: false,
        },
        focus_view(b"a", 3),
    );
    for kind in [ThemeKind::Default, ThemeKind::HighContrast, ThemeKind::Mono] {
        a.set_theme(kind);
        for (w, h) in [
            (80, 24),
            (81, 25),
            (100, 30),
            (120, 40),
            (200, 60),
            (300, 80),
        ] {
            let s = screen(&a, w, h);
            assert!(s.contains("Servers"), "{kind:?} {w}x{h}");
        }
    }
}

#[test]
fn monochrome_screen_has_no_colour() {
    let mut a = app(Some(2));
    a.set_theme(ThemeKind::Mono);
    a.view = focus_view(b"a", 4);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    term.draw(|f| {
        draw::render(&a, f.area(), f.buffer_mut());
    })
    .unwrap();
    let buf = term.backend().buffer();
    for cell in buf.content() {
        assert!(
            matches!(cell.fg, ratatui::style::Color::Reset),
            "colour {:?} at {:?}",
            cell.fg,
            cell.symbol()
        );
    }
    // States are readable without colour: glyph and word.
    let text = term.backend().to_string();
    assert!(text.contains("✖ down"), "{text}");
    assert!(text.contains("● up"));
}

#[test]
fn ring_marks_the_down_server_and_the_key() {
    let mut a = app(Some(2));
    a.view = focus_view(b"a", 4);
    let text = screen(&a, 120, 40);
    let ring_part: String = text
        .lines()
        .map(|l| l.chars().take(44).collect::<String>() + "\n")
        .collect();
    assert!(ring_part.contains('✖'), "{ring_part}");
    assert!(ring_part.contains('◆'), "{ring_part}");
    assert!(
        ring_part.contains("#1") && ring_part.contains("#4"),
        "{ring_part}"
    );
}

#[test]
fn a_big_cluster_scrolls_the_list_and_still_draws_the_ring() {
    let servers: Vec<ServerSpec> = (0..30)
        .map(|i| ServerSpec::new(Ipv4Addr::new(10, 0, 0, i + 1), 4000, 2))
        .collect();
    let c = ClusterConfig::from_servers(servers).unwrap();
    let now = Instant::now();
    let mut a = App::new(Arc::new(c), Theme::new(ThemeKind::Default), now);
    a.focus = super::app::Focus::Servers;
    for _ in 0..27 {
        a.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    }
    assert_eq!(a.selected, 27);
    a.view = View {
        focus_key: Some((b"k".to_vec(), a.ring.placement(b"k", 3))),
        whatif: None,
        slow_ms: None,
        lesson: None,
        net: None,
    };
    let text = screen(&a, 120, 40);
    assert!(text.contains("▶ 28 "), "selected row visible:\n{text}");
    assert!(text.contains("10.0.0.28:4000"), "{text}");
    assert!(text.contains("#1") && text.contains('◆'), "{text}");
}

#[test]
fn several_traces_of_one_line_each_get_a_preview_until_the_final_lines() {
    let mut a = app(None);
    let id = run_line(&mut a, "cat a a b");
    a.on_repl_event(id, ReplEvent::Trace(Box::new(put_trace(1))));
    a.on_repl_event(id, ReplEvent::Trace(Box::new(put_trace(4))));
    // The first operation is finished: the next trace starts a new preview.
    a.on_repl_event(id, ReplEvent::Trace(Box::new(put_trace(2))));
    let chunks = &a.entries.back().unwrap().chunks;
    assert_eq!(chunks.len(), 2);
    assert!(matches!(
        chunks[0],
        super::app::Chunk::Trace { finished: true, .. }
    ));
    assert!(matches!(
        chunks[1],
        super::app::Chunk::Trace {
            finished: false,
            ..
        }
    ));
    a.on_repl_event(id, ReplEvent::Line("OK".into()));
    let e = a.entries.back().unwrap();
    assert_eq!(e.lines().collect::<Vec<_>>(), vec!["OK"]);
    // The results pane shows the command, its output, and the running tag.
    let text = screen(&a, 120, 40);
    assert!(text.contains("> cat a a b (running…)"), "{text}");
    a.on_line_done(
        id,
        LineOutcome {
            ok: true,
            quit: false,
        },
        View::default(),
    );
    let text = screen(&a, 120, 40);
    assert!(
        text.contains("> cat a a b ") && !text.contains("running…"),
        "{text}"
    );
}

/// Step `step` of lesson 1 as the runner shows it: the key `a` in focus,
/// asking for `where apple` (met or not), or nothing to type.
fn lesson_app(step: usize, expect: Option<&str>, met: bool, long: bool) -> App {
    let mut a = app(None);
    let id = run_line(&mut a, "lesson 1");
    a.on_repl_event(id, ReplEvent::Line("lesson 1: The ring and hashing".into()));
    let mut text = vec![
        "Every key is hashed with SHA-1 to a point on the circle: the ◆ on the ring. The first \
         virtual node clockwise from it is the key's home, its first replica."
            .to_string(),
        "The walk then goes on clockwise, skipping nodes of servers already chosen, until it \
         has N different servers: the preference list."
            .to_string(),
    ];
    if long {
        text.push(
            "A server with more virtual nodes owns more arcs of the circle, so more keys. Look \
             at the colours of the arcs: each is the colour of the server whose node ends it, \
             the key's primary for every key in that arc. This paragraph is far too long for \
             the panel at 80 columns and is cut."
                .to_string(),
        );
    }
    let mut view = focus_view(b"a", 3);
    view.lesson = Some(crate::repl::LessonView {
        title: "The ring and hashing".into(),
        step,
        steps: 5,
        heading: "Where does a key go?".into(),
        text,
        expect: expect.map(String::from),
        expect_met: met,
    });
    a.on_line_done(
        id,
        LineOutcome {
            ok: true,
            quit: false,
        },
        view,
    );
    a
}

fn three_sizes(name: &str, a: &App) {
    both(name, a);
    insta::assert_snapshot!(format!("{name}_200x60"), screen(a, 200, 60));
}

#[test]
fn lesson_waiting_for_a_command() {
    let a = lesson_app(2, Some("where apple"), false, false);
    three_sizes("lesson_expect", &a);
    let text = screen(&a, 80, 24);
    assert!(
        text.contains("Lesson: The ring and hashing · step 2/5"),
        "{text}"
    );
    assert!(text.contains("▶ type: where apple"), "{text}");
    assert!(
        text.contains(" Enter next ⌫ back Esc leave lesson"),
        "{text}"
    );
    // With text in the line, Enter runs it again.
    let mut b = a.clone();
    b.handle_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE));
    assert!(screen(&b, 80, 24).contains(" Enter run "));
    // Every theme and size, the command always in sight.
    for kind in [ThemeKind::Default, ThemeKind::HighContrast, ThemeKind::Mono] {
        b.set_theme(kind);
        for (w, h) in [
            (80, 24),
            (81, 25),
            (100, 30),
            (119, 35),
            (160, 50),
            (300, 80),
        ] {
            let s = screen(&b, w, h);
            assert!(s.contains("▶ type: where apple"), "{kind:?} {w}x{h}\n{s}");
            assert!(
                s.contains("Servers") && s.contains("Results"),
                "{kind:?} {w}x{h}"
            );
        }
    }
}

#[test]
fn lesson_command_done() {
    let a = lesson_app(2, Some("where apple"), true, false);
    three_sizes("lesson_met", &a);
    assert!(screen(&a, 80, 24).contains("✓ done — Enter for the next step"));
}

#[test]
fn lesson_last_step_without_a_command() {
    let a = lesson_app(5, None, true, true);
    three_sizes("lesson_last", &a);
    let text = screen(&a, 80, 24);
    assert!(text.contains("Enter finishes the lesson"), "{text}");
    assert!(text.contains('…'), "too long: cut\n{text}");
    // Everything fits at 200×60.
    assert!(screen(&a, 200, 60).contains("cut."));
}

#[test]
fn lesson_with_the_log_in_the_big_pane_keeps_the_results() {
    let mut a = lesson_app(2, Some("where apple"), false, false);
    a.toggle_log();
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let text = screen(&a, w, h);
        assert!(text.contains("> lesson 1"), "{w}x{h}\n{text}");
        assert!(text.contains("▶ type: where apple"), "{w}x{h}\n{text}");
    }
    insta::assert_snapshot!("lesson_log_view_80x24", screen(&a, 80, 24));
}
