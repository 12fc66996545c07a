//! Durable storage (issue 6) with real `dkvs-server` processes: no
//! acknowledged put is lost by `kill -9` (one server, and a N=3 W=2 R=2
//! cluster killed and restarted server by server under load); under
//! `--sync always` every acknowledgement follows an fsync of the data
//! (strace); a directory is locked, checked, size-limited; dumps are the
//! same on both engines.
//!
//! The guarantees are checked on both durable engines (`--engine log`, the
//! default for new directories, and `--engine redb`); tests of redb's own
//! files (its write-ahead log) run with `--engine redb`.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

/// `--data-dir DIR --sync POLICY` plus `extra`.
fn durable(dir: &Path, sync: &str, extra: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        "--data-dir".into(),
        dir.as_os_str().to_owned(),
        "--sync".into(),
        sync.into(),
    ];
    v.extend(extra.iter().map(OsString::from));
    v
}

/// The engines a new data directory can get (`dkvs-server --engine`).
const ENGINES: [&str; 2] = ["log", "redb"];

/// [`durable`] on `engine` (`--engine`).
fn on(engine: &str, dir: &Path, sync: &str, extra: &[&str]) -> Vec<OsString> {
    let mut v = durable(dir, sync, extra);
    v.extend(["--engine".into(), engine.into()]);
    v
}

fn refs(v: &[OsString]) -> Vec<&OsStr> {
    v.iter().map(OsString::as_os_str).collect()
}

fn socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
}

/// A v1 put; `Some(true)` stored, `Some(false)` refused, `None` no reply
/// within `limit`.
fn put(s: &UdpSocket, addr: SocketAddrV4, key: &str, value: &str, limit: Duration) -> Option<bool> {
    let mut d = key.as_bytes().to_vec();
    d.push(0);
    d.extend_from_slice(value.as_bytes());
    udp_request(s, addr, &d, limit).map(|r| r == dkvs::protocol::REPLY_STORED)
}

/// A v1 get: `Some(None)` not found, `None` no reply (retried 5 times).
fn get(s: &UdpSocket, addr: SocketAddrV4, key: &str) -> Option<Option<String>> {
    for _ in 0..5 {
        if let Some(r) = udp_request(s, addr, key.as_bytes(), Duration::from_millis(500)) {
            return Some(if r == b"\0" {
                None
            } else {
                Some(String::from_utf8(r).unwrap())
            });
        }
    }
    None
}

/// What one writer thread knows: each key's last acknowledged value, and
/// the put it was waiting for when the server died (stored or not).
#[derive(Default)]
struct WriterLog {
    acked: HashMap<String, String>,
    pending: Option<(String, String)>,
    rounds_acked: u64,
}

/// Puts `keys` round after round ("v<key>-r<round>") until `stop`, or until
/// a put gets no reply (the server died: that put is `pending`).
fn write_rounds(
    addr: SocketAddrV4,
    keys: Vec<String>,
    first_round: u32,
    stop: Arc<AtomicBool>,
    one_round: bool,
) -> WriterLog {
    let s = socket();
    let mut log = WriterLog::default();
    let mut round = first_round;
    loop {
        for k in &keys {
            if stop.load(Ordering::Relaxed) && !one_round {
                return log;
            }
            let v = format!("v{k}-r{round}");
            match put(
                &s,
                addr,
                k,
                &v,
                Duration::from_millis(if one_round { 3000 } else { 700 }),
            ) {
                Some(true) => {
                    log.acked.insert(k.clone(), v);
                    log.rounds_acked += 1;
                }
                Some(false) => panic!("put {k} refused"),
                None => {
                    log.pending = Some((k.clone(), v));
                    return log;
                }
            }
        }
        round += 1;
        if one_round {
            return log;
        }
    }
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i:05}")).collect()
}

/// `threads` writers over `keys` split round-robin.
fn writers(
    addr: SocketAddrV4,
    all: &[String],
    threads: usize,
    round: u32,
    stop: &Arc<AtomicBool>,
    one_round: bool,
) -> Vec<std::thread::JoinHandle<WriterLog>> {
    (0..threads)
        .map(|t| {
            let mine: Vec<String> = all.iter().skip(t).step_by(threads).cloned().collect();
            let stop = Arc::clone(stop);
            std::thread::spawn(move || write_rounds(addr, mine, round, stop, one_round))
        })
        .collect()
}

#[test]
fn kill_9_under_write_load_loses_no_acknowledged_put() {
    for engine in ENGINES {
        kill_9_under_write_load_on(engine);
    }
}

fn kill_9_under_write_load_on(engine: &str) {
    let mut c = Cluster::new(&[1]);
    let data = c.dir.path().join("data");
    let opts = on(engine, &data, "always", &[]);
    c.start_with_options(0, &refs(&opts));
    let addr = c.addr(0);
    let all = keys(10_000);
    let stop = Arc::new(AtomicBool::new(false));
    // 10 000 keys, all acknowledged.
    let mut acked: HashMap<String, String> = HashMap::new();
    for w in writers(addr, &all, 8, 0, &stop, true) {
        let log = w.join().unwrap();
        assert!(log.pending.is_none(), "a put got no reply before the crash");
        acked.extend(log.acked);
    }
    assert_eq!(acked.len(), 10_000);
    // Rewrites under load; kill -9 in the middle.
    let load = writers(addr, &all, 8, 1, &stop, false);
    std::thread::sleep(Duration::from_millis(500));
    c.kill(0);
    stop.store(true, Ordering::Relaxed);
    let mut pending = HashMap::new();
    let mut rewrites = 0;
    for w in load {
        let log = w.join().unwrap();
        rewrites += log.rounds_acked;
        acked.extend(log.acked);
        pending.extend(log.pending);
    }
    assert!(rewrites > 100, "the load was too light: {rewrites} puts");
    // Restart on the same directory: every acknowledged put is there.
    let started = Instant::now();
    c.start_with_options(0, &refs(&opts));
    let restart = started.elapsed();
    let s = socket();
    let mut lost = Vec::new();
    for k in &all {
        let got = get(&s, addr, k).expect("the restarted server answers");
        let ok = got.as_ref() == acked.get(k) || got.as_ref() == pending.get(k);
        if !ok {
            lost.push(format!("{k}: got {got:?}, acknowledged {:?}", acked[k]));
        }
    }
    assert!(
        lost.is_empty(),
        "--engine {engine}: {} lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(restart < Duration::from_secs(5), "{restart:?}");
    let (_, err) = c.server_output(0);
    assert!(!err.contains("panicked"), "{err}");
}

/// A strace attached to a running server (see [`attach_strace`]).
struct Traced {
    procs: Procs,
    strace: usize,
    trace: PathBuf,
}

/// Attaches strace (`-f -ttt`, the system calls `calls`) to server 0 of
/// `c`; `None` (the test is skipped) where strace is missing or not
/// permitted.
fn attach_strace(c: &Cluster, calls: &str) -> Option<Traced> {
    let strace = Path::new("/usr/bin/strace");
    if !strace.exists() {
        eprintln!("SKIPPED: /usr/bin/strace is not installed (apt-get install strace)");
        return None;
    }
    let trace = c.dir.path().join("strace.txt");
    let mut procs = Procs::new();
    let mut cmd = clean_command(strace.to_str().unwrap(), c.dir.path());
    cmd.args(["-f", "-qq", "-ttt", "-s", "64", "-e"])
        .arg(format!(
            "trace={calls},sendto,sendmsg,sendmmsg,recvfrom,recvmsg,recvmmsg"
        ))
        .arg("-o")
        .arg(&trace)
        .args(["-p", &c.pid(0).to_string()])
        .stderr(std::process::Stdio::null());
    let st = procs.spawn("strace", &mut cmd);
    // Attached once a probe's traffic shows up in the trace. Where tracing
    // is not permitted (no ptrace in a container) strace exits: skipped.
    let s = socket();
    let attached = eventually(Duration::from_secs(10), || {
        let _ = udp_request(&s, c.addr(0), b"strace-probe", Duration::from_millis(50));
        std::fs::read_to_string(&trace).is_ok_and(|t| t.contains("strace-probe"))
            || procs.try_status(st).is_some()
    });
    if procs.try_status(st).is_some() {
        eprintln!("SKIPPED: strace could not attach to the server");
        return None;
    }
    assert!(attached, "strace did not attach");
    Some(Traced {
        procs,
        strace: st,
        trace,
    })
}

impl Traced {
    /// Sends a marker get, waits until the trace shows it, stops strace and
    /// returns the trace.
    fn finish(mut self, addr: SocketAddrV4) -> String {
        let s = socket();
        let _ = udp_request(&s, addr, b"strace-end", Duration::from_secs(1));
        assert!(eventually(Duration::from_secs(10), || {
            std::fs::read_to_string(&self.trace).is_ok_and(|t| t.contains("strace-end"))
        }));
        send_sigterm(self.procs.pid(self.strace));
        let _ = self.procs.terminate(self.strace, Duration::from_secs(5));
        std::fs::read_to_string(&self.trace).unwrap()
    }
}

/// One completed system call of a `strace -f -ttt` trace.
#[derive(Debug)]
struct Call {
    /// When it completed (seconds).
    at: f64,
    /// When it started (its `<unfinished ...>` line, or `at`).
    started: f64,
    /// Its name (`write`, `fdatasync`, …).
    name: String,
    /// The whole call, arguments and result, unfinished parts joined.
    text: String,
    /// The first argument when it is a number (the fd of file calls).
    fd: Option<u32>,
    /// The result (what follows the last " = ").
    ret: String,
}

/// The completed calls of a trace, in completion order (a call split by
/// another thread into `<unfinished ...>` and `<... resumed>` is joined).
fn strace_calls(text: &str) -> Vec<Call> {
    let mut pending: HashMap<String, (String, f64)> = HashMap::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        // strace pads the thread id to 5 columns ("8744  1795…" but
        // "18744 1795…"), so fields are split on runs of spaces.
        let Some((tid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((at, rest)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(at) = at.parse::<f64>() else { continue };
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(tid.to_string(), (head.to_string(), at));
            continue;
        }
        let (whole, started) = if let Some(resumed) = rest.strip_prefix("<... ") {
            let tail = resumed.split_once("resumed>").map_or("", |(_, t)| t);
            let (head, started) = pending.remove(tid).unwrap_or((String::new(), at));
            (format!("{head}{tail}"), started)
        } else {
            (rest.to_string(), at)
        };
        let Some((name, args)) = whole.split_once('(') else {
            continue;
        };
        let fd = args
            .split(|ch: char| !ch.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok());
        let ret = whole
            .rsplit_once(" = ")
            .map_or(String::new(), |(_, r)| r.to_string());
        calls.push(Call {
            at,
            started,
            name: name.to_string(),
            text: whole.clone(),
            fd,
            ret,
        });
    }
    calls
}

/// The fd number of the file the server appends puts to (from /proc):
/// redb's `dkvs.wal`, or the log engine's active segment (the newest
/// `<id>.seg`).
fn log_fd(pid: u32, engine: &str) -> u32 {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    let mut open: Vec<(String, u32)> = fds
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            let name = target.file_name()?.to_str()?.to_string();
            Some((name, e.file_name().to_str()?.parse().ok()?))
        })
        .filter(|(name, _)| match engine {
            "redb" => name == dkvs::engine::wal::WAL_FILE,
            _ => name.ends_with(".seg"),
        })
        .collect();
    open.sort();
    open.last()
        .map(|(_, fd)| *fd)
        .unwrap_or_else(|| panic!("the server ({engine}) has no log file open"))
}

/// Under `--sync always`, every put reply is sent after the put was
/// written to the log (`write` on the fd of redb's `dkvs.wal`, or of the
/// log engine's active segment) and that fd was then fdatasynced (checked
/// on the system calls of the live server with strace), on both engines.
#[test]
fn under_sync_always_each_ack_follows_a_sync() {
    for engine in ENGINES {
        each_ack_follows_a_sync_on(engine);
    }
}

fn each_ack_follows_a_sync_on(engine: &str) {
    let mut c = Cluster::new(&[1]);
    let data = c.dir.path().join("data");
    c.start_with_options(0, &refs(&on(engine, &data, "always", &[])));
    let addr = c.addr(0);
    let fd = log_fd(c.pid(0), engine);
    let Some(traced) = attach_strace(&c, "write,pwrite64,openat,fsync,fdatasync,sync_file_range")
    else {
        return;
    };
    let s = socket();
    const PUTS: usize = 40;
    for i in 0..PUTS {
        let v = format!("value-{i}");
        let k = format!("strace-key-{i}");
        assert_eq!(put(&s, addr, &k, &v, Duration::from_secs(3)), Some(true));
    }
    let text = traced.finish(addr);
    // Walk the trace: a put arrives (its key shows in a receive call), the
    // log is written (a write on its fd holding the key), that fd is
    // fdatasynced, then the reply (a one-byte NUL datagram) is sent.
    // Replies to gets are excluded by sending no get meanwhile.
    let mut waiting: usize = 0;
    let mut written = false;
    let mut synced = false;
    let mut acks = 0;
    let mut syncs = 0;
    // Replies are placed where their send started (the next put can
    // arrive before strace logs the send's completion); the rest where
    // they completed.
    let mut calls = strace_calls(&text);
    calls.sort_by(|a, b| {
        let when = |c: &Call| {
            if c.name.starts_with("send") {
                c.started
            } else {
                c.at
            }
        };
        when(a).total_cmp(&when(b))
    });
    for call in calls {
        let ok = call.ret.starts_with('0') || call.ret.parse::<u64>().is_ok_and(|n| n > 0);
        if call.name.starts_with("recv") && call.text.contains("strace-key-") {
            waiting += call.text.matches("strace-key-").count();
            (written, synced) = (false, false);
        } else if (call.name == "write" || call.name == "pwrite64")
            && call.fd == Some(fd)
            && ok
            && waiting > 0
        {
            assert!(call.text.contains("strace-key-"), "{}", call.text);
            (written, synced) = (true, false);
        } else if (call.name == "fdatasync" || call.name == "fsync")
            && call.fd == Some(fd)
            && call.ret.starts_with('0')
        {
            syncs += 1;
            synced |= written;
        } else if call.name.starts_with("send") && call.text.contains("\"\\0\"") && waiting > 0 {
            assert!(
                written && synced,
                "--engine {engine}: a put was acknowledged before its log write was fdatasynced:\n{}\n---\n{text}",
                call.text
            );
            let n = call.text.matches("\"\\0\"").count();
            acks += n;
            waiting = waiting.saturating_sub(n);
        }
    }
    assert_eq!(
        acks, PUTS,
        "{engine}: every put reply seen in the trace:\n{text}"
    );
    assert!(
        syncs >= PUTS,
        "{engine}: one sync per sequential put at least: {syncs}"
    );
}

#[test]
fn cluster_n3_w2_r2_durable_survives_kill_and_restart_of_each_server() {
    let mut c = Cluster::with_toml(&[1, 1, 1], "n = 3\nw = 2\nr = 2");
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| c.dir.path().join(format!("data-{i}")))
        .collect();
    let opts: Vec<Vec<OsString>> = dirs.iter().map(|d| durable(d, "always", &[])).collect();
    for (i, o) in opts.iter().enumerate() {
        c.start_with_options(i, &refs(o));
    }
    let config = c.config_path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let client = dkvs::Client::open(&config).unwrap();
            let mut acked = Vec::new();
            let mut failed = 0;
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) && i < 100_000 {
                let (k, v) = (format!("ck-{i}"), format!("cv-{i}"));
                match runtime.block_on(client.put(
                    k.as_bytes(),
                    v.as_bytes(),
                    dkvs::QuorumOptions::default(),
                )) {
                    Ok(()) => acked.push((k, v)),
                    Err(_) => failed += 1,
                }
                i += 1;
            }
            (acked, failed)
        })
    };
    for (i, o) in opts.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(400));
        c.kill(i);
        std::thread::sleep(Duration::from_millis(300));
        c.start_with_options(i, &refs(o));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = writer.join().unwrap();
    assert!(
        acked.len() > 200,
        "{} acknowledged, {failed} failed",
        acked.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = dkvs::Client::open(&c.config_path).unwrap();
    let mut lost = Vec::new();
    for (k, v) in &acked {
        match runtime.block_on(client.get(k.as_bytes(), dkvs::QuorumOptions::default())) {
            Ok(got) if got == v.as_bytes() => {}
            other => lost.push(format!("{k}: {other:?}")),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    for engine in ENGINES {
        second_server_refused_on(engine);
    }
}

fn second_server_refused_on(engine: &str) {
    let mut c = Cluster::new(&[1, 1]);
    let data = c.dir.path().join("shared-data");
    let opts = on(engine, &data, "always", &[]);
    c.start_with_options(0, &refs(&opts));
    let (ip, port, _) = c.servers[1];
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.args(&opts).arg(ip.to_string()).arg(port.to_string());
    let out = run(&mut cmd, RUN_LIMIT);
    out.assert_error(code::CONFIG).assert_no_panic();
    assert!(out.stderr.contains("in use by another server"), "{out}");
    assert!(out.stderr.contains(&c.pid(0).to_string()), "{out}");
    // The first server still serves.
    assert_eq!(
        put(&socket(), c.addr(0), "k", "v", Duration::from_secs(2)),
        Some(true)
    );
}

/// On both engines: a foreign directory, a file, a damaged `FORMAT` and a
/// directory whose data files are gone are refused with exit 3; redb's
/// overwritten database too. (Damage inside a log engine segment does not
/// stop the start: its records are refused when read, DECISIONS #805.)
#[test]
fn foreign_or_corrupt_directories_are_configuration_errors() {
    for engine in ENGINES {
        foreign_or_corrupt_refused_on(engine);
    }
}

fn foreign_or_corrupt_refused_on(engine: &str) {
    let c = Cluster::new(&[1]);
    let (ip, port, _) = c.servers[0];
    let serve = |dir: &Path| {
        let mut cmd = clean_command(SERVER, c.dir.path());
        cmd.args(on(engine, dir, "always", &[]))
            .arg(ip.to_string())
            .arg(port.to_string());
        run(&mut cmd, RUN_LIMIT)
    };
    // Foreign: files dkvs did not write; they are left alone.
    let foreign = c.dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.tex"), "precious").unwrap();
    // Another store's lock file (LevelDB's LOCK) is left byte-unchanged.
    std::fs::write(foreign.join("LOCK"), "leveldb").unwrap();
    let out = serve(&foreign);
    out.assert_error(code::CONFIG).assert_no_panic();
    assert!(out.stderr.contains("not a dkvs data directory"), "{out}");
    assert_eq!(
        std::fs::read(foreign.join("thesis.tex")).unwrap(),
        b"precious"
    );
    assert_eq!(std::fs::read(foreign.join("LOCK")).unwrap(), b"leveldb");
    let mut names: Vec<String> = std::fs::read_dir(&foreign)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["LOCK", "thesis.tex"], "no file was added");
    // A regular file where the directory should be.
    let file = c.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    serve(&file).assert_error(code::CONFIG).assert_no_panic();
    let data = c.dir.path().join("data");
    {
        let mut c2 = Cluster::new(&[1]);
        c2.start_with_options(0, &refs(&on(engine, &data, "always", &[])));
        assert_eq!(
            put(&socket(), c2.addr(0), "k", "v", Duration::from_secs(2)),
            Some(true)
        );
        c2.terminate(0);
    }
    // A damaged FORMAT file: not taken for another engine's, refused.
    let format = std::fs::read(data.join("FORMAT")).unwrap();
    std::fs::write(
        data.join("FORMAT"),
        b"dkvs data directory\nformat 1\nengine l\x00g 1\n",
    )
    .unwrap();
    let out = serve(&data);
    out.assert_error(code::CONFIG).assert_no_panic();
    assert!(
        out.stderr
            .contains("not a data directory of this dkvs version"),
        "{out}"
    );
    std::fs::write(data.join("FORMAT"), format).unwrap();
    if engine == "log" {
        // Segments removed behind dkvs's back: no silent empty start.
        for e in std::fs::read_dir(&data).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".seg") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        let out = serve(&data);
        out.assert_error(code::CONFIG).assert_no_panic();
        assert!(out.stderr.contains("missing"), "{out}");
        return;
    }
    // Corrupt: a real data directory whose database was overwritten.
    let db = data.join("dkvs.redb");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().take(8192) {
        *b = 0x42;
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = serve(&data);
    out.assert_error(code::CONFIG).assert_no_panic();
    assert!(out.stderr.contains("corrupt"), "{out}");
    // Missing database in a directory that had one: no silent empty start.
    std::fs::remove_file(&db).unwrap();
    let out = serve(&data);
    out.assert_error(code::CONFIG).assert_no_panic();
    assert!(out.stderr.contains("missing"), "{out}");
}

#[test]
fn over_the_size_limit_puts_are_refused_and_the_server_stays_up() {
    for engine in ENGINES {
        over_the_size_limit_on(engine);
    }
}

fn over_the_size_limit_on(engine: &str) {
    let mut c = Cluster::new(&[1]);
    let data = c.dir.path().join("data");
    let opts = on(engine, &data, "always", &["--max-disk", "8K"]);
    c.start_with_options(0, &refs(&opts));
    let addr = c.addr(0);
    let s = socket();
    let mut stored = Vec::new();
    let mut refused = 0;
    for i in 0..200 {
        let k = format!("limit-{i:03}");
        match put(&s, addr, &k, &"x".repeat(100), Duration::from_secs(2)) {
            Some(true) => stored.push(k),
            Some(false) => refused += 1,
            None => panic!("no reply to put {k}"),
        }
    }
    assert!(
        refused > 0 && stored.len() > 10,
        "--engine {engine}: {} stored, {refused} refused",
        stored.len()
    );
    for k in &stored {
        assert_eq!(get(&s, addr, k), Some(Some("x".repeat(100))));
    }
    assert_eq!(get(&s, addr, "limit-199"), Some(None));
    // Still up, still serving, and the data survives a restart.
    assert!(c.is_running(0));
    c.terminate(0);
    c.start_with_options(0, &refs(&opts));
    assert_eq!(get(&s, addr, &stored[0]), Some(Some("x".repeat(100))));
}

#[test]
fn dump_is_the_same_on_both_engines_and_after_a_restart() {
    for engine in ENGINES {
        dump_the_same_on(engine);
    }
}

/// The dump of a server on `engine` is the memory engine's.
fn dump_the_same_on(engine: &str) {
    let mut c = Cluster::new(&[1, 1]);
    let data = c.dir.path().join("data");
    let opts = on(engine, &data, "none", &[]);
    c.start_with_options(0, &refs(&opts));
    c.start(1);
    let s = socket();
    let pairs = [
        ("b", "2"),
        ("a", "1"),
        ("empty", ""),
        ("b", "3"),
        ("sp ace", "x y"),
    ];
    for i in 0..2 {
        for (k, v) in pairs {
            assert_eq!(put(&s, c.addr(i), k, v, Duration::from_secs(2)), Some(true));
        }
    }
    let durable_dump = udp_dump(c.addr(0), Duration::from_secs(2));
    let memory_dump = udp_dump(c.addr(1), Duration::from_secs(2));
    assert_eq!(durable_dump, memory_dump);
    assert!(
        String::from_utf8_lossy(&durable_dump[0]).starts_with("storing 4 key-value pairs:"),
        "{durable_dump:?}"
    );
    // --sync none: a clean stop (SIGTERM) syncs, so everything comes back.
    c.terminate(0);
    c.start_with_options(0, &refs(&opts));
    assert_eq!(udp_dump(c.addr(0), Duration::from_secs(2)), memory_dump);
}

/// A tmpfs mounted for one test, unmounted (lazily) when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// A 1 MiB tmpfs at `path`, or `None` where mounting is not permitted.
    fn mount(path: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1M", "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(path.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// `len` printable characters that LZ4 cannot shrink (the log engine
/// compresses values; a run of one letter would never fill a disk).
fn incompressible(len: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 94) as u8)
        })
        .collect()
}

/// A really full disk (a 1 MiB tmpfs), on both engines: puts are refused
/// (the engine keeps a reserve of free space, so redb never hits ENOSPC
/// mid-commit and the log engine keeps room to compact), the server stays
/// up, what was stored stays readable, also after `kill -9`.
#[test]
fn a_full_disk_refuses_puts_and_keeps_serving() {
    for engine in ENGINES {
        if !full_disk_on(engine) {
            return;
        }
    }
}

/// [`a_full_disk_refuses_puts_and_keeps_serving`] on `engine`; false when
/// skipped (no tmpfs).
fn full_disk_on(engine: &str) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    // Declared before the cluster: unmounted after its servers are killed.
    let Some(disk) = SmallDisk::mount(&tmp.path().join("small")) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return false;
    };
    let mut c = Cluster::new(&[1]);
    let opts = on(engine, &disk.0.join("data"), "always", &["-v"]);
    c.start_with_options(0, &refs(&opts));
    let addr = c.addr(0);
    let s = socket();
    let value = incompressible(2000);
    let mut stored = Vec::new();
    let mut refused = 0;
    for i in 0..1000 {
        let k = format!("full-{i:04}");
        match put(&s, addr, &k, &value, Duration::from_secs(3)) {
            Some(true) => stored.push(k),
            Some(false) => {
                refused += 1;
                if refused >= 5 {
                    break;
                }
            }
            None => panic!("no reply to put {k}"),
        }
    }
    assert!(
        refused >= 5 && !stored.is_empty(),
        "--engine {engine}: {} stored, {refused} refused",
        stored.len()
    );
    assert!(c.is_running(0));
    for k in &stored {
        assert_eq!(get(&s, addr, k), Some(Some(value.clone())), "{k}");
    }
    // Everything acknowledged is still there after a restart on the full
    // disk (nothing to replay that needs space: the reserve kept it).
    c.kill(0);
    c.start_with_options(0, &refs(&opts));
    for k in &stored {
        assert_eq!(get(&s, addr, k), Some(Some(value.clone())), "{engine}: {k}");
    }
    let (_, err) = c.server_output(0);
    assert!(!err.contains("panicked"), "{err}");
    true
}

/// `--sync periodic`: what was acknowledged more than one interval before a
/// `kill -9` is on disk.
/// Under `--sync periodic` each write to the log is fdatasynced within the
/// interval (200 ms here; the bound allows a generous second more):
/// checked on the system calls of the live server with strace. (A `kill
/// -9` alone cannot show this: the page cache keeps unsynced writes.)
#[test]
fn periodic_sync_fdatasyncs_the_log_within_the_interval() {
    for engine in ENGINES {
        periodic_sync_on(engine);
    }
}

/// [`periodic_sync_fdatasyncs_the_log_within_the_interval`] on `engine`
/// (the log: redb's `dkvs.wal`, the log engine's active segment).
fn periodic_sync_on(engine: &str) {
    let mut c = Cluster::new(&[1]);
    let data = c.dir.path().join("data");
    let opts = on(engine, &data, "periodic", &["--sync-interval", "200"]);
    c.start_with_options(0, &refs(&opts));
    let addr = c.addr(0);
    let fd = log_fd(c.pid(0), engine);
    let Some(traced) = attach_strace(&c, "write,pwrite64,fsync,fdatasync") else {
        return;
    };
    let s = socket();
    for i in 0..100 {
        let k = format!("p-{i}");
        assert_eq!(put(&s, addr, &k, &k, Duration::from_secs(2)), Some(true));
    }
    // Time for the last write's sync.
    std::thread::sleep(Duration::from_millis(1500));
    let text = traced.finish(addr);
    let calls = strace_calls(&text);
    let writes: Vec<f64> = calls
        .iter()
        .filter(|c| (c.name == "write" || c.name == "pwrite64") && c.fd == Some(fd))
        .map(|c| c.at)
        .collect();
    let syncs: Vec<f64> = calls
        .iter()
        .filter(|c| (c.name == "fdatasync" || c.name == "fsync") && c.fd == Some(fd))
        .filter(|c| c.ret.starts_with('0'))
        .map(|c| c.at)
        .collect();
    assert!(
        writes.len() >= 100,
        "{engine}: every put wrote the log:\n{text}"
    );
    for w in &writes {
        assert!(
            syncs.iter().any(|s| s >= w && s - w <= 1.2),
            "{engine}: a log write at {w} was not fdatasynced within the interval:\n{text}"
        );
    }
    // And the puts are back after a restart.
    c.kill(0);
    c.start_with_options(0, &refs(&opts));
    for i in 0..100 {
        let k = format!("p-{i}");
        assert_eq!(get(&s, addr, &k), Some(Some(k.clone())));
    }
}

/// Under `periodic` and `none` a put reaches the operating system (redb's
/// write-ahead log, the log engine's segment) before it is acknowledged: a
/// `kill -9` of the server alone, even right after the puts, loses none of
/// them, on both engines.
#[test]
fn a_process_crash_loses_nothing_under_any_policy() {
    for (engine, policy) in ENGINES
        .iter()
        .flat_map(|e| ["none", "periodic"].map(|p| (*e, p)))
    {
        let mut c = Cluster::new(&[1]);
        let data = c.dir.path().join("data");
        let opts = on(engine, &data, policy, &["-v"]);
        c.start_with_options(0, &refs(&opts));
        let addr = c.addr(0);
        let s = socket();
        for i in 0..300 {
            let k = format!("c-{i}");
            assert_eq!(put(&s, addr, &k, &k, Duration::from_secs(2)), Some(true));
        }
        c.kill(0);
        c.start_with_options(0, &refs(&opts));
        for i in 0..300 {
            let k = format!("c-{i}");
            assert_eq!(
                get(&s, addr, &k),
                Some(Some(k.clone())),
                "--engine {engine} --sync {policy}"
            );
        }
        let (_, err) = c.server_output(0);
        let reopened = match engine {
            "redb" => "write-ahead log replayed",
            _ => "keys=300",
        };
        assert!(err.contains(reopened), "{err}");
    }
}

/// A data directory whose log holds 50 puts acknowledged under `always`
/// (the server was killed with `kill -9`, so no checkpoint emptied it).
fn killed_with_50_puts_in_the_log(c: &mut Cluster, data: &Path) -> PathBuf {
    c.start_with_options(0, &refs(&on("redb", data, "always", &[])));
    let s = socket();
    for i in 0..50 {
        let k = format!("w-{i}");
        assert_eq!(
            put(&s, c.addr(0), &k, &k, Duration::from_secs(2)),
            Some(true)
        );
    }
    c.kill(0);
    let wal = data.join(dkvs::engine::wal::WAL_FILE);
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the log holds the puts"
    );
    wal
}

/// Runs a server on `data` that must fail at start: exit 3 and one
/// `ERROR:` line holding `expected`.
fn start_fails(c: &Cluster, data: &Path, expected: &str) -> String {
    let (ip, port, _) = c.servers[0];
    let mut cmd = clean_command(SERVER, c.dir.path());
    cmd.args(on("redb", data, "always", &[]))
        .arg(ip.to_string())
        .arg(port.to_string());
    let out = run(&mut cmd, RUN_LIMIT);
    out.assert_error(code::CONFIG).assert_no_panic();
    let errors: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one ERROR line:\n{out}");
    assert!(errors[0].starts_with("ERROR: "), "{out}");
    assert!(errors[0].contains(expected), "{out}");
    out.stderr
}

/// (redb's write-ahead log.) A log entry with a valid CRC whose record
/// cannot be decoded makes the start fail — and leaves the log as it was, so that a second start fails
/// the same way instead of starting empty (the log is never emptied by a
/// start that did not apply it).
#[test]
fn an_undecodable_log_entry_fails_every_start_and_keeps_the_log() {
    let mut c = Cluster::new(&[1]);
    let data = c.dir.path().join("data");
    let wal = killed_with_50_puts_in_the_log(&mut c, &data);
    let mut payload = 1u32.to_le_bytes().to_vec();
    payload.extend_from_slice(b"x\x02bad");
    let mut entry = (payload.len() as u32).to_le_bytes().to_vec();
    entry.extend_from_slice(&dkvs::engine::wal::crc32(&payload).to_le_bytes());
    entry.extend_from_slice(&payload);
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&entry);
    std::fs::write(&wal, &bytes).unwrap();
    for _ in 0..2 {
        start_fails(&c, &data, "corrupt write-ahead log entry");
        assert_eq!(std::fs::read(&wal).unwrap(), bytes, "the log is unchanged");
    }
    // Without the bad entry, all 50 acknowledged puts come back.
    std::fs::write(&wal, &bytes[..bytes.len() - entry.len()]).unwrap();
    c.start_with_options(0, &refs(&on("redb", &data, "always", &[])));
    let s = socket();
    for i in 0..50 {
        let k = format!("w-{i}");
        assert_eq!(get(&s, c.addr(0), &k), Some(Some(k.clone())));
    }
}

/// (redb's write-ahead log.) A byte flipped in an early entry of the log
/// (damage in the middle, not a torn tail): exit 3 with one `ERROR:` line naming the offset, and the
/// file is left unchanged.
#[test]
fn damage_in_the_middle_of_the_log_is_one_clear_error() {
    let mut c = Cluster::new(&[1]);
    let data = c.dir.path().join("data");
    let wal = killed_with_50_puts_in_the_log(&mut c, &data);
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[12] ^= 0x10; // inside the first entry's payload
    std::fs::write(&wal, &bytes).unwrap();
    start_fails(&c, &data, "damaged at byte 0");
    assert_eq!(std::fs::read(&wal).unwrap(), bytes, "the log is unchanged");
}

/// A new data directory (with missing parents) is made durable: the parent
/// of each directory created is fsynced after its `mkdir`, and the
/// directory itself is fsynced after its log (redb's `dkvs.wal`, the log
/// engine's first segment) is created and before the `dkvs.created` marker
/// is put in place (checked with `strace -y` on a server started under
/// it), on both engines.
#[test]
fn a_new_data_directory_and_its_log_are_fsynced_in_their_parents() {
    let strace = Path::new("/usr/bin/strace");
    if !strace.exists() {
        eprintln!("SKIPPED: /usr/bin/strace is not installed (apt-get install strace)");
        return;
    }
    for engine in ENGINES {
        new_directory_fsynced_on(engine, strace);
    }
}

fn new_directory_fsynced_on(engine: &str, strace: &Path) {
    let c = Cluster::new(&[1]);
    let root = c.dir.path().canonicalize().unwrap();
    let data = root.join("a").join("b").join("data");
    let trace = root.join("strace-start.txt");
    let (ip, port, _) = c.servers[0];
    let mut procs = Procs::new();
    let mut cmd = clean_command(strace.to_str().unwrap(), c.dir.path());
    cmd.args(["-f", "-qq", "-y", "-s", "256", "-e"])
        .arg("trace=mkdir,mkdirat,openat,rename,renameat,renameat2,fsync,fdatasync")
        .arg("-o")
        .arg(&trace)
        .arg("--")
        .arg(SERVER)
        .args(on(engine, &data, "always", &[]))
        .arg(ip.to_string())
        .arg(port.to_string())
        .stderr(std::process::Stdio::null());
    let st = procs.spawn("strace", &mut cmd);
    let s = socket();
    let serving = eventually(Duration::from_secs(10), || {
        udp_request(&s, c.addr(0), b"probe", Duration::from_millis(100)).is_some()
            || procs.try_status(st).is_some()
    });
    if procs.try_status(st).is_some() {
        eprintln!("SKIPPED: strace could not run the server");
        return;
    }
    assert!(serving, "the server did not start under strace");
    // The server's pid is in its LOCK file; stopping it ends strace.
    let pid: u32 = std::fs::read_to_string(data.join("LOCK"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    send_sigterm(pid);
    let _ = procs.terminate_wait(st, Duration::from_secs(5));
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let position = |from: usize, what: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .skip(from)
            .position(|l| what(l))
            .map(|p| p + from)
    };
    let fsync_of = |dir: &Path| {
        let tag = format!("<{}>)", dir.display());
        move |l: &str| l.contains("fsync(") && l.contains(&tag) && l.contains("= 0")
    };
    for created in [root.join("a"), root.join("a/b"), data.clone()] {
        let shown = format!("\"{}\"", created.display());
        let made = position(0, &|l| {
            l.contains("mkdir") && l.contains(&shown) && l.contains("= 0")
        })
        .unwrap_or_else(|| panic!("no mkdir of {shown}:\n{text}"));
        let parent = created.parent().unwrap();
        assert!(
            position(made, &fsync_of(parent)).is_some(),
            "{} not fsynced after creating {shown}:\n{text}",
            parent.display()
        );
    }
    let in_data = format!("\"{}/", data.display());
    let log = match engine {
        "redb" => "/dkvs.wal\"",
        _ => ".seg\"",
    };
    let created_wal = position(0, &|l| {
        l.contains("openat(") && l.contains(&in_data) && l.contains(log) && l.contains("O_CREAT")
    })
    .unwrap_or_else(|| panic!("{engine}: the log was not created:\n{text}"));
    let marker = position(created_wal, &|l| {
        l.contains("rename") && l.contains("dkvs.created.tmp")
    })
    .unwrap_or_else(|| panic!("dkvs.created not written after the log:\n{text}"));
    let synced = position(created_wal, &fsync_of(&data));
    assert!(
        synced.is_some_and(|at| at < marker),
        "{engine}: the data directory was not fsynced between creating its log and writing dkvs.created:\n{text}"
    );
}

/// The trace parser reads lines whatever the width of the thread id (strace
/// pads it to 5 columns: two spaces after a 4-digit id, one after 5 digits).
#[test]
fn strace_lines_parse_for_every_thread_id_width() {
    let text = "8744  1795628849.134760 fdatasync(5)    = 0\n\
                18744 1795628849.134761 fdatasync(6)    = 0\n";
    let calls = strace_calls(text);
    let fds: Vec<Option<u32>> = calls.iter().map(|c| c.fd).collect();
    assert_eq!(fds, [Some(5), Some(6)]);
    assert!(calls.iter().all(|c| c.name == "fdatasync" && c.ret == "0"));
}
