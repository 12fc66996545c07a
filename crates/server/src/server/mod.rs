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
//! ([`RecvBatch`](crate::udp_batch::RecvBatch), `recvmmsg`), handles each one on its own
//! (`Shared::handle`: limits, then [`respond`]), queues the replies and
//! sends them with as few system calls as possible ([`SendQueue`](crate::udp_batch::SendQueue),
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
//! ([`protocol_v2::dialect`](crate::protocol_v2::dialect)); v1 goes on exactly as above, a well-formed v2
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
//!
//! Layout, one job per file: this file holds [`Server`] and its public
//! API (its sockets are bound by [`crate::net`]); `loops.rs` the receive
//! loops, their restart and the tombstone sweep, `shared.rs` the shared
//! state and the limits (v1 path), `v2.rs` the v2 path, `reply.rs` the
//! replies (v1 and v2, signing), `durable.rs` the request path on the durable engine (gets
//! read, puts handed to its committer), `figures.rs` the counters for
//! STATS and metrics, and `run.rs`
//! `dkvs-server`'s main path ([`serve_until_signal`]).

mod corrupt;
mod durable;
mod figures;
mod loops;
mod reply;
mod run;
mod shared;
#[cfg(test)]
mod tests;
mod v2;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::engine::DiskEngine;
pub use crate::limits::{Limits, Stats, StatsSnapshot};
use crate::store::Store;

// The sockets are bound by `crate::net`; kept here so the old paths
// (`dkvs::server::bind_udp`, …) still resolve.
pub use crate::net::{RECV_BUFFER_BYTES, bind_group, bind_udp, bind_udp_buffered, kernel_drops};
pub use durable::{DurableStorage, ReplyTo};
pub use loops::{SWEEP_MAX, sweep_interval};
pub use reply::{Response, respond};
pub use run::{
    InitialPairError, ServeError, ServeOptions, auth_from_env, serve_until_signal, shutdown_signal,
};
use shared::Shared;

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
    pub fn use_durable(&mut self, engine: DiskEngine) -> io::Result<()> {
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
            (Arc::clone(&shared.stats), Arc::clone(&shared.latency)),
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
        Arc::new(move || crate::stats::Scrape {
            pairs: shared.figures().pairs(),
            latency: shared.latency.snapshot(),
        })
    }

    /// The server's request latency histograms (they stay readable after
    /// [`Server::run`] has consumed the server). Timing can be turned off
    /// there ([`crate::stats::Latency::set_on`]: the clock is then not read;
    /// `benches/metrics_overhead.rs` compares the two), also while the
    /// server runs.
    pub fn latency_handle(&self) -> Arc<crate::stats::Latency> {
        Arc::clone(&self.shared.latency)
    }

    /// Serves until `shutdown` completes. A receive loop that ends (it only
    /// can by a panic outside request handling) is logged and restarted on
    /// its socket.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        loops::run(self, shutdown).await;
    }
}
