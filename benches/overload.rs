//! Overload: a flood of requests is shed, and requests that are served keep
//! a bounded latency.
//!
//! Starts a real `dkvs-server` on a random loopback address, then measures a
//! probe client (one get every millisecond, each of a distinct key whose
//! value names it, so that late replies are matched to their request) twice:
//! on an idle server, then while flooder threads send gets as fast as they
//! can without waiting for replies. The server has no queue
//! of its own: what it cannot serve waits in the socket receive buffer
//! (bounded) and beyond that is dropped by the kernel, which the `drops`
//! column of /proc/net/udp counts. So the latency of a served request is
//! bounded by one receive buffer's worth of requests, and the probe loses
//! only what the kernel drops.
//!
//! Run: `cargo bench --bench overload [-- SECONDS [FLOODERS]]` (defaults 3 s
//! per phase, 3 flooder threads), once with the default receive buffer and
//! once with `--recv-buffer 256K`.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const SERVER: &str = env!("CARGO_BIN_EXE_dkvs-server");

/// A loopback address 127.X.Y.Z from the clock (no rand in benches).
fn loopback(salt: u32) -> Ipv4Addr {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(salt.wrapping_mul(40_503));
    let o = n.to_be_bytes();
    Ipv4Addr::new(127, 1 + o[0] % 240, 1 + o[1] % 240, 1 + o[2] % 240)
}

/// Kernel drop counter of the server's socket.
fn kernel_drops(addr: SocketAddrV4) -> u64 {
    dkvs::net::kernel_drops(addr).unwrap_or(0)
}

struct Phase {
    probes: usize,
    latencies: Vec<Duration>,
    flood_sent: u64,
    drops: u64,
    elapsed: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Distinct probe keys; a key is reused after this many milliseconds.
const PROBE_KEYS: usize = 1000;

/// The probe key number `i`; its value is the key followed by `v`s, 100
/// bytes in all.
fn probe_key(i: usize) -> String {
    format!("p{i:04}")
}

fn run_phase(server: SocketAddrV4, seconds: f64, flooders: usize) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..flooders)
        .map(|i| {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            let socket = UdpSocket::bind((loopback(100 + i as u32), 0)).unwrap();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    if socket.send_to(b"k", server).is_ok() {
                        n += 1;
                    }
                }
                sent.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let drops_before = kernel_drops(server);
    // The probe: one socket, a get of key `p<i>` every millisecond (i cycles
    // through PROBE_KEYS), replies read by another thread and matched to
    // their request by the value, which starts with the key.
    let socket = UdpSocket::bind((loopback(7), 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let reader = socket.try_clone().unwrap();
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; PROBE_KEYS]));
    let reading = Arc::new(AtomicBool::new(true));
    let receiver = {
        let (sent_at, reading) = (Arc::clone(&sent_at), Arc::clone(&reading));
        std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut buf = [0u8; 65536];
            while reading.load(Ordering::Relaxed) {
                let Ok((n, _)) = reader.recv_from(&mut buf) else {
                    continue;
                };
                let now = Instant::now();
                let index = buf
                    .get(1..n.min(5))
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(|d| d.parse::<usize>().ok())
                    .filter(|&i| i < PROBE_KEYS);
                if let Some(t) = index.and_then(|i| sent_at.lock().unwrap()[i].take()) {
                    latencies.push(now - t);
                }
            }
            latencies
        })
    };
    let start = Instant::now();
    let mut probes = 0;
    while start.elapsed().as_secs_f64() < seconds {
        let i = probes % PROBE_KEYS;
        sent_at.lock().unwrap()[i] = Some(Instant::now());
        let _ = socket.send_to(probe_key(i).as_bytes(), server);
        probes += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    // Late replies still count (up to 500 ms after the last request).
    std::thread::sleep(Duration::from_millis(500));
    reading.store(false, Ordering::Relaxed);
    let mut latencies = receiver.join().unwrap();
    latencies.sort();
    Phase {
        probes,
        latencies,
        flood_sent: sent.load(Ordering::Relaxed),
        drops: kernel_drops(server).saturating_sub(drops_before),
        elapsed,
    }
}

/// Starts a server with `extra` options, measures the idle and flood
/// phases and prints a row for each, then stops the server with SIGTERM and
/// prints its counters.
fn bench_server(label: &str, extra: &[&str], seconds: f64, flooders: usize, salt: u32) {
    let ip = loopback(salt);
    let port = UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddrV4::new(ip, port);
    let log = std::env::temp_dir().join(format!("dkvs-overload-{}.log", std::process::id()));
    let value = "v".repeat(100);
    let mut pairs = vec!["k".to_string(), value];
    for i in 0..PROBE_KEYS {
        let key = probe_key(i);
        pairs.push(format!("{key}{}", "v".repeat(100 - key.len())));
        pairs.push(key);
        let n = pairs.len();
        pairs.swap(n - 1, n - 2);
    }
    let mut child = Command::new(SERVER)
        .arg("-v")
        .args(extra)
        .args([ip.to_string(), port.to_string()])
        .args(&pairs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let ready = UdpSocket::bind((ip, 0)).unwrap();
    ready
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 256];
    loop {
        ready.send_to(b"k", addr).unwrap();
        if ready.recv_from(&mut buf).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "server did not start");
    }
    for (phase, n) in [("idle", 0), ("flood", flooders)] {
        let p = run_phase(addr, seconds, n);
        let lost = p.probes - p.latencies.len();
        println!(
            "{:<30} {:>7} {:>6.2}% {:>8.3} {:>8.3} {:>8.3} {:>12.0} {:>10}",
            format!("{label}, {phase}"),
            p.probes,
            100.0 * lost as f64 / p.probes as f64,
            percentile(&p.latencies, 0.5),
            percentile(&p.latencies, 0.99),
            percentile(&p.latencies, 1.0),
            p.flood_sent as f64 / p.elapsed.as_secs_f64(),
            p.drops
        );
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if let Some(line) = text.lines().find(|l| l.contains("stopped")) {
        let counters = line.split_once("stopped").map_or(line, |(_, c)| c);
        println!("  server counters:{counters}");
    }
    let _ = std::fs::remove_file(&log);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let seconds: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let flooders: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    println!(
        "probe: 1 get / ms of a 100-byte value, replies matched by value, late ones \
         counted; flood: {flooders} threads sending gets without waiting; {seconds} s per phase"
    );
    println!(
        "{:<30} {:>7} {:>7} {:>8} {:>8} {:>8} {:>12} {:>10}",
        "server, phase",
        "probes",
        "lost",
        "p50 ms",
        "p99 ms",
        "max ms",
        "flood req/s",
        "kern drops"
    );
    bench_server("default (4M buffer)", &[], seconds, flooders, 1);
    bench_server(
        "--recv-buffer 256K",
        &["--recv-buffer", "256K"],
        seconds,
        flooders,
        2,
    );
}
