//! The paginated dump (`dump_ring::dump_paged`) against real `dkvs-server`
//! processes and a v1-only server:
//!
//! - thousands of keys read page by page (small pages and the default ones)
//!   give byte for byte the datagrams of the server's own v1 dump, deleted
//!   keys (tombstones) left out as v1 leaves them out;
//! - a ring with one v1-only server (a server of the original design that answers v2
//!   with the empty refusal) still dumps, through `dkvs-dump-ring`;
//! - through a fault proxy that loses, duplicates and reorders datagrams,
//!   pages are resent and the listing is still the v1 dump's;
//! - the v1-only protocol mode reads with the v1 dump only.

use std::time::Duration;

use crate::common::*;
use dkvs::client::{Client, ProtocolMode};
use dkvs::config::parse_servers_txt;
use dkvs::dump_ring::{DumpOptions, dump_paged};
use dkvs::quorum::QuorumOptions;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Several thousand keys, some deleted through v2: the paged dump equals
/// the v1 dump datagram for datagram.
#[test]
fn paged_dump_of_thousands_of_keys_equals_the_v1_dump() {
    let pairs: Vec<(String, String)> = (0..3000)
        .map(|i| (format!("key{i:05}"), format!("value-{i}-").repeat(4)))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut c = Cluster::new(&[1]);
    c.start_with(0, &refs);
    let config = parse_servers_txt(&servers_txt(&c.servers), "servers.txt").unwrap();
    let client = Client::new(config).with_timeout(Duration::from_secs(2));
    let rt = runtime();
    let one = QuorumOptions {
        n: Some(1),
        r: Some(1),
        w: Some(1),
    };
    rt.block_on(async {
        for i in (0..3000).step_by(7) {
            client
                .delete(format!("key{i:05}").as_bytes(), one)
                .await
                .unwrap();
        }
        client.put(b"key99999", b"versioned", one).await.unwrap();
    });
    let v1 = udp_dump(c.addr(0), Duration::from_secs(2));
    assert!(v1.len() > 2, "the v1 dump spans several datagrams");
    let live = 3000 - (0..3000).step_by(7).count() + 1;
    assert!(
        v1[0].starts_with(format!("storing {live} key-value pairs:\n").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&v1[0][..40])
    );
    for page_limit in [7, 0, dkvs::dump_ring::PAGE_LIMIT] {
        let options = DumpOptions {
            page_limit,
            ..DumpOptions::new(Duration::from_secs(2), Duration::from_millis(200))
        };
        let reply = rt.block_on(dump_paged(c.addr(0), options)).unwrap();
        let got: Vec<Vec<u8>> = reply.received.into_iter().map(|(_, d)| d).collect();
        assert_eq!(got.len(), v1.len(), "page limit {page_limit}");
        assert!(got == v1, "page limit {page_limit}: the texts differ");
        assert!(reply.parsed.is_complete());
        assert_eq!(reply.parsed.pairs.len(), live);
    }
}

/// A v1-only server: answers a v1 dump with its listing, and everything
/// that starts with NUL (every v2 request) with the empty datagram.
fn v1_only_server(pairs: &'static [(&'static [u8], &'static [u8])]) -> FakeServer {
    FakeServer::spawn(bind_socket(loopback_ip()), move |socket, datagram, from| {
        let replies = if datagram.is_empty() {
            dkvs::protocol::encode_dump(pairs.len(), pairs.iter().copied())
        } else {
            vec![Vec::new()]
        };
        for reply in replies {
            let _ = socket.send_to(&reply, from);
        }
    })
}

/// A ring of a real server and a v1-only one: `dkvs-dump-ring` lists both.
#[test]
fn ring_with_a_v1_only_server_still_dumps() {
    let fake = v1_only_server(&[(b"old", b"school"), (b"zz", b"top")]);
    let real = bind_socket(*fake.addr.ip());
    let real_port = real.local_addr().unwrap().port();
    drop(real);
    let mut c = Cluster::from_servers(
        vec![
            (*fake.addr.ip(), real_port, 1),
            (*fake.addr.ip(), fake.addr.port(), 1),
        ],
        Format::ServersTxt,
        "",
    );
    c.start_with(0, &[("a", "b"), ("cc", "dd")]);
    let out = c.dump_ring(&["-t", "1000"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stderr, "", "{out}");
    let real_section = format!(
        "\n{}:{real_port}:\nstoring 2 key-value pairs:\na --> b\ncc --> dd\n",
        fake.addr.ip()
    );
    let fake_section = format!(
        "\n{}:{}:\nstoring 2 key-value pairs:\nold --> school\nzz --> top\n",
        fake.addr.ip(),
        fake.addr.port()
    );
    assert!(out.stdout.contains(&real_section), "{out}");
    assert!(out.stdout.contains(&fake_section), "{out}");
}

/// The v1 protocol mode never sends v2: the v1-only server sees one empty
/// datagram, and the listing is the same.
#[test]
fn v1_mode_reads_with_the_v1_dump_only() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let log = seen.clone();
    let fake = FakeServer::spawn(bind_socket(loopback_ip()), move |socket, datagram, from| {
        log.lock().unwrap().push(datagram.to_vec());
        if datagram.is_empty() {
            let _ = socket.send_to(b"storing 1 key-value pairs:\nk --> v\n", from);
        }
    });
    let options = DumpOptions {
        protocol: ProtocolMode::V1,
        ..DumpOptions::new(Duration::from_millis(500), Duration::from_millis(100))
    };
    let reply = runtime().block_on(dump_paged(fake.addr, options)).unwrap();
    assert_eq!(
        reply.received,
        vec![(None, b"storing 1 key-value pairs:\nk --> v\n".to_vec())]
    );
    assert_eq!(*seen.lock().unwrap(), vec![Vec::<u8>::new()]);
}

/// Through a proxy that loses, duplicates and reorders 15 % of datagrams
/// each way, small pages are resent until answered (late copies of earlier
/// pages are told apart by their request id): the same listing.
#[test]
fn pages_are_resent_through_loss_duplication_and_reordering() {
    use dkvs::fault_proxy::{Direction, FaultConfig, FaultProxy, Faults};
    let pairs: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("p{i:04}"), format!("v{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut c = Cluster::new(&[1]);
    c.start_with(0, &refs);
    let v1 = udp_dump(c.addr(0), Duration::from_secs(2));
    let faults = Faults {
        drop: 0.15,
        duplicate: 0.15,
        reorder: 0.15,
        ..Faults::NONE
    };
    let rt = runtime();
    let reply = rt.block_on(async {
        let listen = std::net::SocketAddrV4::new(*c.addr(0).ip(), 0);
        let proxy = FaultProxy::builder(listen, c.addr(0))
            .faults(FaultConfig::on(Direction::Both, faults))
            .start()
            .await
            .unwrap();
        let options = DumpOptions {
            page_limit: 25,
            ..DumpOptions::new(Duration::from_secs(2), Duration::from_millis(200))
        };
        let reply = dump_paged(proxy.local_addr(), options).await;
        println!("proxy: {:?}", proxy.stop().await);
        reply.unwrap()
    });
    let got: Vec<Vec<u8>> = reply.received.into_iter().map(|(_, d)| d).collect();
    assert!(got == v1, "the listings differ");
}

/// A server with a key: the dump of a cluster with that key signs its
/// pages and lists the pairs; without the key it prints the header only
/// (unsigned v2 is refused and v1 dropped by a keyed server), with a
/// warning naming the server on stderr and exit 5.
#[test]
fn signed_dump_of_a_keyed_server() {
    let mut c = Cluster::with_toml(&[1], "key_file = \"keys\"");
    std::fs::write(
        c.dir.path().join("keys"),
        format!("1 {}\n", "ab".repeat(32)),
    )
    .unwrap();
    let (ip, port, _) = c.servers[0];
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.arg("--key-file")
        .arg("keys")
        .arg(ip.to_string())
        .arg(port.to_string())
        .args(["k", "v"]);
    c.procs
        .spawn(format!("keyed dkvs-server {ip} {port}"), &mut cmd);
    let section = format!("\n{ip}:{port}:\nstoring 1 key-value pairs:\nk --> v\n");
    assert!(
        eventually(Duration::from_secs(5), || c
            .dump_ring(&["-t", "300"])
            .stdout
            .ends_with(&section)),
        "{}",
        c.dump_ring(&["-t", "300"])
    );
    let plain = c.dir.path().join("servers.txt");
    std::fs::write(&plain, servers_txt(&c.servers)).unwrap();
    let mut cmd = clean_command(DUMP_RING, c.dir.path());
    cmd.arg(&plain).args(["-t", "300"]);
    let out = run(&mut cmd, RUN_LIMIT);
    // The section stays empty (the listing's text), but stderr says why and
    // the exit status is not success.
    assert_eq!(out.code, Some(5), "{out}");
    assert!(out.stdout.ends_with(&format!("\n{ip}:{port}:\n")), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "WARNING: {ip}:{port} refused the dump as unauthenticated"
        )),
        "{out}"
    );
}

/// A keyed dump accepts only pages signed with its key: a fake server that
/// answers every page request with an unsigned page (or one signed with
/// another key) listing a forged pair is ignored, and the dump fails rather
/// than print the forgery.
#[test]
fn a_keyed_dump_ignores_unsigned_and_forged_pages() {
    use dkvs::protocol_v2 as v2;
    use dkvs::version::Version;
    let ours = v2::parse_key_file(&format!("1 {}\n", "ab".repeat(32))).unwrap();
    let theirs = v2::parse_key_file(&format!("1 {}\n", "cd".repeat(32))).unwrap();
    for forger in [None, Some(theirs[0].clone())] {
        let fake = FakeServer::spawn(bind_socket(loopback_ip()), move |socket, datagram, from| {
            let Ok(frame) = v2::decode(datagram) else {
                return;
            };
            let entry = v2::Entry {
                key: b"forged",
                value: v2::EntryValue::Live(b"value"),
                version: Version {
                    timestamp: 1,
                    writer: 1,
                },
            };
            let now = dkvs::hlc::Clock::now_ms(&dkvs::hlc::SystemClock);
            let auth = forger.as_ref().map(|k| (k, now));
            let page = v2::encode_page(frame.id, 1, 0, [entry], auth).unwrap();
            let _ = socket.send_to(&page, from);
        });
        let options = DumpOptions {
            key: Some(ours[0].clone()),
            ..DumpOptions::new(Duration::from_millis(400), Duration::from_millis(100))
        };
        let reply = runtime().block_on(dump_paged(fake.addr, options));
        if let Ok(reply) = &reply {
            for (_, datagram) in &reply.received {
                let text = String::from_utf8_lossy(datagram);
                assert!(!text.contains("forged"), "forged page listed: {text}");
            }
        }
    }
}
