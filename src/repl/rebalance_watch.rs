//! Watching keys move after `add` and `remove` (issue 8 item 4): the live
//! counterpart of `whatif`.
//!
//! After a membership change the servers move keys by themselves (the new
//! ring reloaded on SIGHUP; anti-entropy and the former owners' handoff).
//! This watcher makes that visible: once a second it asks every server of
//! the new configuration, and the leaving one, for its key count (STATS
//! `keys`, `stats::fetch_many`) and puts a progress line in the events log
//! whenever the counts change — `rebalancing: 127.0.0.1:1238 leaving
//! with 95 left; :1234 812 keys, :1235 790, …`. For `remove` it
//! also ends the leaving server: once it holds no keys, or after
//! [`LEAVE_WAIT`] whatever it holds, it is stopped and forgotten
//! (`Supervisor::retire`), and the log says which.

use std::net::SocketAddrV4;
use std::time::Duration;

use crate::stats::{FetchOptions, fetch_many};
use crate::supervisor::{Leaving, Supervisor};

/// Time between two readings.
pub const POLL: Duration = Duration::from_secs(1);
/// How long a removed server may keep keys before it is stopped anyway.
pub const LEAVE_WAIT: Duration = Duration::from_secs(30);
/// After `add`: the watch ends once the counts have not changed for this
/// long (longer than the default anti-entropy interval, 10 s)…
pub const SETTLED: Duration = Duration::from_secs(12);
/// …or after this long in all.
pub const WATCH_LIMIT: Duration = Duration::from_secs(60);

/// The progress line: the leaving server's key count first (the pane may
/// cut a long line), then every configured server's (`?` when it did not
/// tell). Later addresses are shortened to `:port` when they share the
/// first one's IP.
pub fn progress_line(
    counts: &[(SocketAddrV4, Option<u64>)],
    leaving: Option<(SocketAddrV4, Option<u64>)>,
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
        .map(|(i, (addr, keys))| {
            let unit = if i == 0 { " keys" } else { "" };
            format!("{} {}{unit}", name(addr), count(*keys))
        })
        .collect();
    match leaving {
        None => format!("rebalancing: {}", configured.join(", ")),
        Some((addr, keys)) if configured.is_empty() => {
            format!(
                "rebalancing: {} leaving with {} left",
                name(&addr),
                count(keys)
            )
        }
        Some((addr, keys)) => format!(
            "rebalancing: {} leaving with {} left; {}",
            name(&addr),
            count(keys),
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
        let keys = |addr: SocketAddrV4| {
            reports
                .iter()
                .find(|r| r.addr == addr)
                .and_then(|r| r.answer.stats())
                .and_then(|s| s.keys)
        };
        let counts: Vec<(SocketAddrV4, Option<u64>)> =
            servers.iter().map(|&a| (a, keys(a))).collect();
        let left = leaving.map(|l| (l.addr, keys(l.addr)));
        let line = progress_line(&counts, left);
        if line != last_line {
            supervisor.note(None, line.clone());
            last_line = line;
            last_change = tokio::time::Instant::now();
        }
        let elapsed = started.elapsed();
        match (leaving, left) {
            (Some(l), Some((_, Some(0)))) => {
                let how = supervisor.retire(l).await;
                supervisor.note(None, format!("{} holds no keys any more: {how}", l.addr));
                return;
            }
            (Some(l), Some((_, keys))) if elapsed >= LEAVE_WAIT => {
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
            (a("127.0.0.1:1234"), Some(812)),
            (a("127.0.0.1:1235"), None),
            (a("127.0.0.2:1237"), Some(0)),
        ];
        assert_eq!(
            progress_line(&counts, None),
            "rebalancing: 127.0.0.1:1234 812 keys, :1235 ?, 127.0.0.2:1237 0"
        );
        assert_eq!(
            progress_line(&counts[..2], Some((a("127.0.0.1:1238"), Some(95)))),
            "rebalancing: 127.0.0.1:1238 leaving with 95 left; :1234 812 keys, :1235 ?"
        );
        assert_eq!(
            progress_line(&[], Some((a("127.0.0.1:1238"), None))),
            "rebalancing: 127.0.0.1:1238 leaving with ? left"
        );
    }
}
