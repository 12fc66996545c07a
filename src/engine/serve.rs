//! The durable engine inside a running server.
//!
//! The receive loops of [`crate::server`] hand the requests they parsed to
//! [`DurableStorage::answer`]: gets and dumps are answered at once from the
//! engine (redb readers never wait for the writer), puts go to the
//! [`Committer`] and get no reply from the loop. The committer's delivery
//! function sends each put's reply itself, from its own thread, once the
//! group commit holding it is done — so under `--sync always` no
//! acknowledgement leaves the process before its data is on disk, and a
//! receive loop never waits for a sync.

use std::net::SocketAddrV4;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use super::committer::{Delivery, SubmitError};
use super::{Committer, DurableEngine, Engine, Record, Refused};
use crate::limits::Stats;
use crate::protocol::{self, Request};
use crate::server::Response;
use crate::udp_batch::SendQueue;

/// How long the committer keeps retrying replies while the socket's send
/// buffer is full before dropping them (the client retransmits).
const SEND_PATIENCE: Duration = Duration::from_millis(500);

/// A durable engine and its committer, as a server uses them.
#[derive(Debug)]
pub struct DurableStorage {
    engine: Arc<DurableEngine>,
    committer: Committer<SocketAddrV4>,
    stats: Arc<Stats>,
    busy: AtomicU64,
}

impl DurableStorage {
    /// Starts the committer of `engine`; replies to puts are sent on
    /// `socket` (any socket bound to the server's address) and refusals
    /// counted in `stats`.
    pub fn start<S>(
        engine: Arc<DurableEngine>,
        socket: Arc<S>,
        stats: Arc<Stats>,
    ) -> std::io::Result<DurableStorage>
    where
        S: AsFd + Send + Sync + 'static,
    {
        let counters = Arc::clone(&stats);
        let deliver = move |delivery: Delivery<SocketAddrV4>| {
            let mut replies = SendQueue::new();
            for (peer, result) in delivery {
                let reply = match result {
                    Ok(()) => protocol::REPLY_STORED,
                    Err(e) => {
                        if matches!(e, Refused::Full { .. } | Refused::NoSpace { .. }) {
                            Stats::bump(&counters.over_memory);
                        }
                        tracing::debug!(%peer, error = %e, "refused put");
                        protocol::REPLY_REFUSED
                    }
                };
                replies.push(Bytes::from_static(reply), peer);
            }
            send_all(&mut replies, &*socket);
        };
        let every = engine.sync_every();
        let as_engine: Arc<dyn Engine> = engine.clone();
        let committer = Committer::start(as_engine, every, deliver)?;
        Ok(DurableStorage {
            engine,
            committer,
            stats,
            busy: AtomicU64::new(0),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<DurableEngine> {
        &self.engine
    }

    /// Puts dropped because the commit queue was full.
    pub fn busy_drops(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    /// The reply to a parsed request from `peer`: `Some` for gets and
    /// dumps; `None` for puts (the committer replies) and when the engine
    /// cannot read (logged; the client will retry or use other replicas).
    pub fn answer(&self, request: Request<'_>, peer: SocketAddrV4) -> Option<Response> {
        match request {
            Request::Get { key } => match self.engine.get(key) {
                Ok(Some(record)) if !record.tombstone => Some(Response::One(record.value)),
                Ok(_) => Some(Response::One(Bytes::from_static(protocol::REPLY_NOT_FOUND))),
                Err(e) => {
                    tracing::error!(error = %e, "get failed; no reply");
                    None
                }
            },
            Request::Put { key, value } => {
                let record = Record::v1(Bytes::copy_from_slice(value));
                match self
                    .committer
                    .submit(Bytes::copy_from_slice(key), record, peer)
                {
                    Ok(()) => None,
                    Err(SubmitError::Busy) => {
                        self.busy.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "dropped: commit queue full");
                        None
                    }
                    Err(SubmitError::Stopped) => {
                        tracing::error!(%peer, "dropped: the committer has stopped");
                        None
                    }
                }
            }
            Request::Dump => match self.engine.snapshot() {
                Ok(pairs) => {
                    let live: Vec<_> = pairs.iter().filter(|(_, r)| !r.tombstone).collect();
                    Some(Response::Many(protocol::encode_dump(
                        live.len(),
                        live.iter().map(|(k, r)| (&k[..], &r.value[..])),
                    )))
                }
                Err(e) => {
                    tracing::error!(error = %e, "dump failed; no reply");
                    None
                }
            },
        }
    }

    /// The counters of the server this storage serves.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
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
