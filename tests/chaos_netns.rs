//! Chaos over real links (issue 19): the other chaos tests cut a server off
//! from the *clients* at a fault proxy, so the traffic *between servers*
//! (anti-entropy, hinted handoff) never sees a fault. Here five durable
//! `dkvs-server`s (`--data-dir`, `--sync always`, anti-entropy every
//! 0.5 s, hints on) each run in their own network namespace
//! (crates/netns), and a seeded nemesis cuts real links with nftables:
//! majority/minority partitions between servers with the clients on
//! either side, one-way cuts between two servers, the clients cut off
//! from some servers (both ways, or only their replies), `kill -9` of a
//! server (alone or during another fault) restarted on the same data
//! directory, and last one server cut off from everyone. Four library
//! clients (N=3 W=2 R=2) write, delete and read eight keys meanwhile; the
//! history is checked by `dkvs::checker` (no acknowledged write lost, no
//! read staler than a write acknowledged before it began). After the final
//! heal every replica of every key must hold the same value and version,
//! and no other server the key (paged v2 dumps from the root namespace),
//! within `CONVERGE_LIMIT`; the time it took is printed.
//!
//! - `partitions_between_servers`: the fixed seeds, `RUN` each;
//! - `long_netns_seeds` (ignored): `CHAOS_SEEDS` seeds (default 10),
//!   `CHAOS_SECS` seconds each (default 5):
//!   `cargo test --test tests chaos_netns:: -- --ignored --nocapture`
//!
//! `CHAOS_SEED=<n>` reruns one seed: only the choices of the clients and
//! the nemesis are replayed (the subnet, hence the ring, may differ).
//! Skipped, with the reason, where namespaces cannot be made (not root, no
//! `ip` or `nft`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::chaos::{
    check_common, env_number, explain, get_result, join_clients, microseconds, seeds,
};
use crate::common::*;
use dkvs::ClusterConfig;
use dkvs::checker::{Action, GetResult, History, Op, Report};
use dkvs::client::Client;
use dkvs::config::parse_servers_txt;
use dkvs::protocol_v2::{self as v2, EntryValue, Message};
use dkvs::quorum::Quorum;
use dkvs::ring::Ring;
use dkvs::trace::{Trace, Verdict, version_text};
use dkvs::version::Version;
use dkvs_netns::{Hosts, HostsSpec, Side};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

const HOSTS: usize = 5;
/// Every host has its own address: one port for all.
const PORT: u16 = 7000;
const CLIENTS: usize = 4;
const KEYS: usize = 8;
const QUORUM: Quorum = Quorum { n: 3, w: 2, r: 2 };
/// Deadline of one operation of the load.
const OP_DEADLINE: Duration = Duration::from_millis(500);
/// Anti-entropy interval of the servers, in seconds.
const AE_INTERVAL: &str = "0.5";
/// The bound on convergence after the final heal (generous: measured
/// times are printed).
const CONVERGE_LIMIT: Duration = Duration::from_secs(30);
/// Writer id of the final reader (the load's clients are 100..).
const FINAL_WRITER: u64 = 999;
/// Normal-mode seeds and the length of each run.
const SEEDS: [u64; 2] = [0x6e65_7401, 0x6e65_7402];
const RUN: Duration = Duration::from_secs(5);
/// The end of every run: one server cut off from everyone this long.
const LAST_CUT: Duration = Duration::from_secs(1);

/// A key → (value, `None` for a tombstone; version) map of one server.
type Records = BTreeMap<Vec<u8>, Record>;
/// One record: the value (`None` for a tombstone) and its version.
type Record = (Option<Vec<u8>>, Version);

/// The hosts, the servers in them and their directory. Fields drop in
/// order: the servers are SIGKILLed by PID (`Procs`) before the hosts
/// are removed, before the directory is.
struct Net {
    procs: Procs,
    /// Per host, the `procs` handle of its running server.
    running: Vec<Option<usize>>,
    hosts: Option<Hosts>,
    dir: tempfile::TempDir,
    servers_file: PathBuf,
    config: ClusterConfig,
    /// The hosts' subnet as a CIDR (the root namespace is in it too).
    subnet: String,
}

impl Net {
    /// The hosts and the servers file; no server runs yet.
    fn create() -> Net {
        let hosts = Hosts::create(&HostsSpec::new(HOSTS)).expect("create the hosts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let servers: Vec<_> = hosts.addrs().iter().map(|&a| (a, PORT, 1)).collect();
        let text = servers_txt(&servers);
        let servers_file = dir.path().join("servers.txt");
        std::fs::write(&servers_file, &text).unwrap();
        let config = parse_servers_txt(&text, "servers.txt").unwrap();
        let (net, prefix) = hosts.subnet();
        Net {
            procs: Procs::new(),
            running: vec![None; HOSTS],
            hosts: Some(hosts),
            dir,
            servers_file,
            config,
            subnet: format!("{net}/{prefix}"),
        }
    }

    fn hosts(&mut self) -> &mut Hosts {
        self.hosts.as_mut().expect("the hosts are not removed")
    }

    fn addr(&self, i: usize) -> SocketAddrV4 {
        let hosts = self.hosts.as_ref().expect("the hosts are not removed");
        SocketAddrV4::new(hosts.addr(i).unwrap(), PORT)
    }

    fn err_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("server-{i}.err"))
    }

    /// Starts the server of host `i` in its namespace (its data directory
    /// kept across restarts, stderr appended) and waits until it answers
    /// the root namespace.
    fn start(&mut self, i: usize) {
        assert!(self.running[i].is_none(), "server {i} already running");
        let addr = self.addr(i);
        let err_path = self.err_path(i);
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&err_path)
            .unwrap();
        let data = self.dir.path().join(format!("data-{i}"));
        // What `hosts.command` runs, in the environment of `clean_command`.
        let ns = self.hosts().namespace(i).unwrap();
        let mut cmd = clean_command("ip", self.dir.path());
        cmd.args(["netns", "exec", &ns])
            .arg(SERVER)
            .stdout(Stdio::null())
            .stderr(err)
            .arg("--data-dir")
            .arg(data)
            .args(["--sync", "always", "--anti-entropy-interval", AE_INTERVAL])
            .arg("--servers")
            .arg(&self.servers_file)
            .args([
                "--allow-dump",
                &self.subnet,
                "--budget-exempt",
                &self.subnet,
                "-v",
            ])
            .arg(addr.ip().to_string())
            .arg(PORT.to_string());
        let handle = self
            .procs
            .spawn(format!("dkvs-server in host {i}"), &mut cmd);
        self.running[i] = Some(handle);
        wait_ready(&mut self.procs, handle, addr, &err_path);
    }

    /// The last `count` lines server `i` logged (all its runs).
    fn log_tail(&self, i: usize, count: usize) -> String {
        let log = std::fs::read_to_string(self.err_path(i)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// `kill -9` of server `i` (by PID).
    fn kill(&mut self, i: usize) {
        let handle = self.running[i].take().expect("server running");
        self.procs.kill(handle);
    }

    /// Panics (with its log) if a server the nemesis did not kill died.
    fn assert_alive(&mut self, events: &[String]) {
        for i in 0..HOSTS {
            let Some(handle) = self.running[i] else {
                continue;
            };
            if !self.procs.is_running(handle) {
                let log = self.log_tail(i, 40);
                panic!("server {i} died on its own; nemesis: {events:?}\nstderr:\n{log}");
            }
        }
    }

    /// Stops every server (SIGTERM, by PID) and removes the hosts,
    /// reporting errors.
    fn finish(mut self) {
        for i in 0..HOSTS {
            if let Some(handle) = self.running[i].take() {
                let (_, killed) = self.procs.terminate(handle, Duration::from_secs(5));
                assert!(!killed, "server {i} ignored SIGTERM for 5 s");
            }
        }
        self.hosts
            .take()
            .unwrap()
            .remove()
            .expect("remove the hosts");
    }
}

/// What the nemesis does to the links or the servers, one at a time.
#[derive(Debug, Clone)]
enum Fault {
    /// The servers split into a majority and a `minority`; the clients
    /// stay with one side.
    Split {
        minority: Vec<usize>,
        client_with_minority: bool,
    },
    /// One-way cuts `from → to` between servers.
    OneWay(Vec<(usize, usize)>),
    /// The clients cut off from these servers: both ways, or only the
    /// servers' replies lost (requests, writes included, arrive).
    ClientCut {
        servers: Vec<usize>,
        replies_only: bool,
    },
    /// `kill -9`, then a restart on the same data directory (once the
    /// links are healed), alone or during another fault.
    Kill(usize, Option<Box<Fault>>),
}

/// How many kinds of fault [`pick_fault`] knows.
const KINDS: usize = 5;

/// A fault of kind `kind` (0..[`KINDS`]): 0 and 1 a partition between
/// servers with the clients on the majority or the minority side, 2
/// one-way cuts between servers, 3 the clients cut off from some servers,
/// 4 a kill (half the time during a fault of another kind).
fn pick_fault(rng: &mut StdRng, kind: usize) -> Fault {
    let mut order: Vec<usize> = (0..HOSTS).collect();
    order.shuffle(rng);
    match kind {
        0 | 1 => Fault::Split {
            minority: order[..rng.random_range(1..=2)].to_vec(),
            client_with_minority: kind == 1,
        },
        2 => {
            let count = rng.random_range(1..=3);
            let cuts = (0..count)
                .map(|_| {
                    let from = rng.random_range(0..HOSTS);
                    (from, (from + rng.random_range(1..HOSTS)) % HOSTS)
                })
                .collect();
            Fault::OneWay(cuts)
        }
        3 => Fault::ClientCut {
            servers: order[..rng.random_range(1..=2)].to_vec(),
            replies_only: rng.random_bool(0.5),
        },
        _ => {
            let during = rng.random_bool(0.5).then(|| {
                let other = rng.random_range(0..KINDS - 1);
                Box::new(pick_fault(rng, other))
            });
            Fault::Kill(order[0], during)
        }
    }
}

fn apply_fault(net: &mut Net, fault: &Fault) {
    let hosts = |v: &[usize]| v.iter().map(|&i| Side::Host(i)).collect::<Vec<_>>();
    match fault {
        Fault::Split {
            minority,
            client_with_minority,
        } => {
            let (mut small, mut large): (Vec<Side>, Vec<Side>) = (0..HOSTS)
                .map(Side::Host)
                .partition(|s| hosts(minority).contains(s));
            let clients = if *client_with_minority {
                &mut small
            } else {
                &mut large
            };
            clients.push(Side::Client);
            net.hosts().partition(&[large, small]).unwrap();
        }
        Fault::OneWay(cuts) => {
            for &(from, to) in cuts {
                net.hosts().cut(Side::Host(from), Side::Host(to)).unwrap();
            }
        }
        Fault::ClientCut {
            servers,
            replies_only,
        } => {
            if *replies_only {
                for &i in servers {
                    net.hosts().cut(Side::Host(i), Side::Client).unwrap();
                }
            } else {
                let groups = [vec![Side::Client], hosts(servers)];
                net.hosts().partition(&groups).unwrap();
            }
        }
        Fault::Kill(i, during) => {
            if let Some(other) = during {
                apply_fault(net, other);
            }
            net.kill(*i);
        }
    }
}

/// Until [`LAST_CUT`] before `end`: a pause of 100..300 ms, a fault held
/// 500..1200 ms, its healing (`heal()`, then the killed server restarted),
/// in turn, the kinds of fault in a seeded order. Then one server cut off
/// from everyone until `end`, so that the replicas surely differ at the
/// final heal. Leaves everything healed and running; returns the events,
/// times in ms.
fn nemesis(net: &mut Net, seed: u64, epoch: Instant, end: Instant) -> Vec<String> {
    let last = end - LAST_CUT;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x006e_656d_6573_6973);
    let mut events = Vec::new();
    let ms = || epoch.elapsed().as_millis();
    // Every kind in turn, in a seeded order: each run sees them all.
    let mut kinds: Vec<usize> = (0..KINDS).collect();
    kinds.shuffle(&mut rng);
    for round in 0.. {
        let pause = Duration::from_millis(rng.random_range(100..=300));
        if Instant::now() + pause >= last {
            break;
        }
        std::thread::sleep(pause);
        net.assert_alive(&events);
        let fault = pick_fault(&mut rng, kinds[round % KINDS]);
        apply_fault(net, &fault);
        events.push(format!("{} ms: {fault:?}", ms()));
        let hold = Duration::from_millis(rng.random_range(500..=1200));
        std::thread::sleep(hold.min(last.saturating_duration_since(Instant::now())));
        net.hosts().heal().unwrap();
        if let Fault::Kill(i, _) = fault {
            net.start(i);
            events.push(format!("{} ms: server {i} restarted", ms()));
        } else {
            events.push(format!("{} ms: healed", ms()));
        }
    }
    std::thread::sleep(last.saturating_duration_since(Instant::now()));
    let alone = rng.random_range(0..HOSTS);
    let others = (0..HOSTS).filter(|&i| i != alone).map(Side::Host);
    let others = others.chain([Side::Client]).collect();
    net.hosts()
        .partition(&[vec![Side::Host(alone)], others])
        .unwrap();
    events.push(format!("{} ms: server {alone} cut off from all", ms()));
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    net.hosts().heal().unwrap();
    events.push(format!("{} ms: final heal", ms()));
    net.assert_alive(&events);
    events
}

fn key_name(k: usize) -> Vec<u8> {
    format!("netns-{k}").into_bytes()
}

/// One line per operation, for the explanation of a violation.
fn label(who: &str, what: &str, trace: &Trace) -> String {
    let replies: Vec<String> = trace
        .replicas
        .iter()
        .map(|r| {
            let reply = r.reply.as_ref().map_or("-".into(), ToString::to_string);
            let version = r.version.map(version_text).unwrap_or_default();
            format!("s{}:{reply} {version}", r.server)
        })
        .collect();
    format!(
        "{who} {what} {:?} at {} -> {:?} [{}]",
        String::from_utf8_lossy(&trace.key),
        trace.version.map(version_text).unwrap_or_default(),
        trace.verdict,
        replies.join(", ")
    )
}

/// A get of `key` by `client`, as the checker and the reader see it.
async fn get_op(client: &Client, key: Vec<u8>, epoch: Instant, who: &str) -> (Op, String) {
    let invoked = microseconds(epoch);
    let trace = client.get_traced(&key, QUORUM, &mut |_| {}).await;
    let completed = microseconds(epoch);
    let action = Action::Get(get_result(&trace));
    let op = Op {
        key,
        invoked,
        completed,
        action,
    };
    (op, label(who, "get", &trace))
}

/// One client's load until `end`: a put of a random key (a delete one time
/// in six), then a get of a random key; then its read repairs. Returns
/// the operations with their labels and (acknowledged, all) writes.
async fn client_loop(
    c: usize,
    client: Client,
    seed: u64,
    epoch: Instant,
    end: Instant,
) -> (Vec<(Op, String)>, (usize, usize)) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9).wrapping_add(c as u64));
    let who = format!("c{c}");
    let mut ops = Vec::new();
    let mut writes = (0, 0);
    let mut i = 0u64;
    while Instant::now() < end {
        i += 1;
        let key = key_name(rng.random_range(0..KEYS));
        let invoked = microseconds(epoch);
        let (trace, what) = if rng.random_range(0..6) == 0 {
            let trace = client.delete_traced(&key, QUORUM, &mut |_| {}).await;
            (trace, "delete".to_string())
        } else {
            let value = format!("c{c}-{i}");
            let trace = client
                .put_traced(&key, value.as_bytes(), QUORUM, &mut |_| {})
                .await;
            (trace, format!("put {value:?}"))
        };
        writes.0 += usize::from(trace.verdict == Verdict::Reached);
        writes.1 += 1;
        for op in write_ops(&key, invoked, microseconds(epoch), &trace) {
            ops.push((op, label(&who, &what, &trace)));
        }

        let key = key_name(rng.random_range(0..KEYS));
        ops.push(get_op(&client, key, epoch, &who).await);
    }
    client.finish_repairs().await;
    (ops, writes)
}

/// Every record of the server at `addr`, with values, read with the paged
/// v2 DUMP from the root namespace (`None` when a page goes unanswered).
fn dump(addr: SocketAddrV4) -> Option<Records> {
    let mut all = Records::new();
    for reply in v2_dump_pages(addr, None)? {
        let Ok(Message::Page(page)) = v2::decode(&reply).map(|f| f.message) else {
            return None;
        };
        for e in &page.entries {
            let value = match e.value {
                EntryValue::Live(v) => Some(v.to_vec()),
                EntryValue::Tombstone => None,
                EntryValue::Omitted => Some(b"<omitted>".to_vec()),
            };
            all.insert(e.key.to_vec(), (value, e.version));
        }
    }
    Some(all)
}

/// What keeps the servers' dumps from being converged: a server that did
/// not answer, a replica of a key without it or with another record than
/// the others, a server outside a key's preference list holding it.
fn divergence(ring: &Ring, dumps: &[Option<Records>]) -> Vec<String> {
    let mut issues = Vec::new();
    for i in (0..dumps.len()).filter(|&i| dumps[i].is_none()) {
        issues.push(format!("server {i}: no dump"));
    }
    let keys: BTreeSet<&Vec<u8>> = dumps.iter().flatten().flat_map(|d| d.keys()).collect();
    let text = |r: Option<&Record>| match r {
        None => "nothing".to_string(),
        Some((None, version)) => format!("tombstone at {}", version_text(*version)),
        Some((Some(v), version)) => {
            format!(
                "{:?} at {}",
                String::from_utf8_lossy(v),
                version_text(*version)
            )
        }
    };
    for key in keys {
        let name = String::from_utf8_lossy(key);
        let replicas: Vec<usize> = ring.replicas(key, 3).iter().map(|r| r.server).collect();
        // (server, its record) of every server that answered.
        let held: Vec<(usize, Option<&Record>)> = (0..dumps.len())
            .filter_map(|i| Some((i, dumps[i].as_ref()?.get(key))))
            .collect();
        let of_replicas: Vec<_> = held.iter().filter(|h| replicas.contains(&h.0)).collect();
        let agreed = of_replicas
            .iter()
            .all(|h| h.1.is_some() && h.1 == of_replicas[0].1);
        if !agreed {
            let records: Vec<String> = of_replicas
                .iter()
                .map(|&&(j, r)| format!("s{j}: {}", text(r)))
                .collect();
            issues.push(format!("key {name:?}: {}", records.join(", ")));
        }
        for &(i, record) in held.iter().filter(|h| !replicas.contains(&h.0)) {
            let what = text(record);
            if record.is_some() {
                issues.push(format!(
                    "key {name:?} on s{i} ({what}), replicas {replicas:?}"
                ));
            }
        }
    }
    issues
}

/// Waits (until [`CONVERGE_LIMIT`] after `healed`) until every replica of
/// every key holds the same record; returns how long after `healed` that
/// was, how many records the servers hold in all and how many differences
/// the first look found, or panics with what still differs.
fn converge(net: &Net, healed: Instant, events: &[String]) -> (Duration, usize, usize) {
    let ring = Ring::new(&net.config);
    let addrs: Vec<SocketAddrV4> = (0..HOSTS).map(|i| net.addr(i)).collect();
    let mut issues = Vec::new();
    let (mut records, mut first) = (0, None);
    let limit = CONVERGE_LIMIT.saturating_sub(healed.elapsed());
    let ok = eventually(limit, || {
        let dumps: Vec<Option<Records>> = addrs.iter().map(|a| dump(*a)).collect();
        records = dumps.iter().flatten().flat_map(|d| d.keys()).count();
        issues = divergence(&ring, &dumps);
        first.get_or_insert(issues.len());
        issues.is_empty()
    });
    if !ok {
        let logs: Vec<String> = (0..HOSTS)
            .map(|i| format!("--- server {i} ---\n{}", net.log_tail(i, 8)))
            .collect();
        panic!(
            "replicas did not converge within {CONVERGE_LIMIT:?} of the heal:\n{}\nnemesis: {events:?}\n{}",
            issues.join("\n"),
            logs.join("\n")
        );
    }
    (healed.elapsed(), records, first.unwrap_or(0))
}

/// Everything one seed produced.
struct Run {
    seed: u64,
    history: History,
    /// Per operation of `history`: who ran it and how it went.
    labels: Vec<String>,
    /// (acknowledged, all) writes of the load.
    writes: (usize, usize),
    /// Final gets that failed even after retries.
    final_failed: usize,
    /// What the nemesis did, with times in ms.
    events: Vec<String>,
    report: Report,
    converged: Duration,
}

impl Run {
    fn summary(&self) -> String {
        format!(
            "chaos-netns seed={} : {}; writes {}/{} acknowledged; {} nemesis events; converged in {:?}",
            self.seed,
            self.report,
            self.writes.0,
            self.writes.1,
            self.events.len(),
            self.converged
        )
    }

    /// The run told for a failure (`chaos::explain`).
    fn explain(&self) -> String {
        explain(
            &self.summary(),
            &self.history,
            &self.labels,
            &self.events,
            &self.report,
        )
    }
}

/// Reads every key with a fresh client after everything else (retrying a
/// failed read up to five times): a lost acknowledged write shows. Returns
/// how many keys could not be read.
fn final_reads(
    rt: &tokio::runtime::Runtime,
    config: ClusterConfig,
    epoch: Instant,
    history: &mut History,
    labels: &mut Vec<String>,
) -> usize {
    let fresh = Client::new(config)
        .with_timeout(Duration::from_secs(2))
        .with_writer(FINAL_WRITER);
    rt.block_on(async {
        let mut failed = 0;
        for k in 0..KEYS {
            let key = key_name(k);
            let mut done = false;
            for _ in 0..5 {
                let (op, label) = get_op(&fresh, key.clone(), epoch, "final").await;
                done = op.action != Action::Get(GetResult::Failed);
                history.push(op);
                labels.push(label);
                if done {
                    break;
                }
            }
            failed += usize::from(!done);
        }
        fresh.finish_repairs().await;
        failed
    })
}

/// One seed: five fresh hosts and servers, the load and the nemesis for
/// `duration`, convergence after the heal, final reads, the check.
fn run_seed(seed: u64, duration: Duration) -> Run {
    let setup = Instant::now();
    let mut net = Net::create();
    for i in 0..HOSTS {
        net.start(i);
    }
    let setup = setup.elapsed();
    let rt = test_runtime();
    let base = Client::new(net.config.clone()).with_timeout(OP_DEADLINE);
    let epoch = Instant::now();
    let end = epoch + duration;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let client = base.clone().with_writer(100 + c as u64);
            rt.spawn(client_loop(c, client, seed, epoch, end))
        })
        .collect();
    let events = nemesis(&mut net, seed, epoch, end);
    let healed = Instant::now();
    let results = join_clients(&rt, tasks);
    let (converged, records, first) = converge(&net, healed, &events);
    let mut history = History::new();
    let mut labels = Vec::new();
    let mut writes = (0, 0);
    for (ops, (ok, all)) in results {
        writes = (writes.0 + ok, writes.1 + all);
        for (op, label) in ops {
            history.push(op);
            labels.push(label);
        }
    }
    let final_failed = final_reads(&rt, net.config.clone(), epoch, &mut history, &mut labels);
    net.assert_alive(&events);
    net.finish();
    let report = history.check(true);
    let run = Run {
        seed,
        history,
        labels,
        writes,
        final_failed,
        events,
        report,
        converged,
    };
    eprintln!(
        "{} after the heal ({first} differences at first look, {records} records; setup {setup:?}, whole seed {:?})",
        run.summary(),
        epoch.elapsed() + setup
    );
    eprintln!("  nemesis: {}", run.events.join("; "));
    run
}

fn check_run(run: &Run) {
    let summary = run.summary();
    check_common(run.seed, &run.report, run.final_failed, &summary, || {
        run.explain()
    });
    let (ok, all) = run.writes;
    assert!(all > 20 && ok > 0, "writes {ok}/{all}: {summary}");
}

fn skip() -> bool {
    netns_skip("chaos_netns")
}

/// The fixed seeds: partitions between servers, one-way cuts, the clients
/// cut off, kills; nothing lost, nothing stale, replicas converge.
#[test]
fn partitions_between_servers() {
    if skip() {
        return;
    }
    for seed in seeds(&SEEDS) {
        check_run(&run_seed(seed, RUN));
    }
}

/// `CHAOS_SEEDS` seeds (default 10), `CHAOS_SECS` seconds each (default
/// 5). Every seed runs; the failures are listed at the end.
#[test]
#[ignore = "long run: cargo test --test tests chaos_netns:: -- --ignored --nocapture"]
fn long_netns_seeds() {
    if skip() {
        return;
    }
    let count = env_number("CHAOS_SEEDS", 10.0).max(1.0) as u64;
    let secs = env_number("CHAOS_SECS", 5.0).max(2.0);
    let mut failures = Vec::new();
    for k in 0..count {
        let seed = 0x6e65_7000 + k;
        let outcome = std::panic::catch_unwind(|| {
            check_run(&run_seed(seed, Duration::from_secs_f64(secs)));
        });
        if let Err(e) = outcome {
            let text = e.downcast_ref::<String>().map_or("(see above)", |t| t);
            failures.push(format!("seed {seed}: {text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
