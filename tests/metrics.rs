//! `dkvs-server --metrics ADDR:PORT` (issue 9, item 3), scraped with curl
//! (`/usr/bin/curl`; CI installs it) and raw TCP, real processes on random
//! loopback addresses:
//!
//! - `GET /metrics` on both engines: 200, the 0.0.4 content type, `# HELP`
//!   and `# TYPE` lines, and values equal to the server's STATS reply;
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
use dkvs::protocol_v2::{self, Message};
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
            "# TYPE dkvs_gets_total counter",
            "# HELP dkvs_gets_total Get requests (v1 and v2).",
            "# TYPE dkvs_keys gauge",
            "# TYPE dkvs_memory_rss_bytes gauge",
            &format!("dkvs_engine_info{{engine=\"{engine}\"}} 1"),
        ] {
            assert!(
                body.lines().any(|l| l == line),
                "{engine}: no {line:?} in\n{body}"
            );
        }
        // Every sample has a HELP and a TYPE, and names are dkvs_….
        let samples = samples(body);
        for (metric, _) in &samples {
            let name = metric.split('{').next().unwrap();
            assert!(name.starts_with("dkvs_"), "{name}");
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
            ("dkvs_gets_total", "gets"),
            ("dkvs_puts_total", "puts"),
            ("dkvs_hits_total", "hits"),
            ("dkvs_misses_total", "misses"),
            ("dkvs_keys", "keys"),
            ("dkvs_bytes_stored", "bytes_stored"),
            ("dkvs_errors_total", "errors"),
        ] {
            assert_eq!(
                Some(value(metric)),
                stats.number(name),
                "{engine}: {metric}"
            );
        }
        assert_eq!(value("dkvs_keys"), 2);
        assert!(value("dkvs_gets_total") >= 2);
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
            before = scrape_value(&url, "dkvs_puts_total");
            before.is_some()
        }),
        "no metrics at {url}:\n{}",
        transcript()
    );
    writeln!(stdin, "put alpha one").unwrap();
    let mut after = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            after = scrape_value(&url, "dkvs_puts_total");
            after > before
        }),
        "dkvs_puts_total stayed at {before:?} after a put:\n{}",
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
