//! The client's side of protocol v2 (issue 7), against small v2 servers
//! running in test threads (`common::V2Responder`: real UDP on loopback,
//! records with versions, optionally v1-only, slow, or sending a reply with
//! a wrong request id first). `dkvs-server` speaks v2 too (its side is
//! tested in `tests/v2_server.rs`), but these fakes can be set up in states
//! a real server would not reach on its own — a stale replica, a v1-only
//! server, a wrong id — so the client's rules are tested against them:
//!
//! - a stale majority ({newer, older, older}, R=2) fails the get, and read
//!   repair makes the next get succeed — in the library and through two
//!   `dkvs-client` processes (the first repairs before it exits);
//! - delete then get is "not found"; a later put wins over the tombstone;
//! - a cluster with one v1-only server: puts and gets work, its protocol is
//!   learned once, deletes count it as a refusal; an all-v1 cluster
//!   refuses `del` with a clear error and exit code 1;
//! - a reply with another request id is ignored;
//! - a v1 server slower than the write quorum still gets every put;
//! - concurrent writers: the newest version wins; writers, deletes and
//!   readers checked by the versioned history checker, also through fault
//!   proxies (loss, duplication, reordering).

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::common::*;
use dkvs::client::{Client, OpError};
use dkvs::config::parse_servers_txt;
use dkvs::hlc::Clock;
use dkvs::protocol_v2::Dialect;
use dkvs::quorum::{Quorum, QuorumOptions};
use dkvs::trace::{Failure, Reply, Verdict};
use dkvs::version::Version;

/// `count` responders on one fresh loopback address; the first
/// `v1_only` of them speak only v1.
fn responders(count: usize, v1_only: usize) -> (Ipv4Addr, Vec<V2Responder>) {
    let ip = loopback_ip();
    let all = (0..count)
        .map(|i| {
            if i < v1_only {
                V2Responder::v1_only(bind_socket(ip))
            } else {
                V2Responder::spawn(bind_socket(ip))
            }
        })
        .collect();
    (ip, all)
}

/// A library client of the responders (one node each), 2 s deadline.
fn client_of(ip: Ipv4Addr, rs: &[V2Responder]) -> Client {
    let text: String = rs
        .iter()
        .map(|r| format!("{ip} {} 1\n", r.addr.port()))
        .collect();
    Client::new(parse_servers_txt(&text, "t").unwrap()).with_timeout(Duration::from_secs(2))
}

/// A `Cluster` (for running `dkvs-client`) over the responders.
fn cluster_of(ip: Ipv4Addr, rs: &[V2Responder]) -> Cluster {
    let servers = rs.iter().map(|r| (ip, r.addr.port(), 1)).collect();
    Cluster::from_servers(servers, Format::ServersTxt, "")
}

const N3R2: Quorum = Quorum { n: 3, w: 2, r: 2 };

fn version(ms: u64, writer: u64) -> Version {
    Version {
        timestamp: dkvs::hlc::pack(ms, 0),
        writer,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    test_runtime()
}

/// {newer, older, older} with R=2: the two older copies would agree, but a
/// newer version was seen first, so the get fails; read repair then sends
/// the newer one to both, and the next get succeeds.
#[test]
fn stale_majority_fails_and_read_repair_fixes_it() {
    let (ip, rs) = responders(3, 0);
    let (old, new) = (version(1_700_000_000_000, 7), version(1_700_000_000_005, 9));
    rs[0].set(b"k", Some(b"new"), new);
    for r in &rs[1..] {
        r.set(b"k", Some(b"old"), old);
        // The newer reply arrives first.
        r.state.lock().unwrap().delay = Duration::from_millis(150);
    }
    let client = client_of(ip, &rs);
    runtime().block_on(async {
        let trace = client.get_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(
            trace.verdict,
            Verdict::Failed(Failure::NotEnough),
            "{trace:#?}"
        );
        assert_eq!(trace.value, None);
        assert_eq!(trace.version, Some(new));
        let reason = trace.failure_reason().unwrap();
        assert!(reason.contains("newest version"), "{reason}");
        assert_eq!(
            dkvs::commands::trace_error(&trace).unwrap().code,
            code::QUORUM
        );
        for r in &trace.replicas {
            let stale = r.version == Some(old);
            assert_eq!(r.repair, stale.then_some(new), "{r:?}");
            assert_eq!(r.dialect, Some(Dialect::V2));
        }
        let repairs = client.finish_repairs().await;
        assert_eq!(repairs.len(), 1);
        assert_eq!(repairs[0].verdict, Verdict::Reached, "{:#?}", repairs[0]);
        assert_eq!(repairs[0].replicas.len(), 2);
        assert_eq!(repairs[0].version, Some(new));
        for r in &rs {
            assert_eq!(r.record(b"k"), Some((Some(b"new".to_vec()), new)));
        }
        assert!(client.finish_repairs().await.is_empty());
        let trace = client.get_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached);
        assert_eq!(trace.value.as_deref(), Some(&b"new"[..]));
        assert_eq!(trace.version, Some(new));
        assert!(trace.replicas.iter().all(|r| r.repair.is_none()));
    });
}

/// A replica whose record failed its check answers REFUSED 12: its trace
/// says `refused: corrupt`, it does not count toward R (the other two
/// decide), and read repair sends it the value read — replacing its record
/// even though that record's (untrusted) version is higher. With the other
/// replicas down, the get fails naming the refusal, never "not found".
#[test]
fn a_corrupt_replica_is_refused_not_counted_and_repaired() {
    let (ip, rs) = responders(3, 0);
    let (good, garbage) = (version(1_700_000_000_000, 7), version(1_800_000_000_000, 9));
    rs[0].set(b"k", Some(b"garbage"), garbage);
    rs[0].state.lock().unwrap().corrupt.insert(b"k".to_vec());
    for r in &rs[1..] {
        r.set(b"k", Some(b"good"), good);
        // The refusal arrives before the verdict (repair looks at the
        // replies the get waited for).
        r.state.lock().unwrap().delay = Duration::from_millis(100);
    }
    let client = client_of(ip, &rs);
    runtime().block_on(async {
        let trace = client.get_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached, "{trace:#?}");
        assert_eq!(trace.value.as_deref(), Some(&b"good"[..]));
        assert_eq!(trace.version, Some(good));
        let bad = trace
            .replicas
            .iter()
            .find(|r| r.addr == rs[0].addr)
            .unwrap();
        assert_eq!(
            bad.reply,
            Some(Reply::Refused(Some(dkvs::protocol_v2::Reason::Corrupt)))
        );
        assert_eq!(bad.reply.as_ref().unwrap().to_string(), "refused: corrupt");
        assert!(!bad.counted);
        assert_eq!(bad.repair, Some(good));
        let others = trace.replicas.iter().filter(|r| r.addr != rs[0].addr);
        assert!(others.clone().all(|r| r.repair.is_none() && r.counted));
        let repairs = client.finish_repairs().await;
        assert_eq!(repairs.len(), 1);
        assert_eq!(repairs[0].verdict, Verdict::Reached, "{:#?}", repairs[0]);
        assert_eq!(rs[0].record(b"k"), Some((Some(b"good".to_vec()), good)));
        assert!(rs[0].state.lock().unwrap().corrupt.is_empty());
        // Corrupt again, and the only replica asked: a failure naming the
        // refusal, not "not found".
        rs[0].state.lock().unwrap().corrupt.insert(b"k".to_vec());
        let alone = Client::new(
            parse_servers_txt(&format!("{ip} {} 1\n", rs[0].addr.port()), "t").unwrap(),
        )
        .with_timeout(Duration::from_millis(500));
        let one = Quorum { n: 1, w: 1, r: 1 };
        let trace = alone.get_traced(b"k", one, &mut |_| {}).await;
        assert_ne!(trace.verdict, Verdict::Failed(Failure::NotFound));
        assert_eq!(trace.value, None);
        let reason = trace.failure_reason().unwrap();
        assert!(
            reason.contains("corrupt (its stored record failed its check"),
            "{reason}"
        );
    });
}

/// The same through `dkvs-client`: the failing get repairs before its
/// process exits, so the next process reads the newest value.
#[test]
fn cli_get_repairs_before_exiting() {
    let (ip, rs) = responders(3, 0);
    let (old, new) = (version(1_700_000_000_000, 7), version(1_700_000_000_005, 9));
    rs[0].set(b"k", Some(b"new"), new);
    for r in &rs[1..] {
        r.set(b"k", Some(b"old"), old);
        r.state.lock().unwrap().delay = Duration::from_millis(150);
    }
    let c = cluster_of(ip, &rs);
    c.get(&["-t", "2000"], "k").assert_fail(code::QUORUM);
    for r in &rs {
        r.state.lock().unwrap().delay = Duration::ZERO;
        assert_eq!(r.record(b"k"), Some((Some(b"new".to_vec()), new)));
    }
    c.get(&["-t", "2000", "-r", "3"], "k")
        .assert_stdout("OK new\n");
}

/// A delete writes a newer tombstone on W servers; gets then say not found;
/// a later put wins over it.
#[test]
fn delete_then_get_is_not_found() {
    let (ip, rs) = responders(3, 0);
    let client = client_of(ip, &rs).with_writer(42);
    runtime().block_on(async {
        let o = QuorumOptions::default();
        client.put(b"k", b"v", o.w(3)).await.unwrap();
        let (_, put_version) = rs[0].record(b"k").unwrap();
        assert_eq!(put_version.writer, 42);
        let trace = client.delete_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached, "{trace:#?}");
        let deleted = trace.version.unwrap();
        assert!(deleted > put_version);
        // Every server stores the tombstone (W=2 returns at 2; the third
        // answers a moment later).
        assert!(eventually(Duration::from_secs(2), || {
            rs.iter().all(|r| r.record(b"k") == Some((None, deleted)))
        }));
        let trace = client.get_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Failed(Failure::NotFound));
        assert_eq!(trace.version, Some(deleted));
        assert_eq!(client.get(b"k", o).await, Err(OpError::NotFound));
        client.put(b"k", b"back", o).await.unwrap();
        assert_eq!(client.get(b"k", o.r(2)).await.unwrap(), b"back");
        // A delete of a key nobody has is still a tombstone on W servers.
        client.delete(b"never", o).await.unwrap();
        // Keys follow the get rules.
        assert!(matches!(
            client.delete(b"", o).await,
            Err(OpError::Failed(_))
        ));
    });
    // Through the binary: `del` prints OK, then get exits "not found".
    let c = cluster_of(ip, &rs);
    c.put_ok(&[], "k2", "v");
    c.client(&["del", "--", "k2"]).assert_stdout("OK\n");
    c.get(&[], "k2").assert_fail(code::NOT_FOUND);
    c.client(&["del", "-w", "3", "-t", "2000", "--", "k2"])
        .assert_stdout("OK\n");
}

/// A tombstone older than a stored value is answered OLDER, which does not
/// count toward W: the client adopts the newer version and stamps the
/// delete again, which then wins (a write acknowledged after another one is
/// ordered after it, whatever the clocks say).
#[test]
fn an_older_delete_is_restamped_and_wins() {
    let (ip, rs) = responders(3, 0);
    let now = dkvs::hlc::SystemClock.now_ms();
    let ahead = version(now + 300, 1);
    for r in &rs {
        r.set(b"k", Some(b"from a clock ahead"), ahead);
    }
    let client = client_of(ip, &rs);
    runtime().block_on(async {
        let trace = client.delete_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached, "{trace:#?}");
        assert_eq!(trace.restamps.len(), 1, "{trace:#?}");
        assert_eq!(trace.restamps[0].superseded_by, ahead);
        assert!(trace.version.unwrap() > ahead);
        assert!(trace.replicas.iter().filter(|r| r.counted).count() >= 2);
        assert!(
            trace
                .replicas
                .iter()
                .all(|r| r.reply != Some(Reply::Older) || !r.counted)
        );
        assert_eq!(
            client.get(b"k", QuorumOptions::default()).await,
            Err(OpError::NotFound)
        );
    });
}

/// A version far beyond what a client may adopt (a server clock hours
/// ahead): the delete fails, saying this clock is behind, and the value
/// stays.
#[test]
fn a_delete_superseded_from_far_ahead_fails_with_the_reason() {
    let (ip, rs) = responders(3, 0);
    let future = version(dkvs::hlc::physical_ms(u64::MAX >> 1), 1);
    for r in &rs {
        r.set(b"k", Some(b"kept"), future);
    }
    let client = client_of(ip, &rs);
    runtime().block_on(async {
        let trace = client.delete_traced(b"k", N3R2, &mut |_| {}).await;
        assert!(
            matches!(trace.verdict, Verdict::Failed(Failure::ClockBehind { newer, .. }) if newer == future),
            "{trace:#?}"
        );
        assert!(trace.failed_clock());
        let reason = trace.failure_reason().unwrap();
        assert!(reason.contains("this client's clock is behind; fix its time (NTP)"), "{reason}");
        assert_eq!(
            client.get(b"k", QuorumOptions::default()).await.unwrap(),
            b"kept"
        );
    });
}

/// One v1-only server among v2 ones: its protocol is learned at the first
/// request and kept (no more v2 datagrams to it); puts and gets work with
/// every server; a delete counts it as a refusal but succeeds on the others.
#[test]
fn mixed_cluster_with_one_v1_only_server() {
    let (ip, rs) = responders(3, 1);
    let client = client_of(ip, &rs);
    let o = QuorumOptions::default();
    runtime().block_on(async {
        client.put(b"k", b"v", o.w(3)).await.unwrap();
        let probes = rs[0].v2_received();
        assert!((1..=5).contains(&probes), "{probes} v2 datagrams");
        assert_eq!(client.dialect(0), Some(Dialect::V1));
        assert_eq!(client.dialect(1), Some(Dialect::V2));
        assert_eq!(client.dialect(2), Some(Dialect::V2));
        assert_eq!(
            rs[0].record(b"k"),
            Some((Some(b"v".to_vec()), Version::ZERO))
        );
        // R=3: the v1 copy (no version) agrees with the newest v2 value.
        assert_eq!(client.get(b"k", o.r(3)).await.unwrap(), b"v");
        client.put(b"k", b"w", o.w(3)).await.unwrap();
        assert_eq!(client.get(b"k", o.r(3)).await.unwrap(), b"w");
        assert_eq!(rs[0].v2_received(), probes, "v2 sent again to a v1 server");

        let trace = client.delete_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached, "{trace:#?}");
        let v1 = trace.replicas.iter().find(|r| r.server == 0).unwrap();
        assert_eq!(v1.reply, Some(Reply::V1Only));
        assert!(!v1.counted);
        // The v1 server keeps its value, but the tombstone is newer.
        assert_eq!(client.get(b"k", o.r(2)).await, Err(OpError::NotFound));
        assert_eq!(rs[0].v2_received(), probes);
    });
}

/// `del` against servers that speak only v1: refused, exit 1, one clear
/// error line; nothing is sent after the first refusal of each.
#[test]
fn delete_on_a_v1_only_cluster_is_refused() {
    let (ip, rs) = responders(2, 2);
    let c = cluster_of(ip, &rs);
    let out = c.client(&["del", "-t", "2000", "--", "k"]);
    out.assert_fail(code::FAILED);
    out.assert_one_error_line();
    assert!(
        out.stderr
            .contains("speak only protocol v1, which cannot delete"),
        "{out}"
    );
    // Same from the library; v1 mode refuses without sending anything.
    let client = client_of(ip, &rs).with_protocol(dkvs::client::ProtocolMode::V1);
    let received = || -> usize {
        rs.iter()
            .map(|r| r.state.lock().unwrap().received.len())
            .sum()
    };
    // The responders record on their own threads: wait until what the
    // dkvs-client process sent has all been recorded (a count steady for
    // 300 ms, each server having had at least its DELETE).
    let mut before = received();
    assert!(eventually(Duration::from_secs(5), || {
        std::thread::sleep(Duration::from_millis(300));
        let now = received();
        let steady = now == before && now >= rs.len();
        before = now;
        steady
    }));
    runtime().block_on(async {
        let trace = client
            .delete_traced(b"k", Quorum { n: 2, w: 1, r: 1 }, &mut |_| {})
            .await;
        assert_eq!(trace.verdict, Verdict::Failed(Failure::NotEnough));
        assert!(
            trace
                .replicas
                .iter()
                .all(|r| r.reply == Some(Reply::V1Only))
        );
    });
    assert_eq!(before, received());
}

/// A reply carrying another request id — here a VALUE with the highest
/// possible version — is ignored: the get returns what the servers hold.
#[test]
fn replies_with_another_request_id_are_ignored() {
    let (ip, rs) = responders(3, 0);
    for r in &rs {
        r.state.lock().unwrap().wrong_id_first = true;
    }
    let client = client_of(ip, &rs);
    runtime().block_on(async {
        let o = QuorumOptions::default();
        client.put(b"k", b"v", o.w(3)).await.unwrap();
        let trace = client.get_traced(b"k", N3R2, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached, "{trace:#?}");
        assert_eq!(trace.value.as_deref(), Some(&b"v"[..]));
        assert!(trace.version.is_some_and(|v| v.timestamp != u64::MAX));
        assert!(client.finish_repairs().await.is_empty());
    });
}

/// Two writers (their own writer ids): whichever put comes later has the
/// higher version and wins everywhere, even when an older put arrives
/// afterwards (it is answered OLDER).
#[test]
fn newest_version_wins_between_writers() {
    let (ip, rs) = responders(3, 0);
    let a = client_of(ip, &rs).with_writer(1);
    let b = client_of(ip, &rs).with_writer(2);
    let o = QuorumOptions::default();
    runtime().block_on(async {
        a.put(b"k", b"from a", o.w(3)).await.unwrap();
        b.put(b"k", b"from b", o.w(3)).await.unwrap();
        assert_eq!(a.get(b"k", o.r(3)).await.unwrap(), b"from b");
        let (_, newest) = rs[0].record(b"k").unwrap();
        assert_eq!(newest.writer, 2);
        // A stale write (an old version replayed) changes nothing.
        for r in &rs {
            let replies = {
                let socket = bind_socket(ip);
                let put = dkvs::protocol_v2::Message::Put {
                    key: b"k",
                    value: b"stale",
                    version: version(1, 3),
                };
                let d = dkvs::protocol_v2::encode(5, &put, None).unwrap();
                udp_request(&socket, r.addr, &d, Duration::from_secs(2)).unwrap()
            };
            let frame = dkvs::protocol_v2::decode(&replies).unwrap();
            assert_eq!(
                frame.message,
                dkvs::protocol_v2::Message::Older { current: newest }
            );
        }
        assert_eq!(b.get(b"k", o.r(3)).await.unwrap(), b"from b");
    });
}

/// The REPL shows versions, repairs and `del` (the REPL's text plus the
/// v2 details).
#[test]
fn repl_shows_versions_repairs_and_del() {
    let (ip, rs) = responders(3, 1);
    let client = client_of(ip, &rs);
    let mut repl = dkvs::repl::Interpreter::new(client, None);
    let rt = runtime();
    let mut run = |line: &str| {
        let mut lines = Vec::new();
        let outcome = rt.block_on(repl.run_line(line, &mut |e| {
            if let dkvs::repl::ReplEvent::Line(l) = e {
                lines.push(l);
            }
        }));
        println!("> {line}\n{}", lines.join("\n"));
        (outcome.ok, lines)
    };
    let (ok, lines) = run("put k v w=3");
    assert!(ok, "{lines:#?}");
    // The v2 servers' lines carry no version for a STORED reply.
    let (ok, lines) = run("get k r=3");
    assert!(ok, "{lines:#?}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("value \"v\" v")).count(),
        2
    );
    // Make one v2 server stale: the next get repairs it.
    rs[2].set(b"k", Some(b"old"), version(1_600_000_000_000, 5));
    let (ok, lines) = run("get k r=2");
    assert!(ok, "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("repair → v")), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("read repair of \"k\": value \"v\"")),
        "{lines:#?}"
    );
    let (ok, lines) = run("del k w=2");
    assert!(ok, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("not sent (v1 only")),
        "{lines:#?}"
    );
    assert!(
        lines.last().unwrap().starts_with("OK — W=2 reached"),
        "{lines:#?}"
    );
    let (ok, lines) = run("get k");
    assert!(!ok);
    assert!(
        lines.last().unwrap().starts_with("FAIL — not found"),
        "{lines:#?}"
    );
    let (ok, lines) = run("del k r=2");
    assert!(!ok);
    assert_eq!(
        lines,
        ["ERROR: del does not take r=; its options are n= w="]
    );
    let (_, lines) = run("help del");
    assert!(lines[0].starts_with("del <key> [n=N] [w=W]"), "{lines:#?}");
}

/// Concurrent writers of the same keys (puts and deletes) and readers, for
/// `run`, each responder behind a fault proxy with `faults` when given;
/// returns the history, checked by the caller.
fn versioned_load(
    faults: Option<dkvs::fault_proxy::FaultConfig>,
    run: Duration,
) -> dkvs::checker::History {
    let (ip, rs) = responders(3, 0);
    let targets: Vec<std::net::SocketAddrV4> = rs.iter().map(|r| r.addr).collect();
    versioned_writers_history(&client_of(ip, &rs), &targets, faults, 4, run)
}

/// Concurrent writers of the same keys, no faults: every read is a version
/// some write produced, never older than one acknowledged before the read
/// began (the versioned history checker).
#[test]
fn concurrent_writers_pass_the_versioned_checker() {
    let report = versioned_load(None, Duration::from_millis(800)).check(true);
    println!("v2 writers: {report}");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.deletes > 0 && report.gets > 10, "{report}");
    assert!(report.success_rate() > 0.9, "{report}");
}

/// The same through fault proxies: 10 % loss, duplication and reordering
/// each way (no corruption: v2 without a key has no checksum).
#[test]
fn concurrent_writers_under_loss_duplication_and_reordering() {
    use dkvs::fault_proxy::{Direction, FaultConfig, Faults};
    let faults = Faults {
        drop: 0.1,
        duplicate: 0.1,
        reorder: 0.1,
        ..Faults::NONE
    };
    let history = versioned_load(
        Some(FaultConfig::on(Direction::Both, faults)),
        Duration::from_millis(1500),
    );
    let report = history.check(true);
    println!("v2 writers under faults: {report}");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.gets > 10, "{report}");
}

/// A v1 server slower than the write quorum still gets the put, as it did
/// before v2: its refusal of the v2 request arrives after the verdict, and
/// the `dkvs-client` process sends it the v1 put before exiting.
#[test]
fn a_slow_v1_server_still_gets_every_put() {
    let (ip, rs) = responders(3, 3);
    rs[2].state.lock().unwrap().delay = Duration::from_millis(5);
    let c = cluster_of(ip, &rs);
    c.client(&["put", "-w", "2", "--", "k", "v"])
        .assert_stdout("OK\n");
    assert!(
        eventually(Duration::from_secs(2), || rs[2].record(b"k").is_some()),
        "the slow server never got the put"
    );
    assert_eq!(
        rs[2].record(b"k"),
        Some((Some(b"v".to_vec()), Version::ZERO))
    );
}

/// A server found v1-only is asked in v2 again once the mark expires, so
/// a server upgraded to v2 is noticed (issue 7 review).
#[test]
fn a_v1_only_mark_expires_and_an_upgrade_is_noticed() {
    let (ip, rs) = responders(1, 1);
    let client = client_of(ip, &rs).with_v1_recheck(Duration::from_millis(300));
    let one = Quorum { n: 1, w: 1, r: 1 };
    runtime().block_on(async {
        let trace = client.put_traced(b"k", b"v1", one, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached);
        assert_eq!(client.dialect(0), Some(Dialect::V1));
        // The server is upgraded: within the mark it is still spoken to
        // in v1, afterwards in v2 again.
        rs[0].state.lock().unwrap().v1_only = false;
        client.put_traced(b"k", b"still", one, &mut |_| {}).await;
        assert_eq!(client.dialect(0), Some(Dialect::V1));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(client.dialect(0), None);
        let trace = client.put_traced(b"k", b"v2", one, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached);
        assert_eq!(trace.replicas[0].dialect, Some(Dialect::V2));
        assert_eq!(client.dialect(0), Some(Dialect::V2));
        assert!(trace.version.is_some());
    });
}
