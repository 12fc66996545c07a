//! Slides from the live cluster (docs/TUI.md, "Slides"): `export ring`,
//! `export transcript`, `dkvs-tui --export` and `--lesson`, through the
//! piped shell against real servers.
//!
//! Each test writes a `cluster.toml` on its own random loopback address
//! with free ports in a temporary directory, runs the real binary with a
//! script on stdin (bounded wait) and reads the files it wrote. The piped
//! shell stops the servers it started on every way out.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use dkvs::ring::Ring;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const LIMIT: Duration = Duration::from_secs(60);

fn run_script(dir: &Path, args: &[&str], script: &str) -> Output {
    let mut cmd = clean_command(TUI, dir);
    cmd.args(["--shell", "cluster.toml"]).args(args);
    let script_path = dir.join("script.txt");
    std::fs::write(&script_path, script).unwrap();
    let script = Stdio::from(std::fs::File::open(&script_path).unwrap());
    let out = run_with_input(&mut cmd, script, LIMIT);
    assert!(
        out.code.is_some(),
        "killed (timeout?)\n{}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

fn class_count(doc: &roxmltree::Document<'_>, class: &str) -> usize {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .count()
}

#[test]
fn export_ring_and_transcript_from_the_repl() {
    let (dir, config) = spawned_cluster(&[3, 2, 2]);
    let ring = Ring::new(&config);
    let script = "put a b\nkill 2\nget a\nexport ring slide.svg\nexport transcript notes.md\n\
                  export ring pic.png\nexport ring no/such/dir/x.svg\nquit\n";
    let out = run_script(dir.path(), &[], script);
    let text = &out.stdout;
    assert!(
        text.contains("exported the ring to slide.svg (3 servers, 7 nodes)\n"),
        "{text}"
    );
    // `put`, `kill` and `get`: the transcript's commands.
    assert!(
        text.contains("exported the transcript to notes.md (3 commands)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "WARNING: export: pic.png does not end in .svg; writing an SVG picture there anyway\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("ERROR: export: cannot write no/such/dir/x.svg: No such file or directory\n"),
        "{text}"
    );
    assert_eq!(out.code, Some(1), "one export failed:\n{text}");

    let svg = std::fs::read_to_string(dir.path().join("slide.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(class_count(&doc, "vnode"), 7, "{svg}");
    assert_eq!(class_count(&doc, "legend-entry"), 3, "{svg}");
    // The last key (`get a`) and its three replicas, ranked.
    assert_eq!(class_count(&doc, "key"), 1, "{svg}");
    assert_eq!(class_count(&doc, "replica"), ring.replicas(b"a", 3).len());
    // Server 2 was killed: its marks say so.
    let down: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("vnode"))
        .filter(|n| n.attribute("data-state") == Some("down"))
        .map(|n| n.attribute("data-server").unwrap().to_string())
        .collect();
    assert_eq!(down, ["2", "2"], "{svg}");
    assert!(
        std::fs::read_to_string(dir.path().join("pic.png"))
            .unwrap()
            .contains("<svg")
    );

    let md = std::fs::read_to_string(dir.path().join("notes.md")).unwrap();
    assert!(md.starts_with("# dkvs-tui session\n"), "{md}");
    assert!(md.contains("- cluster file: `cluster.toml`"), "{md}");
    assert!(md.contains("## 1. ✓ `put a b`\n\n```text\n"), "{md}");
    assert!(md.contains("## 2. ✓ `kill 2`"), "{md}");
    assert!(md.contains("## 3. ✓ `get a`"), "{md}");
    assert!(md.contains("\nOK — W=2 reached"), "{md}");
    assert!(
        !md.contains("`export"),
        "export lines are not recorded:\n{md}"
    );
}

#[test]
fn export_flags_write_both_files_when_the_input_ends() {
    let (dir, _) = spawned_cluster(&[2, 1]);
    let out = run_script(
        dir.path(),
        &["--export", "end.svg", "--export", "end.md"],
        "put k v\nwhere k\n",
    );
    let text = &out.stdout;
    assert_eq!(out.code, Some(0), "{text}\n{}", out.stderr);
    assert!(
        text.ends_with(
            "> export ring end.svg\nexported the ring to end.svg (2 servers, 3 nodes)\n\
             > export transcript end.md\nexported the transcript to end.md (2 commands)\n"
        ),
        "{text}"
    );
    let svg = std::fs::read_to_string(dir.path().join("end.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(class_count(&doc, "vnode"), 3);
    let md = std::fs::read_to_string(dir.path().join("end.md")).unwrap();
    assert!(md.contains("## 2. ✓ `where k`"), "{md}");
}

#[test]
fn export_flag_with_another_extension_is_a_usage_error() {
    let (dir, _) = spawned_cluster(&[1]);
    let out = run_script(dir.path(), &["--export", "foo.txt"], "status\n");
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr,
        "ERROR: --export foo.txt: the file must end in .svg (the ring) or .md (the transcript)\n"
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn lesson_flag_runs_the_lesson_first() {
    let (dir, _) = spawned_cluster(&[2, 2, 1]);
    let out = run_script(
        dir.path(),
        &["--lesson", "1", "--export", "lesson.md"],
        "lesson end\n",
    );
    let text = &out.stdout;
    assert!(text.starts_with("> lesson 1\n"), "{text}\n{}", out.stderr);
    let lesson_end = text.find("> lesson end\n").expect(text);
    assert!(text.find("> export transcript lesson.md\n").expect(text) > lesson_end);
    let md = std::fs::read_to_string(dir.path().join("lesson.md")).unwrap();
    assert!(md.contains("## 1. ✓ `lesson 1`"), "{md}");
    assert!(md.contains("`lesson end`"), "{md}");
}

/// The full screen writes its `--export` files when Ctrl-C ends it, once
/// the terminal is restored, and says so on the main screen.
#[test]
fn full_screen_exports_on_ctrl_c() {
    use crate::common::tmux::{Tmux, tmux_available};
    if !tmux_available() {
        eprintln!("NOTICE: tmux not found: skipping the full-screen export test");
        return;
    }
    let (dir, config) = spawned_cluster(&[2, 1, 1]);
    let command = format!(
        "cd '{}' && '{TUI}' --export fs.svg --export fs.md cluster.toml; echo \"EXITED $?\"; sleep 60",
        dir.path().display()
    );
    let t = Tmux::start("export", &command);
    t.wait_for("every server up", 30, |s| {
        s.matches("● up").count() >= config.servers.len()
    });
    t.type_line("put a b");
    t.wait_for("the put's verdict", 20, |s| s.contains("OK — W="));
    t.keys(&["C-c"]);
    let screen = t.wait_for("the exit line", 30, |s| s.contains("EXITED "));
    assert!(screen.contains("EXITED 0"), "{screen}");
    assert!(
        screen.contains("exported the ring to fs.svg (3 servers, 4 nodes)"),
        "{screen}"
    );
    assert!(
        screen.contains("exported the transcript to fs.md (1 command)"),
        "{screen}"
    );
    let svg = std::fs::read_to_string(dir.path().join("fs.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(class_count(&doc, "vnode"), 4);
    assert_eq!(class_count(&doc, "key"), 1);
    let md = std::fs::read_to_string(dir.path().join("fs.md")).unwrap();
    assert!(md.contains("## 1. ✓ `put a b`"), "{md}");
}
