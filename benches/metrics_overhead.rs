//! What timing requests costs (the metrics endpoint's latency histograms,
//! `dkvs_request_duration_seconds`): gets served with timing on and off,
//! side by side in one run, on one server.
//!
//! Starts an in-process server (the one `dkvs-server` runs, memory engine,
//! default limits) on a random loopback address with one 100-byte value,
//! then alternates rounds with timing on and off (`Latency::set_on`; off,
//! the receive loops do not read the clock at all) while client threads
//! send v1 gets as fast as the replies come back, a few in flight each.
//! Rounds alternate which setting goes first, so drift (another process, the
//! CPU's clock) falls on both. It prints each setting's median throughput
//! and the median of the per-round ratios, then what the instrumented part
//! costs alone, in ns per call: two clock reads and one histogram update,
//! beside answering one get (`server::respond`). On a shared machine the
//! throughput moves by a few per cent from round to round; the process'
//! CPU time per get (server and clients, from `/proc/self/stat`) is
//! steadier and printed too.
//!
//! Run: `cargo bench --bench metrics_overhead [-- SECONDS ROUNDS CLIENTS]`
//! (defaults 1 s per round, 10 rounds of each, 2 client threads).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use dkvs::server::{Server, respond};
use dkvs::stats::{BatchOps, Latency, Timed};
use dkvs::store::Store;

/// Requests each client thread keeps in flight.
const WINDOW: usize = 4;

/// A loopback address 127.X.Y.Z from the clock (no rand in benches).
fn loopback() -> Ipv4Addr {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .wrapping_mul(2_654_435_761);
    let o = n.to_be_bytes();
    Ipv4Addr::new(127, 1 + o[0] % 240, 1 + o[1] % 240, 1 + o[2] % 240)
}

/// Gets answered per second by `server` with `clients` threads for
/// `seconds`.
fn load(server: SocketAddrV4, seconds: f64, clients: usize) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                let socket = UdpSocket::bind((*server.ip(), 0)).unwrap();
                socket.connect(server).unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                let mut buf = [0u8; 256];
                let mut answered = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..WINDOW {
                        let _ = socket.send(b"k");
                    }
                    for _ in 0..WINDOW {
                        if socket.recv(&mut buf).is_err() {
                            break;
                        }
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    let answered: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    answered as f64 / seconds
}

/// CPU time of this process so far (user and system), in clock ticks
/// (1/100 s), from `/proc/self/stat`.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15; `after` starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Nanoseconds per call of `f`, over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(1.0);
    let rounds = args.get(1).copied().unwrap_or(10.0) as usize;
    let clients = args.get(2).copied().unwrap_or(2.0) as usize;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (addr, latency) = runtime.block_on(async {
        let server = Server::bind(SocketAddrV4::new(loopback(), 0)).unwrap();
        server.store().put(b"k", &[b'v'; 100]).unwrap();
        let std::net::SocketAddr::V4(addr) = server.local_addr().unwrap() else {
            panic!("not v4");
        };
        let latency = server.latency_handle();
        tokio::spawn(server.run(std::future::pending()));
        (addr, latency)
    });
    println!(
        "server {addr} ({} sockets), {clients} client threads x {WINDOW} in flight, {rounds} rounds x {seconds} s per setting",
        std::thread::available_parallelism().map_or(2, |n| n.get())
    );
    load(addr, 0.5, clients); // warm-up
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    // CPU ticks of this process and gets answered, timing on and off.
    let mut cpu = [(0u64, 0f64); 2];
    for round in 0..rounds {
        let mut rate = |timing: bool| {
            latency.set_on(timing);
            let ticks = cpu_ticks();
            let rate = load(addr, seconds, clients);
            let c = &mut cpu[usize::from(timing)];
            c.0 += cpu_ticks() - ticks;
            c.1 += rate * seconds;
            rate
        };
        let (a, b) = if round % 2 == 0 {
            let a = rate(true);
            (a, rate(false))
        } else {
            let b = rate(false);
            (rate(true), b)
        };
        println!(
            "round {round:2}: timing on {a:9.0} gets/s, off {b:9.0} gets/s, on/off {:.4}",
            a / b
        );
        on.push(a);
        off.push(b);
        ratios.push(a / b);
    }
    let (m_on, m_off, m_ratio) = (median(&mut on), median(&mut off), median(&mut ratios));
    println!(
        "median: timing on {m_on:.0} gets/s, off {m_off:.0} gets/s; median of per-round on/off ratios {m_ratio:.4} ({:+.2} %)",
        (m_ratio - 1.0) * 100.0
    );
    // Server and clients share the process: the difference per get is the
    // server's (the clients do the same work either way).
    let per_get = |(ticks, gets): (u64, f64)| ticks as f64 * 1e4 / gets;
    let (cpu_on, cpu_off) = (per_get(cpu[1]), per_get(cpu[0]));
    println!(
        "process CPU per get (server and clients): timing on {cpu_on:.2} us, off {cpu_off:.2} us, on/off {:.4} ({:+.2} %)",
        cpu_on / cpu_off,
        (cpu_on / cpu_off - 1.0) * 100.0
    );
    let get = latency.snapshot().of(Timed::Get);
    println!(
        "the server's own figure (timed rounds): {} gets, mean {:.1} us from receipt to reply",
        get.count(),
        get.sum_ns as f64 / get.count().max(1) as f64 / 1e3
    );

    // The instrumented part alone, against answering a get.
    let n = 2_000_000;
    let histograms = Latency::new();
    let timing = per_call(n, || {
        let received = Instant::now();
        let mut batch = BatchOps::default();
        batch.add(black_box(Timed::Get));
        histograms.observe_batch(&batch, black_box(received).elapsed());
    });
    let clock = per_call(n, || {
        black_box(Instant::now());
    });
    let update = per_call(n, || {
        histograms.observe(black_box(Timed::Get), black_box(Duration::from_micros(40)));
    });
    let store = Store::new();
    store.put(b"k", &[b'v'; 100]).unwrap();
    let answer = per_call(n, || {
        black_box(respond(&store, black_box(b"k")));
    });
    println!(
        "per call: timing a batch of one get {timing:.1} ns (a clock read {clock:.1} ns, a histogram update {update:.1} ns); answering a get {answer:.1} ns (server::respond, no I/O)"
    );
}
