//! `replay` through the piped shell against real servers: the last data
//! command's summary and its time line as text, at any pace, and a clear
//! error before any operation (docs/TUI.md, "Messages on the ring").

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");

/// Pids in the `pid` column of the `status` table of `stdout`.
fn status_pids(stdout: &str) -> Vec<u32> {
    stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 5 && f[1].contains(':') && f[0].parse::<usize>().is_ok() {
                f[3].parse().ok()
            } else {
                None
            }
        })
        .collect()
}

/// The lines of `text` printed for the command echoed as `> {command}`.
fn output_of<'a>(text: &'a str, command: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| l.strip_prefix("> ") != Some(command))
        .skip(1)
        .take_while(|l| !l.starts_with("> "))
        .collect()
}

#[test]
fn piped_replay_prints_the_last_operation_and_its_time_line() {
    let (dir, _) = spawned_cluster(&[2, 2, 2]);
    let script = "replay\nput a b n=3 w=2\nreplay 5\nslow 5\nget a\nreplay\nstatus\nquit\n";
    std::fs::write(dir.path().join("script.txt"), script).unwrap();
    let mut cmd = clean_command(TUI, dir.path());
    cmd.arg("cluster.toml");
    let input = Stdio::from(std::fs::File::open(dir.path().join("script.txt")).unwrap());
    let out = run_with_input(&mut cmd, input, Duration::from_secs(60));
    let text = &out.stdout;
    assert!(!out.timed_out, "timed out:\n{text}\n{}", out.stderr);
    let pids = status_pids(text);
    assert_eq!(pids.len(), 3, "{text}");
    // Before any operation: one clear error (and the script fails).
    assert_eq!(
        output_of(text, "replay"),
        vec![
            "ERROR: replay: no operation to replay yet (run get, put, del, cat, substr or find first)"
        ],
        "{text}"
    );
    assert_eq!(out.code, Some(1), "{text}\n{}", out.stderr);
    // After the put: its summary, the three rows of the time line and the
    // legend of the marks.
    let put = output_of(text, "replay 5");
    assert_eq!(put.len(), 5, "{text}");
    assert!(
        put[0].starts_with("replay: put \"a\" (N=3 W=2): 3 replies, quorum at the 2nd ("),
        "{text}"
    );
    // The axis; `┼` marks the quorum (at its end when the last reply
    // came right after the quorum).
    assert!(put[2].trim_start().starts_with('├'), "{text}");
    assert!(put[2].ends_with('┤') || put[2].ends_with('┼'), "{text}");
    assert!(put[2].contains('┼'), "{text}");
    assert!(
        put[3].contains("quorum ") && put[3].trim_start().starts_with('0'),
        "{text}"
    );
    assert!(put[4].contains("marks:"), "{text}");
    // Every server's number is on the marks row.
    for k in ["1", "2", "3"] {
        assert!(put[1].contains(k), "{text}");
    }
    // A slow get is what a later replay plays.
    let get = output_of(text, "replay");
    let get_replay = text
        .lines()
        .filter(|l| l.starts_with("replay: get \"a\" (N=3 R=2): 3 replies, quorum at the 2nd"))
        .count();
    assert_eq!(get_replay, 1, "{text}\n{get:?}");
    assert_all_gone(&pids);
}
