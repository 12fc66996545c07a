//! The state every receive loop shares ([`Shared`]) and the first steps of
//! handling a datagram: the allow list, authentication, reply budgets and
//! the v1 path (the v2 path is in `v2.rs`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use super::DurableStorage;
use crate::hlc::{Clock, OffsetGuard};
use crate::limits::{AuthConfig, DATAGRAM_OVERHEAD, Limits, ReplyBudget, Stats};
use crate::protocol::{self, Request};
use crate::protocol_v2::{self, Dialect, Message as V2, Reason};
use crate::stats::Op;
use crate::store::Store;

use super::reply::{Response, answer, v2_reply};

/// The state every receive loop shares: the store, the limits and the
/// counters.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) store: Arc<Store>,
    pub(super) limits: Limits,
    pub(super) budget: ReplyBudget,
    pub(super) stats: Arc<Stats>,
    /// The durable engine, when the server has a data directory: requests
    /// go to it instead of `store` (`super::durable`).
    pub(super) durable: Option<DurableStorage>,
    /// Ring knowledge and anti-entropy (`--servers`), if any.
    pub(super) ae: Option<Arc<crate::anti_entropy::AntiEntropy>>,
    /// Writes kept for other servers (hinted handoff, `crate::hints`).
    pub(super) hints: Arc<crate::hints::HintStore>,
    /// Keys handed to their owners after a membership change
    /// (`crate::rebalance`), with `--servers`.
    pub(super) rebalance: Option<Arc<crate::rebalance::Rebalancer>>,
    /// Requests by kind, per thread (`crate::stats`, the STATS reply).
    pub(super) ops: crate::stats::OpCounters,
    /// Request latencies by kind, per thread (the metrics endpoint); shared
    /// with the durable committer, which times the writes it answers.
    pub(super) latency: Arc<crate::stats::Latency>,
    /// When the server started (uptime).
    pub(super) started: Instant,
    /// The address bound, for the kernel's drop count in STATS.
    pub(super) bound: Option<SocketAddrV4>,
    /// `--max-clock-offset`, and the offsets seen.
    pub(super) clock: Arc<OffsetGuard>,
    #[cfg(test)]
    pub(super) hooks: super::tests::Hooks,
}

impl Shared {
    pub(super) fn new(limits: Limits) -> Shared {
        let clock = Arc::new(OffsetGuard::new(limits.max_clock_offset_ms));
        Shared {
            clock,
            store: Arc::new(Store::with_limit(limits.max_memory)),
            budget: ReplyBudget::new(limits.reply_rate, limits.reply_burst, limits.budget_sources),
            limits,
            stats: Arc::new(Stats::default()),
            durable: None,
            ae: None,
            hints: Arc::new(crate::hints::HintStore::in_memory()),
            rebalance: None,
            ops: crate::stats::OpCounters::new(),
            latency: Arc::new(crate::stats::Latency::new()),
            started: Instant::now(),
            bound: None,
            #[cfg(test)]
            hooks: super::tests::Hooks::default(),
        }
    }

    /// Applies the limits to one datagram from `peer` and computes the reply;
    /// `None`: send nothing.
    #[cfg(test)]
    pub(super) fn handle(&self, datagram: &[u8], peer: SocketAddr) -> Option<Response> {
        self.handle_counted(datagram, peer, &mut None)
    }

    /// [`Shared::handle`], telling in `counted` what the request was
    /// counted as (`Shared::count`; left alone when it was not counted), for
    /// its latency.
    pub(super) fn handle_counted(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        counted: &mut Option<Op>,
    ) -> Option<Response> {
        Stats::bump(&self.stats.requests);
        #[cfg(test)]
        self.hooks.check(datagram, false);
        let ip = match peer {
            SocketAddr::V4(a) => *a.ip(),
            SocketAddr::V6(a) => a.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
        };
        if !self.limits.allow.contains(ip) {
            Stats::bump(&self.stats.not_allowed);
            tracing::debug!(%peer, "dropped: source not in --allow");
            return None;
        }
        let budgeted = !self.limits.budget_exempt.contains(ip);
        let now = Instant::now();
        if let Some(auth) = &self.limits.auth
            && let Err(rejected) = self.authenticate(auth, datagram, peer, ip, budgeted, now)
        {
            return rejected;
        }
        if !self.limits.v1_only && protocol_v2::dialect(datagram) == Dialect::V2 {
            return self.handle_v2(datagram, peer, ip, budgeted, now, counted);
        }
        let request = protocol::parse_request(datagram);
        match request {
            // Dumps go only to trusted sources and are not charged: a dump
            // cut short by a budget would be a wrong listing.
            Ok(Request::Dump) if !self.limits.allow_dump.contains(ip) => {
                Stats::bump(&self.stats.dump_denied);
                tracing::debug!(%peer, "dropped: dump from a source not in --allow-dump");
                return None;
            }
            // A put is charged before it is applied, so that a put whose
            // reply is dropped is not stored either.
            Ok(Request::Put { .. }) | Err(_) if budgeted => {
                let cost = protocol::REPLY_STORED.len() as u64 + DATAGRAM_OVERHEAD;
                if !self.budget.take(ip, cost, now) {
                    return self.over_budget(peer);
                }
            }
            _ => {}
        }
        let is_get = matches!(request, Ok(Request::Get { .. }));
        if let (Some(ae), Ok(Request::Put { key, .. })) = (&self.ae, &request) {
            ae.note_write(key);
        }
        let op = match &request {
            Ok(Request::Get { .. }) => Some(Op::Get),
            Ok(Request::Put { .. }) => Some(Op::Put),
            Ok(Request::Dump) => Some(Op::Dump),
            Err(_) => None,
        };
        let response = match (&self.durable, request, peer) {
            // Puts are answered by the committer once stored: `None` here.
            (Some(durable), Ok(request), SocketAddr::V4(peer)) => durable.answer(request, peer),
            (_, request, _) => Some(answer(&self.store, request, Some(&self.stats))),
        };
        *counted = op;
        self.count(op, response.as_ref(), |r| r != protocol::REPLY_NOT_FOUND);
        let response = response?;
        if let (true, true, Response::One(reply)) = (is_get, budgeted, &response) {
            let cost = reply.len() as u64 + DATAGRAM_OVERHEAD;
            if !self.budget.take(ip, cost, now) {
                return self.over_budget(peer);
            }
        }
        Some(response)
    }

    /// The authentication check of a server with a key (`--key-file`),
    /// before anything else looks at the datagram: a v2 datagram signed
    /// with an accepted key within the window passes, and so does any HELLO
    /// (it tells a client that a key is required, DECISIONS #34). Otherwise
    /// the datagram is counted and `Err` carries the answer: REFUSED 5 to a
    /// well-formed v2 request (smaller than the request, charged to the
    /// reply budget), nothing to v1 and to datagrams that do not decode
    /// (truncated, garbage). DECISIONS #64.
    fn authenticate(
        &self,
        auth: &AuthConfig,
        datagram: &[u8],
        peer: SocketAddr,
        ip: Ipv4Addr,
        budgeted: bool,
        now: Instant,
    ) -> Result<(), Option<Response>> {
        let now_ms = crate::hlc::SystemClock.now_ms();
        let error = match protocol_v2::verify(datagram, &auth.keys, now_ms, auth.window_ms) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let frame = protocol_v2::decode(datagram)
            .ok()
            .filter(|f| f.message.is_request());
        if frame.as_ref().is_some_and(|f| f.message == V2::Hello) {
            return Ok(());
        }
        Stats::bump(&self.stats.unauthenticated);
        tracing::debug!(%peer, %error, "rejected: not authenticated");
        let Some(frame) = frame else {
            return Err(None);
        };
        let cost = protocol_v2::HEADER_LEN as u64 + 1 + DATAGRAM_OVERHEAD;
        if budgeted && !self.budget.take(ip, cost, now) {
            return Err(self.over_budget(peer));
        }
        Err(Some(v2_reply(
            frame.id,
            &V2::Refused {
                reason: Reason::Unauthenticated,
            },
            None,
        )))
    }

    /// Counts a source over its reply budget; its request gets no reply.
    pub(super) fn over_budget(&self, peer: SocketAddr) -> Option<Response> {
        Stats::bump(&self.stats.over_budget);
        tracing::debug!(%peer, "dropped: source over its reply budget");
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::limits::{Cidr, NetList};

    fn peer(a: u8, b: u8, c: u8, d: u8) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), 4000))
    }

    fn one(r: Option<Response>) -> Vec<u8> {
        match r {
            Some(Response::One(d)) => d.to_vec(),
            other => panic!("expected one datagram, got {other:?}"),
        }
    }

    #[test]
    fn allow_list_drops_silently() {
        let limits = Limits {
            allow: NetList(vec!["10.0.0.0/8".parse::<Cidr>().unwrap()]),
            ..Limits::default()
        };
        let shared = Shared::new(limits);
        assert!(shared.handle(b"k\0v", peer(192, 168, 1, 1)).is_none());
        assert!(shared.store.is_empty(), "a dropped put is not applied");
        assert_eq!(one(shared.handle(b"k\0v", peer(10, 1, 1, 1))), b"\0");
        assert!(shared.handle(b"k", peer(11, 0, 0, 1)).is_none());
        let s = shared.stats.snapshot();
        assert_eq!((s.requests, s.not_allowed), (3, 2));
    }

    #[test]
    fn dumps_only_to_allowed_sources() {
        let shared = Shared::new(Limits::default());
        shared.store.put(b"k", b"v").unwrap();
        assert!(shared.handle(b"", peer(10, 0, 0, 1)).is_none());
        assert!(matches!(
            shared.handle(b"", peer(127, 0, 0, 1)),
            Some(Response::Many(_))
        ));
        // Gets and puts from anywhere are still served by default.
        assert_eq!(one(shared.handle(b"k", peer(10, 0, 0, 1))), b"v");
        assert_eq!(shared.stats.snapshot().dump_denied, 1);
    }

    #[test]
    fn reply_budget_drops_and_is_charged_per_source() {
        // Room for 2 replies of a 100-byte value (128 bytes each with
        // headers) and 2 one-byte replies (29 bytes each).
        let limits = Limits {
            reply_rate: 1,
            reply_burst: 2 * 128 + 2 * 29,
            ..Limits::default()
        };
        let shared = Shared::new(limits);
        shared.store.put(b"big", &[b'x'; 100]).unwrap();
        let far = peer(10, 0, 0, 1);
        assert_eq!(one(shared.handle(b"big", far)).len(), 100);
        assert_eq!(one(shared.handle(b"big", far)).len(), 100);
        assert!(shared.handle(b"big", far).is_none());
        // Small replies still fit (58 bytes left)...
        assert_eq!(one(shared.handle(b"absent", far)), b"\0");
        // ...until the bucket is empty: a put is then not applied at all.
        assert_eq!(one(shared.handle(b"p\0v", far)), b"\0");
        assert!(shared.handle(b"q\0v", far).is_none());
        assert!(shared.store.get(b"q").is_none());
        // Another source, and loopback (exempt by default), are unaffected.
        assert_eq!(one(shared.handle(b"big", peer(10, 0, 0, 2))).len(), 100);
        for _ in 0..100 {
            assert_eq!(one(shared.handle(b"big", peer(127, 0, 0, 1))).len(), 100);
        }
        assert_eq!(shared.stats.snapshot().over_budget, 2);
    }

    #[test]
    fn over_memory_is_refused_and_counted() {
        let limits = Limits {
            max_memory: crate::store::pair_size(b"a", b"1"),
            ..Limits::default()
        };
        let shared = Shared::new(limits);
        let lo = peer(127, 0, 0, 1);
        assert_eq!(one(shared.handle(b"a\x001", lo)), b"\0");
        assert_eq!(one(shared.handle(b"b\x001", lo)), b"");
        assert_eq!(one(shared.handle(b"a\x002", lo)), b"\0");
        assert_eq!(one(shared.handle(b"a", lo)), b"2");
        assert_eq!(one(shared.handle(b"\0x", lo)), b"");
        let s = shared.stats.snapshot();
        assert_eq!((s.over_memory, s.refused), (1, 1));
    }
}
