//! Everyday comforts of the tools (issue 9, item 5, and logs of item 4),
//! end to end against a real one-server ring: `put -- key -` reading
//! standard input, `--value-file`, the v1 value limits on both,
//! `--json` answers, `--color`, `-q`/`-v` and `RUST_LOG`. The plain
//! `OK`/`FAIL` stdout (docs/CLI.md) is checked unchanged alongside.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// A running ring of one server.
fn one_server() -> Cluster {
    let mut c = Cluster::new(&[1]);
    c.start_all();
    c
}

/// A file in the cluster's directory with `contents`, as standard input.
fn stdin_file(c: &Cluster, name: &str, contents: &[u8]) -> Stdio {
    let path = c.dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("create an input file");
    f.write_all(contents).expect("write an input file");
    Stdio::from(std::fs::File::open(&path).expect("reopen an input file"))
}

#[test]
fn put_reads_the_value_from_stdin_and_from_a_file() {
    let c = one_server();
    let input = stdin_file(&c, "in", b"from stdin\twith tab");
    run_with_input(
        &mut c.client_command(&["put", "--", "k", "-"]),
        input,
        LIMIT,
    )
    .assert_stdout("OK\n");
    c.get(&[], "k").assert_stdout("OK from stdin\twith tab\n");

    let path = c.dir.path().join("value.txt");
    std::fs::write(&path, b"from a file").expect("write the value file");
    let file = path.to_str().expect("UTF-8 temp path");
    c.client(&["put", "--value-file", file, "--", "f"])
        .assert_stdout("OK\n");
    c.get(&[], "f").assert_stdout("OK from a file\n");

    // A value and --value-file together, or neither, is a usage error.
    c.client(&["put", "--value-file", file, "--", "f", "v"])
        .assert_fail(2);
    c.client(&["put", "--", "f"]).assert_fail(2);
    c.client(&["put", "--value-file", "/nonexistent/x", "--", "f"])
        .assert_fail(2)
        .assert_one_error_line();
}

#[test]
fn values_read_are_held_to_the_spec_limits() {
    let c = one_server();
    let big = vec![b'v'; 32753];
    let input = stdin_file(&c, "max", &big);
    run_with_input(
        &mut c.client_command(&["put", "--", "big", "-"]),
        input,
        LIMIT,
    )
    .assert_stdout("OK\n");
    let too_big = vec![b'v'; 32754];
    let input = stdin_file(&c, "over", &too_big);
    let out = run_with_input(
        &mut c.client_command(&["put", "--", "big", "-"]),
        input,
        LIMIT,
    );
    out.assert_fail(2);
    assert!(out.stderr.contains("32753-byte limit"), "{out}");
    let input = stdin_file(&c, "nul", b"a\0b");
    let out = run_with_input(
        &mut c.client_command(&["put", "--", "nul", "-"]),
        input,
        LIMIT,
    );
    out.assert_fail(2);
    assert!(out.stderr.contains("NUL"), "{out}");
}

#[test]
fn json_answers_for_scripts() {
    let c = one_server();
    c.client(&["--json", "put", "--", "a", "say \"hi\""])
        .assert_stdout("{\"ok\":true}\n");
    c.client(&["--json", "get", "--", "a"])
        .assert_stdout("{\"ok\":true,\"value\":\"say \\\"hi\\\"\"}\n");
    c.client(&["--json", "find", "--", "a", "a"])
        .assert_stdout("{\"ok\":true,\"position\":0}\n");
    let out = c.client(&["--json", "get", "--", "missing"]);
    assert_eq!(out.code, Some(4), "{out}");
    assert!(
        out.stdout
            .starts_with("{\"ok\":false,\"exit\":4,\"error\":"),
        "{out}"
    );
    assert!(out.stderr.starts_with("ERROR: "), "{out}");
    // A usage error found while parsing answers in JSON too.
    let out = c.client(&["--json", "get", "-n", "0", "--", "a"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stdout
            .starts_with("{\"ok\":false,\"exit\":2,\"error\":")
            && out.stdout.ends_with("}\n")
            && out.stdout.lines().count() == 1,
        "{out}"
    );
    // Without --json the `OK`/`FAIL` lines are unchanged, also with --color
    // auto (stdout is a pipe here) and never.
    c.get(&[], "a").assert_stdout("OK say \"hi\"\n");
    c.client(&["--color", "never", "get", "--", "a"])
        .assert_stdout("OK say \"hi\"\n");
    c.client(&["--color", "auto", "get", "--", "missing"])
        .assert_fail(4);
    let painted = c.client(&["--color", "always", "get", "--", "a"]);
    assert_eq!(
        painted.stdout, "\u{1b}[32mOK say \"hi\"\u{1b}[0m\n",
        "{painted}"
    );
}

#[test]
fn quiet_verbose_and_rust_log() {
    let c = one_server();
    // Normal operation: nothing on stderr.
    let out = c.client(&["put", "--", "k", "v"]);
    out.assert_stdout("OK\n");
    assert_eq!(out.stderr, "", "{out}");
    // -v: info logs with a level and a timestamp; -q and -v conflict.
    let out = c.client(&["-vv", "get", "--", "k"]);
    out.assert_stdout("OK v\n");
    let out_rust_log = run(
        c.client_command(&["get", "--", "k"])
            .env("RUST_LOG", "debug"),
        LIMIT,
    );
    out_rust_log.assert_stdout("OK v\n");
    for o in [&out, &out_rust_log] {
        let line = o
            .stderr
            .lines()
            .find(|l| l.contains("running the command"))
            .unwrap_or_else(|| panic!("no debug log line: {o}"));
        assert!(line.contains("DEBUG"), "no level: {o}");
        assert!(line.starts_with("20"), "no timestamp: {o}");
    }
    c.client(&["-q", "-v", "get", "--", "k"]).assert_fail(2);
    for tool in [SERVER, DUMP_RING] {
        let out = run(
            clean_command(tool, c.dir.path()).args(["-q", "-v", "127.0.0.1", "1"]),
            LIMIT,
        );
        assert_eq!(out.code, Some(2), "-q and -v conflict: {out}");
    }
    let out = c.client(&["-q", "get", "--", "k"]);
    out.assert_stdout("OK v\n");
    assert_eq!(out.stderr, "", "{out}");
}

/// Sizes and durations with units (issue 16, item 4): a server started
/// with `--max-memory 1.5G --tombstone-grace 10d` serves and reports its
/// limit in STATS; `-t 2s` and a bare `-t 1500` are deadlines; a bad unit
/// is a usage error (exit 2) that says what would do, its usage line
/// before clap's hint; `--help` prints defaults as the formatters do.
#[test]
fn sizes_and_durations_take_units() {
    use std::ffi::OsStr;
    let mut c = Cluster::new(&[1]);
    let options = [
        "--max-memory",
        "1.5G",
        "--tombstone-grace",
        "10d",
        "--max-clock-offset",
        "2s",
        "--reply-burst",
        "512KB",
    ]
    .map(OsStr::new);
    c.start_with_options(0, &options);
    c.put_ok(&["-t", "2s"], "k", "v");
    c.get(&["-t", "1500"], "k").assert_stdout("OK v\n");
    let out = c.client(&["--json", "stats", "-t", "1.5s"]);
    assert_eq!(out.code, Some(0), "{out}");
    let json = parse_json(out.stdout.trim()).expect("one JSON object");
    let limit = json
        .get("servers")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("stats"))
        .and_then(|s| s.get("bytes_limit"))
        .and_then(Json::as_u64);
    assert_eq!(limit, Some(3 << 29), "1.5G is 1.5 GiB: {}", out.stdout);

    let dir = c.dir.path();
    for bad in [
        &["--max-memory", "12XB"][..],
        &["--max-disk", "1.5Q"],
        &["--tombstone-grace", "10x"],
        &["--tombstone-grace", "1500ms"],
        &["--tombstone-grace", "1M"],
        &["--sync-interval", "2h"],
        &["--anti-entropy-interval", "-1s"],
    ] {
        let out = run(
            clean_command(SERVER, dir)
                .args(bad)
                .args(["127.0.0.1", "1"]),
            LIMIT,
        );
        out.assert_error(code::USAGE);
    }
    let out = run(
        clean_command(SERVER, dir).args(["--max-memory", "12XB", "127.0.0.1", "1"]),
        LIMIT,
    );
    assert_eq!(
        out.error_line(),
        "ERROR: invalid value '12XB' for '--max-memory <SIZE>': not a size; use e.g. 512MiB, 1.5GB or a number of bytes",
        "{out}"
    );
    let usage = out.stderr.find("Usage: dkvs-server").expect("a usage line");
    let hint = out
        .stderr
        .find("For more information")
        .expect("clap's hint");
    assert!(usage < hint, "the usage comes before the hint: {out}");
    for bad in ["5x", "0", "2h", "1500us"] {
        c.client(&["get", "-t", bad, "--", "k"])
            .assert_fail(code::USAGE);
    }

    let help = run(clean_command(SERVER, dir).arg("--help"), LIMIT);
    for default in [
        dkvs::units::format_size(dkvs::limits::DEFAULT_MAX_MEMORY),
        dkvs::units::format_size(dkvs::anti_entropy::DEFAULT_RATE),
        dkvs::units::format_duration(Duration::from_secs(
            dkvs::engine::DEFAULT_TOMBSTONE_GRACE_SECS,
        )),
        dkvs::units::format_duration(dkvs::anti_entropy::DEFAULT_INTERVAL),
        dkvs::units::format_duration(Duration::from_millis(
            dkvs::hlc::DEFAULT_MAX_CLOCK_OFFSET_MS,
        )),
    ] {
        assert!(
            help.stdout.contains(&format!("[default: {default}]")),
            "--help shows the default {default}: {help}"
        );
    }
}
