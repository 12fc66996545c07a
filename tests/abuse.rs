//! Abuse limits of a real `dkvs-server` (docs/SECURITY.md): `--allow`,
//! `--allow-dump`, the per-source reply budget and `--max-memory`.
//!
//! Every source address here is on `lo`: a test cannot produce a datagram
//! from a non-loopback address, so the lists are given CIDRs that exclude
//! the test's own random `127.X.Y.Z` address (X >= 1), and clients bind the
//! source address they need.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::*;

/// One `dkvs-server` on a fresh loopback address, started with extra
/// options; stopped by PID when dropped (through `procs`).
struct Server {
    procs: Procs,
    handle: usize,
    addr: SocketAddrV4,
    err_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `dkvs-server -v <options> <ip> <port> <pairs>` and waits until
    /// it answers a probe sent from `probe_from`.
    fn start(options: &[&str], pairs: &[&str], probe_from: Ipv4Addr) -> Server {
        let ip = loopback_ip();
        let port = free_ports(ip, 1)[0];
        let addr = SocketAddrV4::new(ip, port);
        let dir = tempfile::tempdir().unwrap();
        let err_path = dir.path().join("server.err");
        let mut cmd = clean_command(SERVER, dir.path());
        cmd.arg("-v")
            .args(options)
            .arg(ip.to_string())
            .arg(port.to_string())
            .args(pairs)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap());
        let mut procs = Procs::new();
        let handle = procs.spawn(format!("dkvs-server {addr}"), &mut cmd);
        let server = Server {
            procs,
            handle,
            addr,
            err_path,
            _dir: dir,
        };
        let probe = client(if probe_from.is_unspecified() {
            ip
        } else {
            probe_from
        });
        let deadline = Instant::now() + READY_LIMIT;
        let mut server = server;
        loop {
            if let Some(status) = server.procs.try_status(handle) {
                panic!("server exited at start with {status}: {}", server.log());
            }
            if ask(&probe, addr, b"__probe__").is_some() {
                return server;
            }
            assert!(Instant::now() < deadline, "server silent: {}", server.log());
        }
    }

    /// The server's stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.err_path).unwrap_or_default()
    }

    /// SIGTERMs the server and returns its log (with the stats line).
    fn stop(mut self) -> String {
        let (status, killed) = self.procs.terminate(self.handle, Duration::from_secs(5));
        assert!(
            !killed && status.success(),
            "bad stop {status}: {}",
            self.log()
        );
        self.log()
    }
}

/// A client socket bound to `ip` (any port).
fn client(ip: Ipv4Addr) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

/// Sends `request` to `to` (up to 3 times) and returns the first reply from
/// it, `None` after 3 × 100 ms of silence.
fn ask(socket: &UdpSocket, to: SocketAddrV4, request: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    for _ in 0..3 {
        socket.send_to(request, to).unwrap();
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            if let Ok((n, from)) = socket.recv_from(&mut buf)
                && from == to.into()
            {
                return Some(buf[..n].to_vec());
            }
        }
    }
    None
}

/// Another loopback address than `ip` (and than 127.0.0.1).
fn other_ip(ip: Ipv4Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(127, o[1], o[2], o[3].wrapping_add(1).max(1))
}

/// The value of counter `name` in the server's "stopped" log line.
fn counter(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("stopped"))
        .unwrap_or_else(|| panic!("no stopped line in log:\n{log}"));
    let at = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    line[at + name.len() + 2..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad {name} in {line}"))
}

#[test]
fn allow_list_drops_other_sources_silently() {
    let ip = loopback_ip();
    // The server serves only `ip` itself: probes come from there.
    let allowed = format!("{ip}/32");
    let server = Server::start(&["--allow", &allowed], &[], ip);
    let stranger = client(other_ip(ip));
    assert_eq!(ask(&stranger, server.addr, b"k\0v"), None, "not served");
    assert_eq!(ask(&stranger, server.addr, b""), None, "no dump");
    let friend = client(ip);
    assert_eq!(
        ask(&friend, server.addr, b"k").unwrap(),
        b"\0",
        "put was not applied"
    );
    assert_eq!(ask(&friend, server.addr, b"k\0v").unwrap(), b"\0");
    assert_eq!(ask(&friend, server.addr, b"k").unwrap(), b"v");
    let log = server.stop();
    assert_eq!(counter(&log, "not_allowed"), 6, "{log}");
}

/// The server is bound on `ip`, which is not in `--allow`; the allow list
/// applies to the source of requests, so a server bound elsewhere works too.
#[test]
fn allow_list_accepts_a_listed_network() {
    let server = Server::start(
        &["--allow", "10.0.0.0/8", "--allow", "127.0.0.0/8"],
        &[],
        Ipv4Addr::UNSPECIFIED,
    );
    let c = client(loopback_ip());
    assert_eq!(ask(&c, server.addr, b"a\0b").unwrap(), b"\0");
    server.stop();
}

#[test]
fn dumps_only_to_allowed_sources() {
    // 127.0.0.1 only: the test's 127.X.Y.Z sources (X >= 1) are outside.
    let server = Server::start(
        &["--allow-dump", "127.0.0.1/32"],
        &["k", "v"],
        Ipv4Addr::UNSPECIFIED,
    );
    let c = client(loopback_ip());
    assert_eq!(
        ask(&c, server.addr, b""),
        None,
        "dump to a source outside --allow-dump"
    );
    // Everything else is served to that source.
    assert_eq!(ask(&c, server.addr, b"k").unwrap(), b"v");
    let log = server.stop();
    assert_eq!(counter(&log, "dump_denied"), 3, "{log}");

    // By default every loopback source may dump.
    let server = Server::start(&[], &["k", "v"], Ipv4Addr::UNSPECIFIED);
    let c = client(loopback_ip());
    assert_eq!(
        ask(&c, server.addr, b"").unwrap(),
        b"storing 1 key-value pairs:\nk --> v\n"
    );
    server.stop();
}

#[test]
fn reply_budget_drops_beyond_the_burst() {
    // 10 KiB per source, refilled at 1 byte/s; loopback not exempt.
    let value = "x".repeat(1000);
    let server = Server::start(
        &[
            "--budget-exempt",
            "none",
            "--reply-burst",
            "10K",
            "--reply-rate",
            "1",
        ],
        &["big", &value],
        Ipv4Addr::UNSPECIFIED,
    );
    // The probe at start came from the server's own address, not from `ip`.
    let ip = loopback_ip();
    let c = client(ip);
    for _ in 0..30 {
        c.send_to(b"big", server.addr).unwrap();
    }
    let mut replies = 0;
    let mut buf = vec![0u8; 65536];
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        if let Ok((n, _)) = c.recv_from(&mut buf) {
            assert_eq!(n, 1000);
            replies += 1;
        }
    }
    // 10240 / (1000 + 28) = 9 replies fit in the burst.
    assert_eq!(replies, 9);
    // Another source has its own budget.
    let other = client(other_ip(ip));
    assert_eq!(ask(&other, server.addr, b"big").unwrap().len(), 1000);
    let log = server.stop();
    assert_eq!(counter(&log, "over_budget"), 21, "{log}");
}

#[test]
fn max_memory_refuses_puts_and_keeps_what_is_stored() {
    // 1 KiB: pairs of 4 + 100 bytes are accounted 4 + 100 + PAIR_OVERHEAD
    // (64) bytes, 6 fit.
    let server = Server::start(&["--max-memory", "1K"], &[], Ipv4Addr::UNSPECIFIED);
    let c = client(loopback_ip());
    let value = vec![b'v'; 100];
    let fit = 1024 / dkvs::store::pair_size(b"k000", &value);
    let mut stored = Vec::new();
    for i in 0..10 {
        let key = format!("k{i:03}");
        let mut put = key.clone().into_bytes();
        put.push(0);
        put.extend_from_slice(&value);
        match ask(&c, server.addr, &put).unwrap().as_slice() {
            b"\0" => stored.push(key),
            b"" => {}
            other => panic!("unexpected put reply {other:?}"),
        }
    }
    assert_eq!(stored.len() as u64, fit);
    // Nothing stored is lost, and the server still serves.
    for key in &stored {
        assert_eq!(ask(&c, server.addr, key.as_bytes()).unwrap(), value);
    }
    assert_eq!(
        ask(&c, server.addr, b"k009").unwrap(),
        b"\0",
        "refused put not stored"
    );
    // Replacing with a value of the same size or smaller still works.
    assert_eq!(
        ask(
            &c,
            server.addr,
            &[b"k000\0".as_slice(), &[b'w'; 100]].concat()
        )
        .unwrap(),
        b"\0"
    );
    assert_eq!(ask(&c, server.addr, b"k001\0small").unwrap(), b"\0");
    assert_eq!(ask(&c, server.addr, b"k001").unwrap(), b"small");
    // Growing past the limit is refused.
    assert_eq!(
        ask(
            &c,
            server.addr,
            &[b"k002\0".as_slice(), &[b'w'; 300]].concat()
        )
        .unwrap(),
        b""
    );
    assert_eq!(ask(&c, server.addr, b"k002").unwrap(), value);
    let log = server.stop();
    assert_eq!(counter(&log, "over_memory"), 10 - fit + 1, "{log}");
}

#[test]
fn max_memory_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let ip = loopback_ip();
    let port = free_ports(ip, 1)[0].to_string();
    let ip = ip.to_string();
    // A bad size is a usage error.
    let out = run(
        clean_command(SERVER, dir.path()).args(["--max-memory", "12X", &ip, &port]),
        RUN_LIMIT,
    );
    out.assert_error(code::USAGE);
    // Initial pairs beyond the limit: the server refuses to start.
    let out = run(
        clean_command(SERVER, dir.path()).args(["--max-memory", "50", &ip, &port, "k", "v"]),
        RUN_LIMIT,
    );
    out.assert_error(code::FAILED);
    assert!(
        out.error_line().contains("max-memory"),
        "{}",
        out.error_line()
    );
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A flood is shed, not queued: during one second of gets sent as fast as
/// one thread can, the server keeps answering another client, its memory
/// does not grow with the backlog, and it serves normally afterwards.
/// (Latency figures come from `cargo bench --bench overload`.)
#[test]
fn flood_is_shed_and_the_server_keeps_serving() {
    let server = Server::start(&[], &["k", "v"], Ipv4Addr::UNSPECIFIED);
    let pid = server.procs.pid(server.handle);
    let rss_before = rss_kib(pid);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooder = {
        let stop = std::sync::Arc::clone(&stop);
        let socket = client(loopback_ip());
        let to = server.addr;
        std::thread::spawn(move || {
            let mut sent = 0u64;
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = socket.send_to(b"k", to);
                sent += 1;
            }
            sent
        })
    };
    let probe = client(loopback_ip());
    let mut answered = 0;
    let mut asked = 0;
    while !flooder.is_finished() {
        asked += 1;
        if ask(&probe, server.addr, b"k").as_deref() == Some(b"v".as_slice()) {
            answered += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flooder.join().unwrap();
    assert!(
        answered > 0,
        "no probe answered among {asked} during a flood of {sent}"
    );
    // Memory does not follow the flood (no in-process queue): generous bound.
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    let after = client(loopback_ip());
    // Stale flood replies may still arrive on other sockets; this one is new.
    assert_eq!(ask(&after, server.addr, b"k").unwrap(), b"v");
    let log = server.stop();
    assert_eq!(counter(&log, "panics"), 0, "{log}");
    // What the kernel shed is reported too (how much depends on the machine).
    let served = counter(&log, "requests");
    let shed = counter(&log, "kernel_drops");
    assert!(served + shed > 0, "{log}");
}
