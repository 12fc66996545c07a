//! The server's side of protocol v2 (issue 7) with real `dkvs-server`
//! processes on random loopback addresses, on both engines (in memory and
//! `--data-dir`):
//!
//! - every message: HELLO; PUT older / equal / newer (OLDER with the version
//!   kept, STORED); DELETE then GET (NOT FOUND with the tombstone's
//!   version); a v1 get and a v1 dump after a delete (not found, live pairs
//!   only); a v1 put then a v2 GET (version zero); a v2 PUT at version zero
//!   refused; malformed v2 datagrams answered with the v1 empty refusal;
//! - paging through a v2 dump of 3,000 keys (and tombstones): every record
//!   exactly once, in order, with small and default page sizes;
//! - tombstones purged after a tiny `--tombstone-grace`;
//! - versions and tombstones survive a restart of a durable server;
//! - end to end with `dkvs-client`: a stale majority fails a get and read
//!   repair fixes it; `del` then `get` exits "not found";
//! - R=2 with {newer, older, older} and the newer answering first: the get
//!   fails rather than return the older value, and is repaired;
//! - what v1 sees of values holding a NUL (written through v2);
//! - a mixed cluster with a real v1-only server (`--protocol v1`).

use std::ffi::{OsStr, OsString};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use crate::common::*;
use dkvs::protocol_v2::{self, EntryValue, Message, Reason};
use dkvs::version::Version;

/// The two engines: no option (in memory), or a data directory in `dir`.
fn engines(dir: &std::path::Path) -> [Vec<OsString>; 2] {
    [
        Vec::new(),
        vec![
            "--data-dir".into(),
            dir.join("data").into_os_string(),
            "--sync".into(),
            "none".into(),
        ],
    ]
}

fn refs(v: &[OsString]) -> Vec<&OsStr> {
    v.iter().map(OsString::as_os_str).collect()
}

fn socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
}

fn version(ms: u64, writer: u64) -> Version {
    Version {
        timestamp: dkvs::hlc::pack(ms, 0),
        writer,
    }
}

/// The wall clock now, in ms since the epoch.
fn now_ms() -> u64 {
    dkvs::hlc::Clock::now_ms(&dkvs::hlc::SystemClock)
}

/// A version `offset` ms after `base` (tombstones must be recent, or the
/// sweep purges them at once: the grace is counted from the version's
/// clock reading).
fn recent(base: u64, offset: u64, writer: u64) -> Version {
    version(base + offset, writer)
}

/// Sends a v2 request (retried 5 times) and returns the raw reply.
fn raw(s: &UdpSocket, addr: SocketAddrV4, datagram: &[u8]) -> Vec<u8> {
    for _ in 0..5 {
        if let Some(r) = udp_request(s, addr, datagram, Duration::from_millis(500)) {
            return r;
        }
    }
    panic!("no reply from {addr}");
}

/// One v2 request `message` with id `id`; checks the reply's id and kind
/// and hands the decoded message to `check`.
fn ask<T>(
    s: &UdpSocket,
    addr: SocketAddrV4,
    id: u64,
    message: &Message,
    check: impl FnOnce(Message) -> T,
) -> T {
    let request = protocol_v2::encode(id, message, None).unwrap();
    let reply = raw(s, addr, &request);
    let frame = protocol_v2::decode(&reply).unwrap();
    assert_eq!(frame.id, id);
    assert!(frame.message.answers(message.opcode()), "{frame:?}");
    check(frame.message)
}

fn put(s: &UdpSocket, a: SocketAddrV4, key: &[u8], value: &[u8], v: Version) -> Message<'static> {
    let m = Message::Put {
        key,
        value,
        version: v,
    };
    ask(s, a, 3, &m, owned)
}

fn delete(s: &UdpSocket, a: SocketAddrV4, key: &[u8], v: Version) -> Message<'static> {
    ask(s, a, 4, &Message::Delete { key, version: v }, owned)
}

/// A GET: `Ok((value, version))` or `Err(tombstone version)`.
fn get(s: &UdpSocket, a: SocketAddrV4, key: &[u8]) -> Result<(Vec<u8>, Version), Option<Version>> {
    ask(s, a, 2, &Message::Get { key }, |m| match m {
        Message::Value { value, version } => Ok((value.to_vec(), version)),
        Message::NotFound { tombstone } => Err(tombstone),
        other => panic!("unexpected {other:?}"),
    })
}

/// Replies without borrowed bytes (STORED, OLDER, REFUSED).
fn owned(m: Message) -> Message<'static> {
    match m {
        Message::Stored => Message::Stored,
        Message::Older { current } => Message::Older { current },
        Message::Refused { reason } => Message::Refused { reason },
        other => panic!("unexpected {other:?}"),
    }
}

/// A v1 get: `None` for not found.
fn v1_get(s: &UdpSocket, a: SocketAddrV4, key: &str) -> Option<Vec<u8>> {
    let r = raw(s, a, key.as_bytes());
    (r != b"\0").then_some(r)
}

/// Every record of a paged v2 dump with page `limit`: (key, tombstone,
/// version), and the number of pages.
fn dump_all(s: &UdpSocket, a: SocketAddrV4, limit: u16) -> (Vec<(Vec<u8>, bool, Version)>, usize) {
    let mut cursor = Vec::new();
    let mut records = Vec::new();
    for pages in 1..10_000 {
        let m = Message::Dump {
            cursor: &cursor,
            limit,
        };
        let next = ask(s, a, 5, &m, |reply| {
            let Message::Page(page) = reply else {
                panic!("unexpected {reply:?}");
            };
            if limit > 0 {
                assert!(page.entries.len() <= usize::from(limit));
            }
            for e in &page.entries {
                let tomb = matches!(e.value, EntryValue::Tombstone);
                records.push((e.key.to_vec(), tomb, e.version));
            }
            page.next_cursor().map(<[u8]>::to_vec)
        });
        match next {
            Some(c) => cursor = c,
            None => return (records, pages),
        }
    }
    panic!("the dump never ended");
}

/// Every v2 message and the v1 rules after v2 writes, on one engine.
fn messages_on(options: &[OsString]) {
    let mut c = Cluster::new(&[1]);
    c.start_with_options(0, &refs(options));
    let (s, a) = (socket(), c.addr(0));
    ask(&s, a, 1, &Message::Hello, |m| {
        assert!(
            matches!(m, Message::HelloReply { max_version: 2, .. }),
            "{m:?}"
        );
    });
    let base = now_ms();
    let (v10, v20, v30) = (
        recent(base, 10, 1),
        recent(base, 20, 1),
        recent(base, 30, 1),
    );
    assert_eq!(put(&s, a, b"k", b"b", v20), Message::Stored);
    assert_eq!(put(&s, a, b"k", b"a", v10), Message::Older { current: v20 });
    assert_eq!(put(&s, a, b"k", b"x", v20), Message::Stored);
    assert_eq!(get(&s, a, b"k"), Ok((b"b".to_vec(), v20)));
    assert_eq!(v1_get(&s, a, "k").as_deref(), Some(&b"b"[..]));
    // Delete: an older one is ignored, a newer one leaves a tombstone.
    assert_eq!(delete(&s, a, b"k", v10), Message::Older { current: v20 });
    assert_eq!(delete(&s, a, b"k", v30), Message::Stored);
    assert_eq!(delete(&s, a, b"k", v30), Message::Stored);
    assert_eq!(get(&s, a, b"k"), Err(Some(v30)));
    assert_eq!(
        put(&s, a, b"k", b"late", v20),
        Message::Older { current: v30 }
    );
    assert_eq!(v1_get(&s, a, "k"), None);
    assert_eq!(get(&s, a, b"never"), Err(None));
    // A version stamped further ahead of the server's clock than its maximum
    // offset (500 ms) would outrank every later write of the key: refused
    // with the server's clock and offset, nothing stored (DECISIONS #77).
    let future = version(base + 10 * 60_000, 1);
    let clock_ahead = |m: Message| match m {
        Message::Refused {
            reason:
                Reason::ClockAhead {
                    server_ms,
                    max_offset_ms: 500,
                },
        } => server_ms >= base && server_ms < base + 60_000,
        _ => false,
    };
    assert!(clock_ahead(put(&s, a, b"poison", b"x", future)));
    assert!(clock_ahead(delete(&s, a, b"k", future)));
    // Within the offset a version ahead is stored.
    let near = version(now_ms() + 300, 1);
    assert_eq!(put(&s, a, b"near", b"x", near), Message::Stored);
    assert_eq!(
        delete(&s, a, b"near", version(now_ms() + 301, 1)),
        Message::Stored
    );
    assert_eq!(get(&s, a, b"poison"), Err(None));
    assert_eq!(get(&s, a, b"k"), Err(Some(v30)));
    // v1 put: version zero, then any v2 write is newer; v1 overwrites all.
    assert_eq!(raw(&s, a, b"w\0one"), b"\0");
    assert_eq!(get(&s, a, b"w"), Ok((b"one".to_vec(), Version::ZERO)));
    assert_eq!(put(&s, a, b"w", b"two", v10), Message::Stored);
    assert_eq!(raw(&s, a, b"w\0three"), b"\0");
    assert_eq!(get(&s, a, b"w"), Ok((b"three".to_vec(), Version::ZERO)));
    // Pairs v1 cannot carry (a NUL byte, written through v2): "not found"
    // to a v1 get, left out of a v1 dump (DECISIONS #88); v2 sees them.
    assert_eq!(put(&s, a, b"nul", b"\0", v10), Message::Stored);
    assert_eq!(put(&s, a, b"mid", b"a\0b", v10), Message::Stored);
    assert_eq!(put(&s, a, b"a\0\n", b"binary key", v10), Message::Stored);
    assert_eq!(v1_get(&s, a, "nul"), None);
    assert_eq!(v1_get(&s, a, "mid"), None);
    assert_eq!(get(&s, a, b"mid"), Ok((b"a\0b".to_vec(), v10)));
    // A v1 dump lists live pairs v1 can carry only.
    let dump = udp_dump(a, Duration::from_secs(2)).concat();
    assert_eq!(dump, b"storing 1 key-value pairs:\nw --> three\n");
    // Version 0/0 is reserved for v1 writes.
    assert_eq!(
        put(&s, a, b"z", b"v", Version::ZERO),
        Message::Refused {
            reason: Reason::Malformed
        }
    );
    // Malformed v2 datagrams get the v1 empty refusal.
    let hello = protocol_v2::encode(9, &Message::Hello, None).unwrap();
    let stored_reply = protocol_v2::encode(9, &Message::Stored, None).unwrap();
    let mut bad_version = hello.clone();
    bad_version[4] = 3;
    let mut bad_opcode = hello.clone();
    bad_opcode[5] = 0x7e;
    let truncated = protocol_v2::encode(9, &Message::Get { key: b"k" }, None).unwrap();
    for bad in [
        &b"\0DKV"[..],
        &hello[..14],
        &bad_version,
        &bad_opcode,
        &stored_reply,
        &truncated[..truncated.len() - 1],
        &[&hello[..], b"x"].concat(),
    ] {
        assert_eq!(raw(&s, a, bad), b"", "{bad:?}");
    }
    // The server still serves afterwards.
    assert_eq!(get(&s, a, b"w"), Ok((b"three".to_vec(), Version::ZERO)));
}

#[test]
fn every_message_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    messages_on(&engines(tmp.path())[0]);
}

#[test]
fn every_message_durable() {
    let tmp = tempfile::tempdir().unwrap();
    messages_on(&engines(tmp.path())[1]);
}

/// 3,000 keys (50 of them deleted through v2) listed exactly once by the
/// paged dump, in key order, with pages of 100 and as large as fit.
#[test]
fn paged_dump_lists_every_record_once_on_both_engines() {
    let tmp = tempfile::tempdir().unwrap();
    for options in engines(tmp.path()) {
        let mut c = Cluster::new(&[1]);
        c.start_with_options(0, &refs(&options));
        let (s, a) = (socket(), c.addr(0));
        for i in 0..3000 {
            let put = format!("key-{i:05}\0value {i} {}", "x".repeat(i % 40));
            assert_eq!(raw(&s, a, put.as_bytes()), b"\0");
        }
        let deleted = recent(now_ms(), 0, 7);
        for i in (0..3000).step_by(60) {
            let key = format!("key-{i:05}");
            assert_eq!(delete(&s, a, key.as_bytes(), deleted), Message::Stored);
        }
        for limit in [100u16, 0] {
            let (records, pages) = dump_all(&s, a, limit);
            assert_eq!(records.len(), 3000, "{options:?} limit {limit}");
            assert!(records.windows(2).all(|w| w[0].0 < w[1].0));
            let tombs: Vec<_> = records.iter().filter(|r| r.1).collect();
            assert_eq!(tombs.len(), 50);
            assert!(tombs.iter().all(|r| r.2 == deleted));
            assert!(
                records
                    .iter()
                    .filter(|r| !r.1)
                    .all(|r| r.2 == Version::ZERO)
            );
            if limit == 100 {
                assert_eq!(pages, 30);
            } else {
                assert!(pages >= 2, "{pages}");
            }
        }
        let dump = udp_dump(a, Duration::from_secs(5));
        assert!(dump[0].starts_with(b"storing 2950 key-value pairs:\n"));
    }
}

/// With `--tombstone-grace 1` a tombstone is purged about a second after
/// its version's clock reading; values stay.
#[test]
fn tombstones_are_purged_after_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    for mut options in engines(tmp.path()) {
        options.extend(["--tombstone-grace".into(), "1".into()]);
        let mut c = Cluster::new(&[1]);
        c.start_with_options(0, &refs(&options));
        let (s, a) = (socket(), c.addr(0));
        let now = dkvs::hlc::SystemClock;
        let ms = dkvs::hlc::Clock::now_ms(&now);
        assert_eq!(delete(&s, a, b"gone", version(ms, 1)), Message::Stored);
        assert_eq!(
            put(&s, a, b"kept", b"v", version(ms - 60_000, 1)),
            Message::Stored
        );
        assert_eq!(get(&s, a, b"gone"), Err(Some(version(ms, 1))));
        assert!(
            eventually(Duration::from_secs(8), || get(&s, a, b"gone") == Err(None)),
            "{options:?}: the tombstone was not purged"
        );
        assert_eq!(
            get(&s, a, b"kept"),
            Ok((b"v".to_vec(), version(ms - 60_000, 1)))
        );
        let (records, _) = dump_all(&s, a, 0);
        assert_eq!(records.len(), 1);
    }
}

/// The grace period counts from when the server received the delete, not
/// from its version's clock reading (DECISIONS #79): a delete stamped 2 s
/// ago by a writer whose clock is behind is kept for the whole grace (3 s)
/// — though never past its version's reading plus twice the grace (#87).
#[test]
fn tombstone_grace_counts_from_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    for mut options in engines(tmp.path()) {
        options.extend(["--tombstone-grace".into(), "3".into()]);
        let mut c = Cluster::new(&[1]);
        c.start_with_options(0, &refs(&options));
        let (s, a) = (socket(), c.addr(0));
        let stamped = version(now_ms() - 2_000, 5);
        assert_eq!(delete(&s, a, b"late", stamped), Message::Stored);
        // The sweep runs every 300 ms: an age counted from the version
        // would have purged it at +1 s, before this.
        std::thread::sleep(Duration::from_millis(1_500));
        assert_eq!(get(&s, a, b"late"), Err(Some(stamped)), "{options:?}");
        assert!(
            eventually(Duration::from_secs(8), || get(&s, a, b"late") == Err(None)),
            "{options:?}: the tombstone was never purged"
        );
    }
}

/// A durable server keeps versions and tombstones across a restart: the
/// compare rule still holds afterwards.
#[test]
fn versions_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let options: Vec<OsString> = vec!["--data-dir".into(), dir.into_os_string()];
    let mut c = Cluster::new(&[1]);
    c.start_with_options(0, &refs(&options));
    let (s, a) = (socket(), c.addr(0));
    let base = now_ms();
    let v = |offset| recent(base, offset, 2);
    assert_eq!(put(&s, a, b"k", b"v", v(50)), Message::Stored);
    assert_eq!(delete(&s, a, b"d", v(60)), Message::Stored);
    c.terminate(0);
    c.start_with_options(0, &refs(&options));
    assert_eq!(get(&s, a, b"k"), Ok((b"v".to_vec(), v(50))));
    assert_eq!(get(&s, a, b"d"), Err(Some(v(60))));
    assert_eq!(
        put(&s, a, b"k", b"old", v(40)),
        Message::Older { current: v(50) }
    );
    // And after a kill -9 (the write-ahead log is replayed).
    assert_eq!(put(&s, a, b"k", b"w", v(70)), Message::Stored);
    c.kill(0);
    c.start_with_options(0, &refs(&options));
    assert_eq!(get(&s, a, b"k"), Ok((b"w".to_vec(), v(70))));
}

/// `dkvs-client` against real servers, now detected as v2: a stale
/// majority fails the get (exit 5) and is read-repaired, the next get
/// reads the newest value; `del` then `get` exits "not found".
#[test]
fn client_end_to_end_with_v2_servers() {
    let tmp = tempfile::tempdir().unwrap();
    for options in engines(tmp.path()) {
        let mut c = Cluster::new(&[1, 1, 1]);
        for i in 0..3 {
            let mut o = options.clone();
            if let Some(d) = o.get_mut(1) {
                d.push(format!("-{i}"));
            }
            c.start_with_options(i, &refs(&o));
        }
        let s = socket();
        let (old, new) = (version(1_700_000_000_000, 7), version(1_700_000_000_005, 9));
        let fresh = c.addr(0);
        assert_eq!(put(&s, fresh, b"k", b"new", new), Message::Stored);
        for i in 1..3 {
            assert_eq!(put(&s, c.addr(i), b"k", b"old", old), Message::Stored);
        }
        // R=3 sees all three: {newer, older, older} cannot agree on the
        // newest, so the get fails rather than return "old".
        c.get(&["-r", "3", "-t", "2000"], "k")
            .assert_fail(code::QUORUM);
        // The get fails as soon as R=3 is out of reach, so a server whose
        // reply came after that is repaired by a later get: each get
        // repairs the stale servers that answered it, none returns "old".
        let mut fixed = false;
        for _ in 0..3 {
            let out = c.get(&["-r", "3", "-t", "2000"], "k");
            assert_ne!(out.stdout, "OK old\n");
            if out.stdout == "OK new\n" {
                fixed = true;
                break;
            }
            out.assert_fail(code::QUORUM);
        }
        assert!(fixed, "read repair never made R=3 agree");
        for i in 0..3 {
            assert_eq!(get(&s, c.addr(i), b"k"), Ok((b"new".to_vec(), new)), "{i}");
        }
        // Delete, then get: not found everywhere (the tombstone written
        // on W servers, then repaired onto the others by the reads).
        c.put_ok(&[], "d", "v");
        c.client(&["del", "-w", "3", "--", "d"])
            .assert_stdout("OK\n");
        c.get(&[], "d").assert_fail(code::NOT_FOUND);
        for i in 0..3 {
            assert!(matches!(get(&s, c.addr(i), b"d"), Err(Some(_))), "{i}");
            assert_eq!(v1_get(&s, c.addr(i), "d"), None);
        }
        // A later put wins over the tombstone.
        c.put_ok(&[], "d", "back");
        c.get(&["-r", "3"], "d").assert_stdout("OK back\n");
    }
}

/// A v1 put acknowledged by a v1 quorum after a v2 put of the same key is
/// not undone by a v2 get (DECISIONS #78): with replicas {A at a version,
/// C, C} (C written through v1, so without a version), `get -r 2` answers
/// C by the byte rule, and read repair leaves C where it is.
#[test]
fn a_v1_write_after_a_v2_write_is_read_and_not_repaired_away() {
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_all();
    let s = socket();
    c.put_ok(&["-w", "3"], "k", "A");
    for i in 1..3 {
        assert_eq!(raw(&s, c.addr(i), b"k\0C"), b"\0");
    }
    for _ in 0..3 {
        // -r 3 would fail (no value on three servers); -r 2 reads C.
        c.get(&["-r", "2", "-t", "2000"], "k")
            .assert_stdout("OK C\n");
    }
    for i in 1..3 {
        assert_eq!(v1_get(&s, c.addr(i), "k"), Some(b"C".to_vec()), "{i}");
        assert_eq!(get(&s, c.addr(i), b"k"), Ok((b"C".to_vec(), Version::ZERO)));
    }
    c.get(&["-r", "3", "-t", "2000"], "k")
        .assert_fail(code::QUORUM);
    // Still no repair: C stays on both.
    for i in 1..3 {
        assert_eq!(v1_get(&s, c.addr(i), "k"), Some(b"C".to_vec()), "{i}");
    }
    // A versioned put afterwards wins everywhere, as usual.
    c.put_ok(&["-w", "3"], "k", "D");
    c.get(&["-r", "3"], "k").assert_stdout("OK D\n");
}

/// `dkvs-client --protocol v1` speaks protocol v1 only: its puts carry no
/// version (stored at 0/0), and it cannot delete.
#[test]
fn client_protocol_v1_writes_without_versions() {
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_all();
    let s = socket();
    c.client(&["--protocol", "v1", "put", "--", "k", "plain"])
        .assert_stdout("OK\n");
    for i in 0..3 {
        assert_eq!(
            get(&s, c.addr(i), b"k"),
            Ok((b"plain".to_vec(), Version::ZERO))
        );
    }
    c.client(&["--protocol", "v1", "get", "--", "k"])
        .assert_stdout("OK plain\n");
    c.client(&["--protocol", "v1", "del", "--", "k"])
        .assert_fail(1);
    c.client(&["--protocol", "v3", "get", "--", "k"])
        .assert_fail(code::USAGE);
}

/// Issue 7 item 3 with R=2 on real servers: replicas {newer, older, older},
/// the two older ones slowed by fault proxies (500 ms each way) so the
/// newer answers first. Once the newer version is seen the older value
/// is never returned: the get fails (1 + 0 < R=2 on the newest) although
/// the two older replies agree with each other; the two stale servers are
/// repaired off the latency path and the next get reads the newer value.
#[test]
fn stale_majority_with_r2_fails_and_is_repaired() {
    use dkvs::client::Client;
    use dkvs::fault_proxy::{Direction, FaultConfig, FaultProxy, Faults};
    use dkvs::quorum::Quorum;
    use dkvs::trace::Verdict;
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_all();
    let s = socket();
    let base = now_ms();
    let (old, new) = (recent(base, 0, 7), recent(base, 5, 9));
    assert_eq!(put(&s, c.addr(0), b"k", b"new", new), Message::Stored);
    for i in 1..3 {
        assert_eq!(put(&s, c.addr(i), b"k", b"old", old), Message::Stored);
    }
    let rt = test_runtime();
    let q = Quorum { n: 3, w: 2, r: 2 };
    rt.block_on(async {
        let slow = Faults {
            delay: Duration::from_millis(500),
            ..Faults::NONE
        };
        let mut client = Client::new(c.config.clone()).with_timeout(Duration::from_secs(6));
        let mut proxies = Vec::new();
        for i in 1..3 {
            let listen = SocketAddrV4::new(*c.addr(i).ip(), 0);
            let proxy = FaultProxy::builder(listen, c.addr(i))
                .faults(FaultConfig::on(Direction::Both, slow))
                .start()
                .await
                .unwrap();
            client.set_route(i, Some(proxy.local_addr()));
            proxies.push(proxy);
        }
        let trace = client.get_traced(b"k", q, &mut |_| {}).await;
        assert!(
            matches!(trace.verdict, Verdict::Failed(_)),
            "{:?} value {:?}",
            trace.verdict,
            trace.value
        );
        assert_ne!(trace.value.as_deref(), Some(&b"old"[..]));
        assert_eq!(trace.version, Some(new));
        client.finish_repairs().await;
        for i in 0..3 {
            assert_eq!(get(&s, c.addr(i), b"k"), Ok((b"new".to_vec(), new)), "{i}");
        }
        let trace = client.get_traced(b"k", q, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached);
        assert_eq!(trace.value.as_deref(), Some(&b"new"[..]));
    });
}

/// A mixed cluster with a real v1-only server (issue 7 item 8):
/// `dkvs-server --protocol v1` answers as a server of the original design
/// (protocol v1 only; a v2 request gets the v1 refusal). `dkvs-client` detects
/// it and speaks v1 to it: puts reach all three, gets with R=3 agree (its
/// unversioned copy agrees with the newest v2 value), and a delete counts
/// it as a refusal but succeeds on the two others, after which gets report
/// not found. v1 cannot be combined with a key or `--servers`.
#[test]
fn mixed_cluster_with_a_real_v1_only_server() {
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_with_options(0, &[OsStr::new("--protocol"), OsStr::new("v1")]);
    c.start(1);
    c.start(2);
    let s = socket();
    let hello = protocol_v2::encode(3, &Message::Hello, None).unwrap();
    assert_eq!(
        raw(&s, c.addr(0), &hello),
        b"",
        "v1 refusal of a v2 request"
    );
    c.client(&["put", "-w", "3", "--", "k", "v"])
        .assert_stdout("OK\n");
    assert_eq!(v1_get(&s, c.addr(0), "k").as_deref(), Some(&b"v"[..]));
    c.get(&["-r", "3"], "k").assert_stdout("OK v\n");
    c.client(&["put", "-w", "3", "--", "k", "w"])
        .assert_stdout("OK\n");
    c.get(&["-r", "3"], "k").assert_stdout("OK w\n");
    for i in 1..3 {
        assert!(
            matches!(get(&s, c.addr(i), b"k"), Ok((v, _)) if v == b"w"),
            "{i}"
        );
    }
    // Delete: W=2 from the v2 servers; the v1 server keeps its value, but
    // the tombstone is newer, so R=2 reads "not found".
    c.client(&["del", "-w", "2", "--", "k"])
        .assert_stdout("OK\n");
    assert_eq!(v1_get(&s, c.addr(0), "k").as_deref(), Some(&b"w"[..]));
    c.get(&["-r", "2"], "k").assert_fail(code::NOT_FOUND);
    // v1 with authentication or ring knowledge: a usage error.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    std::fs::write(&key, format!("1 {}\n", "ab".repeat(32))).unwrap();
    let servers = dir.path().join("servers.txt");
    std::fs::write(&servers, "127.0.0.1 1 1\n").unwrap();
    for extra in [
        ["--key-file", key.to_str().unwrap()],
        ["--servers", servers.to_str().unwrap()],
    ] {
        let out = run(
            clean_command(SERVER, dir.path())
                .args(["--protocol", "v1"])
                .args(extra)
                .args(["127.0.0.1", "1"]),
            RUN_LIMIT,
        );
        out.assert_error(code::USAGE);
        assert!(
            out.stderr.contains("--protocol v1 cannot be combined with"),
            "{extra:?}: {out}"
        );
    }
}
