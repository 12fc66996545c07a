//! The hosts of the namespaces mode (`[cluster] network = "namespaces"`),
//! owned by the supervisor because their life is its children's: a child
//! starts inside its host, and the hosts go after the children on every
//! exit (quit, signal, panic). The REPL's cuts go through here too, named
//! by server rather than by host.

use std::net::Ipv4Addr;
use std::sync::MutexGuard;

use dkvs_netns::{Hosts, NetnsError, Side};

use super::Supervisor;
use super::state::Inner;

/// How long the panic path waits for the hosts' lock.
const PANIC_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One end of a cut as the REPL names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetEnd {
    /// This machine: the TUI's client, the probes, `dkvs-client`.
    Client,
    /// Server `i` (0-based, configuration order).
    Server(usize),
}

impl std::fmt::Display for NetEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetEnd::Client => f.write_str("client"),
            NetEnd::Server(i) => write!(f, "{}", i + 1),
        }
    }
}

/// What the namespaces mode looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInfo {
    /// The hosts' subnet, e.g. `10.77.0.0/24`.
    pub subnet: String,
    /// The bridge's name and address (where clients come from).
    pub bridge: (String, Ipv4Addr),
    /// Per configured server, its host's namespace (`None`: not a host).
    pub namespaces: Vec<Option<String>>,
    /// The cuts in force, `(from, to)`, one way each.
    pub cuts: Vec<(NetEnd, NetEnd)>,
}

impl Inner {
    fn hosts(&self) -> MutexGuard<'_, Option<Hosts>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The namespace a server at `ip` runs in, in namespaces mode.
    pub(super) fn namespace_of(&self, ip: Ipv4Addr) -> Option<String> {
        let hosts = self.hosts();
        let hosts = hosts.as_ref()?;
        let host = hosts.addrs().iter().position(|a| *a == ip)?;
        hosts.namespace(host)
    }

    /// Removes the hosts, if any (after the children have stopped). The
    /// lock is held until they are gone, so a second caller (a signal
    /// during a quit) waits for the removal instead of exiting before it.
    pub(super) fn remove_hosts(&self) -> Option<Result<(), NetnsError>> {
        let mut guard = self.hosts();
        let hosts = guard.take()?;
        Some(hosts.remove())
    }

    /// [`Inner::remove_hosts`] on the panic path: the lock is tried for at
    /// most [`PANIC_LOCK_WAIT`] (a rule change in flight ends within
    /// milliseconds; the panicking thread itself may hold it), then left
    /// to the next start's cleanup.
    pub(super) fn remove_hosts_now(&self) {
        let deadline = std::time::Instant::now() + PANIC_LOCK_WAIT;
        loop {
            match self.hosts.try_lock() {
                Ok(mut guard) => {
                    if let Some(hosts) = guard.take() {
                        let _ = hosts.remove();
                    }
                    return;
                }
                Err(std::sync::TryLockError::Poisoned(e)) => {
                    if let Some(hosts) = e.into_inner().take() {
                        let _ = hosts.remove();
                    }
                    return;
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    if std::time::Instant::now() >= deadline {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
    }
}

impl Supervisor {
    /// Whether servers run on hosts of their own (namespaces mode).
    pub fn has_hosts(&self) -> bool {
        self.inner.hosts().is_some()
    }

    /// The namespaces mode's state, `None` on loopback.
    pub fn net_info(&self) -> Option<NetInfo> {
        let config = self.inner.config();
        let guard = self.inner.hosts();
        let hosts = guard.as_ref()?;
        let (net, len) = hosts.subnet();
        let host_of = |ip: Ipv4Addr| hosts.addrs().iter().position(|a| *a == ip);
        let namespaces = config
            .servers
            .iter()
            .map(|s| host_of(s.ip).and_then(|h| hosts.namespace(h)))
            .collect();
        let end = |side: Side| match side {
            Side::Client => Some(NetEnd::Client),
            Side::Host(h) => {
                let ip = hosts.addr(h)?;
                config
                    .servers
                    .iter()
                    .position(|s| s.ip == ip)
                    .map(NetEnd::Server)
            }
        };
        let cuts = hosts
            .cuts()
            .into_iter()
            .filter_map(|(a, b)| Some((end(a)?, end(b)?)))
            .collect();
        Some(NetInfo {
            subnet: format!("{net}/{len}"),
            bridge: (hosts.bridge(), hosts.client_addr()),
            namespaces,
            cuts,
        })
    }

    /// Replaces the cuts in force by a partition into `groups`.
    pub fn partition(&self, groups: &[Vec<NetEnd>]) -> Result<(), NetnsError> {
        self.with_hosts(|hosts, side| {
            let groups = groups
                .iter()
                .map(|g| g.iter().map(|e| side(*e)).collect())
                .collect::<Result<Vec<Vec<Side>>, NetnsError>>()?;
            hosts.partition(&groups)
        })
    }

    /// Adds one-way cuts: packets from each of `from` no longer reach each
    /// of `to`.
    pub fn cut(&self, from: &[NetEnd], to: &[NetEnd]) -> Result<(), NetnsError> {
        self.with_hosts(|hosts, side| {
            let mut pairs = Vec::new();
            for a in from {
                for b in to {
                    pairs.push((side(*a)?, side(*b)?));
                }
            }
            hosts.cut_all(&pairs)
        })
    }

    /// Removes every cut.
    pub fn heal_cuts(&self) -> Result<(), NetnsError> {
        self.with_hosts(|hosts, _| hosts.heal())
    }

    /// Runs `f` on the hosts, with a way to turn a REPL end into a host.
    fn with_hosts<T>(
        &self,
        f: impl FnOnce(&mut Hosts, &dyn Fn(NetEnd) -> Result<Side, NetnsError>) -> Result<T, NetnsError>,
    ) -> Result<T, NetnsError> {
        let config = self.inner.config();
        let mut guard = self.inner.hosts();
        let hosts = guard.as_mut().ok_or_else(|| {
            NetnsError::invalid(
                "servers run on loopback here: cuts need [cluster] network = \"namespaces\" in cluster.toml, run as root",
            )
        })?;
        let addrs = hosts.addrs().to_vec();
        let side = |end: NetEnd| match end {
            NetEnd::Client => Ok(Side::Client),
            NetEnd::Server(i) => {
                let spec = config
                    .servers
                    .get(i)
                    .ok_or_else(|| NetnsError::invalid(format!("no server {}", i + 1)))?;
                addrs
                    .iter()
                    .position(|a| *a == spec.ip)
                    .map(Side::Host)
                    .ok_or_else(|| {
                        NetnsError::invalid(format!(
                            "server {} ({}) is not on a host of its own (spawn = false): leave it out of the cut",
                            i + 1,
                            spec.addr()
                        ))
                    })
            }
        };
        f(hosts, &side)
    }
}
