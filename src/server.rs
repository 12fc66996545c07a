//! The UDP server: one socket, several worker tasks, one [`Store`].
//!
//! Threading: the server runs on a multi-threaded tokio runtime with one
//! worker thread per core, and spawns one receive loop per core. All loops
//! share a single socket: the kernel hands each datagram to exactly one
//! waiting loop, so every core serves. We deliberately do not open one socket
//! per core with `SO_REUSEPORT`: that option would also let a second,
//! mistakenly started `dkvs-server` bind the same port and silently take half
//! of the traffic. With one socket, a second server gets "address in use".
//!
//! Handling a request ([`respond`]) is a pure function of the store and the
//! datagram, so it is tested without sockets; a malformed datagram gets the
//! v1 refusal and never disturbs other requests.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::protocol::{self, Request};
use crate::store::Store;

/// What the server sends back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// One datagram (get and put replies).
    One(Bytes),
    /// Several datagrams (a dump).
    Many(Vec<Vec<u8>>),
}

/// Computes the reply to one request datagram, applying it to `store`.
pub fn respond(store: &Store, datagram: &[u8]) -> Response {
    match protocol::parse_request(datagram) {
        Ok(Request::Get { key }) => match store.get(key) {
            Some(value) => Response::One(value),
            None => Response::One(Bytes::from_static(protocol::REPLY_NOT_FOUND)),
        },
        Ok(Request::Put { key, value }) => {
            store.put(key, value);
            Response::One(Bytes::from_static(protocol::REPLY_STORED))
        }
        Ok(Request::Dump) => {
            let pairs = store.snapshot();
            let datagrams =
                protocol::encode_dump(pairs.len(), pairs.iter().map(|(k, v)| (&k[..], &v[..])));
            Response::Many(datagrams)
        }
        Err(reason) => {
            tracing::debug!(%reason, "refused put");
            Response::One(Bytes::from_static(protocol::REPLY_REFUSED))
        }
    }
}

/// Socket receive buffer asked for, so bursts of requests are not dropped.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// Opens a UDP socket bound to `addr` with a large receive buffer. No
/// `SO_REUSEADDR`/`SO_REUSEPORT`: a port in use is an error.
pub fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(RECV_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    socket: Arc<UdpSocket>,
    store: Arc<Store>,
    workers: usize,
}

impl Server {
    /// Binds `addr`. Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddrV4) -> io::Result<Server> {
        let socket = UdpSocket::from_std(bind_udp(SocketAddr::V4(addr))?)?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Server {
            socket: Arc::new(socket),
            store: Arc::new(Store::new()),
            workers,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The server's store (to preload pairs, or to inspect in tests).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let loops: Vec<_> = (0..self.workers)
            .map(|_| {
                tokio::spawn(serve_loop(
                    Arc::clone(&self.socket),
                    Arc::clone(&self.store),
                ))
            })
            .collect();
        shutdown.await;
        for l in &loops {
            l.abort();
        }
        for l in loops {
            let _ = l.await;
        }
    }
}

async fn serve_loop(socket: Arc<UdpSocket>, store: Arc<Store>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors from earlier sends can surface here; they are
                // about some other peer, so they never stop the server.
                tracing::debug!(error = %e, "receive error");
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                continue;
            }
        };
        let response = respond(&store, &buf[..len]);
        tracing::trace!(%peer, len, "request");
        let result = match &response {
            Response::One(d) => socket.send_to(d, peer).await.map(drop),
            Response::Many(ds) => {
                let mut r = Ok(());
                for d in ds {
                    r = socket.send_to(d, peer).await.map(drop);
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "send failed");
        }
    }
}

/// What `dkvs-server` was asked to do: an address and initial pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Address to bind.
    pub addr: SocketAddrV4,
    /// Pairs stored at start, as if put.
    pub initial: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ServeOptions {
    /// Checks the command line's trailing `<key> <value>` words.
    pub fn new(
        ip: std::net::Ipv4Addr,
        port: u16,
        words: Vec<std::ffi::OsString>,
    ) -> Result<ServeOptions, String> {
        use std::os::unix::ffi::OsStringExt;
        if !words.len().is_multiple_of(2) {
            return Err(format!(
                "initial pairs come as <key> <value>; got an odd number of words ({}), the last key has no value",
                words.len()
            ));
        }
        let mut initial = Vec::with_capacity(words.len() / 2);
        let mut words = words.into_iter().map(OsStringExt::into_vec);
        while let (Some(key), Some(value)) = (words.next(), words.next()) {
            protocol::check_key(&key)
                .and_then(|_| protocol::check_value(&value))
                .map_err(|e| format!("initial pair {:?}: {e}", String::from_utf8_lossy(&key)))?;
            initial.push((key, value));
        }
        Ok(ServeOptions {
            addr: SocketAddrV4::new(ip, port),
            initial,
        })
    }
}

/// Runs a server as `dkvs-server` does: binds, stores the initial pairs,
/// serves until SIGINT/SIGTERM. Errors are ready to print.
pub fn serve_until_signal(options: ServeOptions) -> Result<(), String> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().map_err(|e| format!("cannot watch signals: {e}"))?;
        let server = Server::bind(options.addr).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::AddrInUse {
                " (is another server already running on this port?)"
            } else if e.kind() == io::ErrorKind::AddrNotAvailable {
                " (this machine has no such address)"
            } else {
                ""
            };
            format!("cannot bind UDP {}: {e}{hint}", options.addr)
        })?;
        for (key, value) in &options.initial {
            server.store().put(key, value);
        }
        tracing::info!(addr = %options.addr, pairs = options.initial.len(), "serving");
        server.run(shutdown).await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Registers SIGINT and SIGTERM at once (so a signal that arrives while the
/// server is still starting is not lost) and returns a future that completes
/// on the first of them.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respond_cases() {
        let s = Store::new();
        assert_eq!(respond(&s, b"k"), Response::One(Bytes::from_static(b"\0")));
        assert_eq!(
            respond(&s, b"k\0v"),
            Response::One(Bytes::from_static(b"\0"))
        );
        assert_eq!(respond(&s, b"k"), Response::One(Bytes::from_static(b"v")));
        assert_eq!(
            respond(&s, b"e\0"),
            Response::One(Bytes::from_static(b"\0"))
        );
        assert_eq!(respond(&s, b"e"), Response::One(Bytes::from_static(b"")));
        assert_eq!(respond(&s, b"\0x"), Response::One(Bytes::new()));
        assert_eq!(respond(&s, b"a\0b\0c"), Response::One(Bytes::new()));
        assert_eq!(
            respond(&s, b""),
            Response::Many(vec![
                b"storing 2 key-value pairs:\ne --> \nk --> v\n".to_vec()
            ])
        );
    }
}
