//! End-to-end tests of the full-screen `dkvs-tui` through a real terminal:
//! tmux runs the program on a temporary five-server cluster (a random
//! 127.X.Y.Z address, free UDP ports), the test types into it with
//! `send-keys` and reads the screen with `capture-pane`.
//!
//! Covered: the scenario (`put a b n=4 w=3` shows every server's
//! answer and `OK`; killing a server that holds `a` from the server list
//! shows it down in the list and on the ring; `get a` still answers `OK b`;
//! `quit` stops every spawned server and leaves a sane terminal), a panic in
//! the UI (test-only trigger) and SIGTERM, both of which must also restore
//! the terminal and stop the children.
//!
//! Every tmux session lives on its own tmux server (`-L`), killed by a Drop
//! guard. Without tmux the tests print a notice and pass.

use std::fs;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::tmux::{Tmux, tmux_available};

const BIN: &str = env!("CARGO_BIN_EXE_dkvs-tui");
/// Printed by the pane's shell once dkvs-tui has exited.
const EXITED: &str = "DKVS_TUI_EXITED";

/// A loopback address of our own so parallel tests never share ports:
/// 127.X.Y.Z from the pid, the clock and a per-test salt.
fn unique_ip(salt: u8) -> Ipv4Addr {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let pid = std::process::id();
    let mix = nanos ^ pid.rotate_left(13) ^ (u32::from(salt) << 7);
    Ipv4Addr::new(
        127,
        (mix % 200 + 20) as u8,
        ((mix >> 8) % 250 + 1) as u8,
        ((mix >> 16) % 250 + 2) as u8,
    )
}

/// `count` UDP ports that are free on `ip` right now.
fn free_ports(ip: Ipv4Addr, count: usize) -> Vec<u16> {
    let sockets: Vec<UdpSocket> = (0..count)
        .map(|_| UdpSocket::bind((ip, 0)).expect("bind a loopback address"))
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// A cluster.toml of five servers (3, 2, 2, 1, 1 nodes) on `ip`.
fn write_cluster(dir: &Path, ip: Ipv4Addr) -> (std::path::PathBuf, Vec<u16>) {
    let ports = free_ports(ip, 5);
    let mut text = String::from("[defaults]\nn = 3\nw = 2\nr = 2\ntimeout_ms = 800\n");
    for (port, nodes) in ports.iter().zip([3, 2, 2, 1, 1]) {
        text.push_str(&format!(
            "\n[[server]]\nip = \"{ip}\"\nport = {port}\nnodes = {nodes}\n"
        ));
    }
    let path = dir.join("cluster.toml");
    fs::write(&path, text).unwrap();
    (path, ports)
}

/// The shell command run in the pane: dkvs-tui, then the exit status and
/// the terminal's line discipline (to prove raw mode was left), then a wait
/// so the pane stays readable.
fn pane_command(env: &str, toml: &Path) -> String {
    format!(
        "{env} '{BIN}' '{}'; echo \"{EXITED} $?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -e '-\\?icanon' -e '-\\?echo' | tr '\\n' ' '; echo; sleep 60",
        toml.display()
    )
}

/// The row of server `n` (1-based) in the server list.
fn server_row(screen: &str, n: usize) -> Option<&str> {
    screen.lines().find(|l| {
        l.split('│')
            .nth(3)
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('▶').or(Some(rest)))
            .map(str::trim_start)
            .is_some_and(|rest| rest.starts_with(&format!("{n}  ")))
    })
}

/// The pids shown in the server list, in server order.
fn listed_pids(screen: &str) -> Vec<u32> {
    (1..=5)
        .filter_map(|n| {
            let row = server_row(screen, n)?;
            let cols: Vec<&str> = row.split('│').nth(3)?.split_whitespace().collect();
            // [▶] n address vn pid state…
            let i = cols.iter().position(|c| c.contains(':'))?;
            cols.get(i + 2)?.parse().ok()
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // A zombie is dead for our purpose.
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            state != Some("Z")
        }
        Err(_) => false,
    }
}

fn wait_all_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "spawned servers still running: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn all_up(screen: &str) -> bool {
    (1..=5).all(|n| server_row(screen, n).is_some_and(|r| r.contains("● up")))
}

/// After dkvs-tui exited: the exit line is there, the main screen is back
/// and the terminal is in cooked mode with echo.
fn check_restored(t: &Tmux, want_status: &str) -> String {
    let screen = t.wait_for("the exit line", 20, |s| {
        s.lines().any(|l| l.starts_with(EXITED)) && s.contains("icanon")
    });
    let line = screen.lines().find(|l| l.starts_with(EXITED)).unwrap();
    assert_eq!(line.trim(), format!("{EXITED} {want_status}"), "{screen}");
    assert!(
        !t.alternate_on(),
        "still on the alternate screen:\n{screen}"
    );
    let modes = screen
        .lines()
        .find(|l| l.contains("icanon"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert!(modes.contains(&"icanon"), "raw mode left on: {modes:?}");
    assert!(modes.contains(&"echo"), "echo left off: {modes:?}");
    // No trace of the UI on the main screen.
    assert!(!screen.contains("┌ Ring"), "{screen}");
    screen
}

#[test]
fn put_kill_get_quit() {
    if !tmux_available() {
        eprintln!("NOTICE: tmux not found: skipping the dkvs-tui terminal test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip(1);
    let (toml, ports) = write_cluster(dir.path(), ip);
    let t = Tmux::start("scenario", &pane_command("", &toml));

    let screen = t.wait_for("all five servers up", 30, all_up);
    assert!(t.alternate_on());
    let pids = listed_pids(&screen);
    assert_eq!(pids.len(), 5, "pids from the list:\n{screen}");
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");

    // The REPL line has the focus at start: type at once.
    t.type_line("put a b n=4 w=3");
    let screen = t.wait_for("the put's verdict", 15, |s| {
        s.lines().any(|l| l.contains("│OK — W=3 reached"))
    });
    let trace: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains(&format!("] {ip}:")))
        .collect();
    assert_eq!(trace.len(), 4, "one line per contacted server:\n{screen}");
    let stored = trace.iter().filter(|l| l.contains("stored")).count();
    assert!(stored >= 3, "W=3 servers stored the value:\n{screen}");
    // The first server of the preference list holds `a`.
    let first = trace[0];
    let n: usize = first
        .split('[')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .and_then(|d| d.parse().ok())
        .expect("server number in the trace line");
    assert!(first.contains(&format!("{ip}:{}", ports[n - 1])), "{first}");

    // Kill it from the server list: Tab, its number, k.
    let started = Instant::now();
    t.keys(&["Tab"]);
    t.keys(&[&n.to_string()]);
    t.keys(&["k"]);
    // Down in the list, and on the ring: the legend shows ✖n and the
    // circle ✖ glyphs. Waited for as a whole, since tmux may show a frame
    // that is still being written.
    let ring_marked = |s: &str| {
        let ring = ring_pane(s);
        ring.contains(&format!("✖{n}:")) && ring.matches('✖').count() >= 2
    };
    let screen = t.wait_for("the killed server shown down", 10, |s| {
        server_row(s, n).is_some_and(|r| r.contains("✖ down")) && ring_marked(s)
    });
    eprintln!(
        "kill → shown down after {} ms (send-keys, SIGKILL, reap, redraw, capture)",
        started.elapsed().as_millis()
    );
    assert!(ring_marked(&screen), "ring:\n{}", ring_pane(&screen));
    assert!(!alive(pids[n - 1]), "the killed server is gone");

    // Back to the REPL; the read still succeeds.
    t.keys(&["Tab"]);
    t.type_line("get a");
    t.wait_for("get a → OK b", 15, |s| {
        s.lines().any(|l| l.contains("│OK b"))
    });

    // Resizing: down to the minimum, below it, and back.
    t.tmux(&["resize-window", "-t", &t.session, "-x", "80", "-y", "24"]);
    t.wait_for("the 80×24 layout", 10, |s| {
        s.lines().count() <= 24 && s.contains("┌ Ring") && s.contains("Servers")
    });
    t.tmux(&["resize-window", "-t", &t.session, "-x", "70", "-y", "20"]);
    t.wait_for("the too-small message", 10, |s| {
        s.contains("terminal too small (need 80×24)")
    });
    t.tmux(&["resize-window", "-t", &t.session, "-x", "120", "-y", "40"]);
    t.wait_for("the full layout again", 10, |s| {
        s.lines().any(|l| l.contains("│OK b"))
    });

    // Help opens and closes without disturbing anything.
    t.keys(&["F1"]);
    t.wait_for("help", 5, |s| s.contains("Help · Esc closes"));
    t.keys(&["Escape"]);
    t.wait_for("help closed", 5, |s| !s.contains("Help · Esc closes"));

    t.type_line("quit");
    check_restored(&t, "0");
    wait_all_gone(&pids);
}

#[test]
fn panic_restores_terminal_and_stops_servers() {
    if !tmux_available() {
        eprintln!("NOTICE: tmux not found: skipping the dkvs-tui panic test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (toml, _) = write_cluster(dir.path(), unique_ip(2));
    let t = Tmux::start(
        "panic",
        &pane_command("DKVS_TUI_TEST_PANIC=1 RUST_BACKTRACE=0", &toml),
    );
    let screen = t.wait_for("all five servers up", 30, all_up);
    let pids = listed_pids(&screen);
    assert_eq!(pids.len(), 5, "{screen}");
    t.type_line("__panic");
    let screen = check_restored(&t, "101");
    assert!(
        screen.contains("test-only panic"),
        "the panic message is readable:\n{screen}"
    );
    wait_all_gone(&pids);
}

#[test]
fn sigterm_restores_terminal_and_stops_servers() {
    if !tmux_available() {
        eprintln!("NOTICE: tmux not found: skipping the dkvs-tui SIGTERM test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (toml, _) = write_cluster(dir.path(), unique_ip(3));
    let t = Tmux::start("sigterm", &pane_command("", &toml));
    let screen = t.wait_for("all five servers up", 30, all_up);
    let pids = listed_pids(&screen);
    assert_eq!(pids.len(), 5, "{screen}");
    // dkvs-tui is the pane shell's child.
    let shell = t.pane_pid();
    let out = Command::new("pgrep")
        .args(["-P", &shell.to_string()])
        .output()
        .expect("pgrep");
    let tui: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| !pids.contains(p))
        .collect();
    assert_eq!(tui.len(), 1, "the dkvs-tui process: {tui:?}");
    let status = Command::new("kill")
        .args(["-TERM", &tui[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    check_restored(&t, "0");
    wait_all_gone(&pids);
}

/// The ring pane of a captured screen: the top-left box, as wide as its
/// first line's `┐`.
fn ring_pane(screen: &str) -> String {
    let width = screen
        .lines()
        .next()
        .and_then(|l| l.chars().position(|c| c == '┐'))
        .map_or(43, |p| p + 1);
    screen
        .lines()
        .map(|l| l.chars().take(width).collect::<String>() + "\n")
        .collect()
}
