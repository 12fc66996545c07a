//! `dkvs-tui` with durable servers (`data_dir` in `cluster.toml`): a
//! `restart` keeps the server's keys, visibly in the dump before and after
//! (piped REPL, as in `tests/tui_shell.rs`).

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");

#[test]
fn restart_of_a_durable_server_keeps_its_keys() {
    let ip = loopback_ip();
    let ports = free_ports(ip, 2);
    let servers: Vec<(Ipv4Addr, u16, u32)> = ports.iter().map(|&p| (ip, p, 1)).collect();
    let dir = tempfile::tempdir().unwrap();
    // [defaults] data_dir, relative to the file: one directory per server.
    let toml = cluster_toml(&servers, "n = 2\nw = 2\nr = 2\ndata_dir = \"data\"");
    std::fs::write(dir.path().join("cluster.toml"), toml).unwrap();
    let script = "put alpha one\nput beta two\ndump 1\nrestart 1\nget alpha\ndump 1\nkill 2\nstart 2\nget beta\ndump 2\nquit\n";
    let script_path = dir.path().join("script.txt");
    std::fs::write(&script_path, script).unwrap();
    let mut cmd = clean_command(TUI, dir.path());
    cmd.arg("cluster.toml");
    let input = Stdio::from(std::fs::File::open(&script_path).unwrap());
    let out = run_with_input(&mut cmd, input, Duration::from_secs(60));
    let text = &out.stdout;
    assert!(!out.timed_out, "timed out:\n{text}\n{}", out.stderr);
    assert_eq!(out.code, Some(0), "{text}\n{}", out.stderr);
    // Each server's directory exists under data/, on the default engine.
    for (ip, port, _) in &servers {
        let format = dir.path().join(format!("data/{ip}-{port}/FORMAT"));
        let format = std::fs::read_to_string(&format).unwrap_or_default();
        assert!(format.contains("engine log"), "{format:?}");
    }
    // The dump after the restart lists the same pairs as before it.
    let dumps: Vec<&str> = text.split("> dump 1\n").skip(1).collect();
    assert_eq!(dumps.len(), 2, "{text}");
    let before: Vec<&str> = dumps[0]
        .lines()
        .take_while(|l| !l.starts_with("> "))
        .collect();
    let after: Vec<&str> = dumps[1]
        .lines()
        .take_while(|l| !l.starts_with("> "))
        .collect();
    assert!(before.iter().any(|l| l.contains("alpha")), "{text}");
    assert!(before.iter().any(|l| l.contains("beta")), "{text}");
    assert_eq!(before, after, "{text}");
    assert!(text.contains("restarted "), "{text}");
    // kill -9 and start: the keys are still there too.
    let after_kill: Vec<&str> = text
        .split("> dump 2\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .take_while(|l| !l.starts_with("> "))
        .collect();
    assert!(after_kill.iter().any(|l| l.contains("alpha")), "{text}");
    assert!(after_kill.iter().any(|l| l.contains("beta")), "{text}");
    assert!(text.contains("OK one"), "{text}");
    assert!(text.contains("OK two"), "{text}");
}
