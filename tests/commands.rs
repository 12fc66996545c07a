//! `dkvs-client` (docs/CLI.md) commands end to end — cat, substr, find on the spec's examples,
//! defaults lowered on small rings — and how the tools find their
//! configuration (§2: `./servers.txt`, else `./cluster.toml`, `-s`,
//! `DKVS_SERVERS`; §9: `[defaults]`).

use std::time::Duration;

use crate::common::*;

/// A running three-server ring (1, 2 and 3 nodes, as in §3/§7).
fn ring_of_three() -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.start_all();
    c
}

#[test]
fn substr_examples_end_to_end() {
    let c = ring_of_three();
    c.put_ok(&[], "example", "example");
    c.put_ok(&[], "hb", "hello bbb");
    let ok = [
        ("example", "0", "2", "ex"),
        ("example", "1", "1", "x"),
        ("example", "4", "3", "ple"),
        ("example", "-1", "1", "e"),
        ("example", "-2", "2", "le"),
        ("example", "2", "0", ""),
        ("example", "-2", "0", ""),
        ("hb", "2", "5", "llo b"),
        ("hb", "-5", "4", "o bb"),
    ];
    for (i, (key, pos, len, want)) in ok.iter().enumerate() {
        let dest = format!("sub{i}");
        c.client(&["substr", "--", key, pos, len, &dest])
            .assert_stdout("OK\n");
        c.get(&[], &dest).assert_stdout(&format!("OK {want}\n"));
    }
    let failing = [
        ("example", "5", "3"),
        ("example", "-1", "2"),
        ("example", "5", "-3"),
        ("hb", "-2", "3"),
        ("hb", "3", "7"),
        ("hb", "-10", "1"),
    ];
    for (key, pos, len) in failing {
        c.client(&["substr", "--", key, pos, len, "never"])
            .assert_fail(code::FAILED);
    }
    c.get(&["-t", "300"], "never").assert_fail(code::NOT_FOUND);
    // <dest> may be <key>.
    c.client(&["substr", "--", "example", "1", "3", "example"])
        .assert_stdout("OK\n");
    c.get(&[], "example").assert_stdout("OK xam\n");
    // A missing source fails as not found.
    c.client(&["substr", "--", "absent", "0", "0", "d"])
        .assert_fail(code::NOT_FOUND);
}

#[test]
fn find_examples_end_to_end() {
    let c = ring_of_three();
    c.put_ok(&[], "a", "hello a");
    c.put_ok(&[], "ab", "hello ab");
    c.client(&["find", "--", "ab", "a"]).assert_stdout("OK 0\n");
    c.client(&["find", "--", "a", "ab"])
        .assert_stdout("OK -1\n");
    c.put_ok(&[], "needle", "lo a");
    c.client(&["find", "--", "ab", "needle"])
        .assert_stdout("OK 3\n");
    c.client(&["find", "-r", "3", "--", "ab", "needle"])
        .assert_stdout("OK 3\n");
    // An empty needle is found at 0, in an empty haystack too.
    c.put_ok(&[], "empty", "");
    c.client(&["find", "--", "ab", "empty"])
        .assert_stdout("OK 0\n");
    c.client(&["find", "--", "empty", "empty"])
        .assert_stdout("OK 0\n");
    c.client(&["find", "--", "empty", "a"])
        .assert_stdout("OK -1\n");
    c.client(&["find", "--", "ab", "absent"])
        .assert_fail(code::NOT_FOUND);
    c.client(&["find", "--", "absent", "a"])
        .assert_fail(code::NOT_FOUND);
}

#[test]
fn cat_end_to_end() {
    let c = ring_of_three();
    c.put_ok(&[], "a", "hello a");
    c.put_ok(&[], "ab", "hello ab");
    c.client(&["cat", "--", "a", "ab", "both"])
        .assert_stdout("OK\n");
    c.get(&[], "both").assert_stdout("OK hello ahello ab\n");
    // One source: a copy. The destination may be a source.
    c.client(&["cat", "--", "a", "copy"]).assert_stdout("OK\n");
    c.get(&[], "copy").assert_stdout("OK hello a\n");
    c.client(&["cat", "-w", "3", "--", "a", "a", "a"])
        .assert_stdout("OK\n");
    c.get(&["-r", "3"], "a")
        .assert_stdout("OK hello ahello a\n");
    // A missing source fails the command and writes nothing.
    c.client(&["cat", "--", "ab", "absent", "nothing"])
        .assert_fail(code::NOT_FOUND);
    c.get(&["-t", "300"], "nothing")
        .assert_fail(code::NOT_FOUND);
    // A result longer than the value limit fails.
    let big = "x".repeat(20_000);
    c.put_ok(&[], "big", &big);
    c.client(&["cat", "--", "big", "big", "huge"])
        .assert_fail(code::FAILED);
    c.get(&["-t", "300"], "huge").assert_fail(code::NOT_FOUND);
}

/// With one server and no flags, N, W and R are lowered to 1.
#[test]
fn defaults_lowered_on_one_server() {
    let mut c = Cluster::new(&[3]);
    c.start_all();
    c.put_ok(&[], "k", "v");
    c.get(&[], "k").assert_stdout("OK v\n");
    c.put_ok(&[], "k2", "w");
    c.client(&["cat", "--", "k", "k2", "k3"])
        .assert_stdout("OK\n");
    c.client(&["substr", "--", "k3", "-1", "1", "k4"])
        .assert_stdout("OK\n");
    c.client(&["find", "--", "k3", "k4"])
        .assert_stdout("OK 1\n");
    // Explicit values are checked, not lowered.
    c.get(&["-n", "2"], "k").assert_fail(code::USAGE);
    c.get(&["-r", "2"], "k").assert_fail(code::USAGE);
    c.get(&["-n", "1", "-r", "1"], "k").assert_stdout("OK v\n");
}

/// With two servers, N=2 and W=R=2: both must answer.
#[test]
fn defaults_lowered_on_two_servers() {
    let mut c = Cluster::new(&[1, 1]);
    c.start_all();
    c.put_ok(&[], "k", "v");
    c.get(&["-r", "2"], "k").assert_stdout("OK v\n");
    c.kill(1);
    c.get(&["-t", "400"], "k").assert_fail(code::QUORUM);
    c.get(&["-r", "1"], "k").assert_stdout("OK v\n");
}

/// Values are bytes: spaces, UTF-8, and words that look like options.
#[test]
fn arbitrary_keys_and_values() {
    let c = ring_of_three();
    for (k, v) in [
        ("two words", "three little words"),
        ("-n", "--"),
        ("clé", "valeur é 日本"),
        ("k", "-1"),
        ("tab\tkey", "line"),
    ] {
        c.put_ok(&[], k, v);
        c.get(&[], k).assert_stdout(&format!("OK {v}\n"));
    }
}

/// `cluster.toml` alone in the current directory is used; `servers.txt`
/// wins when both exist; `DKVS_SERVERS` and `-s` name other files.
#[test]
fn configuration_is_located_as_specified() {
    let mut c = Cluster::with_toml(&[1], "timeout_ms = 2000");
    c.start_all();
    c.put_ok(&[], "where", "toml");
    let dir = c.dir.path();

    // No variable, no option: ./cluster.toml (the only file there).
    let out = run(
        clean_command(CLIENT, dir).args(["get", "--", "where"]),
        RUN_LIMIT,
    );
    out.assert_stdout("OK toml\n");
    let out = run(
        clean_command(DUMP_RING, dir).args(["-t", "1000"]),
        RUN_LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("where --> toml"), "{out}");

    // ./servers.txt is preferred: point it at a server that is down.
    let other = tempfile::tempdir().unwrap();
    let down_port = free_ports(c.ip, 1)[0];
    std::fs::write(
        dir.join("servers.txt"),
        servers_txt(&[(c.ip, down_port, 1)]),
    )
    .unwrap();
    run(
        clean_command(CLIENT, dir).args(["get", "-t", "300", "--", "where"]),
        RUN_LIMIT,
    )
    .assert_fail(code::QUORUM);

    // An empty DKVS_SERVERS counts as unset.
    run(
        clean_command(CLIENT, dir)
            .env(dkvs::config::SERVERS_ENV, "")
            .args(["get", "-t", "300", "--", "where"]),
        RUN_LIMIT,
    )
    .assert_fail(code::QUORUM);
    std::fs::remove_file(dir.join("servers.txt")).unwrap();
    run(
        clean_command(CLIENT, dir)
            .env(dkvs::config::SERVERS_ENV, "")
            .args(["get", "--", "where"]),
        RUN_LIMIT,
    )
    .assert_stdout("OK toml\n");
    let out = run(
        clean_command(DUMP_RING, dir)
            .env(dkvs::config::SERVERS_ENV, "")
            .args(["-t", "1000"]),
        RUN_LIMIT,
    );
    assert!(out.stdout.contains("where --> toml"), "{out}");

    // DKVS_SERVERS and -s override the current directory.
    let toml = c.config_path.to_str().unwrap();
    run(
        clean_command(CLIENT, other.path())
            .env(dkvs::config::SERVERS_ENV, toml)
            .args(["get", "--", "where"]),
        RUN_LIMIT,
    )
    .assert_stdout("OK toml\n");
    run(
        clean_command(CLIENT, dir).args(["get", "-s", toml, "--", "where"]),
        RUN_LIMIT,
    )
    .assert_stdout("OK toml\n");
    run(
        clean_command(CLIENT, dir).args(["--servers", toml, "get", "--", "where"]),
        RUN_LIMIT,
    )
    .assert_stdout("OK toml\n");
    // The option wins over the variable.
    run(
        clean_command(CLIENT, other.path())
            .env(dkvs::config::SERVERS_ENV, dir.join("missing.txt"))
            .args(["get", "-s", toml, "--", "where"]),
        RUN_LIMIT,
    )
    .assert_stdout("OK toml\n");
    // dump-ring honours the variable too.
    let out = run(
        clean_command(DUMP_RING, other.path())
            .env(dkvs::config::SERVERS_ENV, toml)
            .args(["-t", "1000"]),
        RUN_LIMIT,
    );
    assert!(out.stdout.contains("where --> toml"), "{out}");
}

/// `[defaults]` of cluster.toml set N, W, R and the deadline; they are
/// lowered to the ring like the built-in defaults.
#[test]
fn cluster_toml_defaults_apply() {
    let mut c = Cluster::with_toml(&[1, 1, 1], "n = 3\nw = 3\nr = 1\ntimeout_ms = 400");
    c.start_all();
    c.put_ok(&[], "k", "v");
    // w = 3 was in force: every server has it.
    c.get(&["-r", "3", "-t", "2000"], "k")
        .assert_stdout("OK v\n");
    let victim = c.replicas("k", 3)[0];
    c.kill(victim);
    // r = 1 is enough with one server down; the default w = 3 is not.
    c.get(&[], "k").assert_stdout("OK v\n");
    let out = c.client(&["put", "--", "k", "v2"]);
    out.assert_fail(code::QUORUM);
    // The 400 ms deadline of the file was used.
    assert!(out.elapsed >= Duration::from_millis(400), "{out}");
    assert!(out.elapsed < Duration::from_millis(5000), "{out}");
    // An explicit -w overrides the file.
    c.put_ok(&["-w", "2"], "k", "v3");
}

/// From the repository root, with no file named, the tools use the shipped
/// `cluster.toml` (S = 5, M = 9). Only checks that need no server: the
/// option rules against S, and the ring listing.
#[test]
fn repository_root_uses_shipped_cluster_toml() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if root.join("servers.txt").exists() {
        return; // someone's local servers.txt takes precedence (docs/CLI.md, `servers.txt`)
    }
    let out = run(
        clean_command(CLIENT, root).args(["get", "-n", "6", "--", "k"]),
        RUN_LIMIT,
    );
    out.assert_fail(code::USAGE);
    assert!(out.error_line().contains('5'), "S = 5 expected\n{out}");
    run(
        clean_command(CLIENT, root).args(["put", "-n", "4", "-w", "5", "--", "k", "v"]),
        RUN_LIMIT,
    )
    .assert_fail(code::USAGE);
    let out = run(clean_command(DUMP_RING, root).args(["-t", "50"]), RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "Ring nodes:", "{out}");
    assert_eq!(
        lines[1..].iter().take_while(|l| !l.is_empty()).count(),
        9,
        "{out}"
    );
    // The shipped assets/servers.txt describes the same ring.
    let from_txt = run(
        clean_command(DUMP_RING, root).args(["-t", "50", "assets/servers.txt"]),
        RUN_LIMIT,
    );
    assert_eq!(
        from_txt.stdout.lines().take(10).collect::<Vec<_>>(),
        lines[..10],
        "{from_txt}"
    );
}
