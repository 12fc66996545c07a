//! `dkvs-server --metrics ADDR:PORT` (issue 9, item 3), scraped with curl
//! (`/usr/bin/curl`; CI installs it) and raw TCP, real processes on random
//! loopback addresses:
//!
//! - `GET /metrics` on both engines: 200, the 0.0.4 content type, `# HELP`
//!   and `# TYPE` lines, and values equal to the server's STATS reply
//!   under their Prometheus names (`docs/METRICS.md`), latency histograms
//!   that counted the requests;
//! - refusals as one counter by reason, whose sum is STATS' refused and
//!   dropped;
//! - the sample Grafana dashboard (`assets/grafana/dkvs.json`) reads only
//!   metrics a real server (durable, with `--servers`) exposes;
//! - other paths 404, other methods 405 (with `Allow`), HEAD;
//! - garbage, an oversized head, a silent connection and 100 parallel
//!   scrapes leave the server (UDP and HTTP) serving;
//! - a metrics address in use makes the server fail to start (but a
//!   server dkvs-tui spawns serves without its endpoint);
//! - `metrics` in a `cluster.toml` (per `[[server]]`): the server dkvs-tui
//!   starts serves it, and a put through dkvs-tui moves its counter.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use dkvs::hlc::Clock;
use dkvs::protocol_v2::{self, Message, Reason};
use dkvs::stats::ServerStats;

const CURL: &str = "curl";

/// A TCP port free on `ip` right now.
fn free_tcp_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts server 0 of a one-server cluster with `--metrics` on the same
/// loopback address and `options`; returns the cluster and the metrics
/// address.
fn start(options: &[OsString]) -> (Cluster, SocketAddrV4) {
    let mut c = Cluster::new(&[1]);
    let at = SocketAddrV4::new(c.ip, free_tcp_port(c.ip));
    let mut all: Vec<OsString> = vec!["--metrics".into(), at.to_string().into()];
    all.extend(options.iter().cloned());
    let all: Vec<&OsStr> = all.iter().map(OsString::as_os_str).collect();
    c.start_with_options(0, &all);
    (c, at)
}

/// Runs curl with `args` (bounded), returning its output.
fn curl(args: &[&str]) -> Output {
    let mut cmd = Command::new(CURL);
    cmd.args(["--silent", "--show-error", "--max-time", "5"])
        .args(args);
    let out = run(&mut cmd, Duration::from_secs(10));
    assert!(
        out.code.is_some(),
        "curl did not run (is curl installed?): {out}"
    );
    out
}

/// The HTTP status curl got for `args`.
fn status(args: &[&str]) -> String {
    let mut all = vec!["--output", "/dev/null", "--write-out", "%{http_code}"];
    all.extend_from_slice(args);
    curl(&all).stdout
}

/// The samples of an exposition text: metric (with labels) → value.
fn samples(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("`name value`");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The metric family of a sample (`dkvs_x_bucket{…}` → `dkvs_x` when
/// `body` has a histogram of that name).
fn family<'a>(body: &str, sample: &'a str) -> &'a str {
    let name = sample.split('{').next().unwrap();
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && body.contains(&format!("# TYPE {base} histogram\n"))
        {
            return base;
        }
    }
    name
}

/// The sum of the samples of `metric` (over its labels).
fn sum(samples: &[(String, String)], metric: &str) -> u64 {
    samples
        .iter()
        .filter(|(m, _)| m == metric || m.starts_with(&format!("{metric}{{")))
        .map(|(_, v)| v.parse::<u64>().unwrap())
        .sum()
}

/// Each latency histogram has the same buckets, non-decreasing, its
/// `+Inf` bucket equal to its `_count`, and a sum with it.
fn check_histograms(samples: &[(String, String)]) {
    const NAME: &str = "dkvs_request_duration_seconds";
    for op in ["get", "put", "delete", "dump", "stats", "other"] {
        let prefix = format!("{NAME}_bucket{{op=\"{op}\",le=\"");
        let buckets: Vec<(&str, u64)> = samples
            .iter()
            .filter_map(|(m, v)| {
                let le = m.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                Some((le, v.parse().unwrap()))
            })
            .collect();
        assert_eq!(buckets.len(), 17, "{op}: {buckets:?}");
        assert_eq!(buckets.first().unwrap().0, "1e-05");
        assert_eq!(buckets.last().unwrap().0, "+Inf");
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{op}: {buckets:?}"
        );
        let get = |name: &str| {
            samples
                .iter()
                .find(|(m, _)| *m == format!("{NAME}_{name}{{op=\"{op}\"}}"))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name} for {op}"))
        };
        assert_eq!(
            get("count").parse::<u64>().unwrap(),
            buckets.last().unwrap().1
        );
        let seconds: f64 = get("sum").parse().unwrap();
        assert!(
            seconds >= 0.0 && (seconds > 0.0) == (buckets.last().unwrap().1 > 0),
            "{op}"
        );
    }
}

fn stats_of(addr: SocketAddrV4) -> ServerStats {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let request = protocol_v2::encode(5, &Message::Stats, None).unwrap();
    let reply = udp_request(&s, addr, &request, Duration::from_secs(3)).expect("STATS reply");
    match protocol_v2::decode(&reply).unwrap().message {
        Message::StatsReply { pairs } => ServerStats::from_pairs(&pairs),
        other => panic!("not a STATS reply: {other:?}"),
    }
}

#[test]
fn scrapes_match_stats_on_both_engines() {
    let data = tempfile::tempdir().unwrap();
    let durable: Vec<OsString> = vec![
        "--data-dir".into(),
        data.path().join("d").into_os_string(),
        "--sync".into(),
        "always".into(),
    ];
    for (engine, options) in [("memory", Vec::new()), ("durable", durable)] {
        let (c, at) = start(&options);
        c.put_ok(&[], "a", "1");
        c.put_ok(&[], "b", "22");
        assert_eq!(c.get(&[], "a").stdout, "OK 1\n");
        c.get(&[], "missing");
        let url = format!("http://{at}/metrics");
        let out = curl(&["--include", &url]);
        assert_eq!(out.code, Some(0), "{out}");
        let (head, body) = out.stdout.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
            "{head}"
        );
        for line in [
            "# TYPE dkvs_requests_total counter",
            "# HELP dkvs_hits_total Gets answered with a value.",
            "# TYPE dkvs_keys gauge",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE dkvs_request_duration_seconds histogram",
            "# TYPE dkvs_refused_total counter",
            &format!("dkvs_engine_info{{engine=\"{engine}\"}} 1"),
        ] {
            assert!(
                body.lines().any(|l| l == line),
                "{engine}: no {line:?} in\n{body}"
            );
        }
        // Every sample has a HELP and a TYPE (a histogram's, for its
        // _bucket, _sum and _count), and names are dkvs_… (process_… for
        // the resident memory, as every exporter names it).
        let samples = samples(body);
        for (metric, _) in &samples {
            let name = family(body, metric);
            assert!(
                name.starts_with("dkvs_") || name == "process_resident_memory_bytes",
                "{name}"
            );
            assert!(body.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(body.contains(&format!("# HELP {name} ")), "{name}");
        }
        // The values are those of STATS (nothing counted moved between the
        // two: scrapes and STATS requests are not gets or puts).
        let stats = stats_of(c.addr(0));
        let value = |metric: &str| {
            samples
                .iter()
                .find(|(m, _)| m == metric)
                .map(|(_, v)| v.parse::<u64>().unwrap())
                .unwrap_or_else(|| panic!("no {metric}"))
        };
        for (metric, name) in [
            ("dkvs_requests_total{op=\"get\"}", "gets"),
            ("dkvs_requests_total{op=\"put\"}", "puts"),
            ("dkvs_hits_total", "hits"),
            ("dkvs_misses_total", "misses"),
            ("dkvs_keys", "keys"),
            ("dkvs_stored_bytes", "bytes_stored"),
        ] {
            assert_eq!(
                Some(value(metric)),
                stats.number(name),
                "{engine}: {metric}"
            );
        }
        assert_eq!(
            Some(sum(&samples, "dkvs_errors_total")),
            stats.number("errors")
        );
        assert_eq!(value("dkvs_keys"), 2);
        assert!(value("dkvs_requests_total{op=\"get\"}") >= 2);
        // The gets and puts were timed, by the receive loops or (durable
        // puts) the committer; every histogram is well formed.
        for op in ["get", "put"] {
            let count = value(&format!(
                "dkvs_request_duration_seconds_count{{op=\"{op}\"}}"
            ));
            assert!(count >= 2, "{engine}: {op} timed {count} times");
        }
        check_histograms(&samples);
        if engine == "durable" {
            assert!(value("dkvs_syncs_total") >= 1);
            assert!(body.contains("dkvs_sync_policy_info{sync_policy=\"always\"} 1"));
        }
    }
}

#[test]
fn other_paths_methods_and_garbage() {
    let (c, at) = start(&[]);
    let base = format!("http://{at}");
    assert_eq!(status(&[&format!("{base}/")]), "404");
    assert_eq!(status(&[&format!("{base}/metrics/x")]), "404");
    assert_eq!(status(&[&format!("{base}/metrics?name=x")]), "200");
    assert_eq!(status(&["-X", "POST", &format!("{base}/metrics")]), "405");
    assert_eq!(status(&["-X", "DELETE", &format!("{base}/")]), "405");
    let allow = curl(&["--include", "-X", "PUT", &format!("{base}/metrics")]);
    assert!(allow.stdout.contains("Allow: GET, HEAD\r\n"), "{allow}");
    let head = curl(&["--head", &format!("{base}/metrics")]);
    assert!(head.stdout.starts_with("HTTP/1.1 200"), "{head}");

    // Raw TCP: garbage, an oversized head, a client that sends nothing.
    let silent = TcpStream::connect(at).unwrap();
    let ask = |bytes: &[u8]| -> String {
        let mut s = TcpStream::connect(at).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(bytes);
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        String::from_utf8_lossy(&reply).into_owned()
    };
    assert!(ask(b"\x00\xff garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
    assert!(ask(b"GET /metrics HTTP/9\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "a".repeat(20_000));
    assert!(ask(huge.as_bytes()).starts_with("HTTP/1.1 431 "));
    assert!(ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 200 "));
    // A client that closes half-way gets nothing and harms nothing.
    drop(TcpStream::connect(at).unwrap().write_all(b"GET /met"));

    // 100 scrapes at once, while the silent connection is still open.
    let threads: Vec<_> = (0..100)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(at).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
                let mut reply = String::new();
                s.read_to_string(&mut reply).unwrap();
                reply.starts_with("HTTP/1.1 200 ") && reply.contains("dkvs_uptime_seconds")
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap(), "a parallel scrape failed");
    }
    drop(silent);
    // The server still serves, over UDP and HTTP.
    c.put_ok(&[], "still", "here");
    assert_eq!(status(&[&format!("{base}/metrics")]), "200");
}

#[test]
fn a_metrics_address_in_use_is_an_error() {
    let c = Cluster::new(&[1]);
    let taken = TcpListener::bind((c.ip, 0)).unwrap();
    let SocketAddr::V4(at) = taken.local_addr().unwrap() else {
        panic!("not v4")
    };
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.args(["--metrics", &at.to_string()])
        .arg(c.ip.to_string())
        .arg(c.port(0).to_string());
    let out = run(&mut cmd, RUN_LIMIT);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.error_line().contains("metrics"), "{out}");
}

/// The value of sample `metric` in a scrape of `url`, if it answered.
fn scrape_value(url: &str, metric: &str) -> Option<u64> {
    let out = curl(&[url]);
    if out.code != Some(0) {
        return None;
    }
    samples(&out.stdout)
        .into_iter()
        .find(|(m, _)| m == metric)
        .and_then(|(_, v)| v.parse().ok())
}

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");

/// The sample that counts puts.
const PUTS: &str = "dkvs_requests_total{op=\"put\"}";

/// A directory with a `cluster.toml` of two servers on `ip` (N=W=R=2),
/// server 1 with `metrics = "<at>"`, server 2 without.
fn tui_cluster_with_metrics(ip: Ipv4Addr, at: SocketAddr) -> tempfile::TempDir {
    let servers: Vec<(Ipv4Addr, u16, u32)> =
        free_ports(ip, 2).iter().map(|&p| (ip, p, 1)).collect();
    let toml = cluster_toml(&servers, "n = 2\nw = 2\nr = 2").replacen(
        "nodes = 1\n",
        &format!("nodes = 1\nmetrics = \"{at}\"\n"),
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.toml"), toml).unwrap();
    dir
}

#[test]
fn a_tui_cluster_serves_the_metrics_field_of_cluster_toml() {
    let ip = loopback_ip();
    let at = SocketAddr::V4(SocketAddrV4::new(ip, free_tcp_port(ip)));
    let dir = tui_cluster_with_metrics(ip, at);
    let log = |name: &str| Stdio::from(std::fs::File::create(dir.path().join(name)).unwrap());
    let mut cmd = clean_command(TUI, dir.path());
    cmd.arg("cluster.toml")
        .stdin(Stdio::piped())
        .stdout(log("tui.out"))
        .stderr(log("tui.err"));
    let mut procs = Procs::new();
    let tui = procs.spawn("dkvs-tui", &mut cmd);
    let mut stdin = procs.child_mut(tui).stdin.take().unwrap();
    let transcript = || {
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        format!("{}\n{}", read("tui.out"), read("tui.err"))
    };

    let url = format!("http://{at}/metrics");
    let mut before = None;
    assert!(
        eventually(Duration::from_secs(20), || {
            before = scrape_value(&url, PUTS);
            before.is_some()
        }),
        "no metrics at {url}:\n{}",
        transcript()
    );
    writeln!(stdin, "put alpha one").unwrap();
    let mut after = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            after = scrape_value(&url, PUTS);
            after > before
        }),
        "{PUTS} stayed at {before:?} after a put:\n{}",
        transcript()
    );
    assert_eq!(scrape_value(&url, "dkvs_keys"), Some(1));

    // quit stops the servers, and with them the endpoint.
    writeln!(stdin, "quit").unwrap();
    drop(stdin);
    let (status, killed) = procs.terminate_wait(tui, Duration::from_secs(10));
    assert!(!killed && status.success(), "{status:?}:\n{}", transcript());
    assert!(transcript().contains("OK"), "{}", transcript());
    assert!(
        eventually(Duration::from_secs(5), || TcpStream::connect(at).is_err()),
        "the metrics endpoint outlived dkvs-tui"
    );
}

#[test]
fn a_bad_metrics_field_is_a_configuration_error() {
    let ip = loopback_ip();
    let ports = free_ports(ip, 2);
    let dir = tempfile::tempdir().unwrap();
    // The first server's metrics is on line 4, the second's on line 9.
    for (first, second, line, what) in [
        (
            "127.0.0.1:9101",
            "127.0.0.1:9101",
            9,
            "already the metrics address of server 1",
        ),
        ("127.0.0.1:9101", "127.0.0.1", 9, "not an ADDR:PORT address"),
        (
            "localhost:9101",
            "127.0.0.1:9102",
            4,
            "not an ADDR:PORT address",
        ),
    ] {
        let toml = format!(
            "[[server]]\nip = \"{ip}\"\nport = {}\nmetrics = \"{first}\"\n\n[[server]]\nip = \"{ip}\"\nport = {}\nmetrics = \"{second}\"\n",
            ports[0], ports[1]
        );
        std::fs::write(dir.path().join("cluster.toml"), &toml).unwrap();
        for args in [&["cluster.toml"][..], &["-s", "cluster.toml", "get", "a"]] {
            let program = if args.len() == 1 { TUI } else { CLIENT };
            let mut cmd = clean_command(program, dir.path());
            cmd.args(args);
            let out = run(&mut cmd, RUN_LIMIT);
            assert_eq!(out.code, Some(3), "{toml}\n{out}");
            let error = out.error_line();
            assert!(
                error.contains(&format!("cluster.toml:{line}: field `metrics`: "))
                    && error.contains(what),
                "{toml}\n{out}"
            );
        }
    }
}

/// A `metrics` port already taken costs the scrape, not the server: a
/// server dkvs-tui spawns logs the error and serves without its endpoint
/// (a server started by hand with `--metrics` does not start, as tested
/// above).
#[test]
fn a_taken_metrics_port_costs_the_scrape_not_the_server() {
    let ip = loopback_ip();
    let taken = std::net::TcpListener::bind(SocketAddrV4::new(ip, 0)).unwrap();
    let dir = tui_cluster_with_metrics(ip, taken.local_addr().unwrap());
    let mut cmd = clean_command(TUI, dir.path());
    cmd.arg("cluster.toml");
    let out = run_with_input(
        &mut cmd,
        Stdio::from(std::fs::File::open(write_input(dir.path(), "put alpha one\nquit\n")).unwrap()),
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("OK — W=2 reached"), "{out}");
    drop(taken);
}

fn write_input(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("input");
    std::fs::write(&path, text).unwrap();
    path
}

/// Refusals are one counter with a `reason` label (one series per cause
/// the server counts), whose sum is what STATS reports as refused and
/// dropped, the kernel's drops aside.
#[test]
fn refusals_are_one_counter_by_reason() {
    // Room for one small pair; writes stamped a minute ahead are refused.
    let (c, at) = start(&["--max-memory".into(), "200".into()]);
    let s = UdpSocket::bind((c.ip, 0)).unwrap();
    let ask = |datagram: &[u8]| udp_request(&s, c.addr(0), datagram, Duration::from_secs(3));
    assert_eq!(ask(b"a\x001").as_deref(), Some(&b"\0"[..]), "stored");
    let big = [b"b\0".as_slice(), &[b'x'; 300]].concat();
    assert_eq!(ask(&big).as_deref(), Some(&b""[..]), "over --max-memory");
    assert_eq!(ask(b"a\0b\0c").as_deref(), Some(&b""[..]), "malformed");
    let ahead = dkvs::version::Version {
        timestamp: dkvs::hlc::pack(dkvs::hlc::SystemClock.now_ms() + 60_000, 0),
        writer: 1,
    };
    let put = Message::Put {
        key: b"c",
        value: b"1",
        version: ahead,
    };
    let reply = ask(&protocol_v2::encode(7, &put, None).unwrap()).expect("a reply");
    match protocol_v2::decode(&reply).unwrap().message {
        Message::Refused {
            reason: Reason::ClockAhead { .. },
        } => {}
        other => panic!("not refused for its clock: {other:?}"),
    }
    // The same refusals over protocol v2 count the same way.
    let now = dkvs::version::Version {
        timestamp: dkvs::hlc::pack(dkvs::hlc::SystemClock.now_ms(), 0),
        writer: 1,
    };
    let v2_refusal = |id: u64, message: &Message| {
        let reply = ask(&protocol_v2::encode(id, message, None).unwrap()).expect("a reply");
        match protocol_v2::decode(&reply).unwrap().message {
            Message::Refused { reason } => reason,
            other => panic!("not refused: {other:?}"),
        }
    };
    let huge = [b'x'; 300];
    let over = Message::Put {
        key: b"d",
        value: &huge,
        version: now,
    };
    assert_eq!(v2_refusal(8, &over), Reason::OutOfMemory);
    let zero = Message::Put {
        key: b"e",
        value: b"1",
        version: dkvs::version::Version::ZERO,
    };
    assert_eq!(v2_refusal(9, &zero), Reason::Malformed);

    let body = curl(&[&format!("http://{at}/metrics")]).stdout;
    let samples = samples(&body);
    let reason = |r: &str| {
        let metric = format!("dkvs_refused_total{{reason=\"{r}\"}}");
        samples
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .unwrap_or_else(|| panic!("no {metric} in\n{body}"))
    };
    assert_eq!(
        [reason("memory"), reason("malformed"), reason("clock")],
        [2, 2, 1],
        "{body}"
    );
    for r in [
        "disk",
        "not_allowed",
        "dump_denied",
        "over_budget",
        "unauthenticated",
    ] {
        assert_eq!(reason(r), 0, "{r}");
    }
    // No aggregate beside its parts, and no old per-cause metric.
    for gone in [
        "dkvs_dropped_total",
        "dkvs_malformed_total",
        "dkvs_over_memory_total",
        "dkvs_refused_clock_total",
        "dkvs_panics_total",
    ] {
        assert!(!body.contains(gone), "{gone} in\n{body}");
    }
    let stats = stats_of(c.addr(0));
    let stats_total = stats.number("refused").unwrap() + stats.number("dropped").unwrap()
        - stats.number("kernel_drops").unwrap_or(0);
    assert_eq!(sum(&samples, "dkvs_refused_total"), stats_total);
    assert_eq!(stats.number("refused"), Some(5));
}

/// A durable server's full disk is its own reason, over v1 and v2 alike.
#[test]
fn a_full_disk_is_counted_as_disk() {
    let (c, at) = start(&[
        "--data-dir".into(),
        "data".into(),
        "--max-disk".into(),
        "1KiB".into(),
    ]);
    let s = UdpSocket::bind((c.ip, 0)).unwrap();
    let ask = |datagram: &[u8]| udp_request(&s, c.addr(0), datagram, Duration::from_secs(3));
    let big = [b"b\0".as_slice(), &[b'x'; 2000]].concat();
    assert_eq!(ask(&big).as_deref(), Some(&b""[..]), "over --max-disk (v1)");
    let now = dkvs::version::Version {
        timestamp: dkvs::hlc::pack(dkvs::hlc::SystemClock.now_ms(), 0),
        writer: 1,
    };
    let huge = [b'x'; 2000];
    let put = Message::Put {
        key: b"c",
        value: &huge,
        version: now,
    };
    let reply = ask(&protocol_v2::encode(3, &put, None).unwrap()).expect("a reply");
    assert_eq!(
        protocol_v2::decode(&reply).unwrap().message,
        Message::Refused {
            reason: Reason::DiskFull
        }
    );
    let url = format!("http://{at}/metrics");
    assert_eq!(
        scrape_value(&url, "dkvs_refused_total{reason=\"disk\"}"),
        Some(2)
    );
    assert_eq!(
        scrape_value(&url, "dkvs_refused_total{reason=\"memory\"}"),
        Some(0)
    );
    assert_eq!(stats_of(c.addr(0)).number("over_disk"), Some(2));
}

/// The identifiers of a PromQL expression that name metrics: those outside
/// strings, label matchers `{…}`, ranges `[…]` and Grafana variables
/// (`$instance`, `$__rate_interval`), that are not functions (followed by
/// `(`), keywords, numbers or the labels of `by (…)` and the like.
fn promql_metrics(expr: &str) -> Vec<String> {
    // Keywords, and the aggregation operators, which may come before
    // their `by (…)` and so not be followed by `(`.
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    // The index after the group that closes with `close`, from `i` (its
    // opening character), skipping quoted strings inside.
    let skip = |mut i: usize, close: char| {
        let mut quote = None;
        i += 1;
        while i < chars.len() {
            match (quote, chars[i]) {
                (Some(_), '\\') => i += 1,
                (Some(q), c) if c == q => quote = None,
                (None, '"' | '\'' | '`') => quote = Some(chars[i]),
                (None, c) if c == close => return i + 1,
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            // A string: from here to its closing quote.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
        } else if c == '{' {
            i = skip(i, '}');
        } else if c == '[' {
            i = skip(i, ']');
        } else if c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if LABEL_LISTS.contains(&word.as_str()) {
                if call {
                    i = skip(next, ')');
                }
            } else if !call && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn promql_metric_names() {
    assert_eq!(
        promql_metrics(
            "histogram_quantile(0.99, sum by (op, le) (rate(dkvs_request_duration_seconds_bucket{instance=~\"$instance\", op!=\"}\"}[$__rate_interval])))"
        ),
        ["dkvs_request_duration_seconds_bucket"]
    );
    assert_eq!(
        promql_metrics(
            "sum(rate(a_total[5m])) by (reason) / on(instance) group_left b offset 1h > 1e3 and c"
        ),
        ["a_total", "b", "c"]
    );
    assert_eq!(
        promql_metrics("dkvs_keys{job='x'} or vector(0)"),
        ["dkvs_keys"]
    );
}

/// The sample Grafana dashboard is a dashboard (panels with PromQL
/// targets on a Prometheus data source chosen at import) whose queries
/// name only metrics a real server exposes, scraped after requests of every
/// kind so that its histograms have samples; it shows what the dashboard is
/// for: request rates, latency quantiles, refusals, keys and bytes,
/// anti-entropy and hints.
#[test]
fn the_grafana_dashboard_reads_real_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/grafana/dkvs.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let queries = dashboard_queries(&dashboard);

    // A durable server with a ring (anti-entropy, hand-off and the
    // engine's figures all present), after puts, gets, a delete, a dump
    // and a STATS request.
    let mut c = Cluster::new(&[1]);
    let at = SocketAddrV4::new(c.ip, free_tcp_port(c.ip));
    let data = c.dir.path().join("data");
    let options: Vec<OsString> = vec![
        "--metrics".into(),
        at.to_string().into(),
        "--servers".into(),
        c.config_path.clone().into_os_string(),
        "--data-dir".into(),
        data.into_os_string(),
    ];
    let options: Vec<&OsStr> = options.iter().map(OsString::as_os_str).collect();
    c.start_with_options(0, &options);
    c.put_ok(&["-n", "1", "-w", "1"], "a", "1");
    c.put_ok(&["-n", "1", "-w", "1"], "b", "2");
    assert_eq!(c.get(&["-n", "1", "-r", "1"], "a").stdout, "OK 1\n");
    c.client(&["del", "-n", "1", "-w", "1", "--", "b"])
        .assert_stdout("OK\n");
    assert_eq!(c.dump_ring(&[]).code, Some(0));
    stats_of(c.addr(0));

    let body = curl(&[&format!("http://{at}/metrics")]).stdout;
    // The same server on a redb data directory (which old directories
    // keep): the dashboard shows both engines' figures.
    c.terminate(0);
    let at_redb = SocketAddrV4::new(c.ip, free_tcp_port(c.ip));
    let redb: Vec<OsString> = vec![
        "--metrics".into(),
        at_redb.to_string().into(),
        "--data-dir".into(),
        c.dir.path().join("data-redb").into_os_string(),
        "--engine".into(),
        "redb".into(),
    ];
    let redb: Vec<&OsStr> = redb.iter().map(OsString::as_os_str).collect();
    c.start_with_options(0, &redb);
    let redb_body = curl(&[&format!("http://{at_redb}/metrics")]).stdout;
    let redb_samples = samples(&redb_body);
    let samples = samples(&body);
    let exposed: std::collections::BTreeSet<&str> = samples
        .iter()
        .chain(&redb_samples)
        .map(|(m, _)| m.split('{').next().unwrap())
        .collect();
    for engine in ["log", "redb"] {
        let info = format!("dkvs_durable_engine_info{{durable_engine=\"{engine}\"}} 1");
        assert!(format!("{body}{redb_body}").contains(&info), "{info}");
    }
    for op in ["get", "put", "delete", "dump", "stats"] {
        let count = format!("dkvs_request_duration_seconds_count{{op=\"{op}\"}}");
        let n = samples
            .iter()
            .find(|(m, _)| *m == count)
            .map(|(_, v)| v.as_str());
        assert!(n.is_some_and(|n| n != "0"), "{count}: {n:?}\n{body}");
    }
    check_histograms(&samples);

    let mut used = std::collections::BTreeSet::new();
    for (title, expr) in &queries {
        let names = promql_metrics(expr);
        assert!(!names.is_empty(), "{title}: no metric in {expr:?}");
        for name in names {
            assert!(
                exposed.contains(name.as_str()),
                "{title}: {name} (in {expr:?}) is not a metric dkvs-server exposes; it has {exposed:?}"
            );
            used.insert(name);
        }
    }
    for wanted in [
        "dkvs_requests_total",
        "dkvs_request_duration_seconds_bucket",
        "dkvs_refused_total",
        "dkvs_keys",
        "dkvs_stored_bytes",
        "dkvs_ae_rounds_total",
        "dkvs_ae_divergent_buckets",
        "dkvs_hints_pending",
    ] {
        assert!(
            used.contains(wanted),
            "the dashboard does not show {wanted}"
        );
    }
    check_metrics_md(&format!("{body}{redb_body}"), &exposed);
    let quantiles = queries
        .iter()
        .filter(|(_, e)| {
            e.contains("histogram_quantile(0.5,") || e.contains("histogram_quantile(0.99,")
        })
        .count();
    assert!(quantiles >= 2, "no p50 and p99 panels");
}

/// Every PromQL query of a Grafana dashboard, with its panel's title,
/// after checking the dashboard's shape: a title and uid, panels with a
/// type, a grid position and targets on the `$datasource` variable, and
/// template variables whose `label_values(metric, label)` queries are
/// returned as the metric.
fn dashboard_queries(d: &serde_json::Value) -> Vec<(String, String)> {
    for field in ["title", "uid"] {
        assert!(d[field].as_str().is_some_and(|s| !s.is_empty()), "{field}");
    }
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let mut queries = Vec::new();
    let mut panels: Vec<&serde_json::Value> =
        d["panels"].as_array().expect("panels").iter().collect();
    // Panels inside collapsed rows.
    let nested: Vec<&serde_json::Value> = panels
        .iter()
        .filter_map(|p| p["panels"].as_array())
        .flatten()
        .collect();
    panels.extend(nested);
    let mut ids = std::collections::BTreeSet::new();
    for p in &panels {
        let title = p["title"].as_str().expect("a panel title").to_string();
        assert!(p["type"].as_str().is_some(), "{title}: no type");
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].as_u64().is_some(), "{title}: gridPos.{k}");
        }
        assert!(
            ids.insert(p["id"].as_u64().expect("a panel id")),
            "{title}: id"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no target");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            assert!(t["refId"].as_str().is_some(), "{title}: refId");
            let expr = t["expr"].as_str().expect("expr");
            queries.push((title.clone(), expr.to_string()));
        }
    }
    assert!(panels.len() >= 10, "only {} panels", panels.len());
    for v in d["templating"]["list"].as_array().expect("templating") {
        if v["type"] == "query" {
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .expect("a query");
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .expect("label_values(metric, label)");
            let metric = inner.split(',').next().unwrap().trim();
            queries.push((format!("variable {}", v["name"]), metric.to_string()));
        }
    }
    queries
}

/// `docs/METRICS.md` lists every metric a real server exposes (`body`),
/// none other, each with its type; its PromQL examples read only exposed
/// metrics (`exposed`).
fn check_metrics_md(body: &str, exposed: &std::collections::BTreeSet<&str>) {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/METRICS.md")).unwrap();
    let table = doc
        .split("## Every metric")
        .nth(1)
        .and_then(|t| t.split("\n#").next())
        .expect("a section \"Every metric\"");
    let rows: std::collections::BTreeMap<&str, &str> = table
        .lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix("| `")?.split(" | ");
            let name = cells.next()?.strip_suffix('`')?;
            Some((name, cells.next()?))
        })
        .collect();
    let types: std::collections::BTreeMap<&str, &str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        types.keys().collect::<Vec<_>>(),
        "docs/METRICS.md's table against a scrape"
    );
    for (name, kind) in &types {
        assert!(
            rows[name].starts_with(kind),
            "docs/METRICS.md: {name} is a {kind}, not {}",
            rows[name]
        );
    }
    let mut blocks = doc.split("```promql\n").skip(1).peekable();
    assert!(blocks.peek().is_some(), "no PromQL examples");
    for block in blocks {
        for expr in block.split("```").next().unwrap().lines() {
            for name in promql_metrics(expr) {
                assert!(
                    exposed.contains(name.as_str()),
                    "docs/METRICS.md: {name} in {expr:?}"
                );
            }
        }
    }
}
