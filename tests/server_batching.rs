//! The batched server (issue 5: `recvmmsg`/`sendmmsg`, `docs/PROFILE.md`)
//! driven as a real process over loopback: a second server on a used port
//! still fails, bursts from many sources are all answered, and a large dump
//! arrives complete and in order while gets are being served.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::protocol::Dump;

/// Starts one `dkvs-server` on a fresh loopback address; returns the guard,
/// the server's handle and address, and the directory of its logs.
fn start_server(procs: &mut Procs) -> (usize, SocketAddrV4, tempfile::TempDir) {
    let ip = loopback_ip();
    let port = free_ports(ip, 1)[0];
    let addr = SocketAddrV4::new(ip, port);
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("server.err");
    let mut cmd = clean_command(SERVER, dir.path());
    cmd.arg(ip.to_string())
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let handle = procs.spawn(format!("dkvs-server {addr}"), &mut cmd);
    wait_ready(procs, handle, addr, &err_path);
    (handle, addr, dir)
}

/// A socket on the server's loopback address with a large receive buffer,
/// reading with a timeout.
fn client_socket(addr: SocketAddrV4) -> UdpSocket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(*addr.ip(), 0)).into())
        .unwrap();
    let socket: UdpSocket = socket.into();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    socket
}

/// Sends `requests` at once from `socket`, then reads until every one of
/// them is answered (retrying the unanswered ones, at most 10 rounds);
/// returns the replies in request order.
fn exchange_all(socket: &UdpSocket, addr: SocketAddrV4, requests: &[Vec<u8>]) -> Vec<Vec<u8>> {
    socket.connect(addr).unwrap();
    let mut replies: Vec<Option<Vec<u8>>> = vec![None; requests.len()];
    let mut buf = vec![0u8; 65536];
    for _ in 0..10 {
        for (r, reply) in requests.iter().zip(&replies) {
            if reply.is_none() {
                socket.send(r).unwrap();
            }
        }
        // Requests are puts `k<i> NUL v<i>` or gets `k<i>`, answered in
        // order; a reply is matched to the first unanswered request.
        while replies.iter().any(Option::is_none) {
            let Ok(n) = socket.recv(&mut buf) else { break };
            if let Some(slot) = replies.iter_mut().find(|r| r.is_none()) {
                *slot = Some(buf[..n].to_vec());
            }
        }
        if replies.iter().all(Option::is_some) {
            break;
        }
    }
    replies
        .into_iter()
        .map(|r| r.expect("every request answered"))
        .collect()
}

#[test]
fn second_server_on_the_same_port_fails_with_address_in_use() {
    let mut procs = Procs::new();
    let (first, addr, dir) = start_server(&mut procs);
    let out = run(
        clean_command(SERVER, dir.path())
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string()),
        RUN_LIMIT,
    );
    out.assert_error(code::FAILED);
    assert!(
        out.stderr.contains("Address already in use"),
        "stderr: {}",
        out.stderr
    );
    assert!(procs.is_running(first));
    assert!(
        probe(addr, Duration::from_secs(2)),
        "the first server still serves"
    );
}

#[test]
fn a_burst_from_twenty_sockets_is_all_answered() {
    let mut procs = Procs::new();
    let (_server, addr, _dir) = start_server(&mut procs);
    let sockets: Vec<UdpSocket> = (0..20).map(|_| client_socket(addr)).collect();
    let puts = |s: usize| -> Vec<Vec<u8>> {
        (0..10)
            .map(|i| format!("k{s}-{i}\0v{s}-{i}").into_bytes())
            .collect()
    };
    // 200 puts in flight at once (10 per socket, all sent before any read).
    std::thread::scope(|scope| {
        let handles: Vec<_> = sockets
            .iter()
            .enumerate()
            .map(|(s, socket)| scope.spawn(move || exchange_all(socket, addr, &puts(s))))
            .collect();
        for h in handles {
            assert!(h.join().unwrap().iter().all(|r| r == b"\0"));
        }
    });
    // Then 200 gets the same way: every value is there.
    std::thread::scope(|scope| {
        let handles: Vec<_> = sockets
            .iter()
            .enumerate()
            .map(|(s, socket)| {
                scope.spawn(move || {
                    let gets: Vec<Vec<u8>> =
                        (0..10).map(|i| format!("k{s}-{i}").into_bytes()).collect();
                    let mut values = exchange_all(socket, addr, &gets);
                    values.sort();
                    let mut want: Vec<Vec<u8>> =
                        (0..10).map(|i| format!("v{s}-{i}").into_bytes()).collect();
                    want.sort();
                    assert_eq!(values, want);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn a_large_dump_arrives_complete_and_in_order_while_gets_are_served() {
    let mut procs = Procs::new();
    let (_server, addr, _dir) = start_server(&mut procs);
    // 6,000 pairs of ~130 bytes: a dump of about 13 datagrams of 64 kB.
    let filler = client_socket(addr);
    let pairs = 6000;
    for chunk in (0..pairs).collect::<Vec<_>>().chunks(100) {
        let puts: Vec<Vec<u8>> = chunk
            .iter()
            .map(|i| format!("key:{i:08}\0{}", "x".repeat(110)).into_bytes())
            .collect();
        assert!(
            exchange_all(&filler, addr, &puts)
                .iter()
                .all(|r| r == b"\0")
        );
    }
    let getter = client_socket(addr);
    getter.connect(addr).unwrap();
    let dumper = client_socket(addr);
    dumper.connect(addr).unwrap();
    let mut dump = Dump::default();
    let mut buf = vec![0u8; 65536];
    let mut attempts = 0;
    while !dump.is_complete() {
        attempts += 1;
        assert!(
            attempts <= 5,
            "no complete dump in 5 attempts: {} pairs",
            dump.pairs.len()
        );
        dump = Dump::default();
        dumper.send(b"").unwrap();
        // Gets from another socket while the dump is being sent.
        for i in 0..20 {
            getter
                .send(format!("key:{:08}", i * 97).as_bytes())
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !dump.is_complete() && Instant::now() < deadline {
            match dumper.recv(&mut buf) {
                Ok(n) => dump.add_datagram(&buf[..n]),
                Err(_) => break,
            }
        }
        let mut answered = 0;
        while answered < 20 {
            let Ok(n) = getter.recv(&mut buf) else { break };
            assert_eq!(n, 110);
            answered += 1;
        }
        assert!(answered > 0, "gets were served during the dump");
    }
    assert_eq!(dump.malformed, 0);
    assert_eq!(dump.pairs.len(), pairs);
    // The listing is sorted by key: in order, nothing missing or repeated.
    for (i, (key, value)) in dump.pairs.iter().enumerate() {
        assert_eq!(key, format!("key:{i:08}").as_bytes());
        assert_eq!(value.len(), 110);
    }
}
