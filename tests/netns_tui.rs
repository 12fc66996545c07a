//! `dkvs-tui` in namespaces mode (issue 19), end to end: a cluster.toml
//! with `[cluster] network = "namespaces"`, the line shell driven line by
//! line: `partition` with the client on one side then the other, writes
//! on both sides, `heal`, and the watch reporting `in sync`; the last
//! values read back, `dkvs-client` and `dkvs-dump-ring` reaching the
//! hosts, and nothing left behind after `quit`, SIGTERM or a SIGKILL of
//! the manager (the next start removes it). Without root the same file
//! runs on loopback with a note. Skipped, with the reason, where
//! namespaces cannot be made.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::common::*;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");
/// Keys written on both sides of the split.
const KEYS: usize = 8;
/// How long `heal` may take to converge (hints at once, anti-entropy
/// every 10 s by default).
const CONVERGE_LIMIT: Duration = Duration::from_secs(40);

fn skip() -> bool {
    netns_skip("netns tui test")
}

/// A subnet octet no interface uses now, different for each test of this
/// process (the netns crate's own picks start from the PID elsewhere).
pub fn free_octet() -> u8 {
    static NEXT: AtomicU8 = AtomicU8::new(0);
    let out = Command::new("ip")
        .args(["-o", "-4", "addr"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // Half the range away from where this process's in-process `Hosts`
    // start looking (at the PID), so the two rarely meet.
    let start = (std::process::id() % 254 + 127) % 254;
    for _ in 0..254 {
        let k = u32::from(NEXT.fetch_add(1, Ordering::SeqCst));
        let octet = ((start + k) % 254 + 1) as u8;
        if !text.contains(&format!(" 10.{octet}.")) {
            return octet;
        }
    }
    panic!("no free 10.<n>.0.0/24 subnet:\n{text}");
}

fn namespaces_toml(octet: u8, servers: usize) -> String {
    let mut t = format!("[cluster]\nnetwork = \"namespaces\"\nsubnet = \"10.{octet}.0.0/24\"\n");
    for i in 0..servers {
        t.push_str(&format!(
            "\n[[server]]\nport = 7000\nnodes = {}\n",
            1 + (i % 2)
        ));
    }
    t
}

/// The namespaces and root-namespace links the process `pid` made.
fn leftovers(pid: u32) -> Vec<String> {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let b36 = base36(pid);
    let mut found: Vec<String> = String::from_utf8_lossy(&ns.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("dkvs-{pid}-")))
        .map(str::to_string)
        .collect();
    found.extend(
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter(|l| l.contains(&format!("dkvb{b36}-")) || l.contains(&format!("dkvh{b36}-")))
            .map(str::to_string),
    );
    found
}

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// A running `dkvs-tui --shell` fed line by line; stdout and stderr lines
/// arrive on one channel, tagged.
struct Shell {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(bool, String)>,
    seen: Vec<String>,
}

impl Shell {
    fn start(dir: &Path) -> Shell {
        let mut cmd = clean_command(TUI, dir);
        cmd.args(["cluster.toml", "--shell"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (tx, rx) = channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        for (is_err, pipe) in [
            (false, Box::new(out) as Box<dyn std::io::Read + Send>),
            (true, Box::new(err)),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send((is_err, line)).is_err() {
                        return;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Shell {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until a line containing `text` arrives (after those already
    /// seen), and takes it; panics with everything seen after `limit`.
    fn wait_for(&mut self, text: &str, limit: Duration) -> String {
        let found = self.wait_line(&[text], limit);
        if let Some(at) = self.seen.iter().position(|l| *l == found) {
            self.seen.remove(at);
        }
        found
    }

    /// Waits (10 s at most) for a line containing one of `texts`.
    fn wait_any(&mut self, texts: &[&str]) -> String {
        self.wait_line(texts, Duration::from_secs(10))
    }

    /// The first line seen with one of `texts`, waiting up to `limit`.
    fn wait_line(&mut self, texts: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self
                .seen
                .iter()
                .find(|l| texts.iter().any(|t| l.contains(t)))
            {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok((_, line)) => self.seen.push(line),
                Err(_) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    panic!(
                        "no line with {texts:?} within {limit:?}; seen:\n{}",
                        self.seen.join("\n")
                    );
                }
                Err(_) => {}
            }
        }
    }

    /// Every line so far (for assertions after the end).
    fn drain(&mut self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        while let Ok((_, line)) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin (end of input: the shell quits) and waits.
    fn finish(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let (status, timed_out) = wait_bounded(&mut self.child, Duration::from_secs(15));
        assert!(!timed_out, "dkvs-tui did not exit");
        status
    }
}

/// Writes `cluster.toml` for 5 servers in a fresh directory.
fn cluster_dir(servers: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cluster.toml"),
        namespaces_toml(free_octet(), servers),
    )
    .unwrap();
    dir
}

/// dkvs-tui on a fresh cluster of `servers` hosts; another subnet is
/// tried when one is taken meanwhile (by a parallel test).
fn start_cluster(servers: usize) -> (tempfile::TempDir, Shell) {
    for _ in 0..4 {
        let dir = cluster_dir(servers);
        let mut shell = Shell::start(dir.path());
        let line = shell.wait_any(&["namespaces: ", "cannot make the hosts"]);
        if line.contains("namespaces: ") {
            return (dir, shell);
        }
        eprintln!("retrying on another subnet: {line}");
        shell.finish();
    }
    panic!("no subnet could be used in four tries");
}

/// Waits for `count` servers to come up (their state events).
fn wait_up(shell: &mut Shell, count: usize) {
    for _ in 0..count {
        shell.wait_for("starting → up", Duration::from_secs(10));
    }
}

#[test]
fn partition_writes_on_both_sides_heal_and_converge() {
    if skip() {
        return;
    }
    let (dir, mut shell) = start_cluster(5);
    wait_up(&mut shell, 5);
    let pid = shell.pid();
    assert_eq!(
        leftovers(pid).len(),
        5 + 1 + 5,
        "5 namespaces, a bridge, 5 veths"
    );
    writes_on_both_sides(&mut shell);
    loss_between_hosts(&mut shell);
    heal_until_in_sync(&mut shell);
    // The acknowledged writes of the majority side won everywhere.
    for k in 0..KEYS {
        shell.send(&format!("get key{k} r=3"));
        shell.wait_for(&format!("OK majority{k} — R=3"), Duration::from_secs(10));
    }
    other_tools_reach_the_hosts(dir.path());
    shell.send("quit");
    let status = shell.finish();
    assert!(status.code().is_some(), "{status:?}");
    let left = leftovers(pid);
    assert!(left.is_empty(), "left behind after quit: {left:?}");
}

/// The client in the minority (failed quorums say why, hints), then in
/// the majority (later writes of the same keys, acknowledged).
fn writes_on_both_sides(shell: &mut Shell) {
    // The client with servers 1 and 2: keys homed on 3..5 become hints
    // on this side, and quorums needing the far side fail, with why.
    shell.send("partition client,1,2 | 3,4,5");
    shell.wait_for(
        "partition: side A = client,1,2; side B = 3,4,5",
        Duration::from_secs(5),
    );
    for k in 0..KEYS {
        shell.send(&format!("put key{k} minority{k}"));
    }
    shell.send("net");
    shell.wait_for(
        "cuts: partition client,1,2 | 3,4,5 (both ways)",
        Duration::from_secs(30),
    );
    let minority = shell.drain(Duration::from_millis(200));
    assert!(
        minority
            .iter()
            .any(|l| l.starts_with("why: the partition cuts this client off from")),
        "a failed quorum says why:\n{}",
        minority.join("\n")
    );
    assert!(
        minority.iter().any(|l| l.contains("hint →")),
        "writes for the far side become hints:\n{}",
        minority.join("\n")
    );

    // The client moves to the majority: later writes of the same keys.
    shell.send("partition 1,2 | client,3,4,5");
    shell.wait_for("this client is on side B", Duration::from_secs(5));
    for k in 0..KEYS {
        shell.send(&format!("put key{k} majority{k} w=1"));
        shell.wait_for("OK — W=1 reached", Duration::from_secs(10));
    }
}

/// The proxy's loss works between hosts too (`heal` below ends it).
fn loss_between_hosts(shell: &mut Shell) {
    shell.send("loss 2 100");
    shell.wait_for("100% of datagrams lost each way", Duration::from_secs(5));
    shell.drain(Duration::from_millis(100));
    shell.send("put lossy v n=5 w=2");
    let host2 = shell.wait_for(".0.3:7000", Duration::from_secs(10));
    assert!(host2.contains("timeout"), "{host2}");
    shell.wait_for("OK — W=2 reached", Duration::from_secs(10));
}

/// `heal`, then the watch's lines until `in sync`.
fn heal_until_in_sync(shell: &mut Shell) {
    shell.send("heal");
    shell.wait_for(
        "healed: every cut removed; loss and delay removed on 2",
        Duration::from_secs(5),
    );
    let healed = Instant::now();
    // Events are printed after each command: ask until the watch is done.
    let deadline = healed + CONVERGE_LIMIT;
    loop {
        shell.send("net");
        shell.wait_for("faults: none", Duration::from_secs(5));
        if shell
            .seen
            .iter()
            .any(|l| l.contains("in sync: every replica"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not in sync within {CONVERGE_LIMIT:?}:\n{}",
            shell.seen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("in sync {:.1} s after heal", healed.elapsed().as_secs_f64());
    let badges = shell.seen.join("\n");
    assert!(badges.contains("healing: "), "{badges}");
}

/// `dkvs-client` and `dkvs-dump-ring` reach the hosts with the same file.
fn other_tools_reach_the_hosts(dir: &Path) {
    let client = run(
        clean_command(CLIENT, dir).args(["--servers", "cluster.toml", "get", "key0"]),
        RUN_LIMIT,
    );
    assert!(client.stdout.contains("majority0"), "{client:?}");
    let dump = run(
        clean_command(DUMP_RING, dir).args(["--servers", "cluster.toml"]),
        RUN_LIMIT,
    );
    assert!(
        dump.stdout.contains("majority0") && dump.code == Some(0),
        "{dump:?}"
    );
}

#[test]
fn no_host_is_left_after_a_signal_or_a_crash_of_the_manager() {
    if skip() {
        return;
    }
    // SIGKILL: the servers exit by themselves, the hosts stay until the
    // next start removes them (or a parallel test's start: either way,
    // what counts is that they are gone).
    let (dir, mut first) = start_cluster(3);
    wait_up(&mut first, 3);
    let crashed = first.pid();
    send_signal(crashed, "KILL");
    let (_, timed_out) = wait_bounded(&mut first.child, Duration::from_secs(5));
    assert!(!timed_out);
    let mut second = Shell::start(dir.path());
    wait_up(&mut second, 3);
    assert!(leftovers(crashed).is_empty(), "{:?}", leftovers(crashed));
    // SIGTERM: a clean stop, hosts removed.
    let pid = second.pid();
    send_sigterm(pid);
    let (status, timed_out) = wait_bounded(&mut second.child, Duration::from_secs(10));
    assert!(!timed_out);
    assert_eq!(status.code(), Some(143), "{status:?}");
    let left = leftovers(pid);
    assert!(left.is_empty(), "left behind after SIGTERM: {left:?}");
}

#[test]
fn without_root_the_same_file_runs_on_loopback() {
    if skip() {
        // Root is needed to drop root: nothing to compare with.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Readable and writable by `nobody`.
    let status = Command::new("chmod")
        .arg("777")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let ports = free_ports(std::net::Ipv4Addr::LOCALHOST, 3);
    let mut toml = "[cluster]\nnetwork = \"namespaces\"\n".to_string();
    for p in &ports {
        toml.push_str(&format!("\n[[server]]\nport = {p}\n"));
    }
    std::fs::write(dir.path().join("cluster.toml"), toml).unwrap();
    let mut cmd = clean_command("setpriv", dir.path());
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .args([TUI, "cluster.toml", "--shell"]);
    // Standard input at its end: the shell starts, probes, quits.
    let out = run(&mut cmd, Duration::from_secs(30));
    let all = format!("{}\n{}", out.stdout, out.stderr);
    if all.contains("setpriv:") {
        eprintln!("fallback test skipped: setpriv failed: {all}");
        return;
    }
    assert!(all.contains("not root"), "{all}");
    assert!(all.contains("running on loopback instead"), "{all}");
    assert!(
        all.contains(&format!("127.0.0.1:{}: starting → up", ports[0])),
        "{all}"
    );
}

#[test]
fn a_panic_of_the_full_screen_removes_the_hosts() {
    use crate::common::tmux::{Tmux, tmux_available};
    if skip() || !tmux_available() {
        eprintln!("netns panic test skipped (needs namespaces and tmux)");
        return;
    }
    let dir = cluster_dir(3);
    let toml = dir.path().join("cluster.toml");
    let t = Tmux::start(
        "netns-panic",
        &format!(
            "env -u DKVS_LOG -u RUST_LOG DKVS_TUI_TEST_PANIC=1 RUST_BACKTRACE=0 '{TUI}' '{}'; echo \"EXITED $?\"; sleep 60",
            toml.display()
        ),
    );
    t.wait_for("three servers up", 30, |s| s.matches("● up").count() >= 3);
    let out = Command::new("pgrep")
        .args(["-P", &t.pane_pid().to_string()])
        .output()
        .unwrap();
    let tui: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(tui.len(), 1, "the dkvs-tui process: {tui:?}");
    assert!(
        !leftovers(tui[0]).is_empty(),
        "its hosts exist while it runs"
    );
    t.type_line("__panic");
    t.wait_for("dkvs-tui to exit 101", 20, |s| s.contains("EXITED 101"));
    let left = leftovers(tui[0]);
    assert!(left.is_empty(), "left behind after a panic: {left:?}");
}
