//! Request latency histograms: how long a server takes from receiving a
//! request to sending its reply, by operation, for the Prometheus endpoint
//! (`dkvs_request_duration_seconds`, `crate::metrics`). Counted on the
//! request path, so it takes no lock and allocates nothing: each thread
//! adds to its own slot with relaxed atomic adds, and a scrape sums the
//! slots, as [`super::OpCounters`] does for the request counters
//! (DECISIONS #522).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::Op;
use super::counters::thread_index;

/// Upper bounds of the buckets, in nanoseconds: 10 µs to 1 s in steps of
/// 1, 2.5 and 5 (a get on loopback is answered in tens of µs, a durable
/// put synced to disk in ms); a last bucket, `+Inf`, takes the rest.
pub const BUCKETS_NS: [u64; 16] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// The `le` label of each bucket, [`BUCKETS_NS`] in seconds as Prometheus'
/// own client libraries print them, then `+Inf`.
pub const BUCKET_LABELS: [&str; BUCKETS] = [
    "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf",
];

/// Buckets per histogram, `+Inf` included.
pub const BUCKETS: usize = BUCKETS_NS.len() + 1;

/// The operation a latency is counted under (the `op` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timed {
    /// A get (v1 or v2).
    Get,
    /// A put (v1 or v2).
    Put,
    /// A v2 delete.
    Delete,
    /// A v1 dump (all its datagrams) or a v2 page.
    Dump,
    /// A STATS request.
    Stats,
    /// Any other datagram answered: HELLO, HINT, anti-entropy, and
    /// refusals of datagrams that were not counted as one of the above
    /// (malformed, unauthenticated, forbidden).
    Other,
}

/// Operations timed.
pub const TIMED: usize = 6;

impl Timed {
    /// Every operation, in the order the endpoint lists them.
    pub const ALL: [Timed; TIMED] = [
        Timed::Get,
        Timed::Put,
        Timed::Delete,
        Timed::Dump,
        Timed::Stats,
        Timed::Other,
    ];

    /// The `op` label.
    pub fn label(self) -> &'static str {
        match self {
            Timed::Get => "get",
            Timed::Put => "put",
            Timed::Delete => "delete",
            Timed::Dump => "dump",
            Timed::Stats => "stats",
            Timed::Other => "other",
        }
    }

    /// The operation a request counted as `op` is timed under (`None`
    /// for hits and misses, which are results, not requests).
    pub fn of(op: Op) -> Option<Timed> {
        match op {
            Op::Get => Some(Timed::Get),
            Op::Put => Some(Timed::Put),
            Op::Delete => Some(Timed::Delete),
            Op::Dump => Some(Timed::Dump),
            Op::Stats => Some(Timed::Stats),
            Op::Hit | Op::Miss => None,
        }
    }
}

/// One operation's histogram in one slot: observations per bucket (not
/// cumulative) and their sum in nanoseconds.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

/// One thread's histograms, alone on its cache lines (as the request
/// counters' slots are).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot([Histogram; TIMED]);

/// The latency histograms of one server: a slot per thread (threads
/// beyond the slot count share, still correctly), summed when read.
///
/// Cost on the request path: a receive loop reads the clock twice per
/// batch of datagrams (when the batch is received and once its replies
/// are sent) and, per reply, adds to one bucket and one sum of its own
/// slot. The durable engine's committer does the same for the writes it
/// answers. Nothing is shared between cores, nothing locked or allocated.
#[derive(Debug)]
pub struct Latency {
    slots: Box<[Slot]>,
    on: AtomicBool,
}

/// Requests answered in one batch, by operation: a receive loop counts
/// them as it handles the batch, then adds them all with the batch's
/// latency ([`Latency::observe_batch`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOps([u64; TIMED]);

impl BatchOps {
    /// Counts one request of `op`.
    #[inline]
    pub fn add(&mut self, op: Timed) {
        if let Some(n) = self.0.get_mut(op as usize) {
            *n += 1;
        }
    }
}

/// The sums of one operation's histogram over every slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations per bucket (not cumulative), `+Inf` last.
    pub buckets: [u64; BUCKETS],
    /// Sum of the observations, in nanoseconds.
    pub sum_ns: u64,
}

impl HistogramSnapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0u64, |a, b| a.wrapping_add(*b))
    }

    /// The cumulative counts (`_bucket{le=…}`): observations at or under
    /// each bound.
    pub fn cumulative(&self) -> [u64; BUCKETS] {
        let mut out = [0u64; BUCKETS];
        let mut total = 0u64;
        for (o, b) in out.iter_mut().zip(self.buckets) {
            total = total.wrapping_add(b);
            *o = total;
        }
        out
    }
}

/// Every operation's histogram at one moment, in [`Timed::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySnapshot(pub [HistogramSnapshot; TIMED]);

impl LatencySnapshot {
    /// The histogram of `op`.
    pub fn of(&self, op: Timed) -> HistogramSnapshot {
        self.0.get(op as usize).copied().unwrap_or_default()
    }
}

impl Default for Latency {
    fn default() -> Latency {
        Latency::new()
    }
}

/// The bucket of a latency of `ns` nanoseconds: the first whose bound is
/// at least `ns` (`le` is "less or equal"), else `+Inf`.
fn bucket(ns: u64) -> usize {
    BUCKETS_NS.partition_point(|&bound| bound < ns)
}

impl Latency {
    /// Histograms with a slot for each of twice as many threads as cores,
    /// timing on.
    pub fn new() -> Latency {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let slots = (2 * cores).clamp(4, 256);
        Latency {
            slots: (0..slots).map(|_| Slot::default()).collect(),
            on: AtomicBool::new(true),
        }
    }

    /// Whether requests are timed (on unless [`Latency::set_on`] turned
    /// it off: the clock is then not read at all).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Turns timing on or off (for measuring what it costs).
    pub fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// This thread's histogram of `op`.
    #[inline]
    fn histogram(&self, op: Timed) -> Option<&Histogram> {
        let len = self.slots.len().max(1);
        self.slots
            .get(thread_index() % len)
            .and_then(|slot| slot.0.get(op as usize))
    }

    /// Counts `n` requests of `op` that each took `elapsed`.
    #[inline]
    fn add(&self, op: Timed, n: u64, elapsed_ns: u64) {
        if n == 0 {
            return;
        }
        if let Some(h) = self.histogram(op) {
            if let Some(b) = h.buckets.get(bucket(elapsed_ns)) {
                b.fetch_add(n, Ordering::Relaxed);
            }
            h.sum_ns
                .fetch_add(elapsed_ns.wrapping_mul(n), Ordering::Relaxed);
        }
    }

    /// Counts one request of `op` that took `elapsed`.
    #[inline]
    pub fn observe(&self, op: Timed, elapsed: Duration) {
        self.add(op, 1, nanos(elapsed));
    }

    /// Counts the requests of one batch, each of which took `elapsed`
    /// (they were received together and their replies sent together).
    #[inline]
    pub fn observe_batch(&self, batch: &BatchOps, elapsed: Duration) {
        let ns = nanos(elapsed);
        for (op, n) in Timed::ALL.iter().zip(batch.0) {
            self.add(*op, n, ns);
        }
    }

    /// The sums over every slot.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut out = LatencySnapshot::default();
        for slot in self.slots.iter() {
            for (sum, h) in out.0.iter_mut().zip(&slot.0) {
                for (s, b) in sum.buckets.iter_mut().zip(&h.buckets) {
                    *s = s.wrapping_add(b.load(Ordering::Relaxed));
                }
                sum.sum_ns = sum.sum_ns.wrapping_add(h.sum_ns.load(Ordering::Relaxed));
            }
        }
        out
    }
}

/// `d` in nanoseconds (saturated: 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn buckets_and_labels_agree() {
        for (ns, label) in BUCKETS_NS.iter().zip(BUCKET_LABELS) {
            let seconds: f64 = label.parse().unwrap();
            assert!((seconds * 1e9 - *ns as f64).abs() < 0.5, "{label}");
        }
        assert_eq!(BUCKET_LABELS[BUCKETS - 1], "+Inf");
        assert!(BUCKETS_NS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(10_000), 0, "le: a bound is in its own bucket");
        assert_eq!(bucket(10_001), 1);
        assert_eq!(bucket(1_000_000_000), 15);
        assert_eq!(bucket(1_000_000_001), 16);
        assert_eq!(bucket(u64::MAX), 16);
    }

    #[test]
    fn observations_sum_over_threads() {
        let l = Arc::new(Latency::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        l.observe(Timed::Get, Duration::from_micros(20));
                    }
                    let mut batch = BatchOps::default();
                    batch.add(Timed::Put);
                    batch.add(Timed::Put);
                    batch.add(Timed::Other);
                    l.observe_batch(&batch, Duration::from_secs(2));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = l.snapshot();
        let get = s.of(Timed::Get);
        assert_eq!(get.count(), 800);
        assert_eq!(get.buckets[1], 800, "20 µs is in the 25 µs bucket");
        assert_eq!(get.sum_ns, 800 * 20_000);
        assert_eq!(get.cumulative()[0], 0);
        assert_eq!(get.cumulative()[BUCKETS - 1], 800);
        let put = s.of(Timed::Put);
        assert_eq!((put.count(), put.buckets[BUCKETS - 1]), (16, 16));
        assert_eq!(put.sum_ns, 16 * 2_000_000_000);
        assert_eq!(s.of(Timed::Other).count(), 8);
        assert_eq!(s.of(Timed::Dump), HistogramSnapshot::default());
        assert_eq!(std::mem::align_of::<Slot>(), 128);
    }

    #[test]
    fn ops_and_labels() {
        let labels: Vec<_> = Timed::ALL.iter().map(|t| t.label()).collect();
        assert_eq!(labels, ["get", "put", "delete", "dump", "stats", "other"]);
        for (i, t) in Timed::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
        assert_eq!(Timed::of(Op::Hit), None);
        assert_eq!(Timed::of(Op::Delete), Some(Timed::Delete));
        let l = Latency::new();
        assert!(l.is_on());
        l.set_on(false);
        assert!(!l.is_on());
    }
}
