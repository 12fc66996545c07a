//! The warp of an operation's time and its time line, on traces built by
//! hand.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::*;
use crate::quorum::Quorum;
use crate::trace::{OpKind, ReplicaTrace, Reply, Trace, Verdict};
use crate::version::Version;

fn replica(server: usize, reply: Option<Reply>, us: Option<u64>, counted: bool) -> ReplicaTrace {
    let mut r = ReplicaTrace::new(
        server,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1234 + server as u16),
        server * 2,
        1,
    );
    r.reply = reply;
    r.latency = us.map(Duration::from_micros);
    r.counted = counted;
    r
}

fn trace(kind: OpKind, n: usize, needed: usize, replicas: Vec<ReplicaTrace>) -> Trace {
    let counted = replicas.iter().filter(|r| r.counted).count();
    Trace {
        kind,
        key: b"a".to_vec(),
        written: (kind == OpKind::Put).then(|| b"b".to_vec()),
        quorum: Quorum {
            n,
            w: needed,
            r: needed,
        },
        replicas,
        verdict: if counted >= needed {
            Verdict::Reached
        } else {
            Verdict::Failed(crate::trace::Failure::NotEnough)
        },
        value: None,
        decided_after: None,
        finished: true,
        version: None,
        restamps: Vec::new(),
    }
}

/// A put with N=5 W=2: a refusal first, two acks (the quorum at the
/// second), a late ack, a silent server.
pub(crate) fn mixed_put() -> Trace {
    let mut t = trace(
        OpKind::Put,
        5,
        2,
        vec![
            replica(0, Some(Reply::Stored), Some(300), true),
            replica(1, Some(Reply::Refused(None)), Some(200), false),
            replica(2, Some(Reply::Stored), Some(500), true),
            replica(3, Some(Reply::Stored), Some(900), false),
            replica(4, Some(Reply::Timeout), None, false),
        ],
    );
    t.decided_after = Some(Duration::from_micros(500));
    t
}

#[test]
fn replies_land_in_latency_order_and_timeouts_last() {
    let s = schedule(&mixed_put(), &[]);
    let got: Vec<(usize, Outcome, usize)> = s
        .flights
        .iter()
        .map(|f| (f.server, f.outcome, f.rank))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Outcome::Refused, 1),
            (0, Outcome::Counted, 2),
            (2, Outcome::Counted, 3),
            (3, Outcome::Late, 4),
            (4, Outcome::Timeout, 5),
        ]
    );
    assert_eq!(s.quorum_rank, Some(3));
    assert_eq!(s.decided_rank, 3);
    assert_eq!(s.end_rank, 5);
    assert_eq!(s.quorum_at, Some(Duration::from_micros(500)));
    assert_eq!(s.end_at, Duration::from_micros(900));
    assert_eq!(s.replies(), 4);
    assert_eq!(s.verdict_text(), "✓ W=2");
}

#[test]
fn the_warp_spaces_events_one_step_apart() {
    let s = schedule(&mixed_put(), &[]);
    let step = 100.0;
    let req = s.request_window(step);
    assert_eq!((req.from, req.to), (0.0, 50.0));
    assert_eq!(req.progress(25.0), Some(0.5));
    assert_eq!(req.progress(50.0), None);
    let back = s.reply_window(3, step);
    assert_eq!((back.from, back.to), (250.0, 300.0));
    assert_eq!(back.progress(275.0), Some(0.5));
    assert_eq!(s.quorum_ms(step), Some(300.0));
    assert_eq!(s.decided_ms(step), 300.0);
    // No repairs nor hints: the playback ends with the timeouts.
    assert_eq!(s.total_ms(step), 500.0);
    // Every reply leaves after the requests arrived, and lands in order.
    let mut previous = 0.0;
    for f in &s.flights {
        let w = s.reply_window(f.rank, step);
        assert!(w.from >= req.to, "{f:?}");
        assert!(w.to >= previous, "{f:?}");
        previous = w.to;
    }
}

#[test]
fn a_stale_get_is_repaired_after_the_verdict_and_hints_follow() {
    let mut stale = replica(2, Some(Reply::Value(b"old".to_vec())), Some(150), false);
    stale.repair = Some(Version::ZERO);
    let t = trace(
        OpKind::Get,
        3,
        2,
        vec![
            replica(0, Some(Reply::Value(b"b".to_vec())), Some(200), true),
            replica(1, Some(Reply::Value(b"b".to_vec())), Some(400), true),
            stale,
        ],
    );
    let mut holder = replica(3, Some(Reply::Stored), Some(100), true);
    holder.hint_for = Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1236));
    let s = schedule(&t, &[holder]);
    // The stale value came first and did not count: not late, ignored.
    assert_eq!(s.flights[0].outcome, Outcome::Ignored);
    assert_eq!(s.name, "R");
    assert_eq!(s.quorum_rank, Some(3));
    assert_eq!(
        s.after,
        vec![
            After {
                kind: AfterKind::Repair,
                server: 2,
                ring_index: 4
            },
            After {
                kind: AfterKind::Hint,
                server: 3,
                ring_index: 6
            }
        ]
    );
    let w = s.after_window(100.0);
    assert_eq!((w.from, w.to), (300.0, 400.0));
    assert_eq!(s.total_ms(100.0), 400.0);
    assert_eq!(after_text(&s), "read repair ↻ 3 · hint ↪ 4");
}

#[test]
fn a_failed_write_is_decided_by_its_last_reply_or_the_deadline() {
    let mut t = trace(
        OpKind::Put,
        3,
        3,
        vec![
            replica(0, Some(Reply::Stored), Some(100), true),
            replica(1, Some(Reply::Refused(None)), Some(200), false),
            replica(2, Some(Reply::Stored), Some(300), true),
        ],
    );
    t.decided_after = Some(Duration::from_micros(200));
    let s = schedule(&t, &[]);
    assert_eq!(s.quorum_rank, None);
    assert_eq!(s.decided_rank, 2);
    // Nothing is late without a quorum.
    assert_eq!(s.flights[2].outcome, Outcome::Counted);
    assert_eq!(s.verdict_text(), "✗ W=3");
    // A timeout decides at the deadline, after every reply.
    let mut t = trace(
        OpKind::Put,
        2,
        2,
        vec![
            replica(0, Some(Reply::Stored), Some(100), true),
            replica(1, None, None, false),
        ],
    );
    t.decided_after = Some(Duration::from_secs(1));
    let s = schedule(&t, &[]);
    assert_eq!((s.decided_rank, s.end_rank), (2, 2));
    assert_eq!(s.flights[1].outcome, Outcome::Timeout);
}

fn text(segments: &[Segment]) -> String {
    segments.iter().map(|s| s.text.as_str()).collect()
}

#[test]
fn the_time_line_marks_replies_at_their_real_time() {
    let s = schedule(&mixed_put(), &[]);
    let rows = timeline_rows(&s, 40, None);
    let marks = text(&rows.marks);
    let axis = text(&rows.axis);
    let labels = text(&rows.labels);
    // The axis takes what the timeout leaves: 40 - "5⌛" (3 cells) - 2.
    assert_eq!(axis.chars().count(), 35);
    // 0.5 of 0.9 ms on 34 columns: column 19.
    assert_eq!(axis.chars().position(|c| c == '┼'), Some(19));
    assert!(
        marks.contains("2✗") && marks.contains("4∘") && marks.ends_with("5⌛"),
        "{marks}"
    );
    assert_eq!(marks.chars().position(|c| c == '3'), Some(19), "{marks}");
    assert!(labels.starts_with('0'), "{labels}");
    assert!(
        labels.contains("quorum 0.50 ms │") && labels.ends_with("0.90 ms"),
        "{labels}"
    );
    // While playing, only what has landed shows.
    let early = timeline_rows(&s, 40, Some(2));
    let marks = text(&early.marks);
    assert!(
        marks.contains("2✗") && marks.contains('1') && !marks.contains('3'),
        "{marks}"
    );
    assert!(!text(&early.axis).contains('┼'));
}

#[test]
fn replay_text_for_the_line_shell() {
    let m = Motion {
        trace: mixed_put(),
        step_ms: 600,
        hints: Vec::new(),
    };
    insta::assert_snapshot!(replay_text(&m).join("\n"));
}
