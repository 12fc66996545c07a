//! The ring as this server sees it ([`RingView`]: its segments and the
//! peers it shares them with), read from the servers file and reloaded on
//! SIGHUP.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::Arc;

use crate::config::ClusterConfig;
use crate::ring::{Position, Ring};

use super::{AntiEntropy, AntiEntropyArgs, lock};

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

/// Reads the servers file named in `args`.
pub(super) fn load_view(
    args: &AntiEntropyArgs,
    me: SocketAddrV4,
) -> Result<Option<RingView>, String> {
    let Some(path) = &args.servers else {
        return Ok(None);
    };
    let config = ClusterConfig::load(path).map_err(|e| e.to_string())?;
    RingView::new(config, args.ring_address.unwrap_or(me), args.replicas).map(Some)
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
