//! `dkvs-fault-proxy` as a process: it forwards a real server's traffic,
//! prints its seed, injects the faults it is given, stops cleanly on
//! SIGTERM with a summary, and rejects bad options as usage errors.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

const PROXY: &str = env!("CARGO_BIN_EXE_dkvs-fault-proxy");

/// A real server, a proxy in front of it started with `options`, and a
/// one-server cluster description pointing at the proxy. Returns the
/// server's cluster, the proxy's (client-only) cluster, the proxy's handle
/// in the first cluster's guard and the line it printed first.
fn proxied(options: &[&str]) -> (Cluster, Cluster, usize, String) {
    let mut server = Cluster::new(&[1]);
    server.start(0);
    let ip: Ipv4Addr = server.ip;
    let port = free_ports(ip, 1)[0];
    let mut cmd = clean_command(PROXY, server.dir.path());
    cmd.arg("--listen")
        .arg(format!("{ip}:{port}"))
        .arg("--upstream")
        .arg(server.addr(0).to_string())
        .args(options)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let handle = server.procs.spawn("dkvs-fault-proxy", &mut cmd);
    let stdout = server.procs.child_mut(handle).stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let front = Cluster::from_servers(vec![(ip, port, 1)], Format::ServersTxt, "");
    (server, front, handle, first)
}

#[test]
fn forwards_and_prints_its_seed() {
    let (mut server, front, handle, first) = proxied(&["--seed", "1234"]);
    assert_eq!(first, "seed 1234\n");
    front
        .client(&["put", "-t", "2000", "--", "k", "through the proxy"])
        .assert_stdout("OK\n");
    front
        .get(&["-t", "2000"], "k")
        .assert_stdout("OK through the proxy\n");
    // The value really is on the server behind it.
    server
        .get(&["-t", "2000"], "k")
        .assert_stdout("OK through the proxy\n");
    let (status, killed) = server.procs.terminate(handle, Duration::from_secs(5));
    assert!(status.success() && !killed, "{status}");
}

#[test]
fn total_loss_fails_operations_and_a_random_seed_is_printed() {
    let (mut server, front, handle, first) = proxied(&["--drop", "100", "--direction", "request"]);
    let seed = first.strip_prefix("seed ").expect("a seed line");
    assert!(seed.trim().parse::<u64>().is_ok(), "{first}");
    front.get(&["-t", "300"], "k").assert_fail(code::QUORUM);
    let (status, _) = server.procs.terminate(handle, Duration::from_secs(5));
    assert!(status.success(), "{status}");
}

#[test]
fn black_hole_then_usage_errors() {
    let (mut server, front, handle, _) = proxied(&["--black-hole"]);
    front
        .client(&["put", "-t", "300", "--", "k", "v"])
        .assert_fail(code::QUORUM);
    server.procs.terminate(handle, Duration::from_secs(5));

    for bad in [
        &["--drop", "150"][..],
        &["--dup", "-1"],
        &["--direction", "sideways"],
        &["--delay", "soon"],
    ] {
        let mut cmd = clean_command(PROXY, server.dir.path());
        cmd.args(["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"])
            .args(bad);
        let out = run(&mut cmd, RUN_LIMIT);
        assert_eq!(out.code, Some(i32::from(code::USAGE)), "{out}");
        out.assert_one_error_line();
    }
}
