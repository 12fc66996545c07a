//! The UDP server: its sockets, its receive loops, one [`Store`] (or the
//! durable engine), protocol v1 and v2 on one port.
//!
//! Threading: the server runs on a multi-threaded tokio runtime with one
//! worker thread per core, and one receive loop per core, each on its own
//! socket: the cores' sockets share the port with `SO_REUSEPORT`
//! ([`bind_group`]), and the kernel spreads the sources over them. A
//! second server on a port in use still gets "address in use": the group
//! is bound only after a plain probe socket got the port (see
//! `docs/DECISIONS.md` #14, and `docs/PROFILE.md` for the measurement that
//! chose this over one socket shared by all loops).
//!
//! A receive loop takes a batch of datagrams with one system call
//! ([`RecvBatch`], `recvmmsg`), handles each one on its own
//! (`Shared::handle`: limits, then [`respond`]), queues the replies and
//! sends them with as few system calls as possible ([`SendQueue`],
//! `sendmmsg`), in order, waiting for writability when the send buffer is
//! full so that a dump is never cut short. The batch buffers and the queue
//! belong to the loop and are reused, so serving a get allocates nothing:
//! its reply is the stored `Bytes`, shared, not copied. `docs/PROFILE.md`
//! measures where the time goes.
//!
//! Storage: by default the pairs live in the in-memory [`Store`]. With
//! `--data-dir` ([`ServeOptions::storage`], [`Server::use_durable`]) they
//! live in the durable engine (`crate::engine`): gets and dumps read it
//! from the loops, puts are handed to its group committer, which sends
//! their replies itself once stored (and synced under `--sync always`), so
//! a loop never waits for the disk (`docs/STORAGE.md`).
//!
//! Handling a request ([`respond`]) is a pure function of the store and the
//! datagram, so it is tested without sockets; a malformed datagram gets the
//! v1 refusal and never disturbs other requests.
//!
//! Protocol v2 (`docs/PROTOCOL.md`, "The server's v2 path") shares the
//! port: each datagram is told v1 or v2 by its first bytes
//! ([`protocol_v2::dialect`]); v1 goes on exactly as above, a well-formed v2
//! request is answered in v2 from the same engine (`answer_v2`: versions,
//! tombstones, cursor pages), and a malformed one gets the v1 empty
//! refusal. A background task purges tombstones older than
//! `--tombstone-grace` in bounded steps ([`sweep_interval`], [`SWEEP_MAX`]).
//!
//! Abuse limits ([`Limits`], see `docs/SECURITY.md`) are applied around it:
//! sources outside `--allow` are dropped silently, dumps are answered only
//! to `--allow-dump` sources, each source has a budget of reply bytes, and
//! the store refuses puts beyond `--max-memory`.
//!
//! Overload: there is no queue in the process beyond one batch. A receive
//! loop takes at most [`BATCH`](crate::udp_batch::BATCH) datagrams, answers them and only then takes
//! more, so requests that arrive faster than the loops serve them wait in
//! the socket's receive buffer (`--recv-buffer`, default
//! [`RECV_BUFFER_BYTES`], capped by the kernel at `net.core.rmem_max`; with
//! a socket per core each has that buffer, drained by its own loop) and,
//! once it is full, are dropped by the kernel (counted in the `drops`
//! column of `/proc/net/udp`). A request that is served therefore waited
//! at most one buffer's worth of requests (`benches/overload.rs` measures
//! it).
//!
//! Panics: a panic while handling a request is caught, counted and logged,
//! and the loop goes on with the next datagram; a receive loop that ends
//! anyway (a panic outside the handler) is restarted on the same socket.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::engine::{
    DurableEngine, DurableOptions, DurableStorage, Engine, MemoryEngine, Record, Refused,
    StorageArgs, Version,
};
use crate::hlc::{Clock, OffsetGuard};
use crate::limits::{AuthConfig, DATAGRAM_OVERHEAD, ReplyBudget};
pub use crate::limits::{Limits, Stats, StatsSnapshot};
use crate::protocol::{self, PutError, Request};
use crate::protocol_v2::{self, AuthKey, Dialect, Frame, Message as V2, Reason};
use crate::stats::{DurableFigures, Op, ServerFigures};
use crate::store::Store;
use crate::udp_batch::{RecvBatch, SendQueue};

/// What the server sends back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// One datagram (get and put replies).
    One(Bytes),
    /// Several datagrams (a dump).
    Many(Vec<Vec<u8>>),
}

/// Computes the reply to one request datagram, applying it to `store`
/// (no access control: see [`Server`] for the limits).
pub fn respond(store: &Store, datagram: &[u8]) -> Response {
    answer(store, protocol::parse_request(datagram), None)
}

/// The reply to a parsed request; `stats`, when given, counts refusals.
fn answer(
    store: &Store,
    request: Result<Request<'_>, PutError>,
    stats: Option<&Stats>,
) -> Response {
    let refused = |counter: Option<&std::sync::atomic::AtomicU64>| {
        if let Some(c) = counter {
            Stats::bump(c);
        }
        Response::One(Bytes::from_static(protocol::REPLY_REFUSED))
    };
    match request {
        Ok(Request::Get { key }) => match store.get(key) {
            Some(value) => Response::One(protocol::v1_get_reply(value)),
            None => Response::One(Bytes::from_static(protocol::REPLY_NOT_FOUND)),
        },
        Ok(Request::Put { key, value }) => match store.put(key, value) {
            Ok(()) => Response::One(Bytes::from_static(protocol::REPLY_STORED)),
            Err(e) => {
                tracing::debug!(error = %e, "refused put");
                refused(stats.map(|s| &s.over_memory))
            }
        },
        Ok(Request::Dump) => {
            let pairs = store.snapshot();
            Response::Many(protocol::encode_v1_dump(
                pairs.iter().map(|(k, v)| (&k[..], &v[..])),
            ))
        }
        Err(reason) => {
            tracing::debug!(%reason, "refused put");
            refused(stats.map(|s| &s.refused))
        }
    }
}

/// Checks a write's version against this server's clock and maximum offset
/// (`guard`): `Some(refusal)` when it is too far ahead, the REFUSED 10 that
/// tells the writer its clock is wrong and by how much.
fn clock_refusal(guard: &OffsetGuard, version: Version) -> Option<V2<'static>> {
    let now = crate::hlc::SystemClock.now_ms();
    guard.check(version.timestamp, now).err().map(|e| {
        tracing::debug!(error = %e, "refused a write from a clock ahead");
        V2::Refused {
            reason: Reason::ClockAhead {
                server_ms: e.server_ms,
                max_offset_ms: u32::try_from(e.max_offset_ms).unwrap_or(u32::MAX),
            },
        }
    })
}

/// The v2 reply to a well-formed v2 request, read from and written to
/// `engine`. Writes are applied with [`Engine::put_batch`] when `submit` is
/// `None`; otherwise they are handed to `submit` (the durable engine's
/// committer, which replies itself) and `None` is returned.
pub(crate) fn answer_v2(
    engine: &dyn Engine,
    frame: &Frame<'_>,
    submit: Option<&dyn Fn(Bytes, Record)>,
    keys: &[AuthKey],
    clock: &OffsetGuard,
) -> Option<Response> {
    let id = frame.id;
    let sign = reply_signature(keys, frame.auth.map(|t| t.key_id));
    let reply = |message: &V2| Some(v2_reply(id, message, sign));
    let read_failed = |e: crate::engine::EngineError| {
        tracing::error!(error = %e, "read failed; no reply");
        None
    };
    let write = |key: &[u8], record: Record| {
        if record.version == Version::ZERO {
            // Version 0/0 is the version of v1 writes (DECISIONS #51).
            return reply(&V2::Refused {
                reason: Reason::Malformed,
            });
        }
        // A version stamped further ahead of this server's clock than the
        // maximum offset would outrank every later write of the key (and
        // its tombstone would never age): refused with the reason (#77).
        if let Some(refusal) = clock_refusal(clock, record.version) {
            return reply(&refusal);
        }
        let key = Bytes::copy_from_slice(key);
        if let Some(submit) = submit {
            submit(key, record);
            return None;
        }
        let result = engine
            .put_batch(&[(key, record)])
            .pop()
            .unwrap_or(Err(Refused::Io("no result".into())));
        Some(Response::One(v2_write_reply(id, &result, sign)))
    };
    match &frame.message {
        // The server answers HELLO itself (`Shared::handle_v2`: features
        // depend on the source); here without features.
        V2::Hello => reply(&V2::HelloReply {
            max_version: protocol_v2::VERSION,
            features: 0,
            time_ms: crate::hlc::SystemClock.now_ms(),
        }),
        V2::Get { key } => match engine.get(key) {
            Ok(Some(r)) if !r.tombstone => reply(&V2::Value {
                value: &r.value,
                version: r.version,
            }),
            Ok(r) => reply(&V2::NotFound {
                tombstone: r.map(|r| r.version),
            }),
            Err(e) => read_failed(e),
        },
        V2::Put {
            key,
            value,
            version,
        } => write(
            key,
            Record {
                version: *version,
                tombstone: false,
                value: Bytes::copy_from_slice(value),
            },
        ),
        V2::Delete { key, version } => write(
            key,
            Record::tombstone(*version, crate::hlc::SystemClock.now_ms()),
        ),
        V2::Dump { cursor, limit } => {
            // Smallest entry: flags, a one-byte key and a version (20
            // bytes); one record more than can fit tells `more`.
            let fit = (protocol::MAX_DATAGRAM - protocol_v2::HEADER_LEN) / 20;
            let max = match *limit {
                0 => fit,
                l => usize::from(l).min(fit),
            } + 1;
            let (records, _) = match engine.page(cursor, max) {
                Ok(page) => page,
                Err(e) => return read_failed(e),
            };
            let entries = records.iter().map(|(key, r)| r.entry(key));
            match protocol_v2::encode_page(id, engine.len(), *limit, entries, sign) {
                Ok(page) => Some(Response::One(Bytes::from(page))),
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a dump page");
                    None
                }
            }
        }
        // The server answers STATS itself (`Shared::handle_v2`: the
        // counters are the server's, not the engine's).
        V2::Stats => reply(&V2::Refused {
            reason: Reason::Unsupported,
        }),
        // Replies were filtered out by the caller; answered as malformed.
        _ => Some(Response::One(Bytes::from_static(protocol::REPLY_REFUSED))),
    }
}

/// How a server with keys `keys` signs its reply to a request signed by
/// key id `signed_by` (`frame.auth`'s): with the key that signed the
/// request (a server with keys has verified it by then),
/// at the current time, so a client signing with any accepted key — during
/// a key rotation too — can check the reply with its own key; unsigned when
/// the request was not signed, so an unsigned HELLO or a request refused as
/// unauthenticated gets an unsigned reply, which cannot amplify
/// (DECISIONS #75).
pub(crate) fn reply_signature(keys: &[AuthKey], signed_by: Option<u8>) -> Option<(&AuthKey, u64)> {
    let id = signed_by?;
    let key = keys.iter().find(|k| k.id() == id)?;
    Some((key, crate::hlc::SystemClock.now_ms()))
}

/// Encodes a v2 reply, signed when `sign` says so ([`reply_signature`]); a
/// reply that cannot be encoded (impossible for the replies a server
/// builds: a value read back always fits, trailer included) is logged and
/// sent as the v1 empty refusal.
pub(crate) fn v2_reply(id: u64, message: &V2, sign: Option<(&AuthKey, u64)>) -> Response {
    match protocol_v2::encode(id, message, sign) {
        Ok(datagram) => Response::One(Bytes::from(datagram)),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a v2 reply");
            Response::One(Bytes::from_static(protocol::REPLY_REFUSED))
        }
    }
}

/// The v2 reply to a write's result: STORED, OLDER with the version kept,
/// or REFUSED (out of memory or disk, overloaded on an I/O error); signed
/// when `sign` says so ([`reply_signature`]).
pub(crate) fn v2_write_reply(
    id: u64,
    result: &Result<(), Refused>,
    sign: Option<(&AuthKey, u64)>,
) -> Bytes {
    let message = match result {
        Ok(()) => V2::Stored,
        Err(Refused::Older { current }) => V2::Older { current: *current },
        Err(Refused::Full { .. } | Refused::NoSpace { .. }) => V2::Refused {
            reason: Reason::OutOfMemory,
        },
        Err(Refused::Io(_)) => V2::Refused {
            reason: Reason::Overloaded,
        },
    };
    match v2_reply(id, &message, sign) {
        Response::One(bytes) => bytes,
        Response::Many(_) => Bytes::from_static(protocol::REPLY_REFUSED),
    }
}

/// The state every receive loop shares: the store, the limits and the
/// counters.
#[derive(Debug)]
struct Shared {
    store: Arc<Store>,
    limits: Limits,
    budget: ReplyBudget,
    stats: Arc<Stats>,
    /// The durable engine, when the server has a data directory: requests
    /// go to it instead of `store` (`crate::engine::serve`).
    durable: Option<DurableStorage>,
    /// Ring knowledge and anti-entropy (`--servers`), if any.
    ae: Option<Arc<crate::anti_entropy::AntiEntropy>>,
    /// Writes kept for other servers (hinted handoff, `crate::hints`).
    hints: Arc<crate::hints::HintStore>,
    /// Keys handed to their owners after a membership change
    /// (`crate::rebalance`), with `--servers`.
    rebalance: Option<Arc<crate::rebalance::Rebalancer>>,
    /// Requests by kind, per thread (`crate::stats`, the STATS reply).
    ops: crate::stats::OpCounters,
    /// When the server started (uptime).
    started: Instant,
    /// The address bound, for the kernel's drop count in STATS.
    bound: Option<SocketAddrV4>,
    /// `--max-clock-offset`, and the offsets seen.
    clock: Arc<OffsetGuard>,
    #[cfg(test)]
    hooks: tests::Hooks,
}

impl Shared {
    fn new(limits: Limits) -> Shared {
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
            started: Instant::now(),
            bound: None,
            #[cfg(test)]
            hooks: tests::Hooks::default(),
        }
    }

    /// Applies the limits to one datagram from `peer` and computes the reply;
    /// `None`: send nothing.
    fn handle(&self, datagram: &[u8], peer: SocketAddr) -> Option<Response> {
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
            return self.handle_v2(datagram, peer, ip, budgeted, now);
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

    /// Applies the limits to one v2 datagram (it starts with the magic)
    /// and computes the reply: v2 for a well-formed request, the v1 empty
    /// refusal for anything else (DECISIONS #34). Charged to the reply
    /// budget as v1 is: writes and malformed datagrams before, gets after.
    fn handle_v2(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        ip: Ipv4Addr,
        budgeted: bool,
        now: Instant,
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
            return Some(v2_reply(
                frame.id,
                &V2::Refused {
                    reason: Reason::Forbidden,
                },
                sign,
            ));
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
                        v2_reply(
                            frame.id,
                            &V2::Refused {
                                reason: Reason::Forbidden,
                            },
                            sign,
                        )
                    };
                    if budgeted
                        && let Response::One(reply) = &response
                        && !self
                            .budget
                            .take(ip, reply.len() as u64 + DATAGRAM_OVERHEAD, now)
                    {
                        return self.over_budget(peer);
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
        let response = match (&frame.message, &self.durable, peer) {
            // Answered here: its DUMP and STATS feature bits depend on the
            // source.
            (V2::Hello, _, _) => Some(v2_reply(
                frame.id,
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
            )),
            // Answered here, on both engines: the counters are the server's.
            (V2::Stats, _, _) => {
                let pairs = self.figures().pairs();
                let pairs = pairs
                    .iter()
                    .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                    .collect();
                Some(v2_reply(frame.id, &V2::StatsReply { pairs }, sign))
            }
            (_, Some(durable), SocketAddr::V4(peer)) => {
                durable.answer_v2(&frame, peer, &self.clock)
            }
            _ => answer_v2(
                &MemoryEngine::new(Arc::clone(&self.store)),
                &frame,
                None,
                keys,
                &self.clock,
            ),
        };
        self.count(op, response.as_ref(), |r| {
            r.get(5) == Some(&protocol_v2::opcode::VALUE)
        });
        let response = response?;
        if budgeted
            && !charge_first
            && let Response::One(reply) = &response
        {
            let cost = reply.len() as u64 + DATAGRAM_OVERHEAD;
            if !self.budget.take(ip, cost, now) {
                return self.over_budget(peer);
            }
        }
        Some(response)
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
            return v2_reply(
                id,
                &V2::Refused {
                    reason: Reason::Forbidden,
                },
                sign,
            );
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

    /// Counts a request of kind `op` (`crate::stats`); for a get, a hit or
    /// a miss as `hit` tells from the reply. A get or dump without a reply
    /// failed in the engine (it logged why).
    fn count(&self, op: Option<Op>, response: Option<&Response>, hit: impl Fn(&[u8]) -> bool) {
        let Some(op) = op else { return };
        self.ops.bump(op);
        match (op, response) {
            (Op::Get, Some(Response::One(reply))) => {
                self.ops.bump(if hit(reply) { Op::Hit } else { Op::Miss });
            }
            (Op::Get | Op::Dump, None) => Stats::bump(&self.stats.engine_errors),
            _ => {}
        }
    }

    /// Everything the STATS reply and the metrics endpoint report, now.
    fn figures(&self) -> ServerFigures {
        let (keys, bytes_stored, bytes_limit, durable) = match &self.durable {
            Some(storage) => {
                let engine = storage.engine();
                let e = Engine::stats(&**engine);
                let size = |file: &str| {
                    std::fs::metadata(engine.dir().join(file))
                        .ok()
                        .map(|m| m.len())
                };
                let durable = DurableFigures {
                    commit_queue_full: storage.busy_drops(),
                    commits: e.commits,
                    syncs: e.syncs,
                    log_bytes: size(crate::engine::wal::WAL_FILE),
                    db_bytes: size(crate::engine::durable::DB_FILE),
                    sync_policy: engine.sync_policy().to_string(),
                };
                (e.keys, e.used_bytes, e.limit, Some(durable))
            }
            None => (
                self.store.len() as u64,
                self.store.used_bytes(),
                self.store.limit(),
                None,
            ),
        };
        ServerFigures {
            uptime: self.started.elapsed(),
            ops: self.ops.totals(),
            limits: self.stats.snapshot(),
            keys,
            bytes_stored,
            bytes_limit,
            rss: crate::stats::rss_bytes(),
            kernel_drops: self.bound.and_then(kernel_drops),
            clock: (self.clock.largest_ahead_ms(), self.clock.refused()),
            hints_pending: self.hints.pending() as u64,
            handoff: self.rebalance.as_ref().map(|r| r.stats().figures()),
            anti_entropy: self.ae.as_ref().map(|ae| ae.stats().snapshot()),
            durable,
        }
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

    fn over_budget(&self, peer: SocketAddr) -> Option<Response> {
        Stats::bump(&self.stats.over_budget);
        tracing::debug!(%peer, "dropped: source over its reply budget");
        None
    }

    /// Handles one datagram from `peer` and queues its reply datagrams (if
    /// any) on `replies`. A panic while handling it is caught and counted:
    /// that request gets no reply, the others are unaffected.
    fn serve(&self, datagram: &[u8], peer: SocketAddrV4, replies: &mut SendQueue) {
        tracing::trace!(%peer, len = datagram.len(), "request");
        let handled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.handle(datagram, SocketAddr::V4(peer))
        }));
        match handled {
            Ok(Some(Response::One(reply))) => replies.push(reply, peer),
            Ok(Some(Response::Many(datagrams))) => {
                for d in datagrams {
                    replies.push(Bytes::from(d), peer);
                }
            }
            Ok(None) => {}
            Err(payload) => {
                Stats::bump(&self.stats.panics);
                tracing::error!(%peer, len = datagram.len(), panic = %panic_text(payload.as_ref()), "request handling panicked; no reply, serving on");
            }
        }
    }
}

/// Socket receive buffer asked for, so bursts of requests are not dropped.
pub const RECV_BUFFER_BYTES: usize = 4 << 20;

/// Opens a UDP socket bound to `addr` with a large receive buffer. No
/// `SO_REUSEADDR`/`SO_REUSEPORT`: a port in use is an error.
pub fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    bind_udp_buffered(addr, RECV_BUFFER_BYTES)
}

/// [`bind_udp`] with socket buffers of `buffer` bytes (best effort: the
/// kernel caps them at `net.core.rmem_max` / `wmem_max`, and accounts
/// twice the size asked, headers included).
pub fn bind_udp_buffered(addr: SocketAddr, buffer: usize) -> io::Result<std::net::UdpSocket> {
    bind_socket(addr, buffer, false)
}

fn bind_socket(
    addr: SocketAddr,
    buffer: usize,
    reuse_port: bool,
) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(buffer);
    let _ = socket.set_send_buffer_size(buffer);
    socket.set_nonblocking(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Binds `count` UDP sockets to `addr`, with socket buffers of `buffer`
/// bytes. One socket (`count` ≤ 1) is bound plainly. Several share the
/// port with `SO_REUSEPORT` (the kernel spreads the sources over them),
/// but only once a plain probe socket has bound the port and let it go:
/// so a port in use — by anything, including another `dkvs-server`'s
/// group, whose sockets refuse a probe without `SO_REUSEPORT` — is still
/// `AddrInUse`, and port 0 gives every socket the port the probe got.
///
/// Remaining race (`docs/DECISIONS.md` #14): two groups whose probes both
/// run before either binds would share the port.
pub fn bind_group(
    addr: SocketAddrV4,
    buffer: usize,
    count: usize,
) -> io::Result<Vec<std::net::UdpSocket>> {
    if count <= 1 {
        return Ok(vec![bind_socket(SocketAddr::V4(addr), buffer, false)?]);
    }
    let probe = bind_socket(SocketAddr::V4(addr), 0, false)?;
    let port = probe.local_addr()?.port();
    drop(probe);
    let addr = SocketAddr::V4(SocketAddrV4::new(*addr.ip(), port));
    (0..count)
        .map(|_| bind_socket(addr, buffer, true))
        .collect()
}

/// Whether the server opens one `SO_REUSEPORT` socket per core (true, the
/// default: 3-5 % less CPU per request than one socket shared by the
/// loops on 2 cores, fewer wake-ups; `docs/PROFILE.md`) or shares one
/// socket between its loops (false).
const SOCKET_PER_CORE: bool = true;

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    sockets: Vec<Arc<UdpSocket>>,
    shared: Arc<Shared>,
    /// Receive loops per socket.
    loops: usize,
    /// How long tombstones are kept before the sweep purges them.
    tombstone_grace: Duration,
}

/// Most tombstones one sweep step removes.
pub const SWEEP_MAX: usize = 1024;

/// How often the tombstone sweep runs a step: a tenth of the grace period,
/// between 50 ms and 60 s (so a purge happens at most ~10 % late).
pub fn sweep_interval(grace: Duration) -> Duration {
    (grace / 10).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

/// The background tombstone sweep: every [`sweep_interval`], one bounded
/// purge step ([`Engine::purge_tombstones`], at most [`SWEEP_MAX`]
/// tombstones) off the receive loops' threads.
async fn sweep_loop(engine: Arc<dyn Engine>, grace: Duration) {
    let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
    let mut ticker = tokio::time::interval(sweep_interval(grace));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = crate::hlc::SystemClock.now_ms();
        let engine = Arc::clone(&engine);
        let step =
            tokio::task::spawn_blocking(move || engine.purge_tombstones(now, grace_ms, SWEEP_MAX))
                .await;
        match step {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(purged = n, "tombstones purged"),
            Ok(Err(e)) => tracing::error!(error = %e, "tombstone sweep failed"),
            Err(e) => tracing::error!(error = %e, "tombstone sweep panicked"),
        }
    }
}

impl Server {
    /// Binds `addr` with the default [`Limits`]. Must be called inside a
    /// tokio runtime.
    pub fn bind(addr: SocketAddrV4) -> io::Result<Server> {
        Server::bind_with(addr, Limits::default())
    }

    /// Binds `addr` with `limits`. Must be called inside a tokio runtime.
    pub fn bind_with(addr: SocketAddrV4, limits: Limits) -> io::Result<Server> {
        Server::bind_sockets(addr, limits, SOCKET_PER_CORE)
    }

    /// Binds `addr` with `limits`, one `SO_REUSEPORT` socket per core when
    /// `socket_per_core`, else one socket shared by one loop per core.
    pub fn bind_sockets(
        addr: SocketAddrV4,
        limits: Limits,
        socket_per_core: bool,
    ) -> io::Result<Server> {
        let buffer = usize::try_from(limits.recv_buffer).unwrap_or(usize::MAX);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (count, loops) = if socket_per_core {
            (cores, 1)
        } else {
            (1, cores)
        };
        let sockets = bind_group(addr, buffer, count)?
            .into_iter()
            .map(|s| UdpSocket::from_std(s).map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        let mut shared = Shared::new(limits);
        if let Some(Ok(SocketAddr::V4(bound))) = sockets.first().map(|s| s.local_addr()) {
            shared.bound = Some(bound);
        }
        Ok(Server {
            sockets,
            shared: Arc::new(shared),
            loops,
            tombstone_grace: Duration::from_secs(crate::engine::DEFAULT_TOMBSTONE_GRACE_SECS),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.sockets.first() {
            Some(socket) => socket.local_addr(),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "no socket")),
        }
    }

    /// How many sockets serve (more than one: `SO_REUSEPORT`).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The server's store (to preload pairs, or to inspect in tests).
    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Serves from the durable `engine` instead of the in-memory store:
    /// gets and dumps read it, puts go through its group committer, which
    /// replies once they are stored. Call before [`Server::run`].
    pub fn use_durable(&mut self, engine: Arc<DurableEngine>) -> io::Result<()> {
        let socket = self
            .sockets
            .first()
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no socket"))?;
        let shared = Arc::get_mut(&mut self.shared).ok_or_else(|| {
            io::Error::new(io::ErrorKind::ResourceBusy, "the server is already running")
        })?;
        let keys = shared.limits.auth.as_ref().map(|a| Arc::clone(&a.keys));
        shared.durable = Some(DurableStorage::start(
            engine,
            socket,
            Arc::clone(&shared.stats),
            keys.unwrap_or_else(|| Arc::new([])),
        )?);
        Ok(())
    }

    /// Gives the server its ring and anti-entropy (`--servers`): writes
    /// are noted in its tree, peers' anti-entropy requests answered, and
    /// [`Server::run`] runs its background task. Call before
    /// [`Server::run`].
    pub fn enable_anti_entropy(
        &mut self,
        ae: Arc<crate::anti_entropy::AntiEntropy>,
    ) -> io::Result<()> {
        let shared = Arc::get_mut(&mut self.shared).ok_or_else(|| {
            io::Error::new(io::ErrorKind::ResourceBusy, "the server is already running")
        })?;
        shared.ae = Some(ae);
        Ok(())
    }

    /// Hands the keys this server no longer owns to their owners after a
    /// membership change ([`crate::rebalance`]); [`Server::run`] runs it.
    /// Call before [`Server::run`].
    pub fn enable_rebalance(&mut self, r: Arc<crate::rebalance::Rebalancer>) -> io::Result<()> {
        let shared = Arc::get_mut(&mut self.shared).ok_or_else(|| {
            io::Error::new(io::ErrorKind::ResourceBusy, "the server is already running")
        })?;
        shared.rebalance = Some(r);
        Ok(())
    }

    /// Keeps the hints this server holds for others in `hints` (a durable
    /// server's, loaded from its data directory) instead of memory only.
    /// Call before [`Server::run`].
    pub fn use_hints(&mut self, hints: Arc<crate::hints::HintStore>) -> io::Result<()> {
        let shared = Arc::get_mut(&mut self.shared).ok_or_else(|| {
            io::Error::new(io::ErrorKind::ResourceBusy, "the server is already running")
        })?;
        shared.hints = hints;
        Ok(())
    }

    /// The hints this server holds for other servers (hinted handoff).
    pub fn hints(&self) -> Arc<crate::hints::HintStore> {
        Arc::clone(&self.shared.hints)
    }

    /// The server's anti-entropy state, with `--servers`.
    pub fn anti_entropy(&self) -> Option<Arc<crate::anti_entropy::AntiEntropy>> {
        self.shared.ae.clone()
    }

    /// Keeps tombstones `grace` before purging them (`--tombstone-grace`;
    /// default [`crate::engine::DEFAULT_TOMBSTONE_GRACE_SECS`]).
    pub fn set_tombstone_grace(&mut self, grace: Duration) {
        self.tombstone_grace = grace;
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// The server's live counters (they stay readable after [`Server::run`]
    /// has consumed the server).
    pub fn stats_handle(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.stats)
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// A function that builds this server's STATS report (name/value
    /// pairs, `crate::stats`) whenever called, for the metrics endpoint.
    /// Call it after [`Server::use_durable`] (which needs the server's
    /// state unshared).
    pub fn stats_source(&self) -> crate::stats::Source {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || shared.figures().pairs())
    }

    /// Serves until `shutdown` completes. A receive loop that ends (it only
    /// can by a panic outside request handling) is logged and restarted on
    /// its socket.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut loops = JoinSet::new();
        // Which socket each running loop serves.
        let mut socket_of = HashMap::new();
        let spawn = |loops: &mut JoinSet<()>,
                     socket_of: &mut HashMap<tokio::task::Id, usize>,
                     i: usize| {
            if let Some(socket) = self.sockets.get(i) {
                let handle = loops.spawn(serve_loop(Arc::clone(socket), Arc::clone(&self.shared)));
                socket_of.insert(handle.id(), i);
            }
        };
        for i in 0..self.sockets.len() {
            for _ in 0..self.loops.max(1) {
                spawn(&mut loops, &mut socket_of, i);
            }
        }
        let swept: Arc<dyn Engine> = match &self.shared.durable {
            Some(durable) => Arc::clone(durable.engine()) as Arc<dyn Engine>,
            None => Arc::new(MemoryEngine::new(Arc::clone(&self.shared.store))),
        };
        let ae_task = self
            .shared
            .ae
            .as_ref()
            .map(|ae| tokio::spawn(Arc::clone(ae).run(Arc::clone(&swept))));
        let rebalance_task = self.shared.rebalance.as_ref().map(|r| {
            let ae = self.shared.ae.clone();
            tokio::spawn(Arc::clone(r).run(Arc::clone(&swept), move |key: &[u8]| {
                if let Some(ae) = &ae {
                    ae.note_write(key);
                }
            }))
        });
        let sweep = tokio::spawn(sweep_loop(swept, self.tombstone_grace));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(ended) = loops.join_next_with_id() => {
                    let id = match &ended {
                        Ok((id, ())) => *id,
                        Err(e) => e.id(),
                    };
                    match ended {
                        Err(e) if e.is_panic() => {
                            tracing::error!(panic = %panic_text(e.into_panic().as_ref()), "receive loop panicked; restarting it");
                        }
                        other => tracing::error!(result = ?other.map(drop), "receive loop ended; restarting it"),
                    }
                    Stats::bump(&self.shared.stats.restarts);
                    let i = socket_of.remove(&id).unwrap_or(0);
                    spawn(&mut loops, &mut socket_of, i);
                }
            }
        }
        sweep.abort();
        if let Some(task) = ae_task {
            task.abort();
        }
        if let Some(task) = rebalance_task {
            task.abort();
        }
        loops.shutdown().await;
    }
}

/// The message of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_string()
    }
}

/// One receive loop: a batch in, each datagram handled, the replies out.
async fn serve_loop(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut batch = RecvBatch::new();
    let mut replies = SendQueue::new();
    loop {
        let received = socket
            .async_io(Interest::READABLE, || batch.recv(&*socket))
            .await;
        if let Err(e) = received {
            // ICMP errors from earlier sends can surface here; they are
            // about some other peer, so they never stop the server.
            tracing::debug!(error = %e, "receive error");
            if !matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::Interrupted
            ) {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            continue;
        }
        for (datagram, peer) in batch.iter() {
            #[cfg(test)]
            shared.hooks.check(datagram, true);
            shared.serve(datagram, peer, &mut replies);
        }
        if !replies.is_empty() {
            // Sends everything queued, in order; when the send buffer is
            // full, waits until it is writable again rather than dropping.
            let sent = socket
                .async_io(Interest::WRITABLE, || replies.send(&*socket))
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, left = replies.len(), "send failed");
            }
        }
    }
}

/// What `dkvs-server` was asked to do: an address, initial pairs and the
/// abuse limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Address to bind.
    pub addr: SocketAddrV4,
    /// Pairs stored at start, as if put.
    pub initial: Vec<(Vec<u8>, Vec<u8>)>,
    /// Abuse limits ([`ServeOptions::new`] sets the defaults).
    pub limits: Limits,
    /// Where the pairs are kept (`--data-dir`, `--sync`, …; default: in
    /// memory).
    pub storage: StorageArgs,
    /// Where to serve Prometheus metrics over HTTP (`--metrics`), if
    /// anywhere (`crate::metrics`).
    pub metrics: Option<SocketAddr>,
    /// When the metrics endpoint cannot be bound: serve without it (logged
    /// at error level) instead of not starting. Servers spawned by
    /// dkvs-tui (cluster.toml's `metrics`) are best effort, so a taken
    /// port costs the class its scrape, not a server (DECISIONS #89).
    pub metrics_best_effort: bool,
    /// The ring and anti-entropy (`--servers`, …; default: none).
    pub anti_entropy: crate::anti_entropy::AntiEntropyArgs,
}

impl ServeOptions {
    /// Checks the command line's trailing `<key> <value>` words.
    pub fn new(
        ip: std::net::Ipv4Addr,
        port: u16,
        words: Vec<std::ffi::OsString>,
    ) -> Result<ServeOptions, String> {
        use std::os::unix::ffi::OsStringExt;
        if !words.len().is_multiple_of(2) {
            return Err(format!(
                "initial pairs come as <key> <value>; got an odd number of words ({}), the last key has no value",
                words.len()
            ));
        }
        let mut initial = Vec::with_capacity(words.len() / 2);
        let mut words = words.into_iter().map(OsStringExt::into_vec);
        while let (Some(key), Some(value)) = (words.next(), words.next()) {
            protocol::check_key(&key)
                .and_then(|_| protocol::check_value(&value))
                .map_err(|e| format!("initial pair {:?}: {e}", String::from_utf8_lossy(&key)))?;
            initial.push((key, value));
        }
        Ok(ServeOptions {
            addr: SocketAddrV4::new(ip, port),
            initial,
            limits: Limits::default(),
            storage: StorageArgs::default(),
            metrics: None,
            metrics_best_effort: false,
            anti_entropy: crate::anti_entropy::AntiEntropyArgs::default(),
        })
    }

    /// The same options with the metrics endpoint at `metrics`.
    pub fn with_metrics(self, metrics: Option<SocketAddr>) -> ServeOptions {
        ServeOptions { metrics, ..self }
    }

    /// [`ServeOptions::with_metrics`], but a port that cannot be bound is
    /// logged and the server serves without its endpoint.
    pub fn with_best_effort_metrics(self, metrics: Option<SocketAddr>) -> ServeOptions {
        ServeOptions {
            metrics,
            metrics_best_effort: true,
            ..self
        }
    }

    /// The same options with `limits` in force.
    pub fn with_limits(self, limits: Limits) -> ServeOptions {
        ServeOptions { limits, ..self }
    }

    /// The same options with `storage` in force.
    pub fn with_storage(self, storage: StorageArgs) -> ServeOptions {
        ServeOptions { storage, ..self }
    }

    /// The same options with ring knowledge and anti-entropy `ae`.
    pub fn with_anti_entropy(self, ae: crate::anti_entropy::AntiEntropyArgs) -> ServeOptions {
        ServeOptions {
            anti_entropy: ae,
            ..self
        }
    }
}

/// Why [`serve_until_signal`] could not serve: a message ready to print and
/// the exit status it calls for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServeError {
    /// What went wrong.
    pub message: String,
    /// `commands::exit::CONFIG` for a data directory that cannot be used,
    /// `commands::exit::FAILED` otherwise.
    pub exit_code: u8,
}

impl From<String> for ServeError {
    fn from(message: String) -> ServeError {
        ServeError {
            message,
            exit_code: crate::commands::exit::FAILED,
        }
    }
}

/// The keys of the key file named by `DKVS_KEY_FILE`
/// ([`crate::limits::KEY_FILE_ENV`]), if it is set and not empty: how a
/// server started without `--key-file` (e.g. by the `dkvs-tui` supervisor
/// for a `cluster.toml` with `key_file`) gets its keys.
pub fn auth_from_env() -> Result<Option<AuthConfig>, String> {
    match std::env::var_os(crate::limits::KEY_FILE_ENV) {
        Some(path) if !path.is_empty() => AuthConfig::load(std::path::Path::new(&path)).map(Some),
        _ => Ok(None),
    }
}

/// Runs a server as `dkvs-server` does: opens its data directory (if any),
/// binds, stores the initial pairs, serves until SIGINT/SIGTERM. Errors are
/// ready to print.
pub fn serve_until_signal(mut options: ServeOptions) -> Result<(), ServeError> {
    if options.limits.auth.is_none() {
        options.limits.auth = auth_from_env().map_err(|message| ServeError {
            message,
            exit_code: crate::commands::exit::CONFIG,
        })?;
    }
    // The data directory first: a directory in use or damaged is a
    // configuration error, reported before anything else happens.
    let durable = match options.storage.durable() {
        // --max-memory bounds redb's page cache.
        Some(o) => Some(Arc::new(
            DurableEngine::open(&DurableOptions {
                cache: options.limits.max_memory,
                ..o
            })
            .map_err(|e| ServeError {
                message: e.0,
                exit_code: crate::commands::exit::CONFIG,
            })?,
        )),
        None => None,
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().map_err(|e| format!("cannot watch signals: {e}"))?;
        let mut server = Server::bind_with(options.addr, options.limits.clone()).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::AddrInUse {
                " (is another server already running on this port?)"
            } else if e.kind() == io::ErrorKind::AddrNotAvailable {
                " (this machine has no such address)"
            } else {
                ""
            };
            format!("cannot bind UDP {}: {e}{hint}", options.addr)
        })?;
        server.set_tombstone_grace(Duration::from_secs(options.storage.tombstone_grace_secs));
        let (keys, window) = match &options.limits.auth {
            Some(a) => (Arc::clone(&a.keys), a.window_ms),
            None => (Arc::from([]), 0),
        };
        let grace = Duration::from_secs(options.storage.tombstone_grace_secs);
        match crate::anti_entropy::AntiEntropy::new(
            &options.anti_entropy,
            options.addr,
            Arc::clone(&keys),
            window,
            grace,
        ) {
            Ok(Some(ae)) => {
                server
                    .enable_anti_entropy(ae)
                    .map_err(|e| format!("cannot start anti-entropy: {e}"))?;
                if let Some(path) = &options.anti_entropy.servers {
                    let me = options.anti_entropy.ring_address.unwrap_or(options.addr);
                    let r = crate::rebalance::Rebalancer::new(
                        path.clone(),
                        me,
                        options.anti_entropy.replicas,
                        Arc::clone(&keys),
                    )
                    .map_err(|message| ServeError {
                        message,
                        exit_code: crate::commands::exit::CONFIG,
                    })?;
                    server
                        .enable_rebalance(Arc::new(r))
                        .map_err(|e| format!("cannot start the hand-off: {e}"))?;
                }
            }
            Ok(None) => {}
            Err(message) => {
                return Err(ServeError {
                    message,
                    exit_code: crate::commands::exit::CONFIG,
                });
            }
        }
        if let Some(engine) = &durable {
            let puts: Vec<_> = options
                .initial
                .iter()
                .map(|(k, v)| {
                    (
                        Bytes::copy_from_slice(k),
                        Record::v1(Bytes::copy_from_slice(v)),
                    )
                })
                .collect();
            for (result, (key, _)) in engine.put_batch(&puts).into_iter().zip(&options.initial) {
                result
                    .map_err(|e| format!("initial pair {:?}: {e}", String::from_utf8_lossy(key)))?;
            }
            let report = engine.open_report();
            tracing::info!(
                data_dir = %engine.dir().display(),
                sync = %engine.sync_policy(),
                keys = report.keys,
                open_ms = report.took.as_secs_f64() * 1e3,
                max_disk = engine.stats().limit,
                "data directory opened"
            );
            server
                .use_durable(Arc::clone(engine))
                .map_err(|e| format!("cannot start the committer: {e}"))?;
        }
        for (key, value) in options.initial.iter().filter(|_| durable.is_none()) {
            server.store().put(key, value).map_err(|e| {
                format!(
                    "initial pair {:?}: {e} (--max-memory)",
                    String::from_utf8_lossy(key)
                )
            })?;
        }
        if let Some(engine) = &durable {
            let hints =
                crate::hints::HintStore::open(engine.dir()).map_err(|message| ServeError {
                    message,
                    exit_code: crate::commands::exit::CONFIG,
                })?;
            server
                .use_hints(Arc::new(hints))
                .map_err(|e| format!("cannot keep hints: {e}"))?;
        }
        tokio::spawn(crate::hints::handoff(server.hints(), Arc::clone(&keys)));
        if let Some(at) = options.metrics {
            match tokio::net::TcpListener::bind(at).await {
                Ok(listener) => {
                    tracing::info!(metrics = %at, "serving Prometheus metrics at /metrics");
                    tokio::spawn(crate::metrics::serve(listener, server.stats_source()));
                }
                Err(e) if options.metrics_best_effort => tracing::error!(
                    "cannot bind the metrics endpoint TCP {at}: {e}; serving without it (free the port or change `metrics` in the cluster file)"
                ),
                Err(e) => return Err(format!("cannot bind the metrics endpoint TCP {at}: {e}").into()),
            }
        }
        let limits = server.limits();
        tracing::info!(
            addr = %options.addr,
            pairs = options.initial.len(),
            allow = %limits.allow,
            allow_dump = %limits.allow_dump,
            max_memory = limits.max_memory,
            reply_rate = limits.reply_rate,
            reply_burst = limits.reply_burst,
            budget_exempt = %limits.budget_exempt,
            recv_buffer = limits.recv_buffer,
            "serving"
        );
        let stats = server.stats_handle();
        let bound = match server.local_addr() {
            Ok(SocketAddr::V4(a)) => a,
            _ => options.addr,
        };
        // Keeps the sockets open after `run` so that their drops can be read.
        let sockets = server.sockets.clone();
        server.run(shutdown).await;
        let s = stats.snapshot();
        let kernel_drops = kernel_drops(bound).map_or("unknown".to_string(), |d| d.to_string());
        drop(sockets);
        tracing::info!(
            requests = s.requests,
            refused = s.refused,
            not_allowed = s.not_allowed,
            dump_denied = s.dump_denied,
            over_budget = s.over_budget,
            over_memory = s.over_memory,
            panics = s.panics,
            restarts = s.restarts,
            unauthenticated = s.unauthenticated,
            kernel_drops = %kernel_drops,
            "stopped"
        );
        if let Some(engine) = &durable {
            // The committer has stopped with the server (and synced).
            let e = engine.stats();
            tracing::info!(
                keys = e.keys,
                used_bytes = e.used_bytes,
                commits = e.commits,
                syncs = e.syncs,
                "data directory closed"
            );
        }
        Ok(())
    })
}

/// How many datagrams the kernel dropped for the UDP sockets bound to
/// `addr` (several with `SO_REUSEPORT`) because their receive buffers were
/// full (the `drops` column of `/proc/net/udp`, Linux). `None` when that
/// cannot be read or no socket is bound there.
pub fn kernel_drops(addr: SocketAddrV4) -> Option<u64> {
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(addr.ip().octets()),
        addr.port()
    );
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let mut drops = None;
    for line in table
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
    {
        let d: u64 = line.split_whitespace().last()?.parse().ok()?;
        drops = Some(drops.unwrap_or(0) + d);
    }
    drops
}

/// Registers SIGINT and SIGTERM at once (so a signal that arrives while the
/// server is still starting is not lost) and returns a future that completes
/// on the first of them.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::limits::{Cidr, NetList};
    use std::time::Duration;

    #[test]
    fn versions_from_the_future_are_refused_with_the_clocks() {
        let guard = OffsetGuard::new(500);
        let now = crate::hlc::SystemClock.now_ms();
        let at = |ms: u64| Version {
            timestamp: crate::hlc::pack(ms, 7),
            writer: 1,
        };
        assert!(clock_refusal(&guard, at(now)).is_none());
        assert!(clock_refusal(&guard, at(0)).is_none());
        match clock_refusal(&guard, at(now + 20_000)) {
            Some(V2::Refused {
                reason:
                    Reason::ClockAhead {
                        server_ms,
                        max_offset_ms: 500,
                    },
            }) => assert!(server_ms >= now && server_ms < now + 20_000),
            other => panic!("{other:?}"),
        }
        assert!(guard.largest_ahead_ms() >= 19_000);
        assert_eq!(guard.refused(), 1);
    }

    /// Test-only hooks that make the server panic on a chosen datagram,
    /// inside request handling or in the receive loop itself.
    #[derive(Debug, Default)]
    pub(super) struct Hooks {
        pub handler_panic: Option<&'static [u8]>,
        pub loop_panic: Option<&'static [u8]>,
    }

    impl Hooks {
        pub(super) fn check(&self, datagram: &[u8], in_loop: bool) {
            let key = if in_loop {
                self.loop_panic
            } else {
                self.handler_panic
            };
            if key == Some(datagram) {
                panic!(
                    "test hook: panic on {:?}",
                    String::from_utf8_lossy(datagram)
                );
            }
        }
    }

    /// A reply is signed with the request's key, and only when the request
    /// was signed with a key the server holds; the signed reply verifies.
    #[test]
    fn replies_are_signed_with_the_requests_key() {
        let keys = [
            AuthKey::new(1, &[1; 32]).unwrap(),
            AuthKey::new(2, &[2; 32]).unwrap(),
        ];
        assert!(reply_signature(&keys, None).is_none());
        assert!(reply_signature(&keys, Some(3)).is_none());
        assert!(reply_signature(&[], Some(1)).is_none());
        let (key, at) = reply_signature(&keys, Some(2)).unwrap();
        assert_eq!(key.id(), 2);
        let Response::One(d) = v2_reply(9, &V2::Stored, Some((key, at))) else {
            panic!("one datagram");
        };
        let trailer = protocol_v2::verify(&d, &keys[1..], at, 0).unwrap();
        assert_eq!(trailer.key_id, 2);
        let stored = v2_write_reply(9, &Ok(()), reply_signature(&keys, Some(1)));
        assert!(protocol_v2::verify(&stored, &keys[..1], at, 60_000).is_ok());
        assert!(protocol_v2::verify(&stored, &keys[1..], at, 60_000).is_err());
    }

    #[test]
    fn respond_cases() {
        let s = Store::new();
        assert_eq!(respond(&s, b"k"), Response::One(Bytes::from_static(b"\0")));
        assert_eq!(
            respond(&s, b"k\0v"),
            Response::One(Bytes::from_static(b"\0"))
        );
        assert_eq!(respond(&s, b"k"), Response::One(Bytes::from_static(b"v")));
        assert_eq!(
            respond(&s, b"e\0"),
            Response::One(Bytes::from_static(b"\0"))
        );
        assert_eq!(respond(&s, b"e"), Response::One(Bytes::from_static(b"")));
        assert_eq!(respond(&s, b"\0x"), Response::One(Bytes::new()));
        assert_eq!(respond(&s, b"a\0b\0c"), Response::One(Bytes::new()));
        assert_eq!(
            respond(&s, b""),
            Response::Many(vec![
                b"storing 2 key-value pairs:\ne --> \nk --> v\n".to_vec()
            ])
        );
    }

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
    fn kernel_drops_of_a_bound_socket() {
        let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let SocketAddr::V4(addr) = socket.local_addr().unwrap() else {
            panic!("not v4")
        };
        assert_eq!(kernel_drops(addr), Some(0));
        drop(socket);
        assert_eq!(kernel_drops(addr), None);
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

    /// Runs a one-loop server with `hooks` on 127.0.0.1, and returns a
    /// client socket connected to it, the stats and the stop sender.
    fn start_with_hooks(
        runtime: &tokio::runtime::Runtime,
        hooks: Hooks,
    ) -> (
        std::net::UdpSocket,
        Arc<Stats>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let mut server = runtime
            .block_on(async { Server::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)) })
            .unwrap();
        server.loops = 1;
        Arc::get_mut(&mut server.shared).unwrap().hooks = hooks;
        let addr = server.local_addr().unwrap();
        let stats = server.stats_handle();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        (client, stats, stop, task)
    }

    /// Sends `request` until a reply comes (at most 25 tries).
    fn ask(client: &std::net::UdpSocket, request: &[u8]) -> Option<Vec<u8>> {
        let mut buf = [0u8; 65536];
        for _ in 0..25 {
            client.send(request).unwrap();
            if let Ok(n) = client.recv(&mut buf) {
                return Some(buf[..n].to_vec());
            }
        }
        None
    }

    /// Whether `f` becomes true within 5 s.
    fn eventually(f: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !f() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    #[test]
    fn a_group_shares_port_zero_and_keeps_others_out() {
        let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let group = bind_group(any, 1 << 16, 3).unwrap();
        let SocketAddr::V4(addr) = group[0].local_addr().unwrap() else {
            panic!("not v4")
        };
        assert_ne!(addr.port(), 0);
        for s in &group {
            assert_eq!(s.local_addr().unwrap(), SocketAddr::V4(addr));
        }
        // A second group, a single server socket or a plain bind: all
        // refused, as a second dkvs-server must be.
        for count in [1, 2] {
            let e = bind_group(addr, 1 << 16, count).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "count {count}");
        }
        assert!(std::net::UdpSocket::bind(addr).is_err());
        // And a group cannot join a port held by a plain socket.
        let plain = bind_udp(SocketAddr::V4(any)).unwrap();
        let SocketAddr::V4(taken) = plain.local_addr().unwrap() else {
            panic!("not v4")
        };
        let e = bind_group(taken, 1 << 16, 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_socket_per_core_server_answers_every_source() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(async {
                Server::bind_sockets(
                    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
                    Limits::default(),
                    true,
                )
            })
            .unwrap();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(server.socket_count(), cores);
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(server.run(async move {
            let _ = stopped.await;
        }));
        // Sources on many ports, so the kernel spreads them over the group.
        for i in 0..16 {
            let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            client.connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let put = format!("k{i}\0v{i}");
            assert_eq!(ask(&client, put.as_bytes()).unwrap(), b"\0");
            let get = format!("k{}", i / 2);
            assert_eq!(
                ask(&client, get.as_bytes()).unwrap(),
                format!("v{}", i / 2).as_bytes()
            );
        }
        stop.send(()).unwrap();
        runtime.block_on(task).unwrap();
    }

    #[test]
    fn panic_in_handler_is_contained() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hooks = Hooks {
            handler_panic: Some(b"boom"),
            loop_panic: None,
        };
        let (client, stats, stop, task) = start_with_hooks(&runtime, hooks);
        assert_eq!(ask(&client, b"k\0v").unwrap(), b"\0");
        client.send(b"boom").unwrap();
        assert_eq!(ask(&client, b"k").unwrap(), b"v");
        // (A late duplicate reply may have answered before "boom" was read.)
        assert!(eventually(|| stats.snapshot().panics == 1));
        assert_eq!(stats.snapshot().restarts, 0);
        stop.send(()).unwrap();
        runtime.block_on(task).unwrap();
    }

    #[test]
    fn panicked_receive_loop_is_restarted() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hooks = Hooks {
            handler_panic: None,
            loop_panic: Some(b"crash"),
        };
        let (client, stats, stop, task) = start_with_hooks(&runtime, hooks);
        assert_eq!(ask(&client, b"k\0v").unwrap(), b"\0");
        client.send(b"crash").unwrap();
        // The only loop died; its replacement answers.
        assert_eq!(ask(&client, b"k").unwrap(), b"v");
        client.send(b"crash").unwrap();
        assert_eq!(ask(&client, b"k").unwrap(), b"v");
        assert!(eventually(|| stats.snapshot().restarts == 2));
        stop.send(()).unwrap();
        runtime.block_on(task).unwrap();
    }
}
