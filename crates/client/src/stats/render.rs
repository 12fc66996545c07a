//! STATS for people and scripts: the `dkvs-client stats` and `--health`
//! tables, the JSON report, the failure message, and human units.

use std::io::{self, Write};

use crate::protocol_v2::Reason;
use dkvs_wire::stats::{Kind, Unit, counter};
use dkvs_wire::stats::{ServerReport, ServerStats, StatsAnswer};

/// `bytes` for people: `512B`, `1.5KiB`, `3.2MiB`, `1GiB`, as every tool
/// prints a size ([`crate::units::format_size`]).
pub fn human_bytes(bytes: u64) -> String {
    crate::units::format_size(bytes)
}

/// `seconds` for people: `45s`, `12m5s`, `3h4m`, `2d3h`, as every tool
/// prints a duration ([`crate::units::format_duration`]).
pub fn human_duration(seconds: u64) -> String {
    crate::units::format_duration(std::time::Duration::from_secs(seconds))
}

/// The value of `name` in `stats` as shown in the table: in human units
/// for bytes and seconds, `-` when the server did not send it.
pub fn display_value(stats: &ServerStats, name: &str) -> String {
    let Some(raw) = stats.get(name) else {
        return "-".into();
    };
    match (counter(name).map(|c| c.unit), raw.parse::<u64>()) {
        (Some(Unit::Bytes), Ok(n)) => human_bytes(n),
        (Some(Unit::Seconds), Ok(n)) => human_duration(n),
        _ => raw.to_string(),
    }
}

/// The columns of `dkvs-client stats`'s table (every counter is in its
/// `--json` output): header and counter name. The last two are the
/// durable engine's (`-` for a server in memory): syncs to disk and the
/// size of its data (`db_bytes`: the log engine's segments, or redb's
/// database file).
pub const TABLE_COLUMNS: &[(&str, &str)] = &[
    ("engine", "engine"),
    ("uptime", "uptime_seconds"),
    ("keys", "keys"),
    ("stored", "bytes_stored"),
    ("memory", "memory_rss_bytes"),
    ("gets", "gets"),
    ("puts", "puts"),
    ("deletes", "deletes"),
    ("hits", "hits"),
    ("misses", "misses"),
    ("errors", "errors"),
    ("refused", "refused"),
    ("dropped", "dropped"),
    ("syncs", "syncs"),
    ("disk", "db_bytes"),
];

/// The columns of `dkvs-dump-ring --health` (issue 8): what each server
/// holds, the hints it keeps for others, the keys it is handing off after
/// a membership change, and how far its replicas diverged at the last
/// anti-entropy round.
pub const HEALTH_COLUMNS: &[(&str, &str)] = &[
    ("keys", "keys"),
    ("hints", "hints_pending"),
    ("moving", "handoff_foreign_keys"),
    ("diverging", "ae_divergent_buckets"),
    ("repaired", "ae_keys_repaired"),
    ("unreachable", "ae_unreachable_peers"),
    ("ae rounds", "ae_rounds"),
];

/// Writes the table: a header, then one row per server — its address and
/// a column per [`TABLE_COLUMNS`] counter, or why it has none (`no
/// answer`, `v1 only: no stats`…). Columns are as wide as their widest
/// cell; numbers are right-aligned.
pub fn write_table(out: &mut impl Write, reports: &[ServerReport]) -> io::Result<()> {
    write_columns(out, reports, TABLE_COLUMNS)
}

/// [`write_table`] with other columns (header, counter name): the address
/// and text counters left-aligned, numbers right-aligned.
pub fn write_columns(
    out: &mut impl Write,
    reports: &[ServerReport],
    table: &[(&str, &str)],
) -> io::Result<()> {
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(reports.len() + 1);
    let mut header = vec!["server".to_string()];
    header.extend(table.iter().map(|(h, _)| (*h).to_string()));
    rows.push(header);
    for r in reports {
        let mut row = vec![r.addr.to_string()];
        if let Some(stats) = r.answer.stats() {
            row.extend(table.iter().map(|(_, name)| display_value(stats, name)));
        } else {
            row.push(r.answer.describe());
        }
        rows.push(row);
    }
    let columns = table.len() + 1;
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter(|row| row.len() == columns || c == 0)
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let width = widths.get(c).copied().unwrap_or(0);
            if c > 0 {
                line.push_str("  ");
            }
            // The address and the engine are text (left); counters are
            // right-aligned; a row without counters has its reason whole.
            if row.len() < columns && c > 0 {
                line.push_str(cell);
            } else if c == 0
                || c.checked_sub(1)
                    .and_then(|i| table.get(i))
                    .and_then(|(_, name)| counter(name))
                    .is_some_and(|k| k.kind == Kind::Text)
            {
                line.push_str(&format!("{cell:<width$}"));
            } else {
                line.push_str(&format!("{cell:>width$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Every report as one JSON object: `{"ok":BOOL,"servers":[…]}`, each
/// server `{"server":"ip:port","answered":BOOL,"stats":{name:value…}}`
/// (numbers as JSON numbers, text as strings; every pair the server sent)
/// or, without counters, `{"server":…,"answered":BOOL,"status":"no
/// answer"}`. With `failure`, `"exit"` and `"error"` are added as in the
/// other commands' JSON.
pub fn json_report(reports: &[ServerReport], failure: Option<(u8, &str)>) -> String {
    use serde_json::{Map, Value, json};
    let servers: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut server = Map::new();
            server.insert("server".into(), json!(r.addr.to_string()));
            server.insert("answered".into(), json!(r.answer.answered()));
            match r.answer.stats() {
                Some(stats) => {
                    let pairs: Map<String, Value> = stats
                        .raw
                        .iter()
                        .map(|(k, v)| {
                            let value = match v.parse::<u64>() {
                                Ok(n) => json!(n),
                                Err(_) => json!(v),
                            };
                            (k.clone(), value)
                        })
                        .collect();
                    server.insert("stats".into(), Value::Object(pairs));
                }
                None => {
                    server.insert("status".into(), json!(r.answer.describe()));
                }
            }
            Value::Object(server)
        })
        .collect();
    match failure {
        None => json!({"ok": true, "servers": servers}),
        Some((code, error)) => {
            json!({"ok": false, "exit": code, "error": error, "servers": servers})
        }
    }
    .to_string()
}

/// `None` when every server answered and at least one sent its counters;
/// otherwise the failure of `dkvs-client stats` and `dkvs-dump-ring
/// --health`: exit [`crate::exit::QUORUM`] (as a quorum or network
/// failure of the other commands) and a message naming the silent
/// servers, or, when every server refused as unauthenticated, saying so
/// and how to pass a key ([`crate::limits::refused_unauthenticated`]).
pub fn failure(reports: &[ServerReport]) -> Option<(u8, String)> {
    let silent: Vec<String> = reports
        .iter()
        .filter(|r| !r.answer.answered())
        .map(|r| r.addr.to_string())
        .collect();
    let unauthenticated = reports
        .iter()
        .filter(|r| r.answer == StatsAnswer::Refused(Reason::Unauthenticated))
        .count();
    let keyless = || {
        crate::limits::refused_unauthenticated(
            &format!("{unauthenticated} of {} servers", reports.len()),
            "STATS request",
        )
    };
    let message = match (silent.is_empty(), unauthenticated) {
        (true, 0) => return None,
        // Some counters came back: a server or two refusing is in its row.
        (true, n) if n < reports.len() && reports.iter().any(|r| r.answer.stats().is_some()) => {
            return None;
        }
        (true, _) => keyless(),
        (false, n) => {
            let mut message = format!(
                "{} of {} servers did not answer: {}",
                silent.len(),
                reports.len(),
                silent.join(", ")
            );
            if n > 0 {
                message.push_str("; ");
                message.push_str(&keyless());
            }
            message
        }
    };
    Some((crate::exit::QUORUM, message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::stats::{CATALOGUE, Kind};
    use std::net::SocketAddrV4;

    /// What a fresh in-memory server reports: every number of the
    /// catalogue at 0, and its engine.
    fn fresh_memory_server() -> ServerStats {
        let pairs = CATALOGUE
            .iter()
            .filter(|c| c.kind != Kind::Text)
            .map(|c| (c.name.to_string(), "0".to_string()));
        let engine = ("engine".to_string(), "memory".to_string());
        ServerStats::from_raw(std::iter::once(engine).chain(pairs).collect())
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(5 << 20), "5MiB");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(725), "12m5s");
        assert_eq!(human_duration(3 * 3600 + 240), "3h4m");
        assert_eq!(human_duration(2 * 86_400 + 3 * 3600), "2d3h");
    }

    fn report(port: u16, answer: StatsAnswer) -> ServerReport {
        ServerReport {
            addr: SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port),
            answer,
        }
    }

    #[test]
    fn table_and_json() {
        let stats = fresh_memory_server();
        let reports = vec![
            report(1234, StatsAnswer::Stats(Box::new(stats))),
            report(1235, StatsAnswer::NoAnswer),
            report(1236, StatsAnswer::V1Only),
        ];
        let mut out = Vec::new();
        write_table(&mut out, &reports).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("server"), "{text}");
        assert!(lines[1].starts_with("127.0.0.1:1234  memory"), "{text}");
        assert_eq!(lines[2], "127.0.0.1:1235  no answer");
        assert_eq!(lines[3], "127.0.0.1:1236  v1 only: no stats");
        let (code, message) = failure(&reports).unwrap();
        assert_eq!(code, crate::exit::QUORUM);
        assert!(message.contains("127.0.0.1:1235"), "{message}");
        let json = json_report(&reports, Some((code, &message)));
        assert!(json.starts_with(r#"{"ok":false,"exit":5,"#), "{json}");
        assert!(json.contains(r#""engine":"memory""#), "{json}");
        assert!(json.contains(r#""gets":0"#), "{json}");
        assert!(json.contains(r#""status":"v1 only: no stats""#), "{json}");
        assert!(failure(&reports[..1]).is_none());
    }

    #[test]
    fn every_server_refusing_as_unauthenticated_is_a_failure_with_the_fix() {
        let keyless = || StatsAnswer::Refused(Reason::Unauthenticated);
        let all = vec![report(1, keyless()), report(2, keyless())];
        let (code, message) = failure(&all).unwrap();
        assert_eq!(code, crate::exit::QUORUM);
        assert!(
            message.starts_with("2 of 2 servers refused the STATS request as unauthenticated")
                && message.contains("--key-file FILE")
                && message.contains(crate::limits::KEY_FILE_ENV),
            "{message}"
        );
        // One refusing among servers that answered: its row says so.
        let stats = fresh_memory_server();
        let mixed = vec![
            report(1, keyless()),
            report(2, StatsAnswer::Stats(Box::new(stats))),
        ];
        assert!(failure(&mixed).is_none());
        // Refusals and no counters from anyone (a v1-only server): failed.
        let none = vec![report(1, keyless()), report(2, StatsAnswer::V1Only)];
        assert!(failure(&none).is_some());
        // Silent servers and refusals: both in the one line.
        let silent = vec![report(1, keyless()), report(2, StatsAnswer::NoAnswer)];
        let (_, message) = failure(&silent).unwrap();
        assert!(
            message.contains("did not answer: 127.0.0.1:2") && message.contains("--key-file"),
            "{message}"
        );
    }
}
