//! Load generation for `dkvs-bench`: what to send, how to keep N operations
//! in flight, and how to report what happened.
//!
//! It exists so that dkvs can be measured the way Redis and memcached are
//! (`redis-benchmark`, `memtier`): a workload ([`Workload`]: key count and
//! distribution, value size, get/put mix) is driven against either one
//! server speaking v1 datagrams directly ([`Target::Direct`]) or a whole
//! ring through the library's quorum operations ([`Target::Ring`], which
//! calls [`crate::client::Client`] — no second implementation of quorums).
//! Latencies go into an HDR histogram; [`Report`] formats the result for a
//! terminal or as one JSON object for scripts (`benches/compare.sh`).
//!
//! The driver is single-threaded (one tokio current-thread runtime, one task
//! per operation in flight), so that a benchmark pinned to one core with
//! `taskset` stays on that core. Closed loop by default: each task sends its
//! next request when the previous one finished. With a target rate it is
//! open loop: each task has a schedule of intended send times and latency is
//! measured from the intended time, so a stalled server is not hidden by a
//! stalled load generator (no "coordinated omission").

use std::cell::RefCell;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::net::UdpSocket;

use crate::client::{Client, ProtocolMode};
use crate::protocol::{self, GetReply, PutReply};
use crate::quorum::QuorumOptions;
use crate::trace::{Failure, Verdict};

mod error;
mod report;
pub use error::{BenchError, DistributionError};
pub use report::Report;

/// Largest key count of a Zipf workload (its table takes 8 bytes a key).
pub const MAX_ZIPF_KEYS: u64 = 10_000_000;

/// Length of every generated key in bytes (`key:` and 12 decimal digits).
pub const KEY_LEN: usize = 16;

/// Largest key count a workload accepts (keys are 12 decimal digits).
pub const MAX_KEYS: u64 = 1_000_000_000_000;

/// How keys are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Key of rank `k` (1-based) chosen with probability ∝ 1/k^s.
    Zipf(f64),
}

impl std::str::FromStr for Distribution {
    type Err = DistributionError;

    /// `uniform`, `zipf` (s = 0.99, as YCSB) or `zipf:S` with 0 < S ≤ 10.
    fn from_str(text: &str) -> Result<Distribution, DistributionError> {
        match text {
            "uniform" => Ok(Distribution::Uniform),
            "zipf" => Ok(Distribution::Zipf(0.99)),
            _ => {
                let s = text
                    .strip_prefix("zipf:")
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| *s > 0.0 && *s <= 10.0);
                match s {
                    Some(s) => Ok(Distribution::Zipf(s)),
                    None => Err(DistributionError { text: text.into() }),
                }
            }
        }
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distribution::Uniform => write!(f, "uniform"),
            Distribution::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

/// What the benchmark sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Number of distinct keys (`key:000000000000` …).
    pub keys: u64,
    /// How keys are chosen.
    pub distribution: Distribution,
    /// Bytes in every put's value.
    pub value_size: usize,
    /// Fraction of operations that are gets (0.0 ..= 1.0).
    pub get_ratio: f64,
    /// Put every key once, in order, then stop (ignores the distribution,
    /// the mix and the stop condition).
    pub fill: bool,
    /// Seed of the key and operation choices.
    pub seed: u64,
}

impl Workload {
    /// Checks what the options alone cannot: a Zipf table of at most
    /// [`MAX_ZIPF_KEYS`] entries, a value within the protocol's limit.
    pub fn check(&self) -> Result<(), BenchError> {
        if matches!(self.distribution, Distribution::Zipf(_))
            && !self.fill
            && self.keys > MAX_ZIPF_KEYS
        {
            return Err(BenchError::TooManyZipfKeys { keys: self.keys });
        }
        if self.value_size > protocol::MAX_VALUE_LEN {
            return Err(BenchError::ValueTooLarge {
                size: self.value_size,
            });
        }
        Ok(())
    }
}

/// The `i`-th key: `key:` and `i` in 12 zero-padded digits (16 bytes).
pub fn key_name(i: u64) -> [u8; KEY_LEN] {
    let mut key = *b"key:000000000000";
    let mut n = i;
    for byte in key.iter_mut().rev().take(12) {
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
    key
}

/// A value of `size` bytes (printable, never NUL).
pub fn value_of(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A small, fast, seedable generator (SplitMix64): reproducible workloads
/// without depending on a particular `rand` version's algorithms.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (n > 0; 0 when n == 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Chooses key indexes according to a [`Distribution`].
#[derive(Debug, Clone)]
pub struct KeyChooser {
    keys: u64,
    /// Zipf: cumulative probabilities of ranks 1..=keys (table search).
    cdf: Option<Vec<f64>>,
}

impl KeyChooser {
    /// A chooser over `keys` keys. Zipf builds a table of `keys` entries
    /// (8 bytes each) once.
    pub fn new(keys: u64, distribution: Distribution) -> KeyChooser {
        let cdf = match distribution {
            Distribution::Uniform => None,
            Distribution::Zipf(s) => {
                let mut cdf = Vec::with_capacity(keys as usize);
                let mut sum = 0.0;
                for k in 1..=keys {
                    sum += 1.0 / (k as f64).powf(s);
                    cdf.push(sum);
                }
                for p in &mut cdf {
                    *p /= sum;
                }
                Some(cdf)
            }
        };
        KeyChooser { keys, cdf }
    }

    /// The next key index in `0..keys` (rank 1 is index 0).
    pub fn choose(&self, rng: &mut SplitMix64) -> u64 {
        match &self.cdf {
            None => rng.below(self.keys),
            Some(cdf) => {
                let u = rng.next_f64();
                let i = cdf.partition_point(|p| *p < u);
                (i as u64).min(self.keys.saturating_sub(1))
            }
        }
    }
}

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// One server, v1 datagrams, one request per operation.
    Direct(SocketAddrV4),
    /// The ring, through the library's quorum operations (boxed: a client
    /// is much larger than an address).
    Ring(Box<Client>, QuorumOptions),
}

impl Target {
    /// The same target, the ring spoken to in protocol `mode` (v1 only, or
    /// v2 with the v1 fallback); a direct target is v1 datagrams already.
    pub fn with_protocol(self, mode: ProtocolMode) -> Target {
        match self {
            Target::Ring(client, options) => {
                Target::Ring(Box::new(client.with_protocol(mode)), options)
            }
            direct @ Target::Direct(_) => direct,
        }
    }

    /// How the report names the target.
    pub fn describe(&self) -> String {
        match self {
            Target::Direct(addr) => format!("{addr} (one server, v1 datagrams)"),
            Target::Ring(client, options) => match client.quorum(*options) {
                Ok(q) => format!(
                    "{} ({} servers, quorum N={} W={} R={}{})",
                    client.config().source_name(),
                    client.config().server_count(),
                    q.n,
                    q.w,
                    q.r,
                    match client.protocol() {
                        ProtocolMode::V1 => ", protocol v1",
                        ProtocolMode::Auto => "",
                    }
                ),
                Err(_) => client.config().source_name(),
            },
        }
    }
}

/// When the run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long.
    Duration(Duration),
    /// After this many operations.
    Requests(u64),
}

/// How the driver runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Driver {
    /// Operations in flight.
    pub concurrency: usize,
    /// When to stop.
    pub stop: Stop,
    /// Open loop at this many operations per second in total; `None` =
    /// closed loop.
    pub rate: Option<f64>,
    /// Deadline of one operation (direct mode; the ring uses the client's).
    pub timeout: Duration,
    /// Print a progress line on stderr every second.
    pub progress: bool,
}

/// What one operation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Hit,
    Miss,
    Stored,
    Timeout,
    Error,
}

/// Counters shared by the tasks of one run (single thread).
struct State {
    started: u64,
    hits: u64,
    misses: u64,
    stored: u64,
    timeouts: u64,
    errors: u64,
    latency_us: Histogram<u64>,
}

impl State {
    fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Hit => self.hits += 1,
            Outcome::Miss => self.misses += 1,
            Outcome::Stored => self.stored += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::Error => self.errors += 1,
        }
        if matches!(outcome, Outcome::Hit | Outcome::Miss | Outcome::Stored) {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            // saturating_record clamps to the histogram's range.
            self.latency_us.saturating_record(us.max(1));
        }
    }

    fn done(&self) -> u64 {
        self.hits + self.misses + self.stored + self.timeouts + self.errors
    }
}

/// One operation to run.
enum Op {
    Get(u64),
    Put(u64),
}

/// Runs `workload` against `target` as `driver` says, and reports.
/// Fails only when the runtime or the histogram cannot be created.
pub fn run(target: Target, workload: Workload, driver: Driver) -> io::Result<Report> {
    let runtime = crate::cli::runtime()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, run_async(target, workload, driver))
}

async fn run_async(target: Target, workload: Workload, driver: Driver) -> io::Result<Report> {
    let state = new_state()?;
    workload.check().map_err(io::Error::other)?;
    let concurrency = driver.concurrency.max(1);
    let mut run = Run::new(target, workload, &driver, state);
    let start = Instant::now();
    run.end = match driver.stop {
        Stop::Duration(d) if !run.workload.fill => Some(start + d),
        _ => None,
    };
    let run = Rc::new(run);
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let worker = Worker::new(Rc::clone(&run), task, concurrency, driver.rate, start);
            tokio::task::spawn_local(worker.work())
        })
        .collect();
    let progress = driver
        .progress
        .then(|| tokio::task::spawn_local(progress(Rc::clone(&run.state), start)));
    for task in tasks {
        // A task that panicked is a bug; its operations are simply missing.
        let _ = task.await;
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    Ok(run.report(driver, elapsed))
}

/// The counters of a new run, with an empty histogram of 1 µs .. 1 hour,
/// 3 significant digits.
fn new_state() -> io::Result<Rc<RefCell<State>>> {
    let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(Rc::new(RefCell::new(State {
        started: 0,
        hits: 0,
        misses: 0,
        stored: 0,
        timeouts: 0,
        errors: 0,
        latency_us: histogram,
    })))
}

/// What the tasks of one run share.
struct Run {
    state: Rc<RefCell<State>>,
    chooser: KeyChooser,
    value: Vec<u8>,
    target: Target,
    workload: Workload,
    timeout: Duration,
    /// Operations to start in all, if the run stops after a count.
    limit: Option<u64>,
    /// When no more operations start, if the run stops after a time (set
    /// once the run starts).
    end: Option<Instant>,
}

impl Run {
    fn new(target: Target, workload: Workload, driver: &Driver, state: Rc<RefCell<State>>) -> Run {
        let distribution = if workload.fill {
            Distribution::Uniform
        } else {
            workload.distribution
        };
        let limit = if workload.fill {
            Some(workload.keys)
        } else {
            match driver.stop {
                Stop::Requests(n) => Some(n),
                Stop::Duration(_) => None,
            }
        };
        Run {
            state,
            chooser: KeyChooser::new(workload.keys.max(1), distribution),
            value: value_of(workload.value_size),
            target,
            workload,
            timeout: driver.timeout,
            limit,
            end: None,
        }
    }

    /// The report of the run, once every task is done.
    fn report(&self, driver: Driver, elapsed: Duration) -> Report {
        let s = self.state.borrow();
        Report {
            target: self.target.describe(),
            workload: self.workload.clone(),
            driver,
            elapsed,
            hits: s.hits,
            misses: s.misses,
            stored: s.stored,
            timeouts: s.timeouts,
            errors: s.errors,
            latency_us: s.latency_us.clone(),
        }
    }
}

/// One task of a run: one operation in flight at a time.
struct Worker {
    run: Rc<Run>,
    rng: SplitMix64,
    /// Open loop: this task's share of the rate.
    interval: Option<Duration>,
    /// Open loop: when the next operation is meant to be sent.
    intended: Instant,
    /// Direct target: this task's connected socket and buffer.
    direct: Option<(UdpSocket, Vec<u8>)>,
}

impl Worker {
    fn new(
        run: Rc<Run>,
        task: usize,
        concurrency: usize,
        rate: Option<f64>,
        start: Instant,
    ) -> Worker {
        let rng =
            SplitMix64::new(run.workload.seed ^ (task as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        let interval = rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(concurrency as f64 / r));
        let first = start
            + interval.map_or(Duration::ZERO, |i| {
                i.mul_f64(task as f64 / concurrency as f64)
            });
        Worker {
            run,
            rng,
            interval,
            intended: first,
            direct: None,
        }
    }

    /// Runs operations until the run stops.
    async fn work(mut self) {
        while let Some(op) = self.next_op() {
            let began = self.began().await;
            let outcome = self.perform(&op).await;
            self.run.state.borrow_mut().record(outcome, began.elapsed());
        }
    }

    /// The next operation, counted as started; `None` when the run stops.
    fn next_op(&mut self) -> Option<Op> {
        let run = &*self.run;
        let mut s = run.state.borrow_mut();
        if run.limit.is_some_and(|l| s.started >= l) || run.end.is_some_and(|e| Instant::now() >= e)
        {
            return None;
        }
        let n = s.started;
        s.started += 1;
        Some(if run.workload.fill {
            Op::Put(n)
        } else {
            let key = run.chooser.choose(&mut self.rng);
            if self.rng.next_f64() < run.workload.get_ratio {
                Op::Get(key)
            } else {
                Op::Put(key)
            }
        })
    }

    /// When the operation about to be sent began: open loop, its intended
    /// time (waited for); closed loop, now.
    async fn began(&mut self) -> Instant {
        match self.interval {
            Some(i) => {
                tokio::time::sleep_until(self.intended.into()).await;
                let at = self.intended;
                self.intended += i;
                at
            }
            None => Instant::now(),
        }
    }

    async fn perform(&mut self, op: &Op) -> Outcome {
        let run = &*self.run;
        match &run.target {
            Target::Direct(addr) => {
                direct_op(&mut self.direct, *addr, op, &run.value, run.timeout).await
            }
            Target::Ring(client, options) => ring_op(client, *options, op, &run.value).await,
        }
    }
}

/// Prints a progress line on stderr every second, until aborted.
async fn progress(state: Rc<RefCell<State>>, start: Instant) {
    let mut last = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let s = state.borrow();
        let done = s.done();
        eprint!(
            "\r{:>6.1} s  {:>10} ops  {:>9} ops/s  p50 {} us  {} timeouts  {} errors   ",
            start.elapsed().as_secs_f64(),
            done,
            done - last,
            if s.latency_us.is_empty() {
                0
            } else {
                s.latency_us.value_at_quantile(0.5)
            },
            s.timeouts,
            s.errors
        );
        last = done;
    }
}

/// A socket connected to `addr`, bound to the loopback or any address as
/// fits (connected: the kernel drops datagrams from anyone else, and reports
/// "connection refused" when nothing listens).
async fn connect(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    let local = if addr.ip().is_loopback() {
        SocketAddr::from((*addr.ip(), 0))
    } else {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

/// One v1 request and its reply on this task's connected socket. After a
/// timeout the socket is replaced, so a late reply can never be taken for
/// the answer to the next request.
async fn direct_op(
    socket: &mut Option<(UdpSocket, Vec<u8>)>,
    addr: SocketAddrV4,
    op: &Op,
    value: &[u8],
    timeout: Duration,
) -> Outcome {
    if socket.is_none() {
        match connect(addr).await {
            // Sized for this workload's values: a longer reply is truncated
            // by the kernel, which still tells a value from a miss (a lone
            // NUL), since values never contain NUL.
            Ok(s) => *socket = Some((s, vec![0u8; (value.len() + 1).max(2048)])),
            Err(_) => return Outcome::Error,
        }
    }
    let Some((sock, buf)) = socket.as_mut() else {
        return Outcome::Error;
    };
    let request = match op {
        Op::Get(k) => protocol::encode_get(&key_name(*k)),
        Op::Put(k) => protocol::encode_put(&key_name(*k), value),
    };
    let Ok(request) = request else {
        return Outcome::Error;
    };
    if sock.send(&request).await.is_err() {
        return Outcome::Error;
    }
    let len = match tokio::time::timeout(timeout, sock.recv(buf)).await {
        Err(_) => {
            *socket = None;
            return Outcome::Timeout;
        }
        Ok(Err(_)) => {
            // Typically ECONNREFUSED: nothing listens there.
            return Outcome::Error;
        }
        Ok(Ok(len)) => len,
    };
    let reply = buf.get(..len).unwrap_or_default();
    match op {
        Op::Get(_) => match protocol::decode_get_reply(reply) {
            GetReply::Value(_) => Outcome::Hit,
            GetReply::NotFound => Outcome::Miss,
            GetReply::Invalid => Outcome::Error,
        },
        Op::Put(_) => match protocol::decode_put_reply(reply) {
            PutReply::Stored => Outcome::Stored,
            PutReply::Refused | PutReply::Invalid => Outcome::Error,
        },
    }
}

/// One quorum operation through the library's client (its own traced
/// operations, so that timeouts are told apart from other failures).
async fn ring_op(client: &Client, options: QuorumOptions, op: &Op, value: &[u8]) -> Outcome {
    let Ok(quorum) = client.quorum(options) else {
        return Outcome::Error;
    };
    let trace = match op {
        Op::Get(k) => client.get_traced(&key_name(*k), quorum, &mut |_| {}).await,
        Op::Put(k) => {
            client
                .put_traced(&key_name(*k), value, quorum, &mut |_| {})
                .await
        }
    };
    match (&trace.verdict, op) {
        (Verdict::Reached, Op::Get(_)) => Outcome::Hit,
        (Verdict::Reached, Op::Put(_)) => Outcome::Stored,
        (Verdict::Failed(Failure::NotFound), _) => Outcome::Miss,
        (Verdict::Failed(Failure::Timeout), _) => Outcome::Timeout,
        _ => Outcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of `ops` stored puts in one second, every one at `us` µs.
    fn report(ops: u64, us: u64, concurrency: usize) -> Report {
        let mut latency_us = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        latency_us.record_n(us, ops).unwrap();
        Report {
            target: "t".into(),
            workload: Workload {
                keys: 10,
                distribution: Distribution::Uniform,
                value_size: 1,
                get_ratio: 0.0,
                fill: false,
                seed: 1,
            },
            driver: Driver {
                concurrency,
                stop: Stop::Requests(ops),
                rate: None,
                timeout: Duration::from_secs(1),
                progress: false,
            },
            elapsed: Duration::from_secs(1),
            hits: 0,
            misses: 0,
            stored: ops,
            timeouts: 0,
            errors: 1,
            latency_us,
        }
    }

    #[test]
    fn side_by_side_compares_with_the_first_row() {
        let (v1, v2) = (report(1000, 100, 16), report(900, 120, 16));
        let table = Report::side_by_side(&[("v1", &v1), ("v2", &v2)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert_eq!(
            lines[2],
            "| v1 | 16 | 1000 | 100 | 100 | 1 | +0.0% | +0.0% |"
        );
        assert_eq!(
            lines[3],
            "| v2 | 16 | 900 | 120 | 120 | 1 | -10.0% | +20.0% |"
        );
        assert_eq!(Report::side_by_side(&[]).lines().count(), 2);
    }

    #[test]
    fn a_direct_target_keeps_its_protocol() {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        let target = Target::Direct(addr).with_protocol(ProtocolMode::V1);
        assert!(matches!(target, Target::Direct(a) if a == addr));
    }

    #[test]
    fn keys_are_sixteen_bytes_and_distinct() {
        assert_eq!(&key_name(0), b"key:000000000000");
        assert_eq!(&key_name(1_234_567), b"key:000001234567");
        assert_ne!(key_name(1), key_name(2));
    }

    #[test]
    fn distributions_parse() {
        assert_eq!("uniform".parse(), Ok(Distribution::Uniform));
        assert_eq!("zipf".parse(), Ok(Distribution::Zipf(0.99)));
        assert_eq!("zipf:1.2".parse(), Ok(Distribution::Zipf(1.2)));
        assert!("zipf:0".parse::<Distribution>().is_err());
        assert!("zipf:x".parse::<Distribution>().is_err());
        assert!("normal".parse::<Distribution>().is_err());
    }

    #[test]
    fn zipf_favours_low_ranks_and_uniform_spreads() {
        let mut rng = SplitMix64::new(7);
        let zipf = KeyChooser::new(1000, Distribution::Zipf(1.0));
        let uniform = KeyChooser::new(1000, Distribution::Uniform);
        let (mut z0, mut u0) = (0, 0);
        for _ in 0..10_000 {
            let z = zipf.choose(&mut rng);
            let u = uniform.choose(&mut rng);
            assert!(z < 1000 && u < 1000);
            z0 += u32::from(z == 0);
            u0 += u32::from(u == 0);
        }
        // Rank 1 of Zipf(1) over 1000 keys has p ≈ 0.134; uniform 0.001.
        assert!(z0 > 1000, "zipf rank 1 chosen {z0} times");
        assert!(u0 < 100, "uniform key 0 chosen {u0} times");
    }

    #[test]
    fn the_json_report_reads_back() {
        let mut r = report(10, 250, 1);
        r.target = "a\"b\\c\n".into();
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["target"], "a\"b\\c\n");
        assert_eq!(json["stored"], 10);
        assert_eq!(json["errors"], 1);
        assert_eq!(json["rate"], serde_json::Value::Null);
        assert_eq!(json["latency_us"]["p50"], 250);
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys[..3], ["target", "keys", "distribution"]);
    }
}
