//! The original course's implementations and tests, run against dkvs
//! (docs/TEACHING.md, "Running the course's test suite"):
//!
//! - a course server written in C pads its dump reply with NULs up to its
//!   whole buffer: `dkvs-dump-ring` prints exactly what it prints for the
//!   reply without them (docs/PROTOCOL-V1.md, "Padded dumps");
//! - `DKVS_EXIT_CODES=course` and `--exit-codes course` turn every tool's
//!   statuses into those of the course's `error.h` (usage 134, configuration
//!   133, not found 137, quorum or network 132, other failures 130, success
//!   0), seen from the real binaries; without them the statuses are dkvs's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::*;
use dkvs::commands::exit::{self, EXIT_CODES_ENV};
use dkvs::protocol::MAX_DATAGRAM;

const BENCH: &str = env!("CARGO_BIN_EXE_dkvs-bench");
const PROXY: &str = env!("CARGO_BIN_EXE_dkvs-fault-proxy");
const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");

/// A course server: its v1 dump reply is the text followed, when `padded`
/// is set, by NULs up to a whole datagram; a v2 request (a leading NUL, an
/// empty-key put to it) is refused with the empty datagram.
fn course_server(text: &'static [u8], padded: Arc<AtomicBool>) -> FakeServer {
    FakeServer::spawn(bind_socket(loopback_ip()), move |socket, datagram, from| {
        let reply = if !datagram.is_empty() {
            Vec::new()
        } else if padded.load(Ordering::Relaxed) {
            let mut buffer = text.to_vec();
            buffer.resize(MAX_DATAGRAM, 0);
            buffer
        } else {
            text.to_vec()
        };
        let _ = socket.send_to(&reply, from);
    })
}

#[test]
fn dump_ring_ignores_a_course_servers_nul_padding() {
    let text = b"storing 2 key-value pairs:\nalpha --> one\nbeta --> two\n";
    let padded = Arc::new(AtomicBool::new(true));
    let fake = course_server(text, padded.clone());
    let c = Cluster::from_servers(
        vec![(*fake.addr.ip(), fake.addr.port(), 2)],
        Format::ServersTxt,
        "",
    );
    let with_padding = c.dump_ring(&["-t", "1000"]);
    padded.store(false, Ordering::Relaxed);
    let without = c.dump_ring(&["-t", "1000"]);
    for out in [&with_padding, &without] {
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out}");
    }
    assert!(
        !with_padding.stdout_bytes.contains(&0),
        "NULs printed\n{with_padding}"
    );
    assert_eq!(with_padding.stdout_bytes, without.stdout_bytes);
    let section = format!(
        "\n{}:{}:\nstoring 2 key-value pairs:\nalpha --> one\nbeta --> two\n",
        fake.addr.ip(),
        fake.addr.port()
    );
    assert!(without.stdout.contains(&section), "{without}");
}

/// How a tool is asked for the course's statuses, or not.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Neither the variable nor the option.
    Default,
    /// `DKVS_EXIT_CODES=course`.
    Env,
    /// `--exit-codes course` (first on the command line).
    Option,
}

const MODES: [Mode; 3] = [Mode::Default, Mode::Env, Mode::Option];

impl Mode {
    /// The status a process reports for our `status` in this mode.
    fn status(self, status: u8) -> u8 {
        match self {
            Mode::Default => status,
            Mode::Env | Mode::Option => exit::course_status(status),
        }
    }
}

/// Runs `program args…` in `dir` in `mode`, with `DKVS_SERVERS` = `servers`
/// when given.
fn run_as(
    program: &str,
    dir: &std::path::Path,
    servers: Option<&std::path::Path>,
    mode: Mode,
    args: &[&str],
) -> Output {
    let mut cmd = clean_command(program, dir);
    if let Some(servers) = servers {
        cmd.env(dkvs::config::SERVERS_ENV, servers);
    }
    match mode {
        Mode::Default => {}
        Mode::Env => {
            cmd.env(EXIT_CODES_ENV, "course");
        }
        Mode::Option => {
            cmd.args(["--exit-codes", "course"]);
        }
    }
    cmd.args(args);
    run(&mut cmd, RUN_LIMIT)
}

/// `dkvs-client`, in every mode: success, usage errors (clap's and the
/// client's own), a configuration error, not found, another failure and a
/// quorum not reached against a dead port; the output stays the same.
#[test]
fn client_statuses_in_every_mode() {
    let mut c = Cluster::new(&[1]);
    c.start(0);
    c.put_ok(&[], "k", "value");
    let dead = Cluster::new(&[1]);
    let dir = c.dir.path();
    let cases: [(&str, Option<&std::path::Path>, &[&str], u8); 7] = [
        (
            "success",
            Some(&c.config_path),
            &["get", "--", "k"],
            exit::OK,
        ),
        (
            "clap usage error",
            Some(&c.config_path),
            &["frobnicate"],
            exit::USAGE,
        ),
        (
            "N > S",
            Some(&c.config_path),
            &["get", "-n", "2", "--", "k"],
            exit::USAGE,
        ),
        (
            "missing file",
            Some(&dir.join("nowhere.txt")),
            &["get", "--", "k"],
            exit::CONFIG,
        ),
        (
            "not found",
            Some(&c.config_path),
            &["get", "--", "absent"],
            exit::NOT_FOUND,
        ),
        (
            "substr out of range",
            Some(&c.config_path),
            &["substr", "--", "k", "9", "1", "d"],
            exit::FAILED,
        ),
        (
            "dead port",
            Some(&dead.config_path),
            &["-t", "300", "get", "--", "k"],
            exit::QUORUM,
        ),
    ];
    for (what, servers, args, status) in cases {
        let mut shown = Vec::new();
        for mode in MODES {
            let out = run_as(CLIENT, dir, servers, mode, args);
            let want = mode.status(status);
            if status == exit::OK {
                out.assert_stdout("OK value\n");
            } else {
                out.assert_fail(want);
            }
            shown.push((out.stdout.clone(), out.error_line().to_string()));
            assert_eq!(out.code, Some(i32::from(want)), "{what} in {mode:?}");
        }
        assert!(
            shown.windows(2).all(|w| w[0] == w[1]),
            "{what}: the output depends on the mode: {shown:?}"
        );
    }
}

/// `--exit-codes` wins over the variable, in both directions, also when it
/// comes after the command; `=` works too.
#[test]
fn the_option_wins_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.txt");
    let client = |env: &str, args: &[&str]| {
        let mut cmd = clean_command(CLIENT, dir.path());
        cmd.env(EXIT_CODES_ENV, env)
            .env(dkvs::config::SERVERS_ENV, &missing)
            .args(args);
        run(&mut cmd, RUN_LIMIT)
    };
    client("course", &["--exit-codes", "dkvs", "get", "--", "k"]).assert_fail(exit::CONFIG);
    client("dkvs", &["get", "--exit-codes=course", "--", "k"])
        .assert_fail(exit::course::ERR_INVALID_CONFIG);
    // A bad variable is ignored when the option is given.
    client("bogus", &["--exit-codes", "course", "get", "--", "k"])
        .assert_fail(exit::course::ERR_INVALID_CONFIG);
    // An empty variable is unset.
    client("", &["get", "--", "k"]).assert_fail(exit::CONFIG);
    // Usage errors before the command line is parsed read both.
    client("course", &["get"]).assert_fail(exit::course::ERR_INVALID_COMMAND);
    client("dkvs", &["--exit-codes=course", "get"]).assert_fail(exit::course::ERR_INVALID_COMMAND);
    client("course", &["--exit-codes", "dkvs", "get"]).assert_fail(exit::USAGE);
    // Words after `--` are arguments, not options.
    client("", &["get", "--", "--exit-codes", "course"]).assert_fail(exit::USAGE);
}

/// A bad `DKVS_EXIT_CODES` is a usage error that names it, and so is a bad
/// `--exit-codes`; in both the statuses stay dkvs's.
#[test]
fn a_bad_convention_is_a_usage_error() {
    let c = Cluster::new(&[1]);
    let mut cmd = c.client_command(&["get", "--", "k"]);
    cmd.env(EXIT_CODES_ENV, "Course");
    let out = run(&mut cmd, RUN_LIMIT);
    out.assert_fail(exit::USAGE);
    assert!(
        out.error_line().contains("DKVS_EXIT_CODES") && out.error_line().contains("course"),
        "{out}"
    );
    assert!(out.stderr.contains("Usage:"), "{out}");
    let out = c.client(&["--exit-codes", "c", "get", "--", "k"]);
    out.assert_fail(exit::USAGE);
    assert!(out.error_line().contains("--exit-codes"), "{out}");
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.env(EXIT_CODES_ENV, "1").args(["127.0.0.1", "1"]);
    let out = run(&mut cmd, RUN_LIMIT);
    out.assert_error(exit::USAGE);
    assert!(out.error_line().contains("DKVS_EXIT_CODES"), "{out}");
}

/// `--help` and `--version` exit 0 with the same output in every mode.
#[test]
fn help_and_version_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for program in [CLIENT, SERVER, DUMP_RING, BENCH, PROXY, TUI] {
        for flag in ["--help", "-h", "--version"] {
            let outs: Vec<Output> = MODES
                .iter()
                .map(|&mode| run_as(program, dir.path(), None, mode, &[flag]))
                .collect();
            for out in &outs {
                assert_eq!(out.code, Some(0), "{out}");
                assert_eq!(out.stdout, outs[0].stdout, "{out}");
                assert_eq!(out.stderr, "", "{out}");
            }
        }
    }
}

/// Every other tool: a usage error and a configuration error (or what it
/// has instead) in every mode.
#[test]
fn every_tool_maps_its_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.txt");
    let missing = missing.to_str().unwrap();
    let cases: [(&str, &[&str], u8); 10] = [
        (SERVER, &[], exit::USAGE),
        (SERVER, &["127.0.0.1", "0"], exit::USAGE),
        (
            SERVER,
            &["--key-file", missing, "127.0.0.1", "1"],
            exit::CONFIG,
        ),
        (DUMP_RING, &["--frobnicate"], exit::USAGE),
        (DUMP_RING, &[missing], exit::CONFIG),
        (BENCH, &["--frobnicate"], exit::USAGE),
        (BENCH, &["-s", missing], exit::CONFIG),
        (PROXY, &["--listen", "127.0.0.1:1"], exit::USAGE),
        (TUI, &["--frobnicate"], exit::USAGE),
        (TUI, &["--shell", missing], exit::CONFIG),
    ];
    for (program, args, status) in cases {
        for mode in MODES {
            let out = run_as(program, dir.path(), None, mode, args);
            out.assert_error(mode.status(status));
        }
    }
}

/// Against a dead port: `dkvs-dump-ring` still exits 0 (a silent server's
/// section is empty, as in the course), and `dkvs-bench` fails every
/// operation: 5, or 132.
#[test]
fn network_failures_of_the_other_tools() {
    let dead = Cluster::new(&[1]);
    let dir = dead.dir.path();
    let config = Some(dead.config_path.as_path());
    for mode in MODES {
        let out = run_as(DUMP_RING, dir, config, mode, &["-t", "200"]);
        assert_eq!(out.code, Some(0), "{out}");
        let out = run_as(
            BENCH,
            dir,
            config,
            mode,
            &[
                "-t",
                "100",
                "--requests",
                "3",
                "-n",
                "1",
                "-w",
                "1",
                "-r",
                "1",
            ],
        );
        assert_eq!(
            out.code,
            Some(i32::from(mode.status(exit::QUORUM))),
            "{out}"
        );
        assert!(out.error_line().contains("no operation succeeded"), "{out}");
        out.assert_no_panic();
    }
}
