//! Every bundled lesson, end to end, in the full-screen `dkvs-tui` through a
//! real terminal (tmux) against real servers (issue 17, "Guided lessons").
//!
//! The driver reads the lesson file itself (`lessons/NN-*.lesson`, the same
//! text the binary bundles), so the tests follow the content: on a cluster
//! shaped like the bundled `cluster.toml` (five servers with 3, 2, 2, 1, 1
//! virtual nodes, n=3 w=2 r=2) on a private loopback address, it types
//! `lesson N`, then for each step waits for the step's heading and for the
//! REPL to be idle, types what a `?` step waits for (its shown text when it
//! has one, else its pattern) and presses Enter. At the first `?` step it
//! first presses Enter without typing and checks the lesson says what it
//! waits for. After the last step: the lesson says the cluster is as it was,
//! every server is up, the cluster file is unchanged, and every key the
//! lesson wrote is gone (`get` says not found).
//!
//! Without tmux the tests print a notice and pass.

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Instant;

use dkvs::repl::lesson::bundled::BUNDLED;
use dkvs::repl::lesson::{Lesson, parse_lesson};

use crate::common::tmux::{Tmux, tmux_available};
use crate::common::{cluster_toml, free_ports, loopback_ip};

const BIN: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const EXITED: &str = "DKVS_TUI_EXITED";

/// The virtual nodes of the bundled cluster's five servers.
const NODES: [u32; 5] = [3, 2, 2, 1, 1];

/// Lesson `number` as the file on disk says it, checked to be the text the
/// binary bundles.
fn lesson_file(number: usize) -> Lesson {
    let (name, bundled) = BUNDLED
        .get(number - 1)
        .unwrap_or_else(|| panic!("no bundled lesson {number}"));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("lessons")
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&text, bundled, "{name}: the binary bundles another text");
    parse_lesson(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

/// The keys a REPL line writes (`put`, `cat`'s and `substr`'s destination).
fn written_key(line: &str) -> Option<String> {
    let words: Vec<&str> = line
        .split_whitespace()
        .filter(|w| !w.contains('='))
        .collect();
    match words.first().copied() {
        Some("put") => words.get(1).map(|k| k.to_string()),
        Some("cat" | "substr") => words.last().map(|k| k.to_string()),
        _ => None,
    }
}

/// True when the REPL runs nothing (its bar says `running…` otherwise).
fn idle(screen: &str) -> bool {
    !screen.contains("running…")
}

/// Every server of `addrs` is shown up, and none down, paused or starting.
fn all_up(screen: &str, addrs: &[SocketAddrV4]) -> bool {
    addrs.iter().all(|a| {
        let addr = a.to_string();
        let lines: Vec<&str> = screen.lines().filter(|l| l.contains(&addr)).collect();
        lines.iter().any(|l| l.contains("● up"))
            && !lines
                .iter()
                .any(|l| ["✖", "‖", "◌"].iter().any(|g| l.contains(g)))
    })
}

/// Waits for the REPL to be idle with `heading` on the screen.
fn wait_step(t: &Tmux, lesson: &Lesson, step: usize, secs: u64) -> String {
    let heading = &lesson.steps[step].heading;
    // The panel's title and the results' step line both say it.
    let number = format!("step {}/{}", step + 1, lesson.steps.len());
    t.wait_for(
        &format!("{} step {}: \"{heading}\"", lesson.file, step + 1),
        secs,
        |s| idle(s) && s.contains(heading.as_str()) && s.contains(&number),
    )
}

/// dkvs-tui in tmux on a cluster shaped like the bundled one.
struct Session {
    t: Tmux,
    addrs: Vec<SocketAddrV4>,
    toml: PathBuf,
    /// The cluster file's text at the start.
    config: String,
    _dir: tempfile::TempDir,
}

impl Session {
    /// Writes the cluster file, starts dkvs-tui, waits for five servers up.
    /// With `subnet` (an octet), the servers run in namespaces mode on
    /// 10.<octet>.0.0/24, port 7000 each.
    fn start(number: usize, subnet: Option<u8>) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let defaults = "n = 3\nw = 2\nr = 2\ntimeout_ms = 1000";
        let (addrs, config): (Vec<SocketAddrV4>, String) = match subnet {
            None => {
                let ip = loopback_ip();
                let ports = free_ports(ip, NODES.len());
                let servers: Vec<(Ipv4Addr, u16, u32)> =
                    ports.iter().zip(NODES).map(|(&p, n)| (ip, p, n)).collect();
                let addrs = ports.iter().map(|&p| SocketAddrV4::new(ip, p)).collect();
                (addrs, cluster_toml(&servers, defaults))
            }
            Some(octet) => {
                let mut text = format!(
                    "[cluster]\nnetwork = \"namespaces\"\nsubnet = \"10.{octet}.0.0/24\"\n\n[defaults]\n{defaults}\n"
                );
                for n in NODES {
                    text.push_str(&format!("\n[[server]]\nport = 7000\nnodes = {n}\n"));
                }
                let addrs = (0..NODES.len())
                    .map(|i| SocketAddrV4::new(Ipv4Addr::new(10, octet, 0, 2 + i as u8), 7000))
                    .collect();
                (addrs, text)
            }
        };
        let toml = dir.path().join("cluster.toml");
        let config = format!("# lesson {number} test\n{config}");
        fs::write(&toml, &config).unwrap();
        let t = Tmux::start(
            &format!("lesson{number}"),
            &format!(
                "env -u DKVS_LOG -u RUST_LOG -u NO_COLOR '{BIN}' '{}'; echo \"{EXITED} $?\"; sleep 60",
                toml.display()
            ),
        );
        // Wide enough that headings and result lines are not wrapped.
        t.tmux(&["resize-window", "-t", &t.session, "-x", "160", "-y", "45"]);
        t.wait_for("five servers up", 30, |s| all_up(s, &addrs));
        Session {
            t,
            addrs,
            toml,
            config,
            _dir: dir,
        }
    }

    /// Types `lesson N` and goes through every step; returns the keys the
    /// lesson wrote (its `$` commands and what the test typed).
    fn run_steps(&self, number: usize, lesson: &Lesson) -> Vec<String> {
        let t = &self.t;
        let mut keys: Vec<String> = Vec::new();
        let mut asked_early = false;
        t.type_line(&format!("lesson {number}"));
        for (i, step) in lesson.steps.iter().enumerate() {
            wait_step(t, lesson, i, 20);
            keys.extend(step.commands.iter().filter_map(|(_, c)| written_key(c)));
            if let Some(expect) = &step.expect {
                if !asked_early {
                    // Enter before typing: the step does not advance.
                    t.keys(&["Enter"]);
                    t.wait_for("the lesson to say what it waits for", 10, |s| {
                        idle(s) && s.contains("this step waits for you to type:")
                    });
                    asked_early = true;
                    wait_step(t, lesson, i, 5);
                }
                // The text shown to the student: a complete command in the
                // bundled lessons (the pattern itself when there is no `| …`).
                let line = expect.shown.clone();
                assert!(
                    expect.pattern.matches(&line),
                    "{} step {}: `{line}` does not match its own pattern",
                    lesson.file,
                    i + 1
                );
                keys.extend(written_key(&line));
                t.type_line(&line);
                // The panel says the step's wait is over (the results'
                // `✓ that is it` may be an earlier step's).
                t.wait_for("the typed command to be accepted", 20, |s| {
                    idle(s) && s.contains("✓ done")
                });
            }
            t.keys(&["Enter"]);
        }
        t.wait_for("the lesson to finish and restore the cluster", 40, |s| {
            idle(s) && s.contains("lesson finished: the cluster is as it was")
        });
        keys.sort();
        keys.dedup();
        keys
    }

    /// The cluster is as the lesson found it: every server up, the file
    /// unchanged, the keys gone (`get` says not found).
    fn check_as_found(&self, lesson: &Lesson, keys: &[String]) {
        let t = &self.t;
        t.type_line("status");
        t.wait_for("every server up after the lesson", 15, |s| {
            idle(s) && all_up(s, &self.addrs)
        });
        assert_eq!(
            fs::read_to_string(&self.toml).unwrap(),
            self.config,
            "cluster file"
        );
        for key in keys {
            t.type_line(&format!("get {key}"));
            // The results' entry (padded by the pane: a trailing space), not
            // the REPL line being typed, nor `get <key><more>`.
            let asked = format!("> get {key} ");
            let answer = |s: &str| -> Option<String> {
                let after: Vec<&str> = s.lines().skip_while(|l| !l.contains(&asked)).collect();
                let verdict = after
                    .iter()
                    .skip(1)
                    .any(|l| l.contains("FAIL —") || l.contains("OK "));
                verdict.then(|| after.join("\n"))
            };
            let screen = t.wait_for(&format!("the answer to get {key}"), 10, |s| {
                idle(s) && answer(s).is_some()
            });
            assert!(
                answer(&screen).is_some_and(|a| a.contains("FAIL — not found")),
                "{}: key {key} left behind:\n{screen}",
                lesson.file
            );
        }
    }

    /// `quit`, and dkvs-tui exits 0.
    fn quit(&self) {
        self.t.type_line("quit");
        self.t.wait_for("dkvs-tui to exit", 20, |s| {
            s.lines().any(|l| l.starts_with(&format!("{EXITED} 0")))
        });
    }
}

/// Runs bundled lesson `number` from its first step to its end, then
/// checks that the cluster is as the lesson found it.
fn run_lesson(number: usize) {
    run_lesson_on(number, None);
}

/// [`run_lesson`] on a cluster in namespaces mode on 10.`subnet`.0.0/24
/// when given.
fn run_lesson_on(number: usize, subnet: Option<u8>) {
    if !tmux_available() {
        eprintln!("NOTICE: tmux not found: skipping the lesson {number} test");
        return;
    }
    let started = Instant::now();
    let lesson = lesson_file(number);
    let session = Session::start(number, subnet);
    let keys = session.run_steps(number, &lesson);
    session.check_as_found(&lesson, &keys);
    session.quit();
    eprintln!(
        "lesson {number}: {} steps in {:.1} s",
        lesson.steps.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn lesson_01_ring() {
    run_lesson(1);
}

#[test]
fn lesson_02_vnodes() {
    run_lesson(2);
}

#[test]
fn lesson_03_replication() {
    run_lesson(3);
}

#[test]
fn lesson_04_quorums() {
    run_lesson(4);
}

#[test]
fn lesson_05_handoff() {
    run_lesson(5);
}

#[test]
fn lesson_06_membership() {
    run_lesson(6);
}

#[test]
fn lesson_07_clocks() {
    run_lesson(7);
}

#[test]
fn lesson_08_partitions() {
    if let Err(e) = dkvs_netns::available() {
        eprintln!("NOTICE: lesson 8 test skipped: {e}");
        return;
    }
    run_lesson_on(8, Some(crate::netns_tui::free_octet()));
}

/// Every bundled lesson has a test above.
#[test]
fn every_bundled_lesson_is_tested() {
    assert_eq!(BUNDLED.len(), 8, "add a test for the new lesson");
}
