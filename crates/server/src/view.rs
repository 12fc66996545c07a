//! The ring as one server sees it, read from the servers file. Anti-entropy
//! asks it which segments this server shares with whom; the hand-off after
//! a membership change asks it which keys this server no longer owns.

use std::net::SocketAddrV4;
use std::path::Path;

use crate::config::{ClusterConfig, ConfigError, DEFAULT_N};
use crate::ring::Ring;

/// Why a server cannot see its ring.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// The servers file does not load.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The file does not list this server (anti-entropy needs it to).
    #[error("{file}: this server ({me}) is not in it")]
    NotListed {
        /// The file, as its errors name it.
        file: String,
        /// This server's ring address.
        me: SocketAddrV4,
    },
}

/// The servers file, its ring and N, and where this server is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRing {
    /// The servers file.
    pub config: ClusterConfig,
    /// Its ring.
    pub ring: Ring,
    /// Replicas per key.
    pub n: usize,
    /// This server's index in `config.servers`; `None` when the file does
    /// not list it (it is leaving).
    pub me: Option<usize>,
}

impl ServerRing {
    /// Reads `path` for the server whose ring address is `me`.
    pub fn load(path: &Path, me: SocketAddrV4, replicas: Option<u32>) -> Result<Self, RingError> {
        Ok(ServerRing::of(ClusterConfig::load(path)?, me, replicas))
    }

    /// The ring of `config` as `me` sees it, N from `replicas`, else
    /// `[defaults] n`, else 3, lowered to the number of servers as the
    /// client does.
    pub fn of(config: ClusterConfig, me: SocketAddrV4, replicas: Option<u32>) -> ServerRing {
        let ring = Ring::new(&config);
        let n = replicas.or(config.defaults.n).unwrap_or(DEFAULT_N) as usize;
        let n = n.clamp(1, config.servers.len().max(1));
        let me = config.servers.iter().position(|s| s.addr() == me);
        ServerRing {
            config,
            ring,
            n,
            me,
        }
    }

    /// This server's index, or why there is none.
    pub fn listed(&self, me: SocketAddrV4) -> Result<usize, RingError> {
        self.me.ok_or_else(|| RingError::NotListed {
            file: self.config.source_name(),
            me,
        })
    }

    /// Whether this server is one of `key`'s N owners.
    pub fn owns(&self, key: &[u8]) -> bool {
        self.me.is_some_and(|me| {
            self.ring
                .replicas(key, self.n)
                .iter()
                .any(|r| r.server == me)
        })
    }

    /// Whether `other` is the same ring (servers, nodes and N).
    pub fn same_ring(&self, other: &ServerRing) -> bool {
        self.n == other.n && self.me == other.me && self.config.servers == other.config.servers
    }

    /// The addresses of `key`'s owners, or `None` when this server is one
    /// of them (nothing to hand off).
    pub fn foreign_owners(&self, key: &[u8]) -> Option<Vec<SocketAddrV4>> {
        let owners = self.ring.replicas(key, self.n);
        if self
            .me
            .is_some_and(|me| owners.iter().any(|r| r.server == me))
        {
            return None;
        }
        Some(
            owners
                .iter()
                .filter_map(|r| self.config.servers.get(r.server).map(|s| s.addr()))
                .collect(),
        )
    }
}
