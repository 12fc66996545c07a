//! The Prometheus view of a server's figures: which STATS pair becomes
//! which metric, and the text exposition format 0.0.4 the endpoint serves
//! (`crate::metrics`). STATS keeps its names on the wire; here they follow
//! Prometheus' conventions instead: base units (seconds, bytes), `_total`
//! on counters, `_info` on text, one metric with a label where STATS has
//! one counter per cause (`dkvs_refused_total{reason=…}`), the resident
//! memory under the name every exporter uses, and no aggregates beside
//! their parts (a sum over a label gives them). `docs/METRICS.md` lists
//! every metric and the old names.
//!
//! Why written here and not with a Prometheus crate: the well-kept ones
//! either take a lock per observation (`prometheus-client`'s histogram is
//! a mutex), contend on shared atomics across cores (`prometheus`), or
//! store each observation in a growing buffer (`metrics-exporter-
//! prometheus`); the receive loops count in per-thread slots instead
//! (`super::Latency`), and the text format is a few lines (DECISIONS
//! #521).

use std::fmt::Write as _;

use super::{BUCKET_LABELS, Scrape, Timed, counter};

/// The type of a metric (its `# TYPE` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A text value: a gauge of 1 with the text as a label (`_info`).
    Info,
    /// The request latency histograms (`_bucket`, `_sum`, `_count`).
    Histogram,
}

/// How a STATS value is turned into the metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// As is.
    One,
    /// Milliseconds to seconds.
    Milli,
    /// A limit: the largest value (no limit) is `+Inf`.
    Limit,
}

/// One metric of the endpoint and the STATS pairs that feed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The metric's name.
    pub name: &'static str,
    /// Its type.
    pub kind: Type,
    /// Its `# HELP` text; `None`: the STATS catalogue's help of its one
    /// pair.
    help: Option<&'static str>,
    /// The label that tells its series apart, if it has several (for
    /// [`Type::Info`], the label that carries the text).
    pub label: Option<&'static str>,
    /// Its series: the STATS name feeding each, and the label's value.
    pub series: &'static [(&'static str, &'static str)],
    scale: Scale,
}

/// A metric fed by `series`, with the catalogue's help, no label, as is.
const fn metric(
    name: &'static str,
    kind: Type,
    series: &'static [(&'static str, &'static str)],
) -> Family {
    Family {
        name,
        kind,
        help: None,
        label: None,
        series,
        scale: Scale::One,
    }
}

impl Family {
    const fn help(self, help: &'static str) -> Family {
        Family {
            help: Some(help),
            ..self
        }
    }

    const fn label(self, label: &'static str) -> Family {
        Family {
            label: Some(label),
            ..self
        }
    }

    const fn scale(self, scale: Scale) -> Family {
        Family { scale, ..self }
    }
}

use Type::{Counter, Gauge, Histogram, Info};

/// Every metric of the endpoint, in the order it lists them. A family
/// whose pairs a server does not send (the durable engine's without
/// `--data-dir`, anti-entropy's without `--servers`) is left out.
pub const FAMILIES: &[Family] = &[
    metric("dkvs_uptime_seconds", Gauge, &[("uptime_seconds", "")]),
    metric("dkvs_engine_info", Info, &[("engine", "")]).label("engine"),
    metric("dkvs_datagrams_received_total", Counter, &[("requests", "")])
        .help("Datagrams received (requests of every kind, refused ones included)."),
    metric(
        "dkvs_requests_total",
        Counter,
        &[
            ("gets", "get"),
            ("puts", "put"),
            ("deletes", "delete"),
            ("dumps", "dump"),
            ("stats_requests", "stats"),
        ],
    )
    .label("op")
    .help("Requests received, by operation (v1 and v2; a v1 dump or a v2 page counts once)."),
    metric("dkvs_request_duration_seconds", Histogram, &[])
        .label("op")
        .help("Time from receiving a request to sending its reply, by operation (requests without a reply are not timed)."),
    metric("dkvs_hits_total", Counter, &[("hits", "")]),
    metric("dkvs_misses_total", Counter, &[("misses", "")]),
    metric("dkvs_keys", Gauge, &[("keys", "")]),
    metric("dkvs_stored_bytes", Gauge, &[("bytes_stored", "")])
        .help("Accounted bytes of the records held (keys, values, per-record overhead)."),
    metric("dkvs_stored_limit_bytes", Gauge, &[("bytes_limit", "")])
        .help("Limit on dkvs_stored_bytes (--max-memory, or --max-disk with --data-dir); +Inf without one.")
        .scale(Scale::Limit),
    metric("process_resident_memory_bytes", Gauge, &[("memory_rss_bytes", "")])
        .help("Resident memory size in bytes."),
    metric(
        "dkvs_refused_total",
        Counter,
        &[
            ("malformed", "malformed"),
            ("over_memory", "memory"),
            ("over_disk", "disk"),
            ("refused_clock", "clock"),
            ("refused_corrupt", "corrupt"),
            ("not_allowed", "not_allowed"),
            ("dump_denied", "dump_denied"),
            ("over_budget", "over_budget"),
            ("unauthenticated", "unauthenticated"),
            ("commit_queue_full", "queue_full"),
        ],
    )
    .label("reason")
    .help("Requests refused or dropped by the server, by reason: malformed, memory (--max-memory), disk (--max-disk or the disk's reserve), clock (--max-clock-offset), corrupt (a get whose stored record failed its check), not_allowed (--allow), dump_denied (--allow-dump), over_budget (reply budget), unauthenticated (--key-file), queue_full (durable commit queue)."),
    metric("dkvs_kernel_drops_total", Counter, &[("kernel_drops", "")]),
    metric(
        "dkvs_errors_total",
        Counter,
        &[
            ("panics", "panic"),
            ("restarts", "restart"),
            ("engine_errors", "engine"),
        ],
    )
    .label("cause")
    .help("Failures inside the server, by cause: panic (caught while handling a request), restart (a receive loop restarted), engine (a read or write the storage engine failed)."),
    metric("dkvs_clock_ahead_max_seconds", Gauge, &[("clock_ahead_max_ms", "")])
        .help("Largest amount, in seconds, by which a write's version was ahead of this server's clock (the worst writer clock seen).")
        .scale(Scale::Milli),
    metric("dkvs_hints_pending", Gauge, &[("hints_pending", "")]),
    metric("dkvs_handoff_foreign_keys", Gauge, &[("handoff_foreign_keys", "")]),
    metric("dkvs_handoff_sent_total", Counter, &[("handoff_sent", "")]),
    metric("dkvs_handoff_dropped_total", Counter, &[("handoff_dropped", "")]),
    metric("dkvs_ae_rounds_total", Counter, &[("ae_rounds", "")]),
    metric("dkvs_ae_divergent_buckets", Gauge, &[("ae_divergent_buckets", "")]),
    metric("dkvs_ae_keys_repaired", Gauge, &[("ae_keys_repaired", "")]),
    metric("dkvs_ae_unreachable_peers", Gauge, &[("ae_unreachable_peers", "")]),
    metric("dkvs_ae_sent_bytes_total", Counter, &[("ae_bytes_sent", "")]),
    metric("dkvs_commits_total", Counter, &[("commits", "")]),
    metric("dkvs_syncs_total", Counter, &[("syncs", "")]),
    metric("dkvs_corrupt_reads_total", Counter, &[("corrupt_reads", "")]),
    metric("dkvs_log_bytes", Gauge, &[("log_bytes", "")]),
    metric("dkvs_db_bytes", Gauge, &[("db_bytes", "")]),
    metric("dkvs_sync_policy_info", Info, &[("sync_policy", "")]).label("sync_policy"),
    metric("dkvs_durable_engine_info", Info, &[("durable_engine", "")]).label("durable_engine"),
];

/// STATS names with no metric of their own: sums of other pairs, which a
/// sum over a label gives (`refused`, `dropped`: `dkvs_refused_total` and
/// `dkvs_kernel_drops_total`; `errors`: `dkvs_errors_total`).
pub const NOT_EXPOSED: &[&str] = &["refused", "dropped", "errors"];

/// The metric a STATS name feeds, with its label value.
pub fn family_of(stat: &str) -> Option<(&'static Family, &'static str)> {
    FAMILIES.iter().find_map(|f| {
        f.series
            .iter()
            .find(|(s, _)| *s == stat)
            .map(|(_, value)| (f, *value))
    })
}

/// `scrape` in the text exposition format 0.0.4: each family of
/// [`FAMILIES`] whose pairs the scrape has, with its `# HELP` and `# TYPE`
/// lines then its samples. Values that are not numbers are left out.
pub fn exposition(scrape: &Scrape) -> String {
    let mut out = String::with_capacity(8192);
    let value = |stat: &str| {
        scrape
            .pairs
            .iter()
            .find(|(n, _)| n == stat)
            .map(|(_, v)| v.as_str())
    };
    for family in FAMILIES {
        let mut samples = String::new();
        match family.kind {
            Histogram => histograms(&mut samples, family.name, scrape),
            Info => {
                for (stat, _) in family.series {
                    if let (Some(v), Some(label)) = (value(stat), family.label) {
                        let _ = writeln!(
                            samples,
                            "{}{{{label}=\"{}\"}} 1",
                            family.name,
                            escape_label(v)
                        );
                    }
                }
            }
            Counter | Gauge => {
                for (stat, label_value) in family.series {
                    let Some(v) = value(stat).and_then(|v| number(v, family.scale)) else {
                        continue;
                    };
                    match family.label {
                        Some(label) => {
                            let _ = writeln!(
                                samples,
                                "{}{{{label}=\"{label_value}\"}} {v}",
                                family.name
                            );
                        }
                        None => {
                            let _ = writeln!(samples, "{} {v}", family.name);
                        }
                    }
                }
            }
        }
        if samples.is_empty() {
            continue;
        }
        let help = family
            .help
            .or_else(|| {
                family
                    .series
                    .first()
                    .and_then(|(s, _)| counter(s))
                    .map(|c| c.help)
            })
            .unwrap_or_default();
        let kind = match family.kind {
            Counter => "counter",
            Gauge | Info => "gauge",
            Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(help));
        let _ = writeln!(out, "# TYPE {} {kind}", family.name);
        out.push_str(&samples);
    }
    out
}

/// A STATS number as the metric's value, or `None` when it is not one.
fn number(v: &str, scale: Scale) -> Option<String> {
    let n: u64 = v.parse().ok()?;
    Some(match scale {
        Scale::One => n.to_string(),
        Scale::Limit if n == u64::MAX => "+Inf".to_string(),
        Scale::Limit => n.to_string(),
        Scale::Milli => seconds(n, 1_000),
    })
}

/// `n` units of `1/per` second, in seconds, as short as exact.
fn seconds(n: u64, per: u64) -> String {
    let whole = n / per;
    let frac = n % per;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = per.ilog10() as usize;
    let text = format!("{whole}.{frac:0digits$}");
    text.trim_end_matches('0').to_string()
}

/// The samples of the latency histograms: for each operation its
/// cumulative buckets, then `_sum` (seconds) and `_count`.
fn histograms(out: &mut String, name: &str, scrape: &Scrape) {
    for op in Timed::ALL {
        let h = scrape.latency.of(op);
        let op = op.label();
        for (le, n) in BUCKET_LABELS.iter().zip(h.cumulative()) {
            let _ = writeln!(out, "{name}_bucket{{op=\"{op}\",le=\"{le}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_sum{{op=\"{op}\"}} {}",
            seconds(h.sum_ns, 1_000_000_000)
        );
        let _ = writeln!(out, "{name}_count{{op=\"{op}\"}} {}", h.count());
    }
}

/// A label value escaped as the format says (backslash, quote, newline).
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A help text escaped as the format says (backslash, newline).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::stats::{CATALOGUE, Kind, Latency, LatencySnapshot};
    use std::time::Duration;

    fn scrape(pairs: &[(&str, &str)], latency: LatencySnapshot) -> Scrape {
        Scrape {
            pairs: pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            latency,
        }
    }

    /// Every STATS name has a metric, or is a sum left out on purpose;
    /// names and label values follow Prometheus' rules and conventions.
    #[test]
    fn every_stats_name_is_exposed_once() {
        for c in CATALOGUE {
            let fed = FAMILIES
                .iter()
                .flat_map(|f| f.series.iter())
                .filter(|(s, _)| *s == c.name)
                .count();
            let skipped = NOT_EXPOSED.contains(&c.name);
            assert!(
                fed + usize::from(skipped) == 1,
                "{}: fed {fed} times",
                c.name
            );
            if let Some((f, _)) = family_of(c.name) {
                let expected = match c.kind {
                    Kind::Counter => Counter,
                    Kind::Gauge => Gauge,
                    Kind::Text => Info,
                };
                assert_eq!(f.kind, expected, "{}", f.name);
            }
        }
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        for f in FAMILIES {
            assert!(valid(f.name), "{}", f.name);
            assert!(
                f.name.starts_with("dkvs_") || f.name.starts_with("process_"),
                "{}",
                f.name
            );
            match f.kind {
                Counter => assert!(f.name.ends_with("_total"), "{}", f.name),
                Info => assert!(f.name.ends_with("_info"), "{}", f.name),
                Histogram => assert!(f.name.ends_with("_seconds"), "{}", f.name),
                Gauge => assert!(!f.name.ends_with("_total"), "{}", f.name),
            }
            assert!(
                !f.name.contains("_ms") && !f.name.contains("millis"),
                "{}",
                f.name
            );
            assert!(f.series.len() <= 1 || f.label.is_some(), "{}", f.name);
            for (_, v) in f.series {
                assert!(f.series.len() == 1 || valid(v), "{}: {v:?}", f.name);
            }
            assert_eq!(
                FAMILIES.iter().filter(|g| g.name == f.name).count(),
                1,
                "{}",
                f.name
            );
        }
    }

    #[test]
    fn exposition_format() {
        let body = exposition(&scrape(
            &[
                ("uptime_seconds", "12"),
                ("engine", "memory"),
                ("gets", "3"),
                ("puts", "1"),
                ("keys", "2"),
                ("bytes_limit", &u64::MAX.to_string()),
                ("malformed", "1"),
                ("over_memory", "2"),
                ("clock_ahead_max_ms", "1500"),
                ("errors", "7"),
                ("unknown_thing", "9"),
                ("misses", "not a number"),
            ],
            LatencySnapshot::default(),
        ));
        let head = "# HELP dkvs_uptime_seconds Seconds since the server started.\n\
             # TYPE dkvs_uptime_seconds gauge\n\
             dkvs_uptime_seconds 12\n\
             # HELP dkvs_engine_info Storage engine: memory or durable (--data-dir).\n\
             # TYPE dkvs_engine_info gauge\n\
             dkvs_engine_info{engine=\"memory\"} 1\n\
             # HELP dkvs_requests_total Requests received, by operation (v1 and v2; a v1 dump or a v2 page counts once).\n\
             # TYPE dkvs_requests_total counter\n\
             dkvs_requests_total{op=\"get\"} 3\n\
             dkvs_requests_total{op=\"put\"} 1\n\
             # HELP dkvs_request_duration_seconds ";
        assert!(body.starts_with(head), "{body}");
        for line in [
            "# TYPE dkvs_request_duration_seconds histogram",
            "dkvs_request_duration_seconds_bucket{op=\"get\",le=\"1e-05\"} 0",
            "dkvs_request_duration_seconds_bucket{op=\"other\",le=\"+Inf\"} 0",
            "dkvs_request_duration_seconds_sum{op=\"dump\"} 0",
            "dkvs_request_duration_seconds_count{op=\"stats\"} 0",
            "dkvs_keys 2",
            "dkvs_stored_limit_bytes +Inf",
            "# TYPE dkvs_refused_total counter",
            "dkvs_refused_total{reason=\"malformed\"} 1",
            "dkvs_refused_total{reason=\"memory\"} 2",
            "dkvs_clock_ahead_max_seconds 1.5",
        ] {
            assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
        }
        for absent in ["unknown", "misses", "dkvs_errors", "syncs", "7"] {
            assert!(
                !body
                    .lines()
                    .any(|l| !l.starts_with('#') && l.contains(absent)),
                "{absent} in\n{body}"
            );
        }
        // Each family's samples follow its own HELP and TYPE lines.
        let mut current = "";
        for line in body.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(current), "{line} after {current}");
            }
        }
    }

    #[test]
    fn histogram_samples() {
        let l = Latency::new();
        l.observe(Timed::Get, Duration::from_micros(30));
        l.observe(Timed::Get, Duration::from_micros(30));
        l.observe(Timed::Get, Duration::from_millis(3));
        let body = exposition(&scrape(&[], l.snapshot()));
        for line in [
            "dkvs_request_duration_seconds_bucket{op=\"get\",le=\"2.5e-05\"} 0",
            "dkvs_request_duration_seconds_bucket{op=\"get\",le=\"5e-05\"} 2",
            "dkvs_request_duration_seconds_bucket{op=\"get\",le=\"0.0025\"} 2",
            "dkvs_request_duration_seconds_bucket{op=\"get\",le=\"0.005\"} 3",
            "dkvs_request_duration_seconds_bucket{op=\"get\",le=\"+Inf\"} 3",
            "dkvs_request_duration_seconds_sum{op=\"get\"} 0.00306",
            "dkvs_request_duration_seconds_count{op=\"get\"} 3",
            "dkvs_request_duration_seconds_count{op=\"put\"} 0",
        ] {
            assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
        }
    }

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(seconds(0, 1000), "0");
        assert_eq!(seconds(1500, 1000), "1.5");
        assert_eq!(seconds(7, 1000), "0.007");
        assert_eq!(seconds(2_000_000_001, 1_000_000_000), "2.000000001");
        assert_eq!(number("12", Scale::Limit).as_deref(), Some("12"));
        assert_eq!(number("-1", Scale::One), None);
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }
}
