//! Membership change with real `dkvs-server` processes (issue 8 item 4):
//! servers run with `--servers FILE`; the file is rewritten and the
//! servers told by SIGHUP, as `dkvs-tui`'s `add` and `remove` do.
//!
//! A fourth server is added to a loaded three-server ring: every key ends
//! on exactly its N=3 owners under the new ring (former owners drop the
//! keys their new owners confirmed), no acknowledged write is lost —
//! including writes made during the move — and gets keep succeeding
//! throughout (a reader runs from before the change until every key held
//! before it sits on exactly its new owners). Then a server is removed: it hands every key to its owners
//! and ends empty; the same checks hold.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::client::Client;
use dkvs::config::{ClusterConfig, parse_cluster_toml};
use dkvs::quorum::{Quorum, QuorumOptions};
use dkvs::ring::Ring;

const N3: Quorum = Quorum { n: 3, w: 2, r: 2 };
const KEYS: usize = 1_500;

fn runtime() -> tokio::runtime::Runtime {
    test_runtime()
}

/// Writes the cluster file listing `members` (indexes into `c.servers`).
fn write_file(c: &Cluster, members: &[usize]) -> ClusterConfig {
    let servers: Vec<_> = members.iter().map(|&i| c.servers[i]).collect();
    let text = cluster_toml(&servers, "n = 3");
    // Atomically (a reader never sees half a file), as the TUI does.
    let tmp = c.config_path.with_extension("toml.new");
    std::fs::write(&tmp, &text).unwrap();
    std::fs::rename(&tmp, &c.config_path).unwrap();
    parse_cluster_toml(&text, "cluster.toml").unwrap()
}

fn start(c: &mut Cluster, i: usize) {
    let options: Vec<OsString> = vec![
        "--servers".into(),
        c.config_path.clone().into_os_string(),
        "--anti-entropy-interval".into(),
        "1".into(),
    ];
    let refs: Vec<&std::ffi::OsStr> = options.iter().map(OsString::as_os_str).collect();
    c.start_with_options(i, &refs);
}

/// Waits until every key of `acked` is held, at its acknowledged version
/// or newer, by exactly its three owners under `config` and by no other
/// server of `all`; panics after `limit` with what is off.
fn settled(
    c: &Cluster,
    all: &[usize],
    config: &ClusterConfig,
    acked: &BTreeMap<String, dkvs::version::Version>,
    limit: Duration,
) {
    let ring = Ring::new(config);
    let member_index = |addr: SocketAddrV4| config.servers.iter().position(|s| s.addr() == addr);
    let mut problem = String::new();
    let ok = eventually(limit, || {
        let held: Vec<_> = all.iter().map(|&i| v2_records(c.addr(i), None)).collect();
        problem.clear();
        for (key, version) in acked {
            let owners: Vec<usize> = ring
                .replicas(key.as_bytes(), 3)
                .iter()
                .map(|r| r.server)
                .collect();
            for (records, &i) in held.iter().zip(all) {
                let Some(records) = records else {
                    problem = format!("server {i} did not answer a dump");
                    return false;
                };
                let owner = member_index(c.addr(i)).is_some_and(|m| owners.contains(&m));
                match (owner, records.get(key.as_bytes())) {
                    (true, Some((v, false))) if v >= version => {}
                    (false, None) => {}
                    (true, got) => {
                        problem = format!("owner {i} of {key} holds {got:?}, want {version:?}");
                        return false;
                    }
                    (false, Some(_)) => {
                        problem = format!("server {i} still holds {key}, which it does not own");
                        return false;
                    }
                }
            }
        }
        true
    });
    assert!(ok, "not settled within {limit:?}: {problem}");
}

/// Puts and gets from other threads while the ring changes: every put
/// acknowledged is recorded, every get of an acknowledged key must answer
/// its value. The clients reread the cluster file every 100 ms.
struct Load {
    stop: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<String>>>,
    gets: Arc<AtomicUsize>,
    acked: Arc<Mutex<BTreeMap<String, String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(path: std::path::PathBuf, acked: BTreeMap<String, String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let gets = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(Mutex::new(acked));
        let (s, f, g, a) = (stop.clone(), failures.clone(), gets.clone(), acked.clone());
        let thread = std::thread::spawn(move || {
            let rt = runtime();
            let mut i = 0usize;
            while !s.load(Ordering::Relaxed) {
                let client = Client::new(ClusterConfig::load(&path).unwrap())
                    .with_timeout(Duration::from_secs(2));
                rt.block_on(async {
                    for _ in 0..20 {
                        i += 1;
                        // One new key per round, the rest reads of old ones.
                        let key = format!("during{i}");
                        if client
                            .put(key.as_bytes(), b"d", QuorumOptions::default())
                            .await
                            .is_ok()
                        {
                            a.lock().unwrap().insert(key, "d".into());
                        }
                        let (key, value) = {
                            let a = a.lock().unwrap();
                            let k = (i * 7919) % a.len().max(1);
                            a.iter()
                                .nth(k)
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .unwrap()
                        };
                        match client.get(key.as_bytes(), QuorumOptions::default()).await {
                            Ok(v) if v == value.as_bytes() => {}
                            other => f.lock().unwrap().push(format!("get {key}: {other:?}")),
                        }
                        g.fetch_add(1, Ordering::Relaxed);
                    }
                });
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Load {
            stop,
            failures,
            gets,
            acked,
            thread: Some(thread),
        }
    }

    /// Stops the load: the gets made, the failures seen, the acknowledged
    /// writes.
    fn finish(mut self) -> (usize, Vec<String>, BTreeMap<String, String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        let acked = self.acked.lock().unwrap().clone();
        (self.gets.load(Ordering::Relaxed), failures, acked)
    }
}

/// A membership change under load: the file rewritten to list `members`,
/// server `new` started (if any), `told` sent SIGHUP; puts and gets run
/// from before the change until 2 s after it and must all succeed. The
/// new configuration and every write acknowledged.
fn change_under_load(
    c: &mut Cluster,
    acked: BTreeMap<String, String>,
    members: &[usize],
    new: Option<usize>,
    told: &[usize],
) -> (ClusterConfig, BTreeMap<String, String>) {
    // The keys there before the change, at their versions: the move is
    // over when they sit on exactly their new owners. Gets run (and must
    // all succeed) from before the change until then, and at least 2 s.
    let before = versions_of(&ClusterConfig::load(&c.config_path).unwrap(), &acked);
    let load = Load::start(c.config_path.clone(), acked);
    std::thread::sleep(Duration::from_millis(300));
    let changed = Instant::now();
    let config = write_file(c, members);
    if let Some(i) = new {
        start(c, i);
    }
    for &i in told {
        send_signal(c.pid(i), "HUP");
    }
    let all: Vec<usize> = (0..c.len()).collect();
    settled(c, &all, &config, &before, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2).saturating_sub(changed.elapsed()));
    let (gets, failures, acked) = load.finish();
    assert!(gets > 50, "only {gets} gets during the move");
    assert!(
        failures.is_empty(),
        "gets failed during the move: {failures:?}"
    );
    (config, acked)
}

/// The versions now held for `keys` (read with R=3 from the ring).
fn versions_of(
    config: &ClusterConfig,
    keys: &BTreeMap<String, String>,
) -> BTreeMap<String, dkvs::version::Version> {
    let client = Client::new(config.clone()).with_timeout(Duration::from_secs(2));
    let rt = runtime();
    rt.block_on(async {
        let mut out = BTreeMap::new();
        for (key, value) in keys {
            let trace = client.get_traced(key.as_bytes(), N3, &mut |_| {}).await;
            assert_eq!(
                trace.value.as_deref(),
                Some(value.as_bytes()),
                "{key}: {trace:#?}"
            );
            out.insert(key.clone(), trace.version.unwrap());
        }
        out
    })
}

#[test]
fn adding_and_removing_a_server_moves_keys_and_loses_none() {
    let mut c = Cluster::with_format(&[4, 4, 4, 4], Format::ClusterToml, "n = 3");
    let three = write_file(&c, &[0, 1, 2]);
    for i in 0..3 {
        start(&mut c, i);
    }
    // Load the ring.
    let mut acked = BTreeMap::new();
    {
        let client = Client::new(three.clone()).with_timeout(Duration::from_secs(2));
        runtime().block_on(async {
            for i in 0..KEYS {
                let (k, v) = (format!("k{i}"), format!("v{i}"));
                client
                    .put(k.as_bytes(), v.as_bytes(), QuorumOptions::default())
                    .await
                    .unwrap();
                acked.insert(k, v);
            }
        });
    }
    // Add a fourth server while keys are read and written.
    let (four, acked) = change_under_load(&mut c, acked, &[0, 1, 2, 3], Some(3), &[0, 1, 2]);
    let versions = versions_of(&four, &acked);
    settled(&c, &[0, 1, 2, 3], &four, &versions, Duration::from_secs(30));
    // Remove server 2 (index 1): it is told too, hands everything off and
    // ends empty.
    let (rest, acked) = change_under_load(&mut c, acked, &[0, 2, 3], None, &[0, 1, 2, 3]);
    let versions = versions_of(&rest, &acked);
    settled(&c, &[0, 1, 2, 3], &rest, &versions, Duration::from_secs(30));
    assert_eq!(v2_records(c.addr(1), None).map(|r| r.len()), Some(0));
    // `dkvs-dump-ring --health`: nothing left to move anywhere.
    let health = c.dump_ring(&["--health"]);
    assert_eq!(health.code, Some(0), "{health}");
    let header: Vec<&str> = health
        .stdout
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let moving = header.iter().position(|h| *h == "moving").unwrap();
    for line in health.stdout.lines().skip(1) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[moving], "0", "{health}");
    }
    c.terminate(1);
}

/// A key written with a larger N than the cluster's (`put -n 4` on a
/// ring whose N is 3) keeps its extra copy through a move: only a server
/// that owned the key before the change and does not own it now hands it
/// off and drops it.
#[test]
fn extra_copies_are_not_dropped_by_a_move() {
    let mut c = Cluster::with_format(&[2, 2, 2, 2, 2], Format::ClusterToml, "n = 3");
    let four = write_file(&c, &[0, 1, 2, 3]);
    let all = write_file(&c, &[0, 1, 2, 3, 4]);
    let owners = |config: &ClusterConfig, key: &str| -> Vec<SocketAddrV4> {
        Ring::new(config)
            .replicas(key.as_bytes(), 3)
            .iter()
            .map(|r| config.servers[r.server].addr())
            .collect()
    };
    // A key with an extra copy on a server that does not own it before or
    // after the change, and an owner that loses it to the new server.
    let key = (0..100_000)
        .map(|i| format!("wide{i}"))
        .find(|k| {
            let (before, after) = (owners(&four, k), owners(&all, k));
            let extra = (0..4).map(|i| c.addr(i)).find(|a| !before.contains(a));
            after.contains(&c.addr(4)) && extra.is_some_and(|e| !after.contains(&e))
        })
        .unwrap();
    let before = owners(&four, &key);
    let after = owners(&all, &key);
    let extra = (0..4)
        .map(|i| c.addr(i))
        .find(|a| !before.contains(a))
        .unwrap();
    let loser = before.iter().copied().find(|a| !after.contains(a)).unwrap();
    write_file(&c, &[0, 1, 2, 3]);
    for i in 0..4 {
        start(&mut c, i);
    }
    c.client(&["put", "-n", "4", "-w", "4", "--", &key, "wide"])
        .assert_stdout("OK\n");
    write_file(&c, &[0, 1, 2, 3, 4]);
    start(&mut c, 4);
    for i in 0..4 {
        send_signal(c.pid(i), "HUP");
    }
    let holds =
        |a: SocketAddrV4| v2_records(a, None).is_some_and(|r| r.contains_key(key.as_bytes()));
    assert!(
        eventually(Duration::from_secs(20), || holds(c.addr(4))
            && !holds(loser)),
        "the move did not happen: new server holds it: {}, former owner still: {}",
        holds(c.addr(4)),
        holds(loser)
    );
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(holds(extra), "the extra copy on {extra} was dropped");
    c.get(&["-n", "5", "-r", "4"], &key)
        .assert_stdout("OK wide\n");
}
