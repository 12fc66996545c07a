//! What happened during one quorum operation, server by server.
//!
//! The quorum client fills a [`Trace`] as replies arrive: which node selected
//! each server, what it answered, how fast, and whether the answer counted
//! toward the quorum. The CLI only needs the verdict; the REPL prints the whole
//! trace (SPEC §10) and the TUI redraws it after every reply, which is how a
//! class watches a quorum form.

use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use crate::quorum::Quorum;

/// Which quorum operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Quorum read.
    Get,
    /// Quorum write.
    Put,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
        })
    }
}

/// What one server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A put was stored.
    Stored,
    /// A put was refused.
    Refused,
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
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Stored => f.write_str("stored"),
            Reply::Refused => f.write_str("refused"),
            Reply::Value(v) => write!(f, "{}", String::from_utf8_lossy(v)),
            Reply::NotFound => f.write_str("not found"),
            Reply::Invalid(_) => f.write_str("invalid reply"),
            Reply::Timeout => f.write_str("timeout"),
            Reply::SendFailed(e) => write!(f, "send failed ({e})"),
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
    /// Get or put.
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
}

impl Trace {
    /// The quorum this operation needs (W for a put, R for a get).
    pub fn needed(&self) -> usize {
        match self.kind {
            OpKind::Get => self.quorum.r,
            OpKind::Put => self.quorum.w,
        }
    }

    /// Replies counted toward the verdict.
    pub fn counted(&self) -> usize {
        self.replicas.iter().filter(|r| r.counted).count()
    }

    /// A one-line explanation of a failure, for `ERROR: …` lines.
    pub fn failure_reason(&self) -> Option<String> {
        let Verdict::Failed(f) = &self.verdict else {
            return None;
        };
        let (name, needed) = match self.kind {
            OpKind::Get => ("R", self.quorum.r),
            OpKind::Put => ("W", self.quorum.w),
        };
        let answered = self
            .replicas
            .iter()
            .filter(|r| matches!(&r.reply, Some(x) if *x != Reply::Timeout))
            .count();
        let silent = self.quorum.n - answered.min(self.quorum.n);
        Some(match f {
            Failure::NotFound => "key not found".to_string(),
            Failure::NotEnough => match self.kind {
                OpKind::Get => format!(
                    "no value was returned by {needed} servers ({name}={needed}): the {answered} replies disagree or say not found"
                ),
                OpKind::Put => format!(
                    "{name}={needed} cannot be reached: {} of {} servers stored the value",
                    self.replicas
                        .iter()
                        .filter(|r| r.reply == Some(Reply::Stored))
                        .count(),
                    self.quorum.n
                ),
            },
            Failure::Timeout => format!(
                "quorum not reached before the deadline: {name}={needed} needed, {} counted, {silent} of {} servers did not answer",
                self.best_tally(),
                self.quorum.n
            ),
            Failure::Invalid(m) => m.clone(),
            Failure::Network(m) => format!("network error: {m}"),
        })
    }

    /// The largest number of agreeing replies (acks for a put, identical
    /// values for a get) — how close the operation came to its quorum.
    pub fn best_tally(&self) -> usize {
        match self.kind {
            OpKind::Put => self
                .replicas
                .iter()
                .filter(|r| r.reply == Some(Reply::Stored))
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
