//! Clock skew end to end: real `dkvs-client` processes whose clocks are set
//! wrong by Debian's `faketime`, against three real servers. A client ahead
//! by 200 ms used to make a later acknowledged put invisible (its version
//! was higher); now the later put is re-stamped and wins, a clock far ahead
//! is refused with the reason (exit 6), and a clock behind catches up.

use std::process::Command;

use crate::common::*;

/// Exit status of a client whose clock is off (`commands::exit::CLOCK`).
const CLOCK: u8 = 6;

/// Whether `faketime` can run here. CI installs it (`.ci/run`), so there
/// its absence is a failure; elsewhere the test is skipped with the reason.
fn faketime_available() -> bool {
    let found = Command::new("faketime")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "faketime is missing: .ci/run installs it (apt-get install faketime)"
        );
        println!("skipped: faketime is not installed (apt-get install faketime)");
    }
    found
}

/// `dkvs-client args…` against `c`, its clock moved by `offset` (faketime's
/// relative form: `+0.2s`, `-20s`).
fn skewed_client(c: &Cluster, offset: &str, args: &[&str]) -> Output {
    let inner = c.client_command(args);
    let mut cmd = Command::new("faketime");
    cmd.arg("-f").arg(offset).arg(inner.get_program());
    cmd.args(inner.get_args())
        .stdin(std::process::Stdio::null());
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (name, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    run(&mut cmd, RUN_LIMIT)
}

fn cluster() -> Cluster {
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_all();
    c
}

/// The reproduction of the bug: `fast` from a clock 200 ms ahead, then
/// `later` from a correct clock, acknowledged after it: `later` is read.
#[test]
fn a_put_after_a_clock_ahead_is_not_lost() {
    if !faketime_available() {
        return;
    }
    let c = cluster();
    skewed_client(&c, "+0.2s", &["put", "--", "q", "fast"]).assert_stdout("OK\n");
    let later = c.client(&["put", "-v", "--", "q", "later"]);
    later.assert_stdout("OK\n");
    assert!(
        later.stderr.contains("superseded by v") && later.stderr.contains("ahead); re-stamped v"),
        "the re-stamp is logged with -v: {}",
        later.stderr
    );
    c.get(&[], "q").assert_stdout("OK later\n");
    c.get(&["-r", "3"], "q").assert_stdout("OK later\n");
    // The same with a delete: it is ordered after the put from the future.
    skewed_client(&c, "+0.3s", &["put", "--", "d", "ahead"]).assert_stdout("OK\n");
    c.client(&["del", "--", "d"]).assert_stdout("OK\n");
    c.get(&[], "d").assert_fail(4);
}

/// 20 s ahead is beyond the servers' maximum clock offset (500 ms): the
/// put is refused, the reason says by how much, exit 6, nothing changes.
#[test]
fn a_clock_far_ahead_is_refused_with_the_reason() {
    if !faketime_available() {
        return;
    }
    let c = cluster();
    c.put_ok(&[], "q", "before");
    let out = skewed_client(&c, "+20s", &["put", "--", "q", "future"]);
    out.assert_fail(CLOCK).assert_one_error_line();
    let line = out.error_line();
    assert!(
        line.starts_with("ERROR: put \"q\": refused by 127.")
            && line.contains(": this client's clock is 20.")
            && line.ends_with(" s ahead (max offset 500 ms); fix its time (NTP)"),
        "{line}"
    );
    skewed_client(&c, "+20s", &["del", "--", "q"]).assert_fail(CLOCK);
    c.get(&[], "q").assert_stdout("OK before\n");
    // Reads need no clock: a client far ahead still reads.
    skewed_client(&c, "+20s", &["get", "--", "q"]).assert_stdout("OK before\n");
}

/// A client 20 s behind adopts the newer version the servers keep and its
/// put wins: a slow clock costs a round trip, not a lost write.
#[test]
fn a_clock_behind_catches_up() {
    if !faketime_available() {
        return;
    }
    let c = cluster();
    c.put_ok(&[], "q", "now");
    skewed_client(&c, "-20s", &["put", "--", "q", "from-the-past"]).assert_stdout("OK\n");
    c.get(&["-r", "3"], "q").assert_stdout("OK from-the-past\n");
}
