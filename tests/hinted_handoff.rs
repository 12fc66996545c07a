//! Hinted handoff (issue 8 item 2) with real `dkvs-server` processes on
//! random loopback addresses and `dkvs-client`:
//!
//! - a put while one of the key's three home servers is down leaves a hint
//!   on the fourth server of the ring, kept apart from its data (a get of
//!   the holder does not see it); the hint stays while the owner is down
//!   and is delivered (with its version) once the owner is back, then
//!   dropped; a delete's tombstone is handed over the same way;
//! - hints survive a restart of a durable holder;
//! - the report says which server holds a hint for which; a write that
//!   timed out leaves none; `--hints count` counts them toward W.

use std::ffi::{OsStr, OsString};
use std::net::{SocketAddrV4, UdpSocket};
use std::time::Duration;

use crate::common::*;
use dkvs::protocol_v2::{self, Message};
use dkvs::version::Version;

fn socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// One v2 request, answered (5 tries).
fn ask(s: &UdpSocket, a: SocketAddrV4, message: &Message) -> Vec<u8> {
    let request = protocol_v2::encode(77, message, None).unwrap();
    for _ in 0..5 {
        if let Some(reply) = udp_request(s, a, &request, Duration::from_millis(500)) {
            return reply;
        }
    }
    panic!("no reply from {a}");
}

/// The server's value and version of `key` (v2 GET), `None` when absent.
fn get(s: &UdpSocket, a: SocketAddrV4, key: &[u8]) -> Option<(Vec<u8>, Version)> {
    let reply = ask(s, a, &Message::Get { key });
    match protocol_v2::decode(&reply).unwrap().message {
        Message::Value { value, version } => Some((value.to_vec(), version)),
        Message::NotFound { .. } => None,
        other => panic!("unexpected {other:?}"),
    }
}

/// Whether the server holds a tombstone for `key`.
fn deleted(s: &UdpSocket, a: SocketAddrV4, key: &[u8]) -> bool {
    let reply = ask(s, a, &Message::Get { key });
    matches!(
        protocol_v2::decode(&reply).unwrap().message,
        Message::NotFound { tombstone: Some(_) }
    )
}

/// The `hints_pending` counter of the server's STATS.
fn hints_pending(s: &UdpSocket, a: SocketAddrV4) -> u64 {
    let reply = ask(s, a, &Message::Stats);
    match protocol_v2::decode(&reply).unwrap().message {
        Message::StatsReply { pairs } => pairs
            .iter()
            .find(|(n, _)| *n == b"hints_pending")
            .map(|(_, v)| std::str::from_utf8(v).unwrap().parse().unwrap())
            .expect("STATS has hints_pending"),
        other => panic!("unexpected {other:?}"),
    }
}

/// A four-server ring (one node each) and a key whose three home servers
/// are `home` (in preference order); the fourth is the holder.
fn ring_and_key() -> (Cluster, String, Vec<usize>, usize) {
    let c = Cluster::new(&[1, 1, 1, 1]);
    let key = c.find_key("hint", 3, |_| true);
    let home = c.replicas(&key, 3);
    let holder = (0..4).find(|i| !home.contains(i)).unwrap();
    (c, key, home, holder)
}

fn refs(v: &[OsString]) -> Vec<&OsStr> {
    v.iter().map(OsString::as_os_str).collect()
}

#[test]
fn a_hint_is_kept_apart_and_delivered_only_when_the_owner_is_back() {
    let (mut c, key, home, holder) = ring_and_key();
    c.start_all();
    let owner = home[2];
    c.terminate(owner);
    let s = socket();
    // W=2 is reached by the two live home servers; the third gets a hint.
    c.put_ok(&["-w", "2"], &key, "v");
    assert_eq!(hints_pending(&s, c.addr(holder)), 1);
    // Visible in `dkvs-dump-ring --health`: the holder's hint, the silent
    // owner's row (and exit 5 for it).
    let health = c.dump_ring(&["--health"]);
    assert_eq!(health.code, Some(5), "{health}");
    let row = |addr: SocketAddrV4| {
        health
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{addr} ")))
            .unwrap_or_else(|| panic!("no row for {addr}: {health}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(health.stdout.starts_with("server"), "{health}");
    assert_eq!(row(c.addr(holder))[2], "1", "{health}");
    assert_eq!(row(c.addr(owner))[1..], ["no", "answer"], "{health}");
    // Kept apart: the holder's own data does not have the key.
    assert_eq!(get(&s, c.addr(holder), key.as_bytes()), None);
    let version = get(&s, c.addr(home[0]), key.as_bytes()).unwrap().1;
    // Not delivered while the owner is down (several handoff rounds).
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(hints_pending(&s, c.addr(holder)), 1);
    // The owner comes back empty (in memory): the hint brings the value,
    // with the write's version, and is then dropped.
    c.start(owner);
    assert!(
        eventually(Duration::from_secs(8), || get(
            &s,
            c.addr(owner),
            key.as_bytes()
        ) == Some((
            b"v".to_vec(),
            version
        ))),
        "the hint never reached the owner"
    );
    assert!(eventually(Duration::from_secs(4), || hints_pending(
        &s,
        c.addr(holder)
    ) == 0));
    // A delete while the owner is down travels the same way.
    c.terminate(owner);
    c.client(&["del", "-w", "2", "--", &key])
        .assert_stdout("OK\n");
    assert_eq!(hints_pending(&s, c.addr(holder)), 1);
    c.start(owner);
    // Empty again, so only the handed-over tombstone can say "deleted".
    assert!(
        eventually(Duration::from_secs(8), || deleted(
            &s,
            c.addr(owner),
            key.as_bytes()
        )),
        "the tombstone's hint never reached the owner"
    );
    // With every server up, no hint is left by a write.
    c.put_ok(&["-w", "3"], &key, "w");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(hints_pending(&s, c.addr(holder)), 0);
}

#[test]
fn hints_survive_a_restart_of_a_durable_holder() {
    let (mut c, key, home, holder) = ring_and_key();
    let tmp = tempfile::tempdir().unwrap();
    let durable: Vec<OsString> = vec![
        "--data-dir".into(),
        tmp.path().join("holder").into_os_string(),
    ];
    for i in 0..4 {
        if i == holder {
            c.start_with_options(i, &refs(&durable));
        } else {
            c.start(i);
        }
    }
    let owner = home[1];
    c.terminate(owner);
    c.put_ok(&["-w", "2"], &key, "kept");
    let s = socket();
    assert_eq!(hints_pending(&s, c.addr(holder)), 1);
    c.terminate(holder);
    c.start_with_options(holder, &refs(&durable));
    assert_eq!(hints_pending(&s, c.addr(holder)), 1);
    c.start(owner);
    assert!(
        eventually(Duration::from_secs(8), || get(
            &s,
            c.addr(owner),
            key.as_bytes()
        )
        .is_some_and(|(v, _)| v == b"kept")),
        "the hint did not survive the holder's restart"
    );
    assert!(eventually(Duration::from_secs(4), || hints_pending(
        &s,
        c.addr(holder)
    ) == 0));
    // Dropped for good: not back after another restart.
    c.terminate(holder);
    c.start_with_options(holder, &refs(&durable));
    assert_eq!(hints_pending(&s, c.addr(holder)), 0);
}

/// The library reports the hints a write left, for the REPL.
#[test]
fn the_hint_report_names_holder_and_owner() {
    let (mut c, key, home, holder) = ring_and_key();
    c.start_all();
    let owner = home[0];
    c.terminate(owner);
    let config = dkvs::config::ClusterConfig::load(&c.config_path).unwrap();
    let client = dkvs::client::Client::new(config).with_timeout(Duration::from_secs(2));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let quorum = dkvs::quorum::Quorum { n: 3, w: 2, r: 2 };
    let reports = runtime.block_on(async {
        let trace = client
            .put_traced(key.as_bytes(), b"x", quorum, &mut |_| {})
            .await;
        assert_eq!(trace.verdict, dkvs::trace::Verdict::Reached);
        client.finish_repairs().await
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let report = &reports[0];
    assert_eq!(report.replicas.len(), 1);
    assert_eq!(report.replicas[0].addr, c.addr(holder));
    assert_eq!(report.replicas[0].hint_for, Some(c.addr(owner)));
    let lines = dkvs::repl::format::repair_lines(report);
    assert!(
        lines[0].starts_with(&format!("hints for \"{key}\": value \"x\"")),
        "{lines:?}"
    );
    assert!(lines[0].contains("kept (silent: "), "{lines:?}");
    assert!(
        lines[1].contains(&format!("hint for {}", c.addr(owner))),
        "{lines:?}"
    );
}

/// A client that waits for every server up to the deadline (the REPL's
/// complete traces) still leaves its hints after the deadline.
#[test]
fn complete_traces_leave_hints_too() {
    let (mut c, key, home, holder) = ring_and_key();
    c.start_all();
    let owner = home[0];
    c.terminate(owner);
    let config = dkvs::config::ClusterConfig::load(&c.config_path).unwrap();
    let client = dkvs::client::Client::new(config)
        .with_timeout(Duration::from_millis(500))
        .with_complete_traces(true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let quorum = dkvs::quorum::Quorum { n: 3, w: 2, r: 2 };
    let reports = runtime.block_on(async {
        let trace = client
            .put_traced(key.as_bytes(), b"x", quorum, &mut |_| {})
            .await;
        assert_eq!(trace.verdict, dkvs::trace::Verdict::Reached);
        client.finish_repairs().await
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].replicas[0].addr, c.addr(holder));
    assert_eq!(reports[0].replicas[0].hint_for, Some(c.addr(owner)));
    assert_eq!(hints_pending(&socket(), c.addr(holder)), 1);
}

/// `--hints count` (sloppy quorum): with a home server down, W=3 of N=3 is
/// reached with the hint holder's acknowledgement; the default (`store`)
/// does not count it and fails; `--hints off` leaves no hint.
#[test]
fn sloppy_quorum_counts_the_hint_only_when_asked() {
    let (mut c, key, home, holder) = ring_and_key();
    c.start_all();
    c.terminate(home[1]);
    let s = socket();
    c.client(&["put", "-w", "3", "-t", "800", "--", &key, "strict"])
        .assert_fail(code::QUORUM);
    // A write that timed out leaves no hint (hint work ends with the
    // operation's deadline).
    assert_eq!(hints_pending(&s, c.addr(holder)), 0);
    c.client(&["put", "-w", "3", "--hints", "count", "--", &key, "sloppy"])
        .assert_stdout("OK\n");
    assert_eq!(hints_pending(&s, c.addr(holder)), 1);
    let other = c.find_key("off", 3, |r| r == home.as_slice());
    c.client(&["put", "--hints", "off", "--", &other, "v"])
        .assert_stdout("OK\n");
    assert_eq!(hints_pending(&s, c.addr(holder)), 1);
    c.client(&["put", "--hints", "sometimes", "--", &other, "v"])
        .assert_fail(code::USAGE);
    c.start(home[1]);
    assert!(
        eventually(Duration::from_secs(8), || get(
            &s,
            c.addr(home[1]),
            key.as_bytes()
        )
        .is_some_and(|(v, _)| v == b"sloppy")),
        "the newest hint was not handed over"
    );
}

/// A server that knows the ring (`--servers`) keeps hints for its members
/// only: a HINT naming any other address is refused (REFUSED 6).
#[test]
fn a_ring_aware_server_refuses_hints_for_strangers() {
    let mut c = Cluster::with_format(&[1, 1], Format::ClusterToml, "");
    let path = c.config_path.clone().into_os_string();
    let options: Vec<&OsStr> = vec![OsStr::new("--servers"), path.as_os_str()];
    c.start_with_options(0, &options);
    let s = socket();
    let hint = |owner: SocketAddrV4| {
        let reply = ask(
            &s,
            c.addr(0),
            &Message::Hint {
                owner,
                key: b"k",
                value: Some(b"v"),
                version: Version {
                    timestamp: dkvs::hlc::pack(1_700_000_000_000, 0),
                    writer: 3,
                },
            },
        );
        protocol_v2::decode(&reply).unwrap().message.opcode()
    };
    let stranger: SocketAddrV4 = "127.0.0.1:9".parse().unwrap();
    assert_eq!(hint(stranger), protocol_v2::opcode::REFUSED);
    assert_eq!(hints_pending(&s, c.addr(0)), 0);
    assert_eq!(hint(c.addr(1)), protocol_v2::opcode::STORED);
    assert_eq!(hints_pending(&s, c.addr(0)), 1);
}
