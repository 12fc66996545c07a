//! Servers that know the ring, and anti-entropy between replicas (issue 8,
//! items 1 and 3; `docs/ANTI-ENTROPY.md`).
//!
//! With `--servers FILE` a server reads the cluster's configuration (the
//! client's parsers, [`ClusterConfig::load`]), builds the ring
//! ([`Ring`]), finds itself by its listen address and so knows, for each
//! ring segment, which servers replicate it. SIGHUP reloads the file (a
//! bad file keeps the old ring and logs an error).
//!
//! Anti-entropy: every `--anti-entropy-interval`, the server compares with
//! each peer that shares segments with it the [`MerkleTree`] of those
//! segments over `(key, version, tombstone)`, descends to the differing
//! buckets, lists their keys and versions, pushes the records the peer
//! lacks or holds older (AE_PUSH) and fetches those the peer holds newer
//! (AE_FETCH); everything is applied through the engines' version rule
//! ([`merge`]), so nothing older ever replaces something newer. The bytes
//! it sends and receives are capped by `--anti-entropy-rate`.
//!
//! The tree is built once from the engine at start, then kept up to date
//! by the server's write path: each applied write hands its key to
//! [`AntiEntropy::note_write`] (a bounded channel, no lock on the hot
//! path); a background step re-reads those keys from the engine a little
//! later (so durable writes have been committed) and updates their
//! buckets. Every key found in a differing bucket is re-read too, so a
//! lost note heals itself at the next round.

use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UdpSocket;

use crate::config::ClusterConfig;
use crate::engine::{Engine, Record};
use crate::hlc::Clock;
use crate::merkle::{Digest, MerkleTree, Slot};
use crate::protocol::MAX_DATAGRAM;
use crate::protocol_v2::ae::{AeMessage, KeyVersion, REASON_RING_DIFFERS};
use crate::protocol_v2::{
    self, AuthKey, Entry, EntryValue, HEADER_LEN, Message, Reason, TRAILER_LEN,
};
use crate::ring::{Position, Ring};
use crate::server::Response;
use crate::version::Version;

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
    /// With --servers: seconds between anti-entropy rounds (decimals
    /// allowed; 0 turns anti-entropy off)
    #[arg(long = "anti-entropy-interval", value_name = "SECONDS",
          default_value = "10", value_parser = parse_seconds)]
    pub interval: Duration,
    /// With --servers: bytes per second anti-entropy may send and receive
    /// in all (suffixes K, M, G)
    #[arg(long = "anti-entropy-rate", value_name = "BYTES",
          default_value = "4M", value_parser = crate::limits::parse_size)]
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

/// Parses a number of seconds with decimals (`0.5`, `10`) into a duration.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?}: seconds must be between 0 and 86400"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What anti-entropy did, for STATS and the TUI (engineer S exposes it):
/// cumulative counters and the figures of the last finished round.
#[derive(Debug, Default)]
pub struct AeStats {
    /// Rounds finished.
    pub rounds: AtomicU64,
    /// Segments found different in the last round (all peers).
    pub divergent_segments_last: AtomicU64,
    /// Buckets found different in the last round (all peers).
    pub divergent_buckets_last: AtomicU64,
    /// Records pushed to peers plus fetched from them in the last round.
    pub keys_repaired_last: AtomicU64,
    /// Records pushed, since start.
    pub pushed_total: AtomicU64,
    /// Records fetched and merged, since start.
    pub fetched_total: AtomicU64,
    /// Records received by pushes and merged, since start.
    pub merged_total: AtomicU64,
    /// Bytes of anti-entropy datagrams sent (requests) since start.
    pub bytes_sent: AtomicU64,
    /// Bytes of anti-entropy replies received since start.
    pub bytes_received: AtomicU64,
    /// Peers that did not answer in the last round.
    pub unreachable_last: AtomicU64,
    /// Duration of the last round, ms.
    pub last_round_ms: AtomicU64,
    /// Keys in the tree.
    pub tree_keys: AtomicU64,
}

/// A copy of [`AeStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AeStatsSnapshot {
    /// [`AeStats::rounds`].
    pub rounds: u64,
    /// [`AeStats::divergent_segments_last`].
    pub divergent_segments_last: u64,
    /// [`AeStats::divergent_buckets_last`].
    pub divergent_buckets_last: u64,
    /// [`AeStats::keys_repaired_last`].
    pub keys_repaired_last: u64,
    /// [`AeStats::pushed_total`].
    pub pushed_total: u64,
    /// [`AeStats::fetched_total`].
    pub fetched_total: u64,
    /// [`AeStats::merged_total`].
    pub merged_total: u64,
    /// [`AeStats::bytes_sent`].
    pub bytes_sent: u64,
    /// [`AeStats::bytes_received`].
    pub bytes_received: u64,
    /// [`AeStats::unreachable_last`].
    pub unreachable_last: u64,
    /// [`AeStats::last_round_ms`].
    pub last_round_ms: u64,
    /// [`AeStats::tree_keys`].
    pub tree_keys: u64,
}

impl AeStats {
    /// The counters now.
    pub fn snapshot(&self) -> AeStatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AeStatsSnapshot {
            rounds: l(&self.rounds),
            divergent_segments_last: l(&self.divergent_segments_last),
            divergent_buckets_last: l(&self.divergent_buckets_last),
            keys_repaired_last: l(&self.keys_repaired_last),
            pushed_total: l(&self.pushed_total),
            fetched_total: l(&self.fetched_total),
            merged_total: l(&self.merged_total),
            bytes_sent: l(&self.bytes_sent),
            bytes_received: l(&self.bytes_received),
            unreachable_last: l(&self.unreachable_last),
            last_round_ms: l(&self.last_round_ms),
            tree_keys: l(&self.tree_keys),
        }
    }

    fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }

    fn set(a: &AtomicU64, n: u64) {
        a.store(n, Ordering::Relaxed);
    }
}

/// The ring as one server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingView {
    /// The file it came from.
    pub config: ClusterConfig,
    /// The ring.
    pub ring: Ring,
    /// This server's index in `config.servers`.
    pub me: usize,
    /// Replicas per key.
    pub n: usize,
    /// Identifies ring and N: two servers compare trees only when theirs
    /// are equal ([`ring_fingerprint`]).
    pub fingerprint: u64,
    /// Each peer this server shares segments with, and those segments.
    pub peers: Vec<(SocketAddrV4, Vec<u32>)>,
}

/// A fingerprint of a ring and N: the first 8 bytes of SHA-256 over N and
/// every node's position and server address, in ring order.
pub fn ring_fingerprint(config: &ClusterConfig, ring: &Ring, n: usize) -> u64 {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update((n as u64).to_be_bytes());
    for node in ring.nodes() {
        h.update(node.position.0);
        if let Some(s) = config.servers.get(node.server) {
            h.update(s.ip.octets());
            h.update(s.port.to_be_bytes());
        }
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    for (o, i) in b.iter_mut().zip(d.iter()) {
        *o = *i;
    }
    u64::from_be_bytes(b)
}

impl RingView {
    /// The view of the server listening on `me` in `config`, N from
    /// `replicas` or `[defaults] n` (else 3), lowered to the number of
    /// servers as the client does.
    pub fn new(
        config: ClusterConfig,
        me: SocketAddrV4,
        replicas: Option<u32>,
    ) -> Result<RingView, String> {
        let index = config
            .servers
            .iter()
            .position(|s| s.addr() == me)
            .ok_or_else(|| format!("{}: this server ({me}) is not in it", config.source_name()))?;
        let ring = Ring::new(&config);
        let n = replicas
            .or(config.defaults.n)
            .unwrap_or(crate::config::DEFAULT_N) as usize;
        let n = n.clamp(1, config.servers.len().max(1));
        let mut shared: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for (segment, node) in ring.nodes().iter().enumerate() {
            let replicas = ring.placement_at(node.position, n).replicas;
            if replicas.iter().any(|r| r.server == index) {
                for r in replicas.iter().filter(|r| r.server != index) {
                    shared
                        .entry(r.server)
                        .or_default()
                        .push(u32::try_from(segment).unwrap_or(u32::MAX));
                }
            }
        }
        let peers = shared
            .into_iter()
            .filter_map(|(s, segs)| config.servers.get(s).map(|s| (s.addr(), segs)))
            .collect();
        Ok(RingView {
            fingerprint: ring_fingerprint(&config, &ring, n),
            me: index,
            n,
            peers,
            ring,
            config,
        })
    }

    /// The segment ends (node positions in ring order) for the tree.
    pub fn ends(&self) -> Vec<Position> {
        self.ring.nodes().iter().map(|n| n.position).collect()
    }
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

/// Reads the servers file named in `args`.
fn load_view(args: &AntiEntropyArgs, me: SocketAddrV4) -> Result<Option<RingView>, String> {
    let Some(path) = &args.servers else {
        return Ok(None);
    };
    let config = ClusterConfig::load(path).map_err(|e| e.to_string())?;
    RingView::new(config, args.ring_address.unwrap_or(me), args.replicas).map(Some)
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
    ) -> Result<Option<Arc<AntiEntropy>>, String> {
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

    /// True for a tombstone every replica has purged or will purge: its
    /// version is older than the grace period.
    fn expired(&self, digest: &Digest, now_ms: u64) -> bool {
        let grace = u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX);
        digest.tombstone
            && crate::hlc::physical_ms(digest.version.timestamp).saturating_add(grace) < now_ms
    }

    /// What the tree should hold for `record`.
    fn digest_of(&self, record: Option<&Record>, now_ms: u64) -> Option<Digest> {
        let d = record.map(|r| Digest {
            version: r.version,
            tombstone: r.tombstone,
        })?;
        (!self.expired(&d, now_ms)).then_some(d)
    }

    /// Re-reads `keys` from the engine and updates the tree.
    fn refresh<'k>(&self, engine: &dyn Engine, keys: impl IntoIterator<Item = &'k [u8]>) {
        let now = Self::now_ms();
        let read: Vec<(&[u8], Option<Digest>)> = keys
            .into_iter()
            .filter_map(|k| match engine.get(k) {
                Ok(r) => Some((k, self.digest_of(r.as_ref(), now))),
                Err(e) => {
                    tracing::debug!(error = %e, "anti-entropy: read failed");
                    None
                }
            })
            .collect();
        let mut tree = lock(&self.tree);
        for (k, d) in read {
            tree.update(k, d);
        }
        AeStats::set(&self.stats.tree_keys, tree.len());
    }

    /// Builds the tree from every record of the engine (at start, and when
    /// the note queue overflowed).
    fn rebuild(&self, engine: &dyn Engine) {
        let started = Instant::now();
        // Notes sent from now on are applied after the rebuild.
        self.overflow.store(false, Ordering::Relaxed);
        let records = match engine.snapshot() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "anti-entropy: cannot read the store; tree not built");
                return;
            }
        };
        let now = Self::now_ms();
        let (ends, buckets) = {
            let t = lock(&self.tree);
            (self.view().ends(), t.bucket_count())
        };
        let mut tree = MerkleTree::new(ends, buckets);
        for (k, r) in &records {
            tree.update(k, self.digest_of(Some(r), now));
        }
        AeStats::set(&self.stats.tree_keys, tree.len());
        *lock(&self.tree) = tree;
        self.ready.store(true, Ordering::Release);
        tracing::info!(
            keys = records.len(),
            ms = started.elapsed().as_millis() as u64,
            "anti-entropy: tree built"
        );
    }

    /// Reloads the servers file (SIGHUP): a good file replaces the ring
    /// (and re-buckets the tree), a bad one keeps the old ring and logs.
    pub fn reload(&self) {
        match load_view(&self.args, self.addr) {
            Ok(Some(view)) => {
                let old = self.view();
                if *old == view {
                    tracing::info!("SIGHUP: servers file unchanged");
                    return;
                }
                let mut tree = lock(&self.tree);
                *tree = tree.rebucketed(view.ends(), tree.bucket_count());
                tracing::info!(
                    servers = view.config.servers.len(),
                    nodes = view.ring.nodes().len(),
                    n = view.n,
                    peers = view.peers.len(),
                    "SIGHUP: ring reloaded"
                );
                match self.view.write() {
                    Ok(mut v) => *v = Arc::new(view),
                    Err(p) => *p.into_inner() = Arc::new(view),
                }
            }
            Ok(None) => {}
            Err(e) => {
                // A readable file that no longer lists this server: it is
                // leaving (`crate::rebalance` hands its keys over); its
                // rounds stop, it still answers peers of the old ring.
                let me = self.args.ring_address.unwrap_or(self.addr);
                let leaving = self.args.servers.as_deref().is_some_and(|path| {
                    ClusterConfig::load(path)
                        .is_ok_and(|c| !c.servers.iter().any(|s| s.addr() == me))
                });
                if leaving {
                    let old = self.view();
                    let quiet = RingView {
                        peers: Vec::new(),
                        ..(*old).clone()
                    };
                    tracing::info!(
                        "SIGHUP: this server is no longer in the servers file; anti-entropy rounds stop"
                    );
                    match self.view.write() {
                        Ok(mut v) => *v = Arc::new(quiet),
                        Err(p) => *p.into_inner() = Arc::new(quiet),
                    }
                } else {
                    tracing::error!(error = %e, "SIGHUP: servers file not reloaded; keeping the old ring")
                }
            }
        }
    }

    /// The reply to an anti-entropy request from a peer (receive loops).
    /// `None`: no reply (a reply message).
    pub fn answer(
        &self,
        engine: &dyn Engine,
        id: u64,
        message: &AeMessage<'_>,
        sign: Option<(&AuthKey, u64)>,
    ) -> Option<Response> {
        let reply =
            |m: AeMessage<'_>| Some(crate::server::v2_reply(id, &Message::AntiEntropy(m), sign));
        let refuse = |code: u8| {
            Some(crate::server::v2_reply(
                id,
                &Message::Refused {
                    reason: Reason::from_code(code),
                },
                sign,
            ))
        };
        let ring = match message {
            AeMessage::Roots { ring, .. }
            | AeMessage::Buckets { ring, .. }
            | AeMessage::Keys { ring, .. } => Some(*ring),
            _ => None,
        };
        if ring.is_some_and(|r| r != self.view().fingerprint) {
            return refuse(REASON_RING_DIFFERS);
        }
        if ring.is_some() && !self.ready.load(Ordering::Acquire) {
            return refuse(Reason::Overloaded.code());
        }
        match message {
            AeMessage::Roots { roots, .. } => {
                let tree = lock(&self.tree);
                let indexes = roots
                    .iter()
                    .filter(|(s, h)| tree.root(*s) != *h)
                    .map(|(s, _)| *s)
                    .collect();
                reply(AeMessage::Differ { indexes })
            }
            AeMessage::Buckets {
                segment, hashes, ..
            } => {
                let mine = lock(&self.tree).bucket_hashes(*segment);
                let indexes = crate::merkle::differing(&mine, hashes)
                    .into_iter()
                    .filter_map(|i| u32::try_from(i).ok())
                    .collect();
                reply(AeMessage::Differ { indexes })
            }
            AeMessage::Keys {
                segment,
                bucket,
                cursor,
                ..
            } => {
                let slot = Slot {
                    segment: *segment,
                    bucket: *bucket,
                };
                let room = BODY_ROOM - 3;
                let max = room / (1 + 2 + 1 + Version::ENCODED_LEN);
                let (page, page_more) = lock(&self.tree).entries_after(slot, cursor, max);
                let mut used = 0;
                let mut keys = Vec::new();
                for (k, d) in &page {
                    let kv = KeyVersion {
                        key: k,
                        version: d.version,
                        tombstone: d.tombstone,
                    };
                    if used + kv.encoded_len() > room {
                        break;
                    }
                    used += kv.encoded_len();
                    keys.push(kv);
                }
                let more = !keys.is_empty() && (keys.len() < page.len() || page_more);
                reply(AeMessage::KeyList { more, keys })
            }
            AeMessage::Push { records } => {
                let now = Self::now_ms();
                let owned: Vec<(Bytes, Record)> = records
                    .iter()
                    .filter_map(|e| record_of_entry(e, now))
                    .collect();
                let n = u16::try_from(records.len()).unwrap_or(u16::MAX);
                let accepted = match self.pushes.try_send(owned) {
                    Ok(()) => n,
                    Err(_) => 0,
                };
                reply(AeMessage::Pushed { accepted })
            }
            AeMessage::Fetch { keys } => {
                let now = Self::now_ms();
                let records: Vec<(&[u8], Record)> = keys
                    .iter()
                    .filter_map(|k| match engine.get(k) {
                        Ok(Some(r)) => Some((*k, r)),
                        _ => None,
                    })
                    .filter(|(_, r)| {
                        let d = Digest {
                            version: r.version,
                            tombstone: r.tombstone,
                        };
                        !self.expired(&d, now)
                    })
                    .collect();
                let entries = pack(records.iter().map(|(k, r)| entry_of(k, r)), BODY_ROOM - 2);
                reply(AeMessage::Records { records: entries })
            }
            _ => None,
        }
    }

    /// The background task: builds the tree, then applies noted writes,
    /// merges pushed records, reloads on SIGHUP and runs a round every
    /// interval (none when the interval is 0). Never returns.
    pub async fn run(self: Arc<Self>, engine: Arc<dyn Engine>) {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGHUP; the servers file will not be reloaded");
                None
            }
        };
        let (Some(note_rx), Some(push_rx)) =
            (lock(&self.note_rx).take(), lock(&self.push_rx).take())
        else {
            tracing::error!("anti-entropy task started twice");
            return;
        };
        let note_rx = Arc::new(Mutex::new(note_rx));
        let push_rx = Arc::new(Mutex::new(push_rx));
        {
            let me = Arc::clone(&self);
            let e = Arc::clone(&engine);
            let _ = tokio::task::spawn_blocking(move || me.rebuild(&*e)).await;
        }
        let bound = crate::server::bind_udp_buffered(
            SocketAddr::V4(SocketAddrV4::new(*self.addr.ip(), 0)),
            crate::server::RECV_BUFFER_BYTES,
        )
        .and_then(UdpSocket::from_std);
        let socket = match bound {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "anti-entropy: cannot bind a socket; no rounds");
                None
            }
        };
        // Noted writes and pushed records are applied by their own task,
        // so a long round never holds them up (nor overflows the queue).
        let steps = {
            let me = Arc::clone(&self);
            let engine = Arc::clone(&engine);
            tokio::spawn(async move {
                let mut notes = tokio::time::interval(NOTE_DELAY);
                notes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut pending: Vec<Bytes> = Vec::new();
                loop {
                    notes.tick().await;
                    let me = Arc::clone(&me);
                    let e = Arc::clone(&engine);
                    let (n, p) = (Arc::clone(&note_rx), Arc::clone(&push_rx));
                    let ready = std::mem::take(&mut pending);
                    let next =
                        tokio::task::spawn_blocking(move || me.background_step(&*e, ready, &n, &p))
                            .await;
                    pending = next.unwrap_or_default();
                }
            })
        };
        let _steps = AbortOnDrop(steps);
        let mut limiter = RateLimiter::new(self.args.rate);
        let interval = self.args.interval;
        let mut rounds = tokio::time::interval(if interval.is_zero() {
            Duration::from_secs(86_400 * 365)
        } else {
            interval
        });
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        rounds.tick().await;
        loop {
            tokio::select! {
                _ = rounds.tick(), if !interval.is_zero() => {
                    if let Some(socket) = &socket {
                        self.round(&engine, socket, &mut limiter).await;
                    }
                }
                Some(()) = async { match &mut hangup { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    let me = Arc::clone(&self);
                    let _ = tokio::task::spawn_blocking(move || me.reload()).await;
                }
                // No rounds and no signal stream left: just keep the steps.
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// One step off the receive loops: re-reads the keys noted one step
    /// ago (`ready`), merges pushed records, and returns the keys noted
    /// since (read at the next step).
    fn background_step(
        &self,
        engine: &dyn Engine,
        ready: Vec<Bytes>,
        notes: &Mutex<Receiver<Bytes>>,
        pushes: &Mutex<Receiver<Batch>>,
    ) -> Vec<Bytes> {
        if self.overflow.load(Ordering::Relaxed) {
            // Drain what is queued: the rebuild reads everything anyway.
            let rx = lock(notes);
            while rx.try_recv().is_ok() {}
            drop(rx);
            self.rebuild(engine);
            return Vec::new();
        }
        let unique: HashSet<&[u8]> = ready.iter().map(|k| &k[..]).collect();
        self.refresh(engine, unique);
        loop {
            let batch = match lock(pushes).try_recv() {
                Ok(b) => b,
                Err(_) => break,
            };
            let merged = merge(engine, &batch);
            AeStats::add(&self.stats.merged_total, merged as u64);
            self.refresh(engine, batch.iter().map(|(k, _)| &k[..]));
        }
        let rx = lock(notes);
        let mut next = Vec::new();
        while let Ok(k) = rx.try_recv() {
            next.push(k);
        }
        next
    }

    /// One anti-entropy round with every peer.
    async fn round(&self, engine: &Arc<dyn Engine>, socket: &UdpSocket, limiter: &mut RateLimiter) {
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        let started = Instant::now();
        let view = self.view();
        let mut totals = RoundTotals::default();
        // Peers and segments in a random order each round: two servers
        // repairing the same replica at once then mostly work on different
        // segments, and each finds the other's work done (DECISIONS #305).
        let mut peers: Vec<&(SocketAddrV4, Vec<u32>)> = view.peers.iter().collect();
        shuffle(&mut peers);
        for (peer, segments) in peers {
            let mut link = Link {
                ae: self,
                socket,
                peer: *peer,
                limiter,
            };
            match self
                .sync_peer(engine, &view, &mut link, segments, &mut totals)
                .await
            {
                Ok(()) => {}
                Err(why) => {
                    totals.unreachable += 1;
                    tracing::debug!(%peer, why, "anti-entropy: round with peer cut short");
                }
            }
        }
        let s = &self.stats;
        AeStats::add(&s.rounds, 1);
        AeStats::set(&s.divergent_segments_last, totals.segments);
        AeStats::set(&s.divergent_buckets_last, totals.buckets);
        AeStats::set(&s.keys_repaired_last, totals.pushed + totals.fetched);
        AeStats::set(&s.unreachable_last, totals.unreachable);
        AeStats::set(&s.last_round_ms, started.elapsed().as_millis() as u64);
        let (sent, received) = (
            s.bytes_sent.load(Ordering::Relaxed),
            s.bytes_received.load(Ordering::Relaxed),
        );
        if totals.segments > 0 || totals.unreachable > 0 {
            tracing::info!(
                segments = totals.segments,
                buckets = totals.buckets,
                pushed = totals.pushed,
                fetched = totals.fetched,
                unreachable = totals.unreachable,
                ms = started.elapsed().as_millis() as u64,
                bytes_sent = sent,
                bytes_received = received,
                "anti-entropy round"
            );
        } else {
            tracing::debug!(
                peers = view.peers.len(),
                ms = started.elapsed().as_millis() as u64,
                bytes_sent = sent,
                bytes_received = received,
                "anti-entropy round: in sync"
            );
        }
    }

    /// Compares the shared segments with one peer and repairs both sides.
    async fn sync_peer(
        &self,
        engine: &Arc<dyn Engine>,
        view: &RingView,
        link: &mut Link<'_>,
        segments: &[u32],
        totals: &mut RoundTotals,
    ) -> Result<(), &'static str> {
        let ring = view.fingerprint;
        let mut differing = Vec::new();
        for chunk in segments.chunks(ROOTS_PER_REQUEST) {
            let roots = {
                let tree = lock(&self.tree);
                chunk.iter().map(|s| (*s, tree.root(*s))).collect()
            };
            let reply = link.ask(&AeMessage::Roots { ring, roots }).await?;
            match reply_of(&reply)? {
                AeMessage::Differ { indexes } => {
                    differing.extend(indexes.into_iter().filter(|i| chunk.contains(i)))
                }
                _ => return Err("unexpected reply to AE_ROOTS"),
            }
        }
        totals.segments += differing.len() as u64;
        shuffle(&mut differing);
        for segment in differing {
            let hashes = lock(&self.tree).bucket_hashes(segment);
            let reply = link
                .ask(&AeMessage::Buckets {
                    ring,
                    segment,
                    hashes,
                })
                .await?;
            let buckets = match reply_of(&reply)? {
                AeMessage::Differ { indexes } => indexes,
                _ => return Err("unexpected reply to AE_BUCKETS"),
            };
            totals.buckets += buckets.len() as u64;
            let mut push = Vec::new();
            let mut fetch = Vec::new();
            let slots: Vec<Slot> = buckets
                .iter()
                .filter_map(|b| u16::try_from(*b).ok())
                .map(|bucket| Slot { segment, bucket })
                .collect();
            // The first page of several buckets' keys in flight at once.
            for window in slots.chunks(KEYS_IN_FLIGHT) {
                let asks: Vec<AeMessage> = window
                    .iter()
                    .map(|slot| AeMessage::Keys {
                        ring,
                        segment: slot.segment,
                        bucket: slot.bucket,
                        cursor: &[],
                    })
                    .collect();
                let replies = link.ask_many(&asks).await?;
                for (slot, reply) in window.iter().zip(&replies) {
                    let theirs = self.peer_keys(link, ring, *slot, reply).await?;
                    let (p, f) = self.compare(engine, *slot, &theirs).await;
                    push.extend(p);
                    fetch.extend(f);
                }
            }
            totals.pushed += self.push(engine, link, push).await? as u64;
            totals.fetched += self.fetch(engine, link, fetch).await? as u64;
        }
        Ok(())
    }

    /// Every key and version of one of the peer's buckets, from the reply
    /// to its first AE_KEYS page (`first`) and the pages after it.
    async fn peer_keys(
        &self,
        link: &mut Link<'_>,
        ring: u64,
        slot: Slot,
        first: &[u8],
    ) -> Result<BTreeMap<Box<[u8]>, Digest>, &'static str> {
        let mut all = BTreeMap::new();
        let mut cursor: Vec<u8> = Vec::new();
        loop {
            let reply = if cursor.is_empty() {
                first.to_vec()
            } else {
                link.ask(&AeMessage::Keys {
                    ring,
                    segment: slot.segment,
                    bucket: slot.bucket,
                    cursor: &cursor,
                })
                .await?
            };
            let (more, keys) = match reply_of(&reply)? {
                AeMessage::KeyList { more, keys } => (more, keys),
                _ => return Err("unexpected reply to AE_KEYS"),
            };
            for k in &keys {
                all.insert(
                    Box::from(k.key),
                    Digest {
                        version: k.version,
                        tombstone: k.tombstone,
                    },
                );
            }
            match keys.last() {
                // A page must move forward, or the listing could never end.
                Some(last) if more && last.key <= &cursor[..] && !cursor.is_empty() => {
                    return Err("key list does not advance");
                }
                Some(last) if more => cursor = last.key.to_vec(),
                _ => return Ok(all),
            }
        }
    }

    /// The keys of one bucket to push (this server's record wins) and to
    /// fetch (the peer's wins), after re-reading this server's side from
    /// the engine.
    async fn compare(
        &self,
        engine: &Arc<dyn Engine>,
        slot: Slot,
        theirs: &BTreeMap<Box<[u8]>, Digest>,
    ) -> (Vec<Box<[u8]>>, Vec<Box<[u8]>>) {
        let mut keys: Vec<Box<[u8]>> = lock(&self.tree)
            .entries_after(slot, &[], usize::MAX)
            .0
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.extend(theirs.keys().cloned());
        keys.sort();
        keys.dedup();
        let now = Self::now_ms();
        let engine = Arc::clone(engine);
        let read = tokio::task::spawn_blocking(move || {
            keys.into_iter()
                .map(|k| {
                    let r = engine.get(&k).ok().flatten();
                    (k, r)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut push = Vec::new();
        let mut fetch = Vec::new();
        let mut tree = lock(&self.tree);
        let settled = now.saturating_sub(u64::try_from(SETTLE.as_millis()).unwrap_or(0));
        let fresh = |d: &Option<Digest>| {
            d.is_some_and(|d| crate::hlc::physical_ms(d.version.timestamp) > settled)
        };
        for (k, record) in read {
            let mine = self.digest_of(record.as_ref(), now);
            tree.update(&k, mine);
            let theirs = theirs.get(&k).copied().filter(|d| !self.expired(d, now));
            if fresh(&mine) || fresh(&theirs) {
                continue;
            }
            match (mine, theirs) {
                // Values without versions are not ordered against
                // versioned records (DECISIONS #78, #301): left alone.
                (Some(m), Some(t)) if m.is_v1() || t.is_v1() => {}
                (Some(m), Some(t)) if m.rank() > t.rank() => push.push(k),
                (Some(m), Some(t)) if t.rank() > m.rank() => fetch.push(k),
                (Some(_), None) => push.push(k),
                (None, Some(_)) => fetch.push(k),
                _ => {}
            }
        }
        (push, fetch)
    }

    /// Sends this server's records of `keys` to the peer; how many it
    /// accepted.
    async fn push(
        &self,
        engine: &Arc<dyn Engine>,
        link: &mut Link<'_>,
        keys: Vec<Box<[u8]>>,
    ) -> Result<usize, &'static str> {
        if keys.is_empty() {
            return Ok(0);
        }
        let engine = Arc::clone(engine);
        let records: Vec<(Box<[u8]>, Record)> = tokio::task::spawn_blocking(move || {
            keys.into_iter()
                .filter_map(|k| match engine.get(&k) {
                    Ok(Some(r)) => Some((k, r)),
                    _ => None,
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        let mut sent = 0;
        let mut rest = &records[..];
        while !rest.is_empty() {
            let entries = pack(rest.iter().map(|(k, r)| entry_of(k, r)), BODY_ROOM - 2);
            let n = entries.len().max(1);
            let entries: Vec<Entry> = entries
                .into_iter()
                .filter(|e| !matches!(e.value, EntryValue::Omitted))
                .collect();
            if !entries.is_empty() {
                let reply = link.ask(&AeMessage::Push { records: entries }).await?;
                match reply_of(&reply)? {
                    AeMessage::Pushed { accepted } => {
                        if accepted == 0 {
                            return Err("peer busy merging");
                        }
                        sent += usize::from(accepted);
                    }
                    _ => return Err("unexpected reply to AE_PUSH"),
                }
            }
            rest = rest.get(n..).unwrap_or_default();
        }
        AeStats::add(&self.stats.pushed_total, sent as u64);
        Ok(sent)
    }

    /// Fetches the peer's records of `keys` and merges them; how many.
    async fn fetch(
        &self,
        engine: &Arc<dyn Engine>,
        link: &mut Link<'_>,
        keys: Vec<Box<[u8]>>,
    ) -> Result<usize, &'static str> {
        let mut merged = 0;
        let mut rest = &keys[..];
        while !rest.is_empty() {
            // As many keys as fit; the reply carries as many records as
            // fit and the next request asks for the others.
            let mut used = 0;
            let take = rest
                .iter()
                .take(FETCH_KEYS)
                .take_while(|k| {
                    used += 2 + k.len();
                    used <= BODY_ROOM - 2
                })
                .count()
                .max(1);
            let (ask, _) = rest.split_at(take.min(rest.len()));
            let reply = link
                .ask(&AeMessage::Fetch {
                    keys: ask.iter().map(|k| &k[..]).collect(),
                })
                .await?;
            let now = Self::now_ms();
            let (records, answered): (Vec<(Bytes, Record)>, usize) = match reply_of(&reply)? {
                AeMessage::Records { records } => {
                    let last = records
                        .last()
                        .and_then(|e| ask.iter().position(|k| &k[..] == e.key));
                    (
                        records
                            .iter()
                            .filter_map(|e| record_of_entry(e, now))
                            .collect(),
                        last.map_or(ask.len(), |i| i + 1),
                    )
                }
                _ => return Err("unexpected reply to AE_FETCH"),
            };
            let engine2 = Arc::clone(engine);
            let n = tokio::task::spawn_blocking(move || {
                let n = merge(&*engine2, &records);
                (n, records)
            })
            .await;
            if let Ok((n, records)) = n {
                merged += n;
                self.refresh(&**engine, records.iter().map(|(k, _)| &k[..]));
            }
            rest = rest.get(answered.max(1)..).unwrap_or_default();
        }
        AeStats::add(&self.stats.fetched_total, merged as u64);
        Ok(merged)
    }
}

/// Aborts a task when dropped (the background step dies with the task
/// that started it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a round found and did.
#[derive(Debug, Default)]
struct RoundTotals {
    segments: u64,
    buckets: u64,
    pushed: u64,
    fetched: u64,
    unreachable: u64,
}

/// The conversation with one peer: requests with ids, resends, the rate
/// limit, signatures.
struct Link<'a> {
    ae: &'a AntiEntropy,
    socket: &'a UdpSocket,
    peer: SocketAddrV4,
    limiter: &'a mut RateLimiter,
}

impl Link<'_> {
    /// Sends `message` and returns the reply datagram (with the request's
    /// id, from the peer, signed when this server has keys).
    async fn ask(&mut self, message: &AeMessage<'_>) -> Result<Vec<u8>, &'static str> {
        let mut replies = self.ask_many(std::slice::from_ref(message)).await?;
        replies.pop().ok_or("no reply")
    }

    /// Sends every message at once (each with its own id) and returns
    /// their replies in order; the unanswered ones are resent, up to
    /// [`REQUEST_TRIES`] sends in all.
    async fn ask_many(&mut self, messages: &[AeMessage<'_>]) -> Result<Vec<Vec<u8>>, &'static str> {
        let now = AntiEntropy::now_ms();
        let sign = self.ae.keys.first().map(|k| (k, now));
        let mut requests = Vec::with_capacity(messages.len());
        for m in messages {
            let id: u64 = rand::random();
            let datagram = protocol_v2::encode(id, &Message::AntiEntropy(m.clone()), sign)
                .map_err(|_| "request does not encode")?;
            requests.push((id, m.opcode(), datagram));
        }
        let mut replies: Vec<Option<Vec<u8>>> = vec![None; requests.len()];
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        for _ in 0..REQUEST_TRIES {
            for ((_, _, request), reply) in requests.iter().zip(&replies) {
                if reply.is_some() {
                    continue;
                }
                self.limiter.take(request.len() as u64).await;
                if self.socket.send_to(request, self.peer).await.is_err() {
                    return Err("send failed");
                }
                AeStats::add(&self.ae.stats.bytes_sent, request.len() as u64);
            }
            let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
            while replies.iter().any(Option::is_none) {
                let got = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)).await;
                let (len, from) = match got {
                    Err(_) => break,
                    Ok(Err(_)) => continue,
                    Ok(Ok(x)) => x,
                };
                if from != SocketAddr::V4(self.peer) {
                    continue;
                }
                let datagram = buf.get(..len).unwrap_or_default();
                if !self.ae.keys.is_empty()
                    && protocol_v2::verify(
                        datagram,
                        &self.ae.keys,
                        AntiEntropy::now_ms(),
                        self.ae.window_ms,
                    )
                    .is_err()
                {
                    continue;
                }
                let Ok(frame) = protocol_v2::decode(datagram) else {
                    continue;
                };
                let slot = requests
                    .iter()
                    .zip(replies.iter_mut())
                    .find(|((id, op, _), reply)| {
                        reply.is_none() && *id == frame.id && frame.message.answers(*op)
                    })
                    .map(|(_, reply)| reply);
                if let Some(reply) = slot {
                    *reply = Some(datagram.to_vec());
                    AeStats::add(&self.ae.stats.bytes_received, len as u64);
                    self.limiter.take(len as u64).await;
                }
            }
            if replies.iter().all(Option::is_some) {
                return Ok(replies.into_iter().flatten().collect());
            }
        }
        Err("no reply")
    }
}

/// The anti-entropy message of a reply datagram; REFUSED is an error.
fn reply_of(datagram: &[u8]) -> Result<AeMessage<'_>, &'static str> {
    match protocol_v2::decode(datagram).map(|f| f.message) {
        Ok(Message::AntiEntropy(m)) => Ok(m),
        Ok(Message::Refused { reason }) if reason.code() == REASON_RING_DIFFERS => {
            Err("the peer's ring differs")
        }
        Ok(Message::Refused { .. }) => Err("refused"),
        _ => Err("not an anti-entropy reply"),
    }
}

/// A bucket of bytes per second (sent and received together): `take`
/// waits until the bytes are available.
#[derive(Debug)]
struct RateLimiter {
    rate: u64,
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    fn new(rate: u64) -> RateLimiter {
        RateLimiter {
            rate: rate.max(1),
            tokens: rate.max(1) as f64,
            at: Instant::now(),
        }
    }

    async fn take(&mut self, n: u64) {
        let rate = self.rate as f64;
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        self.tokens -= n as f64;
        if self.tokens < 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(-self.tokens / rate)).await;
        }
    }
}

/// A page entry for a record.
fn entry_of<'a>(key: &'a [u8], r: &'a Record) -> Entry<'a> {
    r.entry(key)
}

/// The record to merge for a received entry (`None` for an omitted
/// value); a tombstone's receipt time is now.
fn record_of_entry(e: &Entry<'_>, now_ms: u64) -> Option<(Bytes, Record)> {
    let record = match e.value {
        EntryValue::Live(v) => Record {
            version: e.version,
            tombstone: false,
            value: Bytes::copy_from_slice(v),
        },
        EntryValue::Tombstone => Record::tombstone(e.version, now_ms),
        EntryValue::Omitted => return None,
    };
    Some((Bytes::copy_from_slice(e.key), record))
}

/// The first entries that fit in `room` bytes (at least one: a record too
/// large for any datagram is marked [`EntryValue::Omitted`]).
fn pack<'a>(entries: impl Iterator<Item = Entry<'a>>, room: usize) -> Vec<Entry<'a>> {
    let mut used = 0;
    let mut out = Vec::new();
    for mut e in entries {
        if out.is_empty() && e.encoded_len() > room {
            e.value = EntryValue::Omitted;
        }
        if used + e.encoded_len() > room || out.len() >= usize::from(u16::MAX) {
            break;
        }
        used += e.encoded_len();
        out.push(e);
    }
    out
}

/// Applies records received from another replica through the engine's
/// version rule ([`Engine::merge_batch`]: a v1 record only where the key is
/// absent) and refuses versions stamped further ahead than the clocks'
/// drift bound, as a server refuses such a write from a client; how many
/// were stored.
pub fn merge(engine: &dyn Engine, records: &[(Bytes, Record)]) -> usize {
    let now = AntiEntropy::now_ms();
    let sane: Vec<(Bytes, Record)> = records
        .iter()
        .filter(|(_, r)| {
            crate::hlc::physical_ms(r.version.timestamp)
                <= now.saturating_add(crate::hlc::DEFAULT_MAX_DRIFT_MS)
        })
        .cloned()
        .collect();
    engine
        .merge_batch(&sane)
        .iter()
        .filter(|r| r.is_ok())
        .count()
}

/// Fisher-Yates with the thread's random generator.
fn shuffle<T>(items: &mut [T]) {
    use rand::RngExt;
    let mut rng = rand::rng();
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;
    use crate::engine::MemoryEngine;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_seconds("0").unwrap(), Duration::ZERO);
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("x").is_err());
    }

    #[test]
    fn view_finds_itself_and_its_peers() {
        let c = parse_servers_txt(
            "127.0.0.1 7001 2\n127.0.0.1 7002 2\n127.0.0.1 7003 2\n127.0.0.1 7004 2\n",
            "t",
        )
        .unwrap();
        let me: SocketAddrV4 = "127.0.0.1:7002".parse().unwrap();
        let v = RingView::new(c.clone(), me, Some(2)).unwrap();
        assert_eq!((v.me, v.n), (1, 2));
        assert!(v.peers.iter().all(|(a, _)| *a != me));
        let shared: usize = v.peers.iter().map(|(_, s)| s.len()).sum();
        // N = 2: each segment this server replicates has one other replica.
        let mine = (0..v.ring.nodes().len())
            .filter(|&s| {
                v.ring
                    .placement_at(v.ring.nodes()[s].position, 2)
                    .replicas
                    .iter()
                    .any(|r| r.server == 1)
            })
            .count();
        assert_eq!(shared, mine);
        let other = RingView::new(c.clone(), me, Some(3)).unwrap();
        assert_ne!(other.fingerprint, v.fingerprint);
        assert_eq!(RingView::new(c.clone(), me, Some(9)).unwrap().n, 4);
        let stranger: SocketAddrV4 = "127.0.0.1:7009".parse().unwrap();
        assert!(
            RingView::new(c, stranger, None)
                .unwrap_err()
                .contains("not in it")
        );
    }

    #[test]
    fn merge_keeps_kinds_apart_and_the_newest_on_both_engines() {
        merge_rules(&MemoryEngine::default());
        let dir = tempfile::tempdir().unwrap();
        let durable =
            crate::engine::DurableEngine::open(&crate::engine::DurableOptions::new(dir.path()))
                .unwrap();
        merge_rules(&durable);
    }

    fn merge_rules(e: &dyn Engine) {
        let v = |t| Version {
            timestamp: crate::hlc::pack(t, 0),
            writer: 1,
        };
        e.put_batch(&[(
            Bytes::from_static(b"a"),
            Record::v1(Bytes::from_static(b"x")),
        )]);
        let records = vec![
            (
                Bytes::from_static(b"a"),
                Record::v1(Bytes::from_static(b"y")),
            ),
            (
                Bytes::from_static(b"b"),
                Record::v1(Bytes::from_static(b"y")),
            ),
            (
                Bytes::from_static(b"c"),
                Record {
                    version: v(1_000),
                    tombstone: false,
                    value: Bytes::from_static(b"new"),
                },
            ),
            (
                Bytes::from_static(b"f"),
                Record {
                    version: v(u64::MAX >> 17),
                    tombstone: false,
                    value: Bytes::from_static(b"future"),
                },
            ),
        ];
        merge(e, &records);
        assert_eq!(e.get(b"a").unwrap().unwrap().value, &b"x"[..]);
        // A versioned record does not replace a value without a version.
        let versioned = vec![(
            Bytes::from_static(b"a"),
            Record {
                version: v(2_000),
                tombstone: false,
                value: Bytes::from_static(b"z"),
            },
        )];
        assert_eq!(merge(e, &versioned), 0);
        assert_eq!(e.get(b"a").unwrap().unwrap().value, &b"x"[..]);
        assert_eq!(e.get(b"b").unwrap().unwrap().value, &b"y"[..]);
        assert_eq!(e.get(b"c").unwrap().unwrap().version, v(1_000));
        assert!(e.get(b"f").unwrap().is_none());
        let older = vec![(
            Bytes::from_static(b"c"),
            Record {
                version: v(999),
                tombstone: true,
                value: Bytes::new(),
            },
        )];
        assert_eq!(merge(e, &older), 0);
        assert!(!e.get(b"c").unwrap().unwrap().tombstone);
    }

    #[test]
    fn pack_marks_a_lone_oversized_record_omitted() {
        let big = vec![0u8; 100];
        let r = Record::v1(Bytes::from(big));
        let e = pack(std::iter::once(entry_of(b"k", &r)), 50);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].value, EntryValue::Omitted);
        let two = pack([entry_of(b"k", &r), entry_of(b"j", &r)].into_iter(), 300);
        assert_eq!(two.len(), 2);
    }
}
