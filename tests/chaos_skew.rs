//! Clock skew under chaos. Versions are stamped by the clients' clocks, and
//! a client whose clock was ahead used to make later acknowledged writes
//! invisible: its high version kept winning over writes acknowledged after
//! it. The fix (OLDER no longer counts toward W; the client re-stamps past
//! the newer version; servers refuse versions more than
//! `--max-clock-offset` ahead) is checked here on a randomized history:
//! three durable `dkvs-server` processes (`--data-dir`, `--sync always`),
//! four library clients (N=3 W=2 R=2) writing, deleting and reading six
//! shared keys, one client's clock skewed, and a nemesis that, in turn,
//! cuts a random server off from the clients (every datagram dropped both
//! ways at its proxy) or `kill -9`s it and restarts it on the same data
//! directory and port. At the end everything is healed, read repairs are
//! finished, and a fresh client with a correct clock reads every key. The
//! history is checked in real time (`dkvs::checker`): no acknowledged write
//! is lost and no read returns a value overwritten, in real time, by a
//! write acknowledged before the read began.
//!
//! - `skew_under_the_offset`: one client 200–400 ms ahead, one 100 ms
//!   behind (writes are re-stamped, none is refused);
//! - `skew_beyond_the_offset`: one client 5 s ahead (its writes are refused
//!   as ClockAhead, the others' go on);
//! - `long_skew_seeds` (ignored): `CHAOS_SEEDS` seeds (default 20) of both
//!   scenarios in turn, `CHAOS_SECS` seconds each (default 3):
//!   `cargo test --test tests chaos_skew:: -- --ignored --nocapture`
//!
//! The normal-mode seeds are fixed; `CHAOS_SEED=<n>` reruns one seed in
//! every test (the real network and scheduling are not replayed, only the
//! choices of the clients and of the nemesis). Each run prints one line,
//! `chaos-skew seed=… skew=… : <report>`, with `--nocapture`.

use std::ffi::{OsStr, OsString};
use std::time::{Duration, Instant};

use crate::common::chaos::{
    check_common, env_number, explain, get_result, join_clients, microseconds, seeds,
};
use crate::common::*;
use dkvs::checker::{Action, GetResult, History, Op, Report};
use dkvs::client::Client;
use dkvs::config::parse_servers_txt;
use dkvs::fault_proxy::{Direction, FaultConfig, FaultProxy, Faults};
use dkvs::quorum::Quorum;
use dkvs::trace::{OpKind, Trace, Verdict, version_text};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const SERVERS: usize = 3;
const CLIENTS: usize = 4;
const KEYS: usize = 6;
const QUORUM: Quorum = Quorum { n: 3, w: 2, r: 2 };
/// Deadline of one operation of the load (re-stamps included).
const OP_DEADLINE: Duration = Duration::from_millis(1500);
/// Writer id of the final reader (the load's clients are 100..).
const FINAL_WRITER: u64 = 999;

/// Normal-mode seeds of each scenario (fixed: reproducible choices).
const UNDER_SEEDS: [u64; 3] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003];
const BEYOND_SEEDS: [u64; 2] = [0x5eed_0101, 0x5eed_0102];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// One client 200..400 ms ahead, one 100 ms behind.
    UnderOffset,
    /// One client 5 s ahead.
    BeyondOffset,
}

impl Scenario {
    /// Clock offset of each client, in ms.
    fn skews(self, seed: u64) -> [i64; CLIENTS] {
        match self {
            Scenario::UnderOffset => {
                let mut rng = StdRng::seed_from_u64(seed ^ 0x736b_6577);
                [rng.random_range(200..=400), -100, 0, 0]
            }
            Scenario::BeyondOffset => [5000, 0, 0, 0],
        }
    }
}

/// The writes of one client.
#[derive(Debug, Default, Clone, Copy)]
struct WriteStats {
    writes: usize,
    ok: usize,
    failed_clock: usize,
    /// Writes stamped again at least once.
    restamped: usize,
    /// Re-stamps in all.
    restamps: usize,
}

/// Everything one seed produced.
struct Run {
    seed: u64,
    skews: [i64; CLIENTS],
    history: History,
    /// Per operation of `history`: who ran it and how it went.
    labels: Vec<String>,
    stats: [WriteStats; CLIENTS],
    /// Final gets that failed even after retries.
    final_failed: usize,
    /// What the nemesis did, with times in ms.
    events: Vec<String>,
    report: Report,
}

impl Run {
    fn summary(&self) -> String {
        let stats: Vec<String> = self
            .stats
            .iter()
            .enumerate()
            .map(|(c, s)| {
                format!(
                    "c{c} {}/{} ok, {} clock-failed, {} restamped",
                    s.ok, s.writes, s.failed_clock, s.restamped
                )
            })
            .collect();
        format!(
            "chaos-skew seed={} skew={:?} : {}; writes: {}; {} nemesis events",
            self.seed,
            self.skews,
            self.report,
            stats.join(", "),
            self.events.len()
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

    fn writes(&self, clients: impl Fn(usize) -> bool) -> (usize, usize) {
        self.stats
            .iter()
            .enumerate()
            .filter(|(c, _)| clients(*c))
            .fold((0, 0), |(ok, all), (_, s)| (ok + s.ok, all + s.writes))
    }
}

fn key_name(k: usize) -> Vec<u8> {
    format!("skew-{k}").into_bytes()
}

fn verdict_text(trace: &Trace) -> String {
    match &trace.verdict {
        Verdict::Reached => "ok".into(),
        Verdict::Failed(_) => format!(
            "FAILED ({})",
            trace.failure_reason().unwrap_or_else(|| "?".into())
        ),
        Verdict::Pending => "pending".into(),
    }
}

fn get_label(who: &str, trace: &Trace, result: &GetResult) -> String {
    let what = match result {
        GetResult::Versioned { value, version } => format!(
            "{:?} at {}",
            String::from_utf8_lossy(value),
            version_text(*version)
        ),
        GetResult::Deleted(v) => format!("deleted at {}", version_text(*v)),
        GetResult::NotFound => "not found".into(),
        GetResult::Value(v) => format!("{:?} (no version)", String::from_utf8_lossy(v)),
        GetResult::Failed => verdict_text(trace),
    };
    let replies: Vec<String> = trace
        .replicas
        .iter()
        .map(|r| {
            format!(
                "s{}:{}{}",
                r.server,
                r.reply.as_ref().map_or("-".into(), ToString::to_string),
                r.version
                    .map(|v| format!(" {}", version_text(v)))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!("{who} get -> {what} [{}]", replies.join(", "))
}

/// Records a put or delete: the version it ended with and, when it was
/// stamped again, the versions of its superseded rounds (servers may have
/// stored those too, in the same real-time interval and with the same
/// fate as the write).
fn record_write(
    ops: &mut Vec<(Op, String)>,
    stats: &mut WriteStats,
    who: &str,
    invoked: u64,
    completed: u64,
    trace: &Trace,
) {
    let ok = trace.verdict == Verdict::Reached;
    stats.writes += 1;
    stats.ok += usize::from(ok);
    stats.failed_clock += usize::from(trace.failed_clock());
    stats.restamped += usize::from(!trace.restamps.is_empty());
    stats.restamps += trace.restamps.len();
    let version = trace.version.expect("a v2 write carries a version");
    let what = match (&trace.kind, &trace.written) {
        (OpKind::Delete, _) | (_, None) => "delete".to_string(),
        (_, Some(v)) => format!("put {:?}", String::from_utf8_lossy(v)),
    };
    let restamps: Vec<String> = trace
        .restamps
        .iter()
        .map(|r| {
            format!(
                "{} superseded by {} ({} ms ahead) -> {}",
                version_text(r.from),
                version_text(r.superseded_by),
                r.ahead_ms,
                version_text(r.to)
            )
        })
        .collect();
    let label = format!(
        "{who} {what} at {} -> {}{}",
        version_text(version),
        verdict_text(trace),
        if restamps.is_empty() {
            String::new()
        } else {
            format!(" restamps [{}]", restamps.join("; "))
        }
    );
    let mut writes = write_ops(&trace.key, invoked, completed, trace);
    let last = writes.pop().expect("the write itself");
    for (op, r) in writes.into_iter().zip(&trace.restamps) {
        let label = format!(
            "{who} {what} at {} (superseded round)",
            version_text(r.from)
        );
        ops.push((op, label));
    }
    ops.push((last, label));
}

/// One client's load until `end`: a put of a random key (a delete one time
/// in six), then a get of a random key; then its read repairs.
async fn client_loop(
    c: usize,
    client: Client,
    seed: u64,
    epoch: Instant,
    end: Instant,
) -> (Vec<(Op, String)>, WriteStats) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9).wrapping_add(c as u64));
    let who = format!("c{c}");
    let mut ops = Vec::new();
    let mut stats = WriteStats::default();
    let mut i = 0u64;
    while Instant::now() < end {
        i += 1;
        let key = key_name(rng.random_range(0..KEYS));
        let invoked = microseconds(epoch);
        let trace = if rng.random_range(0..6) == 0 {
            client.delete_traced(&key, QUORUM, &mut |_| {}).await
        } else {
            let value = format!("c{c}-{i}");
            client
                .put_traced(&key, value.as_bytes(), QUORUM, &mut |_| {})
                .await
        };
        record_write(
            &mut ops,
            &mut stats,
            &who,
            invoked,
            microseconds(epoch),
            &trace,
        );

        let key = key_name(rng.random_range(0..KEYS));
        let invoked = microseconds(epoch);
        let trace = client.get_traced(&key, QUORUM, &mut |_| {}).await;
        let completed = microseconds(epoch);
        let result = get_result(&trace);
        let label = get_label(&who, &trace, &result);
        ops.push((
            Op {
                key,
                invoked,
                completed,
                action: Action::Get(result),
            },
            label,
        ));
    }
    client.finish_repairs().await;
    (ops, stats)
}

/// `--data-dir` of server `i` (the default sync policy, always).
fn durable_options(cluster: &Cluster, i: usize) -> Vec<OsString> {
    vec![
        "--data-dir".into(),
        cluster
            .dir
            .path()
            .join(format!("data-{i}"))
            .into_os_string(),
    ]
}

fn start_durable(cluster: &mut Cluster, i: usize) {
    let options = durable_options(cluster, i);
    let refs: Vec<&OsStr> = options.iter().map(OsString::as_os_str).collect();
    cluster.start_with_options(i, &refs);
}

/// Panics (with its log) if a server the nemesis did not kill has died.
fn assert_alive(cluster: &mut Cluster, down: Option<usize>, events: &[String]) {
    for i in (0..SERVERS).filter(|&i| Some(i) != down) {
        if !cluster.is_running(i) {
            let (_, err) = cluster.server_output(i);
            panic!("server {i} died on its own; nemesis: {events:?}\nstderr:\n{err}");
        }
    }
}

/// Until `end`, every 150..400 ms in turn: a fault on one random server
/// (cut off from the clients, or `kill -9`), then its healing (the cut
/// removed, or a restart on the same data directory and port). At most one
/// server is faulty at a time. Leaves everything healed.
fn nemesis(
    cluster: &mut Cluster,
    proxies: &[FaultProxy],
    seed: u64,
    epoch: Instant,
    end: Instant,
) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x006e_656d_6573_6973);
    let mut events = Vec::new();
    // (server, killed) of the current fault.
    let mut fault: Option<(usize, bool)> = None;
    let ms = || epoch.elapsed().as_millis();
    let cut = FaultConfig::on(Direction::Both, Faults::loss(100.0));
    loop {
        let pause = Duration::from_millis(rng.random_range(150..=400));
        let wake = Instant::now() + pause;
        if wake >= end {
            std::thread::sleep(end.saturating_duration_since(Instant::now()));
            break;
        }
        std::thread::sleep(pause);
        assert_alive(cluster, fault.map(|f| f.0), &events);
        match fault.take() {
            Some((i, true)) => {
                start_durable(cluster, i);
                events.push(format!("{} ms: server {i} restarted", ms()));
            }
            Some((i, false)) => {
                proxies[i].heal();
                events.push(format!("{} ms: server {i} reconnected", ms()));
            }
            None => {
                let i = rng.random_range(0..SERVERS);
                if rng.random_bool(0.5) {
                    cluster.kill(i);
                    events.push(format!("{} ms: kill -9 server {i}", ms()));
                    fault = Some((i, true));
                } else {
                    proxies[i].set_faults(cut);
                    events.push(format!("{} ms: server {i} cut off", ms()));
                    fault = Some((i, false));
                }
            }
        }
    }
    match fault {
        Some((i, true)) => {
            start_durable(cluster, i);
            events.push(format!("{} ms: server {i} restarted (end)", ms()));
        }
        Some((i, false)) => {
            proxies[i].heal();
            events.push(format!("{} ms: server {i} reconnected (end)", ms()));
        }
        None => {}
    }
    for p in proxies {
        p.heal();
    }
    assert_alive(cluster, None, &events);
    events
}

/// One seed of `scenario`, the load running for `duration`.
fn run_seed(scenario: Scenario, seed: u64, duration: Duration) -> Run {
    let mut cluster = Cluster::new(&[1; SERVERS]);
    for i in 0..SERVERS {
        start_durable(&mut cluster, i);
    }
    let rt = test_runtime();
    let proxies: Vec<FaultProxy> = rt.block_on(async {
        let mut proxies = Vec::new();
        for i in 0..SERVERS {
            let listen = std::net::SocketAddrV4::new(cluster.ip, 0);
            let proxy = FaultProxy::builder(listen, cluster.addr(i))
                .seed(seed.wrapping_add(1000 + i as u64))
                .start()
                .await
                .expect("start a fault proxy");
            proxies.push(proxy);
        }
        proxies
    });
    let config = parse_servers_txt(&servers_txt(&cluster.servers), "servers.txt").unwrap();
    let base = Client::new(config.clone()).with_timeout(OP_DEADLINE);
    let skews = scenario.skews(seed);
    let epoch = Instant::now();
    let end = epoch + duration;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut client = base
                .clone()
                .with_writer(100 + c as u64)
                .with_clock_offset(skews[c]);
            assert_eq!(
                (client.writer(), client.clock_offset_ms()),
                (100 + c as u64, skews[c])
            );
            for (i, p) in proxies.iter().enumerate() {
                client.set_route(i, Some(p.local_addr()));
            }
            rt.spawn(client_loop(c, client, seed, epoch, end))
        })
        .collect();

    let events = nemesis(&mut cluster, &proxies, seed, epoch, end);

    // Every operation ends by its deadline and every read repair by its
    // get's deadline: this bound is generous.
    let results = join_clients(&rt, tasks);
    let mut history = History::new();
    let mut labels = Vec::new();
    let mut stats = [WriteStats::default(); CLIENTS];
    for (c, (ops, s)) in results.into_iter().enumerate() {
        stats[c] = s;
        for (op, label) in ops {
            history.push(op);
            labels.push(label);
        }
    }

    // A fresh client with a correct clock, straight to the servers, reads
    // every key after everything else: a lost acknowledged write shows.
    let fresh = Client::new(config)
        .with_timeout(Duration::from_secs(2))
        .with_writer(FINAL_WRITER);
    let final_failed = rt.block_on(async {
        let mut failed = 0;
        for k in 0..KEYS {
            let key = key_name(k);
            let mut done = false;
            for _ in 0..5 {
                let invoked = microseconds(epoch);
                let trace = fresh.get_traced(&key, QUORUM, &mut |_| {}).await;
                let completed = microseconds(epoch);
                let result = get_result(&trace);
                labels.push(get_label("final", &trace, &result));
                done = result != GetResult::Failed;
                history.push(Op {
                    key: key.clone(),
                    invoked,
                    completed,
                    action: Action::Get(result),
                });
                if done {
                    break;
                }
            }
            failed += usize::from(!done);
        }
        fresh.finish_repairs().await;
        for p in proxies {
            p.stop().await;
        }
        failed
    });
    let report = history.check(true);
    let run = Run {
        seed,
        skews,
        history,
        labels,
        stats,
        final_failed,
        events,
        report,
    };
    println!("{}", run.summary());
    run
}

/// What every run must satisfy, whatever the scenario; then the
/// scenario's own expectations.
fn check_run(scenario: Scenario, run: &Run) {
    let summary = run.summary();
    check_common(run.seed, &run.report, run.final_failed, &summary, || {
        run.explain()
    });
    match scenario {
        Scenario::UnderOffset => {
            let (ok, all) = run.writes(|_| true);
            assert!(
                all > 20 && ok * 2 > all,
                "write success {ok}/{all}: {}",
                run.summary()
            );
            let clock_failed: usize = run.stats.iter().map(|s| s.failed_clock).sum();
            assert_eq!(
                clock_failed,
                0,
                "no clock is off by more than the server's offset: {}",
                run.summary()
            );
        }
        Scenario::BeyondOffset => {
            let skewed = run.stats[0];
            assert!(
                skewed.writes > 0 && skewed.ok == 0 && skewed.failed_clock * 4 >= skewed.writes * 3,
                "the client 5 s ahead: writes must be refused for its clock: {skewed:?}: {}",
                run.summary()
            );
            let (ok, all) = run.writes(|c| c != 0);
            assert!(
                all > 20 && ok * 2 > all,
                "write success of the other clients {ok}/{all}: {}",
                run.summary()
            );
        }
    }
}

/// One client 200..400 ms ahead, one 100 ms behind: writes superseded by
/// the client ahead are re-stamped, none is refused, nothing is lost.
#[test]
fn skew_under_the_offset() {
    let mut restamped = 0;
    for seed in seeds(&UNDER_SEEDS) {
        let run = run_seed(Scenario::UnderOffset, seed, Duration::from_millis(2500));
        check_run(Scenario::UnderOffset, &run);
        restamped += run.stats.iter().map(|s| s.restamped).sum::<usize>();
    }
    assert!(
        restamped > 0,
        "no write was ever re-stamped: the test ran in vain"
    );
}

/// One client 5 s ahead: its writes are refused (ClockAhead), the others
/// carry on, nothing is lost.
#[test]
fn skew_beyond_the_offset() {
    for seed in seeds(&BEYOND_SEEDS) {
        let run = run_seed(Scenario::BeyondOffset, seed, Duration::from_secs(2));
        check_run(Scenario::BeyondOffset, &run);
    }
}

/// `CHAOS_SEEDS` seeds (default 20), both scenarios in turn, `CHAOS_SECS`
/// seconds each (default 3). Every seed runs; the failures are listed at
/// the end.
#[test]
#[ignore = "long run: cargo test --test tests chaos_skew:: -- --ignored --nocapture"]
fn long_skew_seeds() {
    let count = env_number("CHAOS_SEEDS", 20.0).max(1.0) as u64;
    let secs = env_number("CHAOS_SECS", 3.0).max(0.5);
    let mut failures = Vec::new();
    let mut restamped = 0;
    for k in 0..count {
        let seed = 0x5eed_1000 + k;
        let scenario = if k % 2 == 0 {
            Scenario::UnderOffset
        } else {
            Scenario::BeyondOffset
        };
        let run = run_seed(scenario, seed, Duration::from_secs_f64(secs));
        if scenario == Scenario::UnderOffset {
            restamped += run.stats.iter().map(|s| s.restamped).sum::<usize>();
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_run(scenario, &run);
        }));
        if let Err(e) = outcome {
            let text = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(ToString::to_string))
                .unwrap_or_default();
            failures.push(format!("seed {seed} ({scenario:?}): {text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(restamped > 0, "no write was ever re-stamped");
}
