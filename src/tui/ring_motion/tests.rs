//! An operation travelling on the ring and its timeline strip: whole screens
//! rendered with `TestBackend` from a hand-built trace (a refusal, two
//! counted replies, a late one that is read-repaired, a silent server),
//! mid-playback and at its end, in the default and monochrome themes.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::config::{ClusterConfig, ServerSpec};
use crate::quorum::Quorum;
use crate::repl::Motion;
use crate::ring::Ring;
use crate::supervisor::{ServerState, ServerStatus};
use crate::trace::{OpKind, ReplicaTrace, Reply, Trace, Verdict};
use crate::version::Version;

use super::super::app::{App, LogSnapshot};
use super::super::draw;
use super::super::theme::{Theme, ThemeKind};
use super::MotionFrame;

fn config() -> ClusterConfig {
    let servers = [(1234, 3), (1235, 2), (1236, 2), (1237, 1), (1238, 1)]
        .into_iter()
        .map(|(port, nodes)| ServerSpec::new(Ipv4Addr::LOCALHOST, port, nodes))
        .collect();
    ClusterConfig::from_servers(servers).unwrap()
}

/// A get of `a` with N=5 R=2 on the ring's real preference list: the 1st
/// replica refuses (0.20 ms), the 2nd and 3rd return the value (0.30 and
/// 0.45 ms: the quorum), the 4th returns an older one late (0.70 ms) and
/// is read-repaired, the 5th never answers.
fn get_trace() -> Trace {
    let c = config();
    let placement = Ring::new(&c).placement(b"a", 5);
    let plan: [(Option<Reply>, Option<u64>, bool); 5] = [
        (Some(Reply::Refused(None)), Some(200), false),
        (Some(Reply::Value(b"b".to_vec())), Some(300), true),
        (Some(Reply::Value(b"b".to_vec())), Some(450), true),
        (Some(Reply::Value(b"old".to_vec())), Some(700), false),
        (Some(Reply::Timeout), None, false),
    ];
    let replicas = placement
        .replicas
        .iter()
        .zip(plan)
        .enumerate()
        .map(|(k, (r, (reply, us, counted)))| {
            let mut t = ReplicaTrace::new(
                r.server,
                c.servers[r.server].addr(),
                r.ring_index,
                r.node_number,
            );
            t.reply = reply;
            t.latency = us.map(Duration::from_micros);
            t.counted = counted;
            t.repair = (k == 3).then_some(Version::ZERO);
            t
        })
        .collect();
    Trace {
        kind: OpKind::Get,
        key: b"a".to_vec(),
        written: None,
        quorum: Quorum { n: 5, w: 3, r: 2 },
        replicas,
        verdict: Verdict::Reached,
        value: Some(b"b".to_vec()),
        decided_after: Some(Duration::from_micros(450)),
        finished: true,
        version: None,
        restamps: Vec::new(),
    }
}

fn motion() -> Motion {
    Motion {
        trace: get_trace(),
        step_ms: 100,
        hints: Vec::new(),
    }
}

/// A screen whose playback of [`motion`] began `at_ms` ago.
fn app(kind: ThemeKind, at_ms: u64) -> App {
    let start = Instant::now();
    let now = start + Duration::from_millis(at_ms);
    let mut a = App::new(Arc::new(config()), Theme::new(kind), start);
    let statuses = config()
        .servers
        .iter()
        .enumerate()
        .map(|(i, spec)| ServerStatus {
            index: i,
            spec: spec.clone(),
            managed: true,
            pid: Some(4100 + i as u32),
            state: ServerState::Up,
            last_answer: Some(now - Duration::from_millis(200)),
            last_exit: None,
            badge: None,
        })
        .collect();
    a.set_snapshot(statuses, Vec::new(), LogSnapshot::default(), now);
    a.on_motion(motion(), start);
    a
}

fn screen(a: &App, w: u16, h: u16) -> String {
    crate::tui::draw::test_screen(a, w, h)
}

#[test]
fn mid_playback_a_late_reply_travels_back_after_the_quorum() {
    // 375 ms: the quorum was reached at 300, the 4th reply is half way.
    let a = app(ThemeKind::Default, 375);
    let f = a.motion_frame().unwrap();
    assert_eq!(f.centre_text(), ("✓ R=2".to_string(), Some(true)));
    assert_eq!(a.timeline_upto(), Some(3));
    let s80 = screen(&a, 80, 24);
    assert!(
        s80.contains("✓ R=2") && s80.contains('∘') && s80.contains('✗'),
        "{s80}"
    );
    insta::assert_snapshot!("motion_mid_80x24", s80);
    insta::assert_snapshot!("motion_mid_120x40", screen(&a, 120, 40));
}

#[test]
fn at_the_end_every_outcome_has_its_glyph_in_every_theme() {
    for (kind, name) in [(ThemeKind::Default, "default"), (ThemeKind::Mono, "mono")] {
        let a = app(kind, 650);
        assert_eq!(a.timeline_upto(), None);
        let s = screen(&a, 120, 40);
        for glyph in ['✓', '∘', '✗', '⌛', '↻'] {
            assert!(s.contains(glyph), "{name}: {glyph} missing\n{s}");
        }
        assert!(s.contains("quorum 0.45 ms"), "{name}\n{s}");
        insta::assert_snapshot!(format!("motion_end_{name}_120x40"), s);
    }
    insta::assert_snapshot!(
        "motion_end_mono_80x24",
        screen(&app(ThemeKind::Mono, 650), 80, 24)
    );
}

#[test]
fn monochrome_playback_uses_no_colour() {
    let a = app(ThemeKind::Mono, 375);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    term.draw(|f| {
        draw::render(&a, f.area(), f.buffer_mut());
    })
    .unwrap();
    let buf = term.backend().buffer();
    for cell in buf.content() {
        assert!(matches!(cell.fg, Color::Reset), "{cell:?}");
    }
}

#[test]
fn playbacks_queue_hold_and_end() {
    let mut a = app(ThemeKind::Default, 0);
    let start = a.now;
    // A second operation arriving mid-playback starts when the first ends
    // (the first lasts 6 steps: 5 events and the repair).
    a.on_motion(motion(), start + Duration::from_millis(50));
    assert_eq!(a.motions.len(), 2);
    assert_eq!(a.motions[1].start, start + Duration::from_millis(600));
    assert_eq!(a.motion_tick(start), Some(super::super::app::FRAME));
    a.now = start + Duration::from_millis(650);
    let f = a.motion_frame().unwrap();
    assert!((f.at_ms - 50.0).abs() < 1e-6, "{}", f.at_ms);
    // After the last one and its hold, nothing is drawn and the tick slows.
    let end = start + Duration::from_millis(1200);
    a.now = end + super::super::app::HOLD;
    assert!(a.motion_frame().is_none());
    assert_eq!(a.motion_tick(a.now), None);
    assert!(a.last_op.is_some(), "the strip keeps the last operation");
}

#[test]
fn frames_count_the_replies_before_the_verdict() {
    let m = motion();
    let f = MotionFrame::new(&m, 250.0);
    assert_eq!(f.counted_so_far(), 1);
    assert_eq!(f.centre_text(), ("R=2 1/2".to_string(), None));
}
