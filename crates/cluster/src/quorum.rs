//! Choosing N, W and R for one operation (docs/ARCHITECTURE.md, "Quorums").
//!
//! The CLI's `-n/-w/-r` flags and the REPL's `n=`/`w=`/`r=` words follow the
//! same rules, so they are decided here once: values the user gave are
//! checked (N <= S, W <= N, R <= N, all >= 1); values not given come from the
//! configuration's `[defaults]` (or 3/2/2) and are lowered to what the ring
//! can serve, so a one-server ring works with no options at all.
//!
//! It also holds the read rule ([`read_rule`]): when R replies to a get
//! agree, made version-aware for protocol v2 — a get succeeds when R
//! servers return the *newest* version the operation has seen, and never
//! returns a value once a newer version was seen. Replies without a version
//! (protocol v1) keep the original rule: R identical values.

use crate::config::{DEFAULT_N, DEFAULT_R, DEFAULT_W, Defaults};
use crate::version::Version;

/// The options one operation was given; `None` = not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuorumOptions {
    /// Replication factor.
    pub n: Option<u32>,
    /// Write quorum.
    pub w: Option<u32>,
    /// Read quorum.
    pub r: Option<u32>,
}

impl QuorumOptions {
    /// Sets N.
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }
    /// Sets W.
    pub fn w(mut self, w: u32) -> Self {
        self.w = Some(w);
        self
    }
    /// Sets R.
    pub fn r(mut self, r: u32) -> Self {
        self.r = Some(r);
        self
    }
}

/// The resolved quorum of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Number of servers the request goes to.
    pub n: usize,
    /// Acknowledgements a put needs.
    pub w: usize,
    /// Identical values a get needs.
    pub r: usize,
}

/// An option the ring cannot honour. Its `Display` names the options as
/// the command-line tools spell them (`-n 2`); the REPL, whose options are
/// words, words its errors with [`QuorumError::message`] and
/// [`Spelling::Words`] (`n=2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumError {
    /// A value of 0.
    Zero(&'static str),
    /// N larger than the number of servers.
    NTooLarge {
        /// Requested N.
        n: u32,
        /// Servers in the ring.
        s: usize,
    },
    /// W or R larger than N.
    QuorumTooLarge {
        /// "W" or "R".
        name: &'static str,
        /// Requested value.
        value: u32,
        /// N in force.
        n: usize,
    },
}

/// How a message spells the N, W and R options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// The command-line tools' flags: `-n 2`.
    Flags,
    /// The REPL's words: `n=2`.
    Words,
}

impl Spelling {
    /// Option `name` ("N", "W" or "R") set to `value`, spelled this way.
    pub fn option(self, name: &str, value: impl std::fmt::Display) -> String {
        let name = name.to_lowercase();
        match self {
            Spelling::Flags => format!("-{name} {value}"),
            Spelling::Words => format!("{name}={value}"),
        }
    }
}

impl QuorumError {
    /// The error in words, with its options spelled as `spelling` says.
    pub fn message(&self, spelling: Spelling) -> String {
        match self {
            QuorumError::Zero(name) => format!("{name} must be a strictly positive integer"),
            QuorumError::NTooLarge { n, s } => format!(
                "N = {n} is larger than the number of servers ({s}); use at most {}",
                spelling.option("N", s)
            ),
            QuorumError::QuorumTooLarge { name, value, n } => format!(
                "{name} = {value} is larger than N = {n}; a quorum cannot exceed the replicas"
            ),
        }
    }
}

impl std::fmt::Display for QuorumError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Spelling::Flags))
    }
}

impl std::error::Error for QuorumError {}

impl QuorumOptions {
    /// Applies the quorum rules for a ring of `servers` servers.
    pub fn resolve(&self, defaults: &Defaults, servers: usize) -> Result<Quorum, QuorumError> {
        for (value, name) in [(self.n, "N"), (self.w, "W"), (self.r, "R")] {
            if value == Some(0) {
                return Err(QuorumError::Zero(name));
            }
        }
        let n = match self.n {
            Some(n) if n as usize > servers => {
                return Err(QuorumError::NTooLarge { n, s: servers });
            }
            Some(n) => n as usize,
            None => (defaults.n.unwrap_or(DEFAULT_N) as usize).min(servers),
        };
        let pick = |given: Option<u32>, default: Option<u32>, fallback: u32, name| match given {
            Some(v) if v as usize > n => Err(QuorumError::QuorumTooLarge { name, value: v, n }),
            Some(v) => Ok(v as usize),
            None => Ok((default.unwrap_or(fallback) as usize).min(n)),
        };
        Ok(Quorum {
            n,
            w: pick(self.w, defaults.w, DEFAULT_W, "W")?,
            r: pick(self.r, defaults.r, DEFAULT_R, "R")?,
        })
    }
}

/// One server's answer to a get, as the read rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReply<'a> {
    /// A v1 value: no version (from a v1-only server, or a v2 server's
    /// value written through v1). It agrees with a newest versioned value
    /// that has the same bytes; with other bytes it is neither older nor
    /// newer, and wins by the byte rule when R replies agree on it.
    V1Value(&'a [u8]),
    /// A v1 "not found": no version; it agrees with a newest tombstone.
    V1NotFound,
    /// A v2 value and its version.
    Value(&'a [u8], Version),
    /// A v2 "not found" with the tombstone's version: deleted at it.
    Deleted(Version),
    /// A v2 "not found" without a tombstone: the server never saw the key
    /// (or purged its tombstone) — older than any version.
    Absent,
}

impl<'a> ReadReply<'a> {
    /// The version the reply carries (v2 values and tombstones).
    pub fn version(&self) -> Option<Version> {
        match self {
            ReadReply::Value(_, v) | ReadReply::Deleted(v) => Some(*v),
            _ => None,
        }
    }

    /// True for every kind of "not found".
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            ReadReply::V1NotFound | ReadReply::Deleted(_) | ReadReply::Absent
        )
    }

    /// The value bytes, for value replies.
    pub fn value(self) -> Option<&'a [u8]> {
        match self {
            ReadReply::V1Value(v) | ReadReply::Value(v, _) => Some(v),
            _ => None,
        }
    }
}

/// The newest record a get has seen among versioned replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newest<'a> {
    /// A live value at this version.
    Value(&'a [u8], Version),
    /// A tombstone at this version.
    Deleted(Version),
}

impl Newest<'_> {
    /// Its version.
    pub fn version(&self) -> Version {
        match self {
            Newest::Value(_, v) | Newest::Deleted(v) => *v,
        }
    }
}

/// What the read rule concludes from the replies so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadVerdict<'a> {
    /// Undecided: outstanding replies could still change the outcome.
    Pending,
    /// R replies agree on this value (with its version, when versioned).
    Value(&'a [u8], Option<Version>),
    /// R replies agree the key is absent (deleted at the version, when the
    /// newest record seen is a tombstone).
    NotFound(Option<Version>),
    /// No outcome can reach R any more.
    NotEnough,
}

/// The read rule's decision: the verdict and which replies counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadDecision<'a> {
    /// The verdict.
    pub verdict: ReadVerdict<'a>,
    /// Per reply (aligned with the input), whether it counted.
    pub counted: Vec<bool>,
}

/// The newest versioned record among `replies` (`None` when no reply
/// carries a version). Of two records with the same version, a value wins
/// over a tombstone (servers never hold both; it only matters for
/// nonsense replies).
pub fn newest<'a>(replies: &[Option<ReadReply<'a>>]) -> Option<Newest<'a>> {
    replies
        .iter()
        .flatten()
        .filter_map(|r| match *r {
            ReadReply::Value(v, version) => Some(Newest::Value(v, version)),
            ReadReply::Deleted(version) => Some(Newest::Deleted(version)),
            _ => None,
        })
        .max_by_key(|n| (n.version(), matches!(n, Newest::Value(..))))
}

/// The get's read rule. `replies` holds one entry per server asked: the
/// reply, or `None` when the server has not answered (or answered nothing
/// usable: timeout, refusal, garbage); `outstanding` of those may still
/// answer; `r` is the read quorum.
///
/// - No reply carries a version (v1 servers, or v2 servers that never saw
///   the key): a value returned by R servers byte for byte; "not
///   found" once R servers said so and no value can reach R.
/// - Otherwise, let *newest* be the highest version seen. A live newest
///   value succeeds once R replies agree with it (v2 replies of exactly
///   that version, v1 replies with the same bytes). A newest tombstone
///   gives "not found" once R replies say not found (a stale tombstone or
///   a server that never saw the key also says it: no value is returned).
///   Every other *versioned* reply is older and never returned: {newer,
///   older, older} with R=2 fails. Values without a version (written
///   through v1) cannot be ordered against versions: as in v1, the first
///   value R replies agree on wins — the newest versioned record, or such
///   a value returned byte for byte by R replies (answered without a
///   version) — {A@v, C, C} gives C.
/// - The verdict is [`ReadVerdict::NotEnough`] only when no outcome can
///   reach R even if every outstanding server answered alike.
pub fn read_rule<'a>(
    replies: &[Option<ReadReply<'a>>],
    outstanding: usize,
    r: usize,
) -> ReadDecision<'a> {
    let tally = ReadTally::new(replies, outstanding, r);
    match newest(replies) {
        None => tally.decide_unversioned(),
        Some(Newest::Value(value, version)) => tally.decide_newest_value(value, version),
        Some(Newest::Deleted(version)) => tally.decide_newest_deleted(version),
    }
}

/// What [`read_rule`] counts over the replies so far, before it looks at
/// the newest versioned record.
struct ReadTally<'a, 's> {
    /// The replies, one per server asked (see [`read_rule`]).
    replies: &'s [Option<ReadReply<'a>>],
    /// How many of the servers asked may still answer.
    outstanding: usize,
    /// The read quorum.
    r: usize,
    /// How many replies say the key is absent.
    absent: usize,
    /// Groups of identical v1 values (the only values without a version).
    /// Without versions they are v1's tally; with versions, a bound on what
    /// a newer value still to come could gather (v1 copies of its bytes
    /// would agree with it). Older versioned values can never win.
    groups: Vec<(&'a [u8], usize)>,
    /// The first v1 value whose group reached R, in reply order.
    first_full: Option<&'a [u8]>,
    /// The size of the largest group.
    best: usize,
}

impl<'a, 's> ReadTally<'a, 's> {
    /// Tallies `replies` (see [`read_rule`] for the arguments).
    fn new(replies: &'s [Option<ReadReply<'a>>], outstanding: usize, r: usize) -> Self {
        let absent = replies.iter().flatten().filter(|x| x.is_absent()).count();
        let mut groups: Vec<(&'a [u8], usize)> = Vec::new();
        let mut first_full: Option<&'a [u8]> = None;
        for x in replies.iter().flatten() {
            let ReadReply::V1Value(v) = *x else { continue };
            match groups.iter_mut().find(|(g, _)| *g == v) {
                Some(g) => g.1 += 1,
                None => groups.push((v, 1)),
            }
            if first_full.is_none() && groups.iter().any(|(g, c)| *g == v && *c >= r) {
                first_full = Some(v);
            }
        }
        let best = groups.iter().map(|g| g.1).max().unwrap_or(0);
        ReadTally {
            replies,
            outstanding,
            r,
            absent,
            groups,
            first_full,
            best,
        }
    }

    /// Per reply, whether it is present and `counts` holds for it.
    fn mark(&self, counts: impl Fn(&ReadReply) -> bool) -> Vec<bool> {
        self.replies
            .iter()
            .map(|x| x.as_ref().is_some_and(&counts))
            .collect()
    }

    /// An undecided (or hopeless) decision, with no reply counted.
    fn undecided(&self, verdict: ReadVerdict<'a>) -> ReadDecision<'a> {
        ReadDecision {
            verdict,
            counted: vec![false; self.replies.len()],
        }
    }

    /// With versions: undecided while the newest record's group
    /// (`agreeing` replies) can still reach R, or while a newer record
    /// still to come (one outstanding reply at least) could, with the "not
    /// found" or v1 copies that would agree.
    fn pending(&self, agreeing: usize) -> ReadVerdict<'a> {
        let newer_possible =
            self.outstanding > 0 && self.absent.max(self.best) + self.outstanding >= self.r;
        if agreeing + self.outstanding >= self.r || newer_possible {
            ReadVerdict::Pending
        } else {
            ReadVerdict::NotEnough
        }
    }

    /// No reply carries a version: v1's byte rule.
    fn decide_unversioned(&self) -> ReadDecision<'a> {
        if let Some(value) = self.first_full {
            return ReadDecision {
                verdict: ReadVerdict::Value(value, None),
                counted: self.mark(|x| x.value() == Some(value)),
            };
        }
        if self.best + self.outstanding < self.r && self.absent >= self.r {
            return ReadDecision {
                verdict: ReadVerdict::NotFound(None),
                counted: self.mark(|x| x.is_absent()),
            };
        }
        self.undecided(if self.absent.max(self.best) + self.outstanding < self.r {
            ReadVerdict::NotEnough
        } else {
            ReadVerdict::Pending
        })
    }

    /// The newest versioned record is a live `value` at `version`.
    fn decide_newest_value(&self, value: &'a [u8], version: Version) -> ReadDecision<'a> {
        let agrees = |x: &ReadReply| match *x {
            ReadReply::Value(_, v) => v == version,
            ReadReply::V1Value(v) => v == value,
            _ => false,
        };
        let agreeing = self.replies.iter().flatten().filter(|x| agrees(x)).count();
        if agreeing >= self.r {
            return ReadDecision {
                verdict: ReadVerdict::Value(value, Some(version)),
                counted: self.mark(agrees),
            };
        }
        if let Some(decision) = unversioned_win(&self.groups, self.r, Some(value), self.replies) {
            return decision;
        }
        self.undecided(self.pending(agreeing))
    }

    /// The newest versioned record is a tombstone at `version`.
    fn decide_newest_deleted(&self, version: Version) -> ReadDecision<'a> {
        if self.absent >= self.r {
            return ReadDecision {
                verdict: ReadVerdict::NotFound(Some(version)),
                counted: self.mark(|x| x.is_absent()),
            };
        }
        if let Some(decision) = unversioned_win(&self.groups, self.r, None, self.replies) {
            return decision;
        }
        self.undecided(self.pending(self.absent))
    }
}

/// A value without a version (written through v1) that R replies returned
/// byte for byte, when the newest versioned record has not gathered R:
/// such values carry no version, so they are neither older nor newer than
/// any versioned record, and the byte rule decides between them
/// (DECISIONS #78). `newest_bytes` is the newest versioned value's bytes,
/// whose v1 copies already agree with it.
fn unversioned_win<'a>(
    groups: &[(&'a [u8], usize)],
    r: usize,
    newest_bytes: Option<&[u8]>,
    replies: &[Option<ReadReply>],
) -> Option<ReadDecision<'a>> {
    let (value, _) = groups
        .iter()
        .find(|(g, c)| *c >= r && Some(*g) != newest_bytes)?;
    let value: &'a [u8] = value;
    Some(ReadDecision {
        verdict: ReadVerdict::Value(value, None),
        counted: replies
            .iter()
            .map(|x| matches!(*x, Some(ReadReply::V1Value(v)) if v == value))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(o: QuorumOptions, s: usize) -> Result<Quorum, QuorumError> {
        o.resolve(&Defaults::default(), s)
    }

    #[test]
    fn defaults_lowered_to_ring() {
        let d = QuorumOptions::default();
        assert_eq!(q(d, 5), Ok(Quorum { n: 3, w: 2, r: 2 }));
        assert_eq!(q(d, 1), Ok(Quorum { n: 1, w: 1, r: 1 }));
        assert_eq!(q(d, 2), Ok(Quorum { n: 2, w: 2, r: 2 }));
        assert_eq!(q(d.n(1), 3), Ok(Quorum { n: 1, w: 1, r: 1 }));
        assert_eq!(q(d.r(1), 3), Ok(Quorum { n: 3, w: 2, r: 1 }));
        assert_eq!(q(d.n(4).w(3), 5), Ok(Quorum { n: 4, w: 3, r: 2 }));
    }

    #[test]
    fn explicit_values_checked() {
        let d = QuorumOptions::default();
        assert_eq!(q(d.n(4), 3), Err(QuorumError::NTooLarge { n: 4, s: 3 }));
        assert!(matches!(
            q(d.w(4), 5),
            Err(QuorumError::QuorumTooLarge { name: "W", .. })
        ));
        assert!(matches!(
            q(d.n(2).r(3), 5),
            Err(QuorumError::QuorumTooLarge { name: "R", .. })
        ));
        assert!(matches!(
            q(d.w(2), 1),
            Err(QuorumError::QuorumTooLarge { .. })
        ));
        assert_eq!(q(d.n(0), 3), Err(QuorumError::Zero("N")));
        assert_eq!(q(d.w(0), 3), Err(QuorumError::Zero("W")));
        assert_eq!(q(d.r(0), 3), Err(QuorumError::Zero("R")));
    }

    /// The tools say `-n 2`, the REPL `n=2`: each its own syntax.
    #[test]
    fn errors_spell_the_options_as_the_caller_does() {
        let e = QuorumError::NTooLarge { n: 4, s: 2 };
        assert_eq!(
            e.to_string(),
            "N = 4 is larger than the number of servers (2); use at most -n 2"
        );
        assert_eq!(e.to_string(), e.message(Spelling::Flags));
        assert_eq!(
            e.message(Spelling::Words),
            "N = 4 is larger than the number of servers (2); use at most n=2"
        );
        assert_eq!(Spelling::Words.option("W", 3), "w=3");
        assert_eq!(Spelling::Flags.option("R", 1), "-r 1");
    }

    #[test]
    fn config_defaults_used_and_lowered() {
        let defaults = Defaults {
            n: Some(4),
            w: Some(3),
            r: Some(1),
            timeout_ms: 100,
            ..Defaults::default()
        };
        let o = QuorumOptions::default();
        assert_eq!(o.resolve(&defaults, 5), Ok(Quorum { n: 4, w: 3, r: 1 }));
        assert_eq!(o.resolve(&defaults, 2), Ok(Quorum { n: 2, w: 2, r: 1 }));
        assert_eq!(
            o.n(2).resolve(&defaults, 5),
            Ok(Quorum { n: 2, w: 2, r: 1 })
        );
    }

    fn v(t: u64) -> Version {
        Version {
            timestamp: t,
            writer: 1,
        }
    }

    fn verdict<'a>(
        replies: &[Option<ReadReply<'a>>],
        outstanding: usize,
        r: usize,
    ) -> ReadVerdict<'a> {
        read_rule(replies, outstanding, r).verdict
    }

    #[test]
    fn v1_replies_keep_the_spec_rule() {
        use ReadReply::*;
        let a = Some(V1Value(b"a"));
        let b = Some(V1Value(b"b"));
        let nf = Some(V1NotFound);
        assert_eq!(verdict(&[a, a, None], 1, 2), ReadVerdict::Value(b"a", None));
        assert_eq!(verdict(&[a, b, None], 1, 2), ReadVerdict::Pending);
        assert_eq!(verdict(&[a, b, None], 0, 2), ReadVerdict::NotEnough);
        assert_eq!(verdict(&[nf, nf, a], 0, 2), ReadVerdict::NotFound(None));
        assert_eq!(verdict(&[nf, a, None], 1, 2), ReadVerdict::Pending);
        let d = read_rule(&[a, nf, a], 0, 2);
        assert_eq!(d.counted, [true, false, true]);
        // v2 servers that never saw the key say "not found" like v1 ones.
        assert_eq!(
            verdict(&[Some(Absent), Some(Absent), None], 1, 2),
            ReadVerdict::NotFound(None)
        );
    }

    #[test]
    fn newest_version_wins_and_older_values_are_never_returned() {
        use ReadReply::*;
        let new = Some(Value(b"new", v(9)));
        let old = Some(Value(b"old", v(5)));
        // {newer, older, older} with R=2 fails rather than return "old".
        assert_eq!(verdict(&[new, old, old], 0, 2), ReadVerdict::NotEnough);
        assert_eq!(verdict(&[new, old, None], 1, 2), ReadVerdict::Pending);
        assert_eq!(
            verdict(&[new, old, new], 0, 2),
            ReadVerdict::Value(b"new", Some(v(9)))
        );
        assert_eq!(
            read_rule(&[new, old, new], 0, 2).counted,
            [true, false, true]
        );
        // Two older copies agreeing before the newer one is seen: the
        // operation only knows what it has seen.
        assert_eq!(
            verdict(&[old, old, None], 1, 2),
            ReadVerdict::Value(b"old", Some(v(5)))
        );
        // Same bytes under another version do not agree with the newest.
        let same_bytes_older = Some(Value(b"new", v(3)));
        assert_eq!(
            verdict(&[new, same_bytes_older, None], 0, 2),
            ReadVerdict::NotEnough
        );
        // A v1 value with the newest bytes agrees; with other bytes it is older.
        assert_eq!(
            verdict(&[new, Some(V1Value(b"new")), old], 0, 2),
            ReadVerdict::Value(b"new", Some(v(9)))
        );
        assert_eq!(
            verdict(&[new, Some(V1Value(b"x")), old], 0, 2),
            ReadVerdict::NotEnough
        );
        // Values written through v1 have no version: two copies of one
        // win by the byte rule when the newest version cannot reach R
        // (a v1 put acknowledged by a v1 quorum after a v2 one).
        let c = Some(V1Value(b"c"));
        assert_eq!(verdict(&[new, c, c], 0, 2), ReadVerdict::Value(b"c", None));
        assert_eq!(read_rule(&[new, c, c], 0, 2).counted, [false, true, true]);
        assert_eq!(verdict(&[new, c, None], 1, 2), ReadVerdict::Pending);
        // The newest version still wins when it gathers R first.
        assert_eq!(
            verdict(&[new, c, new], 0, 2),
            ReadVerdict::Value(b"new", Some(v(9)))
        );
        // A stale versioned copy of the v1 bytes does not join their group.
        let old_c = Some(Value(b"c", v(5)));
        assert_eq!(verdict(&[new, old_c, c], 0, 2), ReadVerdict::NotEnough);
        // A value newer than every "not found".
        assert_eq!(
            verdict(&[new, Some(Absent), Some(V1NotFound)], 0, 2),
            ReadVerdict::NotEnough
        );
    }

    #[test]
    fn tombstones_are_versions() {
        use ReadReply::*;
        let del = Some(Deleted(v(9)));
        let old = Some(Value(b"old", v(5)));
        assert_eq!(
            verdict(&[del, del, old], 0, 2),
            ReadVerdict::NotFound(Some(v(9)))
        );
        assert_eq!(
            read_rule(&[del, old, del], 0, 2).counted,
            [true, false, true]
        );
        // A tombstone newer than a value: the value is not returned.
        assert_eq!(verdict(&[del, old, old], 0, 2), ReadVerdict::NotEnough);
        // Servers that never saw the key, or hold an older tombstone, also
        // say not found.
        assert_eq!(
            verdict(&[del, Some(Absent), None], 1, 2),
            ReadVerdict::NotFound(Some(v(9)))
        );
        assert_eq!(
            verdict(&[del, Some(Deleted(v(2))), None], 1, 2),
            ReadVerdict::NotFound(Some(v(9)))
        );
        // A value newer than the tombstone wins.
        let newer = Some(Value(b"back", v(12)));
        assert_eq!(
            verdict(&[del, newer, newer], 0, 2),
            ReadVerdict::Value(b"back", Some(v(12)))
        );
        // A value written through v1 on R servers is not ordered against
        // the tombstone: the byte rule answers it.
        let c = Some(V1Value(b"c"));
        assert_eq!(verdict(&[del, c, c], 0, 2), ReadVerdict::Value(b"c", None));
        // Pending while an outstanding tombstone could still make R.
        assert_eq!(
            verdict(&[Some(Value(b"x", v(3))), Some(Absent), None], 1, 2),
            ReadVerdict::Pending
        );
    }

    #[test]
    fn newest_prefers_the_highest_version() {
        use ReadReply::*;
        assert_eq!(newest(&[Some(V1Value(b"a")), Some(Absent), None]), None);
        assert_eq!(
            newest(&[
                Some(Value(b"a", v(3))),
                Some(Deleted(v(4))),
                Some(Value(b"c", v(2)))
            ]),
            Some(Newest::Deleted(v(4)))
        );
    }
}
