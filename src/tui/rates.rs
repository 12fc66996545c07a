//! Operations per second of every server, for the sparklines of the
//! server list.
//!
//! It exists so the screen can show load, not only liveness: once a second
//! the poller (`super::poller`) reads each server's running total of
//! operations served (gets + puts + deletes) and hands the readings to the
//! screen's state, whose [`ServerRates`] turns two consecutive readings
//! into one rate sample. This module is the state and its arithmetic only
//! (no clock, no network).
//!
//! The supervisor's liveness probe is itself a get (about three a second
//! per server), so a reading also carries how many probes had been sent to
//! the server, and a rate counts the operations beyond them: an idle
//! cluster shows 0, not 3.
//!
//! A server that does not answer, or cannot say (down, paused, a v1-only
//! server), has no sample: the list shows `—` for it, and its sparkline a
//! gap. A total lower than the previous one means the server restarted (its
//! counters start again at 0): that second has no sample either.

use std::collections::VecDeque;
use std::time::Instant;

/// Samples kept per server (one a second: the last minute).
pub const HISTORY: usize = 60;
/// One server's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Operations served since the server started (gets + puts + deletes).
    pub operations: u64,
    /// Liveness probes (gets) sent to it so far by this screen's
    /// supervisor, counted in `operations` too once they arrive.
    pub probes: u64,
}

/// One server's rate history.
#[derive(Debug, Clone, Default)]
pub struct RateHistory {
    /// The last reading and when it was taken.
    last: Option<(Instant, Reading)>,
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

    fn record(&mut self, at: Instant, total: Option<Reading>) {
        let sample = match (self.last, total) {
            (Some((then, before)), Some(now)) if now.operations >= before.operations => {
                let secs = at.saturating_duration_since(then).as_secs_f64();
                let ops = (now.operations - before.operations)
                    .saturating_sub(now.probes.saturating_sub(before.probes));
                (secs > 0.0).then(|| (ops as f64 / secs).round() as u64)
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

    /// Takes one poll's readings (taken at `at`), one per server; extra or
    /// missing entries are ignored or count as `None`.
    pub fn record(&mut self, at: Instant, totals: &[Option<Reading>]) {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn r(operations: u64) -> Option<Reading> {
        Some(Reading {
            operations,
            probes: 0,
        })
    }

    #[test]
    fn rates_are_deltas_per_second_with_gaps() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut rates = ServerRates::new(3);
        rates.record(t0, &[r(100), None, r(5)]);
        // First readings: no rate yet, and no gap shown for the live ones.
        assert!(rates.history(0).unwrap().samples().is_empty());
        assert_eq!(rates.history(1).unwrap().samples().len(), 1);
        rates.record(t0 + s, &[r(150), r(10), r(5)]);
        rates.record(t0 + 3 * s, &[r(350), r(30)]);
        let h0: Vec<_> = rates
            .history(0)
            .unwrap()
            .samples()
            .iter()
            .copied()
            .collect();
        assert_eq!(h0, vec![Some(50), Some(100)]);
        let h1: Vec<_> = rates
            .history(1)
            .unwrap()
            .samples()
            .iter()
            .copied()
            .collect();
        assert_eq!(h1, vec![None, None, Some(10)]);
        // A missing entry counts as no answer.
        assert_eq!(rates.history(2).unwrap().current(), None);
        assert_eq!(rates.max_recent(HISTORY), 100);
        assert_eq!(rates.max_recent(1), 100);
        // A restart (total went down) is a gap, then rates resume.
        rates.record(t0 + 4 * s, &[r(7), r(40), r(9)]);
        rates.record(t0 + 5 * s, &[r(17), r(40), r(9)]);
        let h0: Vec<_> = rates
            .history(0)
            .unwrap()
            .samples()
            .iter()
            .copied()
            .collect();
        assert_eq!(h0, vec![Some(50), Some(100), None, Some(10)]);
        assert_eq!(rates.history(1).unwrap().current(), Some(0));
        assert!(rates.history(7).is_none());
    }

    #[test]
    fn probes_are_not_operations() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut rates = ServerRates::new(1);
        let reading = |operations, probes| Some(Reading { operations, probes });
        rates.record(t0, &[reading(1000, 900)]);
        // Three probes and nothing else: 0 ops/s.
        rates.record(t0 + s, &[reading(1003, 903)]);
        assert_eq!(rates.history(0).unwrap().current(), Some(0));
        // Three probes and 20 puts.
        rates.record(t0 + 2 * s, &[reading(1026, 906)]);
        assert_eq!(rates.history(0).unwrap().current(), Some(20));
        // A probe counted by us but not yet by the server: never negative.
        rates.record(t0 + 3 * s, &[reading(1026, 907)]);
        assert_eq!(rates.history(0).unwrap().current(), Some(0));
    }

    #[test]
    fn history_is_bounded_and_scale_is_at_least_one() {
        let t0 = Instant::now();
        let mut rates = ServerRates::new(1);
        assert_eq!(rates.max_recent(10), 1);
        for i in 0..(HISTORY as u64 + 20) {
            rates.record(t0 + Duration::from_secs(i), &[r(i * i)]);
        }
        assert_eq!(rates.history(0).unwrap().samples().len(), HISTORY);
        // The same instant twice gives no rate (no division by zero).
        let last = t0 + Duration::from_secs(HISTORY as u64 + 19);
        rates.record(last, &[r(u64::MAX)]);
        assert_eq!(rates.history(0).unwrap().current(), None);
    }

    #[test]
    fn rates_in_a_few_characters() {
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
}
