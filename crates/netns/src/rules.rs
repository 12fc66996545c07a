//! Cuts as data: which side no longer reaches which, the nftables table
//! each host namespace needs for them, and a partition spelled out as
//! cuts. Pure functions, so the rules are tested without root.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::error::NetnsError;

/// One end of a link: the root namespace (clients, the TUI) or a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The root namespace, at the bridge's address.
    Client,
    /// Host `i`, in its own namespace.
    Host(usize),
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Side::Client => f.write_str("client"),
            Side::Host(i) => write!(f, "host {i}"),
        }
    }
}

/// Checks that a cut `from → to` names two different sides that exist.
pub(crate) fn check_cut(from: Side, to: Side, hosts: usize) -> Result<(), NetnsError> {
    for side in [from, to] {
        if let Side::Host(i) = side
            && i >= hosts
        {
            return Err(NetnsError::invalid(format!(
                "no {side}: there are {hosts} hosts (0 to {})",
                hosts.saturating_sub(1)
            )));
        }
    }
    if from == to {
        return Err(NetnsError::invalid(format!(
            "cannot cut {from} from itself"
        )));
    }
    Ok(())
}

/// The cuts of a partition: both ways between every two sides in
/// different groups. A side in two groups is an error.
pub(crate) fn partition_cuts(
    groups: &[Vec<Side>],
    hosts: usize,
) -> Result<BTreeSet<(Side, Side)>, NetnsError> {
    let mut seen = BTreeSet::new();
    for side in groups.iter().flatten() {
        if !seen.insert(*side) {
            return Err(NetnsError::invalid(format!(
                "{side} is in two groups of the partition"
            )));
        }
    }
    let mut cuts = BTreeSet::new();
    for (g, group) in groups.iter().enumerate() {
        for other in groups.iter().skip(g + 1) {
            for &a in group {
                for &b in other {
                    check_cut(a, b, hosts)?;
                    cuts.insert((a, b));
                    cuts.insert((b, a));
                }
            }
        }
    }
    Ok(cuts)
}

/// The addresses host `host`'s namespace drops: sources on input (cuts
/// toward it) and destinations on output (its cuts toward the client).
pub(crate) fn drops(
    host: usize,
    cuts: &BTreeSet<(Side, Side)>,
    client: Ipv4Addr,
    addrs: &[Ipv4Addr],
) -> (Vec<Ipv4Addr>, Vec<Ipv4Addr>) {
    let addr = |side: Side| match side {
        Side::Client => Some(client),
        Side::Host(i) => addrs.get(i).copied(),
    };
    let mut input = Vec::new();
    let mut output = Vec::new();
    for &(from, to) in cuts {
        if to == Side::Host(host) {
            input.extend(addr(from));
        } else if from == Side::Host(host) && to == Side::Client {
            output.push(client);
        }
    }
    (input, output)
}

/// The whole `inet dkvs` table for one namespace, replacing the previous
/// one in one transaction (`nft -f -`).
pub(crate) fn script(input: &[Ipv4Addr], output: &[Ipv4Addr]) -> String {
    let mut s = String::from("table inet dkvs {}\ndelete table inet dkvs\ntable inet dkvs {\n");
    for (chain, key, list) in [("input", "saddr", input), ("output", "daddr", output)] {
        let _ = writeln!(s, "\tchain {chain} {{");
        let _ = writeln!(
            s,
            "\t\ttype filter hook {chain} priority filter; policy accept;"
        );
        for a in list {
            let _ = writeln!(s, "\t\tip {key} {a} drop");
        }
        s.push_str("\t}\n");
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use Side::{Client, Host};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const ADDRS: [Ipv4Addr; 3] = [
        Ipv4Addr::new(10, 9, 0, 2),
        Ipv4Addr::new(10, 9, 0, 3),
        Ipv4Addr::new(10, 9, 0, 4),
    ];

    #[test]
    fn a_partition_cuts_both_ways_across_groups_only() {
        let cuts = partition_cuts(&[vec![Client, Host(0)], vec![Host(1), Host(2)]], 3).unwrap();
        let want: BTreeSet<_> = [
            (Client, Host(1)),
            (Client, Host(2)),
            (Host(0), Host(1)),
            (Host(0), Host(2)),
            (Host(1), Client),
            (Host(2), Client),
            (Host(1), Host(0)),
            (Host(2), Host(0)),
        ]
        .into();
        assert_eq!(cuts, want);
        // Host 2 not named: connected to everyone.
        let cuts = partition_cuts(&[vec![Host(0)], vec![Host(1)]], 3).unwrap();
        assert_eq!(cuts, [(Host(0), Host(1)), (Host(1), Host(0))].into());
        assert!(partition_cuts(&[vec![Host(0)], vec![Host(0)]], 3).is_err());
        assert!(partition_cuts(&[vec![Host(0)], vec![Host(3)]], 3).is_err());
        assert!(check_cut(Client, Client, 3).is_err());
    }

    #[test]
    fn cuts_become_input_and_output_drops() {
        let cuts: BTreeSet<_> = [(Client, Host(1)), (Host(0), Host(1)), (Host(1), Client)].into();
        assert_eq!(
            drops(1, &cuts, CLIENT, &ADDRS),
            (vec![CLIENT, ADDRS[0]], vec![CLIENT])
        );
        assert_eq!(drops(0, &cuts, CLIENT, &ADDRS), (vec![], vec![]));
    }

    #[test]
    fn the_script_replaces_the_whole_table() {
        let s = script(&[ADDRS[0]], &[CLIENT]);
        assert_eq!(
            s,
            "table inet dkvs {}\n\
             delete table inet dkvs\n\
             table inet dkvs {\n\
             \tchain input {\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\tip saddr 10.9.0.2 drop\n\
             \t}\n\
             \tchain output {\n\
             \t\ttype filter hook output priority filter; policy accept;\n\
             \t\tip daddr 10.9.0.1 drop\n\
             \t}\n\
             }\n"
        );
    }
}
