//! The consistent-hashing ring (docs/ARCHITECTURE.md, "The ring").
//!
//! Every virtual node sits at the SHA-1 of `"<IP> <PORT> <i>"`; a key sits at
//! the SHA-1 of its bytes. A key's replicas are found by walking clockwise from
//! the key's position and collecting distinct servers. The walk is recorded
//! step by step ([`Placement`]) so that the REPL's `where` and the TUI can show
//! *why* each node was used or skipped — the heart of teaching consistent
//! hashing.

use std::fmt;

use sha1::{Digest, Sha1};

use crate::config::{ClusterConfig, ServerSpec};

/// A 160-bit ring position, compared as a big-endian unsigned integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(pub [u8; 20]);

impl Position {
    /// The SHA-1 of `bytes`.
    pub fn of(bytes: &[u8]) -> Position {
        Position(Sha1::digest(bytes).into())
    }

    /// The position of node `number` (1-based) of a server.
    pub fn of_node(server: &ServerSpec, number: u32) -> Position {
        Position::of(node_label(server, number).as_bytes())
    }

    /// The position as a fraction of the full circle, in `[0, 1)` (for drawing).
    pub fn fraction(&self) -> f64 {
        let mut top = [0u8; 8];
        top.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(top) as f64 / 18_446_744_073_709_551_616.0
    }
}

impl fmt::Display for Position {
    /// 40 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The string hashed for node `number` of `server`: `"<IP> <PORT> <i>"`.
pub fn node_label(server: &ServerSpec, number: u32) -> String {
    format!("{} {} {}", server.ip, server.port, number)
}

/// One virtual node on the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Where it sits.
    pub position: Position,
    /// Index of its server in the configuration (0-based).
    pub server: usize,
    /// Its number among its server's nodes (1-based).
    pub number: u32,
}

/// One replica chosen for a key: a server and the node that selected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    /// Index of the server in the configuration (0-based).
    pub server: usize,
    /// Index of the selecting node in ring order (0-based).
    pub ring_index: usize,
    /// The selecting node's number among its server's nodes (1-based).
    pub node_number: u32,
}

/// One step of the walk for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The node's server was collected as a replica.
    Used(Replica),
    /// The node was skipped because its server was already collected by the
    /// node at `by_ring_index`.
    Skipped {
        /// Ring index of the skipped node.
        ring_index: usize,
        /// Ring index of the node that already collected the same server.
        by_ring_index: usize,
    },
}

/// Where a key lives, and how the walk found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The key's position.
    pub key_position: Position,
    /// Ring index of the first node at or after the key.
    pub start: usize,
    /// The walk, in order, up to the last replica collected.
    pub steps: Vec<Step>,
    /// The replicas, in preference order.
    pub replicas: Vec<Replica>,
}

/// All nodes of a cluster, sorted by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    nodes: Vec<Node>,
    server_count: usize,
}

impl Ring {
    /// Builds the ring of a configuration.
    pub fn new(config: &ClusterConfig) -> Ring {
        Ring::from_servers(&config.servers)
    }

    /// Builds the ring of a list of servers (their order numbers them).
    pub fn from_servers(servers: &[ServerSpec]) -> Ring {
        let mut nodes: Vec<Node> =
            Vec::with_capacity(servers.iter().map(|s| s.nodes as usize).sum());
        let mut label = String::new();
        for (index, server) in servers.iter().enumerate() {
            for number in 1..=server.nodes {
                use std::fmt::Write;
                label.clear();
                let _ = write!(label, "{} {} {}", server.ip, server.port, number);
                nodes.push(Node {
                    position: Position::of(label.as_bytes()),
                    server: index,
                    number,
                });
            }
        }
        // Ties (equal SHA-1s) are practically impossible; break them by
        // configuration order so the ring is still deterministic.
        nodes.sort_by(|a, b| {
            (a.position, a.server, a.number).cmp(&(b.position, b.server, b.number))
        });
        Ring {
            nodes,
            server_count: servers.len(),
        }
    }

    /// The nodes in ring order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of distinct servers S.
    pub fn server_count(&self) -> usize {
        self.server_count
    }

    /// Ring index of the first node whose position is >= `pos`, wrapping to 0.
    /// O(log M).
    pub fn successor(&self, pos: &Position) -> usize {
        let i = self.nodes.partition_point(|n| n.position < *pos);
        if i == self.nodes.len() { 0 } else { i }
    }

    /// The first `n` distinct servers for `key` (fewer if the ring has fewer).
    pub fn replicas(&self, key: &[u8], n: usize) -> Vec<Replica> {
        self.placement(key, n).replicas
    }

    /// The full walk for `key`, collecting up to `n` distinct servers.
    pub fn placement(&self, key: &[u8], n: usize) -> Placement {
        self.placement_at(Position::of(key), n)
    }

    /// The full walk from a position, collecting up to `n` distinct servers.
    pub fn placement_at(&self, key_position: Position, n: usize) -> Placement {
        let mut placement = Placement {
            key_position,
            start: 0,
            steps: Vec::new(),
            replicas: Vec::with_capacity(n),
        };
        if self.nodes.is_empty() || n == 0 {
            return placement;
        }
        let start = self.successor(&key_position);
        placement.start = start;
        // Once round the ring, clockwise from `start`.
        let walk = self.nodes.iter().enumerate().cycle().skip(start);
        for (ring_index, &node) in walk.take(self.nodes.len()) {
            if placement.replicas.len() >= n {
                break;
            }
            match placement.replicas.iter().find(|r| r.server == node.server) {
                Some(by) => placement.steps.push(Step::Skipped {
                    ring_index,
                    by_ring_index: by.ring_index,
                }),
                None => {
                    let replica = Replica {
                        server: node.server,
                        ring_index,
                        node_number: node.number,
                    };
                    placement.replicas.push(replica);
                    placement.steps.push(Step::Used(replica));
                }
            }
        }
        placement
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;

    fn ring(txt: &str) -> (ClusterConfig, Ring) {
        let c = parse_servers_txt(txt, "t").unwrap();
        let r = Ring::new(&c);
        (c, r)
    }

    fn ports(c: &ClusterConfig, reps: &[Replica]) -> Vec<u16> {
        reps.iter().map(|r| c.servers[r.server].port).collect()
    }

    #[test]
    fn sha1_vectors() {
        let v = [
            (
                "127.0.0.1 1234 1",
                "aa66f3e5a8d9cdc5c0bd49708bc59847e6915634",
            ),
            (
                "192.168.1.10 1235 1",
                "ce5da604e4ef60dbe45042bfcb1c445c7db4ec81",
            ),
            (
                "192.168.1.10 1235 2",
                "f53e1ad3c8539aff77cecbdce77829ff1e40170d",
            ),
            ("8.8.8.8 1236 1", "5b0d0f036d577a486c101c150238165f585fcafd"),
            ("8.8.8.8 1236 2", "b273a74003065f0112a1c30a87416ba3e1a5027b"),
            ("8.8.8.8 1236 3", "11c3f81514637c68aef649a1b93577ba8662c699"),
            ("coucou", "5ed25af7b1ed23fb00122e13d7f74c4d8262acd8"),
        ];
        for (s, h) in v {
            assert_eq!(Position::of(s.as_bytes()).to_string(), h, "{s}");
        }
    }

    #[test]
    fn node_label_format() {
        let c = parse_servers_txt("192.168.1.10 1235 2\n", "t").unwrap();
        assert_eq!(node_label(&c.servers[0], 2), "192.168.1.10 1235 2");
        assert_eq!(
            Position::of_node(&c.servers[0], 2).to_string(),
            "f53e1ad3c8539aff77cecbdce77829ff1e40170d"
        );
    }

    #[test]
    fn coucou_on_three_by_three() {
        let (c, r) = ring("127.0.0.1 1234 3\n127.0.0.1 1235 3\n127.0.0.1 1236 3\n");
        let reps = r.replicas(b"coucou", 3);
        assert_eq!(ports(&c, &reps), vec![1236, 1235, 1234]);
        assert_eq!(
            reps.iter().map(|r| r.node_number).collect::<Vec<_>>(),
            vec![3, 3, 2]
        );
        let hex: Vec<String> = reps
            .iter()
            .map(|x| r.nodes()[x.ring_index].position.to_string()[..6].to_string())
            .collect();
        assert_eq!(hex, vec!["5f2626", "914f6a", "a902e3"]);
    }

    #[test]
    fn one_node_each() {
        let (c, r) = ring("127.0.0.1 1234 1\n127.0.0.1 1235 1\n127.0.0.1 1236 1\n");
        let order: Vec<(u16, String)> = r
            .nodes()
            .iter()
            .map(|n| {
                (
                    c.servers[n.server].port,
                    n.position.to_string()[..6].to_string(),
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                (1236, "93149f".into()),
                (1234, "aa66f3".into()),
                (1235, "c484ea".into())
            ]
        );
        for (key, want) in [
            ("key42", [1235, 1236, 1234]),
            ("somekey", [1236, 1234, 1235]),
            ("somekey4", [1235, 1236, 1234]),
            ("somekey12", [1234, 1235, 1236]),
        ] {
            assert_eq!(ports(&c, &r.replicas(key.as_bytes(), 3)), want, "{key}");
        }
    }

    #[test]
    fn mixed_nodes() {
        let (c, r) = ring("127.0.0.1 1234 1\n127.0.0.1 1235 2\n127.0.0.1 1236 3\n");
        assert_eq!(ports(&c, &r.replicas(b"a", 3)), vec![1236, 1234, 1235]);
        assert_eq!(ports(&c, &r.replicas(b"cc", 3)), vec![1235, 1236, 1234]);
        let hex: Vec<String> = r.nodes().iter().map(|n| n.position.to_string()).collect();
        assert_eq!(hex[0], "1bcd2db55b43d8c6b50583892f141a6bb3224c04");
        assert_eq!(hex[5], "ee482fd6bcd8a1eb2a929a0d284b563404b64d19");
    }

    #[test]
    fn wrap_around_and_skips() {
        let (_, r) = ring("127.0.0.1 1234 1\n127.0.0.1 1235 2\n127.0.0.1 1236 3\n");
        // A position above every node wraps to ring index 0.
        let top = Position([0xff; 20]);
        assert_eq!(r.successor(&top), 0);
        let p = r.placement_at(top, 3);
        assert_eq!(p.start, 0);
        assert_eq!(p.replicas.len(), 3);
        // Position exactly equal to a node selects that node.
        let exact = r.nodes()[3].position;
        assert_eq!(r.successor(&exact), 3);
        // The walk records skipped nodes of already-collected servers.
        let p = r.placement(b"a", 3);
        assert!(p.steps.iter().any(|s| matches!(s, Step::Skipped { .. })) || p.steps.len() == 3);
        let used = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Used(_)))
            .count();
        assert_eq!(used, 3);
    }

    #[test]
    fn n_larger_than_s() {
        let (_, r) = ring("127.0.0.1 1234 2\n127.0.0.1 1235 2\n");
        let p = r.placement(b"x", 5);
        assert_eq!(p.replicas.len(), 2);
        assert_eq!(p.steps.len(), 4, "the ring is walked exactly once");
        assert!(r.replicas(b"x", 0).is_empty());
    }
}
