//! Socket-level helpers, below every layer that talks UDP: binding one
//! plain socket or a group sharing the port with `SO_REUSEPORT`, with
//! large buffers, and the kernel's drop count of the sockets bound to an
//! address. Used by the server, the client, the dump tool, the fault
//! proxy and anti-entropy. The buffer size is a shared limit (`dkvs_cluster::limits`).

use std::io;
use std::net::{SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};

// The buffer size is a limit every process shares (`limits`).
pub use dkvs_cluster::limits::RECV_BUFFER_BYTES;

/// Opens a UDP socket bound to `addr` with a large receive buffer. No
/// `SO_REUSEADDR`/`SO_REUSEPORT`: a port in use is an error.
pub fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    bind_udp_buffered(addr, RECV_BUFFER_BYTES)
}

/// [`bind_udp`] with socket buffers of `buffer` bytes (best effort: the
/// kernel caps them at `net.core.rmem_max` / `wmem_max`, and accounts
/// twice the size asked, headers included).
pub fn bind_udp_buffered(addr: SocketAddr, buffer: usize) -> io::Result<std::net::UdpSocket> {
    bind_socket(addr, buffer, false)
}

fn bind_socket(
    addr: SocketAddr,
    buffer: usize,
    reuse_port: bool,
) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(buffer);
    let _ = socket.set_send_buffer_size(buffer);
    socket.set_nonblocking(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Binds `count` UDP sockets to `addr`, with socket buffers of `buffer`
/// bytes. One socket (`count` ≤ 1) is bound plainly. Several share the
/// port with `SO_REUSEPORT` (the kernel spreads the sources over them),
/// but only once a plain probe socket has bound the port and let it go:
/// so a port in use — by anything, including another `dkvs-server`'s
/// group, whose sockets refuse a probe without `SO_REUSEPORT` — is still
/// `AddrInUse`, and port 0 gives every socket the port the probe got.
///
/// Remaining race (`docs/DECISIONS.md` #14): two groups whose probes both
/// run before either binds would share the port.
pub fn bind_group(
    addr: SocketAddrV4,
    buffer: usize,
    count: usize,
) -> io::Result<Vec<std::net::UdpSocket>> {
    if count <= 1 {
        return Ok(vec![bind_socket(SocketAddr::V4(addr), buffer, false)?]);
    }
    let probe = bind_socket(SocketAddr::V4(addr), 0, false)?;
    let port = probe.local_addr()?.port();
    drop(probe);
    let addr = SocketAddr::V4(SocketAddrV4::new(*addr.ip(), port));
    (0..count)
        .map(|_| bind_socket(addr, buffer, true))
        .collect()
}

/// How many datagrams the kernel dropped for the UDP sockets bound to
/// `addr` (several with `SO_REUSEPORT`) because their receive buffers were
/// full (the `drops` column of `/proc/net/udp`, Linux). `None` when that
/// cannot be read or no socket is bound there.
pub fn kernel_drops(addr: SocketAddrV4) -> Option<u64> {
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(addr.ip().octets()),
        addr.port()
    );
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let mut drops = None;
    for line in table
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
    {
        let d: u64 = line.split_whitespace().last()?.parse().ok()?;
        drops = Some(drops.unwrap_or(0) + d);
    }
    drops
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_group_shares_port_zero_and_keeps_others_out() {
        let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let group = bind_group(any, 1 << 16, 3).unwrap();
        let SocketAddr::V4(addr) = group[0].local_addr().unwrap() else {
            panic!("not v4")
        };
        assert_ne!(addr.port(), 0);
        for s in &group {
            assert_eq!(s.local_addr().unwrap(), SocketAddr::V4(addr));
        }
        // A second group, a single server socket or a plain bind: all
        // refused, as a second dkvs-server must be.
        for count in [1, 2] {
            let e = bind_group(addr, 1 << 16, count).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "count {count}");
        }
        assert!(std::net::UdpSocket::bind(addr).is_err());
        // And a group cannot join a port held by a plain socket.
        let plain = bind_udp(SocketAddr::V4(any)).unwrap();
        let SocketAddr::V4(taken) = plain.local_addr().unwrap() else {
            panic!("not v4")
        };
        let e = bind_group(taken, 1 << 16, 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn kernel_drops_of_a_bound_socket() {
        let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let SocketAddr::V4(addr) = socket.local_addr().unwrap() else {
            panic!("not v4")
        };
        assert_eq!(kernel_drops(addr), Some(0));
        drop(socket);
        assert_eq!(kernel_drops(addr), None);
    }
}
