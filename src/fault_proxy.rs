//! A fault-injection UDP proxy: it sits between clients and one server and
//! drops, delays (with jitter), duplicates, reorders and corrupts datagrams
//! at configured rates, per direction, or black-holes the server.
//!
//! It exists so that the promises of the quorum client (retransmission,
//! first-reply-only, one socket per operation) can be tested against the
//! network UDP really is, with real processes, and so that a class can watch
//! a quorum form under packet loss (`dkvs-fault-proxy`, the chaos tests).
//!
//! How it works: the proxy listens on one address. Each client address gets
//! its own upstream socket (a *session*), so the server sees one source per
//! client and its replies are routed back to the client that asked. A
//! request datagram goes through the *request* faults, a reply through the
//! *reply* faults. Sessions idle for [`ProxyBuilder::session_idle`] are
//! closed, and at most [`ProxyBuilder::max_sessions`] exist at once (the
//! least recently used one is closed first), so a client that opens one
//! socket per operation cannot exhaust file descriptors.
//!
//! Fault model, per datagram and direction, drawn from a seeded [`StdRng`]
//! (one per direction) so that a run's decisions can be replayed from its
//! seed (the timing of the real network and of tokio is not replayed):
//!
//! - **drop** with probability `drop`;
//! - **corrupt** one random bit with probability `corrupt` (v1 has no
//!   checksum: a corrupted request can store a value nobody wrote);
//! - **duplicate** with probability `duplicate` (the copy follows at once);
//! - **reorder** with probability `reorder`: the datagram is held back and
//!   sent right after the next datagram of the same direction, or after
//!   [`ProxyBuilder::reorder_hold`] when none comes;
//! - **delay** each copy by `delay` ± `jitter` (uniform, never below zero);
//!   jitter larger than the gap between datagrams reorders them too.
//!
//! The configuration can be changed while the proxy runs
//! ([`FaultProxy::set_faults`]), which is how the TUI's `loss`/`delay`/`heal`
//! commands work. Faults apply only to traffic that goes through the proxy.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Fault rates and delays of one direction. Rates are probabilities in
/// 0.0..=1.0 (values outside are clamped).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Probability that a datagram is dropped.
    pub drop: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back behind the next one.
    pub reorder: f64,
    /// Probability that one bit of a datagram is flipped.
    pub corrupt: f64,
    /// Fixed delay added to every datagram.
    pub delay: Duration,
    /// Uniform jitter around `delay` (± this much, never below zero).
    pub jitter: Duration,
}

impl Faults {
    /// No fault at all.
    pub const NONE: Faults = Faults {
        drop: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        corrupt: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
    };

    /// Only loss, at `percent` % (0..=100).
    pub fn loss(percent: f64) -> Faults {
        Faults {
            drop: percent / 100.0,
            ..Faults::NONE
        }
    }

    /// True when this direction is left untouched.
    pub fn is_none(&self) -> bool {
        *self == Faults::NONE
    }
}

/// Which traffic a fault setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Request,
    /// Server to client.
    Reply,
    /// Both.
    Both,
}

/// The whole fault configuration of a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultConfig {
    /// Faults on client → server datagrams.
    pub request: Faults,
    /// Faults on server → client datagrams.
    pub reply: Faults,
    /// Drop everything, both ways (the server looks dead).
    pub black_hole: bool,
}

impl FaultConfig {
    /// The same faults on `direction` (the other direction untouched).
    pub fn on(direction: Direction, faults: Faults) -> FaultConfig {
        let mut config = FaultConfig::default();
        config.set(direction, faults);
        config
    }

    /// Replaces the faults of `direction`.
    pub fn set(&mut self, direction: Direction, faults: Faults) {
        if direction != Direction::Reply {
            self.request = faults;
        }
        if direction != Direction::Request {
            self.reply = faults;
        }
    }

    /// True when the proxy forwards everything untouched.
    pub fn is_healthy(&self) -> bool {
        !self.black_hole && self.request.is_none() && self.reply.is_none()
    }
}

/// What the proxy does with one datagram (a pure function of the faults and
/// the random generator, see [`decide`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Drop it.
    pub drop: bool,
    /// Flip this bit (index of byte, bit number) before sending.
    pub corrupt: Option<(usize, u8)>,
    /// Hold it behind the next datagram.
    pub reorder: bool,
    /// One delay per copy sent (one or two copies).
    pub delays: Vec<Duration>,
}

/// Draws the fate of a datagram of `len` bytes. The draws happen in a fixed
/// order, so the same seed and the same sequence of datagrams give the same
/// decisions.
pub fn decide(rng: &mut StdRng, faults: &Faults, len: usize) -> Decision {
    let mut hit = |p: f64| rng.random::<f64>() < p;
    let drop = hit(faults.drop);
    let corrupt = hit(faults.corrupt);
    let duplicate = hit(faults.duplicate);
    let reorder = hit(faults.reorder);
    let corrupt =
        (corrupt && len > 0).then(|| (rng.random_range(0..len), rng.random_range(0..8u8)));
    let copies = if duplicate { 2 } else { 1 };
    let delays = (0..copies)
        .map(|_| {
            if faults.jitter.is_zero() {
                faults.delay
            } else {
                let jitter = faults.jitter.as_micros().min(u128::from(u64::MAX)) as u64;
                let offset = rng.random_range(0..=jitter.saturating_mul(2));
                (faults.delay + Duration::from_micros(offset))
                    .saturating_sub(Duration::from_micros(jitter))
            }
        })
        .collect();
    Decision {
        drop,
        corrupt,
        reorder,
        delays,
    }
}

/// Counters of what a proxy did (a snapshot, see [`FaultProxy::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Datagrams received from clients.
    pub requests: u64,
    /// Datagrams received from the server.
    pub replies: u64,
    /// Datagrams sent (to either side), copies included.
    pub forwarded: u64,
    /// Datagrams dropped by the `drop` rate.
    pub dropped: u64,
    /// Datagrams dropped by the black hole.
    pub black_holed: u64,
    /// Extra copies sent.
    pub duplicated: u64,
    /// Datagrams held back behind a later one.
    pub reordered: u64,
    /// Datagrams with a flipped bit.
    pub corrupted: u64,
    /// Client sessions opened.
    pub sessions: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    replies: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    black_holed: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    corrupted: AtomicU64,
    sessions: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyStats {
            requests: get(&self.requests),
            replies: get(&self.replies),
            forwarded: get(&self.forwarded),
            dropped: get(&self.dropped),
            black_holed: get(&self.black_holed),
            duplicated: get(&self.duplicated),
            reordered: get(&self.reordered),
            corrupted: get(&self.corrupted),
            sessions: get(&self.sessions),
        }
    }
}

/// Builds and starts a [`FaultProxy`].
#[derive(Debug, Clone)]
pub struct ProxyBuilder {
    listen: SocketAddrV4,
    upstream: SocketAddrV4,
    config: FaultConfig,
    seed: Option<u64>,
    reorder_hold: Duration,
    session_idle: Duration,
    max_sessions: usize,
}

impl ProxyBuilder {
    /// A proxy listening on `listen` (port 0: any free port) that forwards to
    /// the server at `upstream`, with no faults yet.
    pub fn new(listen: SocketAddrV4, upstream: SocketAddrV4) -> ProxyBuilder {
        ProxyBuilder {
            listen,
            upstream,
            config: FaultConfig::default(),
            seed: None,
            reorder_hold: Duration::from_millis(20),
            session_idle: Duration::from_secs(5),
            max_sessions: 1024,
        }
    }

    /// The whole fault configuration.
    pub fn faults(mut self, config: FaultConfig) -> ProxyBuilder {
        self.config = config;
        self
    }

    /// The faults of one direction (or both).
    pub fn direction(mut self, direction: Direction, faults: Faults) -> ProxyBuilder {
        self.config.set(direction, faults);
        self
    }

    /// Starts black-holed (or not).
    pub fn black_hole(mut self, on: bool) -> ProxyBuilder {
        self.config.black_hole = on;
        self
    }

    /// The random seed (default: a random one; read it back with
    /// [`FaultProxy::seed`] to replay a run).
    pub fn seed(mut self, seed: u64) -> ProxyBuilder {
        self.seed = Some(seed);
        self
    }

    /// Longest time a reordered datagram waits for a later one (default 20 ms).
    pub fn reorder_hold(mut self, hold: Duration) -> ProxyBuilder {
        self.reorder_hold = hold;
        self
    }

    /// A client session with no traffic for this long is closed (default 5 s).
    pub fn session_idle(mut self, idle: Duration) -> ProxyBuilder {
        self.session_idle = idle;
        self
    }

    /// At most this many client sessions at once (default 1024, minimum 1).
    pub fn max_sessions(mut self, max: usize) -> ProxyBuilder {
        self.max_sessions = max.max(1);
        self
    }

    /// Binds the listening socket and starts the proxy on the current tokio
    /// runtime.
    pub async fn start(self) -> io::Result<FaultProxy> {
        let listen = Arc::new(UdpSocket::from_std(crate::net::bind_udp(SocketAddr::V4(
            self.listen,
        ))?)?);
        let local_addr = match listen.local_addr()? {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => return Err(io::Error::other("IPv4 only")),
        };
        let seed = self.seed.unwrap_or_else(|| rand::rng().random());
        let (config_tx, config_rx) = watch::channel(self.config);
        let (stop_tx, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            listen,
            upstream: self.upstream,
            config: config_rx,
            counters: counters.clone(),
            request: Lane::new(seed),
            reply: Lane::new(seed ^ 0x9e37_79b9_7f4a_7c15),
            reorder_hold: self.reorder_hold,
        });
        let task = tokio::spawn(run(shared, stop_rx, self.session_idle, self.max_sessions));
        Ok(FaultProxy {
            local_addr,
            upstream: self.upstream,
            seed,
            config: config_tx,
            stop: stop_tx,
            counters,
            task: Some(task),
        })
    }
}

/// A running proxy. Dropping it stops it (its tasks are aborted).
#[derive(Debug)]
pub struct FaultProxy {
    local_addr: SocketAddrV4,
    upstream: SocketAddrV4,
    seed: u64,
    config: watch::Sender<FaultConfig>,
    stop: watch::Sender<bool>,
    counters: Arc<Counters>,
    task: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// A builder (same as [`ProxyBuilder::new`]).
    pub fn builder(listen: SocketAddrV4, upstream: SocketAddrV4) -> ProxyBuilder {
        ProxyBuilder::new(listen, upstream)
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local_addr
    }

    /// The server it forwards to.
    pub fn upstream(&self) -> SocketAddrV4 {
        self.upstream
    }

    /// The seed of its random decisions.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current fault configuration.
    pub fn faults(&self) -> FaultConfig {
        *self.config.borrow()
    }

    /// Replaces the fault configuration; the next datagram uses it.
    pub fn set_faults(&self, config: FaultConfig) {
        self.config.send_replace(config);
    }

    /// Changes the fault configuration in place.
    pub fn update(&self, change: impl FnOnce(&mut FaultConfig)) {
        self.config.send_modify(change);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.set_faults(FaultConfig::default());
    }

    /// What it did so far.
    pub fn stats(&self) -> ProxyStats {
        self.counters.snapshot()
    }

    /// Stops the proxy and waits for its tasks to end.
    pub async fn stop(mut self) -> ProxyStats {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.counters.snapshot()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A datagram waiting to be sent: where from, where to, what.
#[derive(Debug)]
struct Outgoing {
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    data: Vec<u8>,
}

/// One direction's random generator and reorder slot.
#[derive(Debug)]
struct Lane {
    rng: Mutex<StdRng>,
    held: Mutex<Option<(u64, Outgoing)>>,
    next_hold: AtomicU64,
}

impl Lane {
    fn new(seed: u64) -> Lane {
        Lane {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            held: Mutex::new(None),
            next_hold: AtomicU64::new(0),
        }
    }

    fn take_held(&self) -> Option<(u64, Outgoing)> {
        self.held.lock().ok()?.take()
    }
}

#[derive(Debug)]
struct Shared {
    listen: Arc<UdpSocket>,
    upstream: SocketAddrV4,
    config: watch::Receiver<FaultConfig>,
    counters: Arc<Counters>,
    request: Lane,
    reply: Lane,
    reorder_hold: Duration,
}

impl Shared {
    /// Applies the faults of `lane` to one datagram and sends what survives.
    fn pass(self: &Arc<Self>, is_request: bool, out: Outgoing) {
        let config = *self.config.borrow();
        if config.black_hole {
            bump(&self.counters.black_holed);
            return;
        }
        let (lane, faults) = if is_request {
            (&self.request, config.request)
        } else {
            (&self.reply, config.reply)
        };
        let decision = match lane.rng.lock() {
            Ok(mut rng) => decide(&mut rng, &faults, out.data.len()),
            Err(_) => return,
        };
        if decision.drop {
            bump(&self.counters.dropped);
            return;
        }
        let mut out = out;
        if let Some((byte, bit)) = decision.corrupt
            && let Some(b) = out.data.get_mut(byte)
        {
            *b ^= 1 << bit;
            bump(&self.counters.corrupted);
        }
        if decision.delays.len() > 1 {
            bump(&self.counters.duplicated);
        }
        let mut first = true;
        for delay in decision.delays {
            let copy = Outgoing {
                socket: out.socket.clone(),
                to: out.to,
                data: out.data.clone(),
            };
            let hold = first && decision.reorder;
            first = false;
            let shared = self.clone();
            if delay.is_zero() {
                shared.emit(is_request, copy, hold);
            } else {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    shared.emit(is_request, copy, hold);
                });
            }
        }
    }

    /// Sends `out` (or holds it back when `hold` and nothing is held yet),
    /// then releases a datagram held behind it.
    fn emit(self: &Arc<Self>, is_request: bool, out: Outgoing, hold: bool) {
        let lane = if is_request {
            &self.request
        } else {
            &self.reply
        };
        if hold
            && let Ok(mut slot) = lane.held.lock()
            && slot.is_none()
        {
            let id = lane.next_hold.fetch_add(1, Ordering::Relaxed);
            *slot = Some((id, out));
            bump(&self.counters.reordered);
            let shared = self.clone();
            let wait = self.reorder_hold;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let lane = if is_request {
                    &shared.request
                } else {
                    &shared.reply
                };
                let expired = match lane.held.lock() {
                    Ok(mut slot) if slot.as_ref().is_some_and(|(held, _)| *held == id) => {
                        slot.take()
                    }
                    _ => None,
                };
                if let Some((_, out)) = expired {
                    shared.send(out);
                }
            });
            return;
        }
        self.send(out);
        if let Some((_, held)) = lane.take_held() {
            self.send(held);
        }
    }

    fn send(&self, out: Outgoing) {
        // Straight to the kernel: tokio's `try_send_to` reports WouldBlock
        // until the runtime has seen the socket writable once.
        let socket = socket2::SockRef::from(out.socket.as_ref());
        match socket.send_to(&out.data, &out.to.into()) {
            Ok(_) => bump(&self.counters.forwarded),
            // A full send buffer is one more lost datagram.
            Err(e) => tracing::debug!(to = %out.to, "proxy send failed: {e}"),
        }
    }
}

/// One client's upstream socket and the task that relays its replies.
#[derive(Debug)]
struct Session {
    socket: Arc<UdpSocket>,
    last: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

async fn run(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    idle: Duration,
    max_sessions: usize,
) {
    let epoch = Instant::now();
    let now_ms = move || epoch.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
    let mut sessions: HashMap<SocketAddr, Session> = HashMap::new();
    let mut sweep = tokio::time::interval(idle.max(Duration::from_millis(10)) / 2);
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = sweep.tick() => {
                let limit = now_ms().saturating_sub(idle.as_millis().min(u128::from(u64::MAX)) as u64);
                sessions.retain(|_, s| {
                    let keep = s.last.load(Ordering::Relaxed) >= limit;
                    if !keep {
                        s.task.abort();
                    }
                    keep
                });
            }
            received = shared.listen.recv_from(&mut buf) => {
                let (len, client) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!("proxy receive error: {e}");
                        continue;
                    }
                };
                bump(&shared.counters.requests);
                let data = buf.get(..len).unwrap_or_default().to_vec();
                if !sessions.contains_key(&client) {
                    if sessions.len() >= max_sessions
                        && let Some(oldest) = sessions
                            .iter()
                            .min_by_key(|(_, s)| s.last.load(Ordering::Relaxed))
                            .map(|(a, _)| *a)
                        && let Some(old) = sessions.remove(&oldest)
                    {
                        old.task.abort();
                    }
                    match open_session(&shared, client, now_ms()) {
                        Ok(session) => {
                            bump(&shared.counters.sessions);
                            sessions.insert(client, session);
                        }
                        Err(e) => {
                            tracing::warn!("proxy cannot open an upstream socket: {e}");
                            continue;
                        }
                    }
                }
                let Some(session) = sessions.get(&client) else { continue };
                session.last.store(now_ms(), Ordering::Relaxed);
                shared.pass(
                    true,
                    Outgoing {
                        socket: session.socket.clone(),
                        to: SocketAddr::V4(shared.upstream),
                        data,
                    },
                );
            }
        }
    }
    for (_, session) in sessions {
        session.task.abort();
    }
}

fn open_session(shared: &Arc<Shared>, client: SocketAddr, now: u64) -> io::Result<Session> {
    let socket = Arc::new(UdpSocket::from_std(crate::net::bind_udp(SocketAddr::V4(
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    ))?)?);
    let last = Arc::new(AtomicU64::new(now));
    let task = tokio::spawn(relay_replies(shared.clone(), socket.clone(), client));
    Ok(Session { socket, last, task })
}

/// Relays what the server sends to one session's socket back to its client.
async fn relay_replies(shared: Arc<Shared>, socket: Arc<UdpSocket>, client: SocketAddr) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP "port unreachable" from a dead server; keep going.
                tracing::debug!("proxy upstream receive error: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        if from != SocketAddr::V4(shared.upstream) {
            continue;
        }
        bump(&shared.counters.replies);
        let data = buf.get(..len).unwrap_or_default().to_vec();
        shared.pass(
            false,
            Outgoing {
                socket: shared.listen.clone(),
                to: client,
                data,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let faults = Faults {
            drop: 0.3,
            duplicate: 0.3,
            reorder: 0.3,
            corrupt: 0.3,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(5),
        };
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|i| decide(&mut rng, &faults, i % 7))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for d in run(9) {
            assert!(!d.delays.is_empty() && d.delays.len() <= 2);
            assert!(d.delays.iter().all(|t| *t <= Duration::from_millis(10)));
        }
    }

    #[test]
    fn rates_are_roughly_honoured_and_clamped() {
        let mut rng = StdRng::seed_from_u64(1);
        let faults = Faults::loss(10.0);
        let dropped = (0..10_000)
            .filter(|_| decide(&mut rng, &faults, 3).drop)
            .count();
        assert!((800..1200).contains(&dropped), "{dropped}");
        let wild = Faults {
            drop: 7.0,
            duplicate: -1.0,
            corrupt: 1.0,
            ..Faults::NONE
        };
        let d = decide(&mut rng, &wild, 0);
        assert!(d.drop && d.delays.len() == 1 && d.corrupt.is_none());
        assert_eq!(decide(&mut rng, &Faults::NONE, 5).delays, [Duration::ZERO]);
    }

    #[test]
    fn directions() {
        let c = FaultConfig::on(Direction::Reply, Faults::loss(5.0));
        assert!(c.request.is_none() && !c.reply.is_none() && !c.is_healthy());
        let c = FaultConfig::on(Direction::Both, Faults::loss(5.0));
        assert_eq!(c.request, c.reply);
        assert!(FaultConfig::default().is_healthy());
    }

    async fn recv(s: &UdpSocket, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        tokio::time::timeout(Duration::from_millis(300), s.recv_from(buf))
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// An echo server behind a proxy: clean, duplicated, black-holed, healed
    /// live, and two clients each get their own replies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn proxies_and_injects() {
        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(echo_addr) = echo.local_addr().unwrap() else {
            unreachable!()
        };
        let echo_task = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((len, from)) = echo.recv_from(&mut buf).await {
                let _ = echo.send_to(&buf[..len], from).await;
            }
        });
        let proxy = FaultProxy::builder("127.0.0.1:0".parse().unwrap(), echo_addr)
            .seed(42)
            .start()
            .await
            .unwrap();
        assert_eq!(proxy.seed(), 42);
        let addr = proxy.local_addr();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 2048];
        a.send_to(b"from a", addr).await.unwrap();
        b.send_to(b"from b", addr).await.unwrap();
        let (n, from) = recv(&a, &mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"from a"[..], SocketAddr::V4(addr)));
        let (n, _) = recv(&b, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"from b");

        proxy.set_faults(FaultConfig::on(
            Direction::Request,
            Faults {
                duplicate: 1.0,
                ..Faults::NONE
            },
        ));
        a.send_to(b"twice", addr).await.unwrap();
        for _ in 0..2 {
            let (n, _) = recv(&a, &mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"twice");
        }

        proxy.update(|c| c.black_hole = true);
        a.send_to(b"lost", addr).await.unwrap();
        assert!(recv(&a, &mut buf).await.is_none());

        proxy.heal();
        a.send_to(b"back", addr).await.unwrap();
        let (n, _) = recv(&a, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert!(recv(&a, &mut buf).await.is_none(), "healed: one copy");

        let stats = proxy.stop().await;
        assert_eq!(stats.sessions, 2);
        assert_eq!(stats.black_holed, 1);
        assert_eq!(stats.duplicated, 1);
        echo_task.abort();
    }

    /// Reordering swaps a held datagram with the next one; corrupt flips a bit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reorders_and_corrupts() {
        let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(sink_addr) = sink.local_addr().unwrap() else {
            unreachable!()
        };
        let proxy = FaultProxy::builder("127.0.0.1:0".parse().unwrap(), sink_addr)
            .reorder_hold(Duration::from_millis(200))
            .direction(
                Direction::Request,
                Faults {
                    reorder: 1.0,
                    ..Faults::NONE
                },
            )
            .start()
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"first", proxy.local_addr()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.send_to(b"second", proxy.local_addr()).await.unwrap();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for _ in 0..2 {
            let (n, _) = tokio::time::timeout(Duration::from_secs(1), sink.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, [b"second".to_vec(), b"first".to_vec()]);

        proxy.set_faults(FaultConfig::on(
            Direction::Request,
            Faults {
                corrupt: 1.0,
                ..Faults::NONE
            },
        ));
        client.send_to(b"intact", proxy.local_addr()).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(1), sink.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let diff: u32 = buf[..n]
            .iter()
            .zip(b"intact")
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert_eq!((n, diff), (6, 1));
        assert_eq!(proxy.stats().corrupted, 1);
    }
}
