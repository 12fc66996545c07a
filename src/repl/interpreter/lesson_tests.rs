//! Tests of the lesson runner against in-process servers (no supervisor):
//! steps, the panel's view, waiting for a typed command, back, and the
//! settings and keys put back when the lesson ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use tokio::sync::oneshot;

use super::*;
use crate::config::parse_servers_txt;
use crate::server::Server;

const LESSON: &str = "\
# Offline
## One
Look where apple goes.
$ where apple
? put * * | put a key

## Two
$ slow 20
$ skew -1000
$ whatif remove 1
$ put lk v
";

/// Three in-process servers (kept running while the senders live).
async fn cluster() -> (ClusterConfig, Vec<oneshot::Sender<()>>) {
    let mut lines = String::new();
    let mut stops = Vec::new();
    for _ in 0..3 {
        let server = Server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = server.local_addr().unwrap().port();
        lines.push_str(&format!("127.0.0.1 {port} 2\n"));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        stops.push(tx);
    }
    (parse_servers_txt(&lines, "t").unwrap(), stops)
}

async fn run(i: &mut Interpreter, line: &str) -> (bool, Vec<String>) {
    let mut lines = Vec::new();
    let outcome = i
        .run_line(line, &mut |e| {
            if let ReplEvent::Line(l) = e {
                lines.push(l);
            }
        })
        .await;
    (outcome.ok, lines)
}

/// Starts the lesson in `file` and checks step 1: its header, its view,
/// and that only the command asked for lets the student go on.
async fn step_one_waits_for_the_student(i: &mut Interpreter, file: &std::path::Path, start: &str) {
    let (ok, lines) = run(i, start).await;
    assert!(ok, "{lines:?}");
    assert_eq!(
        lines[0],
        format!("Lesson {}: Offline — 2 steps", file.display())
    );
    assert_eq!(
        lines[1],
        format!("── Lesson {} · step 1/2: One ──", file.display())
    );
    // The panel has the text: the TUI's output does not.
    assert_eq!(lines[2], "$ where apple");
    assert!(!lines.iter().any(|l| l.contains("Look where")), "{lines:?}");
    let view = i.view().lesson.clone().unwrap();
    assert_eq!((view.step, view.steps), (1, 2));
    assert_eq!(view.title, "Offline");
    assert_eq!(view.heading, "One");
    assert_eq!(view.text, ["Look where apple goes."]);
    assert_eq!(view.expect.as_deref(), Some("put a key"));
    assert!(!view.expect_met);

    // Waiting: `next` is refused, another command does not count.
    let (ok, lines) = run(i, "lesson next").await;
    assert!(!ok);
    assert_eq!(
        lines,
        ["this step waits for you to type: put a key (Esc leaves the lesson)"]
    );
    let (_, lines) = run(i, "get before").await;
    assert!(!lines.iter().any(|l| l.contains('✓')), "{lines:?}");
    let (ok, lines) = run(i, "put mine m").await;
    assert!(ok);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("✓ that is it — Enter for the next step")
    );
    assert!(i.view().lesson.as_ref().unwrap().expect_met);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_steps_waits_goes_back_and_puts_everything_back() {
    let (config, _stops) = cluster().await;
    let client = Client::new(config).with_timeout(Duration::from_millis(300));
    let mut i = Interpreter::new(client, None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offline.lesson");
    std::fs::write(&file, LESSON).unwrap();
    let start = format!("lesson {}", file.display());
    assert!(run(&mut i, "put before b0").await.0);

    step_one_waits_for_the_student(&mut i, &file, &start).await;

    // Step 2 changes settings and writes a key.
    let (ok, lines) = run(&mut i, "lesson next").await;
    assert!(ok, "{lines:?}");
    assert!(lines.contains(&"$ put lk v".to_string()), "{lines:?}");
    assert_eq!(i.view().slow_ms, Some(20));
    assert!(i.view().whatif.is_some());
    assert_eq!(i.client().clock_offset_ms(), -1000);
    let view = i.view().lesson.clone().unwrap();
    assert_eq!(
        (view.step, view.expect.clone(), view.expect_met),
        (2, None, true)
    );

    // Back: the cluster as step 1 found it (the student's key too), then
    // step 1 again, waiting again.
    let (ok, lines) = run(&mut i, "lesson back").await;
    assert!(ok, "{lines:?}");
    for undone in [
        "restored: what-if view cleared",
        "restored: deleted key \"lk\" (written during the lesson)",
        "restored: deleted key \"mine\" (written during the lesson)",
        "restored: slow motion off",
        "restored: clock: the machine's (no skew)",
    ] {
        assert!(lines.contains(&undone.to_string()), "{undone}: {lines:?}");
    }
    assert_eq!(i.view().slow_ms, None);
    assert!(i.view().whatif.is_none());
    assert_eq!(i.client().clock_offset_ms(), 0);
    let view = i.view().lesson.clone().unwrap();
    assert_eq!((view.step, view.expect_met), (1, false));
    let (ok, lines) = run(&mut i, "lesson back").await;
    assert!(!ok);
    assert_eq!(
        lines,
        ["this is the first step of the lesson: nothing to go back to"]
    );

    // Through to the end: everything put back, the old key kept.
    run(&mut i, "put again a").await;
    assert!(run(&mut i, "lesson next").await.0);
    let (ok, lines) = run(&mut i, "lesson next").await;
    assert!(ok, "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("lesson finished: the cluster is as it was")
    );
    assert!(i.view().lesson.is_none());
    assert_eq!(i.view().slow_ms, None);
    for gone in ["get lk", "get again"] {
        let (_, lines) = run(&mut i, gone).await;
        assert!(lines.last().unwrap().contains("not found"), "{lines:?}");
    }
    let (ok, lines) = run(&mut i, "get before").await;
    assert!(ok, "{lines:?}");
    let (ok, lines) = run(&mut i, "lesson end").await;
    assert!(!ok);
    assert_eq!(
        lines,
        ["ERROR: lesson end: no lesson is running (type `lesson` for the list)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_shell_gets_the_text_and_quit_leaves_the_lesson() {
    let (config, _stops) = cluster().await;
    let client = Client::new(config).with_timeout(Duration::from_millis(300));
    let mut i = Interpreter::new(client, None);
    i.set_lesson_text_in_output(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offline.lesson");
    std::fs::write(&file, LESSON).unwrap();
    let (_, lines) = run(&mut i, &format!("lesson {}", file.display())).await;
    assert_eq!(lines[2], "Look where apple goes.");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("→ your turn: put a key")
    );
    run(&mut i, "slow 30").await;
    let (ok, lines) = run(&mut i, "quit").await;
    assert!(ok, "{lines:?}");
    assert_eq!(
        lines,
        [
            "restored: slow motion off",
            "left the lesson: the cluster is as it was"
        ]
    );
    assert!(!i.lesson_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_lesson_starts_nothing_and_keeps_the_running_one() {
    let (config, _stops) = cluster().await;
    let client = Client::new(config).with_timeout(Duration::from_millis(300));
    let mut i = Interpreter::new(client, None);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.lesson");
    std::fs::write(&good, LESSON).unwrap();
    let bad = dir.path().join("bad.lesson");
    std::fs::write(&bad, "# Bad\n## one\n$ kill 4\n").unwrap();
    assert!(run(&mut i, &format!("lesson {}", good.display())).await.0);
    let (ok, lines) = run(&mut i, &format!("lesson {}", bad.display())).await;
    assert!(!ok);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("ERROR: {}:3: `$ kill 4`: ", bad.display())),
        "{lines:?}"
    );
    assert_eq!(i.view().lesson.as_ref().unwrap().title, "Offline");
    let missing = dir.path().join("missing.lesson");
    let (ok, lines) = run(&mut i, &format!("lesson {}", missing.display())).await;
    assert!(!ok);
    assert!(lines[0].starts_with(&format!("ERROR: {}: cannot read it", missing.display())));
    // A lesson that cuts links needs hosts; these servers share loopback.
    let cuts = dir.path().join("cuts.lesson");
    std::fs::write(
        &cuts,
        "# Cuts\nneeds: 3 servers, namespaces\n## one\n$ partition 1 | 2,3\n",
    )
    .unwrap();
    let (ok, lines) = run(&mut i, &format!("lesson {}", cuts.display())).await;
    assert!(!ok);
    assert!(lines[0].contains("needs the namespaces mode"), "{lines:?}");
    let (ok, lines) = run(&mut i, "partition 1 | 2,3").await;
    assert!(!ok);
    assert!(lines[0].contains("no link to cut"), "{lines:?}");
    let (ok, lines) = run(&mut i, "net").await;
    assert!(ok);
    assert!(lines[0].starts_with("network: loopback"), "{lines:?}");
    let count = crate::repl::lesson::bundled::count();
    let (ok, lines) = run(&mut i, &format!("lesson {}", count + 1)).await;
    assert!(!ok);
    assert_eq!(
        lines,
        [format!(
            "ERROR: no lesson {}: there are {count} (type `lesson`)",
            count + 1
        )]
    );
    // A lesson that can start ends the running one first.
    let (ok, lines) = run(&mut i, "lesson 1").await;
    assert!(ok, "{lines:?}");
    assert_eq!(lines[0], "left the lesson: the cluster is as it was");
    assert!(
        lines[1].starts_with(&format!("Lesson 1/{count}: ")),
        "{lines:?}"
    );
    let (ok, lines) = run(&mut i, "lesson").await;
    assert!(ok);
    assert_eq!(lines.len(), count + 2, "{lines:?}");
    assert!(lines[1].starts_with("   1  "), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_own_commands_do_not_count_as_typed() {
    let (config, _stops) = cluster().await;
    let client = Client::new(config).with_timeout(Duration::from_millis(300));
    let mut i = Interpreter::new(client, None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("own.lesson");
    std::fs::write(&file, "# Own\n## one\n$ where k\n? where *\n## two\nok\n").unwrap();
    let (_, lines) = run(&mut i, &format!("lesson {}", file.display())).await;
    assert!(!lines.iter().any(|l| l.contains('✓')), "{lines:?}");
    assert!(!i.view().lesson.as_ref().unwrap().expect_met);
    // A line that does not parse does not count either.
    let (ok, _) = run(&mut i, "where").await;
    assert!(!ok);
    assert!(!i.view().lesson.as_ref().unwrap().expect_met);
    let (_, lines) = run(&mut i, "where k").await;
    assert_eq!(
        lines.last().map(String::as_str),
        Some("✓ that is it — Enter for the next step")
    );
    // Once met, typing it again says nothing more.
    let (_, lines) = run(&mut i, "where k").await;
    assert!(!lines.iter().any(|l| l.contains('✓')), "{lines:?}");
    let (_, lines) = run(&mut i, "lesson next").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (_, lines) = run(&mut i, "lesson next").await;
    assert_eq!(lines, ["lesson finished: the cluster is as it was"]);
}
