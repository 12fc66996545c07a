//! STATS (protocol v2) and `dkvs-client stats` with real `dkvs-server`
//! processes on random loopback addresses (issue 9, item 2):
//!
//! - both engines answer STATS with every counter of the catalogue, and
//!   the counters move by exactly the gets, hits, misses, puts and deletes
//!   sent (raw datagrams, each sent once);
//! - a server with a key answers a signed STATS with a signed reply, and
//!   an unsigned one with REFUSED 5;
//! - `dkvs-client stats`: one row per server, `no answer` for a killed
//!   server (exit 5 and one `ERROR:` line), `--json` parses and carries
//!   every counter;
//! - a v1-only server's row says `v1 only: no stats`, a v2 server without
//!   STATS says so, and the command exits 0 (every server answered);
//! - STATS only to `--allow-dump` sources: HELLO's STATS feature bit and
//!   REFUSED 6 otherwise (DECISIONS #100).

use std::ffi::{OsStr, OsString};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use crate::common::*;
use dkvs::protocol_v2::{self, AuthKey, Message, Reason};
use dkvs::stats::ServerStats;
use dkvs::version::Version;

fn socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
}

fn now_ms() -> u64 {
    dkvs::hlc::Clock::now_ms(&dkvs::hlc::SystemClock)
}

/// Sends one v2 STATS (signed with `key` when given) and decodes the
/// reply's counters; panics on anything but a STATS reply.
fn stats_of(addr: SocketAddrV4, key: Option<&AuthKey>) -> ServerStats {
    let s = socket();
    let request = protocol_v2::encode(77, &Message::Stats, key.map(|k| (k, now_ms()))).unwrap();
    let reply = udp_request(&s, addr, &request, Duration::from_secs(3)).expect("a STATS reply");
    if let Some(key) = key {
        protocol_v2::verify(&reply, std::slice::from_ref(key), now_ms(), 60_000)
            .expect("the reply is signed with the request's key");
    }
    let frame = protocol_v2::decode(&reply).unwrap();
    assert_eq!(frame.id, 77);
    match frame.message {
        Message::StatsReply { pairs } => ServerStats::from_pairs(&pairs),
        other => panic!("expected a STATS reply, got {other:?}"),
    }
}

/// Sends `datagram` once and returns the reply.
fn once(addr: SocketAddrV4, datagram: &[u8]) -> Vec<u8> {
    udp_request(&socket(), addr, datagram, Duration::from_secs(3)).expect("a reply")
}

/// `line` with every run of spaces made one (columns are padded).
fn words(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn n(s: &ServerStats, name: &str) -> u64 {
    s.number(name)
        .unwrap_or_else(|| panic!("no counter {name} in {:?}", s.raw))
}

#[test]
fn both_engines_count_what_they_serve() {
    let data = tempfile::tempdir().unwrap();
    let durable = |kind: &str| -> Vec<OsString> {
        vec![
            "--data-dir".into(),
            data.path().join(kind).into_os_string(),
            "--sync".into(),
            "none".into(),
            "--engine".into(),
            kind.into(),
        ]
    };
    for (engine, kind, options) in [
        ("memory", "", Vec::new()),
        ("durable", "log", durable("log")),
        ("durable", "redb", durable("redb")),
    ] {
        let mut c = Cluster::new(&[1]);
        let options: Vec<&OsStr> = options.iter().map(OsString::as_os_str).collect();
        c.start_with_options(0, &options);
        let addr = c.addr(0);
        let before = stats_of(addr, None);
        assert_eq!(before.engine.as_deref(), Some(engine));
        // Every name the server sends is one the catalogue documents, and
        // every always-sent counter is there.
        for (name, _) in &before.raw {
            assert!(dkvs::stats::counter(name).is_some(), "unknown {name}");
        }
        for name in [
            "uptime_seconds",
            "requests",
            "gets",
            "puts",
            "deletes",
            "hits",
            "misses",
            "keys",
            "bytes_stored",
            "memory_rss_bytes",
            "errors",
            "refused",
            "dropped",
        ] {
            n(&before, name);
        }
        assert!(n(&before, "memory_rss_bytes") > 1 << 20);
        if engine == "durable" {
            for name in ["commits", "syncs", "db_bytes"] {
                n(&before, name);
            }
            // Only redb has a write-ahead log beside its data.
            assert_eq!(before.get("log_bytes").is_some(), kind == "redb");
            assert_eq!(before.get("sync_policy"), Some("none"));
            assert_eq!(before.get("durable_engine"), Some(kind));
        }

        // Known traffic, each datagram sent once: 2 puts, 3 gets (2 hits,
        // 1 miss), 1 delete, 1 malformed.
        assert_eq!(once(addr, b"k1\0v1"), b"\0");
        let put = Message::Put {
            key: b"k2",
            value: b"v2",
            version: Version {
                timestamp: dkvs::hlc::pack(now_ms(), 0),
                writer: 5,
            },
        };
        let stored = once(addr, &protocol_v2::encode(1, &put, None).unwrap());
        assert_eq!(
            protocol_v2::decode(&stored).unwrap().message,
            Message::Stored
        );
        assert_eq!(once(addr, b"k1"), b"v1");
        let get = protocol_v2::encode(2, &Message::Get { key: b"k2" }, None).unwrap();
        let value = once(addr, &get);
        assert!(matches!(
            protocol_v2::decode(&value).unwrap().message,
            Message::Value { value: b"v2", .. }
        ));
        assert_eq!(once(addr, b"absent"), b"\0");
        let delete = Message::Delete {
            key: b"k1",
            version: Version {
                timestamp: dkvs::hlc::pack(now_ms(), 1),
                writer: 5,
            },
        };
        let deleted = once(addr, &protocol_v2::encode(3, &delete, None).unwrap());
        assert_eq!(
            protocol_v2::decode(&deleted).unwrap().message,
            Message::Stored
        );
        assert_eq!(once(addr, b"a\0b\0c"), b"");

        let after = stats_of(addr, None);
        let delta = |name: &str| n(&after, name) - n(&before, name);
        assert_eq!(delta("puts"), 2, "{engine}");
        assert_eq!(delta("gets"), 3, "{engine}");
        assert_eq!(delta("hits"), 2, "{engine}");
        assert_eq!(delta("misses"), 1, "{engine}");
        assert_eq!(delta("deletes"), 1, "{engine}");
        assert_eq!(delta("refused"), 1, "{engine}");
        assert_eq!(delta("stats_requests"), 1, "{engine}");
        // 7 datagrams and the second STATS.
        assert_eq!(delta("requests"), 8, "{engine}");
        assert_eq!(n(&after, "keys"), 2, "{engine}: k1's tombstone and k2");
        assert!(n(&after, "bytes_stored") > n(&before, "bytes_stored"));
        assert_eq!(n(&after, "errors"), 0);
        if engine == "durable" {
            assert!(n(&after, "commits") > n(&before, "commits"));
        }
    }
}

#[test]
fn keyed_servers_sign_their_stats() {
    const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let mut c = Cluster::with_toml(&[1], "key_file = \"keys\"");
    let keys = c.dir.path().join("keys");
    std::fs::write(&keys, format!("1 {SECRET}\n")).unwrap();
    let key = protocol_v2::parse_key_file(&format!("1 {SECRET}\n")).unwrap()[0].clone();
    // A keyed server ignores the harness's v1 probe: started here, ready
    // once it answers a signed STATS.
    let addr = c.addr(0);
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.arg("--key-file")
        .arg(&keys)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string());
    c.procs.spawn("keyed dkvs-server", &mut cmd);
    let signed = protocol_v2::encode(78, &Message::Stats, Some((&key, now_ms()))).unwrap();
    assert!(
        eventually(READY_LIMIT, || udp_request(
            &socket(),
            addr,
            &signed,
            Duration::from_millis(100)
        )
        .is_some()),
        "the keyed server answers a signed STATS"
    );
    let stats = stats_of(addr, Some(&key));
    assert_eq!(stats.engine.as_deref(), Some("memory"));
    // Unsigned: REFUSED 5, counted.
    let reply = once(
        addr,
        &protocol_v2::encode(9, &Message::Stats, None).unwrap(),
    );
    assert_eq!(
        protocol_v2::decode(&reply).unwrap().message,
        Message::Refused {
            reason: Reason::Unauthenticated
        }
    );
    assert!(n(&stats_of(addr, Some(&key)), "unauthenticated") >= 1);
    // The client signs with the cluster's key and checks the replies.
    let out = c.client(&["stats"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&addr.to_string()), "{}", out.stdout);
    assert!(!out.stdout.contains("no answer"), "{}", out.stdout);
}

#[test]
fn client_table_shows_a_killed_server_and_json_parses() {
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_all();
    c.put_ok(&["-n", "3", "-w", "3"], "a", "1");
    c.kill(1);
    let out = c.client(&["stats", "-t", "400"]);
    assert_eq!(out.code, Some(5), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(lines[0].starts_with("server "), "{}", out.stdout);
    for column in [
        "gets", "puts", "hits", "misses", "keys", "stored", "memory", "uptime",
    ] {
        assert!(lines[0].contains(column), "{column}: {}", lines[0]);
    }
    for i in [0, 2] {
        let row = lines[i + 1];
        assert!(row.starts_with(&c.addr(i).to_string()), "{row}");
        assert!(row.contains("memory"), "{row}");
        assert!(
            row.contains(" B ") || row.contains("iB"),
            "human bytes: {row}"
        );
    }
    assert_eq!(words(lines[2]), format!("{} no answer", c.addr(1)));
    let error = out.error_line();
    assert!(error.contains("1 of 3 servers did not answer"), "{error}");
    assert!(error.contains(&c.addr(1).to_string()), "{error}");

    let out = c.client(&["--json", "stats", "-t", "400"]);
    assert_eq!(out.code, Some(5), "{out:?}");
    let json = parse_json(out.stdout.trim()).expect("one JSON object");
    assert_eq!(json.get("ok"), Some(&Json::Bool(false)));
    assert_eq!(json.get("exit").and_then(Json::as_f64), Some(5.0));
    let Some(Json::Array(servers)) = json.get("servers") else {
        panic!("no servers array: {}", out.stdout)
    };
    assert_eq!(servers.len(), 3);
    for (i, s) in servers.iter().enumerate() {
        assert_eq!(
            s.get("server").and_then(Json::as_str),
            Some(c.addr(i).to_string().as_str())
        );
    }
    assert_eq!(servers[1].get("answered"), Some(&Json::Bool(false)));
    assert_eq!(
        servers[1].get("status").and_then(Json::as_str),
        Some("no answer")
    );
    let first = servers[0].get("stats").expect("counters");
    assert_eq!(first.get("puts").and_then(Json::as_f64), Some(1.0));
    assert_eq!(first.get("engine").and_then(Json::as_str), Some("memory"));
    assert!(first.get("kernel_drops").is_some());

    c.start(1);
    let out = c.client(&["--json", "stats"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let json = parse_json(out.stdout.trim()).unwrap();
    assert_eq!(json.get("ok"), Some(&Json::Bool(true)));
}

#[test]
fn v1_only_and_older_servers_have_rows_too() {
    let ip = loopback_ip();
    let v1 = V2Responder::v1_only(bind_socket(ip));
    let older = V2Responder::spawn(bind_socket(ip));
    let port = free_ports(ip, 1)[0];
    let mut c = Cluster::from_servers(
        vec![
            (ip, port, 1),
            (ip, v1.addr.port(), 1),
            (ip, older.addr.port(), 1),
        ],
        Format::ServersTxt,
        "",
    );
    c.start(0);
    let out = c.client(&["stats"]);
    assert_eq!(out.code, Some(0), "every server answered: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(
        lines[1].starts_with(&c.addr(0).to_string()),
        "{}",
        out.stdout
    );
    assert_eq!(words(lines[2]), format!("{} v1 only: no stats", v1.addr));
    assert_eq!(
        words(lines[3]),
        format!("{} no stats (older dkvs server)", older.addr)
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn stats_only_to_allow_dump_sources() {
    let mut c = Cluster::new(&[1, 1]);
    c.start(0);
    c.start_with_options(1, &[OsStr::new("--allow-dump"), OsStr::new("10.0.0.0/8")]);
    let hello = protocol_v2::encode(4, &Message::Hello, None).unwrap();
    let features = |addr| match protocol_v2::decode(&once(addr, &hello)).unwrap().message {
        Message::HelloReply { features, .. } => features,
        other => panic!("not a HELLO reply: {other:?}"),
    };
    let stats = protocol_v2::feature::STATS;
    assert_ne!(features(c.addr(0)) & stats, 0, "loopback may ask");
    assert_eq!(features(c.addr(1)) & stats, 0, "outside --allow-dump");
    let reply = once(
        c.addr(1),
        &protocol_v2::encode(6, &Message::Stats, None).unwrap(),
    );
    assert_eq!(
        protocol_v2::decode(&reply).unwrap().message,
        Message::Refused {
            reason: Reason::Forbidden
        }
    );
    assert_eq!(
        reply.len(),
        16,
        "no larger than the request's answer to a dump"
    );
    let out = c.client(&["stats"]);
    assert_eq!(out.code, Some(0), "both answered: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        words(lines[2]),
        format!("{} refused: forbidden (not in its --allow-dump)", c.addr(1))
    );
}

/// The table's engine columns: a durable server shows its syncs and the
/// size of its data (the log engine's segments), a server in memory `-` in
/// both.
#[test]
fn client_table_shows_the_durable_engine_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::new(&[1, 1]);
    let data = dir.path().join("d0");
    c.start_with_options(0, &[OsStr::new("--data-dir"), data.as_os_str()]);
    c.start(1);
    c.put_ok(&["-n", "2", "-w", "2"], "a", "1");
    let out = c.client(&["stats"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header[header.len() - 2..],
        ["syncs", "disk"],
        "{}",
        out.stdout
    );
    let durable: Vec<&str> = lines[1].split_whitespace().collect();
    assert!(durable.contains(&"durable"), "{}", lines[1]);
    // Sizes are one word (`1.5MiB`, `units::format_size`): syncs, then disk.
    let syncs: u64 = durable[durable.len() - 2].parse().expect("syncs");
    assert!(syncs >= 1, "{}", lines[1]);
    let disk = durable[durable.len() - 1];
    assert!(
        disk.ends_with('B') && disk.starts_with(|c: char| c.is_ascii_digit()),
        "{}",
        lines[1]
    );
    let memory: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(memory[memory.len() - 2..], ["-", "-"], "{}", lines[2]);
}
