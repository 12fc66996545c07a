//! The tools' messages (issue 16, item 3), end to end against real
//! servers: a long key is quoted as a prefix and its length, `-q` drops the
//! logs but keeps a failure's `ERROR:` line, and a refused put names its
//! cause (memory, disk) in `dkvs-client`'s `ERROR:` line and in the REPL's
//! trace and verdict.

use std::process::Stdio;
use std::time::Duration;

use crate::common::not_spawned_toml as common_toml;
use crate::common::*;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");
const LIMIT: Duration = Duration::from_secs(30);

/// Asserts that `out`'s `ERROR:` line quotes a cut key of `len` bytes and
/// stays short.
#[track_caller]
fn assert_cut(out: &Output, len: usize) {
    let line = out.error_line();
    assert!(line.len() < 200, "{} bytes: {out}", line.len());
    assert!(
        line.contains(&format!("{}…\" ({len} bytes)", "k".repeat(40))),
        "{out}"
    );
}

#[test]
fn long_keys_are_cut_in_messages() {
    let mut c = Cluster::new(&[1]);
    c.start_all();
    // Too long to send: refused before any request.
    let too_long = "k".repeat(33_000);
    let out = c.client(&["get", "--", &too_long]);
    out.assert_fail(code::USAGE);
    assert_cut(&out, 33_000);
    assert!(out.error_line().starts_with("ERROR: get \"kkk"), "{out}");
    // Sent, and not found.
    let long = "k".repeat(30_000);
    let out = c.client(&["get", "--", &long]);
    out.assert_fail(code::NOT_FOUND);
    assert_cut(&out, 30_000);
    // A key of normal size is quoted whole, as always.
    let out = c.client(&["get", "--", "missing \"one\""]);
    out.assert_fail(code::NOT_FOUND);
    assert_eq!(
        out.error_line(),
        "ERROR: key \"missing \\\"one\\\"\" not found",
        "{out}"
    );
    // The server's initial pairs.
    let port = free_ports(c.ip, 1)[0].to_string();
    let out = run(
        clean_command(SERVER, c.dir.path()).args([&c.ip.to_string(), &port, &too_long, "v"]),
        RUN_LIMIT,
    );
    out.assert_error(code::USAGE);
    assert_cut(&out, 33_000);
}

#[test]
fn quiet_drops_the_logs_and_keeps_the_error_line() {
    let mut c = Cluster::new(&[1, 1]);
    let servers = c.config_path.clone();
    c.start_with_options(
        0,
        &["-q".as_ref(), "--servers".as_ref(), servers.as_os_str()],
    );
    c.start_with_options(1, &["--servers".as_ref(), servers.as_os_str()]);
    // A servers file that no longer parses: each server logs an error
    // on SIGHUP and keeps its ring, unless it is quiet.
    std::fs::write(&servers, "not a servers file\n").unwrap();
    send_signal(c.pid(0), "HUP");
    send_signal(c.pid(1), "HUP");
    let logged = |i: usize| c.server_output(i).1.contains("not reloaded");
    assert!(
        eventually(Duration::from_secs(5), || logged(1)),
        "{:?}",
        c.server_output(1)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.server_output(0).1, "", "-q logs nothing");
    // A failure still says why, once.
    let out = run(
        clean_command(SERVER, c.dir.path()).args(["-q", &c.ip.to_string(), &c.port(1).to_string()]),
        RUN_LIMIT,
    );
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    out.assert_one_error_line();
    assert!(out.error_line().contains("Address already in use"), "{out}");
    // The client's too (with the servers file put back).
    std::fs::write(&servers, servers_txt(&c.servers)).unwrap();
    let out = c.client(&["-q", "get", "--", "missing"]);
    out.assert_fail(code::NOT_FOUND);
    assert_eq!(out.stderr, "ERROR: key \"missing\" not found\n", "{out}");
}

/// Puts values of 300 bytes until the server refuses one; that put's
/// output.
fn put_until_refused(c: &Cluster, flags: &[&str]) -> Output {
    let value = "v".repeat(300);
    for i in 0..20 {
        let key = format!("k{i}");
        let mut args = vec!["put"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", &key, &value]);
        let out = c.client(&args);
        if out.code != Some(0) {
            return out;
        }
    }
    panic!("20 puts of 300 bytes all stored");
}

/// A `cluster.toml` in the cluster's directory listing its servers as not
/// dkvs-tui's to start; its name.
fn not_spawned_toml(c: &Cluster) -> &'static str {
    std::fs::write(c.dir.path().join("repl.toml"), common_toml(&c.servers)).unwrap();
    "repl.toml"
}

/// Runs `script` through a piped `dkvs-tui FILE --no-echo` in `c`'s
/// directory.
fn repl(c: &Cluster, file: &str, script: &str) -> Output {
    let path = c.dir.path().join("script.txt");
    std::fs::write(&path, script).unwrap();
    let input = Stdio::from(std::fs::File::open(&path).unwrap());
    let mut cmd = clean_command(TUI, c.dir.path());
    cmd.args([file, "--no-echo"]);
    run_with_input(&mut cmd, input, LIMIT)
}

#[test]
fn a_refused_put_names_memory() {
    let mut c = Cluster::new(&[1]);
    c.start_with_options(0, &["--max-memory".as_ref(), "1K".as_ref()]);
    let addr = c.addr(0);
    let out = put_until_refused(&c, &[]);
    out.assert_fail(code::FAILED);
    assert!(
        out.error_line().contains(&format!(
            "refused by {addr}: out of memory (--max-memory); W=1"
        )),
        "{out}"
    );
    // Protocol v1 refuses with no reason: the line says refused, no more.
    let out = put_until_refused(&c, &["--protocol", "v1"]);
    out.assert_fail(code::FAILED);
    assert!(
        out.error_line()
            .contains(&format!("refused by {addr}; W=1")),
        "{out}"
    );
    // The REPL: the server's line and the verdict.
    let file = not_spawned_toml(&c);
    let out = repl(&c, file, &format!("put big {}\n", "v".repeat(300)));
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("refused: out of memory"), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "FAIL — refused by {addr}: out of memory (--max-memory); W=1"
        )),
        "{out}"
    );
}

#[test]
fn a_refused_put_names_the_disk() {
    let mut c = Cluster::new(&[1]);
    let data = c.dir.path().join("data");
    c.start_with_options(
        0,
        &[
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--max-disk".as_ref(),
            "1K".as_ref(),
        ],
    );
    let addr = c.addr(0);
    let out = put_until_refused(&c, &[]);
    out.assert_fail(code::FAILED);
    assert!(
        out.error_line()
            .contains(&format!("refused by {addr}: disk full (--max-disk); W=1")),
        "{out}"
    );
    let file = not_spawned_toml(&c);
    let out = repl(&c, file, &format!("put big {}\n", "v".repeat(300)));
    assert!(out.stdout.contains("refused: disk full"), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "FAIL — refused by {addr}: disk full (--max-disk); W=1"
        )),
        "{out}"
    );
}
