//! Batched UDP I/O for the server: many datagrams per system call.
//!
//! Under load the server's time goes into the kernel's UDP path, and one
//! `recvfrom` plus one `sendto` per request pays the system-call entry and
//! exit, the file lookup and the socket locking for every datagram.
//! [`RecvBatch`] takes up to [`BATCH`] waiting datagrams with one
//! `recvmmsg(2)`, and [`SendQueue`] sends queued replies, up to [`BATCH`]
//! per `sendmmsg(2)`, strictly in queue order (`docs/PROFILE.md` measures
//! what it saves).
//!
//! Both calls are non-blocking (`MSG_DONTWAIT`): they fit tokio's readiness
//! model (`UdpSocket::async_io`), and report `WouldBlock` when there is
//! nothing to read or the send buffer is full. A [`SendQueue`] that meets a
//! full send buffer keeps what is left, in order, for the next call — a
//! dump of many datagrams is never cut short, it waits for writability.
//!
//! Buffers live as long as the receive loop that owns them: a [`RecvBatch`]
//! holds [`BATCH`] datagram buffers of [`DATAGRAM_CAPACITY`] bytes (pages
//! the kernel never writes to are never touched), a [`SendQueue`] keeps its
//! capacity. The system-call headers are built on the stack for each call,
//! so these types hold no raw pointers and stay `Send`.
//!
//! IPv4 only, like the server (cluster addresses are IPv4).
//!
//! `nix` 0.32 wraps both calls, but its `sendmmsg` result cannot say how
//! many datagrams were sent without reading address slots that a send never
//! initialises, and its reusable header block holds raw pointers (not
//! `Send`, so it cannot live in a tokio task across an `.await`); hence the
//! two direct `libc` calls below, each with its soundness argument.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};

use bytes::Bytes;
use nix::libc;

/// Datagrams per system call at most.
pub const BATCH: usize = 32;

/// Bytes of one receive buffer: more than the largest UDP payload over
/// IPv4 (65,507), so no datagram is ever truncated.
pub const DATAGRAM_CAPACITY: usize = 1 << 16;

/// An all-zero `sockaddr_in`, to be filled by the kernel or by us.
fn empty_sockaddr() -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: 0,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: 0 },
        sin_zero: [0; 8],
    }
}

fn to_sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr(addr: &libc::sockaddr_in) -> SocketAddrV4 {
    if i32::from(addr.sin_family) != libc::AF_INET {
        return SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    }
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
        u16::from_be(addr.sin_port),
    )
}

/// A block of `BATCH` zeroed `mmsghdr`s.
fn zeroed_headers() -> [libc::mmsghdr; BATCH] {
    // SAFETY: `mmsghdr` is a plain C struct of integers and raw pointers
    // (no references, no enums, no `NonNull`), for which the all-zero bit
    // pattern is a valid value: null pointers and zero lengths.
    unsafe { std::mem::zeroed() }
}

/// Up to [`BATCH`] received datagrams and their sources, with the buffers
/// they were received into (reused by every [`RecvBatch::recv`]).
pub struct RecvBatch {
    buffers: Box<[u8]>,
    lens: [usize; BATCH],
    peers: [SocketAddrV4; BATCH],
    count: usize,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl Default for RecvBatch {
    fn default() -> RecvBatch {
        RecvBatch::new()
    }
}

impl RecvBatch {
    /// Empty, with its buffers allocated (zeroed lazily by the kernel).
    pub fn new() -> RecvBatch {
        RecvBatch {
            buffers: vec![0u8; BATCH * DATAGRAM_CAPACITY].into_boxed_slice(),
            lens: [0; BATCH],
            peers: [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); BATCH],
            count: 0,
        }
    }

    /// Receives the datagrams waiting on `socket` (at most [`BATCH`]) with
    /// one non-blocking `recvmmsg`, replacing the previous batch. Returns
    /// how many; `WouldBlock` when none is waiting.
    pub fn recv(&mut self, socket: &impl AsFd) -> io::Result<usize> {
        self.count = 0;
        let mut chunks = self.buffers.chunks_exact_mut(DATAGRAM_CAPACITY);
        let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|_| match chunks.next() {
            Some(chunk) => libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            },
            None => libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
        });
        let mut names = [empty_sockaddr(); BATCH];
        let mut headers = zeroed_headers();
        for ((header, iovec), name) in headers.iter_mut().zip(&mut iovecs).zip(&mut names) {
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_name = (name as *mut libc::sockaddr_in).cast();
            header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        }
        // SAFETY: `headers` holds BATCH initialised headers, and BATCH is
        // the count passed. Each header points to one `iovec` of `iovecs`,
        // which describes a distinct DATAGRAM_CAPACITY-byte chunk of
        // `self.buffers` (exclusively borrowed through `&mut self`, so
        // nothing else reads or writes it meanwhile), and to one
        // `sockaddr_in` of `names` with its exact size in `msg_namelen`;
        // there is no control buffer (null, length 0). The kernel writes
        // only inside those regions, and they all outlive the call. The
        // timeout pointer may be null, and MSG_DONTWAIT makes the call
        // return at once instead of blocking the runtime's thread.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_fd().as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
        let received = received.min(BATCH);
        for ((len, peer), (header, name)) in self
            .lens
            .iter_mut()
            .zip(self.peers.iter_mut())
            .zip(headers.iter().zip(&names))
            .take(received)
        {
            *len = (header.msg_len as usize).min(DATAGRAM_CAPACITY);
            *peer = from_sockaddr(name);
        }
        self.count = received;
        Ok(received)
    }

    /// Datagrams of the last batch received.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last batch received was empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The datagrams of the last batch and their sources, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddrV4)> {
        self.buffers
            .chunks_exact(DATAGRAM_CAPACITY)
            .zip(self.lens.iter().zip(&self.peers))
            .take(self.count)
            .map(|(chunk, (&len, &peer))| (chunk.get(..len).unwrap_or_default(), peer))
    }
}

/// Replies waiting to be sent, in order, each to its destination.
#[derive(Debug, Default)]
pub struct SendQueue {
    pending: VecDeque<(Bytes, SocketAddrV4)>,
    refused: u64,
}

/// A queue whose capacity grew beyond this (a large dump) gives the memory
/// back once it is empty.
const KEEP_CAPACITY: usize = 4096;

impl SendQueue {
    /// An empty queue.
    pub fn new() -> SendQueue {
        SendQueue::default()
    }

    /// Queues `datagram` for `peer` (nothing is copied: `Bytes` is shared).
    pub fn push(&mut self, datagram: Bytes, peer: SocketAddrV4) {
        self.pending.push_back((datagram, peer));
    }

    /// Datagrams not yet sent.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether everything queued was sent.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Datagrams the kernel refused so far (dropped, see [`SendQueue::send`]).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Sends the queue on `socket`, oldest first, up to [`BATCH`] datagrams
    /// per non-blocking `sendmmsg`. `Ok` once the queue is empty;
    /// `WouldBlock` when the socket's send buffer is full, with the unsent
    /// datagrams kept in order for the next call. A datagram the kernel
    /// refuses for any other reason (e.g. a firewall's `EPERM`) is dropped,
    /// counted in [`SendQueue::refused`], and the rest are sent.
    pub fn send(&mut self, socket: &impl AsFd) -> io::Result<()> {
        let fd = socket.as_fd().as_raw_fd();
        while !self.pending.is_empty() {
            let sent = {
                let (front, back) = self.pending.as_slices();
                let chunk = if front.is_empty() { back } else { front };
                let chunk = chunk.get(..chunk.len().min(BATCH)).unwrap_or_default();
                send_chunk(fd, chunk)
            };
            match sent {
                // Never seen (a send of at least one datagram either sends
                // some or fails), but if it happened, dropping the first
                // datagram keeps this loop from spinning.
                Ok(0) => {
                    self.pending.pop_front();
                    self.refused += 1;
                }
                Ok(n) => {
                    self.pending.drain(..n.min(self.pending.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let dropped = self.pending.pop_front();
                    self.refused += 1;
                    tracing::debug!(
                        peer = ?dropped.map(|(_, p)| p),
                        error = %e,
                        "send refused; datagram dropped"
                    );
                }
            }
        }
        if self.pending.capacity() > KEEP_CAPACITY {
            self.pending.shrink_to(KEEP_CAPACITY);
        }
        Ok(())
    }
}

/// One `sendmmsg` of `chunk` (at most [`BATCH`] datagrams): how many were
/// sent, or the error of the first one.
fn send_chunk(fd: std::os::fd::RawFd, chunk: &[(Bytes, SocketAddrV4)]) -> io::Result<usize> {
    let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|_| libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    });
    let mut names = [empty_sockaddr(); BATCH];
    let mut headers = zeroed_headers();
    let mut count = 0;
    for (((header, iovec), name), (datagram, peer)) in headers
        .iter_mut()
        .zip(&mut iovecs)
        .zip(&mut names)
        .zip(chunk)
    {
        // The kernel only reads through `iov_base` in a send; the cast to
        // `*mut` is what the C type asks for.
        iovec.iov_base = datagram.as_ptr().cast_mut().cast();
        iovec.iov_len = datagram.len();
        *name = to_sockaddr(*peer);
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
        header.msg_hdr.msg_name = (name as *mut libc::sockaddr_in).cast();
        header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        count += 1;
    }
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: the first `count` (≤ BATCH) headers are initialised, and
    // `count` is the number passed. Each points to one `iovec` describing
    // the bytes of one `Bytes` of `chunk` — borrowed for the whole call, so
    // neither freed nor changed meanwhile, and only read by the kernel —
    // and to one `sockaddr_in` of `names` with its exact size; no control
    // buffer (null, length 0). Everything outlives the call; the kernel
    // writes only the headers' `msg_len`. MSG_DONTWAIT: never blocks.
    let sent = unsafe {
        libc::sendmmsg(
            fd,
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Duration;

    fn v4(s: &UdpSocket) -> SocketAddrV4 {
        match s.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => panic!("v6"),
        }
    }

    #[test]
    fn receives_a_batch_with_sources_and_empty_datagrams() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::new();
        assert_eq!(
            batch.recv(&server).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        a.send_to(b"one", v4(&server)).unwrap();
        b.send_to(b"", v4(&server)).unwrap();
        a.send_to(&[7u8; 65507], v4(&server)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(batch.recv(&server).unwrap(), 3);
        let got: Vec<(Vec<u8>, SocketAddrV4)> =
            batch.iter().map(|(d, p)| (d.to_vec(), p)).collect();
        assert_eq!(got[0], (b"one".to_vec(), v4(&a)));
        assert_eq!(got[1], (Vec::new(), v4(&b)));
        assert_eq!(got[2], (vec![7u8; 65507], v4(&a)));
    }

    #[test]
    fn at_most_a_batch_per_call() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..(BATCH + 5) {
            a.send_to(format!("{i}").as_bytes(), v4(&server)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(&server).unwrap(), BATCH);
        assert_eq!(batch.recv(&server).unwrap(), 5);
        let last: Vec<Vec<u8>> = batch.iter().map(|(d, _)| d.to_vec()).collect();
        assert_eq!(last[0], format!("{BATCH}").as_bytes());
    }

    #[test]
    fn sends_everything_in_order_across_batches() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut queue = SendQueue::new();
        for i in 0..100u32 {
            queue.push(Bytes::from(i.to_string()), v4(&a));
            if i % 10 == 0 {
                queue.push(Bytes::from_static(b"b"), v4(&b));
            }
        }
        queue.send(&server).unwrap();
        assert!(queue.is_empty());
        let mut buf = [0u8; 100];
        for i in 0..100u32 {
            let n = a.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], i.to_string().as_bytes());
        }
        for _ in 0..10 {
            assert_eq!(b.recv(&mut buf).unwrap(), 1);
        }
    }

    #[test]
    fn large_datagrams_to_one_peer_arrive_complete_and_in_order() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sink = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let _ = sink.set_recv_buffer_size(4 << 20);
        sink.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let sink: UdpSocket = sink.into();
        sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // 40 datagrams of 60 kB: two system calls, within the sink's buffer.
        let total = 40u32;
        let mut queue = SendQueue::new();
        for i in 0..total {
            let mut d = vec![0u8; 60_000];
            d[..4].copy_from_slice(&i.to_be_bytes());
            queue.push(Bytes::from(d), v4(&sink));
        }
        for _ in 0..1000 {
            match queue.send(&server) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(queue.is_empty());
        assert_eq!(queue.refused(), 0);
        let mut buf = vec![0u8; 65536];
        for i in 0..total {
            let n = sink.recv(&mut buf).unwrap();
            assert_eq!(n, 60_000);
            assert_eq!(u32::from_be_bytes(buf[..4].try_into().unwrap()), i);
        }
    }
}
