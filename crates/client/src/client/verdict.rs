//! How replies become a verdict: each datagram decoded into a trace reply
//! (v1 or v2), then the quorum rules that decide a round as soon as the
//! replies allow, and the simple API's result of a finished trace.

use std::time::Duration;

use super::OpError;
use crate::protocol::{self, GetReply, PutReply};
use crate::protocol_v2::{Dialect, Message};
use crate::quorum::{ReadReply, ReadVerdict, newest, read_rule};
use crate::trace::{Failure, OpKind, ReplicaTrace, Reply, Trace, Verdict};
use crate::version::Version;

/// A v1 reply to a request of `kind`.
pub(super) fn v1_reply(kind: OpKind, datagram: &[u8]) -> Reply {
    match kind {
        OpKind::Get => match protocol::decode_get_reply(datagram) {
            GetReply::Value(v) => Reply::Value(v.to_vec()),
            GetReply::NotFound => Reply::NotFound,
            GetReply::Invalid => Reply::Invalid(datagram.to_vec()),
        },
        OpKind::Put | OpKind::Delete => match protocol::decode_put_reply(datagram) {
            PutReply::Stored => Reply::Stored,
            PutReply::Refused => Reply::Refused(None),
            PutReply::Invalid => Reply::Invalid(datagram.to_vec()),
        },
    }
}

/// A v2 reply (with the request's id) to a request with `opcode`, and the
/// version it reports. A reply the request cannot get is invalid.
pub(super) fn v2_reply(message: &Message, opcode: u8, datagram: &[u8]) -> (Reply, Option<Version>) {
    if !message.answers(opcode) {
        return (Reply::Invalid(datagram.to_vec()), None);
    }
    match message {
        Message::Value { value, version } => (Reply::Value(value.to_vec()), Some(*version)),
        Message::NotFound { tombstone } => (Reply::NotFound, *tombstone),
        Message::Stored => (Reply::Stored, None),
        Message::Older { current } => (Reply::Older, Some(*current)),
        Message::Refused { reason } => {
            tracing::debug!(?reason, "request refused");
            (Reply::Refused(Some(*reason)), None)
        }
        _ => (Reply::Invalid(datagram.to_vec()), None),
    }
}

/// A server's answer to a get as the read rule sees it (`None`: nothing
/// usable yet).
pub(super) fn read_reply(r: &ReplicaTrace) -> Option<ReadReply<'_>> {
    let v2 = r.dialect == Some(Dialect::V2);
    match r.reply.as_ref()? {
        // A v2 value at version zero was written through v1: it carries no
        // order, so it is compared byte for byte as v1 values are (the quorum rules).
        Reply::Value(v) => match r.version.filter(|_| v2) {
            Some(version) if version != Version::ZERO => Some(ReadReply::Value(v, version)),
            _ => Some(ReadReply::V1Value(v)),
        },
        Reply::NotFound if v2 => Some(match r.version {
            Some(t) => ReadReply::Deleted(t),
            None => ReadReply::Absent,
        }),
        Reply::NotFound => Some(ReadReply::V1NotFound),
        _ => None,
    }
}

fn mark_counted(trace: &mut Trace, counts: impl Fn(&Reply) -> bool) {
    for r in &mut trace.replicas {
        r.counted = r.reply.as_ref().is_some_and(&counts);
    }
}

pub(super) fn decide(trace: &mut Trace, verdict: Verdict, at: Option<Duration>) {
    trace.verdict = verdict;
    trace.decided_after = at;
}

/// The newest version servers answered OLDER with (they keep it).
pub(super) fn newest_older(trace: &Trace) -> Option<Version> {
    trace
        .replicas
        .iter()
        .filter(|r| r.reply == Some(Reply::Older))
        .filter_map(|r| r.version)
        .max()
}

/// Decides the verdict, once, as soon as the replies so far allow it. A
/// write of the client's own (`restamp`) counts STORED only: when W can no
/// longer be reached and a server keeps a newer version, the round is
/// [`Failure::Superseded`] (and stamped again). A read repair also counts
/// OLDER: that server already holds something at least as new.
pub(super) fn evaluate(trace: &mut Trace, now: Duration, restamp: bool) {
    if trace.verdict != Verdict::Pending {
        return;
    }
    let outstanding = trace.replicas.iter().filter(|r| r.reply.is_none()).count();
    match trace.kind {
        OpKind::Put | OpKind::Delete => {
            let counts = if restamp { Reply::is_ack } else { Reply::holds };
            let acks = trace
                .replicas
                .iter()
                .filter(|r| r.reply.as_ref().is_some_and(counts))
                .count();
            if acks >= trace.quorum.w {
                mark_counted(trace, counts);
                decide(trace, Verdict::Reached, Some(now));
            } else if acks + outstanding < trace.quorum.w {
                mark_counted(trace, counts);
                // A server that refused this clock as too far ahead will
                // refuse every re-stamp too: say so rather than retry.
                let restamp = restamp && trace.clock_refusal().is_none();
                let failure = match newest_older(trace).filter(|_| restamp) {
                    Some(newer) => Failure::Superseded(newer),
                    None => Failure::NotEnough,
                };
                decide(trace, Verdict::Failed(failure), Some(now));
            }
        }
        OpKind::Get => {
            let (verdict, value, version, counted) = {
                let replies: Vec<Option<ReadReply>> =
                    trace.replicas.iter().map(read_reply).collect();
                let decision = read_rule(&replies, outstanding, trace.quorum.r);
                let newest_version = newest(&replies).map(|n| n.version());
                let (verdict, value, version) = match decision.verdict {
                    ReadVerdict::Pending => return,
                    ReadVerdict::Value(v, version) => (Verdict::Reached, Some(v.to_vec()), version),
                    ReadVerdict::NotFound(version) => {
                        (Verdict::Failed(Failure::NotFound), None, version)
                    }
                    ReadVerdict::NotEnough => {
                        (Verdict::Failed(Failure::NotEnough), None, newest_version)
                    }
                };
                (verdict, value, version, decision.counted)
            };
            for (r, counted) in trace.replicas.iter_mut().zip(counted) {
                r.counted = counted;
            }
            trace.value = value;
            trace.version = version;
            decide(trace, verdict, Some(now));
        }
    }
}

/// Turns a finished trace into the simple API's result.
pub fn into_result(trace: Trace) -> Result<Option<Vec<u8>>, OpError> {
    match &trace.verdict {
        Verdict::Reached => Ok(trace.value),
        Verdict::Failed(Failure::NotFound) => Err(OpError::NotFound),
        _ => Err(OpError::Failed(
            trace
                .failure_reason()
                .unwrap_or_else(|| "no verdict".into()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol_v2 as v2;

    /// A write of the client's own at W=2: `replies` from three servers.
    fn write_trace(replies: [Option<Reply>; 3]) -> Trace {
        let newer = Version {
            timestamp: 9,
            writer: 1,
        };
        Trace {
            kind: OpKind::Put,
            key: b"k".to_vec(),
            written: Some(b"v".to_vec()),
            quorum: crate::quorum::Quorum { n: 3, w: 2, r: 2 },
            replicas: replies
                .into_iter()
                .enumerate()
                .map(|(i, reply)| {
                    let mut r = ReplicaTrace::new(
                        i,
                        std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 1000 + i as u16),
                        i,
                        1,
                    );
                    r.version = (reply == Some(Reply::Older)).then_some(newer);
                    r.reply = reply;
                    r
                })
                .collect(),
            verdict: Verdict::Pending,
            value: None,
            decided_after: None,
            finished: false,
            version: Some(Version {
                timestamp: 5,
                writer: 2,
            }),
            restamps: Vec::new(),
        }
    }

    /// OLDER does not count toward W: with W out of reach the round is
    /// superseded (and re-stamped), unless a server refused this clock as
    /// too far ahead, which no re-stamp can fix (exit 6, not 5).
    #[test]
    fn older_supersedes_unless_the_clock_was_refused() {
        let ahead = Reply::Refused(Some(v2::Reason::ClockAhead {
            server_ms: 1,
            max_offset_ms: 500,
        }));
        let mut t = write_trace([Some(Reply::Stored), Some(Reply::Older), Some(Reply::Older)]);
        evaluate(&mut t, Duration::ZERO, true);
        assert!(matches!(t.verdict, Verdict::Failed(Failure::Superseded(_))));
        let mut t = write_trace([Some(Reply::Stored), Some(Reply::Stored), Some(Reply::Older)]);
        evaluate(&mut t, Duration::ZERO, true);
        assert_eq!(t.verdict, Verdict::Reached);
        let mut t = write_trace([Some(ahead.clone()), Some(ahead), Some(Reply::Older)]);
        evaluate(&mut t, Duration::ZERO, true);
        assert_eq!(t.verdict, Verdict::Failed(Failure::NotEnough));
        assert!(t.failed_clock());
        assert_eq!(
            crate::commands::trace_error(&t).map(|e| e.code),
            Some(crate::exit::CLOCK)
        );
        // A read repair counts OLDER: that server holds something as new.
        let mut t = write_trace([Some(Reply::Stored), Some(Reply::Older), None]);
        evaluate(&mut t, Duration::ZERO, false);
        assert_eq!(t.verdict, Verdict::Reached);
    }

    /// v2 replies become trace replies; a reply the request cannot get is
    /// invalid.
    #[test]
    fn v2_replies_map_to_trace_replies() {
        let v = Version {
            timestamp: 5,
            writer: 1,
        };
        let get = v2::opcode::GET;
        let put = v2::opcode::PUT;
        let value = Message::Value {
            value: b"x",
            version: v,
        };
        assert_eq!(
            v2_reply(&value, get, b""),
            (Reply::Value(b"x".to_vec()), Some(v))
        );
        assert_eq!(
            v2_reply(&value, put, b"d"),
            (Reply::Invalid(b"d".to_vec()), None)
        );
        let tomb = Message::NotFound { tombstone: Some(v) };
        assert_eq!(v2_reply(&tomb, get, b""), (Reply::NotFound, Some(v)));
        assert_eq!(v2_reply(&Message::Stored, put, b""), (Reply::Stored, None));
        let older = Message::Older { current: v };
        assert_eq!(
            v2_reply(&older, v2::opcode::DELETE, b""),
            (Reply::Older, Some(v))
        );
        let refused = Message::Refused {
            reason: v2::Reason::OutOfMemory,
        };
        assert_eq!(
            v2_reply(&refused, put, b""),
            (Reply::Refused(Some(v2::Reason::OutOfMemory)), None)
        );
        // OLDER does not count toward W (the write is stamped again); a
        // read repair or a hint is satisfied by it.
        assert!(!Reply::Older.is_ack() && Reply::Stored.is_ack() && !Reply::Refused(None).is_ack());
        assert!(Reply::Older.holds() && Reply::Stored.holds() && !Reply::Timeout.holds());
    }
}
