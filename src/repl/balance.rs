//! `balance` and `whatif nodes`: each server's share of the key space, as
//! primary and as a replica, against the ideal 1/S and N/S — the classic
//! "more virtual nodes, better balance" lesson, computed exactly from the
//! ring's positions (no sampling, no network) and formatted for the REPL.

use crate::config::ServerSpec;
use crate::ring::Ring;

use super::format::server_label;

/// Each server's share of the key space (fractions of the whole ring).
#[derive(Debug, Clone, PartialEq)]
pub struct Shares {
    /// The replicas counted per key (N, lowered to the number of servers).
    pub n: usize,
    /// Per server: the keys it is the first replica (primary) of.
    pub primary: Vec<f64>,
    /// Per server: the keys whose preference list of N servers includes it.
    pub replica: Vec<f64>,
}

impl Shares {
    /// The shares of `ring` (built from `servers`) with N = `n`, lowered to
    /// the number of servers. Each arc between consecutive nodes has one
    /// preference list: the walk from the node ending it.
    pub fn of(ring: &Ring, servers: &[ServerSpec], n: usize) -> Shares {
        let n = n.min(servers.len()).max(1);
        let mut primary = vec![0.0; servers.len()];
        let mut replica = vec![0.0; servers.len()];
        let nodes = ring.nodes();
        let Some(last) = nodes.last() else {
            return Shares {
                n,
                primary,
                replica,
            };
        };
        let mut previous = last.position.fraction();
        for node in nodes {
            let here = node.position.fraction();
            let arc = if here > previous {
                here - previous
            } else {
                // The arc that wraps past zero (the whole ring for one node).
                1.0 - previous + here
            };
            previous = here;
            if let Some(share) = primary.get_mut(node.server) {
                *share += arc;
            }
            for r in ring.placement_at(node.position, n).replicas {
                if let Some(share) = replica.get_mut(r.server) {
                    *share += arc;
                }
            }
        }
        Shares {
            n,
            primary,
            replica,
        }
    }

    /// The ideal primary share, 1/S.
    pub fn ideal_primary(&self) -> f64 {
        1.0 / self.primary.len().max(1) as f64
    }

    /// The ideal replica share, N/S.
    pub fn ideal_replica(&self) -> f64 {
        self.n as f64 / self.replica.len().max(1) as f64
    }
}

/// The population standard deviation of `shares` around their mean, in
/// percentage points (shares are fractions; the result is ×100).
pub fn std_dev_pp(shares: &[f64]) -> f64 {
    if shares.is_empty() {
        return 0.0;
    }
    let len = shares.len() as f64;
    let mean = shares.iter().sum::<f64>() / len;
    let variance = shares.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / len;
    variance.sqrt() * 100.0
}

fn pct(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

/// The summary line: ideals and standard deviations (percentage points).
pub fn summary_line(shares: &Shares) -> String {
    format!(
        "primary: ideal {}, std dev {:.1} pp; replicas (N={}): ideal {}, std dev {:.1} pp",
        pct(shares.ideal_primary()),
        std_dev_pp(&shares.primary),
        shares.n,
        pct(shares.ideal_replica()),
        std_dev_pp(&shares.replica)
    )
}

/// Pads every column of `rows` to its widest cell (first column left,
/// the others right-aligned), two spaces apart.
fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &w))| {
                    if c == 0 {
                        format!("{cell:<w$}")
                    } else {
                        format!("{cell:>w$}")
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// A stored-key count cell: the number, or `—` for a silent server.
fn keys_cell(keys: Option<&Option<u64>>) -> String {
    match keys {
        Some(Some(k)) => k.to_string(),
        _ => "—".into(),
    }
}

/// `balance`: a row per server (nodes, primary and replica shares, stored
/// keys when known), then the summary line. `keys` is indexed like
/// `servers`; `None` when nobody was asked.
pub fn balance_lines(
    servers: &[ServerSpec],
    shares: &Shares,
    keys: Option<&[Option<u64>]>,
) -> Vec<String> {
    let mut header = vec![
        "server".to_string(),
        "nodes".into(),
        "primary".into(),
        format!("replica (N={})", shares.n),
    ];
    if keys.is_some() {
        header.push("keys".into());
    }
    let mut rows = vec![header];
    for (i, spec) in servers.iter().enumerate() {
        let mut row = vec![
            server_label(i, spec),
            spec.nodes.to_string(),
            shares.primary.get(i).map_or_else(String::new, |s| pct(*s)),
            shares.replica.get(i).map_or_else(String::new, |s| pct(*s)),
        ];
        if let Some(keys) = keys {
            row.push(keys_cell(keys.get(i)));
        }
        rows.push(row);
    }
    let mut lines = aligned(&rows);
    lines.push(summary_line(shares));
    lines
}

/// `whatif nodes`: a row per server with old → new nodes and shares, the
/// old and new summaries, and the share of keys that would move.
pub fn whatif_nodes_lines(
    title: &str,
    old: (&[ServerSpec], &Shares),
    new: (&[ServerSpec], &Shares),
    moved: f64,
) -> Vec<String> {
    let (old_servers, old_shares) = old;
    let (new_servers, new_shares) = new;
    let arrow = |a: String, b: String| format!("{a} → {b}");
    let mut rows = vec![vec![
        "server".to_string(),
        "nodes".into(),
        "primary".into(),
        format!("replica (N={})", new_shares.n),
    ]];
    for (i, (was, now)) in old_servers.iter().zip(new_servers).enumerate() {
        let share = |s: &[f64]| s.get(i).map_or_else(String::new, |v| pct(*v));
        rows.push(vec![
            server_label(i, now),
            arrow(was.nodes.to_string(), now.nodes.to_string()),
            arrow(share(&old_shares.primary), share(&new_shares.primary)),
            arrow(share(&old_shares.replica), share(&new_shares.replica)),
        ]);
    }
    let mut lines = vec![title.to_string()];
    lines.extend(aligned(&rows).into_iter().map(|l| format!("  {l}")));
    lines.push(format!("  now:   {}", summary_line(old_shares)));
    lines.push(format!("  would: {}", summary_line(new_shares)));
    lines.push(format!(
        "  with N={}: {} of the key space would change preference list (keys that would move)",
        new_shares.n,
        pct(moved)
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Position;

    fn servers(spec: &[(u16, u32)]) -> Vec<ServerSpec> {
        spec.iter()
            .map(|&(p, k)| ServerSpec::new("127.0.0.1".parse().unwrap(), p, k))
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn one_server_owns_everything() {
        let s = servers(&[(1234, 3)]);
        let shares = Shares::of(&Ring::from_servers(&s), &s, 3);
        assert_eq!(shares.n, 1);
        assert!(close(shares.primary[0], 1.0));
        assert!(close(shares.replica[0], 1.0));
        assert!(close(std_dev_pp(&shares.primary), 0.0));
    }

    #[test]
    fn shares_sum_to_one_and_n() {
        let s = servers(&[(1234, 3), (1235, 2), (1236, 2), (1237, 1), (1238, 1)]);
        let ring = Ring::from_servers(&s);
        for n in 1..=6 {
            let shares = Shares::of(&ring, &s, n);
            let lowered = n.min(5) as f64;
            assert!(close(shares.primary.iter().sum(), 1.0), "{shares:?}");
            assert!(close(shares.replica.iter().sum(), lowered), "{shares:?}");
            assert!(shares.replica.iter().all(|&r| r <= 1.0 + 1e-9));
        }
        // N = S: every server holds every key.
        let all = Shares::of(&ring, &s, 5);
        assert!(all.replica.iter().all(|&r| close(r, 1.0)));
        assert!(close(all.ideal_replica(), 1.0));
    }

    #[test]
    fn two_servers_by_hand() {
        // One node each: server A owns the arc from B's node to A's node.
        let s = servers(&[(1234, 1), (1235, 1)]);
        let a = Position::of_node(&s[0], 1).fraction();
        let b = Position::of_node(&s[1], 1).fraction();
        let a_arc = if a > b { a - b } else { 1.0 - b + a };
        let shares = Shares::of(&Ring::from_servers(&s), &s, 3);
        assert_eq!(shares.n, 2);
        assert!(close(shares.primary[0], a_arc));
        assert!(close(shares.primary[1], 1.0 - a_arc));
        assert!(close(shares.replica[0], 1.0) && close(shares.replica[1], 1.0));
        let dev = (a_arc - 0.5).abs() * 100.0;
        assert!(close(std_dev_pp(&shares.primary), dev));
    }

    #[test]
    fn shares_match_sampled_keys() {
        let s = servers(&[(1234, 3), (1235, 2), (1236, 2), (1237, 1), (1238, 1)]);
        let ring = Ring::from_servers(&s);
        let shares = Shares::of(&ring, &s, 3);
        let total = 20_000;
        let (mut primary, mut replica) = (vec![0usize; 5], vec![0usize; 5]);
        for i in 0..total {
            let reps = ring.replicas(format!("k{i}").as_bytes(), 3);
            primary[reps[0].server] += 1;
            for r in reps {
                replica[r.server] += 1;
            }
        }
        for i in 0..5 {
            let p = primary[i] as f64 / total as f64;
            let r = replica[i] as f64 / total as f64;
            assert!((p - shares.primary[i]).abs() < 0.02, "{i}: {p} {shares:?}");
            assert!((r - shares.replica[i]).abs() < 0.02, "{i}: {r} {shares:?}");
        }
    }

    #[test]
    fn more_nodes_balance_better_on_average() {
        let few = servers(&[(1234, 1), (1235, 1), (1236, 1), (1237, 1)]);
        let many = servers(&[(1234, 200), (1235, 200), (1236, 200), (1237, 200)]);
        let dev = |s: &[ServerSpec]| std_dev_pp(&Shares::of(&Ring::from_servers(s), s, 2).primary);
        assert!(dev(&many) < dev(&few), "{} vs {}", dev(&many), dev(&few));
    }

    #[test]
    fn table_has_a_row_per_server_and_a_summary() {
        let s = servers(&[(1234, 3), (1235, 2)]);
        let shares = Shares::of(&Ring::from_servers(&s), &s, 3);
        let lines = balance_lines(&s, &shares, Some(&[Some(7), None]));
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].starts_with("server") && lines[0].ends_with("keys"));
        assert!(lines[1].contains("127.0.0.1:1234") && lines[1].ends_with('7'));
        assert!(lines[2].ends_with('—'));
        assert!(
            lines[3].starts_with("primary: ideal 50.0 %"),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains("replicas (N=2): ideal 100.0 %"));
        let lines = balance_lines(&s, &shares, None);
        assert!(!lines[0].contains("keys"));
    }
}
