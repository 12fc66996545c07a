//! `dkvs-bench` against real servers on random loopback addresses, with
//! tiny runs: the shape of its text and JSON reports, that its counts add
//! up, errors when nothing listens, and usage errors.

use crate::common::*;

use std::time::Duration;

const BENCH: &str = env!("CARGO_BIN_EXE_dkvs-bench");

fn bench(cluster: &Cluster, args: &[&str]) -> Output {
    let mut cmd = clean_command(BENCH, cluster.dir.path());
    cmd.args(args);
    run(&mut cmd, RUN_LIMIT)
}

/// The number after `"name":` in a one-line JSON object.
fn field(json: &str, name: &str) -> f64 {
    let pat = format!("\"{name}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        + pat.len();
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{name} not a number in {json}"))
}

#[test]
fn direct_fill_then_gets_all_hit_and_counts_add_up() {
    let mut cluster = Cluster::new(&[1]);
    cluster.start_all();
    let addr = cluster.addr(0).to_string();
    let fill = bench(
        &cluster,
        &[
            "--server", &addr, "--fill", "--keys", "200", "-c", "4", "--json",
        ],
    );
    assert_eq!(fill.code, Some(0), "{fill}");
    assert_eq!(field(&fill.stdout, "stored"), 200.0, "{fill}");
    assert_eq!(field(&fill.stdout, "operations"), 200.0);
    let gets = bench(
        &cluster,
        &[
            "--server",
            &addr,
            "--keys",
            "200",
            "--mix",
            "get",
            "-c",
            "8",
            "--requests",
            "500",
            "--json",
        ],
    );
    assert_eq!(gets.code, Some(0), "{gets}");
    let json = gets.stdout.trim();
    assert!(
        json.starts_with('{') && json.ends_with('}') && !json.contains('\n'),
        "{json}"
    );
    assert_eq!(field(json, "operations"), 500.0);
    assert_eq!(field(json, "hits"), 500.0, "every key was filled: {json}");
    assert_eq!(
        field(json, "timeouts") + field(json, "errors") + field(json, "misses"),
        0.0
    );
    let p50 = field(json, "p50");
    let p99 = field(json, "p99");
    let max = field(json, "max");
    assert!(p50 >= 1.0 && p50 <= p99 && p99 <= max, "{json}");
    assert!(field(json, "ops_per_sec") > 0.0);
    // The fill went into the server: a get through the client sees it.
    cluster
        .get(&["-n", "1", "-r", "1"], "key:000000000199")
        .assert_stdout(&format!(
            "OK {}\n",
            String::from_utf8(dkvs::bench::value_of(100)).unwrap()
        ));
}

#[test]
fn text_report_has_every_line_and_no_progress_when_piped() {
    let mut cluster = Cluster::new(&[1]);
    cluster.start_all();
    let addr = cluster.addr(0).to_string();
    let out = bench(
        &cluster,
        &[
            "--server",
            &addr,
            "-c",
            "2",
            "-d",
            "0.3",
            "--dist",
            "zipf:1.1",
            "--value-size",
            "16",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let heads: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        heads,
        [
            "target",
            "workload",
            "operations",
            "throughput",
            "latency",
            "failures"
        ],
        "{out}"
    );
    assert!(
        out.stdout
            .contains("zipf:1.1, 16-byte values, 50% gets, 2 in flight"),
        "{out}"
    );
    assert!(
        out.stdout.contains("p50 ") && out.stdout.contains("p99.9 ") && out.stdout.contains("max ")
    );
    assert!(out.stdout.contains("0 timeouts, 0 errors"), "{out}");
    assert_eq!(out.stderr, "", "no progress line on a pipe");
    assert!(out.elapsed < Duration::from_secs(5));
}

#[test]
fn ring_quorum_operations() {
    let mut cluster = Cluster::new(&[2, 2, 2]);
    cluster.start_all();
    let config = cluster.config_path.to_str().unwrap().to_string();
    let out = bench(
        &cluster,
        &[
            "-s",
            &config,
            "-n",
            "3",
            "-w",
            "2",
            "-r",
            "2",
            "--keys",
            "50",
            "--requests",
            "200",
            "-c",
            "4",
            "--get-ratio",
            "0.5",
            "--json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let json = out.stdout.trim();
    assert!(json.contains("quorum N=3 W=2 R=2"), "{json}");
    assert_eq!(field(json, "operations"), 200.0);
    // With v2 servers a get that meets a concurrent put of its key
    // ({newer, older, older}) fails by the version-aware read rule rather
    // than return the older value (PROTOCOL.md, "Read rule"): an error, rare.
    let errors = field(json, "errors");
    assert_eq!(
        field(json, "hits") + field(json, "misses") + field(json, "stored") + errors,
        200.0,
        "{json}"
    );
    assert!(errors <= 20.0, "{json}");
    assert!(field(json, "stored") > 0.0);
}

#[test]
fn server_down_is_errors_and_exit_5() {
    let cluster = Cluster::new(&[1]);
    // Nothing was started: the address refuses (ICMP port unreachable).
    let addr = cluster.addr(0).to_string();
    let out = bench(
        &cluster,
        &["--server", &addr, "--requests", "20", "-t", "200", "--json"],
    );
    assert_eq!(out.code, Some(5), "{out}");
    let json = out.stdout.trim();
    assert_eq!(field(json, "completed"), 0.0);
    assert_eq!(
        field(json, "timeouts") + field(json, "errors"),
        20.0,
        "{json}"
    );
    assert!(
        out.stderr.starts_with("ERROR: no operation succeeded"),
        "{out}"
    );
}

#[test]
fn ring_down_is_timeouts() {
    let cluster = Cluster::new(&[1, 1, 1]);
    let config = cluster.config_path.to_str().unwrap().to_string();
    let out = bench(
        &cluster,
        &["-s", &config, "--requests", "3", "-t", "100", "--json"],
    );
    assert_eq!(out.code, Some(5), "{out}");
    assert_eq!(field(out.stdout.trim(), "timeouts"), 3.0, "{out}");
}

#[test]
fn usage_errors_exit_2() {
    let cluster = Cluster::new(&[1]);
    for args in [
        &["--server", "nowhere"][..],
        &["--server", "127.0.0.1:1", "--dist", "normal"],
        &["--server", "127.0.0.1:1", "--get-ratio", "1.5"],
        &["--server", "127.0.0.1:1", "--mix", "x"],
        &["--server", "127.0.0.1:1", "-c", "0"],
        &["--server", "127.0.0.1:1", "--value-size", "40000"],
        &["--server", "127.0.0.1:1", "-d", "1", "--requests", "5"],
        &["--server", "127.0.0.1:1", "--bogus"],
        &[
            "--server",
            "127.0.0.1:1",
            "--dist",
            "zipf",
            "--keys",
            "20000000",
        ],
    ] {
        let out = bench(&cluster, args);
        assert_eq!(out.code, Some(2), "{args:?}: {out}");
        assert!(out.stderr.starts_with("ERROR: "), "{args:?}: {out}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
    let config = cluster.config_path.to_str().unwrap().to_string();
    let out = bench(
        &cluster,
        &["-s", &config, "-n", "1", "-w", "3", "--requests", "1"],
    );
    assert_eq!(out.code, Some(2), "quorum larger than N: {out}");
    let out = bench(
        &cluster,
        &["-s", "/nonexistent/servers.txt", "--requests", "1"],
    );
    assert_eq!(out.code, Some(3), "{out}");
}

#[test]
fn progress_line_on_a_terminal() {
    if !crate::common::tmux::tmux_available() {
        eprintln!("tmux missing: skipped (.ci/run installs it)");
        assert!(std::env::var_os("CI").is_none(), "CI must have tmux");
        return;
    }
    let mut cluster = Cluster::new(&[1]);
    cluster.start_all();
    let addr = cluster.addr(0).to_string();
    // The pane runs the bench on a real terminal; its exit is marked so the
    // test sees the whole run.
    let t = crate::common::tmux::Tmux::start(
        "bench",
        &format!("'{BENCH}' --server {addr} -c 2 -d 2.5; echo BENCH_EXITED $?; sleep 30"),
    );
    let during = t.wait_for("a progress line", 10, |s| s.contains("ops/s  p50"));
    assert!(during.contains(" ops "), "{during}");
    let after = t.wait_for("the end of the run", 15, |s| s.contains("BENCH_EXITED"));
    assert!(after.contains("BENCH_EXITED 0"), "{after}");
    assert!(after.contains("throughput"), "{after}");
}

#[test]
fn open_loop_rate_paces_the_requests() {
    let mut cluster = Cluster::new(&[1]);
    cluster.start_all();
    let addr = cluster.addr(0).to_string();
    // 200 ops/s for 1 s: an open loop sends on schedule, not as fast as it
    // can, so the count is close to rate × duration (generous bounds: this
    // machine is shared).
    let out = bench(
        &cluster,
        &[
            "--server", &addr, "--rate", "200", "-d", "1", "-c", "4", "--json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let ops = field(&out.stdout, "operations");
    assert!(
        (120.0..=260.0).contains(&ops),
        "{ops} operations at 200/s for 1 s: {out}"
    );
}
