//! What runs while the server serves: the receive loops (a batch in, each
//! datagram handled with its panics caught, the replies out), their
//! supervision and restart, and the background tombstone sweep.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::engine::{Engine, MemoryEngine};
use crate::hlc::Clock;
use crate::limits::Stats;
use crate::stats::{BatchOps, Timed};
use crate::udp_batch::{RecvBatch, SendQueue};

use super::Server;
use super::reply::Response;
use super::shared::Shared;

impl Shared {
    /// Handles one datagram from `peer` and queues its reply datagrams (if
    /// any) on `replies`; tells what to time the request as when it got a
    /// reply (`crate::stats::Latency`). A panic while handling it is caught
    /// and counted: that request gets no reply, the others are unaffected.
    fn serve(&self, datagram: &[u8], peer: SocketAddrV4, replies: &mut SendQueue) -> Option<Timed> {
        tracing::trace!(%peer, len = datagram.len(), "request");
        let mut counted = None;
        let handled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.handle_counted(datagram, SocketAddr::V4(peer), &mut counted)
        }));
        match handled {
            Ok(Some(Response::One(reply))) => replies.push(reply, peer),
            Ok(Some(Response::Many(datagrams))) => {
                for d in datagrams {
                    replies.push(Bytes::from(d), peer);
                }
            }
            Ok(None) => return None,
            Err(payload) => {
                Stats::bump(&self.stats.panics);
                tracing::error!(%peer, len = datagram.len(), panic = %panic_text(payload.as_ref()), "request handling panicked; no reply, serving on");
                return None;
            }
        }
        Some(counted.and_then(Timed::of).unwrap_or(Timed::Other))
    }
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

/// [`Server::run`]: starts the receive loops, anti-entropy, the hand-off
/// and the sweep, restarts a receive loop that ends, and stops them all
/// when `shutdown` completes.
pub(super) async fn run(server: Server, shutdown: impl Future<Output = ()>) {
    let mut loops = JoinSet::new();
    // Which socket each running loop serves.
    let mut socket_of = HashMap::new();
    let spawn = |loops: &mut JoinSet<()>,
                 socket_of: &mut HashMap<tokio::task::Id, usize>,
                 i: usize| {
        if let Some(socket) = server.sockets.get(i) {
            let handle = loops.spawn(serve_loop(Arc::clone(socket), Arc::clone(&server.shared)));
            socket_of.insert(handle.id(), i);
        }
    };
    for i in 0..server.sockets.len() {
        for _ in 0..server.loops.max(1) {
            spawn(&mut loops, &mut socket_of, i);
        }
    }
    let swept: Arc<dyn Engine> = match &server.shared.durable {
        Some(durable) => Arc::clone(durable.engine()),
        None => Arc::new(MemoryEngine::new(Arc::clone(&server.shared.store))),
    };
    let ae_task = server
        .shared
        .ae
        .as_ref()
        .map(|ae| tokio::spawn(Arc::clone(ae).run(Arc::clone(&swept))));
    let rebalance_task = server.shared.rebalance.as_ref().map(|r| {
        let ae = server.shared.ae.clone();
        tokio::spawn(Arc::clone(r).run(Arc::clone(&swept), move |key: &[u8]| {
            if let Some(ae) = &ae {
                ae.note_write(key);
            }
        }))
    });
    let sweep = tokio::spawn(sweep_loop(swept, server.tombstone_grace));
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
                Stats::bump(&server.shared.stats.restarts);
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

/// One receive loop: a batch in, each datagram handled, the replies out,
/// and the batch's requests timed from its receipt to the replies' sending
/// (all its replies leave together; timing off: the clock is not read).
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
        let received = shared.latency.is_on().then(Instant::now);
        let mut answered = BatchOps::default();
        for (datagram, peer) in batch.iter() {
            #[cfg(test)]
            shared.hooks.check(datagram, true);
            if let Some(op) = shared.serve(datagram, peer, &mut replies) {
                answered.add(op);
            }
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
        if let Some(received) = received {
            shared.latency.observe_batch(&answered, received.elapsed());
        }
    }
}
