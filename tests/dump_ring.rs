//! `dkvs-dump-ring` (docs/CLI.md): the exact output of `dkvs-dump-ring`, on real servers.
//!
//! Expected ring listings are computed here from SHA-1 directly (not with the
//! library's ring), so these tests check the ring independently. The order
//! of pairs inside one server's listing is not specified; it is normalised
//! (sorted) before comparing, everything else is compared byte for byte.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::common::*;
use sha1::{Digest, Sha1};

/// `(hex position, server index)` of every node, in ring order.
fn ring_order(servers: &[(Ipv4Addr, u16, u32)]) -> Vec<(String, usize)> {
    let mut nodes: Vec<(String, usize)> = servers
        .iter()
        .enumerate()
        .flat_map(|(index, (ip, port, nodes))| {
            (1..=*nodes).map(move |i| {
                let digest = Sha1::digest(format!("{ip} {port} {i}").as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                (hex, index)
            })
        })
        .collect();
    nodes.sort();
    nodes
}

/// The §7 text for `servers`, where `contents(server)` gives a server's
/// listing (`None` = it does not answer).
fn expected_dump(
    servers: &[(Ipv4Addr, u16, u32)],
    contents: impl Fn(usize) -> Option<Vec<(String, String)>>,
) -> String {
    let nodes = ring_order(servers);
    let mut s = String::from("Ring nodes:\n");
    for (hex, server) in &nodes {
        let (ip, port, _) = servers[*server];
        s.push_str(&format!("{hex} ({ip} {port})\n"));
    }
    let mut first_seen: Vec<Option<usize>> = vec![None; servers.len()];
    for (index, (_, server)) in nodes.iter().enumerate() {
        let (ip, port, _) = servers[*server];
        s.push_str(&format!("\n{ip}:{port}:"));
        if let Some(first) = first_seen[*server] {
            s.push_str(&format!(" node {index} has same server as node {first}\n"));
            continue;
        }
        first_seen[*server] = Some(index);
        s.push('\n');
        if let Some(pairs) = contents(*server) {
            s.push_str(&format!("storing {} key-value pairs:\n", pairs.len()));
            for (k, v) in pairs {
                s.push_str(&format!("{k} --> {v}\n"));
            }
        }
    }
    s
}

/// Sorts the pair lines that follow each `storing …` line, up to the next
/// empty line, so that listings compare independently of pair order.
fn normalise(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    let mut in_pairs = false;
    let flush = |block: &mut Vec<String>, out: &mut Vec<String>| {
        block.sort();
        out.append(block);
    };
    for line in text.split_inclusive('\n') {
        if in_pairs && (line == "\n" || line.starts_with("/!\\")) {
            flush(&mut block, &mut out);
            in_pairs = false;
        }
        if in_pairs {
            block.push(line.to_string());
        } else {
            out.push(line.to_string());
            in_pairs = line.starts_with("storing ");
        }
    }
    flush(&mut block, &mut out);
    out.concat()
}

/// Runs dump-ring until its normalised output equals `want` (the last put of
/// a W=2 operation may reach the third server a moment after the client
/// exits), for at most 3 s; then compares.
#[track_caller]
fn assert_dump(c: &Cluster, args: &[&str], want: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let out = c.dump_ring(args);
        assert_eq!(out.code, Some(0), "{out}");
        out.assert_no_panic();
        assert_eq!(out.stderr, "", "{out}");
        let got = normalise(&out.stdout);
        if got == normalise(want) || Instant::now() >= deadline {
            assert_eq!(got, normalise(want), "{out}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ab_cc(_: usize) -> Option<Vec<(String, String)>> {
    Some(vec![("a".into(), "b".into()), ("cc".into(), "dd".into())])
}

/// The §7 example: after `put -- a b` and `put -- cc dd` with the defaults,
/// every server of a ring of at most three servers holds both pairs.
fn check_after_two_puts(nodes: &[u32]) {
    let mut c = Cluster::new(nodes);
    c.start_all();
    c.put_ok(&[], "a", "b");
    c.put_ok(&[], "cc", "dd");
    assert_dump(&c, &["-t", "2000"], &expected_dump(&c.servers, ab_cc));
}

#[test]
fn dump_ring_1_2_3_nodes() {
    check_after_two_puts(&[1, 2, 3]);
}

#[test]
fn dump_ring_one_server() {
    check_after_two_puts(&[1]);
    check_after_two_puts(&[3]);
}

#[test]
fn dump_ring_two_and_three_servers() {
    check_after_two_puts(&[2, 2]);
    check_after_two_puts(&[1, 1, 1]);
}

/// Many virtual nodes: many "same server" lines, still in ring order.
#[test]
fn dump_ring_many_virtual_nodes() {
    check_after_two_puts(&[5, 1, 7]);
}

/// Empty servers say so: `storing 0 key-value pairs:`.
#[test]
fn dump_ring_empty_servers() {
    let mut c = Cluster::new(&[2, 1]);
    c.start_all();
    let want = expected_dump(&c.servers, |_| Some(vec![]));
    assert_dump(&c, &[], &want);
}

/// A server that does not answer prints its header line only; its later
/// nodes still print the "same server" line.
#[test]
fn dump_ring_down_server_prints_header_only() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.start(0);
    c.start(2);
    // A key whose single replica is a running server.
    let key = c.find_key("only", 1, |r| r[0] != 1);
    c.put_ok(&["-n", "1", "-t", "300"], &key, "one");
    let holder = c.replicas(&key, 1)[0];
    let want = expected_dump(&c.servers, |s| match s {
        1 => None,
        s if s == holder => Some(vec![(key.clone(), "one".into())]),
        _ => Some(vec![]),
    });
    assert_dump(&c, &["-t", "300"], &want);

    // Nothing running at all: the ring and the headers only.
    c.kill(0);
    c.kill(2);
    let out = c.dump_ring(&["-t", "200"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, expected_dump(&c.servers, |_| None), "{out}");
}

/// A listing larger than one datagram arrives whole: every pair, none split.
#[test]
fn dump_ring_large_listing_spans_datagrams() {
    let mut c = Cluster::new(&[1]);
    let pairs: Vec<(String, String)> = (0..8)
        .map(|i| {
            let letter = char::from(b'a' + i as u8);
            (format!("big{i}"), letter.to_string().repeat(20_000))
        })
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.start_with(0, &refs);
    let want = expected_dump(&c.servers, |_| Some(pairs.clone()));
    assert_dump(&c, &[], &want);
}

/// The exact ring listing and headers of the spec's own example (ports
/// 1234–1236 on 127.0.0.1). Servers there may or may not be running (other
/// programs may use these ports), so only the ring and the section headers
/// are compared.
#[test]
fn dump_ring_spec_example_ring_listing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("servers.txt");
    std::fs::write(
        &file,
        "127.0.0.1 1234 1\n127.0.0.1 1235 2\n127.0.0.1 1236 3\n",
    )
    .unwrap();
    let mut cmd = clean_command(DUMP_RING, dir.path());
    cmd.arg(&file).args(["-t", "100"]);
    let out = run(&mut cmd, RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{out}");
    let ring = "Ring nodes:
1bcd2db55b43d8c6b50583892f141a6bb3224c04 (127.0.0.1 1235)
5f26268754fcf2a51fcfacaaa2aaf4f0d83f6d67 (127.0.0.1 1236)
93149f866bf3acc9710375cb46706bf09960a6ab (127.0.0.1 1236)
aa66f3e5a8d9cdc5c0bd49708bc59847e6915634 (127.0.0.1 1234)
c484ea9b3b14d139b1456032a49990367b857fe6 (127.0.0.1 1235)
ee482fd6bcd8a1eb2a929a0d284b563404b64d19 (127.0.0.1 1236)
";
    assert!(out.stdout.starts_with(ring), "{out}");
    let headers: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("127.0.0.1:"))
        .collect();
    assert_eq!(
        headers,
        [
            "127.0.0.1:1235:",
            "127.0.0.1:1236:",
            "127.0.0.1:1236: node 2 has same server as node 1",
            "127.0.0.1:1234:",
            "127.0.0.1:1235: node 4 has same server as node 0",
            "127.0.0.1:1236: node 5 has same server as node 1",
        ]
    );
}

/// The same ring is printed from a cluster.toml and from a servers.txt.
#[test]
fn dump_ring_from_cluster_toml() {
    let mut c = Cluster::with_toml(&[1, 2, 3], "timeout_ms = 2000");
    c.start_all();
    c.put_ok(&[], "a", "b");
    c.put_ok(&[], "cc", "dd");
    assert_dump(&c, &[], &expected_dump(&c.servers, ab_cc));
}

/// Datagrams from another address are printed with `/!\ FROM ip:port: `.
#[test]
fn dump_ring_marks_foreign_datagrams() {
    let ip = loopback_ip();
    let server = bind_socket(ip);
    let foreign = bind_socket(ip);
    let server_port = server.local_addr().unwrap().port();
    let foreign_port = foreign.local_addr().unwrap().port();
    let c = Cluster::from_servers(vec![(ip, server_port, 1)], Format::ServersTxt, "");
    server
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let fake = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            let Ok((len, from)) = server.recv_from(&mut buf) else {
                continue;
            };
            if len == 0 {
                foreign.send_to(b"intruder --> here\n", from).unwrap();
                std::thread::sleep(Duration::from_millis(30));
                server
                    .send_to(b"storing 1 key-value pairs:\nk --> v\n", from)
                    .unwrap();
                return true;
            }
        }
        false
    });
    let out = c.dump_ring(&["-t", "2000"]);
    assert!(fake.join().unwrap(), "the fake server got no dump request");
    assert_eq!(out.code, Some(0), "{out}");
    let (hex, _) = &ring_order(&c.servers)[0];
    let head = format!("Ring nodes:\n{hex} ({ip} {server_port})\n\n{ip}:{server_port}:\n");
    assert!(out.stdout.starts_with(&head), "{out}");
    let body: Vec<&str> = out.stdout[head.len()..].lines().collect();
    let mut sorted = body.clone();
    sorted.sort();
    let mut want = vec![
        "storing 1 key-value pairs:".to_string(),
        "k --> v".to_string(),
        format!("/!\\ FROM {ip}:{foreign_port}: intruder --> here"),
    ];
    want.sort();
    assert_eq!(sorted, want, "{out}");
}
