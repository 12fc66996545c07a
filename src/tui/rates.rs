//! Operations per second of every server, for the sparklines of the
//! server list.
//!
//! It exists so the screen can show load, not only liveness: a background
//! poller ([`spawn_poller`]) asks a [`StatsSource`] once a second for each
//! server's running total of operations served (gets + puts + deletes) and
//! hands the totals to the screen, whose [`ServerRates`] turns two
//! consecutive totals into one rate sample. The source is a trait so the
//! screen does not depend on how the counters are fetched (the v2 STATS
//! request of the servers) and tests can feed made-up totals.
//!
//! A server that does not answer, or cannot say (down, paused, a v1-only
//! server), has no sample: the list shows `—` for it, and its sparkline a
//! gap. A total lower than the previous one means the server restarted (its
//! counters start again at 0): that second has no sample either.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ClusterConfig;

/// Samples kept per server (one a second: the last minute).
pub const HISTORY: usize = 60;
/// Time between two polls.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long one poll may take before its answers are given up.
pub const POLL_TIMEOUT: Duration = Duration::from_millis(800);

/// Where the poller gets every server's operation totals.
pub trait StatsSource: Send + Sync + 'static {
    /// Each server's total of operations served since it started (gets +
    /// puts + deletes), in configuration order; `None` for a server that
    /// did not answer or cannot tell.
    fn totals(&self) -> impl Future<Output = Vec<Option<u64>>> + Send;
}

/// A source that knows nothing: every server shows `—`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStats {
    /// How many servers there are.
    pub servers: usize,
}

impl StatsSource for NoStats {
    async fn totals(&self) -> Vec<Option<u64>> {
        vec![None; self.servers]
    }
}

/// One server's rate history.
#[derive(Debug, Clone, Default)]
pub struct RateHistory {
    /// The last total and when it was taken.
    last: Option<(Instant, u64)>,
    /// Operations per second, oldest first; `None` = no sample.
    samples: VecDeque<Option<u64>>,
}

impl RateHistory {
    /// The samples, oldest first (at most [`HISTORY`]).
    pub fn samples(&self) -> &VecDeque<Option<u64>> {
        &self.samples
    }

    /// The newest sample.
    pub fn current(&self) -> Option<u64> {
        self.samples.back().copied().flatten()
    }

    fn record(&mut self, at: Instant, total: Option<u64>) {
        let sample = match (self.last, total) {
            (Some((then, before)), Some(now)) if now >= before => {
                let secs = at.saturating_duration_since(then).as_secs_f64();
                (secs > 0.0).then(|| ((now - before) as f64 / secs).round() as u64)
            }
            _ => None,
        };
        self.last = total.map(|t| (at, t));
        // The first total of a server gives no rate yet: nothing to show.
        if sample.is_none() && self.samples.is_empty() && total.is_some() {
            return;
        }
        if self.samples.len() >= HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }
}

/// Every server's rate history, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct ServerRates {
    servers: Vec<RateHistory>,
}

impl ServerRates {
    /// Empty histories for `servers` servers.
    pub fn new(servers: usize) -> ServerRates {
        ServerRates {
            servers: vec![RateHistory::default(); servers],
        }
    }

    /// Takes one poll's totals (taken at `at`), one per server; extra or
    /// missing entries are ignored or count as `None`.
    pub fn record(&mut self, at: Instant, totals: &[Option<u64>]) {
        for (i, h) in self.servers.iter_mut().enumerate() {
            h.record(at, totals.get(i).copied().flatten());
        }
    }

    /// Server `index`'s history (`None` for an unknown index).
    pub fn history(&self, index: usize) -> Option<&RateHistory> {
        self.servers.get(index)
    }

    /// The highest sample of the last `last` seconds over all servers (the
    /// common scale of the sparklines), at least 1.
    pub fn max_recent(&self, last: usize) -> u64 {
        self.servers
            .iter()
            .flat_map(|h| h.samples.iter().rev().take(last).flatten())
            .copied()
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

/// A rate in a few characters: `0`, `950`, `1.2k`, `123k`, `4.5M`.
pub fn format_rate(rate: u64) -> String {
    match rate {
        0..1_000 => rate.to_string(),
        1_000..10_000 => format!("{:.1}k", rate as f64 / 1e3),
        10_000..1_000_000 => format!("{}k", rate / 1_000),
        1_000_000..10_000_000 => format!("{:.1}M", rate as f64 / 1e6),
        _ => format!("{}M", rate / 1_000_000),
    }
}

/// Polls `source` every [`POLL_INTERVAL`] on the current tokio runtime and
/// calls `deliver` with the time and the totals; stops when `deliver`
/// returns false (the screen is gone) or the task is aborted. A poll that
/// takes longer than [`POLL_TIMEOUT`] counts as no answer from anyone.
pub fn spawn_poller<S, F>(source: Arc<S>, deliver: F) -> tokio::task::JoinHandle<()>
where
    S: StatsSource,
    F: Fn(Instant, Vec<Option<u64>>) -> bool + Send + 'static,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(POLL_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let totals = tokio::time::timeout(POLL_TIMEOUT, source.totals())
                .await
                .unwrap_or_default();
            if !deliver(Instant::now(), totals) {
                return;
            }
        }
    })
}

/// The source the screen uses for `config` (see the module comment).
pub fn source_for(config: &ClusterConfig) -> NoStats {
    NoStats {
        servers: config.servers.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_deltas_per_second_with_gaps() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut r = ServerRates::new(3);
        r.record(t0, &[Some(100), None, Some(5)]);
        // First totals: no rate yet, and no gap shown for the live ones.
        assert!(r.history(0).unwrap().samples().is_empty());
        assert_eq!(r.history(1).unwrap().samples().len(), 1);
        r.record(t0 + s, &[Some(150), Some(10), Some(5)]);
        r.record(t0 + 3 * s, &[Some(350), Some(30)]);
        let h0: Vec<_> = r.history(0).unwrap().samples().iter().copied().collect();
        assert_eq!(h0, vec![Some(50), Some(100)]);
        let h1: Vec<_> = r.history(1).unwrap().samples().iter().copied().collect();
        assert_eq!(h1, vec![None, None, Some(10)]);
        // A missing entry counts as no answer.
        assert_eq!(r.history(2).unwrap().current(), None);
        assert_eq!(r.max_recent(HISTORY), 100);
        assert_eq!(r.max_recent(1), 100);
        // A restart (total went down) is a gap, then rates resume.
        r.record(t0 + 4 * s, &[Some(7), Some(40), Some(9)]);
        r.record(t0 + 5 * s, &[Some(17), Some(40), Some(9)]);
        let h0: Vec<_> = r.history(0).unwrap().samples().iter().copied().collect();
        assert_eq!(h0, vec![Some(50), Some(100), None, Some(10)]);
        assert_eq!(r.history(1).unwrap().current(), Some(0));
        assert!(r.history(7).is_none());
    }

    #[test]
    fn history_is_bounded_and_scale_is_at_least_one() {
        let t0 = Instant::now();
        let mut r = ServerRates::new(1);
        assert_eq!(r.max_recent(10), 1);
        for i in 0..(HISTORY as u64 + 20) {
            r.record(t0 + Duration::from_secs(i), &[Some(i * i)]);
        }
        assert_eq!(r.history(0).unwrap().samples().len(), HISTORY);
        // The same instant twice gives no rate (no division by zero).
        let last = t0 + Duration::from_secs(HISTORY as u64 + 19);
        r.record(last, &[Some(u64::MAX)]);
        assert_eq!(r.history(0).unwrap().current(), None);
    }

    #[test]
    fn rates_in_five_characters() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1.0k"),
            (12_345, "12k"),
            (999_999, "999k"),
            (4_500_000, "4.5M"),
            (u64::MAX, "18446744073709M"),
        ] {
            assert_eq!(format_rate(n), s);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_poller_delivers_until_told_to_stop() {
        struct Counting(std::sync::atomic::AtomicU64);
        impl StatsSource for Counting {
            async fn totals(&self) -> Vec<Option<u64>> {
                let n = self.0.fetch_add(10, std::sync::atomic::Ordering::SeqCst);
                vec![Some(n), None]
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let source = Arc::new(Counting(Default::default()));
        let task = spawn_poller(source, move |at, totals| {
            tx.send((at, totals)).is_ok() && false
        });
        let (_, first) = rx.recv().await.unwrap();
        assert_eq!(first, vec![Some(0), None]);
        // `deliver` said stop: the task ends.
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
