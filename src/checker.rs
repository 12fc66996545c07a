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
//!
//! **Versioned histories** (protocol v2, issue 7). A key written with
//! [`Action::Write`] — a put or a delete carrying the version its client
//! gave it — may have any number of concurrent writers: the newest version
//! wins, so the model is the version order, not the time order. For such a
//! key a get's result ([`GetResult::Versioned`], [`GetResult::Deleted`], or
//! plain "not found") is flagged when:
//!
//! - **never written**: no write of that key with that version and that
//!   value (or tombstone) had been invoked before the get completed;
//! - **older than acknowledged** (when W + R > N): the version read is older
//!   than the newest version acknowledged before the get began — including
//!   "not found" (no version) after an acknowledged put. "Not found" after
//!   an acknowledged *delete* is the delete's effect (and what remains once
//!   its tombstone is purged), never flagged.
//!
//! The single-writer and two-writer rules apply only to [`Action::Put`].

use std::collections::HashMap;
use std::fmt;

use crate::version::Version;

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
    /// A versioned write (protocol v2): a put of `Some(value)` or a delete
    /// (`None`), with the version the client gave it; `ok` when W
    /// acknowledged it.
    Write {
        /// The value written, `None` for a delete.
        value: Option<Vec<u8>>,
        /// Its version.
        version: Version,
        /// Whether the write succeeded.
        ok: bool,
    },
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
    /// Protocol v2: R servers agreed on this value at this version.
    Versioned {
        /// The value read.
        value: Vec<u8>,
        /// Its version.
        version: Version,
    },
    /// Protocol v2: "not found", the newest record seen being a tombstone
    /// at this version.
    Deleted(Version),
}

impl GetResult {
    /// The version read: a versioned value's or tombstone's.
    pub fn version(&self) -> Option<Version> {
        match self {
            GetResult::Versioned { version, .. } | GetResult::Deleted(version) => Some(*version),
            _ => None,
        }
    }
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
            Action::Put { ok, .. } | Action::Write { ok, .. } => *ok,
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
    /// A get of a versioned key returned version `read` (`None`: "not
    /// found" without a tombstone) although the newer version `acked` was
    /// acknowledged before it began.
    OlderThanAcknowledged {
        /// The version read.
        read: Option<Version>,
        /// The newest version acknowledged before the get.
        acked: Version,
    },
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
            ViolationKind::OlderThanAcknowledged { read, acked } => write!(
                f,
                "op {}: get {key:?} read {} after {} was acknowledged",
                self.op,
                read.map_or_else(|| "nothing".into(), crate::trace::version_text),
                crate::trace::version_text(*acked)
            ),
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
    /// Of the puts, versioned deletes ([`Action::Write`] without a value).
    pub deletes: usize,
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

/// One versioned key's writes ([`Action::Write`]).
#[derive(Default)]
struct Versioned<'a> {
    /// version → (value or tombstone, invoked).
    by_version: HashMap<Version, (Option<&'a [u8]>, u64)>,
    /// (completed, newest version acknowledged so far, whether that newest
    /// one is a delete), sorted by completion.
    acked: Vec<(u64, Version, bool)>,
}

impl Versioned<'_> {
    /// The newest acknowledged write completed strictly before `time`:
    /// its version, and whether it is a delete.
    fn acked_before(&self, time: u64) -> Option<(Version, bool)> {
        let n = self.acked.partition_point(|(done, ..)| *done < time);
        n.checked_sub(1)
            .and_then(|i| self.acked.get(i))
            .map(|&(_, v, deleted)| (v, deleted))
    }

    /// What is wrong with a get of this key that returned `result` (`None`
    /// when nothing).
    fn check_get(&self, op: &Op, result: &GetResult, intersect: bool) -> Option<ViolationKind> {
        let read = result.version();
        let wrote = |version: Version, value: Option<&[u8]>| {
            self.by_version
                .get(&version)
                .is_some_and(|(v, invoked)| *v == value && *invoked <= op.completed)
        };
        match result {
            GetResult::Failed => return None,
            GetResult::Versioned { value, version } if !wrote(*version, Some(value)) => {
                return Some(ViolationKind::NeverWritten);
            }
            GetResult::Deleted(version) if !wrote(*version, None) => {
                return Some(ViolationKind::NeverWritten);
            }
            // A value without its version: at least some write of it.
            GetResult::Value(value)
                if !self.by_version.values().any(|(v, invoked)| {
                    *v == Some(value.as_slice()) && *invoked <= op.completed
                }) =>
            {
                return Some(ViolationKind::NeverWritten);
            }
            GetResult::Value(_) => return None,
            _ => {}
        }
        let (acked, acked_delete) = self.acked_before(op.invoked)?;
        let absent = matches!(result, GetResult::NotFound | GetResult::Deleted(_));
        let older = match read {
            Some(read) => read < acked,
            None => true,
        };
        // "Not found" after an acknowledged delete is that delete (or its
        // purged tombstone).
        (intersect && older && !(absent && acked_delete))
            .then_some(ViolationKind::OlderThanAcknowledged { read, acked })
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
        let mut versioned: HashMap<&[u8], Versioned> = HashMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            match &op.action {
                Action::Write { value, version, ok } => {
                    report.puts += 1;
                    report.puts_ok += usize::from(*ok);
                    report.deletes += usize::from(value.is_none());
                    let key = versioned.entry(op.key.as_slice()).or_default();
                    key.by_version
                        .insert(*version, (value.as_deref(), op.invoked));
                    if *ok {
                        key.acked.push((op.completed, *version, value.is_none()));
                    }
                }
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
        for key in versioned.values_mut() {
            key.acked.sort_unstable_by_key(|(done, ..)| *done);
            let mut newest: Option<(Version, bool)> = None;
            for entry in &mut key.acked {
                if newest.is_none_or(|(v, _)| entry.1 > v) {
                    newest = Some((entry.1, entry.2));
                }
                if let Some((v, deleted)) = newest {
                    (entry.1, entry.2) = (v, deleted);
                }
            }
        }
        let none = Writes::default();
        for (i, op) in self.ops.iter().enumerate() {
            let Action::Get(result) = &op.action else {
                continue;
            };
            if let Some(key) = versioned.get(op.key.as_slice()) {
                if let Some(kind) = key.check_get(op, result, quorums_intersect) {
                    report.violations.push(Violation {
                        op: i,
                        key: op.key.clone(),
                        kind,
                    });
                }
                continue;
            }
            let writes = keys.get(op.key.as_slice()).unwrap_or(&none);
            let acked = writes.acked_before(op.invoked);
            let kind = match result {
                GetResult::Failed => None,
                // A versioned result for a key never written with versions.
                GetResult::Versioned { .. } | GetResult::Deleted(_) => {
                    Some(ViolationKind::NeverWritten)
                }
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

    fn ver(t: u64) -> Version {
        Version {
            timestamp: t,
            writer: t % 3,
        }
    }

    fn write(key: &str, value: Option<&str>, v: u64, invoked: u64, completed: u64, ok: bool) -> Op {
        Op {
            key: key.into(),
            invoked,
            completed,
            action: Action::Write {
                value: value.map(Into::into),
                version: ver(v),
                ok,
            },
        }
    }

    fn vget(key: &str, result: GetResult, invoked: u64, completed: u64) -> Op {
        Op {
            key: key.into(),
            invoked,
            completed,
            action: Action::Get(result),
        }
    }

    fn read(value: &str, v: u64) -> GetResult {
        GetResult::Versioned {
            value: value.into(),
            version: ver(v),
        }
    }

    #[test]
    fn concurrent_versioned_writers_newest_wins() {
        let ops = vec![
            // Two writers overlap: allowed with versions.
            write("k", Some("a"), 10, 0, 20, true),
            write("k", Some("b"), 11, 5, 25, true),
            // During the writes either is fine.
            vget("k", read("a", 10), 6, 18),
            // After both: the newest version (b) only.
            vget("k", read("b", 11), 30, 40),
            vget("k", read("a", 10), 30, 40),
            // A failed write with a newer version may be read later.
            write("k", Some("c"), 12, 50, 60, false),
            vget("k", read("c", 12), 70, 80),
            vget("k", read("b", 11), 70, 80),
        ];
        let report = History { ops: ops.clone() }.check(true);
        assert_eq!(
            kinds(ops.clone(), true),
            [(
                4,
                ViolationKind::OlderThanAcknowledged {
                    read: Some(ver(10)),
                    acked: ver(11)
                }
            )]
        );
        assert!(report.violations[0].to_string().contains("after v0.11/"));
        assert_eq!((report.puts, report.puts_ok, report.deletes), (3, 2, 0));
        // Without intersecting quorums only the never-written check applies.
        assert!(kinds(ops, false).is_empty());
    }

    #[test]
    fn versioned_reads_must_match_a_write() {
        let ops = vec![
            write("k", Some("a"), 10, 0, 10, true),
            // Right value, wrong version; right version, wrong value.
            vget("k", read("a", 9), 20, 30),
            vget("k", read("x", 10), 20, 30),
            // A tombstone nobody wrote.
            vget("k", GetResult::Deleted(ver(10)), 20, 30),
            // A write invoked after the get completed.
            vget("k", read("later", 50), 20, 30),
            write("k", Some("later"), 50, 40, 45, true),
            // A value without a version: some write of it is enough.
            vget("k", GetResult::Value(b"a".to_vec()), 60, 70),
            vget("k", GetResult::Value(b"zzz".to_vec()), 60, 70),
            // A versioned result for a key written without versions.
            put("j", "1", 0, 10, true),
            vget("j", read("1", 1), 20, 30),
        ];
        assert_eq!(
            kinds(ops, true)
                .into_iter()
                .map(|(op, _)| op)
                .collect::<Vec<_>>(),
            [1, 2, 3, 4, 7, 9]
        );
    }

    #[test]
    fn deletes_then_not_found_and_resurrection() {
        let ops = vec![
            write("k", Some("a"), 10, 0, 10, true),
            write("k", None, 11, 20, 30, true),
            // After the acknowledged delete: not found, with or without
            // its tombstone (purged), or an older tombstone.
            vget("k", GetResult::Deleted(ver(11)), 40, 50),
            vget("k", GetResult::NotFound, 40, 50),
            // The deleted value: older than the acknowledged tombstone.
            vget("k", read("a", 10), 40, 50),
            // A newer put brings the key back; a tombstone is then stale.
            write("k", Some("b"), 12, 60, 70, true),
            vget("k", read("b", 12), 80, 90),
            vget("k", GetResult::Deleted(ver(11)), 80, 90),
            vget("k", GetResult::NotFound, 80, 90),
        ];
        let report = History { ops: ops.clone() }.check(true);
        assert_eq!(report.deletes, 1);
        assert_eq!(
            kinds(ops, true),
            [
                (
                    4,
                    ViolationKind::OlderThanAcknowledged {
                        read: Some(ver(10)),
                        acked: ver(11)
                    }
                ),
                (
                    7,
                    ViolationKind::OlderThanAcknowledged {
                        read: Some(ver(11)),
                        acked: ver(12)
                    }
                ),
                (
                    8,
                    ViolationKind::OlderThanAcknowledged {
                        read: None,
                        acked: ver(12)
                    }
                ),
            ]
        );
    }

    #[test]
    fn an_acknowledged_older_version_does_not_hide_a_newer_one() {
        // The newer version is acknowledged first, the older one later
        // (a slow writer): reads must still return the newer one.
        let ops = vec![
            write("k", Some("new"), 20, 0, 10, true),
            write("k", Some("old"), 15, 0, 30, true),
            vget("k", read("old", 15), 40, 50),
            vget("k", read("new", 20), 40, 50),
        ];
        assert_eq!(
            kinds(ops, true),
            [(
                2,
                ViolationKind::OlderThanAcknowledged {
                    read: Some(ver(15)),
                    acked: ver(20)
                }
            )]
        );
    }
}
