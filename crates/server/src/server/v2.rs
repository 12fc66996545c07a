//! The server's v2 path (`docs/PROTOCOL.md`): the limits applied to a v2
//! datagram, then the reply — HELLO, STATS, HINT and anti-entropy here,
//! gets, writes and dumps from the engine (`answer_v2`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::engine::{MemoryEngine, Record, Version};
use crate::hlc::Clock;
use crate::limits::{DATAGRAM_OVERHEAD, Stats};
use crate::protocol;
use crate::protocol_v2::{self, AuthKey, Frame, Message as V2, Reason};
use crate::stats::Op;

use super::reply::{Response, answer_v2, clock_refusal, reply_signature, v2_reply};
use super::shared::Shared;

/// The REFUSED 6 (forbidden) reply to request `id`.
fn forbidden(id: u64, sign: Option<(&AuthKey, u64)>) -> Response {
    v2_reply(
        id,
        &V2::Refused {
            reason: Reason::Forbidden,
        },
        sign,
    )
}

impl Shared {
    /// Applies the limits to one v2 datagram (it starts with the magic)
    /// and computes the reply: v2 for a well-formed request, the v1 empty
    /// refusal for anything else (DECISIONS #34). Charged to the reply
    /// budget as v1 is: writes and malformed datagrams before, gets after.
    pub(super) fn handle_v2(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        ip: Ipv4Addr,
        budgeted: bool,
        now: Instant,
        counted: &mut Option<Op>,
    ) -> Option<Response> {
        let frame = protocol_v2::decode(datagram)
            .ok()
            .filter(|f| f.message.is_request());
        let charge_first = !matches!(
            frame.as_ref().map(|f| &f.message),
            Some(V2::Get { .. } | V2::Hello | V2::Stats | V2::Dump { .. })
        );
        if budgeted && charge_first {
            let cost = protocol_v2::HEADER_LEN as u64 + DATAGRAM_OVERHEAD;
            if !self.budget.take(ip, cost, now) {
                return self.over_budget(peer);
            }
        }
        let Some(frame) = frame else {
            Stats::bump(&self.stats.refused);
            tracing::debug!(%peer, "malformed v2 datagram: empty refusal");
            return Some(Response::One(Bytes::from_static(protocol::REPLY_REFUSED)));
        };
        let keys = self
            .limits
            .auth
            .as_ref()
            .map(|a| &a.keys[..])
            .unwrap_or_default();
        let sign = reply_signature(keys, frame.auth.map(|t| t.key_id));
        let dump_allowed = self.limits.allow_dump.contains(ip);
        // STATS, like a dump, only to --allow-dump sources (DECISIONS #100).
        if matches!(frame.message, V2::Dump { .. } | V2::Stats) && !dump_allowed {
            Stats::bump(&self.stats.dump_denied);
            tracing::debug!(%peer, "refused: v2 dump or stats from a source not in --allow-dump");
            return Some(forbidden(frame.id, sign));
        }
        let op = match &frame.message {
            V2::Get { .. } => Some(Op::Get),
            V2::Put { .. } => Some(Op::Put),
            V2::Delete { .. } => Some(Op::Delete),
            V2::Dump { .. } => Some(Op::Dump),
            V2::Stats => Some(Op::Stats),
            _ => None,
        };
        if let Some(ae) = &self.ae {
            match &frame.message {
                V2::Put { key, .. } | V2::Delete { key, .. } => ae.note_write(key),
                V2::AntiEntropy(m) => {
                    // Answered only to the ring's servers and to sources
                    // allowed to dump (the replies list keys and values),
                    // and charged to the reply budget by size like a get's
                    // reply: a small request can get a large reply
                    // (DECISIONS #311).
                    let response = if ae.is_ring_ip(ip) || dump_allowed {
                        self.answer_ae(ae, frame.id, m, sign)?
                    } else {
                        tracing::debug!(%peer, "refused: anti-entropy from outside the ring");
                        forbidden(frame.id, sign)
                    };
                    if budgeted {
                        return self.charge_reply(response, peer, ip, now);
                    }
                    return Some(response);
                }
                _ => {}
            }
        }
        if let V2::Hint {
            owner,
            key,
            value,
            version,
        } = &frame.message
        {
            return Some(self.answer_hint(frame.id, *owner, key, *value, *version, sign));
        }
        let response = self.answer_request(&frame, peer, keys, dump_allowed, sign);
        *counted = op;
        self.count(op, response.as_ref(), |r| {
            r.get(5) == Some(&protocol_v2::opcode::VALUE)
        });
        let response = response?;
        if budgeted && !charge_first {
            return self.charge_reply(response, peer, ip, now);
        }
        Some(response)
    }

    /// Charges a reply's size to `ip`'s reply budget: the reply, or `None`
    /// (counted) when the source is over its budget.
    fn charge_reply(
        &self,
        response: Response,
        peer: SocketAddr,
        ip: Ipv4Addr,
        now: Instant,
    ) -> Option<Response> {
        if let Response::One(reply) = &response {
            let cost = reply.len() as u64 + DATAGRAM_OVERHEAD;
            if !self.budget.take(ip, cost, now) {
                return self.over_budget(peer);
            }
        }
        Some(response)
    }

    /// The reply to a well-formed v2 request that passed the limits (not
    /// anti-entropy, not HINT): HELLO and STATS answered here, the others
    /// by the engine (`None`: the durable committer replies, or a read
    /// failed).
    fn answer_request(
        &self,
        frame: &Frame<'_>,
        peer: SocketAddr,
        keys: &[AuthKey],
        dump_allowed: bool,
        sign: Option<(&AuthKey, u64)>,
    ) -> Option<Response> {
        match (&frame.message, &self.durable, peer) {
            // Answered here: its DUMP and STATS feature bits depend on the
            // source.
            (V2::Hello, _, _) => Some(self.hello_reply(frame.id, dump_allowed, sign)),
            // Answered here, on both engines: the counters are the server's.
            (V2::Stats, _, _) => {
                let pairs = self.figures().pairs();
                let pairs = pairs
                    .iter()
                    .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                    .collect();
                Some(v2_reply(frame.id, &V2::StatsReply { pairs }, sign))
            }
            (_, Some(durable), SocketAddr::V4(peer)) => durable.answer_v2(frame, peer, &self.clock),
            _ => answer_v2(
                &MemoryEngine::new(Arc::clone(&self.store)),
                frame,
                None,
                keys,
                &self.clock,
                &self.stats,
            ),
        }
    }

    /// The HELLO reply: the DUMP and STATS features for sources allowed to
    /// dump, AUTH_REQUIRED when the server has keys.
    fn hello_reply(&self, id: u64, dump_allowed: bool, sign: Option<(&AuthKey, u64)>) -> Response {
        v2_reply(
            id,
            &V2::HelloReply {
                max_version: protocol_v2::VERSION,
                features: if dump_allowed {
                    protocol_v2::feature::DUMP | protocol_v2::feature::STATS
                } else {
                    0
                } | if self.limits.auth.is_some() {
                    protocol_v2::feature::AUTH_REQUIRED
                } else {
                    0
                },
                time_ms: crate::hlc::SystemClock.now_ms(),
            },
            sign,
        )
    }

    /// Keeps a HINT's write for its owner (`crate::hints`): STORED, OLDER
    /// (a newer hint is kept), REFUSED 1 (version 0/0 or from the future,
    /// as for PUT), REFUSED 3 (the hint limit, or the hints file failed) or
    /// REFUSED 6 (with `--servers`, an owner that is not in the ring).
    fn answer_hint(
        &self,
        id: u64,
        owner: SocketAddrV4,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
        sign: Option<(&AuthKey, u64)>,
    ) -> Response {
        let now = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        if version == Version::ZERO {
            return v2_reply(
                id,
                &V2::Refused {
                    reason: Reason::Malformed,
                },
                sign,
            );
        }
        if let Some(refusal) = clock_refusal(&self.clock, version) {
            return v2_reply(id, &refusal, sign);
        }
        // A server that knows the ring keeps hints for its members only
        // (not for any address a client names, which it would probe for
        // hours).
        if let Some(r) = &self.rebalance
            && !r
                .membership()
                .config
                .servers
                .iter()
                .any(|s| s.addr() == owner)
        {
            return forbidden(id, sign);
        }
        let record = match value {
            Some(v) => Record {
                version,
                tombstone: false,
                value: Bytes::copy_from_slice(v),
            },
            None => Record::tombstone(version, now),
        };
        let message = match self.hints.store(owner, key, record) {
            crate::hints::HintOutcome::Stored => V2::Stored,
            crate::hints::HintOutcome::Older(current) => V2::Older { current },
            crate::hints::HintOutcome::Full | crate::hints::HintOutcome::Failed => V2::Refused {
                reason: Reason::OutOfMemory,
            },
        };
        v2_reply(id, &message, sign)
    }

    /// The reply to an anti-entropy request from a peer, read from this
    /// server's engine (`crate::anti_entropy`).
    fn answer_ae(
        &self,
        ae: &crate::anti_entropy::AntiEntropy,
        id: u64,
        message: &protocol_v2::ae::AeMessage<'_>,
        sign: Option<(&AuthKey, u64)>,
    ) -> Option<Response> {
        match &self.durable {
            Some(durable) => ae.answer(&**durable.engine(), id, message, sign),
            None => ae.answer(
                &MemoryEngine::new(Arc::clone(&self.store)),
                id,
                message,
                sign,
            ),
        }
    }
}
