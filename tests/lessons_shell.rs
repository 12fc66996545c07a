//! Guided lessons end to end through the piped shell (`dkvs-tui --shell
//! cluster.toml < script`) against real servers: a lesson file whose steps
//! kill a server, slow down, delay another, move the clock, ask a what-if
//! and write a key, then wait for the student's `get`; finishing it leaves
//! the cluster as it found it. Waits are bounded; processes are stopped
//! by pid only.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const LIMIT: Duration = Duration::from_secs(90);

const LESSON: &str = "\
# A test lesson
needs: 3 servers

## Break things
We kill a server, slow down and write a key.
$ kill 2
$ slow 5
$ delay 3 20
$ skew -2000
$ whatif remove 1
$ put lessonkey v1

## Your turn
Read any key back.
? get * | get <any key>

## Done
That is all.
";

/// Pids in the `pid` column of every `status` table of `stdout`, by server
/// number (1-based), in order of appearance; `None` for a server down.
fn status_rows(stdout: &str) -> Vec<(usize, Option<u32>, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 6 && f[1].contains(':') && f[0].parse::<usize>().is_ok() {
                Some((f[0].parse().ok()?, f[3].parse().ok(), f[5].to_string()))
            } else {
                None
            }
        })
        .collect()
}

fn run_script(dir: &Path, script: &str) -> Output {
    let mut cmd = clean_command(TUI, dir);
    cmd.args(["--shell", "cluster.toml"]);
    let script_path = dir.join("script.txt");
    std::fs::write(&script_path, script).unwrap();
    let script = Stdio::from(std::fs::File::open(&script_path).unwrap());
    run_with_input(&mut cmd, script, LIMIT)
}

/// The output lines of the command echoed as `> <command>` (its `nth`
/// occurrence, 0-based), up to the next command.
fn output_of<'a>(text: &'a str, command: &str, nth: usize) -> Vec<&'a str> {
    let echo = format!("> {command}");
    text.lines()
        .skip_while({
            let mut seen = 0;
            move |l| {
                if *l == echo {
                    seen += 1;
                    seen <= nth
                } else {
                    true
                }
            }
        })
        .skip(1)
        .take_while(|l| !l.starts_with("> "))
        .collect()
}

#[test]
fn a_lesson_file_runs_waits_for_the_student_and_leaves_the_cluster_as_it_was() {
    let (dir, config) = spawned_cluster(&[3, 3, 3]);
    let lesson = dir.path().join("test.lesson");
    std::fs::write(&lesson, LESSON).unwrap();
    let bad = dir.path().join("bad.lesson");
    std::fs::write(&bad, "# Bad\n## one\n$ frobnicate 3\n").unwrap();
    let big = dir.path().join("big.lesson");
    std::fs::write(&big, "# Big\nneeds: 9 servers\n## one\ntext\n").unwrap();
    let (lesson, bad, big) = (lesson.display(), bad.display(), big.display());
    let script = format!(
        "status\nput before b0\nlesson next\nlesson {bad}\nlesson {big}\nlesson 99\n\
         lesson {lesson}\nlesson back\nlesson next\nwhere lessonkey\nlesson next\n\
         get lessonkey\nlesson next\nlesson next\nstatus\ndump\nget before\nquit\n"
    );
    let out = run_script(dir.path(), &script);
    let text = &out.stdout;
    assert!(!out.timed_out, "timed out:\n{text}\n{}", out.stderr);
    let rows = status_rows(text);
    assert_eq!(rows.len(), 6, "{text}");
    let pids: Vec<u32> = rows.iter().filter_map(|r| r.1).collect();

    // Errors start nothing.
    assert_eq!(
        output_of(text, "lesson next", 0),
        ["ERROR: lesson next: no lesson is running (type `lesson` for the list)"]
    );
    let parse = output_of(text, &format!("lesson {bad}"), 0);
    assert_eq!(parse.len(), 1, "{text}");
    assert!(
        parse[0].starts_with(&format!("ERROR: {bad}:3: `$ frobnicate 3`: ")),
        "{text}"
    );
    assert_eq!(
        output_of(text, &format!("lesson {big}"), 0),
        [
            "ERROR: lesson \"Big\" needs 9 servers; this cluster has 3 (start dkvs-tui with a larger cluster.toml, or `add` servers first)"
        ]
    );
    let bundled = dkvs::repl::lesson::bundled::count();
    assert_eq!(
        output_of(text, "lesson 99", 0),
        [format!(
            "ERROR: no lesson 99: there are {bundled} (type `lesson`)"
        )]
    );

    // Step 1: the header, the text, each command echoed before its output.
    let start = output_of(text, &format!("lesson {lesson}"), 0);
    assert_eq!(
        start[0],
        format!("Lesson {lesson}: A test lesson — 3 steps")
    );
    assert_eq!(
        start[1],
        format!("── Lesson {lesson} · step 1/3: Break things ──")
    );
    assert_eq!(start[2], "We kill a server, slow down and write a key.");
    assert_eq!(start[3], "$ kill 2");
    assert!(start[4].starts_with("killed "), "{text}");
    let put = start
        .iter()
        .position(|l| *l == "$ put lessonkey v1")
        .unwrap();
    assert!(
        start[put + 1..].iter().any(|l| l.starts_with("OK — W=2")),
        "{text}"
    );
    assert_eq!(
        output_of(text, "lesson back", 0),
        ["this is the first step of the lesson: nothing to go back to"]
    );

    // Step 2 waits for a `get`: another command does not count.
    let two = output_of(text, "lesson next", 1);
    assert_eq!(
        two[0],
        format!("── Lesson {lesson} · step 2/3: Your turn ──")
    );
    assert_eq!(two.last(), Some(&"→ your turn: get <any key>"));
    assert!(
        !output_of(text, "where lessonkey", 0)
            .iter()
            .any(|l| l.contains('✓'))
    );
    assert_eq!(
        output_of(text, "lesson next", 2),
        ["this step waits for you to type: get <any key> (`lesson end` leaves the lesson)"]
    );
    assert_eq!(
        output_of(text, "get lessonkey", 0).last(),
        Some(&"✓ that is it — `lesson next` for the next step")
    );
    let three = output_of(text, "lesson next", 3);
    assert_eq!(three[0], format!("── Lesson {lesson} · step 3/3: Done ──"));

    // Finishing undoes everything, one line each.
    let end = output_of(text, "lesson next", 4);
    assert_eq!(
        end.last(),
        Some(&"lesson finished: the cluster is as it was"),
        "{text}"
    );
    for undone in [
        "restored: what-if view cleared",
        "restored: slow motion off",
        "restored: deleted key \"lessonkey\" (written during the lesson)",
    ] {
        assert!(end.contains(&undone), "{undone}:\n{text}");
    }
    let started = format!("restored: started {}", config.servers[1].addr());
    assert!(end.iter().any(|l| l.starts_with(&started)), "{text}");
    assert!(end.iter().any(|l| l.contains("healed")), "{text}");
    assert!(
        end.iter().any(|l| l.starts_with("restored: clock")),
        "{text}"
    );

    // Every server is up again, the lesson's key is gone, the one written
    // before it stays, and slow motion is off (no progress lines).
    let after = &rows[3..];
    assert!(after.iter().all(|r| r.2 == "up" && r.1.is_some()), "{text}");
    assert_ne!(after[1].1, rows[1].1, "server 2 was started again:\n{text}");
    let dump = output_of(text, "dump", 0).join("\n");
    assert!(dump.contains("before --> b0"), "{dump}");
    assert!(!dump.contains("lessonkey"), "{dump}");
    let get = output_of(text, "get before", 0);
    assert!(get.iter().any(|l| l.starts_with("OK b0")), "{text}");
    assert!(
        !get.iter().any(|l| l.starts_with("  …")),
        "slow motion still on:\n{text}"
    );
    assert_all_gone(&pids);
}
