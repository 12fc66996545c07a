//! Chaos tests: real `dkvs-server` processes, a put/get load from the
//! library client, and faults — packet loss, duplication and reordering
//! through `dkvs::fault_proxy` proxies, SIGKILL and SIGSTOP of servers.
//! Every operation is recorded and the history is checked with
//! `dkvs::checker` (N=3, W=2, R=2, so W + R > N: no stale read allowed).
//!
//! The short variants run in `cargo test` (a few seconds each). The long
//! ones are `#[ignore]`d; `scripts/chaos.sh SECONDS` runs them with
//! `CHAOS_SECS` set. Each run prints one summary line (`chaos: …`) with the
//! operation count, the success rate and the violations; run with
//! `--nocapture` to see it.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::checker::{Action, GetResult, History, Op, Report};
use dkvs::client::Client;
use dkvs::config::parse_servers_txt;
use dkvs::fault_proxy::{Direction, FaultConfig, FaultProxy, Faults};
use dkvs::quorum::QuorumOptions;
use dkvs::trace::Verdict;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The shape of the load: `writers` tasks, each the only writer of its
/// `keys_per_writer` keys; each task alternates a put of its next key (with
/// its next counter value, so every key's values increase) and a get of a
/// random key of any writer.
#[derive(Debug, Clone, Copy)]
struct Load {
    writers: usize,
    keys_per_writer: usize,
    duration: Duration,
    seed: u64,
}

impl Load {
    fn short(seconds: f64) -> Load {
        Load {
            writers: 6,
            keys_per_writer: 128,
            duration: Duration::from_secs_f64(seconds),
            seed: rand::rng().random(),
        }
    }
}

/// What a load produced.
#[derive(Debug, Default)]
struct Outcome {
    history: History,
    /// First-reply latency of every server that answered, in µs.
    latencies: Vec<u64>,
    /// The first failed operations (invocation time in µs, trace), for the log.
    failures: Vec<(u64, dkvs::trace::Trace)>,
    /// Get replies (counted or not) holding a value of another key: a late
    /// reply leaking into another operation.
    foreign: usize,
}

/// Runs `load` against `client` (N=3, W=2, R=2); times are µs since `epoch`.
async fn run_load(client: Client, load: Load, epoch: Instant) -> Outcome {
    let client = Arc::new(client);
    let keys: Arc<Vec<Vec<String>>> = Arc::new(
        (0..load.writers)
            .map(|w| {
                (0..load.keys_per_writer)
                    .map(|k| format!("w{w}-k{k}"))
                    .collect()
            })
            .collect(),
    );
    let quorum = client
        .quorum(QuorumOptions::default().n(3).w(2).r(2))
        .expect("N=3 W=2 R=2 fits the ring");
    let end = Instant::now() + load.duration;
    let mut tasks = Vec::new();
    for w in 0..load.writers {
        let client = client.clone();
        let keys = keys.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(load.seed.wrapping_add(w as u64));
            let mut out = Outcome::default();
            let now = || epoch.elapsed().as_micros() as u64;
            let mut counter = 0u64;
            while Instant::now() < end {
                counter += 1;
                let key = &keys[w][counter as usize % load.keys_per_writer];
                // `<writer>:<counter>`: unique, so a reply that belongs to
                // another key is recognised (see `foreign_value`).
                let value = format!("{w}:{counter}");
                let invoked = now();
                let trace = client
                    .put_traced(key.as_bytes(), value.as_bytes(), quorum, &mut |_| {})
                    .await;
                let ok = trace.verdict == Verdict::Reached;
                record(&mut out, invoked, &trace, load.keys_per_writer);
                out.history.push(Op {
                    key: key.clone().into_bytes(),
                    invoked,
                    completed: now(),
                    action: Action::Put {
                        value: value.into_bytes(),
                        ok,
                    },
                });

                let owner = rng.random_range(0..load.writers);
                let key = &keys[owner][rng.random_range(0..load.keys_per_writer)];
                let invoked = now();
                let trace = client.get_traced(key.as_bytes(), quorum, &mut |_| {}).await;
                record(&mut out, invoked, &trace, load.keys_per_writer);
                let result = match (&trace.verdict, &trace.value) {
                    (Verdict::Reached, Some(v)) => GetResult::Value(v.clone()),
                    (Verdict::Failed(dkvs::trace::Failure::NotFound), _) => GetResult::NotFound,
                    _ => GetResult::Failed,
                };
                out.history.push(Op {
                    key: key.clone().into_bytes(),
                    invoked,
                    completed: now(),
                    action: Action::Get(result),
                });
            }
            out
        }));
    }
    let mut all = Outcome::default();
    for task in tasks {
        let out = task.await.expect("a load task panicked");
        all.history.extend(out.history);
        all.latencies.extend(out.latencies);
        all.failures.extend(out.failures);
        all.foreign += out.foreign;
    }
    all.failures.truncate(10);
    all
}

/// True when `value` (`<writer>:<counter>`) cannot belong to `key`
/// (`w<writer>-k<counter mod keys>`).
fn foreign_value(key: &[u8], value: &[u8], keys_per_writer: usize) -> bool {
    let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value)) else {
        return true;
    };
    let parsed = key
        .strip_prefix('w')
        .and_then(|k| k.split_once("-k"))
        .zip(value.split_once(':'));
    let Some(((kw, kk), (vw, vc))) = parsed else {
        return true;
    };
    let (Ok(kk), Ok(vc)) = (kk.parse::<usize>(), vc.parse::<usize>()) else {
        return true;
    };
    kw != vw || vc % keys_per_writer != kk
}

fn record(out: &mut Outcome, invoked: u64, trace: &dkvs::trace::Trace, keys_per_writer: usize) {
    out.foreign += trace
        .replicas
        .iter()
        .filter(|r| match &r.reply {
            Some(dkvs::trace::Reply::Value(v)) => foreign_value(&trace.key, v, keys_per_writer),
            _ => false,
        })
        .count();
    out.latencies.extend(
        trace
            .replicas
            .iter()
            .filter(|r| {
                r.reply
                    .as_ref()
                    .is_some_and(|x| *x != dkvs::trace::Reply::Timeout)
            })
            .filter_map(|r| r.latency)
            .map(|l| l.as_micros() as u64),
    );
    let not_found = trace.verdict == Verdict::Failed(dkvs::trace::Failure::NotFound);
    if out.failures.len() < 10 && !not_found && trace.failure_reason().is_some() {
        out.failures.push((invoked, trace.clone()));
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Checks the history, prints the summary line and returns the report.
fn summarize(name: &str, load: &Load, outcome: &Outcome) -> Report {
    let report = outcome.history.check(true);
    let mut lat = outcome.latencies.clone();
    lat.sort_unstable();
    println!(
        "chaos: {name} ({:.1} s, seed {}): {report}; reply latency µs p50 {} p99 {} p99.9 {} max {}",
        load.duration.as_secs_f64(),
        load.seed,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().copied().unwrap_or(0),
    );
    println!(
        "chaos: {name}: {} get replies with another key's value",
        outcome.foreign
    );
    for v in report.violations.iter().take(10) {
        println!("chaos: {name}: VIOLATION {v}");
    }
    // When each value seen by a failed operation was written (ms).
    let mut written = std::collections::HashMap::new();
    for op in &outcome.history.ops {
        if let Action::Put { value, .. } = &op.action {
            written.insert((op.key.as_slice(), value.as_slice()), op.invoked / 1000);
        }
    }
    for (invoked, trace) in &outcome.failures {
        let replies: Vec<String> = trace
            .replicas
            .iter()
            .map(|r| match &r.reply {
                Some(dkvs::trace::Reply::Value(v)) => format!(
                    "server {}: {} (put at {} ms)",
                    r.server,
                    String::from_utf8_lossy(v),
                    written
                        .get(&(trace.key.as_slice(), v.as_slice()))
                        .map_or("?".into(), ToString::to_string)
                ),
                reply => format!(
                    "server {}: {}",
                    r.server,
                    reply.as_ref().map_or("-".into(), ToString::to_string)
                ),
            })
            .collect();
        println!(
            "chaos: {name}: failure at {} ms: {} {:?}: {} [{}]",
            invoked / 1000,
            trace.kind,
            String::from_utf8_lossy(&trace.key),
            trace.failure_reason().unwrap_or_default(),
            replies.join(", ")
        );
    }
    report
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A client of `servers` (addresses of servers or of their proxies), one
/// node each.
fn client_of(servers: &[SocketAddrV4]) -> Client {
    let text: String = servers
        .iter()
        .map(|a| format!("{} {} 1\n", a.ip(), a.port()))
        .collect();
    Client::new(parse_servers_txt(&text, "chaos").expect("a valid ring"))
        .with_timeout(Duration::from_millis(1000))
}

/// Three real servers, each behind its own proxy with `faults`; runs `load`
/// through the proxies and returns the outcome and the proxies' seeds.
fn through_proxies(faults: FaultConfig, load: Load) -> (Outcome, Vec<u64>) {
    let mut cluster = Cluster::new(&[1, 1, 1]);
    cluster.start_all();
    let rt = runtime();
    rt.block_on(async {
        let mut proxies = Vec::new();
        for i in 0..3 {
            let proxy = FaultProxy::builder(SocketAddrV4::new(cluster.ip, 0), cluster.addr(i))
                .faults(faults)
                .seed(load.seed.wrapping_add(1000 + i as u64))
                .start()
                .await
                .expect("start a proxy");
            proxies.push(proxy);
        }
        let addrs: Vec<SocketAddrV4> = proxies.iter().map(FaultProxy::local_addr).collect();
        let seeds = proxies.iter().map(FaultProxy::seed).collect();
        let outcome = run_load(client_of(&addrs), load, Instant::now()).await;
        for p in proxies {
            let s = p.stop().await;
            println!("chaos: proxy {s:?}");
        }
        (outcome, seeds)
    })
}

fn loss_run(seconds: f64) {
    let load = Load::short(seconds);
    let faults = FaultConfig::on(Direction::Both, Faults::loss(10.0));
    let (outcome, _) = through_proxies(faults, load);
    let report = summarize("10% loss each way", &load, &outcome);
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(outcome.foreign, 0, "replies leaked between operations");
    assert!(report.ops() > 100, "too few operations: {report}");
    assert!(report.success_rate() >= 0.995, "{report}");
}

/// 3 servers, N=3 W=2 R=2, 10% loss each way on every link: at least 99.5%
/// of operations succeed and no violation.
#[test]
fn ten_percent_loss_each_way() {
    loss_run(3.0);
}

fn dup_reorder_run(seconds: f64) {
    let load = Load::short(seconds);
    let faults = FaultConfig::on(
        Direction::Both,
        Faults {
            duplicate: 0.2,
            reorder: 0.2,
            ..Faults::NONE
        },
    );
    let (outcome, _) = through_proxies(faults, load);
    let report = summarize("20% duplication + 20% reordering", &load, &outcome);
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(outcome.foreign, 0, "replies leaked between operations");
    assert!(report.ops() > 100, "too few operations: {report}");
}

/// 20% duplication and 20% reordering each way: no violation.
#[test]
fn duplication_and_reordering() {
    dup_reorder_run(3.0);
}

/// One server SIGKILLed (then restarted, empty) and another SIGSTOPped
/// (then resumed), in turn, during the load; a quorum of two is alive at
/// every moment. `phase` is the length of each of the five phases.
fn kill_and_pause_run(phase: Duration) {
    let mut cluster = Cluster::new(&[1, 1, 1]);
    cluster.start_all();
    let rt = runtime();
    let load = Load {
        duration: phase * 5,
        ..Load::short(0.0)
    };
    let epoch = Instant::now();
    let addrs: Vec<SocketAddrV4> = (0..3).map(|i| cluster.addr(i)).collect();
    let handle = rt.spawn(run_load(client_of(&addrs), load, epoch));
    let mut marks = Vec::new();
    let mut mark = |what: &str| marks.push((epoch.elapsed().as_millis(), what.to_string()));
    std::thread::sleep(phase);
    cluster.kill(0);
    mark("SIGKILL server 0");
    std::thread::sleep(phase);
    cluster.start(0);
    mark("server 0 restarted (empty)");
    std::thread::sleep(phase);
    let paused = cluster.pid(1);
    send_signal(paused, "STOP");
    mark("SIGSTOP server 1");
    std::thread::sleep(phase);
    send_signal(paused, "CONT");
    mark("SIGCONT server 1");
    let outcome = rt.block_on(handle).expect("the load panicked");
    println!("chaos: events (ms): {marks:?}");
    let report = summarize("kill -9, restart, SIGSTOP, SIGCONT", &load, &outcome);
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(outcome.foreign, 0, "replies leaked between operations");
    assert!(report.ops() > 100, "too few operations: {report}");
    assert!(report.success_rate() >= 0.99, "{report}");
}

#[test]
fn kill_and_pause_in_turn() {
    kill_and_pause_run(Duration::from_millis(800));
}

/// Length of the long runs, from `CHAOS_SECS` (default 60 s).
fn long_secs() -> f64 {
    std::env::var("CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0)
}

#[test]
#[ignore = "long run: scripts/chaos.sh SECONDS"]
fn long_ten_percent_loss_each_way() {
    loss_run(long_secs());
}

#[test]
#[ignore = "long run: scripts/chaos.sh SECONDS"]
fn long_duplication_and_reordering() {
    dup_reorder_run(long_secs());
}

#[test]
#[ignore = "long run: scripts/chaos.sh SECONDS"]
fn long_kill_and_pause_in_turn() {
    kill_and_pause_run(Duration::from_secs_f64(long_secs() / 5.0));
}

/// Reply latencies with no fault at all, to choose the retransmission
/// schedule (docs/RELIABILITY.md).
#[test]
#[ignore = "measurement: cargo test --release --test tests chaos::latency -- --ignored --nocapture"]
fn latency_without_faults() {
    let mut cluster = Cluster::new(&[1, 1, 1]);
    cluster.start_all();
    let rt = runtime();
    let load = Load::short(long_secs().min(10.0));
    let addrs: Vec<SocketAddrV4> = (0..3).map(|i| cluster.addr(i)).collect();
    let outcome = rt.block_on(run_load(
        client_of(&addrs).with_retry(dkvs::client::RetryPolicy::DISABLED),
        load,
        Instant::now(),
    ));
    let report = summarize("no faults, no retransmission", &load, &outcome);
    assert!(report.violations.is_empty(), "{report}");
}
