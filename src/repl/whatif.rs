//! `whatif add|remove`: the ring a membership change would produce, the
//! share of the key space whose owner set would change, and how many of the
//! keys stored now would move — consistent hashing's "only about N/S of the
//! keys move" made visible, without changing anything. `whatif nodes`
//! (new virtual-node counts) uses the same hypothetical ring.

use std::collections::BTreeSet;
use std::net::SocketAddrV4;

use crate::config::ServerSpec;
use crate::ring::{Position, Ring};

use super::WhatIf;

/// The hypothetical server list for a question, and a one-line title.
/// `None` for `whatif off`.
pub fn hypothetical_servers(
    current: &[ServerSpec],
    question: &WhatIf,
) -> Option<(Vec<ServerSpec>, String)> {
    match question {
        WhatIf::Add { addr, nodes } => {
            let mut servers = current.to_vec();
            servers.push(ServerSpec::new(*addr.ip(), addr.port(), *nodes));
            Some((servers, format!("whatif add {addr} nodes={nodes}")))
        }
        WhatIf::Remove(index) => {
            let removed = current.get(*index)?;
            let title = format!("whatif remove {}", removed.addr());
            let servers = current
                .iter()
                .enumerate()
                .filter(|(i, _)| i != index)
                .map(|(_, s)| s.clone())
                .collect();
            Some((servers, title))
        }
        WhatIf::Nodes(changes) => {
            let mut servers = current.to_vec();
            let mut words = Vec::new();
            for &(index, nodes) in changes {
                let server = servers.get_mut(index)?;
                server.nodes = nodes;
                words.push(format!("{}={nodes}", index + 1));
            }
            Some((servers, format!("whatif nodes {}", words.join(" "))))
        }
        WhatIf::Off => None,
    }
}

/// The owner set (addresses, sorted) of a position with `n` replicas.
pub fn owners(ring: &Ring, servers: &[ServerSpec], at: Position, n: usize) -> Vec<SocketAddrV4> {
    let mut set: Vec<SocketAddrV4> = ring
        .placement_at(at, n)
        .replicas
        .iter()
        .filter_map(|r| Some(servers.get(r.server)?.addr()))
        .collect();
    set.sort();
    set
}

/// The fraction of the key space (0..=1) whose owner set differs between
/// two rings with N = `n` (each ring lowered to its own size). Exact up to
/// f64 rounding: the key space is cut at every node of both rings, and on
/// each arc both preference lists are constant.
pub fn moved_fraction(old: (&Ring, &[ServerSpec]), new: (&Ring, &[ServerSpec]), n: usize) -> f64 {
    let (old_ring, old_servers) = old;
    let (new_ring, new_servers) = new;
    let mut cuts: Vec<Position> = old_ring
        .nodes()
        .iter()
        .chain(new_ring.nodes())
        .map(|node| node.position)
        .collect();
    cuts.sort();
    cuts.dedup();
    let (Some(&first), Some(&last)) = (cuts.first(), cuts.last()) else {
        return 0.0;
    };
    let n_old = n.min(old_servers.len());
    let n_new = n.min(new_servers.len());
    let mut moved = 0.0;
    let mut previous = last;
    for (i, &cut) in cuts.iter().enumerate() {
        let length = if i == 0 {
            1.0 - previous.fraction() + first.fraction()
        } else {
            cut.fraction() - previous.fraction()
        };
        if owners(old_ring, old_servers, cut, n_old) != owners(new_ring, new_servers, cut, n_new) {
            moved += length;
        }
        previous = cut;
    }
    // A single cut means the arc is the whole ring.
    if cuts.len() == 1 && moved > 0.0 {
        return 1.0;
    }
    moved.clamp(0.0, 1.0)
}

/// How many of `keys` would change owner set: (moving, total).
pub fn moved_keys(
    old: (&Ring, &[ServerSpec]),
    new: (&Ring, &[ServerSpec]),
    n: usize,
    keys: &BTreeSet<Vec<u8>>,
) -> (usize, usize) {
    let n_old = n.min(old.1.len());
    let n_new = n.min(new.1.len());
    let moving = keys
        .iter()
        .filter(|k| {
            let at = Position::of(k);
            owners(old.0, old.1, at, n_old) != owners(new.0, new.1, at, n_new)
        })
        .count();
    (moving, keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(ports: &[(u16, u32)]) -> Vec<ServerSpec> {
        ports
            .iter()
            .map(|&(p, k)| ServerSpec::new("127.0.0.1".parse().unwrap(), p, k))
            .collect()
    }

    #[test]
    fn same_ring_moves_nothing_and_fractions_are_sane() {
        let old = servers(&[(1234, 3), (1235, 2), (1236, 2), (1237, 1), (1238, 1)]);
        let ring = Ring::from_servers(&old);
        assert_eq!(moved_fraction((&ring, &old), (&ring, &old), 3), 0.0);
        let (new, _) = hypothetical_servers(
            &old,
            &WhatIf::Add {
                addr: "127.0.0.1:1239".parse().unwrap(),
                nodes: 2,
            },
        )
        .unwrap();
        let new_ring = Ring::from_servers(&new);
        let f = moved_fraction((&ring, &old), (&new_ring, &new), 3);
        assert!(f > 0.0 && f < 1.0, "{f}");
        let (removed, title) = hypothetical_servers(&old, &WhatIf::Remove(0)).unwrap();
        assert_eq!(removed.len(), 4);
        assert!(title.contains("127.0.0.1:1234"));
        // With N = S every key is on every server: removing one changes every owner set.
        let r = Ring::from_servers(&removed);
        assert!((moved_fraction((&ring, &old), (&r, &removed), 5) - 1.0).abs() < 1e-9);
        let keys: BTreeSet<Vec<u8>> = [b"a".to_vec(), b"b".to_vec()].into();
        assert_eq!(moved_keys((&ring, &old), (&r, &removed), 5, &keys), (2, 2));
        assert_eq!(moved_keys((&ring, &old), (&ring, &old), 3, &keys), (0, 2));
        assert!(hypothetical_servers(&old, &WhatIf::Off).is_none());
    }

    #[test]
    fn moved_fraction_matches_sampling() {
        let old = servers(&[(1234, 3), (1235, 2), (1236, 2)]);
        let new = servers(&[(1234, 3), (1235, 2), (1236, 2), (1240, 4)]);
        let (a, b) = (Ring::from_servers(&old), Ring::from_servers(&new));
        let exact = moved_fraction((&a, &old), (&b, &new), 2);
        let keys: BTreeSet<Vec<u8>> = (0..4000).map(|i| format!("k{i}").into_bytes()).collect();
        let (moving, total) = moved_keys((&a, &old), (&b, &new), 2, &keys);
        let sampled = moving as f64 / total as f64;
        assert!(
            (exact - sampled).abs() < 0.05,
            "exact {exact} sampled {sampled}"
        );
    }
}
