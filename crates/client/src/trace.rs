//! What happened during one quorum operation, server by server.
//!
//! The quorum client fills a [`Trace`] as replies arrive: which node selected
//! each server, what it answered, how fast, and whether the answer counted
//! toward the quorum. The CLI only needs the verdict; the REPL prints the whole
//! trace and the TUI redraws it after every reply, which is how a
//! class watches a quorum form.
//!
//! Protocol v2 (issue 7) adds, per server, the dialect it answered in, the
//! version it reported and the read repair it was sent; and, per operation,
//! the version written or read. All of them stay empty with v1-only
//! servers, so a v1 trace reads exactly as before.

use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use crate::protocol_v2::{Dialect, Reason};
use crate::quorum::Quorum;
use crate::version::Version;

/// Which quorum operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Quorum read.
    Get,
    /// Quorum write.
    Put,
    /// Quorum delete: a versioned tombstone (protocol v2 only), quorum W.
    Delete,
}

impl OpKind {
    /// True for the writes (put and delete), which need W acknowledgements.
    pub fn is_write(self) -> bool {
        matches!(self, OpKind::Put | OpKind::Delete)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Delete => "del",
        })
    }
}

/// What one server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A put was stored.
    Stored,
    /// A request was refused: the v1 empty refusal (`None`), or a v2
    /// REFUSED with its reason.
    Refused(Option<Reason>),
    /// A get returned this value.
    Value(Vec<u8>),
    /// A get found no value.
    NotFound,
    /// The reply made no sense for the request (kept for display).
    Invalid(Vec<u8>),
    /// No reply before the deadline.
    Timeout,
    /// The request could not be sent to this server.
    SendFailed(String),
    /// A v2 put or delete was ignored because the server keeps a newer
    /// version (in [`ReplicaTrace::version`]). It does not count toward W:
    /// the client stamps its write again past that version
    /// ([`Trace::restamps`]). A read repair counts it ([`Reply::holds`]).
    Older,
    /// A delete could not be sent: the server speaks only protocol v1,
    /// which has no delete.
    V1Only,
}

impl Reply {
    /// True for the replies a write counts toward W: stored (this write's
    /// version is now on that server).
    pub fn is_ack(&self) -> bool {
        matches!(self, Reply::Stored)
    }

    /// True when the server holds the version sent or a newer one (stored,
    /// or OLDER): what a read repair or a hint needs.
    pub fn holds(&self) -> bool {
        matches!(self, Reply::Stored | Reply::Older)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Stored => f.write_str("stored"),
            Reply::Refused(None) => f.write_str("refused"),
            Reply::Refused(Some(reason)) => write!(f, "refused: {reason}"),
            Reply::Value(v) => write!(f, "{}", String::from_utf8_lossy(v)),
            Reply::NotFound => f.write_str("not found"),
            Reply::Invalid(_) => f.write_str("invalid reply"),
            Reply::Timeout => f.write_str("timeout"),
            Reply::SendFailed(e) => write!(f, "send failed ({e})"),
            Reply::Older => f.write_str("older (newer kept)"),
            Reply::V1Only => f.write_str("not sent (v1 only: cannot delete)"),
        }
    }
}

/// One contacted server in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaTrace {
    /// Index of the server in the configuration.
    pub server: usize,
    /// Its address.
    pub addr: SocketAddrV4,
    /// Ring index of the node that selected it.
    pub ring_index: usize,
    /// That node's number among the server's nodes (1-based).
    pub node_number: u32,
    /// Its answer, `None` while none has arrived.
    pub reply: Option<Reply>,
    /// Time from sending to the answer.
    pub latency: Option<Duration>,
    /// Whether the answer counted toward the verdict.
    pub counted: bool,
    /// The protocol the server answered in (`None` until it answered).
    pub dialect: Option<Dialect>,
    /// The version the server reported (v2 only): its value's, its
    /// tombstone's, or, for [`Reply::Older`], the one it keeps.
    pub version: Option<Version>,
    /// The version this server was sent by read repair after a get, when
    /// it answered an older version or "not found".
    pub repair: Option<Version>,
    /// Set when this server is not one of the key's home servers but was
    /// sent a HINT for this home server, which did not answer (hinted
    /// handoff, issue 8).
    pub hint_for: Option<SocketAddrV4>,
}

impl ReplicaTrace {
    /// A server not asked yet: no reply, no version, nothing counted.
    pub fn new(server: usize, addr: SocketAddrV4, ring_index: usize, node_number: u32) -> Self {
        ReplicaTrace {
            server,
            addr,
            ring_index,
            node_number,
            reply: None,
            latency: None,
            counted: false,
            dialect: None,
            version: None,
            repair: None,
            hint_for: None,
        }
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// At least R servers said the key is absent (get).
    NotFound,
    /// Replies arrived but no value reached R identical copies (get), or too
    /// many puts were refused (put): the quorum can no longer be met.
    NotEnough,
    /// The deadline passed before the quorum was met.
    Timeout,
    /// The key or value cannot be sent.
    Invalid(String),
    /// The operation could not use the network at all.
    Network(String),
    /// A put or delete: servers keep this newer version and W cannot be
    /// reached with the write's own. Within an operation the write is then
    /// stamped again ([`Trace::restamps`]); as a verdict, it was superseded
    /// [`crate::client::MAX_RESTAMPS`] times in a row (another writer keeps
    /// writing the key) or the deadline came first.
    Superseded(Version),
    /// A put or delete superseded by a version too far ahead of this
    /// client's clock to adopt: this clock is behind.
    ClockBehind {
        /// The newer version servers keep.
        newer: Version,
        /// How far it is ahead of this client's clock, in ms.
        behind_ms: u64,
        /// How far ahead a version may be and still be adopted, in ms.
        max_ms: u64,
    },
}

/// The operation's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still collecting replies.
    Pending,
    /// Quorum reached.
    Reached,
    /// Quorum not reached.
    Failed(Failure),
}

/// The record of one quorum operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Get, put or delete.
    pub kind: OpKind,
    /// The key.
    pub key: Vec<u8>,
    /// The value written (put only).
    pub written: Option<Vec<u8>>,
    /// N, W, R in force.
    pub quorum: Quorum,
    /// The contacted servers, in preference order.
    pub replicas: Vec<ReplicaTrace>,
    /// The verdict.
    pub verdict: Verdict,
    /// The value read (get success).
    pub value: Option<Vec<u8>>,
    /// Time from sending to the verdict.
    pub decided_after: Option<Duration>,
    /// True once no more replies will be recorded.
    pub finished: bool,
    /// Put or delete: the version written (v2; the last one when it was
    /// stamped again). Get: the newest version seen (the one read, or the
    /// one that made the read fail).
    pub version: Option<Version>,
    /// Put or delete: each time the write was superseded (servers kept a
    /// newer version) and stamped again, in order. Empty otherwise.
    pub restamps: Vec<Restamp>,
}

/// One re-stamp of a put or delete: servers answered OLDER, keeping a newer
/// version (a writer whose clock is ahead, or a concurrent write), so the
/// client moved its clock past it and sent the write again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restamp {
    /// The version the write carried in the superseded round.
    pub from: Version,
    /// The newest version the OLDER replies named.
    pub superseded_by: Version,
    /// How far that version's clock was ahead of this client's, in ms
    /// (negative: behind; a concurrent write of a sane clock).
    pub ahead_ms: i64,
    /// The new version.
    pub to: Version,
}

/// `superseded by v… (a clock 0.2 s ahead); re-stamped v…`: why a write
/// was stamped again. A version not ahead of this client's clock came from
/// a write running at the same time.
impl fmt::Display for Restamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match u64::try_from(self.ahead_ms) {
            Ok(ahead) if ahead > 0 => format!("a clock {} ahead", millis_text(ahead)),
            _ => "a concurrent write".to_string(),
        };
        write!(
            f,
            "superseded by {} ({why}); re-stamped {}",
            version_text(self.superseded_by),
            version_text(self.to)
        )
    }
}

/// A duration in milliseconds as people read it: `850 ms`, `20.1 s`.
pub fn millis_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A version as the REPL shows it: `v<ms>.<counter>/<writer>` — the hybrid
/// clock's milliseconds and counter, then the writer id's low 24 bits in
/// hex (enough to tell writers apart on a screen); `v0` for the version of
/// values written through v1.
pub fn version_text(v: Version) -> String {
    if v == Version::ZERO {
        return "v0".into();
    }
    format!(
        "v{}.{}/{:06x}",
        crate::hlc::physical_ms(v.timestamp),
        crate::hlc::logical(v.timestamp),
        v.writer & 0xff_ffff
    )
}

/// Why a server refused, with the server option that sets the limit it
/// hit: `out of memory (--max-memory)`, `disk full (--max-disk)`; a
/// record that failed its check on that server says what happens next;
/// other reasons as the wire names them.
pub fn refusal_cause(reason: Reason) -> String {
    match reason {
        Reason::OutOfMemory => format!("{reason} (--max-memory)"),
        Reason::DiskFull => format!("{reason} (--max-disk)"),
        Reason::Corrupt => {
            format!("{reason} (its stored record failed its check; read repair refills it)")
        }
        _ => reason.to_string(),
    }
}

/// [`Failure::ClockBehind`] explained: servers keep `newer`, `behind_ms`
/// ahead of this client's clock, more than the `max_ms` it may adopt.
fn clock_behind_reason(newer: Version, behind_ms: u64, max_ms: u64) -> String {
    format!(
        "servers keep a newer version ({}) {} ahead of this client's clock, more than the {} it may adopt: this client's clock is behind; fix its time (NTP)",
        version_text(newer),
        millis_text(behind_ms),
        millis_text(max_ms)
    )
}

impl Trace {
    /// The quorum this operation needs (W for a put, R for a get).
    pub fn needed(&self) -> usize {
        match self.kind {
            OpKind::Get => self.quorum.r,
            OpKind::Put | OpKind::Delete => self.quorum.w,
        }
    }

    /// Replies counted toward the verdict.
    pub fn counted(&self) -> usize {
        self.replicas.iter().filter(|r| r.counted).count()
    }

    /// For a write that reached W: the newest version kept by a server
    /// that counted an OLDER reply, when there is one. The write is
    /// acknowledged (those servers hold something at least as new), but
    /// a newer write of the key already superseded it: a read will not
    /// return this value.
    pub fn superseded_by(&self) -> Option<Version> {
        if !self.kind.is_write() || self.verdict != Verdict::Reached {
            return None;
        }
        self.replicas
            .iter()
            .filter(|r| r.reply == Some(Reply::Older))
            .filter_map(|r| r.version)
            .max()
    }

    /// The first refusal of this write by a server whose clock says the
    /// write's version is too far ahead: the server, its clock and its
    /// maximum offset.
    pub fn clock_refusal(&self) -> Option<(SocketAddrV4, u64, u32)> {
        self.replicas.iter().find_map(|r| match r.reply {
            Some(Reply::Refused(Some(Reason::ClockAhead {
                server_ms,
                max_offset_ms,
            }))) => Some((r.addr, server_ms, max_offset_ms)),
            _ => None,
        })
    }

    /// Whether the operation failed because of this client's clock: ahead
    /// (servers refused its version) or behind (it cannot adopt a newer
    /// version servers keep).
    pub fn failed_clock(&self) -> bool {
        match &self.verdict {
            Verdict::Failed(Failure::ClockBehind { .. }) => true,
            Verdict::Failed(Failure::NotEnough | Failure::Timeout) => {
                self.clock_refusal().is_some()
            }
            _ => false,
        }
    }

    /// How many of the key's servers (hint recipients aside) refused the
    /// request as unauthenticated: this client sent it unsigned to keyed
    /// servers.
    pub fn refused_unauthenticated(&self) -> usize {
        self.replicas
            .iter()
            .filter(|r| {
                r.hint_for.is_none()
                    && r.reply == Some(Reply::Refused(Some(Reason::Unauthenticated)))
            })
            .count()
    }

    /// Whether the operation failed for want of a key: it did not reach
    /// its quorum (not enough replies, or the deadline) and some of the
    /// refusals were "unauthenticated".
    pub fn failed_unauthenticated(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Failed(Failure::NotEnough | Failure::Timeout)
        ) && self.refused_unauthenticated() > 0
    }

    /// A one-line explanation of a failure, for `ERROR: …` lines. When the
    /// quorum failed with servers refusing the request as unauthenticated,
    /// it says so and how to pass a key
    /// ([`crate::limits::refused_unauthenticated`]).
    pub fn failure_reason(&self) -> Option<String> {
        let Verdict::Failed(f) = &self.verdict else {
            return None;
        };
        if let Some(reason) = self.unauthenticated_reason() {
            return Some(reason);
        }
        if let Some(reason) = self.clock_ahead_reason() {
            return Some(reason);
        }
        Some(match f {
            Failure::NotFound => "key not found".to_string(),
            Failure::NotEnough => self.with_refusals(self.not_enough_reason()),
            Failure::Timeout => self.with_refusals(self.timeout_reason()),
            Failure::Invalid(m) => m.clone(),
            Failure::Network(m) => format!("network error: {m}"),
            Failure::Superseded(newer) => self.superseded_reason(*newer),
            Failure::ClockBehind {
                newer,
                behind_ms,
                max_ms,
            } => clock_behind_reason(*newer, *behind_ms, *max_ms),
        })
    }

    /// The failure explained when servers refused the request as
    /// unauthenticated ([`Trace::failed_unauthenticated`]).
    fn unauthenticated_reason(&self) -> Option<String> {
        if !self.failed_unauthenticated() {
            return None;
        }
        let who = format!(
            "{} of {} servers",
            self.refused_unauthenticated(),
            self.quorum.n.max(self.refused_unauthenticated())
        );
        Some(crate::limits::refused_unauthenticated(&who, "request"))
    }

    /// The failure explained when a server refused the write because this
    /// client's clock is ahead of its own.
    fn clock_ahead_reason(&self) -> Option<String> {
        let (true, Some((server, server_ms, max_offset_ms))) =
            (self.failed_clock(), self.clock_refusal())
        else {
            return None;
        };
        let version_ms = self
            .version
            .map_or(0, |v| crate::hlc::physical_ms(v.timestamp));
        Some(format!(
            "refused by {server}: this client's clock is {} ahead (max offset {max_offset_ms} ms); fix its time (NTP)",
            millis_text(version_ms.saturating_sub(server_ms))
        ))
    }

    /// `reason` after the refusals of the key's servers, each with its
    /// cause: `refused by 127.0.0.1:1235: out of memory (--max-memory);
    /// W=2 cannot be reached: …`. A v1 refusal carries no cause:
    /// `refused by 127.0.0.1:1235; …`.
    fn with_refusals(&self, reason: String) -> String {
        let mut parts: Vec<String> = Vec::new();
        for r in self.replicas.iter().filter(|r| r.hint_for.is_none()) {
            let Some(Reply::Refused(why)) = &r.reply else {
                continue;
            };
            parts.push(match why {
                None => format!("refused by {}", r.addr),
                Some(why) => format!("refused by {}: {}", r.addr, refusal_cause(*why)),
            });
        }
        parts.push(reason);
        parts.join("; ")
    }

    /// The name of the quorum this operation needs ([`Trace::needed`]):
    /// "W" for a put or delete, "R" for a get.
    fn quorum_name(&self) -> &'static str {
        match self.kind {
            OpKind::Get => "R",
            OpKind::Put | OpKind::Delete => "W",
        }
    }

    /// How many servers answered (anything but a timeout).
    fn answered(&self) -> usize {
        self.replicas
            .iter()
            .filter(|r| matches!(&r.reply, Some(x) if *x != Reply::Timeout))
            .count()
    }

    /// [`Failure::NotEnough`] explained.
    fn not_enough_reason(&self) -> String {
        let (name, needed) = (self.quorum_name(), self.needed());
        match self.kind {
            OpKind::Get => match self.version {
                Some(newest) => format!(
                    "the newest version ({}) was returned by {} of the {needed} servers needed ({name}={needed}); an older value is never returned",
                    version_text(newest),
                    self.replicas
                        .iter()
                        .filter(|r| r.version == Some(newest))
                        .count()
                ),
                None => format!(
                    "no value was returned by {needed} servers ({name}={needed}): the {} replies disagree or say not found",
                    self.answered()
                ),
            },
            OpKind::Put => format!(
                "{name}={needed} cannot be reached: {} of {} servers stored the value",
                self.best_tally(),
                self.quorum.n
            ),
            OpKind::Delete => {
                let v1 = self
                    .replicas
                    .iter()
                    .filter(|r| r.reply == Some(Reply::V1Only))
                    .count();
                let why = if v1 > 0 {
                    format!(" ({v1} speak only protocol v1, which cannot delete)")
                } else {
                    String::new()
                };
                format!(
                    "{name}={needed} cannot be reached: {} of {} servers stored the tombstone{why}",
                    self.best_tally(),
                    self.quorum.n
                )
            }
        }
    }

    /// [`Failure::Timeout`] explained.
    fn timeout_reason(&self) -> String {
        let (name, needed) = (self.quorum_name(), self.needed());
        let silent = self.quorum.n - self.answered().min(self.quorum.n);
        format!(
            "quorum not reached before the deadline: {name}={needed} needed, {} counted, {silent} of {} servers did not answer",
            self.best_tally(),
            self.quorum.n
        )
    }

    /// [`Failure::Superseded`] by `newer` explained.
    fn superseded_reason(&self, newer: Version) -> String {
        let (name, needed) = (self.quorum_name(), self.needed());
        format!(
            "{name}={needed} not reached: superseded by a newer version ({}) {} in a row; another writer keeps writing this key",
            version_text(newer),
            match self.restamps.len() + 1 {
                1 => "once".to_string(),
                n => format!("{n} times"),
            }
        )
    }

    /// The largest number of agreeing replies (acks for a put or delete,
    /// identical values for a get) — how close the operation came to its
    /// quorum.
    pub fn best_tally(&self) -> usize {
        match self.kind {
            OpKind::Put | OpKind::Delete => self
                .replicas
                .iter()
                .filter(|r| r.reply.as_ref().is_some_and(Reply::is_ack))
                .count(),
            OpKind::Get => {
                let values: Vec<&Vec<u8>> = self
                    .replicas
                    .iter()
                    .filter_map(|r| match &r.reply {
                        Some(Reply::Value(v)) => Some(v),
                        _ => None,
                    })
                    .collect();
                values
                    .iter()
                    .map(|v| values.iter().filter(|o| *o == v).count())
                    .max()
                    .unwrap_or(0)
            }
        }
    }
}
