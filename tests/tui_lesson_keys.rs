//! The lesson keys of the full-screen `dkvs-tui`, through a real terminal
//! (tmux) against real servers: on an empty REPL line Enter goes to the next
//! step, Backspace back, Esc leaves the lesson; with text in the line they
//! edit and run it as usual, and the lesson lines stay out of the history.
//! The lesson is a small file of the test's own, so the check does not
//! follow the bundled lessons' text (those run end to end in `lessons`).
//!
//! Without tmux the test prints a notice and passes.

use std::fs;
use std::net::Ipv4Addr;

use crate::common::tmux::{Tmux, tmux_available};
use crate::common::{cluster_toml, free_ports, loopback_ip};

const BIN: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const EXITED: &str = "DKVS_TUI_EXITED";

const LESSON: &str = "\
# Keys drive me
## Step one heading
The first step says nothing much.

## Step two heading
The second step waits for a command.
? where *  | where apple

## Step three heading
The last step.
";

/// True when the REPL runs nothing (its bar says `running…` otherwise).
fn idle(screen: &str) -> bool {
    !screen.contains("running…")
}

fn at_step(screen: &str, step: usize) -> bool {
    idle(screen)
        && screen.contains(&format!("Lesson: Keys drive me · step {step}/3"))
        && screen.contains(&format!(
            "Step {} heading",
            ["one", "two", "three"][step - 1]
        ))
}

/// The REPL input line (the one starting with the prompt).
fn input_line(screen: &str) -> String {
    screen
        .lines()
        .rfind(|l| l.starts_with("> ") || *l == ">")
        .unwrap_or("")
        .trim_end()
        .to_string()
}

#[test]
fn enter_backspace_and_esc_on_an_empty_line_drive_a_lesson() {
    if !tmux_available() {
        eprintln!("NOTICE: tmux not found: skipping the lesson keys test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = loopback_ip();
    let ports = free_ports(ip, 3);
    let servers: Vec<(Ipv4Addr, u16, u32)> = ports
        .iter()
        .zip([2, 2, 1])
        .map(|(&p, n)| (ip, p, n))
        .collect();
    let toml = dir.path().join("cluster.toml");
    fs::write(
        &toml,
        cluster_toml(&servers, "n = 3\nw = 2\nr = 2\ntimeout_ms = 1000"),
    )
    .unwrap();
    let lesson = dir.path().join("keys.lesson");
    fs::write(&lesson, LESSON).unwrap();
    let t = Tmux::start(
        "lessonkeys",
        &format!(
            "env -u DKVS_LOG -u RUST_LOG -u NO_COLOR '{BIN}' '{}'; echo \"{EXITED} $?\"; sleep 60",
            toml.display()
        ),
    );
    t.wait_for("three servers up", 30, |s| {
        idle(s) && s.matches("● up").count() >= 3
    });
    t.type_line(&format!("lesson {}", lesson.display()));
    t.wait_for("step 1", 20, |s| at_step(s, 1));
    assert!(t.capture().contains(" Enter next ⌫ back Esc leave lesson"));

    // Enter on the empty line: the next step, shown like a typed line.
    t.keys(&["Enter"]);
    let s = t.wait_for("step 2", 20, |s| at_step(s, 2));
    assert!(s.contains("> lesson next"), "{s}");
    assert!(s.contains("▶ type: where apple"), "{s}");
    // Backspace: back to step 1.
    t.keys(&["BSpace"]);
    let s = t.wait_for("step 1 again", 20, |s| at_step(s, 1));
    assert!(s.contains("> lesson back"), "{s}");
    t.keys(&["Enter"]);
    t.wait_for("step 2 again", 20, |s| at_step(s, 2));
    // The step waits for its command: Enter does not go on.
    t.keys(&["Enter"]);
    t.wait_for("the lesson to say what it waits for", 20, |s| {
        at_step(s, 2) && s.contains("this step waits for you to type: where apple")
    });

    // With text in the line the keys edit it and run it.
    t.tmux(&["send-keys", "-t", &t.session, "-l", "where applex"]);
    t.keys(&["BSpace"]);
    t.wait_for("the line edited", 10, |s| {
        input_line(s) == "> where apple" && at_step(s, 2)
    });
    t.keys(&["Enter"]);
    t.wait_for("the command accepted", 20, |s| {
        at_step(s, 2) && s.contains("✓ done — Enter for the next step")
    });
    t.tmux(&["send-keys", "-t", &t.session, "-l", "zzz"]);
    t.wait_for("zzz typed", 10, |s| input_line(s) == "> zzz");
    t.keys(&["Escape"]);
    t.wait_for("the line cleared, the lesson still there", 10, |s| {
        input_line(s) == ">" && at_step(s, 2)
    });

    // At 80×24 the panel still shows what to do.
    t.tmux(&["resize-window", "-t", &t.session, "-x", "80", "-y", "24"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("step 3 at 80×24", 20, |s| at_step(s, 3));
    assert!(s.contains("Enter finishes the lesson"), "{s}");
    t.tmux(&["resize-window", "-t", &t.session, "-x", "120", "-y", "40"]);

    // Esc on the empty line leaves the lesson: the panel goes, the events
    // come back.
    t.keys(&["Escape"]);
    let s = t.wait_for("the lesson left", 30, |s| {
        idle(s) && !s.contains("Lesson: Keys drive me") && s.contains("Events (UTC)")
    });
    assert!(s.contains(" Enter run "), "{s}");
    // The history holds what was typed, not the lesson keys' lines.
    t.keys(&["Up"]);
    t.wait_for("the last typed line from the history", 10, |s| {
        input_line(s) == "> where apple"
    });
    t.keys(&["Up"]);
    t.wait_for("the line before it", 10, |s| {
        input_line(s).starts_with("> lesson /")
    });
    t.keys(&["Escape"]);
    t.wait_for("the line cleared", 10, |s| input_line(s) == ">");
    t.type_line("quit");
    t.wait_for("dkvs-tui to exit", 20, |s| {
        s.lines().any(|l| l.starts_with(&format!("{EXITED} 0")))
    });
}
