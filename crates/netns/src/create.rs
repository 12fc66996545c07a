//! Building and tearing down the network of one `Hosts`: choosing a free
//! 10.<octet>.0.0/24 and the hosts' addresses, then the bridge, one
//! namespace per host with its veth pair, and an empty rule table in each.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use crate::error::NetnsError;
use crate::names::{MAX_HOSTS, Names, RUNS};
use crate::rules::script;
use crate::run::run;
use crate::system::{addresses, links, namespaces};

/// Runs given out and subnets reserved by this process: two `Hosts` made
/// at the same time never get the same names or subnet.
static STATE: Mutex<State> = Mutex::new(State {
    next_run: 0,
    octets: BTreeSet::new(),
});

struct State {
    next_run: u32,
    octets: BTreeSet<u8>,
}

/// Everything a `Hosts` is made of.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) names: Names,
    pub(crate) octet: u8,
    pub(crate) addrs: Vec<Ipv4Addr>,
}

impl Layout {
    pub(crate) fn client(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, 0, 1)
    }
}

/// The subnet octet asked for: `subnet_octet`, or the one of the
/// addresses asked for (all in one 10.<octet>.0.0/24).
pub(crate) fn wanted_octet(
    octet: Option<u8>,
    requested: &[Option<Ipv4Addr>],
) -> Result<Option<u8>, NetnsError> {
    let mut found = octet;
    for a in requested.iter().flatten() {
        let [ten, o, zero, _] = a.octets();
        if ten != 10 || zero != 0 || found.is_some_and(|f| f != o) {
            return Err(NetnsError::invalid(format!(
                "{a} is not in the hosts' subnet (10.<octet>.0.0/24, one octet for all)"
            )));
        }
        found = Some(o);
    }
    Ok(found)
}

/// The hosts' addresses in 10.<octet>.0.0/24: those asked for, the others
/// the lowest free from .2 (.1 is the client's).
pub(crate) fn assign(
    hosts: usize,
    requested: &[Option<Ipv4Addr>],
    octet: u8,
) -> Result<Vec<Ipv4Addr>, NetnsError> {
    if hosts == 0 || hosts > MAX_HOSTS || requested.len() > hosts {
        return Err(NetnsError::invalid(format!(
            "{hosts} hosts with {} addresses: 1 to {MAX_HOSTS} hosts, at most one address each",
            requested.len()
        )));
    }
    let mut taken = BTreeSet::new();
    for a in requested.iter().flatten() {
        let last = a.octets()[3];
        if !(2..=254).contains(&last) || !taken.insert(last) {
            return Err(NetnsError::invalid(format!(
                "{a} cannot be a host's address (from .2 to .254, each once; .1 is the client's)"
            )));
        }
    }
    let mut free = (2..=254u8).filter(|x| !taken.contains(x));
    (0..hosts)
        .map(|i| match requested.get(i).copied().flatten() {
            Some(a) => Ok(a),
            None => free
                .next()
                .map(|x| Ipv4Addr::new(10, octet, 0, x))
                .ok_or_else(|| NetnsError::invalid("no address left in the /24")),
        })
        .collect()
}

/// Reserves a run number and a subnet octet (`wanted`, or a free one):
/// free means no interface has an address in it and no `Hosts` of this
/// process holds it.
pub(crate) fn reserve(wanted: Option<u8>, hosts: usize) -> Result<(Names, u8), NetnsError> {
    let used: BTreeSet<u8> = addresses()?
        .iter()
        .filter(|(_, a)| a.octets()[0] == 10)
        .map(|(_, a)| a.octets()[1])
        .collect();
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    let names = Names {
        pid,
        run: state.next_run,
    };
    if !names.fit(hosts) {
        return Err(NetnsError::invalid(format!(
            "PID {pid} is too large for 15-byte interface names"
        )));
    }
    let free = |o: &u8| !used.contains(o) && !state.octets.contains(o);
    let octet = match wanted {
        Some(o) if free(&o) => o,
        Some(o) => {
            return Err(NetnsError::invalid(format!(
                "10.{o}.0.0/24 is already in use on this machine"
            )));
        }
        // Start where the PID says, so parallel processes rarely collide.
        None => (0..254u32)
            .map(|k| u8::try_from((pid + names.run + k) % 254 + 1).unwrap_or(1))
            .find(free)
            .ok_or_else(|| NetnsError::invalid("no free 10.<octet>.0.0/24 subnet"))?,
    };
    state.next_run = (state.next_run + 1) % RUNS;
    state.octets.insert(octet);
    Ok((names, octet))
}

/// Gives back a subnet octet [`reserve`] handed out.
pub(crate) fn release(octet: u8) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    state.octets.remove(&octet);
}

/// Whether an interface other than our bridge has an address in our
/// subnet (another process chose it at the same moment).
pub(crate) fn subnet_clash(layout: &Layout) -> Result<bool, NetnsError> {
    let bridge = layout.names.bridge();
    Ok(addresses()?.iter().any(|(name, a)| {
        let [ten, o, _, _] = a.octets();
        ten == 10 && o == layout.octet && *name != bridge
    }))
}

/// `ip` with these arguments.
fn ip(args: &[&str]) -> Result<String, NetnsError> {
    run("ip", args, None)
}

/// Makes the bridge, then each host; stops at the first failure (the
/// caller tears down).
pub(crate) fn build(layout: &Layout) -> Result<(), NetnsError> {
    let bridge = layout.names.bridge();
    let client = format!("{}/24", layout.client());
    ip(&["link", "add", &bridge, "type", "bridge"])?;
    ip(&["addr", "add", &client, "dev", &bridge])?;
    ip(&["link", "set", &bridge, "up"])?;
    for (i, addr) in layout.addrs.iter().enumerate() {
        let ns = layout.names.namespace(i);
        let veth = layout.names.veth(i);
        let addr = format!("{addr}/24");
        ip(&["netns", "add", &ns])?;
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&["link", "set", &veth, "master", &bridge, "up"])?;
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        write_rules(&ns, &script(&[], &[]))?;
    }
    Ok(())
}

/// Replaces the `inet dkvs` table of namespace `ns` with `script`.
pub(crate) fn write_rules(ns: &str, script: &str) -> Result<(), NetnsError> {
    run("ip", ["netns", "exec", ns, "nft", "-f", "-"], Some(script)).map(|_| ())
}

/// Deletes whatever of `layout` exists: veth pairs first (deleting a
/// namespace frees its links only later, asynchronously), then the
/// namespaces, then the bridge. Tries every step; returns the first error.
pub(crate) fn teardown(layout: &Layout) -> Result<(), NetnsError> {
    let present_links = links()?;
    let present_ns = namespaces()?;
    let mut first = Ok(());
    let mut step = |r: Result<String, NetnsError>| {
        if let Err(e) = r
            && first.is_ok()
        {
            first = Err(e);
        }
    };
    for i in 0..layout.addrs.len() {
        let veth = layout.names.veth(i);
        if present_links.contains(&veth) {
            step(ip(&["link", "del", &veth]));
        }
    }
    for i in 0..layout.addrs.len() {
        let ns = layout.names.namespace(i);
        if present_ns.contains(&ns) {
            step(ip(&["netns", "del", &ns]));
        }
    }
    let bridge = layout.names.bridge();
    if present_links.contains(&bridge) {
        step(ip(&["link", "del", &bridge]));
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_asked_for_are_kept_and_the_rest_filled_from_two() {
        let want = [None, Some(Ipv4Addr::new(10, 5, 0, 2)), None];
        assert_eq!(wanted_octet(None, &want).unwrap(), Some(5));
        assert_eq!(
            assign(3, &want, 5).unwrap(),
            [
                Ipv4Addr::new(10, 5, 0, 3),
                Ipv4Addr::new(10, 5, 0, 2),
                Ipv4Addr::new(10, 5, 0, 4)
            ]
        );
        assert!(wanted_octet(Some(6), &want).is_err());
        assert!(wanted_octet(None, &[Some(Ipv4Addr::new(192, 168, 0, 2))]).is_err());
        assert!(assign(2, &[Some(Ipv4Addr::new(10, 5, 0, 1))], 5).is_err());
        assert!(assign(0, &[], 5).is_err());
        assert!(assign(254, &[], 5).is_err());
        assert_eq!(assign(253, &[], 5).unwrap().len(), 253);
    }
}
