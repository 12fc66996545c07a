//! Robustness of `dkvs-server` (docs/CLI.md): random datagrams, clean shutdown on
//! signals, silence in normal operation, and several clients at once.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::*;
use rand::{Rng, RngExt};

/// Sends `get probe` and waits (at most 5 s) for the expected value from
/// `addr`, discarding every other datagram (replies to the random ones).
fn round_trip(socket: &UdpSocket, addr: SocketAddrV4, expected: &[u8]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65536];
    let mut next_send = Instant::now();
    while Instant::now() < deadline {
        if Instant::now() >= next_send {
            socket.send_to(b"probe", addr).unwrap();
            next_send = Instant::now() + Duration::from_millis(500);
        }
        if let Ok((len, from)) = socket.recv_from(&mut buf)
            && from == SocketAddr::V4(addr)
            && &buf[..len] == expected
        {
            return true;
        }
    }
    false
}

#[test]
fn server_survives_2000_random_datagrams() {
    let mut c = Cluster::new(&[1]);
    c.start_with(0, &[("probe", "alive")]);
    let addr = c.addr(0);
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut rng = rand::rng();
    let mut buf = vec![0u8; 65507];
    let mut sent_bytes = 0usize;
    for i in 0..2000 {
        // Mostly any length; every fourth datagram short, to hit the get and
        // put paths (and the empty dump request) more often.
        let len = if i % 4 == 0 {
            rng.random_range(0..=64)
        } else {
            rng.random_range(0..=65507)
        };
        let datagram = &mut buf[..len];
        rng.fill_bytes(datagram);
        // Some datagrams get NULs at chosen places: leading (empty key),
        // a single one (put), several (refused), trailing (empty value).
        if len > 0 {
            match i % 5 {
                0 => datagram[0] = 0,
                1 => {
                    for b in datagram.iter_mut() {
                        if *b == 0 {
                            *b = 1;
                        }
                    }
                    let at = rng.random_range(0..len);
                    datagram[at] = 0;
                }
                2 => datagram[len - 1] = 0,
                _ => {}
            }
        }
        socket.send_to(datagram, addr).unwrap();
        sent_bytes += len;
        if i % 100 == 99 {
            assert!(
                round_trip(&socket, addr, b"alive"),
                "server stopped answering after {} random datagrams",
                i + 1
            );
            assert!(c.is_running(0), "server died after {} datagrams", i + 1);
        }
    }
    assert!(sent_bytes > 10_000_000, "datagrams were too small");
    assert!(round_trip(&socket, addr, b"alive"));
    assert!(c.is_running(0));

    // Still a correct server.
    c.put_ok(&[], "after", "fuzz");
    c.get(&[], "after").assert_stdout("OK fuzz\n");
    c.get(&[], "probe").assert_stdout("OK alive\n");
    let status = c.terminate(0);
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    let (out, err) = c.server_output(0);
    assert!(!err.contains("panicked"), "server stderr: {err}");
    assert_eq!(out, "", "the server printed on stdout");
}

/// SIGTERM and SIGINT stop the server cleanly (exit 0); it prints nothing in
/// normal operation.
#[test]
fn server_stops_cleanly_on_signals_and_is_quiet() {
    let mut c = Cluster::new(&[1, 1]);
    c.start_all();
    c.put_ok(&[], "k", "v");
    c.get(&[], "k").assert_stdout("OK v\n");
    assert_eq!(c.dump_ring(&[]).code, Some(0));
    assert_eq!(c.terminate(0).code(), Some(0));
    assert_eq!(c.signal(1, "INT").code(), Some(0));
    for i in 0..2 {
        assert_eq!(
            c.server_output(i),
            (String::new(), String::new()),
            "server {i} printed something"
        );
    }
}

/// A signal that arrives right after spawn (before the server is serving)
/// still stops it cleanly.
#[test]
fn server_stops_on_early_sigterm() {
    let c = Cluster::new(&[1]);
    let mut procs = Procs::new();
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.arg(c.ip.to_string())
        .arg(c.port(0).to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let h = procs.spawn("server", &mut cmd);
    // Give it a moment to install its handlers; a signal before that would
    // kill it by the default action, which is also a stop.
    std::thread::sleep(Duration::from_millis(100));
    let (status, killed) = procs.terminate(h, Duration::from_secs(5));
    assert!(!killed, "ignored SIGTERM");
    assert!(
        status.code() == Some(0) || status.code().is_none(),
        "{status}"
    );
}

/// A second server on the same address is refused (exit 1, one ERROR
/// line), and the first one keeps serving.
#[test]
fn address_in_use_is_an_error() {
    let mut c = Cluster::new(&[1]);
    c.start(0);
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.arg(c.ip.to_string()).arg(c.port(0).to_string());
    run(&mut cmd, RUN_LIMIT).assert_error(code::FAILED);
    c.put_ok(&[], "still", "here");
}

/// Six client processes at once, each on its own key, all succeed.
#[test]
fn six_clients_at_once() {
    let mut c = Cluster::new(&[2, 1, 1]);
    c.start_all();
    let keys: Vec<String> = (0..6).map(|i| format!("parallel-{i}")).collect();
    let puts: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .iter()
            .map(|k| {
                let c = &c;
                s.spawn(move || c.client(&["put", "-t", "3000", "--", k, &format!("value of {k}")]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &puts {
        out.assert_stdout("OK\n");
    }
    let gets: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .iter()
            .map(|k| {
                let c = &c;
                s.spawn(move || c.client(&["get", "-t", "3000", "--", k]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (k, out) in keys.iter().zip(&gets) {
        out.assert_stdout(&format!("OK value of {k}\n"));
    }
    // Mixed: three writers and three readers of one key at once; every
    // reader sees one of the written values or the previous one.
    c.put_ok(&["-w", "3"], "shared", "v0");
    let mixed: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let c = &c;
                s.spawn(move || {
                    if i % 2 == 0 {
                        c.client(&["put", "-t", "3000", "--", "shared", &format!("v{}", i + 1)])
                    } else {
                        c.client(&["get", "-r", "1", "-t", "3000", "--", "shared"])
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, out) in mixed.iter().enumerate() {
        if i % 2 == 0 {
            out.assert_stdout("OK\n");
        } else {
            assert!(
                ["OK v0\n", "OK v1\n", "OK v3\n", "OK v5\n"].contains(&out.stdout.as_str()),
                "{out}"
            );
        }
    }
}

/// Keys and values at the §4 size limit go through; one byte more is refused
/// by the client before anything is sent.
#[test]
fn size_limits_end_to_end() {
    let mut c = Cluster::new(&[1]);
    c.start(0);
    let max = "k".repeat(32753);
    let value = "v".repeat(32753);
    c.put_ok(&[], &max, &value);
    c.get(&[], &max).assert_stdout(&format!("OK {value}\n"));
    let too_long = "k".repeat(32754);
    let out = c.client(&["put", "--", &too_long, "v"]);
    assert_eq!(out.stdout, "FAIL\n", "{out}");
    assert_ne!(out.code, Some(0));
    out.assert_one_error_line();
    let out = c.client(&["put", "--", "k", &"v".repeat(32754)]);
    assert_eq!(out.stdout, "FAIL\n", "{out}");
    out.assert_one_error_line();
    // An empty value is a value: `OK ` followed by nothing.
    c.put_ok(&[], "empty", "");
    c.get(&[], "empty").assert_stdout("OK \n");
}

/// `-v` turns logs on, on stderr only; stdout stays empty.
#[test]
fn server_verbose_logs_go_to_stderr() {
    let c = Cluster::new(&[1]);
    let mut procs = Procs::new();
    let out_path = c.dir.path().join("v.out");
    let err_path = c.dir.path().join("v.err");
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.args(["-vv", &c.ip.to_string(), &c.port(0).to_string(), "k", "v"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let h = procs.spawn("server -vv", &mut cmd);
    wait_ready(&mut procs, h, c.addr(0), &err_path);
    c.get(&[], "k").assert_stdout("OK v\n");
    let (status, killed) = procs.terminate(h, Duration::from_secs(5));
    assert!(!killed && status.code() == Some(0), "{status}");
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "");
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert!(!err.is_empty(), "-vv printed no log");
    assert!(!err.contains("panicked"), "{err}");
}

/// The harness itself: a test that panics still stops (and reaps) every
/// server it started.
#[test]
fn harness_stops_servers_when_a_test_panics() {
    let pids = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut c = Cluster::new(&[1, 1]);
        c.start_all();
        pids.lock().unwrap().extend([c.pid(0), c.pid(1)]);
        panic!("a failing test");
    }));
    assert!(result.is_err());
    let pids = pids.into_inner().unwrap();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "server {pid} survived the panic"
        );
    }
}
