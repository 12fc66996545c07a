//! `docs/GETTING-STARTED.md` still works: every command it shows is run, in
//! the page's order.
//!
//! The page marks what it runs: each line of a ```` ```sh ```` block is a
//! shell command, each line of a ```` ```repl ```` block a line typed into
//! the dkvs-tui opened by the last `cargo run --release [-- FILE]`
//! (other blocks are output or prose and are not run). Here:
//!
//! - the page's files (`cluster.toml`, `examples/durable-cluster.toml`) are
//!   copied to a temporary directory with the servers moved to a random
//!   127.X.Y.Z address and free ports (server 1's metrics endpoint too, in
//!   the files and in the commands), and every command runs there;
//! - `cargo build --release` is skipped (the binaries under test are
//!   built), `cargo run --release [-- FILE]` starts the built `dkvs-tui`
//!   with its REPL on a pipe (its line-by-line mode, the same interpreter
//!   as the screen), `target/release/` is the directory of the built
//!   binaries, and any other line runs with `sh -c` and must exit 0 (a
//!   scrape of `/metrics` must also print `dkvs_` samples: a pipe into
//!   `head` hides curl's status);
//! - REPL lines must all succeed (dkvs-tui exits 0 after `quit`), and each
//!   `get K` must answer `OK V` where `V` is the value of the page's last
//!   `put K V` — also across a restart of the durable cluster.
//!
//! Bounded: each command and each session has a time limit; dkvs-tui is
//! stopped by PID (SIGTERM: it stops its servers) if the test fails.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{clean_command, free_ports, loopback_ip, run, send_sigterm, wait_bounded};

const PAGE: &str = include_str!("../docs/GETTING-STARTED.md");
const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const CLIENT: &str = env!("CARGO_BIN_EXE_dkvs-client");
/// The files of the repository the page uses, relative to its root.
const FILES: &[&str] = &["cluster.toml", "examples/durable-cluster.toml"];
/// The ports of the bundled cluster (docs/CLI.md, `cluster.toml`).
const PORTS: std::ops::RangeInclusive<u16> = 1234..=1238;
/// The metrics endpoint of the bundled cluster's server 1.
const METRICS: &str = "127.0.0.1:9101";
/// Limit for one shell command, and for one REPL block to be answered.
const STEP_LIMIT: Duration = Duration::from_secs(20);

/// One thing the page tells the reader to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A line of a `sh` block (comment removed).
    Shell(String),
    /// A line of a `repl` block.
    Repl(String),
}

/// The page's steps, in order.
fn steps(page: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut block: Option<&str> = None;
    for line in page.lines() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(info.trim()),
            };
            continue;
        }
        let text = match line.find(" #") {
            Some(i) if block == Some("sh") => &line[..i],
            _ => line,
        }
        .trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match block {
            Some("sh") => out.push(Step::Shell(text.to_string())),
            Some("repl") => out.push(Step::Repl(text.to_string())),
            _ => {}
        }
    }
    out
}

/// Copies the page's files into `dir`, every server moved to `ip`, the
/// bundled ports to `ports` (same order) and [`METRICS`] to `metrics`.
fn copy_files(dir: &Path, ip: std::net::Ipv4Addr, ports: &[u16], metrics: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in FILES {
        let text = fs::read_to_string(root.join(file)).unwrap();
        let mut moved = text
            .replace("ip = \"127.0.0.1\"", &format!("ip = \"{ip}\""))
            .replace(
                &format!("metrics = \"{METRICS}\""),
                &format!("metrics = \"{metrics}\""),
            );
        for (port, new) in PORTS.zip(ports) {
            moved = moved.replace(&format!("port = {port}\n"), &format!("port = {new}\n"));
        }
        assert!(
            !PORTS
                .clone()
                .any(|p| moved.contains(&format!("port = {p}\n")))
                && !moved.contains("metrics = \"127.0.0.1:"),
            "{file}: a port left unmoved"
        );
        let to = dir.join(file);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(to, moved).unwrap();
    }
}

/// A dkvs-tui with its REPL on a pipe.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// The lines sent, in order (sync lines included).
    sent: Vec<String>,
    syncs: usize,
}

fn reader(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let to = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                return;
            }
            to.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

impl Session {
    fn start(dir: &Path, args: &[&str]) -> Session {
        let mut cmd = clean_command(TUI, dir);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start dkvs-tui");
        let stdout = reader(child.stdout.take().unwrap());
        let stderr = reader(child.stderr.take().unwrap());
        Session {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            sent: Vec::new(),
            syncs: 0,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("session open");
        writeln!(stdin, "{line}").expect("write to dkvs-tui");
        self.sent.push(line.to_string());
    }

    fn transcript(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits until every line sent so far has run: a `where` of a unique
    /// key is sent and its echo awaited (lines run one after the other).
    fn sync(&mut self) {
        self.syncs += 1;
        let marker = format!("where tour-sync-{}", self.syncs);
        self.send(&marker);
        let echo = format!("> {marker}\n");
        let deadline = Instant::now() + STEP_LIMIT;
        while !self.transcript().contains(&echo) {
            assert!(
                Instant::now() < deadline,
                "dkvs-tui did not answer within {STEP_LIMIT:?}:\n{}\n{}",
                self.transcript(),
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes the REPL (after `quit` was sent) and waits for the exit.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let (status, timed_out) = wait_bounded(&mut self.child, STEP_LIMIT);
        assert!(!timed_out, "dkvs-tui did not exit after quit");
        // The reader threads end with the pipes.
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.transcript())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM: dkvs-tui stops the servers it started, then exits.
            send_sigterm(self.child.id());
            let _ = wait_bounded(&mut self.child, Duration::from_secs(10));
        }
    }
}

/// Each command's output in a transcript of echoed lines (`> line`).
fn outputs(transcript: &str, sent: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut next = sent.iter();
    let mut expected = next.next();
    for line in transcript.lines() {
        if let Some(want) = expected
            && line.strip_prefix("> ") == Some(want.as_str())
        {
            out.push((want.clone(), String::new()));
            expected = next.next();
            continue;
        }
        if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

#[test]
fn every_command_of_the_getting_started_page_runs() {
    let steps = steps(PAGE);
    let shell = steps.iter().filter(|s| matches!(s, Step::Shell(_))).count();
    let repl = steps.len() - shell;
    assert!(shell >= 5 && repl >= 8, "too few steps found: {steps:?}");
    let dir = tempfile::tempdir().unwrap();
    let ip = loopback_ip();
    let ports = free_ports(ip, PORTS.count());
    let metrics = std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    copy_files(dir.path(), ip, &ports, &metrics);
    let bin_dir = Path::new(CLIENT).parent().unwrap().to_path_buf();

    let mut session: Option<Session> = None;
    // The last value the page put under each key.
    let mut values: HashMap<String, String> = HashMap::new();
    let mut sessions = 0;
    for step in &steps {
        match step {
            Step::Shell(line) if line == "cargo build --release" => {}
            Step::Shell(line) if line.starts_with("cargo run --release") => {
                assert!(session.is_none(), "{line}: dkvs-tui is still open");
                let args: Vec<&str> = match line.split_once(" -- ") {
                    Some((_, rest)) => rest.split_whitespace().collect(),
                    None => Vec::new(),
                };
                session = Some(Session::start(dir.path(), &args));
                sessions += 1;
            }
            Step::Shell(line) => {
                // What a reader runs meanwhile sees every line typed so far.
                if let Some(s) = session.as_mut() {
                    s.sync();
                }
                let line = line.replace(METRICS, &metrics);
                run_shell(dir.path(), &bin_dir, &line, session.is_some());
            }
            Step::Repl(line) => {
                let s = session
                    .as_mut()
                    .unwrap_or_else(|| panic!("`{line}` typed with no dkvs-tui open"));
                s.send(line);
                if line == "quit" {
                    let s = session.take().unwrap();
                    let sent = s.sent.clone();
                    let (code, transcript) = s.finish();
                    assert_eq!(
                        code,
                        Some(0),
                        "a REPL line failed (dkvs-tui exits 1):\n{transcript}"
                    );
                    check_gets(&transcript, &sent, &mut values);
                }
            }
        }
    }
    assert!(session.is_none(), "the page leaves dkvs-tui open");
    assert!(sessions >= 3, "{sessions} sessions");
}

/// Runs one shell line of the page in `dir`; it must exit 0. While a
/// cluster runs (`live`), exit 5 (a server did not answer) is retried a few
/// times: a server `start`ed by the line before may still be binding its
/// port on a busy machine (a reader types slower than this test).
fn run_shell(dir: &Path, bin_dir: &Path, line: &str, live: bool) {
    let line = line.replace("target/release/", &format!("{}/", bin_dir.display()));
    let mut tries = 0;
    let out = loop {
        let mut cmd = clean_command("sh", dir);
        cmd.arg("-c").arg(&line);
        let out = run(&mut cmd, STEP_LIMIT);
        tries += 1;
        if !(live && out.code == Some(5) && tries < 4) {
            break out;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let scraped = !line.contains("/metrics") || out.stdout.contains("\ndkvs_");
    assert!(
        !out.timed_out && out.code == Some(0) && scraped,
        "`{line}` failed ({:?}):\n{}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
}

/// Every `get K` of a session answers `OK V` for the page's last `put K V`.
fn check_gets(transcript: &str, sent: &[String], values: &mut HashMap<String, String>) {
    let outs = outputs(transcript, sent);
    assert_eq!(outs.len(), sent.len(), "every line echoed:\n{transcript}");
    for (line, output) in outs {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["put", key, value, ..] => {
                values.insert(key.to_string(), value.to_string());
            }
            ["get", key, ..] => {
                let want = format!("OK {} ", values.get(*key).expect("a value put before"));
                assert!(
                    output.lines().any(|l| l.starts_with(&want)),
                    "`{line}` did not answer {want:?}:\n{output}"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn the_page_is_parsed_as_written() {
    let page = "text\n```sh\ncargo build --release   # a comment\n\n```\n```text\nOK\n```\n```repl\nput a b\n```\n";
    assert_eq!(
        steps(page),
        vec![
            Step::Shell("cargo build --release".into()),
            Step::Repl("put a b".into())
        ]
    );
    let sent = vec!["put a b".to_string(), "get a".to_string()];
    let outs = outputs("> put a b\nOK\n> get a\nOK b — R=2\n", &sent);
    assert_eq!(outs[1], ("get a".to_string(), "OK b — R=2\n".to_string()));
}
