//! Watching keys move after `add` and `remove` (issue 8 item 4): the live
//! counterpart of `whatif`.
//!
//! After a membership change the servers move keys by themselves (the new
//! ring reloaded on SIGHUP; anti-entropy and the former owners' handoff).
//! This watcher makes that visible: once a second it asks every server of
//! the new configuration, and the leaving one, for its key count and the
//! keys it still has to hand over (STATS `keys`, `handoff_foreign_keys`;
//! `stats::fetch_many`) and puts a progress line in the events log
//! whenever they change — `rebalancing: 127.0.0.1:1238 leaving with 95
//! left; :1234 812 keys (12 moving), :1235 790, …`. After `add` it ends
//! with `keys in place (…)` once no server has keys to move ([`PLACED`]),
//! or `rebalancing settled (…)` once nothing changed for [`SETTLED`]. For
//! `remove` it also ends the leaving server: once it holds no keys, or
//! after [`LEAVE_WAIT`] whatever it holds, it is stopped and forgotten
//! (`Supervisor::retire`), and the log says which.

use std::net::SocketAddrV4;
use std::time::Duration;

use crate::stats::{FetchOptions, fetch_many};
use crate::supervisor::{Leaving, Supervisor};

/// Time between two readings.
pub const POLL: Duration = Duration::from_secs(1);
/// How long a removed server may keep keys before it is stopped anyway.
pub const LEAVE_WAIT: Duration = Duration::from_secs(30);
/// After `add`: the watch ends once every server says it holds no key it
/// does not own and the counts have not changed for this long…
pub const PLACED: Duration = Duration::from_secs(3);
/// …or once the counts have not changed for this long (longer than the
/// default anti-entropy interval, 10 s; servers that do not tell what
/// they still have to move)…
pub const SETTLED: Duration = Duration::from_secs(12);
/// …or after this long in all.
pub const WATCH_LIMIT: Duration = Duration::from_secs(60);

/// What one server told of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    /// Keys it holds (STATS `keys`).
    pub keys: Option<u64>,
    /// Keys it holds but no longer owns, still to hand over (STATS
    /// `handoff_foreign_keys`).
    pub moving: Option<u64>,
}

impl Held {
    /// A count alone, nothing moving told.
    pub fn keys(keys: Option<u64>) -> Held {
        Held { keys, moving: None }
    }
}

/// The progress line: the leaving server's key count first (the pane may
/// cut a long line), then every configured server's (`?` when it did not
/// tell), with the keys it still has to hand over when there are some.
/// Later addresses are shortened to `:port` when they share the first
/// one's IP.
pub fn progress_line(
    counts: &[(SocketAddrV4, Held)],
    leaving: Option<(SocketAddrV4, Held)>,
) -> String {
    let count = |c: Option<u64>| c.map_or_else(|| "?".to_string(), |k| k.to_string());
    let first = leaving.map(|(a, _)| a).or(counts.first().map(|(a, _)| *a));
    let name = |a: &SocketAddrV4| match first {
        Some(f) if f != *a && f.ip() == a.ip() => format!(":{}", a.port()),
        _ => a.to_string(),
    };
    let configured: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, (addr, held))| {
            let unit = if i == 0 { " keys" } else { "" };
            let moving = match held.moving {
                Some(m) if m > 0 => format!(" ({m} moving)"),
                _ => String::new(),
            };
            format!("{} {}{unit}{moving}", name(addr), count(held.keys))
        })
        .collect();
    match leaving {
        None => format!("rebalancing: {}", configured.join(", ")),
        Some((addr, held)) if configured.is_empty() => {
            format!(
                "rebalancing: {} leaving with {} left",
                name(&addr),
                count(held.keys)
            )
        }
        Some((addr, held)) => format!(
            "rebalancing: {} leaving with {} left; {}",
            name(&addr),
            count(held.keys),
            configured.join(", ")
        ),
    }
}

/// Watches one membership change until it has settled (`add`) or the
/// leaving server is stopped (`remove`); runs as a background task.
pub async fn watch(supervisor: Supervisor, leaving: Option<Leaving>, options: FetchOptions) {
    let started = tokio::time::Instant::now();
    let mut last_line = String::new();
    let mut last_change = started;
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // The configuration now (a later change shows here too).
        let servers: Vec<SocketAddrV4> = supervisor
            .config()
            .servers
            .iter()
            .map(|s| s.addr())
            .collect();
        let mut addrs = servers.clone();
        addrs.extend(leaving.map(|l| l.addr));
        let reports = fetch_many(&addrs, &options).await;
        let held = |addr: SocketAddrV4| {
            let stats = reports
                .iter()
                .find(|r| r.addr == addr)
                .and_then(|r| r.answer.stats());
            Held {
                keys: stats.and_then(|s| s.keys),
                moving: stats.and_then(|s| s.number("handoff_foreign_keys")),
            }
        };
        let counts: Vec<(SocketAddrV4, Held)> = servers.iter().map(|&a| (a, held(a))).collect();
        let left = leaving.map(|l| (l.addr, held(l.addr)));
        let line = progress_line(&counts, left);
        if line != last_line {
            supervisor.note(None, line.clone());
            last_line = line;
            last_change = tokio::time::Instant::now();
        }
        let elapsed = started.elapsed();
        match (leaving, left) {
            (Some(l), Some((_, Held { keys: Some(0), .. }))) => {
                let how = supervisor.retire(l).await;
                supervisor.note(None, format!("{} holds no keys any more: {how}", l.addr));
                return;
            }
            (Some(l), Some((_, Held { keys, .. }))) if elapsed >= LEAVE_WAIT => {
                let how = supervisor.retire(l).await;
                let held = keys.map_or_else(
                    || "did not tell how many keys it held".to_string(),
                    |k| format!("still held {k} keys"),
                );
                supervisor.note(
                    None,
                    format!("{} {held} after {} s: {how}", l.addr, LEAVE_WAIT.as_secs()),
                );
                return;
            }
            (Some(_), _) => {}
            (None, _) => {
                // Every server holds only keys it owns, and has for a
                // moment (a server reloads a little after its SIGHUP).
                let placed = !counts.is_empty() && counts.iter().all(|(_, h)| h.moving == Some(0));
                if placed && last_change.elapsed() >= PLACED {
                    supervisor.note(None, format!("keys in place ({last_line})"));
                    return;
                }
                if last_change.elapsed() >= SETTLED || elapsed >= WATCH_LIMIT {
                    supervisor.note(None, format!("rebalancing settled ({last_line})"));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn progress_lines() {
        let counts = [
            (a("127.0.0.1:1234"), Held::keys(Some(812))),
            (a("127.0.0.1:1235"), Held::keys(None)),
            (a("127.0.0.2:1237"), Held::keys(Some(0))),
        ];
        assert_eq!(
            progress_line(&counts, None),
            "rebalancing: 127.0.0.1:1234 812 keys, :1235 ?, 127.0.0.2:1237 0"
        );
        assert_eq!(
            progress_line(
                &counts[..2],
                Some((a("127.0.0.1:1238"), Held::keys(Some(95))))
            ),
            "rebalancing: 127.0.0.1:1238 leaving with 95 left; :1234 812 keys, :1235 ?"
        );
        assert_eq!(
            progress_line(&[], Some((a("127.0.0.1:1238"), Held::default()))),
            "rebalancing: 127.0.0.1:1238 leaving with ? left"
        );
        let moving = [
            (
                a("127.0.0.1:1234"),
                Held {
                    keys: Some(30),
                    moving: Some(6),
                },
            ),
            (
                a("127.0.0.1:1235"),
                Held {
                    keys: Some(19),
                    moving: Some(0),
                },
            ),
        ];
        assert_eq!(
            progress_line(&moving, None),
            "rebalancing: 127.0.0.1:1234 30 keys (6 moving), :1235 19"
        );
    }
}
