//! Many hosts (issue 19) on real namespaces: `dkvs-server`s each in its
//! own network namespace (crates/netns), reached from the root namespace
//! and from each other over the bridge, then cut off by nftables rules
//! (a partition, one-way cuts) and healed. Skipped, with the reason, where
//! namespaces cannot be made (not root, no `nft`).

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dkvs_netns::{Hosts, HostsSpec, Side, cleanup_stale};

use crate::common::*;

/// Every host has its own addresses: one port for all.
const PORT: u16 = 7000;
/// How long a request waits for an answer that must not come.
const SILENT: Duration = Duration::from_millis(300);

fn skip() -> bool {
    netns_skip("netns test")
}

/// `program` in host `i`'s namespace, with the environment of
/// [`clean_command`].
fn in_host(hosts: &Hosts, i: usize, program: &str, dir: &Path) -> Command {
    let mut cmd = hosts.command(i, program).unwrap();
    clean(&mut cmd, dir);
    cmd
}

/// A v1 request from the root namespace, on a fresh socket (no late
/// reply to an earlier request can be taken for this one's).
fn ask(addr: Ipv4Addr, datagram: &[u8], limit: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    udp_request(&socket, SocketAddrV4::new(addr, PORT), datagram, limit)
}

/// `dkvs-client <args>` (a get or put of `k`) run in host `from`'s
/// namespace against server `to` alone: its stdout (`OK …`), or `None`
/// when it failed.
fn client_between(
    hosts: &Hosts,
    from: usize,
    to: usize,
    args: &[&str],
    dir: &Path,
) -> Option<String> {
    let file = dir.join(format!("to-{to}.txt"));
    std::fs::write(&file, servers_txt(&[(hosts.addr(to).unwrap(), PORT, 1)])).unwrap();
    let mut cmd = in_host(hosts, from, CLIENT, dir);
    cmd.arg("-s")
        .arg(&file)
        .args(["-n1", "-r1", "-w1", "-t", "400ms"])
        .args(args);
    let out = run(&mut cmd, RUN_LIMIT);
    out.assert_no_panic();
    (out.code == Some(0)).then_some(out.stdout)
}

/// A get of `k` from host `from` to server `to` (see [`client_between`]).
fn get_between(hosts: &Hosts, from: usize, to: usize, dir: &Path) -> Option<String> {
    client_between(hosts, from, to, &["get", "--", "k"], dir)
}

/// What `ip netns list` and `ip -o link show` print, together.
fn listings() -> String {
    let mut text = String::new();
    for args in [&["netns", "list"][..], &["-o", "link", "show"]] {
        let out = run(Command::new("ip").args(args), RUN_LIMIT);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        text.push_str(&out.stdout);
    }
    text
}

/// Asserts that nothing of `names` is left on the machine.
fn assert_gone(names: &[String]) {
    let text = listings();
    for name in names {
        let found = text
            .lines()
            .any(|l| l.split([' ', ':', '@']).any(|w| w == name.as_str()));
        assert!(!found, "{name} is left:\n{text}");
    }
}

/// Every name a `Hosts` made: namespaces, bridge, veth ends.
fn names_of(hosts: &Hosts) -> Vec<String> {
    let mut names: Vec<String> = (0..hosts.len())
        .map(|i| hosts.namespace(i).unwrap())
        .collect();
    names.extend(hosts.links());
    names
}

#[test]
fn servers_in_namespaces_are_partitioned_cut_and_healed() {
    if skip() {
        return;
    }
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut hosts = Hosts::create(&HostsSpec::new(3)).unwrap();
    let (net, prefix) = hosts.subnet();
    assert_eq!(prefix, 24);
    assert_eq!(hosts.client_addr(), Ipv4Addr::from(u32::from(net) + 1));
    let mut procs = Procs::new();
    for i in 0..3 {
        let addr = hosts.addr(i).unwrap();
        let err = dir.path().join(format!("server-{i}.err"));
        let mut cmd = in_host(&hosts, i, SERVER, dir.path());
        cmd.arg(addr.to_string()).arg(PORT.to_string());
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap());
        let handle = procs.spawn(format!("dkvs-server in host {i}"), &mut cmd);
        wait_ready(&mut procs, handle, SocketAddrV4::new(addr, PORT), &err);
        let value = format!("k\0v{i}");
        assert_eq!(
            ask(addr, value.as_bytes(), RUN_LIMIT).as_deref(),
            Some(&b"\0"[..])
        );
    }
    let addrs = hosts.addrs().to_vec();
    let answers = |i: usize| ask(addrs[i], b"k", SILENT);
    for i in 0..3 {
        assert_eq!(answers(i), Some(format!("v{i}").into_bytes()));
    }
    assert_eq!(
        get_between(&hosts, 0, 1, dir.path()).as_deref(),
        Some("OK v1\n")
    );

    // Client and host 0 | hosts 1 and 2.
    let groups = [
        vec![Side::Client, Side::Host(0)],
        vec![Side::Host(1), Side::Host(2)],
    ];
    hosts.partition(&groups).unwrap();
    assert_eq!(hosts.cuts().len(), 8);
    assert_eq!(answers(0).as_deref(), Some(&b"v0"[..]));
    assert_eq!(answers(1), None);
    assert_eq!(answers(2), None);
    assert_eq!(get_between(&hosts, 0, 1, dir.path()), None);
    assert_eq!(get_between(&hosts, 2, 0, dir.path()), None);
    assert_eq!(
        get_between(&hosts, 1, 2, dir.path()).as_deref(),
        Some("OK v2\n")
    );

    // One-way cuts: host 1 cannot reach host 0, which still reaches it;
    // host 2's replies never reach the client, its requests arrive.
    hosts.heal().unwrap();
    assert!(hosts.cuts().is_empty());
    hosts.cut(Side::Host(1), Side::Host(0)).unwrap();
    hosts.cut(Side::Host(2), Side::Client).unwrap();
    assert_eq!(
        hosts.cuts(),
        [
            (Side::Host(1), Side::Host(0)),
            (Side::Host(2), Side::Client)
        ]
    );
    assert_eq!(get_between(&hosts, 1, 0, dir.path()), None);
    // Host 0's put reaches host 1; only the acknowledgement is lost.
    let put = ["put", "--", "k", "from0"];
    assert_eq!(client_between(&hosts, 0, 1, &put, dir.path()), None);
    assert_eq!(answers(1).as_deref(), Some(&b"from0"[..]));
    assert_eq!(
        get_between(&hosts, 2, 1, dir.path()).as_deref(),
        Some("OK from0\n")
    );
    assert_eq!(ask(hosts.addr(2).unwrap(), b"k\0new", SILENT), None);
    assert_eq!(answers(2), None);
    assert!(hosts.cut(Side::Host(3), Side::Client).is_err());
    assert!(hosts.cut(Side::Client, Side::Client).is_err());

    hosts.heal().unwrap();
    assert_eq!(
        answers(2).as_deref(),
        Some(&b"new"[..]),
        "the cut put arrived"
    );
    for (from, to) in [(1, 0), (2, 0), (0, 2)] {
        assert!(get_between(&hosts, from, to, dir.path()).is_some());
    }

    for handle in 0..3 {
        let (_, killed) = procs.terminate(handle, Duration::from_secs(5));
        assert!(!killed, "server {handle} ignored SIGTERM");
    }
    let names = names_of(&hosts);
    hosts.remove().unwrap();
    assert_gone(&names);
    eprintln!(
        "netns: 3 hosts, partition, cuts, heal: {:?}",
        start.elapsed()
    );
}

/// `n` in base 36, as crates/netns names links.
fn base36(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit(n % 36, 36).unwrap());
        n /= 36;
        if n == 0 {
            return digits.iter().rev().collect();
        }
    }
}

#[test]
fn dropped_hosts_and_dead_owners_leave_nothing() {
    if skip() {
        return;
    }
    let hosts = Hosts::create(&HostsSpec::new(2)).unwrap();
    let names = names_of(&hosts);
    assert!(listings().contains(&names[0]));
    drop(hosts);
    assert_gone(&names);

    // A namespace and a bridge named for a process that is gone.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let ns = format!("dkvs-{dead}-0-0");
    let bridge = format!("dkvb{}-0", base36(dead));
    for args in [
        vec!["netns", "add", ns.as_str()],
        vec!["link", "add", bridge.as_str(), "type", "bridge"],
    ] {
        let out = run(Command::new("ip").args(&args), RUN_LIMIT);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    // Other tests' starts may remove them first: gone is what counts.
    cleanup_stale().unwrap();
    assert_gone(&[ns, bridge]);
}
