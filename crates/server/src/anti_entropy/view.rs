//! The ring as this server sees it ([`RingView`]: its segments and the
//! peers it shares them with), read from the servers file and reloaded on
//! SIGHUP.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::Arc;

use crate::config::ClusterConfig;
use crate::ring::{Position, Ring};
use crate::view::{RingError, ServerRing};

use super::{AntiEntropy, AntiEntropyArgs, lock};

/// The ring as one server sees it, for anti-entropy: the shared view,
/// this server's index (it must be listed), and the peers it shares
/// segments with. It reads as a [`ServerRing`] (`view.ring`, `view.n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingView {
    /// The servers file, its ring and N.
    pub base: ServerRing,
    /// This server's index in `config.servers`.
    pub me: usize,
    /// Identifies ring and N: two servers compare trees only when theirs
    /// are equal ([`ring_fingerprint`]).
    pub fingerprint: u64,
    /// Each peer this server shares segments with, and those segments.
    pub peers: Vec<(SocketAddrV4, Vec<u32>)>,
}

impl std::ops::Deref for RingView {
    type Target = ServerRing;
    fn deref(&self) -> &ServerRing {
        &self.base
    }
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
    ) -> Result<RingView, RingError> {
        RingView::of(ServerRing::of(config, me, replicas), me)
    }

    /// The view of `base` for the server at `me`, which it must list.
    pub fn of(base: ServerRing, me: SocketAddrV4) -> Result<RingView, RingError> {
        let index = base.listed(me)?;
        let (ring, n) = (&base.ring, base.n);
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
            .filter_map(|(s, segs)| base.config.servers.get(s).map(|s| (s.addr(), segs)))
            .collect();
        Ok(RingView {
            fingerprint: ring_fingerprint(&base.config, ring, n),
            me: index,
            peers,
            base,
        })
    }

    /// The segment ends (node positions in ring order) for the tree.
    pub fn ends(&self) -> Vec<Position> {
        self.ring.nodes().iter().map(|n| n.position).collect()
    }
}

/// Reads the servers file named in `args`.
pub(super) fn load_view(
    args: &AntiEntropyArgs,
    me: SocketAddrV4,
) -> Result<Option<RingView>, RingError> {
    let Some(path) = &args.servers else {
        return Ok(None);
    };
    let me = args.ring_address.unwrap_or(me);
    RingView::of(ServerRing::load(path, me, args.replicas)?, me).map(Some)
}

impl AntiEntropy {
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
}
