//! `[cluster] network`: whether `dkvs-tui` runs its servers on loopback or
//! each on a host of its own (a network namespace on a private bridge), and
//! the addresses such hosts get. The addresses are worked out from the file
//! alone, so every program reading the same `cluster.toml` (the servers,
//! `dkvs-client`, `dkvs-dump-ring`) builds the same ring.

use std::net::Ipv4Addr;

/// The subnet 10.<octet>.0.0/24 of the hosts when the file names none.
pub const DEFAULT_SUBNET_OCTET: u8 = 77;

/// Where spawned servers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Every server a process on this machine's loopback (the default).
    #[default]
    Loopback,
    /// Every spawned server on a host of its own, 10.<octet>.0.<k> on a
    /// bridge whose own address, 10.<octet>.0.1, is where clients on this
    /// machine come from.
    Namespaces {
        /// The subnet's second octet.
        octet: u8,
    },
}

impl Network {
    /// The hosts' subnet (network address, prefix length), in namespaces
    /// mode.
    pub fn subnet(&self) -> Option<(Ipv4Addr, u8)> {
        match *self {
            Network::Loopback => None,
            Network::Namespaces { octet } => Some((Ipv4Addr::new(10, octet, 0, 0), 24)),
        }
    }

    /// The subnet as `10.<octet>.0.0/24`, in namespaces mode.
    pub fn subnet_text(&self) -> Option<String> {
        self.subnet().map(|(a, len)| format!("{a}/{len}"))
    }

    /// Whether `ip` is a host address of the subnet (.2 to .254; .1 is the
    /// bridge's).
    pub fn is_host_addr(&self, ip: Ipv4Addr) -> bool {
        match *self {
            Network::Loopback => false,
            Network::Namespaces { octet } => {
                let [a, b, c, d] = ip.octets();
                a == 10 && b == octet && c == 0 && (2..=254).contains(&d)
            }
        }
    }
}

/// Reads a `subnet` value: `10.<octet>.0.0/24`.
pub(crate) fn parse_subnet(text: &str) -> Result<u8, String> {
    let bad = || {
        format!("{text:?} is not a subnet of the form 10.<0-255>.0.0/24 (like \"10.77.0.0/24\")")
    };
    let (addr, len) = text.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let [a, b, c, d] = addr.octets();
    if a != 10 || c != 0 || d != 0 || len != "24" {
        return Err(bad());
    }
    Ok(b)
}

/// The addresses of the hosts: each server its `ip` when it has one, the
/// others the lowest free of .2, .3, … in file order. `Err` names the
/// server (0-based) whose address cannot be a host's.
pub(crate) fn host_addresses(
    octet: u8,
    requested: &[Option<Ipv4Addr>],
) -> Result<Vec<Ipv4Addr>, (usize, String)> {
    let network = Network::Namespaces { octet };
    let mut taken = std::collections::BTreeSet::new();
    for (i, ip) in requested.iter().enumerate() {
        if let Some(ip) = ip {
            if !network.is_host_addr(*ip) {
                return Err((
                    i,
                    format!(
                        "{ip} is not a host address of 10.{octet}.0.0/24 (.2 to .254; .1 is the bridge's); leave `ip` out to get one"
                    ),
                ));
            }
            if !taken.insert(ip.octets()[3]) {
                return Err((
                    i,
                    format!("{ip} is given to two servers: each host has one address"),
                ));
            }
        }
    }
    let mut free = (2..=254u8).filter(|x| !taken.contains(x));
    requested
        .iter()
        .enumerate()
        .map(|(i, ip)| match ip {
            Some(ip) => Ok(*ip),
            None => free.next().map(|x| Ipv4Addr::new(10, octet, 0, x)).ok_or((
                i,
                format!("no address left in 10.{octet}.0.0/24 (253 hosts at most)"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_and_addresses() {
        assert_eq!(parse_subnet("10.9.0.0/24"), Ok(9));
        for bad in [
            "10.9.0.0",
            "10.9.0.0/16",
            "11.9.0.0/24",
            "10.9.1.0/24",
            "x/24",
        ] {
            assert!(parse_subnet(bad).is_err(), "{bad}");
        }
        let a = |d| Ipv4Addr::new(10, 9, 0, d);
        assert_eq!(
            host_addresses(9, &[None, Some(a(2)), None]),
            Ok(vec![a(3), a(2), a(4)])
        );
        assert_eq!(host_addresses(9, &[Some(a(1))]).map_err(|e| e.0), Err(0));
        let other = Ipv4Addr::new(10, 8, 0, 5);
        assert_eq!(
            host_addresses(9, &[None, Some(other)]).map_err(|e| e.0),
            Err(1)
        );
        let n = Network::Namespaces { octet: 9 };
        assert_eq!(n.subnet_text().as_deref(), Some("10.9.0.0/24"));
        assert!(n.is_host_addr(a(254)) && !n.is_host_addr(a(255)));
        assert!(!Network::Loopback.is_host_addr(a(2)));
    }

    #[test]
    fn cluster_toml_places_hosts() {
        use crate::config::parse_cluster_toml;
        let text = "[cluster]\nnetwork = \"namespaces\"\n\n[defaults]\ndata_dir = \"d\"\n\n\
                    [[server]]\nport = 7000\n\n[[server]]\nip = \"10.77.0.2\"\nport = 7000\n\n\
                    [[server]]\nport = 7000\nnodes = 2\n\n\
                    [[server]]\nip = \"192.0.2.1\"\nport = 7000\nspawn = false\n";
        let c = parse_cluster_toml(text, "c.toml").unwrap();
        assert_eq!(c.network, Network::Namespaces { octet: 77 });
        let addrs: Vec<String> = c.servers.iter().map(|s| s.addr().to_string()).collect();
        assert_eq!(
            addrs,
            [
                "10.77.0.3:7000",
                "10.77.0.2:7000",
                "10.77.0.4:7000",
                "192.0.2.1:7000"
            ]
        );
        let spawn: Vec<bool> = c.servers.iter().map(|s| s.spawn).collect();
        assert_eq!(spawn, [true, true, true, false]);
        // [defaults] data_dir is named after the address given.
        assert_eq!(
            c.servers[0].data_dir.as_deref(),
            Some(std::path::Path::new("d/10.77.0.3-7000"))
        );
        let with_subnet =
            "[cluster]\nnetwork = \"namespaces\"\nsubnet = \"10.5.0.0/24\"\n[[server]]\nport = 1\n";
        let c = parse_cluster_toml(with_subnet, "c.toml").unwrap();
        assert_eq!(c.servers[0].addr().to_string(), "10.5.0.2:1");

        let err = |t: &str| parse_cluster_toml(t, "c.toml").unwrap_err().to_string();
        assert!(err("[[server]]\nport = 1\n").contains("missing field `ip`"));
        assert!(
            err("[cluster]\nnetwork = \"mesh\"\n[[server]]\nport = 1\n").contains("not a network")
        );
        assert!(
            err("[cluster]\nsubnet = \"10.5.0.0/24\"\n[[server]]\nip = \"127.0.0.1\"\nport = 1\n")
                .contains("namespaces\" only")
        );
        let spawned_loopback =
            "[cluster]\nnetwork = \"namespaces\"\n[[server]]\nip = \"127.0.0.1\"\nport = 1\n";
        assert!(
            err(spawned_loopback).contains("not a host address"),
            "{}",
            err(spawned_loopback)
        );
        let twice = "[cluster]\nnetwork = \"namespaces\"\n[[server]]\nip = \"10.77.0.9\"\nport = 1\n[[server]]\nip = \"10.77.0.9\"\nport = 2\n";
        let e = parse_cluster_toml(twice, "c.toml").unwrap_err();
        assert!(
            e.to_string().contains("given to two servers") && e.line == Some(7),
            "{e}"
        );
        let inside = "[cluster]\nnetwork = \"namespaces\"\n[[server]]\nport = 1\n[[server]]\nip = \"10.77.0.2\"\nport = 2\nspawn = false\n";
        assert!(
            err(inside).contains("for the servers dkvs-tui starts"),
            "{}",
            err(inside)
        );
        let unspawned =
            "[cluster]\nnetwork = \"namespaces\"\n[[server]]\nport = 1\nspawn = false\n";
        assert!(err(unspawned).contains("needs its `ip`"));
        assert!(
            err("[cluster]\nnetwork = \"namespaces\"\nextra = 1\n[[server]]\nport = 1\n")
                .contains("extra")
        );
    }
}
