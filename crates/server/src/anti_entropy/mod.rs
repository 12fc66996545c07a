//! Servers that know the ring, and anti-entropy between replicas (issue 8,
//! items 1 and 3; `docs/ANTI-ENTROPY.md`).
//!
//! With `--servers FILE` a server reads the cluster's configuration (the
//! client's parsers,
//! [`ClusterConfig::load`](crate::config::ClusterConfig::load)), builds
//! the ring ([`Ring`](crate::ring::Ring)), finds itself by its listen
//! address and so knows, for each ring segment, which servers replicate it
//! ([`RingView`]). SIGHUP reloads the file (a bad file keeps the old ring
//! and logs an error).
//!
//! Anti-entropy: every `--anti-entropy-interval`, the server compares with
//! each peer that shares segments with it the [`MerkleTree`] of those
//! segments over `(key, version, tombstone)`, descends to the differing
//! buckets, lists their keys and versions, pushes the records the peer
//! lacks or holds older (AE_PUSH) and fetches those the peer holds newer
//! (AE_FETCH); everything is applied through the engines' version rule
//! ([`merge()`]), so nothing older ever replaces something newer. The bytes
//! it sends and receives are capped by `--anti-entropy-rate`.
//!
//! The tree is built once from the engine at start, then kept up to date
//! by the server's write path: each applied write hands its key to
//! [`AntiEntropy::note_write`] (a bounded channel, no lock on the hot
//! path); a background step re-reads those keys from the engine a little
//! later (so durable writes have been committed) and updates their
//! buckets. Every key found in a differing bucket is re-read too, so a
//! lost note heals itself at the next round.
//!
//! The files, one job each: `view` (the ring as this server sees it),
//! `tree` (the tree kept in step with the engine), `task` (the background
//! task), `round` (one exchange round with the peers), `repair` (pushes
//! and fetches), `link` (requests to one peer, the rate limit), `answer`
//! (answering peers), `entries` (records on the wire), `merge`, `stats`.

mod answer;
mod entries;
mod link;
mod merge;
mod repair;
mod round;
mod task;
#[cfg(test)]
mod tests;
mod tree;
mod view;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;

use crate::engine::Record;
use crate::hlc::Clock;
use crate::merkle::MerkleTree;
use crate::protocol::MAX_DATAGRAM;
use crate::protocol_v2::{AuthKey, HEADER_LEN, TRAILER_LEN};

pub use crate::stats::{AeStats, AeStatsSnapshot};
pub use merge::merge;
pub use view::{RingView, ring_fingerprint};

use view::load_view;

/// Default `--anti-entropy-interval`: 10 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default `--anti-entropy-rate`: 4 MiB/s (sent plus received).
pub const DEFAULT_RATE: u64 = 4 << 20;
/// Writes noted but not yet applied to the tree before the tree gives up
/// following them one by one and is rebuilt from the engine.
pub const NOTE_QUEUE: usize = 1 << 16;
/// How long a noted write waits before its key is re-read (a durable
/// write is committed by then).
pub const NOTE_DELAY: Duration = Duration::from_millis(100);
/// Records whose version is younger than this are left to a later
/// round: their write is probably still reaching its replicas (and the
/// peer's tree follows its writes [`NOTE_DELAY`] late), so repairing them
/// now would mostly resend what is already on its way.
pub const SETTLE: Duration = Duration::from_secs(1);
/// How long a request to a peer waits for its reply before it is resent.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
/// Sends of one request before the peer counts as unreachable this round.
pub const REQUEST_TRIES: u32 = 3;
/// Segment roots per AE_ROOTS datagram.
pub const ROOTS_PER_REQUEST: usize = 1024;
/// AE_KEYS requests one round keeps in flight to a peer (their replies
/// are usually small; the socket's buffer holds many).
pub const KEYS_IN_FLIGHT: usize = 16;
/// Keys per AE_FETCH: the peer reads them on a receive loop, so a
/// request stays short even on the durable engine.
pub const FETCH_KEYS: usize = 256;
/// Records accepted from pushes and waiting to be merged, at most.
pub const PUSH_QUEUE: usize = 64;

/// Room for a message body in one datagram with a trailer.
const BODY_ROOM: usize = MAX_DATAGRAM - HEADER_LEN - TRAILER_LEN - 16;

/// A batch of records received from a peer, waiting to be merged.
type Batch = Vec<(Bytes, Record)>;

/// `dkvs-server`'s ring and anti-entropy options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AntiEntropyArgs {
    /// The cluster's servers.txt or cluster.toml: the server learns the
    /// ring, finds itself in it by its listen address and repairs its
    /// replicas with anti-entropy. Reloaded on SIGHUP (a bad file keeps the
    /// old ring). Without it the server knows no other server
    #[arg(long = "servers", value_name = "FILE")]
    pub servers: Option<PathBuf>,
    /// With --servers: replicas per key N [default: cluster.toml's
    /// [defaults] n, else 3; lowered to the number of servers]
    #[arg(long = "replicas", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub replicas: Option<u32>,
    /// With --servers: this server's address as the servers file lists it,
    /// when the other servers and the clients reach it through another
    /// address (a proxy, NAT) [default: the listen address]
    #[arg(long = "ring-address", value_name = "IP:PORT")]
    pub ring_address: Option<SocketAddrV4>,
    /// With --servers: time between anti-entropy rounds (e.g. 500ms, 10s,
    /// 1m; a bare number is seconds, decimals allowed; at most 1d; 0 turns
    /// anti-entropy off)
    #[arg(long = "anti-entropy-interval", value_name = "DURATION",
          default_value = "10s", value_parser = parse_seconds)]
    pub interval: Duration,
    /// With --servers: bytes per second anti-entropy may send and receive
    /// in all (e.g. 512KiB, 4M; K = 1024; a bare number is bytes)
    #[arg(long = "anti-entropy-rate", value_name = "SIZE",
          default_value = "4MiB", value_parser = crate::units::parse_size)]
    pub rate: u64,
}

impl Default for AntiEntropyArgs {
    /// No ring (the command line's defaults otherwise).
    fn default() -> AntiEntropyArgs {
        AntiEntropyArgs {
            servers: None,
            replicas: None,
            ring_address: None,
            interval: DEFAULT_INTERVAL,
            rate: DEFAULT_RATE,
        }
    }
}

/// What `--anti-entropy-interval` accepts: 0 (off) to a day, bare numbers
/// in seconds.
pub const INTERVAL: crate::units::DurationSpec =
    crate::units::DurationSpec::seconds(Duration::ZERO, Duration::from_secs(86_400));

/// Parses `--anti-entropy-interval` ([`INTERVAL`]): `10s`, `1m`, or
/// seconds with decimals (`0.5`, `10`).
pub fn parse_seconds(s: &str) -> Result<Duration, crate::units::DurationError> {
    INTERVAL.parse(s)
}

/// A server's ring knowledge and anti-entropy state (shared by the receive
/// loops, which answer peers, and the background task, which runs rounds).
#[derive(Debug)]
pub struct AntiEntropy {
    args: AntiEntropyArgs,
    addr: SocketAddrV4,
    /// The server's keys (`--key-file`): requests are signed with the
    /// first, replies checked with all.
    keys: Arc<[AuthKey]>,
    window_ms: u64,
    /// Tombstones older than this (by their version's clock) are neither
    /// compared nor sent: every replica purges them.
    grace: Duration,
    view: RwLock<Arc<RingView>>,
    tree: Mutex<MerkleTree>,
    /// True once the tree was built from the engine.
    ready: AtomicBool,
    notes: SyncSender<Bytes>,
    note_rx: Mutex<Option<Receiver<Bytes>>>,
    overflow: AtomicBool,
    pushes: SyncSender<Batch>,
    push_rx: Mutex<Option<Receiver<Batch>>>,
    stats: Arc<AeStats>,
}

impl AntiEntropy {
    /// The state of the server listening on `addr` with `args`; `None`
    /// without `--servers`. An unreadable file or one that does not list
    /// `addr` is an error (a configuration error at start).
    pub fn new(
        args: &AntiEntropyArgs,
        addr: SocketAddrV4,
        keys: Arc<[AuthKey]>,
        window_ms: u64,
        grace: Duration,
    ) -> Result<Option<Arc<AntiEntropy>>, crate::view::RingError> {
        let Some(view) = load_view(args, addr)? else {
            return Ok(None);
        };
        let (notes, note_rx) = std::sync::mpsc::sync_channel(NOTE_QUEUE);
        let (pushes, push_rx) = std::sync::mpsc::sync_channel(PUSH_QUEUE);
        Ok(Some(Arc::new(AntiEntropy {
            args: args.clone(),
            addr,
            keys,
            window_ms,
            grace,
            tree: Mutex::new(MerkleTree::new(view.ends(), crate::merkle::DEFAULT_BUCKETS)),
            view: RwLock::new(Arc::new(view)),
            ready: AtomicBool::new(false),
            notes,
            note_rx: Mutex::new(Some(note_rx)),
            overflow: AtomicBool::new(false),
            pushes,
            push_rx: Mutex::new(Some(push_rx)),
            stats: Arc::new(AeStats::default()),
        })))
    }

    /// The counters ([`AeStats`]), readable while the server runs.
    pub fn stats(&self) -> Arc<AeStats> {
        Arc::clone(&self.stats)
    }

    /// The ring as this server sees it now.
    pub fn view(&self) -> Arc<RingView> {
        match self.view.read() {
            Ok(v) => Arc::clone(&v),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// True when `ip` is the address of a server of the ring (its listed
    /// or its listen address): only those get answers to anti-entropy
    /// requests.
    pub fn is_ring_ip(&self, ip: std::net::Ipv4Addr) -> bool {
        *self.addr.ip() == ip || self.view().config.servers.iter().any(|s| s.ip == ip)
    }

    /// Tells the tree that `key` was written (called by the receive loops
    /// for every put and delete): O(1), no lock but the channel's. When the
    /// queue is full the tree is rebuilt from the engine instead.
    pub fn note_write(&self, key: &[u8]) {
        if let Err(TrySendError::Full(_)) = self.notes.try_send(Bytes::copy_from_slice(key)) {
            self.overflow.store(true, Ordering::Relaxed);
        }
    }

    fn now_ms() -> u64 {
        crate::hlc::SystemClock.now_ms()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
