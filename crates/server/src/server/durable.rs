//! The durable engine inside a running server: the server's request path
//! on a data directory (the storage layer itself knows nothing of servers).
//!
//! The receive loops of [`crate::server`] hand the requests they parsed to
//! [`DurableStorage::answer`]: gets and dumps are answered at once from the
//! engine. Under `--sync always`, and always on redb, puts go to the
//! [`Committer`], whose delivery function sends each reply from its own
//! thread once the group commit holding it is done — so no acknowledgement
//! leaves the process before its data is on disk, and a receive loop never
//! waits for a sync. Otherwise the log engine's puts are applied on the
//! loop itself, one `pwrite` each ([`DiskEngine::puts_inline`]). With keys,
//! a v2 put's reply is signed with the key of its request (DECISIONS #75).

use std::net::SocketAddrV4;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::engine::committer::{Delivery, SubmitError};
use crate::engine::{Committer, DiskEngine, Engine, Record, Refused};
use crate::limits::Stats;
use crate::protocol::{self, Request};
use crate::protocol_v2::{AuthKey, Frame};
use crate::stats::{Latency, Timed};
use crate::udp_batch::SendQueue;

use super::reply::{Response, answer_v2, reply_signature, v2_write_reply};

/// How long the committer keeps retrying replies while the socket's send
/// buffer is full before dropping them (the client retransmits).
const SEND_PATIENCE: Duration = Duration::from_millis(500);

/// Where and how the committer answers one put: the client's address and,
/// for a v2 write, the request id (`None`: a v1 put, answered in v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    /// The client.
    pub peer: SocketAddrV4,
    /// The v2 request id, or `None` for v1.
    pub v2_id: Option<u64>,
    /// The id of the key that signed the v2 request, if it was signed: a
    /// server with keys signs the reply with it (DECISIONS #75).
    pub signed_by: Option<u8>,
    /// When the write was handed to the committer and what it is (put or
    /// delete), for its latency; `None` when requests are not timed.
    pub timed: Option<(Instant, Timed)>,
}

/// A durable engine and its committer, as a server uses them.
#[derive(Debug)]
pub struct DurableStorage {
    disk: DiskEngine,
    engine: Arc<dyn Engine>,
    committer: Committer<ReplyTo>,
    /// Puts are applied on the receive loop ([`DiskEngine::puts_inline`]).
    inline: bool,
    stats: Arc<Stats>,
    busy: AtomicU64,
    /// The server's keys (`--key-file`; empty without), which sign replies
    /// to signed v2 requests.
    keys: Arc<[AuthKey]>,
    /// The server's latency histograms, where the committer times writes.
    latency: Arc<Latency>,
}

impl DurableStorage {
    /// Starts the committer of `engine`; replies to puts are sent on
    /// `socket` (any socket bound to the server's address), signed with the
    /// one of `keys` (the server's, `--key-file`) that signed their request,
    /// refusals are counted in `stats` and latencies in `latency` (from the
    /// hand-off to the committer until the group commit is done).
    pub fn start<S>(
        disk: DiskEngine,
        socket: Arc<S>,
        (stats, latency): (Arc<Stats>, Arc<Latency>),
        keys: Arc<[AuthKey]>,
    ) -> std::io::Result<DurableStorage>
    where
        S: AsFd + Send + Sync + 'static,
    {
        let counters = Arc::clone(&stats);
        let reply_keys = Arc::clone(&keys);
        let timer = Arc::clone(&latency);
        let deliver = move |delivery: Delivery<ReplyTo>| {
            let mut replies = SendQueue::new();
            let committed = timer.is_on().then(Instant::now);
            for (to, result) in delivery {
                finished(&timer, committed, &to, &counters, &result);
                replies.push(reply_for(&reply_keys, &to, &result), to.peer);
            }
            send_all(&mut replies, &*socket);
        };
        let every = disk.sync_every();
        let engine = disk.engine();
        let committer = Committer::start(Arc::clone(&engine), every, deliver)?;
        Ok(DurableStorage {
            inline: disk.puts_inline(),
            disk,
            engine,
            committer,
            stats,
            busy: AtomicU64::new(0),
            keys,
            latency,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The engine by kind (its directory, sync policy, files).
    pub fn disk(&self) -> &DiskEngine {
        &self.disk
    }

    /// Puts dropped because the commit queue was full.
    pub fn busy_drops(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    /// The reply to a parsed request from `peer`: `Some` for gets and
    /// dumps (the empty refusal for a get whose record failed its check);
    /// `None` for puts (the committer replies) and when the engine cannot
    /// read (logged; the client will retry or use other replicas).
    pub fn answer(&self, request: Request<'_>, peer: SocketAddrV4) -> Option<Response> {
        match request {
            Request::Get { key } => match self.engine.get(key) {
                Ok(Some(record)) if !record.tombstone => {
                    Some(Response::One(protocol::v1_get_reply(record.value)))
                }
                Ok(_) => Some(Response::One(Bytes::from_static(protocol::REPLY_NOT_FOUND))),
                // A record failing its check: v1's empty refusal, never a
                // value nor "not found".
                Err(e) if super::corrupt::refused(&e, &self.stats) => {
                    Some(Response::One(Bytes::from_static(protocol::REPLY_REFUSED)))
                }
                Err(e) => {
                    tracing::error!(error = %e, "get failed; no reply");
                    None
                }
            },
            Request::Put { key, value } => {
                let record = Record::v1(Bytes::copy_from_slice(value));
                let to = ReplyTo {
                    peer,
                    v2_id: None,
                    signed_by: None,
                    timed: self.timed(Timed::Put),
                };
                self.submit(Bytes::copy_from_slice(key), record, to)
            }
            Request::Dump => match self.engine.snapshot() {
                Ok(pairs) => Some(Response::Many(protocol::encode_v1_dump(
                    pairs
                        .iter()
                        .filter(|(_, r)| !r.tombstone)
                        .map(|(k, r)| (&k[..], &r.value[..])),
                ))),
                Err(e) => {
                    tracing::error!(error = %e, "dump failed; no reply");
                    None
                }
            },
        }
    }

    /// Now and `op`, when requests are timed (the start of a write's
    /// latency, [`ReplyTo::timed`]).
    fn timed(&self, op: Timed) -> Option<(Instant, Timed)> {
        self.latency.is_on().then(|| (Instant::now(), op))
    }

    /// Applies a put at once when puts are inline and returns its reply;
    /// otherwise hands it to the committer, which replies to `to` once it
    /// is stored (`None`). A put that cannot be queued is dropped (the
    /// client resends).
    fn submit(&self, key: Bytes, record: Record, to: ReplyTo) -> Option<Response> {
        if self.inline {
            let result = (self.engine.put_batch(&[(key, record)]).pop())
                .unwrap_or_else(|| Err(Refused::Io("no result".into())));
            let now = self.latency.is_on().then(Instant::now);
            finished(&self.latency, now, &to, &self.stats, &result);
            return Some(Response::One(reply_for(&self.keys, &to, &result)));
        }
        let peer = to.peer;
        match self.committer.submit(key, record, to) {
            Ok(()) => {}
            Err(SubmitError::Busy) => {
                self.busy.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "dropped: commit queue full");
            }
            Err(SubmitError::Stopped) => {
                tracing::error!(%peer, "dropped: the committer has stopped");
            }
        }
        None
    }

    /// The reply to a well-formed v2 request from `peer`
    /// ([`crate::server`]'s v2 handling on this engine): reads at once,
    /// writes through the committer (which replies; `None` here), so the
    /// version comparison happens inside its single writer.
    pub fn answer_v2(
        &self,
        frame: &Frame<'_>,
        peer: SocketAddrV4,
        clock: &crate::hlc::OffsetGuard,
    ) -> Option<Response> {
        let to = ReplyTo {
            peer,
            v2_id: Some(frame.id),
            signed_by: frame.auth.map(|t| t.key_id),
            timed: None,
        };
        let submit = |key: Bytes, record: Record| {
            let op = if record.tombstone {
                Timed::Delete
            } else {
                Timed::Put
            };
            let to = ReplyTo {
                timed: self.timed(op),
                ..to
            };
            self.submit(key, record, to)
        };
        answer_v2(
            &*self.engine,
            frame,
            Some(&submit),
            &self.keys,
            clock,
            &self.stats,
        )
    }

    /// The counters of the server this storage serves.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}

/// A put is stored or refused: its latency (from `to.timed` until `now`)
/// and its refusal counted and logged.
fn finished(
    timer: &Latency,
    now: Option<Instant>,
    to: &ReplyTo,
    counters: &Stats,
    result: &Result<(), Refused>,
) {
    if let (Some((handed, op)), Some(now)) = (to.timed, now) {
        timer.observe(op, now.saturating_duration_since(handed));
    }
    if let Err(e) = result
        && !matches!(e, Refused::Older { .. })
    {
        if matches!(e, Refused::Full { .. } | Refused::NoSpace { .. }) {
            Stats::bump(&counters.over_disk);
        }
        if matches!(e, Refused::Io(_)) {
            Stats::bump(&counters.engine_errors);
        }
        tracing::debug!(peer = %to.peer, error = %e, "refused put");
    }
}

/// The reply to a put from `to` (v1, or v2 signed like its request).
fn reply_for(keys: &[AuthKey], to: &ReplyTo, result: &Result<(), Refused>) -> Bytes {
    match (to.v2_id, result) {
        (Some(id), _) => {
            let sign = reply_signature(keys, to.signed_by);
            v2_write_reply(id, result, true, sign)
        }
        (None, Ok(())) => Bytes::from_static(protocol::REPLY_STORED),
        (None, Err(_)) => Bytes::from_static(protocol::REPLY_REFUSED),
    }
}

/// Sends every queued reply, waiting briefly while the send buffer is full.
fn send_all(replies: &mut SendQueue, socket: &impl AsFd) {
    let deadline = std::time::Instant::now() + SEND_PATIENCE;
    while !replies.is_empty() {
        match replies.send(socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    tracing::debug!(left = replies.len(), "send buffer full; replies dropped");
                    return;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => {
                tracing::debug!(error = %e, "send failed");
                return;
            }
        }
    }
}
