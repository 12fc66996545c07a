//! Watching a cluster heal after `heal` (issue 19): the hints collected
//! during a partition are delivered and anti-entropy repairs what the
//! split made differ. Once a second this asks every server for its pending
//! hints (STATS) and its contents (paged DUMP), and shows per server how
//! far it is from in sync, as a badge in the server list and a line in the
//! event log, until every replica of every key holds the same value and no
//! hint is pending.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::ClusterConfig;
use crate::dump_ring::{DumpOptions, dump_all_with};
use crate::ring::Ring;
use crate::stats::{FetchOptions, fetch_all};
use crate::supervisor::{ServerState, Supervisor};

/// Time between two readings.
pub const POLL: Duration = Duration::from_secs(1);
/// How long the last badges stay once the watch has ended (later they
/// would describe a cluster that may have changed since).
pub const BADGE_LINGER: Duration = Duration::from_secs(15);
/// The watch gives up after this long (anti-entropy runs every 10 s by
/// default; a server left down never converges).
pub const WATCH_LIMIT: Duration = Duration::from_secs(120);

/// Where one server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// It answered neither STATS nor DUMP.
    NoAnswer,
    /// Not running (down, stopped, paused): left out of the comparison.
    NotUp,
    /// It answered one of STATS and DUMP only: cannot tell.
    Unknown {
        /// DUMP refused or unanswered (else STATS).
        no_dump: bool,
    },
    /// Hints still to deliver and keys whose copy differs from another
    /// replica's.
    Behind {
        /// Pending hints (STATS `hints_pending`; 0 when not told).
        hints: u64,
        /// Keys it is a replica of whose value differs from another
        /// replica's, or that it lacks.
        differ: usize,
    },
    /// Nothing pending, every copy equal to the other replicas'.
    InSync,
}

impl Sync {
    /// The badge shown beside the server.
    pub fn word(self) -> String {
        match self {
            Sync::NoAnswer => "no answer".into(),
            Sync::NotUp => "not running".into(),
            Sync::Unknown { no_dump: true } => "cannot compare (no dump)".into(),
            Sync::Unknown { no_dump: false } => "cannot tell its hints (no STATS)".into(),
            Sync::InSync => "in sync".into(),
            Sync::Behind { hints, differ } => {
                let keys = match differ {
                    1 => "1 key differs".to_string(),
                    d => format!("{d} keys differ"),
                };
                let plural = if hints == 1 { "" } else { "s" };
                match (hints, differ) {
                    (0, _) => keys,
                    (h, 0) => format!("{h} hint{plural} to deliver"),
                    (h, _) => format!("{h} hint{plural}, {keys}"),
                }
            }
        }
    }
}

/// Every server's contents (key → value), `None` when it did not answer.
pub type Contents = Vec<Option<BTreeMap<Vec<u8>, Vec<u8>>>>;

/// Per server, the keys it is one of the `n` replicas of whose value is
/// not the same on every answering replica (a replica lacking the key
/// counts as differing).
pub fn differing(ring: &Ring, n: usize, contents: &Contents) -> Vec<usize> {
    let mut counts = vec![0usize; contents.len()];
    let keys: BTreeSet<&Vec<u8>> = contents.iter().flatten().flat_map(|c| c.keys()).collect();
    for key in keys {
        let replicas: Vec<usize> = ring.replicas(key, n).iter().map(|r| r.server).collect();
        let copies: Vec<(usize, Option<&Vec<u8>>)> = replicas
            .iter()
            .filter_map(|&s| Some((s, contents.get(s)?.as_ref()?.get(key))))
            .collect();
        let first = copies.first().map(|c| c.1);
        if copies.iter().all(|c| Some(c.1) == first) {
            continue;
        }
        for (server, _) in copies {
            if let Some(c) = counts.get_mut(server) {
                *c += 1;
            }
        }
    }
    counts
}

/// Each server's standing from its hints and differing keys; `up[i]`
/// false for a server that does not run (left out).
pub fn standings(
    hints: &[Option<u64>],
    contents: &Contents,
    differ: &[usize],
    up: &[bool],
) -> Vec<Sync> {
    (0..contents.len())
        .map(|i| {
            let hints_told = hints.get(i).copied().flatten();
            let dumped = contents.get(i).is_some_and(Option::is_some);
            match (hints_told, dumped) {
                (None, false) if !up.get(i).copied().unwrap_or(true) => return Sync::NotUp,
                (None, false) => return Sync::NoAnswer,
                (Some(_), false) => return Sync::Unknown { no_dump: true },
                (None, true) => return Sync::Unknown { no_dump: false },
                (Some(_), true) => {}
            }
            let hints = hints_told.unwrap_or(0);
            let differ = differ.get(i).copied().unwrap_or(0);
            if hints == 0 && differ == 0 {
                Sync::InSync
            } else {
                Sync::Behind { hints, differ }
            }
        })
        .collect()
}

/// Whether the watch is done: every running server in sync, at least one.
pub fn converged(standings: &[Sync]) -> bool {
    standings
        .iter()
        .all(|s| matches!(s, Sync::InSync | Sync::NotUp))
        && standings.contains(&Sync::InSync)
}

/// The event log's progress line: `healing: 1: in sync, 2: 3 hints to
/// deliver, …`.
pub fn progress_line(standings: &[Sync]) -> String {
    let parts: Vec<String> = standings
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}: {}", i + 1, s.word()))
        .collect();
    format!("healing: {}", parts.join(", "))
}

/// What the watch reads the servers with.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// STATS requests.
    pub stats: FetchOptions,
    /// DUMP requests.
    pub dump: DumpOptions,
    /// Replicas per key.
    pub n: usize,
}

/// Watches until every server is in sync or [`WATCH_LIMIT`]; runs as a
/// background task, ended early by the next `partition` or `heal`.
pub async fn watch(supervisor: Supervisor, options: WatchOptions) {
    let started = tokio::time::Instant::now();
    let mut last_line = String::new();
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let config: std::sync::Arc<ClusterConfig> = supervisor.config();
        let ring = Ring::new(&config);
        let (reports, dumps) = tokio::join!(
            fetch_all(&config, &options.stats),
            dump_all_with(&config, options.dump.clone())
        );
        let hints: Vec<Option<u64>> = reports
            .iter()
            .map(|r| r.answer.stats().and_then(|s| s.number("hints_pending")))
            .collect();
        let contents: Contents = dumps
            .into_iter()
            .map(|d| {
                let d = d.ok().filter(|d| d.answered() && d.refused.is_none())?;
                Some(d.parsed.pairs.into_iter().collect())
            })
            .collect();
        let n = options.n.min(config.servers.len()).max(1);
        let differ = differing(&ring, n, &contents);
        let statuses = supervisor.statuses();
        let up: Vec<bool> = (0..config.servers.len())
            .map(|i| {
                statuses
                    .get(i)
                    .is_none_or(|s| !matches!(s.state, ServerState::Down | ServerState::Paused))
            })
            .collect();
        let standings = standings(&hints, &contents, &differ, &up);
        let badges: Vec<Option<String>> = standings.iter().map(|s| Some(s.word())).collect();
        supervisor.set_badges(&badges);
        let line = progress_line(&standings);
        if line != last_line {
            supervisor.note(None, line.clone());
            last_line = line;
        }
        let elapsed = started.elapsed();
        if converged(&standings) {
            let left_out: Vec<String> = (0..standings.len())
                .filter(|&i| standings.get(i) == Some(&Sync::NotUp))
                .map(|i| (i + 1).to_string())
                .collect();
            let note = if left_out.is_empty() {
                String::new()
            } else {
                format!("; not running, left out: {}", left_out.join(", "))
            };
            supervisor.note(
                None,
                format!(
                    "in sync: every replica of every key holds the same value and no hint is pending ({:.1} s after heal{note})",
                    elapsed.as_secs_f64()
                ),
            );
            break;
        }
        if elapsed >= WATCH_LIMIT {
            supervisor.note(
                None,
                format!(
                    "not in sync {} s after heal: {}",
                    WATCH_LIMIT.as_secs(),
                    last_line.trim_start_matches("healing: ")
                ),
            );
            break;
        }
    }
    tokio::time::sleep(BADGE_LINGER).await;
    supervisor.set_badges(&[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Ring {
        let config = crate::config::parse_servers_txt(
            "127.0.0.1 1 1\n127.0.0.1 2 1\n127.0.0.1 3 1\n",
            "s.txt",
        )
        .unwrap();
        Ring::new(&config)
    }

    #[test]
    fn copies_that_differ_are_counted_on_every_replica_of_the_key() {
        let ring = ring();
        let kv = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        // n = 3 of 3 servers: every server is a replica of every key.
        let same: Contents = vec![kv(&[("a", "1")]), kv(&[("a", "1")]), kv(&[("a", "1")])];
        assert_eq!(differing(&ring, 3, &same), [0, 0, 0]);
        let lacking: Contents = vec![kv(&[("a", "1")]), kv(&[]), kv(&[("a", "2")])];
        assert_eq!(differing(&ring, 3, &lacking), [1, 1, 1]);
        // A server that did not answer is left out of the comparison.
        let silent: Contents = vec![kv(&[("a", "1")]), None, kv(&[("a", "1")])];
        assert_eq!(differing(&ring, 3, &silent), [0, 0, 0]);
        let s = standings(&[Some(2), None, Some(0)], &silent, &[0, 0, 0], &[true; 3]);
        assert_eq!(
            s,
            [
                Sync::Behind {
                    hints: 2,
                    differ: 0
                },
                Sync::NoAnswer,
                Sync::InSync
            ]
        );
        assert!(!converged(&s));
        // A server that does not run is left out; one that answers only
        // STATS cannot be compared.
        let down = standings(
            &[Some(0), None, Some(0)],
            &silent,
            &[0, 0, 0],
            &[true, false, true],
        );
        assert_eq!(down, [Sync::InSync, Sync::NotUp, Sync::InSync]);
        assert!(converged(&down));
        let half = standings(&[Some(0), Some(0), None], &silent, &[0, 0, 0], &[true; 3]);
        assert_eq!(half[1], Sync::Unknown { no_dump: true });
        assert_eq!(half[2], Sync::Unknown { no_dump: false });
        assert_eq!(half[1].word(), "cannot compare (no dump)");
        assert!(!converged(&half));
        assert!(!converged(&[Sync::NotUp]));
        assert_eq!(
            progress_line(&s),
            "healing: 1: 2 hints to deliver, 2: no answer, 3: in sync"
        );
        assert_eq!(
            Sync::Behind {
                hints: 1,
                differ: 4
            }
            .word(),
            "1 hint, 4 keys differ"
        );
        assert_eq!(
            Sync::Behind {
                hints: 0,
                differ: 1
            }
            .word(),
            "1 key differs"
        );
    }
}
