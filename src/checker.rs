//! A history checker for chaos tests: did the store keep its promises?
//!
//! A chaos test records every operation it runs ([`History`]): when it was
//! invoked and when it completed, get or put, key, value, and whether it
//! succeeded. Each key has exactly one writer, which writes increasing
//! values one put after the other, so the order of a key's writes is the
//! order of its puts and no two of them overlap.
//!
//! [`History::check`] then flags:
//!
//! - **never written**: a successful get returned a value that no put of
//!   that key had been invoked with before the get completed (corruption,
//!   a reply leaking from another operation, a mixed-up key);
//! - **stale read** (only when W + R > N, i.e. read and write quorums
//!   intersect): a successful get returned a value older than one whose put
//!   had been *acknowledged before the get began*;
//! - **lost write** (same condition): a get answered "not found" although a
//!   put of the key had been acknowledged before the get began;
//! - **two writers**: puts of one key overlapped in time, so the history
//!   does not follow the model and the checks above would be meaningless.
//!
//! A failed or timed-out put may or may not have been stored anywhere: its
//! value may legitimately be read, and it never makes later reads stale.
//! The checker is pure (no clock, no I/O), so it is unit-tested on
//! hand-written histories.

use std::collections::HashMap;
use std::fmt;

/// What an operation did, and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A put of this value; `ok` when the write quorum acknowledged it.
    Put {
        /// The value written.
        value: Vec<u8>,
        /// Whether the put succeeded.
        ok: bool,
    },
    /// A get and its result.
    Get(GetResult),
}

/// The result of a get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetResult {
    /// R servers agreed on this value.
    Value(Vec<u8>),
    /// R servers said "not found".
    NotFound,
    /// Any other failure (quorum not reached, deadline).
    Failed,
}

/// One operation of a history. Times are in any monotonic unit (the chaos
/// tests use microseconds since the start of the run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The key.
    pub key: Vec<u8>,
    /// When the operation was invoked.
    pub invoked: u64,
    /// When it completed (`>= invoked`).
    pub completed: u64,
    /// What it was and how it ended.
    pub action: Action,
}

impl Op {
    /// Whether the operation succeeded (a get that found the key, or a
    /// get that R servers agreed is absent, counts as success).
    pub fn ok(&self) -> bool {
        match &self.action {
            Action::Put { ok, .. } => *ok,
            Action::Get(r) => *r != GetResult::Failed,
        }
    }
}

/// What is wrong with one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// A get returned a value never written to its key.
    NeverWritten,
    /// A get returned write number `read` of its key although write number
    /// `acked` (later) was acknowledged before the get began.
    Stale {
        /// 0-based position of the value read among the key's writes.
        read: usize,
        /// 0-based position of the newest write acknowledged before the get.
        acked: usize,
    },
    /// A get said "not found" although write number `acked` was
    /// acknowledged before it began.
    LostWrite {
        /// 0-based position of that write.
        acked: usize,
    },
    /// This put overlapped another put of the same key.
    TwoWriters,
}

/// One flagged operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index of the operation in the history.
    pub op: usize,
    /// Its key.
    pub key: Vec<u8>,
    /// What is wrong.
    pub kind: ViolationKind,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = String::from_utf8_lossy(&self.key);
        match &self.kind {
            ViolationKind::NeverWritten => {
                write!(
                    f,
                    "op {}: get {key:?} returned a value never written",
                    self.op
                )
            }
            ViolationKind::Stale { read, acked } => write!(
                f,
                "op {}: get {key:?} returned write #{read} after write #{acked} was acknowledged",
                self.op
            ),
            ViolationKind::LostWrite { acked } => write!(
                f,
                "op {}: get {key:?} said not found after write #{acked} was acknowledged",
                self.op
            ),
            ViolationKind::TwoWriters => {
                write!(
                    f,
                    "op {}: put {key:?} overlaps another put of the key",
                    self.op
                )
            }
        }
    }
}

/// Counts and violations of a checked history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Puts in the history.
    pub puts: usize,
    /// Puts that succeeded.
    pub puts_ok: usize,
    /// Gets in the history.
    pub gets: usize,
    /// Gets that succeeded (value or agreed "not found").
    pub gets_ok: usize,
    /// Everything found wrong.
    pub violations: Vec<Violation>,
}

impl Report {
    /// All operations.
    pub fn ops(&self) -> usize {
        self.puts + self.gets
    }

    /// Successful operations.
    pub fn ok(&self) -> usize {
        self.puts_ok + self.gets_ok
    }

    /// Fraction of operations that succeeded (1.0 for an empty history).
    pub fn success_rate(&self) -> f64 {
        if self.ops() == 0 {
            1.0
        } else {
            self.ok() as f64 / self.ops() as f64
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ops ({} puts, {} gets), {} ok = {:.3}% (puts {}/{}, gets {}/{}), {} violations",
            self.ops(),
            self.puts,
            self.gets,
            self.ok(),
            100.0 * self.success_rate(),
            self.puts_ok,
            self.puts,
            self.gets_ok,
            self.gets,
            self.violations.len()
        )
    }
}

/// A recorded history of operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The operations, in any order.
    pub ops: Vec<Op>,
}

/// One key's writes, in order.
#[derive(Default)]
struct Writes<'a> {
    /// (invoked, completed, ok, op index, value), sorted by invocation.
    puts: Vec<(u64, u64, bool, usize, &'a [u8])>,
    /// value → (position, invoked).
    position: HashMap<&'a [u8], (usize, u64)>,
    /// (completed, position) of acknowledged puts, sorted by completion,
    /// with the running maximum of positions.
    acked: Vec<(u64, usize)>,
}

impl<'a> Writes<'a> {
    /// Newest position acknowledged strictly before `time`.
    fn acked_before(&self, time: u64) -> Option<usize> {
        let n = self.acked.partition_point(|(done, _)| *done < time);
        n.checked_sub(1)
            .and_then(|i| self.acked.get(i))
            .map(|(_, p)| *p)
    }
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Adds one operation.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Adds every operation of `other`.
    pub fn extend(&mut self, other: History) {
        self.ops.extend(other.ops);
    }

    /// Checks the history; `quorums_intersect` is W + R > N (without it only
    /// "never written" and "two writers" are checked).
    pub fn check(&self, quorums_intersect: bool) -> Report {
        let mut report = Report::default();
        let mut keys: HashMap<&[u8], Writes> = HashMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            match &op.action {
                Action::Put { value, ok } => {
                    report.puts += 1;
                    report.puts_ok += usize::from(*ok);
                    keys.entry(op.key.as_slice()).or_default().puts.push((
                        op.invoked,
                        op.completed,
                        *ok,
                        i,
                        value,
                    ));
                }
                Action::Get(r) => {
                    report.gets += 1;
                    report.gets_ok += usize::from(*r != GetResult::Failed);
                }
            }
        }
        for (key, writes) in &mut keys {
            writes.puts.sort_by_key(|p| (p.0, p.1));
            let mut previous_end = None;
            for (position, &(invoked, completed, ok, op, value)) in writes.puts.iter().enumerate() {
                if previous_end.is_some_and(|end| invoked < end) {
                    report.violations.push(Violation {
                        op,
                        key: key.to_vec(),
                        kind: ViolationKind::TwoWriters,
                    });
                }
                previous_end = Some(completed);
                writes.position.entry(value).or_insert((position, invoked));
                if ok {
                    writes.acked.push((completed, position));
                }
            }
            writes.acked.sort_unstable();
            let mut newest = 0;
            for entry in &mut writes.acked {
                newest = newest.max(entry.1);
                entry.1 = newest;
            }
        }
        let none = Writes::default();
        for (i, op) in self.ops.iter().enumerate() {
            let Action::Get(result) = &op.action else {
                continue;
            };
            let writes = keys.get(op.key.as_slice()).unwrap_or(&none);
            let acked = writes.acked_before(op.invoked);
            let kind = match result {
                GetResult::Failed => None,
                GetResult::NotFound => match acked {
                    Some(acked) if quorums_intersect => Some(ViolationKind::LostWrite { acked }),
                    _ => None,
                },
                GetResult::Value(v) => match writes.position.get(v.as_slice()) {
                    Some(&(read, invoked)) if invoked <= op.completed => match acked {
                        Some(acked) if quorums_intersect && read < acked => {
                            Some(ViolationKind::Stale { read, acked })
                        }
                        _ => None,
                    },
                    _ => Some(ViolationKind::NeverWritten),
                },
            };
            if let Some(kind) = kind {
                report.violations.push(Violation {
                    op: i,
                    key: op.key.clone(),
                    kind,
                });
            }
        }
        report.violations.sort_by_key(|v| v.op);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, invoked: u64, completed: u64, ok: bool) -> Op {
        Op {
            key: key.into(),
            invoked,
            completed,
            action: Action::Put {
                value: value.into(),
                ok,
            },
        }
    }

    fn get(key: &str, result: Option<&str>, invoked: u64, completed: u64) -> Op {
        Op {
            key: key.into(),
            invoked,
            completed,
            action: Action::Get(match result {
                Some(v) => GetResult::Value(v.into()),
                None => GetResult::NotFound,
            }),
        }
    }

    fn kinds(ops: Vec<Op>, intersect: bool) -> Vec<(usize, ViolationKind)> {
        History { ops }
            .check(intersect)
            .violations
            .into_iter()
            .map(|v| (v.op, v.kind))
            .collect()
    }

    #[test]
    fn a_clean_history_passes() {
        let ops = vec![
            get("k", None, 0, 5),
            put("k", "1", 10, 20, true),
            get("k", Some("1"), 25, 30),
            put("k", "2", 30, 40, true),
            // Concurrent with put 2: either value is fine.
            get("k", Some("1"), 35, 45),
            get("k", Some("2"), 31, 39),
            get("k", Some("2"), 41, 50),
            // Failed ops are counted, never flagged.
            Op {
                key: "k".into(),
                invoked: 60,
                completed: 70,
                action: Action::Get(GetResult::Failed),
            },
        ];
        let report = History { ops }.check(true);
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert_eq!((report.ops(), report.ok()), (8, 7));
        assert!(report.to_string().contains("87.500%"), "{report}");
    }

    #[test]
    fn flags_a_value_never_written() {
        let ops = vec![
            put("k", "1", 0, 10, true),
            get("k", Some("7"), 20, 30),
            // Written later than the get ended: impossible as well.
            get("k", Some("2"), 20, 30),
            put("k", "2", 40, 50, true),
            // A value of another key.
            get("j", Some("1"), 60, 70),
        ];
        assert_eq!(
            kinds(ops.clone(), true),
            [
                (1, ViolationKind::NeverWritten),
                (2, ViolationKind::NeverWritten),
                (4, ViolationKind::NeverWritten)
            ]
        );
        // Checked even when the quorums do not intersect.
        assert_eq!(kinds(ops, false).len(), 3);
    }

    #[test]
    fn flags_a_stale_read_only_when_quorums_intersect() {
        let ops = vec![
            put("k", "1", 0, 10, true),
            put("k", "2", 20, 30, true),
            get("k", Some("1"), 31, 40),
            get("k", None, 31, 40),
        ];
        assert_eq!(
            kinds(ops.clone(), true),
            [
                (2, ViolationKind::Stale { read: 0, acked: 1 }),
                (3, ViolationKind::LostWrite { acked: 1 })
            ]
        );
        assert!(kinds(ops, false).is_empty());
    }

    #[test]
    fn failed_puts_may_be_read_and_never_make_reads_stale() {
        let ops = vec![
            put("k", "1", 0, 10, true),
            put("k", "2", 20, 30, false),
            get("k", Some("2"), 40, 50),
            get("k", Some("1"), 40, 50),
            put("k", "3", 60, 70, true),
            // 2 failed, 3 acknowledged: reading 2 after 3 is stale.
            get("k", Some("2"), 80, 90),
        ];
        assert_eq!(
            kinds(ops, true),
            [(5, ViolationKind::Stale { read: 1, acked: 2 })]
        );
    }

    #[test]
    fn flags_overlapping_writers() {
        let ops = vec![put("k", "1", 0, 10, true), put("k", "2", 5, 15, true)];
        assert_eq!(kinds(ops, true), [(1, ViolationKind::TwoWriters)]);
        let v = History {
            ops: vec![put("k", "1", 0, 10, true), put("k", "2", 5, 15, true)],
        }
        .check(true);
        assert!(v.violations[0].to_string().contains("overlaps"));
    }

    #[test]
    fn empty_history() {
        let r = History::new().check(true);
        assert_eq!((r.ops(), r.success_rate()), (0, 1.0));
    }
}
