//! The parallel quorum and the address rule of docs/CLI.md, against fake servers
//! (UDP sockets owned by the test) mixed with real `dkvs-server`s:
//!
//! - a server that never answers, first on a key's list, does not delay a
//!   quorum the others can meet (proof that all N requests go out at once);
//! - replies from an address that is not one of the operation's N servers,
//!   or repeated replies from one server, never count.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::common::*;

/// A ring of two real servers and one silent fake, one node each; the fake
/// is server index 2.
fn two_real_one_silent() -> (Cluster, FakeServer) {
    let ip = loopback_ip();
    let ports = free_ports(ip, 2);
    let silent = FakeServer::silent(bind_socket(ip));
    let servers = vec![
        (ip, ports[0], 1),
        (ip, ports[1], 1),
        (ip, silent.addr.port(), 1),
    ];
    let mut c = Cluster::from_servers(servers, Format::ServersTxt, "");
    c.start(0);
    c.start(1);
    (c, silent)
}

#[test]
fn silent_first_server_does_not_delay_the_quorum() {
    let (c, silent) = two_real_one_silent();
    let key = c.find_key("fan", 3, |r| r[0] == 2);

    let put = c.client(&["put", "-t", "3000", "-n", "3", "-w", "2", "--", &key, "v1"]);
    put.assert_stdout("OK\n");
    assert!(
        put.elapsed < Duration::from_millis(1500),
        "put waited for the silent first server: {put}"
    );

    let get = c.client(&["get", "-t", "3000", "-n", "3", "-r", "2", "--", &key]);
    get.assert_stdout("OK v1\n");
    assert!(
        get.elapsed < Duration::from_millis(1500),
        "get waited for the silent first server: {get}"
    );

    // The defaults (N=3, W=R=2) behave the same.
    let get = c.client(&["get", "-t", "3000", "--", &key]);
    get.assert_stdout("OK v1\n");
    assert!(get.elapsed < Duration::from_millis(1500), "{get}");

    // And the silent server was asked every time.
    assert!(silent.stop() >= 3, "the silent server was not contacted");
}

/// The silent server second on the list changes nothing either, and an
/// operation that needs it fails at the deadline, not before.
#[test]
fn silent_server_needed_means_failure_at_deadline() {
    let (c, silent) = two_real_one_silent();
    let key = c.find_key("need", 3, |r| r[1] == 2);
    c.client(&["put", "-t", "3000", "--", &key, "v"])
        .assert_stdout("OK\n");
    let out = c.client(&["get", "-t", "600", "-r", "3", "--", &key]);
    out.assert_fail(code::QUORUM);
    assert!(out.elapsed >= Duration::from_millis(600), "{out}");
    drop(silent);
}

/// A one-server ring whose server is a fake that answers through `reply`.
fn one_fake(
    reply: impl FnMut(&std::net::UdpSocket, &[u8], std::net::SocketAddr) + Send + 'static,
    socket: std::net::UdpSocket,
) -> (Cluster, FakeServer) {
    let ip = socket.local_addr().unwrap().ip();
    let std::net::IpAddr::V4(ip) = ip else {
        unreachable!()
    };
    let fake = FakeServer::spawn(socket, reply);
    let c = Cluster::from_servers(vec![(ip, fake.addr.port(), 1)], Format::ServersTxt, "");
    (c, fake)
}

#[test]
fn reply_from_a_foreign_port_is_ignored() {
    let ip = loopback_ip();
    let foreign = bind_socket(ip);
    // Only the foreign port answers: the get must time out.
    let (c, fake) = one_fake(
        move |_, _, from| {
            foreign.send_to(b"evil", from).unwrap();
        },
        bind_socket(ip),
    );
    c.get(&["-t", "500"], "k").assert_fail(code::QUORUM);
    // A put acknowledged only from the foreign port fails too.
    c.client(&["put", "-t", "500", "--", "k", "v"])
        .assert_fail(code::QUORUM);
    // Two operations, each resent to the silent server on the client's
    // retransmission schedule (the course design fixes no number of copies).
    let copies = copies_within(Duration::from_millis(500));
    let received = fake.stop();
    assert!((2..=2 * copies).contains(&received), "{received} requests");
}

/// How many copies of a request the client sends to a server that never
/// answers, within `deadline` (the first send plus its resends).
fn copies_within(deadline: Duration) -> usize {
    1 + dkvs::client::RetryPolicy::DEFAULT.schedule(deadline).len()
}

#[test]
fn foreign_reply_before_the_real_one_is_skipped() {
    let ip = loopback_ip();
    let foreign = bind_socket(ip);
    let (c, _fake) = one_fake(
        move |server, request, from| {
            let (bad, good): (&[u8], &[u8]) = if request.contains(&0) {
                (b"", b"\0") // a refusal from the foreign port, then stored
            } else {
                (b"evil", b"good")
            };
            foreign.send_to(bad, from).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            server.send_to(good, from).unwrap();
        },
        bind_socket(ip),
    );
    c.get(&["-t", "3000"], "k").assert_stdout("OK good\n");
    c.client(&["put", "-t", "3000", "--", "k", "v"])
        .assert_stdout("OK\n");
}

/// The foreign reply comes from another server of the ring, one that is not
/// among this operation's N: it still does not count.
#[test]
fn reply_from_a_ring_server_outside_the_n_is_ignored() {
    let ip = loopback_ip();
    let outsider = bind_socket(ip);
    let outsider_port = outsider.local_addr().unwrap().port();
    let outsider_clone = outsider.try_clone().unwrap();
    let target = bind_socket(ip);
    let target_port = target.local_addr().unwrap().port();
    let target_fake = FakeServer::spawn(target, move |_, _, from| {
        outsider_clone.send_to(b"evil", from).unwrap();
    });
    let outsider_fake = FakeServer::silent(outsider);
    let c = Cluster::from_servers(
        vec![(ip, target_port, 1), (ip, outsider_port, 1)],
        Format::ServersTxt,
        "",
    );
    let key = c.find_key("out", 1, |r| r[0] == 0);
    c.get(&["-n", "1", "-t", "500"], &key)
        .assert_fail(code::QUORUM);
    let received = target_fake.stop();
    assert!(
        (1..=copies_within(Duration::from_millis(500))).contains(&received),
        "{received} requests"
    );
    assert_eq!(outsider_fake.stop(), 0, "n=1 must contact one server only");
}

/// A server that answers twice counts once: R=2 needs two distinct servers.
#[test]
fn duplicate_replies_count_once() {
    let ip = loopback_ip();
    let chatty = FakeServer::spawn(bind_socket(ip), |socket, _, from| {
        for _ in 0..3 {
            socket.send_to(b"same", from).unwrap();
        }
    });
    let silent = FakeServer::silent(bind_socket(ip));
    let c = Cluster::from_servers(
        vec![(ip, chatty.addr.port(), 1), (ip, silent.addr.port(), 1)],
        Format::ServersTxt,
        "",
    );
    c.get(&["-n", "2", "-r", "2", "-t", "500"], "k")
        .assert_fail(code::QUORUM);
    c.get(&["-n", "2", "-r", "1", "-t", "3000"], "k")
        .assert_stdout("OK same\n");
    // Put acknowledgements likewise.
    c.client(&["put", "-n", "2", "-w", "2", "-t", "500", "--", "k", "v"])
        .assert_fail(code::QUORUM);
}

/// A server that answers garbage to a put (neither NUL nor empty) is not an
/// acknowledgement; one that answers NUL to a get is "not found".
#[test]
fn malformed_replies_do_not_count() {
    let ip = loopback_ip();
    let fake = FakeServer::spawn(bind_socket(ip), |socket, request, from| {
        if request.contains(&0) {
            socket.send_to(b"yes!", from).unwrap();
        } else {
            socket.send_to(b"\0", from).unwrap();
        }
    });
    let c = Cluster::from_servers(
        vec![(Ipv4Addr::from(fake.addr.ip().octets()), fake.addr.port(), 1)],
        Format::ServersTxt,
        "",
    );
    let put = c.client(&["put", "-t", "2000", "--", "k", "v"]);
    assert_ne!(put.code, Some(0), "{put}");
    assert_eq!(put.stdout, "FAIL\n", "{put}");
    put.assert_one_error_line();
    c.get(&["-t", "2000"], "k").assert_fail(code::NOT_FOUND);
}

/// The client's requests are exactly the §4 datagrams (nothing
/// NUL-terminated), and each operation uses its own socket.
#[test]
fn client_requests_are_exact_v1_datagrams() {
    use std::sync::{Arc, Mutex};
    let ip = loopback_ip();
    type Log = Vec<(Vec<u8>, std::net::SocketAddr)>;
    let seen: Arc<Mutex<Log>> = Arc::default();
    let log = seen.clone();
    let fake = FakeServer::spawn(bind_socket(ip), move |socket, request, from| {
        log.lock().unwrap().push((request.to_vec(), from));
        let reply: &[u8] = match request {
            b"hay" => b"a needle in a haystack",
            b"needle" => b"needle",
            _ => b"\0", // stored, or not found
        };
        socket.send_to(reply, from).unwrap();
    });
    let c = Cluster::from_servers(vec![(ip, fake.addr.port(), 1)], Format::ServersTxt, "");
    c.put_ok(&[], "key", "value with spaces");
    c.put_ok(&[], "k", "");
    c.get(&[], "absent").assert_fail(code::NOT_FOUND);
    c.client(&["find", "--", "hay", "needle"])
        .assert_stdout("OK 2\n");
    drop(fake);
    let seen = seen.lock().unwrap();
    // A slow reply may have let the client resend a request: a resend is the
    // same datagram from the same socket, so copies are folded.
    let mut seen = seen.clone();
    // Protocol v2 first asks in v2 (PROTOCOL.md, "Telling v1 from v2"):
    // this fake is v1-only, so those datagrams are refused and every
    // operation goes out again in v1. The v1 requests are the §4 ones.
    seen.retain(|(r, _)| dkvs::protocol_v2::dialect(r) == dkvs::protocol_v2::Dialect::V1);
    seen.dedup();
    let requests: Vec<&[u8]> = seen.iter().map(|(r, _)| r.as_slice()).collect();
    assert_eq!(
        requests,
        [
            &b"key\0value with spaces"[..],
            b"k\0",
            b"absent",
            b"hay",
            b"needle"
        ]
    );
    // The two reads of `find` came from two different sockets.
    assert_ne!(seen[3].1, seen[4].1, "one socket per operation");
}

/// A put refused by the servers (empty reply) fails with its own exit code.
#[test]
fn refused_put_fails() {
    let ip = loopback_ip();
    let fake = FakeServer::spawn(bind_socket(ip), |socket, _, from| {
        socket.send_to(b"", from).unwrap();
    });
    let c = Cluster::from_servers(vec![(ip, fake.addr.port(), 1)], Format::ServersTxt, "");
    let out = c.client(&["put", "-t", "3000", "--", "k", "v"]);
    out.assert_fail(code::FAILED);
    // Refused is known at once: no waiting for the deadline.
    assert!(
        out.elapsed < std::time::Duration::from_millis(1500),
        "{out}"
    );
}
