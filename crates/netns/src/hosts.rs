//! `Hosts`: the handle over one set of host namespaces. It keeps the cuts
//! in force as the source of truth, rewrites the rule table of each
//! namespace whose rules change, and removes everything when dropped.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::Command;

use crate::create::{
    Layout, assign, build, release, reserve, subnet_clash, teardown, wanted_octet, write_rules,
};
use crate::error::NetnsError;
use crate::rules::{Side, check_cut, drops, partition_cuts, script};
use crate::system::available;

/// How many times a subnet another process took at the same moment is
/// given up for another.
const CLASH_RETRIES: usize = 5;

/// What to make.
#[derive(Debug, Clone, Default)]
pub struct HostsSpec {
    /// How many hosts (1 to 253).
    pub hosts: usize,
    /// The subnet 10.<octet>.0.0/24; `None`: one no interface uses.
    pub subnet_octet: Option<u8>,
    /// Per host, the address it asks for (in the subnet), or `None` for
    /// the next free one; may be shorter than `hosts`.
    pub addresses: Vec<Option<Ipv4Addr>>,
}

impl HostsSpec {
    /// `hosts` hosts on a free subnet, addresses .2, .3, ….
    pub fn new(hosts: usize) -> HostsSpec {
        HostsSpec {
            hosts,
            ..HostsSpec::default()
        }
    }
}

/// Hosts, each in its own network namespace on a private bridge, and the
/// cuts between them. Dropping it removes everything (best effort);
/// [`Hosts::remove`] does the same and reports errors.
#[derive(Debug)]
pub struct Hosts {
    layout: Layout,
    cuts: BTreeSet<(Side, Side)>,
    /// The table last written in each namespace.
    applied: Vec<String>,
    removed: bool,
}

impl Hosts {
    /// Makes the bridge and the hosts; on failure removes what it made.
    pub fn create(spec: &HostsSpec) -> Result<Hosts, NetnsError> {
        available()?;
        let wanted = wanted_octet(spec.subnet_octet, &spec.addresses)?;
        assign(spec.hosts, &spec.addresses, 1)?;
        let mut attempt = 0;
        loop {
            let (names, octet) = reserve(wanted, spec.hosts)?;
            let layout = Layout {
                names,
                octet,
                addrs: assign(spec.hosts, &spec.addresses, octet)?,
            };
            // Leftovers of a dead process that had our PID and run.
            let made = teardown(&layout).and_then(|()| build(&layout));
            let clash = made.and_then(|()| subnet_clash(&layout));
            match clash {
                Ok(false) => {
                    tracing::info!(bridge = %layout.names.bridge(), client = %layout.client(), hosts = spec.hosts, "netns: hosts created");
                    let applied = vec![script(&[], &[]); spec.hosts];
                    return Ok(Hosts {
                        layout,
                        cuts: BTreeSet::new(),
                        applied,
                        removed: false,
                    });
                }
                Ok(true) if wanted.is_none() && attempt < CLASH_RETRIES => {
                    attempt += 1;
                    let _ = teardown(&layout);
                    release(octet);
                }
                result => {
                    let _ = teardown(&layout);
                    release(octet);
                    return Err(match result {
                        Err(e) => e,
                        _ => NetnsError::invalid(format!(
                            "10.{octet}.0.0/24 was taken by another process meanwhile"
                        )),
                    });
                }
            }
        }
    }

    /// How many hosts.
    pub fn len(&self) -> usize {
        self.layout.addrs.len()
    }

    /// Whether there are no hosts (never, once created).
    pub fn is_empty(&self) -> bool {
        self.layout.addrs.is_empty()
    }

    /// The bridge's address: where the root namespace (clients, the TUI)
    /// is seen from the hosts.
    pub fn client_addr(&self) -> Ipv4Addr {
        self.layout.client()
    }

    /// Host `host`'s address.
    pub fn addr(&self, host: usize) -> Option<Ipv4Addr> {
        self.layout.addrs.get(host).copied()
    }

    /// Every host's address, in order.
    pub fn addrs(&self) -> &[Ipv4Addr] {
        &self.layout.addrs
    }

    /// Host `host`'s namespace name (for `ip netns exec`).
    pub fn namespace(&self, host: usize) -> Option<String> {
        (host < self.len()).then(|| self.layout.names.namespace(host))
    }

    /// The bridge's name in the root namespace.
    pub fn bridge(&self) -> String {
        self.layout.names.bridge()
    }

    /// The interfaces it made in the root namespace: the bridge, then each
    /// host's veth end (inside, each host sees its end as `eth0`).
    pub fn links(&self) -> Vec<String> {
        let veths = (0..self.len()).map(|i| self.layout.names.veth(i));
        std::iter::once(self.bridge()).chain(veths).collect()
    }

    /// The subnet: network address and prefix length (for allow lists).
    pub fn subnet(&self) -> (Ipv4Addr, u8) {
        (Ipv4Addr::new(10, self.layout.octet, 0, 0), 24)
    }

    /// `ip netns exec <namespace> <program>`: add arguments and spawn it;
    /// its PID is the program's (`ip` execs it).
    pub fn command(&self, host: usize, program: impl AsRef<OsStr>) -> Result<Command, NetnsError> {
        let ns = self.namespace(host).ok_or_else(|| {
            NetnsError::invalid(format!("no host {host}: there are {}", self.len()))
        })?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec"]).arg(ns).arg(program);
        Ok(cmd)
    }

    /// One way: packets from `from` no longer reach `to`.
    pub fn cut(&mut self, from: Side, to: Side) -> Result<(), NetnsError> {
        check_cut(from, to, self.len())?;
        self.cuts.insert((from, to));
        self.apply()
    }

    /// Several one-way cuts at once: all checked before any is added, and
    /// the rules written once.
    pub fn cut_all(&mut self, pairs: &[(Side, Side)]) -> Result<(), NetnsError> {
        for (from, to) in pairs {
            check_cut(*from, *to, self.len())?;
        }
        self.cuts.extend(pairs.iter().copied());
        self.apply()
    }

    /// Replaces the cuts in force by a partition: both ways between every
    /// two sides in different groups; sides not named reach everyone.
    pub fn partition(&mut self, groups: &[Vec<Side>]) -> Result<(), NetnsError> {
        self.cuts = partition_cuts(groups, self.len())?;
        self.apply()
    }

    /// Removes every cut.
    pub fn heal(&mut self) -> Result<(), NetnsError> {
        self.cuts.clear();
        self.apply()
    }

    /// The cuts in force, `(from, to)`, sorted.
    pub fn cuts(&self) -> Vec<(Side, Side)> {
        self.cuts.iter().copied().collect()
    }

    /// Rewrites the table of every namespace whose rules changed (one
    /// `nft -f -` each). After an error, the next change retries.
    fn apply(&mut self) -> Result<(), NetnsError> {
        let client = self.layout.client();
        for (i, applied) in self.applied.iter_mut().enumerate() {
            let (input, output) = drops(i, &self.cuts, client, &self.layout.addrs);
            let table = script(&input, &output);
            if *applied != table {
                write_rules(&self.layout.names.namespace(i), &table)?;
                *applied = table;
            }
        }
        Ok(())
    }

    /// Deletes the namespaces, links, bridge and rules. Stop the programs
    /// run in the namespaces first: a namespace lives on while a process
    /// is in it (cut off, as its veth pair is deleted here).
    pub fn remove(mut self) -> Result<(), NetnsError> {
        self.removed = true;
        let result = teardown(&self.layout);
        release(self.layout.octet);
        result
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if !self.removed {
            if let Err(e) = teardown(&self.layout) {
                tracing::warn!(error = %e, "netns: hosts not fully removed");
            }
            release(self.layout.octet);
        }
    }
}
