//! Every piece of REPL text (docs/TUI.md) in one place, so the line shell,
//! piped scripts and the TUI's panes print the very same words: traces and
//! verdicts, `where`, `ring`, `status`, `what-if`, errors.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use crate::commands::{CommandError, Success};
use crate::config::{ClusterConfig, ServerSpec};
use crate::protocol_v2::Dialect;
use crate::ring::{Placement, Ring, Step};
use crate::supervisor::{ServerState, ServerStatus};
use crate::trace::{
    Failure, OpKind, ReplicaTrace, Reply, Trace, Verdict, millis_text, version_text,
};

/// Longest value shown inside a per-server line before it is cut with `…`.
pub const VALUE_PREVIEW: usize = 40;

/// The one line printed for an invalid or failed non-data command.
pub fn error_line(message: impl std::fmt::Display) -> String {
    format!("ERROR: {message}")
}

/// A key or value in double quotes: UTF-8 (lossy), control characters
/// escaped, cut at `max` characters with `…` and its length
/// ([`crate::preview::quoted`], which every message quoting user data uses).
pub fn quoted(bytes: &[u8], max: usize) -> String {
    crate::preview::quoted(bytes, max, crate::preview::Escape::Controls)
}

/// `1st`, `2nd`, `3rd`, `4th`, … `11th`, `21st`.
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Addresses as a list, later ones shortened to `:port` when they share the
/// first one's IP: `127.0.0.1:1234, :1236, :1235`.
pub fn short_addrs(addrs: &[SocketAddrV4]) -> String {
    let Some(first) = addrs.first() else {
        return "no server".into();
    };
    let mut parts = vec![first.to_string()];
    for a in addrs.iter().skip(1) {
        parts.push(short_addr(a, first));
    }
    parts.join(", ")
}

fn short_addr(a: &SocketAddrV4, reference: &SocketAddrV4) -> String {
    if a.ip() == reference.ip() {
        format!(":{}", a.port())
    } else {
        a.to_string()
    }
}

/// A latency in ms with a precision that suits it.
pub fn latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// The age of an answer: `0.3 s ago`, `12 s ago`, `4 min ago`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1} s ago")
    } else if s < 120.0 {
        format!("{s:.0} s ago")
    } else {
        format!("{:.0} min ago", s / 60.0)
    }
}

/// A reply as the REPL's word(s): `stored`, `value "…"`, `not found`,
/// `refused`, `timeout`, or `…` while none has arrived.
pub fn reply_text(reply: Option<&Reply>) -> String {
    match reply {
        None => "…".into(),
        Some(Reply::Value(v)) => format!("value {}", quoted(v, VALUE_PREVIEW)),
        Some(Reply::Invalid(v)) => format!("invalid reply ({} bytes)", v.len()),
        Some(other) => other.to_string(),
    }
}

/// True when a reply is the kind that counted (an ack, or the agreed value)
/// — for a server that did not count, it means it arrived after the verdict.
fn counts_like_winner(trace: &Trace, r: &ReplicaTrace) -> bool {
    if trace.verdict != Verdict::Reached {
        return false;
    }
    match (&r.reply, trace.kind) {
        (Some(r), OpKind::Put | OpKind::Delete) => r.is_ack(),
        (Some(Reply::Value(v)), OpKind::Get) => trace.value.as_ref() == Some(v),
        _ => false,
    }
}

/// A replica's reply in a verdict's explanation, with its version when it
/// answered in v2 (so a stale reply shows why it did not count).
fn reply_short(r: &ReplicaTrace) -> String {
    let text = match &r.reply {
        None => "no answer yet".into(),
        Some(Reply::Timeout) => "timed out".into(),
        Some(Reply::Value(v)) => quoted(v, 12),
        Some(other) => other.to_string(),
    };
    match (r.dialect, r.version) {
        (Some(Dialect::V2), Some(v)) => format!("{text} {}", version_text(v)),
        _ => text,
    }
}

/// `get "a" (N=3 R=2)` / `put "a" (N=4 W=3)`.
pub fn trace_header(trace: &Trace) -> String {
    let q = match trace.kind {
        OpKind::Get => format!("N={} R={}", trace.quorum.n, trace.quorum.r),
        OpKind::Put | OpKind::Delete => format!("N={} W={}", trace.quorum.n, trace.quorum.w),
    };
    format!("{} {} ({q})", trace.kind, quoted(&trace.key, VALUE_PREVIEW))
}

/// One contacted server: position, address, selecting node, reply (with
/// its version, for a v2 reply that has one), latency, counted or not, and
/// the read repair it was sent.
pub fn replica_line(trace: &Trace, r: &ReplicaTrace) -> String {
    let lat = r.latency.map_or_else(|| "—".to_string(), latency);
    let mut reply = reply_text(r.reply.as_ref());
    if r.dialect == Some(Dialect::V2)
        && let Some(v) = r.version
    {
        reply.push(' ');
        reply.push_str(&version_text(v));
    }
    let repair = r
        .repair
        .map(|v| format!(", repair → {}", version_text(v)))
        .or_else(|| r.hint_for.map(|owner| format!(", hint for {owner}")))
        .unwrap_or_default();
    let counted = match (&r.reply, r.counted) {
        (None, _) => "",
        (Some(_), true) => "counted",
        (Some(_), false) => "not counted",
    };
    let late = if r.counted || !counts_like_winner(trace, r) {
        ""
    } else {
        ", late"
    };
    format!(
        "  [{}] {:<21} {:<13} {:<22} {:>9}  {counted}{late}{repair}",
        r.server + 1,
        r.addr.to_string(),
        format!("node {} #{}", r.node_number, r.ring_index),
        reply,
        lat
    )
    .trim_end()
    .to_string()
}

/// How the quorum was reached or why not, e.g.
/// `W=3 reached with 127.0.0.1:1234, :1236, :1235 (4th, :1237, timed out)`.
pub fn quorum_explanation(trace: &Trace) -> String {
    let (name, needed) = match trace.kind {
        OpKind::Get => ("R", trace.quorum.r),
        OpKind::Put | OpKind::Delete => ("W", trace.quorum.w),
    };
    let Some(first) = trace.replicas.first().map(|r| r.addr) else {
        return format!("{name}={needed}: no server to ask");
    };
    let mut counted: Vec<&ReplicaTrace> = trace.replicas.iter().filter(|r| r.counted).collect();
    counted.sort_by_key(|r| r.latency.unwrap_or(Duration::MAX));
    let with: Vec<String> = match counted.first() {
        Some(fastest) => counted
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if i == 0 {
                    r.addr.to_string()
                } else {
                    short_addr(&r.addr, &fastest.addr)
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let others: Vec<String> = trace
        .replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.counted)
        .map(|(i, r)| {
            format!(
                "{}, {}, {}{}",
                ordinal(i + 1),
                short_addr(&r.addr, &first),
                reply_short(r),
                if counts_like_winner(trace, r) {
                    " too late"
                } else {
                    ""
                }
            )
        })
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!(" ({})", others.join("; "))
    };
    let after = trace
        .decided_after
        .map(|d| format!(" in {}", latency(d)))
        .unwrap_or_default();
    match &trace.verdict {
        Verdict::Pending => format!(
            "{name}={needed}: {} of {needed} so far, waiting{others}",
            trace.best_tally()
        ),
        Verdict::Reached => {
            // The version a v2 get agreed on.
            let at = match (trace.kind, trace.version) {
                (OpKind::Get, Some(v)) => format!(" at {}", version_text(v)),
                _ => String::new(),
            };
            // A write some server answered OLDER: acknowledged, but a
            // newer write of the key already won.
            let superseded = trace
                .superseded_by()
                .map(|v| format!("; superseded: a newer {} is kept", version_text(v)))
                .unwrap_or_default();
            format!(
                "{name}={needed} reached with {}{at}{after}{others}{superseded}",
                with.join(", ")
            )
        }
        Verdict::Failed(Failure::NotFound) => format!(
            "not found: {} servers said so, {name}={needed} needed ({}){others}",
            with.len(),
            with.join(", ")
        ),
        Verdict::Failed(_) => {
            let reason = trace.failure_reason().unwrap_or_default();
            format!("{reason}{others}")
        }
    }
}

/// The verdict of one operation alone: `OK`, `OK <value>` or `FAIL`, then
/// ` — ` and the explanation.
pub fn trace_verdict_line(trace: &Trace) -> String {
    let head = match (&trace.verdict, trace.kind) {
        (Verdict::Pending, _) => "…".to_string(),
        (Verdict::Reached, OpKind::Put | OpKind::Delete) => "OK".to_string(),
        (Verdict::Reached, OpKind::Get) => {
            Success::Value(trace.value.clone().unwrap_or_default()).to_string()
        }
        (Verdict::Failed(_), _) => "FAIL".to_string(),
    };
    format!("{head} — {}", quorum_explanation(trace))
}

/// The lines of a finished read repair (after a get's verdict): what was
/// sent to which servers, then one line per server.
pub fn repair_lines(trace: &Trace) -> Vec<String> {
    let what = match trace.kind {
        OpKind::Delete => "tombstone".to_string(),
        _ => format!(
            "value {}",
            quoted(trace.written.as_deref().unwrap_or_default(), VALUE_PREVIEW)
        ),
    };
    let version = trace.version.map(version_text).unwrap_or_default();
    let outcome = match &trace.verdict {
        Verdict::Reached => "done".to_string(),
        _ => trace
            .failure_reason()
            .unwrap_or_else(|| "not finished".into()),
    };
    // The same background report serves hinted handoff (issue 8): the
    // servers are then holders of hints for silent home servers.
    let hinted = trace.replicas.iter().any(|r| r.hint_for.is_some());
    let (work, outcome) = if hinted {
        let owners: Vec<SocketAddrV4> = trace.replicas.iter().filter_map(|r| r.hint_for).collect();
        let kept = match &trace.verdict {
            Verdict::Reached => "kept".to_string(),
            _ => outcome,
        };
        (
            "hints for",
            format!("{} (silent: {})", kept, short_addrs(&owners)),
        )
    } else {
        ("read repair of", outcome)
    };
    let mut lines = vec![format!(
        "{work} {}: {what} {version} → {}: {outcome}",
        quoted(&trace.key, VALUE_PREVIEW),
        short_addrs(&trace.replicas.iter().map(|r| r.addr).collect::<Vec<_>>())
    )];
    lines.extend(trace.replicas.iter().map(|r| replica_line(trace, r)));
    lines
}

/// Whether a background report is a write's hints (its servers are
/// holders of hints), not a read repair.
pub fn is_hint_report(report: &Trace) -> bool {
    report.replicas.iter().any(|r| r.hint_for.is_some())
}

/// What to append to the line of home server `owner` of an operation on
/// `key` when a hint was left for it: `, hint → 127.0.0.1:1237 kept`
/// (or the holder's reply when it did not keep it); empty otherwise.
pub fn hint_note(hints: &[Trace], key: &[u8], owner: SocketAddrV4) -> String {
    hints
        .iter()
        .filter(|h| h.key == key)
        .flat_map(|h| &h.replicas)
        .find(|holder| holder.hint_for == Some(owner))
        .map(|holder| {
            let outcome = match &holder.reply {
                Some(r) if r.is_ack() => "kept".to_string(),
                other => reply_text(other.as_ref()),
            };
            format!(", hint → {} {outcome}", holder.addr)
        })
        .unwrap_or_default()
}

/// The REPL text of a trace: one line per contacted server, then the verdict.
pub fn format_trace(trace: &Trace, config: &ClusterConfig) -> Vec<String> {
    let _ = config;
    let mut lines = restamp_lines(trace);
    lines.extend(trace.replicas.iter().map(|r| replica_line(trace, r)));
    lines.push(trace_verdict_line(trace));
    lines
}

/// One line per re-stamp of a write, before the last round's replies:
/// `superseded by v… (a clock 0.2 s ahead); re-stamped v…`, the last one
/// ending `, stored` once that version reached W.
pub fn restamp_lines(trace: &Trace) -> Vec<String> {
    let last = trace.restamps.len();
    trace
        .restamps
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let stored = if i + 1 == last && trace.verdict == Verdict::Reached {
                ", stored"
            } else {
                ""
            };
            format!("  {}{stored}", r)
        })
        .collect()
}

/// The verdict line of a whole command: exactly the CLI's `OK…` / `FAIL`,
/// then ` — ` and how the (last) quorum was reached, or why it failed.
pub fn command_verdict_line(result: &Result<Success, CommandError>, traces: &[Trace]) -> String {
    match result {
        Ok(success) => match traces.last() {
            Some(t) if traces.len() == 1 => format!("{success} — {}", quorum_explanation(t)),
            Some(t) => format!(
                "{success} — {} operations; last: {}",
                traces.len(),
                quorum_explanation(t)
            ),
            None => success.to_string(),
        },
        Err(e) => {
            let failing = traces
                .iter()
                .rev()
                .find(|t| matches!(t.verdict, Verdict::Failed(_)));
            match failing {
                Some(t) if !matches!(t.verdict, Verdict::Failed(Failure::Invalid(_))) => {
                    format!("FAIL — {}", quorum_explanation(t))
                }
                _ => format!("FAIL — {}", e.message),
            }
        }
    }
}

/// Lines describing what changed between two snapshots of a trace (slow
/// motion in the line shell): `sent`, each new reply, the verdict.
pub fn trace_progress(previous: Option<&Trace>, current: &Trace) -> Vec<String> {
    let mut lines = Vec::new();
    let fresh = previous.is_none_or(|p| {
        p.key != current.key
            || p.kind != current.kind
            || p.replicas.len() != current.replicas.len()
            || p.restamps.len() != current.restamps.len()
    });
    if let Some(r) = current
        .restamps
        .last()
        .filter(|_| previous.is_some_and(|p| p.restamps.len() < current.restamps.len()))
    {
        lines.push(format!("  … {}", r));
    }
    if fresh {
        lines.push(format!(
            "  … {}: sent to {}",
            trace_header(current),
            short_addrs(&current.replicas.iter().map(|r| r.addr).collect::<Vec<_>>())
        ));
    }
    let needed = current.needed();
    for (i, r) in current.replicas.iter().enumerate() {
        let before = previous
            .filter(|_| !fresh)
            .and_then(|p| p.replicas.get(i))
            .and_then(|p| p.reply.as_ref());
        if r.reply.is_some() && before.is_none() {
            lines.push(format!(
                "  … {} {} after {} — {} of {needed}",
                r.addr,
                reply_text(r.reply.as_ref()),
                r.latency.map_or_else(|| "—".into(), latency),
                current.best_tally().min(needed)
            ));
        }
    }
    let was_pending = previous
        .filter(|_| !fresh)
        .is_none_or(|p| p.verdict == Verdict::Pending);
    if was_pending && current.verdict != Verdict::Pending {
        lines.push(format!("  … {}", trace_verdict_line(current)));
    }
    lines
}

/// `where <key>`: the key's SHA-1, and the walk from its first node.
pub fn where_lines(
    config: &ClusterConfig,
    ring: &Ring,
    key: &[u8],
    placement: &Placement,
    n: usize,
) -> Vec<String> {
    let mut lines = vec![format!(
        "key {} sha1 {} ({:.1}% around the ring)",
        quoted(key, VALUE_PREVIEW),
        placement.key_position,
        placement.key_position.fraction() * 100.0
    )];
    let nodes = ring.nodes();
    if nodes.is_empty() {
        lines.push("the ring has no nodes".into());
        return lines;
    }
    lines.push(format!("walk from ring #{} (N={n}):", placement.start));
    for step in &placement.steps {
        match step {
            Step::Used(r) => {
                let (Some(node), Some(s)) = (nodes.get(r.ring_index), config.servers.get(r.server))
                else {
                    continue; // a walk of another ring: nothing to show
                };
                lines.push(format!(
                    "  used     #{:<3} {}  [{}] {} node {}",
                    r.ring_index,
                    short_hex(&node.position.to_string()),
                    r.server + 1,
                    s.addr(),
                    r.node_number
                ));
            }
            Step::Skipped {
                ring_index,
                by_ring_index,
            } => {
                let Some(node) = nodes.get(*ring_index) else {
                    continue;
                };
                let Some(s) = config.servers.get(node.server) else {
                    continue;
                };
                lines.push(format!(
                    "  skipped #{:<3} {}  [{}] {} node {} (same server as #{by_ring_index})",
                    ring_index,
                    short_hex(&node.position.to_string()),
                    node.server + 1,
                    s.addr(),
                    node.number
                ));
            }
        }
    }
    let addrs: Vec<SocketAddrV4> = placement
        .replicas
        .iter()
        .filter_map(|r| Some(config.servers.get(r.server)?.addr()))
        .collect();
    lines.push(format!("preference list: {}", short_addrs(&addrs)));
    lines
}

fn short_hex(hex: &str) -> String {
    format!("{}…", hex.get(..12).unwrap_or(hex))
}

/// `ring`: every node in ring order with its SHA-1, server, node number and
/// (when known) the server's live state.
pub fn ring_lines(
    config: &ClusterConfig,
    ring: &Ring,
    states: Option<&[ServerState]>,
) -> Vec<String> {
    let mut lines = vec![format!(
        "ring: {} nodes on {} servers",
        ring.nodes().len(),
        ring.server_count()
    )];
    for (i, node) in ring.nodes().iter().enumerate() {
        let Some(s) = config.servers.get(node.server) else {
            continue;
        };
        let state = states
            .and_then(|st| st.get(node.server))
            .map(|st| format!("  {} {}", st.glyph(), st.word()))
            .unwrap_or_default();
        lines.push(format!(
            "  #{i:<3} {}  [{}] {:<21} node {}{state}",
            node.position,
            node.server + 1,
            s.addr().to_string(),
            node.number
        ));
    }
    lines
}

/// `status`: one line per server.
pub fn status_lines(statuses: &[ServerStatus], now: Instant) -> Vec<String> {
    status_lines_with_words(statuses, now, &[])
}

/// `status`, with the last stderr line of servers whose child failed
/// (`last_words[i]` for server i, when given), e.g. "address in use".
pub fn status_lines_with_words(
    statuses: &[ServerStatus],
    now: Instant,
    last_words: &[Option<String>],
) -> Vec<String> {
    let mut lines = vec![format!(
        "  {:<3} {:<21} {:>5}  {:>7}  {:<13} {:<13} {}",
        "#", "address", "nodes", "pid", "state", "last answer", "note"
    )];
    for s in statuses {
        let pid = s.pid.map_or_else(|| "-".into(), |p| p.to_string());
        let answer = s
            .last_answer
            .map_or_else(|| "never".into(), |t| age(now.saturating_duration_since(t)));
        let mut note = Vec::new();
        if !s.managed {
            note.push("not started by dkvs-tui".to_string());
        }
        if let Some(exit) = &s.last_exit
            && s.pid.is_none()
        {
            note.push(exit.clone());
            if let Some(Some(words)) = last_words.get(s.index) {
                note.push(words.clone());
            }
        }
        if let Some(badge) = &s.badge {
            note.push(badge.clone());
        }
        lines.push(
            format!(
                "  {:<3} {:<21} {:>5}  {:>7}  {} {:<11} {:<13} {}",
                s.index + 1,
                s.spec.addr().to_string(),
                s.spec.nodes,
                pid,
                s.state.glyph(),
                s.state.word(),
                answer,
                note.join("; ")
            )
            .trim_end()
            .to_string(),
        );
    }
    lines
}

/// One event of the supervisor's log as a line: `* <text>`.
pub fn event_line(event: &crate::supervisor::LogEvent) -> String {
    format!("* {}", event.text)
}

/// The answer to `slow on|<ms>` (`Some`) or `slow off` (`None`).
pub fn slow_line(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => format!(
            "slow motion on: replies appear {} apart",
            crate::units::format_duration(std::time::Duration::from_millis(ms))
        ),
        None => "slow motion off".into(),
    }
}

/// The answer to `skew`: where this session's clock stands.
pub fn skew_line(offset_ms: i64) -> String {
    match offset_ms {
        0 => "clock: the machine's (no skew)".into(),
        ms if ms > 0 => format!(
            "clock: {} ahead of the machine's",
            millis_text(ms.unsigned_abs())
        ),
        ms => format!(
            "clock: {} behind the machine's",
            millis_text(ms.unsigned_abs())
        ),
    }
}

/// The answer to `whatif off`.
pub const WHATIF_CLEARED: &str = "what-if view cleared";

/// Header of one operation inside a multi-operation command (cat, substr,
/// find): `get "a" (N=3 R=2):`.
pub fn step_header(trace: &Trace) -> String {
    format!("{}:", trace_header(trace))
}

/// The outcome of one operation inside a multi-operation command.
pub fn step_verdict(trace: &Trace) -> String {
    format!("  → {}", quorum_explanation(trace))
}

/// First line of `dump <server>`: `<ip>:<port>:` (as `dkvs-dump-ring`).
pub fn dump_header(addr: SocketAddrV4) -> String {
    format!("{addr}:")
}

/// Which server a what-if question adds or removes, in the ring where its
/// nodes exist: (ring, its servers, the server's index).
#[derive(Debug, Clone, Copy)]
pub enum WhatIfChange<'a> {
    /// The new server, in the hypothetical ring.
    Add(&'a Ring, &'a [ServerSpec], usize),
    /// The removed server, in the current ring.
    Remove(&'a Ring, &'a [ServerSpec], usize),
}

/// Everything a what-if answer prints.
#[derive(Debug, Clone, Copy)]
pub struct WhatIfFacts<'a> {
    /// `whatif add … ` / `whatif remove …`.
    pub title: &'a str,
    /// The current ring and servers.
    pub old: (&'a Ring, &'a [ServerSpec]),
    /// The hypothetical ring and servers.
    pub new: (&'a Ring, &'a [ServerSpec]),
    /// The server that comes or goes.
    pub changed: WhatIfChange<'a>,
    /// N used for owner sets.
    pub n: usize,
    /// Share of the key space whose owner set changes.
    pub fraction: f64,
    /// Stored keys moving, and stored keys in total (None: no dump answer).
    pub stored: Option<(usize, usize)>,
    /// Servers that answered the dump.
    pub answered: usize,
}

/// The what-if answer: sizes, the nodes that come or go, the share of the
/// key space and of the stored keys that would move, and the comparison
/// with placing keys by `hash mod S`.
pub fn whatif_lines(f: &WhatIfFacts<'_>) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {} nodes on {} servers (now {} on {})",
        f.title,
        f.new.0.nodes().len(),
        f.new.1.len(),
        f.old.0.nodes().len(),
        f.old.1.len()
    )];
    let (ring, servers, index, what) = match f.changed {
        WhatIfChange::Add(r, s, i) => (r, s, i, "nodes it would add"),
        WhatIfChange::Remove(r, s, i) => (r, s, i, "nodes that would leave"),
    };
    let nodes: Vec<String> = ring
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, node)| node.server == index)
        .map(|(i, node)| {
            format!(
                "#{i} {} ({})",
                &node.position.to_string()[..8],
                percent(node.position.fraction())
            )
        })
        .collect();
    if let Some(spec) = servers.get(index) {
        lines.push(format!("  {what} ({}): {}", spec.addr(), nodes.join(", ")));
    }
    lines.push(format!(
        "  with N={}: {} of the key space would change owner set",
        f.n,
        percent(f.fraction)
    ));
    let s_max = f.new.1.len().max(f.old.1.len()).max(1) as f64;
    lines.push(format!(
        "  (placing one copy by hash mod S instead would move about {} of the keys)",
        percent(1.0 - 1.0 / s_max)
    ));
    lines.push(match f.stored {
        Some((moving, total)) => format!(
            "  stored keys: {moving} of {total} would move ({} servers answered the dump)",
            f.answered
        ),
        None => "  stored keys: unknown (no server answered the dump)".into(),
    });
    lines
}

/// A server's label for messages: `[2] 127.0.0.1:1235`.
pub fn server_label(index: usize, spec: &ServerSpec) -> String {
    format!("[{}] {}", index + 1, spec.addr())
}

/// Percentage with one decimal.
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Version;

    #[test]
    fn small_helpers() {
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(4), "4th");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(22), "22nd");
        let a: SocketAddrV4 = "127.0.0.1:1234".parse().unwrap();
        let b: SocketAddrV4 = "127.0.0.1:1236".parse().unwrap();
        let c: SocketAddrV4 = "10.0.0.1:1".parse().unwrap();
        assert_eq!(short_addrs(&[a, b, c]), "127.0.0.1:1234, :1236, 10.0.0.1:1");
        assert_eq!(quoted(b"a\nb", 10), "\"a\\nb\"");
        assert_eq!(quoted(b"abcdef", 3), "\"abc…\" (6 bytes)");
        assert_eq!(quoted(&[0xff], 3), "\"\u{fffd}\"");
        assert_eq!(age(Duration::from_millis(300)), "0.3 s ago");
        assert_eq!(age(Duration::from_secs(300)), "5 min ago");
        assert_eq!(percent(0.5), "50.0%");
        assert_eq!(error_line("x"), "ERROR: x");
    }

    /// A v2 get of `k` on three servers: two agree on the new version, the
    /// third answered an older one and was sent the new one by read repair.
    fn stale_get() -> (Trace, Version, Version) {
        use crate::quorum::Quorum;
        let new = Version {
            timestamp: crate::hlc::pack(1_700_000_000_005, 0),
            writer: 0x09,
        };
        let old = Version {
            timestamp: crate::hlc::pack(1_700_000_000_000, 1),
            writer: 0x07,
        };
        let replicas = (0..3u16)
            .map(|i| {
                let addr = SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 1234 + i);
                let mut r = ReplicaTrace::new(usize::from(i), addr, usize::from(i), 1);
                let stale = i == 2;
                r.reply = Some(Reply::Value(if stale { b"old" } else { b"new" }.to_vec()));
                r.latency = Some(Duration::from_micros(300 + 100 * u64::from(i)));
                r.counted = !stale;
                r.dialect = Some(Dialect::V2);
                r.version = Some(if stale { old } else { new });
                r.repair = stale.then_some(new);
                r
            })
            .collect();
        let trace = Trace {
            kind: OpKind::Get,
            key: b"k".to_vec(),
            written: None,
            quorum: Quorum { n: 3, w: 2, r: 2 },
            replicas,
            verdict: Verdict::Reached,
            value: Some(b"new".to_vec()),
            decided_after: Some(Duration::from_micros(400)),
            finished: true,
            version: Some(new),
            restamps: Vec::new(),
        };
        (trace, new, old)
    }

    /// The trace shows each replica's version, the repair sent to the
    /// stale one, and the agreed version in the verdict (issue 7 item 4).
    #[test]
    fn trace_shows_versions_and_repairs() {
        let (trace, new, old) = stale_get();
        let (new, old) = (version_text(new), version_text(old));
        assert_eq!(new, "v1700000000005.0/000009");
        assert_eq!(old, "v1700000000000.1/000007");
        let lines: Vec<String> = trace
            .replicas
            .iter()
            .map(|r| replica_line(&trace, r))
            .collect();
        assert_eq!(
            lines,
            [
                format!(
                    "  [1] 127.0.0.1:1234        node 1 #0     value \"new\" {new}   0.30 ms  counted"
                ),
                format!(
                    "  [2] 127.0.0.1:1235        node 1 #1     value \"new\" {new}   0.40 ms  counted"
                ),
                format!(
                    "  [3] 127.0.0.1:1236        node 1 #2     value \"old\" {old}   0.50 ms  not counted, repair → {new}"
                ),
            ]
        );
        assert_eq!(
            trace_verdict_line(&trace),
            format!(
                "OK new — R=2 reached with 127.0.0.1:1234, :1235 at {new} in 0.40 ms (3rd, :1236, \"old\" {old})"
            )
        );
        // The repair itself, after the verdict.
        let mut repair = trace.clone();
        repair.kind = OpKind::Put;
        repair.written = Some(b"new".to_vec());
        repair.replicas.truncate(0);
        repair.replicas.push(trace.replicas[2].clone());
        repair.replicas[0].reply = Some(Reply::Stored);
        repair.replicas[0].version = None;
        repair.replicas[0].repair = None;
        repair.replicas[0].counted = true;
        assert_eq!(
            repair_lines(&repair)[0],
            format!("read repair of \"k\": value \"new\" {new} → 127.0.0.1:1236: done")
        );
    }

    /// v1 replies show no version: the text is what it was before v2.
    #[test]
    fn v1_replies_show_no_version() {
        let (mut trace, _, _) = stale_get();
        trace.version = None;
        for r in &mut trace.replicas {
            r.dialect = Some(Dialect::V1);
            r.repair = None;
        }
        assert!(!replica_line(&trace, &trace.replicas[2]).contains(" v1700"));
        assert_eq!(
            trace_verdict_line(&trace),
            "OK new — R=2 reached with 127.0.0.1:1234, :1235 in 0.40 ms (3rd, :1236, \"old\")"
        );
    }

    /// A put some server answered OLDER is acknowledged but reported
    /// superseded, with the newer version kept (issue 7 review).
    #[test]
    fn superseded_write_is_reported() {
        let (mut trace, new, _) = stale_get();
        trace.kind = OpKind::Put;
        trace.quorum.w = 2;
        trace.written = Some(b"mine".to_vec());
        for r in &mut trace.replicas {
            r.reply = Some(Reply::Stored);
            r.version = None;
            r.repair = None;
        }
        trace.replicas[1].reply = Some(Reply::Older);
        trace.replicas[1].version = Some(new);
        assert_eq!(trace.superseded_by(), Some(new));
        let line = trace_verdict_line(&trace);
        assert!(line.starts_with("OK — W=2 reached with"), "{line}");
        assert!(
            line.ends_with(&format!(
                "; superseded: a newer {} is kept",
                version_text(new)
            )),
            "{line}"
        );
        // Not counted (the quorum came from others): still superseded,
        // by a write running at the same time.
        trace.replicas[1].counted = false;
        assert_eq!(trace.superseded_by(), Some(new));
        trace.replicas[1].reply = Some(Reply::Stored);
        assert_eq!(trace.superseded_by(), None);
    }

    /// A re-stamped write shows each round before the last one's replies.
    #[test]
    fn restamped_write_shows_why_and_the_new_version() {
        let (mut trace, new, old) = stale_get();
        trace.kind = OpKind::Put;
        trace.quorum.w = 2;
        trace.written = Some(b"later".to_vec());
        for r in &mut trace.replicas {
            r.reply = Some(Reply::Stored);
            r.version = None;
            r.repair = None;
            r.counted = true;
        }
        trace.restamps = vec![crate::trace::Restamp {
            from: old,
            superseded_by: new,
            ahead_ms: 200,
            to: new,
        }];
        assert_eq!(
            restamp_lines(&trace),
            vec![format!(
                "  superseded by {} (a clock 200 ms ahead); re-stamped {}, stored",
                version_text(new),
                version_text(new)
            )]
        );
        trace.restamps[0].ahead_ms = -3;
        trace.verdict = Verdict::Failed(Failure::Superseded(new));
        let lines = restamp_lines(&trace);
        assert!(
            lines[0].contains("(a concurrent write); re-stamped"),
            "{lines:?}"
        );
        assert!(!lines[0].ends_with(", stored"));
        let verdict = trace_verdict_line(&trace);
        assert!(
            verdict.starts_with("FAIL — W=2 not reached: superseded by a newer version"),
            "{verdict}"
        );
        assert!(verdict.contains("2 times in a row"), "{verdict}");
    }

    /// A hint left for a silent home server shows on that server's line.
    #[test]
    fn hint_note_on_the_owners_line() {
        let (mut trace, _, _) = stale_get();
        let owner = trace.replicas[2].addr;
        let mut holder = trace.replicas[0].clone();
        holder.addr = "127.0.0.1:1237".parse().unwrap();
        holder.hint_for = Some(owner);
        holder.reply = Some(Reply::Stored);
        trace.replicas = vec![holder];
        let hints = vec![trace.clone()];
        assert!(is_hint_report(&trace));
        assert_eq!(
            hint_note(&hints, b"k", owner),
            ", hint → 127.0.0.1:1237 kept"
        );
        assert_eq!(hint_note(&hints, b"other", owner), "");
        hints_timeout(&trace, owner);
    }

    fn hints_timeout(trace: &Trace, owner: SocketAddrV4) {
        let mut t = trace.clone();
        t.replicas[0].reply = Some(Reply::Timeout);
        assert_eq!(
            hint_note(&[t], b"k", owner),
            ", hint → 127.0.0.1:1237 timeout"
        );
    }

    /// A put refused as unauthenticated by keyed servers: the verdict line
    /// (as the CLI's error) says so and how to pass a key; each refusal
    /// shows its reason.
    #[test]
    fn unauthenticated_refusals_say_the_cluster_needs_a_key() {
        use crate::protocol_v2::Reason;
        use crate::quorum::Quorum;
        let replicas = (0..3u16)
            .map(|i| {
                let addr = SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 1234 + i);
                let mut r = ReplicaTrace::new(usize::from(i), addr, usize::from(i), 1);
                r.reply = Some(Reply::Refused(Some(Reason::Unauthenticated)));
                r.dialect = Some(Dialect::V2);
                r
            })
            .collect();
        let trace = Trace {
            kind: OpKind::Put,
            key: b"k".to_vec(),
            written: Some(b"v".to_vec()),
            quorum: Quorum { n: 3, w: 2, r: 2 },
            replicas,
            verdict: Verdict::Failed(Failure::NotEnough),
            value: None,
            decided_after: None,
            finished: true,
            version: None,
            restamps: Vec::new(),
        };
        let error = crate::commands::trace_error(&trace).unwrap();
        assert_eq!(error.code, crate::commands::exit::QUORUM);
        assert_eq!(
            error.message,
            "put \"k\": 3 of 3 servers refused the request as unauthenticated: this cluster needs a key; pass --key-file FILE or set DKVS_KEY_FILE"
        );
        let line = command_verdict_line(&Err(error), std::slice::from_ref(&trace));
        assert!(
            line.starts_with(
                "FAIL — 3 of 3 servers refused the request as unauthenticated: this cluster needs a key"
            ),
            "{line}"
        );
        assert!(
            line.contains("1st, :1234, refused: unauthenticated"),
            "{line}"
        );
        // A v1 refusal (no reason) keeps its word and its exit code.
        let mut v1 = trace.clone();
        for r in &mut v1.replicas {
            r.reply = Some(Reply::Refused(None));
        }
        let error = crate::commands::trace_error(&v1).unwrap();
        assert_eq!(error.code, crate::commands::exit::FAILED);
        assert!(!error.message.contains("key"), "{}", error.message);
    }
}
