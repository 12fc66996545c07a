//! Configuration and usage errors of the binaries (docs/CLI.md):
//! each gives a non-zero, documented exit code, `FAIL` on stdout for the
//! client, exactly one `ERROR: …` line on stderr, and never a panic — not
//! even with stdout closed. Also `--help` and `--version`, key file errors
//! naming `--key-file` / `DKVS_KEY_FILE`, and `--protocol v1` with a key.

use std::path::Path;

use crate::common::*;
use dkvs::commands::exit;

/// Runs `program args…` in `dir` with `DKVS_SERVERS` = `config`.
fn run_in(program: &str, dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = clean_command(program, dir);
    if let Some(config) = config {
        cmd.env(dkvs::config::SERVERS_ENV, config);
    }
    cmd.args(args);
    run(&mut cmd, RUN_LIMIT)
}

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Checks that a bad configuration file is reported by the client and by
/// dump-ring as a configuration error naming the file (and `line` / `field`
/// when given).
#[track_caller]
fn check_bad_config(name: &str, text: &[u8], line: Option<usize>, field: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, text);
    let shown = String::from_utf8_lossy(text).into_owned();
    let client = run_in(CLIENT, dir.path(), Some(&path), &["get", "--", "k"]);
    client.assert_fail(exit::CONFIG);
    let dump = run_in(DUMP_RING, dir.path(), None, &[path.to_str().unwrap()]);
    dump.assert_error(exit::CONFIG);
    for out in [&client, &dump] {
        let error = out.error_line();
        assert!(
            error.contains(&path.display().to_string()),
            "{shown:?}: the error must name the file\n{out}"
        );
        if let Some(line) = line {
            assert!(
                error.contains(&format!("{}:{line}:", path.display())),
                "{shown:?}: the error must name line {line}\n{out}"
            );
        }
        if let Some(field) = field {
            assert!(
                error.contains(field),
                "{shown:?}: the error must name field {field}\n{out}"
            );
        }
    }
}

#[test]
fn bad_servers_txt_lines() {
    let good = "127.0.0.1 1234 1\n";
    let cases: &[(&str, Option<&str>)] = &[
        ("-127.0.0.1 1235 1", Some("ip")),
        ("127.0.0.1 -1235 1", Some("port")),
        ("127.0.0.1 1235 -1", Some("nodes")),
        ("127.0.0.1 1235", None),
        ("127.0.0.1", None),
        ("127.0.0.1 1235 1 1", None),
        ("127.0.0.1 abc 1", Some("port")),
        ("127.0.0.1 1235 x", Some("nodes")),
        ("127.0.0.1 +1235 1", Some("port")),
        ("127.0.0.1 1235 1.5", Some("nodes")),
        ("127.0.0.1 0 1", Some("port")),
        ("127.0.0.1 65536 1", Some("port")),
        ("127.0.0.1 99999999999999999999999 1", Some("port")),
        ("127.0.0.1 1235 0", Some("nodes")),
        ("127.0.0.1 1235 99999999999999999999999", Some("nodes")),
        ("300.0.0.1 1235 1", Some("ip")),
        ("127.0.0 1235 1", Some("ip")),
        ("localhost 1235 1", Some("ip")),
        ("::1 1235 1", Some("ip")),
        ("127.0.0.1  1235 1", None),
        (" 127.0.0.1 1235 1", None),
        ("127.0.0.1 1235 1 ", None),
        ("127.0.0.1\t1235\t1", None),
        ("127.0.0.1 1234 2", None), // duplicate of line 1
    ];
    for (line, field) in cases {
        let text = format!("{good}{line}\n127.0.0.1 1236 1\n");
        check_bad_config("servers.txt", text.as_bytes(), Some(2), *field);
    }
    // No server at all.
    check_bad_config("servers.txt", b"", None, None);
    check_bad_config("servers.txt", b"# just a comment\n\n", None, None);
    // Not text.
    check_bad_config(
        "servers.txt",
        b"127.0.0.1 1234 1\n\xff\xfe 1 1\n",
        Some(2),
        None,
    );
}

#[test]
fn bad_cluster_toml() {
    let server = "[[server]]\nip = \"127.0.0.1\"\nport = 1234\nnodes = 3\n";
    let cases: Vec<(String, Option<usize>, Option<&str>)> = vec![
        // Unknown keys, at every level.
        (format!("{server}colour = 1\n"), Some(5), Some("colour")),
        (format!("colour = 1\n{server}"), Some(1), Some("colour")),
        (format!("[defaults]\nq = 1\n{server}"), Some(2), Some("q")),
        (format!("[extra]\n{server}"), Some(1), Some("extra")),
        // Wrong types.
        (
            "[[server]]\nip = \"127.0.0.1\"\nport = \"1234\"\n".into(),
            Some(3),
            Some("port"),
        ),
        (
            "[[server]]\nip = 127\nport = 1234\n".into(),
            Some(2),
            Some("ip"),
        ),
        (
            "[[server]]\nip = \"127.0.0.1\"\nport = 1234\nnodes = 1.5\n".into(),
            Some(4),
            Some("nodes"),
        ),
        (
            "[[server]]\nip = \"127.0.0.1\"\nport = 1234\nspawn = \"yes\"\n".into(),
            Some(4),
            Some("spawn"),
        ),
        (
            format!("[defaults]\nn = \"3\"\n{server}"),
            Some(2),
            Some("n"),
        ),
        // Out of range.
        (
            "[[server]]\nip = \"127.0.0.1\"\nport = 0\n".into(),
            Some(3),
            Some("port"),
        ),
        (
            "[[server]]\nip = \"127.0.0.1\"\nport = 65536\n".into(),
            Some(3),
            Some("port"),
        ),
        (
            "[[server]]\nip = \"127.0.0.1\"\nport = -1\n".into(),
            Some(3),
            Some("port"),
        ),
        (
            "[[server]]\nip = \"127.0.0.1\"\nport = 1234\nnodes = 0\n".into(),
            Some(4),
            Some("nodes"),
        ),
        (format!("[defaults]\nn = 0\n{server}"), Some(2), Some("n")),
        (
            format!("[defaults]\ntimeout_ms = 0\n{server}"),
            Some(2),
            Some("timeout_ms"),
        ),
        // Bad address.
        (
            "[[server]]\nip = \"nope\"\nport = 1234\n".into(),
            Some(2),
            Some("ip"),
        ),
        // Missing fields.
        ("[[server]]\nport = 1234\n".into(), Some(1), None),
        ("[[server]]\nip = \"127.0.0.1\"\n".into(), Some(1), None),
        // Duplicate server.
        (format!("{server}\n{server}"), Some(8), Some("port")),
        // Quorums larger than N.
        (
            format!("[defaults]\nn = 2\nw = 3\n{server}"),
            Some(3),
            Some("w"),
        ),
        (
            format!("[defaults]\nn = 2\nr = 3\n{server}"),
            Some(3),
            Some("r"),
        ),
        (format!("[defaults]\nw = 4\n{server}"), Some(2), Some("w")),
        // Not TOML.
        (format!("{server}port = = 3\n"), Some(5), None),
        // No server.
        ("[defaults]\nn = 1\n".into(), None, None),
        (String::new(), None, None),
    ];
    for (text, line, field) in &cases {
        check_bad_config("cluster.toml", text.as_bytes(), *line, *field);
    }
}

#[test]
fn missing_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere/servers.txt");
    // Named by the environment variable.
    let out = run_in(CLIENT, dir.path(), Some(&missing), &["get", "--", "k"]);
    out.assert_fail(exit::CONFIG);
    assert!(out.error_line().contains("nowhere"), "{out}");
    // Named by the option.
    let m = missing.to_str().unwrap();
    run_in(CLIENT, dir.path(), None, &["get", "-s", m, "--", "k"]).assert_fail(exit::CONFIG);
    run_in(DUMP_RING, dir.path(), None, &[m]).assert_error(exit::CONFIG);
    run_in(DUMP_RING, dir.path(), None, &["--servers", m]).assert_error(exit::CONFIG);
    // Nothing named and nothing in the current directory.
    run_in(CLIENT, dir.path(), None, &["get", "--", "k"]).assert_fail(exit::CONFIG);
    run_in(DUMP_RING, dir.path(), None, &[]).assert_error(exit::CONFIG);
    // A directory is not a file.
    let d = dir.path().to_str().unwrap();
    run_in(CLIENT, dir.path(), None, &["get", "-s", d, "--", "k"]).assert_fail(exit::CONFIG);
}

/// Usage errors of the client: FAIL, one ERROR line, the usage, exit 2.
#[test]
fn client_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Three servers that are not running: usage errors never reach them.
    let config = write(
        dir.path(),
        "servers.txt",
        b"127.0.0.1 1234 1\n127.0.0.1 1235 1\n127.0.0.1 1236 1\n",
    );
    let cases: &[&[&str]] = &[
        // -n larger than S, -w / -r larger than N, zeros, non-numbers.
        &["get", "-n", "4", "--", "k"],
        &["put", "-n", "4", "--", "k", "v"],
        &["put", "-w", "4", "--", "k", "v"],
        &["put", "-n", "2", "-w", "3", "--", "k", "v"],
        &["get", "-r", "4", "--", "k"],
        &["get", "-n", "1", "-r", "2", "--", "k"],
        &["cat", "-n", "2", "-r", "3", "--", "a", "b"],
        &["get", "-n", "0", "--", "k"],
        &["put", "-w", "0", "--", "k", "v"],
        &["get", "-r", "0", "--", "k"],
        &["get", "-n", "abc", "--", "k"],
        &["get", "-n", "-1", "--", "k"],
        &["get", "-n", "2.5", "--", "k"],
        &["get", "-n", "", "--", "k"],
        &["get", "-t", "0", "--", "k"],
        &["get", "-t", "soon", "--", "k"],
        // Unknown command, no command, unknown option.
        &["frobnicate", "--", "k"],
        &[],
        &["get", "--bogus", "--", "k"],
        // Wrong argument counts and types.
        &["get"],
        &["get", "--", "a", "b"],
        &["put", "--", "k"],
        &["put", "--", "k", "v", "w"],
        &["cat", "--", "a"],
        &["substr", "--", "k", "0", "1"],
        &["substr", "--", "k", "x", "1", "d"],
        &["substr", "--", "k", "0", "y", "d"],
        &["find", "--", "a"],
        &["find", "--", "a", "b", "c"],
        // Empty keys.
        &["get", "--", ""],
        &["put", "--", "", "v"],
    ];
    for args in cases {
        let out = run_in(CLIENT, dir.path(), Some(&config), args);
        out.assert_fail(exit::USAGE);
        assert!(
            out.stderr.to_lowercase().contains("usage"),
            "usage errors print the usage\n{out}"
        );
    }
    // The clear messages of the option rules.
    let out = run_in(
        CLIENT,
        dir.path(),
        Some(&config),
        &["get", "-n", "4", "--", "k"],
    );
    assert!(
        out.error_line().contains('4') && out.error_line().contains('3'),
        "{out}"
    );
    // Spelled as this tool's options (the REPL says `n=3`).
    assert!(out.error_line().ends_with("use at most -n 3"), "{out}");
    let out = run_in(
        CLIENT,
        dir.path(),
        Some(&config),
        &["put", "-n", "2", "-w", "3", "--", "k", "v"],
    );
    assert!(out.error_line().contains('W'), "{out}");
}

/// Usage errors of the server: exit 2, one ERROR line, nothing bound.
#[test]
fn server_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ip = loopback_ip().to_string();
    let port = free_ports(ip.parse().unwrap(), 1)[0].to_string();
    let long_key = "k".repeat(40_000);
    let cases: Vec<Vec<&str>> = vec![
        vec![&ip, &port, "k"],
        vec![&ip, &port, "k1", "v1", "k2"],
        vec![],
        vec![&ip],
        vec!["localhost", &port],
        vec!["1.2.3", &port],
        vec!["::1", &port],
        vec![&ip, "0"],
        vec![&ip, "65536"],
        vec![&ip, "-1"],
        vec![&ip, "http"],
        vec![&ip, &port, "", "v"],
        vec![&ip, &port, &long_key, "v"],
        vec!["--bogus", &ip, &port],
    ];
    for args in &cases {
        let out = run_in(SERVER, dir.path(), None, args);
        out.assert_error(exit::USAGE);
    }
}

/// The server's initial pairs may look like options; they are data.
#[test]
fn server_initial_pairs_may_start_with_dashes() {
    let mut c = Cluster::new(&[1]);
    c.start_with(0, &[("-k", "-v"), ("--x", "")]);
    c.get(&[], "-k").assert_stdout("OK -v\n");
    c.get(&[], "--x").assert_stdout("OK \n");
}

/// Dump-ring usage errors: exit 2, one ERROR line.
#[test]
fn dump_ring_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "servers.txt", b"127.0.0.1 1234 1\n");
    let c = config.to_str().unwrap();
    for args in [
        vec![c, "--bogus"],
        vec![c, "extra"],
        vec![c, "-t", "0"],
        vec![c, "--idle", "x"],
    ] {
        run_in(DUMP_RING, dir.path(), None, &args).assert_error(exit::USAGE);
    }
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    for program in [SERVER, CLIENT, DUMP_RING] {
        for flag in ["--help", "-h", "--version", "-V"] {
            let out = run_in(program, dir.path(), None, &[flag]);
            assert_eq!(out.code, Some(0), "{out}");
            assert!(!out.stdout.is_empty(), "{out}");
            out.assert_no_panic();
        }
        let out = run_in(program, dir.path(), None, &["--version"]);
        assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out}");
    }
    let out = run_in(CLIENT, dir.path(), None, &["--help"]);
    for command in ["get", "put", "cat", "substr", "find"] {
        assert!(out.stdout.contains(command), "{out}");
    }
}

/// The documented exit codes are distinct (the course design asks for at least: not
/// found, quorum/network, usage, configuration).
#[test]
fn exit_codes_are_distinct() {
    let codes = [
        exit::OK,
        exit::FAILED,
        exit::USAGE,
        exit::CONFIG,
        exit::NOT_FOUND,
        exit::QUORUM,
    ];
    for (i, a) in codes.iter().enumerate() {
        for b in &codes[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(exit::OK, 0);
}

/// `dkvs-bench`.
const BENCH: &str = env!("CARGO_BIN_EXE_dkvs-bench");

/// A valid key file (key id 1) in `dir`.
fn good_key_file(dir: &Path) -> std::path::PathBuf {
    write(dir, "keys", format!("1 {}\n", "ab".repeat(32)).as_bytes())
}

/// A missing or bad key file is blamed on what named it — `--key-file`,
/// `DKVS_KEY_FILE` or cluster.toml's `key_file` — with its path and what to
/// do; never on the servers file. `--key-file` wins over a bad
/// `DKVS_KEY_FILE`.
#[test]
fn key_file_errors_name_the_option_or_variable() {
    let dir = tempfile::tempdir().unwrap();
    let servers = write(dir.path(), "servers.txt", b"127.0.0.1 1234 1\n");
    let missing = dir.path().join("no-such-keys");
    let missing_text = missing.to_str().unwrap();
    let bad = write(dir.path(), "bad-keys", b"1 abc\n");
    for program in [CLIENT, DUMP_RING] {
        let args: &[&str] = if program == CLIENT {
            &["--key-file", missing_text, "get", "--", "k"]
        } else {
            &["--key-file", missing_text]
        };
        let out = run_in(program, dir.path(), Some(&servers), args);
        if program == CLIENT {
            out.assert_fail(exit::CONFIG);
        } else {
            out.assert_error(exit::CONFIG);
        }
        let error = out.error_line();
        assert!(
            error.contains(&format!("--key-file {missing_text}: cannot read it"))
                && error.contains("pass --key-file the path of a key file"),
            "the error names the option, the path and the fix\n{out}"
        );
        assert!(
            !error.contains("servers.txt") && !error.contains("field"),
            "the servers file is not to blame\n{out}"
        );
    }
    let out = run_in(
        CLIENT,
        dir.path(),
        Some(&servers),
        &["--key-file", bad.to_str().unwrap(), "get", "--", "k"],
    );
    out.assert_fail(exit::CONFIG);
    assert!(
        out.error_line()
            .contains(&format!("--key-file {}: line 1", bad.display())),
        "{out}"
    );
    // DKVS_KEY_FILE.
    let mut cmd = clean_command(CLIENT, dir.path());
    cmd.env(dkvs::config::SERVERS_ENV, &servers)
        .env(dkvs::limits::KEY_FILE_ENV, &missing)
        .args(["get", "--", "k"]);
    let out = run(&mut cmd, RUN_LIMIT);
    out.assert_fail(exit::CONFIG);
    assert!(
        out.error_line()
            .contains(&format!("DKVS_KEY_FILE={missing_text}: cannot read it"))
            && out.error_line().contains("or unset it")
            && !out.error_line().contains("servers.txt"),
        "{out}"
    );
    // --key-file wins: the bad variable is not read (the get then goes to
    // a server that is not there: a quorum failure, not a configuration one).
    let keys = good_key_file(dir.path());
    let mut cmd = clean_command(CLIENT, dir.path());
    cmd.env(dkvs::config::SERVERS_ENV, &servers)
        .env(dkvs::limits::KEY_FILE_ENV, &missing)
        .arg("--key-file")
        .arg(&keys)
        .args(["-t", "100", "get", "--", "k"]);
    run(&mut cmd, RUN_LIMIT).assert_fail(exit::QUORUM);
    // cluster.toml's key_file: the file and the field, as before.
    let toml = write(
        dir.path(),
        "cluster.toml",
        b"[defaults]\nkey_file = \"no-such-keys\"\n[[server]]\nip = \"127.0.0.1\"\nport = 1234\n",
    );
    let out = run_in(CLIENT, dir.path(), Some(&toml), &["get", "--", "k"]);
    out.assert_fail(exit::CONFIG);
    assert!(
        out.error_line().contains("cluster.toml: field `key_file`"),
        "{out}"
    );
}

/// Runs `program args…` with stdout a pipe nobody reads (closed at the
/// other end) and returns its exit status and stderr.
fn run_with_closed_stdout(program: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let err_path = dir.join("stderr.txt");
    let mut cmd = clean_command(program, dir);
    cmd.args(args)
        .stdout(writer)
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = cmd.spawn().unwrap();
    // The parent's copy of the write end goes with `cmd`.
    drop(cmd);
    let (status, timed_out) = wait_bounded(&mut child, RUN_LIMIT);
    assert!(!timed_out, "{program} {args:?} did not finish");
    (status.code(), std::fs::read_to_string(&err_path).unwrap())
}

/// A closed stdout on a failure path is no panic: the `ERROR:` line and
/// the exit status still tell (`dkvs-client bogus | (exec 0<&-; …)`).
#[test]
fn closed_stdout_on_failure_paths_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let ip = loopback_ip();
    let silent = bind_socket(ip);
    let addr = silent.local_addr().unwrap().to_string();
    let cases: Vec<(&str, Vec<&str>, u8)> = vec![
        (CLIENT, vec!["bogus"], exit::USAGE),
        (CLIENT, vec!["--json", "bogus"], exit::USAGE),
        (CLIENT, vec![], exit::USAGE),
        (
            CLIENT,
            vec!["-s", "missing.txt", "get", "--", "k"],
            exit::CONFIG,
        ),
        (DUMP_RING, vec!["--bogus"], exit::USAGE),
        (SERVER, vec!["--bogus"], exit::USAGE),
        (BENCH, vec!["--bogus"], exit::USAGE),
        // The report of a bench whose every request timed out.
        (
            BENCH,
            vec!["--server", &addr, "--requests", "1", "-t", "50"],
            exit::QUORUM,
        ),
    ];
    for (program, args, code) in cases {
        let (status, stderr) = run_with_closed_stdout(program, dir.path(), &args);
        assert!(
            !stderr.contains("panicked"),
            "{program} {args:?} panicked:\n{stderr}"
        );
        assert_eq!(
            status,
            Some(i32::from(code)),
            "{program} {args:?}:\n{stderr}"
        );
        assert!(stderr.contains("ERROR: "), "{program} {args:?}:\n{stderr}");
    }
}

/// `--protocol v1` with a key cannot send anything (v1 cannot be signed):
/// a usage error at once for dkvs-bench (it used to spin through local
/// errors for the whole duration) and dkvs-client, with the same message.
#[test]
fn protocol_v1_with_a_key_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let ip = loopback_ip();
    let port = free_ports(ip, 1)[0];
    let servers = write(
        dir.path(),
        "servers.txt",
        format!("{ip} {port} 1\n").as_bytes(),
    );
    let keys = good_key_file(dir.path());
    let keys = keys.to_str().unwrap();
    let bench = run_in(
        BENCH,
        dir.path(),
        Some(&servers),
        &["--protocol", "v1", "--key-file", keys, "-d", "60"],
    );
    bench.assert_error(exit::USAGE);
    assert!(
        bench.elapsed < std::time::Duration::from_secs(30),
        "no run before the error\n{bench}"
    );
    let client = run_in(
        CLIENT,
        dir.path(),
        Some(&servers),
        &["--protocol", "v1", "--key-file", keys, "get", "--", "k"],
    );
    client.assert_fail(exit::USAGE);
    for out in [&bench, &client] {
        assert!(
            out.error_line()
                .contains("--protocol v1 cannot be used with a key")
                && out.error_line().contains("cannot be signed"),
            "{out}"
        );
    }
    // dkvs-bench --server drives one server with v1: no key either.
    let direct = run_in(
        BENCH,
        dir.path(),
        None,
        &[
            "--server",
            &format!("{ip}:{port}"),
            "--key-file",
            keys,
            "-d",
            "5",
        ],
    );
    direct.assert_error(exit::USAGE);
    assert!(
        direct
            .error_line()
            .contains("--server drives one server with unsigned v1"),
        "{direct}"
    );
}
