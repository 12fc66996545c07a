//! The UDP socket of one operation, and the quarantine that keeps a closed
//! socket's port from being reused soon, so a late v1 reply (which carries
//! no request id) can never count for a later operation.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::net::UdpSocket;

/// How long the port of a closed operation socket is not used again by
/// this process (see `OpSocket`).
pub const PORT_QUARANTINE: Duration = Duration::from_secs(10);
/// At most this many ports are kept in quarantine (the oldest leave first),
/// under the kernel's ephemeral range (~28,000 ports by default): at
/// ~8,000 operations/s that still covers a 2 s window.
const PORT_QUARANTINE_MAX: usize = 16384;

/// Ports of operation sockets closed recently by this process.
#[derive(Default)]
struct RecentPorts {
    closed: HashMap<u16, std::time::Instant>,
    order: std::collections::VecDeque<(u16, std::time::Instant)>,
}

impl RecentPorts {
    fn prune(&mut self, now: std::time::Instant) {
        while let Some(&(port, at)) = self.order.front() {
            if now.duration_since(at) < PORT_QUARANTINE && self.order.len() <= PORT_QUARANTINE_MAX {
                break;
            }
            self.order.pop_front();
            if self.closed.get(&port) == Some(&at) {
                self.closed.remove(&port);
            }
        }
    }
}

static RECENT_PORTS: std::sync::LazyLock<std::sync::Mutex<RecentPorts>> =
    std::sync::LazyLock::new(Default::default);

/// The socket of one operation.
///
/// v1 replies carry no request id: a late reply (from a paused server, or
/// one that answered after the verdict) is addressed to the port of the
/// operation that asked. If the kernel handed that port to a *later*
/// operation of this process talking to the same server, the late reply
/// would count there. So when an operation socket closes its port is
/// quarantined for [`PORT_QUARANTINE`], and a new socket that gets a
/// quarantined port is replaced by another. Other processes (one
/// `dkvs-client` per command) are not covered: see `docs/RELIABILITY.md`.
pub(super) struct OpSocket(UdpSocket);

impl std::ops::Deref for OpSocket {
    type Target = UdpSocket;
    fn deref(&self) -> &UdpSocket {
        &self.0
    }
}

impl Drop for OpSocket {
    fn drop(&mut self) {
        let Ok(addr) = self.0.local_addr() else {
            return;
        };
        let now = std::time::Instant::now();
        if let Ok(mut recent) = RECENT_PORTS.lock() {
            recent.closed.insert(addr.port(), now);
            recent.order.push_back((addr.port(), now));
            recent.prune(now);
        }
    }
}

pub(super) fn open_socket() -> io::Result<OpSocket> {
    let bind = || crate::net::bind_udp(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    // Rejected sockets stay open until the end, so the kernel cannot hand
    // the same port back at the next attempt.
    let mut rejected = Vec::new();
    let mut socket = bind()?;
    for _ in 0..32 {
        let port = socket.local_addr()?.port();
        let quarantined = RECENT_PORTS.lock().is_ok_and(|mut recent| {
            recent.prune(std::time::Instant::now());
            recent.closed.contains_key(&port)
        });
        if !quarantined {
            break;
        }
        rejected.push(std::mem::replace(&mut socket, bind()?));
    }
    drop(rejected);
    Ok(OpSocket(UdpSocket::from_std(socket)?))
}

/// Receive errors that are not a reason to stop (ICMP "port unreachable"
/// and the like), told apart where every request loop's timer lives.
pub(crate) use crate::net::retry::is_transient;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_operation_ports_are_quarantined() {
        let socket = open_socket().unwrap();
        let port = socket.local_addr().unwrap().port();
        let quarantined = || RECENT_PORTS.lock().unwrap().closed.contains_key(&port);
        assert!(!quarantined());
        drop(socket);
        assert!(quarantined());
        // Never handed out again while quarantined.
        let many: Vec<OpSocket> = (0..64).map(|_| open_socket().unwrap()).collect();
        assert!(many.iter().all(|s| s.local_addr().unwrap().port() != port));
    }

    #[test]
    fn quarantine_forgets_old_and_excess_ports() {
        let start = std::time::Instant::now();
        let mut recent = RecentPorts::default();
        for port in 0..(PORT_QUARANTINE_MAX as u16 + 10) {
            recent.closed.insert(port, start);
            recent.order.push_back((port, start));
        }
        recent.prune(start);
        assert_eq!(recent.order.len(), PORT_QUARANTINE_MAX);
        assert!(!recent.closed.contains_key(&9) && recent.closed.contains_key(&10));
        recent.prune(start + PORT_QUARANTINE);
        assert!(recent.order.is_empty() && recent.closed.is_empty());
    }
}
