//! The full-screen `dkvs-tui` through a real terminal (tmux), for what
//! issue 9 added to the screen: the ops/s sparklines of the server list
//! (fed by the servers' STATS counters) and the selected server's log in
//! the big pane.
//!
//! Scenario: five servers on a private loopback address come up; puts to
//! all five show a bar on every row; a load of 100 puts a second on server
//! 1 (`dkvs-bench --rate 100`) reads about 100 ops/s on its row and 0 on
//! the others (the screen's own probes are not operations); `Tab 2 l` shows server 2's log (its
//! info line `serving addr=…`, logged with a timestamp); `k` kills it: its
//! row shows `—` for ops/s while its log stays readable; `S` starts it
//! again: a second spawn marker and a new `serving` line; F4 gives the big
//! pane back to the results; `q` quits and every server is gone.
//!
//! Without tmux the test prints a notice and passes.

use std::fs;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::common::tmux::{Tmux, tmux_available};
use crate::common::{clean_command, cluster_toml, free_ports, loopback_ip, wait_bounded};

const BIN: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const BENCH: &str = env!("CARGO_BIN_EXE_dkvs-bench");
const EXITED: &str = "DKVS_TUI_EXITED";

/// The server list's row of `ip:port`, as shown (the part between the
/// list's borders).
fn row(screen: &str, ip: Ipv4Addr, port: u16) -> Option<String> {
    let addr = format!("{ip}:{port} ");
    screen.lines().find_map(|l| {
        let pane = l.split('│').nth(3)?;
        (pane.contains(&addr) && (pane.contains("● up") || pane.contains("✖ down")))
            .then(|| pane.to_string())
    })
}

/// The ops/s figure at the end of a row.
fn rate(row: &str) -> Option<u64> {
    row.split_whitespace().last()?.parse().ok()
}

/// The pid column of a row.
fn pid(row: &str) -> Option<u32> {
    let cols: Vec<&str> = row.split_whitespace().collect();
    let i = cols.iter().position(|c| c.contains(':'))?;
    cols.get(i + 2)?.parse().ok()
}

fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            != Some("Z")
    })
}

#[test]
fn sparklines_and_the_selected_servers_log() {
    if !tmux_available() {
        eprintln!("NOTICE: tmux not found: skipping the dkvs-tui log test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = loopback_ip();
    let ports = free_ports(ip, 5);
    let servers: Vec<(Ipv4Addr, u16, u32)> = ports
        .iter()
        .zip([3, 2, 2, 1, 1])
        .map(|(&p, n)| (ip, p, n))
        .collect();
    let toml = dir.path().join("cluster.toml");
    fs::write(
        &toml,
        cluster_toml(&servers, "n = 5\nw = 2\nr = 2\ntimeout_ms = 800"),
    )
    .unwrap();
    let t = Tmux::start(
        "logs",
        &format!(
            "env -u DKVS_LOG -u RUST_LOG -u NO_COLOR '{BIN}' '{}'; echo \"{EXITED} $?\"; sleep 60",
            toml.display()
        ),
    );
    let all_up = |s: &str| {
        ports
            .iter()
            .all(|&p| row(s, ip, p).is_some_and(|r| r.contains("● up")))
    };
    let screen = t.wait_for("all five servers up", 30, all_up);
    let pids: Vec<u32> = ports
        .iter()
        .filter_map(|&p| row(&screen, ip, p).as_deref().and_then(pid))
        .collect();
    assert_eq!(pids.len(), 5, "{screen}");

    // Puts reaching all five servers: a bar on every row within seconds.
    for i in 0..5 {
        t.type_line(&format!("put k{i} v n=5 w=5"));
    }
    t.wait_for("an ops/s bar on every row", 15, |s| {
        ports
            .iter()
            .all(|&p| row(s, ip, p).is_some_and(|r| r.chars().any(|c| ('▂'..='█').contains(&c))))
    });

    // 100 puts a second on server 1 alone, for three seconds.
    let mut bench = clean_command(BENCH, dir.path())
        .args(["--server", &format!("{ip}:{}", ports[0])])
        .args(["--rate", "100", "-d", "3", "--mix", "put"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dkvs-bench");
    // The other rows may still show the last second of the puts above
    // when server 1's rate first appears: wait for both, within the
    // bench's three seconds.
    t.wait_for("about 100 ops/s on server 1, 0 on the idle ones", 10, |s| {
        let busy = row(s, ip, ports[0])
            .and_then(|r| rate(&r))
            .is_some_and(|r| (80..=120).contains(&r));
        let idle = ports[1..]
            .iter()
            .all(|&p| row(s, ip, p).and_then(|r| rate(&r)) == Some(0));
        busy && idle
    });
    let (status, timed_out) = wait_bounded(&mut bench, Duration::from_secs(15));
    assert!(status.success() && !timed_out, "dkvs-bench failed");

    // Server 2's log in the big pane: its timestamped info line.
    t.keys(&["Tab"]);
    t.keys(&["2"]);
    t.keys(&["l"]);
    let title = format!("Log of 2 :{} · F4 results", ports[1]);
    let serving = format!("INFO serving addr={ip}:{}", ports[1]);
    let screen = t.wait_for("server 2's log", 10, |s| {
        s.contains(&title) && s.contains(&serving)
    });
    let line = screen.lines().find(|l| l.contains(&serving)).unwrap();
    let stamp = line.split('│').nth(3).unwrap_or("").trim_start();
    assert!(
        stamp.len() > 12 && stamp.as_bytes()[2] == b':' && stamp.as_bytes()[8] == b'.',
        "a time of day with milliseconds starts the line: {line}"
    );

    // Killed: `—` for its rate (and its pid), its log still shown.
    t.keys(&["k"]);
    let screen = t.wait_for("server 2 down with no rate", 15, |s| {
        row(s, ip, ports[1]).is_some_and(|r| r.contains("✖ down") && r.matches('—').count() >= 2)
            && s.contains(&serving)
    });
    assert!(!alive(pids[1]), "{screen}");

    // Started again: a second spawn marker and a second serving line.
    t.keys(&["S"]);
    t.wait_for("server 2's second run in its log", 15, |s| {
        s.matches("── dkvs-tui: spawned pid").count() == 2 && s.matches(&serving).count() == 2
    });

    // F4: the results are back in the big pane, the log small again.
    t.keys(&["F4"]);
    let small = format!("Log of 2 :{} ─", ports[1]);
    t.wait_for("the results in the big pane", 10, |s| {
        s.contains("┌ Results") && s.contains(&small) && !s.contains(&title)
    });

    let screen = t.capture();
    let restarted = row(&screen, ip, ports[1]).as_deref().and_then(pid);
    t.keys(&["q"]);
    t.wait_for("dkvs-tui to exit", 20, |s| {
        s.lines().any(|l| l.starts_with(&format!("{EXITED} 0")))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let all: Vec<u32> = pids.iter().copied().chain(restarted).collect();
    while all.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "servers left running: {all:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
