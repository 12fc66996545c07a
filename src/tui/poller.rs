//! The background task that feeds the ops/s sparklines: once a second it
//! reads every server's operation counters from a [`StatsSource`] and hands
//! them to the screen (which keeps them in `super::rates::ServerRates`).
//!
//! The source is a trait so the screen does not depend on how the counters
//! are fetched and tests can feed made-up readings; [`RingStats`] asks every
//! server with the v2 STATS request (`crate::stats::fetch_all`) and takes
//! the supervisor's probe counts with them (`super::rates::Reading`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ClusterConfig;
use crate::stats::{FetchOptions, fetch_all};
use crate::supervisor::Supervisor;

use super::rates::Reading;

/// Time between two polls.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long one poll may take before its answers are given up.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a STATS request waits for each server (a paused server costs
/// this much per poll; the others answer within a millisecond).
pub const STATS_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a poll waits for the end of a probe round before reading.
const PROBE_ROUND_WAIT: Duration = Duration::from_millis(400);

/// Where the poller gets every server's counters.
pub trait StatsSource: Send + Sync + 'static {
    /// When the counters were read, and each server's reading, in
    /// configuration order (`None` for a server that did not answer or
    /// cannot tell).
    fn readings(&self) -> impl Future<Output = (Instant, Vec<Option<Reading>>)> + Send;
}

/// Every server of a ring, asked with the v2 STATS request; the probe
/// counts come from the supervisor that probes them.
#[derive(Debug, Clone)]
pub struct RingStats {
    /// The servers.
    pub config: ClusterConfig,
    /// Deadline, resends and key of the requests.
    pub options: FetchOptions,
    /// The supervisor probing the servers, if any.
    pub supervisor: Option<Supervisor>,
    /// Every server's key count (STATS `keys`) at the last poll, in
    /// configuration order: the list's keys column, where keys are seen
    /// moving after `add` and `remove`.
    pub keys: Arc<std::sync::Mutex<Vec<Option<u64>>>>,
    /// Every server's writes held for others (STATS `hints_pending`) at
    /// the last poll: the list's hints column, where hints are seen
    /// collecting during a partition and draining after `heal`.
    pub hints: Arc<std::sync::Mutex<Vec<Option<u64>>>>,
}

impl RingStats {
    /// Asks the servers of `config` (with its key, [`STATS_TIMEOUT`]).
    pub fn new(config: &ClusterConfig, supervisor: Option<Supervisor>) -> RingStats {
        RingStats {
            config: config.clone(),
            options: FetchOptions::new(config, STATS_TIMEOUT),
            supervisor,
            keys: Arc::default(),
            hints: Arc::default(),
        }
    }
}

impl RingStats {
    /// One try: the supervisor's probe counts (right after a probe
    /// round), the time, every server's STATS reading, and whether a probe
    /// was sent meanwhile (an action asks for a round at any moment).
    async fn read_once(&self) -> (Instant, Vec<Option<Reading>>, bool) {
        let probes = match &self.supervisor {
            Some(supervisor) => {
                supervisor.next_probe_round(PROBE_ROUND_WAIT).await;
                supervisor.probes_sent()
            }
            None => Vec::new(),
        };
        // Live servers answer within a millisecond of this. The
        // supervisor's configuration is the current one (`add`, `remove`).
        let at = Instant::now();
        let config = match &self.supervisor {
            Some(supervisor) => supervisor.config(),
            None => Arc::new(self.config.clone()),
        };
        let reports = fetch_all(&config, &self.options).await;
        let keys = reports
            .iter()
            .map(|r| r.answer.stats().and_then(|s| s.keys))
            .collect();
        *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = keys;
        let hints = reports
            .iter()
            .map(|r| r.answer.stats().and_then(|s| s.number("hints_pending")))
            .collect();
        *self.hints.lock().unwrap_or_else(|e| e.into_inner()) = hints;
        let raced = self
            .supervisor
            .as_ref()
            .is_some_and(|s| s.probes_sent() != probes);
        let readings = reports
            .iter()
            .enumerate()
            .map(|(i, report)| {
                let operations = report.answer.stats()?.operations()?;
                Some(Reading {
                    operations,
                    probes: probes.get(i).copied().unwrap_or(0),
                })
            })
            .collect();
        (at, readings, raced)
    }
}

impl RingStats {
    /// Every server's key count at the last poll (`None`: not told).
    pub fn key_counts(&self) -> Vec<Option<u64>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every server's pending hints at the last poll (`None`: not told).
    pub fn hint_counts(&self) -> Vec<Option<u64>> {
        self.hints.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl StatsSource for RingStats {
    /// Reads right after a probe round, so that no probe is in flight
    /// while the counters are read and each probe sent is counted by its
    /// server; once more if a probe was sent meanwhile anyway.
    async fn readings(&self) -> (Instant, Vec<Option<Reading>>) {
        let (at, readings, raced) = self.read_once().await;
        if !raced {
            return (at, readings);
        }
        let (at, readings, _) = self.read_once().await;
        (at, readings)
    }
}

/// Polls `source` every [`POLL_INTERVAL`] on the current tokio runtime and
/// calls `deliver` with the time and the readings; stops when `deliver`
/// returns false (the screen is gone) or the task is aborted. A poll that
/// takes longer than [`POLL_TIMEOUT`] counts as no answer from anyone.
pub fn spawn_poller<S, F>(source: Arc<S>, deliver: F) -> tokio::task::JoinHandle<()>
where
    S: StatsSource,
    F: Fn(Instant, Vec<Option<Reading>>) -> bool + Send + 'static,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(POLL_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let (at, readings) = tokio::time::timeout(POLL_TIMEOUT, source.readings())
                .await
                .unwrap_or_else(|_| (Instant::now(), Vec::new()));
            if !deliver(at, readings) {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_poller_delivers_until_told_to_stop() {
        struct Counting(std::sync::atomic::AtomicU64);
        impl StatsSource for Counting {
            async fn readings(&self) -> (Instant, Vec<Option<Reading>>) {
                let n = self.0.fetch_add(10, std::sync::atomic::Ordering::SeqCst);
                (
                    Instant::now(),
                    vec![
                        Some(Reading {
                            operations: n,
                            probes: 0,
                        }),
                        None,
                    ],
                )
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let source = Arc::new(Counting(Default::default()));
        let task = spawn_poller(source, move |at, readings| {
            let _ = tx.send((at, readings));
            false
        });
        let (_, first) = rx.recv().await.unwrap();
        assert_eq!(
            first,
            vec![
                Some(Reading {
                    operations: 0,
                    probes: 0
                }),
                None
            ]
        );
        // `deliver` said stop: the task ends.
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
