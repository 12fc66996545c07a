//! Authentication (issue 7 item 6) with real `dkvs-server` processes given
//! a key file through `DKVS_KEY_FILE`, on random loopback addresses:
//!
//! - signed put/get/del through `dkvs-client`, the key coming from the
//!   `key_file` of a `cluster.toml`; a client without the key fails;
//! - every rejected datagram — unsigned v2, v1 get and put, forged tag,
//!   unknown key id, a timestamp outside the window, truncated — gets
//!   REFUSED 5 or silence, and the server keeps serving; HELLO stays open
//!   and says a key is required; a replay inside the window is harmless;
//! - key rotation: a server accepting keys A and B, a client signing with B;
//! - the `dkvs-tui` path: the supervisor spawns keyed servers from a
//!   `cluster.toml`, probes them with HELLO, and a library client works;
//! - signed replies: a keyed server signs its replies to signed requests
//!   (in-memory and with `--data-dir`, where the committer answers writes),
//!   and a keyed client ignores unsigned, forged, unknown-key and stale
//!   replies from a fake server, so its operation times out.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::client::Client;
use dkvs::commands::exit;
use dkvs::config::ClusterConfig;
use dkvs::protocol_v2::{self, AuthKey, Message, Reason, feature, opcode};
use dkvs::quorum::QuorumOptions;
use dkvs::supervisor::{Launcher, SERVE_FLAG, ServerState, Supervisor};
use dkvs::version::Version;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");

/// Secret of key A (id 1), as hex in key files.
const SECRET_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// Secret of key B (id 2).
const SECRET_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

/// Key A as the codec sees it.
fn key_a() -> AuthKey {
    protocol_v2::parse_key_file(&format!("1 {SECRET_A}\n")).unwrap()[0].clone()
}

/// Key B.
fn key_b() -> AuthKey {
    protocol_v2::parse_key_file(&format!("2 {SECRET_B}\n")).unwrap()[0].clone()
}

fn now_ms() -> u64 {
    dkvs::hlc::Clock::now_ms(&dkvs::hlc::SystemClock)
}

/// Writes a key file `name` in `dir` with `lines` and returns its path.
fn key_file(dir: &Path, name: &str, lines: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines).unwrap();
    path
}

/// Whether `addr` answers an unsigned HELLO within `limit`.
fn hello_answered(addr: SocketAddrV4, limit: Duration) -> bool {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let hello = protocol_v2::encode(0, &Message::Hello, None).unwrap();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if udp_request(&s, addr, &hello, Duration::from_millis(100)).is_some() {
            return true;
        }
    }
    false
}

/// Starts server `i` of `cluster` with `DKVS_KEY_FILE=keys` and waits until
/// it answers HELLO (a keyed server drops the harness's v1 probe).
fn start_keyed(cluster: &mut Cluster, i: usize, keys: &Path) -> usize {
    start_keyed_by(cluster, i, keys, false)
}

/// [`start_keyed`], with `--key-file` instead of the variable when `flag`.
fn start_keyed_by(cluster: &mut Cluster, i: usize, keys: &Path, flag: bool) -> usize {
    start_keyed_with(cluster, i, keys, flag, &[])
}

/// [`start_keyed_by`], with `options` (e.g. `--data-dir DIR`) before the
/// address.
fn start_keyed_with(
    cluster: &mut Cluster,
    i: usize,
    keys: &Path,
    flag: bool,
    options: &[&std::ffi::OsStr],
) -> usize {
    let (ip, port, _) = cluster.servers[i];
    let err = cluster.dir.path().join(format!("server-{i}.err"));
    let mut cmd = clean_command(SERVER, cluster.dir.path());
    if flag {
        cmd.arg("--key-file").arg(keys);
    } else {
        cmd.env(dkvs::limits::KEY_FILE_ENV, keys);
    }
    cmd.args(options);
    cmd.arg(ip.to_string())
        .arg(port.to_string())
        .stderr(std::fs::File::create(&err).unwrap());
    let handle = cluster
        .procs
        .spawn(format!("keyed dkvs-server {ip} {port}"), &mut cmd);
    let deadline = Instant::now() + READY_LIMIT;
    while !hello_answered(cluster.addr(i), Duration::from_millis(200)) {
        let log = std::fs::read_to_string(&err).unwrap_or_default();
        assert!(
            cluster.procs.is_running(handle),
            "keyed server exited: {log}"
        );
        assert!(Instant::now() < deadline, "keyed server silent: {log}");
    }
    handle
}

/// The reply to `datagram`, if one comes within 300 ms.
fn reply(s: &UdpSocket, addr: SocketAddrV4, datagram: &[u8]) -> Option<Vec<u8>> {
    udp_request(s, addr, datagram, Duration::from_millis(300))
}

/// Asserts that `datagram` is answered with REFUSED 5 (request id `id`).
#[track_caller]
fn assert_unauthenticated(s: &UdpSocket, addr: SocketAddrV4, datagram: &[u8], id: u64, what: &str) {
    let r = reply(s, addr, datagram).unwrap_or_else(|| panic!("{what}: no reply"));
    let frame = protocol_v2::decode(&r).unwrap();
    assert_eq!(frame.id, id, "{what}");
    assert_eq!(
        frame.message,
        Message::Refused {
            reason: Reason::Unauthenticated
        },
        "{what}"
    );
}

/// A fresh version from the wall clock.
fn version(writer: u64) -> Version {
    Version {
        timestamp: dkvs::hlc::pack(now_ms(), 0),
        writer,
    }
}

#[test]
fn signed_client_works_unsigned_client_fails() {
    let mut c = Cluster::with_toml(&[1, 1, 1], "key_file = \"keys\"");
    let keys = key_file(
        c.dir.path(),
        "keys",
        &format!("# cluster key\n1 {SECRET_A}\n"),
    );
    for i in 0..3 {
        start_keyed(&mut c, i, &keys);
    }
    c.put_ok(&[], "colour", "blue");
    c.get(&[], "colour").assert_stdout("OK blue\n");
    c.client(&["del", "--", "colour"]).assert_stdout("OK\n");
    let gone = c.get(&[], "colour");
    assert_ne!(gone.code, Some(0), "{gone}");

    // The same servers through a servers.txt (no key): v1 is dropped and
    // unsigned v2 refused, so nothing works.
    let plain = c.dir.path().join("servers.txt");
    std::fs::write(&plain, servers_txt(&c.servers)).unwrap();
    let mut cmd = clean_command(CLIENT, c.dir.path());
    cmd.env(dkvs::config::SERVERS_ENV, &plain)
        .args(["-t", "500", "put", "--", "colour", "red"]);
    let out = run(&mut cmd, RUN_LIMIT);
    assert_ne!(out.code, Some(0), "{out}");
    c.get(&[], "colour").assert_fail(4);
    // The servers.txt with the key in DKVS_KEY_FILE (relative to the cwd).
    let mut cmd = clean_command(CLIENT, c.dir.path());
    cmd.env(dkvs::config::SERVERS_ENV, &plain)
        .env(dkvs::limits::KEY_FILE_ENV, "keys")
        .args(["put", "--", "colour", "green"]);
    run(&mut cmd, RUN_LIMIT).assert_stdout("OK\n");
    c.get(&[], "colour").assert_stdout("OK green\n");
}

#[test]
fn rejected_datagrams_and_the_server_keeps_serving() {
    let mut c = Cluster::new(&[1]);
    let keys = key_file(c.dir.path(), "keys", &format!("1 {SECRET_A}\n"));
    let server = start_keyed(&mut c, 0, &keys);
    let addr = c.addr(0);
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let a = key_a();

    // HELLO stays open and tells that a key is required.
    let hello = protocol_v2::encode(5, &Message::Hello, None).unwrap();
    let hello_reply = reply(&s, addr, &hello).unwrap();
    let r = protocol_v2::decode(&hello_reply).unwrap().message;
    match r {
        Message::HelloReply { features, .. } => {
            assert_ne!(features & feature::AUTH_REQUIRED, 0)
        }
        other => panic!("{other:?}"),
    }

    let get = Message::Get { key: b"k" };
    // Unsigned v2.
    let unsigned = protocol_v2::encode(10, &get, None).unwrap();
    assert_unauthenticated(&s, addr, &unsigned, 10, "unsigned");
    // Forged tag: one bit of the MAC flipped.
    let mut forged = protocol_v2::encode(11, &get, Some((&a, now_ms()))).unwrap();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    assert_unauthenticated(&s, addr, &forged, 11, "forged");
    // The right secret under an id the server does not hold.
    let other_id = protocol_v2::parse_key_file(&format!("9 {SECRET_A}\n")).unwrap();
    let wrong_id = protocol_v2::encode(12, &get, Some((&other_id[0], now_ms()))).unwrap();
    assert_unauthenticated(&s, addr, &wrong_id, 12, "unknown key id");
    // A recorded datagram replayed a minute later (and one from the future).
    let old = protocol_v2::encode(13, &get, Some((&a, now_ms() - 60_000))).unwrap();
    assert_unauthenticated(&s, addr, &old, 13, "outside the window (past)");
    let future = protocol_v2::encode(14, &get, Some((&a, now_ms() + 60_000))).unwrap();
    assert_unauthenticated(&s, addr, &future, 14, "outside the window (future)");
    // A put signed with another key is not stored.
    let put = Message::Put {
        key: b"k",
        value: b"forged",
        version: version(7),
    };
    let b_put = protocol_v2::encode(15, &put, Some((&key_b(), now_ms()))).unwrap();
    assert_unauthenticated(&s, addr, &b_put, 15, "another key");

    // Silence: v1 get and put, truncated signed datagrams, garbage.
    let good = protocol_v2::encode(16, &get, Some((&a, now_ms()))).unwrap();
    let silent: Vec<(&str, Vec<u8>)> = vec![
        ("v1 get", dkvs::protocol::encode_get(b"k").unwrap()),
        ("v1 put", dkvs::protocol::encode_put(b"k", b"v1").unwrap()),
        ("truncated by 1", good[..good.len() - 1].to_vec()),
        ("truncated trailer", good[..good.len() - 41].to_vec()),
        ("header only", good[..protocol_v2::HEADER_LEN].to_vec()),
        ("magic only", protocol_v2::MAGIC.to_vec()),
    ];
    for (what, datagram) in &silent {
        assert_eq!(reply(&s, addr, datagram), None, "{what}");
    }

    // A signed put and get work; a replay inside the window is harmless.
    let put = Message::Put {
        key: b"k",
        value: b"signed",
        version: version(8),
    };
    let signed_put = protocol_v2::encode(20, &put, Some((&a, now_ms()))).unwrap();
    for _ in 0..2 {
        let r = reply(&s, addr, &signed_put).expect("signed put answered");
        assert_eq!(protocol_v2::decode(&r).unwrap().message, Message::Stored);
    }
    let signed_get = protocol_v2::encode(21, &get, Some((&a, now_ms()))).unwrap();
    let r = reply(&s, addr, &signed_get).expect("signed get answered");
    let frame = protocol_v2::decode(&r).unwrap();
    assert_eq!(frame.id, 21);
    assert_eq!(frame.message.opcode(), opcode::VALUE);
    match frame.message {
        Message::Value { value, .. } => assert_eq!(value, b"signed"),
        other => panic!("{other:?}"),
    }
    assert!(c.procs.is_running(server), "the server kept serving");
}

#[test]
fn key_rotation_server_accepts_both_client_signs_with_the_new_one() {
    // Step (1) done: the server signs with A and accepts B; step (2): the
    // client's file lists B first (A still accepted for older clients).
    // Both given with --key-file this time.
    let mut c = Cluster::new(&[1, 1]);
    let server_keys = key_file(
        c.dir.path(),
        "server-keys",
        &format!("1 {SECRET_A}\n2 {SECRET_B}\n"),
    );
    key_file(c.dir.path(), "client-keys", &format!("2 {SECRET_B}\n"));
    for i in 0..2 {
        start_keyed_by(&mut c, i, &server_keys, true);
    }
    let with_b = ["--key-file", "client-keys"];
    c.put_ok(&with_b, "rotated", "yes");
    c.get(&with_b, "rotated").assert_stdout("OK yes\n");
    assert_ne!(c.get(&[], "rotated").code, Some(0), "no key, no answer");
    // A client still signing with A works during the rotation too.
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let get = protocol_v2::encode(
        3,
        &Message::Get { key: b"rotated" },
        Some((&key_a(), now_ms())),
    )
    .unwrap();
    let r = reply(&s, c.addr(0), &get).expect("A still accepted");
    assert!(signed_by(&r, &key_a()), "answered with the request's key");
    assert_eq!(
        protocol_v2::decode(&r).unwrap().message.opcode(),
        opcode::VALUE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_spawns_keyed_servers_from_cluster_toml() {
    let ip = loopback_ip();
    let ports = free_ports(ip, 2);
    let dir = tempfile::tempdir().unwrap();
    key_file(dir.path(), "keys", &format!("1 {SECRET_A}\n"));
    let mut toml = String::from("[defaults]\nkey_file = \"keys\"\n");
    for port in &ports {
        toml.push_str(&format!(
            "[[server]]\nip = \"{ip}\"\nport = {port}\nspawn = true\n"
        ));
    }
    let path = dir.path().join("cluster.toml");
    std::fs::write(&path, toml).unwrap();
    let config = ClusterConfig::load(&path).unwrap();
    assert_eq!(config.defaults.key_file, Some(dir.path().join("keys")));
    // The TUI's own hidden server mode, as `dkvs-tui` spawns it.
    let launcher = Launcher::new(TUI, vec![SERVE_FLAG.into()]);
    let sup = Supervisor::start(Arc::new(config.clone()), launcher);
    assert!(sup.wait_started(Duration::from_secs(10)).await);
    for i in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while sup.statuses()[i].state != ServerState::Up {
            assert!(Instant::now() < deadline, "{:#?}", sup.events());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let client = Client::new(config).with_timeout(Duration::from_secs(2));
    assert!(client.key().is_some());
    let o = QuorumOptions::default();
    client.put(b"tui", b"ok", o).await.unwrap();
    assert_eq!(client.get(b"tui", o).await.unwrap(), b"ok");
    // The spawned servers do have the key: an unsigned get is refused.
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let unsigned = protocol_v2::encode(4, &Message::Get { key: b"tui" }, None).unwrap();
    let addr = SocketAddrV4::new(ip, ports[0]);
    assert_unauthenticated(&s, addr, &unsigned, 4, "unsigned to a spawned server");
    sup.shutdown().await;
}

#[test]
fn a_bad_key_file_stops_the_server_and_the_client() {
    let c = Cluster::with_toml(&[1], "key_file = \"missing\"");
    let out = c.client(&["get", "--", "k"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("key_file"), "{out}");
    let bad = key_file(c.dir.path(), "bad", "1 abc\n");
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.env(dkvs::limits::KEY_FILE_ENV, &bad)
        .arg(c.ip.to_string())
        .arg(c.port(0).to_string());
    let out = run(&mut cmd, RUN_LIMIT);
    assert_eq!(out.code, Some(3), "{out}");
    assert!(out.stderr.contains("line 1"), "{out}");
    assert!(
        !out.stderr.contains("abc"),
        "the secret is never printed: {out}"
    );
}

#[test]
fn tui_serve_internal_takes_key_file() {
    let mut c = Cluster::new(&[1]);
    let keys = key_file(c.dir.path(), "keys", &format!("1 {SECRET_A}\n"));
    let (ip, port, _) = c.servers[0];
    let mut cmd = clean_command(TUI, c.dir.path());
    cmd.arg(SERVE_FLAG)
        .arg("--key-file")
        .arg(&keys)
        .arg(ip.to_string())
        .arg(port.to_string());
    c.procs.spawn("dkvs-tui --serve-internal", &mut cmd);
    assert!(hello_answered(c.addr(0), READY_LIMIT));
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let unsigned = protocol_v2::encode(6, &Message::Get { key: b"k" }, None).unwrap();
    assert_unauthenticated(&s, c.addr(0), &unsigned, 6, "unsigned to --serve-internal");
    let signed = protocol_v2::encode(7, &Message::Get { key: b"k" }, Some((&key_a(), now_ms())));
    let r = reply(&s, c.addr(0), &signed.unwrap()).expect("signed get answered");
    assert_eq!(
        protocol_v2::decode(&r).unwrap().message.opcode(),
        opcode::NOT_FOUND
    );
}

/// Whether `datagram` is a v2 reply signed with `key` now.
fn signed_by(datagram: &[u8], key: &AuthKey) -> bool {
    protocol_v2::verify(datagram, std::slice::from_ref(key), now_ms(), 30_000).is_ok()
}

#[test]
fn keyed_servers_sign_replies_on_both_engines() {
    for durable in [false, true] {
        let mut c = Cluster::with_toml(&[1, 1], "key_file = \"keys\"");
        let keys = key_file(c.dir.path(), "keys", &format!("1 {SECRET_A}\n"));
        for i in 0..2 {
            let data = c.dir.path().join(format!("data-{i}"));
            let options: Vec<&std::ffi::OsStr> = if durable {
                vec!["--data-dir".as_ref(), data.as_os_str()]
            } else {
                Vec::new()
            };
            start_keyed_with(&mut c, i, &keys, false, &options);
        }
        let what = if durable { "--data-dir" } else { "in memory" };
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let signed = |id, message: &Message| {
            protocol_v2::encode(id, message, Some((&key_a(), now_ms()))).unwrap()
        };
        let put = Message::Put {
            key: b"k",
            value: b"v",
            version: version(7),
        };
        let r = reply(&s, c.addr(0), &signed(1, &put)).expect("put answered");
        assert!(signed_by(&r, &key_a()), "{what}: STORED signed");
        assert_eq!(protocol_v2::decode(&r).unwrap().message, Message::Stored);
        let r = reply(&s, c.addr(0), &signed(2, &Message::Get { key: b"k" })).unwrap();
        assert!(signed_by(&r, &key_a()), "{what}: VALUE signed");
        let r = reply(&s, c.addr(0), &signed(3, &Message::Hello)).unwrap();
        assert!(
            signed_by(&r, &key_a()),
            "{what}: signed HELLO, signed reply"
        );
        // Unsigned requests get unsigned replies (no amplification).
        let hello = protocol_v2::encode(4, &Message::Hello, None).unwrap();
        let r = reply(&s, c.addr(0), &hello).unwrap();
        assert!(protocol_v2::decode(&r).unwrap().auth.is_none(), "{what}");
        let unsigned = protocol_v2::encode(5, &Message::Get { key: b"k" }, None).unwrap();
        let r = reply(&s, c.addr(0), &unsigned).unwrap();
        assert!(protocol_v2::decode(&r).unwrap().auth.is_none(), "{what}");
        // The whole path: the client verifies every reply it counts.
        c.put_ok(&[], "colour", "blue");
        c.get(&[], "colour").assert_stdout("OK blue\n");
        c.client(&["del", "--", "colour"]).assert_stdout("OK\n");
    }
}

/// How a fake server answers: a VALUE with the request's id, signed as
/// `sign` says (`None`: unsigned), its tag flipped when `tamper`; when
/// `then_genuine`, only the first answer is so, the next ones are signed
/// with key A now (the genuine reply to a resend).
fn fake_server(
    sign: Option<(AuthKey, u64)>,
    tamper: bool,
    then_genuine: bool,
) -> (SocketAddrV4, std::thread::JoinHandle<u32>) {
    let socket = bind_socket(loopback_ip());
    let std::net::SocketAddr::V4(addr) = socket.local_addr().unwrap() else {
        unreachable!()
    };
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let handle = std::thread::spawn(move || {
        let mut answered = 0;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(request) = protocol_v2::decode(&buf[..len]) else {
                continue;
            };
            let value = Message::Value {
                value: b"forged",
                version: version(9),
            };
            let genuine = key_a();
            let first = answered == 0 || !then_genuine;
            let key = if first {
                sign.as_ref().map(|(k, at)| (k, *at))
            } else {
                Some((&genuine, now_ms()))
            };
            let mut d = protocol_v2::encode(request.id, &value, key).unwrap();
            if tamper
                && first
                && let Some(last) = d.last_mut()
            {
                *last ^= 1;
            }
            socket.send_to(&d, from).unwrap();
            answered += 1;
        }
        answered
    });
    (addr, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_client_ignores_unsigned_and_forged_replies() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unsigned", None, false),
        ("unknown key", Some((key_b(), now_ms())), false),
        ("forged tag", Some((key_a(), now_ms())), true),
        ("stale", Some((key_a(), now_ms() - 120_000)), false),
        ("genuine", Some((key_a(), now_ms())), false),
    ];
    for (what, sign, tamper) in cases {
        let (addr, fake) = fake_server(sign, tamper, false);
        let path = dir.path().join("servers.txt");
        std::fs::write(&path, format!("{} {} 1\n", addr.ip(), addr.port())).unwrap();
        let client = Client::open(&path)
            .unwrap()
            .with_key(Some(key_a()))
            .with_timeout(Duration::from_millis(600));
        let o = QuorumOptions {
            n: Some(1),
            r: Some(1),
            w: Some(1),
        };
        let got = client.get(b"k", o).await;
        if what == "genuine" {
            assert_eq!(got.unwrap(), b"forged".to_vec(), "the fake server works");
            assert_eq!(client.rejected_replies(), 0);
        } else {
            assert!(got.is_err(), "{what}: accepted {got:?}");
            assert!(client.rejected_replies() > 0, "{what}: not counted");
        }
        assert!(
            fake.join().unwrap() > 0,
            "{what}: the fake server was asked"
        );
    }
    // A forged reply does not end the operation: the resend (same request
    // id, same bytes) gets the genuine reply, which is accepted.
    let (addr, fake) = fake_server(Some((key_a(), now_ms())), true, true);
    let path = dir.path().join("servers.txt");
    std::fs::write(&path, format!("{} {} 1\n", addr.ip(), addr.port())).unwrap();
    let client = Client::open(&path)
        .unwrap()
        .with_key(Some(key_a()))
        .with_timeout(Duration::from_millis(800));
    let o = QuorumOptions {
        n: Some(1),
        r: Some(1),
        w: Some(1),
    };
    assert_eq!(client.get(b"k", o).await.unwrap(), b"forged".to_vec());
    assert_eq!(client.rejected_replies(), 1, "the forged first reply");
    assert!(fake.join().unwrap() >= 2, "answered the resend too");
}

/// Asserts that `out`'s `ERROR:` line says that servers refused `what` as
/// unauthenticated and tells how to pass a key.
#[track_caller]
fn assert_needs_key(out: &Output, what: &str) {
    let error = out.error_line();
    assert!(
        error.contains(&format!("servers refused the {what} as unauthenticated"))
            && error.contains("--key-file FILE")
            && error.contains(dkvs::limits::KEY_FILE_ENV),
        "the error must say the cluster needs a key\n{out}"
    );
}

/// A client without the key against a keyed cluster: every tool says the
/// servers refused it as unauthenticated and how to pass a key, and exits
/// 5 (as when the quorum is not reached) — get, put and del (text and
/// JSON), stats, dump-ring --health, and the paged dump, which names each
/// server on stderr instead of printing empty sections as if the servers
/// were empty. With the key, the same dump is clean.
#[test]
fn an_unsigned_client_is_told_the_cluster_needs_a_key() {
    let mut c = Cluster::new(&[1, 1, 1]);
    let keys = key_file(c.dir.path(), "keys", &format!("1 {SECRET_A}\n"));
    for i in 0..3 {
        start_keyed(&mut c, i, &keys);
    }
    c.put_ok(&["--key-file", "keys"], "k", "v");
    for args in [
        &["get", "--", "k"][..],
        &["put", "--", "k", "w"],
        &["del", "--", "k"],
    ] {
        let out = c.client(args);
        out.assert_fail(exit::QUORUM);
        assert_needs_key(&out, "request");
        assert!(
            out.elapsed < Duration::from_secs(5),
            "refusals come at once\n{out}"
        );
    }
    let json = c.client(&["--json", "get", "--", "k"]);
    assert_eq!(json.code, Some(i32::from(exit::QUORUM)), "{json}");
    assert!(
        json.stdout
            .starts_with(r#"{"ok":false,"exit":5,"error":"get \"k\": "#)
            && json.stdout.contains("as unauthenticated"),
        "{json}"
    );
    // Nothing was changed by the refused put and del.
    c.get(&["--key-file", "keys"], "k").assert_stdout("OK v\n");

    let stats = c.client(&["stats"]);
    assert_eq!(stats.code, Some(i32::from(exit::QUORUM)), "{stats}");
    assert_needs_key(&stats, "STATS request");
    assert_eq!(
        stats.stdout.matches("refused: unauthenticated").count(),
        3,
        "{stats}"
    );
    let health = c.dump_ring(&["--health"]);
    health.assert_one_error_line();
    assert_eq!(health.code, Some(i32::from(exit::QUORUM)), "{health}");
    assert_needs_key(&health, "STATS request");

    let dump = c.dump_ring(&[]);
    assert_eq!(dump.code, Some(i32::from(exit::QUORUM)), "{dump}");
    dump.assert_no_panic();
    assert!(dump.stdout.starts_with("Ring nodes:\n"), "{dump}");
    let warnings: Vec<&str> = dump
        .stderr
        .lines()
        .filter(|l| l.starts_with("WARNING: "))
        .collect();
    assert_eq!(warnings.len(), 3, "one warning per server\n{dump}");
    for i in 0..3 {
        let addr = c.addr(i).to_string();
        // The section is there, empty (the listing's text is unchanged)...
        assert!(dump.stdout.contains(&format!("\n{addr}:\n")), "{dump}");
        // ...and stderr says why.
        assert!(
            warnings.iter().any(|w| w.contains(&addr)
                && w.contains("refused the dump as unauthenticated")
                && w.contains("--key-file FILE")),
            "{addr} named with the fix\n{dump}"
        );
    }
    let signed = c.dump_ring(&["--key-file", "keys"]);
    assert_eq!(signed.code, Some(0), "{signed}");
    assert!(!signed.stderr.contains("WARNING"), "{signed}");
    assert!(signed.stdout.contains("k --> v\n"), "{signed}");

    // The REPL shares the messages: a get's verdict line, the dumps.
    let script = c.dir.path().join("script.txt");
    std::fs::write(&script, "get k\ndump\ndump 2\n").unwrap();
    let mut cmd = clean_command(TUI, c.dir.path());
    cmd.arg(&c.config_path).arg("--shell");
    let input = std::process::Stdio::from(std::fs::File::open(&script).unwrap());
    let repl = run_with_input(&mut cmd, input, RUN_LIMIT);
    repl.assert_no_panic();
    assert_eq!(repl.code, Some(1), "a command failed\n{repl}");
    let text = format!("{}{}", repl.stdout, repl.stderr);
    assert!(
        text.contains("FAIL — ")
            && text.contains(
                "servers refused the request as unauthenticated: this cluster needs a key"
            ),
        "{repl}"
    );
    assert_eq!(
        text.matches("refused the dump as unauthenticated").count(),
        4,
        "three servers in the ring dump, one alone\n{repl}"
    );
}
