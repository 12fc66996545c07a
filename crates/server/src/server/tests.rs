//! Tests of a running server (its sockets, loops and restarts), and the
//! test hooks that make request handling or a receive loop panic on a
//! chosen datagram (`Shared::hooks`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use super::{Limits, Server, Stats};

/// Test-only hooks that make the server panic on a chosen datagram,
/// inside request handling or in the receive loop itself.
#[derive(Debug, Default)]
pub(super) struct Hooks {
    pub handler_panic: Option<&'static [u8]>,
    pub loop_panic: Option<&'static [u8]>,
}

impl Hooks {
    pub(super) fn check(&self, datagram: &[u8], in_loop: bool) {
        let key = if in_loop {
            self.loop_panic
        } else {
            self.handler_panic
        };
        if key == Some(datagram) {
            panic!(
                "test hook: panic on {:?}",
                String::from_utf8_lossy(datagram)
            );
        }
    }
}

/// Runs a one-loop server with `hooks` on 127.0.0.1, and returns a
/// client socket connected to it, the stats and the stop sender.
fn start_with_hooks(
    runtime: &tokio::runtime::Runtime,
    hooks: Hooks,
) -> (
    std::net::UdpSocket,
    Arc<Stats>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut server = runtime
        .block_on(async { Server::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)) })
        .unwrap();
    server.loops = 1;
    Arc::get_mut(&mut server.shared).unwrap().hooks = hooks;
    let addr = server.local_addr().unwrap();
    let stats = server.stats_handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = runtime.spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    client.connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    (client, stats, stop, task)
}

/// Sends `request` until a reply comes (at most 25 tries).
fn ask(client: &std::net::UdpSocket, request: &[u8]) -> Option<Vec<u8>> {
    let mut buf = [0u8; 65536];
    for _ in 0..25 {
        client.send(request).unwrap();
        if let Ok(n) = client.recv(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// Whether `f` becomes true within 5 s.
fn eventually(f: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn a_socket_per_core_server_answers_every_source() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(async {
            Server::bind_sockets(
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
                Limits::default(),
                true,
            )
        })
        .unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    assert_eq!(server.socket_count(), cores);
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = runtime.spawn(server.run(async move {
        let _ = stopped.await;
    }));
    // Sources on many ports, so the kernel spreads them over the group.
    for i in 0..16 {
        let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let put = format!("k{i}\0v{i}");
        assert_eq!(ask(&client, put.as_bytes()).unwrap(), b"\0");
        let get = format!("k{}", i / 2);
        assert_eq!(
            ask(&client, get.as_bytes()).unwrap(),
            format!("v{}", i / 2).as_bytes()
        );
    }
    stop.send(()).unwrap();
    runtime.block_on(task).unwrap();
}

#[test]
fn panic_in_handler_is_contained() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hooks = Hooks {
        handler_panic: Some(b"boom"),
        loop_panic: None,
    };
    let (client, stats, stop, task) = start_with_hooks(&runtime, hooks);
    assert_eq!(ask(&client, b"k\0v").unwrap(), b"\0");
    client.send(b"boom").unwrap();
    assert_eq!(ask(&client, b"k").unwrap(), b"v");
    // (A late duplicate reply may have answered before "boom" was read.)
    assert!(eventually(|| stats.snapshot().panics == 1));
    assert_eq!(stats.snapshot().restarts, 0);
    stop.send(()).unwrap();
    runtime.block_on(task).unwrap();
}

#[test]
fn panicked_receive_loop_is_restarted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hooks = Hooks {
        handler_panic: None,
        loop_panic: Some(b"crash"),
    };
    let (client, stats, stop, task) = start_with_hooks(&runtime, hooks);
    assert_eq!(ask(&client, b"k\0v").unwrap(), b"\0");
    client.send(b"crash").unwrap();
    // The only loop died; its replacement answers.
    assert_eq!(ask(&client, b"k").unwrap(), b"v");
    client.send(b"crash").unwrap();
    assert_eq!(ask(&client, b"k").unwrap(), b"v");
    assert!(eventually(|| stats.snapshot().restarts == 2));
    stop.send(()).unwrap();
    runtime.block_on(task).unwrap();
}
