//! Protocol v1 (docs/PROTOCOL-V1.md) from the outside: raw datagrams sent to a real `dkvs-server`
//! and the exact replies it sends back (what a client written in another
//! language relies on).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::*;

/// A raw UDP peer of one server.
struct Peer {
    socket: UdpSocket,
    server: SocketAddrV4,
}

impl Peer {
    fn new(server: SocketAddrV4) -> Peer {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Peer { socket, server }
    }

    /// Sends `request` and returns every datagram the server sends back
    /// until none arrives for 100 ms (at most 3 s in all).
    fn ask(&self, request: &[u8]) -> Vec<Vec<u8>> {
        self.socket.send_to(request, self.server).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    assert_eq!(from, SocketAddr::V4(self.server), "reply from elsewhere");
                    replies.push(buf[..len].to_vec());
                }
                Err(_) if !replies.is_empty() => break,
                Err(_) => {}
            }
        }
        replies
    }

    /// Sends `request` and expects exactly one reply, `reply`.
    #[track_caller]
    fn expect(&self, request: &[u8], reply: &[u8]) {
        let got = self.ask(request);
        assert_eq!(
            got,
            vec![reply.to_vec()],
            "request {:?}",
            String::from_utf8_lossy(&request[..request.len().min(40)])
        );
    }
}

#[test]
fn get_put_replies_are_exact() {
    let mut c = Cluster::new(&[1]);
    c.start(0);
    let p = Peer::new(c.addr(0));
    p.expect(b"k", b"\0"); // absent
    p.expect(b"k\0v", b"\0"); // stored
    p.expect(b"k", b"v");
    p.expect(b"k\0new value", b"\0"); // overwritten
    p.expect(b"k", b"new value");
    p.expect(b"e\0", b"\0"); // an empty value is a value
    p.expect(b"e", b""); // ... sent as an empty datagram
    // Refused puts: empty key, more than one NUL, too long.
    p.expect(b"\0v", b"");
    p.expect(b"\0", b"");
    p.expect(b"a\0b\0c", b"");
    p.expect(b"a\0\0", b"");
    let mut long_key = vec![b'k'; 32754];
    long_key.extend_from_slice(b"\0v");
    p.expect(&long_key, b"");
    let mut long_value = b"k\0".to_vec();
    long_value.extend(std::iter::repeat_n(b'v', 32754));
    p.expect(&long_value, b"");
    p.expect(b"k", b"new value"); // refused puts changed nothing
    // The largest put: 32753 + 1 + 32753 = 65507 bytes.
    let mut max = vec![b'K'; 32753];
    max.push(0);
    max.extend(std::iter::repeat_n(b'V', 32753));
    assert_eq!(max.len(), 65507);
    p.expect(&max, b"\0");
    p.expect(&vec![b'K'; 32753], &vec![b'V'; 32753]);
    // A get of a key longer than any stored key: absent.
    p.expect(&vec![b'x'; 65507], b"\0");
    // Any byte but NUL is fine in keys and values.
    let key: Vec<u8> = (1..=255u8).collect();
    let mut put = key.clone();
    put.push(0);
    put.extend((1..=255u8).rev());
    p.expect(&put, b"\0");
    p.expect(&key, &(1..=255u8).rev().collect::<Vec<_>>());
}

#[test]
fn dump_reply_is_exact() {
    let mut c = Cluster::new(&[1]);
    c.start(0);
    let p = Peer::new(c.addr(0));
    p.expect(b"", b"storing 0 key-value pairs:\n");
    p.expect(b"a\0b", b"\0");
    p.expect(b"cc\0dd", b"\0");
    p.expect(b"e\0", b"\0");
    let reply = p.ask(b"");
    assert_eq!(reply.len(), 1);
    let text = String::from_utf8(reply[0].clone()).unwrap();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.remove(0), "storing 3 key-value pairs:\n");
    lines.sort();
    assert_eq!(lines, ["a --> b\n", "cc --> dd\n", "e --> \n"]);
}

/// A listing too large for one datagram: several datagrams of at most
/// 65507 bytes, the header only in the first, no pair split.
#[test]
fn large_dump_is_split_between_pairs() {
    let mut c = Cluster::new(&[1]);
    let pairs: Vec<(String, String)> = (0..10)
        .map(|i| (format!("key{i}"), format!("{i}").repeat(15_000)))
        .collect();
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    c.start_with(0, &refs);
    let p = Peer::new(c.addr(0));
    let reply = p.ask(b"");
    assert!(reply.len() >= 3, "{} datagrams", reply.len());
    let mut seen = Vec::new();
    for (i, datagram) in reply.iter().enumerate() {
        assert!(datagram.len() <= 65507);
        let text = String::from_utf8(datagram.clone()).unwrap();
        assert!(text.ends_with('\n'), "datagram {i} splits a line");
        for (j, line) in text.lines().enumerate() {
            if i == 0 && j == 0 {
                assert_eq!(line, "storing 10 key-value pairs:");
                continue;
            }
            let (k, v) = line.split_once(" --> ").expect("a pair line");
            seen.push((k.to_string(), v.to_string()));
        }
    }
    seen.sort();
    let mut want = pairs.clone();
    want.sort();
    assert_eq!(seen, want);
}

/// Replies go to the requester's address, whichever it is: two peers
/// asking at once each get their own answer.
#[test]
fn replies_go_to_each_requester() {
    let mut c = Cluster::new(&[1]);
    c.start_with(0, &[("one", "1"), ("two", "2")]);
    let a = Peer::new(c.addr(0));
    let b = Peer::new(c.addr(0));
    for _ in 0..20 {
        a.socket.send_to(b"one", a.server).unwrap();
        b.socket.send_to(b"two", b.server).unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = a.socket.recv_from(&mut buf).expect("a reply to a");
        assert_eq!(&buf[..n], b"1");
        let (n, _) = b.socket.recv_from(&mut buf).expect("a reply to b");
        assert_eq!(&buf[..n], b"2");
    }
}
