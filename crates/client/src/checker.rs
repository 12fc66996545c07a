//! A history checker for chaos tests: did the store keep its promises?
//!
//! A chaos test records every operation it runs ([`History`]): when it was
//! invoked and when it completed, get or put, key, value, and whether it
//! succeeded. A key written with plain puts ([`Action::Put`]) has exactly
//! one writer, which writes increasing values one put after the other, so
//! the order of a key's writes is the order of its puts and no two of them
//! overlap.
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
//! gave it — may have any number of concurrent writers. Its model orders
//! operations by *real time*, not by version, so that a writer whose clock
//! is ahead cannot hide a later acknowledged write behind its high version:
//! the version only identifies which write a get returned. A write
//! *precedes* another when it ended before the other was invoked; a failed
//! write never ends (it may or may not have been stored, and may surface at
//! any later time, e.g. through anti-entropy). A get's result
//! ([`GetResult::Versioned`], [`GetResult::Deleted`], a plain value or a
//! plain "not found") is flagged when:
//!
//! - **never written**: no write of that key with that version and that
//!   value (or tombstone; for a plain value, that value) had been invoked
//!   before the get completed;
//! - **older than acknowledged** (when W + R > N): every write that could
//!   explain the result — the write read; for a plain "not found", any
//!   delete invoked before the get completed, or the key's initial absence
//!   — precedes a write acknowledged before the get began, so what the get
//!   read had been overwritten. Overlapping writes may be read in either
//!   order.
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
    /// A get of a versioned key returned version `read` (`None`: a plain
    /// value, or "not found" without a tombstone) although, in real time,
    /// what it read had been overwritten by the write of version `acked`,
    /// acknowledged before the get began.
    OlderThanAcknowledged {
        /// The version read.
        read: Option<Version>,
        /// The version of the overwriting write (of those, the one
        /// acknowledged last before the get began).
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
        let key = crate::preview::for_message(&self.key);
        match &self.kind {
            ViolationKind::NeverWritten => {
                write!(
                    f,
                    "op {}: get {key} returned a value never written",
                    self.op
                )
            }
            ViolationKind::Stale { read, acked } => write!(
                f,
                "op {}: get {key} returned write #{read} after write #{acked} was acknowledged",
                self.op
            ),
            ViolationKind::LostWrite { acked } => write!(
                f,
                "op {}: get {key} said not found after write #{acked} was acknowledged",
                self.op
            ),
            ViolationKind::TwoWriters => {
                write!(
                    f,
                    "op {}: put {key} overlaps another put of the key",
                    self.op
                )
            }
            ViolationKind::OlderThanAcknowledged { read, acked } => write!(
                f,
                "op {}: get {key} read {}, overwritten by {} acknowledged before the get began",
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

/// Something per key, the key borrowed from the history.
type ByKey<'a, T> = HashMap<&'a [u8], T>;

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

    /// Orders the puts of `key` once all are added, reports overlapping
    /// ones ("two writers") into `violations`, and builds the positions
    /// and the acknowledged puts.
    fn finish(&mut self, key: &[u8], violations: &mut Vec<Violation>) {
        self.puts.sort_by_key(|p| (p.0, p.1));
        let mut previous_end = None;
        for (position, &(invoked, completed, ok, op, value)) in self.puts.iter().enumerate() {
            if previous_end.is_some_and(|end| invoked < end) {
                violations.push(Violation {
                    op,
                    key: key.to_vec(),
                    kind: ViolationKind::TwoWriters,
                });
            }
            previous_end = Some(completed);
            self.position.entry(value).or_insert((position, invoked));
            if ok {
                self.acked.push((completed, position));
            }
        }
        self.acked.sort_unstable();
        let mut newest = 0;
        for entry in &mut self.acked {
            newest = newest.max(entry.1);
            entry.1 = newest;
        }
    }

    /// What is wrong with a get of this (unversioned) key that returned
    /// `result` (`None` when nothing).
    fn check_get(&self, op: &Op, result: &GetResult, intersect: bool) -> Option<ViolationKind> {
        let acked = self.acked_before(op.invoked);
        match result {
            GetResult::Failed => None,
            // A versioned result for a key never written with versions.
            GetResult::Versioned { .. } | GetResult::Deleted(_) => {
                Some(ViolationKind::NeverWritten)
            }
            GetResult::NotFound => match acked {
                Some(acked) if intersect => Some(ViolationKind::LostWrite { acked }),
                _ => None,
            },
            GetResult::Value(v) => match self.position.get(v.as_slice()) {
                Some(&(read, invoked)) if invoked <= op.completed => match acked {
                    Some(acked) if intersect && read < acked => {
                        Some(ViolationKind::Stale { read, acked })
                    }
                    _ => None,
                },
                _ => Some(ViolationKind::NeverWritten),
            },
        }
    }
}

/// The effective end of a write: when it completed if it was acknowledged,
/// never (`u64::MAX`) if it failed — it may surface at any later time.
fn effective_end(op: &Op, ok: bool) -> u64 {
    if ok {
        op.completed.max(op.invoked)
    } else {
        u64::MAX
    }
}

/// Sorts a group of writes, `(invoked, effective end)`, by invocation and
/// replaces each end by the latest end among the writes invoked up to it.
fn by_invocation(group: &mut [(u64, u64)]) {
    group.sort_unstable();
    let mut latest = 0;
    for entry in group {
        latest = latest.max(entry.1);
        entry.1 = latest;
    }
}

/// The latest effective end among the writes of a group (sorted by
/// [`by_invocation`]) invoked at or before `time`; `None` when none was.
fn latest_end(group: &[(u64, u64)], time: u64) -> Option<u64> {
    let n = group.partition_point(|(invoked, _)| *invoked <= time);
    n.checked_sub(1)
        .and_then(|i| group.get(i))
        .map(|(_, end)| *end)
}

/// Range maxima over a fixed sequence (a sparse table): `levels[k][i]` is
/// the maximum of the 2^k values from position `i`.
#[derive(Default)]
struct MaxTable {
    levels: Vec<Vec<u64>>,
}

impl MaxTable {
    fn new(values: Vec<u64>) -> MaxTable {
        let mut levels = vec![values];
        let mut width = 1;
        while let Some(last) = levels.last() {
            if last.len() <= width {
                break;
            }
            let next = last
                .iter()
                .zip(last.iter().skip(width))
                .map(|(a, b)| *a.max(b))
                .collect();
            levels.push(next);
            width *= 2;
        }
        MaxTable { levels }
    }

    /// The maximum of the values at positions `lo..hi` (`None` if empty).
    fn max(&self, lo: usize, hi: usize) -> Option<u64> {
        let len = hi.checked_sub(lo).filter(|&len| len > 0)?;
        let k = len.ilog2();
        let level = self.levels.get(usize::try_from(k).ok()?)?;
        let a = level.get(lo)?;
        let b = level.get(hi.checked_sub(1 << k)?)?;
        Some(*a.max(b))
    }

    /// The last position before `n` whose value is above `floor` (`None`:
    /// minus infinity, below every value).
    fn last_above(&self, n: usize, floor: Option<u64>) -> Option<usize> {
        let above = |lo: usize| self.max(lo, n).is_some_and(|m| Some(m) > floor);
        if !above(0) {
            return None;
        }
        // above(lo) holds and above(hi) does not (`hi == n`: nothing left).
        let (mut lo, mut hi) = (0, n);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if above(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }
}

/// A group of writes: `(invoked, effective end)` of each.
type Group = Vec<(u64, u64)>;

/// One versioned key's writes ([`Action::Write`]), for the real-time
/// model.
#[derive(Default)]
struct Versioned<'a> {
    /// (version, value or tombstone) → the writes of it.
    by_version: HashMap<(Version, Option<&'a [u8]>), Group>,
    /// value (`None`: a delete) → the writes of it, whatever the version.
    by_value: HashMap<Option<&'a [u8]>, Group>,
    /// Acknowledged writes, (completed, invoked, version), sorted by
    /// completion.
    acked: Vec<(u64, u64, Version)>,
    /// Range maxima of the invocation times of `acked`.
    acked_invoked: MaxTable,
}

impl<'a> Versioned<'a> {
    /// Records a write.
    fn add(&mut self, op: &Op, value: Option<&'a [u8]>, version: Version, ok: bool) {
        let write = (op.invoked, effective_end(op, ok));
        self.by_version
            .entry((version, value))
            .or_default()
            .push(write);
        self.by_value.entry(value).or_default().push(write);
        if ok {
            self.acked.push((op.completed, op.invoked, version));
        }
    }

    /// Sorts and indexes the writes once all are recorded.
    fn finish(&mut self) {
        for group in self.by_version.values_mut() {
            by_invocation(group);
        }
        for group in self.by_value.values_mut() {
            by_invocation(group);
        }
        self.acked.sort_unstable();
        self.acked_invoked = MaxTable::new(self.acked.iter().map(|a| a.1).collect());
    }

    /// What is wrong with a get of this key that returned `result` (`None`
    /// when nothing).
    fn check_get(&self, op: &Op, result: &GetResult, intersect: bool) -> Option<ViolationKind> {
        // The writes that could explain the result.
        let candidates = match result {
            GetResult::Failed => return None,
            GetResult::Versioned { value, version } => {
                self.by_version.get(&(*version, Some(value.as_slice())))
            }
            GetResult::Deleted(version) => self.by_version.get(&(*version, None)),
            GetResult::Value(value) => self.by_value.get(&Some(value.as_slice())),
            GetResult::NotFound => self.by_value.get(&None),
        };
        // If the candidate that ended last was overwritten, so were all.
        // `None`: no candidate; for a plain "not found", the initial
        // absence, which precedes every write.
        let end = candidates.and_then(|group| latest_end(group, op.completed));
        if end.is_none() && !matches!(result, GetResult::NotFound) {
            return Some(ViolationKind::NeverWritten);
        }
        if !intersect {
            return None;
        }
        // An acknowledged write completed before the get began and invoked
        // after that end (never the candidate itself: a write does not end
        // before it is invoked), the last one to complete.
        let before = self.acked.partition_point(|(done, ..)| *done < op.invoked);
        let overwriting = self.acked_invoked.last_above(before, end)?;
        let &(_, _, acked) = self.acked.get(overwriting)?;
        Some(ViolationKind::OlderThanAcknowledged {
            read: result.version(),
            acked,
        })
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
        let (mut keys, mut versioned) = self.tally(&mut report);
        for (key, writes) in &mut keys {
            writes.finish(key, &mut report.violations);
        }
        for key in versioned.values_mut() {
            key.finish();
        }
        let none = Writes::default();
        for (i, op) in self.ops.iter().enumerate() {
            let Action::Get(result) = &op.action else {
                continue;
            };
            let kind = match versioned.get(op.key.as_slice()) {
                Some(key) => key.check_get(op, result, quorums_intersect),
                None => keys.get(op.key.as_slice()).unwrap_or(&none).check_get(
                    op,
                    result,
                    quorums_intersect,
                ),
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

    /// Counts the operations into `report` and groups the writes by key:
    /// unversioned puts, and versioned writes.
    fn tally(&self, report: &mut Report) -> (ByKey<'_, Writes<'_>>, ByKey<'_, Versioned<'_>>) {
        let mut keys: ByKey<Writes> = HashMap::new();
        let mut versioned: ByKey<Versioned> = HashMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            match &op.action {
                Action::Write { value, version, ok } => {
                    report.puts += 1;
                    report.puts_ok += usize::from(*ok);
                    report.deletes += usize::from(value.is_none());
                    versioned.entry(op.key.as_slice()).or_default().add(
                        op,
                        value.as_deref(),
                        *version,
                        *ok,
                    );
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
        (keys, versioned)
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

    fn older(read: Option<u64>, acked: u64) -> ViolationKind {
        ViolationKind::OlderThanAcknowledged {
            read: read.map(ver),
            acked: ver(acked),
        }
    }

    #[test]
    fn concurrent_versioned_writers_are_ordered_by_real_time() {
        let ops = vec![
            // Two writers overlap: allowed with versions.
            write("k", Some("a"), 10, 0, 20, true),
            write("k", Some("b"), 11, 5, 25, true),
            // During the writes either is fine.
            vget("k", read("a", 10), 6, 18),
            // After both, too: they overlapped, so neither precedes the
            // other, whatever their versions.
            vget("k", read("b", 11), 30, 40),
            vget("k", read("a", 10), 30, 40),
            // A failed write with a newer version may be read later.
            write("k", Some("c"), 12, 50, 60, false),
            vget("k", read("c", 12), 70, 80),
            vget("k", read("b", 11), 70, 80),
            // A write acknowledged after both, with an older version,
            // overwrites them in real time; not the failed one.
            write("k", Some("d"), 5, 90, 100, true),
            vget("k", read("b", 11), 110, 120),
            vget("k", read("c", 12), 110, 120),
            vget("k", read("d", 5), 110, 120),
        ];
        let report = History { ops: ops.clone() }.check(true);
        assert_eq!(kinds(ops.clone(), true), [(9, older(Some(11), 5))]);
        let text = report.violations[0].to_string();
        assert!(text.contains("overwritten by v0.5/"), "{text}");
        assert_eq!((report.puts, report.puts_ok, report.deletes), (4, 3, 0));
        // Without intersecting quorums only the never-written check applies.
        assert!(kinds(ops, false).is_empty());
    }

    #[test]
    fn a_clock_ahead_does_not_hide_a_later_acknowledged_write() {
        // The bug: a client whose clock is ahead writes a high version;
        // a later write, begun after the first was acknowledged, gets a
        // lower version. Reading the first afterwards loses the second.
        let ops = vec![
            write("k", Some("fast"), 2000, 0, 10, true),
            write("k", Some("later"), 1000, 20, 30, true),
            vget("k", read("fast", 2000), 40, 50),
            vget("k", read("later", 1000), 40, 50),
            // Without its version the value read is just as stale.
            vget("k", GetResult::Value(b"fast".to_vec()), 40, 50),
            // Before the later write was acknowledged the first is fine.
            vget("k", read("fast", 2000), 25, 50),
        ];
        assert_eq!(
            kinds(ops, true),
            [(2, older(Some(2000), 1000)), (4, older(None, 1000))]
        );
    }

    #[test]
    fn a_failed_write_is_indeterminate() {
        let ops = vec![
            // Failed, with a high version, then an acknowledged lower one.
            write("k", Some("failed"), 50, 0, 10, false),
            write("k", Some("acked"), 10, 20, 30, true),
            // The failed write may surface at any time, e.g. through
            // anti-entropy: reading it is not stale.
            vget("k", read("failed", 50), 40, 50),
            vget("k", read("acked", 10), 40, 50),
            // A failed write never overwrites anything either.
            write("j", Some("a"), 10, 0, 10, true),
            write("j", Some("b"), 50, 20, 30, false),
            vget("j", read("a", 10), 40, 50),
            // Nor does a failed delete.
            write("j", None, 60, 60, 70, false),
            vget("j", read("a", 10), 80, 90),
            vget("j", GetResult::Deleted(ver(60)), 80, 90),
            vget("j", GetResult::NotFound, 80, 90),
        ];
        assert!(kinds(ops, true).is_empty());
    }

    #[test]
    fn overlapping_acknowledged_writes_may_be_read_in_either_order() {
        // The newer version is acknowledged first, the older one later;
        // they overlapped, so either may be read, then and afterwards.
        let ops = vec![
            write("k", Some("new"), 20, 0, 10, true),
            write("k", Some("old"), 15, 0, 30, true),
            vget("k", read("old", 15), 40, 50),
            vget("k", read("new", 20), 40, 50),
            vget("k", read("new", 20), 5, 8),
            vget("k", read("old", 15), 12, 20),
        ];
        assert!(kinds(ops, true).is_empty());
    }

    #[test]
    fn reports_the_overwriting_write_acknowledged_last() {
        let ops = vec![
            write("k", Some("a"), 10, 0, 10, true),
            write("k", Some("b"), 11, 20, 30, true),
            write("k", Some("c"), 12, 25, 35, true),
            // Overlaps "a", so does not overwrite it, although it is
            // acknowledged last.
            write("k", Some("d"), 13, 5, 38, true),
            // Acknowledged after the get began.
            write("k", Some("e"), 14, 39, 45, true),
            vget("k", read("a", 10), 40, 50),
        ];
        assert_eq!(kinds(ops, true), [(5, older(Some(10), 12))]);
    }

    #[test]
    fn plain_values_are_explained_by_any_write_of_them() {
        let ops = vec![
            write("k", Some("a"), 10, 0, 10, true),
            write("k", Some("b"), 11, 20, 30, true),
            write("k", Some("a"), 12, 40, 50, true),
            // Before the second "a" was invoked: the first is overwritten.
            vget("k", GetResult::Value(b"a".to_vec()), 35, 38),
            // The second "a" explains it.
            vget("k", GetResult::Value(b"a".to_vec()), 60, 70),
            vget("k", GetResult::Value(b"a".to_vec()), 35, 45),
        ];
        assert_eq!(kinds(ops, true), [(3, older(None, 11))]);
    }

    #[test]
    fn not_found_needs_a_delete_or_nothing_acknowledged() {
        let ops = vec![
            // Nothing written yet, or the put still running: not found is
            // the initial absence.
            vget("k", GetResult::NotFound, 0, 5),
            write("k", Some("a"), 10, 1, 10, true),
            vget("k", GetResult::NotFound, 5, 15),
            // After the acknowledged put, no delete explains it.
            vget("k", GetResult::NotFound, 20, 30),
            // A delete invoked after the put was acknowledged (still
            // running, then acknowledged) explains it.
            write("j", Some("a"), 10, 0, 10, true),
            write("j", None, 11, 15, 100, true),
            vget("j", GetResult::NotFound, 20, 30),
            vget("j", GetResult::NotFound, 200, 210),
            // The only delete was acknowledged before the put began.
            write("m", None, 5, 0, 10, true),
            write("m", Some("a"), 10, 20, 30, true),
            vget("m", GetResult::NotFound, 40, 50),
        ];
        assert_eq!(
            kinds(ops, true),
            [(3, older(None, 10)), (10, older(None, 10))]
        );
    }

    #[test]
    fn a_tombstone_acknowledged_before_a_put_began_is_stale() {
        // The delete has the higher version; the put still overwrites it.
        let ops = vec![
            write("k", None, 20, 0, 10, true),
            write("k", Some("b"), 10, 20, 30, true),
            vget("k", GetResult::Deleted(ver(20)), 40, 50),
            vget("k", read("b", 10), 40, 50),
            vget("k", GetResult::Deleted(ver(20)), 25, 35),
        ];
        assert_eq!(kinds(ops, true), [(2, older(Some(20), 10))]);
    }

    #[test]
    fn without_intersecting_quorums_only_never_written_is_checked() {
        let ops = vec![
            write("k", Some("fast"), 2000, 0, 10, true),
            write("k", Some("later"), 1000, 20, 30, true),
            vget("k", read("fast", 2000), 40, 50),
            vget("k", GetResult::NotFound, 40, 50),
            vget("k", read("nobody", 3000), 40, 50),
            vget("k", GetResult::Deleted(ver(1000)), 40, 50),
        ];
        assert_eq!(
            kinds(ops.clone(), false),
            [
                (4, ViolationKind::NeverWritten),
                (5, ViolationKind::NeverWritten)
            ]
        );
        assert_eq!(kinds(ops, true).len(), 4);
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
        let never = [1, 2, 3, 4, 7, 9].map(|op| (op, ViolationKind::NeverWritten));
        assert_eq!(kinds(ops.clone(), false), never);
        // With intersecting quorums, "a" at 60 was overwritten by "later".
        let mut all = never.to_vec();
        all.push((6, older(None, 50)));
        all.sort_by_key(|(op, _)| *op);
        assert_eq!(kinds(ops, true), all);
    }

    #[test]
    fn deletes_then_not_found_and_resurrection() {
        let ops = vec![
            write("k", Some("a"), 10, 0, 10, true),
            write("k", None, 11, 20, 30, true),
            // After the acknowledged delete: not found, with or without
            // its tombstone (purged).
            vget("k", GetResult::Deleted(ver(11)), 40, 50),
            vget("k", GetResult::NotFound, 40, 50),
            // The deleted value: overwritten by the acknowledged tombstone.
            vget("k", read("a", 10), 40, 50),
            // A later put brings the key back; the tombstone is then stale.
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
                (4, older(Some(10), 11)),
                (7, older(Some(11), 12)),
                (8, older(None, 12)),
            ]
        );
    }

    #[test]
    fn a_long_history_with_decreasing_versions() {
        // One writer, each write acknowledged before the next began, with
        // ever lower versions; each get reads the last write, or the one
        // before it (stale).
        let mut ops = Vec::new();
        let n = 50_000;
        for i in 0..n {
            let t = 10 * i;
            let value = i.to_string();
            ops.push(write("k", Some(&value), 1_000_000 - i, t, t + 5, true));
            let stale = i % 1000 == 999;
            let (v, version) = if stale {
                ((i - 1).to_string(), 1_000_000 - (i - 1))
            } else {
                (value, 1_000_000 - i)
            };
            ops.push(vget("k", read(&v, version), t + 6, t + 9));
        }
        let found = kinds(ops, true);
        assert_eq!(found.len(), 50);
        assert_eq!(
            found[0],
            (1999, older(Some(1_000_000 - 998), 1_000_000 - 999))
        );
    }

    /// The rules, checked naively on every get.
    fn naive(ops: &[Op], intersect: bool) -> Vec<(usize, ViolationKind)> {
        let end = |w: &Op| match w.action {
            Action::Write { ok: true, .. } => Some(w.completed),
            _ => Some(u64::MAX),
        };
        let mut found = Vec::new();
        for (i, g) in ops.iter().enumerate() {
            let Action::Get(result) = &g.action else {
                continue;
            };
            let writes = || {
                ops.iter()
                    .filter(|w| w.key == g.key && matches!(w.action, Action::Write { .. }))
            };
            let explains = |w: &Op| {
                let Action::Write { value, version, .. } = &w.action else {
                    return false;
                };
                w.invoked <= g.completed
                    && match result {
                        GetResult::Versioned {
                            value: v,
                            version: n,
                        } => value.as_ref() == Some(v) && version == n,
                        GetResult::Deleted(n) => value.is_none() && version == n,
                        GetResult::Value(v) => value.as_ref() == Some(v),
                        GetResult::NotFound => value.is_none(),
                        GetResult::Failed => false,
                    }
            };
            let mut candidates: Vec<Option<u64>> =
                writes().filter(|w| explains(w)).map(end).collect();
            if *result == GetResult::Failed {
                continue;
            }
            if *result == GetResult::NotFound {
                candidates.push(None);
            } else if candidates.is_empty() {
                found.push((i, ViolationKind::NeverWritten));
                continue;
            }
            if !intersect {
                continue;
            }
            let overwriting = writes()
                .filter(|a| {
                    matches!(a.action, Action::Write { ok: true, .. })
                        && a.completed < g.invoked
                        && candidates.iter().all(|c| *c < Some(a.invoked))
                })
                .max_by_key(|a| {
                    let Action::Write { version, .. } = a.action else {
                        unreachable!()
                    };
                    (a.completed, a.invoked, version)
                });
            if let Some(a) = overwriting {
                let Action::Write { version, .. } = a.action else {
                    unreachable!()
                };
                found.push((
                    i,
                    ViolationKind::OlderThanAcknowledged {
                        read: result.version(),
                        acked: version,
                    },
                ));
            }
        }
        found
    }

    #[test]
    fn agrees_with_the_naive_rules_on_random_histories() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let values = ["a", "b", "c"];
        let mut flagged = 0;
        for _ in 0..300 {
            let mut ops: Vec<Op> = Vec::new();
            let mut written: Vec<(Option<&str>, u64)> = Vec::new();
            for _ in 0..next(40) {
                let key = if next(4) == 0 { "j" } else { "k" };
                let invoked = next(200);
                let completed = invoked + next(30);
                if next(2) == 0 {
                    let value = (next(4) > 0).then(|| values[next(3) as usize]);
                    let version = next(20);
                    written.push((value, version));
                    ops.push(write(key, value, version, invoked, completed, next(5) > 0));
                } else {
                    let result = match (next(6), written.get(next(40) as usize)) {
                        (0, _) => GetResult::NotFound,
                        (1, _) => GetResult::Failed,
                        (2, _) => GetResult::Value(values[next(3) as usize].into()),
                        (_, Some(&(Some(v), n))) => read(v, if next(8) == 0 { n + 1 } else { n }),
                        (_, Some(&(None, n))) => GetResult::Deleted(ver(n)),
                        (_, None) => read("a", next(20)),
                    };
                    ops.push(vget(key, result, invoked, completed));
                }
            }
            for intersect in [true, false] {
                let expected = naive(&ops, intersect);
                flagged += expected.len();
                assert_eq!(kinds(ops.clone(), intersect), expected, "{ops:#?}");
            }
        }
        assert!(flagged > 100, "{flagged}");
    }
}
