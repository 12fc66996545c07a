//! Properties of the consistent-hashing ring (docs/ARCHITECTURE.md, "The ring"): a preference list is
//! min(N, S) distinct servers starting at the key's successor node, and adding
//! a server changes a key's list only by letting the new server in. (That
//! `servers.txt` and `cluster.toml` listing the same servers give the same
//! ring is `both_formats_agree` in tests/config_proptest.rs.)

use std::net::Ipv4Addr;

use dkvs::config::ServerSpec;
use dkvs::ring::{Position, Ring, Step};
use proptest::prelude::*;

/// Distinct servers with 1..6 virtual nodes each.
fn servers(max: usize) -> impl Strategy<Value = Vec<ServerSpec>> {
    proptest::collection::vec((any::<u32>(), 1u16..=65535, 1u32..6), 1..max).prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|(ip, port, _)| seen.insert((*ip, *port)))
            .map(|(ip, port, nodes)| ServerSpec::new(Ipv4Addr::from(ip), port, nodes))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The list is min(N, S) distinct servers; the first is the server of the
    /// key's successor node; every replica's node belongs to its server; the
    /// walk goes round the ring at most once.
    #[test]
    fn preference_list_is_n_distinct_servers(
        servers in servers(9),
        keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..20),
        n in 0usize..12,
    ) {
        let ring = Ring::from_servers(&servers);
        prop_assert_eq!(ring.nodes().len(), servers.iter().map(|s| s.nodes as usize).sum::<usize>());
        prop_assert!(ring.nodes().windows(2).all(|w| w[0].position <= w[1].position));
        for key in &keys {
            let p = ring.placement(key, n);
            prop_assert_eq!(p.replicas.len(), n.min(servers.len()));
            for (i, r) in p.replicas.iter().enumerate() {
                prop_assert!(p.replicas[..i].iter().all(|o| o.server != r.server));
                let node = ring.nodes()[r.ring_index];
                prop_assert_eq!(node.server, r.server);
                prop_assert_eq!(node.number, r.node_number);
            }
            prop_assert!(p.steps.len() <= ring.nodes().len());
            if let Some(first) = p.replicas.first() {
                prop_assert_eq!(first.ring_index, ring.successor(&Position::of(key)));
                prop_assert_eq!(p.steps.first(), Some(&Step::Used(*first)));
            }
        }
    }

    /// Adding a server X: a key's new list is its old list when X is not in
    /// it, and otherwise X plus the old list's first N-1 servers, in the
    /// same order. Nothing else moves.
    #[test]
    fn adding_a_server_moves_only_what_it_takes(
        servers in servers(8),
        extra in (any::<u32>(), 1u16..=65535, 1u32..6),
        keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..30),
        n in 1usize..5,
    ) {
        let added = ServerSpec::new(Ipv4Addr::from(extra.0), extra.1, extra.2);
        prop_assume!(!servers.iter().any(|s| s.addr() == added.addr()));
        let old_ring = Ring::from_servers(&servers);
        let mut grown = servers.clone();
        grown.push(added);
        let new_ring = Ring::from_servers(&grown);
        let x = servers.len();
        for key in &keys {
            let old: Vec<usize> = old_ring.replicas(key, n).iter().map(|r| r.server).collect();
            let new: Vec<usize> = new_ring.replicas(key, n).iter().map(|r| r.server).collect();
            if new.contains(&x) {
                let without: Vec<usize> = new.iter().copied().filter(|&s| s != x).collect();
                let keep = (n - 1).min(old.len());
                prop_assert_eq!(&without[..], &old[..keep]);
            } else {
                prop_assert_eq!(&new, &old);
            }
        }
    }

    /// Removing a server is the same move backwards: only keys it held move.
    #[test]
    fn removing_a_server_moves_only_its_keys(
        servers in servers(8),
        victim in any::<prop::sample::Index>(),
        keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..30),
    ) {
        prop_assume!(servers.len() >= 2);
        let gone = victim.index(servers.len());
        let ring = Ring::from_servers(&servers);
        let rest: Vec<ServerSpec> = servers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != gone)
            .map(|(_, s)| s.clone())
            .collect();
        let smaller = Ring::from_servers(&rest);
        // Server indices after `gone` shift down by one in the smaller ring.
        let renumber = |s: usize| if s > gone { s - 1 } else { s };
        for key in &keys {
            let before = ring.replicas(key, 1)[0].server;
            let after = smaller.replicas(key, 1)[0].server;
            if before != gone {
                prop_assert_eq!(after, renumber(before));
            }
        }
    }
}
