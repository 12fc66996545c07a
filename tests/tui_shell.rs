//! `dkvs-tui` without a screen: piped commands and `--shell` (docs/TUI.md).
//!
//! Each test writes a `cluster.toml` on its own random loopback address with
//! free ports, runs the real binary with a script on stdin, and checks the
//! §10 output, the exit status, and that every server it spawned is gone
//! afterwards (pids read from `status`). Waits are bounded; processes are
//! stopped by pid only.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::config::ClusterConfig;
use dkvs::ring::Ring;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const LIMIT: Duration = Duration::from_secs(60);

struct Setup {
    dir: tempfile::TempDir,
    config: ClusterConfig,
}

fn setup(nodes: &[u32]) -> Setup {
    let (dir, config) = spawned_cluster(nodes);
    Setup { dir, config }
}

/// Pids in the `pid` column of every `status` table of `stdout`, by server
/// number (1-based), in order of appearance.
fn status_pids(stdout: &str) -> Vec<(usize, u32)> {
    stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 5 && f[1].contains(':') && f[0].parse::<usize>().is_ok() {
                Some((f[0].parse().ok()?, f[3].parse().ok()?))
            } else {
                None
            }
        })
        .collect()
}

fn run_script(dir: &Path, args: &[&str], script: &str) -> Output {
    let mut cmd = clean_command(TUI, dir);
    cmd.args(args);
    // `run` closes stdin; feed the script through a file instead.
    let script_path = dir.join("script.txt");
    std::fs::write(&script_path, script).unwrap();
    let script = Stdio::from(std::fs::File::open(&script_path).unwrap());
    run_with_input(&mut cmd, script, LIMIT)
}

#[test]
fn piped_scenario_put_kill_get_quit() {
    let s = setup(&[3, 2, 2, 1, 1]);
    let ring = Ring::new(&s.config);
    let holder = ring.replicas(b"a", 4)[0].server;
    let holder_addr = s.config.servers[holder].addr().to_string();
    let script = format!(
        "put a b n=4 w=3\nstatus\nkill {}\nstatus\nget a\nquit\nstatus\n",
        holder + 1
    );
    let out = run_script(s.dir.path(), &["cluster.toml"], &script);
    let text = &out.stdout;
    assert!(!out.timed_out, "timed out:\n{text}\n{}", out.stderr);
    // Commands are echoed before their output.
    assert!(text.starts_with("> put a b n=4 w=3\n"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    // put: one line per contacted server, then the verdict.
    let put: Vec<&str> = lines[1..5].to_vec();
    for l in &put {
        assert!(l.contains("stored") && l.contains(" ms"), "{text}");
        assert!(l.contains(&s.config.servers[0].ip.to_string()), "{l}");
    }
    assert_eq!(
        put.iter().filter(|l| l.contains(" counted")).count(),
        4,
        "{text}"
    );
    assert!(lines[5].starts_with("OK — W=3 reached with "), "{text}");
    // The killed server is down in the second table; get still works.
    let pids = status_pids(text);
    assert_eq!(pids.len(), 5 + 4, "{text}");
    let before: Vec<u32> = pids[..5].iter().map(|p| p.1).collect();
    let after_kill = lines
        .iter()
        .skip_while(|l| !l.starts_with("> kill"))
        .find(|l| l.contains(&holder_addr) && !l.starts_with('>'))
        .copied()
        .unwrap_or_default();
    assert!(
        after_kill.starts_with(&format!("killed {holder_addr} (pid {})", before[holder])),
        "{text}"
    );
    let second_status = lines
        .iter()
        .skip_while(|l| *l != &"> status")
        .skip(1)
        .skip_while(|l| *l != &"> status")
        .find(|l| l.contains(&holder_addr))
        .copied()
        .unwrap_or_default();
    assert!(
        second_status.contains("down") && second_status.contains("killed by SIGKILL"),
        "{text}"
    );
    let get_verdict = lines
        .iter()
        .skip_while(|l| *l != &"> get a")
        .find(|l| l.starts_with("OK") || l.starts_with("FAIL"))
        .copied()
        .unwrap_or_default();
    assert!(
        get_verdict.starts_with("OK b — R=2 reached with "),
        "{text}"
    );
    // quit ends the script: the last status never runs.
    assert!(text.trim_end().ends_with("> quit"), "{text}");
    assert_eq!(out.code, Some(0), "{text}\n{}", out.stderr);
    // Events went to stderr.
    assert!(out.stderr.contains("killed by SIGKILL"), "{}", out.stderr);
    assert_all_gone(&before);
}

#[test]
fn piped_failures_give_a_nonzero_status_and_one_error_line() {
    let s = setup(&[1, 1]);
    let out = run_script(
        s.dir.path(),
        &["cluster.toml", "--no-echo"],
        "status\nfrobnicate\nget missing\nput \"open\nkill 3\nhelp\n",
    );
    assert!(!out.timed_out);
    let text = &out.stdout;
    assert!(
        !text.lines().any(|l| l.starts_with("> ")),
        "--no-echo: {text}"
    );
    assert!(
        text.contains("ERROR: unknown command `frobnicate`"),
        "{text}"
    );
    assert!(text.contains("FAIL — not found"), "{text}");
    assert!(text.contains("ERROR: unterminated quote"), "{text}");
    assert!(text.contains("ERROR: unknown server `3`"), "{text}");
    assert!(text.contains("commands (options are k=v words"), "{text}");
    assert_eq!(out.code, Some(1), "{text}");
    let pids: Vec<u32> = status_pids(text).iter().map(|p| p.1).collect();
    assert_eq!(pids.len(), 2, "{text}");
    assert_all_gone(&pids);
}

#[test]
fn port_taken_by_someone_else_shows_the_childs_error() {
    let s = setup(&[1, 1]);
    let taken = s.config.servers[1].addr();
    let _holder = std::net::UdpSocket::bind(taken).unwrap();
    let out = run_script(s.dir.path(), &["cluster.toml"], "status\nstart 2\n");
    assert!(!out.timed_out);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(&taken.to_string()) && l.contains("down"))
        .unwrap_or_default();
    assert!(line.contains("exited with status 1"), "{}", out.stdout);
    assert!(line.contains("Address already in use"), "{}", out.stdout);
    assert!(
        out.stderr.contains("Address already in use"),
        "{}",
        out.stderr
    );
    let pids: Vec<u32> = status_pids(&out.stdout).iter().map(|p| p.1).collect();
    assert_all_gone(&pids);
}

/// Reads stdout lines on a thread, so the test can wait for one with a limit.
fn line_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Starts `dkvs-tui --shell` with an open stdin, sends `status` and returns
/// the guard, the handle, stdin (keep it open) and the server pids.
fn start_shell(s: &Setup, procs: &mut Procs) -> (usize, std::process::ChildStdin, Vec<u32>) {
    let mut cmd = clean_command(TUI, s.dir.path());
    cmd.args(["cluster.toml", "--shell"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn dkvs-tui --shell");
    let mut stdin = child.stdin.take().unwrap();
    let lines = line_reader(&mut child);
    let handle = procs.add("dkvs-tui --shell", child);
    writeln!(stdin, "status").unwrap();
    stdin.flush().unwrap();
    let mut seen = String::new();
    let want = s.config.servers.len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_pids(&seen).len() < want && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&line);
            seen.push('\n');
        }
    }
    let pids: Vec<u32> = status_pids(&seen).iter().map(|p| p.1).collect();
    assert_eq!(pids.len(), want, "{seen}");
    assert!(pids.iter().all(|&p| server_alive(p)), "{seen}");
    (handle, stdin, pids)
}

#[test]
fn sigterm_in_shell_mode_stops_every_child() {
    let s = setup(&[2, 1, 1]);
    let mut procs = Procs::new();
    let (handle, stdin, pids) = start_shell(&s, &mut procs);
    // stdin stays open: dkvs-tui is waiting for the next command.
    let (status, timed_out) = procs.terminate(handle, Duration::from_secs(10));
    assert!(!timed_out, "dkvs-tui did not exit after SIGTERM");
    assert_eq!(status.code(), Some(128 + 15));
    drop(stdin);
    assert_all_gone(&pids);
}

#[test]
fn sigint_also_stops_every_child() {
    let s = setup(&[1, 1]);
    let mut procs = Procs::new();
    let (handle, stdin, pids) = start_shell(&s, &mut procs);
    let (status, timed_out) = procs.signal_and_wait(handle, "INT", Duration::from_secs(10));
    assert!(!timed_out);
    assert_eq!(status.code(), Some(128 + 2));
    drop(stdin);
    assert_all_gone(&pids);
}

#[test]
fn servers_stop_by_themselves_when_dkvs_tui_is_sigkilled() {
    // SIGKILL cannot be caught: the children notice their parent is gone.
    let s = setup(&[1, 1]);
    let mut procs = Procs::new();
    let (handle, stdin, pids) = start_shell(&s, &mut procs);
    procs.kill(handle);
    drop(stdin);
    assert_all_gone(&pids);
}

#[test]
fn command_line_errors_and_info() {
    let s = setup(&[1]);
    let dir = s.dir.path();
    let out = run(clean_command(TUI, dir).arg("--version"), LIMIT);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.starts_with("dkvs-tui "), "{}", out.stdout);
    let out = run(clean_command(TUI, dir).arg("--help"), LIMIT);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("--shell"), "{}", out.stdout);
    let out = run(clean_command(TUI, dir).arg("missing.toml"), LIMIT);
    assert_eq!(out.code, Some(code::CONFIG as i32), "{}", out.stderr);
    assert!(
        out.stderr.starts_with("ERROR: configuration: missing.toml"),
        "{}",
        out.stderr
    );
    let out = run(
        clean_command(TUI, dir).args(["--serve-internal", "nope"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(code::USAGE as i32), "{}", out.stderr);
    let out = run(clean_command(TUI, dir).arg("--bogus"), LIMIT);
    assert_eq!(out.code, Some(code::USAGE as i32), "{}", out.stderr);
    // The default file is ./cluster.toml; an empty script is a success.
    let out = run(&mut clean_command(TUI, dir), LIMIT);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
}

/// `skew`: a session 30 s behind re-stamps its put past the newer version
/// and the trace says so; 5 s ahead, the servers refuse with the reason.
#[test]
fn piped_skew_shows_the_restamp_and_the_refusal() {
    let s = setup(&[1, 1, 1]);
    let script =
        "put q first\nskew -30000\nput q later\nget q\nskew +5000\nput q x\nskew off\nskew\nquit\n";
    let out = run_script(s.dir.path(), &["cluster.toml"], script);
    let text = &out.stdout;
    assert!(!out.timed_out, "timed out:\n{text}\n{}", out.stderr);
    let after = |command: &str| -> Vec<&str> {
        text.split(&format!("> {command}\n"))
            .nth(1)
            .unwrap_or_default()
            .lines()
            .take_while(|l| !l.starts_with("> "))
            .collect()
    };
    assert_eq!(after("skew -30000"), ["clock: 30.0 s behind the machine's"]);
    let later = after("put q later");
    assert!(
        later[0].starts_with("  superseded by v")
            && later[0].contains(" (a clock 30.0 s ahead); re-stamped v")
            && later[0].ends_with(", stored"),
        "{text}"
    );
    assert!(
        later.last().unwrap().starts_with("OK — W=2 reached"),
        "{text}"
    );
    assert!(
        after("get q").last().unwrap().starts_with("OK later — "),
        "{text}"
    );
    let refused = after("put q x");
    assert!(
        refused
            .iter()
            .filter(
                |l| l.starts_with("  [") && l.contains("refused: clock ahead (max offset 500 ms)")
            )
            .count()
            == 3,
        "{text}"
    );
    assert!(
        refused.last().unwrap().starts_with("FAIL — refused by ")
            && refused.last().unwrap().contains(
                ": this client's clock is 5.0 s ahead (max offset 500 ms); fix its time (NTP)"
            ),
        "{text}"
    );
    assert_eq!(after("skew"), ["clock: the machine's (no skew)"]);
}

/// One lookup order in every tool: the file named, else `$DKVS_SERVERS`,
/// else the tool's default files (`dkvs-tui`: ./cluster.toml first); with
/// none, one message that names no file.
#[test]
fn the_cluster_file_is_found_in_one_order() {
    let dir = tempfile::tempdir().unwrap();
    // ./cluster.toml lists one server, the variable's file another; neither
    // is spawned, and status shows which file dkvs-tui read.
    let ip = loopback_ip();
    let ports = free_ports(ip, 2);
    let table = |port: u16| format!("[[server]]\nip = \"{ip}\"\nport = {port}\nspawn = false\n");
    std::fs::write(dir.path().join("cluster.toml"), table(ports[0])).unwrap();
    std::fs::write(dir.path().join("other.toml"), table(ports[1])).unwrap();
    let script = dir.path().join("script.txt");
    std::fs::write(&script, "status\n").unwrap();
    let status = |env: Option<&str>| {
        let mut cmd = clean_command(TUI, dir.path());
        cmd.arg("--no-echo");
        if let Some(file) = env {
            cmd.env(dkvs::config::SERVERS_ENV, file);
        }
        let input = Stdio::from(std::fs::File::open(&script).unwrap());
        run_with_input(&mut cmd, input, LIMIT)
    };
    let first = format!("{ip}:{}", ports[0]);
    let second = format!("{ip}:{}", ports[1]);
    let out = status(Some("other.toml"));
    assert!(out.stdout.contains(&second), "{out}");
    assert!(!out.stdout.contains(&first), "{out}");
    let out = status(None);
    assert!(out.stdout.contains(&first), "{out}");

    // Nothing named, nothing here: the message says where it looked.
    let empty = tempfile::tempdir().unwrap();
    let out = run_with_input(
        clean_command(TUI, empty.path()).arg("--shell"),
        Stdio::null(),
        LIMIT,
    );
    assert_eq!(out.code, Some(i32::from(dkvs::exit::CONFIG)), "{out}");
    assert!(
        out.stderr.contains(
            "ERROR: configuration: no cluster file: none named (--servers FILE or DKVS_SERVERS=FILE) and no ./cluster.toml or ./servers.txt in the current directory"
        ),
        "{out}"
    );
    let out = run(
        clean_command(CLIENT, empty.path()).args(["get", "--", "k"]),
        LIMIT,
    );
    assert!(
        out.stderr
            .contains("ERROR: configuration: no cluster file: none named (--servers FILE or DKVS_SERVERS=FILE) and no ./servers.txt or ./cluster.toml in the current directory"),
        "{out}"
    );
}

/// `server_options` reach the servers dkvs-tui spawns, `[defaults]` first
/// and a server's own table over it; a misspelt option stops dkvs-tui at
/// start with a configuration error naming the server.
#[test]
fn server_options_reach_spawned_servers() {
    let ip = loopback_ip();
    let ports = free_ports(ip, 2);
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[defaults]\nserver_options = {{ max-memory = \"1\" }}\n\n\
         [[server]]\nip = \"{ip}\"\nport = {}\n\n\
         [[server]]\nip = \"{ip}\"\nport = {}\nserver_options = {{ max-memory = \"100000000\" }}\n",
        ports[0], ports[1]
    );
    std::fs::write(dir.path().join("cluster.toml"), &toml).unwrap();
    let out = run_script(
        dir.path(),
        &["cluster.toml", "--no-echo"],
        "put k v n=2 w=2\nstatus\n",
    );
    assert!(!out.timed_out, "{out}");
    let text = &out.stdout;
    // Server 1 (1 byte of memory) refuses, server 2 stores.
    let line = |port: u16| {
        text.lines()
            .find(|l| l.contains(&format!("{ip}:{port}")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line(ports[0]).contains("refused"), "{text}");
    assert!(line(ports[1]).contains("stored"), "{text}");
    let pids: Vec<u32> = status_pids(text).iter().map(|p| p.1).collect();
    assert_all_gone(&pids);

    let bad = toml.replace("max-memory = \"1\"", "max-memroy = \"1\"");
    std::fs::write(dir.path().join("cluster.toml"), bad).unwrap();
    let out = run_script(dir.path(), &["cluster.toml"], "status\n");
    assert_eq!(out.code, Some(i32::from(dkvs::exit::CONFIG)), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "ERROR: configuration: cluster.toml: field `server_options`: server 1 ({ip}:{}): unexpected argument '--max-memroy' found",
            ports[0]
        )),
        "{out}"
    );
    // Checked as spawned, with the ring file: v1 cannot serve a ring.
    let v1 = toml.replace("max-memory = \"1\"", "protocol = \"v1\"");
    std::fs::write(dir.path().join("cluster.toml"), v1).unwrap();
    let out = run_script(dir.path(), &["cluster.toml"], "status\n");
    assert_eq!(out.code, Some(i32::from(dkvs::exit::CONFIG)), "{out}");
    assert!(
        out.stderr
            .contains("--protocol v1 cannot be combined with --servers"),
        "{out}"
    );
}

/// `remove 1` twice, then `add` of the same addresses with their fields,
/// puts servers 1 and 2 back where they stood in cluster.toml, `metrics`
/// line included.
#[test]
fn remove_then_add_restores_a_server_in_place() {
    let ip = loopback_ip();
    let ports = free_ports(ip, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.toml");
    let metrics = format!("{ip}:{}", ports[3]);
    std::fs::write(
        &path,
        format!(
            "[[server]]\nip = \"{ip}\"\nport = {}\nnodes = 3\nmetrics = \"{metrics}\"\n\
             server_options = {{ max-memory = \"100000000\" }}\n\n\
             [[server]]\nip = \"{ip}\"\nport = {}\n\n\
             [[server]]\nip = \"{ip}\"\nport = {}\n",
            ports[0], ports[1], ports[2]
        ),
    )
    .unwrap();
    let before = ClusterConfig::load(&path).unwrap();
    let out = run_script(
        dir.path(),
        &["cluster.toml", "--no-echo"],
        &format!(
            "remove 1\nremove 1\nadd {ip}:{} nodes=3 metrics={metrics} server_option=max-memory=100000000\nadd {ip}:{}\nstatus\n",
            ports[0], ports[1]
        ),
    );
    assert!(!out.timed_out, "{out}");
    assert_eq!(out.code, Some(0), "{out}");
    let after = ClusterConfig::load(&path).unwrap();
    assert_eq!(after.servers, before.servers, "{out}");
    let pids: Vec<u32> = status_pids(&out.stdout).iter().map(|p| p.1).collect();
    assert_all_gone(&pids);
}

/// Servers dkvs-tui did not start are probed before the first command, so
/// a `status` on the first piped line shows them up, not `? unreachable`
/// (issue 16, item 9).
#[test]
fn piped_status_first_shows_servers_started_elsewhere() {
    let mut c = Cluster::new(&[2, 1]);
    c.start_all();
    std::fs::write(
        c.dir.path().join("cluster.toml"),
        not_spawned_toml(&c.servers),
    )
    .unwrap();
    let out = run_script(c.dir.path(), &["cluster.toml", "--no-echo"], "status\n");
    assert!(!out.timed_out, "{out}");
    assert_eq!(out.code, Some(0), "{out}");
    for i in 0..c.len() {
        let addr = c.addr(i).to_string();
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(&addr))
            .unwrap_or_default();
        assert!(
            line.contains("● up") && line.contains("not started by dkvs-tui"),
            "{out}"
        );
    }
}

#[test]
fn piped_balance_and_whatif_nodes() {
    let s = setup(&[3, 2, 2, 1, 1]);
    let script = "put a b\nbalance\nwhatif nodes 1=10 5=4\nstatus\nquit\n";
    let out = run_script(s.dir.path(), &["cluster.toml"], script);
    let text = &out.stdout;
    assert!(!out.timed_out, "timed out:\n{text}\n{}", out.stderr);
    assert_eq!(out.code, Some(0), "{text}\n{}", out.stderr);
    let balance: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "> balance")
        .skip(1)
        .take_while(|l| !l.starts_with('>'))
        .collect();
    assert_eq!(balance.len(), 1 + 5 + 1, "{text}");
    assert!(
        balance[0].starts_with("server") && balance[0].contains("replica (N=3)"),
        "{text}"
    );
    // A row per server; every server answers STATS, and `a` is on 3 of them.
    let mut stored = 0;
    for (i, spec) in s.config.servers.iter().enumerate() {
        let row = balance[i + 1];
        assert!(row.contains(&spec.addr().to_string()), "{text}");
        let keys = row.split_whitespace().last().unwrap_or_default();
        stored += keys.parse::<u64>().unwrap_or_else(|_| panic!("{text}"));
    }
    assert_eq!(stored, 3, "{text}");
    assert!(
        balance[6].starts_with("primary: ideal 20.0 %, std dev ")
            && balance[6].contains("; replicas (N=3): ideal 60.0 %, std dev "),
        "{text}"
    );
    assert!(text.contains("whatif nodes 1=10 5=4"), "{text}");
    assert!(text.contains("3 → 10") && text.contains("1 → 4"), "{text}");
    assert!(text.contains("of the key space would change preference list"));
    let pids: Vec<u32> = status_pids(text).iter().map(|p| p.1).collect();
    assert_eq!(pids.len(), 5, "{text}");
    assert_all_gone(&pids);
}
